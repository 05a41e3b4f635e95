//! Throttles credential checks (admin passwords, SCIM bearer tokens, OAuth client secrets):
//! a check must take a reservation *before* the secret is verified, so the count and the check
//! are one step. Whatever the concurrency, a key (an account name, an address, a client id)
//! has at most `free` checks in flight or failed in a row; past that, one check at a time,
//! each after a wait that doubles with every further failure.
//!
//! ```ignore
//! let keys = [Key::new("admin-name", &name, NAME_POLICY), Key::addr("admin-addr", peer, ADDR_POLICY)];
//! let attempt = match app.throttle.begin(&keys, Instant::now()) {
//!     Ok(attempt) => attempt,
//!     Err(refused) => return too_many(refused.retry_after), // 429 + Retry-After
//! };
//! if verify(secret).await { attempt.succeeded() } else { let wait = attempt.failed(); ... }
//! ```
//!
//! An [`Attempt`] dropped without a verdict (the request was cancelled mid-check, or the check
//! itself failed) counts as a failure, so cancelling cannot buy extra guesses. A refusal whose
//! only cause is other checks in flight is marked `busy`: a caller that would rather queue than
//! refuse (the SCIM edge, where an IdP opens many connections at once) awaits
//! [`Throttle::begin_waiting`], which retries as checks finish, within a bound.
//!
//! Memory is bounded: beyond [`MAX_TRACKED`] keys, forgotten ones are dropped, then the
//! oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong tokens one address may present before checks are spaced out (the default of
/// `--auth-free-failures`).
pub const FREE_FAILURES: u32 = 10;
/// Keys tracked at once.
pub const MAX_TRACKED: usize = 10_000;

/// How one kind of key is throttled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Checks allowed in flight plus failed in a row before checks are spaced out (at least
    /// one: a fresh key may always be checked once).
    pub free: u32,
    /// The wait after the `free`-th failure; it doubles with each further failure.
    pub base_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
    /// Failures older than this (counted from the latest) are forgotten.
    pub forget_after: Duration,
    /// A success clears the key's failures (right for an account name; wrong for an address,
    /// where one good account must not reset a guesser's budget).
    pub forgive_on_success: bool,
}

impl Policy {
    /// How long after the latest failure the next check may start, with `failures` in a row.
    fn wait(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(20);
        self.base_wait
            .saturating_mul(1u32 << doublings)
            .min(self.max_wait)
    }
}

/// One thing a check is counted against: a scope (`"admin-name"`, `"scim-addr"`,
/// `"oauth-client"` ...), an id within it and the policy for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    scope: &'static str,
    id: String,
    policy: Policy,
}

impl Key {
    pub fn new(scope: &'static str, id: &str, policy: Policy) -> Key {
        Key {
            scope,
            id: id.to_string(),
            policy,
        }
    }

    /// A key for a client address.
    pub fn addr(scope: &'static str, ip: IpAddr, policy: Policy) -> Key {
        Key::new(scope, &ip.to_string(), policy)
    }
}

#[derive(Debug)]
struct Entry {
    failures: u32,
    in_flight: u32,
    last: Instant,
    forget_after: Duration,
}

/// Why a check may not start now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refused {
    /// How long until a check may start (at least one second when only `busy`).
    pub retry_after: Duration,
    /// Only checks in flight stand in the way (no lockout): waiting for them may help.
    pub busy: bool,
}

impl Refused {
    /// The wait in whole seconds, at least 1 (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// The shared table of keys; one per server, used by every edge that checks secrets.
pub struct Throttle {
    keys: Mutex<HashMap<(&'static str, String), Entry>>,
    released: tokio::sync::Notify,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// A reservation for one credential check; report how it went with [`Attempt::succeeded`] or
/// [`Attempt::failed`] (dropping it counts as a failure).
#[must_use = "report the check's verdict, or it counts as a failure"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    keys: Vec<Key>,
    done: bool,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle {
            keys: Mutex::new(HashMap::new()),
            released: tokio::sync::Notify::new(),
        }
    }

