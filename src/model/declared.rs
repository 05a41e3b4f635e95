//! Schema extensions an organization declares at run time (RFC 7643 §7 representation): parsing
//! and checking a declaration, and the per-organization resource types that carry them.
//!
//! The rest of the house works on `&'static` catalogue entries, so a declaration is turned into
//! a leaked `Schema` once and interned by its text: the same declaration read again (on every
//! request) is the same entry, and memory grows only with distinct declarations ever made in
//! the process, a handful per organization.

use crate::model::schema::{
    Attr, AttrType, GROUP_TYPE, Mutability, ResourceType, Returned, SCHEMAS, Schema, USER_TYPE,
    Uniqueness,
};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// Most attributes (and sub-attributes of one attribute) a declaration may have.
const MAX_ATTRIBUTES: usize = 100;
/// Longest URN, name or description accepted.
const MAX_TEXT: usize = 1000;

/// A checked declaration: its URN, the resource type it extends and its canonical text.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    pub urn: String,
    /// `User` or `Group`.
    pub resource_type: &'static str,
    /// The schema as it will be stored and published (RFC 7643 §7, defaults filled in).
    pub text: String,
    /// Whether the extension is required on the resource type: it is when one of its
    /// attributes is required.
    pub required: bool,
}

/// The resource types of an organization: the built-in ones with its declared extensions.
#[derive(Debug, Clone, Copy)]
pub struct Types {
    pub user: &'static ResourceType,
    pub group: &'static ResourceType,
}

impl PartialEq for Types {
    fn eq(&self, other: &Types) -> bool {
        std::ptr::eq(self.user, other.user) && std::ptr::eq(self.group, other.group)
    }
}

impl Types {
    /// The organization's version of a built-in resource type.
    pub fn of(&self, base: &'static ResourceType) -> &'static ResourceType {
        if std::ptr::eq(base, &GROUP_TYPE) {
            self.group
        } else {
            self.user
        }
    }
}

/// The resource type a declaration names on the command line or in the admin API.
pub fn base_type(name: &str) -> Option<&'static ResourceType> {
    [&USER_TYPE, &GROUP_TYPE]
        .into_iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
}

/// Parses and checks a schema file. The error is one line naming the field at fault
/// (`attributes[1].type: …`).
pub fn parse(text: &str, resource_type: &str) -> Result<Declaration, String> {
    let rt = base_type(resource_type)
        .ok_or_else(|| format!("--resource-type must be User or Group, not {resource_type:?}"))?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("the schema is not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or("the schema must be a JSON object (RFC 7643 §7)")?;
    let urn = match obj.get("id") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err("id: must be a string (the extension's URN)".into()),
        None => return Err("id: missing (the extension's URN)".into()),
    };
    check_urn(&urn)?;
    let name = opt_text(obj, "name", "")?
        .unwrap_or_else(|| urn.rsplit(':').nth(1).unwrap_or(&urn).to_string());
    let description = opt_text(obj, "description", "")?.unwrap_or_default();
    let attrs = match obj.get("attributes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err("attributes: must not be empty".into()),
        Some(_) => return Err("attributes: must be an array".into()),
        None => return Err("attributes: missing".into()),
    };
    let attributes = attribute_list(attrs, "attributes", true)?;
    if std::ptr::eq(rt, &GROUP_TYPE)
        && let Some(i) = attributes
            .iter()
            .position(|a| a.get("uniqueness").and_then(Value::as_str) == Some("server"))
    {
        // Only users' values have the index that checks it within the organization.
        return Err(format!(
            "attributes[{i}].uniqueness: \"server\" is checked for User extensions only"
        ));
    }
    let required = attributes
        .iter()
        .any(|a| a.get("required") == Some(&Value::Bool(true)));
    let mut out = Map::new();
    out.insert("id".into(), Value::String(urn.clone()));
    out.insert("name".into(), Value::String(name));
    out.insert("description".into(), Value::String(description));
    out.insert("attributes".into(), Value::Array(attributes));
    Ok(Declaration {
        urn,
        resource_type: rt.name,
        text: Value::Object(out).to_string(),
        required,
    })
}

