//! Look-ahead guards for the grok backtracker: before it explores an alternative that is the way into a large part
//! of the pattern, a lazy DFA of everything that may follow that alternative reads a few bytes ahead and says
//! whether a match can go on that way at all.
//!
//! Why: a backtracker pays for a failing alternative with every state it tries before giving up. On an access-log
//! line `(%{IPORHOST:target_fqdn} )?%{IPORHOST:remote_addr} - …` first reads the client address as the optional
//! virtual host, then all its other readings (IPv4 octets, host-name labels), and tries the eight IPv6 forms on
//! every address: about 180 of the 310 states it stepped per line, none of them part of the match. A DFA of the
//! alternative and its continuation sees the `-` after `178.63.217.136 ` (or the `.` after `178`) in a few table
//! lookups.
//!
//! A guard only ever says "no" when no match can start there (the DFA runs the very alternative and the rest of the
//! pattern from that state, look-arounds included); when it reads [`AHEAD`] bytes without deciding, or the lazy DFA
//! cannot go on (its cache gave up, a byte it was told to quit on), it says "maybe". Skipping an alternative that
//! cannot match changes nothing but the cost (see the backtracker's module comment).
//!
//! A guard that keeps saying "maybe" is pure cost (the IPv4 reading of a client address that is one): each thread
//! counts, per guard, how often it said "no" over its last [`WINDOW`] checks, and rests a guard that did less than
//! one time in [`MIN_REJECT_SHARE`] for [`REST`] checks before it tries it again. This only moves cost, never a
//! result.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use regex_automata::Anchored;
use regex_automata::hybrid::LazyStateID;
use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, NFA, State, Transition};
use regex_automata::util::primitives::{PatternID, StateID};
use regex_automata::util::start;

/// How many bytes a guard reads at most before it answers "maybe". The decisive byte of the access-log prefix is
/// at offset 16 for a dotted IPv4 address; a longer look costs the same on every alternative that does match.
pub const AHEAD: usize = 32;

/// The least number of states an alternative must lead through, that its sibling alternatives cannot reach, to be
/// worth a guard: below that a failure costs fewer steps than the guard's look-ahead.
pub const MIN_REGION: usize = 40;

/// The most guards a backtracker gets (the largest regions first); each is a start state of the lazy DFA.
pub const MAX_GUARDS: usize = 16;

/// How many checks a guard's usefulness is judged over.
pub const WINDOW: u32 = 64;

/// A guard that said "no" to fewer than one check in this many of a window is rested: a "maybe" costs up to
/// [`AHEAD`] DFA steps (a few hundred instructions), a "no" saves from about 40 backtracker steps (a few thousand).
pub const MIN_REJECT_SHARE: u32 = 8;

/// How many checks a rested guard lets through unchecked before it is tried again.
pub const REST: u32 = 1024;

/// The guards of one backtracker: a lazy DFA with one pattern per guarded state, the NFA from that state on.
pub struct Guards {
    dfa: Arc<DFA>,
    /// This guard set's slot in each thread's [`SCRATCH`]; reused once the set is dropped.
    id: usize,
}

/// Ids of [`Guards`] that were dropped, for the next ones (so that a reload does not grow every thread's table).
static FREE_IDS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// A thread's state for one guard set, with the set's DFA (see [`SCRATCH`]).
type Slot = (Weak<DFA>, Box<GuardScratch>);

thread_local! {
    /// This thread's state for each guard set, by id, with the set's DFA (weakly: the slot of a dropped set is
    /// recognised when its id is reused, and the DFA's memory cannot be reused while the slot refers to it).
    /// Thread-local rather than a `regex_automata` `Pool`: a pool hands its fast path to one thread only, and with
    /// two parsing workers the other paid a mutex per search (docs/performance.md, seventh round, item 31).
    static SCRATCH: RefCell<Vec<Option<Slot>>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Guards {
    fn drop(&mut self) {
        FREE_IDS.lock().unwrap_or_else(|p| p.into_inner()).push(self.id);
    }
}

/// A thread's state for one backtracker's guards: the lazy DFA's cache and each guard's record.
pub struct GuardScratch {
    cache: Cache,
    records: Box<[Record]>,
}

/// How a guard did on this thread (see the module comment).
#[derive(Clone, Copy, Default)]
struct Record {
    checks: u32,
    rejects: u32,
    /// Checks still to let through unchecked.
    resting: u32,
}

impl fmt::Debug for Guards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guards").field("patterns", &self.dfa.pattern_len()).finish()
    }
}

