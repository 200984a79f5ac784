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
//!   reverse DFA, and only then runs a backtracker over that span: three passes. Log lines that match nearly
//!   always match from their first byte, so the capture engine (`backtrack`, a backtracker that skips alternatives
//!   which cannot start with the next byte) runs alone, anchored at the start, over the whole expression or the
//!   split head. A match there *is* the leftmost-first match (no match can start further left, and the
//!   backtracker follows the priority order); otherwise the meta regex searches as before. A backtracker that
//!   fails costs several times a DFA that rejects, so unless a match is known to exist (the parent's prefilter
//!   said so) a forward DFA is asked first, except for an expression that matched at byte 0 in at least 7 of 8
//!   recent searches on this thread (the main pattern of a log type): then the backtracker goes first. The order
//!   changes the cost only, never the result. Lines too long for the backtracker's bounded memory go to the meta
//!   regex. For an expression anchored with `^`, no match at byte 0 is no match at all.
//!
//! What this module is not: it does not expand patterns (`expand`, `library`) or decide where results go (parser).

use std::borrow::Cow;
use std::sync::Arc;

use regex::bytes::{CaptureLocations, Regex};
use regex_automata::PatternID;
use regex_automata::util::captures::Captures as HeadLocs;
use regex_automata::util::primitives::NonMaxUsize;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::GrokError;
use super::backtrack::Backtracker;
use super::expand::Expansion;
use crate::event::{FieldKey, field_key, key_order};
use crate::gocompat::regex::builder;

/// A grok expression compiled to one regex plus its semantic → capture-group table. Cheap to clone and shareable
/// between threads.
#[derive(Clone, Debug)]
pub struct CompiledGrok {
    regex: Regex,
    /// Semantic name → absolute capture group. Names are [`FieldKey`]s so callers can store them as map keys
    /// without allocating.
    sems: Arc<[(FieldKey, usize)]>,
    /// Indexes of `sems` in [`key_order`] of their names (stable: a repeated name keeps its definition order), for
    /// [`Captures::iter_in_key_order`].
    by_key: Arc<[usize]>,
    /// The grok text it was compiled from (or the pattern name for `grok.name`).
    source: Arc<str>,
    /// The expression without its trailing rest-of-line group, when it has one (see the module comment).
    head: Option<Arc<TailSplit>>,
    /// The whole expression's backtracker, for the direct capture (see the module comment).
    direct: Option<Arc<Direct>>,
    /// Every match starts at byte 0 (`^`, not multi-line).
    anchored: bool,
}

/// `regex` = `head (.*)` or `head (.*)$`: `head` compiled alone, and the number of the `(.*)` group.
#[derive(Debug)]
struct TailSplit {
    head: regex_automata::meta::Regex,
    /// The head's capture engine, anchored at byte 0.
    direct: Option<Direct>,
    /// The head starts with `^` (not multi-line): it can only match at byte 0.
    anchored: bool,
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
        let head_hir = Hir::concat(head.to_vec());
        let head = crate::gocompat::regex::meta_from_hir(&head_hir).ok()?;
        // The head must number its groups exactly like the whole expression (group 0 is the match).
        (head.group_info().group_len(PatternID::ZERO) == groups).then(|| TailSplit {
            head,
            direct: Direct::of(&head_hir, groups - 1),
            anchored: head_hir.properties().look_set_prefix().contains(Look::Start),
            tail_group: groups,
            dot_all,
        })
    }
}

/// The capture engine over an expression (or a split expression's head), anchored at byte 0.
struct Direct {
    engine: Backtracker,
    /// Capture slots: two per group, group 0 (the match) included.
    slots: usize,
    /// This engine's entry in each thread's [`ODDS`] and [`LAST`]; handed to a later engine once this one is
    /// dropped, so that reloads do not grow every thread's tables.
    id: usize,
    /// Unique to this engine, never reused: what tells a thread's [`LastSearch`] left by an earlier holder of `id`.
    serial: u64,
}

impl Drop for Direct {
    fn drop(&mut self) {
        FREE_DIRECT_IDS.lock().unwrap_or_else(|p| p.into_inner()).push(self.id);
    }
}

