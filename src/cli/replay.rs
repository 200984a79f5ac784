//! `correlator replay`: runs log files through the pipeline in time-machine mode (buckets follow the logs' own
//! timestamps), prints every alert, and a summary on stderr.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use crate::config::settings::Settings;
use crate::event::{Event, ExpectMode, FieldMap, Line, LineOrigin};
use crate::output::dispatch::{DispatchOptions, Dispatcher, summary_line};
use crate::output::render;
use crate::pipeline::parallel::{BATCH, LineBatch, ParallelParser};
use crate::pipeline::{self, Engine, Hooks, ParseOutcome, Pipeline};

use super::common::{HubArgs, OutputFormat, for_each_log_line, load_settings, parse_labels, peak_rss_kib};

/// Replay log files through parsers and scenarios, as fast as they can be read.
///
/// Buckets run on the time written in the logs (time-machine mode), so a replay gives the same alerts as the
/// live daemon would have, and the same output every time. Years missing from syslog timestamps come from
/// --year (default: the current UTC year).
///
/// Examples:
///   correlator replay --type syslog /var/log/auth.log
///   correlator replay --type nginx --format json access.log.1 access.log.2.gz
///   correlator replay --hub /etc/crowdsec --patterns /etc/crowdsec/patterns \
///       --data /var/lib/crowdsec/data --type syslog auth.log
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Log type given to the parsers (`evt.Line.Labels.type`): syslog, nginx, apache2, ...
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub log_type: String,

    /// Extra label for the events, as key=value (repeatable).
    #[arg(long = "label", short = 'l', value_name = "K=V")]
    pub labels: Vec<String>,

    #[command(flatten)]
    pub hub: HubArgs,

    /// Output format of the alerts on stdout.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Do not print the summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Threads that parse (default: the number of cores). The thread that reads and pours is one of them: it
    /// parses whenever the next results are not ready. Alerts are the same whatever the number: pouring into
    /// scenarios stays sequential and in file order.
    #[arg(long, short = 'w', value_name = "N")]
    pub workers: Option<usize>,

    /// Also send the alerts to the listeners enabled in config.yaml (console listeners excepted: replay prints
    /// the alerts itself).
    #[arg(long)]
    pub listeners: bool,

    /// Log files (plain or .gz), or file:// URLs. `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

