//! Every expression of the shared CrowdSec hub corpus must compile: parser, scenario and postoverflow YAML
//! (all expression fields, nested `nodes:`, multi-document files) with the roots CrowdSec gives each field, and
//! every line of the hubtest `parser.assert` / `scenario.assert` files with the root `results`.
//!
//! The corpus is found at `$CORRELATOR_SHARED/hubtests` or `<crate>/../shared/hubtests`; the test fails loudly when
//! it is missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use correlator::expr::{CompileEnv, DataKind, RootType, Services, compile};
use serde_json::Value as J;

fn shared() -> PathBuf {
    let base = std::env::var_os("CORRELATOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let p = base.join("hubtests");
    assert!(p.join("hub").is_dir(), "hubtest corpus not found at {} (set CORRELATOR_SHARED)", p.display());
    p
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

#[derive(Clone, Copy)]
enum Env {
    Evt,
    Condition,
    OverflowFilter,
    Results,
}

struct Found {
    file: String,
    field: String,
    src: String,
    env: Env,
}

fn push(out: &mut Vec<Found>, file: &str, field: &str, v: Option<&J>, env: Env) {
    if let Some(J::String(s)) = v
        && !s.trim().is_empty()
    {
        out.push(Found { file: file.to_string(), field: field.to_string(), src: s.clone(), env });
    }
}

fn statics(out: &mut Vec<Found>, file: &str, prefix: &str, v: Option<&J>) {
    if let Some(J::Array(list)) = v {
        for (i, s) in list.iter().enumerate() {
            push(out, file, &format!("{prefix}statics[{i}].expression"), s.get("expression"), Env::Evt);
        }
    }
}

fn node(out: &mut Vec<Found>, file: &str, path: &str, doc: &J) {
    push(out, file, &format!("{path}filter"), doc.get("filter"), Env::Evt);
    statics(out, file, path, doc.get("statics"));
    if let Some(g) = doc.get("grok") {
        push(out, file, &format!("{path}grok.expression"), g.get("expression"), Env::Evt);
        statics(out, file, &format!("{path}grok."), g.get("statics"));
    }
    if let Some(J::Array(list)) = doc.get("stash") {
        for (i, s) in list.iter().enumerate() {
            push(out, file, &format!("{path}stash[{i}].key"), s.get("key"), Env::Evt);
            push(out, file, &format!("{path}stash[{i}].value"), s.get("value"), Env::Evt);
        }
    }
    if let Some(J::Array(list)) = doc.get("whitelist").and_then(|w| w.get("expression")) {
        for (i, e) in list.iter().enumerate() {
            push(out, file, &format!("{path}whitelist.expression[{i}]"), Some(e), Env::Evt);
        }
    }
    // Scenario fields (harmless on parser nodes, which do not have them).
    for f in ["groupby", "distinct", "cancel_on"] {
        push(out, file, &format!("{path}{f}"), doc.get(f), Env::Evt);
    }
    push(out, file, &format!("{path}scope.expression"), doc.get("scope").and_then(|s| s.get("expression")), Env::Evt);
    push(out, file, &format!("{path}condition"), doc.get("condition"), Env::Condition);
    push(out, file, &format!("{path}overflow_filter"), doc.get("overflow_filter"), Env::OverflowFilter);
    if let Some(J::Array(list)) = doc.get("bayesian_conditions") {
        for (i, c) in list.iter().enumerate() {
            push(out, file, &format!("{path}bayesian_conditions[{i}].condition"), c.get("condition"), Env::Condition);
        }
    }
    if let Some(J::Array(children)) = doc.get("nodes") {
        for (i, c) in children.iter().enumerate() {
            node(out, file, &format!("{path}nodes[{i}]."), c);
        }
    }
}

fn services(root: &Path, docs: &[J]) -> Arc<Services> {
    let s = Services::new();
    for doc in docs {
        if let Some(J::Array(data)) = doc.get("data") {
            for d in data {
                let (Some(name), Some(kind)) =
                    (d.get("dest_file").and_then(J::as_str), d.get("type").and_then(J::as_str))
                else {
                    continue;
                };
                if let Some(kind) = DataKind::parse(kind) {
                    // Not every data file is shipped with the corpus; File() of a missing one is legal (returns []).
                    let _ = s.data.load(name, kind, &root.join("data"));
                }
            }
        }
    }
    Arc::new(s)
}

fn env_for(services: &Arc<Services>, env: Env) -> CompileEnv {
    match env {
        Env::Evt => CompileEnv::for_event(services.clone()),
        Env::Condition => {
            CompileEnv::for_event(services.clone()).with_root("queue", RootType::Any).with_root("leaky", RootType::Any)
        }
        Env::OverflowFilter => CompileEnv::new(services.clone())
            .with_root("queue", RootType::Any)
            .with_root("signal", RootType::RuntimeAlert)
            .with_root("leaky", RootType::Any),
        Env::Results => CompileEnv::new(services.clone()).with_root("results", RootType::Any),
    }
}

#[test]
fn every_hub_expression_compiles() {
    let root = shared();
    let mut files = Vec::new();
    for kind in ["parsers", "scenarios", "postoverflows"] {
        let d = root.join("hub").join(kind);
        if d.is_dir() {
            walk(&d, &mut files);
        }
    }
    assert!(!files.is_empty(), "no hub YAML under {}", root.display());
    let mut failures = Vec::new();
    let mut count = 0;
    let mut runtime_errors: std::collections::BTreeMap<String, usize> = Default::default();
    let mut sample = correlator::event::Event::default();
    sample.line.raw = "Feb 12 14:10:21 host sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2".into();
    sample.meta.insert("source_ip", "1.2.3.4");
    sample.meta.insert("log_type", "ssh_failed-auth");
    sample.parsed.insert("message", "hello world");
    sample.parsed.insert("request", "/index.php");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let docs: Vec<J> = match serde_saphyr::from_multiple::<J>(&text) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: YAML error: {e}", f.display()));
                continue;
            }
        };
        let services = services(&root, &docs);
        let rel = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let mut found = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            if doc.is_object() {
                node(&mut found, &rel, &format!("doc[{i}]."), doc);
            }
        }
        for x in found {
            count += 1;
            match compile(&x.src, &env_for(&services, x.env)) {
                Err(e) => failures.push(format!("{}: {}: {}", x.file, x.field, e.render(&x.src))),
                Ok(p) if matches!(x.env, Env::Evt) => {
                    // Evaluating against a sample event must not panic; runtime errors are legitimate here.
                    let mut scope = correlator::expr::Scope::new(&services).with_evt(&sample);
                    if let Err(e) = p.eval(&mut scope) {
                        if std::env::var_os("SHOW_EXPR_ERRORS").is_some() {
                            eprintln!("{}: {}", e.message, x.src);
                        }
                        *runtime_errors.entry(e.message.split(':').next().unwrap_or("").to_string()).or_insert(0) += 1;
                    }
                }
                Ok(_) => {}
            }
        }
    }
    println!("{count} expressions from {} files", files.len());
    println!("runtime errors on a sample event (expected for absent fields): {runtime_errors:#?}");
    assert!(count > 1000, "only {count} expressions found");
    assert!(failures.is_empty(), "{} expressions do not compile:\n{}", failures.len(), failures.join("\n"));
}

