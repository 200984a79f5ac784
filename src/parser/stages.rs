//! A set of parser stages and CrowdSec's stage loop (spec §3.3): the event walks the stages in order; to leave a
//! non-final stage some node must succeed with `onsuccess: next_stage`; otherwise the event is dropped.
//!
//! The same type runs postoverflows (on overflow events, with their own stages), where the caller ignores the
//! result and only looks at `Overflow.Whitelisted`.

use std::path::Path;
use std::sync::Arc;

use crate::config::yaml::ConfigErrors;
use crate::event::{Event, FieldKey, field_key};
use crate::hub::ItemFile;
use crate::parser::spec::read_node_file_each;

use super::compile::NodeCompiler;
use super::node::{Node, Outcome, StageNames};
use super::runtime::Runtime;

/// One stage: its name and its top-level nodes in load order.
#[derive(Debug)]
pub struct Stage {
    pub name: Arc<str>,
    pub nodes: Vec<Node>,
}

/// Receives a copy of the event after every top-level node: what `hubtest` dumps and `explain` shows.
pub trait Tracer {
    fn node_done(&mut self, stage: &str, node: &str, evt: &Event, success: bool);
}

/// The compiled stages of a pipeline.
#[derive(Debug, Default)]
pub struct Stages {
    pub stages: Vec<Stage>,
    /// The stage names, interned: what `evt.Stage` is set to (a two-word copy, no allocation).
    names: Vec<FieldKey>,
}

impl Stages {
    /// Compiles item files (already in CrowdSec's order: stage, then file name). Stages with no node are
    /// dropped, as CrowdSec does.
    pub fn compile(items: &[ItemFile], compiler: &mut NodeCompiler) -> Stages {
        let mut stages: Vec<Stage> = Vec::new();
        for item in items {
            let Some(stage_name) = item.stage.clone() else {
                compiler.errors.push(crate::config::yaml::ConfigError::file(
                    &item.path,
                    "not in a stage directory, so its stage is unknown: put it under …/s00-raw/, …/s01-parse/, \
                     …/s02-enrich/ (parsers) or …/s00-enrich/ (postoverflows)",
                ));
                continue;
            };
            // A broken document is reported; the file's other documents are still compiled, so every problem
            // shows up in one pass.
            let (docs, errors) = read_node_file_each(&item.path);
            compiler.errors.0.extend(errors);
            for doc in &docs {
                if let Some(node) = compiler.compile(&item.path, doc) {
                    match stages.iter_mut().find(|s| *s.name == *stage_name) {
                        Some(s) => s.nodes.push(node),
                        None => stages.push(Stage { name: Arc::from(stage_name.as_str()), nodes: vec![node] }),
                    }
                }
            }
        }
        stages.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<FieldKey> = stages.iter().map(|s| field_key(&s.name)).collect();
        Stages { stages, names }
    }

    /// Compiles one file as its own stage list (tests, `explain --parser FILE`).
    pub fn compile_file(path: &Path, stage: &str, compiler: &mut NodeCompiler) -> Result<Stages, ConfigErrors> {
        let mut item = ItemFile::from_path(crate::hub::ItemKind::Parser, path);
        item.stage = Some(stage.to_string());
        let before = compiler.errors.0.len();
        let s = Stages::compile(&[item], compiler);
        if compiler.errors.0.len() > before { Err(ConfigErrors(compiler.errors.0[before..].to_vec())) } else { Ok(s) }
    }

    pub fn names(&self) -> &[FieldKey] {
        &self.names
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Every node, depth first (metrics, lint).
    pub fn for_each_node(&self, mut f: impl FnMut(&str, &Node)) {
        fn walk(stage: &str, n: &Node, f: &mut dyn FnMut(&str, &Node)) {
            f(stage, n);
            for c in &n.children {
                walk(stage, c, f);
            }
        }
        for s in &self.stages {
            for n in &s.nodes {
                walk(&s.name, n, &mut f);
            }
        }
    }

    /// Runs the event through the stages. Returns `evt.Process`: true when it left the last stage.
    pub fn parse(&self, evt: &mut Event, rt: &Runtime, mut tracer: Option<&mut (dyn Tracer + '_)>) -> bool {
        evt.process = false;
        if self.stages.is_empty() {
            return false;
        }
        if evt.stage.is_empty() {
            evt.stage = self.names[0].clone();
        }
        if evt.time.is_none() {
            // CrowdSec sets "now" here. The time the line was read is that, give or take the queueing, and saves a
            // clock call per line; a line without one (Go's zero time) gets the clock.
            evt.time = Some(if evt.line.time == crate::event::zero_time() { rt.services.now() } else { evt.line.time });
        }
        let names = StageNames(&self.names);
        for (i, stage) in self.stages.iter().enumerate() {
            // An event may be injected at a later stage: earlier ones are skipped.
            let current = self.names.iter().position(|n| **n == *evt.stage);
            if current.is_some_and(|c| c > i) {
                continue;
            }
            if *evt.stage != *stage.name {
                return false;
            }
            let mut stage_ok = false;
            for node in &stage.nodes {
                let r = node.process(evt, rt, &names);
                if let Some(t) = tracer.as_deref_mut() {
                    t.node_done(&stage.name, &node.name, evt, r == Outcome::Ok);
                }
                match r {
                    Outcome::Error => return false,
                    Outcome::Ok => {
                        stage_ok = true;
                        if node.next_stage {
                            break;
                        }
                    }
                    Outcome::Fail => {}
                }
                if *evt.stage != *stage.name {
                    break;
                }
            }
            if !stage_ok {
                return false;
            }
        }
        evt.process = true;
        true
    }
}
