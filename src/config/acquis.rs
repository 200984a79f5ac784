//! `acquis.yaml`: which logs to read and how to label them, in CrowdSec's format.
//!
//! A file holds several YAML documents, one datasource each (empty or comment-only documents are skipped). The
//! module is chosen by `source` (default `file`; a document with `filename`/`filenames` is a file source and one
//! with `journalctl_filter` a journalctl source whatever `source` says, as CrowdSec does). Keys are checked
//! strictly per module. `${VAR}` and `$VAR` are replaced by environment variables that are set (unset ones stay
//! as written), over the whole file before parsing, like CrowdSec's `StrictExpand`.
//!
//! Every problem is reported as `file:line:col: message`, all documents are checked even after one fails, and the
//! file is rejected if any document is wrong. CrowdSec datasources that Correlator does not implement (docker,
//! kafka, …) are skipped with a warning, as CrowdSec skips unavailable modules.
//!
//! What this module is not: it builds plain data ([`SourceConfig`]); starting sources is `acquisition`'s job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::{ConfigError, ConfigErrors};
use crate::event::FieldMap;

/// `mode:`: follow the sources (`tail`, the default) or read them once (`cat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Tail,
    Cat,
}

/// Where a datasource was declared, for messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One datasource (one YAML document).
#[derive(Clone, Debug)]
pub struct SourceConfig {
    /// Where it was declared (not part of its identity).
    pub origin: Origin,
    pub name: Option<String>,
    pub mode: Mode,
    /// `labels:`; always has a non-empty `type`.
    pub labels: Arc<FieldMap>,
    /// `log_level:` accepted for compatibility (Correlator has one log level, set on the command line).
    pub log_level: Option<String>,
    /// `use_time_machine: true` marks events time-machine even when tailing (cat mode always does).
    pub use_time_machine: bool,
    pub unique_id: Option<String>,
    pub kind: SourceKind,
}

impl SourceConfig {
    /// True when `other` describes the same datasource (everything but where it was written): a reload keeps such
    /// a source running.
    pub fn same_source(&self, other: &SourceConfig) -> bool {
        self.name == other.name
            && self.mode == other.mode
            && self.labels == other.labels
            && self.log_level == other.log_level
            && self.use_time_machine == other.use_time_machine
            && self.unique_id == other.unique_id
            && self.kind == other.kind
    }

    /// Whether records of this source are time-machine events (cat mode or `use_time_machine`).
    pub fn time_machine(&self) -> bool {
        self.mode == Mode::Cat || self.use_time_machine
    }

    /// A short description for logs: the name, else the module and its main target.
    pub fn describe(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        match &self.kind {
            SourceKind::File(f) => format!("file:{}", f.filenames.join(",")),
            SourceKind::Syslog(s) => format!("syslog:{}:{}", s.listen_addr, s.listen_port),
            SourceKind::Journalctl(j) => format!("journalctl:{}", j.filters.join(".")),
            SourceKind::Command(c) => format!("command:{}", c.command.join(" ")),
            SourceKind::Stdin => "stdin".to_string(),
        }
    }

    /// A cat-mode file source over `paths` (globs), as `correlator replay` builds it.
    pub fn cat_files(paths: Vec<String>, labels: FieldMap) -> SourceConfig {
        SourceConfig {
            origin: Origin::default(),
            name: None,
            mode: Mode::Cat,
            labels: Arc::new(labels),
            log_level: None,
            use_time_machine: true,
            unique_id: None,
            kind: SourceKind::File(FileConfig { filenames: paths, ..FileConfig::default() }),
        }
    }

    /// The stdin source of `correlator run --stdin --type T` (`mode` decides live or time-machine events).
    pub fn stdin(labels: FieldMap, mode: Mode) -> SourceConfig {
        SourceConfig {
            origin: Origin::default(),
            name: None,
            mode,
            labels: Arc::new(labels),
            log_level: None,
            use_time_machine: false,
            unique_id: None,
            kind: SourceKind::Stdin,
        }
    }
}

/// The module-specific part of a datasource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    File(FileConfig),
    Syslog(SyslogConfig),
    Journalctl(JournalctlConfig),
    Command(CommandConfig),
    Stdin,
}

