//! Deployments, custom Deployment roles, the Deployment and own roles of Teams and users, and
//! the role rules for pushed Teams. Every query names the organization (directly or through
//! a row found by it), so organizations never see each other's.

use super::sql::{Conn, Engine, Row, params};
use super::unique_as;
use crate::error::Result;

/// `ORDER BY` text for a name column that is COLLATE NOCASE on SQLite (kept as it is there):
/// on PostgreSQL the same ASCII-only folding compared bytewise, so both engines list names in
/// one order whatever the database's locale.
fn by_name(conn: &Conn<'_>, column: &'static str) -> String {
    match conn.engine() {
        Engine::Sqlite => column.to_string(),
        Engine::Postgres => format!("scimbox_nocase({column}) COLLATE \"C\""),
    }
}

/// `WHERE` text matching a NOCASE name column against parameter `param`: SQLite's column
/// collation, PostgreSQL's `scimbox_nocase()` on both sides (the expression its unique index
/// is on).
fn name_is(conn: &Conn<'_>, column: &'static str, param: &'static str) -> String {
    match conn.engine() {
        Engine::Sqlite => format!("{column} = {param}"),
        Engine::Postgres => format!("scimbox_nocase({column}) = scimbox_nocase({param})"),
    }
}

/// ` FOR UPDATE OF {alias}` inside a PostgreSQL write, nothing otherwise.
fn lock_of(conn: &Conn<'_>, alias: &'static str) -> String {
    if conn.for_update().is_empty() {
        String::new()
    } else {
        format!(" FOR UPDATE OF {alias}")
    }
}

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

fn deployment(r: &Row<'_>) -> Result<Deployment> {
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
    conn: &Conn<'_>,
    org_pk: i64,
    workspace_pk: i64,
    id: &str,
    name: &str,
    now: &str,
) -> Result<Deployment> {
    let pk: i64 = conn
        .query_row(
            "INSERT INTO deployments (org_pk, workspace_pk, id, name, created)
             VALUES (?, ?, ?, ?, ?) RETURNING pk",
            params![org_pk, workspace_pk, id, name, now],
            |r| r.get(0),
        )
        .map_err(unique_as("Deployment name"))?;
    conn.query_row(
        &format!("{DEPLOYMENT} WHERE d.pk = ?"),
        params![pk],
        deployment,
    )
}

/// The organization's Deployments (of one Workspace when `workspace_pk` is given).
pub fn deployments(
    conn: &Conn<'_>,
    org_pk: i64,
    workspace_pk: Option<i64>,
) -> Result<Vec<Deployment>> {
    conn.query_map(
        &format!(
            "{DEPLOYMENT} WHERE d.org_pk = ?1 AND ({} IS NULL OR d.workspace_pk = ?2)
         ORDER BY w.pk, {}",
            // PostgreSQL cannot type a parameter from `IS NULL` alone.
            match conn.engine() {
                Engine::Sqlite => "?2",
                Engine::Postgres => "CAST(?2 AS BIGINT)",
            },
            by_name(conn, "d.name")
        ),
        params![org_pk, workspace_pk],
        deployment,
    )
}

/// The organization's Deployment with this id or name (any ASCII case). Inside a PostgreSQL
/// write its row is locked, so a role given on it and its deletion take turns (a role is
/// never given on a Deployment deleted meanwhile).
pub fn find_deployment(
    conn: &Conn<'_>,
    org_pk: i64,
    id_or_name: &str,
) -> Result<Option<Deployment>> {
    conn.query_opt(
        &format!(
            "{DEPLOYMENT} WHERE d.org_pk = ?1 AND (d.id = ?2 OR {}){}",
            name_is(conn, "d.name", "?2"),
            lock_of(conn, "d")
        ),
        params![org_pk, id_or_name],
        deployment,
    )
}

/// Deletes a Deployment; the roles given on it go with it.
pub fn delete_deployment(conn: &Conn<'_>, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM deployments WHERE org_pk = ? AND pk = ?",
        params![org_pk, pk],
    )? > 0)
}

// ---- Custom Deployment roles ----------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct CustomRole {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
}

