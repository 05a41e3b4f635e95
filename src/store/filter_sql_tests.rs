//! Tests of `filter_sql` against a real schema: results, organization isolation, query plans.

use crate::store::sql::Value;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Value as Json, json};

use super::filter_sql::{
    SqlFilter, compile_teams, compile_teams_on, compile_users, compile_users_on, order_by,
    teams_sort_expr, users_sort_expr,
};
use super::sql::{Engine, param_list, params};
use crate::error::Error;
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::fold::fold;
use crate::model::schema::{GROUP_TYPE, USER_TYPE};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const TEAM: &str = "urn:scimbox:params:scim:schemas:extension:team:2.0:Group";
const ACCESS: &str = "urn:scimbox:params:scim:schemas:extension:access:2.0:User";

// ---- AST helpers: the parser is written elsewhere, so trees are built by hand. ----

/// `[urn:]name[.sub]`, split the way the parser does.
fn path(s: &str) -> AttrPath {
    let (urn, rest) = match USER_TYPE.split_urn(s) {
        (Some(urn), rest) => (Some(urn), rest),
        (None, _) => GROUP_TYPE.split_urn(s),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s.to_string())),
        None => (rest, None),
    };
    AttrPath {
        urn: urn.map(str::to_string),
        name: name.to_string(),
        sub,
    }
}

fn cmp(p: &str, op: CompareOp, v: Json) -> Filter {
    Filter::Compare {
        path: path(p),
        op,
        value: v,
    }
}

fn eq(p: &str, v: Json) -> Filter {
    cmp(p, CompareOp::Eq, v)
}

fn pr(p: &str) -> Filter {
    Filter::Present(path(p))
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn vp(p: &str, inner: Filter) -> Filter {
    Filter::ValuePath {
        path: path(p),
        filter: Box::new(inner),
    }
}

use CompareOp::{Co, Ew, Ge, Gt, Le, Lt, Ne, Sw};

// ---- Fixture: two organizations; org 2 reuses org 1's names to prove isolation. ----

struct U {
    pk: i64,
    org: i64,
    id: &'static str,
    user_name: &'static str,
    external_id: Option<&'static str>,
    display_name: Option<&'static str>,
    active: bool,
    last_modified: &'static str,
    version: i64,
    data: Json,
}

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    super::migrate::migrate(&conn).unwrap();
    conn.execute_batch(
        "INSERT INTO orgs (pk, id, name, created) VALUES
           (1, 'o1', 'One', '2025-01-01T00:00:00.000Z'),
           (2, 'o2', 'Two', '2025-01-01T00:00:00.000Z');",
    )
    .unwrap();
    let users = [
        U {
            pk: 1,
            org: 1,
            id: "a1",
            user_name: "Alice",
            external_id: Some("Ext-A"),
            display_name: Some("Alice Liddell"),
            active: true,
            last_modified: "2026-01-05T08:00:00.000Z",
            version: 3,
            data: json!({
                "userName": "Alice", "externalId": "Ext-A", "displayName": "Alice Liddell",
                "name": {"givenName": "Alice", "familyName": "Liddell"},
                "title": "50% off", "nickName": "a_b", "active": true,
                "emails": [
                    {"value": "alice@corp.example", "type": "work", "primary": true},
                    {"value": "alice@home.example", "type": "home"}
                ],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
                "addresses": [{"locality": "Oxford", "type": "work"}],
                "roles": [{"value": "Admin"}],
                ENT: {"department": "Wonder", "manager": {"value": "b1"}}
            }),
        },
        U {
            pk: 2,
            org: 1,
            id: "b1",
            user_name: "bob",
            external_id: Some("ext-b"),
            display_name: Some("Bob Builder"),
            active: false,
            last_modified: "2025-12-31T23:59:59.999Z",
            version: 10,
            data: json!({
                "userName": "bob", "externalId": "ext-b", "displayName": "Bob Builder",
                "name": {"givenName": "Bob", "familyName": "builder"},
                "title": "500 days", "nickName": "axb", "active": false,
                "emails": [
                    {"value": "bob@corp.example", "type": "home"},
                    {"value": "bob@work.example", "type": "work", "primary": true}
                ],
                "phoneNumbers": [{"value": "+1 555 0200", "type": "home"}],
                ENT: {"department": "wonder"}
            }),
        },
        U {
            pk: 3,
            org: 1,
            id: "c1",
            user_name: "carol",
            external_id: None,
            display_name: None,
            active: true,
            last_modified: "2026-02-01T00:00:00.000Z",
            version: 2,
            data: json!({"userName": "carol", "nickName": "", "active": true}),
        },
        U {
            pk: 4,
            org: 1,
            id: "d1",
            user_name: "Dave%_\\",
            external_id: Some("EXT-[A]*"),
            display_name: Some("dave"),
            active: true,
            last_modified: "2024-01-01T00:00:00.000Z",
            version: 1,
            data: json!({
                "userName": "Dave%_\\", "externalId": "EXT-[A]*", "displayName": "dave",
                "active": true,
                "emails": [{"value": "dave@corp.example", "type": "WORK", "display": "Dave Work"}]
            }),
        },
        U {
            pk: 5,
            org: 2,
            id: "a2",
            user_name: "alice",
            external_id: Some("Ext-A"),
            display_name: Some("Alice Liddell"),
            active: true,
            last_modified: "2026-03-01T00:00:00.000Z",
            version: 1,
            data: json!({
                "userName": "alice", "externalId": "Ext-A", "displayName": "Alice Liddell",
                "title": "50% off", "active": true,
                "emails": [{"value": "alice@corp.example", "type": "work", "primary": true}]
            }),
        },
    ];
    for u in &users {
        conn.execute(
            "INSERT INTO users (pk, org_pk, id, user_name, user_name_fold, external_id,
                               display_name, display_name_fold, active, created, last_modified,
                               version, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '2025-01-01T00:00:00.000Z', ?, ?, ?)",
            rusqlite::params![
                u.pk,
                u.org,
                u.id,
                u.user_name,
                fold(u.user_name),
                u.external_id,
                u.display_name,
                u.display_name.map(fold),
                u.active,
                u.last_modified,
                u.version,
                u.data.to_string()
            ],
        )
        .unwrap();
        for e in u.data["emails"].as_array().into_iter().flatten() {
            conn.execute(
                "INSERT INTO user_emails (user_pk, org_pk, value, value_fold, type, type_fold,
                                          is_primary)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                rusqlite::params![
                    u.pk,
                    u.org,
                    e["value"].as_str(),
                    e["value"].as_str().map(fold),
                    e["type"].as_str(),
                    e["type"].as_str().map(fold),
                    e["primary"].as_bool().unwrap_or(false)
                ],
            )
            .unwrap();
        }
    }
    conn.execute_batch(
        r#"INSERT INTO teams (pk, org_pk, id, display_name, external_id, description, org_role,
                              scim_managed, created, last_modified, version, data) VALUES
           (1, 1, 't-eng', 'Engineering', 'G-1', 'Builds things', 'ORGANIZATION_MEMBER', 1,
            '2025-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 2,
            '{"displayName":"Engineering","externalId":"G-1"}'),
           (2, 1, 't-ops', 'Ops', NULL, NULL, 'ORGANIZATION_OWNER', 1,
            '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1, '{"displayName":"Ops"}'),
           (3, 1, 't-empty', 'Empty', NULL, NULL, 'ORGANIZATION_MEMBER', 0,
            '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1, '{"displayName":"Empty"}'),
           (4, 2, 't-x', 'Org2 Team', NULL, 'Builds things', 'ORGANIZATION_MEMBER', 1,
            '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', 1,
            '{"displayName":"Org2 Team"}');
           -- t-eng: alice, bob; t-ops: carol; t-x (org 2): org 2's alice.
           -- The last two rows cross organizations, which the store never writes: they prove
           -- that the compiled subqueries check the organization themselves.
           INSERT INTO memberships (team_pk, user_pk) VALUES (1, 1), (1, 2), (2, 3), (4, 5),
                                                             (2, 5), (4, 1);
           UPDATE teams SET display_name_fold = scimbox_fold(display_name);"#,
    )
    .unwrap();
    conn
}

