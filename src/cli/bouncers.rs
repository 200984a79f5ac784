//! `correlator bouncers add|list|delete`: API keys of the enforcement components that pull decisions.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::common::{OutputFormat, StoreArgs, open_store, print_json, print_table, store_failed};
use crate::api::auth;
use crate::store::{format_time, now_nanos};

/// Manage bouncers (API keys for GET /v1/decisions and /v1/decisions/stream).
#[derive(Debug, Args)]
pub struct BouncersArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: BouncersCommand,
}

#[derive(Debug, Subcommand)]
pub enum BouncersCommand {
    /// Register a bouncer and print its API key (shown only once: the store keeps its hash).
    Add {
        name: String,
        /// Use this key instead of a generated one.
        #[arg(long, short = 'k')]
        key: Option<String>,
    },
    /// List the bouncers and their last pull.
    List,
    /// Remove a bouncer: its key stops working at once.
    Delete { name: String },
}

pub fn run(a: BouncersArgs) -> ExitCode {
    let (_, store) = match open_store(&a.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let json = a.store.format == OutputFormat::Json;
    match a.command {
        BouncersCommand::Add { name, key } => {
            let key = key.unwrap_or_else(auth::new_api_key);
            if key.len() < 16 {
                eprintln!("correlator: an API key needs at least 16 characters");
                return ExitCode::from(2);
            }
            if let Err(e) = store.add_bouncer(&name, &auth::hash_api_key(&key), now_nanos()) {
                return store_failed(e);
            }
            if json {
                print_json(&serde_json::json!({"name": name, "api_key": key}));
            } else {
                crate::outln!(
                    "API key for '{name}':\n\n   {key}\n\nPlease keep it safe, you won't be able to retrieve it!"
                );
            }
            ExitCode::SUCCESS
        }
        BouncersCommand::List => {
            let list = match store.bouncers() {
                Ok(l) => l,
                Err(e) => return store_failed(e),
            };
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|b| {
                        serde_json::json!({"name": b.name, "created_at": format_time(b.created_at),
                            "last_pull": b.last_pull.map(format_time)})
                    })
                    .collect();
                print_json(&v);
            } else {
                let rows = list
                    .iter()
                    .map(|b| {
                        vec![
                            b.name.clone(),
                            b.last_pull.map(format_time).unwrap_or_else(|| "-".into()),
                            format_time(b.created_at),
                        ]
                    })
                    .collect();
                print_table("Bouncers", &["Name", "Last Pull", "Created"], rows, "No bouncer registered.");
            }
            ExitCode::SUCCESS
        }
        BouncersCommand::Delete { name } => match store.delete_bouncer(&name) {
            Ok(true) => {
                crate::outln!("bouncer '{name}' deleted");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("correlator: no bouncer named '{name}'");
                ExitCode::FAILURE
            }
            Err(e) => store_failed(e),
        },
    }
}
