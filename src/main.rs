//! The `correlator` binary: everything lives in the library; see `correlator::cli`.

fn main() -> std::process::ExitCode {
    correlator::cli::main()
}
