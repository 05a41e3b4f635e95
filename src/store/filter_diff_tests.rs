//! The differential test of the two filter engines: generated filters over generated users
//! and Teams, run by the SQL compiler against a real SQLite store and by the in-memory matcher
//! over the same resources as the server renders them. Both must give the same ids, or the
//! same error (RFC 7644 §3.4.2.2 has one meaning; `model::typing` is the one typing pass).
//! When `SCIMBOX_TEST_POSTGRES` names a server, the same rows are copied into a fresh
//! PostgreSQL database (whose default collation is ICU's en-US, not code-point order) and
//! every filter also runs there, compiled in PostgreSQL's dialect, against the same answer.
//!
//! Seeded: the seed is printed, and `SCIMBOX_DIFF_SEED` replays one; `SCIMBOX_DIFF_CASES` sets
//! how many filters per resource type (default 3,000). A failure prints the filter, its SQL and
//! the resources on which the engines disagree.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::sql::Value as SqlValue;
use serde_json::{Value as Json, json};

use super::filter_sql::{SqlFilter, compile_teams_on, compile_users_on};
use super::sql::{Engine, param_list, params};
use super::{Store, StoreOptions, teams, users};
use crate::directory::teams::{Team, team_access};
use crate::directory::users::User;
use crate::error::{Error, Result};
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::matcher::matches_resource;
use crate::model::schema::{Attr, AttrType, GROUP_TYPE, ResourceType, USER_TYPE};
use crate::rng::Rng;

const BASE: &str = "https://scim.example/scim/v2";

/// True `percent` times in a hundred.
fn chance(rng: &mut Rng, percent: u64) -> bool {
    rng.next_u64() % 100 < percent
}

/// Words with the case-folding traps: Turkish dotted and dotless i, German ß, Greek final and
/// medial sigma, accented Latin (precomposed and decomposed), the Kelvin sign, ASCII.
const WORDS: &[&str] = &[
    "émile",
    "ÉMILE",
    "Emile",
    "e\u{301}mile",
    "straße",
    "STRASSE",
    "Strasse",
    "ẞ",
    "ıstanbul",
    "İstanbul",
    "istanbul",
    "ISTANBUL",
    "οδυσσευς",
    "ΟΔΥΣΣΕΥΣ",
    "Σίσυφος",
    "\u{212A}elvin",
    "kelvin",
    "Zoë",
    "ZOË",
    "alice",
    "Alice",
    "bob",
    "50%_off",
    "a*b?[c]",
    "",
];

const TYPES: &[&str] = &["work", "Work", "HOME", "other", "Straße"];

/// Stored times: fixed width, milliseconds, UTC (as the store writes them).
const TIMES: &[&str] = &[
    "2025-12-31T23:59:59.999Z",
    "2026-01-01T00:00:00.000Z",
    "2026-01-01T00:00:00.001Z",
    "2026-06-15T12:30:00.500Z",
    "2024-02-29T08:00:00.000Z",
];

fn word(rng: &mut Rng) -> String {
    let a = rng.pick(WORDS);
    if chance(rng, 40) {
        format!("{a} {}", rng.pick(WORDS))
    } else {
        a.to_string()
    }
}

fn user_body(rng: &mut Rng, n: usize) -> Json {
    let mut u = serde_json::Map::new();
    u.insert("userName".into(), json!(format!("{}{n}", word(rng))));
    let name = json!({"givenName": word(rng), "familyName": word(rng)});
    let optional = [
        ("displayName", json!(word(rng))),
        ("title", json!(word(rng))),
        ("nickName", json!(word(rng))),
        ("externalId", json!(word(rng))),
        ("active", json!(chance(rng, 60))),
        ("name", name),
    ];
    for (key, v) in optional {
        if chance(rng, 70) {
            u.insert(key.into(), v);
        }
    }
    let mut emails = Vec::new();
    let primary = rng.below(4);
    for i in 0..rng.below(4) {
        let mut e = serde_json::Map::new();
        if chance(rng, 85) {
            e.insert(
                "value".into(),
                json!(format!("{}@{}", word(rng), word(rng))),
            );
        }
        if chance(rng, 70) {
            e.insert("type".into(), json!(rng.pick(TYPES)));
        }
        if i == primary {
            e.insert("primary".into(), json!(true));
        } else if chance(rng, 20) {
            e.insert("primary".into(), json!(false));
        }
        emails.push(Json::Object(e));
    }
    if !emails.is_empty() {
        u.insert("emails".into(), Json::Array(emails));
    }
    if chance(rng, 40) {
        u.insert(
            "phoneNumbers".into(),
            json!([{"value": word(rng), "type": rng.pick(TYPES)}]),
        );
    }
    if chance(rng, 50) {
        u.insert(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into(),
            json!({"department": word(rng), "manager": {"value": word(rng)}}),
        );
    }
    Json::Object(u)
}

