//! The pipeline: a compiled, immutable set of parser stages, scenarios and postoverflow stages ([`Pipeline`]), and
//! the stateful engine that moves events through it ([`Engine`]).
//!
//! Parsing is a pure function of the pipeline (`&self`, thread-safe), so it can run on several workers; pouring
//! into buckets is sequential in the engine, which keeps alerts deterministic. Overflows go through the
//! postoverflow stages; whitelisted ones are dropped, `reprocess` ones are poured back into the scenarios.

pub mod build;
pub mod parallel;

use std::path::PathBuf;
use std::sync::Arc;

use crate::event::{Event, EventType};
use crate::expr::Services;
use crate::parser::enrich::{Clock, Enrichers};
use crate::parser::runtime::{ParserCounters, Runtime};
use crate::parser::stages::{Stages, Tracer};
use crate::scenario::compile::Scenario;
use crate::scenario::manager::{Buckets, PourReport};
use crate::scenario::prefilter::PrefilterTables;

pub use build::{BuildOptions, Selection, build, build_all};

/// A compiled pipeline.
pub struct Pipeline {
    pub services: Arc<Services>,
    pub parsers: Stages,
    pub postoverflows: Stages,
    pub scenarios: Arc<Vec<Scenario>>,
    /// The scenarios' prefilter automata, built with them (on the thread that compiles them).
    pub prefilter: Arc<PrefilterTables>,
    pub enrichers: Enrichers,
    pub clock: Box<dyn Clock>,
    pub counters: ParserCounters,
    /// Non-fatal problems found while building, with their positions.
    pub warnings: Vec<crate::config::yaml::ConfigError>,
    pub parser_files: Vec<PathBuf>,
    pub scenario_files: Vec<PathBuf>,
}

impl Pipeline {
    /// Empty buckets for this pipeline's scenarios.
    pub fn buckets(&self) -> Buckets {
        Buckets::with_prefilter(Arc::clone(&self.scenarios), Arc::clone(&self.prefilter), Arc::clone(&self.services))
    }

    fn runtime(&self) -> Runtime<'_> {
        Runtime { services: &self.services, enrichers: &self.enrichers, clock: &*self.clock, counters: &self.counters }
    }

    /// Runs a log event through the parser stages. `Some(event)` when it parsed and is not whitelisted, i.e. when
    /// it should be poured into the scenarios.
    pub fn parse(&self, mut evt: Event, tracer: Option<&mut (dyn Tracer + '_)>) -> ParseOutcome {
        if evt.line.module().is_empty() {
            // CrowdSec refuses events without a datasource module.
            return ParseOutcome::Unparsed(evt);
        }
        if !self.parsers.parse(&mut evt, &self.runtime(), tracer) {
            return ParseOutcome::Unparsed(evt);
        }
        if evt.whitelisted {
            return ParseOutcome::Whitelisted(evt);
        }
        ParseOutcome::Parsed(evt)
    }

    /// Whether lines can be parsed in any order with the same results: false when a node writes to a stash
    /// (a later line may read it back with `GetFromStash`). Parallel parsing needs this.
    pub fn parse_is_order_independent(&self) -> bool {
        let mut independent = true;
        self.parsers.for_each_node(|_, n| independent &= n.stash.is_empty());
        independent
    }

    /// Runs an overflow event through the postoverflow stages (their result is ignored; only the whitelist
    /// decision matters).
    pub fn postoverflow(&self, evt: &mut Event, tracer: Option<&mut (dyn Tracer + '_)>) {
        if !self.postoverflows.is_empty() {
            self.postoverflows.parse(evt, &self.runtime(), tracer);
        }
    }
}

/// What parsing did with a line.
pub enum ParseOutcome {
    Parsed(Event),
    Unparsed(Event),
    Whitelisted(Event),
}

/// Counters of a run, for the summary and metrics.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    pub lines: u64,
    pub parsed: u64,
    pub unparsed: u64,
    pub whitelisted: u64,
    /// Parsed events poured into at least one scenario.
    pub poured: u64,
    pub overflows: u64,
    pub overflows_whitelisted: u64,
}

/// Optional observers of a run: `dump` receives every overflow after postoverflows (whitelisted ones included:
/// what hubtest's bucket dump holds); `tracer` sees the postoverflow nodes.
#[derive(Default)]
pub struct Hooks<'a> {
    pub dump: Option<&'a mut Vec<Event>>,
    pub tracer: Option<&'a mut dyn Tracer>,
}

