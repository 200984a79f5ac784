//! Parser stages: CrowdSec-format YAML nodes applied to each event (grok, statics, enrichers, whitelists).

pub mod enrich;
