//! The admin edge's side of HTTP: turns a hyper request under `/admin` into an
//! `admin::Request`, and records SCIM requests for the request inspector.

use super::{Caller, header_str, host_of};
use crate::admin::{self, AdminState, inspector::Seen};
use crate::app::App;
use crate::scim::Reply;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::time::Instant;

/// Whether a path belongs to the admin page.
pub fn owns(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Serves a request under `/admin`.
pub async fn serve(
    app: &App,
    state: &AdminState,
    req: Request<Incoming>,
    request_id: &str,
    peer: std::net::IpAddr,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = req.uri().path();
    let (method, logged_path) = (req.method().clone(), path.to_string());
    let mut areq = admin::Request {
        method: req.method().as_str().to_string(),
        path: path.strip_prefix("/admin").unwrap_or(path).to_string(),
        segments: path
            .strip_prefix("/admin")
            .unwrap_or(path)
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| super::query::decode(s, false))
            .collect(),
        query: req
            .uri()
            .query()
            .map(super::query::parse)
            .unwrap_or_default(),
        host: host_of(headers),
        root: app
            .edge
            .root(&host_of(headers), super::forwarded_https(headers)),
        tls: app.edge.tls || super::forwarded_https(headers),
        cookie: text("cookie"),
        origin: text("origin"),
        sec_fetch_site: text("sec-fetch-site"),
        csrf: text("x-csrf-token"),
        content_type: header_str(headers, header::CONTENT_TYPE).map(str::to_string),
        body: Vec::new(),
        now: crate::clock::now(),
        peer,
        request_id: request_id.to_string(),
        user_agent: text("user-agent").map(|u| u.chars().take(256).collect()),
    };
    let reply = match Limited::new(req.into_body(), admin::MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => {
            areq.body = body.to_bytes().to_vec();
            admin::handle(app, state, areq).await
        }
        Err(_) => admin::Reply::json(
            413,
            &serde_json::json!({"status": 413, "error": "too-large", "message": format!(
                "the request body is over the admin API's limit of {} bytes", admin::MAX_BODY_BYTES)}),
        ),
    };
    // The path only: queries hold searches (people's names and emails).
    if logged_path.starts_with("/admin/api/") {
        tracing::info!(target: "scimbox::admin", %method, path = %logged_path, status = reply.status, request_id);
    }
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(name, v);
        }
    }
    resp
}

/// Hands a finished SCIM request to the request inspector (stored in batches).
pub fn record(
    state: &AdminState,
    method: &hyper::Method,
    path: &str,
    started: Instant,
    caller: &Caller,
    reply: &Reply,
    request_id: &str,
) {
    if !path.starts_with("/scim/") {
        return;
    }
    let at = crate::clock::format(crate::clock::now());
    if let Some(org) = path.split('/').filter(|s| !s.is_empty()).nth(2) {
        state.inspector.count_undeclared(org, &reply.dropped, &at);
    }
    if state.inspector.size() == 0 {
        return;
    }
    state.inspector.record(&Seen {
        at,
        request_id,
        method: method.as_str(),
        path,
        query: &caller.query,
        status: reply.status,
        latency_us: started.elapsed().as_micros() as u64,
        token: caller.token.as_deref(),
        user_agent: caller.user_agent.as_deref(),
        request_shown: &caller.body_shown,
        request_bytes: caller.body_len,
        response: reply.body.as_deref(),
        source: caller.source.as_deref(),
        dropped: &reply.dropped,
    });
}

/// Notes what the inspector shows of a SCIM request before it is authenticated (the query and
/// the client's name), so refused requests are shown too. Never the `Authorization` header.
pub fn note(state: &AdminState, caller: &mut Caller, req: &Request<Incoming>) {
    if state.inspector.size() == 0 {
        return;
    }
    caller.query = admin::inspector::redact_query(req.uri().query().unwrap_or(""), |s| {
        super::query::decode(s, true)
    });
    caller.user_agent = header_str(req.headers(), header::USER_AGENT).map(str::to_string);
}

/// Keeps what the inspector shows of a request body: redacted, then cut.
pub fn keep_body(state: &AdminState, caller: &mut Caller, body: &[u8]) {
    if state.inspector.size() == 0 {
        return;
    }
    caller.body_shown = admin::inspector::show_body(body);
    caller.body_len = body.len();
}
