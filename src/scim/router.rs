//! The SCIM route table: one match over (method, path segments). The same table is listed in
//! [`ROUTES`] so tests can walk every route.

use super::{Method, Reply, Request, bulk, discovery, groups, search, users};
use crate::app::App;
use crate::error::{Error, Result};

/// Every SCIM route as (method, path pattern below the organization's base URL).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/ServiceProviderConfig"),
    ("GET", "/ResourceTypes"),
    ("GET", "/ResourceTypes/User"),
    ("GET", "/Schemas"),
    ("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"),
    ("GET", "/Users"),
    ("POST", "/Users"),
    ("GET", "/Users/{id}"),
    ("PUT", "/Users/{id}"),
    ("PATCH", "/Users/{id}"),
    ("DELETE", "/Users/{id}"),
    ("POST", "/Bulk"),
    ("POST", "/.search"),
    ("POST", "/Users/.search"),
    ("POST", "/Groups/.search"),
    ("GET", "/Groups"),
    ("POST", "/Groups"),
    ("GET", "/Groups/{id}"),
    ("PUT", "/Groups/{id}"),
    ("PATCH", "/Groups/{id}"),
    ("DELETE", "/Groups/{id}"),
];

pub async fn route(app: &App, req: &Request) -> Result<Reply> {
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match (req.method, segs.as_slice()) {
        (_, ["ServiceProviderConfig" | "ResourceTypes" | "Schemas", ..]) => {
            // An organization without an event receiver emits no events (the outbox writes
            // nothing for it), so only one with a receiver advertises RFC 9967's additions.
            let events = segs.as_slice() == ["ServiceProviderConfig"]
                && !crate::directory::events::list(&app.store, req.principal.org_pk)
                    .await?
                    .is_empty();
            discovery::serve(req, app.limits.max_body_bytes, super::types(req), events)
        }
        (_, ["Bulk"]) => bulk::serve(app, req).await,
        (Method::Post, [".search"]) => search::root(app, req).await,
        (_, [".search"]) => Err(Error::MethodNotAllowed),
        (Method::Post, ["Users", ".search"]) => search::users(app, req).await,
        (Method::Post, ["Groups", ".search"]) => search::groups(app, req).await,
        (_, ["Users" | "Groups", ".search"]) => Err(Error::MethodNotAllowed),
        (Method::Get | Method::Head, ["Users"]) => users::list(app, req).await,
        (Method::Post, ["Users"]) => users::create(app, req).await,
        (_, ["Users"]) => Err(Error::MethodNotAllowed),
        (Method::Get | Method::Head, ["Users", id]) => users::get(app, req, id).await,
        (Method::Put, ["Users", id]) => users::replace(app, req, id).await,
        (Method::Patch, ["Users", id]) => users::patch(app, req, id).await,
        (Method::Delete, ["Users", id]) => users::delete(app, req, id).await,
        (_, ["Users", _]) => Err(Error::MethodNotAllowed),
        (Method::Get | Method::Head, ["Groups"]) => groups::list(app, req).await,
        (Method::Post, ["Groups"]) => groups::create(app, req).await,
        (_, ["Groups"]) => Err(Error::MethodNotAllowed),
        (Method::Get | Method::Head, ["Groups", id]) => groups::get(app, req, id).await,
        (Method::Put, ["Groups", id]) => groups::replace(app, req, id).await,
        (Method::Patch, ["Groups", id]) => groups::patch(app, req, id).await,
        (Method::Delete, ["Groups", id]) => groups::delete(app, req, id).await,
        (_, ["Groups", _]) => Err(Error::MethodNotAllowed),
        (_, ["Me", ..]) => Err(Error::NotImplemented(
            "/Me is not supported: tokens belong to organizations, not users".into(),
        )),
        _ => Err(Error::NotFound(format!(
            "no SCIM endpoint /{}",
            req.segments.join("/")
        ))),
    }
}
