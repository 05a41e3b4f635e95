//! The access model's command line, driving the real binary: Deployments, custom roles, rules,
//! role changes, effective access, and a rotation that reaches a running server in another
//! process.

use crate::cli::{BIN, serve};
use std::path::Path;
use std::process::Command;

fn run(db: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Runs a command that must fail (exit 1) with an error whose first line names `bad` (the
/// whole error when scimbox reports it; clap adds a usage hint to flag errors).
fn refused(db: &Path, args: &[&str], bad: &str) {
    let (ok, _, err) = run(db, args);
    assert!(!ok, "{args:?} succeeded");
    let first = err.lines().next().unwrap_or("");
    assert!(first.contains(bad), "{args:?}: {err}");
    if first.starts_with("scimbox:") {
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// The arguments with `--org default`.
fn with(args: &[&'static str]) -> Vec<&'static str> {
    [args, &["--org", "default"]].concat()
}

/// The arguments with `--org people`.
fn withp(args: &[&'static str]) -> Vec<&'static str> {
    [args, &["--org", "people"]].concat()
}

fn status(url: &str, token: &str) -> u16 {
    crate::common::blocking_request(url, "GET", token, None)
        .expect("the server answered")
        .0
}

#[test]
fn rotating_a_token_from_another_process_refuses_the_old_secret_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rot.db");
    let (mut child, base, token) = serve(&db);
    let users = format!("{base}/Users");
    assert_eq!(status(&users, &token), 200);
    let (ok, out, err) = run(&db, &["token", "rotate", "--org", "default", "initial"]);
    assert!(ok, "{err}");
    let new = out.trim();
    assert!(new.starts_with("sbx_") && new != token, "{out}");
    assert!(!err.contains(new), "the secret is printed once, on stdout");
    assert_eq!(status(&users, &token), 401);
    assert_eq!(status(&users, new), 200);
    // With a grace period the old secret keeps working; the list shows the last source.
    let (ok, newer, _) = run(
        &db,
        &[
            "token", "rotate", "--org", "default", "initial", "--grace", "2h",
        ],
    );
    assert!(ok);
    assert_eq!(status(&users, new), 200);
    assert_eq!(status(&users, newer.trim()), 200);
    refused(
        &db,
        &[
            "token", "rotate", "--org", "default", "initial", "--grace", "25h",
        ],
        "25h",
    );
    // A token limited to another range is refused by the running server.
    let (ok, limited, err) = run(
        &db,
        &[
            "token",
            "create",
            "--org",
            "default",
            "--name",
            "office",
            "--description",
            "Okta from the office",
            "--allow",
            "203.0.113.0/24",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(status(&users, limited.trim()), 401);
    refused(
        &db,
        &[
            "token",
            "create",
            "--org",
            "default",
            "--name",
            "x",
            "--allow",
            "300.1.1.1/8",
        ],
        "300.1.1.1/8",
    );
    let (ok, list, _) = run(&db, &["token", "list", "--org", "default"]);
    assert!(
        ok && list.contains("127.0.0.1") && list.contains("(Okta from the office)"),
        "{list}"
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn the_access_model_is_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    assert!(run(&db, &["org", "create", "default"]).0);
    for ws in ["Production", "Development"] {
        assert!(run(&db, &with(&["workspace", "create", ws])).0);
    }
    let (ok, id, err) = run(
        &db,
        &with(&[
            "deployment",
            "create",
            "--workspace",
            "Production",
            "prod-etl",
        ]),
    );
    assert!(ok && id.trim().len() == 36, "{err}");
    assert!(
        run(
            &db,
            &with(&[
                "deployment",
                "create",
                "--workspace",
                "Development",
                "dev-etl"
            ])
        )
        .0
    );
    let (ok, list, _) = run(
        &db,
        &with(&["deployment", "list", "--workspace", "Production"]),
    );
    assert!(
        ok && list.contains("prod-etl") && !list.contains("dev-etl"),
        "{list}"
    );
    refused(
        &db,
        &with(&["deployment", "create", "--workspace", "Nope", "x"]),
        "Nope",
    );
    // Custom Deployment roles, with Astro's permission names.
    let (ok, _, err) = run(
        &db,
        &with(&[
            "deployment-role",
            "create",
            "Deployment_Viewer",
            "--permission",
            "deployment.get",
            "deployment.airflow.auditLog.get",
        ]),
    );
    assert!(ok, "{err}");
    refused(
        &db,
        &with(&[
            "deployment-role",
            "create",
            "Bad",
            "--permission",
            "deployment.launch",
        ]),
        "deployment.launch",
    );
    let (ok, list, _) = run(&db, &with(&["deployment-role", "list"]));
    assert!(
        ok && list.contains("Deployment_Viewer") && list.contains("deployment.get"),
        "{list}"
    );
    // Local Team (SCIM off) with Deployment roles; a user's own roles.
    assert!(run(&db, &["org", "scim", "default", "off"]).0);
    assert!(run(&db, &with(&["team", "create", "data-eng"])).0);
    let (ok, out, err) = run(
        &db,
        &with(&[
            "team",
            "set-role",
            "data-eng",
            "--deployment",
            "prod-etl",
            "--role",
            "Deployment_Viewer",
        ]),
    );
    assert!(
        ok && out.contains("deployment prod-etl") && out.contains("Deployment_Viewer"),
        "{err}"
    );
    refused(
        &db,
        &with(&[
            "team",
            "set-role",
            "data-eng",
            "--workspace",
            "Development",
            "--deployment",
            "prod-etl",
            "--role",
            "DEPLOYMENT_ADMIN",
        ]),
        "prod-etl",
    );
    refused(
        &db,
        &with(&[
            "team",
            "set-role",
            "data-eng",
            "--organization",
            "ORGANIZATION_KING",
        ]),
        "ORGANIZATION_KING",
    );
    // The old forms take the new names.
    assert!(
        run(
            &db,
            &with(&[
                "team",
                "set-role",
                "data-eng",
                "--organization",
                "ORGANIZATION_OBSERVE_MEMBER"
            ])
        )
        .0
    );
    assert!(
        run(
            &db,
            &with(&[
                "team",
                "set-role",
                "data-eng",
                "--workspace",
                "Development",
                "--role",
                "WORKSPACE_AUTHOR"
            ])
        )
        .0
    );
    // A user, from an import (the CLI does not create users; the IdP does).
    let file = dir.path().join("u.json");
    std::fs::write(
        &file,
        r#"{"format":"scimbox-export/1","organization":{"name":"people"},
            "users":[{"id":"11111111-1111-4111-8111-111111111111","userName":"ada@x.io",
                      "active":true}],
            "teams":[],"workspaces":[],"memberships":[]}"#,
    )
    .unwrap();
    let (ok, _, err) = run(&db, &["import", "--org", "people", file.to_str().unwrap()]);
    assert!(ok, "import: {err}");
    assert!(run(&db, &withp(&["workspace", "create", "Production"])).0);
    assert!(
        run(
            &db,
            &withp(&["deployment", "create", "--workspace", "Production", "p-etl"])
        )
        .0
    );
    let (ok, out, err) = run(
        &db,
        &withp(&[
            "user",
            "set-role",
            "ada@x.io",
            "--deployment",
            "p-etl",
            "--role",
            "DEPLOYMENT_ADMIN",
        ]),
    );
    assert!(ok, "{err}");
    assert!(out.contains("WORKSPACE_ACCESSOR (implied:p-etl)"), "{out}");
    assert!(out.contains("DEPLOYMENT_ADMIN (own)"), "{out}");
    let (ok, out, _) = run(&db, &withp(&["user", "access", "ada@x.io"]));
    assert!(
        ok && out.contains("organization role: ORGANIZATION_MEMBER (default)"),
        "{out}"
    );
    // Rules: create, refuse an overlap, list, test.
    let (ok, _, err) = run(
        &db,
        &with(&[
            "team-rule",
            "create",
            "prod-admins",
            "--match",
            "exact",
            "--value",
            "astro-prod-admins",
            "--workspace",
            "Production=WORKSPACE_OPERATOR",
            "--deployment",
            "prod-etl=DEPLOYMENT_ADMIN",
        ]),
    );
    assert!(ok, "{err}");
    refused(
        &db,
        &with(&[
            "team-rule",
            "create",
            "all-astro",
            "--match",
            "prefix",
            "--value",
            "astro-",
            "--organization",
            "ORGANIZATION_MEMBER",
        ]),
        "prod-admins",
    );
    refused(
        &db,
        &with(&[
            "team-rule",
            "create",
            "cls",
            "--match",
            "pattern",
            "--value",
            "a[bc]",
            "--organization",
            "ORGANIZATION_MEMBER",
        ]),
        "a[bc]",
    );
    let (ok, out, _) = run(&db, &with(&["team-rule", "test", "Astro-Prod-Admins"]));
    assert!(ok && out.contains("matches rule \"prod-admins\""), "{out}");
    let (ok, out, _) = run(&db, &with(&["team-rule", "list"]));
    assert!(ok && out.contains("astro-prod-admins"), "{out}");
    assert!(run(&db, &with(&["team-rule", "delete", "prod-admins"])).0);
    // Deleting a Deployment named in the wrong Workspace is refused.
    refused(
        &db,
        &with(&[
            "deployment",
            "delete",
            "--workspace",
            "Development",
            "prod-etl",
        ]),
        "prod-etl",
    );
    assert!(
        run(
            &db,
            &with(&[
                "deployment",
                "delete",
                "--workspace",
                "Production",
                "prod-etl"
            ])
        )
        .0
    );
}

#[test]
fn export_and_import_carry_deployments_custom_roles_and_team_deployment_roles() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("move.db");
    assert!(run(&db, &["org", "create", "default"]).0);
    assert!(run(&db, &["org", "scim", "default", "off"]).0);
    assert!(run(&db, &with(&["workspace", "create", "Production"])).0);
    assert!(
        run(
            &db,
            &with(&[
                "deployment",
                "create",
                "--workspace",
                "Production",
                "prod-etl"
            ])
        )
        .0
    );
    assert!(
        run(
            &db,
            &with(&[
                "deployment-role",
                "create",
                "Viewer",
                "--permission",
                "deployment.get"
            ])
        )
        .0
    );
    assert!(run(&db, &with(&["team", "create", "data"])).0);
    assert!(run(&db, &with(&["team", "create", "ops"])).0);
    for (team, role) in [("data", "Viewer"), ("ops", "DEPLOYMENT_ADMIN")] {
        let (ok, _, err) = run(
            &db,
            &with(&[
                "team",
                "set-role",
                team,
                "--deployment",
                "prod-etl",
                "--role",
                role,
            ]),
        );
        assert!(ok, "{err}");
    }
    let file = dir.path().join("default.json");
    let (ok, _, err) = run(
        &db,
        &[
            "export",
            "--org",
            "default",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &db,
        &[
            "import",
            "--org",
            "copy",
            "--new-ids",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let copy = |args: &[&'static str]| [args, &["--org", "copy"]].concat();
    let (_, out, _) = run(&db, &copy(&["deployment", "list"]));
    assert!(
        out.contains("prod-etl") && out.contains("Production"),
        "{out}"
    );
    let (_, out, _) = run(&db, &copy(&["deployment-role", "list"]));
    assert!(
        out.contains("Viewer") && out.contains("deployment.get"),
        "{out}"
    );
    let (_, out, _) = run(&db, &copy(&["team", "show", "data"]));
    assert!(
        out.contains("deployment prod-etl") && out.contains(": Viewer"),
        "{out}"
    );
    let (_, out, _) = run(&db, &copy(&["team", "show", "ops"]));
    assert!(out.contains("DEPLOYMENT_ADMIN"), "{out}");
    // A file naming a custom role that is not in it is refused, naming the entry.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["deploymentRoles"] = serde_json::json!([]);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    refused(
        &db,
        &[
            "import",
            "--org",
            "third",
            "--new-ids",
            bad.to_str().unwrap(),
        ],
        "deploymentRoles",
    );
}
