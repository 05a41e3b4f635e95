//! Deployments, custom Deployment roles, the Deployment and own roles of Teams and users, and
//! the role rules for pushed Teams. Every query names the organization (directly or through
//! a row found by it), so organizations never see each other's.

use super::unique_as;
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, Row, params};

// ---- Deployments ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub workspace_pk: i64,
    pub workspace_id: String,
    pub workspace_name: String,
}

const DEPLOYMENT: &str = "SELECT d.pk, d.id, d.name, w.pk, w.id, w.name FROM deployments d
    JOIN workspaces w ON w.pk = d.workspace_pk";

fn deployment(r: &Row<'_>) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        workspace_pk: r.get(3)?,
        workspace_id: r.get(4)?,
        workspace_name: r.get(5)?,
    })
}

pub fn insert_deployment(
    conn: &Connection,
    org_pk: i64,
    workspace_pk: i64,
    id: &str,
    name: &str,
    now: &str,
) -> Result<Deployment> {
    conn.prepare_cached(
        "INSERT INTO deployments (org_pk, workspace_pk, id, name, created) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![org_pk, workspace_pk, id, name, now])
    .map_err(unique_as("Deployment name"))?;
    let pk = conn.last_insert_rowid();
    Ok(conn
        .prepare_cached(&format!("{DEPLOYMENT} WHERE d.pk = ?"))?
        .query_row([pk], deployment)?)
}

/// The organization's Deployments (of one Workspace when `workspace_pk` is given).
pub fn deployments(
    conn: &Connection,
    org_pk: i64,
    workspace_pk: Option<i64>,
) -> Result<Vec<Deployment>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{DEPLOYMENT} WHERE d.org_pk = ?1 AND (?2 IS NULL OR d.workspace_pk = ?2)
         ORDER BY w.pk, d.name"
    ))?;
    let rows = stmt.query_map(params![org_pk, workspace_pk], deployment)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_deployment(
    conn: &Connection,
    org_pk: i64,
    id_or_name: &str,
) -> Result<Option<Deployment>> {
    Ok(conn
        .prepare_cached(&format!(
            "{DEPLOYMENT} WHERE d.org_pk = ?1 AND (d.id = ?2 OR d.name = ?2)"
        ))?
        .query_row(params![org_pk, id_or_name], deployment)
        .optional()?)
}

/// Deletes a Deployment; the roles given on it go with it.
pub fn delete_deployment(conn: &Connection, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM deployments WHERE org_pk = ? AND pk = ?")?
        .execute(params![org_pk, pk])?
        > 0)
}

// ---- Custom Deployment roles ----------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct CustomRole {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
}

fn custom_role(r: &Row<'_>) -> rusqlite::Result<CustomRole> {
    let text: String = r.get(3)?;
    Ok(CustomRole {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        permissions: serde_json::from_str(&text).unwrap_or_default(),
    })
}

pub fn insert_custom_role(
    conn: &Connection,
    org_pk: i64,
    id: &str,
    name: &str,
    permissions: &[String],
    now: &str,
) -> Result<CustomRole> {
    let text = serde_json::to_string(permissions)
        .map_err(|e| crate::error::Error::Internal(format!("permissions: {e}")))?;
    conn.prepare_cached(
        "INSERT INTO deployment_roles (org_pk, id, name, permissions, created)
         VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![org_pk, id, name, text, now])
    .map_err(unique_as("Deployment role name"))?;
    Ok(CustomRole {
        pk: conn.last_insert_rowid(),
        id: id.to_string(),
        name: name.to_string(),
        permissions: permissions.to_vec(),
    })
}

pub fn custom_roles(conn: &Connection, org_pk: i64) -> Result<Vec<CustomRole>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pk, id, name, permissions FROM deployment_roles WHERE org_pk = ? ORDER BY name",
    )?;
    let rows = stmt.query_map([org_pk], custom_role)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_custom_role(
    conn: &Connection,
    org_pk: i64,
    id_or_name: &str,
) -> Result<Option<CustomRole>> {
    Ok(conn
        .prepare_cached(
            "SELECT pk, id, name, permissions FROM deployment_roles
             WHERE org_pk = ?1 AND (id = ?2 OR name = ?2)",
        )?
        .query_row(params![org_pk, id_or_name], custom_role)
        .optional()?)
}