fn run(conn: &Connection, table: &str, org: i64, c: &SqlFilter) -> rusqlite::Result<Vec<String>> {
    let a = &table[..1];
    let sql = format!(
        "SELECT {a}.id FROM {table} {a} WHERE {a}.org_pk = ? AND ({}) ORDER BY {a}.id",
        c.sql
    );
    let mut params = vec![Value::Integer(org)];
    params.extend(c.params.iter().cloned());
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// With `SCIMBOX_TEST_POSTGRES`, one PostgreSQL database that mirrors the test's SQLite
/// database for each query (tests take turns on it).
fn mirror() -> Option<&'static std::sync::Mutex<super::Store>> {
    static MIRROR: std::sync::OnceLock<Option<std::sync::Mutex<super::Store>>> =
        std::sync::OnceLock::new();
    MIRROR
        .get_or_init(|| {
            let url = super::testing::fresh_postgres()?;
            let store = super::Store::open_target(
                &super::target::Target::Postgres(url),
                &super::StoreOptions {
                    pg_pool: 2,
                    ..super::StoreOptions::default()
                },
            )
            .expect("open postgres");
            Some(std::sync::Mutex::new(store))
        })
        .as_ref()
}

/// The tables filters read, as the mirror copies them.
const MIRRORED: &[(&str, &str)] = &[
    ("orgs", "pk, id, name, created"),
    (
        "users",
        "pk, org_pk, id, user_name, user_name_fold, external_id, display_name, \
         display_name_fold, active, org_role, created, last_modified, version, data",
    ),
    (
        "user_emails",
        "user_pk, org_pk, value, value_fold, type, type_fold, is_primary",
    ),
    (
        "teams",
        "pk, org_pk, id, display_name, display_name_fold, external_id, description, \
         org_role, scim_managed, created, last_modified, version, data",
    ),
    ("memberships", "team_pk, user_pk"),
];

/// The same filter compiled for PostgreSQL and run on a copy of `conn`'s rows, or `None`
/// without a server. Sorted by id as `run` sorts.
fn on_postgres(
    conn: &Connection,
    table: &'static str,
    org: i64,
    f: &Filter,
) -> Option<Vec<String>> {
    let pg = mirror()?.lock().unwrap_or_else(|e| e.into_inner());
    let sqlite = super::sql::Conn::sqlite(conn);
    let mut copies = Vec::new();
    for (t, cols) in MIRRORED {
        let n = cols.split(',').count();
        let rows: Vec<Vec<Value>> = sqlite
            .query_map(&format!("SELECT {cols} FROM {t}"), params![], |r| {
                (0..n).map(|i| r.get(i)).collect()
            })
            .unwrap();
        let marks = vec!["?"; n].join(", ");
        copies.push((format!("INSERT INTO {t} ({cols}) VALUES ({marks})"), rows));
    }
    let c = match table {
        "users" => compile_users_on(Engine::Postgres, &USER_TYPE, f),
        _ => compile_teams_on(Engine::Postgres, &GROUP_TYPE, f),
    }
    .unwrap_or_else(|e| panic!("{f:?} on PostgreSQL: {e:?}"));
    let text = c.sql.clone();
    let ids = pg.write_blocking(move |pc| {
        pc.execute_batch(
            "DELETE FROM memberships; DELETE FROM user_emails; DELETE FROM declared_values;
             DELETE FROM teams; DELETE FROM users; DELETE FROM orgs;",
        )?;
        for (insert, rows) in &copies {
            for row in rows {
                pc.execute(insert, &param_list(row))?;
            }
        }
        let a = &table[..1];
        let sql = format!(
            "SELECT {a}.id FROM {table} {a} WHERE {a}.org_pk = ? AND ({})",
            c.sql
        );
        let mut params = vec![Value::Integer(org)];
        params.extend(c.params);
        let mut ids: Vec<String> = pc.query_map(&sql, &param_list(&params), |r| r.get(0))?;
        ids.sort();
        Ok(ids)
    });
    Some(ids.unwrap_or_else(|e| panic!("{text} on PostgreSQL: {e}")))
}

fn users_in(conn: &Connection, org: i64, f: &Filter) -> Vec<String> {
    let c = compile_users(f).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
    let ids = run(conn, "users", org, &c).unwrap_or_else(|e| panic!("{}: {e}", c.sql));
    if let Some(pg) = on_postgres(conn, "users", org, f) {
        assert_eq!(pg, ids, "PostgreSQL and SQLite differ on {f:?}");
    }
    ids
}

fn users(conn: &Connection, f: &Filter) -> Vec<String> {
    users_in(conn, 1, f)
}

fn teams_in(conn: &Connection, org: i64, f: &Filter) -> Vec<String> {
    let c = compile_teams(f).unwrap_or_else(|e| panic!("{f:?}: {e:?}"));
    let ids = run(conn, "teams", org, &c).unwrap_or_else(|e| panic!("{}: {e}", c.sql));
    if let Some(pg) = on_postgres(conn, "teams", org, f) {
        assert_eq!(pg, ids, "PostgreSQL and SQLite differ on {f:?}");
    }
    ids
}

fn teams(conn: &Connection, f: &Filter) -> Vec<String> {
    teams_in(conn, 1, f)
}

fn invalid_filter(r: crate::error::Result<SqlFilter>) -> String {
    match r {
        Err(Error::InvalidFilter(detail)) => detail,
        other => panic!("expected InvalidFilter, got {other:?}"),
    }
}

// ---- Results ----

#[test]
fn eq_follows_case_exact_per_attribute() {
    let c = db();
    assert_eq!(users(&c, &eq("userName", json!("ALICE"))), ["a1"]);
    assert_eq!(users(&c, &eq("USERNAME", json!("alice"))), ["a1"]);
    assert_eq!(
        users(&c, &eq("displayName", json!("alice liddell"))),
        ["a1"]
    );
    assert_eq!(users(&c, &eq("name.givenName", json!("BOB"))), ["b1"]);
    assert_eq!(users(&c, &eq("id", json!("a1"))), ["a1"]);
    assert!(users(&c, &eq("id", json!("A1"))).is_empty());
    assert_eq!(users(&c, &eq("externalId", json!("Ext-A"))), ["a1"]);
    assert!(users(&c, &eq("externalId", json!("ext-a"))).is_empty());
}

/// Adds a user with non-ASCII values to org 1, its folded columns computed as the store does.
fn add_unicode_user(conn: &Connection) {
    conn.execute(
        "INSERT INTO users (pk, org_pk, id, user_name, user_name_fold, display_name,
                            display_name_fold, created, last_modified, data)
         VALUES (6, 1, 'e1', ?, ?, ?, ?, '2025-01-01T00:00:00.000Z',
                 '2025-01-01T00:00:00.000Z', ?)",
        rusqlite::params![
            "ÉMILE Straße",
            fold("ÉMILE Straße"),
            "ΟΔΥΣΣΕΥΣ",
            fold("ΟΔΥΣΣΕΥΣ"),
            json!({"userName": "ÉMILE Straße", "displayName": "ΟΔΥΣΣΕΥΣ", "title": "İstanbul",
                   "emails": [{"value": "ZOË@X", "type": "WORK"}]})
            .to_string()
        ],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO user_emails (user_pk, org_pk, value, value_fold, type, type_fold)
         VALUES (6, 1, 'ZOË@X', ?, 'WORK', 'work')",
        [fold("ZOË@X")],
    )
    .unwrap();
}

#[test]
fn case_insensitive_comparisons_fold_unicode_as_the_matcher_does() {
    let c = db();
    add_unicode_user(&c);
    let e1 = ["e1"];
    assert_eq!(users(&c, &eq("userName", json!("émile strasse"))), e1);
    assert_eq!(users(&c, &cmp("userName", Sw, json!("émile st"))), e1);
    assert_eq!(users(&c, &cmp("userName", Ew, json!("SSE"))), e1);
    assert_eq!(users(&c, &eq("displayName", json!("οδυσσευς"))), e1);
    assert_eq!(users(&c, &eq("emails.value", json!("zoë@x"))), e1);
    assert_eq!(
        users(&c, &vp("emails", eq("type", json!("Work")))),
        ["a1", "b1", "d1", "e1"]
    );
    // Through the SQL function on a stored JSON value.
    assert_eq!(users(&c, &eq("title", json!("i\u{307}stanbul"))), e1);
    assert!(users(&c, &eq("title", json!("ıstanbul"))).is_empty());
    assert_eq!(users(&c, &cmp("userName", Gt, json!("DAVE%_\\"))), e1);
    // Sorted by the folded column ("émile strasse" after the ASCII names); that sorting folds
    // where ASCII NOCASE would not ("ÉB" after "éa") is checked over HTTP in tests/it/filters.rs.
    assert_eq!(
        users_sorted(&c, "userName", false),
        ["a1", "b1", "c1", "d1", "e1"]
    );
    assert_eq!(users_sorted(&c, "displayName", false)[3], "e1");
}

