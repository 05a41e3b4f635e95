//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying its operations to a stored
//! resource.

use super::resource;
use crate::error::{Error, Result};
use crate::model::schema::{Attr, Mutability, ResourceType};
use serde_json::{Map, Value};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp body. `op` is case-insensitive (Entra sends `Add`, `Replace`, `Remove`).
pub fn parse_request(body: &Value) -> Result<Vec<Operation>> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::InvalidSyntax("a PATCH body must be a PatchOp object".into()))?;
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .ok_or_else(|| Error::InvalidSyntax("a PatchOp needs an \"Operations\" array".into()))?
        .as_array()
        .ok_or_else(|| Error::InvalidSyntax("\"Operations\" must be an array".into()))?;
    if ops.is_empty() {
        return Err(Error::InvalidSyntax("\"Operations\" is empty".into()));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(Error::TooLarge(format!(
            "a PATCH may carry at most {MAX_OPERATIONS} operations"
        )));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| parse_operation(i, op))
        .collect()
}

fn parse_operation(i: usize, op: &Value) -> Result<Operation> {
    let obj = op
        .as_object()
        .ok_or_else(|| Error::InvalidSyntax(format!("operation {i} must be an object")))?;
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let kind = match field("op").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("add") => OpKind::Add,
        Some(s) if s.eq_ignore_ascii_case("replace") => OpKind::Replace,
        Some(s) if s.eq_ignore_ascii_case("remove") => OpKind::Remove,
        Some(s) => {
            return Err(Error::InvalidSyntax(format!(
                "operation {i}: unknown op {s:?} (add, replace or remove)"
            )));
        }
        None => {
            return Err(Error::InvalidSyntax(format!(
                "operation {i} needs an \"op\""
            )));
        }
    };
    let path = match field("path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim().to_string()),
        Some(_) => {
            return Err(Error::InvalidPath(format!(
                "operation {i}: \"path\" must be a string"
            )));
        }
    };
    let value = field("value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(Error::InvalidValue(format!(
            "operation {i} ({kind:?}) needs a \"value\""
        )));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(Error::NoTarget(format!(
            "operation {i}: remove needs a \"path\""
        )));
    }
    Ok(Operation {
        op: kind,
        path,
        value,
    })
}

/// A resolved simple path: where the attribute lives and its definition.
struct Target {
    /// The extension URN key, or `None` for a core attribute.
    container: Option<&'static str>,
    attr: &'static Attr,
    sub: Option<&'static Attr>,
}

fn resolve(rt: &'static ResourceType, path: &str) -> Result<Target> {
    if path.contains('[') {
        return Err(Error::InvalidPath(format!(
            "value filters in paths are not supported yet: {path:?}"
        )));
    }
    let (urn, rest) = rt.split_urn(path);
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let r = rt
        .resolve(urn, name, sub)
        .ok_or_else(|| Error::InvalidPath(format!("no attribute {path:?}")))?;
    Ok(Target {
        container: r.extension.map(|s| s.id),
        attr: r.attr,
        sub: r.sub,
    })
}

/// Applies the operations in order to a stored (canonical) resource; all or nothing, since
/// the caller keeps the result only if every operation succeeded.
pub fn apply(
    rt: &'static ResourceType,
    mut data: Map<String, Value>,
    ops: &[Operation],
) -> Result<Map<String, Value>> {
    for (i, op) in ops.iter().enumerate() {
        apply_one(rt, &mut data, op).map_err(|e| at_operation(i, e))?;
    }
    resource::finish(rt, &mut data)?;
    Ok(data)
}

fn at_operation(i: usize, e: Error) -> Error {
    match e {
        Error::InvalidValue(d) => Error::InvalidValue(format!("operation {i}: {d}")),
        Error::InvalidPath(d) => Error::InvalidPath(format!("operation {i}: {d}")),
        Error::NoTarget(d) => Error::NoTarget(format!("operation {i}: {d}")),
        Error::Mutability(d) => Error::Mutability(format!("operation {i}: {d}")),
        other => other,
    }
}

fn apply_one(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    op: &Operation,
) -> Result<()> {
    match (&op.path, op.op) {
        (None, OpKind::Remove) => Err(Error::NoTarget("remove needs a path".into())),
        (None, _) => {
            let value = op
                .value
                .as_ref()
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    Error::InvalidValue("a path-less add or replace needs an object value".into())
                })?;
            for (key, v) in value {
                if let Some(ext) = rt
                    .extensions
                    .iter()
                    .find(|s| s.id.eq_ignore_ascii_case(key))
                {
                    if let Some(obj) = v.as_object() {
                        for (k, v) in obj {
                            set_path(rt, data, &format!("{}:{k}", ext.id), v, op.op, true)?;
                        }
                    }
                    continue;
                }
                if key.eq_ignore_ascii_case("schemas") {
                    continue;
                }
                set_path(rt, data, key, v, op.op, true)?;
            }
            Ok(())
        }
        (Some(path), OpKind::Remove) => remove_path(rt, data, path),
        (Some(path), kind) => {
            let v = op.value.as_ref().unwrap_or(&Value::Null);
            set_path(rt, data, path, v, kind, false)
        }
    }
}

fn holder<'a>(data: &'a mut Map<String, Value>, t: &Target) -> Result<&'a mut Map<String, Value>> {
    let m = match t.container {
        None => Some(data),
        Some(urn) => {
            let entry = data
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            entry.as_object_mut()
        }
    };
    m.ok_or_else(|| Error::Internal("extension container is not an object".into()))
}

