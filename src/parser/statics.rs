//! Statics: the assignments a parser node makes when it succeeds (`meta: log_type, value: ssh_failed-auth`,
//! `target: evt.StrTime, expression: evt.Parsed.timestamp`, `method: ParseDate`).
//!
//! Targets are resolved once at load time into [`Target`], so applying a static is a direct write, not a path walk.
//! Value conversion follows CrowdSec exactly (spec §3.4): strings as is, integers in decimal, floats as Go `%f`,
//! nil/maps/arrays skipped, other types an error that fails the node; an empty value is skipped (except for
//! `ParseDate`, which is called even with an empty value).

use std::sync::Arc;

use compact_str::CompactString;

use crate::event::{Event, FieldKey, field_key};
use crate::expr::Program;

use super::methods;
use super::runtime::Runtime;

/// Where a static writes.
#[derive(Clone, Debug)]
pub enum Target {
    Parsed(FieldKey),
    Meta(FieldKey),
    Enriched(FieldKey),
    /// A field reached through a `target:` path.
    Field(Field),
    /// An enricher (`method: ParseDate`); its outputs go to `Enriched`.
    Method(Arc<str>),
}

/// The event fields a `target:` path may name. The final field must hold a string (spec §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    StrTime,
    StrTimeFormat,
    MarshaledTime,
    WhitelistReason,
    LineRaw,
    LineSrc,
    LineModule,
    Label(FieldKey),
    Parsed(FieldKey),
    Meta(FieldKey),
    Enriched(FieldKey),
    Unmarshaled(FieldKey),
    SourceValue,
    SourceScope,
    SourceIp,
    SourceRange,
    AlertScenario,
    AlertMessage,
}

impl Field {
    /// Resolves a `target:` path (`evt.StrTime`, `Meta.source_ip`, `evt.Overflow.Alert.Source.Value`,
    /// `evt.Meta["k"]`). The `evt.` prefix is optional, as in CrowdSec.
    pub fn parse(path: &str) -> Result<Field, String> {
        let p = path.trim();
        let p = p.strip_prefix("evt.").unwrap_or(p);
        let parts = split_path(p).ok_or_else(|| format!("invalid target path {path:?}"))?;
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = field_key;
        let f = match parts.as_slice() {
            ["StrTime"] => Field::StrTime,
            ["StrTimeFormat"] => Field::StrTimeFormat,
            ["MarshaledTime"] => Field::MarshaledTime,
            ["WhitelistReason"] => Field::WhitelistReason,
            ["Line", "Raw"] => Field::LineRaw,
            ["Line", "Src"] => Field::LineSrc,
            ["Line", "Module"] => Field::LineModule,
            ["Line", "Labels", k] => Field::Label(key(k)),
            ["Parsed", k] => Field::Parsed(key(k)),
            ["Meta", k] => Field::Meta(key(k)),
            ["Enriched", k] => Field::Enriched(key(k)),
            ["Unmarshaled", k] => Field::Unmarshaled(key(k)),
            ["Overflow", "Alert", "Source", "Value"] => Field::SourceValue,
            ["Overflow", "Alert", "Source", "Scope"] => Field::SourceScope,
            ["Overflow", "Alert", "Source", "IP"] => Field::SourceIp,
            ["Overflow", "Alert", "Source", "Range"] => Field::SourceRange,
            ["Overflow", "Alert", "Scenario"] => Field::AlertScenario,
            ["Overflow", "Alert", "Message"] => Field::AlertMessage,
            _ => return Err(format!("unsupported target {path:?}: not a string field of the event")),
        };
        Ok(f)
    }

    /// Writes `value` into the event.
    pub fn set(&self, evt: &mut Event, value: String) {
        match self {
            Field::StrTime => evt.str_time = value.into(),
            Field::StrTimeFormat => evt.extra_mut().str_time_format = value,
            Field::MarshaledTime => evt.marshaled_time = value.into(),
            Field::WhitelistReason => evt.extra_mut().whitelist_reason = value,
            Field::LineRaw => evt.line.raw = value,
            Field::LineSrc => evt.line.origin_mut().src = Arc::from(value),
            Field::LineModule => evt.line.origin_mut().module = Arc::from(value),
            Field::Label(k) => Arc::make_mut(&mut evt.line.origin_mut().labels).insert_key(k, value),
            Field::Parsed(k) => evt.parsed.insert_key(k, value),
            Field::Meta(k) => evt.meta.insert_key(k, value),
            Field::Enriched(k) => evt.enriched.insert_key(k, value),
            Field::Unmarshaled(k) => {
                evt.unmarshaled_mut().insert(k.to_string(), serde_json::Value::String(value));
            }
            Field::SourceValue | Field::SourceScope | Field::SourceIp | Field::SourceRange => {
                // On a log event there is no overflow: CrowdSec's reflective walk fails on the nil pointer.
                if let Some(ovf) = evt.overflow_mut() {
                    match self {
                        Field::SourceValue => ovf.set_source_value(value),
                        Field::SourceScope => ovf.set_source_scope(value),
                        Field::SourceIp => {
                            if let Some(s) = ovf.alert.source.as_mut() {
                                s.ip = value;
                            }
                        }
                        _ => {
                            if let Some(s) = ovf.alert.source.as_mut() {
                                s.range = value;
                            }
                        }
                    }
                }
            }
            Field::AlertScenario => {
                if let Some(ovf) = evt.overflow_mut() {
                    ovf.alert.scenario = value;
                }
            }
            Field::AlertMessage => {
                if let Some(ovf) = evt.overflow_mut() {
                    ovf.alert.message = value;
                }
            }
        }
    }
}