#[test]
fn an_email_without_a_value_is_an_element_too() {
    // user_emails has rows only for emails with a value; filters an email without one could
    // satisfy read the stored resource instead, as the in-memory matcher does.
    let c = db();
    c.execute(
        "INSERT INTO users (pk, org_pk, id, user_name, user_name_fold, created, last_modified,
                            data)
         VALUES (7, 1, 'f1', 'frank', 'frank', '2025-01-01T00:00:00.000Z',
                 '2025-01-01T00:00:00.000Z', ?)",
        [json!({"userName": "frank", "emails": [{"type": "Work", "primary": true}]}).to_string()],
    )
    .unwrap();
    assert!(users(&c, &eq("emails.type", json!("work"))).contains(&"f1".to_string()));
    assert!(users(&c, &pr("emails")).contains(&"f1".to_string()));
    assert!(users(&c, &eq("emails.primary", json!(true))).contains(&"f1".to_string()));
    assert!(!users(&c, &pr("emails.value")).contains(&"f1".to_string()));
    let work_with_value = vp("emails", and(eq("type", json!("work")), pr("value")));
    assert!(!users(&c, &work_with_value).contains(&"f1".to_string()));
    assert_eq!(users(&c, &eq("emails.value", json!(null))), ["c1", "f1"]);
}

#[test]
fn id_of_another_organization_matches_nothing() {
    let c = db();
    assert!(users(&c, &eq("id", json!("a2"))).is_empty());
    assert_eq!(users_in(&c, 2, &eq("userName", json!("alice"))), ["a2"]);
    assert!(teams(&c, &eq("id", json!("t-x"))).is_empty());
}

#[test]
fn every_comparison_operator_on_strings() {
    let c = db();
    assert_eq!(users(&c, &cmp("title", Ne, json!("50% off"))), ["b1"]);
    assert_eq!(users(&c, &cmp("userName", Co, json!("LIC"))), ["a1"]);
    assert_eq!(users(&c, &cmp("userName", Sw, json!("da"))), ["d1"]);
    assert_eq!(users(&c, &cmp("userName", Ew, json!("OB"))), ["b1"]);
    assert_eq!(users(&c, &cmp("userName", Gt, json!("BOB"))), ["c1", "d1"]);
    assert_eq!(
        users(&c, &cmp("userName", Ge, json!("bob"))),
        ["b1", "c1", "d1"]
    );
    assert_eq!(users(&c, &cmp("userName", Lt, json!("Bob"))), ["a1"]);
    assert_eq!(users(&c, &cmp("userName", Le, json!("bob"))), ["a1", "b1"]);
    assert_eq!(users(&c, &cmp("name.familyName", Gt, json!("C"))), ["a1"]);
    assert_eq!(teams(&c, &cmp("displayName", Sw, json!("eng"))), ["t-eng"]);
}

#[test]
fn like_wildcards_in_values_match_literally() {
    let c = db();
    // `%`, `_` and `\` are escaped, so they stand for themselves.
    assert_eq!(users(&c, &cmp("title", Co, json!("50%"))), ["a1"]);
    assert_eq!(users(&c, &cmp("nickName", Co, json!("a_b"))), ["a1"]);
    assert_eq!(users(&c, &cmp("userName", Ew, json!("%_\\"))), ["d1"]);
    assert_eq!(users(&c, &cmp("userName", Co, json!("\\"))), ["d1"]);
    assert!(users(&c, &cmp("userName", Sw, json!("_"))).is_empty());
    assert!(users(&c, &cmp("userName", Co, json!("%"))).len() == 1);
}

#[test]
fn substring_operators_on_case_exact_attributes_are_case_sensitive() {
    let c = db();
    assert_eq!(users(&c, &cmp("externalId", Sw, json!("Ext"))), ["a1"]);
    assert_eq!(users(&c, &cmp("externalId", Co, json!("ext"))), ["b1"]);
    // GLOB's own wildcards are escaped too.
    assert_eq!(users(&c, &cmp("externalId", Co, json!("[A]*"))), ["d1"]);
    assert!(users(&c, &cmp("externalId", Sw, json!("EXT-?"))).is_empty());
    assert!(users(&c, &cmp("externalId", Co, json!("*"))).len() == 1);
    assert_eq!(
        users(&c, &cmp("id", Ew, json!("1"))),
        ["a1", "b1", "c1", "d1"]
    );
}

#[test]
fn booleans_compare_as_booleans() {
    let c = db();
    assert_eq!(users(&c, &eq("active", json!(true))), ["a1", "c1", "d1"]);
    assert_eq!(users(&c, &eq("active", json!(false))), ["b1"]);
    assert_eq!(users(&c, &cmp("active", Ne, json!(true))), ["b1"]);
    assert_eq!(users(&c, &eq("emails.primary", json!(true))), ["a1", "b1"]);
    assert_eq!(
        users(&c, &vp("emails", eq("primary", json!(false)))),
        ["a1", "b1", "d1"]
    );
}

#[test]
fn wrong_value_types_and_boolean_ordering_are_invalid_filters() {
    for f in [
        cmp("active", Gt, json!(true)),
        cmp("active", Co, json!(true)),
        eq("active", json!("True")),
        eq("userName", json!(5)),
        eq("emails.primary", json!("yes")),
        cmp("x509Certificates.value", Gt, json!("MIIB")),
        cmp("userName", Gt, json!(null)),
        eq("meta.lastModified", json!(20260101)),
    ] {
        let detail = invalid_filter(compile_users(&f));
        assert!(!detail.is_empty(), "{f:?}");
    }
    let d = invalid_filter(compile_users(&eq("active", json!("True"))));
    assert!(d.contains("active") && d.contains("boolean"), "{d}");
}

#[test]
fn date_times_are_parsed_and_compared_in_time_order() {
    let c = db();
    let lm = "meta.lastModified";
    assert_eq!(
        users(&c, &cmp(lm, Gt, json!("2026-01-01T00:00:00Z"))),
        ["a1", "c1"]
    );
    // An offset is converted to UTC before comparing.
    assert_eq!(
        users(&c, &cmp(lm, Gt, json!("2026-01-01T00:59:59.998+01:00"))),
        ["a1", "b1", "c1"]
    );
    assert_eq!(
        users(&c, &eq(lm, json!("2025-12-31T23:59:59.999Z"))),
        ["b1"]
    );
    assert_eq!(
        users(&c, &eq(lm, json!("2025-12-31T23:59:59.999000Z"))),
        ["b1"]
    );
    // Finer than the stored milliseconds: bob (…59.999) is before …59.9995.
    let fine = json!("2025-12-31T23:59:59.9995Z");
    assert_eq!(users(&c, &cmp(lm, Ge, fine.clone())), ["a1", "c1"]);
    assert_eq!(users(&c, &cmp(lm, Le, fine.clone())), ["b1", "d1"]);
    assert!(users(&c, &eq(lm, fine.clone())).is_empty());
    assert_eq!(users(&c, &cmp(lm, Ne, fine)).len(), 4);
    assert_eq!(
        users(
            &c,
            &cmp("meta.created", Lt, json!("2025-01-01T00:00:00.001Z"))
        )
        .len(),
        4
    );
    assert_eq!(
        teams(&c, &cmp(lm, Ge, json!("2026-01-01T00:00:00Z"))),
        ["t-eng"]
    );
    for bad in [
        "yesterday",
        "2026-01-01",
        "2026-13-01T00:00:00Z",
        "2026-01-01T00:00:00",
    ] {
        let d = invalid_filter(compile_users(&cmp(lm, Gt, json!(bad))));
        assert!(d.contains("RFC 3339"), "{d}");
    }
    invalid_filter(compile_users(&cmp(lm, Sw, json!("2026"))));
}

