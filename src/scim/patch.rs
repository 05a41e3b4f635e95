//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying its operations to a stored resource.
//!
//! The engine works on the canonical stored form (see `resource`): it resolves every path
//! through the catalogue, type-checks every value with `resource::normalize_value`, and hands
//! the result to `resource::finish`. It accepts the dialects real clients send (scim-notes §2,
//! §3; quirks Q2-Q5, Q8, Q18, Q23): capitalised ops, string booleans, path-less values whose
//! keys are paths, read-only ids echoed inside values, Entra's manager forms, `null` as "unset",
//! and a filtered sub-attribute replace that creates the first value of its kind.
//!
//! Group `members` never reach the engine as a path: the caller routes them to the membership
//! table ([`is_members_path`]); a path-less value's `members` key is skipped here.

use super::filter::parse_patch_path;
use crate::error::{Error, Result};
use crate::model::filter::{CompareOp, Filter};
use crate::model::fold::fold;
use crate::model::matcher::matches_element;
use crate::model::resource;
use crate::model::schema::{Attr, GROUP_SCHEMA, Mutability, Resolved, ResourceType, Schema};
use serde_json::{Map, Value};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One entry of `Operations`, as sent: the path is parsed when the operation is applied, so a
/// caller can route some paths elsewhere (Group `members`) before the engine sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<String>,
    /// `Some(Value::Null)` when the client sent `"value": null` (Entra's "unset").
    pub value: Option<Value>,
}

/// Reads a PatchOp body (RFC 7644 §3.5.2). Member names and `op` values are case-insensitive:
/// Entra sends `Add`, `Replace`, `Remove` (Q2), and Microsoft asks servers not to be strict
/// about structural names. The `schemas` member is not checked.
///
/// Fails with `InvalidSyntax` for a body that is not an object, a missing or empty
/// `Operations` array, an operation that is not an object or has an unknown or missing `op`;
/// `InvalidPath` for a non-string `path`; `InvalidValue` for an add or replace without
/// `value`; `NoTarget` for a remove without `path` (RFC 7644 §3.5.2.2); `TooLarge` past
/// [`MAX_OPERATIONS`]. Details name the operation by its index in `Operations`, from 0.
pub fn parse_request(body: &Value) -> Result<Vec<Operation>> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::InvalidSyntax("a PATCH body must be a PatchOp object".into()))?;
    let ops = super::field(obj, "Operations")
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
    let field = |name: &str| super::field(obj, name);
    let kind = match field("op").and_then(Value::as_str).map(str::trim) {
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
                "operation {i} needs an \"op\" string"
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
            "operation {i} ({}) needs a \"value\"",
            op_name(kind)
        )));
    }
    if kind == OpKind::Remove && path.is_none() {
        // RFC 7644 §3.5.2.2: "If "path" is unspecified, the operation fails ... noTarget".
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

fn op_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Add => "add",
        OpKind::Replace => "replace",
        OpKind::Remove => "remove",
    }
}

/// Is this a path to a Group's `members` (`members`, `members[value eq "…"]`,
/// `members.value`, or the core-URN-qualified forms), which the caller applies to the
/// membership table instead of passing to [`apply`]? A path that does not parse is not.
pub fn is_members_path(path: &str) -> bool {
    parse_patch_path(path).is_ok_and(|p| {
        p.attr.name.eq_ignore_ascii_case("members")
            && p.attr
                .urn
                .as_deref()
                .is_none_or(|u| u.eq_ignore_ascii_case(GROUP_SCHEMA))
    })
}

/// Applies the operations in order to a stored (canonical) resource and returns the new one,
/// `schemas` recomputed by `resource::finish`.
///
/// All or nothing: the first failing operation's error is returned (its detail starts with
/// "operation N: ", N counted from 0) and the caller keeps the resource it had. Errors:
/// `InvalidPath` (bad or unknown path), `InvalidFilter` (bad value filter), `InvalidValue`
/// (wrong type, two primaries, a required attribute left empty), `NoTarget` (a filtered
/// replace that matches nothing and cannot create a value), `Mutability` (a read-only or
/// immutable target, or the removal of a required attribute).
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
    let at = |d: String| format!("operation {i}: {d}");
    match e {
        Error::InvalidValue(d) => Error::InvalidValue(at(d)),
        Error::InvalidPath(d) => Error::InvalidPath(at(d)),
        Error::InvalidFilter(d) => Error::InvalidFilter(at(d)),
        Error::InvalidSyntax(d) => Error::InvalidSyntax(at(d)),
        Error::NoTarget(d) => Error::NoTarget(at(d)),
        Error::Mutability(d) => Error::Mutability(at(d)),
        other => other,
    }
}

