//! Organizations and their API tokens.

use super::Actor;
use crate::auth::secret::{self, Secret};
use crate::auth::token;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::orgs::{self, Org};
use crate::store::tokens::{self, NewToken, TokenRow};

/// A new organization id: 32 lowercase hex digits, safe in any URL (Okta refuses `_`).
pub(crate) fn new_org_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub async fn create(store: &Store, actor: &Actor, name: String, now: String) -> Result<Org> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(Error::InvalidValue("an organization needs a name".into()));
    }
    let actor = actor.clone();
    store
        .write(move |conn| {
            let org = orgs::insert(conn, &new_org_id(), &name, &now)?;
            actor.record(
                conn,
                org.pk,
                ("create", "Organization", &org.id),
                None,
                Some(&org.name),
                &now,
            )?;
            Ok(org)
        })
        .await
}

/// What an organization holds: (users, Teams, Workspaces).
pub async fn contents(store: &Store, org_pk: i64) -> Result<(i64, i64, i64)> {
    store.read(move |conn| orgs::contents(conn, org_pk)).await
}

/// One page of an organization's audit log, newest first: entries of one resource type
/// when `kind` is set, older than entry `before` when that is set.
/// One page of an organization's audit log with how many entries pass the filter, and the
/// users and Teams the page names (its resources and the members it adds or removes).
pub async fn audit_page(
    store: &Store,
    org_pk: i64,
    filter: crate::store::audit::Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<AuditPage> {
    store
        .read_snapshot(move |conn| {
            let (total, rows) = crate::store::audit::page(conn, org_pk, &filter, before, limit)?;
            let mut ids: Vec<String> = Vec::new();
            for r in &rows {
                ids.push(r.resource_id.clone());
                if r.action == "members"
                    && let Some(after) = &r.after
                    && let Ok(change) = serde_json::from_str::<serde_json::Value>(after)
                {
                    for side in ["added", "removed"] {
                        if let Some(list) = change.get(side).and_then(|v| v.as_array()) {
                            ids.extend(list.iter().filter_map(|v| v.as_str().map(String::from)));
                        }
                    }
                }
            }
            ids.sort();
            ids.dedup();
            let names = crate::store::audit::names(conn, org_pk, &ids)?;
            Ok(AuditPage { total, rows, names })
        })
        .await
}

pub struct AuditPage {
    pub total: i64,
    pub rows: Vec<crate::store::audit::AuditRow>,
    pub names: Vec<crate::store::audit::Named>,
}

/// How many audit entries each request caused.
pub async fn audit_counts(
    store: &Store,
    org_pk: i64,
    request_ids: Vec<String>,
) -> Result<Vec<(String, i64)>> {
    store
        .read(move |conn| crate::store::audit::counts_by_request(conn, org_pk, &request_ids))
        .await
}

/// What the sync health view reads: per token, (token, requests, failures, last) over the
/// last hour and the last day; the users and Teams changed here since the IdP last wrote
/// them (with names); and the latest failing IdP requests.
pub async fn sync_health(
    store: &Store,
    org: &Org,
    now: time::OffsetDateTime,
) -> Result<SyncHealth> {
    let (org_pk, org_id) = (org.pk, org.id.clone());
    let hour = crate::clock::format(now - time::Duration::hours(1));
    let day = crate::clock::format(now - time::Duration::days(1));
    store
        .read_snapshot(move |conn| {
            let tokens = crate::store::tokens::list(conn, org_pk)?;
            let last_hour = crate::store::requests::token_health(conn, &org_id, &hour)?;
            let last_day = crate::store::requests::token_health(conn, &org_id, &day)?;
            let drift = crate::store::audit::drift(conn, org_pk, 50)?;
            let ids: Vec<String> = drift.iter().map(|d| d.1.clone()).collect();
            let names = crate::store::audit::names(conn, org_pk, &ids)?;
            let (_, failing) = crate::store::requests::search(
                conn,
                &org_id,
                &crate::store::requests::Search {
                    status: Some("4".into()),
                    since: Some(day.clone()),
                    limit: 200,
                    ..Default::default()
                },
            )?;
            let (_, failing5) = crate::store::requests::search(
                conn,
                &org_id,
                &crate::store::requests::Search {
                    status: Some("5".into()),
                    since: Some(day),
                    limit: 20,
                    ..Default::default()
                },
            )?;
            let mut failing: Vec<_> = failing
                .into_iter()
                .filter(|r| !matches!(r.status, 404 | 409 | 412))
                .chain(failing5)
                .collect();
            failing.sort_by_key(|r| std::cmp::Reverse(r.pk));
            failing.truncate(20);
            Ok(SyncHealth {
                tokens,
                last_hour,
                last_day,
                drift,
                names,
                failing,
            })
        })
        .await
}

pub struct SyncHealth {
    pub tokens: Vec<crate::store::tokens::TokenRow>,
    pub last_hour: Vec<crate::store::requests::TokenRate>,
    pub last_day: Vec<crate::store::requests::TokenRate>,
    pub drift: Vec<crate::store::audit::Drift>,
    pub names: Vec<crate::store::audit::Named>,
    pub failing: Vec<crate::store::requests::RequestRow>,
}

/// When the IdP and anyone else last changed one user or Team.
pub async fn sync_of(
    store: &Store,
    org_pk: i64,
    id: String,
) -> Result<(Option<String>, Option<String>)> {
    store
        .read(move |conn| crate::store::audit::sync_of(conn, org_pk, &id))
        .await
}

pub async fn list(store: &Store) -> Result<Vec<Org>> {
    store.read(orgs::list).await
}

/// Finds an organization by id or name, or says which was not found.
pub async fn find(store: &Store, id_or_name: String) -> Result<Org> {
    store
        .read(move |conn| {
            orgs::find(conn, &id_or_name)?
                .ok_or_else(|| Error::NotFound(format!("no organization {id_or_name:?}")))
        })
        .await
}

/// Switches SCIM provisioning on or off. While off, the organization's SCIM API answers 403.
pub async fn set_scim_enabled(
    store: &Store,
    actor: &Actor,
    org: &Org,
    enabled: bool,
    now: String,
) -> Result<()> {
    let (org_pk, org_id, actor) = (org.pk, org.id.clone(), actor.clone());
    store
        .write(move |conn| {
            orgs::set_scim_enabled(conn, org_pk, enabled)?;
            actor.record(
                conn,
                org_pk,
                (
                    if enabled { "scim on" } else { "scim off" },
                    "Organization",
                    &org_id,
                ),
                None,
                None,
                &now,
            )
        })
        .await
}

/// Creates a token and returns the bearer value, the only time it is ever available.
/// `expires` is a stored-format timestamp.
pub async fn create_token(
    store: &Store,
    actor: &Actor,
    org: &Org,
    name: String,
    expires: Option<String>,
    now: String,
) -> Result<(String, Secret)> {
    let spec = TokenSpec {
        name,
        expires,
        ..TokenSpec::default()
    };
    create_token_with(store, actor, org, spec, now).await
}

/// What a new token is made with.
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    pub name: String,
    /// A stored-format timestamp.
    pub expires: Option<String>,
    pub description: Option<String>,
    /// CIDR blocks it may be used from (checked here; empty: anywhere).
    pub allow: Vec<String>,
}

