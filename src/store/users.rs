//! Users: indexed columns beside the stored resource JSON, and their email rows.

use super::sql::{Conn, Row, params};
use crate::error::Result;
use crate::model::fold::fold;
use crate::model::query::ListQuery;

/// A stored user as read back: `data` is the resource JSON text without id, meta and groups.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub pk: i64,
    pub id: String,
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    pub data: String,
}

/// The values of a user that live in indexed columns, taken from its resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserColumns {
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub emails: Vec<Email>,
    /// The string values of declared extension attributes, indexed for `eq` and uniqueness.
    pub declared: Vec<crate::model::declared::IndexedValue>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Email {
    pub value: String,
    pub kind: Option<String>,
    pub primary: bool,
}

const COLUMNS: &str = "u.pk, u.id, u.created, u.last_modified, u.version, u.data";

fn from_row(r: &Row<'_>) -> Result<UserRow> {
    Ok(UserRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        created: r.get(2)?,
        last_modified: r.get(3)?,
        version: r.get(4)?,
        data: r.get(5)?,
    })
}

/// Inserts a user; a taken `userName` (per organization, ignoring case by Unicode case folding:
/// `Émile` and `émile` are one name) is `Uniqueness("userName")`. Returns the new row's pk.
pub fn insert(
    conn: &Conn<'_>,
    org_pk: i64,
    id: &str,
    cols: &UserColumns,
    data: &str,
    now: &str,
) -> Result<i64> {
    let display_name_fold = cols.display_name.as_deref().map(fold);
    let pk: i64 = conn
        .query_row(
            "INSERT INTO users (org_pk, id, user_name, user_name_fold, external_id, display_name,
             display_name_fold, active, created, last_modified, version, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING pk",
            params![
                org_pk,
                id,
                cols.user_name,
                &*fold(&cols.user_name),
                cols.external_id,
                cols.display_name,
                display_name_fold.as_deref(),
                cols.active,
                now,
                now,
                data
            ],
            |r| r.get(0),
        )
        .map_err(super::unique_as("userName"))?;
    insert_emails(conn, org_pk, pk, &cols.emails)?;
    if !cols.declared.is_empty() {
        super::schemas::set_values(conn, org_pk, pk, &cols.declared)?;
    }
    Ok(pk)
}

fn insert_emails(conn: &Conn<'_>, org_pk: i64, user_pk: i64, emails: &[Email]) -> Result<()> {
    for e in emails {
        let kind_fold = e.kind.as_deref().map(fold);
        conn.execute(
            "INSERT INTO user_emails (user_pk, org_pk, value, value_fold, type, type_fold, is_primary)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            params![
                user_pk,
                org_pk,
                e.value,
                &*fold(&e.value),
                e.kind,
                kind_fold.as_deref(),
                e.primary
            ],
        )?;
    }
    Ok(())
}

/// Replaces a user's columns and resource, bumping its version. Returns the new version.
pub fn update(
    conn: &Conn<'_>,
    org_pk: i64,
    pk: i64,
    cols: &UserColumns,
    data: &str,
    now: &str,
) -> Result<i64> {
    let display_name_fold = cols.display_name.as_deref().map(fold);
    let version: i64 = conn
        .query_row(
            "UPDATE users SET user_name = ?, user_name_fold = ?, external_id = ?,
             display_name = ?, display_name_fold = ?, active = ?, last_modified = ?,
             version = version + 1, data = ? WHERE pk = ? AND org_pk = ? RETURNING version",
            params![
                cols.user_name,
                &*fold(&cols.user_name),
                cols.external_id,
                cols.display_name,
                display_name_fold.as_deref(),
                cols.active,
                now,
                data,
                pk,
                org_pk
            ],
            |r| r.get(0),
        )
        .map_err(super::unique_as("userName"))?;
    conn.execute("DELETE FROM user_emails WHERE user_pk = ?", params![pk])?;
    insert_emails(conn, org_pk, pk, &cols.emails)?;
    super::schemas::set_values(conn, org_pk, pk, &cols.declared)?;
    Ok(version)
}

/// A user by id. Inside a PostgreSQL write the row is locked (`FOR UPDATE`) until the
/// transaction ends: a write reads the user to change it, and a second server changing the
/// same user waits and then reads the first one's result, so neither change is lost.
pub fn get(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<Option<UserRow>> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM users u WHERE u.id = ? AND u.org_pk = ?{}",
            conn.for_update()
        ),
        params![id, org_pk],
        from_row,
    )
}

