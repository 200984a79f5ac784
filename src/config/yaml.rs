//! Reading YAML the way Correlator's users need it: multi-document files, strict keys, and every problem reported
//! as `file:line:col: message`.
//!
//! Built on serde-saphyr (see `docs/design.md`, "YAML"). Expression fields are read as [`Expr`], which remembers
//! where the scalar sits in the file so an expression compile error can point at the exact column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// A problem in a file, with its position when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the position is unknown.
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &Path, line: u32, col: u32, message: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), line, col, message: message.into() }
    }

    /// An error about a whole file (unreadable, wrong kind).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError::new(file, 0, 0, message)
    }

    /// An error at the position of an expression field, shifted to `offset` bytes into the expression.
    pub fn at_expr(file: &Path, expr: &Expr, offset: usize, message: impl Into<String>) -> Self {
        let (line, col) = expr.position_of(offset);
        ConfigError::new(file, line, col, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.col) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, 0) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            (l, c) => write!(f, "{}:{}:{}: {}", self.file.display(), l, c, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Several problems at once: loaders collect all they find rather than stopping at the first.
#[derive(Clone, Debug, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: ConfigErrors) {
        self.0.extend(other.0);
    }

    /// `Ok(v)` when no problem was collected.
    pub fn into_result<T>(self, v: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() { Ok(v) } else { Err(self) }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Turns a serde-saphyr error on `text` into `file:line:col: key.path: message (hint)`, keeping only the message
/// line (the crate also renders a source snippet, which we do not want in one-line diagnostics).
pub fn yaml_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> ConfigError {
    let (line, col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
    let rendered = e.to_string();
    let first = rendered.lines().next().unwrap_or("").trim();
    // Messages look like "error: line 2 column 1: unknown field `x`, expected ...".
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match msg.find(": ") {
        Some(i) if msg.starts_with("line ") => &msg[i + 2..],
        _ => msg,
    };
    ConfigError::new(file, line, col, explain_error(text, e, msg))
}

/// The innermost error: serde-saphyr wraps errors in snippet and alias layers.
fn innermost(mut e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    use serde_saphyr::Error as E;
    while let E::WithSnippet { error, .. } | E::AliasError { error, .. } = e {
        e = error;
    }
    e
}

/// `message` of error `e` on `text`, with the key path of the value it is about in front (`api.enabled: invalid
/// boolean`) and, for type errors, what was expected in plain words. serde-saphyr's messages name neither: on a
/// 40-line file `invalid i64` alone leaves the user looking for the field.
pub fn explain_error(text: &str, e: &serde_saphyr::Error, message: &str) -> String {
    use serde_saphyr::Error as E;
    let inner = innermost(e);
    // Only errors about a value have a field to name; syntax and I/O errors point at text, not at a key.
    let about_a_value = matches!(
        inner,
        E::Message { .. }
            | E::InvalidScalar { .. }
            | E::InvalidBooleanStrict { .. }
            | E::Unexpected { .. }
            | E::NullIntoString { .. }
            | E::NonFiniteFloat { .. }
            | E::SerdeInvalidType { .. }
            | E::SerdeInvalidValue { .. }
            | E::SerdeInvalidLength { .. }
            | E::SerdeUnknownVariant { .. }
            | E::SerdeUnknownField { .. }
            | E::SerdeMissingField { .. }
    );
    let hint = match inner {
        E::InvalidScalar { ty: "boolean", .. } => " (expected true or false)",
        E::InvalidScalar { ty: "floating point", .. } => " (expected a number)",
        E::InvalidScalar { ty, .. } if ty.starts_with('i') || ty.starts_with('u') => " (expected an integer)",
        E::Unexpected { expected: "sequence start", .. } => " (expected a list)",
        E::Unexpected { expected: "mapping start", .. } => " (expected a mapping of keys to values)",
        _ => "",
    };
    let path = match e.location() {
        Some(l) if about_a_value && l.line() > 0 => key_path_at(text, l.line() as usize, l.column() as usize),
        _ => String::new(),
    };
    if path.is_empty() {
        return format!("{message}{hint}");
    }
    // An unknown key reads better with its place after its name (`unknown field `x` in api.tls, expected …`),
    // and the message keeps starting the way people (and scripts) know.
    if let E::SerdeUnknownField { field, .. } = inner {
        let head = format!("unknown field `{field}`");
        if let Some(rest) = message.strip_prefix(&head) {
            return format!("{head} in {path}{rest}{hint}");
        }
    }
    format!("{path}: {message}{hint}")
}

/// The key path (`api.enabled`, `nodes[1].grok.pattern`) of the node at `line`:`col` (1-based) of `text`: the
/// last node starting at or before that position. For a key itself, the path of the mapping holding it (an
/// unknown key is named by the message already). Empty at the top level, or when the text does not parse that
/// far.
pub fn key_path_at(text: &str, line: usize, col: usize) -> String {
    use serde_saphyr::granit_parser::{Event, Parser};

    /// Where the walk is inside a collection.
    enum Frame {
        /// In a mapping: the current key (once read) and whether the next node is a key.
        Map {
            key: Option<String>,
            at_key: bool,
        },
        Seq {
            index: usize,
        },
    }
    fn render(stack: &[Frame], with_last_key: bool) -> String {
        let mut out = String::new();
        for (i, f) in stack.iter().enumerate() {
            match f {
                Frame::Map { key: Some(k), at_key: false } if with_last_key || i + 1 < stack.len() => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Frame::Seq { index } => out.push_str(&format!("[{index}]")),
                _ => {}
            }
        }
        out
    }
    /// A node of the current collection is complete: a key is followed by its value, a value by the next key.
    fn done(stack: &mut [Frame]) {
        match stack.last_mut() {
            Some(Frame::Map { at_key, .. }) => *at_key = !*at_key,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }

    let mut stack: Vec<Frame> = Vec::new();
    let mut best = String::new();
    for item in Parser::new_from_str(text) {
        let Ok((ev, span)) = item else { break };
        let starts = (span.start.line(), span.start.col() + 1);
        let node =
            matches!(ev, Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_));
        if node {
            if starts > (line, col) {
                break;
            }
            let is_key = matches!(stack.last(), Some(Frame::Map { at_key: true, .. }));
            best = render(&stack, !is_key);
            if is_key && let Some(Frame::Map { key, .. }) = stack.last_mut() {
                *key = Some(match &ev {
                    Event::Scalar(v, ..) => v.to_string(),
                    _ => "?".to_string(),
                });
            }
        }
        match ev {
            Event::DocumentStart(..) => stack.clear(),
            Event::Scalar(..) | Event::Alias(_) => done(&mut stack),
            Event::SequenceStart(..) => stack.push(Frame::Seq { index: 0 }),
            Event::MappingStart(..) => stack.push(Frame::Map { key: None, at_key: true }),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                done(&mut stack);
            }
            _ => {}
        }
    }
    best
}

/// Reads a whole file as text, as a [`ConfigError`] on failure.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))
}

