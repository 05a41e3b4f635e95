//! The request inspector's table: SCIM requests as the admin page shows them, already redacted
//! and cut, bounded by count and age.

use crate::error::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params};

/// One request row, new or read back.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RequestRow {
    pub pk: i64,
    pub org_id: String,
    pub at: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub latency_us: u64,
    pub token: Option<String>,
    pub user_agent: Option<String>,
    pub source: Option<String>,
    pub resource_id: Option<String>,
    pub request_body: String,
    pub request_bytes: usize,
    pub response_body: String,
    /// Attributes under extension URNs the organization does not declare, which the request
    /// sent and scimbox dropped (stored as a JSON array; NULL when none).
    pub dropped: Vec<String>,
}

const COLUMNS: &str = "pk, org_id, at, request_id, method, path, query, status, latency_us, \
     token, user_agent, source, resource_id, request_body, request_bytes, response_body, dropped";

fn from_row(r: &Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok(RequestRow {
        pk: r.get(0)?,
        org_id: r.get(1)?,
        at: r.get(2)?,
        request_id: r.get(3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        query: r.get(6)?,
        status: r.get::<_, i64>(7)?.clamp(0, 999) as u16,
        latency_us: r.get::<_, i64>(8)?.max(0) as u64,
        token: r.get(9)?,
        user_agent: r.get(10)?,
        source: r.get(11)?,
        resource_id: r.get(12)?,
        request_body: r.get(13)?,
        request_bytes: r.get::<_, i64>(14)?.max(0) as usize,
        response_body: r.get(15)?,
        dropped: r
            .get::<_, Option<String>>(16)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    })
}

/// Stores a batch of requests, then keeps at most `keep` rows and none older than `cutoff`.
pub fn insert_batch(
    conn: &Connection,
    rows: &[RequestRow],
    keep: usize,
    cutoff: Option<&str>,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO requests (org_id, at, request_id, method, path, query, status, latency_us,
         token, user_agent, source, resource_id, request_body, request_bytes, response_body,
         dropped)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for r in rows {
        stmt.execute(params![
            r.org_id,
            r.at,
            r.request_id,
            r.method,
            r.path,
            r.query,
            i64::from(r.status),
            r.latency_us as i64,
            r.token,
            r.user_agent,
            r.source,
            r.resource_id,
            r.request_body,
            r.request_bytes as i64,
            r.response_body,
            (!r.dropped.is_empty()).then(|| serde_json::Value::from(r.dropped.clone()).to_string())
        ])?;
    }
    // pks only grow, so the newest `keep` rows are those above max(pk) - keep.
    conn.prepare_cached(
        "DELETE FROM requests WHERE pk <= (SELECT coalesce(max(pk), 0) FROM requests) - ?",
    )?
    .execute([keep as i64])?;
    if let Some(cutoff) = cutoff {
        conn.prepare_cached("DELETE FROM requests WHERE at < ?")?
            .execute([cutoff])?;
    }
    Ok(())
}

/// What a search of the inspector asks for; every field narrows it.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub method: Option<String>,
    /// Contained in the path, any case.
    pub path: Option<String>,
    /// A status or its start: "4", "40", "401".
    pub status: Option<String>,
    pub token: Option<String>,
    /// The resource the path names, or one the request body mentions (a member added).
    pub resource_id: Option<String>,
    pub request_id: Option<String>,
    /// `at >= since` and `at < until`, in the stored time format.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Only rows with a pk below this (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

fn where_clause(org_id: &str, s: &Search) -> (String, Vec<SqlValue>) {
    let mut sql = String::from("org_id = ?");
    let mut p: Vec<SqlValue> = vec![SqlValue::Text(org_id.to_string())];
    let mut add = |clause: &str, values: Vec<SqlValue>| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        p.extend(values);
    };
    let text = |v: &str| SqlValue::Text(v.to_string());
    if let Some(m) = &s.method {
        add("method = ?", vec![text(&m.to_ascii_uppercase())]);
    }
    if let Some(path) = &s.path {
        add("instr(lower(path), lower(?)) > 0", vec![text(path)]);
    }
    if let Some(st) = &s.status {
        // A prefix of a three-digit status is a range: "4" is 400..=499, "40" 400..=409.
        let digits = st.len() as u32;
        let n: i64 = st.parse().unwrap_or(0);
        let scale = 10_i64.pow(3 - digits.min(3));
        add(
            "status >= ? AND status < ?",
            vec![
                SqlValue::Integer(n * scale),
                SqlValue::Integer((n + 1) * scale),
            ],
        );
    }
    if let Some(t) = &s.token {
        add("token = ?", vec![text(t)]);
    }
    if let Some(id) = &s.resource_id {
        add(
            "(resource_id = ? OR instr(request_body, ?) > 0)",
            vec![text(id), text(id)],
        );
    }
    if let Some(id) = &s.request_id {
        add("request_id = ?", vec![text(id)]);
    }
    if let Some(t) = &s.since {
        add("at >= ?", vec![text(t)]);
    }
    if let Some(t) = &s.until {
        add("at < ?", vec![text(t)]);
    }
    (sql, p)
}

