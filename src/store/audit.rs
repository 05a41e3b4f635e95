//! The audit log: every change, who made it, why, and what it was before and after.

use super::sql::{Conn, Engine, Row, params};
use crate::error::Result;

/// One change to record.
#[derive(Default)]
pub struct Entry<'a> {
    pub org_pk: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub reason: Option<&'a str>,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    /// The request that made the change, and who sent it (address, user agent).
    pub request_id: Option<&'a str>,
    pub source: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert(conn: &Conn<'_>, e: &Entry<'_>, now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (org_pk, at, actor, action, resource_type, resource_id, reason, before,
         after, request_id, source, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            e.org_pk,
            now,
            e.actor,
            e.action,
            e.resource_type,
            e.resource_id,
            e.reason,
            e.before,
            e.after,
            e.request_id,
            e.source,
            e.user_agent
        ],
    )?;
    // Every change writes its audit record here, whatever edge it came from: the one place
    // its SCIM event (if it makes one) is written too, in the same transaction.
    super::outbox::on_audit(conn, e, now)
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub pk: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub reason: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

const COLUMNS: &str = "pk, at, actor, action, resource_type, resource_id, reason, before, after, \
     request_id, source, user_agent";

fn from_row(r: &Row<'_>) -> Result<AuditRow> {
    Ok(AuditRow {
        pk: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        resource_type: r.get(4)?,
        resource_id: r.get(5)?,
        reason: r.get(6)?,
        before: r.get(7)?,
        after: r.get(8)?,
        request_id: r.get(9)?,
        source: r.get(10)?,
        user_agent: r.get(11)?,
    })
}

/// The newest entries of an organization first, optionally for one resource.
pub fn list(
    conn: &Conn<'_>,
    org_pk: i64,
    resource_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let resource = match conn.engine() {
        Engine::Sqlite => "?2 IS NULL",
        Engine::Postgres => "CAST(?2 AS TEXT) IS NULL",
    };
    conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM audit WHERE org_pk = ?1 AND ({resource} OR resource_id = ?2)
         ORDER BY pk DESC LIMIT ?3"
        ),
        params![org_pk, resource_id, limit],
        from_row,
    )
}

/// What a page of the audit log asks for; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// Contained in the actor (`token:okta`, `admin:`), any case.
    pub actor: Option<String>,
    pub action: Option<String>,
    pub request_id: Option<String>,
    /// `at >= since` and `at < until`, in the stored time format.
    pub since: Option<String>,
    pub until: Option<String>,
}

/// [`page`]'s conditions. "Any case" is ASCII case on both engines: SQLite's `lower()` folds
/// only ASCII, and so does `scimbox_nocase()` on PostgreSQL (whose `lower()` folds more).
/// PostgreSQL cannot tell the type of a parameter only tested for NULL, so it is cast there.
const PAGE_WHERE_SQLITE: &str = "org_pk = ?1 AND (?2 IS NULL OR resource_type = ?2)
         AND (?3 IS NULL OR resource_id = ?3) AND (?4 IS NULL OR instr(lower(actor), lower(?4)) > 0)
         AND (?5 IS NULL OR action = ?5) AND (?6 IS NULL OR request_id = ?6)
         AND (?7 IS NULL OR at >= ?7) AND (?8 IS NULL OR at < ?8)";
const PAGE_WHERE_POSTGRES: &str = "org_pk = ?1
         AND (CAST(?2 AS TEXT) IS NULL OR resource_type = ?2)
         AND (CAST(?3 AS TEXT) IS NULL OR resource_id = ?3)
         AND (CAST(?4 AS TEXT) IS NULL
              OR strpos(scimbox_nocase(actor), scimbox_nocase(?4)) > 0)
         AND (CAST(?5 AS TEXT) IS NULL OR action = ?5)
         AND (CAST(?6 AS TEXT) IS NULL OR request_id = ?6)
         AND (CAST(?7 AS TEXT) IS NULL OR at >= ?7) AND (CAST(?8 AS TEXT) IS NULL OR at < ?8)";