fn set_path(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    path: &str,
    value: &Value,
    kind: OpKind,
    pathless: bool,
) -> Result<()> {
    let t = match resolve(rt, path) {
        Ok(t) => t,
        // Unknown keys of a path-less value are ignored like unknown attributes of a body.
        Err(_) if pathless => return Ok(()),
        Err(e) => return Err(e),
    };
    let read_only = |a: &Attr| matches!(a.mutability, Mutability::ReadOnly);
    if read_only(t.attr) || t.sub.is_some_and(read_only) {
        // Okta echoes the read-only `id` inside a rename's value; read-only values are ignored
        // there, as in a PUT body (RFC 7644 §3.5.1).
        if pathless {
            return Ok(());
        }
        return Err(Error::Mutability(format!("{path} is read-only")));
    }
    let m = holder(data, &t)?;
    match t.sub {
        None => {
            let new = resource::normalize_value(t.attr, value, t.attr.name)?;
            match (new, kind, m.get_mut(t.attr.name)) {
                (None, _, _) => {
                    m.remove(t.attr.name);
                }
                (Some(Value::Array(add)), OpKind::Add, Some(Value::Array(have))) => {
                    for v in add {
                        if !have.contains(&v) {
                            have.push(v);
                        }
                    }
                }
                (Some(Value::Object(add)), OpKind::Add, Some(Value::Object(have))) => {
                    have.extend(add);
                }
                (Some(v), _, _) => {
                    m.insert(t.attr.name.to_string(), v);
                }
            }
        }
        Some(sub) => {
            if t.attr.multi {
                return Err(Error::InvalidPath(format!(
                    "{path}: a sub-attribute of a multi-valued attribute needs a value filter"
                )));
            }
            let new = resource::normalize_value(sub, value, path)?;
            let entry = m
                .entry(t.attr.name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(obj) = entry {
                match new {
                    Some(v) => {
                        obj.insert(sub.name.to_string(), v);
                    }
                    None => {
                        obj.remove(sub.name);
                    }
                }
                if obj.is_empty() {
                    m.remove(t.attr.name);
                }
            }
        }
    }
    drop_empty_extension(data, t.container);
    Ok(())
}

fn drop_empty_extension(data: &mut Map<String, Value>, container: Option<&str>) {
    if let Some(urn) = container
        && data
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        data.remove(urn);
    }
}

fn remove_path(rt: &'static ResourceType, data: &mut Map<String, Value>, path: &str) -> Result<()> {
    let t = resolve(rt, path)?;
    if t.attr.required && t.sub.is_none() {
        return Err(Error::Mutability(format!(
            "{path} is required and cannot be removed"
        )));
    }
    if t.attr.mutability == Mutability::ReadOnly {
        return Err(Error::Mutability(format!("{path} is read-only")));
    }
    let m = holder(data, &t)?;
    match t.sub {
        None => {
            m.remove(t.attr.name);
        }
        Some(sub) => {
            if let Some(Value::Object(obj)) = m.get_mut(t.attr.name) {
                obj.remove(sub.name);
                if obj.is_empty() {
                    m.remove(t.attr.name);
                }
            }
        }
    }
    drop_empty_extension(data, t.container);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::USER_TYPE;
    use serde_json::json;

    fn user() -> Map<String, Value> {
        resource::normalize(
            &USER_TYPE,
            &json!({"userName":"a","active":true,"name":{"givenName":"A"}}),
        )
        .unwrap()
    }

    fn patch(ops: Value) -> Result<Value> {
        let ops = parse_request(&json!({"schemas":[super::super::PATCH_OP],"Operations":ops}))?;
        apply(&USER_TYPE, user(), &ops).map(Value::Object)
    }

    #[test]
    fn okta_deactivate_and_entra_string_boolean() {
        assert_eq!(
            patch(json!([{"op":"replace","value":{"active":false}}])).unwrap()["active"],
            false
        );
        assert_eq!(
            patch(json!([{"op":"Replace","path":"active","value":"False"}])).unwrap()["active"],
            false
        );
    }

    #[test]
    fn pathless_keys_are_paths() {
        let v = patch(
            json!([{"op":"replace","value":{"displayName":"D","name.familyName":"F",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"7"}}]),
        )
        .unwrap();
        assert_eq!(v["name"], json!({"givenName":"A","familyName":"F"}));
        assert_eq!(v["displayName"], "D");
        assert_eq!(
            v["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"],
            "7"
        );
        assert!(v.get("name.familyName").is_none());
    }

    #[test]
    fn malformed_operations_get_their_scim_type() {
        assert!(matches!(
            patch(json!([{"op":"jump","path":"x"}])),
            Err(Error::InvalidSyntax(_))
        ));
        assert!(matches!(
            patch(json!([{"op":"remove","path":"userName"}])),
            Err(Error::Mutability(_))
        ));
        assert!(matches!(
            patch(json!([{"op":"replace","path":"nope","value":1}])),
            Err(Error::InvalidPath(_))
        ));
        assert!(matches!(
            patch(json!([{"op":"replace","path":"active","value":"maybe"}])),
            Err(Error::InvalidValue(_))
        ));
        assert!(matches!(
            patch(json!([{"op":"remove"}])),
            Err(Error::NoTarget(_))
        ));
        assert!(matches!(
            parse_request(&json!({"schemas":[]})),
            Err(Error::InvalidSyntax(_))
        ));
    }
}
