//! Hostile input through `correlator replay`: binary garbage, NUL bytes, invalid UTF-8 and a huge line are counted
//! as unparsed lines without stopping the run (the valid lines around them still raise their alert); a hub item
//! with a misspelt field is refused with `file:line:col: unknown field ...` and a non-zero exit, never a panic; a
//! whitelist expression that fails at run time is counted in the summary and whitelists nothing.

mod common;

use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn replay(hub: &str, log: &std::path::Path) -> std::process::Output {
    Command::new(common::bin())
        .args(["replay", "--type", "syslog", "--year", "2026", "--format", "json", "--hub", hub])
        .arg(log)
        .output()
        .expect("run correlator replay")
}

/// `name: N` out of the summary line `lines read: N  parsed: N  unparsed: N ...`.
fn count(summary: &str, name: &str) -> u64 {
    let at = summary.find(&format!("{name}: ")).unwrap_or_else(|| panic!("no {name} in {summary}"));
    summary[at + name.len() + 2..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn garbage_lines_are_counted_as_unparsed_and_valid_lines_still_alert() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    let mut bytes: Vec<u8> = Vec::new();
    // 4 garbage lines: binary with NULs and invalid UTF-8, control characters, a 200 kB line, a syslog header
    // with nothing after it; plus a line holding only "\r", which is empty and skipped (as CrowdSec does).
    let mut seed: u32 = 0x1234_5678;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let b = (seed >> 24) as u8;
                if b == b'\n' { 0 } else { b }
            })
            .collect()
    };
    bytes.extend(noise(3000));
    bytes.push(b'\n');
    bytes.extend(b"\x00\x01\x02\x1b[31m\xff\xfe\xc3\x28 sshd[1]: \x00Failed password\n");
    bytes.extend(vec![b'A'; 200_000]);
    bytes.push(b'\n');
    bytes.extend(b"\r\n");
    bytes.extend(b"Mar  2 10:00:00 host\n");
    // A brute force (8 failures from one address) after the garbage.
    for i in 0..8 {
        bytes.extend(
            format!(
                "Mar  2 10:00:0{i} host sshd[{}]: Failed password for root from 198.51.100.77 port 4{i}000 ssh2\n",
                100 + i
            )
            .as_bytes(),
        );
    }
    std::fs::write(&log, &bytes).unwrap();

    let out = replay(&format!("{REPO}/hub"), &log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed on garbage: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = stderr.lines().find(|l| l.starts_with("lines read:")).unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(count(summary, "lines read"), 12, "{summary}");
    assert_eq!(count(summary, "parsed"), 8, "{summary}");
    assert_eq!(count(summary, "unparsed"), 4, "{summary}");
    let alerts: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        alerts.iter().any(|a| a["scenario"] == "correlator/ssh-bruteforce" && a["value"] == "198.51.100.77"),
        "no brute-force alert after the garbage: {alerts:?}"
    );
}

#[test]
fn a_misspelt_field_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("hub/scenarios/me");
    std::fs::create_dir_all(&sc).unwrap();
    std::fs::write(
        sc.join("bf.yaml"),
        "type: leaky\nname: me/bf\ndescription: brute force\nfilter: \"evt.Meta.log_type == 'ssh_failed-auth'\"\n\
         groupby: evt.Meta.source_ip\ncapcity: 5\nleakspeed: 10s\n",
    )
    .unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "Mar  2 10:00:00 host sshd[1]: Failed password for root from 198.51.100.7 port 1 ssh2\n")
        .unwrap();
    let out = replay(dir.path().join("hub").to_str().unwrap(), &log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let want = format!("{}:6:1: unknown field `capcity`", sc.join("bf.yaml").display());
    assert!(stderr.contains(&want), "expected {want:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_failing_whitelist_expression_is_counted_and_whitelists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("hub");
    common::copy_dir(std::path::Path::new(&format!("{REPO}/hub")), &hub);
    let wl = hub.join("parsers/s02-enrich/me");
    std::fs::create_dir_all(&wl).unwrap();
    // `program` is "sshd": converting it to an integer fails at run time on every event.
    std::fs::write(
        wl.join("broken-whitelist.yaml"),
        "name: me/broken-whitelist\ndescription: d\nwhitelist:\n  reason: broken\n  expression:\n    \
         - int(evt.Parsed.program) > 0\n",
    )
    .unwrap();
    let log = dir.path().join("auth.log");
    let lines: String = (0..8)
        .map(|i| {
            format!("Mar  2 10:00:0{i} host sshd[10{i}]: Failed password for root from 198.51.100.77 port 4{i} ssh2\n")
        })
        .collect();
    std::fs::write(&log, lines).unwrap();
    let out = replay(hub.to_str().unwrap(), &log);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("whitelist expression: 8"), "no whitelist error count in:\n{stderr}");
    // Not whitelisted: the brute force is still reported.
    assert!(String::from_utf8_lossy(&out.stdout).contains("198.51.100.77"), "{stderr}");
}
