//! `correlator replay` on the shared benchmark sample (`$SHARED/bench/auth.sample.log`) with Correlator's own hub:
//! brute-force alerts for the attackers of `attackers.tsv` present in the sample, none for anyone else.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn ssh_brute_force_alerts_match_ground_truth() {
    let bench = common::shared_dir().join("bench");
    let sample = bench.join("auth.sample.log");
    let out = Command::new(common::bin())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["replay", "--type", "syslog", "--year", "2026", "--format", "json", "--quiet"])
        .arg("--hub")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/hub"))
        .arg(&sample)
        .output()
        .expect("run correlator replay");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));

    // Ground truth: attacker IP -> behaviour, for the IPs present in the sample.
    let text = std::fs::read_to_string(&sample).unwrap();
    let truth_text = std::fs::read_to_string(bench.join("attackers.tsv")).unwrap();
    let attackers: BTreeMap<String, String> = truth_text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[0] == "auth.log").then(|| (f[1].to_string(), f[2].to_string()))
        })
        .filter(|(ip, _)| text.contains(&format!(" {ip} ")))
        .collect();
    assert!(!attackers.is_empty(), "the sample holds no attacker of attackers.tsv");

    let mut alerted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let a: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        for key in
            ["scenario", "scope", "value", "source_ip", "events_count", "start_at", "stop_at", "labels", "events"]
        {
            assert!(a.get(key).is_some(), "alert without {key}: {line}");
        }
        if a["scope"] != "Ip" {
            // Statistics scenarios (the per-user login counter) are not detections.
            continue;
        }
        let ip = a["value"].as_str().unwrap().to_string();
        alerted.entry(ip).or_default().insert(a["scenario"].as_str().unwrap().to_string());
    }

    // No benign source alerted.
    let benign: Vec<_> = alerted.keys().filter(|ip| !attackers.contains_key(*ip)).collect();
    assert!(benign.is_empty(), "alerts for IPs that are not attackers: {benign:?}");
    // Every password-guessing attacker present in the sample is caught by a brute-force scenario.
    for (ip, behaviour) in &attackers {
        if ["bf", "enum", "preauth"].contains(&behaviour.as_str()) {
            let got = alerted.get(ip).cloned().unwrap_or_default();
            assert!(
                got.iter().any(|s| s.contains("ssh-bruteforce") || s.contains("ssh-user-enum")),
                "{behaviour} attacker {ip} not detected (alerts: {got:?})"
            );
        }
    }
}