fn check_urn(urn: &str) -> Result<(), String> {
    let lower = urn.to_ascii_lowercase();
    if !lower.starts_with("urn:") || urn.split(':').count() < 3 {
        return Err(format!(
            "id: {urn:?} is not a URN (it must start with \"urn:\")"
        ));
    }
    if urn.len() > MAX_TEXT {
        return Err("id: too long".into());
    }
    // The URN becomes part of JSON paths in the store: letters, digits and `:` `.` `_` only
    // (which every IdP's extension URN uses).
    if let Some(c) = urn
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_')))
    {
        return Err(format!("id: {c:?} is not allowed in an extension URN"));
    }
    if urn.ends_with(':') || urn.contains("::") {
        return Err(format!("id: {urn:?} has an empty segment"));
    }
    if lower.starts_with("urn:ietf:params:scim:schemas:core:")
        || lower.starts_with("urn:ietf:params:scim:api:")
        || SCHEMAS.iter().any(|s| s.id.eq_ignore_ascii_case(urn))
    {
        return Err(format!(
            "id: {urn} is a schema scimbox defines itself; declare an extension URN of your own"
        ));
    }
    Ok(())
}

fn opt_text(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("{at}{key}: longer than {MAX_TEXT} characters")),
        Some(_) => Err(format!("{at}{key}: must be a string")),
    }
}

fn flag(obj: &Map<String, Value>, key: &str, at: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{at}{key}: must be true or false")),
    }
}

fn choice(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => allowed.iter().copied().find(|a| a == s).ok_or_else(|| {
            format!(
                "{at}{key}: unknown value {s:?} (expected one of {})",
                allowed.join(", ")
            )
        }),
        Some(_) => Err(format!("{at}{key}: must be a string")),
    }
}

const TYPES: &[&str] = &[
    "string",
    "boolean",
    "decimal",
    "integer",
    "dateTime",
    "reference",
    "complex",
];

