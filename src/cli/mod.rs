//! The command line: one module per subcommand, each thin (parse arguments, call the library, print).

pub mod alerts;
pub mod bouncers;
pub mod capture;
pub mod common;
pub mod decisions;
pub mod eval;
pub mod explain;
pub mod hubtest;
pub mod lint;
pub mod machines;
pub mod metrics;
pub mod replay;
pub mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Correlator: reads logs, parses them with CrowdSec-format YAML parsers, correlates the events in leaky-bucket
/// scenarios and reports what it finds.
#[derive(Debug, Parser)]
#[command(name = "correlator", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log verbosity for Correlator's own diagnostics: error, warn, info, debug, trace, or per-module
    /// `target=level` directives after a default (`warn,correlator::scenario=debug`).
    /// Traces of items marked `debug: true` (target correlator::debug) are shown at any level unless the filter
    /// names that target (`warn,correlator::debug=off`).
    #[arg(long, global = true, env = "CORRELATOR_LOG", default_value = "warn")]
    pub log_level: String,

    /// What to do; without one, `run` on the default configuration.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive syslog (UDP/TCP) and record it to a file that `replay --type syslog FILE` reads.
    Capture(capture::CaptureArgs),
    /// Run the daemon: sources from acquis.yaml through parsers and scenarios to the outputs (the default).
    Run(run::RunArgs),
    /// Replay log files in time-machine mode and print the alerts.
    Replay(replay::ReplayArgs),
    // No doc comment on these variants: it would replace the long help (with examples) of the Args struct.
    Hubtest(hubtest::HubtestArgs),
    /// Evaluate an expression (CrowdSec filter syntax) against an event and print the result as JSON.
    Eval(eval::EvalArgs),
    Explain(explain::ExplainArgs),
    Lint(lint::LintArgs),
    /// List and inspect the recorded alerts.
    Alerts(alerts::AlertsArgs),
    /// List, add and delete decisions (bans) in the store.
    Decisions(decisions::DecisionsArgs),
    /// Manage bouncers: API keys for the local API's decision endpoints.
    Bouncers(bouncers::BouncersArgs),
    /// Manage machines: credentials of agents that push alerts to the local API.
    Machines(machines::MachinesArgs),
    /// Show the running daemon's metrics as tables.
    Metrics(metrics::MetricsArgs),
}

/// Entry point used by `main.rs`.
// While `Command` has no variant, `Cli` cannot exist and everything after parsing is unreachable; remove this
// allowance with the first subcommand.
#[allow(unreachable_code, unused_variables)]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log_level);
    let command = cli.command.unwrap_or_else(|| {
        Command::Run(run::RunArgs {
            hub: common::HubArgs::default(),
            stdin: false,
            log_type: None,
            acquis: None,
            quiet: false,
        })
    });
    match command {
        Command::Capture(args) => capture::run(args),
        Command::Run(a) => run::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Hubtest(a) => hubtest::run(a),
        Command::Eval(args) => eval::run(args),
        Command::Explain(a) => explain::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Alerts(a) => alerts::run(a),
        Command::Decisions(a) => decisions::run(a),
        Command::Bouncers(a) => bouncers::run(a),
        Command::Machines(a) => machines::run(a),
        Command::Metrics(a) => metrics::run(a),
    }
}

fn init_tracing(level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::util::SubscriberInitExt;
    let ansi = std::io::stderr().is_terminal();
    let _ = crate::itemdebug::subscriber(level, std::io::stderr, ansi).try_init();
}
