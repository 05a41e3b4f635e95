//! OAuth 2.0 as Entra drives it: client credentials with a secret (Basic and form), secret
//! expiry and rotation, federated client assertions (RFC 7523) signed RS256 with keys the test
//! publishes as a JWKS over HTTPS on loopback, revocation, organization binding, and the exact
//! RFC 6749 §5.2 body of each bad request.

use crate::common::{Opts, Resp, Server, actor};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use scimbox::directory::clients::{self as clients, NewKind};
use scimbox::store::clients::Federation;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const KEY_1: &str = include_str!("../fixtures/oauth-test-key-1.pem");
const KEY_2: &str = include_str!("../fixtures/oauth-test-key-2.pem");
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ISS: &str = "https://login.microsoftonline.com/tenant-1/v2.0";
const SUB: &str = "0b7a-entra-app-object";
const AUD: &str = "api://scimbox-test";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn now_unix() -> i64 {
    scimbox::clock::now().unix_timestamp()
}

fn rsa(pem: &str) -> RsaKeyPair {
    let PrivateKeyDer::Pkcs8(der) = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap() else {
        panic!("the fixture is PKCS#8");
    };
    let der: PrivatePkcs8KeyDer<'_> = der;
    RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap()
}

/// The public half of a key as a JWK.
fn jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
           "n": b64(&public.n), "e": b64(&public.e)})
}

/// An RS256 compact JWS of `claims`, signed with `key` and naming `kid`.
fn sign(key: &RsaKeyPair, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

/// Claims as Entra's assertion carries them, valid for ten minutes, with a fresh jti.
fn claims() -> Value {
    let now = now_unix();
    json!({"iss": ISS, "sub": SUB, "aud": AUD, "iat": now, "nbf": now, "exp": now + 600,
           "jti": scimbox::auth::secret::random_hex(8).unwrap()})
}

/// A JWKS served over HTTPS on loopback with a certificate made here; counts its fetches.
struct Jwks {
    url: String,
    doc: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    ca: tempfile::NamedTempFile,
}

impl Jwks {
    async fn start(keys: Value) -> Jwks {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let mut ca = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut ca, made.cert.pem().as_bytes()).unwrap();
        let key = PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into());
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![made.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let doc = Arc::new(Mutex::new(json!({"keys": keys}).to_string()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (d, f) = (doc.clone(), fetches.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, d, f) = (acceptor.clone(), d.clone(), f.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
                            f.fetch_add(1, Ordering::SeqCst);
                            let body = d.lock().unwrap().clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(body)))
                                        .unwrap(),
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Jwks {
            url: format!("https://127.0.0.1:{port}/discovery/keys"),
            doc,
            fetches,
            ca,
        }
    }

    fn publish(&self, keys: Value) {
        *self.doc.lock().unwrap() = json!({"keys": keys}).to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A server that trusts the JWKS's certificate and refetches on an unknown kid at once.
async fn server_for(jwks: Option<&Jwks>) -> Server {
    // These tests fail client authentication on purpose, many times.
    let limits = scimbox::app::Limits {
        auth_free_failures: 1000,
        ..scimbox::app::Limits::default()
    };
    Server::start_opts(Opts {
        limits,
        oauth: Some(scimbox::auth::clients::Settings {
            extra_ca: jwks.map(|j| j.ca.path().to_path_buf()),
            jwks_min_refresh: Duration::ZERO,
            ..scimbox::auth::clients::Settings::default()
        }),
        ..Opts::default()
    })
    .await
}

async fn org(s: &Server) -> scimbox::store::orgs::Org {
    scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap()
}

/// A secret client: (client id, secret).
async fn secret_client(s: &Server, name: &str) -> (String, String) {
    let (row, secret) = clients::create(
        &s.store,
        &actor(),
        &org(s).await,
        name.into(),
        NewKind::Secret { days: 365 },
        scimbox::clock::now(),
    )
    .await
    .unwrap();
    (row.id, secret.unwrap().1.expose().to_string())
}

async fn federated_client(s: &Server, name: &str, jwks: &Jwks) -> String {
    let (row, secret) = clients::create(
        &s.store,
        &actor(),
        &org(s).await,
        name.into(),
        NewKind::Federated(Federation {
            jwks_url: jwks.url.clone(),
            issuer: ISS.into(),
            subject: SUB.into(),
            audience: AUD.into(),
        }),
        scimbox::clock::now(),
    )
    .await
    .unwrap();
    assert!(secret.is_none());
    row.id
}

async fn token_request(s: &Server, body: &str, headers: &[(&str, &str)]) -> Resp {
    let mut all = vec![("content-type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    s.raw(
        "POST",
        &format!("{}/oauth/token", s.root()),
        &all,
        Some(body.as_bytes().to_vec()),
    )
    .await
}

/// Asserts an RFC 6749 §5.2 error body, exactly, and returns it.
fn assert_oauth_error(r: &Resp, status: u16, error: &str, description: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"error": error, "error_description": description}),
        "{}",
        r.text
    );
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "never a SCIM body"
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    if error == "invalid_client" {
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"scimbox\"")
        );
    }
}

