//! Bearer tokens: `sbx_<id>_<secret>`. The id finds the stored argon2id hash in one indexed
//! lookup; the secret is what is verified. Verifying argon2 on every request would cap the API
//! at a few dozen requests a second, so a verified token is remembered by its SHA-256 digest.
//!
//! Revocation reaches a running server at once, even from the CLI in another process: triggers
//! bump `auth_epoch` on every change that matters, and before each request the server asks
//! SQLite whether any other connection committed (`PRAGMA data_version`, a memory read); only
//! then does it read the epoch, and if it moved it forgets every cached token.

use super::secret;
use super::throttle::{Key, Policy, Throttle};
use super::token::{SECRET_HEX, token_id};
use crate::error::{Error, Result};
use crate::store::{self, Store, tokens};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

/// Who a request acts as once its token checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org_pk: i64,
    pub org_id: String,
    /// The API token's pk, or the OAuth client's when `client` is set.
    pub token_pk: i64,
    /// The API token's name, or the OAuth client's.
    pub token_name: String,
    /// The caller holds an OAuth access token of client `token_pk` (see `auth::clients`).
    pub client: bool,
    /// The organization's resource types with its declared schema extensions, read with the
    /// token: declaring or removing one bumps `auth_epoch`, which drops this cache.
    pub types: crate::model::declared::Types,
}

impl Principal {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        if self.client {
            format!("client:{}", self.token_name)
        } else {
            format!("token:{}", self.token_name)
        }
    }

    /// The rate limiter's bucket: one per token and one per client, never shared.
    pub fn rate_key(&self) -> i64 {
        if self.client {
            -self.token_pk
        } else {
            self.token_pk
        }
    }
}

#[derive(Clone)]
struct Cached {
    digest: [u8; 32],
    principal: Principal,
    scim_enabled: bool,
    /// When this secret stops counting: the token's expiry, or sooner for an old secret in
    /// its grace period after a rotation.
    expires: Option<String>,
    last_touched: Option<String>,
    last_source: Option<std::net::IpAddr>,
    /// The blocks the token may be used from (empty: anywhere).
    cidrs: Vec<crate::model::cidr::Cidr>,
}

/// The throttle scope of token checks, per client address.
pub const THROTTLE_SCOPE: &str = "scim-addr";
/// How long a request waits for other token checks from its address to finish (an IdP opens
/// many connections at once after a restart, before its token is cached) before a 429.
const THROTTLE_PATIENCE: Duration = Duration::from_secs(10);

/// The throttle policy of token checks per address: `free` checks in flight or failed in a
/// minute, then one at a time, 1 s after the last failure, doubling up to 30 s.
pub fn throttle_policy(free: u32) -> Policy {
    Policy {
        free: free.max(1),
        base_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(30),
        forget_after: Duration::from_secs(60),
        forgive_on_success: false,
    }
}

/// Verifies bearer tokens for the SCIM API.
pub struct Authenticator {
    cache: Mutex<HashMap<[u8; 32], Cached>>,
    watch: store::AuthWatch,
    /// The last `auth_epoch` seen; the cache holds only entries verified under it.
    epoch: AtomicI64,
    /// argon2 is deliberately slow; a few at a time keep a flood of bad tokens from taking
    /// every core.
    verify_slots: Semaphore,
    /// A real hash to verify against when the token id is unknown, so the answer takes the
    /// same time whether or not the id exists.
    decoy_hash: String,
    /// Every check of a token not in the cache takes a reservation here first.
    throttle: Arc<Throttle>,
    policy: Policy,
    /// Requests refused because they came from outside their token's address ranges.
    refused_by_source: std::sync::atomic::AtomicU64,
}

/// What `authenticate` found besides the principal: whether the token's last use is due a
/// write, and the source address to record with it (empty when not due).
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub due: bool,
    pub source: String,
}

