//! Edge cases of every bucket type, through the real path: scenario YAML → compiler → `Buckets` → overflow events.

use std::path::Path;
use std::sync::Arc;

use crate::config::yaml::ConfigErrors;
use crate::event::{Event, ExpectMode, FieldMap, Line, format_rfc3339};
use crate::expr::Services;

use super::compile::{AfterGuard, Scenario, ScenarioCompiler};
use super::manager::Buckets;
use super::spec::ScenarioSpec;

const T0: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub(super) fn scenarios(yaml: &str) -> (Arc<Vec<Scenario>>, Arc<Services>) {
    let services = Arc::new(Services::new());
    let mut errors = ConfigErrors::default();
    let mut warnings = Vec::new();
    let docs =
        crate::config::yaml::from_documents::<crate::config::yaml::Located<ScenarioSpec>>(Path::new("test.yaml"), yaml)
            .unwrap();
    let mut c = ScenarioCompiler {
        services: Arc::clone(&services),
        data_dir: Path::new("."),
        errors: &mut errors,
        warnings: &mut warnings,
    };
    let v: Vec<Scenario> = docs.iter().flatten().filter_map(|d| c.compile(Path::new("test.yaml"), d)).collect();
    assert!(errors.is_empty(), "{errors}");
    (Arc::new(v), services)
}

fn event(secs: i64, meta: &[(&str, &str)]) -> Event {
    let t = chrono::DateTime::from_timestamp(T0 + secs, 0).unwrap().fixed_offset();
    let mut m = FieldMap::new();
    for (k, v) in meta {
        m.insert(k, *v);
    }
    Event {
        line: Line::new(
            "",
            &crate::event::LineOrigin::new("test.log", "file", Default::default()),
            crate::event::zero_time(),
        ),
        meta: m,
        marshaled_time: format_rfc3339(&t).into(),
        time: Some(t),
        expect_mode: ExpectMode::TimeMachine,
        ..Event::default()
    }
}

/// Pours `(seconds, meta)` events in order; returns the overflows as (scenario, value, events_count, stop second).
fn run(yaml: &str, events: &[(i64, Vec<(&str, &str)>)]) -> Vec<(String, String, i64, i64)> {
    let (sc, services) = scenarios(yaml);
    let mut b = Buckets::new(sc, services);
    let mut out = Vec::new();
    let now = chrono::Utc::now().fixed_offset();
    for (t, meta) in events {
        b.pour(event(*t, meta), now, &mut out);
    }
    out.iter()
        .map(|e| {
            let o = e.overflow().unwrap();
            let stop = chrono::DateTime::parse_from_rfc3339(&o.alert.stop_at).unwrap().timestamp() - T0;
            (o.alert.scenario.clone(), o.alert.value().to_string(), o.alert.events_count, stop)
        })
        .collect()
}

fn ip(ip: &str) -> Vec<(&str, &str)> {
    vec![("source_ip", ip), ("log_type", "fail")]
}

const LEAKY: &str = "type: leaky\nname: t/leaky\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: 3\nleakspeed: 10s\n";

#[test]
fn leaky_exactly_capacity_does_not_overflow_and_capacity_plus_one_does() {
    let three: Vec<_> = (0..3).map(|i| (i, ip("1.2.3.4"))).collect();
    assert!(run(LEAKY, &three).is_empty());
    let four: Vec<_> = (0..4).map(|i| (i, ip("1.2.3.4"))).collect();
    assert_eq!(run(LEAKY, &four), vec![("t/leaky".into(), "1.2.3.4".into(), 4, 3)]);
}

