//! Activity: the audit log and the request inspector.

use super::*;
use crate::admin::AdminState;

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, admin, req, org) = (cx.app, cx.admin, cx.req, cx.org);
    match (method, rest) {
        ("GET", ["audit"]) => list_audit(app, req, org).await,
        ("GET", ["requests"]) => list_requests(admin, req, org),
        _ => Err(cx.not_found(method)),
    }
}

/// A stored before/after: JSON when it is JSON, else the text.
fn stored(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

async fn list_audit(app: &App, req: &Request, org: &Org) -> Result<Reply> {
    let limit = count_param(req, "limit", 50, MAX_PAGE)?.max(1);
    let before = match req.param("before").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            Fail::new(
                400,
                "invalid",
                "before must be an entry id from a previous page",
            )
        })?),
    };
    let kind = match req.param("type").filter(|v| !v.is_empty()) {
        None => None,
        Some(t @ ("User" | "Team" | "Token" | "Organization" | "Workspace")) => Some(t.to_string()),
        Some(_) => {
            return Err(Fail::new(
                400,
                "invalid",
                "type must be User, Team, Token, Organization or Workspace",
            ));
        }
    };
    let rows = directory::orgs::audit_page(&app.store, org.pk, kind, before, limit).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.pk))
        .flatten();
    let entries: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.pk, "at": r.at, "actor": r.actor, "action": r.action,
                "resourceType": r.resource_type, "resourceId": r.resource_id,
                "reason": r.reason,
                "before": stored(r.before.as_deref()), "after": stored(r.after.as_deref()),
            })
        })
        .collect();
    Ok(Reply::json(200, &json!({"entries": entries, "next": next})))
}

fn list_requests(admin: &AdminState, req: &Request, org: &Org) -> Result<Reply> {
    let status = req.param("status").unwrap_or("").trim();
    let status = status.trim_end_matches(['x', 'X']);
    if status.len() > 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fail::new(
            400,
            "invalid",
            "status must be a status or its start, like 4xx, 40 or 401",
        ));
    }
    let limit = count_param(req, "limit", 50, MAX_PAGE)?.max(1) as usize;
    let before = req.param("before").and_then(|v| v.parse::<u64>().ok());
    let inspector = &admin.inspector;
    let records = inspector.list(&org.id, status, before, limit);
    let items: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "id": r.seq, "at": r.at, "requestId": r.request_id,
                "method": r.method, "path": r.path,
                "query": r.query, "status": r.status,
                "latencyMs": r.latency_us as f64 / 1000.0,
                "token": r.token, "userAgent": r.user_agent,
                "requestBody": r.request_body, "requestBytes": r.request_bytes,
                "responseBody": r.response_body,
                "dropped": r.dropped,
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({"kept": inspector.size(), "requests": items}),
    ))
}