const FAILED: &str = "client authentication failed";

/// Asserts a §5.1 token answer and returns the access token.
fn assert_token(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], "scim");
    assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.header("pragma").as_deref(), Some("no-cache"));
    v["access_token"].as_str().unwrap().to_string()
}

async fn scim_get(s: &Server, url: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    s.raw("GET", url, &[("authorization", &auth)], None).await
}

#[tokio::test]
async fn a_secret_by_basic_or_by_form_gets_a_token_for_its_own_organization_only() {
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "entra").await;
    let grant = form(&[("grant_type", "client_credentials")]);
    let by_basic =
        assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await);
    let by_form = assert_token(
        &token_request(
            &s,
            &form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("scope", "scim"),
            ]),
            &[],
        )
        .await,
    );
    assert_ne!(by_basic, by_form);
    for token in [&by_basic, &by_form] {
        let r = scim_get(&s, &format!("{}/Users", s.base()), token).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // The token is bound to its organization's SCIM base URL.
    let (other, _) = s.other_org("other-org").await;
    let r = scim_get(
        &s,
        &format!("{}/scim/v2/{other}/Users", s.root()),
        &by_basic,
    )
    .await;
    r.assert_error(401, None);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"scimbox\"")
    );
    // A token with one character changed is refused.
    let mut forged = by_basic.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    scim_get(&s, &format!("{}/Users", s.base()), &forged)
        .await
        .assert_error(401, None);
    // Entra's scope form is accepted too.
    assert_token(
        &token_request(
            &s,
            &form(&[
                ("grant_type", "client_credentials"),
                ("scope", "api://scimbox/.default"),
            ]),
            &[("authorization", &basic(&id, &secret))],
        )
        .await,
    );
}

#[tokio::test]
async fn changes_made_with_an_access_token_name_the_client_in_audit_and_inspector() {
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "entra-prod").await;
    let token = assert_token(
        &token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, &secret))],
        )
        .await,
    );
    let auth = format!("Bearer {token}");
    let r = s
        .raw(
            "POST",
            &format!("{}/Users", s.base()),
            &[
                ("authorization", &auth),
                ("content-type", "application/scim+json"),
            ],
            Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": "oauth.made@example.com"})
                .to_string()
                .into_bytes(),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let org_pk = org(&s).await.pk;
    let audit = s
        .store
        .read(move |conn| scimbox::store::audit::list(conn, org_pk, None, 1))
        .await
        .unwrap();
    assert_eq!(audit[0].actor, "client:entra-prod");
    let search = scimbox::store::requests::Search {
        status: Some("201".into()),
        limit: 1,
        ..Default::default()
    };
    let (_, seen) = s
        .app
        .admin
        .inspector
        .list(&s.store, &s.org_id, search)
        .await
        .unwrap();
    assert_eq!(seen[0].token.as_deref(), Some("client:entra-prod"));
    assert!(!seen[0].request_body.contains(&token));
}

