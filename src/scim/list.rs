//! List parameters (RFC 7644 §3.4.2: filter, sortBy, sortOrder, startIndex, count) and the
//! ListResponse envelope.

use super::{LIST_RESPONSE, Request};
use crate::error::{Error, Result};
use crate::model::filter::Filter;

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
    )
}

/// Parses and checks the list parameters, from a query string or a `.search` body.
pub fn params(
    filter: Option<&str>,
    sort_by: Option<&str>,
    sort_order: Option<&str>,
    start_index: Option<&str>,
    count: Option<&str>,
) -> Result<ListParams> {
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
    })
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
        let p = params(None, None, None, Some("0"), Some("5000")).unwrap();
        assert_eq!((p.start_index, p.count), (1, MAX_PAGE));
        let p = params(None, None, Some("Descending"), Some("-3"), Some("-1")).unwrap();
        assert_eq!((p.start_index, p.count, p.descending), (1, 0, true));
        assert!(matches!(
            params(None, None, None, Some("x"), None),
            Err(Error::InvalidValue(_))
        ));
        assert!(matches!(
            params(None, None, Some("up"), None, None),
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
