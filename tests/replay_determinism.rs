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