/// A backtracker's capture slots: two per group, group 0 (the match) included.
type Slots = Vec<Option<NonMaxUsize>>;

/// What a direct capture found.
enum Attempt {
    Found(Slots),
    /// The expression matches nowhere.
    NoMatch,
    /// No match starting at byte 0; one may start further on.
    NotAtStart,
}

/// How often an engine's recent unhinted searches matched at byte 0, on this thread: (searches, matches), halved
/// when the count reaches [`ODDS_WINDOW`].
#[derive(Clone, Copy, Default)]
struct Odds {
    tries: u16,
    hits: u16,
}

const ODDS_WINDOW: u16 = 1024;

/// Searches before an engine may skip the existence check.
const ODDS_WARMUP: u16 = 32;

static NEXT_DIRECT_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Ids of dropped engines, for the next ones.
static FREE_DIRECT_IDS: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
static NEXT_DIRECT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// Per engine id. Per thread so that counting costs no shared writes between parsing workers. An id's odds
    /// pass to the next engine that gets the id: they only choose the order of two steps whose result is the same,
    /// and a window re-learns them.
    static ODDS: std::cell::RefCell<Vec<Odds>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Per engine id, this thread's last backtracker search (see [`LastSearch`]).
    static LAST: std::cell::RefCell<Vec<LastSearch>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An engine's last search on this thread, replayed for an input that starts with the same bytes as far as that
/// search read: a backtracker's result is a function of the bytes it reads (guards only prune), so such an input
/// gets the same slots. Syslog heads (`Mar  2 00:00:00 srv-web-01 sshd[2601995]: `) often repeat from one line to
/// the next, and the head's search is the costliest step of an sshd line (docs/performance.md, item 43). Where
/// replays are rare (an access log's line starts with the client address), tracking what a search reads and keeping
/// it costs more than it saves, so an engine that replays less than one search in [`REPLAY_MIN_SHARE`] over
/// [`REPLAY_WINDOW`] searches rests for [`REPLAY_REST`] searches.
#[derive(Default)]
struct LastSearch {
    /// The [`Direct::serial`] of the engine this is about.
    owner: u64,
    tries: u16,
    replays: u16,
    /// Searches still to make without the memo.
    resting: u16,
    /// The input up to and including the last position read (all of it when the search saw its end).
    read: Vec<u8>,
    /// The search saw the end of the input: only an input of the same length (and bytes) qualifies.
    saw_end: bool,
    found: bool,
    slots: Slots,
    /// Whether `read` and the rest hold a search at all.
    valid: bool,
}

const REPLAY_WINDOW: u16 = 64;
const REPLAY_MIN_SHARE: u16 = 8;
const REPLAY_REST: u16 = 4096;

impl LastSearch {
    /// Starts over for engine `owner`, keeping the buffers.
    fn forget(&mut self, owner: u64) {
        (self.owner, self.tries, self.replays, self.resting, self.valid) = (owner, 0, 0, 0, false);
    }

    /// Counts a search, and decides whether to rest at the end of a window.
    fn record(&mut self, replayed: bool) {
        self.tries += 1;
        self.replays += u16::from(replayed);
        if self.tries == REPLAY_WINDOW {
            if self.replays * REPLAY_MIN_SHARE < REPLAY_WINDOW {
                self.resting = REPLAY_REST;
            }
            (self.tries, self.replays) = (0, 0);
        }
    }

    fn replays(&self, input: &[u8]) -> bool {
        self.valid && if self.saw_end { input == self.read.as_slice() } else { input.starts_with(&self.read) }
    }
}

impl Odds {
    /// Whether the backtracker should run before the existence check: a failing backtracker costs several times
    /// a rejecting DFA, a succeeding one makes the DFA pass wasted work. Worth it from 7 hits in 8.
    fn backtrack_first(self) -> bool {
        self.tries >= ODDS_WARMUP && u32::from(self.hits) * 8 >= u32::from(self.tries) * 7
    }

