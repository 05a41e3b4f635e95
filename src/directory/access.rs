//! Astro's access model beyond Teams' Organization and Workspace roles: Deployments, custom
//! Deployment roles, Deployment roles on Teams and users, a user's own roles, and each user's
//! effective access with where every part of it comes from.
//!
//! The rules (Astro's user-permissions and custom Deployment role references):
//! - a senior role holds every junior role's permissions, so the effective role at each level
//!   is the highest granted there (by the user or any of its Teams);
//! - an Organization Owner holds WORKSPACE_OWNER in every Workspace of the organization;
//! - a Deployment role given to someone without a role in the Deployment's Workspace gives
//!   them WORKSPACE_ACCESSOR there;
//! - DEPLOYMENT_ADMIN holds every Deployment permission; several custom roles on one
//!   Deployment add up (the union of their permissions).

use super::Actor;
use crate::error::{Error, Result};
use crate::model::roles;
use crate::store::Conn;
use crate::store::access::{
    self as sa, CustomRole, Deployment, DeploymentGrant, DeploymentRole, Holder, Via,
};
use crate::store::{Store, teams as st, users as su};
use serde_json::{Value, json};

// ---- Names checked, naming the bad value ----------------------------------------------------

pub fn org_role(role: &str) -> Result<&'static str> {
    roles::org_role(role).ok_or_else(|| {
        Error::InvalidValue(format!(
            "{role:?} is not an Organization role ({})",
            roles::ORG_ROLES.join(", ")
        ))
    })
}

pub fn workspace_role(role: &str) -> Result<&'static str> {
    roles::workspace_role(role).ok_or_else(|| {
        Error::InvalidValue(format!(
            "{role:?} is not a Workspace role ({})",
            roles::WORKSPACE_ROLES.join(", ")
        ))
    })
}

pub fn find_workspace(conn: &Conn, org_pk: i64, ws: &str) -> Result<st::Workspace> {
    st::find_workspace(conn, org_pk, ws)?
        .ok_or_else(|| Error::NotFound(format!("no Workspace {ws:?}")))
}

/// A Deployment by id or name; with `workspace`, it must be in that Workspace.
pub fn find_deployment(
    conn: &Conn,
    org_pk: i64,
    dep: &str,
    workspace: Option<&str>,
) -> Result<Deployment> {
    let d = sa::find_deployment(conn, org_pk, dep)?
        .ok_or_else(|| Error::NotFound(format!("no Deployment {dep:?}")))?;
    if let Some(ws) = workspace {
        let w = find_workspace(conn, org_pk, ws)?;
        if w.pk != d.workspace_pk {
            return Err(Error::InvalidValue(format!(
                "Deployment {dep:?} is in Workspace {:?}, not {:?}",
                d.workspace_name, w.name
            )));
        }
    }
    Ok(d)
}

/// DEPLOYMENT_ADMIN or one of the organization's custom roles, by id or name.
pub fn deployment_role(conn: &Conn, org_pk: i64, role: &str) -> Result<DeploymentRole> {
    if role.eq_ignore_ascii_case(roles::DEPLOYMENT_ADMIN) {
        return Ok(DeploymentRole::Admin);
    }
    match sa::find_custom_role(conn, org_pk, role)? {
        Some(c) => Ok(DeploymentRole::Custom(c.pk)),
        None => {
            let customs: Vec<String> = sa::custom_roles(conn, org_pk)?
                .into_iter()
                .map(|c| c.name)
                .collect();
            Err(Error::InvalidValue(format!(
                "{role:?} is not a Deployment role ({}{}{})",
                roles::DEPLOYMENT_ADMIN,
                if customs.is_empty() { "" } else { ", " },
                customs.join(", ")
            )))
        }
    }
}

// ---- Effective access -------------------------------------------------------------------------

/// Where an effective role comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The user's own role.
    Own,
    /// A Team the user is in: (id, name).
    Team(String, String),
    /// WORKSPACE_ACCESSOR given by a role on this Deployment: (id, name).
    Implied(String, String),
    /// WORKSPACE_OWNER held as an Organization Owner.
    OrganizationOwner,
    /// Nothing granted: every user is at least an Organization Member.
    Default,
}

