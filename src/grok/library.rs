//! The grok pattern namespace: built-in base patterns, pattern files, and `pattern_syntax` additions.
//!
//! Layers, in the order CrowdSec builds its pattern host:
//! 1. the built-in base (`base.patterns`, compiled into the binary);
//! 2. pattern files (`--patterns DIR`, every file whose name has no `.`, sorted by name). A file may redefine a
//!    built-in name, which replaces it (so the reference base file can stand in for ours); two files defining the
//!    same name is an error naming both places;
//! 3. `pattern_syntax` entries of parser nodes, added one by one at load time: each is compiled when added (so it may
//!    only use names that exist by then), and redefining an existing name keeps the first definition (a warning).
//!
//! Every definition is expanded once and kept, so compiling hub nodes reuses the expansions of shared names (`IP`
//! nests `IPV6`, which is big). What this module is not: the matching itself lives in `matcher`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::GrokError;
use super::expand::{Expansion, expand_body, tokens};
use super::matcher::CompiledGrok;
use crate::gocompat::regex::{TranslateOptions, translate};

const BASE_PATTERNS: &str = include_str!("base.patterns");
const BASE_FILE: &str = "base.patterns";

/// Where a pattern definition comes from (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Correlator's built-in `base.patterns`, at this line.
    Builtin { line: usize },
    /// A pattern file, at this line.
    File { path: Arc<str>, line: usize },
    /// A parser's `pattern_syntax` entry (the parser adds the YAML position to its own messages).
    PatternSyntax,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin { line } => write!(f, "(built-in) {BASE_FILE}:{line}"),
            Origin::File { path, line } => write!(f, "{path}:{line}"),
            Origin::PatternSyntax => f.write_str("pattern_syntax"),
        }
    }
}

#[derive(Clone, Debug)]
struct Definition {
    body: String,
    origin: Origin,
}

/// A grok pattern namespace. Build it at load time, then compile expressions with [`PatternLibrary::compile`].
#[derive(Clone, Debug, Default)]
pub struct PatternLibrary {
    defs: HashMap<String, Definition>,
    /// Expansions of every definition that expanded successfully.
    expanded: HashMap<String, Arc<Expansion>>,
}

impl PatternLibrary {
    /// A library holding the built-in base patterns.
    pub fn new() -> Self {
        let mut lib = PatternLibrary::empty();
        for (line, name, body) in definition_lines(BASE_PATTERNS) {
            lib.defs.insert(name.to_string(), Definition { body: body.to_string(), origin: Origin::Builtin { line } });
        }
        // The built-ins are tested to expand; should one not, compiling an expression that uses it reports why.
        let _ = lib.expand_all();
        lib
    }

    /// A library with no pattern at all (the built-ins must then come from a file).
    pub fn empty() -> Self {
        PatternLibrary::default()
    }

