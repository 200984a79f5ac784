//! The local API's other clients: a Prometheus text parser nobody here wrote (Python `prometheus_client.parser`)
//! reads `/metrics`; `correlator metrics` turns it into cscli-style tables; a remote agent (Python `requests`
//! speaking CrowdSec's watcher protocol) logs in, pushes an alert that the profiles turn into a ban, reads it
//! back and deletes the decision; the API over TLS (rustls) answers a client that verifies the certificate.

mod common;

use std::process::Command;

use common::daemon::{Daemon, python_json, repo, require_python_modules, truth};

const PARSE_METRICS: &str = r#"
import json, sys, urllib.request, urllib.error
from prometheus_client.parser import text_string_to_metric_families
url, key = sys.argv[1:3]
out = {}
try:
    urllib.request.urlopen(url)
    out["no_key"] = 200
except urllib.error.HTTPError as e:
    out["no_key"] = e.code
# What Prometheus sends with `authorization: {credentials: KEY}`.
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + key})
text = urllib.request.urlopen(req).read().decode()
for fam in text_string_to_metric_families(text):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"#;

fn family<'a>(m: &'a serde_json::Value, name: &str, ty: &str) -> &'a Vec<serde_json::Value> {
    let f = &m[name];
    assert_eq!(f["type"], ty, "{name}: {f}");
    f["samples"].as_array().unwrap_or_else(|| panic!("{name} has no samples"))
}

fn value_where(samples: &[serde_json::Value], label: &str, contains: &str) -> f64 {
    samples
        .iter()
        .find(|s| s[1][label].as_str().is_some_and(|v| v.contains(contains)))
        .and_then(|s| s[2].as_f64())
        .unwrap_or_else(|| panic!("no sample with {label} ~ {contains}: {samples:?}"))
}

#[test]
fn prometheus_parser_reads_metrics_and_cli_tables_match() {
    require_python_modules(&["prometheus_client"]);
    let d = Daemon::start("");
    let mut attackers = truth("bf");
    attackers.extend(truth("kex"));
    d.wait_for_decisions(&attackers);
    let key = d.add_bouncer("prometheus");
    let m = python_json(PARSE_METRICS, &[&format!("http://{}/metrics", d.addr), &key]);
    assert_eq!(m["no_key"], 403, "/metrics answered without an API key");

    let lines = std::fs::read_to_string(repo().join("samples/auth.log")).unwrap_or_else(|e| panic!("{e}"));
    let n_lines = lines.lines().filter(|l| !l.trim().is_empty()).count() as f64;
    // The Python parser strips `_total` from counter family names.
    let read = family(&m, "cs_filesource_hits", "counter");
    assert_eq!(value_where(read, "source", "samples/auth.log"), n_lines);
    let ok = value_where(family(&m, "cs_parser_hits_ok", "counter"), "source", "samples/auth.log");
    let ko = value_where(family(&m, "cs_parser_hits_ko", "counter"), "source", "samples/auth.log");
    assert_eq!(ok + ko, n_lines);
    assert!(ok > 0.0);
    assert!(value_where(family(&m, "cs_node_hits", "counter"), "name", "correlator/sshd") > 0.0);
    assert!(value_where(family(&m, "cs_bucket_overflowed", "counter"), "name", "correlator/ssh-bruteforce") >= 1.0);
    assert!(value_where(family(&m, "cs_bucket_poured", "counter"), "name", "correlator/ssh-bruteforce") >= 6.0);
    family(&m, "cs_buckets", "gauge");
    assert!(value_where(family(&m, "cs_active_decisions", "gauge"), "reason", "ssh-bruteforce") >= 1.0);
    assert!(value_where(family(&m, "cs_alerts", "gauge"), "reason", "ssh-bruteforce") >= 1.0);

    // Run-time expression errors, counted per scenario (none in the shipped hub).
    assert_eq!(
        value_where(family(&m, "correlator_scenario_errors", "counter"), "name", "correlator/ssh-bruteforce"),
        0.0
    );
    // The listeners' counters (the default console listener printed every alert).
    assert!(value_where(family(&m, "correlator_listener_sent", "counter"), "listener", "console") >= 1.0);

    // The same numbers through `correlator metrics` (the local metrics key, read from the store).
    let out = d.cli(&["metrics", "--url", &d.addr, "-o", "json"]);
    let tables: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let acq = tables.as_array().and_then(|t| t.iter().find(|t| t["title"] == "Acquisition")).expect("Acquisition");
    let row = acq["rows"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r[0].as_str().is_some_and(|s| s.contains("auth.log"))))
        .expect("auth.log row");
    assert_eq!(row[1], format!("{n_lines}"));
    let titles: Vec<&str> = tables.as_array().into_iter().flatten().filter_map(|t| t["title"].as_str()).collect();
    for t in ["Acquisition", "Parsers", "Scenarios", "Local API", "Decisions", "Alerts"] {
        assert!(titles.contains(&t), "{t} missing from {titles:?}");
    }
    d.stop();
}