impl Authenticator {
    /// An authenticator for the database at `db`, counting token checks in `throttle` with
    /// `policy` per client address.
    pub fn new(store: &Store, throttle: Arc<Throttle>, policy: Policy) -> Result<Authenticator> {
        let watch = store::AuthWatch::open(store)?;
        let epoch = watch.epoch_blocking()?;
        Ok(Authenticator {
            cache: Mutex::new(HashMap::new()),
            watch,
            epoch: AtomicI64::new(epoch),
            verify_slots: Semaphore::new(2),
            decoy_hash: secret::hash_token(&secret::random_hex(SECRET_HEX)?)?,
            refused_by_source: std::sync::atomic::AtomicU64::new(0),
            throttle,
            policy,
        })
    }

    /// Drops every cached token if anything that matters to authentication changed since the
    /// last look, in this process or another.
    async fn refresh(&self) -> Result<()> {
        let Some(epoch) = self.watch.changed().await? else {
            return Ok(());
        };
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

    /// The current auth epoch, after looking for changes made anywhere: other credential
    /// caches (OAuth clients) keep entries only while it stays the same.
    pub async fn epoch(&self) -> Result<i64> {
        self.refresh().await?;
        Ok(self.epoch.load(Ordering::SeqCst))
    }

    /// How many requests were refused for coming from outside their token's ranges.
    pub fn refused_by_source(&self) -> u64 {
        self.refused_by_source.load(Ordering::Relaxed)
    }

    /// Checks an `Authorization` header value for the organization named in the URL, from
    /// the client address `peer`. Every failure is the same `Unauthorized`, so nothing can be
    /// learned from the answer (a request from outside the token's address ranges too, which
    /// is counted). A token that must be verified (not cached) is counted against `peer`
    /// first; an address past its allowance gets `RateLimited` without a check. Returns the
    /// principal and whether its last use is due a write.
    pub async fn authenticate(
        &self,
        store: &Store,
        header: Option<&str>,
        org_id: &str,
        now: &str,
        peer: std::net::IpAddr,
    ) -> Result<(Principal, Touch)> {
        let bearer = header
            .and_then(|h| {
                let (scheme, value) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
            })
            .filter(|v| !v.is_empty())
            .ok_or(Error::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(bearer.as_bytes()).into();
        self.refresh().await?;
        let entry = match self.cached(&digest)? {
            Some(c) => c,
            None => {
                // Counted per address, and per (address, token) when the id is a real token's:
                // guesses with made-up ids cannot lock a real token out, while guessing one
                // token's secret is limited like any other guessing.
                let epoch = self.epoch.load(Ordering::SeqCst);
                let row = match token_id(bearer) {
                    Some(id) => {
                        let id = id.to_string();
                        store.read(move |conn| tokens::by_id(conn, &id)).await?
                    }
                    None => None,
                };
                let who = match &row {
                    Some(r) => format!("{peer} {}", r.pk),
                    None => peer.to_string(),
                };
                let keys = [Key::new(THROTTLE_SCOPE, &who, self.policy)];
                let attempt = self
                    .throttle
                    .begin_waiting(&keys, THROTTLE_PATIENCE)
                    .await
                    .map_err(|r| Error::RateLimited {
                        retry_after: r.retry_after_secs(),
                        detail: format!(
                            "too many failed token checks from this address; retry in {} \
                             seconds",
                            r.retry_after_secs()
                        ),
                    })?;
                // While this request waited, another may have verified the same token.
                match self.cached(&digest)? {
                    Some(c) => {
                        attempt.succeeded();
                        c
                    }
                    None => match self
                        .verify_slow(store, row, epoch, bearer, digest, now)
                        .await
                    {
                        Ok(c) => {
                            attempt.succeeded();
                            c
                        }
                        Err(e) => {
                            if e == Error::Unauthorized {
                                attempt.failed();
                            }
                            // Other errors (the store) drop the attempt: a failure too.
                            return Err(e);
                        }
                    },
                }
            }
        };
        if entry.principal.org_id != org_id || entry.expires.as_deref().is_some_and(|e| e <= now) {
            return Err(Error::Unauthorized);
        }
        if !entry.cidrs.is_empty() && !entry.cidrs.iter().any(|c| c.contains(peer)) {
            self.refused_by_source.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(token = %entry.principal.token_name, %peer,
                "token used from outside its allowed address ranges");
            return Err(Error::Unauthorized);
        }
        if !entry.scim_enabled {
            return Err(Error::Forbidden(
                "SCIM provisioning is disabled for this organization; switch it on in scimbox"
                    .into(),
            ));
        }
        // last_used is kept to the minute: one write per token per minute, not per request,
        // unless the request comes from another address than the last one.
        let due = entry
            .last_touched
            .as_deref()
            .is_none_or(|t| t.get(..16) != now.get(..16))
            || entry.last_source != Some(peer);
        if due && let Ok(mut cache) = self.cache.lock() {
            if let Some(c) = cache.get_mut(&digest) {
                c.last_touched = Some(now.to_string());
                c.last_source = Some(peer);
            }
        }
        let source = if due { peer.to_string() } else { String::new() };
        Ok((entry.principal, Touch { due, source }))
    }

    fn cached(&self, digest: &[u8; 32]) -> Result<Option<Cached>> {
        let cached = self
            .cache
            .lock()
            .map_err(|_| Error::Internal("token cache poisoned".into()))?
            .get(digest)
            .cloned();
        // The map lookup is by digest; the constant-time compare keeps the final check free of
        // early exits.
        Ok(cached.filter(|c| bool::from(c.digest.ct_eq(digest))))
    }

    /// Verifies a bearer value against its stored row (or the decoy hash when there is none),
    /// `epoch` being the one seen before the row was read.
    async fn verify_slow(
        &self,
        store: &Store,
        row: Option<tokens::TokenRow>,
        epoch: i64,
        bearer: &str,
        digest: [u8; 32],
        now: &str,
    ) -> Result<Cached> {
        let _slot = self
            .verify_slots
            .acquire()
            .await
            .map_err(|_| Error::Internal("auth closed".into()))?;
        let hash = row
            .as_ref()
            .map_or(self.decoy_hash.clone(), |r| r.hash.clone());
        // After a rotation with a grace period, the old secret counts until its end.
        let prev = row
            .as_ref()
            .and_then(|r| match (&r.prev_hash, &r.prev_until) {
                (Some(h), Some(until)) if until.as_str() > now => Some((h.clone(), until.clone())),
                _ => None,
            });
        let candidate = bearer.to_string();
        let prev_hash = prev.as_ref().map(|(h, _)| h.clone());
        let (matched, matched_prev) = tokio::task::spawn_blocking(move || {
            if secret::verify(&candidate, &hash) {
                (true, false)
            } else {
                let old = prev_hash.is_some_and(|h| secret::verify(&candidate, &h));
                (old, old)
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
        let row = match row {
            Some(row) if matched && row.is_live(now) => row,
            _ => return Err(Error::Unauthorized),
        };
        // The organization's declared schema extensions ride on the cached principal; read
        // only once the secret checked out, so a failed guess costs no more than before.
        let org_pk = row.org_pk;
        let types = store
            .read(move |conn| store::schemas::types(conn, org_pk))
            .await?;
        let expires = match (&row.expires, matched_prev.then_some(prev).flatten()) {
            (Some(e), Some((_, until))) => Some(e.clone().min(until)),
            (None, Some((_, until))) => Some(until),
            (e, None) => e.clone(),
        };
        let cidrs = crate::model::cidr::parse_list(&row.allowed_cidrs)
            .map_err(|e| Error::Internal(format!("token {} ranges: {e}", row.id)))?;
        let entry = Cached {
            digest,
            principal: Principal {
                org_pk: row.org_pk,
                org_id: row.org_id.clone(),
                token_pk: row.pk,
                token_name: row.name.clone(),
                client: false,
                types,
            },
            scim_enabled: row.org_scim_enabled,
            expires,
            last_touched: row.last_used.clone(),
            last_source: row.last_source.as_deref().and_then(|s| s.parse().ok()),
            cidrs,
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
