//! The admin JSON API under `/admin/api/` (see `docs/admin-api.md`).
//!
//! Every request but sign-in needs a session cookie; every state change also needs the
//! session's CSRF token in `X-CSRF-Token`, must come from this origin (`Origin` and
//! `Sec-Fetch-Site` are checked when the browser sends them) and, when it has a body, must send
//! `application/json` (which a cross-site form cannot). Errors are
//! `{"status": 403, "error": "csrf", "message": "…"}`, the message written for a person.

use super::session::{self, Lookup, Session};
use super::{Reply, Request};
use crate::app::App;
use crate::directory::teams::{self as dteams, MemberOp, Origin, RoleChange};
use crate::directory::{self, Actor};
use crate::error::Error;
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::roles;
use crate::model::schema::{GROUP_TYPE, TEAM_GROUP_SCHEMA};
use crate::store::orgs::Org;
use crate::store::{Keyset, ListQuery};
use crate::store::{audit, filter_sql};
use serde_json::{Map, Value, json};
use std::time::Instant;

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
pub async fn handle(app: &App, req: &Request) -> Reply {
    match route(app, req).await {
        Ok(reply) => reply.header("cache-control", "no-store".into()),
        Err(fail) => fail.reply().header("cache-control", "no-store".into()),
    }
}

fn segments(req: &Request) -> Vec<String> {
    req.path
        .trim_start_matches("/api")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| crate::http::query::decode(s, false))
        .collect()
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

async fn route(app: &App, req: &Request) -> Result<Reply> {
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
            "POST" => login(app, req).await,
            _ => Err(Fail::new(405, "method", "sign in with POST")),
        };
    }
    let session = require_session(app, req).await?;
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
    };
    let now = crate::clock::format(req.now);
    let store = &app.store;
    match (method, segs.as_slice()) {
        ("GET", ["session"]) => Ok(Reply::json(200, &session_json(&session))),
        ("POST", ["logout"]) => logout(app, req).await,
        ("POST", ["password"]) => change_password(app, req, &session).await,
        ("GET", ["orgs"]) => {
            let orgs = directory::orgs::list(store).await?;
            Ok(Reply::json(
                200,
                &Value::Array(orgs.iter().map(|o| org_json(o, req)).collect()),
            ))
        }
        (_, ["orgs", org, rest @ ..]) => {
            let org = directory::orgs::find(store, (*org).to_string()).await?;
            org_route(app, req, &org, method, rest, &actor, now).await
        }
        _ => Err(Fail::new(
            404,
            "not-found",
            format!("no admin API endpoint {method} {}", req.path),
        )),
    }
}

async fn require_session(app: &App, req: &Request) -> Result<Session> {
    let id = session::cookie_value(req.cookie.as_deref());
    match session::find(&app.store, id, app.admin.lifetimes, req.now).await? {
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
        },
    })
}

// ---- Sign-in ------------------------------------------------------------------------------

async fn login(app: &App, req: &Request) -> Result<Reply> {
    let body = json_body(req)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(crate::auth::password::DEFAULT_ADMIN)
        .to_string();
    let Some(password) = body.get("password").and_then(Value::as_str) else {
        return Err(Fail::new(400, "invalid", "enter the password"));
    };
    // The reservation comes before the password check, so concurrent attempts cannot get
    // past the count (see auth::throttle).
    let keys = session::throttle_keys(&name, req.peer);
    let attempt = match app.throttle.begin(&keys, Instant::now()) {
        Ok(a) => a,
        Err(refused) => {
            let secs = refused.retry_after_secs();
            let why = if refused.busy {
                "other sign-ins for this name are being checked"
            } else {
                "too many failed sign-ins"
            };
            let mut f = Fail::new(
                429,
                "slow-down",
                format!("{why}; wait {secs} seconds and try again"),
            );
            f.retry_after = Some(secs);
            return Err(f);
        }
    };
    let Some(admin) = crate::auth::password::verify(&app.store, &name, password).await? else {
        let wait = attempt.failed();
        // Every failure is answered slowly, so guessing is slow even below the lockout.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tracing::warn!(admin = %name, "admin sign-in failed");
        let mut message = "wrong name or password".to_string();
        if !wait.is_zero() {
            message.push_str(&format!(
                "; after repeated failures, wait {} seconds before the next try",
                wait.as_secs().max(1)
            ));
        }
        let mut f = Fail::new(401, "wrong-password", message);
        f.retry_after = (!wait.is_zero()).then(|| wait.as_secs().max(1));
        return Err(f);
    };
    attempt.succeeded();
    let (id, s) = session::start(&app.store, &admin, app.admin.lifetimes, req.now).await?;
    tracing::info!(admin = %admin.name, "admin signed in");
    Ok(Reply::json(200, &session_json(&s)).header(
        "set-cookie",
        session::set_cookie(id.expose(), req.tls, app.admin.lifetimes),
    ))
}

