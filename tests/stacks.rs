//! The example stacks of `hub/stacks/`, replayed: `sshd` turns each sshd connection into one audit row (user,
//! source, port, result, failures, start, end, duration, how it ended), checked field by field; `report` gives a
//! notice per record and per-minute statistics.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

const LOG: &str = "\
Mar  2 10:00:00 web-01 sshd[100]: Failed password for alice from 198.51.100.5 port 40001 ssh2
Mar  2 10:00:05 web-01 sshd[100]: Accepted password for alice from 198.51.100.5 port 40001 ssh2
Mar  2 10:00:05 web-01 sshd[100]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)
Mar  2 10:00:05 web-01 systemd-logind[612]: New session 7 of user alice.
Mar  2 10:01:00 web-01 sshd[200]: Invalid user admin from 203.0.113.9 port 5555
Mar  2 10:01:01 web-01 sshd[200]: Failed password for invalid user admin from 203.0.113.9 port 5555 ssh2
Mar  2 10:01:02 web-01 sshd[200]: Connection closed by invalid user admin 203.0.113.9 port 5555 [preauth]
Mar  2 10:05:00 web-01 sshd[300]: Accepted publickey for bob from 198.51.100.6 port 40002 ssh2: ED25519 SHA256:x
Mar  2 10:05:00 web-01 sshd[300]: pam_unix(sshd:session): session opened for user bob(uid=1001) by (uid=0)
Mar  2 10:30:05 web-01 sshd[100]: Received disconnect from 198.51.100.5 port 40001:11: disconnected by user
Mar  2 10:30:05 web-01 sshd[100]: Disconnected from user alice 198.51.100.5 port 40001
Mar  2 10:30:05 web-01 sshd[100]: pam_unix(sshd:session): session closed for user alice
Mar  2 12:00:00 web-01 sshd[400]: Accepted publickey for carol from 198.51.100.7 port 40003 ssh2: ED25519 SHA256:y
";

/// Replays `log` with the given stack and a `csv` listener writing audit rows under `<tmp>/audit/`; returns the
/// alert JSON objects and the directory (kept alive by the returned guard).
fn replay_with_stack(stack: &str, log: &str) -> (Vec<serde_json::Value>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.log");
    std::fs::write(&path, log).unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "paths:\n  hub: {REPO}/hub\n  state: state\nstack:\n  use: [{stack}]\n  listeners: [audit]\n\
             listeners:\n  audit:\n    type: csv\n    dir: audit\n"
        ),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["replay", "--quiet", "--listeners", "--format", "json", "--year", "2026", "--type", "syslog"])
        .arg("--config")
        .arg(&cfg)
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alerts = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (alerts, dir)
}

/// The sshd stack's column order, as declared in its `audit:` schema.
const SESSION_COLUMNS: [&str; 11] =
    ["host", "pid", "user", "source_ip", "port", "result", "failures", "start", "end", "duration_s", "ended"];

