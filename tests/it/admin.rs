//! The admin page and its JSON API: sign-in, sessions, CSRF, cross-origin requests, and the
//! rules of the directory as the page sees them.

use crate::common::{Resp, Server, now};
use scimbox::admin::AdminState;
use scimbox::admin::session::Lifetimes;
use scimbox::auth::secret::Secret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

/// A signed-in admin: the session cookie and its CSRF token.
pub struct Admin<'a> {
    s: &'a Server,
    pub cookie: String,
    pub csrf: String,
}

fn url(s: &Server, path: &str) -> String {
    format!("http://{}/admin{path}", s.addr)
}

fn origin(s: &Server) -> String {
    format!("http://{}", s.addr)
}

async fn make_admin(s: &Server) {
    scimbox::auth::password::set(&s.store, "admin", Secret::new(PASSWORD.into()), now())
        .await
        .unwrap();
}

async fn login(s: &Server, name: &str, password: &str) -> Resp {
    let body = serde_json::to_vec(&json!({"name": name, "password": password})).unwrap();
    let o = origin(s);
    s.raw(
        "POST",
        &url(s, "/api/login"),
        &[
            ("content-type", "application/json"),
            ("origin", &o),
            ("sec-fetch-site", "same-origin"),
        ],
        Some(body),
    )
    .await
}

/// The `name=value` part of the session cookie a response sets.
fn session_cookie(r: &Resp) -> String {
    let set = r.header("set-cookie").expect("a session cookie");
    set.split(';').next().unwrap().to_string()
}

pub async fn sign_in(s: &Server) -> Admin<'_> {
    make_admin(s).await;
    let r = login(s, "admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let set = r.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/admin")
    );
    Admin {
        s,
        cookie: session_cookie(&r),
        csrf: r.json()["csrfToken"].as_str().unwrap().to_string(),
    }
}

impl Admin<'_> {
    pub fn org(&self, rest: &str) -> String {
        format!("/api/orgs/{}{rest}", self.s.org_id)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.s
            .raw("GET", &url(self.s, path), &[("cookie", &self.cookie)], None)
            .await
    }

    /// A state change as the page sends it: cookie, CSRF token, same origin, JSON.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.send_with(method, path, body, &[("x-csrf-token", &self.csrf)])
            .await
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let o = origin(self.s);
        let mut headers = vec![
            ("cookie", self.cookie.as_str()),
            ("origin", o.as_str()),
            ("sec-fetch-site", "same-origin"),
        ];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        headers.extend_from_slice(extra);
        self.s
            .raw(
                method,
                &url(self.s, path),
                &headers,
                body.map(|b| serde_json::to_vec(&b).unwrap()),
            )
            .await
    }
}

/// Asserts an admin API error: status, machine code and a message for a person.
pub fn assert_fail(r: &Resp, status: u16, code: &str) -> String {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    assert_eq!(v["error"], code, "{v}");
    assert_eq!(v["status"], status, "{v}");
    let message = v["message"].as_str().unwrap().to_string();
    assert!(message.len() > 8, "{v}");
    message
}