impl Guards {
    /// Guards for the states `targets` of `nfa`, pattern `i` for `targets[i]`; `None` if the DFA cannot be built.
    pub fn new(nfa: &NFA, targets: &[StateID]) -> Option<Guards> {
        let copy = copy_from(nfa, targets)?;
        let config = DFA::config().starts_for_each_pattern(true).unicode_word_boundary(true);
        let dfa = DFA::builder().configure(config).build_from_nfa(copy).ok()?;
        let id = FREE_IDS.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let id = id.unwrap_or_else(|| NEXT_ID.fetch_add(1, Ordering::Relaxed));
        Some(Guards { dfa: Arc::new(dfa), id })
    }

    /// Runs `f` with this thread's state for these guards (`None` in the unexpected case that it is in use).
    pub fn with_scratch<R>(&self, f: impl FnOnce(Option<&mut GuardScratch>) -> R) -> R {
        SCRATCH.with(|cell| {
            let Ok(mut slots) = cell.try_borrow_mut() else { return f(None) };
            if slots.len() <= self.id {
                slots.resize_with(self.id + 1, || None);
            }
            let slot = &mut slots[self.id];
            if !slot.as_ref().is_some_and(|(dfa, _)| std::ptr::eq(dfa.as_ptr(), Arc::as_ptr(&self.dfa))) {
                let fresh = GuardScratch {
                    cache: self.dfa.create_cache(),
                    records: vec![Record::default(); self.dfa.pattern_len()].into_boxed_slice(),
                };
                *slot = Some((Arc::downgrade(&self.dfa), Box::new(fresh)));
            }
            f(slot.as_mut().map(|(_, scratch)| &mut **scratch))
        })
    }

    /// Whether the guarded state of pattern `guard` may lead to a match from `at`: false only if it cannot (true
    /// as well while the guard rests). `reach` is raised to the last input position read (`input.len()` when the
    /// end of the input was seen).
    pub fn admits(&self, scratch: &mut GuardScratch, guard: u32, input: &[u8], at: usize, reach: &mut usize) -> bool {
        let Some(record) = scratch.records.get_mut(guard as usize) else { return true };
        if record.resting > 0 {
            record.resting -= 1;
            return true;
        }
        let admitted = self.decide(&mut scratch.cache, guard, input, at, reach).unwrap_or(true);
        let record = &mut scratch.records[guard as usize];
        record.checks += 1;
        record.rejects += u32::from(!admitted);
        if record.checks == WINDOW {
            if record.rejects * MIN_REJECT_SHARE < WINDOW {
                record.resting = REST;
            }
            (record.checks, record.rejects) = (0, 0);
        }
        admitted
    }

    /// `admits`, with `None` for "the DFA could not tell".
    fn decide(&self, cache: &mut Cache, guard: u32, input: &[u8], at: usize, reach: &mut usize) -> Option<bool> {
        let pattern = PatternID::new(guard as usize).ok()?;
        let config = start::Config::new()
            .anchored(Anchored::Pattern(pattern))
            .look_behind(at.checked_sub(1).and_then(|i| input.get(i).copied()));
        let mut sid = self.dfa.start_state(cache, &config).ok()?;
        if let Some(known) = settled(sid) {
            return known;
        }
        let end = input.len().min(at.saturating_add(AHEAD));
        for (i, &b) in input.get(at..end)?.iter().enumerate() {
            *reach = (*reach).max(at + i);
            sid = self.dfa.next_state(cache, sid, b).ok()?;
            if let Some(known) = settled(sid) {
                return known;
            }
        }
        if end < input.len() {
            return None;
        }
        *reach = (*reach).max(input.len());
        let eoi = self.dfa.next_eoi_state(cache, sid).ok()?;
        Some(eoi.is_match())
    }
}

