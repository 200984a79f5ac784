//! `profiles.yaml` (CrowdSec's format, one profile per YAML document): which alerts become which decisions, and
//! which listeners hear about them.
//!
//! Evaluation follows CrowdSec's local API, profile by profile in file order:
//! * `filters` are OR'ed expressions over `Alert` (`models.Alert`); every filter that is true generates the
//!   profile's `decisions` once (CrowdSec QUIRK: two true filters give the decisions twice).
//! * A decision takes `type`, `duration` (Go syntax, `d` allowed; default 4h), `scope` (default: the alert's source
//!   scope), `origin` (`crowdsec`, or `crowdsec/<origin>`), `simulated` (also when the alert is), the alert's
//!   source value and scenario. `duration_expr` (evaluated with `GetDecisionsCount` & co) overrides the duration
//!   when its result parses as a duration.
//! * Only the first matching profile's decisions are kept (CrowdSec attaches decisions to the alert once); the
//!   `notifications` of every matching profile are collected.
//! * `on_success: break` stops after a matching profile (default `continue`); `on_failure: break` stops after a
//!   profile that did not match (as CrowdSec documents it).
//! * A filter that fails to evaluate: `on_error: apply` treats the profile as matching, `break` stops, `continue`
//!   / `ignore` (and unset) skip the profile. CrowdSec answers HTTP 500 when `on_error` is unset; Correlator skips
//!   the profile and logs, so the alert is still recorded.
//!
//! What this module is not: the store or the API; it turns one alert into decisions and listener names.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::config::yaml::{self, ConfigError, ConfigErrors, Expr, Located, position};
use crate::event;
use crate::expr::{CompileEnv, Program, RootType, Scope, Services, Value};
use crate::gocompat::duration::parse_duration_with_days;
use crate::store::NewDecision;
use crate::store::model::normalize_scope;

/// CrowdSec's default decision length.
pub const DEFAULT_DURATION: &str = "4h";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    name: Option<String>,
    debug: Option<bool>,
    #[serde(default)]
    filters: Vec<Expr>,
    #[serde(default)]
    decisions: Vec<Located<DecisionSpec>>,
    duration_expr: Option<Expr>,
    #[serde(default)]
    notifications: Vec<String>,
    on_success: Option<Expr>,
    on_failure: Option<Expr>,
    on_error: Option<Expr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionSpec {
    #[serde(rename = "type")]
    kind: Option<String>,
    duration: Option<Expr>,
    scope: Option<String>,
    origin: Option<String>,
    simulated: Option<bool>,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Break,
}

/// What a filter evaluation error does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// Skip the profile (`continue`, `ignore`, or unset).
    Skip,
    /// Treat the profile as matching.
    Apply,
    /// Stop evaluating profiles.
    Break,
}

#[derive(Clone, Debug)]
struct DecisionTemplate {
    kind: String,
    /// Nanoseconds.
    duration: i64,
    scope: Option<String>,
    origin: Option<String>,
    simulated: bool,
}

/// A compiled profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    /// `file:line` of the document.
    pub origin: String,
    pub debug: bool,
    filters: Vec<Program>,
    decisions: Vec<DecisionTemplate>,
    duration_expr: Option<Program>,
    pub notifications: Vec<String>,
    pub on_success: Flow,
    pub on_failure: Flow,
    pub on_error: OnError,
}

/// The result of running an alert through the profiles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub decisions: Vec<NewDecision>,
    /// Listener names, in profile order, without repeats.
    pub notifications: Vec<String>,
    /// Names of the profiles that matched.
    pub matched: Vec<String>,
    /// Evaluation problems (already logged).
    pub errors: Vec<String>,
}

/// The profiles of one file, in order.
#[derive(Clone)]
pub struct Profiles {
    pub profiles: Vec<Profile>,
    services: Arc<Services>,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles").field("profiles", &self.profiles).finish_non_exhaustive()
    }
}

