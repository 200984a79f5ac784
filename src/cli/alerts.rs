//! `correlator alerts list|inspect`: the alerts in the store, newest first.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::common::{OutputFormat, StoreArgs, open_store, print_json, print_table, store_failed};
use crate::gocompat::duration::parse_duration_with_days;
use crate::store::{AlertFilter, IpInterval, now_nanos};

/// Inspect recorded alerts.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: AlertsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts.
    List {
        /// Alerts about this address (or a range containing it).
        #[arg(long, short = 'i')]
        ip: Option<String>,
        /// Alerts about addresses in this range.
        #[arg(long, short = 'r')]
        range: Option<String>,
        #[arg(long, short = 's')]
        scenario: Option<String>,
        /// Only alerts recorded within this duration (1h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (0: all).
        #[arg(long, short = 'l', default_value_t = 50)]
        limit: usize,
    },
    /// Show one alert with its decisions and events.
    Inspect { id: i64 },
}

pub fn run(a: AlertsArgs) -> ExitCode {
    let (_, store) = match open_store(&a.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let json = a.store.format == OutputFormat::Json;
    let now = now_nanos();
    match a.command {
        AlertsCommand::List { ip, range, scenario, since, limit } => {
            let mut f = AlertFilter {
                scenario,
                limit: (limit > 0).then_some(limit),
                include_simulated: true,
                ..Default::default()
            };
            if let Some(v) = &ip {
                match IpInterval::parse(v) {
                    Some(i) => f.interval = Some((i, true)),
                    None => return bad(&format!("{v:?} is not an IP address")),
                }
            }
            if let Some(v) = &range {
                match IpInterval::parse(v) {
                    Some(i) => f.interval = Some((i, false)),
                    None => return bad(&format!("{v:?} is not a range")),
                }
            }
            if let Some(s) = &since {
                match parse_duration_with_days(s) {
                    Ok(d) => f.since = Some(now - d),
                    Err(e) => return bad(&e),
                }
            }
            let alerts = match store.alerts(&f, now) {
                Ok(v) => v,
                Err(e) => return store_failed(e),
            };
            if json {
                print_json(&alerts);
                return ExitCode::SUCCESS;
            }
            let rows = alerts
                .iter()
                .map(|a| {
                    let mut kinds: Vec<String> = Vec::new();
                    for d in &a.decisions {
                        let n = a.decisions.iter().filter(|x| x.kind == d.kind).count();
                        let k = format!("{}:{n}", d.kind);
                        if !kinds.contains(&k) {
                            kinds.push(k);
                        }
                    }
                    vec![
                        a.id.to_string(),
                        format!("{}:{}", a.source.scope, a.source.value),
                        a.scenario.clone(),
                        a.source.cn.clone(),
                        format!("{} {}", a.source.as_number, a.source.as_name).trim().to_string(),
                        kinds.join(" "),
                        a.created_at.clone(),
                    ]
                })
                .collect();
            print_table(
                "Alerts",
                &["ID", "Value", "Reason", "Country", "AS", "Decisions", "Created At"],
                rows,
                "No active alerts",
            );
            ExitCode::SUCCESS
        }
        AlertsCommand::Inspect { id } => {
            let f = AlertFilter { id: Some(id), include_simulated: true, ..Default::default() };
            let mut found = match store.alerts(&f, now) {
                Ok(v) => v,
                Err(e) => return store_failed(e),
            };
            let Some(a) = found.pop() else {
                eprintln!("correlator: no alert {id}");
                return ExitCode::FAILURE;
            };
            if json {
                print_json(&a);
                return ExitCode::SUCCESS;
            }
            crate::outln!(
                "################################################################################################"
            );
            crate::outln!(" - ID           : {}", a.id);
            crate::outln!(" - Date         : {}", a.created_at);
            crate::outln!(" - Machine      : {}", a.machine_id);
            crate::outln!(" - Simulation   : {}", a.simulated);
            crate::outln!(" - Reason       : {}", a.scenario);
            crate::outln!(" - Events Count : {}", a.events_count);
            crate::outln!(" - Scope:Value  : {}:{}", a.source.scope, a.source.value);
            crate::outln!(" - Message      : {}", a.message);
            crate::outln!(" - Begin        : {}", a.start_at);
            crate::outln!(" - End          : {}", a.stop_at);
            crate::outln!(" - UUID         : {}", a.uuid);
            if !a.notifications.is_empty() {
                crate::outln!(" - Notify       : {}", a.notifications.join(", "));
            }
            crate::outln!();
            let rows = a
                .decisions
                .iter()
                .map(|d| {
                    vec![
                        d.id.to_string(),
                        d.scope.clone() + ":" + &d.value,
                        d.kind.clone(),
                        d.duration.clone(),
                        d.origin.clone(),
                    ]
                })
                .collect();
            print_table(
                "Active Decisions",
                &["ID", "Scope:Value", "Action", "Expiration", "Origin"],
                rows,
                "No decisions",
            );
            for (i, e) in a.events.iter().enumerate() {
                crate::outln!("\n - Event {} ({}):", i + 1, e.timestamp);
                for m in &e.meta {
                    crate::outln!("     {:<20} {}", m.key, m.value);
                }
            }
            ExitCode::SUCCESS
        }
    }
}

fn bad(m: &str) -> ExitCode {
    eprintln!("correlator: {m}");
    ExitCode::from(2)
}
