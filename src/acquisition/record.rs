//! What acquisition hands to the pipeline ([`Record`]) and the small plumbing every source uses to build and send
//! records ([`Emitter`], [`Stop`]).
//!
//! What this module is not: the reading of any particular source.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};

use crate::event::{Event, ExpectMode, FieldMap, Line, LineOrigin, Timestamp};

use super::metrics::SourceMetrics;
use super::positions::Ack;

/// One log line read by a source, ready for the parsers.
#[derive(Debug)]
pub struct Record {
    /// `evt.Line`: raw text, source id, read time, labels, module.
    pub line: Line,
    /// `evt.ExpectMode`: time-machine for cat mode and `use_time_machine: true`, live otherwise.
    pub expect_mode: ExpectMode,
    /// For file sources: commit once the pipeline is done with the record (see [`Ack`]). `None` for sources that
    /// cannot be re-read (syslog, stdin, journalctl, command) and for cat mode.
    pub ack: Option<Ack>,
    /// The counters of the source this record came from (the pipeline fills `parsed_ok` / `parsed_ko`).
    pub metrics: Arc<SourceMetrics>,
}

impl Record {
    /// Commits the ack, if any (idempotent: the ack is taken).
    pub fn commit(&mut self) {
        if let Some(a) = self.ack.take() {
            a.commit();
        }
    }

    /// The event the parsers start from, and what is left to do once it is processed.
    pub fn into_event(self) -> (Event, Option<Ack>, Arc<SourceMetrics>) {
        (Event::from_line(self.line, self.expect_mode), self.ack, self.metrics)
    }
}

/// Tells a source to stop; cheap to clone, awaitable and pollable.
#[derive(Clone, Debug)]
pub struct Stop(watch::Receiver<bool>);

/// The sending half of [`Stop`].
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl Stop {
    pub fn new() -> (StopHandle, Stop) {
        let (tx, rx) = watch::channel(false);
        (StopHandle(tx), Stop(rx))
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once stop is requested (or the handle is dropped).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// The send failed: stop was requested or the pipeline is gone. The record was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// Builds records for one source and sends them with backpressure, giving up only when the source is told to
/// stop.
#[derive(Clone, Debug)]
pub struct Emitter {
    tx: mpsc::Sender<Record>,
    module: Arc<str>,
    labels: Arc<FieldMap>,
    expect_mode: ExpectMode,
    pub metrics: Arc<SourceMetrics>,
    pub stop: Stop,
}

impl Emitter {
    pub fn new(
        tx: mpsc::Sender<Record>,
        module: &str,
        labels: Arc<FieldMap>,
        expect_mode: ExpectMode,
        metrics: Arc<SourceMetrics>,
        stop: Stop,
    ) -> Self {
        Emitter { tx, module: Arc::from(module), labels, expect_mode, metrics, stop }
    }

    /// The origin of this source's lines read from `src` (a path, a peer address): made once per `src`, shared by
    /// its lines.
    pub fn origin(&self, src: &str) -> Arc<LineOrigin> {
        Arc::new(LineOrigin {
            src: Arc::from(src),
            module: Arc::clone(&self.module),
            labels: Arc::clone(&self.labels),
            process: true,
        })
    }

    /// A record of this source, from the origin [`Emitter::origin`] made.
    pub fn record(&self, origin: &Arc<LineOrigin>, raw: String, time: Timestamp, ack: Option<Ack>) -> Record {
        Record {
            line: Line::new(raw, origin, time),
            expect_mode: self.expect_mode,
            ack,
            metrics: Arc::clone(&self.metrics),
        }
    }

    /// Sends, waiting while the pipeline is full; gives up when stop is requested.
    pub async fn send(&self, rec: Record) -> Result<(), Stopped> {
        if self.stop.is_stopped() {
            return Err(Stopped);
        }
        // Counted before the send so that a receiver never sees a record the counter does not include yet.
        self.metrics.lines.fetch_add(1, Ordering::Relaxed);
        let sent = tokio::select! {
            biased;
            r = self.tx.send(rec) => r.is_ok(),
            _ = self.stop.wait() => false,
        };
        if sent {
            Ok(())
        } else {
            self.metrics.lines.fetch_sub(1, Ordering::Relaxed);
            Err(Stopped)
        }
    }

    /// [`Emitter::send`] from a plain thread (file and stdin readers).
    pub fn send_blocking(&self, rt: &tokio::runtime::Handle, rec: Record) -> Result<(), Stopped> {
        if self.stop.is_stopped() {
            return Err(Stopped);
        }
        // Fast path without entering the runtime.
        self.metrics.lines.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(rec) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.metrics.lines.fetch_sub(1, Ordering::Relaxed);
                match e {
                    mpsc::error::TrySendError::Closed(_) => Err(Stopped),
                    mpsc::error::TrySendError::Full(rec) => rt.block_on(self.send(rec)),
                }
            }
        }
    }

    pub fn now() -> Timestamp {
        chrono::Utc::now().fixed_offset()
    }
}
