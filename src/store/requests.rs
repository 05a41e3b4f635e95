//! The request inspector's table: SCIM requests as the admin page shows them, already redacted
//! and cut, bounded by count and age.

use super::sql::{self, Conn, Engine, Row, Value, params};
use crate::error::Result;

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

fn from_row(r: &Row<'_>) -> Result<RequestRow> {
    Ok(RequestRow {
        pk: r.get(0)?,
        org_id: r.get(1)?,
        at: r.get(2)?,
        request_id: r.get(3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        query: r.get(6)?,
        status: r.get::<i64>(7)?.clamp(0, 999) as u16,
        latency_us: r.get::<i64>(8)?.max(0) as u64,
        token: r.get(9)?,
        user_agent: r.get(10)?,
        source: r.get(11)?,
        resource_id: r.get(12)?,
        request_body: r.get(13)?,
        request_bytes: r.get::<i64>(14)?.max(0) as usize,
        response_body: r.get(15)?,
        dropped: r
            .get::<Option<String>>(16)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
    })
}

/// Stores a batch of requests, then keeps at most `keep` rows and none older than `cutoff`.
pub fn insert_batch(
    conn: &Conn<'_>,
    rows: &[RequestRow],
    keep: usize,
    cutoff: Option<&str>,
) -> Result<()> {
    for r in rows {
        conn.execute(
            "INSERT INTO requests (org_id, at, request_id, method, path, query, status, latency_us,
         token, user_agent, source, resource_id, request_body, request_bytes, response_body,
         dropped)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
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
                (!r.dropped.is_empty())
                    .then(|| serde_json::Value::from(r.dropped.clone()).to_string())
            ],
        )?;
    }
    // pks only grow, so the newest `keep` rows are those above max(pk) - keep.
    conn.execute(
        "DELETE FROM requests WHERE pk <= (SELECT coalesce(max(pk), 0) FROM requests) - ?",
        params![keep as i64],
    )?;
    if let Some(cutoff) = cutoff {
        conn.execute("DELETE FROM requests WHERE at < ?", params![cutoff])?;
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

/// The conditions of a search and their values. "Any case" is ASCII case on both engines
/// (SQLite's `lower()`; `scimbox_nocase()` on PostgreSQL, whose `lower()` folds more), and
/// `instr` is `strpos` on PostgreSQL.
fn where_clause(engine: Engine, org_id: &str, s: &Search) -> (String, Vec<Value>) {
    let mut sql = String::from("org_id = ?");
    let mut p: Vec<Value> = vec![Value::Text(org_id.to_string())];
    let mut add = |clause: &str, values: Vec<Value>| {
        sql.push_str(" AND ");
        sql.push_str(clause);
        p.extend(values);
    };
    let text = |v: &str| Value::Text(v.to_string());
    if let Some(m) = &s.method {
        add("method = ?", vec![text(&m.to_ascii_uppercase())]);
    }
    if let Some(path) = &s.path {
        let clause = match engine {
            Engine::Sqlite => "instr(lower(path), lower(?)) > 0",
            Engine::Postgres => "strpos(scimbox_nocase(path), scimbox_nocase(?)) > 0",
        };
        add(clause, vec![text(path)]);
    }
    if let Some(st) = &s.status {
        // A prefix of a three-digit status is a range: "4" is 400..=499, "40" 400..=409.
        let digits = st.len() as u32;
        let n: i64 = st.parse().unwrap_or(0);
        let scale = 10_i64.pow(3 - digits.min(3));
        add(
            "status >= ? AND status < ?",
            vec![
                Value::Integer(n.saturating_mul(scale)),
                Value::Integer(n.saturating_add(1).saturating_mul(scale)),
            ],
        );
    }
    if let Some(t) = &s.token {
        add("token = ?", vec![text(t)]);
    }
    if let Some(id) = &s.resource_id {
        let clause = match engine {
            Engine::Sqlite => "(resource_id = ? OR instr(request_body, ?) > 0)",
            Engine::Postgres => "(resource_id = ? OR strpos(request_body, ?) > 0)",
        };
        add(clause, vec![text(id), text(id)]);
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
pub fn search(conn: &Conn<'_>, org_id: &str, s: &Search) -> Result<(i64, Vec<RequestRow>)> {
    let (where_sql, params) = where_clause(conn.engine(), org_id, s);
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM requests WHERE {where_sql}"),
        &sql::param_list(&params),
        |r| r.get(0),
    )?;
    let mut page_params = params;
    let mut page_where = where_sql;
    if let Some(b) = s.before {
        page_where.push_str(" AND pk < ?");
        page_params.push(Value::Integer(b));
    }
    page_params.push(Value::Integer(s.limit));
    let rows = conn.query_map(
        &format!("SELECT {COLUMNS} FROM requests WHERE {page_where} ORDER BY pk DESC LIMIT ?"),
        &sql::param_list(&page_params),
        from_row,
    )?;
    Ok((total, rows))
}

/// (token, requests, failures, last request time).
pub type TokenRate = (Option<String>, i64, i64, String);

/// Per token of an organization, over requests at or after `since`: (token, requests,
/// failures (5xx and 4xx other than 404/409/412), last request time). `None` is the token-less
/// (refused) requests. In token order, the token-less first on both engines (PostgreSQL sorts
/// NULL last and by the database's collation unless told).
pub fn token_health(conn: &Conn<'_>, org_id: &str, since: &str) -> Result<Vec<TokenRate>> {
    let sql = match conn.engine() {
        Engine::Sqlite => {
            "SELECT token, count(*),
                sum(CASE WHEN status >= 500 OR (status >= 400 AND status NOT IN (404, 409, 412))
                    THEN 1 ELSE 0 END),
                max(at)
         FROM requests WHERE org_id = ? AND at >= ? GROUP BY token ORDER BY token"
        }
        Engine::Postgres => {
            "SELECT token, count(*),
                CAST(sum(CASE WHEN status >= 500
                              OR (status >= 400 AND status NOT IN (404, 409, 412))
                         THEN 1 ELSE 0 END) AS BIGINT),
                max(at)
             FROM requests WHERE org_id = ? AND at >= ? GROUP BY token
             ORDER BY token COLLATE \"C\" NULLS FIRST"
        }
    };
    conn.query_map(sql, params![org_id, since], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
}

/// The latest time a write (anything but GET/HEAD) from the IdP touched each resource.
pub fn last_write(conn: &Conn<'_>, org_id: &str, resource_id: &str) -> Result<Option<String>> {
    conn.query_row(
        "SELECT max(at) FROM requests WHERE org_id = ? AND resource_id = ?
             AND method NOT IN ('GET', 'HEAD') AND status < 300",
        params![org_id, resource_id],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::testing::stores;

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

    fn insert(store: &Store, rows: Vec<RequestRow>, keep: usize, cutoff: Option<&'static str>) {
        store
            .write_blocking(move |c| insert_batch(c, &rows, keep, cutoff))
            .unwrap()
    }

    fn found(store: &Store, org: &'static str, s: &Search) -> (i64, Vec<RequestRow>) {
        let s = s.clone();
        store.read_blocking(move |c| search(c, org, &s)).unwrap()
    }

    #[test]
    fn bounded_by_count_and_age_and_searchable() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let rows: Vec<_> = (0..10)
                .map(|i| row(if i % 3 == 0 { 401 } else { 200 }, &format!("t{i:02}")))
                .collect();
            insert(&store, rows, 6, Some("t03"));
            let all = Search {
                limit: 100,
                ..Search::default()
            };
            let (total, page) = found(&store, "o", &all);
            assert_eq!(total, 6, "{engine}");
            assert_eq!(page[0].at, "t09", "{engine}");
            insert(&store, vec![], 6, Some("t06"));
            assert_eq!(found(&store, "o", &all).0, 4, "{engine}");
            let failing = Search {
                status: Some("4".into()),
                ..all.clone()
            };
            assert_eq!(found(&store, "o", &failing).0, 2, "{engine}");
            let timed = Search {
                since: Some("t07".into()),
                until: Some("t09".into()),
                ..all.clone()
            };
            assert_eq!(found(&store, "o", &timed).0, 2, "{engine}");
            assert_eq!(found(&store, "other", &all).0, 0, "{engine}");
            // A batch larger than the bound keeps its newest.
            let rows: Vec<_> = (10..15).map(|i| row(200, &format!("t{i:02}"))).collect();
            insert(&store, rows, 3, None);
            let (total, page) = found(&store, "o", &all);
            assert_eq!(total, 3, "{engine}");
            let ats: Vec<_> = page.iter().map(|r| r.at.as_str()).collect();
            assert_eq!(ats, ["t14", "t13", "t12"], "{engine}");
            store.close();
        }
    }

    #[test]
    fn a_request_keeps_the_attributes_it_dropped() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let mut with = row(201, "t1");
            with.dropped = vec!["urn:x:2.0:User:costCenter".into()];
            insert(&store, vec![row(200, "t0"), with], 10, None);
            let all = Search {
                limit: 10,
                ..Search::default()
            };
            let (_, page) = found(&store, "o", &all);
            assert_eq!(page[0].dropped, ["urn:x:2.0:User:costCenter"], "{engine}");
            assert!(page[1].dropped.is_empty(), "{engine}");
            let stored: Option<String> = store
                .read_blocking(|c| {
                    c.query_row(
                        "SELECT dropped FROM requests WHERE at = 't0'",
                        params![],
                        |r| r.get(0),
                    )
                })
                .unwrap();
            assert_eq!(stored, None, "{engine}");
            store.close();
        }
    }

    /// Every row's column reads back as written, and each search field narrows alike on both
    /// engines: the path in any ASCII case (and only ASCII case), a resource named by the
    /// path or mentioned in the body, a method in any case, status ranges, paging by pk.
    #[test]
    fn every_search_field_narrows_alike() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let full = RequestRow {
                org_id: "o".into(),
                at: "t01".into(),
                request_id: "req-1".into(),
                method: "PATCH".into(),
                path: "/scim/v2/o/Groups/g1".into(),
                query: "attributes=members".into(),
                status: 204,
                latency_us: 1234,
                token: Some("okta".into()),
                user_agent: Some("Okta SCIM".into()),
                source: Some("10.0.0.1".into()),
                resource_id: Some("g1".into()),
                request_body: r#"{"Operations":[{"value":[{"value":"u7"}]}]}"#.into(),
                request_bytes: 44,
                response_body: String::new(),
                dropped: vec![],
                pk: 0,
            };
            let mut refused = row(401, "t02");
            refused.path = "/scim/v2/o/Üsers".into();
            let mut failed = row(503, "t03");
            failed.token = Some("entra".into());
            failed.method = "POST".into();
            insert(&store, vec![full.clone(), refused, failed], 100, None);
            let all = Search {
                limit: 100,
                ..Search::default()
            };
            let (_, page) = found(&store, "o", &all);
            let back = page.last().unwrap().clone();
            assert!(back.pk > 0, "{engine}");
            assert_eq!(RequestRow { pk: 0, ..back }, full, "{engine}");
            let count = |s: Search| found(&store, "o", &s).0;
            let with = |f: fn(&mut Search)| {
                let mut s = all.clone();
                f(&mut s);
                count(s)
            };
            assert_eq!(with(|s| s.path = Some("GROUPS/G1".into())), 1, "{engine}");
            assert_eq!(with(|s| s.path = Some("/users".into())), 1, "{engine}");
            // Only ASCII letters fold: Ü is not ü.
            assert_eq!(with(|s| s.path = Some("üsers".into())), 0, "{engine}");
            assert_eq!(with(|s| s.path = Some("Üsers".into())), 1, "{engine}");
            assert_eq!(with(|s| s.method = Some("patch".into())), 1, "{engine}");
            assert_eq!(with(|s| s.resource_id = Some("g1".into())), 1, "{engine}");
            assert_eq!(
                with(|s| s.resource_id = Some("u7".into())),
                1,
                "{engine}: in the body"
            );
            assert_eq!(with(|s| s.resource_id = Some("u8".into())), 0, "{engine}");
            assert_eq!(with(|s| s.request_id = Some("req-1".into())), 1, "{engine}");
            assert_eq!(with(|s| s.token = Some("entra".into())), 1, "{engine}");
            assert_eq!(with(|s| s.status = Some("20".into())), 1, "{engine}");
            assert_eq!(with(|s| s.status = Some("401".into())), 1, "{engine}");
            assert_eq!(with(|s| s.status = Some("5".into())), 1, "{engine}");
            assert_eq!(with(|s| s.status = Some("3".into())), 0, "{engine}");
            // Pages: newest first, then those below the last pk seen; the total stays.
            let first = Search {
                limit: 2,
                ..all.clone()
            };
            let (total, one) = found(&store, "o", &first);
            assert_eq!((total, one.len()), (3, 2), "{engine}");
            let next = Search {
                before: Some(one[1].pk),
                ..first
            };
            let (total, two) = found(&store, "o", &next);
            assert_eq!((total, two.len()), (3, 1), "{engine}");
            assert_eq!(two[0].at, "t01", "{engine}");
            store.close();
        }
    }

    /// Per token: requests, failures (not 404/409/412), the last time; the token-less first.
    /// And the last successful write to a resource.
    #[test]
    fn token_health_and_last_write() {
        let (_dir, stores) = stores();
        for (engine, store) in stores {
            let mut rows = Vec::new();
            for (i, (token, status)) in [
                (Some("okta"), 200),
                (Some("okta"), 404),
                (Some("okta"), 400),
                (Some("okta"), 500),
                (None, 401),
                (Some("Entra"), 409),
            ]
            .into_iter()
            .enumerate()
            {
                let mut r = row(status, &format!("t{i}"));
                r.token = token.map(str::to_string);
                r.method = "PUT".into();
                r.resource_id = Some("u1".into());
                rows.push(r);
            }
            let mut read = row(200, "t9");
            read.resource_id = Some("u1".into());
            rows.push(read);
            insert(&store, rows, 100, None);
            let health = store.read_blocking(|c| token_health(c, "o", "t1")).unwrap();
            assert_eq!(
                health,
                vec![
                    (None, 2, 1, "t9".to_string()),
                    (Some("Entra".to_string()), 1, 0, "t5".to_string()),
                    (Some("okta".to_string()), 3, 2, "t3".to_string()),
                ],
                "{engine}"
            );
            let none = store.read_blocking(|c| token_health(c, "x", "t0")).unwrap();
            assert!(none.is_empty(), "{engine}");
            let last = |id: &'static str| store.read_blocking(move |c| last_write(c, "o", id));
            assert_eq!(last("u1").unwrap().as_deref(), Some("t0"), "{engine}");
            assert_eq!(last("u2").unwrap(), None, "{engine}");
            store.close();
        }
    }
}
