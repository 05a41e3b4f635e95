//! Organizations: each has its own SCIM base URL, tokens, users and Teams.

use super::sql::{Conn, Engine, Row, params};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct Org {
    pub pk: i64,
    pub id: String,
    pub name: String,
    pub scim_enabled: bool,
    pub user_count: i64,
    pub team_count: i64,
    pub created: String,
}

const COLUMNS: &str = "pk, id, name, scim_enabled, user_count, team_count, created";

fn from_row(r: &Row<'_>) -> Result<Org> {
    Ok(Org {
        pk: r.get(0)?,
        id: r.get(1)?,
        name: r.get(2)?,
        scim_enabled: r.get(3)?,
        user_count: r.get(4)?,
        team_count: r.get(5)?,
        created: r.get(6)?,
    })
}

/// Creates an organization; a taken name (case-insensitive) is `Uniqueness("name")`.
pub fn insert(conn: &Conn<'_>, id: &str, name: &str, now: &str) -> Result<Org> {
    let pk: i64 = conn
        .query_row(
            "INSERT INTO orgs (id, name, created) VALUES (?, ?, ?) RETURNING pk",
            params![id, name, now],
            |r| r.get(0),
        )
        .map_err(super::unique_as("organization name"))?;
    Ok(Org {
        pk,
        id: id.to_string(),
        name: name.to_string(),
        scim_enabled: true,
        user_count: 0,
        team_count: 0,
        created: now.to_string(),
    })
}

pub fn list(conn: &Conn<'_>) -> Result<Vec<Org>> {
    conn.query_map(
        &format!("SELECT {COLUMNS} FROM orgs ORDER BY pk"),
        params![],
        from_row,
    )
}

pub fn by_id(conn: &Conn<'_>, id: &str) -> Result<Option<Org>> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orgs WHERE id = ?"),
        params![id],
        from_row,
    )
}

/// Finds an organization by id, or else by name (case-insensitive): what the CLI's `--org` takes.
pub fn find(conn: &Conn<'_>, id_or_name: &str) -> Result<Option<Org>> {
    if let Some(org) = by_id(conn, id_or_name)? {
        return Ok(Some(org));
    }
    // SQLite compares the column by its COLLATE NOCASE; PostgreSQL through the same ASCII
    // folding its unique index is on.
    let by_name = match conn.engine() {
        Engine::Sqlite => "name = ?",
        Engine::Postgres => "scimbox_nocase(name) = scimbox_nocase(?)",
    };
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM orgs WHERE {by_name}"),
        params![id_or_name],
        from_row,
    )
}

pub fn count(conn: &Conn<'_>) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM orgs", params![], |r| r.get(0))
}

pub fn set_scim_enabled(conn: &Conn<'_>, pk: i64, enabled: bool) -> Result<()> {
    conn.execute(
        "UPDATE orgs SET scim_enabled = ? WHERE pk = ?",
        params![enabled, pk],
    )?;
    Ok(())
}

/// What an organization holds: (users, Teams, Workspaces). An import needs all three at 0.
pub fn contents(conn: &Conn<'_>, pk: i64) -> Result<(i64, i64, i64)> {
    Ok(conn
        .query_opt(
            "SELECT user_count, team_count,
                    (SELECT count(*) FROM workspaces WHERE org_pk = ?1)
             FROM orgs WHERE pk = ?1",
            params![pk],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .unwrap_or((0, 0, 0)))
}

/// Whether a resource id is taken by a user, Team or Workspace of any organization (ids are
/// unique across the whole database).
pub fn id_in_use(conn: &Conn<'_>, id: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)
             OR EXISTS (SELECT 1 FROM teams WHERE id = ?1)
             OR EXISTS (SELECT 1 FROM workspaces WHERE id = ?1)
             OR EXISTS (SELECT 1 FROM deployments WHERE id = ?1)
             OR EXISTS (SELECT 1 FROM deployment_roles WHERE id = ?1)",
        params![id],
        |r| r.get(0),
    )
}

/// Whether SCIM provisioning is on in an organization; an unknown pk reads as on (the
/// stricter answer for local tools). A database that cannot answer is an error, not "on".
pub fn scim_enabled(conn: &Conn<'_>, org_pk: i64) -> Result<bool> {
    Ok(conn
        .query_opt(
            "SELECT scim_enabled FROM orgs WHERE pk = ?",
            params![org_pk],
            |r| r.get(0),
        )?
        .unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::store::testing;

    const NOW: &str = "2026-12-02T10:00:00Z";

    #[test]
    fn organizations_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let acme = store
                .write_blocking(|c| insert(c, "o-1", "Acme", NOW))
                .unwrap();
            assert_eq!((acme.scim_enabled, acme.user_count), (true, 0), "{engine}");
            let dup = store.write_blocking(|c| insert(c, "o-2", "ACME", NOW));
            assert_eq!(
                dup.unwrap_err(),
                Error::Uniqueness("organization name".into()),
                "{engine}"
            );
            let beta = store
                .write_blocking(|c| insert(c, "o-3", "Beta", NOW))
                .unwrap();
            let (pk, bpk) = (acme.pk, beta.pk);
            store
                .write_blocking(move |c| {
                    set_scim_enabled(c, bpk, false)?;
                    c.execute(
                        "INSERT INTO workspaces (org_pk, id, name, created) VALUES (?, 'w-1', 'W', ?)",
                        params![pk, NOW],
                    )?;
                    c.execute(
                        "INSERT INTO users (org_pk, id, user_name, user_name_fold, created,
                         last_modified, data) VALUES (?, 'u-1', 'ann', 'ann', ?, ?, '{}')",
                        params![pk, NOW, NOW],
                    )?;
                    Ok(())
                })
                .unwrap();
            let got = store
                .read_blocking(move |c| {
                    Ok((
                        list(c)?,
                        by_id(c, "o-1")?,
                        find(c, "aCmE")?,
                        find(c, "o-3")?,
                        find(c, "nobody")?,
                        count(c)?,
                        (
                            scim_enabled(c, pk)?,
                            scim_enabled(c, bpk)?,
                            scim_enabled(c, 999)?,
                        ),
                        (contents(c, pk)?, contents(c, bpk)?, contents(c, 999)?),
                        (
                            id_in_use(c, "u-1")?,
                            id_in_use(c, "w-1")?,
                            id_in_use(c, "o-1")?,
                        ),
                    ))
                })
                .unwrap();
            let (all, by, by_name, by_id3, none, n, enabled, held, in_use) = got;
            assert_eq!(all.len(), 2, "{engine}");
            assert_eq!(all[0].user_count, 1, "{engine}: the counter follows");
            assert!(!all[1].scim_enabled, "{engine}");
            assert_eq!(by.as_ref().map(|o| o.pk), Some(pk), "{engine}");
            assert_eq!(by_name.map(|o| o.pk), Some(pk), "{engine}");
            assert_eq!(by_id3.map(|o| o.pk), Some(bpk), "{engine}");
            assert!(none.is_none(), "{engine}");
            assert_eq!(n, 2, "{engine}");
            assert_eq!(
                enabled,
                (true, false, true),
                "{engine}: unknown reads as on"
            );
            assert_eq!(held, ((1, 0, 1), (0, 0, 0), (0, 0, 0)), "{engine}");
            assert_eq!(
                in_use,
                (true, true, false),
                "{engine}: org ids are not resource ids"
            );
            store.close();
        }
    }
}
