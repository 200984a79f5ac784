//! Helpers shared by the integration tests: where the shared corpus is, how to run the binary.
#![allow(dead_code)]

use std::path::PathBuf;

/// The shared corpus (`hubtests/`, `bench/`): `$CORRELATOR_SHARED`, else `../shared` beside the repository.
/// Missing corpus is a test failure with a clear message, never a silent pass.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("CORRELATOR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("hubtests").is_dir(),
        "the shared test corpus is missing: expected {}/hubtests (set CORRELATOR_SHARED)",
        dir.display()
    );
    dir
}

/// The `correlator` binary built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_correlator"))
}
