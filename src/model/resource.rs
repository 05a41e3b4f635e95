//! Turning a client's resource JSON into the canonical stored form, by the catalogue.
//!
//! Canonical means: attribute names spelled as the schema spells them; extension attributes
//! under their schema's URN; `null`, empty arrays and read-only values (`id`, `meta`, `groups`,
//! Okta's echoed ids) dropped, since RFC 7644 §3.5.1 says read-only values are ignored;
//! Entra's string booleans read as booleans; a bare value where a complex one is expected
//! (Entra's `"manager": "id"`) wrapped as `{"value": …}`; everything else kept exactly as sent.

use crate::error::{Error, Result};
use crate::model::schema::{Attr, AttrType, Mutability, ResourceType, Schema};
use serde_json::{Map, Value};

/// A member of a SCIM JSON object by name, case-insensitively: clients vary the case of
/// structural names (`Operations`, `op`, `members`, `value`), and RFC 7643 §2.1 makes
/// attribute names case-insensitive.
pub fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The address a person is reached at: the value of the email marked primary, else of the
/// first one (RFC 7643 §4.1.2 allows at most one primary).
pub fn primary_email(user: &Value) -> Option<&str> {
    let list = user.get("emails")?.as_array()?;
    let chosen = list
        .iter()
        .find(|e| e["primary"] == true)
        .or_else(|| list.first())?;
    chosen["value"].as_str()
}

/// Normalizes a whole resource body (POST or PUT). Returns the stored object, `schemas`
/// included. `members` of a Group are not part of it: see [`members_of`].
pub fn normalize(rt: &'static ResourceType, body: &Value) -> Result<Map<String, Value>> {
    let obj = body.as_object().ok_or_else(|| {
        Error::InvalidSyntax("the request body must be a JSON object (a SCIM resource)".into())
    })?;
    let mut out = Map::new();
    for (key, value) in obj {
        if let Some(ext) = rt
            .extensions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(key))
        {
            if let Some(v) = normalize_extension(ext, value)? {
                out.insert(ext.id.to_string(), v);
            }
            continue;
        }
        let Some(attr) = rt.core.attr(key).or_else(|| common_writable(key)) else {
            // `schemas`, `id`, `meta`, unknown attributes and unknown extension URNs: ignored,
            // never rejected (clients echo them back; Entra adds its own schema URIs).
            continue;
        };
        if attr.name == "members" {
            continue;
        }
        if let Some(v) = normalize_value(attr, value, attr.name)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    finish(rt, &mut out)?;
    Ok(out)
}

/// Checks required attributes and recomputes `schemas` from what the resource holds.
pub fn finish(rt: &'static ResourceType, out: &mut Map<String, Value>) -> Result<()> {
    for attr in rt.core.attributes.iter().filter(|a| a.required) {
        match out.get(attr.name) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            _ => {
                return Err(Error::InvalidValue(format!(
                    "{} is required and must be a non-empty string",
                    attr.name
                )));
            }
        }
    }
    crate::model::declared::check_values(rt, out)?;
    let mut schemas = vec![Value::String(rt.core.id.to_string())];
    for ext in rt.extensions {
        if out.contains_key(ext.id) {
            schemas.push(Value::String(ext.id.to_string()));
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(())
}

/// The most values one multi-valued attribute of a resource may hold (`emails`, `roles`...;
/// a Group's `members` live in their own table and have their own limits). IdPs send a
/// handful; the cap bounds the work one request does on the shared writer and the size of a
/// stored resource.
pub const MAX_VALUES: usize = 1000;

/// `InvalidValue` when a multi-valued attribute would hold more than [`MAX_VALUES`] values.
pub fn check_value_count(attr: &Attr, count: usize, path: &str) -> Result<()> {
    if attr.multi && count > MAX_VALUES {
        return Err(Error::InvalidValue(format!(
            "{path} would hold {count} values; at most {MAX_VALUES} are allowed per attribute"
        )));
    }
    Ok(())
}

/// `externalId` is the one writable common attribute.
fn common_writable(key: &str) -> Option<&'static Attr> {
    crate::model::schema::common_attr(key).filter(|a| a.mutability != Mutability::ReadOnly)
}

