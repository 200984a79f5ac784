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
        let source = super::one_line(v.data.get("source_value").and_then(|s| s.as_str()).unwrap_or(""));
        let count = v.data.get("events_count").and_then(|c| c.as_i64()).unwrap_or(0);
        let (listener, system, summary) = (&self.name, &v.system, super::one_line(&v.summary));
        match v.severity {
            Severity::Notice => {
                tracing::info!(target: "correlator::alert", listener = %listener, system = %system, source = %source, count, "{summary}")
            }
            Severity::Warning => {
                tracing::warn!(target: "correlator::alert", listener = %listener, system = %system, source = %source, count, "{summary}")
            }
            Severity::Error => {
                tracing::error!(target: "correlator::alert", listener = %listener, system = %system, source = %source, count, "{summary}")
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::event::EventView;
    use crate::output::event::tests::sample_alert;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn severity_sets_the_level() {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(sub, || {
            let mut l = LogListener::new("log");
            for (sev, ip) in
                [(Severity::Notice, "10.0.0.1"), (Severity::Warning, "10.0.0.2"), (Severity::Error, "10.0.0.3")]
            {
                let v = EventView::from_event(&sample_alert(ip, sev, &format!("seen {ip}"))).unwrap();
                l.deliver(&Item::Event(Arc::new(v))).unwrap();
            }
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, (level, ip)) in lines.iter().zip([("INFO", "10.0.0.1"), ("WARN", "10.0.0.2"), ("ERROR", "10.0.0.3")])
        {
            assert!(line.contains(level) && line.contains("correlator::alert"), "{line}");
            assert!(line.contains(&format!("seen {ip}")) && line.contains(&format!("source={ip}")), "{line}");
            assert!(line.contains("system=correlator/ssh-bruteforce") && line.contains("count=2"), "{line}");
        }
    }
}
