//! Counters that every parsing thread bumps for the same item (a parser node's hits, say), striped so that the
//! threads do not fight over one cache line, and added without a locked instruction.
//!
//! Why: with one `AtomicU64` per counter, two workers counting the same node each pull its cache line into their
//! core on every increment, and everything else on that line (the node's flags, read on every event) misses too;
//! and even alone, a locked add stalls the core for about twenty cycles, three times per node an event visits.
//! docs/performance.md (eighth round) has the measured cost. Here a thread takes a stripe of its own on first use
//! and adds into it with a plain load and store (no other thread writes there); a scrape sums the stripes.
//! Threads beyond [`STRIPES`] share one extra stripe with locked adds, which stays exact. A thread's stripe goes
//! back to the pool when the thread ends, its counts staying in it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Stripes a thread can have to itself: one per parsing thread on the machines this runs on, at 128 bytes each.
pub const STRIPES: usize = 8;

/// The stripe threads share once every other one is taken.
const SHARED: usize = STRIPES;

/// One thread's stripe: 128 bytes, since x86 prefetches cache lines in pairs.
#[repr(align(128))]
struct Stripe<const N: usize>([AtomicU64; N]);

/// `N` counters, each striped over [`STRIPES`] + 1 cache-line pairs.
pub struct Striped<const N: usize> {
    stripes: Box<[Stripe<N>; STRIPES + 1]>,
}

impl<const N: usize> Default for Striped<N> {
    fn default() -> Self {
        Striped { stripes: Box::new(std::array::from_fn(|_| Stripe(std::array::from_fn(|_| AtomicU64::new(0))))) }
    }
}

impl<const N: usize> std::fmt::Debug for Striped<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..N).map(|i| self.get(i))).finish()
    }
}

/// Stripes no live thread holds.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Stripes handed out so far (the pool grows up to [`STRIPES`]).
static ISSUED: Mutex<usize> = Mutex::new(0);

/// A thread's claim on a stripe, given back when the thread ends.
struct Claim(usize);

impl Claim {
    fn take() -> Claim {
        if let Some(i) = FREE.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Claim(i);
        }
        let mut issued = ISSUED.lock().unwrap_or_else(|p| p.into_inner());
        if *issued < STRIPES {
            *issued += 1;
            return Claim(*issued - 1);
        }
        Claim(SHARED)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.0 != SHARED {
            FREE.lock().unwrap_or_else(|p| p.into_inner()).push(self.0);
        }
    }
}

thread_local! {
    static CLAIM: Claim = Claim::take();
}

impl<const N: usize> Striped<N> {
    /// Adds one to counter `i`.
    #[inline]
    pub fn bump(&self, i: usize) {
        // A thread being torn down has no claim any more; its late adds go to the shared stripe.
        let stripe = CLAIM.try_with(|c| c.0).unwrap_or(SHARED);
        let c = &self.stripes[stripe].0[i];
        if stripe == SHARED {
            c.fetch_add(1, Ordering::Relaxed);
        } else {
            // Only this thread writes this stripe while it holds the claim, so load-then-store loses nothing; a
            // thread taking the stripe over later starts after this one ended (the pool's lock orders them).
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// Counter `i`, summed over the stripes (a snapshot: adds racing with it may or may not be in it).
    pub fn get(&self, i: usize) -> u64 {
        self.stripes.iter().map(|s| s.0[i].load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sums_adds_from_more_threads_than_stripes() {
        let c = Arc::new(Striped::<2>::default());
        let threads: Vec<_> = (0..STRIPES + 3)
            .map(|t| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.bump(t % 2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let odd = (0..STRIPES + 3).filter(|t| t % 2 == 1).count() as u64;
        assert_eq!(c.get(1), odd * 1000);
        assert_eq!(c.get(0), (STRIPES as u64 + 3 - odd) * 1000);
    }

    #[test]
    fn a_stripe_handed_on_keeps_its_counts() {
        let c = Arc::new(Striped::<1>::default());
        for _ in 0..3 * STRIPES {
            let c = Arc::clone(&c);
            std::thread::spawn(move || (0..100).for_each(|_| c.bump(0))).join().unwrap();
        }
        assert_eq!(c.get(0), 3 * STRIPES as u64 * 100);
    }

    #[test]
    fn stripes_sit_on_their_own_lines() {
        assert_eq!(std::mem::align_of::<Stripe<3>>(), 128);
        assert_eq!(SHARED, STRIPES);
        assert_eq!(std::mem::size_of::<Stripe<3>>(), 128);
    }
}
