//! Following one path: read the open file to its end, notice rotation, switch files without losing lines.
//!
//! One [`TailedFile`] per path. Each [`TailedFile::step`] (on a directory event or a poll tick):
//! 1. `fstat` the open file: smaller than what we read, or the bytes just before our offset changed, means it was
//!    truncated in place (copytruncate). The lines we had not read yet are in the copy: a sibling file
//!    (`name.1`, `name-20260101`, …) holding our last bytes at our offset is read from there, then the truncated
//!    file from its start.
//! 2. Read the open file to its end (a renamed file keeps being read through the descriptor).
//! 3. `stat` the path: another file now (rename + create, delete + create) means rotation: finish the old file (its
//!    held partial last line is emitted), then read the new one from its start. A missing path keeps the old
//!    descriptor open until the path reappears, or until it has been quiet for [`GONE_AFTER`].
//!
//! What this module is not: it does not discover files (see the parent module) and does not know about globs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::acquisition::lines::{LineSplitter, SplitLine};
use crate::acquisition::positions::FileTracker;
use crate::acquisition::record::{Emitter, Stopped};
use crate::event::LineOrigin;

/// A deleted file whose path has not come back and that did not grow for this long is closed.
pub const GONE_AFTER: Duration = Duration::from_secs(5);

/// Bytes before the read offset remembered to recognise the same content after a truncation.
const FINGERPRINT: usize = 64;

const READ_CHUNK: usize = 64 * 1024;

/// Where to start reading a file nothing is known about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// Files present when tailing starts: only what is written from now on.
    End,
    /// Files appearing later: everything.
    Beginning,
}

/// What a step found.
#[derive(Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Following,
    /// The file is gone for good; the caller drops it.
    Gone,
}

pub struct TailedFile {
    path: PathBuf,
    /// The origin of its lines, made from the path on the first line sent.
    origin: Option<Arc<LineOrigin>>,
    file: File,
    dev: u64,
    inode: u64,
    /// Bytes consumed from the current file (including a held partial line).
    offset: u64,
    /// End of the last record handed over (the resume point for another reader in this process).
    sent_offset: u64,
    /// Last bytes before `offset`.
    fingerprint: Vec<u8>,
    splitter: LineSplitter,
    tracker: Arc<FileTracker>,
    missing_since: Option<Instant>,
    buf: Vec<u8>,
    lines: Vec<SplitLine>,
}

/// Everything a tailed file needs from its source.
pub struct TailCtx<'a> {
    pub emitter: &'a Emitter,
    pub rt: &'a tokio::runtime::Handle,
    pub max_line: usize,
}

impl TailedFile {
    /// Opens `path` for following (the tracker must already be claimed).
    pub fn open(path: &Path, tracker: Arc<FileTracker>, start: StartAt, max_line: usize) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let (dev, inode, size) = (meta.dev(), meta.ino(), meta.len());
        let offset = match tracker.resume_offset(dev, inode, size) {
            Some(off) => off,
            None if start == StartAt::End => size,
            None => 0,
        };
        file.seek(SeekFrom::Start(offset))?;
        tracker.begin_generation(dev, inode, offset);
        debug!(path = %path.display(), offset, size, "following file");
        let mut t = TailedFile {
            path: path.to_path_buf(),
            origin: None,
            file,
            dev,
            inode,
            offset,
            sent_offset: offset,
            fingerprint: Vec::new(),
            splitter: LineSplitter::new(max_line),
            tracker,
            missing_since: None,
            buf: vec![0; READ_CHUNK],
            lines: Vec::new(),
        };
        t.fingerprint = t.read_fingerprint(&t.file, offset);
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the path back to the tracker with the point reached, for a later reader of this process.
    pub fn release(self) {
        self.tracker.release(Some((self.dev, self.inode, self.sent_offset)));
    }

    /// Gives the path back with nothing to hand over (the file is gone).
    pub fn release_gone(self) {
        self.tracker.release(None);
    }

