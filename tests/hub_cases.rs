//! Correlator's own hub has hubtest cases (`tests/hub/<case>/`, items named by their path in `hub/`): every case
//! must pass, in this year and in another (the cases assert year-less syslog dates without their year).

mod common;

use std::path::Path;
use std::process::Command;

fn run_cases(extra: &[&str]) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(common::bin())
        .current_dir(root)
        .args(["hubtest", "--hub", "hub"])
        .args(extra)
        .arg("tests/hub")
        .output()
        .expect("run correlator hubtest");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn passed(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.starts_with("PASS ")).count()
}

#[test]
fn every_case_of_our_hub_passes() {
    let (ok, stdout) = run_cases(&[]);
    assert!(ok, "hubtest failed:\n{stdout}");
    assert!(stdout.lines().last().is_some_and(|l| l.ends_with(" 0 failed")), "{stdout}");
    let cases = correlator::hubtest::discover(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hub")).len();
    assert!(cases >= 16, "only {cases} cases in tests/hub");
    assert_eq!(passed(&stdout), cases, "every folder of tests/hub is a case that passes:\n{stdout}");
}

#[test]
fn cases_do_not_depend_on_the_current_year() {
    use chrono::Datelike;
    let other = (chrono::Utc::now().year() + 3).to_string();
    let (ok, stdout) = run_cases(&["--year", &other]);
    assert!(ok, "hubtest --year {other} failed:\n{stdout}");
}

/// Every parser and scenario file of `hub/` is exercised by at least one case.
#[test]
fn every_item_of_our_hub_has_a_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut referenced = std::collections::BTreeSet::new();
    for case in correlator::hubtest::discover(&root.join("tests/hub")) {
        let c = correlator::hubtest::Case::load(&case).unwrap();
        for r in c.parser_refs().into_iter().chain(c.scenario_refs()).chain(c.postoverflow_refs()) {
            referenced.insert(r.trim_start_matches("./").to_string());
        }
    }
    let mut missing = Vec::new();
    for kind in [correlator::hub::ItemKind::Parser, correlator::hub::ItemKind::Scenario] {
        for item in correlator::hub::discover(&root.join("hub"), kind).unwrap() {
            let rel = item.path.strip_prefix(root.join("hub")).unwrap().to_string_lossy().into_owned();
            if !referenced.contains(&rel) {
                missing.push(rel);
            }
        }
    }
    assert!(missing.is_empty(), "hub items without a case in tests/hub: {missing:?}");
}