pub fn run(args: ReplayArgs) -> ExitCode {
    let settings = match load_settings(&args.hub) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match replay(&args, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn replay(args: &ReplayArgs, settings: &Settings) -> Result<(), ExitCode> {
    let started = Instant::now();
    let pipeline = match pipeline::build(&settings.build_options()) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("correlator: the pipeline has {} configuration error(s)", e.0.len());
            return Err(ExitCode::from(2));
        }
    };
    for w in &pipeline.warnings {
        tracing::warn!("{w}");
    }
    let mut labels = FieldMap::new();
    labels.insert("type", args.log_type.as_str());
    for (k, v) in parse_labels(&args.labels).map_err(|e| {
        eprintln!("correlator: {e}");
        ExitCode::from(2)
    })? {
        labels.insert(&k, v);
    }
    let labels = Arc::new(labels);
    let mut workers =
        args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    if workers > 1 && !pipeline.parse_is_order_independent() {
        tracing::info!("a parser writes to a stash: parsing on one thread to keep results in line order");
        workers = 1;
    }
    let mut parallel = (workers > 1).then(|| ParallelParser::new(Arc::clone(&pipeline), workers));
    let mut dispatcher = if args.listeners {
        match Dispatcher::from_settings(&settings.listeners, DispatchOptions { skip_console: true }) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("{e}");
                eprintln!("correlator: the listeners have {} configuration error(s)", e.0.len());
                return Err(ExitCode::from(2));
            }
        }
    } else {
        None
    };
    let mut engine = Engine::new(Arc::clone(&pipeline));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut alerts: Vec<Event> = Vec::new();
    let mut per_scenario: std::collections::BTreeMap<String, u64> = Default::default();
    let now = chrono::Utc::now().fixed_offset();

    for file in &args.files {
        let path = PathBuf::from(file.strip_prefix("file://").unwrap_or(file));
        let origin = LineOrigin::new(&path.to_string_lossy(), "file", Arc::clone(&labels));
        let template = Line::new("", &origin, now);
        let mut batch = LineBatch::with_capacity(BATCH);
        let result = for_each_log_line(&path, |raw| match &mut parallel {
            None => {
                let line = Line { raw: raw.to_owned(), ..template.clone() };
                engine.process(Event::from_line(line, ExpectMode::TimeMachine), now, &mut alerts);
                for a in alerts.drain(..) {
                    emit(&mut out, args.format, &a, &mut per_scenario, dispatcher.as_ref());
                }
            }
            Some(pp) => {
                batch.push(raw);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, LineBatch::with_capacity(BATCH));
                    pp.submit(template.clone(), ExpectMode::TimeMachine, full);
                    // Keep the workers fed but bound what is in flight.
                    while pp.is_saturated() {
                        pour(
                            &mut engine,
                            pp,
                            now,
                            &mut alerts,
                            &mut out,
                            args.format,
                            &mut per_scenario,
                            dispatcher.as_ref(),
                        );
                    }
                }
            }
        });
        if let Err(e) = result {
            eprintln!("correlator: {}: {e}", path.display());
            return Err(ExitCode::FAILURE);
        }
        if let Some(pp) = &mut parallel
            && !batch.is_empty()
        {
            pp.submit(template.clone(), ExpectMode::TimeMachine, batch);
        }
    }
    if let Some(pp) = &mut parallel {
        while pp.in_flight() > 0 {
            pour(&mut engine, pp, now, &mut alerts, &mut out, args.format, &mut per_scenario, dispatcher.as_ref());
        }
    }
    let _ = out.flush();
    let counters = dispatcher.as_ref().map(|d| d.counters()).unwrap_or_default();
    if let Some(d) = dispatcher.as_mut() {
        d.close();
    }
    if !args.quiet {
        summary(&engine, &per_scenario, started);
        if let Some(l) = summary_line(&counters) {
            eprintln!("{l}");
        }
    }
    // Everything is written and the listeners are closed; what is left of the engine is memory (its Drop impls
    // only give back in-process ids). Freeing the buckets one by one is what makes the process linger after the
    // summary: ≈ 4 s for the 4M live instances of a flood of distinct sources (docs/performance.md, item 47).
    // The process exits next, and the OS takes it all back at once.
    std::mem::forget(engine);
    Ok(())
}

/// Pours the next parsed batch, in order.
#[allow(clippy::too_many_arguments)]
fn pour(
    engine: &mut Engine,
    pp: &mut ParallelParser,
    now: crate::event::Timestamp,
    alerts: &mut Vec<Event>,
    out: &mut impl Write,
    format: OutputFormat,
    per: &mut std::collections::BTreeMap<String, u64>,
    dispatcher: Option<&Dispatcher>,
) {
    let batch = pp.next_in_order().unwrap_or_default();
    engine.count_not_poured(batch.unparsed, batch.whitelisted);
    for evt in batch.events {
        engine.pour_outcome(ParseOutcome::Parsed(evt), now, alerts, Hooks::default());
        for a in alerts.drain(..) {
            emit(out, format, &a, per, dispatcher);
        }
    }
}

/// Prints one alert, counts it, and hands it to the listeners when `--listeners` is on.
fn emit(
    out: &mut impl Write,
    format: OutputFormat,
    alert: &Event,
    per: &mut std::collections::BTreeMap<String, u64>,
    dispatcher: Option<&Dispatcher>,
) {
    if let Some(d) = dispatcher {
        d.dispatch(alert);
    }
    if let Some(o) = alert.overflow() {
        *per.entry(o.alert.scenario.clone()).or_default() += 1;
    }
    let _ = match format {
        OutputFormat::Json => writeln!(out, "{}", render::alert_json(alert)),
        OutputFormat::Text => writeln!(out, "{}", render::alert_text(alert)),
    };
}

