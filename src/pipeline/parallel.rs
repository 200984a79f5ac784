//! Parsing on several threads while pouring stays sequential and in input order.
//!
//! Parsing is a pure function of the compiled pipeline and the line (`Pipeline::parse` takes `&self`), so batches of
//! lines are parsed by `workers` threads; the caller pours the results in the order the lines were read, which
//! keeps alerts identical to a single-threaded run (same alerts, same order). The caller is one of the `workers`:
//! while the batch it must pour next is not ready, it parses a queued batch itself, so `workers` threads share
//! `workers` cores instead of `workers` parsers plus a pouring thread competing for them. One exception: pipelines whose nodes
//! write to a stash (`stash:`) may read it back on later lines (`GetFromStash`), which makes parsing order-dependent;
//! [`Pipeline::parse_is_order_independent`] tells, and callers then use one worker.
//!
//! Memory stays on the thread that allocated it where it can: a batch carries its lines as one text buffer, so each
//! line's `String` is allocated by the thread that parses it, and events that will not be poured (unparsed,
//! whitelisted; most lines of a typical log) are dropped there too, leaving only counts. Freeing a block another
//! thread allocated is a remote free for the allocator (an atomic push, then a collection by the owner); measured,
//! those made a 2-worker run use about a quarter more CPU per line than a 1-worker one.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::event::{Event, ExpectMode, Line};

use super::{ParseOutcome, Pipeline};

/// Lines per batch: large enough that channel and lock costs vanish, small enough to keep memory and latency low.
pub const BATCH: usize = 512;

/// Raw lines of one source, numbered in reading order.
pub struct Batch {
    pub seq: u64,
    /// Line template: every line of the batch shares `src`, `labels`, `module`, `time`.
    pub template: Line,
    pub mode: ExpectMode,
    pub lines: LineBatch,
}

/// Lines packed into one buffer: pushing a line allocates nothing once the buffer has grown.
#[derive(Default)]
pub struct LineBatch {
    text: String,
    ends: Vec<usize>,
}

impl LineBatch {
    pub fn with_capacity(lines: usize) -> LineBatch {
        LineBatch { text: String::with_capacity(lines * 128), ends: Vec::with_capacity(lines) }
    }

    pub fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(s, e)| &self.text[s..e])
    }
}

/// What parsing a batch leaves to pour: the events to pour, in line order, and counts of the others.
#[derive(Default)]
pub struct ParsedBatch {
    pub events: Vec<Event>,
    pub unparsed: u64,
    pub whitelisted: u64,
}

type Parsed = (u64, ParsedBatch);

/// A pool of parsing threads. Send batches with [`ParallelParser::submit`], take results in order with
/// [`ParallelParser::next_in_order`].
pub struct ParallelParser {
    input: Option<SyncSender<Batch>>,
    /// The same queue the threads take from, so that the caller can take a batch too.
    queue: Arc<Mutex<Receiver<Batch>>>,
    pipeline: Arc<Pipeline>,
    output: Receiver<Parsed>,
    pending: BTreeMap<u64, ParsedBatch>,
    next: u64,
    submitted: u64,
    /// Batches the caller should let be in flight before taking results (`is_saturated`): enough to keep every
    /// worker busy while the caller pours.
    max_in_flight: u64,
    threads: Vec<JoinHandle<()>>,
}

