//! A compiled grok expression and its match results.
//!
//! Matching is CrowdSec's `FindStringSubmatch`: an unanchored, leftmost-first search; the result holds every
//! semantic of the expression, `""` for a group that did not take part. QUIRK kept: an expression without any
//! semantic never succeeds (CrowdSec treats an empty result map as a failed match).
//!
//! Speed, two shortcuts, each checked against the plain search ([`CompiledGrok::captures_reference`]) on the hub
//! corpus by `tests/grok_hub.rs`:
//!
//! * Tail split. Most syslog-style expressions end in `%{GREEDYDATA:message}` (a last group `(.*)`, perhaps followed
//!   by `$`). On a line without `\n` that group always takes the rest of the line, whatever the text before it
//!   matched (greedy, nothing after it can fail), so the leftmost-first match of the whole expression is the
//!   leftmost-first match of everything before the group, plus the rest of the line. Such expressions also keep a
//!   regex of the part before the group: the search stops where that part ends instead of scanning, reversing and
//!   capturing over the whole message (`^%{SYSLOGLINE}` on an sshd line: about 3× less work). Lines holding `\n`
//!   use the whole regex.
//! * Direct capture. For the groups, the meta regex finds the end of the match with a forward DFA, its start with a
//!   reverse DFA, and only then runs the backtracker over that span: three passes. Log lines that match nearly
//!   always match from their first byte, so once a match is known to exist (a forward DFA said so, stopping at the
//!   first match state, or the parent's prefilter set did), the backtracker runs alone, anchored at the start. A
//!   match there *is* the leftmost-first match (no match can start further left, and the backtracker follows the
//!   priority order); otherwise the meta regex searches as before. The existence check comes first because a
//!   backtracker that fails costs far more than a DFA that rejects. Lines too long for the backtracker's bounded
//!   memory go to the meta regex, and so do expressions anchored with `^` (the meta regex already starts at byte 0
//!   for them, with a one-pass DFA when the pattern allows one) and expressions that split.
//!
//! What this module is not: it does not expand patterns (`expand`, `library`) or decide where results go (parser).

use std::borrow::Cow;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use regex::bytes::{CaptureLocations, Regex};
use regex_automata::nfa::thompson::backtrack::{BoundedBacktracker, Cache};
use regex_automata::util::captures::Captures as HeadLocs;
use regex_automata::util::pool::Pool;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, PatternID};
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::GrokError;
use super::expand::Expansion;
use crate::event::{FieldKey, field_key};
use crate::gocompat::regex::builder;

/// A grok expression compiled to one regex plus its semantic → capture-group table. Cheap to clone and shareable
/// between threads.
#[derive(Clone, Debug)]
pub struct CompiledGrok {
    regex: Regex,
    /// Semantic name → absolute capture group. Names are [`FieldKey`]s so callers can store them as map keys
    /// without allocating.
    sems: Arc<[(FieldKey, usize)]>,
    /// The grok text it was compiled from (or the pattern name for `grok.name`).
    source: Arc<str>,
    /// The expression without its trailing rest-of-line group, when it has one (see the module comment).
    head: Option<Arc<TailSplit>>,
    /// The whole expression's backtracker, for the direct capture (see the module comment).
    direct: Option<Arc<Direct>>,
}

/// `regex` = `head (.*)` or `head (.*)$`: `head` compiled alone, and the number of the `(.*)` group.
#[derive(Debug)]
struct TailSplit {
    head: regex_automata::meta::Regex,
    tail_group: usize,
    /// `(?s)`: the group also takes `\n`, so the rest of the input is the group whatever it holds.
    dot_all: bool,
}