    /// One round: truncation check, read to the end, rotation check.
    pub fn step(&mut self, ctx: &TailCtx<'_>) -> Result<StepOutcome, Stopped> {
        match self.file.metadata() {
            Ok(meta) => {
                let size = meta.len();
                if size < self.offset || (size > self.offset && !self.fingerprint_matches()) {
                    self.truncated(ctx, size)?;
                }
            }
            Err(e) => self.read_error(ctx, &e),
        }
        self.read_to_end(ctx)?;
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.inode => {
                self.missing_since = None;
                Ok(StepOutcome::Following)
            }
            Ok(_) => {
                self.missing_since = None;
                self.rotated(ctx)?;
                Ok(StepOutcome::Following)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let since = *self.missing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= GONE_AFTER {
                    self.flush_partial(ctx)?;
                    info!(path = %self.path.display(), "file removed, no longer followed");
                    return Ok(StepOutcome::Gone);
                }
                Ok(StepOutcome::Following)
            }
            Err(e) => {
                self.read_error(ctx, &e);
                Ok(StepOutcome::Following)
            }
        }
    }

    /// The path now names another file: finish the old one, follow the new one from its start.
    fn rotated(&mut self, ctx: &TailCtx<'_>) -> Result<(), Stopped> {
        self.read_to_end(ctx)?;
        self.flush_partial(ctx)?;
        let (file, meta) = match File::open(&self.path).and_then(|f| f.metadata().map(|m| (f, m))) {
            Ok(x) => x,
            // Gone again between stat and open: the next step sees it missing.
            Err(_) => return Ok(()),
        };
        info!(path = %self.path.display(), "file rotated, following the new file from its start");
        self.file = file;
        self.dev = meta.dev();
        self.inode = meta.ino();
        self.offset = 0;
        self.sent_offset = 0;
        self.fingerprint.clear();
        self.tracker.begin_generation(self.dev, self.inode, 0);
        self.read_to_end(ctx)
    }

    /// The open file was truncated in place. Read what we missed from the copy, if we find it, then start over.
    fn truncated(&mut self, ctx: &TailCtx<'_>, size: u64) -> Result<(), Stopped> {
        info!(path = %self.path.display(), size, offset = self.offset, "file truncated (copytruncate?)");
        if let Some(copy) = self.find_copy() {
            debug!(copy = %copy.display(), "reading the rest of the truncated file from its copy");
            match File::open(&copy) {
                Ok(mut f) => {
                    if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                        // The copy's lines continue this generation: their offsets are past the truncation point, so
                        // after a crash the (smaller) new file is read from its start.
                        self.read_from(ctx, &mut f, false)?;
                    }
                }
                Err(e) => self.read_error(ctx, &e),
            }
        }
        self.flush_partial(ctx)?;
        if let Err(e) = self.file.seek(SeekFrom::Start(0)) {
            self.read_error(ctx, &e);
        }
        self.offset = 0;
        self.sent_offset = 0;
        self.fingerprint.clear();
        self.tracker.begin_generation(self.dev, self.inode, 0);
        Ok(())
    }

    /// A sibling of the file (same directory, name starting with ours) whose content at our offset ends with the
    /// bytes we read last: the copy `copytruncate` made. The newest such file wins.
    fn find_copy(&self) -> Option<PathBuf> {
        if self.fingerprint.is_empty() {
            return None;
        }
        let dir = self.path.parent()?;
        let name = self.path.file_name()?.to_string_lossy().into_owned();
        let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
        for entry in std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }).ok()?.flatten() {
            let cand = entry.file_name().to_string_lossy().into_owned();
            if cand == name || !cand.starts_with(&name) {
                continue;
            }
            let p = entry.path();
            let Ok(meta) = std::fs::metadata(&p) else { continue };
            if !meta.is_file() || meta.len() < self.offset {
                continue;
            }
            let Ok(f) = File::open(&p) else { continue };
            if self.read_fingerprint(&f, self.offset) != self.fingerprint {
                continue;
            }
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
                best = Some((mtime, p));
            }
        }
        best.map(|(_, p)| p)
    }

    fn read_fingerprint(&self, f: &File, end: u64) -> Vec<u8> {
        let len = end.min(FINGERPRINT as u64) as usize;
        let mut v = vec![0; len];
        match f.read_exact_at(&mut v, end - len as u64) {
            Ok(()) => v,
            Err(_) => Vec::new(),
        }
    }

    fn fingerprint_matches(&self) -> bool {
        self.fingerprint.is_empty() || self.read_fingerprint(&self.file, self.offset) == self.fingerprint
    }

    /// Reads the open file to its current end.
    fn read_to_end(&mut self, ctx: &TailCtx<'_>) -> Result<(), Stopped> {
        let mut file = match self.file.try_clone() {
            Ok(f) => f,
            Err(e) => {
                self.read_error(ctx, &e);
                return Ok(());
            }
        };
        self.read_from(ctx, &mut file, true)
    }

    /// Reads `r` to its end, sending complete lines as records of the current generation.
    fn read_from(&mut self, ctx: &TailCtx<'_>, r: &mut File, keep_fingerprint: bool) -> Result<(), Stopped> {
        loop {
            if ctx.emitter.stop.is_stopped() {
                return Err(Stopped);
            }
            let n = match r.read(&mut self.buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.read_error(ctx, &e);
                    return Ok(());
                }
            };
            ctx.emitter.metrics.bytes.fetch_add(n as u64, Ordering::Relaxed);
            let base = self.offset;
            let mut lines = std::mem::take(&mut self.lines);
            self.splitter.feed(&self.buf[..n], |l| lines.push(l));
            self.offset += n as u64;
            if keep_fingerprint {
                self.update_fingerprint(n);
            }
            let result = self.send_lines(ctx, &mut lines, |l| base + l.end_in_chunk as u64);
            self.lines = lines;
            result?;
        }
    }

    fn update_fingerprint(&mut self, n: usize) {
        let chunk = &self.buf[..n];
        if chunk.len() >= FINGERPRINT {
            self.fingerprint.clear();
            self.fingerprint.extend_from_slice(&chunk[chunk.len() - FINGERPRINT..]);
        } else {
            self.fingerprint.extend_from_slice(chunk);
            let excess = self.fingerprint.len().saturating_sub(FINGERPRINT);
            self.fingerprint.drain(..excess);
        }
    }

    /// Emits the held partial line (the file it belongs to is finished).
    fn flush_partial(&mut self, ctx: &TailCtx<'_>) -> Result<(), Stopped> {
        let mut lines = std::mem::take(&mut self.lines);
        self.splitter.flush(|l| lines.push(l));
        let end = self.offset;
        let r = self.send_lines(ctx, &mut lines, |_| end);
        self.lines = lines;
        r
    }

    fn send_lines(
        &mut self,
        ctx: &TailCtx<'_>,
        lines: &mut Vec<SplitLine>,
        end_of: impl Fn(&SplitLine) -> u64,
    ) -> Result<(), Stopped> {
        if lines.is_empty() {
            return Ok(());
        }
        let now = Emitter::now();
        let origin = Arc::clone(self.origin.get_or_insert_with(|| ctx.emitter.origin(&self.path.to_string_lossy())));
        for l in lines.drain(..) {
            if l.truncated {
                ctx.emitter.metrics.truncated.fetch_add(1, Ordering::Relaxed);
            }
            let end = end_of(&l);
            let seq = loop {
                if let Some(seq) = self.tracker.next_seq() {
                    break seq;
                }
                // The pipeline holds a full window of this file's records: wait for commits.
                if ctx.emitter.stop.is_stopped() {
                    return Err(Stopped);
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let ack = self.tracker.ack(seq, end);
            let rec = ctx.emitter.record(&origin, l.text, now, Some(ack));
            ctx.emitter.send_blocking(ctx.rt, rec)?;
            self.tracker.sent(seq);
            self.sent_offset = end;
        }
        Ok(())
    }

    fn read_error(&self, ctx: &TailCtx<'_>, e: &std::io::Error) {
        ctx.emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
        warn!(path = %self.path.display(), error = %e, "read error");
    }
}
