//! Writing assert files from what a case run produced, in the shapes cscli's generator uses
//! (HUBTEST-FORMAT.md §3–§4): `len(results)`, per stage/node/index `Success`, every non-empty
//! Parsed/Meta/Enriched value, Unmarshaled leaves, `Whitelisted`; for overflows their sources, the Meta of every
//! kept event, scenario, remediation and event count.
//!
//! Generation works on *facts* (`left side`, expected literal) so that two runs can be compared: a value that
//! changes when only the clock's year changes came from the clock, not the log (a syslog date has no year), and
//! is asserted without its year (`…[4:] == "-02-12T14:10:21Z"`, what hub cases do by hand) or not at all. A value
//! holding the case's absolute log path is asserted through `basename()`, so the case can move.
//!
//! Not here: running cases ([`super::run_case_log`]) or writing the case folder ([`super::create`]).

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use crate::event::Event;

use super::results::ParserDump;

/// An expected value, written as an expr-lang literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// One assertion before rendering: `lhs == lit`.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub lhs: String,
    pub lit: Lit,
}

impl Fact {
    fn new(lhs: String, lit: Lit) -> Fact {
        Fact { lhs, lit }
    }

    /// The assert line.
    pub fn render(&self) -> String {
        match &self.lit {
            Lit::Str(s) => format!("{} == {}", self.lhs, quote(s)),
            Lit::Bool(b) => format!("{} == {b}", self.lhs),
            Lit::Int(i) => format!("{} == {i}", self.lhs),
            Lit::Float(f) => format!("FloatApproxEqual({}, {})", self.lhs, float_literal(*f)),
        }
    }
}

/// Rust prints the shortest text that reads back as the same f64, never with an exponent, so the comparison is
/// exact (cscli's `%f` keeps six decimals); a `.0` keeps it a float literal.
fn float_literal(f: f64) -> String {
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// An expr-lang double-quoted string literal: `\` and `"` escaped, control characters as escapes (an assert
/// file holds one assertion per line, so a newline in a value must not end the line).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Where the case's log is, to turn its absolute path into `basename(...)` assertions.
#[derive(Clone, Debug)]
pub struct PathContext {
    /// `Line.Src` of the run: the absolute path of the log.
    pub log_src: String,
    /// The absolute case directory: other values containing it are not portable and are left out.
    pub case_dir: String,
}

impl PathContext {
    pub fn new(log_src: &str, case_dir: &Path) -> PathContext {
        PathContext { log_src: log_src.to_string(), case_dir: case_dir.to_string_lossy().into_owned() }
    }

    /// A string fact, with the log path handled. `None` when the value is tied to where the case sits.
    fn string_fact(&self, lhs: String, value: &str) -> Option<Fact> {
        if !self.log_src.is_empty() && value == self.log_src {
            let base = value.rsplit('/').next().unwrap_or(value).to_string();
            return Some(Fact::new(format!("basename({lhs})"), Lit::Str(base)));
        }
        if !self.case_dir.is_empty() && self.case_dir != "/" && value.contains(&self.case_dir) {
            return None;
        }
        Some(Fact::new(lhs, Lit::Str(value.to_string())))
    }
}

/// The facts of `parser.assert`, in cscli's order: stages, then nodes, by name; entries in order.
pub fn parser_facts(dump: &ParserDump, paths: &PathContext) -> Vec<Fact> {
    let mut out = Vec::new();
    let stages = dump.stages.len() + usize::from(!dump.stages.contains_key("success"));
    out.push(Fact::new("len(results)".into(), Lit::Int(stages as i64)));
    for (stage, nodes) in &dump.stages {
        for (node, entries) in nodes {
            let base = format!("results[{}][{}]", quote(stage), quote(node));
            out.push(Fact::new(format!("len({base})"), Lit::Int(entries.len() as i64)));
            for (i, (evt, success)) in entries.iter().enumerate() {
                let at = format!("{base}[{i}]");
                out.push(Fact::new(format!("{at}.Success"), Lit::Bool(*success)));
                if *success {
                    event_facts(&at, evt, paths, &mut out);
                }
            }
        }
    }
    out
}

fn event_facts(at: &str, evt: &Event, paths: &PathContext, out: &mut Vec<Fact>) {
    for (field, map) in [("Parsed", &evt.parsed), ("Meta", &evt.meta), ("Enriched", &evt.enriched)] {
        for (k, v) in map.iter().filter(|(_, v)| !v.is_empty()) {
            out.extend(paths.string_fact(format!("{at}.Evt.{field}[{}]", quote(k)), v));
        }
    }
    for (k, v) in evt.unmarshaled() {
        json_facts(format!("{at}.Evt.Unmarshaled[{}]", quote(k)), v, paths, out);
    }
    out.push(Fact::new(format!("{at}.Evt.Whitelisted"), Lit::Bool(evt.whitelisted)));
    if !evt.whitelist_reason().is_empty() {
        out.extend(paths.string_fact(format!("{at}.Evt.WhitelistReason"), evt.whitelist_reason()));
    }
}

/// Leaves of an `Unmarshaled` tree. Lists and nulls are left out, as cscli does; integers too large for an
/// expr-lang integer literal as well.
fn json_facts(lhs: String, v: &serde_json::Value, paths: &PathContext, out: &mut Vec<Fact>) {
    use serde_json::Value as J;
    match v {
        J::Object(m) => {
            for (k, v) in m {
                json_facts(format!("{lhs}[{}]", quote(k)), v, paths, out);
            }
        }
        J::String(s) => out.extend(paths.string_fact(lhs, s)),
        J::Bool(b) => out.push(Fact::new(lhs, Lit::Bool(*b))),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(Fact::new(lhs, Lit::Int(i)));
            } else if n.is_f64()
                && let Some(f) = n.as_f64()
            {
                out.push(Fact::new(lhs, Lit::Float(f)));
            }
        }
        J::Array(_) | J::Null => {}
    }
}

