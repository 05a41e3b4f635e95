//! Black-box replays of whole IdP lifecycles, request by request as the IdPs send them: Okta's
//! catalog (OIN, PATCH) and wizard (AIW, PUT) flavours, and Entra's default (legacy) and
//! `aadOptscim062020` dialects.

use crate::common::{Server, patch_op};
use serde_json::{Value, json};

fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn okta_catalog_app_lifecycle_with_patch() {
    let s = Server::start().await;
    // Test API credentials.
    assert_eq!(s.get("/Users?startIndex=1&count=2").await.status, 200);
    assert_eq!(s.get("/Groups?startIndex=1&count=100").await.status, 200);
    // Assign: match by userName (miss), create.
    let miss = s
        .get("/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100")
        .await
        .json();
    assert_eq!(
        miss,
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"itemsPerPage":0,"startIndex":1,"Resources":[]})
    );
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
    // Re-assign finds the user whatever the case (Okta's case probe).
    let hit = s
        .get("/Users?filter=userName%20eq%20%22TEST.USER%40OKTA.LOCAL%22")
        .await
        .json();
    assert_eq!(hit["Resources"][0]["id"], id);
    // Recreate: 409 with a SCIM error stops the job.
    let dup = s
        .post("/Users", &json!({"userName":"test.user@okta.local"}))
        .await;
    dup.assert_error(409, Some("uniqueness"));
    // Profile push: GET then PUT of the whole profile with read-only echoes.
    let mut profile = s.get(&format!("/Users/{id}")).await.json();
    profile["name"]["givenName"] = json!("Another");
    let put = s.put(&format!("/Users/{id}"), &profile).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json()["name"]["givenName"], "Another");
    // Deactivate and reactivate: path-less PATCH.
    for active in [false, true] {
        let r = s
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{"op":"replace","value":{"active":active}}])),
            )
            .await;
        assert_eq!(r.json()["active"], active);
    }
    // Group push: lookup, create, membership PATCH, name sync with id, delete.
    let g = s.post("/Groups", &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Test SCIMv2","members":[]})).await;
    assert_eq!(g.status, 201);
    let gid = g.json()["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([
        {"op":"add","path":"members","value":[{"value":id,"display":"test.user@okta.local"}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op":"replace","value":{"id":gid,"displayName":"Test SCIMv2"}}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        ids(&s.get(&format!("/Groups/{gid}")).await.json()),
        vec![id.clone()]
    );
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op":"remove","path":format!("members[value eq \"{id}\"]")}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status, 204);
    // Okta never deletes users: the deactivated-then-reactivated user is still there.
    assert_eq!(s.get(&format!("/Users/{id}")).await.json()["active"], true);
}

#[tokio::test]
async fn okta_wizard_app_lifecycle_with_put() {
    let s = Server::start().await;
    let u1 = s.create_user("aiw1@okta.local").await;
    let u2 = s.create_user("aiw2@okta.local").await;
    let (id1, id2) = (u1["id"].as_str().unwrap(), u2["id"].as_str().unwrap());
    // Deactivate with a PUT of the whole user.
    let mut whole = u1.clone();
    whole["active"] = json!(false);
    let r = s.put(&format!("/Users/{id1}"), &whole).await;
    assert_eq!(r.json()["active"], false);
    // Group membership and renames are PUTs of the whole group.
    let g = s
        .post("/Groups", &json!({"displayName":"AIW"}))
        .await
        .json();
    let gid = g["id"].as_str().unwrap();
    let r = s.put(&format!("/Groups/{gid}"), &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName":"AIW","members":[{"value":id1,"display":"aiw1"},{"value":id2,"display":"aiw2"}]})).await;
    assert_eq!(r.status, 200);
    let mut both = vec![id1.to_string(), id2.to_string()];
    both.sort();
    assert_eq!(ids(&r.json()), both);
    let r = s
        .put(
            &format!("/Groups/{gid}"),
            &json!({"displayName":"AIW renamed","members":[{"value":id2}]}),
        )
        .await;
    assert_eq!(r.json()["displayName"], "AIW renamed");
    assert_eq!(ids(&r.json()), vec![id2.to_string()]);
    // Reactivate with PUT: the user keeps its Team memberships throughout.
    whole["active"] = json!(true);
    assert_eq!(
        s.put(&format!("/Users/{id1}"), &whole).await.json()["active"],
        true
    );
}

async fn entra_user_lifecycle(s: &Server, flag: bool) {
    let q = if flag { "?aadOptscim062020" } else { "" };
    // Test Connection: a random GUID matches nothing, 200 with an empty list.
    let r = s
        .get("/Users?filter=userName+eq+%22e0a4ef3c-6a39-4b11-9f5c-5e1dc4b3d7a0%22")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["totalResults"], 0);
    let name = if flag {
        "Test_User_flag@contoso.com"
    } else {
        "Test_User_legacy@contoso.com"
    };
    let r = s.post(&format!("/Users{q}"), &json!({
        "schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId":"0a21f0f2-8d2a-4f8e-bf98-7894c2c1d2b5","userName":name,"active":"True",
        "emails":[{"primary":true,"type":"work","value":name}],
        "meta":{"resourceType":"User"},
        "name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
        "roles":[], "addresses":null, "title":null,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":null,"manager":null}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}{q}");
    let update = if flag {
        patch_op(json!([
            {"op":"replace","path":"emails[type eq \"work\"].value","value":"updated@contoso.com"},
            {"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"Aklq"}}]))
    } else {
        patch_op(json!([
            {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updated@contoso.com"},
            {"op":"Replace","path":"name.familyName","value":"Unua"},
            {"op":"Add","path":"nickName","value":"Babs"},
            {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"Aklq"}]))
    };
    let r = s.patch(&path, &update).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = r.json();
    assert_eq!(u["emails"][0]["value"], "updated@contoso.com");
    assert_eq!(u["name"]["familyName"], "Unua");
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
        "Aklq"
    );
    // The manager, in the current bare-id form, then removed by filter.
    let boss = s.create_user(&format!("boss-{flag}@contoso.com")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.patch(&path, &patch_op(json!([{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":boss}]))).await;
    assert_eq!(
        r.json()["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"],
        boss
    );
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"remove","path":format!("manager[value eq \"{boss}\"]")}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json()["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
            .get("manager")
            .is_none()
    );
    // Soft delete and back.
    let (off, on) = if flag {
        (json!(false), json!(true))
    } else {
        (json!("False"), json!("True"))
    };
    let op = if flag { "replace" } else { "Replace" };
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":op,"path":"active","value":off}])),
        )
        .await;
    assert_eq!(r.json()["active"], false);
    assert_eq!(
        s.get(&format!("/Users/{id}")).await.json()["active"],
        false,
        "still returned"
    );
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":op,"path":"active","value":on}])),
        )
        .await;
    assert_eq!(r.json()["active"], true);
    // Hard delete.
    assert_eq!(s.delete(&path).await.status, 204);
    let gone = s
        .get(&format!(
            "/Users?filter=userName+eq+%22{}%22",
            name.replace('@', "%40")
        ))
        .await
        .json();
    assert_eq!(gone["totalResults"], 0);
}

#[tokio::test]
async fn entra_user_lifecycle_in_both_dialects() {
    let s = Server::start().await;
    entra_user_lifecycle(&s, false).await;
    entra_user_lifecycle(&s, true).await;
}
