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

/// A scenario's bucket settings, the same for all its instances: tokens per second (`1 / leakspeed`) and burst
/// (`capacity`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    limit: f64,
    burst: i64,
}

impl Rate {
    /// `capacity` tokens regenerating one per `leakspeed_ns`.
    pub fn new(leakspeed_ns: i64, capacity: i64) -> Rate {
        // Go: rate.Every(d) = 1 / d.Seconds().
        let secs = (leakspeed_ns / NANOS_PER_SEC) as f64 + (leakspeed_ns % NANOS_PER_SEC) as f64 / 1e9;
        Rate { limit: 1.0 / secs, burst: capacity }
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

/// Token bucket state of one instance; its [`Rate`] is the scenario's, passed in (kept out of here, it would cost
/// every live instance 16 bytes). `Serialize` so live bucket state survives a restart (state saved with the rate
/// in it, before item 49, still loads: the extra fields are ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Limiter {
    tokens: f64,
    /// Time of the last accepted event; `None` before the first (the bucket then reads as full).
    last: Option<i64>,
}

impl Limiter {
    /// A full bucket.
    pub fn new() -> Limiter {
        Limiter::default()
    }

    /// Tokens available at `now` (what CrowdSec's `GetTokensCountAt` reports).
    pub fn tokens_at(&self, rate: &Rate, now: i64) -> f64 {
        self.advance(rate, now).1
    }

    /// `AllowN(now, 1)`: takes a token if one is available at `now`.
    pub fn allow(&mut self, rate: &Rate, now: i64) -> bool {
        let (last, tokens) = self.advance(rate, now);
        let tokens = tokens - 1.0;
        let wait = if tokens < 0.0 { rate.duration_from_tokens(-tokens) } else { 0 };
        let ok = rate.burst >= 1 && wait <= 0;
        if ok {
            self.last = Some(now);
            self.tokens = tokens;
        } else {
            self.last = Some(last);
        }
        ok
    }

    /// The state as of `now` without changing it: (effective last time, tokens).
    fn advance(&self, rate: &Rate, now: i64) -> (i64, f64) {
        let Some(mut last) = self.last else {
            // Go starts from the zero time: the elapsed time is capped, so the bucket is full.
            return (now, rate.burst as f64);
        };
        if now < last {
            last = now;
        }
        let max_elapsed = rate.duration_from_tokens(rate.burst as f64 - self.tokens);
        let elapsed = (now - last).min(max_elapsed);
        let tokens = (self.tokens + rate.tokens_from_duration(elapsed)).min(rate.burst as f64);
        (last, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;

    #[test]
    fn starts_full_and_overflows_on_capacity_plus_one() {
        let (r, mut l) = (Rate::new(10 * S, 5), Limiter::new());
        let t = 1_700_000_000 * S;
        for i in 0..5 {
            assert!(l.allow(&r, t), "event {i} fits");
        }
        assert!(!l.allow(&r, t), "the 6th event in a burst overflows");
    }

    #[test]
    fn leaks_one_token_per_leakspeed() {
        let (r, mut l) = (Rate::new(10 * S, 2), Limiter::new());
        let t = 1_000 * S;
        assert!(l.allow(&r, t));
        assert!(l.allow(&r, t));
        assert!(!l.allow(&r, t + 9 * S));
        assert!(l.allow(&r, t + 10 * S));
        assert!(!l.allow(&r, t + 10 * S));
        // A long pause refills to the burst, never beyond.
        assert!((l.tokens_at(&r, t + 1_000 * S) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn out_of_order_time_follows_go() {
        // An event older than the last one gets no refill; Go then moves `last` back to it, so a later (still
        // out-of-order) event refills from there. Reproduced, because CrowdSec behaves so.
        let (r, mut l) = (Rate::new(S, 1), Limiter::new());
        let t = 5_000 * S;
        assert!(l.allow(&r, t));
        assert!(!l.allow(&r, t - 100 * S));
        assert!(l.allow(&r, t - 50 * S));
    }

    #[test]
    fn fractional_leakspeed() {
        let (r, mut l) = (Rate::new(S / 2, 1), Limiter::new());
        let t = 10 * S;
        assert!(l.allow(&r, t));
        assert!(!l.allow(&r, t + S / 4));
        assert!(l.allow(&r, t + S / 2));
    }

    #[test]
    fn state_saved_with_its_rate_still_loads() {
        let old = r#"{"limit":0.1,"burst":5,"tokens":3.5,"last":1000}"#;
        let l: Limiter = serde_json::from_str(old).unwrap();
        assert_eq!(l, Limiter { tokens: 3.5, last: Some(1000) });
    }

    #[test]
    fn zero_capacity_never_allows() {
        let (r, mut l) = (Rate::new(S, 0), Limiter::new());
        assert!(!l.allow(&r, S));
    }
}