#[tokio::test]
async fn an_expired_secret_gets_no_token() {
    let s = server_for(None).await;
    // Made two years ago with a one-year secret.
    let (row, secret) = clients::create(
        &s.store,
        &actor(),
        &org(&s).await,
        "old".into(),
        NewKind::Secret { days: 365 },
        scimbox::clock::now() - time::Duration::days(730),
    )
    .await
    .unwrap();
    let secret = secret.unwrap().1;
    let r = token_request(
        &s,
        &form(&[("grant_type", "client_credentials")]),
        &[("authorization", &basic(&row.id, secret.expose()))],
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
}

#[tokio::test]
async fn two_secrets_work_during_a_rotation_and_a_deleted_one_stops_at_once() {
    let s = server_for(None).await;
    let (id, old) = secret_client(&s, "rotating").await;
    let o = org(&s).await;
    let (new_id, new) = clients::rotate(
        &s.store,
        &actor(),
        &o,
        "rotating".into(),
        365,
        scimbox::clock::now(),
    )
    .await
    .unwrap();
    let grant = form(&[("grant_type", "client_credentials")]);
    let with_old =
        assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &old))]).await);
    assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, new.expose()))]).await);
    let users = format!("{}/Users", s.base());
    assert_eq!(scim_get(&s, &users, &with_old).await.status, 200);

    let old_id = scimbox::directory::clients::list(&s.store, &o)
        .await
        .unwrap()
        .into_iter()
        .find(|(c, _)| c.id == id)
        .unwrap()
        .1
        .into_iter()
        .find(|sec| sec.id != new_id)
        .unwrap()
        .id;
    clients::delete_secret(
        &s.store,
        &actor(),
        &o,
        id.clone(),
        old_id,
        scimbox::clock::format(scimbox::clock::now()),
    )
    .await
    .unwrap();
    // The deleted secret gets no token, and the token it got is refused from now on.
    let r = token_request(&s, &grant, &[("authorization", &basic(&id, &old))]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
    scim_get(&s, &users, &with_old)
        .await
        .assert_error(401, None);
    let with_new = assert_token(
        &token_request(&s, &grant, &[("authorization", &basic(&id, new.expose()))]).await,
    );
    assert_eq!(scim_get(&s, &users, &with_new).await.status, 200);
}

#[tokio::test]
async fn a_revoked_client_gets_no_token_and_its_tokens_stop_at_once() {
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "leaving").await;
    let grant = form(&[("grant_type", "client_credentials")]);
    let token =
        assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await);
    let users = format!("{}/Users", s.base());
    assert_eq!(scim_get(&s, &users, &token).await.status, 200);
    clients::revoke(
        &s.store,
        &actor(),
        &org(&s).await,
        "leaving".into(),
        scimbox::clock::format(scimbox::clock::now()),
    )
    .await
    .unwrap();
    scim_get(&s, &users, &token).await.assert_error(401, None);
    let r = token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
}

#[tokio::test]
async fn access_tokens_obey_the_rate_limit_per_client() {
    let limits = scimbox::app::Limits {
        rate_limit: 1,
        rate_burst: 1,
        ..scimbox::app::Limits::default()
    };
    let s = Server::start_with(limits).await;
    let (id, secret) = secret_client(&s, "busy").await;
    let token = assert_token(
        &token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, &secret))],
        )
        .await,
    );
    let users = format!("{}/Users", s.base());
    assert_eq!(scim_get(&s, &users, &token).await.status, 200);
    let r = scim_get(&s, &users, &token).await;
    r.assert_error(429, None);
    // The API token has its own bucket.
    assert_eq!(s.get("/Users").await.status, 200);
}

#[tokio::test]
async fn failed_client_authentications_are_throttled_like_failed_tokens() {
    let limits = scimbox::app::Limits {
        auth_free_failures: 2,
        ..scimbox::app::Limits::default()
    };
    let s = Server::start_with(limits).await;
    let (id, _) = secret_client(&s, "guessed").await;
    for _ in 0..2 {
        let r = token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, "wrong"))],
        )
        .await;
        assert_oauth_error(&r, 401, "invalid_client", FAILED);
    }
    // Both misses were counted: the next check from this address must wait, and is refused
    // before the secret is looked at (the right secret too).
    for secret in ["wrong", "also wrong"] {
        let r = token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, secret))],
        )
        .await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.json()["error"], "invalid_request");
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
    }
}

