//! The minimal server: what hyper and SQLite alone do on this machine, the ceiling scimbox is
//! compared with (issue 20). hyper 1 + rusqlite and nothing else: one read connection per
//! worker thread (thread-local, queried inline), prepared statements, no auth, no logging,
//! no JSON rendering beyond writing the stored text. It reads the same database file the
//! scimbox server under test serves. Its durable create writes a table of the same shape and
//! indexes as `users` in a file of its own beside it (so scimbox's directory is left as it
//! was), one transaction per request with `synchronous=FULL`: one fsync per commit.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The name of the server's worker threads, so their CPU time can be read apart from the
/// load generator's (`/proc/self/task/*/stat`; the kernel keeps 15 characters of a name).
pub const THREAD_NAME: &str = "bench-minimal";

const LIST_HEAD: &str = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\
                         \"totalResults\":";

struct Shared {
    db: PathBuf,
    org_pk: i64,
    /// The create table's connection: one writer, as SQLite allows.
    writer: Mutex<Connection>,
}

thread_local! {
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

pub struct Minimal {
    pub rt: tokio::runtime::Runtime,
    pub addr: SocketAddr,
}

/// Starts the minimal server on a loopback port, on a runtime of its own with two worker
/// threads, reading `db` (organization `org_pk`) and writing creates to `create_db`.
pub fn start(db: &Path, org_pk: i64, create_db: &Path) -> Minimal {
    let writer = Connection::open(create_db).unwrap();
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;",
        )
        .unwrap();
    // The same table and indexes as scimbox's `users`, copied from its schema (no triggers,
    // no foreign keys: nothing else lives in this file).
    let source = Connection::open(db).unwrap();
    let ddl: Vec<String> = source
        .prepare(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'users' AND type IN ('table', 'index')
             AND sql IS NOT NULL ORDER BY type DESC",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    drop(source);
    for sql in ddl {
        let sql = sql.replacen("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1);
        let sql = sql.replacen(
            "CREATE UNIQUE INDEX",
            "CREATE UNIQUE INDEX IF NOT EXISTS",
            1,
        );
        let sql = sql.replacen("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1);
        writer.execute_batch(&sql).unwrap();
    }
    let shared = Arc::new(Shared {
        db: db.to_path_buf(),
        org_pk,
        writer: Mutex::new(writer),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| serve(shared.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Minimal { rt, addr }
}

fn reply(status: StatusCode, body: String) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/scim+json"),
    );
    Ok(resp)
}

/// Runs `f` on this worker thread's read connection, opening it on first use.
fn with_reader<T>(shared: &Shared, f: impl FnOnce(&Connection) -> T) -> T {
    READER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let conn = slot.get_or_insert_with(|| {
            let c = Connection::open(&shared.db).unwrap();
            c.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")
                .unwrap();
            c
        });
        f(conn)
    })
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let (users, rest) = match path.find("/Users") {
        Some(i) => (true, &path[i + "/Users".len()..]),
        None => (false, ""),
    };
    if !users {
        return reply(StatusCode::NOT_FOUND, String::new());
    }
    match (req.method(), rest.strip_prefix('/')) {
        (&Method::GET, Some(id)) => {
            let data: Option<String> = with_reader(&shared, |c| {
                c.prepare_cached("SELECT data FROM users WHERE id = ? AND org_pk = ?")
                    .unwrap()
                    .query_row(params![id, shared.org_pk], |r| r.get(0))
                    .optional()
                    .unwrap()
            });
            match data {
                Some(d) => reply(StatusCode::OK, d),
                None => reply(StatusCode::NOT_FOUND, String::new()),
            }
        }
        (&Method::GET, None) => {
            let filter = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("filter=")))
                .map(percent_decode)
                .unwrap_or_default();
            let value = filter.rsplit('"').nth(1).unwrap_or("").to_string();
            let sql = if filter.starts_with("userName eq") {
                "SELECT data FROM users WHERE org_pk = ?1 AND user_name_fold = ?2"
            } else if filter.starts_with("externalId eq") {
                "SELECT data FROM users WHERE org_pk = ?1 AND external_id = ?2"
            } else if filter.starts_with("emails[type eq \"work\"].value eq") {
                "SELECT data FROM users WHERE pk IN (SELECT user_pk FROM user_emails
                 WHERE org_pk = ?1 AND value_fold = ?2 AND type_fold = 'work')"
            } else {
                return reply(StatusCode::BAD_REQUEST, String::new());
            };
            let key = if filter.starts_with("externalId") {
                value
            } else {
                scimbox::model::fold::fold(&value).into_owned()
            };
            let found: Vec<String> = with_reader(&shared, |c| {
                c.prepare_cached(sql)
                    .unwrap()
                    .query_map(params![shared.org_pk, key], |r| r.get(0))
                    .unwrap()
                    .collect::<rusqlite::Result<_>>()
                    .unwrap()
            });
            let mut out = String::with_capacity(128 + found.iter().map(String::len).sum::<usize>());
            out.push_str(LIST_HEAD);
            out.push_str(&found.len().to_string());
            out.push_str(",\"Resources\":[");
            out.push_str(&found.join(","));
            out.push_str("]}");
            reply(StatusCode::OK, out)
        }
        (&Method::POST, None) => {
            let Ok(body) = req.into_body().collect().await else {
                return reply(StatusCode::BAD_REQUEST, String::new());
            };
            let body = body.to_bytes();
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return reply(StatusCode::BAD_REQUEST, String::new());
            };
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let user_name = text("userName").unwrap_or_default();
            let id = uuid::Uuid::new_v4().to_string();
            let now = "2026-12-01T00:00:00Z";
            let data = String::from_utf8_lossy(&body).into_owned();
            let done = {
                let conn = shared.writer.lock().unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                let r = conn
                    .prepare_cached(
                        "INSERT INTO users (org_pk, id, user_name, user_name_fold, external_id,
                         display_name, display_name_fold, created, last_modified, data)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .unwrap()
                    .execute(params![
                        shared.org_pk,
                        id,
                        user_name,
                        scimbox::model::fold::fold(&user_name),
                        text("externalId"),
                        text("displayName"),
                        text("displayName").map(|d| scimbox::model::fold::fold(&d).into_owned()),
                        now,
                        now,
                        data
                    ]);
                conn.execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })
                    .unwrap();
                r.is_ok()
            };
            if done {
                reply(StatusCode::CREATED, data)
            } else {
                reply(StatusCode::CONFLICT, String::new())
            }
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, String::new()),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CPU time (user + system) the minimal server's threads have used so far.
pub fn cpu_time() -> Duration {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with(&format!("({THREAD_NAME}")) {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        ticks += f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    }
    Duration::from_millis(ticks * 10)
}