fn summary(engine: &Engine, per: &std::collections::BTreeMap<String, u64>, started: Instant) {
    let s = &engine.stats;
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 { s.lines as f64 / secs } else { 0.0 };
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "lines read: {}  parsed: {}  unparsed: {}  whitelisted: {}  poured: {}",
        s.lines, s.parsed, s.unparsed, s.whitelisted, s.poured
    );
    let total: u64 = per.values().sum();
    let _ = writeln!(e, "alerts: {total}");
    for (name, n) in per {
        let _ = writeln!(e, "  {n:>8}  {name}");
    }
    for line in error_lines(engine.pipeline()) {
        let _ = writeln!(e, "{line}");
    }
    let rss = peak_rss_kib().map(|k| format!("  peak RSS: {} MiB", k / 1024)).unwrap_or_default();
    let _ = writeln!(e, "elapsed: {secs:.2}s  {rate:.0} lines/s{rss}");
}

/// The summary's runtime-error lines: parser counts by kind, then scenarios with errors, one line each; nothing when
/// there was none. The errors themselves are logged, but rate-limited: only the counts say how many lines a broken
/// filter or static cost.
fn error_lines(p: &Pipeline) -> Vec<String> {
    use std::sync::atomic::Ordering::Relaxed;
    let c = &p.counters;
    let scenario_errors: Vec<(u64, &str)> =
        p.scenarios.iter().map(|s| (s.stats.errors.load(Relaxed), &*s.name)).filter(|(n, _)| *n > 0).collect();
    let kinds = [
        ("parser filter", c.filter_errors.load(Relaxed)),
        ("parser static", c.static_errors.load(Relaxed)),
        ("parser node (event dropped)", c.node_errors.load(Relaxed)),
        ("grok expression", c.grok_source_errors.load(Relaxed)),
        ("whitelist expression", c.whitelist_errors.load(Relaxed)),
        ("scenario", scenario_errors.iter().map(|(n, _)| n).sum()),
    ];
    let parts: Vec<String> = kinds.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k}: {n}")).collect();
    if parts.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!("runtime errors (details in the log): {}", parts.join(", "))];
    lines.extend(scenario_errors.iter().map(|(n, name)| format!("  {n:>8}  {name}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{ItemFile, ItemKind};
    use crate::parser::runtime::ParserCounters;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn summary_shows_non_zero_runtime_errors_only() {
        let d = tempfile::tempdir().unwrap();
        let sc = d.path().join("s.yaml");
        std::fs::write(&sc, "type: trigger\nname: me/s\ndescription: d\nfilter: 'true'\n---\ntype: trigger\nname: me/ok\ndescription: d\nfilter: 'true'\n").unwrap();
        let p = pipeline::build(&pipeline::BuildOptions {
            hub: d.path().to_path_buf(),
            data_dir: d.path().to_path_buf(),
            extra_items: vec![ItemFile::from_path(ItemKind::Scenario, &sc)],
            only_extra: true,
            ..Default::default()
        })
        .unwrap();
        assert!(error_lines(&p).is_empty(), "a clean run prints no error line");
        ParserCounters::bump(&p.counters.filter_errors);
        ParserCounters::bump(&p.counters.static_errors);
        ParserCounters::bump(&p.counters.static_errors);
        p.scenarios[0].stats.errors.fetch_add(3, Relaxed);
        assert_eq!(
            error_lines(&p),
            [
                "runtime errors (details in the log): parser filter: 1, parser static: 2, scenario: 3",
                "         3  me/s",
            ]
        );
    }
}
