//! Schema versioning: `schema.sql` is version 1; later versions are numbered steps.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// The schema version this binary writes. A database with a higher `user_version` was written
/// by a newer scimbox and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 3;

/// Numbered steps from version N to N+1 (index 0 takes 1 to 2).
const STEPS: &[&str] = &[
    // 2: the admin page's accounts and sessions. Only an argon2id hash of a password and only
    // a SHA-256 digest of a session id are stored, so a copy of the file signs nobody in.
    "CREATE TABLE admins (
         pk               INTEGER PRIMARY KEY,
         name             TEXT NOT NULL COLLATE NOCASE UNIQUE,
         hash             TEXT NOT NULL,
         created          TEXT NOT NULL,
         password_changed TEXT NOT NULL
     );
     CREATE TABLE sessions (
         pk        INTEGER PRIMARY KEY,
         digest    TEXT NOT NULL UNIQUE,
         admin_pk  INTEGER NOT NULL REFERENCES admins(pk) ON DELETE CASCADE,
         csrf      TEXT NOT NULL,
         created   TEXT NOT NULL,
         last_seen TEXT NOT NULL,
         expires   TEXT NOT NULL
     );
     CREATE INDEX sessions_admin ON sessions(admin_pk);
     CREATE INDEX sessions_expires ON sessions(expires);
     CREATE INDEX audit_at ON audit(at);",
    // 3: OAuth clients (RFC 6749 §4.4): a client has argon2id-hashed secrets, several at once
    // during a rotation, or none when it is federated (its assertions are checked against a
    // JWKS URL and the iss/sub/aud configured here). assertion_jtis keeps each federated
    // assertion's id until its exp, so a replay is refused. Changes that decide whether an
    // access token still works bump auth_epoch, like tokens do.
    "CREATE TABLE clients (
         pk        INTEGER PRIMARY KEY,
         id        TEXT NOT NULL UNIQUE,
         org_pk    INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         name      TEXT NOT NULL,
         kind      TEXT NOT NULL CHECK (kind IN ('secret', 'federated')),
         jwks_url  TEXT,
         issuer    TEXT,
         subject   TEXT,
         audience  TEXT,
         created   TEXT NOT NULL,
         revoked   TEXT,
         last_used TEXT
     );
     CREATE INDEX clients_org ON clients(org_pk, name);
     CREATE INDEX clients_federated ON clients(issuer, subject);
     CREATE TABLE client_secrets (
         pk        INTEGER PRIMARY KEY,
         id        TEXT NOT NULL UNIQUE,
         client_pk INTEGER NOT NULL REFERENCES clients(pk) ON DELETE CASCADE,
         hash      TEXT NOT NULL,
         created   TEXT NOT NULL,
         expires   TEXT NOT NULL
     );
     CREATE INDEX client_secrets_client ON client_secrets(client_pk);
     CREATE TABLE assertion_jtis (
         client_pk INTEGER NOT NULL REFERENCES clients(pk) ON DELETE CASCADE,
         jti       TEXT NOT NULL,
         expires   TEXT NOT NULL,
         PRIMARY KEY (client_pk, jti)
     ) WITHOUT ROWID;
     CREATE INDEX assertion_jtis_expires ON assertion_jtis(expires);
     CREATE TRIGGER clients_insert_epoch AFTER INSERT ON clients
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TRIGGER clients_delete_epoch AFTER DELETE ON clients
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TRIGGER clients_update_epoch AFTER UPDATE OF revoked, org_pk, kind ON clients
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TRIGGER client_secrets_delete_epoch AFTER DELETE ON client_secrets
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TRIGGER client_secrets_update_epoch AFTER UPDATE OF expires, hash ON client_secrets
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;",
];

pub fn migrate(conn: &Connection) -> Result<()> {
    // IMMEDIATE: two processes starting on one new file must not both apply the schema.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "the database has schema version {version}, newer than this scimbox understands \
             ({SCHEMA_VERSION}); use a newer scimbox"
        )));
    }
    // A new file gets version 1 and then every step, so new and migrated databases are the
    // same by construction.
    let from = if version == 0 {
        tx.execute_batch(SCHEMA)?;
        1
    } else {
        version
    };
    for step in STEPS.iter().skip((from - 1) as usize) {
        tx.execute_batch(step)?;
    }
    if version != SCHEMA_VERSION {
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_database_migrates_to_the_same_schema_as_a_new_one() {
        let old = Connection::open_in_memory().unwrap();
        old.execute_batch(SCHEMA).unwrap();
        old.execute_batch("PRAGMA user_version = 1").unwrap();
        old.execute(
            "INSERT INTO orgs (id, name, created) VALUES ('o', 'kept', 'now')",
            [],
        )
        .unwrap();
        migrate(&old).unwrap();
        let new = Connection::open_in_memory().unwrap();
        migrate(&new).unwrap();
        assert_eq!(tables(&old), tables(&new));
        assert!(tables(&new).contains(&"sessions".to_string()));
        let v: i64 = old
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let name: String = old
            .query_row("SELECT name FROM orgs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "kept");
        // Migrating again changes nothing.
        migrate(&old).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        assert!(migrate(&conn).is_err());
    }
}