impl SourceKind {
    /// The `Line.Module` value of this kind.
    pub fn module(&self) -> &'static str {
        match self {
            SourceKind::File(_) => "file",
            SourceKind::Syslog(_) => "syslog",
            SourceKind::Journalctl(_) => "journalctl",
            SourceKind::Command(_) => "command",
            SourceKind::Stdin => "stdin",
        }
    }
}

/// `source: file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileConfig {
    /// Glob patterns (`filename` and `filenames` together), as written.
    pub filenames: Vec<String>,
    /// Go regular expressions on the path; a matching file is not read. Checked at load time.
    pub exclude_regexps: Vec<String>,
    /// Never use inotify; find changes by polling only.
    pub poll_without_inotify: bool,
    /// Watch the directory of a pattern even if nothing matches yet (Correlator always does when the directory
    /// exists; kept for compatibility).
    pub force_inotify: bool,
    /// Cap on one line, in bytes (longer lines are truncated and counted).
    pub max_line: usize,
    /// `discovery_poll_enable` / `discovery_poll_interval` (seconds): accepted; Correlator rescans the globs on
    /// every directory event and poll tick anyway.
    pub discovery_poll_enable: bool,
    pub discovery_poll_interval_secs: u64,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            filenames: Vec::new(),
            exclude_regexps: Vec::new(),
            poll_without_inotify: false,
            force_inotify: false,
            max_line: crate::acquisition::lines::DEFAULT_MAX_LINE,
            discovery_poll_enable: false,
            discovery_poll_interval_secs: 30,
        }
    }
}

/// `source: syslog`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogConfig {
    pub listen_addr: String,
    pub listen_port: u16,
    pub udp: bool,
    pub tcp: bool,
    /// Longest message accepted (UDP datagrams are cut, TCP frames beyond it are dropped and counted).
    pub max_message_len: usize,
    /// Only strip `<PRI>`, pass the rest unchanged.
    pub disable_rfc_parser: bool,
    /// TCP connections served at once; more are refused.
    pub max_connections: usize,
    /// A TCP connection silent for this long is closed.
    pub idle_timeout_secs: u64,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            listen_addr: "127.0.0.1".to_string(),
            listen_port: 514,
            udp: true,
            tcp: false,
            max_message_len: 2048,
            disable_rfc_parser: false,
            max_connections: 256,
            idle_timeout_secs: 300,
        }
    }
}

/// `source: journalctl`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalctlConfig {
    /// Arguments passed to `journalctl` (`_SYSTEMD_UNIT=ssh.service`, …).
    pub filters: Vec<String>,
}

/// `source: command`: a program whose standard output is the log (no shell).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandConfig {
    /// Program and arguments.
    pub command: Vec<String>,
}

/// The datasources of one or more acquisition files.
#[derive(Clone, Debug, Default)]
pub struct AcquisConfig {
    pub sources: Vec<SourceConfig>,
    /// Non-fatal problems (skipped unsupported datasources, overridden `source`), to be logged.
    pub warnings: Vec<ConfigError>,
}

/// Loads one acquisition file.
pub fn load_file(path: &Path) -> Result<AcquisConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(path, 0, 0, format!("cannot read: {e}")))?;
    load_str(&text, path)
}

/// Loads the main acquisition file (if given) and every `*.yaml` / `*.yml` of a directory (if given, in name
/// order), as CrowdSec's `acquisition_path` + `acquisition_dir`. Problems of all files are reported together.
pub fn load_paths(file: Option<&Path>, dir: Option<&Path>) -> Result<AcquisConfig, ConfigErrors> {
    let mut paths: Vec<PathBuf> = file.map(Path::to_path_buf).into_iter().collect();
    if let Some(dir) = dir {
        let entries =
            std::fs::read_dir(dir).map_err(|e| ConfigError::new(dir, 0, 0, format!("cannot read directory: {e}")))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml") && p.is_file())
            .collect();
        found.sort();
        paths.extend(found);
    }
    let mut out = AcquisConfig::default();
    let mut errors = Vec::new();
    for p in &paths {
        match load_file(p) {
            Ok(c) => {
                out.sources.extend(c.sources);
                out.warnings.extend(c.warnings);
            }
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ConfigErrors(errors)) }
}