#[test]
fn leaky_leaks_between_bursts_and_keys_are_independent() {
    // 3 events, a 10 s pause leaks one token, 1 more fits; a further event at once overflows.
    let ev = vec![(0, ip("1.1.1.1")), (0, ip("1.1.1.1")), (0, ip("1.1.1.1")), (10, ip("1.1.1.1")), (10, ip("2.2.2.2"))];
    assert!(run(LEAKY, &ev).is_empty());
    let mut ev2 = ev.clone();
    ev2.push((10, ip("1.1.1.1")));
    assert_eq!(run(LEAKY, &ev2), vec![("t/leaky".into(), "1.1.1.1".into(), 5, 10)]);
}

#[test]
fn leaky_instance_expires_after_capacity_plus_one_leakspeeds() {
    // Idle for more than (3+1)*10 s: a fresh instance, so events_count restarts.
    let mut ev: Vec<_> = (0..3).map(|i| (i, ip("1.1.1.1"))).collect();
    ev.extend((100..104).map(|i| (i, ip("1.1.1.1"))));
    assert_eq!(run(LEAKY, &ev), vec![("t/leaky".into(), "1.1.1.1".into(), 4, 103)]);
}

#[test]
fn distinct_counts_each_value_once() {
    let yaml = format!("{LEAKY}distinct: evt.Meta.user\n");
    let ev = |t, u| (t, vec![("source_ip", "9.9.9.9"), ("log_type", "fail"), ("user", u)]);
    let same: Vec<_> = (0..10).map(|i| ev(i, "root")).collect();
    assert!(run(&yaml, &same).is_empty());
    let varied = vec![ev(0, "a"), ev(0, "b"), ev(0, "a"), ev(0, "c"), ev(0, "d")];
    assert_eq!(run(&yaml, &varied), vec![("t/leaky".into(), "9.9.9.9".into(), 4, 0)]);
}

#[test]
fn blackhole_suppresses_overflows_within_its_window() {
    let yaml = format!("{LEAKY}blackhole: 1m\n");
    // Overflow at t=3; the instance restarts; a second burst at t=10 would overflow at t=13 (blackholed);
    // a third at t=100 overflows again (window over).
    let mut ev: Vec<_> = (0..4).map(|i| (i, ip("1.1.1.1"))).collect();
    ev.extend((10..14).map(|i| (i, ip("1.1.1.1"))));
    ev.extend((100..104).map(|i| (i, ip("1.1.1.1"))));
    let got: Vec<i64> = run(&yaml, &ev).into_iter().map(|o| o.3).collect();
    assert_eq!(got, vec![3, 103]);
}

#[test]
fn a_filter_that_writes_to_the_event_invalidates_the_memoised_values() {
    // The first scenario reads Upper(evt.Meta.log_type) (memoised), then a second rewrites log_type; the third must
    // see the new value, not the memoised one.
    let yaml = "type: trigger\nname: t/a\ndescription: d\nfilter: Upper(evt.Meta.log_type) == 'FAIL'\n---\n\
type: trigger\nname: t/b\ndescription: d\nfilter: evt.SetMeta('log_type', 'other') && false\n---\n\
type: trigger\nname: t/c\ndescription: d\nfilter: Upper(evt.Meta.log_type) == 'OTHER'\n";
    let got: Vec<String> = run(yaml, &[(0, ip("1.1.1.1"))]).into_iter().map(|(s, ..)| s).collect();
    assert_eq!(got, ["t/a", "t/c"]);
}

#[test]
fn buckets_that_took_the_event_before_a_filter_wrote_to_it_keep_what_they_saw() {
    // t/a keeps the first event, t/b rewrites log_type, t/c takes the rewritten event. Pours are gathered and made
    // after the filters, but a filter that writes must not change what the buckets before it were given.
    let yaml = "type: leaky\nname: t/a\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: 1\nleakspeed: 1m\n---\n\
type: trigger\nname: t/b\ndescription: d\nfilter: evt.SetMeta('log_type', 'other') && false\n---\n\
type: trigger\nname: t/c\ndescription: d\nfilter: evt.Meta.log_type == 'other'\n";
    let (sc, services) = scenarios(yaml);
    let mut b = Buckets::new(sc, services);
    let (mut out, now) = (Vec::new(), chrono::Utc::now().fixed_offset());
    for t in 0..2 {
        b.pour(event(t, &ip("1.1.1.1")), now, &mut out);
    }
    let got: Vec<(&str, &str, usize)> = out
        .iter()
        .map(|e| {
            let a = &e.overflow().unwrap().alert;
            (a.scenario.as_str(), e.get_meta("log_type"), a.events.len())
        })
        .collect();
    assert_eq!(got, [("t/c", "other", 1), ("t/a", "fail", 2), ("t/c", "other", 1)]);
}

