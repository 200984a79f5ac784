//! The capture engine of grok matches: a bounded backtracker over a Thompson NFA, anchored at the start of the
//! input, that skips alternatives which cannot start with the next byte.
//!
//! Why not regex-automata's `BoundedBacktracker`: grok patterns are alternations of large alternatives
//! (`%{IPORHOST}` is IPv6's eight forms, then IPv4, then a hostname: 1,338 NFA states), and that engine pushes
//! every alternative on its stack and steps into it before finding that its first byte does not match, on every
//! host name and address of every line. It also clears its whole visited set (states × input bytes, tens of KB on
//! an access-log line) before each search. Here:
//!
//! * Each state that is the target of an alternation knows the set of bytes its first consuming transition can
//!   take (following captures, alternations and look-around assertions, which consume nothing and can only stop a
//!   path; computed once when the grok is compiled). An alternative whose set does not hold the next byte is not
//!   explored, unless it may reach the match state without consuming, in which case it always is.
//!   An alternation of many branches keeps, per byte class, the mask of its branches that may start with it.
//! * An alternative that is the way into a large part of the pattern (an IPv6 form, an optional `(%{IPORHOST} )?`
//!   prefix) is entered through a guard: a lazy DFA of that alternative and everything after it reads a few bytes
//!   ahead and refuses the position when no match can go on from there (see [`super::guard`]).
//! * Only states with several ways in are recorded in the visited set (the others are reached at most once per
//!   position anyway), and the set remembers which of its words it dirtied and clears only those.
//!
//! Same result as a plain backtracker: a skipped alternative would have failed at its first consuming step, having
//! only marked as visited states that, explored later at the same position, fail the same way (their own first
//! sets are subsets of its one). The search order is the NFA's priority order, so the captures are leftmost-first
//! (tested against regex-automata's backtracker below and, on the hub corpus, against the meta regex by
//! `tests/grok_hub.rs`).
//!
//! The scratch memory (stack, visited set) is one per thread, shared by every grok, and grows to the largest search
//! made; the visited set is bounded by [`MAX_VISITED_BITS`], inputs that would need more are left to the caller's
//! other engine.

use std::cell::RefCell;
use std::collections::HashMap;

use regex_automata::nfa::thompson::{NFA, State};
use regex_automata::util::look::Look;
use regex_automata::util::primitives::{NonMaxUsize, StateID};

use super::guard::{self, GuardScratch, Guards};

/// The largest visited set a search may use, in bits (4 MiB). An `^%{SYSLOGLINE}` NFA of 1,567 states can then
/// search 21,000 bytes; since only dirtied words are cleared, the size costs memory, not time.
pub const MAX_VISITED_BITS: usize = 1 << 25;

/// A compiled backtracker; see the module comment.
#[derive(Debug)]
pub struct Backtracker {
    nfa: NFA,
    /// Per state: index in `firsts` of the bytes the state can start with; 0 for a state that may succeed without
    /// consuming a byte (always explored). Only alternation targets get a set of their own.
    first_of: Box<[u32]>,
    /// Byte sets; entry 0 (every byte) is the "always explore" set. Also holds the classes of `Op::Set`.
    firsts: Box<[ByteSet]>,
    /// Per state: whether a search can reach it more than once at the same position (it has several incoming
    /// edges, or is the start). Only those are recorded in the visited set: a state with one way in is reached
    /// at a position at most once if its predecessor is, so checking it would never stop a path.
    joins: Box<[bool]>,
    /// Per state: what it does, in a flat form (see [`Op`]).
    ops: Box<[Op]>,
    /// The alternatives of the `Op::Alt` alternations, in priority order.
    alts: Box<[u32]>,
    /// The byte ranges of the `Op::Ranges` states: (first byte, last byte, next state).
    ranges: Box<[(u8, u8, u32)]>,
    /// Rows of one mask per byte class (the NFA's equivalence classes of bytes, which no transition tells apart):
    /// bit i set when alternative i may start with a byte of that class. Saves testing each alternative's first
    /// set one by one on the alternations of many branches (months, IPv6 forms).
    masks: Box<[u64]>,
    /// The longest input a search accepts (the visited set's bound).
    max_len: usize,
    /// The look-ahead guards of the `Op::Guard` ops, if any (see [`guard`]).
    guards: Option<Guards>,
}

/// A set of byte values, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const EMPTY: ByteSet = ByteSet([0; 4]);
    const ALL: ByteSet = ByteSet([u64::MAX; 4]);

    fn add_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.0[(b / 64) as usize] |= 1u64 << (b % 64);
        }
    }

    #[inline]
    fn contains(&self, b: u8) -> bool {
        self.0[(b / 64) as usize] & (1u64 << (b % 64)) != 0
    }
}

/// Distinct byte sets, each stored once, by index; index 0 is [`ByteSet::ALL`].
struct SetTable {
    sets: Vec<ByteSet>,
    index: HashMap<ByteSet, u32>,
}

impl SetTable {
    fn new() -> SetTable {
        SetTable { sets: vec![ByteSet::ALL], index: HashMap::from([(ByteSet::ALL, 0)]) }
    }

