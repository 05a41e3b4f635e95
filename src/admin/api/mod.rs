//! The admin JSON API under `/admin/api/` (see `docs/admin-api.md`).
//!
//! Every request but sign-in needs a session cookie; every state change also needs the
//! session's CSRF token in `X-CSRF-Token`, must come from this origin (`Origin` and
//! `Sec-Fetch-Site` are checked when the browser sends them) and, when it has a body, must send
//! `application/json` (which a cross-site form cannot). Errors are
//! `{"status": 403, "error": "csrf", "message": "…"}`, the message written for a person.
//!
//! This file checks the session, CSRF and origin and routes; each resource under
//! `/admin/api/orgs/{org}/` has a file of its own.

mod access;
mod activity;
mod clients;
mod events;
mod orgs;
mod schemas;
mod signin;
mod teams;
mod tokens;
mod users;
mod workspaces;

use super::session::{self, Lookup, Session};
use super::{Reply, Request};
use crate::admin::AdminState;
use crate::app::App;
use crate::directory::{self, Actor};
use crate::error::Error;
use crate::model::roles;
use crate::store::orgs::Org;
use serde_json::{Map, Value, json};

/// The longest search text accepted.
pub const MAX_SEARCH: usize = 200;
/// The largest page of users, audit entries or requests.
pub const MAX_PAGE: i64 = 100;

/// A failed request: status, a short machine code and a message for a person.
#[derive(Debug)]
pub struct Fail {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Sent along, e.g. to drop a dead session cookie.
    pub set_cookie: Option<String>,
}

impl Fail {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Fail {
        Fail {
            status,
            code,
            message: message.into(),
            retry_after: None,
            set_cookie: None,
        }
    }

    fn reply(self) -> Reply {
        let mut body = json!({"status": self.status, "error": self.code, "message": self.message});
        let mut reply = Reply::json(self.status, &body);
        if let Some(s) = self.retry_after {
            body["retryAfter"] = json!(s);
            reply = Reply::json(self.status, &body).header("retry-after", s.to_string());
        }
        if let Some(c) = self.set_cookie {
            reply = reply.header("set-cookie", c);
        }
        reply
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        if let Error::Internal(cause) = &e {
            tracing::error!(%cause, "admin API: internal error");
        }
        // The status and words are the SCIM API's, so both edges say the same thing.
        let (status, scim_type, detail) = crate::scim::error::classify(&e);
        let code = match (status, scim_type) {
            (_, Some("uniqueness")) => "taken",
            (400, _) => "invalid",
            (401, _) => "unauthenticated",
            (403, _) => "forbidden",
            (404, _) => "not-found",
            (409, _) => "conflict",
            (413, _) => "too-large",
            (429, _) => "slow-down",
            (503, _) => "busy",
            _ => "error",
        };
        Fail::new(status, code, detail)
    }
}

type Result<T> = std::result::Result<T, Fail>;

/// Answers one API request; never fails (errors become JSON error replies).
pub async fn handle(app: &App, admin: &AdminState, req: &Request) -> Reply {
    match route(app, admin, req).await {
        Ok(reply) => reply.header("cache-control", "no-store".into()),
        Err(fail) => fail.reply().header("cache-control", "no-store".into()),
    }
}

/// The decoded path segments below `/admin/api`.
fn segments(req: &Request) -> Vec<String> {
    let api = req.segments.iter().take_while(|s| *s == "api").count();
    req.segments[api..].to_vec()
}

/// Refuses a state change that a browser says came from another site.
fn same_origin(req: &Request) -> Result<()> {
    let cross = || {
        Fail::new(
            403,
            "cross-origin",
            "this request came from another site, so it was refused; use the admin page itself",
        )
    };
    if let Some(site) = req.sec_fetch_site.as_deref()
        && !site.eq_ignore_ascii_case("same-origin")
        && !site.eq_ignore_ascii_case("none")
    {
        return Err(cross());
    }
    if let Some(origin) = req.origin.as_deref() {
        let host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'));
        // Behind a proxy that rewrites Host, the page's origin is the public URL's.
        let public = req
            .root
            .split_once("://")
            .map(|(scheme, rest)| (scheme, rest.split('/').next().unwrap_or("")));
        let same_public = public.is_some_and(|(scheme, authority)| {
            origin
                .trim_end_matches('/')
                .eq_ignore_ascii_case(&format!("{scheme}://{authority}"))
        });
        if !same_public && !host.is_some_and(|h| h.eq_ignore_ascii_case(&req.host)) {
            return Err(cross());
        }
    }
    Ok(())
}

fn json_body(req: &Request) -> Result<Map<String, Value>> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Fail::new(400, "invalid", "send a JSON object")),
        Err(e) => Err(Fail::new(
            400,
            "invalid",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn is_json(req: &Request) -> bool {
    req.content_type.as_deref().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    })
}

