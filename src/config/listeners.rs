//! The `listeners:` section of `config/config.yaml`, as written: one entry per named listener, strict keys, every
//! value kept with its position so later checks (durations, templates, filters, options that do not apply to the
//! listener's type) can say `file:line:col: message`.
//!
//! What this module is not: the checks and the running listeners are built by `output::listeners` from these
//! specs (see `docs/listeners.md` for every option).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::yaml::{Expr, Located};

/// One `listeners.<name>` entry. Options that do not apply to its `type` are refused when it is built.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    /// `console`, `log`, `csv`, `jsonl`, `webhook`, `email`, `exec`.
    #[serde(rename = "type")]
    pub kind: Option<Expr>,
    /// `notice` (default), `warning` or `error`: events below it are not sent.
    pub min_severity: Option<Expr>,
    /// Expression over the alert (`Alert`, `evt`): only events for which it is true are sent.
    pub filter: Option<Expr>,
    /// At most `max` events per `per` (wall clock), in bursts of up to `max`.
    pub rate_limit: Option<Located<RateLimitSpec>>,
    /// Events waiting for the listener's worker; when full, new events are dropped (and counted).
    pub queue_size: Option<Located<u64>>,
    /// `text`, `json` (the Correlator event) or `alert` (the alert object).
    pub format: Option<Expr>,

    // jsonl
    pub path: Option<Expr>,
    // csv
    pub dir: Option<Expr>,
    pub escape_formulas: Option<Located<bool>>,

    // webhook
    pub url: Option<Expr>,
    pub method: Option<Expr>,
    pub headers: Option<Located<BTreeMap<String, String>>>,
    /// Template of the request body (default: the JSON of `format`).
    pub body: Option<Expr>,
    pub content_type: Option<Expr>,
    pub proxy: Option<Expr>,

    // webhook, email, exec
    pub timeout: Option<Expr>,
    // webhook, email
    pub retries: Option<Located<u32>>,
    pub backoff: Option<Expr>,

    // email
    pub host: Option<Expr>,
    pub port: Option<Located<u16>>,
    /// `starttls` (default), `tls` (implicit TLS) or `none`.
    pub tls: Option<Expr>,
    pub username: Option<Expr>,
    pub password: Option<Expr>,
    /// Name of an environment variable holding the password (keeps secrets out of the file).
    pub password_env: Option<Expr>,
    pub from: Option<Expr>,
    pub to: Option<Located<Vec<String>>>,
    pub subject: Option<Expr>,
    /// Template of the HTML part (values HTML-escaped); the plain-text part is `body`.
    pub html_body: Option<Expr>,
    /// Name given in the SMTP greeting (EHLO); default `localhost`.
    pub helo_name: Option<Expr>,

    // exec
    /// Program and arguments; no shell, never any event field.
    pub command: Option<Located<Vec<String>>>,
}

/// `rate_limit: {max: 20, per: 1h}`. `max: 0` turns a default limit off.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    pub max: u32,
    /// Go duration.
    pub per: Option<Expr>,
}

impl ListenerSpec {
    /// The options that are set, with their name and position (the common ones excluded): what the listener's
    /// type must accept.
    pub fn specific_options(&self) -> Vec<(&'static str, (u32, u32))> {
        let e = |name: &'static str, v: &Option<Expr>| v.as_ref().map(|x| (name, (x.line, x.col)));
        fn l<T>(name: &'static str, v: &Option<Located<T>>) -> Option<(&'static str, (u32, u32))> {
            v.as_ref().map(|x| (name, super::yaml::position(x)))
        }
        [
            e("path", &self.path),
            e("dir", &self.dir),
            l("escape_formulas", &self.escape_formulas),
            e("url", &self.url),
            e("method", &self.method),
            l("headers", &self.headers),
            e("body", &self.body),
            e("content_type", &self.content_type),
            e("proxy", &self.proxy),
            e("timeout", &self.timeout),
            l("retries", &self.retries),
            e("backoff", &self.backoff),
            e("host", &self.host),
            l("port", &self.port),
            e("tls", &self.tls),
            e("username", &self.username),
            e("password", &self.password),
            e("password_env", &self.password_env),
            e("from", &self.from),
            l("to", &self.to),
            e("subject", &self.subject),
            e("html_body", &self.html_body),
            e("helo_name", &self.helo_name),
            l("command", &self.command),
            e("format", &self.format),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The listeners of a configuration: what is defined, and which are enabled.
#[derive(Clone, Debug, Default)]
pub struct ListenersSettings {
    /// The config file the specs come from (for error messages); `None` for built-in defaults.
    pub file: Option<PathBuf>,
    /// Relative paths in specs (files, directories, programs) are relative to this directory.
    pub base: PathBuf,
    /// `listeners:`, by name.
    pub defined: BTreeMap<String, Located<ListenerSpec>>,
    /// `stack.listeners`, names with their position; `None` = every defined listener.
    pub enabled: Option<Vec<Expr>>,
}

impl ListenersSettings {
    /// No `listeners:` section: one console listener printing text lines, every severity (the behaviour of a
    /// configuration written before listeners existed).
    pub fn is_default(&self) -> bool {
        self.defined.is_empty() && self.enabled.is_none()
    }

    /// Whether `other` configures the same listeners, whatever the YAML positions: a reload rebuilds (and
    /// restarts, resetting queues and rate limits) the listeners only when this is false.
    pub fn same_listeners(&self, other: &ListenersSettings) -> bool {
        let names =
            |s: &ListenersSettings| s.enabled.as_ref().map(|v| v.iter().map(|e| e.src.clone()).collect::<Vec<_>>());
        // Positions are not serialized (`Expr` and `Located` write their value only).
        let specs = |s: &ListenersSettings| serde_json::to_string(&s.defined).ok();
        self.base == other.base && names(self) == names(other) && specs(self).is_some() && specs(self) == specs(other)
    }
}
