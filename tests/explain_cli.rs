//! `correlator explain` end to end, on Correlator's own hub: what a good line, a line no parser takes and a file
//! that overflows a scenario look like, in text and JSON, with and without colours.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const GOOD: &str = "Mar  2 08:00:02 web-01 sshd[5002]: Failed password for root from 203.0.113.7 port 40002 ssh2";

fn explain(args: &[&str]) -> Output {
    Command::new(common::bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["explain", "--hub", "hub"])
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run correlator explain")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_good_line_shows_every_node_and_what_it_set() {
    let o = explain(&["--type", "syslog", "--line", GOOD]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    // Not a terminal: no escape sequences.
    assert!(!text.contains('\x1b'), "{text}");
    let order: Vec<usize> = [
        "s00-raw",
        "✓ correlator/syslog",
        "s01-parse",
        "✗ correlator/http-access: filter is false",
        "✓ correlator/sshd",
        "s02-enrich",
        "✓ correlator/dates",
    ]
    .iter()
    .map(|needle| text.find(needle).unwrap_or_else(|| panic!("{needle:?} missing in:\n{text}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order:\n{text}");
    assert!(text.contains(r#"+ Parsed.program = "sshd""#), "{text}");
    assert!(text.contains(r#"+ Meta.log_type = "ssh_failed-auth""#), "{text}");
    assert!(text.contains(r#"+ Meta.source_ip = "203.0.113.7""#), "{text}");
    assert!(text.contains("-03-02T08:00:02Z"), "the dates node sets the time:\n{text}");
    assert!(
        text.contains(
            "→ parsed; poured into correlator/ssh-bruteforce, correlator/ssh-slow-bruteforce, correlator/ssh-user-enum"
        ),
        "{text}"
    );
}

#[test]
fn a_line_no_parser_takes_says_where_it_stopped_and_why() {
    let o = explain(&["--type", "syslog", "--line", "this is not syslog", "--verbose"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("✗ correlator/syslog: no child node succeeded"), "{text}");
    assert!(text.contains("✗ correlator/raw: filter is false: evt.Line.Labels.type != 'syslog'"), "{text}");
    assert!(text.contains("hub/parsers/s00-raw/correlator/syslog.yaml:"), "verbose shows node origins:\n{text}");
    assert!(text.contains("unparsed: no node of s00-raw succeeded with onsuccess: next_stage"), "{text}");
    assert!(!text.contains("s01-parse"), "{text}");
}

#[test]
fn json_is_one_object_per_line_with_the_whole_trace() {
    let o = explain(&["--type", "syslog", "--line", GOOD, "--format", "json"]);
    assert!(o.status.success());
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["result"], "parsed");
    assert_eq!(v["meta"]["log_type"], "ssh_failed-auth");
    let stages: Vec<&str> = v["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["s00-raw", "s01-parse", "s02-enrich"]);
    let sshd = &v["stages"][1]["nodes"][1];
    assert_eq!(sshd["node"], "correlator/sshd");
    assert_eq!(sshd["success"], true);
    assert!(
        sshd["changes"].as_array().unwrap().iter().any(|c| c["field"] == "Meta.target_user" && c["after"] == "root")
    );
    let http = &v["stages"][1]["nodes"][0];
    assert_eq!(http["success"], false);
    assert!(http["why"].as_str().unwrap().starts_with("filter is false"));
    // JSON says why every other scenario did not take the event.
    let refused = v["not_poured"].as_array().unwrap();
    assert!(refused.iter().any(|n| n["scenario"] == "correlator/http-probing"), "{v}");
}

#[test]
fn a_file_runs_through_the_buckets_and_shows_the_overflow() {
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hub/ssh-bruteforce/ssh-bruteforce.log");
    let o = explain(&["--type", "syslog", "--file", log.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success());
    let rows: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let with_overflow: Vec<(u64, &serde_json::Value)> = rows
        .iter()
        .flat_map(|r| r["overflows"].as_array().unwrap().iter().map(move |o| (r["line"].as_u64().unwrap(), o)))
        .filter(|(_, o)| o["scenario"] == "correlator/ssh-bruteforce")
        .collect();
    assert_eq!(with_overflow.len(), 1, "one brute force overflow");
    let (line, ovf) = with_overflow[0];
    assert_eq!(line, 6, "the sixth failure overflows the bucket");
    assert_eq!(ovf["sources"][0], "203.0.113.7");
    assert_eq!(ovf["events_count"], 6);
}

#[test]
fn colours_only_when_asked_or_on_a_terminal_and_never_with_no_color() {
    let o = explain(&["--type", "syslog", "--line", GOOD, "--color", "always"]);
    assert!(stdout(&o).contains("\x1b[32m✓"), "forced colours");
    // NO_COLOR only matters in auto mode; stdout is a pipe here, so auto gives none either way.
    let o = Command::new(common::bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["explain", "--hub", "hub", "--type", "syslog", "--line", GOOD])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\x1b'));
}

#[test]
fn control_characters_of_a_line_do_not_reach_the_terminal() {
    let o = explain(&["--type", "nginx", "--line", "evil \x1b[31mred\x1b[0m line", "--color", "never"]);
    let text = stdout(&o);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("\\u{1b}[31mred"), "{text}");
}

#[test]
fn a_broken_hub_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("parsers/s01-parse/me");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("bad.yaml"),
        "name: me/bad\nfilter: \"evt.Parsed.x ==\"\nstatics:\n  - meta: a\n    value: b\n",
    )
    .unwrap();
    let o = Command::new(common::bin())
        .args(["explain", "--hub"])
        .arg(dir.path())
        .args(["--type", "x", "--line", "y"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml:2:"), "{err}");
}
