//! Building a compiled pipeline from a hub: which items are enabled, grok patterns, data files, and the
//! compilation of parsers, scenarios and postoverflows, with every problem reported at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::yaml::{ConfigError, ConfigErrors};
use crate::expr::services::NetworkPolicy;
use crate::expr::{CompileEnv, Services};
use crate::grok::PatternLibrary;
use crate::hub::{self, ItemFile, ItemKind};
use crate::parser::compile::NodeCompiler;
use crate::parser::enrich::{Clock, EnrichConfig, Enrichers, RdnsConfig, SystemClock};
use crate::parser::runtime::ParserCounters;
use crate::parser::stages::Stages;
use crate::scenario::compile::{Scenario, ScenarioCompiler};
use crate::scenario::prefilter::PrefilterTables;
use crate::scenario::spec::read_scenario_file_each;

use super::Pipeline;

/// Which hub items are active: names (`crowdsecurity/ssh-bf`, `ssh-bf`), globs (`crowdsecurity/*`), or file
/// paths. An empty list enables nothing; `["*"]` everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub parsers: Vec<String>,
    pub scenarios: Vec<String>,
    pub postoverflows: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        let all = vec!["*".to_string()];
        Selection { parsers: all.clone(), scenarios: all.clone(), postoverflows: all }
    }
}

/// Where things are and how to run.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub hub: PathBuf,
    /// Grok pattern directories, in order (built-in base patterns come first and may be overridden).
    pub patterns: Vec<PathBuf>,
    pub data_dir: PathBuf,
    pub selection: Selection,
    /// Year given to dates that have none (syslog); `None` = the current year.
    pub year: Option<i32>,
    /// Explicit item files added to the selection (hubtest, `--parsers FILE`).
    pub extra_items: Vec<ItemFile>,
    /// Use only `extra_items`, not the hub directory's own items.
    pub only_extra: bool,
    /// Enable reverse DNS lookups in enrichers/postoverflows.
    pub reverse_dns: bool,
    /// Enable the network expression helpers (`LookupHost`); off by default: a filter must not wait on DNS.
    pub network_helpers: bool,
    /// Stack directories (laid out like a hub) whose items are all added.
    pub stacks: Vec<PathBuf>,
}

/// One selection entry, with the canonical path of the file it names, if it names one.
struct Entry<'a> {
    text: &'a str,
    file: Option<PathBuf>,
}

impl<'a> Entry<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.trim();
        let path = Path::new(text);
        Entry { text, file: if path.is_file() { path.canonicalize().ok() } else { None } }
    }

    /// Does the item (its name, file stem, YAML `name:`s, path) match? An entry naming an existing file matches
    /// the item at that path however either path is spelt (`hub/scenarios/me/x.yaml`, `./…`, absolute).
    fn selects(&self, item: &ItemFile, yaml_names: &[String], item_file: Option<&Path>) -> bool {
        if self.text.is_empty() {
            return false;
        }
        let candidates = std::iter::once(item.name.as_str())
            .chain(item.name.rsplit('/').next())
            .chain(yaml_names.iter().map(String::as_str))
            .chain(item.path.to_str());
        if candidates.into_iter().any(|c| glob_match(self.text, c)) {
            return true;
        }
        matches!((&self.file, item_file), (Some(a), Some(b)) if a == b)
    }
}

