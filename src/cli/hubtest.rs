//! `correlator hubtest`: runs CrowdSec hub test cases (and Correlator's own) and reports PASS/FAIL per case.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::hubtest::{self, RunOptions};

/// Run hub test cases: each case folder holds config.yaml (items, log file, log type), the log and
/// parser.assert / scenario.assert, in the format of the CrowdSec hub's .tests/ folders.
///
/// Prints `PASS name` or `FAIL name: <first failing assertion> (got <value>)` per case and, last,
/// `N passed, M failed`. Exit status 0 only when nothing failed.
///
/// Example:
///   correlator hubtest --hub ../hub --patterns ../hub/patterns-base --patterns ../hub/patterns \
///       --data ../hub/data --year 2026 ../hub/.tests
#[derive(Debug, Args)]
pub struct HubtestArgs {
    /// Hub directory the cases' item names resolve against (via its .index.json, or as paths).
    #[arg(long, value_name = "DIR", default_value = "hub")]
    pub hub: PathBuf,

    /// Grok pattern directories, in order (default: <hub>/patterns if present).
    #[arg(long = "patterns", value_name = "DIR")]
    pub patterns: Vec<PathBuf>,

    /// Data directory (default: <hub>/data).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Year given to timestamps without one (hub asserts were generated in 2026).
    #[arg(long, value_name = "YYYY")]
    pub year: Option<i32>,

    /// Parallel cases (default: number of cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,

    /// Run only cases whose name contains this text (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,

    /// Case directories, or directories of cases.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: HubtestArgs) -> ExitCode {
    let patterns = if args.patterns.is_empty() {
        [args.hub.join("patterns")].into_iter().filter(|p| p.is_dir()).collect()
    } else {
        args.patterns.clone()
    };
    let opts = RunOptions {
        data_dir: args.data.clone().unwrap_or_else(|| args.hub.join("data")),
        hub: args.hub.clone(),
        patterns,
        year: args.year,
    };
    let mut dirs: Vec<PathBuf> = args.paths.iter().flat_map(|p| hubtest::discover(p)).collect();
    if !args.only.is_empty() {
        dirs.retain(|d| {
            let n = d.file_name().and_then(|n| n.to_str()).unwrap_or("");
            args.only.iter().any(|o| n.contains(o.as_str()))
        });
    }
    if dirs.is_empty() {
        eprintln!("correlator hubtest: no test case found (a case is a folder with a config.yaml)");
        return ExitCode::from(2);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let results = hubtest::run_all(&dirs, &opts, jobs, |r| match &r.failure {
        None => println!("PASS {}", r.name),
        Some(f) => println!("FAIL {}: {f}", r.name),
    });
    let failed = results.iter().filter(|r| !r.passed).count();
    println!("{} passed, {} failed", results.len() - failed, failed);
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
