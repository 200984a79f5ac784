//! Go RE2 regular expressions on Rust's linear-time `regex` engine.
//!
//! CrowdSec compiles every pattern (grok, `matches`, `RegexpInFile` data, `exclude_regexps`) with Go's RE2 syntax.
//! Rust's `regex` crate has the same guarantees (no backtracking, linear time on attacker-controlled lines) and
//! almost the same syntax. The differences this module bridges:
//!
//! * Go's `\d \w \s \b` are ASCII-only: we compile in byte mode with Unicode off, which gives exactly that, and
//!   re-enable Unicode only around `\p{..}` classes, which Go does support.
//! * Go treats a `{` that does not start a valid `{n}`/`{n,}`/`{n,m}` repetition as a literal (`{"ip":` in hub
//!   parsers); Rust rejects it, so such braces are escaped.
//! * Go supports `\Q…\E` quoting; Rust does not, so the quoted text is escaped.
//! * Octal escapes (`\101`) are on, as in Go.
//!
//! Byte mode means `.` and negated classes step over single bytes rather than whole UTF-8 characters; for the
//! log formats CrowdSec parses (delimited ASCII structure around free text) this does not change what matches.

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// How [`translate`] rewrites a pattern.
#[derive(Clone, Copy, Debug, Default)]
pub struct TranslateOptions {
    /// Turn every capturing group, named or not, into a non-capturing one. Grok uses this: only its own
    /// semantic groups must capture, and fewer capture groups make matching faster.
    pub strip_captures: bool,
    /// Leave grok tokens `%{NAME}` / `%{NAME:field}` untouched instead of escaping their brace.
    pub keep_grok_tokens: bool,
}

/// Rewrites a Go RE2 pattern into the syntax the `regex` crate accepts with [`builder`]'s settings.
pub fn translate(pattern: &str, opts: TranslateOptions) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => i = escape(&chars, i, &mut out, false),
            '[' => i = class(&chars, i, &mut out),
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    // (?P<name>  or (?<name>  (but not the look-behind forms, which Go rejects anyway)
                    let named_len = if chars.get(i + 2) == Some(&'P') && chars.get(i + 3) == Some(&'<') {
                        Some(4)
                    } else if chars.get(i + 2) == Some(&'<') && !matches!(chars.get(i + 3), Some('=') | Some('!')) {
                        Some(3)
                    } else {
                        None
                    };
                    match named_len {
                        Some(skip) if opts.strip_captures => {
                            // Drop the name: find the closing '>'.
                            let mut j = i + skip;
                            while j < chars.len() && chars[j] != '>' {
                                j += 1;
                            }
                            out.push_str("(?:");
                            i = j + 1;
                        }
                        _ => {
                            out.push('(');
                            i += 1;
                        }
                    }
                } else {
                    out.push_str(if opts.strip_captures { "(?:" } else { "(" });
                    i += 1;
                }
            }
            '%' if opts.keep_grok_tokens && chars.get(i + 1) == Some(&'{') => match grok_token_len(&chars[i..]) {
                Some(n) => {
                    out.extend(&chars[i..i + n]);
                    i += n;
                }
                None => {
                    out.push('%');
                    i += 1;
                }
            },
            '{' => {
                match repeat_len(&chars[i..]) {
                    Some(n) => out.extend(&chars[i..i + n]),
                    None => out.push_str("\\{"),
                }
                i += repeat_len(&chars[i..]).unwrap_or(1);
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Copies the escape sequence at `chars[i]` (a backslash); returns the index after it.
fn escape(chars: &[char], i: usize, out: &mut String, in_class: bool) -> usize {
    let Some(&next) = chars.get(i + 1) else {
        // A trailing backslash is an error in Go and in Rust; keep it so the compile error says so.
        out.push('\\');
        return i + 1;
    };
    match next {
        'Q' => {
            let mut j = i + 2;
            let mut lit = String::new();
            while j < chars.len() {
                if chars[j] == '\\' && chars.get(j + 1) == Some(&'E') {
                    j += 2;
                    break;
                }
                lit.push(chars[j]);
                j += 1;
            }
            out.push_str(&regex::escape(&lit));
            j
        }
        'p' | 'P' => {
            let mut j = i + 2;
            if chars.get(j) == Some(&'{') {
                while j < chars.len() && chars[j] != '}' {
                    j += 1;
                }
                j += 1;
            } else {
                j += 1;
            }
            let seq: String = chars[i..j.min(chars.len())].iter().collect();
            if in_class {
                out.push_str(&seq);
            } else {
                out.push_str("(?u:");
                out.push_str(&seq);
                out.push(')');
            }
            j.min(chars.len())
        }
        _ => {
            out.push('\\');
            out.push(next);
            i + 2
        }
    }
}

/// Copies a bracket class starting at `chars[i]` (`[`); returns the index after its closing `]`.
fn class(chars: &[char], i: usize, out: &mut String) -> usize {
    let mut body = String::from("[");
    let mut j = i + 1;
    if chars.get(j) == Some(&'^') {
        body.push('^');
        j += 1;
    }
    // A ']' right after '[' or '[^' is a literal.
    if chars.get(j) == Some(&']') {
        body.push_str("\\]");
        j += 1;
    }
    let mut unicode = false;
    let mut closed = false;
    while j < chars.len() {
        let c = chars[j];
        if c == '\\' {
            if matches!(chars.get(j + 1), Some('p') | Some('P')) {
                unicode = true;
            }
            j = escape(chars, j, &mut body, true);
            continue;
        }
        if c == '[' && chars.get(j + 1) == Some(&':') {
            // POSIX class [:alpha:]
            if let Some(end) = (j + 2..chars.len().saturating_sub(1)).find(|&k| chars[k] == ':' && chars[k + 1] == ']')
            {
                body.extend(&chars[j..end + 2]);
                j = end + 2;
                continue;
            }
        }
        if c == '[' {
            // A literal '[' inside a class must be escaped for Rust (it would open a nested class).
            body.push_str("\\[");
            j += 1;
            continue;
        }
        if c == '&' || c == '~' || (c == '-' && chars.get(j + 1) == Some(&'-')) {
            // Rust gives `&&`, `~~`, `--` set-operation meanings inside classes; Go treats them as literals.
            body.push('\\');
            body.push(c);
            j += 1;
            continue;
        }
        body.push(c);
        j += 1;
        if c == ']' {
            closed = true;
            break;
        }
    }
    if unicode && closed {
        out.push_str("(?u:");
        out.push_str(&body);
        out.push(')');
    } else {
        out.push_str(&body);
    }
    j
}

/// Length of a valid Go repetition `{n}`, `{n,}`, `{n,m}` at the start of `chars`, if it is one.
fn repeat_len(chars: &[char]) -> Option<usize> {
    let mut j = 1;
    let digits = |j: &mut usize| {
        let start = *j;
        while *j < chars.len() && chars[*j].is_ascii_digit() {
            *j += 1;
        }
        *j > start
    };
    if !digits(&mut j) {
        return None;
    }
    if chars.get(j) == Some(&',') {
        j += 1;
        digits(&mut j);
    }
    if chars.get(j) == Some(&'}') { Some(j + 1) } else { None }
}

/// Length of a grok token `%{NAME}` or `%{NAME:field}` (both `\w+`) at the start of `chars`.
fn grok_token_len(chars: &[char]) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut j = 2;
    let start = j;
    while j < chars.len() && is_word(chars[j]) {
        j += 1;
    }
    if j == start {
        return None;
    }
    if chars.get(j) == Some(&':') {
        j += 1;
        let s2 = j;
        while j < chars.len() && is_word(chars[j]) {
            j += 1;
        }
        if j == s2 {
            return None;
        }
    }
    if chars.get(j) == Some(&'}') { Some(j + 1) } else { None }
}

