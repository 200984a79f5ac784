//! The dispatcher: fans every alert, notice and audit row out to the enabled listeners.
//!
//! Per listener, in the pipeline's thread and without blocking: the severity floor, the filter expression
//! (`Alert`, `evt`), the rate limit (`governor`, wall clock), then a `try_send` into the listener's bounded queue.
//! Each listener has one worker thread that delivers from its queue, so a slow or dead listener only fills its own
//! queue: when the queue is full the item is dropped and counted. Everything that goes wrong is counted in plain
//! atomics ([`ListenerCounters`]) and logged rate-limited.
//!
//! [`Dispatcher::close`] stops accepting, lets every worker finish its queue and flush, and waits for them up to a
//! deadline; what is still queued then is counted as dropped.
//!
//! What this module is not: it does not know how any listener delivers (`output::listeners`), nor how the daemon
//! runs (it plugs in as a `daemon::AlertSink`).

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::config::listeners::{ListenerSpec, ListenersSettings};
use crate::config::yaml::{ConfigError, ConfigErrors, Expr};
use crate::event::{Event, Severity};
use crate::expr::{self, CompileEnv, Program, RootType, Scope, Services, Value};

use super::event::{AuditRow, EventView};
use super::listeners::{self, Accepts, Format, Item, Listener, SpecCtx};

/// Default queue length per listener.
pub const DEFAULT_QUEUE: usize = 1024;
/// Default time [`Dispatcher::close`] waits for the workers.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Items a worker delivers between two flushes when its queue never empties.
const FLUSH_EVERY: usize = 256;

/// What happened to the items offered to one listener. Plain atomics, read by the metrics exporter.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Delivered.
    pub sent: AtomicU64,
    /// Delivery attempted and failed (after retries).
    pub failed: AtomicU64,
    /// Not delivered because the queue was full, or still queued when shutdown gave up waiting.
    pub dropped: AtomicU64,
    /// Refused by the rate limit.
    pub rate_limited: AtomicU64,
    /// In the queue or being delivered right now (a gauge).
    pub queued: AtomicU64,
}

impl ListenerCounters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// `(sent, failed, dropped, rate_limited)`, for summaries and tests.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        (g(&self.sent), g(&self.failed), g(&self.dropped), g(&self.rate_limited))
    }
}

/// A rate limit on the wall clock: at most `max` items per `per`, in bursts of up to `max` (GCRA: one slot comes
/// back every `per / max`).
pub struct RateLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
}

impl RateLimit<DefaultClock> {
    /// `None` when `max` is 0 (no limit) or the period is zero.
    pub fn new(max: u32, per: Duration) -> Option<RateLimit> {
        RateLimit::with_clock(max, per, DefaultClock::default())
    }
}

impl<C: Clock> RateLimit<C> {
    pub fn with_clock(max: u32, per: Duration, clock: C) -> Option<RateLimit<C>> {
        let burst = NonZeroU32::new(max)?;
        let quota = Quota::with_period(per / max)?.allow_burst(burst);
        Some(RateLimit { limiter: RateLimiter::direct_with_clock(quota, clock) })
    }

    /// Takes one slot; `false` when none is free.
    pub fn allow(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

/// One listener with its selection rules, before it is started.
pub struct ListenerSetup {
    pub name: String,
    pub listener: Box<dyn Listener>,
    pub accepts: Accepts,
    pub min_severity: Severity,
    pub filter: Option<Program>,
    pub rate_limit: Option<RateLimit>,
    pub queue_size: usize,
}

impl ListenerSetup {
    /// A listener taking every event: no floor, no filter, no limit, the default queue.
    pub fn new(name: &str, listener: Box<dyn Listener>, accepts: Accepts) -> ListenerSetup {
        ListenerSetup {
            name: name.to_string(),
            listener,
            accepts,
            min_severity: Severity::Notice,
            filter: None,
            rate_limit: None,
            queue_size: DEFAULT_QUEUE,
        }
    }
}

struct Slot {
    name: String,
    accepts: Accepts,
    min_severity: Severity,
    filter: Option<Program>,
    rate_limit: Option<RateLimit>,
    tx: Option<SyncSender<Item>>,
    done: Receiver<()>,
    counters: Arc<ListenerCounters>,
}

/// What [`Dispatcher::close`] saw.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Listeners whose worker did not finish in time, with the items they still held.
    pub unfinished: Vec<(String, u64)>,
}

/// How the profiles route one alert (`notifications:` in `profiles.yaml`, see docs/api.md): the listeners that
/// any profile names are *routed* and take an alert only when a profile that matched it names them; listeners
/// that no profile names take every alert, as without profiles.
#[derive(Clone, Copy, Debug)]
pub struct Route<'a> {
    /// Every listener name that appears in some profile's `notifications`.
    pub routed: &'a HashSet<String>,
    /// The names the profiles that matched this alert give.
    pub notify: &'a [String],
}

