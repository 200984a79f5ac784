//! One compiled parser node and CrowdSec's node algorithm (spec §3.1–§3.2), step for step:
//! filter → whitelist → grok (+ grok statics) → stash → children → node statics → stage promotion.
//!
//! The quirks are deliberate: children run even when the node's own grok failed; a node whose grok matched never
//! fails because of its children; a grok-less (or grok-failed) node takes the result of its children (the first
//! success under `next_stage`, the last child under `continue`); a failed node's partial writes are not rolled back.
//! No unit test isolates them (the unit tests in `src/parser/` cover statics, whitelists and enrichers): they are
//! tested end to end by the hub test cases, CrowdSec's corpus in `tests/hubtest_corpus.rs` (grok-less parents such
//! as `crowdsecurity/syslog-logs`, grok nodes with children such as `nginx-logs`) and our hub's in
//! `tests/hub_cases.rs`.

use std::sync::Arc;

use compact_str::CompactString;

use crate::event::{Event, FieldKey, FieldMap};
use crate::expr::Program;
use crate::grok::{Candidates, CompiledGrok, GrokSet};
use crate::metrics::striped::Striped;

use super::runtime::{ParserCounters, Runtime};
use super::statics::{self, Static};
use super::whitelist::Whitelist;

/// What a node did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    /// A static produced a value of an unsupported type: CrowdSec drops the line.
    Error,
}

/// Where a grok reads its input.
#[derive(Clone, Debug)]
pub enum GrokSource {
    /// `apply_on: Line.Raw`
    Raw,
    /// `apply_on: <key>`: `evt.Parsed[key]`; a missing key fails the grok.
    Parsed(FieldKey),
    /// `expression: ...`
    Expr(Program),
}

impl GrokSource {
    /// The input text, when it can be borrowed from the event (not for expressions).
    fn borrow<'e>(&self, evt: &'e Event) -> Option<&'e str> {
        match self {
            GrokSource::Raw => Some(&evt.line.raw),
            GrokSource::Parsed(k) => evt.parsed.get(k),
            GrokSource::Expr(_) => None,
        }
    }

    fn same_input(&self, other: &GrokSource) -> bool {
        match (self, other) {
            (GrokSource::Raw, GrokSource::Raw) => true,
            (GrokSource::Parsed(a), GrokSource::Parsed(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug)]
pub struct GrokStep {
    pub source: GrokSource,
    pub pattern: Arc<CompiledGrok>,
    pub statics: Vec<Static>,
}

/// A `stash:` entry: remember `value` under `key` in the named cache.
#[derive(Debug)]
pub struct StashStep {
    pub cache: String,
    pub key: Program,
    pub value: Program,
}

/// Hit counters of a named node (`cs_node_hits_total` and friends), striped per parsing thread
/// ([`Striped`]: every worker bumps them on every event).
#[derive(Debug, Default)]
pub struct NodeStats(Striped<3>);

impl NodeStats {
    const HITS: usize = 0;
    const OK: usize = 1;
    const KO: usize = 2;

    /// Events that entered the node (passed its filter).
    pub fn hits(&self) -> u64 {
        self.0.get(Self::HITS)
    }

    /// Events the node succeeded on.
    pub fn ok(&self) -> u64 {
        self.0.get(Self::OK)
    }

    /// Events the node failed on.
    pub fn ko(&self) -> u64 {
        self.0.get(Self::KO)
    }
}

/// Children whose groks read the same input: one regex-set pass tells which of them can match at all, so the
/// engine runs captures only for those. Exact: a child the set rules out would have failed its grok anyway.
#[derive(Debug)]
pub struct ChildPrefilter {
    pub source: GrokSource,
    pub set: GrokSet,
    /// For each child, its index in `set`, if its grok takes part.
    pub member: Vec<Option<usize>>,
}

#[derive(Debug)]
pub struct Node {
    /// Name used in dumps and metrics (`child-<parent>` for unnamed children).
    pub name: Arc<str>,
    /// `file:line` of the node, for diagnostics.
    pub origin: Arc<str>,
    pub debug: bool,
    pub filter: Option<Program>,
    pub next_stage: bool,
    pub whitelist: Option<Whitelist>,
    pub grok: Option<GrokStep>,
    pub stash: Vec<StashStep>,
    pub children: Vec<Node>,
    pub prefilter: Option<ChildPrefilter>,
    pub statics: Vec<Static>,
    /// `audit:` (postoverflows): the row this node makes of each overflow it succeeds on.
    pub audit: Option<crate::scenario::compile::AuditSchema>,
    pub stats: NodeStats,
}

/// What the parent learnt about this node's grok from the prefilter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GrokHint {
    Unknown,
    CannotMatch,
    /// The regex matches the input (the prefilter set found it): the grok can skip its own existence check.
    Matches,
}

/// The stages of the pipeline the node belongs to, for `next_stage` promotion.
pub struct StageNames<'a>(pub &'a [FieldKey]);

