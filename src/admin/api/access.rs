//! The admin API of the access model, under `/admin/api/orgs/{org}/…` (see
//! `docs/admin-api.md`): Deployments, custom Deployment roles, role rules, a Team's
//! Deployment roles, token rotation, and the warnings (last Owner, tokens expiring soon).
//! `mod.rs` hands every path `owns` accepts to `route`, after the session and CSRF checks.

use super::*;
use crate::directory::{access as da, rules};

/// Whether a path below the organization is served here.
pub fn owns(method: &str, rest: &[&str]) -> bool {
    matches!(
        (method, rest),
        ("GET", ["access"])
            | ("POST", ["deployments"])
            | ("DELETE", ["deployments", _])
            | ("POST", ["deployment-roles"])
            | ("DELETE", ["deployment-roles", _])
            | ("POST", ["rules"])
            | ("DELETE", ["rules", _])
            | ("GET", ["rules", "test"])
            | ("GET", ["teams", _, "access"])
            | ("PUT", ["teams", _, "deployment-roles"])
            | ("POST", ["tokens", _, "rotate"])
            | ("PUT", ["users", _, "roles"])
    )
}

fn body(req: &Request) -> Result<Map<String, Value>> {
    json_body(req)
}

fn text(body: &Map<String, Value>, name: &str) -> Result<String> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(Fail::new(
            400,
            "invalid",
            format!("{name} is required (a string)"),
        )),
    }
}

/// A role that may be `null`, `""` or `"none"` to take it away.
fn optional_role(body: &Map<String, Value>) -> Result<Option<String>> {
    match body.get("role") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(r)) if r.is_empty() || r.eq_ignore_ascii_case("none") => Ok(None),
        Some(Value::String(r)) => Ok(Some(r.clone())),
        Some(_) => Err(Fail::new(
            400,
            "invalid",
            "role must be a role name or null",
        )),
    }
}

fn pairs(body: &Map<String, Value>, list: &str, key: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in body
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (item[key].as_str(), item["role"].as_str()) {
            (Some(k), Some(r)) => out.push((k.to_string(), r.to_string())),
            _ => {
                return Err(Fail::new(
                    400,
                    "invalid",
                    format!("each of {list} needs \"{key}\" and \"role\""),
                ));
            }
        }
    }
    Ok(out)
}

fn deployment_json(d: &crate::store::access::Deployment) -> Value {
    json!({"id": d.id, "name": d.name,
           "workspace": {"id": d.workspace_id, "name": d.workspace_name}})
}

/// The Access page's data in one answer.
async fn overview(app: &App, org: &Org, req: &Request) -> Result<Reply> {
    let store = &app.store;
    let owner = directory::guard::warning(store, org.pk).await?;
    let deployments = da::deployments(store, org.pk, None).await?;
    let customs = da::custom_roles(store, org.pk).await?;
    let rule_rows = rules::list(store, org.pk).await?;
    let soon = crate::clock::format(
        req.now + time::Duration::days(crate::directory::tokens::EXPIRY_WARNING_DAYS),
    );
    let now = crate::clock::format(req.now);
    let expiring: Vec<Value> = directory::orgs::list_tokens(store, org)
        .await?
        .iter()
        .filter(|t| t.is_live(&now) && t.expires.as_deref().is_some_and(|e| e <= soon.as_str()))
        .map(|t| json!({"id": t.id, "name": t.name, "expires": t.expires}))
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "owner": owner,
            "expiringTokens": expiring,
            "expiryWarningDays": crate::directory::tokens::EXPIRY_WARNING_DAYS,
            "deployments": deployments.iter().map(deployment_json).collect::<Vec<_>>(),
            "deploymentRoles": customs.iter().map(da::custom_role_json).collect::<Vec<_>>(),
            "permissions": roles::DEPLOYMENT_PERMISSIONS,
            "rules": rule_rows.iter().map(rules::rule_json).collect::<Vec<_>>(),
        }),
    ))
}

