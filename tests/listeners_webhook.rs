//! Webhook listener end to end: `correlator replay --listeners` on the sample auth log, with real HTTP servers on
//! loopback (std `TcpListener` in this test): payloads and headers, retries on 500, no retry on 404, a body
//! template, and endpoints that hang or refuse connections while another listener still gets every event.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// An HTTP/1.1 server answering the n-th request with `statuses[n]` (200 past the end of the list).
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body: String::from_utf8(body).ok()? })
}

impl Server {
    fn start(statuses: Vec<u16>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let reqs = Arc::clone(&requests);
        let statuses = Arc::new(statuses);
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { break };
                let (reqs, statuses) = (Arc::clone(&reqs), Arc::clone(&statuses));
                std::thread::spawn(move || {
                    let mut w = conn.try_clone().unwrap();
                    let mut r = BufReader::new(conn);
                    while let Some(req) = read_request(&mut r) {
                        let n = {
                            let mut g = reqs.lock().unwrap();
                            g.push(req);
                            g.len() - 1
                        };
                        let status = statuses.get(n).copied().unwrap_or(200);
                        let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
                        if w.write_all(resp.as_bytes()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Server { port, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Accepts connections and never answers (a hung endpoint), for at most `for_how_long`.
fn black_hole(for_how_long: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let end = Instant::now() + for_how_long;
        while Instant::now() < end {
            if let Ok((s, _)) = l.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    port
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Writes a config using the repository's hub and the given listeners, runs `replay --listeners` on the sample
/// auth log, and returns (the alerts replay printed, its stderr, how long it took).
fn replay(dir: &Path, listeners: &str, enabled: &str) -> (Vec<Value>, String, Duration) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = format!(
        "paths:\n  hub: {hub}\n  state: {state}\nstack:\n  listeners: [{enabled}]\nlisteners:\n{listeners}",
        hub = root.join("hub").display(),
        state = dir.join("state").display(),
    );
    std::fs::write(dir.join("config.yaml"), cfg).unwrap();
    let t = Instant::now();
    let out = Command::new(common::bin())
        .args(["replay", "--type", "syslog", "--year", "2026", "--format", "json", "--listeners", "--config"])
        .arg(dir.join("config.yaml"))
        .arg(root.join("samples/auth.log"))
        .env("CORRELATOR_LOG", "error")
        .output()
        .expect("run correlator replay");
    let took = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    let alerts = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (alerts, stderr, took)
}

fn warnings(alerts: &[Value]) -> Vec<&Value> {
    alerts.iter().filter(|a| a["severity"] != "notice").collect()
}

#[test]
fn payloads_headers_retries_and_templates() {
    let d = tempfile::tempdir().unwrap();
    // Two 500s: the first event is delivered on its third attempt.
    let hook = Server::start(vec![500, 500]);
    let tpl = Server::start(vec![]);
    let gone = Server::start(vec![404; 1000]);
    let listeners = format!(
        "  hook:\n    type: webhook\n    url: http://127.0.0.1:{}/alerts?x=1\n    min_severity: warning\n    \
         headers: {{X-Token: s3cret}}\n    retries: 3\n    backoff: 50ms\n    timeout: 5s\n\
         \x20 tpl:\n    type: webhook\n    url: http://127.0.0.1:{}/t\n    method: put\n    min_severity: warning\n    \
         body: '{{\"text\": {{{{ summary }}}}, \"ip\": {{{{ source_ip }}}}, \"n\": {{{{ events_count }}}}}}'\n\
         \x20 gone:\n    type: webhook\n    url: http://127.0.0.1:{}/\n    min_severity: warning\n    retries: 3\n    \
         backoff: 50ms\n",
        hook.port, tpl.port, gone.port
    );
    let (alerts, stderr, _) = replay(d.path(), &listeners, "hook, tpl, gone");
    let want = warnings(&alerts);
    assert!(want.len() >= 5, "the sample gives warnings: {}", alerts.len());

    let reqs = hook.requests();
    assert_eq!(reqs.len(), want.len() + 2, "one request per alert plus two retries");
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(reqs[1].body, reqs[2].body);
    let delivered: Vec<Value> = reqs[2..].iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    for (got, alert) in delivered.iter().zip(&want) {
        assert_eq!(got["summary"], alert["summary"]);
        assert_eq!(got["severity"], alert["severity"]);
        assert_eq!(got["system"], alert["scenario"]);
        assert_eq!(got["timestamp"], alert["stop_at"]);
        assert_eq!(got["data"]["source_ip"], alert["source_ip"]);
        assert_eq!(got["data"]["events_count"], alert["events_count"]);
        // The original records are the raw lines of the kept events.
        let raws: Vec<&Value> = alert["events"].as_array().unwrap().iter().map(|e| &e["raw"]).collect();
        let records: Vec<&Value> = got["records"].as_array().unwrap().iter().collect();
        assert_eq!(records, raws);
        assert!(records.iter().all(|r| r.as_str().unwrap().contains(alert["source_ip"].as_str().unwrap())));
    }
    for r in &reqs {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/alerts?x=1"));
        assert_eq!(r.headers.get("x-token").map(String::as_str), Some("s3cret"));
        assert_eq!(r.headers.get("content-type").map(String::as_str), Some("application/json"));
    }

    let t = tpl.requests();
    assert_eq!(t.len(), want.len());
    for (r, alert) in t.iter().zip(&want) {
        assert_eq!(r.method, "PUT");
        let v: Value = serde_json::from_str(&r.body).expect("the template gives JSON");
        assert_eq!(
            v,
            serde_json::json!({"text": alert["summary"], "ip": alert["source_ip"], "n": alert["events_count"]})
        );
    }

    // 404 is not retried.
    assert_eq!(gone.requests().len(), want.len());
    let n = want.len();
    assert!(stderr.contains(&format!("hook: {n} sent;")), "{stderr}");
    assert!(stderr.contains(&format!("gone: 0 sent, {n} failed")), "{stderr}");
}

#[test]
fn dead_endpoints_neither_block_nor_lose_other_listeners_events() {
    let d = tempfile::tempdir().unwrap();
    let hung = black_hole(Duration::from_secs(60));
    let refused = closed_port();
    let out = d.path().join("alerts.jsonl");
    let listeners = format!(
        "  hung:\n    type: webhook\n    url: http://127.0.0.1:{hung}/\n    timeout: 300ms\n    retries: 0\n    \
         queue_size: 2\n    rate_limit: {{max: 0}}\n\
         \x20 refused:\n    type: webhook\n    url: http://127.0.0.1:{refused}/\n    retries: 2\n    backoff: 10ms\n    \
         rate_limit: {{max: 0}}\n\
         \x20 file:\n    type: jsonl\n    path: {}\n    format: alert\n",
        out.display()
    );
    let (alerts, stderr, took) = replay(d.path(), &listeners, "hung, refused, file");
    // Every alert reached the file listener, in order, identical to what replay printed.
    let written: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(written, alerts);
    let n = alerts.len();
    assert!(n > 20, "{n}");
    // The hung endpoint held at most three events (one in flight, two queued) for 300 ms each: the run is not
    // slowed down by the number of events.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let hung_line = stderr.lines().find(|l| l.starts_with("listeners:")).unwrap_or_default();
    let part = |name: &str| {
        hung_line.split("; ").map(|p| p.trim_start_matches("listeners: ")).find(|p| p.starts_with(name)).unwrap_or("")
    };
    let count = |p: &str, what: &str| -> usize {
        p.split(", ")
            .find_map(|x| x.strip_suffix(what).and_then(|x| x.trim().rsplit(' ').next()?.parse().ok()))
            .unwrap_or(0)
    };
    let h = part("hung:");
    assert_eq!(count(h, " sent"), 0, "{hung_line}");
    assert_eq!(count(h, " failed") + count(h, " dropped"), n, "{hung_line}");
    assert!(count(h, " dropped") >= n - 3, "{hung_line}");
    let r = part("refused:");
    assert_eq!(count(r, " failed"), n, "connection refused is retried, then counted: {hung_line}");
    assert_eq!(part("file:"), format!("file: {n} sent"));
}
