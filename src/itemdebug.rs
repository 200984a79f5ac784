//! `debug: true` on a parser node or a scenario: traces of what that one item does with each event (node:
//! filter, grok, fields set; scenario: pours, overflows, expiries), whatever the global `--log-level`.
//!
//! CrowdSec gives such an item its own logger at debug level, independent of the daemon's level. Here the traces
//! go to their own `tracing` target, [`TARGET`], at INFO, and [`log_filter`] (the filter every command installs)
//! always lets that target through at INFO unless the user's filter says something about it. So the default
//! `warn` shows them without turning INFO on for everything else, and `--log-level 'warn,correlator::debug=off'`
//! silences them. They are not rate-limited: the user asked for them, on items they chose.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;

/// The `tracing` target of item debug traces.
pub const TARGET: &str = "correlator::debug";

/// The level the traces are written at, and the one [`log_filter`] enables for [`TARGET`].
const LEVEL: LevelFilter = LevelFilter::INFO;

/// `tracing::info!` under [`TARGET`]: one trace of a `debug: true` item.
#[macro_export]
macro_rules! item_debug {
    ($($arg:tt)+) => {
        tracing::info!(target: $crate::itemdebug::TARGET, $($arg)+)
    };
}

/// The log filter for a `--log-level` value (a level, or `target=level` directives after an optional default
/// level: `info,correlator::scenario=debug`), falling back to `warn` when it does not parse, with item debug
/// traces enabled unless the value itself mentions their target.
///
/// `Targets` rather than tracing-subscriber's `EnvFilter`: the latter's span and field matching pulls in
/// regex-automata's dense DFA builder, and with it present every grok's regex built a dense DFA at load time (a
/// third of start-up, measured in docs/performance.md, ninth round).
pub fn log_filter(level: &str) -> Targets {
    let filter: Targets = level.parse().unwrap_or_else(|_| Targets::new().with_default(LevelFilter::WARN));
    if level.contains(TARGET) {
        return filter;
    }
    filter.with_target(TARGET, LEVEL)
}

/// The subscriber every command installs: Correlator's log lines to `writer`, through [`log_filter`].
pub fn subscriber<W>(level: &str, writer: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    // Every level through the formatter (whose own default stops at INFO): the filter decides.
    let fmt = tracing_subscriber::fmt().with_max_level(LevelFilter::TRACE).with_writer(writer).with_ansi(ansi);
    fmt.finish().with(log_filter(level))
}

/// A field value for a trace: one line, at most `max` characters (a debug trace of a 4 KiB log line should not
/// be 4 KiB).
pub fn clip(v: &str, max: usize) -> String {
    let one_line: String = v.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer collecting what a test subscriber prints.
    #[derive(Clone, Default)]
    pub struct Buf(pub Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map(|mut v| v.extend_from_slice(b)).map_err(|_| std::io::Error::other("poisoned"))?;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Runs `f` under the filter the command line installs for `level`, returning what was logged.
    pub fn logged(level: &str, f: impl FnOnce()) -> String {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = subscriber(level, move || w.clone(), false);
        tracing::subscriber::with_default(sub, f);
        let bytes = buf.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn default_level_shows_item_traces_but_not_other_info() {
        let text = logged("warn", || {
            crate::item_debug!(node = "a", "seen");
            tracing::info!("ordinary info");
        });
        assert!(text.contains("seen") && text.contains("correlator::debug"), "{text}");
        assert!(!text.contains("ordinary info"), "{text}");
        // The user's filter decides when it names the target; a bad filter falls back to warn (traces on).
        assert!(logged("warn,correlator::debug=off", || crate::item_debug!("hidden")).is_empty());
        // Levels below INFO reach the output when the filter asks for them.
        assert!(logged("warn,correlator=debug", || tracing::debug!("deep")).contains("deep"));
        assert!(logged("info", || tracing::debug!("deep")).is_empty());
        assert!(logged("=!bad", || crate::item_debug!("shown")).contains("shown"));
    }

    #[test]
    fn clip_keeps_one_short_line() {
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("éééé", 2), "éé…");
    }
}
