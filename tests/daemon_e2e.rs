//! `correlator run` end to end: a real syslog client (util-linux `logger`) sends an SSH brute force to the daemon's
//! syslog source and the alert appears; editing `acquis.yaml` while it runs adds a file source whose lines are
//! processed; SIGTERM stops it cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write_config(dir: &Path, acquis: &str) -> PathBuf {
    std::fs::write(dir.join("acquis.yaml"), acquis).unwrap();
    let cfg = format!(
        "paths:\n  hub: {REPO}/hub\n  patterns: [{REPO}/hub/patterns]\n  data: {REPO}/hub/data\n  state: {d}/state\n\
acquisition: {d}/acquis.yaml\n",
        d = dir.display()
    );
    let p = dir.join("config.yaml");
    std::fs::write(&p, cfg).unwrap();
    p
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    errs: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(common::bin())
            .args(["run", "--config"])
            .arg(config)
            // The acquisition manager's debug line "source started" comes once a source is ready (a tailed file
            // open at its end): lines appended before it would not be read.
            .env("CORRELATOR_LOG", "info,correlator::acquisition::manager=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start correlator run");
        let forward = |r: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let lines = forward(Box::new(child.stdout.take().unwrap()));
        let errs = forward(Box::new(child.stderr.take().unwrap()));
        Daemon { child, lines, errs }
    }

    /// Waits for a stderr line containing `needle` (the daemon's own log); returns the lines logged before it.
    fn expect_log(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.errs.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return before,
                Ok(l) => before.push(l),
                Err(_) => panic!("no log line containing {needle:?} within {within:?}"),
            }
        }
    }

    /// Waits until the file source has started: a file that exists at start is read from its end, so only lines
    /// appended after this are read.
    fn wait_source_started(&self) {
        self.expect_log("source started", Duration::from_secs(20));
    }

    /// Every stdout line that arrives within `d`.
    fn drain(&self, d: Duration) -> Vec<String> {
        let deadline = Instant::now() + d;
        let mut v = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            v.push(l);
        }
        v
    }

    /// SIGTERM, then the exit summary line (`lines read: N ...`) from stderr. The process having exited does not
    /// mean the forwarding thread has passed on its last lines: read until stderr closes.
    fn terminate_with_summary(self) -> String {
        let errs = self.errs;
        let status = Daemon { child: self.child, lines: self.lines, errs: mpsc::channel().1 }.terminate();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match errs.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.starts_with("lines read:") => return l,
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => panic!("no exit summary before the daemon's stderr closed"),
                Err(RecvTimeoutError::Timeout) => panic!("the daemon's stderr still open 20 s after it exited"),
            }
        }
    }

    /// Waits for a stdout line containing `needle`.
    fn expect_line(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no output line containing {needle:?} within {within:?}"),
            }
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "daemon did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn wait_tcp(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "syslog source never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logger_brute_force_raises_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let acquis = format!(
        "source: syslog\nlisten_addr: 127.0.0.1\nlisten_port: {port}\nprotocol: udp,tcp\nlabels:\n  type: syslog\n"
    );
    let daemon = Daemon::start(&write_config(dir.path(), &acquis));
    wait_tcp(port);
    for (i, proto) in ["--tcp", "--udp", "--tcp", "--udp", "--tcp", "--udp", "--tcp", "--tcp"].iter().enumerate() {
        let msg = format!("Failed password for root from 203.0.113.99 port {} ssh2", 40000 + i);
        let rfc = if i % 2 == 0 { "--rfc3164" } else { "--rfc5424" };
        let st = Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &port.to_string(), proto, rfc, "-t", "sshd", "--id=4242", &msg])
            .status()
            .expect("run logger (util-linux)");
        assert!(st.success());
    }
    let line = daemon.expect_line("correlator/ssh-bruteforce", Duration::from_secs(20));
    assert!(line.contains("203.0.113.99"), "{line}");
    assert!(daemon.terminate().success());
}

