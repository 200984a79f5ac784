//! Every grok of the hub corpus compiles, and no grok (hub node or base pattern, of the corpus or of our own hub)
//! is slow on hostile input.

mod common;

use common::hub::{compile_hub, parser_files};
use correlator::grok::PatternLibrary;

fn library() -> PatternLibrary {
    let shared = common::shared_dir();
    let mut lib = PatternLibrary::new();
    lib.load_dir(&shared.join("hubtests/patterns")).expect("pattern files load");
    lib
}

#[test]
fn every_hub_grok_compiles() {
    let shared = common::shared_dir();
    let hub = shared.join("hubtests/hub");
    let mut total = 0;
    for kind in ["parsers", "postoverflows"] {
        // Parsers and postoverflows have separate pattern hosts.
        let mut lib = library();
        let files = parser_files(&hub, kind);
        let (groks, syntax, warnings, errors) = compile_hub(&mut lib, &files);
        assert!(errors.is_empty(), "{} errors:\n{}", errors.len(), errors.join("\n"));
        eprintln!(
            "{kind}: {} files, {} groks, {syntax} pattern_syntax entries ({warnings} redefinitions)",
            files.len(),
            groks.len()
        );
        total += groks.len();
    }
    assert!(total >= 250, "only {total} hub groks found");
}

/// Attacker-shaped lines of about `n` bytes, no newline: unterminated quotes, escapes, long digit/space runs,
/// address-like repetitions, a valid prefix followed by junk.
fn hostile_lines(n: usize) -> Vec<(&'static str, String)> {
    let rep = |s: &str| s.repeat(n / s.len());
    vec![
        ("unterminated quote", format!("\"{}", rep("a"))),
        ("digits", rep("1")),
        ("spaces", rep(" ")),
        ("tabs and spaces", rep(" \t")),
        ("escaped quotes", format!("1.2.3.4 - - [02/Mar/2026:00:00:05 +0000] \"GET /{}", rep("\\\"a"))),
        ("quoted runs", rep("\"a\" ")),
        ("syslog prefix + words", format!("Feb 12 14:10:21 host sshd[1]: Invalid user {}", rep("a "))),
        ("ipv6-ish", rep("1:")),
        ("ipv4-ish", rep("1.1.")),
        ("json-ish", rep("{\"a\":")),
        ("brackets", rep("[a] ")),
        ("path-ish", rep("/a.b")),
        ("dates", rep("Feb 12 14:10:21 ")),
    ]
}

#[test]
fn hostile_lines_are_linear_for_every_grok() {
    let shared = common::shared_dir();
    let mut groks: Vec<(String, correlator::grok::CompiledGrok)> = Vec::new();
    // The CrowdSec hub corpus, then Correlator's own hub (its parsers and stacks, with its own patterns).
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hub");
    let mut own_lib = PatternLibrary::new();
    own_lib.load_dir(&ours.join("patterns")).expect("our pattern files load");
    let mut own_files = parser_files(&ours, "parsers");
    own_files.extend(parser_files(&ours, "postoverflows"));
    for stack in std::fs::read_dir(ours.join("stacks")).expect("hub/stacks").flatten() {
        own_files.extend(parser_files(&stack.path(), "parsers"));
    }
    assert!(own_files.len() >= 5, "our hub parsers not found: {own_files:?}");
    for (mut lib, files) in [(library(), parser_files(&shared.join("hubtests/hub"), "parsers")), (own_lib, own_files)] {
        let (hub, _, _, errors) = compile_hub(&mut lib, &files);
        assert!(errors.is_empty(), "{errors:?}");
        groks.extend(hub.into_iter().map(|h| (format!("{} {}", h.file.display(), h.node), h.grok)));
        for name in lib.names() {
            let g = lib.compile(&format!("%{{{name}:x}}")).expect("library name compiles");
            groks.push((format!("%{{{name}}}"), g));
        }
    }
    let small = hostile_lines(10_000);
    let big = hostile_lines(100_000);
    let start = std::time::Instant::now();
    let mut runs = 0usize;
    let mut slowest = (std::time::Duration::ZERO, String::new());
    for (label, g) in &groks {
        for ((shape, s), (_, b)) in small.iter().zip(&big) {
            let t = std::time::Instant::now();
            let m_small = g.captures(s).is_some();
            let m_big = g.captures(b).is_some();
            let dt = t.elapsed();
            if dt > slowest.0 {
                slowest = (dt, format!("{label} on {shape}"));
            }
            runs += 2;
            // The same shape at ten times the length must give the same verdict: size alone changes nothing.
            assert_eq!(m_small, m_big, "{label} on {shape}: 10 kB and 100 kB disagree");
        }
    }
    eprintln!(
        "{} groks x {} shapes x 2 sizes = {runs} searches in {:?}; slowest pair {:?} ({})",
        groks.len(),
        big.len(),
        start.elapsed(),
        slowest.0,
        slowest.1
    );
    assert_eq!(runs, groks.len() * big.len() * 2);
}

