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

/// Turns a serde-saphyr error into `file:line:col: message`, keeping only the message line (the crate also renders
/// a source snippet, which we do not want in one-line diagnostics).
pub fn yaml_error(file: &Path, e: &serde_saphyr::Error) -> ConfigError {
    let (line, col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("").trim();
    // Messages look like "error: line 2 column 1: unknown field `x`, expected ...".
    let msg = first.strip_prefix("error: ").unwrap_or(first);
    let msg = match msg.find(": ") {
        Some(i) if msg.starts_with("line ") => &msg[i + 2..],
        _ => msg,
    };
    ConfigError::new(file, line, col, msg.to_string())
}

/// Reads a whole file as text, as a [`ConfigError`] on failure.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))
}

/// Parses every document of a multi-document YAML text. Empty documents (a trailing `---`, comments only) come back
/// as `None` so callers can keep document numbering if they want it.
pub fn from_documents<T: DeserializeOwned>(file: &Path, text: &str) -> Result<Vec<Option<T>>, ConfigError> {
    serde_saphyr::from_multiple::<Option<T>>(text).map_err(|e| yaml_error(file, &e))
}

/// Parses a single-document YAML text.
pub fn from_document<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str::<T>(text).map_err(|e| yaml_error(file, &e))
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
        // A quoted scalar's reported column is its opening quote.
        if s.value.quoted {
            col += 1;
        }
        Ok(Expr { src: s.value.text, line: s.referenced.line() as u32, col })
    }
}

/// A scalar read as text whatever its YAML type (`format: 2.0`, `capacity: "5"`, `value: 404`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScalarText {
    pub text: String,
    quoted: bool,
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
                Ok(ScalarText { text: v.to_string(), quoted: false })
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v, quoted: false })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string(), quoted: false })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string(), quoted: false })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<ScalarText, E> {
                Ok(ScalarText { text: format_yaml_float(v), quoted: false })
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText { text: v.to_string(), quoted: false })
            }
        }
        d.deserialize_any(V)
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
        assert_eq!((e.line, e.col), (2, 9));
        assert_eq!(e.position_of(4), (2, 13));
        assert_eq!(a.format.as_ref().unwrap().text, "2.0");
        assert_eq!(a.pattern_syntax.as_ref().unwrap().0, vec![("B".into(), "b".into()), ("A".into(), "%{B}".into())]);
        let b = docs[1].as_ref().unwrap();
        let e = b.filter.as_ref().unwrap();
        assert_eq!(e.src, "1 ==\n  2\n");
        assert_eq!(e.position_of(7), (11, 5));
        assert!(docs.len() == 2 || docs[2].is_none());
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
