//! Users: indexed columns beside the stored resource JSON, and their email rows.

use crate::error::Result;
use crate::model::fold::fold;
use crate::model::query::ListQuery;
use rusqlite::{Connection, OptionalExtension, Row, params};

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

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        created: r.get(2)?,
        last_modified: r.get(3)?,
        version: r.get(4)?,
        data: r.get(5)?,
    })
}

/// [`from_row`] through the engine-neutral row, for lists on either engine (the one reader
/// once this file is ported).
fn listed_row(r: &super::sql::Row<'_>) -> Result<UserRow> {
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
    conn: &Connection,
    org_pk: i64,
    id: &str,
    cols: &UserColumns,
    data: &str,
    now: &str,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO users (org_pk, id, user_name, user_name_fold, external_id, display_name,
         display_name_fold, active, created, last_modified, version, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
    )?
    .execute(params![
        org_pk,
        id,
        cols.user_name,
        fold(&cols.user_name),
        cols.external_id,
        cols.display_name,
        cols.display_name.as_deref().map(fold),
        cols.active,
        now,
        now,
        data
    ])
    .map_err(super::unique_as("userName"))?;
    let pk = conn.last_insert_rowid();
    insert_emails(conn, org_pk, pk, &cols.emails)?;
    if !cols.declared.is_empty() {
        super::schemas::set_values(conn, org_pk, pk, &cols.declared)?;
    }
    Ok(pk)
}

fn insert_emails(conn: &Connection, org_pk: i64, user_pk: i64, emails: &[Email]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO user_emails (user_pk, org_pk, value, value_fold, type, type_fold, is_primary)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?;
    for e in emails {
        stmt.execute(params![
            user_pk,
            org_pk,
            e.value,
            fold(&e.value),
            e.kind,
            e.kind.as_deref().map(fold),
            e.primary
        ])?;
    }
    Ok(())
}

/// Replaces a user's columns and resource, bumping its version. Returns the new version.
pub fn update(
    conn: &Connection,
    org_pk: i64,
    pk: i64,
    cols: &UserColumns,
    data: &str,
    now: &str,
) -> Result<i64> {
    let version: i64 = conn
        .prepare_cached(
            "UPDATE users SET user_name = ?, user_name_fold = ?, external_id = ?,
             display_name = ?, display_name_fold = ?, active = ?, last_modified = ?,
             version = version + 1, data = ? WHERE pk = ? AND org_pk = ? RETURNING version",
        )?
        .query_row(
            params![
                cols.user_name,
                fold(&cols.user_name),
                cols.external_id,
                cols.display_name,
                cols.display_name.as_deref().map(fold),
                cols.active,
                now,
                data,
                pk,
                org_pk
            ],
            |r| r.get(0),
        )
        .map_err(super::unique_as("userName"))?;
    conn.prepare_cached("DELETE FROM user_emails WHERE user_pk = ?")?
        .execute([pk])?;
    insert_emails(conn, org_pk, pk, &cols.emails)?;
    super::schemas::set_values(conn, org_pk, pk, &cols.declared)?;
    Ok(version)
}

pub fn get(conn: &Connection, org_pk: i64, id: &str) -> Result<Option<UserRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users u WHERE u.id = ? AND u.org_pk = ?"
        ))?
        .query_row(params![id, org_pk], from_row)
        .optional()?)
}

/// Finds a user by id or userName (ignoring case as uniqueness does), for the CLI and the
/// admin page.
pub fn find(conn: &Connection, org_pk: i64, id_or_name: &str) -> Result<Option<UserRow>> {
    if let Some(u) = get(conn, org_pk, id_or_name)? {
        return Ok(Some(u));
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users u WHERE u.org_pk = ? AND u.user_name_fold = ?"
        ))?
        .query_row(params![org_pk, fold(id_or_name)], from_row)
        .optional()?)
}

/// Deletes a user; memberships and email rows go with it (foreign keys cascade).
pub fn delete(conn: &Connection, org_pk: i64, pk: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM users WHERE pk = ? AND org_pk = ?")?
        .execute(params![pk, org_pk])?;
    Ok(n > 0)
}

/// The user's Teams as (team id, display name), in the order they were created.
///
/// Written as `IN (subquery)`, not as a join: SQLite plans that join with the bound `user_pk`
/// in view, which marks the statement to be re-prepared when the binding changes, and
/// rusqlite clears the bindings whenever a cached statement goes back to its cache. The join
/// was therefore parsed and planned again on every call (a sixth of the server's CPU on
/// `GET /Users/{id}`, and once per user on every list page).
pub fn teams_of(conn: &Connection, user_pk: i64) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, t.display_name FROM teams t
         WHERE t.pk IN (SELECT m.team_pk FROM memberships m WHERE m.user_pk = ?) ORDER BY t.pk",
    )?;
    let rows = stmt.query_map([user_pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

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
    from_row: listed_row,
};

/// Lists one organization's users (see `store::page`).
pub fn list(conn: &super::Conn<'_>, org_pk: i64, q: &ListQuery) -> Result<(i64, Vec<UserRow>)> {
    super::page(conn, &LISTED, org_pk, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    #[test]
    fn cached_team_lookup_is_not_prepared_again_for_each_user() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        for pk in 1..=5 {
            teams_of(&conn, pk).unwrap();
        }
        let stmt = conn
            .prepare_cached(
                "SELECT t.id, t.display_name FROM teams t
         WHERE t.pk IN (SELECT m.team_pk FROM memberships m WHERE m.user_pk = ?) ORDER BY t.pk",
            )
            .unwrap();
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
        assert_eq!(stmt.get_status(StatementStatus::Run), 5);
    }
}