impl Route<'_> {
    pub fn accepts(&self, listener: &str) -> bool {
        !self.routed.contains(listener) || self.notify.iter().any(|n| n == listener)
    }
}

/// Fans events out to listeners; see the module documentation.
pub struct Dispatcher {
    slots: Vec<Slot>,
    services: Arc<Services>,
    close_timeout: Duration,
    closed: bool,
}

/// Options of [`Dispatcher::from_settings`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DispatchOptions {
    /// Leave out `console` listeners (`replay --listeners` prints alerts itself).
    pub skip_console: bool,
}

impl Dispatcher {
    /// Starts one worker per listener.
    pub fn new(setups: Vec<ListenerSetup>) -> Dispatcher {
        let slots = setups.into_iter().map(start).collect();
        Dispatcher { slots, services: Arc::new(Services::new()), close_timeout: DEFAULT_CLOSE_TIMEOUT, closed: false }
    }

    /// Builds and starts the listeners enabled in `settings`, or reports every configuration problem.
    pub fn from_settings(settings: &ListenersSettings, opts: DispatchOptions) -> Result<Dispatcher, ConfigErrors> {
        let services = Arc::new(Services::new());
        let setups = setups_from_settings(settings, &services, opts)?;
        let mut d = Dispatcher::new(setups);
        d.services = services;
        Ok(d)
    }

    /// How long [`Dispatcher::close`] waits for the workers (default 10 s).
    pub fn with_close_timeout(mut self, t: Duration) -> Dispatcher {
        self.close_timeout = t;
        self
    }

    /// The listeners' names and counters, in configuration order.
    pub fn counters(&self) -> Vec<(String, Arc<ListenerCounters>)> {
        self.slots.iter().map(|s| (s.name.clone(), Arc::clone(&s.counters))).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Offers an overflow event to every listener: its event view to those taking events, its audit row (if it
    /// carries one) to those taking audit rows. Never blocks.
    pub fn dispatch(&self, evt: &Event) {
        self.dispatch_routed(evt, None);
    }

    /// [`Dispatcher::dispatch`], with the profiles' routing applied when given: a listener that some profile
    /// names in `notifications` only takes the alerts whose matching profiles name it.
    pub fn dispatch_routed(&self, evt: &Event, route: Option<&Route>) {
        let Some(ovf) = evt.overflow() else { return };
        let severity = ovf.alert.severity;
        let mut view: Option<Arc<EventView>> = None;
        let mut row: Option<Option<Arc<AuditRow>>> = None;
        for slot in &self.slots {
            if slot.tx.is_none() || severity < slot.min_severity {
                continue;
            }
            if let Some(r) = route
                && !r.accepts(&slot.name)
            {
                continue;
            }
            if slot.accepts == Accepts::Audit && ovf.alert.audit.is_none() {
                continue;
            }
            if let Some(f) = &slot.filter
                && !self.filter_accepts(slot, f, evt)
            {
                continue;
            }
            if let Some(rl) = &slot.rate_limit
                && !rl.allow()
            {
                ListenerCounters::add(&slot.counters.rate_limited, 1);
                crate::warn_limited!(listener = %slot.name, "rate limit reached: event not sent ({} so far)", slot.counters.rate_limited.load(Ordering::Relaxed));
                continue;
            }
            let item = match slot.accepts {
                Accepts::Events => {
                    // Built once, for the first listener that takes it (`from_event` is total on overflow events).
                    let v = view.get_or_insert_with(|| Arc::new(EventView::from_event(evt).unwrap_or_else(empty_view)));
                    Item::Event(Arc::clone(v))
                }
                Accepts::Audit => {
                    let Some(r) = row.get_or_insert_with(|| AuditRow::from_event(evt).map(Arc::new)).clone() else {
                        continue;
                    };
                    Item::Audit(r)
                }
            };
            self.offer(slot, item);
        }
    }

    fn filter_accepts(&self, slot: &Slot, f: &Program, evt: &Event) -> bool {
        let Some(ovf) = evt.overflow() else { return false };
        let mut scope = Scope::new(&self.services).with_evt(evt);
        scope.bind("Alert", Value::host(&ovf.alert));
        match f.eval_bool(&mut scope) {
            Ok(b) => b,
            Err(e) => {
                crate::warn_limited!(listener = %slot.name, "filter failed, event not sent: {e}");
                false
            }
        }
    }

    fn offer(&self, slot: &Slot, item: Item) {
        let Some(tx) = &slot.tx else { return };
        ListenerCounters::add(&slot.counters.queued, 1);
        match tx.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                slot.counters.queued.fetch_sub(1, Ordering::Relaxed);
                ListenerCounters::add(&slot.counters.dropped, 1);
                crate::warn_limited!(listener = %slot.name, "queue full, event dropped ({} so far)", slot.counters.dropped.load(Ordering::Relaxed));
            }
            Err(TrySendError::Disconnected(_)) => {
                slot.counters.queued.fetch_sub(1, Ordering::Relaxed);
                ListenerCounters::add(&slot.counters.dropped, 1);
                crate::warn_limited!(listener = %slot.name, "listener worker is gone, event dropped");
            }
        }
    }

