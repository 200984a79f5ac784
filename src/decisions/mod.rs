//! Alerts → decisions: [`Processor`] runs each alert through the profiles and records it, with its decisions, in
//! the store. The daemon calls [`Processor::on_alert`] for its own alerts (no HTTP on that path); the local API's
//! `POST /v1/alerts` calls [`Processor::add_alerts`] for alerts of remote agents.
//!
//! What this module is not: the store (`store`) or the HTTP layer (`api`); notification plugins are not run here,
//! only the names of the listeners the profiles ask for are recorded on the alert.

pub mod profiles;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use profiles::{Outcome, Profiles};

use crate::config::settings::Settings;
use crate::event::Event;
use crate::expr::Services;
use crate::gocompat::duration::parse_duration_with_days;
use crate::store::model::{Alert, normalize_scope};
use crate::store::{Nanos, NewAlert, NewDecision, SqliteStore, Store, StoreCounter, StoreError, now_nanos};

/// What recording one alert did.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub alert_id: i64,
    pub decisions: Vec<NewDecision>,
    /// Listeners the matching profiles name (`notifications:`), for the daemon to route the alert to.
    pub notifications: Vec<String>,
}

/// Counters of the processor (exported as metrics).
#[derive(Debug, Default)]
pub struct ProcessorStats {
    pub alerts: AtomicU64,
    pub decisions: AtomicU64,
    pub errors: AtomicU64,
}

/// Profiles + store.
pub struct Processor {
    store: Arc<dyn Store>,
    profiles: Profiles,
    machine_id: String,
    pub stats: ProcessorStats,
}

impl Processor {
    pub fn new(store: Arc<dyn Store>, profiles: Profiles, machine_id: &str) -> Processor {
        Processor { store, profiles, machine_id: machine_id.to_string(), stats: ProcessorStats::default() }
    }

    /// Opens the configured store and loads `profiles.yaml` (a missing file means no profile, with a warning).
    pub fn from_settings(settings: &Settings) -> Result<Processor, String> {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&settings.store.path).map_err(|e| e.to_string())?);
        let profiles = load_profiles(settings, &store)?;
        Ok(Processor::new(store, profiles, &settings.store.machine_id))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// Records the daemon's own alert (an overflow event): one API alert per source, profiles applied, all in one
    /// transaction. Whitelisted overflows and log events are ignored (`Ok(vec![])`).
    pub fn on_alert(&self, evt: &Event) -> Result<Vec<Recorded>, StoreError> {
        let Some(ovf) = evt.overflow() else { return Ok(Vec::new()) };
        if ovf.whitelisted {
            return Ok(Vec::new());
        }
        let alerts: Vec<Alert> = ovf
            .api_alerts()
            .iter()
            .map(|a| {
                let mut m = Alert::from_event(a);
                if m.source.scope.is_empty() {
                    m.source.scope = "Ip".to_string();
                }
                m
            })
            .collect();
        self.add_alerts(&self.machine_id.clone(), alerts, now_nanos())
    }

    /// Records alerts from `machine`. An alert that carries decisions (made by hand, like `cscli decisions add`)
    /// keeps them and only collects notifications from the profiles; the others get the profiles' decisions.
    pub fn add_alerts(&self, machine: &str, alerts: Vec<Alert>, now: Nanos) -> Result<Vec<Recorded>, StoreError> {
        let mut batch = Vec::with_capacity(alerts.len());
        let mut outcomes = Vec::with_capacity(alerts.len());
        for mut a in alerts {
            a.source.scope = normalize_scope(&a.source.scope);
            let outcome = self.profiles.evaluate(&a.to_event());
            let decisions = if a.decisions.is_empty() {
                outcome.decisions.clone()
            } else {
                a.decisions.iter().filter_map(|d| given_decision(d, &a)).collect()
            };
            a.notifications = outcome.notifications.clone();
            outcomes.push((decisions.clone(), outcome.notifications));
            batch.push(NewAlert { alert: a, decisions });
        }
        let ids = self.store.add_alerts(machine, &batch, now).inspect_err(|_| {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        })?;
        self.stats.alerts.fetch_add(ids.len() as u64, Ordering::Relaxed);
        let n: usize = outcomes.iter().map(|(d, _)| d.len()).sum();
        self.stats.decisions.fetch_add(n as u64, Ordering::Relaxed);
        Ok(ids
            .into_iter()
            .zip(outcomes)
            .map(|(alert_id, (decisions, notifications))| Recorded { alert_id, decisions, notifications })
            .collect())
    }

    /// Adds a decision by hand (`correlator decisions add`): recorded as an alert whose scenario is the reason,
    /// origin `cscli`, like CrowdSec's `cscli decisions add`.
    pub fn add_manual_decision(&self, d: ManualDecision, now: Nanos) -> Result<i64, StoreError> {
        let scope = normalize_scope(&d.scope);
        let stamp = crate::store::format_time(now);
        let alert = Alert {
            scenario: d.reason.clone(),
            message: format!("manual '{}' from '{}'", d.kind, self.machine_id),
            start_at: stamp.clone(),
            stop_at: stamp,
            events_count: 1,
            leakspeed: "0".into(),
            source: crate::store::Source {
                scope: scope.clone(),
                value: d.value.clone(),
                ip: if scope == "Ip" { d.value.clone() } else { String::new() },
                range: if scope == "Range" { d.value.clone() } else { String::new() },
                ..Default::default()
            },
            remediation: true,
            ..Alert::default()
        };
        let decision = NewDecision {
            origin: "cscli".into(),
            kind: d.kind,
            scope,
            value: d.value,
            scenario: d.reason,
            simulated: false,
            duration: d.duration,
        };
        let ids = self.store.add_alerts(&self.machine_id, &[NewAlert { alert, decisions: vec![decision] }], now)?;
        self.stats.alerts.fetch_add(1, Ordering::Relaxed);
        self.stats.decisions.fetch_add(1, Ordering::Relaxed);
        Ok(ids[0])
    }
}

