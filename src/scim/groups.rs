//! `/Groups`: SCIM's name for Teams (RFC 7643 §4.2), in the shapes Okta and Entra send.
//!
//! Membership never goes through the JSON of a Group: PATCH operations on `members` become
//! membership changes (add, remove, replace) on their own table, everything else goes through
//! the PATCH engine like a User attribute.

use super::list;
use super::patch::{self, OpKind, Operation};
use super::projection::Projection;
use super::{Reply, Request, json_string};
use crate::app::App;
use crate::directory::teams::{self, MemberOp, Origin, Team};
use crate::directory::{self};
use crate::error::{Error, Result};
use crate::model::filter::Filter;
use crate::model::query::{ListQuery, Sort};
use crate::model::resource;
use crate::model::schema::{GROUP_TYPE, ResourceType, TEAM_GROUP};
use serde_json::{Map, Value};

pub fn location(base: &str, id: &str) -> String {
    format!("{base}/Groups/{id}")
}

/// The representation, written without re-parsing the stored JSON.
pub fn render(team: &Team, base: &str, access: Option<&Value>) -> String {
    let row = &team.row;
    let inner = row
        .data
        .strip_prefix('{')
        .and_then(|d| d.strip_suffix('}'))
        .unwrap_or("");
    let members = team.members.as_deref().unwrap_or(&[]);
    let mut out = String::with_capacity(row.data.len() + 256 + members.len() * 150);
    out.push_str("{\"id\":");
    out.push_str(&json_string(&row.id));
    if !inner.is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    if !members.is_empty() {
        out.push_str(",\"members\":[");
        for (i, (id, display)) in members.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"value\":");
            out.push_str(&json_string(id));
            out.push_str(",\"display\":");
            out.push_str(&json_string(display));
            out.push_str(",\"type\":\"User\",\"$ref\":");
            out.push_str(&json_string(&super::users::location(base, id)));
            out.push('}');
        }
        out.push(']');
    }
    out.push_str(&format!(
        ",\"meta\":{{\"resourceType\":\"Group\",\"created\":\"{}\",\"lastModified\":\"{}\",\"location\":{},\"version\":{}}}}}",
        row.created,
        row.last_modified,
        json_string(&location(base, &row.id)),
        json_string(&directory::etag(row.version))
    ));
    match access {
        None => out,
        Some(access) => super::with_extension(&out, TEAM_GROUP.id, access),
    }
}

fn projection(req: &Request) -> Projection {
    projection_in(req, &GROUP_TYPE)
}

/// The projection by the organization's Group type (its declared extensions included).
pub(crate) fn projection_in(req: &Request, rt: &'static ResourceType) -> Projection {
    Projection::parse(rt, req.param("attributes"), req.param("excludedAttributes"))
}

fn project(team: &Team, base: &str, p: &Projection, access: Option<&Value>) -> Result<String> {
    let full = render(team, base, access);
    if p.is_default() {
        return Ok(full);
    }
    let map: Map<String, Value> = serde_json::from_str(&full)
        .map_err(|e| Error::Internal(format!("rendered group is not JSON: {e}")))?;
    Ok(Value::Object(p.apply(map)).to_string())
}

/// The Team's roles when the request asked for the Team extension.
async fn access_if_requested(app: &App, team: &Team, p: &Projection) -> Result<Option<Value>> {
    if !p.requests_extension(&TEAM_GROUP) {
        return Ok(None);
    }
    let access = teams::access_of(&app.store, team.row.clone()).await?;
    Ok(Some(access.to_json()))
}

async fn resource_reply(app: &App, status: u16, team: &Team, req: &Request) -> Result<Reply> {
    let p = projection_in(req, super::types(req).group);
    let access = access_if_requested(app, team, &p).await?;
    let body = project(team, &req.base_url, &p, access.as_ref())?;
    let mut reply = Reply::json(status, body).header("etag", directory::etag(team.row.version));
    if status == 201 {
        reply = reply.header("location", location(&req.base_url, &team.row.id));
    }
    Ok(reply)
}

