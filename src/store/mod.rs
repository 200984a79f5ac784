//! The alert and decision store: what the local API serves and the CLI (`alerts`, `decisions`, `bouncers`,
//! `machines`) reads and edits.
//!
//! [`Store`] is a small trait so a server database (PostgreSQL) can be added beside [`sqlite::SqliteStore`]
//! without touching its callers; only SQLite exists today. Every method is synchronous and short: async callers
//! (the API) run them on the blocking pool.
//!
//! Time is explicit: methods that depend on "now" take it as nanoseconds since the Unix epoch ([`Nanos`]), so
//! expiry is a query-time filter (`until > now`) and tests never sleep.
//!
//! What this module is not: profiles (alert → decisions, `decisions::profiles`) or HTTP (`api`).

pub mod iprange;
pub mod model;
pub mod schema;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

pub use iprange::IpInterval;
pub use model::{Alert, Decision, Source};
pub use sqlite::SqliteStore;

use crate::gocompat::duration::format_duration;

/// Nanoseconds since the Unix epoch (UTC).
pub type Nanos = i64;

/// The current time as [`Nanos`].
pub fn now_nanos() -> Nanos {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// RFC 3339 text of a [`Nanos`] time, as Go's `time.Time` marshals it.
pub fn format_time(t: Nanos) -> String {
    let dt = chrono::DateTime::from_timestamp_nanos(t);
    crate::event::format_rfc3339(&dt.fixed_offset())
}

/// A store failure (I/O, a corrupt or newer database, a constraint). Callers log it and answer 500 / exit 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(format!("database: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A decision as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredDecision {
    pub id: i64,
    pub uuid: String,
    pub alert_id: Option<i64>,
    pub origin: String,
    /// `ban`, `captcha`, ...
    pub kind: String,
    pub scope: String,
    pub value: String,
    pub scenario: String,
    pub simulated: bool,
    pub created_at: Nanos,
    pub until: Nanos,
}

impl StoredDecision {
    /// The API shape: `duration` is the time left at `now` (negative once expired, as CrowdSec prints it).
    pub fn to_api(&self, now: Nanos) -> Decision {
        Decision {
            duration: format_duration(self.until.saturating_sub(now)),
            id: self.id,
            origin: self.origin.clone(),
            scenario: self.scenario.clone(),
            scope: self.scope.clone(),
            simulated: self.simulated.then_some(true),
            kind: self.kind.clone(),
            until: format_time(self.until),
            uuid: self.uuid.clone(),
            value: self.value.clone(),
        }
    }

    pub fn is_active(&self, now: Nanos) -> bool {
        self.until > now
    }
}

/// A decision to create; `until` = insertion time + `duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDecision {
    pub origin: String,
    pub kind: String,
    pub scope: String,
    pub value: String,
    pub scenario: String,
    pub simulated: bool,
    /// Nanoseconds.
    pub duration: i64,
}

/// An alert to record with the decisions it produced. `alert.decisions` is ignored (the store fills it on read).
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlert {
    pub alert: Alert,
    pub decisions: Vec<NewDecision>,
}

/// Which decisions a query or deletion addresses. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecisionFilter {
    pub id: Option<i64>,
    /// Scopes (normalised: `Ip`, `Range`, ...); any of them.
    pub scopes: Vec<String>,
    pub value: Option<String>,
    pub kind: Option<String>,
    /// `ip=` / `range=`: decisions whose interval contains this one (`contains`), or lies within it.
    pub interval: Option<(IpInterval, bool)>,
    pub origins: Vec<String>,
    pub scenario: Option<String>,
    /// Case-insensitive substrings; any of them.
    pub scenarios_containing: Vec<String>,
    /// Case-insensitive substrings; none of them.
    pub scenarios_not_containing: Vec<String>,
    /// Include decisions made in simulation mode (excluded by default, as CrowdSec does).
    pub include_simulated: bool,
}

/// Which alerts a query or deletion addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    pub id: Option<i64>,
    pub scope: Option<String>,
    pub value: Option<String>,
    pub scenario: Option<String>,
    pub interval: Option<(IpInterval, bool)>,
    /// Created after this time.
    pub since: Option<Nanos>,
    /// Created before this time.
    pub until: Option<Nanos>,
    pub include_simulated: bool,
    pub has_active_decision: Option<bool>,
    pub decision_type: Option<String>,
    /// Alerts with a decision of this origin.
    pub origin: Option<String>,
    pub limit: Option<usize>,
}

/// What a bouncer's `GET /v1/decisions/stream` returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamBatch {
    pub new: Vec<StoredDecision>,
    pub deleted: Vec<StoredDecision>,
}

/// A registered bouncer (API key holder).
#[derive(Clone, Debug, PartialEq)]
pub struct Bouncer {
    pub id: i64,
    pub name: String,
    /// Hex SHA-256 of the key.
    pub key_hash: String,
    pub created_at: Nanos,
    pub last_pull: Option<Nanos>,
}

/// A registered machine (agent credentials).
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    pub machine_id: String,
    /// PHC string (argon2).
    pub password_hash: String,
    pub created_at: Nanos,
    pub last_seen: Option<Nanos>,
}