/// A Team's Deployment roles and the rule that gave it its template, if one did.
async fn team_access(app: &App, org: &Org, id: &str) -> Result<Reply> {
    let (team, access) = directory::teams::show(&app.store, org.pk, id.to_string()).await?;
    let pk = team.row.pk;
    let rule = app
        .store
        .read(move |conn| crate::store::access::team_rule(conn, pk))
        .await?;
    Ok(Reply::json(
        200,
        &json!({
            "id": team.row.id,
            "name": team.row.display_name,
            "deploymentRoles": access.deployments.iter().map(|g| json!({
                "deployment": deployment_json(&g.deployment), "role": g.role,
            })).collect::<Vec<_>>(),
            "rule": rule.map(|(id, name)| json!({"id": id, "name": name})),
        }),
    ))
}

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let Cx {
        app,
        req,
        org,
        actor,
        ..
    } = *cx;
    let now = cx.now.clone();
    let store = &app.store;
    match (method, rest) {
        ("GET", ["access"]) => overview(app, org, req).await,
        ("POST", ["deployments"]) => {
            let b = body(req)?;
            let d = da::create_deployment(
                store,
                &actor("create Deployment"),
                org.pk,
                text(&b, "workspace")?,
                text(&b, "name")?,
                now,
            )
            .await?;
            Ok(Reply::json(201, &deployment_json(&d)))
        }
        ("DELETE", ["deployments", id]) => {
            let d = store
                .read({
                    let (org_pk, id) = (org.pk, id.to_string());
                    move |conn| da::find_deployment(conn, org_pk, &id, None)
                })
                .await?;
            da::delete_deployment(
                store,
                &actor("delete Deployment"),
                org.pk,
                d.workspace_id,
                d.id,
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("POST", ["deployment-roles"]) => {
            let b = body(req)?;
            let perms: Vec<String> = b
                .get("permissions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let c = da::create_custom_role(
                store,
                &actor("create custom Deployment role"),
                org.pk,
                text(&b, "name")?,
                perms,
                now,
            )
            .await?;
            Ok(Reply::json(201, &da::custom_role_json(&c)))
        }
        ("DELETE", ["deployment-roles", id]) => {
            da::delete_custom_role(
                store,
                &actor("delete custom Deployment role"),
                org.pk,
                id.to_string(),
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("POST", ["rules"]) => {
            let b = body(req)?;
            let template = rules::Template {
                organization: b
                    .get("organizationRole")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                workspaces: pairs(&b, "workspaceRoles", "workspace")?,
                deployments: pairs(&b, "deploymentRoles", "deployment")?,
            };
            let r = rules::create(
                store,
                &actor("create rule"),
                org.pk,
                text(&b, "name")?,
                text(&b, "match")?,
                text(&b, "value")?,
                template,
                now,
            )
            .await?;
            Ok(Reply::json(201, &rules::rule_json(&r)))
        }
        ("DELETE", ["rules", id]) => {
            rules::delete(store, &actor("delete rule"), org.pk, id.to_string(), now).await?;
            Ok(Reply::empty(204))
        }
        ("GET", ["rules", "test"]) => {
            let name = req.param("name").unwrap_or("").to_string();
            if name.is_empty() {
                return Err(Fail::new(400, "invalid", "give ?name=DISPLAYNAME to test"));
            }
            let hit = rules::test(store, org.pk, name.clone()).await?;
            Ok(Reply::json(
                200,
                &json!({"displayName": name, "rule": hit.as_ref().map(rules::rule_json)}),
            ))
        }
        ("GET", ["teams", id, "access"]) => team_access(app, org, id).await,
        ("PUT", ["teams", id, "deployment-roles"]) => {
            let b = body(req)?;
            let change = directory::teams::RoleChange::Deployment(
                text(&b, "deployment")?,
                b.get("workspace")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                optional_role(&b)?,
            );
            directory::teams::set_role(
                store,
                &actor("change Deployment role"),
                org.pk,
                id.to_string(),
                change,
                now,
            )
            .await?;
            team_access(app, org, id).await
        }
        ("PUT", ["users", id, "roles"]) => {
            let b = body(req)?;
            let change = if let Some(r) = b.get("organizationRole").and_then(Value::as_str) {
                da::Change::Organization(r.to_string())
            } else if let Some(d) = b.get("deployment").and_then(Value::as_str) {
                da::Change::Deployment(d.to_string(), None, optional_role(&b)?)
            } else {
                da::Change::Workspace(text(&b, "workspace")?, optional_role(&b)?)
            };
            let e = da::set_user_role(
                store,
                &actor("change user roles"),
                org.pk,
                id.to_string(),
                change,
                now,
            )
            .await?;
            Ok(Reply::json(200, &e.to_detail_json()))
        }
        ("POST", ["tokens", id, "rotate"]) => {
            let b = body(req)?;
            let grace = match b.get("graceMinutes") {
                None | Some(Value::Null) => 0,
                Some(v) => match v.as_u64() {
                    Some(m) if m <= 24 * 60 => m * 60,
                    _ => {
                        return Err(Fail::new(
                            400,
                            "invalid",
                            "graceMinutes must be a whole number of minutes from 0 to 1440 (24h)",
                        ));
                    }
                },
            };
            let (tid, bearer) = directory::tokens::rotate(
                store,
                &actor("rotate token"),
                org,
                id.to_string(),
                grace,
                req.now,
            )
            .await?;
            Ok(Reply::json(
                200,
                &json!({"id": tid, "token": bearer.expose(), "graceSeconds": grace}),
            ))
        }
        _ => Err(cx.not_found(method)),
    }
}