async fn logout(app: &App, req: &Request) -> Result<Reply> {
    if let Some(id) = session::cookie_value(req.cookie.as_deref()) {
        session::end(&app.store, id).await?;
    }
    Ok(Reply::empty(204).header("set-cookie", session::clear_cookie(req.tls)))
}

/// Changes the signed-in admin's password. Every session of the account ends (a leaked
/// session must not outlive the password), and this one is replaced by a new session.
async fn change_password(app: &App, req: &Request, s: &Session) -> Result<Reply> {
    let body = json_body(req)?;
    let current = body.get("current").and_then(Value::as_str).unwrap_or("");
    let new = body.get("new").and_then(Value::as_str).unwrap_or("");
    if crate::auth::password::verify(&app.store, &s.admin, current)
        .await?
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return Err(Fail::new(
            400,
            "wrong-password",
            "the current password is wrong",
        ));
    }
    crate::auth::password::set(
        &app.store,
        &s.admin,
        crate::auth::secret::Secret::new(new.to_string()),
        crate::clock::format(req.now),
    )
    .await?;
    let admin = crate::auth::password::verify(&app.store, &s.admin, new)
        .await?
        .ok_or_else(|| Fail::new(500, "error", "the new password did not take"))?;
    let (id, s) = session::start(&app.store, &admin, app.admin.lifetimes, req.now).await?;
    Ok(Reply::json(200, &session_json(&s)).header(
        "set-cookie",
        session::set_cookie(id.expose(), req.tls, app.admin.lifetimes),
    ))
}

// ---- Organizations ------------------------------------------------------------------------