fn custom_role(r: &Row<'_>) -> Result<CustomRole> {
    let text: String = r.get(3)?;
    Ok(CustomRole {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        permissions: serde_json::from_str(&text).unwrap_or_default(),
    })
}

pub fn insert_custom_role(
    conn: &Conn<'_>,
    org_pk: i64,
    id: &str,
    name: &str,
    permissions: &[String],
    now: &str,
) -> Result<CustomRole> {
    let text = serde_json::to_string(permissions)
        .map_err(|e| crate::error::Error::Internal(format!("permissions: {e}")))?;
    let pk: i64 = conn
        .query_row(
            "INSERT INTO deployment_roles (org_pk, id, name, permissions, created)
             VALUES (?, ?, ?, ?, ?) RETURNING pk",
            params![org_pk, id, name, text, now],
            |r| r.get(0),
        )
        .map_err(unique_as("Deployment role name"))?;
    Ok(CustomRole {
        pk,
        id: id.to_string(),
        name: name.to_string(),
        permissions: permissions.to_vec(),
    })
}

pub fn custom_roles(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<CustomRole>> {
    conn.query_map(
        &format!(
            "SELECT pk, id, name, permissions FROM deployment_roles WHERE org_pk = ? ORDER BY {}",
            by_name(conn, "name")
        ),
        params![org_pk],
        custom_role,
    )
}

/// The organization's custom role with this id or name (any ASCII case). Inside a
/// PostgreSQL write its row is locked, so giving the role and deleting it take turns (the
/// deletion's count of uses stays true until it commits).
pub fn find_custom_role(
    conn: &Conn<'_>,
    org_pk: i64,
    id_or_name: &str,
) -> Result<Option<CustomRole>> {
    conn.query_opt(
        &format!(
            "SELECT pk, id, name, permissions FROM deployment_roles
             WHERE org_pk = ?1 AND (id = ?2 OR {}){}",
            name_is(conn, "name", "?2"),
            conn.for_update()
        ),
        params![org_pk, id_or_name],
        custom_role,
    )
}

/// How many Team and user grants use a custom role.
pub fn custom_role_uses(conn: &Conn<'_>, pk: i64) -> Result<i64> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM team_deployment_roles WHERE custom_pk = ?1)
              + (SELECT COUNT(*) FROM user_deployment_roles WHERE custom_pk = ?1)",
        params![pk],
        |r| r.get(0),
    )
}

pub fn delete_custom_role(conn: &Conn<'_>, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM deployment_roles WHERE org_pk = ? AND pk = ?",
        params![org_pk, pk],
    )? > 0)
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
    conn: &Conn<'_>,
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
            conn.execute(
                &format!(
                    "INSERT INTO {table} ({key}, deployment_pk, role, custom_pk) VALUES (?, ?, ?, ?)
                 ON CONFLICT ({key}, deployment_pk)
                 DO UPDATE SET role = excluded.role, custom_pk = excluded.custom_pk"
                ),
                params![pk, deployment_pk, role, custom],
            )?
        }
        None => conn.execute(
            &format!("DELETE FROM {table} WHERE {key} = ? AND deployment_pk = ?"),
            params![pk, deployment_pk],
        )?,
    };
    Ok(())
}

/// Inside a PostgreSQL write, locks the row of the Team or user whose roles a write is about
/// to read and change, so two servers changing one holder's roles take turns (each reads
/// what the other wrote: its audit's before is true). Nothing on SQLite, or in a read.
pub fn lock_holder(conn: &Conn<'_>, holder: Holder) -> Result<()> {
    if conn.for_update().is_empty() {
        return Ok(());
    }
    let sql = match holder {
        Holder::Team(_) => "SELECT pk FROM teams WHERE pk = ? FOR UPDATE",
        Holder::User(_) => "SELECT pk FROM users WHERE pk = ? FOR UPDATE",
    };
    let (Holder::Team(pk) | Holder::User(pk)) = holder;
    conn.query_opt(sql, params![pk], |r| r.get::<i64>(0))?;
    Ok(())
}

/// A user's own Organization role.
pub fn set_user_org_role(conn: &Conn<'_>, user_pk: i64, role: &str) -> Result<()> {
    conn.execute(
        "UPDATE users SET org_role = ? WHERE pk = ?",
        params![role, user_pk],
    )?;
    Ok(())
}

