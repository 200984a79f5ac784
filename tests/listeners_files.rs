//! File and program listeners end to end, through `correlator replay --listeners`: audit rows to CSV (field by
//! field, header once across restarts, a new header after rotation by rename and by truncation), events as JSON
//! lines, and an `exec` listener whose program receives each event on stdin.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A scenario with an audit schema: one row per failed SSH authentication, with values a spreadsheet or a naive
/// CSV writer would get wrong.
const AUDIT_SCENARIO: &str = r#"type: trigger
name: test/failed-logins-audit
description: "Audit every failed SSH authentication"
filter: "evt.Meta.log_type == 'ssh_failed-auth' && evt.Line.Raw contains 'Failed'"
groupby: evt.Meta.source_ip
severity: notice
summary: "failed login for {{ events[0].meta.target_user }}"
audit:
  name: failed_logins
  fields:
    - name: user
      expression: queue.Queue[0].Meta.target_user
    - name: ip
      expression: queue.Queue[0].Meta.source_ip
    - name: line
      expression: queue.Queue[0].Line.Raw
    - name: tricky
      expression: |
        queue.Queue[0].Meta.target_user + ",\"q\"\n2nd line"
    - name: formula
      expression: "'=HYPERLINK(\"http://x\")'"
    - name: negative
      expression: "'-5'"
"#;

const LOG: &str = "\
Mar  2 08:45:01 web-01 sshd[5678]: Failed password for root from 203.0.113.7 port 56853 ssh2
Mar  2 08:45:02 web-01 sshd[5704]: Failed password for invalid user admin from 203.0.113.8 port 35607 ssh2
Mar  2 08:45:03 web-01 sshd[5705]: Accepted password for bob from 198.51.100.12 port 58365 ssh2
Mar  2 08:45:04 web-01 sshd[5706]: Failed password for oracle from 203.0.113.9 port 40000 ssh2
";

/// A hub with the repository's parsers and the audit scenario, and a config with csv, jsonl and exec listeners.
fn setup(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["parsers", "patterns", "data"] {
        common::copy_dir(&root.join("hub").join(sub), &dir.join("hub").join(sub));
    }
    std::fs::create_dir_all(dir.join("hub/scenarios/test")).unwrap();
    std::fs::write(dir.join("hub/scenarios/test/audit.yaml"), AUDIT_SCENARIO).unwrap();
    std::fs::write(dir.join("auth.log"), LOG).unwrap();
    // The exec program's shell redirect needs `out/` to exist. The jsonl listener creates it on its first delivery,
    // but listeners run on threads of their own, so the exec program may run first: the directory is made here.
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let cfg = format!(
        "paths:\n  hub: hub\n  state: state\nstack:\n  listeners: [audit, events, program]\nlisteners:\n\
         \x20 audit:\n    type: csv\n    dir: out/audit\n\
         \x20 events:\n    type: jsonl\n    path: out/events.jsonl\n\
         \x20 program:\n    type: exec\n    command: [sh, -c, 'cat >> \"$0\"', {}]\n    timeout: 10s\n",
        dir.join("out/exec.jsonl").display()
    );
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
}

fn replay(dir: &Path) -> Vec<Value> {
    let out = Command::new(common::bin())
        .args(["replay", "--type", "syslog", "--year", "2026", "--format", "json", "-q", "--listeners", "--config"])
        .arg(dir.join("config.yaml"))
        .arg(dir.join("auth.log"))
        .env("CORRELATOR_LOG", "error")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The CSV records of a file, header included.
fn csv_records(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).from_path(path).unwrap();
    r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect()
}

/// The audit rows the log should give, computed from the log itself.
fn expected_rows() -> Vec<Vec<String>> {
    LOG.lines()
        .filter(|l| l.contains("Failed password"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let from = words.iter().position(|w| *w == "from").unwrap();
            let (user, ip) = (words[from - 1], words[from + 1]);
            vec![
                user.to_string(),
                ip.to_string(),
                l.to_string(),
                format!("{user},\"q\"\n2nd line"),
                "'=HYPERLINK(\"http://x\")".to_string(),
                "-5".to_string(),
            ]
        })
        .collect()
}

