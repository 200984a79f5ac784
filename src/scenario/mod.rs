//! Scenarios: leaky buckets keyed by `groupby` that turn a stream of events into alerts.

pub mod limiter;
pub mod spec;