    /// Stops accepting, lets the workers deliver what is queued and flush, and waits for them up to the close
    /// timeout (shared by all listeners). Items still queued after it are counted as dropped.
    pub fn close(&mut self) -> CloseReport {
        let mut report = CloseReport::default();
        if self.closed {
            return report;
        }
        self.closed = true;
        for s in &mut self.slots {
            s.tx = None;
        }
        let deadline = Instant::now() + self.close_timeout;
        for s in &self.slots {
            let left = deadline.saturating_duration_since(Instant::now());
            match s.done.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
                Err(RecvTimeoutError::Timeout) => {
                    let n = s.counters.queued.load(Ordering::Relaxed);
                    ListenerCounters::add(&s.counters.dropped, n);
                    tracing::error!(listener = %s.name, "shutdown: {n} event(s) not delivered in time");
                    report.unfinished.push((s.name.clone(), n));
                }
            }
        }
        report
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.close();
    }
}

impl crate::daemon::AlertSink for Dispatcher {
    fn alert(&mut self, alert: &Event) {
        self.dispatch(alert);
    }

    fn alert_routed(&mut self, alert: &Event, route: &Route) {
        self.dispatch_routed(alert, Some(route));
    }

    fn listener_counters(&self) -> Vec<(String, Arc<ListenerCounters>)> {
        self.counters()
    }

    fn close(&mut self) {
        Dispatcher::close(self);
    }

    fn summary(&self) -> Option<String> {
        summary_line(&self.counters())
    }
}

/// One line about the listeners for an exit summary: what each sent, and what went wrong (`None` when there is
/// no listener).
pub fn summary_line(counters: &[(String, Arc<ListenerCounters>)]) -> Option<String> {
    if counters.is_empty() {
        return None;
    }
    let parts: Vec<String> = counters
        .iter()
        .map(|(name, c)| {
            let (sent, failed, dropped, limited) = c.snapshot();
            let mut s = format!("{name}: {sent} sent");
            for (n, what) in [(failed, "failed"), (dropped, "dropped"), (limited, "rate-limited")] {
                if n > 0 {
                    s.push_str(&format!(", {n} {what}"));
                }
            }
            s
        })
        .collect();
    Some(format!("listeners: {}", parts.join("; ")))
}

fn empty_view() -> EventView {
    EventView {
        timestamp: String::new(),
        severity: Severity::Notice,
        system: String::new(),
        summary: String::new(),
        message: None,
        data: Default::default(),
        records: Vec::new(),
        alert: serde_json::Value::Null,
        text: String::new(),
    }
}

