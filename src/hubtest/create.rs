//! `hubtest --create`: a new case folder from a log file and a list of items, with its assert files generated
//! from what the engine does with the log now (what `cscli hubtest create` + a first `cscli hubtest run` do).
//!
//! The generated assertions pin the current behaviour: they are a starting point to read and prune, not a proof
//! that the behaviour is right. The case is run once more after writing, so a case that cannot pass is reported
//! at once.

use std::path::{Path, PathBuf};

use crate::hub::{HubIndex, ItemKind};

use super::generate::{PathContext, Rendered, parser_facts, render, scenario_facts};
use super::{Case, CaseResult, RunOptions, run_case, run_case_log};

/// What to put in the new case.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// The case folder to create (its name is the case name).
    pub dir: PathBuf,
    /// `log_type` (`evt.Line.Labels.type`).
    pub log_type: String,
    /// The log to copy into the case.
    pub log: PathBuf,
    /// Item references: hub names (through `.index.json`) or paths to files of the hub.
    pub parsers: Vec<String>,
    pub scenarios: Vec<String>,
    pub postoverflows: Vec<String>,
    /// Scenario-only case: no `parser.assert`.
    pub ignore_parsers: bool,
    pub labels: Vec<(String, String)>,
    /// Replace the files of an existing case.
    pub force: bool,
}

/// What was written, and how the case did when run right after.
#[derive(Clone, Debug)]
pub struct Created {
    pub dir: PathBuf,
    /// Notes for the author (references not portable, values left out).
    pub notes: Vec<String>,
    pub parser: Option<Rendered>,
    pub scenario: Option<Rendered>,
    pub result: CaseResult,
}

/// Creates the case, generates its asserts and runs it.
pub fn create_case(opts: &CreateOptions, run: &RunOptions) -> Result<Created, String> {
    if opts.parsers.is_empty() {
        return Err("a case needs at least one parser (--parsers)".into());
    }
    if opts.log_type.trim().is_empty() {
        return Err("a case needs a log type (--type)".into());
    }
    if !opts.log.is_file() {
        return Err(format!("{}: no such log file", opts.log.display()));
    }
    let config_path = opts.dir.join("config.yaml");
    if config_path.exists() && !opts.force {
        return Err(format!("{} exists (use --force to replace the case)", config_path.display()));
    }
    let mut notes = Vec::new();
    let index = HubIndex::load(&run.hub).map_err(|e| e.to_string())?;
    let mut refs = Vec::new();
    for (kind, list) in [
        (ItemKind::Parser, &opts.parsers),
        (ItemKind::Scenario, &opts.scenarios),
        (ItemKind::PostOverflow, &opts.postoverflows),
    ] {
        let mut out = Vec::new();
        for r in list.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            out.push(case_reference(&index, &run.hub, kind, r, &mut notes)?);
        }
        refs.push(out);
    }

    std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
    let log_name = opts
        .log
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: not a file name", opts.log.display()))?
        .to_string();
    let log_dest = opts.dir.join(&log_name);
    let same_file = std::fs::canonicalize(&opts.log).ok() == std::fs::canonicalize(&log_dest).ok();
    if !same_file {
        std::fs::copy(&opts.log, &log_dest).map_err(|e| format!("{}: {e}", log_dest.display()))?;
    }
    let config = config_yaml(&refs[0], &refs[1], &refs[2], &log_name, opts);
    std::fs::write(&config_path, config).map_err(|e| format!("{}: {e}", config_path.display()))?;
    for stale in ["parser.assert", "scenario.assert"] {
        let _ = std::fs::remove_file(opts.dir.join(stale));
    }

    let case = Case::load(&opts.dir).map_err(|e| e.to_string())?;
    let (parser, scenario) = generate(&case, run)?;
    if let Some(p) = &parser {
        write_lines(&opts.dir.join("parser.assert"), &p.lines)?;
    }
    if let Some(s) = &scenario {
        write_lines(&opts.dir.join("scenario.assert"), &s.lines)?;
    }
    let result = run_case(&opts.dir, run);
    Ok(Created { dir: opts.dir.clone(), notes, parser, scenario, result })
}

