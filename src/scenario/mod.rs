//! Scenarios: leaky buckets keyed by `groupby` that turn a stream of events into alerts.
//!
//! `spec` is the YAML model, `compile` validates and compiles it, `limiter` is the token bucket, `instance` one
//! bucket and its pour logic, `instances` the live ones of a scenario by key, `manager` all buckets with expiry and
//! blackholes, `prefilter` which filters an event can pass (required literals), `alert` the overflow → alert step,
//! `view` how buckets look from expressions.

pub mod alert;
pub mod compile;
pub mod instance;
pub mod instances;
pub mod limiter;
pub mod manager;
pub mod prefilter;
pub mod spec;
pub mod view;

#[cfg(test)]
mod tests;