    fn intern(&mut self, set: ByteSet) -> u32 {
        let fresh = self.sets.len() as u32;
        *self.index.entry(set).or_insert_with(|| {
            self.sets.push(set);
            fresh
        })
    }
}

/// A state of the NFA, copied out of regex-automata's `State` into a compact form with everything a step needs at
/// hand (regex-automata's enum reaches transitions and alternatives through boxes; a step cost about 50
/// instructions).
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Consumes a byte in `lo..=hi`.
    Range {
        lo: u8,
        hi: u8,
        next: u32,
    },
    /// Consumes a byte of the set `firsts[set]` (a class whose bytes all lead to the same state).
    Set {
        set: u32,
        next: u32,
    },
    /// Consumes a byte through `ranges[start..start + len]`.
    Ranges {
        start: u32,
        len: u32,
    },
    Look {
        look: Look,
        next: u32,
    },
    /// Alternatives `alts[start..start + len]`; `row`: where its row starts in `masks`, `u32::MAX` for none (an
    /// alternation of 3 to 64 alternatives has one).
    Alt {
        start: u32,
        len: u32,
        row: u32,
    },
    /// Two alternatives and their first-set indexes (see `first_of`).
    Alt2 {
        a: u32,
        b: u32,
        first_a: u32,
        first_b: u32,
    },
    /// A loop over one byte class (`C*`, the tail of `C+`, and their lazy forms): a two-way alternation whose
    /// loop branch is a state `class` consuming a byte of `firsts[set]` and coming straight back here. Stepped
    /// over the whole run of class bytes at once (see [`Backtracker::star`]); `first_exit` is the first set of
    /// the other branch; `class_join`: the class state has other ways in (`C+` enters the loop through it).
    Star {
        set: u32,
        class: u32,
        exit: u32,
        first_exit: u32,
        greedy: bool,
        class_join: bool,
    },
    Save {
        slot: u32,
        next: u32,
    },
    /// Goes on to `next` if guard pattern `guard` admits the position (see [`guard`]). Not an NFA state: the
    /// alternations that list a guarded state list its guard op instead.
    Guard {
        guard: u32,
        next: u32,
    },
    Fail,
    Match,
}

/// One unit of pending work: explore a state at a position, or put back a capture slot's earlier value.
#[derive(Clone, Copy, Debug)]
enum Frame {
    Explore { sid: StateID, at: usize },
    Restore { slot: usize, offset: Option<NonMaxUsize> },
}

/// Per-thread scratch memory.
#[derive(Default)]
struct Scratch {
    stack: Vec<Frame>,
    /// Bits indexed by `state * (input length + 1) + position`; all zero between searches.
    visited: Vec<u64>,
    /// Indexes of the `visited` words set during the current search.
    dirty: Vec<usize>,
    /// The last input position the current search read, `input.len()` once it saw the end of the input (see
    /// [`Backtracker::captures_reach`]).
    reach: usize,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    /// Marks `(sid, at)` visited; false if it already was.
    #[inline]
    fn visit(&mut self, sid: StateID, at: usize, stride: usize) -> bool {
        self.visit_bit(sid.as_usize() * stride + at)
    }

    /// Marks bit `bit` (`state * stride + position`) visited; false if it already was.
    #[inline]
    fn visit_bit(&mut self, bit: usize) -> bool {
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        let w = &mut self.visited[word];
        if *w & mask != 0 {
            return false;
        }
        if *w == 0 {
            self.dirty.push(word);
        }
        *w |= mask;
        true
    }

    /// Leaves the visited set all zero and the stack empty.
    fn reset(&mut self) {
        for &w in &self.dirty {
            self.visited[w] = 0;
        }
        self.dirty.clear();
        self.stack.clear();
    }
}

impl Backtracker {
    /// The backtracker of `nfa` (one pattern; every capture group's slots are reported).
    pub fn new(nfa: NFA) -> Backtracker {
        let n = nfa.states().len();
        // Alternation targets: the only states where a skip is decided.
        let mut targets = Vec::new();
        for state in nfa.states() {
            match state {
                State::Union { alternates } => targets.extend(alternates.iter().copied()),
                State::BinaryUnion { alt1, alt2 } => targets.extend([*alt1, *alt2]),
                _ => {}
            }
        }
        let mut first_of = vec![0u32; n].into_boxed_slice();
        let mut table = SetTable::new();
        let mut seen = vec![usize::MAX; n];
        let mut todo = Vec::new();
        for (mark, &t) in targets.iter().enumerate() {
            if first_of[t.as_usize()] != 0 {
                continue;
            }
            if let Some(set) = first_bytes(&nfa, t, mark, &mut seen, &mut todo) {
                first_of[t.as_usize()] = table.intern(set);
            }
        }
        let mut flat = Flat::of(&nfa, &first_of, &mut table);
        let mut joins = joins(&nfa);
        flat.find_stars(&joins, &mut table);
        let targets = guard::targets(&nfa);
        let guards = if targets.is_empty() { None } else { Guards::new(&nfa, &targets) };
        if guards.is_some() {
            let (mut first_of_all, mut joins_all) = (first_of.into_vec(), joins.into_vec());
            // Per NFA state, the guard op that replaces it as an alternative (`u32::MAX`: none).
            let mut guard_op = vec![u32::MAX; flat.ops.len()];
            for (i, &t) in targets.iter().enumerate() {
                guard_op[t.as_usize()] = flat.ops.len() as u32;
                flat.ops.push(Op::Guard { guard: i as u32, next: t.as_u32() });
                first_of_all.push(first_of_all[t.as_usize()]);
                joins_all.push(false);
            }
            flat.redirect(&guard_op);
            (first_of, joins) = (first_of_all.into_boxed_slice(), joins_all.into_boxed_slice());
        }
        Backtracker {
            guards,
            joins,
            max_len: (MAX_VISITED_BITS / n.max(1)).saturating_sub(1),
            nfa,
            first_of,
            firsts: table.sets.into_boxed_slice(),
            ops: flat.ops.into_boxed_slice(),
            alts: flat.alts.into_boxed_slice(),
            ranges: flat.ranges.into_boxed_slice(),
            masks: flat.masks.into_boxed_slice(),
        }
    }

