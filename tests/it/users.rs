//! `/Users`: the lifecycle Okta and Entra drive, stored as sent and returned as stored.

use crate::common::{Server, patch_op};
use serde_json::json;

#[tokio::test]
async fn create_returns_201_with_location_etag_and_every_attribute_as_sent() {
    let s = Server::start().await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "Barbara.Jensen@Example.com",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
                 "givenName": "Barbara", "middleName": "Jane", "honorificPrefix": "Ms.",
                 "honorificSuffix": "III"},
        "displayName": "Babs Jensen", "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza",
                       "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                       "country": "USA", "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA",
                       "primary": true}],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [{"value": "https://photos.example.com/profilephoto/72930000000Ccne/F", "type": "photo"}],
        "userType": "Employee", "title": "Tour Guide", "preferredLanguage": "en-US",
        "locale": "en-US", "timezone": "America/Los_Angeles", "active": true,
        "password": "t1meMa$heen",
        "entitlements": [{"value": "ent-1"}], "roles": [{"value": "role-1", "primary": true}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
            "division": "Theme Park", "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    });
    let r = s.post("/Users", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/scim+json")
    );
    let user = r.json();
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        r.header("location").unwrap(),
        format!("{}/Users/{id}", s.base())
    );
    assert_eq!(
        r.header("etag").unwrap(),
        user["meta"]["version"].as_str().unwrap()
    );
    for key in [
        "userName",
        "externalId",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "emails",
        "addresses",
        "phoneNumbers",
        "ims",
        "photos",
        "userType",
        "title",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "entitlements",
        "roles",
        "x509Certificates",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ] {
        assert_eq!(user[key], body[key], "{key}");
    }
    assert!(user.get("password").is_none(), "password is never returned");
    assert_eq!(user["meta"]["resourceType"], "User");
    assert_eq!(user["meta"]["location"], format!("{}/Users/{id}", s.base()));
    assert!(user["meta"]["created"].as_str().unwrap().ends_with('Z'));
    let schemas = user["schemas"].as_array().unwrap();
    assert!(schemas.contains(&json!(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    )));
    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), user);
}

#[tokio::test]
async fn client_sent_id_meta_groups_and_unknown_schemas_are_ignored() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
                    "id": "client-chosen", "userName": "q19@example.com",
                    "meta": {"resourceType": "User", "version": "W/\"99\""},
                    "groups": [{"value": "g1"}], "roles": [], "title": null,
                    "unknownAttribute": 5}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let u = r.json();
    assert_ne!(u["id"], "client-chosen");
    assert_eq!(u["meta"]["version"], "W/\"1\"");
    assert!(u.get("groups").is_none() && u.get("roles").is_none() && u.get("title").is_none());
    assert!(u.get("unknownAttribute").is_none());
}

#[tokio::test]
async fn taken_user_name_is_409_uniqueness_case_insensitively() {
    let s = Server::start().await;
    s.create_user("dup@example.com").await;
    let r = s
        .post("/Users", &json!({"userName": "DUP@example.COM"}))
        .await;
    r.assert_error(409, Some("uniqueness"));
    let list = s.get("/Users").await.json();
    assert_eq!(list["totalResults"], 1, "nothing half-written");
}

#[tokio::test]
async fn user_names_differing_only_in_unicode_case_are_409_uniqueness() {
    let s = Server::start().await;
    s.create_user("Émile@c.com").await;
    for taken in ["émile@c.com", "ÉMILE@C.COM"] {
        s.post("/Users", &json!({"userName": taken}))
            .await
            .assert_error(409, Some("uniqueness"));
    }
    // Full case folding, not lowercasing: ß and SS are one name, so are Σ, σ and ς.
    s.create_user("straße@c.com").await;
    s.post("/Users", &json!({"userName": "STRASSE@c.com"}))
        .await
        .assert_error(409, Some("uniqueness"));
    s.create_user("ΟΔΥΣΣΕΥΣ").await;
    s.post("/Users", &json!({"userName": "οδυσσευς"}))
        .await
        .assert_error(409, Some("uniqueness"));
    // Default folding is not Turkish: the dotless ı is another letter than i.
    s.create_user("ilker@c.com").await;
    s.create_user("ılker@c.com").await;
    // A rename onto a name that folds alike is refused too, and changes nothing.
    let other = s.create_user("emile2@c.com").await;
    let id = other["id"].as_str().unwrap();
    s.put(&format!("/Users/{id}"), &json!({"userName": "ÉMILE@c.com"}))
        .await
        .assert_error(409, Some("uniqueness"));
    let list = s.get("/Users").await.json();
    assert_eq!(list["totalResults"], 6, "nothing half-written");
    // The name is kept as sent, and found by any of its case forms.
    let r = s
        .get("/Users?filter=userName%20eq%20%22%C3%A9MILE@C.COM%22")
        .await
        .json();
    assert_eq!(r["totalResults"], 1);
    assert_eq!(r["Resources"][0]["userName"], "Émile@c.com");
}

#[tokio::test]
async fn user_name_spaces_are_kept_as_sent_and_significant() {
    // RFC 7643 §2.3.1 and §2.2: a string is its characters, and caseExact=false relaxes case
    // only; nothing lets the server drop characters. So " pat" is kept, is another name than
    // "pat", and an all-space userName is empty (RFC 7643 §4.1.1 "non-empty").
    let s = Server::start().await;
    s.create_user("pat@c.com").await;
    let r = s.post("/Users", &json!({"userName": " pat@c.com "})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["userName"], " pat@c.com ");
    s.post("/Users", &json!({"userName": " PAT@c.com "}))
        .await
        .assert_error(409, Some("uniqueness"));
    s.post("/Users", &json!({"userName": "   "}))
        .await
        .assert_error(400, Some("invalidValue"));
    let r = s
        .get("/Users?filter=userName%20eq%20%22%20pat@c.com%20%22")
        .await
        .json();
    assert_eq!(r["totalResults"], 1);
}

