//! The test server and an HTTP client for it.

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use scimbox::app::Limits;
use scimbox::directory::{self, Actor};
use scimbox::http::State;
use scimbox::store::{Store, StoreOptions};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;

pub const SCIM: &str = "application/scim+json";

pub fn now() -> String {
    scimbox::clock::format(scimbox::clock::now())
}

pub fn actor() -> Actor {
    Actor {
        who: "test".into(),
        why: "test setup".into(),
        ..Actor::default()
    }
}

/// The PostgreSQL server the whole suite runs on (a superuser's URL), when
/// `SCIMBOX_TEST_ENGINE=postgres`; `None` runs it on SQLite. `scripts/test` runs it on both.
pub fn postgres_engine() -> Option<String> {
    let engine = std::env::var("SCIMBOX_TEST_ENGINE").unwrap_or_default();
    if !engine.eq_ignore_ascii_case("postgres") {
        return None;
    }
    let url = std::env::var("SCIMBOX_TEST_POSTGRES")
        .expect("SCIMBOX_TEST_ENGINE=postgres needs SCIMBOX_TEST_POSTGRES (a server's URL)");
    Some(url)
}

/// Whether a test of something only SQLite has (its file, its disk faults, Litestream) should
/// step aside because the suite runs on PostgreSQL; says so when it does.
pub fn sqlite_only(test: &str) -> bool {
    if postgres_engine().is_some() {
        eprintln!("skipped {test} on PostgreSQL: it tests the SQLite file");
        return true;
    }
    false
}

/// Runs `sql` (simple-query protocol) on the PostgreSQL database at `url`, on a thread of its
/// own so it works inside and outside a runtime; each row's columns as text.
pub fn pg_sql(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut out = Vec::new();
            for msg in client.simple_query(&sql).await.unwrap() {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                    out.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
            }
            out
        })
    })
    .join()
    .unwrap()
}

