//! Read positions of tailed files: what the pipeline has finished with (acks), and the state file that lets a
//! restarted daemon resume where it stopped.
//!
//! Each tailed path has one [`FileTracker`]. The reader numbers the records it sends (a sequence per path) and
//! each record carries an [`Ack`]; when the pipeline is done with a record it calls [`Ack::commit`], a single
//! atomic store into a ring slot. The committed position only moves over an unbroken run of committed records, so
//! records may be acked in any order (parallel parser workers) and a crash re-reads at most the records that were
//! in flight: never skips one. The ring has a fixed size: a reader that is that many records ahead of the
//! pipeline waits (backpressure), so memory does not grow.
//!
//! A path's records may come from several files over time (rotation: rename, copytruncate, recreate), each a
//! *generation* identified by `(dev, inode)` with its own offsets. The persisted position is the committed point
//! of the oldest generation that still has records in flight, so after a crash during a rotation the daemon
//! re-reads (duplicates) rather than skips.
//!
//! What this module is not: it does not read files (see `file`) and does not decide where a new file starts being
//! read; it answers "where did we stop with this file, if we know".

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// Default number of records of one file that may be in flight (sent, not yet acked) before its reader waits.
pub const DEFAULT_ACK_WINDOW: usize = 16 * 1024;

/// Where reading of one file stopped: the file identity and the offset just after the last committed line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub path: PathBuf,
    pub dev: u64,
    pub inode: u64,
    pub offset: u64,
}

/// Proof of one record read from a file; [`Ack::commit`] once the pipeline is done with the record.
///
/// Dropping an `Ack` without committing leaves the record uncommitted: after a restart it is read again. Every
/// record must eventually be committed (parse failures and filtered lines too), or the committed position of its
/// file stops advancing and, once the window is full, the reader waits.
pub struct Ack {
    tracker: Arc<FileTracker>,
    seq: u64,
    end: u64,
}

impl Ack {
    /// Marks the record processed. One atomic store; callable from any thread, in any order.
    pub fn commit(self) {
        let slot = &self.tracker.slots[(self.seq % self.tracker.slots.len() as u64) as usize];
        // +1 so that an end offset of 0 is distinguishable from an empty slot.
        slot.store(self.end + 1, Ordering::Release);
    }

    /// The offset just after the record in its file.
    pub fn end_offset(&self) -> u64 {
        self.end
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("path", &self.tracker.path).field("seq", &self.seq).field("end", &self.end).finish()
    }
}

#[derive(Debug)]
struct Generation {
    first_seq: u64,
    dev: u64,
    inode: u64,
    /// Offset after the last committed record of this generation (its start offset while none is committed).
    committed: u64,
}

#[derive(Debug, Default)]
struct TrackerState {
    gens: VecDeque<Generation>,
    /// A reader currently owns this path.
    claimed: bool,
    /// Where the previous reader in this process stopped sending (dev, inode, offset): a successor resumes there
    /// so that a reload neither re-reads nor skips.
    handover: Option<(u64, u64, u64)>,
    /// Position loaded from the state file at startup.
    saved: Option<Position>,
}

/// Ack bookkeeping for one path. See the module documentation.
pub struct FileTracker {
    path: PathBuf,
    slots: Box<[AtomicU64]>,
    /// Records sent so far (the next sequence number).
    issued: AtomicU64,
    /// Records whose commit has been folded into the committed position (all seq < retired).
    retired: AtomicU64,
    state: Mutex<TrackerState>,
}

impl std::fmt::Debug for FileTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTracker").field("path", &self.path).finish_non_exhaustive()
    }
}

