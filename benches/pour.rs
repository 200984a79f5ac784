//! Cost of pouring one event into the buckets, and memory per live bucket instance.
//!
//! Run: `cargo bench --bench pour`. The scenario is the shape of `crowdsecurity/ssh-bf` (leaky, groupby on the
//! source IP, filter on `evt.Meta.log_type`), compiled from YAML through the real scenario compiler. Before the
//! criterion groups, it prints the memory that 1,000,000 live instances take (peak RSS growth / instances).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use correlator::config::yaml::{ConfigErrors, Located, from_documents};
use correlator::event::{Event, ExpectMode, FieldKey, Line, LineOrigin, field_key, format_rfc3339};
use correlator::expr::Services;
use correlator::scenario::compile::{Scenario, ScenarioCompiler};
use correlator::scenario::manager::{Buckets, COMPACT_FROM};
use correlator::scenario::spec::ScenarioSpec;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const SCENARIO: &str = r#"
type: leaky
name: bench/ssh-bf
description: "ssh-bf shape: 6 failures from one IP within the leak window"
filter: "evt.Meta.log_type == 'ssh_failed-auth'"
groupby: evt.Meta.source_ip
capacity: 5
leakspeed: 10s
blackhole: 1m
labels:
  remediation: true
"#;

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn buckets(yaml: &str) -> Buckets {
    let services = Arc::new(Services::new());
    let (mut errors, mut warnings) = (ConfigErrors::default(), Vec::new());
    let docs = from_documents::<Located<ScenarioSpec>>(Path::new("bench.yaml"), yaml).expect("scenario YAML");
    let mut c = ScenarioCompiler {
        services: Arc::clone(&services),
        data_dir: Path::new("."),
        errors: &mut errors,
        warnings: &mut warnings,
    };
    let v: Vec<Scenario> = docs.iter().flatten().filter_map(|d| c.compile(Path::new("bench.yaml"), d)).collect();
    assert!(errors.is_empty(), "{errors}");
    Buckets::new(Arc::new(v), services)
}

/// A parsed sshd failure as the parsers leave it: built the way the pipeline builds it (`Event::from_line`, which
/// reserves map room for parsing), with its raw line, Meta and Parsed filled, stage and log time set. Field names
/// are interned `FieldKey`s (`field_key`), as compiled parsers insert them (an event does not own its key strings).
fn event(millis: i64, ip: &str, log_type: &str) -> Event {
    static KEYS: std::sync::LazyLock<Vec<FieldKey>> = std::sync::LazyLock::new(|| {
        [
            "log_type",
            "service",
            "source_ip",
            "target_user",
            "machine",
            "datasource_type",
            "sshd_client_ip",
            "sshd_invalid_user",
            "program",
            "pid",
        ]
        .into_iter()
        .map(field_key)
        .collect()
    });
    let t = chrono::DateTime::from_timestamp_millis(T0 * 1000 + millis).unwrap().fixed_offset();
    let raw =
        format!("Jan  1 00:00:00 web-1 sshd[4242]: Failed password for invalid user root from {ip} port 4242 ssh2");
    // What acquisition shares between the lines of one source (path, module, labels), shared here too.
    static SOURCE: std::sync::LazyLock<Arc<LineOrigin>> =
        std::sync::LazyLock::new(|| LineOrigin::new("/var/log/auth.log", "file", Default::default()));
    let line = Line::new(raw, &SOURCE, t);
    let mut evt = Event::from_line(line, ExpectMode::TimeMachine);
    for (i, v) in [log_type, "ssh", ip, "root", "web-1", "file"].into_iter().enumerate() {
        evt.meta.insert_key(&KEYS[i], v);
    }
    for (i, v) in [ip, "root", "sshd", "4242"].into_iter().enumerate() {
        evt.parsed.insert_key(&KEYS[6 + i], v);
    }
    evt.stage = field_key("s02-enrich");
    evt.str_time = "Jan  1 00:00:00".into();
    evt.marshaled_time = format_rfc3339(&t).into();
    evt.time = Some(t);
    evt
}

fn ip(i: u32) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// The system allocator, counting the bytes currently allocated: memory per instance without the noise of RSS
/// (allocator caching, freed pages kept).
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.load(Ordering::Relaxed)
}

/// 1,000,000 distinct source IPs, one event each, 1 ms apart: every instance stays live (nothing leaks out or
/// expires within 1,000 s of log time with a 1 h leak), each holding the one event it was poured.
fn memory_per_instance() {
    const N: u32 = 1_000_000;
    // Same scenario with a leak slower than the run, so no instance empties before the count.
    let mut b = buckets(&SCENARIO.replace("leakspeed: 10s", "leakspeed: 1h"));
    let now = chrono::Utc::now().fixed_offset();
    let mut out = Vec::new();
    println!(
        "sizes: Event {} B, Instance {} B, Line {} B",
        std::mem::size_of::<Event>(),
        std::mem::size_of::<correlator::scenario::instance::Instance>(),
        std::mem::size_of::<Line>()
    );
    let before = allocated();
    for i in 0..N {
        b.pour(event(i as i64, &ip(i), "ssh_failed-auth"), now, &mut out);
    }
    let buckets_bytes = allocated() - before;
    let live = b.live_instances(0);
    assert_eq!(live, N as usize, "every instance must still be live");
    drop(b);
    // The same events alone, to tell the bucket's own cost from the event each instance holds.
    let base = allocated();
    // Compacted as the buckets compact an event they keep: once that many instances are live.
    let events: Vec<Arc<Event>> = (0..N)
        .map(|i| {
            let mut e = event(i as i64, &ip(i), "ssh_failed-auth");
            if i as usize >= COMPACT_FROM {
                e.compact();
            }
            Arc::new(e)
        })
        .collect();
    let event_bytes = allocated() - base - events.capacity() * std::mem::size_of::<Arc<Event>>();
    drop(events);
    let per = |bytes: usize| bytes as f64 / N as f64;
    println!(
        "memory: {live} live instances allocate {:.0} MiB = {:.0} bytes per instance: the event it holds {:.0}, \
         the bucket itself {:.0}",
        buckets_bytes as f64 / (1024.0 * 1024.0),
        per(buckets_bytes),
        per(event_bytes),
        per(buckets_bytes) - per(event_bytes),
    );
}

fn bench(c: &mut Criterion) {
    memory_per_instance();
    let now = chrono::Utc::now().fixed_offset();
    let mut g = c.benchmark_group("pour");
    g.throughput(Throughput::Elements(1));

    // 1,000 attackers in turn, one attempt per 100 ms of log time: existing buckets, regular overflows.
    let ips: Vec<String> = (0..1000).map(ip).collect();
    let mut b = buckets(SCENARIO);
    let mut out = Vec::new();
    let mut n = 0i64;
    g.bench_function("into_existing_bucket", |bch| {
        bch.iter_batched(
            || {
                n += 1;
                event(n * 100, &ips[(n % 1000) as usize], "ssh_failed-auth")
            },
            |e| {
                b.pour(e, now, &mut out);
                out.clear();
            },
            criterion::BatchSize::SmallInput,
        )
    });

    // An event no scenario wants: the filter's guard rejects it with one lookup.
    let mut b = buckets(SCENARIO);
    let e = event(0, "10.0.0.1", "ssh_success-auth");
    g.bench_function("filtered_out", |bch| {
        bch.iter_batched(|| e.clone(), |e| black_box(b.pour(e, now, &mut out)), criterion::BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
