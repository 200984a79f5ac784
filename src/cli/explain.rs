//! `correlator explain`: shows, per log line, what every parser node and scenario did with it.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::event::FieldMap;
use crate::explain::{Explainer, render};
use crate::pipeline;

use super::common::{HubArgs, OutputFormat, load_settings, parse_labels, read_log_lines};

/// Explain what the parsers and scenarios do with log lines (like `cscli explain`).
///
/// For each line: every parser stage and every top-level node the event was offered, ✓ or ✗ (with
/// why a node failed), and the fields each node set or changed; then whether the line was parsed,
/// which scenarios it was poured into, and any overflow. Lines of a file go through the same
/// buckets in order, in time-machine mode, as `replay` does.
///
/// Examples:
///   correlator explain --type syslog \
///       --line 'Feb 12 14:10:21 host sshd[1]: Invalid user bob from 1.2.3.4 port 22'
///   correlator explain --type nginx --file access.log --format json | jq .result
///   correlator explain --hub ./myhub --type app --file app.log -v
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExplainArgs {
    /// Log type given to the parsers (`evt.Line.Labels.type`).
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub log_type: String,

    /// One log line to explain.
    #[arg(long, value_name = "LINE", conflicts_with = "file", required_unless_present = "file")]
    pub line: Option<String>,

    /// A log file to explain line by line (`-` = standard input).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Extra label for the events, as key=value (repeatable).
    #[arg(long = "label", short = 'l', value_name = "K=V")]
    pub labels: Vec<String>,

    #[command(flatten)]
    pub hub: HubArgs,

    /// Output: text for people, json (one object per line) for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Also show node origins, partial writes of failed nodes, the final Meta and why each other scenario
    /// refused the event.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Colours in text output: auto = only on a terminal and when NO_COLOR is not set.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub fn run(args: ExplainArgs) -> ExitCode {
    let settings = match load_settings(&args.hub) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pipeline = match pipeline::build(&settings.build_options()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("correlator: the pipeline has {} configuration error(s)", e.0.len());
            return ExitCode::from(2);
        }
    };
    for w in &pipeline.warnings {
        tracing::warn!("{w}");
    }
    let mut labels = FieldMap::new();
    labels.insert("type", args.log_type.as_str());
    match parse_labels(&args.labels) {
        Ok(l) => l.into_iter().for_each(|(k, v)| labels.insert(&k, v)),
        Err(e) => {
            eprintln!("correlator: {e}");
            return ExitCode::from(2);
        }
    }
    let style = render::TextStyle {
        color: match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                render::color_wanted(std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
            }
        },
        verbose: args.verbose,
    };
    let src = match &args.file {
        Some(f) => std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()).to_string_lossy().into_owned(),
        None => "command-line".to_string(),
    };
    let mut explainer = Explainer::new(pipeline, labels, &src);
    explainer.scenario_reasons = args.verbose || args.format == OutputFormat::Json;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut emit = |raw: String| {
        let e = explainer.explain(raw);
        let _ = match args.format {
            OutputFormat::Text => writeln!(out, "{}", render::text(&e, &style)),
            OutputFormat::Json => writeln!(out, "{}", render::json(&e)),
        };
    };
    match (&args.line, &args.file) {
        (Some(l), _) => emit(l.clone()),
        (None, Some(f)) => {
            if let Err(e) = read_log_lines(f, &mut emit) {
                eprintln!("correlator: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        }
        (None, None) => {
            eprintln!("correlator explain: give --line or --file");
            return ExitCode::from(2);
        }
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
