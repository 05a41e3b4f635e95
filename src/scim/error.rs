//! The one place an `Error` becomes an HTTP status, a `scimType` and a `detail`
//! (RFC 7644 §3.12).

use super::{ERROR, Reply};
use crate::error::Error;
use serde_json::json;

/// Status, `scimType` and the detail the client sees.
pub fn classify(err: &Error) -> (u16, Option<&'static str>, String) {
    // No `_` arm: a new variant needs a status decision here.
    match err {
        Error::NotFound(d) => (404, None, d.clone()),
        Error::Uniqueness(attr) => (
            409,
            Some("uniqueness"),
            format!("{attr} is already taken in this organization"),
        ),
        Error::InvalidFilter(d) => (400, Some("invalidFilter"), d.clone()),
        Error::InvalidSyntax(d) => (400, Some("invalidSyntax"), d.clone()),
        Error::InvalidValue(d) => (400, Some("invalidValue"), d.clone()),
        Error::InvalidPath(d) => (400, Some("invalidPath"), d.clone()),
        Error::NoTarget(d) => (400, Some("noTarget"), d.clone()),
        Error::Mutability(d) => (400, Some("mutability"), d.clone()),
        Error::TooMany(d) => (400, Some("tooMany"), d.clone()),
        Error::InvalidCursor(d) => (400, Some("invalidCursor"), d.clone()),
        Error::ExpiredCursor(d) => (400, Some("expiredCursor"), d.clone()),
        Error::Unauthorized => (
            401,
            None,
            "a valid bearer token for this organization is required".into(),
        ),
        Error::Forbidden(d) => (403, None, d.clone()),
        Error::PreconditionFailed => (
            412,
            None,
            "the resource has changed: its version does not match If-Match".into(),
        ),
        Error::TooLarge(d) => (413, None, d.clone()),
        Error::MethodNotAllowed => (405, None, "this method is not allowed here".into()),
        Error::UnsupportedMediaType(d) => (415, None, d.clone()),
        Error::Busy => (503, None, "the database is busy; retry in a moment".into()),
        Error::RateLimited { detail, .. } => (429, None, detail.clone()),
        Error::Storage(fault) => (503, None, fault.detail().into()),
        Error::RequestTimeout => (408, None, "the request body did not arrive in time".into()),
        Error::NotImplemented(d) => (501, None, d.clone()),
        // The cause is logged by the caller; SQL text and paths never reach a client.
        Error::Internal(_) => (500, None, "internal error".into()),
    }
}

/// The SCIM error response for `err`, with the headers its status calls for.
pub fn reply(err: &Error) -> Reply {
    let (status, scim_type, detail) = classify(err);
    let mut body = json!({
        "schemas": [ERROR],
        "detail": detail,
        "status": status.to_string(),
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    let mut reply = Reply::json(status, body.to_string());
    match status {
        401 => reply = reply.header("www-authenticate", "Bearer realm=\"scimbox\"".into()),
        // A full or read-only disk takes longer to clear than a busy database.
        503 => {
            let wait = if matches!(err, Error::Storage(_)) {
                10
            } else {
                1
            };
            reply = reply.header("retry-after", wait.to_string());
        }
        // RFC 6585 §4: how long to wait, in seconds.
        429 => {
            let wait = match err {
                Error::RateLimited { retry_after, .. } => (*retry_after).max(1),
                _ => 1,
            };
            reply = reply.header("retry-after", wait.to_string());
        }
        405 => reply = reply.header("allow", "GET, POST, PUT, PATCH, DELETE".into()),
        _ => {}
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_follow_rfc_7644_3_12() {
        let r = reply(&Error::Uniqueness("userName".into()));
        let v: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(v["status"], "409");
        assert_eq!(v["scimType"], "uniqueness");
        assert_eq!(v["schemas"][0], ERROR);
        let r = reply(&Error::Internal("SELECT secret FROM x".into()));
        assert!(!r.body.unwrap().contains("SELECT"));
        let r = reply(&Error::Unauthorized);
        assert!(r.headers.iter().any(|(k, _)| *k == "www-authenticate"));
    }
}