/// Member values of a body's `members`, refusing Groups by their declared type too.
fn member_values(value: &Value) -> Result<Vec<String>> {
    let refs = resource::members_of(value)?;
    if let Some(group) = refs.iter().find(|m| {
        m.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("Group"))
    }) {
        return Err(Error::InvalidValue(format!(
            "{} is a Group: nested Teams are not supported (access given to one Team never \
             flows to another); add its users instead",
            group.value
        )));
    }
    Ok(refs.into_iter().map(|m| m.value).collect())
}

fn members_field(body: &Value) -> Option<&Value> {
    super::field(body.as_object()?, "members")
}

pub async fn create(app: &App, req: &Request) -> Result<Reply> {
    let body = req.json()?;
    // The attributes are checked before the members, as the API has always answered; the
    // directory brings them into canonical form again when it writes.
    let data = resource::normalize(super::types(req).group, &body)?;
    let members = members_field(&body)
        .map(member_values)
        .transpose()?
        .unwrap_or_default();
    let actor = req.actor("SCIM POST /Groups".into());
    let team = teams::create(
        &app.store,
        &actor,
        req.principal.org_pk,
        data,
        members,
        Origin::Scim,
        req.now.clone(),
    )
    .await?;
    resource_reply(app, 201, &team, req).await
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("Group {id} not found"))
}

pub async fn get(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let with_members = projection(req).returns("members");
    let team = teams::get(
        &app.store,
        req.principal.org_pk,
        id.to_string(),
        with_members,
    )
    .await?
    .ok_or_else(|| not_found(id))?;
    if let Some(reply) = req.not_modified(team.row.version) {
        return Ok(reply);
    }
    resource_reply(app, 200, &team, req).await
}

/// PUT replaces the attributes; `members`, when present, replaces the member list (Okta's
/// wizard apps push membership this way). A PUT without `members` leaves membership alone,
/// so a rename can never empty a Team by accident.
pub async fn replace(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let body = req.json()?;
    let data = resource::normalize(super::types(req).group, &body)?;
    let ops = match members_field(&body) {
        Some(m) => vec![MemberOp::Replace(member_values(m)?)],
        None => Vec::new(),
    };
    let actor = req.actor(format!("SCIM PUT /Groups/{id}"));
    let team = teams::replace(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        data,
        ops,
        Origin::Scim,
        projection(req).returns("members"),
        req.now.clone(),
    )
    .await?;
    resource_reply(app, 200, &team, req).await
}

/// Splits PATCH operations into membership changes and attribute operations. The two touch
/// disjoint state, so each kind keeps its own order.
pub fn split_operations(ops: Vec<Operation>) -> Result<(Vec<MemberOp>, Vec<Operation>)> {
    let mut members = Vec::new();
    let mut attrs = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        let at = |e: Error| match e {
            Error::InvalidValue(d) => Error::InvalidValue(format!("operation {i}: {d}")),
            Error::InvalidPath(d) => Error::InvalidPath(format!("operation {i}: {d}")),
            other => other,
        };
        match &op.path {
            None => {
                // A path-less value may carry `members` beside other attributes (Q6: a value
                // without `members` never touches them).
                let mut op = op;
                if let Some(Value::Object(value)) = &mut op.value {
                    let key = value
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case("members"))
                        .cloned();
                    if let Some(key) = key {
                        let list = value.remove(&key).unwrap_or(Value::Null);
                        let values = member_values(&list).map_err(at)?;
                        members.push(match op.op {
                            OpKind::Replace => MemberOp::Replace(values),
                            _ => MemberOp::Add(values),
                        });
                    }
                    if !value.is_empty() {
                        attrs.push(op);
                    }
                } else {
                    attrs.push(op);
                }
            }
            Some(path) if patch::is_members_path(path) => {
                members.push(member_op(&op, path).map_err(at)?);
            }
            Some(_) => attrs.push(op),
        }
    }
    Ok((members, attrs))
}

