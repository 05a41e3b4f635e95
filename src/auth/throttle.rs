//! Slows down addresses that keep failing to authenticate: after a few failures in a minute,
//! each further failure is answered later and later (up to two seconds), without holding a
//! thread. A token guesser gets a handful of tries a second instead of thousands.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address per window before answers slow down (the default).
pub const FREE_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// Above this many tracked addresses, old entries are dropped (memory stays bounded).
const MAX_TRACKED: usize = 10_000;

pub struct Throttle {
    free: u32,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(FREE_FAILURES)
    }
}

impl Throttle {
    pub fn new(free: u32) -> Throttle {
        Throttle {
            free,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure and says how long to wait before answering it.
    pub fn failure(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return Duration::ZERO;
        };
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
        let entry = map.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        let over = entry.0.saturating_sub(self.free);
        (Duration::from_millis(100) * over).min(MAX_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_slow_down_after_the_free_failures() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.failure(ip), Duration::ZERO);
        }
        assert_eq!(t.failure(ip), Duration::from_millis(100));
        for _ in 0..100 {
            t.failure(ip);
        }
        assert_eq!(t.failure(ip), MAX_DELAY);
        assert_eq!(t.failure("10.0.0.1".parse().unwrap()), Duration::ZERO);
    }
}