/// Generates the assert files of an existing case (`None` for a file the case does not evaluate).
pub fn generate(case: &Case, run: &RunOptions) -> Result<(Option<Rendered>, Option<Rendered>), String> {
    use chrono::Datelike;
    let first = run_case_log(case, run)?;
    // The same run with the clock four years on (same leap-year cycle): whatever changes came from the clock.
    let year = run.year.unwrap_or_else(|| chrono::Utc::now().year());
    let shifted = RunOptions { year: Some(year + 4), ..run.clone() };
    let second = run_case_log(case, &shifted)?;

    let log = std::fs::canonicalize(case.log_path()).unwrap_or_else(|_| case.log_path());
    let dir = std::fs::canonicalize(&case.dir).unwrap_or_else(|_| case.dir.clone());
    let paths = PathContext::new(&log.to_string_lossy(), &dir);
    let parser = (!case.config.ignore_parsers)
        .then(|| render(&parser_facts(&first.parser, &paths), &parser_facts(&second.parser, &paths)));
    let scenario = (!case.scenario_refs().is_empty())
        .then(|| render(&scenario_facts(&first.overflows, &paths), &scenario_facts(&second.overflows, &paths)));
    Ok((parser, scenario))
}

/// How the case's `config.yaml` names an item: its hub name when it has one, else its path relative to the hub
/// (`./parsers/s01-parse/me/x.yaml`), else (outside the hub) its absolute path, with a note.
fn case_reference(
    index: &HubIndex,
    hub: &Path,
    kind: ItemKind,
    reference: &str,
    notes: &mut Vec<String>,
) -> Result<String, String> {
    if index.has_name(kind, reference) {
        return Ok(reference.to_string());
    }
    let what = kind.dir().trim_end_matches('s');
    let item = index
        .resolve(kind, reference, None)
        .ok_or_else(|| format!("{what} {reference:?}: not a name of the hub index nor a file"))?;
    let path = std::fs::canonicalize(&item.path).map_err(|e| format!("{}: {e}", item.path.display()))?;
    if let Ok(root) = std::fs::canonicalize(hub)
        && let Ok(rel) = path.strip_prefix(&root)
    {
        return Ok(format!("./{}", rel.to_string_lossy()));
    }
    notes.push(format!(
        "{what} {} is outside the hub {}: the case names it by absolute path and only runs on this machine",
        path.display(),
        hub.display()
    ));
    Ok(path.to_string_lossy().into_owned())
}

/// A YAML scalar: plain when it cannot be misread, else double-quoted (a JSON string is a valid YAML one).
fn scalar(s: &str) -> String {
    let keyword = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
        && !s.starts_with('-')
        && s.parse::<f64>().is_err()
        && !keyword;
    if plain { s.to_string() } else { serde_json::Value::String(s.to_string()).to_string() }
}

fn config_yaml(
    parsers: &[String],
    scenarios: &[String],
    postoverflows: &[String],
    log_file: &str,
    opts: &CreateOptions,
) -> String {
    let mut out = String::new();
    for (key, list) in [("parsers", parsers), ("scenarios", scenarios), ("postoverflows", postoverflows)] {
        if list.is_empty() {
            out.push_str(&format!("{key}: []\n"));
        } else {
            out.push_str(&format!("{key}:\n"));
            for r in list {
                out.push_str(&format!("- {}\n", scalar(r)));
            }
        }
    }
    out.push_str(&format!("log_file: {}\n", scalar(log_file)));
    out.push_str(&format!("log_type: {}\n", scalar(&opts.log_type)));
    if opts.labels.is_empty() {
        out.push_str("labels: {}\n");
    } else {
        out.push_str("labels:\n");
        for (k, v) in &opts.labels {
            out.push_str(&format!("  {}: {}\n", scalar(k), scalar(v)));
        }
    }
    out.push_str(&format!("ignore_parsers: {}\n", opts.ignore_parsers));
    out
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), String> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        assert_eq!(scalar("crowdsecurity/sshd-logs"), "crowdsecurity/sshd-logs");
        assert_eq!(scalar("./parsers/s01-parse/me/x.yaml"), "./parsers/s01-parse/me/x.yaml");
        assert_eq!(scalar("syslog"), "syslog");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("2.0"), "\"2.0\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("-x"), "\"-x\"");
    }

    #[test]
    fn config_reads_back_as_a_case() {
        let d = tempfile::tempdir().unwrap();
        let opts = CreateOptions {
            log_type: "syslog".into(),
            labels: vec![("program".into(), "envoy: x".into())],
            ignore_parsers: true,
            ..CreateOptions::default()
        };
        let text = config_yaml(&["a/b".into()], &[], &["./postoverflows/s01-whitelist/x.yaml".into()], "x.log", &opts);
        std::fs::write(d.path().join("config.yaml"), text).unwrap();
        let case = Case::load(d.path()).unwrap();
        assert_eq!(case.parser_refs(), ["a/b"]);
        assert!(case.scenario_refs().is_empty());
        assert_eq!(case.postoverflow_refs(), ["./postoverflows/s01-whitelist/x.yaml"]);
        assert_eq!(case.config.log_file, "x.log");
        assert_eq!(case.config.labels.unwrap()["program"], "envoy: x");
        assert!(case.config.ignore_parsers);
    }
}
