//! Admin sessions, CSRF tokens and sign-in throttling.
//!
//! A session id is 32 random bytes sent only as an HttpOnly, SameSite=Strict cookie scoped to
//! `/admin`; the database keeps its SHA-256 digest, so a copy of the file cannot be replayed.
//! Each session has its own CSRF token, which the page sends in `X-CSRF-Token` on every state
//! change. Sessions end after a period without use and, in any case, after a maximum age.

use crate::auth::secret::{self, Secret};
use crate::auth::throttle::{Key, Policy};
use crate::error::Result;
use crate::store::Store;
use crate::store::admins::{self, NewSession};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;
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

/// Sign-ins per account name: three checks in flight or failed in a row, then one at a time,
/// each 1, 2, 4 … up to 60 seconds after the previous failure, even with the right password.
/// A success clears the name's record.
pub const NAME_POLICY: Policy = Policy {
    free: 3,
    base_wait: Duration::from_secs(1),
    max_wait: Duration::from_secs(60),
    forget_after: Duration::from_secs(15 * 60),
    forgive_on_success: true,
};

/// Sign-ins per client address, whatever the names: ten, then spaced out like a name, and a
/// success does not clear the record (one good account must not reset a guesser's budget).
pub const ADDR_POLICY: Policy = Policy {
    free: 10,
    forgive_on_success: false,
    ..NAME_POLICY
};

/// What a sign-in attempt is counted against: the account name (trimmed, any case) and the
/// client address.
pub fn throttle_keys(name: &str, peer: IpAddr) -> [Key; 2] {
    [
        Key::new("admin-name", &name.trim().to_lowercase(), NAME_POLICY),
        Key::addr("admin-addr", peer, ADDR_POLICY),
    ]
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