    /// Takes a reservation against every key at once, or refuses with the longest wait any
    /// key imposes. Nothing is counted when refused.
    pub fn begin(&self, keys: &[Key], now: Instant) -> Result<Attempt<'_>, Refused> {
        let Ok(mut map) = self.keys.lock() else {
            // A poisoned table must fail closed: no check without a count.
            return Err(Refused {
                retry_after: Duration::from_secs(60),
                busy: false,
            });
        };
        let mut refused: Option<Refused> = None;
        for key in keys {
            // A key with no record is free to check.
            let Some(e) = map.get_mut(&(key.scope, key.id.clone())) else {
                continue;
            };
            if e.in_flight == 0 && now.saturating_duration_since(e.last) > e.forget_after {
                e.failures = 0;
            }
            if e.in_flight + e.failures < key.policy.free {
                continue;
            }
            if e.failures < key.policy.free {
                // Only checks in flight are in the way.
                refused = worse(refused, Duration::from_secs(1), true);
                continue;
            }
            if e.in_flight > 0 {
                // Locked out: one check at a time, and one is running.
                refused = worse(refused, key.policy.wait(e.failures), false);
                continue;
            }
            let due = e.last + key.policy.wait(e.failures);
            if now < due {
                refused = worse(refused, due - now, false);
            }
        }
        if let Some(r) = refused {
            return Err(r);
        }
        if map.len() + keys.len() > MAX_TRACKED {
            map.retain(|_, e| {
                e.in_flight > 0 || now.saturating_duration_since(e.last) <= e.forget_after
            });
            if map.len() + keys.len() > MAX_TRACKED {
                // Still full of live keys: drop the oldest idle half rather than grow.
                let mut idle: Vec<Instant> = map
                    .values()
                    .filter(|e| e.in_flight == 0)
                    .map(|e| e.last)
                    .collect();
                idle.sort_unstable();
                if let Some(cut) = idle.get(idle.len() / 2).copied() {
                    map.retain(|_, e| e.in_flight > 0 || e.last > cut);
                }
            }
        }
        for key in keys {
            let e = map
                .entry((key.scope, key.id.clone()))
                .or_insert_with(|| Entry {
                    failures: 0,
                    in_flight: 0,
                    last: now,
                    forget_after: key.policy.forget_after,
                });
            e.in_flight += 1;
            e.forget_after = key.policy.forget_after;
        }
        Ok(Attempt {
            throttle: self,
            keys: keys.to_vec(),
            done: false,
        })
    }

    /// Like [`Throttle::begin`], but while the only obstacle is other checks in flight, waits
    /// for them to finish (at most `patience` in all) and tries again. A lockout is refused at
    /// once.
    pub async fn begin_waiting(
        &self,
        keys: &[Key],
        patience: Duration,
    ) -> Result<Attempt<'_>, Refused> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Register for the wake-up before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            match self.begin(keys, Instant::now()) {
                Ok(a) => return Ok(a),
                Err(r) if !r.busy => return Err(r),
                Err(r) => {
                    if tokio::time::timeout_at(deadline, released).await.is_err() {
                        return Err(r);
                    }
                }
            }
        }
    }

    fn finish(&self, keys: &[Key], success: bool) -> Duration {
        let now = Instant::now();
        let mut next_wait = Duration::ZERO;
        if let Ok(mut map) = self.keys.lock() {
            for key in keys {
                let id = (key.scope, key.id.clone());
                let Some(e) = map.get_mut(&id) else { continue };
                e.in_flight = e.in_flight.saturating_sub(1);
                if success {
                    if key.policy.forgive_on_success {
                        e.failures = 0;
                    }
                } else {
                    e.failures = e.failures.saturating_add(1);
                    e.last = now;
                    next_wait = next_wait.max(key.policy.wait(e.failures));
                }
                if e.in_flight == 0 && e.failures == 0 {
                    map.remove(&id);
                }
            }
        }
        self.released.notify_waiters();
        next_wait
    }
}

fn worse(current: Option<Refused>, wait: Duration, busy: bool) -> Option<Refused> {
    Some(match current {
        None => Refused {
            retry_after: wait,
            busy,
        },
        Some(r) => Refused {
            retry_after: r.retry_after.max(wait),
            busy: r.busy && busy,
        },
    })
}

