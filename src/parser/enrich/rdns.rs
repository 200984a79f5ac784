//! `reverse_dns`: the first PTR name of an IP (`evt.Enriched.reverse_dns`), as CrowdSec's rdns postoverflow uses
//! to whitelist crawlers.
//!
//! DNS is slow and attacker-influenced (a PTR query for an attacker's IP goes to the attacker's name server), so:
//! * it is off unless enabled in the configuration (then the method adds nothing);
//! * queries run on a small pool of resolver threads fed through a bounded queue; the caller waits at most the
//!   configured timeout (or not at all when the queue is full) and gets nothing if the answer is late;
//! * answers, negative ones included, are cached with a TTL and a size bound, and a late answer still fills the cache
//!   for the next event of the same IP.
//!
//! Names end with a dot, as Go's `net.LookupAddr` returns them (`dns.google.`), because whitelist expressions
//! compare against that form.
//!
//! What this module is not: a DNS client; the system resolver (`getnameinfo`) does the work.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{EnrichContext, EnrichOutput, Enricher};

/// `reverse_dns` settings.
#[derive(Clone, Debug)]
pub struct RdnsConfig {
    pub enabled: bool,
    /// The longest a caller waits for an answer.
    pub timeout: Duration,
    /// Cached answers kept at most (oldest dropped first).
    pub cache_size: usize,
    /// How long an answer (positive or negative) is reused.
    pub cache_ttl: Duration,
    /// Resolver threads.
    pub workers: usize,
    /// Queries waiting for a resolver thread at most; beyond that callers get no answer at once.
    pub queue: usize,
}

impl Default for RdnsConfig {
    fn default() -> Self {
        RdnsConfig {
            enabled: false,
            timeout: Duration::from_millis(500),
            cache_size: 10_000,
            cache_ttl: Duration::from_secs(3600),
            workers: 2,
            queue: 256,
        }
    }
}

/// Something that can answer PTR queries.
pub trait Resolver: Send + Sync + 'static {
    /// The first PTR name of `ip`, `None` when there is none or the query failed.
    fn reverse(&self, ip: IpAddr) -> Option<String>;
}

/// The system resolver (`getnameinfo`, which also reads `/etc/hosts`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn reverse(&self, ip: IpAddr) -> Option<String> {
        dns_lookup::lookup_addr(&ip).ok()
    }
}

/// Go's `LookupAddr` form: absolute names end with a dot.
fn absolute(name: String) -> String {
    if name.ends_with('.') { name } else { name + "." }
}

/// A size- and TTL-bounded cache of answers; the clock is a parameter so tests control it.
#[derive(Debug)]
pub(crate) struct Cache {
    entries: HashMap<IpAddr, (Option<String>, Instant)>,
    order: VecDeque<IpAddr>,
    size: usize,
    ttl: Duration,
}

impl Cache {
    pub(crate) fn new(size: usize, ttl: Duration) -> Self {
        Cache { entries: HashMap::new(), order: VecDeque::new(), size, ttl }
    }

    /// `Some(answer)` when a fresh answer is cached (the answer itself may be "no name").
    pub(crate) fn get(&self, ip: &IpAddr, now: Instant) -> Option<Option<String>> {
        let (answer, expires) = self.entries.get(ip)?;
        (now < *expires).then(|| answer.clone())
    }

