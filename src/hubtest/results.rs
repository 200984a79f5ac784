//! What a case run produced, shaped like CrowdSec's dumps so that the hub's assert files read it unchanged:
//! `results[stage][node][i].Evt / .Success` for parsers (with the synthetic `success` stage), and the overflows
//! sorted in descending order of `scenario + "@"-joined sources` for scenarios (HUBTEST-FORMAT.md §3–§4).

use std::collections::BTreeMap;

use crate::event::Event;
use crate::expr::Value;
use crate::parser::stages::Tracer;

/// One entry per top-level node per event offered to it, in order: a copy of the event after the node.
#[derive(Debug, Default)]
pub struct ParserDump {
    pub stages: BTreeMap<String, BTreeMap<String, Vec<(Event, bool)>>>,
}

impl Tracer for ParserDump {
    fn node_done(&mut self, stage: &str, node: &str, evt: &Event, success: bool) {
        self.stages
            .entry(stage.to_string())
            .or_default()
            .entry(node.to_string())
            .or_default()
            .push((evt.clone(), success));
    }
}

impl ParserDump {
    /// The `results` variable of `parser.assert`.
    pub fn value(&self) -> Value<'_> {
        let mut stages: Vec<(String, Value<'_>)> = self
            .stages
            .iter()
            .map(|(stage, nodes)| {
                let nodes = nodes.iter().map(|(name, entries)| {
                    let list = entries.iter().enumerate().map(|(i, (evt, ok))| {
                        Value::map([
                            ("Idx".to_string(), Value::Int(i as i64)),
                            ("Evt".to_string(), Value::host(evt)),
                            ("Success".to_string(), Value::Bool(*ok)),
                        ])
                    });
                    (name.clone(), Value::array(list))
                });
                (stage.clone(), Value::map(nodes))
            })
            .collect();
        // cscli's collector always creates a "success" stage holding one empty list.
        if !self.stages.contains_key("success") {
            stages.push(("success".to_string(), Value::map([(String::new(), Value::array([]))])));
        }
        Value::map(stages)
    }
}

/// The sort key cscli uses for overflows: scenario name followed by the source keys joined with `@`.
pub fn overflow_sort_key(evt: &Event) -> String {
    match evt.overflow() {
        Some(o) => {
            let keys: Vec<&str> = o.sources.keys().map(String::as_str).collect();
            format!("{}{}", o.alert.scenario, keys.join("@"))
        }
        None => String::new(),
    }
}

/// Sorts overflows the way `scenario.assert` expects them: descending, with Go's (unstable) `sort.Sort`, so equal
/// keys end up where cscli puts them.
pub fn sort_overflows(list: &mut [Event]) {
    let mut keyed: Vec<(String, Event)> = list.iter().map(|e| (overflow_sort_key(e), e.clone())).collect();
    crate::gocompat::sort::sort(&mut keyed, |a, b| a.0 > b.0);
    for (slot, (_, e)) in list.iter_mut().zip(keyed) {
        *slot = e;
    }
}

/// The `results` variable of `scenario.assert`.
pub fn overflows_value(list: &[Event]) -> Value<'_> {
    Value::array(list.iter().map(|e| Value::host(e)))
}