/// Starts the worker of one listener.
fn start(setup: ListenerSetup) -> Slot {
    let (tx, rx) = sync_channel::<Item>(setup.queue_size.max(1));
    let (done_tx, done) = mpsc::channel();
    let counters = Arc::new(ListenerCounters::default());
    let c = Arc::clone(&counters);
    let name = setup.name.clone();
    let mut listener = setup.listener;
    let spawned = std::thread::Builder::new().name(format!("listener-{}", setup.name)).spawn(move || {
        work(&name, listener.as_mut(), &rx, &c);
        let _ = done_tx.send(());
    });
    let tx = match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::error!(listener = %setup.name, "cannot start the listener's worker: {e}");
            None
        }
    };
    Slot {
        name: setup.name,
        accepts: setup.accepts,
        min_severity: setup.min_severity,
        filter: setup.filter,
        rate_limit: setup.rate_limit,
        tx,
        done,
        counters,
    }
}

/// The worker loop: deliver, and flush whenever the queue is momentarily empty (and every [`FLUSH_EVERY`]
/// items). Ends when the dispatcher drops its sender and the queue is drained.
fn work(name: &str, listener: &mut dyn Listener, rx: &Receiver<Item>, c: &ListenerCounters) {
    let deliver = |listener: &mut dyn Listener, item: Item| {
        // A panic in a delivery (a bug, here or in a client library, on some odd event) costs that event, not the
        // listener: the worker goes on with the next one.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| listener.deliver(&item)))
            .unwrap_or_else(|_| Err("the listener panicked".into()));
        match r {
            Ok(()) => ListenerCounters::add(&c.sent, 1),
            Err(e) => {
                ListenerCounters::add(&c.failed, 1);
                crate::warn_limited!(listener = %name, "delivery failed: {e}");
            }
        }
        c.queued.fetch_sub(1, Ordering::Relaxed);
    };
    let flush = |listener: &mut dyn Listener| {
        if let Err(e) = listener.flush() {
            crate::warn_limited!(listener = %name, "flush failed: {e}");
        }
    };
    while let Ok(item) = rx.recv() {
        deliver(listener, item);
        let mut n = 1;
        while let Ok(item) = rx.try_recv() {
            deliver(listener, item);
            n += 1;
            if n % FLUSH_EVERY == 0 {
                flush(listener);
            }
        }
        flush(listener);
    }
    flush(listener);
}

/// The default rate limit of a listener type: mail and webhooks are what an attack would flood.
fn default_rate_limit(kind: &str) -> Option<(u32, Duration)> {
    match kind {
        "email" => Some((20, Duration::from_secs(3600))),
        "webhook" => Some((60, Duration::from_secs(60))),
        _ => None,
    }
}

/// Checks every enabled listener spec; all problems at once.
fn setups_from_settings(
    settings: &ListenersSettings,
    services: &Arc<Services>,
    opts: DispatchOptions,
) -> Result<Vec<ListenerSetup>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    if settings.is_default() {
        if opts.skip_console {
            return Ok(Vec::new());
        }
        let console = listeners::console::ConsoleListener::new(Format::Text);
        return Ok(vec![ListenerSetup::new("console", Box::new(console), Accepts::Events)]);
    }
    let default_file = std::path::PathBuf::from("config.yaml");
    let file = settings.file.as_deref().unwrap_or(&default_file);
    let names: Vec<(String, (u32, u32))> = match &settings.enabled {
        Some(list) => list.iter().map(|e| (e.src.trim().to_string(), (e.line, e.col))).collect(),
        None => settings.defined.keys().map(|k| (k.clone(), (0, 0))).collect(),
    };
    let mut setups = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, at) in names {
        if !seen.insert(name.clone()) {
            errors.push(ConfigError::new(file, at.0, at.1, format!("stack.listeners: {name} is listed twice")));
            continue;
        }
        let Some(spec) = settings.defined.get(&name) else {
            let known: Vec<&str> = settings.defined.keys().map(String::as_str).collect();
            errors.push(ConfigError::new(
                file,
                at.0,
                at.1,
                format!("stack.listeners: no listener named {name:?} (defined: {})", known.join(", ")),
            ));
            continue;
        };
        let pos = crate::config::yaml::position(spec);
        let spec = &spec.value;
        if opts.skip_console && spec.kind.as_ref().is_some_and(|k| k.src.trim() == "console") {
            continue;
        }
        let mut ctx = SpecCtx { file, base: &settings.base, name: &name, errors: &mut errors };
        if let Some(setup) = setup_from_spec(&name, spec, pos, services, &mut ctx) {
            setups.push(setup);
        }
    }
    errors.into_result(setups)
}

