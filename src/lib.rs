//! Correlator: a log-correlation and intrusion-detection engine.
//!
//! Data flows one way: `acquisition` → `parser` stages → `scenario` buckets → postoverflows → `output`.
//! `expr` is the filter language every stage compiles its YAML expressions with; `event` is the value that flows.
//! See `docs/architecture.md` for the tour.

pub mod acquisition;
pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decisions;
pub mod event;
pub mod explain;
pub mod expr;
pub mod gocompat;
pub mod grok;
pub mod hub;
pub mod hubtest;
pub mod itemdebug;
pub mod lint;
pub mod metrics;
pub mod output;
pub mod parser;
pub mod pipeline;
pub mod ratelog;
pub mod scenario;
pub mod store;
