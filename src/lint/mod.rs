//! `lint`: load every parser, scenario and postoverflow (of a hub, or the files given), compile everything the
//! daemon would compile, and report **all** problems at once as `file:line:col: error|warning: message`.
//!
//! Errors come from the same loader the daemon uses ([`pipeline::build_all`]): YAML shape (every broken document),
//! expressions, grok patterns, validation rules. Warnings are the loader's (missing data files, pattern
//! redefinitions, unknown enricher methods, skipped documents) plus checks only a linter makes, each written so
//! it does not fire on valid setups:
//! * a node in a stage that is not the last, with no `onsuccess: next_stage` on itself or a child: it cannot
//!   move an event on, so events only it parses are dropped;
//! * a constant data file name (`File('x')`, `RegexpInFile(s, 'x')`, …) that no loaded item declares;
//! * a scenario filter (or groupby, distinct, cancel_on, scope expression) reading a Meta key that no loaded
//!   parser sets (only when parsers are loaded, all of them read, and none writes Meta under a computed key).

pub mod items;
pub mod refs;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::yaml::{ConfigError, Expr, position};
use crate::expr::DataKind;
use crate::hub::{self, ItemFile, ItemKind};
use crate::parser::spec::read_node_file_each;
use crate::pipeline::{self, BuildOptions, Pipeline};
use crate::scenario::spec::read_scenario_file_each;

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct LintOptions {
    pub hub: PathBuf,
    pub patterns: Vec<PathBuf>,
    pub data_dir: PathBuf,
    /// Item files or directories to check; empty = every item of the hub.
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

/// One problem, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    pub at: ConfigError,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let ConfigError { file, line, col, message } = &self.at;
        match (line, col) {
            (0, _) => write!(f, "{}: {level}: {message}", file.display()),
            (l, 0) => write!(f, "{}:{l}: {level}: {message}", file.display()),
            (l, c) => write!(f, "{}:{l}:{c}: {level}: {message}", file.display()),
        }
    }
}

/// Everything found, sorted by file and position.
#[derive(Clone, Debug, Default)]
pub struct LintReport {
    pub diagnostics: Vec<Diagnostic>,
    /// Item files checked.
    pub files: usize,
}

impl LintReport {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.level == Level::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.level == Level::Warning).count()
    }
}

/// Runs every check.
pub fn lint(opts: &LintOptions) -> LintReport {
    let mut diags = Vec::new();
    let items = match collect_items(opts) {
        Ok(mut i) => {
            // The order nodes run in (stage, then file name): the stage check depends on it.
            hub::sort_items(&mut i);
            i
        }
        Err(e) => {
            return LintReport { diagnostics: vec![Diagnostic { level: Level::Error, at: e }], files: 0 };
        }
    };
    let build = BuildOptions {
        hub: opts.hub.clone(),
        patterns: opts.patterns.clone(),
        data_dir: opts.data_dir.clone(),
        extra_items: items.clone(),
        only_extra: true,
        ..BuildOptions::default()
    };
    let (pipeline, errors) = pipeline::build_all(&build);
    diags.extend(errors.0.into_iter().map(|at| Diagnostic { level: Level::Error, at }));
    diags.extend(pipeline.warnings.iter().cloned().map(|at| Diagnostic { level: Level::Warning, at }));
    diags.extend(spec_checks(&items, &pipeline, &hub_stages(&opts.hub)));

    diags.sort_by(|a, b| {
        (&a.at.file, a.at.line, a.at.col, a.level, &a.at.message).cmp(&(
            &b.at.file,
            b.at.line,
            b.at.col,
            b.level,
            &b.at.message,
        ))
    });
    diags.dedup();
    LintReport { diagnostics: diags, files: items.len() }
}

