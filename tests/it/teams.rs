//! Astro's rules for Teams: the SCIM switch, what local tools may do while it is on, access
//! templates and effective roles.

use crate::common::{Server, actor, now};
use scimbox::directory::teams::{self, MemberOp, Origin, RoleChange};
use scimbox::error::Error;
use serde_json::json;

async fn org_pk(s: &Server) -> i64 {
    scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap()
        .pk
}

async fn set_scim(s: &Server, on: bool) {
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    scimbox::directory::orgs::set_scim_enabled(&s.store, &actor(), &org, on, now())
        .await
        .unwrap();
}

fn data(name: &str) -> serde_json::Map<String, serde_json::Value> {
    scimbox::model::resource::normalize(
        &scimbox::model::schema::GROUP_TYPE,
        &json!({"displayName": name}),
    )
    .unwrap()
}

async fn local_members(s: &Server, team: &str, op: MemberOp) -> Result<(), Error> {
    teams::update(
        &s.store,
        &actor(),
        org_pk(s).await,
        team.to_string(),
        None,
        vec![op],
        Origin::Local,
        false,
        now(),
        |_, data| Ok(data),
    )
    .await
    .map(|_| ())
}

#[tokio::test]
async fn scim_switch_decides_what_local_tools_may_do() {
    let s = Server::start().await;
    let org = org_pk(&s).await;
    let u = s.create_user("member@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Made before SCIM: a local Team with a member.
    set_scim(&s, false).await;
    s.get("/Users").await.assert_error(403, None);
    let local = teams::create(
        &s.store,
        &actor(),
        org,
        data("Local"),
        vec![u.clone()],
        Origin::Local,
        now(),
    )
    .await
    .unwrap();
    let local_id = local.row.id.clone();
    assert!(!local.row.scim_managed);
    set_scim(&s, true).await;
    // The IdP makes one.
    let r = s
        .post(
            "/Groups",
            &json!({"displayName":"From IdP","members":[{"value":u}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let scim_id = r.json()["id"].as_str().unwrap().to_string();

    // While SCIM is on: no creating Teams, no adding members.
    let e = teams::create(
        &s.store,
        &actor(),
        org,
        data("Nope"),
        vec![],
        Origin::Local,
        now(),
    )
    .await;
    assert!(
        matches!(e, Err(Error::Forbidden(ref d)) if d.contains("IdP")),
        "{e:?}"
    );
    let e = local_members(&s, &local_id, MemberOp::Add(vec![u.clone()])).await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
    // SCIM-managed Teams: members and the Team itself belong to the IdP.
    let e = local_members(&s, &scim_id, MemberOp::Remove(vec![u.clone()])).await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
    let e = teams::delete(
        &s.store,
        &actor(),
        org,
        scim_id.clone(),
        None,
        Origin::Local,
        now(),
    )
    .await;
    assert!(matches!(e, Err(Error::Forbidden(_))), "{e:?}");
    // Roles can always change, on any Team.
    let ws = teams::create_workspace(&s.store, &actor(), org, "Prod".into(), now())
        .await
        .unwrap();
    teams::set_role(
        &s.store,
        &actor(),
        org,
        scim_id.clone(),
        RoleChange::Workspace("Prod".into(), Some("WORKSPACE_OPERATOR".into())),
        now(),
    )
    .await
    .unwrap();
    // Pre-existing Teams: members can be removed and the Team deleted.
    local_members(&s, &local_id, MemberOp::Remove(vec![u.clone()]))
        .await
        .unwrap();
    teams::delete(
        &s.store,
        &actor(),
        org,
        local_id.clone(),
        None,
        Origin::Local,
        now(),
    )
    .await
    .unwrap();
    s.get(&format!("/Groups/{local_id}"))
        .await
        .assert_error(404, None);
    // Effective roles reach the member through the SCIM Team, and over SCIM on request.
    let urn = "urn:scimbox:params:scim:schemas:extension:access:2.0:User";
    let plain = s.get(&format!("/Users/{u}")).await.json();
    assert!(
        plain.get(urn).is_none(),
        "computed roles are returned only on request"
    );
    let r = s.get(&format!("/Users/{u}?attributes={urn}")).await.json();
    assert_eq!(r[urn]["organizationRole"], "ORGANIZATION_MEMBER");
    let roles = r[urn]["workspaceRoles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{r}");
    assert_eq!(roles[0]["value"], json!(ws.id));
    assert_eq!(roles[0]["display"], "Prod");
    assert_eq!(roles[0]["role"], "WORKSPACE_OPERATOR");
    assert!(
        roles[0]["sources"][0]
            .as_str()
            .unwrap()
            .starts_with("team:"),
        "{r}"
    );
    assert!(r["schemas"].as_array().unwrap().contains(&json!(urn)));
}

#[tokio::test]
async fn effective_role_is_the_highest_of_own_and_every_team() {
    let s = Server::start().await;
    let org = org_pk(&s).await;
    let u = s.create_user("roles@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = s
        .post(
            "/Groups",
            &json!({"displayName":"A","members":[{"value":u}]}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = s
        .post(
            "/Groups",
            &json!({"displayName":"B","members":[{"value":u}]}),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    teams::create_workspace(&s.store, &actor(), org, "W".into(), now())
        .await
        .unwrap();
    teams::set_role(
        &s.store,
        &actor(),
        org,
        a.clone(),
        RoleChange::Workspace("W".into(), Some("workspace_member".into())),
        now(),
    )
    .await
    .unwrap();
    teams::set_role(
        &s.store,
        &actor(),
        org,
        b.clone(),
        RoleChange::Workspace("W".into(), Some("WORKSPACE_OWNER".into())),
        now(),
    )
    .await
    .unwrap();
    teams::set_role(
        &s.store,
        &actor(),
        org,
        a.clone(),
        RoleChange::Organization("ORGANIZATION_BILLING_ADMIN".into()),
        now(),
    )
    .await
    .unwrap();
    let (_, access) = scimbox::directory::users::access(&s.store, org, "roles@x.io".into())
        .await
        .unwrap();
    assert_eq!(access.organization.role, "ORGANIZATION_BILLING_ADMIN");
    assert_eq!(access.workspaces[0].role, "WORKSPACE_OWNER");
    // Leaving B drops the Workspace role to A's.
    let r = s
        .patch(
            &format!("/Groups/{b}"),
            &crate::common::patch_op(
                json!([{"op":"remove","path":format!("members[value eq \"{u}\"]")}]),
            ),
        )
        .await;
    assert_eq!(r.status, 204);
    let (_, access) = scimbox::directory::users::access(&s.store, org, u.clone())
        .await
        .unwrap();
    assert_eq!(access.workspaces[0].role, "WORKSPACE_MEMBER");
    // Bad roles are refused with the list of good ones.
    let e = teams::set_role(
        &s.store,
        &actor(),
        org,
        a.clone(),
        RoleChange::Organization("GOD".into()),
        now(),
    )
    .await;
    assert!(matches!(e, Err(Error::InvalidValue(ref d)) if d.contains("ORGANIZATION_OWNER")));
    // The Team extension shows the template on request.
    let urn = "urn:scimbox:params:scim:schemas:extension:team:2.0:Group";
    let g = s
        .get(&format!("/Groups/{a}?attributes={urn},displayName"))
        .await
        .json();
    assert_eq!(g[urn]["organizationRole"], "ORGANIZATION_BILLING_ADMIN");
    assert_eq!(g[urn]["workspaceRoles"][0]["role"], "WORKSPACE_MEMBER");
}