/// Parses every document of a multi-document YAML text. Empty documents (a trailing `---`, comments only) come back
/// as `None` so callers can keep document numbering if they want it.
pub fn from_documents<T: DeserializeOwned>(file: &Path, text: &str) -> Result<Vec<Option<T>>, ConfigError> {
    serde_saphyr::from_multiple::<Option<T>>(text).map_err(|e| yaml_error(file, text, &e))
}

/// Like [`from_documents`], but a broken document does not hide the others: when the file does not parse as a
/// whole, each document is parsed on its own and every failing one is reported (all positions stay those of the
/// file). The documents that parse are returned too, so a linter can go on checking them; so are documents whose
/// only problems are unknown keys, read without those keys (see [`parse_without_unknown_keys`]). Callers that load
/// configuration refuse a file with any error, so such a document is only ever checked, never run.
pub fn from_documents_each<T: DeserializeOwned>(file: &Path, text: &str) -> (Vec<Option<T>>, Vec<ConfigError>) {
    let first = match from_documents::<T>(file, text) {
        Ok(docs) => return (docs, Vec::new()),
        Err(e) => e,
    };
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (first_line, chunk) in split_documents(text) {
        // Blank lines in place of the documents before keep line numbers (and expression positions) exact.
        let mut padded = "\n".repeat(first_line);
        padded.push_str(chunk);
        let (doc, errs) = parse_without_unknown_keys::<T>(file, padded);
        docs.extend(doc);
        errors.extend(errs);
    }
    if errors.is_empty() {
        // The split read differently from the whole file (a directive, say): keep the whole-file verdict.
        errors.push(first);
    }
    (docs, errors)
}