/// The facts of `scenario.assert`, for overflows already in assert order ([`super::results::sort_overflows`]).
pub fn scenario_facts(overflows: &[Event], paths: &PathContext) -> Vec<Fact> {
    let mut out = vec![Fact::new("len(results)".into(), Lit::Int(overflows.len() as i64))];
    for (i, evt) in overflows.iter().enumerate() {
        let Some(ovf) = evt.overflow() else { continue };
        let at = format!("results[{i}].Overflow");
        for (key, src) in &ovf.sources {
            // `"key" in GetSources()` is not an equality: rendered by hand, and kept whatever the other run says.
            out.push(Fact::new(format!("{} in {at}.GetSources()", quote(key)), Lit::Bool(true)));
            let s = format!("{at}.Sources[{}]", quote(key));
            out.extend(paths.string_fact(format!("{s}.IP"), &src.ip));
            out.extend(paths.string_fact(format!("{s}.Range"), &src.range));
            out.extend(paths.string_fact(format!("{s}.GetScope()"), &src.scope));
            out.extend(paths.string_fact(format!("{s}.GetValue()"), &src.value));
        }
        for (j, e) in ovf.alert.events.iter().enumerate() {
            for m in &e.meta {
                out.extend(paths.string_fact(format!("{at}.Alert.Events[{j}].GetMeta({})", quote(&m.key)), &m.value));
            }
        }
        out.push(Fact::new(format!("{at}.Alert.GetScenario()"), Lit::Str(ovf.alert.scenario.clone())));
        out.push(Fact::new(format!("{at}.Alert.Remediation"), Lit::Bool(ovf.alert.remediation)));
        out.push(Fact::new(format!("{at}.Alert.GetEventsCount()"), Lit::Int(ovf.alert.events_count)));
    }
    out
}

/// The assert lines, and the left sides left out because their value depends on the clock.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub lines: Vec<String>,
    /// Values that differed between the two runs in more than the year.
    pub left_out: Vec<String>,
    /// Values asserted without their first four characters (the year).
    pub without_year: usize,
}

/// Renders `facts` of the first run, checked against the same facts of a run whose clock was in another year.
pub fn render(facts: &[Fact], other_year: &[Fact]) -> Rendered {
    let other: HashMap<&str, &Lit> = other_year.iter().map(|f| (f.lhs.as_str(), &f.lit)).collect();
    let mut r = Rendered::default();
    for f in facts {
        if f.lhs.ends_with(".GetSources()") && f.lit == Lit::Bool(true) {
            if other.get(f.lhs.as_str()) == Some(&&f.lit) {
                r.lines.push(f.lhs.clone());
            } else {
                r.left_out.push(f.lhs.clone());
            }
            continue;
        }
        match other.get(f.lhs.as_str()) {
            Some(o) if **o == f.lit => r.lines.push(f.render()),
            Some(Lit::Str(b)) if year_only_difference(&f.lit, b) => {
                let Lit::Str(a) = &f.lit else { continue };
                r.lines.push(format!("{}[4:] == {}", f.lhs, quote(&a[4..])));
                r.without_year += 1;
            }
            _ => r.left_out.push(f.lhs.clone()),
        }
    }
    r
}

