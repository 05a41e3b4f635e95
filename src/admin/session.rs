//! Admin sessions, CSRF tokens and sign-in throttling.
//!
//! A session id is 32 random bytes sent only as an HttpOnly, SameSite=Strict cookie scoped to
//! `/admin`; the database keeps its SHA-256 digest, so a copy of the file cannot be replayed.
//! Each session has its own CSRF token, which the page sends in `X-CSRF-Token` on every state
//! change. Sessions end after a period without use and, in any case, after a maximum age.

use crate::auth::secret::{self, Secret};
use crate::error::Result;
use crate::store::Store;
use crate::store::admins::{self, NewSession};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The session cookie's name.
pub const COOKIE: &str = "scimbox_admin";

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A session unused for this long ends.
    pub idle: time::Duration,
    /// No session lasts longer than this, used or not.
    pub max: time::Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            idle: time::Duration::hours(2),
            max: time::Duration::hours(12),
        }
    }
}

/// A signed-in admin.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub admin: String,
    pub csrf: String,
    pub expires: String,
}

/// What a cookie turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Valid(Session),
    /// It was a session once; the page says "your session has expired" instead of nothing.
    Expired,
    Missing,
}

fn digest(id: &str) -> String {
    secret::hex(&Sha256::digest(id.as_bytes()))
}

fn expiry(created: OffsetDateTime, now: OffsetDateTime, life: Lifetimes) -> String {
    crate::clock::format((now + life.idle).min(created + life.max))
}

/// Starts a session for an admin who just signed in. Returns the cookie value (the only
/// place the session id exists) and the session.
pub async fn start(
    store: &Store,
    admin: &admins::AdminRow,
    life: Lifetimes,
    now: OffsetDateTime,
) -> Result<(Secret, Session)> {
    let id = secret::random_hex(32)?;
    let csrf = secret::random_hex(32)?;
    let expires = expiry(now, now, life);
    let (admin_pk, d, c, e) = (admin.pk, digest(&id), csrf.clone(), expires.clone());
    let stamp = crate::clock::format(now);
    store
        .write(move |conn| {
            // Starting a session is a good moment to forget the ones that ended.
            admins::delete_expired(conn, &stamp)?;
            let s = NewSession {
                digest: &d,
                admin_pk,
                csrf: &c,
                expires: &e,
            };
            admins::insert_session(conn, &s, &stamp)
        })
        .await?;
    Ok((
        Secret::new(id),
        Session {
            admin: admin.name.clone(),
            csrf,
            expires,
        },
    ))
}

/// Looks a cookie value up, extending the session when it is in use (at most once a minute,
/// so browsing the page does not write on every request).
pub async fn find(
    store: &Store,
    id: Option<&str>,
    life: Lifetimes,
    now: OffsetDateTime,
) -> Result<Lookup> {
    let Some(id) = id.filter(|v| v.len() == 64) else {
        return Ok(Lookup::Missing);
    };
    let d = digest(id);
    let Some(row) = store.read(move |conn| admins::session(conn, &d)).await? else {
        return Ok(Lookup::Missing);
    };
    let stamp = crate::clock::format(now);
    if row.expires <= stamp {
        return Ok(Lookup::Expired);
    }
    let mut expires = row.expires.clone();
    if row.last_seen.get(..16) != stamp.get(..16) {
        let created = crate::clock::parse(&row.created).unwrap_or(now);
        let next = expiry(created, now, life);
        let (pk, e) = (row.pk, next.clone());
        store
            .write(move |conn| admins::touch_session(conn, pk, &stamp, &e))
            .await?;
        expires = next;
    }
    Ok(Lookup::Valid(Session {
        admin: row.admin_name,
        csrf: row.csrf,
        expires,
    }))
}

/// Ends the session with this cookie value (signing out); unknown values are ignored.
pub async fn end(store: &Store, id: &str) -> Result<()> {
    let d = digest(id);
    store
        .write(move |conn| admins::delete_session(conn, &d))
        .await?;
    Ok(())
}