/// One page of an organization's entries, newest first: those older than `before_pk` (all
/// when `None`) that pass the filter; and how many pass it in all.
pub fn page(
    conn: &Conn<'_>,
    org_pk: i64,
    f: &Filter,
    before_pk: Option<i64>,
    limit: i64,
) -> Result<(i64, Vec<AuditRow>)> {
    let (where_sql, before) = match conn.engine() {
        Engine::Sqlite => (PAGE_WHERE_SQLITE, "?9 IS NULL"),
        Engine::Postgres => (PAGE_WHERE_POSTGRES, "CAST(?9 AS BIGINT) IS NULL"),
    };
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM audit WHERE {where_sql}"),
        params![
            org_pk,
            f.resource_type,
            f.resource_id,
            f.actor,
            f.action,
            f.request_id,
            f.since,
            f.until
        ],
        |r| r.get(0),
    )?;
    let rows = conn.query_map(
        &format!(
            "SELECT {COLUMNS} FROM audit WHERE {where_sql} AND ({before} OR pk < ?9)
         ORDER BY pk DESC LIMIT ?10"
        ),
        params![
            org_pk,
            f.resource_type,
            f.resource_id,
            f.actor,
            f.action,
            f.request_id,
            f.since,
            f.until,
            before_pk,
            limit
        ],
        from_row,
    )?;
    Ok((total, rows))
}

/// The newest entry of an organization with this action, if any.
pub fn latest_action(conn: &Conn<'_>, org_pk: i64, action: &str) -> Result<Option<AuditRow>> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM audit WHERE org_pk = ?1 AND action = ?2
             ORDER BY pk DESC LIMIT 1"
        ),
        params![org_pk, action],
        from_row,
    )
}

/// Deletes entries recorded before `cutoff` (retention); returns how many.
pub fn prune(conn: &Conn<'_>, cutoff: &str) -> Result<usize> {
    conn.execute("DELETE FROM audit WHERE at < ?", params![cutoff])
}

/// A user or Team an audit entry names, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub kind: &'static str,
    pub id: String,
    /// A user's userName, a Team's displayName.
    pub name: String,
    /// A user's displayName.
    pub display: Option<String>,
}

/// The users and Teams of an organization among `ids` (unknown ids are left out).
pub fn names(conn: &Conn<'_>, org_pk: i64, ids: &[String]) -> Result<Vec<Named>> {
    let list = serde_json::Value::from(ids.to_vec()).to_string();
    let (users, teams) = match conn.engine() {
        Engine::Sqlite => (
            "SELECT id, user_name, display_name FROM users
         WHERE org_pk = ? AND id IN (SELECT value FROM json_each(?))",
            "SELECT id, display_name FROM teams
         WHERE org_pk = ? AND id IN (SELECT value FROM json_each(?))",
        ),
        Engine::Postgres => (
            "SELECT id, user_name, display_name FROM users
             WHERE org_pk = ? AND id IN (SELECT jsonb_array_elements_text(CAST(? AS JSONB)))",
            "SELECT id, display_name FROM teams
             WHERE org_pk = ? AND id IN (SELECT jsonb_array_elements_text(CAST(? AS JSONB)))",
        ),
    };
    let mut out = conn.query_map(users, params![org_pk, list], |r| {
        Ok(Named {
            kind: "User",
            id: r.get(0)?,
            name: r.get(1)?,
            display: r.get(2)?,
        })
    })?;
    out.extend(conn.query_map(teams, params![org_pk, list], |r| {
        Ok(Named {
            kind: "Team",
            id: r.get(0)?,
            name: r.get(1)?,
            display: None,
        })
    })?);
    Ok(out)
}