fn setup_from_spec(
    name: &str,
    spec: &ListenerSpec,
    pos: (u32, u32),
    services: &Arc<Services>,
    ctx: &mut SpecCtx,
) -> Option<ListenerSetup> {
    let min_severity = match &spec.min_severity {
        None => Severity::Notice,
        Some(e) => Severity::parse(e.src.trim()).unwrap_or_else(|| {
            ctx.err_expr(e, format!("min_severity {:?}: expected notice, warning or error", e.src));
            Severity::Notice
        }),
    };
    let filter = spec.filter.as_ref().filter(|f| !f.is_blank()).and_then(|f| compile_filter(f, services, ctx));
    let kind = spec.kind.as_ref().map(|k| k.src.trim().to_string()).unwrap_or_default();
    let rate_limit = match &spec.rate_limit {
        Some(rl) => {
            let per = match &rl.value.per {
                Some(p) => ctx.duration(&Some(p.clone()), Duration::from_secs(60)),
                None if rl.value.max == 0 => Duration::from_secs(60),
                None => {
                    ctx.err_at(crate::config::yaml::position(rl), "rate_limit needs `per` (a duration)".into());
                    Duration::from_secs(60)
                }
            };
            RateLimit::new(rl.value.max, per)
        }
        None => default_rate_limit(&kind).and_then(|(max, per)| RateLimit::new(max, per)),
    };
    let queue_size = match &spec.queue_size {
        None => DEFAULT_QUEUE,
        Some(q) if q.value == 0 || q.value > 1_000_000 => {
            ctx.err_at(crate::config::yaml::position(q), "queue_size must be between 1 and 1000000".into());
            DEFAULT_QUEUE
        }
        Some(q) => q.value as usize,
    };
    let built = listeners::build(spec, pos, ctx)?;
    Some(ListenerSetup {
        name: name.to_string(),
        listener: built.listener,
        accepts: built.accepts,
        min_severity,
        filter,
        rate_limit,
        queue_size,
    })
}

