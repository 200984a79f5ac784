//! Syslog datasource and capture end to end: util-linux `logger` over UDP and TCP, a raw TCP client with
//! octet-counted frames and several concurrent senders, malformed input, and capture → replay.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use correlator::acquisition::capture::{Capture, parse_listen};
use correlator::acquisition::{Manager, ManagerOptions, Record};
use correlator::config::acquis::{self, SourceConfig};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::Receiver;

fn syslog_source(protocol: &str) -> SourceConfig {
    let yaml = format!(
        "source: syslog\nlisten_addr: 127.0.0.1\nlisten_port: 0\nprotocol: {protocol}\nmax_message_len: 512\nlabels:\n  type: syslog\n"
    );
    acquis::load_str(&yaml, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}")).sources.remove(0)
}

async fn start(protocol: &str) -> (Manager, Receiver<Record>, Option<SocketAddr>, Option<SocketAddr>) {
    let (mut m, rx) = Manager::start(vec![syslog_source(protocol)], ManagerOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let info = m.sources();
    let (udp, tcp) = (info[0].udp_addr, info[0].tcp_addr);
    (m, rx, udp, tcp)
}

async fn collect(rx: &mut Receiver<Record>, want: usize, timeout: Duration) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while got.len() < want {
        match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), rx.recv()).await {
            Ok(Some(r)) => got.push(r),
            _ => break,
        }
    }
    got
}

fn logger(port: u16, args: &[&str], msg: &str) {
    let status = Command::new("logger")
        .args(["-n", "127.0.0.1", "-P", &port.to_string()])
        .args(args)
        .arg(msg)
        .status()
        .unwrap_or_else(|e| panic!("util-linux logger is required for this test: {e}"));
    assert!(status.success(), "logger {args:?} failed");
}

/// Whether `path` holds at least `n` lines. A capture flushes its file after each batch it receives, so this is how
/// a test knows everything sent was received before it stops the capture.
fn has_lines(path: &Path, n: usize) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.lines().count() >= n)
}

