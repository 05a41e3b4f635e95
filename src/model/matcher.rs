//! In-memory filter evaluation (RFC 7644 §3.4.2.2) over JSON, for PATCH value paths and tests.
//!
//! A filter is first compiled against the catalogue, which resolves every attribute and checks
//! every operator against its type, then evaluated. So a bad filter fails the same way whatever
//! the data, even when there is no value to compare against.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::error::{Error, Result};
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::fold::fold_if;
use crate::model::schema::{Attr, AttrType, ResourceType};
use crate::model::typing::{
    Operand, Test, clip, parse_instant, shown, type_comparison, unfilterable,
};

/// The parser caps nesting at 32 levels; trees built any other way get this much slack before
/// the matcher refuses them instead of recursing further.
// The parser keeps trees shallow (nesting cap, balanced chains); this guards hand-built ones.
const MAX_DEPTH: usize = 256;

/// Does one element of a multi-valued complex attribute match a value-path filter?
/// Paths inside the filter are sub-attributes of `parent` (e.g. `type`, `value`).
///
/// Fails with `Error::InvalidFilter` when the filter names an attribute `parent` does not have,
/// uses a URN, a sub-attribute or a nested value path, or fails the typing pass
/// (`model::typing`), exactly as the SQL compiler would.
pub fn matches_element(filter: &Filter, element: &Value, parent: &'static Attr) -> Result<bool> {
    let node = compile(filter, Scope::Element(parent), 0)?;
    Ok(node.eval(element))
}

/// Does a whole resource (JSON object with canonical attribute names; extension attributes under
/// a key equal to the extension URN) match a filter?
///
/// A comparison on a multi-valued attribute matches if any value does; without a sub-attribute,
/// a complex attribute is compared through its `value`. Fails with `Error::InvalidFilter` for
/// an unknown or unfilterable attribute and for everything the typing pass refuses (a value of
/// the wrong JSON type, an operator the type does not allow, a bad dateTime, ...): the same
/// filters the SQL compiler refuses, with the same detail.
pub fn matches_resource(filter: &Filter, resource: &Value, rt: &ResourceType) -> Result<bool> {
    let node = compile(filter, Scope::Resource(rt), 0)?;
    Ok(node.eval(resource))
}

/// What the attribute names in a (sub)filter are relative to.
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource(&'a ResourceType),
    /// Inside `attr[...]`: names are sub-attributes of `attr`.
    Element(&'static Attr),
}

/// Where the values a comparison looks at live, relative to the JSON being matched.
struct Target {
    /// The key of the object holding an extension's attributes (its URN, RFC 7643 §3.3).
    ext: Option<&'static str>,
    attr: &'static Attr,
    /// The sub-attribute read from each value of `attr`.
    sub: Option<&'static Attr>,
    /// True when the values are elements of a multi-valued attribute read in element scope:
    /// then an absent `primary` reads as false (RFC 7643 §2.4).
    in_element: bool,
}

/// RFC 7643 §2.4: "If not specified, the value of 'primary' SHALL be assumed to be 'false'."
static FALSE: Value = Value::Bool(false);

fn is_primary(attr: &Attr) -> bool {
    attr.name == "primary" && attr.ty == AttrType::Boolean
}

impl Target {
    fn leaf(&self) -> &'static Attr {
        self.sub.unwrap_or(self.attr)
    }

    /// Every value the path reaches, arrays flattened (RFC 7644 §3.4.2.2: a multi-valued
    /// attribute matches if any of its values does). Absent keys contribute nothing, except
    /// an element's `primary`, which is false when absent.
    fn values<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut out = Vec::new();
        if self.in_element {
            match field(root, self.attr.name) {
                Some(v) => out.extend(each(v)),
                None if is_primary(self.attr) && root.is_object() => out.push(&FALSE),
                None => {}
            }
            return out;
        }
        let base = match self.ext {
            Some(urn) => match field(root, urn) {
                Some(b) => b,
                None => return out,
            },
            None => root,
        };
        let Some(v) = field(base, self.attr.name) else {
            return out;
        };
        for item in each(v) {
            match self.sub {
                Some(sub) => match field(item, sub.name) {
                    Some(x) => out.extend(each(x)),
                    None if self.attr.multi && is_primary(sub) && item.is_object() => {
                        out.push(&FALSE)
                    }
                    None => {}
                },
                None => out.push(item),
            }
        }
        out
    }
}

