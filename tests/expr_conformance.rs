//! Conformance table for the expression language: `tests/data/expr_conformance.tsv` holds one case per line,
//! `expression<TAB>expected`, evaluated against the fixed event `tests/data/expr_event.json` with a few data files
//! and a pinned clock. `expected` is a JSON value (ints and floats are distinct: `2` vs `2.0`), or
//! `!compile <text>` / `!error <text>` for a compile / runtime error whose message contains `<text>`.
//! Lines without a tab are comments.

use std::sync::Arc;

use correlator::event::Event;
use correlator::expr::{CompileEnv, DataKind, Scope, Services, compile};

fn services() -> Arc<Services> {
    let s = Services::new();
    s.data
        .load_text("backdoors.txt", DataKind::String, "# comment\nwp-login.php\nshell.php\n\nc99.php\nr57.php\n")
        .unwrap();
    s.data.load_text("empty.txt", DataKind::String, "# nothing\n").unwrap();
    s.data.load_text("bots.regex", DataKind::Regexp, "(?i)googlebot\n^curl/\n").unwrap();
    s.data
        .load_text(
            "tags.map",
            DataKind::Map,
            concat!(
                r#"{"pattern": "sqlmap", "tag": "scanner", "type": "contains"}"#,
                "\n",
                r#"{"pattern": "exact-ua", "tag": "exact", "type": "equals"}"#,
                "\n",
                r#"{"pattern": "^Nikto", "tag": "nikto", "type": "regex"}"#,
                "\n"
            ),
        )
        .unwrap();
    s.pin_now(Some(chrono::DateTime::parse_from_rfc3339("2026-02-12T15:00:00Z").unwrap()));
    s.stash.configure("cache", 10, 3_600_000_000_000);
    s.stash.set("cache", "key", "stashed", s.now()).unwrap();
    Arc::new(s)
}