#[test]
fn events_kept_past_the_compaction_threshold_read_the_same_in_alerts() {
    // Enough distinct sources that the last ones' events are compacted before their buckets keep them; one source
    // below the threshold and one above overflow, and their alerts carry every field of both events.
    let yaml = "type: leaky\nname: t/bf\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: 1\nleakspeed: 1h\n";
    let (sc, services) = scenarios(yaml);
    let mut b = Buckets::new(sc, services);
    let (mut out, now) = (Vec::new(), chrono::Utc::now().fixed_offset());
    let n = super::manager::COMPACT_FROM as u32 + 10;
    let addr = |i: u32| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
    let meta = |a: &str| vec![("source_ip", a.to_string()), ("log_type", "fail".into()), ("user", format!("u-{a}"))];
    for i in 0..n {
        let m = meta(&addr(i));
        b.pour(event(0, &m.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()), now, &mut out);
    }
    assert!(out.is_empty());
    for i in [0, n - 1] {
        let m = meta(&addr(i));
        b.pour(event(1, &m.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()), now, &mut out);
    }
    let got: Vec<Vec<Vec<(String, String)>>> = out
        .iter()
        .map(|o| {
            let a = &o.overflow().unwrap().alert;
            a.events.iter().map(|e| e.meta.iter().map(|m| (m.key.clone(), m.value.clone())).collect()).collect()
        })
        .collect();
    let want = |i: u32| {
        let mut m: Vec<(String, String)> = meta(&addr(i)).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        m.sort();
        vec![m.clone(), m]
    };
    assert_eq!(got, [want(0), want(n - 1)]);
}

#[test]
fn an_exact_guard_leaves_only_the_conjuncts_after_it() {
    let yaml = "type: trigger\nname: t/only\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n---\n\
type: trigger\nname: t/rest\ndescription: d\nfilter: evt.Meta.log_type in ['x', 'fail'] && evt.Meta.source_ip startsWith '1.'\n---\n\
type: trigger\nname: t/error\ndescription: d\nfilter: evt.Meta.log_type == 'fail' && evt.Meta.source_ip matches evt.Meta.log_type + '('\n";
    let (sc, _) = scenarios(yaml);
    assert!(matches!(sc[0].after_guard, Some(AfterGuard::Nothing)));
    let rest = match &sc[1].after_guard {
        Some(AfterGuard::Rest(p)) => Some(p.source()),
        _ => None,
    };
    assert_eq!(rest, Some("(evt.Meta.source_ip startsWith '1.')"));
    let got: Vec<(String, String)> = run(
        yaml,
        &[(0, ip("1.1.1.1")), (1, ip("2.2.2.2")), (2, vec![("source_ip", "1.2.3.4"), ("log_type", "other")])],
    )
    .into_iter()
    .map(|(s, v, ..)| (s, v))
    .collect();
    // t/error's remaining conjunct fails at run time (an invalid regex): no overflow, as when the whole filter is
    // evaluated.
    let want = [("t/only", "1.1.1.1"), ("t/rest", "1.1.1.1"), ("t/only", "2.2.2.2")];
    assert_eq!(got, want.map(|(s, v)| (s.to_string(), v.to_string())));
}

