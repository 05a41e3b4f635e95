//! SCIM events (RFC 9967): pushed (RFC 8935) to a real receiver on loopback and polled (RFC
//! 8936), signed with the key the organization's JWKS publishes, in order, at least once with
//! stable `jti`s, through receiver downtime and a SIGKILL of the server.

use crate::common::{Server, now, patch_op};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CREATE: &str = "urn:ietf:params:scim:event:prov:create:notice";
const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
const PATCH: &str = "urn:ietf:params:scim:event:prov:patch:notice";
const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
const PUT: &str = "urn:ietf:params:scim:event:prov:put:notice";
const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

// ---- a receiver: a small hyper server that records what it gets ----------------------------

/// What the receiver answers.
#[derive(Clone)]
pub enum Answer {
    Accept,
    /// This status and JSON body.
    Fail(u16, String),
    /// Accept, after this long (a slow receiver).
    Slow(Duration),
}

/// One POST as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Hit {
    pub content_type: String,
    pub token: String,
    /// Whether it was answered 2xx.
    pub accepted: bool,
}

struct Shared {
    answer: Answer,
    hits: Vec<Hit>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Serves HTTPS with this certificate (for "localhost") when set.
    tls: Option<Arc<scimbox::tls::Certs>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(addr: SocketAddr) -> Receiver {
        let shared = Arc::new(Mutex::new(Shared {
            answer: Answer::Accept,
            hits: Vec::new(),
        }));
        let mut r = Receiver {
            addr,
            shared,
            task: None,
            tls: None,
        };
        r.up().await;
        r
    }

    /// A receiver serving HTTPS as "localhost" with this certificate.
    pub async fn start_tls(certs: Arc<scimbox::tls::Certs>) -> Receiver {
        let mut r = Self::start().await;
        r.down().await;
        r.tls = Some(certs);
        r.up().await;
        r
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}/set", self.addr.port()),
            None => format!("http://{}/set", self.addr),
        }
    }

    /// Listens again (on the same port); bounded retries while the port is released.
    pub async fn up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen again: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.addr = listener.local_addr().unwrap();
        let shared = self.shared.clone();
        let tls = self.tls.clone();
        self.task = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&shared, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(certs) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(certs.config());
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        }));
    }

    /// Stops listening: connections are refused until [`Receiver::up`].
    pub async fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    pub fn answer(&self, a: Answer) {
        self.shared.lock().unwrap().answer = a;
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.lock().unwrap().hits.clone()
    }

    /// The SETs accepted, in the order they came.
    pub fn accepted(&self) -> Vec<String> {
        self.hits()
            .into_iter()
            .filter(|h| h.accepted)
            .map(|h| h.token)
            .collect()
    }
}

async fn answer(
    shared: &Mutex<Shared>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let token = String::from_utf8(body.to_vec()).unwrap();
    let a = shared.lock().unwrap().answer.clone();
    let (status, body) = match a {
        Answer::Accept => (202, String::new()),
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            (202, String::new())
        }
        Answer::Fail(s, b) => (s, b),
    };
    shared.lock().unwrap().hits.push(Hit {
        content_type,
        token,
        accepted: (200..300).contains(&status),
    });
    let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

// ---- reading SETs ---------------------------------------------------------------------------

pub fn unb64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (mut bits, mut n, mut out) = (0u32, 0, Vec::new());
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}

/// Verifies a compact JWS against a JWKS (RFC 7517) with ring, independently of the server's
/// code, and returns (header, claims).
pub fn verify(token: &str, jwks: &Value) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS: {token}");
    let header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    let claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "secevent+jwt", "RFC 8417 §2.3");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("no key {} in {jwks}", header["kid"]));
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    let mut point = vec![4u8];
    point.extend(unb64(jwk["x"].as_str().unwrap()));
    point.extend(unb64(jwk["y"].as_str().unwrap()));
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point);
    let input = format!("{}.{}", parts[0], parts[1]);
    key.verify(input.as_bytes(), &unb64(parts[2]))
        .unwrap_or_else(|_| panic!("the signature of {claims} does not verify"));
    (header, claims)
}