/// What a DFA state says on its own: no match (dead), a match (or a byte the DFA quits on: cannot tell, so
/// `None` from the caller's view is folded into "maybe"), or nothing yet.
fn settled(sid: LazyStateID) -> Option<Option<bool>> {
    if !sid.is_tagged() {
        return None;
    }
    if sid.is_dead() {
        Some(Some(false))
    } else if sid.is_match() {
        Some(Some(true))
    } else if sid.is_quit() || sid.is_unknown() {
        Some(None)
    } else {
        None
    }
}

/// An NFA with one pattern per target: one copy of the states of `nfa` reachable from the targets (capture states
/// become empty ones), that pattern `i` enters at `targets[i]`. The copy belongs to pattern 0, whose match state
/// every pattern shares: a guard asks whether there is a match, never whose.
fn copy_from(nfa: &NFA, targets: &[StateID]) -> Option<NFA> {
    let mut b = thompson::Builder::new();
    b.set_utf8(false);
    b.set_look_matcher(nfa.look_matcher().clone());
    let mut entry: Vec<Option<StateID>> = vec![None; nfa.states().len()];
    let mut order = Vec::new();
    let mut todo = targets.to_vec();
    b.start_pattern().ok()?;
    // An entry (empty, patched below) per reachable state, so that every transition has somewhere to go.
    while let Some(sid) = todo.pop() {
        if entry[sid.as_usize()].is_none() {
            entry[sid.as_usize()] = Some(b.add_empty().ok()?);
            order.push(sid);
            push_successors(nfa.state(sid), &mut todo);
        }
    }
    let to = |s: StateID| entry[s.as_usize()].unwrap_or(StateID::ZERO);
    for &sid in &order {
        let real = match nfa.state(sid) {
            State::ByteRange { trans } => {
                b.add_range(Transition { start: trans.start, end: trans.end, next: to(trans.next) }).ok()?
            }
            State::Sparse(t) => b
                .add_sparse(
                    t.transitions
                        .iter()
                        .map(|tr| Transition { start: tr.start, end: tr.end, next: to(tr.next) })
                        .collect(),
                )
                .ok()?,
            State::Dense(t) => b
                .add_sparse(
                    t.transitions
                        .iter()
                        .enumerate()
                        .filter(|(_, next)| **next != StateID::ZERO)
                        .map(|(byte, next)| Transition { start: byte as u8, end: byte as u8, next: to(*next) })
                        .collect(),
                )
                .ok()?,
            State::Look { look, next } => b.add_look(to(*next), *look).ok()?,
            State::Union { alternates } => b.add_union(alternates.iter().map(|&a| to(a)).collect()).ok()?,
            State::BinaryUnion { alt1, alt2 } => b.add_union(vec![to(*alt1), to(*alt2)]).ok()?,
            State::Capture { next, .. } => to(*next),
            State::Fail => b.add_fail().ok()?,
            State::Match { .. } => b.add_match().ok()?,
        };
        b.patch(to(sid), real).ok()?;
    }
    let mut first = None;
    for (i, &target) in targets.iter().enumerate() {
        if i > 0 {
            b.start_pattern().ok()?;
        }
        let open = b.add_capture_start(to(target), 0, None).ok()?;
        b.finish_pattern(open).ok()?;
        first.get_or_insert(open);
    }
    let start = first.unwrap_or(StateID::ZERO);
    b.build(start, start).ok()
}