/// Loads acquisition YAML text; `file` names it in messages.
pub fn load_str(text: &str, file: &Path) -> Result<AcquisConfig, ConfigErrors> {
    let text = expand_env(text, |k| std::env::var(k).ok());
    let mut out = AcquisConfig::default();
    let mut errors = Vec::new();
    for doc in split_documents(&text) {
        let mut ctx = DocCtx { file, line_offset: doc.first_line, errors: &mut errors, warnings: &mut out.warnings };
        if let Some(src) = load_document(doc.text, &mut ctx) {
            out.sources.push(src);
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ConfigErrors(errors)) }
}

/// CrowdSec's `StrictExpand`: `${NAME}` and `$NAME` become the variable's value when it is set and stay as
/// written otherwise (so regexes ending in `$` and unset names survive). Substituted values are not expanded
/// again.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(close) = inner.find('}')
                && let Some(v) = lookup(&inner[..close])
            {
                out.push_str(&v);
                rest = &inner[close + 1..];
                continue;
            }
        } else {
            let n = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            if n > 0
                && let Some(v) = lookup(&after[..n])
            {
                out.push_str(&v);
                rest = &after[n..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A `file://` DSN as `correlator replay` (CrowdSec's `-dsn`) takes it: `file:///abs/glob?log_level=debug&
/// max_buffer_size=N`. The source is cat mode and time-machine; `labels` must hold `type`.
pub fn from_file_dsn(dsn: &str, labels: FieldMap) -> Result<SourceConfig, String> {
    let rest = dsn.strip_prefix("file://").ok_or_else(|| format!("{dsn}: not a file:// DSN"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(format!("{dsn}: empty path"));
    }
    if labels.get("type").is_none_or(str::is_empty) {
        return Err(format!("{dsn}: a type label is required"));
    }
    let mut src = SourceConfig::cat_files(vec![path.to_string()], labels);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "log_level" => src.log_level = Some(check_log_level(&v)?),
            "max_buffer_size" => {
                let n: usize = v.parse().map_err(|_| format!("{dsn}: max_buffer_size: not a number: {v:?}"))?;
                if let SourceKind::File(f) = &mut src.kind {
                    f.max_line = n.max(1);
                }
            }
            other => return Err(format!("{dsn}: unknown DSN parameter {other:?}")),
        }
    }
    Ok(src)
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check_log_level(v: &str) -> Result<String, String> {
    match v.to_ascii_lowercase().as_str() {
        "trace" | "debug" | "info" | "warn" | "warning" | "error" | "fatal" | "panic" => Ok(v.to_string()),
        _ => Err(format!("invalid log_level {v:?} (trace, debug, info, warning, error, fatal, panic)")),
    }
}

struct Document<'a> {
    text: &'a str,
    /// 0-based line of the document's first line in the file.
    first_line: u64,
}

/// Splits a multi-document YAML text at `---` lines, keeping each document's first line number (a `---` at the
/// start of a line always starts a document in YAML, even inside a scalar, so this split is exact).
fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u64;
    let mut pos = 0usize;
    for (line_no, line) in (0u64..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_marker = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_marker && pos > start {
            docs.push(Document { text: &text[start..pos], first_line: start_line });
            start = pos;
            start_line = line_no;
        }
        pos += line.len();
    }
    docs.push(Document { text: &text[start..], first_line: start_line });
    docs.retain(|d| has_content(d.text));
    docs
}

/// False for documents with only comments, blank lines and markers.
fn has_content(doc: &str) -> bool {
    doc.lines().any(|l| {
        let t = l.trim();
        let t = t.strip_prefix("---").map(str::trim).unwrap_or(t);
        !(t.is_empty() || t.starts_with('#') || t == "...")
    })
}

struct DocCtx<'a> {
    file: &'a Path,
    line_offset: u64,
    errors: &'a mut Vec<ConfigError>,
    warnings: &'a mut Vec<ConfigError>,
}

impl DocCtx<'_> {
    fn err_at(&mut self, loc: &serde_saphyr::Location, msg: impl Into<String>) {
        let (line, col) = self.place(loc);
        self.errors.push(ConfigError::new(self.file, line as u32, col as u32, msg));
    }

    fn warn_at(&mut self, loc: &serde_saphyr::Location, msg: impl Into<String>) {
        let (line, col) = self.place(loc);
        self.warnings.push(ConfigError::new(self.file, line as u32, col as u32, msg));
    }

    fn place(&self, loc: &serde_saphyr::Location) -> (u64, u64) {
        if loc.line() == 0 { (self.line_offset + 1, 1) } else { (loc.line() + self.line_offset, loc.column()) }
    }

    /// An error of serde-saphyr on `doc` (the document's own text: positions are relative to it).
    fn yaml_error(&mut self, doc: &str, e: &serde_saphyr::Error) {
        let loc = e.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
        self.err_at(&loc, crate::config::yaml::explain_error(doc, e, &yaml_message(e)));
    }
}

