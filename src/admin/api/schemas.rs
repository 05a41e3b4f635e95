//! Declared schema extensions of an organization (RFC 7643 §7), and the undeclared attributes
//! its IdP sends.

use super::*;
use crate::directory::schemas::Shown;

fn schema_json(s: &Shown) -> Value {
    let d = &s.declared;
    json!({
        "id": d.urn,
        "resourceType": d.resource_type,
        "required": d.required,
        "carriers": s.carriers,
        "created": d.created,
        "schema": serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
    })
}

fn undeclared_json(admin: &AdminState, org: &Org) -> Value {
    Value::Array(
        admin
            .inspector
            .undeclared(&org.id)
            .into_iter()
            .map(|d| json!({"path": d.path, "count": d.count, "lastSeen": d.last_seen}))
            .collect(),
    )
}

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let Cx {
        app,
        admin,
        req,
        org,
        actor,
        ..
    } = *cx;
    let store = &app.store;
    let now = cx.now.clone();
    match (method, rest) {
        ("GET", ["schemas"]) => {
            let list = directory::schemas::list(store, org.pk).await?;
            Ok(Reply::json(
                200,
                &json!({
                    "schemas": list.iter().map(schema_json).collect::<Vec<_>>(),
                    "undeclared": undeclared_json(admin, org),
                }),
            ))
        }
        ("GET", ["undeclared"]) => Ok(Reply::json(
            200,
            &json!({"undeclared": undeclared_json(admin, org)}),
        )),
        ("GET", ["schemas", urn]) => {
            let shown = directory::schemas::show(store, org.pk, (*urn).to_string()).await?;
            Ok(Reply::json(200, &schema_json(&shown)))
        }
        ("POST", ["schemas"]) => {
            let body = json_body(req)?;
            // The schema as pasted text or as a JSON object.
            let text = match body.get("schema") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ Value::Object(_)) => v.to_string(),
                _ => {
                    return Err(Fail::new(
                        400,
                        "invalid",
                        "send the schema (RFC 7643 §7 JSON) as \"schema\"",
                    ));
                }
            };
            let rt = body
                .get("resourceType")
                .and_then(Value::as_str)
                .unwrap_or("User")
                .to_string();
            let d = directory::schemas::add(store, &actor("declare schema"), org.pk, text, rt, now)
                .await?;
            let shown = directory::schemas::show(store, org.pk, d.urn).await?;
            Ok(Reply::json(201, &schema_json(&shown)))
        }
        ("DELETE", ["schemas", urn]) => {
            let force = req.param("force").is_some_and(|v| v == "true" || v == "1");
            let dropped = directory::schemas::remove(
                store,
                &actor("remove schema"),
                org.pk,
                (*urn).to_string(),
                force,
                now,
            )
            .await?;
            Ok(Reply::json(
                200,
                &json!({"removed": urn, "droppedFrom": dropped}),
            ))
        }
        _ => Err(cx.not_found(method)),
    }
}