fn event() -> Event {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/expr_event.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check(services: &Arc<Services>, evt: &Event, src: &str, expected: &str) -> Result<(), String> {
    let env = CompileEnv::for_event(services.clone());
    let compiled = compile(src, &env);
    if let Some(want) = expected.strip_prefix("!compile ") {
        return match compiled {
            Err(e) if e.message.contains(want) => Ok(()),
            Err(e) => Err(format!("compile error {:?} does not contain {want:?}", e.message)),
            Ok(_) => Err(format!("compiled, expected a compile error containing {want:?}")),
        };
    }
    let program = compiled.map_err(|e| format!("unexpected compile error:\n{}", e.render(src)))?;
    let mut scope = Scope::new(services).with_evt(evt);
    let result = program.eval(&mut scope);
    if let Some(want) = expected.strip_prefix("!error ") {
        return match result {
            Err(e) if e.message.contains(want) => Ok(()),
            Err(e) => Err(format!("runtime error {:?} does not contain {want:?}", e.message)),
            Ok(v) => Err(format!("evaluated to {}, expected an error containing {want:?}", v.to_json())),
        };
    }
    let want: serde_json::Value =
        serde_json::from_str(expected).map_err(|e| format!("bad expectation {expected:?}: {e}"))?;
    match result {
        Ok(v) if v.to_json() == want => Ok(()),
        Ok(v) => Err(format!("got {}, want {want}", v.to_json())),
        Err(e) => Err(format!("unexpected runtime error:\n{}", e.render(src))),
    }
}

#[test]
fn conformance_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/expr_conformance.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let services = services();
    let evt = event();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (n, line) in text.lines().enumerate() {
        let Some((src, expected)) = line.split_once('\t') else { continue };
        cases += 1;
        if let Err(why) = check(&services, &evt, src, expected.trim()) {
            failures.push(format!("line {}: {src}\n    {why}", n + 1));
        }
    }
    assert!(cases >= 300, "only {cases} cases");
    assert!(failures.is_empty(), "{} of {cases} cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn specialised_paths_match_the_generic_loop() {
    // The precompiled matchers must give the loop's answer. Writing the same test through a let-bound name keeps
    // the compiler from specialising it.
    let services = services();
    let mut evt = event();
    let cases = [
        (
            "any(File('backdoors.txt'), {evt.Parsed.request contains #})",
            "let f = 'backdoors.txt'; any(File(f), {evt.Parsed.request contains #})",
        ),
        (
            "any(File('backdoors.txt'), {evt.Parsed.program == #})",
            "let f = 'backdoors.txt'; any(File(f), {evt.Parsed.program == #})",
        ),
        ("evt.Parsed.program in File('backdoors.txt')", "let f = 'backdoors.txt'; evt.Parsed.program in File(f)"),
        ("RegexpInFile(evt.Parsed.request, 'bots.regex')", "let f = 'bots.regex'; RegexpInFile(evt.Parsed.request, f)"),
        ("evt.Meta.service == 'ssh'", "let m = evt.Meta; m.service == 'ssh'"),
        (
            "evt.Meta.service in ['a','b','c','d','e','f','g','ssh']",
            "let l = ['a','b','c','d','e','f','g','ssh']; evt.Meta.service in l",
        ),
        (
            "any(File('backdoors.txt'), {Upper(evt.Parsed.request) contains Upper(#)})",
            "let f = 'backdoors.txt'; any(File(f), {Upper(evt.Parsed.request) contains Upper(#)})",
        ),
        (
            "any(File('backdoors.txt'), {evt.Parsed.request endsWith #})",
            "let f = 'backdoors.txt'; any(File(f), {evt.Parsed.request endsWith #})",
        ),
        (
            "any(File('backdoors.txt'), {evt.Parsed.request startsWith Lower(#)})",
            "let f = 'backdoors.txt'; any(File(f), {evt.Parsed.request startsWith Lower(#)})",
        ),
        (
            "any(File('backdoors.txt'), {Upper(evt.Parsed.request) matches Upper(#)})",
            "let f = 'backdoors.txt'; any(File(f), {Upper(evt.Parsed.request) matches Upper(#)})",
        ),
        // Constant helper calls are folded at compile time.
        (
            "Upper(evt.Parsed.request) contains Upper('.php')",
            "let p = '.php'; Upper(evt.Parsed.request) contains Upper(p)",
        ),
        ("evt.Parsed.request matches Lower('^/SHELL')", "let p = '^/SHELL'; evt.Parsed.request matches Lower(p)"),
    ];
    let long = format!("/{}/r57.php", "a".repeat(300));
    let long_miss = format!("{long}x");
    let requests = ["/shell.php", "/index.html", "", "c99.phpx", "/R57.PHP", "shell.php/x", "wp-login.php", "ll.php"];
    for request in requests.into_iter().chain([long.as_str(), long_miss.as_str()]) {
        evt.parsed.insert("request", request);
        evt.parsed.insert("program", request.trim_start_matches('/'));
        evt.meta.insert("service", request);
        for (fast, slow) in cases {
            let env = CompileEnv::for_event(services.clone());
            let (f, s) = (compile(fast, &env).unwrap(), compile(slow, &env).unwrap());
            let a = f.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap();
            let b = s.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap();
            assert_eq!(a, b, "{fast} vs {slow} on {request:?}");
        }
    }
}

#[test]
fn mutations_apply_after_evaluation() {
    let services = services();
    let mut evt = event();
    let env = CompileEnv::for_event(services.clone());
    let p = compile(
        "evt.SetMeta('a', 'b') && evt.Meta.a == '' && UnmarshalJSON('{\"x\": [1]}', evt.Unmarshaled, 'j') == nil \
         && ParseKV('k=v', evt.Unmarshaled, 'kv') == nil",
        &env,
    )
    .unwrap();
    let mutations = {
        let mut scope = Scope::new(&services).with_evt(&evt);
        assert!(p.eval_bool(&mut scope).unwrap(), "a mutation must not be visible within the same expression");
        scope.take_mutations()
    };
    assert_eq!(mutations.len(), 3);
    for m in mutations {
        m.apply(&mut evt);
    }
    let check =
        compile("evt.Meta.a == 'b' && evt.Unmarshaled.j.x[0] == 1 && evt.Unmarshaled.kv.k == 'v'", &env).unwrap();
    assert!(check.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap());
}

#[test]
fn with_an_arena_writes_are_visible_to_the_rest_of_the_expression() {
    // The caddy-logs hub parser filters with `UnmarshalJSON(..., evt.Unmarshaled, 'caddy') in ['', nil] &&
    // evt.Unmarshaled.caddy.request != nil`: the write must be readable further down the same expression.
    let services = services();
    let mut evt = event();
    let env = CompileEnv::for_event(services.clone());
    let p = compile(
        "UnmarshalJSON('{\"request\": {\"uri\": \"/x\"}}', evt.Unmarshaled, 'caddy') in ['', nil] \
         && evt.Unmarshaled.caddy.request.uri == '/x' && evt.SetMeta('a', 'b') && evt.Meta.a == 'b'",
        &env,
    )
    .unwrap();
    let arena = correlator::expr::EvalArena::new();
    let mutations = {
        let mut scope = Scope::new(&services).with_evt(&evt).with_arena(&arena);
        assert!(p.eval_bool(&mut scope).unwrap());
        scope.take_mutations()
    };
    // The real event changes only when the caller applies the writes.
    assert_eq!(evt.meta.get("a"), None);
    for m in mutations {
        m.apply(&mut evt);
    }
    assert_eq!(evt.meta.get("a"), Some("b"));
    assert_eq!(evt.unmarshaled()["caddy"]["request"]["uri"], "/x");
}

#[test]
fn eval_bool_rejects_non_bool_and_errors_point_at_the_source() {
    let services = services();
    let evt = event();
    let env = CompileEnv::for_event(services.clone());
    let p = compile("evt.Meta.service", &env).unwrap();
    let e = p.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap_err();
    assert!(e.message.contains("expected bool"), "{}", e.message);
    let src = "evt.Meta.service == 'ssh' && evt.Unmarshaled.nope.x == 1";
    let p = compile(src, &env).unwrap();
    let e = p.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap_err();
    assert_eq!(e.column(), src.find(".x").unwrap() + 2, "the error points at the member that failed");
    assert!(e.render(src).ends_with(&format!("{}^", " ".repeat(src.find(".x").unwrap() + 1))));
}

#[test]
fn other_roots_bind_host_values() {
    let services = services();
    let evt = event();
    let env = CompileEnv::new(services.clone())
        .with_root("queue", correlator::expr::RootType::Any)
        .with_root("results", correlator::expr::RootType::Any);
    let events = [evt.clone(), evt.clone()];
    let p =
        compile("len(queue) == 2 && all(queue, {.Meta.service == 'ssh'}) && results.k[1].Parsed.user == 'root'", &env)
            .unwrap();
    let mut scope = Scope::new(&services);
    scope.bind("queue", correlator::expr::Value::array(events.iter().map(|e| correlator::expr::Value::host(e))));
    scope.bind(
        "results",
        correlator::expr::Value::map([(
            "k".to_string(),
            correlator::expr::Value::array(events.iter().map(correlator::expr::Value::from)),
        )]),
    );
    assert!(p.eval_bool(&mut scope).unwrap());
    let unbound = compile("len(queue)", &env).unwrap();
    assert!(unbound.eval(&mut Scope::new(&services)).unwrap_err().message.contains("not bound"));
}

/// A hubtest-style result entry implemented outside the expression module, as other modules will do.
struct NodeResult {
    success: bool,
    evt: Event,
}

impl correlator::expr::HostObject for NodeResult {
    fn type_name(&self) -> &'static str {
        "hubtest.ParserResult"
    }

    fn field<'a>(&'a self, name: &str) -> Option<correlator::expr::Value<'a>> {
        match name {
            "Success" => Some(correlator::expr::Value::Bool(self.success)),
            "Evt" => Some(correlator::expr::Value::host(&self.evt)),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Success": self.success, "Evt": serde_json::to_value(&self.evt).unwrap_or_default()})
    }
}