fn flow(file: &Path, v: &Option<Expr>, key: &str, errors: &mut ConfigErrors) -> Flow {
    match v.as_ref().map(|e| (e, e.src.trim())) {
        None | Some((_, "" | "continue")) => Flow::Continue,
        Some((_, "break")) => Flow::Break,
        Some((e, other)) => {
            errors.push(ConfigError::at_expr(file, e, 0, format!("{key}: {other:?} is not one of continue, break")));
            Flow::Continue
        }
    }
}

impl Profiles {
    /// Loads a `profiles.yaml`. `services` should carry the decision counter (`Services::with_decisions`) for
    /// `duration_expr`.
    pub fn load(path: &Path, services: Arc<Services>) -> Result<Profiles, ConfigErrors> {
        let text = yaml::read_file(path)?;
        Self::parse(path, &text, services)
    }

    /// No profile: alerts are recorded without decisions.
    pub fn empty(services: Arc<Services>) -> Profiles {
        Profiles { profiles: Vec::new(), services }
    }

    pub fn parse(file: &Path, text: &str, services: Arc<Services>) -> Result<Profiles, ConfigErrors> {
        let docs = yaml::from_documents::<Located<ProfileSpec>>(file, text)?;
        let env = CompileEnv::new(Arc::clone(&services)).with_root("Alert", RootType::Alert);
        let mut errors = ConfigErrors::default();
        let mut profiles = Vec::new();
        for doc in docs.into_iter().flatten() {
            let (line, col) = position(&doc);
            let spec = doc.value;
            let Some(name) = spec.name.clone().filter(|n| !n.trim().is_empty()) else {
                errors.push(ConfigError::new(file, line, col, "profile without a name"));
                continue;
            };
            let compile = |e: &Expr, what: &str, errors: &mut ConfigErrors| match crate::expr::compile(&e.src, &env) {
                Ok(p) => Some(p),
                Err(err) => {
                    errors.push(ConfigError::at_expr(file, e, err.offset(), format!("{what}: {err}")));
                    None
                }
            };
            let filters: Vec<Program> = spec.filters.iter().filter_map(|f| compile(f, "filter", &mut errors)).collect();
            if spec.filters.is_empty() {
                errors.push(ConfigError::new(file, line, col, format!("profile {name:?} has no filters")));
            }
            let duration_expr = spec.duration_expr.as_ref().and_then(|e| compile(e, "duration_expr", &mut errors));
            let mut decisions = Vec::new();
            for d in &spec.decisions {
                let (dl, dc) = position(d);
                let d = &d.value;
                let Some(kind) = d.kind.clone().filter(|k| !k.trim().is_empty()) else {
                    errors.push(ConfigError::new(file, dl, dc, "decision without a type"));
                    continue;
                };
                let duration = match &d.duration {
                    None => parse_duration_with_days(DEFAULT_DURATION).unwrap_or(0),
                    Some(e) => match parse_duration_with_days(e.src.trim()) {
                        Ok(v) if v > 0 => v,
                        Ok(_) => {
                            errors.push(ConfigError::at_expr(file, e, 0, "duration: must be positive"));
                            continue;
                        }
                        Err(m) => {
                            errors.push(ConfigError::at_expr(file, e, 0, format!("duration: {m}")));
                            continue;
                        }
                    },
                };
                decisions.push(DecisionTemplate {
                    kind,
                    duration,
                    scope: d.scope.clone().filter(|s| !s.trim().is_empty()).map(|s| normalize_scope(&s)),
                    origin: d.origin.clone().filter(|s| !s.trim().is_empty()),
                    simulated: d.simulated.unwrap_or(false),
                });
            }
            let on_error = match spec.on_error.as_ref().map(|e| (e, e.src.trim())) {
                None | Some((_, "" | "continue" | "ignore")) => OnError::Skip,
                Some((_, "apply")) => OnError::Apply,
                Some((_, "break")) => OnError::Break,
                Some((e, other)) => {
                    errors.push(ConfigError::at_expr(
                        file,
                        e,
                        0,
                        format!("on_error: {other:?} is not one of continue, break, apply, ignore"),
                    ));
                    OnError::Skip
                }
            };
            profiles.push(Profile {
                origin: format!("{}:{line}", file.display()),
                debug: spec.debug.unwrap_or(false),
                on_success: flow(file, &spec.on_success, "on_success", &mut errors),
                on_failure: flow(file, &spec.on_failure, "on_failure", &mut errors),
                on_error,
                filters,
                decisions,
                duration_expr,
                notifications: spec.notifications.clone(),
                name,
            });
        }
        errors.into_result(Profiles { profiles, services })
    }

