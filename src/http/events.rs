//! The events edge of HTTP: an organization's JWKS (`GET /events/{org}/jwks`, public: it
//! holds public keys only) and the poll endpoints of RFC 8936
//! (`POST /events/{org}/poll/{receiver}`, with the receiver's bearer token). Outside
//! `/scim/v2` because neither takes a SCIM token.

use super::{forwarded_https, header_str, host_of};
use crate::app::App;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

/// The largest poll request body: acknowledgements of up to `poll::MAX_ACKS` SETs.
const MAX_POLL_BODY: usize = 2 * 1024 * 1024;

/// Whether a path belongs to the events endpoints.
pub fn owns(path: &str) -> bool {
    path == "/events" || path.starts_with("/events/")
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: u16, err: &str, description: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"err": err, "description": description}).to_string(),
    )
}

pub async fn serve(app: &App, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let segments: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| super::query::decode(s, false))
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    match (method, segs.as_slice()) {
        (hyper::Method::GET | hyper::Method::HEAD, ["events", org, "jwks"]) => {
            match crate::events::jwks(&app.store, org.to_string()).await {
                Ok(Some(keys)) => {
                    let mut resp = json(200, keys.to_string());
                    resp.headers_mut().insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=300"),
                    );
                    resp
                }
                Ok(None) => error(404, "not_found", "no such organization"),
                Err(e) => {
                    tracing::error!(error = %e, "events: cannot publish the JWKS");
                    error(500, "internal_error", "internal error")
                }
            }
        }
        (hyper::Method::POST, ["events", org, "poll", receiver]) => {
            let headers = req.headers();
            let bearer = header_str(headers, header::AUTHORIZATION).and_then(|h| {
                h.get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("bearer "))
                    .map(|_| h[7..].to_string())
            });
            let root = app.edge.root(&host_of(headers), forwarded_https(headers));
            let (org, receiver) = (org.to_string(), receiver.to_string());
            let read = Limited::new(req.into_body(), MAX_POLL_BODY).collect();
            let body = match tokio::time::timeout(app.limits.body_read_timeout, read).await {
                Ok(Ok(b)) => b.to_bytes(),
                Ok(Err(_)) => {
                    return error(413, "invalid_request", "the poll request is too large");
                }
                Err(_) => return error(408, "invalid_request", "the poll request took too long"),
            };
            let answer = crate::events::poll::serve(
                &app.store,
                org,
                receiver,
                bearer.as_deref(),
                &body,
                &root,
            )
            .await;
            let mut resp = json(answer.status, answer.body);
            if answer.status == 401 {
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            resp
        }
        (_, ["events", _, "jwks"]) | (_, ["events", _, "poll", _]) => {
            let mut resp = error(405, "invalid_request", "method not allowed here");
            *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            resp
        }
        _ => error(404, "not_found", "nothing here"),
    }
}
