//! Declared schema extensions (RFC 7643 §7) per organization, and the indexed values of users'
//! declared attributes.

use crate::error::{Error, Result};
use crate::model::declared::{self, IndexedValue, Types};
use crate::model::schema::{GROUP_TYPE, ResourceType, USER_TYPE};
use rusqlite::{Connection, OptionalExtension, params};

/// One stored declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub urn: String,
    pub resource_type: String,
    pub required: bool,
    /// The schema text as `model::declared::parse` wrote it.
    pub body: String,
    pub created: String,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Declared> {
    Ok(Declared {
        urn: r.get(0)?,
        resource_type: r.get(1)?,
        required: r.get(2)?,
        body: r.get(3)?,
        created: r.get(4)?,
    })
}

/// The organization's declarations, oldest first. `+?`: with a bare `?` SQLite re-prepared
/// the statement on every call, and every filtered list reads it.
pub fn list(conn: &Connection, org_pk: i64) -> Result<Vec<Declared>> {
    let mut stmt = conn.prepare_cached(
        "SELECT urn, resource_type, required, body, created FROM declared_schemas
         WHERE org_pk = +? ORDER BY pk",
    )?;
    let rows = stmt.query_map([org_pk], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, org_pk: i64, urn: &str) -> Result<Option<Declared>> {
    Ok(conn
        .prepare_cached(
            "SELECT urn, resource_type, required, body, created FROM declared_schemas
             WHERE org_pk = ? AND urn = ?",
        )?
        .query_row(params![org_pk, urn], from_row)
        .optional()?)
}

/// Stores a declaration; a URN the organization already declared is `Uniqueness("id")`.
pub fn insert(conn: &Connection, org_pk: i64, d: &Declared) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO declared_schemas (org_pk, urn, resource_type, required, body, created)
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        org_pk,
        d.urn,
        d.resource_type,
        d.required,
        d.body,
        d.created
    ])
    .map_err(super::unique_as("id"))?;
    Ok(())
}

pub fn delete(conn: &Connection, org_pk: i64, urn: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM declared_schemas WHERE org_pk = ? AND urn = ?")?
        .execute(params![org_pk, urn])?;
    Ok(n > 0)
}

/// The organization's resource types. One indexed read; an organization without declarations
/// gets the built-in types themselves.
pub fn types(conn: &Connection, org_pk: i64) -> Result<Types> {
    let mut user = Vec::new();
    let mut group = Vec::new();
    for d in list(conn, org_pk)? {
        let schema = declared::schema(&d.body).map_err(Error::Internal)?;
        if d.resource_type == GROUP_TYPE.name {
            group.push((schema, d.required));
        } else {
            user.push((schema, d.required));
        }
    }
    Ok(Types {
        user: declared::resource_type(&USER_TYPE, &user),
        group: declared::resource_type(&GROUP_TYPE, &group),
    })
}

/// The extended resource type `base` has in the organization.
pub fn extended(
    conn: &Connection,
    org_pk: i64,
    base: &'static ResourceType,
) -> Result<&'static ResourceType> {
    Ok(types(conn, org_pk)?.of(base))
}

/// Replaces a user's indexed declared values, checking `uniqueness: server` within the
/// organization first (`Uniqueness` naming the attribute).
pub fn set_values(
    conn: &Connection,
    org_pk: i64,
    user_pk: i64,
    values: &[IndexedValue],
) -> Result<()> {
    conn.prepare_cached("DELETE FROM declared_values WHERE user_pk = ?")?
        .execute([user_pk])?;
    let mut taken = conn.prepare_cached(
        "SELECT 1 FROM declared_values WHERE org_pk = ? AND attr = ? AND value = ?
         AND user_pk <> ? LIMIT 1",
    )?;
    for v in values {
        if let Some(name) = v.unique {
            let hit = taken
                .query_row(params![org_pk, v.attr, v.value, user_pk], |_| Ok(()))
                .optional()?;
            if hit.is_some() {
                return Err(Error::Uniqueness(name.to_string()));
            }
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO declared_values (org_pk, user_pk, attr, value) VALUES (?, ?, ?, ?)",
    )?;
    for v in values {
        insert.execute(params![org_pk, user_pk, v.attr, v.value])?;
    }
    Ok(())
}

/// How many of the organization's users or Teams carry a value for extension `urn`.
pub fn carriers(conn: &Connection, org_pk: i64, urn: &str, resource_type: &str) -> Result<i64> {
    let table = if resource_type == GROUP_TYPE.name {
        "teams"
    } else {
        "users"
    };
    // `urn` was checked by model::declared (letters, digits, `:` `.` `_`), but it is bound as
    // a parameter all the same: the JSON path is built in SQL.
    Ok(conn
        .prepare_cached(&format!(
            "SELECT count(*) FROM {table} WHERE org_pk = ?
             AND json_type(data, '$.\"' || ? || '\"') IS NOT NULL"
        ))?
        .query_row(params![org_pk, urn], |r| r.get(0))?)
}

/// The ids and data of the organization's users or Teams that carry extension `urn`.
pub fn carrying(
    conn: &Connection,
    org_pk: i64,
    urn: &str,
    resource_type: &str,
) -> Result<Vec<(i64, String, String)>> {
    let table = if resource_type == GROUP_TYPE.name {
        "teams"
    } else {
        "users"
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT pk, id, data FROM {table} WHERE org_pk = ?
         AND json_type(data, '$.\"' || ? || '\"') IS NOT NULL ORDER BY pk"
    ))?;
    let rows = stmt.query_map(params![org_pk, urn], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Rewrites a resource's data without an extension (used by `schema remove --force`), bumping
/// its version.
pub fn set_data(
    conn: &Connection,
    resource_type: &str,
    pk: i64,
    data: &str,
    now: &str,
) -> Result<()> {
    let table = if resource_type == GROUP_TYPE.name {
        "teams"
    } else {
        "users"
    };
    conn.prepare_cached(&format!(
        "UPDATE {table} SET data = ?, version = version + 1, last_modified = ? WHERE pk = ?"
    ))?
    .execute(params![data, now, pk])?;
    Ok(())
}

/// Drops the indexed values of every attribute under `urn` (lower-cased keys start with it).
pub fn drop_values(conn: &Connection, org_pk: i64, urn: &str) -> Result<()> {
    let prefix = format!("{}:", urn.to_ascii_lowercase());
    conn.prepare_cached(
        "DELETE FROM declared_values WHERE org_pk = ? AND substr(attr, 1, length(?)) = ?",
    )?
    .execute(params![org_pk, prefix, prefix])?;
    Ok(())
}