/// A compiled filter: paths resolved, operands typed, errors already reported.
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Present(Target),
    Compare {
        target: Target,
        op: CompareOp,
        operand: Operand,
    },
    /// `attr[filter]`: some value of `attr` matches `filter`.
    Elements {
        target: Target,
        filter: Box<Node>,
    },
}

fn invalid(detail: String) -> Error {
    Error::InvalidFilter(detail)
}

fn compile(filter: &Filter, scope: Scope<'_>, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "filter nests deeper than {MAX_DEPTH} levels"
        )));
    }
    let sub = |f: &Filter| compile(f, scope, depth + 1).map(Box::new);
    Ok(match filter {
        Filter::And(a, b) => Node::And(sub(a)?, sub(b)?),
        Filter::Or(a, b) => Node::Or(sub(a)?, sub(b)?),
        Filter::Not(a) => Node::Not(sub(a)?),
        Filter::Present(path) => Node::Present(resolve(path, scope)?),
        Filter::Compare { path, op, value } => compare(resolve(path, scope)?, path, *op, value)?,
        Filter::ValuePath { path, filter } => {
            let Scope::Resource(_) = scope else {
                // RFC 7644 §3.4.2.2: valFilter has no valuePath.
                return Err(invalid(format!(
                    "value filters cannot be nested (\"{}\")",
                    shown(path)
                )));
            };
            let target = resolve(path, scope)?;
            if target.sub.is_some() || !target.attr.is_complex() {
                return Err(invalid(format!(
                    "\"{}\" is not a complex attribute, so it cannot take a \"[...]\" filter",
                    shown(path)
                )));
            }
            let inner = compile(filter, Scope::Element(target.attr), depth + 1)?;
            Node::Elements {
                target,
                filter: Box::new(inner),
            }
        }
    })
}

/// Resolves a path through the catalogue, case-insensitively (RFC 7643 §2.1), and refuses
/// what the typing pass says cannot be filtered.
fn resolve(path: &AttrPath, scope: Scope<'_>) -> Result<Target> {
    match scope {
        Scope::Resource(rt) => {
            let r = rt
                .resolve(path.urn.as_deref(), &path.name, path.sub.as_deref())
                .ok_or_else(|| invalid(format!("unknown attribute \"{}\"", shown(path))))?;
            if let Some(why) = unfilterable(r.extension, r.attr, r.sub) {
                return Err(invalid(format!("\"{}\" {why}", shown(path))));
            }
            Ok(Target {
                ext: r.extension.map(|s| s.id),
                attr: r.attr,
                sub: r.sub,
                in_element: false,
            })
        }
        Scope::Element(parent) => {
            if path.urn.is_some() || path.sub.is_some() {
                return Err(invalid(format!(
                    "inside {}[...] name a sub-attribute of {} only, not \"{}\"",
                    parent.name,
                    parent.name,
                    shown(path)
                )));
            }
            let attr = parent.sub_attr(&path.name).ok_or_else(|| {
                invalid(format!(
                    "unknown attribute \"{}.{}\"",
                    parent.name,
                    clip(&path.name)
                ))
            })?;
            if let Some(why) = unfilterable(None, parent, Some(attr)) {
                return Err(invalid(format!("\"{}.{}\" {why}", parent.name, attr.name)));
            }
            Ok(Target {
                ext: None,
                attr,
                sub: None,
                in_element: parent.multi,
            })
        }
    }
}

