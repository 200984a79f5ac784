//! Templates of Correlator events (minijinja): scenario `summary:`/`message:`, and listener texts such as webhook
//! bodies and e-mail subjects and bodies.
//!
//! A template is compiled once, when the scenario or listener is loaded, and rendered many times. Its context holds
//! attacker-influenced strings (user agents, user names, raw log lines), so rendering is bounded: a fuel budget
//! stops runaway loops, the output is capped, undefined lookups render as empty instead of failing, and escaping is
//! chosen by what the output is (HTML e-mail bodies are HTML-escaped, JSON bodies JSON-encoded). A template never
//! gets to run a program or read a file: minijinja has no such functions and none are registered.
//!
//! What this module is not: it does not decide what to do when a render fails; callers fall back to a default
//! text and log (rate-limited).

use std::fmt;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Instructions one render may execute. Generous for any real summary or e-mail body (a loop over a hundred kept
/// events with a few lookups each costs a few thousand), small enough that a loop over hostile data ends quickly.
pub const FUEL: u64 = 100_000;

/// Longest rendered text kept, in bytes; longer output is cut at a character boundary.
pub const MAX_OUTPUT: usize = 64 * 1024;

const NAME: &str = "template";

/// How values are escaped when they are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// Printed as they are (summaries, plain-text bodies, subjects).
    None,
    /// HTML-escaped (HTML e-mail bodies).
    Html,
    /// Printed as JSON literals: `{{ summary }}` gives `"…"` with quotes and escapes (JSON webhook bodies).
    Json,
}

/// A compiled template. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Template {
    env: Arc<Environment<'static>>,
    source: Arc<str>,
}

/// A syntax error found when compiling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line within the template text; 0 when unknown.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

impl Template {
    /// Compiles `source`. Errors carry the line within the template so callers can point into their file.
    pub fn compile(source: &str, escape: Escape) -> Result<Template, TemplateError> {
        let mut env = Environment::new();
        env.set_fuel(Some(FUEL));
        // Hostile events lack fields the author expected; a chain of lookups on a missing value renders empty.
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        let mode = match escape {
            Escape::None => AutoEscape::None,
            Escape::Html => AutoEscape::Html,
            Escape::Json => AutoEscape::Json,
        };
        env.set_auto_escape_callback(move |_| mode.clone());
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| TemplateError { line: e.line().unwrap_or(0), message: describe(&e) })?;
        Ok(Template { env: Arc::new(env), source: Arc::from(source) })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `ctx` (a JSON object whose keys become the template's variables). `Err` on a runtime error
    /// (fuel exhausted, a filter given the wrong type, …); output past [`MAX_OUTPUT`] is cut.
    pub fn render(&self, ctx: &serde_json::Value) -> Result<String, String> {
        let t = self.env.get_template(NAME).map_err(|e| describe(&e))?;
        let mut out = t.render(minijinja::Value::from(minijinja::value::Serde(ctx))).map_err(|e| describe(&e))?;
        if out.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_and_nested_lookups() {
        let t = Template::compile("SSH brute force from {{ source_ip }} ({{ events[0].meta.user }})", Escape::None)
            .unwrap();
        let ctx = json!({"source_ip": "1.2.3.4", "events": [{"meta": {"user": "root"}}]});
        assert_eq!(t.render(&ctx).unwrap(), "SSH brute force from 1.2.3.4 (root)");
    }

    #[test]
    fn missing_values_render_empty_even_when_chained() {
        let t = Template::compile("[{{ nope }}][{{ events[3].meta.x }}][{{ a.b.c | default('d') }}]", Escape::None)
            .unwrap();
        assert_eq!(t.render(&json!({"events": []})).unwrap(), "[][][d]");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let e = Template::compile("line one\n{{ oops(", Escape::None).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(!e.message.is_empty());
    }

    #[test]
    fn fuel_stops_runaway_loops() {
        let t = Template::compile(
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
            Escape::None,
        )
        .unwrap();
        let e = t.render(&json!({})).unwrap_err();
        assert!(e.contains("fuel"), "{e}");
    }

    #[test]
    fn output_is_capped_at_a_char_boundary() {
        let t = Template::compile("{{ s }}{{ s }}", Escape::None).unwrap();
        let out = t.render(&json!({"s": "é".repeat(20000)})).unwrap();
        assert!(out.len() <= MAX_OUTPUT && out.len() > MAX_OUTPUT - 4);
        assert!(out.chars().all(|c| c == 'é'));
    }

    #[test]
    fn html_and_json_escaping() {
        let ctx = json!({"ua": "<script>\"x\"</script>"});
        let h = Template::compile("<p>{{ ua }}</p>", Escape::Html).unwrap();
        assert_eq!(h.render(&ctx).unwrap(), "<p>&lt;script&gt;&quot;x&quot;&lt;&#x2f;script&gt;</p>");
        let j = Template::compile("{\"text\": {{ ua }}}", Escape::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&j.render(&ctx).unwrap()).unwrap();
        assert_eq!(v["text"], "<script>\"x\"</script>");
    }

    #[test]
    fn documented_idioms() {
        let ctx = json!({
            "summary": "a \"b\"", "severity": "warning", "records": ["l1", "l\"2"],
            "events": [{"meta": {"u": "root"}}, {"meta": {"u": "admin"}}, {"meta": {"u": "root"}}],
        });
        let j = Template::compile(
            "{\"text\": {{ summary }}, \"s\": {{ severity }}, \"lines\": {{ records }}}",
            Escape::Json,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&j.render(&ctx).unwrap()).unwrap();
        assert_eq!(v, json!({"text": "a \"b\"", "s": "warning", "lines": ["l1", "l\"2"]}));
        let t =
            Template::compile("{{ events | map(attribute='meta.u') | unique | join(', ') }}", Escape::None).unwrap();
        assert_eq!(t.render(&ctx).unwrap(), "root, admin");
        let t = Template::compile("{{ severity | upper }} {{ records | join('\n') }}", Escape::None).unwrap();
        assert_eq!(t.render(&ctx).unwrap(), "WARNING l1\nl\"2");
    }

    #[test]
    fn template_syntax_in_data_is_not_evaluated() {
        let t = Template::compile("{{ ua }}", Escape::None).unwrap();
        assert_eq!(t.render(&json!({"ua": "{{ 7*7 }}{% raw %}"})).unwrap(), "{{ 7*7 }}{% raw %}");
    }
}