    fn record(&mut self, hit: bool) {
        if self.tries == ODDS_WINDOW {
            self.tries /= 2;
            self.hits /= 2;
        }
        self.tries += 1;
        self.hits += u16::from(hit);
    }
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
        let id = FREE_DIRECT_IDS.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let id = id.unwrap_or_else(|| NEXT_DIRECT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let serial = NEXT_DIRECT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(Direct { engine: Backtracker::new(nfa), slots: 2 * (groups + 1), id, serial })
    }

    /// The capture of `input` at byte 0 (which must fit, see [`Direct::takes`]). `known`: a match exists
    /// somewhere; else `exists` tells, and is asked before the backtracker runs unless this engine has recently
    /// matched at byte 0 nearly every time on this thread (see [`Odds`]). The result does not depend on the order.
    fn attempt(&self, input: &[u8], known: bool, exists: impl FnOnce() -> bool) -> Attempt {
        if known {
            return self.search(input).map_or(Attempt::NotAtStart, Attempt::Found);
        }
        // One borrow for the read and the update: `exists` and `search` never touch `ODDS`.
        ODDS.with(|cell| {
            let mut all = cell.borrow_mut();
            if all.len() <= self.id {
                all.resize(self.id + 1, Odds::default());
            }
            let odds = &mut all[self.id];
            if !odds.backtrack_first() && !exists() {
                odds.record(false);
                return Attempt::NoMatch;
            }
            let found = self.search(input);
            odds.record(found.is_some());
            found.map_or(Attempt::NotAtStart, Attempt::Found)
        })
    }

    /// Whether `input` fits the backtracker's bounded memory (checked before anything else is spent on it).
    fn takes(&self, input: &[u8]) -> bool {
        input.len() <= self.engine.max_len()
    }

    /// The capture slots of the match starting at 0; `None` when there is none (or the input is too long).
    fn search(&self, input: &[u8]) -> Option<Slots> {
        if !self.takes(input) {
            return None;
        }
        LAST.with(|cell| {
            // A search never calls back into another, so the cell is free; if it were not, search without it.
            let Ok(mut all) = cell.try_borrow_mut() else { return self.search_plain(input) };
            if all.len() <= self.id {
                all.resize_with(self.id + 1, LastSearch::default);
            }
            let last = &mut all[self.id];
            if last.owner != self.serial {
                // Left by a dropped engine that had this id: its search says nothing about this one's.
                last.forget(self.serial);
            }
            if last.resting > 0 {
                last.resting -= 1;
                return self.search_plain(input);
            }
            if last.replays(input) {
                last.record(true);
                return last.found.then(|| last.slots.clone());
            }
            last.record(false);
            let (slots, reach) = self.search_fresh(input)?;
            last.valid = true;
            last.saw_end = reach >= input.len();
            last.read.clear();
            last.read.extend_from_slice(&input[..input.len().min(reach + 1)]);
            last.found = slots.is_some();
            last.slots.clear();
            last.slots.extend(slots.iter().flatten());
            slots
        })
    }

    /// The backtracker's search, without the memo.
    fn search_plain(&self, input: &[u8]) -> Option<Slots> {
        let mut slots = vec![None; self.slots];
        self.engine.captures(input, &mut slots)?.then_some(slots)
    }

