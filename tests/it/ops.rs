//! The binary in operation: log formats and levels, export and import, the demo, the health
//! check and the startup errors of the new flags.

use crate::cli::BIN;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

/// A running `scimbox serve` with its log lines arriving on a channel.
struct Served {
    child: Child,
    base: String,
    token: String,
    logs: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut token) = (String::new(), String::new());
    while base.is_empty() || token.is_empty() {
        let line = lines.next().expect("serve printed its URL").unwrap();
        if let Some(u) = line.trim().strip_prefix("SCIM base URL:") {
            base = u.trim().to_string();
        }
        if let Some(t) = line.trim().strip_prefix("Bearer token:") {
            token = t.trim().to_string();
        }
    }
    // Keep reading stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        base,
        token,
        logs,
    }
}

/// GET with a request id; returns the status line.
fn get_with_id(url: &str, token: &str, id: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         X-Request-Id: {id}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().next().unwrap_or("").to_string()
}

/// The first log line that mentions `needle` (waiting up to 10 s for it).
fn log_line(s: &Served, needle: &str) -> String {
    loop {
        let line = s
            .logs
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no log line with {needle}"));
        if line.contains(needle) {
            return line;
        }
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_the_text_logs_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(&dir.path().join("j.db"), &["--log-format", "json"]);
    let status = get_with_id(&format!("{}/Users", s.base), &s.token, "trace-json-1");
    assert!(status.contains("200"), "{status}");
    let line = log_line(&s, "trace-json-1");
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["target"], "scimbox::request");
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["status"], 200);
    assert_eq!(v["request_id"], "trace-json-1");
    assert_eq!(v["token"], "initial");
    assert!(v["path"].as_str().unwrap().ends_with("/Users"));
    assert!(v["latency_us"].is_u64() && v["org"].is_string() && v["timestamp"].is_string());
    // The token's secret never reaches a log.
    assert!(!line.contains(&s.token));

    let t = serve(&dir.path().join("t.db"), &[]);
    get_with_id(&format!("{}/Users", t.base), &t.token, "trace-text-1");
    let line = log_line(&t, "trace-text-1");
    for field in [
        "scimbox::request",
        "method=GET",
        "status=200",
        "latency_us=",
        "org=",
        "token=\"initial\"",
        "request_id=trace-text-1",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
}

#[test]
fn log_level_warn_hides_request_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(&dir.path().join("w.db"), &["--log-level", "warn"]);
    get_with_id(&format!("{}/Users", s.base), &s.token, "trace-warn-1");
    // Stop the server (SIGTERM) and read everything it logged.
    let pid = s.child.id().to_string();
    assert!(Command::new("kill").arg(&pid).status().unwrap().success());
    let _ = s.child.wait();
    let logged: Vec<String> = s.logs.iter().collect();
    assert!(
        !logged.iter().any(|l| l.contains("trace-warn-1")),
        "{logged:?}"
    );
}

#[test]
fn export_then_import_into_a_new_database_gives_the_same_organization() {
    let dir = tempfile::tempdir().unwrap();
    let (db1, db2) = (dir.path().join("one.db"), dir.path().join("two.db"));
    let (ok, _, err) = run(&db1, &["demo", "--org", "acme", "--users", "40"]);
    assert!(ok, "{err}");
    let f1 = dir.path().join("one.json");
    let (ok, _, err) = run(
        &db1,
        &["export", "--org", "acme", "--out", f1.to_str().unwrap()],
    );
    assert!(ok && err.contains("40 users"), "{err}");
    let (ok, _, err) = run(&db2, &["import", "--org", "acme", f1.to_str().unwrap()]);
    assert!(ok && err.contains("40 users"), "{err}");
    let (ok, out, err) = run(&db2, &["export", "--org", "acme"]);
    assert!(ok, "{err}");
    let a: Value = serde_json::from_str(&std::fs::read_to_string(&f1).unwrap()).unwrap();
    let b: Value = serde_json::from_str(&out).unwrap();
    for key in ["users", "teams", "workspaces", "memberships"] {
        assert!(!a[key].as_array().unwrap().is_empty(), "{key}");
        assert_eq!(a[key], b[key], "{key} differs after the round trip");
    }
    assert_eq!(a["organization"]["name"], b["organization"]["name"]);

    // Into another organization of the same database the ids are taken: refused whole,
    // naming the fix, and no organization is left behind.
    let (ok, _, err) = run(&db1, &["import", "--org", "copy", f1.to_str().unwrap()]);
    assert!(
        !ok && err.contains("--new-ids") && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, orgs, _) = run(&db1, &["org", "list"]);
    assert!(!orgs.contains("copy"), "{orgs}");
    // With new ids it goes in, memberships following the new ids.
    let (ok, _, err) = run(
        &db1,
        &["import", "--org", "copy", "--new-ids", f1.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let (_, out, _) = run(&db1, &["export", "--org", "copy"]);
    let c: Value = serde_json::from_str(&out).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&a), names(&c));
    assert_ne!(a["users"][0]["id"], c["users"][0]["id"]);
    assert_eq!(
        a["memberships"].as_array().unwrap().len(),
        c["memberships"].as_array().unwrap().len()
    );
}