/// How many entries each of `request_ids` caused.
pub fn counts_by_request(
    conn: &Conn<'_>,
    org_pk: i64,
    request_ids: &[String],
) -> Result<Vec<(String, i64)>> {
    let list = serde_json::Value::from(request_ids.to_vec()).to_string();
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT request_id, count(*) FROM audit
         WHERE org_pk = ? AND request_id IN (SELECT value FROM json_each(?)) GROUP BY request_id"
        }
        Engine::Postgres => {
            "SELECT request_id, count(*) FROM audit
             WHERE org_pk = ?
               AND request_id IN (SELECT jsonb_array_elements_text(CAST(? AS JSONB)))
             GROUP BY request_id"
        }
    };
    conn.query_map(sql, params![org_pk, list], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// (type, id, last IdP write, last local change, local actor).
pub type Drift = (String, String, Option<String>, String, String);

/// [`drift`]'s query. A token's actor is `token:...` in any ASCII case, as SQLite's LIKE
/// matches; PostgreSQL's LIKE minds case, so there the actor is folded by `scimbox_nocase()`
/// (ASCII only, as SQLite's LIKE) first.
const DRIFT_SQLITE: &str = "SELECT resource_type, resource_id, idp, local,
                (SELECT actor FROM audit b WHERE b.org_pk = ?1 AND b.resource_id = x.resource_id
                 AND b.actor NOT LIKE 'token:%' AND b.action <> 'roles' ORDER BY b.pk DESC LIMIT 1)
         FROM (SELECT resource_type, resource_id,
                      max(CASE WHEN actor LIKE 'token:%' THEN at END) AS idp,
                      max(CASE WHEN actor NOT LIKE 'token:%' THEN at END) AS local
               FROM audit WHERE org_pk = ?1 AND resource_type IN ('User', 'Team')
                 AND action <> 'roles'
               GROUP BY resource_type, resource_id) x
         WHERE local IS NOT NULL AND (idp IS NULL OR local > idp)
           AND EXISTS (SELECT 1 FROM audit c WHERE c.org_pk = ?1 AND c.resource_id = x.resource_id
                       AND c.actor LIKE 'token:%')
         ORDER BY local DESC LIMIT ?2";
const DRIFT_POSTGRES: &str = "SELECT resource_type, resource_id, idp, local,
                (SELECT actor FROM audit b WHERE b.org_pk = ?1 AND b.resource_id = x.resource_id
                 AND scimbox_nocase(b.actor) NOT LIKE 'token:%' AND b.action <> 'roles'
                 ORDER BY b.pk DESC LIMIT 1)
         FROM (SELECT resource_type, resource_id,
                      max(CASE WHEN scimbox_nocase(actor) LIKE 'token:%' THEN at END) AS idp,
                      max(CASE WHEN scimbox_nocase(actor) NOT LIKE 'token:%' THEN at END) AS local
               FROM audit WHERE org_pk = ?1 AND resource_type IN ('User', 'Team')
                 AND action <> 'roles'
               GROUP BY resource_type, resource_id) x
         WHERE local IS NOT NULL AND (idp IS NULL OR local > idp)
           AND EXISTS (SELECT 1 FROM audit c WHERE c.org_pk = ?1 AND c.resource_id = x.resource_id
                       AND scimbox_nocase(c.actor) LIKE 'token:%')
         ORDER BY local DESC LIMIT ?2";

/// Users and Teams changed locally (not by a token) after the IdP last wrote them, newest
/// first; role changes do not count, since IdPs never send roles: (type, id, last IdP write, last local change, local actor).
pub fn drift(conn: &Conn<'_>, org_pk: i64, limit: i64) -> Result<Vec<Drift>> {
    let sql = match conn.engine() {
        Engine::Sqlite => DRIFT_SQLITE,
        Engine::Postgres => DRIFT_POSTGRES,
    };
    conn.query_map(sql, params![org_pk, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
}

/// When the IdP (a token) and anyone else last changed one resource.
pub fn sync_of(
    conn: &Conn<'_>,
    org_pk: i64,
    resource_id: &str,
) -> Result<(Option<String>, Option<String>)> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT max(CASE WHEN actor LIKE 'token:%' THEN at END),
                    max(CASE WHEN actor NOT LIKE 'token:%' AND action <> 'roles' THEN at END)
             FROM audit WHERE org_pk = ? AND resource_id = ?"
        }
        Engine::Postgres => {
            "SELECT max(CASE WHEN scimbox_nocase(actor) LIKE 'token:%' THEN at END),
                    max(CASE WHEN scimbox_nocase(actor) NOT LIKE 'token:%' AND action <> 'roles'
                        THEN at END)
             FROM audit WHERE org_pk = ? AND resource_id = ?"
        }
    };
    conn.query_row(sql, params![org_pk, resource_id], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::testing::stores;

    /// Two organizations, `a` with users u1 (display name) and u2 and a Team g1, `b` with a
    /// user ub; returns their pks.
    fn orgs(store: &Store) -> (i64, i64) {
        store
            .write_blocking(|c| {
                let mut pks = Vec::new();
                for id in ["a", "b"] {
                    pks.push(c.query_row(
                        "INSERT INTO orgs (id, name, created) VALUES (?, ?, 'now') RETURNING pk",
                        params![id, id],
                        |r| r.get::<i64>(0),
                    )?);
                }
                let user = "INSERT INTO users (org_pk, id, user_name, user_name_fold, display_name,
                            created, last_modified, data) VALUES (?, ?, ?, ?, ?, 'now', 'now', '{}')";
                let none: Option<&str> = None;
                c.execute(user, params![pks[0], "u1", "Ann", "ann", Some("Ann A")])?;
                c.execute(user, params![pks[0], "u2", "bob", "bob", none])?;
                c.execute(user, params![pks[1], "ub", "cy", "cy", none])?;
                c.execute(
                    "INSERT INTO teams (org_pk, id, display_name, display_name_fold, scim_managed,
                     created, last_modified, data) VALUES (?, 'g1', 'Ops', 'ops', TRUE, 'now',
                     'now', '{}')",
                    params![pks[0]],
                )?;
                Ok((pks[0], pks[1]))
            })
            .unwrap()
    }

    /// (org, actor, action, type, id, request id, at)
    type Spec = (
        i64,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
    );

    fn record(store: &Store, specs: Vec<Spec>) {
        store
            .write_blocking(move |c| {
                for (org_pk, actor, action, resource_type, resource_id, request_id, at) in specs {
                    insert(
                        c,
                        &Entry {
                            org_pk,
                            actor,
                            action,
                            resource_type,
                            resource_id,
                            reason: Some("because"),
                            before: None,
                            after: Some("{}"),
                            request_id,
                            source: Some("10.0.0.1"),
                            user_agent: None,
                        },
                        at,
                    )?;
                }
                Ok(())
            })
            .unwrap()
    }

    fn ids(rows: &[AuditRow]) -> Vec<String> {
        rows.iter()
            .map(|r| format!("{}:{}", r.resource_id, r.action))
            .collect()
    }

    #[test]
    fn entries_list_newest_first_and_expire() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let (a, b) = orgs(&store);
            record(
                &store,
                vec![
                    (a, "admin:x", "create", "User", "u1", Some("q1"), "t1"),
                    (a, "admin:x", "update", "User", "u1", None, "t2"),
                    (a, "token:okta", "create", "User", "u2", None, "t3"),
                    (b, "admin:y", "create", "User", "ub", None, "t4"),
                ],
            );
            let all = store.read_blocking(move |c| list(c, a, None, 10)).unwrap();
            assert_eq!(
                ids(&all),
                ["u2:create", "u1:update", "u1:create"],
                "{engine}"
            );
            let first = all.last().unwrap();
            assert_eq!(
                (
                    first.at.as_str(),
                    first.actor.as_str(),
                    first.resource_type.as_str()
                ),
                ("t1", "admin:x", "User"),
                "{engine}"
            );
            assert_eq!(first.reason.as_deref(), Some("because"), "{engine}");
            assert_eq!(
                (first.before.as_deref(), first.after.as_deref()),
                (None, Some("{}"))
            );
            assert_eq!(first.request_id.as_deref(), Some("q1"), "{engine}");
            assert_eq!(first.source.as_deref(), Some("10.0.0.1"), "{engine}");
            assert_eq!(first.user_agent, None, "{engine}");
            let one = store
                .read_blocking(move |c| list(c, a, Some("u1"), 1))
                .unwrap();
            assert_eq!(ids(&one), ["u1:update"], "{engine}");
            let latest = store
                .read_blocking(move |c| latest_action(c, a, "create"))
                .unwrap();
            assert_eq!(latest.map(|r| r.resource_id), Some("u2".into()), "{engine}");
            let none = store
                .read_blocking(move |c| latest_action(c, a, "delete"))
                .unwrap();
            assert_eq!(none, None, "{engine}");
            assert_eq!(
                store.write_blocking(|c| prune(c, "t3")).unwrap(),
                2,
                "{engine}"
            );
            let left = store.read_blocking(move |c| list(c, a, None, 10)).unwrap();
            assert_eq!(ids(&left), ["u2:create"], "{engine}");
            store.close();
        }
    }

    #[test]
    fn pages_narrow_alike_on_both_engines() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let (a, b) = orgs(&store);
            record(
                &store,
                vec![
                    (a, "token:Okta", "create", "User", "u1", Some("q1"), "t1"),
                    (a, "admin:Ärger", "update", "User", "u1", Some("q2"), "t2"),
                    (a, "admin:root", "members", "Team", "g1", Some("q2"), "t3"),
                    (a, "token:okta", "delete", "User", "u2", None, "t4"),
                    (b, "token:okta", "create", "User", "ub", None, "t5"),
                ],
            );
            let page_of = |f: Filter, before: Option<i64>, limit: i64| {
                store
                    .read_blocking(move |c| page(c, a, &f, before, limit))
                    .unwrap()
            };
            let count = |f: Filter| page_of(f, None, 10).0;
            let (total, rows) = page_of(Filter::default(), None, 10);
            assert_eq!(
                (total, rows.len()),
                (4, 4),
                "{engine}: not another organization's"
            );
            let by = |actor: &str| Filter {
                actor: Some(actor.into()),
                ..Filter::default()
            };
            assert_eq!(count(by("OKTA")), 2, "{engine}: any ASCII case");
            assert_eq!(count(by("Admin:")), 2, "{engine}");
            // Only ASCII letters fold, on both engines: Ä is not ä.
            assert_eq!(count(by("ärger")), 0, "{engine}");
            assert_eq!(count(by("ÄRGER")), 1, "{engine}");
            let f = Filter {
                resource_type: Some("User".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 3, "{engine}");
            let f = Filter {
                resource_id: Some("u1".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 2, "{engine}");
            let f = Filter {
                action: Some("members".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 1, "{engine}");
            let f = Filter {
                request_id: Some("q2".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 2, "{engine}");
            let f = Filter {
                since: Some("t2".into()),
                until: Some("t4".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 2, "{engine}");
            let f = Filter {
                actor: Some("token".into()),
                resource_type: Some("User".into()),
                since: Some("t2".into()),
                ..Filter::default()
            };
            assert_eq!(count(f), 1, "{engine}: every field narrows");
            // Pages of two, each below the last pk seen, the total always all that match.
            let (total, one) = page_of(Filter::default(), None, 2);
            assert_eq!(
                (total, ids(&one)),
                (4, vec!["u2:delete".into(), "g1:members".into()])
            );
            let (total, two) = page_of(Filter::default(), Some(one[1].pk), 2);
            assert_eq!(
                (total, ids(&two)),
                (4, vec!["u1:update".into(), "u1:create".into()])
            );
            let (_, three) = page_of(Filter::default(), Some(two[1].pk), 2);
            assert!(three.is_empty(), "{engine}");
            store.close();
        }
    }

    #[test]
    fn names_and_counts_of_what_entries_mention() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let (a, _) = orgs(&store);
            let wanted: Vec<String> = ["u1", "u2", "g1", "ub", "nope"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let mut named = store.read_blocking(move |c| names(c, a, &wanted)).unwrap();
            named.sort_by(|x, y| x.id.cmp(&y.id));
            let user = |id: &str, name: &str, display: Option<&str>| Named {
                kind: "User",
                id: id.into(),
                name: name.into(),
                display: display.map(str::to_string),
            };
            let team = Named {
                kind: "Team",
                id: "g1".into(),
                name: "Ops".into(),
                display: None,
            };
            assert_eq!(
                named,
                vec![
                    team,
                    user("u1", "Ann", Some("Ann A")),
                    user("u2", "bob", None)
                ],
                "{engine}: not another organization's, not unknown ones"
            );
            let empty = store.read_blocking(move |c| names(c, a, &[])).unwrap();
            assert!(empty.is_empty(), "{engine}");
            record(
                &store,
                vec![
                    (a, "admin:x", "create", "User", "u1", Some("q1"), "t1"),
                    (a, "admin:x", "update", "User", "u1", Some("q1"), "t2"),
                    (a, "admin:x", "update", "User", "u2", Some("q2"), "t3"),
                    (a, "admin:x", "update", "User", "u2", Some("q3"), "t3"),
                ],
            );
            let asked = vec!["q1".to_string(), "q2".to_string(), "q9".to_string()];
            let mut counts = store
                .read_blocking(move |c| counts_by_request(c, a, &asked))
                .unwrap();
            counts.sort();
            assert_eq!(counts, [("q1".into(), 2), ("q2".into(), 1)], "{engine}");
            store.close();
        }
    }

    /// A token's actor is `token:` in any ASCII case on both engines (SQLite's LIKE ignores
    /// ASCII case, PostgreSQL's does not: it folds first).
    #[test]
    fn drift_and_sync_count_a_token_in_any_case_as_the_idp() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let (a, b) = orgs(&store);
            record(
                &store,
                vec![
                    // u1: the IdP wrote, then an admin: drift.
                    (a, "token:okta", "update", "User", "u1", None, "t1"),
                    (a, "admin:x", "update", "User", "u1", None, "t2"),
                    // u2: an admin wrote, then the IdP (upper-case): none.
                    (a, "admin:x", "update", "User", "u2", None, "t2"),
                    (a, "TOKEN:Okta", "update", "User", "u2", None, "t3"),
                    // u3: never the IdP's: none.
                    (a, "admin:x", "update", "User", "u3", None, "t4"),
                    // u4: roles after the IdP do not count: none.
                    (a, "Token:okta", "create", "User", "u4", None, "t1"),
                    (a, "admin:x", "roles", "User", "u4", None, "t5"),
                    // g1: drift, the newest.
                    (a, "Token:okta", "create", "Team", "g1", None, "t1"),
                    (a, "admin:y", "update", "Team", "g1", None, "t4"),
                    (a, "admin:z", "roles", "Team", "g1", None, "t6"),
                    // Another organization's.
                    (b, "token:okta", "create", "User", "ub", None, "t1"),
                    (b, "admin:x", "update", "User", "ub", None, "t2"),
                ],
            );
            let drifted = store.read_blocking(move |c| drift(c, a, 10)).unwrap();
            let d = |t: &str, id: &str, idp: &str, local: &str, by: &str| {
                (
                    t.into(),
                    id.into(),
                    Some(idp.into()),
                    local.into(),
                    by.into(),
                )
            };
            assert_eq!(
                drifted,
                vec![
                    d("Team", "g1", "t1", "t4", "admin:y"),
                    d("User", "u1", "t1", "t2", "admin:x")
                ],
                "{engine}"
            );
            let one = store.read_blocking(move |c| drift(c, a, 1)).unwrap();
            assert_eq!(one.len(), 1, "{engine}");
            let sync = |id: &'static str| store.read_blocking(move |c| sync_of(c, a, id)).unwrap();
            let some = |t: &str| Some(t.to_string());
            assert_eq!(sync("u2"), (some("t3"), some("t2")), "{engine}");
            assert_eq!(sync("u4"), (some("t1"), None), "{engine}");
            assert_eq!(sync("u3"), (None, some("t4")), "{engine}");
            assert_eq!(sync("nope"), (None, None), "{engine}");
            store.close();
        }
    }
}
