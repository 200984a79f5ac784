//! `correlator metrics`: the running daemon's counters as the tables `cscli metrics` prints, scraped from its
//! `/metrics` endpoint (address from the configuration, or `--url`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::common::{HubArgs, OutputFormat, load_settings, print_json};
use crate::metrics::scrape;

/// Show the daemon's metrics (Acquisition, Parsers, Scenarios, Local API, Decisions, Alerts).
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Configuration file or directory (default: config/config.yaml when present).
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// `host:port` of the daemon's /metrics (default: prometheus.listen, else api.listen).
    #[arg(long)]
    pub url: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub format: OutputFormat,
}

pub fn run(a: MetricsArgs) -> ExitCode {
    let addr = match &a.url {
        Some(u) => u.trim_start_matches("http://").trim_end_matches("/metrics").trim_end_matches('/').to_string(),
        None => {
            let s = match load_settings(&HubArgs { config: a.config.clone(), ..HubArgs::default() }) {
                Ok(s) => s,
                Err(c) => return c,
            };
            match (&s.api.prometheus_listen, s.api.enabled && s.api.metrics, &s.api.tls) {
                (Some(l), _, _) => l.clone(),
                (None, true, None) => s.api.listen.clone(),
                (None, true, Some(_)) => {
                    eprintln!(
                        "correlator: the API uses TLS; configure prometheus.listen (plain HTTP on loopback) or pass --url"
                    );
                    return ExitCode::from(2);
                }
                (None, false, _) => {
                    eprintln!(
                        "correlator: no metrics endpoint configured (api.enabled or prometheus.listen); pass --url"
                    );
                    return ExitCode::from(2);
                }
            }
        }
    };
    let text = match scrape::fetch(&addr, "/metrics") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("correlator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tables = scrape::tables(&scrape::parse_text(&text));
    if a.format == OutputFormat::Json {
        print_json(&tables);
    } else {
        for t in &tables {
            crate::outln!("{}", scrape::render_table(t));
        }
    }
    ExitCode::SUCCESS
}