#[test]
fn null_and_present_treat_absent_and_empty_values() {
    let c = db();
    assert_eq!(users(&c, &pr("displayName")), ["a1", "b1", "d1"]);
    assert_eq!(users(&c, &pr("nickName")), ["a1", "b1"]);
    assert_eq!(users(&c, &pr("externalId")), ["a1", "b1", "d1"]);
    assert_eq!(users(&c, &eq("title", json!(null))), ["c1", "d1"]);
    assert_eq!(users(&c, &cmp("title", Ne, json!(null))), ["a1", "b1"]);
    assert_eq!(users(&c, &pr("emails")), ["a1", "b1", "d1"]);
    assert_eq!(users(&c, &eq("emails", json!(null))), ["c1"]);
    assert_eq!(users(&c, &eq("emails.value", json!(null))), ["c1"]);
    assert_eq!(
        users(&c, &cmp("phoneNumbers.type", Ne, json!(null))),
        ["a1", "b1"]
    );
    assert_eq!(users(&c, &pr("name")), ["a1", "b1"]);
    assert_eq!(users(&c, &pr("addresses")), ["a1"]);
    assert_eq!(users(&c, &pr(&format!("{ENT}:manager"))), ["a1"]);
    assert_eq!(users(&c, &pr("meta")).len(), 4);
    assert_eq!(users(&c, &pr("groups")), ["a1", "b1", "c1"]);
    assert_eq!(teams(&c, &pr("members")), ["t-eng", "t-ops"]);
    assert_eq!(teams(&c, &not(pr("members"))), ["t-empty"]);
    assert_eq!(teams(&c, &pr(&format!("{TEAM}:description"))), ["t-eng"]);
}

#[test]
fn not_inverts_including_absent_attributes() {
    let c = db();
    // carol and dave have no title; `not` of a non-match is a match (RFC 7644 §3.4.2.2).
    assert_eq!(
        users(&c, &not(eq("title", json!("50% off")))),
        ["b1", "c1", "d1"]
    );
    assert_eq!(
        users(&c, &not(cmp("title", Ne, json!("50% off")))),
        ["a1", "c1", "d1"]
    );
    assert_eq!(users(&c, &not(not(eq("userName", json!("bob"))))), ["b1"]);
    assert_eq!(
        users(&c, &not(and(pr("title"), eq("active", json!(true))))),
        ["b1", "c1", "d1"]
    );
}

#[test]
fn and_or_follow_the_tree_shape() {
    let c = db();
    let alice = || eq("userName", json!("alice"));
    let bob = || eq("userName", json!("bob"));
    // userName eq "alice" or userName eq "bob" and active eq true
    let f = or(alice(), and(bob(), eq("active", json!(true))));
    assert_eq!(users(&c, &f), ["a1"]);
    // (userName eq "alice" or userName eq "bob") and active eq false
    let f = and(or(alice(), bob()), eq("active", json!(false)));
    assert_eq!(users(&c, &f), ["b1"]);
    let f = or(or(alice(), bob()), eq("userName", json!("carol")));
    assert_eq!(users(&c, &f), ["a1", "b1", "c1"]);
    let f = and(not(or(alice(), bob())), pr("displayName"));
    assert_eq!(users(&c, &f), ["d1"]);
}

#[test]
fn multi_valued_attributes_match_any_value() {
    let c = db();
    assert_eq!(
        users(&c, &eq("emails.value", json!("BOB@work.example"))),
        ["b1"]
    );
    assert_eq!(
        users(&c, &eq("emails", json!("alice@home.example"))),
        ["a1"]
    );
    assert_eq!(users(&c, &eq("emails.type", json!("home"))), ["a1", "b1"]);
    assert_eq!(
        users(&c, &cmp("emails.value", Ew, json!("@corp.example"))),
        ["a1", "b1", "d1"]
    );
    assert_eq!(users(&c, &eq("emails.display", json!("dave work"))), ["d1"]);
    assert_eq!(users(&c, &eq("phoneNumbers.type", json!("WORK"))), ["a1"]);
    assert_eq!(
        users(&c, &eq("addresses.locality", json!("oxford"))),
        ["a1"]
    );
    assert_eq!(users(&c, &eq("roles", json!("admin"))), ["a1"]);
    assert_eq!(
        users(&c, &cmp("roles.value", Ne, json!("admin"))),
        Vec::<String>::new()
    );
    // Org 2's alice has the same email.
    assert_eq!(
        users_in(&c, 2, &eq("emails.value", json!("alice@corp.example"))),
        ["a2"]
    );
}

#[test]
fn value_paths_hold_for_one_and_the_same_value() {
    let c = db();
    // bob has a corp address and a work address, but not one that is both.
    let f = vp(
        "emails",
        and(eq("type", json!("work")), cmp("value", Co, json!("@corp"))),
    );
    assert_eq!(users(&c, &f), ["a1", "d1"]);
    let f = and(
        eq("emails.type", json!("work")),
        cmp("emails.value", Co, json!("@corp")),
    );
    assert_eq!(users(&c, &f), ["a1", "b1", "d1"]);
    // A sub-attribute outside user_emails switches to the JSON array, same semantics.
    let f = vp("emails", and(eq("type", json!("work")), pr("display")));
    assert_eq!(users(&c, &f), ["d1"]);
    let f = vp("emails", not(eq("type", json!("work"))));
    assert_eq!(users(&c, &f), ["a1", "b1"]);
    let f = vp(
        "phoneNumbers",
        and(eq("type", json!("work")), cmp("value", Sw, json!("+1"))),
    );
    assert_eq!(users(&c, &f), ["a1"]);
    let f = vp(
        "name",
        and(eq("givenName", json!("alice")), pr("familyName")),
    );
    assert_eq!(users(&c, &f), ["a1"]);
    let f = vp(
        "meta",
        cmp("lastModified", Gt, json!("2026-01-01T00:00:00Z")),
    );
    assert_eq!(users(&c, &f), ["a1", "c1"]);
    let f = vp(&format!("{ENT}:manager"), eq("value", json!("b1")));
    assert_eq!(users(&c, &f), ["a1"]);
}

#[test]
fn schema_urns_qualify_paths() {
    let c = db();
    let dept = format!("{ENT}:department");
    assert_eq!(users(&c, &eq(&dept, json!("WONDER"))), ["a1", "b1"]);
    assert_eq!(
        users(&c, &eq(&format!("{ENT}:manager.value"), json!("b1"))),
        ["a1"]
    );
    let core = "urn:ietf:params:scim:schemas:core:2.0:User:userName";
    assert_eq!(users(&c, &eq(core, json!("bob"))), ["b1"]);
    // URN and sub-attribute left in the name, as a lenient parser might.
    let unsplit = Filter::Compare {
        path: AttrPath::simple(&format!("{}:manager.value", ENT.to_uppercase())),
        op: CompareOp::Eq,
        value: json!("b1"),
    };
    assert_eq!(users(&c, &unsplit), ["a1"]);
    let f = eq(
        &format!("{TEAM}:organizationRole"),
        json!("organization_owner"),
    );
    assert_eq!(teams(&c, &f), ["t-ops"]);
}

#[test]
fn groups_come_from_memberships_within_the_organization() {
    let c = db();
    assert_eq!(users(&c, &eq("groups.value", json!("t-eng"))), ["a1", "b1"]);
    assert_eq!(users(&c, &eq("groups", json!("t-ops"))), ["c1"]);
    assert_eq!(
        users(&c, &eq("groups.display", json!("ENGINEERING"))),
        ["a1", "b1"]
    );
    assert_eq!(
        users(&c, &eq("groups.type", json!("direct"))),
        ["a1", "b1", "c1"]
    );
    let f = vp(
        "groups",
        and(
            eq("value", json!("t-eng")),
            cmp("display", Sw, json!("eng")),
        ),
    );
    assert_eq!(users(&c, &f), ["a1", "b1"]);
    // alice has a (corrupt) membership in org 2's team: it must not show.
    assert!(users(&c, &eq("groups.value", json!("t-x"))).is_empty());
    assert!(users(&c, &eq("groups.display", json!("Org2 Team"))).is_empty());
    assert_eq!(users_in(&c, 2, &eq("groups.value", json!("t-x"))), ["a2"]);
}

#[test]
fn members_come_from_memberships_within_the_organization() {
    let c = db();
    assert_eq!(teams(&c, &eq("members.value", json!("a1"))), ["t-eng"]);
    assert_eq!(teams(&c, &eq("members", json!("c1"))), ["t-ops"]);
    // t-ops has a (corrupt) membership of org 2's alice: it must not show.
    assert!(teams(&c, &eq("members.value", json!("a2"))).is_empty());
    assert_eq!(
        teams(&c, &eq("members.display", json!("alice liddell"))),
        ["t-eng"]
    );
    // carol has no displayName, so her member display is her userName.
    assert_eq!(teams(&c, &eq("members.display", json!("CAROL"))), ["t-ops"]);
    assert_eq!(
        teams(&c, &eq("members.type", json!("User"))),
        ["t-eng", "t-ops"]
    );
    let f = vp(
        "members",
        and(eq("value", json!("a1")), cmp("display", Co, json!("lid"))),
    );
    assert_eq!(teams(&c, &f), ["t-eng"]);
    let f = vp("members", cmp("display", Co, json!("liddell")));
    assert_eq!(teams(&c, &f), ["t-eng"]);
    assert_eq!(teams_in(&c, 2, &eq("members.value", json!("a2"))), ["t-x"]);
    assert!(teams_in(&c, 2, &eq("members.value", json!("a1"))).is_empty());
}

