//! `correlator hubtest`: runs CrowdSec hub test cases (and Correlator's own) and reports PASS/FAIL per case;
//! `--create` writes a new case with generated assert files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::hubtest::create::{CreateOptions, create_case};
use crate::hubtest::{self, RunOptions};

/// Run hub test cases (CrowdSec's .tests/ format) and report PASS/FAIL, or create one (--create).
///
/// Each case folder holds config.yaml (items, log file, log type), the log and parser.assert /
/// scenario.assert, in the format of the CrowdSec hub's .tests/ folders.
///
/// Prints `PASS name` or `FAIL name: <first failing assertion> (got <value>)` per case and, last,
/// `N passed, M failed`. Exit status 0 only when nothing failed.
///
/// With --create DIR, writes a new case instead: config.yaml, the log copied in, and parser.assert
/// / scenario.assert generated from what the items do with the log now; then runs it. Read the
/// generated assertions before committing them: they pin the current behaviour, right or wrong.
///
/// Examples:
///   correlator hubtest --hub ../hub --patterns ../hub/patterns-base --patterns ../hub/patterns \
///       --data ../hub/data --year 2026 ../hub/.tests
///   correlator hubtest --hub hub --create tests/hub/my-case --type syslog --log auth.log \
///       --parsers hub/parsers/s00-raw/correlator/syslog.yaml \
///       --parsers hub/parsers/s01-parse/correlator/sshd.yaml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
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

    /// Create a case in this directory (see --type, --log, --parsers, --scenarios) instead of running cases.
    #[arg(long, value_name = "DIR", requires_all = ["log_type", "log"], conflicts_with_all = ["paths", "only"])]
    pub create: Option<PathBuf>,

    /// With --create: the log type (`evt.Line.Labels.type`).
    #[arg(long = "type", short = 't', value_name = "TYPE", requires = "create")]
    pub log_type: Option<String>,

    /// With --create: the log file to copy into the case.
    #[arg(long, value_name = "FILE", requires = "create")]
    pub log: Option<PathBuf>,

    /// With --create: parsers, as hub names or paths of files in the hub (comma-separated or repeated).
    #[arg(long, value_name = "ITEM", value_delimiter = ',', requires = "create")]
    pub parsers: Vec<String>,

    /// With --create: scenarios (as --parsers).
    #[arg(long, value_name = "ITEM", value_delimiter = ',', requires = "create")]
    pub scenarios: Vec<String>,

    /// With --create: postoverflows (as --parsers).
    #[arg(long, value_name = "ITEM", value_delimiter = ',', requires = "create")]
    pub postoverflows: Vec<String>,

    /// With --create: a scenario-only case (parser.assert is neither written nor evaluated).
    #[arg(long, requires = "create")]
    pub ignore_parsers: bool,

    /// With --create: extra label for the events, as key=value (repeatable).
    #[arg(long = "label", short = 'l', value_name = "K=V", requires = "create")]
    pub labels: Vec<String>,

    /// With --create: replace the files of an existing case.
    #[arg(long, requires = "create")]
    pub force: bool,

    /// Case directories, or directories of cases.
    #[arg(required_unless_present = "create", value_name = "PATH")]
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
    if let Some(dir) = &args.create {
        return create(&args, dir, &opts);
    }
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

fn create(args: &HubtestArgs, dir: &std::path::Path, run: &RunOptions) -> ExitCode {
    let labels = match super::common::parse_labels(&args.labels) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("correlator hubtest: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = CreateOptions {
        dir: dir.to_path_buf(),
        log_type: args.log_type.clone().unwrap_or_default(),
        log: args.log.clone().unwrap_or_default(),
        parsers: args.parsers.clone(),
        scenarios: args.scenarios.clone(),
        postoverflows: args.postoverflows.clone(),
        ignore_parsers: args.ignore_parsers,
        labels,
        force: args.force,
    };
    let created = match create_case(&opts, run) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("correlator hubtest: {e}");
            return ExitCode::from(2);
        }
    };
    // Write errors (a closed pipe) are ignored: the case is on disk either way.
    let mut out = std::io::stdout().lock();
    for n in &created.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for (file, r) in [("parser.assert", &created.parser), ("scenario.assert", &created.scenario)] {
        let Some(r) = r else { continue };
        let _ = writeln!(out, "wrote {}: {} assertions", created.dir.join(file).display(), r.lines.len());
        if r.without_year > 0 {
            let _ = writeln!(
                out,
                "  {} timestamp(s) asserted without their year (the log does not give it)",
                r.without_year
            );
        }
        if !r.left_out.is_empty() {
            let _ = writeln!(
                out,
                "  {} value(s) left out: they depend on the clock or on where the case sits:",
                r.left_out.len()
            );
            for l in r.left_out.iter().take(5) {
                let _ = writeln!(out, "    {l}");
            }
        }
    }
    match &created.result.failure {
        None => {
            let _ = writeln!(out, "PASS {}", created.result.name);
            let _ = writeln!(
                out,
                "Read the assertions before you commit them: they pin what the items do now, right or wrong."
            );
            ExitCode::SUCCESS
        }
        Some(f) => {
            let _ = writeln!(out, "FAIL {}: {f}", created.result.name);
            ExitCode::FAILURE
        }
    }
}
