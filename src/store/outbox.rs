//! The event outbox (RFC 9967 events waiting for their receivers), the receivers with their
//! delivery position, the acknowledgements of polled SETs, and each organization's signing
//! key: all SQL of `crate::events`.
//!
//! An event row is written by [`on_audit`], which `audit::insert` calls: every change to a
//! User or Team writes its audit record, from whichever edge it came, so it writes its event
//! in the same transaction too. An acknowledged change therefore always has its event, and a
//! rolled-back one never does.

use super::audit::Entry;
use crate::error::Result;
use crate::model::events;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::cell::Cell;

thread_local! {
    /// Set when this thread (the writer) wrote an event row; the writer reads and clears it
    /// after COMMIT to wake the deliverers (see `writer::run_batch`).
    static WRITTEN: Cell<bool> = const { Cell::new(false) };
}

/// Whether an event row was written on this thread since the last call (and clears it).
pub(crate) fn take_written() -> bool {
    WRITTEN.with(|w| w.replace(false))
}

fn has_receivers(conn: &Connection, org_pk: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM event_receivers WHERE org_pk = ?)")?
        .query_row([org_pk], |r| r.get(0))?)
}

/// Writes the event a change makes, if it makes one and its organization has a receiver
/// (without one there is nobody to tell, and a receiver added later starts at its own
/// beginning). Called by `audit::insert`, inside the change's transaction.
pub(crate) fn on_audit(conn: &Connection, e: &Entry<'_>, now: &str) -> Result<()> {
    if e.resource_type != "User" && e.resource_type != "Team" {
        return Ok(());
    }
    if !has_receivers(conn, e.org_pk)? {
        return Ok(());
    }
    let Some(change) = events::derive(e.resource_type, e.action, e.reason, e.before, e.after)
    else {
        return Ok(());
    };
    let table = if e.resource_type == "User" {
        "users"
    } else {
        "teams"
    };
    let meta: Option<(i64, String, String, Option<String>)> = conn
        .prepare_cached(&format!(
            "SELECT version, created, last_modified, external_id FROM {table}
             WHERE org_pk = ? AND id = ?"
        ))?
        .query_row(params![e.org_pk, e.resource_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let external_id = match &meta {
        Some((_, _, _, ext)) => ext.clone(),
        // A deleted resource: its externalId from the state it had.
        None => e
            .before
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|b| b.get("externalId")?.as_str().map(str::to_string)),
    };
    let mut payload = serde_json::json!({
        "kind": change.kind.as_str(),
        "attributes": change.attributes,
    });
    if let Some(data) = change.data {
        payload["data"] = data;
    }
    if let Some(active) = change.activation {
        payload["active"] = serde_json::Value::Bool(active);
    }
    if let Some((version, created, modified, _)) = meta {
        payload["version"] = version.into();
        payload["created"] = created.into();
        payload["lastModified"] = modified.into();
    }
    conn.prepare_cached(
        "INSERT INTO outbox (org_pk, txn, at, resource_type, resource_id, external_id, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        e.org_pk,
        uuid::Uuid::new_v4().simple().to_string(),
        now,
        e.resource_type,
        e.resource_id,
        external_id,
        payload.to_string()
    ])?;
    WRITTEN.with(|w| w.set(true));
    Ok(())
}

/// One event as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub org_pk: i64,
    /// Names the change (RFC 9967 §2.2 `txn`); with the receiver it makes the SET's `jti`.
    pub txn: String,
    pub at: String,
    pub resource_type: String,
    pub resource_id: String,
    pub external_id: Option<String>,
    /// JSON: kind, attributes, data, active, version, created, lastModified.
    pub payload: String,
}

fn event_from(r: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: r.get(0)?,
        org_pk: r.get(1)?,
        txn: r.get(2)?,
        at: r.get(3)?,
        resource_type: r.get(4)?,
        resource_id: r.get(5)?,
        external_id: r.get(6)?,
        payload: r.get(7)?,
    })
}

