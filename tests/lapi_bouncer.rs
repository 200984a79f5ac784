//! End to end with a bouncer library nobody here wrote: pycrowdsec (CrowdSec's Python bouncer client) pulls from
//! the local API served by `correlator run`, which replays `samples/auth.log` and turns its brute-force alerts into
//! bans through the in-process path (profiles → store). The bans reach the bouncer; deleting one with
//! `correlator decisions delete` and letting one expire both reach it as deletions.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{Daemon, PyDriver, python_json, repo, require_python_modules, truth};

fn networks(v: &serde_json::Value) -> Vec<String> {
    assert!(v.get("error").is_none(), "bouncer error: {v}");
    let mut n: Vec<String> = v["decisions"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    n.sort();
    n
}

fn host(ip: &str) -> String {
    format!("{ip}/32")
}

#[test]
fn pycrowdsec_bouncer_gets_bans_and_their_deletion() {
    require_python_modules(&["pycrowdsec", "requests"]);
    let d = Daemon::start("");
    // The brute-force attacker of the sample's ground truth must be banned.
    let bf = truth("bf");
    assert!(!bf.is_empty(), "samples/truth.tsv names no brute-force attacker");
    let mut attackers = bf.clone();
    for behaviour in ["enum", "slow", "kex"] {
        attackers.extend(truth(behaviour));
    }
    let banned = d.wait_for_decisions(&attackers);

    let key = d.add_bouncer("pytest-bouncer");
    let url = format!("http://{}/", d.addr);
    let driver = repo().join("tests/data/pycrowdsec_driver.py");
    let mut b = PyDriver::start(&driver, &[&url, &key]);

    // Startup pull: exactly the active decisions.
    let got = networks(&b.ask("pull"));
    let mut want: Vec<String> = banned.iter().map(|ip| host(ip)).collect();
    want.sort();
    assert_eq!(got, want);
    let target = &bf[0];
    assert_eq!(b.ask(&format!("action {target}"))["action"], "ban");

    // Live query: CrowdSec's decision shape.
    let q = b.ask(&format!("query {target}"));
    let list = q["decisions"].as_array().unwrap_or_else(|| panic!("no decisions for {target}: {q}"));
    let first = &list[0];
    for field in ["duration", "id", "origin", "scenario", "scope", "type", "until", "uuid", "value"] {
        assert!(first.get(field).is_some(), "decision lacks {field}: {first}");
    }
    assert_eq!(first["type"], "ban");
    assert_eq!(first["scope"], "Ip");
    assert_eq!(first["origin"], "crowdsec");
    assert_eq!(first["value"], target.as_str());

    // Nothing new: an empty delta keeps the cache.
    assert_eq!(networks(&b.ask("pull")), want);

    // Deleted with the CLI → the bouncer drops it; the others stay.
    let out = d.cli(&["decisions", "delete", "--ip", target]);
    assert!(out.contains("decision(s) deleted") && !out.starts_with('0'), "{out}");
    let after = networks(&b.ask("pull"));
    assert!(!after.contains(&host(target)), "{target} still banned: {after:?}");
    assert_eq!(after.len(), want.len() - 1, "{after:?}");
    assert!(b.ask(&format!("query {target}"))["decisions"].is_null(), "CrowdSec answers null when nothing matches");

    // A short decision on a range: in the stream, IP-in-range answers, then its expiry reaches the bouncer. Long
    // enough to outlive the round trips below on a slow machine; its expiry is then waited for, not guessed.
    d.cli(&["decisions", "add", "--range", "198.51.100.0/24", "--duration", "10s", "--reason", "test"]);
    let with_range = networks(&b.ask("pull"));
    assert!(with_range.contains(&"198.51.100.0/24".to_string()), "{with_range:?}");
    assert_eq!(b.ask("action 198.51.100.77")["action"], "ban");
    let q = b.ask("query 198.51.100.77");
    assert_eq!(q["decisions"][0]["value"], "198.51.100.0/24", "{q}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pulled = networks(&b.ask("pull"));
        if !pulled.contains(&"198.51.100.0/24".to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "the 10s decision still pulled after 30 s: {pulled:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(b.ask("action 198.51.100.77")["action"].is_null());

    // A wrong key is refused.
    let code = python_json(
        "import json,sys,requests; r=requests.get(sys.argv[1]+'v1/decisions?ip=1.2.3.4', headers={'X-Api-Key':'nope'}); \
         print(json.dumps({'status': r.status_code}))",
        &[&url],
    );
    assert_eq!(code["status"], 403);
    d.stop();
}