impl StageNames<'_> {
    /// Moves `evt.Stage` to the stage after the current one, unless it is the last.
    pub fn promote(&self, evt: &mut Event) {
        if let Some(i) = self.0.iter().position(|s| *s == evt.stage)
            && let Some(next) = self.0.get(i + 1)
        {
            evt.stage = next.clone();
        }
    }
}

impl Node {
    pub fn process(&self, evt: &mut Event, rt: &Runtime, stages: &StageNames) -> Outcome {
        self.process_hinted(evt, rt, stages, GrokHint::Unknown)
    }

    fn process_hinted(&self, evt: &mut Event, rt: &Runtime, stages: &StageNames, mut hint: GrokHint) -> Outcome {
        // What the event held before, so a debug trace can say what the node set. Only for `debug: true` nodes:
        // three map copies per event are fine when someone is watching one node, not on every node.
        let before = self.debug.then(|| FieldsBefore::of(evt));
        // The parent's prefilter saw `Parsed` as it is now; a filter or whitelist calling `evt.SetParsed` may change
        // the grok's input, and then the hint no longer holds.
        let parsed_generation = evt.parsed.generation();
        // 1. filter
        if let Some(f) = &self.filter {
            match rt.eval_bool(f, evt) {
                Ok(true) => {}
                Ok(false) => {
                    self.trace(evt, "filter false");
                    return Outcome::Fail;
                }
                Err(e) => {
                    ParserCounters::bump(&rt.counters.filter_errors);
                    crate::warn_limited!(node = %self.name, origin = %self.origin, "filter failed: {e}");
                    return Outcome::Fail;
                }
            }
        }
        self.stats.0.bump(NodeStats::HITS);

        // 3. whitelist
        let whitelisted = match &self.whitelist {
            Some(w) => w.check(evt, rt),
            None => false,
        };

        // 4. grok
        if evt.parsed.generation() != parsed_generation {
            hint = GrokHint::Unknown;
        }
        let (mut ok, grok_ok) = match &self.grok {
            None => (true, false),
            Some(g) => {
                if hint == GrokHint::CannotMatch {
                    self.trace(evt, "grok ruled out by prefilter");
                    (false, false)
                } else if self.run_grok(g, evt, rt, hint == GrokHint::Matches) {
                    if let Err(e) = statics::apply_all(&g.statics, evt, rt) {
                        return self.error(rt, &e.0);
                    }
                    (true, true)
                } else {
                    (false, false)
                }
            }
        };

        // 5. stash
        if grok_ok || self.grok.is_none() {
            self.run_stash(evt, rt);
        }

        // 6. children
        let mut cache: Option<(InputStamp, Candidates)> = None;
        for (i, child) in self.children.iter().enumerate() {
            let hint = self.child_hint(i, evt, &mut cache);
            match child.process_hinted(evt, rt, stages, hint) {
                Outcome::Ok => {
                    ok = true;
                    if self.next_stage {
                        break;
                    }
                }
                Outcome::Fail => {
                    if !grok_ok {
                        ok = false;
                    }
                }
                Outcome::Error => return Outcome::Error,
            }
        }

        // 7.
        if !ok {
            self.stats.0.bump(NodeStats::KO);
            return Outcome::Fail;
        }
        self.stats.0.bump(NodeStats::OK);

        // 9. statics: a whitelist node applies its statics only to whitelisted events.
        if !self.statics.is_empty()
            && (whitelisted || self.whitelist.is_none())
            && let Err(e) = statics::apply_all(&self.statics, evt, rt)
        {
            return self.error(rt, &e.0);
        }

        // Correlator: an audit schema makes the overflow an audit event (after the statics, which it may read).
        if let Some(schema) = &self.audit
            && evt.overflow().is_some()
        {
            let record = self.audit_record(schema, evt, rt);
            if let Some(ovf) = evt.overflow_mut() {
                ovf.alert.audit = Some(record);
            }
        }

        // 10. stage promotion
        if self.next_stage {
            stages.promote(evt);
        }
        if let Some(before) = &before {
            let set = before.changes(evt);
            crate::item_debug!(node = %self.name, origin = %self.origin, stage = %evt.stage, set = %set, "success");
        }
        Outcome::Ok
    }

