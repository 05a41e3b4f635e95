//! Discovery endpoints describe what is implemented (RFC 7644 §4).

use crate::common::Server;

#[tokio::test]
async fn service_provider_config_resource_types_and_schemas() {
    let s = Server::start().await;
    let spc = s.get("/ServiceProviderConfig").await;
    assert_eq!(spc.status, 200);
    let spc = spc.json();
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    assert!(spc["filter"]["maxResults"].as_i64().unwrap() > 0);
    assert_eq!(spc["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let rts = s.get("/ResourceTypes").await.json();
    assert_eq!(
        rts["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    );
    let names: Vec<&str> = rts["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"User"));
    let user_rt = s.get("/ResourceTypes/User").await.json();
    assert_eq!(user_rt["endpoint"], "/Users");

    let schemas = s.get("/Schemas").await.json();
    let ids: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let user = s
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await
        .json();
    let user_name = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap();
    assert_eq!(user_name["caseExact"], false);
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let password = user["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "password")
        .unwrap();
    assert_eq!(password["returned"], "never");
    s.get("/Schemas/urn:nope").await.assert_error(404, None);
}
