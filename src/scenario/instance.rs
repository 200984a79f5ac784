//! One bucket instance (a scenario × a groupby value) and what a pour does to it, per CrowdSec's processor chain
//! (spec §7.3): type hook (trigger) → distinct → cancel_on → pour (token bucket) → condition / bayesian.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::event::{Event, ExpectMode, Timestamp};
use crate::expr::{Scope, Services, Value};

use super::compile::{Kind, Scenario};
use super::limiter::Limiter;
use super::view::{LeakyView, QueueView};

/// The state of one live bucket.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    /// The groupby value. Inline up to 24 bytes (an address, a user name), as in the instance map and the timer
    /// heap: a live instance costs no key allocation.
    pub key: CompactString,
    /// The scenario that created the instance: its settings (capacity, distinct, blackhole...) apply to every
    /// pour, also those of other scenarios sharing the instance (same name and filter, as CrowdSec keys buckets).
    /// An index into the scenarios, 32 bits so that it shares a word with `mode` and `timer_queued` (an instance
    /// is 192 bytes, mimalloc's size class; item 49 of docs/performance.md).
    owner: u32,
    pub mode: ExpectMode,
    /// For time-machine instances, the source whose log clock the instance follows (`Line.Src` of its first
    /// event).
    pub clock: Arc<str>,
    /// `None` for unbounded buckets (capacity -1: counters, bayesian): they never overflow by volume.
    pub limiter: Option<Limiter>,
    /// Kept events, oldest first: at most the scenario's queue limit + 1.
    pub queue: VecDeque<Arc<Event>>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub ovflw_ts: Option<Timestamp>,
    /// Events poured over the instance's life (after `distinct`).
    pub total_count: i64,
    /// Values already seen by `distinct`; only scenarios with `distinct` have a set (8 bytes here instead of an
    /// empty hash set's 48 in every other instance). Saved as a plain list, empty when there is none.
    #[serde(with = "seen_set")]
    pub seen: Option<Box<Seen>>,
    /// Bayesian guillotines already triggered, per condition; `None` until the first one is (one pointer in every
    /// instance, allocated only by those that trigger one: a boxed `Vec` because that pointer is thin, where a
    /// `Vec` or a `Box<[bool]>` would take 24 or 16 bytes). Saved as a plain list, empty when there is none.
    #[serde(with = "guillotine_list")]
    pub guillotine: Option<Box<Vec<bool>>>,
    /// Unique per instance (CrowdSec's bucket UUID); also tells a stale timer from a live one.
    pub id: u64,
    /// When the instance expires (underflow, or a counter's report), in ns on its own clock.
    pub deadline: i64,
    /// Whether a timer for this instance is in the manager's timer heap (the timer carries the deadline it was
    /// queued for).
    #[serde(skip)]
    pub timer_queued: bool,
}

/// The values `distinct` has seen in one instance: a sorted vector while there are few (one value costs 24 bytes
/// of heap, a hash set about 120), a hash set past [`Seen::FEW`].
#[derive(Clone, Debug)]
pub enum Seen {
    Few(Vec<CompactString>),
    Many(Box<HashSet<CompactString>>),
}

impl Default for Seen {
    fn default() -> Self {
        Seen::Few(Vec::new())
    }
}

impl Seen {
    /// Past this many values, lookups go to a hash set (a sorted insert moves up to this many entries).
    const FEW: usize = 32;

    /// Adds `value`; false when it was there already.
    pub fn insert(&mut self, value: &str) -> bool {
        match self {
            Seen::Few(v) => {
                let Err(at) = v.binary_search_by(|x| x.as_str().cmp(value)) else { return false };
                if v.len() < Seen::FEW {
                    if v.is_empty() {
                        v.reserve_exact(1);
                    }
                    v.insert(at, CompactString::from(value));
                } else {
                    let mut set: HashSet<CompactString> = v.drain(..).collect();
                    set.insert(CompactString::from(value));
                    *self = Seen::Many(Box::new(set));
                }
                true
            }
            Seen::Many(set) => {
                if set.contains(value) {
                    return false;
                }
                set.insert(CompactString::from(value))
            }
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Seen::Few(v) => v.len(),
            Seen::Many(set) => set.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn values(&self) -> Box<dyn Iterator<Item = &CompactString> + '_> {
        match self {
            Seen::Few(v) => Box::new(v.iter()),
            Seen::Many(set) => Box::new(set.iter()),
        }
    }
}

/// `Instance::guillotine` on disk: one flag per condition, as before it was optional (an empty list for none).
#[expect(clippy::box_collection, reason = "the type of `Instance::guillotine`")]
mod guillotine_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(g: &Option<Box<Vec<bool>>>, s: S) -> Result<S::Ok, S::Error> {
        g.as_deref().map_or(&[][..], |v| v.as_slice()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Vec<bool>>>, D::Error> {
        let flags = Vec::<bool>::deserialize(d)?;
        Ok(flags.contains(&true).then(|| Box::new(flags)))
    }
}

/// `Instance::seen` on disk: the list of values, as before it was optional (state saved by either reads back).
mod seen_set {
    use compact_str::CompactString;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Seen;