/// The message of a serde-saphyr error without its own location suffix and snippet (we print ours).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("").trim();
    let msg = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    msg.trim_end_matches(':').to_string()
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// The module-deciding keys of a document; everything else is ignored at this step.
#[derive(Deserialize)]
struct Probe {
    source: Option<Spanned<String>>,
    filename: Option<Spanned<IgnoredAny>>,
    filenames: Option<Spanned<IgnoredAny>>,
    journalctl_filter: Option<Spanned<IgnoredAny>>,
}

/// Declares a module's document struct: the common keys plus the module's own, unknown keys refused.
macro_rules! module_doc {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            #[allow(dead_code)]
            source: Option<IgnoredAny>,
            mode: Option<Spanned<String>>,
            labels: Option<Spanned<BTreeMap<String, String>>>,
            log_level: Option<Spanned<String>>,
            name: Option<String>,
            use_time_machine: Option<bool>,
            unique_id: Option<String>,
            transform: Option<Spanned<IgnoredAny>>,
            $($field: $ty,)*
        }

        impl $name {
            fn common(&self, ctx: &mut DocCtx<'_>, doc_loc: &serde_saphyr::Location) -> Option<Common> {
                common(ctx, doc_loc, &self.mode, &self.labels, &self.log_level, &self.transform).map(|mut c| {
                    c.name = self.name.clone();
                    c.use_time_machine = self.use_time_machine.unwrap_or(false);
                    c.unique_id = self.unique_id.clone();
                    c
                })
            }
        }
    };
}

module_doc!(FileDoc {
    filename: Option<Spanned<String>>,
    filenames: Option<Vec<Spanned<String>>>,
    exclude_regexps: Option<Vec<Spanned<String>>>,
    poll_without_inotify: Option<bool>,
    force_inotify: Option<bool>,
    max_buffer_size: Option<Spanned<u64>>,
    discovery_poll_enable: Option<bool>,
    discovery_poll_interval: Option<Spanned<String>>,
});

module_doc!(SyslogDoc {
    listen_addr: Option<Spanned<String>>,
    listen_port: Option<Spanned<u16>>,
    protocol: Option<Spanned<String>>,
    max_message_len: Option<Spanned<u64>>,
    disable_rfc_parser: Option<bool>,
    max_connections: Option<Spanned<u64>>,
    idle_timeout: Option<Spanned<String>>,
});

module_doc!(JournalctlDoc { journalctl_filter: Option<Spanned<Vec<String>>> });

module_doc!(CommandDoc { command: Option<Spanned<Vec<String>>> });

module_doc!(StdinDoc {});

struct Common {
    name: Option<String>,
    mode: Mode,
    labels: Arc<FieldMap>,
    log_level: Option<String>,
    use_time_machine: bool,
    unique_id: Option<String>,
}

fn common(
    ctx: &mut DocCtx<'_>,
    doc_loc: &serde_saphyr::Location,
    mode: &Option<Spanned<String>>,
    labels: &Option<Spanned<BTreeMap<String, String>>>,
    log_level: &Option<Spanned<String>>,
    transform: &Option<Spanned<IgnoredAny>>,
) -> Option<Common> {
    let before = ctx.errors.len();
    let mode = match mode {
        None => Mode::Tail,
        Some(m) => match m.value.as_str() {
            "tail" => Mode::Tail,
            "cat" => Mode::Cat,
            other => {
                ctx.err_at(&m.referenced, format!("invalid mode {other:?} (tail or cat)"));
                Mode::Tail
            }
        },
    };
    let labels = match labels {
        None => {
            ctx.err_at(doc_loc, "labels are required (at least labels.type)");
            FieldMap::new()
        }
        Some(l) => {
            if l.value.get("type").is_none_or(|t| t.trim().is_empty()) {
                ctx.err_at(&l.referenced, "labels.type is required (it selects the parsers)");
            }
            l.value.iter().collect()
        }
    };
    let log_level = log_level.as_ref().and_then(|l| match check_log_level(&l.value) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.err_at(&l.referenced, e);
            None
        }
    });
    if let Some(t) = transform {
        ctx.err_at(&t.referenced, "transform is not supported by Correlator's acquisition");
    }
    (ctx.errors.len() == before).then(|| Common {
        name: None,
        mode,
        labels: Arc::new(labels),
        log_level,
        use_time_machine: false,
        unique_id: None,
    })
}

