//! The event outbox (RFC 9967 events waiting for their receivers), the receivers with their
//! delivery position, the acknowledgements of polled SETs, and each organization's signing
//! key: all SQL of `crate::events`.
//!
//! An event row is written by [`on_audit`], which `audit::insert` calls: every change to a
//! User or Team writes its audit record, from whichever edge it came, so it writes its event
//! in the same transaction too. An acknowledged change therefore always has its event, and a
//! rolled-back one never does.
//!
//! Readers page the outbox by sequence number (`seq > cursor`), so an event must never become
//! visible after one with a higher number. On SQLite one writer commits at a time, so numbers
//! are taken in commit order. On PostgreSQL several transactions take numbers at once and may
//! commit in any order: there a write's events are held back until just before its COMMIT
//! ([`before_commit`]), then numbered and inserted under one transaction-scoped advisory lock
//! ([`OUTBOX_LOCK`]) that is released by the COMMIT itself. The next write's events are
//! numbered only after that, so on PostgreSQL too sequence order is commit order. Holding them
//! back to the end keeps the lock short and means a transaction holding it never waits for a
//! row another one holds (no deadlock with the row locks of a Team or a user).

use super::audit::Entry;
use super::sql::{Conn, Engine, Row, params};
use crate::error::Result;
use crate::model::events;
use std::cell::{Cell, RefCell};

/// The advisory lock that orders the outbox's numbers on PostgreSQL (see the module's note):
/// "outbox" in ASCII, apart from the migration's lock.
pub(crate) const OUTBOX_LOCK: i64 = 0x6f_75_74_62_6f_78;

thread_local! {
    /// Set when this thread (the writer) wrote an event row; the writer reads and clears it
    /// after COMMIT to wake the deliverers (see `writer::run_batch`).
    static WRITTEN: Cell<bool> = const { Cell::new(false) };
    /// On PostgreSQL, the events of this thread's open write transaction, inserted by
    /// [`before_commit`].
    static PENDING: RefCell<Vec<NewEvent>> = const { RefCell::new(Vec::new()) };
}

/// Whether an event row was written on this thread since the last call (and clears it).
pub(crate) fn take_written() -> bool {
    WRITTEN.with(|w| w.replace(false))
}

/// PostgreSQL: forgets the events held back for a transaction that will not commit (called
/// when one begins and when one rolls back).
pub(crate) fn discard_pending() {
    PENDING.with(|p| p.borrow_mut().clear());
}

/// PostgreSQL: the last statements of every write transaction, just before its COMMIT: takes
/// [`OUTBOX_LOCK`] and inserts the events the transaction made, in the order it made them.
/// Nothing to do (and no lock) when it made none.
pub(crate) fn before_commit(conn: &Conn<'_>) -> Result<()> {
    let events = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if events.is_empty() {
        return Ok(());
    }
    // The inserts' foreign key checks lock each organization's row (KEY SHARE): take those
    // locks first, so that once this transaction holds the advisory lock it waits for
    // nothing (not for a write that locked the organization and now waits for the lock).
    let mut orgs: Vec<i64> = events.iter().map(|e| e.org_pk).collect();
    orgs.sort_unstable();
    orgs.dedup();
    for org_pk in orgs {
        conn.query_opt(
            "SELECT pk FROM orgs WHERE pk = ? FOR KEY SHARE",
            params![org_pk],
            |_| Ok(()),
        )?;
    }
    conn.query_row(
        "SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))",
        params![OUTBOX_LOCK],
        |_| Ok(()),
    )?;
    for e in &events {
        insert_event(conn, e)?;
    }
    Ok(())
}

/// An event row to insert.
struct NewEvent {
    org_pk: i64,
    txn: String,
    at: String,
    resource_type: String,
    resource_id: String,
    external_id: Option<String>,
    payload: String,
}

fn insert_event(conn: &Conn<'_>, e: &NewEvent) -> Result<()> {
    conn.execute(
        "INSERT INTO outbox (org_pk, txn, at, resource_type, resource_id, external_id, payload)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        params![
            e.org_pk,
            e.txn,
            e.at,
            e.resource_type,
            e.resource_id,
            e.external_id,
            e.payload
        ],
    )?;
    Ok(())
}

fn has_receivers(conn: &Conn<'_>, org_pk: i64) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM event_receivers WHERE org_pk = ?)",
        params![org_pk],
        |r| r.get(0),
    )
}

