//! Property tests: the lexer, parser, compiler and evaluator never panic on arbitrary input (log lines and YAML
//! are attacker- or user-controlled), and deep nesting yields a depth error instead of a stack overflow.

use std::sync::Arc;

use correlator::event::Event;
use correlator::expr::{CompileEnv, DataKind, Scope, Services, compile};
use proptest::prelude::*;

fn services() -> Arc<Services> {
    let s = Services::new();
    s.data.load_text("list.txt", DataKind::String, "a\nbc\n").unwrap();
    Arc::new(s)
}

fn event() -> Event {
    let mut e = Event::default();
    e.meta.insert("a", "x");
    e.parsed.insert("b", "{\"k\": [1, 2]}");
    e.unmarshaled_mut().insert("j".into(), serde_json::json!({"k": [1, "s", null]}));
    e
}

/// Compiles and, when that works, evaluates: neither may panic.
fn run(src: &str) {
    let services = services();
    let evt = event();
    let env = CompileEnv::for_event(services.clone()).with_root("x", correlator::expr::RootType::Any);
    if let Ok(p) = compile(src, &env) {
        let mut scope = Scope::new(&services).with_evt(&evt);
        scope.bind("x", correlator::expr::Value::array([correlator::expr::Value::Int(1)]));
        let _ = p.eval(&mut scope);
        let _ = p.eval_bool(&mut scope);
    }
}

const TOKENS: &[&str] = &[
    "evt",
    ".",
    "Meta",
    "Parsed",
    "Unmarshaled",
    "j",
    "k",
    "a",
    "b",
    "x",
    "#",
    "#index",
    "#acc",
    "?.",
    "??",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "?",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "==",
    "!=",
    "<",
    ">=",
    "and",
    "or",
    "not",
    "!",
    "in",
    "matches",
    "contains",
    "startsWith",
    "1",
    "0",
    "-1",
    "2.5",
    "'s'",
    "\"t\"",
    "nil",
    "true",
    "let",
    "=",
    "if",
    "else",
    "|",
    "..",
    "len",
    "any",
    "all",
    "map",
    "filter",
    "reduce",
    "sortBy",
    "File",
    "'list.txt'",
    "Upper",
    "JsonExtract",
    "int",
    "string",
    "split",
    "IpInRange",
    "Sprintf",
    "'%d'",
    "SetMeta",
    "GetMeta",
    "UnmarshalJSON",
    "ParseKV",
    "XMLGetNodeValue",
    "duration",
    "'1h'",
    "Time",
    "Hour",
    "toJSON",
    "fromJSON",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in ".{0,80}") {
        run(&src);
    }

    #[test]
    fn token_soup_never_panics(src in token_soup()) {
        run(&src);
    }

    #[test]
    fn nesting_is_bounded(depth in 1usize..3000, kind in 0usize..6) {
        let src = match kind {
            0 => format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
            1 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
            2 => format!("{}true", "!".repeat(depth)),
            3 => format!("{}[1]{}", "any(".repeat(depth), ", {true})".repeat(depth)),
            4 => vec!["1"; depth + 1].join(" + "),
            _ => format!("evt{}", ".Meta".repeat(depth)),
        };
        let env = CompileEnv::for_event(services());
        if let Err(e) = compile(&src, &env) {
            // Small inputs may fail for other reasons (`evt.Meta.Meta` has no such field); big ones must hit the
            // depth limit.
            if depth > 300 {
                prop_assert!(e.message.contains("nested too deeply"), "{}", e.message);
            }
        } else {
            prop_assert!(depth <= 300, "accepted nesting of depth {depth}");
            run(&src);
        }
    }
}

/// Helpers fed arbitrary strings (attacker-controlled log data) must return a value or an error, never panic.
const HELPER_CALLS: &[&str] = &[
    "JsonExtract(x, y)",
    "JsonExtractUnescape(x, y)",
    "JsonExtractSlice(x, y)",
    "JsonExtractObject(x, y)",
    "XMLGetNodeValue(x, y)",
    "XMLGetAttributeValue(x, y, y)",
    "Sprintf(x, y, 1, 2.5, nil)",
    "Sprintf(y, x)",
    "Match(x, y)",
    "Match(y, x)",
    "UnmarshalJSON(x, evt.Unmarshaled, y)",
    "ParseKV(x, evt.Unmarshaled, y)",
    "ParseKVLax(x, evt.Unmarshaled, y)",
    "date(x, y)",
    "date(x)",
    "evt.Time.Format(x)",
    "duration(x)",
    "PathUnescape(x)",
    "QueryUnescape(x)",
    "ParseUri(x)",
    "ParseQuery(x)",
    "ExtractQueryParam(x, y)",
    "IpInRange(x, y)",
    "IpToRange(x, y)",
    "IsIPV6(x)",
    "B64Decode(x)",
    "fromBase64(x)",
    "fromJSON(x)",
    "int(x)",
    "float(x)",
    "Atof(x)",
    "ParseUnix(x)",
    "split(x, y)",
    "SplitN(x, y, 3)",
    "replace(x, y, x)",
    "Replace(x, y, x, 2)",
    "trim(x, y)",
    "x[1:3] + y[-2:]",
    "x matches y",
    "Distance(x, y, x, y)",
    "Fields(x)",
    "Index(x, y)",
    "IndexAny(x, y)",
    "lastIndexOf(x, y)",
    "len(x)",
    "x[0]",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn helpers_never_panic_on_arbitrary_strings(x in ".{0,60}", y in ".{0,20}") {
        let services = services();
        let evt = event();
        let env = CompileEnv::for_event(services.clone())
            .with_root("x", correlator::expr::RootType::Any)
            .with_root("y", correlator::expr::RootType::Any);
        for call in HELPER_CALLS {
            let p = compile(call, &env).unwrap();
            let mut scope = Scope::new(&services).with_evt(&evt);
            scope.bind("x", correlator::expr::Value::string(x.clone()));
            scope.bind("y", correlator::expr::Value::string(y.clone()));
            let _ = p.eval(&mut scope);
        }
    }
}

#[test]
fn very_deep_inputs_give_errors_not_overflows() {
    let env = CompileEnv::for_event(services());
    for src in [
        "(".repeat(1_000_000),
        format!("{}1{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
        vec!["x"; 200_000].join(" ?? "),
        format!("1{}", " ? 1 : 1".repeat(100_000)),
        format!("{}1", "let a = 1; ".repeat(100_000)),
        format!("{}1{}", "if true { ".repeat(100_000), " } else { 2 }".repeat(100_000)),
    ] {
        let e = compile(&src, &env).unwrap_err();
        assert!(e.message.contains("nested too deeply") || e.message.contains("unexpected"), "{}", e.message);
    }
}
