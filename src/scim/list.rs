//! List parameters (RFC 7644 §3.4.2: filter, sortBy, sortOrder, startIndex, count) and the
//! ListResponse envelope.

use super::cursor::{self, Cursor, Position};
use super::projection::Projection;
use super::{LIST_RESPONSE, Request};
use crate::app::App;
use crate::error::{Error, Result};
use crate::model::filter::Filter;
use crate::model::query::{Keyset, ListQuery, Sort};

/// The largest page served; advertised as `filter.maxResults` in `/ServiceProviderConfig`.
pub const MAX_PAGE: i64 = 1000;
/// The page size when the client names none.
pub const DEFAULT_PAGE: i64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<Filter>,
    pub sort_by: Option<String>,
    pub descending: bool,
    /// 1-based, as sent (below 1 becomes 1).
    pub start_index: i64,
    pub count: i64,
    /// RFC 9865: `Some("")` asks for the first page of a cursor walk.
    pub cursor: Option<String>,
}

fn integer(name: &str, raw: &str) -> Result<i64> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| Error::InvalidValue(format!("{name} must be an integer, not {raw:?}")))
}

/// The list parameters from a GET query string.
pub fn from_query(req: &Request) -> Result<ListParams> {
    params(
        req.param("filter"),
        req.param("sortBy"),
        req.param("sortOrder"),
        req.param("startIndex"),
        req.param("count"),
        req.param("cursor"),
    )
}

/// Parses and checks the list parameters, from a query string or a `.search` body.
pub fn params(
    filter: Option<&str>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    start_index: Option<&str>,
    count: Option<&str>,
    cursor: Option<&str>,
) -> Result<ListParams> {
    if cursor.is_some() && start_index.is_some() {
        return Err(Error::InvalidValue(
            "use either startIndex (index paging) or cursor (RFC 9865), not both".into(),
        ));
    }
    let filter = match filter.map(str::trim) {
        Some(f) if !f.is_empty() => Some(super::filter::parse_filter(f)?),
        _ => None,
    };
    let descending = match sort_order.map(str::trim) {
        None | Some("") => false,
        Some(o) if o.eq_ignore_ascii_case("ascending") => false,
        Some(o) if o.eq_ignore_ascii_case("descending") => true,
        Some(o) => {
            return Err(Error::InvalidValue(format!(
                "sortOrder must be \"ascending\" or \"descending\", not {o:?}"
            )));
        }
    };
    // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1; a negative count as 0; a count
    // above the maximum is clamped to it.
    let start_index = match start_index {
        Some(s) => integer("startIndex", s)?.max(1),
        None => 1,
    };
    let count = match count {
        Some(c) => integer("count", c)?.clamp(0, MAX_PAGE),
        None => DEFAULT_PAGE,
    };
    Ok(ListParams {
        filter,
        sort_by: sort_by
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        descending,
        start_index,
        count,
        cursor: cursor.map(|c| c.trim().to_string()),
    })
}

/// How a list request is paged: by index (RFC 7644 §3.4.2.4) or by cursor (RFC 9865).
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Index { start_index: i64 },
    Cursor { position: Option<Position> },
}

/// A list request turned into a store query, and what is needed to write the answer.
pub struct Plan {
    pub query: ListQuery,
    mode: Mode,
    count: i64,
    fingerprint: String,
}

/// Plans a list: which rows to fetch and how to page. `what` names the query for cursor
/// binding (resource type, organization, filter and sort), so a cursor is only valid for the
/// query that issued it.
pub fn plan(
    params: &ListParams,
    what: &[&str],
    filter: Option<Filter>,
    sort: Option<Sort>,
    key: &[u8],
    now_unix: i64,
) -> Result<Plan> {
    let fingerprint = cursor::query_fingerprint(what);
    let sorted = sort.is_some();
    let (mode, offset, keyset) = match params.cursor.as_deref() {
        None => (
            Mode::Index {
                start_index: params.start_index,
            },
            params.start_index - 1,
            Keyset::None,
        ),
        Some("") => (Mode::Cursor { position: None }, 0, Keyset::None),
        Some(text) => {
            let c = cursor::decode(key, text, &fingerprint, now_unix)?;
            let (offset, keyset) = match (c.position, sorted) {
                (Position::Offset(o), true) => (o, Keyset::None),
                (Position::After(pk), false) => (0, Keyset::After(pk)),
                (Position::Before(pk), false) => (0, Keyset::Before(pk)),
                _ => {
                    return Err(Error::InvalidCursor(
                        "the cursor does not belong to this query".into(),
                    ));
                }
            };
            (
                Mode::Cursor {
                    position: Some(c.position),
                },
                offset,
                keyset,
            )
        }
    };
    // A cursor page reads one row more than it returns, to know whether a next page exists.
    let extra = i64::from(matches!(mode, Mode::Cursor { .. }) && params.count > 0);
    Ok(Plan {
        query: ListQuery {
            filter,
            sort,
            offset,
            limit: params.count + extra,
            keyset,
        },
        mode,
        count: params.count,
        fingerprint,
    })
}

