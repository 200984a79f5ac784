//! `correlator decisions list|add|delete`: the decisions bouncers enforce, read and edited in the store directly.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::common::{OutputFormat, StoreArgs, open_store, print_json, print_table, store_failed};
use crate::decisions::{ManualDecision, Processor, Profiles};
use crate::gocompat::duration::{format_duration, parse_duration_with_days};
use crate::store::{DecisionFilter, IpInterval, Store, now_nanos};

/// Manage decisions (bans and other remediations).
#[derive(Debug, Args)]
pub struct DecisionsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: DecisionsCommand,
}

/// Which decisions: the same filters for list and delete.
#[derive(Debug, Default, Args)]
pub struct Target {
    /// An address: decisions on it or on a range containing it.
    #[arg(long, short = 'i')]
    pub ip: Option<String>,
    /// A range: decisions covering it.
    #[arg(long, short = 'r')]
    pub range: Option<String>,
    /// Scope (Ip, Range, Country, username, ...).
    #[arg(long)]
    pub scope: Option<String>,
    /// Value in that scope.
    #[arg(long, short = 'v')]
    pub value: Option<String>,
    /// Decision type (ban, captcha, ...).
    #[arg(long = "type", short = 't')]
    pub kind: Option<String>,
    /// Origin (crowdsec, cscli, ...).
    #[arg(long)]
    pub origin: Option<String>,
    /// Scenario (the reason).
    #[arg(long, short = 's')]
    pub scenario: Option<String>,
    /// Decision id.
    #[arg(long)]
    pub id: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// List the active decisions.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Add a decision by hand (origin cscli).
    Add {
        #[arg(long, short = 'i', conflicts_with_all = ["range", "scope"])]
        ip: Option<String>,
        #[arg(long, short = 'r', conflicts_with = "scope")]
        range: Option<String>,
        #[arg(long, requires = "value")]
        scope: Option<String>,
        #[arg(long, short = 'v')]
        value: Option<String>,
        #[arg(long = "type", short = 't', default_value = "ban")]
        kind: String,
        /// Go duration, `d` allowed (4h, 7d).
        #[arg(long, short = 'd', default_value = "4h")]
        duration: String,
        /// Recorded as the decision's scenario.
        #[arg(long = "reason", short = 'R')]
        reason: Option<String>,
    },
    /// End decisions now (bouncers drop them on their next pull).
    Delete {
        #[command(flatten)]
        target: Target,
        /// Every active decision.
        #[arg(long)]
        all: bool,
    },
}

fn filter(t: &Target) -> Result<DecisionFilter, String> {
    let mut f = DecisionFilter {
        id: t.id,
        value: t.value.clone(),
        kind: t.kind.clone(),
        scenario: t.scenario.clone(),
        origins: t.origin.iter().cloned().collect(),
        scopes: t.scope.iter().cloned().collect(),
        include_simulated: true,
        ..Default::default()
    };
    if let Some(v) = t.ip.as_ref().or(t.range.as_ref()) {
        f.interval = Some((IpInterval::parse(v).ok_or_else(|| format!("{v:?} is not an IP address or range"))?, true));
    }
    Ok(f)
}

fn list(store: &dyn Store, f: &DecisionFilter, json: bool) -> ExitCode {
    let now = now_nanos();
    let found = match store.decisions(f, now) {
        Ok(v) => v,
        Err(e) => return store_failed(e),
    };
    if json {
        let v: Vec<_> = found
            .iter()
            .map(|d| {
                let mut j = serde_json::to_value(d.to_api(now)).unwrap_or_default();
                j["alert_id"] = serde_json::json!(d.alert_id);
                j
            })
            .collect();
        print_json(&v);
        return ExitCode::SUCCESS;
    }
    let rows = found
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.origin.clone(),
                format!("{}:{}", d.scope, d.value),
                d.scenario.clone(),
                d.kind.clone(),
                format_duration((d.until - now) / 1_000_000_000 * 1_000_000_000),
                d.alert_id.map(|a| a.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        "Decisions",
        &["ID", "Source", "Scope:Value", "Reason", "Action", "Expiration", "Alert ID"],
        rows,
        "No active decisions",
    );
    ExitCode::SUCCESS
}

pub fn run(a: DecisionsArgs) -> ExitCode {
    let (settings, store) = match open_store(&a.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let json = a.store.format == OutputFormat::Json;
    match a.command {
        DecisionsCommand::List { target } => match filter(&target) {
            Ok(f) => list(&*store, &f, json),
            Err(e) => {
                eprintln!("correlator: {e}");
                ExitCode::from(2)
            }
        },
        DecisionsCommand::Add { ip, range, scope, value, kind, duration, reason } => {
            let (scope, value) = match (ip, range, scope, value) {
                (Some(ip), _, _, _) => ("Ip".to_string(), ip),
                (None, Some(r), _, _) => ("Range".to_string(), r),
                (None, None, Some(s), Some(v)) => (s, v),
                (None, None, None, Some(v)) => ("Ip".to_string(), v),
                _ => {
                    eprintln!("correlator: say what to decide on: --ip, --range, or --scope with --value");
                    return ExitCode::from(2);
                }
            };
            let scope = crate::store::model::normalize_scope(&scope);
            if (scope == "Ip" || scope == "Range") && crate::store::iprange::decision_interval(&scope, &value).is_none()
            {
                eprintln!("correlator: {value:?} is not a valid {scope}");
                return ExitCode::from(2);
            }
            let duration = match parse_duration_with_days(&duration) {
                Ok(d) if d > 0 => d,
                _ => {
                    eprintln!("correlator: invalid duration {duration:?} (e.g. 4h, 30m, 7d)");
                    return ExitCode::from(2);
                }
            };
            let services = std::sync::Arc::new(crate::expr::Services::new());
            let p = Processor::new(store, Profiles::empty(services), &settings.store.machine_id);
            let reason = reason.unwrap_or_else(|| format!("manual '{kind}' from '{}'", settings.store.machine_id));
            let d = ManualDecision { scope: scope.clone(), value: value.clone(), kind: kind.clone(), duration, reason };
            match p.add_manual_decision(d, now_nanos()) {
                Ok(id) => {
                    if json {
                        print_json(&serde_json::json!({"alert_id": id}));
                    } else {
                        crate::outln!(
                            "Decision added: {kind} on {scope}:{value} for {} (alert {id})",
                            format_duration(duration)
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => store_failed(e),
            }
        }
        DecisionsCommand::Delete { target, all } => {
            let f = match filter(&target) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("correlator: {e}");
                    return ExitCode::from(2);
                }
            };
            if !all && f == (DecisionFilter { include_simulated: true, ..Default::default() }) {
                eprintln!("correlator: say which decisions to delete (--ip, --range, --value, --id, ...) or --all");
                return ExitCode::from(2);
            }
            match store.expire_decisions(&f, now_nanos()) {
                Ok(ended) => {
                    if json {
                        print_json(&serde_json::json!({"nbDeleted": ended.len()}));
                    } else {
                        crate::outln!("{} decision(s) deleted", ended.len());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => store_failed(e),
            }
        }
    }
}