    /// The backtracker's search, and the last position it read (see [`Backtracker::captures_reach`]).
    fn search_fresh(&self, input: &[u8]) -> Option<(Option<Slots>, usize)> {
        let mut slots = vec![None; self.slots];
        let (found, reach) = self.engine.captures_reach(input, &mut slots)?;
        Some((found.then_some(slots), reach))
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
        // the meta regex).
        let direct = match &hir {
            Some(h) if head.is_none() => Direct::of(h, exp.groups).map(Arc::new),
            _ => None,
        };
        let anchored = hir.as_ref().is_some_and(|h| h.properties().look_set_prefix().contains(Look::Start));
        let sems: Arc<[(FieldKey, usize)]> = exp.sems.iter().map(|(k, g)| (field_key(k), *g)).collect();
        let mut by_key: Vec<usize> = (0..sems.len()).collect();
        by_key.sort_by(|&a, &b| key_order(&sems[a].0, &sems[b].0));
        Ok(CompiledGrok { regex, by_key: by_key.into(), sems, source: Arc::from(source), head, direct, anchored })
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
            if let Some(direct) = &split.direct
                && direct.takes(bytes)
            {
                match direct.attempt(bytes, known_match, || split.head.is_match(bytes)) {
                    Attempt::Found(slots) => {
                        let end = slots[1]?.get();
                        let locs = Locs::HeadSlots(slots, split.tail_group, end);
                        return Some(Captures { grok: self, input, locs });
                    }
                    Attempt::NoMatch => return None,
                    // Anchored at the start: no match at byte 0 is no match at all.
                    Attempt::NotAtStart if split.anchored => return None,
                    Attempt::NotAtStart => {}
                }
            }
            let mut locs = split.head.create_captures();
            split.head.captures(bytes, &mut locs);
            let (_, end) = locs.get_match().map(|m| (m.start(), m.end()))?;
            return Some(Captures { grok: self, input, locs: Locs::Head(locs, split.tail_group, end) });
        }
        if let Some(direct) = &self.direct
            && direct.takes(bytes)
        {
            match direct.attempt(bytes, known_match, || self.regex.is_match(bytes)) {
                Attempt::Found(slots) => return Some(Captures { grok: self, input, locs: Locs::Slots(slots) }),
                Attempt::NoMatch => return None,
                // Anchored at the start: no match at byte 0 is no match at all.
                Attempt::NotAtStart if self.anchored => return None,
                Attempt::NotAtStart => {}
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
    Slots(Slots),
    HeadSlots(Slots, usize, usize),
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

    /// [`Captures::iter`] in [`key_order`] of the names (for [`crate::event::FieldMap::merge_sorted`]).
    pub fn iter_in_key_order(&self) -> impl ExactSizeIterator<Item = (&'g FieldKey, Cow<'i, str>)> + '_ {
        self.grok.by_key.iter().map(|&i| {
            let (name, g) = &self.grok.sems[i];
            (name, self.group(*g))
        })
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
            Locs::HeadSlots(_, tail, start) if *tail == g => Some((*start, len)),
            Locs::HeadSlots(slots, _, _) if g == 0 => slots[0].map(|s| (s.get(), len)),
            Locs::Slots(slots) | Locs::HeadSlots(slots, _, _) => {
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
    use super::ODDS;
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
    fn results_do_not_depend_on_the_learned_search_order() {
        let lib = PatternLibrary::new();
        let g = lib.compile("%{IPORHOST:host} port %{INT:port}").unwrap();
        let same = |line: &str| {
            let fast = g.captures(line).map(|c| c.iter().map(|(_, v)| v.into_owned()).collect::<Vec<_>>());
            let plain = g.captures_reference(line).map(|c| c.iter().map(|(_, v)| v.into_owned()).collect::<Vec<_>>());
            assert_eq!(fast, plain, "{line:?}");
        };
        // First with the existence check before the backtracker, then, once this thread has seen it match at
        // byte 0 every time, with the backtracker first: misses and matches further on must not change.
        for round in 0..3 {
            for i in 0..40 {
                same(&format!("10.0.0.{i} port {round}"));
            }
            same("no port here");
            same("from web-01 port 22");
            same("");
        }
        let odds = ODDS.with(|o| o.borrow()[g.direct.as_ref().unwrap().id]);
        assert!(odds.backtrack_first(), "{} of {}", odds.hits, odds.tries);
    }

    #[test]
    fn anchored_expressions_are_captured_directly_and_only_at_byte_0() {
        let lib = PatternLibrary::new();
        // `^`-anchored, with no rest-of-line group to split off (like http-logs' `%{DIR:file_dir}…`, DIR = `^.*/`).
        let g = lib.compile("^%{GREEDYDATA:request}\\?%{WORD:args}").unwrap();
        let h = lib.compile("(?:^.*/)?(%{WORD:w})").unwrap();
        assert!(g.anchored && g.direct.is_some() && !h.anchored);
        let values = |g: &super::CompiledGrok, line: &str, reference: bool| {
            let c = if reference { g.captures_reference(line) } else { g.captures(line) };
            c.map(|c| c.iter().map(|(_, v)| v.into_owned()).collect::<Vec<_>>())
        };
        for round in 0..3 {
            for line in ["/a/b.php?x=1&y=2", "/index.html", "?", "", "/x??y", "/é?ü", &format!("/{round}?r{round}")] {
                assert_eq!(values(&g, line, false), values(&g, line, true), "{line:?}");
                assert_eq!(values(&h, line, false), values(&h, line, true), "{line:?}");
            }
        }
    }

    #[test]
    fn a_replayed_search_gives_what_a_fresh_one_would() {
        let lib = PatternLibrary::new();
        // The shape of syslog's head: the rest of the line is split off, the head is searched by the backtracker.
        let g = lib
            .compile(
                "^%{SYSLOGTIMESTAMP:ts} (%{IPORHOST:host} )?%{PROG:prog}(?:\\[%{POSINT:pid}\\])?: %{GREEDYDATA:msg}",
            )
            .unwrap();
        let direct = g.direct.as_deref().or(g.head.as_ref().and_then(|s| s.direct.as_ref())).unwrap();
        let values = |line: &str, reference: bool| {
            let c = if reference { g.captures_reference(line) } else { g.captures(line) };
            c.map(|c| c.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>())
        };
        let head = "Mar  2 00:00:00 srv-web-01 sshd[2601995]: ";
        let last = |f: fn(&super::LastSearch) -> u16| super::LAST.with(|l| l.borrow().get(direct.id).map_or(0, f));
        // Lines with one head: every search after the first is a replay.
        for i in 0..10 {
            let line = format!("{head}message {i}");
            assert_eq!(values(&line, false), values(&line, true), "{line:?}");
        }
        assert_eq!((last(|l| l.tries), last(|l| l.replays)), (10, 9));
        let mut lines = Vec::new();
        for i in 0..40 {
            // Same head, another message; heads that differ only after a prefix the search may have read;
            // heads cut short (the search sees the end), longer and shorter than the last one.
            lines.push(format!("{head}message {i}"));
            // Differs in the head's last byte.
            lines.push(format!("{}-{i}", &head[..head.len() - 1]));
            lines.push(head.to_string());
            lines.push(head[..head.len() - 2].to_string());
            lines.push(format!("Mar  2 00:00:00 srv-web-01 sshd[26019{i}]: x"));
            lines.push(format!("Mar  2 00:00:00 srv-web-01 sshd: {i}"));
            lines.push(format!("Mar  2 00:00:00 srv-web-0{i} sshd[1]: y"));
            lines.push(format!("Mar  2 00:00:00 sshd[1]: {i}"));
            lines.push(format!("Mar  2 00:00:0{} srv sshd[1]", i % 10));
        }
        for line in &lines {
            assert_eq!(values(line, false), values(line, true), "{line:?}");
        }
    }

    #[test]
    fn an_engine_that_gets_a_dropped_engines_id_does_not_replay_its_search() {
        let lib = PatternLibrary::new();
        // Other tests create engines at the same time and may take the freed id first: try until it is ours.
        for _ in 0..100 {
            // `a` reads "x y " and captures "x" and "y"; `b` matches the same input differently.
            let a = lib.compile("^%{WORD:a} %{WORD:b}").unwrap();
            assert_eq!(a.captures("x y z").unwrap().get("a").as_deref(), Some("x"));
            let id = a.direct.as_deref().unwrap().id;
            drop(a);
            let b = lib.compile("^%{GREEDYDATA:a} %{WORD:b}").unwrap();
            if b.direct.as_deref().unwrap().id == id {
                assert_eq!(b.captures("x y z").unwrap().get("a").as_deref(), Some("x y"));
                return;
            }
        }
        panic!("no engine ever got the id of a dropped one");
    }

    #[test]
    fn an_engine_whose_searches_seldom_replay_rests() {
        let lib = PatternLibrary::new();
        let g = lib.compile("^%{IPORHOST:client} %{WORD:verb}").unwrap();
        let direct = g.direct.as_deref().unwrap();
        for i in 0..super::REPLAY_WINDOW {
            let line = format!("10.0.{}.{} GET", i / 200, i % 200);
            assert!(g.captures(&line).is_some());
        }
        let resting = super::LAST.with(|l| l.borrow()[direct.id].resting);
        assert_eq!(resting, super::REPLAY_REST);
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
