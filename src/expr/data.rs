//! Data files of `data:` sections (spec §11.4): string lists for `File()`, regexp lists for `RegexpInFile()`,
//! JSON-lines maps for `LookupFile()`/`FileMap()`.
//!
//! Files are loaded once per name before expressions are compiled, so the compiler can fetch a list and build a
//! matcher for it (Aho-Corasick, hash set, `RegexSet`). Lines starting with `#` and empty lines are skipped.
//! Not for: downloading (`source_url`) — files must already be in the data directory.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::{Regex, RegexSet};

use crate::gocompat::regex as goregex;

/// `type:` of a `data:` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// Plain lines (`type: string`).
    String,
    /// One Go regexp per line (`type: regexp` or `regex`).
    Regexp,
    /// JSON lines `{"pattern", "tag", "type": equals|contains|regex}` (`type: map`).
    Map,
}

impl DataKind {
    pub fn parse(s: &str) -> Option<DataKind> {
        match s {
            "string" => Some(DataKind::String),
            "regexp" | "regex" => Some(DataKind::Regexp),
            "map" => Some(DataKind::Map),
            _ => None,
        }
    }
}

/// A compiled regexp list with an optional bounded result cache (CrowdSec's `cache` options).
#[derive(Debug)]
pub struct RegexpList {
    pub patterns: Vec<String>,
    pub set: RegexSet,
    /// The literals one of which every match of every pattern starts with, when each pattern has a finite set of
    /// them (`bad_user_agents.regex.txt`: `\bAcunetix\b`, …): a subject holding none of them matches no pattern.
    /// The set alone ran its lazy DFA over every byte of every user agent (about 4,700 instructions on a browser's).
    /// Built on first use: its DFA for some 600 literals is a tenth of start-up, and most runs load lists (every
    /// installed scenario's) that their logs never reach.
    literals: OnceLock<Option<AhoCorasick>>,
    cache: Option<Mutex<HashMap<String, bool>>>,
    cache_size: usize,
}

impl RegexpList {
    fn new(patterns: Vec<String>, set: RegexSet) -> RegexpList {
        RegexpList { patterns, set, literals: OnceLock::new(), cache: None, cache_size: 0 }
    }

    /// The required-literal filter, built on first use (`None` when some pattern has no finite set of prefixes).
    fn literals(&self) -> Option<&AhoCorasick> {
        self.literals
            .get_or_init(|| {
                // A DFA: the contiguous NFA that the builder picks for some 600 literals was no faster than the set.
                let prefixes: Option<Vec<Vec<Vec<u8>>>> =
                    self.patterns.iter().map(|p| goregex::required_prefixes(p)).collect();
                prefixes.and_then(|lits| {
                    let lits = lits.into_iter().flatten();
                    let kind = Some(aho_corasick::AhoCorasickKind::DFA);
                    AhoCorasick::builder().kind(kind).prefilter(false).build(lits).ok()
                })
            })
            .as_ref()
    }

    /// Whether any regexp of the list matches `s` (the cache, if enabled, only memoises this pure function).
    pub fn is_match(&self, s: &str) -> bool {
        if let Some(ac) = self.literals()
            && !ac.is_match(s.as_bytes())
        {
            return false;
        }
        if let Some(cache) = &self.cache {
            let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = c.get(s) {
                return *hit;
            }
            let r = self.set.is_match(s.as_bytes());
            if c.len() >= self.cache_size {
                c.clear();
            }
            c.insert(s.to_string(), r);
            return r;
        }
        self.set.is_match(s.as_bytes())
    }
}

/// One row of a `map` data file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct MapRow {
    pub pattern: String,
    pub tag: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A `map` data file with its matchers.
#[derive(Debug)]
pub struct MapFile {
    pub rows: Vec<MapRow>,
    equals: HashMap<String, usize>,
    contains: Option<(AhoCorasick, Vec<usize>)>,
    regexes: Vec<(Regex, usize)>,
}