/// Types a comparison through the shared typing pass.
fn compare(mut target: Target, path: &AttrPath, op: CompareOp, value: &Value) -> Result<Node> {
    if !value.is_null() && target.leaf().is_complex() {
        // `emails co "x"` compares the emails' `value` sub-attribute (RFC 7644 §3.4.2.2
        // examples), and so does `manager eq "id"`; a complex attribute without one has
        // nothing to compare, which the typing pass reports.
        if let Some(v) = target.attr.sub_attr("value") {
            target.sub = Some(v);
        }
    }
    Ok(match type_comparison(target.leaf(), path, op, value)? {
        Test::Absent => Node::Not(Box::new(Node::Present(target))),
        Test::Present => Node::Present(target),
        Test::Compare(op, operand) => Node::Compare {
            target,
            op,
            operand,
        },
    })
}

impl Node {
    fn eval(&self, root: &Value) -> bool {
        match self {
            Node::And(a, b) => a.eval(root) && b.eval(root),
            Node::Or(a, b) => a.eval(root) || b.eval(root),
            Node::Not(a) => !a.eval(root),
            Node::Present(t) => t.values(root).into_iter().any(is_present),
            Node::Compare {
                target,
                op,
                operand,
            } => {
                let case_exact = target.leaf().case_exact;
                target
                    .values(root)
                    .into_iter()
                    .any(|v| test(v, *op, operand, case_exact))
            }
            Node::Elements { target, filter } => target
                .values(root)
                .into_iter()
                .any(|element| filter.eval(element)),
        }
    }
}

/// RFC 7644 §3.4.2.2 `pr`: "If the attribute has a non-empty value, or if it contains a non-empty
/// node for complex attributes". Empty strings count as empty too.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// One attribute value against the operand; a stored value of another JSON type (which a
/// canonical resource never holds) is no match.
fn test(v: &Value, op: CompareOp, operand: &Operand, case_exact: bool) -> bool {
    match operand {
        Operand::Text(want) => {
            let Some(have) = v.as_str() else {
                return false;
            };
            let have = fold_if(have, case_exact);
            match op {
                CompareOp::Co => have.contains(want.as_str()),
                CompareOp::Sw => have.starts_with(want.as_str()),
                CompareOp::Ew => have.ends_with(want.as_str()),
                // Lexicographic by code point (RFC 7644 §3.4.2.2 Table 3).
                _ => ordered(op, (*have).cmp(want.as_str())),
            }
        }
        Operand::Int(want) => v
            .as_number()
            .and_then(|have| cmp_numbers(have, &Number::from(*want)))
            .is_some_and(|o| ordered(op, o)),
        Operand::Dec(want) => v
            .as_f64()
            .and_then(|have| have.partial_cmp(want))
            .is_some_and(|o| ordered(op, o)),
        Operand::Bool(want) => v.as_bool().is_some_and(|have| ordered(op, have.cmp(want))),
        Operand::Instant(want) => v
            .as_str()
            .and_then(parse_instant)
            .is_some_and(|have| ordered(op, have.cmp(want))),
    }
}

