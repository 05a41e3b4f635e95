//! Authentication and isolation on every route: the test walks the router's own route table,
//! so a new route cannot be forgotten.

use crate::common::{Server, actor, now, patch_op};
use scimbox::scim::router::ROUTES;
use serde_json::json;

fn body_for(method: &str) -> Option<serde_json::Value> {
    match method {
        "POST" | "PUT" => {
            Some(json!({"userName": "walker@x.io", "displayName": "Walker", "Operations": []}))
        }
        "PATCH" => Some(patch_op(
            json!([{"op":"replace","path":"title","value":"x"}]),
        )),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_refuses_missing_wrong_foreign_revoked_and_expired_tokens() {
    // Many deliberate misses from one address: keep the slow-down out of this test.
    let s = Server::start_with(scimbox::app::Limits {
        auth_free_failures: 10_000,
        ..Default::default()
    })
    .await;
    let user = s.create_user("owner@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group = s
        .post("/Groups", &json!({"displayName":"Owned"}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (other_org, other_token) = s.other_org("intruders").await;
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    let (_, revoked) = scimbox::directory::orgs::create_token(
        &s.store,
        &actor(),
        &org,
        "soon-revoked".into(),
        None,
        now(),
    )
    .await
    .unwrap();
    let revoked = revoked.expose().to_string();
    let past = scimbox::clock::format(scimbox::clock::now() - time::Duration::seconds(1));
    let (_, expired) = scimbox::directory::orgs::create_token(
        &s.store,
        &actor(),
        &org,
        "expired".into(),
        Some(past),
        now(),
    )
    .await
    .unwrap();
    let expired = expired.expose().to_string();
    // Used once (so it is cached), then revoked: the cache must not keep it alive.
    assert_eq!(
        s.raw(
            "GET",
            &format!("{}/Users", s.base()),
            &[("authorization", &format!("Bearer {revoked}"))],
            None
        )
        .await
        .status,
        200
    );
    scimbox::directory::orgs::revoke_token(&s.store, &actor(), &org, "soon-revoked".into(), now())
        .await
        .unwrap();

    let credentials = [
        ("no token", None),
        ("a wrong token", Some("Bearer sbx_0123456789abcdef_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string())),
        ("another organization's token", Some(format!("Bearer {other_token}"))),
        ("a revoked token", Some(format!("Bearer {revoked}"))),
        ("an expired token", Some(format!("Bearer {expired}"))),
    ];
    let mut walked = 0;
    for (method, pattern) in ROUTES {
        let path = pattern.replace(
            "{id}",
            if pattern.starts_with("/Groups") {
                &group
            } else {
                &user
            },
        );
        let url = format!("{}{path}", s.base());
        let body = body_for(method).map(|b| serde_json::to_vec(&b).unwrap());
        for (what, auth) in &credentials {
            let mut headers = vec![("content-type", "application/scim+json")];
            if let Some(a) = auth {
                headers.push(("authorization", a.as_str()));
            }
            let r = s.raw(method, &url, &headers, body.clone()).await;
            assert_eq!(r.status, 401, "{method} {pattern} with {what}: {}", r.text);
            r.assert_error(401, None);
        }
        // The other organization's token on its own URL never reaches this organization's
        // resources: 404 for each of them.
        if pattern.contains("{id}") {
            let foreign = format!("http://{}/scim/v2/{other_org}{path}", s.addr);
            let auth = format!("Bearer {other_token}");
            let r = s
                .raw(
                    method,
                    &foreign,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/scim+json"),
                    ],
                    body.clone(),
                )
                .await;
            assert_eq!(
                r.status, 404,
                "{method} {pattern} across organizations: {}",
                r.text
            );
        }
        walked += 1;
    }
    assert_eq!(walked, ROUTES.len());
    // Nothing of the first organization changed.
    let u = s.get(&format!("/Users/{user}")).await.json();
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert!(s.get(&format!("/Groups/{group}")).await.status == 200);
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_refused_but_a_real_token_is_not() {
    let s = Server::start().await;
    let url = format!("{}/Users", s.base());
    for _ in 0..10 {
        s.raw("GET", &url, &[("authorization", "Bearer nope")], None)
            .await
            .assert_error(401, None);
    }
    // Past the free checks, a guess is refused without being checked.
    let r = s
        .raw("GET", &url, &[("authorization", "Bearer nope")], None)
        .await;
    let v = r.assert_error(429, None);
    assert!(r.header("retry-after").is_some(), "{v}");
    // A real token from the same address is counted apart, so it is not locked out.
    assert_eq!(s.get("/Users").await.status, 200);
}
