//! Configuration files: `config/config.yaml`, `acquis.yaml`, `profiles.yaml`, and the YAML reading they share.

pub mod settings;
pub mod yaml;
