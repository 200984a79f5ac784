//! The store under a crash: a child process records alerts one transaction at a time and reports each commit; it
//! is killed with SIGKILL in the middle of the burst. After reopening, every alert it reported is there exactly
//! once with its decision, and re-running the whole burst (what the daemon does when it reads the same log lines
//! again) adds only the missing ones.
//!
//! The child is this test binary itself, re-run on the ignored test `burst_child` with `STORE_BURST_DB` set. For
//! the run that is killed, the child is paced (`STORE_BURST_PACED`): after each report it waits for a line on its
//! stdin, so it can never run more than one transaction ahead of the reports the parent has read, however cheap
//! fsync is on the machine.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use correlator::store::{AlertFilter, DecisionFilter, NewAlert, NewDecision, Source, SqliteStore, Store, model::Alert};

const TOTAL: usize = 600;
const KILL_AFTER: usize = 150;

fn alert(i: usize) -> NewAlert {
    let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
    NewAlert {
        alert: Alert {
            scenario: "test/burst".into(),
            message: format!("burst alert {i}"),
            events_count: 6,
            capacity: 5,
            leakspeed: "10s".into(),
            start_at: format!("2026-03-02T08:00:00.{i:06}Z"),
            stop_at: format!("2026-03-02T08:00:02.{i:06}Z"),
            remediation: true,
            source: Source { scope: "Ip".into(), value: ip.clone(), ip: ip.clone(), ..Source::default() },
            ..Alert::default()
        },
        decisions: vec![NewDecision {
            origin: "crowdsec".into(),
            kind: "ban".into(),
            scope: "Ip".into(),
            value: ip,
            scenario: "test/burst".into(),
            simulated: false,
            duration: 4 * 3_600_000_000_000,
        }],
    }
}

/// Records alerts `0..TOTAL` one per transaction, printing `committed N` after each commit; when paced, waits for
/// a line on stdin after each report before the next transaction. Run only as the child.
#[test]
#[ignore = "helper process of kill9_during_a_burst_loses_and_duplicates_nothing"]
fn burst_child() {
    let db = std::env::var("STORE_BURST_DB").expect("run by kill9_during_a_burst_loses_and_duplicates_nothing");
    let paced = std::env::var_os("STORE_BURST_PACED").is_some();
    let store = SqliteStore::open(std::path::Path::new(&db)).expect("open");
    let stdin = std::io::stdin();
    for i in 0..TOTAL {
        store.add_alerts("burst", &[alert(i)], 1_000 + i as i64).expect("insert");
        println!("committed {i}");
        if paced {
            let mut go = String::new();
            if stdin.lock().read_line(&mut go).expect("stdin") == 0 {
                return; // the parent is gone
            }
        }
    }
}

/// Runs the child; with `kill_after`, paces it (one answer per report) and SIGKILLs it right after letting it go on
/// past the `kill_after`-th report, so the kill lands in (or just before) the next transaction and at most that
/// one transaction can have committed unreported.
fn run_child(db: &std::path::Path, kill_after: Option<usize>) -> Vec<usize> {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", "burst_child", "--nocapture", "--test-threads", "1"])
        .env("STORE_BURST_DB", db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if kill_after.is_some() {
        cmd.env("STORE_BURST_PACED", "1").stdin(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null());
    }
    let mut child = cmd.spawn().expect("spawn child");
    let mut go = child.stdin.take();
    let out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut committed = Vec::new();
    for line in out.lines().map_while(Result::ok) {
        // libtest may print "test burst_child ... " on the same line as the first report.
        if let Some(i) = line.find("committed ") {
            committed.push(line[i + "committed ".len()..].trim().parse().expect("number"));
            if let Some(stdin) = go.as_mut() {
                // A failed write means the child died; its exit status is checked below.
                let _ = stdin.write_all(b"go\n").and_then(|()| stdin.flush());
            }
            if kill_after.is_some_and(|k| committed.len() >= k) {
                child.kill().expect("SIGKILL");
                break;
            }
        }
    }
    let status = child.wait().expect("wait");
    if kill_after.is_none() {
        assert!(status.success(), "child failed: {status}");
    } else {
        assert!(!status.success(), "the child should have been killed");
    }
    committed
}

fn counts(store: &SqliteStore) -> BTreeMap<String, usize> {
    let all = store.alerts(&AlertFilter::default(), 0).expect("alerts");
    let mut by_message = BTreeMap::new();
    for a in &all {
        *by_message.entry(a.message.clone()).or_insert(0) += 1;
        assert_eq!(a.decisions.len(), 1, "alert {} lost its decision", a.message);
    }
    by_message
}

#[test]
fn kill9_during_a_burst_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("burst.db");
    let committed = run_child(&db, Some(KILL_AFTER));
    assert_eq!(committed.len(), KILL_AFTER);

    let store = SqliteStore::open(&db).expect("reopen after SIGKILL");
    let by_message = counts(&store);
    for i in &committed {
        assert_eq!(by_message.get(&format!("burst alert {i}")), Some(&1), "committed alert {i} lost or duplicated");
    }
    assert!(by_message.values().all(|n| *n == 1), "duplicates after the crash");
    // At most the transaction in flight when the kill came may have committed unreported.
    assert!(by_message.len() <= KILL_AFTER + 1, "{} alerts for {KILL_AFTER} commits", by_message.len());
    let decisions = store.decisions(&DecisionFilter::default(), 0).expect("decisions");
    assert_eq!(decisions.len(), by_message.len());
    drop(store);

    // Start over from the beginning, as a daemon re-reading the same lines would.
    let again = run_child(&db, None);
    assert_eq!(again.len(), TOTAL);
    let store = SqliteStore::open(&db).expect("reopen");
    let by_message = counts(&store);
    assert_eq!(by_message.len(), TOTAL);
    assert!(by_message.values().all(|n| *n == 1), "duplicates after the replay");
    assert_eq!(store.decisions(&DecisionFilter::default(), 0).expect("decisions").len(), TOTAL);
}