/// The items to check: the files given (directories walked), or the hub's.
fn collect_items(opts: &LintOptions) -> Result<Vec<ItemFile>, ConfigError> {
    if opts.files.is_empty() {
        if !opts.hub.is_dir() {
            return Err(ConfigError::file(&opts.hub, "hub directory not found"));
        }
        let mut items = Vec::new();
        for kind in [ItemKind::Parser, ItemKind::Scenario, ItemKind::PostOverflow] {
            items.extend(hub::discover(&opts.hub, kind)?);
        }
        return Ok(items);
    }
    let mut items = Vec::new();
    for f in &opts.files {
        if f.is_dir() {
            let mut found = Vec::new();
            yaml_under(f, &mut found, 0);
            items.extend(found.iter().map(|p| classify(p)));
        } else if f.is_file() {
            items.push(classify(f));
        } else {
            return Err(ConfigError::file(f, "no such file or directory"));
        }
    }
    Ok(items)
}

fn yaml_under(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() && depth < 8 {
            yaml_under(&p, out, depth + 1);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

/// What kind of item a file is: by the directory it sits in (`scenarios/`, `postoverflows/`, `parsers/`), else
/// by content (a top-level `type:` key is a scenario's).
fn classify(path: &Path) -> ItemFile {
    let dirs: Vec<&str> = path.ancestors().skip(1).filter_map(|p| p.file_name().and_then(|f| f.to_str())).collect();
    let kind = if dirs.contains(&"scenarios") {
        ItemKind::Scenario
    } else if dirs.contains(&"postoverflows") {
        ItemKind::PostOverflow
    } else if dirs.contains(&"parsers") {
        ItemKind::Parser
    } else {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("type:")) { ItemKind::Scenario } else { ItemKind::Parser }
    };
    let mut item = ItemFile::from_path(kind, path);
    if kind != ItemKind::Scenario && item.stage.is_none() {
        // Not under a stage directory: checked as a parse-stage parser.
        item.stage = Some(if kind == ItemKind::Parser { "s01-parse" } else { "s00-enrich" }.to_string());
    }
    item
}

/// The parser stages of the hub directory, to tell a final stage from one followed by others.
fn hub_stages(hub: &Path) -> BTreeSet<String> {
    let Ok(rd) = std::fs::read_dir(hub.join("parsers")) else { return BTreeSet::new() };
    rd.filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| hub::is_stage_name(n))
        .collect()
}

fn warn(file: &Path, (line, col): (u32, u32), msg: String) -> Diagnostic {
    Diagnostic { level: Level::Warning, at: ConfigError::new(file, line, col, msg) }
}

fn warn_at(file: &Path, e: &Expr, offset: usize, msg: String) -> Diagnostic {
    Diagnostic { level: Level::Warning, at: ConfigError::at_expr(file, e, offset, msg) }
}

fn kind_name(k: DataKind) -> &'static str {
    match k {
        DataKind::String => "string",
        DataKind::Regexp => "regexp",
        DataKind::Map => "map",
    }
}

/// A top-level parser node, for the stage check.
struct StageNode {
    stage: String,
    file: PathBuf,
    pos: (u32, u32),
    name: String,
    /// It or a child has `onsuccess: next_stage`.
    leaves: bool,
}

