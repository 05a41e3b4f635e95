//! Astro's access model end to end: the role hierarchy and its sources, Deployments and custom
//! Deployment roles, role rules on Okta- and Entra-style Team pushes, token rotation, source
//! address limits on IPv4 and IPv6, and the last-Owner flag.

use crate::common::{Opts, Server, actor, now, patch_op};
use scimbox::directory::access::{self as access, Change};
use scimbox::directory::rules::{self, Template};
use scimbox::directory::teams::{self, RoleChange};
use scimbox::error::Error;
use scimbox::store::orgs::Org;
use serde_json::{Value, json};

const ACCESS_URN: &str = "urn:scimbox:params:scim:schemas:extension:access:2.0:User";
const TEAM_URN: &str = "urn:scimbox:params:scim:schemas:extension:team:2.0:Group";

async fn org(s: &Server) -> Org {
    scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap()
}

/// Workspaces W1..W3 and Deployments D1 (in W1), D2 (in W2), D3 (in W3), custom roles
/// Viewer (deployment.get) and Auditor (deployment.airflow.auditLog.get).
async fn landscape(s: &Server, org: &Org) {
    for w in ["W1", "W2", "W3"] {
        teams::create_workspace(&s.store, &actor(), org.pk, w.into(), now())
            .await
            .unwrap();
    }
    for (d, w) in [("D1", "W1"), ("D2", "W2"), ("D3", "W3")] {
        access::create_deployment(&s.store, &actor(), org.pk, w.into(), d.into(), now())
            .await
            .unwrap();
    }
    for (r, p) in [
        ("Viewer", "deployment.get"),
        ("Auditor", "deployment.airflow.auditLog.get"),
    ] {
        access::create_custom_role(&s.store, &actor(), org.pk, r.into(), vec![p.into()], now())
            .await
            .unwrap();
    }
}

async fn scim_team(s: &Server, name: &str, members: &[&str]) -> String {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let r = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name, "members": members}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["id"].as_str().unwrap().to_string()
}

/// A grant in a row of the table: the user's own, or through a Team of its own.
enum Grant {
    Own(Change),
    Team(Change),
}

fn team_change(c: Change) -> RoleChange {
    match c {
        Change::Organization(r) => RoleChange::Organization(r),
        Change::Workspace(w, r) => RoleChange::Workspace(w, r),
        Change::Deployment(d, w, r) => RoleChange::Deployment(d, w, r),
    }
}

fn org_r(r: &str) -> Change {
    Change::Organization(r.into())
}
fn ws(w: &str, r: &str) -> Change {
    Change::Workspace(w.into(), Some(r.into()))
}
fn dep(d: &str, r: &str) -> Change {
    Change::Deployment(d.into(), None, Some(r.into()))
}

type Level = (String, String, Vec<String>);

fn levels(v: &[access::Entry]) -> Vec<Level> {
    v.iter()
        .map(|e| {
            let mut s: Vec<String> = e.sources.iter().map(|s| s.label()).collect();
            s.sort();
            (e.name.clone(), e.role.clone(), s)
        })
        .collect()
}

fn want(rows: &[(&str, &str, &[&str])]) -> Vec<Level> {
    rows.iter()
        .map(|(n, r, s)| {
            let mut s: Vec<String> = s.iter().map(|x| x.to_string()).collect();
            s.sort();
            (n.to_string(), r.to_string(), s)
        })
        .collect()
}