    /// The longest input a search accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Searches for a match starting at byte 0, filling `slots` (two per group, group 0 the match; their number
    /// is the caller's, extra NFA slots are ignored). `None` if the input is longer than [`Backtracker::max_len`],
    /// else whether it matched.
    pub fn captures(&self, input: &[u8], slots: &mut [Option<NonMaxUsize>]) -> Option<bool> {
        self.search::<false>(input, slots).map(|(found, _)| found)
    }

    /// [`Backtracker::captures`], also telling the last input position the search read (`input.len()` if it saw
    /// the end of the input): the result is a function of the bytes up to there, so another input with the same
    /// bytes there (and the same length, if the end was seen) gets the same result.
    /// Tracking the reach costs a few per cent of a search, hence two versions.
    pub fn captures_reach(&self, input: &[u8], slots: &mut [Option<NonMaxUsize>]) -> Option<(bool, usize)> {
        self.search::<true>(input, slots)
    }

    fn search<const REACH: bool>(&self, input: &[u8], slots: &mut [Option<NonMaxUsize>]) -> Option<(bool, usize)> {
        if input.len() > self.max_len {
            return None;
        }
        slots.iter_mut().for_each(|s| *s = None);
        SCRATCH.with(|cell| {
            // A search never calls back into another one, so the cell is free; if it were not, it is not an input
            // error but ours: the caller falls back to its other engine.
            let mut scratch = cell.try_borrow_mut().ok()?;
            let stride = input.len() + 1;
            let bits = self.nfa.states().len() * stride;
            let words = bits.div_ceil(64);
            // Cleared before as well as after: a search cut short by a panic (a bug) must not leave its marks for
            // a later search on this thread, should the thread go on.
            scratch.reset();
            if scratch.visited.len() < words {
                scratch.visited.resize(words, 0);
            }
            scratch.reach = 0;
            let found = match &self.guards {
                Some(guards) => guards.with_scratch(|cache| self.run::<REACH>(&mut scratch, input, slots, cache)),
                None => self.run::<REACH>(&mut scratch, input, slots, None),
            };
            scratch.reset();
            Some((found, scratch.reach))
        })
    }