#[tokio::test]
async fn a_federated_client_is_checked_against_its_jwks_iss_sub_aud_exp_and_jti() {
    let (k1, k2) = (rsa(KEY_1), rsa(KEY_2));
    let jwks = Jwks::start(json!([jwk(&k1, "k1")])).await;
    let s = server_for(Some(&jwks)).await;
    let id = federated_client(&s, "entra-wif", &jwks).await;
    let ask = |assertion: String, with_id: bool| {
        let mut pairs = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_assertion_type", ASSERTION_TYPE.to_string()),
            ("client_assertion", assertion),
            ("scope", format!("{AUD}/.default")),
        ];
        if with_id {
            pairs.push(("client_id", id.clone()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form(&pairs)
    };

    // A good assertion, as Entra sends it.
    let r = token_request(&s, &ask(sign(&k1, "k1", &claims()), true), &[]).await;
    let token = assert_token(&r);
    assert_eq!(
        scim_get(&s, &format!("{}/Users", s.base()), &token)
            .await
            .status,
        200
    );
    assert_eq!(jwks.fetches(), 1);
    // Keys are cached: a second assertion makes no fetch. Without client_id, the client is
    // the one configured for the assertion's iss and sub.
    assert_token(&token_request(&s, &ask(sign(&k1, "k1", &claims()), false), &[]).await);
    assert_eq!(jwks.fetches(), 1);

    // The provider rotates its key: an unknown kid makes one fresh fetch.
    jwks.publish(json!([jwk(&k2, "k2")]));
    assert_token(&token_request(&s, &ask(sign(&k2, "k2", &claims()), true), &[]).await);
    assert_eq!(jwks.fetches(), 2);
    // A key that is no longer published verifies nothing; a signature by another key under a
    // published kid neither.
    for assertion in [sign(&k1, "k1", &claims()), sign(&k1, "k2", &claims())] {
        let r = token_request(&s, &ask(assertion, true), &[]).await;
        assert_oauth_error(&r, 401, "invalid_client", FAILED);
    }

    let signed = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(&k2, "k2", &c)
    };
    let now = now_unix();
    let cases = [
        (
            json!({"iss": "https://sts.windows.net/other/"}),
            "the client assertion's iss is not the issuer configured for this client",
        ),
        (
            json!({"sub": "someone-else"}),
            "the client assertion's sub is not the subject configured for this client",
        ),
        (
            json!({"aud": format!("{}/oauth/token", s.root())}),
            "the client assertion's aud does not name the audience configured for this client",
        ),
        (
            json!({"exp": now - 3600, "nbf": now - 7200}),
            "the client assertion has expired",
        ),
        (
            json!({"nbf": now + 3600, "exp": now + 7200}),
            "the client assertion is not valid yet (nbf)",
        ),
        (
            json!({"exp": now + 3 * 86400}),
            "the client assertion lives longer than 24 hours (exp)",
        ),
    ];
    for (patch, description) in cases {
        let r = token_request(&s, &ask(signed(patch.clone()), true), &[]).await;
        assert_oauth_error(&r, 401, "invalid_client", description);
    }

    // The same assertion twice: the second is a replay.
    let once = sign(&k2, "k2", &claims());
    assert_token(&token_request(&s, &ask(once.clone(), true), &[]).await);
    let r = token_request(&s, &ask(once, true), &[]).await;
    assert_oauth_error(
        &r,
        401,
        "invalid_client",
        "the client assertion was used before (its jti was seen)",
    );

    // A federated client has no secret to present, and a secret client takes no assertion.
    let (secret_id, _) = secret_client(&s, "plain").await;
    let mut c = claims();
    c["sub"] = json!(SUB);
    let r = token_request(
        &s,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &secret_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &sign(&k2, "k2", &c)),
        ]),
        &[],
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
    let r = token_request(
        &s,
        &form(&[("grant_type", "client_credentials")]),
        &[("authorization", &basic(&id, "sbs_0000000000000000_00"))],
    )
    .await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
}

#[tokio::test]
async fn a_jwks_that_cannot_be_fetched_keeps_the_cached_keys() {
    let k1 = rsa(KEY_1);
    let jwks = Jwks::start(json!([jwk(&k1, "k1")])).await;
    let s = server_for(Some(&jwks)).await;
    let id = federated_client(&s, "flaky", &jwks).await;
    let ask = |a: String| {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &a),
        ])
    };
    assert_token(&token_request(&s, &ask(sign(&k1, "k1", &claims())), &[]).await);
    // The JWKS turns into garbage; an unknown kid asks for a fetch, which fails.
    *jwks.doc.lock().unwrap() = "not a jwks".into();
    let r = token_request(&s, &ask(sign(&k1, "k9", &claims())), &[]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
    assert_eq!(jwks.fetches(), 2);
    // k1 is still known.
    assert_token(&token_request(&s, &ask(sign(&k1, "k1", &claims())), &[]).await);
}

