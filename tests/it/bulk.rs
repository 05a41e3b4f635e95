//! Bulk (RFC 7644 §3.7).

use crate::common::Server;
use scimbox::app::Limits;
use serde_json::json;

#[tokio::test]
async fn a_user_created_and_added_to_a_team_in_one_request() {
    let s = Server::start().await;
    let body = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
    "Operations":[
        {"method":"POST","path":"/Users","bulkId":"u1","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bulk@x.io"}},
        {"method":"POST","path":"/Groups","bulkId":"g1","data":{"displayName":"Bulk Team","members":[{"value":"bulkId:u1"}]}},
        {"method":"PATCH","path":"/Users/bulkId:u1","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Lead"}]}},
        {"method":"POST","path":"/Users","bulkId":"dup","data":{"userName":"BULK@x.io"}},
        {"method":"DELETE","path":"/Groups/bulkId:nope"}
    ]});
    let r = s.post("/Bulk", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
    );
    let ops = v["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["status"], "201");
    assert_eq!(ops[0]["bulkId"], "u1");
    assert_eq!(ops[0]["version"], "W/\"1\"");
    let user_loc = ops[0]["location"].as_str().unwrap();
    assert!(user_loc.starts_with(&format!("{}/Users/", s.base())));
    assert_eq!(ops[1]["status"], "201");
    assert_eq!(ops[2]["status"], "200");
    assert_eq!(ops[3]["status"], "409");
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[4]["status"], "400");
    let uid = user_loc.rsplit('/').next().unwrap();
    let u = s.get(&format!("/Users/{uid}")).await.json();
    assert_eq!(u["title"], "Lead");
    assert_eq!(u["groups"][0]["display"], "Bulk Team");
}

#[tokio::test]
async fn fail_on_errors_stops_and_limits_are_advertised_and_enforced() {
    let s = Server::start_with(Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    })
    .await;
    let spc = s.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 64 * 1024);
    let max = spc["bulk"]["maxOperations"].as_u64().unwrap() as usize;
    let r = s
        .post(
            "/Bulk",
            &json!({"failOnErrors":1,"Operations":[
        {"method":"POST","path":"/Users","bulkId":"a","data":{"displayName":"no userName"}},
        {"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"never@x.io"}}]}),
        )
        .await;
    let v = r.json();
    assert_eq!(v["Operations"].as_array().unwrap().len(), 1);
    assert_eq!(v["Operations"][0]["response"]["scimType"], "invalidValue");
    assert_eq!(s.get("/Users").await.json()["totalResults"], 0);
    let too_many: Vec<_> = (0..=max)
        .map(|_| json!({"method":"DELETE","path":"/Users/x"}))
        .collect();
    s.post("/Bulk", &json!({"Operations": too_many}))
        .await
        .assert_error(413, None);
    let big = json!({"Operations":[{"method":"POST","path":"/Users","bulkId":"x","data":{"userName":"x".repeat(70_000)}}]});
    s.post("/Bulk", &big).await.assert_error(413, None);
    s.post("/Bulk", &json!({"nope":1}))
        .await
        .assert_error(400, Some("invalidSyntax"));
    let r = s.post("/Bulk", &json!({"Operations":[{"method":"GET","path":"/Users"},{"method":"POST","path":"/Bulk","bulkId":"z","data":{}}]})).await.json();
    assert_eq!(r["Operations"][0]["status"], "400");
    assert_eq!(r["Operations"][1]["response"]["scimType"], "invalidPath");
}