async fn token_names(a: &Admin<'_>) -> Vec<String> {
    let r = a.get(&a.org("/tokens")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_admin_page_is_served_from_the_binary() {
    let s = Server::start().await;
    let r = s.raw("GET", &url(&s, "/"), &[], None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        r.text.contains("<script type=\"module\" src=\"app.js\""),
        "{}",
        r.text
    );
    // Nothing is loaded from elsewhere: the page works offline.
    assert!(!r.text.contains("src=\"http") && !r.text.contains("href=\"http"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.header("x-content-type-options").unwrap(), "nosniff");
    // Every module of the page is served as JavaScript, and none turns data into HTML.
    for module in [
        "app.js",
        "api.js",
        "dom.js",
        "views.js",
        "org.js",
        "users.js",
        "teams.js",
        "activity.js",
        "clients.js",
        "access.js",
        "events.js",
        "schemas.js",
    ] {
        let js = s
            .raw("GET", &url(&s, &format!("/{module}")), &[], None)
            .await;
        assert_eq!(js.status, 200, "{module}");
        assert!(
            js.header("content-type")
                .unwrap()
                .starts_with("text/javascript")
        );
        assert!(
            !js.text.contains(".innerHTML") && !js.text.contains("insertAdjacentHTML"),
            "{module}: data must never become HTML"
        );
    }
    let css = s.raw("GET", &url(&s, "/app.css"), &[], None).await;
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let bare = s.raw("GET", &url(&s, ""), &[], None).await;
    assert_eq!(bare.status, 308);
    assert_eq!(bare.header("location").unwrap(), "/admin/");
    assert_eq!(
        s.raw("GET", &url(&s, "/nope.js"), &[], None).await.status,
        404
    );
    assert_eq!(
        s.raw("GET", &url(&s, "/../Cargo.toml"), &[], None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_api_without_a_session_is_401() {
    let s = Server::start().await;
    make_admin(&s).await;
    let r = s.raw("GET", &url(&s, "/api/session"), &[], None).await;
    assert_fail(&r, 401, "unauthenticated");
    let path = format!("/api/orgs/{}/users", s.org_id);
    let r = s.raw("GET", &url(&s, &path), &[], None).await;
    assert_fail(&r, 401, "unauthenticated");
    let forged = format!("scimbox_admin={}", "ab".repeat(32));
    let r = s
        .raw("GET", &url(&s, &path), &[("cookie", &forged)], None)
        .await;
    assert_fail(&r, 401, "unauthenticated");
    let r = s
        .raw(
            "POST",
            &url(&s, &format!("/api/orgs/{}/tokens", s.org_id)),
            &[("content-type", "application/json"), ("x-csrf-token", "x")],
            Some(b"{\"name\":\"sneaky\"}".to_vec()),
        )
        .await;
    assert_fail(&r, 401, "unauthenticated");
}

#[tokio::test]
async fn state_changes_without_the_csrf_token_are_403_and_change_nothing() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let body = json!({"name": "no-csrf"});
    let r = a
        .send_with("POST", &a.org("/tokens"), Some(body.clone()), &[])
        .await;
    let message = assert_fail(&r, 403, "csrf");
    assert!(message.contains("CSRF"), "{message}");
    let r = a
        .send_with(
            "POST",
            &a.org("/tokens"),
            Some(body.clone()),
            &[("x-csrf-token", "0000")],
        )
        .await;
    assert_fail(&r, 403, "csrf");
    let r = a
        .send_with("PUT", &a.org("/scim"), Some(json!({"enabled": false})), &[])
        .await;
    assert_fail(&r, 403, "csrf");
    assert_eq!(token_names(&a).await, ["idp"]);
    assert_eq!(s.get("/Users").await.status, 200, "SCIM is still on");
    // With the token, the same request works.
    let r = a.send("POST", &a.org("/tokens"), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn state_changes_from_another_origin_are_403() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let csrf = a.csrf.clone();
    for extra in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        // A browser sends its own Origin and Sec-Fetch-Site; build the request without ours.
        let mut headers = vec![
            ("cookie", a.cookie.as_str()),
            ("x-csrf-token", csrf.as_str()),
            ("content-type", "application/json"),
        ];
        headers.extend(extra);
        let r = s
            .raw(
                "POST",
                &url(&s, &a.org("/tokens")),
                &headers,
                Some(b"{\"name\":\"forged\"}".to_vec()),
            )
            .await;
        assert_fail(&r, 403, "cross-origin");
    }
    // Signing in from another site is refused too.
    let r = s
        .raw(
            "POST",
            &url(&s, "/api/login"),
            &[
                ("content-type", "application/json"),
                ("origin", "http://evil.example"),
            ],
            Some(serde_json::to_vec(&json!({"password": PASSWORD})).unwrap()),
        )
        .await;
    assert_fail(&r, 403, "cross-origin");
    // A form post (not JSON) cannot sign in either.
    let r = s
        .raw(
            "POST",
            &url(&s, "/api/login"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(format!("password={PASSWORD}").into_bytes()),
        )
        .await;
    assert_fail(&r, 415, "media-type");
    assert_eq!(token_names(&a).await, ["idp"]);
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_401_and_repeats_are_slowed_down() {
    let s = Server::start().await;
    make_admin(&s).await;
    let started = Instant::now();
    let r = login(&s, "admin", "wrong password").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "failures are answered slowly"
    );
    let message = assert_fail(&r, 401, "wrong-password");
    assert!(message.contains("wrong name or password"), "{message}");
    assert!(r.header("set-cookie").is_none());
    // An unknown name gets the same answer.
    let r = login(&s, "nobody", "wrong password").await;
    assert_eq!(
        assert_fail(&r, 401, "wrong-password"),
        "wrong name or password"
    );
    login(&s, "admin", "wrong again").await;
    let r = login(&s, "admin", "and again").await;
    assert_fail(&r, 401, "wrong-password");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    // Now even the right password must wait.
    let r = login(&s, "admin", PASSWORD).await;
    let message = assert_fail(&r, 429, "slow-down");
    assert!(message.contains("too many failed sign-ins"), "{message}");
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["retryAfter"], 1);
    // Other accounts are not affected.
    assert_fail(&login(&s, "other", "x").await, 401, "wrong-password");
}

#[tokio::test]
async fn an_expired_session_is_refused_with_a_clear_message() {
    let lifetimes = Lifetimes {
        idle: time::Duration::ZERO,
        max: time::Duration::ZERO,
    };
    let s = Server::start_admin(AdminState::new(lifetimes, 10)).await;
    make_admin(&s).await;
    let r = login(&s, "admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = session_cookie(&r);
    let r = s
        .raw(
            "GET",
            &url(&s, "/api/session"),
            &[("cookie", &cookie)],
            None,
        )
        .await;
    let message = assert_fail(&r, 401, "session-expired");
    assert!(message.contains("expired"), "{message}");
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    assert_eq!(a.get("/api/session").await.status, 200);
    let r = a.send("POST", "/api/logout", None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_fail(&a.get("/api/session").await, 401, "unauthenticated");
}

#[tokio::test]
async fn a_new_password_ends_every_session() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let r = a
        .send(
            "POST",
            "/api/password",
            Some(json!({"current": PASSWORD, "new": "short"})),
        )
        .await;
    assert!(assert_fail(&r, 400, "invalid").contains("at least 12"));
    let r = a
        .send(
            "POST",
            "/api/password",
            Some(json!({"current": "nope", "new": "a much longer password"})),
        )
        .await;
    assert_fail(&r, 400, "wrong-password");
    let r = a
        .send(
            "POST",
            "/api/password",
            Some(json!({"current": PASSWORD, "new": "a much longer password"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_fail(&a.get("/api/session").await, 401, "unauthenticated");
    let fresh = session_cookie(&r);
    let r = s
        .raw("GET", &url(&s, "/api/session"), &[("cookie", &fresh)], None)
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn names_are_returned_verbatim_as_json() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let evil = "<img src=x onerror=alert(1)> & \"quotes\"";
    let r = s
        .post(
            "/Users",
            &json!({"userName": "<b>html</b>@x.io", "displayName": evil, "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = a.get(&a.org("/users?q=onerror")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let v = r.json();
    assert_eq!(v["total"], 1);
    assert_eq!(v["users"][0]["displayName"], evil);
    assert_eq!(v["users"][0]["userName"], "<b>html</b>@x.io");
    let v = a.get(&a.org(&format!("/users/{id}"))).await.json();
    assert_eq!(v["displayName"], evil);
    assert_eq!(v["scim"]["displayName"], evil);
}

#[tokio::test]
async fn users_are_searched_and_paged() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    for i in 0..5 {
        s.create_user(&format!("pager{i}@x.io")).await;
    }
    let other = s.create_user("someone@else.io").await;
    let r = s
        .patch(
            &format!("/Users/{}", other["id"].as_str().unwrap()),
            &crate::common::patch_op(json!([{"op":"replace","value":{"active":false}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = a.get(&a.org("/users?q=pager&count=2&start=2")).await.json();
    assert_eq!(v["total"], 5);
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    assert_eq!(v["users"][0]["userName"], "pager2@x.io");
    let v = a.get(&a.org("/users?active=false")).await.json();
    assert_eq!(v["total"], 1);
    assert_eq!(v["users"][0]["email"], "someone@else.io");
    let v = a.get(&a.org("/users?q=ELSE&active=true")).await.json();
    assert_eq!(v["total"], 0);
}

#[tokio::test]
async fn a_huge_search_is_refused_in_words() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let q = "x".repeat(10_000);
    let r = a.get(&a.org(&format!("/users?q={q}"))).await;
    let message = assert_fail(&r, 400, "invalid");
    assert!(message.contains("too long"), "{message}");
    assert_fail(&a.get(&a.org("/users?count=5000")).await, 400, "invalid");
    assert_fail(&a.get(&a.org("/users?active=maybe")).await, 400, "invalid");
    assert_fail(&a.get(&a.org("/requests?status=abc")).await, 400, "invalid");
    let big = json!({"name": "x".repeat(100_000)});
    let r = a.send("POST", &a.org("/tokens"), Some(big)).await;
    assert_fail(&r, 413, "too-large");
    assert_eq!(token_names(&a).await, ["idp"]);
}

#[tokio::test]
async fn a_revoked_token_is_refused_by_scim_at_once() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let r = a
        .send(
            "POST",
            &a.org("/tokens"),
            Some(json!({"name": "okta", "expiresInDays": 30})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let made = r.json();
    let token = made["token"].as_str().unwrap();
    let bearer = format!("Bearer {token}");
    let users = format!("{}/Users", s.base());
    let r = s
        .raw("GET", &users, &[("authorization", &bearer)], None)
        .await;
    assert_eq!(r.status, 200);
    let list = a.get(&a.org("/tokens")).await.json();
    let okta = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "okta")
        .unwrap();
    assert_eq!(okta["state"], "live");
    assert!(okta["expires"].is_string() && okta.get("token").is_none());
    let id = made["id"].as_str().unwrap();
    let r = a
        .send("DELETE", &a.org(&format!("/tokens/{id}")), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = s
        .raw("GET", &users, &[("authorization", &bearer)], None)
        .await;
    r.assert_error(401, None);
    let r = a
        .send("DELETE", &a.org(&format!("/tokens/{id}")), None)
        .await;
    assert_fail(&r, 404, "not-found");
    let r = a
        .send(
            "POST",
            &a.org("/tokens"),
            Some(json!({"name": " ", "expiresInDays": 0})),
        )
        .await;
    assert_fail(&r, 400, "invalid");
}

#[tokio::test]
async fn scim_on_refuses_local_teams_and_members_but_not_roles() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let user = s.create_user("member@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // SCIM is off: a local Team with a member.
    let r = a
        .send("PUT", &a.org("/scim"), Some(json!({"enabled": false})))
        .await;
    assert_eq!(r.json()["scimEnabled"], false);
    let r = a
        .send("POST", &a.org("/teams"), Some(json!({"name": "Local"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let local = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .send(
            "POST",
            &a.org(&format!("/teams/{local}/members")),
            Some(json!({"user": "member@x.io"})),
        )
        .await;
    assert_eq!(r.json()["memberCount"], 1, "{}", r.text);
    // SCIM on: the IdP makes a Team; local creation and adding members are refused, in words.
    a.send("PUT", &a.org("/scim"), Some(json!({"enabled": true})))
        .await;
    let r = s
        .post(
            "/Groups",
            &json!({"displayName": "From IdP", "members": [{"value": user}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let idp = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .send("POST", &a.org("/teams"), Some(json!({"name": "Nope"})))
        .await;
    assert!(assert_fail(&r, 403, "forbidden").contains("SCIM provisioning is on"));
    let list = a.get(&a.org("/teams")).await.json();
    assert_eq!(list["canCreate"]["allowed"], false);
    assert!(
        list["canCreate"]["reason"]
            .as_str()
            .unwrap()
            .contains("IdP")
    );
    assert_eq!(list["teams"].as_array().unwrap().len(), 2);
    let t = a.get(&a.org(&format!("/teams/{idp}"))).await.json();
    assert_eq!(t["scimManaged"], true);
    assert_eq!(t["can"]["addMembers"]["allowed"], false);
    assert_eq!(t["can"]["removeMembers"]["allowed"], false);
    assert_eq!(t["can"]["delete"]["allowed"], false);
    assert_eq!(t["can"]["changeRoles"]["allowed"], true);
    let r = a
        .send(
            "POST",
            &a.org(&format!("/teams/{idp}/members")),
            Some(json!({"user": user})),
        )
        .await;
    assert_fail(&r, 403, "forbidden");
    let r = a
        .send(
            "DELETE",
            &a.org(&format!("/teams/{idp}/members/{user}")),
            None,
        )
        .await;
    assert_fail(&r, 403, "forbidden");
    assert_fail(
        &a.send("DELETE", &a.org(&format!("/teams/{idp}")), None)
            .await,
        403,
        "forbidden",
    );
    // Roles still change, and reach the member.
    let r = a
        .send("POST", &a.org("/workspaces"), Some(json!({"name": "Prod"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ws = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .send(
            "PUT",
            &a.org(&format!("/teams/{idp}/roles")),
            Some(json!({"workspace": ws, "role": "WORKSPACE_OPERATOR"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["workspaceRoles"][0]["role"], "WORKSPACE_OPERATOR");
    let u = a.get(&a.org(&format!("/users/{user}"))).await.json();
    assert_eq!(
        u["access"]["workspaceRoles"][0]["role"],
        "WORKSPACE_OPERATOR"
    );
    let r = a
        .send(
            "PUT",
            &a.org(&format!("/teams/{idp}/roles")),
            Some(json!({"organizationRole": "ORGANIZATION_KING"})),
        )
        .await;
    assert!(assert_fail(&r, 400, "invalid").contains("not an Organization role"));
    let w = a.get(&a.org("/workspaces")).await.json();
    assert_eq!(w[0]["teams"][0]["name"], "From IdP");
    // The Team made before SCIM can lose members and be deleted.
    let r = a
        .send(
            "DELETE",
            &a.org(&format!("/teams/{local}/members/{user}")),
            None,
        )
        .await;
    assert_eq!(r.json()["memberCount"], 0, "{}", r.text);
    assert_eq!(
        a.send("DELETE", &a.org(&format!("/teams/{local}")), None)
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn admin_changes_are_audited_with_before_and_after() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let id = s.create_user("gone@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .send(
            "PUT",
            &a.org(&format!("/users/{id}/active")),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(r.json()["active"], false, "{}", r.text);
    // Okta never deletes: the FAQ case, done here.
    let r = a
        .send("DELETE", &a.org(&format!("/users/{id}")), None)
        .await;
    assert_eq!(r.status, 204);
    assert_fail(
        &a.get(&a.org(&format!("/users/{id}"))).await,
        404,
        "not-found",
    );
    assert_eq!(s.get(&format!("/Users/{id}")).await.status, 404);
    let v = a.get(&a.org("/audit?type=User")).await.json();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries[0]["action"], "delete");
    assert_eq!(entries[0]["actor"], "admin:admin");
    assert_eq!(entries[1]["action"], "update");
    assert_eq!(entries[1]["before"]["active"], true);
    assert_eq!(entries[1]["after"]["active"], false);
    assert_eq!(entries[2]["actor"], "token:idp");
    let page = a.get(&a.org("/audit?limit=1")).await.json();
    let next = page["next"].as_i64().unwrap();
    let older = a
        .get(&a.org(&format!("/audit?limit=1&before={next}")))
        .await
        .json();
    assert!(older["entries"][0]["id"].as_i64().unwrap() < next);
}

#[tokio::test]
async fn the_inspector_shows_scim_requests_without_secrets() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let body = json!({"userName": "okta@x.io", "password": "1mz050nq", "active": true});
    assert_eq!(s.post("/Users", &body).await.status, 201);
    assert_eq!(s.post("/Users", &body).await.status, 409);
    let wrong = format!("{}/Users", s.base());
    s.raw("GET", &wrong, &[("authorization", "Bearer sbx_nope")], None)
        .await;
    let v = a.get(&a.org("/requests")).await.json();
    let list = v["requests"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{v}");
    assert_eq!(list[0]["status"], 401);
    assert_eq!(list[0]["token"], Value::Null);
    assert_eq!(list[2]["method"], "POST");
    assert_eq!(list[2]["status"], 201);
    assert_eq!(list[2]["token"], "idp");
    assert!(list[2]["latencyMs"].as_f64().is_some());
    let text = v.to_string();
    assert!(!text.contains("1mz050nq"), "a password leaked: {text}");
    assert!(!text.contains(&s.token), "a token leaked");
    assert!(
        list[2]["requestBody"]
            .as_str()
            .unwrap()
            .contains("okta@x.io")
    );
    assert!(
        list[1]["responseBody"]
            .as_str()
            .unwrap()
            .contains("uniqueness")
    );
    let v = a.get(&a.org("/requests?status=4xx")).await.json();
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
    let v = a.get(&a.org("/requests?status=409")).await.json();
    assert_eq!(v["requests"][0]["status"], 409);
    // Admin API calls are not SCIM requests.
    assert!(!a.get(&a.org("/requests")).await.text.contains("/admin/"));
}

#[tokio::test]
async fn set_password_from_the_cli_resets_the_password_and_ends_sessions() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_scimbox");
    let s = Server::start().await;
    let a = sign_in(&s).await;
    // A generated password, alone on stdout.
    let out = Command::new(BIN)
        .args(["admin", "set-password", "--db"])
        .arg(&s.db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(generated.len(), 23, "{generated}");
    assert_fail(&a.get("/api/session").await, 401, "unauthenticated");
    assert_fail(&login(&s, "admin", PASSWORD).await, 401, "wrong-password");
    assert_eq!(login(&s, "admin", &generated).await.status, 200);
    // One from standard input; a short one is refused in words.
    let set = |password: &str| {
        let mut child = Command::new(BIN)
            .args(["admin", "set-password", "--stdin", "--db"])
            .arg(&s.db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = set("short");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));
    let out = set("chosen by the operator");
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "a chosen password is not echoed");
    assert_eq!(
        login(&s, "admin", "chosen by the operator").await.status,
        200
    );
}

#[test]
fn serve_prints_a_one_time_admin_password_after_the_scim_lines() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_scimbox");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("first.db");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("Admin password:")) {
        seen.push(
            lines
                .next()
                .expect("serve prints the admin password")
                .unwrap(),
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at = |prefix: &str| seen.iter().position(|l| l.trim_start().starts_with(prefix));
    assert!(
        at("SCIM base URL:").unwrap() < at("Admin password:").unwrap(),
        "{seen:?}"
    );
    assert!(at("Bearer token:").is_some());
    assert!(at("Admin page:").is_some_and(|i| seen[i].contains("/admin/")));
}

#[tokio::test]
async fn requests_are_searched_and_linked_to_the_audit_entries_they_caused() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let ada = s
        .post(
            "/Users",
            &json!({"userName": "ada@x.io", "displayName": "Ada Lovelace"}),
        )
        .await
        .json();
    let bob = s
        .post(
            "/Users",
            &json!({"userName": "bob@x.io", "displayName": "Bob Okafor"}),
        )
        .await
        .json();
    let team = s
        .post(
            "/Groups",
            &json!({"displayName": "Eng", "members": [{"value": bob["id"]}]}),
        )
        .await
        .json();
    let team_id = team["id"].as_str().unwrap();
    for _ in 0..30 {
        assert_eq!(s.get("/Users?count=1").await.status, 200);
    }
    let patch = crate::common::patch_op(json!([
        {"op": "add", "path": "members", "value": [{"value": ada["id"]}]},
        {"op": "remove", "path": format!("members[value eq \"{}\"]", bob["id"].as_str().unwrap())}
    ]));
    assert_eq!(
        s.patch(&format!("/Groups/{team_id}"), &patch).await.status,
        204
    );
    // Found among the GETs by method, by resource and by time.
    let v = a.get(&a.org("/requests?method=patch")).await.json();
    assert_eq!(v["total"], 1, "{v}");
    let found = &v["requests"][0];
    assert_eq!(found["resourceId"], team_id);
    assert_eq!(found["auditEntries"], 1);
    let by_member = a
        .get(&a.org(&format!(
            "/requests?resource={}",
            bob["id"].as_str().unwrap()
        )))
        .await
        .json();
    assert!(by_member["total"].as_i64().unwrap() >= 2, "{by_member}");
    let at = found["at"].as_str().unwrap();
    let timed = a
        .get(&a.org(&format!("/requests?since={at}&path=groups")))
        .await
        .json();
    assert_eq!(timed["requests"][0]["method"], "PATCH", "{timed}");
    let gets = a.get(&a.org("/requests?method=GET&limit=10")).await.json();
    assert_eq!(gets["total"], 30);
    let next = gets["next"].as_i64().unwrap();
    let older = a
        .get(&a.org(&format!("/requests?method=GET&limit=10&before={next}")))
        .await
        .json();
    assert!(older["requests"][0]["id"].as_i64().unwrap() < next);
    // The entry reads as names: added Ada Lovelace, removed Bob Okafor.
    let rid = found["requestId"].as_str().unwrap();
    let audit = a
        .get(&a.org(&format!("/audit?requestId={rid}")))
        .await
        .json();
    let e = &audit["entries"][0];
    assert_eq!(e["action"], "members", "{audit}");
    assert_eq!(e["resourceName"], "Eng");
    assert_eq!(e["members"]["added"][0]["display"], "Ada Lovelace");
    assert_eq!(e["members"]["removed"][0]["name"], "bob@x.io");
    assert_eq!(e["actor"], "token:idp");
    assert!(e["reason"].as_str().unwrap().contains("PATCH"), "{e}");
    // Filters by actor, action, resource and date.
    for (q, n) in [
        ("action=members".to_string(), 2),
        (format!("resource={team_id}"), 3),
        ("actor=admin".into(), 0),
        ("actor=token:idp&type=Team".into(), 3),
        ("since=2999-01-01".into(), 0),
    ] {
        let v = a.get(&a.org(&format!("/audit?{q}"))).await.json();
        assert_eq!(v["total"], n, "{q}: {v}");
    }
    // Export, from the page: NDJSON and CSV.
    let csv = a.get(&a.org("/audit/export?format=csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.text.contains("Ada Lovelace") || csv.text.contains("ada@x.io"));
    let nd = a.get(&a.org("/audit/export")).await;
    assert_eq!(nd.text.lines().count(), 7, "{}", nd.text);
    // Bad input gets a clear 400.
    assert_fail(
        &a.get(&a.org("/requests?method=BREW")).await,
        400,
        "invalid",
    );
    assert_fail(
        &a.get(&a.org("/requests?since=yesterday")).await,
        400,
        "invalid",
    );
    assert_fail(&a.get(&a.org("/requests?before=x")).await, 400, "invalid");
    assert_fail(
        &a.get(&a.org("/audit/export?format=xml")).await,
        400,
        "invalid",
    );
    let long = "x".repeat(201);
    assert_fail(
        &a.get(&a.org(&format!("/audit?actor={long}"))).await,
        400,
        "invalid",
    );
}

#[tokio::test]
async fn sync_health_flags_a_failing_token_and_local_changes() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let user = s.create_user("drift@x.io").await;
    let id = user["id"].as_str().unwrap();
    let r = a
        .send(
            "PUT",
            &a.org(&format!("/users/{id}/active")),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    // Most of the token's calls fail: a bad filter, again and again.
    for _ in 0..8 {
        assert_eq!(
            s.get("/Users?filter=userName%20zz%20%22a%22").await.status,
            400
        );
    }
    let v = a.get(&a.org("/health")).await.json();
    let token = &v["tokens"][0];
    assert_eq!(token["name"], "idp", "{v}");
    assert_eq!(token["hour"]["failures"], 8);
    assert_eq!(token["warning"], "quarantine", "{v}");
    assert!(token["lastUsed"].is_string() || token["lastRequest"].is_string());
    let failing = &v["failing"][0];
    assert_eq!(failing["status"], 400);
    assert_eq!(failing["scimType"], "invalidFilter");
    assert!(failing["advice"].as_str().unwrap().len() > 10);
    let drift = &v["drift"][0];
    assert_eq!(drift["id"], id, "{v}");
    assert_eq!(drift["name"], "drift@x.io");
    assert_eq!(drift["changedBy"], "admin:admin");
}

#[tokio::test]
async fn a_burst_of_concurrent_sign_ins_gets_at_most_three_password_checks() {
    // 39 wrong passwords and the right one, all at once: the count is taken before each
    // check, so only three passwords are checked and the rest are told to slow down.
    let s = std::sync::Arc::new(Server::start().await);
    make_admin(&s).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let password = if i == 39 {
                PASSWORD.to_string()
            } else {
                format!("wrong {i}")
            };
            login(&s, "admin", &password).await
        }));
    }
    let mut checked = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 | 401 => checked += 1,
            429 => {
                assert_fail(&r, 429, "slow-down");
                assert!(r.header("retry-after").is_some());
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(checked <= 3, "{checked} passwords were checked");
    // Another address's allowance for another name is untouched: a clean name still gets a
    // real answer (the address has 10 checks).
    assert_fail(&login(&s, "someone", "x").await, 401, "wrong-password");
}

#[tokio::test]
async fn the_inspector_redacts_passwords_in_every_form_and_credential_query_parameters() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let secrets = [
        "urnSecret1",
        "escSecret2",
        "patchSecret3",
        "pathless4",
        "bulkSecret5",
        "upperSecret6",
        "queryToken7",
        "rawSecret8",
        "clientSecret9",
    ];
    let auth = format!("Bearer {}", s.token);
    let send = |path: String, body: String| {
        let (s, auth) = (&s, auth.clone());
        async move {
            s.raw(
                "POST",
                &format!("{}{path}", s.base()),
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/scim+json"),
                ],
                Some(body.into_bytes()),
            )
            .await
        }
    };
    // A URN-qualified password, and a key with a JSON escape in it.
    send(
        "/Users".into(),
        r#"{"userName":"urn@x.io","urn:ietf:params:scim:schemas:core:2.0:User:password":"urnSecret1"}"#
            .into(),
    )
    .await;
    send(
        "/Users".into(),
        r#"{"userName":"esc@x.io","pass\u0077ord":"escSecret2","PASSWORD":"upperSecret6"}"#.into(),
    )
    .await;
    // PATCH: an op with a password path, and a path-less op whose value holds one.
    let id = s.create_user("patched@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:password","value":"patchSecret3"},
                      {"op":"replace","value":{"Password":"pathless4"}}]});
    s.patch(&format!("/Users/{id}"), &patch).await;
    // Bulk: a password in an operation's data.
    send(
        "/Bulk".into(),
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations":[{"method":"POST","path":"/Users","bulkId":"b1",
                "data":{"userName":"bulk@x.io","password":"bulkSecret5"}}]})
        .to_string(),
    )
    .await;
    // Credentials in the query string.
    s.raw(
        "GET",
        &format!(
            "{}/Users?access_token=queryToken7&count=1&client_secret=clientSecret9",
            s.base()
        ),
        &[("authorization", &auth)],
        None,
    )
    .await;
    // Not JSON, with a secret in it: withheld.
    send("/Users".into(), "password=rawSecret8&user=x".into()).await;
    // Not JSON and nothing secret-looking: kept, so a broken IdP body can be seen.
    send("/Users".into(), "{\"userName\": oops".into()).await;
    let v = a.get(&a.org("/requests?limit=100")).await.json();
    let text = v.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(
        text.contains("urn@x.io") && text.contains("bulk@x.io"),
        "{text}"
    );
    assert!(text.contains("count=1"), "{text}");
    assert!(text.contains("oops"), "{text}");
    assert!(text.contains("withheld"), "{text}");
}
