//! Schema versioning: `schema.sql` is version 1; later versions are numbered steps.

use crate::error::{Error, Result};
use rusqlite::{Connection, TransactionBehavior};

const SCHEMA: &str = include_str!("../../schema.sql");

/// The schema version this binary writes. A database with a higher `user_version` was written
/// by a newer scimbox and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 10;

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
    // 4: OAuth clients (RFC 6749 §4.4): a client has argon2id-hashed secrets, several at once
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
    // 5: Astro's whole access model (issue 16): Deployments in Workspaces, custom Deployment
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
    // 6: SCIM events (RFC 9967): the outbox, written in the transaction of each change; the
    // receivers with their delivery position; the acknowledgements of polled SETs past that
    // position; and the key each organization signs its SETs with. AUTOINCREMENT so a pruned
    // sequence number is never handed out again (a receiver's cursor would skip it).
    "CREATE TABLE event_keys (
         org_pk  INTEGER PRIMARY KEY REFERENCES orgs(pk) ON DELETE CASCADE,
         kid     TEXT NOT NULL,
         pkcs8   BLOB NOT NULL,
         created TEXT NOT NULL
     );
     CREATE TABLE event_receivers (
         pk            INTEGER PRIMARY KEY,
         id            TEXT NOT NULL UNIQUE,
         org_pk        INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         url           TEXT NOT NULL,
         mode          TEXT NOT NULL CHECK (mode IN ('push', 'poll')),
         detail        TEXT NOT NULL CHECK (detail IN ('full', 'notice')),
         token_digest  TEXT,
         created       TEXT NOT NULL,
         cursor        INTEGER NOT NULL,
         state         TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failed')),
         attempts      INTEGER NOT NULL DEFAULT 0,
         next_attempt  TEXT,
         last_delivery TEXT,
         last_error    TEXT,
         delivered     INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX event_receivers_org ON event_receivers(org_pk);
     CREATE TABLE outbox (
         seq           INTEGER PRIMARY KEY AUTOINCREMENT,
         org_pk        INTEGER NOT NULL REFERENCES orgs(pk) ON DELETE CASCADE,
         txn           TEXT NOT NULL UNIQUE,
         at            TEXT NOT NULL,
         resource_type TEXT NOT NULL,
         resource_id   TEXT NOT NULL,
         external_id   TEXT,
         payload       TEXT NOT NULL
     );
     CREATE INDEX outbox_org ON outbox(org_pk, seq);
     CREATE INDEX outbox_at ON outbox(at);
     CREATE TABLE event_acks (
         receiver_pk INTEGER NOT NULL REFERENCES event_receivers(pk) ON DELETE CASCADE,
         seq         INTEGER NOT NULL,
         PRIMARY KEY (receiver_pk, seq)
     ) WITHOUT ROWID;",
    // 7: the request inspector's requests, kept in the database so they outlast a restart
    // (bounded by --request-log-size and --request-log-days), and on each audit entry the
    // request that caused it and who sent it, so the two link both ways.
    "CREATE TABLE requests (
         pk            INTEGER PRIMARY KEY,
         org_id        TEXT NOT NULL,
         at            TEXT NOT NULL,
         request_id    TEXT NOT NULL,
         method        TEXT NOT NULL,
         path          TEXT NOT NULL,
         query         TEXT NOT NULL,
         status        INTEGER NOT NULL,
         latency_us    INTEGER NOT NULL,
         token         TEXT,
         user_agent    TEXT,
         source        TEXT,
         resource_id   TEXT,
         request_body  TEXT NOT NULL,
         request_bytes INTEGER NOT NULL,
         response_body TEXT NOT NULL
     );
     CREATE INDEX requests_org ON requests(org_id, pk);
     CREATE INDEX requests_request_id ON requests(request_id);
     CREATE INDEX requests_at ON requests(at);
     ALTER TABLE audit ADD COLUMN request_id TEXT;
     ALTER TABLE audit ADD COLUMN source TEXT;
     ALTER TABLE audit ADD COLUMN user_agent TEXT;
     CREATE INDEX audit_request_id ON audit(request_id);",
    // 8: schema extensions an organization declares (RFC 7643 §7 text as checked by
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
    // 9: the request inspector keeps, per request, the attributes under extension URNs the
    // organization does not declare that the request sent and scimbox dropped (a JSON array
    // of paths; NULL for requests kept before, read as none).
    "ALTER TABLE requests ADD COLUMN dropped TEXT;",
    // 10: which server pushes to a receiver, and until when (with several servers on one
    // PostgreSQL database only one of them may push a receiver's SETs, or each would be sent
    // once per server; on one SQLite file the one server always holds it).
    "ALTER TABLE event_receivers ADD COLUMN lease_owner TEXT;
     ALTER TABLE event_receivers ADD COLUMN lease_until TEXT;",
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
