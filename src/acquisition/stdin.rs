//! The `stdin` datasource (`correlator run --stdin --type T`): standard input read to its end, line by line.
//!
//! A blocking read of stdin cannot be interrupted, so a small detached thread does only the reading and passes
//! chunks to an async task that splits and sends them. Stopping the source ends the task at once (and with it the
//! source's hold on the record channel, so the pipeline sees the channel close); the reader thread exits at its
//! next chunk or at process exit.
//!
//! What this module is not: a follower; the source ends at EOF.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;
use tracing::warn;

use crate::acquisition::lines::{DEFAULT_MAX_LINE, LineSplitter, SplitLine};
use crate::acquisition::record::{Emitter, Stopped};
use crate::event::LineOrigin;

/// Reads standard input until EOF or stop.
pub async fn run(emitter: Emitter) {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let spawned = std::thread::Builder::new().name("acq-stdin".to_string()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut buf = vec![0u8; 64 * 1024];
            match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.blocking_send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the stdin reader");
        return;
    }
    let origin = emitter.origin("stdin");
    let mut splitter = LineSplitter::new(DEFAULT_MAX_LINE);
    let mut lines: Vec<SplitLine> = Vec::new();
    loop {
        let chunk = tokio::select! {
            c = rx.recv() => c,
            _ = emitter.stop.wait() => return,
        };
        match chunk {
            Some(Ok(bytes)) => {
                emitter.metrics.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                splitter.feed(&bytes, |l| lines.push(l));
            }
            Some(Err(e)) => {
                emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "stdin read error");
                break;
            }
            None => break,
        }
        if send_all(&mut lines, &origin, &emitter).await.is_err() {
            return;
        }
    }
    splitter.flush(|l| lines.push(l));
    let _ = send_all(&mut lines, &origin, &emitter).await;
}

async fn send_all(lines: &mut Vec<SplitLine>, origin: &Arc<LineOrigin>, emitter: &Emitter) -> Result<(), Stopped> {
    let now = Emitter::now();
    for l in lines.drain(..) {
        if l.truncated {
            emitter.metrics.truncated.fetch_add(1, Ordering::Relaxed);
        }
        emitter.send(emitter.record(origin, l.text, now, None)).await?;
    }
    Ok(())
}