/// Checks a list of attribute definitions and returns them with every characteristic spelled
/// out (RFC 7643 §2.2 defaults), so the stored text is what `/Schemas` publishes.
fn attribute_list(attrs: &[Value], at: &str, top: bool) -> Result<Vec<Value>, String> {
    if attrs.len() > MAX_ATTRIBUTES {
        return Err(format!("{at}: more than {MAX_ATTRIBUTES} attributes"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        let here = format!("{at}[{i}].");
        let obj = a
            .as_object()
            .ok_or(format!("{at}[{i}]: must be an object"))?;
        let name = match obj.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("{here}name: must be a string")),
            None => return Err(format!("{here}name: missing")),
        };
        // RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA;
        // scimbox leaves out "-", which SQL JSON paths would need quoted.
        let valid = name.len() <= 128
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "{here}name: {name:?} is not an attribute name (a letter, then letters, digits or _)"
            ));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("{here}name: {name:?} is declared twice"));
        }
        let ty = match obj.get("type") {
            Some(Value::String(t)) => TYPES.iter().copied().find(|x| x == t).ok_or_else(|| {
                format!(
                    "{here}type: unknown type {t:?} (expected one of {})",
                    TYPES.join(", ")
                )
            })?,
            Some(_) => return Err(format!("{here}type: must be a string")),
            None => return Err(format!("{here}type: missing")),
        };
        let multi = flag(obj, "multiValued", &here)?;
        let required = flag(obj, "required", &here)?;
        let case_exact = flag(obj, "caseExact", &here)?;
        let mutability = choice(
            obj,
            "mutability",
            &here,
            &["readOnly", "readWrite", "immutable", "writeOnly"],
            "readWrite",
        )?;
        let returned = choice(
            obj,
            "returned",
            &here,
            &["always", "never", "default", "request"],
            "default",
        )?;
        let uniqueness = choice(
            obj,
            "uniqueness",
            &here,
            &["none", "server", "global"],
            "none",
        )?;
        if uniqueness == "global" {
            return Err(format!(
                "{here}uniqueness: \"global\" cannot be checked by one server; use \"server\""
            ));
        }
        if uniqueness == "server" && (multi || ty == "complex") {
            return Err(format!(
                "{here}uniqueness: only a single-valued simple attribute can be unique"
            ));
        }
        let canonical = match obj.get("canonicalValues") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(vs)) => {
                if ty != "string" && ty != "reference" && !vs.is_empty() {
                    return Err(format!(
                        "{here}canonicalValues: only string attributes take canonical values"
                    ));
                }
                let mut c = Vec::with_capacity(vs.len());
                for v in vs {
                    match v {
                        Value::String(s) => c.push(Value::String(s.clone())),
                        _ => return Err(format!("{here}canonicalValues: must be strings")),
                    }
                }
                c
            }
            Some(_) => {
                return Err(format!(
                    "{here}canonicalValues: must be an array of strings"
                ));
            }
        };
        let reference_types = match obj.get("referenceTypes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(vs)) if vs.iter().all(Value::is_string) => vs.clone(),
            Some(_) => return Err(format!("{here}referenceTypes: must be an array of strings")),
        };
        if !reference_types.is_empty() && ty != "reference" {
            return Err(format!(
                "{here}referenceTypes: only a reference attribute has them"
            ));
        }
        let sub = match obj.get("subAttributes") {
            None | Some(Value::Null) => None,
            Some(Value::Array(s)) => Some(s),
            Some(_) => return Err(format!("{here}subAttributes: must be an array")),
        };
        let subs = match (ty, sub) {
            ("complex", Some(s)) if !s.is_empty() => {
                if !top {
                    // RFC 7643 §2.3.8: a complex attribute's sub-attributes are simple.
                    return Err(format!(
                        "{here}type: a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
                    ));
                }
                Some(attribute_list(s, &format!("{here}subAttributes"), false)?)
            }
            ("complex", _) => {
                if !top {
                    return Err(format!(
                        "{here}type: a sub-attribute cannot be complex (RFC 7643 §2.3.8)"
                    ));
                }
                return Err(format!(
                    "{here}subAttributes: a complex attribute needs them"
                ));
            }
            (_, Some(s)) if !s.is_empty() => {
                return Err(format!(
                    "{here}subAttributes: only a complex attribute has sub-attributes"
                ));
            }
            _ => None,
        };
        let description = opt_text(obj, "description", &here)?.unwrap_or_default();
        let mut v = Map::new();
        v.insert("name".into(), Value::String(name));
        v.insert("type".into(), Value::String(ty.into()));
        v.insert("multiValued".into(), Value::Bool(multi));
        v.insert("description".into(), Value::String(description));
        v.insert("required".into(), Value::Bool(required));
        v.insert("caseExact".into(), Value::Bool(case_exact));
        v.insert("mutability".into(), Value::String(mutability.into()));
        // A writeOnly value is never returned (RFC 7643 §2.2).
        let returned = if mutability == "writeOnly" {
            "never"
        } else {
            returned
        };
        v.insert("returned".into(), Value::String(returned.into()));
        v.insert("uniqueness".into(), Value::String(uniqueness.into()));
        if !canonical.is_empty() {
            v.insert("canonicalValues".into(), Value::Array(canonical));
        }
        if !reference_types.is_empty() {
            v.insert("referenceTypes".into(), Value::Array(reference_types));
        }
        if let Some(subs) = subs {
            v.insert("subAttributes".into(), Value::Array(subs));
        }
        out.push(Value::Object(v));
    }
    Ok(out)
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn text_of(v: &Value, key: &str) -> &'static str {
    leak(v.get(key).and_then(Value::as_str).unwrap_or(""))
}

