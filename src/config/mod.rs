//! Configuration files and their loading, each with `file:line:col` errors: `config/config.yaml` (`settings`) and
//! its `listeners:` section (`listeners`), `acquis.yaml` (`acquis`), and the YAML reading they share (`yaml`).
//!
//! What this module is not: the runtime objects built from a configuration (those live beside the code that uses
//! them, e.g. `acquisition`, `pipeline`).

pub mod acquis;
pub mod listeners;
pub mod settings;
pub mod yaml;

pub use yaml::{ConfigError, ConfigErrors};
