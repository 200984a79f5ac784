//! Pieces shared by subcommands: hub location flags, config loading, label parsing, reading log files.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::settings::Settings;

/// Where the hub, patterns and data are. Each flag overrides `config.yaml`.
#[derive(Debug, Default, Args)]
pub struct HubArgs {
    /// Configuration file or directory (default: config/config.yaml when present).
    #[arg(long, short = 'c', value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Hub directory: a CrowdSec hub checkout, an installed /etc/crowdsec, or Correlator's hub/.
    #[arg(long, value_name = "DIR")]
    pub hub: Option<PathBuf>,

    /// Grok pattern directory (repeatable; later ones may not redefine names of earlier ones).
    #[arg(long = "patterns", value_name = "DIR")]
    pub patterns: Vec<PathBuf>,

    /// Data directory for the items' data files.
    #[arg(long = "data", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Year for timestamps without one (syslog). Default: the current UTC year.
    #[arg(long, value_name = "YYYY")]
    pub year: Option<i32>,

    /// Only these parsers (names, globs or files; repeatable). Default: all of the hub's.
    #[arg(long = "parsers", value_name = "NAME", value_delimiter = ',')]
    pub parsers: Vec<String>,

    /// Only these scenarios (names, globs or files; repeatable).
    #[arg(long = "scenarios", value_name = "NAME", value_delimiter = ',')]
    pub scenarios: Vec<String>,

    /// Only these postoverflows (names, globs or files; repeatable).
    #[arg(long = "postoverflows", value_name = "NAME", value_delimiter = ',')]
    pub postoverflows: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// Loads the settings and applies the command-line overrides; prints the problem and returns the exit code on
/// failure.
pub fn load_settings(h: &HubArgs) -> Result<Settings, ExitCode> {
    settings_from(h).map_err(|e| {
        eprintln!("correlator: {e}");
        ExitCode::from(2)
    })
}

/// Loads the settings and applies the command-line overrides.
pub fn settings_from(h: &HubArgs) -> Result<Settings, String> {
    let loaded = match &h.config {
        Some(p) => Settings::load(p),
        None => Settings::load_default(),
    };
    let mut s = loaded.map_err(|e| e.to_string())?;
    if let Some(hub) = &h.hub {
        s.hub = hub.clone();
        // A hub given on the command line brings its own patterns and data unless told otherwise.
        if h.patterns.is_empty() {
            s.patterns = [hub.join("patterns")].into_iter().filter(|p| p.is_dir()).collect();
        }
        if h.data.is_none() {
            s.data = hub.join("data");
        }
    }
    if !h.patterns.is_empty() {
        s.patterns = h.patterns.clone();
    }
    if let Some(d) = &h.data {
        s.data = d.clone();
    }
    if h.year.is_some() {
        s.year = h.year;
    }
    let add = |dst: &mut Vec<String>, src: &[String]| {
        if !src.is_empty() {
            *dst = src.to_vec();
        }
    };
    add(&mut s.selection.parsers, &h.parsers);
    add(&mut s.selection.scenarios, &h.scenarios);
    add(&mut s.selection.postoverflows, &h.postoverflows);
    Ok(s)
}

/// `k=v` (or CrowdSec's `k:v`) pairs.
pub fn parse_labels(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .or_else(|| l.split_once(':'))
                .ok_or_else(|| format!("label {l:?}: expected key=value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Longest line kept whole; longer lines are truncated (log lines are attacker-controlled).
pub const MAX_LINE: usize = 64 * 1024;

/// Calls `f` with every non-empty line of a file (`-` = stdin; `.gz` decompressed), `\r\n` handled, invalid UTF-8
/// replaced, very long lines truncated.
pub fn read_log_lines(path: &Path, mut f: impl FnMut(String)) -> std::io::Result<()> {
    for_each_log_line(path, |line| f(line.to_owned()))
}

/// [`read_log_lines`] lending each line instead of allocating it: for callers that copy lines into a batch.
pub fn for_each_log_line(path: &Path, mut f: impl FnMut(&str)) -> std::io::Result<()> {
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        let file = std::fs::File::open(path)?;
        if path.extension().is_some_and(|e| e == "gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        }
    };
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let n = r.by_ref().take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
            // Skip the rest of an over-long line.
            let mut rest = Vec::new();
            r.read_until(b'\n', &mut rest)?;
            buf.truncate(MAX_LINE);
        }
        while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
            buf.pop();
        }
        if buf.is_empty() {
            continue;
        }
        // Checking first is faster than `from_utf8_lossy` on the usual valid line (a word-at-a-time ASCII scan).
        match std::str::from_utf8(&buf) {
            Ok(line) => f(line),
            Err(_) => f(&String::from_utf8_lossy(&buf)),
        }
    }
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `println!` that ignores a closed stdout (`correlator alerts list | head` must not panic).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `--config` and `--format` of the store commands (`alerts`, `decisions`, `bouncers`, `machines`).
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Configuration file or directory (default: config/config.yaml when present).
    #[arg(long, short = 'c', value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    /// Output: a table (text) or JSON for scripts.
    #[arg(long, short = 'o', value_enum, default_value = "text", global = true)]
    pub format: OutputFormat,
}

/// Loads the settings and opens the store they name (operating on the database directly, like cscli with a local
/// database: no daemon needed).
pub fn open_store(
    a: &StoreArgs,
) -> Result<(crate::config::settings::Settings, std::sync::Arc<dyn crate::store::Store>), ExitCode> {
    let settings = load_settings(&HubArgs { config: a.config.clone(), ..HubArgs::default() })?;
    match crate::store::SqliteStore::open(&settings.store.path) {
        Ok(s) => Ok((settings, std::sync::Arc::new(s))),
        Err(e) => {
            eprintln!("correlator: {}: {e}", settings.store.path.display());
            Err(ExitCode::FAILURE)
        }
    }
}

/// Prints a value as pretty JSON.
pub fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => crate::outln!("{s}"),
        Err(e) => eprintln!("correlator: {e}"),
    }
}

/// Prints a table (box drawing, as cscli does) or a note when it is empty.
pub fn print_table(title: &str, header: &[&str], rows: Vec<Vec<String>>, empty: &str) {
    if rows.is_empty() {
        crate::outln!("{empty}");
        return;
    }
    let t = crate::metrics::scrape::Table {
        title: title.to_string(),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    };
    crate::outln!("{}", crate::metrics::scrape::render_table(&t).trim_end());
}

/// A store error, printed; exit code 1.
pub fn store_failed(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("correlator: {e}");
    ExitCode::FAILURE
}
