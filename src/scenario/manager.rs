//! The buckets of every scenario: finds or creates the instance for each event, pours, expires instances, applies
//! blackholes and `overflow_filter`, and hands back overflow events.
//!
//! Single-threaded by design (the caller orders events): the same input gives the same alerts in the same order.
//! Time is passed in: time-machine instances run on the events' own timestamps, live instances on the `now`
//! the caller gives (the wall clock in the daemon, a fixed value in tests), so nothing here sleeps or reads a
//! clock. Expiry is a min-heap of deadlines with lazy invalidation: one entry per instance, re-queued when pours
//! pushed its deadline back.
//!
//! Time-machine buckets run on the clock of the source they read (the file): each file is in time order by
//! itself, so results do not depend on how the lines of several files were interleaved when read concurrently.
//!
//! Instances are keyed as CrowdSec keys them: by scenario name, filter text and groupby value. Two scenarios with the
//! same name and filter (it happens in the hub) therefore pour into the same instance, which runs with the settings
//! of the scenario that created it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use compact_str::CompactString;
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};

use crate::event::{Event, ExpectMode, Timestamp};
use crate::expr::{EvalArena, Memo, Scope, Services, Value};

use super::alert::overflow_event;
use super::compile::{AfterGuard, Kind, Scenario};
use super::instance::{EventTime, Instance, Poured, nanos};
use super::instances::{InstanceMap, key_hash};
use super::prefilter::{Prefilter, PrefilterTables};
use super::view::{LeakyView, QueueView};

/// From how many live instances (all scenarios) an event a bucket keeps is compacted first ([`Event::compact`]):
/// its maps packed, which takes about 40 % of the memory a kept sshd event takes, at about 2,500 instructions
/// per event (4,100 for an access-log event, whose maps are larger). Below, the buckets hold little memory
/// whatever the form of their events (10,000 instances of one scenario with their events: about 21 MB), and
/// events go in as parsed, which costs nothing; a flood of distinct sources passes this within a second and
/// then costs about 970 bytes per instance instead of 2,100 (items 48 and 49 of docs/performance.md).
pub const COMPACT_FROM: usize = 10_000;

/// A queued expiry. Ordered by `fire_at`, the time the heap must act on it: the deadline itself, or for
/// time-machine buckets one extra lifetime later (see `fire_at`); then by family and instance id (creation order),
/// so simultaneous expiries report in the same order on every run. 32 bytes: a flood of distinct sources queues one
/// per live instance, so the deadline it was queued for is not kept (`fire_at` is a function of it, item 48) and
/// neither is the key: the instance is found by its key's hash and its id (item 49).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    fire_at: i64,
    family: u32,
    id: u64,
    hash: u64,
}

/// The timer for an instance's current deadline. Time-machine instances (other than counters, which must report on
/// time) are kept one extra lifetime before collection: the lazy check in `pour_one` decides expiry exactly, even
/// when lines of several files arrive slightly out of order; the heap only reclaims memory.
fn timer_for(sc: &Scenario, fam: usize, inst: &Instance) -> Timer {
    let family = u32::try_from(fam).expect("fewer than 2^32 scenario families");
    Timer { fire_at: fire_at(sc, inst), family, id: inst.id, hash: key_hash(&inst.key) }
}

/// When the heap acts on `inst`'s current deadline. The same function of the deadline for the instance's whole
/// life (its owner and mode never change), so a timer whose `fire_at` is behind it was queued for an older one.
fn fire_at(sc: &Scenario, inst: &Instance) -> i64 {
    let grace = if inst.mode == ExpectMode::TimeMachine && sc.kind != Kind::Counter && !sc.report_on_expiry {
        sc.expiry
    } else {
        0
    };
    inst.deadline.saturating_add(grace)
}

/// The log clock of one source: the latest event time seen from it, and the timers of the buckets it feeds.
#[derive(Default)]
struct LogClock {
    now: i64,
    timers: BinaryHeap<Reverse<Timer>>,
}