#[test]
fn team_attributes_and_meta() {
    let c = db();
    assert_eq!(
        teams(&c, &eq("displayName", json!("ENGINEERING"))),
        ["t-eng"]
    );
    assert_eq!(teams(&c, &eq("externalId", json!("G-1"))), ["t-eng"]);
    assert!(teams(&c, &eq("externalId", json!("g-1"))).is_empty());
    let f = cmp(&format!("{TEAM}:description"), Co, json!("THINGS"));
    assert_eq!(teams(&c, &f), ["t-eng"]);
    assert_eq!(teams(&c, &eq("meta.resourceType", json!("Group"))).len(), 3);
    assert!(teams(&c, &eq("meta.resourceType", json!("User"))).is_empty());
    assert_eq!(teams(&c, &eq("meta.version", json!("W/\"2\""))), ["t-eng"]);
    assert_eq!(users(&c, &eq("meta.version", json!("W/\"10\""))), ["b1"]);
    assert_eq!(users(&c, &eq("meta.resourceType", json!("User"))).len(), 4);
}

#[test]
fn unknown_and_unfilterable_attributes_are_invalid_filters() {
    let d = invalid_filter(compile_users(&eq("nosuch", json!("x"))));
    assert!(d.contains("nosuch"), "{d}");
    let d = invalid_filter(compile_users(&eq("name.nosuch", json!("x"))));
    assert!(d.contains("name.nosuch"), "{d}");
    let d = invalid_filter(compile_users(&vp("emails", eq("nosuch", json!("x")))));
    assert!(d.contains("emails.nosuch"), "{d}");
    invalid_filter(compile_teams(&eq("userName", json!("x"))));
    invalid_filter(compile_users(&eq("members.value", json!("x"))));
    for f in [
        eq("password", json!("secret")),
        pr("password"),
        cmp("password", Sw, json!("s")),
        eq("meta.location", json!("x")),
        eq("groups.$ref", json!("x")),
        eq(
            &format!("{ACCESS}:organizationRole"),
            json!("ORGANIZATION_OWNER"),
        ),
        pr(&format!("{ACCESS}:workspaceRoles")),
        eq("name", json!("x")),
        eq("addresses", json!("x")),
        vp("emails", vp("emails", pr("value"))),
        vp("userName", pr("value")),
        vp("emails.value", pr("value")),
        vp("emails", pr("emails.value")),
    ] {
        invalid_filter(compile_users(&f));
    }
    invalid_filter(compile_teams(&eq("members.$ref", json!("x"))));
    invalid_filter(compile_teams(&pr(&format!("{TEAM}:workspaceRoles"))));
}

#[test]
fn injection_shaped_values_match_nothing_and_change_nothing() {
    let c = db();
    let evil = [
        "x' OR 1=1 --",
        "x\" OR 1=1 --",
        "'; DROP TABLE users; --",
        "') OR ('1'='1",
        "%' OR '%'='",
    ];
    for v in evil {
        for f in [
            eq("userName", json!(v)),
            cmp("userName", Co, json!(v)),
            cmp("externalId", Sw, json!(v)),
            eq("emails.value", json!(v)),
            vp("emails", eq("type", json!(v))),
            eq("name.givenName", json!(v)),
            eq("groups.value", json!(v)),
        ] {
            let compiled = compile_users(&f).unwrap();
            assert!(!compiled.sql.contains(v), "{}", compiled.sql);
            assert!(users(&c, &f).is_empty(), "{f:?}");
        }
        assert!(teams(&c, &eq("members.value", json!(v))).is_empty());
    }
    let n: i64 = c
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn size_and_depth_are_capped() {
    let c = db();
    let mut f = eq("userName", json!("u0"));
    for i in 1..150 {
        f = or(f, eq("userName", json!(format!("u{i}"))));
    }
    f = or(f, eq("userName", json!("bob")));
    assert_eq!(users(&c, &f), ["b1"]);
    let mut big = f.clone();
    for i in 0..100 {
        big = or(big, eq("emails.value", json!(format!("e{i}"))));
    }
    invalid_filter(compile_users(&big));
    // A 150-term `or` is one level deep: chains of one connective are flattened.
    let mut deep = eq("userName", json!("bob"));
    for _ in 0..40 {
        deep = not(deep);
    }
    let d = invalid_filter(compile_users(&deep));
    assert!(d.contains("nested"), "{d}");
    let mut shallow = eq("userName", json!("bob"));
    for _ in 0..10 {
        shallow = not(not(shallow));
    }
    assert_eq!(users(&c, &shallow), ["b1"]);
}

// ---- Query plans ----

/// The EXPLAIN QUERY PLAN details for the caller-shaped query, with the parameters bound (the
/// LIKE optimization looks at the bound pattern).
fn plan(conn: &Connection, table: &str, c: &SqlFilter) -> Vec<String> {
    let a = &table[..1];
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT {a}.pk FROM {table} {a} WHERE {a}.org_pk = ? AND ({})",
        c.sql
    );
    let mut params = vec![Value::Integer(1)];
    params.extend(c.params.iter().cloned());
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, String>(3))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// A database where org 1 holds thousands of users, analyzed the way `PRAGMA optimize` leaves
/// it. Without statistics SQLite guesses that `org_pk = ?` selects ten rows, and then walks the
/// organization instead of starting from a subquery's result.
fn big_org_db() -> Connection {
    let conn = db();
    conn.execute_batch(
        "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 5100)
         INSERT INTO users (pk, org_pk, id, user_name, user_name_fold, display_name,
                            display_name_fold, created, last_modified, data)
         SELECT i, 1, 'id' || i, 'user' || i, 'user' || i, 'User ' || i, 'user ' || i,
                '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', '{}'
         FROM n;
         INSERT INTO user_emails (user_pk, org_pk, value, value_fold, type, type_fold)
         SELECT pk, 1, user_name || '@example.com', user_name || '@example.com', 'work', 'work'
         FROM users WHERE pk >= 100;
         INSERT INTO teams (pk, org_pk, id, display_name, display_name_fold, scim_managed, created,
                            last_modified, data)
         SELECT pk, 1, 'team' || pk, 'Team ' || pk, 'team ' || pk, 1, '2025-01-01T00:00:00.000Z',
                '2025-01-01T00:00:00.000Z', '{}'
         FROM users WHERE pk BETWEEN 100 AND 599;
         INSERT INTO memberships (team_pk, user_pk)
         SELECT 100 + pk % 500, pk FROM users WHERE pk >= 100;
         ANALYZE;",
    )
    .unwrap();
    conn
}

/// True for a step that reads the outer table whole, or all of one organization (a search on
/// `org_pk` alone).
fn scans(step: &str, alias: &str) -> bool {
    let scan = format!("SCAN {alias}");
    (step.starts_with(&scan) && (step.len() == scan.len() || step[scan.len()..].starts_with(' ')))
        || (step.starts_with(&format!("SEARCH {alias} ")) && step.ends_with("(org_pk=?)"))
}

fn assert_indexed(conn: &Connection, table: &str, c: &SqlFilter) {
    let steps = plan(conn, table, c);
    assert!(
        !steps.iter().any(|d| scans(d, &table[..1])),
        "{}\n{steps:#?}",
        c.sql
    );
}

fn indexed_users_filters() -> Vec<Filter> {
    vec![
        eq("userName", json!("user150")),
        eq("externalId", json!("Ext-A")),
        eq("emails.value", json!("user150@example.com")),
        eq("emails", json!("user150@example.com")),
        // What the parser makes of `emails[type eq "work"].value eq "..."`.
        vp(
            "emails",
            and(
                eq("type", json!("work")),
                eq("value", json!("user150@example.com")),
            ),
        ),
        eq("displayName", json!("User 150")),
        eq("id", json!("id150")),
        cmp("meta.lastModified", Gt, json!("2026-01-01T00:00:00Z")),
        cmp("meta.created", Le, json!("2024-01-01T00:00:00Z")),
        cmp("userName", Sw, json!("user15")),
        // Non-ASCII operands are folded before the index is read.
        eq("userName", json!("ÜSER150")),
        cmp("userName", Sw, json!("ÜSER15")),
        cmp("displayName", Sw, json!("User_%\\")),
        eq("groups.value", json!("team150")),
        and(eq("userName", json!("user150")), eq("active", json!(true))),
        and(
            eq("emails.value", json!("user150@example.com")),
            eq("active", json!(true)),
        ),
    ]
}

