//! Declared schema extensions (RFC 7643 §7) per organization, and the indexed values of users'
//! declared attributes.

use super::sql::{Conn, Engine, Row, params};
use crate::error::{Error, Result};
use crate::model::declared::{self, IndexedValue, Types};
use crate::model::schema::{GROUP_TYPE, ResourceType, USER_TYPE};

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

fn from_row(r: &Row<'_>) -> Result<Declared> {
    Ok(Declared {
        urn: r.get(0)?,
        resource_type: r.get(1)?,
        required: r.get(2)?,
        body: r.get(3)?,
        created: r.get(4)?,
    })
}

/// `urn = ?` ignoring ASCII case, as the URN's uniqueness does: SQLite through the column's
/// COLLATE NOCASE, PostgreSQL through the folding its unique index is on.
fn urn_is(conn: &Conn<'_>) -> &'static str {
    match conn.engine() {
        Engine::Sqlite => "urn = ?",
        Engine::Postgres => "scimbox_nocase(urn) = scimbox_nocase(?)",
    }
}

/// The organization's declarations, oldest first. `+?` on SQLite: with a bare `?` SQLite
/// re-prepared the statement on every call, and every filtered list reads it.
pub fn list(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<Declared>> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT urn, resource_type, required, body, created FROM declared_schemas
             WHERE org_pk = +? ORDER BY pk"
        }
        Engine::Postgres => {
            "SELECT urn, resource_type, required, body, created FROM declared_schemas
             WHERE org_pk = ? ORDER BY pk"
        }
    };
    conn.query_map(sql, params![org_pk], from_row)
}

pub fn get(conn: &Conn<'_>, org_pk: i64, urn: &str) -> Result<Option<Declared>> {
    conn.query_opt(
        &format!(
            "SELECT urn, resource_type, required, body, created FROM declared_schemas
             WHERE org_pk = ? AND {}",
            urn_is(conn)
        ),
        params![org_pk, urn],
        from_row,
    )
}

/// Stores a declaration; a URN the organization already declared is `Uniqueness("id")`.
pub fn insert(conn: &Conn<'_>, org_pk: i64, d: &Declared) -> Result<()> {
    conn.execute(
        "INSERT INTO declared_schemas (org_pk, urn, resource_type, required, body, created)
         VALUES (?, ?, ?, ?, ?, ?)",
        params![
            org_pk,
            d.urn,
            d.resource_type,
            d.required,
            d.body,
            d.created
        ],
    )
    .map_err(super::unique_as("id"))?;
    Ok(())
}

pub fn delete(conn: &Conn<'_>, org_pk: i64, urn: &str) -> Result<bool> {
    let n = conn.execute(
        &format!(
            "DELETE FROM declared_schemas WHERE org_pk = ? AND {}",
            urn_is(conn)
        ),
        params![org_pk, urn],
    )?;
    Ok(n > 0)
}

/// The organization's resource types. One indexed read; an organization without declarations
/// gets the built-in types themselves.
pub fn types(conn: &Conn<'_>, org_pk: i64) -> Result<Types> {
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
    conn: &Conn<'_>,
    org_pk: i64,
    base: &'static ResourceType,
) -> Result<&'static ResourceType> {
    Ok(types(conn, org_pk)?.of(base))
}

/// Replaces a user's indexed declared values, checking `uniqueness: server` within the
/// organization first (`Uniqueness` naming the attribute).
///
/// On PostgreSQL two servers may check one value at once and both find it free: each unique
/// value is first locked (a transaction-scoped advisory lock on the organization, attribute
/// and value), so the second waits for the first to commit and then sees its row. SQLite has
/// one writer.
pub fn set_values(
    conn: &Conn<'_>,
    org_pk: i64,
    user_pk: i64,
    values: &[IndexedValue],
) -> Result<()> {
    conn.execute(
        "DELETE FROM declared_values WHERE user_pk = ?",
        params![user_pk],
    )?;
    let mut unique: Vec<&IndexedValue> = values.iter().filter(|v| v.unique.is_some()).collect();
    if conn.engine() == Engine::Postgres {
        // One order for every transaction, so two that lock several values cannot deadlock.
        unique.sort_by(|a, b| (&a.attr, &a.value).cmp(&(&b.attr, &b.value)));
        for v in &unique {
            let key = format!("scimbox declared value {org_pk} {} {}", v.attr, v.value);
            conn.query_row(
                "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended(CAST(? AS TEXT), 0))) l",
                params![key],
                |_| Ok(()),
            )?;
        }
    }
    for v in unique {
        let Some(name) = v.unique else { continue };
        let hit = conn.query_opt(
            "SELECT 1 FROM declared_values WHERE org_pk = ? AND attr = ? AND value = ?
             AND user_pk <> ? LIMIT 1",
            params![org_pk, v.attr, v.value, user_pk],
            |_| Ok(()),
        )?;
        if hit.is_some() {
            return Err(Error::Uniqueness(name.to_string()));
        }
    }
    for v in values {
        conn.execute(
            "INSERT INTO declared_values (org_pk, user_pk, attr, value) VALUES (?, ?, ?, ?)",
            params![org_pk, user_pk, v.attr, v.value],
        )?;
    }
    Ok(())
}

