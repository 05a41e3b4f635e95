//! Schema versioning: `schema.sql` is version 1; later versions are numbered steps.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// The schema version this binary writes. A database with a higher `user_version` was written
/// by a newer scimbox and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 4;

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
    // 3: Unicode case folding for the indexed case-insensitive attributes (RFC 7643 §2.2).
    // SQLite's NOCASE folds ASCII only, so `Émile` and `émile` were two userNames and the SQL
    // filter engine disagreed with the in-memory one. Each folded column holds
    // `model::fold(column)`, written by the store in Rust; here `scimbox_fold` (the same Rust
    // function, registered on the migrating connection) fills them for existing rows. The
    // unique userName index moves to the folded column; it fails, with the names listed (see
    // `duplicate_user_names`), when two users of one organization fold to the same name.
    "ALTER TABLE users ADD COLUMN user_name_fold TEXT NOT NULL DEFAULT '';
     ALTER TABLE users ADD COLUMN display_name_fold TEXT;
     UPDATE users SET user_name_fold = scimbox_fold(user_name),
                      display_name_fold = scimbox_fold(display_name);
     DROP INDEX users_user_name;
     DROP INDEX users_display_name;
     CREATE UNIQUE INDEX users_user_name_fold ON users(org_pk, user_name_fold);
     CREATE INDEX users_display_name_fold ON users(org_pk, display_name_fold);
     ALTER TABLE user_emails ADD COLUMN value_fold TEXT NOT NULL DEFAULT '';
     ALTER TABLE user_emails ADD COLUMN type_fold TEXT;
     UPDATE user_emails SET value_fold = scimbox_fold(value), type_fold = scimbox_fold(type);
     DROP INDEX user_emails_value;
     CREATE INDEX user_emails_value_fold ON user_emails(org_pk, value_fold);
     ALTER TABLE teams ADD COLUMN display_name_fold TEXT NOT NULL DEFAULT '';
     UPDATE teams SET display_name_fold = scimbox_fold(display_name);
     CREATE INDEX teams_display_name_fold ON teams(org_pk, display_name_fold);
     DELETE FROM sqlite_stat1
      WHERE idx IN ('users_user_name', 'users_display_name', 'user_emails_value');
     INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
         ('users', 'users_user_name_fold', '1000000 100000 1'),
         ('users', 'users_display_name_fold', '1000000 100000 2'),
         ('user_emails', 'user_emails_value_fold', '1000000 100000 1'),
         ('teams', 'teams_display_name_fold', '10000 1000 1');",
    // 4: schema extensions an organization declares (RFC 7643 §7 text as checked by
    // model::declared), and the string values of users' declared attributes, one row each,
    // so `eq` on a declared attribute (an IdP's lookup) and `uniqueness: server` are one
    // index seek. `value` is `model::fold(value)` unless the attribute is caseExact, written by
    // the store, so comparisons are binary and use the index.
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
         value   TEXT NOT NULL
     );
     CREATE INDEX declared_values_value ON declared_values(org_pk, attr, value);
     CREATE INDEX declared_values_user ON declared_values(user_pk);
     INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
         ('declared_values', 'declared_values_value', '1000000 100000 100000 1'),
         ('declared_values', 'declared_values_user', '1000000 2');",
];

pub fn migrate(conn: &Connection) -> Result<()> {
    // Steps may call the store's SQL functions (step 3 folds case in Rust).
    super::register_functions(conn)?;
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
        if let Err(e) = tx.execute_batch(step) {
            return Err(match duplicate_user_names(&tx) {
                Some(names) => Error::Internal(format!(
                    "cannot upgrade the database: userNames must now be unique ignoring case in \
                     full Unicode, and these differ only in case: {names}. Rename all but one \
                     of each (with the scimbox that wrote this file), then start again"
                )),
                None => Error::from(e),
            });
        }
    }
    if version != SCHEMA_VERSION {
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    tx.commit()?;
    Ok(())
}

