//! Bulk (RFC 7644 §3.7): many operations in one request, each applied exactly as if it were
//! its own request (same routes, validation and audit), with `bulkId` references so a user
//! can be created and added to a Team in one go.

use super::{Method, Reply, Request, field, router};
use crate::app::App;
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::collections::HashMap;

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Advertised as `bulk.maxOperations`.
pub const MAX_OPERATIONS: usize = 1000;

/// Replaces every `bulkId:<id>` in strings with the id the earlier operation created.
fn resolve_refs(v: &mut Value, ids: &HashMap<String, String>) -> Result<()> {
    match v {
        Value::String(s) => {
            if let Some(reference) = s.strip_prefix("bulkId:") {
                let id = ids.get(reference).ok_or_else(|| {
                    Error::InvalidValue(format!(
                        "bulkId:{reference} does not name an earlier operation that succeeded"
                    ))
                })?;
                *s = id.clone();
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_refs(item, ids)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                resolve_refs(item, ids)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn method_of(m: &str) -> Option<Method> {
    match m.to_ascii_uppercase().as_str() {
        "POST" => Some(Method::Post),
        "PUT" => Some(Method::Put),
        "PATCH" => Some(Method::Patch),
        "DELETE" => Some(Method::Delete),
        _ => None,
    }
}

/// One operation's outcome in the BulkResponse.
fn outcome(method: &str, bulk_id: Option<&str>, reply: &Reply) -> Value {
    let mut out = json!({"method": method, "status": reply.status.to_string()});
    if let Some(b) = bulk_id {
        out["bulkId"] = json!(b);
    }
    for (name, value) in &reply.headers {
        match *name {
            "location" => out["location"] = json!(value),
            "etag" => out["version"] = json!(value),
            _ => {}
        }
    }
    if reply.status >= 400 {
        out["response"] = reply
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
    } else if out.get("location").is_none()
        && let Some(body) = reply.body.as_deref()
        && let Ok(Value::Object(resource)) = serde_json::from_str::<Value>(body)
        && let Some(loc) = resource.get("meta").and_then(|m| m.get("location"))
    {
        out["location"] = loc.clone();
    }
    out
}

fn error_outcome(method: &str, bulk_id: Option<&str>, err: &Error) -> Value {
    outcome(method, bulk_id, &super::error::reply(err))
}

pub async fn serve(app: &App, req: &Request) -> Result<Reply> {
    if req.method != Method::Post {
        return Err(Error::MethodNotAllowed);
    }
    let body = req.json()?;
    let obj = body
        .as_object()
        .ok_or_else(|| Error::InvalidSyntax(format!("a Bulk body must be a {BULK_REQUEST}")))?;
    let ops = field(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::InvalidSyntax("a BulkRequest needs an \"Operations\" array".into())
        })?;
    if ops.len() > MAX_OPERATIONS {
        return Err(Error::TooLarge(format!(
            "a Bulk request may carry at most {MAX_OPERATIONS} operations (maxOperations)"
        )));
    }
    let fail_on_errors = match field(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            Error::InvalidValue("failOnErrors must be a positive integer".into())
        })?),
    };
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut errors = 0u64;
    for (i, op) in ops.iter().enumerate() {
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let result = run_one(app, req, i, op, &mut ids).await;
        if let Some(status) = result.get("status").and_then(Value::as_str)
            && !status.starts_with('2')
        {
            errors += 1;
        }
        results.push(result);
    }
    let body = json!({"schemas": [BULK_RESPONSE], "Operations": results});
    Ok(Reply::json(200, body.to_string()))
}

async fn run_one(
    app: &App,
    req: &Request,
    i: usize,
    op: &Value,
    ids: &mut HashMap<String, String>,
) -> Value {
    let Some(obj) = op.as_object() else {
        return error_outcome(
            "",
            None,
            &Error::InvalidSyntax(format!("operation {i} must be an object")),
        );
    };
    let method_text = field(obj, "method").and_then(Value::as_str).unwrap_or("");
    let bulk_id = field(obj, "bulkId").and_then(Value::as_str);
    let Some(method) = method_of(method_text) else {
        return error_outcome(
            method_text,
            bulk_id,
            &Error::InvalidSyntax(format!(
                "operation {i}: method must be POST, PUT, PATCH or DELETE"
            )),
        );
    };
    if method == Method::Post && bulk_id.is_none() {
        return error_outcome(
            method_text,
            None,
            &Error::InvalidSyntax(format!("operation {i}: a POST needs a bulkId")),
        );
    }
    let path = field(obj, "path").and_then(Value::as_str).unwrap_or("");
    // Each path segment may be a reference (`/Users/bulkId:u1`), as may any string in data.
    let mut segments: Vec<Value> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
        .collect();
    let mut data = field(obj, "data").cloned().unwrap_or(Value::Null);
    let resolved = segments
        .iter_mut()
        .try_for_each(|s| resolve_refs(s, ids))
        .and_then(|()| resolve_refs(&mut data, ids));
    if let Err(e) = resolved {
        return error_outcome(method_text, bulk_id, &e);
    }
    let segments: Vec<String> = segments
        .into_iter()
        .map(|s| s.as_str().unwrap_or("").to_string())
        .collect();
    let allowed = matches!(
        (
            method,
            segments
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
        ),
        (Method::Post, ["Users" | "Groups"])
            | (
                Method::Put | Method::Patch | Method::Delete,
                ["Users" | "Groups", _]
            )
    );
    if !allowed {
        return error_outcome(
            method_text,
            bulk_id,
            &Error::InvalidPath(format!(
                "operation {i}: {method_text} {path:?} is not a Bulk target (/Users, /Groups, or one resource)"
            )),
        );
    }
    let sub = Request {
        method,
        segments,
        query: Vec::new(),
        if_match: field(obj, "version")
            .and_then(Value::as_str)
            .map(str::to_string),
        if_none_match: None,
        base_url: req.base_url.clone(),
        body: if data.is_null() {
            Vec::new()
        } else {
            data.to_string().into_bytes()
        },
        principal: req.principal.clone(),
        now: req.now.clone(),
        via: req.via.clone(),
    };
    // Boxed: a route can be a Bulk request, which routes again.
    let reply = match Box::pin(router::route(app, &sub)).await {
        Ok(reply) => reply,
        Err(e) => super::error::reply(&e),
    };
    if method == Method::Post
        && reply.status == 201
        && let Some(b) = bulk_id
        && let Some(id) = reply
            .body
            .as_deref()
            .and_then(|body| serde_json::from_str::<Value>(body).ok())
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
    {
        ids.insert(b.to_string(), id);
    }
    outcome(method_text, bulk_id, &reply)
}
