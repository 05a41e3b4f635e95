//! HTTP edge: turns a hyper request into a SCIM request (auth, body cap, query decoding),
//! routes it, and turns the reply into a response. The only module that knows hyper types.

mod admin;
pub mod query;

use crate::app::App;
use crate::error::Error;
use crate::scim::{self, Method, Reply};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// What the request log line says about who asked.
#[derive(Default)]
struct Caller {
    org: Option<String>,
    token: Option<String>,
    /// A bearer value was sent (a miss then may be a guess, which is slowed down).
    presented_token: bool,
    // For the admin page's request inspector (see admin.rs).
    query: String,
    user_agent: Option<String>,
    body_head: Vec<u8>,
    body_len: usize,
}

/// Serves one request. Never fails: every error becomes a SCIM error response.
pub async fn handle(
    app: Arc<App>,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // ---- admin page hook: /admin is served by src/admin (see admin.rs) ----
    if admin::owns(&path) {
        return Ok(admin::serve(&app, req).await);
    }
    let mut caller = Caller::default();
    let reply = match dispatch(&app, req, &mut caller).await {
        Ok(reply) => reply,
        Err(err) => {
            if let Error::Internal(cause) = &err {
                tracing::error!(%method, %path, %cause, "internal error");
            }
            if err == Error::Unauthorized && caller.presented_token {
                // Guessing tokens from one address gets slower with every miss.
                let delay = app.throttle.failure(peer);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            scim::error::reply(&err)
        }
    };
    let status = reply.status;
    // ---- admin page hook: the request inspector keeps the latest SCIM requests ----
    admin::record(&app, &method, &path, started, &caller, &reply);
    tracing::info!(
        target: "scimbox::request",
        %method,
        %path,
        status,
        latency_us = started.elapsed().as_micros() as u64,
        org = caller.org.as_deref().unwrap_or("-"),
        token = caller.token.as_deref().unwrap_or("-"),
    );
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(
        reply.body.clone().unwrap_or_default(),
    )));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if reply.body.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/scim+json; charset=utf-8"),
        );
    }
    for (name, value) in reply.headers {
        // A value that cannot be a header (it came from a hostile Host) is dropped, not sent.
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(name, v);
        }
    }
    resp
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn method_of(m: &hyper::Method) -> Method {
    match *m {
        hyper::Method::GET => Method::Get,
        hyper::Method::HEAD => Method::Head,
        hyper::Method::POST => Method::Post,
        hyper::Method::PUT => Method::Put,
        hyper::Method::PATCH => Method::Patch,
        hyper::Method::DELETE => Method::Delete,
        _ => Method::Other,
    }
}

/// Host names go into `Location` headers and `$ref`s: keep only characters a host may have.
fn host_of(headers: &HeaderMap) -> String {
    let host = header_str(headers, header::HOST).unwrap_or("localhost");
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if ok {
        host.to_string()
    } else {
        "localhost".into()
    }
}

async fn dispatch(app: &App, req: Request<Incoming>, caller: &mut Caller) -> Result<Reply, Error> {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| query::decode(s, false))
        .collect();
    match segments.first().map(String::as_str) {
        Some("healthz") => return Ok(Reply::json(200, "{\"status\":\"ok\"}".into())),
        Some("scim")
            if segments
                .get(1)
                .is_some_and(|v| v.eq_ignore_ascii_case("v2")) => {}
        _ => return Err(Error::NotFound(format!("nothing at {path}"))),
    }
    let Some(org_id) = segments.get(2).cloned() else {
        return Err(Error::NotFound(
            "the SCIM base URL is /scim/v2/{organization id}".into(),
        ));
    };
    let now = crate::clock::format(crate::clock::now());
    let headers = req.headers();
    caller.presented_token = header_str(headers, header::AUTHORIZATION)
        .is_some_and(|h| h.trim().len() > "bearer ".len());
    admin::note(app, caller, &req); // admin page hook: the request inspector
    let (principal, touch) = app
        .auth
        .authenticate(
            &app.store,
            header_str(headers, header::AUTHORIZATION),
            &org_id,
            &now,
        )
        .await?;
    caller.org = Some(principal.org_id.clone());
    caller.token = Some(principal.token_name.clone());
    if touch {
        let (store, pk, now) = (app.store.clone(), principal.token_pk, now.clone());
        tokio::spawn(async move { crate::directory::orgs::touch_token(&store, pk, now).await });
    }
    let method = method_of(req.method());
    if let Some(ct) = header_str(headers, header::CONTENT_TYPE) {
        let media = ct.split(';').next().unwrap_or("").trim();
        let json = media.eq_ignore_ascii_case("application/scim+json")
            || media.eq_ignore_ascii_case("application/json");
        if !json && matches!(method, Method::Post | Method::Put | Method::Patch) {
            return Err(Error::UnsupportedMediaType(format!(
                "send application/scim+json or application/json, not {media:?}"
            )));
        }
    }
    let base_url = format!("http://{}/scim/v2/{org_id}", host_of(headers));
    let query = req.uri().query().map(query::parse).unwrap_or_default();
    let if_match = header_str(headers, header::IF_MATCH).map(str::to_string);
    let if_none_match = header_str(headers, header::IF_NONE_MATCH).map(str::to_string);
    let read = Limited::new(req.into_body(), app.limits.max_body_bytes).collect();
    let body = tokio::time::timeout(app.limits.body_read_timeout, read)
        .await
        .map_err(|_| Error::RequestTimeout)?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Error::TooLarge(format!(
                    "the request body is over the limit of {} bytes",
                    app.limits.max_body_bytes
                ))
            } else {
                Error::InvalidSyntax("the request body could not be read".into())
            }
        })?
        .to_bytes()
        .to_vec();
    admin::keep_body(app, caller, &body); // admin page hook: the request inspector
    let request = scim::Request {
        method,
        segments: segments[3..].to_vec(),
        query,
        if_match,
        if_none_match,
        base_url,
        body,
        principal,
        now,
    };
    scim::router::route(app, &request).await
}
