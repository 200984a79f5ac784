//! `correlator capture`: receive syslog and record it to a file that `correlator replay --type syslog FILE` reads
//! as an ordinary log file.
//!
//! The capture runs the very syslog datasource the daemon runs and writes each record's `Line.Raw`, one per line:
//! the file holds exactly the BSD lines the pipeline would have been fed (`Jan 2 15:04:05 host app[pid]: msg`).
//! Two things a plain file cannot carry are written the way rsyslog escapes control characters: a newline inside
//! a message becomes `#012` and a carriage return `#015`. The sender address (`Line.Src`), the receive time and
//! the year are not kept (a replay names the file as `Src`, and the BSD timestamp has no year, as in any syslog
//! file).
//!
//! What this module is not: argument parsing or signal handling (`cli::capture`).

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::config::acquis::{Mode, Origin, SourceConfig, SourceKind, SyslogConfig};
use crate::event::FieldMap;

use super::manager::{Manager, ManagerOptions};
use super::record::Record;

/// Parses listen addresses: `udp://IP:PORT` or `tcp://IP:PORT`, several separated by commas.
pub fn parse_listen(spec: &str) -> Result<Vec<SyslogConfig>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (scheme, addr) =
            part.split_once("://").ok_or_else(|| format!("{part}: expected udp://IP:PORT or tcp://IP:PORT"))?;
        let addr: SocketAddr = addr.parse().map_err(|_| format!("{part}: {addr:?} is not IP:PORT"))?;
        let mut cfg =
            SyslogConfig { listen_addr: addr.ip().to_string(), listen_port: addr.port(), ..SyslogConfig::default() };
        match scheme {
            "udp" => {}
            "tcp" => {
                cfg.udp = false;
                cfg.tcp = true;
            }
            other => return Err(format!("{part}: unknown scheme {other:?} (udp or tcp)")),
        }
        out.push(cfg);
    }
    if out.is_empty() {
        return Err("no listen address".to_string());
    }
    Ok(out)
}

/// A capture in progress: sockets bound, output file open.
pub struct Capture {
    manager: Manager,
    rx: mpsc::Receiver<Record>,
    out: BufWriter<File>,
    path: PathBuf,
    addrs: Vec<String>,
}

impl Capture {
    /// Binds every listener and opens (truncates, or appends to) `out`.
    pub async fn start(listeners: Vec<SyslogConfig>, out: &Path, append: bool) -> Result<Capture, String> {
        let labels: FieldMap = [("type", "syslog")].into_iter().collect();
        let sources = listeners
            .into_iter()
            .map(|s| SourceConfig {
                origin: Origin::default(),
                name: None,
                mode: Mode::Tail,
                labels: std::sync::Arc::new(labels.clone()),
                log_level: None,
                use_time_machine: false,
                unique_id: None,
                kind: SourceKind::Syslog(s),
            })
            .collect();
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(out)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        let (mut manager, rx) = Manager::start(sources, ManagerOptions::default()).await?;
        let mut addrs = Vec::new();
        for s in manager.sources() {
            addrs.extend(s.udp_addr.map(|a| format!("udp://{a}")));
            addrs.extend(s.tcp_addr.map(|a| format!("tcp://{a}")));
        }
        Ok(Capture { manager, rx, out: BufWriter::new(file), path: out.to_path_buf(), addrs })
    }

    /// The bound addresses, as `udp://IP:PORT` / `tcp://IP:PORT`.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// Records until `shutdown` resolves, then stops the listeners, writes what they had received and syncs the
    /// file. Returns the number of lines written.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<u64, String> {
        let mut lines = 0u64;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                r = self.rx.recv() => match r {
                    Some(rec) => {
                        lines += self.write(&rec)?;
                        // Write what is queued, then flush so the file is readable while the capture runs.
                        while let Ok(rec) = self.rx.try_recv() {
                            lines += self.write(&rec)?;
                        }
                        self.out.flush().map_err(|e| self.io_err(e))?;
                    }
                    None => break,
                },
                _ = &mut shutdown => break,
            }
        }
        self.manager.stop_reading().await;
        while let Some(rec) = self.rx.recv().await {
            lines += self.write(&rec)?;
        }
        self.out.flush().map_err(|e| self.io_err(e))?;
        self.out.get_ref().sync_all().map_err(|e| self.io_err(e))?;
        Ok(lines)
    }

    fn write(&mut self, rec: &Record) -> Result<u64, String> {
        let raw = &rec.line.raw;
        let r = if raw.contains(['\n', '\r']) {
            let escaped = raw.replace('\n', "#012").replace('\r', "#015");
            writeln!(self.out, "{escaped}")
        } else {
            writeln!(self.out, "{raw}")
        };
        r.map_err(|e| self.io_err(e))?;
        Ok(1)
    }

    fn io_err(&self, e: std::io::Error) -> String {
        format!("{}: {e}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs() {
        let l = parse_listen("udp://127.0.0.1:5514, tcp://[::1]:6514").unwrap_or_default();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].udp, l[0].tcp, l[0].listen_port), (true, false, 5514));
        assert_eq!((l[1].udp, l[1].tcp, l[1].listen_addr.as_str()), (false, true, "::1"));
        assert!(parse_listen("http://1.2.3.4:5").is_err());
        assert!(parse_listen("udp://localhost").is_err());
        assert!(parse_listen("").is_err());
    }
}