/// After a failed step 3: the userNames of one organization that fold alike, listed as
/// `org: name, name; ...`, or `None` when there are none (the step failed for another reason).
fn duplicate_user_names(tx: &Connection) -> Option<String> {
    let mut stmt = tx
        .prepare(
            "SELECT o.name, group_concat(u.user_name, ', ') FROM users u
             JOIN orgs o ON o.pk = u.org_pk
             GROUP BY u.org_pk, scimbox_fold(u.user_name) HAVING count(*) > 1 LIMIT 20",
        )
        .ok()?;
    let rows = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}: {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?
            ))
        })
        .ok()?;
    let found: Vec<String> = rows.filter_map(|r| r.ok()).collect();
    (!found.is_empty()).then(|| found.join("; "))
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

    /// Every table, index and trigger with its SQL, and the shipped planner statistics.
    fn schema_of(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master
                 UNION ALL SELECT 'stat ' || tbl || ' ' || coalesce(idx, '') || ' ' || stat
                 FROM sqlite_stat1 ORDER BY 1",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A database as the binary before the case-folding step left it, with `sql` run on it.
    fn before_folding(sql: &str) -> Connection {
        let fold_step = STEPS
            .iter()
            .position(|s| s.contains("user_name_fold"))
            .unwrap();
        let old = Connection::open_in_memory().unwrap();
        old.execute_batch(SCHEMA).unwrap();
        for step in &STEPS[..fold_step] {
            old.execute_batch(step).unwrap();
        }
        old.execute_batch(&format!("PRAGMA user_version = {}", fold_step + 1))
            .unwrap();
        old.execute_batch(sql).unwrap();
        old
    }

    #[test]
    fn migrated_and_new_databases_have_identical_schemas() {
        let old = before_folding("");
        migrate(&old).unwrap();
        let new = Connection::open_in_memory().unwrap();
        migrate(&new).unwrap();
        assert_eq!(schema_of(&old), schema_of(&new));
        assert!(
            schema_of(&new)
                .iter()
                .any(|s| s.contains("users_user_name_fold"))
        );
    }

    #[test]
    fn the_folding_step_fills_the_folded_columns_in_rust() {
        let old = before_folding(
            "INSERT INTO orgs (pk, id, name, created) VALUES (1, 'o', 'o', 'now');
             INSERT INTO users (pk, org_pk, id, user_name, display_name, created, last_modified,
                                data)
             VALUES (1, 1, 'u', 'ÉMILE@C.COM', 'Straße', 'now', 'now', '{}'),
                    (2, 1, 'v', 'bob', NULL, 'now', 'now', '{}');
             INSERT INTO user_emails (user_pk, org_pk, value, type)
             VALUES (1, 1, 'ÉMILE@C.COM', 'WORK');
             INSERT INTO teams (pk, org_pk, id, display_name, scim_managed, created,
                                last_modified, data)
             VALUES (1, 1, 't', 'ΟΔΥΣΣΕΥΣ', 1, 'now', 'now', '{}');",
        );
        migrate(&old).unwrap();
        let one = |sql: &str| -> Option<String> { old.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            one("SELECT user_name_fold FROM users WHERE pk = 1").as_deref(),
            Some("émile@c.com")
        );
        assert_eq!(
            one("SELECT display_name_fold FROM users WHERE pk = 1").as_deref(),
            Some("strasse")
        );
        assert_eq!(
            one("SELECT display_name_fold FROM users WHERE pk = 2"),
            None
        );
        assert_eq!(
            one("SELECT value_fold || ' ' || type_fold FROM user_emails").as_deref(),
            Some("émile@c.com work")
        );
        assert_eq!(
            one("SELECT display_name_fold FROM teams").as_deref(),
            Some("οδυσσευσ")
        );
    }

    #[test]
    fn user_names_that_fold_alike_stop_the_upgrade_with_their_names() {
        let old = before_folding(
            "INSERT INTO orgs (pk, id, name, created) VALUES (1, 'o', 'Acme', 'now'),
                                                             (2, 'p', 'Other', 'now');
             INSERT INTO users (org_pk, id, user_name, created, last_modified, data)
             VALUES (1, 'u', 'Émile@c.com', 'now', 'now', '{}'),
                    (1, 'v', 'émile@c.com', 'now', 'now', '{}'),
                    (2, 'w', 'ÉMILE@C.COM', 'now', 'now', '{}');",
        );
        let e = migrate(&old).unwrap_err().to_string();
        assert!(e.contains("Acme: Émile@c.com, émile@c.com"), "{e}");
        assert!(!e.contains("Other"), "{e}");
        // Nothing changed: the old binary still reads the file.
        let v: i64 = old
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert!(v < SCHEMA_VERSION);
        old.execute_batch("DELETE FROM users WHERE id = 'v'")
            .unwrap();
        migrate(&old).unwrap();
    }

    #[test]
    fn a_newer_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        assert!(migrate(&conn).is_err());
    }
}