const HEADER: [&str; 6] = ["user", "ip", "line", "tricky", "formula", "negative"];

#[test]
fn csv_jsonl_and_exec_listeners() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    setup(dir);
    let csv_path = dir.join("out/audit/failed_logins.csv");
    let rows = expected_rows();
    assert_eq!(rows.len(), 3);

    let alerts = replay(dir);
    assert_eq!(alerts.len(), 3, "one notice per failed login");
    let mut want = vec![HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    want.extend(rows.clone());
    assert_eq!(csv_records(&csv_path), want);
    // RFC 4180 quoting, as written.
    let text = std::fs::read_to_string(&csv_path).unwrap();
    assert!(text.starts_with("user,ip,line,tricky,formula,negative\n"), "{text}");
    assert!(text.contains(",\"root,\"\"q\"\"\n2nd line\",\"'=HYPERLINK(\"\"http://x\"\")\",-5\n"), "{text}");

    // JSON lines: the Correlator event of each alert.
    let events: Vec<Value> = std::fs::read_to_string(dir.join("out/events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), alerts.len());
    for (e, a) in events.iter().zip(&alerts) {
        assert_eq!(e["summary"], a["summary"]);
        assert_eq!(e["severity"], "notice");
        assert_eq!(e["system"], "test/failed-logins-audit");
        assert_eq!(e["records"], serde_json::json!([a["events"][0]["raw"]]));
    }
    assert_eq!(events[1]["summary"], "failed login for admin");
    // The exec program got each event on stdin: the same JSON as the jsonl listener wrote.
    let exec: Vec<Value> = std::fs::read_to_string(dir.join("out/exec.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exec, events);

    // A restart appends to the existing file without a second header.
    replay(dir);
    let mut twice = want.clone();
    twice.extend(rows.clone());
    assert_eq!(csv_records(&csv_path), twice);

    // Rotation by rename: the next run starts a new file, with its header.
    let rotated = dir.join("out/audit/failed_logins.csv.1");
    std::fs::rename(&csv_path, &rotated).unwrap();
    replay(dir);
    assert_eq!(csv_records(&rotated), twice);
    assert_eq!(csv_records(&csv_path), want);

    // Rotation by truncation (copytruncate): the header is written again.
    std::fs::OpenOptions::new().write(true).truncate(true).open(&csv_path).unwrap();
    replay(dir);
    assert_eq!(csv_records(&csv_path), want);
}

/// The daemon (`correlator run`, cat mode so it ends by itself) sends to its listeners and flushes them at exit.
#[test]
fn run_delivers_to_listeners_and_flushes_at_exit() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.join("acquis.yaml"),
        format!("filenames:\n  - {}\nmode: cat\nlabels:\n  type: syslog\n", root.join("samples/auth.log").display()),
    )
    .unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "paths:\n  hub: {}\n  state: state\nacquisition: acquis.yaml\nparsing:\n  year: 2026\n\
             stack:\n  listeners: [console, file]\nlisteners:\n  console:\n    type: console\n    format: json\n\
             \x20 file:\n    type: jsonl\n    path: alerts.jsonl\n    format: alert\n    min_severity: warning\n",
            root.join("hub").display()
        ),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["run", "--config"])
        .arg(dir.join("config.yaml"))
        .env("CORRELATOR_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let console: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let file: Vec<Value> = std::fs::read_to_string(dir.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let warnings: Vec<&Value> = console.iter().filter(|e| e["severity"] != "notice").collect();
    assert!(console.len() > warnings.len() && !warnings.is_empty());
    assert_eq!(file.len(), warnings.len());
    for (a, e) in file.iter().zip(&warnings) {
        assert_eq!(a["summary"], e["summary"]);
        assert_eq!(a["stop_at"], e["timestamp"]);
        assert_eq!(a["source_ip"], e["data"]["source_ip"]);
    }
    let n = console.len();
    assert!(stderr.contains(&format!("listeners: console: {n} sent; file: {} sent", file.len())), "{stderr}");
}