/// Finds a user by id or userName (ignoring case as uniqueness does), for the CLI and the
/// admin page. Locks the row inside a PostgreSQL write, as [`get`] does.
pub fn find(conn: &Conn<'_>, org_pk: i64, id_or_name: &str) -> Result<Option<UserRow>> {
    if let Some(u) = get(conn, org_pk, id_or_name)? {
        return Ok(Some(u));
    }
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM users u WHERE u.org_pk = ? AND u.user_name_fold = ?{}",
            conn.for_update()
        ),
        params![org_pk, &*fold(id_or_name)],
        from_row,
    )
}

/// Deletes a user; memberships and email rows go with it (foreign keys cascade).
pub fn delete(conn: &Conn<'_>, org_pk: i64, pk: i64) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM users WHERE pk = ? AND org_pk = ?",
        params![pk, org_pk],
    )?;
    Ok(n > 0)
}

/// The user's Teams as (team id, display name), in the order they were created.
///
/// Written as `IN (subquery)`, not as a join: SQLite plans that join with the bound `user_pk`
/// in view, which marks the statement to be re-prepared when the binding changes, and
/// rusqlite clears the bindings whenever a cached statement goes back to its cache. The join
/// was therefore parsed and planned again on every call (a sixth of the server's CPU on
/// `GET /Users/{id}`, and once per user on every list page).
pub fn teams_of(conn: &Conn<'_>, user_pk: i64) -> Result<Vec<(String, String)>> {
    conn.query_map(TEAMS_OF, params![user_pk], |r| Ok((r.get(0)?, r.get(1)?)))
}

const TEAMS_OF: &str = "SELECT t.id, t.display_name FROM teams t
         WHERE t.pk IN (SELECT m.team_pk FROM memberships m WHERE m.user_pk = ?) ORDER BY t.pk";

/// Compiles a users list's filter and sort without running them (see [`list`]).
pub fn check_query(
    rt: &'static crate::model::schema::ResourceType,
    filter: Option<&crate::model::filter::Filter>,
    sort: Option<&crate::model::query::Sort>,
) -> Result<()> {
    super::check_query(&LISTED, rt, filter, sort)
}

pub(super) const LISTED: super::Listed<UserRow> = super::Listed {
    table: "users",
    alias: "u",
    columns: COLUMNS,
    counter: "user_count",
    base: &crate::model::schema::USER_TYPE,
    compile: super::filter_sql::compile_users_on,
    sort_expr: super::filter_sql::users_sort_expr_on,
    from_row,
};

