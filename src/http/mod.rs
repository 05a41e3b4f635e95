//! HTTP edge: turns a hyper request into a SCIM request (auth, body cap, query decoding),
//! routes it, and turns the reply into a response. The only module that knows hyper types.

mod admin;
mod events;
mod oauth;
pub mod query;

use crate::admin::AdminState;
use crate::app::App;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::scim::{self, Method, Reply};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// What the HTTP layer serves with: the state every edge shares, plus what only this layer
/// and the admin edge keep (request ids, metrics, the admin page's sessions and inspector).
pub struct State {
    pub app: App,
    pub admin: AdminState,
    pub metrics: Metrics,
    pub request_ids: RequestIds,
}

impl State {
    pub fn new(app: App, admin: AdminState) -> State {
        State {
            app,
            admin,
            metrics: Metrics::default(),
            request_ids: RequestIds::new(),
        }
    }
}

/// What the request log line says about who asked.
#[derive(Default)]
struct Caller {
    org: Option<String>,
    token: Option<String>,
    // For the admin page's request inspector (see admin.rs).
    query: String,
    user_agent: Option<String>,
    body_shown: String,
    body_len: usize,
    /// The caller's address, for the inspector and the audit record.
    source: Option<String>,
}

/// Serves one request. Never fails: every error becomes a SCIM error response.
pub async fn handle(
    state: Arc<State>,
    peer: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = crate::metrics::route_of(&path);
    let request_id = request_id(&state.request_ids, req.headers());
    let app = &state.app;
    if let Err(err) = check_host(&req) {
        state
            .metrics
            .request(route, method.as_str(), 400, started.elapsed());
        let mut resp = to_response(scim::error::reply(&err));
        set_request_id(&mut resp, &request_id);
        return Ok(resp);
    }
    // ---- admin page hook: /admin is served by src/admin (see admin.rs) ----
    if admin::owns(&path) {
        let mut resp = admin::serve(app, &state.admin, req, &request_id, peer).await;
        let status = resp.status().as_u16();
        state
            .metrics
            .request(route, method.as_str(), status, started.elapsed());
        set_request_id(&mut resp, &request_id);
        return Ok(resp);
    }
    // ---- OAuth hook: /oauth/token and its RFC 8414 metadata (see oauth.rs) ----
    if crate::oauth::owns(&path) {
        let reply = oauth::serve(app, peer, req, &request_id).await;
        state
            .metrics
            .request(route, method.as_str(), reply.status, started.elapsed());
        let mut resp = to_response(reply);
        set_request_id(&mut resp, &request_id);
        return Ok(resp);
    }
    // ---- events hook: JWKS and RFC 8936 poll endpoints (see events.rs) ----
    if events::owns(&path) {
        let mut resp = events::serve(app, req).await;
        let status = resp.status().as_u16();
        state
            .metrics
            .request(route, method.as_str(), status, started.elapsed());
        set_request_id(&mut resp, &request_id);
        return Ok(resp);
    }
    if route == METRICS_ROUTE {
        let reply = metrics_on_main_port(&state, req.headers()).await;
        let status = reply.status;
        state
            .metrics
            .request(route, method.as_str(), status, started.elapsed());
        let mut resp = to_response(reply);
        set_request_id(&mut resp, &request_id);
        return Ok(resp);
    }
    let mut caller = Caller {
        source: Some(peer.to_string()),
        ..Caller::default()
    };
    let reply = match dispatch(&state, req, &mut caller, &request_id, peer).await {
        Ok(reply) => reply,
        Err(err) => {
            if let Error::Internal(cause) = &err {
                tracing::error!(%method, %path, %cause, request_id = %request_id, "internal error");
            }
            let (status, scim_type, _) = scim::error::classify(&err);
            state.metrics.error(scim_type, status);
            scim::error::reply(&err)
        }
    };
    let status = reply.status;
    let took = started.elapsed();
    state.metrics.request(route, method.as_str(), status, took);
    // ---- admin page hook: the request inspector keeps the latest SCIM requests ----
    admin::record(
        &state.admin,
        &method,
        &path,
        started,
        &caller,
        &reply,
        &request_id,
    );
    tracing::info!(
        target: "scimbox::request",
        %method,
        %path,
        status,
        latency_us = took.as_micros() as u64,
        org = caller.org.as_deref().unwrap_or("-"),
        token = caller.token.as_deref().unwrap_or("-"),
        request_id = %request_id,
    );
    let mut resp = to_response(reply);
    set_request_id(&mut resp, &request_id);
    Ok(resp)
}

