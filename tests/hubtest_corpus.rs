//! The CrowdSec hub test corpus (`$SHARED/hubtests/tests`, 232 real cases) runs through `correlator hubtest`.
//! The set of failing cases must equal `tests/hubtest-expected-failures.txt`: a new failure fails the suite, and so
//! does a listed case that now passes (remove it from the list).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn hub_corpus_passes_except_listed_cases() {
    let shared = common::shared_dir().join("hubtests");
    let out = Command::new(common::bin())
        .arg("hubtest")
        .arg("--hub")
        .arg(shared.join("hub"))
        .arg("--patterns")
        .arg(shared.join("patterns-base"))
        .arg("--patterns")
        .arg(shared.join("patterns"))
        .arg("--data")
        .arg(shared.join("data"))
        .args(["--year", "2026"])
        .arg(shared.join("tests"))
        .output()
        .expect("run correlator hubtest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    assert!(last.ends_with("failed") && last.contains("passed,"), "unexpected summary line {last:?}\n{stdout}");

    let failed: BTreeSet<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(|l| l.split(':').next().unwrap_or(l).to_string())
        .collect();
    let expected_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hubtest-expected-failures.txt"))
            .expect("read expected failures");
    let expected: BTreeSet<String> = expected_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect();
    assert!(expected.len() <= 4, "the expected-failures list may hold at most 4 cases");

    let new_failures: Vec<_> = failed.difference(&expected).collect();
    let now_passing: Vec<_> = expected.difference(&failed).collect();
    let details: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(new_failures.is_empty(), "cases failing that are not expected to:\n{}", details.join("\n"));
    assert!(
        now_passing.is_empty(),
        "cases now passing: remove them from tests/hubtest-expected-failures.txt: {now_passing:?}"
    );
    let passed = stdout.lines().filter(|l| l.starts_with("PASS ")).count();
    assert!(passed >= 227, "only {passed} cases passed");
}