/// Writes the event a change makes, if it makes one and its organization has a receiver
/// (without one there is nobody to tell, and a receiver added later starts at its own
/// beginning). Called by `audit::insert`, inside the change's transaction; on PostgreSQL the
/// row is inserted by [`before_commit`].
pub(crate) fn on_audit(conn: &Conn<'_>, e: &Entry<'_>, now: &str) -> Result<()> {
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
    let meta: Option<(i64, String, String, Option<String>)> = conn.query_opt(
        &format!(
            "SELECT version, created, last_modified, external_id FROM {table}
             WHERE org_pk = ? AND id = ?"
        ),
        params![e.org_pk, e.resource_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
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
    let event = NewEvent {
        org_pk: e.org_pk,
        txn: uuid::Uuid::new_v4().simple().to_string(),
        at: now.to_string(),
        resource_type: e.resource_type.to_string(),
        resource_id: e.resource_id.to_string(),
        external_id,
        payload: payload.to_string(),
    };
    match conn.engine() {
        Engine::Sqlite => insert_event(conn, &event)?,
        Engine::Postgres => PENDING.with(|p| p.borrow_mut().push(event)),
    }
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

fn event_from(r: &Row<'_>) -> Result<Event> {
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

fn receiver_from(r: &Row<'_>) -> Result<Receiver> {
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
pub fn insert_receiver(conn: &Conn<'_>, r: &NewReceiver<'_>, now: &str) -> Result<Receiver> {
    conn.execute(
        "INSERT INTO event_receivers (id, org_pk, url, mode, detail, token_digest, created, cursor)
         VALUES (?, ?, ?, ?, ?, ?, ?,
                 (SELECT coalesce(max(seq), 0) FROM outbox))",
        params![r.id, r.org_pk, r.url, r.mode, r.detail, r.token_digest, now],
    )?;
    get_receiver(conn, r.org_pk, r.id)?
        .ok_or_else(|| crate::error::Error::Internal("a new receiver vanished".into()))
}

/// A receiver by its id. Inside a PostgreSQL write its row is locked, so two servers
/// acknowledging for one receiver take turns (see [`acknowledge`]).
pub fn get_receiver(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<Option<Receiver>> {
    conn.query_opt(
        &format!(
            "SELECT {RECEIVER_COLUMNS} FROM event_receivers r WHERE r.org_pk = ? AND r.id = ?{}",
            conn.for_update()
        ),
        params![org_pk, id],
        receiver_from,
    )
}

pub fn receiver_by_pk(conn: &Conn<'_>, pk: i64) -> Result<Option<Receiver>> {
    conn.query_opt(
        &format!("SELECT {RECEIVER_COLUMNS} FROM event_receivers r WHERE r.pk = ?"),
        params![pk],
        receiver_from,
    )
}

/// Takes (or renews) the right to push receiver `pk`'s SETs for `owner` (one server) until
/// `until`: granted when nobody holds it, `owner` already does, or the holder's lease ran out
/// before `now` (a server that died). Returns whether `owner` holds it now. Times are UTC text
/// in one format, so text order is time order.
pub fn claim_push(conn: &Conn<'_>, pk: i64, owner: &str, now: &str, until: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE event_receivers SET lease_owner = ?1, lease_until = ?2
         WHERE pk = ?3 AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_until IS NULL
                            OR lease_until < ?4)",
        params![owner, until, pk, now],
    )?;
    Ok(n > 0)
}

/// An organization's receivers in the order they were added, with their backlogs.
pub fn list_receivers(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<Receiver>> {
    conn.query_map(
        &format!(
            "SELECT {RECEIVER_COLUMNS_COUNTED} FROM event_receivers r WHERE r.org_pk = ? ORDER BY r.pk"
        ),
        params![org_pk],
        receiver_from,
    )
}

/// Every active push receiver, of every organization (for the deliverer).
pub fn push_receivers(conn: &Conn<'_>) -> Result<Vec<Receiver>> {
    conn.query_map(
        &format!(
            "SELECT {RECEIVER_COLUMNS} FROM event_receivers r
         WHERE r.mode = 'push' AND r.state = 'active' ORDER BY r.pk"
        ),
        params![],
        receiver_from,
    )
}

pub fn delete_receiver(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM event_receivers WHERE org_pk = ? AND id = ?",
        params![org_pk, id],
    )? > 0)
}

/// The SHA-256 digest (hex) of a poll receiver's token.
pub fn token_digest(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_opt(
            "SELECT token_digest FROM event_receivers WHERE org_pk = ? AND id = ? AND mode = 'poll'",
            params![org_pk, id],
            |r| r.get::<Option<String>>(0),
        )?
        .flatten())
}

/// Up to `limit` events after the receiver's cursor that it has not acknowledged, oldest
/// first.
pub fn pending(conn: &Conn<'_>, r: &Receiver, limit: i64) -> Result<Vec<Event>> {
    conn.query_map(
        "SELECT o.seq, o.org_pk, o.txn, o.at, o.resource_type, o.resource_id, o.external_id,
                o.payload
         FROM outbox o
         WHERE o.org_pk = ?1 AND o.seq > ?2
           AND NOT EXISTS (SELECT 1 FROM event_acks a WHERE a.receiver_pk = ?3 AND a.seq = o.seq)
         ORDER BY o.seq LIMIT ?4",
        params![r.org_pk, r.cursor, r.pk, limit],
        event_from,
    )
}

/// A push receiver took the event `seq` (it answered 2xx): move its cursor there (never
/// back: scalar `max` is `GREATEST` on PostgreSQL).
pub fn delivered(conn: &Conn<'_>, receiver_pk: i64, seq: i64, now: &str) -> Result<()> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "UPDATE event_receivers SET cursor = max(cursor, ?2), delivered = delivered + 1,
             attempts = 0, next_attempt = NULL, last_delivery = ?3, last_error = NULL
         WHERE pk = ?1"
        }
        Engine::Postgres => {
            "UPDATE event_receivers SET cursor = GREATEST(cursor, ?2), delivered = delivered + 1,
             attempts = 0, next_attempt = NULL, last_delivery = ?3, last_error = NULL
         WHERE pk = ?1"
        }
    };
    conn.execute(sql, params![receiver_pk, seq, now])?;
    Ok(())
}