const METRICS_ROUTE: usize = 1;
const REQUEST_ID: &str = "x-request-id";

/// Makes request ids: 16 hex digits from a counter mixed with a random seed, so ids are
/// unique within a run, unguessable across runs, and cost no system call per request.
pub struct RequestIds {
    seed: u64,
    next: std::sync::atomic::AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds::new()
    }
}

impl RequestIds {
    pub fn new() -> RequestIds {
        let mut seed = [0u8; 8];
        // Without OS randomness the ids are still unique, only predictable.
        let _ = getrandom::fill(&mut seed);
        RequestIds {
            seed: u64::from_le_bytes(seed),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }

    pub fn next(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // A bijection, so distinct counters give distinct ids.
        let z = n.wrapping_add(self.seed).wrapping_mul(crate::rng::GOLDEN);
        format!("{:016x}", crate::rng::mix(z))
    }
}

/// The request's id: the client's `X-Request-Id` when it is short and plain (so a proxy's or
/// an IdP's id carries through), else a new one.
fn request_id(ids: &RequestIds, headers: &HeaderMap) -> String {
    if let Some(given) = headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
        && is_safe_request_id(given)
    {
        return given.to_string();
    }
    ids.next()
}

/// At most 64 characters from `[A-Za-z0-9._:-]`: nothing that could forge a log line or a
/// header.
pub fn is_safe_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn set_request_id(resp: &mut Response<Full<Bytes>>, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
}

/// Serves a request on the `--metrics-listen` port: `/metrics` (with `--metrics-token` when
/// one is set) and `/healthz`; anything else is 404.
pub async fn handle_metrics_port(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Err(err) = check_host(&req) {
        return Ok(to_response(scim::error::reply(&err)));
    }
    let reply = match req.uri().path() {
        "/metrics" if state.app.edge.metrics_token.is_some() => {
            metrics_on_main_port(&state, req.headers()).await
        }
        "/metrics" => metrics_reply(&state).await,
        "/healthz" => health_reply(&state.app),
        other => scim::error::reply(&Error::NotFound(format!("nothing at {other}"))),
    };
    Ok(to_response(reply))
}

/// `/healthz`: `ok`, or `degraded` with the storage fault while writes fail. Still 200 then:
/// reads are served, and a restart (what a failing liveness probe brings) cannot free a disk.
fn health_reply(app: &App) -> Reply {
    let body = match app.store.health().fault {
        None => serde_json::json!({"status": "ok"}),
        Some(fault) => serde_json::json!({
            "status": "degraded",
            "storage": fault.name(),
            "detail": fault.detail(),
        }),
    };
    Reply::json(200, body.to_string())
}

/// `/metrics` on the SCIM port: absent (404) unless `--metrics-token` is set, and then only
/// for that bearer token (compared in constant time).
async fn metrics_on_main_port(state: &State, headers: &HeaderMap) -> Reply {
    let Some(expected) = &state.app.edge.metrics_token else {
        return scim::error::reply(&Error::NotFound("nothing at /metrics".into()));
    };
    let given = header_str(headers, header::AUTHORIZATION)
        .and_then(|h| {
            h.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| &h[7..])
        })
        .unwrap_or("")
        .trim();
    use subtle::ConstantTimeEq;
    let same: bool = given.as_bytes().ct_eq(expected.expose().as_bytes()).into();
    if !same {
        return scim::error::reply(&Error::Unauthorized);
    }
    metrics_reply(state).await
}