impl FileTracker {
    fn new(path: PathBuf, window: usize, saved: Option<Position>) -> Self {
        let slots = (0..window.max(1)).map(|_| AtomicU64::new(0)).collect();
        FileTracker {
            path,
            slots,
            issued: AtomicU64::new(0),
            retired: AtomicU64::new(0),
            state: Mutex::new(TrackerState { saved, ..TrackerState::default() }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TrackerState> {
        // A panic while holding this lock cannot leave the state half-updated in a way that matters more than
        // losing positions; keep going with the data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes ownership of the path for one reader; false when another reader already has it.
    pub(crate) fn claim(&self) -> bool {
        let mut st = self.lock();
        if st.claimed {
            return false;
        }
        st.claimed = true;
        true
    }

    /// True while a reader owns the path.
    pub(crate) fn is_claimed(&self) -> bool {
        self.lock().claimed
    }

    /// Gives the path up; `read_to` = (dev, inode, offset after the last record sent) for a successor.
    pub(crate) fn release(&self, read_to: Option<(u64, u64, u64)>) {
        let mut st = self.lock();
        st.claimed = false;
        st.handover = read_to;
    }

    /// Where to start reading the file `(dev, inode)` of `size` bytes, if this path has a known position (from a
    /// previous reader in this process, else from the state file). A known position of another file means the path
    /// was rotated meanwhile: the new file is read from its start. `None`: nothing known, the caller decides.
    pub(crate) fn resume_offset(&self, dev: u64, inode: u64, size: u64) -> Option<u64> {
        let mut st = self.lock();
        let known = match st.handover.take() {
            Some(h) => Some(h),
            None => st.saved.take().map(|p| (p.dev, p.inode, p.offset)),
        };
        known.map(|(d, i, off)| if d == dev && i == inode && off <= size { off } else { 0 })
    }

    /// Starts a generation: records sent from now on are offsets in file `(dev, inode)`, starting at `offset`.
    pub(crate) fn begin_generation(&self, dev: u64, inode: u64, offset: u64) {
        let first_seq = self.issued.load(Ordering::Acquire);
        let mut st = self.lock();
        // A previous generation that never sent anything has nothing to protect: replace it.
        if let Some(last) = st.gens.back_mut()
            && last.first_seq == first_seq
        {
            *last = Generation { first_seq, dev, inode, committed: offset };
            return;
        }
        st.gens.push_back(Generation { first_seq, dev, inode, committed: offset });
    }

    /// The sequence number for the next record, or `None` while the window is full (the reader should wait).
    pub(crate) fn next_seq(&self) -> Option<u64> {
        let issued = self.issued.load(Ordering::Relaxed);
        if issued - self.retired.load(Ordering::Acquire) < self.slots.len() as u64 {
            return Some(issued);
        }
        self.advance();
        (issued - self.retired.load(Ordering::Acquire) < self.slots.len() as u64).then_some(issued)
    }

    /// The ack for record `seq` ending at `end`; call [`FileTracker::sent`] once the record is handed over.
    pub(crate) fn ack(self: &Arc<Self>, seq: u64, end: u64) -> Ack {
        Ack { tracker: Arc::clone(self), seq, end }
    }

    /// Record `seq` reached the pipeline (a record that could not be sent is never counted, so its slot stays
    /// free).
    pub(crate) fn sent(&self, seq: u64) {
        self.issued.store(seq + 1, Ordering::Release);
    }

    /// Folds committed slots into the committed position; returns that position.
    pub fn advance(&self) -> Option<Position> {
        let mut st = self.lock();
        let issued = self.issued.load(Ordering::Acquire);
        let mut h = self.retired.load(Ordering::Relaxed);
        let w = self.slots.len() as u64;
        while h < issued {
            let slot = &self.slots[(h % w) as usize];
            let v = slot.load(Ordering::Acquire);
            if v == 0 {
                break;
            }
            slot.store(0, Ordering::Relaxed);
            while st.gens.len() > 1 && st.gens[1].first_seq <= h {
                st.gens.pop_front();
            }
            if let Some(g) = st.gens.front_mut() {
                g.committed = v - 1;
            }
            h += 1;
        }
        // Generations whose records are all retired give way to the next one.
        while st.gens.len() > 1 && st.gens[1].first_seq <= h {
            st.gens.pop_front();
        }
        self.retired.store(h, Ordering::Release);
        self.position_locked(&st)
    }

    fn position_locked(&self, st: &TrackerState) -> Option<Position> {
        match st.gens.front() {
            Some(g) => Some(Position { path: self.path.clone(), dev: g.dev, inode: g.inode, offset: g.committed }),
            None => st.saved.clone(),
        }
    }

    /// Records sent and not yet committed (after folding what has been committed).
    pub fn outstanding(&self) -> u64 {
        self.advance();
        self.issued.load(Ordering::Acquire) - self.retired.load(Ordering::Acquire)
    }

    fn is_idle(&self) -> bool {
        let st = self.lock();
        !st.claimed && self.issued.load(Ordering::Acquire) == self.retired.load(Ordering::Acquire)
    }
}

/// The on-disk form of the state file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: Vec<Position>,
}

/// All trackers of the process, and the state file they are saved to.
#[derive(Debug)]
pub struct PositionStore {
    file: Option<PathBuf>,
    window: usize,
    trackers: Mutex<HashMap<PathBuf, Arc<FileTracker>>>,
    /// Positions from the state file not (yet) claimed by a tracker.
    saved: Mutex<HashMap<PathBuf, Position>>,
    /// Serialises writers of the state file.
    write_lock: Mutex<()>,
}

impl PositionStore {
    /// A store without a state file (replay, tests): positions live for the process only.
    pub fn in_memory(window: usize) -> Arc<Self> {
        Arc::new(PositionStore {
            file: None,
            window,
            trackers: Mutex::default(),
            saved: Mutex::default(),
            write_lock: Mutex::default(),
        })
    }

    /// Opens the store backed by `file`. A missing file is an empty store; an unreadable or corrupt one is
    /// ignored (the warning is returned for the caller to log): files are then read as on a first start.
    pub fn open(file: PathBuf, window: usize) -> (Arc<Self>, Option<String>) {
        let (saved, warning) = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<StateFile>(&bytes) {
                Ok(s) if s.version == 1 => (s.files.into_iter().map(|p| (p.path.clone(), p)).collect(), None),
                Ok(s) => {
                    (HashMap::new(), Some(format!("{}: unsupported version {}, ignored", file.display(), s.version)))
                }
                Err(e) => (HashMap::new(), Some(format!("{}: corrupt positions file ignored: {e}", file.display()))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (HashMap::new(), None),
            Err(e) => (HashMap::new(), Some(format!("{}: cannot read positions file, ignored: {e}", file.display()))),
        };
        let store = PositionStore {
            file: Some(file),
            window,
            trackers: Mutex::default(),
            saved: Mutex::new(saved),
            write_lock: Mutex::default(),
        };
        (Arc::new(store), warning)
    }

    /// The state file, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The tracker of `path` (created on first use, with its saved position).
    pub fn tracker(&self, path: &Path) -> Arc<FileTracker> {
        let mut trackers = self.trackers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = trackers.get(path) {
            return Arc::clone(t);
        }
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).remove(path);
        let t = Arc::new(FileTracker::new(path.to_path_buf(), self.window, saved));
        trackers.insert(path.to_path_buf(), Arc::clone(&t));
        t
    }

    /// Current committed positions of every known file (sorted by path).
    pub fn snapshot(&self) -> Vec<Position> {
        let trackers: Vec<Arc<FileTracker>> =
            self.trackers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut out: Vec<Position> = trackers.iter().filter_map(|t| t.advance()).collect();
        out.extend(self.saved.lock().unwrap_or_else(|e| e.into_inner()).values().cloned());
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Records sent from all files and not yet committed.
    pub fn outstanding(&self) -> u64 {
        let trackers: Vec<Arc<FileTracker>> =
            self.trackers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        trackers.iter().map(|t| t.outstanding()).sum()
    }

    /// Writes the state file atomically (temporary file, fsync, rename). Forgets files that no longer exist and
    /// that nobody reads. Without a state file: does nothing.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut trackers = self.trackers.lock().unwrap_or_else(|e| e.into_inner());
            trackers.retain(|path, t| path.exists() || !t.is_idle());
            self.saved.lock().unwrap_or_else(|e| e.into_inner()).retain(|path, _| path.exists());
        }
        let state = StateFile { version: 1, files: self.snapshot() };
        let json = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp_name = file.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(t: &Arc<FileTracker>, end: u64) -> Ack {
        let seq = t.next_seq().expect("window has room");
        let ack = t.ack(seq, end);
        t.sent(seq);
        ack
    }

    #[test]
    fn commits_in_any_order_only_advance_over_unbroken_runs() {
        let store = PositionStore::in_memory(8);
        let t = store.tracker(Path::new("/x"));
        t.begin_generation(1, 2, 100);
        let a = issue(&t, 110);
        let b = issue(&t, 120);
        let c = issue(&t, 130);
        assert_eq!(t.advance().map(|p| p.offset), Some(100));
        c.commit();
        assert_eq!(t.advance().map(|p| p.offset), Some(100), "c alone must not move past a and b");
        a.commit();
        assert_eq!(t.advance().map(|p| p.offset), Some(110));
        assert_eq!(t.outstanding(), 2, "b is missing, so c is not retired yet");
        b.commit();
        assert_eq!(t.advance().map(|p| p.offset), Some(130));
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn full_window_makes_the_reader_wait_until_commits() {
        let store = PositionStore::in_memory(2);
        let t = store.tracker(Path::new("/x"));
        t.begin_generation(1, 2, 0);
        let a = issue(&t, 1);
        let _b = issue(&t, 2);
        assert_eq!(t.next_seq(), None);
        a.commit();
        assert_eq!(t.next_seq(), Some(2));
    }

    #[test]
    fn unsent_record_does_not_block_the_window() {
        let store = PositionStore::in_memory(4);
        let t = store.tracker(Path::new("/x"));
        t.begin_generation(1, 2, 0);
        let seq = t.next_seq().unwrap_or(u64::MAX);
        drop(t.ack(seq, 10)); // the send failed: never `sent`
        let a = issue(&t, 10);
        a.commit();
        assert_eq!(t.advance().map(|p| p.offset), Some(10));
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn position_stays_on_the_old_generation_until_it_is_fully_committed() {
        let store = PositionStore::in_memory(16);
        let t = store.tracker(Path::new("/x"));
        t.begin_generation(1, 10, 0);
        let old = issue(&t, 50);
        t.begin_generation(1, 11, 0);
        let new = issue(&t, 5);
        new.commit();
        let p = t.advance().unwrap_or_else(|| panic!("position"));
        assert_eq!((p.inode, p.offset), (10, 0));
        old.commit();
        let p = t.advance().unwrap_or_else(|| panic!("position"));
        assert_eq!((p.inode, p.offset), (11, 5));
        // A new generation with nothing sent yet: the position is its start once the old one is done.
        t.begin_generation(1, 12, 0);
        let p = t.advance().unwrap_or_else(|| panic!("position"));
        assert_eq!((p.inode, p.offset), (12, 0));
    }

    #[test]
    fn state_file_round_trip_and_resume_rules() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("state/positions.json");
        let log = dir.path().join("a.log");
        std::fs::write(&log, "x\n").unwrap_or_else(|e| panic!("{e}"));
        {
            let (store, warn) = PositionStore::open(file.clone(), 8);
            assert!(warn.is_none());
            let t = store.tracker(&log);
            t.begin_generation(7, 8, 0);
            issue(&t, 42).commit();
            store.save().unwrap_or_else(|e| panic!("{e}"));
        }
        let (store, warn) = PositionStore::open(file.clone(), 8);
        assert!(warn.is_none(), "{warn:?}");
        assert_eq!(store.snapshot(), vec![Position { path: log.clone(), dev: 7, inode: 8, offset: 42 }]);
        let t = store.tracker(&log);
        assert_eq!(t.resume_offset(7, 8, 100), Some(42), "same file: resume");
        let (store, _) = PositionStore::open(file.clone(), 8);
        assert_eq!(store.tracker(&log).resume_offset(7, 9, 100), Some(0), "rotated while down: from the start");
        let (store, _) = PositionStore::open(file.clone(), 8);
        assert_eq!(store.tracker(&log).resume_offset(7, 8, 10), Some(0), "truncated while down: from the start");
        let (store, _) = PositionStore::open(file, 8);
        assert_eq!(store.tracker(&dir.path().join("other")).resume_offset(7, 8, 10), None);
    }

    #[test]
    fn corrupt_state_file_is_reported_and_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("positions.json");
        std::fs::write(&file, "{\"version\":1,\"files\":[{\"path\":").unwrap_or_else(|e| panic!("{e}"));
        let (store, warn) = PositionStore::open(file.clone(), 8);
        let warn = warn.unwrap_or_default();
        assert!(warn.contains("corrupt positions file"), "{warn}");
        assert!(store.snapshot().is_empty());
        // Saving replaces the corrupt file with a valid one.
        store.save().unwrap_or_else(|e| panic!("{e}"));
        let (_, warn) = PositionStore::open(file, 8);
        assert!(warn.is_none());
    }

    #[test]
    fn handover_between_readers_of_one_process() {
        let store = PositionStore::in_memory(8);
        let t = store.tracker(Path::new("/x"));
        assert!(t.claim());
        assert!(!t.claim(), "a second reader is refused");
        t.release(Some((1, 2, 77)));
        assert!(t.claim());
        assert_eq!(t.resume_offset(1, 2, 100), Some(77));
    }
}
