//! Retries with exponential backoff for listeners that talk to a server (webhook, e-mail): a temporary failure
//! (connection refused, timeout, HTTP 5xx, SMTP 4xx) is tried again after `backoff`, then twice that, and so on
//! up to [`MAX_BACKOFF`]; a permanent one (HTTP 4xx, SMTP 5xx) is not. The sleeps happen on the listener's own
//! worker thread, so they delay that listener's queue only.

use std::time::Duration;

/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The outcome of one attempt.
pub enum Attempt {
    Done,
    /// Worth trying again.
    Temporary(String),
    /// Trying again would fail the same way.
    Permanent(String),
}

#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry.
    pub backoff: Duration,
}

impl Retry {
    /// Runs `attempt` until it succeeds, fails permanently or the retries are spent.
    pub fn run(&self, mut attempt: impl FnMut() -> Attempt) -> Result<(), String> {
        self.run_with_sleep(&mut attempt, std::thread::sleep)
    }

    fn run_with_sleep(&self, attempt: &mut dyn FnMut() -> Attempt, sleep: impl Fn(Duration)) -> Result<(), String> {
        let mut delay = self.backoff;
        for n in 0..=self.retries {
            match attempt() {
                Attempt::Done => return Ok(()),
                Attempt::Permanent(e) => return Err(e),
                Attempt::Temporary(e) if n == self.retries => {
                    return Err(format!("{e} (gave up after {} attempts)", n + 1));
                }
                Attempt::Temporary(_) => {
                    sleep(delay);
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
        Err("no attempt made".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn backs_off_exponentially_and_stops_on_permanent_errors() {
        let r = Retry { retries: 3, backoff: Duration::from_secs(1) };
        let slept = RefCell::new(Vec::new());
        let mut calls = 0;
        let res = r.run_with_sleep(
            &mut || {
                calls += 1;
                Attempt::Temporary("503".into())
            },
            |d| slept.borrow_mut().push(d.as_secs()),
        );
        assert_eq!(calls, 4);
        assert_eq!(*slept.borrow(), vec![1, 2, 4]);
        assert!(res.unwrap_err().contains("gave up after 4 attempts"));

        let mut calls = 0;
        let res = r.run_with_sleep(
            &mut || {
                calls += 1;
                if calls == 1 { Attempt::Temporary("x".into()) } else { Attempt::Permanent("400".into()) }
            },
            |_| {},
        );
        assert_eq!((calls, res), (2, Err("400".to_string())));

        let big = Retry { retries: 10, backoff: Duration::from_secs(40) };
        let slept = RefCell::new(Vec::new());
        let mut n = 0;
        let _ = big.run_with_sleep(
            &mut || {
                n += 1;
                if n < 4 { Attempt::Temporary("x".into()) } else { Attempt::Done }
            },
            |d| slept.borrow_mut().push(d.as_secs()),
        );
        assert_eq!(*slept.borrow(), vec![40, 60, 60]);
    }
}
