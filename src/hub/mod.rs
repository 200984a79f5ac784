//! Finding hub items on disk: parsers, scenarios and postoverflows in CrowdSec's layouts.
//!
//! Two layouts are accepted, and may be mixed:
//! * a hub checkout (and Correlator's own `hub/`): `parsers/<stage>/<author>/<name>.yaml`,
//!   `scenarios/<author>/<name>.yaml`, `postoverflows/<stage>/<author>/<name>.yaml`;
//! * an installed CrowdSec configuration (`/etc/crowdsec`): `parsers/<stage>/<name>.yaml`, `scenarios/<name>.yaml`,
//!   often symlinks into the hub.
//!
//! The stage is the directory name under `parsers/` (spec §2.1). Order is CrowdSec's: by stage, then by file name;
//! scenarios by file name. This module only finds files and names them; `pipeline` loads and compiles them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::yaml::ConfigError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    Parser,
    Scenario,
    PostOverflow,
}

impl ItemKind {
    pub fn dir(self) -> &'static str {
        match self {
            ItemKind::Parser => "parsers",
            ItemKind::Scenario => "scenarios",
            ItemKind::PostOverflow => "postoverflows",
        }
    }

    fn index_key(self) -> &'static str {
        self.dir()
    }
}

/// One YAML file of the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemFile {
    pub kind: ItemKind,
    /// Parser/postoverflow stage (`s01-parse`); `None` for scenarios.
    pub stage: Option<String>,
    pub path: PathBuf,
    /// `author/name` when the file sits in an author directory, else the file stem.
    pub name: String,
}

impl ItemFile {
    pub fn file_name(&self) -> &str {
        self.path.file_name().and_then(|f| f.to_str()).unwrap_or("")
    }

    /// Builds an item from an explicit path (hubtest `./parsers/s01-parse/x/y.yaml`, `--parsers FILE`), taking the
    /// stage from the parent directories.
    pub fn from_path(kind: ItemKind, path: &Path) -> ItemFile {
        let stage = if kind == ItemKind::Scenario {
            None
        } else {
            // `<stage>/x.yaml` or `<stage>/<author>/x.yaml`; looked up on the absolute path so that `x.yaml` given
            // from inside `s01-parse/` works, and no further up, so an unrelated `/home/s1mon/` is not a stage.
            let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            full.ancestors()
                .skip(1)
                .take(2)
                .filter_map(|p| p.file_name().and_then(|f| f.to_str()))
                .find(|d| is_stage_name(d))
                .map(str::to_string)
        };
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let parent = path.parent().and_then(|p| p.file_name()).and_then(|f| f.to_str()).unwrap_or("");
        let name = if parent.is_empty() || is_stage_name(parent) || parent == kind.dir() {
            stem
        } else {
            format!("{parent}/{stem}")
        };
        ItemFile { kind, stage, path: path.to_path_buf(), name }
    }
}

/// `s00-raw`, `s01-parse`, `s02-enrich`, `s00-enrich`, `s01-whitelist`: an `s`, digits, a dash.
pub fn is_stage_name(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() > 2 && b[0] == b's' && b[1].is_ascii_digit()
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml") | Some("yml"))
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|f| f.to_str()).is_some_and(|f| f.starts_with('.'))
}

/// Every YAML file under `dir`, recursively, following symlinks, skipping hidden entries.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), ConfigError> {
    if depth > 8 {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| ConfigError::file(dir, format!("cannot list directory: {e}")))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if is_hidden(&p) {
            continue;
        }
        if p.is_dir() {
            yaml_files(&p, out, depth + 1)?;
        } else if is_yaml(&p) && p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

/// All items of `kind` under `hub`, in CrowdSec's load order. A missing kind directory is not an error (a hub may
/// have no postoverflows).
pub fn discover(hub: &Path, kind: ItemKind) -> Result<Vec<ItemFile>, ConfigError> {
    let root = hub.join(kind.dir());
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    if kind == ItemKind::Scenario {
        let mut files = Vec::new();
        yaml_files(&root, &mut files, 0)?;
        items.extend(files.iter().map(|p| ItemFile::from_path(kind, p)));
    } else {
        let rd = std::fs::read_dir(&root).map_err(|e| ConfigError::file(&root, format!("cannot list: {e}")))?;
        let mut stages: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        stages.sort();
        for stage_dir in stages {
            if is_hidden(&stage_dir) {
                continue;
            }
            let stage = stage_dir.file_name().and_then(|f| f.to_str()).unwrap_or("").to_string();
            let mut files = Vec::new();
            yaml_files(&stage_dir, &mut files, 0)?;
            for p in files {
                let mut item = ItemFile::from_path(kind, &p);
                item.stage = Some(stage.clone());
                items.push(item);
            }
        }
    }
    sort_items(&mut items);
    Ok(items)
}

/// CrowdSec's order: stage, then file name (the author directory does not count), then path for ties.
pub fn sort_items(items: &mut [ItemFile]) {
    items.sort_by(|a, b| {
        (a.stage.as_deref(), a.file_name(), &a.path).cmp(&(b.stage.as_deref(), b.file_name(), &b.path))
    });
}

/// The hub's `.index.json`: item name → path (relative to the hub root) and stage.
#[derive(Clone, Debug, Default)]
pub struct HubIndex {
    root: PathBuf,
    entries: HashMap<(ItemKind, String), (String, Option<String>)>,
}