/// A delivery failed: keep the error, and either try again at `next_attempt` or (a
/// permanent error) mark the receiver failed.
pub fn failed(
    conn: &Conn<'_>,
    receiver_pk: i64,
    error: &str,
    next_attempt: Option<&str>,
    permanent: bool,
) -> Result<()> {
    conn.execute(
        "UPDATE event_receivers SET attempts = attempts + 1, last_error = ?2, next_attempt = ?3,
             state = CASE WHEN ?4 THEN 'failed' ELSE state END
         WHERE pk = ?1",
        params![receiver_pk, error, next_attempt, permanent],
    )?;
    Ok(())
}

/// Puts a failed receiver back to work from where it stopped.
pub fn resume(conn: &Conn<'_>, org_pk: i64, id: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE event_receivers SET state = 'active', attempts = 0, next_attempt = NULL
             WHERE org_pk = ? AND id = ?",
        params![org_pk, id],
    )? > 0)
}

/// The sequence number of an organization's event by its `txn`.
pub fn seq_of(conn: &Conn<'_>, org_pk: i64, txn: &str) -> Result<Option<i64>> {
    conn.query_opt(
        "SELECT seq FROM outbox WHERE org_pk = ? AND txn = ?",
        params![org_pk, txn],
        |r| r.get(0),
    )
}

/// A poll receiver acknowledged these events (RFC 8936 §2.2 `ack` and `setErrs`): note them,
/// then move its cursor over every event acknowledged without a gap, so the acknowledgements
/// kept stay few. `error` is the last `setErrs` entry, shown with the receiver. `r` is read
/// in the same write (on PostgreSQL [`get_receiver`] locks its row there).
pub fn acknowledge(
    conn: &Conn<'_>,
    r: &Receiver,
    seqs: &[i64],
    error: Option<&str>,
    now: &str,
) -> Result<()> {
    // Those at or before the cursor are acknowledged already.
    for seq in seqs.iter().filter(|s| **s > r.cursor) {
        conn.execute(
            "INSERT INTO event_acks (receiver_pk, seq) VALUES (?, ?) ON CONFLICT DO NOTHING",
            params![r.pk, seq],
        )?;
    }
    let first_open: Option<i64> = conn.query_row(
        "SELECT min(o.seq) FROM outbox o WHERE o.org_pk = ?1 AND o.seq > ?2
               AND NOT EXISTS (SELECT 1 FROM event_acks a WHERE a.receiver_pk = ?3 AND a.seq = o.seq)",
        params![r.org_pk, r.cursor, r.pk],
        |row| row.get(0),
    )?;
    let cursor: i64 = match first_open {
        Some(open) => open - 1,
        None => conn.query_row(
            "SELECT coalesce(max(seq), ?2) FROM outbox WHERE org_pk = ?1",
            params![r.org_pk, r.cursor],
            |row| row.get(0),
        )?,
    };
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "UPDATE event_receivers SET cursor = max(cursor, ?2), delivered = delivered + ?3,
             last_delivery = CASE WHEN ?3 > 0 THEN ?4 ELSE last_delivery END,
             last_error = coalesce(?5, last_error)
         WHERE pk = ?1"
        }
        Engine::Postgres => {
            "UPDATE event_receivers SET cursor = GREATEST(cursor, ?2), delivered = delivered + ?3,
             last_delivery = CASE WHEN ?3 > 0 THEN ?4 ELSE last_delivery END,
             last_error = coalesce(?5, last_error)
         WHERE pk = ?1"
        }
    };
    conn.execute(sql, params![r.pk, cursor, seqs.len() as i64, now, error])?;
    conn.execute(
        "DELETE FROM event_acks WHERE receiver_pk = ? AND seq <= ?",
        params![r.pk, cursor],
    )?;
    Ok(())
}

/// Events one prune step deletes at most, so one step stays a short write.
pub const PRUNE_STEP: i64 = 5_000;