    /// Runs an alert through the profiles.
    pub fn evaluate(&self, alert: &event::Alert) -> Outcome {
        let mut out = Outcome::default();
        let mut decided = false;
        for p in &self.profiles {
            let mut matched = false;
            let mut decisions = Vec::new();
            let mut stop = false;
            for f in &p.filters {
                let mut scope = Scope::new(&self.services);
                scope.bind("Alert", Value::Host(alert));
                match f.eval_bool(&mut scope) {
                    Ok(true) => {
                        matched = true;
                        decisions.extend(self.generate(p, alert, &mut out.errors));
                    }
                    Ok(false) => {}
                    Err(e) => {
                        let msg = format!("profile {:?} ({}): filter {:?}: {e}", p.name, p.origin, f.source());
                        tracing::warn!("{msg}");
                        out.errors.push(msg);
                        match p.on_error {
                            OnError::Apply => {
                                matched = true;
                                decisions.extend(self.generate(p, alert, &mut out.errors));
                            }
                            OnError::Break => stop = true,
                            OnError::Skip => {}
                        }
                        break;
                    }
                }
            }
            if p.debug {
                tracing::info!(profile = %p.name, matched, decisions = decisions.len(), "profile evaluated");
            }
            if stop {
                break;
            }
            if !matched {
                if p.on_failure == Flow::Break {
                    break;
                }
                continue;
            }
            out.matched.push(p.name.clone());
            for n in &p.notifications {
                if !out.notifications.contains(n) {
                    out.notifications.push(n.clone());
                }
            }
            if !decided {
                decided = true;
                out.decisions = decisions;
            }
            if p.on_success == Flow::Break {
                break;
            }
        }
        out
    }

