//! Teams: SCIM Groups with members, a description and an access template (an Organization
//! role and Workspace roles every member inherits).
//!
//! The rules that hold whoever acts live here: members are users of the same organization,
//! never Teams (no nesting: access given to one Team never flows to another); while SCIM is
//! on, local tools cannot create Teams or add members, and may remove members from and delete
//! only the Teams that were not created by the IdP; roles are never set over SCIM.

use super::{Actor, Precondition};
use crate::error::{Error, Result};
use crate::model::filter::Filter;
use crate::model::query::ListQuery;
use crate::model::resource;
use crate::model::roles;
use crate::model::schema::{GROUP_TYPE, ResourceType, TEAM_GROUP_SCHEMA};
use crate::store::Conn;
use crate::store::teams::{self, MemberKind, TeamColumns, TeamRow, Workspace};
use crate::store::{Store, orgs};
use serde_json::{Map, Value, json};
use std::collections::HashSet;

/// Who is changing a Team: the IdP over SCIM, or a local tool (CLI, admin page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Scim,
    Local,
}

/// A change to the member list, as a PATCH or PUT asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    /// `remove` with a `members[...]` filter.
    RemoveMatching(Filter),
    RemoveAll,
    Replace(Vec<String>),
}

/// A Team as read, with its members when they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub row: TeamRow,
    pub members: Option<Vec<(String, String)>>,
}

/// The most member values one request may name.
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