impl Source {
    fn from_via(v: &Via) -> Source {
        match v {
            Via::Own => Source::Own,
            Via::Team(id, name) => Source::Team(id.clone(), name.clone()),
        }
    }

    /// The short form used by the CLI, the SCIM extension and the page: `own`,
    /// `team:<name>`, `implied:<deployment>`, `organizationOwner` or `default`.
    pub fn label(&self) -> String {
        match self {
            Source::Own => "own".into(),
            Source::Team(_, name) => format!("team:{name}"),
            Source::Implied(_, name) => format!("implied:{name}"),
            Source::OrganizationOwner => "organizationOwner".into(),
            Source::Default => "default".into(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Source::Own => json!({"type": "own"}),
            Source::Team(id, name) => json!({"type": "team", "value": id, "display": name}),
            Source::Implied(id, name) => {
                json!({"type": "implied", "value": id, "display": name})
            }
            Source::OrganizationOwner => json!({"type": "organizationOwner"}),
            Source::Default => json!({"type": "default"}),
        }
    }
}

/// One level's effective role and the grants that give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The Workspace's or Deployment's id (empty for the Organization).
    pub id: String,
    pub name: String,
    pub role: String,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentEntry {
    pub entry: Entry,
    pub workspace_id: String,
    pub workspace_name: String,
    /// The permissions held: every one for DEPLOYMENT_ADMIN, else the custom roles' union.
    pub permissions: Vec<String>,
}

/// A user's effective access at every level, explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub organization: Entry,
    pub workspaces: Vec<Entry>,
    pub deployments: Vec<DeploymentEntry>,
}

fn labels(sources: &[Source]) -> Vec<String> {
    sources.iter().map(Source::label).collect()
}

impl Effective {
    /// The scimbox access extension's attributes (read-only, see `model::schema`).
    pub fn to_json(&self) -> Value {
        json!({
            "organizationRole": self.organization.role,
            "organizationRoleSources": labels(&self.organization.sources),
            "workspaceRoles": self.workspaces.iter().map(|w| json!({
                "value": w.id, "display": w.name, "role": w.role,
                "sources": labels(&w.sources),
            })).collect::<Vec<_>>(),
            "deploymentRoles": self.deployments.iter().map(|d| json!({
                "value": d.entry.id, "display": d.entry.name, "workspace": d.workspace_id,
                "role": d.entry.role, "sources": labels(&d.entry.sources),
            })).collect::<Vec<_>>(),
        })
    }

