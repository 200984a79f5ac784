//! Parser stages: CrowdSec-format YAML nodes applied to each event (grok, statics, enrichers, whitelists).
//!
//! `spec` is the YAML model, `compile` turns it into `node::Node`s, `stages` runs CrowdSec's stage loop,
//! `statics`/`whitelist`/`methods` are the node's steps, `enrich` the enrichers (`method:` statics).

pub mod compile;
pub mod enrich;
pub mod methods;
pub mod node;
pub mod runtime;
pub mod spec;
pub mod stages;
pub mod statics;
pub mod whitelist;
