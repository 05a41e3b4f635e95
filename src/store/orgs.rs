//! Organizations: each has its own SCIM base URL, tokens, users and Teams.

use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub scim_enabled: bool,
    pub user_count: i64,
    pub team_count: i64,
    pub created: String,
}

const COLUMNS: &str = "pk, id, name, scim_enabled, user_count, team_count, created";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Org> {
    Ok(Org {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        scim_enabled: r.get(3)?,
        user_count: r.get(4)?,
        team_count: r.get(5)?,
        created: r.get(6)?,
    })
}

/// Creates an organization; a taken name (case-insensitive) is `Uniqueness("name")`.
pub fn insert(conn: &Connection, id: &str, name: &str, now: &str) -> Result<Org> {
    conn.prepare_cached("INSERT INTO orgs (id, name, created) VALUES (?, ?, ?)")?
        .execute(params![id, name, now])
        .map_err(super::unique_as("organization name"))?;
    let pk = conn.last_insert_rowid();
    Ok(Org {
        pk,
        id: id.to_string(),
        name: name.to_string(),
        scim_enabled: true,
        user_count: 0,
        team_count: 0,
        created: now.to_string(),
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Org>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM orgs ORDER BY pk"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Org>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM orgs WHERE id = ?"))?
        .query_row([id], from_row)
        .optional()?)
}

/// Finds an organization by id, or else by name (case-insensitive): what the CLI's `--org` takes.
pub fn find(conn: &Connection, id_or_name: &str) -> Result<Option<Org>> {
    if let Some(org) = by_id(conn, id_or_name)? {
        return Ok(Some(org));
    }
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM orgs WHERE name = ?"))?
        .query_row([id_or_name], from_row)
        .optional()?)
}

pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM orgs", [], |r| r.get(0))?)
}

pub fn set_scim_enabled(conn: &Connection, pk: i64, enabled: bool) -> Result<()> {
    conn.prepare_cached("UPDATE orgs SET scim_enabled = ? WHERE pk = ?")?
        .execute(params![enabled, pk])?;
    Ok(())
}

/// What an organization holds: (users, Teams, Workspaces). An import needs all three at 0.
pub fn contents(conn: &Connection, pk: i64) -> Result<(i64, i64, i64)> {
    Ok(conn
        .prepare_cached(
            "SELECT user_count, team_count,
                    (SELECT count(*) FROM workspaces WHERE org_pk = ?1)
             FROM orgs WHERE pk = ?1",
        )?
        .query_row([pk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .unwrap_or((0, 0, 0)))
}

/// Whether a resource id is taken by a user, Team or Workspace of any organization (ids are
/// unique across the whole database).
pub fn id_in_use(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM teams WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM workspaces WHERE id = ?1)",
        )?
        .query_row([id], |r| r.get(0))?)
}

/// Whether SCIM provisioning is on in an organization; an unknown pk reads as on (the
/// stricter answer for local tools).
pub fn scim_enabled(conn: &Connection, org_pk: i64) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT scim_enabled FROM orgs WHERE pk = ?",
            [org_pk],
            |r| r.get(0),
        )
        .unwrap_or(true))
}
