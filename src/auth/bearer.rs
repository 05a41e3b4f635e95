//! Bearer tokens: `sbx_<id>_<secret>`. The id finds the stored argon2id hash in one indexed
//! lookup; the secret is what is verified. Verifying argon2 on every request would cap the API
//! at a few dozen requests a second, so a verified token is remembered by its SHA-256 digest.
//!
//! Revocation reaches a running server at once, even from the CLI in another process: triggers
//! bump `auth_epoch` on every change that matters, and before each request the server asks
//! SQLite whether any other connection committed (`PRAGMA data_version`, a memory read); only
//! then does it read the epoch, and if it moved it forgets every cached token.

use super::secret;
use super::token::{SECRET_HEX, token_id};
use crate::error::{Error, Result};
use crate::store::{self, Store, tokens};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Who a request acts as once its token checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org_pk: i64,
    pub org_id: String,
    pub token_pk: i64,
    pub token_name: String,
    /// The organization's resource types with its declared schema extensions, read with the
    /// token: declaring or removing one bumps `auth_epoch`, which drops this cache.
    pub types: crate::model::declared::Types,
}

impl Principal {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_name)
    }
}

#[derive(Clone)]
struct Cached {
    digest: [u8; 32],
    principal: Principal,
    scim_enabled: bool,
    expires: Option<String>,
    last_touched: Option<String>,
}

/// Watches to check with: several, so concurrent requests do not queue on one mutex.
const WATCHES: usize = 4;

/// Verifies bearer tokens for the SCIM API.
pub struct Authenticator {
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    watches: Vec<Mutex<store::Watch>>,
    next_watch: AtomicUsize,
    /// The last `auth_epoch` seen; the cache holds only entries verified under it.
    epoch: AtomicI64,
    /// argon2 is deliberately slow; a few at a time keep a flood of bad tokens from taking
    /// every core.
    verify_slots: Semaphore,
    /// A real hash to verify against when the token id is unknown, so the answer takes the
    /// same time whether or not the id exists.
    decoy_hash: String,
}

impl Authenticator {
    pub fn new(db: &Path) -> Result<Authenticator> {
        let mut watches = Vec::with_capacity(WATCHES);
        let mut epoch = 0;
        for _ in 0..WATCHES {
            let watch = store::Watch::open(db)?;
            epoch = watch.read(|conn| tokens::auth_epoch(conn))?;
            watches.push(Mutex::new(watch));
        }
        Ok(Authenticator {
            cache: Mutex::new(HashMap::new()),
            watches,
            next_watch: AtomicUsize::new(0),
            epoch: AtomicI64::new(epoch),
            verify_slots: Semaphore::new(2),
            decoy_hash: secret::hash_token(&secret::random_hex(SECRET_HEX)?)?,
        })
    }

    /// Drops every cached token if anything that matters to authentication changed since the
    /// last look, in this process or another.
    fn refresh(&self) -> Result<()> {
        let n = self.watches.len();
        let start = self.next_watch.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|i| self.watches[(start + i) % n].try_lock().ok());
        let mut w = match free {
            Some(w) => w,
            None => self.watches[start]
                .lock()
                .map_err(|_| Error::Internal("auth watch poisoned".into()))?,
        };
        if !w.changed()? {
            return Ok(());
        }
        let epoch = w.read(|conn| tokens::auth_epoch(conn))?;
        if epoch != self.epoch.load(Ordering::SeqCst) {
            // Clear first, then publish the epoch: a request that sees the new epoch finds
            // no entry verified before it.
            if let Ok(mut cache) = self.cache.lock() {
                cache.clear();
            }
            self.epoch.store(epoch, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Checks an `Authorization` header value for the organization named in the URL.
    /// Every failure is the same `Unauthorized`, so nothing can be learned from the answer.
    /// Returns the principal and whether its `last_used` is due an update.
    pub async fn authenticate(
        &self,
        store: &Store,
        header: Option<&str>,
        org_id: &str,
        now: &str,
    ) -> Result<(Principal, bool)> {
        let bearer = header
            .and_then(|h| {
                let (scheme, value) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
            })
            .filter(|v| !v.is_empty())
            .ok_or(Error::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        self.refresh()?;
        let cached = self
            .cache
            .lock()
            .map_err(|_| Error::Internal("token cache poisoned".into()))?
            .get(&digest)
            .cloned();
        let entry = match cached {
            // The map lookup is by digest; the constant-time compare keeps the final check
            // free of early exits.
            Some(c) if bool::from(c.digest.ct_eq(&digest)) => c,
            _ => self.verify_slow(store, bearer, digest, now).await?,
        };
        if entry.principal.org_id != org_id || entry.expires.as_deref().is_some_and(|e| e <= now) {
            return Err(Error::Unauthorized);
        }
        if !entry.scim_enabled {
            return Err(Error::Forbidden(
                "SCIM provisioning is disabled for this organization; switch it on in scimbox"
                    .into(),
            ));
        }
        // last_used is kept to the minute: one write per token per minute, not per request.
        let due = entry
            .last_touched
            .as_deref()
            .is_none_or(|t| t.get(..16) != now.get(..16));
        if due && let Ok(mut cache) = self.cache.lock() {
            if let Some(c) = cache.get_mut(&digest) {
                c.last_touched = Some(now.to_string());
            }
        }
        Ok((entry.principal, due))
    }

    async fn verify_slow(
        &self,
        store: &Store,
        bearer: &str,
        digest: [u8; 32],
        now: &str,
    ) -> Result<Cached> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let row = match token_id(bearer) {
            Some(id) => {
                let id = id.to_string();
                store
                    .read(move |conn| match tokens::by_id(conn, &id)? {
                        Some(row) => {
                            let types = store::schemas::types(conn, row.org_pk)?;
                            Ok(Some((row, types)))
                        }
                        None => Ok(None),
                    })
                    .await?
            }
            None => None,
        };
        let _slot = self
            .verify_slots
            .acquire()
            .await
            .map_err(|_| Error::Internal("auth closed".into()))?;
        let hash = row
            .as_ref()
            .map_or(self.decoy_hash.clone(), |(r, _)| r.hash.clone());
        let candidate = bearer.to_string();
        let matched = tokio::task::spawn_blocking(move || secret::verify(&candidate, &hash))
            .await
            .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
        let (row, types) = match row {
            Some((row, types)) if matched && row.is_live(now) => (row, types),
            _ => return Err(Error::Unauthorized),
        };
        let entry = Cached {
            digest,
            principal: Principal {
                org_pk: row.org_pk,
                org_id: row.org_id.clone(),
                token_pk: row.pk,
                token_name: row.name.clone(),
                types,
            },
            scim_enabled: row.org_scim_enabled,
            expires: row.expires.clone(),
            last_touched: row.last_used.clone(),
        };
        if let Ok(mut cache) = self.cache.lock() {
            // A revocation that landed while argon2 ran must not be undone by this entry.
            if self.epoch.load(Ordering::SeqCst) == epoch {
                cache.insert(digest, entry.clone());
            }
        }
        Ok(entry)
    }
}