    pub fn serialize<S: Serializer>(seen: &Option<Box<Seen>>, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(seen.as_ref().map_or(0, |set| set.len())))?;
        if let Some(set) = seen {
            for v in set.values() {
                seq.serialize_element(v.as_str())?;
            }
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Seen>>, D::Error> {
        let values = Vec::<CompactString>::deserialize(d)?;
        if values.is_empty() {
            return Ok(None);
        }
        let mut set = Seen::default();
        for v in &values {
            set.insert(v);
        }
        Ok(Some(Box::new(set)))
    }
}

/// What a pour did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poured {
    /// Counted (or, for an event without a usable time in replay, looked at but not counted).
    Kept,
    /// Dropped by `distinct`.
    Duplicate,
    /// `cancel_on` matched: the instance dies silently.
    Canceled,
    /// The bucket overflowed.
    Overflow,
}

impl Poured {
    /// For debug traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Poured::Kept => "kept",
            Poured::Duplicate => "duplicate",
            Poured::Canceled => "canceled",
            Poured::Overflow => "overflow",
        }
    }
}

impl Instance {
    /// The index of the scenario that created the instance.
    #[inline]
    pub fn owner(&self) -> usize {
        self.owner as usize
    }

    /// Hands the instance to the scenario at `owner` (a reload that renumbered the scenarios).
    pub fn set_owner(&mut self, owner: usize) {
        self.owner = u32::try_from(owner).expect("fewer than 2^32 scenarios");
    }

    pub fn new(sc: &Scenario, owner: usize, key: CompactString, mode: ExpectMode, id: u64) -> Instance {
        let owner = u32::try_from(owner).expect("fewer than 2^32 scenarios");
        let limiter = if sc.capacity >= 0 && sc.kind != Kind::Conditional { Some(Limiter::new()) } else { None };
        Instance {
            key,
            owner,
            mode,
            clock: Arc::from(""),
            limiter,
            queue: VecDeque::new(),
            first_ts: None,
            last_ts: None,
            ovflw_ts: None,
            total_count: 0,
            seen: None,
            guillotine: None,
            id,
            deadline: 0,
            timer_queued: false,
        }
    }

    fn keep(&mut self, sc: &Scenario, evt: Arc<Event>) {
        if let Some(limit) = sc.queue_limit {
            // CrowdSec keeps one more than the limit: the event that overflows.
            while self.queue.len() > limit {
                self.queue.pop_front();
            }
        }
        if self.queue.capacity() == 0 {
            // Room for one: most instances of a flood of distinct sources never get a second event (a first
            // push would reserve four).
            self.queue.reserve_exact(1);
        }
        self.queue.push_back(evt);
    }

