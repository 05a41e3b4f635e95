//! The admin API's event receivers (`/admin/api/orgs/{org}/receivers…`): list them with
//! their backlog, last delivery and last error; add one (a poll receiver's token is in this
//! answer only); remove one; resume one marked failed.

use super::*;
use crate::directory::events::{self as devents, Detail, Mode};
use crate::store::outbox::Receiver;

fn receiver_json(r: &Receiver, root: &str) -> Value {
    json!({
        "id": r.id,
        "url": r.url,
        "mode": r.mode,
        "detail": r.detail,
        "created": r.created,
        "status": r.status(),
        "backlog": r.backlog,
        "delivered": r.delivered,
        "attempts": r.attempts,
        "nextAttempt": r.next_attempt,
        "lastDelivery": r.last_delivery,
        "lastError": r.last_error,
        "pollEndpoint": (r.mode == "poll")
            .then(|| format!("{root}/events/{}/poll/{}", r.org_id, r.id)),
    })
}

/// Serves `rest` = `["receivers", …]` of an organization.
pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let Cx {
        app,
        req,
        org,
        actor,
        ..
    } = *cx;
    let store = &app.store;
    let now = cx.now.clone();
    match (method, rest) {
        ("GET", ["receivers"]) => {
            let list = devents::list(store, org.pk).await?;
            Ok(Reply::json(
                200,
                &json!({
                    "receivers": list.iter().map(|r| receiver_json(r, &req.root)).collect::<Vec<_>>(),
                    "jwksUri": format!("{}/events/{}/jwks", req.root, org.id),
                }),
            ))
        }
        ("POST", ["receivers"]) => {
            let body = json_body(req)?;
            let url = text_field(&body, "url", "the receiver's URL")?;
            let word = |name: &str, default: &str| -> Result<String> {
                match body.get(name) {
                    None | Some(Value::Null) => Ok(default.to_string()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(Fail::new(
                        400,
                        "invalid",
                        format!("{name} must be a string"),
                    )),
                }
            };
            let mode = Mode::parse(&word("mode", "push")?)?;
            let detail = Detail::parse(&word("detail", "notice")?)?;
            let (r, token) = devents::add(
                store,
                &actor("add event receiver"),
                org.pk,
                url,
                mode,
                detail,
                now,
            )
            .await?;
            let mut out = receiver_json(&r, &req.root);
            if let Some(t) = token {
                out["token"] = t.expose().into();
            }
            Ok(Reply::json(201, &out))
        }
        ("DELETE", ["receivers", id]) => {
            devents::remove(
                store,
                &actor("remove event receiver"),
                org.pk,
                id.to_string(),
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("POST", ["receivers", id, "resume"]) => {
            devents::resume(
                store,
                &actor("resume event receiver"),
                org.pk,
                id.to_string(),
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        _ => Err(cx.not_found(method)),
    }
}
