//! The real binary and its command-line contract.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_scimbox");

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

/// Starts `scimbox serve` on a free port; returns the child, base URL and first token.
pub fn serve(db: &Path) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut token) = (String::new(), String::new());
    while base.is_empty() || token.is_empty() {
        let line = lines
            .next()
            .expect("serve printed its URL and token")
            .unwrap();
        if let Some(u) = line.trim().strip_prefix("SCIM base URL:") {
            base = u.trim().to_string();
        }
        if let Some(t) = line.trim().strip_prefix("Bearer token:") {
            token = t.trim().to_string();
        }
    }
    (child, base, token)
}

fn http(method: &str, url: &str, token: &str) -> u16 {
    crate::common::blocking_request(url, method, token, None)
        .expect("the server answered")
        .0
}

fn wait_for(mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_prints_a_working_url_and_token_and_cli_tokens_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let (mut child, base, token) = serve(&db);
    assert!(base.contains("/scim/v2/"));
    assert!(token.starts_with("sbx_"));
    assert_eq!(http("GET", &format!("{base}/Users"), &token), 200);

    // org list shows the default organization; token create works beside the running server.
    let (ok, out, _) = run(&db, &["org", "list"]);
    assert!(ok && out.contains("default"), "{out}");
    let (ok, new_token, err) = run(
        &db,
        &["token", "create", "--org", "default", "--name", "okta"],
    );
    assert!(ok, "{err}");
    let new_token = new_token.trim().to_string();
    assert_eq!(new_token.lines().count(), 1, "the token alone on stdout");
    assert_eq!(http("GET", &format!("{base}/Users"), &new_token), 200);
    let (ok, list, _) = run(&db, &["token", "list", "--org", "default"]);
    assert!(
        ok && list.contains("okta") && !list.contains(&new_token),
        "never the secret"
    );

    // Revoked from another process: refused on the very next request.
    let (ok, _, err) = run(&db, &["token", "revoke", "--org", "default", "okta"]);
    assert!(ok, "{err}");
    assert_eq!(http("GET", &format!("{base}/Users"), &new_token), 401);
    assert_eq!(http("GET", &format!("{base}/Users"), &token), 200);

    // Switched off: 403; on again: 200.
    assert!(run(&db, &["org", "scim", "default", "off"]).0);
    assert_eq!(http("GET", &format!("{base}/Users"), &token), 403);
    assert!(run(&db, &["org", "scim", "default", "on"]).0);
    assert_eq!(http("GET", &format!("{base}/Users"), &token), 200);

    // A second organization: its id alone on stdout, and its own base URL.
    let (ok, org_id, _) = run(&db, &["org", "create", "Acme"]);
    assert!(ok);
    let org_id = org_id.trim();
    assert_eq!(org_id.lines().count(), 1);
    let (ok, acme_token, _) = run(
        &db,
        &[
            "token",
            "create",
            "--org",
            org_id,
            "--name",
            "entra",
            "--expires-in",
            "30",
        ],
    );
    assert!(ok);
    let acme_base = base.rsplit_once('/').unwrap().0.to_string() + "/" + org_id;
    assert_eq!(
        http("GET", &format!("{acme_base}/Users"), acme_token.trim()),
        200
    );
    assert_eq!(
        http("GET", &format!("{base}/Users"), acme_token.trim()),
        401
    );

    // SIGTERM drains and exits cleanly, leaving a database the next start accepts.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    wait_for(|| child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
    let (mut child, _, _) = {
        // The database is not empty, so no new token is printed: start and probe by health.
        let child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, (), ())
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "restarted on the same file"
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn unknown_organization_and_bad_flags_exit_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let (ok, _, err) = run(&db, &["token", "create", "--org", "nope", "--name", "x"]);
    assert!(!ok && err.contains("nope"), "{err}");
    let (ok, _, _) = run(&db, &["org", "create", "A"]);
    assert!(ok);
    let (ok, _, err) = run(&db, &["org", "create", "a"]);
    assert!(!ok && err.contains("taken"), "{err}");
}

#[test]
fn a_database_from_a_newer_scimbox_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    assert!(run(&db, &["org", "list"]).0);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let (ok, _, err) = run(&db, &["org", "list"]);
    assert!(!ok && err.contains("newer"), "{err}");
}

