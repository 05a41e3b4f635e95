//! The SCIM protocol layer (RFC 7644): requests in, `Reply` out, with no sockets and no hyper
//! types, so every operation is testable with a store and a body.

pub mod bulk;
pub mod cursor;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
#[cfg(test)]
mod patch_cases;
pub mod projection;
pub mod router;
pub mod search;
pub mod users;

use crate::auth::bearer::Principal;
use crate::directory::{Actor, Precondition};
use crate::error::{Error, Result};

pub const MEDIA_TYPE: &str = "application/scim+json";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The HTTP methods SCIM uses; anything else is `Other` (405).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Other,
}

/// A SCIM request with everything the protocol layer needs, already authenticated.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// Path segments after `/scim/v2/{orgId}`, percent-decoded.
    pub segments: Vec<String>,
    /// Query parameters, `+` and percent-decoding applied once.
    pub query: Vec<(String, String)>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    /// `http(s)://host/scim/v2/{orgId}`, the base of every `location` and `$ref`.
    pub base_url: String,
    pub body: Vec<u8>,
    pub principal: Principal,
    /// The request's clock reading, in the stored format.
    pub now: String,
    /// The HTTP request it came with, for the audit record.
    pub via: crate::directory::Via,
}

impl Request {
    /// A query parameter by name, case-insensitively (clients vary `startIndex`'s case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `If-None-Match` (RFC 7644 §3.14): a 304 when it names the current version.
    pub fn not_modified(&self, version: i64) -> Option<Reply> {
        let etag = crate::directory::etag(version);
        let tags = self.if_none_match.as_deref()?;
        (tags.trim() == "*" || tags.split(',').any(|t| t.trim() == etag))
            .then(|| Reply::empty(304).header("etag", etag))
    }

    pub fn actor(&self, why: String) -> Actor {
        Actor {
            who: self.principal.actor(),
            why,
            via: self.via.clone(),
        }
    }

    pub fn precondition(&self) -> Option<Precondition> {
        self.if_match.as_deref().map(Precondition::parse)
    }

    /// The body as JSON; a body that is not JSON is `invalidSyntax`.
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::InvalidSyntax("the request needs a JSON body".into()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::InvalidSyntax(format!("the request body is not valid JSON: {e}")))
    }
}

/// What the protocol layer answers; `http` turns it into a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// A SCIM JSON body; `None` for 204 and 304.
    pub body: Option<String>,
    /// Attributes of the request no schema of the organization declares, which were
    /// dropped (`urn:…:User:costCenter`); the request inspector shows them.
    pub dropped: Vec<String>,
}

impl Reply {
    pub fn json(status: u16, body: String) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            dropped: Vec::new(),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            dropped: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Notes the attributes of the request that were dropped as undeclared.
    pub fn dropping(mut self, dropped: Vec<String>) -> Reply {
        self.dropped = dropped;
        self
    }
}

/// The organization's resource types, its declared schema extensions included: read with
/// the token (see `auth::bearer::Principal::types`), so no request pays a read for them.
pub fn types(req: &Request) -> crate::model::declared::Types {
    req.principal.types
}

pub use crate::model::resource::field;

/// Writes `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Merges computed extension attributes (returned only on request) into a rendered resource,
/// listing the extension in `schemas`.
pub fn with_extension(rendered: &str, urn: &str, attrs: &serde_json::Value) -> String {
    use serde_json::{Map, Value};
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(rendered) else {
        return rendered.to_string();
    };
    let ext = map
        .entry(urn.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Value::Object(ext), Value::Object(attrs)) = (ext, attrs) {
        ext.extend(attrs.clone());
    }
    if let Some(Value::Array(schemas)) = map.get_mut("schemas") {
        let urn = Value::String(urn.into());
        if !schemas.contains(&urn) {
            schemas.push(urn);
        }
    }
    Value::Object(map).to_string()
}