fn apply_one(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    op: &Operation,
) -> Result<()> {
    let value = op.value.as_ref();
    let Some(path) = &op.path else {
        return apply_pathless(rt, data, op.op, value);
    };
    if let Some(schema) = schema_key(rt, path) {
        if std::ptr::eq(schema, rt.core) {
            return Err(Error::InvalidPath(format!(
                "{path:?} names the core schema; name one of its attributes"
            )));
        }
        // `"path": "urn:…:enterprise:2.0:User"` targets the whole extension object.
        return match op.op {
            OpKind::Remove => {
                clear_extension(data, schema);
                Ok(())
            }
            kind => apply_schema_object(rt, data, kind, schema, value.unwrap_or(&Value::Null)),
        };
    }
    let t = resolve(rt, path)?;
    if is_group_members(rt, t.attr) {
        return Err(Error::Internal(format!(
            "PATCH path {path:?} reached the attribute engine; members go to the membership table"
        )));
    }
    if t.read_only() {
        return Err(Error::Mutability(format!("{} is read-only", t.path)));
    }
    apply_target(data, &t, op.op, value)
}

/// A path-less add or replace: the value's keys are paths (Q4), an extension URN key holds
/// an object of that extension's attributes (RFC 7643 §3.3).
fn apply_pathless(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    kind: OpKind,
    value: Option<&Value>,
) -> Result<()> {
    let Some(Value::Object(obj)) = value else {
        return Err(Error::InvalidValue(format!(
            "a path-less {} needs an object value",
            op_name(kind)
        )));
    };
    for (key, v) in obj {
        if let Some(schema) = schema_key(rt, key) {
            apply_schema_object(rt, data, kind, schema, v)?;
        } else {
            apply_key(rt, data, kind, key, v)?;
        }
    }
    Ok(())
}

