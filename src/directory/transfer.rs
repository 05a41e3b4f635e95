//! A whole organization at once: a consistent snapshot for export, and an import that writes
//! users, Teams, Workspaces, roles and memberships into an empty organization in one
//! transaction, so it applies whole or not at all. The file format and its validation live
//! in `import` (edge level, next to the SCIM API's own validation); this module brings every
//! resource into canonical form again before writing, so no caller can skip it.

use super::Actor;
use crate::error::{Error, Result};
use crate::model::query::ListQuery;
use crate::model::resource;
use crate::model::schema::{GROUP_TYPE, USER_TYPE};
use crate::store::Store;
use crate::store::access::{self as sa, CustomRole, Deployment, DeploymentGrant, DeploymentRole};
use crate::store::audit::{self, Entry};
use crate::store::orgs::{self, Org};
use crate::store::teams::{self, TeamRow, Workspace};
use crate::store::users::{self, UserRow};
use serde_json::{Map, Value};

/// Everything of one organization, read from one snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Declared schema extensions, oldest first.
    pub schemas: Vec<crate::store::schemas::Declared>,
    pub users: Vec<UserRow>,
    pub teams: Vec<TeamSnapshot>,
    pub workspaces: Vec<Workspace>,
    pub deployments: Vec<Deployment>,
    pub custom_roles: Vec<CustomRole>,
}

#[derive(Debug, Clone)]
pub struct TeamSnapshot {
    pub row: TeamRow,
    /// Member user ids, in user creation order.
    pub members: Vec<String>,
    /// (workspace id, workspace name, role)
    pub workspace_roles: Vec<(String, String, String)>,
    pub deployment_roles: Vec<DeploymentGrant>,
}

fn everything() -> ListQuery {
    ListQuery::first(i64::MAX)
}

/// Reads the whole organization on one read connection (one consistent snapshot, even while
/// a server keeps writing).
pub async fn snapshot(store: &Store, org_pk: i64) -> Result<Snapshot> {
    store
        .read_snapshot(move |conn| {
            let (_, users) = users::list(conn, org_pk, &everything())?;
            let (_, rows) = teams::list(conn, org_pk, &everything())?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let members = teams::members(conn, row.pk)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                let workspace_roles = teams::team_workspace_roles(conn, row.pk)?;
                let deployment_roles = sa::team_deployment_roles(conn, row.pk)?;
                out.push(TeamSnapshot {
                    row,
                    members,
                    workspace_roles,
                    deployment_roles,
                });
            }
            let workspaces = teams::workspaces(conn, org_pk)?;
            let schemas = crate::store::schemas::list(conn, org_pk)?;
            Ok(Snapshot {
                schemas,
                users,
                teams: out,
                workspaces,
                deployments: sa::deployments(conn, org_pk, None)?,
                custom_roles: sa::custom_roles(conn, org_pk)?,
            })
        })
        .await
}

/// A user to import: its id and canonical resource.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub data: Map<String, Value>,
}

/// A Team to import. Members and Workspace roles point into the plan's lists by index.
#[derive(Debug, Clone)]
pub struct NewTeam {
    pub id: String,
    pub data: Map<String, Value>,
    pub scim_managed: bool,
    /// A valid Organization role (checked by the caller).
    pub org_role: String,
    /// (index into `Plan::workspaces`, valid Workspace role)
    pub workspace_roles: Vec<(usize, String)>,
    /// Indexes into `Plan::users`.
    pub members: Vec<usize>,
    /// (index into `Plan::deployments`, the role)
    pub deployment_roles: Vec<(usize, PlannedRole)>,
}

/// A Deployment role in a plan: DEPLOYMENT_ADMIN or one of `Plan::custom_roles` by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedRole {
    Admin,
    Custom(usize),
}

#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub id: String,
    pub name: String,
    /// Index into `Plan::workspaces`.
    pub workspace: usize,
}

#[derive(Debug, Clone)]
pub struct NewCustomRole {
    pub id: String,
    pub name: String,
    /// Valid Deployment permissions (checked by the caller).
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub id: String,
    pub name: String,
}