#[test]
fn a_filter_that_writes_to_the_event_invalidates_the_guard_verdicts() {
    // t/a and t/c share a guard, checked once per event; t/b rewrites log_type in between, so t/c must check again.
    let yaml = "type: trigger\nname: t/a\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n---\n\
type: trigger\nname: t/b\ndescription: d\nfilter: evt.SetMeta('log_type', 'other') && false\n---\n\
type: trigger\nname: t/c\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n---\n\
type: trigger\nname: t/d\ndescription: d\nfilter: evt.Meta.log_type == 'other'\n";
    let got: Vec<String> = run(yaml, &[(0, ip("1.1.1.1"))]).into_iter().map(|(s, ..)| s).collect();
    assert_eq!(got, ["t/a", "t/d"]);
}

#[test]
fn trigger_overflows_on_every_event() {
    let yaml = "type: trigger\nname: t/trig\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\n";
    let ev = vec![(0, ip("1.1.1.1")), (5, ip("1.1.1.1"))];
    assert_eq!(run(yaml, &ev).len(), 2);
}

#[test]
fn counter_reports_after_its_duration_with_the_count() {
    let yaml = "type: counter\nname: t/count\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: -1\nduration: 1m\n";
    let mut ev: Vec<_> = (0..5).map(|i| (i * 10, ip("1.1.1.1"))).collect();
    // Nothing is reported before the minute has passed on the log clock...
    assert!(run(yaml, &ev).is_empty());
    // ...and an event after it makes the counter report what it counted (5 events), at first + 1m.
    ev.push((61, ip("5.5.5.5")));
    assert_eq!(run(yaml, &ev), vec![("t/count".into(), "1.1.1.1".into(), 5, 60)]);
}

#[test]
fn conditional_overflows_when_its_condition_holds() {
    let yaml = "type: conditional\nname: t/cond\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: -1\nleakspeed: 1h\n\
condition: len(queue.Queue) >= 3 && queue.Queue[-1].Meta.user == 'root'\n";
    let ev = |t, u| (t, vec![("source_ip", "7.7.7.7"), ("log_type", "fail"), ("user", u)]);
    assert!(run(yaml, &[ev(0, "root"), ev(1, "root"), ev(2, "bob")]).is_empty());
    assert_eq!(run(yaml, &[ev(0, "a"), ev(1, "b"), ev(2, "root")]), vec![("t/cond".into(), "7.7.7.7".into(), 3, 2)]);
}

#[test]
fn cancel_on_kills_the_instance_silently() {
    let yaml = format!("{LEAKY}cancel_on: evt.Meta.user == 'ok'\n");
    let mut ev: Vec<_> = (0..3).map(|i| (i, ip("1.1.1.1"))).collect();
    ev.push((3, vec![("source_ip", "1.1.1.1"), ("log_type", "fail"), ("user", "ok")]));
    // The cancel resets the bucket: 3 more events do not overflow.
    ev.extend((4..7).map(|i| (i, ip("1.1.1.1"))));
    assert!(run(&yaml, &ev).is_empty());
}

#[test]
fn bayesian_overflows_past_its_threshold_and_guillotine_sticks() {
    let yaml = [
        "type: bayesian",
        "name: t/bayes",
        "description: d",
        "filter: evt.Meta.log_type == 'fail'",
        "groupby: evt.Meta.source_ip",
        "capacity: -1",
        "leakspeed: 1h",
        "bayesian_prior: 0.1",
        "bayesian_threshold: 0.8",
        "bayesian_conditions:",
        "  - condition: evt.Meta.user == 'root'",
        "    prob_given_evil: 0.9",
        "    prob_given_benign: 0.1",
        "    guillotine: true",
        "  - condition: len(queue.Queue) >= 3",
        "    prob_given_evil: 0.9",
        "    prob_given_benign: 0.1",
    ]
    .join("\n");
    let yaml = yaml.as_str();
    let ev = |t, u| (t, vec![("source_ip", "8.8.8.8"), ("log_type", "fail"), ("user", u)]);
    // "root" once sets the guillotine, so the first condition keeps counting as true; with the queue at 3 the
    // posterior reaches 0.9 > 0.8. Without "root" it stays far below.
    let got = run(yaml, &[ev(0, "root"), ev(1, "bob"), ev(2, "bob")]);
    assert_eq!(got, vec![("t/bayes".into(), "8.8.8.8".into(), 3, 2)]);
    assert!(run(yaml, &[ev(0, "bob"), ev(1, "bob"), ev(2, "bob")]).is_empty());
}