#[test]
fn csv_export_has_users_teams_and_memberships_sections() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("csv.db");
    assert!(run(&db, &["demo", "--org", "csv", "--users", "25"]).0);
    let (ok, out, err) = run(&db, &["export", "--org", "csv", "--format", "csv"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("# users\r\nid,userName,externalId,displayName,"),
        "{out}"
    );
    let sections: Vec<&str> = out.split("\r\n\r\n").collect();
    assert_eq!(sections.len(), 3);
    assert_eq!(sections[0].lines().count(), 2 + 25);
    assert!(sections[1].starts_with("# teams\r\nid,displayName,"));
    assert!(sections[2].starts_with("# memberships\r\nteamId,teamName,userId,userName"));
}

#[test]
fn bad_exports_and_imports_are_clear_errors_that_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let (ok, _, err) = run(&db, &["export", "--org", "nope"]);
    assert!(
        !ok && err.contains("no organization \"nope\"") && err.contains("org list"),
        "{err}"
    );

    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let not_json = file("x.json", "id,userName\n1,a\n");
    let (ok, _, err) = run(&db, &["import", "--org", "fresh", &not_json]);
    assert!(
        !ok && err.contains("is not JSON") && err.contains("scimbox export"),
        "{err}"
    );
    let wrong_format = file("f.json", r#"{"format": "other/2", "users": []}"#);
    let (ok, _, err) = run(&db, &["import", "--org", "fresh", &wrong_format]);
    assert!(!ok && err.contains("scimbox-export/1"), "{err}");
    let bad_user = file(
        "u.json",
        r#"{"format": "scimbox-export/1", "users": [
            {"id": "a1", "userName": "ok@example.com"},
            {"id": "a2", "name": {"givenName": "No userName"}}]}"#,
    );
    let (ok, _, err) = run(&db, &["import", "--org", "fresh", &bad_user]);
    assert!(
        !ok && err.contains("users[1]") && err.contains("userName"),
        "{err}"
    );
    let dangling = file(
        "m.json",
        r#"{"format": "scimbox-export/1", "users": [{"id": "a1", "userName": "ok@example.com"}],
            "teams": [{"id": "t1", "displayName": "T"}],
            "memberships": [{"team": "t1", "user": "a1"}, {"team": "t1", "user": "ghost"}]}"#,
    );
    let (ok, _, err) = run(&db, &["import", "--org", "fresh", &dangling]);
    assert!(
        !ok && err.contains("memberships[1]") && err.contains("ghost"),
        "{err}"
    );
    let (ok, _, err) = run(
        &db,
        &["import", "--org", "fresh", "/nonexistent/export.json"],
    );
    assert!(!ok && err.contains("cannot read"), "{err}");
    let (_, orgs, _) = run(&db, &["org", "list"]);
    assert!(
        !orgs.contains("fresh"),
        "a failed import left an organization: {orgs}"
    );

    // Into an organization that already holds data: refused, and the data is as it was.
    assert!(run(&db, &["demo", "--org", "full", "--users", "10"]).0);
    let good = dir.path().join("good.json");
    assert!(
        run(
            &db,
            &["export", "--org", "full", "--out", good.to_str().unwrap()]
        )
        .0
    );
    let (ok, _, err) = run(
        &db,
        &[
            "import",
            "--org",
            "full",
            "--new-ids",
            good.to_str().unwrap(),
        ],
    );
    assert!(
        !ok && err.contains("not empty") && err.contains("nothing was imported"),
        "{err}"
    );
    let (_, orgs, _) = run(&db, &["org", "list"]);
    let full = orgs.lines().find(|l| l.ends_with(" full")).unwrap();
    assert!(full.split_whitespace().nth(2) == Some("10"), "{full}");
    // An export file is never overwritten.
    let (ok, _, err) = run(
        &db,
        &["export", "--org", "full", "--out", good.to_str().unwrap()],
    );
    assert!(!ok && err.contains("--out"), "{err}");
}

