//! The `stdin` datasource (`correlator run --stdin --type T`): standard input read to its end, line by line.
//!
//! What this module is not: a follower; the source ends at EOF.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::warn;

use crate::acquisition::file::cat::read_stream;
use crate::acquisition::lines::DEFAULT_MAX_LINE;
use crate::acquisition::record::Emitter;

/// Reads standard input until EOF. Blocking: call on a dedicated thread.
pub fn run(emitter: &Emitter, rt: &tokio::runtime::Handle) {
    let src: Arc<str> = Arc::from("stdin");
    let stdin = std::io::stdin().lock();
    let _ = read_stream(stdin, &src, DEFAULT_MAX_LINE, emitter, rt, |e| {
        emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
        warn!(error = %e, "stdin read error");
    });
}