pub fn columns(data: &Map<String, Value>) -> TeamColumns {
    let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    TeamColumns {
        display_name: text("displayName").unwrap_or_default(),
        external_id: text("externalId"),
        description: data
            .get(TEAM_GROUP_SCHEMA)
            .and_then(|e| e.get("description"))
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

fn scim_enabled(conn: &Conn, org_pk: i64) -> Result<bool> {
    orgs::scim_enabled(conn, org_pk)
}

/// Resolves member values to user pks, all or nothing: an unknown id or a Team is refused,
/// naming the value.
fn resolve_members(conn: &Conn, org_pk: i64, values: &[String]) -> Result<Vec<i64>> {
    if values.len() > MAX_MEMBERS_PER_REQUEST {
        return Err(Error::TooLarge(format!(
            "at most {MAX_MEMBERS_PER_REQUEST} members per request; send larger lists in parts"
        )));
    }
    let mut pks = Vec::with_capacity(values.len());
    for v in values {
        match teams::member_kind(conn, org_pk, v)? {
            MemberKind::User(pk) => pks.push(pk),
            MemberKind::Team => {
                return Err(Error::InvalidValue(format!(
                    "{v} is a Team: nested Teams are not supported (access given to one Team \
                     never flows to another); add its users instead"
                )));
            }
            MemberKind::Unknown => {
                return Err(Error::InvalidValue(format!(
                    "member {v} is not a user of this organization"
                )));
            }
        }
    }
    Ok(pks)
}

/// What a membership change did, for the audit record.
#[derive(Default)]
struct Delta {
    added: Vec<i64>,
    removed: Vec<i64>,
}

fn apply_member_ops(
    conn: &Conn,
    org_pk: i64,
    team: &TeamRow,
    ops: &[MemberOp],
    origin: Origin,
) -> Result<Delta> {
    let local_on = origin == Origin::Local && scim_enabled(conn, org_pk)?;
    let mut delta = Delta::default();
    for op in ops {
        let adds = matches!(op, MemberOp::Add(v) | MemberOp::Replace(v) if !v.is_empty());
        if local_on && adds {
            return Err(Error::Forbidden(
                "SCIM provisioning is on: members are added by the IdP, not here".into(),
            ));
        }
        let removes = !matches!(op, MemberOp::Add(_));
        if local_on && removes && team.scim_managed {
            return Err(Error::Forbidden(
                "SCIM provisioning is on and this Team came from the IdP: change its members there"
                    .into(),
            ));
        }
        match op {
            MemberOp::Add(values) => {
                for pk in resolve_members(conn, org_pk, values)? {
                    if teams::add_member(conn, team.pk, pk)? {
                        delta.added.push(pk);
                    }
                }
            }
            MemberOp::Remove(values) => {
                // Removing a member that is not there (or no longer exists) changes nothing
                // and succeeds (RFC 7644 §3.5.2.2; Entra retries, quirk Q23).
                for v in values {
                    if let MemberKind::User(pk) = teams::member_kind(conn, org_pk, v)?
                        && teams::remove_member(conn, team.pk, pk)?
                    {
                        delta.removed.push(pk);
                    }
                }
            }
            MemberOp::RemoveMatching(filter) => {
                for pk in matching_members(conn, org_pk, team, filter)? {
                    if teams::remove_member(conn, team.pk, pk)? {
                        delta.removed.push(pk);
                    }
                }
            }
            MemberOp::RemoveAll => {
                for pk in teams::member_pks(conn, team.pk)? {
                    teams::remove_member(conn, team.pk, pk)?;
                    delta.removed.push(pk);
                }
            }
            MemberOp::Replace(values) => {
                let wanted: HashSet<i64> =
                    resolve_members(conn, org_pk, values)?.into_iter().collect();
                let current: HashSet<i64> = teams::member_pks(conn, team.pk)?.into_iter().collect();
                for pk in current.difference(&wanted) {
                    teams::remove_member(conn, team.pk, *pk)?;
                    delta.removed.push(*pk);
                }
                for pk in wanted.difference(&current) {
                    teams::add_member(conn, team.pk, *pk)?;
                    delta.added.push(*pk);
                }
            }
        }
    }
    Ok(delta)
}

/// The members a `members[filter]` selects. `value eq "id"` (and `or`s of them, what IdPs
/// send) are looked up directly; anything else is evaluated against each member.
fn matching_members(conn: &Conn, org_pk: i64, team: &TeamRow, filter: &Filter) -> Result<Vec<i64>> {
    fn ids(f: &Filter, out: &mut Vec<String>) -> bool {
        match f {
            Filter::Or(a, b) => ids(a, out) && ids(b, out),
            Filter::Compare {
                path,
                op: crate::model::filter::CompareOp::Eq,
                value: Value::String(v),
            } if path.urn.is_none()
                && path.sub.is_none()
                && path.name.eq_ignore_ascii_case("value") =>
            {
                out.push(v.clone());
                true
            }
            _ => false,
        }
    }
    let mut direct = Vec::new();
    if ids(filter, &mut direct) {
        let mut pks = Vec::new();
        for v in direct {
            if let MemberKind::User(pk) = teams::member_kind(conn, org_pk, &v)? {
                pks.push(pk);
            }
        }
        return Ok(pks);
    }
    let members_attr = GROUP_TYPE
        .core
        .attr("members")
        .ok_or_else(|| Error::Internal("catalogue has no members".into()))?;
    let pks = teams::member_pks(conn, team.pk)?;
    let members = teams::members(conn, team.pk)?;
    let mut out = Vec::new();
    // `members` is ordered by user pk, as is the sorted pk list.
    let mut sorted = pks.clone();
    sorted.sort_unstable();
    for ((id, display), pk) in members.iter().zip(sorted) {
        let element = json!({"value": id, "display": display, "type": "User"});
        if crate::model::matcher::matches_element(filter, &element, members_attr)? {
            out.push(pk);
        }
    }
    Ok(out)
}

fn audit_members(
    conn: &Conn,
    org_pk: i64,
    team: &TeamRow,
    actor: &Actor,
    delta: &Delta,
    now: &str,
) -> Result<()> {
    if delta.added.is_empty() && delta.removed.is_empty() {
        return Ok(());
    }
    let change = json!({
        "added": teams::user_ids(conn, &delta.added)?,
        "removed": teams::user_ids(conn, &delta.removed)?,
    })
    .to_string();
    actor.record(
        conn,
        org_pk,
        ("members", "Team", &team.id),
        None,
        Some(&change),
        now,
    )
}

/// Creates a Team with its first members, atomically.
pub async fn create(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    resource: impl Into<Value>,
    members: Vec<String>,
    origin: Origin,
    now: String,
) -> Result<Team> {
    let body = resource.into();
    let actor = actor.clone();
    store
        .write(move |conn| {
            let rt = crate::store::schemas::extended(conn, org_pk, &GROUP_TYPE)?;
            let data = resource::normalize(rt, &body)?;
            let cols = columns(&data);
            let text = super::to_text(&data)?;
            if origin == Origin::Local && scim_enabled(conn, org_pk)? {
                return Err(Error::Forbidden(
                    "SCIM provisioning is on: Teams are created by the IdP, not here".into(),
                ));
            }
            let id = super::new_id();
            let row = teams::insert(
                conn,
                org_pk,
                &id,
                &cols,
                &text,
                origin == Origin::Scim,
                &now,
            )?;
            actor.record(
                conn,
                org_pk,
                ("create", "Team", &id),
                None,
                Some(&text),
                &now,
            )?;
            // A Team the IdP creates gets the template of the role rule it matches.
            if origin == Origin::Scim {
                super::rules::apply(conn, org_pk, &row, &actor, &now)?;
            }
            let delta =
                apply_member_ops(conn, org_pk, &row, &[MemberOp::Add(members)], Origin::Scim)?;
            audit_members(conn, org_pk, &row, &actor, &delta, &now)?;
            let members = teams::members(conn, row.pk)?;
            let row = teams::get(conn, org_pk, &id)?.unwrap_or(row);
            Ok(Team {
                row,
                members: Some(members),
            })
        })
        .await
}

pub async fn get(
    store: &Store,
    org_pk: i64,
    id: String,
    with_members: bool,
) -> Result<Option<Team>> {
    store
        .read(move |conn| {
            let Some(row) = teams::get(conn, org_pk, &id)? else {
                return Ok(None);
            };
            let members = with_members
                .then(|| teams::members(conn, row.pk))
                .transpose()?;
            Ok(Some(Team { row, members }))
        })
        .await
}

/// The Team a write changes, locked on PostgreSQL until the write commits (`teams::get`).
fn current(conn: &Conn, org_pk: i64, id: &str) -> Result<TeamRow> {
    teams::get(conn, org_pk, id)?.ok_or_else(|| Error::NotFound(format!("Group {id} not found")))
}

/// Changes a Team's attributes (through `change`) and its members (through `member_ops`) in
/// one transaction: all or nothing. Concurrent changes to one Team apply one after the other
/// (SQLite's writer is single; on PostgreSQL `current` locks the Team row until COMMIT, so a
/// second server waits and then works from the first one's version, data and members), so
/// no member and no change is lost.
#[allow(clippy::too_many_arguments)]
pub async fn update<F>(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    member_ops: Vec<MemberOp>,
    origin: Origin,
    with_members: bool,
    now: String,
    change: F,
) -> Result<Team>
where
    F: FnOnce(&'static ResourceType, Map<String, Value>) -> Result<Map<String, Value>>
        + Send
        + 'static,
{
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = current(conn, org_pk, &id)?;
            let rt = crate::store::schemas::extended(conn, org_pk, &GROUP_TYPE)?;
            let revised = super::revise(
                rt,
                ("team", &id),
                (row.version, &row.data),
                pre.as_ref(),
                change,
            )?;
            let mut changed = false;
            if let Some((after, text)) = revised {
                teams::update(conn, row.pk, &columns(&after), &text, &now)?;
                actor.record(
                    conn,
                    org_pk,
                    ("update", "Team", &id),
                    Some(&row.data),
                    Some(&text),
                    &now,
                )?;
                changed = true;
            }
            let owner_before = (super::guard::team_matters(&row.org_role)
                && !member_ops.is_empty())
            .then(|| super::guard::before(conn, org_pk))
            .transpose()?;
            let delta = apply_member_ops(conn, org_pk, &row, &member_ops, origin)?;
            if let Some(was) = owner_before {
                let what = format!("remove members from Team {}", row.display_name);
                super::guard::after(conn, org_pk, was, &actor, &what, &now)?;
            }
            if !delta.added.is_empty() || !delta.removed.is_empty() {
                if !changed {
                    teams::touch(conn, row.pk, &now)?;
                }
                audit_members(conn, org_pk, &row, &actor, &delta, &now)?;
            }
            let row = current(conn, org_pk, &id)?;
            let members = with_members
                .then(|| teams::members(conn, row.pk))
                .transpose()?;
            Ok(Team { row, members })
        })
        .await
}

/// Replaces a Team's attributes with those of a resource body, brought into canonical form
/// first (`members` in the body are not attributes: pass them as `member_ops`).
#[allow(clippy::too_many_arguments)]
pub async fn replace(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    resource: impl Into<Value>,
    member_ops: Vec<MemberOp>,
    origin: Origin,
    with_members: bool,
    now: String,
) -> Result<Team> {
    let body = resource.into();
    update(
        store,
        actor,
        org_pk,
        id,
        pre,
        member_ops,
        origin,
        with_members,
        now,
        move |rt, _| resource::normalize(rt, &body),
    )
    .await
}

/// Deletes a Team; its users stay as they are.
pub async fn delete(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    origin: Origin,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = current(conn, org_pk, &id)?;
            Precondition::check(pre.as_ref(), row.version)?;
            if origin == Origin::Local && row.scim_managed && scim_enabled(conn, org_pk)? {
                return Err(Error::Forbidden(
                    "SCIM provisioning is on and this Team came from the IdP: delete it there"
                        .into(),
                ));
            }
            let owner_before = super::guard::team_matters(&row.org_role)
                .then(|| super::guard::before(conn, org_pk))
                .transpose()?;
            teams::delete(conn, org_pk, row.pk)?;
            if let Some(was) = owner_before {
                let what = format!("delete Team {}", row.display_name);
                super::guard::after(conn, org_pk, was, &actor, &what, &now)?;
            }
            actor.record(
                conn,
                org_pk,
                ("delete", "Team", &id),
                Some(&row.data),
                None,
                &now,
            )
        })
        .await
}

