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
async fn case_insensitive_filters_fold_unicode_case_in_sql() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"userName": "Zoë.Straße@c.com", "displayName": "ΟΔΥΣΣΕΥΣ",
            "title": "İstanbul Office",
            "emails": [{"value": "ZOË@C.COM", "type": "WORK", "primary": true}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.create_user("other@c.com").await;
    for f in [
        "userName eq \"zoë.strasse@c.com\"",
        "userName sw \"ZOË.STR\"",
        "userName co \"STRASS\"",
        "userName ew \"SSE@C.COM\"",
        "displayName eq \"οδυσσευς\"",
        "displayName co \"σσευσ\"",
        "emails.value eq \"zoë@c.com\"",
        "emails[type eq \"work\" and value eq \"Zoë@c.com\"]",
        "emails co \"ZOË\"",
        // Not indexed, folded by the same Rust function inside SQL.
        "title sw \"i\u{307}stanbul\"",
        "title eq \"İSTANBUL OFFICE\"",
    ] {
        let v = s.get(&q(f)).await.json();
        assert_eq!(v["totalResults"], 1, "{f}: {v}");
    }
    for f in [
        // Default folding keeps the dotless ı apart from i.
        "title sw \"ıstanbul\"",
        // No normalization: a decomposed ë is another string.
        "userName sw \"zoe\u{308}\"",
    ] {
        assert_eq!(s.get(&q(f)).await.json()["totalResults"], 0, "{f}");
    }
    // Sorting folds too: "ÉB" folds to "éb", after "éa" (ASCII NOCASE put É, U+00C9, first).
    s.create_user("ÉB@c.com").await;
    s.create_user("éa@c.com").await;
    let v = s.get("/Users?sortBy=userName").await.json();
    let names: Vec<&str> = v["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["other@c.com", "Zoë.Straße@c.com", "éa@c.com", "ÉB@c.com"]
    );
}

