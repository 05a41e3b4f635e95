//! Bad input: each gets its SCIM error (RFC 7644 §3.12) with the right status and scimType,
//! never a panic, a 500, a hang or a partial write.

use crate::common::{Server, patch_op};
use scimbox::app::Limits;
use serde_json::json;

#[tokio::test]
async fn each_bad_request_gets_its_scim_error() {
    let s = Server::start().await;
    let id = s.create_user("victim@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let user = format!("/Users/{id}");
    let auth = format!("Bearer {}", s.token);
    let json_ct = ("content-type", "application/scim+json");
    // (what is sent, method, path, body, expected status, expected scimType)
    type Case<'a> = (&'a str, &'a str, String, Vec<u8>, u16, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("malformed JSON", "POST", "/Users".into(), b"{\"userName\":".to_vec(), 400, Some("invalidSyntax")),
        ("not an object", "POST", "/Users".into(), b"[1,2]".to_vec(), 400, Some("invalidSyntax")),
        ("empty body", "POST", "/Users".into(), Vec::new(), 400, Some("invalidSyntax")),
        ("missing userName", "POST", "/Users".into(), br#"{"displayName":"x"}"#.to_vec(), 400, Some("invalidValue")),
        ("userName of the wrong type", "POST", "/Users".into(), br#"{"userName":42}"#.to_vec(), 400, Some("invalidValue")),
        ("active that is no boolean", "POST", "/Users".into(), br#"{"userName":"a","active":"maybe"}"#.to_vec(), 400, Some("invalidValue")),
        ("complex attribute as a string", "POST", "/Users".into(), br#"{"userName":"a","name":"x"}"#.to_vec(), 400, Some("invalidValue")),
        ("two primary emails", "POST", "/Users".into(), br#"{"userName":"a","emails":[{"value":"a","primary":true},{"value":"b","primary":true}]}"#.to_vec(), 400, Some("invalidValue")),
        ("PUT without userName", "PUT", user.clone(), br#"{"name":{"givenName":"x"}}"#.to_vec(), 400, Some("invalidValue")),
        ("PATCH without Operations", "PATCH", user.clone(), br#"{"schemas":[]}"#.to_vec(), 400, Some("invalidSyntax")),
        ("PATCH with an unknown op", "PATCH", user.clone(), serde_json::to_vec(&patch_op(json!([{"op":"copy","path":"title"}]))).unwrap(), 400, Some("invalidSyntax")),
        ("PATCH of an unknown path", "PATCH", user.clone(), serde_json::to_vec(&patch_op(json!([{"op":"replace","path":"shoeSize","value":1}]))).unwrap(), 400, Some("invalidPath")),
        ("PATCH removing userName", "PATCH", user.clone(), serde_json::to_vec(&patch_op(json!([{"op":"remove","path":"userName"}]))).unwrap(), 400, Some("mutability")),
        ("PATCH of a wrong type", "PATCH", user.clone(), serde_json::to_vec(&patch_op(json!([{"op":"replace","path":"active","value":[1]}]))).unwrap(), 400, Some("invalidValue")),
        ("unknown user", "GET", "/Users/00000000-0000-0000-0000-000000000000".into(), Vec::new(), 404, None),
        ("unknown endpoint", "GET", "/Widgets".into(), Vec::new(), 404, None),
        ("unknown method on a user", "POST", user.clone(), b"{}".to_vec(), 405, None),
        ("unknown method on the collection", "DELETE", "/Users".into(), Vec::new(), 405, None),
        ("write to discovery", "POST", "/Schemas".into(), b"{}".to_vec(), 405, None),
        ("/Me", "GET", "/Me".into(), Vec::new(), 501, None),
        ("bad startIndex", "GET", "/Users?startIndex=abc".into(), Vec::new(), 400, Some("invalidValue")),
        ("bad sortOrder", "GET", "/Users?sortOrder=sideways".into(), Vec::new(), 400, Some("invalidValue")),
    ];
    for (what, method, path, body, status, scim_type) in cases {
        let url = format!("{}{path}", s.base());
        let r = s
            .raw(
                method,
                &url,
                &[("authorization", &auth), json_ct],
                Some(body),
            )
            .await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        r.assert_error(status, scim_type);
    }
    // None of it changed the user.
    let u = s.get(&user).await.json();
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert_eq!(s.get("/Users").await.json()["totalResults"], 1);
}

#[tokio::test]
async fn wrong_media_type_is_415() {
    let s = Server::start().await;
    let url = format!("{}/Users", s.base());
    let auth = format!("Bearer {}", s.token);
    let r = s
        .raw(
            "POST",
            &url,
            &[("authorization", &auth), ("content-type", "text/plain")],
            Some(br#"{"userName":"a"}"#.to_vec()),
        )
        .await;
    r.assert_error(415, None);
    // application/json with a charset is fine.
    let r = s
        .raw(
            "POST",
            &url,
            &[
                ("authorization", &auth),
                ("content-type", "application/json; charset=utf-8"),
            ],
            Some(br#"{"userName":"a"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn body_over_the_limit_is_413_and_writes_nothing() {
    let s = Server::start_with(Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    })
    .await;
    let big = json!({"userName": "big@x.io", "title": "x".repeat(4096)});
    s.post("/Users", &big).await.assert_error(413, None);
    assert_eq!(s.get("/Users").await.json()["totalResults"], 0);
}

#[tokio::test]
async fn missing_wrong_and_malformed_tokens_are_401_with_www_authenticate() {
    let s = Server::start().await;
    let url = format!("{}/Users", s.base());
    for auth in [
        None,
        Some("Bearer"),
        Some("Bearer nope"),
        Some("Basic dXNlcjpwYXNz"),
        Some("non-token"),
        Some(
            "Bearer sbx_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let r = s.raw("GET", &url, &headers, None).await;
        r.assert_error(401, None);
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    // The unauthenticated health check.
    let r = s
        .raw("GET", &format!("http://{}/healthz", s.addr), &[], None)
        .await;
    assert_eq!(r.status, 200);
}