#[test]
fn editing_acquis_adds_a_source_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let syslog = format!(
        "source: syslog\nlisten_addr: 127.0.0.1\nlisten_port: {port}\nprotocol: tcp\nlabels:\n  type: syslog\n"
    );
    let daemon = Daemon::start(&write_config(dir.path(), &syslog));
    wait_tcp(port);
    // A log file with a brute force, added as a second source while the daemon runs. A file that exists when
    // its source starts is tailed from its end, so the lines are appended after the reload is seen.
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let acquis = format!("{syslog}---\nfilenames:\n  - {}\nlabels:\n  type: syslog\n", log.display());
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime second
    // Replaced in one step (write + rename), so the daemon's check never sees it empty or half written.
    let tmp = dir.path().join("acquis.yaml.new");
    std::fs::write(&tmp, acquis).unwrap();
    std::fs::rename(&tmp, dir.path().join("acquis.yaml")).unwrap();
    // The daemon checks acquis.yaml every second; "acquisition reloaded" is logged once the new source has started
    // (the file open at its end), so lines written from then on are read.
    daemon.expect_log("acquisition reloaded", Duration::from_secs(20));
    let now = chrono::Local::now().format("%b %e %H:%M:%S").to_string();
    let mut text = String::new();
    for i in 0..8 {
        text.push_str(&format!(
            "{now} host sshd[77]: Failed password for admin from 198.18.0.9 port {} ssh2\n",
            50000 + i
        ));
    }
    std::fs::write(&log, text).unwrap();
    let line = daemon.expect_line("198.18.0.9", Duration::from_secs(20));
    assert!(line.contains("correlator/ssh-bruteforce"), "{line}");
    assert!(daemon.terminate().success());
}

fn failed_logins(ip: &str, n: usize) -> String {
    let now = chrono::Local::now().format("%b %e %H:%M:%S").to_string();
    (0..n)
        .map(|i| {
            format!("{now} host sshd[{}]: Failed password for user{i} from {ip} port {} ssh2\n", 100 + i, 50000 + i)
        })
        .collect()
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn editing_the_stack_applies_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let acquis = format!("filenames:\n  - {}\nlabels:\n  type: syslog\n", log.display());
    let config = write_config(dir.path(), &acquis);
    let base = std::fs::read_to_string(&config).unwrap();
    let with = |scenarios: &str| format!("{base}stack:\n  scenarios: [{scenarios}]\n");
    std::fs::write(&config, with("correlator/ssh-bruteforce, correlator/ssh-user-enum")).unwrap();
    let daemon = Daemon::start(&config);
    daemon.wait_source_started();

    append(&log, &failed_logins("198.18.1.1", 8));
    daemon.expect_line("correlator/ssh-bruteforce Ip 198.18.1.1", Duration::from_secs(20));
    daemon.expect_line("correlator/ssh-user-enum Ip 198.18.1.1", Duration::from_secs(20));

    // Disable the brute-force scenario: its alerts stop, the other scenario goes on.
    std::fs::write(&config, with("correlator/ssh-user-enum")).unwrap();
    daemon.expect_log("pipeline reloaded", Duration::from_secs(20));
    append(&log, &failed_logins("198.18.2.2", 8));
    daemon.expect_line("correlator/ssh-user-enum Ip 198.18.2.2", Duration::from_secs(20));
    let later = daemon.drain(Duration::from_secs(2));
    assert!(!later.iter().any(|l| l.contains("ssh-bruteforce")), "disabled scenario still alerting: {later:?}");

    // An invalid edit is refused; the running stack stays.
    std::fs::write(&config, format!("{}stakc: {{}}\n", with("correlator/ssh-user-enum"))).unwrap();
    daemon.expect_log("configuration not reloaded", Duration::from_secs(20));
    append(&log, &failed_logins("198.18.3.3", 8));
    daemon.expect_line("correlator/ssh-user-enum Ip 198.18.3.3", Duration::from_secs(20));

    // Nothing was lost on the way: every line written was processed.
    let summary = daemon.terminate_with_summary();
    assert!(summary.starts_with("lines read: 24 "), "{summary}");
}