impl MapFile {
    /// `LookupFile`: the tag of the first `equals` row equal to `s`, else of the leftmost `contains` match, else of
    /// the first matching `regex` row; `""` when nothing matches.
    pub fn lookup(&self, s: &str) -> &str {
        if let Some(i) = self.equals.get(s) {
            return &self.rows[*i].tag;
        }
        if let Some((ac, rows)) = &self.contains
            && let Some(m) = ac.find(s)
        {
            return &self.rows[rows[m.pattern().as_usize()]].tag;
        }
        for (re, i) in &self.regexes {
            if re.is_match(s.as_bytes()) {
                return &self.rows[*i].tag;
            }
        }
        ""
    }
}

/// All loaded data files of a pipeline, by `dest_file` name.
#[derive(Debug, Default)]
pub struct DataStore {
    strings: RwLock<HashMap<String, Arc<StringList>>>,
    regexps: RwLock<HashMap<String, Arc<RegexpList>>>,
    maps: RwLock<HashMap<String, Arc<MapFile>>>,
}

/// A `string` data file: its lines in order and as a set.
#[derive(Debug)]
pub struct StringList {
    pub lines: Vec<String>,
    pub set: HashSet<String>,
}

fn useful_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl DataStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `data_dir/dest_file` as `kind` unless a file of that name and kind is already loaded.
    pub fn load(&self, dest_file: &str, kind: DataKind, data_dir: &Path) -> Result<(), String> {
        if self.is_loaded(dest_file, kind) {
            return Ok(());
        }
        let path = data_dir.join(dest_file);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        self.load_text(dest_file, kind, &text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn is_loaded(&self, name: &str, kind: DataKind) -> bool {
        match kind {
            DataKind::String => self.strings.read().unwrap_or_else(|p| p.into_inner()).contains_key(name),
            DataKind::Regexp => self.regexps.read().unwrap_or_else(|p| p.into_inner()).contains_key(name),
            DataKind::Map => self.maps.read().unwrap_or_else(|p| p.into_inner()).contains_key(name),
        }
    }

    /// Registers data from text (what `load` does after reading the file; also handy in tests).
    pub fn load_text(&self, name: &str, kind: DataKind, text: &str) -> Result<(), String> {
        match kind {
            DataKind::String => {
                let lines: Vec<String> = useful_lines(text).map(str::to_string).collect();
                let set = lines.iter().cloned().collect();
                self.strings
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), Arc::new(StringList { lines, set }));
            }
            DataKind::Regexp => {
                let patterns: Vec<String> = useful_lines(text).map(str::to_string).collect();
                for (i, p) in patterns.iter().enumerate() {
                    goregex::compile(p).map_err(|e| format!("line {}: {e}", i + 1))?;
                }
                let set = goregex::compile_set(&patterns)?;
                self.regexps
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), Arc::new(RegexpList::new(patterns, set)));
            }
            DataKind::Map => {
                let mut rows = Vec::new();
                for (i, l) in useful_lines(text).enumerate() {
                    let row: MapRow = serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1))?;
                    rows.push(row);
                }
                let mut equals = HashMap::new();
                let mut contains_pats = Vec::new();
                let mut contains_rows = Vec::new();
                let mut regexes = Vec::new();
                for (i, r) in rows.iter().enumerate() {
                    match r.kind.as_str() {
                        "equals" => {
                            equals.entry(r.pattern.clone()).or_insert(i);
                        }
                        "contains" => {
                            contains_pats.push(r.pattern.clone());
                            contains_rows.push(i);
                        }
                        "regex" => regexes.push((goregex::compile(&r.pattern)?, i)),
                        other => return Err(format!("unknown map row type {other:?}")),
                    }
                }
                let contains = if contains_pats.is_empty() {
                    None
                } else {
                    let ac = AhoCorasick::builder()
                        .match_kind(MatchKind::LeftmostFirst)
                        .build(&contains_pats)
                        .map_err(|e| e.to_string())?;
                    Some((ac, contains_rows))
                };
                self.maps
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), Arc::new(MapFile { rows, equals, contains, regexes }));
            }
        }
        Ok(())
    }

    /// Enables a result cache of `size` entries for the regexp file `name` (`data: [{cache: {size: N}}]`).
    pub fn enable_regexp_cache(&self, name: &str, size: usize) {
        let mut m = self.regexps.write().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = m.get(name) {
            let new = RegexpList {
                patterns: list.patterns.clone(),
                set: list.set.clone(),
                literals: list.literals.clone(),
                cache: Some(Mutex::new(HashMap::new())),
                cache_size: size.max(1),
            };
            m.insert(name.to_string(), Arc::new(new));
        }
    }

    pub fn strings(&self, name: &str) -> Option<Arc<StringList>> {
        self.strings.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn regexps(&self, name: &str) -> Option<Arc<RegexpList>> {
        self.regexps.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn map(&self, name: &str) -> Option<Arc<MapFile>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_kinds_and_skips_comments() {
        let d = DataStore::new();
        d.load_text("s", DataKind::String, "# c\n\nfoo\nbar\r\n").unwrap();
        assert_eq!(d.strings("s").unwrap().lines, vec!["foo", "bar"]);
        d.load_text("r", DataKind::Regexp, "^a\\d+$\n(?i)bot").unwrap();
        let r = d.regexps("r").unwrap();
        assert!(r.is_match("a12") && r.is_match("GoodBOT") && !r.is_match("x"));
        assert!(d.load_text("bad", DataKind::Regexp, "(").is_err());
        d.load_text(
            "m",
            DataKind::Map,
            r#"{"pattern":"curl","tag":"tool","type":"contains"}
{"pattern":"exact","tag":"eq","type":"equals"}
{"pattern":"^Mozilla","tag":"browser","type":"regex"}"#,
        )
        .unwrap();
        let m = d.map("m").unwrap();
        assert_eq!(m.lookup("exact"), "eq");
        assert_eq!(m.lookup("xcurl/7"), "tool");
        assert_eq!(m.lookup("Mozilla/5"), "browser");
        assert_eq!(m.lookup("none"), "");
        d.enable_regexp_cache("r", 2);
        let r = d.regexps("r").unwrap();
        assert!(r.is_match("a1") && r.is_match("a1") && !r.is_match("b") && r.is_match("bot"));
    }

    #[test]
    fn regexp_lists_skip_subjects_without_any_required_literal() {
        let d = DataStore::new();
        d.load_text("ua", DataKind::Regexp, "\\bAcunetix\\b\n\\bECCP/1.0\\b\n(?i)sqlmap\n^curl/[0-9]\n").unwrap();
        d.load_text("open", DataKind::Regexp, "\\bbot\\b\n.*spider\n").unwrap();
        let ua = d.regexps("ua").unwrap();
        assert!(ua.literals.get().is_none(), "built on first use");
        assert!(ua.literals().is_some());
        assert!(d.regexps("open").unwrap().literals().is_none(), ".*spider has no literal prefix");
        for s in [
            "Mozilla/5.0 (X11; Linux x86_64)",
            "Acunetix-scanner",
            "x Acunetix y",
            "AcunetixBot",
            "ECCP/1x0",
            "SQLMAP/1.5",
            "curl/8.1",
            "xcurl/8",
            "",
        ] {
            assert_eq!(ua.is_match(s), ua.set.is_match(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn load_reads_from_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.txt"), "a\nb\n").unwrap();
        let d = DataStore::new();
        d.load("x.txt", DataKind::String, dir.path()).unwrap();
        assert!(d.is_loaded("x.txt", DataKind::String));
        assert!(d.load("missing.txt", DataKind::String, dir.path()).is_err());
    }
}
