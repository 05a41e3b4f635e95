//! The audit log: every change, who made it, why, and what it was before and after.

use crate::error::Result;
use rusqlite::{Connection, Row, params};

/// One change to record.
pub struct Entry<'a> {
    pub org_pk: i64,
    pub actor: &'a str,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub reason: Option<&'a str>,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

pub fn insert(conn: &Connection, e: &Entry<'_>, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (org_pk, at, actor, action, resource_type, resource_id, reason, before,
         after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        e.after
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
}

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
    })
}

/// The newest entries of an organization first, optionally for one resource.
pub fn list(
    conn: &Connection,
    org_pk: i64,
    resource_id: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pk, at, actor, action, resource_type, resource_id, reason, before, after
         FROM audit WHERE org_pk = ?1 AND (?2 IS NULL OR resource_id = ?2)
         ORDER BY pk DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![org_pk, resource_id, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One page of an organization's entries, newest first: those older than `before_pk` (all
/// when `None`), optionally only those of one resource type.
pub fn page(
    conn: &Connection,
    org_pk: i64,
    resource_type: Option<&str>,
    before_pk: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pk, at, actor, action, resource_type, resource_id, reason, before, after
         FROM audit WHERE org_pk = ?1 AND (?2 IS NULL OR resource_type = ?2)
         AND (?3 IS NULL OR pk < ?3) ORDER BY pk DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![org_pk, resource_type, before_pk, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The newest entry of an organization with this action, if any.
pub fn latest_action(conn: &Connection, org_pk: i64, action: &str) -> Result<Option<AuditRow>> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT pk, at, actor, action, resource_type, resource_id, reason, before, after
             FROM audit WHERE org_pk = ?1 AND action = ?2 ORDER BY pk DESC LIMIT 1",
        )?
        .query_row(params![org_pk, action], from_row)
        .optional()?)
}

/// Deletes entries recorded before `cutoff` (retention); returns how many.
pub fn prune(conn: &Connection, cutoff: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM audit WHERE at < ?")?
        .execute([cutoff])?)
}
