//! `correlator run`: the daemon on `config/config.yaml` and `acquis.yaml`.

use std::process::ExitCode;

use clap::Args;

use crate::daemon::{self, RunOptions};
use crate::output::dispatch::{DispatchOptions, Dispatcher};

use super::common::{HubArgs, load_settings, peak_rss_kib, settings_from};

/// Run the daemon: read the sources of acquis.yaml, parse, correlate, report alerts.
///
/// With the shipped defaults the sources are the sample logs in samples/, read once (cat mode): the daemon then
/// prints the alerts it finds and exits. Alerts go to the listeners of config.yaml (`listeners:`, enabled by
/// `stack.listeners`; see docs/listeners.md): the shipped one prints them on stdout. Point acquis.yaml at real
/// logs in tail mode (or at a syslog port) to run for good; SIGINT/SIGTERM stop it cleanly (nothing read is lost,
/// positions and bucket state are saved). An edit of config.yaml or of an enabled hub item is applied without a
/// restart (an invalid edit is refused and the running stack stays); SIGHUP or an edit of acquis.yaml reloads the
/// sources.
///
/// Examples:
///   correlator run
///   correlator run --config /etc/correlator/config.yaml
///   journalctl -f -o short | correlator run --stdin --type syslog
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub hub: HubArgs,

    /// Read standard input instead of the acquisition configuration.
    #[arg(long, requires = "log_type")]
    pub stdin: bool,

    /// Log type of standard input (with --stdin).
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub log_type: Option<String>,

    /// Acquisition file to use instead of the configured one.
    #[arg(long, value_name = "FILE")]
    pub acquis: Option<std::path::PathBuf>,

    /// Do not print the summary on stderr at exit.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(args: RunArgs) -> ExitCode {
    let mut settings = match load_settings(&args.hub) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(a) = &args.acquis {
        settings.acquisition = a.clone();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("correlator: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dispatcher = match Dispatcher::from_settings(&settings.listeners, DispatchOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("correlator: the listeners have {} configuration error(s)", e.0.len());
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let hub_args = args.hub;
    let acquis_override = args.acquis.clone();
    let loader: daemon::SettingsLoader = Box::new(move || {
        let mut s = settings_from(&hub_args)?;
        if let Some(a) = &acquis_override {
            s.acquisition = a.clone();
        }
        Ok(s)
    });
    let opts = RunOptions {
        settings,
        reload: Some(loader),
        stdin_type: if args.stdin { args.log_type.clone() } else { None },
        sink: Box::new(dispatcher),
        sink_factory: Some(Box::new(|s: &crate::config::settings::Settings| {
            match Dispatcher::from_settings(&s.listeners, DispatchOptions::default()) {
                Ok(d) => Ok(Box::new(d) as Box<dyn daemon::AlertSink>),
                Err(e) => Err(e.to_string()),
            }
        })),
    };
    match rt.block_on(daemon::run(opts)) {
        Ok(s) => {
            if !args.quiet {
                let st = &s.stats;
                let rss = peak_rss_kib().map(|k| format!("  peak RSS: {} MiB", k / 1024)).unwrap_or_default();
                eprintln!(
                    "lines read: {}  parsed: {}  unparsed: {}  whitelisted: {}  alerts: {}  elapsed: {:.2}s{rss}",
                    st.lines,
                    st.parsed,
                    st.unparsed,
                    st.whitelisted,
                    s.alerts,
                    started.elapsed().as_secs_f64()
                );
                if let Some(l) = &s.listeners {
                    eprintln!("{l}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("correlator: {e}");
            ExitCode::from(2)
        }
    }
}
