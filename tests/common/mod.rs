//! Helpers shared by the integration tests: where the shared test corpus lives.

#![allow(dead_code)]

pub mod daemon;
pub mod hub;

use std::path::PathBuf;

/// The shared corpus: `$CORRELATOR_SHARED`, else `<crate>/../shared`. Fails loudly when missing: a test that needs
/// the corpus must not pass without it.
pub fn shared_dir() -> PathBuf {
    let dir = match std::env::var_os("CORRELATOR_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    assert!(
        dir.join("hubtests").is_dir(),
        "shared test corpus not found at {} (set CORRELATOR_SHARED to the folder holding hubtests/)",
        dir.display()
    );
    dir
}

/// A small deterministic PRNG (xorshift64*), so generated inputs are the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The `correlator` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_correlator"))
}

/// Copies a directory tree (a hub, to change an item of a copy).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())).flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        }
    }
}