/// The schema whose URN is exactly `key` (core or extension), case-insensitively.
fn schema_key(rt: &'static ResourceType, key: &str) -> Option<&'static Schema> {
    rt.schema(key.trim())
}

/// `{"urn:…:enterprise:2.0:User": {"employeeNumber": "7", "manager": "id"}}`: each inner key
/// is a path under that schema. `null` leaves the extension as it is; anything but an object
/// is a wrong type, as in a POST body.
fn apply_schema_object(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    kind: OpKind,
    schema: &'static Schema,
    value: &Value,
) -> Result<()> {
    match value {
        Value::Null => Ok(()),
        Value::Object(obj) => {
            for (k, v) in obj {
                apply_key(rt, data, kind, &format!("{}:{k}", schema.id), v)?;
            }
            Ok(())
        }
        _ => Err(Error::InvalidValue(format!(
            "{} must be an object of its attributes",
            schema.id
        ))),
    }
}

/// `remove` of a whole extension URN: its writable attributes go, read-only ones (computed by
/// scimbox) stay.
fn clear_extension(data: &mut Map<String, Value>, schema: &Schema) {
    if let Some(container) = data.get_mut(schema.id).and_then(Value::as_object_mut) {
        for attr in schema.attributes {
            if attr.mutability != Mutability::ReadOnly && !attr.required {
                container.remove(attr.name);
            }
        }
    }
    drop_if_empty(data, Some(schema.id));
}

fn apply_key(
    rt: &'static ResourceType,
    data: &mut Map<String, Value>,
    kind: OpKind,
    key: &str,
    value: &Value,
) -> Result<()> {
    // Unknown keys are ignored like unknown attributes of a PUT body (and Entra's extra
    // schema URIs, Q19); read-only ones like Okta's group `id` are ignored (Q5).
    let Ok(t) = resolve(rt, key) else {
        return Ok(());
    };
    if is_group_members(rt, t.attr) || t.read_only() {
        return Ok(());
    }
    apply_target(data, &t, kind, Some(value))
}

fn is_group_members(rt: &ResourceType, attr: &Attr) -> bool {
    rt.core.id == GROUP_SCHEMA && attr.name == "members"
}

/// A resolved PATCH path.
#[derive(Debug)]
struct Target {
    /// The extension URN key holding the attribute; `None` for core and common attributes.
    ext: Option<&'static str>,
    attr: &'static Attr,
    /// The value filter of `attr[filter]`, already checked against `attr`.
    filter: Option<Filter>,
    /// `attr.sub` or `attr[filter].sub`.
    sub: Option<&'static Attr>,
    /// The path as the client wrote it, for messages.
    path: String,
}

impl Target {
    fn read_only(&self) -> bool {
        let ro = |a: &Attr| a.mutability == Mutability::ReadOnly;
        ro(self.attr) || self.sub.is_some_and(ro)
    }

    fn immutable(&self) -> bool {
        let im = |a: &Attr| a.mutability == Mutability::Immutable;
        im(self.attr) || self.sub.is_some_and(im)
    }
}

/// Parses and resolves a path. Unknown attributes are `InvalidPath`; a filter that names
/// unknown sub-attributes or misuses an operator is `InvalidFilter` even when there is no
/// value to test it against.
fn resolve(rt: &'static ResourceType, path: &str) -> Result<Target> {
    let p = parse_patch_path(path)?;
    let r = lookup(
        rt,
        p.attr.urn.as_deref(),
        &p.attr.name,
        p.attr.sub.as_deref(),
    )
    .ok_or_else(|| Error::InvalidPath(format!("{path:?} is not an attribute of a {}", rt.name)))?;
    let sub = match (&p.sub_after_filter, r.sub) {
        (Some(s), _) => Some(r.attr.sub_attr(s).ok_or_else(|| {
            Error::InvalidPath(format!(
                "{path:?}: {} has no sub-attribute {s:?}",
                r.attr.name
            ))
        })?),
        (None, s) => s,
    };
    if let Some(filter) = &p.filter {
        if !r.attr.is_complex() {
            return Err(Error::InvalidPath(format!(
                "{path:?}: {} is not complex, so it cannot take a value filter",
                r.attr.name
            )));
        }
        matches_element(filter, &Value::Object(Map::new()), r.attr)?;
    }
    Ok(Target {
        ext: r.extension.map(|s| s.id),
        attr: r.attr,
        filter: p.filter,
        sub,
        path: path.to_string(),
    })
}

/// `ResourceType::resolve`, plus unqualified extension names (Entra's `manager` path, Q18;
/// `employeeNumber`, `department`) when the core schema has no such attribute: RFC 7644
/// §3.10 says clients SHOULD, not MUST, qualify extension attributes. Kept here rather than
/// in the catalogue because `filter=` is compiled to SQL through its own whitelist and the
/// matcher treats unqualified names as core; a PATCH-only leniency changes neither.
fn lookup(
    rt: &'static ResourceType,
    urn: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Option<Resolved> {
    rt.resolve(urn, name, sub).or_else(|| match urn {
        Some(_) => None,
        None => rt
            .extensions
            .iter()
            .find_map(|ext| rt.resolve(Some(ext.id), name, sub)),
    })
}

/// Applies one add, replace or remove to the attribute `t` names.
fn apply_target(
    data: &mut Map<String, Value>,
    t: &Target,
    kind: OpKind,
    value: Option<&Value>,
) -> Result<()> {
    let container = container(data, t.ext)?;
    let before = container.remove(t.attr.name);
    let change = if t.attr.multi {
        change_multi
    } else if t.attr.is_complex() {
        change_complex
    } else {
        change_simple
    };
    let after = change(t, kind, value, before.clone())?;
    check_required(t, after.as_ref())?;
    if t.immutable() && after != before {
        // RFC 7644 §3.5.2: a client may echo an immutable value, not change it.
        return Err(Error::Mutability(format!("{} is immutable", t.path)));
    }
    if let Some(v) = after {
        container.insert(t.attr.name.to_string(), v);
    }
    drop_if_empty(data, t.ext);
    Ok(())
}

/// The object holding the attribute: the resource, or its extension object (created empty).
fn container<'a>(
    data: &'a mut Map<String, Value>,
    ext: Option<&str>,
) -> Result<&'a mut Map<String, Value>> {
    let Some(urn) = ext else {
        return Ok(data);
    };
    data.entry(urn.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::Internal(format!("stored {urn} is not an object")))
}

/// Canonical form has no empty extension objects.
fn drop_if_empty(data: &mut Map<String, Value>, ext: Option<&str>) {
    if let Some(urn) = ext
        && data
            .get(urn)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
    {
        data.remove(urn);
    }
}