fn indexed_teams_filters() -> Vec<Filter> {
    vec![
        eq("displayName", json!("Team 150")),
        eq("id", json!("team150")),
        eq("externalId", json!("G-1")),
        eq("members.value", json!("id150")),
        eq("members", json!("id150")),
        vp("members", and(eq("value", json!("id150")), pr("display"))),
        cmp("meta.lastModified", Gt, json!("2026-01-01T00:00:00Z")),
        cmp("displayName", Sw, json!("Team 15")),
    ]
}

#[test]
fn common_lookups_start_from_their_own_index() {
    let c = big_org_db();
    for f in indexed_users_filters() {
        assert_indexed(&c, "users", &compile_users(&f).unwrap());
    }
    for f in indexed_teams_filters() {
        assert_indexed(&c, "teams", &compile_teams(&f).unwrap());
    }
}

#[test]
fn common_lookups_never_scan_the_table_even_without_statistics() {
    let c = db();
    let bare = |steps: &[String], a: &str| {
        steps
            .iter()
            .any(|d| d == &format!("SCAN {a}") || d.starts_with(&format!("SCAN {a} ")))
    };
    for f in indexed_users_filters() {
        let sql = compile_users(&f).unwrap();
        let steps = plan(&c, "users", &sql);
        assert!(!bare(&steps, "u"), "{}\n{steps:#?}", sql.sql);
    }
    for f in indexed_teams_filters() {
        let sql = compile_teams(&f).unwrap();
        let steps = plan(&c, "teams", &sql);
        assert!(!bare(&steps, "t"), "{}\n{steps:#?}", sql.sql);
    }
}

#[test]
fn plan_check_catches_an_organization_scan() {
    // The check must reject what it exists to reject: `title` has no column or index.
    let c = big_org_db();
    let steps = plan(&c, "users", &compile_users(&pr("title")).unwrap());
    assert!(steps.iter().any(|d| scans(d, "u")), "{steps:#?}");
    let sql = compile_users(&vp("emails", cmp("value", Co, json!("user15")))).unwrap();
    assert!(plan(&c, "users", &sql).iter().any(|d| scans(d, "u")));
}

#[test]
fn results_are_right_on_the_big_organization() {
    let c = big_org_db();
    assert_eq!(
        users(&c, &eq("emails.value", json!("USER150@example.com"))),
        ["id150"]
    );
    assert_eq!(users(&c, &eq("groups.value", json!("team150"))).len(), 10);
    assert_eq!(teams(&c, &eq("members.value", json!("id550"))), ["team150"]);
    assert_eq!(
        users(&c, &cmp("displayName", Sw, json!("user 51"))).len(),
        11
    );
}

// ---- Sorting ----