/// The event URIs of a SET, sorted.
fn uris(claims: &Value) -> Vec<String> {
    let mut u: Vec<String> = claims["events"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    u.sort();
    u
}

/// Waits (bounded, by polling) until `check` holds.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn add(s: &Server, url: &str, mode: &str, detail: &str) -> (String, Option<String>) {
    use scimbox::directory::events::{Detail, Mode};
    let (r, token) = scimbox::directory::events::add(
        &s.store,
        &crate::common::actor(),
        org_pk(s).await,
        url.into(),
        Mode::parse(mode).unwrap(),
        Detail::parse(detail).unwrap(),
        now(),
    )
    .await
    .unwrap();
    (r.id, token.map(|t| t.expose().to_string()))
}

async fn org_pk(s: &Server) -> i64 {
    scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap()
        .pk
}

async fn receivers(s: &Server) -> Vec<scimbox::store::outbox::Receiver> {
    scimbox::directory::events::list(&s.store, org_pk(s).await)
        .await
        .unwrap()
}

async fn jwks(s: &Server) -> Value {
    let r = s
        .raw(
            "GET",
            &format!("http://{}/events/{}/jwks", s.addr, s.org_id),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
           "externalId": format!("ext-{name}")})
}

// ---- the tests ------------------------------------------------------------------------------

#[tokio::test]
async fn only_an_organization_with_a_receiver_advertises_events_in_its_service_provider_config() {
    let s = Server::start().await;
    // No receiver: no events are made, so none are advertised (and the config is RFC 7643's).
    let spc = s.get("/ServiceProviderConfig").await.json();
    assert!(spc.get("securityEvents").is_none(), "{spc}");
    assert_eq!(
        spc["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"])
    );
    let receiver = Receiver::start().await;
    add(&s, &receiver.url(), "push", "notice").await;
    let spc = s.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["securityEvents"]["asyncRequest"], "none");
    assert!(
        spc["schemas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v.as_str().is_some_and(|u| u.contains(":events:2.0:")))
    );
}

