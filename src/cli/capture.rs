//! `correlator capture`: record a syslog stream into a file for `correlator replay --type syslog FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::acquisition::capture::{Capture, parse_listen};

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Where to receive syslog: `udp://IP:PORT`, `tcp://IP:PORT`, several separated by commas or repeated.
    #[arg(long, required = true)]
    pub listen: Vec<String>,
    /// The file to write (one rebuilt syslog line per message).
    #[arg(long)]
    pub out: PathBuf,
    /// Append to the file instead of replacing it.
    #[arg(long)]
    pub append: bool,
    /// Longest message accepted, in bytes (longer ones are cut).
    #[arg(long, default_value_t = 2048)]
    pub max_message_len: usize,
}

pub fn run(args: CaptureArgs) -> ExitCode {
    let mut listeners = Vec::new();
    for spec in &args.listen {
        match parse_listen(spec) {
            Ok(l) => listeners.extend(l),
            Err(e) => {
                eprintln!("error: --listen {e}");
                return ExitCode::from(2);
            }
        }
    }
    for l in &mut listeners {
        l.max_message_len = args.max_message_len.max(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let capture = match Capture::start(listeners, &args.out, args.append).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!("capturing {} into {} (Ctrl-C to stop)", capture.addrs().join(", "), args.out.display());
        match capture.run(stop_signal()).await {
            Ok(n) => {
                eprintln!("captured {n} lines into {}", args.out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        // Without signal handlers the capture would never stop cleanly; fall back to Ctrl-C only.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
