//! Per-source counters: plain atomics the sources bump and the API/metrics endpoint reads.
//!
//! What this module is not: an exporter. It only holds numbers; naming them for Prometheus is the API's job.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one datasource (one document of `acquis.yaml`). Shared as `Arc<SourceMetrics>` between the source,
/// the manager and whoever exports them; every field is updated with relaxed atomics (no ordering is implied).
#[derive(Debug, Default)]
pub struct SourceMetrics {
    /// Records sent to the pipeline.
    pub lines: AtomicU64,
    /// Bytes read (files, streams) or received (syslog payloads).
    pub bytes: AtomicU64,
    /// Lines cut at the length cap.
    pub truncated: AtomicU64,
    /// Syslog messages/frames that could not be parsed or framed (dropped).
    pub malformed: AtomicU64,
    /// Read or accept errors (each logged).
    pub errors: AtomicU64,
    /// Files currently followed (file source), connections open (syslog TCP).
    pub open: AtomicU64,
    /// Slot filled by the pipeline: records that parsed successfully.
    pub parsed_ok: AtomicU64,
    /// Slot filled by the pipeline: records no parser accepted.
    pub parsed_ko: AtomicU64,
}

/// A point-in-time copy of [`SourceMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub lines: u64,
    pub bytes: u64,
    pub truncated: u64,
    pub malformed: u64,
    pub errors: u64,
    pub open: u64,
    pub parsed_ok: u64,
    pub parsed_ko: u64,
}

impl SourceMetrics {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            lines: g(&self.lines),
            bytes: g(&self.bytes),
            truncated: g(&self.truncated),
            malformed: g(&self.malformed),
            errors: g(&self.errors),
            open: g(&self.open),
            parsed_ok: g(&self.parsed_ok),
            parsed_ko: g(&self.parsed_ko),
        }
    }
}
