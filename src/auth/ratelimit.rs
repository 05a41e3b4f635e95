//! Rate limits per token: a token bucket per token (requests per second, with a burst), so one
//! runaway client cannot starve the others or the writer. Checked after authentication; a
//! request over the limit is answered 429 with `Retry-After` (RFC 6585 §4).
//!
//! The defaults (`--rate-limit 500 --rate-burst 2000`) are far above what Okta or Entra send,
//! even during an initial sync, so only a misbehaving client ever meets them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Default sustained rate per token, in requests per second.
pub const DEFAULT_RATE: u32 = 500;
/// Default burst per token: how many requests may arrive at once after a quiet spell.
pub const DEFAULT_BURST: u32 = 2000;
/// Above this many buckets, full ones are dropped (a full bucket is the same as none).
const MAX_TRACKED: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One token bucket per API token pk. `rate` 0 turns limiting off.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            // A burst below the rate would refuse a steady client at its own limit.
            burst: f64::from(burst.max(rate).max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// Takes one request from the token's bucket. `Err(seconds)` says how long until one is
    /// available again (at least 1, as `Retry-After` counts whole seconds).
    pub fn check(&self, token_pk: i64, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() >= MAX_TRACKED {
            let (rate, burst) = (self.rate, self.burst);
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let bucket = map.entry(token_pk).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err((wait.ceil() as u64).max(1))
        }
    }

    /// The limit as the 429's detail states it.
    pub fn describe(&self) -> String {
        format!(
            "this token is over its rate limit of {} requests per second (burst {}); retry later",
            self.rate, self.burst
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_burst_is_served_then_the_rate_refills_it() {
        let r = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(r.check(1, t0), Ok(()));
        }
        assert_eq!(r.check(1, t0), Err(1));
        // Another token has its own bucket.
        assert_eq!(r.check(2, t0), Ok(()));
        // Half a second at 2/s gives one request back.
        assert_eq!(r.check(1, t0 + Duration::from_millis(500)), Ok(()));
        assert!(r.check(1, t0 + Duration::from_millis(500)).is_err());
        let off = RateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert_eq!(off.check(1, t0), Ok(()));
        }
    }

    #[test]
    fn a_slow_rate_asks_for_a_longer_wait() {
        let r = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        assert_eq!(r.check(1, t0), Ok(()));
        assert_eq!(r.check(1, t0), Err(1));
    }
}