impl TailSplit {
    /// The split of `hir` (`groups` capturing groups), if it ends in a rest-of-line group.
    fn of(hir: &Hir, groups: usize) -> Option<TailSplit> {
        let HirKind::Concat(parts) = hir.kind() else { return None };
        let mut end = parts.len();
        if end > 0 && matches!(parts[end - 1].kind(), HirKind::Look(Look::End)) {
            end -= 1;
        }
        let (last, head) = parts[..end].split_last()?;
        let HirKind::Capture(cap) = last.kind() else { return None };
        if cap.index as usize != groups {
            return None;
        }
        let HirKind::Repetition(rep) = cap.sub.kind() else { return None };
        if rep.min != 0 || rep.max.is_some() || !rep.greedy {
            return None;
        }
        let HirKind::Class(Class::Bytes(class)) = rep.sub.kind() else { return None };
        let ranges: Vec<(u8, u8)> = class.ranges().iter().map(|r| (r.start(), r.end())).collect();
        let dot_all = match ranges.as_slice() {
            [(0x00, 0xFF)] => true,
            [(0x00, 0x09), (0x0B, 0xFF)] => false,
            _ => return None,
        };
        // Nothing to gain when the head is empty or only anchors.
        if head.iter().all(|h| matches!(h.kind(), HirKind::Look(_))) {
            return None;
        }
        // Built from the parsed form: printing it back to text would not keep non-ASCII bytes (`M(?:a|ä)?r`).
        let head = crate::gocompat::regex::meta_from_hir(&Hir::concat(head.to_vec())).ok()?;
        // The head must number its groups exactly like the whole expression (group 0 is the match).
        (head.group_info().group_len(PatternID::ZERO) == groups).then(|| TailSplit {
            head,
            tail_group: groups,
            dot_all,
        })
    }
}

type CacheFn = Box<dyn Fn() -> Cache + Send + Sync + UnwindSafe + RefUnwindSafe>;

/// A bounded backtracker over the whole expression, with a pool of per-thread scratch memory.
struct Direct {
    engine: BoundedBacktracker,
    caches: Pool<Cache, CacheFn>,
    /// Capture slots: two per group, group 0 (the match) included.
    slots: usize,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").field("slots", &self.slots).finish()
    }
}

impl Direct {
    /// The backtracker of `hir` (`groups` capturing groups besides group 0); `None` if it cannot be built.
    fn of(hir: &Hir, groups: usize) -> Option<Direct> {
        let nfa = crate::gocompat::regex::nfa_from_hir(hir).ok()?;
        if nfa.group_info().group_len(PatternID::ZERO) != groups + 1 {
            return None;
        }
        let engine = BoundedBacktracker::new_from_nfa(nfa).ok()?;
        let for_cache = engine.clone();
        let create: CacheFn = Box::new(move || for_cache.create_cache());
        Some(Direct { engine, caches: Pool::new(create), slots: 2 * (groups + 1) })
    }

    /// Whether `input` fits the backtracker's bounded memory (checked before anything else is spent on it).
    fn takes(&self, input: &[u8]) -> bool {
        input.len() <= self.engine.max_haystack_len()
    }

