//! Printing an [`LineExplanation`]: a text layout for a terminal (colours optional) and one JSON object per line
//! for tools. Log content is attacker-controlled: in text, control characters are escaped so a line cannot send
//! escape sequences to the terminal.

use std::fmt::Write;

use super::{Change, LineExplanation};

/// How to print text.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextStyle {
    pub color: bool,
    /// Also: node origins, partial writes of failed nodes, the final Meta, why scenarios refused the event.
    pub verbose: bool,
}

impl TextStyle {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn ok(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn bad(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn warn(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// Whether to colour: `NO_COLOR` set to anything non-empty turns colours off (no-color.org), and only a terminal
/// gets them.
pub fn color_wanted(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Escapes control characters (and nothing else), for showing log text on a terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A value as a quoted string with JSON escapes.
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn change_line(c: &Change) -> String {
    match (&c.before, &c.after) {
        (None, Some(a)) => format!("+ {} = {}", c.field, q(a)),
        (Some(b), Some(a)) => format!("~ {} = {} (was {})", c.field, q(a), q(b)),
        (Some(b), None) => format!("- {} (was {})", c.field, q(b)),
        (None, None) => format!("  {}", c.field),
    }
}

/// The text explanation of one line (ends with a newline).
pub fn text(e: &LineExplanation, style: &TextStyle) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", style.bold(&format!("line {}:", e.line)), printable(&e.raw));
    if e.stages.is_empty() {
        let _ = writeln!(out, "  {}", style.dim("(no parser node was offered the line)"));
    }
    for st in &e.stages {
        let _ = writeln!(out, "  {}", style.bold(&st.stage));
        for n in &st.nodes {
            let mark = if n.success { style.ok("✓") } else { style.bad("✗") };
            let name = if n.node.is_empty() { "(unnamed node)" } else { n.node.as_str() };
            let mut head = format!("    {mark} {name}");
            if let Some(w) = &n.why {
                let _ = write!(head, ": {}", printable(w));
            }
            if style.verbose && !n.origin.is_empty() {
                let _ = write!(head, "  {}", style.dim(&n.origin));
            }
            let _ = writeln!(out, "{head}");
            if n.success || style.verbose {
                // A field added empty reads exactly like a missing one in expressions (Go's zero value): noise in
                // text (JSON keeps it).
                let shown =
                    n.changes.iter().filter(|c| style.verbose || c.before.is_some() || c.after.as_deref() != Some(""));
                for c in shown {
                    let _ = writeln!(out, "        {}", printable(&change_line(c)));
                }
            }
        }
    }
    match e.result {
        "parsed" => {
            if e.poured.is_empty() {
                let _ = writeln!(out, "  {} parsed; no scenario took it", style.ok("→"));
            } else {
                let _ = writeln!(out, "  {} parsed; poured into {}", style.ok("→"), e.poured.join(", "));
            }
        }
        "whitelisted" => {
            let _ = writeln!(out, "  {} whitelisted: not poured into any scenario", style.warn("→"));
        }
        _ => {
            let stage = e.dropped_at.as_deref().unwrap_or("?");
            let _ = writeln!(
                out,
                "  {} unparsed: no node of {stage} succeeded with onsuccess: next_stage; the line is dropped",
                style.bad("→")
            );
        }
    }
    if let Some(err) = &e.pour_error {
        let _ = writeln!(out, "  {} {}", style.bad("!"), printable(err));
    }
    if style.verbose {
        if !e.meta.is_empty() {
            let meta: Vec<String> = e.meta.iter().map(|(k, v)| format!("{k}={}", q(v))).collect();
            let _ = writeln!(out, "  meta: {}", printable(&meta.join(" ")));
        }
        for n in &e.not_poured {
            let _ = writeln!(out, "  {} {}: {}", style.dim("·"), n.scenario, printable(&n.why));
        }
    }
    for o in &e.overflows {
        let what = if o.whitelisted { "overflow (whitelisted by a postoverflow)" } else { "overflow" };
        let _ = writeln!(
            out,
            "  {} {}: {} from {} after {} events{}",
            style.warn("⚑"),
            what,
            o.scenario,
            printable(&o.sources.join(", ")),
            o.events_count,
            if o.summary.is_empty() { String::new() } else { format!(" — {}", printable(&o.summary)) }
        );
    }
    out
}

/// The JSON explanation of one line (one object, no newline).
pub fn json(e: &LineExplanation) -> String {
    serde_json::to_string(e).unwrap_or_else(|err| format!("{{\"error\": {}}}", q(&err.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_tty_and_no_color() {
        assert!(color_wanted(true, None));
        assert!(!color_wanted(false, None));
        assert!(!color_wanted(true, Some(std::ffi::OsStr::new("1"))));
        assert!(color_wanted(true, Some(std::ffi::OsStr::new(""))));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\x1b[31mb\tc"), "a\\u{1b}[31mb\\u{9}c");
        assert_eq!(printable("plain é"), "plain é");
    }

    #[test]
    fn change_lines() {
        let c = |b: Option<&str>, a: Option<&str>| Change {
            field: "Meta.x".into(),
            before: b.map(str::to_string),
            after: a.map(str::to_string),
        };
        assert_eq!(change_line(&c(None, Some("1"))), r#"+ Meta.x = "1""#);
        assert_eq!(change_line(&c(Some("0"), Some("1"))), r#"~ Meta.x = "1" (was "0")"#);
        assert_eq!(change_line(&c(Some("0"), None)), r#"- Meta.x (was "0")"#);
    }
}