/// Two strings that differ only in a leading four-digit year.
fn year_only_difference(a: &Lit, b: &str) -> bool {
    let Lit::Str(a) = a else { return false };
    let year = |s: &str| s.len() > 4 && s.is_char_boundary(4) && s.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    year(a) && year(b) && a[4..] == b[4..] && a[..4] != b[..4]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{AlertEvent, MetaItem, RuntimeAlert, Source};

    #[test]
    fn quoting_survives_the_expression_lexer() {
        let services = Arc::new(crate::expr::Services::new());
        let env = crate::expr::CompileEnv::new(Arc::clone(&services));
        for s in ["plain", "a \"q\" b", r"back\slash", "tab\there", "nl\nx", "bell\u{7}", "é ü 漢"] {
            let prog = crate::expr::compile(&quote(s), &env).unwrap();
            let mut scope = crate::expr::Scope::new(&services);
            assert_eq!(prog.eval(&mut scope).unwrap().as_str(), Some(s));
            assert!(!quote(s).contains('\n'));
        }
    }

    fn paths() -> PathContext {
        PathContext::new("/cases/x/auth.log", Path::new("/cases/x"))
    }

    #[test]
    fn parser_facts_follow_cscli_shapes() {
        let mut dump = ParserDump::default();
        let mut evt = Event::default();
        evt.parsed.insert("program", "sshd");
        evt.parsed.insert("empty", "");
        evt.meta.insert("datasource_path", "/cases/x/auth.log");
        evt.meta.insert("other", "/cases/x/elsewhere");
        evt.unmarshaled_mut().insert("j".into(), serde_json::json!({"n": 4, "f": 0.5, "l": [1], "s": "v", "z": null}));
        dump.stages.entry("s00-raw".into()).or_default().insert("a/b".into(), vec![(evt.clone(), true)]);
        dump.stages.entry("s01-parse".into()).or_default().insert("c/d".into(), vec![(evt, false)]);
        let lines: Vec<String> = parser_facts(&dump, &paths()).iter().map(Fact::render).collect();
        assert_eq!(
            lines,
            [
                "len(results) == 3",
                r#"len(results["s00-raw"]["a/b"]) == 1"#,
                r#"results["s00-raw"]["a/b"][0].Success == true"#,
                r#"results["s00-raw"]["a/b"][0].Evt.Parsed["program"] == "sshd""#,
                r#"basename(results["s00-raw"]["a/b"][0].Evt.Meta["datasource_path"]) == "auth.log""#,
                r#"FloatApproxEqual(results["s00-raw"]["a/b"][0].Evt.Unmarshaled["j"]["f"], 0.5)"#,
                r#"results["s00-raw"]["a/b"][0].Evt.Unmarshaled["j"]["n"] == 4"#,
                r#"results["s00-raw"]["a/b"][0].Evt.Unmarshaled["j"]["s"] == "v""#,
                r#"results["s00-raw"]["a/b"][0].Evt.Whitelisted == false"#,
                r#"len(results["s01-parse"]["c/d"]) == 1"#,
                r#"results["s01-parse"]["c/d"][0].Success == false"#,
            ]
        );
    }

    #[test]
    fn scenario_facts_cover_sources_events_and_alert() {
        let mut ovf = RuntimeAlert::default();
        let src = Source { ip: "1.2.3.4".into(), scope: "Ip".into(), value: "1.2.3.4".into(), ..Source::default() };
        ovf.sources.insert("1.2.3.4".into(), src);
        ovf.alert.scenario = "me/s".into();
        ovf.alert.remediation = true;
        ovf.alert.events_count = 6;
        ovf.alert.events.push(AlertEvent {
            timestamp: String::new(),
            meta: vec![MetaItem { key: "datasource_path".into(), value: "/cases/x/auth.log".into() }],
            raw: String::new(),
        });
        let evt = Event::overflow_event(ovf);
        let facts = scenario_facts(&[evt], &paths());
        let r = render(&facts, &facts);
        assert_eq!(
            r.lines,
            [
                "len(results) == 1",
                r#""1.2.3.4" in results[0].Overflow.GetSources()"#,
                r#"results[0].Overflow.Sources["1.2.3.4"].IP == "1.2.3.4""#,
                r#"results[0].Overflow.Sources["1.2.3.4"].Range == """#,
                r#"results[0].Overflow.Sources["1.2.3.4"].GetScope() == "Ip""#,
                r#"results[0].Overflow.Sources["1.2.3.4"].GetValue() == "1.2.3.4""#,
                r#"basename(results[0].Overflow.Alert.Events[0].GetMeta("datasource_path")) == "auth.log""#,
                r#"results[0].Overflow.Alert.GetScenario() == "me/s""#,
                r#"results[0].Overflow.Alert.Remediation == true"#,
                r#"results[0].Overflow.Alert.GetEventsCount() == 6"#,
            ]
        );
    }

    #[test]
    fn clock_dependent_values_lose_the_year_or_are_left_out() {
        let a = vec![
            Fact::new("t".into(), Lit::Str("2026-02-12T14:10:21Z".into())),
            Fact::new("u".into(), Lit::Str("same".into())),
            Fact::new("v".into(), Lit::Str("now 1".into())),
            Fact::new("w".into(), Lit::Int(1)),
        ];
        let b = vec![
            Fact::new("t".into(), Lit::Str("2030-02-12T14:10:21Z".into())),
            Fact::new("u".into(), Lit::Str("same".into())),
            Fact::new("v".into(), Lit::Str("now 2".into())),
        ];
        let r = render(&a, &b);
        assert_eq!(r.lines, [r#"t[4:] == "-02-12T14:10:21Z""#, r#"u == "same""#]);
        assert_eq!(r.left_out, ["v", "w"]);
        assert_eq!(r.without_year, 1);
    }
}