fn sorted(conn: &Connection, table: &str, expr: &str, descending: bool) -> Vec<String> {
    let a = &table[..1];
    let sql = format!(
        "SELECT {a}.id FROM {table} {a} WHERE {a}.org_pk = ? ORDER BY {}",
        order_by(expr, descending, &format!("{a}.pk"))
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let rows = stmt.query_map([1], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn users_sorted(conn: &Connection, p: &str, descending: bool) -> Vec<String> {
    sorted(
        conn,
        "users",
        &users_sort_expr(&path(p)).unwrap(),
        descending,
    )
}

#[test]
fn sort_orders_case_insensitively_with_absent_values_last_ascending() {
    let c = db();
    assert_eq!(
        users_sorted(&c, "userName", false),
        ["a1", "b1", "c1", "d1"]
    );
    assert_eq!(users_sorted(&c, "userName", true), ["d1", "c1", "b1", "a1"]);
    // "builder" < "Liddell" case-insensitively; carol and dave have no name.
    assert_eq!(
        users_sorted(&c, "name.familyName", false),
        ["b1", "a1", "c1", "d1"]
    );
    // Absent values first when descending; among them the pk tiebreaker runs descending too.
    assert_eq!(
        users_sorted(&c, "name.familyName", true),
        ["d1", "c1", "a1", "b1"]
    );
    assert_eq!(
        users_sorted(&c, "displayName", false),
        ["a1", "b1", "d1", "c1"]
    );
    assert_eq!(
        users_sorted(&c, "displayName", true),
        ["c1", "d1", "b1", "a1"]
    );
    // Case-exact: "EXT-[A]*" < "Ext-A" < "ext-b" in binary order.
    assert_eq!(
        users_sorted(&c, "externalId", false),
        ["d1", "a1", "b1", "c1"]
    );
    assert_eq!(
        users_sorted(&c, &format!("{ENT}:department"), false),
        ["a1", "b1", "c1", "d1"]
    );
}

#[test]
fn sort_by_multi_valued_attribute_uses_the_primary_value_else_the_first() {
    let c = db();
    // alice: alice@corp (primary); bob: bob@work (primary, second); dave: dave@corp (first).
    assert_eq!(
        users_sorted(&c, "emails.value", false),
        ["a1", "b1", "d1", "c1"]
    );
    assert_eq!(users_sorted(&c, "emails", false), ["a1", "b1", "d1", "c1"]);
    assert_eq!(
        users_sorted(&c, "emails.type", false),
        ["a1", "b1", "d1", "c1"]
    );
    // alice "+1 555 0100", bob "+1 555 0200".
    assert_eq!(
        users_sorted(&c, "phoneNumbers", true),
        ["d1", "c1", "b1", "a1"]
    );
    assert_eq!(
        users_sorted(&c, "groups.display", false),
        ["a1", "b1", "c1", "d1"]
    );
    let t = |p: &str, desc| sorted(&c, "teams", &teams_sort_expr(&path(p)).unwrap(), desc);
    assert_eq!(t("members.value", false), ["t-eng", "t-ops", "t-empty"]);
    assert_eq!(t("displayName", true), ["t-ops", "t-eng", "t-empty"]);
}

#[test]
fn sort_by_meta_and_booleans() {
    let c = db();
    // Versions 3, 10, 2, 1 sort as numbers.
    assert_eq!(
        users_sorted(&c, "meta.version", false),
        ["d1", "c1", "a1", "b1"]
    );
    assert_eq!(
        users_sorted(&c, "meta.lastModified", true),
        ["c1", "a1", "b1", "d1"]
    );
    assert_eq!(users_sorted(&c, "active", false), ["b1", "a1", "c1", "d1"]);
}

#[test]
fn sort_by_an_unknown_or_complex_attribute_is_invalid_value() {
    for p in [
        "nosuch",
        "name",
        "meta",
        "password",
        "meta.location",
        "groups.$ref",
    ] {
        match users_sort_expr(&path(p)) {
            Err(Error::InvalidValue(d)) => assert!(d.contains(p), "{d}"),
            other => panic!("{p}: {other:?}"),
        }
    }
    assert!(matches!(
        users_sort_expr(&path(&format!("{ACCESS}:organizationRole"))),
        Err(Error::InvalidValue(_))
    ));
    assert!(matches!(
        teams_sort_expr(&path("userName")),
        Err(Error::InvalidValue(_))
    ));
}

#[test]
fn sort_by_user_name_reads_the_index_in_order() {
    let c = db();
    for desc in [false, true] {
        let expr = users_sort_expr(&path("userName")).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT u.pk FROM users u WHERE u.org_pk = ? ORDER BY {}",
            order_by(&expr, desc, "u.pk")
        );
        let mut stmt = c.prepare(&sql).unwrap();
        let steps: Vec<String> = stmt
            .query_map([1], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            !steps.iter().any(|d| d.contains("TEMP B-TREE")),
            "{sql}\n{steps:#?}"
        );
    }
}

#[test]
fn sort_expressions_take_no_parameters() {
    for p in [
        "userName",
        "emails.value",
        "groups.display",
        "name.givenName",
        "meta.version",
    ] {
        assert!(!users_sort_expr(&path(p)).unwrap().contains('?'));
    }
    assert!(
        !teams_sort_expr(&path("members.display"))
            .unwrap()
            .contains('?')
    );
}

// ---- Random trees ----

// The crate's seeded generator (SplitMix64): enough randomness for tree shapes.
use crate::rng::Rng;

/// Every path the catalogue offers for a resource type, plus a few wrong ones.
fn all_paths(rt: &crate::model::schema::ResourceType) -> Vec<String> {
    let mut out = vec![
        "nosuch".to_string(),
        "name.nosuch".to_string(),
        "meta".into(),
    ];
    let schemas = std::iter::once(rt.core).chain(rt.extensions.iter().copied());
    for (i, schema) in schemas.enumerate() {
        let prefix = if i == 0 {
            String::new()
        } else {
            format!("{}:", schema.id)
        };
        let attrs = schema.attributes.iter().chain(
            crate::model::schema::COMMON_ATTRIBUTES
                .iter()
                .filter(|_| i == 0),
        );
        for attr in attrs {
            out.push(format!("{prefix}{}", attr.name));
            for sub in attr.sub {
                out.push(format!("{prefix}{}.{}", attr.name, sub.name));
            }
        }
    }
    out
}

fn random_value(rng: &mut Rng) -> Json {
    match rng.below(12) {
        0 => json!(null),
        1 => json!(true),
        2 => json!(false),
        3 => json!(42),
        4 => json!(-1.5),
        5 => json!("2026-01-01T00:00:00Z"),
        6 => json!("2025-12-31T23:59:59.9995+02:00"),
        7 => json!("x' OR 1=1 --"),
        8 => json!("%_\\[*?"),
        9 => json!(""),
        10 => json!("alice"),
        _ => json!("W/\"3\""),
    }
}

fn random_filter(rng: &mut Rng, paths: &[String], depth: usize, in_value_path: bool) -> Filter {
    let ops = [Ne, Co, Sw, Ew, Gt, Ge, Lt, Le, CompareOp::Eq];
    let leaf_path = |rng: &mut Rng| {
        if in_value_path {
            let sub = *rng.pick(&["value", "type", "primary", "display", "locality", "nosuch"]);
            path(sub)
        } else {
            let picked: &String = rng.pick(paths);
            let mut p = path(picked);
            if rng.below(5) == 0 {
                p.name = p.name.to_uppercase();
            }
            p
        }
    };
    let choice = if depth == 0 {
        rng.below(2)
    } else {
        rng.below(7)
    };
    match choice {
        0 => Filter::Compare {
            path: leaf_path(rng),
            op: *rng.pick(&ops),
            value: random_value(rng),
        },
        1 => Filter::Present(leaf_path(rng)),
        2 => and(
            random_filter(rng, paths, depth - 1, in_value_path),
            random_filter(rng, paths, depth - 1, in_value_path),
        ),
        3 => or(
            random_filter(rng, paths, depth - 1, in_value_path),
            random_filter(rng, paths, depth - 1, in_value_path),
        ),
        4 => not(random_filter(rng, paths, depth - 1, in_value_path)),
        _ => {
            let p = *rng.pick(&[
                "emails",
                "phoneNumbers",
                "addresses",
                "groups",
                "members",
                "name",
                "meta",
                "userName",
                "x509Certificates",
            ]);
            vp(p, random_filter(rng, paths, depth - 1, true))
        }
    }
}

#[test]
fn random_filters_compile_to_sql_that_runs_or_fail_cleanly() {
    let c = db();
    let mut rng = Rng(0x5C1B_0C5E);
    let mut ran = 0;
    for (table, rt) in [("users", &USER_TYPE), ("teams", &GROUP_TYPE)] {
        let paths = all_paths(rt);
        for _ in 0..1500 {
            let depth = 1 + rng.below(4);
            let f = random_filter(&mut rng, &paths, depth, false);
            let compiled = if table == "users" {
                compile_users(&f)
            } else {
                compile_teams(&f)
            };
            match compiled {
                Ok(sql) => {
                    run(&c, table, 1, &sql).unwrap_or_else(|e| panic!("{f:?}\n{}\n{e}", sql.sql));
                    ran += 1;
                }
                Err(Error::InvalidFilter(detail)) => assert!(!detail.is_empty()),
                Err(other) => panic!("{f:?}: {other:?}"),
            }
        }
        for p in &paths {
            match if table == "users" {
                users_sort_expr(&path(p))
            } else {
                teams_sort_expr(&path(p))
            } {
                Ok(expr) => {
                    sorted(&c, table, &expr, false);
                    sorted(&c, table, &expr, true);
                }
                Err(Error::InvalidValue(_)) => {}
                Err(other) => panic!("{p}: {other:?}"),
            }
        }
    }
    // The generator is useful only if a fair share of trees are valid.
    assert!(ran > 600, "only {ran} trees compiled");
}

// ---- Random filter strings ----
//
// The trees above are built by hand; these are strings, so the parser decides what they mean
// (precedence, case, whitespace, escapes, value paths with a trailing sub-attribute) and the
// property covers the whole path a `filter=` query takes: every string the parser accepts
// compiles, or fails with `InvalidFilter`, and the SQL it compiles to prepares and runs.

/// A string literal as a client writes it: JSON-escaped, sometimes with `\u` escapes.
fn random_string_literal(rng: &mut Rng) -> String {
    let text = *rng.pick(&[
        "test.user@okta.local",
        "Test_User_ab6490ee",
        "work",
        "",
        "O'Malley",
        "x' OR 1=1 --",
        "%_\\[*?]",
        "\"quoted\"",
        "Jérôme 😀",
        "2011-05-13T04:42:34Z",
        "2025-12-31T23:59:59.9995+02:00",
        "W/\"3\"",
        "ORGANIZATION_MEMBER",
        "t-eng",
        "a\u{0}b",
    ]);
    let json = Json::String(text.to_string()).to_string();
    if rng.below(4) == 0 {
        // Spell the first non-ASCII-safe character as \uXXXX, as some clients do.
        let mut out = String::from("\"");
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out.push('"');
        out
    } else {
        json
    }
}

fn random_value_text(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=4 => random_string_literal(rng),
        5 => rng.pick(&["true", "False", "TRUE", "false"]).to_string(),
        6 => rng.pick(&["null", "NULL"]).to_string(),
        7 => rng.pick(&["0", "-12", "1.5e3", "42", "-0.25"]).to_string(),
        8 => rng
            .pick(&["9223372036854775807", "1e308", "-9223372036854775809"])
            .to_string(),
        _ => random_string_literal(rng),
    }
}

/// Space between tokens: usually one, sometimes more or a tab (the parser takes any).
fn gap(rng: &mut Rng) -> &'static str {
    const GAPS: [&str; 7] = [" ", " ", " ", " ", "  ", "\t", " \n"];
    GAPS[rng.below(GAPS.len())]
}

fn random_case(rng: &mut Rng, s: &str) -> String {
    match rng.below(6) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        _ => s.to_string(),
    }
}

