//! Bearer tokens at rest: only the argon2id hash of each secret is stored.

use crate::error::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub pk: i64,
    pub id: String,
    pub org_pk: i64,
    pub org_id: String,
    pub org_scim_enabled: bool,
    pub name: String,
    pub hash: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    pub last_used: Option<String>,
    pub description: Option<String>,
    /// The address of the latest request made with the token.
    pub last_source: Option<String>,
    /// The CIDR blocks it may be used from, as given (empty: anywhere).
    pub allowed_cidrs: Vec<String>,
    /// After a rotation with a grace period: the old secret's hash and until when it counts.
    pub prev_hash: Option<String>,
    pub prev_until: Option<String>,
    pub rotated: Option<String>,
}

impl TokenRow {
    /// Usable at `now`: not revoked and not expired.
    pub fn is_live(&self, now: &str) -> bool {
        self.revoked.is_none() && self.expires.as_deref().is_none_or(|e| e > now)
    }

    /// What the admin page and `token list` show: `revoked`, `live` or `expired` at `now`.
    pub fn state(&self, now: &str) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.is_live(now) {
            "live"
        } else {
            "expired"
        }
    }
}

const SELECT: &str = "SELECT t.pk, t.id, t.org_pk, o.id, o.scim_enabled, t.name, t.hash, t.created,
    t.expires, t.revoked, t.last_used, t.description, t.last_source, t.allowed_cidrs,
    t.prev_hash, t.prev_until, t.rotated FROM tokens t JOIN orgs o ON o.pk = t.org_pk";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        org_pk: r.get(2)?,
        org_id: r.get(3)?,
        org_scim_enabled: r.get(4)?,
        name: r.get(5)?,
        hash: r.get(6)?,
        created: r.get(7)?,
        expires: r.get(8)?,
        revoked: r.get(9)?,
        last_used: r.get(10)?,
        description: r.get(11)?,
        last_source: r.get(12)?,
        allowed_cidrs: r
            .get::<_, Option<String>>(13)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        prev_hash: r.get(14)?,
        prev_until: r.get(15)?,
        rotated: r.get(16)?,
    })
}

pub struct NewToken<'a> {
    pub id: &'a str,
    pub org_pk: i64,
    pub name: &'a str,
    pub hash: &'a str,
    pub expires: Option<&'a str>,
    pub description: Option<&'a str>,
    /// JSON array text of CIDR blocks, or `None` for anywhere.
    pub allowed_cidrs: Option<&'a str>,
}

/// Stores a token's hash. A name already used by a live token of the organization is
/// `Uniqueness`, so `token revoke NAME` always means one token.
pub fn insert(conn: &Connection, t: &NewToken<'_>, now: &str) -> Result<()> {
    let taken: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE org_pk = ? AND name = ? AND revoked IS NULL
             AND (expires IS NULL OR expires > ?))",
        )?
        .query_row(params![t.org_pk, t.name, now], |r| r.get(0))?;
    if taken {
        return Err(Error::Uniqueness("token name".into()));
    }
    conn.prepare_cached(
        "INSERT INTO tokens (id, org_pk, name, hash, created, expires, description, allowed_cidrs)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        t.id,
        t.org_pk,
        t.name,
        t.hash,
        now,
        t.expires,
        t.description,
        t.allowed_cidrs
    ])?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<TokenRow>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE t.id = ?"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn list(conn: &Connection, org_pk: i64) -> Result<Vec<TokenRow>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE t.org_pk = ? ORDER BY t.pk"))?;
    let rows = stmt.query_map([org_pk], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes the organization's live token with this id or name; `false` if there was none.
pub fn revoke(conn: &Connection, org_pk: i64, id_or_name: &str, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE tokens SET revoked = ? WHERE org_pk = ? AND revoked IS NULL
             AND (id = ? OR name = ?)",
        )?
        .execute(params![now, org_pk, id_or_name, id_or_name])?;
    Ok(n > 0)
}

/// Records a use: when (to the minute) and from which address.
pub fn touch(conn: &Connection, pk: i64, now: &str, source: Option<&str>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE tokens SET last_used = ?, last_source = COALESCE(?, last_source) WHERE pk = ?",
    )?
    .execute(params![now, source, pk])?;
    Ok(())
}

/// The organization's live token with this id or name.
pub fn find_live(
    conn: &Connection,
    org_pk: i64,
    id_or_name: &str,
    now: &str,
) -> Result<Option<TokenRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "{SELECT} WHERE t.org_pk = ?1 AND (t.id = ?2 OR t.name = ?2) AND t.revoked IS NULL
             AND (t.expires IS NULL OR t.expires > ?3)"
        ))?
        .query_row(params![org_pk, id_or_name, now], from_row)
        .optional()?)
}

/// Gives a token a new secret's hash. With `prev_until`, the old hash keeps counting until
/// then; without, it is gone. Either way the auth epoch moves (trigger), so a running server
/// forgets the old secret from its next request.
pub fn rotate(
    conn: &Connection,
    pk: i64,
    hash: &str,
    prev_until: Option<&str>,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE tokens SET prev_hash = CASE WHEN ?2 IS NULL THEN NULL ELSE hash END,
             prev_until = ?2, hash = ?1, rotated = ?3 WHERE pk = ?4",
    )?
    .execute(params![hash, prev_until, now, pk])?;
    Ok(())
}

/// Live tokens of every organization that expire before `until`: (org id, token id, name,
/// expires).
pub fn expiring(
    conn: &Connection,
    now: &str,
    until: &str,
) -> Result<Vec<(String, String, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, t.id, t.name, t.expires FROM tokens t JOIN orgs o ON o.pk = t.org_pk
         WHERE t.revoked IS NULL AND t.expires IS NOT NULL AND t.expires > ?1
           AND t.expires <= ?2 ORDER BY t.expires",
    )?;
    let rows = stmt.query_map(params![now, until], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The counter that triggers bump on every change that matters to authentication.
pub fn auth_epoch(conn: &super::Conn<'_>) -> Result<i64> {
    conn.query_row(
        "SELECT value FROM auth_epoch WHERE id = 1",
        super::sql::params![],
        |r| r.get(0),
    )
}
