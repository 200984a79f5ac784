//! Data-driven check of `ParseDate` against the hub corpus: for every `s02-enrich` `dateparse-enrich` event whose
//! `MarshaledTime` is asserted, one of the strings asserted on the same event (its `Parsed`/`Unmarshaled` values,
//! and date + ' ' + time pairs) must turn into exactly that `MarshaledTime`, with no `StrTimeFormat` or with one of the
//! `StrTimeFormat` layouts the hub parsers set. The clock is pinned in 2026, the year the asserts were generated.

mod common;

use std::collections::BTreeMap;

use correlator::parser::enrich::date::{DateSource, parse_date};
use regex::Regex;

/// Go-quoted string body → text (the asserts only use `\"` and `\\` escapes).
fn unquote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Default)]
struct Evt {
    /// Expected MarshaledTime, or its suffix from index 4 (`[4:]` asserts).
    expected: Option<(bool, String)>,
    values: BTreeMap<String, String>,
}

#[test]
fn parse_date_reproduces_hub_marshaled_times() {
    let shared = common::shared_dir();
    let hub = shared.join("hubtests");
    // StrTimeFormat layouts set by hub parsers (`target: evt.StrTimeFormat` followed by `value: ...`).
    let fmt_re = Regex::new(r#"(?m)target:\s*"?evt\.StrTimeFormat"?\s*\n\s*value:\s*["']?([^"'\n]+)["']?"#).unwrap();
    let mut formats = vec![String::new()];
    let mut stack = vec![hub.join("hub/parsers")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(text) = std::fs::read_to_string(&p) {
                for c in fmt_re.captures_iter(&text) {
                    let f = c[1].trim().to_string();
                    if !formats.contains(&f) {
                        formats.push(f);
                    }
                }
            }
        }
    }
    assert!(formats.len() > 3, "StrTimeFormat layouts found: {formats:?}");

    let line_re = Regex::new(
        r#"^results\["s02-enrich"\]\["crowdsecurity/dateparse-enrich"\]\[(\d+)\]\.Evt\.(Parsed|Unmarshaled|Enriched)((?:\["[^"]*"\])+)(\[4:\])? == "((?:[^"\\]|\\.)*)"\s*$"#,
    )
    .unwrap();
    let now = "2026-12-31T23:59:59.123456789Z".parse().unwrap();
    let (mut checked, mut unresolved) = (0usize, Vec::new());
    let mut failures = Vec::new();
    let mut cases: Vec<_> = std::fs::read_dir(hub.join("tests")).unwrap().flatten().map(|e| e.path()).collect();
    cases.sort();
    for case in cases {
        let Ok(text) = std::fs::read_to_string(case.join("parser.assert")) else { continue };
        let mut events: BTreeMap<usize, Evt> = BTreeMap::new();
        for line in text.lines() {
            let Some(c) = line_re.captures(line.trim()) else { continue };
            let evt = events.entry(c[1].parse().unwrap()).or_default();
            let value = unquote(&c[5]);
            if &c[2] == "Enriched" {
                if &c[3] == r#"["MarshaledTime"]"# {
                    evt.expected = Some((c.get(4).is_some(), value));
                }
            } else {
                evt.values.insert(format!("{}{}", &c[2], &c[3]), value);
            }
        }
        for (idx, evt) in events {
            let Some((suffix, want)) = evt.expected else { continue };
            let mut candidates: Vec<String> = evt.values.values().cloned().collect();
            // Parsers also build StrTime as `<date field> + ' ' + <time field>`.
            let short = |v: &&String| v.len() < 40;
            let dates: Vec<&String> = evt.values.values().filter(short).filter(|v| v.contains(['-', '/'])).collect();
            let times: Vec<&String> = evt.values.values().filter(short).filter(|v| v.contains(':')).collect();
            for d in &dates {
                for t in &times {
                    candidates.push(format!("{d} {t}"));
                }
            }
            let mut parsed_any = false;
            let ok = candidates.iter().any(|v| {
                formats.iter().any(|f| {
                    let got = parse_date(v, f, now);
                    // Small numbers parse as epoch seconds: only a layout parse says "this was the date field".
                    parsed_any |= got.source == DateSource::Layout;
                    if suffix { got.marshaled.get(4..) == Some(want.as_str()) } else { got.marshaled == want }
                })
            });
            let label = format!("{} event {idx}: want {want:?}", case.file_name().unwrap().to_string_lossy());
            if ok {
                checked += 1;
            } else if parsed_any {
                failures.push(format!("{label}, candidates {candidates:?}"));
            } else {
                // The date came from somewhere the asserts do not show (e.g. a JSON field read by an expression).
                unresolved.push(label);
            }
        }
    }
    eprintln!("{checked} MarshaledTime asserts reproduced, {} unresolved (date source not asserted)", unresolved.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 200, "only {checked} asserts checked; unresolved: {unresolved:#?}");
}
