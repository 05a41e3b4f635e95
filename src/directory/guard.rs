//! The last-Owner guard. Astro's SCIM integration makes the IdP the source of truth for who
//! is in the organization, so scimbox does what the IdP asks even when it deactivates or
//! deletes the last active user holding ORGANIZATION_OWNER (directly or through a Team):
//! refusing would leave the IdP and scimbox disagreeing, with the IdP retrying forever. The
//! change is allowed and flagged instead: an audit record `last-owner` on the Organization
//! (before: an active Owner, after: none, and which change) in the same transaction, which the admin page shows
//! until an Owner is back.

use super::Actor;
use crate::error::Result;
use crate::store::Conn;
use crate::store::access as sa;
use serde_json::json;

/// The audit action of the flag.
pub const LAST_OWNER: &str = "last-owner";

/// Taken before a change that may remove the last Owner: whether there was an active Owner.
pub(crate) struct Before(bool);

pub(crate) fn before(conn: &Conn, org_pk: i64) -> Result<Before> {
    Ok(Before(sa::any_active_owner(conn, org_pk)?))
}

/// After the change: flags it if there were active Owners before and none are left.
pub(crate) fn after(
    conn: &Conn,
    org_pk: i64,
    was: Before,
    actor: &Actor,
    what: &str,
    now: &str,
) -> Result<()> {
    if !was.0 || sa::any_active_owner(conn, org_pk)? {
        return Ok(());
    }
    let org_id = sa::org_id(conn, org_pk)?;
    tracing::warn!(org = %org_id, actor = %actor.who, %what,
        "the organization has no active ORGANIZATION_OWNER left");
    actor.record(
        conn,
        org_pk,
        (LAST_OWNER, "Organization", &org_id),
        Some(&json!({"activeOwner": true}).to_string()),
        Some(&json!({"activeOwner": false, "change": what}).to_string()),
        now,
    )
}

/// Whether a change of this kind can remove an Owner at all, so the common case costs one
/// comparison: a Team that gives ORGANIZATION_OWNER, or a user who is an active Owner.
pub(crate) fn team_matters(org_role: &str) -> bool {
    org_role.eq_ignore_ascii_case(crate::model::roles::ORG_OWNER)
}

pub(crate) fn user_matters(conn: &Conn, user_pk: i64) -> Result<bool> {
    sa::is_active_owner(conn, user_pk)
}

/// For the admin page: whether the organization has an active Owner, and while it has none,
/// the latest `last-owner` flag (when, who, which change).
pub async fn warning(store: &crate::store::Store, org_pk: i64) -> Result<serde_json::Value> {
    store
        .read(move |conn| {
            let active = sa::any_active_owner(conn, org_pk)?;
            let flag = if active {
                None
            } else {
                crate::store::audit::latest_action(conn, org_pk, LAST_OWNER)?
            };
            Ok(json!({
                "activeOwner": active,
                "flag": flag.map(|e| json!({
                    "at": e.at, "actor": e.actor, "reason": e.reason,
                    "change": e.after.as_deref()
                        .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
                        .map(|a| a["change"].clone()),
                })),
            }))
        })
        .await
}
