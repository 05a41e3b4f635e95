//! Teams, their members, Workspaces and the roles of the access templates.
//!
//! Members live in `memberships` (one row per member), so every change touches only the
//! members it names, and reading a Team without its members never looks at them.

use super::sql::{Conn, Engine, Row, params};
use crate::error::Result;
use crate::model::fold::fold;
use crate::model::query::ListQuery;

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

fn from_row(r: &Row<'_>) -> Result<TeamRow> {
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
    conn: &Conn<'_>,
    org_pk: i64,
    id: &str,
    cols: &TeamColumns,
    data: &str,
    scim_managed: bool,
    now: &str,
) -> Result<TeamRow> {
    let pk: i64 = conn
        .query_row(
            "INSERT INTO teams (org_pk, id, display_name, display_name_fold, external_id,
             description, scim_managed, created, last_modified, version, data)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING pk",
            params![
                org_pk,
                id,
                cols.display_name,
                &*fold(&cols.display_name),
                cols.external_id,
                cols.description,
                scim_managed,
                now,
                now,
                data
            ],
            |r| r.get(0),
        )
        .map_err(super::unique_as("displayName"))?;
    Ok(TeamRow {
        pk,
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
pub fn update(conn: &Conn<'_>, pk: i64, cols: &TeamColumns, data: &str, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE teams SET display_name = ?, display_name_fold = ?, external_id = ?,
         description = ?, data = ?, last_modified = ?, version = version + 1 WHERE pk = ?",
        params![
            cols.display_name,
            &*fold(&cols.display_name),
            cols.external_id,
            cols.description,
            data,
            now,
            pk
        ],
    )
    .map_err(super::unique_as("displayName"))?;
    Ok(())
}

/// Marks a Team changed (its members or roles) without touching its attributes.
pub fn touch(conn: &Conn<'_>, pk: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE teams SET last_modified = ?, version = version + 1 WHERE pk = ?",
        params![now, pk],
    )?;
    Ok(())
}

/// A Team by id. Inside a PostgreSQL write the row is locked (`FOR UPDATE`) until the
/// transaction ends: every write reads the Team it changes through here (its version for
/// `If-Match`, its data for a PATCH, its members for a replace), so two servers changing one
/// Team take turns and the second works from the first one's result.
pub fn get(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<Option<TeamRow>> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM teams t WHERE t.id = ? AND t.org_pk = ?{}",
            conn.for_update()
        ),
        params![id, org_pk],
        from_row,
    )
}

/// Finds a Team by id or display name (what the CLI and admin page take; the name ignoring
/// ASCII case, as its uniqueness does). Locks the row inside a PostgreSQL write, as [`get`].
pub fn find(conn: &Conn<'_>, org_pk: i64, id_or_name: &str) -> Result<Option<TeamRow>> {
    if let Some(t) = get(conn, org_pk, id_or_name)? {
        return Ok(Some(t));
    }
    // SQLite compares the column by its COLLATE NOCASE; PostgreSQL through the same ASCII
    // folding its unique index is on.
    let by_name = match conn.engine() {
        Engine::Sqlite => "t.display_name = ?",
        Engine::Postgres => "scimbox_nocase(t.display_name) = scimbox_nocase(?)",
    };
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM teams t WHERE t.org_pk = ? AND {by_name}{}",
            conn.for_update()
        ),
        params![org_pk, id_or_name],
        from_row,
    )
}

pub fn delete(conn: &Conn<'_>, org_pk: i64, pk: i64) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM teams WHERE pk = ? AND org_pk = ?",
        params![pk, org_pk],
    )?;
    Ok(n > 0)
}

