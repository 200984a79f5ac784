//! `exec`: runs a program for each event, with the event's JSON (`format: json`, or `alert`) on its standard input.
//!
//! The command is an argv list from the configuration, started directly (no shell) and never built from event
//! fields: attacker-controlled text reaches the program only as JSON on stdin. Each run has a timeout after which
//! the program is killed; a non-zero exit or a timeout is a failed delivery. What the program prints is logged
//! (stdout at INFO, stderr in the failure message), capped.
//!
//! One program runs at a time per listener. The listener's worker thread drives the child with a small
//! single-threaded tokio runtime of its own, so writing stdin, reading both outputs and the timeout need no thread
//! per run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::config::listeners::ListenerSpec;

use super::{Format, Item, Listener, SpecCtx, excerpt};

/// Output kept per stream, in bytes; the rest is read and discarded so the program never blocks on a full pipe.
const OUTPUT_CAP: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// Program and arguments.
    pub command: Vec<String>,
    pub timeout: Duration,
    pub format: Format,
}

pub struct ExecListener {
    cfg: ExecConfig,
    /// Created on the first run, i.e. on the worker thread, where it is also dropped: a tokio runtime must not be
    /// dropped inside another runtime's async context, which is where listeners may be built.
    rt: Option<tokio::runtime::Runtime>,
}

/// What one run gave.
#[derive(Debug)]
pub struct RunOutput {
    pub success: bool,
    pub status: String,
    pub stdout: String,
    pub stderr: String,
}

impl ExecListener {
    pub fn new(cfg: ExecConfig) -> ExecListener {
        ExecListener { cfg, rt: None }
    }

    pub fn from_spec(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<ExecListener> {
        let mut command = match &spec.command {
            None => {
                ctx.err_at(pos, "`command` is required (a list: program, then arguments)".into());
                return None;
            }
            Some(c) if c.value.first().is_none_or(|p| p.trim().is_empty()) => {
                ctx.err_at(crate::config::yaml::position(c), "`command` needs a program".into());
                return None;
            }
            Some(c) => c.value.clone(),
        };
        // A program given as a relative path (with a slash) is relative to the configuration, like other paths;
        // a bare name is looked up in PATH.
        if command[0].contains('/') && !command[0].starts_with('/') {
            command[0] = ctx.base.join(&command[0]).to_string_lossy().into_owned();
        }
        let cfg = ExecConfig {
            command,
            timeout: ctx.duration(&spec.timeout, Duration::from_secs(30)),
            format: ctx.format(&spec.format, &[Format::Json, Format::Alert], Format::Json),
        };
        Some(ExecListener::new(cfg))
    }

    /// Runs the command once with `input` on stdin.
    pub fn run(&mut self, input: Vec<u8>) -> Result<RunOutput, String> {
        if self.rt.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("exec runtime: {e}"))?;
            self.rt = Some(rt);
        }
        let Some(rt) = &self.rt else { return Err("exec runtime missing".into()) };
        let cmd = &self.cfg.command;
        let program = PathBuf::from(&cmd[0]);
        rt.block_on(async {
            let mut child = tokio::process::Command::new(&program)
                .args(&cmd[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
            let stdin = child.stdin.take();
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            let io = async {
                let write = async {
                    if let Some(mut s) = stdin {
                        // A program that does not read its input closes the pipe: not an error of ours.
                        let _ = s.write_all(&input).await;
                        let _ = s.shutdown().await;
                    }
                };
                let (_, out, err) = tokio::join!(write, read_capped(stdout), read_capped(stderr));
                let status = child.wait().await;
                (status, out, err)
            };
            let res = tokio::time::timeout(self.cfg.timeout, io).await;
            match res {
                Ok((status, stdout, stderr)) => {
                    let status = status.map_err(|e| format!("waiting for {}: {e}", program.display()))?;
                    Ok(RunOutput { success: status.success(), status: status.to_string(), stdout, stderr })
                }
                Err(_) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    Err(format!("{} timed out after {:?} and was killed", program.display(), self.cfg.timeout))
                }
            }
        })
    }
}

async fn read_capped<R: AsyncRead + Unpin>(r: Option<R>) -> String {
    let Some(mut r) = r else { return String::new() };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

impl Listener for ExecListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Event(v) = item else { return Ok(()) };
        let mut input = self.cfg.format.json(v).into_bytes();
        input.push(b'\n');
        let out = self.run(input)?;
        let program = &self.cfg.command[0];
        if !out.stdout.trim().is_empty() {
            tracing::info!(program = %program, "exec listener output: {}", excerpt(out.stdout.trim(), 2048));
        }
        if out.success {
            if !out.stderr.trim().is_empty() {
                tracing::info!(program = %program, "exec listener stderr: {}", excerpt(out.stderr.trim(), 2048));
            }
            Ok(())
        } else {
            Err(format!("{program} exited with {}: {}", out.status, excerpt(out.stderr.trim(), 500)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(cmd: &[&str], timeout_ms: u64) -> ExecListener {
        ExecListener::new(ExecConfig {
            command: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: Duration::from_millis(timeout_ms),
            format: Format::Json,
        })
    }

    #[test]
    fn stdin_reaches_the_program_and_output_is_captured() {
        let mut l = listener(&["sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], 5000);
        let out = l.run(b"hello $(id) `id` ;\n".to_vec()).unwrap();
        assert!(!out.success);
        assert_eq!(out.stdout, "HELLO $(ID) `ID` ;\n");
        assert_eq!(out.stderr, "oops\n");
    }

    #[test]
    fn a_hung_program_is_killed_at_the_timeout() {
        let mut l = listener(&["sleep", "30"], 300);
        let t = std::time::Instant::now();
        let e = l.run(Vec::new()).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn large_input_to_a_program_that_reads_nothing_does_not_block() {
        let mut l = listener(&["true"], 5000);
        let out = l.run(vec![b'x'; 1 << 20]).unwrap();
        assert!(out.success);
        let e = listener(&["/nonexistent/program"], 1000).run(Vec::new()).unwrap_err();
        assert!(e.contains("cannot start"), "{e}");
    }
}