/// CrowdSec datasources Correlator does not implement: skipped with a warning.
const UNSUPPORTED: &[&str] = &[
    "docker",
    "kafka",
    "kinesis",
    "cloudwatch",
    "s3",
    "loki",
    "victorialogs",
    "http",
    "k8s-audit",
    "k8saudit",
    "wineventlog",
    "appsec",
];

fn load_document(doc: &str, ctx: &mut DocCtx<'_>) -> Option<SourceConfig> {
    let probe: Spanned<Probe> = match serde_saphyr::from_str_with_options(doc, yaml_options()) {
        Ok(p) => p,
        Err(e) => {
            ctx.yaml_error(doc, &e);
            return None;
        }
    };
    let doc_loc = probe.referenced;
    let probe = probe.value;
    let declared = probe.source.as_ref().map(|s| s.value.as_str());
    let module = if probe.filename.is_some() || probe.filenames.is_some() {
        "file"
    } else if probe.journalctl_filter.is_some() {
        "journalctl"
    } else {
        declared.unwrap_or("file")
    };
    if let (Some(s), Some(d)) = (&probe.source, declared)
        && d != module
    {
        ctx.warn_at(&s.referenced, format!("source {d:?} overridden to {module:?} by the keys present"));
    }
    let origin = Origin { file: ctx.file.to_path_buf(), line: ctx.place(&doc_loc).0 };
    let kind_and_common = match module {
        "file" => parse_module::<FileDoc>(doc, ctx).and_then(|d| {
            let c = d.common(ctx, &doc_loc);
            file_kind(&d, ctx, &doc_loc).zip(c)
        }),
        "syslog" => parse_module::<SyslogDoc>(doc, ctx).and_then(|d| {
            let c = d.common(ctx, &doc_loc);
            syslog_kind(&d, ctx).zip(c)
        }),
        "journalctl" => parse_module::<JournalctlDoc>(doc, ctx).and_then(|d| {
            let c = d.common(ctx, &doc_loc);
            let k = match &d.journalctl_filter {
                Some(f) if !f.value.is_empty() => {
                    Some(SourceKind::Journalctl(JournalctlConfig { filters: f.value.clone() }))
                }
                Some(f) => {
                    ctx.err_at(&f.referenced, "journalctl_filter must not be empty");
                    None
                }
                None => {
                    ctx.err_at(&doc_loc, "journalctl_filter is required");
                    None
                }
            };
            k.zip(c)
        }),
        "command" => parse_module::<CommandDoc>(doc, ctx).and_then(|d| {
            let c = d.common(ctx, &doc_loc);
            let k = match &d.command {
                Some(cmd) if !cmd.value.is_empty() && !cmd.value[0].is_empty() => {
                    Some(SourceKind::Command(CommandConfig { command: cmd.value.clone() }))
                }
                Some(cmd) => {
                    ctx.err_at(&cmd.referenced, "command must be a non-empty list: [program, arg, …]");
                    None
                }
                None => {
                    ctx.err_at(&doc_loc, "command is required: [program, arg, …]");
                    None
                }
            };
            k.zip(c)
        }),
        "stdin" => {
            parse_module::<StdinDoc>(doc, ctx).and_then(|d| d.common(ctx, &doc_loc).map(|c| (SourceKind::Stdin, c)))
        }
        other => {
            let loc = probe.source.as_ref().map(|s| s.referenced).unwrap_or(doc_loc);
            if UNSUPPORTED.contains(&other) {
                ctx.warn_at(&loc, format!("datasource {other:?} is not available in Correlator, skipped"));
            } else {
                ctx.err_at(&loc, format!("unknown datasource {other:?} (file, syslog, journalctl, command, stdin)"));
            }
            return None;
        }
    };
    let (kind, c) = kind_and_common?;
    Some(SourceConfig {
        origin,
        name: c.name,
        mode: c.mode,
        labels: c.labels,
        log_level: c.log_level,
        use_time_machine: c.use_time_machine,
        unique_id: c.unique_id,
        kind,
    })
}

