//! `console`: one line per event on standard output, as text (`output::render::alert_text`: time, severity,
//! scenario, scope, value, event count, summary; control characters escaped so one event is one line) or JSON
//! (`format: json` / `alert`).
//!
//! Lines are written through a buffer that is flushed whenever the queue is momentarily empty, so a burst costs one
//! write and a quiet daemon shows each alert at once. A closed stdout (`correlator run | head`) makes deliveries
//! fail (counted) instead of stopping the daemon.

use std::io::{BufWriter, Stdout, Write};

use crate::config::listeners::ListenerSpec;

use super::{Format, Item, Listener, SpecCtx};

pub struct ConsoleListener {
    format: Format,
    out: BufWriter<Stdout>,
}

impl ConsoleListener {
    pub fn new(format: Format) -> ConsoleListener {
        ConsoleListener { format, out: BufWriter::new(std::io::stdout()) }
    }

    pub fn from_spec(spec: &ListenerSpec, ctx: &mut SpecCtx) -> Option<ConsoleListener> {
        let format = ctx.format(&spec.format, &[Format::Text, Format::Json, Format::Alert], Format::Text);
        Some(ConsoleListener::new(format))
    }
}

impl Listener for ConsoleListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Event(v) = item else { return Ok(()) };
        let r = match self.format {
            Format::Text => writeln!(self.out, "{}", super::one_line(&v.text)),
            f => writeln!(self.out, "{}", f.json(v)),
        };
        r.map_err(|e| format!("stdout: {e}"))
    }

    fn flush(&mut self) -> Result<(), String> {
        self.out.flush().map_err(|e| format!("stdout: {e}"))
    }
}