/// Size limits: CrowdSec patterns nest IPV6 several times; the defaults are too small for some hub nodes.
const SIZE_LIMIT: usize = 256 * 1024 * 1024;
const DFA_SIZE_LIMIT: usize = 64 * 1024 * 1024;

/// A builder with Go's semantics for an already translated pattern.
pub fn builder(translated: &str) -> RegexBuilder {
    let mut b = RegexBuilder::new(translated);
    b.unicode(false).octal(true).size_limit(SIZE_LIMIT).dfa_size_limit(DFA_SIZE_LIMIT);
    b
}

/// Parses a translated pattern with the settings of [`builder`] (ASCII classes, bytes, octal escapes), for code
/// that inspects or rewrites the pattern rather than matching with it.
pub fn parse_hir(translated: &str) -> Result<regex_syntax::hir::Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .octal(true)
        .build()
        .parse(translated)
        .map_err(Box::new)
}

/// A regex built from an already parsed pattern, configured like [`builder`] (leftmost-first, bytes, the same size
/// limits). For rewrites of a parsed pattern that must not go back through text.
pub fn meta_from_hir(hir: &regex_syntax::hir::Hir) -> Result<regex_automata::meta::Regex, String> {
    let config = regex_automata::meta::Config::new()
        .match_kind(regex_automata::MatchKind::LeftmostFirst)
        .utf8_empty(false)
        .nfa_size_limit(Some(SIZE_LIMIT))
        .hybrid_cache_capacity(DFA_SIZE_LIMIT);
    regex_automata::meta::Builder::new().configure(config).build_from_hir(hir).map_err(|e| e.to_string())
}

/// The Thompson NFA of an already parsed pattern, configured like [`meta_from_hir`] (bytes, every capture group,
/// the same size limit), for engines used directly rather than through the meta regex.
pub fn nfa_from_hir(hir: &regex_syntax::hir::Hir) -> Result<regex_automata::nfa::thompson::NFA, String> {
    let config = regex_automata::nfa::thompson::Config::new().utf8(false).nfa_size_limit(Some(SIZE_LIMIT));
    regex_automata::nfa::thompson::Compiler::new().configure(config).build_from_hir(hir).map_err(|e| e.to_string())
}