/// A comparison that fits the attribute's type, so that whole trees compile often enough:
/// (path, values that suit it).
const TYPED_LEAVES: &[(&str, &[&str])] = &[
    (
        "userName",
        &[
            r#""test.user@okta.local""#,
            r#""TEST.USER@OKTA.LOCAL""#,
            r#""%_\\""#,
        ],
    ),
    ("displayName", &[r#""Engineering""#, r#""Test User""#]),
    (
        "externalId",
        &[r#""00ujl29u0le5T6Aj10h7""#, r#""8aa1a0c0""#],
    ),
    ("id", &[r#""a1""#, r#""t-eng""#]),
    ("active", &["true", "False"]),
    ("title", &[r#""50% off""#]),
    ("name.givenName", &[r#""Test""#, r#""J\u00e9r\u00f4me""#]),
    ("emails", &[r#""test.user@okta.local""#]),
    (
        "emails.value",
        &[r#""okta.local""#, r#""Test_User_fd0ea19b@testuser.com""#],
    ),
    ("emails.type", &[r#""work""#]),
    ("emails.primary", &["true"]),
    ("phoneNumbers.value", &[r#""+1 555 0100""#]),
    ("addresses.locality", &[r#""Oxford""#]),
    ("groups.value", &[r#""t-eng""#]),
    ("groups.display", &[r#""Engineering""#]),
    ("members.value", &[r#""a1""#]),
    ("members.display", &[r#""Test""#]),
    (
        "meta.lastModified",
        &[
            r#""2011-05-13T04:42:34Z""#,
            r#""2025-12-31T23:59:59.9995+02:00""#,
        ],
    ),
    ("meta.created", &[r#""2025-01-01T00:00:00Z""#]),
    ("meta.version", &[r#""W/\"3\"""#]),
    ("meta.resourceType", &[r#""User""#, r#""Group""#]),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        &[r#""7""#],
    ),
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        &[r#""b1""#],
    ),
    (
        "urn:scimbox:params:scim:schemas:extension:team:2.0:Group:organizationRole",
        &[r#""ORGANIZATION_MEMBER""#],
    ),
];

/// The same inside `attr[...]`, where names are sub-attributes of one value.
const TYPED_SUB_LEAVES: &[(&str, &[&str])] = &[
    ("value", &[r#""test.user@okta.local""#, r#""t-eng""#]),
    ("type", &[r#""work""#, r#""home""#]),
    ("primary", &["true", "false"]),
    ("display", &[r#""Test User""#]),
];

fn random_filter_text(rng: &mut Rng, paths: &[String], depth: usize, inside: bool) -> String {
    let ops = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"];
    let comparison = |rng: &mut Rng, path: String, value: Option<&str>| -> String {
        if rng.below(5) == 0 {
            return format!("{path}{}{}", gap(rng), random_case(rng, "pr"));
        }
        let value = match value {
            Some(v) => v.to_string(),
            None => random_value_text(rng),
        };
        let op = if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
            *rng.pick(&["eq", "ne"])
        } else {
            *rng.pick(&ops)
        };
        let op = random_case(rng, op);
        format!("{path}{}{op}{}{value}", gap(rng), gap(rng))
    };
    let leaf = |rng: &mut Rng| -> String {
        if rng.below(2) == 0 {
            let (path, values) = *rng.pick(if inside {
                TYPED_SUB_LEAVES
            } else {
                TYPED_LEAVES
            });
            let value = *rng.pick(values);
            let path = random_case(rng, path);
            comparison(rng, path, Some(value))
        } else if inside {
            let sub = *rng.pick(&["value", "type", "primary", "display", "givenName", "nosuch"]);
            let sub = random_case(rng, sub);
            comparison(rng, sub, None)
        } else {
            let p: &String = rng.pick(paths);
            let p = random_case(rng, p);
            comparison(rng, p, None)
        }
    };
    let choice = if depth == 0 {
        rng.below(2)
    } else {
        rng.below(8)
    };
    match choice {
        0 | 1 => leaf(rng),
        2 | 3 => {
            let joiner = random_case(rng, if choice == 2 { "and" } else { "or" });
            let a = random_filter_text(rng, paths, depth - 1, inside);
            let b = random_filter_text(rng, paths, depth - 1, inside);
            format!("{a}{}{joiner}{}{b}", gap(rng), gap(rng))
        }
        4 => {
            let inner = random_filter_text(rng, paths, depth - 1, inside);
            let not = random_case(rng, "not");
            format!("{not}{}({inner})", *rng.pick(&["", " "]))
        }
        5 => format!("({})", random_filter_text(rng, paths, depth - 1, inside)),
        _ if inside => leaf(rng),
        _ => {
            let outer = *rng.pick(&[
                "emails",
                "phoneNumbers",
                "addresses",
                "groups",
                "members",
                "name",
                "meta",
                "ims",
                "userName",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            ]);
            let inner = random_filter_text(rng, paths, depth - 1, true);
            let mut out = format!("{}[{inner}]", random_case(rng, outer));
            if rng.below(3) == 0 {
                // Entra's `emails[type eq "work"].value eq "x"`.
                let sub = *rng.pick(&["value", "display", "type"]);
                out = comparison(rng, format!("{out}.{sub}"), None);
            }
            out
        }
    }
}

#[test]
fn every_filter_string_the_parser_accepts_compiles_to_sql_that_sqlite_runs() {
    use crate::scim::filter::parse_filter;

    let c = db();
    let mut rng = Rng(0xF117_E25C_1B0C);
    let mut paths = all_paths(&USER_TYPE);
    paths.extend(all_paths(&GROUP_TYPE));
    let (mut parsed, mut ran) = (0, 0);
    let cases = 8000;
    for _ in 0..cases {
        let depth = 1 + rng.below(4);
        let mut text = random_filter_text(&mut rng, &paths, depth, false);
        if rng.below(10) == 0 {
            // A near miss: one character dropped, which the parser must refuse or read sanely.
            let at = rng.below(text.chars().count());
            text = text
                .chars()
                .enumerate()
                .filter_map(|(i, ch)| (i != at).then_some(ch))
                .collect();
        }
        let f = match parse_filter(&text) {
            Ok(f) => f,
            Err(Error::InvalidFilter(detail)) => {
                assert!(!detail.is_empty(), "{text:?}");
                continue;
            }
            Err(other) => panic!("{text:?}: {other:?}"),
        };
        parsed += 1;
        for (table, compiled) in [("users", compile_users(&f)), ("teams", compile_teams(&f))] {
            match compiled {
                Ok(sql) => {
                    run(&c, table, 1, &sql)
                        .unwrap_or_else(|e| panic!("{text:?} on {table}\n{}\n{e}", sql.sql));
                    ran += 1;
                }
                Err(Error::InvalidFilter(detail)) => assert!(!detail.is_empty(), "{text:?}"),
                Err(other) => panic!("{text:?} on {table}: {other:?}"),
            }
        }
    }
    eprintln!("{parsed} of {cases} strings parsed, {ran} compiled filters ran");
    // The grammar is only useful if most strings parse and a fair share compile.
    assert!(
        parsed > cases * 3 / 4,
        "only {parsed} of {cases} strings parsed"
    );
    assert!(ran > cases / 3, "only {ran} compiled filters ran");
}

/// On PostgreSQL the lookups the README calls indexed are index scans too (the folded columns
/// compare by code point, so `COLLATE "C"` patterns and sorts can use their index).
#[test]
fn postgres_lookups_use_their_indexes() {
    let Some(url) = super::testing::fresh_postgres() else {
        return;
    };
    let store =
        super::Store::open_target(&super::target::Target::Postgres(url), &Default::default())
            .unwrap();
    // Enough rows, analyzed, for the planner's choice to mean something.
    store
        .write_blocking(|pc| {
            pc.execute_batch(
                "INSERT INTO orgs (id, name, created) VALUES ('o1', 'One', 'now');
                 INSERT INTO users (org_pk, id, user_name, user_name_fold, external_id,
                                    created, last_modified, version, data)
                 SELECT 1, 'u' || i, 'User' || i, 'user' || i, 'x' || i, 'now', 'now', 1, '{}'
                 FROM generate_series(1, 2000) i;
                 INSERT INTO user_emails (user_pk, org_pk, value, value_fold)
                 SELECT pk, 1, user_name || '@b.c', user_name_fold || '@b.c' FROM users;
                 ANALYZE;",
            )
        })
        .unwrap();
    let cases = [
        (eq("userName", json!("Alice")), "users_user_name_fold"),
        (
            cmp("userName", CompareOp::Sw, json!("Al")),
            "users_user_name_fold",
        ),
        (eq("emails.value", json!("a@b.c")), "user_emails_value_fold"),
        (eq("externalId", json!("x")), "users_external_id"),
    ];
    for (f, index) in cases {
        let c = compile_users_on(Engine::Postgres, &USER_TYPE, &f).unwrap();
        let plan: Vec<String> = store
            .write_blocking(move |pc| {
                pc.execute_batch("SET LOCAL enable_seqscan = off")?;
                let mut params = vec![Value::Integer(1)];
                params.extend(c.params);
                pc.query_map(
                    &format!(
                        "EXPLAIN SELECT u.id FROM users u WHERE u.org_pk = ? AND ({})",
                        c.sql
                    ),
                    &param_list(&params),
                    |r| r.get(0),
                )
            })
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains(index), "{f:?}:\n{plan}");
    }
    let sort =
        super::filter_sql::users_sort_expr_on(Engine::Postgres, &USER_TYPE, &path("userName"))
            .unwrap();
    let plan: Vec<String> = store
        .write_blocking(move |pc| {
            pc.execute_batch("SET LOCAL enable_seqscan = off")?;
            pc.query_map(
                &format!(
                    "EXPLAIN SELECT u.id FROM users u WHERE u.org_pk = ? ORDER BY {} LIMIT 10",
                    order_by(&sort, false, "u.pk")
                ),
                params![1],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert!(plan.join("\n").contains("users_user_name_fold"), "{plan:?}");
    store.close();
}