/// How many Team and user grants use a custom role.
pub fn custom_role_uses(conn: &Connection, pk: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT (SELECT COUNT(*) FROM team_deployment_roles WHERE custom_pk = ?1)
                  + (SELECT COUNT(*) FROM user_deployment_roles WHERE custom_pk = ?1)",
        )?
        .query_row([pk], |r| r.get(0))?)
}

pub fn delete_custom_role(conn: &Connection, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM deployment_roles WHERE org_pk = ? AND pk = ?")?
        .execute(params![org_pk, pk])?
        > 0)
}

// ---- Grants -----------------------------------------------------------------------------

/// A Deployment role as stored: the built-in DEPLOYMENT_ADMIN or a custom role's pk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentRole {
    Admin,
    Custom(i64),
}

impl DeploymentRole {
    fn columns(self) -> (Option<&'static str>, Option<i64>) {
        match self {
            DeploymentRole::Admin => (Some(crate::model::roles::DEPLOYMENT_ADMIN), None),
            DeploymentRole::Custom(pk) => (None, Some(pk)),
        }
    }
}

/// Whose grant a row is: a Team's (`team_deployment_roles`) or a user's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Team(i64),
    User(i64),
}

/// Sets (or with `None` removes) a Team's or user's role on a Deployment.
pub fn set_deployment_role(
    conn: &Connection,
    holder: Holder,
    deployment_pk: i64,
    role: Option<DeploymentRole>,
) -> Result<()> {
    let (table, key, pk) = match holder {
        Holder::Team(pk) => ("team_deployment_roles", "team_pk", pk),
        Holder::User(pk) => ("user_deployment_roles", "user_pk", pk),
    };
    match role {
        Some(r) => {
            let (role, custom) = r.columns();
            conn.prepare_cached(&format!(
                "INSERT INTO {table} ({key}, deployment_pk, role, custom_pk) VALUES (?, ?, ?, ?)
                 ON CONFLICT ({key}, deployment_pk)
                 DO UPDATE SET role = excluded.role, custom_pk = excluded.custom_pk"
            ))?
            .execute(params![pk, deployment_pk, role, custom])?
        }
        None => conn
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE {key} = ? AND deployment_pk = ?"
            ))?
            .execute(params![pk, deployment_pk])?,
    };
    Ok(())
}

/// A user's own Organization role.
pub fn set_user_org_role(conn: &Connection, user_pk: i64, role: &str) -> Result<()> {
    conn.prepare_cached("UPDATE users SET org_role = ? WHERE pk = ?")?
        .execute(params![role, user_pk])?;
    Ok(())
}

/// Sets (or with `None` removes) a user's own role in a Workspace.
pub fn set_user_workspace_role(
    conn: &Connection,
    user_pk: i64,
    workspace_pk: i64,
    role: Option<&str>,
) -> Result<()> {
    match role {
        Some(role) => conn
            .prepare_cached(
                "INSERT INTO user_workspace_roles (user_pk, workspace_pk, role) VALUES (?, ?, ?)
                 ON CONFLICT (user_pk, workspace_pk) DO UPDATE SET role = excluded.role",
            )?
            .execute(params![user_pk, workspace_pk, role])?,
        None => conn
            .prepare_cached(
                "DELETE FROM user_workspace_roles WHERE user_pk = ? AND workspace_pk = ?",
            )?
            .execute(params![user_pk, workspace_pk])?,
    };
    Ok(())
}

/// Where a grant reaches a user from: its own roles, or one of its Teams (id, name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    Own,
    Team(String, String),
}

/// One role on one Deployment, as granted.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentGrant {
    pub deployment: Deployment,
    /// DEPLOYMENT_ADMIN or the custom role's name.
    pub role: String,
    /// The custom role's permissions (empty for DEPLOYMENT_ADMIN, which holds them all).
    pub permissions: Vec<String>,
    pub via: Via,
}