#[test]
fn sessions_become_audit_rows() {
    let (alerts, dir) = replay_with_stack("sshd", LOG);
    // The CSV file the listener wrote: a header in schema order, then one row per session.
    let mut reader = csv::Reader::from_path(dir.path().join("audit/ssh_sessions.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(header, SESSION_COLUMNS);
    let mut rows: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for rec in reader.records() {
        let rec = rec.unwrap();
        let row: BTreeMap<String, String> = header.iter().cloned().zip(rec.iter().map(str::to_string)).collect();
        assert!(rows.insert(row["pid"].clone(), row).is_none(), "one row per session");
    }
    // The same rows travel in the alerts (`audit.columns`).
    let in_alerts = alerts.iter().filter(|a| a["audit"]["schema"] == "ssh_sessions").count();
    assert_eq!(in_alerts, rows.len());
    let expect = |pid: &str, fields: &[(&str, &str)]| {
        let row = rows.get(pid).unwrap_or_else(|| panic!("no row for sshd[{pid}]: {rows:#?}"));
        for (k, v) in fields {
            assert_eq!(row.get(*k).map(String::as_str), Some(*v), "sshd[{pid}] field {k}: {row:?}");
        }
    };
    expect(
        "100",
        &[
            ("host", "web-01"),
            ("user", "alice"),
            ("source_ip", "198.51.100.5"),
            ("port", "40001"),
            ("result", "success"),
            ("failures", "1"),
            ("start", "2026-03-02T10:00:00Z"),
            ("end", "2026-03-02T10:30:05Z"),
            ("duration_s", "1805"),
            ("ended", "closed"),
        ],
    );
    expect(
        "200",
        &[
            ("user", "admin"),
            ("source_ip", "203.0.113.9"),
            ("port", "5555"),
            ("result", "failure"),
            ("failures", "1"),
            ("duration_s", "2"),
            ("ended", "preauth"),
        ],
    );
    // Never closed: reported once idle for an hour of log time (the 12:00 line moves the clock).
    expect(
        "300",
        &[
            ("user", "bob"),
            ("result", "success"),
            ("failures", "0"),
            ("end", "2026-03-02T10:05:00Z"),
            ("ended", "idle"),
        ],
    );
    // Still open at the end of the file: not reported (the replay stops before it is due).
    assert!(!rows.contains_key("400"));
    assert_eq!(rows.len(), 3);
}

#[test]
fn report_gives_a_notice_per_record_and_minute_statistics() {
    let log = "\
Mar  2 10:00:01 web-01 sshd[1]: Accepted publickey for bob from 198.51.100.6 port 40002 ssh2: ED25519 SHA256:x
Mar  2 10:00:02 web-01 sshd[1]: pam_unix(sshd:session): session opened for user bob(uid=1001) by (uid=0)
Mar  2 10:00:03 web-01 sshd[2]: Failed password for root from 203.0.113.5 port 1 ssh2
Mar  2 10:00:30 web-01 sshd[1]: pam_unix(sshd:session): session closed for user bob
Mar  2 10:00:59 web-02 sshd[3]: Failed password for root from 203.0.113.5 port 2 ssh2
Mar  2 10:01:00 web-01 CRON[9]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
Mar  2 10:01:10 web-01 CRON[9]: pam_unix(cron:session): session closed for user root
Mar  2 10:01:20 web-01 systemd-logind[612]: New session 7 of user bob.
Mar  2 10:20:00 web-01 sshd[4]: Accepted publickey for bob from 198.51.100.6 port 40003 ssh2: ED25519 SHA256:x
";
    let (alerts, _dir) = replay_with_stack("report", log);
    let by = |name: &str| -> Vec<&serde_json::Value> { alerts.iter().filter(|a| a["scenario"] == name).collect() };
    assert_eq!(by("correlator/report-record").len(), 9, "one notice per record");
    let counts = |name: &str| -> BTreeMap<String, i64> {
        by(name)
            .iter()
            .map(|a| (a["value"].as_str().unwrap().to_string(), a["events_count"].as_i64().unwrap()))
            .collect()
    };
    // The 10:20 line opens a minute that has not ended when the file does: not reported.
    let volume = counts("correlator/report-volume");
    assert_eq!(volume.get("sshd@web-01"), Some(&4));
    assert_eq!(volume.get("sshd@web-02"), Some(&1));
    assert_eq!(volume.get("CRON@web-01"), Some(&2));
    assert_eq!(volume.get("systemd-logind@web-01"), Some(&1));
    let status = counts("correlator/report-parse-status");
    assert_eq!(status.get("syslog/parsed"), Some(&5));
    assert_eq!(status.get("syslog/unparsed"), Some(&3));
    assert!(by("correlator/report-volume").iter().all(|a| a["severity"] == "notice"));
}

/// A postoverflow with `audit:` turns the overflows it succeeds on into audit rows (the CSV listener writes them),
/// with columns computed from the overflow event (`evt.Overflow.Alert`, the meta of the events).
#[test]
fn a_postoverflow_audit_schema_writes_one_row_per_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub");
    std::fs::create_dir_all(hub.join("scenarios/me")).unwrap();
    std::fs::create_dir_all(hub.join("postoverflows/s01-audit/me")).unwrap();
    for d in ["parsers", "patterns", "data"] {
        std::os::unix::fs::symlink(format!("{REPO}/hub/{d}"), hub.join(d)).unwrap();
    }
    std::fs::write(
        hub.join("scenarios/me/failed.yaml"),
        "type: trigger\nname: me/failed-root\ndescription: a failed root login\n\
         filter: \"evt.Meta.log_type == 'ssh_failed-auth' && evt.Meta.target_user == 'root'\"\n\
         groupby: evt.Meta.source_ip\nlabels:\n  remediation: false\n",
    )
    .unwrap();
    std::fs::write(
        hub.join("postoverflows/s01-audit/me/root-audit.yaml"),
        "name: me/root-audit\ndescription: one row per failed root login\n\
         filter: \"evt.Overflow.Alert.Scenario == 'me/failed-root'\"\n\
         audit:\n  name: root_logins\n  fields:\n\
         \x20   - name: source\n      expression: evt.Overflow.Alert.Source.IP\n\
         \x20   - name: scenario\n      expression: evt.Overflow.Alert.Scenario\n\
         \x20   - name: events\n      expression: evt.Overflow.Alert.EventsCount\n",
    )
    .unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "Mar  2 10:00:00 web-01 sshd[1]: Failed password for root from 198.51.100.5 port 1 ssh2\n\
         Mar  2 10:00:01 web-01 sshd[2]: Failed password for alice from 198.51.100.6 port 2 ssh2\n\
         Mar  2 10:00:02 web-01 sshd[3]: Failed password for root from 203.0.113.9 port 3 ssh2\n",
    )
    .unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "paths:\n  hub: {}\n  state: state\nstack:\n  listeners: [audit]\nlisteners:\n  audit:\n    type: csv\n    dir: audit\n",
            hub.display()
        ),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["replay", "--quiet", "--listeners", "--format", "json", "--year", "2026", "--type", "syslog"])
        .arg("--config")
        .arg(&cfg)
        .arg(&log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = std::fs::read_to_string(dir.path().join("audit/root_logins.csv")).expect("the audit file");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines, ["source,scenario,events", "198.51.100.5,me/failed-root,1", "203.0.113.9,me/failed-root,1"]);
}
