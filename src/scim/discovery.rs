//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`,
//! generated from the attribute catalogue so they describe exactly what is implemented.

use super::{RESOURCE_TYPE, Reply, Request, SCHEMA, SERVICE_PROVIDER_CONFIG, list};
use crate::error::{Error, Result};
use crate::model::declared;
use crate::model::declared::Types;
use crate::model::schema::{Attr, ResourceType, SCHEMAS, Schema};
use serde_json::{Value, json};

/// scimbox's extension of ServiceProviderConfig: where the keys that sign the
/// organization's SETs are published, and where a poll receiver polls.
pub const EVENTS_CONFIG: &str =
    "urn:scimbox:params:scim:schemas:extension:events:2.0:ServiceProviderConfig";

/// The RFC 9967 §4 `securityEvents` attribute, and the extension naming the JWKS URL (RFC 9967
/// leaves key discovery to the deployment). The URLs sit beside the SCIM base:
/// `{root}/events/{org}/…`.
fn security_events(base_url: &str) -> (Value, Value) {
    let (root, org) = base_url.rsplit_once("/scim/v2/").unwrap_or((base_url, ""));
    (
        json!({
            // No asynchronous SCIM requests (RFC 9967 §2.5.1): every request completes at once.
            "asyncRequest": "none",
            "eventUris": crate::model::events::EVENT_URIS,
        }),
        json!({
            "jwksUri": format!("{root}/events/{org}/jwks"),
            "pollEndpoint": format!("{root}/events/{org}/poll/{{receiverId}}"),
        }),
    )
}

/// The ServiceProviderConfig (RFC 7643 §5), with RFC 9967 §4's `securityEvents` and the
/// events extension when `events` (the organization has a receiver).
pub fn service_provider_config(req: &Request, max_payload: usize, events: bool) -> Value {
    let mut config = base_config(req, max_payload);
    if events {
        let (security_events, events_config) = security_events(&req.base_url);
        config["schemas"] = json!([SERVICE_PROVIDER_CONFIG, EVENTS_CONFIG]);
        config["securityEvents"] = security_events;
        config[EVENTS_CONFIG] = events_config;
    }
    config
}

fn base_config(req: &Request, max_payload: usize) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": super::bulk::MAX_OPERATIONS,
            "maxPayloadSize": max_payload
        },
        "filter": {"supported": true, "maxResults": list::MAX_PAGE},
        // RFC 9865 §4: both index and cursor paging.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": list::DEFAULT_PAGE,
            "maxPageSize": list::MAX_PAGE,
            "cursorTimeout": super::cursor::TIMEOUT_SECS
        },
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with an organization's scimbox API token in the Authorization header",
            "primary": true
        }, oauth_scheme(&req.base_url)],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", req.base_url)
        }
    })
}

/// The OAuth 2.0 client credentials scheme (`auth::clients`, src/oauth): access tokens from
/// the token endpoint, found through the RFC 8414 metadata at the server's root.
fn oauth_scheme(base_url: &str) -> Value {
    let root = base_url
        .rfind("/scim/v2/")
        .map_or(base_url, |i| &base_url[..i]);
    json!({
        "type": "oauth2",
        "name": "OAuth 2.0 client credentials",
        "description": format!(
            "Access tokens from {root}{} for a client secret (RFC 6749 §4.4) or a federated \
             client assertion (RFC 7523), sent as Bearer tokens",
            crate::auth::clients::TOKEN_PATH
        ),
        "specUri": "https://www.rfc-editor.org/rfc/rfc6749",
        "documentationUri": format!("{root}{}", crate::auth::clients::METADATA_PATH),
        "primary": false
    })
}

pub fn resource_type(rt: &'static ResourceType, base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.core.id,
        "schemaExtensions": rt.extensions.iter().map(|s| json!({"schema": s.id, "required": declared::is_required(rt, s)})).collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.name)}
    })
}

fn attribute(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.as_str(),
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.case_exact,
        "mutability": a.mutability.as_str(),
        "returned": a.returned.as_str(),
        "uniqueness": a.uniqueness.as_str(),
    });
    if !a.canonical.is_empty() {
        v["canonicalValues"] = json!(a.canonical);
    }
    if !a.reference_types.is_empty() {
        v["referenceTypes"] = json!(a.reference_types);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = Value::Array(a.sub.iter().map(attribute).collect());
    }
    v
}

pub fn schema(s: &Schema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", s.id)}
    })
}

fn list_of(items: Vec<Value>) -> String {
    let items: Vec<String> = items.iter().map(Value::to_string).collect();
    list::response(items.len() as i64, 1, &items)
}

fn only_get(req: &Request) -> Result<()> {
    match req.method {
        super::Method::Get | super::Method::Head => Ok(()),
        _ => Err(Error::MethodNotAllowed),
    }
}

/// Serves `/ServiceProviderConfig`, `/ResourceTypes[/{id}]` and `/Schemas[/{id}]` for the
/// organization: the built-in schemas, then the extensions it declared (RFC 7643 §7).
pub fn serve(req: &Request, max_payload: usize, types: Types, events: bool) -> Result<Reply> {
    only_get(req)?;
    let base = req.base_url.as_str();
    let resource_types = [types.user, types.group];
    let schemas: Vec<&'static Schema> = SCHEMAS
        .iter()
        .copied()
        .chain(declared::declared_of(types.user))
        .chain(declared::declared_of(types.group))
        .collect();
    let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let body = match segs.as_slice() {
        ["ServiceProviderConfig"] => service_provider_config(req, max_payload, events).to_string(),
        ["ResourceTypes"] => list_of(
            resource_types
                .iter()
                .map(|rt| resource_type(rt, base))
                .collect(),
        ),
        ["ResourceTypes", id] => resource_types
            .iter()
            .find(|rt| rt.name.eq_ignore_ascii_case(id))
            .map(|rt| resource_type(rt, base).to_string())
            .ok_or_else(|| Error::NotFound(format!("no resource type {id:?}")))?,
        ["Schemas"] => list_of(schemas.iter().map(|s| schema(s, base)).collect()),
        ["Schemas", id] => schemas
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .map(|s| schema(s, base).to_string())
            .ok_or_else(|| Error::NotFound(format!("no schema {id:?}")))?,
        _ => return Err(Error::NotFound("no such discovery endpoint".into())),
    };
    Ok(Reply::json(200, body))
}