/// Every grant that reaches a user, each with where it comes from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    pub org: Vec<(String, Via)>,
    /// (workspace id, workspace name, role, via)
    pub workspaces: Vec<(String, String, String, Via)>,
    pub deployments: Vec<DeploymentGrant>,
}

fn via(r: &Row<'_>, at: usize) -> rusqlite::Result<Via> {
    let id: Option<String> = r.get(at)?;
    Ok(match id {
        Some(id) => Via::Team(id, r.get(at + 1)?),
        None => Via::Own,
    })
}

const DEPLOYMENT_GRANT: &str = "d.pk, d.id, d.name, w.pk, w.id, w.name,
    COALESCE(g.role, c.name), COALESCE(c.permissions, '[]')";

fn deployment_grant(r: &Row<'_>) -> rusqlite::Result<DeploymentGrant> {
    let text: String = r.get(7)?;
    Ok(DeploymentGrant {
        deployment: deployment(r)?,
        role: r.get(6)?,
        permissions: serde_json::from_str(&text).unwrap_or_default(),
        via: via(r, 8)?,
    })
}

/// Every role that reaches a user: its own and each of its Teams', at every level.
pub fn user_grants(conn: &Connection, user_pk: i64) -> Result<Grants> {
    let mut out = Grants::default();
    let mut stmt = conn.prepare_cached(
        "SELECT u.org_role, NULL, NULL FROM users u WHERE u.pk = ?1
         UNION ALL
         SELECT t.org_role, t.id, t.display_name FROM memberships m
         JOIN teams t ON t.pk = m.team_pk WHERE m.user_pk = ?1",
    )?;
    out.org = stmt
        .query_map([user_pk], |r| Ok((r.get(0)?, via(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT w.id, w.name, g.role, g.team_id, g.team_name FROM (
             SELECT workspace_pk, role, NULL AS team_id, NULL AS team_name
             FROM user_workspace_roles WHERE user_pk = ?1
             UNION ALL
             SELECT r.workspace_pk, r.role, t.id, t.display_name FROM memberships m
             JOIN teams t ON t.pk = m.team_pk
             JOIN team_workspace_roles r ON r.team_pk = m.team_pk WHERE m.user_pk = ?1
         ) g JOIN workspaces w ON w.pk = g.workspace_pk ORDER BY w.pk",
    )?;
    out.workspaces = stmt
        .query_map([user_pk], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, via(r, 3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEPLOYMENT_GRANT}, g.team_id, g.team_name FROM (
             SELECT deployment_pk, role, custom_pk, NULL AS team_id, NULL AS team_name
             FROM user_deployment_roles WHERE user_pk = ?1
             UNION ALL
             SELECT r.deployment_pk, r.role, r.custom_pk, t.id, t.display_name
             FROM memberships m JOIN teams t ON t.pk = m.team_pk
             JOIN team_deployment_roles r ON r.team_pk = m.team_pk WHERE m.user_pk = ?1
         ) g JOIN deployments d ON d.pk = g.deployment_pk
         JOIN workspaces w ON w.pk = d.workspace_pk
         LEFT JOIN deployment_roles c ON c.pk = g.custom_pk
         ORDER BY w.pk, d.name"
    ))?;
    out.deployments = stmt
        .query_map([user_pk], deployment_grant)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(out)
}

/// The organization a user is in.
pub fn user_org(conn: &Connection, user_pk: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT org_pk FROM users WHERE pk = ?")?
        .query_row([user_pk], |r| r.get(0))?)
}

/// A Team's own Deployment roles (its template), `via` always `Own`.
pub fn team_deployment_roles(conn: &Connection, team_pk: i64) -> Result<Vec<DeploymentGrant>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DEPLOYMENT_GRANT}, NULL, NULL FROM team_deployment_roles g
         JOIN deployments d ON d.pk = g.deployment_pk
         JOIN workspaces w ON w.pk = d.workspace_pk
         LEFT JOIN deployment_roles c ON c.pk = g.custom_pk
         WHERE g.team_pk = ? ORDER BY w.pk, d.name"
    ))?;
    let rows = stmt.query_map([team_pk], deployment_grant)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether any active user of the organization holds ORGANIZATION_OWNER, itself or through
