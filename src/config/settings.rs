//! `config/config.yaml`: where the hub, patterns, data and state live, which hub items and listeners are enabled
//! (the stack), the daemon's options, and the listener definitions (`listeners`). Relative paths are relative to
//! the directory of the file, so a checkout works from anywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::listeners::{ListenerSpec, ListenersSettings};
use super::yaml::{ConfigError, Expr, Located, from_document, read_file};
use crate::pipeline::{BuildOptions, Selection};

/// The file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub paths: PathsSection,
    /// Path of `acquis.yaml`.
    pub acquisition: Option<PathBuf>,
    #[serde(default)]
    pub stack: StackSection,
    #[serde(default)]
    pub parsing: ParsingSection,
    /// Path of `profiles.yaml` (alert → decisions).
    pub profiles: Option<PathBuf>,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub api: ApiSection,
    #[serde(default)]
    pub prometheus: PrometheusSection,
    /// Named listeners (what to do with alerts); which run is `stack.listeners`.
    pub listeners: Option<BTreeMap<String, Located<ListenerSpec>>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSection {
    /// Hub directory (CrowdSec layout): `parsers/`, `scenarios/`, `postoverflows/`.
    pub hub: Option<PathBuf>,
    /// Grok pattern directories, loaded in order on top of the built-in base patterns.
    pub patterns: Option<Vec<PathBuf>>,
    /// Data files named by items' `data:` sections.
    pub data: Option<PathBuf>,
    /// Bucket state, file positions, the alert store.
    pub state: Option<PathBuf>,
}

/// Which hub items are enabled: names, globs or paths; each list defaults to everything (`*`). `use` adds
/// stacks: directories `<hub>/stacks/<name>/` laid out like a hub, all of whose items are enabled.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    pub parsers: Option<Vec<String>>,
    pub scenarios: Option<Vec<String>>,
    pub postoverflows: Option<Vec<String>>,
    #[serde(rename = "use")]
    pub uses: Option<Vec<String>>,
    /// Names of the enabled listeners (default: every listener defined in `listeners:`).
    pub listeners: Option<Vec<Expr>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParsingSection {
    /// Year for dates without one (syslog); default: the current year.
    pub year: Option<i32>,
    /// Allow reverse DNS lookups (`reverse_dns` enricher).
    pub reverse_dns: Option<bool>,
    /// Allow the expression helpers that use the network (`LookupHost`), each call bounded by 2 s.
    pub network_helpers: Option<bool>,
}

/// `store:`: the alert and decision database.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Record alerts and decisions (default true).
    pub enabled: Option<bool>,
    /// SQLite file; default `<state>/correlator.db`.
    pub path: Option<PathBuf>,
    /// How long expired or deleted decisions are kept (so bouncers can be told), Go duration with `d`.
    pub keep_expired_decisions: Option<String>,
    /// How long alerts without an active decision are kept; `0` keeps them forever.
    pub keep_alerts: Option<String>,
    /// How often the cleanup runs.
    pub cleanup_interval: Option<String>,
    /// Machine id recorded on the daemon's own alerts.
    pub machine_id: Option<String>,
}

/// `api:`: the CrowdSec-compatible local API.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Serve the API (default false).
    pub enabled: Option<bool>,
    /// `host:port`; default `127.0.0.1:8080`.
    pub listen: Option<String>,
    pub tls: Option<TlsSection>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Lifetime of a machine token (Go duration).
    pub token_ttl: Option<String>,
    /// Serve `/metrics` on the API listener too (default true).
    pub metrics: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// `prometheus:`: a separate plain-HTTP listener for `/metrics` (like CrowdSec's `:6060`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSection {
    pub enabled: Option<bool>,
    /// `host:port`; default `127.0.0.1:6060`.
    pub listen: Option<String>,
}

/// Resolved `store:` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreSettings {
    pub enabled: bool,
    pub path: PathBuf,
    /// Nanoseconds.
    pub keep_expired_decisions: i64,
    /// Nanoseconds; 0 = forever.
    pub keep_alerts: i64,
    /// Nanoseconds.
    pub cleanup_interval: i64,
    pub machine_id: String,
}

/// Resolved `api:` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiSettings {
    pub enabled: bool,
    pub listen: String,
    /// Whether `listen` was written in the file (a non-loopback address must be).
    pub listen_explicit: bool,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_body_bytes: usize,
    /// Nanoseconds.
    pub token_ttl: i64,
    pub metrics: bool,
    /// A separate `/metrics` listener, if any.
    pub prometheus_listen: Option<String>,
}

