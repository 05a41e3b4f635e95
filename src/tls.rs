//! HTTPS served directly: the certificate chain and private key come from PEM files
//! (`--tls-cert`, `--tls-key`), and the rustls configuration built from them sits behind a
//! lock, so a renewed certificate is served from the next handshake on without a restart.
//! Reloads happen on SIGHUP and when either file's modification time changes (checked every
//! few seconds); a reload that fails keeps the certificate being served and logs why.
//!
//! rustls runs on the `ring` provider and offers only HTTP/1.1 by ALPN, as the server speaks
//! nothing else.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How often the files' modification times are compared.
pub const POLL: Duration = Duration::from_secs(5);

/// The certificate being served and where it came from.
pub struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Stamps>,
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

fn stamps(cert: &Path, key: &Path) -> Stamps {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

impl Certs {
    /// Reads both files and builds the configuration, or says which file to fix and why.
    pub fn load(cert: &Path, key: &Path) -> Result<Certs, String> {
        let before = stamps(cert, key);
        let config = build(cert, key)?;
        Ok(Certs {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(config)),
            stamps: Mutex::new(before),
        })
    }

    /// The configuration for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the files again and serves them from the next handshake on. On error the
    /// certificate being served stays.
    pub fn reload(&self) -> Result<(), String> {
        let before = stamps(&self.cert, &self.key);
        let config = Arc::new(build(&self.cert, &self.key)?);
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        if let Ok(mut s) = self.stamps.lock() {
            *s = before;
        }
        Ok(())
    }

    /// Reloads if either file's modification time changed since the last load. `Ok(true)`
    /// when it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamps(&self.cert, &self.key);
        let changed = self.stamps.lock().map(|s| *s != now).unwrap_or(true);
        if !changed {
            return Ok(false);
        }
        match self.reload() {
            Ok(()) => Ok(true),
            Err(e) => {
                // Don't retry the same broken files every few seconds; wait for a new change.
                if let Ok(mut s) = self.stamps.lock() {
                    *s = now;
                }
                Err(e)
            }
        }
    }

    /// Reloads on SIGHUP and when the files change, until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            tokio::select! {
                () = hangup => match self.reload() {
                    Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the TLS certificate was not reloaded; still serving the previous one"),
                },
                _ = tick.tick() => match self.reload_if_changed() {
                    Ok(true) => tracing::info!("the TLS certificate files changed; reloaded them"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "the TLS certificate files changed but were not reloaded; still serving the previous ones"),
                },
            }
        }
    }
}

fn read(path: &Path, what: &str, flag: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| {
        format!(
            "cannot read the TLS {what} {} ({e}); set {flag} to a readable PEM file",
            path.display()
        )
    })
}

/// Builds a rustls server configuration from a PEM chain and a PEM key.
fn build(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let cert_pem = read(cert, "certificate", "--tls-cert (SCIMBOX_TLS_CERT)")?;
    let key_pem = read(key, "key", "--tls-key (SCIMBOX_TLS_KEY)")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "the TLS certificate {} is not valid PEM ({e}); --tls-cert needs the \
                 certificate chain as PEM (-----BEGIN CERTIFICATE-----)",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "the TLS certificate {} holds no certificate; --tls-cert needs the certificate \
             chain as PEM (-----BEGIN CERTIFICATE-----)",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!(
            "the TLS key {} holds no usable private key ({e}); --tls-key needs a PEM \
             PKCS#8, PKCS#1 or SEC1 key (-----BEGIN PRIVATE KEY-----)",
            key.display()
        )
    })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            format!(
                "the TLS certificate {} and key {} cannot be used together ({e}); check that \
                 --tls-key is the key of --tls-cert",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
