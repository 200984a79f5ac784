//! Live bucket state across restarts: written on clean shutdown, read at start, so a restart does not forget a
//! half-full bucket or an open blackhole window. A missing file is a first start; a corrupt one is reported and
//! ignored, never fatal. Files written before blackholes were saved have none and still load (same version).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::scenario::manager::ScenarioState;

/// Live state per scenario, as `Buckets::snapshot` gives it and `Buckets::restore` takes it.
pub type Snapshot = Vec<ScenarioState>;

#[derive(Serialize, Deserialize)]
struct SavedState {
    version: u32,
    scenarios: Vec<ScenarioState>,
}

const VERSION: u32 = 1;

/// Writes the state atomically (temporary file, then rename).
pub fn save(path: &Path, snapshot: &[ScenarioState]) -> std::io::Result<()> {
    let state =
        SavedState { version: VERSION, scenarios: snapshot.iter().filter(|s| !s.is_empty()).cloned().collect() };
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
    Ok(Some(state.scenarios))
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

    #[test]
    fn blackholes_are_saved_and_old_files_without_them_still_load() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("buckets.json");
        // As written before blackholes were saved.
        std::fs::write(&p, br#"{"version":1,"scenarios":[{"name":"a/b","instances":[]}]}"#).unwrap();
        let old = load(&p).unwrap().unwrap();
        assert_eq!((old[0].name.as_str(), old[0].blackholes.len()), ("a/b", 0));
        // A scenario with only a blackhole window open is saved too.
        let s = ScenarioState { name: "a/b".into(), instances: Vec::new(), blackholes: vec![("1.2.3.4".into(), 42)] };
        save(&p, &[s, ScenarioState { name: "empty".into(), ..ScenarioState::default() }]).unwrap();
        let back = load(&p).unwrap().unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].blackholes, [("1.2.3.4".to_string(), 42)]);
    }
}