fn parse_module<T: for<'de> Deserialize<'de>>(doc: &str, ctx: &mut DocCtx<'_>) -> Option<T> {
    match serde_saphyr::from_str_with_options::<T>(doc, yaml_options()) {
        Ok(v) => Some(v),
        Err(e) => {
            ctx.yaml_error(doc, &e);
            None
        }
    }
}

fn go_duration_secs(ctx: &mut DocCtx<'_>, s: &Spanned<String>, key: &str) -> Option<u64> {
    match crate::gocompat::duration::parse_duration(&s.value) {
        Ok(ns) if ns > 0 => Some((ns as u64).div_ceil(1_000_000_000)),
        Ok(_) => {
            ctx.err_at(&s.referenced, format!("{key} must be positive"));
            None
        }
        Err(e) => {
            ctx.err_at(&s.referenced, format!("{key}: {e}"));
            None
        }
    }
}

fn file_kind(d: &FileDoc, ctx: &mut DocCtx<'_>, doc_loc: &serde_saphyr::Location) -> Option<SourceKind> {
    let before = ctx.errors.len();
    let mut filenames = Vec::new();
    for f in d.filename.iter().chain(d.filenames.iter().flatten()) {
        if f.value.trim().is_empty() {
            ctx.err_at(&f.referenced, "empty file name");
        } else if let Err(e) = glob::Pattern::new(&f.value) {
            ctx.err_at(&f.referenced, format!("invalid glob {:?}: {e}", f.value));
        } else {
            filenames.push(f.value.clone());
        }
    }
    if d.filename.is_none() && d.filenames.as_ref().is_none_or(Vec::is_empty) {
        ctx.err_at(doc_loc, "no filename or filenames configuration provided");
    }
    let mut exclude = Vec::new();
    for r in d.exclude_regexps.iter().flatten() {
        match crate::gocompat::regex::compile(&r.value) {
            Ok(_) => exclude.push(r.value.clone()),
            Err(e) => ctx.err_at(&r.referenced, e),
        }
    }
    let mut cfg = FileConfig {
        filenames,
        exclude_regexps: exclude,
        poll_without_inotify: d.poll_without_inotify.unwrap_or(false),
        force_inotify: d.force_inotify.unwrap_or(false),
        discovery_poll_enable: d.discovery_poll_enable.unwrap_or(false),
        ..FileConfig::default()
    };
    if let Some(m) = &d.max_buffer_size {
        if m.value == 0 {
            ctx.err_at(&m.referenced, "max_buffer_size must be positive");
        } else {
            cfg.max_line = usize::try_from(m.value).unwrap_or(usize::MAX);
        }
    }
    if let Some(i) = &d.discovery_poll_interval
        && let Some(secs) = go_duration_secs(ctx, i, "discovery_poll_interval")
    {
        cfg.discovery_poll_interval_secs = secs;
    }
    (ctx.errors.len() == before).then_some(SourceKind::File(cfg))
}