    /// One audit row: each field evaluated over the overflow event; a field that fails is empty (counted, logged).
    fn audit_record(
        &self,
        schema: &crate::scenario::compile::AuditSchema,
        evt: &Event,
        rt: &Runtime,
    ) -> crate::event::AuditRecord {
        schema.record(
            || crate::expr::Scope::new(rt.services).with_evt(evt),
            |field, e| {
                ParserCounters::bump(&rt.counters.static_errors);
                crate::warn_limited!(node = %self.name, origin = %self.origin, field = %field, "audit field failed: {e}");
            },
        )
    }

    fn error(&self, rt: &Runtime, msg: &str) -> Outcome {
        ParserCounters::bump(&rt.counters.node_errors);
        crate::warn_limited!(node = %self.name, origin = %self.origin, "node error, event dropped: {msg}");
        Outcome::Error
    }

    /// A debug trace of this node (`debug: true`), shown at the default log level (see `crate::itemdebug`).
    fn trace(&self, evt: &Event, what: &str) {
        if self.debug {
            crate::item_debug!(node = %self.name, origin = %self.origin, stage = %evt.stage, "{what}");
        }
    }

    /// Runs the grok; on a match writes every capture into `Parsed` (unmatched groups as `""`). `known`: the
    /// prefilter found that the regex matches the input.
    fn run_grok(&self, g: &GrokStep, evt: &mut Event, rt: &Runtime, known: bool) -> bool {
        let matched = match &g.source {
            GrokSource::Expr(p) => match rt.eval_text(p, evt) {
                Ok(text) => write_captures(&g.pattern, &text, &mut evt.parsed, known),
                Err(e) => {
                    ParserCounters::bump(&rt.counters.grok_source_errors);
                    self.trace(evt, &format!("grok expression failed: {e}"));
                    false
                }
            },
            // Line.Raw and Parsed are different fields: captures go straight into Parsed.
            GrokSource::Raw => write_captures(&g.pattern, &evt.line.raw, &mut evt.parsed, known),
            GrokSource::Parsed(k) => {
                // The input lives in Parsed itself: collect first (values are inline CompactStrings, no heap
                // allocation for short ones), then write.
                let caps = evt.parsed.get(k).and_then(|text| collect_captures(&g.pattern, text, known));
                match caps {
                    Some(caps) => {
                        evt.parsed.merge_sorted(caps.into_iter());
                        true
                    }
                    None => false,
                }
            }
        };
        if !matched {
            self.trace(evt, "grok did not match");
        }
        matched
    }

    fn run_stash(&self, evt: &mut Event, rt: &Runtime) {
        for s in &self.stash {
            let key = rt.eval_text(&s.key, evt);
            let value = rt.eval_text(&s.value, evt);
            match (key, value) {
                (Ok(k), Ok(v)) => {
                    let now = evt.time.unwrap_or_else(|| rt.services.now());
                    if let Err(e) = rt.services.stash.set(&s.cache, &k, &v, now) {
                        crate::warn_limited!(node = %self.name, "stash {}: {e}", s.cache);
                    }
                }
                (Err(e), _) | (_, Err(e)) => tracing::debug!(node = %self.name, "stash {} skipped: {e}", s.cache),
            }
        }
    }