impl ParallelParser {
    /// `workers` parsers in all: `workers - 1` threads plus the caller (at least one thread).
    pub fn new(pipeline: Arc<Pipeline>, workers: usize) -> ParallelParser {
        let workers = workers.max(2);
        let (tx, rx) = sync_channel::<Batch>(workers * 2);
        let rx = Arc::new(Mutex::new(rx));
        // Results wait in this channel until the caller takes them in order. It holds more than the caller ever
        // lets be in flight (`is_saturated`), so a worker never blocks on it while the caller blocks on `submit`:
        // that would deadlock.
        let max_in_flight = (workers * 2) as u64;
        let (otx, orx) = sync_channel::<Parsed>(max_in_flight as usize + workers * 2 + 2);
        let threads = (0..workers - 1)
            .map(|i| {
                let (rx, otx, pipeline) = (Arc::clone(&rx), otx.clone(), Arc::clone(&pipeline));
                std::thread::Builder::new()
                    .name(format!("parse-{i}"))
                    .spawn(move || {
                        loop {
                            // The lock is held only to take one batch.
                            let batch = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                                Ok(b) => b,
                                Err(_) => return,
                            };
                            let out = parse_batch(&pipeline, batch.template, batch.mode, &batch.lines);
                            if otx.send((batch.seq, out)).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawn a parsing thread")
            })
            .collect();
        ParallelParser {
            input: Some(tx),
            queue: rx,
            pipeline,
            output: orx,
            pending: BTreeMap::new(),
            next: 0,
            submitted: 0,
            max_in_flight,
            threads,
        }
    }

    /// Queues lines for parsing; blocks when the workers are busy (backpressure on the reader).
    pub fn submit(&mut self, template: Line, mode: ExpectMode, lines: LineBatch) {
        let seq = self.submitted;
        self.submitted += 1;
        if let Some(tx) = &self.input {
            // A send only fails if every worker died, which `next_in_order` then reports as the end.
            let _ = tx.send(Batch { seq, template, mode, lines });
        }
    }

    /// Batches submitted but not yet returned by [`ParallelParser::next_in_order`].
    pub fn in_flight(&self) -> u64 {
        self.submitted - self.next
    }

    /// Whether the caller should take results (`next_in_order`) before submitting more.
    pub fn is_saturated(&self) -> bool {
        self.in_flight() > self.max_in_flight
    }

    /// The next batch's results in submission order, waiting for it; `None` when everything submitted was returned.
    pub fn next_in_order(&mut self) -> Option<ParsedBatch> {
        if self.next == self.submitted {
            return None;
        }
        loop {
            if let Some(out) = self.pending.remove(&self.next) {
                self.next += 1;
                return Some(out);
            }
            if let Ok((seq, out)) = self.output.try_recv() {
                self.pending.insert(seq, out);
                continue;
            }
            // Not ready: parse a queued batch here rather than wait. A thread holding the lock is in `recv` on an
            // empty queue or about to take the front batch, so giving up on a busy lock loses nothing.
            let taken = self.queue.try_lock().ok().and_then(|q| q.try_recv().ok());
            if let Some(batch) = taken {
                let out = parse_batch(&self.pipeline, batch.template, batch.mode, &batch.lines);
                self.pending.insert(batch.seq, out);
                continue;
            }
            // Everything in flight is on a thread: wait for it.
            match self.output.recv() {
                Ok((seq, out)) => {
                    self.pending.insert(seq, out);
                }
                Err(_) => return None,
            }
        }
    }
}

impl Drop for ParallelParser {
    fn drop(&mut self) {
        self.input = None;
        // Unblock workers waiting to send, then wait for them.
        while self.output.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            while !t.is_finished() {
                while self.output.try_recv().is_ok() {}
                std::thread::yield_now();
            }
            let _ = t.join();
        }
    }
}

/// Parses one batch (also what a single-threaded caller uses).
pub fn parse_batch(pipeline: &Pipeline, template: Line, mode: ExpectMode, lines: &LineBatch) -> ParsedBatch {
    // A fresh origin for this batch: each line's clone then bumps a count on a cache line of its own instead of one
    // that every parsing thread and the pouring thread (which drops the events) fight over.
    let template = Line { origin: Arc::new((*template.origin).clone()), ..template };
    let mut out = ParsedBatch::default();
    for raw in lines.iter() {
        let line = Line { raw: raw.to_owned(), ..template.clone() };
        match pipeline.parse(Event::from_line(line, mode), None) {
            ParseOutcome::Parsed(evt) => out.events.push(evt),
            ParseOutcome::Unparsed(_) => out.unparsed += 1,
            ParseOutcome::Whitelisted(_) => out.whitelisted += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_batch_gives_back_its_lines_in_order() {
        let mut b = LineBatch::with_capacity(2);
        assert!(b.is_empty());
        for l in ["first line", "", "ünïcode third", "4"] {
            b.push(l);
        }
        assert_eq!(b.len(), 4);
        assert_eq!(b.iter().collect::<Vec<_>>(), ["first line", "", "ünïcode third", "4"]);
    }
}