#[tokio::test]
async fn each_bad_token_request_gets_its_rfc_6749_error() {
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "checked").await;
    let good = basic(&id, &secret);
    let url = format!("{}/oauth/token", s.root());

    let r = s.raw("GET", &url, &[], None).await;
    assert_oauth_error(&r, 405, "invalid_request", "the token endpoint takes POST");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));

    let r = s
        .raw(
            "POST",
            &url,
            &[
                ("content-type", "application/json"),
                ("authorization", &good),
            ],
            Some(b"{\"grant_type\":\"client_credentials\"}".to_vec()),
        )
        .await;
    assert_oauth_error(
        &r,
        400,
        "invalid_request",
        "send the parameters as application/x-www-form-urlencoded",
    );

    // (body, headers, status, error, error_description)
    type Case<'a> = (String, Vec<(&'a str, String)>, u16, &'a str, String);
    let cases: Vec<Case<'_>> = vec![
        (form(&[]), vec![("authorization", good.clone())], 400, "invalid_request",
         "grant_type is missing".into()),
        (form(&[("grant_type", "password")]), vec![("authorization", good.clone())], 400,
         "unsupported_grant_type", "the only grant type is client_credentials".into()),
        (form(&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")]),
         vec![("authorization", good.clone())], 400, "invalid_request",
         "grant_type is given more than once".into()),
        (form(&[("grant_type", "client_credentials")]), vec![], 401, "invalid_client",
         "no client authentication: use HTTP Basic, client_id and client_secret, or a client_assertion".into()),
        (form(&[("grant_type", "client_credentials"), ("client_secret", &secret)]),
         vec![("authorization", good.clone())], 400, "invalid_request",
         "use one client authentication method: HTTP Basic, client_secret or client_assertion".into()),
        (form(&[("grant_type", "client_credentials"), ("client_secret", &secret)]), vec![], 400,
         "invalid_request", "client_id is missing beside client_secret".into()),
        (form(&[("grant_type", "client_credentials"), ("client_id", "sbc_other")]),
         vec![("authorization", good.clone())], 400, "invalid_request",
         "client_id differs from the client in the Authorization header".into()),
        (form(&[("grant_type", "client_credentials"), ("scope", "admin")]),
         vec![("authorization", good.clone())], 400, "invalid_scope",
         "the scope to ask for is scim (or leave scope out)".into()),
        (form(&[("grant_type", "client_credentials")]),
         vec![("authorization", format!("Bearer {}", s.token))], 401, "invalid_client",
         FAILED.into()),
        (form(&[("grant_type", "client_credentials")]),
         vec![("authorization", "Basic !!!".into())], 401, "invalid_client", FAILED.into()),
        (form(&[("grant_type", "client_credentials")]),
         vec![("authorization", basic("sbc_0000000000000000", &secret))], 401, "invalid_client",
         FAILED.into()),
        (form(&[("grant_type", "client_credentials")]),
         vec![("authorization", basic(&id, "wrong"))], 401, "invalid_client", FAILED.into()),
        (form(&[("grant_type", "client_credentials"), ("client_assertion", "a.b.c")]), vec![], 400,
         "invalid_request", "client_assertion_type is missing beside client_assertion".into()),
        (form(&[("grant_type", "client_credentials"), ("client_assertion", "a.b.c"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")]),
         vec![], 401, "invalid_client",
         format!("the only client_assertion_type is {ASSERTION_TYPE}")),
        (form(&[("grant_type", "client_credentials"), ("client_assertion", "not-a-jwt"),
                ("client_assertion_type", ASSERTION_TYPE)]),
         vec![], 401, "invalid_client", FAILED.into()),
    ];
    for (body, headers, status, error, description) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = token_request(&s, &body, &headers).await;
        assert_oauth_error(&r, status, error, &description);
    }

    let many = format!("grant_type=client_credentials{}", "&a".repeat(20_000));
    let r = token_request(&s, &many, &[("authorization", &good)]).await;
    assert_oauth_error(
        &r,
        400,
        "invalid_request",
        "a token request has at most 32 parameters",
    );

    let huge = format!(
        "grant_type=client_credentials&pad={}",
        "x".repeat(70 * 1024)
    );
    let r = token_request(&s, &huge, &[("authorization", &good)]).await;
    assert_oauth_error(
        &r,
        413,
        "invalid_request",
        "the request body is over 65536 bytes",
    );
}

#[tokio::test]
async fn discovery_names_both_schemes_and_the_token_endpoint() {
    let s = Server::start().await;
    let r = s.get("/ServiceProviderConfig").await;
    let schemes = r.json()["authenticationSchemes"].clone();
    assert_eq!(schemes[0]["type"], "oauthbearertoken");
    assert_eq!(schemes[1]["type"], "oauth2");
    assert_eq!(
        schemes[1]["documentationUri"],
        format!("{}/.well-known/oauth-authorization-server", s.root())
    );
    let r = s
        .raw(
            "GET",
            &format!("{}/.well-known/oauth-authorization-server", s.root()),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc["issuer"], s.root());
    assert_eq!(doc["token_endpoint"], format!("{}/oauth/token", s.root()));
    assert_eq!(doc["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
}

/// The CLI's shapes, and a revocation from another process reaching a running server.
#[tokio::test]
async fn the_cli_makes_rotates_and_revokes_clients_and_a_running_server_sees_it() {
    let s = server_for(None).await;
    let db = s.db.clone();
    let run = |args: Vec<String>| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(crate::cli::BIN)
                    .args(&args)
                    .arg("--db")
                    .arg(&db)
                    .output()
                    .unwrap();
                (
                    out.status.success(),
                    String::from_utf8(out.stdout).unwrap(),
                    String::from_utf8(out.stderr).unwrap(),
                )
            })
            .await
            .unwrap()
        }
    };
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let org = s.org_id.clone();

    let (ok, out, err) = run(args(&[
        "client",
        "create",
        "--org",
        &org,
        "--name",
        "cli-entra",
    ]))
    .await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let (id, secret) = (lines[0].to_string(), lines[1].to_string());
    assert!(
        id.starts_with("sbc_") && secret.starts_with("sbs_"),
        "{out}"
    );
    let grant = form(&[("grant_type", "client_credentials")]);
    let token =
        assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await);

    let (ok, rotated, err) = run(args(&["client", "rotate", "--org", &org, "cli-entra"])).await;
    assert!(ok, "{err}");
    let new_secret = rotated.trim().to_string();
    assert_eq!(rotated.lines().count(), 1);
    assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &new_secret))]).await);

    let (ok, list, _) = run(args(&["client", "list", "--org", &org])).await;
    assert!(ok);
    assert!(
        !list.contains(&secret[20..]) && !list.contains(&new_secret[20..]),
        "{list}"
    );
    let old_secret_id = &secret[4..20];
    assert!(list.contains(&format!("secret {old_secret_id}")), "{list}");
    let (ok, _, err) = run(args(&[
        "client",
        "delete-secret",
        "--org",
        &org,
        &id,
        old_secret_id,
    ]))
    .await;
    assert!(ok, "{err}");
    let r = token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);

    let (ok, out, err) = run(args(&[
        "client",
        "create",
        "--org",
        &org,
        "--name",
        "cli-wif",
        "--jwks-url",
        "https://login.example.com/keys",
        "--issuer",
        ISS,
        "--subject",
        SUB,
        "--audience",
        AUD,
    ]))
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().count(),
        1,
        "a federated client has no secret: {out}"
    );

    // Revoked from another process: the running server refuses the token at once.
    let users = format!("{}/Users", s.base());
    let (ok, _, err) = run(args(&["client", "revoke", "--org", &org, "cli-entra"])).await;
    assert!(ok, "{err}");
    scim_get(&s, &users, &token).await.assert_error(401, None);

    // Bad input: one line, exit 1.
    for (bad, says) in [
        (
            args(&["client", "revoke", "--org", &org, "cli-entra"]),
            "no live client",
        ),
        (
            args(&[
                "client",
                "create",
                "--org",
                &org,
                "--name",
                "x",
                "--expires-in",
                "2000",
            ]),
            "1..=1095",
        ),
        (
            args(&[
                "client",
                "create",
                "--org",
                &org,
                "--name",
                "x",
                "--jwks-url",
                "https://k",
            ]),
            "--issuer",
        ),
        (
            args(&[
                "client",
                "create",
                "--org",
                &org,
                "--name",
                "x",
                "--jwks-url",
                "http://k",
                "--issuer",
                "i",
                "--subject",
                "s",
                "--audience",
                "a",
            ]),
            "https://",
        ),
        (
            args(&["client", "create", "--org", &org, "--name", "cli-wif"]),
            "client name",
        ),
        (
            args(&["client", "rotate", "--org", &org, "cli-wif"]),
            "federated client has no secrets",
        ),
        (
            args(&["client", "delete-secret", "--org", &org, "cli-wif", "0000"]),
            "no secret",
        ),
        (
            args(&["client", "list", "--org", "nope"]),
            "no organization",
        ),
    ] {
        let (ok, _, err) = run(bad.clone()).await;
        assert!(!ok, "{bad:?}");
        assert!(err.contains(says), "{bad:?}: {err}");
    }
}

