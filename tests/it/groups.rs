//! `/Groups` (Teams) as Okta's Group Push and Entra's group provisioning drive them.

use crate::common::{Server, patch_op};
use serde_json::{Value, json};

async fn group(s: &Server, name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()
}

async fn user_id(s: &Server, name: &str) -> String {
    s.create_user(name).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn member_ids(s: &Server, gid: &str) -> Vec<String> {
    let g = s.get(&format!("/Groups/{gid}")).await.json();
    let mut ids: Vec<String> = g["members"]
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

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn create_returns_members_with_display_type_and_ref_and_user_groups_follow() {
    let s = Server::start().await;
    let a = user_id(&s, "a@x.io").await;
    let g = group(&s, "Engineering", &[&a]).await;
    let gid = g["id"].as_str().unwrap();
    assert_eq!(g["displayName"], "Engineering");
    assert_eq!(g["meta"]["resourceType"], "Group");
    assert_eq!(g["members"][0]["value"], a);
    assert_eq!(g["members"][0]["type"], "User");
    assert_eq!(g["members"][0]["display"], "a@x.io");
    assert_eq!(g["members"][0]["$ref"], format!("{}/Users/{a}", s.base()));
    let u = s.get(&format!("/Users/{a}")).await.json();
    assert_eq!(
        u["groups"],
        json!([{"value": gid, "display": "Engineering", "$ref": format!("{}/Groups/{gid}", s.base()), "type": "direct"}])
    );
}

#[tokio::test]
async fn okta_group_push_lookup_create_membership_rename_delete() {
    let s = Server::start().await;
    let u1 = user_id(&s, "u1@okta.local").await;
    let u2 = user_id(&s, "u2@okta.local").await;
    // Lookup by name: an empty ListResponse.
    let r = s
        .get("/Groups?filter=displayName%20eq%20%22Test%20SCIMv2%22&startIndex=1&count=100")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["totalResults"], 0);
    let g = group(&s, "Test SCIMv2", &[]).await;
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    // One PATCH mixing a filtered remove and an add.
    let r = s
        .patch(&path, &patch_op(json!([
            {"op":"remove","path":format!("members[value eq \"{u2}\"]")},
            {"op":"add","path":"members","value":[{"value":u1,"display":"u1@okta.local"},{"value":u2}]}])))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&u1, &u2]));
    // Rename with the read-only id inside the value (Q5) leaves members alone (Q6).
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"replace","value":{"id":gid,"displayName":"Renamed"}}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let g = s.get(&path).await.json();
    assert_eq!(g["displayName"], "Renamed");
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&u1, &u2]));
    // Full re-push replaces the list (Q7).
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"replace","path":"members","value":[{"value":u2}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&s, &gid).await, vec![u2.clone()]);
    // Wizard apps PUT the whole group with its members.
    let r = s
        .put(
            &path,
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName":"Test SCIMv2","members":[{"value":u1,"display":"u1"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["displayName"], "Test SCIMv2");
    assert_eq!(member_ids(&s, &gid).await, vec![u1.clone()]);
    // Delete: 204, the users stay.
    assert_eq!(s.delete(&path).await.status, 204);
    s.get(&path).await.assert_error(404, None);
    assert_eq!(s.get(&format!("/Users/{u1}")).await.status, 200);
    assert!(
        s.get(&format!("/Users/{u1}"))
            .await
            .json()
            .get("groups")
            .is_none()
    );
}

