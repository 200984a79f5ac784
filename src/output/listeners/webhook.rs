//! `webhook`: an HTTP(S) request per event — the event's JSON (`format: json`, or `alert`) or a `body:` template —
//! with configured headers, a timeout for the whole exchange, and retries with exponential backoff on connection
//! errors, timeouts and 5xx answers (not on 4xx, which the same request would get again, nor on redirects, which a
//! webhook endpoint has no reason to send).
//!
//! The client is `ureq` (blocking, rustls): the listener's worker thread is the only caller, so an async client
//! would add a runtime for nothing. Proxies are used only when configured (`proxy:`), never taken from the
//! environment, so an inherited `HTTP_PROXY` cannot divert alerts.

use std::time::Duration;

use ureq::http::{HeaderName, HeaderValue, Uri};

use crate::config::listeners::ListenerSpec;
use crate::output::template::{Escape, Template};

use super::retry::{Attempt, Retry};
use super::{Format, Item, Listener, SpecCtx, excerpt};

/// Settings of a webhook listener, checked.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: String,
    /// `POST` or `PUT`.
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Template>,
    pub content_type: String,
    pub format: Format,
    pub timeout: Duration,
    pub retry: Retry,
    pub proxy: Option<String>,
}

pub struct WebhookListener {
    cfg: WebhookConfig,
    agent: ureq::Agent,
    /// `scheme://host:port` of the URL, for log messages: webhook URLs often carry their secret in the path.
    endpoint: String,
}

/// The part of a URL that is safe to log.
fn endpoint(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme_str().unwrap_or("?"),
            u.host().unwrap_or("?"),
            u.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "(invalid url)".into(),
    }
}

impl WebhookListener {
    pub fn new(cfg: WebhookConfig) -> Result<WebhookListener, String> {
        let proxy = match &cfg.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| format!("proxy {p:?}: {e}"))?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(proxy)
            .user_agent(concat!("correlator/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(WebhookListener { endpoint: endpoint(&cfg.url), cfg, agent: ureq::Agent::new_with_config(config) })
    }

    pub fn from_spec(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<WebhookListener> {
        let url = ctx.required(&spec.url, "url", pos)?;
        match url.src.trim().parse::<Uri>() {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
            _ => ctx.err_expr(url, format!("url {:?}: expected an http:// or https:// URL", url.src)),
        }
        let method = spec.method.as_ref().map(|m| m.src.trim().to_ascii_uppercase()).unwrap_or_else(|| "POST".into());
        if method != "POST" && method != "PUT" {
            ctx.err_expr(spec.method.as_ref().unwrap_or(url), format!("method {method:?}: expected POST or PUT"));
        }
        let mut headers = Vec::new();
        if let Some(h) = &spec.headers {
            for (k, v) in &h.value {
                if HeaderName::from_bytes(k.as_bytes()).is_err() || HeaderValue::from_str(v).is_err() {
                    ctx.err_at(crate::config::yaml::position(h), format!("header {k:?}: invalid name or value"));
                }
                headers.push((k.clone(), v.clone()));
            }
        }
        let content_type =
            spec.content_type.as_ref().map(|c| c.src.trim().to_string()).unwrap_or_else(|| "application/json".into());
        if HeaderValue::from_str(&content_type).is_err() {
            ctx.err_expr(spec.content_type.as_ref().unwrap_or(url), "content_type: invalid header value".into());
        }
        // A JSON body template prints values as JSON literals, so hostile strings cannot break out of them.
        let escape = if content_type.contains("json") { Escape::Json } else { Escape::None };
        let cfg = WebhookConfig {
            url: url.src.trim().to_string(),
            method,
            headers,
            body: ctx.template(&spec.body, escape),
            content_type,
            format: ctx.format(&spec.format, &[Format::Json, Format::Alert], Format::Json),
            timeout: ctx.duration(&spec.timeout, Duration::from_secs(10)),
            retry: Retry {
                retries: spec.retries.as_ref().map(|r| r.value).unwrap_or(3),
                backoff: ctx.duration(&spec.backoff, Duration::from_secs(1)),
            },
            proxy: spec.proxy.as_ref().map(|p| p.src.trim().to_string()),
        };
        match WebhookListener::new(cfg) {
            Ok(l) => Some(l),
            Err(e) => {
                ctx.err_at(pos, e);
                None
            }
        }
    }

    fn body(&self, item: &Item) -> Option<String> {
        let Item::Event(v) = item else { return None };
        if let Some(t) = &self.cfg.body {
            match t.render(&v.template_context()) {
                Ok(b) => return Some(b),
                Err(e) => {
                    crate::warn_limited!(endpoint = %self.endpoint, "webhook body template failed, sending the JSON event: {e}")
                }
            }
        }
        Some(self.cfg.format.json(v))
    }

    fn attempt(&self, body: &str) -> Attempt {
        let mut req = match self.cfg.method.as_str() {
            "PUT" => self.agent.put(&self.cfg.url),
            _ => self.agent.post(&self.cfg.url),
        };
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        let resp = req.content_type(&self.cfg.content_type).send(body.as_bytes());
        match resp {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let text = r
                    .body_mut()
                    .with_config()
                    .limit(4096)
                    .read_to_vec()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let msg = || format!("{} answered {status}: {}", self.endpoint, excerpt(text.trim(), 200));
                match status {
                    200..=299 => Attempt::Done,
                    500..=599 => Attempt::Temporary(msg()),
                    _ => Attempt::Permanent(msg()),
                }
            }
            Err(e) => Attempt::Temporary(format!("{}: {e}", self.endpoint)),
        }
    }
}

impl Listener for WebhookListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Some(body) = self.body(item) else { return Ok(()) };
        self.cfg.retry.run(|| self.attempt(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_endpoint_hides_path_and_query() {
        assert_eq!(endpoint("https://hooks.example.org/services/T0/B0/SECRET?token=x"), "https://hooks.example.org");
        assert_eq!(endpoint("http://127.0.0.1:8080/a"), "http://127.0.0.1:8080");
    }
}
