//! Host objects: Rust values seen from expressions under their Go names (`evt.Line.Labels.type`,
//! `evt.Overflow.Alert.GetScope()`, `results[0].Overflow.Sources["1.2.3.4"].IP`).
//!
//! [`HostObject`] is the interface; this module implements it for the event model of `crate::event` and for JSON
//! trees (`evt.Unmarshaled`). Other modules implement it for their own objects (a bucket's `leaky`, `queue`,
//! hubtest results) and pass them as `Value::Host(&obj)`. [`Ty`] is the static view the compiler uses to check
//! field names and pick fast paths; unknown types are `Ty::Any` and are resolved at run time.
//!
//! Not for: mutation. Methods that write to the event (`SetMeta`, `SetParsed`) are recorded as
//! [`Mutation`](super::Mutation)s by the compiler, because the event is borrowed immutably during evaluation.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::value::{Value, from_json};
use crate::event::{Alert, AlertEvent, Event, FieldMap, JsonMap, Line, MetaItem, RuntimeAlert, Source};

/// How generic operations (`len`, `in`, indexing, iteration) treat a host object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// Named fields only.
    Struct,
    /// String keys (`in` tests keys, `x[k]` and `x.k` read entries, `keys()` lists them).
    Map,
    /// Integer-indexed elements (`x[i]`, iteration in builtins).
    List,
}

/// A Rust object readable from expressions.
pub trait HostObject {
    /// The Go-ish type name, used in error messages and by `type()` for structs.
    fn type_name(&self) -> &'static str;

    fn kind(&self) -> HostKind {
        HostKind::Struct
    }

    /// A struct field, or for a map the entry (`Some(zero value)` when the key is missing, as Go maps read).
    /// `None` means "no such field" (a runtime error).
    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>>;

    /// Maps: whether the key is present (`"k" in m`).
    fn contains_key(&self, _key: &str) -> bool {
        false
    }

    /// Maps: the keys, sorted.
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }

    /// Maps and lists: the number of entries.
    fn len(&self) -> usize {
        0
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lists: the element at `i` (already bounds-checked by the caller against `len`).
    fn index<'a>(&'a self, _i: usize) -> Option<Value<'a>> {
        None
    }

    /// A method call (`GetScope()`, `GetMeta("k")`).
    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        Err(format!("type {} has no method {name}", self.type_name()))
    }

    /// JSON rendering with Go field names (debugging, `toJSON`, `correlator eval`).
    fn to_json(&self) -> serde_json::Value;

    /// The event itself when this host object is one (lets `Scope::bind("evt", ..)` enable the fast paths).
    fn as_event(&self) -> Option<&Event> {
        None
    }
}

/// Static types the compiler knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Any,
    Bool,
    Int,
    Float,
    Str,
    Time,
    Event,
    Line,
    /// `map[string]string` (`Meta`, `Parsed`, `Enriched`, `Labels`): missing keys read `""`.
    StrMap,
    /// `map[string]any` (`Unmarshaled`): missing keys read `nil`.
    JsonMap,
    RuntimeAlert,
    Alert,
    Source,
    SourceMap,
}

impl Ty {
    /// The type of field `name` of a struct type; `None` when the struct has no such field. `Some(Ty::Any)` for
    /// dynamic types.
    pub fn field(self, name: &str) -> Option<Ty> {
        Some(match self {
            Ty::Event => match name {
                "Type" | "ExpectMode" => Ty::Int,
                "Whitelisted" | "Process" => Ty::Bool,
                "WhitelistReason" | "Stage" | "StrTime" | "StrTimeFormat" | "MarshaledTime" => Ty::Str,
                "Line" => Ty::Line,
                "Parsed" | "Enriched" | "Meta" => Ty::StrMap,
                "Unmarshaled" => Ty::JsonMap,
                "Overflow" => Ty::RuntimeAlert,
                "Time" => Ty::Time,
                "Appsec" => Ty::Any,
                _ => return None,
            },
            Ty::Line => match name {
                "Raw" | "Src" | "Module" => Ty::Str,
                "Time" => Ty::Time,
                "Labels" => Ty::StrMap,
                "Process" => Ty::Bool,
                _ => return None,
            },
            Ty::RuntimeAlert => match name {
                "Mapkey" | "BucketId" => Ty::Str,
                "Whitelisted" | "Reprocess" => Ty::Bool,
                "Sources" => Ty::SourceMap,
                "Alert" => Ty::Alert,
                "APIAlerts" => Ty::Any,
                _ => return None,
            },
            Ty::Alert => match name {
                "Scenario" | "ScenarioHash" | "ScenarioVersion" | "Leakspeed" | "StartAt" | "StopAt" | "Message"
                | "Kind" | "UUID" | "MachineID" => Ty::Str,
                "Capacity" | "EventsCount" | "ID" => Ty::Int,
                "Simulated" | "Remediation" => Ty::Bool,
                "Source" => Ty::Source,
                "Events" | "Meta" | "Labels" | "Decisions" => Ty::Any,
                _ => return None,
            },
            Ty::Source => match name {
                "IP" | "Range" | "AsName" | "AsNumber" | "Cn" | "Scope" | "Value" => Ty::Str,
                "Latitude" | "Longitude" => Ty::Float,
                _ => return None,
            },
            Ty::StrMap => Ty::Str,
            Ty::SourceMap => Ty::Source,
            Ty::JsonMap | Ty::Any => Ty::Any,
            Ty::Bool | Ty::Int | Ty::Float | Ty::Str | Ty::Time => return None,
        })
    }