/// Creates a token with a description and source limits; see `create_token`.
pub async fn create_token_with(
    store: &Store,
    actor: &Actor,
    org: &Org,
    spec: TokenSpec,
    now: String,
) -> Result<(String, Secret)> {
    let name = spec.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::InvalidValue("a token needs a name".into()));
    }
    let cidrs = crate::model::cidr::parse_list(&spec.allow).map_err(Error::InvalidValue)?;
    let allowed = (!cidrs.is_empty())
        .then(|| serde_json::to_string(&cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>()))
        .transpose()
        .map_err(|e| Error::Internal(format!("cidrs: {e}")))?;
    let description = spec
        .description
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        return Err(Error::InvalidValue(
            "a token description is at most 500 characters".into(),
        ));
    }
    let expires = spec.expires;
    let made = token::generate()?;
    let bearer_value = made.bearer.clone();
    // argon2 is slow on purpose: hash before entering the writer, so no other write waits.
    let hash = tokio::task::spawn_blocking(move || secret::hash_token(bearer_value.expose()))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))??;
    let (org_pk, actor, id) = (org.pk, actor.clone(), made.id.clone());
    store
        .write(move |conn| {
            let token = NewToken {
                id: &id,
                org_pk,
                name: &name,
                hash: &hash,
                expires: expires.as_deref(),
                description: description.as_deref(),
                allowed_cidrs: allowed.as_deref(),
            };
            tokens::insert(conn, &token, &now)?;
            let after = serde_json::json!({
                "name": name, "expires": expires, "description": description,
                "allow": allowed.as_deref().and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()),
            });
            actor.record(
                conn,
                org_pk,
                ("create", "Token", &id),
                None,
                Some(&after.to_string()),
                &now,
            )
        })
        .await?;
    Ok((made.id, made.bearer))
}

pub async fn list_tokens(store: &Store, org: &Org) -> Result<Vec<TokenRow>> {
    let org_pk = org.pk;
    store.read(move |conn| tokens::list(conn, org_pk)).await
}

/// Revokes a live token by id or name; a running server refuses it from its next request.
pub async fn revoke_token(
    store: &Store,
    actor: &Actor,
    org: &Org,
    id_or_name: String,
    now: String,
) -> Result<()> {
    let (org_pk, actor) = (org.pk, actor.clone());
    store
        .write(move |conn| {
            if !tokens::revoke(conn, org_pk, &id_or_name, &now)? {
                return Err(Error::NotFound(format!("no live token {id_or_name:?}")));
            }
            actor.record(
                conn,
                org_pk,
                ("revoke", "Token", &id_or_name),
                None,
                None,
                &now,
            )
        })
        .await
}

/// Records that a token was used (to the minute); best effort, never fails a request.
pub async fn touch_token(store: &Store, token_pk: i64, now: String, source: Option<String>) {
    let _ = store
        .write(move |conn| tokens::touch(conn, token_pk, &now, source.as_deref()))
        .await;
}