#[tokio::test]
async fn every_acknowledged_change_is_pushed_in_order_signed_with_the_published_key() {
    let s = Server::start().await;
    let notice = Receiver::start().await;
    let full = Receiver::start().await;
    add(&s, &notice.url(), "push", "notice").await;
    add(&s, &full.url(), "push", "full").await;

    // Discovery names the key set the SETs verify against (RFC 9967 §4 plus our extension).
    let spc = s.get("/ServiceProviderConfig").await.json();
    assert_eq!(spc["securityEvents"]["asyncRequest"], "none");
    let listed: Vec<&str> = spc["securityEvents"]["eventUris"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for uri in [
        CREATE,
        CREATE_FULL,
        PATCH,
        PUT,
        DELETE,
        ACTIVATE,
        DEACTIVATE,
    ] {
        assert!(listed.contains(&uri), "{uri} in {listed:?}");
    }
    let ext = "urn:scimbox:params:scim:schemas:extension:events:2.0:ServiceProviderConfig";
    let jwks_uri = spc[ext]["jwksUri"].as_str().unwrap().to_string();
    assert_eq!(
        jwks_uri,
        format!("http://{}/events/{}/jwks", s.addr, s.org_id)
    );

    let created = s.post("/Users", &user("ada@events.test")).await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_str().unwrap().to_string();
    // Refused (409): rolled back, so no event.
    assert_eq!(s.post("/Users", &user("ada@events.test")).await.status, 409);
    let titled = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "title", "value": "Dr"}])),
        )
        .await;
    assert_eq!(titled.status, 200);
    let off = s
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(off.status, 200);
    let mut body = user("ada@events.test");
    body["active"] = json!(true);
    let put = s.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(put.status, 200);
    // The admin page and the CLI change users through the same directory function.
    scimbox::directory::users::update_with(
        &s.store,
        &scimbox::directory::Actor {
            who: "admin:root".into(),
            why: "admin page: rename".into(),
            via: Default::default(),
        },
        org_pk(&s).await,
        id.clone(),
        None,
        now(),
        |_, mut d| {
            d.insert("displayName".into(), json!("Ada L."));
            Ok(d)
        },
    )
    .await
    .unwrap();
    let team = s
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "engineers", "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(team.status, 201);
    let gid = team.json()["id"].as_str().unwrap().to_string();
    let removed = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])),
        )
        .await;
    assert!(matches!(removed.status, 200 | 204), "{}", removed.text);
    // Back in the Team, then deleted: the Team loses its member too.
    let back = s
        .patch(
            &format!("/Groups/{gid}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert!(matches!(back.status, 200 | 204), "{}", back.text);
    assert_eq!(s.delete(&format!("/Users/{id}")).await.status, 204);
    assert_eq!(s.delete(&format!("/Groups/{gid}")).await.status, 204);

    let expected: Vec<(String, Vec<&str>)> = vec![
        (format!("/Users/{id}"), vec![CREATE]),
        (format!("/Users/{id}"), vec![PATCH]),
        (format!("/Users/{id}"), vec![DEACTIVATE, PATCH]),
        (format!("/Users/{id}"), vec![ACTIVATE, PUT]),
        (format!("/Users/{id}"), vec![PATCH]),
        (format!("/Groups/{gid}"), vec![CREATE]),
        (format!("/Groups/{gid}"), vec![PATCH]),
        (format!("/Groups/{gid}"), vec![PATCH]),
        (format!("/Groups/{gid}"), vec![PATCH]),
        (format!("/Users/{id}"), vec![DELETE]),
        (format!("/Groups/{gid}"), vec![PATCH]),
        (format!("/Groups/{gid}"), vec![DELETE]),
    ];
    until("every event at both receivers", || {
        notice.accepted().len() >= expected.len() && full.accepted().len() >= expected.len()
    })
    .await;
    // Fetched from the URL discovery names, verified with ring here.
    let keys = s.raw("GET", &jwks_uri, &[], None).await.json();
    let mut txns = Vec::new();
    for (i, token) in notice.accepted().iter().enumerate() {
        let (_, c) = verify(token, &keys);
        assert_eq!(c["sub_id"]["uri"], expected[i].0, "event {i}: {c}");
        assert_eq!(uris(&c), expected[i].1, "event {i}: {c}");
        assert_eq!(c["sub_id"]["format"], "scim");
        assert!(c.get("sub").is_none(), "RFC 9967 §2.1");
        assert_eq!(c["iss"], s.base());
        assert_eq!(c["aud"], notice.url());
        txns.push(c["txn"].as_str().unwrap().to_string());
    }
    assert!(
        notice
            .hits()
            .iter()
            .all(|h| h.content_type == "application/secevent+jwt")
    );
    let claims: Vec<Value> = notice
        .accepted()
        .iter()
        .map(|t| verify(t, &keys).1)
        .collect();
    assert_eq!(claims[0]["sub_id"]["externalId"], "ext-ada@events.test");
    assert_eq!(claims[1]["events"][PATCH]["attributes"], json!(["title"]));
    assert_eq!(
        claims[1]["events"][PATCH]["version"].as_str(),
        titled.header("etag").as_deref(),
        "version is the ETag the change answered with"
    );
    assert_eq!(claims[2]["events"][PATCH]["attributes"], json!(["active"]));
    assert_eq!(claims[6]["events"][PATCH]["attributes"], json!(["members"]));

    // The full receiver: the same changes (same txn), other jti, with data.
    let full_claims: Vec<Value> = full.accepted().iter().map(|t| verify(t, &keys).1).collect();
    for (i, c) in full_claims.iter().enumerate().take(expected.len()) {
        assert_eq!(
            c["txn"],
            txns[i].as_str(),
            "one txn per change across receivers"
        );
        assert_ne!(c["jti"], claims[i]["jti"], "one jti per SET");
    }
    let data = &full_claims[0]["events"][CREATE_FULL]["data"];
    assert_eq!(data["userName"], "ada@events.test");
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["meta"]["location"], format!("{}/Users/{id}", s.base()));
    let ops = &full_claims[6]["events"][PATCH_FULL]["data"]["Operations"];
    assert_eq!(
        ops,
        &json!([{"op": "add", "path": "members", "value": [{"value": id}]}])
    );
    assert!(
        full_claims[6]["events"][PATCH_FULL]
            .get("attributes")
            .is_none()
    );
    // The user's deletion took it out of the Team: a patch of the Team's members.
    assert_eq!(
        full_claims[10]["events"][PATCH_FULL]["data"]["Operations"],
        json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}])
    );
    assert_eq!(notice.accepted().len(), expected.len(), "nothing more");

    // Delivered events leave the receivers' backlogs.
    let rs = receivers(&s).await;
    assert!(
        rs.iter().all(|r| r.backlog == 0 && r.last_error.is_none()),
        "{rs:?}"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_or_failing_gets_everything_later_with_the_same_jti() {
    let s = Server::start().await;
    let mut rx = Receiver::start().await;
    let (rid, _) = add(&s, &rx.url(), "push", "notice").await;
    rx.down().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = s
            .post("/Users", &user(&format!("down{i}@events.test")))
            .await;
        assert_eq!(r.status, 201, "writes go on while the receiver is down");
        ids.push(r.json()["id"].as_str().unwrap().to_string());
    }
    // The deliverer keeps trying and says why it cannot.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = receivers(&s)
            .await
            .into_iter()
            .find(|r| r.id == rid)
            .unwrap();
        if r.attempts >= 2 {
            assert!(r.last_error.is_some());
            assert_eq!(r.backlog, 3);
            assert_eq!(r.status(), "retrying");
            break;
        }
        assert!(Instant::now() < deadline, "no retries: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gauges = scimbox::metrics::Gauges::read(&s.store).await.unwrap();
    assert!(gauges.events.depth >= 3 && gauges.events.backlog >= 3);

    // Back up, but answering 503 for a while: a transient error, retried.
    rx.answer(Answer::Fail(503, String::new()));
    rx.up().await;
    until("a few refused attempts", || rx.hits().len() >= 2).await;
    rx.answer(Answer::Accept);
    until("all three delivered", || rx.accepted().len() >= 3).await;

    let keys = jwks(&s).await;
    let hits = rx.hits();
    let accepted: Vec<Value> = rx.accepted().iter().map(|t| verify(t, &keys).1).collect();
    let subjects: Vec<String> = accepted
        .iter()
        .map(|c| c["sub_id"]["uri"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = ids.iter().map(|id| format!("/Users/{id}")).collect();
    assert_eq!(subjects, want, "in order, none lost");
    // Every refused attempt was the first event again, with its one jti.
    let first_jti = accepted[0]["jti"].clone();
    for h in hits.iter().filter(|h| !h.accepted) {
        let (_, c) = verify(&h.token, &keys);
        assert_eq!(c["jti"], first_jti, "a retry is the same SET (same jti)");
    }
    // The cursor moves just after the receiver's answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = receivers(&s)
            .await
            .into_iter()
            .find(|r| r.id == rid)
            .unwrap();
        if r.backlog == 0 {
            assert_eq!(r.attempts, 0, "{r:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the backlog stays: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_permanent_rfc_8935_error_marks_the_receiver_failed_until_resumed() {
    let s = Server::start().await;
    let bad = Receiver::start().await;
    let clock = Receiver::start().await;
    bad.answer(Answer::Fail(
        400,
        r#"{"err":"invalid_audience","description":"not for us"}"#.into(),
    ));
    let (bad_id, _) = add(&s, &bad.url(), "push", "notice").await;
    add(&s, &clock.url(), "push", "notice").await;
    assert_eq!(s.post("/Users", &user("p1@events.test")).await.status, 201);
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let r = receivers(&s)
            .await
            .into_iter()
            .find(|r| r.id == bad_id)
            .unwrap();
        if r.state == "failed" {
            break r;
        }
        assert!(Instant::now() < deadline, "never marked failed: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        failed.last_error.as_deref(),
        Some("invalid_audience: not for us")
    );
    assert_eq!(failed.status(), "failed");
    // More changes: the healthy receiver gets them, the failed one is not tried again.
    assert_eq!(s.post("/Users", &user("p2@events.test")).await.status, 201);
    until("the healthy receiver has both", || {
        clock.accepted().len() >= 2
    })
    .await;
    assert_eq!(bad.hits().len(), 1, "a permanent error is not retried");

    // Resumed, it starts again at the event it refused (same jti) and catches up.
    bad.answer(Answer::Accept);
    scimbox::directory::events::resume(
        &s.store,
        &crate::common::actor(),
        org_pk(&s).await,
        bad_id,
        now(),
    )
    .await
    .unwrap();
    until("the resumed receiver catches up", || {
        bad.accepted().len() >= 2
    })
    .await;
    let keys = jwks(&s).await;
    let first = verify(&bad.hits()[0].token, &keys).1;
    let again = verify(&bad.accepted()[0], &keys).1;
    assert_eq!(first["jti"], again["jti"]);
}

async fn poll(s: &Server, rid: &str, token: &str, body: &Value) -> crate::common::Resp {
    let auth = format!("Bearer {token}");
    s.raw(
        "POST",
        &format!("http://{}/events/{}/poll/{rid}", s.addr, s.org_id),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(body.to_string().into_bytes()),
    )
    .await
}

fn sets(r: &crate::common::Resp) -> Vec<(String, String)> {
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    let mut out: Vec<(String, String)> = v["sets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn poll_with_acknowledgements_drains_the_queue() {
    let s = Server::start().await;
    let (rid, token) = add(&s, "https://app.example/events", "poll", "notice").await;
    let token = token.expect("a poll receiver gets a token");
    for i in 0..5 {
        assert_eq!(
            s.post("/Users", &user(&format!("poll{i}@events.test")))
                .await
                .status,
            201
        );
    }
    let keys = jwks(&s).await;
    let first = poll(
        &s,
        &rid,
        &token,
        &json!({"maxEvents": 2, "returnImmediately": true}),
    )
    .await;
    assert_eq!(first.json()["moreAvailable"], true);
    let got = sets(&first);
    assert_eq!(got.len(), 2);
    for (jti, set) in &got {
        let (_, c) = verify(set, &keys);
        assert_eq!(&c["jti"], jti, "the sets member name is the SET's jti");
        assert_eq!(c["aud"], "https://app.example/events");
    }
    // Not acknowledged: the same SETs come again, with the same jti.
    let again = poll(
        &s,
        &rid,
        &token,
        &json!({"maxEvents": 2, "returnImmediately": true}),
    )
    .await;
    let again_jtis: Vec<String> = sets(&again).into_iter().map(|(j, _)| j).collect();
    let got_jtis: Vec<String> = got.iter().map(|(j, _)| j.clone()).collect();
    assert_eq!(again_jtis, got_jtis);
    // Acknowledged, the rest follows.
    let rest = poll(
        &s,
        &rid,
        &token,
        &json!({"ack": got_jtis, "maxEvents": 10, "returnImmediately": true}),
    )
    .await;
    assert!(rest.json().get("moreAvailable").is_none());
    let rest = sets(&rest);
    assert_eq!(rest.len(), 3);
    // One rejected (setErrs), the others acknowledged, in an acknowledge-only request.
    let err_jti = rest[0].0.clone();
    let ack: Vec<String> = rest[1..].iter().map(|(j, _)| j.clone()).collect();
    let done = poll(
        &s,
        &rid,
        &token,
        &json!({"ack": ack, "setErrs": {err_jti.clone(): {"err": "invalid_request", "description": "no"}},
                "maxEvents": 0}),
    )
    .await;
    assert!(sets(&done).is_empty());
    let empty = poll(&s, &rid, &token, &json!({"returnImmediately": true})).await;
    assert!(sets(&empty).is_empty(), "drained");
    let r = receivers(&s)
        .await
        .into_iter()
        .find(|r| r.id == rid)
        .unwrap();
    assert_eq!((r.backlog, r.delivered), (0, 5), "{r:?}");
    assert!(
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("invalid_request"))
    );

    // A long poll waits for the next change and returns it.
    let waiting = {
        let url = format!("http://{}/events/{}/poll/{rid}", s.addr, s.org_id);
        let auth = format!("Bearer {token}");
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        tokio::spawn(async move {
            let req = hyper::Request::post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from("{}")))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<Value>(&body).unwrap()
        })
    };
    // The long poll is waiting once it has seen an empty outbox; a change then wakes it.
    assert_eq!(
        s.post("/Users", &user("late@events.test")).await.status,
        201
    );
    let woke = tokio::time::timeout(Duration::from_secs(25), waiting)
        .await
        .expect("the long poll answered")
        .unwrap();
    assert_eq!(woke["sets"].as_object().unwrap().len(), 1, "{woke}");
}

#[tokio::test]
async fn the_poll_endpoint_refuses_bad_requests_as_rfc_8936_says() {
    let s = Server::start().await;
    let (rid, token) = add(&s, "https://app.example/events", "poll", "full").await;
    let token = token.unwrap();
    let (push_id, push_token) = add(&s, "https://app.example/push", "push", "full").await;
    assert!(push_token.is_none());
    let ok = json!({"returnImmediately": true});
    // Wrong or missing token, unknown receiver, a push receiver: 401 with a challenge.
    for (id, tok) in [
        (rid.as_str(), "sbe_wrong"),
        (rid.as_str(), ""),
        ("no-such-receiver", token.as_str()),
        (push_id.as_str(), token.as_str()),
    ] {
        let r = poll(&s, id, tok, &ok).await;
        assert_eq!(r.status, 401, "{id} {tok}: {}", r.text);
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
    }
    // Malformed requests: 400 with a reason.
    for body in [
        json!([]),
        json!({"maxEvents": -1}),
        json!({"maxEvents": "3"}),
        json!({"returnImmediately": "yes"}),
        json!({"ack": "x"}),
        json!({"setErrs": {"x": {"description": "no err"}}}),
    ] {
        let r = poll(&s, &rid, &token, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["err"], "invalid_request");
        assert!(
            r.json()["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    let not_json = s
        .raw(
            "POST",
            &format!("http://{}/events/{}/poll/{rid}", s.addr, s.org_id),
            &[("authorization", &format!("Bearer {token}"))],
            Some(b"not json".to_vec()),
        )
        .await;
    assert_eq!(not_json.status, 400);
    // GET on the poll endpoint, unknown paths, unknown organization's JWKS.
    let base = format!("http://{}/events", s.addr);
    assert_eq!(
        s.raw("GET", &format!("{base}/{}/poll/{rid}", s.org_id), &[], None)
            .await
            .status,
        405
    );
    assert_eq!(
        s.raw("GET", &format!("{base}/nothing"), &[], None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.raw("GET", &format!("{base}/no-such-org/jwks"), &[], None)
            .await
            .status,
        404
    );
    // A receiver of another organization cannot be polled through this one.
    let (other, _) = s.other_org("events-other").await;
    let r = s
        .raw(
            "POST",
            &format!("{base}/{other}/poll/{rid}"),
            &[("authorization", &format!("Bearer {token}"))],
            Some(ok.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, 401);
    // Bad receiver URLs are refused when added.
    for url in [
        "ftp://x/",
        "http://app.example/set",
        "https://u:p@x/",
        "not a url",
    ] {
        let r = scimbox::directory::events::add(
            &s.store,
            &crate::common::actor(),
            org_pk(&s).await,
            url.into(),
            scimbox::directory::events::Mode::Push,
            scimbox::directory::events::Detail::Full,
            now(),
        )
        .await;
        assert!(
            matches!(r, Err(scimbox::error::Error::InvalidValue(_))),
            "{url}"
        );
    }
}

// ---- the real binary: the CLI, and a SIGKILL ------------------------------------------------

fn cli(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(crate::cli::BIN)
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

/// `scimbox serve` on `port` (0: any) with retries at most a second apart; returns the child
/// and the port it listens on.
fn serve(db: &std::path::Path, port: u16) -> (std::process::Child, u16) {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(crate::cli::BIN)
        .args(["serve", "--events-max-backoff", "1", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The "scimbox is serving" log line names the address.
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().expect("serve logged its address").unwrap();
        if line.contains("scimbox is serving")
            && let Some(at) = line.find("addr=")
        {
            let addr: String = line[at + 5..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

fn blocking_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn events_survive_a_sigkill_of_the_server_and_the_cli_manages_receivers() {
    use crate::common::blocking_request;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rx = rt.block_on(Receiver::start());
    rx.answer(Answer::Fail(503, String::new()));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let (ok, _, err) = cli(&db, &["org", "create", "default"]);
    assert!(ok, "{err}");
    let (ok, token, err) = cli(
        &db,
        &["token", "create", "--org", "default", "--name", "idp"],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_string();

    // The CLI: add prints the id alone; bad input is one line and exit 1.
    let (ok, out, err) = cli(
        &db,
        &[
            "events",
            "add",
            "--org",
            "default",
            "--url",
            &rx.url(),
            "--full",
        ],
    );
    assert!(ok, "{err}");
    let rid = out.trim().to_string();
    assert_eq!(
        out.lines().count(),
        1,
        "a push receiver has no token: {out}"
    );
    assert_eq!(rid.len(), 36, "{out}");
    let (ok, out, _) = cli(
        &db,
        &[
            "events",
            "add",
            "--org",
            "default",
            "--url",
            "https://app.example/e",
            "--mode",
            "poll",
        ],
    );
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "id, then the poll token: {out}");
    assert!(lines[1].starts_with("sbe_"));
    let poll_id = lines[0].to_string();
    for (args, says) in [
        (
            vec!["--org", "default", "--url", "http://app.example/e"],
            "https",
        ),
        (
            vec!["--org", "nobody", "--url", "https://app.example/e"],
            "nobody",
        ),
    ] {
        let mut all = vec!["events", "add"];
        all.extend(args);
        let (ok, out, err) = cli(&db, &all);
        assert!(!ok && out.is_empty(), "{out}");
        assert!(
            err.contains(says) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    let (ok, _, err) = cli(&db, &["events", "remove", "--org", "default", &poll_id]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&db, &["events", "remove", "--org", "default", &poll_id]);
    assert!(!ok && err.contains(&poll_id), "{err}");

    // An unreadable --events-ca-file stops serve at once, naming the flag.
    let bad = std::process::Command::new(crate::cli::BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--events-ca-file"])
        .arg(dir.path().join("missing.pem"))
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(
        !bad.status.success() && err.contains("--events-ca-file"),
        "{err}"
    );

    let (mut server, port) = serve(&db, 0);
    let org = {
        let (_, out, _) = cli(&db, &["org", "list"]);
        out.lines()
            .find(|l| l.ends_with("default"))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let base = format!("http://127.0.0.1:{port}/scim/v2/{org}");
    // Changes the server acknowledges while the receiver refuses everything.
    let mut expected: Vec<(String, &str)> = Vec::new();
    let change = |i: usize| {
        let body = format!(r#"{{"userName":"kill{i}@events.test"}}"#);
        let (status, created) =
            blocking_request(&format!("{base}/Users"), "POST", &token, Some(&body)).unwrap();
        assert_eq!(status, 201, "{created}");
        let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"t"}]}"#;
        let (status, _) =
            blocking_request(&format!("{base}/Users/{id}"), "PATCH", &token, Some(patch)).unwrap();
        assert_eq!(status, 200);
        (format!("/Users/{id}"), id)
    };
    for i in 0..10 {
        let (uri, _) = change(i);
        expected.push((uri.clone(), CREATE_FULL));
        expected.push((uri, PATCH_FULL));
    }
    blocking_until("a refused push", || !rx.hits().is_empty());
    let (ok, out, _) = cli(&db, &["events", "list", "--org", "default"]);
    assert!(
        ok && out.contains(&rid) && out.contains("last error: HTTP 503"),
        "{out}"
    );

    // SIGKILL with everything undelivered; the receiver recovers; the server restarts.
    server.kill().unwrap();
    server.wait().unwrap();
    rx.answer(Answer::Slow(Duration::from_millis(20)));
    let (mut server, _) = serve(&db, port);
    blocking_until("the first half delivered", || rx.accepted().len() >= 4);
    for i in 10..20 {
        let (uri, _) = change(i);
        expected.push((uri.clone(), CREATE_FULL));
        expected.push((uri, PATCH_FULL));
    }
    // SIGKILL again in the middle of delivering.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, _) = serve(&db, port);

    // Every acknowledged change arrives, in order; a duplicate is the same SET (same jti).
    let distinct = |tokens: &[String]| -> Vec<Value> {
        let mut seen = std::collections::HashMap::new();
        let mut out = Vec::new();
        for t in tokens {
            let c: Value = serde_json::from_slice(&unb64(t.split('.').nth(1).unwrap())).unwrap();
            let jti = c["jti"].as_str().unwrap().to_string();
            match seen.get(&jti) {
                Some(first) => {
                    let f: &Value = &out[*first];
                    assert_eq!(
                        (&c["txn"], &c["sub_id"], &c["events"]),
                        (&f["txn"], &f["sub_id"], &f["events"]),
                        "a duplicate jti is the same event"
                    )
                }
                None => {
                    seen.insert(jti, out.len());
                    out.push(c);
                }
            }
        }
        out
    };
    blocking_until("every event", || {
        distinct(&rx.accepted()).len() >= expected.len()
    });
    let jwks: Value = {
        let url = format!("http://127.0.0.1:{port}/events/{org}/jwks");
        let (status, body) = blocking_request(&url, "GET", "", None).unwrap();
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    };
    for t in rx.accepted() {
        verify(&t, &jwks);
    }
    let got: Vec<(String, String)> = distinct(&rx.accepted())
        .iter()
        .map(|c| {
            (
                c["sub_id"]["uri"].as_str().unwrap().to_string(),
                uris(c).join(","),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(u, e)| (u.clone(), e.to_string()))
        .collect();
    assert_eq!(got, want, "all of them, in order");
    let duplicates = rx.accepted().len() - got.len();
    eprintln!(
        "events after two SIGKILLs: {} delivered, {duplicates} duplicates",
        got.len()
    );
    server.kill().unwrap();
    server.wait().unwrap();
    drop(rt);
}

#[tokio::test]
async fn the_admin_page_adds_shows_resumes_and_removes_receivers() {
    let s = Server::start().await;
    let a = crate::admin::sign_in(&s).await;
    let page = a.get("/events.js").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("viewEvents") && !page.text.contains("innerHTML"));
    // The page's entry module loads the view.
    assert!(a.get("/app.js").await.text.contains("./events.js"));

    let bad = Receiver::start().await;
    bad.answer(Answer::Fail(
        400,
        r#"{"err":"authentication_failed"}"#.into(),
    ));
    let made = a
        .send(
            "POST",
            &a.org("/receivers"),
            Some(json!({"url": bad.url(), "detail": "full"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let made = made.json();
    assert!(made.get("token").is_none());
    let id = made["id"].as_str().unwrap().to_string();
    let poll = a
        .send(
            "POST",
            &a.org("/receivers"),
            Some(json!({"url": "https://app.example/e", "mode": "poll"})),
        )
        .await
        .json();
    assert!(poll["token"].as_str().unwrap().starts_with("sbe_"));
    assert_eq!(
        poll["pollEndpoint"],
        format!(
            "http://{}/events/{}/poll/{}",
            s.addr,
            s.org_id,
            poll["id"].as_str().unwrap()
        )
    );
    for body in [
        json!({"url": "ftp://x"}),
        json!({"url": "https://x", "mode": "carrier-pigeon"}),
        json!({}),
    ] {
        let r = a
            .send("POST", &a.org("/receivers"), Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }

    assert_eq!(
        s.post("/Users", &user("admin-ev@events.test")).await.status,
        201
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let list = a.get(&a.org("/receivers")).await.json();
        let r = list["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap()
            .clone();
        if r["status"] == "failed" {
            assert_eq!(
                list["jwksUri"],
                format!("http://{}/events/{}/jwks", s.addr, s.org_id)
            );
            break r;
        }
        assert!(Instant::now() < deadline, "never failed: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(shown["backlog"], 1);
    assert_eq!(shown["lastError"], "authentication_failed");
    assert!(shown.get("token").is_none(), "a token is never shown again");

    bad.answer(Answer::Accept);
    let r = a
        .send("POST", &a.org(&format!("/receivers/{id}/resume")), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    until("delivered after resuming", || !bad.accepted().is_empty()).await;
    let r = a
        .send("DELETE", &a.org(&format!("/receivers/{id}")), None)
        .await;
    assert_eq!(r.status, 204);
    let r = a
        .send("DELETE", &a.org(&format!("/receivers/{id}")), None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(receivers(&s).await.len(), 1);
}

#[tokio::test]
async fn an_https_receiver_is_trusted_through_the_ca_file_and_refused_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let certs = Arc::new(scimbox::tls::Certs::load(&cert, &key).unwrap());
    let rx = Receiver::start_tls(certs).await;

    // Trusting the receiver's certificate: delivered over TLS.
    let trusting = Server::start_opts(crate::common::Opts {
        events_ca_file: Some(cert.clone()),
        ..Default::default()
    })
    .await;
    add(&trusting, &rx.url(), "push", "notice").await;
    assert_eq!(
        trusting
            .post("/Users", &user("tls@events.test"))
            .await
            .status,
        201
    );
    until("the SET over https", || rx.accepted().len() == 1).await;
    verify(&rx.accepted()[0], &jwks(&trusting).await);

    // The bundled roots alone do not know this certificate: retried, with the reason shown.
    let doubting = Server::start().await;
    let (rid, _) = add(&doubting, &rx.url(), "push", "notice").await;
    assert_eq!(
        doubting
            .post("/Users", &user("tls2@events.test"))
            .await
            .status,
        201
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = receivers(&doubting)
            .await
            .into_iter()
            .find(|r| r.id == rid)
            .unwrap();
        if let Some(e) = &r.last_error {
            assert_eq!(r.status(), "retrying", "{r:?}");
            assert!(e.contains("request failed"), "{e}");
            break;
        }
        assert!(Instant::now() < deadline, "no error: {r:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rx.accepted().len(), 1, "nothing reached it unverified");
}