    /// The capture slots of the match starting at 0; `None` when there is none (or the input is too long).
    fn search(&self, input: &[u8]) -> Option<Vec<Option<NonMaxUsize>>> {
        let mut slots = vec![None; self.slots];
        let mut cache = self.caches.get();
        match self.engine.try_search_slots(&mut cache, &Input::new(input).anchored(Anchored::Yes), &mut slots) {
            Ok(Some(_)) => Some(slots),
            _ => None,
        }
    }
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
        let hir = crate::gocompat::regex::parse_hir(&exp.regex).ok();
        let head = hir.as_ref().and_then(|h| TailSplit::of(h, exp.groups)).map(Arc::new);
        // Not for an expression that splits (the head is searched instead; a line holding `\n` is rare enough for
        // the meta regex), nor for one anchored with `^`: the meta regex searches those from byte 0 already, with
        // its one-pass DFA when the pattern allows one, which beats the backtracker.
        let direct = match &hir {
            Some(h) if head.is_none() && !h.properties().look_set_prefix().contains(Look::Start) => {
                Direct::of(h, exp.groups).map(Arc::new)
            }
            _ => None,
        };
        Ok(CompiledGrok {
            regex,
            sems: exp.sems.iter().map(|(k, g)| (field_key(k), *g)).collect(),
            source: Arc::from(source),
            head,
            direct,
        })
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
    pub fn semantics(&self) -> impl ExactSizeIterator<Item = &FieldKey> + '_ {
        self.sems.iter().map(|(k, _)| k)
    }

    /// Whether the regex matches anywhere in `input` (a grok match additionally needs a semantic).
    pub fn is_match(&self, input: &str) -> bool {
        self.regex.is_match(input.as_bytes())
    }

    /// Searches `input`; `None` when nothing matches or the expression has no semantic.
    pub fn captures<'g, 'i>(&'g self, input: &'i str) -> Option<Captures<'g, 'i>> {
        self.captures_known(input, false)
    }

    /// Like [`CompiledGrok::captures`], for an input the caller knows this regex matches (a [`super::GrokSet`]
    /// candidate): skips the existence check. Same result whether or not the input really matches.
    pub fn captures_matching<'g, 'i>(&'g self, input: &'i str) -> Option<Captures<'g, 'i>> {
        self.captures_known(input, true)
    }

    /// [`CompiledGrok::captures_matching`] when `known_match`, else [`CompiledGrok::captures`]: for callers that
    /// learn from a prefilter whether the regex matches.
    pub fn captures_known<'g, 'i>(&'g self, input: &'i str, known_match: bool) -> Option<Captures<'g, 'i>> {
        if self.sems.is_empty() {
            return None;
        }
        let bytes = input.as_bytes();
        if let Some(split) = &self.head
            && (split.dot_all || memchr::memchr(b'\n', bytes).is_none())
        {
            let mut locs = split.head.create_captures();
            split.head.captures(bytes, &mut locs);
            let (_, end) = locs.get_match().map(|m| (m.start(), m.end()))?;
            return Some(Captures { grok: self, input, locs: Locs::Head(locs, split.tail_group, end) });
        }
        if let Some(direct) = &self.direct
            && direct.takes(bytes)
        {
            if !known_match && !self.regex.is_match(bytes) {
                return None;
            }
            if let Some(slots) = direct.search(bytes) {
                return Some(Captures { grok: self, input, locs: Locs::Slots(slots) });
            }
        }
        self.captures_reference(input)
    }

    /// Whether searches skip the trailing rest-of-line group (for tests and `explain`).
    pub fn splits_tail(&self) -> bool {
        self.head.is_some()
    }

    /// The plain search: the whole regex through the meta regex, without the tail split or the direct capture (the
    /// reference those are tested against).
    #[doc(hidden)]
    pub fn captures_reference<'g, 'i>(&'g self, input: &'i str) -> Option<Captures<'g, 'i>> {
        if self.sems.is_empty() {
            return None;
        }
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read(&mut locs, input.as_bytes())?;
        Some(Captures { grok: self, input, locs: Locs::Whole(locs) })
    }
}

/// Group spans of a search: the whole regex's; the head's plus the tail group (its number, where it starts; it
/// ends at the end of the input); or the backtracker's slots (two per group).
#[derive(Debug)]
enum Locs {
    Whole(CaptureLocations),
    Head(HeadLocs, usize, usize),
    Slots(Vec<Option<NonMaxUsize>>),
}

/// The result of a successful [`CompiledGrok::captures`]: every semantic with its value.
#[derive(Debug)]
pub struct Captures<'g, 'i> {
    grok: &'g CompiledGrok,
    input: &'i str,
    locs: Locs,
}