/// The Prometheus exposition (text format 0.0.4).
pub async fn metrics_reply(state: &State) -> Reply {
    match crate::metrics::Gauges::read(&state.app.store).await {
        Ok(mut gauges) => Reply {
            // The authenticator counts refusals by address range; the gauges carry it out.
            body: Some({
                gauges.refused_by_source = state.app.auth.refused_by_source();
                state.metrics.render(&gauges)
            }),
            status: 200,
            headers: vec![(
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8".into(),
            )],
            dropped: Vec::new(),
        },
        Err(e) => {
            tracing::error!(error = %e, "metrics: cannot read the gauges");
            scim::error::reply(&Error::Internal(e.to_string()))
        }
    }
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(
        reply.body.clone().unwrap_or_default(),
    )));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    if reply.body.is_some() && !reply.headers.iter().any(|(k, _)| *k == "content-type") {
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

/// RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without a `Host`, and to
/// any request with several `Host` lines or one whose value is not a host (an empty value is
/// allowed: the target has no authority then).
fn check_host<B>(req: &Request<B>) -> Result<(), Error> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    let fail = |why: &str| Err(Error::InvalidSyntax(format!("{why} (RFC 9112 §3.2)")));
    if hosts.next().is_some() {
        return fail("a request may carry only one Host header");
    }
    match first {
        None if req.version() == hyper::Version::HTTP_11 => {
            fail("an HTTP/1.1 request must carry a Host header")
        }
        None => Ok(()),
        Some(v) => {
            // uri-host [ ":" port ]: reg-name, IP literal or IPv4 characters.
            let ok = v
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(b));
            if ok {
                Ok(())
            } else {
                fail("the Host header is not a host name")
            }
        }
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

/// A proxy in front says the client used HTTPS (`X-Forwarded-Proto: https`).
fn forwarded_https(headers: &HeaderMap) -> bool {
    header_str(
        headers,
        header::HeaderName::from_static("x-forwarded-proto"),
    )
    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

async fn dispatch(
    state: &State,
    req: Request<Incoming>,
    caller: &mut Caller,
    request_id: &str,
    peer: IpAddr,
) -> Result<Reply, Error> {
    let app = &state.app;
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| query::decode(s, false))
        .collect();
    match segments.first().map(String::as_str) {
        Some("healthz") => return Ok(health_reply(app)),
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
    let clock = crate::clock::now();
    let now = crate::clock::format(clock);
    let headers = req.headers();
    admin::note(&state.admin, caller, &req); // admin page hook: the request inspector
    let authorization = header_str(headers, header::AUTHORIZATION);
    // ---- OAuth hook: access tokens from /oauth/token (see auth::clients) ----
    let access_token = authorization
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, v)| v.trim())
        .filter(|v| crate::auth::clients::access::is_access_token(v));
    let (principal, touch) = match access_token {
        Some(t) => {
            let (principal, due) = app
                .oauth
                .authenticate(
                    &app.auth,
                    &app.store,
                    t,
                    &org_id,
                    &now,
                    clock.unix_timestamp(),
                )
                .await?;
            let source = if due { peer.to_string() } else { String::new() };
            (principal, crate::auth::bearer::Touch { due, source })
        }
        None => {
            app.auth
                .authenticate(&app.store, authorization, &org_id, &now, peer)
                .await?
        }
    };
    caller.org = Some(principal.org_id.clone());
    caller.token = Some(if principal.client {
        principal.actor()
    } else {
        principal.token_name.clone()
    });
    if let Err(retry_after) = app.rate.check(principal.rate_key(), Instant::now()) {
        state.metrics.rate_limited();
        return Err(Error::RateLimited {
            retry_after,
            detail: app.rate.describe(),
        });
    }
    if touch.due {
        let (store, pk, now) = (app.store.clone(), principal.token_pk, now.clone());
        if principal.client {
            tokio::spawn(async move { crate::directory::clients::touch(&store, pk, now).await });
        } else {
            let source = Some(touch.source);
            tokio::spawn(async move {
                crate::directory::orgs::touch_token(&store, pk, now, source).await
            });
        }
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
    let base_url = app
        .edge
        .scim_base(&host_of(headers), forwarded_https(headers), &org_id);
    let query = req.uri().query().map(query::parse).unwrap_or_default();
    let if_match = header_str(headers, header::IF_MATCH).map(str::to_string);
    let via = crate::directory::Via {
        request_id: Some(request_id.to_string()),
        source: caller.source.clone(),
        user_agent: header_str(headers, header::USER_AGENT).map(|u| u.chars().take(256).collect()),
    };
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
    admin::keep_body(&state.admin, caller, &body); // admin page hook: the request inspector
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
        via,
    };
    scim::router::route(app, &request).await
}
