//! A prefilter over several grok expressions tried on the same input.
//!
//! A parser stage often tries many patterns in order on one field (sshd-logs has 16 children on `message`). One
//! `RegexSet` pass over the input tells which of them can match at all, so capture searches run only on those.
//! The answer is exact, not a heuristic: a set member matches iff its regex matches somewhere in the input, which is
//! exactly when [`CompiledGrok::is_match`] is true, so trying the candidates in order gives the same result as
//! trying every pattern in order.
//!
//! When every member has a finite set of literals its matches must start with (sshd-logs: `Failed `, `pam_`,
//! `Invalid user`, …) and there are at most 64 members, a literal search replaces the set: members none of whose
//! literals occur cannot match, the others may (the capture search then checks). The set's overlapping DFA reads
//! every byte of every message to the end; most messages hold no member's literal at all, and a literal search
//! rejects them at memchr speed.
//!
//! What this module is not: it does not decide the order or the stop rule (the parser's node algorithm does; it
//! must recompute candidates if a node changes the field between two tries).

use aho_corasick::AhoCorasick;
use regex::bytes::{RegexSet, SetMatches};

use super::GrokError;
use super::matcher::{Captures, CompiledGrok};

/// Several compiled expressions plus one prefilter over them.
#[derive(Clone, Debug)]
pub struct GrokSet {
    filter: Filter,
    groks: Vec<CompiledGrok>,
}

#[derive(Clone, Debug)]
enum Filter {
    /// Exact: a member is a candidate iff it matches.
    Set(RegexSet),
    /// Every member's required prefixes, none a prefix of another (a longer one is dropped for its prefix, which
    /// occurs wherever it does), `owners[i]` the members (bit i for member i) of literal `i`: a member is a
    /// candidate iff one of its literals occurs.
    Literals { ac: AhoCorasick, owners: Vec<u64> },
}

/// Which members of a [`GrokSet`] may match an input.
#[derive(Clone, Debug)]
pub enum Candidates {
    /// Exactly the members that match.
    Exact(SetMatches),
    /// Members (bit i for member i) that may match; the others cannot.
    Maybe(u64),
}

impl Candidates {
    /// Whether member `index` may match (matches, when [`Candidates::is_exact`]).
    pub fn contains(&self, index: usize) -> bool {
        match self {
            Candidates::Exact(m) => m.matched(index),
            Candidates::Maybe(bits) => index < 64 && bits & (1 << index) != 0,
        }
    }

    /// Whether the candidates are exactly the members that match.
    pub fn is_exact(&self) -> bool {
        matches!(self, Candidates::Exact(_))
    }

    /// Candidate member indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (exact, bits) = match self {
            Candidates::Exact(m) => (Some(m.iter()), 0),
            Candidates::Maybe(bits) => (None, *bits),
        };
        exact.into_iter().flatten().chain((0..64).filter(move |i| bits & (1u64 << i) != 0))
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Candidates::Exact(m) => !m.matched_any(),
            Candidates::Maybe(bits) => *bits == 0,
        }
    }
}

impl GrokSet {
    pub fn new(groks: Vec<CompiledGrok>) -> Result<Self, GrokError> {
        if let Some(filter) = literal_filter(&groks) {
            return Ok(GrokSet { filter, groks });
        }
        let set = crate::gocompat::regex::set_builder(groks.iter().map(|g| g.regex_str())).build().map_err(|e| {
            GrokError::Regex { pattern: format!("set of {} grok patterns", groks.len()), message: e.to_string() }
        })?;
        Ok(GrokSet { filter: Filter::Set(set), groks })
    }

    /// Whether the candidates come from the literal search (inexact) rather than the set.
    pub fn uses_literals(&self) -> bool {
        matches!(self.filter, Filter::Literals { .. })
    }

