//! A prefilter over several grok expressions tried on the same input.
//!
//! A parser stage often tries many patterns in order on one field (sshd-logs has 16 children on `message`). One
//! `RegexSet` pass over the input tells which of them can match at all, so capture searches run only on those.
//! The answer is exact, not a heuristic: a set member matches iff its regex matches somewhere in the input, which is
//! exactly when [`CompiledGrok::is_match`] is true, so trying the candidates in order gives the same result as
//! trying every pattern in order.
//!
//! What this module is not: it does not decide the order or the stop rule (the parser's node algorithm does; it
//! must recompute candidates if a node changes the field between two tries).

use regex::bytes::{RegexSet, SetMatches};

use super::GrokError;
use super::matcher::{Captures, CompiledGrok};

/// Several compiled expressions plus one `RegexSet` over them.
#[derive(Clone, Debug)]
pub struct GrokSet {
    set: RegexSet,
    groks: Vec<CompiledGrok>,
}

/// Which members of a [`GrokSet`] match an input.
#[derive(Clone, Debug)]
pub struct Candidates(SetMatches);

impl Candidates {
    pub fn contains(&self, index: usize) -> bool {
        self.0.matched(index)
    }

    /// Matching member indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        !self.0.matched_any()
    }
}

impl GrokSet {
    pub fn new(groks: Vec<CompiledGrok>) -> Result<Self, GrokError> {
        let set = crate::gocompat::regex::set_builder(groks.iter().map(|g| g.regex_str())).build().map_err(|e| {
            GrokError::Regex { pattern: format!("set of {} grok patterns", groks.len()), message: e.to_string() }
        })?;
        Ok(GrokSet { set, groks })
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

    /// One pass over `input`: the members whose regex matches.
    pub fn candidates(&self, input: &str) -> Candidates {
        Candidates(self.set.matches(input.as_bytes()))
    }

    /// The first member, in order, that matches with captures — what trying each pattern in turn would give.
    pub fn first_match<'s, 'i>(&'s self, input: &'i str) -> Option<(usize, Captures<'s, 'i>)> {
        let cands = self.candidates(input);
        cands.iter().find_map(|i| self.groks[i].captures_matching(input).map(|c| (i, c)))
    }
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
        for input in ["12", "1.2.3.4", "abc 12", "xxabc", "", "::1 and 10.0.0.1", "x{2}"] {
            let cands = set.candidates(input);
            for (i, g) in groks.iter().enumerate() {
                assert_eq!(cands.contains(i), g.is_match(input), "{input:?} {}", pats[i]);
            }
            let seq = groks.iter().enumerate().find_map(|(i, g)| g.captures(input).map(|c| (i, c.span())));
            assert_eq!(set.first_match(input).map(|(i, c)| (i, c.span())), seq, "{input:?}");
        }
        assert!(set.candidates("!!").is_empty());
    }
}