/// A receiver and where its delivery stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub pk: i64,
    pub id: String,
    pub org_pk: i64,
    pub url: String,
    /// `push` or `poll`.
    pub mode: String,
    /// `full` or `notice`.
    pub detail: String,
    pub created: String,
    /// Every event up to this sequence number is delivered (or acknowledged).
    pub cursor: i64,
    /// `active`, or `failed` after a permanent error.
    pub state: String,
    pub attempts: i64,
    pub next_attempt: Option<String>,
    pub last_delivery: Option<String>,
    pub last_error: Option<String>,
    pub delivered: i64,
    /// Events waiting for this receiver (from [`list_receivers`]; elsewhere 1 if any, else 0).
    pub backlog: i64,
    /// The organization's public id.
    pub org_id: String,
}

/// A receiver's columns with its backlog counted (for lists and metrics: counting is as long
/// as the backlog, so the delivery path reads [`RECEIVER_COLUMNS`] instead).
const RECEIVER_COLUMNS_COUNTED: &str = "r.pk, r.id, r.org_pk, r.url, r.mode, r.detail,
    r.created, r.cursor, r.state, r.attempts, r.next_attempt, r.last_delivery, r.last_error,
    r.delivered,
    (SELECT count(*) FROM outbox o WHERE o.org_pk = r.org_pk AND o.seq > r.cursor)
      - (SELECT count(*) FROM event_acks a WHERE a.receiver_pk = r.pk),
    (SELECT id FROM orgs WHERE pk = r.org_pk)";

/// A receiver's columns with `backlog` 1 when it has one and 0 when not, found in one index
/// step.
const RECEIVER_COLUMNS: &str = "r.pk, r.id, r.org_pk, r.url, r.mode, r.detail, r.created,
    r.cursor, r.state, r.attempts, r.next_attempt, r.last_delivery, r.last_error, r.delivered,
    EXISTS (SELECT 1 FROM outbox o WHERE o.org_pk = r.org_pk AND o.seq > r.cursor),
    (SELECT id FROM orgs WHERE pk = r.org_pk)";

impl Receiver {
    /// How it stands, for lists: `failed` (an RFC 8935 error), `retrying` (the last push
    /// failed and waits for its next attempt) or `active`.
    pub fn status(&self) -> &'static str {
        match (self.state.as_str(), self.next_attempt.is_some()) {
            ("failed", _) => "failed",
            (_, true) => "retrying",
            _ => "active",
        }
    }
}

fn receiver_from(r: &Row<'_>) -> rusqlite::Result<Receiver> {
    Ok(Receiver {
        pk: r.get(0)?,
        id: r.get(1)?,
        org_pk: r.get(2)?,
        url: r.get(3)?,
        mode: r.get(4)?,
        detail: r.get(5)?,
        created: r.get(6)?,
        cursor: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt: r.get(10)?,
        last_delivery: r.get(11)?,
        last_error: r.get(12)?,
        delivered: r.get(13)?,
        backlog: r.get(14)?,
        org_id: r.get(15)?,
    })
}

/// A receiver to add.
pub struct NewReceiver<'a> {
    pub id: &'a str,
    pub org_pk: i64,
    pub url: &'a str,
    pub mode: &'a str,
    pub detail: &'a str,
    /// SHA-256 (hex) of a poll receiver's bearer token.
    pub token_digest: Option<&'a str>,
}

/// Adds a receiver. It starts after the newest event: it hears of changes made from now on.
pub fn insert_receiver(conn: &Connection, r: &NewReceiver<'_>, now: &str) -> Result<Receiver> {
    conn.prepare_cached(
        "INSERT INTO event_receivers (id, org_pk, url, mode, detail, token_digest, created, cursor)
         VALUES (?, ?, ?, ?, ?, ?, ?,
                 (SELECT coalesce(max(seq), 0) FROM outbox))",
    )?
    .execute(params![
        r.id,
        r.org_pk,
        r.url,
        r.mode,
        r.detail,
        r.token_digest,
        now
    ])?;
    get_receiver(conn, r.org_pk, r.id)?
        .ok_or_else(|| crate::error::Error::Internal("a new receiver vanished".into()))
}

pub fn get_receiver(conn: &Connection, org_pk: i64, id: &str) -> Result<Option<Receiver>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {RECEIVER_COLUMNS} FROM event_receivers r WHERE r.org_pk = ? AND r.id = ?"
        ))?
        .query_row(params![org_pk, id], receiver_from)
        .optional()?)
}