    /// Pours `evt`. `now` is the wall clock, used by live instances and as a fallback.
    pub fn pour(
        &mut self,
        sc: &Scenario,
        evt: &Arc<Event>,
        evt_time: &EventTime,
        now: Timestamp,
        services: &Services,
    ) -> Poured {
        if sc.kind == Kind::Trigger {
            // A trigger overflows on every event, before `distinct` is even looked at.
            let ts = match self.mode {
                ExpectMode::TimeMachine => evt_time.get(evt).unwrap_or(now),
                ExpectMode::Live => now,
            };
            self.first_ts = Some(ts);
            self.last_ts = Some(ts);
            self.ovflw_ts = Some(ts);
            self.total_count = 1;
            self.keep(sc, Arc::clone(evt));
            return Poured::Overflow;
        }
        if let Some(d) = &sc.distinct {
            match eval_text(d, evt, services) {
                Ok(element) => {
                    if !self.seen.get_or_insert_default().insert(&element) {
                        return Poured::Duplicate;
                    }
                }
                Err(e) => {
                    sc.stats.error();
                    crate::warn_limited!(scenario = %sc.name, "distinct failed: {e}")
                }
            }
        }
        if let Some(c) = &sc.cancel_on {
            let mut scope = Scope::new(services).with_evt(evt);
            match c.eval_bool(&mut scope) {
                Ok(true) => return Poured::Canceled,
                Ok(false) => {}
                Err(e) => {
                    sc.stats.error();
                    crate::warn_limited!(scenario = %sc.name, "cancel_on failed: {e}")
                }
            }
        }

        let ts = match self.mode {
            ExpectMode::Live => Some(now),
            ExpectMode::TimeMachine => {
                let t = evt_time.get(evt);
                if t.is_none() {
                    // CrowdSec: an event without MarshaledTime cannot be poured in replay.
                    crate::warn_limited!(scenario = %sc.name, src = %evt.line.src(), "event without a parsed date not poured (is a date enricher installed?)");
                }
                t
            }
        };
        let mut overflow = false;
        if let Some(ts) = ts {
            self.total_count += 1;
            if self.first_ts.is_none() {
                self.first_ts = Some(ts);
            }
            self.last_ts = Some(ts);
            let accepted = match &mut self.limiter {
                Some(l) => l.allow(&sc.rate, nanos(&ts)),
                None => true,
            };
            self.keep(sc, Arc::clone(evt));
            if !accepted {
                self.ovflw_ts = Some(ts);
                overflow = true;
            }
        }
        if overflow {
            return Poured::Overflow;
        }

        if let Some(cond) = &sc.condition {
            let r = {
                let queue = QueueView::new(&self.queue, sc.queue_limit);
                let leaky = LeakyView { inst: self, scenario: sc };
                let mut scope = Scope::new(services).with_evt(evt);
                scope.bind("queue", Value::host(&queue));
                scope.bind("leaky", Value::host(&leaky));
                cond.eval_bool(&mut scope)
            };
            match r {
                Ok(true) => {
                    self.ovflw_ts = self.last_ts;
                    return Poured::Overflow;
                }
                Ok(false) => {}
                Err(e) => {
                    sc.stats.error();
                    crate::warn_limited!(scenario = %sc.name, "condition failed: {e}")
                }
            }
        }
        if let Some(b) = &sc.bayes {
            let mut posterior = b.prior;
            for (i, c) in b.conditions.iter().enumerate() {
                if c.guillotine && self.guillotine.as_ref().is_some_and(|g| g.get(i) == Some(&true)) {
                    posterior = bayes_update(posterior, c.prob_given_evil, c.prob_given_benign);
                    continue;
                }
                let r = {
                    let queue = QueueView::new(&self.queue, sc.queue_limit);
                    let leaky = LeakyView { inst: self, scenario: sc };
                    let mut scope = Scope::new(services).with_evt(evt);
                    scope.bind("queue", Value::host(&queue));
                    scope.bind("leaky", Value::host(&leaky));
                    c.condition.eval_bool(&mut scope)
                };
                match r {
                    Ok(true) => {
                        posterior = bayes_update(posterior, c.prob_given_evil, c.prob_given_benign);
                        let g = self.guillotine.get_or_insert_with(Default::default);
                        // Sized here, not at creation: restored state may hold fewer flags than conditions.
                        if g.len() < b.conditions.len() {
                            g.resize(b.conditions.len(), false);
                        }
                        g[i] = true;
                    }
                    Ok(false) => {
                        posterior = bayes_update(posterior, 1.0 - c.prob_given_evil, 1.0 - c.prob_given_benign);
                    }
                    Err(e) => {
                        sc.stats.error();
                        crate::warn_limited!(scenario = %sc.name, "bayesian condition failed: {e}")
                    }
                }
            }
            if posterior > b.threshold {
                self.ovflw_ts = self.last_ts;
                return Poured::Overflow;
            }
        }
        Poured::Kept
    }
}

/// CrowdSec's bayesian update, in `float32` like the original so thresholds compare the same.
pub fn bayes_update(prior: f32, given_evil: f32, given_benign: f32) -> f32 {
    let numerator = given_evil * prior;
    numerator / (numerator + given_benign * (1.0 - prior))
}

/// [`event_time`] of the event being poured, parsed on first use and then remembered: a pour asks for it once per
/// bucket the event goes into, and parsing RFC 3339 text each time was a measurable share of pouring
/// (docs/performance.md, eighth round). Every copy a pour makes of the event (a filter's `SetMeta` copies on write)
/// has the same `MarshaledTime`: what a filter can write is `Meta`, `Parsed` and `Unmarshaled` (`expr::Mutation`).
#[derive(Default)]
pub struct EventTime(std::cell::OnceCell<Option<Timestamp>>);

