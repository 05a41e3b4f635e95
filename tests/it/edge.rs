//! How the server meets the outside: the public URL, request ids, rate limits and metrics.

use crate::common::{Opts, Server};
use scimbox::app::{Edge, Limits};
use scimbox::auth::secret::Secret;
use serde_json::json;

fn user(name: &str) -> serde_json::Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
}

// ---- Public URL ------------------------------------------------------------------------------

#[tokio::test]
async fn a_public_url_is_the_base_of_every_location_ref_and_admin_url() {
    let s = Server::start_opts(Opts {
        edge: Edge {
            public_url: Some(
                scimbox::app::parse_public_url("https://scim.example.com/idp/").unwrap(),
            ),
            ..Edge::default()
        },
        ..Opts::default()
    })
    .await;
    let base = format!("https://scim.example.com/idp/scim/v2/{}", s.org_id);
    let r = s.post("/Users", &user("pub-1@example.com")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location").unwrap(), format!("{base}/Users/{id}"));
    assert_eq!(r.json()["meta"]["location"], format!("{base}/Users/{id}"));
    let g = s
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "pub-team", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(g.status, 201, "{}", g.text);
    let gid = g.json()["id"].as_str().unwrap().to_string();
    assert_eq!(g.json()["members"][0]["$ref"], format!("{base}/Users/{id}"));
    assert_eq!(
        g.header("location").unwrap(),
        format!("{base}/Groups/{gid}")
    );
    let u = s.get(&format!("/Users/{id}")).await;
    assert_eq!(
        u.json()["groups"][0]["$ref"],
        format!("{base}/Groups/{gid}")
    );
    // The Host header no longer matters.
    let r = s
        .call_with(
            "GET",
            &format!("/Users/{id}"),
            None,
            &[("host", "evil.example.com")],
        )
        .await;
    assert_eq!(r.json()["meta"]["location"], format!("{base}/Users/{id}"));
    // The admin page shows the same base.
    let admin = crate::admin::sign_in(&s).await;
    let org = admin.get(&format!("/api/orgs/{}", s.org_id)).await;
    assert_eq!(org.status, 200, "{}", org.text);
    assert_eq!(org.json()["scimBaseUrl"], base);
}

#[tokio::test]
async fn behind_a_proxy_the_admin_page_accepts_its_public_origin_only() {
    let s = Server::start_opts(Opts {
        edge: Edge {
            public_url: Some("https://scim.example.com".into()),
            ..Edge::default()
        },
        ..Opts::default()
    })
    .await;
    let admin = crate::admin::sign_in(&s).await;
    let url = format!("http://{}/admin/api/orgs/{}/tokens", s.addr, s.org_id);
    let post = |origin: &'static str, name: &'static str| {
        let (cookie, csrf, url) = (admin.cookie.clone(), admin.csrf.clone(), url.clone());
        let s = &s;
        async move {
            s.raw(
                "POST",
                &url,
                &[
                    ("cookie", &cookie),
                    ("x-csrf-token", &csrf),
                    ("content-type", "application/json"),
                    // The proxy rewrote Host; the browser's Origin is the public one.
                    ("host", "127.0.0.1:8080"),
                    ("origin", origin),
                ],
                Some(serde_json::to_vec(&json!({"name": name})).unwrap()),
            )
            .await
        }
    };
    let r = post("https://scim.example.com", "via-proxy").await;
    assert!(r.status < 300, "{} {}", r.status, r.text);
    let r = post("https://evil.example.com", "forged").await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn without_a_public_url_urls_come_from_the_host_header() {
    let s = Server::start().await;
    let r = s.post("/Users", &user("host-1@example.com")).await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Users/{id}", s.base())
    );
    let r = s
        .call_with(
            "GET",
            &format!("/Users/{id}"),
            None,
            &[("host", "idp-facing.example.com:8443")],
        )
        .await;
    assert_eq!(
        r.json()["meta"]["location"],
        format!(
            "http://idp-facing.example.com:8443/scim/v2/{}/Users/{id}",
            s.org_id
        )
    );
    // Behind a TLS-terminating proxy that says so, the scheme is https.
    let r = s
        .call_with(
            "GET",
            &format!("/Users/{id}"),
            None,
            &[("host", "scim.example.com"), ("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(
        r.json()["meta"]["location"],
        format!("https://scim.example.com/scim/v2/{}/Users/{id}", s.org_id)
    );
    let admin = crate::admin::sign_in(&s).await;
    let org = admin.get(&format!("/api/orgs/{}", s.org_id)).await;
    assert_eq!(org.json()["scimBaseUrl"], s.base());
}

#[test]
fn a_public_url_that_is_not_a_url_is_refused_with_what_to_fix() {
    use scimbox::app::parse_public_url as p;
    assert_eq!(
        p("https://scim.example.com/").unwrap(),
        "https://scim.example.com"
    );
    assert_eq!(p("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
    for bad in [
        "scim.example.com",
        "ftp://scim.example.com",
        "https://",
        "https://user:pw@scim.example.com",
        "https://scim.example.com/?a=1",
        "https://scim example.com",
        "https://scim.example.com:http",
    ] {
        let err = p(bad).unwrap_err();
        assert!(err.contains("--public-url") && err.contains(bad), "{err}");
    }
}

// ---- Request ids -----------------------------------------------------------------------------

fn is_generated_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_inspector_shows() {
    let s = Server::start().await;
    let a = s.get("/Users").await;
    let b = s.get("/Users").await;
    let (a, b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert!(
        is_generated_id(&a) && is_generated_id(&b) && a != b,
        "{a} {b}"
    );
    // An IdP's or proxy's id carries through, so one call can be followed end to end.
    let r = s
        .call_with("GET", "/Users", None, &[("x-request-id", "okta-req-42")])
        .await;
    assert_eq!(r.header("x-request-id").unwrap(), "okta-req-42");
    // One that could forge a log line or is too long is replaced.
    for bad in ["has space", &"x".repeat(65), "a\"b"] {
        let r = s
            .call_with("GET", "/Users", None, &[("x-request-id", bad)])
            .await;
        assert!(is_generated_id(&r.header("x-request-id").unwrap()));
    }
    // Errors, health checks and the admin page carry one too.
    assert!(s.get("/Users/nope").await.header("x-request-id").is_some());
    let h = s
        .raw("GET", &format!("http://{}/healthz", s.addr), &[], None)
        .await;
    assert!(h.header("x-request-id").is_some());
    let admin = crate::admin::sign_in(&s).await;
    let listed = admin
        .get(&format!("/api/orgs/{}/requests?limit=50", s.org_id))
        .await;
    assert!(listed.header("x-request-id").is_some());
    let ids: Vec<String> = listed.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requestId"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.contains(&"okta-req-42".to_string()), "{ids:?}");
    assert!(ids.contains(&a), "{ids:?}");
}

// ---- Rate limits -----------------------------------------------------------------------------

#[tokio::test]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let s = Server::start_with(Limits {
        rate_limit: 1,
        rate_burst: 3,
        ..Limits::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(s.get("/Users").await.status, 200);
    }
    let r = s.get("/Users").await;
    let v = r.assert_error(429, None);
    assert_eq!(r.header("retry-after").unwrap(), "1");
    assert!(v["detail"].as_str().unwrap().contains("rate limit"), "{v}");
    // Another token has its own bucket.
    let (org, token) = s.other_org("rate-other").await;
    let url = format!("http://{}/scim/v2/{org}/Users", s.addr);
    let auth = format!("Bearer {token}");
    let r = s.raw("GET", &url, &[("authorization", &auth)], None).await;
    assert_eq!(r.status, 200);
    // Unauthenticated requests are not counted against a token (they are throttled apart).
    let r = s
        .raw("GET", &format!("{}/Users", s.base()), &[], None)
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_default_rate_limit_lets_an_initial_sync_through() {
    let s = Server::start().await;
    // A burst of creates, as an IdP's first sync sends them, all succeed.
    let mut tasks = Vec::new();
    let s = std::sync::Arc::new(s);
    for i in 0..200 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.post("/Users", &user(&format!("sync-{i}@example.com")))
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
}

// ---- Metrics ---------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_are_not_on_the_scim_port_without_a_token() {
    let s = Server::start().await;
    let r = s
        .raw("GET", &format!("http://{}/metrics", s.addr), &[], None)
        .await;
    r.assert_error(404, None);
    // Not even for a SCIM token.
    let auth = format!("Bearer {}", s.token);
    let r = s
        .raw(
            "GET",
            &format!("http://{}/metrics", s.addr),
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

const METRICS_TOKEN: &str = "metrics-secret-0123456789";

#[tokio::test]
async fn metrics_behind_their_token_count_routes_errors_and_organizations() {
    let s = Server::start_opts(Opts {
        edge: Edge {
            metrics_token: Some(Secret::new(METRICS_TOKEN.into())),
            ..Edge::default()
        },
        ..Opts::default()
    })
    .await;
    assert_eq!(s.post("/Users", &user("m-1@example.com")).await.status, 201);
    assert_eq!(s.post("/Users", &user("m-1@example.com")).await.status, 409);
    assert_eq!(s.get("/Users?filter=bad%20op").await.status, 400);
    let url = format!("http://{}/metrics", s.addr);
    assert_eq!(s.raw("GET", &url, &[], None).await.status, 401);
    let scim = format!("Bearer {}", s.token);
    assert_eq!(
        s.raw("GET", &url, &[("authorization", &scim)], None)
            .await
            .status,
        401
    );
    let auth = format!("Bearer {METRICS_TOKEN}");
    let r = s.raw("GET", &url, &[("authorization", &auth)], None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let m = r.text;
    for expected in [
        "scimbox_requests_total{route=\"/Users\",method=\"POST\",status=\"201\"} 1".to_string(),
        "scimbox_requests_total{route=\"/Users\",method=\"POST\",status=\"409\"} 1".to_string(),
        "scimbox_request_duration_seconds_count{route=\"/Users\"} 3".to_string(),
        "scimbox_scim_errors_total{scim_type=\"uniqueness\",status=\"409\"} 1".to_string(),
        "scimbox_scim_errors_total{scim_type=\"invalidFilter\",status=\"400\"} 1".to_string(),
        format!(
            "scimbox_users{{org_id=\"{}\",org=\"test-org\"}} 1",
            s.org_id
        ),
        format!(
            "scimbox_teams{{org_id=\"{}\",org=\"test-org\"}} 0",
            s.org_id
        ),
        // The depth itself varies: a token's last-used stamp may be queued right now.
        "scimbox_writer_queue_depth ".to_string(),
        "# TYPE scimbox_writer_batch_size histogram".to_string(),
        "scimbox_rate_limited_total 0".to_string(),
        // Lines the log queue dropped (this in-process server logs through the test's own
        // subscriber, so none).
        "scimbox_log_lines_dropped_total 0".to_string(),
    ] {
        assert!(m.contains(&expected), "missing {expected:?} in\n{m}");
    }
    let db_bytes: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("scimbox_database_bytes{file=\"db\"} "))
        .unwrap()
        .parse()
        .unwrap();
    // The size of a SQLite file; a PostgreSQL database's size is its server's to report.
    assert!(db_bytes > 0 || crate::common::postgres_engine().is_some());
    // No raw path, id or token ever becomes a label.
    assert!(!m.contains(&s.token) && !m.contains("m-1@example.com"));
}

#[tokio::test]
async fn metrics_on_their_own_listener_answer_metrics_and_health_only() {
    let s = Server::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(scimbox::server::run_metrics(
        listener,
        s.app.clone(),
        async {
            let _ = rx.await;
        },
    ));
    s.get("/Users").await;
    let r = s
        .raw("GET", &format!("http://{addr}/metrics"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text
            .contains("scimbox_requests_total{route=\"/Users\",method=\"GET\",status=\"200\"} 1")
    );
    let r = s
        .raw("GET", &format!("http://{addr}/healthz"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .raw(
            "GET",
            &format!("http://{addr}/scim/v2/{}/Users", s.org_id),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let _ = tx.send(());
}