/// `userName` (and a Group's `displayName`) can't be removed (RFC 7643 §2.2 `required`,
/// RFC 7644 §3.5.2.2: mutability) nor left blank.
fn check_required(t: &Target, after: Option<&Value>) -> Result<()> {
    if !t.attr.required || t.ext.is_some() {
        return Ok(());
    }
    match after {
        None => Err(Error::Mutability(format!(
            "{} is required and cannot be removed",
            t.attr.name
        ))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(_) => Err(Error::InvalidValue(format!(
            "{} is required and must be a non-empty string",
            t.attr.name
        ))),
    }
}

/// A single-valued simple attribute (`displayName`, `active`, `employeeNumber`...).
fn change_simple(
    t: &Target,
    kind: OpKind,
    value: Option<&Value>,
    before: Option<Value>,
) -> Result<Option<Value>> {
    Ok(match kind {
        OpKind::Remove => None,
        // Entra sends `null` for "no value" (scim-notes §3.3); adding nothing changes nothing,
        // replacing with nothing unsets (RFC 7643 §2.5: null is unassigned).
        OpKind::Add if value.is_none_or(Value::is_null) => before,
        // `normalize_value` reads "True"/"False" (Q3); a write-only value (`password`) comes
        // back as `None` and is not kept.
        OpKind::Add | OpKind::Replace => normalize(t.attr, value, &t.path)?,
    })
}

/// A single-valued complex attribute (`name`, the enterprise `manager`).
fn change_complex(
    t: &Target,
    kind: OpKind,
    value: Option<&Value>,
    before: Option<Value>,
) -> Result<Option<Value>> {
    let attr = t.attr;
    let mut obj = before.and_then(|v| match v {
        Value::Object(o) => Some(o),
        _ => None,
    });
    if let Some(filter) = &t.filter {
        // `manager[value eq "id"]` (Q18): the one value is the target when it matches.
        let matched = match &obj {
            Some(o) => matches_element(filter, &Value::Object(o.clone()), attr)?,
            None => false,
        };
        if !matched {
            return match kind {
                // Q23: removing what is not there succeeds and changes nothing.
                OpKind::Remove => Ok(obj.map(Value::Object)),
                _ if obj.is_some() => Err(no_target(t)),
                _ if value.is_none_or(Value::is_null) => Ok(None),
                _ => {
                    let seed = seed(t, filter)?;
                    let new = with_value(t, seed, value)?;
                    Ok(new.map(Value::Object))
                }
            };
        }
        if t.sub.is_none() {
            return match kind {
                OpKind::Remove => Ok(None),
                // RFC 7644 §3.5.2.3: matching values are replaced.
                OpKind::Replace => Ok(element(t, value)?.map(Value::Object)),
                OpKind::Add => {
                    if let (Some(o), Some(new)) = (obj.as_mut(), element(t, value)?) {
                        o.extend(new);
                    }
                    Ok(obj.map(Value::Object))
                }
            };
        }
    }
    match (t.sub, kind) {
        (Some(sub), OpKind::Remove) => {
            if let Some(o) = obj.as_mut() {
                o.remove(sub.name);
            }
        }
        (Some(sub), _) => {
            let new = normalize(sub, value, &t.path)?;
            set_sub(obj.get_or_insert_with(Map::new), sub, new);
        }
        (None, OpKind::Remove) => obj = None,
        (None, kind) => {
            let raw = unwrap_single(attr, value, &t.path)?;
            if raw.is_null() {
                if kind == OpKind::Replace {
                    obj = None;
                }
            } else {
                let nulls = null_subs(attr, &raw);
                match normalize(attr, Some(&raw), &t.path)? {
                    // Microsoft's validator removes a manager by "replace with empty"
                    // (MS-LOGICAPP test 25); its exact body is undocumented, so both `""`
                    // and `{"value": ""}` unset it.
                    Some(Value::Object(new)) if is_empty_reference(&new) => obj = None,
                    // RFC 7644 §3.5.2.1/§3.5.2.3: the sub-attributes sent replace or add;
                    // those not sent are left unchanged.
                    Some(Value::Object(new)) => obj.get_or_insert_with(Map::new).extend(new),
                    _ => {}
                }
                if let Some(o) = obj.as_mut() {
                    for name in nulls {
                        o.remove(name);
                    }
                }
            }
        }
    }
    Ok(obj.filter(|o| !o.is_empty()).map(Value::Object))
}

/// A multi-valued attribute (`emails`, `addresses`, `roles`...), RFC 7644 §3.5.2.1-3.
fn change_multi(
    t: &Target,
    kind: OpKind,
    value: Option<&Value>,
    before: Option<Value>,
) -> Result<Option<Value>> {
    let attr = t.attr;
    let mut list = match before {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    // Indices of the values this operation wrote, for the one-primary rule.
    let mut touched: Vec<usize> = Vec::new();
    match (&t.filter, t.sub) {
        (None, None) => match kind {
            OpKind::Add => {
                for item in items(attr, value, &t.path)? {
                    touched.push(merge_in(attr, &mut list, item));
                }
            }
            // RFC 7644 §3.5.2.3: without a filter the whole list is replaced.
            OpKind::Replace => {
                list = items(attr, value, &t.path)?;
                touched = (0..list.len()).collect();
            }
            OpKind::Remove => match value.filter(|v| !v.is_null()) {
                // Entra's legacy member removal shape (Q1) applied to any list: a remove
                // with values removes those values, not the whole attribute.
                Some(v) => {
                    let gone = items(attr, Some(v), &t.path)?;
                    list.retain(|e| !gone.iter().any(|g| covers(attr, e, g)));
                }
                // RFC 7644 §3.5.2.2: no filter, no value: the attribute is removed.
                None => list.clear(),
            },
        },
        // `emails.type` without a filter addresses every value.
        (None, Some(sub)) => match kind {
            OpKind::Remove => {
                for e in list.iter_mut() {
                    if let Some(o) = e.as_object_mut() {
                        o.remove(sub.name);
                    }
                }
            }
            _ => {
                let new = normalize(sub, value, &t.path)?;
                if list.is_empty() {
                    if let Some(v) = new {
                        list.push(Value::Object(Map::from_iter([(sub.name.to_string(), v)])));
                        touched.push(0);
                    }
                } else {
                    for (i, e) in list.iter_mut().enumerate() {
                        if let Some(o) = e.as_object_mut() {
                            set_sub(o, sub, new.clone());
                            touched.push(i);
                        }
                    }
                }
            }
        },
        (Some(filter), sub) => {
            let mut matched = Vec::new();
            for (i, e) in list.iter().enumerate() {
                if matches_element(filter, e, attr)? {
                    matched.push(i);
                }
            }
            match (kind, sub) {
                (OpKind::Remove, None) => {
                    // Q23: a filter that matches nothing removes nothing and succeeds.
                    let mut i = 0;
                    list.retain(|_| {
                        i += 1;
                        !matched.contains(&(i - 1))
                    });
                }
                (OpKind::Remove, Some(sub)) => {
                    for &i in &matched {
                        if let Some(o) = list[i].as_object_mut() {
                            o.remove(sub.name);
                        }
                    }
                }
                (_, _) if matched.is_empty() => {
                    if value.is_none_or(Value::is_null) {
                        // Unsetting what matches nothing: nothing to do.
                    } else if kind == OpKind::Replace && sub.is_none() {
                        return Err(no_target(t));
                    } else {
                        // Entra's first work e-mail: `emails[type eq "work"].value` on a user
                        // without one (MS-TUT). The new value is the filter's `eq` terms plus
                        // the sub-attribute (or the add's value object).
                        let seed = seed(t, filter)?;
                        if let Some(new) = with_value(t, seed, value)? {
                            list.push(Value::Object(new));
                            touched.push(list.len() - 1);
                        }
                    }
                }
                (_, Some(sub)) => {
                    let new = normalize(sub, value, &t.path)?;
                    for &i in &matched {
                        if let Some(o) = list[i].as_object_mut() {
                            set_sub(o, sub, new.clone());
                        }
                    }
                    touched.extend(&matched);
                }
                (kind, None) => {
                    let new = element(t, value)?;
                    for &i in &matched {
                        match (kind, &new, list[i].as_object_mut()) {
                            (OpKind::Add, Some(n), Some(o)) => o.extend(n.clone()),
                            // RFC 7644 §3.5.2.3: "all matching record values SHALL be
                            // replaced"; with `null`, they are unset.
                            (_, Some(n), _) => list[i] = Value::Object(n.clone()),
                            (_, None, _) if kind == OpKind::Replace => list[i] = Value::Null,
                            _ => {}
                        }
                    }
                    touched.extend(&matched);
                }
            }
        }
    }
    one_primary(&mut list, &touched, &t.path)?;
    list.retain(|e| match e {
        Value::Null => false,
        Value::Object(o) => !o.is_empty(),
        _ => true,
    });
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

fn no_target(t: &Target) -> Error {
    Error::NoTarget(format!("{} matches no value", t.path))
}

/// RFC 7644 §3.5.2: "a PATCH operation that sets a value's "primary" sub-attribute to "true"
/// SHALL cause the server to automatically set "primary" to "false" for any other values".
/// Two values written as primary by one operation are `InvalidValue` (RFC 7643 §2.4).
fn one_primary(list: &mut [Value], touched: &[usize], path: &str) -> Result<()> {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    let mut primaries: Vec<usize> = touched
        .iter()
        .copied()
        .filter(|&i| list.get(i).is_some_and(is_primary))
        .collect();
    primaries.sort_unstable();
    primaries.dedup();
    let keep = match primaries.as_slice() {
        [] => return Ok(()),
        [one] => *one,
        _ => {
            return Err(Error::InvalidValue(format!(
                "{path}: only one value may be primary"
            )));
        }
    };
    for (i, v) in list.iter_mut().enumerate() {
        if i != keep
            && is_primary(v)
            && let Some(o) = v.as_object_mut()
        {
            o.insert("primary".into(), Value::Bool(false));
        }
    }
    Ok(())
}

/// Adds one value to a list unless it is already there (RFC 7644 §3.5.2.1; Q23). A value with
/// the same `value` and `type` as an existing one is the same value: what was sent is merged
/// into it (so a re-add can set `primary`). Returns the index written.
fn merge_in(attr: &Attr, list: &mut Vec<Value>, item: Value) -> usize {
    if let Some(i) = list.iter().position(|e| same_value(attr, e, &item)) {
        if let (Some(have), Value::Object(new)) = (list[i].as_object_mut(), item) {
            have.extend(new);
        }
        return i;
    }
    list.push(item);
    list.len() - 1
}

/// Equal JSON, or (for complex values) equal `value` and `type`, compared with the catalogue's
/// `caseExact` (RFC 7643 §2.2, by the Unicode case folding filters use); an absent `type`
/// equals an absent one.
fn same_value(attr: &Attr, a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let (Some(va), Some(vb)) = (a.get("value"), b.get("value")) else {
        return false;
    };
    let text_eq = |x: Option<&Value>, y: Option<&Value>, exact: bool| match (x, y) {
        (Some(Value::String(x)), Some(Value::String(y))) if !exact => fold(x) == fold(y),
        (x, y) => x == y,
    };
    let exact = |name: &str| attr.sub_attr(name).is_none_or(|s| s.case_exact);
    text_eq(Some(va), Some(vb), exact("value"))
        && text_eq(a.get("type"), b.get("type"), exact("type"))
}

/// Does an existing value have every sub-attribute a remove's value names, with equal values?
/// Entra's legacy removal sends `{"value": id}` alone (Q1), without the `type` or `display`
/// stored with it.
fn covers(attr: &Attr, existing: &Value, sent: &Value) -> bool {
    let (Some(have), Some(want)) = (existing.as_object(), sent.as_object()) else {
        return existing == sent;
    };
    !want.is_empty()
        && want.iter().all(|(k, w)| {
            let exact = attr.sub_attr(k).is_none_or(|s| s.case_exact);
            match (have.get(k), w) {
                (Some(Value::String(h)), Value::String(w)) if !exact => fold(h) == fold(w),
                (h, w) => h == Some(w),
            }
        })
}

/// Sets or (with `None`) unsets a sub-attribute.
fn set_sub(obj: &mut Map<String, Value>, sub: &Attr, new: Option<Value>) {
    match new {
        Some(v) => {
            obj.insert(sub.name.to_string(), v);
        }
        None => {
            obj.remove(sub.name);
        }
    }
}

/// Type-checks one value for `attr` (`resource::normalize_value`): `None` is "unassigned".
fn normalize(attr: &'static Attr, value: Option<&Value>, path: &str) -> Result<Option<Value>> {
    let raw = unwrap_single(attr, value, path)?;
    resource::normalize_value(attr, &raw, path)
}

/// Entra sends the single-valued `manager` as a one-element array (MS-TUT Example 5, Q18):
/// a single-valued complex attribute takes the element of such an array.
fn unwrap_single(attr: &Attr, value: Option<&Value>, path: &str) -> Result<Value> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    match value {
        Value::Array(a) if !attr.multi && attr.is_complex() => match a.as_slice() {
            [] => Ok(Value::Null),
            [one] => Ok(one.clone()),
            _ => Err(Error::InvalidValue(format!(
                "{path} is single-valued, but {} values were sent",
                a.len()
            ))),
        },
        other => Ok(other.clone()),
    }
}

/// The values of a multi-valued attribute's `value`, normalized.
fn items(attr: &'static Attr, value: Option<&Value>, path: &str) -> Result<Vec<Value>> {
    Ok(match normalize(attr, value, path)? {
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
        None => Vec::new(),
    })
}

/// The one value object an `attr[filter]` add or replace writes.
fn element(t: &Target, value: Option<&Value>) -> Result<Option<Map<String, Value>>> {
    let mut values = if t.attr.multi {
        items(t.attr, value, &t.path)?
    } else {
        normalize(t.attr, value, &t.path)?.into_iter().collect()
    };
    if values.len() > 1 {
        return Err(Error::InvalidValue(format!(
            "{}: a value filter selects values to change; send one value object",
            t.path
        )));
    }
    Ok(match values.pop() {
        Some(Value::Object(o)) => Some(o),
        _ => None,
    })
}

/// Sub-attributes a complex value sets to `null`: Entra's "unset this one".
fn null_subs(attr: &Attr, raw: &Value) -> Vec<&'static str> {
    raw.as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.is_null())
                .filter_map(|(k, _)| attr.sub_attr(k).map(|s| s.name))
                .collect()
        })
        .unwrap_or_default()
}