/// Splits `Meta.x`, `Meta["x"]`, `Line.Labels['k']` into parts.
fn split_path(p: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                let quote = chars.next()?;
                if quote != '"' && quote != '\'' {
                    return None;
                }
                let mut key = String::new();
                loop {
                    let c = chars.next()?;
                    if c == quote {
                        break;
                    }
                    key.push(c);
                }
                if chars.next()? != ']' {
                    return None;
                }
                parts.push(key);
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    if parts.is_empty() { None } else { Some(parts) }
}

/// Where a static's value comes from.
#[derive(Clone, Debug)]
pub enum Source {
    Value(CompactString),
    Expr(Program),
}

/// One compiled static.
#[derive(Clone, Debug)]
pub struct Static {
    pub target: Target,
    pub source: Source,
}

/// Applying a static can fail the whole node (CrowdSec: a static expression of an unsupported type is a node
/// error and drops the line).
#[derive(Debug)]
pub struct StaticError(pub String);

impl Static {
    pub fn apply(&self, evt: &mut Event, rt: &Runtime) -> Result<(), StaticError> {
        let value: CompactString = match &self.source {
            Source::Value(v) => v.clone(),
            Source::Expr(p) => match rt.eval_static(p, evt) {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(()),
                Err(StaticEvalError::Runtime(msg)) => {
                    crate::warn_limited!(expression = p.source(), "static skipped: {msg}");
                    rt.counters.static_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                Err(StaticEvalError::Type(msg)) => return Err(StaticError(msg)),
            },
        };
        match &self.target {
            Target::Method(name) => {
                methods::call(name, &value, evt, rt);
                Ok(())
            }
            _ if value.is_empty() => Ok(()),
            Target::Parsed(k) => {
                evt.parsed.insert_key(k, value);
                Ok(())
            }
            Target::Meta(k) => {
                evt.meta.insert_key(k, value);
                Ok(())
            }
            Target::Enriched(k) => {
                evt.enriched.insert_key(k, value);
                Ok(())
            }
            Target::Field(f) => {
                f.set(evt, value.into_string());
                Ok(())
            }
        }
    }
}

/// Why a static expression gave no value.
pub enum StaticEvalError {
    /// The expression failed at run time: the static is skipped with a warning.
    Runtime(String),
    /// The expression returned a type a static cannot hold (bool, time...): the node fails.
    Type(String),
}

/// Applies statics in order (later ones see what earlier ones wrote).
pub fn apply_all(statics: &[Static], evt: &mut Event, rt: &Runtime) -> Result<(), StaticError> {
    for s in statics {
        s.apply(evt, rt)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_paths() {
        assert_eq!(Field::parse("evt.StrTime").unwrap(), Field::StrTime);
        assert_eq!(Field::parse("StrTime").unwrap(), Field::StrTime);
        assert_eq!(Field::parse("MarshaledTime").unwrap(), Field::MarshaledTime);
        assert_eq!(Field::parse("evt.Meta.source_ip").unwrap(), Field::Meta(FieldKey::new("source_ip")));
        assert_eq!(Field::parse("evt.Meta[\"a.b\"]").unwrap(), Field::Meta(FieldKey::new("a.b")));
        assert_eq!(Field::parse("evt.Line.Labels.type").unwrap(), Field::Label(FieldKey::new("type")));
        assert_eq!(Field::parse("evt.Overflow.Alert.Source.Value").unwrap(), Field::SourceValue);
        assert!(Field::parse("evt.Time").is_err());
        assert!(Field::parse("evt.Meta").is_err());
        assert!(Field::parse("evt.Meta[x]").is_err());
    }

    #[test]
    fn field_set_writes_the_event() {
        let mut e = Event::default();
        Field::parse("evt.Meta.a").unwrap().set(&mut e, "1".into());
        Field::parse("Line.Labels.type").unwrap().set(&mut e, "syslog".into());
        Field::parse("evt.StrTime").unwrap().set(&mut e, "Feb 12 14:10:21".into());
        // No overflow on a log event: writing the alert source is a no-op, not a crash.
        Field::parse("evt.Overflow.Alert.Source.Value").unwrap().set(&mut e, "x".into());
        assert_eq!(e.meta.get("a"), Some("1"));
        assert_eq!(e.line.labels().get("type"), Some("syslog"));
        assert_eq!(e.str_time, "Feb 12 14:10:21");
    }
}