impl Attempt<'_> {
    /// The secret was right.
    pub fn succeeded(mut self) {
        self.done = true;
        self.throttle.finish(&self.keys, true);
    }

    /// The secret was wrong. Returns how long the next check against these keys must wait
    /// (zero while within the free failures).
    pub fn failed(mut self) -> Duration {
        self.done = true;
        self.throttle.finish(&self.keys, false)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.throttle.finish(&self.keys, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        free: 3,
        base_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(60),
        forget_after: Duration::from_secs(900),
        forgive_on_success: true,
    };

    fn key(id: &str) -> Vec<Key> {
        vec![Key::new("test", id, P)]
    }

    #[test]
    fn at_most_free_checks_run_at_once_whatever_the_concurrency() {
        let t = Throttle::new();
        let t0 = Instant::now();
        let k = key("admin");
        let held: Vec<_> = (0..3).map(|_| t.begin(&k, t0).unwrap()).collect();
        let r = t.begin(&k, t0).err().unwrap();
        assert!(r.busy, "{r:?}");
        // Another key is not affected.
        t.begin(&key("other"), t0).unwrap().succeeded();
        // The three fail: now the key is locked out, not busy.
        for a in held {
            a.failed();
        }
        let r = t.begin(&k, t0).err().unwrap();
        assert!(!r.busy && r.retry_after > Duration::ZERO, "{r:?}");
    }

    #[test]
    fn past_the_free_failures_one_check_at_a_time_with_doubling_waits() {
        let t = Throttle::new();
        let t0 = Instant::now();
        let k = key("a");
        for _ in 0..3 {
            t.begin(&k, t0).unwrap().failed();
        }
        assert!(t.begin(&k, t0).is_err());
        let t1 = Instant::now() + Duration::from_secs(1);
        let a = t.begin(&k, t1).unwrap();
        // One at a time while locked out.
        assert!(!t.begin(&k, t1).err().unwrap().busy);
        assert_eq!(a.failed(), Duration::from_secs(2));
        // A success clears a name's record.
        let t2 = Instant::now() + Duration::from_secs(3);
        t.begin(&k, t2).unwrap().succeeded();
        assert!(t.begin(&k, t2).is_ok());
    }

    #[test]
    fn a_dropped_attempt_counts_as_a_failure_and_addresses_are_not_forgiven() {
        let t = Throttle::new();
        let t0 = Instant::now();
        let addr = Policy {
            forgive_on_success: false,
            ..P
        };
        let k = vec![Key::new("addr", "10.0.0.1", addr)];
        for _ in 0..2 {
            drop(t.begin(&k, t0).unwrap());
        }
        t.begin(&k, t0).unwrap().succeeded();
        t.begin(&k, t0).unwrap().failed();
        assert!(!t.begin(&k, t0).err().unwrap().busy);
        // Several keys: refused if any one refuses, and nothing is counted then.
        let both = vec![Key::new("name", "x", P), k[0].clone()];
        assert!(t.begin(&both, t0).is_err());
        for _ in 0..3 {
            t.begin(&key("x"), t0).unwrap().succeeded();
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 500) {
            t.begin(&key(&i.to_string()), t0).unwrap().failed();
        }
        assert!(t.keys.lock().unwrap().len() <= MAX_TRACKED);
    }

    #[tokio::test]
    async fn a_busy_key_can_be_waited_for() {
        let t = std::sync::Arc::new(Throttle::new());
        let k = key("w");
        let held: Vec<_> = (0..3)
            .map(|_| t.begin(&k, Instant::now()).unwrap())
            .collect();
        let t2 = t.clone();
        let k2 = k.clone();
        let waiter = tokio::spawn(async move {
            t2.begin_waiting(&k2, Duration::from_secs(30))
                .await
                .map(Attempt::succeeded)
        });
        tokio::task::yield_now().await;
        let mut held = held;
        held.pop().unwrap().succeeded();
        assert_eq!(waiter.await.unwrap(), Ok(()));
        drop(held);
    }
}