/// a Team (two indexed probes, not a count).
pub fn any_active_owner(conn: &Connection, org_pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users WHERE org_pk = ?1 AND active = 1
                            AND org_role = 'ORGANIZATION_OWNER')
                 OR EXISTS (SELECT 1 FROM teams t JOIN memberships m ON m.team_pk = t.pk
                            JOIN users u ON u.pk = m.user_pk
                            WHERE t.org_pk = ?1 AND t.org_role = 'ORGANIZATION_OWNER'
                              AND u.active = 1)",
        )?
        .query_row([org_pk], |r| r.get(0))?)
}

/// Whether this user is active and holds ORGANIZATION_OWNER, itself or through a Team.
pub fn is_active_owner(conn: &Connection, user_pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM users u WHERE u.pk = ?1 AND u.active = 1 AND
                 (u.org_role = 'ORGANIZATION_OWNER' OR EXISTS (
                     SELECT 1 FROM memberships m JOIN teams t ON t.pk = m.team_pk
                     WHERE m.user_pk = u.pk AND t.org_role = 'ORGANIZATION_OWNER')))",
        )?
        .query_row([user_pk], |r| r.get(0))?)
}

pub fn org_id(conn: &Connection, org_pk: i64) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT id FROM orgs WHERE pk = ?")?
        .query_row([org_pk], |r| r.get(0))?)
}

// ---- Role rules ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct RuleRow {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub value: String,
    /// The role template as JSON text (see `directory::rules`).
    pub template: String,
    pub created: String,
}

fn rule(r: &Row<'_>) -> rusqlite::Result<RuleRow> {
    Ok(RuleRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        value: r.get(4)?,
        template: r.get(5)?,
        created: r.get(6)?,
    })
}

const RULE: &str = "SELECT pk, id, name, kind, value, template, created FROM team_rules";

pub fn insert_rule(conn: &Connection, org_pk: i64, r: &RuleRow) -> Result<RuleRow> {
    conn.prepare_cached(
        "INSERT INTO team_rules (org_pk, id, name, kind, value, template, created)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        org_pk, r.id, r.name, r.kind, r.value, r.template, r.created
    ])
    .map_err(unique_as("rule name"))?;
    Ok(RuleRow {
        pk: conn.last_insert_rowid(),
        ..r.clone()
    })
}

pub fn rules(conn: &Connection, org_pk: i64) -> Result<Vec<RuleRow>> {
    let mut stmt = conn.prepare_cached(&format!("{RULE} WHERE org_pk = ? ORDER BY name"))?;
    let rows = stmt.query_map([org_pk], rule)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn find_rule(conn: &Connection, org_pk: i64, id_or_name: &str) -> Result<Option<RuleRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "{RULE} WHERE org_pk = ?1 AND (id = ?2 OR name = ?2)"
        ))?
        .query_row(params![org_pk, id_or_name], rule)
        .optional()?)
}

pub fn delete_rule(conn: &Connection, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM team_rules WHERE org_pk = ? AND pk = ?")?
        .execute(params![org_pk, pk])?
        > 0)
}

/// Records which rule gave a Team its template.
pub fn set_team_rule(conn: &Connection, team_pk: i64, rule_id: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE teams SET rule_id = ? WHERE pk = ?")?
        .execute(params![rule_id, team_pk])?;
    Ok(())
}

/// The rule (id, name) that gave a Team its template, if one did and it still exists (a
/// deleted rule is shown by its id alone).
pub fn team_rule(conn: &Connection, team_pk: i64) -> Result<Option<(String, Option<String>)>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.rule_id, r.name FROM teams t LEFT JOIN team_rules r ON r.id = t.rule_id
             WHERE t.pk = ? AND t.rule_id IS NOT NULL",
        )?
        .query_row([team_pk], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}