/// Waits until `path` has a line containing `needle`.
fn wait_file_line(path: &Path, needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.contains(needle))) {
            return;
        }
        assert!(Instant::now() < deadline, "no line containing {needle:?} in {} within {within:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn editing_the_listeners_applies_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let acquis = format!("filenames:\n  - {}\nlabels:\n  type: syslog\n", log.display());
    let config = write_config(dir.path(), &acquis);
    let base = std::fs::read_to_string(&config).unwrap();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let with = |enabled: &str| {
        format!(
            "{base}stack:\n  scenarios: [correlator/ssh-bruteforce]\n  listeners: [console, {enabled}]\nlisteners:\n\
             \x20 console: {{type: console}}\n\
             \x20 a: {{type: jsonl, path: {}}}\n\
             \x20 b: {{type: jsonl, path: {}}}\n",
            a.display(),
            b.display()
        )
    };
    std::fs::write(&config, with("a")).unwrap();
    let daemon = Daemon::start(&config);
    daemon.wait_source_started();

    // An edit that moves every line but leaves the listeners as they are rebuilds the pipeline, not the
    // listeners (their queues and rate limits stay).
    std::fs::write(&config, format!("# a comment\n\n{}", with("a"))).unwrap();
    daemon.expect_log("pipeline reloaded", Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<String> = daemon.errs.try_iter().collect();
    assert!(!after.iter().any(|l| l.contains("listeners reloaded")), "listeners restarted: {after:?}");

    append(&log, &failed_logins("198.18.4.4", 8));
    daemon.expect_line("correlator/ssh-bruteforce Ip 198.18.4.4", Duration::from_secs(20));
    wait_file_line(&a, "198.18.4.4", Duration::from_secs(20));

    // Switch file a off and b on: new alerts go to b only; what a received stays.
    std::fs::write(&config, with("b")).unwrap();
    daemon.expect_log("listeners reloaded", Duration::from_secs(20));
    append(&log, &failed_logins("198.18.5.5", 8));
    daemon.expect_line("correlator/ssh-bruteforce Ip 198.18.5.5", Duration::from_secs(20));
    wait_file_line(&b, "198.18.5.5", Duration::from_secs(20));
    let in_a = std::fs::read_to_string(&a).unwrap();
    assert!(in_a.contains("198.18.4.4") && !in_a.contains("198.18.5.5"), "{in_a}");
    let summary = daemon.terminate_with_summary();
    assert!(summary.starts_with("lines read: 16 "), "{summary}");
}

#[test]
fn profile_notifications_route_alerts_to_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(&log, "").unwrap();
    let acquis = format!("filenames:\n  - {}\nlabels:\n  type: syslog\n", log.display());
    let config = write_config(dir.path(), &acquis);
    let profiles = dir.path().join("profiles.yaml");
    // `ban` matches the brute force and names `named`; `never` matches nothing and names `other`.
    std::fs::write(
        &profiles,
        "name: ban\nfilters:\n  - Alert.Remediation == true && Alert.GetScope() == 'Ip'\ndecisions:\n  - type: ban\n\
         \x20   duration: 4h\nnotifications: [named]\non_success: break\n---\nname: never\nfilters: ['false']\n\
         notifications: [other]\n",
    )
    .unwrap();
    let file = |n: &str| dir.path().join(format!("{n}.jsonl"));
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{base}profiles: {}\nstack:\n  scenarios: [correlator/ssh-bruteforce]\nlisteners:\n\
             \x20 console: {{type: console}}\n\
             \x20 named: {{type: jsonl, path: {}}}\n\
             \x20 other: {{type: jsonl, path: {}}}\n\
             \x20 unnamed: {{type: jsonl, path: {}}}\n",
            profiles.display(),
            file("named").display(),
            file("other").display(),
            file("unnamed").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config);
    daemon.wait_source_started();
    append(&log, &failed_logins("198.18.6.6", 8));
    daemon.expect_line("correlator/ssh-bruteforce Ip 198.18.6.6", Duration::from_secs(20));
    // The listener the matching profile names, and the one no profile names, get the alert; the listener only
    // a non-matching profile names does not.
    wait_file_line(&file("named"), "198.18.6.6", Duration::from_secs(20));
    wait_file_line(&file("unnamed"), "198.18.6.6", Duration::from_secs(20));
    let summary = daemon.terminate_with_summary();
    assert!(summary.starts_with("lines read: 8 "), "{summary}");
    let other = std::fs::read_to_string(file("other")).unwrap_or_default();
    assert!(!other.contains("198.18.6.6"), "routed to a listener no matching profile names: {other}");
}