/// Sets (or with `None` removes) a user's own role in a Workspace.
pub fn set_user_workspace_role(
    conn: &Conn<'_>,
    user_pk: i64,
    workspace_pk: i64,
    role: Option<&str>,
) -> Result<()> {
    match role {
        Some(role) => conn.execute(
            "INSERT INTO user_workspace_roles (user_pk, workspace_pk, role) VALUES (?, ?, ?)
             ON CONFLICT (user_pk, workspace_pk) DO UPDATE SET role = excluded.role",
            params![user_pk, workspace_pk, role],
        )?,
        None => conn.execute(
            "DELETE FROM user_workspace_roles WHERE user_pk = ? AND workspace_pk = ?",
            params![user_pk, workspace_pk],
        )?,
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

fn via(r: &Row<'_>, at: usize) -> Result<Via> {
    let id: Option<String> = r.get(at)?;
    Ok(match id {
        Some(id) => Via::Team(id, r.get(at + 1)?),
        None => Via::Own,
    })
}

const DEPLOYMENT_GRANT: &str = "d.pk, d.id, d.name, w.pk, w.id, w.name,
    COALESCE(g.role, c.name), COALESCE(c.permissions, '[]')";

fn deployment_grant(r: &Row<'_>) -> Result<DeploymentGrant> {
    let text: String = r.get(7)?;
    Ok(DeploymentGrant {
        deployment: deployment(r)?,
        role: r.get(6)?,
        permissions: serde_json::from_str(&text).unwrap_or_default(),
        via: via(r, 8)?,
    })
}

/// Every role that reaches a user: its own and each of its Teams', at every level.
pub fn user_grants(conn: &Conn<'_>, user_pk: i64) -> Result<Grants> {
    let org = conn.query_map(
        "SELECT u.org_role, NULL, NULL FROM users u WHERE u.pk = ?1
         UNION ALL
         SELECT t.org_role, t.id, t.display_name FROM memberships m
         JOIN teams t ON t.pk = m.team_pk WHERE m.user_pk = ?1",
        params![user_pk],
        |r| Ok((r.get(0)?, via(r, 1)?)),
    )?;
    let workspaces = conn.query_map(
        "SELECT w.id, w.name, g.role, g.team_id, g.team_name FROM (
             SELECT workspace_pk, role, NULL AS team_id, NULL AS team_name
             FROM user_workspace_roles WHERE user_pk = ?1
             UNION ALL
             SELECT r.workspace_pk, r.role, t.id, t.display_name FROM memberships m
             JOIN teams t ON t.pk = m.team_pk
             JOIN team_workspace_roles r ON r.team_pk = m.team_pk WHERE m.user_pk = ?1
         ) g JOIN workspaces w ON w.pk = g.workspace_pk ORDER BY w.pk",
        params![user_pk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, via(r, 3)?)),
    )?;
    let deployments = conn.query_map(
        &format!(
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
         ORDER BY w.pk, {}",
            by_name(conn, "d.name")
        ),
        params![user_pk],
        deployment_grant,
    )?;
    Ok(Grants {
        org,
        workspaces,
        deployments,
    })
}

/// The organization a user is in.
pub fn user_org(conn: &Conn<'_>, user_pk: i64) -> Result<i64> {
    conn.query_row(
        "SELECT org_pk FROM users WHERE pk = ?",
        params![user_pk],
        |r| r.get(0),
    )
}

/// A Team's own Deployment roles (its template), `via` always `Own`.
pub fn team_deployment_roles(conn: &Conn<'_>, team_pk: i64) -> Result<Vec<DeploymentGrant>> {
    conn.query_map(
        &format!(
            "SELECT {DEPLOYMENT_GRANT}, NULL, NULL FROM team_deployment_roles g
         JOIN deployments d ON d.pk = g.deployment_pk
         JOIN workspaces w ON w.pk = d.workspace_pk
         LEFT JOIN deployment_roles c ON c.pk = g.custom_pk
         WHERE g.team_pk = ? ORDER BY w.pk, {}",
            by_name(conn, "d.name")
        ),
        params![team_pk],
        deployment_grant,
    )
}

