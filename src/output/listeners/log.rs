//! `log`: every event as a record of Correlator's own log (`tracing`), at a level that follows its severity:
//! notice → INFO, warning → WARN, error → ERROR, under the target `correlator::alert`. What reaches the terminal
//! or the journal is then decided by `--log-level` / `CORRELATOR_LOG` (the default, `warn`, hides notices).

use crate::event::Severity;

use super::{Item, Listener};

pub struct LogListener {
    name: String,
}

impl LogListener {
    pub fn new(name: &str) -> LogListener {
        LogListener { name: name.to_string() }
    }
}

impl Listener for LogListener {
    fn deliver(&mut self, item: &Item) -> Result<(), String> {
        let Item::Event(v) = item else { return Ok(()) };
        let source = v.data.get("source_value").and_then(|s| s.as_str()).unwrap_or("");
        let (listener, system, summary) = (&self.name, &v.system, &v.summary);
        let count = v.data.get("events_count").and_then(|c| c.as_i64()).unwrap_or(0);
        match v.severity {
            Severity::Notice => {
                tracing::info!(target: "correlator::alert", listener, system, source, count, "{summary}")
            }
            Severity::Warning => {
                tracing::warn!(target: "correlator::alert", listener, system, source, count, "{summary}")
            }
            Severity::Error => {
                tracing::error!(target: "correlator::alert", listener, system, source, count, "{summary}")
            }
        }
        Ok(())
    }
}