/// Marks `inst`'s timer queued and puts it on the heap of its clock: the wall clock's, or its source's log clock.
/// Takes the two heaps rather than the manager, so a caller can hold an instance of the manager's tables.
#[inline]
fn queue_timer(
    live: &mut BinaryHeap<Reverse<Timer>>,
    tm: &mut HashMap<Arc<str>, LogClock, RandomState>,
    sc: &Scenario,
    fam: usize,
    inst: &mut Instance,
) {
    inst.timer_queued = true;
    let t = Reverse(timer_for(sc, fam, inst));
    match inst.mode {
        ExpectMode::TimeMachine => tm.entry(Arc::clone(&inst.clock)).or_default().timers.push(t),
        ExpectMode::Live => live.push(t),
    }
}

/// Which timers to advance: the wall clock's, or one source's log clock.
#[derive(Clone, Copy)]
enum ClockRef<'a> {
    Live,
    Log(&'a Arc<str>),
}

/// Evaluates an audit schema's fields with `evt` = the overflow event and `queue`/`leaky` = the bucket, so rows can
/// use every kept event (`queue.Queue[0].Time`, `count(queue.Queue, {…})`).
fn audit_record(
    schema: &super::compile::AuditSchema,
    ovf: &Event,
    inst: &Instance,
    sc: &Scenario,
    services: &Services,
) -> crate::event::AuditRecord {
    let queue = QueueView::new(&inst.queue, sc.queue_limit);
    let leaky = LeakyView { inst, scenario: sc };
    schema.record(
        || {
            let mut scope = Scope::new(services).with_evt(ovf);
            scope.bind("queue", Value::host(&queue));
            scope.bind("leaky", Value::host(&leaky));
            scope
        },
        |field, e| {
            sc.stats.error();
            crate::warn_limited!(scenario = %sc.name, field = %field, "audit field failed: {e}");
        },
    )
}

/// Why the pour loop stopped early for an event.
#[derive(Debug, Default)]
pub struct PourReport {
    /// Indices of the scenarios the event was poured into (for `explain` and dumps).
    pub poured: Vec<usize>,
    /// A filter or groupby failed: CrowdSec then skips the remaining scenarios for this event.
    pub error: Option<String>,
}

/// What one scenario keeps across a restart: its live instances and its active blackhole windows (without them, a
/// restart would let an attacker's next overflow through a blackhole that should still hold).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ScenarioState {
    pub name: String,
    pub instances: Vec<Instance>,
    /// Groupby value → end of its blackhole window, in ns on the clock of the overflow that opened it. Absent from
    /// state saved before blackholes were, which still loads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blackholes: Vec<(String, i64)>,
}

impl ScenarioState {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.blackholes.is_empty()
    }
}

pub struct Buckets {
    scenarios: Arc<Vec<Scenario>>,
    services: Arc<Services>,
    /// Scenario index → instance family (scenarios sharing name and filter share a family).
    family: Vec<usize>,
    /// Per family: groupby value → instance.
    instances: Vec<InstanceMap>,
    blackholes: Vec<HashMap<CompactString, i64, RandomState>>,
    /// Time-machine timers and log clocks, per source (`Line.Src`).
    tm: HashMap<Arc<str>, LogClock, RandomState>,
    live_timers: BinaryHeap<Reverse<Timer>>,
    next_id: u64,
    overflows_since_prune: usize,
    /// Scenario index → its guard's index among the distinct guards: most http scenarios share one
    /// (`evt.Meta.log_type in ['http_access-log', 'http_error-log']`), which is then checked once per event.
    guard_of: Vec<Option<usize>>,
    /// Per distinct guard, this event's verdict: 0 not checked yet, 1 admits, 2 rejects (reused between events).
    verdicts: Vec<u8>,
    /// Which filters may be true, by their required literals.
    prefilter: Prefilter,
    /// The scenarios (and groupby values) that took the event being poured, not poured into yet (reused between
    /// events; see `pour`).
    takers: Vec<(usize, CompactString)>,
}

impl Buckets {
    pub fn new(scenarios: Arc<Vec<Scenario>>, services: Arc<Services>) -> Buckets {
        let prefilter = Arc::new(PrefilterTables::new(&scenarios));
        Buckets::with_prefilter(scenarios, prefilter, services)
    }