/// `*` matches any run of characters (including `/`), `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The names of the YAML documents in a file (selection also matches `name:` values).
fn doc_names(item: &ItemFile) -> Vec<String> {
    let text = std::fs::read_to_string(&item.path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .collect()
}

/// The hub items the selection names, plus item files it names outside the hub (`--scenarios ./mine.yaml`); a
/// warning for each entry that selects nothing (a typo would otherwise silently disable a detection). `always`
/// are the items enabled whatever the selection (stacks): naming one is not a typo.
fn select(
    hub: &Path,
    items: Vec<ItemFile>,
    always: &[ItemFile],
    kind: ItemKind,
    patterns: &[String],
    warnings: &mut Vec<ConfigError>,
) -> Vec<ItemFile> {
    let entries: Vec<Entry> = patterns.iter().map(|p| Entry::new(p)).collect();
    let every = entries.iter().any(|e| e.text == "*");
    if every && entries.iter().all(|e| e.text == "*" || e.text.is_empty()) {
        return items;
    }
    let mut used: Vec<bool> = entries.iter().map(|e| e.text == "*" || e.text.is_empty()).collect();
    let mut mark = |item: &ItemFile| -> bool {
        let names = doc_names(item);
        let file = item.path.canonicalize().ok();
        let mut hit = false;
        for (i, e) in entries.iter().enumerate() {
            if e.selects(item, &names, file.as_deref()) {
                used[i] = true;
                hit = true;
            }
        }
        hit
    };
    let mut out: Vec<ItemFile> = items.into_iter().filter(|item| mark(item) || every).collect();
    for item in always {
        mark(item);
    }
    for (e, used) in entries.iter().zip(used) {
        if used {
            continue;
        }
        match &e.file {
            Some(_) => out.push(ItemFile::from_path(kind, Path::new(e.text))),
            None => warnings.push(ConfigError::file(
                hub,
                format!("the {} selection entry {:?} matches no item (name, glob or file)", kind.dir(), e.text),
            )),
        }
    }
    out
}

/// Compiles a pipeline. Errors are collected across all items; any error fails the build (a security daemon
/// should not start with half its detections silently missing), warnings are kept in `Pipeline::warnings`.
pub fn build(opts: &BuildOptions) -> Result<Pipeline, ConfigErrors> {
    let (pipeline, errors) = build_all(opts);
    errors.into_result(pipeline)
}

/// Compiles everything that compiles and returns it with every error found: the items with errors are left out
/// of the pipeline. For tools that report problems (`lint`) and then look at what did load; the daemon uses
/// [`build`].
pub fn build_all(opts: &BuildOptions) -> (Pipeline, ConfigErrors) {
    let mut errors = ConfigErrors::default();
    let mut warnings: Vec<ConfigError> = Vec::new();

    let mut find = |kind: ItemKind, sel: &[String]| -> Vec<ItemFile> {
        let mut from_stacks = Vec::new();
        for stack in &opts.stacks {
            if !stack.is_dir() {
                errors.push(ConfigError::file(stack, "stack not found (stack.use names a directory of <hub>/stacks)"));
                continue;
            }
            match hub::discover(stack, kind) {
                Ok(v) => from_stacks.extend(v),
                Err(e) => errors.push(e),
            }
        }
        let mut items = if opts.only_extra {
            Vec::new()
        } else {
            match hub::discover(&opts.hub, kind) {
                Ok(v) => select(&opts.hub, v, &from_stacks, kind, sel, &mut warnings),
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            }
        };
        items.extend(opts.extra_items.iter().filter(|i| i.kind == kind).cloned());
        items.extend(from_stacks);
        hub::sort_items(&mut items);
        // The same file reached twice (listed by name and by path, `x.yaml` and `./x.yaml`, a stack item also
        // selected by path) is loaded once: twice would pour every event into it twice.
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| seen.insert(i.path.canonicalize().unwrap_or_else(|_| i.path.clone())));
        items
    };
    let parser_items = find(ItemKind::Parser, &opts.selection.parsers);
    let scenario_items = find(ItemKind::Scenario, &opts.selection.scenarios);
    let postoverflow_items = find(ItemKind::PostOverflow, &opts.selection.postoverflows);
    if !opts.only_extra && !opts.hub.is_dir() {
        errors.push(ConfigError::file(&opts.hub, "hub directory not found"));
    }

    let network = NetworkPolicy { enabled: opts.network_helpers, ..NetworkPolicy::default() };
    let services = Arc::new(Services::new().with_network(network));
    let patterns = |errors: &mut ConfigErrors| {
        let mut lib = PatternLibrary::new();
        for dir in &opts.patterns {
            if let Err(e) = lib.load_dir(dir) {
                errors.push(ConfigError::file(dir, e.to_string()));
            }
        }
        lib
    };

    // Scenarios compile on a second thread while the parsers compile on this one (start-up is about a third
    // scenarios, two thirds parsers, with the installed hub); their errors and warnings are appended after the
    // parsers', in the order a sequential build gives.
    let (parsers, postoverflows, (scenarios, prefilter, sc_errors, sc_warnings)) = std::thread::scope(|scope| {
        let sc = std::thread::Builder::new()
            .name("compile-scenarios".into())
            .spawn_scoped(scope, || compile_scenarios(&scenario_items, &services, &opts.data_dir));
        let (parsers, postoverflows) = {
            // Parsers and postoverflows have separate pattern hosts, as in CrowdSec.
            let env = CompileEnv::for_event(Arc::clone(&services));
            // Loaded once; the postoverflow host starts as a copy, before parsers add their pattern_syntax entries.
            let mut parser_patterns = patterns(&mut errors);
            let mut po_patterns = parser_patterns.clone();
            let mut compile = |items: &[ItemFile], patterns: &mut PatternLibrary| {
                let mut c = NodeCompiler {
                    env: &env,
                    patterns,
                    data_dir: &opts.data_dir,
                    errors: &mut errors,
                    warnings: &mut warnings,
                };
                Stages::compile(items, &mut c)
            };
            (compile(&parser_items, &mut parser_patterns), compile(&postoverflow_items, &mut po_patterns))
        };
        let compiled = match sc {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had (resource limits): compile them here.
            Err(_) => compile_scenarios(&scenario_items, &services, &opts.data_dir),
        };
        (parsers, postoverflows, compiled)
    });
    errors.0.extend(sc_errors.0);
    warnings.extend(sc_warnings);

    let enrichers = Enrichers::new(&EnrichConfig {
        data_dir: Some(opts.data_dir.clone()),
        reverse_dns: RdnsConfig { enabled: opts.reverse_dns, ..RdnsConfig::default() },
    });
    let clock: Box<dyn Clock> = match opts.year {
        Some(y) => Box::new(YearClock(y)),
        None => Box::new(SystemClock),
    };
    let pipeline = Pipeline {
        services,
        parsers,
        postoverflows,
        scenarios: Arc::new(scenarios),
        prefilter: Arc::new(prefilter),
        enrichers,
        clock,
        counters: ParserCounters::default(),
        warnings,
        parser_files: parser_items.into_iter().map(|i| i.path).collect(),
        scenario_files: scenario_items.into_iter().map(|i| i.path).collect(),
    };
    (pipeline, errors)
}

