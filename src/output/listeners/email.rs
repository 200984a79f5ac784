//! `email`: one message per event over SMTP (`lettre`, rustls): subject, plain-text body and optional HTML body
//! from templates (defaults: `[correlator] <severity>: <summary>`, and a text body with the summary, the message,
//! the data block and the original log lines), STARTTLS (default), implicit TLS or plain SMTP, optional login.
//!
//! Temporary SMTP failures (connection errors, timeouts, 4xx replies) are retried with backoff; 5xx replies are
//! not. Mail is the listener an attack floods first, so it gets a default rate limit (see `output::dispatch`).
//! The HTML body template HTML-escapes every value; the subject is folded to one line, so a value with line breaks
//! cannot add headers.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};

use crate::config::listeners::ListenerSpec;
use crate::output::event::EventView;
use crate::output::template::{Escape, Template};

use super::retry::{Attempt, Retry};
use super::{Item, Listener, SpecCtx, excerpt};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No encryption (a local relay).
    None,
}

#[derive(Clone, Debug)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub subject: Option<Template>,
    pub body: Option<Template>,
    pub html_body: Option<Template>,
    pub helo_name: String,
    pub timeout: Duration,
    pub retry: Retry,
}

pub struct EmailListener {
    cfg: EmailConfig,
    transport: SmtpTransport,
}

/// Longest subject kept, in bytes.
const MAX_SUBJECT: usize = 200;