#[tokio::test]
async fn the_admin_page_makes_rotates_and_revokes_clients() {
    let s = server_for(None).await;
    let a = crate::admin::sign_in(&s).await;
    let r = a.get(&a.org("/clients")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["tokenEndpoint"], format!("{}/oauth/token", s.root()));
    assert_eq!(v["clients"], json!([]));

    let r = a
        .send(
            "POST",
            &a.org("/clients"),
            Some(json!({"name": "entra", "expiresInDays": 30})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let made = r.json();
    let (id, secret) = (
        made["id"].as_str().unwrap().to_string(),
        made["secret"]["value"].as_str().unwrap().to_string(),
    );
    let grant = form(&[("grant_type", "client_credentials")]);
    assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await);

    // The list shows secret ids and dates, never a secret.
    let listed = a.get(&a.org("/clients")).await;
    assert!(!listed.text.contains(&secret[20..]), "{}", listed.text);
    let first_secret = listed.json()["clients"][0]["secrets"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = a
        .send(
            "POST",
            &a.org(&format!("/clients/{id}/secrets")),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = r.json()["value"].as_str().unwrap().to_string();
    let r = a
        .send(
            "DELETE",
            &a.org(&format!("/clients/{id}/secrets/{first_secret}")),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = token_request(&s, &grant, &[("authorization", &basic(&id, &secret))]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
    assert_token(&token_request(&s, &grant, &[("authorization", &basic(&id, &second))]).await);

    let r = a
        .send(
            "POST",
            &a.org("/clients"),
            Some(
                json!({"name": "wif", "kind": "federated", "jwksUrl": "http://insecure/keys",
                        "issuer": ISS, "subject": SUB, "audience": AUD}),
            ),
        )
        .await;
    let message = crate::admin::assert_fail(&r, 400, "invalid");
    assert!(message.contains("https://"), "{message}");
    let r = a
        .send(
            "POST",
            &a.org("/clients"),
            Some(json!({"name": "x", "expiresInDays": 5000})),
        )
        .await;
    crate::admin::assert_fail(&r, 400, "invalid");

    let r = a
        .send("DELETE", &a.org(&format!("/clients/{id}")), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = token_request(&s, &grant, &[("authorization", &basic(&id, &second))]).await;
    assert_oauth_error(&r, 401, "invalid_client", FAILED);
    let r = a
        .send("DELETE", &a.org(&format!("/clients/{id}")), None)
        .await;
    crate::admin::assert_fail(&r, 404, "not-found");
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn post_blocking(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// The real binary at trace level: its log names the client, and never holds a secret, an
/// assertion or an access token.
#[test]
fn the_log_names_the_client_and_never_holds_a_secret_or_a_token() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(crate::cli::BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "trace",
            "--db",
        ])
        .arg(&db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(u) = line.trim().strip_prefix("SCIM base URL:") {
            break u.trim().to_string();
        }
    };
    let root = base.split("/scim/").next().unwrap().to_string();
    let out = std::process::Command::new(crate::cli::BIN)
        .args([
            "client", "create", "--org", "default", "--name", "logged", "--db",
        ])
        .arg(&db)
        .output()
        .unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let mut it = out.lines();
    let (id, secret) = (
        it.next().unwrap().to_string(),
        it.next().unwrap().to_string(),
    );
    let token_url = format!("{root}/oauth/token");
    let ct = ("content-type", "application/x-www-form-urlencoded");
    let (status, body) = post_blocking(
        &token_url,
        &[ct],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ]),
    );
    assert_eq!(status, 200, "{body}");
    let access: Value = serde_json::from_str(&body).unwrap();
    let access = access["access_token"].as_str().unwrap().to_string();
    let last = if secret.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &secret[..secret.len() - 1]);
    let (status, _) = post_blocking(
        &token_url,
        &[ct, ("authorization", &basic(&id, &wrong))],
        "grant_type=client_credentials",
    );
    assert_eq!(status, 401);
    let assertion = sign(&rsa(KEY_1), "k1", &claims());
    let (status, _) = post_blocking(
        &token_url,
        &[ct],
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ]),
    );
    assert_eq!(status, 401);
    let (status, _) =
        crate::common::blocking_request(&format!("{base}/Users"), "GET", &access, None).unwrap();
    assert_eq!(status, 200);
    child.kill().unwrap();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("client=\"client:logged\""), "{text}");
    for (what, value) in [
        ("secret", &secret[20..]),
        ("wrong secret", &wrong[20..]),
        ("access token", &access[6..]),
        ("assertion", &assertion[assertion.len() - 40..]),
    ] {
        assert!(!text.contains(value), "the log holds the {what}");
    }
}

