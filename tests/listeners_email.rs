//! E-mail listener end to end: `correlator replay --listeners` on the sample auth log sends through a real SMTP
//! server on loopback — Python's `aiosmtpd` storing messages in a Maildir (`pip install aiosmtpd`; CI installs it
//! from `.ci/python-requirements.txt`) — and the messages are read back with Python's `email` package: subjects
//! from the template, the default text body with the log lines, the escaped HTML part, and the rate limit.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The SMTP sink; killed when dropped.
struct Smtpd {
    child: Child,
    port: u16,
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtpd(maildir: &Path) -> Smtpd {
    let probe = Command::new("python3").args(["-c", "import aiosmtpd"]).output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "this test needs python3 with aiosmtpd (pip install aiosmtpd, or -r .ci/python-requirements.txt)"
    );
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let s = Smtpd { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start listening on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// Every message of the Maildir, parsed by Python's `email` package.
fn read_maildir(maildir: &Path) -> Vec<Value> {
    let script = r#"
import email, email.policy, json, mailbox, sys
for key, m in mailbox.Maildir(sys.argv[1], factory=None, create=False).items():
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=('plain',))
    html = msg.get_body(preferencelist=('html',))
    print(json.dumps({
        'subject': str(msg['subject']), 'from': str(msg['from']), 'to': str(msg['to']),
        'text': text.get_content() if text else None, 'html': html.get_content() if html else None,
    }))
"#;
    let out = Command::new("python3").args(["-c", script]).arg(maildir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn mails_through_a_real_smtp_server() {
    let d = tempfile::tempdir().unwrap();
    let maildir = d.path().join("maildir");
    let smtpd = start_smtpd(&maildir);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let common =
        format!("    type: email\n    host: 127.0.0.1\n    port: {}\n    tls: none\n    timeout: 10s\n", smtpd.port);
    let cfg = format!(
        "paths:\n  hub: {hub}\n  state: {state}\nstack:\n  listeners: [mail, limited]\nlisteners:\n\
         \x20 mail:\n{common}    from: Correlator <correlator@example.org>\n    to: [all@example.org]\n    \
         min_severity: warning\n    rate_limit: {{max: 0}}\n    subject: \"{{{{ severity | upper }}}} {{{{ summary }}}}\"\n    \
         html_body: \"<p>{{{{ message }}}}</p><pre>{{{{ records | join('\\n') }}}}</pre>\"\n\
         \x20 limited:\n{common}    from: correlator@example.org\n    to: [few@example.org, more@example.org]\n    \
         min_severity: warning\n    rate_limit: {{max: 3, per: 1h}}\n",
        hub = root.join("hub").display(),
        state = d.path().join("state").display(),
    );
    std::fs::write(d.path().join("config.yaml"), cfg).unwrap();
    let out = Command::new(common::bin())
        .args(["replay", "--type", "syslog", "--year", "2026", "--format", "json", "--listeners", "--config"])
        .arg(d.path().join("config.yaml"))
        .arg(root.join("samples/auth.log"))
        .env("CORRELATOR_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|a| a["severity"] != "notice")
        .collect();
    let n = alerts.len();
    assert!(n >= 5, "{n}");

    let mails = read_maildir(&maildir);
    let (all, few): (Vec<&Value>, Vec<&Value>) = mails.iter().partition(|m| m["to"] == "all@example.org");
    assert_eq!(all.len(), n, "one mail per warning alert");
    assert_eq!(few.len(), 3, "the rate limit lets three through");
    assert!(stderr.contains(&format!("limited: 3 sent, {} rate-limited", n - 3)), "{stderr}");
    assert!(stderr.contains(&format!("mail: {n} sent")), "{stderr}");

    let mut expected: Vec<String> = alerts
        .iter()
        .map(|a| format!("{} {}", a["severity"].as_str().unwrap().to_uppercase(), a["summary"].as_str().unwrap()))
        .collect();
    let mut got: Vec<String> = all.iter().map(|m| m["subject"].as_str().unwrap().to_string()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    for m in &all {
        assert_eq!(m["from"], "Correlator <correlator@example.org>");
        let subject = m["subject"].as_str().unwrap();
        // Default text body: summary, data block, the log lines.
        let text = m["text"].as_str().unwrap();
        // Several alerts share a summary (the same attacker again later): the time tells them apart.
        let a = alerts
            .iter()
            .find(|a| {
                subject.ends_with(a["summary"].as_str().unwrap())
                    && text.contains(&format!("\ntime: {}\n", a["stop_at"].as_str().unwrap()))
            })
            .expect("an alert for every mail");
        assert!(text.starts_with(a["summary"].as_str().unwrap()), "{text}");
        assert!(text.contains(&format!("source_ip={}", a["source_ip"].as_str().unwrap())), "{text}");
        let raws: Vec<&str> = a["events"].as_array().unwrap().iter().map(|e| e["raw"].as_str().unwrap()).collect();
        let listed: Vec<&str> =
            text.split_once("\nlog lines:\n").unwrap().1.lines().map(|l| l.strip_prefix("  ").unwrap()).collect();
        assert_eq!(listed, raws);
        // HTML part from the template, values escaped (CrowdSec's message quotes the scenario name).
        let html = m["html"].as_str().unwrap();
        assert!(html.starts_with("<p>") && html.contains("&#x27;"), "{html}");
        assert!(!html.contains(&format!("'{}'", a["scenario"].as_str().unwrap())), "{html}");
    }
    for m in &few {
        assert_eq!(m["to"], "few@example.org, more@example.org");
        assert!(m["html"].is_null(), "no html_body: a single text part");
        assert!(m["subject"].as_str().unwrap().starts_with("[correlator] warning: "), "{}", m["subject"]);
    }
}
