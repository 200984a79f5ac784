//! A hubtest case on disk: `config.yaml` (which items, which log, which type), the log file and the assert files,
//! in the format of the CrowdSec hub's `.tests/<name>/` folders.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::yaml::{ConfigError, from_document, read_file};
use crate::parser::spec::StaticSpec;

/// `config.yaml` of a case. Not strict: real cases carry keys Correlator ignores (`collections`, `nuclei_template`,
/// a misspelt `ostoverflows`), as cscli ignores them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CaseConfig {
    #[serde(default)]
    pub parsers: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub scenarios: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub postoverflows: Option<Vec<Option<String>>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub log_file: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub log_type: String,
    #[serde(default)]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ignore_parsers: bool,
    #[serde(default)]
    pub override_statics: Option<Vec<StaticSpec>>,
}

/// A `key:` with no value reads as the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A case ready to run.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub config: CaseConfig,
}

impl Case {
    pub fn load(dir: &Path) -> Result<Case, ConfigError> {
        let file = dir.join("config.yaml");
        let text = read_file(&file)?;
        let config: CaseConfig = from_document(&file, &text)?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("case").to_string();
        Ok(Case { name, dir: dir.to_path_buf(), config })
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(&self.config.log_file)
    }

    fn names(list: &Option<Vec<Option<String>>>) -> Vec<String> {
        list.iter().flatten().flatten().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    }

    pub fn parser_refs(&self) -> Vec<String> {
        Self::names(&self.config.parsers)
    }

    pub fn scenario_refs(&self) -> Vec<String> {
        Self::names(&self.config.scenarios)
    }

    pub fn postoverflow_refs(&self) -> Vec<String> {
        Self::names(&self.config.postoverflows)
    }

    /// Assert lines (non-empty, trimmed) of `parser.assert` / `scenario.assert`; `None` when the file is absent.
    pub fn asserts(&self, which: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.dir.join(which)).ok()?;
        Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
    }
}

/// Every case under `path`: `path` itself when it holds a `config.yaml`, else its subdirectories that do
/// (recursively), sorted by name.
pub fn discover(path: &Path) -> Vec<PathBuf> {
    if path.join("config.yaml").is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(path) {
        let mut dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        dirs.sort();
        for d in dirs {
            out.extend(discover(&d));
        }
    }
    out
}