    fn run<const REACH: bool>(
        &self,
        s: &mut Scratch,
        input: &[u8],
        slots: &mut [Option<NonMaxUsize>],
        mut cache: Option<&mut GuardScratch>,
    ) -> bool {
        s.stack.push(Frame::Explore { sid: self.nfa.start_anchored(), at: 0 });
        while let Some(frame) = s.stack.pop() {
            match frame {
                Frame::Restore { slot, offset } => slots[slot] = offset,
                Frame::Explore { sid, at } => {
                    if self.step::<REACH>(s, input, slots, cache.as_deref_mut(), sid, at) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether the alternative starting at `sid` may match at `at` (see the module comment).
    #[inline]
    fn may_start(&self, sid: StateID, input: &[u8], at: usize) -> bool {
        self.starts_with(self.first_of[sid.as_usize()], input, at)
    }

    /// Whether an alternative of first set `first` (an index in `firsts`, 0 for "always") may match at `at`.
    #[inline]
    fn starts_with(&self, first: u32, input: &[u8], at: usize) -> bool {
        if first == 0 {
            return true;
        }
        match input.get(at) {
            Some(&b) => self.firsts[first as usize].contains(b),
            None => false,
        }
    }

    /// Follows one path from `(sid, at)` depth first, pushing the alternatives left behind; true on a match.
    fn step<const REACH: bool>(
        &self,
        s: &mut Scratch,
        input: &[u8],
        slots: &mut [Option<NonMaxUsize>],
        mut cache: Option<&mut GuardScratch>,
        mut sid: StateID,
        mut at: usize,
    ) -> bool {
        let stride = input.len() + 1;
        loop {
            if self.joins[sid.as_usize()] && !s.visit(sid, at, stride) {
                return false;
            }
            let op = &self.ops[sid.as_usize()];
            // The ops that read the input read it at `at` (look-arounds also at `at - 1`, and may see its end);
            // a star or a guard reads further and raises `reach` itself. Saves and the match read nothing: a
            // search's reach ends where its match does, not one byte further.
            if REACH && !matches!(op, Op::Save { .. } | Op::Match | Op::Fail | Op::Guard { .. }) {
                s.reach = s.reach.max(at);
            }
            match *op {
                Op::Range { lo, hi, next } => match input.get(at) {
                    Some(&b) if lo <= b && b <= hi => {
                        sid = StateID::new_unchecked(next as usize);
                        at += 1;
                    }
                    _ => return false,
                },
                Op::Set { set, next } => match input.get(at) {
                    Some(&b) if self.firsts[set as usize].contains(b) => {
                        sid = StateID::new_unchecked(next as usize);
                        at += 1;
                    }
                    _ => return false,
                },
                Op::Ranges { start, len } => {
                    let Some(&b) = input.get(at) else { return false };
                    let span = &self.ranges[start as usize..(start + len) as usize];
                    let Some(&(_, _, next)) = span.iter().find(|r| r.0 <= b && b <= r.1) else { return false };
                    sid = StateID::new_unchecked(next as usize);
                    at += 1;
                }
                Op::Look { look, next } => {
                    if !self.nfa.look_matcher().matches(look, input, at) {
                        return false;
                    }
                    sid = StateID::new_unchecked(next as usize);
                }
                Op::Alt { start, len, row } if row != u32::MAX && at < input.len() => {
                    let alternates = &self.alts[start as usize..(start + len) as usize];
                    let mut viable = self.masks[row as usize + self.nfa.byte_classes().get(input[at]) as usize];
                    if viable == 0 {
                        return false;
                    }
                    let first = viable.trailing_zeros() as usize;
                    viable &= viable - 1;
                    // Pushed last first, so that they pop in priority order.
                    while viable != 0 {
                        let last = 63 - viable.leading_zeros() as usize;
                        s.stack.push(Frame::Explore { sid: StateID::new_unchecked(alternates[last] as usize), at });
                        viable &= !(1u64 << last);
                    }
                    sid = StateID::new_unchecked(alternates[first] as usize);
                }
                Op::Alt { start, len, .. } => {
                    // The first alternative that may start here is followed now, the others pushed so that they
                    // pop in priority order.
                    let alternates = &self.alts[start as usize..(start + len) as usize];
                    let mut viable = alternates
                        .iter()
                        .map(|&a| StateID::new_unchecked(a as usize))
                        .filter(|&a| self.may_start(a, input, at));
                    let Some(first) = viable.next() else { return false };
                    let mark = s.stack.len();
                    s.stack.extend(viable.map(|a| Frame::Explore { sid: a, at }));
                    s.stack[mark..].reverse();
                    sid = first;
                }
                Op::Alt2 { a, b, first_a, first_b } => {
                    let (a, b) = (StateID::new_unchecked(a as usize), StateID::new_unchecked(b as usize));
                    match (self.starts_with(first_a, input, at), self.starts_with(first_b, input, at)) {
                        (true, true) => {
                            s.stack.push(Frame::Explore { sid: b, at });
                            sid = a;
                        }
                        (true, false) => sid = a,
                        (false, true) => sid = b,
                        (false, false) => return false,
                    }
                }
                Op::Star { set, class, exit, first_exit, greedy, class_join } => {
                    let Some(end) = self.star::<REACH>(
                        s,
                        input,
                        stride,
                        sid,
                        at,
                        (set, class, exit, first_exit, greedy, class_join),
                    ) else {
                        return false;
                    };
                    sid = StateID::new_unchecked(exit as usize);
                    at = end;
                }
                Op::Save { slot, next } => {
                    let slot = slot as usize;
                    if let Some(cell) = slots.get_mut(slot) {
                        s.stack.push(Frame::Restore { slot, offset: *cell });
                        *cell = NonMaxUsize::new(at);
                    }
                    sid = StateID::new_unchecked(next as usize);
                }
                Op::Guard { guard, next } => {
                    if let (Some(guards), Some(cache)) = (&self.guards, cache.as_deref_mut())
                        && !guards.admits(cache, guard, input, at, &mut s.reach)
                    {
                        return false;
                    }
                    sid = StateID::new_unchecked(next as usize);
                }
                Op::Fail => return false,
                Op::Match => return true,
            }
        }
    }
}

impl Backtracker {
    /// Runs the loop `Op::Star` of state `sid`, entered (and marked visited) at `at`, over the input's run of class
    /// bytes: where the exit is taken next, or `None` when the path fails. Pushes and marks exactly what stepping
    /// the alternation and the class state one byte at a time would have: the loop state visited at each position
    /// it reaches, the class state too when it is a join (the run stops at a state visited before, as the step
    /// would), and the alternative left behind at each position where both branches may start: the exit there
    /// (greedy, tried after the longer runs) or the class state (lazy, tried after the exit).
    #[inline]
    fn star<const REACH: bool>(
        &self,
        s: &mut Scratch,
        input: &[u8],
        stride: usize,
        sid: StateID,
        at: usize,
        (set, class, exit, first_exit, greedy, class_join): (u32, u32, u32, u32, bool, bool),
    ) -> Option<usize> {
        let set = &self.firsts[set as usize];
        // The branch left behind where both may go on: the exit when greedy, the class when lazy.
        let behind = StateID::new_unchecked(if greedy { exit } else { class } as usize);
        let (loop_bits, class_bits) = (sid.as_usize() * stride, class as usize * stride);
        let mut i = at;
        loop {
            if REACH {
                s.reach = s.reach.max(i);
            }
            let exit_here = self.starts_with(first_exit, input, i);
            let more = input.get(i).is_some_and(|&b| set.contains(b));
            if !more {
                return exit_here.then_some(i);
            }
            if exit_here {
                s.stack.push(Frame::Explore { sid: behind, at: i });
                if !greedy {
                    return Some(i);
                }
            }
            if class_join && !s.visit_bit(class_bits + i) {
                return None;
            }
            i += 1;
            if !s.visit_bit(loop_bits + i) {
                return None;
            }
        }
    }
}

/// The flat copy of an NFA (see [`Op`]), before it is boxed into a [`Backtracker`].
struct Flat {
    ops: Vec<Op>,
    alts: Vec<u32>,
    ranges: Vec<(u8, u8, u32)>,
    masks: Vec<u64>,
}

impl Flat {
    /// The ops of `nfa`'s states, given each state's first set (`first_of`, indexes in `table`). Classes that
    /// become `Op::Set`s are added to `table`.
    fn of(nfa: &NFA, first_of: &[u32], table: &mut SetTable) -> Flat {
        let classes = *nfa.byte_classes();
        let row_len = classes.alphabet_len() - 1;
        let mut f = Flat { ops: Vec::new(), alts: Vec::new(), ranges: Vec::new(), masks: Vec::new() };
        for state in nfa.states() {
            let op = match state {
                State::ByteRange { trans } => Op::Range { lo: trans.start, hi: trans.end, next: trans.next.as_u32() },
                State::Sparse(t) => {
                    f.consuming(t.transitions.iter().map(|tr| (tr.start, tr.end, tr.next.as_u32())), table)
                }
                State::Dense(t) => f.consuming(
                    t.transitions
                        .iter()
                        .enumerate()
                        .filter(|(_, next)| **next != StateID::ZERO)
                        .map(|(b, next)| (b as u8, b as u8, next.as_u32())),
                    table,
                ),
                State::Look { look, next } => Op::Look { look: *look, next: next.as_u32() },
                State::Union { alternates } => {
                    let start = f.alts.len() as u32;
                    f.alts.extend(alternates.iter().map(|a| a.as_u32()));
                    let mut row = u32::MAX;
                    if (3..=64).contains(&alternates.len())
                        && let Ok(r) = u32::try_from(f.masks.len())
                    {
                        row = r;
                        f.masks.resize(f.masks.len() + row_len, 0u64);
                        for b in 0..=255u8 {
                            let cell = &mut f.masks[row as usize + classes.get(b) as usize];
                            for (i, alt) in alternates.iter().enumerate() {
                                let first = first_of[alt.as_usize()];
                                if first == 0 || table.sets[first as usize].contains(b) {
                                    *cell |= 1 << i;
                                }
                            }
                        }
                    }
                    Op::Alt { start, len: alternates.len() as u32, row }
                }
                State::BinaryUnion { alt1, alt2 } => Op::Alt2 {
                    a: alt1.as_u32(),
                    b: alt2.as_u32(),
                    first_a: first_of[alt1.as_usize()],
                    first_b: first_of[alt2.as_usize()],
                },
                State::Capture { next, slot, .. } => Op::Save { slot: slot.as_u32(), next: next.as_u32() },
                State::Fail => Op::Fail,
                State::Match { .. } => Op::Match,
            };
            f.ops.push(op);
        }
        f
    }

    /// Makes the alternations list `to[s]` instead of state `s` wherever `to[s]` is not `u32::MAX`.
    fn redirect(&mut self, to: &[u32]) {
        let swap = |x: &mut u32| {
            if let Some(&t) = to.get(*x as usize)
                && t != u32::MAX
            {
                *x = t;
            }
        };
        for op in &mut self.ops {
            match op {
                Op::Alt { start, len, .. } => {
                    self.alts[*start as usize..(*start + *len) as usize].iter_mut().for_each(swap)
                }
                Op::Alt2 { a, b, .. } => {
                    swap(a);
                    swap(b);
                }
                _ => {}
            }
        }
    }

    /// Turns each two-way alternation that loops over one byte class (see `Op::Star`) into a star.
    fn find_stars(&mut self, joins: &[bool], table: &mut SetTable) {
        for u in 0..self.ops.len() {
            let Op::Alt2 { a, b, first_a, first_b } = self.ops[u] else { continue };
            let class_of = |c: u32| -> Option<ByteSet> {
                match self.ops[c as usize] {
                    Op::Range { lo, hi, next } if next as usize == u => {
                        let mut set = ByteSet::EMPTY;
                        set.add_range(lo, hi);
                        Some(set)
                    }
                    Op::Set { set, next } if next as usize == u => Some(table.sets[set as usize]),
                    _ => None,
                }
            };
            let (class, exit, first_exit, greedy, set) = if let Some(set) = class_of(a) {
                (a, b, first_b, true, set)
            } else if let Some(set) = class_of(b) {
                (b, a, first_a, false, set)
            } else {
                continue;
            };
            let class_join = joins[class as usize];
            self.ops[u] = Op::Star { set: table.intern(set), class, exit, first_exit, greedy, class_join };
        }
    }

    /// The op of a consuming state with these transitions (first byte, last byte, next state): one range; a
    /// class whose bytes all lead to one state, as a set of `table`; else its ranges, appended to `ranges`.
    fn consuming(&mut self, trans: impl Iterator<Item = (u8, u8, u32)>, table: &mut SetTable) -> Op {
        let start = self.ranges.len();
        for (lo, hi, next) in trans {
            // A dense state lists bytes one by one: runs to the same state become one range.
            let len = self.ranges.len();
            match self.ranges.last_mut() {
                Some(last) if len > start && last.2 == next && u16::from(last.1) + 1 == u16::from(lo) => last.1 = hi,
                _ => self.ranges.push((lo, hi, next)),
            }
        }
        let span = &self.ranges[start..];
        let op = match span {
            [] => Op::Fail,
            [(lo, hi, next)] => Op::Range { lo: *lo, hi: *hi, next: *next },
            [(_, _, next), rest @ ..] if rest.iter().all(|r| r.2 == *next) => {
                let mut set = ByteSet::EMPTY;
                span.iter().for_each(|&(lo, hi, _)| set.add_range(lo, hi));
                Op::Set { set: table.intern(set), next: *next }
            }
            _ => return Op::Ranges { start: start as u32, len: span.len() as u32 },
        };
        self.ranges.truncate(start);
        op
    }
}

/// Which states need a visited check (see [`Backtracker::joins`]): the start, and states with more than one way
/// in. A consuming state counts once per distinct target (at a given position it takes one byte, so one of its
/// transitions); an alternation counts once per alternative.
fn joins(nfa: &NFA) -> Box<[bool]> {
    let n = nfa.states().len();
    let mut ways_in = vec![0u32; n];
    let mut targets = Vec::new();
    for state in nfa.states() {
        targets.clear();
        guard::push_successors(state, &mut targets);
        if matches!(state, State::ByteRange { .. } | State::Sparse(_) | State::Dense(_)) {
            targets.sort_unstable();
            targets.dedup();
        }
        for t in &targets {
            ways_in[t.as_usize()] += 1;
        }
    }
    ways_in[nfa.start_anchored().as_usize()] += 1;
    ways_in.iter().map(|&w| w > 1).collect()
}

/// The bytes the first consuming transition reachable from `start` can take (through captures, alternations and
/// look-arounds), or `None` if the match state is reachable without consuming (then the state is always explored). `seen`/`mark` is a
/// visited set reused across calls: a state is seen in this call when `seen[state] == mark`.
fn first_bytes(nfa: &NFA, start: StateID, mark: usize, seen: &mut [usize], todo: &mut Vec<StateID>) -> Option<ByteSet> {
    let mut set = ByteSet::EMPTY;
    let mut add = |lo: u8, hi: u8| set.add_range(lo, hi);
    todo.clear();
    todo.push(start);
    while let Some(sid) = todo.pop() {
        if std::mem::replace(&mut seen[sid.as_usize()], mark) == mark {
            continue;
        }
        match nfa.state(sid) {
            State::ByteRange { trans } => add(trans.start, trans.end),
            State::Sparse(t) => t.transitions.iter().for_each(|tr| add(tr.start, tr.end)),
            State::Dense(t) => {
                for (b, next) in t.transitions.iter().enumerate() {
                    if *next != StateID::ZERO {
                        add(b as u8, b as u8);
                    }
                }
            }
            State::Union { alternates } => todo.extend(alternates.iter().copied()),
            State::BinaryUnion { alt1, alt2 } => todo.extend([*alt1, *alt2]),
            State::Capture { next, .. } => todo.push(*next),
            State::Fail => {}
            // A look-around consumes nothing and only narrows where a path may go on: the bytes after it are a
            // superset of what the path can take, which is all a skip needs.
            State::Look { next, .. } => todo.push(*next),
            State::Match { .. } => return None,
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::nfa::thompson::backtrack::BoundedBacktracker;
    use regex_automata::{Anchored, Input};

    fn nfa(pattern: &str) -> NFA {
        let hir = crate::gocompat::regex::parse_hir(pattern).unwrap();
        crate::gocompat::regex::nfa_from_hir(&hir).unwrap()
    }

    /// Slot offsets of a match, `None` without one.
    type Slots = Option<Vec<Option<usize>>>;

    /// Our slots and regex-automata's backtracker's, for an anchored search of `input`.
    fn both(pattern: &str, input: &str) -> (Slots, Slots) {
        let n = nfa(pattern);
        let len = n.group_info().slot_len();
        let ours = Backtracker::new(n.clone());
        let mut slots = vec![None; len];
        let got = ours.captures(input.as_bytes(), &mut slots).unwrap();
        let got = got.then(|| slots.iter().map(|s| s.map(|v| v.get())).collect());
        let reference = BoundedBacktracker::new_from_nfa(n).unwrap();
        let mut cache = reference.create_cache();
        let mut want = vec![None; len];
        let m = reference.try_search_slots(&mut cache, &Input::new(input).anchored(Anchored::Yes), &mut want).unwrap();
        let want = m.is_some().then(|| want.iter().map(|s| s.map(|v| v.get())).collect());
        (got, want)
    }

    /// `(found, reach, slots)` of one search.
    fn reach(b: &Backtracker, len: usize, input: &[u8]) -> (bool, usize, Vec<Option<NonMaxUsize>>) {
        let mut slots = vec![None; len];
        let (found, reach) = b.captures_reach(input, &mut slots).unwrap();
        (found, reach, slots)
    }

    #[test]
    fn the_reach_is_the_last_byte_a_search_read() {
        let exact: &[(&str, &str, bool, usize)] = &[
            ("ab", "abX", true, 1),
            ("a+", "aaab", true, 3),
            ("a+$", "aa", true, 2),
            ("a+$", "aab", false, 2),
            ("(?:x|ab)c", "abd", false, 2),
            ("", "zzz", true, 0),
        ];
        for &(pattern, input, found, at) in exact {
            let n = nfa(pattern);
            let len = n.group_info().slot_len();
            let got = reach(&Backtracker::new(n), len, input.as_bytes());
            assert_eq!((got.0, got.1), (found, at), "{pattern} on {input:?}");
        }
        // Whatever follows the reach, the search is the same (what a replay relies on).
        let patterns = [
            r"(a|ab)(c|bcd)(d*)",
            r"^(?:(\S+) )?(\d+)",
            r"\b(\w+)\b (\w+)?$",
            r"(\d+)\.(\d+)|([a-z]+):",
            r"(?:(\d{1,3})\.){3}(\d{1,3})",
        ];
        let inputs = ["abcd", "host 42", "hello world", "12.34", "web:", "10.0.0.1 x", "1.2.3", "", "abc", "hello "];
        for pattern in patterns {
            let n = nfa(pattern);
            let len = n.group_info().slot_len();
            let b = Backtracker::new(n);
            for input in inputs {
                let (found, at, slots) = reach(&b, len, input.as_bytes());
                if at >= input.len() {
                    continue;
                }
                for tail in ["", "#", " 9", "zz", "a.1"] {
                    let other = format!("{}{tail}", &input[..=at]);
                    let again = reach(&b, len, other.as_bytes());
                    assert_eq!((again.0, &again.2), (found, &slots), "{pattern} on {input:?} then {other:?}");
                }
            }
        }
    }

    #[test]
    fn captures_agree_with_a_plain_backtracker() {
        let cases: &[(&str, &[&str])] = &[
            (r"(a|ab)(c|bcd)(d*)", &["abcd", "abc", "acd", "x", ""]),
            (r"(?:(\d+)\.){3}(\d+)|([a-z][a-z0-9-]*)", &["10.0.0.1", "web-01", "1.2.3", "Web"]),
            (r"(a*)*(b)", &["aaab", "b", "aaa"]),
            (r"(x?)(x?)(x?)x", &["xx", "x", "xxxx"]),
            (r"\b(\w+)\b (\w+)?$", &["hello world", "hello ", "hello"]),
            (r"^(?:(\S+) )?(\d+)", &["host 42", "42", " 42"]),
            (r"(?s)(.*?)(=)(.*)", &["a=b=c", "=\n=", "none"]),
            (r"([0-9A-Fa-f]{1,4}:){2}([0-9A-Fa-f]{1,4})|(\d+)", &["fe80:1:2", "123", "fe80:1"]),
            (r"(|a)(b|)", &["ab", "b", "a", ""]),
            (r"(?i)(ss|ß)h", &["SSH", "ßh", "sh"]),
            (r"(Jan|Feb|Mar|[0-9]+|(x)|)+(-)", &["JanFeb12x-", "-", "Ja-", "x12Mar"]),
            // Loops over one class (`Op::Star`): greedy and lazy, entered through the class (`+`) or not, exits
            // that may start inside the run, exits always explored (a look-around), nested and repeated loops.
            (r#"([^"]*)" "(.*?) (H\S+)"#, &[r#"a b" "GET /x y HTTP/1.1"#, r#"" " HTTP"#, r#"ab" "x"#]),
            (r"(\S+) (\S+?)(\d*)$", &["user  host42", "a b", "a 12", "a ", "ab"]),
            (r"(a*)(a+?)(a*)b", &["aaab", "ab", "b", "aaaa"]),
            (r"(\w+)(.*)", &["hello world", "x", "", " y"]),
            (r"(?:(\d+)\.)*(\d+)x", &["1.22.333x", "1.2.3", "x", "12x"]),
            (r"((?:ab)*?)(a*)(b+)$", &["ababb", "aab", "abab", "b"]),
            (r"(x+)+y", &["xxxxxxxxxxxxxxxxy", "xxxxxxxxxxxxxxxxxxxxz"]),
        ];
        for (pattern, inputs) in cases {
            for input in *inputs {
                let (got, want) = both(pattern, input);
                assert_eq!(got, want, "{pattern} on {input:?}");
            }
        }
    }

    #[test]
    fn guarded_alternatives_capture_as_a_plain_backtracker_does() {
        let lib = crate::grok::PatternLibrary::new();
        let grok = lib
            .compile(r#"(%{IPORHOST:vhost} )?%{IPORHOST:client} - (%{USER:user})? \[%{HTTPDATE:date}\] "%{WORD:verb} %{DATA:request} HTTP/%{NUMBER:version}"( %{NUMBER:size})?"#)
            .unwrap();
        let n = nfa(grok.regex_str());
        let ours = Backtracker::new(n.clone());
        assert!(ours.guards.is_some() && ours.ops.iter().any(|op| matches!(op, Op::Guard { .. })));
        let reference = BoundedBacktracker::new_from_nfa(n.clone()).unwrap();
        let mut cache = reference.create_cache();
        let len = n.group_info().slot_len();
        let date = "[02/Mar/2026:00:00:05 +0000]";
        let lines = [
            format!(r#"178.63.217.136 - - {date} "GET /a HTTP/1.1" 200"#),
            format!(r#"www.example.org 178.63.217.136 - - {date} "GET /a HTTP/1.1""#),
            format!(r#"2001:db8::1 - bob {date} "POST /login?x=1 HTTP/2.0" 12"#),
            format!(r#"vhost.example 2001:db8::ffff:10.0.0.1 - - {date} "GET / HTTP/1.0""#),
            format!(r#"fe80::1 fe80::2 - - {date} "GET / HTTP/1.1""#),
            format!(
                r#"a-very-long-host-name-that-runs-past-the-look-ahead.example.org 10.0.0.1 - - {date} "GET / HTTP/1.1""#
            ),
            format!(r#"10.0.0.1 - - {date} "GET / HTTP/1.1"#),
            format!(r#"10.0.0.1 -- {date} "GET / HTTP/1.1""#),
            "-".to_string(),
            String::new(),
        ];
        // Repeated past the guards' judging window, so that resting guards are exercised too.
        for _ in 0..3 * super::guard::WINDOW {
            for line in &lines {
                let (mut got, mut want) = (vec![None; len], vec![None; len]);
                let matched = ours.captures(line.as_bytes(), &mut got).unwrap();
                let input = Input::new(line).anchored(Anchored::Yes);
                let expected = reference.try_search_slots(&mut cache, &input, &mut want).unwrap().is_some();
                assert_eq!(matched, expected, "{line:?}");
                if matched {
                    assert_eq!(got, want, "{line:?}");
                }
            }
        }
    }

    #[test]
    fn one_class_loops_become_stars_of_each_kind() {
        let b = Backtracker::new(nfa(r#"(\S+) ([^"]*) (.*?)x(a+?)"#));
        let kinds: std::collections::HashSet<_> = b
            .ops
            .iter()
            .filter_map(|op| match *op {
                Op::Star { greedy, class_join, .. } => Some((greedy, class_join)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
    }

    #[test]
    fn a_skipped_alternative_is_one_that_cannot_start_with_the_next_byte() {
        let b = Backtracker::new(nfa(r"(?:(\d+)|([a-z]+)|(\s*))x"));
        // The digits and letters alternatives have first sets; the third can be empty, so it is always explored.
        let sets = b.first_of.iter().filter(|&&i| i != 0).count();
        assert!(sets >= 2, "{:?}", b.first_of);
        let mut slots = vec![None; 8];
        assert_eq!(b.captures(b"abcx", &mut slots), Some(true));
        assert_eq!(slots[4].map(|v| v.get()), Some(0));
        assert_eq!(slots[5].map(|v| v.get()), Some(3));
        assert_eq!(b.captures(b"x", &mut slots), Some(true));
        assert_eq!(slots[6].map(|v| v.get()), Some(0));
    }

    #[test]
    fn alternation_masks_agree_with_the_first_sets_for_every_byte() {
        let b = Backtracker::new(nfa(r"(?:Jan|Feb|Mar|[0-9]+|[a-f]x|\s*y|-)+z"));
        let mut checked = 0;
        for (sid, op) in b.ops.iter().enumerate() {
            let Op::Alt { row, .. } = *op else { continue };
            let State::Union { alternates } = b.nfa.state(StateID::new_unchecked(sid)) else { panic!("{sid}") };
            if row == u32::MAX {
                continue;
            }
            for byte in 0..=255u8 {
                let mask = b.masks[row as usize + b.nfa.byte_classes().get(byte) as usize];
                for (i, &alt) in alternates.iter().enumerate() {
                    assert_eq!(mask & (1 << i) != 0, b.may_start(alt, &[byte], 0), "state {sid} byte {byte}");
                }
            }
            checked += 1;
        }
        assert!(checked > 0);
    }

    #[test]
    fn scratch_is_left_clean_and_long_inputs_are_refused() {
        let b = Backtracker::new(nfa(r"(a+)+b"));
        let mut slots = vec![None; 4];
        // A failing search visits many states; the next one must not see them.
        assert_eq!(b.captures("a".repeat(300).as_bytes(), &mut slots), Some(false));
        assert_eq!(b.captures(b"aab", &mut slots), Some(true));
        SCRATCH.with(|c| assert!(c.borrow().visited.iter().all(|&w| w == 0)));
        let long = vec![b'a'; b.max_len() + 1];
        assert_eq!(b.captures(&long, &mut slots), None);
    }
}
