//! Replaying the same file twice prints byte-identical alert JSON (scenario evaluation order is fixed, buckets run
//! on the log's own time).

mod common;

use std::process::Command;

fn replay(file: &str, log_type: &str) -> Vec<u8> {
    let out = Command::new(common::bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--quiet", "--format", "json", "--year", "2026", "--type", log_type, file])
        .output()
        .expect("run replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn same_file_same_alerts_byte_for_byte() {
    for (file, t) in [("samples/auth.log", "syslog"), ("samples/access.log", "nginx")] {
        let a = replay(file, t);
        let b = replay(file, t);
        assert!(!a.is_empty(), "{file}: no alert at all");
        assert_eq!(a, b, "{file}: two replays differ");
    }
}

/// Replays `file` with the CrowdSec hub of the shared corpus (all its parsers and scenarios) and `workers` parsing
/// threads, returning the alert JSON and the summary's counts (lines read, parsed, unparsed, alerts per scenario;
/// not the timing line).
fn replay_hub(file: &std::path::Path, log_type: &str, workers: usize) -> (Vec<u8>, String) {
    let h = common::shared_dir().join("hubtests");
    let out = Command::new(common::bin())
        .args(["replay", "--format", "json", "--year", "2026", "--type", log_type])
        .arg("--hub")
        .arg(h.join("hub"))
        .arg("--patterns")
        .arg(h.join("patterns-base"))
        .arg("--patterns")
        .arg(h.join("patterns"))
        .arg("--data")
        .arg(h.join("data"))
        .arg("--workers")
        .arg(workers.to_string())
        .arg(file)
        .output()
        .expect("run replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stderr);
    // From the summary's first line on (load warnings come before it, with their timestamps).
    let counts: Vec<&str> =
        summary.lines().skip_while(|l| !l.starts_with("lines read: ")).filter(|l| !l.starts_with("elapsed:")).collect();
    assert!(!counts.is_empty(), "no summary in {summary}");
    (out.stdout, counts.join("\n"))
}

#[test]
fn alerts_do_not_depend_on_the_number_of_parsing_workers() {
    // The bench samples are 10,000 lines each: many batches, so workers really finish out of order.
    let bench = common::shared_dir().join("bench");
    for (file, t) in [("auth.sample.log", "syslog"), ("access.sample.log", "nginx")] {
        let (one, counts) = replay_hub(&bench.join(file), t, 1);
        assert!(one.iter().filter(|&&b| b == b'\n').count() > 10, "{file}: too few alerts to compare");
        for workers in [2, 3] {
            let (alerts, other_counts) = replay_hub(&bench.join(file), t, workers);
            assert!(one == alerts, "{file}: 1 and {workers} workers differ");
            // Workers count the lines they do not return (unparsed, whitelisted): the totals must still agree.
            assert_eq!(counts, other_counts, "{file}: 1 and {workers} workers count differently");
        }
    }
}