#[test]
fn custom_host_objects_and_hubtest_shapes() {
    use correlator::expr::{RootType, Value};
    let services = services();
    let entries = [NodeResult { success: true, evt: event() }, NodeResult { success: false, evt: Event::default() }];
    let env = CompileEnv::new(services.clone()).with_root("results", RootType::Any);
    let results = Value::map([(
        "s01-parse".to_string(),
        Value::map([("crowdsecurity/sshd-logs".to_string(), Value::array(entries.iter().map(Value::from)))]),
    )]);
    for (src, want) in [
        (r#"len(results["s01-parse"]["crowdsecurity/sshd-logs"]) == 2"#, true),
        (r#"results["s01-parse"]["crowdsecurity/sshd-logs"][0].Success == true"#, true),
        (r#"results["s01-parse"]["crowdsecurity/sshd-logs"][0].Evt.Parsed["program"] == "sshd""#, true),
        (
            r#"basename(results["s01-parse"]["crowdsecurity/sshd-logs"][0].Evt.Meta["datasource_path"]) == "auth.log""#,
            true,
        ),
        (r#"results["s01-parse"]["crowdsecurity/sshd-logs"][1].Evt.Meta["x"] == """#, true),
        (r#"results["s01-parse"]["crowdsecurity/sshd-logs"][0].Evt.Unmarshaled["caddy"]["status"] == 200"#, true),
        (r#"results["s01-parse"]["crowdsecurity/sshd-logs"][0].Evt.MarshaledTime[4:] == "-02-12T14:10:21Z""#, true),
        (r#"FloatApproxEqual(results["s01-parse"]["crowdsecurity/sshd-logs"][0].Evt.Unmarshaled.caddy.ts, 1.5)"#, true),
    ] {
        let p = compile(src, &env).unwrap_or_else(|e| panic!("{}", e.render(src)));
        let mut scope = Scope::new(&services);
        scope.bind("results", results.clone());
        assert_eq!(p.eval_bool(&mut scope).unwrap_or_else(|e| panic!("{}", e.render(src))), want, "{src}");
    }
    let bad = compile(r#"results["s01-parse"]["crowdsecurity/sshd-logs"][0].Nope"#, &env).unwrap();
    let mut scope = Scope::new(&services);
    scope.bind("results", results.clone());
    assert!(bad.eval(&mut scope).unwrap_err().message.contains("hubtest.ParserResult has no field Nope"));
}

#[test]
fn overflow_events_expose_alert_fields_and_methods() {
    use correlator::event::{AlertEvent, MetaItem, RuntimeAlert, Source};
    use correlator::expr::{RootType, Value};
    let services = services();
    let src = Source { ip: "1.2.3.4".into(), scope: "Ip".into(), value: "1.2.3.4".into(), ..Source::default() };
    let mut ovf = RuntimeAlert::default();
    ovf.sources.insert("1.2.3.4".into(), src.clone());
    ovf.alert.source = Some(src);
    ovf.alert.scenario = "crowdsecurity/ssh-bf".into();
    ovf.alert.events_count = 6;
    ovf.alert.remediation = true;
    ovf.alert.events.push(AlertEvent {
        timestamp: "2026-02-12T14:10:21Z".into(),
        meta: vec![MetaItem { key: "log_type".into(), value: "ssh_failed-auth".into() }],
        raw: String::new(),
    });
    let evt = Event::overflow_event(ovf);
    let env = CompileEnv::for_event(services.clone()).with_root("results", RootType::Any);
    for src in [
        "evt.GetType() == 'overflow' && evt.Type == 1",
        "evt.Overflow.Alert.GetScope() == 'Ip' && evt.Overflow.Alert.GetValue() == '1.2.3.4'",
        "evt.Overflow.Alert.Source.IP == '1.2.3.4' && evt.Overflow.Alert.Remediation",
        "evt.Overflow.Alert.GetScenario() == 'crowdsecurity/ssh-bf' && evt.Overflow.Alert.GetEventsCount() == 6",
        "evt.Overflow.Sources['1.2.3.4'].GetScope() == 'Ip' && evt.Overflow.Sources['9.9.9.9'].IP == ''",
        "'1.2.3.4' in evt.Overflow.GetSources() && evt.GetMeta('log_type') == 'ssh_failed-auth'",
        "results[0].Overflow.Alert.Events[0].GetMeta('log_type') == 'ssh_failed-auth'",
        "any(evt.Overflow.Alert.Events, {.GetMeta('log_type') startsWith 'ssh'})",
        "len(evt.Overflow.Alert.Events) == 1 && evt.Overflow.Alert.Events[0].Timestamp[:4] == '2026'",
        "any(['1.2.3.0/24'], { IpInRange(evt.Overflow.Alert.Source.IP, #) })",
    ] {
        let p = compile(src, &env).unwrap_or_else(|e| panic!("{}", e.render(src)));
        let mut scope = Scope::new(&services).with_evt(&evt);
        scope.bind("results", Value::array([Value::host(&evt)]));
        assert!(p.eval_bool(&mut scope).unwrap_or_else(|e| panic!("{}", e.render(src))), "{src}");
    }
    assert!(compile("evt.Overflow.Alert.GetNope()", &env).is_err());
}

#[test]
fn public_types_are_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<correlator::expr::Program>();
    send_sync::<correlator::expr::Services>();
    send_sync::<correlator::expr::CompileEnv>();
    send_sync::<correlator::expr::ExprError>();
    send_sync::<correlator::expr::Mutation>();
}