impl Plan {
    /// Writes the ListResponse for the rows the store returned (`pks` are their row pks, in
    /// order), with `nextCursor`/`previousCursor` when paging by cursor.
    pub fn respond(
        &self,
        key: &[u8],
        now_unix: i64,
        total: i64,
        pks: &[i64],
        mut resources: Vec<String>,
    ) -> String {
        let Mode::Cursor { position } = &self.mode else {
            let start_index = match self.mode {
                Mode::Index { start_index } => start_index,
                Mode::Cursor { .. } => 1,
            };
            return response(total, start_index, &resources);
        };
        let backwards = matches!(position, Some(Position::Before(_)));
        let over = resources.len() as i64 > self.count;
        let mut pks = pks.to_vec();
        if over {
            // Backwards pages were read newest-first and turned around: the extra row is
            // the oldest, at the front.
            if backwards {
                resources.remove(0);
                pks.remove(0);
            } else {
                resources.truncate(self.count as usize);
                pks.truncate(self.count as usize);
            }
        }
        let issue = |p: Position| {
            cursor::encode(
                key,
                &Cursor {
                    position: p,
                    query: self.fingerprint.clone(),
                    issued: now_unix,
                },
            )
        };
        let sorted = self.query.sort.is_some();
        let (first, last) = (pks.first().copied(), pks.last().copied());
        let (next, previous) = if sorted {
            let at = self.query.offset;
            let next = over.then(|| issue(Position::Offset(at + self.count)));
            let previous = (at > 0).then(|| issue(Position::Offset((at - self.count).max(0))));
            (next, previous)
        } else {
            let has_next = if backwards { last.is_some() } else { over };
            let has_previous = if backwards {
                over
            } else {
                position.is_some() && first.is_some()
            };
            (
                last.filter(|_| has_next)
                    .map(|pk| issue(Position::After(pk))),
                first
                    .filter(|_| has_previous)
                    .map(|pk| issue(Position::Before(pk))),
            )
        };
        let mut out = format!(
            "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":{total},\"itemsPerPage\":{}",
            resources.len()
        );
        if let Some(n) = next {
            out.push_str(&format!(",\"nextCursor\":\"{n}\""));
        }
        if let Some(p) = previous {
            out.push_str(&format!(",\"previousCursor\":\"{p}\""));
        }
        out.push_str(",\"Resources\":[");
        out.push_str(&resources.join(","));
        out.push_str("]}");
        out
    }
}

/// Which resource a list is of (it names the query a cursor is bound to).
pub struct Kind {
    pub name: &'static str,
}

pub const USERS: Kind = Kind { name: "Users" };

pub const GROUPS: Kind = Kind { name: "Groups" };

/// Reads a list request's sort, has `check` (the store, through `directory/`) refuse a filter
/// or sort the resource cannot answer, and plans the page (index or cursor). Returns the
/// plan and the clock reading the cursors are issued with.
pub fn plan_request(
    kind: &Kind,
    params: &ListParams,
    org_pk: i64,
    cursor_key: &[u8],
    check: impl Fn(Option<&Filter>, Option<&Sort>) -> Result<()>,
) -> Result<(Plan, i64)> {
    // In the order the SCIM API has always answered: the filter, then the sort.
    check(params.filter.as_ref(), None)?;
    let sort = match &params.sort_by {
        Some(path) => {
            let by = super::filter::parse_patch_path(path)
                .map_err(|e| Error::InvalidValue(format!("sortBy: {e}")))?
                .attr;
            Some(Sort {
                by,
                descending: params.descending,
            })
        }
        None => None,
    };
    check(None, sort.as_ref())?;
    let now_unix = crate::clock::now().unix_timestamp();
    let org = org_pk.to_string();
    let filter_text = format!("{:?}", params.filter);
    let what = [
        kind.name,
        org.as_str(),
        filter_text.as_str(),
        params.sort_by.as_deref().unwrap_or(""),
        if params.descending { "d" } else { "a" },
    ];
    let plan = plan(
        params,
        &what,
        params.filter.clone(),
        sort,
        cursor_key,
        now_unix,
    )?;
    Ok((plan, now_unix))
}

