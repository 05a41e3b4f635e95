//! An organization's API tokens: list, create (shown once), revoke. Rotation is in access.rs.

use super::*;

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", ["tokens"]) => {
            let list = directory::orgs::list_tokens(store, org).await?;
            let soon = crate::clock::format(
                req.now + time::Duration::days(crate::directory::tokens::EXPIRY_WARNING_DAYS),
            );
            let items: Vec<Value> = list
                .iter()
                .map(|t| {
                    let state = t.state(&now);
                    let expiring =
                        state == "live" && t.expires.as_deref().is_some_and(|e| e <= soon.as_str());
                    json!({
                        "id": t.id, "name": t.name, "created": t.created,
                        "expires": t.expires, "lastUsed": t.last_used,
                        "revoked": t.revoked, "state": state,
                        "description": t.description, "lastSource": t.last_source,
                        "allow": t.allowed_cidrs, "rotated": t.rotated,
                        "expiringSoon": expiring,
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
            let bad = || Fail::new(400, "invalid", "allow must be a list of CIDR blocks");
            let allow: Vec<String> = match body.get("allow") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?,
                Some(_) => return Err(bad()),
            };
            let spec = directory::orgs::TokenSpec {
                name: name.clone(),
                expires: expires.clone(),
                description: body
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                allow,
            };
            let (id, bearer) =
                directory::orgs::create_token_with(store, &actor("create token"), org, spec, now)
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