/// One page of an organization's requests, newest first, and how many match in all.
pub fn search(conn: &Connection, org_id: &str, s: &Search) -> Result<(i64, Vec<RequestRow>)> {
    let (where_sql, params) = where_clause(org_id, s);
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM requests WHERE {where_sql}"))?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
    let mut page_params = params;
    let mut page_where = where_sql;
    if let Some(b) = s.before {
        page_where.push_str(" AND pk < ?");
        page_params.push(SqlValue::Integer(b));
    }
    page_params.push(SqlValue::Integer(s.limit));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM requests WHERE {page_where} ORDER BY pk DESC LIMIT ?"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(page_params.iter()), from_row)?;
    Ok((total, rows.collect::<rusqlite::Result<_>>()?))
}

/// (token, requests, failures, last request time).
pub type TokenRate = (Option<String>, i64, i64, String);

/// Per token of an organization, over requests at or after `since`: (token, requests,
/// failures (5xx and 4xx other than 404/409/412), last request time). `None` is the token-less
/// (refused) requests.
pub fn token_health(conn: &Connection, org_id: &str, since: &str) -> Result<Vec<TokenRate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT token, count(*),
                sum(CASE WHEN status >= 500 OR (status >= 400 AND status NOT IN (404, 409, 412))
                    THEN 1 ELSE 0 END),
                max(at)
         FROM requests WHERE org_id = ? AND at >= ? GROUP BY token ORDER BY token",
    )?;
    let rows = stmt.query_map(params![org_id, since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The latest time a write (anything but GET/HEAD) from the IdP touched each resource.
pub fn last_write(conn: &Connection, org_id: &str, resource_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(at) FROM requests WHERE org_id = ? AND resource_id = ?
             AND method NOT IN ('GET', 'HEAD') AND status < 300",
        )?
        .query_row(params![org_id, resource_id], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: u16, at: &str) -> RequestRow {
        RequestRow {
            org_id: "o".into(),
            at: at.into(),
            request_id: format!("r{at}"),
            method: "GET".into(),
            path: "/scim/v2/o/Users".into(),
            status,
            ..RequestRow::default()
        }
    }

    #[test]
    fn bounded_by_count_and_age_and_searchable() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let rows: Vec<_> = (0..10)
            .map(|i| row(if i % 3 == 0 { 401 } else { 200 }, &format!("t{i:02}")))
            .collect();
        insert_batch(&conn, &rows, 6, Some("t03")).unwrap();
        let all = Search {
            limit: 100,
            ..Search::default()
        };
        let (total, page) = search(&conn, "o", &all).unwrap();
        assert_eq!(total, 6);
        assert_eq!(page[0].at, "t09");
        insert_batch(&conn, &[], 6, Some("t06")).unwrap();
        assert_eq!(search(&conn, "o", &all).unwrap().0, 4);
        let failing = Search {
            status: Some("4".into()),
            ..all.clone()
        };
        assert_eq!(search(&conn, "o", &failing).unwrap().0, 2);
        let timed = Search {
            since: Some("t07".into()),
            until: Some("t09".into()),
            ..all.clone()
        };
        assert_eq!(search(&conn, "o", &timed).unwrap().0, 2);
        assert_eq!(search(&conn, "other", &all).unwrap().0, 0);
    }

    #[test]
    fn a_request_keeps_the_attributes_it_dropped() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&conn).unwrap();
        let mut with = row(201, "t1");
        with.dropped = vec!["urn:x:2.0:User:costCenter".into()];
        insert_batch(&conn, &[row(200, "t0"), with], 10, None).unwrap();
        let all = Search {
            limit: 10,
            ..Search::default()
        };
        let (_, page) = search(&conn, "o", &all).unwrap();
        assert_eq!(page[0].dropped, ["urn:x:2.0:User:costCenter"]);
        assert!(page[1].dropped.is_empty());
        let stored: Option<String> = conn
            .query_row("SELECT dropped FROM requests WHERE at = 't0'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, None);
    }
}
