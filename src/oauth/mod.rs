//! OAuth 2.0 for identity providers, as Entra requires of SCIM applications: the client
//! credentials grant (RFC 6749 §4.4) with a client secret, or with a federated client
//! assertion the identity provider signs (RFC 7523 §2.2, "workload identity federation").
//! `POST /oauth/token` issues short-lived access tokens that work on the client's
//! organization's SCIM base URL only; `/.well-known/oauth-authorization-server` describes the
//! endpoint (RFC 8414).
//!
//! Access tokens obey what API tokens obey: a revoked client (or a deleted secret) is refused
//! from the next request, in this process or another, through the auth epoch; rate limits,
//! the audit and the request inspector name the client (`client:<name>`).

pub mod access;
pub mod jwks;
pub mod jwt;
pub mod metadata;
pub mod token;

use crate::auth::bearer::{Authenticator, Principal};
use crate::error::{Error, Result};
use crate::outbound::Outbound;
use crate::store::Store;
use crate::store::clients::{self, ClientRow};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Access tokens live this long by default, and 60 to 360 minutes at most (Entra asks for
/// one to six hours).
pub const DEFAULT_ACCESS_MINUTES: u32 = 60;
pub const MIN_ACCESS_MINUTES: u32 = 60;
pub const MAX_ACCESS_MINUTES: u32 = 360;
/// The one scope there is: the organization's SCIM API.
pub const SCOPE: &str = "scim";

/// How the OAuth side is set up (`scimbox serve` flags).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Minutes an access token lives (clamped to 60..=360).
    pub access_token_minutes: u32,
    /// A PEM file of extra CA certificates trusted when fetching JWKS URLs.
    pub extra_ca: Option<PathBuf>,
    /// Least time between two fetches of one JWKS URL (an unknown `kid` asks for one).
    pub jwks_min_refresh: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_token_minutes: DEFAULT_ACCESS_MINUTES,
            extra_ca: None,
            jwks_min_refresh: Duration::from_secs(10),
        }
    }
}

/// A client as access-token checks need it, cached per client under one auth epoch.
#[derive(Debug, Clone)]
struct ClientState {
    org_pk: i64,
    org_id: String,
    name: String,
    live: bool,
    scim_enabled: bool,
    /// (pk, expires) of each secret it has.
    secrets: Vec<(i64, String)>,
    last_touched: Option<String>,
}

/// The OAuth state a server keeps: the access-token key, the JWKS cache, the client cache.
pub struct OAuth {
    keys: access::Keys,
    ttl_secs: i64,
    jwks: jwks::Jwks,
    clients: Mutex<(i64, HashMap<i64, ClientState>)>,
    /// argon2 checks of client secrets at once (a flood of wrong secrets cannot take every
    /// core).
    verify_slots: tokio::sync::Semaphore,
    /// Verified when the client or secret is unknown, so the answer takes as long.
    decoy_hash: String,
}

impl OAuth {
    /// Reads (or makes) the access-token key in the store's settings. Fails when the extra
    /// CA file cannot be used.
    pub fn new(store: &Store, settings: &Settings) -> Result<OAuth> {
        let key = store.write_blocking(|conn| {
            crate::store::settings::get_or_init(conn, "access_token_key", || {
                crate::auth::secret::random_hex(32)
            })
        })?;
        let outbound = Outbound::new(settings.extra_ca.as_deref())
            .map_err(|e| Error::InvalidValue(format!("--outbound-ca: {e}")))?;
        let minutes = settings
            .access_token_minutes
            .clamp(MIN_ACCESS_MINUTES, MAX_ACCESS_MINUTES);
        Ok(OAuth {
            keys: access::Keys::new(key.as_bytes()),
            ttl_secs: i64::from(minutes) * 60,
            jwks: jwks::Jwks::new(
                outbound,
                settings.jwks_min_refresh,
                Duration::from_secs(3600),
            ),
            clients: Mutex::new((i64::MIN, HashMap::new())),
            verify_slots: tokio::sync::Semaphore::new(2),
            decoy_hash: crate::auth::secret::hash_token(&crate::auth::secret::random_hex(32)?)?,
        })
    }

    /// Seconds an access token lives.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Checks an access token for the organization in the URL: its MAC and expiry, then
    /// whether its client (and the secret it was issued for) is still live. Every failure is
    /// the same `Unauthorized`. Returns the principal and whether `last_used` is due.
    pub async fn authenticate(
        &self,
        auth: &Authenticator,
        store: &Store,
        bearer: &str,
        org_id: &str,
        now: &str,
        now_unix: i64,
    ) -> Result<(Principal, bool)> {
        let claims = self
            .keys
            .verify(bearer, now_unix)
            .ok_or(Error::Unauthorized)?;
        if claims.org_id != org_id {
            return Err(Error::Unauthorized);
        }
        let epoch = auth.epoch()?;
        let cached = {
            let mut c = self
                .clients
                .lock()
                .map_err(|_| Error::Internal("client cache poisoned".into()))?;
            if c.0 != epoch {
                *c = (epoch, HashMap::new());
            }
            c.1.get(&claims.client_pk).cloned()
        };
        let state = match cached {
            Some(s) => s,
            None => {
                let pk = claims.client_pk;
                let state = store
                    .read(move |conn| {
                        let Some(row) = clients::by_pk(conn, pk)? else {
                            return Ok(None);
                        };
                        let secrets = clients::secrets(conn, pk)?
                            .into_iter()
                            .map(|s| (s.pk, s.expires))
                            .collect();
                        Ok(Some(state_of(&row, secrets)))
                    })
                    .await?
                    .ok_or(Error::Unauthorized)?;
                if let Ok(mut c) = self.clients.lock()
                    && c.0 == epoch
                {
                    c.1.insert(pk, state.clone());
                }
                state
            }
        };
        let secret_ok = claims.secret_pk == 0
            || state
                .secrets
                .iter()
                .any(|(pk, expires)| *pk == claims.secret_pk && expires.as_str() > now);
        if !state.live || !secret_ok || state.org_id != org_id {
            return Err(Error::Unauthorized);
        }
        if !state.scim_enabled {
            return Err(Error::Forbidden(
                "SCIM provisioning is disabled for this organization; switch it on in scimbox"
                    .into(),
            ));
        }
        let due = state
            .last_touched
            .as_deref()
            .is_none_or(|t| t.get(..16) != now.get(..16));
        if due && let Ok(mut c) = self.clients.lock() {
            if let Some(s) = c.1.get_mut(&claims.client_pk) {
                s.last_touched = Some(now.to_string());
            }
        }
        Ok((
            Principal {
                org_pk: state.org_pk,
                org_id: state.org_id,
                token_pk: claims.client_pk,
                token_name: state.name,
                client: true,
            },
            due,
        ))
    }
}

fn state_of(row: &ClientRow, secrets: Vec<(i64, String)>) -> ClientState {
    ClientState {
        org_pk: row.org_pk,
        org_id: row.org_id.clone(),
        name: row.name.clone(),
        live: row.revoked.is_none(),
        scim_enabled: row.org_scim_enabled,
        secrets,
        last_touched: row.last_used.clone(),
    }
}

/// Whether a path is served by this module.
pub fn owns(path: &str) -> bool {
    path == token::PATH || path == metadata::PATH
}
