//! Workspaces and the Teams that have a role in each.

use super::*;
use crate::directory::teams as dteams;

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", ["workspaces"]) => {
            let list = dteams::workspace_teams(store, org.pk).await?;
            let items: Vec<Value> = list
                .iter()
                .map(|(ws, teams)| {
                    json!({
                        "id": ws.id, "name": ws.name,
                        "teams": teams.iter().map(|(name, role)| json!({"name": name, "role": role}))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(Reply::json(200, &Value::Array(items)))
        }
        ("POST", ["workspaces"]) => {
            let name = text_field(&json_body(req)?, "name", "a name for the Workspace")?;
            let ws = dteams::create_workspace(store, &actor("create Workspace"), org.pk, name, now)
                .await?;
            Ok(Reply::json(201, &json!({"id": ws.id, "name": ws.name})))
        }
        _ => Err(cx.not_found(method)),
    }
}