/// cscli's back-compat shim: a line about `datasource_path` without `basename(` gets its left side wrapped.
fn basename_shim(line: &str) -> String {
    if line.contains("datasource_path")
        && !line.contains("basename(")
        && let Some((lhs, rhs)) = line.split_once("==")
    {
        return format!("basename({}) == {}", lhs.trim(), rhs.trim());
    }
    line.to_string()
}

#[test]
fn every_hubtest_assert_compiles() {
    let root = shared();
    let tests = root.join("tests");
    let services = Arc::new(Services::new());
    let env = env_for(&services, Env::Results);
    let mut cases: Vec<_> = std::fs::read_dir(&tests).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    cases.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for case in cases {
        for name in ["parser.assert", "scenario.assert"] {
            let p = case.join(name);
            let Ok(text) = std::fs::read_to_string(&p) else { continue };
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                count += 1;
                let src = basename_shim(line);
                if let Err(e) = compile(&src, &env) {
                    failures.push(format!("{}:{}: {}", p.display(), n + 1, e.render(&src)));
                }
            }
        }
    }
    println!("{count} assert lines");
    assert!(count > 10_000, "only {count} assert lines found");
    assert!(failures.is_empty(), "{} assert lines do not compile:\n{}", failures.len(), failures.join("\n"));
}