impl<'g, 'i> Captures<'g, 'i> {
    /// Every semantic and its value (`""` when its group did not take part), in definition order. Values borrow
    /// the input; a value is only copied in the corner case where a byte-level class split a multi-byte character.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'g FieldKey, Cow<'i, str>)> + '_ {
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
        self.group_span(0).unwrap_or((0, 0))
    }

    fn group_span(&self, g: usize) -> Option<(usize, usize)> {
        let len = self.input.len();
        match &self.locs {
            Locs::Whole(locs) => locs.get(g),
            Locs::Head(_, tail, start) if *tail == g => Some((*start, len)),
            Locs::Head(locs, _, _) if g == 0 => locs.get_group(0).map(|s| (s.start, len)),
            Locs::Head(locs, _, _) => locs.get_group(g).map(|s| (s.start, s.end)),
            Locs::Slots(slots) => {
                let s = slots.get(2 * g).copied().flatten()?.get();
                let e = slots.get(2 * g + 1).copied().flatten()?.get();
                Some((s, e))
            }
        }
    }

    fn group(&self, g: usize) -> Cow<'i, str> {
        let input: &'i str = self.input;
        let span = self.group_span(g);
        match span {
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
        // The names handed out are the compiled keys themselves: storing one copies it without allocating.
        let again = g.captures("1.1.1.1 port 2").unwrap();
        assert!(std::ptr::eq(names[0], again.iter().next().unwrap().0));
        assert!(names[0].clone().is_static());
    }

    #[test]
    fn leftmost_first_unanchored() {
        let lib = PatternLibrary::new();
        let g = lib.compile("%{WORD:w}").unwrap();
        assert_eq!(g.captures("  hello world").unwrap().get("w").as_deref(), Some("hello"));
        assert!(g.captures("  ...  ").is_none());
    }

    #[test]
    fn trailing_rest_of_line_group_is_split_off() {
        let lib = PatternLibrary::new();
        // CrowdSec's SYSLOGLINE (it lives in the hub's pattern files, not in the base patterns).
        let syslogline = "(?:%{SYSLOGTIMESTAMP:timestamp}|%{TIMESTAMP_ISO8601:timestamp8601}) \
                          (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource}+(?: %{SYSLOGPROG}:|) %{GREEDYDATA:message}";
        let g = lib.compile(&format!("^{syslogline}")).unwrap();
        assert!(g.splits_tail());
        let lines = [
            "Mar  2 14:10:48 host01 sshd[1234]: Failed password for root from 1.2.3.4 port 22 ssh2",
            "Mar  2 14:10:48 host01 sshd[1234]: ",
            "Mar  2 14:10:48 host01 kernel: two\nlines",
            "2026-03-02T14:10:48+00:00 host01 cron[1]: x y z",
            "not syslog",
            "",
        ];
        for line in lines {
            let split = g
                .captures(line)
                .map(|c| (c.span(), c.iter().map(|(k, v)| (k.clone(), v.into_owned())).collect::<Vec<_>>()));
            let whole = g
                .captures_reference(line)
                .map(|c| (c.span(), c.iter().map(|(k, v)| (k.clone(), v.into_owned())).collect::<Vec<_>>()));
            assert_eq!(split, whole, "{line:?}");
        }
        assert_eq!(
            g.captures(lines[0]).unwrap().get("message").as_deref(),
            Some("Failed password for root from 1.2.3.4 port 22 ssh2")
        );
        // `$` after the group, a lazy group before it, and `(?s)`.
        for (pattern, line, want) in [
            ("^%{DATA:a} %{GREEDYDATA:b}$", "x y z", ("x", "y z")),
            ("%{WORD:a}=(?s)%{GREEDYDATA:b}", "k=v\nw", ("k", "v\nw")),
            ("%{WORD:a}=%{GREEDYDATA:b}", "k=v\nw", ("k", "v")),
        ] {
            let g = lib.compile(pattern).unwrap();
            assert!(g.splits_tail(), "{pattern}");
            let c = g.captures(line).unwrap();
            assert_eq!(
                (c.get("a").unwrap().into_owned(), c.get("b").unwrap().into_owned()),
                (want.0.into(), want.1.into())
            );
        }
        // Not split: nothing before the group, a group that is not last, a lazy group.
        for pattern in ["%{GREEDYDATA:a}", "%{GREEDYDATA:a} %{WORD:b}", "%{WORD:a} %{DATA:b}"] {
            assert!(!lib.compile(pattern).unwrap().splits_tail(), "{pattern}");
        }
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