/// Unknown keys skipped per document before giving up: a document with more is not worth reading further.
const MAX_UNKNOWN_KEYS: usize = 64;

/// Parses one document; each unknown key is reported, blanked out and the document parsed again, so the problems
/// after it (a bad value, and then whatever the compiler finds) are reported in the same pass instead of one per
/// run. Serde stops at the first unknown key of a `deny_unknown_fields` struct and cannot be told to skip it, hence
/// the text edit: the key and its value become spaces, which keeps every other position in the file exact.
/// Returns the document when it parsed in the end, and every error met.
fn parse_without_unknown_keys<T: DeserializeOwned>(
    file: &Path,
    mut text: String,
) -> (Option<Option<T>>, Vec<ConfigError>) {
    let mut errors = Vec::new();
    for _ in 0..=MAX_UNKNOWN_KEYS {
        match serde_saphyr::from_str::<Option<T>>(&text) {
            Ok(d) => return (Some(d), errors),
            Err(e) => {
                errors.push(yaml_error(file, &text, &e));
                let blanked = match innermost(&e) {
                    serde_saphyr::Error::SerdeUnknownField { field, location, .. } => {
                        blank_key(&mut text, location.line() as usize, location.column() as usize, field)
                    }
                    _ => false,
                };
                if !blanked {
                    break;
                }
            }
        }
    }
    (None, errors)
}

/// Replaces the block-style `key: value` entry whose key starts at `line`:`col` (1-based, in characters) with
/// spaces: the key, the rest of its line, and the lines below that belong to its value (more indented, or a
/// sequence at the key's own indentation). False, and nothing changed, when the key is not where it should be or
/// is not the first thing on its line (flow mappings are not edited: blanking would break their syntax).
fn blank_key(text: &mut String, line: usize, col: usize, field: &str) -> bool {
    let Some(first) = line.checked_sub(1) else { return false };
    let indent = col.saturating_sub(1);
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let Some(key_line) = lines.get(first) else { return false };
    let before: String = key_line.chars().take(indent).collect();
    let rest: String = key_line.chars().skip(indent).collect();
    let starts_with_key = [field.to_string(), format!("'{field}'"), format!("\"{field}\"")]
        .iter()
        .any(|k| rest.strip_prefix(k.as_str()).is_some_and(|after| after.trim_start().starts_with(':')));
    if col == 0 || !starts_with_key || !before.chars().all(|c| c == ' ' || c == '-') {
        return false;
    }
    let blank = |s: &str| s.chars().map(|c| if c == '\n' || c == '\r' { c } else { ' ' }).collect::<String>();
    lines[first] = format!("{before}{}", blank(&rest));
    for l in lines.iter_mut().skip(line) {
        let body = l.trim_end_matches(['\n', '\r']);
        let content = body.trim_start_matches(' ');
        let own_indent = body.len() - content.len();
        let belongs = content.is_empty()
            || own_indent > indent
            || (own_indent == indent && (content == "-" || content.starts_with("- ")));
        if !belongs {
            break;
        }
        *l = blank(l);
    }
    *text = lines.concat();
    true
}

/// Splits a multi-document YAML text at document markers (`---` at the start of a line, which YAML never allows
/// inside a scalar), giving each document's 0-based first line. The marker line starts its document.
pub fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut pos) = (0usize, 0usize, 0usize);
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if marker && pos > start {
            docs.push((start_line, &text[start..pos]));
            start = pos;
            start_line = line_no;
        }
        pos += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

/// Parses a single-document YAML text.
pub fn from_document<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| yaml_error(file, text, &e))
}

/// A value with the position where it starts in its file (`.value`, `.referenced.line()`).
pub type Located<T> = Spanned<T>;

/// Line and column of a located value.
pub fn position<T>(v: &Located<T>) -> (u32, u32) {
    (v.referenced.line() as u32, v.referenced.column() as u32)
}