/// The stateful side: buckets and counters.
pub struct Engine {
    pipeline: Arc<Pipeline>,
    pub buckets: Buckets,
    pub stats: EngineStats,
}

impl Engine {
    pub fn new(pipeline: Arc<Pipeline>) -> Engine {
        let buckets = pipeline.buckets();
        Engine { pipeline, buckets, stats: EngineStats::default() }
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// Switches to a newly compiled pipeline between two events: the next event runs on `new`. Buckets of
    /// scenarios that did not change keep their state; returns how many live instances were kept.
    pub fn swap_pipeline(&mut self, new: Arc<Pipeline>) -> usize {
        let mut buckets = new.buckets();
        let old = std::mem::replace(&mut self.buckets, Buckets::new(Arc::new(Vec::new()), Arc::clone(&new.services)));
        let kept = old.transfer_to(&mut buckets);
        self.buckets = buckets;
        self.pipeline = new;
        kept
    }

    /// Parses and pours one line's event; alerts to send are appended to `alerts`.
    pub fn process(&mut self, evt: Event, now: crate::event::Timestamp, alerts: &mut Vec<Event>) {
        let outcome = self.pipeline.parse(evt, None);
        self.pour_outcome(outcome, now, alerts, Hooks::default());
    }

    /// Counts lines a parsing worker did not return because nothing pours them (see [`parallel::ParsedBatch`]).
    pub fn count_not_poured(&mut self, unparsed: u64, whitelisted: u64) {
        self.stats.lines += unparsed + whitelisted;
        self.stats.unparsed += unparsed;
        self.stats.parsed += whitelisted;
        self.stats.whitelisted += whitelisted;
    }

    /// Pours an already parsed event (from a parsing worker).
    pub fn pour_outcome(
        &mut self,
        outcome: ParseOutcome,
        now: crate::event::Timestamp,
        alerts: &mut Vec<Event>,
        hooks: Hooks,
    ) -> Option<PourReport> {
        self.stats.lines += 1;
        match outcome {
            ParseOutcome::Unparsed(_) => {
                self.stats.unparsed += 1;
                None
            }
            ParseOutcome::Whitelisted(_) => {
                self.stats.parsed += 1;
                self.stats.whitelisted += 1;
                None
            }
            ParseOutcome::Parsed(evt) => {
                self.stats.parsed += 1;
                let mut overflows = Vec::new();
                let report = self.buckets.pour(evt, now, &mut overflows);
                if !report.poured.is_empty() {
                    self.stats.poured += 1;
                }
                self.handle_overflows(overflows, now, alerts, hooks);
                Some(report)
            }
        }
    }

    /// Time passes with no event (live mode): expired buckets go, counters report.
    pub fn tick(&mut self, now: crate::event::Timestamp, alerts: &mut Vec<Event>) {
        let mut overflows = Vec::new();
        self.buckets.tick(now, &mut overflows);
        self.handle_overflows(overflows, now, alerts, Hooks::default());
    }

    /// Postoverflows, whitelists and reprocessing for freshly emitted overflows.
    pub fn handle_overflows(
        &mut self,
        overflows: Vec<Event>,
        now: crate::event::Timestamp,
        alerts: &mut Vec<Event>,
        mut hooks: Hooks,
    ) {
        let mut queue = std::collections::VecDeque::from(overflows);
        while let Some(mut ovf) = queue.pop_front() {
            debug_assert_eq!(ovf.kind, EventType::Overflow);
            self.stats.overflows += 1;
            self.pipeline.postoverflow(&mut ovf, hooks.tracer.as_deref_mut());
            if let Some(d) = hooks.dump.as_deref_mut() {
                d.push(ovf.clone());
            }
            let (whitelisted, reprocess) =
                ovf.overflow().map(|o| (o.whitelisted, o.reprocess)).unwrap_or((false, false));
            if whitelisted {
                self.stats.overflows_whitelisted += 1;
                continue;
            }
            if reprocess {
                let mut more = Vec::new();
                self.buckets.reprocess(ovf.clone(), now, &mut more);
                queue.extend(more);
            }
            alerts.push(ovf);
        }
    }
}