fn compile_filter(f: &Expr, services: &Arc<Services>, ctx: &mut SpecCtx) -> Option<Program> {
    let env = CompileEnv::for_event(Arc::clone(services)).with_root("Alert", RootType::Alert);
    match expr::compile(&f.src, &env) {
        Ok(p) => Some(p),
        Err(e) => {
            let (line, col) = f.position_of(e.offset());
            ctx.err_at((line, col), format!("filter: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::event::tests::sample_alert;
    use governor::clock::FakeRelativeClock;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    /// Records what it is given; can be told to block (a hung server) or to fail.
    #[derive(Clone, Default)]
    struct Probe {
        got: Arc<Mutex<Vec<String>>>,
        block: Arc<AtomicBool>,
        fail: bool,
    }

    impl Listener for Probe {
        fn deliver(&mut self, item: &Item) -> Result<(), String> {
            while self.block.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let s = match item {
                Item::Event(v) => v.summary.clone(),
                Item::Audit(r) => format!("audit:{}", r.schema),
            };
            assert!(s != "alert 1066", "a bug triggered by one event");
            self.got.lock().unwrap().push(s);
            if self.fail { Err("boom".into()) } else { Ok(()) }
        }
    }

    fn setup(name: &str, p: &Probe) -> ListenerSetup {
        ListenerSetup::new(name, Box::new(p.clone()), Accepts::Events)
    }

    fn alert(i: usize, sev: Severity) -> Event {
        sample_alert(&format!("10.0.0.{i}"), sev, &format!("alert {i}"))
    }

    #[test]
    fn severity_floor_and_filter_select_events() {
        let (all, loud, ssh_root) = (Probe::default(), Probe::default(), Probe::default());
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services)).with_root("Alert", RootType::Alert);
        let mut s2 = setup("loud", &loud);
        s2.min_severity = Severity::Warning;
        let mut s3 = setup("root", &ssh_root);
        s3.filter = Some(
            expr::compile(
                "Alert.GetValue() == '10.0.0.2' && evt.Overflow.Alert.Events[0].GetMeta('target_user') == 'root'",
                &env,
            )
            .unwrap(),
        );
        let mut d = Dispatcher::new(vec![setup("all", &all), s2, s3]);
        d.dispatch(&alert(1, Severity::Notice));
        d.dispatch(&alert(2, Severity::Warning));
        d.dispatch(&alert(3, Severity::Error));
        // Not an overflow: ignored.
        d.dispatch(&Event::default());
        assert_eq!(d.close(), CloseReport::default());
        assert_eq!(*all.got.lock().unwrap(), vec!["alert 1", "alert 2", "alert 3"]);
        assert_eq!(*loud.got.lock().unwrap(), vec!["alert 2", "alert 3"]);
        assert_eq!(*ssh_root.got.lock().unwrap(), vec!["alert 2"]);
        let c = d.counters();
        assert_eq!(c[0].1.snapshot(), (3, 0, 0, 0));
        assert_eq!(c[1].1.snapshot(), (2, 0, 0, 0));
    }

    #[test]
    fn a_failing_filter_sends_nothing_and_audit_rows_go_to_audit_listeners() {
        let (p, audit) = (Probe::default(), Probe::default());
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services)).with_root("Alert", RootType::Alert);
        let mut s = setup("f", &p);
        s.filter = Some(expr::compile("evt.Overflow.Alert.Events[5].Timestamp == 'x'", &env).unwrap());
        let a = ListenerSetup::new("audit", Box::new(audit.clone()), Accepts::Audit);
        let mut d = Dispatcher::new(vec![s, a]);
        let mut e = alert(1, Severity::Warning);
        d.dispatch(&e);
        e.overflow_mut().unwrap().alert.audit =
            Some(crate::event::AuditRecord { schema: "logins".into(), columns: vec![("u".into(), "x".into())] });
        d.dispatch(&e);
        d.close();
        assert!(p.got.lock().unwrap().is_empty());
        assert_eq!(*audit.got.lock().unwrap(), vec!["audit:logins"]);
    }

    #[test]
    fn profile_routing_limits_named_listeners_only() {
        let (named, other, free) = (Probe::default(), Probe::default(), Probe::default());
        let mut d = Dispatcher::new(vec![setup("named", &named), setup("other", &other), setup("free", &free)]);
        let routed: HashSet<String> = ["named".to_string(), "other".to_string()].into();
        let notify = ["named".to_string()];
        d.dispatch_routed(&alert(1, Severity::Warning), Some(&Route { routed: &routed, notify: &notify }));
        // No profile matched: only the listener no profile names takes it.
        d.dispatch_routed(&alert(2, Severity::Warning), Some(&Route { routed: &routed, notify: &[] }));
        d.close();
        assert_eq!(*named.got.lock().unwrap(), ["alert 1"]);
        assert!(other.got.lock().unwrap().is_empty());
        assert_eq!(*free.got.lock().unwrap(), ["alert 1", "alert 2"]);
    }

    #[test]
    fn rate_limit_refuses_past_the_burst_and_counts() {
        let p = Probe::default();
        let mut s = setup("mail", &p);
        s.rate_limit = RateLimit::new(3, Duration::from_secs(3600));
        let mut d = Dispatcher::new(vec![s]);
        for i in 0..10 {
            d.dispatch(&alert(i, Severity::Warning));
        }
        d.close();
        assert_eq!(*p.got.lock().unwrap(), vec!["alert 0", "alert 1", "alert 2"]);
        assert_eq!(d.counters()[0].1.snapshot(), (3, 0, 0, 7));
    }

    #[test]
    fn rate_limit_slots_come_back_with_time() {
        let clock = FakeRelativeClock::default();
        let rl = RateLimit::with_clock(2, Duration::from_secs(60), clock.clone()).unwrap();
        assert!(rl.allow() && rl.allow());
        assert!(!rl.allow());
        clock.advance(Duration::from_secs(29));
        assert!(!rl.allow());
        clock.advance(Duration::from_secs(1));
        assert!(rl.allow(), "one slot back every per/max = 30 s");
        assert!(!rl.allow());
        clock.advance(Duration::from_secs(600));
        assert!(rl.allow() && rl.allow() && !rl.allow(), "never more than the burst");
        assert!(RateLimit::new(0, Duration::from_secs(1)).is_none());
    }

    #[test]
    fn a_blocked_listener_drops_past_its_queue_without_blocking_others() {
        let (slow, fast) = (Probe::default(), Probe::default());
        slow.block.store(true, Ordering::Relaxed);
        let mut s = setup("slow", &slow);
        s.queue_size = 4;
        let mut d = Dispatcher::new(vec![s, setup("fast", &fast)]);
        let t = Instant::now();
        for i in 0..100 {
            d.dispatch(&alert(i, Severity::Warning));
        }
        assert!(t.elapsed() < Duration::from_secs(2), "dispatch must not wait for a blocked listener");
        // The fast listener gets everything while the slow one is still stuck.
        let deadline = Instant::now() + Duration::from_secs(10);
        while fast.got.lock().unwrap().len() < 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(fast.got.lock().unwrap().len(), 100);
        let (sent, _, dropped, _) = d.counters()[0].1.snapshot();
        assert_eq!(sent, 0);
        // The worker holds one item and the queue four; the rest were dropped.
        assert!((95..=96).contains(&dropped), "dropped {dropped}");
        slow.block.store(false, Ordering::Relaxed);
        d.close();
        let (sent, failed, dropped2, _) = d.counters()[0].1.snapshot();
        assert_eq!((sent + dropped2, failed), (100, 0));
        assert_eq!(slow.got.lock().unwrap().len() as u64, sent);
    }

    #[test]
    fn close_gives_up_on_a_hung_listener_after_the_timeout() {
        let hung = Probe::default();
        hung.block.store(true, Ordering::Relaxed);
        let mut d = Dispatcher::new(vec![setup("hung", &hung)]).with_close_timeout(Duration::from_millis(200));
        for i in 0..3 {
            d.dispatch(&alert(i, Severity::Warning));
        }
        let t = Instant::now();
        let r = d.close();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(r.unfinished, vec![("hung".to_string(), 3)]);
        assert_eq!(d.counters()[0].1.snapshot().2, 3);
        hung.block.store(false, Ordering::Relaxed);
    }

    #[test]
    fn failures_are_counted() {
        let p = Probe { fail: true, ..Probe::default() };
        let mut d = Dispatcher::new(vec![setup("bad", &p)]);
        d.dispatch(&alert(1, Severity::Error));
        d.dispatch(&alert(2, Severity::Error));
        d.close();
        assert_eq!(d.counters()[0].1.snapshot(), (0, 2, 0, 0));
    }

    #[test]
    fn a_panicking_delivery_costs_one_event_not_the_listener() {
        let p = Probe::default();
        let mut d = Dispatcher::new(vec![setup("p", &p)]);
        for i in [1065, 1066, 1067] {
            d.dispatch(&alert(i, Severity::Error));
        }
        d.close();
        assert_eq!(*p.got.lock().unwrap(), vec!["alert 1065", "alert 1067"]);
        assert_eq!(d.counters()[0].1.snapshot(), (2, 1, 0, 0));
    }

    fn settings(yaml: &str) -> (tempfile::TempDir, crate::config::settings::Settings) {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.yaml");
        std::fs::write(&f, yaml).unwrap();
        let s = crate::config::settings::Settings::load(&f).unwrap();
        (d, s)
    }

    #[test]
    fn settings_build_the_enabled_listeners() {
        let (dir, s) = settings(
            "listeners:\n  out:\n    type: jsonl\n    path: alerts.jsonl\n    min_severity: warning\n  \
             audit:\n    type: csv\n    dir: audit\n  mail:\n    type: email\n    host: 127.0.0.1\n    tls: none\n    \
             from: c@example.org\n    to: [ops@example.org]\nstack:\n  listeners: [out, audit]\n",
        );
        let mut d = Dispatcher::from_settings(&s.listeners, DispatchOptions::default()).unwrap();
        let names: Vec<String> = d.counters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["out", "audit"]);
        d.dispatch(&alert(1, Severity::Notice));
        d.dispatch(&alert(2, Severity::Warning));
        d.close();
        let text = std::fs::read_to_string(dir.path().join("alerts.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["summary"], "alert 2");
        assert_eq!(lines[0]["data"]["source_ip"], "10.0.0.2");
    }

    /// The daemon builds and closes dispatchers from async code (reloads): nothing in a listener may need to be
    /// dropped outside a runtime, and a configuration error after some listeners were built must not panic.
    #[tokio::test]
    async fn listeners_are_built_run_and_dropped_inside_a_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        let f = dir.path().join("config.yaml");
        // A loopback port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(
            &f,
            format!(
                "listeners:\n  x:\n    type: exec\n    command: [sh, -c, 'cat > \"$0\"', {}]\n  \
                 w:\n    type: webhook\n    url: http://127.0.0.1:{closed}/\n    retries: 0\n  \
                 m:\n    type: email\n    host: 127.0.0.1\n    port: {closed}\n    tls: none\n    from: a@b.c\n    \
                 to: [d@e.f]\n    retries: 0\n  bad:\n    type: exec\n    command: []\n",
                out.display()
            ),
        )
        .unwrap();
        let s = crate::config::settings::Settings::load(&f).unwrap();
        assert!(Dispatcher::from_settings(&s.listeners, DispatchOptions::default()).is_err());
        let mut ok = s.listeners.clone();
        ok.enabled = Some(["x", "w", "m"].iter().map(|n| Expr::inline(*n)).collect());
        let mut d = Dispatcher::from_settings(&ok, DispatchOptions::default()).unwrap();
        d.dispatch(&alert(7, Severity::Warning));
        d.close();
        let c = d.counters();
        assert_eq!(c[0].1.snapshot(), (1, 0, 0, 0), "exec");
        assert_eq!(c[1].1.snapshot(), (0, 1, 0, 0), "webhook to a closed port");
        assert_eq!(c[2].1.snapshot(), (0, 1, 0, 0), "smtp to a closed port");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(v["summary"], "alert 7");
        drop(d);
    }

    #[test]
    fn settings_without_listeners_give_a_console() {
        let (_d, s) = settings("paths:\n  hub: h\n");
        let d = Dispatcher::from_settings(&s.listeners, DispatchOptions::default()).unwrap();
        assert_eq!(d.counters()[0].0, "console");
        let d = Dispatcher::from_settings(&s.listeners, DispatchOptions { skip_console: true }).unwrap();
        assert!(d.is_empty());
    }

    #[test]
    fn configuration_errors_have_positions() {
        let (_d, s) = settings(concat!(
            "listeners:\n",
            "  a:\n",
            "    type: jsonl\n",
            "    path: x.jsonl\n",
            "    url: http://x\n",
            "    min_severity: loud\n",
            "    filter: Alert.GetValue() ==\n",
            "  b:\n",
            "    type: webhook\n",
            "    url: ftp://x\n",
            "    timeout: 3 parsecs\n",
            "    body: \"{{ oops(\"\n",
            "  c:\n",
            "    type: pigeon\n",
            "  d:\n",
            "    type: exec\n",
            "stack:\n",
            "  listeners: [a, b, c, d, zz]\n",
        ));
        let e = Dispatcher::from_settings(&s.listeners, DispatchOptions::default()).err().unwrap().to_string();
        for want in [
            "config.yaml:5:10: listener a: option `url` does not apply to a jsonl listener",
            "config.yaml:6:19: listener a: min_severity \"loud\"",
            "config.yaml:7:",
            "listener a: filter:",
            "config.yaml:10:10: listener b: url \"ftp://x\"",
            "config.yaml:11:14: listener b:",
            "config.yaml:12: listener b: template: syntax error",
            "config.yaml:14:11: listener c: unknown listener type \"pigeon\"",
            "config.yaml:16:5: listener d: `command` is required",
            "config.yaml:18:27: stack.listeners: no listener named \"zz\"",
        ] {
            assert!(e.contains(want), "missing {want:?} in:\n{e}");
        }
        // Unknown keys are refused by the YAML reader itself.
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.yaml");
        std::fs::write(&f, "listeners:\n  a:\n    type: console\n    colour: red\n").unwrap();
        let e = crate::config::settings::Settings::load(&f).unwrap_err().to_string();
        assert!(e.contains("config.yaml:4:5: unknown field `colour`"), "{e}");
    }
}
