//! File datasource end to end through the library API: rotation while writing, restart from saved positions,
//! reload adding a source, gzip in cat mode.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use correlator::acquisition::{Manager, ManagerOptions, Record};
use correlator::config::acquis::{self, SourceConfig};
use correlator::event::ExpectMode;
use tokio::sync::mpsc::Receiver;

fn tail_source(pattern: &Path, ty: &str) -> SourceConfig {
    let yaml = format!("filename: {}\nlabels:\n  type: {ty}\n", pattern.display());
    let mut c = acquis::load_str(&yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}"));
    c.sources.remove(0)
}

fn line(i: usize) -> String {
    format!("line {i:06} some payload to make the line a bit longer")
}

/// Receives records (committing each) until `want` lines arrived or `timeout`; returns line → count.
async fn collect(rx: &mut Receiver<Record>, want: usize, timeout: Duration) -> (Vec<String>, Vec<Record>) {
    collect_counting(rx, want, timeout, &AtomicUsize::new(0)).await
}

/// [`collect`], publishing in `seen` how many lines arrived so far.
async fn collect_counting(
    rx: &mut Receiver<Record>,
    want: usize,
    timeout: Duration,
    seen: &AtomicUsize,
) -> (Vec<String>, Vec<Record>) {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut kept = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(mut rec)) => {
                got.push(rec.line.raw.clone());
                rec.commit();
                kept.push(rec);
                seen.store(got.len(), Ordering::Release);
            }
            Ok(None) | Err(_) => break,
        }
    }
    (got, kept)
}

