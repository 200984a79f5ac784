//! What expressions may reach outside the event: data files, stash caches, the clock, the network policy and the
//! decision store hook. One `Services` per pipeline, shared (`Arc`) by every compiled program and scope.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::data::DataStore;
use super::stash::Stash;
use crate::event::Timestamp;

/// Counts decisions for the LAPI-side helpers (`GetDecisionsCount` & co). Without a hook they return 0.
pub trait DecisionCounter: Send + Sync {
    fn decisions_count(&self, value: &str) -> i64;
    fn decisions_since_count(&self, value: &str, since_ns: i64) -> i64;
    fn active_decisions_count(&self, value: &str) -> i64;
    /// Time left of the longest active decision, in nanoseconds.
    fn active_decisions_time_left(&self, value: &str) -> i64;
}

/// Network access of the helpers (`LookupHost`, ...): off unless explicitly enabled, and time-bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkPolicy {
    pub enabled: bool,
    pub timeout: Duration,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy { enabled: false, timeout: Duration::from_secs(2) }
    }
}

pub struct Services {
    pub data: DataStore,
    pub stash: Stash,
    pinned_now: RwLock<Option<Timestamp>>,
    pub network: NetworkPolicy,
    pub decisions: Option<Arc<dyn DecisionCounter>>,
    /// Slots of the sub-expressions memoised per event by scenario filters.
    pub memo: super::memo::MemoTable,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            data: DataStore::new(),
            stash: Stash::new(),
            pinned_now: RwLock::new(None),
            network: NetworkPolicy::default(),
            decisions: None,
            memo: super::memo::MemoTable::default(),
        }
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("network", &self.network).finish_non_exhaustive()
    }
}

impl Services {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time: the pinned time if any (tests, replays), else the wall clock in UTC.
    pub fn now(&self) -> Timestamp {
        match *self.pinned_now.read().unwrap_or_else(|p| p.into_inner()) {
            Some(t) => t,
            None => chrono::Utc::now().fixed_offset(),
        }
    }

    /// Pins (or with `None` unpins) what `now()`, `TimeNow()` and the stash helpers see.
    pub fn pin_now(&self, t: Option<Timestamp>) {
        *self.pinned_now.write().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn with_network(mut self, policy: NetworkPolicy) -> Self {
        self.network = policy;
        self
    }

    pub fn with_decisions(mut self, hook: Arc<dyn DecisionCounter>) -> Self {
        self.decisions = Some(hook);
        self
    }
}