#[test]
fn overflow_filter_can_discard() {
    let yaml = format!("{LEAKY}overflow_filter: len(queue.Queue) > 100\n");
    let ev: Vec<_> = (0..4).map(|i| (i, ip("1.2.3.4"))).collect();
    assert!(run(&yaml, &ev).is_empty());
}

#[test]
fn events_without_a_date_are_not_poured_in_replay() {
    let (sc, services) = scenarios(LEAKY);
    let mut b = Buckets::new(sc, services);
    let mut out = Vec::new();
    for _ in 0..10 {
        let mut e = event(0, &ip("1.2.3.4"));
        e.marshaled_time.clear();
        b.pour(e, chrono::Utc::now().fixed_offset(), &mut out);
    }
    assert!(out.is_empty());
}

/// The errors of compiling the scenario documents of `yaml` (read as file `s.yaml`), one string each, sorted.
fn compile_errors(yaml: &str) -> Vec<String> {
    let services = Arc::new(Services::new());
    let mut errors = ConfigErrors::default();
    let mut warnings = Vec::new();
    let docs = match crate::config::yaml::from_documents::<crate::config::yaml::Located<ScenarioSpec>>(
        Path::new("s.yaml"),
        yaml,
    ) {
        Ok(d) => d,
        Err(e) => return vec![e.to_string()],
    };
    let mut c = ScenarioCompiler { services, data_dir: Path::new("."), errors: &mut errors, warnings: &mut warnings };
    for d in docs.iter().flatten() {
        assert!(c.compile(Path::new("s.yaml"), d).is_none(), "a scenario with errors compiles to nothing");
    }
    // In file order, as lint prints them.
    let mut errs: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
    errs.sort();
    errs
}

#[test]
fn invalid_scenarios_are_rejected_with_the_field() {
    let yaml = "type: leaky\nname: t/bad\ndescription: d\nfilter: 'true'\ncapacity: 0\nleakspeed: 10x\n";
    // Each at its own field, and a bad leakspeed is not also reported as a missing one.
    assert_eq!(
        compile_errors(yaml),
        [
            "s.yaml:5:11: scenario t/bad: bad capacity for leaky '0': must be > 0",
            "s.yaml:6:12: scenario t/bad: leakspeed: unknown unit \"x\" in duration \"10x\"",
        ]
    );
}