fn counts(lines: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

fn assert_exactly_once(got: &[String], n: usize) {
    let c = counts(got);
    let missing: Vec<usize> = (0..n).filter(|i| !c.contains_key(line(*i).as_str())).collect();
    let dups: Vec<(&&str, &usize)> = c.iter().filter(|(_, k)| **k > 1).collect();
    assert!(missing.is_empty(), "{} lines missing, first {:?}", missing.len(), &missing[..missing.len().min(10)]);
    assert!(dups.is_empty(), "duplicated lines: {:?}", &dups[..dups.len().min(10)]);
    assert_eq!(got.len(), n, "unexpected extra lines");
}

#[derive(Clone, Copy, Debug)]
enum Rotation {
    Rename,
    CopyTruncate,
    DeleteRecreate,
}

/// Writes `n` lines to `path`, rotating every `every` lines, cycling through the rotation kinds.
///
/// One rotation at a time: before each rotation the writer waits (`seen`, the lines the tailer delivered) until the
/// tailer has read the first line of the current file, i.e. has followed the previous rotation. Without that, a
/// starved tailer may sleep through two rotations, and no tailer can find lines in a file that was both created
/// and rotated away between two of its looks (nor copy-truncated before it read a byte of it). The rest of the
/// current file may still be unread when it rotates: finishing it is what the test checks.
fn writer(path: PathBuf, n: usize, every: usize, seen: Arc<AtomicUsize>) {
    let open = |p: &Path| OpenOptions::new().create(true).append(true).open(p).unwrap_or_else(|e| panic!("{e}"));
    let mut f = open(&path);
    let kinds = [Rotation::Rename, Rotation::CopyTruncate, Rotation::DeleteRecreate];
    let mut rotations = 0;
    // Index of the first line written to the current file.
    let mut generation_start = 0;
    for i in 0..n {
        // Partial writes on purpose: the tailer must hold half lines until their newline arrives.
        let l = line(i);
        let (a, b) = l.split_at(l.len() / 2);
        f.write_all(a.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        if i % 7 == 0 {
            f.flush().unwrap_or_else(|e| panic!("{e}"));
            std::thread::sleep(Duration::from_micros(200));
        }
        f.write_all(b.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"\n").unwrap_or_else(|e| panic!("{e}"));
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        if i > 0 && i % every == 0 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while seen.load(Ordering::Acquire) <= generation_start {
                assert!(
                    Instant::now() < deadline,
                    "rotation {rotations}: line {generation_start} (first of the current file) not delivered within 30 s"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            generation_start = i + 1;
            let rotated = path.with_extension(format!("log.{rotations}"));
            match kinds[rotations % kinds.len()] {
                Rotation::Rename => {
                    std::fs::rename(&path, &rotated).unwrap_or_else(|e| panic!("{e}"));
                    f = open(&path);
                }
                Rotation::CopyTruncate => {
                    std::fs::copy(&path, &rotated).unwrap_or_else(|e| panic!("{e}"));
                    f.set_len(0).unwrap_or_else(|e| panic!("{e}"));
                }
                Rotation::DeleteRecreate => {
                    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
                    f = open(&path);
                }
            }
            rotations += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_copytruncate_and_recreate_loses_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("app.log");
    File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = ManagerOptions { channel_capacity: 64, ..ManagerOptions::default() };
    let (manager, mut rx) =
        Manager::start(vec![tail_source(&path, "app")], opts).await.unwrap_or_else(|e| panic!("{e}"));
    // Let the tailer open the (empty) file before writing starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = 4000;
    let seen = Arc::new(AtomicUsize::new(0));
    let w = std::thread::spawn({
        let path = path.clone();
        let seen = Arc::clone(&seen);
        move || writer(path, n, 450, seen)
    });
    let (got, recs) = collect_counting(&mut rx, n, Duration::from_secs(60), &seen).await;
    w.join().unwrap_or_else(|_| panic!("writer panicked"));
    // Nothing more may arrive (no duplicates after the last line).
    let (extra, _) = collect(&mut rx, 1, Duration::from_millis(1200)).await;
    assert!(extra.is_empty(), "extra lines: {extra:?}");
    assert_exactly_once(&got, n);
    assert!(recs.iter().all(|r| r.line.module() == "file" && r.line.labels().get("type") == Some("app")));
    assert!(recs.iter().all(|r| r.expect_mode == ExpectMode::Live));
    // Lines arrive in write order.
    let order: Vec<String> = (0..n).map(line).collect();
    assert_eq!(got, order);
    let report = manager.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.uncommitted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_committed_positions() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("app.log");
    let state = dir.path().join("state/positions.json");
    File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    let opts = ManagerOptions { channel_capacity: 16, state_file: Some(state.clone()), ..ManagerOptions::default() };

    let (mut manager, mut rx) =
        Manager::start(vec![tail_source(&path, "app")], opts.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = 3000;
    {
        let mut f = OpenOptions::new().append(true).open(&path).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..n {
            writeln!(f, "{}", line(i)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // Take 700 records, commit only the first 500: the other 200 are "in flight" when the daemon stops.
    let mut first = Vec::new();
    let mut in_flight = Vec::new();
    while first.len() + in_flight.len() < 700 {
        let Ok(Some(rec)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await else {
            panic!("records stopped after {}", first.len() + in_flight.len())
        };
        if first.len() < 500 {
            let mut rec = rec;
            first.push(rec.line.raw.clone());
            rec.commit();
        } else {
            in_flight.push(rec);
        }
    }
    manager.stop_reading().await;
    // What was queued in the channel is dropped uncommitted too (a crash would lose it the same way).
    let mut queued = 0;
    while rx.recv().await.is_some() {
        queued += 1;
    }
    let report = manager.shutdown(Duration::from_millis(200)).await;
    assert_eq!(report.uncommitted, 200 + queued, "{report:?}");
    assert!(report.save_error.is_none(), "{report:?}");
    drop(in_flight);
    let saved = std::fs::read_to_string(&state).unwrap_or_else(|e| panic!("{e}"));
    assert!(saved.contains("\"offset\""), "{saved}");

    // A new process: resumes after the 500th line, not from the end and not from the start.
    let (manager, mut rx) =
        Manager::start(vec![tail_source(&path, "app")], opts).await.unwrap_or_else(|e| panic!("{e}"));
    let (rest, _) = collect(&mut rx, n - 500, Duration::from_secs(30)).await;
    let (extra, _) = collect(&mut rx, 1, Duration::from_millis(800)).await;
    assert!(extra.is_empty(), "extra lines: {extra:?}");
    let mut all = first;
    all.extend(rest);
    assert_exactly_once(&all, n);
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_a_source_and_keeps_the_running_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    File::create(&a).unwrap_or_else(|e| panic!("{e}"));
    let src_a = tail_source(&a, "alpha");
    let (mut manager, mut rx) =
        Manager::start(vec![src_a.clone()], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fa = OpenOptions::new().append(true).open(&a).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..100 {
        writeln!(fa, "{}", line(i)).unwrap_or_else(|e| panic!("{e}"));
    }
    let (got_a1, _) = collect(&mut rx, 100, Duration::from_secs(10)).await;
    assert_eq!(got_a1.len(), 100);

    // The new configuration: the same source for a.log (declared elsewhere) plus one for b.log (glob).
    let mut src_a_moved = src_a.clone();
    src_a_moved.origin.line = 42;
    let src_b = tail_source(&dir.path().join("b*.log"), "beta");
    let report = manager.reload(vec![src_a_moved, src_b]).await;
    assert_eq!((report.kept, report.stopped, report.started), (1, 0, 1), "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");

    for i in 100..200 {
        writeln!(fa, "{}", line(i)).unwrap_or_else(|e| panic!("{e}"));
    }
    // b.log appears after the reload: read from its start.
    let mut fb = File::create(&b).unwrap_or_else(|e| panic!("{e}"));
    for i in 0..50 {
        writeln!(fb, "b {i}").unwrap_or_else(|e| panic!("{e}"));
    }
    let (got, recs) = collect(&mut rx, 150, Duration::from_secs(10)).await;
    let from_b: Vec<&Record> = recs.iter().filter(|r| r.line.labels().get("type") == Some("beta")).collect();
    assert_eq!(from_b.len(), 50, "{got:?}");
    assert!(from_b.iter().all(|r| r.line.src().ends_with("b.log")));
    let mut a_lines = got_a1;
    a_lines.extend(recs.iter().filter(|r| r.line.labels().get("type") == Some("alpha")).map(|r| r.line.raw.clone()));
    assert_exactly_once(&a_lines, 200);

    // Removing a source stops it: b.log lines written afterwards are not read.
    let report = manager.reload(vec![src_a]).await;
    assert_eq!((report.kept, report.stopped, report.started), (1, 1, 0), "{report:?}");
    writeln!(fb, "after removal").unwrap_or_else(|e| panic!("{e}"));
    writeln!(fa, "{}", line(200)).unwrap_or_else(|e| panic!("{e}"));
    let (got, _) = collect(&mut rx, 2, Duration::from_secs(2)).await;
    assert_eq!(got, [line(200)]);
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cat_mode_reads_gzip_and_plain_files_once_then_ends() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let f = File::create(dir.path().join("old.log.gz")).unwrap_or_else(|e| panic!("{e}"));
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        for i in 0..1000 {
            write!(gz, "{}\r\n", line(i)).unwrap_or_else(|e| panic!("{e}"));
        }
        // The last line has no newline: it is still read.
        write!(gz, "{}", line(1000)).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(dir.path().join("new.log"), format!("{}\n\n{}\n", line(1001), line(1002)))
        .unwrap_or_else(|e| panic!("{e}"));
    let dsn = format!("file://{}/*?log_level=info", dir.path().display());
    let labels = [("type", "app")].into_iter().collect();
    let src = acquis::from_file_dsn(&dsn, labels).unwrap_or_else(|e| panic!("{e}"));
    let (mut manager, mut rx) =
        Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    manager.seal();
    let mut recs = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        recs.push(r);
    }
    // Path order: new.log, then old.log.gz.
    let got: Vec<String> = recs.iter().map(|r| r.line.raw.clone()).collect();
    let mut want = vec![line(1001), line(1002)];
    want.extend((0..=1000).map(line));
    assert_eq!(got, want);
    assert!(recs.iter().all(|r| r.expect_mode == ExpectMode::TimeMachine && r.ack.is_none()));
    let info = manager.sources();
    assert_eq!(info[0].metrics.snapshot().lines, 1003);
    assert!(info[0].finished);
    // Asking again, then shutting down, must not wait a second time on the finished source (it used to panic).
    assert!(manager.sources()[0].finished);
    manager.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_are_tailed_from_the_end_and_long_lines_are_capped() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("app.log");
    std::fs::write(&path, "old line 1\nold line 2\n").unwrap_or_else(|e| panic!("{e}"));
    let yaml = format!(
        "filename: {}\nmax_buffer_size: 100\npoll_without_inotify: true\nlabels: {{type: app}}\n",
        path.display()
    );
    let src = acquis::load_str(&yaml, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}")).sources.remove(0);
    let (mut manager, mut rx) =
        Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut f = OpenOptions::new().append(true).open(&path).unwrap_or_else(|e| panic!("{e}"));
    writeln!(f, "new line").unwrap_or_else(|e| panic!("{e}"));
    writeln!(f, "{}", "x".repeat(1000)).unwrap_or_else(|e| panic!("{e}"));
    write!(f, "held until its newline").unwrap_or_else(|e| panic!("{e}"));
    let (got, _) = collect(&mut rx, 3, Duration::from_secs(3)).await;
    assert_eq!(got, ["new line".to_string(), "x".repeat(100)]);
    writeln!(f, " arrives").unwrap_or_else(|e| panic!("{e}"));
    let (got, _) = collect(&mut rx, 1, Duration::from_secs(3)).await;
    assert_eq!(got, ["held until its newline arrives"]);
    assert_eq!(manager.sources()[0].metrics.snapshot().truncated, 1);
    manager.shutdown(Duration::from_secs(1)).await;
}