    /// Whether a method exists (for compile-time checks); `None` = unknown (dynamic).
    pub fn has_method(self, name: &str) -> Option<bool> {
        let known: &[&str] = match self {
            Ty::Event => &["GetType", "GetMeta", "SetMeta", "SetParsed", "ParseIPSources", "GetSources"],
            Ty::RuntimeAlert => &["GetSources"],
            Ty::Alert => &["GetScope", "GetValue", "GetScenario", "GetEventsCount", "GetMeta", "GetSources"],
            Ty::Source => &["GetScope", "GetValue"],
            Ty::Time => return Some(true),
            Ty::Any | Ty::JsonMap => return None,
            _ => &[],
        };
        Some(known.contains(&name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Str => "string",
            Ty::Time => "time.Time",
            Ty::Event => "pipeline.Event",
            Ty::Line => "pipeline.Line",
            Ty::StrMap => "map[string]string",
            Ty::JsonMap => "map[string]interface {}",
            Ty::RuntimeAlert => "pipeline.RuntimeAlert",
            Ty::Alert => "models.Alert",
            Ty::Source => "models.Source",
            Ty::SourceMap => "map[string]models.Source",
        }
    }
}

fn json_of<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

fn str_arg<'v>(args: &'v [Value<'_>], i: usize, method: &str) -> Result<&'v str, String> {
    args.get(i).and_then(Value::as_str).ok_or_else(|| format!("{method}: argument {} must be a string", i + 1))
}

fn time_value(t: Option<crate::event::Timestamp>) -> Value<'static> {
    Value::Time(t.unwrap_or_else(crate::event::zero_time))
}

impl HostObject for Event {
    fn type_name(&self) -> &'static str {
        "pipeline.Event"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Type" => Value::Int(self.kind.as_int()),
            "ExpectMode" => Value::Int(self.expect_mode.as_int()),
            "Whitelisted" => Value::Bool(self.whitelisted),
            "WhitelistReason" => Value::str(self.whitelist_reason()),
            "Stage" => Value::str(&self.stage),
            "Line" => Value::Host(&self.line),
            "Parsed" => Value::Host(&self.parsed),
            "Enriched" => Value::Host(&self.enriched),
            "Meta" => Value::Host(&self.meta),
            "Unmarshaled" => Value::Host(self.unmarshaled()),
            "Overflow" => match self.overflow() {
                Some(o) => Value::Host(o),
                None => Value::Host(&ZERO_OVERFLOW),
            },
            "Time" => time_value(self.time),
            "StrTime" => Value::str(&self.str_time),
            "StrTimeFormat" => Value::str(self.str_time_format()),
            "MarshaledTime" => Value::str(&self.marshaled_time),
            "Process" => Value::Bool(self.process),
            "Appsec" => Value::Nil,
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetType" => Ok(Value::str(self.kind.as_str())),
            "GetMeta" => Ok(Value::str(self.get_meta(str_arg(&args, 0, name)?))),
            "GetSources" => Ok(match self.overflow() {
                Some(o) => Value::array(o.sources.keys().map(|k| Value::str(k))),
                None => Value::array([]),
            }),
            "SetMeta" | "SetParsed" => Err(format!("{name} can only be called on the root event `evt`")),
            _ => Err(format!("type pipeline.Event has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }

    fn as_event(&self) -> Option<&Event> {
        Some(self)
    }
}

impl HostObject for Line {
    fn type_name(&self) -> &'static str {
        "pipeline.Line"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Raw" => Value::str(&self.raw),
            "Src" => Value::str(self.src()),
            "Module" => Value::str(self.module()),
            "Time" => Value::Time(self.time),
            "Labels" => Value::Host(self.labels()),
            "Process" => Value::Bool(self.process()),
            _ => return None,
        })
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for FieldMap {
    fn type_name(&self) -> &'static str {
        "map[string]string"
    }

