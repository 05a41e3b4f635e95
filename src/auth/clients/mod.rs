//! OAuth clients' credentials, as Entra requires of SCIM applications: a client secret
//! (RFC 6749 §2.3.1) or a client assertion the identity provider signs (RFC 7523 §2.2,
//! "workload identity federation"), and the short-lived access tokens they are traded for at
//! the token endpoint (src/oauth, the protocol edge). Access tokens work on the client's
//! organization's SCIM base URL only.
//!
//! Access tokens obey what API tokens obey: a revoked client (or a deleted secret) is refused
//! from the next request, in this process or another, through the auth epoch; rate limits,
//! the audit and the request inspector name the client (`client:<name>`).

pub mod access;
pub mod jwks;
pub mod jwt;

use crate::auth::bearer::{Authenticator, Principal};
use crate::auth::secret;
use crate::error::{Error, Result};
use crate::outbound::Outbound;
use crate::store::Store;
use crate::store::clients::{self, ClientRow, Kind};
use jwt::Expect;
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
/// Where the token endpoint and its RFC 8414 metadata are served (below the server's root).
pub const TOKEN_PATH: &str = "/oauth/token";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

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
    /// The organization's resource types with its declared extensions (a declaration bumps
    /// the auth epoch, which empties this cache).
    types: crate::model::declared::Types,
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
        let epoch = auth.epoch().await?;
        let cached = {
            let mut c = self
                .clients
                .lock()
                .map_err(|_| Error::Internal("client cache poisoned".into()))?;
            // The epoch only grows; a request that read an older one than the cache holds
            // neither resets the cache nor uses it.
            if epoch > c.0 {
                *c = (epoch, HashMap::new());
            }
            if c.0 == epoch {
                c.1.get(&claims.client_pk).cloned()
            } else {
                None
            }
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
                        let types = crate::store::schemas::types(conn, row.org_pk)?;
                        Ok(Some(state_of(&row, secrets, types)))
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
                types: state.types,
            },
            due,
        ))
    }
}

/// Why a client did not authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// Said as "client authentication failed", whatever the reason (wrong, expired or unknown
    /// secret, unknown or revoked client, an assertion that does not verify).
    Failed,
    /// An assertion whose signature verified but whose claims are wrong: the reason may be
    /// told (RFC 7521 §4.2.1).
    Claim(String),
    Internal(Error),
}

/// A client that proved who it is, and the secret it used (0 for an assertion).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub client: ClientRow,
    pub secret_pk: i64,
}

fn internal(e: Error) -> Refused {
    Refused::Internal(e)
}

impl OAuth {
    /// RFC 6749 §2.3.1: a client id and one of its secrets. One argon2 check runs whether or
    /// not the client and secret exist, so the answer's timing says nothing either.
    pub async fn check_secret(
        &self,
        store: &Store,
        client_id: String,
        secret: String,
        now: &str,
    ) -> std::result::Result<Authenticated, Refused> {
        let sid = crate::directory::clients::secret_id(&secret).map(str::to_string);
        let found = store
            .read(move |conn| {
                let Some(sid) = sid else { return Ok(None) };
                let Some(s) = clients::secret_by_id(conn, &sid)? else {
                    return Ok(None);
                };
                let c = clients::by_id(conn, &client_id)?;
                Ok(c.filter(|c| c.pk == s.client_pk).map(|c| (c, s)))
            })
            .await
            .map_err(internal)?;
        let _slot = self
            .verify_slots
            .acquire()
            .await
            .map_err(|_| Refused::Internal(Error::Internal("auth closed".into())))?;
        let hash = found
            .as_ref()
            .map_or(self.decoy_hash.clone(), |(_, s)| s.hash.clone());
        let matched = tokio::task::spawn_blocking(move || secret::verify(&secret, &hash))
            .await
            .map_err(|e| Refused::Internal(Error::Internal(format!("verify task: {e}"))))?;
        match found {
            Some((c, s))
                if matched
                    && c.kind == Kind::Secret
                    && c.revoked.is_none()
                    && s.expires.as_str() > now =>
            {
                Ok(Authenticated {
                    client: c,
                    secret_pk: s.pk,
                })
            }
            _ => Err(Refused::Failed),
        }
    }

    /// RFC 7523 §3: a JWT the client's identity provider signed. The client is the one named
    /// by `client_id`, or the one configured for the assertion's iss and sub (RFC 7521 §4.2
    /// makes `client_id` optional). The assertion's id is recorded, so a replay is refused.
    pub async fn check_assertion(
        &self,
        store: &Store,
        client_id: Option<String>,
        assertion: &str,
        now_unix: i64,
        now: &str,
    ) -> std::result::Result<Authenticated, Refused> {
        let jwt = jwt::parse(assertion).map_err(|_| Refused::Failed)?;
        let iss = jwt.claim_str("iss").unwrap_or("").to_string();
        let sub = jwt.claim_str("sub").unwrap_or("").to_string();
        let client = store
            .read(move |conn| match client_id {
                Some(id) => clients::by_id(conn, &id),
                None => {
                    let mut found = clients::federated_by_subject(conn, &iss, &sub)?;
                    Ok((found.len() == 1).then(|| found.remove(0)))
                }
            })
            .await
            .map_err(internal)?
            .filter(|c| c.revoked.is_none())
            .ok_or(Refused::Failed)?;
        let Kind::Federated(fed) = &client.kind else {
            return Err(Refused::Failed);
        };
        let keys = self.jwks.keys(&fed.jwks_url, jwt.kid.as_deref()).await;
        if !keys.iter().any(|k| jwt.verifies_with(k)) {
            return Err(Refused::Failed);
        }
        let checked = jwt::check(
            &jwt,
            &Expect {
                issuer: &fed.issuer,
                subject: &fed.subject,
                audience: &fed.audience,
                now: now_unix,
            },
        )
        .map_err(|r| Refused::Claim(r.describe()))?;
        let expires = time::OffsetDateTime::from_unix_timestamp(checked.exp + jwt::LEEWAY_SECS)
            .map(crate::clock::format)
            .map_err(|_| Refused::Failed)?;
        let fresh = crate::directory::clients::use_assertion(
            store,
            client.pk,
            checked.jti,
            expires,
            now.to_string(),
        )
        .await
        .map_err(internal)?;
        if !fresh {
            return Err(Refused::Claim(
                "the client assertion was used before (its jti was seen)".into(),
            ));
        }
        Ok(Authenticated {
            client,
            secret_pk: 0,
        })
    }

    /// An access token for an authenticated client, valid from `now_unix` for
    /// [`OAuth::ttl_secs`].
    pub fn issue(&self, who: &Authenticated, now_unix: i64) -> Result<String> {
        Ok(self.keys.mint(&access::Claims {
            client_pk: who.client.pk,
            org_id: who.client.org_id.clone(),
            secret_pk: who.secret_pk,
            exp: now_unix + self.ttl_secs,
            nonce: secret::random_hex(8)?,
        }))
    }
}

fn state_of(
    row: &ClientRow,
    secrets: Vec<(i64, String)>,
    types: crate::model::declared::Types,
) -> ClientState {
    ClientState {
        org_pk: row.org_pk,
        org_id: row.org_id.clone(),
        name: row.name.clone(),
        live: row.revoked.is_none(),
        scim_enabled: row.org_scim_enabled,
        secrets,
        last_touched: row.last_used.clone(),
        types,
    }
}