async fn route(app: &App, admin: &AdminState, req: &Request) -> Result<Reply> {
    let segs = segments(req);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    let changes = !matches!(method, "GET" | "HEAD");
    if changes {
        same_origin(req)?;
        let has_body = !req.body.is_empty();
        if (has_body || segs == ["login"]) && !is_json(req) {
            return Err(Fail::new(
                415,
                "media-type",
                "send the request body as application/json",
            ));
        }
    }
    if segs == ["login"] {
        return match method {
            "POST" => signin::login(app, admin, req).await,
            _ => Err(Fail::new(405, "method", "sign in with POST")),
        };
    }
    let session = require_session(app, admin, req).await?;
    if changes && !session::csrf_matches(&session, req.csrf.as_deref()) {
        return Err(Fail::new(
            403,
            "csrf",
            "the request has no valid CSRF token (X-CSRF-Token); reload the page and try again",
        ));
    }
    let actor = |what: &str| Actor {
        who: format!("admin:{}", session.admin),
        why: format!("admin page: {what}"),
        via: directory::Via {
            request_id: Some(req.request_id.clone()),
            source: Some(req.peer.to_string()),
            user_agent: req.user_agent.clone(),
        },
    };
    let now = crate::clock::format(req.now);
    let store = &app.store;
    match (method, segs.as_slice()) {
        ("GET", ["session"]) => Ok(Reply::json(200, &session_json(&session))),
        ("POST", ["logout"]) => signin::logout(app, req).await,
        ("POST", ["password"]) => signin::change_password(app, admin, req, &session).await,
        ("GET", ["orgs"]) => {
            let orgs = directory::orgs::list(store).await?;
            Ok(Reply::json(
                200,
                &Value::Array(orgs.iter().map(|o| orgs::org_json(o, req)).collect()),
            ))
        }
        (_, ["orgs", org, rest @ ..]) => {
            let org = directory::orgs::find(store, (*org).to_string()).await?;
            let cx = Cx {
                app,
                admin,
                req,
                org: &org,
                actor: &actor,
                now,
            };
            // ---- access model hook: Deployments, custom roles, rules, rotation (access.rs) ----
            if access::owns(method, rest) {
                return access::route(&cx, method, rest).await;
            }
            match rest.first().copied() {
                None | Some("scim") => orgs::route(&cx, method, rest).await,
                Some("tokens") => tokens::route(&cx, method, rest).await,
                Some("clients") => clients::route(&cx, method, &rest[1..]).await,
                Some("users") => users::route(&cx, method, rest).await,
                Some("teams") => teams::route(&cx, method, rest).await,
                Some("workspaces") => workspaces::route(&cx, method, rest).await,
                Some("audit" | "requests" | "health") => activity::route(&cx, method, rest).await,
                Some("receivers") => events::route(&cx, method, rest).await,
                Some("schemas" | "undeclared") => schemas::route(&cx, method, rest).await,
                Some(_) => Err(cx.not_found(method)),
            }
        }
        _ => Err(Fail::new(
            404,
            "not-found",
            format!("no admin API endpoint {method} {}", req.path),
        )),
    }
}

/// What a request under `/admin/api/orgs/{org}/` is served with.
struct Cx<'a> {
    app: &'a App,
    admin: &'a AdminState,
    req: &'a Request,
    org: &'a Org,
    /// The audit actor for a change: `admin:<name>`, and what the change was.
    actor: &'a (dyn Fn(&str) -> Actor + Sync),
    now: String,
}

impl Cx<'_> {
    fn not_found(&self, method: &str) -> Fail {
        Fail::new(
            404,
            "not-found",
            format!("no admin API endpoint {method} {}", self.req.path),
        )
    }
}

async fn require_session(app: &App, admin: &AdminState, req: &Request) -> Result<Session> {
    let id = session::cookie_value(req.cookie.as_deref());
    match session::find(&app.store, id, admin.lifetimes, req.now).await? {
        Lookup::Valid(s) => Ok(s),
        Lookup::Expired => {
            let mut f = Fail::new(
                401,
                "session-expired",
                "your session has expired; sign in again",
            );
            f.set_cookie = Some(session::clear_cookie(req.tls));
            Err(f)
        }
        Lookup::Missing => Err(Fail::new(401, "unauthenticated", "sign in first")),
    }
}

fn session_json(s: &Session) -> Value {
    json!({
        "admin": s.admin,
        "csrfToken": s.csrf,
        "expires": s.expires,
        "roles": {
            "organization": roles::ORG_ROLES,
            "workspace": roles::WORKSPACE_ROLES,
            "deployment": [roles::DEPLOYMENT_ADMIN],
        },
    })
}

fn bool_field(body: &Map<String, Value>, name: &str) -> Result<bool> {
    body.get(name)
        .and_then(Value::as_bool)
        .ok_or_else(|| Fail::new(400, "invalid", format!("{name} must be true or false")))
}

fn text_field(body: &Map<String, Value>, name: &str, what: &str) -> Result<String> {
    let v = body
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if v.is_empty() {
        return Err(Fail::new(400, "invalid", format!("enter {what}")));
    }
    if v.chars().count() > 200 {
        return Err(Fail::new(
            400,
            "invalid",
            format!("{what} is too long: at most 200 characters"),
        ));
    }
    Ok(v.to_string())
}

fn count_param(req: &Request, name: &str, default: i64, max: i64) -> Result<i64> {
    match req.param(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(Fail::new(
                400,
                "invalid",
                format!("{name} must be a whole number from 0 to {max}"),
            )),
        },
    }
}