/// The checks made on the specs: stage leaving, data references, scenario Meta keys.
fn spec_checks(items: &[ItemFile], pipeline: &Pipeline, hub_stages: &BTreeSet<String>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut stages: BTreeSet<String> = hub_stages.clone();
    stages.extend(items.iter().filter(|i| i.kind == ItemKind::Parser).filter_map(|i| i.stage.clone()));
    let last_stage = stages.iter().next_back().cloned().unwrap_or_default();

    let mut meta_set: BTreeSet<String> = BTreeSet::new();
    let mut parsers_complete = true;
    let mut parser_docs = 0usize;
    // Scenario expressions to check once every parser has been read: (file, expression, key).
    let mut scenario_reads: Vec<(PathBuf, Expr, &str)> = Vec::new();
    let data = &pipeline.services.data;

    let check_data = |file: &Path, e: &Expr, r: &refs::Refs, out: &mut Vec<Diagnostic>| {
        for (d, kind) in &r.data {
            if !data.is_loaded(&d.name, *kind) {
                out.push(warn_at(
                    file,
                    e,
                    d.offset,
                    format!(
                        "data file {:?} is not loaded: no loaded item declares it with type: {} (or it is missing \
                         from the data directory); this reads as empty",
                        d.name,
                        kind_name(*kind)
                    ),
                ));
            }
        }
    };

    // Top-level parser nodes per stage, in load order, with whether each can move an event on: a node whose
    // successes can never leave is one with no such node from itself to the end of its stage.
    let mut stage_nodes: Vec<StageNode> = Vec::new();
    for item in items {
        match item.kind {
            ItemKind::Parser | ItemKind::PostOverflow => {
                let (docs, errors) = read_node_file_each(&item.path);
                if item.kind == ItemKind::Parser && !errors.is_empty() {
                    parsers_complete = false;
                }
                let stage = item.stage.clone().unwrap_or_default();
                for doc in &docs {
                    let n = &doc.value;
                    if item.kind == ItemKind::Parser {
                        parser_docs += 1;
                        items::node_meta_writes(n, &mut meta_set);
                        let name = n.name.clone().unwrap_or_else(|| "(unnamed)".into());
                        let leaves = items::can_leave_stage(n);
                        stage_nodes.push(StageNode {
                            stage: stage.clone(),
                            file: item.path.clone(),
                            pos: position(doc),
                            name,
                            leaves,
                        });
                    }
                    let mut sites = Vec::new();
                    items::node_exprs(n, &mut sites);
                    for s in sites {
                        let Ok(ast) = crate::expr::parser::parse(&s.expr.src) else { continue };
                        let r = refs::collect(&ast);
                        check_data(&item.path, s.expr, &r, &mut out);
                        if item.kind == ItemKind::Parser {
                            meta_set.extend(r.meta_writes.iter().map(|m| m.name.clone()));
                            parsers_complete &= !r.dynamic_meta_write;
                        }
                    }
                }
            }
            ItemKind::Scenario => {
                let (docs, _) = read_scenario_file_each(&item.path);
                for doc in docs {
                    let mut sites = Vec::new();
                    items::scenario_exprs(&doc.value, &mut sites);
                    for s in sites {
                        let Ok(ast) = crate::expr::parser::parse(&s.expr.src) else { continue };
                        let r = refs::collect(&ast);
                        check_data(&item.path, s.expr, &r, &mut out);
                        // A scenario expression may set Meta too (the write is visible to later scenarios).
                        meta_set.extend(r.meta_writes.iter().map(|m| m.name.clone()));
                        parsers_complete &= !r.dynamic_meta_write;
                    }
                    // The expressions evaluated on the poured event (not on the bucket or the overflow).
                    let s = &doc.value;
                    let on_event = [
                        (&s.filter, "filter"),
                        (&s.groupby, "groupby"),
                        (&s.distinct, "distinct"),
                        (&s.cancel_on, "cancel_on"),
                        (&s.scope.as_ref().and_then(|sc| sc.value.expression.clone()), "scope expression"),
                    ];
                    for (e, role) in on_event {
                        if let Some(e) = e {
                            scenario_reads.push((item.path.clone(), e.clone(), role));
                        }
                    }
                }
            }
        }
    }
    let mut later_leaves: Option<(String, bool)> = None;
    for StageNode { stage, file, pos, name, leaves } in stage_nodes.iter().rev() {
        let rest = match &later_leaves {
            Some((s, l)) if s == stage => *l,
            _ => false,
        };
        let any = rest || *leaves;
        if !any && *stage < last_stage {
            out.push(warn(
                file,
                *pos,
                format!(
                    "node {name} cannot move events out of stage {stage}: neither it, a child, nor a later node of \
                     the stage has onsuccess: next_stage, so the events it parses are dropped"
                ),
            ));
        }
        later_leaves = Some((stage.clone(), any));
    }
    if parsers_complete && parser_docs > 0 {
        for (file, e, role) in &scenario_reads {
            let Ok(ast) = crate::expr::parser::parse(&e.src) else { continue };
            for m in refs::collect(&ast).meta_reads {
                if !meta_set.contains(&m.name) {
                    out.push(warn_at(
                        file,
                        e,
                        m.offset,
                        format!("{role} reads Meta key {:?}, which no loaded parser sets", m.name),
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn classifies_by_directory_then_content() {
        let d = tempfile::tempdir().unwrap();
        let s = write(d.path(), "x/sc.yaml", "type: leaky\nname: a\n");
        let p = write(d.path(), "x/p.yaml", "name: a\n");
        let q = write(d.path(), "parsers/s02-enrich/me/q.yaml", "name: a\n");
        assert_eq!(classify(&s).kind, ItemKind::Scenario);
        assert_eq!(classify(&p).kind, ItemKind::Parser);
        assert_eq!(classify(&p).stage.as_deref(), Some("s01-parse"));
        assert_eq!(classify(&q).stage.as_deref(), Some("s02-enrich"));
    }

    #[test]
    fn reports_errors_and_linter_warnings_with_positions() {
        let d = tempfile::tempdir().unwrap();
        let hub = d.path();
        write(
            hub,
            "parsers/s01-parse/me/app.yaml",
            "name: me/app\nfilter: \"evt.Parsed.program == 'app'\"\ngrok:\n  pattern: '%{IP:source_ip} %{NOPE:x}'\n  apply_on: message\nstatics:\n  - meta: source_ip\n    expression: evt.Parsed.source_ip\n  - method: ParseDat\n    expression: evt.StrTime\n",
        );
        write(hub, "parsers/s02-enrich/me/dates.yaml", "name: me/dates\nstatics:\n  - meta: timestamp\n    value: x\n");
        write(
            hub,
            "scenarios/me/s.yaml",
            "type: trigger\nname: me/s\ndescription: d\nfilter: \"evt.Meta.log_type == 'x' && evt.Meta.source_ip in File('ips.txt')\"\ngroupby: evt.Meta.source_ip\n",
        );
        let report = lint(&LintOptions {
            hub: hub.to_path_buf(),
            data_dir: hub.join("data"),
            patterns: Vec::new(),
            files: Vec::new(),
        });
        let text: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
        let find = |needle: &str| text.iter().find(|l| l.contains(needle)).cloned().unwrap_or_default();
        assert!(find("NOPE").contains("app.yaml:4:") && find("NOPE").contains("error"), "{text:#?}");
        assert!(find("ParseDat").contains("app.yaml:9:13: warning"), "{text:#?}");
        assert!(find("cannot move events").contains("app.yaml:1:1: warning"), "{text:#?}");
        assert!(find("\"log_type\"").contains("s.yaml:4:19: warning"), "{text:#?}");
        assert!(find("NOPE").contains("app.yaml:4:13: error"), "{text:#?}");
        assert!(find("ips.txt").contains("s.yaml:4:"), "{text:#?}");
        assert!(find("\"source_ip\", which").is_empty(), "source_ip is set by a parser: {text:#?}");
        assert_eq!(report.errors(), 1, "{text:#?}");
    }

    #[test]
    fn an_unknown_key_does_not_hide_the_other_problems() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "p.yaml",
            "name: me/p\nbogus_key: 1\nfilter: \"evt.Parsed.x ==\"\nonsuccess: next_stage\ngrok:\n  pattern: '%{NOPE:x}'\n  \
             apply_on: message\nstatics:\n  - meta: y\n    expression: evt.Parsed.x +\n",
        );
        let s = write(
            d.path(),
            "s.yaml",
            "type: leaky\nname: me/s\ndescription: d\nfilter: 'true'\nbogus: 1\ncapacity: 0\nleakspeed: 1s\n",
        );
        let report = lint(&LintOptions {
            hub: d.path().to_path_buf(),
            data_dir: d.path().join("data"),
            patterns: Vec::new(),
            files: vec![f, s],
        });
        let text: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
        let has = |needle: &str| text.iter().any(|l| l.contains(needle));
        assert!(has("p.yaml:2:1: error: unknown field `bogus_key`"), "{text:#?}");
        assert!(has("p.yaml:3:") && has("filter"), "{text:#?}");
        assert!(has("p.yaml:6:") && has("NOPE"), "{text:#?}");
        assert!(has("p.yaml:10:"), "the static's expression: {text:#?}");
        assert!(has("s.yaml:5:1: error: unknown field `bogus`"), "{text:#?}");
        assert!(has("s.yaml:6:11: error: scenario me/s: bad capacity"), "{text:#?}");
        assert_eq!(report.errors(), 6, "{text:#?}");
    }
}