struct Fixture {
    store: Store,
    /// The same rows on PostgreSQL, when a server is there.
    postgres: Option<Store>,
    _dir: tempfile::TempDir,
    users: Vec<(String, Json)>,
    teams: Vec<(String, Json)>,
}

/// Two organizations through the store's own write path (canonical form, folded columns,
/// email rows, memberships); org 2 exists so that isolation is part of every SQL answer.
fn fixture(rng: &mut Rng) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("diff.db"), &StoreOptions::default()).unwrap();
    let mut bodies = Vec::new();
    for n in 0..60 {
        bodies.push((1 + n as i64 % 2, user_body(rng, n), *rng.pick(TIMES)));
    }
    let team_names: Vec<(i64, String, u64)> = (0..16)
        .map(|n| (1 + n % 2, format!("{} {n}", word(rng)), rng.next_u64()))
        .collect();
    store
        .write_blocking(move |conn| {
            conn.execute_batch(
                "INSERT INTO orgs (pk, id, name, created) VALUES
                 (1, 'o1', 'One', '2025-01-01T00:00:00.000Z'),
                 (2, 'o2', 'Two', '2025-01-01T00:00:00.000Z')",
            )?;
            let mut pks: Vec<(i64, i64)> = Vec::new();
            for (i, (org, body, now)) in bodies.iter().enumerate() {
                let mut data = crate::model::resource::normalize(&USER_TYPE, body)?;
                data.entry("active").or_insert(Json::Bool(true));
                let cols =
                    crate::directory::users::columns(&crate::model::schema::USER_TYPE, &data);
                let text = Json::Object(data).to_string();
                match users::insert(conn, *org, &format!("u{i}"), &cols, &text, now) {
                    Ok(pk) => pks.push((*org, pk)),
                    // Two generated names that fold alike: the second is refused, as it should.
                    Err(Error::Uniqueness(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            for (i, (org, name, bits)) in team_names.iter().enumerate() {
                let body = json!({"displayName": name,
                    "urn:scimbox:params:scim:schemas:extension:team:2.0:Group":
                        {"description": name.to_uppercase()}});
                let data = crate::model::resource::normalize(&GROUP_TYPE, &body)?;
                let cols = crate::directory::teams::columns(&data);
                let text = Json::Object(data).to_string();
                let now = TIMES[i % TIMES.len()];
                let row = match teams::insert(conn, *org, &format!("t{i}"), &cols, &text, true, now)
                {
                    Ok(row) => row,
                    Err(Error::Uniqueness(_)) => continue,
                    Err(e) => return Err(e),
                };
                if bits % 3 == 0 {
                    teams::set_team_org_role(conn, row.pk, "ORGANIZATION_OWNER")?;
                }
                for (j, (user_org, pk)) in pks.iter().enumerate() {
                    if user_org == org && (bits >> (j % 60)) & 1 == 1 {
                        teams::add_member(conn, row.pk, *pk)?;
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    // The resources exactly as the server renders them (org 1 only: the SQL runs in org 1).
    let (users, teams) = store
        .read_blocking(|conn| {
            let mut out_users = Vec::new();
            let ids: Vec<String> = conn.query_map(
                "SELECT id FROM users WHERE org_pk = 1",
                super::sql::params![],
                |r| r.get(0),
            )?;
            for id in ids {
                let Some(row) = users::get(conn, 1, &id)? else {
                    continue;
                };
                let teams = users::teams_of(conn, row.pk)?;
                let user = User { row, teams };
                let json: Json = serde_json::from_str(&crate::scim::users::render(&user, BASE))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                out_users.push((id, json));
            }
            let mut out_teams = Vec::new();
            let ids: Vec<String> = conn.query_map(
                "SELECT id FROM teams WHERE org_pk = 1",
                super::sql::params![],
                |r| r.get(0),
            )?;
            for id in ids {
                let Some(row) = teams::get(conn, 1, &id)? else {
                    continue;
                };
                let access = team_access(conn, &row)?.to_json();
                let members = Some(teams::members(conn, row.pk)?);
                let team = Team { row, members };
                let json: Json =
                    serde_json::from_str(&crate::scim::groups::render(&team, BASE, Some(&access)))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                out_teams.push((id, json));
            }
            Ok((out_users, out_teams))
        })
        .unwrap();
    let postgres = copy_to_postgres(&store);
    Fixture {
        store,
        postgres,
        _dir: dir,
        users,
        teams,
    }
}

/// The tables filters read, copied row for row (pks included) from the SQLite store into a
/// fresh PostgreSQL database, or `None` without a server. (The copy runs no store function,
/// so it does not depend on which store files run on PostgreSQL yet.)
fn copy_to_postgres(sqlite: &Store) -> Option<Store> {
    let url = super::testing::fresh_postgres_with(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
    )?;
    let pg = Store::open_target(
        &super::target::Target::Postgres(url),
        &StoreOptions::default(),
    )
    .expect("open postgres");
    const TABLES: &[(&str, &str)] = &[
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
    for (table, cols) in TABLES {
        let n = cols.split(',').count();
        let select = format!("SELECT {cols} FROM {table}");
        let rows: Vec<Vec<SqlValue>> = sqlite
            .read_blocking(move |c| {
                c.query_map(&select, params![], |r| (0..n).map(|i| r.get(i)).collect())
            })
            .unwrap();
        let marks = vec!["?"; n].join(", ");
        let insert = format!("INSERT INTO {table} ({cols}) VALUES ({marks})");
        let want = rows.len();
        let count = format!("SELECT count(*) FROM {table}");
        let copied: i64 = pg
            .write_blocking(move |c| {
                for row in &rows {
                    c.execute(&insert, &param_list(row))?;
                }
                c.query_row(&count, params![], |r| r.get(0))
            })
            .unwrap();
        assert_eq!(copied, want as i64, "{table}");
    }
    Some(pg)
}

/// Every attribute path of a resource type, filterable or not, with a few misspelt ones.
fn paths(rt: &ResourceType) -> Vec<(AttrPath, &'static Attr)> {
    let mut out = Vec::new();
    let schemas =
        std::iter::once((None, rt.core)).chain(rt.extensions.iter().map(|s| (Some(s.id), *s)));
    for (urn, schema) in schemas {
        let common = crate::model::schema::COMMON_ATTRIBUTES.iter();
        let attrs: Vec<&'static Attr> = if urn.is_none() {
            schema.attributes.iter().chain(common).collect()
        } else {
            schema.attributes.iter().collect()
        };
        for a in attrs {
            let p = |sub: Option<&str>| AttrPath {
                urn: urn.map(str::to_string),
                name: a.name.to_string(),
                sub: sub.map(str::to_string),
            };
            out.push((p(None), a));
            for s in a.sub {
                out.push((p(Some(s.name)), s));
            }
        }
    }
    out
}

/// A literal for a comparison on `attr`: mostly of its own type and close to the data (so
/// filters match something), sometimes of another type or malformed.
fn value(rng: &mut Rng, attr: &Attr, data: &[String]) -> Json {
    let ty = if chance(rng, 6) {
        *rng.pick(&[
            AttrType::String,
            AttrType::Boolean,
            AttrType::Integer,
            AttrType::Decimal,
            AttrType::DateTime,
        ])
    } else {
        attr.ty
    };
    match ty {
        _ if chance(rng, 3) => Json::Null,
        AttrType::Boolean => json!(chance(rng, 50)),
        AttrType::Integer | AttrType::Decimal => {
            let n = *rng.pick(&[
                "0",
                "-7",
                "42",
                "9223372036854775807",
                "18446744073709551615",
                "100000000000000000000",
                "1.5",
                "-0.25",
                "1e3",
            ]);
            serde_json::from_str(n).unwrap()
        }
        AttrType::DateTime => json!(rng.pick(&[
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T23:59:59.9995Z",
            "2026-01-01T00:00:00.001Z",
            "2026-06-15T12:30:00.5Z",
            "0000-01-01T00:00:00+01:00",
            "2026-01-01",
            "yesterday",
            "2026",
        ])),
        _ => {
            let base = if !data.is_empty() && chance(rng, 70) {
                rng.pick(data).clone()
            } else {
                word(rng)
            };
            let chars: Vec<char> = base.chars().collect();
            let cut = |rng: &mut Rng| rng.below(chars.len() + 1);
            let s: String = match rng.below(6) {
                0 => chars[..cut(rng)].iter().collect(),
                1 => chars[cut(rng)..].iter().collect(),
                2 => {
                    let (a, b) = (cut(rng), cut(rng));
                    chars[a.min(b)..a.max(b)].iter().collect()
                }
                _ => base.clone(),
            };
            json!(match rng.below(4) {
                0 => s.to_uppercase(),
                1 => s.to_lowercase(),
                _ => s,
            })
        }
    }
}

const OPS: &[CompareOp] = &[
    CompareOp::Eq,
    CompareOp::Ne,
    CompareOp::Co,
    CompareOp::Sw,
    CompareOp::Ew,
    CompareOp::Gt,
    CompareOp::Ge,
    CompareOp::Lt,
    CompareOp::Le,
];

fn leaf(rng: &mut Rng, paths: &[(AttrPath, &'static Attr)], data: &[String]) -> Filter {
    let (path, attr) = rng.pick(paths).clone();
    if chance(rng, 12) {
        Filter::Present(path)
    } else {
        Filter::Compare {
            path,
            op: *rng.pick(OPS),
            value: value(rng, attr, data),
        }
    }
}

fn filter(
    rng: &mut Rng,
    paths: &[(AttrPath, &'static Attr)],
    data: &[String],
    depth: usize,
    inside: bool,
) -> Filter {
    let roll = if depth >= 3 { 9 } else { rng.below(12) };
    let sub = |rng: &mut Rng| Box::new(filter(rng, paths, data, depth + 1, inside));
    match roll {
        0 | 1 => Filter::And(sub(rng), sub(rng)),
        2 => Filter::Or(sub(rng), sub(rng)),
        3 => Filter::Not(sub(rng)),
        4 if !inside => {
            // A value path over a complex attribute, its filter in terms of sub-attributes.
            let complex: Vec<&(AttrPath, &'static Attr)> = paths
                .iter()
                .filter(|(p, a)| p.sub.is_none() && a.is_complex())
                .collect();
            let (path, attr) = (*rng.pick(&complex)).clone();
            let inner: Vec<(AttrPath, &'static Attr)> = attr
                .sub
                .iter()
                .map(|s| (AttrPath::simple(s.name), s))
                .collect();
            if inner.is_empty() {
                return leaf(rng, paths, data);
            }
            Filter::ValuePath {
                path,
                filter: Box::new(filter(rng, &inner, data, depth + 1, true)),
            }
        }
        _ => leaf(rng, paths, data),
    }
}

/// Every string in the resources, so generated literals hit real values.
fn strings(resources: &[(String, Json)]) -> Vec<String> {
    fn walk(v: &Json, out: &mut Vec<String>) {
        match v {
            Json::String(s) => out.push(s.clone()),
            Json::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Json::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (_, r) in resources {
        walk(r, &mut out);
    }
    out
}

fn sql_ids(store: &Store, table: &'static str, c: SqlFilter) -> Result<BTreeSet<String>> {
    store.read_blocking(move |conn| {
        let a = &table[..1];
        let sql = format!(
            "SELECT {a}.id FROM {table} {a} WHERE {a}.org_pk = ? AND ({})",
            c.sql
        );
        let mut params = vec![SqlValue::Integer(1)];
        params.extend(c.params);
        let ids = conn.query_map(&sql, &param_list(&params), |r| r.get(0))?;
        Ok(ids.into_iter().collect())
    })
}

fn memory_ids(
    f: &Filter,
    resources: &[(String, Json)],
    rt: &ResourceType,
) -> Result<BTreeSet<String>> {
    // The matcher types the filter before it looks at data: an empty list still reports errors.
    matches_resource(f, &json!({}), rt)?;
    let mut out = BTreeSet::new();
    for (id, r) in resources {
        if matches_resource(f, r, rt)? {
            out.insert(id.clone());
        }
    }
    Ok(out)
}

fn run(fx: &Fixture, rng: &mut Rng, seed: u64, cases: usize, users: bool) -> (usize, usize) {
    let (rt, resources, table): (&ResourceType, _, &'static str) = if users {
        (&USER_TYPE, &fx.users, "users")
    } else {
        (&GROUP_TYPE, &fx.teams, "teams")
    };
    let paths = paths(rt);
    let data = strings(resources);
    let (mut matched, mut errors) = (0, 0);
    let all = resources.len();
    let mut stores = vec![(Engine::Sqlite, &fx.store)];
    if let Some(pg) = &fx.postgres {
        stores.push((Engine::Postgres, pg));
    }
    for case in 0..cases {
        let f = filter(rng, &paths, &data, 0, false);
        let in_memory = memory_ids(&f, resources, rt);
        for (engine, store) in &stores {
            let compiled = if users {
                compile_users_on(*engine, &USER_TYPE, &f)
            } else {
                compile_teams_on(*engine, &GROUP_TYPE, &f)
            };
            let sql_text = compiled.as_ref().map(|c| c.sql.clone()).unwrap_or_default();
            let in_sql = compiled.and_then(|c| sql_ids(store, table, c));
            if in_sql == in_memory {
                continue;
            }
            let mut report = format!(
                "the engines disagree on {engine:?} (seed {seed}, {table} case {case}; replay \
                 with SCIMBOX_DIFF_SEED={seed})\nfilter: {f:#?}\nSQL: {sql_text}\n\
                 SQL says:    {in_sql:?}\nmemory says: {in_memory:?}\n"
            );
            if let (Ok(a), Ok(b)) = (&in_sql, &in_memory) {
                for id in a.symmetric_difference(b) {
                    if let Some((_, r)) = resources.iter().find(|(i, _)| i == id) {
                        let _ = writeln!(report, "{id}: {r:#}");
                    }
                }
            }
            panic!("{report}");
        }
        match in_memory {
            // Counted when the filter told resources apart: some matched, not all.
            Ok(ids) if !ids.is_empty() && ids.len() < all => matched += 1,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
    }
    (matched, errors)
}

#[test]
fn sql_and_memory_engines_agree_on_generated_filters() {
    let seed = std::env::var("SCIMBOX_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let cases = std::env::var("SCIMBOX_DIFF_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    println!("filter differential: seed {seed} (SCIMBOX_DIFF_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let fx = fixture(&mut rng);
    assert!(fx.users.len() > 20 && fx.teams.len() > 4);
    let (um, ue) = run(&fx, &mut rng, seed, cases, true);
    let (tm, te) = run(&fx, &mut rng, seed, cases, false);
    println!(
        "users: {cases} filters, {um} matched some but not all, {ue} refused; \
         teams: {cases} filters, {tm} matched some but not all, {te} refused"
    );
    // A generator that only ever produced errors or empty answers would prove nothing.
    // (Floors well below what runs give, about 11% and 5%, so they never flake.)
    assert!(um > cases / 50 && tm > cases / 100, "{um} {tm}");
    assert!(ue > cases / 20 && te > cases / 20, "{ue} {te}");
    fx.store.close();
    if let Some(pg) = &fx.postgres {
        println!("the same filters agreed on PostgreSQL");
        pg.close();
    }
}
