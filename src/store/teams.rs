//! Teams, their members, Workspaces and the roles of the access templates.
//!
//! Members live in `memberships` (one row per member), so every change touches only the
//! members it names, and reading a Team without its members never looks at them.

use crate::error::Result;
use crate::model::fold::fold;
use crate::model::query::ListQuery;
use rusqlite::{Connection, OptionalExtension, Row, params};

#[derive(Debug, Clone, PartialEq)]
pub struct TeamRow {
    pub pk: i64,
    pub id: String,
    pub display_name: String,
    pub org_role: String,
    pub scim_managed: bool,
    pub member_count: i64,
    pub created: String,
    pub last_modified: String,
    pub version: i64,
    /// The Group JSON without id, meta and members.
    pub data: String,
}

/// The values of a Team that live in indexed columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeamColumns {
    pub display_name: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
}

const COLUMNS: &str = "t.pk, t.id, t.display_name, t.org_role, t.scim_managed, t.member_count,
    t.created, t.last_modified, t.version, t.data";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TeamRow> {
    Ok(TeamRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        display_name: r.get(2)?,
        org_role: r.get(3)?,
        scim_managed: r.get(4)?,
        member_count: r.get(5)?,
        created: r.get(6)?,
        last_modified: r.get(7)?,
        version: r.get(8)?,
        data: r.get(9)?,
    })
}

/// [`from_row`] through the engine-neutral row, for lists on either engine (the one reader
/// once this file is ported).
fn listed_row(r: &super::sql::Row<'_>) -> Result<TeamRow> {
    Ok(TeamRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        display_name: r.get(2)?,
        org_role: r.get(3)?,
        scim_managed: r.get(4)?,
        member_count: r.get(5)?,
        created: r.get(6)?,
        last_modified: r.get(7)?,
        version: r.get(8)?,
        data: r.get(9)?,
    })
}

/// Inserts a Team; a taken `displayName` (case-insensitive) is `Uniqueness("displayName")`.
pub fn insert(
    conn: &Connection,
    org_pk: i64,
    id: &str,
    cols: &TeamColumns,
    data: &str,
    scim_managed: bool,
    now: &str,
) -> Result<TeamRow> {
    conn.prepare_cached(
        "INSERT INTO teams (org_pk, id, display_name, display_name_fold, external_id, description,
         scim_managed, created, last_modified, version, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
    )?
    .execute(params![
        org_pk,
        id,
        cols.display_name,
        fold(&cols.display_name),
        cols.external_id,
        cols.description,
        scim_managed,
        now,
        now,
        data
    ])
    .map_err(super::unique_as("displayName"))?;
    Ok(TeamRow {
        pk: conn.last_insert_rowid(),
        id: id.to_string(),
        display_name: cols.display_name.clone(),
        org_role: "ORGANIZATION_MEMBER".into(),
        scim_managed,
        member_count: 0,
        created: now.to_string(),
        last_modified: now.to_string(),
        version: 1,
        data: data.to_string(),
    })
}

/// Replaces a Team's attributes and bumps its version.
pub fn update(conn: &Connection, pk: i64, cols: &TeamColumns, data: &str, now: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE teams SET display_name = ?, display_name_fold = ?, external_id = ?,
         description = ?, data = ?, last_modified = ?, version = version + 1 WHERE pk = ?",
    )?
    .execute(params![
        cols.display_name,
        fold(&cols.display_name),
        cols.external_id,
        cols.description,
        data,
        now,
        pk
    ])
    .map_err(super::unique_as("displayName"))?;
    Ok(())
}

/// Marks a Team changed (its members or roles) without touching its attributes.
pub fn touch(conn: &Connection, pk: i64, now: &str) -> Result<()> {
    conn.prepare_cached("UPDATE teams SET last_modified = ?, version = version + 1 WHERE pk = ?")?
        .execute(params![now, pk])?;
    Ok(())
}

pub fn get(conn: &Connection, org_pk: i64, id: &str) -> Result<Option<TeamRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM teams t WHERE t.id = ? AND t.org_pk = ?"
        ))?
        .query_row(params![id, org_pk], from_row)
        .optional()?)
}

/// Finds a Team by id or display name (what the CLI and admin page take).
pub fn find(conn: &Connection, org_pk: i64, id_or_name: &str) -> Result<Option<TeamRow>> {
    if let Some(t) = get(conn, org_pk, id_or_name)? {
        return Ok(Some(t));
    }
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM teams t WHERE t.org_pk = ? AND t.display_name = ?"
        ))?
        .query_row(params![org_pk, id_or_name], from_row)
        .optional()?)
}

