//! Alerts as text and JSON, the same everywhere (replay output, console listener, files).
//!
//! The JSON object is flat and stable: `scenario`, `scope`, `value`, `source_ip`, `events_count`, `start_at`,
//! `stop_at`, `severity`, `summary`, `message`, `remediation`, `labels`, `sources`, `events` (each with
//! `timestamp`, `meta` and, when known, `raw`: the log line), and `audit` when the scenario declares an audit
//! schema. Keys are written in a fixed order so that replays diff cleanly.

use serde_json::{Map, Value, json};

use crate::event::{Event, RuntimeAlert};

/// The alert of an overflow event, as one JSON object.
pub fn alert_json(evt: &Event) -> Value {
    let Some(ovf) = evt.overflow() else { return Value::Null };
    runtime_alert_json(ovf)
}

pub fn runtime_alert_json(ovf: &RuntimeAlert) -> Value {
    let a = &ovf.alert;
    let src = a.source.clone().unwrap_or_default();
    let mut m = Map::new();
    m.insert("scenario".into(), json!(a.scenario));
    m.insert("scope".into(), json!(src.scope));
    m.insert("value".into(), json!(src.value));
    m.insert("source_ip".into(), json!(src.ip));
    m.insert("events_count".into(), json!(a.events_count));
    m.insert("start_at".into(), json!(a.start_at));
    m.insert("stop_at".into(), json!(a.stop_at));
    m.insert("severity".into(), json!(a.severity.as_str()));
    m.insert("summary".into(), json!(a.summary));
    m.insert("message".into(), json!(a.message));
    m.insert("remediation".into(), json!(a.remediation));
    m.insert("capacity".into(), json!(a.capacity));
    m.insert("leakspeed".into(), json!(a.leakspeed));
    m.insert("labels".into(), serde_json::to_value(&a.labels).unwrap_or(Value::Null));
    if let Some(row) = &a.audit {
        let cols: Map<String, Value> = row.columns.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        m.insert("audit".into(), json!({"schema": row.schema, "columns": cols}));
    }
    m.insert(
        "sources".into(),
        Value::Array(ovf.sources.values().map(|s| serde_json::to_value(s).unwrap_or(Value::Null)).collect()),
    );
    m.insert(
        "events".into(),
        Value::Array(
            a.events
                .iter()
                .map(|e| {
                    let meta: Map<String, Value> = e.meta.iter().map(|m| (m.key.clone(), json!(m.value))).collect();
                    let mut ev = json!({"timestamp": e.timestamp, "meta": meta});
                    if !e.raw.is_empty() {
                        ev["raw"] = json!(e.raw);
                    }
                    ev
                })
                .collect(),
        ),
    );
    Value::Object(m)
}

/// One line of text: `stop_at severity scenario scope value (N events) summary`.
pub fn alert_text(evt: &Event) -> String {
    let Some(ovf) = evt.overflow() else { return String::new() };
    let a = &ovf.alert;
    format!(
        "{} {:<7} {} {} {} ({} events) {}",
        a.stop_at,
        a.severity.as_str(),
        a.scenario,
        a.scope(),
        a.value(),
        a.events_count,
        a.summary
    )
}
