//! `%{NAME}` / `%{NAME:semantic}` expansion: one grok definition body → one regex text plus the capture group of
//! every semantic it exports.
//!
//! The rules are grokky's (CrowdSec's grok library), because hub parsers depend on them:
//! * every token becomes a group around the expansion of NAME; only tokens with a semantic need to capture, so the
//!   others become `(?:…)` (raw groups of the definitions were already made non-capturing by the translation);
//! * a semantic written directly in an expression shadows the same semantic inherited from any sub-pattern of that
//!   expression ("outer name shadows inner");
//! * when a semantic is mapped more than once, the last token wins (`%{A:x}|%{B:x}` reads `x` from `B` only, so a
//!   match through `A` yields `x = ""`).
//!
//! What this module is not: it does not look names up or detect cycles (the library does, through `resolve`).

use std::sync::Arc;

use super::GrokError;

/// A definition body expanded to regex text.
#[derive(Debug)]
pub(crate) struct Expansion {
    /// Regex text in the syntax `gocompat::regex::builder` accepts; the only capturing groups are semantic ones.
    pub regex: String,
    /// Number of capturing groups in `regex`.
    pub groups: usize,
    /// Semantic → capture group, 1-based relative to `regex`, in first-mapped order.
    pub sems: Vec<(Arc<str>, usize)>,
}

/// One `%{NAME}` or `%{NAME:semantic}` token in a body, by byte range.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub start: usize,
    pub end: usize,
    pub name: &'a str,
    pub semantic: Option<&'a str>,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The grok tokens of `body`, left to right. A `%{` that is not followed by `\w+(:\w+)?}` is not a token (grokky
/// leaves it as literal text, e.g. `%{DATA:amavis_message-id}`).
pub(crate) fn tokens(body: &str) -> Vec<Token<'_>> {
    let b = body.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'%' || b[i + 1] != b'{' {
            i += 1;
            continue;
        }
        let word_end = |from: usize| (from..b.len()).find(|&j| !is_word(b[j])).unwrap_or(b.len());
        let name_end = word_end(i + 2);
        if name_end == i + 2 {
            i += 1;
            continue;
        }
        let (sem, close) = if b.get(name_end) == Some(&b':') {
            let sem_end = word_end(name_end + 1);
            if sem_end == name_end + 1 {
                i += 1;
                continue;
            }
            (Some(&body[name_end + 1..sem_end]), sem_end)
        } else {
            (None, name_end)
        };
        if b.get(close) != Some(&b'}') {
            i += 1;
            continue;
        }
        out.push(Token { start: i, end: close + 1, name: &body[i + 2..name_end], semantic: sem });
        i = close + 1;
    }
    out
}

/// Maps `name` to `group`, replacing an earlier mapping (last occurrence wins) but keeping its position.
fn map_semantic(sems: &mut Vec<(Arc<str>, usize)>, name: &Arc<str>, group: usize) {
    match sems.iter_mut().find(|(k, _)| k == name) {
        Some(entry) => entry.1 = group,
        None => sems.push((Arc::clone(name), group)),
    }
}

/// Expands an already translated body; `resolve` returns the expansion of a referenced name.
pub(crate) fn expand_body(
    translated: &str,
    mut resolve: impl FnMut(&str) -> Result<Arc<Expansion>, GrokError>,
) -> Result<Expansion, GrokError> {
    let toks = tokens(translated);
    let direct: Vec<&str> = toks.iter().filter_map(|t| t.semantic).collect();
    let mut regex = String::with_capacity(translated.len());
    let mut groups = 0;
    let mut sems: Vec<(Arc<str>, usize)> = Vec::new();
    let mut last = 0;
    for tok in &toks {
        regex.push_str(&translated[last..tok.start]);
        let sub = resolve(tok.name)?;
        // Groups of `sub` are numbered after the wrapper group (when it captures) and everything before it.
        let offset = match tok.semantic {
            Some(_) => {
                regex.push('(');
                groups + 1
            }
            None => {
                regex.push_str("(?:");
                groups
            }
        };
        for (name, g) in &sub.sems {
            if !direct.contains(&&**name) {
                map_semantic(&mut sems, name, offset + g);
            }
        }
        if let Some(sem) = tok.semantic {
            let name: Arc<str> = match sems.iter().find(|(k, _)| &**k == sem) {
                Some((k, _)) => Arc::clone(k),
                None => Arc::from(sem),
            };
            map_semantic(&mut sems, &name, groups + 1);
        }
        regex.push_str(&sub.regex);
        regex.push(')');
        groups = offset + sub.groups;
        last = tok.end;
    }
    regex.push_str(&translated[last..]);
    Ok(Expansion { regex, groups, sems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(regex: &str, sems: &[(&str, usize)], groups: usize) -> Arc<Expansion> {
        Arc::new(Expansion {
            regex: regex.to_string(),
            groups,
            sems: sems.iter().map(|(k, g)| (Arc::from(*k), *g)).collect(),
        })
    }

    #[test]
    fn tokens_follow_grokky_syntax() {
        let t = tokens("a%{IP:src} %{WORD}%{x-y} %{A:b-c} %{:x} %{N:}%{Z}");
        let names: Vec<(&str, Option<&str>)> = t.iter().map(|t| (t.name, t.semantic)).collect();
        assert_eq!(names, vec![("IP", Some("src")), ("WORD", None), ("Z", None)]);
        assert_eq!((t[0].start, t[0].end), (1, 10));
    }

    #[test]
    fn last_occurrence_wins_and_outer_shadows_inner() {
        let a = leaf("a", &[], 0);
        let inner = leaf("(x)(y)", &[("x", 1), ("y", 2)], 2);
        let resolve = |n: &str| Ok(if n == "I" { Arc::clone(&inner) } else { Arc::clone(&a) });
        // x from the last branch only.
        let e = expand_body("%{A:x}|%{A:x}", resolve).unwrap();
        assert_eq!(e.regex, "(a)|(a)");
        assert_eq!(e.sems, vec![(Arc::from("x"), 2)]);
        // Inner x is shadowed by the direct x even though the direct token comes later; inner y is inherited.
        let e = expand_body("%{I} %{A:x}", resolve).unwrap();
        assert_eq!(e.regex, "(?:(x)(y)) (a)");
        assert_eq!(e.groups, 3);
        let mut sems = e.sems.clone();
        sems.sort();
        assert_eq!(sems, vec![(Arc::from("x"), 3), (Arc::from("y"), 2)]);
        // A semantic wrapper shifts the inner groups by one.
        let e = expand_body("%{I:whole}", resolve).unwrap();
        assert_eq!(e.regex, "((x)(y))");
        let mut sems = e.sems.clone();
        sems.sort();
        assert_eq!(sems, vec![(Arc::from("whole"), 1), (Arc::from("x"), 2), (Arc::from("y"), 3)]);
    }
}