#[tokio::test]
async fn the_access_token_lifetime_is_a_flag_bounded_to_one_to_six_hours() {
    let s = Server::start_opts(Opts {
        oauth: Some(scimbox::auth::clients::Settings {
            access_token_minutes: 360,
            ..scimbox::auth::clients::Settings::default()
        }),
        ..Opts::default()
    })
    .await;
    let (id, secret) = secret_client(&s, "long").await;
    let r = token_request(
        &s,
        &form(&[("grant_type", "client_credentials")]),
        &[("authorization", &basic(&id, &secret))],
    )
    .await;
    assert_eq!(r.json()["expires_in"], 6 * 3600, "{}", r.text);
    for bad in ["59", "361"] {
        let out = std::process::Command::new(crate::cli::BIN)
            .args(["serve", "--access-token-minutes", bad])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("--access-token-minutes") && err.contains("60..=360"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_access_token_meets_the_scim_switch_like_an_api_token() {
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "switched").await;
    let token = assert_token(
        &token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, &secret))],
        )
        .await,
    );
    let o = org(&s).await;
    let now = || scimbox::clock::format(scimbox::clock::now());
    scimbox::directory::orgs::set_scim_enabled(&s.store, &actor(), &o, false, now())
        .await
        .unwrap();
    let users = format!("{}/Users", s.base());
    scim_get(&s, &users, &token).await.assert_error(403, None);
    scimbox::directory::orgs::set_scim_enabled(&s.store, &actor(), &o, true, now())
        .await
        .unwrap();
    assert_eq!(scim_get(&s, &users, &token).await.status, 200);
}

