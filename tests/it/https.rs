//! HTTPS served directly: a certificate made in the test, a client that trusts only it, and a
//! renewed certificate picked up without a restart.

use crate::common::{Opts, Server};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use scimbox::tls::Certs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Writes a new self-signed certificate for "localhost" and its key; returns the DER to trust.
fn write_cert(cert: &Path, key: &Path) -> CertificateDer<'static> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cert, made.cert.pem()).unwrap();
    std::fs::write(key, made.signing_key.serialize_pem()).unwrap();
    made.cert.der().clone()
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

struct Answer {
    status: u16,
    body: String,
    /// The certificate the server presented.
    served: CertificateDer<'static>,
}

/// One HTTPS GET to `addr` as "localhost", trusting only `trust`.
async fn get(
    addr: SocketAddr,
    trust: &CertificateDer<'static>,
    path: &str,
    token: Option<&str>,
) -> Result<Answer, String> {
    let mut roots = RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", format!("localhost:{}", addr.port()));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8(body.to_vec()).unwrap(),
        served,
    })
}

#[tokio::test]
async fn https_serves_scim_and_a_renewed_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = paths(dir.path());
    let first = write_cert(&cert, &key);
    let certs = Arc::new(Certs::load(&cert, &key).unwrap());
    let s = Server::start_opts(Opts {
        certs: Some(certs.clone()),
        edge: scimbox::app::Edge {
            tls: true,
            ..Default::default()
        },
        ..Opts::default()
    })
    .await;

    let health = get(s.addr, &first, "/healthz", None).await.unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.served, first);
    // The port speaks only TLS: a plain HTTP request gets no answer.
    let url = format!("http://{}/healthz", s.addr);
    let plain =
        tokio::task::spawn_blocking(move || crate::common::blocking_request(&url, "GET", "", None))
            .await
            .unwrap();
    assert!(
        plain.as_ref().is_none_or(|(status, _)| *status != 200),
        "{plain:?}"
    );
    let path = format!("/scim/v2/{}/Users?filter=userName%20eq%20%22x%22", s.org_id);
    let list = get(s.addr, &first, &path, Some(&s.token)).await.unwrap();
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains("\"totalResults\":0"), "{}", list.body);

    // Renewed on disk, then reloaded (what SIGHUP does): new handshakes get the new one.
    let second = write_cert(&cert, &key);
    assert_ne!(first, second);
    certs.reload().unwrap();
    let after = get(s.addr, &second, "/healthz", None).await.unwrap();
    assert_eq!(after.served, second);
    assert!(
        get(s.addr, &first, "/healthz", None).await.is_err(),
        "a client trusting only the old certificate must now fail"
    );

    // A change of the files' modification time is noticed by the periodic check too.
    let third = write_cert(&cert, &key);
    assert!(certs.reload_if_changed().unwrap());
    assert!(!certs.reload_if_changed().unwrap());
    assert_eq!(
        get(s.addr, &third, "/healthz", None).await.unwrap().served,
        third
    );

    // A broken renewal keeps the certificate being served and says what is wrong.
    std::fs::write(&cert, "not a certificate").unwrap();
    let err = certs.reload().unwrap_err();
    assert!(err.contains("--tls-cert"), "{err}");
    assert_eq!(
        get(s.addr, &third, "/healthz", None).await.unwrap().status,
        200
    );
}

#[tokio::test]
async fn the_location_of_a_created_user_is_https_behind_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = paths(dir.path());
    let trust = write_cert(&cert, &key);
    let certs = Arc::new(Certs::load(&cert, &key).unwrap());
    let s = Server::start_opts(Opts {
        certs: Some(certs),
        edge: scimbox::app::Edge {
            tls: true,
            ..Default::default()
        },
        ..Opts::default()
    })
    .await;
    // Seed a user through the store, then read it over HTTPS and check its location.
    let data = serde_json::json!({"userName": "tls-loc@example.com"});
    let data =
        scimbox::model::resource::normalize(&scimbox::model::schema::USER_TYPE, &data).unwrap();
    let org = scimbox::directory::orgs::find(&s.store, s.org_id.clone())
        .await
        .unwrap();
    let user = scimbox::directory::users::create(
        &s.store,
        &crate::common::actor(),
        org.pk,
        data,
        crate::common::now(),
    )
    .await
    .unwrap();
    let path = format!("/scim/v2/{}/Users/{}", s.org_id, user.row.id);
    let got = get(s.addr, &trust, &path, Some(&s.token)).await.unwrap();
    assert_eq!(got.status, 200, "{}", got.body);
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    let expected = format!(
        "https://localhost:{}/scim/v2/{}/Users/{}",
        s.addr.port(),
        s.org_id,
        user.row.id
    );
    assert_eq!(v["meta"]["location"], expected);
}

#[test]
fn a_missing_or_mismatched_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = paths(dir.path());
    let err = Certs::load(&cert, &key).err().unwrap();
    assert!(
        err.contains("cannot read") && err.contains("--tls-cert"),
        "{err}"
    );
    write_cert(&cert, &key);
    std::fs::write(&key, "-----BEGIN NOTHING-----\n").unwrap();
    let err = Certs::load(&cert, &key).err().unwrap();
    assert!(err.contains("--tls-key"), "{err}");
    // A key that belongs to another certificate.
    let other = dir.path().join("other-key.pem");
    write_cert(&dir.path().join("other-cert.pem"), &other);
    write_cert(&cert, &key);
    let err = Certs::load(&cert, &other).err().unwrap();
    assert!(err.contains("--tls-key"), "{err}");
}