pub fn receiver_by_pk(conn: &Connection, pk: i64) -> Result<Option<Receiver>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {RECEIVER_COLUMNS} FROM event_receivers r WHERE r.pk = ?"
        ))?
        .query_row([pk], receiver_from)
        .optional()?)
}

/// An organization's receivers in the order they were added, with their backlogs.
pub fn list_receivers(conn: &Connection, org_pk: i64) -> Result<Vec<Receiver>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECEIVER_COLUMNS_COUNTED} FROM event_receivers r WHERE r.org_pk = ? ORDER BY r.pk"
    ))?;
    let rows = stmt.query_map([org_pk], receiver_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every active push receiver, of every organization (for the deliverer).
pub fn push_receivers(conn: &Connection) -> Result<Vec<Receiver>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RECEIVER_COLUMNS} FROM event_receivers r
         WHERE r.mode = 'push' AND r.state = 'active' ORDER BY r.pk"
    ))?;
    let rows = stmt.query_map([], receiver_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn delete_receiver(conn: &Connection, org_pk: i64, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM event_receivers WHERE org_pk = ? AND id = ?")?
        .execute(params![org_pk, id])?
        > 0)
}

/// The SHA-256 digest (hex) of a poll receiver's token.
pub fn token_digest(conn: &Connection, org_pk: i64, id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT token_digest FROM event_receivers WHERE org_pk = ? AND id = ? AND mode = 'poll'",
        )?
        .query_row(params![org_pk, id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

/// Up to `limit` events after the receiver's cursor that it has not acknowledged, oldest
/// first.
pub fn pending(conn: &Connection, r: &Receiver, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.seq, o.org_pk, o.txn, o.at, o.resource_type, o.resource_id, o.external_id,
                o.payload
         FROM outbox o
         WHERE o.org_pk = ?1 AND o.seq > ?2
           AND NOT EXISTS (SELECT 1 FROM event_acks a WHERE a.receiver_pk = ?3 AND a.seq = o.seq)
         ORDER BY o.seq LIMIT ?4",
    )?;
    let rows = stmt.query_map(params![r.org_pk, r.cursor, r.pk, limit], event_from)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A push receiver took the event `seq` (it answered 2xx): move its cursor there.
pub fn delivered(conn: &Connection, receiver_pk: i64, seq: i64, now: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE event_receivers SET cursor = max(cursor, ?2), delivered = delivered + 1,
             attempts = 0, next_attempt = NULL, last_delivery = ?3, last_error = NULL
         WHERE pk = ?1",
    )?
    .execute(params![receiver_pk, seq, now])?;
    Ok(())
}

/// A delivery failed: keep the error, and either try again at `next_attempt` or (a
/// permanent error) mark the receiver failed.
pub fn failed(
    conn: &Connection,
    receiver_pk: i64,
    error: &str,
    next_attempt: Option<&str>,
    permanent: bool,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE event_receivers SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3,
             state = CASE WHEN ?4 THEN 'failed' ELSE state END
         WHERE pk = ?1",
    )?
    .execute(params![receiver_pk, error, next_attempt, permanent])?;
    Ok(())
}

/// Puts a failed receiver back to work from where it stopped.
pub fn resume(conn: &Connection, org_pk: i64, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE event_receivers SET state = 'active', attempts = 0, next_attempt = NULL
             WHERE org_pk = ? AND id = ?",
        )?
        .execute(params![org_pk, id])?
        > 0)
}

/// The sequence number of an organization's event by its `txn`.
pub fn seq_of(conn: &Connection, org_pk: i64, txn: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM outbox WHERE org_pk = ? AND txn = ?")?
        .query_row(params![org_pk, txn], |r| r.get(0))
        .optional()?)
}