/// `CompiledGrok::captures` takes shortcuts: expressions ending in a rest-of-line group search without it
/// (`CompiledGrok::splits_tail`), and the backtracker runs alone, anchored at the start, once a match is known (also
/// `captures_matching`, which takes the caller's word for it). On
/// every log line of the corpus and on hostile lines, every hub grok must report exactly what the plain search of
/// the whole regex reports.
#[test]
fn fast_searches_agree_with_the_reference_search() {
    let shared = common::shared_dir();
    let mut lib = library();
    let (hub, _, _, errors) = compile_hub(&mut lib, &parser_files(&shared.join("hubtests/hub"), "parsers"));
    assert!(errors.is_empty(), "{errors:?}");
    let split = hub.iter().filter(|h| h.grok.splits_tail()).count();
    let mut lines: Vec<String> = Vec::new();
    let mut logs = vec![shared.join("hubtests/tests")];
    while let Some(dir) = logs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read tests dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                logs.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read(&path).expect("read log");
                lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_string));
            }
        }
    }
    lines.extend(hostile_lines(2_000).into_iter().map(|(_, l)| l));
    // A line holding `\n` takes the whole-regex path; check it anyway.
    lines.push("Mar  2 14:10:48 host sshd[1]: a\nb".to_string());
    let as_vec = |c: correlator::grok::Captures| -> (usize, usize, Vec<String>) {
        let (s, e) = c.span();
        (s, e, c.iter().map(|(k, v)| format!("{k}={v}")).collect())
    };
    // Longer than the backtracker takes (the meta regex answers), and matching only after the first byte.
    lines.push(format!(
        "Mar  2 14:10:48 host sshd[1]: Failed password for root from 1.2.3.4 port 22 ssh2 {}",
        "x".repeat(100_000)
    ));
    lines.push("  -- 10.0.0.1 - - [02/Mar/2026:14:10:48 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl\"".to_string());
    let mut matched = 0usize;
    for h in &hub {
        for line in &lines {
            let got = h.grok.captures(line).map(as_vec);
            let want = h.grok.captures_reference(line).map(as_vec);
            assert_eq!(got, want, "{} {} on {line:?}", h.file.display(), h.node);
            // What a prefilter candidate takes; the same answer even when the line does not match.
            let known = h.grok.captures_matching(line).map(as_vec);
            assert_eq!(known, want, "captures_matching: {} {} on {line:?}", h.file.display(), h.node);
            matched += usize::from(got.is_some());
        }
    }
    eprintln!("{} hub groks ({split} split); {} lines each; {matched} matches agree", hub.len(), lines.len());
    assert!(split >= 20, "only {split} hub groks split their tail");
    assert!(matched >= 2_000, "only {matched} matches: the comparison saw too little");
}