fn org_json(org: &Org, req: &Request) -> Value {
    let base = req.scim_base(&org.id);
    json!({
        "id": org.id,
        "name": org.name,
        "scimEnabled": org.scim_enabled,
        "userCount": org.user_count,
        "teamCount": org.team_count,
        "created": org.created,
        "scimBaseUrl": base,
        "entraTenantUrl": format!("{base}?aadOptscim062020"),
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

#[allow(clippy::too_many_arguments)]
async fn org_route(
    app: &App,
    req: &Request,
    org: &Org,
    method: &str,
    rest: &[&str],
    actor: &(dyn Fn(&str) -> Actor + Sync),
    now: String,
) -> Result<Reply> {
    let store = &app.store;
    match (method, rest) {
        ("GET", []) => Ok(Reply::json(200, &org_json(org, req))),
        ("PUT", ["scim"]) => {
            let on = bool_field(&json_body(req)?, "enabled")?;
            let what = if on { "SCIM on" } else { "SCIM off" };
            directory::orgs::set_scim_enabled(store, &actor(what), org, on, now).await?;
            let org = directory::orgs::find(store, org.id.clone()).await?;
            Ok(Reply::json(200, &org_json(&org, req)))
        }
        // Tokens
        ("GET", ["tokens"]) => {
            let list = directory::orgs::list_tokens(store, org).await?;
            let items: Vec<Value> = list
                .iter()
                .map(|t| {
                    let state = if t.revoked.is_some() {
                        "revoked"
                    } else if t.is_live(&now) {
                        "live"
                    } else {
                        "expired"
                    };
                    json!({
                        "id": t.id, "name": t.name, "created": t.created,
                        "expires": t.expires, "lastUsed": t.last_used,
                        "revoked": t.revoked, "state": state,
                    })
                })
                .collect();
            Ok(Reply::json(200, &Value::Array(items)))
        }
        ("POST", ["tokens"]) => {
            let body = json_body(req)?;
            let name = text_field(&body, "name", "a name for the token")?;
            let expires = match body.get("expiresInDays") {
                None | Some(Value::Null) => None,
                Some(v) => match v.as_i64() {
                    Some(d) if (1..=36500).contains(&d) => {
                        Some(crate::clock::format(req.now + time::Duration::days(d)))
                    }
                    _ => {
                        return Err(Fail::new(
                            400,
                            "invalid",
                            "expiresInDays must be a whole number of days from 1 to 36500",
                        ));
                    }
                },
            };
            let (id, bearer) = directory::orgs::create_token(
                store,
                &actor("create token"),
                org,
                name.clone(),
                expires.clone(),
                now,
            )
            .await?;
            Ok(Reply::json(
                201,
                &json!({"id": id, "name": name, "expires": expires, "token": bearer.expose()}),
            ))
        }
        ("DELETE", ["tokens", id]) => {
            directory::orgs::revoke_token(store, &actor("revoke token"), org, id.to_string(), now)
                .await?;
            Ok(Reply::empty(204))
        }
        // Users
        ("GET", ["users"]) => list_users(app, req, org).await,
        ("GET", ["users", id]) => user_detail(app, req, org, id).await,
        ("PUT", ["users", id, "active"]) => {
            let active = bool_field(&json_body(req)?, "active")?;
            let what = if active {
                "reactivate user"
            } else {
                "deactivate user"
            };
            directory::users::update_with(
                store,
                &actor(what),
                org.pk,
                id.to_string(),
                None,
                now,
                move |mut data| {
                    data.insert("active".into(), Value::Bool(active));
                    Ok(data)
                },
            )
            .await?;
            user_detail(app, req, org, id).await
        }
        ("DELETE", ["users", id]) => {
            directory::users::delete(
                store,
                &actor("delete user"),
                org.pk,
                id.to_string(),
                None,
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        // Teams
        ("GET", ["teams"]) => list_teams(app, org).await,
        ("POST", ["teams"]) => {
            let body = json_body(req)?;
            let name = text_field(&body, "name", "a name for the Team")?;
            let mut resource = json!({"displayName": name});
            if let Some(d) = body
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|d| !d.is_empty())
            {
                resource[TEAM_GROUP_SCHEMA] = json!({"description": d});
            }
            let data = crate::scim::resource::normalize(&GROUP_TYPE, &resource)?;
            let team = dteams::create(
                store,
                &actor("create Team"),
                org.pk,
                data,
                Vec::new(),
                Origin::Local,
                now,
            )
            .await?;
            team_detail(app, org, &team.row.id, 201).await
        }
        ("GET", ["teams", id]) => team_detail(app, org, id, 200).await,
        ("DELETE", ["teams", id]) => {
            dteams::delete(
                store,
                &actor("delete Team"),
                org.pk,
                id.to_string(),
                None,
                Origin::Local,
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        ("POST", ["teams", id, "members"]) => {
            let body = json_body(req)?;
            let user = text_field(&body, "user", "the user's id or userName")?;
            let user_id = directory::users::resolve(store, org.pk, user).await?;
            change_members(
                app,
                org,
                id,
                MemberOp::Add(vec![user_id]),
                actor("add member"),
                now,
            )
            .await
        }
        ("DELETE", ["teams", id, "members", user]) => {
            let op = MemberOp::Remove(vec![user.to_string()]);
            change_members(app, org, id, op, actor("remove member"), now).await
        }
        ("PUT", ["teams", id, "roles"]) => {
            let body = json_body(req)?;
            let change = if let Some(role) = body.get("organizationRole") {
                let role = role.as_str().ok_or_else(|| {
                    Fail::new(400, "invalid", "organizationRole must be a role name")
                })?;
                RoleChange::Organization(role.to_string())
            } else {
                let ws = text_field(&body, "workspace", "the Workspace")?;
                let role = match body.get("role") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(r)) if r.eq_ignore_ascii_case("none") || r.is_empty() => {
                        None
                    }
                    Some(Value::String(r)) => Some(r.clone()),
                    Some(_) => {
                        return Err(Fail::new(
                            400,
                            "invalid",
                            "role must be a Workspace role name or null",
                        ));
                    }
                };
                RoleChange::Workspace(ws, role)
            };
            dteams::set_role(
                store,
                &actor("change roles"),
                org.pk,
                id.to_string(),
                change,
                now,
            )
            .await?;
            team_detail(app, org, id, 200).await
        }
        // Workspaces
        ("GET", ["workspaces"]) => {
            let list = dteams::workspace_teams(store, org.pk).await?;
            let items: Vec<Value> = list
                .iter()
                .map(|(ws, teams)| {
                    json!({
                        "id": ws.id, "name": ws.name,
                        "teams": teams.iter().map(|(name, role)| json!({"name": name, "role": role}))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect();
            Ok(Reply::json(200, &Value::Array(items)))
        }
        ("POST", ["workspaces"]) => {
            let name = text_field(&json_body(req)?, "name", "a name for the Workspace")?;
            let ws = dteams::create_workspace(store, &actor("create Workspace"), org.pk, name, now)
                .await?;
            Ok(Reply::json(201, &json!({"id": ws.id, "name": ws.name})))
        }
        // Activity
        ("GET", ["audit"]) => list_audit(app, req, org).await,
        ("GET", ["requests"]) => list_requests(app, req, org),
        _ => Err(Fail::new(
            404,
            "not-found",
            format!("no admin API endpoint {method} {}", req.path),
        )),
    }
}

// ---- Users --------------------------------------------------------------------------------

fn compare(attr: &str, op: CompareOp, value: Value) -> Filter {
    let mut path = AttrPath::simple(attr);
    if let Some((name, sub)) = attr.split_once('.') {
        path = AttrPath::simple(name);
        path.sub = Some(sub.to_string());
    }
    Filter::Compare { path, op, value }
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

async fn list_users(app: &App, req: &Request, org: &Org) -> Result<Reply> {
    let q = req.param("q").map(str::trim).unwrap_or("");
    if q.chars().count() > MAX_SEARCH {
        return Err(Fail::new(
            400,
            "invalid",
            format!(
                "the search is too long ({} characters): search with at most {MAX_SEARCH}",
                q.chars().count()
            ),
        ));
    }
    let start = count_param(req, "start", 0, 10_000_000)?;
    let count = count_param(req, "count", 25, MAX_PAGE)?;
    let mut filter: Option<Filter> = None;
    if !q.is_empty() {
        let text = || Value::String(q.to_string());
        filter = Some(Filter::Or(
            Box::new(Filter::Or(
                Box::new(compare("userName", CompareOp::Co, text())),
                Box::new(compare("displayName", CompareOp::Co, text())),
            )),
            Box::new(compare("emails.value", CompareOp::Co, text())),
        ));
    }
    let active = match req.param("active").unwrap_or("") {
        "" | "any" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            return Err(Fail::new(
                400,
                "invalid",
                "active must be true, false or any",
            ));
        }
    };
    if let Some(a) = active {
        let term = compare("active", CompareOp::Eq, Value::Bool(a));
        filter = Some(match filter {
            Some(f) => Filter::And(Box::new(f), Box::new(term)),
            None => term,
        });
    }
    let sql = filter.as_ref().map(filter_sql::compile_users).transpose()?;
    let order = filter_sql::order_by(
        &filter_sql::users_sort_expr(&AttrPath::simple("userName"))?,
        false,
        "u.pk",
    );
    let query = ListQuery {
        filter: sql,
        order_by: Some(order),
        offset: start,
        limit: count,
        keyset: Keyset::None,
    };
    let (total, users) = directory::users::list(&app.store, org.pk, query).await?;
    let items: Vec<Value> = users
        .iter()
        .map(|u| {
            let data: Value = serde_json::from_str(&u.row.data).unwrap_or(Value::Null);
            let email = data["emails"]
                .as_array()
                .and_then(|list| {
                    list.iter()
                        .find(|e| e["primary"] == true)
                        .or_else(|| list.first())
                })
                .and_then(|e| e["value"].as_str())
                .map(str::to_string);
            json!({
                "id": u.row.id,
                "userName": data["userName"],
                "displayName": data["displayName"],
                "email": email,
                "active": data["active"].as_bool().unwrap_or(true),
                "teams": u.teams.iter().map(|(id, name)| json!({"id": id, "name": name}))
                    .collect::<Vec<_>>(),
                "lastModified": u.row.last_modified,
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({"total": total, "start": start, "count": count, "users": items}),
    ))
}

async fn user_detail(app: &App, req: &Request, org: &Org, id: &str) -> Result<Reply> {
    let Some(user) = directory::users::get(&app.store, org.pk, id.to_string()).await? else {
        return Err(Fail::new(
            404,
            "not-found",
            format!("no user {id} in this organization"),
        ));
    };
    let (_, access) = directory::users::access(&app.store, org.pk, user.row.id.clone()).await?;
    let base = req.scim_base(&org.id);
    let scim: Value =
        serde_json::from_str(&crate::scim::users::render(&user, &base)).unwrap_or(Value::Null);
    let data: Value = serde_json::from_str(&user.row.data).unwrap_or(Value::Null);
    Ok(Reply::json(
        200,
        &json!({
            "id": user.row.id,
            "userName": data["userName"],
            "displayName": data["displayName"],
            "name": data["name"],
            "emails": data["emails"],
            "externalId": data["externalId"],
            "active": data["active"].as_bool().unwrap_or(true),
            "created": user.row.created,
            "lastModified": user.row.last_modified,
            "version": user.row.version,
            "teams": user.teams.iter().map(|(id, name)| json!({"id": id, "name": name}))
                .collect::<Vec<_>>(),
            "access": access.to_json(),
            "scim": scim,
        }),
    ))
}

// ---- Teams --------------------------------------------------------------------------------

/// Whether an action is open, and if not, why (the page shows the reason beside it). The
/// directory enforces the same rules; this only lets the page explain them up front.
fn can(allowed: bool, reason: &str) -> Value {
    if allowed {
        json!({"allowed": true})
    } else {
        json!({"allowed": false, "reason": reason})
    }
}

const WHY_NO_CREATE: &str = "SCIM provisioning is on, so Teams come from the IdP: push the group \
    from Okta or Entra, or switch SCIM off on the Organization page to create Teams here.";
const WHY_NO_ADD: &str = "SCIM provisioning is on, so members are added by the IdP: assign the \
    user to the group there.";
const WHY_NO_REMOVE: &str =
    "This Team came from the IdP and SCIM provisioning is on: remove members in the IdP.";
const WHY_NO_DELETE: &str =
    "This Team came from the IdP and SCIM provisioning is on: delete the group in the IdP.";

fn team_json(row: &crate::store::teams::TeamRow, access: &dteams::Access, scim_on: bool) -> Value {
    let data: Value = serde_json::from_str(&row.data).unwrap_or(Value::Null);
    let locked = scim_on && row.scim_managed;
    json!({
        "id": row.id,
        "name": row.display_name,
        "description": data[TEAM_GROUP_SCHEMA]["description"],
        "externalId": data["externalId"],
        "scimManaged": row.scim_managed,
        "memberCount": row.member_count,
        "created": row.created,
        "lastModified": row.last_modified,
        "organizationRole": access.org_role,
        "workspaceRoles": access.workspaces.iter()
            .map(|(id, name, role)| json!({"id": id, "name": name, "role": role}))
            .collect::<Vec<_>>(),
        "can": {
            "addMembers": can(!scim_on, WHY_NO_ADD),
            "removeMembers": can(!locked, WHY_NO_REMOVE),
            "delete": can(!locked, WHY_NO_DELETE),
            "changeRoles": can(true, ""),
        },
    })
}

async fn list_teams(app: &App, org: &Org) -> Result<Reply> {
    let scim_on = dteams::org_scim_enabled(&app.store, org.pk).await?;
    let all = ListQuery {
        filter: None,
        order_by: None,
        offset: 0,
        limit: 10_000,
        keyset: Keyset::None,
    };
    let (_, teams) = dteams::list(&app.store, org.pk, all, false).await?;
    let rows: Vec<_> = teams.into_iter().map(|t| t.row).collect();
    let items = app
        .store
        .read(move |conn| {
            rows.iter()
                .map(|row| Ok(team_json(row, &dteams::team_access(conn, row)?, scim_on)))
                .collect::<crate::error::Result<Vec<Value>>>()
        })
        .await?;
    Ok(Reply::json(
        200,
        &json!({
            "scimEnabled": scim_on,
            "canCreate": can(!scim_on, WHY_NO_CREATE),
            "teams": items,
        }),
    ))
}

async fn team_detail(app: &App, org: &Org, id: &str, status: u16) -> Result<Reply> {
    let scim_on = dteams::org_scim_enabled(&app.store, org.pk).await?;
    let (team, access) = dteams::show(&app.store, org.pk, id.to_string()).await?;
    let mut v = team_json(&team.row, &access, scim_on);
    v["members"] = team
        .members
        .unwrap_or_default()
        .iter()
        .map(|(id, display)| json!({"id": id, "display": display}))
        .collect();
    Ok(Reply::json(status, &v))
}

async fn change_members(
    app: &App,
    org: &Org,
    team: &str,
    op: MemberOp,
    actor: Actor,
    now: String,
) -> Result<Reply> {
    let (found, _) = dteams::show(&app.store, org.pk, team.to_string()).await?;
    dteams::update(
        &app.store,
        &actor,
        org.pk,
        found.row.id.clone(),
        None,
        vec![op],
        Origin::Local,
        false,
        now,
        Ok,
    )
    .await?;
    team_detail(app, org, &found.row.id, 200).await
}

// ---- Activity -----------------------------------------------------------------------------

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
    let org_pk = org.pk;
    let rows = app
        .store
        .read(move |conn| audit::page(conn, org_pk, kind.as_deref(), before, limit))
        .await?;
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

fn list_requests(app: &App, req: &Request, org: &Org) -> Result<Reply> {
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
    let inspector = &app.admin.inspector;
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
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({"kept": inspector.size(), "requests": items}),
    ))
}