fn bool_of(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Builds a catalogue entry from a checked attribute definition.
fn build_attr(v: &Value) -> Attr {
    let ty = match v.get("type").and_then(Value::as_str).unwrap_or("string") {
        "boolean" => AttrType::Boolean,
        "decimal" => AttrType::Decimal,
        "integer" => AttrType::Integer,
        "dateTime" => AttrType::DateTime,
        "reference" => AttrType::Reference,
        "complex" => AttrType::Complex,
        _ => AttrType::String,
    };
    let mutability = match v.get("mutability").and_then(Value::as_str) {
        Some("readOnly") => Mutability::ReadOnly,
        Some("immutable") => Mutability::Immutable,
        Some("writeOnly") => Mutability::WriteOnly,
        _ => Mutability::ReadWrite,
    };
    let returned = match v.get("returned").and_then(Value::as_str) {
        Some("always") => Returned::Always,
        Some("never") => Returned::Never,
        Some("request") => Returned::Request,
        _ => Returned::Default,
    };
    let uniqueness = match v.get("uniqueness").and_then(Value::as_str) {
        Some("server") => Uniqueness::Server,
        Some("global") => Uniqueness::Global,
        _ => Uniqueness::None,
    };
    let strings = |key: &str| -> &'static [&'static str] {
        let list: Vec<&'static str> = v
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(leak).collect())
            .unwrap_or_default();
        Box::leak(list.into_boxed_slice())
    };
    let sub: Vec<Attr> = v
        .get("subAttributes")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(build_attr).collect())
        .unwrap_or_default();
    Attr {
        name: text_of(v, "name"),
        ty,
        multi: bool_of(v, "multiValued"),
        required: bool_of(v, "required"),
        case_exact: bool_of(v, "caseExact"),
        mutability,
        returned,
        uniqueness,
        canonical: strings("canonicalValues"),
        reference_types: strings("referenceTypes"),
        sub: Box::leak(sub.into_boxed_slice()),
        description: text_of(v, "description"),
    }
}

#[derive(Default)]
struct Registry {
    /// Declared schemas by their stored text.
    schemas: HashMap<String, &'static Schema>,
    /// Addresses of the declared schemas, to tell them from the built-in ones.
    declared: HashSet<usize>,
    /// Per-organization resource types by (base type, declared schema addresses, required).
    types: HashMap<String, &'static ResourceType>,
    /// (resource type address, schema address) of required extensions.
    required: HashSet<(usize, usize)>,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn addr<T>(r: &'static T) -> usize {
    r as *const T as usize
}

/// The catalogue entry of a stored declaration (its canonical text, as [`parse`] wrote it).
/// Fails only on text that [`parse`] did not write: a damaged row.
pub fn schema(text: &str) -> Result<&'static Schema, String> {
    if let Some(s) = registry().schemas.get(text) {
        return Ok(s);
    }
    let v: Value = serde_json::from_str(text).map_err(|e| format!("stored schema: {e}"))?;
    let attrs: Vec<Attr> = v
        .get("attributes")
        .and_then(Value::as_array)
        .ok_or("stored schema has no attributes")?
        .iter()
        .map(build_attr)
        .collect();
    let schema: &'static Schema = Box::leak(Box::new(Schema {
        id: text_of(&v, "id"),
        name: text_of(&v, "name"),
        description: text_of(&v, "description"),
        attributes: Box::leak(attrs.into_boxed_slice()),
    }));
    let mut reg = registry();
    // Another thread may have built the same entry meanwhile: keep the first.
    let schema = *reg.schemas.entry(text.to_string()).or_insert(schema);
    reg.declared.insert(addr(schema));
    Ok(schema)
}

/// Whether a schema was declared at run time (not one scimbox defines).
pub fn is_declared(schema: &'static Schema) -> bool {
    registry().declared.contains(&addr(schema))
}

/// Whether `schema` is a required extension of `rt` (RFC 7643 §6 `schemaExtensions.required`).
pub fn is_required(rt: &'static ResourceType, schema: &'static Schema) -> bool {
    registry().required.contains(&(addr(rt), addr(schema)))
}

/// A resource type with an organization's declared extensions after the built-in ones.
pub fn resource_type(
    base: &'static ResourceType,
    declared: &[(&'static Schema, bool)],
) -> &'static ResourceType {
    if declared.is_empty() {
        return base;
    }
    let mut key = base.name.to_string();
    for (s, required) in declared {
        key.push_str(&format!("|{:x}:{required}", addr(*s)));
    }
    let mut reg = registry();
    if let Some(rt) = reg.types.get(&key) {
        return rt;
    }
    let extensions: Vec<&'static Schema> = base
        .extensions
        .iter()
        .copied()
        .chain(declared.iter().map(|(s, _)| *s))
        .collect();
    let rt: &'static ResourceType = Box::leak(Box::new(ResourceType {
        name: base.name,
        endpoint: base.endpoint,
        description: base.description,
        core: base.core,
        extensions: Box::leak(extensions.into_boxed_slice()),
    }));
    for (s, required) in declared {
        if *required {
            reg.required.insert((addr(rt), addr(*s)));
        }
    }
    reg.types.insert(key, rt);
    rt
}