/// Whether any active user of the organization holds ORGANIZATION_OWNER, itself or through
/// a Team (two indexed probes, not a count).
pub fn any_active_owner(conn: &Conn<'_>, org_pk: i64) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE org_pk = ?1 AND active = TRUE
                        AND org_role = 'ORGANIZATION_OWNER')
             OR EXISTS (SELECT 1 FROM teams t JOIN memberships m ON m.team_pk = t.pk
                        JOIN users u ON u.pk = m.user_pk
                        WHERE t.org_pk = ?1 AND t.org_role = 'ORGANIZATION_OWNER'
                          AND u.active = TRUE)",
        params![org_pk],
        |r| r.get(0),
    )
}

/// Whether this user is active and holds ORGANIZATION_OWNER, itself or through a Team.
pub fn is_active_owner(conn: &Conn<'_>, user_pk: i64) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users u WHERE u.pk = ?1 AND u.active = TRUE AND
             (u.org_role = 'ORGANIZATION_OWNER' OR EXISTS (
                 SELECT 1 FROM memberships m JOIN teams t ON t.pk = m.team_pk
                 WHERE m.user_pk = u.pk AND t.org_role = 'ORGANIZATION_OWNER')))",
        params![user_pk],
        |r| r.get(0),
    )
}

pub fn org_id(conn: &Conn<'_>, org_pk: i64) -> Result<String> {
    conn.query_row("SELECT id FROM orgs WHERE pk = ?", params![org_pk], |r| {
        r.get(0)
    })
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

fn rule(r: &Row<'_>) -> Result<RuleRow> {
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

pub fn insert_rule(conn: &Conn<'_>, org_pk: i64, r: &RuleRow) -> Result<RuleRow> {
    let pk: i64 = conn
        .query_row(
            "INSERT INTO team_rules (org_pk, id, name, kind, value, template, created)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING pk",
            params![org_pk, r.id, r.name, r.kind, r.value, r.template, r.created],
            |row| row.get(0),
        )
        .map_err(unique_as("rule name"))?;
    Ok(RuleRow { pk, ..r.clone() })
}

pub fn rules(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<RuleRow>> {
    conn.query_map(
        &format!("{RULE} WHERE org_pk = ? ORDER BY {}", by_name(conn, "name")),
        params![org_pk],
        rule,
    )
}

/// The organization's rule with this id or name (any ASCII case).
pub fn find_rule(conn: &Conn<'_>, org_pk: i64, id_or_name: &str) -> Result<Option<RuleRow>> {
    conn.query_opt(
        &format!(
            "{RULE} WHERE org_pk = ?1 AND (id = ?2 OR {})",
            name_is(conn, "name", "?2")
        ),
        params![org_pk, id_or_name],
        rule,
    )
}

pub fn delete_rule(conn: &Conn<'_>, org_pk: i64, pk: i64) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM team_rules WHERE org_pk = ? AND pk = ?",
        params![org_pk, pk],
    )? > 0)
}

/// Records which rule gave a Team its template.
pub fn set_team_rule(conn: &Conn<'_>, team_pk: i64, rule_id: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE teams SET rule_id = ? WHERE pk = ?",
        params![rule_id, team_pk],
    )?;
    Ok(())
}

