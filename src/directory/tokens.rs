//! Token rotation: a new secret for the same token (id, name, description, limits), shown
//! once. The old secret stops at once (the auth epoch moves, so every server on the file
//! forgets it from its next request) or, with a grace period of at most 24 h, at its end.

use super::Actor;
use crate::auth::secret::{self, Secret};
use crate::auth::token;
use crate::error::{Error, Result};
use crate::store::orgs::Org;
use crate::store::{Store, tokens};

/// Live tokens expiring within this many days are warned about (admin page, `/metrics`,
/// `token list`).
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// The longest grace period (seconds) an old secret may have.
pub const MAX_GRACE_SECS: u64 = 24 * 3600;

/// Rotates a live token; returns its id and the new bearer value.
pub async fn rotate(
    store: &Store,
    actor: &Actor,
    org: &Org,
    id_or_name: String,
    grace_secs: u64,
    now: time::OffsetDateTime,
) -> Result<(String, Secret)> {
    if grace_secs > MAX_GRACE_SECS {
        return Err(Error::InvalidValue(format!(
            "a grace period of {grace_secs}s is over the 24h allowed"
        )));
    }
    let stamp = crate::clock::format(now);
    let (org_pk, lookup, at) = (org.pk, id_or_name.clone(), stamp.clone());
    let row = store
        .read(move |conn| tokens::find_live(conn, org_pk, &lookup, &at))
        .await?
        .ok_or_else(|| Error::NotFound(format!("no live token {id_or_name:?}")))?;
    let made = token::with_id(&row.id)?;
    let value = made.bearer.clone();
    let hash = tokio::task::spawn_blocking(move || secret::hash_token(value.expose()))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))??;
    let until = (grace_secs > 0)
        .then(|| crate::clock::format(now + time::Duration::seconds(grace_secs as i64)));
    let actor = actor.clone();
    let id = row.id.clone();
    store
        .write(move |conn| {
            // Found again in the write (and locked on PostgreSQL): a token revoked or rotated
            // since the read above is not rotated from a stale state.
            let row = tokens::find_live(conn, org_pk, &id, &stamp)?
                .filter(|t| t.id == id)
                .ok_or_else(|| Error::NotFound(format!("no live token {id:?}")))?;
            tokens::rotate(conn, row.pk, &hash, until.as_deref(), &stamp)?;
            let before = serde_json::json!({"rotated": row.rotated}).to_string();
            let after = serde_json::json!({"rotated": stamp, "oldSecretUntil": until}).to_string();
            actor.record(
                conn,
                org_pk,
                ("rotate", "Token", &id),
                Some(&before),
                Some(&after),
                &stamp,
            )
        })
        .await?;
    Ok((row.id, made.bearer))
}