/// `Mmm d HH:MM:SS host app[pid]: msg` with the given app and message.
fn assert_bsd(line: &str, app: &str, msg: &str) {
    let re = regex::Regex::new(&format!(
        r"^[A-Z][a-z]{{2}} [1-9]\d? \d\d:\d\d:\d\d \S+ {}(\[\d+\])?: {}$",
        regex::escape(app),
        regex::escape(msg)
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(re.is_match(line), "not a rebuilt BSD line for {app}/{msg}: {line:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logger_rfc3164_and_rfc5424_over_udp_and_tcp() {
    let (m, mut rx, udp, tcp) = start("udp,tcp").await;
    let (udp, tcp) = (udp.unwrap_or_else(|| panic!("udp bound")), tcp.unwrap_or_else(|| panic!("tcp bound")));
    let cases: [(&[&str], u16, &str); 5] = [
        (&["--udp", "--rfc3164", "-t", "app3164u", "-i"], udp.port(), "hello udp 3164"),
        (&["--udp", "--rfc5424", "-t", "app5424u"], udp.port(), "hello udp 5424"),
        (&["--tcp", "--rfc3164", "-t", "app3164t"], tcp.port(), "hello tcp 3164"),
        (&["--tcp", "--rfc5424", "-t", "app5424t", "--id=4242"], tcp.port(), "hello tcp 5424"),
        (&["--tcp", "--octet-count", "--rfc5424", "-t", "appoctet"], tcp.port(), "hello octet counted"),
    ];
    for (args, port, msg) in cases {
        let args = args.to_vec();
        tokio::task::spawn_blocking(move || logger(port, &args, msg)).await.unwrap_or_else(|e| panic!("{e}"));
        let got = collect(&mut rx, 1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 1, "nothing received for {msg}");
        let rec = &got[0];
        let app = cases_app(msg);
        assert_bsd(&rec.line.raw, app, msg);
        assert_eq!(rec.line.module(), "syslog");
        assert_eq!(&**rec.line.src(), "127.0.0.1");
        assert_eq!(rec.line.labels().get("type"), Some("syslog"));
        assert!(rec.ack.is_none());
    }
    let snap = m.shutdown(Duration::from_millis(100)).await;
    assert_eq!(snap.uncommitted, 0);
}

fn cases_app(msg: &str) -> &'static str {
    match msg {
        "hello udp 3164" => "app3164u",
        "hello udp 5424" => "app5424u",
        "hello tcp 3164" => "app3164t",
        "hello tcp 5424" => "app5424t",
        _ => "appoctet",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_octet_counting_concurrent_senders_and_malformed_input() {
    let (mut m, mut rx, _, tcp) = start("tcp").await;
    let tcp = tcp.unwrap_or_else(|| panic!("tcp bound"));
    let senders = 4;
    let per_sender = 50;
    let mut tasks = Vec::new();
    for s in 0..senders {
        tasks.push(tokio::spawn(async move {
            let mut conn = tokio::net::TcpStream::connect(tcp).await.unwrap_or_else(|e| panic!("{e}"));
            let mut stream = Vec::new();
            for i in 0..per_sender {
                let msg = format!("<13>1 2026-02-12T14:10:21+01:00 host{s} app - - - message {i} from sender {s}");
                if i % 2 == 0 {
                    stream.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
                } else {
                    stream.extend_from_slice(format!("{msg}\n").as_bytes());
                }
            }
            // Odd-sized writes so frames are split across reads.
            for chunk in stream.chunks(37) {
                conn.write_all(chunk).await.unwrap_or_else(|e| panic!("{e}"));
                tokio::task::yield_now().await;
            }
            conn.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
        }));
    }
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let got = collect(&mut rx, senders * per_sender, Duration::from_secs(10)).await;
    assert_eq!(got.len(), senders * per_sender);
    for s in 0..senders {
        let lines: Vec<&str> =
            got.iter().map(|r| r.line.raw.as_str()).filter(|l| l.contains(&format!("host{s} "))).collect();
        let want: Vec<String> =
            (0..per_sender).map(|i| format!("Feb 12 14:10:21 host{s} app: message {i} from sender {s}")).collect();
        assert_eq!(lines, want, "sender {s}: per-connection order and content");
    }

    // Malformed input is counted and dropped; the connection and the server keep working.
    let mut conn = tokio::net::TcpStream::connect(tcp).await.unwrap_or_else(|e| panic!("{e}"));
    conn.write_all(b"<999>1 garbage\n<13>1 2026-02-12T14:10:21+01:00 h a - - - still fine\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    conn.flush().await.unwrap_or_else(|e| panic!("{e}"));
    let got = collect(&mut rx, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].line.raw, "Feb 12 14:10:21 h a: still fine");
    let snap = m.sources()[0].metrics.snapshot();
    assert_eq!(snap.malformed, 1);
    assert_eq!(snap.lines, (senders * per_sender + 1) as u64);
    m.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_writes_what_the_source_feeds_and_replays_as_a_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("capture.log");
    let listeners = parse_listen("udp://127.0.0.1:0,tcp://127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let capture = Capture::start(listeners, &out, false).await.unwrap_or_else(|e| panic!("{e}"));
    let addrs = capture.addrs().to_vec();
    let udp: SocketAddr = addrs[0].trim_start_matches("udp://").parse().unwrap_or_else(|e| panic!("{e}"));
    let tcp: SocketAddr = addrs[1].trim_start_matches("tcp://").parse().unwrap_or_else(|e| panic!("{e}"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(capture.run(async move {
        let _ = stop_rx.await;
    }));

    let messages = [
        "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick",
        "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
        "<13>Feb  5 17:32:18 10.0.0.99 sshd[77]: Invalid user admin from 1.2.3.4 port 22",
    ];
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    for m in &messages[..2] {
        sock.send_to(m.as_bytes(), udp).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Over TCP: one newline-framed message, then an octet-counted one with an embedded newline that a plain
    // file cannot hold as is.
    let multi = "<13>Feb  5 17:32:19 host app: first\nsecond";
    let mut conn = tokio::net::TcpStream::connect(tcp).await.unwrap_or_else(|e| panic!("{e}"));
    let stream = format!("{}\n{} {multi}", messages[2], multi.len());
    conn.write_all(stream.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    conn.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    // Stop only once the 4 lines (2 UDP, 2 TCP) were received and written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_lines(&out, 4) {
        assert!(Instant::now() < deadline, "the capture did not write 4 lines within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    let n = run.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));

    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(n as usize, lines.len());
    let expect_udp = [
        "Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick".to_string(),
        "Aug 24 05:14:15 192.0.2.1 myproc[8710]: %% It's time to make the do-nuts.".to_string(),
        "Feb 5 17:32:18 10.0.0.99 sshd[77]: Invalid user admin from 1.2.3.4 port 22".to_string(),
    ];
    for e in &expect_udp {
        assert!(lines.contains(&e.as_str()), "{e:?} not in {lines:?}");
    }
    assert!(lines.contains(&"Feb 5 17:32:19 host app: first#012second"), "{lines:?}");

    // Replay: the capture read back as an ordinary file gives the same lines.
    let labels = [("type", "syslog")].into_iter().collect();
    let src = SourceConfig::cat_files(vec![out.display().to_string()], labels);
    let (mut mgr, mut rx) =
        Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    mgr.seal();
    let mut replayed = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        replayed.push(r.line.raw);
    }
    assert_eq!(replayed, lines);
}

#[test]
fn capture_command_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("cap.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_correlator"))
        .args(["capture", "--listen", "udp://127.0.0.1:0", "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    // The first stderr line names the bound address.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap_or_else(|| panic!("stderr")));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut first).unwrap_or_else(|e| panic!("{e}"));
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("udp://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let port: u16 = addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{addr}"));
    for i in 0..5 {
        logger(port, &["--udp", "--rfc3164", "-t", "cap"], &format!("captured {i}"));
    }
    // Stop only once the 5 lines were received and written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !has_lines(&out, 5) {
        assert!(Instant::now() < deadline, "the capture did not write 5 lines within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let status = child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success(), "capture exited with {status}");
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_bsd(l, "cap", &format!("captured {i}"));
    }
}