/// A poll receiver acknowledged these events (RFC 8936 §2.2 `ack` and `setErrs`): note them,
/// then move its cursor over every event acknowledged without a gap, so the acknowledgements
/// kept stay few. `error` is the last `setErrs` entry, shown with the receiver.
pub fn acknowledge(
    conn: &Connection,
    r: &Receiver,
    seqs: &[i64],
    error: Option<&str>,
    now: &str,
) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO event_acks (receiver_pk, seq) SELECT ?1, ?2 WHERE ?2 > ?3",
    )?;
    for seq in seqs {
        insert.execute(params![r.pk, seq, r.cursor])?;
    }
    let first_open: Option<i64> = conn
        .prepare_cached(
            "SELECT min(o.seq) FROM outbox o WHERE o.org_pk = ?1 AND o.seq > ?2
               AND NOT EXISTS (SELECT 1 FROM event_acks a WHERE a.receiver_pk = ?3 AND a.seq = o.seq)",
        )?
        .query_row(params![r.org_pk, r.cursor, r.pk], |row| row.get(0))?;
    let cursor = match first_open {
        Some(open) => open - 1,
        None => conn
            .prepare_cached("SELECT coalesce(max(seq), ?2) FROM outbox WHERE org_pk = ?1")?
            .query_row(params![r.org_pk, r.cursor], |row| row.get(0))?,
    };
    conn.prepare_cached(
        "UPDATE event_receivers SET cursor = max(cursor, ?2), delivered = delivered + ?3,
             last_delivery = CASE WHEN ?3 > 0 THEN ?4 ELSE last_delivery END,
             last_error = coalesce(?5, last_error)
         WHERE pk = ?1",
    )?
    .execute(params![r.pk, cursor, seqs.len() as i64, now, error])?;
    conn.prepare_cached("DELETE FROM event_acks WHERE receiver_pk = ? AND seq <= ?")?
        .execute(params![r.pk, cursor])?;
    Ok(())
}

/// Events one prune step deletes at most, so one step stays a short write.
pub const PRUNE_STEP: i64 = 5_000;

/// One bounded step of upkeep: drops up to [`PRUNE_STEP`] events every receiver of their
/// organization has had (all of an organization without receivers), and up to as many older
/// than `cutoff` (the retention limit) whether delivered or not. Each goes through
/// `outbox_org` or `outbox_at`, so a long backlog costs nothing here. Returns (delivered and
/// dropped, expired undelivered); call again while either is [`PRUNE_STEP`].
pub fn prune(conn: &Connection, cutoff: Option<&str>) -> Result<(usize, usize)> {
    let orgs: Vec<(i64, Option<i64>)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT o.pk, (SELECT min(r.cursor) FROM event_receivers r WHERE r.org_pk = o.pk)
             FROM orgs o",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut done = 0;
    for (org_pk, min_cursor) in orgs {
        let left = PRUNE_STEP - done as i64;
        if left <= 0 {
            break;
        }
        done += conn
            .prepare_cached(
                "DELETE FROM outbox WHERE seq IN (
                     SELECT seq FROM outbox WHERE org_pk = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
            )?
            .execute(params![org_pk, min_cursor.unwrap_or(i64::MAX), left])?;
    }
    let expired = match cutoff {
        Some(c) => conn
            .prepare_cached(
                "DELETE FROM outbox WHERE seq IN (
                     SELECT seq FROM outbox WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )?
            .execute(params![c, PRUNE_STEP])?,
        None => 0,
    };
    if done + expired > 0 {
        // Acknowledgements of events that are gone mean nothing any more (they are few: only
        // those past a receiver's cursor).
        conn.prepare_cached(
            "DELETE FROM event_acks
             WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = event_acks.seq)",
        )?
        .execute([])?;
    }
    Ok((done, expired))
}

/// How many events the outbox holds.
pub fn depth(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM outbox")?
        .query_row([], |r| r.get(0))?)
}

/// The outbox as `/metrics` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// Events the outbox holds.
    pub depth: i64,
    pub receivers_active: i64,
    pub receivers_failed: i64,
    /// Events waiting, summed over receivers.
    pub backlog: i64,
}

pub fn gauges(conn: &Connection) -> Result<Gauges> {
    let mut g = Gauges {
        depth: depth(conn)?,
        ..Gauges::default()
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.state, {RECEIVER_COLUMNS_COUNTED} FROM event_receivers r"
    ))?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(15)?))
    })?;
    for row in rows {
        let (state, backlog) = row?;
        if state == "failed" {
            g.receivers_failed += 1;
        } else {
            g.receivers_active += 1;
        }
        g.backlog += backlog;
    }
    Ok(g)
}

