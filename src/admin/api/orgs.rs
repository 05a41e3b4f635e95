//! An organization: its summary and the SCIM switch.

use super::*;

pub(super) fn org_json(org: &Org, req: &Request) -> Value {
    let base = req.scim_base(&org.id);
    json!({
        "id": org.id,
        "name": org.name,
        "scimEnabled": org.scim_enabled,
        "userCount": org.user_count,
        "teamCount": org.team_count,
        "created": org.created,
        "scimBaseUrl": base,
        "entraTenantUrl": format!("{base}?aadOptscim062020"),
    })
}

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", []) => Ok(Reply::json(200, &org_json(org, req))),
        ("PUT", ["scim"]) => {
            let on = bool_field(&json_body(req)?, "enabled")?;
            let what = if on { "SCIM on" } else { "SCIM off" };
            directory::orgs::set_scim_enabled(store, &actor(what), org, on, now).await?;
            let org = directory::orgs::find(store, org.id.clone()).await?;
            Ok(Reply::json(200, &org_json(&org, req)))
        }
        _ => Err(cx.not_found(method)),
    }
}