#[test]
fn plain_value_errors_point_at_their_field() {
    let head = "name: t/x\ndescription: d\nfilter: 'true'\n";
    let cases: [(&str, &[&str]); 5] = [
        (
            "type: counter\ncapacity: 3\nduration: 0s\nblackhole: 1y\n",
            &[
                "s.yaml:5:11: scenario t/x: counter bucket must have -1 capacity",
                "s.yaml:6:11: scenario t/x: counter needs a duration",
                "s.yaml:7:12: scenario t/x: blackhole: unknown unit \"y\" in duration \"1y\"",
            ],
        ),
        (
            "type: trigger\nevery: 1m\nseverity: loud\nscope:\n  type: Country\n",
            &[
                "s.yaml:5:8: scenario t/x: every is only for counter scenarios",
                "s.yaml:6:11: scenario t/x: severity \"loud\": expected notice, warning or error",
                "s.yaml:8:3: scenario t/x: scope Country needs an expression",
            ],
        ),
        (
            "type: bayesian\ncapacity: -1\nleakspeed: 1m\nbayesian_prior: 2\nbayesian_threshold: 0.5\n\
             bayesian_conditions:\n  - condition: 'true'\n",
            &["s.yaml:7:17: scenario t/x: bayesian_prior must be in (0, 1]"],
        ),
        // A type error is the YAML reader's, with the key it is about.
        ("type: leaky\ncapacity: abc\nleakspeed: 1s\n", &["s.yaml:5:11: capacity: invalid i64 (expected an integer)"]),
        (
            "type: nope\n",
            &["s.yaml:4:7: scenario t/x: unknown type \"nope\" (leaky, trigger, counter, conditional, bayesian)"],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(compile_errors(&format!("{head}{body}")), want, "{body}");
    }
}

#[test]
fn same_input_gives_the_same_alerts() {
    let ev: Vec<_> = (0..50).map(|i| (i / 3, ip(if i % 2 == 0 { "1.1.1.1" } else { "2.2.2.2" }))).collect();
    assert_eq!(run(LEAKY, &ev), run(LEAKY, &ev));
}

#[test]
fn saved_state_survives_a_restart() {
    let (sc, services) = scenarios(LEAKY);
    let now = chrono::Utc::now().fixed_offset();
    let mut out = Vec::new();
    let mut b = Buckets::new(Arc::clone(&sc), Arc::clone(&services));
    for i in 0..3 {
        b.pour(event(i, &ip("1.2.3.4")), now, &mut out);
    }
    let json = serde_json::to_string(&b.snapshot()).unwrap();
    // A new process: the half-full bucket comes back, and the next event overflows it.
    let mut b2 = Buckets::new(sc, services);
    assert_eq!(b2.restore(serde_json::from_str(&json).unwrap()), 1);
    b2.pour(event(3, &ip("1.2.3.4")), now, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].overflow().unwrap().alert.events_count, 4);
}

#[test]
fn periodic_counter_reports_at_period_boundaries() {
    let yaml = "type: counter\nname: t/every\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
capacity: -1\nevery: 1m\n";
    // T0 is a whole minute: events at +30s and +50s report at +60s; the one at +70s belongs to the next minute.
    let ev = vec![(30, ip("1.1.1.1")), (50, ip("1.1.1.1")), (70, ip("1.1.1.1")), (125, ip("1.1.1.1"))];
    let got: Vec<(i64, i64)> = run(yaml, &ev).into_iter().map(|o| (o.2, o.3)).collect();
    assert_eq!(got, vec![(2, 60), (1, 120)]);
}

#[test]
fn a_reload_keeps_buckets_of_unchanged_scenarios_only() {
    let other = "type: leaky\nname: t/other\ndescription: d\nfilter: evt.Meta.log_type == 'fail'\n\
groupby: evt.Meta.source_ip\ncapacity: 3\nleakspeed: 10s\n";
    let (sc, services) = scenarios(&format!("{LEAKY}---\n{other}"));
    let now = chrono::Utc::now().fixed_offset();
    let mut out = Vec::new();
    let mut b = Buckets::new(sc, Arc::clone(&services));
    for i in 0..3 {
        b.pour(event(i, &ip("1.2.3.4")), now, &mut out);
    }
    // The new configuration changes t/other's capacity and keeps t/leaky as it was.
    let (sc2, _) = scenarios(&format!("{LEAKY}---\n{}", other.replace("capacity: 3", "capacity: 30")));
    let mut b2 = Buckets::new(sc2, services);
    assert_eq!(b.transfer_to(&mut b2), 1);
    b2.pour(event(3, &ip("1.2.3.4")), now, &mut out);
    let names: Vec<String> = out.iter().map(|e| e.overflow().unwrap().alert.scenario.clone()).collect();
    assert_eq!(names, vec!["t/leaky".to_string()]);
}

