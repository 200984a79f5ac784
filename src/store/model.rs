//! The records of the local API in CrowdSec's JSON shapes (`models.Alert`, `models.Decision`, `models.Source`,
//! `models.Event` of the LAPI swagger): what agents POST, what bouncers and `GET /v1/alerts` receive, and what the
//! store keeps. Field names, order and omission rules follow the Go models, so existing clients parse them.
//!
//! What this module is not: the pipeline's alert (`event::Alert`, with Correlator's extras); [`Alert::from_event`]
//! converts one into the other.

use serde::{Deserialize, Serialize};

use crate::event::{self, MetaItem};

/// `models.Source`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub as_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub as_number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub latitude: f64,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub range: String,
    pub scope: String,
    pub value: String,
}

/// `models.Event`: one event of an alert, its time and Meta.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub meta: Vec<MetaItem>,
    pub timestamp: String,
}

/// `models.Decision`. On output `duration` is the time left (Go duration text) and `until` the end (RFC 3339); on
/// input (alerts that carry their own decisions, e.g. from `cscli decisions add`) `duration` is the length.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub duration: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    pub origin: String,
    pub scenario: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<bool>,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub until: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    pub value: String,
}

/// `models.Alert`. Required fields are those of the swagger; the others default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub capacity: i32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub decisions: Vec<Decision>,
    #[serde(deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
    pub events_count: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub id: i64,
    /// Correlator also accepts CrowdSec's newer `labels` object; it is kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<serde_json::Value>,
    pub leakspeed: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine_id: String,
    pub message: String,
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub meta: Vec<MetaItem>,
    #[serde(default)]
    pub remediation: bool,
    pub scenario: String,
    pub scenario_hash: String,
    pub scenario_version: String,
    pub simulated: bool,
    pub source: Source,
    pub start_at: String,
    pub stop_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    /// Correlator: names of the listeners the matching profiles asked to notify (`notifications:`), recorded so
    /// the daemon can route the alert; not part of CrowdSec's model, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

/// Go clients send `null` for empty lists.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// CrowdSec's canonical spelling of the well-known scopes (`ip` → `Ip`); other scopes are kept as written.
pub fn normalize_scope(scope: &str) -> String {
    match scope.to_ascii_lowercase().as_str() {
        "ip" => "Ip".to_string(),
        "range" => "Range".to_string(),
        "as" => "AS".to_string(),
        "country" => "Country".to_string(),
        _ => scope.to_string(),
    }
}

impl Alert {
    /// The API alert of a pipeline alert (one source).
    pub fn from_event(a: &event::Alert) -> Alert {
        let src = a.source.clone().unwrap_or_default();
        Alert {
            capacity: a.capacity.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            events: a.events.iter().map(|e| Event { meta: e.meta.clone(), timestamp: e.timestamp.clone() }).collect(),
            events_count: a.events_count.clamp(0, i32::MAX as i64) as i32,
            leakspeed: a.leakspeed.clone(),
            message: a.message.clone(),
            meta: a.meta.clone(),
            remediation: a.remediation,
            scenario: a.scenario.clone(),
            scenario_hash: a.scenario_hash.clone(),
            scenario_version: a.scenario_version.clone(),
            simulated: a.simulated,
            source: Source {
                as_name: src.as_name,
                as_number: src.as_number,
                cn: src.cn,
                ip: src.ip,
                latitude: src.latitude,
                longitude: src.longitude,
                range: src.range,
                scope: src.scope,
                value: src.value,
            },
            start_at: a.start_at.clone(),
            stop_at: a.stop_at.clone(),
            labels: (!a.labels.is_empty()).then(|| serde_json::to_value(&a.labels).unwrap_or_default()),
            ..Alert::default()
        }
    }

    /// The pipeline view of this alert, which profile expressions (`Alert.GetScope()`, ...) evaluate against.
    pub fn to_event(&self) -> event::Alert {
        let s = &self.source;
        let labels = match &self.labels {
            Some(serde_json::Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => Default::default(),
        };
        event::Alert {
            scenario: self.scenario.clone(),
            scenario_hash: self.scenario_hash.clone(),
            scenario_version: self.scenario_version.clone(),
            capacity: self.capacity as i64,
            leakspeed: self.leakspeed.clone(),
            events_count: self.events_count as i64,
            start_at: self.start_at.clone(),
            stop_at: self.stop_at.clone(),
            simulated: self.simulated,
            remediation: self.remediation,
            message: self.message.clone(),
            kind: String::new(),
            source: Some(event::Source {
                ip: s.ip.clone(),
                range: s.range.clone(),
                as_name: s.as_name.clone(),
                as_number: s.as_number.clone(),
                cn: s.cn.clone(),
                latitude: s.latitude,
                longitude: s.longitude,
                scope: s.scope.clone(),
                value: s.value.clone(),
            }),
            events: self
                .events
                .iter()
                .map(|e| event::AlertEvent { timestamp: e.timestamp.clone(), meta: e.meta.clone(), raw: String::new() })
                .collect(),
            meta: self.meta.clone(),
            labels,
            ..event::Alert::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_json_has_crowdsec_field_names_and_omissions() {
        let d = Decision {
            duration: "3h59m59s".into(),
            id: 7,
            origin: "crowdsec".into(),
            scenario: "correlator/ssh-bruteforce".into(),
            scope: "Ip".into(),
            simulated: None,
            kind: "ban".into(),
            until: "2026-03-02T12:00:00Z".into(),
            uuid: "u".into(),
            value: "192.0.2.1".into(),
        };
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(
            j,
            r#"{"duration":"3h59m59s","id":7,"origin":"crowdsec","scenario":"correlator/ssh-bruteforce","scope":"Ip","type":"ban","until":"2026-03-02T12:00:00Z","uuid":"u","value":"192.0.2.1"}"#
        );
    }

    #[test]
    fn alert_requires_swagger_fields_and_accepts_nulls() {
        let ok = r#"{"capacity":5,"events":null,"events_count":6,"leakspeed":"10s","message":"m","scenario":"s",
            "scenario_hash":"","scenario_version":"","simulated":false,"source":{"scope":"ip","value":"1.2.3.4"},
            "start_at":"a","stop_at":"b","decisions":null,"labels":null}"#;
        let a: Alert = serde_json::from_str(ok).unwrap();
        assert!(a.events.is_empty() && a.decisions.is_empty());
        let missing = r#"{"capacity":5,"events":[],"events_count":6}"#;
        assert!(serde_json::from_str::<Alert>(missing).is_err());
    }

    #[test]
    fn scopes_are_normalised_like_crowdsec() {
        assert_eq!(normalize_scope("ip"), "Ip");
        assert_eq!(normalize_scope("RANGE"), "Range");
        assert_eq!(normalize_scope("username"), "username");
    }
}
