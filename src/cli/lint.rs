//! `correlator lint`: checks hub items and prints every problem as `file:line:col: error|warning: message`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::lint::{LintOptions, lint};

/// Check parsers, scenarios and postoverflows without running anything.
///
/// Loads every item of the hub (or only the FILEs given: item files, or directories of them),
/// compiles every expression, grok pattern and data reference as the daemon would, and prints all
/// problems, not just the first, as `file:line:col: error: message`, plus warnings (missing data
/// files, pattern redefinitions, unknown enricher methods, nodes that cannot move events to the
/// next stage, scenario filters reading Meta keys no parser sets).
///
/// Exit status: 0 when there is no error (warnings allowed), 1 when there are errors.
///
/// Examples:
///   correlator lint --hub hub
///   correlator lint --hub hub hub/parsers/s01-parse/me/app.yaml
///   correlator lint --hub /etc/crowdsec --patterns /etc/crowdsec/patterns \
///       --data /var/lib/crowdsec/data
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LintArgs {
    /// Hub directory (items, and by default its patterns/ and data/).
    #[arg(long, value_name = "DIR", default_value = "hub")]
    pub hub: PathBuf,

    /// Grok pattern directories, in order (default: <hub>/patterns if present).
    #[arg(long = "patterns", value_name = "DIR")]
    pub patterns: Vec<PathBuf>,

    /// Data directory (default: <hub>/data).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Print only errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Item files or directories to check (default: every item of the hub).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: LintArgs) -> ExitCode {
    let patterns = if args.patterns.is_empty() {
        [args.hub.join("patterns")].into_iter().filter(|p| p.is_dir()).collect()
    } else {
        args.patterns.clone()
    };
    let opts = LintOptions {
        data_dir: args.data.clone().unwrap_or_else(|| args.hub.join("data")),
        hub: args.hub.clone(),
        patterns,
        files: args.files.clone(),
    };
    let report = lint(&opts);
    let mut out = std::io::stdout().lock();
    for d in &report.diagnostics {
        if !args.quiet || d.level == crate::lint::Level::Error {
            // A closed pipe (`| head`) is not an error of the lint.
            let _ = writeln!(out, "{d}");
        }
    }
    let (e, w) = (report.errors(), report.warnings());
    eprintln!("{} file(s) checked: {e} error(s), {w} warning(s)", report.files);
    if e == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
