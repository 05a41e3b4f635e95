//! Admin accounts (argon2id password hashes) and their sessions (SHA-256 digests of the
//! session ids), for the admin page.

use super::sql::{Conn, Engine, params};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct AdminRow {
    pub pk: i64,
    pub name: String,
    /// An argon2id PHC string.
    pub hash: String,
}

/// The account with this name, any ASCII case (SQLite's NOCASE column; on PostgreSQL the
/// same folding, which its unique index is on).
pub fn by_name(conn: &Conn<'_>, name: &str) -> Result<Option<AdminRow>> {
    let sql = match conn.engine() {
        Engine::Sqlite => "SELECT pk, name, hash FROM admins WHERE name = ?",
        Engine::Postgres => {
            "SELECT pk, name, hash FROM admins WHERE scimbox_nocase(name) = scimbox_nocase(?)"
        }
    };
    conn.query_opt(sql, params![name], |r| {
        Ok(AdminRow {
            pk: r.get(0)?,
            name: r.get(1)?,
            hash: r.get(2)?,
        })
    })
}

pub fn count(conn: &Conn<'_>) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM admins", params![], |r| r.get(0))
}

/// Sets an admin's password hash, creating the account if needed, and ends every session of
/// that account (a reset password must lock out whoever had the old one). Returns its pk.
/// One upsert on the name's unique index, so two servers setting one account's password at
/// once make one account.
pub fn set_password(conn: &Conn<'_>, name: &str, hash: &str, now: &str) -> Result<i64> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "INSERT INTO admins (name, hash, created, password_changed) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash,
             password_changed = excluded.password_changed RETURNING pk"
        }
        Engine::Postgres => {
            "INSERT INTO admins (name, hash, created, password_changed) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (scimbox_nocase(name)) DO UPDATE SET hash = excluded.hash,
             password_changed = excluded.password_changed RETURNING pk"
        }
    };
    let pk: i64 = conn.query_row(sql, params![name, hash, now], |r| r.get(0))?;
    conn.execute("DELETE FROM sessions WHERE admin_pk = ?", params![pk])?;
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

pub fn insert_session(conn: &Conn<'_>, s: &NewSession<'_>, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO sessions (digest, admin_pk, csrf, created, last_seen, expires)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
        params![s.digest, s.admin_pk, s.csrf, now, s.expires],
    )?;
    Ok(())
}

pub fn session(conn: &Conn<'_>, digest: &str) -> Result<Option<SessionRow>> {
    conn.query_opt(
        "SELECT s.pk, s.admin_pk, a.name, s.csrf, s.created, s.last_seen, s.expires
         FROM sessions s JOIN admins a ON a.pk = s.admin_pk WHERE s.digest = ?",
        params![digest],
        |r| {
            Ok(SessionRow {
                pk: r.get(0)?,
                admin_pk: r.get(1)?,
                admin_name: r.get(2)?,
                csrf: r.get(3)?,
                created: r.get(4)?,
                last_seen: r.get(5)?,
                expires: r.get(6)?,
            })
        },
    )
}

/// Extends a session that is in use (one statement, which locks the row it changes; a
/// session ended meanwhile stays ended).
pub fn touch_session(conn: &Conn<'_>, pk: i64, now: &str, expires: &str) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET last_seen = ?, expires = ? WHERE pk = ?",
        params![now, expires, pk],
    )?;
    Ok(())
}

/// Ends a session; `false` if there was none with this digest.
pub fn delete_session(conn: &Conn<'_>, digest: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM sessions WHERE digest = ?", params![digest])? > 0)
}

