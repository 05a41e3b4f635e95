//! The audit log: every change, who made it, why, and what it was before and after.

use crate::error::Result;
use rusqlite::{Connection, Row, params};

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

pub fn insert(conn: &Connection, e: &Entry<'_>, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (org_pk, at, actor, action, resource_type, resource_id, reason, before,
         after, request_id, source, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
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
    ])?;
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

fn from_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
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
    conn: &Connection,
    org_pk: i64,
    resource_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit WHERE org_pk = ?1 AND (?2 IS NULL OR resource_id = ?2)
         ORDER BY pk DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![org_pk, resource_id, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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

/// One page of an organization's entries, newest first: those older than `before_pk` (all
/// when `None`) that pass the filter; and how many pass it in all.
pub fn page(
    conn: &Connection,
    org_pk: i64,
    f: &Filter,
    before_pk: Option<i64>,
    limit: i64,
) -> Result<(i64, Vec<AuditRow>)> {
    let where_sql = "org_pk = ?1 AND (?2 IS NULL OR resource_type = ?2)
         AND (?3 IS NULL OR resource_id = ?3) AND (?4 IS NULL OR instr(lower(actor), lower(?4)) > 0)
         AND (?5 IS NULL OR action = ?5) AND (?6 IS NULL OR request_id = ?6)
         AND (?7 IS NULL OR at >= ?7) AND (?8 IS NULL OR at < ?8)";
    let p = params![
        org_pk,
        f.resource_type,
        f.resource_id,
        f.actor,
        f.action,
        f.request_id,
        f.since,
        f.until
    ];
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM audit WHERE {where_sql}"))?
        .query_row(p, |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit WHERE {where_sql} AND (?9 IS NULL OR pk < ?9)
         ORDER BY pk DESC LIMIT ?10"
    ))?;
    let rows = stmt.query_map(
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
    Ok((total, rows.collect::<rusqlite::Result<_>>()?))
}

/// The newest entry of an organization with this action, if any.
pub fn latest_action(conn: &Connection, org_pk: i64, action: &str) -> Result<Option<AuditRow>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit WHERE org_pk = ?1 AND action = ?2
             ORDER BY pk DESC LIMIT 1"
        ))?
        .query_row(params![org_pk, action], from_row)
        .optional()?)
}

/// Deletes entries recorded before `cutoff` (retention); returns how many.
pub fn prune(conn: &Connection, cutoff: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM audit WHERE at < ?")?
        .execute([cutoff])?)
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
pub fn names(conn: &Connection, org_pk: i64, ids: &[String]) -> Result<Vec<Named>> {
    let list = serde_json::Value::from(ids.to_vec()).to_string();
    let mut out = Vec::new();
    let mut users = conn.prepare_cached(
        "SELECT id, user_name, display_name FROM users
         WHERE org_pk = ? AND id IN (SELECT value FROM json_each(?))",
    )?;
    for row in users.query_map(params![org_pk, list], |r| {
        Ok(Named {
            kind: "User",
            id: r.get(0)?,
            name: r.get(1)?,
            display: r.get(2)?,
        })
    })? {
        out.push(row?);
    }
    let mut teams = conn.prepare_cached(
        "SELECT id, display_name FROM teams
         WHERE org_pk = ? AND id IN (SELECT value FROM json_each(?))",
    )?;
    for row in teams.query_map(params![org_pk, list], |r| {
        Ok(Named {
            kind: "Team",
            id: r.get(0)?,
            name: r.get(1)?,
            display: None,
        })
    })? {
        out.push(row?);
    }
    Ok(out)
}

/// How many entries each of `request_ids` caused.
pub fn counts_by_request(
    conn: &Connection,
    org_pk: i64,
    request_ids: &[String],
) -> Result<Vec<(String, i64)>> {
    let list = serde_json::Value::from(request_ids.to_vec()).to_string();
    let mut stmt = conn.prepare_cached(
        "SELECT request_id, count(*) FROM audit
         WHERE org_pk = ? AND request_id IN (SELECT value FROM json_each(?)) GROUP BY request_id",
    )?;
    let rows = stmt.query_map(params![org_pk, list], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// (type, id, last IdP write, last local change, local actor).
pub type Drift = (String, String, Option<String>, String, String);

/// Users and Teams changed locally (not by a token) after the IdP last wrote them, newest
/// first; role changes do not count, since IdPs never send roles: (type, id, last IdP write, last local change, local actor).
pub fn drift(conn: &Connection, org_pk: i64, limit: i64) -> Result<Vec<Drift>> {
    let mut stmt = conn.prepare_cached(
        "SELECT resource_type, resource_id, idp, local,
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
         ORDER BY local DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![org_pk, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// When the IdP (a token) and anyone else last changed one resource.
pub fn sync_of(
    conn: &Connection,
    org_pk: i64,
    resource_id: &str,
) -> Result<(Option<String>, Option<String>)> {
    Ok(conn
        .prepare_cached(
            "SELECT max(CASE WHEN actor LIKE 'token:%' THEN at END),
                    max(CASE WHEN actor NOT LIKE 'token:%' AND action <> 'roles' THEN at END)
             FROM audit WHERE org_pk = ? AND resource_id = ?",
        )?
        .query_row(params![org_pk, resource_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}