#[tokio::test]
async fn a_table_of_grants_gives_the_effective_roles_astro_documents() {
    let s = Server::start().await;
    let org = org(&s).await;
    landscape(&s, &org).await;
    // (grants, organization (role, sources), workspaces, deployments); `T` is the row's Team.
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        Vec<Grant>,
        (&str, &[&str]),
        Vec<(&str, &str, &[&str])>,
        Vec<(&str, &str, &[&str])>,
    )> = vec![
        // Nothing granted: every user is an Organization Member.
        (
            vec![],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![],
            vec![],
        ),
        // The higher of the user's own and its Team's Workspace role wins.
        (
            vec![
                Grant::Own(ws("W1", "WORKSPACE_MEMBER")),
                Grant::Team(ws("W1", "WORKSPACE_AUTHOR")),
            ],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W1", "WORKSPACE_AUTHOR", &["team:T"])],
            vec![],
        ),
        // Organization Owners hold Workspace Owner in every Workspace, above their own role.
        (
            vec![
                Grant::Team(org_r("ORGANIZATION_OWNER")),
                Grant::Own(ws("W1", "WORKSPACE_MEMBER")),
            ],
            ("ORGANIZATION_OWNER", &["team:T"]),
            vec![
                ("W1", "WORKSPACE_OWNER", &["organizationOwner"]),
                ("W2", "WORKSPACE_OWNER", &["organizationOwner"]),
                ("W3", "WORKSPACE_OWNER", &["organizationOwner"]),
            ],
            vec![],
        ),
        // A Deployment role without a Workspace role implies WORKSPACE_ACCESSOR.
        (
            vec![Grant::Team(dep("D3", "DEPLOYMENT_ADMIN"))],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W3", "WORKSPACE_ACCESSOR", &["implied:D3"])],
            vec![("D3", "DEPLOYMENT_ADMIN", &["team:T"])],
        ),
        // Custom roles on one Deployment add up; the Accessor is still implied.
        (
            vec![
                Grant::Own(dep("D1", "Viewer")),
                Grant::Team(dep("D1", "Auditor")),
            ],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W1", "WORKSPACE_ACCESSOR", &["implied:D1"])],
            vec![("D1", "Auditor + Viewer", &["own", "team:T"])],
        ),
        // A real Workspace role means nothing is implied.
        (
            vec![
                Grant::Own(ws("W2", "WORKSPACE_MEMBER")),
                Grant::Team(dep("D2", "Viewer")),
            ],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W2", "WORKSPACE_MEMBER", &["own"])],
            vec![("D2", "Viewer", &["team:T"])],
        ),
        // The five Organization roles rank as Astro lists them.
        (
            vec![
                Grant::Own(org_r("ORGANIZATION_BILLING_ADMIN")),
                Grant::Team(org_r("ORGANIZATION_OBSERVE_ADMIN")),
            ],
            ("ORGANIZATION_BILLING_ADMIN", &["own"]),
            vec![],
            vec![],
        ),
        (
            vec![
                Grant::Own(org_r("organization_observe_member")),
                Grant::Team(org_r("ORGANIZATION_MEMBER")),
            ],
            ("ORGANIZATION_OBSERVE_MEMBER", &["own"]),
            vec![],
            vec![],
        ),
        // DEPLOYMENT_ADMIN beats a custom role.
        (
            vec![
                Grant::Team(dep("D1", "DEPLOYMENT_ADMIN")),
                Grant::Own(dep("D1", "Viewer")),
            ],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W1", "WORKSPACE_ACCESSOR", &["implied:D1"])],
            vec![("D1", "DEPLOYMENT_ADMIN", &["team:T"])],
        ),
        // The same role from two places names both.
        (
            vec![
                Grant::Own(org_r("ORGANIZATION_OWNER")),
                Grant::Team(org_r("ORGANIZATION_OWNER")),
                Grant::Team(ws("W2", "WORKSPACE_OWNER")),
            ],
            ("ORGANIZATION_OWNER", &["own", "team:T"]),
            vec![
                ("W1", "WORKSPACE_OWNER", &["organizationOwner"]),
                ("W2", "WORKSPACE_OWNER", &["organizationOwner", "team:T"]),
                ("W3", "WORKSPACE_OWNER", &["organizationOwner"]),
            ],
            vec![],
        ),
        // Accessor given outright and the lowest Workspace role: Accessor from the Team.
        (
            vec![Grant::Team(ws("W3", "WORKSPACE_ACCESSOR"))],
            ("ORGANIZATION_MEMBER", &["default"]),
            vec![("W3", "WORKSPACE_ACCESSOR", &["team:T"])],
            vec![],
        ),
    ];
    for (i, (grants, (org_role, org_sources), wss, deps)) in table.into_iter().enumerate() {
        let user = s.create_user(&format!("row{i}@access.test")).await;
        let uid = user["id"].as_str().unwrap().to_string();
        // One Team per row, named T in the expectations (its real name is unique).
        let team_name = format!("T{i}");
        let mut team = None;
        for g in grants {
            match g {
                Grant::Own(c) => {
                    access::set_user_role(&s.store, &actor(), org.pk, uid.clone(), c, now())
                        .await
                        .unwrap();
                }
                Grant::Team(c) => {
                    if team.is_none() {
                        team = Some(scim_team(&s, &team_name, &[&uid]).await);
                    }
                    teams::set_role(
                        &s.store,
                        &actor(),
                        org.pk,
                        team_name.clone(),
                        team_change(c),
                        now(),
                    )
                    .await
                    .unwrap();
                }
            }
        }
        let (_, e) = scimbox::directory::users::access(&s.store, org.pk, uid.clone())
            .await
            .unwrap();
        let fix = |mut v: Vec<Level>| {
            for l in &mut v {
                for src in &mut l.2 {
                    if *src == format!("team:{team_name}") {
                        *src = "team:T".into();
                    }
                }
                l.2.sort();
            }
            v
        };
        let got_org = fix(levels(std::slice::from_ref(&e.organization)));
        assert_eq!(
            got_org,
            want(&[("", org_role, org_sources)]),
            "row {i}: organization"
        );
        assert_eq!(
            fix(levels(&e.workspaces)),
            want(&wss),
            "row {i}: workspaces"
        );
        let got_deps: Vec<access::Entry> = e.deployments.iter().map(|d| d.entry.clone()).collect();
        assert_eq!(fix(levels(&got_deps)), want(&deps), "row {i}: deployments");
    }
}