    /// Loads every pattern file of `dir`: regular files (or links to them) whose name contains no `.`, in name
    /// order. Returns the number of definitions read.
    pub fn load_dir(&mut self, dir: &Path) -> Result<usize, GrokError> {
        let io = |e: std::io::Error| GrokError::Io { path: dir.display().to_string(), message: e.to_string() };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.contains('.') {
                continue;
            }
            // metadata() follows symlinks, as an installed hub links its files.
            if std::fs::metadata(entry.path()).map(|m| m.is_file()).unwrap_or(false) {
                files.push(entry.path());
            }
        }
        files.sort();
        let mut count = 0;
        for f in &files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| GrokError::Io { path: f.display().to_string(), message: e.to_string() })?;
            let file: Arc<str> = Arc::from(f.display().to_string());
            count += self.add_definitions(&file, &text)?;
        }
        // Expanded once for the whole directory: expanding after each file would redo every pattern per file.
        self.expand_all()?;
        Ok(count)
    }

    /// Loads one pattern file (`NAME REGEX` lines; other lines are ignored). Returns the number of definitions read.
    pub fn load_file(&mut self, path: &Path) -> Result<usize, GrokError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GrokError::Io { path: path.display().to_string(), message: e.to_string() })?;
        let file: Arc<str> = Arc::from(path.display().to_string());
        self.load_text(&file, &text)
    }

    /// Loads pattern-file text; `file` names it in messages.
    pub fn load_text(&mut self, file: &Arc<str>, text: &str) -> Result<usize, GrokError> {
        let count = self.add_definitions(file, text)?;
        self.expand_all()?;
        Ok(count)
    }

    /// Records the definitions of pattern-file text without expanding them yet.
    fn add_definitions(&mut self, file: &Arc<str>, text: &str) -> Result<usize, GrokError> {
        let mut count = 0;
        for (line, name, body) in definition_lines(text) {
            let origin = Origin::File { path: Arc::clone(file), line };
            if let Some(prev) = self.defs.get(name)
                && !matches!(prev.origin, Origin::Builtin { .. })
            {
                return Err(GrokError::Duplicate {
                    name: name.to_string(),
                    first: prev.origin.clone(),
                    second: origin,
                });
            }
            self.defs.insert(name.to_string(), Definition { body: body.to_string(), origin });
            count += 1;
        }
        // A file can replace a built-in that others were expanded with: everything is expanded again.
        self.expanded.clear();
        Ok(count)
    }

    /// Adds a parser's `pattern_syntax` entry. It is compiled now, against the names defined so far. When `name`
    /// already exists the first definition is kept and the returned warning says so (CrowdSec logs it and goes on).
    pub fn add_pattern_syntax(&mut self, name: &str, body: &str) -> Result<Option<String>, GrokError> {
        if let Some(prev) = self.defs.get(name) {
            // Several parsers often carry the same helper pattern: the same body again changes nothing.
            if prev.body == body {
                return Ok(None);
            }
            return Ok(Some(format!(
                "grok pattern {name} is already defined ({}); keeping the first definition",
                prev.origin
            )));
        }
        let def = Definition { body: body.to_string(), origin: Origin::PatternSyntax };
        let exp = self.expand_body_of(name, &def.body, &mut Vec::new(), &mut HashMap::new())?;
        // Compile-on-add: the regex must build, as grokky compiles every added pattern.
        CompiledGrok::new(body, &exp)?;
        self.defs.insert(name.to_string(), def);
        self.expanded.insert(name.to_string(), Arc::new(exp));
        Ok(None)
    }

    /// Compiles a grok expression (`grok.pattern` of a node).
    pub fn compile(&self, pattern: &str) -> Result<CompiledGrok, GrokError> {
        let exp = self.expand_body_of(pattern, pattern, &mut Vec::new(), &mut HashMap::new())?;
        CompiledGrok::new(pattern, &exp)
    }

    /// Compiles a pattern by name (`grok.name` of a node): the same as compiling `%{name}`.
    pub fn compile_named(&self, name: &str) -> Result<CompiledGrok, GrokError> {
        let exp = self.expansion(name, "grok.name", &mut Vec::new(), &mut HashMap::new())?;
        CompiledGrok::new(name, &exp)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    /// The body of `name` as written, and where it was defined.
    pub fn definition(&self, name: &str) -> Option<(&str, &Origin)> {
        self.defs.get(name).map(|d| (d.body.as_str(), &d.origin))
    }

    /// Every defined name, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.defs.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Expands every definition (validating them all, as CrowdSec fails at startup on a bad pattern file line).
    fn expand_all(&mut self) -> Result<(), GrokError> {
        let mut names: Vec<String> = self.defs.keys().cloned().collect();
        names.sort();
        let mut local = HashMap::new();
        let mut first_err = None;
        for name in names {
            match self.expansion(&name, &name, &mut Vec::new(), &mut local) {
                Ok(_) => {}
                Err(e) if first_err.is_none() => {
                    let origin = self.defs[&name].origin.clone();
                    first_err = Some(match origin {
                        Origin::File { .. } => GrokError::InFile { origin, error: Box::new(e) },
                        _ => e,
                    });
                }
                Err(_) => {}
            }
        }
        self.expanded.extend(local);
        first_err.map_or(Ok(()), Err)
    }

    /// The expansion of a defined name; `referenced_by` names the referrer for an unknown-name error.
    fn expansion(
        &self,
        name: &str,
        referenced_by: &str,
        stack: &mut Vec<String>,
        local: &mut HashMap<String, Arc<Expansion>>,
    ) -> Result<Arc<Expansion>, GrokError> {
        if let Some(e) = self.expanded.get(name).or_else(|| local.get(name)) {
            return Ok(Arc::clone(e));
        }
        let Some(def) = self.defs.get(name) else {
            return Err(GrokError::UnknownPattern { name: name.to_string(), referenced_by: referenced_by.to_string() });
        };
        if let Some(pos) = stack.iter().position(|n| n == name) {
            let mut chain = stack[pos..].to_vec();
            chain.push(name.to_string());
            return Err(GrokError::Cycle { chain });
        }
        stack.push(name.to_string());
        let exp = self.expand_body_of(name, &def.body, stack, local);
        stack.pop();
        let exp = Arc::new(exp?);
        local.insert(name.to_string(), Arc::clone(&exp));
        Ok(exp)
    }

    /// Translates and expands `body`, the definition of `name` (or a top-level expression).
    fn expand_body_of(
        &self,
        name: &str,
        body: &str,
        stack: &mut Vec<String>,
        local: &mut HashMap<String, Arc<Expansion>>,
    ) -> Result<Expansion, GrokError> {
        let translated = translate(body, TranslateOptions { strip_captures: true, keep_grok_tokens: true });
        check_syntax(name, &translated)?;
        expand_body(&translated, |sub| self.expansion(sub, name, stack, local))
    }
}

