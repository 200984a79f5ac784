//! What a parser node changed in an event: the fields an author writes to (Parsed, Meta, Enriched, Unmarshaled
//! leaves, the time fields, the whitelist verdict), compared before and after the node.

use serde::Serialize;

use crate::event::{Event, FieldMap};

/// One field that a node set, changed or removed. Unmarshaled leaves are named by their path
/// (`Unmarshaled.grafana.msg`) and their values are JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// The changes from `before` to `after`, in a stable order: maps by key, then the other fields.
pub fn diff(before: &Event, after: &Event) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, a, b) in [
        ("Parsed", &before.parsed, &after.parsed),
        ("Meta", &before.meta, &after.meta),
        ("Enriched", &before.enriched, &after.enriched),
    ] {
        map_diff(name, a, b, &mut out);
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (k, v) in before.unmarshaled() {
        leaves(format!("Unmarshaled.{k}"), v, &mut a);
    }
    for (k, v) in after.unmarshaled() {
        leaves(format!("Unmarshaled.{k}"), v, &mut b);
    }
    a.sort();
    b.sort();
    sorted_diff(a, b, &mut out);
    for (field, x, y) in [
        ("StrTime", before.str_time.as_str(), after.str_time.as_str()),
        ("StrTimeFormat", before.str_time_format(), after.str_time_format()),
        ("MarshaledTime", before.marshaled_time.as_str(), after.marshaled_time.as_str()),
        ("WhitelistReason", before.whitelist_reason(), after.whitelist_reason()),
    ] {
        if x != y {
            let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
            out.push(change(field.to_string(), text(x), text(y)));
        }
    }
    if before.whitelisted != after.whitelisted {
        out.push(change(
            "Whitelisted".into(),
            Some(before.whitelisted.to_string()),
            Some(after.whitelisted.to_string()),
        ));
    }
    out
}

fn change(field: String, before: Option<String>, after: Option<String>) -> Change {
    Change { field, before, after }
}

fn map_diff(name: &str, a: &FieldMap, b: &FieldMap, out: &mut Vec<Change>) {
    let a: Vec<(String, String)> = a.iter().map(|(k, v)| (format!("{name}.{k}"), v.to_string())).collect();
    let b: Vec<(String, String)> = b.iter().map(|(k, v)| (format!("{name}.{k}"), v.to_string())).collect();
    sorted_diff(a, b, out);
}

/// Merges two key-sorted lists into changes.
fn sorted_diff(a: Vec<(String, String)>, b: Vec<(String, String)>, out: &mut Vec<Change>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                if va != vb {
                    out.push(change(ka.clone(), Some(va.clone()), Some(vb.clone())));
                }
                i += 1;
                j += 1;
            }
            (Some((ka, va)), Some((kb, _))) if ka < kb => {
                out.push(change(ka.clone(), Some(va.clone()), None));
                i += 1;
            }
            (Some((ka, va)), None) => {
                out.push(change(ka.clone(), Some(va.clone()), None));
                i += 1;
            }
            (_, Some((kb, vb))) => {
                out.push(change(kb.clone(), None, Some(vb.clone())));
                j += 1;
            }
            (None, None) => break,
        }
    }
}

/// Leaves of a JSON tree with their dotted paths (objects walked, anything else one leaf as JSON text), sorted.
fn leaves(path: String, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(format!("{path}.{k}"), v, out);
            }
        }
        other => out.push((path, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_set_changed_removed_and_nested_fields() {
        let mut a = Event::default();
        a.parsed.insert("program", "sshd");
        a.parsed.insert("gone", "x");
        a.meta.insert("log_type", "old");
        let mut b = a.clone();
        b.parsed.remove("gone");
        b.parsed.insert("user", "root");
        b.meta.insert("log_type", "ssh_failed-auth");
        b.unmarshaled_mut().insert("j".into(), serde_json::json!({"a": {"b": 1}, "c": "d"}));
        b.str_time = "Feb 12 14:10:21".into();
        b.whitelisted = true;
        let d = diff(&a, &b);
        let got: Vec<(&str, Option<&str>, Option<&str>)> =
            d.iter().map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("Parsed.gone", Some("x"), None),
                ("Parsed.user", None, Some("root")),
                ("Meta.log_type", Some("old"), Some("ssh_failed-auth")),
                ("Unmarshaled.j.a.b", None, Some("1")),
                ("Unmarshaled.j.c", None, Some("\"d\"")),
                ("StrTime", None, Some("Feb 12 14:10:21")),
                ("Whitelisted", Some("false"), Some("true")),
            ]
        );
        assert!(diff(&b, &b).is_empty());
    }
}
