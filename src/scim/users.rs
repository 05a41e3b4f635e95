//! `/Users` (RFC 7644 §3.3-§3.6 for the User resource of RFC 7643 §4.1).

use super::list;
use super::projection::Projection;
use super::{Reply, Request, json_string, patch};
use crate::app::App;
use crate::directory::{self, users::User};
use crate::error::{Error, Result};
use crate::model::filter::Filter;
use crate::model::query::{ListQuery, Sort};
use crate::model::schema::{ACCESS_USER, ResourceType};
use serde_json::{Map, Value};

/// The default representation, written without re-parsing the stored JSON: the stored text
/// already holds every attribute but `id`, `groups` and `meta`.
pub fn render(user: &User, base: &str) -> String {
    let row = &user.row;
    let inner = row
        .data
        .strip_prefix('{')
        .and_then(|d| d.strip_suffix('}'))
        .unwrap_or("");
    let mut out = String::with_capacity(row.data.len() + 256 + user.teams.len() * 160);
    out.push_str("{\"id\":");
    out.push_str(&json_string(&row.id));
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    if !user.teams.is_empty() {
        out.push_str(",\"groups\":[");
        for (i, (id, display)) in user.teams.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"value\":{},\"display\":{},\"$ref\":{},\"type\":\"direct\"}}",
                json_string(id),
                json_string(display),
                json_string(&format!("{base}/Groups/{id}"))
            ));
        }
        out.push(']');
    }
    out.push_str(&format!(
        ",\"meta\":{{\"resourceType\":\"User\",\"created\":\"{}\",\"lastModified\":\"{}\",\"location\":{},\"version\":{}}}}}",
        row.created,
        row.last_modified,
        json_string(&location(base, &row.id)),
        json_string(&directory::etag(row.version))
    ));
    out
}

pub fn location(base: &str, id: &str) -> String {
    format!("{base}/Users/{id}")
}

fn project(
    user: &User,
    base: &str,
    projection: &Projection,
    access: Option<&Value>,
) -> Result<String> {
    let mut full = render(user, base);
    if let Some(access) = access {
        full = super::with_extension(&full, ACCESS_USER.id, access);
    }
    if projection.is_default() {
        return Ok(full);
    }
    let map: Map<String, Value> = serde_json::from_str(&full)
        .map_err(|e| Error::Internal(format!("rendered user is not JSON: {e}")))?;
    Ok(Value::Object(projection.apply(map)).to_string())
}

pub(crate) fn projection(req: &Request, rt: &'static ResourceType) -> Projection {
    Projection::parse(rt, req.param("attributes"), req.param("excludedAttributes"))
}

/// The user's effective access when the request asked for the access extension (it is
/// computed, so it is never returned by default).
async fn access_if_requested(app: &App, user: &User, p: &Projection) -> Result<Option<Value>> {
    if !p.requests_extension(&ACCESS_USER) {
        return Ok(None);
    }
    let access = directory::access::user_effective(&app.store, user.row.pk).await?;
    Ok(Some(access.to_json()))
}

/// A resource reply with its ETag (and `Location` when created).
async fn resource_reply(
    app: &App,
    status: u16,
    user: &User,
    req: &Request,
    rt: &'static ResourceType,
) -> Result<Reply> {
    let p = projection(req, rt);
    let access = access_if_requested(app, user, &p).await?;
    let body = project(user, &req.base_url, &p, access.as_ref())?;
    let mut reply = Reply::json(status, body).header("etag", directory::etag(user.row.version));
    if status == 201 {
        reply = reply.header("location", location(&req.base_url, &user.row.id));
    }
    Ok(reply)
}

/// The organization's User type, and the attributes of a body under extension URNs it does
/// not declare.
fn undeclared(req: &Request, body: &Value) -> (&'static ResourceType, Vec<String>) {
    let rt = super::types(req).user;
    let dropped = if req.method == super::Method::Patch {
        crate::model::declared::undeclared_in_patch(rt, body)
    } else {
        crate::model::declared::undeclared(rt, body)
    };
    (rt, dropped)
}

pub async fn create(app: &App, req: &Request) -> Result<Reply> {
    let body = req.json()?;
    let (rt, dropped) = undeclared(req, &body);
    let actor = req.actor("SCIM POST /Users".into());
    let user = directory::users::create(
        &app.store,
        &actor,
        req.principal.org_pk,
        body,
        req.now.clone(),
    )
    .await?;
    Ok(resource_reply(app, 201, &user, req, rt)
        .await?
        .dropping(dropped))
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("User {id} not found"))
}

pub async fn get(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let user = directory::users::get(&app.store, req.principal.org_pk, id.to_string())
        .await?
        .ok_or_else(|| not_found(id))?;
    if let Some(reply) = req.not_modified(user.row.version) {
        return Ok(reply);
    }
    let rt = super::types(req).user;
    resource_reply(app, 200, &user, req, rt).await
}

/// PUT replaces every writable attribute (RFC 7644 §3.5.1); read-only ones the client echoes
/// (`id`, `meta`, `groups`) are ignored, so Okta's GET-then-PUT never clears memberships.
pub async fn replace(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let body = req.json()?;
    let (rt, dropped) = undeclared(req, &body);
    let actor = req.actor(format!("SCIM PUT /Users/{id}"));
    let user = directory::users::replace(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        body,
        req.now.clone(),
    )
    .await?;
    Ok(resource_reply(app, 200, &user, req, rt)
        .await?
        .dropping(dropped))
}

pub async fn patch(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let body = req.json()?;
    let (rt, dropped) = undeclared(req, &body);
    let ops = patch::parse_request(&body)?;
    let actor = req.actor(format!("SCIM PATCH /Users/{id}"));
    let user = directory::users::update_with(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        req.now.clone(),
        move |rt, before| patch::apply(rt, before, &ops),
    )
    .await?;
    Ok(resource_reply(app, 200, &user, req, rt)
        .await?
        .dropping(dropped))
}

pub async fn delete(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let actor = req.actor(format!("SCIM DELETE /Users/{id}"));
    directory::users::delete(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        req.now.clone(),
    )
    .await?;
    Ok(Reply::empty(204))
}

/// `GET /Users` with filter, sort and paging; a filter that matches nothing is an empty list.
pub async fn list(app: &App, req: &Request) -> Result<Reply> {
    let params = list::from_query(req)?;
    let rt = super::types(req).user;
    list::search::<Users>(app, req, params, projection(req, rt)).await
}

/// Users as a list reads and renders them.
pub struct Users;

impl list::Listed for Users {
    type Row = User;
    const KIND: list::Kind = list::USERS;

    async fn fetch(
        app: &App,
        org_pk: i64,
        q: ListQuery,
        _: &Projection,
    ) -> Result<(i64, Vec<User>)> {
        directory::users::list(&app.store, org_pk, q).await
    }

    async fn render(app: &App, user: &User, base_url: &str, p: &Projection) -> Result<String> {
        let access = access_if_requested(app, user, p).await?;
        project(user, base_url, p, access.as_ref())
    }

    fn pk(user: &User) -> i64 {
        user.row.pk
    }

    fn check(
        types: crate::model::declared::Types,
        filter: Option<&Filter>,
        sort: Option<&Sort>,
    ) -> Result<()> {
        directory::users::check_query(types.user, filter, sort)
    }
}
