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

/// Reads a user on the writer's connection (inside a write).
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
/// attributes are checked and its `schemas` recomputed here (see `directory::revise`). Runs
/// inside the writer, so concurrent changes to one user apply one after the other and none is
/// lost. A change that changes nothing writes nothing and keeps the version.
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
    F: FnOnce(&'static ResourceType, Map<String, Value>) -> Result<Map<String, Value>>
        + Send
        + 'static,
{
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = current(conn, org_pk, &id)?;
            let rt = schemas::extended(conn, org_pk, &USER_TYPE)?;
            let revised = super::revise(
                rt,
                ("user", &id),
                (row.version, &row.data),
                pre.as_ref(),
                change,
            )?;
            let teams = users::teams_of(conn, row.pk)?;
            let Some((after, text)) = revised else {
                return Ok(User { row, teams });
            };
            let version = users::update(conn, org_pk, row.pk, &columns(rt, &after), &text, &now)?;
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
            users::delete(conn, org_pk, row.pk)?;
            actor.record(
                conn,
                org_pk,
                ("delete", "User", &id),
                Some(&row.data),
                None,
                &now,
            )?;
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

/// A user found by id or userName, with its effective access (see `teams::effective_access`).
pub async fn access(
    store: &Store,
    org_pk: i64,
    id_or_name: String,
) -> Result<(UserRow, super::teams::Access)> {
    store
        .read(move |conn| {
            let row = users::find(conn, org_pk, &id_or_name)?
                .ok_or_else(|| Error::NotFound(format!("no user {id_or_name:?}")))?;
            let access = super::teams::effective_access(conn, row.pk)?;
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
