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
