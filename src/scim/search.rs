//! Searching with POST (RFC 7644 §3.4.3): `/Users/.search`, `/Groups/.search`, and `/.search`
//! at the organization root, which searches both types (each result says which it is in
//! `meta.resourceType`).

use super::list::{self, ListParams};
use super::projection::Projection;
use super::{Reply, Request, SEARCH_REQUEST, field, groups, users};
use crate::app::App;
use crate::error::{Error, Result};
use serde_json::Value;

/// A SearchRequest body: the list parameters and the projection, as JSON values.
pub struct SearchRequest {
    pub params: ListParams,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

/// A string, or a number written as a string (startIndex, count).
fn text(body: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(Error::InvalidValue(format!(
            "{name} must be a string or a number"
        ))),
    }
}

/// `attributes`: an array of names (the RFC) or a comma-separated string (lenient).
fn names(body: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>> {
    match field(body, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Error::InvalidValue(format!("{name} must be an array of attribute names"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| Some(v.join(","))),
        Some(_) => Err(Error::InvalidValue(format!(
            "{name} must be an array of attribute names"
        ))),
    }
}

pub fn parse(body: &Value) -> Result<SearchRequest> {
    let obj = body.as_object().ok_or_else(|| {
        Error::InvalidSyntax(format!("a search body must be a {SEARCH_REQUEST} object"))
    })?;
    let params = list::params(
        text(obj, "filter")?.as_deref(),
        text(obj, "sortBy")?.as_deref(),
        text(obj, "sortOrder")?.as_deref(),
        text(obj, "startIndex")?.as_deref(),
        text(obj, "count")?.as_deref(),
        text(obj, "cursor")?.as_deref(),
    )?;
    Ok(SearchRequest {
        params,
        attributes: names(obj, "attributes")?,
        excluded: names(obj, "excludedAttributes")?,
    })
}

pub async fn users(app: &App, req: &Request) -> Result<Reply> {
    let s = parse(&req.json()?)?;
    let rt = super::types(req).user;
    let p = Projection::parse(rt, s.attributes.as_deref(), s.excluded.as_deref());
    list::search::<users::Users>(app, req, s.params, p).await
}

pub async fn groups(app: &App, req: &Request) -> Result<Reply> {
    let s = parse(&req.json()?)?;
    let rt = super::types(req).group;
    let p = Projection::parse(rt, s.attributes.as_deref(), s.excluded.as_deref());
    list::search::<groups::Groups>(app, req, s.params, p).await
}

/// Searches Users, then Groups, as one list. A filter that only one type understands
/// (`userName eq …`) matches nothing of the other; index paging only.
pub async fn root(app: &App, req: &Request) -> Result<Reply> {
    let s = parse(&req.json()?)?;
    if s.params.cursor.is_some() {
        return Err(Error::InvalidValue(
            "cursor paging is offered per resource type (/Users, /Groups); use startIndex here"
                .into(),
        ));
    }
    let types = super::types(req);
    let up = Projection::parse(types.user, s.attributes.as_deref(), s.excluded.as_deref());
    let gp = Projection::parse(types.group, s.attributes.as_deref(), s.excluded.as_deref());
    // A filter only one type understands is no error as long as the other type took it.
    let understood = |r: &Result<list::Found>| {
        !matches!(r, Err(Error::InvalidFilter(_) | Error::InvalidValue(_)))
    };
    let users = list::find::<users::Users>(app, req, &s.params, &up).await;
    let (user_total, mut resources) = match &users {
        Ok(f) => (f.total, f.resources.clone()),
        Err(_) => (0, Vec::new()),
    };
    let offset = s.params.start_index - 1;
    let group_params = ListParams {
        start_index: (offset - user_total).max(0) + 1,
        count: (s.params.count - resources.len() as i64).max(0),
        ..s.params.clone()
    };
    let groups = list::find::<groups::Groups>(app, req, &group_params, &gp).await;
    let group_total = match (&users, groups) {
        (_, Ok(f)) => {
            resources.extend(f.resources);
            f.total
        }
        (Ok(_), Err(e)) if !understood(&Err(e.clone())) => 0,
        (_, Err(e)) => return Err(users.err().unwrap_or(e)),
    };
    if let Err(e) = users
        && understood(&Err(e.clone()))
    {
        return Err(e);
    }
    Ok(Reply::json(
        200,
        list::response(user_total + group_total, s.params.start_index, &resources),
    ))
}
