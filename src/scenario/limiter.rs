//! The token bucket behind every leaky scenario, on explicit time.
//!
//! CrowdSec leaks its buckets with Go's `golang.org/x/time/rate` limiter (a fork of it): burst = `capacity`, one
//! token regenerates every `leakspeed`, the bucket starts full, and `AllowN(t, 1)` takes a token at time `t` or
//! refuses (the pour that overflows). This is the same arithmetic, float for float, so the same log gives the same
//! overflows at the same events, including with out-of-order timestamps (hub test `pterodactyl-wings-bf` checks
//! the exact overflow point of an oscillating log). Time is passed in (nanoseconds since the Unix epoch): the log's own timestamp in
//! replay, the wall clock live. Why not the `governor` crate: see `docs/design.md`, "Scenarios".

use serde::{Deserialize, Serialize};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Token bucket state. `Serialize` so live bucket state survives a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limiter {
    /// Tokens per second (`1 / leakspeed`).
    limit: f64,
    burst: i64,
    tokens: f64,
    /// Time of the last accepted event; `None` before the first (the bucket then reads as full).
    last: Option<i64>,
}

impl Limiter {
    /// A full bucket of `capacity` tokens regenerating one per `leakspeed_ns`.
    pub fn new(leakspeed_ns: i64, capacity: i64) -> Limiter {
        // Go: rate.Every(d) = 1 / d.Seconds().
        let secs = (leakspeed_ns / NANOS_PER_SEC) as f64 + (leakspeed_ns % NANOS_PER_SEC) as f64 / 1e9;
        Limiter { limit: 1.0 / secs, burst: capacity, tokens: 0.0, last: None }
    }

    /// Tokens available at `now` (what CrowdSec's `GetTokensCountAt` reports).
    pub fn tokens_at(&self, now: i64) -> f64 {
        self.advance(now).1
    }

    /// `AllowN(now, 1)`: takes a token if one is available at `now`.
    pub fn allow(&mut self, now: i64) -> bool {
        let (last, tokens) = self.advance(now);
        let tokens = tokens - 1.0;
        let wait = if tokens < 0.0 { self.duration_from_tokens(-tokens) } else { 0 };
        let ok = self.burst >= 1 && wait <= 0;
        if ok {
            self.last = Some(now);
            self.tokens = tokens;
        } else {
            self.last = Some(last);
        }
        ok
    }

    /// The state as of `now` without changing it: (effective last time, tokens).
    fn advance(&self, now: i64) -> (i64, f64) {
        let Some(mut last) = self.last else {
            // Go starts from the zero time: the elapsed time is capped, so the bucket is full.
            return (now, self.burst as f64);
        };
        if now < last {
            last = now;
        }
        let max_elapsed = self.duration_from_tokens(self.burst as f64 - self.tokens);
        let elapsed = (now - last).min(max_elapsed);
        let tokens = (self.tokens + self.tokens_from_duration(elapsed)).min(self.burst as f64);
        (last, tokens)
    }

    fn duration_from_tokens(&self, tokens: f64) -> i64 {
        // Go converts the float to an integer duration, truncating toward zero.
        let seconds = tokens / self.limit;
        (1e9 * seconds) as i64
    }

    fn tokens_from_duration(&self, d: i64) -> f64 {
        // Integer and fractional seconds separately, as Go does, to keep rounding identical.
        let sec = (d / NANOS_PER_SEC) as f64 * self.limit;
        let nsec = (d % NANOS_PER_SEC) as f64 * self.limit;
        sec + nsec / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    #[test]
    fn starts_full_and_overflows_on_capacity_plus_one() {
        let mut l = Limiter::new(10 * S, 5);
        let t = 1_700_000_000 * S;
        for i in 0..5 {
            assert!(l.allow(t), "event {i} fits");
        }
        assert!(!l.allow(t), "the 6th event in a burst overflows");
    }

    #[test]
    fn leaks_one_token_per_leakspeed() {
        let mut l = Limiter::new(10 * S, 2);
        let t = 1_000 * S;
        assert!(l.allow(t));
        assert!(l.allow(t));
        assert!(!l.allow(t + 9 * S));
        assert!(l.allow(t + 10 * S));
        assert!(!l.allow(t + 10 * S));
        // A long pause refills to the burst, never beyond.
        assert!((l.tokens_at(t + 1_000 * S) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn out_of_order_time_follows_go() {
        // An event older than the last one gets no refill; Go then moves `last` back to it, so a later (still
        // out-of-order) event refills from there. Reproduced, because CrowdSec behaves so.
        let mut l = Limiter::new(S, 1);
        let t = 5_000 * S;
        assert!(l.allow(t));
        assert!(!l.allow(t - 100 * S));
        assert!(l.allow(t - 50 * S));
    }

    #[test]
    fn fractional_leakspeed() {
        let mut l = Limiter::new(S / 2, 1);
        let t = 10 * S;
        assert!(l.allow(t));
        assert!(!l.allow(t + S / 4));
        assert!(l.allow(t + S / 2));
    }

    #[test]
    fn zero_capacity_never_allows() {
        let mut l = Limiter::new(S, 0);
        assert!(!l.allow(S));
    }
}
