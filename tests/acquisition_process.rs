//! `command` datasource: a program's stdout as a log, restarted when it dies in tail mode, finished in cat mode.

use std::path::Path;
use std::time::{Duration, Instant};

use correlator::acquisition::{Manager, ManagerOptions};
use correlator::config::acquis;

fn source(yaml: &str) -> acquis::SourceConfig {
    acquis::load_str(yaml, Path::new("t.yaml")).unwrap_or_else(|e| panic!("{e}")).sources.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_in_cat_mode_ends_with_the_program() {
    let src = source("source: command\ncommand: [printf, 'one\\r\\n\\ntwo\\nthree']\nmode: cat\nlabels: {type: app}\n");
    let (mut m, mut rx) = Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    m.seal();
    let mut got = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        assert_eq!(r.line.module(), "command");
        assert_eq!(&**r.line.src(), "printf one\\r\\n\\ntwo\\nthree");
        got.push(r.line.raw);
    }
    assert_eq!(got, ["one", "two", "three"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_that_dies_is_restarted_in_tail_mode() {
    // No shell is involved unless the user asks for one: here the program is sh itself.
    let src =
        source("source: command\ncommand: [sh, -c, 'echo started; echo oops >&2; exit 3']\nlabels: {type: app}\n");
    let (m, mut rx) = Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(r)) => got.push(r.line.raw),
            _ => break,
        }
    }
    assert_eq!(got, ["started", "started"], "the program ran twice");
    assert!(t0.elapsed() >= Duration::from_millis(900), "restart waits for the backoff");
    m.shutdown(Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_does_not_stop_the_daemon() {
    let src = source("source: command\ncommand: [/nonexistent/program]\nlabels: {type: app}\n");
    let (mut m, _rx) = Manager::start(vec![src], ManagerOptions::default()).await.unwrap_or_else(|e| panic!("{e}"));
    // The failed spawn is counted as soon as the source's task has run; wait for it rather than guess how long.
    let deadline = Instant::now() + Duration::from_secs(5);
    let info = loop {
        let info = m.sources();
        if info[0].metrics.snapshot().errors >= 1 || Instant::now() >= deadline {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let errors = info[0].metrics.snapshot().errors;
    assert!(errors >= 1, "the failed spawn was not counted within 5 s");
    assert!(!info[0].finished, "retrying in the background");
    m.shutdown(Duration::from_millis(100)).await;
}