/// `eq ne gt ge lt le` from an ordering; the substring operators never reach here, because
/// the typing pass only allows them on text.
fn ordered(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Eq => o.is_eq(),
        CompareOp::Ne => o.is_ne(),
        CompareOp::Gt => o.is_gt(),
        CompareOp::Ge => o.is_ge(),
        CompareOp::Lt => o.is_lt(),
        CompareOp::Le => o.is_le(),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Integers compare exactly; anything involving a fraction compares as f64.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// A member of a JSON object, by exact key first, then ASCII case-insensitively: stored
/// resources use canonical names, but attribute names are case-insensitive (RFC 7643 §2.1).
fn field<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The values of a possibly multi-valued attribute: an array's elements, or the one value.
fn each(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a.as_slice(),
        other => std::slice::from_ref(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{GROUP_TYPE, USER_TYPE};
    // Test-only use of the parser, one layer up: filters read better as text than as trees.
    use crate::scim::filter::parse_filter;
    use serde_json::json;

    /// RFC 7643 §8.2's full User, trimmed, plus the enterprise extension.
    fn bjensen() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {
                "formatted": "Ms. Barbara J Jensen, III",
                "familyName": "Jensen",
                "givenName": "Barbara",
                "middleName": "",
            },
            "displayName": "Babs Jensen",
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "ims": [{"value": "someaimhandle", "type": "aim"}],
            "phoneNumbers": [],
            "groups": [{"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides"}],
            "x509Certificates": [{"value": "MIIDQzCCAqy"}],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "version": "W/\"3694e05e9dff591\"",
            },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "department": "Tour Operations",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            }
        })
    }

    fn user(filter: &str) -> Result<bool> {
        matches_resource(&parse_filter(filter).unwrap(), &bjensen(), &USER_TYPE)
    }

    fn yes(filter: &str) {
        assert_eq!(user(filter), Ok(true), "{filter}");
    }

    fn no(filter: &str) {
        assert_eq!(user(filter), Ok(false), "{filter}");
    }

    fn err(filter: &str) -> String {
        match user(filter) {
            Err(Error::InvalidFilter(d)) => d,
            other => panic!("{filter}: expected InvalidFilter, got {other:?}"),
        }
    }

    #[test]
    fn eq_and_ne_honour_case_exact() {
        // userName is caseExact false, id and externalId are caseExact true (RFC 7643 §4.1, §3.1).
        yes(r#"userName eq "BJensen@Example.com""#);
        yes(r#"USERNAME Eq "bjensen@example.com""#);
        no(r#"userName ne "BJENSEN@EXAMPLE.COM""#);
        yes(r#"id eq "2819c223-7f76-453a-919d-413861904646""#);
        no(r#"id eq "2819C223-7F76-453A-919D-413861904646""#);
        yes(r#"id ne "2819C223-7F76-453A-919D-413861904646""#);
        yes(r#"name.familyName eq "jensen""#);
        yes(r#"displayName ne "Someone Else""#);
        // Absent attributes have no value to differ from.
        no(r#"nickName ne "x""#);
    }

    #[test]
    fn case_insensitive_comparison_is_unicode_aware() {
        let r = json!({"userName": "ÉMILE"});
        let f = parse_filter(r#"userName eq "émile""#).unwrap();
        assert_eq!(matches_resource(&f, &r, &USER_TYPE), Ok(true));
        let f = parse_filter(r#"userName sw "émi""#).unwrap();
        assert_eq!(matches_resource(&f, &r, &USER_TYPE), Ok(true));
    }

    #[test]
    fn substring_operators() {
        yes(r#"userName co "JENSEN@""#);
        yes(r#"userName sw "bjen""#);
        yes(r#"userName ew ".COM""#);
        no(r#"userName sw "jensen""#);
        no(r#"userName ew "example""#);
        yes(r#"title co """#);
        yes(r#"externalId sw "7019""#);
        // caseExact references: the $ref-less group value is caseExact.
        no(r#"groups.value co "E9E30""#);
        yes(r#"groups.value co "e9e30""#);
    }

    #[test]
    fn ordering_on_strings_is_lexicographic() {
        yes(r#"userName gt "a""#);
        yes(r#"userName lt "c""#);
        yes(r#"userName ge "BJENSEN@EXAMPLE.COM""#);
        yes(r#"userName le "bjensen@example.com""#);
        no(r#"userName gt "bjensen@example.com""#);
        no(r#"title lt "Tour Guide""#);
    }

    #[test]
    fn datetimes_compare_as_instants() {
        // The RFC 7644 §3.4.2.2 examples.
        no(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#);
        yes(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#);
        no(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#);
        yes(r#"meta.lastModified le "2011-05-13T04:42:34Z""#);
        // Same instant, other offset and precision.
        yes(r#"meta.lastModified eq "2011-05-13T06:42:34.000+02:00""#);
        yes(r#"meta.created lt "2010-01-23T04:56:22.5Z""#);
        yes(r#"meta.created gt "2010-01-23T00:00:00-04:00""#);
        // A dateTime is an instant, not text: the substring operators are refused, as in SQL
        // (model::typing: one instant has many RFC 3339 spellings).
        assert_eq!(
            err(r#"meta.created sw "2010-01""#),
            r#""meta.created" is a dateTime, so it cannot be compared with "sw""#
        );
        let d = err(r#"meta.created gt "yesterday""#);
        assert_eq!(
            d,
            r#""meta.created" takes an RFC 3339 dateTime such as "2026-01-01T00:00:00Z", not "yesterday""#
        );
        err(r#"meta.created eq "2011-05-13""#);
        // A number is not a dateTime: invalidFilter, like any type mismatch.
        err("meta.created gt 5");
    }

    #[test]
    fn booleans_compare_only_to_booleans() {
        yes("active eq true");
        yes("active eq TRUE");
        no("active eq false");
        yes("active ne false");
        // A string "true" is not a boolean: invalidFilter (RFC 7644 §3.12), as in SQL.
        assert_eq!(
            err(r#"active eq "true""#),
            r#""active" is a boolean (true or false, unquoted), so it cannot be compared with a string"#
        );
        err(r#"active ne "true""#);
        // The home email has no `primary`, which RFC 7643 §2.4 says is false.
        yes("emails.primary eq false");
        yes("emails.primary eq true");
        no("ims.primary eq true");
        yes("ims.primary eq false");
        assert_eq!(
            err("active gt false"),
            r#""active" is a boolean, so it cannot be compared with "gt""#
        );
        err(r#"active co "t""#);
        err("emails.primary le true");
        err(r#"emails[primary sw "t"]"#);
    }

    #[test]
    fn binary_allows_equality_but_not_ordering() {
        yes(r#"x509Certificates.value sw "MIID""#);
        no(r#"x509Certificates.value eq "miidqzccaqy""#);
        assert_eq!(
            err(r#"x509Certificates.value gt "A""#),
            r#""x509Certificates.value" is binary, so it cannot be compared with "gt""#
        );
    }

    #[test]
    fn type_mismatches_are_invalid_filters() {
        // RFC 7644 §3.12 invalidFilter: "the specified attribute and filter comparison
        // combination is not supported". The SQL compiler says the same.
        assert_eq!(
            err("userName eq 5"),
            r#""userName" is a string, so it cannot be compared with a number"#
        );
        err("userName ne 5");
        err("title gt 1");
        err("userName eq true");
        err(r#"emails.primary eq "true""#);
        err(r#"emails[primary eq "true"]"#);
        err(r#"emails[value eq 5]"#);
    }

    #[test]
    fn present_means_non_null_non_empty() {
        yes("title pr");
        yes("name pr");
        yes("emails pr");
        yes("emails.type pr");
        yes("active pr");
        no("nickName pr");
        no("name.middleName pr");
        no("phoneNumbers pr");
        no("addresses pr");
        let r = json!({"title": null, "name": {"givenName": null}, "emails": [{}, null]});
        for f in [
            "title pr",
            "name pr",
            "name.givenName pr",
            "emails pr",
            "emails.value pr",
        ] {
            let f = parse_filter(f).unwrap();
            assert_eq!(matches_resource(&f, &r, &USER_TYPE), Ok(false), "{f:?}");
        }
    }

    #[test]
    fn null_comparisons_mean_absent_or_present() {
        yes("nickName eq null");
        yes("phoneNumbers eq null");
        yes("name.middleName eq null");
        no("title eq null");
        yes("title ne null");
        no("nickName ne null");
        assert_eq!(
            err("title gt null"),
            r#"null can only be compared with "eq" or "ne", not "gt""#
        );
    }

    #[test]
    fn multi_valued_attributes_match_if_any_value_does() {
        yes(r#"emails.value ew "jensen.org""#);
        yes(r#"emails.type eq "home""#);
        no(r#"emails.type eq "other""#);
        // Without a sub-attribute, a multi-valued complex attribute compares its `value`
        // (RFC 7644 §3.4.2.2 `emails co "example.com"`).
        yes(r#"emails co "example.com""#);
        yes(r#"emails eq "babs@jensen.org""#);
        no(r#"emails co "example.org""#);
        // ne: some value differs.
        yes(r#"emails.type ne "work""#);
        // Complex without a `value` has nothing to compare.
        assert_eq!(
            err(r#"name eq "x""#),
            r#""name" is complex: compare one of its sub-attributes"#
        );
    }

    #[test]
    fn rfc7644_logical_examples() {
        yes(r#"title pr and userType eq "Employee""#);
        yes(r#"title pr or userType eq "Intern""#);
        no(r#"title pr and userType eq "Intern""#);
        yes(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        );
        no(
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        );
        yes(r#"not (userType ne "Employee") and not (emails co "example.org")"#);
        yes(r#"userType eq "Employee" and (emails.type eq "work")"#);
        yes(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#);
        yes(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        );
        no(
            r#"emails[type eq "xmpp" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        );
        yes(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J" or userName sw "B""#);
    }

    #[test]
    fn value_paths_need_one_element_to_satisfy_the_whole_filter() {
        // Work is example.com and home is jensen.org, never both in one element.
        no(r#"emails[type eq "work" and value co "jensen.org"]"#);
        yes(r#"emails[type eq "work" or value co "jensen.org"]"#);
        yes(r#"emails[not (type eq "work")]"#);
        // Microsoft Entra form.
        yes(r#"emails[type eq "work"].value eq "BJENSEN@example.com""#);
        no(r#"emails[type eq "home"].value eq "bjensen@example.com""#);
        // A singular complex attribute is one element.
        yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName sw "john"]"#,
        );
        no("phoneNumbers[type pr]");
        assert_eq!(
            err(r#"title[value eq "x"]"#),
            r#""title" is not a complex attribute, so it cannot take a "[...]" filter"#
        );
    }

    #[test]
    fn extension_attributes_live_under_their_urn() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        yes(&format!(r#"{ent}:employeeNumber eq "701984""#));
        yes(&format!(
            r#"{ent}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#
        ));
        yes(&format!(
            r#"{}:department co "operations""#,
            ent.to_uppercase()
        ));
        no(&format!("{ent}:costCenter pr"));
        // Unqualified names mean the core schema.
        assert_eq!(
            err(r#"employeeNumber eq "701984""#),
            r#"unknown attribute "employeeNumber""#
        );
    }

    #[test]
    fn object_keys_are_found_case_insensitively() {
        let r = json!({"USERNAME": "x", "Emails": [{"VALUE": "a@b", "Type": "work"}]});
        for f in [
            r#"userName eq "X""#,
            r#"emails[type eq "work"]"#,
            r#"emails.value eq "a@b""#,
        ] {
            let f = parse_filter(f).unwrap();
            assert_eq!(matches_resource(&f, &r, &USER_TYPE), Ok(true), "{f:?}");
        }
    }

    #[test]
    fn unknown_attributes_are_invalid_filters_even_without_data() {
        assert_eq!(err("nope pr"), r#"unknown attribute "nope""#);
        assert_eq!(
            err(r#"name.nope eq "x""#),
            r#"unknown attribute "name.nope""#
        );
        assert_eq!(err("emails[nope pr]"), r#"unknown attribute "emails.nope""#);
        assert_eq!(
            err("urn:x:y:userName pr"),
            r#"unknown attribute "urn:x:y:userName""#
        );
        let f = parse_filter("members[bogus pr]").unwrap();
        assert!(matches!(
            matches_resource(&f, &json!({}), &GROUP_TYPE),
            Err(Error::InvalidFilter(_))
        ));
    }

    #[test]
    fn numbers_compare_numerically() {
        // The catalogue has no number attributes yet, so exercise the comparison directly.
        let n = |v: Value| v.as_number().cloned().unwrap();
        assert_eq!(
            cmp_numbers(&n(json!(10)), &n(json!(9))),
            Some(Ordering::Greater)
        );
        assert_eq!(
            cmp_numbers(&n(json!(1)), &n(json!(1.0))),
            Some(Ordering::Equal)
        );
        assert_eq!(
            cmp_numbers(&n(json!(-1)), &n(json!(u64::MAX))),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp_numbers(&n(json!(i64::MAX)), &n(json!(i64::MAX - 1))),
            Some(Ordering::Greater)
        );
        assert!(test(&json!(2.5), CompareOp::Gt, &Operand::Int(2), true));
        assert!(test(&json!(3), CompareOp::Gt, &Operand::Int(2), true));
        assert!(!test(
            &json!(i64::MIN),
            CompareOp::Ge,
            &Operand::Int(-1),
            true
        ));
        assert!(test(&json!(2), CompareOp::Le, &Operand::Dec(2.0), true));
        assert!(!test(
            &json!(2.25),
            CompareOp::Lt,
            &Operand::Dec(2.25),
            true
        ));
        // A stored value of another type (never in a canonical resource) is no match.
        assert!(!test(&json!("3"), CompareOp::Gt, &Operand::Int(2), true));
    }

    #[test]
    fn matches_element_resolves_against_the_parent() {
        let emails = USER_TYPE.core.attr("emails").unwrap();
        let members = GROUP_TYPE.core.attr("members").unwrap();
        let work = json!({"value": "a@example.com", "type": "Work", "primary": true});
        let m = |f: &str, e: &Value, p| matches_element(&parse_filter(f).unwrap(), e, p);
        assert_eq!(m(r#"type eq "work""#, &work, emails), Ok(true));
        assert_eq!(
            m(r#"TYPE eq "work" and primary eq true"#, &work, emails),
            Ok(true)
        );
        assert_eq!(m(r#"value ew "EXAMPLE.COM""#, &work, emails), Ok(true));
        assert_eq!(m("display pr", &work, emails), Ok(false));
        // members.value is caseExact.
        let member = json!({"value": "2819c223-7f76", "display": "Babs"});
        assert_eq!(m(r#"value eq "2819c223-7f76""#, &member, members), Ok(true));
        assert_eq!(
            m(r#"value eq "2819C223-7F76""#, &member, members),
            Ok(false)
        );
        // `$ref` is computed when a resource is read: not filterable, in SQL either.
        assert!(matches!(
            m(r#"$ref pr"#, &member, members),
            Err(Error::InvalidFilter(_))
        ));
        for bad in [
            "nope pr",
            "emails.type pr",
            r#"type[value eq "x"]"#,
            "primary gt true",
        ] {
            let f = match bad {
                // The parser already refuses these two; build the trees by hand.
                "emails.type pr" => Filter::Present(AttrPath {
                    urn: None,
                    name: "emails".into(),
                    sub: Some("type".into()),
                }),
                r#"type[value eq "x"]"# => Filter::ValuePath {
                    path: AttrPath::simple("type"),
                    filter: Box::new(Filter::Present(AttrPath::simple("value"))),
                },
                _ => parse_filter(bad).unwrap(),
            };
            assert!(
                matches!(
                    matches_element(&f, &work, emails),
                    Err(Error::InvalidFilter(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn hand_built_deep_trees_are_refused() {
        let mut f = Filter::Present(AttrPath::simple("title"));
        for _ in 0..300 {
            f = Filter::Not(Box::new(f));
        }
        assert!(matches!(
            matches_resource(&f, &bjensen(), &USER_TYPE),
            Err(Error::InvalidFilter(_))
        ));
    }
}