fn member_op(op: &Operation, path: &str) -> Result<MemberOp> {
    let parsed = super::filter::parse_patch_path(path)?;
    if parsed.attr.sub.is_some() || parsed.sub_after_filter.is_some() {
        return Err(Error::InvalidPath(format!(
            "{path}: members are added, removed or replaced whole, not by sub-attribute"
        )));
    }
    let values = || member_values(op.value.as_ref().unwrap_or(&Value::Null));
    Ok(match (op.op, parsed.filter) {
        (OpKind::Add, None) => MemberOp::Add(values()?),
        (OpKind::Replace, None) => MemberOp::Replace(values()?),
        // Entra's legacy removal names the members in `value`: only those leave, never all
        // of them (quirk Q1). Without a value, RFC 7644 §3.5.2.2 removes every member.
        (OpKind::Remove, None) => match &op.value {
            Some(v) if !v.is_null() => MemberOp::Remove(values()?),
            _ => MemberOp::RemoveAll,
        },
        (OpKind::Remove, Some(filter)) => MemberOp::RemoveMatching(filter),
        (_, Some(_)) => {
            return Err(Error::InvalidPath(format!(
                "{path}: a filtered members path can only be removed"
            )));
        }
    })
}

/// Group PATCH answers 204 (what Entra expects, Q16), or 200 with the Group when the request
/// names `attributes` or `excludedAttributes`.
pub async fn patch(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let ops = patch::parse_request(&req.json()?)?;
    let (member_ops, attr_ops) = split_operations(ops)?;
    let actor = req.actor(format!("SCIM PATCH /Groups/{id}"));
    let wants_body = req.param("attributes").is_some() || req.param("excludedAttributes").is_some();
    let team = teams::update(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        member_ops,
        Origin::Scim,
        wants_body && projection(req).returns("members"),
        req.now.clone(),
        move |rt, before| {
            if attr_ops.is_empty() {
                Ok(before)
            } else {
                patch::apply(rt, before, &attr_ops)
            }
        },
    )
    .await?;
    if wants_body {
        resource_reply(app, 200, &team, req).await
    } else {
        Ok(Reply::empty(204).header("etag", directory::etag(team.row.version)))
    }
}

pub async fn delete(app: &App, req: &Request, id: &str) -> Result<Reply> {
    let actor = req.actor(format!("SCIM DELETE /Groups/{id}"));
    teams::delete(
        &app.store,
        &actor,
        req.principal.org_pk,
        id.to_string(),
        req.precondition(),
        Origin::Scim,
        req.now.clone(),
    )
    .await?;
    Ok(Reply::empty(204))
}

pub async fn list(app: &App, req: &Request) -> Result<Reply> {
    let params = list::from_query(req)?;
    let rt = super::types(req).group;
    list::search::<Groups>(app, req, params, projection_in(req, rt)).await
}

/// Teams as a list of Groups reads and renders them.
pub struct Groups;

impl list::Listed for Groups {
    type Row = Team;
    const KIND: list::Kind = list::GROUPS;

    async fn fetch(
        app: &App,
        org_pk: i64,
        q: ListQuery,
        p: &Projection,
    ) -> Result<(i64, Vec<Team>)> {
        teams::list(&app.store, org_pk, q, p.returns("members")).await
    }

    async fn render(app: &App, team: &Team, base_url: &str, p: &Projection) -> Result<String> {
        let access = access_if_requested(app, team, p).await?;
        project(team, base_url, p, access.as_ref())
    }

    fn pk(team: &Team) -> i64 {
        team.row.pk
    }

    fn check(
        types: crate::model::declared::Types,
        filter: Option<&Filter>,
        sort: Option<&Sort>,
    ) -> Result<()> {
        teams::check_query(types.group, filter, sort)
    }
}