    fn generate(&self, p: &Profile, alert: &event::Alert, errors: &mut Vec<String>) -> Vec<NewDecision> {
        let src = alert.source.clone().unwrap_or_default();
        let expr_duration = p.duration_expr.as_ref().and_then(|prog| {
            let mut scope = Scope::new(&self.services);
            scope.bind("Alert", Value::Host(alert));
            match prog.eval(&mut scope) {
                Ok(v) => {
                    let text = v.to_go_string();
                    match parse_duration_with_days(text.trim()) {
                        Ok(d) if d > 0 => Some(d),
                        _ => {
                            let msg = format!("profile {:?}: duration_expr gave {text:?}, not a duration", p.name);
                            tracing::warn!("{msg}");
                            errors.push(msg);
                            None
                        }
                    }
                }
                Err(e) => {
                    let msg = format!("profile {:?}: duration_expr: {e}", p.name);
                    tracing::warn!("{msg}");
                    errors.push(msg);
                    None
                }
            }
        });
        p.decisions
            .iter()
            .map(|t| {
                let scope = t.scope.clone().unwrap_or_else(|| normalize_scope(&src.scope));
                // A range decision for an IP alert bans the source's range when the alert knows it (CrowdSec 1.0
                // did this; later versions ban the IP text as a "range", which no bouncer can use).
                let value = if scope == "Range" && !src.value.contains('/') && !src.range.is_empty() {
                    src.range.clone()
                } else {
                    src.value.clone()
                };
                NewDecision {
                    origin: match &t.origin {
                        Some(o) => format!("crowdsec/{o}"),
                        None => "crowdsec".to_string(),
                    },
                    kind: t.kind.clone(),
                    scope,
                    value,
                    scenario: alert.scenario.clone(),
                    simulated: t.simulated || alert.simulated,
                    duration: expr_duration.unwrap_or(t.duration),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::DecisionCounter;

    const H: i64 = 3_600_000_000_000;

    struct FixedCount(i64);

    impl DecisionCounter for FixedCount {
        fn decisions_count(&self, _: &str) -> i64 {
            self.0
        }
        fn decisions_since_count(&self, _: &str, _: i64) -> i64 {
            self.0
        }
        fn active_decisions_count(&self, _: &str) -> i64 {
            self.0
        }
        fn active_decisions_time_left(&self, _: &str) -> i64 {
            0
        }
    }

    fn profiles(text: &str) -> Profiles {
        Profiles::parse(Path::new("profiles.yaml"), text, Arc::new(Services::new())).unwrap()
    }

    fn alert(scope: &str, value: &str, remediation: bool) -> event::Alert {
        event::Alert {
            scenario: "correlator/ssh-bruteforce".into(),
            remediation,
            source: Some(event::Source {
                scope: scope.into(),
                value: value.into(),
                ip: value.into(),
                range: "192.0.2.0/24".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    const DEFAULTS: &str = include_str!("../../config/profiles.yaml");

    #[test]
    fn shipped_defaults_ban_ip_and_range_remediation_alerts_for_4h() {
        let p = profiles(DEFAULTS);
        let o = p.evaluate(&alert("Ip", "192.0.2.1", true));
        assert_eq!(o.matched, ["default_ip_remediation"]);
        assert_eq!(o.decisions.len(), 1);
        let d = &o.decisions[0];
        assert_eq!((d.kind.as_str(), d.scope.as_str(), d.value.as_str()), ("ban", "Ip", "192.0.2.1"));
        assert_eq!(d.duration, 4 * H);
        assert_eq!(d.origin, "crowdsec");
        let o = p.evaluate(&alert("Range", "192.0.2.0/24", true));
        assert_eq!(o.matched, ["default_range_remediation"]);
        assert_eq!(o.decisions[0].value, "192.0.2.0/24");
        assert!(p.evaluate(&alert("Ip", "192.0.2.1", false)).decisions.is_empty());
        assert!(p.evaluate(&alert("username", "bob", true)).decisions.is_empty());
    }

    #[test]
    fn filters_are_ored_and_each_true_filter_generates_decisions() {
        let p = profiles(
            "name: p\nfilters:\n  - Alert.GetScope() == 'Ip'\n  - Alert.GetValue() startsWith '192.'\n  - false\n\
             decisions:\n  - type: ban\n    duration: 1h\n  - type: captcha\n    duration: 2d\n    scope: range\n",
        );
        let o = p.evaluate(&alert("Ip", "192.0.2.1", true));
        let kinds: Vec<_> = o.decisions.iter().map(|d| (d.kind.as_str(), d.scope.as_str(), d.duration)).collect();
        assert_eq!(
            kinds,
            [("ban", "Ip", H), ("captcha", "Range", 48 * H), ("ban", "Ip", H), ("captcha", "Range", 48 * H)]
        );
        assert_eq!(o.decisions[1].value, "192.0.2.0/24", "range scope bans the source range");
        let o = p.evaluate(&alert("Ip", "10.0.0.1", true));
        assert_eq!(o.decisions.len(), 2);
    }

    #[test]
    fn break_and_continue() {
        let text = "name: first\nfilters: [Alert.GetScope() == 'Ip']\ndecisions: [{type: ban, duration: 1h}]\n\
                    notifications: [slack]\non_success: continue\n---\n\
                    name: second\nfilters: ['true']\ndecisions: [{type: captcha, duration: 1h}]\n\
                    notifications: [email, slack]\non_success: break\n---\n\
                    name: third\nfilters: ['true']\nnotifications: [never]\n";
        let p = profiles(text);
        let o = p.evaluate(&alert("Ip", "192.0.2.1", true));
        assert_eq!(o.matched, ["first", "second"]);
        assert_eq!(o.notifications, ["slack", "email"]);
        // Only the first matching profile's decisions are kept.
        assert_eq!(o.decisions.len(), 1);
        assert_eq!(o.decisions[0].kind, "ban");
        // The first profile fails for a username: the second decides.
        let o = p.evaluate(&alert("username", "bob", true));
        assert_eq!(o.matched, ["second"]);
        assert_eq!(o.decisions[0].kind, "captcha");
        // on_failure: break stops at a profile that does not match.
        let text = "name: a\nfilters: ['false']\non_failure: break\n---\nname: b\nfilters: ['true']\n";
        assert!(profiles(text).evaluate(&alert("Ip", "192.0.2.1", true)).matched.is_empty());
        let text = "name: a\nfilters: ['false']\n---\nname: b\nfilters: ['true']\n";
        assert_eq!(profiles(text).evaluate(&alert("Ip", "192.0.2.1", true)).matched, ["b"]);
    }

    #[test]
    fn duration_expr_uses_the_decision_counter() {
        let text = "name: p\nfilters: ['true']\ndecisions: [{type: ban, duration: 1h}]\n\
                    duration_expr: Sprintf('%dh', (GetDecisionsCount(Alert.GetValue()) + 1) * 4)\n";
        let file = Path::new("profiles.yaml");
        let with = |n: i64| {
            let services = Arc::new(Services::new().with_decisions(Arc::new(FixedCount(n))));
            Profiles::parse(file, text, services).unwrap().evaluate(&alert("Ip", "192.0.2.1", true)).decisions[0]
                .duration
        };
        assert_eq!(with(0), 4 * H);
        assert_eq!(with(2), 12 * H);
        // A result that is not a duration keeps the static one.
        let bad = "name: p\nfilters: ['true']\ndecisions: [{type: ban, duration: 1h}]\nduration_expr: \"'soon'\"\n";
        let o = profiles(bad).evaluate(&alert("Ip", "192.0.2.1", true));
        assert_eq!(o.decisions[0].duration, H);
        assert_eq!(o.errors.len(), 1);
    }

    #[test]
    fn evaluation_errors_follow_on_error() {
        let text = |on_error: &str| {
            format!(
                "name: a\nfilters: ['int(Alert.GetValue()) > 0']\ndecisions: [{{type: ban}}]\n{on_error}---\n\
                 name: b\nfilters: ['true']\ndecisions: [{{type: captcha}}]\n"
            )
        };
        let a = alert("Ip", "192.0.2.1", true);
        let o = profiles(&text("")).evaluate(&a);
        assert_eq!(o.matched, ["b"]);
        assert_eq!(o.errors.len(), 1);
        let o = profiles(&text("on_error: apply\n")).evaluate(&a);
        assert_eq!(o.matched, ["a", "b"]);
        assert_eq!(o.decisions[0].kind, "ban");
        assert_eq!(o.decisions[0].duration, 4 * H, "default duration");
        assert!(profiles(&text("on_error: break\n")).evaluate(&a).matched.is_empty());
    }

    #[test]
    fn simulated_alerts_make_simulated_decisions() {
        let p = profiles("name: p\nfilters: ['true']\ndecisions: [{type: ban, origin: lists}]\n");
        let mut a = alert("Ip", "192.0.2.1", true);
        a.simulated = true;
        let d = &p.evaluate(&a).decisions[0];
        assert!(d.simulated);
        assert_eq!(d.origin, "crowdsec/lists");
    }

    #[test]
    fn config_errors_have_positions() {
        let e = |text: &str| {
            Profiles::parse(Path::new("profiles.yaml"), text, Arc::new(Services::new())).unwrap_err().to_string()
        };
        assert!(e("name: p\nfilters: ['true']\nnope: 1\n").contains("profiles.yaml:3:1: unknown field `nope`"));
        let m = e("name: p\nfilters:\n  - Alert.GetScope( == 'Ip'\n");
        assert!(m.starts_with("profiles.yaml:3:"), "{m}");
        let m = e("name: p\nfilters: ['true']\ndecisions:\n  - type: ban\n    duration: 4x\n");
        assert!(m.contains("profiles.yaml:5:15: duration:"), "{m}");
        let m = e("name: p\nfilters: ['true']\non_success: stop\n");
        assert!(m.contains("profiles.yaml:3:13: on_success:"), "{m}");
        let m = e("name: p\nfilters: ['true']\ndecisions:\n  - duration: 1h\n");
        assert!(m.contains("profiles.yaml:4:5: decision without a type"), "{m}");
        let m = e("filters: ['true']\n---\nname: q\n");
        assert!(m.contains("profiles.yaml:1:1: profile without a name"), "{m}");
        assert!(m.contains("profile \"q\" has no filters"), "{m}");
    }
}
