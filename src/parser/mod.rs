//! Parser stages: CrowdSec-format nodes (filter, grok, statics, enrichers, whitelists) applied to each event.

pub mod spec;
