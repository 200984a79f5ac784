//! The Correlator event: how an alert (or a notice, such as a counter's report) is presented to listeners, and the
//! audit row, the second kind of listener input.
//!
//! An [`EventView`] is built once per alert by the dispatcher and shared (`Arc`) by every listener that takes it:
//! a summary, an optional longer message, a flat key/value data block, the time, the original records (raw log
//! lines of the kept events), the system that raised it (the scenario, i.e. the hub item) and a severity. It also
//! keeps the alert's full JSON (`output::render::alert_json`) for listeners configured with `format: alert` and
//! for templates.
//!
//! What this module is not: it does not select or deliver anything (see `output::dispatch`).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};

use crate::event::{AuditRecord, Event, Severity};

use super::render;

/// An ordered key/value block: serialised as a JSON object in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Data(pub Vec<(String, Value)>);

impl Data {
    fn put(&mut self, k: &str, v: Value) {
        self.0.push((k.to_string(), v));
    }

    fn put_str(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.put(k, Value::String(v.to_string()));
        }
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One alert or notice, as listeners see it.
#[derive(Clone, Debug, Serialize)]
pub struct EventView {
    /// When it happened: the overflow time (RFC 3339).
    pub timestamp: String,
    pub severity: Severity,
    /// What raised it: the scenario name (its hub item).
    pub system: String,
    pub summary: String,
    /// The longer text, when it says more than the summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub data: Data,
    /// The raw log lines of the kept events, in pour order (events without a line are skipped).
    pub records: Vec<String>,
    /// The alert as `output::render::alert_json` gives it.
    #[serde(skip)]
    pub alert: Value,
    /// One line of text (`output::render::alert_text`).
    #[serde(skip)]
    pub text: String,
}

impl EventView {
    /// The view of an overflow event; `None` for any other event.
    pub fn from_event(evt: &Event) -> Option<EventView> {
        let ovf = evt.overflow()?;
        let a = &ovf.alert;
        let mut data = Data::default();
        data.put_str("scenario", &a.scenario);
        data.put_str("scenario_version", &a.scenario_version);
        if let Some(src) = &a.source {
            data.put_str("source_scope", &src.scope);
            data.put_str("source_value", &src.value);
            data.put_str("source_ip", &src.ip);
            data.put_str("source_range", &src.range);
            data.put_str("source_as_number", &src.as_number);
            data.put_str("source_as_name", &src.as_name);
            data.put_str("source_country", &src.cn);
        }
        if ovf.sources.len() > 1 {
            data.put("sources", json!(ovf.sources.keys().collect::<Vec<_>>()));
        }
        data.put("events_count", json!(a.events_count));
        data.put_str("start_at", &a.start_at);
        data.put_str("stop_at", &a.stop_at);
        if a.capacity != 0 {
            data.put("capacity", json!(a.capacity));
        }
        data.put_str("leakspeed", &a.leakspeed);
        data.put("remediation", json!(a.remediation));
        if !a.labels.is_empty() {
            data.put("labels", serde_json::to_value(&a.labels).unwrap_or(Value::Null));
        }
        let meta = common_meta(evt);
        if !meta.is_empty() {
            data.put("meta", Value::Object(meta));
        }
        let summary = if a.summary.is_empty() { a.message.clone() } else { a.summary.clone() };
        let message = (!a.message.is_empty() && a.message != summary).then(|| a.message.clone());
        Some(EventView {
            timestamp: if a.stop_at.is_empty() { evt.marshaled_time.to_string() } else { a.stop_at.clone() },
            severity: a.severity,
            system: a.scenario.clone(),
            summary,
            message,
            data,
            records: a.events.iter().filter(|e| !e.raw.is_empty()).map(|e| e.raw.clone()).collect(),
            alert: render::alert_json(evt),
            text: render::alert_text(evt),
        })
    }

    /// The view as JSON (`format: event`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The template context: every key of the alert JSON (`scenario`, `source_ip`, `events[i].meta.k`, …) plus
    /// `system`, `timestamp`, `data` and `records` of the view (`summary`, `message` and `severity` are the same in
    /// both).
    pub fn template_context(&self) -> Value {
        let mut ctx = match &self.alert {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        ctx.insert("system".into(), json!(self.system));
        ctx.insert("timestamp".into(), json!(self.timestamp));
        ctx.insert("data".into(), serde_json::to_value(&self.data).unwrap_or(Value::Null));
        ctx.insert("records".into(), json!(self.records));
        ctx.insert("summary".into(), json!(self.summary));
        ctx.insert("message".into(), json!(self.message.clone().unwrap_or_default()));
        Value::Object(ctx)
    }

    /// `key=value` lines of the data block (plain-text bodies): nested objects flattened as `labels.service`.
    pub fn data_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.data.0 {
            flatten(k, v, &mut out);
        }
        out
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        Value::String(s) => out.push(format!("{prefix}={s}")),
        other => out.push(format!("{prefix}={other}")),
    }
}

/// The Meta keys every kept event has with one same value.
fn common_meta(evt: &Event) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    let Some(ovf) = evt.overflow() else { return out };
    let mut events = ovf.alert.events.iter();
    let Some(first) = events.next() else { return out };
    let rest: Vec<_> = events.collect();
    for m in &first.meta {
        if rest.iter().all(|e| e.get_meta(&m.key) == Some(m.value.as_str())) {
            out.insert(m.key.clone(), Value::String(m.value.clone()));
        }
    }
    out
}

