//! Rate-limited warnings for problems that happen per event (a static failing on a hostile line, a filter erroring
//! on an odd event). Log lines are attacker-controlled: one warning per line would let an attacker flood the
//! daemon's own log. Each call site may log a few messages per minute; what it suppresses is counted and reported
//! with the next message it is allowed to write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Messages a call site may write per window.
const BURST: u64 = 5;
/// Window length in seconds.
const WINDOW: u64 = 60;

/// The state of one call site.
pub struct Limiter {
    /// Window start (Unix seconds) in the high 40 bits, messages written in the window in the low 24.
    state: AtomicU64,
    suppressed: AtomicU64,
}

impl Limiter {
    pub const fn new() -> Self {
        Limiter { state: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)` when a message may be written now, `n` being how many were suppressed since the last one.
    pub fn check(&self) -> Option<u64> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.check_at(now)
    }

    fn check_at(&self, now: u64) -> Option<u64> {
        let cur = self.state.load(Ordering::Relaxed);
        let (start, count) = (cur >> 24, cur & 0xff_ffff);
        let (start, count) = if now >= start + WINDOW { (now, 0) } else { (start, count) };
        if count >= BURST {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // A lost race only lets one message more or less through: not worth a loop.
        self.state.store((start << 24) | (count + 1), Ordering::Relaxed);
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

/// `warn_limited!("fmt", args..)`: a `tracing::warn!` that each call site writes at most a few times per minute.
#[macro_export]
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMITER: $crate::ratelog::Limiter = $crate::ratelog::Limiter::new();
        if let Some(suppressed) = LIMITER.check() {
            if suppressed > 0 {
                tracing::warn!(suppressed, $($arg)+);
            } else {
                tracing::warn!($($arg)+);
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_suppresses_then_reports() {
        let l = Limiter::new();
        for _ in 0..BURST {
            assert_eq!(l.check_at(1000), Some(0));
        }
        assert_eq!(l.check_at(1010), None);
        assert_eq!(l.check_at(1020), None);
        assert_eq!(l.check_at(1000 + WINDOW), Some(2));
    }
}
