//! Declared schema extensions (RFC 7643 §7): add, list, show and remove, with the audit record
//! in the same transaction. The CLI and the admin page both come through here.

use super::Actor;
use crate::error::{Error, Result};
use crate::model::declared;
use crate::model::schema::GROUP_TYPE;
use crate::store::Store;
use crate::store::schemas::{self, Declared};

/// Declares a schema extension from its RFC 7643 §7 text. A file that is not a valid schema
/// is `InvalidValue` with one line naming the field; a URN the organization already declared
/// is `Uniqueness("id")`. Nothing is written on failure.
pub async fn add(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    text: String,
    resource_type: String,
    now: String,
) -> Result<Declared> {
    let d = declared::parse(&text, &resource_type).map_err(Error::InvalidValue)?;
    let actor = actor.clone();
    store
        .write(move |conn| {
            if schemas::get(conn, org_pk, &d.urn)?.is_some() {
                return Err(Error::InvalidValue(format!(
                    "id: {} is already declared in this organization (remove it first)",
                    d.urn
                )));
            }
            let row = Declared {
                urn: d.urn.clone(),
                resource_type: d.resource_type.to_string(),
                required: d.required,
                body: d.text.clone(),
                created: now.clone(),
            };
            schemas::insert(conn, org_pk, &row)?;
            actor.record(
                conn,
                org_pk,
                ("create", "Schema", &d.urn),
                None,
                Some(&d.text),
                &now,
            )?;
            Ok(row)
        })
        .await
}

/// A declaration with the number of resources carrying values for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub declared: Declared,
    pub carriers: i64,
}

pub async fn list(store: &Store, org_pk: i64) -> Result<Vec<Shown>> {
    store
        .read(move |conn| {
            let mut out = Vec::new();
            for d in schemas::list(conn, org_pk)? {
                let carriers = schemas::carriers(conn, org_pk, &d.urn, &d.resource_type)?;
                out.push(Shown {
                    declared: d,
                    carriers,
                });
            }
            Ok(out)
        })
        .await
}

pub async fn show(store: &Store, org_pk: i64, urn: String) -> Result<Shown> {
    store
        .read(move |conn| {
            let d = schemas::get(conn, org_pk, &urn)?.ok_or_else(|| not_declared(&urn))?;
            let carriers = schemas::carriers(conn, org_pk, &d.urn, &d.resource_type)?;
            Ok(Shown {
                declared: d,
                carriers,
            })
        })
        .await
}

fn not_declared(urn: &str) -> Error {
    Error::NotFound(format!("no schema {urn} is declared in this organization"))
}

/// Removes a declaration. While users or Teams carry values for it, it is refused
/// (`InvalidValue` saying how many) unless `force`, which drops those values from every
/// resource (each change audited, then the removal). Returns how many resources lost values.
pub async fn remove(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    urn: String,
    force: bool,
    now: String,
) -> Result<usize> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let d = schemas::get(conn, org_pk, &urn)?.ok_or_else(|| not_declared(&urn))?;
            let carrying = schemas::carrying(conn, org_pk, &d.urn, &d.resource_type)?;
            let kind = if d.resource_type == GROUP_TYPE.name {
                "Team"
            } else {
                "User"
            };
            if !carrying.is_empty() && !force {
                return Err(Error::InvalidValue(format!(
                    "{} {kind}s carry values for {}; remove them first, or pass --force to \
                     drop them",
                    carrying.len(),
                    d.urn
                )));
            }
            for (pk, id, data) in &carrying {
                let mut map = super::parse_stored(data, kind, id)?;
                map.retain(|k, _| !k.eq_ignore_ascii_case(&d.urn));
                if let Some(serde_json::Value::Array(list)) = map.get_mut("schemas") {
                    list.retain(|s| !s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&d.urn)));
                }
                let text = super::to_text(&map)?;
                schemas::set_data(conn, &d.resource_type, *pk, &text, &now)?;
                actor.record(
                    conn,
                    org_pk,
                    ("update", kind, id),
                    Some(data),
                    Some(&text),
                    &now,
                )?;
            }
            schemas::drop_values(conn, org_pk, &d.urn)?;
            schemas::delete(conn, org_pk, &d.urn)?;
            let why = if carrying.is_empty() {
                String::new()
            } else {
                format!("dropped the values of {} {kind}s", carrying.len())
            };
            actor.record(
                conn,
                org_pk,
                ("delete", "Schema", &d.urn),
                Some(&d.body),
                (!why.is_empty()).then_some(why.as_str()),
                &now,
            )?;
            Ok(carrying.len())
        })
        .await
}
