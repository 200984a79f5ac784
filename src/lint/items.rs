//! Walking item specs (as read from YAML, with positions) for the checks the compilers do not make: every
//! expression of a node or scenario, the Meta keys a node's statics set, whether a node can move an event to the
//! next stage.

use crate::config::yaml::Expr;
use crate::parser::spec::{NodeSpec, StaticSpec};
use crate::parser::statics::Field;
use crate::scenario::spec::ScenarioSpec;

/// An expression of an item and the key it sits under (for messages).
pub struct Site<'a> {
    pub expr: &'a Expr,
    pub role: &'static str,
}

fn statics_exprs<'a>(list: &'a Option<Vec<StaticSpec>>, out: &mut Vec<Site<'a>>) {
    for st in list.iter().flatten() {
        if let Some(e) = &st.expression {
            out.push(Site { expr: e, role: "statics expression" });
        }
    }
}

/// Every expression of a node and its children.
pub fn node_exprs<'a>(n: &'a NodeSpec, out: &mut Vec<Site<'a>>) {
    if let Some(e) = &n.filter {
        out.push(Site { expr: e, role: "filter" });
    }
    if let Some(g) = &n.grok {
        if let Some(e) = &g.expression {
            out.push(Site { expr: e, role: "grok expression" });
        }
        statics_exprs(&g.statics, out);
    }
    statics_exprs(&n.statics, out);
    for w in n.whitelist.iter().flat_map(|w| w.expression.iter().flatten()) {
        out.push(Site { expr: w, role: "whitelist expression" });
    }
    for s in n.stash.iter().flatten() {
        for e in s.key.iter().chain(s.value.iter()) {
            out.push(Site { expr: e, role: "stash" });
        }
    }
    for c in n.nodes.iter().flatten() {
        node_exprs(&c.value, out);
    }
}

/// Every expression of a scenario evaluated against events or buckets.
pub fn scenario_exprs<'a>(s: &'a ScenarioSpec, out: &mut Vec<Site<'a>>) {
    for (e, role) in [
        (&s.filter, "filter"),
        (&s.groupby, "groupby"),
        (&s.distinct, "distinct"),
        (&s.cancel_on, "cancel_on"),
        (&s.overflow_filter, "overflow_filter"),
        (&s.condition, "condition"),
    ] {
        if let Some(e) = e {
            out.push(Site { expr: e, role });
        }
    }
    if let Some(e) = s.scope.as_ref().and_then(|sc| sc.value.expression.as_ref()) {
        out.push(Site { expr: e, role: "scope expression" });
    }
    for c in s.bayesian_conditions.iter().flatten() {
        if let Some(e) = &c.condition {
            out.push(Site { expr: e, role: "bayesian condition" });
        }
    }
    for f in s.audit.iter().flat_map(|a| a.fields.iter()) {
        out.push(Site { expr: &f.expression, role: "audit field" });
    }
}

/// Meta keys the statics of a node (and its children) write: `meta: k` and `target: evt.Meta.k`.
pub fn node_meta_writes(n: &NodeSpec, out: &mut impl Extend<String>) {
    let statics = n.statics.iter().flatten().chain(n.grok.iter().flat_map(|g| g.statics.iter().flatten()));
    for st in statics {
        if let Some(k) = st.meta.as_deref().filter(|k| !k.is_empty()) {
            out.extend([k.to_string()]);
        } else if let Some(Ok(Field::Meta(k))) = st.target.as_deref().map(Field::parse) {
            out.extend([k.to_string()]);
        }
    }
    for c in n.nodes.iter().flatten() {
        node_meta_writes(&c.value, out);
    }
}

/// Whether the node or one of its children has `onsuccess: next_stage` (a child's promotion moves the event too).
pub fn can_leave_stage(n: &NodeSpec) -> bool {
    n.onsuccess.as_deref().map(str::trim) == Some("next_stage")
        || n.nodes.iter().flatten().any(|c| can_leave_stage(&c.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(yaml: &str) -> NodeSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn walks_children_and_statics() {
        let n = node(
            "name: a\nfilter: x == 1\nstatics:\n  - meta: k1\n    value: v\n  - target: evt.Meta.k2\n    expression: yv\nnodes:\n  - grok:\n      pattern: a\n      apply_on: m\n      statics:\n        - meta: k3\n          expression: zv\n    onsuccess: next_stage\n",
        );
        let mut sites = Vec::new();
        node_exprs(&n, &mut sites);
        let srcs: Vec<&str> = sites.iter().map(|s| s.expr.src.as_str()).collect();
        assert_eq!(srcs, ["x == 1", "yv", "zv"]);
        let mut keys: Vec<String> = Vec::new();
        node_meta_writes(&n, &mut keys);
        assert_eq!(keys, ["k1", "k2", "k3"]);
        assert!(can_leave_stage(&n));
        assert!(!can_leave_stage(&node("name: b\nstatics:\n  - meta: a\n    value: b\n")));
    }
}
