//! The required-literal prefilter of a scenario set: which filters can be true for this event, found with one
//! Aho-Corasick pass per distinct subject instead of evaluating each filter.
//!
//! Every scenario with required literals (`expr::literals`, kept as `Scenario::needs`) gets a slot. Per subject
//! (`Upper(evt.Meta.http_path)`, shared by many CVE scenarios), one automaton holds the literals of every scenario
//! that looks in it. For an event, the first scenario that asks evaluates every subject once (through the filters'
//! memo, so a filter evaluated later reuses the value) and runs each automaton over it: a slot is open when one of
//! its literals occurs. A subject that cannot be evaluated to a string opens all its slots (the filters then run
//! and report what is wrong, as without the prefilter).
//!
//! A case change (`Upper(X)`) is not computed when `X`'s value is ASCII: `X` is searched up to ASCII case instead,
//! which finds every literal the subject contains (and maybe more: this is a necessary condition). Converting a
//! user agent to upper case cost more than the search.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::event::Event;
use crate::expr::memo::Memo;
use crate::expr::{Program, Scope, Services, Value};

use super::compile::{NeedSubject, Scenario};

/// One distinct subject: its program, the automaton of its literals, and per literal the slots it opens.
struct Subject {
    program: Program,
    automaton: AhoCorasick,
    /// The case change's argument and the same literals up to ASCII case (see the module comment).
    folded: Option<(Program, AhoCorasick)>,
    opens: Vec<Vec<u32>>,
    /// Every slot with a literal here (opened when the subject cannot be searched).
    all: Vec<u32>,
}

/// The automata of a scenario set, built once with the scenarios (on the thread that compiles them, beside the
/// parsers) and shared by every [`Prefilter`] of that set.
pub struct PrefilterTables {
    subjects: Vec<Subject>,
    /// Scenario index → its slot, `None` for a scenario without required literals.
    slot_of: Vec<Option<u32>>,
    slots: usize,
}

/// See the module comment: the shared tables and one event's verdicts.
pub struct Prefilter {
    tables: Arc<PrefilterTables>,
    /// This event's verdict per slot (valid when `searched`).
    open: Vec<bool>,
    searched: bool,
}

impl PrefilterTables {
    pub fn new(scenarios: &[Scenario]) -> PrefilterTables {
        let mut slot_of = Vec::with_capacity(scenarios.len());
        // Per subject text: the subject (its program and case change's argument) and (literal, slot) pairs.
        let mut by_subject: Vec<(&NeedSubject, Vec<(String, u32)>)> = Vec::new();
        let mut slots = 0u32;
        for sc in scenarios {
            let Some(needs) = &sc.needs else {
                slot_of.push(None);
                continue;
            };
            let slot = slots;
            slots += 1;
            slot_of.push(Some(slot));
            for need in needs {
                let i = match by_subject.iter().position(|(n, _)| n.subject.source() == need.subject.source()) {
                    Some(i) => i,
                    None => {
                        by_subject.push((need, Vec::new()));
                        by_subject.len() - 1
                    }
                };
                by_subject[i].1.extend(need.literals.iter().map(|l| (l.clone(), slot)));
            }
        }
        let mut subjects = Vec::new();
        for (need, pairs) in by_subject {
            let (program, inner) = (need.subject.clone(), need.inner.clone());
            // One pattern per distinct literal, opening every slot that asked for it.
            let mut patterns: Vec<String> = Vec::new();
            let mut opens: Vec<Vec<u32>> = Vec::new();
            let mut index: HashMap<String, usize> = HashMap::new();
            for (lit, slot) in pairs {
                match index.get(&lit) {
                    Some(&i) => opens[i].push(slot),
                    None => {
                        index.insert(lit.clone(), patterns.len());
                        patterns.push(lit);
                        opens.push(vec![slot]);
                    }
                }
            }
            let mut all: Vec<u32> = opens.iter().flatten().copied().collect();
            all.sort_unstable();
            all.dedup();
            let build = |fold: bool| {
                AhoCorasick::builder().kind(Some(AhoCorasickKind::DFA)).ascii_case_insensitive(fold).build(&patterns)
            };
            let folded = match inner {
                Some(p) => build(true).ok().map(|a| (p, a)),
                None => None,
            };
            match build(false) {
                Ok(automaton) => subjects.push(Subject { program, automaton, folded, opens, all }),
                // Cannot happen with these sizes; if it did, those filters would simply always be evaluated.
                Err(_) => all.iter().for_each(|&s| {
                    slot_of.iter_mut().filter(|x| **x == Some(s)).for_each(|x| *x = None);
                }),
            }
        }
        PrefilterTables { subjects, slot_of, slots: slots as usize }
    }
}

impl Prefilter {
    pub fn new(tables: Arc<PrefilterTables>) -> Prefilter {
        let open = vec![false; tables.slots];
        Prefilter { tables, open, searched: false }
    }

    /// Forgets the verdicts: a new event, or the event changed.
    pub fn reset(&mut self) {
        self.searched = false;
    }

    /// Whether scenario `si`'s filter may be true for `evt` (always, for a scenario without required literals).
    pub fn admits(&mut self, si: usize, evt: &Event, memo: &Memo, services: &Services) -> bool {
        let Some(slot) = self.tables.slot_of.get(si).copied().flatten() else { return true };
        if !self.searched {
            self.search(evt, memo, services);
        }
        self.open[slot as usize]
    }

    fn search(&mut self, evt: &Event, memo: &Memo, services: &Services) {
        self.open.fill(false);
        for subject in &self.tables.subjects {
            let mut open = |automaton: &AhoCorasick, s: &str| {
                for m in automaton.find_overlapping_iter(s.as_bytes()) {
                    for &slot in &subject.opens[m.pattern().as_usize()] {
                        self.open[slot as usize] = true;
                    }
                }
            };
            if let Some((inner, folded)) = &subject.folded {
                let mut scope = Scope::new(services).with_evt(evt).with_memo(memo);
                if let Ok(Value::Str(s)) = inner.eval(&mut scope)
                    && s.is_ascii()
                {
                    open(folded, &s);
                    continue;
                }
            }
            let mut scope = Scope::new(services).with_evt(evt).with_memo(memo);
            match subject.program.eval(&mut scope) {
                Ok(Value::Str(s)) => open(&subject.automaton, &s),
                _ => subject.all.iter().for_each(|&slot| self.open[slot as usize] = true),
            }
        }
        self.searched = true;
    }
}