pub fn delete(conn: &Connection, org_pk: i64, pk: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM teams WHERE pk = ? AND org_pk = ?")?
        .execute(params![pk, org_pk])?;
    Ok(n > 0)
}

/// A Team's members as (user id, display), in the order they joined the user table.
pub fn members(conn: &Connection, team_pk: i64) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, coalesce(u.display_name, u.user_name) FROM memberships m
         JOIN users u ON u.pk = m.user_pk WHERE m.team_pk = ? ORDER BY m.user_pk",
    )?;
    let rows = stmt.query_map([team_pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A member as the admin page lists it: (id, userName, displayName, active).
pub type MemberDetail = (String, String, Option<String>, bool);

/// A Team's members as the admin page lists them.
pub fn member_details(conn: &Connection, team_pk: i64) -> Result<Vec<MemberDetail>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.user_name, u.display_name, u.active FROM memberships m
         JOIN users u ON u.pk = m.user_pk WHERE m.team_pk = ? ORDER BY m.user_pk",
    )?;
    let rows = stmt.query_map([team_pk], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The pks of a Team's members.
pub fn member_pks(conn: &Connection, team_pk: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached("SELECT user_pk FROM memberships WHERE team_pk = ?")?;
    let rows = stmt.query_map([team_pk], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What a member value names in this organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    User(i64),
    Team,
    Unknown,
}

/// Looks a member value up: a user of this organization, a Team (never allowed as a member),
/// or nothing.
pub fn member_kind(conn: &Connection, org_pk: i64, id: &str) -> Result<MemberKind> {
    let user: Option<i64> = conn
        .prepare_cached("SELECT pk FROM users WHERE id = ? AND org_pk = ?")?
        .query_row(params![id, org_pk], |r| r.get(0))
        .optional()?;
    if let Some(pk) = user {
        return Ok(MemberKind::User(pk));
    }
    let team: Option<i64> = conn
        .prepare_cached("SELECT pk FROM teams WHERE id = ? AND org_pk = ?")?
        .query_row(params![id, org_pk], |r| r.get(0))
        .optional()?;
    Ok(if team.is_some() {
        MemberKind::Team
    } else {
        MemberKind::Unknown
    })
}

/// Adds one member; `false` if it was already there.
pub fn add_member(conn: &Connection, team_pk: i64, user_pk: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO memberships (team_pk, user_pk) VALUES (?, ?)")?
        .execute(params![team_pk, user_pk])?;
    Ok(n > 0)
}

/// Removes one member; `false` if it was not there.
pub fn remove_member(conn: &Connection, team_pk: i64, user_pk: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM memberships WHERE team_pk = ? AND user_pk = ?")?
        .execute(params![team_pk, user_pk])?;
    Ok(n > 0)
}

/// Every user id of the organization among `pks`, for audit records.
pub fn user_ids(conn: &Connection, pks: &[i64]) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM users WHERE pk = ?")?;
    let mut out = Vec::with_capacity(pks.len());
    for pk in pks {
        if let Some(id) = stmt.query_row([pk], |r| r.get(0)).optional()? {
            out.push(id);
        }
    }
    Ok(out)
}

/// Compiles a Teams list's filter and sort without running them (see [`list`]).
pub fn check_query(
    rt: &'static crate::model::schema::ResourceType,
    filter: Option<&crate::model::filter::Filter>,
    sort: Option<&crate::model::query::Sort>,
) -> Result<()> {
    super::check_query(&LISTED, rt, filter, sort)
}

const LISTED: super::Listed<TeamRow> = super::Listed {
    table: "teams",
    alias: "t",
    columns: COLUMNS,
    counter: "team_count",
    base: &crate::model::schema::GROUP_TYPE,
    compile: super::filter_sql::compile_teams_on,
    sort_expr: super::filter_sql::teams_sort_expr_on,
    from_row: listed_row,
};

/// Lists one organization's teams (see `store::page`).
pub fn list(conn: &super::Conn<'_>, org_pk: i64, q: &ListQuery) -> Result<(i64, Vec<TeamRow>)> {
    super::page(conn, &LISTED, org_pk, q)
}

// ---- Workspaces and roles -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub pk: i64,
    pub id: String,
    pub name: String,
}

pub fn insert_workspace(
    conn: &Connection,
    org_pk: i64,
    id: &str,
    name: &str,
    now: &str,
) -> Result<Workspace> {
    conn.prepare_cached("INSERT INTO workspaces (org_pk, id, name, created) VALUES (?, ?, ?, ?)")?
        .execute(params![org_pk, id, name, now])
        .map_err(super::unique_as("Workspace name"))?;
    Ok(Workspace {
        pk: conn.last_insert_rowid(),
        id: id.to_string(),
        name: name.to_string(),
    })
}

pub fn workspaces(conn: &Connection, org_pk: i64) -> Result<Vec<Workspace>> {
    let mut stmt =
        conn.prepare_cached("SELECT pk, id, name FROM workspaces WHERE org_pk = ? ORDER BY pk")?;
    let rows = stmt.query_map([org_pk], |r| {
        Ok(Workspace {
            pk: r.get(0)?,
            id: r.get(1)?,
            name: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_workspace(
    conn: &Connection,
    org_pk: i64,
    id_or_name: &str,
) -> Result<Option<Workspace>> {
    Ok(conn
        .prepare_cached(
            "SELECT pk, id, name FROM workspaces WHERE org_pk = ?1 AND (id = ?2 OR name = ?2)",
        )?
        .query_row(params![org_pk, id_or_name], |r| {
            Ok(Workspace {
                pk: r.get(0)?,
                id: r.get(1)?,
                name: r.get(2)?,
            })
        })
        .optional()?)
}

pub fn set_team_org_role(conn: &Connection, team_pk: i64, role: &str) -> Result<()> {
    conn.prepare_cached("UPDATE teams SET org_role = ? WHERE pk = ?")?
        .execute(params![role, team_pk])?;
    Ok(())
}

/// Sets (or with `None` removes) a Team's role in a Workspace.
pub fn set_team_workspace_role(
    conn: &Connection,
    team_pk: i64,
    workspace_pk: i64,
    role: Option<&str>,
) -> Result<()> {
    match role {
        Some(role) => conn
            .prepare_cached(
                "INSERT INTO team_workspace_roles (team_pk, workspace_pk, role) VALUES (?, ?, ?)
                 ON CONFLICT (team_pk, workspace_pk) DO UPDATE SET role = excluded.role",
            )?
            .execute(params![team_pk, workspace_pk, role])?,
        None => conn
            .prepare_cached(
                "DELETE FROM team_workspace_roles WHERE team_pk = ? AND workspace_pk = ?",
            )?
            .execute(params![team_pk, workspace_pk])?,
    };
    Ok(())
}

/// A Team's Workspace roles as (workspace id, workspace name, role).
pub fn team_workspace_roles(
    conn: &Connection,
    team_pk: i64,
) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.id, w.name, r.role FROM team_workspace_roles r
         JOIN workspaces w ON w.pk = r.workspace_pk WHERE r.team_pk = ? ORDER BY w.pk",
    )?;
    let rows = stmt.query_map([team_pk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A role in a Workspace: (workspace id, workspace name, role).
pub type WorkspaceGrant = (String, String, String);

/// Every role that reaches a user: its own and each of its Teams'. Returns the organization
/// roles and the Workspace grants; the caller takes the highest.
pub fn role_grants(conn: &Connection, user_pk: i64) -> Result<(Vec<String>, Vec<WorkspaceGrant>)> {
    let mut org_roles: Vec<String> = conn
        .prepare_cached("SELECT org_role FROM users WHERE pk = ?")?
        .query_map([user_pk], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let team_roles: Vec<String> = conn
        .prepare_cached(
            "SELECT t.org_role FROM memberships m JOIN teams t ON t.pk = m.team_pk
             WHERE m.user_pk = ?",
        )?
        .query_map([user_pk], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    org_roles.extend(team_roles);
    let mut stmt = conn.prepare_cached(
        "SELECT w.id, w.name, g.role FROM (
             SELECT workspace_pk, role FROM user_workspace_roles WHERE user_pk = ?1
             UNION ALL
             SELECT r.workspace_pk, r.role FROM memberships m
             JOIN team_workspace_roles r ON r.team_pk = m.team_pk WHERE m.user_pk = ?1
         ) g JOIN workspaces w ON w.pk = g.workspace_pk ORDER BY w.pk",
    )?;
    let grants = stmt
        .query_map([user_pk], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok((org_roles, grants))
}

/// The Teams with a role in a Workspace: (team name, role).
pub fn workspace_teams(conn: &Connection, workspace_pk: i64) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.display_name, r.role FROM team_workspace_roles r
         JOIN teams t ON t.pk = r.team_pk WHERE r.workspace_pk = ? ORDER BY t.display_name",
    )?;
    let rows = stmt.query_map([workspace_pk], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
