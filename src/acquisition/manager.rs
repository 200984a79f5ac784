//! Running the configured datasources: start, reload by identity, stop, and the positions saver.
//!
//! All sources send [`Record`]s into one bounded channel; a full channel blocks the readers (backpressure), it
//! never drops. The manager keeps one sender for itself so that a reload can start new sources; [`Manager::seal`]
//! gives it up, after which the channel closes once every running source has ended (replay: cat-mode sources end
//! on their own).
//!
//! Shutdown without loss, as the daemon does it:
//! 1. [`Manager::stop_reading`]: every source stops and its sender is dropped; the channel yields what is queued,
//!    then `None`.
//! 2. The pipeline drains the channel and commits every record's ack.
//! 3. [`Manager::shutdown`]: waits (bounded) until no file record is outstanding, then writes the positions file.
//!    What was still uncommitted is simply read again at the next start.
//!
//! What this module is not: reading any particular source.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::acquis::{Mode, SourceConfig, SourceKind};
use crate::event::ExpectMode;

use super::metrics::SourceMetrics;
use super::positions::{DEFAULT_ACK_WINDOW, PositionStore};
use super::record::{Emitter, Record, Stop, StopHandle};
use super::syslog::SyslogServer;
use super::{file, process, stdin};

/// How the manager runs.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Capacity of the record channel.
    pub channel_capacity: usize,
    /// Positions state file; `None` keeps positions in memory (replay, tests).
    pub state_file: Option<PathBuf>,
    /// Records of one file that may be in flight before its reader waits (see `positions`).
    pub ack_window: usize,
    /// How often the positions file is written while running.
    pub save_interval: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            channel_capacity: 4096,
            state_file: None,
            ack_window: DEFAULT_ACK_WINDOW,
            save_interval: Duration::from_secs(5),
        }
    }
}

/// A running datasource as seen from outside.
#[derive(Clone, Debug)]
pub struct SourceInfo {
    pub config: SourceConfig,
    pub metrics: Arc<SourceMetrics>,
    /// Bound sockets of a syslog source.
    pub udp_addr: Option<std::net::SocketAddr>,
    pub tcp_addr: Option<std::net::SocketAddr>,
    /// The source has finished (cat mode done, stdin at EOF, or failed).
    pub finished: bool,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub kept: usize,
    pub stopped: usize,
    pub started: usize,
    /// New sources that could not start (the others run).
    pub errors: Vec<String>,
}

/// What a shutdown left behind.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// File records still uncommitted when the wait ended (they will be read again at the next start).
    pub uncommitted: u64,
    /// Error writing the positions file, if any.
    pub save_error: Option<String>,
}

enum Done {
    Task(JoinHandle<()>),
    Thread(oneshot::Receiver<()>),
    /// A thread source seen finished: its receiver has delivered (awaiting it again would panic).
    Finished,
}

struct Running {
    config: SourceConfig,
    metrics: Arc<SourceMetrics>,
    stop: StopHandle,
    done: Done,
    udp_addr: Option<std::net::SocketAddr>,
    tcp_addr: Option<std::net::SocketAddr>,
}

impl Running {
    fn finished(&mut self) -> bool {
        match &mut self.done {
            Done::Task(h) => h.is_finished(),
            Done::Thread(rx) => {
                if matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)) {
                    return false;
                }
                self.done = Done::Finished;
                true
            }
            Done::Finished => true,
        }
    }

    async fn stop_and_wait(self) {
        self.stop.stop();
        match self.done {
            Done::Task(h) => {
                let _ = h.await;
            }
            Done::Thread(rx) => {
                let _ = rx.await;
            }
            Done::Finished => {}
        }
    }
}

/// The acquisition side of the daemon. Create it inside a tokio runtime.
pub struct Manager {
    tx: Option<mpsc::Sender<Record>>,
    sources: Vec<Running>,
    store: Arc<PositionStore>,
    rt: tokio::runtime::Handle,
    saver: Option<(StopHandle, JoinHandle<()>)>,
}