impl EmailListener {
    pub fn new(cfg: EmailConfig) -> Result<EmailListener, String> {
        let tls = |host: &str| TlsParameters::new(host.to_string()).map_err(|e| format!("TLS: {e}"));
        let mut b = SmtpTransport::builder_dangerous(cfg.host.as_str())
            .port(cfg.port)
            .timeout(Some(cfg.timeout))
            .hello_name(ClientId::Domain(cfg.helo_name.clone()));
        b = match cfg.tls {
            TlsMode::StartTls => b.tls(Tls::Required(tls(&cfg.host)?)),
            TlsMode::Implicit => b.tls(Tls::Wrapper(tls(&cfg.host)?)),
            TlsMode::None => b.tls(Tls::None),
        };
        if let Some((u, p)) = &cfg.credentials {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(EmailListener { transport: b.build(), cfg })
    }

    pub fn from_spec(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<EmailListener> {
        let host = ctx.required(&spec.host, "host", pos).map(|h| h.src.trim().to_string());
        let tls = match spec.tls.as_ref().map(|t| (t, t.src.trim())) {
            None | Some((_, "starttls")) => TlsMode::StartTls,
            Some((_, "tls")) => TlsMode::Implicit,
            Some((_, "none")) => TlsMode::None,
            Some((e, other)) => {
                ctx.err_expr(e, format!("tls {other:?}: expected starttls, tls or none"));
                TlsMode::StartTls
            }
        };
        let port = spec.port.as_ref().map(|p| p.value).unwrap_or(match tls {
            TlsMode::StartTls => 587,
            TlsMode::Implicit => 465,
            TlsMode::None => 25,
        });
        let from = ctx.required(&spec.from, "from", pos).and_then(|f| match f.src.trim().parse::<Mailbox>() {
            Ok(m) => Some(m),
            Err(e) => {
                ctx.err_expr(f, format!("from {:?}: {e}", f.src));
                None
            }
        });
        let mut to = Vec::new();
        match &spec.to {
            None => ctx.err_at(pos, "`to` is required".into()),
            Some(list) if list.value.is_empty() => {
                ctx.err_at(crate::config::yaml::position(list), "`to` is empty".into())
            }
            Some(list) => {
                for a in &list.value {
                    match a.trim().parse::<Mailbox>() {
                        Ok(m) => to.push(m),
                        Err(e) => ctx.err_at(crate::config::yaml::position(list), format!("to {a:?}: {e}")),
                    }
                }
            }
        }
        let password = match (&spec.password, &spec.password_env) {
            (Some(p), _) => Some(p.src.clone()),
            (None, Some(var)) => match std::env::var(var.src.trim()) {
                Ok(p) => Some(p),
                Err(_) => {
                    ctx.err_expr(var, format!("password_env: environment variable {} is not set", var.src.trim()));
                    None
                }
            },
            (None, None) => None,
        };
        let credentials = match (&spec.username, password) {
            (Some(u), Some(p)) => Some((u.src.clone(), p)),
            (None, None) => None,
            (Some(u), None) => {
                ctx.err_expr(u, "username without password or password_env".into());
                None
            }
            (None, Some(_)) => {
                ctx.err_at(pos, "password without username".into());
                None
            }
        };
        let cfg = EmailConfig {
            host: host?,
            port,
            tls,
            credentials,
            from: from?,
            to,
            subject: ctx.template(&spec.subject, Escape::None),
            body: ctx.template(&spec.body, Escape::None),
            html_body: ctx.template(&spec.html_body, Escape::Html),
            helo_name: spec.helo_name.as_ref().map(|h| h.src.trim().to_string()).unwrap_or_else(|| "localhost".into()),
            timeout: ctx.duration(&spec.timeout, Duration::from_secs(30)),
            retry: Retry {
                retries: spec.retries.as_ref().map(|r| r.value).unwrap_or(2),
                backoff: ctx.duration(&spec.backoff, Duration::from_secs(5)),
            },
        };
        match EmailListener::new(cfg) {
            Ok(l) => Some(l),
            Err(e) => {
                ctx.err_at(pos, e);
                None
            }
        }
    }

    fn render(&self, t: &Option<Template>, what: &str, v: &EventView, ctx: &serde_json::Value) -> Option<String> {
        let t = t.as_ref()?;
        match t.render(ctx) {
            Ok(s) => Some(s),
            Err(e) => {
                crate::warn_limited!(system = %v.system, "e-mail {what} template failed, default used: {e}");
                None
            }
        }
    }

    /// The message for one event.
    pub fn message(&self, v: &EventView) -> Result<Message, String> {
        let ctx = v.template_context();
        let subject = self
            .render(&self.cfg.subject, "subject", v, &ctx)
            .unwrap_or_else(|| format!("[correlator] {}: {}", v.severity.as_str(), v.summary));
        let subject: String =
            subject.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        let text = self.render(&self.cfg.body, "body", v, &ctx).unwrap_or_else(|| default_text(v));
        let mut b = Message::builder().from(self.cfg.from.clone()).subject(excerpt(&subject, MAX_SUBJECT));
        for t in &self.cfg.to {
            b = b.to(t.clone());
        }
        let built = match self.render(&self.cfg.html_body, "html_body", v, &ctx) {
            Some(html) => b.multipart(MultiPart::alternative_plain_html(text, html)),
            None if self.cfg.html_body.is_some() => {
                b.multipart(MultiPart::alternative_plain_html(text.clone(), default_html(v)))
            }
            None => b.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(text)),
        };
        built.map_err(|e| format!("building the message: {e}"))
    }
}

/// The plain-text body used when no `body:` template is set (or it failed).
pub fn default_text(v: &EventView) -> String {
    let mut s = format!("{}\n\n", v.summary);
    if let Some(m) = &v.message {
        s.push_str(m);
        s.push_str("\n\n");
    }
    s.push_str(&format!("severity: {}\nsystem: {}\ntime: {}\n\n", v.severity.as_str(), v.system, v.timestamp));
    for l in v.data_lines() {
        s.push_str(&l);
        s.push('\n');
    }
    if !v.records.is_empty() {
        s.push_str("\nlog lines:\n");
        for r in &v.records {
            s.push_str("  ");
            s.push_str(r);
            s.push('\n');
        }
    }
    s
}

/// The HTML body used when the `html_body:` template fails: the default text, escaped, preformatted.
fn default_html(v: &EventView) -> String {
    let t = default_text(v).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    format!("<pre>{t}</pre>")
}

impl Listener for EmailListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Event(v) = item else { return Ok(()) };
        let msg = self.message(v)?;
        let server = format!("{}:{}", self.cfg.host, self.cfg.port);
        self.cfg.retry.run(|| match self.transport.send(&msg) {
            Ok(_) => Attempt::Done,
            Err(e) if e.is_permanent() => Attempt::Permanent(format!("{server}: {e}")),
            Err(e) => Attempt::Temporary(format!("{server}: {e}")),
        })
    }
}
