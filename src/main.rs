//! The `correlator` binary: everything lives in the library; see `correlator::cli`.

// mimalloc instead of glibc's malloc: with several parsing workers, events are allocated on the workers and freed on
// the pouring thread, which glibc handles with per-arena locks and consolidation (docs/performance.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    correlator::cli::main()
}