/// The declared extensions of a resource type.
pub fn declared_of(rt: &'static ResourceType) -> Vec<&'static Schema> {
    let reg = registry();
    rt.extensions
        .iter()
        .copied()
        .filter(|s| reg.declared.contains(&addr(*s)))
        .collect()
}

/// Checks a resource's declared extension values beyond their types (which
/// `resource::normalize_value` checked): required attributes (RFC 7643 §2.2) and
/// canonical values, which a declaration makes binding. Runs on every write (POST, PUT, PATCH).
pub fn check_values(
    rt: &'static ResourceType,
    out: &Map<String, Value>,
) -> crate::error::Result<()> {
    for schema in declared_of(rt) {
        let ext = out.get(schema.id).and_then(Value::as_object);
        if ext.is_none() && !is_required(rt, schema) {
            continue;
        }
        let empty = Map::new();
        let ext = ext.unwrap_or(&empty);
        check_object(schema.id, schema.attributes, ext)?;
    }
    Ok(())
}

fn check_object(
    at: &str,
    attrs: &'static [Attr],
    obj: &Map<String, Value>,
) -> crate::error::Result<()> {
    for attr in attrs {
        let path = format!("{at}:{}", attr.name);
        let value = obj.get(attr.name);
        if attr.required
            && attr.mutability != Mutability::ReadOnly
            && attr.mutability != Mutability::WriteOnly
            && value.is_none()
        {
            return Err(crate::error::Error::InvalidValue(format!(
                "{path} is required"
            )));
        }
        let Some(value) = value else { continue };
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            v => vec![v],
        };
        for item in items {
            if attr.is_complex() {
                if let Some(o) = item.as_object() {
                    check_object(&path, attr.sub, o)?;
                }
            } else {
                check_canonical(attr, item, &path)?;
            }
        }
    }
    Ok(())
}

fn check_canonical(attr: &Attr, value: &Value, path: &str) -> crate::error::Result<()> {
    let (Some(s), false) = (value.as_str(), attr.canonical.is_empty()) else {
        return Ok(());
    };
    let ok = attr.canonical.iter().any(|c| {
        if attr.case_exact {
            *c == s
        } else {
            c.eq_ignore_ascii_case(s)
        }
    });
    if ok {
        return Ok(());
    }
    Err(crate::error::Error::InvalidValue(format!(
        "{path} must be one of {} (its canonical values), not {s:?}",
        attr.canonical.join(", ")
    )))
}

/// Immutable declared attributes (RFC 7643 §2.2): once set, a change is `mutability`.
pub fn check_immutable(
    rt: &'static ResourceType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> crate::error::Result<()> {
    for schema in declared_of(rt) {
        let (Some(b), a) = (
            before.get(schema.id).and_then(Value::as_object),
            after.get(schema.id).and_then(Value::as_object),
        ) else {
            continue;
        };
        for attr in schema
            .attributes
            .iter()
            .filter(|a| a.mutability == Mutability::Immutable)
        {
            let old = b.get(attr.name);
            if old.is_some() && old != a.and_then(|a| a.get(attr.name)) {
                return Err(crate::error::Error::Mutability(format!(
                    "{}:{} is immutable: it cannot change once set",
                    schema.id, attr.name
                )));
            }
        }
    }
    Ok(())
}

/// One value of a declared attribute as the store indexes it: the attribute path
/// (`urn:…:costCenter` or `urn:…:badges.value`, lower case), the text compared by `eq`
/// (`model::fold` of the value unless the attribute is caseExact, as the typing pass folds
/// the filter's operand), and whether the attribute is unique in the organization.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedValue {
    pub attr: String,
    pub value: String,
    /// The attribute's name when it is `uniqueness: server`.
    pub unique: Option<&'static str>,
    pub case_exact: bool,
}

/// The path under which the store indexes a declared attribute's values.
pub fn index_key(schema: &Schema, attr: &Attr, sub: Option<&Attr>) -> String {
    let mut k = format!("{}:{}", schema.id, attr.name);
    if let Some(sub) = sub {
        k.push('.');
        k.push_str(sub.name);
    }
    k.to_ascii_lowercase()
}