/// The rule (id, name) that gave a Team its template, if one did and it still exists (a
/// deleted rule is shown by its id alone).
pub fn team_rule(conn: &Conn<'_>, team_pk: i64) -> Result<Option<(String, Option<String>)>> {
    conn.query_opt(
        "SELECT t.rule_id, r.name FROM teams t LEFT JOIN team_rules r ON r.id = t.rule_id
         WHERE t.pk = ? AND t.rule_id IS NOT NULL",
        params![team_pk],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::model::roles::DEPLOYMENT_ADMIN;
    use crate::store::Conn;
    use crate::store::testing;
    use crate::store::tokens::tests::{org, postgres_pair};

    const OWNER: &str = "ORGANIZATION_OWNER";

    /// Rows of other files' tables, written with SQL of the test's own.
    fn workspace(c: &Conn<'_>, org_pk: i64, id: &str) -> Result<i64> {
        c.query_row(
            "INSERT INTO workspaces (org_pk, id, name, created) VALUES (?, ?, ?, 'now')
             RETURNING pk",
            params![org_pk, id, id],
            |r| r.get(0),
        )
    }

    fn user(c: &Conn<'_>, org_pk: i64, id: &str, active: bool) -> Result<i64> {
        c.query_row(
            "INSERT INTO users (org_pk, id, user_name, user_name_fold, active, created,
             last_modified, data) VALUES (?, ?, ?, ?, ?, 'now', 'now', '{}') RETURNING pk",
            params![org_pk, id, id, id, active],
            |r| r.get(0),
        )
    }

    fn team(c: &Conn<'_>, org_pk: i64, id: &str, role: &str, members: &[i64]) -> Result<i64> {
        let pk: i64 = c.query_row(
            "INSERT INTO teams (org_pk, id, display_name, display_name_fold, org_role,
             scim_managed, created, last_modified, data)
             VALUES (?, ?, ?, ?, ?, TRUE, 'now', 'now', '{}') RETURNING pk",
            params![org_pk, id, id, id, role],
            |r| r.get(0),
        )?;
        for m in members {
            c.execute(
                "INSERT INTO memberships (team_pk, user_pk) VALUES (?, ?)",
                params![pk, m],
            )?;
        }
        Ok(pk)
    }

    #[test]
    fn deployments_are_named_once_per_organization_in_any_case() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "o1");
            let other = org(&store, "o2");
            let (w1, w2) = store
                .write_blocking(move |c| Ok((workspace(c, o, "w1")?, workspace(c, o, "w2")?)))
                .unwrap();
            let add = |org_pk: i64, ws: i64, id: &'static str, name: &'static str| {
                store.write_blocking(move |c| insert_deployment(c, org_pk, ws, id, name, "t0"))
            };
            let d = add(o, w1, "d1", "prod").unwrap();
            assert_eq!(
                (
                    d.id.as_str(),
                    d.name.as_str(),
                    d.workspace_pk,
                    d.workspace_id.as_str()
                ),
                ("d1", "prod", w1, "w1"),
                "{engine}"
            );
            assert_eq!(
                add(o, w2, "d2", "PROD"),
                Err(Error::Uniqueness("Deployment name".into())),
                "{engine}"
            );
            add(o, w2, "d3", "b-stage").unwrap();
            add(o, w1, "d4", "Alpha").unwrap();
            let w_other = store
                .write_blocking(move |c| workspace(c, other, "w9"))
                .unwrap();
            add(other, w_other, "d5", "prod").unwrap();
            let names = |ws: Option<i64>| {
                store
                    .read_blocking(move |c| deployments(c, o, ws))
                    .unwrap()
                    .into_iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
            };
            // By Workspace, then by name ignoring ASCII case.
            assert_eq!(names(None), ["Alpha", "prod", "b-stage"], "{engine}");
            assert_eq!(names(Some(w2)), ["b-stage"], "{engine}");
            let find = |org_pk: i64, what: &'static str| {
                store
                    .read_blocking(move |c| find_deployment(c, org_pk, what))
                    .unwrap()
                    .map(|d| d.id)
            };
            assert_eq!(find(o, "PROD").as_deref(), Some("d1"), "{engine}");
            assert_eq!(find(o, "d3").as_deref(), Some("d3"), "{engine}");
            assert_eq!(find(o, "d5"), None, "{engine}: another organization's");
            assert_eq!(find(o, "nope"), None, "{engine}");
            assert_eq!(
                store.write_blocking(move |c| delete_deployment(c, other, d.pk)),
                Ok(false),
                "{engine}"
            );
            assert_eq!(
                store.write_blocking(move |c| delete_deployment(c, o, d.pk)),
                Ok(true),
                "{engine}"
            );
            assert_eq!(find(o, "prod"), None, "{engine}");
            store.close();
        }
    }

    #[test]
    fn custom_roles_are_counted_and_deleted() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "o1");
            let perms = vec![
                "deployment.get".to_string(),
                "deployment.update".to_string(),
            ];
            let p2 = perms.clone();
            let role = store
                .write_blocking(move |c| insert_custom_role(c, o, "r1", "Operator", &p2, "t0"))
                .unwrap();
            assert_eq!(role.permissions, perms, "{engine}");
            assert_eq!(
                store.write_blocking(move |c| insert_custom_role(
                    c,
                    o,
                    "r2",
                    "OPERATOR",
                    &[],
                    "t0"
                )),
                Err(Error::Uniqueness("Deployment role name".into())),
                "{engine}"
            );
            store
                .write_blocking(move |c| insert_custom_role(c, o, "r3", "auditor", &[], "t0"))
                .unwrap();
            let listed: Vec<String> = store
                .read_blocking(move |c| custom_roles(c, o))
                .unwrap()
                .into_iter()
                .map(|r| r.name)
                .collect();
            assert_eq!(listed, ["auditor", "Operator"], "{engine}");
            let found = store
                .read_blocking(move |c| find_custom_role(c, o, "operator"))
                .unwrap();
            assert_eq!(found, Some(role.clone()), "{engine}");
            assert_eq!(
                store.read_blocking(move |c| find_custom_role(c, o, "r9")),
                Ok(None)
            );
            // Given to a Team and a user: two uses; deleting is the caller's to refuse.
            let rpk = role.pk;
            store
                .write_blocking(move |c| {
                    let w = workspace(c, o, "w1")?;
                    let d = insert_deployment(c, o, w, "d1", "prod", "t0")?;
                    let u = user(c, o, "u1", true)?;
                    let t = team(c, o, "t1", "ORGANIZATION_MEMBER", &[])?;
                    let custom = Some(DeploymentRole::Custom(rpk));
                    set_deployment_role(c, Holder::User(u), d.pk, custom)?;
                    set_deployment_role(c, Holder::Team(t), d.pk, custom)
                })
                .unwrap();
            assert_eq!(
                store.read_blocking(move |c| custom_role_uses(c, rpk)),
                Ok(2),
                "{engine}"
            );
            let r3 = store
                .read_blocking(move |c| find_custom_role(c, o, "r3"))
                .unwrap()
                .unwrap();
            assert_eq!(
                store.read_blocking(move |c| custom_role_uses(c, r3.pk)),
                Ok(0)
            );
            assert_eq!(
                store.write_blocking(move |c| delete_custom_role(c, o, r3.pk)),
                Ok(true),
                "{engine}"
            );
            assert_eq!(
                store.write_blocking(move |c| delete_custom_role(c, o, r3.pk)),
                Ok(false),
                "{engine}"
            );
            store.close();
        }
    }

    #[test]
    fn grants_reach_a_user_from_itself_and_its_teams() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "o1");
            let (u, t, d1, d2, w) = store
                .write_blocking(move |c| {
                    let w = workspace(c, o, "w1")?;
                    let d1 = insert_deployment(c, o, w, "d1", "prod", "t0")?;
                    let d2 = insert_deployment(c, o, w, "d2", "Dev", "t0")?;
                    let u = user(c, o, "u1", true)?;
                    let t = team(c, o, "t1", "WORKSPACE_MEMBER_ORG", &[u])?;
                    Ok((u, t, d1.pk, d2.pk, w))
                })
                .unwrap();
            let role = store
                .write_blocking(move |c| {
                    insert_custom_role(c, o, "r1", "viewer", &["deployment.get".into()], "t0")
                })
                .unwrap();
            let rpk = role.pk;
            store
                .write_blocking(move |c| {
                    set_user_org_role(c, u, OWNER)?;
                    set_user_workspace_role(c, u, w, Some("WORKSPACE_OPERATOR"))?;
                    c.execute(
                        "INSERT INTO team_workspace_roles (team_pk, workspace_pk, role)
                         VALUES (?, ?, 'WORKSPACE_AUTHOR')",
                        params![t, w],
                    )?;
                    set_deployment_role(c, Holder::User(u), d1, Some(DeploymentRole::Admin))?;
                    // Set twice: the second replaces the first.
                    set_deployment_role(c, Holder::Team(t), d2, Some(DeploymentRole::Admin))?;
                    set_deployment_role(c, Holder::Team(t), d2, Some(DeploymentRole::Custom(rpk)))
                })
                .unwrap();
            let g = store.read_blocking(move |c| user_grants(c, u)).unwrap();
            let team_via = Via::Team("t1".into(), "t1".into());
            assert_eq!(
                g.org,
                vec![
                    (OWNER.to_string(), Via::Own),
                    ("WORKSPACE_MEMBER_ORG".to_string(), team_via.clone())
                ],
                "{engine}"
            );
            let mut ws = g.workspaces.clone();
            ws.sort();
            assert_eq!(
                ws,
                vec![
                    (
                        "w1".into(),
                        "w1".into(),
                        "WORKSPACE_AUTHOR".into(),
                        team_via.clone()
                    ),
                    (
                        "w1".into(),
                        "w1".into(),
                        "WORKSPACE_OPERATOR".into(),
                        Via::Own
                    ),
                ],
                "{engine}"
            );
            let deps: Vec<(String, String, Vec<String>, Via)> = g
                .deployments
                .iter()
                .map(|d| {
                    (
                        d.deployment.name.clone(),
                        d.role.clone(),
                        d.permissions.clone(),
                        d.via.clone(),
                    )
                })
                .collect();
            assert_eq!(
                deps,
                vec![
                    (
                        "Dev".into(),
                        "viewer".into(),
                        vec!["deployment.get".into()],
                        team_via.clone()
                    ),
                    ("prod".into(), DEPLOYMENT_ADMIN.into(), vec![], Via::Own),
                ],
                "{engine}"
            );
            let template = store
                .read_blocking(move |c| team_deployment_roles(c, t))
                .unwrap();
            assert_eq!(template.len(), 1, "{engine}");
            assert_eq!(
                (template[0].role.as_str(), &template[0].via),
                ("viewer", &Via::Own),
                "{engine}"
            );
            assert_eq!(store.read_blocking(move |c| user_org(c, u)), Ok(o));
            assert_eq!(store.read_blocking(move |c| org_id(c, o)), Ok("o1".into()));
            // Removing: the grants go, others stay.
            store
                .write_blocking(move |c| {
                    set_deployment_role(c, Holder::User(u), d1, None)?;
                    set_user_workspace_role(c, u, w, None)
                })
                .unwrap();
            let g = store.read_blocking(move |c| user_grants(c, u)).unwrap();
            assert_eq!(g.workspaces.len(), 1, "{engine}");
            assert_eq!(g.deployments.len(), 1, "{engine}");
            store.close();
        }
    }

    #[test]
    fn owners_are_found_directly_and_through_teams_when_active() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "o1");
            let (u1, u2) = store
                .write_blocking(move |c| Ok((user(c, o, "u1", true)?, user(c, o, "u2", false)?)))
                .unwrap();
            let owners = || {
                store
                    .read_blocking(move |c| any_active_owner(c, o))
                    .unwrap()
            };
            let is_owner = |u: i64| store.read_blocking(move |c| is_active_owner(c, u)).unwrap();
            assert!(!owners(), "{engine}");
            // An inactive Owner is no Owner.
            store
                .write_blocking(move |c| set_user_org_role(c, u2, OWNER))
                .unwrap();
            assert!(!owners() && !is_owner(u2), "{engine}");
            // Through a Team.
            store
                .write_blocking(move |c| team(c, o, "owners", OWNER, &[u1]))
                .unwrap();
            assert!(owners() && is_owner(u1), "{engine}");
            store
                .write_blocking(move |c| {
                    c.execute("DELETE FROM memberships WHERE user_pk = ?", params![u1])
                })
                .unwrap();
            assert!(!owners() && !is_owner(u1), "{engine}");
            // Directly.
            store
                .write_blocking(move |c| set_user_org_role(c, u1, OWNER))
                .unwrap();
            assert!(owners() && is_owner(u1), "{engine}");
            store.close();
        }
    }

    #[test]
    fn rules_are_named_once_and_remembered_by_teams() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "o1");
            let rule_row = |id: &str, name: &str| RuleRow {
                pk: 0,
                id: id.into(),
                name: name.into(),
                kind: "prefix".into(),
                value: "eng-".into(),
                template: "{}".into(),
                created: "t0".into(),
            };
            let r1 = rule_row("r1", "Engineering");
            let stored = store
                .write_blocking(move |c| insert_rule(c, o, &r1))
                .unwrap();
            assert!(stored.pk > 0, "{engine}");
            let dup = rule_row("r2", "ENGINEERING");
            assert_eq!(
                store.write_blocking(move |c| insert_rule(c, o, &dup)),
                Err(Error::Uniqueness("rule name".into())),
                "{engine}"
            );
            let r3 = rule_row("r3", "admins");
            store
                .write_blocking(move |c| insert_rule(c, o, &r3))
                .unwrap();
            let names: Vec<String> = store
                .read_blocking(move |c| rules(c, o))
                .unwrap()
                .into_iter()
                .map(|r| r.name)
                .collect();
            assert_eq!(names, ["admins", "Engineering"], "{engine}");
            assert_eq!(
                store.read_blocking(move |c| find_rule(c, o, "engineering")),
                Ok(Some(stored.clone())),
                "{engine}"
            );
            assert_eq!(
                store.read_blocking(move |c| find_rule(c, o, "zz")),
                Ok(None)
            );
            let t = store
                .write_blocking(move |c| team(c, o, "eng-web", "ORGANIZATION_MEMBER", &[]))
                .unwrap();
            assert_eq!(store.read_blocking(move |c| team_rule(c, t)), Ok(None));
            store
                .write_blocking(move |c| set_team_rule(c, t, Some("r1")))
                .unwrap();
            assert_eq!(
                store.read_blocking(move |c| team_rule(c, t)),
                Ok(Some(("r1".into(), Some("Engineering".into())))),
                "{engine}"
            );
            // A deleted rule is remembered by its id alone.
            assert_eq!(
                store.write_blocking(move |c| delete_rule(c, o, stored.pk)),
                Ok(true)
            );
            assert_eq!(
                store.read_blocking(move |c| team_rule(c, t)),
                Ok(Some(("r1".into(), None))),
                "{engine}"
            );
            store
                .write_blocking(move |c| set_team_rule(c, t, None))
                .unwrap();
            assert_eq!(store.read_blocking(move |c| team_rule(c, t)), Ok(None));
            store.close();
        }
    }

    /// Two servers: one deletes a custom role while the other gives it. The role's row lock
    /// makes them take turns, so either the role is refused as missing or the deletion sees
    /// the new use; never a grant of a deleted role or a failed statement.
    #[test]
    fn giving_and_deleting_a_custom_role_take_turns() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let o = org(&a, "o1");
        let (d, users) = a
            .write_blocking(move |c| {
                let w = workspace(c, o, "w1")?;
                let d = insert_deployment(c, o, w, "d1", "prod", "t0")?;
                let users = (0..6)
                    .map(|i| user(c, o, &format!("u{i}"), true))
                    .collect::<Result<Vec<_>>>()?;
                Ok((d.pk, users))
            })
            .unwrap();
        for (round, u) in users.into_iter().enumerate() {
            let name = format!("role{round}");
            let n2 = name.clone();
            a.write_blocking(move |c| insert_custom_role(c, o, &n2, &n2, &[], "t0"))
                .unwrap();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let (bar, n2) = (barrier.clone(), name.clone());
            let give = {
                let b = b.clone();
                std::thread::spawn(move || {
                    bar.wait();
                    b.write_blocking(move |c| {
                        let Some(r) = find_custom_role(c, o, &n2)? else {
                            return Ok(false);
                        };
                        set_deployment_role(
                            c,
                            Holder::User(u),
                            d,
                            Some(DeploymentRole::Custom(r.pk)),
                        )?;
                        Ok(true)
                    })
                })
            };
            let (bar, n2) = (barrier.clone(), name.clone());
            let delete = {
                let a = a.clone();
                std::thread::spawn(move || {
                    bar.wait();
                    a.write_blocking(move |c| {
                        let r = find_custom_role(c, o, &n2)?.expect("still there");
                        if custom_role_uses(c, r.pk)? > 0 {
                            return Ok(false);
                        }
                        delete_custom_role(c, o, r.pk)
                    })
                })
            };
            let given = give.join().unwrap().unwrap();
            let deleted = delete.join().unwrap().unwrap();
            assert!(
                given != deleted,
                "round {round}: given {given}, deleted {deleted}"
            );
        }
        a.close();
        b.close();
    }
}