const AGENT: &str = r#"
import json, sys, requests
base, machine, password, key = sys.argv[1:5]
out = {}
r = requests.post(base + "v1/watchers/login", json={"machine_id": machine, "password": "wrong"})
out["bad_login"] = r.status_code
r = requests.post(base + "v1/watchers/login", json={"machine_id": machine, "password": password, "scenarios": []})
out["login"] = r.status_code
token = r.json()["token"]
out["expire"] = r.json()["expire"]
auth = {"Authorization": "Bearer " + token}
alert = {
    "scenario": "crowdsecurity/ssh-bf", "scenario_hash": "h", "scenario_version": "0.1",
    "message": "Ip 198.18.0.5 performed 'crowdsecurity/ssh-bf' (6 events over 2s)",
    "events_count": 6, "start_at": "2026-03-02T08:00:00Z", "stop_at": "2026-03-02T08:00:02Z",
    "capacity": 5, "leakspeed": "10s", "simulated": False, "remediation": True,
    "events": [{"timestamp": "2026-03-02T08:00:02Z", "meta": [{"key": "source_ip", "value": "198.18.0.5"}]}],
    "source": {"scope": "ip", "value": "198.18.0.5", "ip": "198.18.0.5"},
    "labels": None, "decisions": None,
}
r = requests.post(base + "v1/alerts", json=[alert], headers=auth)
out["push"] = r.status_code
out["ids"] = r.json()
r = requests.post(base + "v1/alerts", json=[alert], headers={"Authorization": "Bearer forged.token.x"})
out["push_bad_token"] = r.status_code
r = requests.post(base + "v1/alerts", data="not json", headers=auth)
out["push_bad_body"] = r.status_code
r = requests.get(base + "v1/decisions", params={"ip": "198.18.0.5"}, headers={"X-Api-Key": key})
out["ban"] = r.json()
r = requests.get(base + "v1/alerts", params={"ip": "198.18.0.5"}, headers=auth)
out["alerts"] = r.json()
r = requests.delete(base + "v1/decisions", params={"ip": "198.18.0.5"}, headers=auth)
out["delete"] = r.json()
r = requests.delete(base + "v1/decisions", params={"ipp": "198.18.0.5"}, headers=auth)
out["delete_typo"] = r.status_code
r = requests.get(base + "v1/decisions", params={"ip": "198.18.0.5"}, headers={"X-Api-Key": key})
out["after"] = r.json()
out["health"] = requests.get(base + "health").json()
out["too_big"] = requests.post(base + "v1/alerts", data="x" * 70000, headers=auth).status_code
print(json.dumps(out))
"#;

#[test]
fn remote_agent_pushes_alerts_that_become_bans() {
    require_python_modules(&["requests"]);
    let d = Daemon::start("  max_body_bytes: 65536\n");
    d.cli(&["machines", "add", "agent-2", "--password", "p4ssw0rd-agent"]);
    let key = d.add_bouncer("fw");
    let base = format!("http://{}/", d.addr);
    let r = python_json(AGENT, &[&base, "agent-2", "p4ssw0rd-agent", &key]);
    assert_eq!(r["bad_login"], 401);
    assert_eq!(r["login"], 200);
    assert_eq!(r["push"], 201, "{r}");
    assert_eq!(r["ids"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["push_bad_token"], 401);
    assert_eq!(r["push_bad_body"], 400);
    let ban = &r["ban"][0];
    assert_eq!(ban["value"], "198.18.0.5", "{r}");
    assert_eq!(ban["scope"], "Ip");
    assert_eq!(ban["type"], "ban");
    assert_eq!(ban["scenario"], "crowdsecurity/ssh-bf");
    let alert = &r["alerts"][0];
    assert_eq!(alert["machine_id"], "agent-2");
    assert_eq!(alert["source"]["scope"], "Ip", "scope normalised");
    assert_eq!(alert["decisions"][0]["value"], "198.18.0.5");
    assert_eq!(r["delete"]["nbDeleted"], "1");
    assert_eq!(r["delete_typo"], 400, "an unknown filter must not delete everything");
    assert!(r["after"].is_null(), "{r}");
    assert_eq!(r["health"]["status"], "up");
    assert_eq!(r["too_big"], 413);
    // The CLI sees the agent's alert.
    let listed = d.cli(&["alerts", "list", "--ip", "198.18.0.5", "-o", "json"]);
    assert!(listed.contains("crowdsecurity/ssh-bf"), "{listed}");
    let machines = d.cli(&["machines", "list"]);
    assert!(machines.contains("agent-2"), "{machines}");
    d.stop();
}

#[test]
fn tls_listener_serves_bouncers() {
    require_python_modules(&["requests"]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let st = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| panic!("openssl is needed to make a test certificate: {e}"));
    assert!(st.status.success(), "openssl: {}", String::from_utf8_lossy(&st.stderr));
    let d = Daemon::start(&format!("  tls:\n    cert_file: {}\n    key_file: {}\n", cert.display(), key.display()));
    let api_key = d.add_bouncer("tls-bouncer");
    let base = format!("https://{}/", d.addr);
    let r = python_json(
        "import json,sys,requests\n\
         base, key, ca = sys.argv[1:4]\n\
         h = requests.get(base + 'health', verify=ca).json()\n\
         s = requests.get(base + 'v1/decisions/stream', params={'startup': 'true'}, headers={'X-Api-Key': key}, verify=ca)\n\
         try:\n    requests.get(base + 'health', verify=True); untrusted = 'accepted'\n\
         except requests.exceptions.SSLError:\n    untrusted = 'refused'\n\
         print(json.dumps({'health': h, 'stream': s.status_code, 'body': s.json(), 'untrusted': untrusted}))",
        &[&base, &api_key, &cert.display().to_string()],
    );
    assert_eq!(r["health"]["status"], "up");
    assert_eq!(r["stream"], 200);
    assert!(r["body"].get("new").is_some() && r["body"].get("deleted").is_some(), "{r}");
    assert_eq!(r["untrusted"], "refused", "a client not trusting the certificate must fail");
    d.stop();
}