#[test]
fn debug_scenarios_trace_pours_overflows_and_expiries_at_the_default_level() {
    let yaml = format!("{LEAKY}debug: true\n---\n{}", LEAKY.replace("t/leaky", "t/quiet"));
    let text = crate::itemdebug::tests::logged("warn", || {
        let mut ev: Vec<_> = (0..4).map(|i| (i, ip("1.2.3.4"))).collect();
        ev.push((10, ip("5.5.5.5")));
        // Far later on the log clock: the 5.5.5.5 instance has expired and is collected.
        ev.push((500, ip("9.9.9.9")));
        assert_eq!(run(&yaml, &ev).len(), 2, "one overflow per scenario");
    });
    let lines: Vec<&str> = text.lines().collect();
    let has = |words: &[&str]| lines.iter().any(|l| words.iter().all(|w| l.contains(w)));
    assert!(has(&["correlator::debug", "pour", "t/leaky", "key=1.2.3.4", "count=3", "kept"]), "{text}");
    assert!(has(&["pour", "key=1.2.3.4", "count=4", "overflow"]), "{text}");
    assert!(has(&["debug: overflow scenario=t/leaky", "key=1.2.3.4", "count=4"]), "{text}");
    assert!(has(&["debug: expired scenario=t/leaky", "key=5.5.5.5", "count=1"]), "{text}");
    assert!(!text.contains("t/quiet"), "only the scenario marked debug is traced: {text}");
}

#[test]
fn saved_state_keeps_blackhole_windows() {
    let yaml = format!("{LEAKY}blackhole: 1m\n");
    let (sc, services) = scenarios(&yaml);
    let now = chrono::Utc::now().fixed_offset();
    let mut out = Vec::new();
    let mut b = Buckets::new(Arc::clone(&sc), Arc::clone(&services));
    for i in 0..4 {
        b.pour(event(i, &ip("1.2.3.4")), now, &mut out);
    }
    assert_eq!(out.len(), 1, "the first burst overflows and opens the window");
    let json = serde_json::to_string(&b.snapshot()).unwrap();
    // After a restart, a second burst inside the minute is still blackholed; one after it is not.
    let mut b2 = Buckets::new(Arc::clone(&sc), Arc::clone(&services));
    b2.restore(serde_json::from_str(&json).unwrap());
    for i in 10..14 {
        b2.pour(event(i, &ip("1.2.3.4")), now, &mut out);
    }
    assert_eq!(out.len(), 1, "blackholed after the restart: {json}");
    assert_eq!(sc[0].stats.blackholed.load(std::sync::atomic::Ordering::Relaxed), 1);
    for i in 100..104 {
        b2.pour(event(i, &ip("1.2.3.4")), now, &mut out);
    }
    assert_eq!(out.len(), 2);
    // State saved before blackholes were (no `blackholes` key) still restores its instances.
    let old = r#"[{"name":"t/leaky","instances":[]}]"#;
    let mut b3 = Buckets::new(sc, services);
    assert_eq!(b3.restore(serde_json::from_str(old).unwrap()), 0);
}

#[test]
fn runtime_errors_are_counted_per_scenario() {
    use std::sync::atomic::Ordering::Relaxed;
    let errors_of = |yaml: &str, events: &[(i64, Vec<(&str, &str)>)]| {
        let (sc, services) = scenarios(yaml);
        let mut b = Buckets::new(Arc::clone(&sc), services);
        let mut out = Vec::new();
        for (t, meta) in events {
            b.pour(event(*t, meta), chrono::Utc::now().fixed_offset(), &mut out);
        }
        sc.iter().map(|s| s.stats.errors.load(Relaxed)).collect::<Vec<u64>>()
    };
    let two: Vec<_> = (0..2).map(|i| (i, ip("1.2.3.4"))).collect();
    // filter: int("1.2.3.4") fails on every event.
    let bad_filter = LEAKY.replace("filter: evt.Meta.log_type == 'fail'", "filter: int(evt.Meta.source_ip) > 0");
    assert_eq!(errors_of(&bad_filter, &two), [2]);
    // groupby giving a number instead of a string.
    let bad_groupby = LEAKY.replace("groupby: evt.Meta.source_ip", "groupby: len(evt.Meta.source_ip)");
    assert_eq!(errors_of(&bad_groupby, &two), [2]);
    // overflow_filter failing on the one overflow.
    let bad_ovf = format!("{LEAKY}overflow_filter: int(queue.Queue[0].Meta.source_ip) > 0\n");
    let four: Vec<_> = (0..4).map(|i| (i, ip("1.2.3.4"))).collect();
    assert_eq!(errors_of(&bad_ovf, &four), [1]);
    assert_eq!(errors_of(LEAKY, &four), [0]);
}