#[tokio::test]
async fn wrong_types_and_substring_operators_on_date_times_are_invalid_filter() {
    // model::typing, the same in SQL and in PATCH value paths (RFC 7644 §3.12).
    let s = Server::start().await;
    let user = s.create_user("typed@c.com").await;
    for (f, detail) in [
        (
            "userName eq 5",
            "\"userName\" is a string, so it cannot be compared with a number",
        ),
        (
            "active eq \"true\"",
            "\"active\" is a boolean (true or false, unquoted), so it cannot be compared with a string",
        ),
        (
            "meta.created sw \"2026\"",
            "\"meta.created\" is a dateTime, so it cannot be compared with \"sw\"",
        ),
        (
            "meta.lastModified gt 20260101",
            "\"meta.lastModified\" is a dateTime (a quoted RFC 3339 string), so it cannot be compared with a number",
        ),
        (
            "emails[primary eq \"yes\"]",
            "\"primary\" is a boolean (true or false, unquoted), so it cannot be compared with a string",
        ),
        (
            "groups.$ref pr",
            "\"groups.$ref\" is computed and cannot be used in a filter or sort",
        ),
    ] {
        let e = s.get(&q(f)).await.assert_error(400, Some("invalidFilter"));
        assert_eq!(e["detail"], detail, "{f}");
    }
    // The same filter in a PATCH path gets the same answer from the in-memory engine.
    let id = user["id"].as_str().unwrap();
    let e = s
        .patch(
            &format!("/Users/{id}"),
            &crate::common::patch_op(
                json!([{"op": "remove", "path": "emails[primary eq \"yes\"]"}]),
            ),
        )
        .await
        .assert_error(400, Some("invalidFilter"));
    assert_eq!(
        e["detail"],
        "operation 0: \"primary\" is a boolean (true or false, unquoted), so it cannot be compared with a string"
    );
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

#[tokio::test]
async fn cursor_walk_is_complete_while_users_are_added_and_cursors_are_tamper_evident() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            s.create_user(&format!("walk{i}@x.io")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let spc = s.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["pagination"]["cursor"], true);
    let mut seen = Vec::new();
    let mut url = "/Users?count=3&cursor".to_string();
    let mut pages = Vec::new();
    loop {
        let v = s.get(&url).await.json();
        assert!(
            v.get("startIndex").is_none(),
            "cursor pages have no startIndex"
        );
        let page: Vec<String> = v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        seen.extend(page.clone());
        pages.push(v.clone());
        if pages.len() == 1 {
            // A user added mid-walk shows up at the end, and nothing shifts.
            ids.push(
                s.create_user("late@x.io").await["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            assert!(v.get("previousCursor").is_none());
        }
        match v.get("nextCursor") {
            Some(c) => url = format!("/Users?count=3&cursor={}", c.as_str().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    // Walk back from the second page.
    let prev = pages[1]["previousCursor"].as_str().unwrap();
    let back = s.get(&format!("/Users?count=3&cursor={prev}")).await.json();
    let back_ids: Vec<&str> = back["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        back_ids,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Tampered, foreign and mixed requests.
    let next = pages[0]["nextCursor"].as_str().unwrap();
    let mut bad = next.to_string();
    bad.replace_range(0..2, if &next[0..2] == "61" { "62" } else { "61" });
    s.get(&format!("/Users?count=3&cursor={bad}"))
        .await
        .assert_error(400, Some("invalidCursor"));
    s.get(&format!("/Groups?count=3&cursor={next}"))
        .await
        .assert_error(400, Some("invalidCursor"));
    s.get(&format!(
        "/Users?count=3&cursor={next}&filter=userName%20pr"
    ))
    .await
    .assert_error(400, Some("invalidCursor"));
    s.get(&format!("/Users?cursor={next}&startIndex=2"))
        .await
        .assert_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn cursor_walk_with_sort_by() {
    let s = Server::start().await;
    for n in ["d@x.io", "b@x.io", "a@x.io", "c@x.io"] {
        s.create_user(n).await;
    }
    let mut names = Vec::new();
    let mut url = "/Users?sortBy=userName&count=3&cursor=".to_string();
    loop {
        let v = s.get(&url).await.json();
        names.extend(
            v["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_string()),
        );
        match v.get("nextCursor") {
            Some(c) => {
                url = format!(
                    "/Users?sortBy=userName&count=3&cursor={}",
                    c.as_str().unwrap()
                )
            }
            None => break,
        }
    }
    assert_eq!(names, ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]);
}

#[tokio::test]
async fn post_search_on_users_groups_and_the_root() {
    let s = Server::start().await;
    let u = s.create_user("searcher@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.create_user("other@x.io").await;
    let g = s
        .post(
            "/Groups",
            &json!({"displayName":"Searchers","members":[{"value":u}]}),
        )
        .await
        .json();
    let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "attributes":["userName"], "filter":"userName sw \"searcher\"", "startIndex":1, "count":10});
    let r = s.post("/Users/.search", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["totalResults"], 1);
    assert_eq!(
        v["Resources"][0],
        json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":u,"userName":"searcher@x.io"})
    );
    let r = s
        .post(
            "/Groups/.search",
            &json!({"filter":"displayName eq \"Searchers\"","excludedAttributes":["members"]}),
        )
        .await;
    assert_eq!(r.json()["Resources"][0]["id"], g["id"]);
    assert!(r.json()["Resources"][0].get("members").is_none());
    // The root searches both, saying which each result is.
    let r = s.post("/.search", &json!({"count": 10})).await.json();
    assert_eq!(r["totalResults"], 3);
    let kinds: Vec<&str> = r["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["User", "User", "Group"]);
    let r = s
        .post("/.search", &json!({"startIndex": 3, "count": 1}))
        .await
        .json();
    assert_eq!(r["Resources"][0]["meta"]["resourceType"], "Group");
    // A filter only Users understand finds the user and no error from Groups.
    let r = s
        .post(
            "/.search",
            &json!({"filter":"userName eq \"searcher@x.io\""}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["totalResults"], 1);
    // A filter nobody understands is invalidFilter; a body that is no object is invalidSyntax.
    s.post("/.search", &json!({"filter":"shoeSize gt 3"}))
        .await
        .assert_error(400, Some("invalidFilter"));
    s.post("/Users/.search", &json!([1]))
        .await
        .assert_error(400, Some("invalidSyntax"));
    s.get("/Users/.search").await.assert_error(405, None);
}