/// An expression (or any string) field with the position of its scalar in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Expr {
    pub src: String,
    #[serde(skip)]
    pub line: u32,
    #[serde(skip)]
    pub col: u32,
}

impl Expr {
    /// An expression that did not come from a file (tests, command line).
    pub fn inline(src: impl Into<String>) -> Self {
        Expr { src: src.into(), line: 0, col: 0 }
    }

    /// Line and column in the file of byte `offset` within the expression. Exact for plain and block scalars;
    /// for quoted scalars with escapes it points at the right line and near the column.
    pub fn position_of(&self, offset: usize) -> (u32, u32) {
        if self.line == 0 {
            return (0, 0);
        }
        let before = &self.src[..offset.min(self.src.len())];
        let newlines = before.matches('\n').count() as u32;
        if newlines == 0 {
            (self.line, self.col + before.chars().count() as u32)
        } else {
            // Block scalar: continuation lines keep the indentation of the first content line.
            let last_line = before.rsplit('\n').next().unwrap_or("");
            (self.line + newlines, self.col + last_line.chars().count() as u32)
        }
    }

    pub fn is_blank(&self) -> bool {
        self.src.trim().is_empty()
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: Spanned<ScalarText> = Spanned::deserialize(d)?;
        let mut col = s.referenced.column() as u32;
        // A quoted scalar's reported column is its opening quote. The parser does not say how a scalar was
        // written, but its source span is longer than its value only when quotes (or escapes) were involved; a
        // block scalar's span starts at its content, and a multi-line value gives no exact column anyway.
        let chars = s.value.text.chars().count() as u64;
        if !s.value.text.contains('\n') && s.referenced.span().len() >= chars + 2 {
            col += 1;
        }
        Ok(Expr { src: s.value.text, line: s.referenced.line() as u32, col })
    }
}

/// A scalar read as text whatever its YAML type (`format: 2.0`, `capacity: "5"`, `value: 404`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalarText {
    pub text: String,
}

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string() })
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string() })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string() })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: format_yaml_float(v) })
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string() })
            }
        }
        // Asked for a string, the parser hands over a plain scalar's text as written: `yes`, `on`, `0x1F`, `1e3`
        // and `2.0` stay what the author typed, as go-yaml does for CrowdSec's string fields (typed by value,
        // `yes` would become `true`).
        d.deserialize_str(V)
    }
}

/// `2.0` stays `2.0` (Rust would print `2`).
fn format_yaml_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.1}") } else { v.to_string() }
}