/// A resource type that lists through [`find`]: how to read a page of it and render a row.
pub trait Listed {
    type Row: Send + Sync;
    const KIND: Kind;

    /// One page of the organization's rows and the total that matched.
    fn fetch(
        app: &App,
        org_pk: i64,
        q: ListQuery,
        projection: &Projection,
    ) -> impl Future<Output = Result<(i64, Vec<Self::Row>)>> + Send;

    /// A row as the list shows it.
    fn render(
        app: &App,
        row: &Self::Row,
        base_url: &str,
        projection: &Projection,
    ) -> impl Future<Output = Result<String>> + Send;

    /// The row's pk, which cursors point at.
    fn pk(row: &Self::Row) -> i64;

    /// Refuses a filter or sort the resource's store cannot answer, before any paging, by
    /// the organization's resource types (its declared extensions included).
    fn check(
        types: crate::model::declared::Types,
        filter: Option<&Filter>,
        sort: Option<&Sort>,
    ) -> Result<()>;
}

/// Plans a list request, reads its page and renders each row: what `GET /Users`,
/// `GET /Groups` and their `.search` share.
pub async fn find<L: Listed>(
    app: &App,
    req: &Request,
    params: &ListParams,
    projection: &Projection,
) -> Result<Found> {
    let (plan, now_unix) = plan_request(
        &L::KIND,
        params,
        req.principal.org_pk,
        &app.cursor_key,
        |f, s| L::check(super::types(req), f, s),
    )?;
    let (total, rows) = L::fetch(app, req.principal.org_pk, plan.query.clone(), projection).await?;
    let mut resources = Vec::with_capacity(rows.len());
    for row in &rows {
        resources.push(L::render(app, row, &req.base_url, projection).await?);
    }
    Ok(Found {
        plan,
        now_unix,
        total,
        pks: rows.iter().map(L::pk).collect(),
        resources,
    })
}

/// Answers a list request (`GET` or `.search`) with its ListResponse.
pub async fn search<L: Listed>(
    app: &App,
    req: &Request,
    params: ListParams,
    projection: Projection,
) -> Result<super::Reply> {
    let found = find::<L>(app, req, &params, &projection).await?;
    Ok(super::Reply::json(200, found.respond(&app.cursor_key)))
}

/// A rendered page and what is needed to answer with it.
pub struct Found {
    pub plan: Plan,
    pub now_unix: i64,
    pub total: i64,
    pub pks: Vec<i64>,
    pub resources: Vec<String>,
}

impl Found {
    pub fn respond(self, key: &[u8]) -> String {
        self.plan
            .respond(key, self.now_unix, self.total, &self.pks, self.resources)
    }
}

/// Writes a ListResponse from already-serialized resources.
pub fn response(total: i64, start_index: i64, resources: &[String]) -> String {
    let mut out = String::with_capacity(128 + resources.iter().map(String::len).sum::<usize>());
    out.push_str(&format!(
        "{{\"schemas\":[\"{LIST_RESPONSE}\"],\"totalResults\":{total},\"itemsPerPage\":{},\"startIndex\":{start_index},\"Resources\":[",
        resources.len()
    ));
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters_are_read_as_rfc_7644_says() {
        let p = params(None, None, None, Some("0"), Some("5000"), None).unwrap();
        assert_eq!((p.start_index, p.count), (1, MAX_PAGE));
        let p = params(None, None, Some("Descending"), Some("-3"), Some("-1"), None).unwrap();
        assert_eq!((p.start_index, p.count, p.descending), (1, 0, true));
        assert!(matches!(
            params(None, None, None, Some("x"), None, None),
            Err(Error::InvalidValue(_))
        ));
        assert!(matches!(
            params(None, None, Some("up"), None, None, None),
            Err(Error::InvalidValue(_))
        ));
    }

    #[test]
    fn list_response_has_integer_counts_and_resources() {
        let v: serde_json::Value =
            serde_json::from_str(&response(3, 2, &["{\"id\":\"a\"}".into()])).unwrap();
        assert_eq!(v["totalResults"], 3);
        assert_eq!(v["itemsPerPage"], 1);
        assert_eq!(v["startIndex"], 2);
        assert_eq!(v["Resources"][0]["id"], "a");
        let v: serde_json::Value = serde_json::from_str(&response(0, 1, &[])).unwrap();
        assert_eq!(v["Resources"], serde_json::json!([]));
    }
}