/// One bounded step of upkeep: drops up to [`PRUNE_STEP`] events every receiver of their
/// organization has had (all of an organization without receivers), and up to as many older
/// than `cutoff` (the retention limit) whether delivered or not. Each goes through
/// `outbox_org` or `outbox_at`, so a long backlog costs nothing here. Returns (delivered and
/// dropped, expired undelivered); call again while either is [`PRUNE_STEP`].
pub fn prune(conn: &Conn<'_>, cutoff: Option<&str>) -> Result<(usize, usize)> {
    let orgs: Vec<(i64, Option<i64>)> = conn.query_map(
        "SELECT o.pk, (SELECT min(r.cursor) FROM event_receivers r WHERE r.org_pk = o.pk)
             FROM orgs o",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut done = 0;
    for (org_pk, min_cursor) in orgs {
        let left = PRUNE_STEP - done as i64;
        if left <= 0 {
            break;
        }
        done += conn.execute(
            "DELETE FROM outbox WHERE seq IN (
                     SELECT seq FROM outbox WHERE org_pk = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3)",
            params![org_pk, min_cursor.unwrap_or(i64::MAX), left],
        )?;
    }
    let expired = match cutoff {
        Some(c) => conn.execute(
            "DELETE FROM outbox WHERE seq IN (
                     SELECT seq FROM outbox WHERE at < ?1 ORDER BY at LIMIT ?2)",
            params![c, PRUNE_STEP],
        )?,
        None => 0,
    };
    if done + expired > 0 {
        // Acknowledgements of events that are gone mean nothing any more (they are few: only
        // those past a receiver's cursor).
        conn.execute(
            "DELETE FROM event_acks
             WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = event_acks.seq)",
            params![],
        )?;
    }
    Ok((done, expired))
}