/// Whether the request's `X-CSRF-Token` is this session's, compared in constant time.
pub fn csrf_matches(session: &Session, sent: Option<&str>) -> bool {
    sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// The session id in a `Cookie` header, if there is one.
pub fn cookie_value(header: Option<&str>) -> Option<&str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// The `Set-Cookie` value that stores a session id. `Secure` when the page is served over TLS
/// (a proxy in front says so with `X-Forwarded-Proto: https`).
pub fn set_cookie(id: &str, secure: bool, life: Lifetimes) -> String {
    format!(
        "{COOKIE}={id}; Path=/admin; Max-Age={}; HttpOnly; SameSite=Strict{}",
        life.max.whole_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

// ---- Sign-in throttling -------------------------------------------------------------------

/// Failed sign-ins allowed in a row before each further attempt must wait.
const FREE_FAILURES: u32 = 3;
/// The longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Names tracked at once; beyond it the oldest are dropped, so random names cannot fill memory.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Slows down repeated failed sign-ins per account name: after three failures in a row, each
/// further attempt must wait 1, 2, 4 … up to 60 seconds after the previous failure, even with
/// the right password. A success clears the record.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    fn key(name: &str) -> String {
        name.trim().to_lowercase()
    }

    fn wait_for(f: &Failures) -> Duration {
        if f.count < FREE_FAILURES {
            return Duration::ZERO;
        }
        let exp = (f.count - FREE_FAILURES).min(6);
        Duration::from_secs(1u64 << exp).min(MAX_WAIT)
    }

    /// How long this name must still wait before it may try again (`None`: it may now).
    pub fn must_wait(&self, name: &str, now: Instant) -> Option<Duration> {
        let map = self.failures.lock().ok()?;
        let f = map.get(&Self::key(name))?;
        if now.duration_since(f.last) > FORGET_AFTER {
            return None;
        }
        let left = Self::wait_for(f).checked_sub(now.duration_since(f.last))?;
        (!left.is_zero()).then_some(left)
    }

    /// Records a failed sign-in; returns how long the next attempt must wait.
    pub fn failed(&self, name: &str, now: Instant) -> Duration {
        let Ok(mut map) = self.failures.lock() else {
            return MAX_WAIT;
        };
        if map.len() >= MAX_TRACKED {
            map.retain(|_, f| now.duration_since(f.last) <= FORGET_AFTER);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let f = map.entry(Self::key(name)).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) > FORGET_AFTER {
            f.count = 0;
        }
        f.count += 1;
        f.last = now;
        Self::wait_for(f)
    }

    pub fn succeeded(&self, name: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Self::key(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_parsed_and_set_strictly() {
        let v = "a".repeat(64);
        let header = format!("other=1; {COOKIE}={v}; x=y");
        assert_eq!(cookie_value(Some(&header)), Some(v.as_str()));
        assert_eq!(cookie_value(Some("scimbox_admin_x=1")), None);
        assert_eq!(cookie_value(None), None);
        let set = set_cookie("abc", false, Lifetimes::default());
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(!set.contains("Secure"));
        assert!(set_cookie("abc", true, Lifetimes::default()).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn repeated_failures_must_wait_longer_each_time() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            assert_eq!(t.failed("Admin", t0), Duration::ZERO);
        }
        assert_eq!(t.must_wait("admin", t0), None);
        assert_eq!(t.failed("admin", t0), Duration::from_secs(1));
        assert!(t.must_wait("ADMIN", t0).is_some());
        assert_eq!(t.must_wait("admin", t0 + Duration::from_secs(2)), None);
        assert_eq!(
            t.failed("admin", t0 + Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(t.must_wait("someone else", t0), None);
        t.succeeded("admin");
        assert_eq!(t.must_wait("admin", t0), None);
        let t1 = t0 + Duration::from_secs(1000);
        for _ in 0..20 {
            t.failed("x", t1);
        }
        assert_eq!(t.must_wait("x", t1), Some(MAX_WAIT));
    }

    #[test]
    fn csrf_must_match_exactly() {
        let s = Session {
            admin: "a".into(),
            csrf: "abc".into(),
            expires: String::new(),
        };
        assert!(csrf_matches(&s, Some("abc")));
        assert!(!csrf_matches(&s, Some("abd")));
        assert!(!csrf_matches(&s, Some("")));
        assert!(!csrf_matches(&s, None));
    }
}
