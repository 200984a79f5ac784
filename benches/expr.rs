//! Expression evaluation benchmarks (see docs/performance.md for figures and the exact command).
//!
//! * `filter_eq_and`: the typical scenario filter on a realistic event (Meta 10, Parsed 18, Enriched 8).
//! * `any_file_contains_*`: `any(File(x), {evt.Parsed.request contains #})` over a 500-line list, compiled into one
//!   Aho-Corasick automaton, against the same loop with the specialisation defeated (`let f = 'x'; File(f)`).

use std::hint::black_box;
use std::sync::Arc;

use correlator::event::Event;
use correlator::expr::{CompileEnv, DataKind, Scope, Services, compile};
use criterion::{Criterion, criterion_group, criterion_main};

fn event() -> Event {
    let mut e = Event::default();
    for (k, v) in [
        ("log_type", "ssh_failed-auth"),
        ("service", "ssh"),
        ("source_ip", "192.168.1.10"),
        ("target_user", "root"),
        ("machine", "host1"),
        ("datasource_path", "/var/log/auth.log"),
        ("datasource_type", "file"),
        ("http_status", "404"),
        ("http_path", "/admin"),
        ("timestamp", "2026-02-12T14:10:21Z"),
    ] {
        e.meta.insert(k, v);
    }
    for i in 0..16 {
        e.parsed.insert(&format!("field_{i:02}"), format!("value number {i}"));
    }
    e.parsed.insert("program", "sshd");
    e.parsed.insert("request", "/index.php?page=home&lang=en&session=abcdef0123456789");
    for i in 0..8 {
        e.enriched.insert(&format!("enrich_{i}"), format!("e{i}"));
    }
    e
}

fn bench(c: &mut Criterion) {
    let services = Arc::new(Services::new());
    // 500 realistic-looking paths, none of which occurs in the request (the worst case: no early exit).
    let lines: Vec<String> = (0..500).map(|i| format!("/vendor/pkg{i}/backdoor_{i}.php")).collect();
    services.data.load_text("paths.txt", DataKind::String, &lines.join("\n")).unwrap();
    let env = CompileEnv::for_event(services.clone());
    let evt = event();

    let filter = compile("evt.Meta.log_type == 'ssh_failed-auth' and evt.Meta.service == 'ssh'", &env).unwrap();
    c.bench_function("filter_eq_and", |b| {
        b.iter(|| {
            let mut scope = Scope::new(&services).with_evt(black_box(&evt));
            black_box(filter.eval_bool(&mut scope).unwrap())
        })
    });

    let generic = compile("let m = evt.Meta; m.log_type == 'ssh_failed-auth' and m.service == 'ssh'", &env).unwrap();
    c.bench_function("filter_eq_and_generic_path", |b| {
        b.iter(|| {
            let mut scope = Scope::new(&services).with_evt(black_box(&evt));
            black_box(generic.eval_bool(&mut scope).unwrap())
        })
    });

    let fast = compile("any(File('paths.txt'), {evt.Parsed.request contains #})", &env).unwrap();
    let slow = compile("let f = 'paths.txt'; any(File(f), {evt.Parsed.request contains #})", &env).unwrap();
    assert_eq!(
        fast.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap(),
        slow.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap()
    );
    c.bench_function("any_file_contains_precompiled_500", |b| {
        b.iter(|| {
            let mut scope = Scope::new(&services).with_evt(black_box(&evt));
            black_box(fast.eval_bool(&mut scope).unwrap())
        })
    });
    c.bench_function("any_file_contains_naive_loop_500", |b| {
        b.iter(|| {
            let mut scope = Scope::new(&services).with_evt(black_box(&evt));
            black_box(slow.eval_bool(&mut scope).unwrap())
        })
    });

    let set = compile(
        "evt.Meta.http_path in ['/a', '/b', '/c', '/d', '/e', '/f', '/g', '/h', '/admin'] && evt.Meta.http_path matches '^/adm'",
        &env,
    )
    .unwrap();
    c.bench_function("in_const_set_and_matches", |b| {
        b.iter(|| {
            let mut scope = Scope::new(&services).with_evt(black_box(&evt));
            black_box(set.eval_bool(&mut scope).unwrap())
        })
    });

    c.bench_function("compile_typical_filter", |b| {
        b.iter(|| black_box(compile(black_box("evt.Meta.log_type in ['ssh_failed-auth', 'ssh_invalid-user'] and not IsIPV6(evt.Meta.source_ip)"), &env).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
