//! `correlator machines add|list|delete`: credentials of the agents that push alerts to this API.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::common::{OutputFormat, StoreArgs, open_store, print_json, print_table, store_failed};
use crate::api::auth;
use crate::store::{format_time, now_nanos};

/// Manage machines (agents that log in with POST /v1/watchers/login and push alerts).
#[derive(Debug, Args)]
pub struct MachinesArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: MachinesCommand,
}

#[derive(Debug, Subcommand)]
pub enum MachinesCommand {
    /// Register a machine. Without --password a random one is generated and printed.
    Add {
        machine_id: String,
        #[arg(long, short = 'p', env = "CORRELATOR_MACHINE_PASSWORD")]
        password: Option<String>,
    },
    /// List the machines.
    List,
    /// Remove a machine: its tokens stop working at once.
    Delete { machine_id: String },
}

pub fn run(a: MachinesArgs) -> ExitCode {
    let (_, store) = match open_store(&a.store) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let json = a.store.format == OutputFormat::Json;
    match a.command {
        MachinesCommand::Add { machine_id, password } => {
            let generated = password.is_none();
            let password = password.unwrap_or_else(auth::new_api_key);
            let hash = match auth::hash_password(&password) {
                Ok(h) => h,
                Err(e) => return store_failed(e),
            };
            if let Err(e) = store.add_machine(&machine_id, &hash, now_nanos()) {
                return store_failed(e);
            }
            if json {
                let pw = generated.then_some(password);
                print_json(&serde_json::json!({"machine_id": machine_id, "password": pw}));
            } else if generated {
                crate::outln!("Machine '{machine_id}' added. Password (shown only once):\n\n   {password}\n");
            } else {
                crate::outln!("Machine '{machine_id}' added.");
            }
            ExitCode::SUCCESS
        }
        MachinesCommand::List => {
            let list = match store.machines() {
                Ok(l) => l,
                Err(e) => return store_failed(e),
            };
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|m| {
                        serde_json::json!({"machine_id": m.machine_id, "created_at": format_time(m.created_at),
                            "last_seen": m.last_seen.map(format_time)})
                    })
                    .collect();
                print_json(&v);
            } else {
                let rows = list
                    .iter()
                    .map(|m| {
                        vec![
                            m.machine_id.clone(),
                            m.last_seen.map(format_time).unwrap_or_else(|| "-".into()),
                            format_time(m.created_at),
                        ]
                    })
                    .collect();
                print_table("Machines", &["Name", "Last Push", "Created"], rows, "No machine registered.");
            }
            ExitCode::SUCCESS
        }
        MachinesCommand::Delete { machine_id } => match store.delete_machine(&machine_id) {
            Ok(true) => {
                crate::outln!("machine '{machine_id}' deleted");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("correlator: no machine named '{machine_id}'");
                ExitCode::FAILURE
            }
            Err(e) => store_failed(e),
        },
    }
}