/// Pushes the states `state` may go to onto `todo`.
pub fn push_successors(state: &State, todo: &mut Vec<StateID>) {
    match state {
        State::ByteRange { trans } => todo.push(trans.next),
        State::Sparse(t) => todo.extend(t.transitions.iter().map(|tr| tr.next)),
        State::Dense(t) => todo.extend(t.transitions.iter().copied().filter(|&next| next != StateID::ZERO)),
        State::Look { next, .. } | State::Capture { next, .. } => todo.push(*next),
        State::Union { alternates } => todo.extend(alternates.iter().copied()),
        State::BinaryUnion { alt1, alt2 } => todo.extend([*alt1, *alt2]),
        State::Fail | State::Match { .. } => {}
    }
}

/// The states of `nfa` worth a guard, the largest regions first: alternatives that lead through at least
/// [`MIN_REGION`] states before the paths of their alternation join again (its immediate post-dominator), at most
/// [`MAX_GUARDS`] of them. Left out: the steps of a counted repetition (`[0-9A-Za-z-]{0,62}`: two-way alternations
/// that share their way out with the other steps; a guard on every byte of a host name would cost more than the
/// failures it saves).
pub fn targets(nfa: &NFA) -> Vec<StateID> {
    let n = nfa.states().len();
    let mut listed = vec![0u32; n];
    let alternatives = |state: &State| -> Vec<StateID> {
        match state {
            State::Union { alternates } => alternates.to_vec(),
            State::BinaryUnion { alt1, alt2 } => vec![*alt1, *alt2],
            _ => Vec::new(),
        }
    };
    nfa.states().iter().flat_map(alternatives).for_each(|a| listed[a.as_usize()] += 1);
    let ipdom = post_dominators(nfa);
    let mut seen = vec![u32::MAX; n];
    let mut todo = Vec::new();
    let mut found: Vec<(usize, StateID)> = Vec::new();
    let mut mark = 0u32;
    for (u, state) in nfa.states().iter().enumerate() {
        let alts = alternatives(state);
        if alts.is_empty() || (alts.len() == 2 && alts.iter().any(|a| listed[a.as_usize()] > 1)) {
            continue;
        }
        let Some(join) = ipdom[u] else { continue };
        for alt in alts {
            mark = mark.wrapping_add(1);
            seen[u] = mark;
            seen[join.as_usize()] = mark;
            let mut region = 0;
            todo.push(alt);
            while let Some(sid) = todo.pop() {
                if std::mem::replace(&mut seen[sid.as_usize()], mark) != mark {
                    region += 1;
                    push_successors(nfa.state(sid), &mut todo);
                }
            }
            if region >= MIN_REGION {
                found.push((region, alt));
            }
        }
    }
    found.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    let mut chosen = std::collections::HashSet::new();
    found.into_iter().filter(|f| chosen.insert(f.1)).take(MAX_GUARDS).map(|f| f.1).collect()
}

