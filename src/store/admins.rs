//! Admin accounts (argon2id password hashes) and their sessions (SHA-256 digests of the
//! session ids), for the admin page.

use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone, PartialEq)]
pub struct AdminRow {
    pub pk: i64,
    pub name: String,
    /// An argon2id PHC string.
    pub hash: String,
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<AdminRow>> {
    Ok(conn
        .prepare_cached("SELECT pk, name, hash FROM admins WHERE name = ?")?
        .query_row([name], |r| {
            Ok(AdminRow {
                pk: r.get(0)?,
                name: r.get(1)?,
                hash: r.get(2)?,
            })
        })
        .optional()?)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM admins")?
        .query_row([], |r| r.get(0))?)
}

/// Sets an admin's password hash, creating the account if needed, and ends every session of
/// that account (a reset password must lock out whoever had the old one). Returns its pk.
pub fn set_password(conn: &Connection, name: &str, hash: &str, now: &str) -> Result<i64> {
    let pk: i64 = conn
        .prepare_cached(
            "INSERT INTO admins (name, hash, created, password_changed) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash,
             password_changed = excluded.password_changed RETURNING pk",
        )?
        .query_row(params![name, hash, now], |r| r.get(0))?;
    conn.prepare_cached("DELETE FROM sessions WHERE admin_pk = ?")?
        .execute([pk])?;
    Ok(pk)
}

/// A live or expired session, as looked up by the digest of its id.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub pk: i64,
    pub admin_pk: i64,
    pub admin_name: String,
    pub csrf: String,
    pub created: String,
    pub last_seen: String,
    pub expires: String,
}

pub struct NewSession<'a> {
    pub digest: &'a str,
    pub admin_pk: i64,
    pub csrf: &'a str,
    pub expires: &'a str,
}

pub fn insert_session(conn: &Connection, s: &NewSession<'_>, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (digest, admin_pk, csrf, created, last_seen, expires)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
    )?
    .execute(params![s.digest, s.admin_pk, s.csrf, now, s.expires])?;
    Ok(())
}

pub fn session(conn: &Connection, digest: &str) -> Result<Option<SessionRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT s.pk, s.admin_pk, a.name, s.csrf, s.created, s.last_seen, s.expires
             FROM sessions s JOIN admins a ON a.pk = s.admin_pk WHERE s.digest = ?",
        )?
        .query_row([digest], |r| {
            Ok(SessionRow {
                pk: r.get(0)?,
                admin_pk: r.get(1)?,
                admin_name: r.get(2)?,
                csrf: r.get(3)?,
                created: r.get(4)?,
                last_seen: r.get(5)?,
                expires: r.get(6)?,
            })
        })
        .optional()?)
}

/// Extends a session that is in use.
pub fn touch_session(conn: &Connection, pk: i64, now: &str, expires: &str) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET last_seen = ?, expires = ? WHERE pk = ?")?
        .execute(params![now, expires, pk])?;
    Ok(())
}

/// Ends a session; `false` if there was none with this digest.
pub fn delete_session(conn: &Connection, digest: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE digest = ?")?
        .execute([digest])?
        > 0)
}

/// Forgets sessions that expired before `now`; returns how many.
pub fn delete_expired(conn: &Connection, now: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires <= ?")?
        .execute([now])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        conn
    }

    #[test]
    fn a_new_password_ends_the_accounts_sessions() {
        let conn = db();
        let pk = set_password(&conn, "admin", "$argon2id$a", "t1").unwrap();
        let s = NewSession {
            digest: "d1",
            admin_pk: pk,
            csrf: "c",
            expires: "t9",
        };
        insert_session(&conn, &s, "t1").unwrap();
        assert_eq!(session(&conn, "d1").unwrap().unwrap().admin_name, "admin");
        assert_eq!(
            set_password(&conn, "ADMIN", "$argon2id$b", "t2").unwrap(),
            pk
        );
        assert_eq!(session(&conn, "d1").unwrap(), None);
        assert_eq!(
            by_name(&conn, "Admin").unwrap().unwrap().hash,
            "$argon2id$b"
        );
        assert_eq!(count(&conn).unwrap(), 1);
    }

    #[test]
    fn expired_sessions_are_forgotten() {
        let conn = db();
        let pk = set_password(&conn, "admin", "h", "t1").unwrap();
        for (d, e) in [("a", "2026-01-01"), ("b", "2026-03-01")] {
            let s = NewSession {
                digest: d,
                admin_pk: pk,
                csrf: "c",
                expires: e,
            };
            insert_session(&conn, &s, "t1").unwrap();
        }
        assert_eq!(delete_expired(&conn, "2026-02-01").unwrap(), 1);
        assert!(session(&conn, "b").unwrap().is_some());
        assert!(delete_session(&conn, "b").unwrap());
        assert!(!delete_session(&conn, "b").unwrap());
    }
}
