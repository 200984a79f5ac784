//! What a parser node needs while it runs: the expression services, the enrichers' context and the counters.
//!
//! Also the one place where expressions are evaluated against a mutable event: the event is lent to the
//! expression immutably, and what the expression asked to change (`evt.SetMeta`, `UnmarshalJSON(…,
//! evt.Unmarshaled, …)`) is applied right after, so the next expression sees it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Event;
use compact_str::CompactString;

use crate::expr::{EvalArena, Program, Scope, Services, Value};

use super::enrich::{Clock, Enrichers};
use super::statics::StaticEvalError;

/// Counters of problems met while parsing (exported as metrics, summarised by `replay`).
#[derive(Debug, Default)]
pub struct ParserCounters {
    pub filter_errors: AtomicU64,
    pub static_errors: AtomicU64,
    pub node_errors: AtomicU64,
    pub grok_source_errors: AtomicU64,
    /// Whitelist `expression`s that failed (the event is then not whitelisted, like CrowdSec).
    pub whitelist_errors: AtomicU64,
}

impl ParserCounters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Borrowed context for one parse.
pub struct Runtime<'a> {
    pub services: &'a Services,
    pub enrichers: &'a Enrichers,
    /// "Now" for enrichers: the wall clock, with the configured year when one is pinned.
    pub clock: &'a dyn Clock,
    pub counters: &'a ParserCounters,
}

impl Runtime<'_> {
    /// Evaluates a boolean expression (filters, whitelist expressions).
    pub fn eval_bool(&self, p: &Program, evt: &mut Event) -> Result<bool, String> {
        let arena = EvalArena::new();
        let (result, mutations) = {
            let mut scope = Scope::new(self.services).with_evt(evt).with_arena(&arena);
            let r = p.eval_bool(&mut scope).map_err(|e| e.to_string());
            (r, scope.take_mutations())
        };
        for m in mutations {
            m.apply(evt);
        }
        result
    }

    /// Evaluates a statics expression with CrowdSec's conversion rules: `Ok(None)` = skip the static.
    pub fn eval_static(&self, p: &Program, evt: &mut Event) -> Result<Option<CompactString>, StaticEvalError> {
        // `expression: evt.Parsed.remote_addr` and the like (most statics): a copy, with no scope to set up.
        if let Some((map, key)) = p.field_read() {
            return Ok(Some(CompactString::from(map.of(evt).get_or_empty(key))));
        }
        if let Some(field) = p.text_read() {
            return Ok(Some(CompactString::from(field.of(evt))));
        }
        let arena = EvalArena::new();
        let (result, mutations) = {
            let mut scope = Scope::new(self.services).with_evt(evt).with_arena(&arena);
            let r = match p.eval(&mut scope) {
                // Text straight into an inline string: most static values are short, no allocation.
                Ok(Value::Str(s)) => Ok(Some(CompactString::from(&*s))),
                Ok(v) => v.to_static_string().map(|o| o.map(CompactString::from)).map_err(StaticEvalError::Type),
                Err(e) => Err(StaticEvalError::Runtime(e.to_string())),
            };
            (r, scope.take_mutations())
        };
        for m in mutations {
            m.apply(evt);
        }
        result
    }

    /// Evaluates an expression that must give text (grok `expression`, stash key and value). Numbers are written
    /// as statics write them; anything else is an error.
    pub fn eval_text(&self, p: &Program, evt: &mut Event) -> Result<String, String> {
        match self.eval_static(p, evt) {
            Ok(Some(s)) => Ok(s.into_string()),
            Ok(None) => Err("expression returned no text".to_string()),
            Err(StaticEvalError::Runtime(m)) | Err(StaticEvalError::Type(m)) => Err(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::expr::compile::{EvtText, FieldRead};
    use crate::expr::{CompileEnv, Services, compile};

    #[test]
    fn a_plain_field_read_is_recognised_and_nothing_else() {
        let env = CompileEnv::for_event(Arc::new(Services::new()));
        let read = |src: &str| compile(src, &env).unwrap().field_read().map(|(m, k)| (m, k.to_string()));
        assert_eq!(read("evt.Parsed.remote_addr"), Some((FieldRead::Parsed, "remote_addr".into())));
        assert_eq!(read("evt.Meta['a.b']"), Some((FieldRead::Meta, "a.b".into())));
        assert_eq!(read("evt.Line.Labels.type"), Some((FieldRead::Labels, "type".into())));
        assert_eq!(read("evt.Parsed.a + evt.Parsed.b"), None);
        assert_eq!(read("Upper(evt.Parsed.a)"), None);
        assert_eq!(read("evt.Parsed.a == 'x'"), None);
        let text = |src: &str| compile(src, &env).unwrap().text_read();
        assert_eq!(text("evt.StrTime"), Some(EvtText::StrTime));
        assert_eq!(text("evt.Line.Src"), Some(EvtText::LineSrc));
        assert_eq!(text("evt.Line.Raw"), Some(EvtText::LineRaw));
        assert_eq!(text("evt.Line.Labels"), None);
        assert_eq!(text("evt.Time"), None);
        assert_eq!(text("evt.StrTime + 'x'"), None);
    }
}