fn normalize_extension(schema: &'static Schema, value: &Value) -> Result<Option<Value>> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => {
            return Err(Error::InvalidValue(format!(
                "{} must be an object of its attributes",
                schema.id
            )));
        }
    };
    let mut out = Map::new();
    // A declared extension's errors name the attribute by its full path, since its short
    // name may clash with a core one (`urn:…:User:costCenter must be a string`).
    let declared = crate::model::declared::is_declared(schema);
    for (key, v) in obj {
        let Some(attr) = schema.attr(key) else {
            continue;
        };
        let path = if declared {
            format!("{}:{}", schema.id, attr.name)
        } else {
            attr.name.to_string()
        };
        if let Some(v) = normalize_value(attr, v, &path)? {
            out.insert(attr.name.to_string(), v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Normalizes one attribute's value. `None` means "unassigned" (null, empty, or read-only).
pub fn normalize_value(attr: &'static Attr, value: &Value, path: &str) -> Result<Option<Value>> {
    if matches!(
        attr.mutability,
        Mutability::ReadOnly | Mutability::WriteOnly
    ) {
        // Read-only values are ignored (RFC 7644 §3.5.1); write-only ones (password) are
        // accepted and not kept: scimbox signs nobody in with them.
        return Ok(None);
    }
    if value.is_null() {
        return Ok(None);
    }
    if attr.multi {
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        check_value_count(attr, items.len(), path)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = normalize_single(attr, item, path)? {
                out.push(v);
            }
        }
        check_one_primary(&out, path)?;
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(Error::InvalidValue(format!(
            "{path} is single-valued, but an array was sent"
        )));
    }
    normalize_single(attr, value, path)
}

/// RFC 7643 §2.4: the primary attribute value `true` MUST appear no more than once.
fn check_one_primary(values: &[Value], path: &str) -> Result<()> {
    let primaries = values
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(Error::InvalidValue(format!(
            "{path}: only one value may be primary"
        )));
    }
    Ok(())
}

fn normalize_single(attr: &'static Attr, value: &Value, path: &str) -> Result<Option<Value>> {
    if value.is_null() {
        return Ok(None);
    }
    if attr.ty == AttrType::Complex {
        let obj = match value {
            Value::Object(o) => o.clone(),
            // Entra sends `"manager": "<id>"`; the RFC shape is `{"value": "<id>"}`.
            scalar if attr.sub_attr("value").is_some() && !scalar.is_array() => {
                let mut m = Map::new();
                m.insert("value".into(), scalar.clone());
                m
            }
            _ => {
                return Err(Error::InvalidValue(format!(
                    "{path} must be an object of sub-attributes"
                )));
            }
        };
        let mut out = Map::new();
        for (key, v) in &obj {
            let Some(sub) = attr.sub_attr(key) else {
                continue;
            };
            let sub_path = format!("{path}.{}", sub.name);
            if let Some(v) = normalize_value(sub, v, &sub_path)? {
                out.insert(sub.name.to_string(), v);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Object(out)));
    }
    scalar(attr, value, path).map(Some)
}

/// Checks a simple value's type, reading Entra's `"True"`/`"False"` as booleans.
pub fn scalar(attr: &Attr, value: &Value, path: &str) -> Result<Value> {
    let wrong = |expected: &str| {
        Error::InvalidValue(format!(
            "{path} must be {expected}, not {}",
            describe(value)
        ))
    };
    match attr.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(wrong("a string")),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(wrong("a number")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if crate::clock::parse(s).is_some() => Ok(value.clone()),
            _ => Err(wrong("an RFC 3339 date-time string")),
        },
        AttrType::Complex => Err(wrong("an object")),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A member reference from a Group body or PATCH value: `{"value": id, "type"?: ..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRef {
    pub value: String,
    /// `Some("Group")` when the client says the member is a group.
    pub kind: Option<String>,
}

/// Reads a list of member values (`[{"value": "…", "$ref": null, "display": "…"}]`).
pub fn members_of(value: &Value) -> Result<Vec<MemberRef>> {
    let items: Vec<&Value> = match value {
        Value::Null => Vec::new(),
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.is_null() {
            continue;
        }
        let obj = item.as_object().ok_or_else(|| {
            Error::InvalidValue("each member must be an object with a \"value\"".into())
        })?;
        let value = field(obj, "value").and_then(Value::as_str).ok_or_else(|| {
            Error::InvalidValue("each member needs a string \"value\" (the user id)".into())
        })?;
        let kind = field(obj, "type")
            .and_then(Value::as_str)
            .map(str::to_string);
        out.push(MemberRef {
            value: value.to_string(),
            kind,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{ENTERPRISE_USER_SCHEMA, USER_TYPE};
    use serde_json::json;

    #[test]
    fn the_primary_email_is_the_marked_one_else_the_first() {
        let user = |emails: Value| json!({"userName": "u", "emails": emails});
        let both = json!([{"value": "a@x.io"}, {"value": "b@x.io", "primary": true}]);
        assert_eq!(primary_email(&user(both)), Some("b@x.io"));
        assert_eq!(
            primary_email(&user(json!([{"value": "a@x.io"}]))),
            Some("a@x.io")
        );
        assert_eq!(primary_email(&user(json!([]))), None);
        assert_eq!(primary_email(&json!({"userName": "u"})), None);
    }

    #[test]
    fn okta_create_body_keeps_values_and_drops_read_only_and_password() {
        let body = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName":"test.user@okta.local","name":{"givenName":"Test","familyName":"User"},
            "emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
            "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7",
            "groups":[],"password":"1mz050nq","active":true, "id": "x", "meta": {"a": 1}});
        let out = Value::Object(normalize(&USER_TYPE, &body).unwrap());
        assert_eq!(out["userName"], "test.user@okta.local");
        assert_eq!(out["emails"][0]["primary"], true);
        assert!(out.get("password").is_none());
        assert!(out.get("groups").is_none());
        assert!(out.get("id").is_none());
        assert_eq!(
            out["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
        );
    }

    #[test]
    fn entra_quirks_are_read_as_meant() {
        let body = json!({"USERNAME":"a@b.c","active":"False","title":null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                {"manager":"m-1","department":null},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User": {"x": 1}});
        let out = Value::Object(normalize(&USER_TYPE, &body).unwrap());
        assert_eq!(out["userName"], "a@b.c");
        assert_eq!(out["active"], false);
        assert!(out.get("title").is_none());
        assert_eq!(
            out[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({"value":"m-1"})
        );
        assert_eq!(out["schemas"][1], ENTERPRISE_USER_SCHEMA);
    }

    #[test]
    fn wrong_types_and_missing_user_name_are_invalid_value() {
        for body in [
            json!({"userName": 5}),
            json!({}),
            json!({"userName": "  "}),
            json!({"userName": "a", "active": "yes"}),
            json!({"userName": "a", "name": "x"}),
            json!({"userName": "a", "displayName": ["x"]}),
            json!({"userName": "a", "emails": [{"value":"a","primary":true},{"value":"b","primary":true}]}),
        ] {
            assert!(
                matches!(normalize(&USER_TYPE, &body), Err(Error::InvalidValue(_))),
                "{body}"
            );
        }
        assert!(matches!(
            normalize(&USER_TYPE, &json!([1])),
            Err(Error::InvalidSyntax(_))
        ));
    }
}