const HOUR_NS: i64 = 3_600_000_000_000;

impl StoreSettings {
    pub fn defaults(state: &Path) -> StoreSettings {
        StoreSettings {
            enabled: true,
            path: state.join("correlator.db"),
            keep_expired_decisions: 24 * HOUR_NS,
            keep_alerts: 30 * 24 * HOUR_NS,
            cleanup_interval: 60 * 1_000_000_000,
            machine_id: "local".to_string(),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            enabled: false,
            listen: "127.0.0.1:8080".to_string(),
            listen_explicit: false,
            tls: None,
            max_body_bytes: 8 * 1024 * 1024,
            token_ttl: HOUR_NS,
            metrics: true,
            prometheus_listen: None,
        }
    }
}

/// The configuration with paths resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    pub hub: PathBuf,
    pub patterns: Vec<PathBuf>,
    pub data: PathBuf,
    pub state: PathBuf,
    pub acquisition: PathBuf,
    pub selection: Selection,
    /// Stack directories whose items are all enabled (`stack.use`).
    pub stacks: Vec<PathBuf>,
    pub year: Option<i32>,
    pub reverse_dns: bool,
    /// `parsing.network_helpers`.
    pub network_helpers: bool,
    /// `profiles.yaml`.
    pub profiles: PathBuf,
    pub store: StoreSettings,
    pub api: ApiSettings,
    /// The listeners (defined and enabled), checked when the dispatcher is built.
    pub listeners: ListenersSettings,
}

impl Settings {
    /// Built-in defaults relative to `root` (a checkout: `hub/`, `hub/patterns`, `hub/data`, `state/`).
    pub fn defaults(root: &Path) -> Settings {
        Settings {
            file: None,
            hub: root.join("hub"),
            patterns: vec![root.join("hub/patterns")],
            data: root.join("hub/data"),
            state: root.join("state"),
            acquisition: root.join("acquis.yaml"),
            selection: Selection::default(),
            stacks: Vec::new(),
            year: None,
            reverse_dns: false,
            network_helpers: false,
            profiles: root.join("config/profiles.yaml"),
            store: StoreSettings::defaults(&root.join("state")),
            api: ApiSettings::default(),
            listeners: ListenersSettings { base: root.join("config"), ..ListenersSettings::default() },
        }
    }

    /// Loads `path` (a file, or a directory holding `config.yaml`).
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let file = if path.is_dir() { path.join("config.yaml") } else { path.to_path_buf() };
        let text = read_file(&file)?;
        let cfg: ConfigFile = if text.trim().is_empty() { ConfigFile::default() } else { from_document(&file, &text)? };
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let r = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        let hub = cfg.paths.hub.as_deref().map(r).unwrap_or_else(|| base.join("../hub"));
        let patterns = match &cfg.paths.patterns {
            Some(v) => v.iter().map(|p| r(p)).collect(),
            None => vec![hub.join("patterns")],
        };
        let all = || vec!["*".to_string()];
        // A file entry in a selection list is relative to this file's directory, like the paths above (the
        // daemon's working directory may be `/`); names and globs stay as written.
        let entries = |v: &Option<Vec<String>>| -> Vec<String> {
            let Some(v) = v else { return all() };
            v.iter()
                .map(|e| {
                    let p = Path::new(e.trim());
                    let yaml = matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"));
                    if yaml && p.is_relative() && base.join(p).is_file() {
                        base.join(p).to_string_lossy().into_owned()
                    } else {
                        e.clone()
                    }
                })
                .collect()
        };
        let state = cfg.paths.state.as_deref().map(r).unwrap_or_else(|| base.join("../state"));
        let (store, api) = resolve_store_api(&file, &text, &cfg, &state, &r)?;
        Ok(Settings {
            file: Some(file.clone()),
            data: cfg.paths.data.as_deref().map(r).unwrap_or_else(|| hub.join("data")),
            profiles: cfg.profiles.as_deref().map(r).unwrap_or_else(|| base.join("profiles.yaml")),
            store,
            api,
            state,
            acquisition: cfg.acquisition.as_deref().map(r).unwrap_or_else(|| base.join("../acquis.yaml")),
            selection: Selection {
                parsers: entries(&cfg.stack.parsers),
                scenarios: entries(&cfg.stack.scenarios),
                postoverflows: entries(&cfg.stack.postoverflows),
            },
            year: cfg.parsing.year,
            reverse_dns: cfg.parsing.reverse_dns.unwrap_or(false),
            network_helpers: cfg.parsing.network_helpers.unwrap_or(false),
            stacks: cfg.stack.uses.iter().flatten().map(|n| hub.join("stacks").join(n)).collect(),
            listeners: ListenersSettings {
                file: Some(file.clone()),
                base: base.clone(),
                defined: cfg.listeners.clone().unwrap_or_default(),
                enabled: cfg.stack.listeners.clone(),
            },
            hub,
            patterns,
        })
    }

    /// Loads the default config file when it exists (`config/config.yaml` under the current directory), else
    /// built-in defaults relative to the current directory.
    pub fn load_default() -> Result<Settings, ConfigError> {
        let p = Path::new("config/config.yaml");
        if p.is_file() { Settings::load(p) } else { Ok(Settings::defaults(Path::new("."))) }
    }

    pub fn build_options(&self) -> BuildOptions {
        BuildOptions {
            hub: self.hub.clone(),
            patterns: self.patterns.clone(),
            data_dir: self.data.clone(),
            selection: self.selection.clone(),
            year: self.year,
            reverse_dns: self.reverse_dns,
            network_helpers: self.network_helpers,
            stacks: self.stacks.clone(),
            ..BuildOptions::default()
        }
    }
}