impl Manager {
    /// Starts `sources`; returns the manager and the receiving end the pipeline reads. Fails (starting nothing)
    /// if a source cannot start, e.g. a syslog port is taken.
    pub async fn start(
        sources: Vec<SourceConfig>,
        opts: ManagerOptions,
    ) -> Result<(Manager, mpsc::Receiver<Record>), String> {
        let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
        let store = match &opts.state_file {
            Some(f) => {
                let (store, warning) = PositionStore::open(f.clone(), opts.ack_window);
                if let Some(w) = warning {
                    warn!("{w}");
                }
                store
            }
            None => PositionStore::in_memory(opts.ack_window),
        };
        let rt =
            tokio::runtime::Handle::try_current().map_err(|e| format!("acquisition needs a tokio runtime: {e}"))?;
        let mut m = Manager { tx: Some(tx), sources: Vec::new(), store, rt, saver: None };
        for cfg in sources {
            match m.start_one(cfg).await {
                Ok(r) => m.sources.push(r),
                Err(e) => {
                    m.stop_reading().await;
                    return Err(e);
                }
            }
        }
        if m.store.file().is_some() {
            m.saver = Some(spawn_saver(Arc::clone(&m.store), opts.save_interval));
        }
        Ok((m, rx))
    }

    /// The position store (for inspection and tests).
    pub fn positions(&self) -> &Arc<PositionStore> {
        &self.store
    }

    /// The running datasources with their counters.
    pub fn sources(&mut self) -> Vec<SourceInfo> {
        self.sources
            .iter_mut()
            .map(|r| SourceInfo {
                config: r.config.clone(),
                metrics: Arc::clone(&r.metrics),
                udp_addr: r.udp_addr,
                tcp_addr: r.tcp_addr,
                finished: r.finished(),
            })
            .collect()
    }

    /// Applies a new configuration: sources equal to a running one (see [`SourceConfig::same_source`]) keep
    /// running untouched; running sources not in `new` stop (their positions are handed over and saved); the others
    /// start. Safe at any time; a source that fails to start is reported and skipped.
    pub async fn reload(&mut self, new: Vec<SourceConfig>) -> ReloadReport {
        let mut report = ReloadReport::default();
        let mut pending: Vec<Option<SourceConfig>> = new.into_iter().map(Some).collect();
        let mut keep = Vec::new();
        let mut remove = Vec::new();
        for r in self.sources.drain(..) {
            let found = pending.iter_mut().find(|c| c.as_ref().is_some_and(|c| c.same_source(&r.config)));
            match found {
                Some(slot) => {
                    *slot = None;
                    keep.push(r);
                }
                None => remove.push(r),
            }
        }
        report.kept = keep.len();
        report.stopped = remove.len();
        // Stop first: a changed syslog source frees its port and a changed file source its files.
        for r in remove {
            debug!(source = %r.config.describe(), "stopping source");
            r.stop_and_wait().await;
        }
        self.sources = keep;
        for cfg in pending.into_iter().flatten() {
            let what = format!("{}: {}", cfg.origin, cfg.describe());
            match self.start_one(cfg).await {
                Ok(r) => {
                    report.started += 1;
                    self.sources.push(r);
                }
                Err(e) => report.errors.push(format!("{what}: {e}")),
            }
        }
        if let Err(e) = self.save_positions().await {
            report.errors.push(format!("saving positions: {e}"));
        }
        info!(kept = report.kept, stopped = report.stopped, started = report.started, "acquisition reloaded");
        report
    }

    /// Gives up the manager's own sender: the channel closes once every running source has ended. No source can
    /// be started afterwards.
    pub fn seal(&mut self) {
        self.tx = None;
    }

    /// Stops every source and waits for them; the channel then yields what is queued and closes.
    pub async fn stop_reading(&mut self) {
        self.tx = None;
        let sources: Vec<Running> = self.sources.drain(..).collect();
        for r in &sources {
            r.stop.stop();
        }
        for r in sources {
            r.stop_and_wait().await;
        }
    }