    fn kind(&self) -> HostKind {
        HostKind::Map
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(Value::str(self.get_or_empty(name)))
    }

    fn contains_key(&self, key: &str) -> bool {
        FieldMap::contains_key(self, key)
    }

    fn keys(&self) -> Vec<String> {
        FieldMap::keys(self).map(str::to_string).collect()
    }

    fn len(&self) -> usize {
        FieldMap::len(self)
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for JsonMap {
    fn type_name(&self) -> &'static str {
        "map[string]interface {}"
    }

    fn kind(&self) -> HostKind {
        HostKind::Map
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(self.get(name).map(from_json).unwrap_or(Value::Nil))
    }

    fn contains_key(&self, key: &str) -> bool {
        serde_json::Map::contains_key(self, key)
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = serde_json::Map::keys(self).cloned().collect();
        k.sort();
        k
    }

    fn len(&self) -> usize {
        serde_json::Map::len(self)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.clone())
    }
}

impl HostObject for Vec<serde_json::Value> {
    fn type_name(&self) -> &'static str {
        "[]interface {}"
    }

    fn kind(&self) -> HostKind {
        HostKind::List
    }

    fn field<'a>(&'a self, _name: &str) -> Option<Value<'a>> {
        None
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn index<'a>(&'a self, i: usize) -> Option<Value<'a>> {
        self.get(i).map(from_json)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.clone())
    }
}

/// `evt.Overflow` of a log event: Go's zero `RuntimeAlert`, whose `Alert` pointer is nil.
struct ZeroOverflow;

static ZERO_OVERFLOW: ZeroOverflow = ZeroOverflow;

static EMPTY_SOURCES: LazyLock<BTreeMap<String, Source>> = LazyLock::new(BTreeMap::new);
static ZERO_SOURCE: LazyLock<Source> = LazyLock::new(Source::default);

impl HostObject for ZeroOverflow {
    fn type_name(&self) -> &'static str {
        "pipeline.RuntimeAlert"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Mapkey" | "BucketId" => Value::str(""),
            "Whitelisted" | "Reprocess" => Value::Bool(false),
            "Sources" => Value::Host(&*EMPTY_SOURCES),
            "Alert" | "APIAlerts" => Value::Nil,
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetSources" => Ok(Value::array([])),
            _ => Err(format!("type pipeline.RuntimeAlert has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Mapkey": "", "BucketId": "", "Whitelisted": false, "Reprocess": false, "Sources": {}, "Alert": null})
    }
}