/// Lists one organization's users (see `store::page`).
pub fn list(conn: &super::Conn<'_>, org_pk: i64, q: &ListQuery) -> Result<(i64, Vec<UserRow>)> {
    super::page(conn, &LISTED, org_pk, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::model::declared::IndexedValue;
    use crate::store::{Store, orgs, teams, testing};
    use rusqlite::StatementStatus;

    const NOW: &str = "2026-12-02T10:00:00Z";

    fn cols(name: &str) -> UserColumns {
        UserColumns {
            user_name: name.into(),
            external_id: Some(format!("ext-{name}")),
            display_name: Some(format!("Émile {name}")),
            active: true,
            emails: vec![
                Email {
                    value: format!("{name}@Example.com"),
                    kind: Some("Work".into()),
                    primary: true,
                },
                Email {
                    value: format!("{name}@home.example"),
                    kind: None,
                    primary: false,
                },
            ],
            declared: vec![IndexedValue {
                attr: "urn:x:cost:1.0:user:badge".into(),
                value: format!("b-{name}"),
                unique: Some("badge"),
                case_exact: false,
            }],
        }
    }

    #[test]
    fn users_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let (o, other) = store
                .write_blocking(|c| {
                    Ok((
                        orgs::insert(c, "o-1", "acme", NOW)?.pk,
                        orgs::insert(c, "o-2", "other", NOW)?.pk,
                    ))
                })
                .unwrap();
            let pk = store
                .write_blocking(move |c| insert(c, o, "u-1", &cols("Émile"), r#"{"a":1}"#, NOW))
                .unwrap();
            // userName is unique per organization by Unicode case folding.
            let dup = store.write_blocking(move |c| insert(c, o, "u-2", &cols("émile"), "{}", NOW));
            assert_eq!(
                dup.unwrap_err(),
                Error::Uniqueness("userName".into()),
                "{engine}"
            );
            let elsewhere = store
                .write_blocking(move |c| insert(c, other, "u-3", &cols("ÉMILE"), "{}", NOW))
                .unwrap();
            let (row, by_name, by_id, wrong_org, none, emails, values) = store
                .read_blocking(move |c| {
                    let emails = c.query_map(
                        "SELECT value, value_fold, type, type_fold, is_primary FROM user_emails
                         WHERE user_pk = ? ORDER BY value",
                        params![pk],
                        |r| {
                            Ok((
                                r.get::<String>(0)?,
                                r.get::<String>(1)?,
                                r.get::<Option<String>>(2)?,
                                r.get::<Option<String>>(3)?,
                                r.get::<bool>(4)?,
                            ))
                        },
                    )?;
                    let values = c.query_map(
                        "SELECT value FROM declared_values WHERE user_pk = ?",
                        params![pk],
                        |r| r.get::<String>(0),
                    )?;
                    Ok((
                        get(c, o, "u-1")?,
                        find(c, o, "ÉMILE")?,
                        find(c, o, "u-1")?,
                        get(c, other, "u-1")?,
                        find(c, o, "nobody")?,
                        emails,
                        values,
                    ))
                })
                .unwrap();
            let row = row.unwrap();
            assert_eq!(
                (
                    row.pk,
                    row.id.as_str(),
                    row.version,
                    row.data.as_str(),
                    row.created.as_str()
                ),
                (pk, "u-1", 1, r#"{"a":1}"#, NOW),
                "{engine}"
            );
            assert_eq!(by_name.as_ref(), Some(&row), "{engine}");
            assert_eq!(by_id.as_ref(), Some(&row), "{engine}");
            assert!(wrong_org.is_none() && none.is_none(), "{engine}");
            assert_eq!(
                emails,
                vec![
                    (
                        "Émile@Example.com".to_string(),
                        "émile@example.com".to_string(),
                        Some("Work".to_string()),
                        Some("work".to_string()),
                        true
                    ),
                    (
                        "Émile@home.example".into(),
                        "émile@home.example".into(),
                        None,
                        None,
                        false
                    ),
                ],
                "{engine}"
            );
            assert_eq!(values, vec!["b-Émile".to_string()], "{engine}");
            // A declared unique value another user of the organization holds is refused.
            let taken = store.write_blocking(move |c| {
                let mut c2 = cols("zoe");
                c2.declared[0].value = "b-Émile".into();
                insert(c, o, "u-4", &c2, "{}", NOW)
            });
            assert_eq!(
                taken.unwrap_err(),
                Error::Uniqueness("badge".into()),
                "{engine}"
            );
            // Update: new columns, new emails, the version bumped, no display name.
            let later = "2026-12-02T11:00:00Z";
            let version = store
                .write_blocking(move |c| {
                    let mut c2 = cols("Zoë");
                    c2.display_name = None;
                    c2.active = false;
                    c2.emails.truncate(1);
                    update(c, o, pk, &c2, r#"{"b":2}"#, later)
                })
                .unwrap();
            assert_eq!(version, 2, "{engine}");
            let (row, old, fold_col, n_emails) = store
                .read_blocking(move |c| {
                    Ok((
                        find(c, o, "zoË")?.unwrap(),
                        find(c, o, "émile")?,
                        c.query_row(
                            "SELECT user_name_fold, display_name_fold, active FROM users WHERE pk = ?",
                            params![pk],
                            |r| Ok((r.get::<String>(0)?, r.get::<Option<String>>(1)?, r.get::<bool>(2)?)),
                        )?,
                        c.query_row(
                            "SELECT count(*) FROM user_emails WHERE user_pk = ?",
                            params![pk],
                            |r| r.get::<i64>(0),
                        )?,
                    ))
                })
                .unwrap();
            assert_eq!(
                (row.version, row.last_modified.as_str(), row.data.as_str()),
                (2, later, r#"{"b":2}"#),
                "{engine}"
            );
            assert!(old.is_none(), "{engine}");
            assert_eq!(fold_col, ("zoë".into(), None, false), "{engine}");
            assert_eq!(n_emails, 1, "{engine}");
            // Renaming onto a taken name is refused, and so is updating another org's user.
            let clash = store.write_blocking(move |c| {
                insert(
                    c,
                    o,
                    "u-5",
                    &UserColumns {
                        user_name: "x".into(),
                        ..Default::default()
                    },
                    "{}",
                    NOW,
                )?;
                update(
                    c,
                    o,
                    pk,
                    &UserColumns {
                        user_name: "X".into(),
                        ..Default::default()
                    },
                    "{}",
                    NOW,
                )
            });
            assert_eq!(
                clash.unwrap_err(),
                Error::Uniqueness("userName".into()),
                "{engine}"
            );
            let foreign =
                store.write_blocking(move |c| update(c, other, pk, &cols("q"), "{}", NOW));
            assert!(
                foreign.is_err(),
                "{engine}: no row of another organization is changed"
            );
            // Teams of a user, then delete: its memberships and emails go with it.
            let (teams_before, deleted, again, teams_after, left) = store
                .write_blocking(move |c| {
                    let t1 = teams::insert(
                        c,
                        o,
                        "t-b",
                        &teams::TeamColumns {
                            display_name: "B".into(),
                            ..Default::default()
                        },
                        "{}",
                        true,
                        NOW,
                    )?;
                    let t2 = teams::insert(
                        c,
                        o,
                        "t-a",
                        &teams::TeamColumns {
                            display_name: "A".into(),
                            ..Default::default()
                        },
                        "{}",
                        true,
                        NOW,
                    )?;
                    teams::add_member(c, t2.pk, pk)?;
                    teams::add_member(c, t1.pk, pk)?;
                    let before = teams_of(c, pk)?;
                    let gone = delete(c, other, pk)?;
                    let deleted = delete(c, o, pk)?;
                    let left = c.query_row(
                        "SELECT count(*) FROM user_emails WHERE user_pk = ?",
                        params![pk],
                        |r| r.get::<i64>(0),
                    )?;
                    Ok((before, deleted, gone, teams_of(c, pk)?, left))
                })
                .unwrap();
            assert_eq!(
                teams_before,
                vec![("t-b".into(), "B".into()), ("t-a".into(), "A".into())],
                "{engine}: in the order the Teams were created"
            );
            assert_eq!(
                (deleted, again, teams_after.len(), left),
                (true, false, 0, 0),
                "{engine}"
            );
            assert!(elsewhere > 0);
            store.close();
        }
    }

    /// Two servers PATCHing one user at once, each reading the user in its write and
    /// rewriting its data from what it read (as `directory::users::update_with` does): with
    /// the row locked by `get`, no change is lost.
    #[test]
    fn concurrent_changes_to_one_user_through_two_servers_lose_nothing() {
        let Some(url) = testing::fresh_postgres() else {
            return;
        };
        let options = crate::store::StoreOptions {
            readers: 2,
            pg_pool: 4,
            ..Default::default()
        };
        let target = crate::store::target::Target::Postgres(url);
        let a = Store::open_target(&target, &options).unwrap();
        let b = Store::open_target(&target, &options).unwrap();
        let o = a
            .write_blocking(|c| {
                let o = orgs::insert(c, "o-1", "acme", NOW)?.pk;
                insert(
                    c,
                    o,
                    "u-1",
                    &UserColumns {
                        user_name: "ann".into(),
                        ..Default::default()
                    },
                    "{}",
                    NOW,
                )?;
                Ok(o)
            })
            .unwrap();
        const THREADS: usize = 4;
        const EACH: usize = 10;
        let threads: Vec<_> = (0..THREADS)
            .map(|n| {
                let store = if n % 2 == 0 { a.clone() } else { b.clone() };
                std::thread::spawn(move || {
                    for k in 0..EACH {
                        store
                            .write_blocking(move |c| {
                                let row = get(c, o, "u-1")?.expect("user");
                                let mut data: serde_json::Map<String, serde_json::Value> =
                                    serde_json::from_str(&row.data).unwrap();
                                data.insert(format!("k{n}_{k}"), row.version.into());
                                let text = serde_json::Value::Object(data).to_string();
                                let cols = UserColumns {
                                    user_name: "ann".into(),
                                    ..Default::default()
                                };
                                let v = update(c, o, row.pk, &cols, &text, NOW)?;
                                assert_eq!(v, row.version + 1);
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let row = b.read_blocking(move |c| get(c, o, "u-1")).unwrap().unwrap();
        assert_eq!(row.version, 1 + (THREADS * EACH) as i64);
        let data: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&row.data).unwrap();
        assert_eq!(data.len(), THREADS * EACH, "no change lost");
        a.close();
        b.close();
    }

    #[test]
    fn cached_team_lookup_is_not_prepared_again_for_each_user() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        for pk in 1..=5 {
            teams_of(&Conn::sqlite(&conn), pk).unwrap();
        }
        let stmt = conn.prepare_cached(TEAMS_OF).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
        assert_eq!(stmt.get_status(StatementStatus::Run), 5);
    }
}