/// A YAML mapping whose order matters (`pattern_syntax`: later entries may reference earlier ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderedMap(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OrderedMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of names to strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<OrderedMap, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, ScalarText>()? {
                    out.push((k, v.text));
                }
                Ok(OrderedMap(out))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<OrderedMap, E> {
                Ok(OrderedMap::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Go's `format` constraint for hub items: `>= 1.0, <= 3.0` (spec §2.2).
pub fn check_format(version: &str) -> Result<(), String> {
    let v = version.trim();
    let mut parts = v.split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(|| format!("invalid format {v:?}"))?;
    let minor: u32 = match parts.next() {
        None => 0,
        Some(p) => p.parse().map_err(|_| format!("invalid format {v:?}"))?,
    };
    let ok = (1..=3).contains(&major) && !(major == 3 && minor > 0);
    if ok { Ok(()) } else { Err(format!("format {v} is not supported (expected >= 1.0, <= 3.0)")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        name: String,
        filter: Option<Expr>,
        format: Option<ScalarText>,
        pattern_syntax: Option<OrderedMap>,
    }

    #[test]
    fn unknown_field_names_file_line_col() {
        let f = Path::new("parsers/s01-parse/x.yaml");
        let err = from_documents::<Doc>(f, "name: a\nfiltre: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "parsers/s01-parse/x.yaml:2:1: unknown field `filtre`, expected one of name, filter, format, pattern_syntax"
        );
    }

    #[test]
    fn multi_documents_and_positions() {
        let f = Path::new("x.yaml");
        let text = "name: a\nfilter: \"evt.Meta.x == 'y'\"\nformat: 2.0\npattern_syntax:\n  B: b\n  A: '%{B}'\n---\nname: b\nfilter: |\n  1 ==\n    2\n---\n";
        let docs = from_documents::<Doc>(f, text).unwrap();
        let a = docs[0].as_ref().unwrap();
        let e = a.filter.as_ref().unwrap();
        // The expression starts after the opening quote: `M` of `Meta` is column 14.
        assert_eq!((e.line, e.col), (2, 10));
        assert_eq!(e.position_of(4), (2, 14));
        assert_eq!(a.format.as_ref().unwrap().text, "2.0");
        assert_eq!(a.pattern_syntax.as_ref().unwrap().0, vec![("B".into(), "b".into()), ("A".into(), "%{B}".into())]);
        let b = docs[1].as_ref().unwrap();
        let e = b.filter.as_ref().unwrap();
        assert_eq!(e.src, "1 ==\n  2\n");
        assert_eq!(e.position_of(7), (11, 5));
        assert!(docs.len() == 2 || docs[2].is_none());
    }

    #[test]
    fn expression_columns_start_at_the_first_character_of_the_value() {
        let f = Path::new("x.yaml");
        let text = "name: a\nfilter: evt.x\n---\nname: b\nfilter: 'evt.x'\n---\nname: c\nfilter: \"e\\\"x\"\n---\nname: d\nfilter: |\n  evt.x\n";
        let docs = from_documents::<Doc>(f, text).unwrap();
        let cols: Vec<(u32, u32)> =
            docs.iter().flatten().map(|d| d.filter.as_ref().map(|e| (e.line, e.col)).unwrap()).collect();
        assert_eq!(cols, [(2, 9), (5, 10), (8, 10), (12, 3)]);
    }

    #[test]
    fn plain_scalars_keep_their_text() {
        #[derive(Debug, Deserialize)]
        struct Statics {
            value: Vec<ScalarText>,
        }
        let f = Path::new("x.yaml");
        let text = "value: [yes, no, on, off, true, 0x1F, 1e3, 2.0, 404, 'quoted', -7]\n";
        let docs = from_documents::<Statics>(f, text).unwrap();
        let got: Vec<&str> = docs[0].as_ref().unwrap().value.iter().map(|v| v.text.as_str()).collect();
        assert_eq!(got, ["yes", "no", "on", "off", "true", "0x1F", "1e3", "2.0", "404", "quoted", "-7"]);
    }

    #[test]
    fn every_broken_document_is_reported() {
        let f = Path::new("p.yaml");
        let text = "name: a\nfiltre: x\n---\nname: b\nfilter: ok\n---\nname: c\nnope: 1\n";
        let (docs, errors) = from_documents_each::<Doc>(f, text);
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].starts_with("p.yaml:2:1: unknown field `filtre`"), "{}", msgs[0]);
        assert!(msgs[1].starts_with("p.yaml:8:1: unknown field `nope`"), "{}", msgs[1]);
        // The documents with an unknown key are read without it, for checkers that go on.
        let good: Vec<&Doc> = docs.iter().flatten().collect();
        assert_eq!(good.len(), 3);
        assert_eq!(good[1].filter.as_ref().map(|e| (e.line, e.col)), Some((5, 9)));
        // A file that parses takes the fast path and reports nothing.
        let (docs, errors) = from_documents_each::<Doc>(f, "name: a\n---\nname: b\n");
        assert!(errors.is_empty());
        assert_eq!(docs.iter().flatten().count(), 2);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        name: Option<String>,
        api: Option<Api>,
        capacity: Option<i64>,
        prior: Option<f64>,
        filenames: Option<Vec<String>>,
        nodes: Option<Vec<Api>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Api {
        enabled: Option<bool>,
        port: Option<u16>,
    }

    fn error_of(text: &str) -> String {
        from_document::<Nested>(Path::new("x.yaml"), text).unwrap_err().to_string()
    }

    #[test]
    fn type_errors_name_the_key_path_and_what_was_expected() {
        assert_eq!(
            error_of("capacity: 1\napi:\n  enabled: maybe\n"),
            "x.yaml:3:12: api.enabled: invalid boolean (expected true or false)"
        );
        assert_eq!(error_of("# c\n\ncapacity: abc\n"), "x.yaml:3:11: capacity: invalid i64 (expected an integer)");
        assert_eq!(error_of("prior: x\n"), "x.yaml:1:8: prior: invalid floating point (expected a number)");
        assert_eq!(error_of("filenames: /x\n"), "x.yaml:1:12: filenames: expected sequence start (expected a list)");
        assert_eq!(
            error_of("nodes:\n  - enabled: true\n  - port: 99999\n"),
            "x.yaml:3:11: nodes[1].port: invalid u16 (expected an integer)"
        );
        // An unknown key is named by the message; the path says where it sits.
        assert!(
            error_of("api:\n  bogus: 1\n").starts_with("x.yaml:2:3: unknown field `bogus` in api, expected one of")
        );
        // Syntax errors are about text, not a key: no path.
        let syntax = error_of("api:\n  enabled: 'open\n");
        assert!(!syntax.contains("api"), "{syntax}");
    }

    #[test]
    fn key_paths_follow_mappings_sequences_and_documents() {
        let text = "a: 1\nb:\n  c: [x, {d: 2}]\n  e:\n    - f: 3\n---\ng: 4\n";
        assert_eq!(key_path_at(text, 1, 4), "a");
        assert_eq!(key_path_at(text, 1, 1), "", "a top-level key");
        assert_eq!(key_path_at(text, 3, 7), "b.c[0]");
        assert_eq!(key_path_at(text, 3, 14), "b.c[1].d");
        assert_eq!(key_path_at(text, 5, 10), "b.e[0].f");
        assert_eq!(key_path_at(text, 7, 4), "g");
        assert_eq!(key_path_at("a: [\n", 1, 5), "a", "as far as the text parses");
    }

    #[test]
    fn unknown_keys_are_reported_and_the_rest_is_still_read() {
        let f = Path::new("p.yaml");
        // Two unknown keys (one with a block value, one in a sequence item) and a bad value after them.
        let text =
            "name: a\nbogus:\n  - x\n  - y: 1\nnodes:\n  - enabled: true\n    nope: |\n      text\n    port: x\n";
        let (docs, errors) = from_documents_each::<Nested>(f, text);
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        assert!(msgs[0].starts_with("p.yaml:2:1: unknown field `bogus`, expected"), "{msgs:#?}");
        assert!(msgs[1].starts_with("p.yaml:7:5: unknown field `nope` in nodes[0], expected"), "{msgs:#?}");
        assert_eq!(msgs[2], "p.yaml:9:11: nodes[0].port: invalid u16 (expected an integer)");
        assert!(docs.is_empty(), "a document with a bad value is not returned");
        // Without the bad value, the document is read without its unknown keys, positions intact.
        let text = "nodes:\n  - nope: 1\n    enabled: true\n  - 'nope': 2\n    port: 3\n";
        let (docs, errors) = from_documents_each::<Nested>(f, text);
        assert_eq!(errors.len(), 2, "{errors:?}");
        let nodes = docs[0].as_ref().and_then(|d| d.nodes.as_ref()).unwrap();
        assert_eq!((nodes[0].enabled, nodes[1].port), (Some(true), Some(3)));
        let (docs, errors) =
            from_documents_each::<Doc>(Path::new("d.yaml"), "name: a\nfiltre: 1\nfilter: |\n  a ==\n   b\n");
        assert_eq!(errors.len(), 1);
        let d = docs[0].as_ref().unwrap();
        assert_eq!(d.filter.as_ref().map(|e| (e.src.as_str(), e.line, e.col)), Some(("a ==\n b\n", 4, 3)));
        // A flow mapping is not edited: the unknown key stays the only error of its document.
        let (docs, errors) = from_documents_each::<Nested>(f, "api: {bogus: 1, port: x}\n");
        assert_eq!((docs.len(), errors.len()), (0, 1));
    }

    #[test]
    fn format_versions() {
        assert!(check_format("1.0").is_ok());
        assert!(check_format("2.0").is_ok());
        assert!(check_format("3.0").is_ok());
        assert!(check_format("3").is_ok());
        assert!(check_format("3.1").is_err());
        assert!(check_format("0.9").is_err());
        assert!(check_format("x").is_err());
    }
}
