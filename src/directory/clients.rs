//! OAuth clients of an organization (RFC 6749 §2): made, rotated and revoked here, by the
//! CLI and the admin page alike, each change in the audit log.
//!
//! A client id is `sbc_` and 16 hex digits. A secret is `sbs_<secret id>_<64 hex digits>`:
//! the id finds the one stored hash to verify, so a client with two secrets during a rotation
//! costs one argon2 check, not two. Secrets are shown once and kept as argon2id hashes.

use super::Actor;
use crate::auth::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::clients::{self, ClientRow, Federation, Kind, SecretRow};
use crate::store::orgs::Org;
use time::OffsetDateTime;

/// Days a secret lives by default, and at most (Entra asks for one to three years).
pub const DEFAULT_SECRET_DAYS: u32 = 365;
pub const MAX_SECRET_DAYS: u32 = 1095;
/// Secrets one client may hold at once: enough for a rotation, few enough to keep track of.
pub const MAX_SECRETS: usize = 5;

const CLIENT_PREFIX: &str = "sbc_";
const SECRET_PREFIX: &str = "sbs_";
const SECRET_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// The secret id inside a secret value, if the value has our shape.
pub fn secret_id(value: &str) -> Option<&str> {
    let rest = value.strip_prefix(SECRET_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, SECRET_ID_BYTES * 2) && hex(secret, SECRET_BYTES * 2)).then_some(id)
}

/// A new secret: its id and the whole value to show once.
fn new_secret() -> Result<(String, Secret)> {
    let id = secret::random_hex(SECRET_ID_BYTES)?;
    let value = format!("{SECRET_PREFIX}{id}_{}", secret::random_hex(SECRET_BYTES)?);
    Ok((id, Secret::new(value)))
}

/// What a new client authenticates with.
#[derive(Debug, Clone)]
pub enum NewKind {
    /// A secret that expires after this many days (1 to [`MAX_SECRET_DAYS`]).
    Secret {
        days: u32,
    },
    Federated(Federation),
}

fn check_days(days: u32) -> Result<()> {
    if !(1..=MAX_SECRET_DAYS).contains(&days) {
        return Err(Error::InvalidValue(format!(
            "a client secret lives 1 to {MAX_SECRET_DAYS} days, not {days}"
        )));
    }
    Ok(())
}

fn check_text(what: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
        return Err(Error::InvalidValue(format!(
            "{what} must be 1 to 1024 characters without control characters"
        )));
    }
    Ok(v.to_string())
}

fn check_federation(f: &Federation) -> Result<Federation> {
    let jwks_url = check_text("the JWKS URL", &f.jwks_url)?;
    if !jwks_url.starts_with("https://") || jwks_url.contains(char::is_whitespace) {
        return Err(Error::InvalidValue(
            "the JWKS URL must be an https:// URL (the identity provider's keys, e.g. \
             https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys)"
                .into(),
        ));
    }
    Ok(Federation {
        jwks_url,
        issuer: check_text("the issuer", &f.issuer)?,
        subject: check_text("the subject", &f.subject)?,
        audience: check_text("the audience", &f.audience)?,
    })
}

async fn hash(secret: &Secret) -> Result<String> {
    let value = secret.clone();
    tokio::task::spawn_blocking(move || secret::hash_token(value.expose()))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))?
}

/// Makes a client. A secret client's secret is returned, the only time it is available.
pub async fn create(
    store: &Store,
    actor: &Actor,
    org: &Org,
    name: String,
    kind: NewKind,
    now: OffsetDateTime,
) -> Result<(ClientRow, Option<(String, Secret)>)> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidValue(
            "a client needs a name of 1 to 200 characters".into(),
        ));
    }
    let (stored_kind, secret) = match &kind {
        NewKind::Secret { days } => {
            check_days(*days)?;
            let made = new_secret()?;
            let expires = crate::clock::format(now + time::Duration::days(i64::from(*days)));
            // argon2 is slow on purpose: hash before entering the writer.
            let hashed = hash(&made.1).await?;
            (Kind::Secret, Some((made, hashed, expires)))
        }
        NewKind::Federated(f) => (Kind::Federated(check_federation(f)?), None),
    };
    let id = format!("{CLIENT_PREFIX}{}", secret::random_hex(8)?);
    let stamp = crate::clock::format(now);
    let (org_pk, actor) = (org.pk, actor.clone());
    let stored = secret
        .as_ref()
        .map(|((sid, _), h, e)| (sid.clone(), h.clone(), e.clone()));
    let row = store
        .write(move |conn| {
            let pk = clients::insert(conn, &id, org_pk, &name, &stored_kind, &stamp)?;
            if let Some((sid, hashed, expires)) = &stored {
                clients::insert_secret(conn, sid, pk, hashed, expires, &stamp)?;
            }
            actor.record(
                conn,
                org_pk,
                ("create", "Client", &id),
                None,
                Some(&name),
                &stamp,
            )?;
            clients::by_pk(conn, pk)?.ok_or_else(|| Error::Internal("a new client vanished".into()))
        })
        .await?;
    Ok((row, secret.map(|(made, _, _)| made)))
}

