//! Declared schema extensions (issue 21): declaration, discovery, values through every SCIM
//! operation, the undeclared-attribute marker, removal rules, bad files, export and import.

use crate::cli::BIN;
use crate::common::{Server, actor, now, patch_op};
use serde_json::{Value, json};
use std::process::Command;

const URN: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

fn custom() -> Value {
    json!({
        "id": URN,
        "name": "CustomExtensionName",
        "description": "What the app maps from Entra",
        "attributes": [
            {"name": "costCenter", "type": "string"},
            {"name": "employeeCode", "type": "string", "caseExact": true, "uniqueness": "server"},
            {"name": "tier", "type": "string", "canonicalValues": ["gold", "silver"]},
            {"name": "seats", "type": "integer"},
            {"name": "hired", "type": "dateTime"},
            {"name": "internal", "type": "string", "returned": "request"},
            {"name": "pin", "type": "string", "returned": "never"},
            {"name": "badges", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "type", "type": "string"}]}
        ]
    })
}

async fn declare(s: &Server, schema: &Value) {
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    scimbox::directory::schemas::add(
        &s.store,
        &actor(),
        org.pk,
        schema.to_string(),
        "User".into(),
        now(),
    )
    .await
    .unwrap();
}

fn user(name: &str, ext: Value) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", URN],
        "userName": name,
        URN: ext,
    })
}

#[tokio::test]
async fn without_declarations_discovery_is_unchanged_and_a_declared_extension_is_published() {
    let s = Server::start().await;
    let before = s.get("/Schemas").await.json();
    assert_eq!(before["totalResults"], 5);
    let rt = s.get("/ResourceTypes/User").await.json();
    assert_eq!(rt["schemaExtensions"].as_array().unwrap().len(), 2);
    declare(&s, &custom()).await;
    let after = s.get("/Schemas").await.json();
    assert_eq!(after["totalResults"], 6);
    let one = s.get(&format!("/Schemas/{URN}")).await;
    assert_eq!(one.status, 200, "{}", one.text);
    let one = one.json();
    assert_eq!(one["attributes"][0]["name"], "costCenter");
    assert_eq!(one["attributes"][0]["mutability"], "readWrite");
    assert_eq!(one["attributes"][7]["subAttributes"][1]["name"], "type");
    let rt = s.get("/ResourceTypes/User").await.json();
    let exts = rt["schemaExtensions"].as_array().unwrap();
    assert_eq!(exts[2], json!({"schema": URN, "required": false}));
    // Another organization of the same server publishes nothing new.
    let (other, token) = s.other_org("other").await;
    let url = format!("http://{}/scim/v2/{other}/Schemas", s.addr);
    let auth = format!("Bearer {token}");
    let r = s.raw("GET", &url, &[("authorization", &auth)], None).await;
    assert_eq!(r.json()["totalResults"], 5);
}