impl HostObject for RuntimeAlert {
    fn type_name(&self) -> &'static str {
        "pipeline.RuntimeAlert"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Mapkey" => Value::str(&self.mapkey),
            "BucketId" => Value::str(&self.bucket_id),
            "Whitelisted" => Value::Bool(self.whitelisted),
            "Reprocess" => Value::Bool(self.reprocess),
            "Sources" => Value::Host(&self.sources),
            "Alert" => Value::Host(&self.alert),
            "APIAlerts" => Value::array([Value::Host(&self.alert)]),
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetSources" => Ok(Value::array(self.source_keys().into_iter().map(Value::str))),
            _ => Err(format!("type pipeline.RuntimeAlert has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for BTreeMap<String, Source> {
    fn type_name(&self) -> &'static str {
        "map[string]models.Source"
    }

    fn kind(&self) -> HostKind {
        HostKind::Map
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(Value::Host(self.get(name).unwrap_or(&*ZERO_SOURCE)))
    }

    fn contains_key(&self, key: &str) -> bool {
        BTreeMap::contains_key(self, key)
    }

    fn keys(&self) -> Vec<String> {
        BTreeMap::keys(self).cloned().collect()
    }

    fn len(&self) -> usize {
        BTreeMap::len(self)
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for Alert {
    fn type_name(&self) -> &'static str {
        "models.Alert"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Scenario" => Value::str(&self.scenario),
            "ScenarioHash" => Value::str(&self.scenario_hash),
            "ScenarioVersion" => Value::str(&self.scenario_version),
            "Capacity" => Value::Int(self.capacity),
            "Leakspeed" => Value::str(&self.leakspeed),
            "EventsCount" => Value::Int(self.events_count),
            "StartAt" => Value::str(&self.start_at),
            "StopAt" => Value::str(&self.stop_at),
            "Simulated" => Value::Bool(self.simulated),
            "Remediation" => Value::Bool(self.remediation),
            "Message" => Value::str(&self.message),
            "Kind" => Value::str(&self.kind),
            "Source" => match &self.source {
                Some(s) => Value::Host(s),
                None => Value::Nil,
            },
            "Events" => Value::Host(&self.events),
            "Meta" => Value::Host(&self.meta),
            "Labels" => Value::map(self.labels.iter().map(|(k, v)| (k.clone(), from_json(v)))),
            "Decisions" => Value::array([]),
            "ID" => Value::Int(0),
            "UUID" | "MachineID" => Value::str(""),
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetScope" => Ok(Value::str(self.scope())),
            "GetValue" => Ok(Value::str(self.value())),
            "GetScenario" => Ok(Value::str(&self.scenario)),
            "GetEventsCount" => Ok(Value::Int(self.events_count)),
            "GetMeta" => {
                let key = str_arg(&args, 0, name)?;
                Ok(Value::str(self.meta.iter().find(|m| m.key == key).map(|m| m.value.as_str()).unwrap_or("")))
            }
            "GetSources" => Ok(Value::array(self.source.iter().map(|s| Value::str(&s.value)))),
            _ => Err(format!("type models.Alert has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for Source {
    fn type_name(&self) -> &'static str {
        "models.Source"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "IP" => Value::str(&self.ip),
            "Range" => Value::str(&self.range),
            "AsName" => Value::str(&self.as_name),
            "AsNumber" => Value::str(&self.as_number),
            "Cn" => Value::str(&self.cn),
            "Latitude" => Value::Float(self.latitude),
            "Longitude" => Value::Float(self.longitude),
            "Scope" => Value::str(&self.scope),
            "Value" => Value::str(&self.value),
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetScope" => Ok(Value::str(&self.scope)),
            "GetValue" => Ok(Value::str(&self.value)),
            _ => Err(format!("type models.Source has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for Vec<AlertEvent> {
    fn type_name(&self) -> &'static str {
        "[]*models.Event"
    }

    fn kind(&self) -> HostKind {
        HostKind::List
    }

    fn field<'a>(&'a self, _name: &str) -> Option<Value<'a>> {
        None
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn index<'a>(&'a self, i: usize) -> Option<Value<'a>> {
        self.get(i).map(|e| Value::Host(e))
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for AlertEvent {
    fn type_name(&self) -> &'static str {
        "models.Event"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Timestamp" => Value::str(&self.timestamp),
            "Meta" => Value::Host(&self.meta),
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetMeta" => Ok(Value::str(self.get_meta(str_arg(&args, 0, name)?).unwrap_or(""))),
            _ => Err(format!("type models.Event has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for Vec<MetaItem> {
    fn type_name(&self) -> &'static str {
        "models.Meta"
    }

    fn kind(&self) -> HostKind {
        HostKind::List
    }

    fn field<'a>(&'a self, _name: &str) -> Option<Value<'a>> {
        None
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn index<'a>(&'a self, i: usize) -> Option<Value<'a>> {
        self.get(i).map(|m| Value::Host(m))
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

impl HostObject for MetaItem {
    fn type_name(&self) -> &'static str {
        "models.MetaItems0"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Key" => Value::str(&self.key),
            "Value" => Value::str(&self.value),
            _ => return None,
        })
    }

    fn to_json(&self) -> serde_json::Value {
        json_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_fields_by_go_name() {
        let mut evt = Event::default();
        evt.meta.insert("a", "b");
        let Some(Value::Host(meta)) = evt.field("Meta") else { panic!() };
        assert_eq!(meta.field("a").unwrap().as_str(), Some("b"));
        assert_eq!(meta.field("zz").unwrap().as_str(), Some(""));
        assert!(meta.contains_key("a") && !meta.contains_key("zz"));
        assert!(evt.field("meta").is_none());
        let Some(Value::Host(ovf)) = evt.field("Overflow") else { panic!() };
        assert!(ovf.field("Alert").unwrap().is_nil());
        assert_eq!(evt.method("GetType", vec![]).unwrap().as_str(), Some("log"));
    }

    #[test]
    fn static_types() {
        assert_eq!(Ty::Event.field("Meta"), Some(Ty::StrMap));
        assert_eq!(Ty::Event.field("Nope"), None);
        assert_eq!(Ty::StrMap.field("anything"), Some(Ty::Str));
        assert_eq!(Ty::Alert.has_method("GetScope"), Some(true));
        assert_eq!(Ty::Any.has_method("X"), None);
    }
}
