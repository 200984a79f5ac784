//! `csv`: audit rows, one CSV file per schema (`<dir>/<schema>.csv`), columns in the schema's order.
//!
//! The header is written when the file is empty — created, or emptied by rotation — and only then: after a
//! restart the existing file keeps its header. A file whose first line is not this schema's header (the schema's
//! columns changed) is still appended to, with a warning, because losing audit rows is worse than a mixed file.
//! Quoting is the `csv` crate's (RFC 4180: fields with separators, quotes or line breaks are quoted, quotes
//! doubled). With `escape_formulas` (default on), a value that a spreadsheet would run as a formula (`=`, `+`,
//! `-`, `@`, tab or carriage return first, and not a number) gets a leading `'`: audit values come from log lines,
//! i.e. from attackers.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::listeners::ListenerSpec;

use super::file::RotatingFile;
use super::{Item, Listener, SpecCtx};

struct SchemaFile {
    file: RotatingFile,
    /// The columns of the rows written to this file.
    columns: Vec<String>,
}

pub struct CsvListener {
    dir: PathBuf,
    escape_formulas: bool,
    files: HashMap<String, SchemaFile>,
}

/// A schema name usable as a file name: letters, digits, `-`, `_`, `.`; anything else becomes `_`.
fn file_stem(schema: &str) -> Option<String> {
    let s: String =
        schema.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    (!s.is_empty() && !s.starts_with('.')).then_some(s)
}

fn escape_formula(v: &str) -> std::borrow::Cow<'_, str> {
    let risky = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && v.trim().parse::<f64>().is_err() { format!("'{v}").into() } else { v.into() }
}

fn encode<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Vec<u8>, String> {
    let mut w = ::csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    w.write_record(fields).map_err(|e| e.to_string())?;
    w.into_inner().map_err(|e| e.to_string())
}

impl CsvListener {
    pub fn new(dir: PathBuf, escape_formulas: bool) -> CsvListener {
        CsvListener { dir, escape_formulas, files: HashMap::new() }
    }

    pub fn from_spec(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<CsvListener> {
        let dir = ctx.required(&spec.dir, "dir", pos).map(|d| ctx.path(d))?;
        let escape = spec.escape_formulas.as_ref().map(|b| b.value).unwrap_or(true);
        Some(CsvListener::new(dir, escape))
    }
}

impl Listener for CsvListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Audit(row) = item else { return Ok(()) };
        let stem =
            file_stem(&row.schema).ok_or_else(|| format!("audit schema {:?}: unusable as a file name", row.schema))?;
        let columns: Vec<String> = row.columns.iter().map(|(k, _)| k.clone()).collect();
        let sf = self.files.entry(stem.clone()).or_insert_with(|| SchemaFile {
            file: RotatingFile::new(self.dir.join(format!("{stem}.csv"))),
            columns: columns.clone(),
        });
        if sf.columns != columns {
            return Err(format!(
                "audit schema {}: row columns {:?} differ from the file's {:?}",
                row.schema, columns, sf.columns
            ));
        }
        let path = sf.file.path().display().to_string();
        let was_open = sf.file.is_open();
        let empty = sf.file.prepare().map_err(|e| format!("{path}: {e}"))?;
        let header = encode(columns.iter().map(String::as_str))?;
        if empty {
            sf.file.append(&header).map_err(|e| format!("{path}: {e}"))?;
        } else if !was_open {
            // First write to an existing file (a restart): keep its header, but say so when it is not ours.
            let first = sf.file.first_line().unwrap_or_default();
            let ours = String::from_utf8_lossy(&header);
            if first != ours.trim_end_matches(['\n', '\r']) {
                crate::warn_limited!(file = %path, "CSV header {first:?} is not the audit schema's {:?}; appending anyway", ours.trim_end());
            }
        }
        let values: Vec<std::borrow::Cow<str>> = row
            .columns
            .iter()
            .map(|(_, v)| if self.escape_formulas { escape_formula(v) } else { v.as_str().into() })
            .collect();
        let line = encode(values.iter().map(|v| v.as_ref()))?;
        sf.file.append(&line).map_err(|e| format!("{path}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Severity;
    use crate::output::event::AuditRow;
    use std::sync::Arc;

    fn row(schema: &str, cols: &[(&str, &str)]) -> Item {
        Item::Audit(Arc::new(AuditRow {
            schema: schema.into(),
            columns: cols.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            timestamp: String::new(),
            system: "s".into(),
            severity: Severity::Notice,
        }))
    }

    #[test]
    fn quoting_formulas_and_schema_names() {
        let d = tempfile::tempdir().unwrap();
        let mut l = CsvListener::new(d.path().to_path_buf(), true);
        l.deliver(&row(
            "logins",
            &[("user", "a,b"), ("note", "say \"hi\"\nbye"), ("f", "=cmd|' /C calc'!A0"), ("n", "-12.5")],
        ))
        .unwrap();
        let text = std::fs::read_to_string(d.path().join("logins.csv")).unwrap();
        assert_eq!(text, "user,note,f,n\n\"a,b\",\"say \"\"hi\"\"\nbye\",'=cmd|' /C calc'!A0,-12.5\n");
        assert!(file_stem("../etc/passwd").is_none());
        assert_eq!(file_stem("a/../b").as_deref(), Some("a_.._b"));
        assert!(file_stem(".hidden").is_none());
        assert!(file_stem("").is_none());
        assert_eq!(file_stem("a/b c").as_deref(), Some("a_b_c"));
        // Another schema with other columns under the same file name is refused, not mixed in.
        assert!(l.deliver(&row("logins", &[("other", "x")])).is_err());
    }

    #[test]
    fn header_after_rotation_while_running_and_not_after_restart() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.csv");
        let mut l = CsvListener::new(d.path().to_path_buf(), false);
        l.deliver(&row("a", &[("k", "1")])).unwrap();
        std::fs::rename(&p, d.path().join("a.csv.1")).unwrap();
        l.deliver(&row("a", &[("k", "=2")])).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("a.csv.1")).unwrap(), "k\n1\n");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "k\n=2\n", "escape_formulas off");
        // A new listener (a restart) on a file written with another header appends, without a header.
        std::fs::write(&p, "old,header\nx,y\n").unwrap();
        let mut l2 = CsvListener::new(d.path().to_path_buf(), true);
        l2.deliver(&row("a", &[("k", "3")])).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old,header\nx,y\n3\n");
    }
}
