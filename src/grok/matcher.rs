//! A compiled grok expression and its match results.
//!
//! Matching is CrowdSec's `FindStringSubmatch`: an unanchored, leftmost-first search; the result holds every
//! semantic of the expression, `""` for a group that did not take part. QUIRK kept: an expression without any
//! semantic never succeeds (CrowdSec treats an empty result map as a failed match).
//!
//! What this module is not: it does not expand patterns (`expand`, `library`) or decide where results go (parser).

use std::borrow::Cow;
use std::sync::Arc;

use regex::bytes::{CaptureLocations, Regex};

use super::GrokError;
use super::expand::Expansion;
use crate::gocompat::regex::builder;

/// A grok expression compiled to one regex plus its semantic → capture-group table. Cheap to clone and shareable
/// between threads.
#[derive(Clone, Debug)]
pub struct CompiledGrok {
    regex: Regex,
    /// Semantic name → absolute capture group. Names are shared `Arc<str>` so callers can store them as map keys
    /// without allocating.
    sems: Arc<[(Arc<str>, usize)]>,
    /// The grok text it was compiled from (or the pattern name for `grok.name`).
    source: Arc<str>,
}

impl CompiledGrok {
    pub(crate) fn new(source: &str, exp: &Expansion) -> Result<Self, GrokError> {
        let regex = builder(&exp.regex).build().map_err(|e| GrokError::Regex {
            pattern: source.to_string(),
            message: crate::gocompat::regex::error_message(&e),
        })?;
        // The semantic table indexes groups by position: any capturing group the expansion did not account for
        // would shift them, so refuse rather than report wrong fields.
        if regex.captures_len() != exp.groups + 1 {
            return Err(GrokError::Regex {
                pattern: source.to_string(),
                message: format!("expected {} capture groups, the regex has {}", exp.groups, regex.captures_len() - 1),
            });
        }
        Ok(CompiledGrok { regex, sems: exp.sems.clone().into(), source: Arc::from(source) })
    }

    /// The grok expression (or pattern name) this was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The expanded regex, in the syntax of `gocompat::regex::builder`.
    pub fn regex_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The semantics a successful match reports, in definition order.
    pub fn semantics(&self) -> impl ExactSizeIterator<Item = &Arc<str>> + '_ {
        self.sems.iter().map(|(k, _)| k)
    }

    /// Whether the regex matches anywhere in `input` (a grok match additionally needs a semantic).
    pub fn is_match(&self, input: &str) -> bool {
        self.regex.is_match(input.as_bytes())
    }

    /// Searches `input`; `None` when nothing matches or the expression has no semantic.
    pub fn captures<'g, 'i>(&'g self, input: &'i str) -> Option<Captures<'g, 'i>> {
        if self.sems.is_empty() {
            return None;
        }
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read(&mut locs, input.as_bytes())?;
        Some(Captures { grok: self, input, locs })
    }
}

/// The result of a successful [`CompiledGrok::captures`]: every semantic with its value.
#[derive(Debug)]
pub struct Captures<'g, 'i> {
    grok: &'g CompiledGrok,
    input: &'i str,
    locs: CaptureLocations,
}

impl<'g, 'i> Captures<'g, 'i> {
    /// Every semantic and its value (`""` when its group did not take part), in definition order. Values borrow
    /// the input; a value is only copied in the corner case where a byte-level class split a multi-byte character.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'g Arc<str>, Cow<'i, str>)> + '_ {
        self.grok.sems.iter().map(|(name, g)| (name, self.group(*g)))
    }

    /// The value of one semantic, `None` if the expression has no such semantic.
    pub fn get(&self, semantic: &str) -> Option<Cow<'i, str>> {
        self.grok.sems.iter().find(|(k, _)| &**k == semantic).map(|(_, g)| self.group(*g))
    }

    /// Number of semantics (never 0).
    pub fn len(&self) -> usize {
        self.grok.sems.len()
    }

    /// Always false: a match without semantics is not a match.
    pub fn is_empty(&self) -> bool {
        self.grok.sems.is_empty()
    }

    /// Byte range of the whole match in the input.
    pub fn span(&self) -> (usize, usize) {
        self.locs.get(0).unwrap_or((0, 0))
    }

    fn group(&self, g: usize) -> Cow<'i, str> {
        let input: &'i str = self.input;
        match self.locs.get(g) {
            None => Cow::Borrowed(""),
            Some((s, e)) => match input.get(s..e) {
                Some(v) => Cow::Borrowed(v),
                // The regex works on bytes (Go's ASCII classes); a span can only end inside a character when a
                // pattern puts a byte class right against another. Keep the text valid UTF-8 rather than fail.
                None => String::from_utf8_lossy(&input.as_bytes()[s..e]),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::grok::PatternLibrary;

    #[test]
    fn captures_iterate_without_allocating_names() {
        let lib = PatternLibrary::new();
        let g = lib.compile("%{IP:ip} port %{INT:port}( %{WORD:proto})?").unwrap();
        let c = g.captures("from 10.0.0.1 port 22").unwrap();
        let got: Vec<(&str, String)> = c.iter().map(|(k, v)| (&**k, v.into_owned())).collect();
        assert_eq!(got, vec![("ip", "10.0.0.1".into()), ("port", "22".into()), ("proto", String::new())]);
        assert_eq!(c.span(), (5, 21));
        assert_eq!(c.get("port").as_deref(), Some("22"));
        assert_eq!(c.get("nope"), None);
        let names: Vec<_> = g.semantics().collect();
        // The same Arc is handed out on every match.
        let again = g.captures("1.1.1.1 port 2").unwrap();
        assert!(std::sync::Arc::ptr_eq(names[0], again.iter().next().unwrap().0));
    }

    #[test]
    fn leftmost_first_unanchored() {
        let lib = PatternLibrary::new();
        let g = lib.compile("%{WORD:w}").unwrap();
        assert_eq!(g.captures("  hello world").unwrap().get("w").as_deref(), Some("hello"));
        assert!(g.captures("  ...  ").is_none());
    }

    #[test]
    fn split_characters_stay_valid_utf8() {
        let lib = PatternLibrary::new();
        // NOTSPACE works on bytes: the second group gets the last byte of 'é' only.
        let g = lib.compile("^%{NOTSPACE:a}%{NOTSPACE:b}$").unwrap();
        let c = g.captures("été").unwrap();
        let a = c.get("a").unwrap();
        let b = c.get("b").unwrap();
        assert!(a.starts_with("ét"));
        assert_eq!(b, "\u{fffd}");
    }
}