#[test]
fn required_literals_admit_exactly_the_events_whose_filters_can_be_true() {
    // Trigger scenarios: each overflow names the scenario and the source of the event that passed its filter.
    let doc = |name: &str, filter: &str| {
        format!("type: trigger\nname: t/{name}\ndescription: d\nfilter: \"{filter}\"\ngroupby: evt.Meta.source_ip\n")
    };
    let yaml = [
        doc("upper", "Upper(evt.Meta.p) contains Upper('/adm') && evt.Meta.v == 'GET'"),
        doc("regex", "evt.Meta.t == 'x' and evt.Meta.p matches '^/(a|b)c'"),
        doc("either", "Lower(evt.Meta.p) endsWith '.php' or evt.Meta.q startsWith 'id='"),
        doc("writes", "evt.Meta.p contains 'w' && evt.SetMeta('p', '/W2') && false"),
        doc("after", "Upper(evt.Meta.p) contains 'W2'"),
    ]
    .join("---\n");
    let (sc, _) = scenarios(&yaml);
    assert!(sc.iter().all(|s| s.needs.is_some()), "every filter here has required literals");
    let evts: Vec<(i64, Vec<(&str, &str)>)> = vec![
        (0, vec![("source_ip", "10.0.0.1"), ("p", "/ADMIN"), ("v", "GET")]),
        (1, vec![("source_ip", "10.0.0.2"), ("p", "/ADMIN"), ("v", "POST")]),
        (2, vec![("source_ip", "10.0.0.3"), ("p", "/adm"), ("v", "GET")]),
        (3, vec![("source_ip", "10.0.0.4"), ("p", "/bc/x.PHP"), ("t", "x")]),
        (4, vec![("source_ip", "10.0.0.5"), ("p", "/ac"), ("t", "y"), ("q", "id=1")]),
        (5, vec![("source_ip", "10.0.0.6"), ("p", "/w")]),
        (6, vec![("source_ip", "10.0.0.7"), ("p", "/nothing"), ("q", "x")]),
    ];
    let got: Vec<(String, String)> = run(&yaml, &evts).into_iter().map(|(s, v, ..)| (s, v)).collect();
    let want = [
        ("t/upper", "10.0.0.1"),
        ("t/upper", "10.0.0.3"),
        ("t/regex", "10.0.0.4"),
        ("t/either", "10.0.0.4"),
        ("t/either", "10.0.0.5"),
        // t/writes changed the path before t/after looked: the prefilter must not answer from the old value.
        ("t/after", "10.0.0.6"),
    ];
    assert_eq!(got, want.map(|(s, v)| (s.to_string(), v.to_string())));
    // Upper('ſ') is 'S': the ASCII shortcut must not be taken on a non-ASCII value.
    let events = [(0, vec![("source_ip", "10.0.0.1"), ("p", "/ſ")]), (1, vec![("source_ip", "10.0.0.2"), ("p", "/x")])];
    let got: Vec<String> =
        run(&doc("s", "Upper(evt.Meta.p) contains 'S'"), &events).into_iter().map(|(_, v, ..)| v).collect();
    assert_eq!(got, ["10.0.0.1"]);
}