impl HubIndex {
    /// Loads `<hub>/.index.json`; a hub without an index gives an empty index (names then resolve by path only).
    pub fn load(hub: &Path) -> Result<HubIndex, ConfigError> {
        let path = hub.join(".index.json");
        let mut idx = HubIndex { root: hub.to_path_buf(), entries: HashMap::new() };
        if !path.is_file() {
            return Ok(idx);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::file(&path, format!("cannot read: {e}")))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ConfigError::new(&path, e.line() as u32, e.column() as u32, e.to_string()))?;
        for kind in [ItemKind::Parser, ItemKind::Scenario, ItemKind::PostOverflow] {
            if let Some(obj) = json.get(kind.index_key()).and_then(|v| v.as_object()) {
                for (name, v) in obj {
                    if let Some(p) = v.get("path").and_then(|p| p.as_str()) {
                        let stage = v.get("stage").and_then(|s| s.as_str()).map(str::to_string);
                        idx.entries.insert((kind, name.clone()), (p.to_string(), stage));
                    }
                }
            }
        }
        Ok(idx)
    }

    /// Whether `name` is an item name of the index (not a path).
    pub fn has_name(&self, kind: ItemKind, name: &str) -> bool {
        self.entries.contains_key(&(kind, name.trim().to_string()))
    }

    /// Resolves a hubtest-style reference: an item name (`crowdsecurity/sshd-logs`) through the index, or a path
    /// relative to the hub root (`./parsers/s01-parse/x/y.yaml`, leading `/` tolerated), or relative to `extra_dir`
    /// (a test case's own folder).
    pub fn resolve(&self, kind: ItemKind, reference: &str, extra_dir: Option<&Path>) -> Option<ItemFile> {
        let reference = reference.trim();
        if reference.is_empty() {
            return None;
        }
        if let Some((rel, stage)) = self.entries.get(&(kind, reference.to_string())) {
            let mut item = ItemFile::from_path(kind, &self.root.join(rel));
            if stage.is_some() {
                item.stage = stage.clone();
            }
            item.name = reference.to_string();
            return Some(item);
        }
        let rel = reference.trim_start_matches("./").trim_start_matches('/');
        let mut candidates = vec![self.root.join(rel)];
        if let Some(d) = extra_dir {
            candidates.push(d.join(rel));
        }
        candidates.push(PathBuf::from(reference));
        candidates.into_iter().find(|p| p.is_file()).map(|p| ItemFile::from_path(kind, &p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "name: x\n").unwrap();
    }

    #[test]
    fn discovers_both_layouts_in_crowdsec_order() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        touch(&h.join("parsers/s01-parse/crowdsecurity/sshd-logs.yaml"));
        touch(&h.join("parsers/s01-parse/apache2-logs.yaml"));
        touch(&h.join("parsers/s00-raw/crowdsecurity/syslog-logs.yaml"));
        touch(&h.join("parsers/s02-enrich/zz/dateparse-enrich.yml"));
        touch(&h.join("parsers/s02-enrich/.hidden.yaml"));
        touch(&h.join("parsers/s02-enrich/README.md"));
        touch(&h.join("scenarios/crowdsecurity/ssh-bf.yaml"));
        touch(&h.join("scenarios/http-probing.yaml"));
        let parsers = discover(h, ItemKind::Parser).unwrap();
        let names: Vec<(&str, &str)> = parsers.iter().map(|i| (i.stage.as_deref().unwrap(), i.name.as_str())).collect();
        assert_eq!(
            names,
            [
                ("s00-raw", "crowdsecurity/syslog-logs"),
                ("s01-parse", "apache2-logs"),
                ("s01-parse", "crowdsecurity/sshd-logs"),
                ("s02-enrich", "zz/dateparse-enrich")
            ]
        );
        let scen: Vec<String> = discover(h, ItemKind::Scenario).unwrap().into_iter().map(|i| i.name).collect();
        assert_eq!(scen, ["http-probing", "crowdsecurity/ssh-bf"]);
        assert!(discover(h, ItemKind::PostOverflow).unwrap().is_empty());
    }

    #[test]
    fn index_resolves_names_and_paths() {
        let d = tempfile::tempdir().unwrap();
        let h = d.path();
        touch(&h.join("parsers/s01-parse/crowdsecurity/sshd-logs.yaml"));
        std::fs::write(
            h.join(".index.json"),
            r#"{"parsers": {"crowdsecurity/sshd-logs": {"path": "parsers/s01-parse/crowdsecurity/sshd-logs.yaml", "stage": "s01-parse"}}}"#,
        )
        .unwrap();
        let idx = HubIndex::load(h).unwrap();
        let it = idx.resolve(ItemKind::Parser, "crowdsecurity/sshd-logs", None).unwrap();
        assert_eq!(it.stage.as_deref(), Some("s01-parse"));
        let it = idx.resolve(ItemKind::Parser, "./parsers/s01-parse/crowdsecurity/sshd-logs.yaml", None).unwrap();
        assert_eq!(it.name, "crowdsecurity/sshd-logs");
        assert!(idx.resolve(ItemKind::Parser, "", None).is_none());
        assert!(idx.resolve(ItemKind::Parser, "nope/nope", None).is_none());
    }
}