/// Counts for the metrics endpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    /// Active decisions by (scenario, origin, type).
    pub active_decisions: Vec<(String, String, String, i64)>,
    /// Alerts by scenario.
    pub alerts: Vec<(String, i64)>,
}

/// What a cleanup removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub decisions: usize,
    pub alerts: usize,
}

/// Persistence of alerts, decisions, bouncers and machines.
pub trait Store: Send + Sync {
    /// Records alerts with their decisions, all or none. An alert already recorded (same machine, scenario, source,
    /// times and count: a retry, or log lines read again after a crash) is not recorded twice: its existing id is
    /// returned and its decisions are not added again.
    fn add_alerts(&self, machine: &str, alerts: &[NewAlert], now: Nanos) -> Result<Vec<i64>>;
    /// Alerts, newest first, with their decisions.
    fn alerts(&self, f: &AlertFilter, now: Nanos) -> Result<Vec<Alert>>;
    /// Deletes alerts (and their decisions); returns how many.
    fn delete_alerts(&self, f: &AlertFilter, now: Nanos) -> Result<usize>;
    /// Active decisions matching `f`.
    fn decisions(&self, f: &DecisionFilter, now: Nanos) -> Result<Vec<StoredDecision>>;
    /// Ends the active decisions matching `f` now (kept as expired, so bouncers learn of the deletion); returns them.
    fn expire_decisions(&self, f: &DecisionFilter, now: Nanos) -> Result<Vec<StoredDecision>>;
    /// A bouncer's pull: with `startup` (or on its first pull) every active decision and the expired ones it should
    /// drop; otherwise what appeared and what ended since its previous pull. Records the pull.
    fn pull(&self, bouncer_id: i64, startup: bool, f: &DecisionFilter, now: Nanos) -> Result<StreamBatch>;
    /// Removes decisions expired for longer than `keep_expired`, and alerts older than `keep_alerts` (0: never)
    /// that have no active decision.
    fn cleanup(&self, now: Nanos, keep_expired: i64, keep_alerts: i64) -> Result<CleanupReport>;
    /// Decisions for `value`: all of them, those created after `created_after`, or those active at `active_at`.
    fn count_decisions(&self, value: &str, created_after: Option<Nanos>, active_at: Option<Nanos>) -> Result<i64>;
    /// End of the longest active decision for `value`.
    fn longest_until(&self, value: &str, now: Nanos) -> Result<Option<Nanos>>;
    fn add_bouncer(&self, name: &str, key_hash: &str, now: Nanos) -> Result<i64>;
    fn bouncers(&self) -> Result<Vec<Bouncer>>;
    fn delete_bouncer(&self, name: &str) -> Result<bool>;
    fn add_machine(&self, machine_id: &str, password_hash: &str, now: Nanos) -> Result<()>;
    fn machines(&self) -> Result<Vec<Machine>>;
    fn machine(&self, machine_id: &str) -> Result<Option<Machine>>;
    fn delete_machine(&self, machine_id: &str) -> Result<bool>;
    /// A random secret created on first use and kept in the database (token signing key).
    fn secret(&self, name: &str) -> Result<Vec<u8>>;
    fn stats(&self, now: Nanos) -> Result<StoreStats>;
}

/// Adapts a store to the expression helpers `GetDecisionsCount` & co (profiles' `duration_expr`). A store error
/// counts as 0, logged.
pub struct StoreCounter(pub Arc<dyn Store>);

fn or_zero(r: Result<i64>) -> i64 {
    r.unwrap_or_else(|e| {
        tracing::warn!("decision count: {e}");
        0
    })
}

impl crate::expr::DecisionCounter for StoreCounter {
    fn decisions_count(&self, value: &str) -> i64 {
        or_zero(self.0.count_decisions(value, None, None))
    }

    fn decisions_since_count(&self, value: &str, since_ns: i64) -> i64 {
        let now = now_nanos();
        or_zero(self.0.count_decisions(value, Some(now.saturating_sub(since_ns)), None))
    }

    fn active_decisions_count(&self, value: &str) -> i64 {
        or_zero(self.0.count_decisions(value, None, Some(now_nanos())))
    }

    fn active_decisions_time_left(&self, value: &str) -> i64 {
        let now = now_nanos();
        match self.0.longest_until(value, now) {
            Ok(Some(u)) => u.saturating_sub(now).max(0),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!("decision time left: {e}");
                0
            }
        }
    }
}

/// A random identifier in UUID v4 text form.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Fills `buf` from the operating system's random source. Failure to read it is not recoverable (no secret could
/// be made), so it aborts the operation with a panic message naming the cause.
pub fn random_bytes(buf: &mut [u8]) {
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn api_decision_shows_time_left() {
        let d = StoredDecision {
            id: 1,
            uuid: "u".into(),
            alert_id: None,
            origin: "crowdsec".into(),
            kind: "ban".into(),
            scope: "Ip".into(),
            value: "192.0.2.1".into(),
            scenario: "s".into(),
            simulated: false,
            created_at: 0,
            until: 4 * 3_600_000_000_000,
        };
        let a = d.to_api(3_600_000_000_000);
        assert_eq!(a.duration, "3h0m0s");
        assert_eq!(a.until, "1970-01-01T04:00:00Z");
        assert_eq!(a.simulated, None);
    }
}
