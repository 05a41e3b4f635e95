//! Users: create, replace, update, delete, and read, with the audit record in the same
//! transaction as the change.

use super::{Actor, Precondition};
use crate::error::{Error, Result};
use crate::model::query::ListQuery;
use crate::model::resource;
use crate::model::schema::{ResourceType, USER_TYPE};
use crate::store::Conn;
use crate::store::Store;
use crate::store::schemas;
use crate::store::users::{self, Email, UserColumns, UserRow};
use serde_json::{Map, Value};

/// A user as read: its row and its Teams (id, display name).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub row: UserRow,
    pub teams: Vec<(String, String)>,
}

/// Pulls the indexed columns out of a canonical resource of the organization's User type.
pub fn columns(rt: &'static ResourceType, data: &Map<String, Value>) -> UserColumns {
    let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
    let emails = data
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some(Email {
                        value: e.get("value")?.as_str()?.to_string(),
                        kind: e.get("type").and_then(Value::as_str).map(str::to_string),
                        primary: e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    UserColumns {
        user_name: text("userName").unwrap_or_default(),
        external_id: text("externalId"),
        display_name: text("displayName"),
        active: data.get("active").and_then(Value::as_bool).unwrap_or(true),
        emails,
        declared: crate::model::declared::indexed_values(rt, data),
    }
}

/// Creates a user from a resource body, which it first brings into canonical form
/// (`model::resource::normalize`: a body the catalogue refuses is `InvalidValue` or
/// `InvalidSyntax`, and nothing is written). A user without `active` is active.
pub async fn create(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    resource: impl Into<Value>,
    now: String,
) -> Result<User> {
    let body = resource.into();
    let actor = actor.clone();
    store
        .write(move |conn| {
            let rt = schemas::extended(conn, org_pk, &USER_TYPE)?;
            let mut data = resource::normalize(rt, &body)?;
            data.entry("active").or_insert(Value::Bool(true));
            let cols = columns(rt, &data);
            let text = super::to_text(&data)?;
            let id = super::new_id();
            let pk = users::insert(conn, org_pk, &id, &cols, &text, &now)?;
            actor.record(
                conn,
                org_pk,
                ("create", "User", &id),
                None,
                Some(&text),
                &now,
            )?;
            Ok(User {
                row: UserRow {
                    pk,
                    id,
                    created: now.clone(),
                    last_modified: now,
                    version: 1,
                    data: text,
                },
                teams: Vec::new(),
            })
        })
        .await
}

/// Reads one user of the organization.
pub async fn get(store: &Store, org_pk: i64, id: String) -> Result<Option<User>> {
    store
        .read(move |conn| {
            let Some(row) = users::get(conn, org_pk, &id)? else {
                return Ok(None);
            };
            let teams = users::teams_of(conn, row.pk)?;
            Ok(Some(User { row, teams }))
        })
        .await
}

/// Reads a user on the writer's connection (inside a write); on PostgreSQL the row stays
/// locked until the write commits (`users::get`), so a second server changing the same user
/// waits and then sees this change.
fn current(conn: &Conn, org_pk: i64, id: &str) -> Result<UserRow> {
    users::get(conn, org_pk, id)?.ok_or_else(|| Error::NotFound(format!("User {id} not found")))
}

/// Replaces every writable attribute with those of a resource body (RFC 7644 §3.5.1), brought
/// into canonical form first. `active` is kept when the body leaves it out: deactivation is
/// always explicit.
pub async fn replace(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    resource: impl Into<Value>,
    now: String,
) -> Result<User> {
    let body = resource.into();
    update_with(store, actor, org_pk, id, pre, now, move |rt, mut before| {
        let active = before.remove("active");
        let mut after = resource::normalize(rt, &body)?;
        if let Some(active) = active {
            after.entry("active").or_insert(active);
        }
        Ok(after)
    })
    .await
}

/// Changes a user: `change` gets the organization's User type (its declared extensions
/// included) and the stored resource, and returns the new one, built from
/// canonical values (`model::resource::normalize_value`, as PATCH does); its required
/// attributes are checked and its `schemas` recomputed here (see `directory::revise`).
///
/// The change is first worked out beside the writer, on a snapshot (the row and the type, read
/// together): one heavy request (a PATCH of a thousand values) must not hold every
/// organization's writes. Inside the writer, that result is used if the user is still the
/// version it was worked out from and the type is the same, else `change` runs again on the
/// current row; so concurrent changes to one user still apply one after the other and none is
/// lost. A change that fails on the snapshot fails without entering the
/// writer (as if it had run just then). A change that changes nothing writes nothing and
/// keeps the version.
pub async fn update_with<F>(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    now: String,
    change: F,
) -> Result<User>
where
    F: Fn(&'static ResourceType, Map<String, Value>) -> Result<Map<String, Value>>
        + Send
        + Sync
        + 'static,
{
    let change = std::sync::Arc::new(change);
    let (snapshot, snapshot_rt) = {
        let id = id.clone();
        store
            .read(move |conn| {
                let row = current(conn, org_pk, &id)?;
                Ok((row, schemas::extended(conn, org_pk, &USER_TYPE)?))
            })
            .await?
    };
    Precondition::check(pre.as_ref(), snapshot.version)?;
    let worked_out = {
        let (change, id) = (change.clone(), id.clone());
        tokio::task::spawn_blocking(move || {
            let before = super::parse_stored(&snapshot.data, "user", &id)?;
            change(snapshot_rt, before).map(|after| (snapshot.version, after))
        })
        .await
        .map_err(|e| Error::Internal(format!("change task: {e}")))??
    };
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = current(conn, org_pk, &id)?;
            let version = row.version;
            // Read in this transaction: a declaration made since the snapshot counts.
            let rt = schemas::extended(conn, org_pk, &USER_TYPE)?;
            let revised = super::revise(
                rt,
                ("user", &id),
                (row.version, &row.data),
                pre.as_ref(),
                move |rt, before| match worked_out {
                    (v, after) if v == version && std::ptr::eq(rt, snapshot_rt) => Ok(after),
                    _ => change(rt, before),
                },
            )?;
            let teams = users::teams_of(conn, row.pk)?;
            let Some((after, text)) = revised else {
                return Ok(User { row, teams });
            };
            let cols = columns(rt, &after);
            // Deactivating the last active Owner is allowed and flagged (see `guard`).
            let owner_before = (!cols.active && super::guard::user_matters(conn, row.pk)?)
                .then(|| super::guard::before(conn, org_pk))
                .transpose()?;
            let version = users::update(conn, org_pk, row.pk, &cols, &text, &now)?;
            if let Some(was) = owner_before {
                super::guard::after(
                    conn,
                    org_pk,
                    was,
                    &actor,
                    &format!("deactivate user {id}"),
                    &now,
                )?;
            }
            actor.record(
                conn,
                org_pk,
                ("update", "User", &id),
                Some(&row.data),
                Some(&text),
                &now,
            )?;
            Ok(User {
                row: UserRow {
                    version,
                    last_modified: now,
                    data: text,
                    ..row
                },
                teams,
            })
        })
        .await
}

/// Deletes a user; it leaves every Team it was in.
pub async fn delete(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    pre: Option<Precondition>,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = current(conn, org_pk, &id)?;
            Precondition::check(pre.as_ref(), row.version)?;
            let owner_before = super::guard::user_matters(conn, row.pk)?
                .then(|| super::guard::before(conn, org_pk))
                .transpose()?;
            let teams = users::teams_of(conn, row.pk)?;
            users::delete(conn, org_pk, row.pk)?;
            if let Some(was) = owner_before {
                super::guard::after(
                    conn,
                    org_pk,
                    was,
                    &actor,
                    &format!("delete user {id}"),
                    &now,
                )?;
            }
            actor.record(
                conn,
                org_pk,
                ("delete", "User", &id),
                Some(&row.data),
                None,
                &now,
            )?;
            // Each Team the user was in lost a member: a change to that Team (a new version,
            // its audit record and its event), as if the member had been removed from it.
            for (team_id, _) in teams {
                if let Some(team) = crate::store::teams::get(conn, org_pk, &team_id)? {
                    crate::store::teams::touch(conn, team.pk, &now)?;
                    let change = serde_json::json!({"added": [], "removed": [id]}).to_string();
                    actor.record(
                        conn,
                        org_pk,
                        ("members", "Team", &team_id),
                        None,
                        Some(&change),
                        &now,
                    )?;
                }
            }
            Ok(())
        })
        .await
}