#[test]
fn demo_seeds_an_empty_organization_once_and_the_same_way_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db1, db2) = (dir.path().join("d1.db"), dir.path().join("d2.db"));
    let (ok, id, err) = run(&db1, &["demo", "--org", "show", "--users", "250"]);
    assert!(ok && err.contains("250 users"), "{err}");
    let (_, orgs, _) = run(&db1, &["org", "list"]);
    let line = orgs.lines().find(|l| l.starts_with(id.trim())).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[2], "250", "{line}");
    assert!(cols[3].parse::<u32>().unwrap() >= 10, "{line}");
    let (_, ws, _) = run(&db1, &["workspace", "list", "--org", "show"]);
    for name in ["Production", "Staging", "Analytics"] {
        assert!(ws.contains(name), "{ws}");
    }
    let (ok, _, err) = run(&db1, &["demo", "--org", "show"]);
    assert!(!ok && err.contains("not empty"), "{err}");
    // Deterministic: another database gets the very same data.
    assert!(run(&db2, &["demo", "--org", "show", "--users", "250"]).0);
    let export = |db: &Path| -> Value {
        serde_json::from_str(&run(db, &["export", "--org", "show"]).1).unwrap()
    };
    let (a, b) = (export(&db1), export(&db2));
    assert_eq!(a["users"], b["users"]);
    assert_eq!(a["memberships"], b["memberships"]);
}

#[test]
fn serve_demo_shows_data_at_once_and_leaves_it_alone_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sd.db");
    let s = serve(&db, &["--demo"]);
    let (status, body) = crate::common::blocking_request(
        &format!("{}/Users?count=1", s.base),
        "GET",
        &s.token,
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["totalResults"], 300);
}

#[tokio::test]
async fn health_exits_0_on_a_healthy_server_and_1_otherwise() {
    let s = crate::common::Server::start().await;
    let url = format!("http://{}/healthz", s.addr);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let listen = s.addr.to_string();
    let (good, by_listen, down, https) = tokio::task::spawn_blocking(move || {
        let health = |args: &[&str]| {
            Command::new(BIN)
                .arg("health")
                .args(args)
                .env_remove("SCIMBOX_HEALTH_URL")
                .output()
                .unwrap()
        };
        (
            health(&["--url", &url]),
            health(&["--listen", &listen]),
            health(&[
                "--url",
                &format!("http://{closed}/healthz"),
                "--timeout",
                "1",
            ]),
            health(&["--url", "https://localhost/healthz"]),
        )
    })
    .await
    .unwrap();
    assert!(good.status.success());
    assert!(by_listen.status.success());
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot connect"));
    assert_eq!(https.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&https.stderr).contains("plain http"));
}

#[test]
fn bad_tls_and_public_url_flags_stop_serve_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flags.db");
    let missing = dir.path().join("missing.pem");
    let m = missing.to_str().unwrap();
    let (ok, _, err) = run(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            m,
            "--tls-key",
            m,
        ],
    );
    assert!(
        !ok && err.contains("cannot read") && err.contains("--tls-cert"),
        "{err}"
    );
    let (ok, _, err) = run(&db, &["serve", "--listen", "127.0.0.1:0", "--tls-cert", m]);
    assert!(!ok && err.contains("--tls-key"), "{err}");
    let (ok, _, err) = run(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "scim.example.com",
        ],
    );
    assert!(
        !ok && err.contains("--public-url") && err.contains("https://"),
        "{err}"
    );
    let (ok, _, err) = run(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-token",
            "short",
        ],
    );
    assert!(!ok && err.contains("--metrics-token"), "{err}");
}
