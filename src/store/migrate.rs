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
    // 3: Astro's whole access model (issue 16): Deployments in Workspaces, custom Deployment
    // roles, Deployment roles on Teams and users, role rules for Teams the IdP pushes, and
    // tokens that rotate, carry a description, remember their last source address and may be
    // limited to address ranges. Role names stored before stay valid (the five-role lists
    // keep the three old names); they are upper-cased in case a hand edit left them mixed.
    "UPDATE users SET org_role = UPPER(org_role) WHERE org_role <> UPPER(org_role);
     UPDATE teams SET org_role = UPPER(org_role) WHERE org_role <> UPPER(org_role);
     UPDATE team_workspace_roles SET role = UPPER(role) WHERE role <> UPPER(role);
     UPDATE user_workspace_roles SET role = UPPER(role) WHERE role <> UPPER(role);
     CREATE TABLE deployments (
         pk           INTEGER PRIMARY KEY,
         org_pk       INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         workspace_pk INTEGER NOT NULL REFERENCES workspaces(pk) ON DELETE CASCADE,
         id           TEXT NOT NULL UNIQUE,
         name         TEXT NOT NULL COLLATE NOCASE,
         created      TEXT NOT NULL
     );
     CREATE UNIQUE INDEX deployments_name ON deployments(org_pk, name);
     CREATE INDEX deployments_workspace ON deployments(workspace_pk);
     CREATE TABLE deployment_roles (
         pk          INTEGER PRIMARY KEY,
         org_pk      INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         id          TEXT NOT NULL UNIQUE,
         name        TEXT NOT NULL COLLATE NOCASE,
         permissions TEXT NOT NULL,
         created     TEXT NOT NULL
     );
     CREATE UNIQUE INDEX deployment_roles_name ON deployment_roles(org_pk, name);
     -- role is DEPLOYMENT_ADMIN, or NULL with custom_pk naming a custom role.
     CREATE TABLE team_deployment_roles (
         team_pk       INTEGER NOT NULL REFERENCES teams(pk) ON DELETE CASCADE,
         deployment_pk INTEGER NOT NULL REFERENCES deployments(pk) ON DELETE CASCADE,
         role          TEXT,
         custom_pk     INTEGER REFERENCES deployment_roles(pk),
         PRIMARY KEY (team_pk, deployment_pk)
     ) WITHOUT ROWID;
     CREATE INDEX team_deployment_roles_dep ON team_deployment_roles(deployment_pk);
     CREATE TABLE user_deployment_roles (
         user_pk       INTEGER NOT NULL REFERENCES users(pk) ON DELETE CASCADE,
         deployment_pk INTEGER NOT NULL REFERENCES deployments(pk) ON DELETE CASCADE,
         role          TEXT,
         custom_pk     INTEGER REFERENCES deployment_roles(pk),
         PRIMARY KEY (user_pk, deployment_pk)
     ) WITHOUT ROWID;
     CREATE INDEX user_deployment_roles_dep ON user_deployment_roles(deployment_pk);
     CREATE TABLE team_rules (
         pk       INTEGER PRIMARY KEY,
         org_pk   INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         id       TEXT NOT NULL UNIQUE,
         name     TEXT NOT NULL COLLATE NOCASE,
         kind     TEXT NOT NULL,
         value    TEXT NOT NULL,
         template TEXT NOT NULL,
         created  TEXT NOT NULL
     );
     CREATE UNIQUE INDEX team_rules_name ON team_rules(org_pk, name);
     ALTER TABLE teams ADD COLUMN rule_id TEXT;
     ALTER TABLE tokens ADD COLUMN description TEXT;
     ALTER TABLE tokens ADD COLUMN last_source TEXT;
     ALTER TABLE tokens ADD COLUMN allowed_cidrs TEXT;
     ALTER TABLE tokens ADD COLUMN prev_hash TEXT;
     ALTER TABLE tokens ADD COLUMN prev_until TEXT;
     ALTER TABLE tokens ADD COLUMN rotated TEXT;
     DROP TRIGGER tokens_update_epoch;
     CREATE TRIGGER tokens_update_epoch
         AFTER UPDATE OF revoked, expires, hash, org_pk, allowed_cidrs, prev_hash, prev_until
         ON tokens
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
    fn a_version_2_database_keeps_its_roles_and_tokens() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(STEPS[0]).unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO orgs (pk, id, name, created) VALUES (1, 'o', 'old', 'now');
             INSERT INTO users (org_pk, id, user_name, org_role, created, last_modified, data)
                 VALUES (1, 'u', 'ada', 'organization_billing_admin', 'now', 'now', '{}');
             INSERT INTO teams (pk, org_pk, id, display_name, org_role, scim_managed, created,
                                last_modified, data)
                 VALUES (1, 1, 't', 'ops', 'ORGANIZATION_OWNER', 1, 'now', 'now', '{}');
             INSERT INTO workspaces (pk, org_pk, id, name, created) VALUES (1, 1, 'w', 'P', 'now');
             INSERT INTO team_workspace_roles VALUES (1, 1, 'WORKSPACE_OPERATOR');
             INSERT INTO tokens (id, org_pk, name, hash, created) VALUES ('k', 1, 'idp', 'h', 'now');",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let one = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        // The three old names are still roles, in canonical case.
        assert_eq!(
            one("SELECT org_role FROM users"),
            "ORGANIZATION_BILLING_ADMIN"
        );
        assert_eq!(one("SELECT org_role FROM teams"), "ORGANIZATION_OWNER");
        assert_eq!(
            one("SELECT role FROM team_workspace_roles"),
            "WORKSPACE_OPERATOR"
        );
        for r in ["ORGANIZATION_BILLING_ADMIN", "ORGANIZATION_OWNER"] {
            assert!(crate::model::roles::org_role(r).is_some());
        }
        // Tokens keep working: the new columns are empty.
        assert_eq!(one("SELECT hash FROM tokens"), "h");
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM tokens WHERE description IS NULL AND allowed_cidrs IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
        // Rotation still moves the auth epoch.
        let epoch = |c: &Connection| -> i64 {
            c.query_row("SELECT value FROM auth_epoch", [], |r| r.get(0))
                .unwrap()
        };
        let e0 = epoch(&conn);
        conn.execute("UPDATE tokens SET prev_hash = hash, hash = 'h2'", [])
            .unwrap();
        assert!(epoch(&conn) > e0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        assert!(migrate(&conn).is_err());
    }
}
