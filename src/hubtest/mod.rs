//! Running CrowdSec hub test cases (`.tests/<name>/`) unchanged: build a pipeline from the items the case names,
//! replay its log in time-machine mode, collect the parser and overflow dumps, evaluate the assert files.
//!
//! Each case gets its own pipeline (items, patterns, data, buckets), so cases are independent and run in
//! parallel.

pub mod assert;
pub mod case;
pub mod create;
pub mod generate;
pub mod results;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::event::{Event, ExpectMode, FieldMap, Line, LineOrigin};
use crate::hub::{HubIndex, ItemFile, ItemKind};
use crate::pipeline::{self, BuildOptions, Engine, Hooks};

pub use case::{Case, discover};
use results::{ParserDump, overflows_value, sort_overflows};

/// Where a case's items come from.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub hub: PathBuf,
    pub patterns: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub year: Option<i32>,
}

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    /// First failing assertion and what it got, or the error that stopped the case.
    pub failure: Option<String>,
    pub asserts_checked: usize,
}

/// What a case run produced (kept for `--create` and `explain`-style tooling).
pub struct CaseRun {
    pub parser: ParserDump,
    pub overflows: Vec<Event>,
    pub services: Arc<crate::expr::Services>,
}

fn resolve_items(case: &Case, index: &HubIndex) -> Result<Vec<ItemFile>, String> {
    let mut items = Vec::new();
    for (kind, refs) in [
        (ItemKind::Parser, case.parser_refs()),
        (ItemKind::Scenario, case.scenario_refs()),
        (ItemKind::PostOverflow, case.postoverflow_refs()),
    ] {
        for r in refs {
            match index.resolve(kind, &r, Some(&case.dir)) {
                Some(i) => items.push(i),
                None => return Err(format!("{} {r:?} not found in the hub", kind.dir().trim_end_matches('s'))),
            }
        }
    }
    Ok(items)
}

/// `override_statics` become a first `s00-raw` node named `overrides` (as cscli writes `00_overrides.yaml`).
fn overrides_item(case: &Case, tmp: &Path) -> Result<Option<ItemFile>, String> {
    let text = std::fs::read_to_string(case.dir.join("config.yaml")).map_err(|e| e.to_string())?;
    let raw: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| e.to_string())?;
    let Some(statics) = raw.get("override_statics").filter(|v| v.as_array().is_some_and(|a| !a.is_empty())) else {
        return Ok(None);
    };
    let node = serde_json::json!({"name": "overrides", "filter": "1==1", "statics": statics});
    let dir = tmp.join("parsers/s00-raw");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("00_overrides.yaml");
    // JSON is YAML: no need for a YAML writer.
    std::fs::write(&path, node.to_string()).map_err(|e| e.to_string())?;
    let mut item = ItemFile::from_path(ItemKind::Parser, &path);
    item.stage = Some("s00-raw".into());
    Ok(Some(item))
}

/// Runs a case's log through its items.
pub fn run_case_log(case: &Case, opts: &RunOptions) -> Result<CaseRun, String> {
    let index = HubIndex::load(&opts.hub).map_err(|e| e.to_string())?;
    let mut items = resolve_items(case, &index)?;
    let tmp = tempdir()?;
    if let Some(o) = overrides_item(case, tmp.path())? {
        items.push(o);
    }
    let build = BuildOptions {
        hub: opts.hub.clone(),
        patterns: opts.patterns.clone(),
        data_dir: opts.data_dir.clone(),
        year: opts.year,
        extra_items: items,
        only_extra: true,
        ..BuildOptions::default()
    };
    let pipeline = Arc::new(pipeline::build(&build).map_err(|e| e.to_string())?);
    let mut engine = Engine::new(Arc::clone(&pipeline));

    let mut labels = FieldMap::new();
    labels.insert("type", case.config.log_type.as_str());
    for (k, v) in case.config.labels.iter().flatten() {
        labels.insert(k, v.as_str());
    }
    let labels = Arc::new(labels);
    let log = case.log_path();
    let abs = std::fs::canonicalize(&log).unwrap_or(log.clone());
    let origin = LineOrigin::new(&abs.to_string_lossy(), "file", labels);
    let now = pipeline.services.now();

    let mut dump = ParserDump::default();
    let mut overflows = Vec::new();
    let mut alerts = Vec::new();
    crate::cli::common::read_log_lines(&log, |raw| {
        let line = Line::new(raw, &origin, now);
        let evt = Event::from_line(line, ExpectMode::TimeMachine);
        let outcome = pipeline.parse(evt, Some(&mut dump));
        let hooks = Hooks { dump: Some(&mut overflows), tracer: Some(&mut dump) };
        engine.pour_outcome(outcome, now, &mut alerts, hooks);
        alerts.clear();
    })
    .map_err(|e| format!("{}: {e}", log.display()))?;
    sort_overflows(&mut overflows);
    Ok(CaseRun { parser: dump, overflows, services: Arc::clone(&pipeline.services) })
}

/// Runs a case and checks its asserts.
pub fn run_case(dir: &Path, opts: &RunOptions) -> CaseResult {
    let case = match Case::load(dir) {
        Ok(c) => c,
        Err(e) => return fail(dir, format!("{e}"), 0),
    };
    let run = match run_case_log(&case, opts) {
        Ok(r) => r,
        Err(e) => return fail(dir, e, 0),
    };
    let mut checked = 0;
    if !case.config.ignore_parsers {
        match case.asserts("parser.assert") {
            Some(lines) if !lines.is_empty() => {
                let (n, failure) = assert::check_all(&lines, &run.parser.value(), &run.services);
                checked += n;
                if let Some(f) = failure {
                    return fail(dir, format!("{} (got {})", f.line, f.got), checked);
                }
            }
            _ => return fail(dir, "parser.assert is missing or empty".into(), checked),
        }
    }
    if !case.scenario_refs().is_empty() {
        match case.asserts("scenario.assert") {
            Some(lines) if !lines.is_empty() => {
                let (n, failure) = assert::check_all(&lines, &overflows_value(&run.overflows), &run.services);
                checked += n;
                if let Some(f) = failure {
                    return fail(dir, format!("{} (got {})", f.line, f.got), checked);
                }
            }
            _ => return fail(dir, "scenario.assert is missing or empty".into(), checked),
        }
    }
    CaseResult { name: case.name, passed: true, failure: None, asserts_checked: checked }
}

fn fail(dir: &Path, msg: String, checked: usize) -> CaseResult {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("case").to_string();
    CaseResult { name, passed: false, failure: Some(msg), asserts_checked: checked }
}

/// A temporary directory removed on drop (no extra dependency for this one use).
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> Result<TempDir, String> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let p = std::env::temp_dir().join(format!(
        "correlator-hubtest-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(TempDir(p))
}

/// Runs many cases on `jobs` threads; results come back in case order.
pub fn run_all(
    dirs: &[PathBuf],
    opts: &RunOptions,
    jobs: usize,
    mut on_result: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<CaseResult>>> = dirs.iter().map(|_| Mutex::new(None)).collect();
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, slots) = (&next, &slots);
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(dir) = dirs.get(i) else { break };
                    let r = run_case(dir, opts);
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    let _ = tx.send(i);
                }
            });
        }
        drop(tx);
        // Report in case order as soon as the next case in order is done.
        let mut done = vec![false; dirs.len()];
        let mut reported = 0;
        for i in rx {
            done[i] = true;
            while reported < dirs.len() && done[reported] {
                if let Some(r) = slots[reported].lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                    on_result(r);
                }
                reported += 1;
            }
        }
    });
    slots.into_iter().filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).collect()
}
