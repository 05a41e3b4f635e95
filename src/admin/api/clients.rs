//! The admin API's OAuth clients (`/admin/api/orgs/{org}/clients`, see docs/admin-api.md):
//! list, create (secret or federated), add a secret, delete a secret, revoke. Secrets are in
//! the answer that made them and nowhere else.

use super::*;
use crate::auth::clients::{METADATA_PATH, TOKEN_PATH};
use crate::directory::clients::{self, NewKind};
use crate::store::clients::{ClientRow, Federation, Kind, SecretRow};

fn text(body: &Map<String, Value>, name: &str) -> String {
    body.get(name)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn days(body: &Map<String, Value>) -> Result<u32> {
    match body.get("expiresInDays") {
        None | Some(Value::Null) => Ok(clients::DEFAULT_SECRET_DAYS),
        Some(v) => v
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| (1..=clients::MAX_SECRET_DAYS).contains(d))
            .ok_or_else(|| {
                Fail::new(
                    400,
                    "invalid",
                    format!(
                        "expiresInDays must be a whole number of days from 1 to {}",
                        clients::MAX_SECRET_DAYS
                    ),
                )
            }),
    }
}

fn secret_json(s: &SecretRow, now: &str) -> Value {
    let state = if s.expires.as_str() > now {
        "live"
    } else {
        "expired"
    };
    json!({"id": s.id, "created": s.created, "expires": s.expires, "state": state})
}

fn client_json(c: &ClientRow, secrets: &[SecretRow], now: &str) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "kind": match c.kind { Kind::Secret => "secret", Kind::Federated(_) => "federated" },
        "state": if c.revoked.is_some() { "revoked" } else { "live" },
        "created": c.created,
        "revoked": c.revoked,
        "lastUsed": c.last_used,
        "secrets": secrets.iter().map(|s| secret_json(s, now)).collect::<Vec<_>>(),
    });
    if let Kind::Federated(f) = &c.kind {
        v["federation"] = json!({
            "jwksUrl": f.jwks_url, "issuer": f.issuer, "subject": f.subject, "audience": f.audience,
        });
    }
    v
}

/// Serves `/orgs/{org}/clients/...`; `rest` is the path after `clients`.
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
        ("GET", []) => {
            let list = clients::list(store, org).await?;
            let items: Vec<Value> = list.iter().map(|(c, s)| client_json(c, s, &now)).collect();
            Ok(Reply::json(
                200,
                &json!({
                    "tokenEndpoint": format!("{}{TOKEN_PATH}", req.root),
                    "metadata": format!("{}{METADATA_PATH}", req.root),
                    "accessTokenSeconds": app.oauth.ttl_secs(),
                    "clients": items,
                }),
            ))
        }
        ("POST", []) => {
            let b = json_body(req)?;
            let kind = match b.get("kind").and_then(Value::as_str).unwrap_or("secret") {
                "secret" => NewKind::Secret { days: days(&b)? },
                "federated" => NewKind::Federated(Federation {
                    jwks_url: text(&b, "jwksUrl"),
                    issuer: text(&b, "issuer"),
                    subject: text(&b, "subject"),
                    audience: text(&b, "audience"),
                }),
                _ => return Err(Fail::new(400, "invalid", "kind is secret or federated")),
            };
            let (row, secret) = clients::create(
                store,
                &actor("create OAuth client"),
                org,
                text(&b, "name"),
                kind,
                req.now,
            )
            .await?;
            let secrets = clients::list(store, org)
                .await?
                .into_iter()
                .find(|(c, _)| c.pk == row.pk)
                .map(|(_, s)| s)
                .unwrap_or_default();
            let mut v = client_json(&row, &secrets, &now);
            if let Some((id, value)) = secret {
                v["secret"] = json!({"id": id, "value": value.expose()});
            }
            Ok(Reply::json(201, &v))
        }
        ("POST", [client, "secrets"]) => {
            let b = json_body(req)?;
            let (id, value) = clients::rotate(
                store,
                &actor("add OAuth client secret"),
                org,
                (*client).to_string(),
                days(&b)?,
                req.now,
            )
            .await?;
            Ok(Reply::json(
                201,
                &json!({"id": id, "value": value.expose()}),
            ))
        }
        ("DELETE", [client, "secrets", secret]) => {
            clients::delete_secret(
                store,
                &actor("delete OAuth client secret"),
                org,
                (*client).to_string(),
                (*secret).to_string(),
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("DELETE", [client]) => {
            clients::revoke(
                store,
                &actor("revoke OAuth client"),
                org,
                (*client).to_string(),
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        _ => Err(cx.not_found(method)),
    }
}