/// Refuses a filter or sort that a users list cannot answer (`InvalidFilter`/`InvalidValue`),
/// without reading anything.
pub fn check_query(
    rt: &'static ResourceType,
    filter: Option<&crate::model::filter::Filter>,
    sort: Option<&crate::model::query::Sort>,
) -> Result<()> {
    users::check_query(rt, filter, sort)
}

/// One page of users with their Teams, and the total that matched.
pub async fn list(store: &Store, org_pk: i64, q: ListQuery) -> Result<(i64, Vec<User>)> {
    store
        .read(move |conn| {
            let (total, rows) = users::list(conn, org_pk, &q)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let teams = users::teams_of(conn, row.pk)?;
                out.push(User { row, teams });
            }
            Ok((total, out))
        })
        .await
}

/// A user found by id or userName, with its effective access (see `access::effective`).
pub async fn access(
    store: &Store,
    org_pk: i64,
    id_or_name: String,
) -> Result<(UserRow, super::access::Effective)> {
    store
        .read(move |conn| {
            let row = users::find(conn, org_pk, &id_or_name)?
                .ok_or_else(|| Error::NotFound(format!("no user {id_or_name:?}")))?;
            let access = super::access::effective(conn, row.pk)?;
            Ok((row, access))
        })
        .await
}

/// A user's id from its id or userName.
pub async fn resolve(store: &Store, org_pk: i64, id_or_name: String) -> Result<String> {
    store
        .read(move |conn| {
            users::find(conn, org_pk, &id_or_name)?
                .map(|u| u.id)
                .ok_or_else(|| Error::NotFound(format!("no user {id_or_name:?}")))
        })
        .await
}