/// Finds the organization's client by id or name.
pub async fn find(store: &Store, org: &Org, id_or_name: String) -> Result<ClientRow> {
    let org_pk = org.pk;
    store
        .read(move |conn| {
            clients::find(conn, org_pk, &id_or_name)?
                .ok_or_else(|| Error::NotFound(format!("no client {id_or_name:?}")))
        })
        .await
}

/// The organization's clients with their secrets (hashes stay in the store's rows; callers
/// show ids and dates only).
pub async fn list(store: &Store, org: &Org) -> Result<Vec<(ClientRow, Vec<SecretRow>)>> {
    let org_pk = org.pk;
    store
        .read(move |conn| {
            clients::list(conn, org_pk)?
                .into_iter()
                .map(|c| {
                    let s = clients::secrets(conn, c.pk)?;
                    Ok((c, s))
                })
                .collect()
        })
        .await
}

/// Revokes a client: its secrets and assertions get no more access tokens, and the access
/// tokens it holds are refused from the next request, in every process on this database.
pub async fn revoke(
    store: &Store,
    actor: &Actor,
    org: &Org,
    id_or_name: String,
    now: String,
) -> Result<ClientRow> {
    let (org_pk, actor) = (org.pk, actor.clone());
    store
        .write(move |conn| {
            let client = clients::find(conn, org_pk, &id_or_name)?
                .filter(|c| c.revoked.is_none())
                .ok_or_else(|| Error::NotFound(format!("no live client {id_or_name:?}")))?;
            clients::revoke(conn, client.pk, &now)?;
            actor.record(
                conn,
                org_pk,
                ("revoke", "Client", &client.id),
                None,
                None,
                &now,
            )?;
            Ok(client)
        })
        .await
}

/// Adds a secret to a live secret client (the others keep working until deleted or expired)
/// and returns it: (secret id, value), shown once.
pub async fn rotate(
    store: &Store,
    actor: &Actor,
    org: &Org,
    id_or_name: String,
    days: u32,
    now: OffsetDateTime,
) -> Result<(String, Secret)> {
    check_days(days)?;
    let client = find(store, org, id_or_name.clone()).await?;
    if client.revoked.is_some() {
        return Err(Error::NotFound(format!("no live client {id_or_name:?}")));
    }
    if client.kind != Kind::Secret {
        return Err(Error::InvalidValue(
            "a federated client has no secrets; its identity provider signs its assertions".into(),
        ));
    }
    let (sid, value) = new_secret()?;
    let hashed = hash(&value).await?;
    let expires = crate::clock::format(now + time::Duration::days(i64::from(days)));
    let stamp = crate::clock::format(now);
    let (org_pk, actor, client_pk, client_id, sid2) = (
        org.pk,
        actor.clone(),
        client.pk,
        client.id.clone(),
        sid.clone(),
    );
    store
        .write(move |conn| {
            // Found again in the write (locked on PostgreSQL, so two servers adding secrets
            // at once take turns and neither goes over the limit or adds to a revoked client).
            clients::by_pk(conn, client_pk)?
                .filter(|c| c.revoked.is_none())
                .ok_or_else(|| Error::NotFound(format!("no live client {client_id:?}")))?;
            if clients::secrets(conn, client_pk)?.len() >= MAX_SECRETS {
                return Err(Error::InvalidValue(format!(
                    "a client holds at most {MAX_SECRETS} secrets; delete one first \
                     (scimbox client delete-secret)"
                )));
            }
            clients::insert_secret(conn, &sid2, client_pk, &hashed, &expires, &stamp)?;
            actor.record(
                conn,
                org_pk,
                ("add secret", "Client", &client_id),
                None,
                Some(&sid2),
                &stamp,
            )
        })
        .await?;
    Ok((sid, value))
}

/// Deletes one secret of a client; access tokens issued with it are refused from then on.
pub async fn delete_secret(
    store: &Store,
    actor: &Actor,
    org: &Org,
    id_or_name: String,
    secret_id: String,
    now: String,
) -> Result<()> {
    let client = find(store, org, id_or_name).await?;
    let (org_pk, actor) = (org.pk, actor.clone());
    store
        .write(move |conn| {
            if !clients::delete_secret(conn, client.pk, &secret_id)? {
                return Err(Error::NotFound(format!(
                    "client {} has no secret {secret_id:?}",
                    client.name
                )));
            }
            actor.record(
                conn,
                org_pk,
                ("delete secret", "Client", &client.id),
                Some(&secret_id),
                None,
                &now,
            )
        })
        .await
}

/// Records a federated assertion's id until `expires` (stored format); `false` when the id
/// was already used and has not expired: a replay.
pub async fn use_assertion(
    store: &Store,
    client_pk: i64,
    jti: String,
    expires: String,
    now: String,
) -> Result<bool> {
    store
        .write(move |conn| clients::use_jti(conn, client_pk, &jti, &expires, &now))
        .await
}

/// Records that a client got a token or used one (to the minute); best effort.
pub async fn touch(store: &Store, client_pk: i64, now: String) {
    let _ = store
        .write(move |conn| clients::touch(conn, client_pk, &now))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_their_id() {
        let (id, value) = new_secret().unwrap();
        assert_eq!(secret_id(value.expose()), Some(id.as_str()));
        assert_eq!(secret_id("sbs_zz_00"), None);
        assert_eq!(secret_id("sbx_0123456789abcdef_00"), None);
    }
}
