//! The OAuth edge's side of HTTP: turns a request to `/oauth/token` or the RFC 8414 metadata
//! path into an `oauth::token::TokenRequest`, and throttles failed client authentications
//! like failed API tokens. Never logs the body, the `Authorization` header or the answer.

use super::{forwarded_https, header_str, host_of, method_of};
use crate::app::App;
use crate::auth::bearer::throttle_policy;
use crate::auth::clients::METADATA_PATH;
use crate::auth::throttle::Key;
use crate::oauth::{metadata, token};
use crate::scim::{Method, Reply};
use http_body_util::{BodyExt, Limited};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header;
use std::net::IpAddr;
use std::time::Instant;

/// Failed client authentications are counted per address, apart from API tokens' counts.
const THROTTLE_SCOPE: &str = "oauth-addr";

/// Serves a request on a path [`crate::oauth::owns`].
pub async fn serve(app: &App, peer: IpAddr, req: Request<Incoming>, request_id: &str) -> Reply {
    let path = req.uri().path().to_string();
    let method = method_of(req.method());
    let headers = req.headers();
    if path == METADATA_PATH {
        let root = app.edge.root(&host_of(headers), forwarded_https(headers));
        return match method {
            Method::Get | Method::Head => metadata::serve(&root),
            _ => Reply::json(405, "{\"error\":\"invalid_request\"}".into())
                .header("content-type", "application/json".into())
                .header("allow", "GET".into()),
        };
    }
    let content_type = header_str(headers, header::CONTENT_TYPE).map(str::to_string);
    let authorization = header_str(headers, header::AUTHORIZATION).map(str::to_string);
    let presented = authorization.is_some();
    let read = Limited::new(req.into_body(), token::MAX_BODY_BYTES).collect();
    let body = match tokio::time::timeout(app.limits.body_read_timeout, read).await {
        Ok(Ok(b)) => b.to_bytes().to_vec(),
        Ok(Err(_)) => return token::too_large(),
        Err(_) => {
            return crate::scim::error::reply(&crate::error::Error::RequestTimeout);
        }
    };
    let form = super::query::parse(&String::from_utf8_lossy(&body));
    let asked = presented || form.iter().any(|(k, _)| k.starts_with("client_"));
    // A reservation before the credentials are checked, so a burst of concurrent guesses
    // gets no more checks than the allowance (the same table and policy as API tokens).
    let policy = throttle_policy(app.limits.auth_free_failures);
    let keys = [Key::addr(THROTTLE_SCOPE, peer, policy)];
    let attempt = if asked {
        match app.throttle.begin(&keys, Instant::now()) {
            Ok(attempt) => Some(attempt),
            Err(refused) => return token::throttled(refused.retry_after_secs()),
        }
    } else {
        None
    };
    let outcome = token::serve(
        app,
        token::TokenRequest {
            method,
            content_type,
            authorization,
            form,
            now: crate::clock::now(),
        },
    )
    .await;
    if let Some(attempt) = attempt {
        if outcome.auth_failed {
            attempt.failed();
        } else {
            attempt.succeeded();
        }
    }
    tracing::info!(
        target: "scimbox::request",
        method = ?method,
        path = %path,
        status = outcome.reply.status,
        client = outcome.client.as_deref().unwrap_or("-"),
        request_id = %request_id,
    );
    outcome.reply
}
