//! The listeners: what a deployment does with what Correlator finds. Each kind lives in its own module (`console`,
//! `log`, `csv`, `jsonl`, `webhook`, `email`, `exec`) with the checks that turn its `config.yaml` entry into a
//! running [`Listener`].
//!
//! A listener only delivers: it runs on its own worker thread, one item at a time, and reports failure as an error
//! value. Selection (severity, filter, rate limit), queueing, counting and logging of failures belong to
//! `output::dispatch`, so every listener behaves the same there.

pub mod console;
pub mod csv;
pub mod email;
pub mod exec;
pub mod file;
pub mod jsonl;
pub mod log;
pub mod webhook;

mod retry;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::listeners::ListenerSpec;
use crate::config::yaml::{ConfigError, ConfigErrors, Expr};
use crate::gocompat::duration::parse_duration;

use super::event::{AuditRow, EventView};
use super::template::{Escape, Template};

/// What a listener is given.
#[derive(Clone, Debug)]
pub enum Item {
    Event(Arc<EventView>),
    Audit(Arc<AuditRow>),
}

/// Which of the two kinds of input a listener takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// Alerts and notices ([`EventView`]).
    Events,
    /// Audit rows ([`AuditRow`]).
    Audit,
}

/// A delivery target. Called from the listener's own worker thread only.
pub trait Listener: Send {
    /// Delivers one item. `Err` is counted as failed and logged (rate-limited) by the dispatcher's worker.
    fn deliver(&mut self, item: &Item) -> Result<(), String>;

    /// Writes out what is buffered; called when the queue is momentarily empty and at shutdown.
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// How an event is written by listeners that write one (`format:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line of text (console).
    Text,
    /// The Correlator event as JSON: timestamp, severity, system, summary, message, data, records.
    Json,
    /// The alert object (`output::render::alert_json`), as `replay --format json` prints it.
    Alert,
}

impl Format {
    fn parse(s: &str) -> Option<Format> {
        match s {
            "text" => Some(Format::Text),
            "json" => Some(Format::Json),
            "alert" => Some(Format::Alert),
            _ => None,
        }
    }

    /// The JSON text of `view`, keys in the event's order (`Text` gives the event JSON too: callers wanting text
    /// use `view.text`).
    pub fn json(self, view: &EventView) -> String {
        match self {
            Format::Alert => view.alert.to_string(),
            Format::Json | Format::Text => serde_json::to_string(view).unwrap_or_default(),
        }
    }
}

/// A listener built from its spec, before the dispatcher wraps it.
pub struct Built {
    pub listener: Box<dyn Listener>,
    pub accepts: Accepts,
}

/// The listener types and the options (besides the common ones) each accepts.
const TYPES: &[(&str, &[&str])] = &[
    ("console", &["format"]),
    ("log", &[]),
    ("csv", &["dir", "escape_formulas"]),
    ("jsonl", &["path", "format"]),
    (
        "webhook",
        &["url", "method", "headers", "body", "content_type", "proxy", "timeout", "retries", "backoff", "format"],
    ),
    (
        "email",
        &[
            "host",
            "port",
            "tls",
            "username",
            "password",
            "password_env",
            "from",
            "to",
            "subject",
            "body",
            "html_body",
            "helo_name",
            "timeout",
            "retries",
            "backoff",
        ],
    ),
    ("exec", &["command", "timeout", "format"]),
];

/// Checks a spec and builds the listener; problems go to `errors` as `file:line:col: message`.
pub fn build(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<Built> {
    let kind = ctx.required(&spec.kind, "type", pos)?;
    let Some((_, allowed)) = TYPES.iter().find(|(t, _)| *t == kind.src) else {
        let names: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
        ctx.err_expr(kind, format!("unknown listener type {:?} (expected one of {})", kind.src, names.join(", ")));
        return None;
    };
    let before = ctx.errors.0.len();
    for (opt, at) in spec.specific_options() {
        if !allowed.contains(&opt) {
            ctx.err_at(at, format!("option `{opt}` does not apply to a {} listener", kind.src));
        }
    }
    let built =
        match kind.src.as_str() {
            "console" => console::ConsoleListener::from_spec(spec, ctx)
                .map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Events)),
            "log" => Some((Box::new(log::LogListener::new(ctx.name)) as Box<dyn Listener>, Accepts::Events)),
            "csv" => {
                csv::CsvListener::from_spec(spec, pos, ctx).map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Audit))
            }
            "jsonl" => jsonl::JsonlListener::from_spec(spec, pos, ctx)
                .map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Events)),
            "webhook" => webhook::WebhookListener::from_spec(spec, pos, ctx)
                .map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Events)),
            "email" => email::EmailListener::from_spec(spec, pos, ctx)
                .map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Events)),
            "exec" => exec::ExecListener::from_spec(spec, pos, ctx)
                .map(|l| (Box::new(l) as Box<dyn Listener>, Accepts::Events)),
            _ => None,
        };
    if ctx.errors.0.len() > before {
        return None;
    }
    built.map(|(listener, accepts)| Built { listener, accepts })
}

