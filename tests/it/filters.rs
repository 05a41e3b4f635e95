//! Filters as IdPs send them: percent-encoded, `+` for spaces, case-insensitive userName.

use crate::common::Server;
use serde_json::json;

fn q(filter: &str) -> String {
    let mut out = String::new();
    for b in filter.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    format!("/Users?filter={out}")
}

#[tokio::test]
async fn foundation_filters_match_as_idps_expect() {
    let s = Server::start().await;
    let r = s
        .post("/Users", &json!({"userName":"Test.User@Okta.local","externalId":"ext-1","displayName":"Test User",
            "emails":[{"value":"work@corp.com","type":"work","primary":true},{"value":"home@me.com","type":"home"}]}))
        .await;
    let id = r.json()["id"].as_str().unwrap().to_string();
    s.create_user("other@x.io").await;
    let hits = [
        "userName eq \"test.user@okta.local\"".to_string(),
        "USERNAME EQ \"TEST.USER@OKTA.LOCAL\"".to_string(),
        "externalId eq \"ext-1\"".to_string(),
        format!("id eq \"{id}\""),
        "displayName eq \"test user\"".to_string(),
        "emails.value eq \"work@corp.com\"".to_string(),
        "emails[type eq \"work\"].value eq \"work@corp.com\"".to_string(),
        "userName eq \"test.user@okta.local\" and externalId eq \"ext-1\"".to_string(),
        "emails[type eq \"work\" and value co \"@corp\"]".to_string(),
        "userName sw \"test.\" and not (displayName pr and active eq false)".to_string(),
    ];
    for f in hits {
        let r = s.get(&q(&f)).await;
        assert_eq!(r.status, 200, "{f}: {}", r.text);
        let v = r.json();
        assert_eq!(v["totalResults"], 1, "{f}");
        assert_eq!(v["Resources"][0]["id"], id, "{f}");
    }
    let misses = [
        "externalId eq \"EXT-1\"",
        "emails[type eq \"home\"].value eq \"work@corp.com\"",
        "userName eq \"x' OR 1=1 --\"",
        "userName eq \"3f2c0e5a-guid-from-entra-test-connection\"",
    ];
    for f in misses {
        let r = s.get(&q(f)).await;
        assert_eq!(r.status, 200, "{f}");
        assert_eq!(r.json()["totalResults"], 0, "{f}");
        assert_eq!(r.json()["Resources"], json!([]));
    }
    // Entra's `+` for spaces.
    let r = s.get("/Users?filter=externalId+eq+%22ext-1%22").await;
    assert_eq!(r.json()["totalResults"], 1);
    assert_eq!(
        s.get("/Users").await.json()["totalResults"],
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn bad_filters_are_invalid_filter_pointing_at_the_position() {
    let s = Server::start().await;
    for f in [
        "userName eq",
        "userName xx \"a\"",
        "(userName eq \"a\"",
        "shoeSize eq 3",
        "active gt true",
        "meta.lastModified gt \"yesterday\"",
    ] {
        let e = s.get(&q(f)).await.assert_error(400, Some("invalidFilter"));
        assert!(!e["detail"].as_str().unwrap().is_empty());
    }
    let e = s.get(&q("userName xx \"a\"")).await.json();
    assert!(e["detail"].as_str().unwrap().contains("position 9"), "{e}");
}

#[tokio::test]
async fn sort_by_and_sort_order() {
    let s = Server::start().await;
    for n in ["b@x.io", "c@x.io", "a@x.io"] {
        s.create_user(n).await;
    }
    let names = |v: serde_json::Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(s.get("/Users?sortBy=userName").await.json()),
        ["a@x.io", "b@x.io", "c@x.io"]
    );
    assert_eq!(
        names(
            s.get("/Users?sortBy=userName&sortOrder=descending")
                .await
                .json()
        ),
        ["c@x.io", "b@x.io", "a@x.io"]
    );
    s.get("/Users?sortBy=shoeSize")
        .await
        .assert_error(400, Some("invalidValue"));
}