/// Refuses a filter or sort that a Teams list cannot answer (`InvalidFilter`/`InvalidValue`),
/// without reading anything.
pub fn check_query(
    rt: &'static ResourceType,
    filter: Option<&Filter>,
    sort: Option<&crate::model::query::Sort>,
) -> Result<()> {
    teams::check_query(rt, filter, sort)
}

/// One page of Teams (with members when asked for), and the total that matched.
pub async fn list(
    store: &Store,
    org_pk: i64,
    q: ListQuery,
    with_members: bool,
) -> Result<(i64, Vec<Team>)> {
    store
        .read(move |conn| {
            let (total, rows) = teams::list(conn, org_pk, &q)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let members = with_members
                    .then(|| teams::members(conn, row.pk))
                    .transpose()?;
                out.push(Team { row, members });
            }
            Ok((total, out))
        })
        .await
}

// ---- Access templates: never over SCIM ------------------------------------------------

/// A Team's access template: the Organization role, one role per Workspace and per
/// Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub org_role: String,
    /// (workspace id, workspace name, role)
    pub workspaces: Vec<(String, String, String)>,
    pub deployments: Vec<crate::store::access::DeploymentGrant>,
}

impl Access {
    /// The Team extension's attributes.
    pub fn to_json(&self) -> Value {
        json!({
            "organizationRole": self.org_role,
            "workspaceRoles": self.workspaces.iter().map(|(id, name, role)| json!({
                "value": id, "display": name, "role": role
            })).collect::<Vec<_>>(),
            "deploymentRoles": self.deployments.iter().map(|g| json!({
                "value": g.deployment.id, "display": g.deployment.name,
                "workspace": g.deployment.workspace_id, "role": g.role
            })).collect::<Vec<_>>(),
        })
    }
}