/// Whether the store indexes this (sub-)attribute: string-like values only, since `eq` on
/// them is what an IdP's lookup sends.
pub fn indexed(leaf: &Attr) -> bool {
    matches!(leaf.ty, AttrType::String | AttrType::Reference)
}

/// The indexed values of a resource's declared extensions.
pub fn indexed_values(rt: &'static ResourceType, data: &Map<String, Value>) -> Vec<IndexedValue> {
    let mut out = Vec::new();
    for schema in declared_of(rt) {
        let Some(ext) = data.get(schema.id).and_then(Value::as_object) else {
            continue;
        };
        for attr in schema.attributes {
            let Some(value) = ext.get(attr.name) else {
                continue;
            };
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for item in items {
                if attr.is_complex() {
                    for sub in attr.sub.iter().filter(|s| indexed(s)) {
                        if let Some(s) = item.get(sub.name).and_then(Value::as_str) {
                            out.push(IndexedValue {
                                attr: index_key(schema, attr, Some(sub)),
                                value: crate::model::fold::fold_if(s, sub.case_exact).into_owned(),
                                unique: None,
                                case_exact: sub.case_exact,
                            });
                        }
                    }
                } else if let (true, Some(s)) = (indexed(attr), item.as_str()) {
                    out.push(IndexedValue {
                        attr: index_key(schema, attr, None),
                        value: crate::model::fold::fold_if(s, attr.case_exact).into_owned(),
                        unique: (attr.uniqueness == Uniqueness::Server).then_some(attr.name),
                        case_exact: attr.case_exact,
                    });
                }
            }
        }
    }
    out
}

/// The attributes of a body that nobody declared: top-level keys under an extension URN the
/// resource type does not know (`urn:…:CustomExtensionName:2.0:User` objects, and
/// `urn:…:User:costCenter` keys), as `urn:attr` paths. The request inspector and the
/// organization's counters show them, since the values are dropped.
pub fn undeclared(rt: &'static ResourceType, body: &Value) -> Vec<String> {
    let Some(obj) = body.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in obj {
        if !key.to_ascii_lowercase().starts_with("urn:") || rt.schema(key).is_some() {
            continue;
        }
        match value.as_object() {
            Some(attrs) => {
                for name in attrs.keys() {
                    out.push(format!("{key}:{name}"));
                }
            }
            None => {
                let (urn, _) = rt.split_urn(key);
                if urn.is_none() {
                    out.push(key.clone());
                }
            }
        }
    }
    out.truncate(50);
    out
}