/// A decision typed on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct ManualDecision {
    pub scope: String,
    pub value: String,
    pub kind: String,
    /// Nanoseconds.
    pub duration: i64,
    pub reason: String,
}

/// A decision that came with a posted alert: its duration is a length (`4h`, `7d`).
fn given_decision(d: &crate::store::Decision, a: &Alert) -> Option<NewDecision> {
    let duration = match parse_duration_with_days(d.duration.trim()) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("alert {:?}: decision for {:?} ignored: {e}", a.scenario, d.value);
            return None;
        }
    };
    Some(NewDecision {
        origin: if d.origin.is_empty() { "cscli".to_string() } else { d.origin.clone() },
        kind: d.kind.clone(),
        scope: normalize_scope(&d.scope),
        value: d.value.clone(),
        scenario: if d.scenario.is_empty() { a.scenario.clone() } else { d.scenario.clone() },
        simulated: d.simulated.unwrap_or(false) || a.simulated,
        duration,
    })
}

/// Loads the profiles of `settings` with the store as the decision counter.
pub fn load_profiles(settings: &Settings, store: &Arc<dyn Store>) -> Result<Profiles, String> {
    let services = Arc::new(Services::new().with_decisions(Arc::new(StoreCounter(Arc::clone(store)))));
    if !settings.profiles.is_file() {
        tracing::warn!("{}: no profiles file, alerts will be recorded without decisions", settings.profiles.display());
        return Ok(Profiles::empty(services));
    }
    Profiles::load(&settings.profiles, services).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AlertEvent, MetaItem, RuntimeAlert, Source};
    use crate::store::{DecisionFilter, SqliteStore};

    fn processor(dir: &std::path::Path) -> Processor {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("p.db")).unwrap());
        let services = Arc::new(Services::new().with_decisions(Arc::new(StoreCounter(Arc::clone(&store)))));
        let text = "name: p\nfilters: ['Alert.Remediation && Alert.GetScope() == \"Ip\"']\n\
                    decisions: [{type: ban, duration: 4h}]\n\
                    duration_expr: Sprintf('%dh', (GetDecisionsCount(Alert.GetValue()) + 1) * 4)\n\
                    notifications: [mail]\n";
        let profiles = Profiles::parse(std::path::Path::new("p.yaml"), text, services).unwrap();
        Processor::new(store, profiles, "local")
    }

    fn overflow(ip: &str, stop: &str) -> Event {
        let src = Source { ip: ip.into(), scope: "Ip".into(), value: ip.into(), ..Source::default() };
        let mut ovf = RuntimeAlert { source_key: ip.into(), ..RuntimeAlert::default() };
        ovf.sources.insert(ip.into(), src.clone());
        ovf.alert.source = Some(src);
        ovf.alert.scenario = "correlator/ssh-bruteforce".into();
        ovf.alert.remediation = true;
        ovf.alert.stop_at = stop.into();
        ovf.alert.events.push(AlertEvent {
            timestamp: stop.into(),
            meta: vec![MetaItem { key: "source_ip".into(), value: ip.into() }],
            raw: String::new(),
        });
        Event::overflow_event(ovf)
    }

    #[test]
    fn daemon_alerts_become_decisions_with_escalating_durations() {
        let d = tempfile::tempdir().unwrap();
        let p = processor(d.path());
        let r = p.on_alert(&overflow("192.0.2.1", "2026-03-02T08:00:00Z")).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].notifications, ["mail"]);
        assert_eq!(r[0].decisions[0].duration, 4 * 3_600_000_000_000);
        let r = p.on_alert(&overflow("192.0.2.1", "2026-03-02T09:00:00Z")).unwrap();
        assert_eq!(r[0].decisions[0].duration, 8 * 3_600_000_000_000, "second offence: (1 + 1) * 4h");
        // The same overflow again (lines read twice after a crash) is not recorded twice.
        let again = p.on_alert(&overflow("192.0.2.1", "2026-03-02T09:00:00Z")).unwrap();
        assert_eq!(again[0].alert_id, r[0].alert_id);
        let active = p.store().decisions(&DecisionFilter::default(), now_nanos()).unwrap();
        assert_eq!(active.len(), 2);
        let alerts = p.store().alerts(&Default::default(), now_nanos()).unwrap();
        assert_eq!(alerts[0].notifications, ["mail"]);
        assert_eq!(alerts[0].machine_id, "local");
        // Log events and whitelisted overflows are not alerts.
        assert!(p.on_alert(&Event::default()).unwrap().is_empty());
        let mut w = overflow("192.0.2.2", "x");
        if let Some(o) = w.overflow_mut() {
            o.whitelisted = true;
        }
        assert!(p.on_alert(&w).unwrap().is_empty());
    }

    #[test]
    fn manual_decisions_and_posted_decisions_are_kept_as_given() {
        let d = tempfile::tempdir().unwrap();
        let p = processor(d.path());
        let m = ManualDecision {
            scope: "range".into(),
            value: "192.0.2.0/24".into(),
            kind: "captcha".into(),
            duration: 3_600_000_000_000,
            reason: "manual ban".into(),
        };
        p.add_manual_decision(m, now_nanos()).unwrap();
        let all = p.store().decisions(&DecisionFilter::default(), now_nanos()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(
            (all[0].scope.as_str(), all[0].origin.as_str(), all[0].kind.as_str()),
            ("Range", "cscli", "captcha")
        );
        let mut a = Alert::from_event(&overflow("198.51.100.1", "t").overflow().unwrap().alert);
        a.decisions.push(crate::store::Decision {
            duration: "2d".into(),
            kind: "ban".into(),
            scope: "ip".into(),
            value: "198.51.100.1".into(),
            ..Default::default()
        });
        let r = p.add_alerts("agent", vec![a], now_nanos()).unwrap();
        assert_eq!(r[0].decisions[0].duration, 48 * 3_600_000_000_000);
        assert_eq!(r[0].decisions[0].scope, "Ip");
    }
}