pub fn team_access(conn: &Conn, team: &TeamRow) -> Result<Access> {
    Ok(Access {
        org_role: team.org_role.clone(),
        workspaces: teams::team_workspace_roles(conn, team.pk)?,
        deployments: crate::store::access::team_deployment_roles(conn, team.pk)?,
    })
}

/// A Team's own roles: its organization role and its Workspace roles.
pub async fn access_of(store: &Store, team: TeamRow) -> Result<Access> {
    store.read(move |conn| team_access(conn, &team)).await
}

/// The first `limit` Teams in creation order, each with its roles, read in one snapshot.
pub async fn list_with_access(
    store: &Store,
    org_pk: i64,
    limit: i64,
) -> Result<Vec<(TeamRow, Access)>> {
    store
        .read(move |conn| {
            let (_, rows) = teams::list(conn, org_pk, &ListQuery::first(limit))?;
            rows.into_iter()
                .map(|row| {
                    let access = team_access(conn, &row)?;
                    Ok((row, access))
                })
                .collect()
        })
        .await
}

pub async fn create_workspace(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    name: String,
    now: String,
) -> Result<Workspace> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(Error::InvalidValue("a Workspace needs a name".into()));
    }
    let actor = actor.clone();
    store
        .write(move |conn| {
            let ws = teams::insert_workspace(conn, org_pk, &super::new_id(), &name, &now)?;
            actor.record(
                conn,
                org_pk,
                ("create", "Workspace", &ws.id),
                None,
                Some(&name),
                &now,
            )?;
            Ok(ws)
        })
        .await
}

/// A role change on a Team's access template, allowed whether or not SCIM is on: IdPs never
/// send roles, so they are always set here.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleChange {
    Organization(String),
    /// (workspace id or name, role or `None` to take the Team out of the Workspace)
    Workspace(String, Option<String>),
    /// (deployment id or name, its Workspace when named (checked), DEPLOYMENT_ADMIN or a
    /// custom role, or `None` to take the Team off the Deployment)
    Deployment(String, Option<String>, Option<String>),
}