    /// The prefilter's verdict for child `i`, computing the set matches once per input text.
    fn child_hint(&self, i: usize, evt: &Event, cache: &mut Option<(InputStamp, Candidates)>) -> GrokHint {
        let Some(pf) = &self.prefilter else { return GrokHint::Unknown };
        let Some(member) = pf.member.get(i).copied().flatten() else { return GrokHint::Unknown };
        let Some(input) = pf.source.borrow(evt) else { return GrokHint::Unknown };
        // Earlier children may have rewritten the input (a capture named like it): recompute when it changed.
        let stamp = InputStamp::of(&pf.source, evt, input);
        if cache.as_ref().is_none_or(|(s, _)| *s != stamp) {
            *cache = Some((stamp, pf.set.candidates(input)));
        }
        match cache {
            Some((_, hits)) if !hits.contains(member) => GrokHint::CannotMatch,
            Some((_, hits)) if hits.is_exact() => GrokHint::Matches,
            _ => GrokHint::Unknown,
        }
    }
}

/// The fields a node may set, as they were before it ran (debug traces only).
struct FieldsBefore {
    parsed: FieldMap,
    enriched: FieldMap,
    meta: FieldMap,
}

impl FieldsBefore {
    fn of(evt: &Event) -> FieldsBefore {
        FieldsBefore { parsed: evt.parsed.clone(), enriched: evt.enriched.clone(), meta: evt.meta.clone() }
    }

    /// `Meta.k=v Parsed.x=y …`: every field the node (or its children) added or changed, values clipped.
    fn changes(&self, evt: &Event) -> String {
        let mut out = Vec::new();
        for (name, old, new) in [
            ("Parsed", &self.parsed, &evt.parsed),
            ("Enriched", &self.enriched, &evt.enriched),
            ("Meta", &self.meta, &evt.meta),
        ] {
            for (k, v) in new.iter() {
                if old.get(k) != Some(v) {
                    out.push(format!("{name}.{k}={}", crate::itemdebug::clip(v, 80)));
                }
            }
        }
        out.sort();
        if out.is_empty() { "(nothing)".to_string() } else { out.join(" ") }
    }
}

/// Identifies the text a prefilter verdict was computed for. For a `Parsed` field, the map's generation: any
/// write to `Parsed` invalidates it, at the cost of one integer compare. `Line.Raw` has no generation; it is
/// compared by content (only a `target: evt.Line.Raw` static can change it).
#[derive(PartialEq)]
enum InputStamp {
    Parsed(u32),
    Text(String),
}

impl InputStamp {
    fn of(source: &GrokSource, evt: &Event, input: &str) -> InputStamp {
        match source {
            GrokSource::Parsed(_) => InputStamp::Parsed(evt.parsed.generation()),
            _ => InputStamp::Text(input.to_string()),
        }
    }
}

/// Runs `pattern` on `text`; on a match, writes every semantic and its value (`""` for groups that did not take
/// part) into `parsed`. A match without any semantic counts as no match (grokky returns an empty map).
fn write_captures(pattern: &CompiledGrok, text: &str, parsed: &mut FieldMap, known: bool) -> bool {
    let Some(caps) = pattern.captures_known(text, known) else { return false };
    if caps.is_empty() {
        return false;
    }
    parsed.merge_sorted(caps.iter_in_key_order().map(|(k, v)| (k.clone(), CompactString::from(&*v))));
    true
}

/// Like [`write_captures`], collecting the values instead (for an input borrowed from `Parsed`), in key order.
fn collect_captures(pattern: &CompiledGrok, text: &str, known: bool) -> Option<Vec<(FieldKey, CompactString)>> {
    let caps = pattern.captures_known(text, known)?;
    if caps.is_empty() {
        return None;
    }
    Some(caps.iter_in_key_order().map(|(k, v)| (k.clone(), CompactString::from(&*v))).collect())
}