    pub fn len(&self) -> usize {
        self.groks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groks.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&CompiledGrok> {
        self.groks.get(index)
    }

    /// One pass over `input`: the members that may match (see [`Candidates`]).
    pub fn candidates(&self, input: &str) -> Candidates {
        match &self.filter {
            Filter::Set(set) => Candidates::Exact(set.matches(input.as_bytes())),
            Filter::Literals { ac, owners } => {
                // Leftmost searches, each from just after the previous hit's start: with no literal a prefix of
                // another, one literal at most starts at a position, so this finds every occurrence of every
                // literal (overlapping ones too), and each search skips ahead with the automaton's SIMD prefilter,
                // which an overlapping search does not use.
                let bytes = input.as_bytes();
                let mut bits = 0u64;
                let mut at = 0;
                while at < bytes.len() {
                    let Some(m) = ac.find(aho_corasick::Input::new(bytes).span(at..bytes.len())) else { break };
                    bits |= owners[m.pattern().as_usize()];
                    at = m.start() + 1;
                }
                Candidates::Maybe(bits)
            }
        }
    }

    /// The first member, in order, that matches with captures — what trying each pattern in turn would give.
    pub fn first_match<'s, 'i>(&'s self, input: &'i str) -> Option<(usize, Captures<'s, 'i>)> {
        let cands = self.candidates(input);
        cands.iter().find_map(|i| self.groks[i].captures_known(input, cands.is_exact()).map(|c| (i, c)))
    }
}

/// The literal filter of `groks`, when each has required prefixes and there are at most 64 of them.
fn literal_filter(groks: &[CompiledGrok]) -> Option<Filter> {
    if groks.len() > 64 {
        return None;
    }
    let mut all: Vec<(Vec<u8>, u64)> = Vec::new();
    for (i, g) in groks.iter().enumerate() {
        for lit in crate::gocompat::regex::required_prefixes(g.regex_str())? {
            all.push((lit, 1 << i));
        }
    }
    // Sorted, a literal's prefixes come before it: keep the shortest, giving it the members of the longer ones.
    all.sort();
    let mut kept: Vec<(Vec<u8>, u64)> = Vec::new();
    for (lit, member) in all {
        match kept.iter_mut().find(|(k, _)| lit.starts_with(k)) {
            Some((_, members)) => *members |= member,
            None => kept.push((lit, member)),
        }
    }
    let ac = AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(kept.iter().map(|(l, _)| l))
        .ok()?;
    Some(Filter::Literals { ac, owners: kept.into_iter().map(|(_, m)| m).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grok::PatternLibrary;

    #[test]
    fn set_agrees_with_trying_in_order() {
        let lib = PatternLibrary::new();
        let pats = ["^%{INT:n}$", "%{IP}", "%{WORD:w} %{INT:n}", "x{2}%{WORD:w}", "%{IPV4:ip}"];
        let groks: Vec<CompiledGrok> = pats.iter().map(|p| lib.compile(p).unwrap()).collect();
        let set = GrokSet::new(groks.clone()).unwrap();
        assert!(!set.uses_literals(), "%{{INT}} has no required prefix");
        for input in ["12", "1.2.3.4", "abc 12", "xxabc", "", "::1 and 10.0.0.1", "x{2}"] {
            let cands = set.candidates(input);
            assert!(cands.is_exact());
            for (i, g) in groks.iter().enumerate() {
                assert_eq!(cands.contains(i), g.is_match(input), "{input:?} {}", pats[i]);
            }
            let seq = groks.iter().enumerate().find_map(|(i, g)| g.captures(input).map(|c| (i, c.span())));
            assert_eq!(set.first_match(input).map(|(i, c)| (i, c.span())), seq, "{input:?}");
        }
        assert!(set.candidates("!!").is_empty());
    }

    #[test]
    fn literal_candidates_hold_every_match_and_first_match_is_unchanged() {
        let lib = PatternLibrary::new();
        let pats = [
            "Failed %{WORD:method} for %{USERNAME:user} from %{IP:ip}",
            "^Accepted %{WORD:method}",
            "(?:Invalid|Illegal) user %{USERNAME:user}",
            "Failed password for invalid user %{USERNAME:user}",
            "pam_%{DATA:pam}\\(sshd:auth\\)",
            "(?i)closed by %{IP:ip}",
        ];
        let groks: Vec<CompiledGrok> = pats.iter().map(|p| lib.compile(p).unwrap()).collect();
        let set = GrokSet::new(groks.clone()).unwrap();
        assert!(set.uses_literals());
        let inputs = [
            "Failed password for invalid user bob from 1.2.3.4 port 22",
            "Failed password for root from 1.2.3.4",
            "Accepted publickey for root",
            "x Accepted publickey",
            "Illegal user eve from 10.0.0.1",
            "pam_unix(sshd:session): session opened",
            "pam_unix(sshd:auth): authentication failure",
            "Connection CLOSED BY 10.1.2.3 port 22",
            "Received disconnect from 1.2.3.4",
            "",
        ];
        for input in inputs {
            let cands = set.candidates(input);
            assert!(!cands.is_exact());
            for (i, g) in groks.iter().enumerate() {
                assert!(!g.is_match(input) || cands.contains(i), "{input:?}: {} matches but is no candidate", pats[i]);
            }
            let seq = groks.iter().enumerate().find_map(|(i, g)| g.captures(input).map(|c| (i, c.span())));
            assert_eq!(set.first_match(input).map(|(i, c)| (i, c.span())), seq, "{input:?}");
        }
        assert!(set.candidates("Received disconnect from 1.2.3.4").is_empty());

        // Occurrences that overlap, and a literal that is a prefix of another, are all found.
        let groks: Vec<CompiledGrok> =
            ["abc%{INT:a}", "bcd%{INT:b}", "ab%{WORD:c}"].iter().map(|p| lib.compile(p).unwrap()).collect();
        let set = GrokSet::new(groks).unwrap();
        assert!(set.uses_literals());
        assert_eq!(set.candidates("xabcd1").iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(set.first_match("xabcd1").map(|(i, c)| (i, c.span())), Some((1, (2, 6))));
        assert_eq!(set.candidates("xbcd7").iter().collect::<Vec<_>>(), [1]);
    }
}
