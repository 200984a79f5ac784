//! Cat mode: read each matching file once, from start to end, then finish (replay, `mode: cat`, `file://` DSNs).
//!
//! A `.gz` file is decompressed on the fly (several concatenated gzip members, as `cat a.gz b.gz` makes, are
//! read as one stream). Records carry no ack: a replay is re-run, not resumed.
//!
//! What this module is not: following files (see `tail`).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use flate2::read::MultiGzDecoder;
use tracing::{debug, warn};

use super::FileSet;
use crate::acquisition::lines::{LineSplitter, SplitLine};
use crate::acquisition::record::{Emitter, Stopped};
use crate::config::acquis::FileConfig;
use crate::event::LineOrigin;

/// Reads every file of the datasource once, in path order. Blocking: call on a dedicated thread.
pub fn run_cat(cfg: &FileConfig, emitter: &Emitter, rt: &tokio::runtime::Handle) {
    let set = match FileSet::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "file source not started");
            return;
        }
    };
    let files = set.expand();
    if files.is_empty() {
        warn!(patterns = ?cfg.filenames, "no file matches");
    }
    for path in files {
        if let Err(Stopped) = cat_file(&path, cfg.max_line, emitter, rt) {
            return;
        }
    }
}

/// Reads one file (gzip or plain) to its end.
pub fn cat_file(path: &Path, max_line: usize, emitter: &Emitter, rt: &tokio::runtime::Handle) -> Result<(), Stopped> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
            warn!(path = %path.display(), error = %e, "cannot open file");
            return Ok(());
        }
    };
    debug!(path = %path.display(), "reading file once");
    let gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz { Box::new(MultiGzDecoder::new(BufReader::new(file))) } else { Box::new(file) };
    let origin = emitter.origin(&path.to_string_lossy());
    read_stream(reader, &origin, max_line, emitter, rt, |e| {
        emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
        warn!(path = %path.display(), error = %e, "read error, rest of the file skipped");
    })
}

/// Reads a byte stream to its end, sending each line (the last one even without its `\n`), without acks.
/// Used for cat-mode files (plain or decompressed).
pub fn read_stream(
    mut reader: impl Read,
    origin: &Arc<LineOrigin>,
    max_line: usize,
    emitter: &Emitter,
    rt: &tokio::runtime::Handle,
    on_error: impl Fn(&std::io::Error),
) -> Result<(), Stopped> {
    let mut splitter = LineSplitter::new(max_line);
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines: Vec<SplitLine> = Vec::new();
    loop {
        if emitter.stop.is_stopped() {
            return Err(Stopped);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                on_error(&e);
                break;
            }
        };
        emitter.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
        splitter.feed(&buf[..n], |l| lines.push(l));
        send_all(&mut lines, origin, emitter, rt)?;
    }
    splitter.flush(|l| lines.push(l));
    send_all(&mut lines, origin, emitter, rt)
}

fn send_all(
    lines: &mut Vec<SplitLine>,
    origin: &Arc<LineOrigin>,
    emitter: &Emitter,
    rt: &tokio::runtime::Handle,
) -> Result<(), Stopped> {
    if lines.is_empty() {
        return Ok(());
    }
    let now = Emitter::now();
    for l in lines.drain(..) {
        if l.truncated {
            emitter.metrics.truncated.fetch_add(1, Ordering::Relaxed);
        }
        emitter.send_blocking(rt, emitter.record(origin, l.text, now, None))?;
    }
    Ok(())
}