/// Builds the children prefilter when at least `min` children grok the same borrowed input.
pub fn build_prefilter(children: &[Node], min: usize) -> Option<ChildPrefilter> {
    let mut source: Option<&GrokSource> = None;
    for c in children {
        if let Some(g) = &c.grok
            && !matches!(g.source, GrokSource::Expr(_))
        {
            source = Some(&g.source);
            break;
        }
    }
    let source = source?;
    let mut member = Vec::with_capacity(children.len());
    let mut patterns: Vec<Arc<CompiledGrok>> = Vec::new();
    for c in children {
        match &c.grok {
            Some(g) if g.source.same_input(source) => {
                member.push(Some(patterns.len()));
                patterns.push(Arc::clone(&g.pattern));
            }
            _ => member.push(None),
        }
    }
    if patterns.len() < min {
        return None;
    }
    let set = GrokSet::new(patterns.iter().map(|p| (**p).clone()).collect()).ok()?;
    Some(ChildPrefilter { source: source.clone(), set, member })
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::config::yaml::ConfigErrors;
    use crate::expr::{CompileEnv, Services};
    use crate::grok::PatternLibrary;
    use crate::parser::compile::NodeCompiler;
    use crate::parser::enrich::{EnrichConfig, Enrichers, SystemClock};
    use crate::parser::stages::Stages;

    /// Parses `raw` with the node file `yaml`, returning the event and what was logged under the default
    /// `--log-level`.
    fn parse_logged(yaml: &str, raw: &str) -> String {
        parse(yaml, raw).1
    }

    fn parse(yaml: &str, raw: &str) -> (Event, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.yaml");
        std::fs::write(&path, yaml).unwrap();
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services));
        let mut patterns = PatternLibrary::new();
        let (mut errors, mut warnings) = (ConfigErrors::default(), Vec::new());
        let mut c = NodeCompiler {
            env: &env,
            patterns: &mut patterns,
            data_dir: dir.path(),
            errors: &mut errors,
            warnings: &mut warnings,
        };
        let stages = Stages::compile_file(&path, "s01-parse", &mut c).unwrap();
        let enrichers = Enrichers::new(&EnrichConfig::default());
        let counters = ParserCounters::default();
        let rt = Runtime { services: &services, enrichers: &enrichers, clock: &SystemClock, counters: &counters };
        let origin = crate::event::LineOrigin::new("", "file", Default::default());
        let line = crate::event::Line::new(raw, &origin, crate::event::zero_time());
        let mut evt = Event::from_line(line, crate::event::ExpectMode::TimeMachine);
        let logged = crate::itemdebug::tests::logged("warn", || {
            stages.parse(&mut evt, &rt, None);
        });
        (evt, logged)
    }

    /// The children prefilter decides before a child runs its filter; a filter that rewrites the grok's input with
    /// `evt.SetParsed` must not be judged on the old text.
    #[test]
    fn a_filter_rewriting_the_grok_input_voids_the_prefilter_verdict() {
        let yaml = "name: me/parent\nonsuccess: next_stage\ngrok:\n  pattern: '^%{GREEDYDATA:msg}$'\n  apply_on: Line.Raw\n\
                    nodes:\n\
                    \x20 - filter: \"evt.SetParsed('msg', 'user bob')\"\n    grok:\n      pattern: 'user %{WORD:user}'\n      apply_on: msg\n\
                    \x20 - grok:\n      pattern: 'host %{WORD:host}'\n      apply_on: msg\n\
                    \x20 - grok:\n      pattern: 'port %{INT:port}'\n      apply_on: msg\n";
        let (evt, logged) = parse(yaml, "nothing to see");
        assert_eq!(evt.parsed.get("user"), Some("bob"), "{logged}");
        // And the verdicts still hold when nothing rewrites the input.
        let (evt, _) = parse(&yaml.replace("evt.SetParsed('msg', 'user bob')", "true"), "port 22");
        assert_eq!((evt.parsed.get("user"), evt.parsed.get("port")), (None, Some("22")));
    }

    const NODE: &str = "name: me/app\ndebug: true\nonsuccess: next_stage\ngrok:\n  pattern: '^%{IP:source_ip} %{WORD:verb}'\n  apply_on: Line.Raw\nstatics:\n  - meta: source_ip\n    expression: evt.Parsed.source_ip\n";

    #[test]
    fn debug_nodes_trace_at_the_default_level_with_the_fields_they_set() {
        let text = parse_logged(NODE, "1.2.3.4 GET");
        let line = text.lines().find(|l| l.contains("success")).unwrap_or_default();
        assert!(line.contains("correlator::debug") && line.contains("me/app"), "{text}");
        assert!(line.contains("Meta.source_ip=1.2.3.4") && line.contains("Parsed.verb=GET"), "{text}");
        let text = parse_logged(NODE, "not an ip");
        assert!(text.contains("grok did not match"), "{text}");
        // Without the flag, nothing.
        assert!(parse_logged(&NODE.replace("debug: true\n", ""), "1.2.3.4 GET").is_empty());
    }
}