#[tokio::test]
async fn an_access_token_sees_the_organizations_declared_schema_extensions() {
    const URN: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let s = server_for(None).await;
    let (id, secret) = secret_client(&s, "entra").await;
    let token = assert_token(
        &token_request(
            &s,
            &form(&[("grant_type", "client_credentials")]),
            &[("authorization", &basic(&id, &secret))],
        )
        .await,
    );
    let auth = format!("Bearer {token}");
    async fn create(s: &Server, auth: &str, name: &str, ext: Value) -> Resp {
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", URN],
                          "userName": name, URN: ext});
        s.raw(
            "POST",
            &format!("{}/Users", s.base()),
            &[
                ("authorization", auth),
                ("content-type", "application/scim+json"),
            ],
            Some(body.to_string().into_bytes()),
        )
        .await
    }
    // Before the declaration (the client is cached now): dropped, as for an API token.
    let r = create(
        &s,
        &auth,
        "before@example.com",
        json!({"costCenter": "CC-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json().get(URN).is_none(), "{}", r.text);
    let schema = json!({"id": URN, "name": "CustomExtensionName", "attributes": [
        {"name": "costCenter", "type": "string"}, {"name": "seats", "type": "integer"}]});
    scimbox::directory::schemas::add(
        &s.store,
        &actor(),
        org(&s).await.pk,
        schema.to_string(),
        "User".into(),
        crate::common::now(),
    )
    .await
    .unwrap();
    // The same access token now keeps declared values and types them.
    let r = create(&s, &auth, "ada@example.com", json!({"costCenter": "CC-42"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()[URN]["costCenter"], "CC-42", "{}", r.text);
    let user = scim_get(
        &s,
        &format!("{}/Users/{}", s.base(), r.json()["id"].as_str().unwrap()),
        &token,
    )
    .await;
    assert_eq!(user.json()[URN]["costCenter"], "CC-42", "{}", user.text);
    // Filters know the declared attribute (a principal without the declaration would refuse
    // it as invalidFilter), and the request is not marked as dropping it.
    let filter = format!("{URN}:costCenter%20eq%20%22cc-42%22");
    let found = scim_get(&s, &format!("{}/Users?filter={filter}", s.base()), &token).await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json()["totalResults"], 1, "{}", found.text);
    let search = scimbox::store::requests::Search {
        method: Some("POST".into()),
        limit: 2,
        ..Default::default()
    };
    let (_, seen) = s
        .app
        .admin
        .inspector
        .list(&s.store, &s.org_id, search)
        .await
        .unwrap();
    assert!(seen[0].dropped.is_empty(), "{:?}", seen[0].dropped);
    assert_eq!(seen[1].dropped, [format!("{URN}:costCenter")]);
    let bad = create(&s, &auth, "bob@example.com", json!({"seats": "three"})).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json()["scimType"], "invalidValue", "{}", bad.text);
    assert!(bad.text.contains(&format!("{URN}:seats")), "{}", bad.text);
}
