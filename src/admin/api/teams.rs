//! Teams: list, detail, create, delete, members and roles.

use super::*;
use crate::directory::teams::{self as dteams, MemberOp, Origin, RoleChange};
use crate::model::schema::TEAM_GROUP_SCHEMA;

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", ["teams"]) => list_teams(app, org).await,
        ("POST", ["teams"]) => {
            let body = json_body(req)?;
            let name = text_field(&body, "name", "a name for the Team")?;
            let mut resource = json!({"displayName": name});
            if let Some(d) = body
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|d| !d.is_empty())
            {
                resource[TEAM_GROUP_SCHEMA] = json!({"description": d});
            }
            let team = dteams::create(
                store,
                &actor("create Team"),
                org.pk,
                resource,
                Vec::new(),
                Origin::Local,
                now,
            )
            .await?;
            team_detail(app, org, &team.row.id, 201).await
        }
        ("GET", ["teams", id]) => team_detail(app, org, id, 200).await,
        ("DELETE", ["teams", id]) => {
            dteams::delete(
                store,
                &actor("delete Team"),
                org.pk,
                id.to_string(),
                None,
                Origin::Local,
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("POST", ["teams", id, "members"]) => {
            let body = json_body(req)?;
            let user = text_field(&body, "user", "the user's id or userName")?;
            let user_id = directory::users::resolve(store, org.pk, user).await?;
            change_members(
                app,
                org,
                id,
                MemberOp::Add(vec![user_id]),
                actor("add member"),
                now,
            )
            .await
        }
        ("DELETE", ["teams", id, "members", user]) => {
            let op = MemberOp::Remove(vec![user.to_string()]);
            change_members(app, org, id, op, actor("remove member"), now).await
        }
        ("PUT", ["teams", id, "roles"]) => {
            let body = json_body(req)?;
            let change = if let Some(role) = body.get("organizationRole") {
                let role = role.as_str().ok_or_else(|| {
                    Fail::new(400, "invalid", "organizationRole must be a role name")
                })?;
                RoleChange::Organization(role.to_string())
            } else {
                let ws = text_field(&body, "workspace", "the Workspace")?;
                let role = match body.get("role") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(r)) if r.eq_ignore_ascii_case("none") || r.is_empty() => {
                        None
                    }
                    Some(Value::String(r)) => Some(r.clone()),
                    Some(_) => {
                        return Err(Fail::new(
                            400,
                            "invalid",
                            "role must be a Workspace role name or null",
                        ));
                    }
                };
                RoleChange::Workspace(ws, role)
            };
            dteams::set_role(
                store,
                &actor("change roles"),
                org.pk,
                id.to_string(),
                change,
                now,
            )
            .await?;
            team_detail(app, org, id, 200).await
        }
        _ => Err(cx.not_found(method)),
    }
}

/// Whether an action is open, and if not, why (the page shows the reason beside it). The
/// directory enforces the same rules; this only lets the page explain them up front.
fn can(allowed: bool, reason: &str) -> Value {
    if allowed {
        json!({"allowed": true})
    } else {
        json!({"allowed": false, "reason": reason})
    }
}

const WHY_NO_CREATE: &str = "SCIM provisioning is on, so Teams come from the IdP: push the group \
    from Okta or Entra, or switch SCIM off on the Organization page to create Teams here.";
const WHY_NO_ADD: &str = "SCIM provisioning is on, so members are added by the IdP: assign the \
    user to the group there.";
const WHY_NO_REMOVE: &str =
    "This Team came from the IdP and SCIM provisioning is on: remove members in the IdP.";
const WHY_NO_DELETE: &str =
    "This Team came from the IdP and SCIM provisioning is on: delete the group in the IdP.";

fn team_json(row: &crate::store::teams::TeamRow, access: &dteams::Access, scim_on: bool) -> Value {
    let data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
    let locked = scim_on && row.scim_managed;
    json!({
        "id": row.id,
        "name": row.display_name,
        "description": data[TEAM_GROUP_SCHEMA]["description"],
        "externalId": data["externalId"],
        "scimManaged": row.scim_managed,
        "memberCount": row.member_count,
        "created": row.created,
        "lastModified": row.last_modified,
        "organizationRole": access.org_role,
        "workspaceRoles": access.workspaces.iter()
            .map(|(id, name, role)| json!({"id": id, "name": name, "role": role}))
            .collect::<Vec<_>>(),
        "deploymentRoles": access.deployments.iter()
            .map(|g| json!({"id": g.deployment.id, "name": g.deployment.name,
                            "workspace": g.deployment.workspace_name, "role": g.role}))
            .collect::<Vec<_>>(),
        "can": {
            "addMembers": can(!scim_on, WHY_NO_ADD),
            "removeMembers": can(!locked, WHY_NO_REMOVE),
            "delete": can(!locked, WHY_NO_DELETE),
            "changeRoles": can(true, ""),
        },
    })
}

async fn list_teams(app: &App, org: &Org) -> Result<Reply> {
    let scim_on = dteams::org_scim_enabled(&app.store, org.pk).await?;
    let items: Vec<Value> = dteams::list_with_access(&app.store, org.pk, 10_000)
        .await?
        .iter()
        .map(|(row, access)| team_json(row, access, scim_on))
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "scimEnabled": scim_on,
            "canCreate": can(!scim_on, WHY_NO_CREATE),
            "teams": items,
        }),
    ))
}

async fn team_detail(app: &App, org: &Org, id: &str, status: u16) -> Result<Reply> {
    let scim_on = dteams::org_scim_enabled(&app.store, org.pk).await?;
    let (team, access) = dteams::show(&app.store, org.pk, id.to_string()).await?;
    let mut v = team_json(&team.row, &access, scim_on);
    let members = dteams::member_details(&app.store, team.row.pk).await?;
    v["members"] = members
        .iter()
        .map(|(id, user_name, display_name, active)| {
            json!({"id": id, "display": display_name.as_deref().unwrap_or(user_name),
                   "userName": user_name, "displayName": display_name, "active": active})
        })
        .collect();
    let (idp, local) = directory::orgs::sync_of(&app.store, org.pk, team.row.id.clone()).await?;
    v["sync"] = json!({"idpWrote": idp, "changedHere": local});
    Ok(Reply::json(status, &v))
}

async fn change_members(
    app: &App,
    org: &Org,
    team: &str,
    op: MemberOp,
    actor: Actor,
    now: String,
) -> Result<Reply> {
    let (found, _) = dteams::show(&app.store, org.pk, team.to_string()).await?;
    dteams::update(
        &app.store,
        &actor,
        org.pk,
        found.row.id.clone(),
        None,
        vec![op],
        Origin::Local,
        false,
        now,
        |_, data| Ok(data),
    )
    .await?;
    team_detail(app, org, &found.row.id, 200).await
}
