//! Activity: the audit log (pages, filters, export), the request inspector (search) and sync
//! health.

use super::*;
use crate::admin::AdminState;
use crate::store::requests::{RequestRow, Search};

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, admin, req, org) = (cx.app, cx.admin, cx.req, cx.org);
    match (method, rest) {
        ("GET", ["audit"]) => list_audit(app, req, org).await,
        ("GET", ["audit", "export"]) => export_audit(app, req, org).await,
        ("GET", ["requests"]) => list_requests(app, admin, req, org).await,
        ("GET", ["health"]) => health(app, admin, req, org).await,
        _ => Err(cx.not_found(method)),
    }
}

/// A name as it can stand in a file name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// An optional text parameter, at most [`MAX_SEARCH`] characters.
fn text_param(req: &Request, name: &str) -> Result<Option<String>> {
    match req.param(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > MAX_SEARCH => Err(Fail::new(
            400,
            "invalid",
            format!("{name} is longer than {MAX_SEARCH} characters"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// A time parameter: a UTC time in the stored format or a prefix of it
/// (`2026-12-02T14:00`); compared as text, which is time order.
fn time_param(req: &Request, name: &str) -> Result<Option<String>> {
    let Some(v) = text_param(req, name)? else {
        return Ok(None);
    };
    let ok = v.len() >= 10
        && v.len() <= 24
        && v.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && v.as_bytes()[4] == b'-'
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b"-T:.Z".contains(&b));
    if !ok {
        return Err(Fail::new(
            400,
            "invalid",
            format!("{name} must be a UTC time like 2026-12-02T14:00:00.000Z (or its start)"),
        ));
    }
    Ok(Some(v))
}

fn before_param(req: &Request) -> Result<Option<i64>> {
    match req.param("before").filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Ok(Some(v.parse::<i64>().map_err(|_| {
            Fail::new(400, "invalid", "before must be an id from a previous page")
        })?)),
    }
}

fn audit_filter(req: &Request) -> Result<crate::store::audit::Filter> {
    let resource_type = match req.param("type").filter(|v| !v.is_empty()) {
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
    Ok(crate::store::audit::Filter {
        resource_type,
        resource_id: text_param(req, "resource")?,
        actor: text_param(req, "actor")?,
        action: text_param(req, "action")?,
        request_id: text_param(req, "requestId")?,
        since: time_param(req, "since")?,
        until: time_param(req, "until")?,
    })
}

async fn list_audit(app: &App, req: &Request, org: &Org) -> Result<Reply> {
    let limit = count_param(req, "limit", 50, MAX_PAGE)?.max(1);
    let filter = audit_filter(req)?;
    let page =
        directory::orgs::audit_page(&app.store, org.pk, filter, before_param(req)?, limit).await?;
    let next = (page.rows.len() as i64 == limit)
        .then(|| page.rows.last().map(|r| r.pk))
        .flatten();
    let entries: Vec<Value> = page
        .rows
        .iter()
        .map(|r| directory::history::entry_json(r, &page.names))
        .collect();
    Ok(Reply::json(
        200,
        &json!({"total": page.total, "entries": entries, "next": next}),
    ))
}

/// The filtered audit log as NDJSON or CSV (newest first), for download.
async fn export_audit(app: &App, req: &Request, org: &Org) -> Result<Reply> {
    let format = req.param("format").unwrap_or("ndjson");
    if !matches!(format, "ndjson" | "csv") {
        return Err(Fail::new(400, "invalid", "format must be ndjson or csv"));
    }
    let filter = audit_filter(req)?;
    let body = directory::history::export(&app.store, org.pk, filter, format).await?;
    let (kind, ext) = if format == "csv" {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson; charset=utf-8", "ndjson")
    };
    Ok(Reply::new(200, kind, body.into_bytes()).header(
        "content-disposition",
        format!(
            "attachment; filename=\"audit-{}.{ext}\"",
            file_safe(&org.name)
        ),
    ))
}

fn request_json(r: &RequestRow, audit: i64) -> Value {
    json!({
        "id": r.pk, "at": r.at, "requestId": r.request_id,
        "method": r.method, "path": r.path,
        "query": r.query, "status": r.status,
        "latencyMs": r.latency_us as f64 / 1000.0,
        "token": r.token, "userAgent": r.user_agent, "source": r.source,
        "resourceId": r.resource_id,
        "requestBody": r.request_body, "requestBytes": r.request_bytes,
        "responseBody": r.response_body,
        "auditEntries": audit,
        "dropped": r.dropped,
    })
}

async fn list_requests(app: &App, admin: &AdminState, req: &Request, org: &Org) -> Result<Reply> {
    let status = req.param("status").unwrap_or("").trim();
    let status = status.trim_end_matches(['x', 'X']);
    if status.len() > 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fail::new(
            400,
            "invalid",
            "status must be a status or its start, like 4xx, 40 or 401",
        ));
    }
    let method = text_param(req, "method")?;
    if let Some(m) = &method
        && !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(m))
    {
        return Err(Fail::new(
            400,
            "invalid",
            "method must be GET, POST, PUT, PATCH, DELETE or HEAD",
        ));
    }
    let limit = count_param(req, "limit", 50, MAX_PAGE)?.max(1);
    let search = Search {
        method,
        path: text_param(req, "path")?,
        status: (!status.is_empty()).then(|| status.to_string()),
        token: text_param(req, "token")?,
        resource_id: text_param(req, "resource")?,
        request_id: text_param(req, "requestId")?,
        since: time_param(req, "since")?,
        until: time_param(req, "until")?,
        before: before_param(req)?,
        limit,
    };
    let inspector = &admin.inspector;
    let (total, rows) = inspector.list(&app.store, &org.id, search).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.request_id.clone()).collect();
    let counts = directory::orgs::audit_counts(&app.store, org.pk, ids).await?;
    let count_of = |id: &str| counts.iter().find(|(r, _)| r == id).map_or(0, |(_, n)| *n);
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.pk))
        .flatten();
    let items: Vec<Value> = rows
        .iter()
        .map(|r| request_json(r, count_of(&r.request_id)))
        .collect();
    Ok(Reply::json(
        200,
        &json!({"kept": inspector.size(), "keptDays": inspector.days(), "total": total,
                "requests": items, "next": next}),
    ))
}

