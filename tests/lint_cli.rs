//! `correlator lint` end to end: our hub is clean, and a broken item has every problem reported with its
//! position and a failing exit status.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn lint(hub: &Path, files: &[&Path]) -> Output {
    Command::new(common::bin()).arg("lint").arg("--hub").arg(hub).args(files).output().expect("run correlator lint")
}

#[test]
fn our_hub_has_no_problem() {
    let hub = Path::new(env!("CARGO_MANIFEST_DIR")).join("hub");
    let o = lint(&hub, &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.trim().is_empty(), "no error and no warning expected:\n{out}");
    assert!(err.contains("0 error(s), 0 warning(s)"), "{err}");
}

/// A copy of our hub.
fn hub_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("hub"), dir.path());
    dir
}

/// A copy of our hub with one parser file broken in four places, in two documents.
fn broken_hub() -> tempfile::TempDir {
    let dir = hub_copy();
    let bad = dir.path().join("parsers/s01-parse/correlator/app.yaml");
    std::fs::write(
        &bad,
        "name: me/app\n\
         filter: \"evt.Parsed.program == 'app' &&\"\n\
         onsuccess: next_stage\n\
         grok:\n  pattern: '^%{IP:source_ip} %{NOT_A_PATTERN:x}'\n  apply_on: message\n\
         ---\n\
         name: me/app-2\n\
         filtre: \"true\"\n\
         onsuccess: next_stage\n\
         statics:\n  - meta: a\n    expression: evt.Parsed.a +\n",
    )
    .unwrap();
    dir
}

#[test]
fn every_error_is_reported_with_its_position_and_the_exit_status_fails() {
    let hub = broken_hub();
    let o = lint(hub.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    let app = hub.path().join("parsers/s01-parse/correlator/app.yaml").display().to_string();
    let at = |pos: &str, needle: &str| {
        lines.iter().any(|l| l.starts_with(&format!("{app}:{pos}: error: ")) && l.contains(needle))
    };
    // The expression error of the first document, at the end of the expression where `&&` lacks its operand.
    assert!(at("2:40", "expression"), "{out}");
    assert!(at("5:13", "NOT_A_PATTERN"), "{out}");
    // The unknown key of the second document: its document parses on its own.
    assert!(at("9:1", "unknown field `filtre`"), "{out}");
    // ...and is still checked past the unknown key: the static's expression is broken too.
    assert!(lines.iter().any(|l| l.starts_with(&format!("{app}:13:")) && l.contains("error")), "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("4 error(s), 0 warning(s)"), "{err}\n{out}");
}

#[test]
fn a_scenario_reading_a_meta_key_no_parser_sets_is_a_warning() {
    let hub = hub_copy();
    let sc = hub.path().join("scenarios/correlator/typo.yaml");
    std::fs::write(
        &sc,
        "type: trigger\nname: me/typo\ndescription: typo in a Meta key\nfilter: \"evt.Meta.sourceip != ''\"\ngroupby: evt.Meta.source_ip\n",
    )
    .unwrap();
    let o = lint(hub.path(), &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "a warning does not fail:\n{out}");
    let expected =
        format!("{}:4:19: warning: filter reads Meta key \"sourceip\", which no loaded parser sets", sc.display());
    assert_eq!(out.trim(), expected);
}

#[test]
fn files_can_be_checked_alone_and_warnings_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("dates.yaml");
    std::fs::write(
        &f,
        "name: me/dates\nfilter: \"evt.StrTime != ''\"\nstatics:\n  - method: ParseDat\n    expression: evt.StrTime\n",
    )
    .unwrap();
    let o = lint(dir.path(), &[&f]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!("{}:4:13: warning: statics: unknown enricher method \"ParseDat\"", f.display())),
        "{out}"
    );
}
