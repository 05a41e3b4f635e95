//! Several `scimbox serve` processes on one PostgreSQL database behave as one service, and
//! keep every acknowledged write through a server's SIGKILL and PostgreSQL's restart. Run when
//! `SCIMBOX_TEST_POSTGRES` names a server (scripts/test sets it); each test makes a fresh
//! database, and the restart test a throwaway cluster of its own.

use crate::cli::BIN;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn server_url(test: &str) -> Option<String> {
    match std::env::var("SCIMBOX_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped {test}: SCIMBOX_TEST_POSTGRES is not set");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `scimbox serve` on `db`; what it printed on a new database (base URL, token, admin
/// password), empty on one that is not new.
struct Served {
    child: Child,
    root: String,
    printed: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str, port: u16) -> Served {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            db,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let root = format!("http://127.0.0.1:{port}");
    // What a new database prints comes before the server listens.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut printed = String::new();
    loop {
        while let Ok(line) = rx.try_recv() {
            printed.push_str(&line);
            printed.push('\n');
        }
        if request(&format!("{root}/healthz"), "GET", &[], None).0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(50));
    while let Ok(line) = rx.try_recv() {
        printed.push_str(&line);
        printed.push('\n');
    }
    Served {
        child,
        root,
        printed,
    }
}

impl Served {
    fn printed_value(&self, label: &str) -> String {
        self.printed
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("serve printed no {label:?}"))
            .trim()
            .to_string()
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, response headers, body). Status 0
/// when the server could not be reached or did not answer.
fn request(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String, String) {
    let Some(rest) = url.strip_prefix("http://") else {
        return (0, String::new(), String::new());
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return (0, String::new(), String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let body = body.unwrap_or("");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(body.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    let mut raw = Vec::new();
    if stream.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return (0, String::new(), String::new());
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return (0, String::new(), String::new());
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    (status, head.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn scim(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String, Value) {
    let auth = format!("Bearer {token}");
    let text = body.map(|b| b.to_string());
    let (status, head, body) = request(
        &format!("{base}{path}"),
        method,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
        text.as_deref(),
    );
    let v = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, head, v)
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true
    })
}

/// Signs in to the admin API as `admin`; (cookie header value, CSRF token).
fn sign_in(root: &str, password: &str) -> (String, String) {
    let body = json!({"name": "admin", "password": password}).to_string();
    let (status, head, text) = request(
        &format!("{root}/admin/api/login"),
        "POST",
        &[("Content-Type", "application/json")],
        Some(&body),
    );
    assert_eq!(status, 200, "{text}");
    let cookie = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie").then(|| v.trim())
        })
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let v: Value = serde_json::from_str(&text).unwrap();
    let csrf = v["csrf"]
        .as_str()
        .or_else(|| v["csrfToken"].as_str())
        .expect("a CSRF token")
        .to_string();
    (cookie, csrf)
}

fn admin_call(
    root: &str,
    session: &(String, String),
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, _, body) = request(
        &format!("{root}/admin/api{path}"),
        method,
        &[
            ("Cookie", &session.0),
            ("X-CSRF-Token", &session.1),
            ("Content-Type", "application/json"),
        ],
        text.as_deref(),
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn two_servers_on_one_database_share_tokens_cursors_sessions_and_team_members() {
    let Some(admin) = server_url("two_servers_on_one_database") else {
        return;
    };
    let db = crate::common::pg_fresh_db(&admin);
    let a = serve(&db, free_port());
    let b = serve(&db, free_port());
    assert!(
        b.printed.is_empty(),
        "the second server found the database made: {}",
        b.printed
    );
    let base_a = a.printed_value("SCIM base URL:");
    let token = a.printed_value("Bearer token:");
    let password = a.printed_value("Admin password:");
    let path = &base_a[base_a.find("/scim").unwrap()..];
    let base_b = format!("{}{path}", b.root);

    // A user created through one server is read through the other, with the same version.
    let (status, _, created) = scim(&base_a, &token, "POST", "/Users", Some(&user("ann@x.io")));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _, read) = scim(&base_b, &token, "GET", &format!("/Users/{id}"), None);
    assert_eq!(status, 200);
    assert_eq!(read["meta"]["version"], created["meta"]["version"]);
    // userName uniqueness holds across servers.
    let (status, _, err) = scim(&base_b, &token, "POST", "/Users", Some(&user("ANN@x.io")));
    assert_eq!(
        (status, err["scimType"].as_str()),
        (409, Some("uniqueness"))
    );

    // A cursor from one server works on the other (the signing key is in the database).
    for i in 0..4 {
        let (status, _, _) = scim(
            &base_a,
            &token,
            "POST",
            "/Users",
            Some(&user(&format!("u{i}@x.io"))),
        );
        assert_eq!(status, 201);
    }
    let (_, _, first) = scim(&base_a, &token, "GET", "/Users?count=2&cursor", None);
    let next = first["nextCursor"]
        .as_str()
        .expect("a next cursor")
        .to_string();
    let (status, _, second) = scim(
        &base_b,
        &token,
        "GET",
        &format!("/Users?count=2&cursor={next}"),
        None,
    );
    assert_eq!(status, 200, "{second}");
    let ids = |v: &Value| -> Vec<String> {
        v["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (p1, p2) = (ids(&first), ids(&second));
    assert_eq!((p1.len(), p2.len()), (2, 2));
    assert!(
        p1.iter().all(|x| !p2.contains(x)),
        "pages overlap: {p1:?} {p2:?}"
    );

    // An admin session signed in on one server works on the other; a token made there and
    // revoked through the other is refused by both from their next request.
    let session = sign_in(&a.root, &password);
    let (status, orgs) = admin_call(&b.root, &session, "GET", "/orgs", None);
    assert_eq!(status, 200, "{orgs}");
    let (status, made) = admin_call(
        &b.root,
        &session,
        "POST",
        "/orgs/default/tokens",
        Some(&json!({"name": "second"})),
    );
    assert_eq!(status, 201, "{made}");
    let second = made["token"].as_str().unwrap().to_string();
    assert_eq!(scim(&base_a, &second, "GET", "/Users?count=1", None).0, 200);
    assert_eq!(scim(&base_b, &second, "GET", "/Users?count=1", None).0, 200);
    let tid = made["id"].as_str().unwrap();
    let (status, _) = admin_call(
        &a.root,
        &session,
        "DELETE",
        &format!("/orgs/default/tokens/{tid}"),
        None,
    );
    assert_eq!(status, 204);
    assert_eq!(scim(&base_b, &second, "GET", "/Users?count=1", None).0, 401);
    assert_eq!(scim(&base_a, &second, "GET", "/Users?count=1", None).0, 401);

    // Concurrent PATCHes of one Team through both servers lose no member.
    let (status, _, team) = scim(
        &base_a,
        &token,
        "POST",
        "/Groups",
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "eng"
        })),
    );
    assert_eq!(status, 201, "{team}");
    let team_id = team["id"].as_str().unwrap().to_string();
    let mut members = Vec::new();
    for i in 0..40 {
        let (status, _, u) = scim(
            &base_a,
            &token,
            "POST",
            "/Users",
            Some(&user(&format!("m{i}@x.io"))),
        );
        assert_eq!(status, 201);
        members.push(u["id"].as_str().unwrap().to_string());
    }
    let threads: Vec<_> = members
        .chunks(5)
        .enumerate()
        .map(|(i, chunk)| {
            let base = if i % 2 == 0 {
                base_a.clone()
            } else {
                base_b.clone()
            };
            let (token, team_id, chunk) = (token.clone(), team_id.clone(), chunk.to_vec());
            std::thread::spawn(move || {
                for m in chunk {
                    let patch = json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": m}]}]
                    });
                    loop {
                        let (status, _, body) = scim(
                            &base,
                            &token,
                            "PATCH",
                            &format!("/Groups/{team_id}"),
                            Some(&patch),
                        );
                        match status {
                            200 | 204 => break,
                            // Contention may be answered 503 with Retry-After: the IdP retries.
                            503 => std::thread::sleep(Duration::from_millis(20)),
                            _ => panic!("PATCH answered {status}: {body}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (_, _, team) = scim(&base_b, &token, "GET", &format!("/Groups/{team_id}"), None);
    let mut got: Vec<String> = team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    members.sort();
    assert_eq!(got, members, "a concurrent PATCH lost a member");
}

/// Creates users through `base` until `stop`; returns the ids acknowledged (201).
fn create_until(
    base: String,
    token: String,
    tag: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(Vec<String>, Vec<u16>)> {
    std::thread::spawn(move || {
        let (mut acked, mut other) = (Vec::new(), Vec::new());
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            i += 1;
            let (status, head, body) = scim(
                &base,
                &token,
                "POST",
                "/Users",
                Some(&user(&format!("{tag}{i}@x.io"))),
            );
            match status {
                201 => acked.push(body["id"].as_str().unwrap().to_string()),
                0 => {
                    other.push(0);
                    std::thread::sleep(Duration::from_millis(20));
                }
                503 => {
                    assert!(
                        head.to_ascii_lowercase().contains("retry-after"),
                        "503 without Retry-After: {head}"
                    );
                    assert_eq!(
                        body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
                        "{body}"
                    );
                    other.push(503);
                    std::thread::sleep(Duration::from_millis(20));
                }
                s => panic!("a create answered {s}: {body}"),
            }
        }
        (acked, other)
    })
}

fn all_user_ids(base: &str, token: &str) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut start = 1;
    loop {
        let (status, _, page) = scim(
            base,
            token,
            "GET",
            &format!("/Users?startIndex={start}&count=500&attributes=id"),
            None,
        );
        assert_eq!(status, 200, "{page}");
        let rs = page["Resources"].as_array().cloned().unwrap_or_default();
        if rs.is_empty() {
            return ids;
        }
        start += rs.len();
        ids.extend(rs.iter().map(|r| r["id"].as_str().unwrap().to_string()));
    }
}

#[test]
fn a_server_killed_with_sigkill_loses_no_acknowledged_write_and_the_other_serves_on() {
    let Some(admin) = server_url("a_server_killed_with_sigkill") else {
        return;
    };
    let db = crate::common::pg_fresh_db(&admin);
    let mut a = serve(&db, free_port());
    let b = serve(&db, free_port());
    let base_a = a.printed_value("SCIM base URL:");
    let token = a.printed_value("Bearer token:");
    let base_b = format!("{}{}", b.root, &base_a[base_a.find("/scim").unwrap()..]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .flat_map(|i| {
            [
                create_until(
                    base_a.clone(),
                    token.clone(),
                    ["a0-", "a1-", "a2-"][i],
                    stop.clone(),
                ),
                create_until(
                    base_b.clone(),
                    token.clone(),
                    ["b0-", "b1-", "b2-"][i],
                    stop.clone(),
                ),
            ]
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.join().unwrap().0);
    }
    assert!(killed_at.elapsed() < Duration::from_secs(60));
    // The other server kept serving after the kill, and has every acknowledged write.
    let (status, _, _) = scim(&base_b, &token, "POST", "/Users", Some(&user("after@x.io")));
    assert_eq!(status, 201);
    let present = all_user_ids(&base_b, &token);
    let missing: Vec<_> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes are missing: {missing:?}",
        missing.len()
    );
    assert!(acked.len() > 20, "too few writes to tell: {}", acked.len());
}

/// A throwaway cluster of this test's own (it is restarted, so not the suite's).
struct Cluster(tempfile::TempDir);

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster(dir)
    }

    fn url(&self) -> String {
        std::fs::read_to_string(self.0.path().join("url"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn control(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres");
        let out = Command::new("bash")
            .arg(&script)
            .arg(action)
            .arg(self.0.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.control("stop");
    }
}

#[test]
fn postgresql_restarting_under_load_gets_503_then_recovers_with_nothing_lost() {
    if server_url("postgresql_restarting_under_load").is_none() {
        return;
    }
    let cluster = Cluster::start();
    let db = crate::common::pg_fresh_db(&cluster.url());
    let a = serve(&db, free_port());
    let base = a.printed_value("SCIM base URL:");
    let token = a.printed_value("Bearer token:");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = ["w0-", "w1-", "w2-", "w3-"]
        .into_iter()
        .map(|tag| create_until(base.clone(), token.clone(), tag, stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    cluster.control("pause");
    // While it is down: a read is answered 503 with Retry-After and a SCIM error, quickly.
    let t = Instant::now();
    let (status, head, body) = scim(&base, &token, "GET", "/Users?count=1", None);
    assert_eq!(status, 503, "{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after"));
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert!(
        !body["detail"].as_str().unwrap().contains("postgres"),
        "{body}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t.elapsed()
    );
    let (status, _, health) = scim(&a.root, "", "GET", "/healthz", None);
    assert_eq!(
        (status, &health["status"], &health["storage"]),
        (200, &json!("degraded"), &json!("unreachable")),
        "{health}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    cluster.control("resume");
    // The server reconnects by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while scim(&base, &token, "GET", "/Users?count=1", None).0 != 200 {
        assert!(Instant::now() < deadline, "the server did not reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut refused) = (Vec::new(), 0);
    for w in writers {
        let (a, o) = w.join().unwrap();
        acked.extend(a);
        refused += o.iter().filter(|s| **s == 503).count();
    }
    assert!(refused > 0, "no write was refused during the outage");
    let present = all_user_ids(&base, &token);
    let missing: Vec<_> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes are missing",
        missing.len()
    );
}