/// Checks the regex syntax of one translated body on its own (references replaced by empty groups), so a bad pattern
/// file line is reported at its line even when nothing uses it.
fn check_syntax(name: &str, translated: &str) -> Result<(), GrokError> {
    let mut plain = String::with_capacity(translated.len());
    let mut last = 0;
    for t in tokens(translated) {
        plain.push_str(&translated[last..t.start]);
        plain.push_str("(?:)");
        last = t.end;
    }
    plain.push_str(&translated[last..]);
    crate::gocompat::regex::parse_hir(&plain).map(|_| ()).map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().rev().find(|l| l.trim_start().starts_with("error:")).unwrap_or(msg.as_str());
        GrokError::Regex { pattern: name.to_string(), message: last.trim().trim_start_matches("error: ").to_string() }
    })
}

/// The `NAME BODY` lines of a pattern file, with 1-based line numbers. Same acceptance as grokky's `^(\w+)\s+(.+)$`
/// per line (Go's `\w`/`\s` are ASCII; a trailing `\r` is dropped as Go's line scanner does).
fn definition_lines(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.split('\n').enumerate().filter_map(|(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r');
        let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(line.len());
        if name_end == 0 {
            return None;
        }
        let rest = &line[name_end..];
        let body = rest.trim_start_matches(is_space);
        let spaces = rest.len() - body.len();
        if spaces == 0 {
            return None;
        }
        if !body.is_empty() {
            return Some((i + 1, &line[..name_end], body));
        }
        // `\s+(.+)` with nothing after the spaces: `.+` takes the last space if there are at least two.
        (spaces >= 2).then(|| (i + 1, &line[..name_end], &rest[spaces - 1..]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(lib: &PatternLibrary, pattern: &str, input: &str) -> Option<Vec<(String, String)>> {
        let g = lib.compile(pattern).unwrap_or_else(|e| panic!("{e}"));
        let c = g.captures(input)?;
        let mut v: Vec<(String, String)> = c.iter().map(|(k, v)| (k.to_string(), v.into_owned())).collect();
        v.sort();
        Some(v)
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        v.sort();
        v
    }

    #[test]
    fn definition_lines_like_grokky() {
        let text = "# comment\nA  x y \r\n\nB\tz\nC \nD  \n-E x\nF(x) y\n";
        let got: Vec<_> = definition_lines(text).collect();
        assert_eq!(got, vec![(2, "A", "x y "), (4, "B", "z"), (6, "D", " ")]);
    }

    #[test]
    fn builtins_expand_and_capture() {
        let lib = PatternLibrary::new();
        assert!(lib.len() >= 88, "{}", lib.len());
        let got = caps(&lib, "%{SYSLOGBASE}", "Feb 12 14:10:21 host sshd[42]: Failed").unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("facility", ""),
                ("logsource", "host"),
                ("pid", "42"),
                ("priority", ""),
                ("program", "sshd"),
                ("timestamp", "Feb 12 14:10:21"),
            ])
        );
    }

    #[test]
    fn no_semantic_never_matches_and_unknown_names_fail() {
        let lib = PatternLibrary::new();
        assert!(caps(&lib, "%{IP}", "1.2.3.4").is_none());
        assert!(lib.compile("%{IP}").unwrap().is_match("1.2.3.4"));
        let err = lib.compile("%{NOPE:x}").unwrap_err();
        assert_eq!(err, GrokError::UnknownPattern { name: "NOPE".into(), referenced_by: "%{NOPE:x}".into() });
    }

    #[test]
    fn raw_groups_do_not_capture() {
        let lib = PatternLibrary::new();
        let got = caps(&lib, r"(?P<raw>\d+) (a|b) %{WORD:w}", "12 a word").unwrap();
        assert_eq!(got, pairs(&[("w", "word")]));
    }

    #[test]
    fn last_occurrence_wins_across_branches() {
        let lib = PatternLibrary::new();
        assert_eq!(caps(&lib, "%{INT:x}|%{WORD:x}", "12").unwrap(), pairs(&[("x", "")]));
        assert_eq!(caps(&lib, "%{INT:x}|%{WORD:x}", "ab").unwrap(), pairs(&[("x", "ab")]));
        // HTTPD_ERRORLOG: both branches define timestamp; a 2.0-style line loses it.
        let line = "[Mon Jan 02 15:04:05 2006] [error] [client 1.2.3.4] File does not exist";
        let got = caps(&lib, "%{HTTPD_ERRORLOG}", line).unwrap();
        let get = |k: &str| got.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("timestamp"), "");
        assert_eq!(get("clientip"), "1.2.3.4");
        assert_eq!(get("errormsg"), "File does not exist");
    }

    #[test]
    fn files_override_builtins_but_not_each_other() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("one"), "WORD [a-z]+\nPAIR %{WORD:a}=%{WORD:b}\n").unwrap();
        std::fs::write(dir.path().join("two"), "# x\nOTHER x\nPAIR y\n").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "PAIR z\n").unwrap();
        let mut lib = PatternLibrary::new();
        let err = lib.load_dir(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("two:3") && msg.contains("one:2") && msg.contains("PAIR"), "{msg}");

        std::fs::remove_file(dir.path().join("two")).unwrap();
        let mut lib = PatternLibrary::new();
        assert_eq!(lib.load_dir(dir.path()).unwrap(), 2);
        // The overridden WORD takes no digits: `k1=ab` matched with the built-in WORD, not any more.
        assert!(caps(&lib, "%{PAIR}", "k1=ab").is_none());
        assert!(caps(&PatternLibrary::new(), "%{WORD:a}=%{WORD:b}", "k1=ab").is_some());
        assert_eq!(caps(&lib, "%{PAIR}", "x1 k=ab").unwrap(), pairs(&[("a", "k"), ("b", "ab")]));
    }

    #[test]
    fn bad_file_lines_are_reported_with_their_place() {
        let mut lib = PatternLibrary::new();
        let file: Arc<str> = Arc::from("pats");
        let err = lib.load_text(&file, "GOOD x\nBAD %{MISSING}\n").unwrap_err();
        assert_eq!(err.to_string(), "pats:2: grok pattern \"BAD\" references unknown pattern %{MISSING}");
        let mut lib = PatternLibrary::new();
        let err = lib.load_text(&file, "\nBAD (x\n").unwrap_err().to_string();
        assert!(err.starts_with("pats:2: grok pattern \"BAD\": "), "{err}");
        let mut lib = PatternLibrary::new();
        let err = lib.load_text(&file, "A %{B}\nB x%{C}\nC %{A}\n").unwrap_err();
        assert!(err.to_string().contains("A -> B -> C -> A"), "{err}");
    }

    #[test]
    fn pattern_syntax_keeps_first_and_compiles_on_add() {
        let mut lib = PatternLibrary::new();
        assert_eq!(lib.add_pattern_syntax("MINE", r"\d{3}").unwrap(), None);
        let warn = lib.add_pattern_syntax("MINE", r"x").unwrap().unwrap();
        assert!(warn.contains("MINE") && warn.contains("first"), "{warn}");
        // The same body again is no redefinition.
        assert_eq!(lib.add_pattern_syntax("MINE", r"\d{3}").unwrap(), None);
        assert!(lib.add_pattern_syntax("IP", "x").unwrap().is_some());
        assert_eq!(caps(&lib, "%{MINE:m}", "ab 1234").unwrap(), pairs(&[("m", "123")]));
        // Only names defined before may be referenced.
        assert!(matches!(lib.add_pattern_syntax("USES_LATER", "%{LATER}"), Err(GrokError::UnknownPattern { .. })));
        assert!(lib.add_pattern_syntax("LATER", "y").unwrap().is_none());
        assert!(!lib.contains("USES_LATER"));
        assert!(matches!(lib.add_pattern_syntax("BROKEN", "(x"), Err(GrokError::Regex { .. })));
    }
}