pub async fn set_role(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    team: String,
    change: RoleChange,
    now: String,
) -> Result<Access> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = teams::find(conn, org_pk, &team)?
                .ok_or_else(|| Error::NotFound(format!("no Team {team:?}")))?;
            crate::store::access::lock_holder(conn, crate::store::access::Holder::Team(row.pk))?;
            let before = team_access(conn, &row)?.to_json().to_string();
            let owner_before = super::guard::team_matters(&row.org_role)
                .then(|| super::guard::before(conn, org_pk))
                .transpose()?;
            match &change {
                RoleChange::Organization(role) => {
                    let role = roles::org_role(role).ok_or_else(|| {
                        Error::InvalidValue(format!(
                            "{role:?} is not an Organization role ({})",
                            roles::ORG_ROLES.join(", ")
                        ))
                    })?;
                    teams::set_team_org_role(conn, row.pk, role)?;
                }
                RoleChange::Workspace(ws, role) => {
                    let workspace = teams::find_workspace(conn, org_pk, ws)?
                        .ok_or_else(|| Error::NotFound(format!("no Workspace {ws:?}")))?;
                    let role = match role {
                        Some(r) => Some(roles::workspace_role(r).ok_or_else(|| {
                            Error::InvalidValue(format!(
                                "{r:?} is not a Workspace role ({})",
                                roles::WORKSPACE_ROLES.join(", ")
                            ))
                        })?),
                        None => None,
                    };
                    teams::set_team_workspace_role(conn, row.pk, workspace.pk, role)?;
                }
                RoleChange::Deployment(dep, ws, role) => super::access::apply_deployment(
                    conn,
                    org_pk,
                    crate::store::access::Holder::Team(row.pk),
                    dep,
                    ws.as_deref(),
                    role.as_deref(),
                )?,
            }
            teams::touch(conn, row.pk, &now)?;
            if let Some(was) = owner_before {
                let what = format!("change the roles of Team {}", row.display_name);
                super::guard::after(conn, org_pk, was, &actor, &what, &now)?;
            }
            let row = current(conn, org_pk, &row.id)?;
            let access = team_access(conn, &row)?;
            actor.record(
                conn,
                org_pk,
                ("roles", "Team", &row.id),
                Some(&before),
                Some(&access.to_json().to_string()),
                &now,
            )?;
            Ok(access)
        })
        .await
}

pub async fn workspaces(store: &Store, org_pk: i64) -> Result<Vec<Workspace>> {
    store
        .read(move |conn| teams::workspaces(conn, org_pk))
        .await
}

/// The organization a Team-related CLI command acts in, and whether SCIM is on there.
pub async fn org_scim_enabled(store: &Store, org_pk: i64) -> Result<bool> {
    store
        .read(move |conn| {
            Ok(orgs::list(conn)?
                .into_iter()
                .find(|o| o.pk == org_pk)
                .is_some_and(|o| o.scim_enabled))
        })
        .await
}

/// A Team found by id or name, with its members and access, for local tools.
pub async fn show(store: &Store, org_pk: i64, id_or_name: String) -> Result<(Team, Access)> {
    store
        .read(move |conn| {
            let row = teams::find(conn, org_pk, &id_or_name)?
                .ok_or_else(|| Error::NotFound(format!("no Team {id_or_name:?}")))?;
            let access = team_access(conn, &row)?;
            let members = teams::members(conn, row.pk)?;
            Ok((
                Team {
                    row,
                    members: Some(members),
                },
                access,
            ))
        })
        .await
}

/// A Team's members with userName, displayName and active, for the admin page.
pub async fn member_details(store: &Store, team_pk: i64) -> Result<Vec<teams::MemberDetail>> {
    store
        .read(move |conn| teams::member_details(conn, team_pk))
        .await
}

/// Each Workspace with the Teams that have a role in it: (workspace, [(team name, role)]).
pub async fn workspace_teams(
    store: &Store,
    org_pk: i64,
) -> Result<Vec<(Workspace, Vec<(String, String)>)>> {
    store
        .read(move |conn| {
            let mut out = Vec::new();
            for ws in teams::workspaces(conn, org_pk)? {
                let assigned = teams::workspace_teams(conn, ws.pk)?;
                out.push((ws, assigned));
            }
            Ok(out)
        })
        .await
}