/// An organization's signing key: (kid, PKCS#8 document).
pub fn key(conn: &Connection, org_pk: i64) -> Result<Option<(String, Vec<u8>)>> {
    Ok(conn
        .prepare_cached("SELECT kid, pkcs8 FROM event_keys WHERE org_pk = ?")?
        .query_row([org_pk], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Keeps a new signing key unless the organization has one already.
pub fn insert_key(
    conn: &Connection,
    org_pk: i64,
    kid: &str,
    pkcs8: &[u8],
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO event_keys (org_pk, kid, pkcs8, created) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![org_pk, kid, pkcs8, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO orgs (pk, id, name, created) VALUES (1, 'o', 'o', 'now');
             INSERT INTO users (org_pk, id, user_name, created, last_modified, data)
             VALUES (1, 'u1', 'a', 'now', 'now', '{}');",
        )
        .unwrap();
        conn
    }

    fn change(conn: &Connection, action: &str, before: &str, after: &str) {
        super::super::audit::insert(
            conn,
            &Entry {
                org_pk: 1,
                actor: "t",
                action,
                resource_type: "User",
                resource_id: "u1",
                reason: None,
                before: Some(before),
                after: Some(after),
                request_id: None,
                source: None,
                user_agent: None,
            },
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
    }

    fn receiver(conn: &Connection, id: &str) -> Receiver {
        insert_receiver(
            conn,
            &NewReceiver {
                id,
                org_pk: 1,
                url: "https://r.example",
                mode: "poll",
                detail: "notice",
                token_digest: None,
            },
            "now",
        )
        .unwrap()
    }

    #[test]
    fn no_receiver_no_event_and_a_new_receiver_starts_at_the_end() {
        let conn = db();
        change(&conn, "update", r#"{"a":1}"#, r#"{"a":2}"#);
        assert_eq!(depth(&conn).unwrap(), 0);
        let r = receiver(&conn, "r1");
        assert_eq!(r.backlog, 0);
        change(&conn, "update", r#"{"a":2}"#, r#"{"a":3}"#);
        assert!(take_written());
        let r = get_receiver(&conn, 1, "r1").unwrap().unwrap();
        assert_eq!(r.backlog, 1, "has a backlog");
        assert_eq!(list_receivers(&conn, 1).unwrap()[0].backlog, 1);
        let events = pending(&conn, &r, 10).unwrap();
        assert_eq!(events.len(), 1);
        let payload: serde_json::Value = serde_json::from_str(&events[0].payload).unwrap();
        assert_eq!(payload["kind"], "patch");
        assert_eq!(payload["version"], 1);
    }

    #[test]
    fn acknowledgements_out_of_order_move_the_cursor_only_over_a_gapless_run() {
        let conn = db();
        receiver(&conn, "r1");
        for i in 0..4 {
            change(
                &conn,
                "update",
                &format!(r#"{{"a":{i}}}"#),
                &format!(r#"{{"a":{}}}"#, i + 1),
            );
        }
        let r = get_receiver(&conn, 1, "r1").unwrap().unwrap();
        let seqs: Vec<i64> = pending(&conn, &r, 10)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        acknowledge(&conn, &r, &[seqs[1], seqs[3]], None, "now").unwrap();
        let r = get_receiver(&conn, 1, "r1").unwrap().unwrap();
        assert_eq!(list_receivers(&conn, 1).unwrap()[0].backlog, 2);
        assert_eq!(r.cursor, seqs[0] - 1, "the first is still open");
        let left: Vec<i64> = pending(&conn, &r, 10)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left, [seqs[0], seqs[2]]);
        acknowledge(&conn, &r, &[seqs[0], seqs[2]], None, "now").unwrap();
        let r = list_receivers(&conn, 1).unwrap().remove(0);
        assert_eq!((r.cursor, r.backlog, r.delivered), (seqs[3], 0, 4));
        // Everything delivered to every receiver can go.
        assert_eq!(prune(&conn, None).unwrap(), (4, 0));
        assert_eq!(depth(&conn).unwrap(), 0);
    }

    #[test]
    fn retention_drops_old_events_even_undelivered() {
        let conn = db();
        receiver(&conn, "r1");
        change(&conn, "update", r#"{"a":1}"#, r#"{"a":2}"#);
        assert_eq!(prune(&conn, Some("2025-01-01T00:00:00Z")).unwrap(), (0, 0));
        assert_eq!(prune(&conn, Some("2027-01-01T00:00:00Z")).unwrap(), (0, 1));
        assert_eq!(depth(&conn).unwrap(), 0);
    }
}
