//! Acquisition: reading log data from the datasources of `acquis.yaml` and handing it to the pipeline as
//! [`Record`]s, without losing a line.
//!
//! * [`Manager`] starts the sources, reloads them by identity and shuts them down; records arrive on one bounded
//!   channel (backpressure, never drops).
//! * `file` follows files through rotation (or reads them once in cat mode, gzip included); `syslog` is a UDP/TCP
//!   syslog server; `process` runs `journalctl` or any command; `stdin` reads standard input.
//! * Every file record carries an [`Ack`]: the pipeline commits it when done, and `positions` persists only
//!   committed offsets, so a crash re-reads in-flight lines and never skips one.
//! * `capture` records a syslog stream into a file that replays as a plain log file.
//!
//! What this module is not: parsing (the pipeline's job) or the acquis.yaml format (`config::acquis`).

pub mod capture;
pub mod file;
pub mod lines;
pub mod manager;
pub mod metrics;
pub mod positions;
pub mod process;
pub mod record;
pub mod stdin;
pub mod syslog;

pub use manager::{Manager, ManagerOptions, ReloadReport, ShutdownReport, SourceInfo};
pub use metrics::{MetricsSnapshot, SourceMetrics};
pub use positions::{Ack, Position, PositionStore};
pub use record::Record;
