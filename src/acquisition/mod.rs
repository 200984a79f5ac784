//! Acquisition: reading log data from the configured sources and handing it to the pipeline as [`Record`]s.

pub mod lines;
pub mod metrics;
pub mod positions;
