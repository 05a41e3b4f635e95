//! Import of an export file (`scimbox import`): reads the JSON form of `export` and checks it
//! the way the SCIM API checks a request: every user and Team goes through
//! `model::resource::normalize`, so what the API would refuse, the import refuses, naming the
//! entry. Then `directory::transfer::import` writes it all in one transaction.

use crate::directory::transfer::{
    NewCustomRole, NewDeployment, NewTeam, NewUser, NewWorkspace, Plan, PlannedRole,
};
use crate::export::FORMAT;
use crate::model::resource;
use crate::model::roles;
use crate::model::schema::{GROUP_TYPE, USER_TYPE};
use serde_json::Value;
use std::collections::HashMap;

/// Reads an export document into an import plan, checking everything that does not need the
/// database: the format, each user and Team as the SCIM API would (`normalize`), duplicate
/// ids and names, roles, and that every membership and Workspace role names something in the
/// file. With `new_ids`, every resource gets a fresh id (memberships follow); otherwise ids
/// are kept, so an IdP that stored them keeps working after a move to another server.
///
/// Errors name the entry (`users[3] (userName "x")`) and what to fix.
pub fn plan(doc: &Value, new_ids: bool) -> Result<Plan, String> {
    let obj = doc
        .as_object()
        .ok_or("the file is not a scimbox export: it must be a JSON object")?;
    match obj.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "the file's format is {other:?}; this scimbox reads {FORMAT:?}"
            ));
        }
        None => {
            return Err(format!(
                "the file is not a scimbox export: it has no \"format\": {FORMAT:?}"
            ));
        }
    }
    let list = |key: &str| -> Result<&[Value], String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => Err(format!("\"{key}\" must be a list")),
        }
    };
    let fresh = |old: &str| {
        if new_ids {
            crate::directory::new_id()
        } else {
            old.to_string()
        }
    };
    let id_of = |v: &Value, at: &str| -> Result<String, String> {
        match v.get("id").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() && id.len() <= 128 => Ok(id.to_string()),
            _ => Err(format!("{at}: needs an \"id\" (a non-empty string)")),
        }
    };
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut claim = |id: &str, at: &str| -> Result<(), String> {
        match seen_ids.insert(id.to_string(), at.to_string()) {
            Some(first) => Err(format!("{at}: id {id} is also the id of {first}")),
            None => Ok(()),
        }
    };

    let mut plan = Plan::default();
    // Declared schema extensions first: the users and Teams are read with them.
    let (mut user_exts, mut team_exts) = (Vec::new(), Vec::new());
    for (i, sch) in list("schemas")?.iter().enumerate() {
        let at = format!("schemas[{i}]");
        let rt = sch
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("User");
        let body = sch
            .get("schema")
            .ok_or(format!("{at}: needs a \"schema\" (RFC 7643 §7)"))?;
        let d = crate::model::declared::parse(&body.to_string(), rt)
            .map_err(|e| format!("{at}: {e}"))?;
        if plan
            .schemas
            .iter()
            .any(|p: &crate::model::declared::Declaration| p.urn.eq_ignore_ascii_case(&d.urn))
        {
            return Err(format!("{at}: id: {} is declared twice", d.urn));
        }
        let schema = crate::model::declared::schema(&d.text)?;
        if d.resource_type == GROUP_TYPE.name {
            team_exts.push((schema, d.required));
        } else {
            user_exts.push((schema, d.required));
        }
        plan.schemas.push(d);
    }
    let user_type = crate::model::declared::resource_type(&USER_TYPE, &user_exts);
    let group_type = crate::model::declared::resource_type(&GROUP_TYPE, &team_exts);
    let mut ws_index: HashMap<String, usize> = HashMap::new();
    let mut ws_names: HashMap<String, usize> = HashMap::new();
    for (i, w) in list("workspaces")?.iter().enumerate() {
        let at = format!("workspaces[{i}]");
        let id = id_of(w, &at)?;
        claim(&id, &at)?;
        let name = w
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or(format!("{at}: needs a \"name\""))?;
        if let Some(j) = ws_names.insert(name.to_lowercase(), i) {
            return Err(format!(
                "{at}: Workspace name {name:?} is also the name of workspaces[{j}]"
            ));
        }
        ws_index.insert(id.clone(), i);
        plan.workspaces.push(NewWorkspace {
            id: fresh(&id),
            name: name.to_string(),
        });
    }

    // Deployments (each in a Workspace of the file) and custom Deployment roles.
    let mut dep_index: HashMap<String, usize> = HashMap::new();
    let mut dep_names: HashMap<String, usize> = HashMap::new();
    for (i, d) in list("deployments")?.iter().enumerate() {
        let at = format!("deployments[{i}]");
        let id = id_of(d, &at)?;
        claim(&id, &at)?;
        let name = d
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.len() <= 200)
            .ok_or(format!("{at}: needs a \"name\" (1 to 200 characters)"))?;
        if let Some(j) = dep_names.insert(name.to_lowercase(), i) {
            return Err(format!(
                "{at}: Deployment name {name:?} is also the name of deployments[{j}]"
            ));
        }
        let ws = d.get("workspace").and_then(Value::as_str).unwrap_or("");
        let workspace = *ws_index.get(ws).ok_or(format!(
            "{at}: names Workspace {ws:?}, which is not in \"workspaces\""
        ))?;
        dep_index.insert(id.clone(), i);
        plan.deployments.push(NewDeployment {
            id: fresh(&id),
            name: name.to_string(),
            workspace,
        });
    }
    let mut custom_index: HashMap<String, usize> = HashMap::new();
    let mut custom_names: HashMap<String, usize> = HashMap::new();
    for (i, c) in list("deploymentRoles")?.iter().enumerate() {
        let at = format!("deploymentRoles[{i}]");
        let id = id_of(c, &at)?;
        claim(&id, &at)?;
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if !roles::valid_custom_role_name(name) {
            return Err(format!(
                "{at}: {name:?} cannot name a custom Deployment role (1 to 64 letters, digits, \
                 _ - ., not a built-in role's name)"
            ));
        }
        if let Some(j) = custom_names.insert(name.to_lowercase(), i) {
            return Err(format!(
                "{at}: role name {name:?} is also the name of deploymentRoles[{j}]"
            ));
        }
        let mut permissions = Vec::new();
        for p in c
            .get("permissions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let p = p.as_str().unwrap_or("");
            let known = roles::deployment_permission(p)
                .ok_or(format!("{at}: {p:?} is not a Deployment permission"))?;
            if !permissions.iter().any(|x: &String| x == known) {
                permissions.push(known.to_string());
            }
        }
        if permissions.is_empty() {
            return Err(format!("{at}: needs at least one permission"));
        }
        custom_index.insert(id.clone(), i);
        plan.custom_roles.push(NewCustomRole {
            id: fresh(&id),
            name: name.to_string(),
            permissions,
        });
    }

    let mut user_index: HashMap<String, usize> = HashMap::new();
    let mut user_names: HashMap<String, usize> = HashMap::new();
    for (i, u) in list("users")?.iter().enumerate() {
        let at = format!("users[{i}]");
        let id = id_of(u, &at)?;
        claim(&id, &at)?;
        let data = resource::normalize(user_type, u).map_err(|e| {
            let name = u.get("userName").and_then(Value::as_str).unwrap_or("?");
            format!("{at} (userName {name:?}): {e}")
        })?;
        let user_name = data
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // userName is unique per organization, case-insensitively (as the API enforces).
        if let Some(j) = user_names.insert(crate::model::fold::fold(&user_name).into_owned(), i) {
            return Err(format!(
                "{at}: userName {user_name:?} is also the userName of users[{j}] (userNames \
                 are unique, ignoring case)"
            ));
        }
        user_index.insert(id.clone(), i);
        plan.users.push(NewUser {
            id: fresh(&id),
            data,
        });
    }

    let mut team_index: HashMap<String, usize> = HashMap::new();
    let mut team_names: HashMap<String, usize> = HashMap::new();
    for (i, t) in list("teams")?.iter().enumerate() {
        let at = format!("teams[{i}]");
        let id = id_of(t, &at)?;
        claim(&id, &at)?;
        if t.get("members").is_some_and(|m| !m.is_null()) {
            return Err(format!(
                "{at}: members go in \"memberships\", not in the Team (as `scimbox export` \
                 writes them)"
            ));
        }
        let data = resource::normalize(group_type, t).map_err(|e| {
            let name = t.get("displayName").and_then(Value::as_str).unwrap_or("?");
            format!("{at} (displayName {name:?}): {e}")
        })?;
        let display = data
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(j) = team_names.insert(display.to_lowercase(), i) {
            return Err(format!(
                "{at}: displayName {display:?} is also the displayName of teams[{j}]"
            ));
        }
        let extra = t.get("scimbox").cloned().unwrap_or(Value::Null);
        let scim_managed = match extra.get("origin").and_then(Value::as_str) {
            None | Some("scim") => true,
            Some("local") => false,
            Some(other) => {
                return Err(format!(
                    "{at}: scimbox.origin is {other:?}; it is \"scim\" or \"local\""
                ));
            }
        };
        let org_role = match extra.get("organizationRole").and_then(Value::as_str) {
            None => roles::ORG_ROLES[0].to_string(),
            Some(r) => roles::org_role(r)
                .ok_or(format!(
                    "{at}: {r:?} is not an Organization role ({})",
                    roles::ORG_ROLES.join(", ")
                ))?
                .to_string(),
        };
        let mut workspace_roles = Vec::new();
        if let Some(grants) = extra.get("workspaceRoles").and_then(Value::as_array) {
            for (k, g) in grants.iter().enumerate() {
                let ws = g.get("workspace").and_then(Value::as_str).unwrap_or("");
                let index = *ws_index.get(ws).ok_or(format!(
                    "{at}: scimbox.workspaceRoles[{k}] names Workspace {ws:?}, which is not \
                     in \"workspaces\""
                ))?;
                let r = g.get("role").and_then(Value::as_str).unwrap_or("");
                let role = roles::workspace_role(r).ok_or(format!(
                    "{at}: scimbox.workspaceRoles[{k}]: {r:?} is not a Workspace role ({})",
                    roles::WORKSPACE_ROLES.join(", ")
                ))?;
                workspace_roles.push((index, role.to_string()));
            }
        }
        let mut deployment_roles = Vec::new();
        if let Some(grants) = extra.get("deploymentRoles").and_then(Value::as_array) {
            for (k, g) in grants.iter().enumerate() {
                let dep = g.get("deployment").and_then(Value::as_str).unwrap_or("");
                let index = *dep_index.get(dep).ok_or(format!(
                    "{at}: scimbox.deploymentRoles[{k}] names Deployment {dep:?}, which is not \
                     in \"deployments\""
                ))?;
                let role = match (g.get("role").and_then(Value::as_str), g.get("customRole")) {
                    (Some(r), None) if r.eq_ignore_ascii_case(roles::DEPLOYMENT_ADMIN) => {
                        PlannedRole::Admin
                    }
                    (None, Some(Value::String(c))) => {
                        PlannedRole::Custom(*custom_index.get(c.as_str()).ok_or(format!(
                            "{at}: scimbox.deploymentRoles[{k}] names custom role {c:?}, which \
                             is not in \"deploymentRoles\""
                        ))?)
                    }
                    _ => {
                        return Err(format!(
                            "{at}: scimbox.deploymentRoles[{k}] needs \"role\": \
                             \"DEPLOYMENT_ADMIN\" or \"customRole\": an id of \
                             \"deploymentRoles\""
                        ));
                    }
                };
                deployment_roles.push((index, role));
            }
        }
        team_index.insert(id.clone(), i);
        plan.teams.push(NewTeam {
            id: fresh(&id),
            data,
            scim_managed,
            org_role,
            workspace_roles,
            members: Vec::new(),
            deployment_roles,
        });
    }

    for (i, m) in list("memberships")?.iter().enumerate() {
        let at = format!("memberships[{i}]");
        let team = m.get("team").and_then(Value::as_str).unwrap_or("");
        let user = m.get("user").and_then(Value::as_str).unwrap_or("");
        let t = *team_index
            .get(team)
            .ok_or(format!("{at}: team {team:?} is not in \"teams\""))?;
        let u = match user_index.get(user) {
            Some(u) => *u,
            None if team_index.contains_key(user) => {
                return Err(format!(
                    "{at}: {user} is a Team: nested Teams are not supported; add its users \
                     instead"
                ));
            }
            None => return Err(format!("{at}: user {user:?} is not in \"users\"")),
        };
        if !plan.teams[t].members.contains(&u) {
            plan.teams[t].members.push(u);
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn plan_names_the_entry_and_what_to_fix() {
        let doc = |users: Value| json!({"format": FORMAT, "users": users});
        let err = plan(&json!({"users": []}), false).unwrap_err();
        assert!(err.contains("format"), "{err}");
        let err = plan(&doc(json!([{"id": "1", "userName": ""}])), false).unwrap_err();
        assert!(
            err.contains("users[0]") && err.contains("userName"),
            "{err}"
        );
        let err = plan(
            &doc(json!([{"id": "1", "userName": "a"}, {"id": "2", "userName": "A"}])),
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("users[1]") && err.contains("users[0]"),
            "{err}"
        );
        let err = plan(
            &json!({"format": FORMAT, "teams": [{"id": "t", "displayName": "T"}],
                    "memberships": [{"team": "t", "user": "nobody"}]}),
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("memberships[0]") && err.contains("nobody"),
            "{err}"
        );
    }
}