/// Compiles the scenario files in order, then their prefilter automata; errors and warnings go to the caller's
/// lists after the parsers'.
fn compile_scenarios(
    items: &[ItemFile],
    services: &Arc<Services>,
    data_dir: &Path,
) -> (Vec<Scenario>, PrefilterTables, ConfigErrors, Vec<ConfigError>) {
    let mut errors = ConfigErrors::default();
    let mut warnings: Vec<ConfigError> = Vec::new();
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut seen: std::collections::HashMap<Arc<str>, String> = std::collections::HashMap::new();
    let mut c =
        ScenarioCompiler { services: Arc::clone(services), data_dir, errors: &mut errors, warnings: &mut warnings };
    for item in items {
        let (docs, errors) = read_scenario_file_each(&item.path);
        c.errors.0.extend(errors);
        for d in &docs {
            if let Some(s) = c.compile(&item.path, d) {
                if let Some(first) = seen.get(&s.name) {
                    let (l, col) = crate::config::yaml::position(d);
                    let msg = format!("scenario {} is defined more than once (first at {first})", s.name);
                    c.warnings.push(ConfigError::new(&item.path, l, col, msg));
                } else {
                    seen.insert(Arc::clone(&s.name), s.origin.to_string());
                }
                scenarios.push(s);
            }
        }
    }
    // Here rather than when the buckets are made: this thread finishes well before the parsers' (docs/performance.md,
    // item 50).
    let prefilter = PrefilterTables::new(&scenarios);
    (scenarios, prefilter, errors, warnings)
}

/// The wall clock in a pinned year: what year-less dates get (`--year`), while everything else keeps real time.
struct YearClock(i32);