/// What the spec checks need: where the spec is, where relative paths start, where errors go.
pub struct SpecCtx<'a> {
    pub file: &'a Path,
    pub base: &'a Path,
    /// The listener's name (`listeners.<name>`).
    pub name: &'a str,
    pub errors: &'a mut ConfigErrors,
}

impl SpecCtx<'_> {
    pub fn err_at(&mut self, (line, col): (u32, u32), msg: String) {
        self.errors.push(ConfigError::new(self.file, line, col, format!("listener {}: {msg}", self.name)));
    }

    pub fn err_expr(&mut self, e: &Expr, msg: String) {
        self.err_at((e.line, e.col), msg);
    }

    /// A mandatory option; its absence is reported at the listener's position.
    pub fn required<'s>(&mut self, v: &'s Option<Expr>, what: &str, pos: (u32, u32)) -> Option<&'s Expr> {
        match v {
            Some(e) if !e.is_blank() => Some(e),
            Some(e) => {
                self.err_expr(e, format!("`{what}` is empty"));
                None
            }
            None => {
                self.err_at(pos, format!("`{what}` is required"));
                None
            }
        }
    }

    /// A Go duration (`10s`, `1m30s`), strictly positive.
    pub fn duration(&mut self, v: &Option<Expr>, default: Duration) -> Duration {
        let Some(e) = v else { return default };
        match parse_duration(e.src.trim()) {
            Ok(ns) if ns > 0 => Duration::from_nanos(ns as u64),
            Ok(_) => {
                self.err_expr(e, format!("duration {:?} must be positive", e.src));
                default
            }
            Err(err) => {
                self.err_expr(e, err.to_string());
                default
            }
        }
    }

    /// A template option, compiled now; syntax errors point at the template's line in the file.
    pub fn template(&mut self, v: &Option<Expr>, escape: Escape) -> Option<Template> {
        let e = v.as_ref()?;
        match Template::compile(&e.src, escape) {
            Ok(t) => Some(t),
            Err(err) => {
                let line = if err.line > 1 {
                    let offset = e.src.split_inclusive('\n').take(err.line - 1).map(str::len).sum();
                    e.position_of(offset).0
                } else {
                    e.line
                };
                self.err_at((line, 0), format!("template: {err}"));
                None
            }
        }
    }

    /// A path option, relative to the configuration's directory.
    pub fn path(&self, e: &Expr) -> PathBuf {
        let p = Path::new(e.src.trim());
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }

    /// `format:` among `allowed`.
    pub fn format(&mut self, v: &Option<Expr>, allowed: &[Format], default: Format) -> Format {
        let Some(e) = v else { return default };
        match Format::parse(e.src.trim()) {
            Some(f) if allowed.contains(&f) => f,
            _ => {
                let names: Vec<&str> = allowed
                    .iter()
                    .map(|f| match f {
                        Format::Text => "text",
                        Format::Json => "json",
                        Format::Alert => "alert",
                    })
                    .collect();
                self.err_expr(e, format!("format {:?}: expected {}", e.src, names.join(" or ")));
                default
            }
        }
    }
}

/// `s` on one line: control characters (line breaks included) written as escapes, so a value decoded from a
/// hostile log (a JSON field holding `\n`) cannot forge extra lines in a line-oriented output.
pub(crate) fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    s.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// The first `max` bytes of `s` at a character boundary, for log messages about hostile or large text.
pub(crate) fn excerpt(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_control_characters_only() {
        assert_eq!(one_line("plain é text"), "plain é text");
        assert_eq!(one_line("a\nFAKE alert\r\t\u{1b}[31m"), "a\\nFAKE alert\\r\\t\\u{1b}[31m");
        assert_eq!(excerpt("ééé", 3), "é");
    }
}
