//! The `file` datasource: glob patterns expanded to files, followed (tail mode) or read once (cat mode).
//!
//! Tail mode runs on one OS thread per datasource (file reads block; they must not stall the async runtime). The
//! thread wakes on inotify events of the watched directories (`notify`, coalesced) and on a 500 ms tick that
//! doubles as the polling fallback (`poll_without_inotify: true` uses the tick only). On each wake it steps every
//! followed file (see [`tail`]) and re-expands the globs: a file that appears later is read from its start.
//!
//! What this module is not: the per-file rotation logic (`tail`) or the gzip/cat reader (`cat`).

pub mod cat;
pub mod tail;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, atomic::Ordering};
use std::time::Duration;

use notify::Watcher;
use regex::bytes::Regex;
use tracing::{debug, warn};

use crate::acquisition::positions::PositionStore;
use crate::acquisition::record::{Emitter, Stopped};
use crate::config::acquis::FileConfig;

use tail::{StartAt, StepOutcome, TailCtx, TailedFile};

/// Polling interval: the fallback when inotify is off or misses something.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The compiled form of a [`FileConfig`]: globs and exclusions.
pub struct FileSet {
    patterns: Vec<String>,
    exclude: Vec<Regex>,
}

impl FileSet {
    pub fn new(cfg: &FileConfig) -> Result<Self, String> {
        let exclude =
            cfg.exclude_regexps.iter().map(|r| crate::gocompat::regex::compile(r)).collect::<Result<Vec<_>, _>>()?;
        Ok(FileSet { patterns: cfg.filenames.clone(), exclude })
    }

    /// Regular files matching the patterns now, minus the excluded ones, sorted.
    pub fn expand(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        for p in &self.patterns {
            let Ok(paths) = glob::glob(p) else { continue };
            for path in paths.flatten() {
                if !path.is_file() || self.excluded(&path) {
                    continue;
                }
                out.insert(path);
            }
        }
        out
    }

    fn excluded(&self, path: &Path) -> bool {
        let s = path.to_string_lossy();
        self.exclude.iter().any(|r| r.is_match(s.as_bytes()))
    }

    /// Directories worth watching: the pattern's own directory when it has no wildcard, plus the directories of
    /// the files found.
    fn directories(&self, files: &BTreeSet<PathBuf>) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        for p in &self.patterns {
            if let Some(parent) = Path::new(p).parent()
                && !parent.to_string_lossy().contains(['*', '?', '['])
            {
                dirs.insert(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() });
            }
        }
        for f in files {
            if let Some(parent) = f.parent() {
                dirs.insert(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() });
            }
        }
        dirs
    }
}

/// Inotify on directories, each event a coalesced wake-up.
struct DirWatcher {
    watcher: Option<notify::RecommendedWatcher>,
    watched: BTreeSet<PathBuf>,
}

impl DirWatcher {
    fn new(enabled: bool, wake: SyncSender<()>) -> Self {
        let watcher = if enabled {
            match notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
                let _ = wake.try_send(());
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    warn!(error = %e, "inotify unavailable, polling files every 500 ms");
                    None
                }
            }
        } else {
            None
        };
        DirWatcher { watcher, watched: BTreeSet::new() }
    }

    fn watch_all(&mut self, dirs: &BTreeSet<PathBuf>) {
        let Some(w) = self.watcher.as_mut() else { return };
        for d in dirs {
            if self.watched.contains(d) || !d.is_dir() {
                continue;
            }
            match w.watch(d, notify::RecursiveMode::NonRecursive) {
                Ok(()) => {
                    debug!(dir = %d.display(), "watching directory");
                    self.watched.insert(d.clone());
                }
                Err(e) => warn!(dir = %d.display(), error = %e, "cannot watch directory, polling it"),
            }
        }
    }
}

/// Runs a tail-mode file datasource until stopped. Blocking: call on a dedicated thread.
pub fn run_tail(
    cfg: &FileConfig,
    emitter: &Emitter,
    store: &Arc<PositionStore>,
    rt: &tokio::runtime::Handle,
    wake: (SyncSender<()>, Receiver<()>),
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let set = match FileSet::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "file source not started");
            return;
        }
    };
    let (wake_tx, wake_rx) = wake;
    let mut watcher = DirWatcher::new(!cfg.poll_without_inotify, wake_tx);
    let ctx = TailCtx { emitter, rt, max_line: cfg.max_line };
    let mut files: BTreeMap<PathBuf, TailedFile> = BTreeMap::new();
    let mut refused: BTreeSet<PathBuf> = BTreeSet::new();
    let mut first = true;
    loop {
        let found = set.expand();
        watcher.watch_all(&set.directories(&found));
        for path in &found {
            if files.contains_key(path) || refused.contains(path) {
                continue;
            }
            let start = if first { StartAt::End } else { StartAt::Beginning };
            let tracker = store.tracker(path);
            if !tracker.claim() {
                warn!(path = %path.display(), "file already read by another datasource, skipped here");
                refused.insert(path.clone());
                continue;
            }
            match TailedFile::open(path, Arc::clone(&tracker), start, ctx.max_line) {
                Ok(t) => {
                    files.insert(path.clone(), t);
                }
                Err(e) => {
                    tracker.release(None);
                    if e.kind() != std::io::ErrorKind::NotFound {
                        emitter.metrics.errors.fetch_add(1, Ordering::Relaxed);
                        warn!(path = %path.display(), error = %e, "cannot open file");
                    }
                }
            }
        }
        first = false;
        // The files present at start are open (positioned at their end): from now on, anything written is read.
        if let Some(r) = ready.take() {
            let _ = r.send(());
        }
        emitter.metrics.open.store(files.len() as u64, Ordering::Relaxed);

        let mut stopped = false;
        let mut gone = Vec::new();
        for (path, t) in files.iter_mut() {
            match t.step(&ctx) {
                Ok(StepOutcome::Following) => {}
                Ok(StepOutcome::Gone) => gone.push(path.clone()),
                Err(Stopped) => {
                    stopped = true;
                    break;
                }
            }
        }
        for p in gone {
            if let Some(t) = files.remove(&p) {
                t.release_gone();
            }
        }
        if stopped || emitter.stop.is_stopped() {
            break;
        }
        // Sleep until an inotify event, a stop request or the poll tick; coalesce queued wake-ups.
        match wake_rx.recv_timeout(POLL_INTERVAL) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(POLL_INTERVAL),
        }
        while let Ok(()) = wake_rx.try_recv() {}
        if emitter.stop.is_stopped() {
            break;
        }
        // Other sources may have released a refused path (reload): try again on the next round.
        refused.retain(|p| store.tracker(p).is_claimed());
    }
    for (_, t) in files {
        t.release();
    }
    emitter.metrics.open.store(0, Ordering::Relaxed);
}