#[test]
fn team_workspace_and_user_commands_follow_the_scim_switch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("teams.db");
    let (mut child, base, token) = serve(&db);
    // A user over SCIM, so the CLI has someone to work with.
    let (status, _) = crate::common::blocking_request(
        &format!("{base}/Users"),
        "POST",
        &token,
        Some(r#"{"userName":"cli.user@x.io"}"#),
    )
    .unwrap();
    assert_eq!(status, 201);

    let (ok, _, err) = run(&db, &["team", "create", "--org", "default", "Local"]);
    assert!(!ok && err.contains("SCIM provisioning is on"), "{err}");
    assert!(run(&db, &["org", "scim", "default", "off"]).0);
    let (ok, team_id, err) = run(
        &db,
        &[
            "team",
            "create",
            "--org",
            "default",
            "Local",
            "--description",
            "made here",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(team_id.trim().len(), 36);
    let (ok, _, err) = run(
        &db,
        &[
            "team",
            "add-member",
            "--org",
            "default",
            "Local",
            "cli.user@x.io",
        ],
    );
    assert!(ok, "{err}");
    assert!(run(&db, &["org", "scim", "default", "on"]).0);
    let (ok, _, err) = run(
        &db,
        &[
            "team",
            "add-member",
            "--org",
            "default",
            "Local",
            "cli.user@x.io",
        ],
    );
    assert!(!ok && err.contains("IdP"), "{err}");
    let (ok, ws, _) = run(&db, &["workspace", "create", "--org", "default", "Prod"]);
    assert!(ok && ws.trim().len() == 36);
    let (ok, out, err) = run(
        &db,
        &[
            "team",
            "set-role",
            "--org",
            "default",
            "Local",
            "--workspace",
            "Prod",
            "--role",
            "WORKSPACE_OWNER",
        ],
    );
    assert!(ok && out.contains("WORKSPACE_OWNER"), "{err}");
    let (ok, out, _) = run(
        &db,
        &["user", "access", "--org", "default", "cli.user@x.io"],
    );
    assert!(
        ok && out.contains("workspace Prod") && out.contains("WORKSPACE_OWNER"),
        "{out}"
    );
    let (ok, out, _) = run(&db, &["workspace", "list", "--org", "default"]);
    assert!(ok && out.contains("Local: WORKSPACE_OWNER"), "{out}");
    let (ok, out, _) = run(&db, &["team", "list", "--org", "default"]);
    assert!(
        ok && out.contains("local") && out.contains("Local"),
        "{out}"
    );
    let (ok, _, err) = run(
        &db,
        &[
            "team",
            "remove-member",
            "--org",
            "default",
            "Local",
            "cli.user@x.io",
        ],
    );
    assert!(ok, "{err}");
    let (ok, _, err) = run(&db, &["team", "delete", "--org", "default", "Local"]);
    assert!(ok, "{err}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// One HTTP/1.1 request with these headers; (status, set-cookie, body).
fn raw_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_default();
    (status, cookie, body.to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_on(db: &Path, port: u16) -> Child {
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    wait_for(|| std::net::TcpStream::connect(&addr).is_ok());
    child
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    wait_for(|| child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
}

#[test]
fn inspector_requests_and_audit_outlast_a_restart_and_export_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("restart.db");
    let (child, base, token) = serve(&db);
    let body = r#"{"userName":"ada@x.io","displayName":"Ada Lovelace","password":"s3cr3t-pw"}"#;
    let (status, created) =
        crate::common::blocking_request(&format!("{base}/Users"), "POST", &token, Some(body))
            .unwrap();
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<serde_json::Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"replace","path":"displayName","value":"Ada King"}]}"#;
    let url = format!("{base}/Users/{id}");
    assert_eq!(
        crate::common::blocking_request(&url, "PATCH", &token, Some(patch))
            .unwrap()
            .0,
        200
    );
    for _ in 0..20 {
        assert_eq!(http("GET", &format!("{base}/Users"), &token), 200);
    }
    // Stopped by SIGTERM right after: what the inspector held is written before exit.
    stop(child);
    let mut set = Command::new(BIN)
        .args(["admin", "set-password", "--stdin", "--db"])
        .arg(&db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(set.stdin.take().unwrap(), "restarted and still here").unwrap();
    }
    assert!(set.wait().unwrap().success());

    let port = free_port();
    let child = serve_on(&db, port);
    let addr = format!("127.0.0.1:{port}");
    let (status, cookie, _) = raw_http(
        &addr,
        "POST",
        "/admin/api/login",
        &[("content-type", "application/json")],
        r#"{"name":"admin","password":"restarted and still here"}"#,
    );
    assert_eq!(status, 200);
    let org = base.rsplit('/').next().unwrap();
    let get = |path: &str| {
        let (status, _, body) = raw_http(&addr, "GET", path, &[("cookie", &cookie)], "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let v = get(&format!(
        "/admin/api/orgs/{org}/requests?method=PATCH&resource={id}"
    ));
    assert_eq!(v["total"], 1, "{v}");
    let found = &v["requests"][0];
    assert_eq!(found["status"], 200);
    assert_eq!(found["auditEntries"], 1);
    let all = get(&format!("/admin/api/orgs/{org}/requests?limit=5"));
    assert_eq!(all["total"], 22, "{all}");
    assert!(!all.to_string().contains("s3cr3t-pw"));
    // The PATCH's audit entry names its request, and the request finds the entry.
    let request_id = found["requestId"].as_str().unwrap();
    let audit = get(&format!(
        "/admin/api/orgs/{org}/audit?requestId={request_id}"
    ));
    assert_eq!(audit["total"], 1, "{audit}");
    assert_eq!(audit["entries"][0]["resourceName"], "ada@x.io");
    assert_eq!(audit["entries"][0]["source"], "127.0.0.1");
    stop(child);

    // The CLI exports the audit log: NDJSON a line an entry, CSV with a header.
    let (ok, out, err) = run(
        &db,
        &["audit", "export", "--org", "default", "--format", "ndjson"],
    );
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|e| e["requestId"] == request_id), "{out}");
    let (ok, csv, _) = run(
        &db,
        &["audit", "export", "--org", "default", "--format", "csv"],
    );
    assert!(ok);
    assert!(csv.starts_with("id,at,actor,action"), "{csv}");
    assert!(csv.contains("\"ada@x.io\""), "{csv}");
    let (ok, _, err) = run(&db, &["audit", "export", "--org", "nope"]);
    assert!(!ok && err.contains("nope"), "{err}");
    let (ok, _, err) = run(
        &db,
        &["audit", "export", "--org", "default", "--format", "xml"],
    );
    assert!(!ok && err.contains("xml"), "{err}");
}