    /// Buckets for `scenarios` whose prefilter automata were built already (`PrefilterTables::new` of the same
    /// scenarios: a pipeline builds them once, with the scenarios).
    pub fn with_prefilter(
        scenarios: Arc<Vec<Scenario>>,
        prefilter: Arc<PrefilterTables>,
        services: Arc<Services>,
    ) -> Buckets {
        let n = scenarios.len();
        let mut family = Vec::with_capacity(n);
        let mut families: Vec<(&str, &str)> = Vec::new();
        for sc in scenarios.iter() {
            let id = (&*sc.name, sc.filter.as_ref().map_or("", |f| f.source()));
            match families.iter().position(|f| *f == id) {
                Some(i) => family.push(i),
                None => {
                    family.push(families.len());
                    families.push(id);
                }
            }
        }
        let nfam = families.len();
        let mut guards: Vec<&crate::expr::guard::Guard> = Vec::new();
        let guard_of = scenarios
            .iter()
            .map(|sc| {
                let g = sc.guard.as_ref()?;
                Some(guards.iter().position(|x| *x == g).unwrap_or_else(|| {
                    guards.push(g);
                    guards.len() - 1
                }))
            })
            .collect();
        let verdicts = vec![0; guards.len()];
        Buckets {
            prefilter: Prefilter::new(prefilter),
            guard_of,
            verdicts,
            takers: Vec::new(),
            family,
            instances: (0..nfam).map(|_| InstanceMap::default()).collect(),
            scenarios,
            services,
            blackholes: (0..n).map(|_| HashMap::default()).collect(),
            tm: HashMap::default(),
            live_timers: BinaryHeap::new(),
            next_id: 1,
            overflows_since_prune: 0,
        }
    }

    pub fn scenarios(&self) -> &Arc<Vec<Scenario>> {
        &self.scenarios
    }

    /// Live instances created by a scenario.
    pub fn live_instances(&self, scenario: usize) -> usize {
        let Some(&fam) = self.family.get(scenario) else { return 0 };
        self.instances[fam].values().filter(|i| i.owner() == scenario).count()
    }

    pub fn total_instances(&self) -> usize {
        self.instances.iter().map(|m| m.len()).sum()
    }