#[tokio::test]
async fn entra_group_flow_in_both_dialects() {
    let s = Server::start().await;
    let u1 = user_id(&s, "e1@contoso.com").await;
    let u2 = user_id(&s, "e2@contoso.com").await;
    let u3 = user_id(&s, "e3@contoso.com").await;
    let r = s
        .get("/Groups?excludedAttributes=members&filter=displayName+eq+%22Sales%22")
        .await;
    assert_eq!(r.json()["totalResults"], 0);
    let r = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"Sales",
            "meta":{"resourceType":"Group"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.json()["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{gid}");
    let g = s
        .get(&format!("{path}?excludedAttributes=members"))
        .await
        .json();
    assert!(g.get("members").is_none());
    // Legacy add with "$ref": null (Q17), capitalised op (Q2).
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"Add","path":"members","value":[
            {"$ref":null,"value":u1},{"$ref":null,"value":u2},{"$ref":null,"value":u3}]}])),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // Legacy removal names members in value: only those leave (Q1).
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"Remove","path":"members","value":[{"$ref":null,"value":u1}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&s, &gid).await, sorted(&[&u2, &u3]));
    // aadOptscim062020 removal by filter (Q9), then a repeat that matches nothing (Q23).
    for _ in 0..2 {
        let r = s
            .patch(
                &path,
                &patch_op(json!([{"op":"remove","path":format!("members[value eq \"{u2}\"]")}])),
            )
            .await;
        assert_eq!(r.status, 204);
    }
    assert_eq!(member_ids(&s, &gid).await, vec![u3.clone()]);
    // Re-adding an existing member keeps it once (Q23).
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"add","path":"members","value":[{"value":u3}]}])),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(member_ids(&s, &gid).await, vec![u3.clone()]);
    // Renames in both forms.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"Replace","path":"displayName","value":"Sales EU"}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"replace","value":{"displayName":"Sales EMEA"}}])),
        )
        .await;
    assert_eq!(r.status, 204);
    let g = s
        .get(&format!("{path}?excludedAttributes=members"))
        .await
        .json();
    assert_eq!(g["displayName"], "Sales EMEA");
    assert_eq!(g["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    // A PATCH that names attributes answers 200 with the Group.
    let r = s
        .call(
            "PATCH",
            &format!("{path}?attributes=displayName"),
            Some(&patch_op(
                json!([{"op":"replace","path":"displayName","value":"S"}]),
            )),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["displayName"], "S");
    assert!(r.json().get("members").is_none());
}

#[tokio::test]
async fn deactivating_keeps_memberships_and_deleting_a_user_leaves_every_team() {
    let s = Server::start().await;
    let u = user_id(&s, "q26@x.io").await;
    let g1 = group(&s, "One", &[&u]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let g2 = group(&s, "Two", &[&u]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .patch(
            &format!("/Users/{u}"),
            &patch_op(json!([{"op":"replace","path":"active","value":false}])),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(member_ids(&s, &g1).await, vec![u.clone()]);
    assert_eq!(r.json()["groups"].as_array().unwrap().len(), 2);
    assert_eq!(s.delete(&format!("/Users/{u}")).await.status, 204);
    assert!(member_ids(&s, &g1).await.is_empty());
    assert!(member_ids(&s, &g2).await.is_empty());
}

#[tokio::test]
async fn bad_members_are_refused_whole_and_nothing_is_applied() {
    let s = Server::start().await;
    let u = user_id(&s, "ok@x.io").await;
    let g = group(&s, "Target", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = group(&s, "Other", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Groups/{g}");
    // An unknown id in the middle: 400 invalidValue naming it, and the valid one is not added.
    let r = s
        .patch(&path, &patch_op(json!([{"op":"add","path":"members","value":[{"value":u},{"value":"no-such-user"}]}])))
        .await;
    let e = r.assert_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("no-such-user"));
    assert!(member_ids(&s, &g).await.is_empty());
    // A Group as a member, by id or by declared type: nesting is refused, saying so.
    for value in [
        json!([{"value": other}]),
        json!([{"value": u, "type": "Group"}]),
    ] {
        let r = s
            .patch(
                &path,
                &patch_op(json!([{"op":"add","path":"members","value":value}])),
            )
            .await;
        let e = r.assert_error(400, Some("invalidValue"));
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .contains("nested Teams are not supported"),
            "{e}"
        );
    }
    let r = s
        .post(
            "/Groups",
            &json!({"displayName":"Nest","members":[{"value":other}]}),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(
        s.get("/Groups?filter=displayName%20eq%20%22Nest%22")
            .await
            .json()["totalResults"],
        0
    );
    // A member of another organization is not a user here.
    let (other_org, other_token) = s.other_org("elsewhere").await;
    let r = s
        .raw(
            "POST",
            &format!("http://{}/scim/v2/{other_org}/Users", s.addr),
            &[
                ("authorization", &format!("Bearer {other_token}")),
                ("content-type", "application/json"),
            ],
            Some(br#"{"userName":"stranger@x.io"}"#.to_vec()),
        )
        .await;
    let stranger = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"add","path":"members","value":[{"value":stranger}]}])),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    // A rename and a bad member in one PATCH: atomic, nothing applied.
    let r = s
        .patch(
            &path,
            &patch_op(
                json!([{"op":"replace","path":"displayName","value":"Changed"},
            {"op":"add","path":"members","value":[{"value":"nope"}]}]),
            ),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    assert_eq!(s.get(&path).await.json()["displayName"], "Target");
    assert_eq!(s.get(&path).await.json()["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn group_errors_get_their_scim_type() {
    let s = Server::start().await;
    let g = group(&s, "Dup", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.post("/Groups", &json!({"displayName":"DUP"}))
        .await
        .assert_error(409, Some("uniqueness"));
    s.post("/Groups", &json!({"members":[]}))
        .await
        .assert_error(400, Some("invalidValue"));
    let path = format!("/Groups/{g}");
    let cases = [
        (
            json!([{"op":"remove","path":"displayName"}]),
            400,
            "mutability",
        ),
        (
            json!([{"op":"remove","path":"members[value eq"}]),
            400,
            "invalidFilter",
        ),
        (
            json!([{"op":"replace","path":"members[value eq \"x\"]","value":[]}]),
            400,
            "invalidPath",
        ),
        (
            json!([{"op":"replace","path":"members.value","value":"x"}]),
            400,
            "invalidPath",
        ),
        (
            json!([{"op":"add","path":"members","value":"not-a-list-of-objects"}]),
            400,
            "invalidValue",
        ),
    ];
    for (ops, status, scim_type) in cases {
        s.patch(&path, &patch_op(ops.clone()))
            .await
            .assert_error(status, Some(scim_type));
    }
    assert_eq!(s.get(&path).await.json()["meta"]["version"], "W/\"1\"");
    s.get("/Groups/nope").await.assert_error(404, None);
}

#[tokio::test]
async fn group_filters_and_paging() {
    let s = Server::start().await;
    let u = user_id(&s, "member@x.io").await;
    let a = group(&s, "Alpha", &[&u]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    group(&s, "Beta", &[]).await;
    let q = |f: &str| {
        format!(
            "/Groups?filter={}",
            f.replace(' ', "%20").replace('"', "%22")
        )
    };
    let r = s.get(&q(&format!("members.value eq \"{u}\""))).await.json();
    assert_eq!(r["totalResults"], 1);
    assert_eq!(r["Resources"][0]["id"], a);
    let r = s.get(&q("displayName eq \"alpha\"")).await.json();
    assert_eq!(r["totalResults"], 1, "displayName is case-insensitive");
    let r = s.get(&q(&format!("id eq \"{a}\""))).await.json();
    assert_eq!(r["totalResults"], 1);
    let r = s
        .get("/Groups?startIndex=2&count=1&excludedAttributes=members")
        .await
        .json();
    assert_eq!(r["totalResults"], 2);
    assert_eq!(r["Resources"][0]["displayName"], "Beta");
}

#[tokio::test]
async fn concurrent_patches_on_one_team_lose_no_member() {
    let s = std::sync::Arc::new(Server::start().await);
    let g = group(&s, "Busy", &[]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut users = Vec::new();
    for i in 0..32 {
        users.push(user_id(&s, &format!("c{i}@x.io")).await);
    }
    let mut tasks = Vec::new();
    for u in users.clone() {
        let s = s.clone();
        let path = format!("/Groups/{g}");
        tasks.push(tokio::spawn(async move {
            s.patch(
                &path,
                &patch_op(json!([{"op":"add","path":"members","value":[{"value":u}]}])),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let mut expected = users.clone();
    expected.sort();
    assert_eq!(member_ids(&s, &g).await, expected);
}