    /// The admin page's and `user access`'s fuller form: sources with ids, permissions.
    pub fn to_detail_json(&self) -> Value {
        let sources = |s: &[Source]| s.iter().map(Source::to_json).collect::<Vec<_>>();
        json!({
            "organization": {"role": self.organization.role,
                             "sources": sources(&self.organization.sources)},
            "workspaces": self.workspaces.iter().map(|w| json!({
                "id": w.id, "name": w.name, "role": w.role, "sources": sources(&w.sources),
            })).collect::<Vec<_>>(),
            "deployments": self.deployments.iter().map(|d| json!({
                "id": d.entry.id, "name": d.entry.name, "workspace": {
                    "id": d.workspace_id, "name": d.workspace_name},
                "role": d.entry.role, "permissions": d.permissions,
                "sources": sources(&d.entry.sources),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The grants of the highest rank, by `rank` (unknown names rank lowest).
fn highest<T: Clone>(grants: &[(String, T)], rank: impl Fn(&str) -> Option<usize>) -> Vec<T> {
    let top = grants.iter().filter_map(|(r, _)| rank(r)).max();
    grants
        .iter()
        .filter(|(r, _)| rank(r) == top)
        .map(|(_, t)| t.clone())
        .collect()
}

/// Works out a user's effective access from every grant that reaches it.
pub fn effective(conn: &Conn, user_pk: i64) -> Result<Effective> {
    let grants = sa::user_grants(conn, user_pk)?;
    let org_pk = sa::user_org(conn, user_pk)?;
    // Organization: the highest role granted; every user is at least a Member.
    let org: Vec<(String, Source)> = grants
        .org
        .iter()
        .map(|(r, v)| (r.to_ascii_uppercase(), Source::from_via(v)))
        .collect();
    let top_org = org
        .iter()
        .filter_map(|(r, _)| roles::org_rank(r))
        .max()
        .unwrap_or(0);
    // Every user row carries ORGANIZATION_MEMBER unless given more, so Member is "default".
    let org_sources: Vec<Source> = if top_org == 0 {
        vec![Source::Default]
    } else {
        highest(&org, roles::org_rank)
    };
    let org_role = roles::ORG_ROLES[top_org];
    let owner = org_role == roles::ORG_OWNER;

    // Workspaces: explicit grants, Owner-inherits, then implied Accessor where nothing else.
    let mut ws_order: Vec<(String, String)> = Vec::new();
    let mut ws_grants: Vec<Vec<(String, Source)>> = Vec::new();
    let mut slot = |id: &str, name: &str, order: &mut Vec<(String, String)>| -> usize {
        match order.iter().position(|(i, _)| i == id) {
            Some(i) => i,
            None => {
                order.push((id.to_string(), name.to_string()));
                ws_grants.push(Vec::new());
                order.len() - 1
            }
        }
    };
    let mut pending: Vec<(usize, String, Source)> = Vec::new();
    if owner {
        for w in st::workspaces(conn, org_pk)? {
            let i = slot(&w.id, &w.name, &mut ws_order);
            pending.push((
                i,
                roles::OWNER_WORKSPACE_ROLE.into(),
                Source::OrganizationOwner,
            ));
        }
    }
    for (id, name, role, via) in &grants.workspaces {
        let i = slot(id, name, &mut ws_order);
        pending.push((i, role.to_ascii_uppercase(), Source::from_via(via)));
    }
    for g in &grants.deployments {
        let d = &g.deployment;
        let i = slot(&d.workspace_id, &d.workspace_name, &mut ws_order);
        pending.push((
            i,
            String::new(), // marker: implied, decided below
            Source::Implied(d.id.clone(), d.name.clone()),
        ));
    }
    for (i, role, source) in pending.iter().filter(|(_, r, _)| !r.is_empty()) {
        ws_grants[*i].push((role.clone(), source.clone()));
    }
    for (i, _, source) in pending.iter().filter(|(_, r, _)| r.is_empty()) {
        let implied_only = ws_grants[*i]
            .iter()
            .all(|(_, s)| matches!(s, Source::Implied(..)));
        if implied_only
            && !ws_grants[*i].contains(&(roles::IMPLIED_WORKSPACE_ROLE.into(), source.clone()))
        {
            ws_grants[*i].push((roles::IMPLIED_WORKSPACE_ROLE.into(), source.clone()));
        }
    }
    let workspaces = ws_order
        .into_iter()
        .zip(ws_grants)
        .map(|((id, name), gs)| {
            let top = gs
                .iter()
                .filter_map(|(r, _)| roles::workspace_rank(r))
                .max()
                .unwrap_or(0);
            let mut sources = highest(&gs, roles::workspace_rank);
            sources.dedup();
            Entry {
                id,
                name,
                role: roles::WORKSPACE_ROLES[top].to_string(),
                sources,
            }
        })
        .collect();

    // Deployments: DEPLOYMENT_ADMIN wins; custom roles add up.
    let mut deployments: Vec<DeploymentEntry> = Vec::new();
    let mut by_dep: Vec<(Deployment, Vec<&DeploymentGrant>)> = Vec::new();
    for g in &grants.deployments {
        match by_dep.iter_mut().find(|(d, _)| d.pk == g.deployment.pk) {
            Some((_, list)) => list.push(g),
            None => by_dep.push((g.deployment.clone(), vec![g])),
        }
    }
    for (d, gs) in by_dep {
        let admin: Vec<&&DeploymentGrant> = gs
            .iter()
            .filter(|g| g.role == roles::DEPLOYMENT_ADMIN)
            .collect();
        let (role, permissions, sources) = if admin.is_empty() {
            let mut names: Vec<String> = gs.iter().map(|g| g.role.clone()).collect();
            names.sort();
            names.dedup();
            let mut perms: Vec<String> = gs
                .iter()
                .flat_map(|g| g.permissions.iter().cloned())
                .collect();
            perms.sort();
            perms.dedup();
            let sources = gs.iter().map(|g| Source::from_via(&g.via)).collect();
            (names.join(" + "), perms, sources)
        } else {
            let all = roles::DEPLOYMENT_PERMISSIONS.map(str::to_string).to_vec();
            let sources = admin.iter().map(|g| Source::from_via(&g.via)).collect();
            (roles::DEPLOYMENT_ADMIN.to_string(), all, sources)
        };
        deployments.push(DeploymentEntry {
            entry: Entry {
                id: d.id.clone(),
                name: d.name.clone(),
                role,
                sources,
            },
            workspace_id: d.workspace_id.clone(),
            workspace_name: d.workspace_name.clone(),
            permissions,
        });
    }
    Ok(Effective {
        organization: Entry {
            id: String::new(),
            name: String::new(),
            role: org_role.to_string(),
            sources: org_sources,
        },
        workspaces,
        deployments,
    })
}

/// A user's effective access, by pk (the SCIM access extension).
pub async fn user_effective(store: &Store, user_pk: i64) -> Result<Effective> {
    store.read(move |conn| effective(conn, user_pk)).await
}

/// A user by id or userName, with its effective access.
pub async fn user_access(
    store: &Store,
    org_pk: i64,
    user: String,
) -> Result<(su::UserRow, Effective)> {
    store
        .read(move |conn| {
            let row = su::find(conn, org_pk, &user)?
                .ok_or_else(|| Error::NotFound(format!("no user {user:?}")))?;
            let e = effective(conn, row.pk)?;
            Ok((row, e))
        })
        .await
}

// ---- A user's own roles ---------------------------------------------------------------------

/// A change to a user's or Team's roles at one level.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Organization(String),
    /// (workspace, role or `None` to remove)
    Workspace(String, Option<String>),
    /// (deployment, its workspace if named to check it, role or `None` to remove)
    Deployment(String, Option<String>, Option<String>),
}

/// Applies a Deployment role change for a Team or user, checking every name.
pub(crate) fn apply_deployment(
    conn: &Conn,
    org_pk: i64,
    holder: Holder,
    dep: &str,
    workspace: Option<&str>,
    role: Option<&str>,
) -> Result<()> {
    let d = find_deployment(conn, org_pk, dep, workspace)?;
    let role = role.map(|r| deployment_role(conn, org_pk, r)).transpose()?;
    sa::set_deployment_role(conn, holder, d.pk, role)
}

/// Sets a user's own role (local only: IdPs never send roles).
pub async fn set_user_role(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    user: String,
    change: Change,
    now: String,
) -> Result<Effective> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = su::find(conn, org_pk, &user)?
                .ok_or_else(|| Error::NotFound(format!("no user {user:?}")))?;
            sa::lock_holder(conn, Holder::User(row.pk))?;
            let before = effective(conn, row.pk)?;
            let owner_before = super::guard::user_matters(conn, row.pk)?
                .then(|| super::guard::before(conn, org_pk))
                .transpose()?;
            match &change {
                Change::Organization(r) => sa::set_user_org_role(conn, row.pk, org_role(r)?)?,
                Change::Workspace(ws, r) => {
                    let w = find_workspace(conn, org_pk, ws)?;
                    let r = r.as_deref().map(workspace_role).transpose()?;
                    sa::set_user_workspace_role(conn, row.pk, w.pk, r)?;
                }
                Change::Deployment(dep, ws, r) => apply_deployment(
                    conn,
                    org_pk,
                    Holder::User(row.pk),
                    dep,
                    ws.as_deref(),
                    r.as_deref(),
                )?,
            }
            if let Some(was) = owner_before {
                let what = format!("change the roles of user {}", row.id);
                super::guard::after(conn, org_pk, was, &actor, &what, &now)?;
            }
            let after = effective(conn, row.pk)?;
            actor.record(
                conn,
                org_pk,
                ("roles", "User", &row.id),
                Some(&before.to_json().to_string()),
                Some(&after.to_json().to_string()),
                &now,
            )?;
            Ok(after)
        })
        .await
}

// ---- Deployments ------------------------------------------------------------------------------

fn deployment_json(d: &Deployment) -> Value {
    json!({"id": d.id, "name": d.name,
           "workspace": {"id": d.workspace_id, "name": d.workspace_name}})
}

pub async fn create_deployment(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    workspace: String,
    name: String,
    now: String,
) -> Result<Deployment> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidValue(
            "a Deployment needs a name of 1 to 200 characters".into(),
        ));
    }
    let actor = actor.clone();
    store
        .write(move |conn| {
            let w = find_workspace(conn, org_pk, &workspace)?;
            let d = sa::insert_deployment(conn, org_pk, w.pk, &super::new_id(), &name, &now)?;
            actor.record(
                conn,
                org_pk,
                ("create", "Deployment", &d.id),
                None,
                Some(&deployment_json(&d).to_string()),
                &now,
            )?;
            Ok(d)
        })
        .await
}