/// The server URL `admin` pointing at database `name`.
pub fn pg_with_db(admin: &str, name: &str) -> String {
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

/// A new, empty database on the PostgreSQL server at `admin`; returns its URL.
pub fn pg_fresh_db(admin: &str) -> String {
    let name = format!("scimbox_t_{}", uuid::Uuid::new_v4().simple());
    pg_sql(admin, &format!("CREATE DATABASE {name}"));
    pg_with_db(admin, &name)
}

/// What `--db` gets for a new, empty database of the suite's engine: a file in `dir`, or a
/// fresh PostgreSQL database's URL.
pub fn fresh_db(dir: &std::path::Path, file: &str) -> PathBuf {
    match postgres_engine() {
        Some(admin) => PathBuf::from(pg_fresh_db(&admin)),
        None => dir.join(file),
    }
}

/// Opens the store `--db` names, as the binary does.
pub fn open_store(db: &std::path::Path, options: &StoreOptions) -> Store {
    let target = scimbox::store::target::Target::parse(db).unwrap();
    Store::open_target(&target, options).unwrap()
}

/// A server on 127.0.0.1:0 with its own database, one organization and one token.
pub struct Server {
    pub addr: SocketAddr,
    pub org_id: String,
    pub token: String,
    pub store: Store,
    pub db: PathBuf,
    /// The running server's state (shared by every edge, plus the HTTP layer's own).
    pub app: Arc<State>,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// Asserts a SCIM error (RFC 7644 §3.12) with this status and scimType.
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        let v = self.json();
        assert_eq!(
            v["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
            "{v}"
        );
        assert_eq!(v["status"], status.to_string(), "{v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        match scim_type {
            Some(t) => assert_eq!(v["scimType"], t, "{v}"),
            None => assert!(v.get("scimType").is_none(), "{v}"),
        }
        assert!(
            self.header("content-type")
                .unwrap()
                .starts_with("application/scim+json")
        );
        v
    }
}

/// What a test server is started with (see [`Server::start_opts`]).
#[derive(Default)]
pub struct Opts {
    pub limits: Limits,
    pub admin: scimbox::admin::AdminState,
    pub edge: scimbox::app::Edge,
    pub certs: Option<Arc<scimbox::tls::Certs>>,
    /// OAuth settings (access-token lifetime, the CA file for JWKS URLs).
    pub oauth: Option<scimbox::auth::clients::Settings>,
    /// The address to listen on (`127.0.0.1:0` when `None`), e.g. `[::1]:0` for IPv6.
    pub bind: Option<&'static str>,
    /// `--events-ca-file`: CA certificates trusted for https event receivers.
    pub events_ca_file: Option<PathBuf>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Server {
        Self::start_full(limits, scimbox::admin::AdminState::default()).await
    }

    /// A server whose admin page has these session lifetimes and inspector size.
    pub async fn start_admin(admin: scimbox::admin::AdminState) -> Server {
        Self::start_full(Limits::default(), admin).await
    }

    async fn start_full(limits: Limits, admin: scimbox::admin::AdminState) -> Server {
        Self::start_opts(Opts {
            limits,
            admin,
            ..Opts::default()
        })
        .await
    }

    /// A server with any of the options `serve` has.
    pub async fn start_opts(opts: Opts) -> Server {
        let Opts {
            limits,
            admin,
            edge,
            certs,
            oauth,
            bind,
            events_ca_file,
        } = opts;
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db(dir.path(), "test.db");
        let store = open_store(&db, &StoreOptions::default());
        let org = directory::orgs::create(&store, &actor(), "test-org".into(), now())
            .await
            .unwrap();
        let (_, token) =
            directory::orgs::create_token(&store, &actor(), &org, "idp".into(), None, now())
                .await
                .unwrap();
        let listener = tokio::net::TcpListener::bind(bind.unwrap_or("127.0.0.1:0"))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let options = scimbox::server::Options {
            limits,
            admin,
            edge,
            certs,
            oauth: oauth.unwrap_or_default(),
            // A receiver that is down is tried again at least every second.
            events_max_backoff: std::time::Duration::from_secs(1),
            events_ca_file,
            ..scimbox::server::Options::default()
        };
        let running = scimbox::server::start(store.clone(), listener, options, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let app = running.state;
        Server {
            addr,
            org_id: org.id,
            token: token.expose().to_string(),
            store,
            db,
            app,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// The server's root URL (`http://127.0.0.1:port`).
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The organization's SCIM base URL.
    pub fn base(&self) -> String {
        format!("http://{}/scim/v2/{}", self.addr, self.org_id)
    }

    /// Another organization in the same server, with its own token: (org id, token).
    pub async fn other_org(&self, name: &str) -> (String, String) {
        let org = directory::orgs::create(&self.store, &actor(), name.into(), now())
            .await
            .unwrap();
        let (_, token) =
            directory::orgs::create_token(&self.store, &actor(), &org, "idp".into(), None, now())
                .await
                .unwrap();
        (org.id, token.expose().to_string())
    }

    /// Sends a request to a URL with the given headers and raw body.
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let resp = self.client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// A request to `path` under the base URL, authenticated, with an optional JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/scim+json; charset=utf-8"));
        }
        headers.extend_from_slice(extra);
        let url = format!("{}{path}", self.base());
        self.raw(
            method,
            &url,
            &headers,
            body.map(|b| serde_json::to_vec(b).unwrap()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call("DELETE", path, None).await
    }

    /// Creates a user and returns its JSON (asserting 201).
    pub async fn create_user(&self, user_name: &str) -> Value {
        let r = self
            .post(
                "/Users",
                &serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "name": {"givenName": "Given", "familyName": "Family"},
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "active": true
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.json()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn patch_op(ops: Value) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops
    })
}

/// A tiny blocking HTTP/1.1 client over a fresh connection per request, for tests that drive
/// the real binary from threads. `None` when the connection failed or broke (a killed
/// server); the body is returned as text.
pub fn blocking_request(
    url: &str,
    method: &str,
    token: &str,
    body: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/')?);
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}
