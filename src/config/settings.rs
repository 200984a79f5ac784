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

/// Which hub items are enabled: names, globs or paths; each list defaults to everything (`*`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSection {
    pub parsers: Option<Vec<String>>,
    pub scenarios: Option<Vec<String>>,
    pub postoverflows: Option<Vec<String>>,
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
    pub year: Option<i32>,
    pub reverse_dns: bool,
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
            year: None,
            reverse_dns: false,
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
        Ok(Settings {
            file: Some(file.clone()),
            data: cfg.paths.data.as_deref().map(r).unwrap_or_else(|| hub.join("data")),
            state: cfg.paths.state.as_deref().map(r).unwrap_or_else(|| base.join("../state")),
            acquisition: cfg.acquisition.as_deref().map(r).unwrap_or_else(|| base.join("../acquis.yaml")),
            selection: Selection {
                parsers: cfg.stack.parsers.clone().unwrap_or_else(all),
                scenarios: cfg.stack.scenarios.clone().unwrap_or_else(all),
                postoverflows: cfg.stack.postoverflows.clone().unwrap_or_else(all),
            },
            year: cfg.parsing.year,
            reverse_dns: cfg.parsing.reverse_dns.unwrap_or(false),
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
            ..BuildOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_file() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.yaml"),
            "paths:\n  hub: ../myhub\n  state: /var/lib/x\nstack:\n  scenarios: [correlator/ssh-bruteforce]\nparsing:\n  year: 2026\n",
        )
        .unwrap();
        let s = Settings::load(&cfg).unwrap();
        assert_eq!(s.hub, cfg.join("../myhub"));
        assert_eq!(s.patterns, vec![cfg.join("../myhub/patterns")]);
        assert_eq!(s.state, PathBuf::from("/var/lib/x"));
        assert_eq!(s.selection.scenarios, vec!["correlator/ssh-bruteforce".to_string()]);
        assert_eq!(s.selection.parsers, vec!["*".to_string()]);
        assert_eq!(s.year, Some(2026));
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