/// Reads a duration setting (Go syntax, `d` allowed); errors point at the key's line in the file.
fn duration_setting(file: &Path, text: &str, key: &str, v: &Option<String>, default: i64) -> Result<i64, ConfigError> {
    let Some(s) = v else { return Ok(default) };
    match crate::gocompat::duration::parse_duration_with_days(s.trim()) {
        Ok(d) if d >= 0 => Ok(d),
        Ok(_) => Err(key_error(file, text, key, format!("{key}: negative duration {s:?}"))),
        Err(e) => Err(key_error(file, text, key, format!("{key}: {e}"))),
    }
}

/// An error at the first line that sets `key` (values are checked after deserialising, when the position is gone).
fn key_error(file: &Path, text: &str, key: &str, msg: String) -> ConfigError {
    let needle = format!("{key}:");
    for (i, l) in text.lines().enumerate() {
        if let Some(col) = l.find(&needle)
            && l[..col].trim().is_empty()
        {
            return ConfigError::new(file, i as u32 + 1, col as u32 + 1, msg);
        }
    }
    ConfigError::file(file, msg)
}

fn resolve_store_api(
    file: &Path,
    text: &str,
    cfg: &ConfigFile,
    state: &Path,
    r: &dyn Fn(&Path) -> PathBuf,
) -> Result<(StoreSettings, ApiSettings), ConfigError> {
    let d = StoreSettings::defaults(state);
    let s = &cfg.store;
    let store = StoreSettings {
        enabled: s.enabled.unwrap_or(true),
        path: s.path.as_deref().map(r).unwrap_or(d.path),
        keep_expired_decisions: duration_setting(
            file,
            text,
            "keep_expired_decisions",
            &s.keep_expired_decisions,
            d.keep_expired_decisions,
        )?,
        keep_alerts: duration_setting(file, text, "keep_alerts", &s.keep_alerts, d.keep_alerts)?,
        cleanup_interval: duration_setting(file, text, "cleanup_interval", &s.cleanup_interval, d.cleanup_interval)?
            .max(1_000_000_000),
        machine_id: s.machine_id.clone().unwrap_or(d.machine_id),
    };
    let a = &cfg.api;
    let da = ApiSettings::default();
    let check_addr = |key: &str, v: &str| -> Result<(), ConfigError> {
        v.parse::<std::net::SocketAddr>().map(|_| ()).map_err(|_| {
            key_error(file, text, key, format!("{key}: {v:?} is not an address:port (e.g. 127.0.0.1:8080)"))
        })
    };
    if let Some(l) = &a.listen {
        check_addr("listen", l)?;
    }
    let prometheus_listen = match (cfg.prometheus.enabled, &cfg.prometheus.listen) {
        (Some(false), _) => None,
        (Some(true), None) => Some("127.0.0.1:6060".to_string()),
        (_, Some(l)) => {
            check_addr("listen", l)?;
            Some(l.clone())
        }
        (None, None) => None,
    };
    let api = ApiSettings {
        enabled: a.enabled.unwrap_or(false),
        listen: a.listen.clone().unwrap_or(da.listen),
        listen_explicit: a.listen.is_some(),
        tls: a.tls.as_ref().map(|t| (r(&t.cert_file), r(&t.key_file))),
        max_body_bytes: a.max_body_bytes.unwrap_or(da.max_body_bytes).max(1024),
        token_ttl: duration_setting(file, text, "token_ttl", &a.token_ttl, da.token_ttl)?.max(1_000_000_000),
        metrics: a.metrics.unwrap_or(true),
        prometheus_listen,
    };
    Ok((store, api))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_compare_without_positions() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.yaml");
        let body = "listeners:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:1/x\n    retries: 2\n    \
                    headers: {X-A: b}\n    rate_limit: {max: 5, per: 1m}\n";
        let load = |text: &str| {
            std::fs::write(&f, text).unwrap();
            Settings::load(&f).unwrap().listeners
        };
        let a = load(body);
        // Same listeners, every line moved down: not a change.
        let b = load(&format!("# a comment\nstack:\n  scenarios: ['*']\n{body}"));
        assert!(a.same_listeners(&b));
        // A changed option, a changed rate limit, a changed selection: changes.
        assert!(!a.same_listeners(&load(&body.replace("retries: 2", "retries: 3"))));
        assert!(!a.same_listeners(&load(&body.replace("max: 5", "max: 6"))));
        assert!(!a.same_listeners(&load(&format!("stack:\n  listeners: [hook]\n{body}"))));
    }

    #[test]
    fn paths_are_relative_to_the_file() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.yaml"),
            "paths:\n  hub: ../myhub\n  state: /var/lib/x\nstack:\n  scenarios: [correlator/ssh-bruteforce]\n  \
             postoverflows: [local/po.yaml, 'missing/*.yaml']\nparsing:\n  year: 2026\n",
        )
        .unwrap();
        std::fs::create_dir_all(cfg.join("local")).unwrap();
        std::fs::write(cfg.join("local/po.yaml"), "name: me/po\n").unwrap();
        let s = Settings::load(&cfg).unwrap();
        // A file entry is relative to the configuration's directory, not to the daemon's working directory.
        assert_eq!(
            s.selection.postoverflows,
            [cfg.join("local/po.yaml").to_string_lossy().into_owned(), "missing/*.yaml".to_string()]
        );
        assert_eq!(s.hub, cfg.join("../myhub"));
        assert_eq!(s.patterns, vec![cfg.join("../myhub/patterns")]);
        assert_eq!(s.state, PathBuf::from("/var/lib/x"));
        assert_eq!(s.selection.scenarios, vec!["correlator/ssh-bruteforce".to_string()]);
        assert_eq!(s.selection.parsers, vec!["*".to_string()]);
        assert_eq!(s.year, Some(2026));
        assert_eq!(s.store.path, PathBuf::from("/var/lib/x/correlator.db"));
        assert!(!s.api.enabled);
        assert_eq!(s.profiles, cfg.join("profiles.yaml"));
    }

    #[test]
    fn store_and_api_sections() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.yaml");
        std::fs::write(
            &f,
            "store:\n  path: db/alerts.db\n  keep_expired_decisions: 2d\napi:\n  enabled: true\n  listen: 0.0.0.0:9090\n\
             prometheus:\n  enabled: true\n",
        )
        .unwrap();
        let s = Settings::load(&f).unwrap();
        assert_eq!(s.store.path, d.path().join("db/alerts.db"));
        assert_eq!(s.store.keep_expired_decisions, 48 * HOUR_NS);
        assert!(s.api.enabled && s.api.listen_explicit);
        assert_eq!(s.api.listen, "0.0.0.0:9090");
        assert_eq!(s.api.prometheus_listen.as_deref(), Some("127.0.0.1:6060"));
        std::fs::write(&f, "api:\n  listen: nowhere\n").unwrap();
        let e = Settings::load(&f).unwrap_err().to_string();
        assert!(e.contains("config.yaml:2:3: listen:"), "{e}");
        std::fs::write(&f, "store:\n  keep_alerts: 3x\n").unwrap();
        let e = Settings::load(&f).unwrap_err().to_string();
        assert!(e.contains("config.yaml:2:3: keep_alerts:"), "{e}");
        std::fs::write(&f, "api:\n  tls:\n    cert: x\n").unwrap();
        let e = Settings::load(&f).unwrap_err().to_string();
        assert!(e.contains("config.yaml:3:5: unknown field `cert`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_with_position() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config.yaml");
        std::fs::write(&f, "paths:\n  hubb: x\n").unwrap();
        let e = Settings::load(&f).unwrap_err().to_string();
        assert!(e.contains("config.yaml:2:3: unknown field `hubb`"), "{e}");
    }
}
