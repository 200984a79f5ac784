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
    /// Key sent to /metrics: a bouncer key (`correlator bouncers add NAME`). Default: the local metrics key,
    /// read from the store named by the configuration.
    #[arg(long, env = "CORRELATOR_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// The local metrics key, from the store of the configuration (created there if missing, as the daemon does).
fn local_key(config: &Option<PathBuf>) -> Result<String, ExitCode> {
    let s = load_settings(&HubArgs { config: config.clone(), ..HubArgs::default() })?;
    let store = crate::store::SqliteStore::open(&s.store.path).map_err(|e| {
        eprintln!("correlator: {}: {e} (pass --api-key)", s.store.path.display());
        ExitCode::FAILURE
    })?;
    crate::api::auth::metrics_key(&store).map_err(|e| {
        eprintln!("correlator: reading the metrics key: {e} (pass --api-key)");
        ExitCode::FAILURE
    })
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
    let key = match &a.api_key {
        Some(k) => k.clone(),
        None => match local_key(&a.config) {
            Ok(k) => k,
            Err(c) => return c,
        },
    };
    let text = match scrape::fetch(&addr, "/metrics", &key) {
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
