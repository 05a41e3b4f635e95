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

/// [`from_row`] for `store::page`, which still reads rusqlite's rows (its port is another
/// change): the same columns in the same order.
fn page_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
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

const LISTED: super::Listed<UserRow> = super::Listed {
    table: "users",
    alias: "u",
    columns: COLUMNS,
    counter: "user_count",
    base: &crate::model::schema::USER_TYPE,
    compile: super::filter_sql::compile_users_in,
    sort_expr: super::filter_sql::users_sort_expr_in,
    from_row: page_row,
};

/// Lists one organization's users (see `store::page`).
pub fn list(conn: &Conn<'_>, org_pk: i64, q: &ListQuery) -> Result<(i64, Vec<UserRow>)> {
    super::page(conn, &LISTED, org_pk, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

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
