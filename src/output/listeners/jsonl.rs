//! `jsonl`: one JSON object per line in a file (`format: json`, the Correlator event, or `alert`, the alert
//! object). JSON escapes newlines, so hostile field content cannot break the one-object-per-line framing. The file
//! is reopened when logrotate moves or truncates it (see `file`).

use std::path::PathBuf;

use crate::config::listeners::ListenerSpec;

use super::file::RotatingFile;
use super::{Format, Item, Listener, SpecCtx};

pub struct JsonlListener {
    format: Format,
    file: RotatingFile,
}

impl JsonlListener {
    pub fn new(path: PathBuf, format: Format) -> JsonlListener {
        JsonlListener { format, file: RotatingFile::new(path) }
    }

    pub fn from_spec(spec: &ListenerSpec, pos: (u32, u32), ctx: &mut SpecCtx) -> Option<JsonlListener> {
        let format = ctx.format(&spec.format, &[Format::Json, Format::Alert], Format::Json);
        let path = ctx.required(&spec.path, "path", pos).map(|p| ctx.path(p))?;
        Some(JsonlListener::new(path, format))
    }
}

impl Listener for JsonlListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Event(v) = item else { return Ok(()) };
        let mut line = self.format.json(v).into_bytes();
        line.push(b'\n');
        let path = self.file.path().display().to_string();
        self.file.prepare().map_err(|e| format!("{path}: {e}"))?;
        self.file.append(&line).map_err(|e| format!("{path}: {e}"))
    }
}
