//! Named key/value caches with a TTL and a size bound: CrowdSec's `stash:` node option writes them
//! (`Stash::set`, called by the parser engine), `GetFromStash(name, key)` reads them from expressions.
//!
//! Eviction is least-recently-used. CrowdSec also offers `LFU` and `ARC` strategies; they map to LRU here (the
//! difference only shows when a cache is full, and the hub uses the default). Time is passed in by the caller so
//! replays use event time and tests never sleep.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use crate::event::Timestamp;

#[derive(Debug)]
struct Entry {
    value: String,
    expires_ns: i64,
    last_used: u64,
}

#[derive(Debug)]
struct Cache {
    size: usize,
    ttl_ns: i64,
    tick: u64,
    entries: HashMap<String, Entry>,
}

/// All named caches of a pipeline.
#[derive(Debug, Default)]
pub struct Stash {
    caches: RwLock<HashMap<String, Mutex<Cache>>>,
}

fn nanos(t: &Timestamp) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

impl Stash {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates (or resizes) cache `name`: at most `size` entries (0 = CrowdSec's default 100), each living `ttl_ns`
    /// nanoseconds after it was set. Configuring an existing cache keeps its entries.
    pub fn configure(&self, name: &str, size: usize, ttl_ns: i64) {
        let size = if size == 0 { 100 } else { size };
        let mut caches = self.caches.write().unwrap_or_else(|p| p.into_inner());
        match caches.get(name) {
            Some(c) => {
                let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
                c.size = size;
                c.ttl_ns = ttl_ns;
            }
            None => {
                caches.insert(name.to_string(), Mutex::new(Cache { size, ttl_ns, tick: 0, entries: HashMap::new() }));
            }
        }
    }

    pub fn is_configured(&self, name: &str) -> bool {
        self.caches.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// Stores `key → value` in cache `name` with the cache's TTL. Errors when the cache was never configured.
    pub fn set(&self, name: &str, key: &str, value: &str, now: Timestamp) -> Result<(), String> {
        self.set_with_ttl(name, key, value, None, now)
    }

    /// Like [`Stash::set`] with an explicit TTL (`SetInStash(cache, key, value, ttl)`).
    pub fn set_with_ttl(
        &self,
        name: &str,
        key: &str,
        value: &str,
        ttl_ns: Option<i64>,
        now: Timestamp,
    ) -> Result<(), String> {
        let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
        let cache = caches.get(name).ok_or_else(|| format!("cache {name:?} not found"))?;
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        let now = nanos(&now);
        c.tick += 1;
        let tick = c.tick;
        let expires_ns = now.saturating_add(ttl_ns.unwrap_or(c.ttl_ns));
        if !c.entries.contains_key(key) && c.entries.len() >= c.size {
            c.entries.retain(|_, e| e.expires_ns > now);
            if c.entries.len() >= c.size
                && let Some(oldest) = c.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(k, _)| k.clone())
            {
                c.entries.remove(&oldest);
            }
        }
        c.entries.insert(key.to_string(), Entry { value: value.to_string(), expires_ns, last_used: tick });
        Ok(())
    }

    /// The live value of `key` in cache `name`, if any (an expired entry is removed).
    pub fn get(&self, name: &str, key: &str, now: Timestamp) -> Option<String> {
        let caches = self.caches.read().unwrap_or_else(|p| p.into_inner());
        let mut c = caches.get(name)?.lock().unwrap_or_else(|p| p.into_inner());
        let now = nanos(&now);
        c.tick += 1;
        let tick = c.tick;
        let e = c.entries.get_mut(key)?;
        if e.expires_ns <= now {
            c.entries.remove(key);
            return None;
        }
        e.last_used = tick;
        Some(e.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};

    fn t0() -> Timestamp {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn ttl_and_lru() {
        let s = Stash::new();
        assert!(s.set("c", "k", "v", t0()).is_err());
        s.configure("c", 2, 10_000_000_000);
        s.set("c", "a", "1", t0()).unwrap();
        s.set("c", "b", "2", t0()).unwrap();
        assert_eq!(s.get("c", "a", t0()).as_deref(), Some("1")); // a is now more recent than b
        s.set("c", "c", "3", t0()).unwrap(); // evicts b
        assert_eq!(s.get("c", "b", t0()), None);
        assert_eq!(s.get("c", "a", t0()).as_deref(), Some("1"));
        assert_eq!(s.get("c", "c", t0() + Duration::seconds(11)), None);
        assert_eq!(s.get("nope", "a", t0()), None);
    }
}
