//! Live bucket state across restarts: written on clean shutdown, read at start, so a restart does not forget a
//! half-full bucket. A missing file is a first start; a corrupt one is reported and ignored, never fatal.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::instance::Instance;

/// Live instances per scenario name, as `Buckets::snapshot` gives them and `Buckets::restore` takes them.
pub type Snapshot = Vec<(String, Vec<Instance>)>;

#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    scenarios: Vec<SavedScenario>,
}

#[derive(Serialize, Deserialize)]
struct SavedScenario {
    name: String,
    instances: Vec<Instance>,
}

const VERSION: u32 = 1;

/// Writes the state atomically (temporary file, then rename).
pub fn save(path: &Path, snapshot: &[(String, Vec<Instance>)]) -> std::io::Result<()> {
    let state = SavedState {
        version: VERSION,
        scenarios: snapshot
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(name, v)| SavedScenario { name: name.clone(), instances: v.clone() })
            .collect(),
    };
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Reads saved state: `Ok(None)` when there is none.
pub fn load(path: &Path) -> Result<Option<Snapshot>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let state: SavedState = serde_json::from_slice(&bytes).map_err(|e| format!("corrupt state file: {e}"))?;
    if state.version != VERSION {
        return Err(format!("state version {} is not supported (expected {VERSION})", state.version));
    }
    Ok(Some(state.scenarios.into_iter().map(|s| (s.name, s.instances)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("buckets.json");
        assert!(load(&p).unwrap().is_none());
        std::fs::write(&p, b"{not json").unwrap();
        assert!(load(&p).unwrap_err().contains("corrupt"));
        save(&p, &[]).unwrap();
        assert_eq!(load(&p).unwrap().unwrap().len(), 0);
    }
}
