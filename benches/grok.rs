//! Per-line cost of grok matching on the shared benchmark logs (`$CORRELATOR_SHARED/bench`).
//!
//! Run: `cargo bench --bench grok`. Each benchmark processes a whole batch of sample lines per iteration; criterion
//! reports the batch time and the throughput in lines/s (time per line = batch time / lines).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use common::hub::{compile_hub, parser_files};
use correlator::grok::{CompiledGrok, GrokSet, PatternLibrary};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn lines(file: &str) -> Vec<String> {
    let path = common::shared_dir().join("bench").join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(String::from)
        .collect()
}

/// Counts the semantics of every successful match (so the optimizer cannot drop the work).
fn run(g: &CompiledGrok, inputs: &[String]) -> usize {
    inputs.iter().filter_map(|l| g.captures(l)).map(|c| c.iter().map(|(_, v)| v.len()).sum::<usize>()).sum()
}

fn bench(c: &mut Criterion) {
    let shared = common::shared_dir();
    let mut lib = PatternLibrary::new();
    lib.load_dir(&shared.join("hubtests/patterns")).expect("pattern files");
    let (hub, _, _, errors) = compile_hub(&mut lib, &parser_files(&shared.join("hubtests/hub"), "parsers"));
    assert!(errors.is_empty(), "{errors:?}");
    let auth = lines("auth.sample.log");
    let access = lines("access.sample.log");

    let syslog = lib.compile("^%{SYSLOGLINE}").unwrap();
    let combined = lib.compile("%{COMBINEDAPACHELOG}").unwrap();
    let nginx = hub
        .iter()
        .find(|h| h.file.ends_with("nginx-logs.yaml") && h.grok.source().contains("NGCUSTOMUSER"))
        .expect("nginx-logs access node")
        .grok
        .clone();
    let sshd: Vec<CompiledGrok> = hub
        .iter()
        .filter(|h| h.file.ends_with("sshd-logs.yaml") && h.apply_on == "message")
        .map(|h| h.grok.clone())
        .collect();
    assert_eq!(sshd.len(), 16, "sshd-logs children");
    let sshd_set = GrokSet::new(sshd.clone()).unwrap();
    // The sshd stage sees the syslog `message` of sshd lines (its filter is on the program).
    let messages: Vec<String> = auth
        .iter()
        .filter_map(|l| syslog.captures(l))
        .filter(|c| c.get("program").as_deref() == Some("sshd"))
        .map(|c| c.get("message").unwrap_or_default().into_owned())
        .collect();

    let mut g = c.benchmark_group("grok");
    g.sample_size(20).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(auth.len() as u64));
    g.bench_function("syslogline_auth", |b| b.iter(|| run(&syslog, black_box(&auth))));
    // The same search without splitting off the trailing `%{GREEDYDATA:message}` (what `captures` did before).
    assert!(syslog.splits_tail());
    g.bench_function("syslogline_auth_unsplit", |b| {
        b.iter(|| {
            black_box(&auth)
                .iter()
                .filter_map(|l| syslog.captures_reference(l))
                .map(|c| c.iter().map(|(_, v)| v.len()).sum::<usize>())
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Elements(access.len() as u64));
    g.bench_function("combinedapachelog_access", |b| b.iter(|| run(&combined, black_box(&access))));
    g.bench_function("nginx_logs_access_node", |b| b.iter(|| run(&nginx, black_box(&access))));
    // What `CompiledGrok::captures` would save by reusing capture slots instead of allocating them per call.
    let raw = correlator::gocompat::regex::builder(combined.regex_str()).build().unwrap();
    g.bench_function("combinedapachelog_fresh_locations", |b| {
        b.iter(|| {
            black_box(&access)
                .iter()
                .filter(|l| {
                    let mut locs = raw.capture_locations();
                    raw.captures_read(&mut locs, l.as_bytes()).is_some()
                })
                .count()
        })
    });
    g.bench_function("combinedapachelog_reused_locations", |b| {
        let mut locs = raw.capture_locations();
        b.iter(|| black_box(&access).iter().filter(|l| raw.captures_read(&mut locs, l.as_bytes()).is_some()).count())
    });
    g.bench_function("combinedapachelog_is_match_only", |b| {
        b.iter(|| black_box(&access).iter().filter(|l| combined.is_match(l)).count())
    });

    // A crafted request: unterminated quoted user agent (catastrophic for backtracking engines on QUOTEDSTRING).
    g.throughput(Throughput::Elements(1));
    for n in [2_000usize, 100_000] {
        let line = format!(r#"1.2.3.4 - - [02/Mar/2026:00:00:05 +0000] "GET / HTTP/1.1" 200 1 "-" "{}"#, "a".repeat(n));
        g.bench_function(format!("combinedapachelog_hostile_ua_{n}"), |b| {
            b.iter(|| combined.captures(black_box(&line)).is_some())
        });
    }

    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("sshd_stage_sequential", |b| {
        b.iter(|| {
            black_box(&messages)
                .iter()
                .filter_map(|m| sshd.iter().enumerate().find_map(|(i, g)| g.captures(m).map(|c| i + c.len())))
                .sum::<usize>()
        })
    });
    g.bench_function("sshd_stage_grokset", |b| {
        b.iter(|| {
            black_box(&messages).iter().filter_map(|m| sshd_set.first_match(m).map(|(i, c)| i + c.len())).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
