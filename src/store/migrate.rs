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
    // 3: schema extensions an organization declares (RFC 7643 §7 text as checked by
    // model::declared), and the string values of users' declared attributes, one row each,
    // so `eq` on a declared attribute (an IdP's lookup) and `uniqueness: server` are one
    // index seek. `value` is NOCASE; a caseExact comparison adds a BINARY check.
    "CREATE TABLE declared_schemas (
         pk            INTEGER PRIMARY KEY,
         org_pk        INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         urn           TEXT NOT NULL COLLATE NOCASE,
         resource_type TEXT NOT NULL,
         required      INTEGER NOT NULL DEFAULT 0,
         body          TEXT NOT NULL,
         created       TEXT NOT NULL
     );
     CREATE UNIQUE INDEX declared_schemas_urn ON declared_schemas(org_pk, urn);
     -- A server caches an organization's declarations with its tokens: a change in any
     -- process drops that cache, as a revoked token does.
     CREATE TRIGGER declared_schemas_insert_epoch AFTER INSERT ON declared_schemas
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TRIGGER declared_schemas_delete_epoch AFTER DELETE ON declared_schemas
         BEGIN UPDATE auth_epoch SET value = value + 1 WHERE id = 1; END;
     CREATE TABLE declared_values (
         org_pk  INTEGER NOT NULL,
         user_pk INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
         attr    TEXT NOT NULL,
         value   TEXT NOT NULL COLLATE NOCASE
     );
     CREATE INDEX declared_values_value ON declared_values(org_pk, attr, value);
     CREATE INDEX declared_values_user ON declared_values(user_pk);
     INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
         ('declared_values', 'declared_values_value', '1000000 100000 100000 1'),
         ('declared_values', 'declared_values_user', '1000000 2');",
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