fn syslog_kind(d: &SyslogDoc, ctx: &mut DocCtx<'_>) -> Option<SourceKind> {
    let before = ctx.errors.len();
    let mut cfg = SyslogConfig::default();
    if let Some(a) = &d.listen_addr {
        if a.value.parse::<std::net::IpAddr>().is_err() {
            ctx.err_at(&a.referenced, format!("listen_addr {:?} is not an IP address", a.value));
        }
        cfg.listen_addr = a.value.clone();
    }
    if let Some(p) = &d.listen_port {
        cfg.listen_port = p.value;
    }
    if let Some(p) = &d.protocol {
        cfg.udp = false;
        for part in p.value.split([',', ' ', '+']).filter(|s| !s.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "udp" => cfg.udp = true,
                "tcp" => cfg.tcp = true,
                "both" => {
                    cfg.udp = true;
                    cfg.tcp = true;
                }
                other => ctx.err_at(&p.referenced, format!("invalid protocol {other:?} (udp, tcp, or udp,tcp)")),
            }
        }
        if !cfg.udp && !cfg.tcp {
            ctx.err_at(&p.referenced, "protocol names no transport (udp, tcp, or udp,tcp)");
        }
    }
    if let Some(m) = &d.max_message_len {
        if m.value == 0 || m.value > 1024 * 1024 {
            ctx.err_at(&m.referenced, "max_message_len must be between 1 and 1048576");
        } else {
            cfg.max_message_len = m.value as usize;
        }
    }
    cfg.disable_rfc_parser = d.disable_rfc_parser.unwrap_or(false);
    if let Some(m) = &d.max_connections {
        if m.value == 0 {
            ctx.err_at(&m.referenced, "max_connections must be positive");
        } else {
            cfg.max_connections = usize::try_from(m.value).unwrap_or(usize::MAX);
        }
    }
    if let Some(t) = &d.idle_timeout
        && let Some(secs) = go_duration_secs(ctx, t, "idle_timeout")
    {
        cfg.idle_timeout_secs = secs;
    }
    (ctx.errors.len() == before).then_some(SourceKind::Syslog(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<AcquisConfig, ConfigErrors> {
        load_str(text, Path::new("acquis.yaml"))
    }

    fn errors(text: &str) -> Vec<String> {
        match load(text) {
            Ok(c) => panic!("expected errors, got {:?}", c.sources),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn multi_document_file_with_back_compat_keys() {
        let text = "# comment only\n---\nfilenames:\n  - /var/log/auth.log\n  - /var/log/syslog\nlabels:\n  type: syslog\n---\n# nothing\n---\nsource: syslog\nlisten_addr: 0.0.0.0\nlisten_port: 4242\nprotocol: udp,tcp\nlabels:\n  type: syslog\n---\njournalctl_filter:\n  - _SYSTEMD_UNIT=ssh.service\nlabels:\n  type: syslog\n---\nsource: command\ncommand: [cat, /tmp/x]\nmode: cat\nlabels: {type: nginx, env: prod}\n";
        let c = load(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sources.len(), 4);
        let SourceKind::File(f) = &c.sources[0].kind else { panic!("file expected") };
        assert_eq!(f.filenames, ["/var/log/auth.log", "/var/log/syslog"]);
        assert_eq!(c.sources[0].origin.line, 3);
        assert_eq!(c.sources[0].labels.get("type"), Some("syslog"));
        let SourceKind::Syslog(s) = &c.sources[1].kind else { panic!("syslog expected") };
        assert_eq!((s.listen_addr.as_str(), s.listen_port, s.udp, s.tcp), ("0.0.0.0", 4242, true, true));
        assert_eq!(
            c.sources[2].kind,
            SourceKind::Journalctl(JournalctlConfig { filters: vec!["_SYSTEMD_UNIT=ssh.service".into()] })
        );
        assert_eq!(c.sources[3].mode, Mode::Cat);
        assert!(c.sources[3].time_machine());
        assert_eq!(c.sources[3].labels.get("env"), Some("prod"));
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_column() {
        let text = "filename: /var/log/a.log\nlabels:\n  type: syslog\nlisten_port: 514\n---\nsource: syslog\nlisten_port: 99999\nlabels:\n  type: syslog\n---\nfilenames: [/x]\nexclude_regexps: ['a(b']\nmode: follow\nlabels:\n  foo: bar\n---\nsource: carrier-pigeon\nlabels: {type: x}\n";
        let errs = errors(text);
        assert_eq!(errs.len(), 6, "{errs:#?}");
        assert!(errs[0].starts_with("acquis.yaml:4:1: ") && errs[0].contains("listen_port"), "{}", errs[0]);
        assert!(errs[1].starts_with("acquis.yaml:7:14: "), "{}", errs[1]);
        assert!(errs[2].starts_with("acquis.yaml:13:7: invalid mode"), "{}", errs[2]);
        assert!(errs[3].starts_with("acquis.yaml:15:3: labels.type is required"), "{}", errs[3]);
        assert!(errs[4].starts_with("acquis.yaml:12:19: invalid regular expression"), "{}", errs[4]);
        assert!(errs[5].starts_with("acquis.yaml:17:9: unknown datasource"), "{}", errs[5]);
    }

    #[test]
    fn type_errors_name_the_key() {
        // The second document's positions are those of the file; the path is the key's.
        let errs = errors("filenames: [/a]\nlabels: {type: x}\n---\nfilenames: /x\nlabels:\n  type: syslog\n");
        assert_eq!(errs, ["acquis.yaml:4:12: filenames: expected sequence start (expected a list)"]);
        let errs = errors("source: syslog\nlisten_port: abc\nlabels:\n  type: syslog\n");
        assert_eq!(errs, ["acquis.yaml:2:14: listen_port: invalid u16 (expected an integer)"]);
    }

    #[test]
    fn missing_labels_and_filenames() {
        let errs = errors("source: file\nmode: tail\n");
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs.iter().all(|e| e.starts_with("acquis.yaml:1:1: ")), "{errs:#?}");
    }

    #[test]
    fn yaml_syntax_error_is_located() {
        let errs = errors("filename: /x\nlabels:\n  type: [unclosed\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("acquis.yaml:"), "{}", errs[0]);
        assert!(!errs[0].contains('\n'));
    }

    #[test]
    fn unsupported_crowdsec_sources_are_skipped_with_a_warning() {
        let c = load(
            "source: docker\ncontainer_name: [nginx]\nlabels: {type: nginx}\n---\nfilename: /x\nlabels: {type: y}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].to_string().starts_with("acquis.yaml:1:9: "), "{}", c.warnings[0]);
    }

    #[test]
    fn env_expansion_is_strict() {
        let vars = |k: &str| match k {
            "LOG_DIR" => Some("/var/log".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(expand_env("${LOG_DIR}/a $LOG_DIR/b", vars), "/var/log/a /var/log/b");
        assert_eq!(expand_env("${NOPE} $NOPE x$ \\.log$ $", vars), "${NOPE} $NOPE x$ \\.log$ $");
        assert_eq!(expand_env("a${EMPTY}b ${unclosed", vars), "ab ${unclosed");
    }

    #[test]
    fn identity_ignores_origin() {
        let a = load("filename: /x\nlabels: {type: y}\n").unwrap_or_else(|e| panic!("{e}"));
        let b = load("\n\n# moved\nfilename: /x\nlabels: {type: y}\n").unwrap_or_else(|e| panic!("{e}"));
        let c = load("filename: /x\nlabels: {type: z}\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(a.sources[0].same_source(&b.sources[0]));
        assert!(!a.sources[0].same_source(&c.sources[0]));
    }

    #[test]
    fn file_dsn() {
        let labels: FieldMap = [("type", "nginx")].into_iter().collect();
        let s = from_file_dsn("file:///var/log/nginx/*.log?log_level=debug&max_buffer_size=1000", labels.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.mode, Mode::Cat);
        assert!(s.time_machine());
        let SourceKind::File(f) = &s.kind else { panic!("file") };
        assert_eq!(f.filenames, ["/var/log/nginx/*.log"]);
        assert_eq!(f.max_line, 1000);
        assert!(from_file_dsn("file:///x?bogus=1", labels.clone()).is_err());
        assert!(from_file_dsn("syslog://x", labels).is_err());
        assert!(from_file_dsn("file:///x", FieldMap::new()).is_err());
    }

    #[test]
    fn directory_of_files_is_loaded_in_name_order_with_all_errors() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("b.yaml"), "filename: /b\nlabels: {type: b}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("a.yaml"), "filename: /a\nlabels: {type: a}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("notes.txt"), "not yaml").unwrap_or_else(|e| panic!("{e}"));
        let c = load_paths(None, Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        let types: Vec<&str> = c.sources.iter().map(|s| s.labels.get_or_empty("type")).collect();
        assert_eq!(types, ["a", "b"]);
        std::fs::write(dir.path().join("c.yaml"), "filename: /c\nbogus: 1\nlabels: {type: c}\n")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("d.yaml"), "filename: /d\n").unwrap_or_else(|e| panic!("{e}"));
        let errs = load_paths(None, Some(dir.path())).err().unwrap_or_default();
        assert_eq!(errs.0.len(), 2, "{errs}");
        assert!(errs.0[0].file.ends_with("c.yaml") && errs.0[0].line == 2, "{errs}");
        assert!(errs.0[1].file.ends_with("d.yaml"), "{errs}");
    }
}