impl Clock for YearClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::Datelike;
        let now = chrono::Utc::now();
        // Feb 29 does not exist in every year: fall back to Feb 28.
        now.with_year(self.0).or_else(|| now.with_day(28).and_then(|d| d.with_year(self.0))).unwrap_or(now)
    }
}

/// Resolves `path` against `base` unless it is absolute.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { base.join(path) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "crowdsecurity/ssh-bf"));
        assert!(glob_match("crowdsecurity/*", "crowdsecurity/ssh-bf"));
        assert!(glob_match("*ssh*", "crowdsecurity/ssh-bf"));
        assert!(glob_match("ssh-b?", "ssh-bf"));
        assert!(!glob_match("crowdsecurity/*", "me/ssh-bf"));
        assert!(!glob_match("ssh", "ssh-bf"));
    }

    /// `parsing.network_helpers` reaches the pipeline's helpers: `LookupHost` resolves only with it.
    #[test]
    fn network_helpers_follow_the_option() {
        let d = tempfile::tempdir().unwrap();
        for enabled in [false, true] {
            let opts =
                BuildOptions { hub: d.path().to_path_buf(), network_helpers: enabled, ..BuildOptions::default() };
            let p = build(&opts).unwrap();
            assert_eq!(p.services.network.enabled, enabled);
            let env = CompileEnv::new(Arc::clone(&p.services));
            let prog = crate::expr::compile("len(LookupHost('localhost')) > 0", &env).unwrap();
            let mut scope = crate::expr::Scope::new(&p.services);
            assert_eq!(prog.eval_bool(&mut scope).is_ok(), enabled);
        }
    }

    /// Selection entries: a name, a file of the hub however its path is written, a file outside the hub (added),
    /// and a typo (warned about, not silently ignored).
    #[test]
    fn selections_take_names_files_and_warn_about_typos() {
        let d = tempfile::tempdir().unwrap();
        let hub = d.path().join("hub");
        let sc = hub.join("scenarios/me");
        std::fs::create_dir_all(&sc).unwrap();
        let yaml = |name: &str| {
            format!("type: trigger\nname: {name}\ndescription: d\nfilter: evt.Meta.x == 'y'\ngroupby: evt.Meta.x\n")
        };
        std::fs::write(sc.join("a.yaml"), yaml("me/a")).unwrap();
        std::fs::write(sc.join("b.yaml"), yaml("me/b")).unwrap();
        std::fs::write(sc.join("c.yaml"), yaml("me/c")).unwrap();
        let outside = d.path().join("mine.yaml");
        std::fs::write(&outside, yaml("me/outside")).unwrap();
        // `b` through a path with a detour, so it is not the discovered path spelt differently only by case.
        let b_path = hub.join("scenarios/../scenarios/me/b.yaml");
        let selection = Selection {
            scenarios: vec![
                "me/a".into(),
                b_path.to_string_lossy().into_owned(),
                outside.to_string_lossy().into_owned(),
                "me/typo".into(),
            ],
            ..Selection::default()
        };
        let p = build(&BuildOptions { hub: hub.clone(), selection, ..BuildOptions::default() }).unwrap();
        let mut names: Vec<&str> = p.scenarios.iter().map(|s| &*s.name).collect();
        names.sort();
        assert_eq!(names, ["me/a", "me/b", "me/outside"]);
        let warnings: Vec<String> = p.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            warnings.iter().any(|w| w.contains("\"me/typo\" matches no item")),
            "no warning for the typo: {warnings:?}"
        );
        assert_eq!(warnings.iter().filter(|w| w.contains("matches no item")).count(), 1, "{warnings:?}");

        // `*` plus a file outside the hub: everything, and the file; the same file named twice is loaded once.
        let selection = Selection {
            scenarios: vec![
                "*".into(),
                outside.to_string_lossy().into_owned(),
                d.path().join("./mine.yaml").to_string_lossy().into_owned(),
                "me/a".into(),
                hub.join("scenarios/me/a.yaml").to_string_lossy().into_owned(),
            ],
            ..Selection::default()
        };
        let p = build(&BuildOptions { hub: hub.clone(), selection, ..BuildOptions::default() }).unwrap();
        let mut names: Vec<&str> = p.scenarios.iter().map(|s| &*s.name).collect();
        names.sort();
        assert_eq!(names, ["me/a", "me/b", "me/c", "me/outside"]);
        assert!(p.warnings.iter().all(|w| !w.to_string().contains("matches no item")), "{:?}", p.warnings);

        // Naming an item of a stack in use is not a typo.
        let stack = hub.join("stacks/s");
        std::fs::create_dir_all(stack.join("scenarios/me")).unwrap();
        std::fs::write(stack.join("scenarios/me/st.yaml"), yaml("me/stacked")).unwrap();
        let selection = Selection { scenarios: vec!["me/a".into(), "me/stacked".into()], ..Selection::default() };
        let p = build(&BuildOptions { hub: hub.clone(), selection, stacks: vec![stack], ..BuildOptions::default() })
            .unwrap();
        let mut names: Vec<&str> = p.scenarios.iter().map(|s| &*s.name).collect();
        names.sort();
        assert_eq!(names, ["me/a", "me/stacked"]);
        assert!(p.warnings.iter().all(|w| !w.to_string().contains("matches no item")), "{:?}", p.warnings);
    }

    /// A parser's stage is its parent or grandparent directory, never a directory further up.
    /// Scenarios compile on their own thread: what compiles is all there, and errors keep the sequential order
    /// (parsers, then scenarios, each in file order) whichever thread finishes first.
    #[test]
    fn parsers_and_scenarios_compile_side_by_side_with_errors_in_file_order() {
        let d = tempfile::tempdir().unwrap();
        let hub = d.path();
        let parsers = hub.join("parsers/s01-parse/me");
        let scenarios = hub.join("scenarios/me");
        std::fs::create_dir_all(&parsers).unwrap();
        std::fs::create_dir_all(&scenarios).unwrap();
        let parser = |name: &str, filter: &str| {
            format!("name: me/{name}\nfilter: \"{filter}\"\nstatics:\n  - meta: log_type\n    value: x\n")
        };
        std::fs::write(parsers.join("a.yaml"), parser("a", "evt.Line.Raw ==")).unwrap();
        std::fs::write(parsers.join("b.yaml"), parser("b", "evt.Line.Raw != ''")).unwrap();
        let scenario = |name: &str, filter: &str| {
            format!("type: trigger\nname: me/{name}\ndescription: d\nfilter: \"{filter}\"\ngroupby: evt.Meta.x\n")
        };
        for (i, name) in ["c", "d", "e", "f"].iter().enumerate() {
            let filter = if i % 2 == 0 { "evt.Meta.x ==" } else { "evt.Meta.x == 'y'" };
            std::fs::write(scenarios.join(format!("{name}.yaml")), scenario(name, filter)).unwrap();
        }
        let opts = BuildOptions { hub: hub.to_path_buf(), ..BuildOptions::default() };
        let (p, errors) = build_all(&opts);
        let files: Vec<String> =
            errors.0.iter().map(|e| e.file.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(files, ["a.yaml", "c.yaml", "e.yaml"], "{errors:?}");
        let names: Vec<&str> = p.scenarios.iter().map(|s| &*s.name).collect();
        assert_eq!(names, ["me/d", "me/f"]);
        let mut nodes = Vec::new();
        p.parsers.for_each_node(|_, n| nodes.push(n.name.to_string()));
        assert_eq!(nodes, ["me/b"]);
    }

    #[test]
    fn a_parser_stage_comes_from_its_parent_or_grandparent_only() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("s1mon/work/parsers/x.yaml");
        let staged = d.path().join("hub/parsers/s01-parse/me/y.yaml");
        let flat = d.path().join("hub/parsers/s02-enrich/z.yaml");
        for f in [&deep, &staged, &flat] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "name: me/x\n").unwrap();
        }
        assert_eq!(ItemFile::from_path(ItemKind::Parser, &deep).stage, None);
        assert_eq!(ItemFile::from_path(ItemKind::Parser, &staged).stage.as_deref(), Some("s01-parse"));
        assert_eq!(ItemFile::from_path(ItemKind::Parser, &flat).stage.as_deref(), Some("s02-enrich"));
    }
}