#[tokio::test]
async fn the_access_extension_explains_each_role_and_stays_read_only() {
    let s = Server::start().await;
    let org = org(&s).await;
    landscape(&s, &org).await;
    let u = s.create_user("explained@access.test").await;
    let uid = u["id"].as_str().unwrap();
    scim_team(&s, "prod-admins", &[uid]).await;
    teams::set_role(
        &s.store,
        &actor(),
        org.pk,
        "prod-admins".into(),
        RoleChange::Deployment(
            "D3".into(),
            Some("W3".into()),
            Some("DEPLOYMENT_ADMIN".into()),
        ),
        now(),
    )
    .await
    .unwrap();
    let r = s
        .get(&format!("/Users/{uid}?attributes={ACCESS_URN}"))
        .await
        .json();
    let a = &r[ACCESS_URN];
    assert_eq!(a["organizationRole"], "ORGANIZATION_MEMBER");
    assert_eq!(a["organizationRoleSources"], json!(["default"]));
    assert_eq!(a["workspaceRoles"][0]["display"], "W3");
    assert_eq!(a["workspaceRoles"][0]["role"], "WORKSPACE_ACCESSOR");
    assert_eq!(a["workspaceRoles"][0]["sources"], json!(["implied:D3"]));
    assert_eq!(a["deploymentRoles"][0]["display"], "D3");
    assert_eq!(a["deploymentRoles"][0]["role"], "DEPLOYMENT_ADMIN");
    assert_eq!(
        a["deploymentRoles"][0]["sources"],
        json!(["team:prod-admins"])
    );
    // Every attribute sent is in the discovery schema, read-only, returned on request.
    let schema = s.get(&format!("/Schemas/{ACCESS_URN}")).await.json();
    let attrs = schema["attributes"].as_array().unwrap();
    for (name, value) in a.as_object().unwrap() {
        let attr = attrs
            .iter()
            .find(|x| x["name"] == *name)
            .unwrap_or_else(|| panic!("{name} is not in the schema"));
        assert_eq!(attr["mutability"], "readOnly", "{name}");
        assert_eq!(attr["returned"], "request", "{name}");
        if let Some(first) = value
            .as_array()
            .and_then(|v| v.first())
            .and_then(Value::as_object)
        {
            let subs = attr["subAttributes"].as_array().unwrap();
            for sub in first.keys() {
                let sa = subs
                    .iter()
                    .find(|x| x["name"] == *sub)
                    .unwrap_or_else(|| panic!("{name}.{sub} is not in the schema"));
                assert_eq!(sa["mutability"], "readOnly", "{name}.{sub}");
            }
        }
    }
    let roles = attrs
        .iter()
        .find(|x| x["name"] == "organizationRole")
        .unwrap();
    assert_eq!(roles["canonicalValues"].as_array().unwrap().len(), 5);
    // The Team extension shows the Deployment role in the template.
    let g = s
        .get(&format!("/Groups?attributes={TEAM_URN}"))
        .await
        .json();
    let t = &g["Resources"][0][TEAM_URN];
    assert_eq!(t["deploymentRoles"][0]["role"], "DEPLOYMENT_ADMIN", "{g}");
    // Writing the extension over SCIM is refused (roles are never set by the IdP).
    let r = s
        .patch(
            &format!("/Users/{uid}"),
            &patch_op(json!([{"op":"replace",
                "path": format!("{ACCESS_URN}:organizationRole"), "value": "ORGANIZATION_OWNER"}])),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn bad_access_input_is_refused_naming_the_bad_value() {
    let s = Server::start().await;
    let org = org(&s).await;
    landscape(&s, &org).await;
    let u = s.create_user("bad@access.test").await;
    let uid = u["id"].as_str().unwrap().to_string();
    scim_team(&s, "bad-team", &[&uid]).await;
    let who = actor();
    let set = |c: RoleChange| teams::set_role(&s.store, &who, org.pk, "bad-team".into(), c, now());
    let msg = |e: Result<_, Error>| match e {
        Err(Error::InvalidValue(d)) | Err(Error::NotFound(d)) => d,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let d = msg(set(RoleChange::Organization("ORGANIZATION_GOD".into()))
        .await
        .map(|_| ()));
    assert!(
        d.contains("ORGANIZATION_GOD") && d.contains("ORGANIZATION_OBSERVE_ADMIN"),
        "{d}"
    );
    let d = msg(set(RoleChange::Workspace(
        "W1".into(),
        Some("WORKSPACE_BOSS".into()),
    ))
    .await
    .map(|_| ()));
    assert!(
        d.contains("WORKSPACE_BOSS") && d.contains("WORKSPACE_ACCESSOR"),
        "{d}"
    );
    // A Deployment of another Workspace.
    let d = msg(set(RoleChange::Deployment(
        "D1".into(),
        Some("W2".into()),
        Some("DEPLOYMENT_ADMIN".into()),
    ))
    .await
    .map(|_| ()));
    assert!(
        d.contains("D1") && d.contains("W1") && d.contains("W2"),
        "{d}"
    );
    let d = msg(set(RoleChange::Deployment(
        "D9".into(),
        None,
        Some("DEPLOYMENT_ADMIN".into()),
    ))
    .await
    .map(|_| ()));
    assert!(d.contains("D9"), "{d}");
    let d = msg(set(RoleChange::Deployment(
        "D1".into(),
        None,
        Some("Viewr".into()),
    ))
    .await
    .map(|_| ()));
    assert!(d.contains("Viewr") && d.contains("Viewer"), "{d}");
    // A custom role with an unknown permission, or a built-in name.
    let d = msg(access::create_custom_role(
        &s.store,
        &actor(),
        org.pk,
        "Runner".into(),
        vec!["deployment.get".into(), "deployment.fly".into()],
        now(),
    )
    .await
    .map(|_| ()));
    assert!(d.contains("deployment.fly"), "{d}");
    let d = msg(access::create_custom_role(
        &s.store,
        &actor(),
        org.pk,
        "DEPLOYMENT_ADMIN".into(),
        vec!["deployment.get".into()],
        now(),
    )
    .await
    .map(|_| ()));
    assert!(d.contains("DEPLOYMENT_ADMIN"), "{d}");
    // A custom role still given cannot be deleted.
    set(RoleChange::Deployment(
        "D1".into(),
        None,
        Some("Viewer".into()),
    ))
    .await
    .unwrap();
    let d =
        msg(access::delete_custom_role(&s.store, &actor(), org.pk, "Viewer".into(), now()).await);
    assert!(d.contains("Viewer"), "{d}");
    // Deleting the Deployment takes its roles along, after which the role can go.
    access::delete_deployment(&s.store, &actor(), org.pk, "W1".into(), "D1".into(), now())
        .await
        .unwrap();
    access::delete_custom_role(&s.store, &actor(), org.pk, "Viewer".into(), now())
        .await
        .unwrap();
    // Bad rules and bad ranges.
    let rule = |name: &str, kind: &str, value: &str| {
        rules::create(
            &s.store,
            &who,
            org.pk,
            name.into(),
            kind.into(),
            value.into(),
            Template {
                workspaces: vec![("W2".into(), "WORKSPACE_MEMBER".into())],
                ..Template::default()
            },
            now(),
        )
    };
    let d = msg(rule("r1", "regex", "x").await.map(|_| ()));
    assert!(d.contains("regex"), "{d}");
    let d = msg(rule("r1", "pattern", "astro-[ab]").await.map(|_| ()));
    assert!(d.contains("astro-[ab]"), "{d}");
    rule("prod", "prefix", "astro-prod-").await.unwrap();
    let d = msg(rule("any-admins", "pattern", "astro-*-admins")
        .await
        .map(|_| ()));
    assert!(d.contains("astro-*-admins") && d.contains("prod"), "{d}");
    rule("dev", "prefix", "astro-dev-").await.unwrap();
    let d = msg(rules::create(
        &s.store,
        &actor(),
        org.pk,
        "nothing".into(),
        "exact".into(),
        "x".into(),
        Template::default(),
        now(),
    )
    .await
    .map(|_| ()));
    assert!(d.contains("at least one role"), "{d}");
    let spec = scimbox::directory::orgs::TokenSpec {
        name: "ranged".into(),
        allow: vec!["10.0.0.0/8".into(), "10.1.2.3/33".into()],
        ..Default::default()
    };
    let e =
        scimbox::directory::orgs::create_token_with(&s.store, &actor(), &org, spec, now()).await;
    let d = msg(e.map(|_| ()));
    assert!(d.contains("10.1.2.3/33"), "{d}");
}

/// Okta Group Push (lookup, create, then members by PATCH) and Entra's group create both give
/// the pushed Team its rule's template, audited, and the Team shows which rule.
#[tokio::test]
async fn role_rules_give_pushed_teams_their_template() {
    let s = Server::start().await;
    let org = org(&s).await;
    for w in ["Prod", "Dev"] {
        teams::create_workspace(&s.store, &actor(), org.pk, w.into(), now())
            .await
            .unwrap();
    }
    access::create_deployment(
        &s.store,
        &actor(),
        org.pk,
        "Prod".into(),
        "prod-etl".into(),
        now(),
    )
    .await
    .unwrap();
    let who = actor();
    let mk = |name: &str, kind: &str, value: &str, t: Template| {
        rules::create(
            &s.store,
            &who,
            org.pk,
            name.into(),
            kind.into(),
            value.into(),
            t,
            now(),
        )
    };
    mk(
        "prod-admins",
        "exact",
        "astro-prod-admins",
        Template {
            workspaces: vec![("Prod".into(), "WORKSPACE_OPERATOR".into())],
            deployments: vec![("prod-etl".into(), "DEPLOYMENT_ADMIN".into())],
            ..Template::default()
        },
    )
    .await
    .unwrap();
    mk(
        "dev",
        "prefix",
        "astro-dev-",
        Template {
            workspaces: vec![("Dev".into(), "WORKSPACE_AUTHOR".into())],
            ..Template::default()
        },
    )
    .await
    .unwrap();
    mk(
        "owners",
        "pattern",
        "sg-*-owners",
        Template {
            organization: Some("ORGANIZATION_BILLING_ADMIN".into()),
            ..Template::default()
        },
    )
    .await
    .unwrap();
    // Okta: lookup by displayName, create with an empty member list, then add members.
    let user = s.create_user("pushed@access.test").await;
    let uid = user["id"].as_str().unwrap();
    let r = s
        .get("/Groups?filter=displayName%20eq%20%22astro-prod-admins%22&startIndex=1&count=100")
        .await;
    assert_eq!(r.json()["totalResults"], 0);
    let r = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName":"astro-prod-admins","members":[]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op":"add","path":"members",
                "value":[{"value": uid, "display": "pushed@access.test"}]}])),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let (_, e) = scimbox::directory::users::access(&s.store, org.pk, uid.into())
        .await
        .unwrap();
    assert_eq!(e.workspaces[0].name, "Prod");
    assert_eq!(e.workspaces[0].role, "WORKSPACE_OPERATOR");
    assert_eq!(e.workspaces[0].sources[0].label(), "team:astro-prod-admins");
    assert_eq!(e.deployments[0].entry.role, "DEPLOYMENT_ADMIN");
    // The Team shows the rule (admin view) and its template (SCIM extension).
    let rule = s
        .store
        .read({
            let (gid, org_pk) = (gid.clone(), org.pk);
            move |conn| {
                let t = scimbox::store::teams::get(conn, org_pk, &gid)?.unwrap();
                scimbox::store::access::team_rule(conn, t.pk)
            }
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rule.1.as_deref(), Some("prod-admins"));
    let g = s
        .get(&format!("/Groups/{gid}?attributes={TEAM_URN}"))
        .await
        .json();
    assert_eq!(
        g[TEAM_URN]["workspaceRoles"][0]["role"],
        "WORKSPACE_OPERATOR"
    );
    // Audited with before and after.
    let audit = s
        .store
        .read({
            let (gid, org_pk) = (gid.clone(), org.pk);
            move |conn| scimbox::store::audit::list(conn, org_pk, Some(&gid), 20)
        })
        .await
        .unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "rule")
        .expect("a rule audit entry");
    assert!(entry.actor.starts_with("token:"), "{entry:?}");
    assert!(entry.reason.as_deref().unwrap().contains("prod-admins"));
    let before: Value = serde_json::from_str(entry.before.as_deref().unwrap()).unwrap();
    let after: Value = serde_json::from_str(entry.after.as_deref().unwrap()).unwrap();
    assert_eq!(before["workspaceRoles"], json!([]));
    assert_eq!(after["rule"]["name"], "prod-admins");
    assert_eq!(after["deploymentRoles"][0]["role"], "DEPLOYMENT_ADMIN");
    // Entra: both schemas, an externalId and meta on create.
    let r = s
        .post(
            "/Groups",
            &json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                    "externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                    "displayName":"SG-Data-Owners","meta":{"resourceType":"Group"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let eid = r.json()["id"].as_str().unwrap().to_string();
    let g = s
        .get(&format!("/Groups/{eid}?attributes={TEAM_URN}"))
        .await
        .json();
    assert_eq!(
        g[TEAM_URN]["organizationRole"],
        "ORGANIZATION_BILLING_ADMIN"
    );
    // A prefix rule, and a Team no rule matches.
    let did = scim_team(&s, "astro-dev-etl", &[]).await;
    let g = s
        .get(&format!("/Groups/{did}?attributes={TEAM_URN}"))
        .await
        .json();
    assert_eq!(g[TEAM_URN]["workspaceRoles"][0]["role"], "WORKSPACE_AUTHOR");
    let nid = scim_team(&s, "marketing", &[]).await;
    let g = s
        .get(&format!("/Groups/{nid}?attributes={TEAM_URN}"))
        .await
        .json();
    assert_eq!(g[TEAM_URN]["organizationRole"], "ORGANIZATION_MEMBER");
    assert_eq!(g[TEAM_URN]["workspaceRoles"], json!([]));
    // Testing a name says which rule it would get.
    let hit = rules::test(&s.store, org.pk, "ASTRO-DEV-x".into())
        .await
        .unwrap();
    assert_eq!(hit.unwrap().name, "dev");
    assert!(
        rules::test(&s.store, org.pk, "astro-qa".into())
            .await
            .unwrap()
            .is_none()
    );
}