/// One audit row, with what raised it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditRow {
    /// The schema name (the CSV file it goes to).
    pub schema: String,
    /// `(column, value)` in the schema's order.
    pub columns: Vec<(String, String)>,
    pub timestamp: String,
    pub system: String,
    pub severity: Severity,
}

impl AuditRow {
    /// The audit row an overflow event carries, if any.
    pub fn from_event(evt: &Event) -> Option<AuditRow> {
        let ovf = evt.overflow()?;
        let AuditRecord { schema, columns } = ovf.alert.audit.clone()?;
        Some(AuditRow {
            schema,
            columns,
            timestamp: ovf.alert.stop_at.clone(),
            system: ovf.alert.scenario.clone(),
            severity: ovf.alert.severity,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{AlertEvent, EventType, MetaItem, RuntimeAlert, Source};

    fn meta(kv: &[(&str, &str)]) -> Vec<MetaItem> {
        kv.iter().map(|(k, v)| MetaItem { key: k.to_string(), value: v.to_string() }).collect()
    }

    /// An overflow event as the scenario engine builds it, for listener tests.
    pub(crate) fn sample_alert(ip: &str, severity: Severity, summary: &str) -> Event {
        let src = Source { ip: ip.into(), scope: "Ip".into(), value: ip.into(), cn: "FR".into(), ..Source::default() };
        let mut ovf = RuntimeAlert::default();
        ovf.sources.insert(ip.into(), src.clone());
        ovf.source_key = ip.into();
        let a = &mut ovf.alert;
        a.source = Some(src);
        a.scenario = "correlator/ssh-bruteforce".into();
        a.events_count = 2;
        a.start_at = "2026-02-12T14:10:19Z".into();
        a.stop_at = "2026-02-12T14:10:21Z".into();
        a.leakspeed = "10s".into();
        a.capacity = 5;
        a.remediation = true;
        a.severity = severity;
        a.summary = summary.into();
        a.message = format!("Ip {ip} performed 'correlator/ssh-bruteforce' (2 events over 2s)");
        a.labels.insert("service".into(), json!("ssh"));
        a.events = vec![
            AlertEvent {
                timestamp: "2026-02-12T14:10:19Z".into(),
                meta: meta(&[("log_type", "ssh_failed-auth"), ("source_ip", ip), ("target_user", "root")]),
                raw: format!("Feb 12 14:10:19 host sshd[1]: Failed password for root from {ip} port 1 ssh2"),
            },
            AlertEvent {
                timestamp: "2026-02-12T14:10:21Z".into(),
                meta: meta(&[("log_type", "ssh_failed-auth"), ("source_ip", ip), ("target_user", "admin")]),
                raw: format!("Feb 12 14:10:21 host sshd[1]: Failed password for admin from {ip} port 2 ssh2"),
            },
        ];
        let mut evt = Event::overflow_event(ovf);
        evt.marshaled_time = "2026-02-12T14:10:21Z".into();
        evt
    }

    #[test]
    fn view_of_an_alert() {
        let evt = sample_alert("1.2.3.4", Severity::Warning, "SSH brute force from 1.2.3.4");
        let v = EventView::from_event(&evt).unwrap();
        assert_eq!(v.summary, "SSH brute force from 1.2.3.4");
        assert!(v.message.as_deref().unwrap().starts_with("Ip 1.2.3.4 performed"));
        assert_eq!(v.system, "correlator/ssh-bruteforce");
        assert_eq!(v.timestamp, "2026-02-12T14:10:21Z");
        assert_eq!(v.records.len(), 2);
        assert!(v.records[1].contains("admin from 1.2.3.4"));
        assert_eq!(v.data.get("source_ip"), Some(&json!("1.2.3.4")));
        assert_eq!(v.data.get("source_country"), Some(&json!("FR")));
        assert_eq!(v.data.get("events_count"), Some(&json!(2)));
        // Meta common to every kept event only: target_user differs.
        assert_eq!(v.data.get("meta"), Some(&json!({"log_type": "ssh_failed-auth", "source_ip": "1.2.3.4"})));
        let j = v.to_json();
        let keys: Vec<&str> = j["data"].as_object().unwrap().keys().map(String::as_str).collect();
        assert!(keys.contains(&"labels"));
        assert_eq!(j["severity"], "warning");
        assert!(v.data_lines().contains(&"labels.service=ssh".to_string()));
        let ctx = v.template_context();
        assert_eq!(ctx["events"][1]["meta"]["target_user"], "admin");
        assert_eq!(ctx["system"], "correlator/ssh-bruteforce");
    }

    #[test]
    fn message_equal_to_summary_is_not_repeated() {
        let mut evt = sample_alert("1.2.3.4", Severity::Notice, "");
        let v = EventView::from_event(&evt).unwrap();
        assert!(v.summary.starts_with("Ip 1.2.3.4"));
        assert!(v.message.is_none());
        evt.kind = EventType::Log;
        evt.set_overflow(None);
        assert!(EventView::from_event(&evt).is_none());
    }

    #[test]
    fn audit_rows() {
        let mut evt = sample_alert("1.2.3.4", Severity::Notice, "x");
        assert!(AuditRow::from_event(&evt).is_none());
        evt.overflow_mut().unwrap().alert.audit =
            Some(AuditRecord { schema: "logins".into(), columns: vec![("user".into(), "root".into())] });
        let r = AuditRow::from_event(&evt).unwrap();
        assert_eq!(r.schema, "logins");
        assert_eq!(r.columns, vec![("user".to_string(), "root".to_string())]);
        assert_eq!(r.system, "correlator/ssh-bruteforce");
    }
}
