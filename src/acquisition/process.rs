//! Datasources that read a child process's standard output: `journalctl` and `command`.
//!
//! The program is started directly (arguments as a list, never through a shell). Its stdout is split into lines
//! like a file; its stderr is kept (last lines only) for the message when it exits. In tail mode a child that exits
//! is restarted after a backoff (1 s doubling to 60 s, reset after a minute of healthy running) — lines produced
//! while it was down are not recovered. In cat mode the source ends with the child.
//!
//! What this module is not: line splitting rules (`lines`).

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::acquisition::lines::{LineSplitter, SplitLine};
use crate::acquisition::record::{Emitter, Stopped};
use crate::event::LineOrigin;

/// The program the journalctl datasource runs.
pub const JOURNALCTL: &str = "journalctl";

/// stderr lines kept for the exit message.
const STDERR_KEPT: usize = 5;

const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Arguments of `journalctl` for `filters`: follow new entries only (tail) or dump what matches (cat), in
/// `short-iso` format, which the s00 `syslog-logs` parser reads (ISO 8601 timestamp, then host and program).
pub fn journalctl_args(filters: &[String], follow: bool) -> Vec<String> {
    let mut args = vec![JOURNALCTL.to_string()];
    if follow {
        args.extend(["--follow", "-n", "0"].map(String::from));
    }
    args.extend(["-o", "short-iso", "--no-pager", "-q"].map(String::from));
    args.extend(filters.iter().cloned());
    args
}

/// The `Src` of a journalctl datasource, as CrowdSec names it.
pub fn journalctl_src(filters: &[String]) -> String {
    format!("journalctl-{}", filters.join("."))
}

/// Runs `argv` (and re-runs it if `restart`) until stopped, sending its stdout lines.
pub async fn run(argv: Vec<String>, src: Arc<str>, emitter: Emitter, restart: bool, max_line: usize) {
    let origin = emitter.origin(&src);
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        match run_once(&argv, &origin, &emitter, max_line).await {
            Err(Stopped) => return,
            Ok(status) => {
                if !restart {
                    debug!(program = %argv[0], %status, "command finished");
                    return;
                }
                if started.elapsed() > MAX_BACKOFF {
                    backoff = Duration::from_secs(1);
                }
                warn!(program = %argv[0], %status, retry_in = ?backoff, "command exited, restarting");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = emitter.stop.wait() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One run of the program; `Ok` with a description of how it ended.
async fn run_once(
    argv: &[String],
    origin: &Arc<LineOrigin>,
    emitter: &Emitter,
    max_line: usize,
) -> Result<String, Stopped> {
    let Some((program, args)) = argv.split_first() else { return Ok("empty command".to_string()) };
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
            return Ok(format!("cannot start {program}: {e}"));
        }
    };
    info!(program, "command started");
    let stderr_tail = Arc::new(Mutex::new(VecDeque::<String>::new()));
    let stderr_task = child.stderr.take().map(|err| {
        let tail = Arc::clone(&stderr_tail);
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                debug!(stderr = %l, "command stderr");
                let mut t = tail.lock().await;
                if t.len() == STDERR_KEPT {
                    t.pop_front();
                }
                t.push_back(l);
            }
        })
    });
    let mut stdout = match child.stdout.take() {
        Some(s) => s,
        None => return Ok("no stdout".to_string()),
    };
    let mut splitter = LineSplitter::new(max_line);
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines: Vec<SplitLine> = Vec::new();
    loop {
        let n = tokio::select! {
            r = stdout.read(&mut buf) => match r {
                Ok(n) => n,
                Err(e) => {
                    emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
                    warn!(program, error = %e, "read error");
                    0
                }
            },
            _ = emitter.stop.wait() => {
                let _ = child.kill().await;
                return Err(Stopped);
            }
        };
        if n == 0 {
            break;
        }
        emitter.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
        splitter.feed(&buf[..n], |l| lines.push(l));
        send_all(&mut lines, origin, emitter).await?;
    }
    splitter.flush(|l| lines.push(l));
    send_all(&mut lines, origin, emitter).await?;
    let status = tokio::select! {
        s = child.wait() => s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
        _ = emitter.stop.wait() => {
            let _ = child.kill().await;
            return Err(Stopped);
        }
    };
    if let Some(t) = stderr_task {
        let _ = t.await;
    }
    let tail: Vec<String> = stderr_tail.lock().await.iter().cloned().collect();
    Ok(if tail.is_empty() { status } else { format!("{status}; stderr: {}", tail.join(" | ")) })
}

async fn send_all(lines: &mut Vec<SplitLine>, origin: &Arc<LineOrigin>, emitter: &Emitter) -> Result<(), Stopped> {
    if lines.is_empty() {
        return Ok(());
    }
    let now = Emitter::now();
    for l in lines.drain(..) {
        if l.truncated {
            emitter.metrics.truncated.fetch_add(1, Ordering::Relaxed);
        }
        emitter.send(emitter.record(origin, l.text, now, None)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journalctl_arguments_and_src() {
        let f = vec!["_SYSTEMD_UNIT=ssh.service".to_string(), "_PID=1".to_string()];
        assert_eq!(
            journalctl_args(&f, true),
            [
                "journalctl",
                "--follow",
                "-n",
                "0",
                "-o",
                "short-iso",
                "--no-pager",
                "-q",
                "_SYSTEMD_UNIT=ssh.service",
                "_PID=1"
            ]
        );
        assert_eq!(journalctl_args(&f, false)[1..3], ["-o", "short-iso"]);
        assert_eq!(journalctl_src(&f), "journalctl-_SYSTEMD_UNIT=ssh.service._PID=1");
    }
}
