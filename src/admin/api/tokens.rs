//! An organization's API tokens: list, create (shown once), revoke.

use super::*;

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", ["tokens"]) => {
            let list = directory::orgs::list_tokens(store, org).await?;
            let items: Vec<Value> = list
                .iter()
                .map(|t| {
                    let state = t.state(&now);
                    json!({
                        "id": t.id, "name": t.name, "created": t.created,
                        "expires": t.expires, "lastUsed": t.last_used,
                        "revoked": t.revoked, "state": state,
                    })
                })
                .collect();
            Ok(Reply::json(200, &Value::Array(items)))
        }
        ("POST", ["tokens"]) => {
            let body = json_body(req)?;
            let name = text_field(&body, "name", "a name for the token")?;
            let expires = match body.get("expiresInDays") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_i64() {
                    Some(d) if (1..=36500).contains(&d) => {
                        Some(crate::clock::format(req.now + time::Duration::days(d)))
                    }
                    _ => {
                        return Err(Fail::new(
                            400,
                            "invalid",
                            "expiresInDays must be a whole number of days from 1 to 36500",
                        ));
                    }
                },
            };
            let (id, bearer) = directory::orgs::create_token(
                store,
                &actor("create token"),
                org,
                name.clone(),
                expires.clone(),
                now,
            )
            .await?;
            Ok(Reply::json(
                201,
                &json!({"id": id, "name": name, "expires": expires, "token": bearer.expose()}),
            ))
        }
        ("DELETE", ["tokens", id]) => {
            directory::orgs::revoke_token(store, &actor("revoke token"), org, id.to_string(), now)
                .await?;
            Ok(Reply::empty(204))
        }
        _ => Err(cx.not_found(method)),
    }
}
