//! What a list asks the store for, in the model's terms: a filter, a sort and a window. The
//! store compiles it for its engine, so nothing above `store/` sees SQL.

use super::filter::{AttrPath, Filter};

/// Sort by one attribute (RFC 7644 §3.4.2.3); ties are broken by creation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub by: AttrPath,
    pub descending: bool,
}

/// Where a page starts in creation order, for cursor pagination (RFC 9865).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyset {
    None,
    After(i64),
    Before(i64),
}

/// What to list: an optional filter, an optional sort (`None` is creation order) and a
/// window. A filter or sort the store cannot answer is `InvalidFilter`/`InvalidValue` from
/// the list call.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Option<Sort>,
    pub offset: i64,
    pub limit: i64,
    /// Keyset pagination in creation order (only with `sort: None`).
    pub keyset: Keyset,
}

impl ListQuery {
    /// The first `limit` rows in creation order, unfiltered.
    pub fn first(limit: i64) -> ListQuery {
        ListQuery {
            filter: None,
            sort: None,
            offset: 0,
            limit,
            keyset: Keyset::None,
        }
    }
}
