//! `correlator hubtest --create` end to end: a case generated from a log must pass when run right after, in
//! any year, and agree with what cscli generated for the same log (the corpus cases' own assert files) on the
//! number of stages reached and of overflows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use correlator::hubtest::Case;

fn corpus_args(shared: &Path) -> Vec<PathBuf> {
    let h = shared.join("hubtests");
    vec![
        "--hub".into(),
        h.join("hub"),
        "--patterns".into(),
        h.join("patterns-base"),
        "--patterns".into(),
        h.join("patterns"),
        "--data".into(),
        h.join("data"),
    ]
}

/// Creates a case from a corpus case's config and log, into `dest`.
fn create_like(corpus_case: &Path, dest: &Path, hub_args: &[PathBuf]) -> Output {
    let case = Case::load(corpus_case).unwrap();
    let mut cmd = Command::new(common::bin());
    cmd.arg("hubtest").args(hub_args).arg("--create").arg(dest);
    cmd.arg("--type").arg(&case.config.log_type).arg("--log").arg(case.log_path());
    cmd.arg("--parsers").arg(case.parser_refs().join(","));
    if !case.scenario_refs().is_empty() {
        cmd.arg("--scenarios").arg(case.scenario_refs().join(","));
    }
    if case.config.ignore_parsers {
        cmd.arg("--ignore-parsers");
    }
    for (k, v) in case.config.labels.iter().flatten() {
        cmd.arg("--label").arg(format!("{k}={v}"));
    }
    cmd.output().expect("run correlator hubtest --create")
}

fn first_line(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().lines().next().unwrap_or("").trim().to_string()
}

#[test]
fn cases_created_from_corpus_logs_pass_and_agree_with_cscli() {
    let shared = common::shared_dir();
    let hub_args = corpus_args(&shared);
    let tmp = tempfile::tempdir().unwrap();
    // Syslog with year-less dates and two scenarios; JSON lines (Unmarshaled, floats); labels; a web log with a
    // scenario.
    for name in ["ssh-bf", "caddy-logs", "envoy-logs", "nginx-http-generic-bf"] {
        let corpus = shared.join("hubtests/tests").join(name);
        let dest = tmp.path().join(name);
        let o = create_like(&corpus, &dest, &hub_args);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: {stdout}{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains(&format!("PASS {name}")), "{stdout}");

        let created = Case::load(&dest).unwrap();
        if !created.config.ignore_parsers {
            assert_eq!(
                first_line(&dest.join("parser.assert")),
                first_line(&corpus.join("parser.assert")),
                "{name}: stages reached"
            );
        }
        if !created.scenario_refs().is_empty() {
            assert_eq!(
                first_line(&dest.join("scenario.assert")),
                first_line(&corpus.join("scenario.assert")),
                "{name}: overflows"
            );
        }
        // The generated case does not depend on the year it was generated in.
        let again = Command::new(common::bin())
            .arg("hubtest")
            .args(&hub_args)
            .args(["--year", "2031"])
            .arg(&dest)
            .output()
            .unwrap();
        assert!(again.status.success(), "{name} in 2031: {}", String::from_utf8_lossy(&again.stdout));
    }
}

#[test]
fn a_case_created_for_our_hub_names_items_by_hub_path_and_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("auth.log");
    let lines: String = (0..6)
        .map(|i| {
            format!(
                "Mar  2 08:00:0{i} web-01 sshd[600{i}]: Failed password for root from 203.0.113.7 port 4100{i} ssh2\n"
            )
        })
        .collect();
    std::fs::write(&log, lines).unwrap();
    let dest = tmp.path().join("case");
    let o = Command::new(common::bin())
        .current_dir(root)
        .args(["hubtest", "--hub", "hub", "--create"])
        .arg(&dest)
        .args(["--type", "syslog", "--log"])
        .arg(&log)
        .args([
            "--parsers",
            "hub/parsers/s00-raw/correlator/syslog.yaml,hub/parsers/s01-parse/correlator/sshd.yaml",
            "--parsers",
            "hub/parsers/s02-enrich/correlator/dates.yaml",
            "--scenarios",
            "hub/scenarios/correlator/ssh-bruteforce.yaml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    let config = std::fs::read_to_string(dest.join("config.yaml")).unwrap();
    assert!(config.contains("- ./parsers/s01-parse/correlator/sshd.yaml\n"), "{config}");
    assert!(config.contains("- ./scenarios/correlator/ssh-bruteforce.yaml\n"), "{config}");
    assert!(dest.join("auth.log").is_file());
    let scen = std::fs::read_to_string(dest.join("scenario.assert")).unwrap();
    assert!(scen.starts_with("len(results) == 1\n\"203.0.113.7\" in results[0].Overflow.GetSources()\n"), "{scen}");
    assert!(scen.contains(r#"basename(results[0].Overflow.Alert.Events[0].GetMeta("datasource_path")) == "auth.log""#));
    assert!(scen.contains(r#"results[0].Overflow.Alert.Events[0].GetMeta("timestamp")[4:] == "-03-02T08:00:00Z""#));
    let parser = std::fs::read_to_string(dest.join("parser.assert")).unwrap();
    assert!(parser.contains(r#"results["s01-parse"]["correlator/sshd"][5].Evt.Meta["log_type"] == "ssh_failed-auth""#));

    // An existing case is not overwritten without --force.
    let o = Command::new(common::bin())
        .current_dir(root)
        .args(["hubtest", "--hub", "hub", "--create"])
        .arg(&dest)
        .args(["--type", "syslog", "--log"])
        .arg(&log)
        .args(["--parsers", "hub/parsers/s00-raw/correlator/syslog.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));

    // A broken assertion makes the case fail: the generated lines are checked, not just written.
    let broken = scen.replace("GetEventsCount() == 6", "GetEventsCount() == 7");
    std::fs::write(dest.join("scenario.assert"), broken).unwrap();
    let o =
        Command::new(common::bin()).current_dir(root).args(["hubtest", "--hub", "hub"]).arg(&dest).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("GetEventsCount() == 7 (got 6)"));
}