    pub(crate) fn put(&mut self, ip: IpAddr, answer: Option<String>, now: Instant) {
        if self.size == 0 {
            return;
        }
        if self.entries.insert(ip, (answer, now + self.ttl)).is_none() {
            self.order.push_back(ip);
        }
        while self.entries.len() > self.size {
            // Prefer dropping expired entries; otherwise the oldest insertion.
            let victim =
                self.order.iter().position(|k| self.entries.get(k).is_some_and(|(_, exp)| *exp <= now)).unwrap_or(0);
            if let Some(k) = self.order.remove(victim) {
                self.entries.remove(&k);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

struct Job {
    ip: IpAddr,
    reply: mpsc::Sender<Option<String>>,
}

/// Cached, time-bounded reverse DNS.
pub struct ReverseDns {
    cfg: RdnsConfig,
    cache: Arc<Mutex<Cache>>,
    jobs: Option<SyncSender<Job>>,
}

impl ReverseDns {
    /// Reverse DNS through the system resolver; nothing is started when disabled.
    pub fn new(cfg: RdnsConfig) -> Self {
        Self::with_resolver(cfg, SystemResolver)
    }

    /// Reverse DNS through `resolver` (tests use a scripted one).
    pub fn with_resolver(cfg: RdnsConfig, resolver: impl Resolver) -> Self {
        let cache = Arc::new(Mutex::new(Cache::new(cfg.cache_size, cfg.cache_ttl)));
        if !cfg.enabled {
            return ReverseDns { cfg, cache, jobs: None };
        }
        let (tx, rx) = mpsc::sync_channel::<Job>(cfg.queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let resolver = Arc::new(resolver);
        for i in 0..cfg.workers.max(1) {
            let (rx, resolver, cache) = (Arc::clone(&rx), Arc::clone(&resolver), Arc::clone(&cache));
            let spawned = std::thread::Builder::new()
                .name(format!("rdns-{i}"))
                .spawn(move || worker(&rx, resolver.as_ref(), &cache));
            if let Err(e) = spawned {
                tracing::warn!("reverse_dns: cannot start a resolver thread: {e}");
            }
        }
        ReverseDns { cfg, cache, jobs: Some(tx) }
    }

    pub fn enabled(&self) -> bool {
        self.jobs.is_some()
    }

    /// The first PTR name of `ip` (with a trailing dot), waiting at most the configured timeout.
    pub fn lookup(&self, ip: &str) -> Option<String> {
        let jobs = self.jobs.as_ref()?;
        let addr: IpAddr = ip.parse().ok()?;
        if let Some(answer) = lock(&self.cache).get(&addr, Instant::now()) {
            return answer;
        }
        let (reply, answer) = mpsc::channel();
        match jobs.try_send(Job { ip: addr, reply }) {
            Ok(()) => answer.recv_timeout(self.cfg.timeout).ok().flatten(),
            Err(TrySendError::Full(_)) => {
                tracing::debug!("reverse_dns: resolver queue full, no answer for {ip}");
                None
            }
            Err(TrySendError::Disconnected(_)) => None,
        }
    }
}

fn lock(cache: &Mutex<Cache>) -> std::sync::MutexGuard<'_, Cache> {
    // A panic while holding the lock cannot leave the cache inconsistent in a way that matters: keep using it.
    cache.lock().unwrap_or_else(|p| p.into_inner())
}

fn worker(rx: &Mutex<Receiver<Job>>, resolver: &dyn Resolver, cache: &Mutex<Cache>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(p) => p.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        // Another caller may have asked while this query waited in the queue.
        let cached = lock(cache).get(&job.ip, Instant::now());
        let answer = match cached {
            Some(a) => a,
            None => {
                let a = resolver.reverse(job.ip).map(absolute);
                lock(cache).put(job.ip, a.clone(), Instant::now());
                a
            }
        };
        // The caller may have given up already.
        let _ = job.reply.send(answer);
    }
}

/// The `reverse_dns` method.
pub struct ReverseDnsEnricher(pub ReverseDns);

impl Enricher for ReverseDnsEnricher {
    fn name(&self) -> &'static str {
        "reverse_dns"
    }

    fn enrich(&self, input: &str, _ctx: &EnrichContext<'_>) -> EnrichOutput {
        let fields = match self.0.lookup(input) {
            Some(name) => vec![("reverse_dns", name)],
            None => Vec::new(),
        };
        EnrichOutput { fields, ..EnrichOutput::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers from a table after `delay`, counting queries.
    struct Scripted {
        delay: Duration,
        calls: Arc<AtomicUsize>,
    }

    impl Resolver for Scripted {
        fn reverse(&self, ip: IpAddr) -> Option<String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            match ip.to_string().as_str() {
                "8.8.8.8" => Some("dns.google".into()),
                "1.1.1.1" => Some("one.one.one.one.".into()),
                _ => None,
            }
        }
    }

    fn cfg(timeout_ms: u64) -> RdnsConfig {
        RdnsConfig { enabled: true, timeout: Duration::from_millis(timeout_ms), ..RdnsConfig::default() }
    }

    #[test]
    fn disabled_by_default() {
        let r =
            ReverseDns::with_resolver(RdnsConfig::default(), Scripted { delay: Duration::ZERO, calls: Arc::default() });
        assert!(!r.enabled());
        assert_eq!(r.lookup("8.8.8.8"), None);
    }

    #[test]
    fn answers_are_absolute_and_cached() {
        let calls = Arc::new(AtomicUsize::new(0));
        let r = ReverseDns::with_resolver(cfg(5_000), Scripted { delay: Duration::ZERO, calls: Arc::clone(&calls) });
        assert_eq!(r.lookup("8.8.8.8").as_deref(), Some("dns.google."));
        assert_eq!(r.lookup("8.8.8.8").as_deref(), Some("dns.google."));
        assert_eq!(r.lookup("1.1.1.1").as_deref(), Some("one.one.one.one."));
        assert_eq!(r.lookup("10.0.0.1"), None);
        assert_eq!(r.lookup("10.0.0.1"), None);
        assert_eq!(r.lookup("not-an-ip"), None);
        // Positive and negative answers were each asked once.
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_slow_resolver_never_blocks_past_the_timeout() {
        let calls = Arc::new(AtomicUsize::new(0));
        let r = ReverseDns::with_resolver(
            cfg(20),
            Scripted { delay: Duration::from_millis(400), calls: Arc::clone(&calls) },
        );
        let t = Instant::now();
        assert_eq!(r.lookup("8.8.8.8"), None);
        // Far below the resolver's 400 ms: the caller gave up at its timeout.
        assert!(t.elapsed() < Duration::from_millis(300), "{:?}", t.elapsed());
        // The late answer lands in the cache for the next event.
        let deadline = Instant::now() + Duration::from_secs(10);
        while lock(&r.cache).get(&"8.8.8.8".parse().unwrap(), Instant::now()).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let t = Instant::now();
        assert_eq!(r.lookup("8.8.8.8").as_deref(), Some("dns.google."));
        assert!(t.elapsed() < Duration::from_millis(300));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cache_honours_ttl_and_size() {
        let t0 = Instant::now();
        let mut c = Cache::new(2, Duration::from_secs(10));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        c.put(ip("1.1.1.1"), Some("a.".into()), t0);
        c.put(ip("2.2.2.2"), None, t0);
        assert_eq!(c.get(&ip("1.1.1.1"), t0), Some(Some("a.".into())));
        assert_eq!(c.get(&ip("2.2.2.2"), t0), Some(None));
        assert_eq!(c.get(&ip("1.1.1.1"), t0 + Duration::from_secs(10)), None);
        // A third entry evicts the oldest.
        c.put(ip("3.3.3.3"), None, t0 + Duration::from_secs(1));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&ip("1.1.1.1"), t0), None);
        // Expired entries go first.
        let later = t0 + Duration::from_secs(10);
        c.put(ip("4.4.4.4"), None, later);
        assert_eq!(c.len(), 2);
        assert!(c.get(&ip("3.3.3.3"), later).is_some());
        assert!(Cache::new(0, Duration::from_secs(1)).get(&ip("1.1.1.1"), t0).is_none());
    }
}