pub async fn deployments(
    store: &Store,
    org_pk: i64,
    workspace: Option<String>,
) -> Result<Vec<Deployment>> {
    store
        .read(move |conn| {
            let ws = workspace
                .map(|w| find_workspace(conn, org_pk, &w))
                .transpose()?;
            sa::deployments(conn, org_pk, ws.map(|w| w.pk))
        })
        .await
}

/// Deletes a Deployment (named in its Workspace) and every role given on it.
pub async fn delete_deployment(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    workspace: String,
    name: String,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let d = find_deployment(conn, org_pk, &name, Some(&workspace))?;
            sa::delete_deployment(conn, org_pk, d.pk)?;
            actor.record(
                conn,
                org_pk,
                ("delete", "Deployment", &d.id),
                Some(&deployment_json(&d).to_string()),
                None,
                &now,
            )
        })
        .await
}

// ---- Custom Deployment roles ------------------------------------------------------------------

pub fn custom_role_json(c: &CustomRole) -> Value {
    json!({"id": c.id, "name": c.name, "permissions": c.permissions})
}

/// Defines a custom Deployment role: a name and one or more of Astro's permissions.
pub async fn create_custom_role(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    name: String,
    permissions: Vec<String>,
    now: String,
) -> Result<CustomRole> {
    if !roles::valid_custom_role_name(&name) {
        return Err(Error::InvalidValue(format!(
            "{name:?} cannot name a custom Deployment role: use 1 to 64 letters, digits, _ - . \
             and not a built-in role's name"
        )));
    }
    if permissions.is_empty() {
        return Err(Error::InvalidValue(
            "a custom Deployment role needs at least one --permission".into(),
        ));
    }
    let mut perms = Vec::with_capacity(permissions.len());
    for p in &permissions {
        let canonical = roles::deployment_permission(p).ok_or_else(|| {
            Error::InvalidValue(format!(
                "{p:?} is not a Deployment permission (known: {})",
                roles::DEPLOYMENT_PERMISSIONS.join(", ")
            ))
        })?;
        if !perms.contains(&canonical.to_string()) {
            perms.push(canonical.to_string());
        }
    }
    let actor = actor.clone();
    store
        .write(move |conn| {
            let c = sa::insert_custom_role(conn, org_pk, &super::new_id(), &name, &perms, &now)?;
            actor.record(
                conn,
                org_pk,
                ("create", "DeploymentRole", &c.id),
                None,
                Some(&custom_role_json(&c).to_string()),
                &now,
            )?;
            Ok(c)
        })
        .await
}

pub async fn custom_roles(store: &Store, org_pk: i64) -> Result<Vec<CustomRole>> {
    store.read(move |conn| sa::custom_roles(conn, org_pk)).await
}

/// Deletes a custom role; refused while a Team or user still holds it (take those away
/// first), so nobody loses access by a side effect.
pub async fn delete_custom_role(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    name: String,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let c = sa::find_custom_role(conn, org_pk, &name)?
                .ok_or_else(|| Error::NotFound(format!("no custom Deployment role {name:?}")))?;
            let uses = sa::custom_role_uses(conn, c.pk)?;
            if uses > 0 {
                return Err(Error::InvalidValue(format!(
                    "custom Deployment role {:?} is still given {uses} time(s); set those \
                     Deployment roles to something else first",
                    c.name
                )));
            }
            sa::delete_custom_role(conn, org_pk, c.pk)?;
            actor.record(
                conn,
                org_pk,
                ("delete", "DeploymentRole", &c.id),
                Some(&custom_role_json(&c).to_string()),
                None,
                &now,
            )
        })
        .await
}