/// Forgets sessions that expired before `now`; returns how many.
pub fn delete_expired(conn: &Conn<'_>, now: &str) -> Result<usize> {
    conn.execute("DELETE FROM sessions WHERE expires <= ?", params![now])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;
    use crate::store::tokens::tests::postgres_pair;

    fn session_of(
        admin_pk: i64,
        digest: &'static str,
        expires: &'static str,
    ) -> NewSession<'static> {
        NewSession {
            digest,
            admin_pk,
            csrf: "c",
            expires,
        }
    }

    #[test]
    fn a_new_password_ends_the_accounts_sessions() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            assert_eq!(store.read_blocking(count), Ok(0), "{engine}");
            let pk = store
                .write_blocking(|c| set_password(c, "admin", "$argon2id$a", "t1"))
                .unwrap();
            store
                .write_blocking(move |c| insert_session(c, &session_of(pk, "d1", "t9"), "t1"))
                .unwrap();
            let s = store.read_blocking(|c| session(c, "d1")).unwrap().unwrap();
            assert_eq!(
                (s.admin_pk, s.admin_name.as_str(), s.csrf.as_str()),
                (pk, "admin", "c"),
                "{engine}"
            );
            assert_eq!(
                (s.created.as_str(), s.last_seen.as_str(), s.expires.as_str()),
                ("t1", "t1", "t9"),
                "{engine}"
            );
            // The name in another case is the same account.
            assert_eq!(
                store.write_blocking(|c| set_password(c, "ADMIN", "$argon2id$b", "t2")),
                Ok(pk),
                "{engine}"
            );
            assert_eq!(
                store.read_blocking(|c| session(c, "d1")),
                Ok(None),
                "{engine}"
            );
            let row = store
                .read_blocking(|c| by_name(c, "Admin"))
                .unwrap()
                .unwrap();
            assert_eq!(
                (row.pk, row.name.as_str(), row.hash.as_str()),
                (pk, "admin", "$argon2id$b"),
                "{engine}"
            );
            assert_eq!(
                store.read_blocking(|c| by_name(c, "root")),
                Ok(None),
                "{engine}"
            );
            assert_eq!(store.read_blocking(count), Ok(1), "{engine}");
            store.close();
        }
    }

    #[test]
    fn sessions_are_extended_ended_and_forgotten() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let pk = store
                .write_blocking(|c| set_password(c, "admin", "h", "t1"))
                .unwrap();
            store
                .write_blocking(move |c| {
                    insert_session(c, &session_of(pk, "a", "2026-01-01"), "t1")?;
                    insert_session(c, &session_of(pk, "b", "2026-03-01"), "t1")
                })
                .unwrap();
            // A digest is unique.
            assert!(matches!(
                store.write_blocking(move |c| insert_session(
                    c,
                    &session_of(pk, "b", "2026-03-01"),
                    "t1"
                )),
                Err(crate::error::Error::Uniqueness(_))
            ));
            let b = store.read_blocking(|c| session(c, "b")).unwrap().unwrap();
            store
                .write_blocking(move |c| touch_session(c, b.pk, "t2", "2026-04-01"))
                .unwrap();
            let b = store.read_blocking(|c| session(c, "b")).unwrap().unwrap();
            assert_eq!(
                (b.last_seen.as_str(), b.expires.as_str()),
                ("t2", "2026-04-01"),
                "{engine}"
            );
            assert_eq!(
                store.write_blocking(|c| delete_expired(c, "2026-02-01")),
                Ok(1),
                "{engine}"
            );
            assert_eq!(
                store.read_blocking(|c| session(c, "a")),
                Ok(None),
                "{engine}"
            );
            assert!(store.read_blocking(|c| session(c, "b")).unwrap().is_some());
            assert_eq!(store.write_blocking(|c| delete_session(c, "b")), Ok(true));
            assert_eq!(store.write_blocking(|c| delete_session(c, "b")), Ok(false));
            store.close();
        }
    }

    /// Sessions live in the database: one started through one server is valid through
    /// another on the same PostgreSQL database, and a sign-out through the second ends it
    /// for the first.
    #[test]
    fn a_session_started_on_one_server_works_on_another() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let pk = a
            .write_blocking(|c| set_password(c, "admin", "h", "t1"))
            .unwrap();
        a.write_blocking(move |c| insert_session(c, &session_of(pk, "d1", "t9"), "t1"))
            .unwrap();
        let seen = b.read_blocking(|c| session(c, "d1")).unwrap().unwrap();
        assert_eq!(seen.admin_name, "admin");
        assert_eq!(
            b.read_blocking(|c| by_name(c, "ADMIN"))
                .unwrap()
                .unwrap()
                .pk,
            pk
        );
        assert_eq!(b.write_blocking(|c| delete_session(c, "d1")), Ok(true));
        assert_eq!(a.read_blocking(|c| session(c, "d1")), Ok(None));
        a.close();
        b.close();
    }
}