/// A Team's members as (user id, display), in the order they joined the user table.
pub fn members(conn: &Conn<'_>, team_pk: i64) -> Result<Vec<(String, String)>> {
    conn.query_map(
        "SELECT u.id, coalesce(u.display_name, u.user_name) FROM memberships m
         JOIN users u ON u.pk = m.user_pk WHERE m.team_pk = ? ORDER BY m.user_pk",
        params![team_pk],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A member as the admin page lists it: (id, userName, displayName, active).
pub type MemberDetail = (String, String, Option<String>, bool);

/// A Team's members as the admin page lists them.
pub fn member_details(conn: &Conn<'_>, team_pk: i64) -> Result<Vec<MemberDetail>> {
    conn.query_map(
        "SELECT u.id, u.user_name, u.display_name, u.active FROM memberships m
         JOIN users u ON u.pk = m.user_pk WHERE m.team_pk = ? ORDER BY m.user_pk",
        params![team_pk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

/// The pks of a Team's members.
pub fn member_pks(conn: &Conn<'_>, team_pk: i64) -> Result<Vec<i64>> {
    conn.query_map(
        "SELECT user_pk FROM memberships WHERE team_pk = ?",
        params![team_pk],
        |r| r.get(0),
    )
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
pub fn member_kind(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<MemberKind> {
    let user: Option<i64> = conn.query_opt(
        "SELECT pk FROM users WHERE id = ? AND org_pk = ?",
        params![id, org_pk],
        |r| r.get(0),
    )?;
    if let Some(pk) = user {
        return Ok(MemberKind::User(pk));
    }
    let team: Option<i64> = conn.query_opt(
        "SELECT pk FROM teams WHERE id = ? AND org_pk = ?",
        params![id, org_pk],
        |r| r.get(0),
    )?;
    Ok(if team.is_some() {
        MemberKind::Team
    } else {
        MemberKind::Unknown
    })
}

/// Adds one member; `false` if it was already there. One row by its key, whatever the
/// Team's size.
pub fn add_member(conn: &Conn<'_>, team_pk: i64, user_pk: i64) -> Result<bool> {
    let n = conn.execute(
        "INSERT INTO memberships (team_pk, user_pk) VALUES (?, ?) ON CONFLICT DO NOTHING",
        params![team_pk, user_pk],
    )?;
    Ok(n > 0)
}

/// Removes one member; `false` if it was not there.
pub fn remove_member(conn: &Conn<'_>, team_pk: i64, user_pk: i64) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM memberships WHERE team_pk = ? AND user_pk = ?",
        params![team_pk, user_pk],
    )?;
    Ok(n > 0)
}

/// Every user id of the organization among `pks`, for audit records.
pub fn user_ids(conn: &Conn<'_>, pks: &[i64]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(pks.len());
    for pk in pks {
        if let Some(id) = conn.query_opt("SELECT id FROM users WHERE pk = ?", params![pk], |r| {
            r.get(0)
        })? {
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
    from_row,
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
    conn: &Conn<'_>,
    org_pk: i64,
    id: &str,
    name: &str,
    now: &str,
) -> Result<Workspace> {
    let pk: i64 = conn
        .query_row(
            "INSERT INTO workspaces (org_pk, id, name, created) VALUES (?, ?, ?, ?) RETURNING pk",
            params![org_pk, id, name, now],
            |r| r.get(0),
        )
        .map_err(super::unique_as("Workspace name"))?;
    Ok(Workspace {
        pk,
        id: id.to_string(),
        name: name.to_string(),
    })
}

fn workspace_row(r: &Row<'_>) -> Result<Workspace> {
    Ok(Workspace {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
    })
}

pub fn workspaces(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<Workspace>> {
    conn.query_map(
        "SELECT pk, id, name FROM workspaces WHERE org_pk = ? ORDER BY pk",
        params![org_pk],
        workspace_row,
    )
}

/// A Workspace by id or name (the name ignoring ASCII case, as its uniqueness does).
pub fn find_workspace(conn: &Conn<'_>, org_pk: i64, id_or_name: &str) -> Result<Option<Workspace>> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT pk, id, name FROM workspaces WHERE org_pk = ?1 AND (id = ?2 OR name = ?2)"
        }
        Engine::Postgres => {
            "SELECT pk, id, name FROM workspaces WHERE org_pk = ?1
             AND (id = ?2 OR scimbox_nocase(name) = scimbox_nocase(?2))"
        }
    };
    conn.query_opt(sql, params![org_pk, id_or_name], workspace_row)
}

pub fn set_team_org_role(conn: &Conn<'_>, team_pk: i64, role: &str) -> Result<()> {
    conn.execute(
        "UPDATE teams SET org_role = ? WHERE pk = ?",
        params![role, team_pk],
    )?;
    Ok(())
}

/// Sets (or with `None` removes) a Team's role in a Workspace.
pub fn set_team_workspace_role(
    conn: &Conn<'_>,
    team_pk: i64,
    workspace_pk: i64,
    role: Option<&str>,
) -> Result<()> {
    match role {
        Some(role) => conn.execute(
            "INSERT INTO team_workspace_roles (team_pk, workspace_pk, role) VALUES (?, ?, ?)
             ON CONFLICT (team_pk, workspace_pk) DO UPDATE SET role = excluded.role",
            params![team_pk, workspace_pk, role],
        )?,
        None => conn.execute(
            "DELETE FROM team_workspace_roles WHERE team_pk = ? AND workspace_pk = ?",
            params![team_pk, workspace_pk],
        )?,
    };
    Ok(())
}

/// A Team's Workspace roles as (workspace id, workspace name, role).
pub fn team_workspace_roles(
    conn: &Conn<'_>,
    team_pk: i64,
) -> Result<Vec<(String, String, String)>> {
    conn.query_map(
        "SELECT w.id, w.name, r.role FROM team_workspace_roles r
         JOIN workspaces w ON w.pk = r.workspace_pk WHERE r.team_pk = ? ORDER BY w.pk",
        params![team_pk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// A role in a Workspace: (workspace id, workspace name, role).
pub type WorkspaceGrant = (String, String, String);

/// Every role that reaches a user: its own and each of its Teams'. Returns the organization
/// roles and the Workspace grants; the caller takes the highest.
pub fn role_grants(conn: &Conn<'_>, user_pk: i64) -> Result<(Vec<String>, Vec<WorkspaceGrant>)> {
    let mut org_roles: Vec<String> = conn.query_map(
        "SELECT org_role FROM users WHERE pk = ?",
        params![user_pk],
        |r| r.get(0),
    )?;
    let team_roles: Vec<String> = conn.query_map(
        "SELECT t.org_role FROM memberships m JOIN teams t ON t.pk = m.team_pk
             WHERE m.user_pk = ?",
        params![user_pk],
        |r| r.get(0),
    )?;
    org_roles.extend(team_roles);
    let grants = conn.query_map(
        "SELECT w.id, w.name, g.role FROM (
             SELECT workspace_pk, role FROM user_workspace_roles WHERE user_pk = ?1
             UNION ALL
             SELECT r.workspace_pk, r.role FROM memberships m
             JOIN team_workspace_roles r ON r.team_pk = m.team_pk WHERE m.user_pk = ?1
         ) g JOIN workspaces w ON w.pk = g.workspace_pk ORDER BY w.pk",
        params![user_pk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok((org_roles, grants))
}

/// The Teams with a role in a Workspace: (team name, role), by name ignoring ASCII case
/// (SQLite orders the NOCASE column so; PostgreSQL by the same folding, byte by byte).
pub fn workspace_teams(conn: &Conn<'_>, workspace_pk: i64) -> Result<Vec<(String, String)>> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT t.display_name, r.role FROM team_workspace_roles r
         JOIN teams t ON t.pk = r.team_pk WHERE r.workspace_pk = ? ORDER BY t.display_name"
        }
        Engine::Postgres => {
            "SELECT t.display_name, r.role FROM team_workspace_roles r
             JOIN teams t ON t.pk = r.team_pk WHERE r.workspace_pk = ?
             ORDER BY scimbox_nocase(t.display_name) COLLATE \"C\""
        }
    };
    conn.query_map(sql, params![workspace_pk], |r| Ok((r.get(0)?, r.get(1)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::store::{Store, orgs, testing, users};

    const NOW: &str = "2026-12-02T10:00:00Z";

    fn org(store: &Store, name: &str) -> i64 {
        let name = name.to_string();
        store
            .write_blocking(move |c| Ok(orgs::insert(c, &format!("o-{name}"), &name, NOW)?.pk))
            .unwrap()
    }

    fn user(store: &Store, org_pk: i64, name: &str) -> i64 {
        let name = name.to_string();
        store
            .write_blocking(move |c| {
                let cols = users::UserColumns {
                    user_name: name.clone(),
                    display_name: (name.len() % 2 == 0).then(|| format!("D {name}")),
                    active: true,
                    ..Default::default()
                };
                users::insert(c, org_pk, &format!("u-{name}"), &cols, "{}", NOW)
            })
            .unwrap()
    }

    fn cols(name: &str) -> TeamColumns {
        TeamColumns {
            display_name: name.into(),
            external_id: Some(format!("ext-{name}")),
            description: None,
        }
    }

    fn team(store: &Store, org_pk: i64, name: &str) -> TeamRow {
        let name = name.to_string();
        store
            .write_blocking(move |c| {
                insert(
                    c,
                    org_pk,
                    &format!("t-{name}"),
                    &cols(&name),
                    "{}",
                    true,
                    NOW,
                )
            })
            .unwrap()
    }

    #[test]
    fn teams_and_members_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "acme");
            let other = org(&store, "other");
            let t = team(&store, o, "Eng");
            assert_eq!((t.version, t.member_count, t.scim_managed), (1, 0, true));
            let (ann, bob) = (user(&store, o, "ann"), user(&store, o, "bobby"));
            let stranger = user(&store, other, "zed");
            let tpk = t.pk;
            // Taken names, ignoring ASCII case, within the organization only.
            let dup =
                store.write_blocking(move |c| insert(c, o, "t-x", &cols("ENG"), "{}", false, NOW));
            assert_eq!(
                dup.unwrap_err(),
                Error::Uniqueness("displayName".into()),
                "{engine}"
            );
            team(&store, other, "eng");
            let (added, again, kinds) = store
                .write_blocking(move |c| {
                    let a = add_member(c, tpk, ann)? && add_member(c, tpk, bob)?;
                    let again = add_member(c, tpk, ann)?;
                    let kinds = (
                        member_kind(c, o, "u-ann")?,
                        member_kind(c, o, "t-Eng")?,
                        member_kind(c, o, "u-zed")?,
                        member_kind(c, o, "nobody")?,
                    );
                    Ok((a, again, kinds))
                })
                .unwrap();
            assert!(added && !again, "{engine}");
            assert_eq!(
                kinds,
                (
                    MemberKind::User(ann),
                    MemberKind::Team,
                    MemberKind::Unknown,
                    MemberKind::Unknown
                ),
                "{engine}"
            );
            let (members, details, mut pks, ids, got) = store
                .read_blocking(move |c| {
                    Ok((
                        members(c, tpk)?,
                        member_details(c, tpk)?,
                        member_pks(c, tpk)?,
                        user_ids(c, &[bob, 999_999, ann])?,
                        get(c, o, "t-Eng")?,
                    ))
                })
                .unwrap();
            assert_eq!(
                members,
                vec![
                    ("u-ann".into(), "ann".into()),
                    ("u-bobby".into(), "bobby".into())
                ],
                "{engine}: display falls back to userName"
            );
            assert_eq!(
                details[0],
                ("u-ann".into(), "ann".into(), None, true),
                "{engine}"
            );
            assert_eq!(details[1].2.as_deref(), None, "{engine}");
            pks.sort_unstable();
            assert_eq!(pks, vec![ann, bob], "{engine}");
            assert_eq!(ids, vec!["u-bobby".to_string(), "u-ann".into()], "{engine}");
            assert_eq!(got.unwrap().member_count, 2, "{engine}: the trigger counts");
            // A member of another organization is never found; removing is by key.
            let (removed, gone, teams_of, stranger_kind) = store
                .write_blocking(move |c| {
                    Ok((
                        remove_member(c, tpk, ann)?,
                        remove_member(c, tpk, ann)?,
                        users::teams_of(c, bob)?,
                        member_kind(c, o, "u-zed")? == MemberKind::User(stranger),
                    ))
                })
                .unwrap();
            assert!(removed && !gone && !stranger_kind, "{engine}");
            assert_eq!(teams_of, vec![("t-Eng".into(), "Eng".into())], "{engine}");
            // Update, touch, find by id or by name in any ASCII case, delete.
            store
                .write_blocking(move |c| {
                    update(
                        c,
                        tpk,
                        &cols("Platform"),
                        r#"{"a":1}"#,
                        "2026-12-02T11:00:00Z",
                    )?;
                    touch(c, tpk, "2026-12-02T12:00:00Z")
                })
                .unwrap();
            let (by_name, by_id, missing, wrong_org) = store
                .read_blocking(move |c| {
                    Ok((
                        find(c, o, "pLaTfOrM")?,
                        find(c, o, "t-Eng")?,
                        find(c, o, "Eng")?,
                        get(c, other, "t-Eng")?,
                    ))
                })
                .unwrap();
            let row = by_name.unwrap();
            assert_eq!(
                (
                    row.display_name.as_str(),
                    row.version,
                    row.last_modified.as_str(),
                    row.data.as_str()
                ),
                ("Platform", 3, "2026-12-02T12:00:00Z", r#"{"a":1}"#),
                "{engine}"
            );
            assert_eq!(by_id.unwrap().pk, tpk, "{engine}");
            assert!(missing.is_none() && wrong_org.is_none(), "{engine}");
            let t2 = team(&store, o, "Two").pk;
            let renamed =
                store.write_blocking(move |c| update(c, t2, &cols("PLATFORM"), "{}", NOW));
            assert_eq!(
                renamed.unwrap_err(),
                Error::Uniqueness("displayName".into()),
                "{engine}"
            );
            let deleted = store
                .write_blocking(move |c| {
                    Ok((
                        delete(c, o, tpk)?,
                        delete(c, o, tpk)?,
                        delete(c, other, t2)?,
                    ))
                })
                .unwrap();
            assert_eq!(deleted, (true, false, false), "{engine}");
            let left = store
                .read_blocking(move |c| users::teams_of(c, bob))
                .unwrap();
            assert!(left.is_empty(), "{engine}: memberships go with the Team");
            store.close();
        }
    }

    #[test]
    fn workspaces_and_roles_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = org(&store, "acme");
            let (t1, t2) = (team(&store, o, "beta").pk, team(&store, o, "Alpha").pk);
            let u = user(&store, o, "ann");
            let (w1, w2) = store
                .write_blocking(move |c| {
                    let w1 = insert_workspace(c, o, "w-1", "Data", NOW)?;
                    let w2 = insert_workspace(c, o, "w-2", "Apps", NOW)?;
                    add_member(c, t1, u)?;
                    set_team_org_role(c, t1, "ORGANIZATION_OWNER")?;
                    set_team_workspace_role(c, t1, w1.pk, Some("WORKSPACE_MEMBER"))?;
                    set_team_workspace_role(c, t1, w1.pk, Some("WORKSPACE_OWNER"))?;
                    set_team_workspace_role(c, t2, w1.pk, Some("WORKSPACE_MEMBER"))?;
                    set_team_workspace_role(c, t1, w2.pk, Some("WORKSPACE_MEMBER"))?;
                    set_team_workspace_role(c, t1, w2.pk, None)?;
                    set_team_workspace_role(c, t2, w2.pk, None)?;
                    Ok((w1, w2))
                })
                .unwrap();
            let dup = store.write_blocking(move |c| insert_workspace(c, o, "w-3", "DATA", NOW));
            assert_eq!(
                dup.unwrap_err(),
                Error::Uniqueness("Workspace name".into()),
                "{engine}"
            );
            let (all, by_name, by_id, none, roles, grants, on_w1) = store
                .read_blocking(move |c| {
                    Ok((
                        workspaces(c, o)?,
                        find_workspace(c, o, "dAtA")?,
                        find_workspace(c, o, "w-2")?,
                        find_workspace(c, o + 1, "w-2")?,
                        team_workspace_roles(c, t1)?,
                        role_grants(c, u)?,
                        workspace_teams(c, w1.pk)?,
                    ))
                })
                .unwrap();
            assert_eq!(all, vec![w1.clone(), w2.clone()], "{engine}");
            assert_eq!(
                (by_name, by_id, none),
                (Some(w1), Some(w2), None),
                "{engine}"
            );
            assert_eq!(
                roles,
                vec![("w-1".into(), "Data".into(), "WORKSPACE_OWNER".into())],
                "{engine}"
            );
            assert_eq!(
                grants,
                (
                    vec!["ORGANIZATION_MEMBER".into(), "ORGANIZATION_OWNER".into()],
                    vec![("w-1".into(), "Data".into(), "WORKSPACE_OWNER".into())]
                ),
                "{engine}"
            );
            assert_eq!(
                on_w1,
                vec![
                    ("Alpha".into(), "WORKSPACE_MEMBER".into()),
                    ("beta".into(), "WORKSPACE_OWNER".into())
                ],
                "{engine}: by name ignoring case"
            );
            store.close();
        }
    }

    /// Two servers (two stores on one PostgreSQL database) changing one Team at once, each
    /// the way `directory::teams::update` does: read the Team, check its version, rewrite its
    /// data from what it read, add a member. With the row locked by `get`, every member and
    /// every change to the data is there at the end, and the version counted every write.
    #[test]
    fn concurrent_changes_to_one_team_through_two_servers_lose_nothing() {
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
        let o = org(&a, "acme");
        let t = team(&a, o, "Eng");
        const THREADS: usize = 4;
        const EACH: usize = 10;
        let mut members = Vec::new();
        for i in 0..THREADS * EACH {
            members.push(user(&a, o, &format!("m{i}")));
        }
        let threads: Vec<_> = (0..THREADS)
            .map(|n| {
                let store = if n % 2 == 0 { a.clone() } else { b.clone() };
                let mine = members[n * EACH..(n + 1) * EACH].to_vec();
                std::thread::spawn(move || {
                    for (k, pk) in mine.into_iter().enumerate() {
                        store
                            .write_blocking(move |c| {
                                let row = get(c, o, "t-Eng")?.expect("team");
                                let mut data: serde_json::Map<String, serde_json::Value> =
                                    serde_json::from_str(&row.data).unwrap();
                                data.insert(format!("k{n}_{k}"), row.version.into());
                                let text = serde_json::Value::Object(data).to_string();
                                update(c, row.pk, &cols("Eng"), &text, NOW)?;
                                assert!(add_member(c, row.pk, pk)?);
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
        let (row, mut pks) = b
            .read_blocking(move |c| Ok((get(c, o, "t-Eng")?.unwrap(), member_pks(c, t.pk)?)))
            .unwrap();
        pks.sort_unstable();
        members.sort_unstable();
        assert_eq!(pks, members, "no member lost");
        assert_eq!(row.member_count, (THREADS * EACH) as i64);
        assert_eq!(row.version, 1 + (THREADS * EACH) as i64);
        let data: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&row.data).unwrap();
        assert_eq!(data.len(), THREADS * EACH, "no change to the data lost");
        // Each write read the version the one before it wrote: all versions seen, once each.
        let mut seen: Vec<i64> = data.values().map(|v| v.as_i64().unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=(THREADS * EACH) as i64).collect::<Vec<_>>());
        a.close();
        b.close();
    }
}
