//! The admin API of the access model: what the Access page, the Team page's Deployment roles,
//! the user page's effective access and the Tokens page's rotation speak to.

use crate::admin::sign_in;
use crate::common::{Server, actor, now};
use serde_json::json;

#[tokio::test]
async fn the_admin_api_manages_deployments_roles_rules_and_rotation() {
    let s = Server::start().await;
    let a = sign_in(&s).await;
    let r = a
        .send("POST", &a.org("/workspaces"), Some(json!({"name": "Prod"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ws = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .send(
            "POST",
            &a.org("/deployments"),
            Some(json!({"workspace": ws, "name": "prod-etl"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let dep = r.json()["id"].as_str().unwrap().to_string();
    let r = a
        .send(
            "POST",
            &a.org("/deployment-roles"),
            Some(json!({"name": "Viewer", "permissions": ["deployment.get", "deployment.nope"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("deployment.nope")
    );
    let r = a
        .send(
            "POST",
            &a.org("/deployment-roles"),
            Some(json!({"name": "Viewer", "permissions": ["deployment.get"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A rule, a pushed Team that matches it, and the Team page's view of it.
    let r = a
        .send(
            "POST",
            &a.org("/rules"),
            Some(
                json!({"name": "prod", "match": "prefix", "value": "astro-prod-",
                        "deploymentRoles": [{"deployment": dep, "role": "Viewer"}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = a
        .send(
            "POST",
            &a.org("/rules"),
            Some(
                json!({"name": "bad", "match": "pattern", "value": "astro-*",
                        "organizationRole": "ORGANIZATION_MEMBER"}),
            ),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"].as_str().unwrap().contains("prod"),
        "{}",
        r.text
    );
    let r = a.get(&a.org("/rules/test?name=astro-prod-viewers")).await;
    assert_eq!(r.json()["rule"]["name"], "prod", "{}", r.text);
    let user = s.create_user("ui@access.test").await;
    let uid = user["id"].as_str().unwrap();
    let g = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName":"astro-prod-viewers","members":[{"value": uid}]}),
        )
        .await;
    let tid = g.json()["id"].as_str().unwrap().to_string();
    let r = a.get(&a.org(&format!("/teams/{tid}/access"))).await;
    let v = r.json();
    assert_eq!(v["rule"]["name"], "prod", "{v}");
    assert_eq!(v["deploymentRoles"][0]["role"], "Viewer", "{v}");
    let r = a
        .send(
            "PUT",
            &a.org(&format!("/teams/{tid}/deployment-roles")),
            Some(json!({"deployment": "prod-etl", "role": "DEPLOYMENT_ADMIN"})),
        )
        .await;
    assert_eq!(
        r.json()["deploymentRoles"][0]["role"],
        "DEPLOYMENT_ADMIN",
        "{}",
        r.text
    );
    // The user page explains it.
    let u = a.get(&a.org(&format!("/users/{uid}"))).await.json();
    let e = &u["effective"];
    assert_eq!(e["workspaces"][0]["role"], "WORKSPACE_ACCESSOR", "{e}");
    assert_eq!(e["workspaces"][0]["sources"][0]["type"], "implied");
    assert_eq!(
        e["deployments"][0]["sources"][0]["display"],
        "astro-prod-viewers"
    );
    // Rotation: the new secret once, the old one refused.
    let tokens = a.get(&a.org("/tokens")).await.json();
    let idp = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "idp")
        .unwrap()
        .clone();
    assert_eq!(idp["lastSource"], "127.0.0.1", "{idp}");
    let r = a
        .send(
            "POST",
            &a.org(&format!("/tokens/{}/rotate", idp["id"].as_str().unwrap())),
            Some(json!({"graceMinutes": 0})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(s.get("/Users").await.status, 401);
    let r = s
        .raw(
            "GET",
            &format!("{}/Users", s.base()),
            &[("authorization", &format!("Bearer {new}"))],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .send(
            "POST",
            &a.org(&format!("/tokens/{}/rotate", idp["id"].as_str().unwrap())),
            Some(json!({"graceMinutes": 2000})),
        )
        .await;
    assert_eq!(r.status, 400);
    // A token expiring within 14 days is warned about, with a description and limits shown.
    let r = a
        .send(
            "POST",
            &a.org("/tokens"),
            Some(
                json!({"name": "short", "expiresInDays": 3, "description": "trial",
                        "allow": ["10.0.0.0/8"]}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = a
        .send(
            "POST",
            &a.org("/tokens"),
            Some(json!({"name": "bad", "allow": ["10.0.0.0/99"]})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("10.0.0.0/99")
    );
    let over = a.get(&a.org("/access")).await.json();
    assert_eq!(over["expiringTokens"][0]["name"], "short", "{over}");
    assert_eq!(over["owner"]["activeOwner"], false);
    let tokens = a.get(&a.org("/tokens")).await.json();
    let short = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "short")
        .unwrap();
    assert_eq!(short["expiringSoon"], true);
    assert_eq!(short["description"], "trial");
    assert_eq!(short["allow"], json!(["10.0.0.0/8"]));
    // Deleting: a custom role in use is refused; the Deployment takes its roles along.
    let roles = &over["deploymentRoles"];
    let viewer = roles[0]["id"].as_str().unwrap();
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    scimbox::directory::teams::set_role(
        &s.store,
        &actor(),
        org.pk,
        tid.clone(),
        scimbox::directory::teams::RoleChange::Deployment(
            "prod-etl".into(),
            None,
            Some("Viewer".into()),
        ),
        now(),
    )
    .await
    .unwrap();
    let r = a
        .send(
            "DELETE",
            &a.org(&format!("/deployment-roles/{viewer}")),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        a.send("DELETE", &a.org(&format!("/deployments/{dep}")), None)
            .await
            .status,
        204
    );
    assert_eq!(
        a.send(
            "DELETE",
            &a.org(&format!("/deployment-roles/{viewer}")),
            None
        )
        .await
        .status,
        204
    );
}