/// `{"value": ""}`: a reference to nobody.
fn is_empty_reference(obj: &Map<String, Value>) -> bool {
    obj.len() == 1 && obj.get("value").and_then(Value::as_str) == Some("")
}

/// The value a filtered add or replace creates when the filter matches nothing: the filter's
/// `eq` terms (joined by `and`) as sub-attributes. Any other filter can't describe a value,
/// so the operation has no target (RFC 7644 §3.5.2.3 `noTarget`).
fn seed(t: &Target, filter: &Filter) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } if path.urn.is_none() && path.sub.is_none() && !value.is_null() => {
                let sub = t.attr.sub_attr(&path.name).ok_or_else(|| no_target(t))?;
                let v = resource::scalar(sub, value, &format!("{}.{}", t.attr.name, sub.name))?;
                out.insert(sub.name.to_string(), v);
            }
            _ => return Err(no_target(t)),
        }
    }
    Ok(out)
}

/// The seed plus what the operation writes: the sub-attribute's value, or the value object.
fn with_value(
    t: &Target,
    mut seed: Map<String, Value>,
    value: Option<&Value>,
) -> Result<Option<Map<String, Value>>> {
    match t.sub {
        Some(sub) => match normalize(sub, value, &t.path)? {
            Some(v) => {
                seed.insert(sub.name.to_string(), v);
            }
            None => return Ok(None),
        },
        None => seed.extend(element(t, value)?.unwrap_or_default()),
    }
    // Through the catalogue once more, so a seeded value is typed like any other.
    let checked = resource::normalize_value(t.attr, &Value::Object(seed), &t.path)?;
    Ok(match checked {
        Some(Value::Array(mut a)) => match a.pop() {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        },
        Some(Value::Object(o)) => Some(o),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{
        AttrType, ENTERPRISE_USER_SCHEMA, GROUP_TYPE, Returned, USER_TYPE, Uniqueness,
    };
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
    fn a_later_failing_operation_fails_the_whole_patch() {
        let before = user();
        let ops = parse_request(&json!({"Operations":[
            {"op":"replace","path":"displayName","value":"changed"},
            {"op":"replace","path":"active","value":"maybe"}]}))
        .unwrap();
        let err = apply(&USER_TYPE, before.clone(), &ops).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidValue(d) if d.starts_with("operation 1: ")),
            "{err:?}"
        );
        // The caller still holds the stored resource, unchanged.
        assert_eq!(before, user());
    }

    #[test]
    fn members_paths_are_recognised_for_routing() {
        for p in [
            "members",
            "MEMBERS",
            r#"members[value eq "2819c223"]"#,
            "members.value",
            "urn:ietf:params:scim:schemas:core:2.0:Group:members",
        ] {
            assert!(is_members_path(p), "{p}");
        }
        for p in ["displayName", "membersx", "urn:x:y:members", "members[", ""] {
            assert!(!is_members_path(p), "{p}");
        }
    }

    #[test]
    fn a_group_patch_without_members_keeps_members_out_of_the_data() {
        let before = resource::normalize(&GROUP_TYPE, &json!({"displayName":"a"})).unwrap();
        let ops = parse_request(&json!({"Operations":[
            {"op":"replace","value":{"members":[{"value":"u1"}]}}]}))
        .unwrap();
        assert_eq!(apply(&GROUP_TYPE, before.clone(), &ops).unwrap(), before);
    }

    static CODE_ATTRS: [Attr; 2] = [
        Attr {
            name: "code",
            ty: AttrType::String,
            multi: false,
            required: false,
            case_exact: true,
            mutability: Mutability::Immutable,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical: &[],
            reference_types: &[],
            sub: &[],
            description: "Set once, when the resource is created.",
        },
        Attr {
            name: "label",
            ty: AttrType::String,
            multi: false,
            required: true,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical: &[],
            reference_types: &[],
            sub: &[],
            description: "A name.",
        },
    ];

    static THING: Schema = Schema {
        id: "urn:example:Thing",
        name: "Thing",
        description: "A resource with an immutable attribute",
        attributes: &CODE_ATTRS,
    };

    static THING_TYPE: ResourceType = ResourceType {
        name: "Thing",
        endpoint: "/Things",
        description: "test",
        core: &THING,
        extensions: &[],
    };

    #[test]
    fn an_immutable_value_may_be_echoed_but_not_changed() {
        let before = resource::normalize(&THING_TYPE, &json!({"label":"l","code":"C1"})).unwrap();
        let run = |ops: Value| {
            let ops = parse_request(&json!({ "Operations": ops })).unwrap();
            apply(&THING_TYPE, before.clone(), &ops)
        };
        assert_eq!(
            run(json!([{"op":"replace","path":"code","value":"C1"},
                       {"op":"replace","value":{"code":"C1","label":"m"}}]))
            .unwrap()["label"],
            "m"
        );
        for ops in [
            json!([{"op":"replace","path":"code","value":"C2"}]),
            json!([{"op":"replace","value":{"code":"C2"}}]),
            json!([{"op":"remove","path":"code"}]),
        ] {
            assert!(
                matches!(run(ops.clone()), Err(Error::Mutability(_))),
                "{ops}"
            );
        }
    }

    use crate::rng::Rng;

    /// Simple attributes the property test writes: (schema URN or "", attribute, sub).
    const SLOTS: [(&str, &str, Option<&str>); 10] = [
        ("", "displayName", None),
        ("", "nickName", None),
        ("", "title", None),
        ("", "locale", None),
        ("", "active", None),
        ("", "name", Some("givenName")),
        ("", "name", Some("familyName")),
        (ENTERPRISE_USER_SCHEMA, "employeeNumber", None),
        (ENTERPRISE_USER_SCHEMA, "department", None),
        (ENTERPRISE_USER_SCHEMA, "costCenter", None),
    ];

    fn random_value(rng: &mut Rng, attr: &str) -> Value {
        if rng.below(6) == 0 {
            return Value::Null;
        }
        if attr == "active" {
            let b = rng.below(2) == 0;
            return match rng.below(3) {
                0 => json!(b),
                1 => json!(if b { "True" } else { "False" }),
                _ => json!(if b { "TRUE" } else { "false" }),
            };
        }
        let words = ["a", "Bee", "c d", "Émile", "x@y.z", "  padded "];
        json!(format!(
            "{}{}",
            words[rng.below(words.len())],
            rng.below(100)
        ))
    }

    /// One operation writing `value` to a slot, in one of the shapes clients use.
    fn random_op(rng: &mut Rng, slot: (&str, &str, Option<&str>), value: &Value) -> Value {
        let (urn, attr, sub) = slot;
        let short = match sub {
            Some(s) => format!("{attr}.{s}"),
            None => attr.to_string(),
        };
        let full = match urn {
            "" => format!("{}:{short}", crate::model::schema::USER_SCHEMA),
            u => format!("{u}:{short}"),
        };
        // `add` on a single-valued attribute replaces (RFC 7644 §3.5.2.1), but adding null
        // adds nothing, so only replace can unset.
        let op = match (value.is_null(), rng.below(4)) {
            (false, 0) => "add",
            (false, 1) => "Add",
            (_, 2) => "Replace",
            _ => "replace",
        };
        match rng.below(5) {
            0 => json!({"op":op,"path":short,"value":value}),
            1 => json!({"op":op,"path":full,"value":value}),
            2 => json!({"op":op,"value":{short.to_uppercase(): value}}),
            3 => json!({"op":op,"value":{full: value}}),
            _ => match (urn, sub) {
                ("", Some(s)) => json!({"op":op,"value":{attr:{s:value}}}),
                ("", None) => json!({"op":op,"value":{attr:value}}),
                (u, _) => json!({"op":op,"value":{u:{attr:value}}}),
            },
        }
    }

    /// PUT-equivalence: any sequence of replaces on simple attributes ends where a PUT of the
    /// final values would (RFC 7644 §3.5.2.3 replace vs §3.5.1).
    #[test]
    fn random_replace_sequences_equal_applying_the_final_values() {
        let base = json!({"userName":"prop","displayName":"Base","active":true,
            "name":{"givenName":"G","familyName":"F"},
            "emails":[{"value":"p@example.com","type":"work","primary":true}],
            ENTERPRISE_USER_SCHEMA:{"department":"D"}});
        let stored = resource::normalize(&USER_TYPE, &base).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..400 {
            let n = 1 + rng.below(16);
            let mut finals: Vec<Option<Value>> = vec![None; SLOTS.len()];
            let mut ops = Vec::new();
            for _ in 0..n {
                let i = rng.below(SLOTS.len());
                let v = random_value(&mut rng, SLOTS[i].1);
                ops.push(random_op(&mut rng, SLOTS[i], &v));
                finals[i] = Some(v);
            }
            // The same operations over one, two or three PATCH requests.
            let parsed = parse_request(&json!({ "Operations": ops })).unwrap();
            let cut = rng.below(parsed.len() + 1);
            let mid = apply(&USER_TYPE, stored.clone(), &parsed[..cut]);
            let got = mid.and_then(|m| apply(&USER_TYPE, m, &parsed[cut..]));

            let mut want = base.clone();
            for (i, v) in finals.iter().enumerate() {
                let Some(v) = v else { continue };
                let (urn, attr, sub) = SLOTS[i];
                let holder = if urn.is_empty() {
                    &mut want
                } else {
                    &mut want[urn]
                };
                let (obj, key) = match sub {
                    Some(s) => (&mut holder[attr], s),
                    None => (holder, attr),
                };
                if obj.is_null() {
                    *obj = json!({});
                }
                let obj = obj.as_object_mut().unwrap();
                if v.is_null() {
                    obj.remove(key);
                } else {
                    obj.insert(key.to_string(), v.clone());
                }
            }
            let want = resource::normalize(&USER_TYPE, &want).unwrap();
            assert_eq!(got, Ok(want), "round {round}: {}", json!(ops));
        }
    }
}