impl EventTime {
    pub fn get(&self, evt: &Event) -> Option<Timestamp> {
        *self.0.get_or_init(|| event_time(evt))
    }
}

/// The event's own time, from `MarshaledTime` (what time-machine buckets run on).
pub fn event_time(evt: &Event) -> Option<Timestamp> {
    if evt.marshaled_time.is_empty() {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(&evt.marshaled_time).ok()
}

/// Nanoseconds since the Unix epoch (saturating far outside ±292 years).
pub fn nanos(t: &Timestamp) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 { i64::MIN } else { i64::MAX })
}

fn eval_text(p: &crate::expr::Program, evt: &Event, services: &Services) -> Result<String, String> {
    let mut scope = Scope::new(services).with_evt(evt);
    let v = p.eval(&mut scope).map_err(|e| e.to_string())?;
    // CrowdSec: a non-string distinct value counts as "".
    Ok(v.as_str().map(str::to_string).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bayes_update_is_bayes_rule() {
        let p = bayes_update(0.5, 0.9, 0.1);
        assert!((p - 0.9).abs() < 1e-6);
        let p = bayes_update(0.1, 0.5, 0.5);
        assert!((p - 0.1).abs() < 1e-6);
    }

    #[test]
    fn seen_values_are_found_before_and_after_the_set_grows_into_a_hash_set() {
        let mut seen = Seen::default();
        for i in 0..Seen::FEW {
            assert!(seen.insert(&format!("user{}", (i * 7) % Seen::FEW)), "{i}");
        }
        assert!(matches!(seen, Seen::Few(_)));
        assert!(!seen.insert("user3"));
        assert!(seen.insert("one more"));
        assert!(matches!(seen, Seen::Many(_)));
        assert_eq!(seen.len(), Seen::FEW + 1);
        assert!(!seen.insert("user3") && !seen.insert("one more"));
        assert!(seen.insert("a value longer than twenty-four bytes"));
        assert!(!seen.insert("a value longer than twenty-four bytes"));
    }

    #[test]
    fn seen_values_survive_a_save_and_an_instance_without_them_saves_an_empty_list() {
        #[derive(Serialize, Deserialize)]
        struct Saved {
            #[serde(with = "seen_set")]
            seen: Option<Box<Seen>>,
        }
        let none = serde_json::to_string(&Saved { seen: None }).unwrap();
        assert_eq!(none, r#"{"seen":[]}"#);
        assert!(serde_json::from_str::<Saved>(&none).unwrap().seen.is_none());
        let mut set = Seen::default();
        set.insert("root");
        set.insert("admin");
        let json = serde_json::to_string(&Saved { seen: Some(Box::new(set)) }).unwrap();
        assert_eq!(json, r#"{"seen":["admin","root"]}"#);
        let mut back = serde_json::from_str::<Saved>(&json).unwrap().seen.unwrap();
        assert!(!back.insert("root") && !back.insert("admin") && back.insert("guest"));
    }

    #[test]
    fn guillotines_save_as_a_list_and_state_saved_before_reads_back() {
        #[derive(serde::Serialize, serde::Deserialize)]
        #[expect(clippy::box_collection, reason = "the type of `Instance::guillotine`")]
        struct Saved {
            #[serde(with = "guillotine_list")]
            g: Option<Box<Vec<bool>>>,
        }
        assert_eq!(serde_json::to_string(&Saved { g: None }).unwrap(), r#"{"g":[]}"#);
        let json = serde_json::to_string(&Saved { g: Some(Box::new(vec![false, true])) }).unwrap();
        assert_eq!(json, r#"{"g":[false,true]}"#);
        assert_eq!(serde_json::from_str::<Saved>(&json).unwrap().g.as_deref(), Some(&vec![false, true]));
        // Before item 49 every bayesian instance saved one flag per condition, all false until one triggered.
        assert!(serde_json::from_str::<Saved>(r#"{"g":[false,false,false]}"#).unwrap().g.is_none());
        assert!(serde_json::from_str::<Saved>(r#"{"g":[]}"#).unwrap().g.is_none());
    }

    #[test]
    fn event_time_reads_marshaled_time() {
        let mut e = Event::default();
        assert!(event_time(&e).is_none());
        assert!(EventTime::default().get(&e).is_none());
        e.marshaled_time = "2026-02-12T14:10:21+02:00".into();
        let t = event_time(&e).unwrap();
        assert_eq!(t.offset().local_minus_utc(), 7200);
        assert_eq!(nanos(&t), 1_770_898_221_000_000_000);
    }
}
