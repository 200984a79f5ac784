//! Noticing configuration changes: a signature (paths, sizes, modification times) of the config file and of every
//! file the pipeline is built from (hub items, stacks, patterns, data). Cheap enough to compute every two seconds
//! on a hub of hundreds of files, and independent of inotify limits or network filesystems.

use std::hash::{Hash, Hasher};
use std::path::Path;

use crate::config::settings::Settings;
use crate::hub::{self, ItemKind};

/// Changes whenever a relevant file is added, removed, resized or touched.
pub fn signature(settings: &Settings) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut add = |p: &Path| {
        if let Ok(m) = std::fs::metadata(p) {
            (p, m.len(), m.modified().ok()).hash(&mut h);
        }
    };
    if let Some(f) = &settings.file {
        add(f);
    }
    for root in std::iter::once(&settings.hub).chain(settings.stacks.iter()) {
        for kind in [ItemKind::Parser, ItemKind::Scenario, ItemKind::PostOverflow] {
            for item in hub::discover(root, kind).unwrap_or_default() {
                add(&item.path);
            }
        }
    }
    for dir in settings.patterns.iter().chain(std::iter::once(&settings.data)) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut files: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            for f in files {
                add(&f);
            }
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_hub_edits() {
        let d = tempfile::tempdir().unwrap();
        let s = Settings::defaults(d.path());
        std::fs::create_dir_all(d.path().join("hub/scenarios/me")).unwrap();
        let f = d.path().join("hub/scenarios/me/x.yaml");
        std::fs::write(&f, "a").unwrap();
        let a = signature(&s);
        assert_eq!(a, signature(&s));
        std::fs::write(&f, "ab").unwrap();
        let b = signature(&s);
        assert_ne!(a, b);
        std::fs::write(d.path().join("hub/scenarios/me/y.yaml"), "c").unwrap();
        assert_ne!(b, signature(&s));
    }
}