    /// Pours one parsed event into every scenario whose filter accepts it; returns the overflow events.
    pub fn pour(&mut self, evt: Event, now: Timestamp, out: &mut Vec<Event>) -> PourReport {
        let mut report = PourReport::default();
        let evt_time = EventTime::default();
        if evt.expect_mode == ExpectMode::TimeMachine
            && let Some(t) = evt_time.get(&evt)
        {
            self.advance_tm(evt.line.src(), nanos(&t), out);
        }
        self.advance_live(nanos(&now), now, out);

        // One shared copy for every bucket the event goes into; a filter that writes to the event afterwards
        // (`evt.SetMeta`) gets its own copy on write, so buckets already holding it keep what they saw.
        // The scenarios that take the event are gathered first and poured into after the last filter: the event
        // is compacted once before any bucket keeps it, and every filter before that reads it in the parsing
        // form, which is faster to search (item 48 of docs/performance.md). A filter that writes pours what was
        // gathered before it, so the order of pours and what each bucket sees are as if each were poured at once.
        let mut evt = Arc::new(evt);
        let mut takers = std::mem::take(&mut self.takers);
        let scenarios = Arc::clone(&self.scenarios);
        let slots = self.services.memo.len();
        let mut memo = Memo::new(&evt, slots);
        self.verdicts.fill(0);
        self.prefilter.reset();
        for (si, sc) in scenarios.iter().enumerate() {
            if let (Some(g), Some(gi)) = (&sc.guard, self.guard_of[si]) {
                if self.verdicts[gi] == 0 {
                    self.verdicts[gi] = if g.admits(&evt) { 1 } else { 2 };
                }
                if self.verdicts[gi] == 2 {
                    continue;
                }
            }
            if !self.prefilter.admits(si, &evt, &memo, &self.services) {
                continue;
            }
            // After an exact guard (which admitted the event, or we would not be here), only what follows it.
            let filter = match &sc.after_guard {
                Some(AfterGuard::Nothing) => None,
                Some(AfterGuard::Rest(rest)) => Some(rest),
                None => sc.filter.as_ref(),
            };
            if let Some(f) = filter {
                let arena = EvalArena::new();
                let (r, muts) = {
                    let mut scope = Scope::new(&self.services).with_evt(&evt).with_arena(&arena).with_memo(&memo);
                    let r = f.eval_bool(&mut scope);
                    (r, scope.take_mutations())
                };
                if !muts.is_empty() {
                    self.pour_takers(&mut takers, &mut evt, &evt_time, now, out);
                    let e = Arc::make_mut(&mut evt);
                    for m in muts {
                        m.apply(e);
                    }
                    // The event changed (and may have moved): what was memoised may be stale, and so may the
                    // guards' verdicts.
                    memo = Memo::new(&evt, slots);
                    self.verdicts.fill(0);
                    self.prefilter.reset();
                }
                match r {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        sc.stats.error();
                        crate::warn_limited!(scenario = %sc.name, "filter failed, event not poured further: {e}");
                        report.error = Some(format!("{}: filter: {e}", sc.name));
                        break;
                    }
                }
            }
            // Inline up to 24 bytes (an IP, a user name): no allocation unless a new bucket is created.
            let key: CompactString = match &sc.groupby {
                None => CompactString::default(),
                Some(g) => {
                    let mut scope = Scope::new(&self.services).with_evt(&evt);
                    match g.eval(&mut scope) {
                        Ok(Value::Str(s)) => CompactString::from(&*s),
                        Ok(other) => {
                            sc.stats.error();
                            let msg =
                                format!("{}: groupby returned {} instead of a string", sc.name, other.type_name());
                            crate::warn_limited!("{msg}");
                            report.error = Some(msg);
                            break;
                        }
                        Err(e) => {
                            sc.stats.error();
                            crate::warn_limited!(scenario = %sc.name, "groupby failed: {e}");
                            report.error = Some(format!("{}: groupby: {e}", sc.name));
                            break;
                        }
                    }
                }
            };
            report.poured.push(si);
            takers.push((si, key));
        }
        self.pour_takers(&mut takers, &mut evt, &evt_time, now, out);
        self.takers = takers;
        report
    }

    /// Pours `evt` into the buckets of `takers` (emptied), in order; compacting it first when many instances are
    /// live (see [`COMPACT_FROM`]), since the buckets are about to keep it.
    fn pour_takers(
        &mut self,
        takers: &mut Vec<(usize, CompactString)>,
        evt: &mut Arc<Event>,
        evt_time: &EventTime,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        if takers.is_empty() {
            return;
        }
        if self.total_instances() >= COMPACT_FROM
            && let Some(e) = Arc::get_mut(evt)
        {
            e.compact();
        }
        for (si, key) in takers.drain(..) {
            self.pour_one(si, key, evt, evt_time, now, out);
        }
    }

    /// Feeds an overflow event back into the scenarios (`reprocess: true`).
    pub fn reprocess(&mut self, ovf: Event, now: Timestamp, out: &mut Vec<Event>) -> PourReport {
        self.pour(ovf, now, out)
    }

    fn pour_one(
        &mut self,
        si: usize,
        group: CompactString,
        evt: &Arc<Event>,
        evt_time: &EventTime,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) {
        let key = group.as_str();
        let scenarios = Arc::clone(&self.scenarios);
        scenarios[si].stats.poured.fetch_add(1, Ordering::Relaxed);
        let fam = self.family[si];
        let mode = evt.expect_mode;
        let map = &mut self.instances[fam];
        // Time-machine expiry is checked when the next event arrives (spec §7.6): a bucket idle for longer than
        // its lifetime on the log's clock is replaced by a fresh one.
        if let Some(inst) = map.get(key)
            && inst.mode == ExpectMode::TimeMachine
            && inst.first_ts.is_some()
            && scenarios[inst.owner()].kind != Kind::Counter
            && let (Some(d), Some(last)) = (evt_time.get(evt), inst.last_ts)
            && nanos(&d) > nanos(&last).saturating_add(scenarios[inst.owner()].expiry)
        {
            let owner = inst.owner();
            let old = map.remove(key).expect("instance present");
            self.expire(owner, *old, out);
        }
        let map = &mut self.instances[fam];
        // One lookup; the groupby value moves into a new instance (inline, no allocation, up to 24 bytes).
        let next_id = &mut self.next_id;
        let inst = map.get_or_insert_with(group, |group| {
            let id = *next_id;
            *next_id += 1;
            let mut inst = Instance::new(&scenarios[si], si, group, mode, id);
            inst.clock = Arc::clone(evt.line.src());
            scenarios[si].stats.instantiated.fetch_add(1, Ordering::Relaxed);
            inst
        });
        let owner = inst.owner();
        let sc = &scenarios[owner];
        let result = inst.pour(sc, evt, evt_time, now, &self.services);
        if scenarios[si].debug {
            crate::item_debug!(
                scenario = %scenarios[si].name,
                key = %inst.key,
                count = inst.total_count,
                result = result.as_str(),
                "pour"
            );
        }
        match result {
            Poured::Duplicate => {}
            Poured::Canceled => {
                let key = inst.key.clone();
                map.remove(&key);
                sc.stats.canceled.fetch_add(1, Ordering::Relaxed);
            }
            Poured::Kept => {
                // The expiry clock restarts on every pour, except a counter's, which reports at a fixed time.
                let base = match inst.mode {
                    ExpectMode::TimeMachine => inst.last_ts.map(|t| nanos(&t)),
                    ExpectMode::Live => Some(nanos(&now)),
                };
                if let Some(base) = base
                    && (sc.kind != Kind::Counter || inst.deadline == 0)
                {
                    let start =
                        if sc.kind == Kind::Counter { inst.first_ts.map(|t| nanos(&t)).unwrap_or(base) } else { base };
                    inst.deadline = match sc.every {
                        // Periodic counters report at the next multiple of their period.
                        Some(p) => (start.div_euclid(p) + 1).saturating_mul(p),
                        None => start.saturating_add(sc.expiry.max(1)),
                    };
                    if !inst.timer_queued {
                        queue_timer(&mut self.live_timers, &mut self.tm, sc, fam, inst);
                    }
                }
            }
            Poured::Overflow => {
                let key = inst.key.clone();
                let inst = map.remove(&key).expect("instance present");
                self.emit(owner, &inst, out);
            }
        }
    }

    /// Runs the overflow hooks (overflow_filter, blackhole) and emits the alert event.
    fn emit(&mut self, si: usize, inst: &Instance, out: &mut Vec<Event>) {
        let sc = &self.scenarios[si];
        let ovflw = inst.ovflw_ts.or(inst.last_ts).map(|t| nanos(&t)).unwrap_or(0);
        // Without an overflow_filter (which sees the alert), a blackholed overflow is known before building the
        // alert: skip that work. Attackers overflow again and again inside the window.
        if sc.overflow_filter.is_none()
            && sc.blackhole.is_some()
            && self.blackholes[si].get(&inst.key).is_some_and(|&until| until > ovflw)
        {
            sc.stats.blackholed.fetch_add(1, Ordering::Relaxed);
            if sc.debug {
                crate::item_debug!(scenario = %sc.name, key = %inst.key, count = inst.total_count, "overflow blackholed");
            }
            return;
        }
        let event = overflow_event(sc, inst, &self.services);
        if let Some(f) = &sc.overflow_filter {
            let keep = {
                let queue = QueueView::new(&inst.queue, sc.queue_limit);
                let leaky = LeakyView { inst, scenario: sc };
                let mut scope = Scope::new(&self.services);
                scope.bind("queue", Value::host(&queue));
                scope.bind("leaky", Value::host(&leaky));
                if let Ok(e) = &event
                    && let Some(ovf) = e.overflow()
                {
                    scope.bind("signal", Value::host(ovf));
                }
                f.eval_bool(&mut scope)
            };
            match keep {
                Ok(true) => {}
                Ok(false) => {
                    if sc.debug {
                        crate::item_debug!(
                            scenario = %sc.name,
                            key = %inst.key,
                            count = inst.total_count,
                            "overflow discarded by overflow_filter"
                        );
                    }
                    return;
                }
                Err(e) => {
                    sc.stats.error();
                    crate::warn_limited!(scenario = %sc.name, "overflow_filter failed, overflow discarded: {e}");
                    return;
                }
            }
        }
        if let Some(bh) = sc.blackhole {
            let holes = &mut self.blackholes[si];
            if let Some(&until) = holes.get(&inst.key)
                && until > ovflw
            {
                sc.stats.blackholed.fetch_add(1, Ordering::Relaxed);
                if sc.debug {
                    crate::item_debug!(scenario = %sc.name, key = %inst.key, count = inst.total_count, "overflow blackholed");
                }
                return;
            }
            holes.insert(inst.key.clone(), ovflw.saturating_add(bh));
            self.overflows_since_prune += 1;
            if self.overflows_since_prune > 4096 {
                self.overflows_since_prune = 0;
                let now = ovflw;
                for h in &mut self.blackholes {
                    h.retain(|_, until| *until > now);
                }
            }
        }
        sc.stats.overflows.fetch_add(1, Ordering::Relaxed);
        if sc.debug {
            crate::item_debug!(scenario = %sc.name, key = %inst.key, count = inst.total_count, "overflow");
        }
        match event {
            Ok(mut e) => {
                if let Some(schema) = &sc.audit {
                    let record = audit_record(schema, &e, inst, sc, &self.services);
                    if let Some(ovf) = e.overflow_mut() {
                        ovf.alert.audit = Some(record);
                    }
                }
                out.push(e)
            }
            Err(e) => {
                sc.stats.error();
                crate::warn_limited!(scenario = %sc.name, "overflow without alert: {e}")
            }
        }
    }

    /// Advances the log clock of time-machine buckets: counters due report, idle instances are collected.
    fn advance_tm(&mut self, src: &Arc<str>, now: i64, out: &mut Vec<Event>) {
        let clock = self.tm.entry(Arc::clone(src)).or_default();
        if now <= clock.now {
            return;
        }
        clock.now = now;
        self.fire(ClockRef::Log(src), now, None, out);
    }

    /// Advances the wall clock of live buckets (also called periodically by the daemon through [`Buckets::tick`]).
    fn advance_live(&mut self, now_ns: i64, now: Timestamp, out: &mut Vec<Event>) {
        self.fire(ClockRef::Live, now_ns, Some(now), out);
    }

    /// Timers due at wall-clock `now`: what the daemon calls every second so live buckets expire and counters
    /// report without waiting for the next event.
    pub fn tick(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.advance_live(nanos(&now), now, out);
    }

    fn heap(&mut self, clock: ClockRef) -> &mut BinaryHeap<Reverse<Timer>> {
        match clock {
            ClockRef::Live => &mut self.live_timers,
            ClockRef::Log(src) => &mut self.tm.entry(Arc::clone(src)).or_default().timers,
        }
    }

    fn fire(&mut self, clock: ClockRef, now: i64, now_ts: Option<Timestamp>, out: &mut Vec<Event>) {
        let tm = matches!(clock, ClockRef::Log(_));
        loop {
            let heap = self.heap(clock);
            let Some(Reverse(top)) = heap.peek() else { break };
            // Time-machine expiry compares strictly (CrowdSec: event time *after* the deadline).
            let due = if tm { now > top.fire_at } else { now >= top.fire_at };
            if !due {
                break;
            }
            let Reverse(t) = heap.pop().expect("peeked");
            let map = &mut self.instances[t.family as usize];
            // A timer of an instance gone since (or replaced by one of the same key) finds nothing.
            let Some(inst) = map.get_mut_by_id(t.hash, t.id) else { continue };
            let sc = &self.scenarios[inst.owner()];
            if fire_at(sc, inst) > t.fire_at {
                // Pours moved the deadline: queue it again.
                inst.timer_queued = true;
                let again = Timer { fire_at: fire_at(sc, inst), ..t };
                self.heap(clock).push(Reverse(again));
                continue;
            }
            let mut inst = map.remove_by_id(t.hash, t.id).expect("present");
            let owner = inst.owner();
            let sc = &self.scenarios[owner];
            if sc.kind != Kind::Counter {
                self.expire(owner, *inst, out);
            } else {
                // A counter reports what it counted when its time is up.
                let at = if tm {
                    chrono::DateTime::from_timestamp_nanos(inst.deadline).fixed_offset()
                } else {
                    now_ts.unwrap_or_else(|| chrono::Utc::now().fixed_offset())
                };
                inst.ovflw_ts = Some(at);
                self.emit(owner, &inst, out);
            }
        }
    }

    /// An instance reached its lifetime without overflowing: dropped silently (CrowdSec's underflow), or reported
    /// when its scenario says `report_on_expiry`.
    fn expire(&mut self, owner: usize, mut inst: Instance, out: &mut Vec<Event>) {
        let sc = &self.scenarios[owner];
        sc.stats.underflows.fetch_add(1, Ordering::Relaxed);
        if sc.debug {
            let reported = sc.report_on_expiry && !inst.queue.is_empty();
            crate::item_debug!(scenario = %sc.name, key = %inst.key, count = inst.total_count, reported, "expired");
        }
        if sc.report_on_expiry && !inst.queue.is_empty() {
            inst.ovflw_ts = inst.last_ts;
            self.emit(owner, &inst, out);
        }
    }

    /// Moves the live state of scenarios that did not change (same name and fingerprint) into `new`, the buckets
    /// of a reloaded pipeline: their instances, blackholes and log clocks. Returns how many instances moved.
    pub fn transfer_to(self, new: &mut Buckets) -> usize {
        let mut moved = 0;
        let old_scenarios = Arc::clone(&self.scenarios);
        let mut old_instances = self.instances;
        for (ni, nsc) in new.scenarios.clone().iter().enumerate() {
            let Some(oi) = old_scenarios.iter().position(|o| o.name == nsc.name && o.fingerprint == nsc.fingerprint)
            else {
                continue;
            };
            let ofam = self.family[oi];
            let nfam = new.family[ni];
            let keys: Vec<CompactString> =
                old_instances[ofam].values().filter(|i| i.owner() == oi).map(|i| i.key.clone()).collect();
            for k in keys {
                let Some(mut inst) = old_instances[ofam].remove(&k) else { continue };
                inst.set_owner(ni);
                inst.id = new.next_id;
                new.next_id += 1;
                queue_timer(&mut new.live_timers, &mut new.tm, nsc, nfam, &mut inst);
                new.instances[nfam].insert(inst);
                moved += 1;
            }
            new.blackholes[ni] = self.blackholes[oi].clone();
        }
        for (src, clock) in &self.tm {
            new.tm.entry(Arc::clone(src)).or_default().now = clock.now;
        }
        moved
    }

    /// Instances still alive and blackhole windows, per scenario, for saving state on shutdown.
    pub fn snapshot(&self) -> Vec<ScenarioState> {
        self.scenarios
            .iter()
            .enumerate()
            .map(|(si, sc)| {
                let mut v: Vec<Instance> =
                    self.instances[self.family[si]].values().filter(|i| i.owner() == si).cloned().collect();
                v.sort_by(|a, b| a.key.cmp(&b.key));
                let mut blackholes: Vec<(String, i64)> =
                    self.blackholes[si].iter().map(|(k, until)| (k.to_string(), *until)).collect();
                blackholes.sort();
                ScenarioState { name: sc.name.to_string(), instances: v, blackholes }
            })
            .collect()
    }

    /// Restores saved instances and blackhole windows of scenarios that still exist; returns how many instances
    /// were restored. A window already over is harmless (it no longer matches) and goes with the next prune.
    pub fn restore(&mut self, saved: Vec<ScenarioState>) -> usize {
        let mut n = 0;
        for ScenarioState { name, instances, blackholes } in saved {
            let Some(si) = self.scenarios.iter().position(|s| *s.name == *name) else { continue };
            // A scenario that lost its blackhole since has nothing to apply them to.
            if self.scenarios[si].blackhole.is_some() {
                self.blackholes[si].extend(blackholes.into_iter().map(|(k, until)| (CompactString::from(k), until)));
            }
            let fam = self.family[si];
            for mut inst in instances {
                inst.id = self.next_id;
                self.next_id += 1;
                inst.set_owner(si);
                queue_timer(&mut self.live_timers, &mut self.tm, &self.scenarios[si], fam, &mut inst);
                self.instances[fam].insert(Box::new(inst));
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_is_four_words() {
        // One per live instance in the heaps: a flood of distinct sources queues a million (item 49).
        assert_eq!(std::mem::size_of::<Reverse<Timer>>(), 32);
    }

    #[test]
    fn simultaneous_timers_come_out_in_creation_order_whatever_their_hashes() {
        let mut heap = BinaryHeap::new();
        for (id, hash) in [(3u64, 1u64), (1, 99), (2, 50)] {
            heap.push(Reverse(Timer { fire_at: 10, family: 0, id, hash }));
        }
        heap.push(Reverse(Timer { fire_at: 5, family: 1, id: 9, hash: 0 }));
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|Reverse(t)| t.id)).collect();
        assert_eq!(order, [9, 1, 2, 3]);
    }
}