/// Literals one of which every match of Go pattern `pattern` starts with; `None` when there is no such finite set
/// of non-empty strings (or the pattern does not parse). For prefilters: a subject holding none of them has no
/// match.
pub fn required_prefixes(pattern: &str) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = parse_hir(&translate(pattern, TranslateOptions::default())).ok()?;
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let lits = seq.literals()?;
    if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
        return None;
    }
    Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect())
}

/// Compiles a Go RE2 pattern for matching bytes (`regex.is_match(s.as_bytes())`).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern, TranslateOptions::default());
    builder(&translated).build().map_err(|e| describe(pattern, &e))
}

/// Compiles several Go RE2 patterns into one set that tells, in one pass, which of them match.
pub fn compile_set<I, S>(patterns: I) -> Result<RegexSet, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let translated: Vec<String> =
        patterns.into_iter().map(|p| translate(p.as_ref(), TranslateOptions::default())).collect();
    RegexSetBuilder::new(&translated)
        .unicode(false)
        .octal(true)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// A set builder with Go's semantics for already translated patterns (as [`builder`] is for one pattern).
pub fn set_builder<I, S>(translated: I) -> RegexSetBuilder
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut b = RegexSetBuilder::new(translated);
    b.unicode(false).octal(true).size_limit(SIZE_LIMIT).dfa_size_limit(DFA_SIZE_LIMIT);
    b
}

/// The last `error:` line of a compile error (the crate's messages span several lines).
pub fn error_message(e: &regex::Error) -> String {
    let msg = e.to_string();
    let last = msg.lines().rev().find(|l| l.trim_start().starts_with("error:")).unwrap_or(msg.as_str());
    last.trim().trim_start_matches("error: ").to_string()
}

/// A one-line description of a compile error (the crate's messages span several lines).
pub fn describe(pattern: &str, e: &regex::Error) -> String {
    let msg = e.to_string();
    let last = msg.lines().rev().find(|l| l.trim_start().starts_with("error:")).unwrap_or(msg.as_str());
    format!("invalid regular expression {pattern:?}: {}", last.trim().trim_start_matches("error: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        compile(p).unwrap_or_else(|e| panic!("{e}")).is_match(s.as_bytes())
    }

    #[test]
    fn ascii_classes_like_go() {
        assert!(m(r"^\d+$", "123"));
        assert!(!m(r"^\d+$", "١٢٣")); // Arabic-Indic digits are not \d in Go
        assert!(!m(r"^\w+$", "été"));
        assert!(m(r"(?i)^abc$", "ABC"));
        assert!(m(r"^M(ä|a)rz$", "März"));
    }

    #[test]
    fn stray_braces_are_literals() {
        assert!(m(r#"{"ip":"%{IP}"#.replace("%{IP}", "1").as_str(), r#"{"ip":"1"#));
        assert!(m(r"a{b", "a{b"));
        assert!(m(r"x{,3}", "x{,3}"));
        assert!(m(r"^x{2}$", "xx"));
        assert!(m(r"^x{2,}$", "xxx"));
        assert!(m(r"^x{1,2}$", "xx"));
    }

    #[test]
    fn quoting_unicode_classes_and_octal() {
        assert!(m(r"\Qa.b\E", "a.b"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert!(m(r"^\pL+$", "été"));
        assert!(m(r"^[\pL ]+$", "été là"));
        assert!(m(r"^\101$", "A"));
    }

    #[test]
    fn class_edge_cases() {
        assert!(m(r"^[]a]+$", "]a"));
        assert!(m(r"^[^]a]+$", "bc"));
        assert!(m(r"^[[:alpha:]]+$", "abc"));
        assert!(m(r"^[a&&b]+$", "a&b"));
        assert!(m(r"^[[x]+$", "[x"));
    }

    #[test]
    fn strip_captures_and_keep_grok_tokens() {
        let o = TranslateOptions { strip_captures: true, keep_grok_tokens: true };
        assert_eq!(translate(r"(a)(?P<x>b)(?<y>c)(?:d)(?i)", o), r"(?:a)(?:b)(?:c)(?:d)(?i)");
        assert_eq!(translate(r"%{IP:client} {x", o), r"%{IP:client} \{x");
        assert_eq!(translate(r"%{bad-name}", o), r"%\{bad-name}");
        let plain = translate(r"(a)(?P<x>b)", TranslateOptions::default());
        assert_eq!(plain, r"(a)(?P<x>b)");
    }

    #[test]
    fn sets_and_errors() {
        let set = compile_set(["foo", r"\d+"]).unwrap();
        let hits: Vec<usize> = set.matches(b"x 12").into_iter().collect();
        assert_eq!(hits, vec![1]);
        let err = compile("(unclosed").unwrap_err();
        assert!(err.contains("unclosed"), "{err}");
    }

    #[test]
    fn linear_time_on_hostile_input() {
        // CrowdSec's QUOTEDSTRING shape: catastrophic for backtracking engines, linear here.
        let re = compile(r#"("(\\.|[^\\"]+)+")"#).unwrap();
        let line = format!("\"{}", "a".repeat(100_000));
        assert!(!re.is_match(line.as_bytes()));
    }
}