    /// Ends acquisition: stops reading (if not done yet), waits up to `drain_timeout` for the pipeline to commit
    /// every file record, then writes the positions file.
    pub async fn shutdown(mut self, drain_timeout: Duration) -> ShutdownReport {
        self.stop_reading().await;
        let deadline = tokio::time::Instant::now() + drain_timeout;
        let mut uncommitted = self.store.outstanding();
        while uncommitted > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            uncommitted = self.store.outstanding();
        }
        if let Some((stop, task)) = self.saver.take() {
            stop.stop();
            let _ = task.await;
        }
        let save_error = self.save_positions().await.err();
        if uncommitted > 0 {
            warn!(uncommitted, "shutdown: records still in the pipeline will be read again at the next start");
        }
        ShutdownReport { uncommitted, save_error }
    }

    async fn save_positions(&self) -> Result<(), String> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || store.save()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn start_one(&self, cfg: SourceConfig) -> Result<Running, String> {
        let tx = self.tx.clone().ok_or("acquisition is sealed: no source can be started")?;
        let metrics = SourceMetrics::new();
        let (stop_handle, stop) = Stop::new();
        let expect = if cfg.time_machine() { ExpectMode::TimeMachine } else { ExpectMode::Live };
        let emitter = Emitter::new(tx, cfg.kind.module(), Arc::clone(&cfg.labels), expect, Arc::clone(&metrics), stop);
        let mut udp_addr = None;
        let mut tcp_addr = None;
        let done = match &cfg.kind {
            SourceKind::File(f) => {
                let f = f.clone();
                let rt = self.rt.clone();
                if cfg.mode == Mode::Cat {
                    spawn_thread("acq-cat", move || file::cat::run_cat(&f, &emitter, &rt))?
                } else {
                    let store = Arc::clone(&self.store);
                    let (wake_tx, wake_rx) = std::sync::mpsc::sync_channel(1);
                    // Wake the thread as soon as stop is requested instead of at the next tick.
                    let waker = wake_tx.clone();
                    let stop = emitter.stop.clone();
                    self.rt.spawn(async move {
                        stop.wait().await;
                        let _ = waker.try_send(());
                    });
                    let (ready_tx, ready_rx) = oneshot::channel();
                    let done = spawn_thread("acq-tail", move || {
                        file::run_tail(&f, &emitter, &store, &rt, (wake_tx, wake_rx), ready_tx)
                    })?;
                    // Return once the files present now are open, so "existing at start" means "existing when
                    // start/reload returned".
                    let _ = ready_rx.await;
                    done
                }
            }
            SourceKind::Syslog(s) => {
                let server = SyslogServer::bind(s).await?;
                (udp_addr, tcp_addr) = server.local_addrs();
                info!(udp = ?udp_addr, tcp = ?tcp_addr, "syslog server listening");
                Done::Task(self.rt.spawn(server.run(emitter)))
            }
            SourceKind::Journalctl(j) => {
                let argv = process::journalctl_args(&j.filters, cfg.mode == Mode::Tail);
                let src: Arc<str> = Arc::from(process::journalctl_src(&j.filters));
                let restart = cfg.mode == Mode::Tail;
                Done::Task(self.rt.spawn(process::run(argv, src, emitter, restart, super::lines::DEFAULT_MAX_LINE)))
            }
            SourceKind::Command(c) => {
                let argv = c.command.clone();
                let src: Arc<str> = Arc::from(argv.join(" "));
                let restart = cfg.mode == Mode::Tail;
                Done::Task(self.rt.spawn(process::run(argv, src, emitter, restart, super::lines::DEFAULT_MAX_LINE)))
            }
            SourceKind::Stdin => Done::Task(self.rt.spawn(stdin::run(emitter))),
        };
        debug!(source = %cfg.describe(), "source started");
        Ok(Running { config: cfg, metrics, stop: stop_handle, done, udp_addr, tcp_addr })
    }
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<Done, String> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .map_err(|e| format!("cannot start a reader thread: {e}"))?;
    Ok(Done::Thread(rx))
}

fn spawn_saver(store: Arc<PositionStore>, every: Duration) -> (StopHandle, JoinHandle<()>) {
    let (handle, stop) = Stop::new();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait() => return,
            }
            let s = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || s.save()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "cannot write positions file"),
                Err(e) => warn!(error = %e, "positions saver failed"),
            }
        }
    });
    (handle, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[tokio::test]
    async fn manager_and_its_futures_can_move_between_tasks() {
        let (mut m, _rx) =
            Manager::start(Vec::new(), ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_send(&m);
        {
            let f = m.reload(Vec::new());
            assert_send(&f);
            f.await;
        }
        let f = m.shutdown(Duration::from_millis(10));
        assert_send(&f);
        assert_eq!(f.await.uncommitted, 0);
    }
}
