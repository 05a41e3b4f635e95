//! SCIM events (RFC 9967) delivered to receivers: pushed (RFC 8935) by a task of its own that
//! reads the outbox, or polled (RFC 8936) by the receiver. The outbox itself is written by the
//! store, in the transaction of each change (see `store::outbox`), so the SCIM API never waits
//! for a receiver: a slow or absent one only grows its backlog.
//!
//! - `set`: building and signing the SETs, the organization's key and its JWKS.
//! - `push`: the deliverer: in order, retried with backoff, at least once, stable `jti`.
//! - `poll`: the poll endpoint's protocol (acknowledgements, `maxEvents`,
//!   `returnImmediately`).

pub mod poll;
pub mod push;
pub mod set;

use crate::error::{Error, Result};
use crate::store::{Store, outbox};
use std::time::Duration;

/// How delivery runs (flags of `scimbox serve`).
#[derive(Debug, Clone)]
pub struct Options {
    /// The root of the URLs the server hands out (`--public-url`, else its listen address):
    /// pushed SETs name `{root}/scim/v2/{org}` as their issuer.
    pub root: String,
    /// How long an undelivered event is kept (`--events-retention-hours`); `None` keeps it
    /// until every receiver had it.
    pub retention: Option<Duration>,
    /// The longest wait between two attempts to reach a receiver that is down.
    pub max_backoff: Duration,
    /// How long one push may take.
    pub timeout: Duration,
    /// `--events-ca-file`: CA certificates (PEM) trusted for https receivers besides the
    /// bundled roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Options {
    pub fn new(root: String) -> Options {
        Options {
            root,
            retention: Some(Duration::from_secs(7 * 24 * 3600)),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// The issuer of an organization's SETs: its SCIM base URL.
pub fn issuer(root: &str, org_id: &str) -> String {
    format!("{root}/scim/v2/{org_id}")
}

/// The organization's signing key, made and kept on first use.
pub async fn key(store: &Store, org_pk: i64) -> Result<set::Key> {
    if let Some((kid, pkcs8)) = store.read(move |c| outbox::key(c, org_pk)).await? {
        return set::Key::from_pkcs8(&kid, &pkcs8);
    }
    let (kid, pkcs8) = set::Key::generate()?;
    let now = crate::clock::format(crate::clock::now());
    // Two first uses at once: the first insert wins and both read it back.
    let (kid, pkcs8) = store
        .write(move |c| {
            outbox::insert_key(c, org_pk, &kid, &pkcs8, &now)?;
            outbox::key(c, org_pk)
        })
        .await?
        .ok_or_else(|| Error::Internal("the new signing key vanished".into()))?;
    set::Key::from_pkcs8(&kid, &pkcs8)
}

/// The organization's JWKS (RFC 7517 §5), `None` for an unknown organization.
pub async fn jwks(store: &Store, org_id: String) -> Result<Option<serde_json::Value>> {
    let Some(org_pk) = org_pk(store, org_id).await? else {
        return Ok(None);
    };
    let key = key(store, org_pk).await?;
    Ok(Some(serde_json::json!({"keys": [key.jwk()]})))
}

/// An organization's pk by its id (not its name: these are URLs).
pub async fn org_pk(store: &Store, org_id: String) -> Result<Option<i64>> {
    store
        .read(move |c| {
            Ok(crate::store::orgs::find(c, &org_id)?
                .filter(|o| o.id == org_id)
                .map(|o| o.pk))
        })
        .await
}

/// Starts the deliverer and the outbox upkeep; abort the handle to stop both. Fails when
/// `ca_file` cannot be read or holds no certificate.
pub fn start(store: Store, options: Options) -> Result<tokio::task::JoinHandle<()>> {
    let client = crate::outbound::Outbound::new(options.ca_file.as_deref())
        .map_err(|e| Error::InvalidValue(format!("{e} (set --events-ca-file)")))?;
    Ok(tokio::spawn(push::run(store, client, options)))
}