/// The attributes of a PATCH request under extension URNs nobody declared: operation paths
/// (`urn:…:User:costCenter`) and the keys of path-less values (Entra's form).
pub fn undeclared_in_patch(rt: &'static ResourceType, body: &Value) -> Vec<String> {
    let ops = body.as_object().and_then(|o| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
            .map(|(_, v)| v)
    });
    let Some(Value::Array(ops)) = ops else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for op in ops.iter().filter_map(Value::as_object) {
        let get = |name: &str| {
            op.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        match (get("path").and_then(Value::as_str), get("value")) {
            (Some(path), value) => {
                let path = path.trim();
                if !path.to_ascii_lowercase().starts_with("urn:") {
                    continue;
                }
                if rt.schema(path).is_some() || rt.split_urn(path).0.is_some() {
                    continue;
                }
                // `"path": "urn:…:User", "value": {…}` names a whole extension object.
                match value.and_then(Value::as_object) {
                    Some(obj) if !obj.is_empty() && !path.contains('[') => {
                        out.extend(obj.keys().map(|k| format!("{path}:{k}")));
                    }
                    _ => out.push(path.to_string()),
                }
            }
            (None, Some(value)) => out.extend(undeclared(rt, value)),
            (None, None) => {}
        }
    }
    out.truncate(50);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COST: &str = r#"{"id":"urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
        "name":"Custom","attributes":[
        {"name":"costCenter","type":"string","caseExact":false,"uniqueness":"none"},
        {"name":"tier","type":"string","canonicalValues":["gold","silver"]},
        {"name":"badges","type":"complex","multiValued":true,"subAttributes":[
            {"name":"value","type":"string"},{"name":"type","type":"string"}]}]}"#;

    #[test]
    fn a_declaration_is_read_with_every_characteristic_spelled_out() {
        let d = parse(COST, "user").unwrap();
        assert_eq!(d.resource_type, "User");
        assert!(!d.required);
        let v: Value = serde_json::from_str(&d.text).unwrap();
        assert_eq!(v["attributes"][0]["mutability"], "readWrite");
        assert_eq!(v["attributes"][0]["returned"], "default");
        assert_eq!(v["attributes"][2]["subAttributes"][1]["name"], "type");
        let s = schema(&d.text).unwrap();
        assert!(std::ptr::eq(s, schema(&d.text).unwrap()));
        assert!(is_declared(s));
        assert_eq!(s.attr("COSTCENTER").unwrap().name, "costCenter");
        let rt = resource_type(&USER_TYPE, &[(s, true)]);
        assert!(std::ptr::eq(rt, resource_type(&USER_TYPE, &[(s, true)])));
        assert!(is_required(rt, s));
        assert!(rt.resolve(Some(&d.urn), "badges", Some("value")).is_some());
    }

    #[test]
    fn bad_schema_files_get_one_line_naming_the_field() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"attributes":[]}"#, "id: missing"),
            (
                r#"{"id":"x","attributes":[{"name":"a","type":"string"}]}"#,
                "id: \"x\" is not a URN",
            ),
            (
                r#"{"id":"urn:ietf:params:scim:schemas:core:2.0:User","attributes":[{"name":"a","type":"string"}]}"#,
                "id: urn:ietf:params:scim:schemas:core:2.0:User is a schema scimbox defines",
            ),
            (
                r#"{"id":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","attributes":[{"name":"a","type":"string"}]}"#,
                "scimbox defines itself",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"text"}]}"#,
                "attributes[0].type: unknown type \"text\"",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"string","subAttributes":[{"name":"b","type":"string"}]}]}"#,
                "attributes[0].subAttributes: only a complex attribute",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"complex"}]}"#,
                "attributes[0].subAttributes: a complex attribute needs them",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"string"},{"name":"A","type":"string"}]}"#,
                "attributes[1].name: \"A\" is declared twice",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"string","multiValued":"yes"}]}"#,
                "attributes[0].multiValued: must be true or false",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"1a","type":"string"}]}"#,
                "attributes[0].name",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"string","mutability":"sometimes"}]}"#,
                "attributes[0].mutability: unknown value",
            ),
            (
                r#"{"id":"urn:a:b","attributes":[{"name":"a","type":"complex","subAttributes":[{"name":"b","type":"complex","subAttributes":[{"name":"c","type":"string"}]}]}]}"#,
                "attributes[0].subAttributes[0].type: a sub-attribute cannot be complex",
            ),
            (
                r#"{"id":"urn:a\"b:c","attributes":[{"name":"a","type":"string"}]}"#,
                "id: '\"' is not allowed",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text, "User").unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
        assert!(
            parse(COST, "Workspace")
                .unwrap_err()
                .contains("--resource-type")
        );
    }

    #[test]
    fn required_and_canonical_values_are_checked_on_the_final_resource() {
        let text = r#"{"id":"urn:example:req:2.0:User","attributes":[
            {"name":"region","type":"string","required":true,"canonicalValues":["eu","us"]}]}"#;
        let d = parse(text, "User").unwrap();
        assert!(d.required);
        let s = schema(&d.text).unwrap();
        let rt = resource_type(&USER_TYPE, &[(s, d.required)]);
        let err = check_values(rt, &Map::new()).unwrap_err();
        assert_eq!(
            err,
            crate::error::Error::InvalidValue("urn:example:req:2.0:User:region is required".into())
        );
        let mut m = Map::new();
        m.insert(d.urn.clone(), serde_json::json!({"region": "EU"}));
        check_values(rt, &m).unwrap();
        m.insert(d.urn.clone(), serde_json::json!({"region": "mars"}));
        assert!(
            matches!(check_values(rt, &m), Err(crate::error::Error::InvalidValue(e)) if e.contains("canonical"))
        );
    }
}