#[tokio::test]
async fn a_required_attribute_makes_the_extension_required() {
    let s = Server::start().await;
    declare(
        &s,
        &json!({"id": "urn:example:req:2.0:User",
                "attributes": [{"name": "region", "type": "string", "required": true}]}),
    )
    .await;
    let rt = s.get("/ResourceTypes/User").await.json();
    assert_eq!(rt["schemaExtensions"][2]["required"], true);
    let r = s.post("/Users", &json!({"userName": "noregion"})).await;
    let e = r.assert_error(400, Some("invalidValue"));
    assert!(
        e["detail"].as_str().unwrap().contains("region is required"),
        "{e}"
    );
    let r = s
        .post(
            "/Users",
            &json!({"userName": "withregion", "urn:example:req:2.0:User": {"region": "eu"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn declared_values_are_stored_validated_and_returned_per_returned() {
    let s = Server::start().await;
    declare(&s, &custom()).await;
    let r = s
        .post(
            "/Users",
            &user(
                "ada@example.com",
                json!({"costCenter": "CC-1", "tier": "Gold", "seats": 3, "internal": "x",
                       "pin": "1234", "hired": "2024-01-02T03:04:05Z",
                       "badges": [{"value": "b1", "type": "door"}], "unknownOne": 1}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(v[URN]["costCenter"], "CC-1");
    assert_eq!(v[URN]["seats"], 3);
    assert!(v[URN].get("internal").is_none(), "returned: request: {v}");
    assert!(v[URN].get("pin").is_none(), "returned: never: {v}");
    assert!(v[URN].get("unknownOne").is_none());
    assert!(v["schemas"].as_array().unwrap().contains(&json!(URN)));
    let id = v["id"].as_str().unwrap();
    let got = s
        .get(&format!("/Users/{id}?attributes={URN}:internal"))
        .await
        .json();
    assert_eq!(got[URN]["internal"], "x");
    assert!(got.get("userName").is_none());
    let got = s
        .get(&format!("/Users/{id}?excludedAttributes={URN}:costCenter"))
        .await
        .json();
    assert!(got[URN].get("costCenter").is_none());
    assert_eq!(got[URN]["seats"], 3);
    // Wrong types and values outside canonicalValues name the attribute.
    for (ext, what) in [
        (json!({"seats": "three"}), "seats must be an integer"),
        (json!({"costCenter": 5}), "costCenter must be a string"),
        (
            json!({"tier": "bronze"}),
            "tier must be one of gold, silver",
        ),
        (json!({"hired": "yesterday"}), "hired must be an RFC 3339"),
        (json!({"badges": [true]}), "badges.value must be a string"),
    ] {
        let r = s.post("/Users", &user("bad@example.com", ext)).await;
        let e = r.assert_error(400, Some("invalidValue"));
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(what) && detail.contains(URN), "{detail}");
    }
}

#[tokio::test]
async fn replace_and_patch_by_urn_path_including_entras_pathless_form() {
    let s = Server::start().await;
    declare(&s, &custom()).await;
    let v = s
        .post(
            "/Users",
            &user("grace@example.com", json!({"costCenter": "A"})),
        )
        .await
        .json();
    let id = v["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    // PUT replaces the extension's values.
    let r = s
        .put(
            &path,
            &user("grace@example.com", json!({"costCenter": "B", "seats": 2})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()[URN], json!({"costCenter": "B", "seats": 2}));
    // Legacy Entra: one op per attribute, URN path.
    let r = s
        .patch(
            &path,
            &patch_op(
                json!([{"op": "Replace", "path": format!("{URN}:costCenter"), "value": "C"}]),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()[URN]["costCenter"], "C");
    // Entra with ?aadOptscim062020: a path-less replace whose keys are URN paths.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "value": {
                "displayName": "Grace",
                format!("{URN}:costCenter"): "D",
                format!("{URN}:tier"): "silver"}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        (v[URN]["costCenter"].clone(), v[URN]["tier"].clone()),
        (json!("D"), json!("silver"))
    );
    assert_eq!(v["displayName"], "Grace");
    // Value paths into a multi-valued complex attribute.
    let r = s
        .patch(
            &path,
            &patch_op(json!([
                {"op": "add", "path": format!("{URN}:badges"), "value": [{"value": "b1", "type": "door"}, {"value": "b2", "type": "desk"}]},
                {"op": "replace", "path": format!("{URN}:badges[type eq \"desk\"].value"), "value": "b3"}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()[URN]["badges"][1],
        json!({"value": "b3", "type": "desk"})
    );
    // A wrong type through PATCH is invalidValue naming the attribute.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": format!("{URN}:seats"), "value": "x"}])),
        )
        .await;
    let e = r.assert_error(400, Some("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("seats"), "{e}");
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op": "remove", "path": format!("{URN}:costCenter")}])),
        )
        .await;
    assert!(r.json()[URN].get("costCenter").is_none());
}

#[tokio::test]
async fn declared_attributes_filter_and_sort_like_core_ones() {
    let s = Server::start().await;
    declare(&s, &custom()).await;
    for (name, cc, seats, code) in [
        ("u1@x.io", "Sales", 5, "E1"),
        ("u2@x.io", "sales", 2, "E2"),
        ("u3@x.io", "Ops", 9, "E3"),
    ] {
        let r = s
            .post(
                "/Users",
                &user(
                    name,
                    json!({"costCenter": cc, "seats": seats, "employeeCode": code,
                "badges": [{"value": format!("{name}-badge"), "type": "door"}]}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    s.create_user("plain@x.io").await;
    let names = |v: Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap().to_string())
            .collect()
    };
    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    // eq is case-insensitive (caseExact false), like userName.
    let v = s
        .get(&q(&format!("{URN}:costCenter eq \"SALES\"")))
        .await
        .json();
    assert_eq!(names(v), ["u1@x.io", "u2@x.io"]);
    // caseExact true compares exactly.
    let v = s
        .get(&q(&format!("{URN}:employeeCode eq \"e1\"")))
        .await
        .json();
    assert_eq!(v["totalResults"], 0);
    let v = s
        .get(&q(&format!("{URN}:employeeCode eq \"E1\"")))
        .await
        .json();
    assert_eq!(names(v), ["u1@x.io"]);
    let v = s
        .get(&q(&format!(
            "{URN}:seats gt 3 and {URN}:costCenter sw \"s\""
        )))
        .await
        .json();
    assert_eq!(names(v), ["u1@x.io"]);
    let v = s
        .get(&q(&format!("not ({URN}:costCenter pr)")))
        .await
        .json();
    assert_eq!(names(v), ["plain@x.io"]);
    let v = s
        .get(&q(&format!(
            "{URN}:badges[type eq \"door\" and value co \"u3\"]"
        )))
        .await
        .json();
    assert_eq!(names(v), ["u3@x.io"]);
    let v = s
        .get(&q(&format!("{URN}:badges.value eq \"u2@x.io-badge\"")))
        .await
        .json();
    assert_eq!(names(v), ["u2@x.io"]);
    let r = s.get(&q(&format!("{URN}:seats eq \"many\""))).await;
    r.assert_error(400, Some("invalidFilter"));
    let r = s.get(&q(&format!("{URN}:pin eq \"1\""))).await;
    r.assert_error(400, Some("invalidFilter"));
    let v = s
        .get(&format!("/Users?sortBy={URN}:seats&sortOrder=descending"))
        .await
        .json();
    // Absent values sort first when descending (RFC 7644 §3.4.2.3), as for core attributes.
    assert_eq!(names(v), ["plain@x.io", "u3@x.io", "u1@x.io", "u2@x.io"]);
    // uniqueness: server within the organization.
    let r = s
        .post("/Users", &user("u4@x.io", json!({"employeeCode": "E2"})))
        .await;
    let e = r.assert_error(409, Some("uniqueness"));
    assert!(
        e["detail"].as_str().unwrap().contains("employeeCode"),
        "{e}"
    );
    let (other, token) = s.other_org("other").await;
    let auth = format!("Bearer {token}");
    let url = format!("http://{}/scim/v2/{other}/Users", s.addr);
    let body = serde_json::to_vec(&user("u4@x.io", json!({"employeeCode": "E2"}))).unwrap();
    let r = s
        .raw(
            "POST",
            &url,
            &[
                ("authorization", &auth),
                ("content-type", "application/scim+json"),
            ],
            Some(body),
        )
        .await;
    // Not declared there: accepted, and the values dropped.
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json().get(URN).is_none());
}

#[test]
fn an_eq_lookup_on_a_declared_attribute_is_an_index_seek() {
    let dir = tempfile::tempdir().unwrap();
    let store = scimbox::store::Store::open(&dir.path().join("t.db"), &Default::default()).unwrap();
    let sql = store
        .read_blocking(|conn| {
            let d = scimbox::model::declared::parse(&custom().to_string(), "User").unwrap();
            let schema = scimbox::model::declared::schema(&d.text).unwrap();
            let rt = scimbox::model::declared::resource_type(
                &scimbox::model::schema::USER_TYPE,
                &[(schema, false)],
            );
            let f =
                scimbox::scim::filter::parse_filter(&format!("{URN}:costCenter eq \"x\"")).unwrap();
            let c = scimbox::store::filter_sql::compile_users_in(rt, &f).unwrap();
            let values: Vec<scimbox::store::sql::Value> =
                std::iter::once(scimbox::store::sql::Value::Integer(1))
                    .chain(c.params)
                    .collect();
            let plan: Vec<String> = conn.query_map(
                &format!(
                    "EXPLAIN QUERY PLAN SELECT u.pk FROM users u WHERE u.org_pk = ?1 AND ({})",
                    c.sql
                ),
                &scimbox::store::sql::param_list(&values),
                |r| r.get::<String>(3),
            )?;
            Ok(plan.join("\n"))
        })
        .unwrap();
    assert!(sql.contains("declared_values_value"), "{sql}");
    assert!(!sql.contains("SCAN u"), "{sql}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn undeclared_attributes_are_dropped_and_marked_for_the_inspector_and_the_console() {
    let s = Server::start().await;
    let r = s
        .post(
            "/Users",
            &user("entra@example.com", json!({"costCenter": "CC-9"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.json().get(URN).is_none(),
        "undeclared values are not kept"
    );
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "value": {format!("{URN}:costCenter"): "CC-10"}}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let inspector = &s.app.admin.inspector;
    let all = |limit| scimbox::store::requests::Search {
        limit,
        ..Default::default()
    };
    let (_, recs) = inspector.list(&s.store, &s.org_id, all(10)).await.unwrap();
    let path = format!("{URN}:costCenter");
    assert_eq!(recs[0].dropped, std::slice::from_ref(&path));
    assert_eq!(recs[1].dropped, std::slice::from_ref(&path));
    let counted = inspector.undeclared(&s.org_id);
    assert_eq!(
        (counted[0].path.as_str(), counted[0].count),
        (path.as_str(), 2)
    );
    // Once declared, nothing is dropped.
    declare(&s, &custom()).await;
    let r = s
        .post(
            "/Users",
            &user("entra2@example.com", json!({"costCenter": "CC-9"})),
        )
        .await;
    assert_eq!(r.json()[URN]["costCenter"], "CC-9");
    let (_, recs) = inspector.list(&s.store, &s.org_id, all(1)).await.unwrap();
    assert!(recs[0].dropped.is_empty());
    // The admin API's request rows carry it too, beside the console's fields.
    let a = crate::admin::sign_in(&s).await;
    let listed = a.get(&a.org("/requests?limit=3")).await.json();
    let rows = listed["requests"].as_array().unwrap();
    assert_eq!(rows[0]["dropped"], json!([]));
    assert_eq!(rows[1]["dropped"], json!([path]));
    assert_eq!(rows[1]["method"], "PATCH");
    assert_eq!(rows[1]["resourceId"], json!(id));
}

#[tokio::test]
async fn removal_is_refused_while_values_exist_and_force_drops_them_with_an_audit_entry() {
    let s = Server::start().await;
    declare(&s, &custom()).await;
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    let v = s
        .post("/Users", &user("r@example.com", json!({"costCenter": "X"})))
        .await
        .json();
    let id = v["id"].as_str().unwrap().to_string();
    let err =
        scimbox::directory::schemas::remove(&s.store, &actor(), org.pk, URN.into(), false, now())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("1 Users carry values"), "{err}");
    assert_eq!(s.get("/Schemas").await.json()["totalResults"], 6);
    let n =
        scimbox::directory::schemas::remove(&s.store, &actor(), org.pk, URN.into(), true, now())
            .await
            .unwrap();
    assert_eq!(n, 1);
    let got = s.get(&format!("/Users/{id}")).await.json();
    assert!(got.get(URN).is_none(), "{got}");
    assert!(!got["schemas"].as_array().unwrap().contains(&json!(URN)));
    assert_eq!(s.get("/Schemas").await.json()["totalResults"], 5);
    let filter = scimbox::store::audit::Filter {
        resource_type: Some("Schema".into()),
        ..Default::default()
    };
    let audit = scimbox::directory::orgs::audit_page(&s.store, org.pk, filter, None, 10)
        .await
        .unwrap()
        .rows;
    assert_eq!(audit[0].action, "delete");
    assert!(
        audit[0]
            .after
            .as_deref()
            .unwrap_or("")
            .contains("dropped the values of 1 Users")
    );
    // Declared again: the old values are gone for good, and the filter index too.
    declare(&s, &custom()).await;
    let f = urlencode(&format!("{URN}:costCenter eq \"X\""));
    assert_eq!(
        s.get(&format!("/Users?filter={f}")).await.json()["totalResults"],
        0
    );
}

fn run(db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_cli_declares_lists_shows_and_removes_and_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (code, org, _) = run(&db, &["org", "create", "acme"]);
    assert_eq!(code, 0);
    let org = org.split_whitespace().next().unwrap().to_string();
    let file = dir.path().join("ext.json");
    let bad = [
        ("{", "not valid JSON"),
        (
            r#"{"id":"urn:ietf:params:scim:schemas:core:2.0:User","attributes":[{"name":"a","type":"string"}]}"#,
            "id: urn:ietf:params:scim:schemas:core:2.0:User is a schema scimbox defines",
        ),
        (
            r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"text"}]}"#,
            "attributes[0].type: unknown type",
        ),
        (
            r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"string","subAttributes":[{"name":"b","type":"string"}]}]}"#,
            "attributes[0].subAttributes",
        ),
    ];
    for (text, want) in bad {
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = run(
            &db,
            &["schema", "add", "--org", &org, file.to_str().unwrap()],
        );
        assert_eq!(code, 1, "{text}: {out} {err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let (_, out, _) = run(&db, &["schema", "list", "--org", &org]);
    assert_eq!(out.lines().count(), 1, "nothing was declared: {out}");
    std::fs::write(&file, custom().to_string()).unwrap();
    let (code, out, err) = run(
        &db,
        &["schema", "add", "--org", &org, file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), URN);
    let (code, _, err) = run(
        &db,
        &["schema", "add", "--org", &org, file.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(err.contains("already declared"), "{err}");
    let (code, _, err) = run(
        &db,
        &[
            "schema",
            "add",
            "--org",
            &org,
            "--resource-type",
            "Workspace",
            file.to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0, "{err}");
    let (_, out, _) = run(&db, &["schema", "list", "--org", &org]);
    assert!(out.contains(URN) && out.contains("User"), "{out}");
    let (code, out, _) = run(&db, &["schema", "show", "--org", &org, URN]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["attributes"][0]["name"], "costCenter");
    let (code, out, _) = run(&db, &["schema", "remove", "--org", &org, URN]);
    assert_eq!((code, out.trim()), (0, format!("removed {URN}").as_str()));
    let (code, _, err) = run(&db, &["schema", "show", "--org", &org, URN]);
    assert_eq!(code, 1);
    assert!(err.contains("no schema"), "{err}");
}

#[tokio::test]
async fn export_and_import_carry_declared_schemas_and_their_values() {
    let s = Server::start().await;
    declare(&s, &custom()).await;
    let r = s
        .post(
            "/Users",
            &user(
                "x@example.com",
                json!({"costCenter": "Z", "employeeCode": "K"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201);
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    let snap = scimbox::directory::transfer::snapshot(&s.store, org.pk)
        .await
        .unwrap();
    let doc = scimbox::export::to_json(&org, &snap, &now());
    assert_eq!(doc["schemas"][0]["schema"]["id"], URN);
    let plan = scimbox::import::plan(&doc, true).unwrap();
    let (copy, done) = scimbox::directory::transfer::import(
        &s.store,
        &actor(),
        scimbox::directory::transfer::Target::New("copy".into()),
        plan,
        now(),
    )
    .await
    .unwrap();
    assert_eq!(done.users, 1);
    let shown = scimbox::directory::schemas::list(&s.store, copy.pk)
        .await
        .unwrap();
    assert_eq!(
        (shown[0].declared.urn.as_str(), shown[0].carriers),
        (URN, 1)
    );
    // The copy's values are indexed: the lookup finds the imported user.
    let (_, token) = {
        scimbox::directory::orgs::create_token(&s.store, &actor(), &copy, "idp".into(), None, now())
            .await
            .unwrap()
    };
    let f = urlencode(&format!("{URN}:costCenter eq \"z\""));
    let url = format!("http://{}/scim/v2/{}/Users?filter={f}", s.addr, copy.id);
    let auth = format!("Bearer {}", token.expose());
    let r = s.raw("GET", &url, &[("authorization", &auth)], None).await;
    assert_eq!(r.json()["totalResults"], 1, "{}", r.text);
    // A file whose schema is bad names it.
    let mut bad = doc.clone();
    bad["schemas"][0]["schema"]["attributes"][0]["type"] = json!("text");
    let err = scimbox::import::plan(&bad, true).unwrap_err();
    assert!(err.starts_with("schemas[0]: attributes[0].type"), "{err}");
}

#[tokio::test]
async fn the_admin_api_declares_shows_errors_and_counts_undeclared_attributes() {
    let s = Server::start().await;
    let a = crate::admin::sign_in(&s).await;
    let org = format!("/api/orgs/{}", s.org_id);
    s.post(
        "/Users",
        &user("drop@example.com", json!({"costCenter": "1"})),
    )
    .await;
    let v = a.get(&format!("{org}/undeclared")).await.json();
    assert_eq!(v["undeclared"][0]["path"], format!("{URN}:costCenter"));
    assert_eq!(v["undeclared"][0]["count"], 1);
    let bad = json!({"id": URN, "attributes": [{"name": "costCenter", "type": "text"}]});
    let r = a
        .send(
            "POST",
            &format!("{org}/schemas"),
            Some(json!({"schema": bad.to_string()})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("attributes[0].type: unknown type")
    );
    let r = a
        .send(
            "POST",
            &format!("{org}/schemas"),
            Some(json!({"schema": custom()})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["id"], URN);
    let list = a.get(&format!("{org}/schemas")).await.json();
    assert_eq!(list["schemas"][0]["carriers"], 0);
    assert_eq!(
        list["schemas"][0]["schema"]["attributes"][0]["name"],
        "costCenter"
    );
    s.post(
        "/Users",
        &user("keep@example.com", json!({"costCenter": "1"})),
    )
    .await;
    let enc = urlencode(URN);
    let r = a
        .send("DELETE", &format!("{org}/schemas/{enc}"), None)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json()["message"].as_str().unwrap().contains("--force"));
    let r = a
        .send("DELETE", &format!("{org}/schemas/{enc}?force=true"), None)
        .await;
    assert_eq!(r.json()["droppedFrom"], 1, "{}", r.text);
}

#[tokio::test]
async fn a_group_extension_is_stored_returned_and_filtered() {
    let s = Server::start().await;
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    let urn = "urn:example:team:2.0:Group";
    scimbox::directory::schemas::add(
        &s.store,
        &actor(),
        org.pk,
        json!({"id": urn, "attributes": [{"name": "costCenter", "type": "string"}]}).to_string(),
        "Group".into(),
        now(),
    )
    .await
    .unwrap();
    let rt = s.get("/ResourceTypes/Group").await.json();
    assert!(
        rt["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == urn)
    );
    let r = s
        .post(
            "/Groups",
            &json!({"displayName": "Finance", urn: {"costCenter": "F1"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()[urn]["costCenter"], "F1");
    let f = urlencode(&format!("{urn}:costCenter eq \"f1\""));
    let v = s.get(&format!("/Groups?filter={f}")).await.json();
    assert_eq!(v["totalResults"], 1, "{v}");
    // A User extension of that name is not the Group's.
    let r = s.get(&format!("/Users?filter={f}")).await;
    r.assert_error(400, Some("invalidFilter"));
}
