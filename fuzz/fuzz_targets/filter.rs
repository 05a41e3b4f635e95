//! SCIM filter parser (RFC 7644 §3.4.2.2) and its SQL compiler. Any input either fails to
//! parse with `InvalidFilter`, or parses; a parsed filter either fails to compile with
//! `InvalidFilter`, or compiles to SQL that SQLite prepares and runs against the real schema,
//! the way `store::page` runs it (org_pk bound first). Anything else is a finding.
#![no_main]

use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use scimbox::store::sql::Value;
use scimbox::error::Error;
use scimbox::scim::filter::parse_filter;
use scimbox::store::filter_sql::{SqlFilter, compile_teams, compile_users};

/// Two organizations with users, emails, JSON data and memberships, so that every subquery the
/// compiler writes has rows to look at. Built once: SQLite only reads it.
fn db() -> &'static Mutex<Connection> {
    static DB: OnceLock<Mutex<Connection>> = OnceLock::new();
    DB.get_or_init(|| {
        // The current schema (every migration step) and the store's SQL functions.
        let conn = scimbox::store::open_memory().expect("in-memory SQLite opens");
        conn.execute_batch(FIXTURE).expect("the fixture inserts");
        Mutex::new(conn)
    })
}

const FIXTURE: &str = r#"
INSERT INTO orgs (pk, id, name, created) VALUES
  (1, 'o1', 'One', '2025-01-01T00:00:00.000Z'), (2, 'o2', 'Two', '2025-01-01T00:00:00.000Z');
INSERT INTO users (pk, org_pk, id, user_name, user_name_fold, external_id, display_name, active,
                   created, last_modified, version, data) VALUES
  (1, 1, 'a1', 'test.user@okta.local', 'test.user@okta.local', '00ujl29u0le5T6Aj10h7', 'Test User', 1,
   '2025-01-01T00:00:00.000Z', '2026-01-05T08:00:00.000Z', 3,
   '{"userName":"test.user@okta.local","externalId":"00ujl29u0le5T6Aj10h7","displayName":"Test User",
     "name":{"givenName":"Test","familyName":"User","formatted":"Test User"},"title":"50% off",
     "nickName":"a_b","locale":"en-US","active":true,"userType":"Employee",
     "emails":[{"value":"test.user@okta.local","type":"work","primary":true},{"value":"t@home.example","type":"home"}],
     "phoneNumbers":[{"value":"+1 555 0100","type":"work"}],"addresses":[{"locality":"Oxford","type":"work"}],
     "roles":[{"value":"Admin"}],"ims":[{"value":"x@foo.com","type":"xmpp"}],"x509Certificates":[{"value":"TUlJ"}],
     "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Wonder","employeeNumber":"7","manager":{"value":"b1"}}}'),
  (2, 1, 'b1', 'Test_User_ab6490ee', 'test_user_ab6490ee', '0a21f0f2', NULL, 0, '2025-01-01T00:00:00.000Z',
   '2025-12-31T23:59:59.999Z', 10,
   '{"userName":"Test_User_ab6490ee","externalId":"0a21f0f2","active":false,"emails":["bare"],
     "name":{"givenName":""},"phoneNumbers":[{}],"addresses":[]}'),
  (3, 2, 'c2', 'test.user@okta.local', 'test.user@okta.local', '00ujl29u0le5T6Aj10h7', 'Other Org', 1,
   '2025-01-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z', 1, '{"userName":"test.user@okta.local"}');
INSERT INTO user_emails (user_pk, org_pk, value, type, is_primary) VALUES
  (1, 1, 'test.user@okta.local', 'work', 1), (1, 1, 't@home.example', 'home', 0),
  (3, 2, 'test.user@okta.local', 'work', 1);
INSERT INTO teams (pk, org_pk, id, display_name, external_id, description, org_role, scim_managed,
                   created, last_modified, version, data) VALUES
  (1, 1, 't-eng', 'Engineering', '8aa1a0c0', 'Builds things', 'ORGANIZATION_MEMBER', 1,
   '2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 2, '{"displayName":"Engineering","externalId":"8aa1a0c0"}'),
  (2, 1, 't-ops', 'Ops', NULL, NULL, 'ORGANIZATION_OWNER', 0,
   '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1, '{"displayName":"Ops"}'),
  (3, 2, 't-x', 'Engineering', NULL, NULL, 'ORGANIZATION_MEMBER', 1,
   '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1, '{"displayName":"Engineering"}');
INSERT INTO memberships (team_pk, user_pk) VALUES (1, 1), (1, 2), (3, 3);
-- The folded columns, as the store writes them (scimbox_fold is its Rust case folding; the
-- unique userName fold is given above, since each user needs its own on insert).
UPDATE users SET display_name_fold = scimbox_fold(display_name);
UPDATE user_emails SET value_fold = scimbox_fold(value), type_fold = scimbox_fold(type);
UPDATE teams SET display_name_fold = scimbox_fold(display_name);
"#;

/// Counts the rows like `store::page` does, then reads them, both with org_pk as `?1`.
fn run(conn: &Connection, table: &str, alias: &str, f: &SqlFilter) -> rusqlite::Result<()> {
    let mut params = vec![Value::Integer(1)];
    params.extend(f.params.iter().cloned());
    let count = format!(
        "SELECT count(*) FROM {table} {alias} WHERE {alias}.org_pk = ? AND ({})",
        f.sql
    );
    conn.prepare(&count)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| {
            r.get::<_, i64>(0)
        })?;
    let rows = format!(
        "SELECT {alias}.id FROM {table} {alias} WHERE {alias}.org_pk = ? AND ({}) ORDER BY {alias}.pk LIMIT 100",
        f.sql
    );
    let mut stmt = conn.prepare(&rows)?;
    let ids = stmt.query_map(rusqlite::params_from_iter(params.iter()), |r| {
        r.get::<_, String>(0)
    })?;
    for id in ids {
        id?;
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match parse_filter(input) {
        Ok(filter) => filter,
        Err(Error::InvalidFilter(d)) => {
            assert!(!d.is_empty(), "{input:?}: empty error detail");
            return;
        }
        Err(other) => panic!("{input:?}: parse_filter failed with {other:?}"),
    };
    let conn = db().lock().unwrap_or_else(|e| e.into_inner());
    for (table, alias, compiled) in [
        ("users", "u", compile_users(&filter)),
        ("teams", "t", compile_teams(&filter)),
    ] {
        match compiled {
            Ok(sql) => {
                if let Err(e) = run(&conn, table, alias, &sql) {
                    panic!(
                        "{input:?} on {table}: SQLite refused the compiled filter: {e}\n{}",
                        sql.sql
                    );
                }
            }
            Err(Error::InvalidFilter(d)) => assert!(!d.is_empty(), "{input:?}: empty error detail"),
            Err(other) => panic!("{input:?} on {table}: compile failed with {other:?}"),
        }
    }
});
