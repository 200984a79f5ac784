//! A `correlator run` daemon for the local API tests: its own configuration in a temporary directory, the API on
//! a free loopback port (read back from the daemon's log), helpers to run the CLI on the same store and Python
//! snippets against the API.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub addr: String,
    child: Child,
    pub log: mpsc::Receiver<String>,
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails with a clear message when Python or a module the test needs is missing (`.ci/run` installs them from
/// `.ci/python-requirements.txt`).
pub fn require_python_modules(modules: &[&str]) {
    for m in modules {
        let ok = Command::new("python3").args(["-c", &format!("import {m}")]).status().map(|s| s.success());
        assert!(
            matches!(ok, Ok(true)),
            "python3 with the module {m:?} is required (pip install -r .ci/python-requirements.txt)"
        );
    }
}

impl Daemon {
    /// Starts the daemon replaying `samples/auth.log` (cat mode, time-machine) beside a followed empty file that
    /// keeps it running. `api_extra` is appended to the `api:` section (indented two spaces).
    pub fn start(api_extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        let r = repo();
        std::fs::write(d.join("keep.log"), "").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            d.join("acquis.yaml"),
            format!(
                "filenames: [{}]\nmode: cat\nlabels: {{type: syslog}}\n---\nfilenames: [{}]\nlabels: {{type: syslog}}\n",
                r.join("samples/auth.log").display(),
                d.join("keep.log").display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = d.join("config.yaml");
        std::fs::write(
            &config,
            format!(
                "paths:\n  hub: {hub}\n  patterns: [{hub}/patterns]\n  data: {hub}/data\n  state: {state}\n\
                 acquisition: {acq}\nprofiles: {profiles}\nparsing:\n  year: 2026\n\
                 api:\n  enabled: true\n  listen: 127.0.0.1:0\n{api_extra}",
                hub = r.join("hub").display(),
                state = d.join("state").display(),
                acq = d.join("acquis.yaml").display(),
                profiles = r.join("config/profiles.yaml").display(),
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(super::bin())
            .args(["--log-level", "warn,correlator::api=info", "run", "--quiet", "-c"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start correlator run: {e}"));
        let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let line = log
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("the daemon did not report its API address"));
            if let Some(i) = line.find("listening on ") {
                let url = &line[i + "listening on ".len()..];
                break url.trim_start_matches("http://").trim_start_matches("https://").trim().to_string();
            }
        };
        Daemon { dir, config, addr, child, log }
    }

    /// Runs `correlator ARGS -c <config>`; panics unless it succeeds; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(super::bin())
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "correlator {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Values of the active decisions, from `correlator decisions list -o json`.
    pub fn decision_values(&self) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(&self.cli(&["decisions", "list", "-o", "json"]))
            .unwrap_or_else(|e| panic!("decisions list JSON: {e}"));
        let mut out: Vec<String> = v
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["value"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// Waits until the replay has produced decisions for every value of `expected` and the set has stopped
    /// changing (one second without a new value).
    pub fn wait_for_decisions(&self, expected: &[String]) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut previous: Option<Vec<String>> = None;
        loop {
            let have = self.decision_values();
            if expected.iter().all(|e| have.contains(e)) {
                if previous.as_ref() == Some(&have) {
                    return have;
                }
                previous = Some(have);
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            assert!(Instant::now() < deadline, "decisions for {expected:?} never appeared (have {have:?})");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A new bouncer's API key.
    pub fn add_bouncer(&self, name: &str) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&self.cli(&["bouncers", "add", name, "-o", "json"])).unwrap_or_else(|e| panic!("{e}"));
        v["api_key"].as_str().unwrap_or_else(|| panic!("no key in {v}")).to_string()
    }

    /// Stops the daemon with SIGTERM and checks it exits cleanly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let st = Command::new("kill").args(["-TERM", &pid]).status().unwrap_or_else(|e| panic!("{e}"));
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap_or_else(|e| panic!("{e}")) {
                assert!(st.success(), "the daemon exited with {st}");
                return;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Attack IPs of `samples/truth.tsv` with the given behaviour.
pub fn truth(behaviour: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("samples/truth.tsv")).unwrap_or_else(|e| panic!("{e}"));
    let mut v: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[0] == "auth.log" && f[2] == behaviour).then(|| f[1].to_string())
        })
        .collect();
    v.sort();
    v
}

/// A long-running Python process reading commands on stdin and answering one JSON line each.
pub struct PyDriver {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl PyDriver {
    pub fn start(script: &Path, args: &[&str]) -> PyDriver {
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("python3: {e}"));
        let out = BufReader::new(child.stdout.take().unwrap_or_else(|| panic!("stdout")));
        PyDriver { child, out }
    }

    pub fn ask(&mut self, cmd: &str) -> serde_json::Value {
        let stdin = self.child.stdin.as_mut().unwrap_or_else(|| panic!("stdin"));
        writeln!(stdin, "{cmd}").unwrap_or_else(|e| panic!("{e}"));
        stdin.flush().unwrap_or_else(|e| panic!("{e}"));
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver answer {line:?}: {e}"))
    }
}

impl Drop for PyDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python snippet; returns its stdout parsed as JSON.
pub fn python_json(code: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3").arg("-c").arg(code).args(args).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("python output {:?}: {e}", String::from_utf8_lossy(&out.stdout)))
}