/// What an import writes, already validated against the catalogue.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Declared schema extensions, checked by `model::declared::parse`; the resources are
    /// normalized with them.
    pub schemas: Vec<crate::model::declared::Declaration>,
    pub users: Vec<NewUser>,
    pub teams: Vec<NewTeam>,
    pub workspaces: Vec<NewWorkspace>,
    pub deployments: Vec<NewDeployment>,
    pub custom_roles: Vec<NewCustomRole>,
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imported {
    pub users: usize,
    pub teams: usize,
    pub workspaces: usize,
    pub memberships: usize,
}

/// Where an import goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// An organization that exists (it must be empty).
    Existing(Org),
    /// A new organization of this name, created in the import's transaction (so a failed
    /// import leaves no empty organization behind).
    New(String),
}

/// Writes the plan into the target organization, which must hold no users, Teams or
/// Workspaces. One write, so one savepoint: any failure (a taken id, a userName that collides
/// case-insensitively) leaves the database as it was. Every resource gets its audit record.
pub async fn import(
    store: &Store,
    actor: &Actor,
    target: Target,
    mut plan: Plan,
    now: String,
) -> Result<(Org, Imported)> {
    // Whoever built the plan, what is written is in canonical form, by the organization's
    // resource types as the file declares them.
    let (mut user_exts, mut team_exts) = (Vec::new(), Vec::new());
    for d in &plan.schemas {
        let schema = crate::model::declared::schema(&d.text).map_err(Error::InvalidValue)?;
        if d.resource_type == GROUP_TYPE.name {
            team_exts.push((schema, d.required));
        } else {
            user_exts.push((schema, d.required));
        }
    }
    let user_type = crate::model::declared::resource_type(&USER_TYPE, &user_exts);
    let group_type = crate::model::declared::resource_type(&GROUP_TYPE, &team_exts);
    for u in &mut plan.users {
        let body = Value::Object(std::mem::take(&mut u.data));
        u.data = resource::normalize(user_type, &body)
            .map_err(|e| Error::InvalidValue(format!("user {}: {e}", u.id)))?;
    }
    for t in &mut plan.teams {
        let body = Value::Object(std::mem::take(&mut t.data));
        t.data = resource::normalize(group_type, &body)
            .map_err(|e| Error::InvalidValue(format!("Team {}: {e}", t.id)))?;
    }
    let actor = actor.clone();
    store
        .write(move |conn| {
            let org = match target {
                Target::Existing(org) => org,
                Target::New(name) => {
                    let org = orgs::insert(conn, &super::orgs::new_org_id(), name.trim(), &now)?;
                    audit::insert(
                        conn,
                        &Entry {
                            org_pk: org.pk,
                            actor: &actor.who,
                            action: "create",
                            resource_type: "Organization",
                            resource_id: &org.id,
                            reason: Some(&actor.why),
                            before: None,
                            after: Some(&org.name),
                            ..Entry::default()
                        },
                        &now,
                    )?;
                    org
                }
            };
            let (org_pk, org_id, org_name) = (org.pk, org.id.clone(), org.name.clone());
            let (u, t, w) = orgs::contents(conn, org_pk)?;
            if u + t + w > 0 {
                return Err(Error::InvalidValue(format!(
                    "organization {org_name:?} is not empty ({u} users, {t} Teams, {w} \
                     Workspaces): import only into an empty organization (make one with \
                     `scimbox org create NAME`)"
                )));
            }
            let ids = plan
                .users
                .iter()
                .map(|x| ("user", &x.id))
                .chain(plan.teams.iter().map(|x| ("Team", &x.id)))
                .chain(plan.workspaces.iter().map(|x| ("Workspace", &x.id)))
                .chain(plan.deployments.iter().map(|x| ("Deployment", &x.id)))
                .chain(plan.custom_roles.iter().map(|x| ("Deployment role", &x.id)));
            for (kind, id) in ids {
                if orgs::id_in_use(conn, id)? {
                    return Err(Error::Uniqueness(format!(
                        "{kind} id {id} (already used in this database; import with --new-ids \
                         to give every resource a new id)"
                    )));
                }
            }
            let audit_entry = |action: &str, kind: &str, id: &str, after: &str| {
                audit::insert(
                    conn,
                    &Entry {
                        org_pk,
                        actor: &actor.who,
                        action,
                        resource_type: kind,
                        resource_id: id,
                        reason: Some(&actor.why),
                        before: None,
                        after: Some(after),
                        ..Entry::default()
                    },
                    &now,
                )
            };
            for d in &plan.schemas {
                crate::store::schemas::insert(
                    conn,
                    org_pk,
                    &crate::store::schemas::Declared {
                        urn: d.urn.clone(),
                        resource_type: d.resource_type.to_string(),
                        required: d.required,
                        body: d.text.clone(),
                        created: now.clone(),
                    },
                )?;
                audit_entry("create", "Schema", &d.urn, &d.text)?;
            }
            let mut done = Imported::default();
            let mut ws_pks = Vec::with_capacity(plan.workspaces.len());
            for ws in &plan.workspaces {
                let row = teams::insert_workspace(conn, org_pk, &ws.id, &ws.name, &now)?;
                audit_entry("create", "Workspace", &ws.id, &ws.name)?;
                ws_pks.push(row.pk);
                done.workspaces += 1;
            }
            let mut custom_pks = Vec::with_capacity(plan.custom_roles.len());
            for c in &plan.custom_roles {
                let row =
                    sa::insert_custom_role(conn, org_pk, &c.id, &c.name, &c.permissions, &now)?;
                let after = super::access::custom_role_json(&row).to_string();
                audit_entry("create", "DeploymentRole", &c.id, &after)?;
                custom_pks.push(row.pk);
            }
            let mut dep_pks = Vec::with_capacity(plan.deployments.len());
            for d in &plan.deployments {
                let ws_pk = *ws_pks.get(d.workspace).ok_or_else(|| {
                    Error::Internal("a Deployment points outside the plan".into())
                })?;
                let row = sa::insert_deployment(conn, org_pk, ws_pk, &d.id, &d.name, &now)?;
                audit_entry("create", "Deployment", &d.id, &d.name)?;
                dep_pks.push(row.pk);
            }
            let mut user_pks = Vec::with_capacity(plan.users.len());
            for user in plan.users {
                let mut data = user.data;
                data.entry("active").or_insert(Value::Bool(true));
                let cols = super::users::columns(user_type, &data);
                let text = super::to_text(&data)?;
                let pk = users::insert(conn, org_pk, &user.id, &cols, &text, &now).map_err(
                    |e| match e {
                        Error::Uniqueness(_) => Error::Uniqueness(format!(
                            "userName {:?} (two users of the file differ only in case)",
                            cols.user_name
                        )),
                        other => other,
                    },
                )?;
                audit_entry("create", "User", &user.id, &text)?;
                user_pks.push(pk);
                done.users += 1;
            }
            for team in &plan.teams {
                let cols = super::teams::columns(&team.data);
                let text = super::to_text(&team.data)?;
                let row = teams::insert(
                    conn,
                    org_pk,
                    &team.id,
                    &cols,
                    &text,
                    team.scim_managed,
                    &now,
                )?;
                audit_entry("create", "Team", &team.id, &text)?;
                teams::set_team_org_role(conn, row.pk, &team.org_role)?;
                for (ws, role) in &team.workspace_roles {
                    let ws_pk = *ws_pks.get(*ws).ok_or_else(|| {
                        Error::Internal("a Workspace role points outside the plan".into())
                    })?;
                    teams::set_team_workspace_role(conn, row.pk, ws_pk, Some(role))?;
                }
                for (dep, role) in &team.deployment_roles {
                    let dep_pk = *dep_pks.get(*dep).ok_or_else(|| {
                        Error::Internal("a Deployment role points outside the plan".into())
                    })?;
                    let role = match role {
                        PlannedRole::Admin => DeploymentRole::Admin,
                        PlannedRole::Custom(i) => {
                            DeploymentRole::Custom(*custom_pks.get(*i).ok_or_else(|| {
                                Error::Internal("a custom role points outside the plan".into())
                            })?)
                        }
                    };
                    sa::set_deployment_role(conn, sa::Holder::Team(row.pk), dep_pk, Some(role))?;
                }
                for member in &team.members {
                    let user_pk = *user_pks.get(*member).ok_or_else(|| {
                        Error::Internal("a member points outside the plan".into())
                    })?;
                    if teams::add_member(conn, row.pk, user_pk)? {
                        done.memberships += 1;
                    }
                }
                done.teams += 1;
            }
            audit_entry(
                "import",
                "Organization",
                &org_id,
                &format!(
                    "{} users, {} Teams, {} Workspaces, {} memberships",
                    done.users, done.teams, done.workspaces, done.memberships
                ),
            )?;
            Ok((org, done))
        })
        .await
}
