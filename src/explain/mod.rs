//! `explain`: what the pipeline does with each log line, node by node, for people writing parsers and scenarios
//! (CrowdSec's `cscli explain`). For every line: each parser stage and each top-level node offered the event,
//! whether it succeeded (and, when not, why: filter false, grok input missing, no match), the fields it changed;
//! then whether the line left the parsers, which scenarios it was poured into, and the overflows it caused.
//!
//! The lines run through one [`Engine`] in time-machine mode, as `replay` runs them, so a file explains bucket
//! behaviour too. Rendering is in [`render`]; this module only records.

pub mod diff;
pub mod render;

use std::sync::Arc;

use serde::Serialize;

use crate::event::{Event, ExpectMode, FieldMap, Line, LineOrigin};
use crate::expr::{EvalArena, Scope};
use crate::parser::node::{GrokSource, Node};
use crate::parser::runtime::Runtime;
use crate::parser::stages::{Stages, Tracer};
use crate::pipeline::{Engine, Hooks, ParseOutcome, Pipeline};

pub use diff::Change;

/// Everything about one line.
#[derive(Clone, Debug, Serialize)]
pub struct LineExplanation {
    /// 1-based line number in the input.
    pub line: usize,
    pub raw: String,
    pub stages: Vec<StageTrace>,
    /// `parsed`, `unparsed` or `whitelisted`.
    pub result: &'static str,
    /// For an unparsed line: the stage it could not leave.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_at: Option<String>,
    /// The final event's Meta (what scenarios filter and group on).
    pub meta: FieldMap,
    /// Scenarios the event was poured into, in load order.
    pub poured: Vec<String>,
    /// A scenario filter or groupby that failed (CrowdSec then skips the remaining scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pour_error: Option<String>,
    /// Scenarios that did not take the event, with why (only filled on request: it evaluates every filter again).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_poured: Vec<NotPoured>,
    /// Overflows emitted while this line was processed (after postoverflows).
    pub overflows: Vec<OverflowTrace>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageTrace {
    pub stage: String,
    pub nodes: Vec<NodeTrace>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeTrace {
    pub node: String,
    /// `file:line` of the node.
    pub origin: String,
    pub success: bool,
    /// Why a node failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// What the node changed (a failed node may leave partial writes; CrowdSec does not roll them back).
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NotPoured {
    pub scenario: String,
    pub why: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct OverflowTrace {
    pub scenario: String,
    pub sources: Vec<String>,
    pub events_count: i64,
    /// A postoverflow whitelist suppressed the alert.
    pub whitelisted: bool,
    pub summary: String,
}

/// Explains lines one after the other through one engine.
pub struct Explainer {
    pipeline: Arc<Pipeline>,
    engine: Engine,
    origin: Arc<LineOrigin>,
    line: usize,
    /// Also say why each scenario that did not take the event refused it.
    pub scenario_reasons: bool,
}

impl Explainer {
    /// `src` is `evt.Line.Src` (the file's path, or a name for a line given on the command line).
    pub fn new(pipeline: Arc<Pipeline>, labels: FieldMap, src: &str) -> Explainer {
        let engine = Engine::new(Arc::clone(&pipeline));
        Explainer {
            pipeline,
            engine,
            origin: LineOrigin::new(src, "file", Arc::new(labels)),
            line: 0,
            scenario_reasons: false,
        }
    }

    pub fn explain(&mut self, raw: String) -> LineExplanation {
        self.line += 1;
        let now = self.pipeline.services.now();
        let line = Line::new(raw.clone(), &self.origin, now);
        let evt = Event::from_line(line, ExpectMode::TimeMachine);
        let pipeline = Arc::clone(&self.pipeline);
        let mut rec = Recorder::new(&pipeline, &evt);
        let outcome = pipeline.parse(evt, Some(&mut rec));
        let stages = rec.finish();

        let (result, dropped_at, final_evt) = match &outcome {
            ParseOutcome::Parsed(e) => ("parsed", None, e.clone()),
            ParseOutcome::Whitelisted(e) => ("whitelisted", None, e.clone()),
            ParseOutcome::Unparsed(e) => ("unparsed", Some(dropped_stage(&pipeline.parsers, e)), e.clone()),
        };
        let mut dump = Vec::new();
        let mut alerts = Vec::new();
        let report = self.engine.pour_outcome(outcome, now, &mut alerts, Hooks { dump: Some(&mut dump), tracer: None });
        let scenarios = &pipeline.scenarios;
        let (poured, pour_error) = match &report {
            Some(r) => (r.poured.iter().map(|i| scenarios[*i].name.to_string()).collect(), r.error.clone()),
            None => (Vec::new(), None),
        };
        let not_poured = match (&report, self.scenario_reasons) {
            (Some(r), true) => refusals(&pipeline, &final_evt, &r.poured),
            _ => Vec::new(),
        };
        let overflows = dump.iter().filter_map(overflow_trace).collect();
        LineExplanation {
            line: self.line,
            raw,
            stages,
            result,
            dropped_at,
            meta: final_evt.meta.clone(),
            poured,
            pour_error,
            not_poured,
            overflows,
        }
    }
}

/// The stage an unparsed event stayed in: where no node moved it on.
fn dropped_stage(stages: &Stages, evt: &Event) -> String {
    if stages.is_empty() {
        return "(no parser loaded)".to_string();
    }
    if evt.stage.is_empty() { stages.names()[0].to_string() } else { evt.stage.to_string() }
}

fn overflow_trace(evt: &Event) -> Option<OverflowTrace> {
    let o = evt.overflow()?;
    Some(OverflowTrace {
        scenario: o.alert.scenario.clone(),
        sources: o.sources.keys().cloned().collect(),
        events_count: o.alert.events_count,
        whitelisted: o.whitelisted,
        summary: o.alert.summary.clone(),
    })
}

/// Why each scenario not in `poured` refused the event: its filter, evaluated again on a copy.
fn refusals(pipeline: &Pipeline, evt: &Event, poured: &[usize]) -> Vec<NotPoured> {
    let mut out = Vec::new();
    for (i, sc) in pipeline.scenarios.iter().enumerate() {
        if poured.contains(&i) {
            continue;
        }
        let why = match &sc.filter {
            None => "no filter".to_string(),
            Some(f) => {
                let copy = evt.clone();
                let arena = EvalArena::new();
                let mut scope = Scope::new(&pipeline.services).with_evt(&copy).with_arena(&arena);
                match f.eval_bool(&mut scope) {
                    Ok(false) => format!("filter is false: {}", f.source()),
                    Ok(true) => "not reached: an earlier scenario's filter or groupby failed".to_string(),
                    Err(e) => format!("filter failed: {e}"),
                }
            }
        };
        out.push(NotPoured { scenario: sc.name.to_string(), why });
    }
    out
}

/// The tracer: keeps the event as it was before each node to diff against the copy the stage loop hands over.
struct Recorder<'p> {
    pipeline: &'p Pipeline,
    before: Event,
    stages: Vec<StageTrace>,
    /// Index of the next node in the current stage: the stage loop offers nodes in order, from the first,
    /// without skipping any, so the n-th call of a stage is its n-th node.
    next: usize,
}

impl<'p> Recorder<'p> {
    fn new(pipeline: &'p Pipeline, evt: &Event) -> Recorder<'p> {
        Recorder { pipeline, before: evt.clone(), stages: Vec::new(), next: 0 }
    }

    fn finish(self) -> Vec<StageTrace> {
        self.stages
    }

    fn node(&self, stage: &str, index: usize) -> Option<&'p Node> {
        self.pipeline.parsers.stages.iter().find(|s| *s.name == *stage).and_then(|s| s.nodes.get(index))
    }
}

impl Tracer for Recorder<'_> {
    fn node_done(&mut self, stage: &str, name: &str, evt: &Event, success: bool) {
        if self.stages.last().is_none_or(|s| s.stage != stage) {
            self.stages.push(StageTrace { stage: stage.to_string(), nodes: Vec::new() });
            self.next = 0;
        }
        let node = self.node(stage, self.next);
        self.next += 1;
        let why = match (success, node) {
            (false, Some(n)) => Some(why_failed(n, &self.before, self.pipeline)),
            _ => None,
        };
        let changes = diff::diff(&self.before, evt);
        self.before = evt.clone();
        let trace = NodeTrace {
            node: name.to_string(),
            origin: node.map(|n| n.origin.to_string()).unwrap_or_default(),
            success,
            why,
            changes,
        };
        if let Some(s) = self.stages.last_mut() {
            s.nodes.push(trace);
        }
    }
}

/// Why a node failed, found by replaying its first steps on a copy of the event it was given.
fn why_failed(node: &Node, before: &Event, pipeline: &Pipeline) -> String {
    let rt = Runtime {
        services: &pipeline.services,
        enrichers: &pipeline.enrichers,
        clock: &*pipeline.clock,
        counters: &pipeline.counters,
    };
    if let Some(f) = &node.filter {
        let mut copy = before.clone();
        match rt.eval_bool(f, &mut copy) {
            Ok(false) => return format!("filter is false: {}", f.source()),
            Ok(true) => {}
            Err(e) => return format!("filter failed: {e}"),
        }
    }
    let children = !node.children.is_empty();
    match &node.grok {
        Some(g) => {
            let mut copy = before.clone();
            let (input, text) = match &g.source {
                GrokSource::Raw => ("Line.Raw".to_string(), Some(before.line.raw.clone())),
                GrokSource::Parsed(k) => match before.parsed.get(k) {
                    Some(t) => (format!("Parsed.{k}"), Some(t.to_string())),
                    None => return format!("grok input Parsed.{k} is not set"),
                },
                GrokSource::Expr(p) => match rt.eval_text(p, &mut copy) {
                    Ok(t) => (format!("the value of {}", p.source()), Some(t)),
                    Err(e) => return format!("grok expression {} failed: {e}", p.source()),
                },
            };
            let matched = text.as_deref().is_some_and(|t| g.pattern.captures(t).is_some_and(|c| !c.is_empty()));
            match (matched, children) {
                (true, _) => "a static gave a value of an unsupported type: the line is dropped".to_string(),
                (false, true) => format!("neither its grok (on {input}) nor a child node matched"),
                (false, false) => format!("grok did not match {input}"),
            }
        }
        None if children => "no child node succeeded".to_string(),
        None => "a static gave a value of an unsupported type: the line is dropped".to_string(),
    }
}