#[tokio::test]
async fn active_accepts_entra_strings_and_deactivated_users_are_still_returned() {
    let s = Server::start().await;
    let r = s
        .post("/Users", &json!({"userName": "e@x.io", "active": "True"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["active"], true);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["active"], false);
    let got = s.get(&format!("/Users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["active"], false);
    let list = s.get("/Users").await.json();
    assert_eq!(list["Resources"][0]["active"], false);
}

#[tokio::test]
async fn okta_lifecycle_create_update_deactivate_reactivate() {
    let s = Server::start().await;
    // Okta: create (with a password it always sends), then GET and PUT the whole profile.
    let created = s
        .post(
            "/Users",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},
                "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
                "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
                "groups":[],"password":"1mz050nq","active":true}),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    let put = s
        .put(
            &format!("/Users/{id}"),
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id": id,
                "userName":"test.user@okta.local",
                "name":{"givenName":"Another","middleName":"Excited","familyName":"User"},
                "emails":[{"primary":true,"value":"test.user@okta.local","type":"work","display":"test.user@okta.local"}],
                "active":true,"groups":[],"meta":{"resourceType":"User"}}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let u = put.json();
    assert_eq!(u["name"]["middleName"], "Excited");
    assert!(
        u.get("displayName").is_none(),
        "PUT replaces: displayName was left out"
    );
    assert_eq!(u["meta"]["version"], "W/\"2\"");
    // OIN deactivate and reactivate: path-less replace.
    for active in [false, true] {
        let r = s
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{"op":"replace","value":{"active":active}}])),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["active"], active);
    }
}

#[tokio::test]
async fn entra_pathless_replace_resolves_dotted_and_urn_keys() {
    let s = Server::start().await;
    let id = s.create_user("entra@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom",
                "name.familyName":"Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_eq!(u["name"], json!({"givenName":"Kkom","familyName":"Unua"}));
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "Aklq"
    );
    assert!(u.get("name.givenName").is_none());
}

#[tokio::test]
async fn delete_is_204_then_404() {
    let s = Server::start().await;
    let id = s.create_user("gone@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.delete(&format!("/Users/{id}")).await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    s.get(&format!("/Users/{id}")).await.assert_error(404, None);
    s.delete(&format!("/Users/{id}"))
        .await
        .assert_error(404, None);
}

#[tokio::test]
async fn list_is_a_list_response_with_integer_counts_and_stable_pages() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            s.create_user(&format!("page{i}@x.io")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let r = s.get(&format!("/Users?startIndex={start}&count=3")).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(
            v["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:ListResponse"
        );
        assert_eq!(v["totalResults"], 7);
        assert_eq!(v["startIndex"], start);
        let page = v["Resources"].as_array().unwrap();
        assert_eq!(v["itemsPerPage"], page.len());
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        start += 3;
    }
    assert_eq!(seen, ids, "creation order, no gaps, no repeats");
    let zero = s.get("/Users?count=0").await.json();
    assert_eq!(zero["totalResults"], 7);
    assert_eq!(zero["Resources"], json!([]));
    let below = s.get("/Users?startIndex=-5&count=1").await.json();
    assert_eq!(below["startIndex"], 1);
}

#[tokio::test]
async fn if_match_and_if_none_match_follow_rfc_7644_3_14() {
    let s = Server::start().await;
    let id = s.create_user("etag@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Users/{id}");
    let r = s
        .call_with("GET", &path, None, &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(r.status, 304);
    let body = patch_op(json!([{"op":"replace","path":"title","value":"x"}]));
    let stale = s
        .call_with("PATCH", &path, Some(&body), &[("if-match", "W/\"7\"")])
        .await;
    stale.assert_error(412, None);
    assert_eq!(
        s.get(&path).await.json()["meta"]["version"],
        "W/\"1\"",
        "unchanged"
    );
    let ok = s
        .call_with("PATCH", &path, Some(&body), &[("if-match", "W/\"1\"")])
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("etag").unwrap(), "W/\"2\"");
    s.call_with("DELETE", &path, None, &[("if-match", "W/\"1\"")])
        .await
        .assert_error(412, None);
}

#[tokio::test]
async fn organizations_never_see_each_other() {
    let s = Server::start().await;
    let id = s.create_user("mine@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (other_org, other_token) = s.other_org("other").await;
    let other_base = format!("http://{}/scim/v2/{other_org}", s.addr);
    let auth = format!("Bearer {other_token}");
    // B's token on B's URL: A's user does not exist there.
    let r = s
        .raw(
            "GET",
            &format!("{other_base}/Users/{id}"),
            &[("authorization", &auth)],
            None,
        )
        .await;
    r.assert_error(404, None);
    let list = s
        .raw(
            "GET",
            &format!("{other_base}/Users"),
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(list.json()["totalResults"], 0);
    // B's token on A's URL: 401.
    let r = s
        .raw(
            "GET",
            &format!("{}/Users", s.base()),
            &[("authorization", &auth)],
            None,
        )
        .await;
    r.assert_error(401, None);
    // A's user name is free in B.
    let r = s
        .raw(
            "POST",
            &format!("{other_base}/Users"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(br#"{"userName":"mine@x.io"}"#.to_vec()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_stray_entra_query_string_on_the_base_url_is_tolerated() {
    let s = Server::start().await;
    s.create_user("q25@x.io").await;
    let r = s.get("/Users?aadOptscim062020").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["totalResults"], 1);
}
