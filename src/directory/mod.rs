//! The operations every edge shares (the SCIM API, the admin page, the CLI): users, Teams,
//! organizations and tokens. Rules that must hold whoever acts (no nested Teams, SCIM-managed
//! Teams, the audit record) live here, so no edge can bypass them.

pub mod access;
pub mod clients;
pub mod events;
pub mod guard;
pub mod history;
pub mod orgs;
pub mod rules;
pub mod schemas;
pub mod teams;
pub mod tokens;
pub mod transfer;
pub mod users;

use crate::error::{Error, Result};

/// Who made a change and why, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Actor {
    /// `token:<name>`, `admin:<name>` or `cli`.
    pub who: String,
    /// What the change was made through, e.g. `SCIM PATCH /Users/…` or an admin's reason.
    pub why: String,
    /// The request the change came with, when it came over HTTP.
    pub via: Via,
}

/// The HTTP request behind a change: its id (`X-Request-Id`, which the request inspector
/// shows too), the caller's address and user agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Via {
    pub request_id: Option<String>,
    pub source: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    /// Writes the audit record of a change this actor made, in the change's own transaction:
    /// `what` is (action, resource type, resource id); `before`/`after` the states as text.
    pub(crate) fn record(
        &self,
        conn: &crate::store::Conn,
        org_pk: i64,
        what: (&str, &str, &str),
        before: Option<&str>,
        after: Option<&str>,
        now: &str,
    ) -> Result<()> {
        let (action, resource_type, resource_id) = what;
        crate::store::audit::insert(
            conn,
            &crate::store::audit::Entry {
                org_pk,
                actor: &self.who,
                action,
                resource_type,
                resource_id,
                reason: Some(&self.why),
                before,
                after,
                request_id: self.via.request_id.as_deref(),
                source: self.via.source.as_deref(),
                user_agent: self.via.user_agent.as_deref(),
            },
            now,
        )
    }
}

/// An `If-Match` precondition (RFC 7644 §3.14): a list of entity tags or `*`.
#[derive(Debug, Clone, PartialEq)]
pub enum Precondition {
    Any,
    OneOf(Vec<String>),
}

impl Precondition {
    /// Parses an `If-Match` header value.
    pub fn parse(header: &str) -> Precondition {
        if header.trim() == "*" {
            return Precondition::Any;
        }
        Precondition::OneOf(
            header
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        )
    }

    /// Checks the current version. Weak comparison: `W/"3"` and `"3"` both match version 3.
    pub fn check(pre: Option<&Precondition>, version: i64) -> Result<()> {
        match pre {
            None | Some(Precondition::Any) => Ok(()),
            Some(Precondition::OneOf(tags)) => {
                let current = version.to_string();
                let hit = tags.iter().any(|t| {
                    let t = t.strip_prefix("W/").unwrap_or(t);
                    t.trim_matches('"') == current
                });
                if hit {
                    Ok(())
                } else {
                    Err(Error::PreconditionFailed)
                }
            }
        }
    }
}

/// The entity tag of a resource version: weak, since the representation varies with the
/// request's `attributes`.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A stored resource as the text kept in its `data` column.
pub(crate) fn to_text(data: &serde_json::Map<String, serde_json::Value>) -> Result<String> {
    serde_json::to_string(data).map_err(|e| Error::Internal(format!("serialize resource: {e}")))
}

/// A stored resource's `data` text read back; anything else is a damaged row, an internal error.
pub(crate) fn parse_stored(
    text: &str,
    what: &str,
    id: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored {what} {id} is not JSON: {e}")))
}

/// A stored resource changed and what the change came to: the version update both users and
/// Teams go through. Checks `If-Match` against the stored version, hands the stored resource
/// to `change` and brings the result into canonical form (`model::resource::finish`: required
/// attributes, `schemas`). `None` when nothing changed (so nothing is written and the version
/// stays), else the new resource and its stored text.
pub(crate) fn revise<F>(
    rt: &'static crate::model::schema::ResourceType,
    (what, id): (&str, &str),
    (version, stored): (i64, &str),
    pre: Option<&Precondition>,
    change: F,
) -> Result<Option<(serde_json::Map<String, serde_json::Value>, String)>>
where
    F: FnOnce(
        &'static crate::model::schema::ResourceType,
        serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>>,
{
    Precondition::check(pre, version)?;
    let before = parse_stored(stored, what, id)?;
    let mut after = change(rt, before.clone())?;
    crate::model::resource::finish(rt, &mut after)?;
    crate::model::declared::check_immutable(rt, &before, &after)?;
    if after == before {
        return Ok(None);
    }
    let text = to_text(&after)?;
    Ok(Some((after, text)))
}

/// A fresh resource id: a UUIDv7 (RFC 9562), time-ordered in its first 48 bits and random in
/// the rest. Ordered ids land at the end of the id indexes instead of on a random page, which
/// keeps the pages a burst of creates touches few; they stay opaque to clients.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