/// How many events the outbox holds.
pub fn depth(conn: &Conn<'_>) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM outbox", params![], |r| r.get(0))
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

pub fn gauges(conn: &Conn<'_>) -> Result<Gauges> {
    let mut g = Gauges {
        depth: depth(conn)?,
        ..Gauges::default()
    };
    let rows = conn.query_map(
        &format!("SELECT r.state, {RECEIVER_COLUMNS_COUNTED} FROM event_receivers r"),
        params![],
        |row| Ok((row.get::<String>(0)?, row.get::<i64>(15)?)),
    )?;
    for (state, backlog) in rows {
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
pub fn key(conn: &Conn<'_>, org_pk: i64) -> Result<Option<(String, Vec<u8>)>> {
    conn.query_opt(
        "SELECT kid, pkcs8 FROM event_keys WHERE org_pk = ?",
        params![org_pk],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Keeps a new signing key unless the organization has one already.
pub fn insert_key(conn: &Conn<'_>, org_pk: i64, kid: &str, pkcs8: &[u8], now: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO event_keys (org_pk, kid, pkcs8, created) VALUES (?, ?, ?, ?)
         ON CONFLICT DO NOTHING",
        params![org_pk, kid, pkcs8, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{fresh_postgres, stores};
    use crate::store::{Store, StoreOptions};

    /// An organization with one user `u1`; returns its pk.
    fn org(store: &Store, id: &str) -> i64 {
        let id = id.to_string();
        store
            .write_blocking(move |c| {
                let org: i64 = c.query_row(
                    "INSERT INTO orgs (id, name, created) VALUES (?, ?, 'now') RETURNING pk",
                    params![id, id],
                    |r| r.get(0),
                )?;
                c.execute(
                    "INSERT INTO users (org_pk, id, user_name, user_name_fold, external_id,
                     created, last_modified, data)
                     VALUES (?, ?, 'a', 'a', 'ext-1', 'then', 'now', '{}')",
                    params![org, format!("u-{id}")],
                )?;
                Ok(org)
            })
            .unwrap()
    }

    fn entry<'a>(org_pk: i64, user: &'a str, action: &'a str, b: &'a str, a: &'a str) -> Entry<'a> {
        Entry {
            org_pk,
            actor: "t",
            action,
            resource_type: "User",
            resource_id: user,
            reason: None,
            before: Some(b),
            after: Some(a),
            request_id: None,
            source: None,
            user_agent: None,
        }
    }

    /// A change to the user of `org_pk` from `{"a": i}` to `{"a": i + 1}`.
    fn change(store: &Store, org_pk: i64, user: &str, i: i64) {
        let user = user.to_string();
        store
            .write_blocking(move |c| {
                let (b, a) = (format!(r#"{{"a":{i}}}"#), format!(r#"{{"a":{}}}"#, i + 1));
                super::super::audit::insert(
                    c,
                    &entry(org_pk, &user, "update", &b, &a),
                    "2026-01-01T00:00:00Z",
                )
            })
            .unwrap()
    }

    fn receiver(store: &Store, org_pk: i64, id: &str, mode: &'static str) -> Receiver {
        let id = id.to_string();
        store
            .write_blocking(move |c| {
                insert_receiver(
                    c,
                    &NewReceiver {
                        id: &id,
                        org_pk,
                        url: "https://r.example",
                        mode,
                        detail: "notice",
                        token_digest: (mode == "poll").then_some("d1g35t"),
                    },
                    "now",
                )
            })
            .unwrap()
    }

    fn get(store: &Store, org_pk: i64, id: &str) -> Receiver {
        let id = id.to_string();
        store
            .read_blocking(move |c| get_receiver(c, org_pk, &id))
            .unwrap()
            .unwrap()
    }

    fn seqs(store: &Store, r: &Receiver) -> Vec<i64> {
        let r = r.clone();
        store
            .read_blocking(move |c| pending(c, &r, 10))
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    }

    #[test]
    fn no_receiver_no_event_and_a_new_receiver_starts_at_the_end() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            let mut signal = store.outbox_changes();
            let start = *signal.borrow_and_update();
            change(&store, o, "u-o", 1);
            assert_eq!(store.read_blocking(depth).unwrap(), 0, "{engine}");
            let r = receiver(&store, o, "r1", "poll");
            assert_eq!((r.backlog, r.org_id.as_str()), (0, "o"), "{engine}");
            change(&store, o, "u-o", 2);
            // The SQLite writer may answer before it signals: wait (bounded) for the signal.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(10), signal.changed()).await
            })
            .expect("an event wakes the deliverers")
            .unwrap();
            assert_eq!(
                *signal.borrow(),
                start + 1,
                "{engine}: one signal, for the one write that made an event"
            );
            let r = get(&store, o, "r1");
            assert_eq!(r.backlog, 1, "{engine}: has a backlog");
            let listed = store.read_blocking(move |c| list_receivers(c, o)).unwrap();
            assert_eq!(listed[0].backlog, 1, "{engine}");
            let events = store.read_blocking(move |c| pending(c, &r, 10)).unwrap();
            assert_eq!(events.len(), 1, "{engine}");
            let e = &events[0];
            assert_eq!(
                (e.org_pk, e.resource_type.as_str(), e.resource_id.as_str()),
                (o, "User", "u-o"),
                "{engine}"
            );
            assert_eq!(e.external_id.as_deref(), Some("ext-1"), "{engine}");
            let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            assert_eq!(payload["kind"], "patch", "{engine}");
            assert_eq!(payload["version"], 1, "{engine}");
            assert_eq!(payload["created"], "then", "{engine}");
            let txn = e.txn.clone();
            let seq = store.read_blocking(move |c| seq_of(c, o, &txn)).unwrap();
            assert_eq!(seq, Some(e.seq), "{engine}");
            let none = store.read_blocking(move |c| seq_of(c, o, "nope")).unwrap();
            assert_eq!(none, None, "{engine}");
            store.close();
        }
    }

    /// An event of a deleted resource takes its externalId from the state it had; a change
    /// that is not to a User or Team, or that changes nothing, makes none.
    #[test]
    fn deleted_resources_and_other_changes() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            let r = receiver(&store, o, "r1", "poll");
            store
                .write_blocking(move |c| {
                    let mut gone = entry(o, "gone", "delete", r#"{"externalId":"x9"}"#, "");
                    gone.after = None;
                    super::super::audit::insert(c, &gone, "now")?;
                    let mut other = entry(o, "k", "create", "{}", "{}");
                    other.resource_type = "Token";
                    super::super::audit::insert(c, &other, "now")?;
                    // Nothing changed: no event.
                    super::super::audit::insert(c, &entry(o, "u-o", "update", "{}", "{}"), "now")
                })
                .unwrap();
            let events = store.read_blocking(move |c| pending(c, &r, 10)).unwrap();
            assert_eq!(events.len(), 1, "{engine}: {events:?}");
            assert_eq!(events[0].resource_id, "gone", "{engine}");
            assert_eq!(events[0].external_id.as_deref(), Some("x9"), "{engine}");
            let payload: serde_json::Value = serde_json::from_str(&events[0].payload).unwrap();
            assert_eq!(payload.get("version"), None, "{engine}");
            store.close();
        }
    }

    /// A write that fails after making events leaves none, and the next write's events are
    /// its own only.
    #[test]
    fn a_rolled_back_change_leaves_no_event() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            receiver(&store, o, "r1", "poll");
            let failed = store.write_blocking(move |c| {
                super::super::audit::insert(
                    c,
                    &entry(o, "u-o", "update", "{}", r#"{"a":1}"#),
                    "now",
                )?;
                Err::<(), _>(crate::error::Error::Internal("refused".into()))
            });
            assert!(failed.is_err(), "{engine}");
            assert_eq!(store.read_blocking(depth).unwrap(), 0, "{engine}");
            change(&store, o, "u-o", 5);
            assert_eq!(store.read_blocking(depth).unwrap(), 1, "{engine}");
            store.close();
        }
    }

    #[test]
    fn acknowledgements_out_of_order_move_the_cursor_only_over_a_gapless_run() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            receiver(&store, o, "r1", "poll");
            for i in 0..4 {
                change(&store, o, "u-o", i);
            }
            let r = get(&store, o, "r1");
            let seqs = seqs(&store, &r);
            assert_eq!(seqs.len(), 4, "{engine}");
            let ack = |acked: Vec<i64>, error: Option<&'static str>| {
                store
                    .write_blocking(move |c| {
                        // As the poll endpoint does: the receiver read (and locked) in the
                        // same write.
                        let r = get_receiver(c, o, "r1")?.unwrap();
                        acknowledge(c, &r, &acked, error, "later")
                    })
                    .unwrap()
            };
            ack(vec![seqs[1], seqs[3]], Some("bad SET"));
            let r = get(&store, o, "r1");
            let listed = store.read_blocking(move |c| list_receivers(c, o)).unwrap();
            assert_eq!(listed[0].backlog, 2, "{engine}");
            assert_eq!(r.cursor, seqs[0] - 1, "{engine}: the first is still open");
            assert_eq!(r.last_error.as_deref(), Some("bad SET"), "{engine}");
            assert_eq!(r.last_delivery.as_deref(), Some("later"), "{engine}");
            assert_eq!(self::seqs(&store, &r), [seqs[0], seqs[2]], "{engine}");
            // Acknowledging one again, or one before the cursor, changes nothing but counts.
            ack(vec![seqs[1], seqs[0] - 1], None);
            ack(vec![seqs[0], seqs[2]], None);
            let r = store
                .read_blocking(move |c| list_receivers(c, o))
                .unwrap()
                .remove(0);
            assert_eq!(
                (r.cursor, r.backlog, r.delivered),
                (seqs[3], 0, 6),
                "{engine}"
            );
            assert_eq!(r.last_error.as_deref(), Some("bad SET"), "{engine}: kept");
            let acks: i64 = store
                .read_blocking(|c| {
                    c.query_row("SELECT count(*) FROM event_acks", params![], |r| r.get(0))
                })
                .unwrap();
            assert_eq!(acks, 0, "{engine}: those under the cursor are dropped");
            // An empty acknowledgement moves nothing and keeps the last delivery's time.
            ack(vec![], None);
            assert_eq!(get(&store, o, "r1").last_delivery.as_deref(), Some("later"));
            // Everything delivered to every receiver can go.
            assert_eq!(
                store.write_blocking(|c| prune(c, None)).unwrap(),
                (4, 0),
                "{engine}"
            );
            assert_eq!(store.read_blocking(depth).unwrap(), 0, "{engine}");
            store.close();
        }
    }

    #[test]
    fn retention_drops_old_events_even_undelivered() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            receiver(&store, o, "r1", "poll");
            change(&store, o, "u-o", 1);
            let prune_at = |cutoff: &'static str| {
                store
                    .write_blocking(move |c| prune(c, Some(cutoff)))
                    .unwrap()
            };
            assert_eq!(prune_at("2025-01-01T00:00:00Z"), (0, 0), "{engine}");
            assert_eq!(prune_at("2027-01-01T00:00:00Z"), (0, 1), "{engine}");
            assert_eq!(store.read_blocking(depth).unwrap(), 0, "{engine}");
            store.close();
        }
    }

    /// Pruning keeps what the slowest receiver of an organization still needs, drops all of
    /// an organization without receivers, and drops acknowledgements of events that are gone.
    #[test]
    fn prune_keeps_what_a_receiver_still_needs() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let a = org(&store, "a");
            let b = org(&store, "b");
            let ra = receiver(&store, a, "ra", "poll");
            let rb = receiver(&store, b, "rb", "push");
            change(&store, a, "u-a", 1);
            change(&store, a, "u-a", 2);
            change(&store, b, "u-b", 1);
            let a_seqs = seqs(&store, &ra);
            let b_seqs = seqs(&store, &rb);
            assert_eq!((a_seqs.len(), b_seqs.len()), (2, 1), "{engine}");
            // ra acknowledges its second event only (kept as an ack past the cursor).
            let second = a_seqs[1];
            store
                .write_blocking(move |c| {
                    let r = get_receiver(c, a, "ra")?.unwrap();
                    acknowledge(c, &r, &[second], None, "t")
                })
                .unwrap();
            assert_eq!(
                store.write_blocking(|c| prune(c, None)).unwrap(),
                (0, 0),
                "{engine}"
            );
            // b's receiver goes: b's event has nobody left to wait for it.
            assert!(
                store
                    .write_blocking(move |c| delete_receiver(c, b, "rb"))
                    .unwrap()
            );
            assert!(
                !store
                    .write_blocking(move |c| delete_receiver(c, b, "rb"))
                    .unwrap()
            );
            assert_eq!(
                store.write_blocking(|c| prune(c, None)).unwrap(),
                (1, 0),
                "{engine}"
            );
            // The retention limit takes a's undelivered events, and the acknowledgement.
            let expired = store
                .write_blocking(|c| prune(c, Some("2027-01-01T00:00:00Z")))
                .unwrap();
            assert_eq!(expired, (0, 2), "{engine}");
            let acks: i64 = store
                .read_blocking(|c| {
                    c.query_row("SELECT count(*) FROM event_acks", params![], |r| r.get(0))
                })
                .unwrap();
            assert_eq!(acks, 0, "{engine}");
            store.close();
        }
    }

    /// Receivers: found by id and pk, listed, push ones for the deliverer, failing and
    /// resuming, and a poll receiver's token digest.
    #[test]
    fn receivers_and_their_delivery_state() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            let other = org(&store, "p");
            let push = receiver(&store, o, "push1", "push");
            let poll = receiver(&store, o, "poll1", "poll");
            receiver(&store, other, "push2", "push");
            assert_eq!(
                (push.mode.as_str(), push.state.as_str()),
                ("push", "active")
            );
            assert_eq!((push.attempts, push.delivered), (0, 0), "{engine}");
            assert_eq!(push.status(), "active", "{engine}");
            let by_pk = store
                .read_blocking(move |c| receiver_by_pk(c, push.pk))
                .unwrap();
            assert_eq!(by_pk.as_ref().map(|r| r.id.as_str()), Some("push1"));
            assert_eq!(
                store.read_blocking(|c| receiver_by_pk(c, -1)).unwrap(),
                None
            );
            let none = store.read_blocking(move |c| get_receiver(c, other, "push1"));
            assert_eq!(none.unwrap(), None, "{engine}: another organization's");
            let ids = |rs: Vec<Receiver>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
            let listed = store.read_blocking(move |c| list_receivers(c, o)).unwrap();
            assert_eq!(ids(listed), ["push1", "poll1"], "{engine}");
            let pushing = store.read_blocking(push_receivers).unwrap();
            assert_eq!(ids(pushing), ["push1", "push2"], "{engine}");
            let digest = |id: &'static str| {
                store
                    .read_blocking(move |c| token_digest(c, o, id))
                    .unwrap()
            };
            assert_eq!(digest("poll1").as_deref(), Some("d1g35t"), "{engine}");
            assert_eq!(digest("push1"), None, "{engine}: a push receiver has none");
            assert_eq!(digest("nope"), None, "{engine}");
            let _ = poll;

            // A failed push waits for its next attempt; a permanent one stops the receiver.
            let pk = push.pk;
            store
                .write_blocking(move |c| failed(c, pk, "503", Some("soon"), false))
                .unwrap();
            let r = get(&store, o, "push1");
            assert_eq!((r.status(), r.attempts), ("retrying", 1), "{engine}");
            assert_eq!(r.last_error.as_deref(), Some("503"), "{engine}");
            store
                .write_blocking(move |c| failed(c, pk, "gone", None, true))
                .unwrap();
            let r = get(&store, o, "push1");
            assert_eq!((r.status(), r.attempts), ("failed", 2), "{engine}");
            let pushing = store.read_blocking(push_receivers).unwrap();
            assert_eq!(
                ids(pushing),
                ["push2"],
                "{engine}: a failed one is not pushed to"
            );
            let g = store.read_blocking(gauges).unwrap();
            assert_eq!((g.receivers_active, g.receivers_failed), (2, 1), "{engine}");
            assert!(
                store
                    .write_blocking(move |c| resume(c, o, "push1"))
                    .unwrap()
            );
            assert!(!store.write_blocking(move |c| resume(c, o, "nope")).unwrap());
            let r = get(&store, o, "push1");
            assert_eq!((r.status(), r.attempts), ("active", 0), "{engine}");

            // A delivery moves the cursor forward, never back.
            change(&store, o, "u-o", 1);
            change(&store, o, "u-o", 2);
            let s = seqs(&store, &r);
            let g = store.read_blocking(gauges).unwrap();
            assert_eq!(
                (g.depth, g.backlog),
                (2, 4),
                "{engine}: two receivers wait for two"
            );
            let (first, second) = (s[0], s[1]);
            store
                .write_blocking(move |c| delivered(c, pk, second, "t2"))
                .unwrap();
            store
                .write_blocking(move |c| delivered(c, pk, first, "t1"))
                .unwrap();
            let r = get(&store, o, "push1");
            assert_eq!(
                (r.cursor, r.delivered, r.backlog),
                (second, 2, 0),
                "{engine}"
            );
            assert_eq!(r.last_delivery.as_deref(), Some("t1"), "{engine}");
            store.close();
        }
    }

    #[test]
    fn a_signing_key_is_kept_once() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let o = org(&store, "o");
            assert_eq!(store.read_blocking(move |c| key(c, o)).unwrap(), None);
            store
                .write_blocking(move |c| insert_key(c, o, "k1", &[0, 1, 255], "now"))
                .unwrap();
            store
                .write_blocking(move |c| insert_key(c, o, "k2", &[9], "now"))
                .unwrap();
            let kept = store.read_blocking(move |c| key(c, o)).unwrap();
            assert_eq!(kept, Some(("k1".to_string(), vec![0, 1, 255])), "{engine}");
            store.close();
        }
    }

    /// On SQLite the thread-local signal is set by the write itself (the writer thread reads
    /// it after COMMIT).
    #[test]
    fn writing_an_event_sets_the_thread_signal() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&c).unwrap();
        let conn = Conn::sqlite(&c);
        conn.execute_batch(
            "INSERT INTO orgs (pk, id, name, created) VALUES (1, 'o', 'o', 'now');
             INSERT INTO event_receivers (id, org_pk, url, mode, detail, created, cursor)
             VALUES ('r', 1, 'https://r.example', 'poll', 'notice', 'now', 0);",
        )
        .unwrap();
        let _ = take_written();
        super::super::audit::insert(&conn, &entry(1, "u", "update", "{}", "{}"), "now").unwrap();
        assert!(!take_written(), "no change, no event");
        super::super::audit::insert(&conn, &entry(1, "u", "update", "{}", r#"{"a":1}"#), "now")
            .unwrap();
        assert!(take_written());
        assert!(!take_written(), "read once");
        assert_eq!(depth(&conn).unwrap(), 1);
    }

    /// PostgreSQL: writers on two servers (Stores) commit events while a reader pages the
    /// outbox by `seq > cursor`, as a receiver does. Each writer numbers its events and then
    /// still works a moment before COMMIT, the order-of-commit race at its widest: the reader
    /// must still see every event exactly once, in order.
    #[test]
    fn concurrent_writers_commit_events_in_sequence_order() {
        let Some(url) = fresh_postgres() else {
            return;
        };
        let target = crate::store::target::Target::Postgres(url);
        let options = StoreOptions {
            readers: 2,
            pg_pool: 4,
            ..StoreOptions::default()
        };
        let servers: Vec<Store> = (0..2)
            .map(|_| Store::open_target(&target, &options).unwrap())
            .collect();
        let o = org(&servers[0], "o");
        let reader = receiver(&servers[1], o, "r1", "poll");
        const THREADS: usize = 3;
        const WRITES: i64 = 30;
        let done = std::sync::atomic::AtomicUsize::new(0);
        let seen = std::thread::scope(|scope| {
            for store in &servers {
                for t in 0..THREADS {
                    let done = &done;
                    scope.spawn(move || {
                        for i in 0..WRITES {
                            let user = format!("u{t}");
                            store
                                .write_blocking(move |c| {
                                    for k in 0..2 {
                                        let (b, a) =
                                            (format!("{{\"a\":{i}}}"), format!("{{\"a\":{k}{i}}}"));
                                        super::super::audit::insert(
                                            c,
                                            &entry(o, &user, "update", &b, &a),
                                            "now",
                                        )?;
                                    }
                                    // Number the events now (as COMMIT would), then work on.
                                    before_commit(c)?;
                                    c.query_row(
                                        "SELECT CAST(pg_sleep(random() * 0.003) AS TEXT)",
                                        params![],
                                        |_| Ok(()),
                                    )
                                })
                                .unwrap();
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    });
                }
            }
            // The reader pages while they write, and once more after the last one finished.
            let mut cursor = reader.clone();
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst) == 2 * THREADS;
                let r = cursor.clone();
                let page = servers[1]
                    .read_blocking(move |c| pending(c, &r, 7))
                    .unwrap();
                for e in &page {
                    assert!(
                        e.seq > cursor.cursor,
                        "in order: {} after {}",
                        e.seq,
                        cursor.cursor
                    );
                    cursor.cursor = e.seq;
                    seen.push(e.seq);
                }
                if page.is_empty() && finished {
                    break seen;
                }
            }
        });
        let all: Vec<i64> = servers[0]
            .read_blocking(|c| {
                c.query_map("SELECT seq FROM outbox ORDER BY seq", params![], |r| {
                    r.get(0)
                })
            })
            .unwrap();
        assert_eq!(all.len(), 2 * THREADS * WRITES as usize * 2);
        assert_eq!(seen, all, "every event seen once, in order");
        for s in servers {
            s.close();
        }
    }

    /// PostgreSQL: a write that locked its organization's row and then makes events, beside
    /// one that made events and reaches its COMMIT while the first still holds that row:
    /// neither waits for the other while holding the outbox lock, so both commit (no
    /// deadlock, which PostgreSQL would end by failing one of them).
    #[test]
    fn a_write_holding_the_organization_row_does_not_deadlock_the_outbox() {
        let Some(url) = fresh_postgres() else {
            return;
        };
        let target = crate::store::target::Target::Postgres(url);
        let options = StoreOptions {
            readers: 2,
            pg_pool: 2,
            ..StoreOptions::default()
        };
        let (one, two) = (
            Store::open_target(&target, &options).unwrap(),
            Store::open_target(&target, &options).unwrap(),
        );
        let o = org(&one, "o");
        receiver(&one, o, "r1", "poll");
        let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
        let (go, go_rx) = std::sync::mpsc::channel::<()>();
        // The first write: locks the organization, makes an event, then waits to be let go.
        let first = std::thread::spawn({
            let one = one.clone();
            move || {
                one.write_blocking(move |c| {
                    c.query_row(
                        "SELECT pk FROM orgs WHERE pk = ? FOR UPDATE",
                        params![o],
                        |_| Ok(()),
                    )?;
                    super::super::audit::insert(
                        c,
                        &entry(o, "u-o", "update", "{}", r#"{"a":1}"#),
                        "t1",
                    )?;
                    locked_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    Ok(())
                })
            }
        });
        locked.recv().unwrap();
        // The second: its events go in while the first holds the organization's row.
        let second = std::thread::spawn({
            let two = two.clone();
            move || {
                two.write_blocking(move |c| {
                    super::super::audit::insert(
                        c,
                        &entry(o, "u-o", "update", "{}", r#"{"a":2}"#),
                        "t2",
                    )
                })
            }
        });
        // Let the first go on once the second waits for a lock (bounded polling).
        let mut waited = 0;
        loop {
            let waiting: i64 = one
                .read_blocking(|c| {
                    c.query_row(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        params![],
                        |r| r.get(0),
                    )
                })
                .unwrap();
            if waiting > 0 {
                break;
            }
            waited += 1;
            assert!(waited < 1000, "the second write never waited for the first");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        go.send(()).unwrap();
        assert_eq!(first.join().unwrap(), Ok(()));
        assert_eq!(second.join().unwrap(), Ok(()));
        assert_eq!(one.read_blocking(depth).unwrap(), 2);
        one.close();
        two.close();
    }
}