/// Past this share of failing requests in the last hour, the page warns that Entra may
/// quarantine the application ("most, or all, of the calls ... consistently fail").
pub const WARN_RATE: f64 = 0.4;
/// Past this share, a quarantine is likely.
pub const QUARANTINE_RATE: f64 = 0.6;

fn rate_json(row: Option<&crate::store::requests::TokenRate>) -> Value {
    match row {
        None => json!({"requests": 0, "failures": 0, "rate": 0.0}),
        Some((_, n, f, _)) => {
            json!({"requests": n, "failures": f, "rate": if *n > 0 { *f as f64 / *n as f64 } else { 0.0 }})
        }
    }
}

/// What to change for a failing IdP request, from its status and SCIM error type.
fn advice(status: u16, scim_type: Option<&str>) -> &'static str {
    match (status, scim_type) {
        (401, _) => {
            "The token is wrong, expired or revoked: make a new one on the Tokens page and paste \
             it into the IdP (Okta: Provisioning → Integration → API Token; Entra: Secret Token)."
        }
        (403, _) => {
            "SCIM provisioning is off for this organization, or the token belongs to another \
             one: turn SCIM on (Organization page) or check the base URL."
        }
        (400, Some("invalidFilter")) => {
            "The IdP sent a filter scimbox cannot read: check the attribute mappings."
        }
        (400, Some("invalidValue" | "invalidSyntax")) => {
            "A mapped attribute has a value scimbox refuses: the detail names it; fix the \
             mapping or the user's data in the IdP."
        }
        (400, Some("invalidPath" | "noTarget")) => {
            "A PATCH names an attribute path scimbox does not have: remove that attribute from \
             the IdP's mappings."
        }
        (400, Some("mutability")) => "The IdP tries to change a read-only attribute: unmap it.",
        (413, _) => "The request is too large: lower the IdP's batch size.",
        (415, _) => "Send application/scim+json.",
        (429, _) => "The IdP sends too fast for --rate-limit: raise it or slow the IdP down.",
        (s, _) if s >= 500 => "scimbox failed: see its log for this request id.",
        _ => "See the error detail.",
    }
}

async fn health(app: &App, admin: &AdminState, req: &Request, org: &Org) -> Result<Reply> {
    // What is pending is stored first, so the rates include the latest requests.
    admin.inspector.flush(&app.store).await?;
    let h = directory::orgs::sync_health(&app.store, org, req.now).await?;
    let now = crate::clock::format(req.now);
    let tokens: Vec<Value> = h
        .tokens
        .iter()
        .map(|t| {
            let name = Some(t.name.clone());
            let hour = h.last_hour.iter().find(|r| r.0 == name);
            let day = h.last_day.iter().find(|r| r.0 == name);
            let hour_json = rate_json(hour);
            let rate = hour_json["rate"].as_f64().unwrap_or(0.0);
            let enough = hour.is_some_and(|r| r.1 >= 5);
            let warning = if enough && rate >= QUARANTINE_RATE {
                Some("quarantine")
            } else if enough && rate >= WARN_RATE {
                Some("near-quarantine")
            } else {
                None
            };
            json!({
                "id": t.id, "name": t.name,
                "state": if t.revoked.is_some() { "revoked" } else if t.is_live(&now) { "live" } else { "expired" },
                "lastUsed": t.last_used,
                "lastRequest": day.map(|r| r.3.clone()),
                "hour": hour_json, "day": rate_json(day), "warning": warning,
            })
        })
        .collect();
    let refused = h.last_hour.iter().find(|r| r.0.is_none());
    let find = |id: &str| h.names.iter().find(|n| n.id == id);
    let drift: Vec<Value> = h
        .drift
        .iter()
        .map(|(kind, id, idp, local, actor)| {
            json!({"type": kind, "id": id, "name": find(id).map(|n| n.name.clone()),
                   "display": find(id).and_then(|n| n.display.clone()),
                   "idpWrote": idp, "changedHere": local, "changedBy": actor})
        })
        .collect();
    let failing: Vec<Value> = h
        .failing
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_str(&r.response_body).unwrap_or(Value::Null);
            let scim_type = body.get("scimType").and_then(Value::as_str);
            json!({
                "id": r.pk, "at": r.at, "requestId": r.request_id, "method": r.method,
                "path": r.path, "status": r.status, "token": r.token,
                "scimType": scim_type, "detail": body.get("detail"),
                "advice": advice(r.status, scim_type),
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "scimEnabled": org.scim_enabled,
            "thresholds": {"warn": WARN_RATE, "quarantine": QUARANTINE_RATE},
            "tokens": tokens,
            "refusedLastHour": rate_json(refused)["requests"],
            "drift": drift,
            "failing": failing,
        }),
    ))
}