async fn status_with(s: &Server, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    s.raw(
        "GET",
        &format!("{}/Users?count=1", s.base()),
        &[("authorization", &auth)],
        None,
    )
    .await
    .status
}

#[tokio::test]
async fn a_rotated_token_refuses_its_old_secret_at_once_or_after_its_grace() {
    let s = Server::start().await;
    let org = org(&s).await;
    let (_, old) =
        scimbox::directory::orgs::create_token(&s.store, &actor(), &org, "rot".into(), None, now())
            .await
            .unwrap();
    let old = old.expose().to_string();
    assert_eq!(status_with(&s, &old).await, 200);
    // No grace: the old secret is refused from the next request (it was cached as good).
    let (_, new) = scimbox::directory::tokens::rotate(
        &s.store,
        &actor(),
        &org,
        "rot".into(),
        0,
        scimbox::clock::now(),
    )
    .await
    .unwrap();
    let new = new.expose().to_string();
    assert_ne!(new, old);
    assert_eq!(new.get(..21), old.get(..21), "same token id");
    assert_eq!(status_with(&s, &old).await, 401);
    assert_eq!(status_with(&s, &new).await, 200);
    // With a grace period, the old secret keeps working until its end...
    let (_, newer) = scimbox::directory::tokens::rotate(
        &s.store,
        &actor(),
        &org,
        "rot".into(),
        3600,
        scimbox::clock::now(),
    )
    .await
    .unwrap();
    let newer = newer.expose().to_string();
    assert_eq!(status_with(&s, &new).await, 200);
    assert_eq!(status_with(&s, &newer).await, 200);
    // ...and not after: a rotation two minutes ago with a one-minute grace has run out.
    let past = scimbox::clock::now() - time::Duration::seconds(120);
    let (_, newest) =
        scimbox::directory::tokens::rotate(&s.store, &actor(), &org, "rot".into(), 60, past)
            .await
            .unwrap();
    assert_eq!(status_with(&s, &newer).await, 401);
    assert_eq!(status_with(&s, newest.expose()).await, 200);
    // More than a day of grace, or an unknown token, is refused.
    let e = scimbox::directory::tokens::rotate(
        &s.store,
        &actor(),
        &org,
        "rot".into(),
        86_401,
        scimbox::clock::now(),
    )
    .await;
    assert!(
        matches!(e, Err(Error::InvalidValue(ref d)) if d.contains("24h")),
        "{:?}",
        e.err()
    );
    let e = scimbox::directory::tokens::rotate(
        &s.store,
        &actor(),
        &org,
        "nope".into(),
        0,
        scimbox::clock::now(),
    )
    .await;
    assert!(matches!(e, Err(Error::NotFound(ref d)) if d.contains("nope")));
    // The rotations are audited.
    let audit = s
        .store
        .read(move |conn| scimbox::store::audit::list(conn, org.pk, None, 50))
        .await
        .unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "rotate").count(), 3);
}