fn table_of(resource_type: &str) -> &'static str {
    if resource_type == GROUP_TYPE.name {
        "teams"
    } else {
        "users"
    }
}

/// `data` has a top-level member named by the parameter (SQLite's JSON path built in SQL,
/// PostgreSQL's `->` on the text cast to JSONB; a JSON `null` counts on both).
fn carries(conn: &Conn<'_>) -> &'static str {
    match conn.engine() {
        Engine::Sqlite => "json_type(data, '$.\"' || ? || '\"') IS NOT NULL",
        Engine::Postgres => "(CAST(data AS JSONB) -> CAST(? AS TEXT)) IS NOT NULL",
    }
}

/// How many of the organization's users or Teams carry a value for extension `urn`.
pub fn carriers(conn: &Conn<'_>, org_pk: i64, urn: &str, resource_type: &str) -> Result<i64> {
    let table = table_of(resource_type);
    // `urn` was checked by model::declared (letters, digits, `:` `.` `_`), but it is bound as
    // a parameter all the same: the JSON path is built in SQL.
    conn.query_row(
        &format!(
            "SELECT count(*) FROM {table} WHERE org_pk = ?
             AND {}",
            carries(conn)
        ),
        params![org_pk, urn],
        |r| r.get(0),
    )
}

/// The ids and data of the organization's users or Teams that carry extension `urn`.
pub fn carrying(
    conn: &Conn<'_>,
    org_pk: i64,
    urn: &str,
    resource_type: &str,
) -> Result<Vec<(i64, String, String)>> {
    let table = table_of(resource_type);
    conn.query_map(
        &format!(
            "SELECT pk, id, data FROM {table} WHERE org_pk = ?
             AND {} ORDER BY pk",
            carries(conn)
        ),
        params![org_pk, urn],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Rewrites a resource's data without an extension (used by `schema remove --force`), bumping
/// its version.
pub fn set_data(
    conn: &Conn<'_>,
    resource_type: &str,
    pk: i64,
    data: &str,
    now: &str,
) -> Result<()> {
    let table = table_of(resource_type);
    conn.execute(
        &format!(
            "UPDATE {table} SET data = ?, version = version + 1, last_modified = ? WHERE pk = ?"
        ),
        params![data, now, pk],
    )?;
    Ok(())
}

/// Drops the indexed values of every attribute under `urn` (lower-cased keys start with it).
pub fn drop_values(conn: &Conn<'_>, org_pk: i64, urn: &str) -> Result<()> {
    let prefix = format!("{}:", urn.to_ascii_lowercase());
    conn.execute(
        "DELETE FROM declared_values WHERE org_pk = ?
         AND substr(attr, 1, length(CAST(? AS TEXT))) = ?",
        params![org_pk, prefix, prefix],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, orgs, testing, users};

    const NOW: &str = "2026-12-02T10:00:00Z";
    const URN: &str = "urn:ietf:params:scim:schemas:extension:Cost:2.0:User";

    fn declaration() -> Declared {
        let text = format!(
            r#"{{"id":"{URN}","name":"Cost","attributes":[
               {{"name":"badge","type":"string","uniqueness":"server"}}]}}"#
        );
        let d = declared::parse(&text, "User").unwrap();
        Declared {
            urn: d.urn,
            resource_type: d.resource_type.into(),
            required: d.required,
            body: d.text,
            created: NOW.into(),
        }
    }

    fn value(user: &str, unique: bool) -> IndexedValue {
        IndexedValue {
            attr: format!("{}:badge", URN.to_ascii_lowercase()),
            value: format!("b-{user}"),
            unique: unique.then_some("badge"),
            case_exact: false,
        }
    }

    fn user(store: &Store, org_pk: i64, name: &str, data: &str) -> i64 {
        let (name, data) = (name.to_string(), data.to_string());
        store
            .write_blocking(move |c| {
                let cols = users::UserColumns {
                    user_name: name.clone(),
                    ..Default::default()
                };
                users::insert(c, org_pk, &format!("u-{name}"), &cols, &data, NOW)
            })
            .unwrap()
    }

    #[test]
    fn declared_schemas_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let o = store
                .write_blocking(|c| Ok(orgs::insert(c, "o-1", "acme", NOW)?.pk))
                .unwrap();
            store
                .write_blocking(move |c| insert(c, o, &declaration()))
                .unwrap();
            let dup = store.write_blocking(move |c| {
                let mut d = declaration();
                d.urn = d.urn.to_ascii_uppercase();
                insert(c, o, &d)
            });
            assert_eq!(dup.unwrap_err(), Error::Uniqueness("id".into()), "{engine}");
            let (all, by_urn, missing, ext) = store
                .read_blocking(move |c| {
                    Ok((
                        list(c, o)?,
                        get(c, o, &URN.to_ascii_lowercase())?,
                        get(c, o + 1, URN)?,
                        extended(c, o, &USER_TYPE)?,
                    ))
                })
                .unwrap();
            assert_eq!(all, vec![declaration()], "{engine}");
            assert_eq!(
                by_urn,
                Some(declaration()),
                "{engine}: the URN ignores case"
            );
            assert!(missing.is_none(), "{engine}");
            assert!(ext.resolve(Some(URN), "badge", None).is_some(), "{engine}");
            assert!(!std::ptr::eq(ext, &USER_TYPE), "{engine}");
            // Values: a unique one another user holds is refused; the user's own is not.
            let with = format!(r#"{{"{URN}":{{"badge":"x"}},"a":1}}"#);
            let ann = user(&store, o, "ann", &with);
            let bob = user(&store, o, "bob", r#"{"a":2}"#);
            let null = user(&store, o, "cy", &format!(r#"{{"{URN}":null}}"#));
            store
                .write_blocking(move |c| {
                    set_values(c, o, ann, &[value("ann", true)])?;
                    set_values(c, o, ann, &[value("ann", true)])
                })
                .unwrap();
            let taken = store.write_blocking(move |c| set_values(c, o, bob, &[value("ann", true)]));
            assert_eq!(
                taken.unwrap_err(),
                Error::Uniqueness("badge".into()),
                "{engine}"
            );
            store
                .write_blocking(move |c| set_values(c, o, bob, &[value("ann", false)]))
                .unwrap();
            let (n, carrying_users, teams_n) = store
                .read_blocking(move |c| {
                    Ok((
                        carriers(c, o, URN, "User")?,
                        carrying(c, o, URN, "User")?,
                        carriers(c, o, URN, "Group")?,
                    ))
                })
                .unwrap();
            assert_eq!((n, teams_n), (2, 0), "{engine}: a JSON null counts");
            assert_eq!(
                carrying_users,
                vec![
                    (ann, "u-ann".into(), with.clone()),
                    (null, "u-cy".into(), format!(r#"{{"{URN}":null}}"#))
                ],
                "{engine}"
            );
            let values_left = move |c: &Conn<'_>| {
                c.query_row(
                    "SELECT count(*) FROM declared_values WHERE org_pk = ?",
                    params![o],
                    |r| r.get::<i64>(0),
                )
            };
            assert_eq!(store.read_blocking(values_left).unwrap(), 2, "{engine}");
            // Dropping: the data rewritten (version bumped), the values and declaration gone.
            let later = "2026-12-02T11:00:00Z";
            let (row, gone, again, after) = store
                .write_blocking(move |c| {
                    set_data(c, "User", ann, r#"{"a":1}"#, later)?;
                    drop_values(c, o, URN)?;
                    let gone = delete(c, o, &URN.to_ascii_uppercase())?;
                    let again = delete(c, o, URN)?;
                    Ok((
                        users::get(c, o, "u-ann")?.unwrap(),
                        gone,
                        again,
                        list(c, o)?,
                    ))
                })
                .unwrap();
            assert_eq!(
                (row.version, row.data.as_str(), row.last_modified.as_str()),
                (2, r#"{"a":1}"#, later),
                "{engine}"
            );
            assert!(gone && !again && after.is_empty(), "{engine}");
            assert_eq!(store.read_blocking(values_left).unwrap(), 0, "{engine}");
            let ext = store
                .read_blocking(move |c| extended(c, o, &GROUP_TYPE))
                .unwrap();
            assert!(std::ptr::eq(ext, &GROUP_TYPE), "{engine}");
            store.close();
        }
    }
}