/// Each state's immediate post-dominator: the first state every path from it to the match state goes through
/// (`None` for the match state and for states that cannot reach it). Cooper, Harvey and Kennedy's iterative
/// algorithm on the reversed graph.
fn post_dominators(nfa: &NFA) -> Vec<Option<StateID>> {
    let n = nfa.states().len();
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut succ = Vec::new();
    let mut exit = None;
    for (i, state) in nfa.states().iter().enumerate() {
        if matches!(state, State::Match { .. }) {
            exit.get_or_insert(i);
        }
        succ.clear();
        push_successors(state, &mut succ);
        for s in &succ {
            preds[s.as_usize()].push(i as u32);
        }
    }
    let Some(exit) = exit else { return vec![None; n] };
    // Postorder of the reversed graph from the match state (iterative depth-first search).
    const NONE: u32 = u32::MAX;
    let mut order = vec![NONE; n];
    let mut post = Vec::with_capacity(n);
    let mut on = vec![false; n];
    let mut stack: Vec<(u32, usize)> = vec![(exit as u32, 0)];
    on[exit] = true;
    while let Some(&mut (v, ref mut k)) = stack.last_mut() {
        if let Some(&p) = preds[v as usize].get(*k) {
            *k += 1;
            if !on[p as usize] {
                on[p as usize] = true;
                stack.push((p, 0));
            }
        } else {
            order[v as usize] = post.len() as u32;
            post.push(v);
            stack.pop();
        }
    }
    let mut idom = vec![NONE; n];
    idom[exit] = exit as u32;
    let intersect = |idom: &[u32], mut a: u32, mut b: u32| {
        while a != b {
            while order[a as usize] < order[b as usize] {
                a = idom[a as usize];
            }
            while order[b as usize] < order[a as usize] {
                b = idom[b as usize];
            }
        }
        a
    };
    let mut changed = true;
    while changed {
        changed = false;
        for &v in post.iter().rev().skip(1) {
            succ.clear();
            push_successors(nfa.state(StateID::new_unchecked(v as usize)), &mut succ);
            let mut new = NONE;
            for s in succ.iter().map(|s| s.as_u32()) {
                if idom[s as usize] == NONE {
                    continue;
                }
                new = if new == NONE { s } else { intersect(&idom, s, new) };
            }
            if new != NONE && idom[v as usize] != new {
                idom[v as usize] = new;
                changed = true;
            }
        }
    }
    (0..n).map(|v| (v != exit && idom[v] != NONE).then(|| StateID::new_unchecked(idom[v] as usize))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfa(pattern: &str) -> NFA {
        let hir = crate::gocompat::regex::parse_hir(pattern).unwrap();
        crate::gocompat::regex::nfa_from_hir(&hir).unwrap()
    }

    /// The alternatives of an alternation of `nfa`.
    fn alternatives(state: &State) -> Vec<StateID> {
        match state {
            State::Union { alternates } => alternates.to_vec(),
            State::BinaryUnion { alt1, alt2 } => vec![*alt1, *alt2],
            _ => Vec::new(),
        }
    }

    /// The alternatives of the first alternation an anchored search of `nfa` meets.
    fn first_alternatives(nfa: &NFA) -> Vec<StateID> {
        let mut sid = nfa.start_anchored();
        loop {
            match nfa.state(sid) {
                State::Capture { next, .. } | State::Look { next, .. } => sid = *next,
                state => return alternatives(state),
            }
        }
    }

    /// Each guard's verdict at `at` (the guards rest only after a window, so these are all decided).
    fn verdicts(guards: &Guards, input: &str, at: usize) -> Vec<bool> {
        verdicts_reach(guards, input, at).0
    }

    /// [`verdicts`], and the furthest position they read.
    fn verdicts_reach(guards: &Guards, input: &str, at: usize) -> (Vec<bool>, usize) {
        guards.with_scratch(|scratch| {
            let scratch = scratch.unwrap();
            let mut reach = 0;
            let v = (0..guards.dfa.pattern_len() as u32)
                .map(|g| guards.admits(scratch, g, input.as_bytes(), at, &mut reach))
                .collect();
            (v, reach)
        })
    }

    #[test]
    fn a_guard_answers_for_its_alternative_and_everything_after_it() {
        let n = nfa(r"(?:abc|abd|\bab)x");
        let guards = Guards::new(&n, &first_alternatives(&n)).unwrap();
        assert_eq!(verdicts(&guards, "abdx", 0), [false, true, false]);
        assert_eq!(verdicts(&guards, "abx", 0), [false, false, true]);
        // The look-behind of `\b` is the byte before the position.
        assert_eq!(verdicts(&guards, "-abx", 1), [false, false, true]);
        assert_eq!(verdicts(&guards, "zabx", 1), [false, false, false]);
        // The end of the input decides too: no `x` can follow.
        assert_eq!(verdicts(&guards, "abc", 0), [false, false, false]);
    }

    #[test]
    fn a_guard_that_cannot_decide_within_its_look_ahead_admits() {
        let n = nfa(r"(?:a+b|a+c)");
        let guards = Guards::new(&n, &first_alternatives(&n)).unwrap();
        let far = format!("{}c", "a".repeat(AHEAD + 1));
        assert_eq!(verdicts(&guards, &far, 0), [true, true]);
        let near = format!("{}c", "a".repeat(AHEAD - 2));
        assert_eq!(verdicts(&guards, &near, 0), [false, true]);
        // What a guard reads is part of what a search read: up to the byte that decided (the DFA reports a match
        // one byte late), or the end of the input.
        assert_eq!(verdicts_reach(&guards, "aac-----", 0), (vec![false, true], 3));
        assert_eq!(verdicts_reach(&guards, "aa", 0), (vec![false, false], 2));
    }

    #[test]
    fn a_guard_that_keeps_admitting_rests_and_then_is_tried_again() {
        let n = nfa(r"(?:a+b|a+c)");
        let guards = Guards::new(&n, &first_alternatives(&n)).unwrap();
        guards.with_scratch(|scratch| {
            let scratch = scratch.unwrap();
            for _ in 0..WINDOW {
                assert!(guards.admits(scratch, 0, b"aab", 0, &mut 0));
            }
            // Resting: lets through what it would refuse.
            for _ in 0..REST {
                assert!(guards.admits(scratch, 0, b"aac", 0, &mut 0));
            }
            assert!(!guards.admits(scratch, 0, b"aac", 0, &mut 0));
            // A guard that refuses often enough is never rested.
            for _ in 0..2 * WINDOW {
                assert!(!guards.admits(scratch, 1, b"aab", 0, &mut 0));
            }
            assert_eq!(scratch.records[1].resting, 0);
        });
    }

    #[test]
    fn a_dropped_guard_sets_id_and_thread_state_go_to_the_next_one() {
        let n = nfa(r"(?:a+b|a+c)");
        let first = Guards::new(&n, &first_alternatives(&n)).unwrap();
        first.with_scratch(|s| s.unwrap().records[0].checks = 7);
        let id = first.id;
        drop(first);
        // Usually the freed id comes back; made sure of here (another test's thread may have taken it first).
        let mut second = Guards::new(&n, &first_alternatives(&n)).unwrap();
        second.id = id;
        // Fresh records, not the dropped set's.
        second.with_scratch(|s| assert_eq!(s.unwrap().records[0].checks, 0));
    }

    #[test]
    fn alternatives_rejoin_at_their_post_dominator() {
        let n = nfa(r"(?:ab|cd)e");
        let ipdom = post_dominators(&n);
        let mut union = n.start_anchored();
        while let State::Capture { next, .. } = n.state(union) {
            union = *next;
        }
        let join = ipdom[union.as_usize()].unwrap();
        assert!(matches!(n.state(join), State::ByteRange { trans } if trans.start == b'e'), "{:?}", n.state(join));
    }

    #[test]
    fn the_access_log_prefix_and_ipv6_get_guards_host_name_steps_do_not() {
        let lib = crate::grok::PatternLibrary::new();
        let grok =
            lib.compile(r#"(%{IPORHOST:vhost} )?%{IPORHOST:client} - \[%{HTTPDATE:date}\] "%{DATA:request}""#).unwrap();
        let n = nfa(grok.regex_str());
        let targets = targets(&n);
        assert!(!targets.is_empty() && targets.len() <= MAX_GUARDS);
        let guards = Guards::new(&n, &targets).unwrap();
        let plain = r#"178.63.217.136 - [02/Mar/2026:00:00:05 +0000] "GET / HTTP/1.1""#;
        let refused = verdicts(&guards, plain, 0).iter().filter(|v| !**v).count();
        // The optional virtual host and each IPv6 reading of the address: refused at the first byte.
        assert!(refused >= 2, "{refused} of {}", targets.len());
        // No guard sits on a step of a counted repetition (a host-name label's `{0,62}`): such a step's
        // alternation shares its way out with the other steps.
        let mut listed = vec![0; n.states().len()];
        n.states().iter().flat_map(alternatives).for_each(|a| listed[a.as_usize()] += 1);
        for state in n.states() {
            let alts = alternatives(state);
            if alts.len() == 2 && alts.iter().any(|a| listed[a.as_usize()] > 1) {
                assert!(!alts.iter().any(|a| targets.contains(a)), "{state:?}");
            }
        }
    }
}