async fn ranged_token(s: &Server, name: &str, allow: &[&str]) -> String {
    let org = org(s).await;
    let spec = scimbox::directory::orgs::TokenSpec {
        name: name.into(),
        description: Some(format!("{name} from {allow:?}")),
        allow: allow.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    let (_, t) = scimbox::directory::orgs::create_token_with(&s.store, &actor(), &org, spec, now())
        .await
        .unwrap();
    t.expose().to_string()
}

async fn last_source(s: &Server, name: &str) -> Option<String> {
    let org = org(s).await;
    // The use is recorded off the request path; wait for it, boundedly.
    for _ in 0..200 {
        let list = scimbox::directory::orgs::list_tokens(&s.store, &org)
            .await
            .unwrap();
        if let Some(src) = list
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.last_source.clone())
        {
            return Some(src);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

async fn refused_metric(s: &Server) -> u64 {
    let m = scimbox::http::metrics_reply(&s.app).await;
    let text = m.body.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("scimbox_token_source_refused_total "))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn tokens_limited_to_ranges_refuse_other_ipv4_sources_and_count_them() {
    let s = Server::start().await;
    let local = ranged_token(&s, "loopback", &["127.0.0.0/8"]).await;
    let elsewhere = ranged_token(&s, "office", &["203.0.113.0/24", "2001:db8::/32"]).await;
    let v6_only = ranged_token(&s, "v6", &["::1"]).await;
    assert_eq!(status_with(&s, &local).await, 200);
    assert_eq!(
        last_source(&s, "loopback").await.as_deref(),
        Some("127.0.0.1")
    );
    let before = refused_metric(&s).await;
    let r = s
        .raw(
            "GET",
            &format!("{}/Users", s.base()),
            &[("authorization", &format!("Bearer {elsewhere}"))],
            None,
        )
        .await;
    r.assert_error(401, None);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(status_with(&s, &v6_only).await, 401);
    // Refused again from the cache: still refused, still counted.
    assert_eq!(status_with(&s, &elsewhere).await, 401);
    assert_eq!(refused_metric(&s).await, before + 3);
    // A forwarded-for header is not trusted: the socket's address decides.
    let r = s
        .raw(
            "GET",
            &format!("{}/Users", s.base()),
            &[
                ("authorization", &format!("Bearer {elsewhere}")),
                ("x-forwarded-for", "203.0.113.7"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn tokens_limited_to_ranges_work_on_ipv6() {
    let s = Server::start_opts(Opts {
        bind: Some("[::1]:0"),
        ..Opts::default()
    })
    .await;
    assert!(s.addr.is_ipv6());
    let v6 = ranged_token(&s, "v6", &["::1/128"]).await;
    let v4 = ranged_token(&s, "v4", &["127.0.0.1/32"]).await;
    let doc = ranged_token(&s, "doc", &["2001:db8::/32"]).await;
    assert_eq!(status_with(&s, &v6).await, 200);
    assert_eq!(last_source(&s, "v6").await.as_deref(), Some("::1"));
    assert_eq!(status_with(&s, &v4).await, 401);
    assert_eq!(status_with(&s, &doc).await, 401);
    assert_eq!(refused_metric(&s).await, 2);
}

#[tokio::test]
async fn deactivating_the_last_owner_is_allowed_and_flagged() {
    let s = Server::start().await;
    let org = org(&s).await;
    let a = s.create_user("owner-a@access.test").await;
    let b = s.create_user("owner-b@access.test").await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    // A is an Owner itself, B through a Team.
    access::set_user_role(
        &s.store,
        &actor(),
        org.pk,
        aid.into(),
        org_r("ORGANIZATION_OWNER"),
        now(),
    )
    .await
    .unwrap();
    let tid = scim_team(&s, "owners", &[bid]).await;
    teams::set_role(
        &s.store,
        &actor(),
        org.pk,
        "owners".into(),
        RoleChange::Organization("ORGANIZATION_OWNER".into()),
        now(),
    )
    .await
    .unwrap();
    let flags = || async {
        s.store
            .read(move |conn| scimbox::store::audit::list(conn, org.pk, None, 100))
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "last-owner")
            .collect::<Vec<_>>()
    };
    // Deactivating A leaves B: nothing flagged.
    let r = s
        .patch(
            &format!("/Users/{aid}"),
            &patch_op(json!([{"op":"replace","value":{"active":false}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(flags().await.is_empty());
    // The IdP removing B from the Owners' Team removes the last Owner: done, and flagged.
    let r = s
        .patch(
            &format!("/Groups/{tid}"),
            &patch_op(json!([{"op":"remove","path":format!("members[value eq \"{bid}\"]")}])),
        )
        .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let f = flags().await;
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].actor.starts_with("token:"));
    assert_eq!(f[0].resource_id, s.org_id);
    assert!(
        f[0].after.as_deref().unwrap().contains("owners"),
        "{:?}",
        f[0]
    );
    // The admin API shows it while no Owner is back.
    let warn = access_owner_warning(&s, &org).await;
    assert_eq!(warn["activeOwner"], false);
    assert!(warn["flag"]["at"].is_string(), "{warn}");
    let r = s
        .patch(
            &format!("/Users/{aid}"),
            &patch_op(json!([{"op":"replace","value":{"active":true}}])),
        )
        .await;
    assert_eq!(r.status, 200);
    let warn = access_owner_warning(&s, &org).await;
    assert_eq!(warn["activeOwner"], true);
    // Deleting the last Owner is flagged too.
    assert_eq!(s.delete(&format!("/Users/{aid}")).await.status, 204);
    assert_eq!(flags().await.len(), 2);
}

async fn access_owner_warning(s: &Server, org: &Org) -> Value {
    scimbox::directory::guard::warning(&s.store, org.pk)
        .await
        .unwrap()
}
