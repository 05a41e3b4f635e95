//! The one typing pass of the filter language (RFC 7644 §3.4.2.2), shared by both engines:
//! the SQL compiler (`store::filter_sql`) and the in-memory matcher (`model::matcher`).
//!
//! Everything that decides whether a comparison is valid and what its operand means lives
//! here, so the same filter on the same resource gives the same answer, or the same
//! `invalidFilter` detail, whichever engine runs it. The engines only decide where a value is
//! read from. The decisions, each with its reason:
//!
//! - **The operand's JSON type must be the attribute's.** `userName eq 5`, `active eq "true"`
//!   and `meta.created gt 5` are `invalidFilter`, not "no match": RFC 7644 §3.12 gives
//!   invalidFilter for "the specified attribute and filter comparison combination is not
//!   supported", and a silent empty result hides the client's mistake.
//! - **`co`, `sw` and `ew` take text**, so they are refused on a dateTime as on a boolean or a
//!   number: a dateTime is an instant compared chronologically (RFC 7644 §3.4.2.2), and one
//!   instant has many RFC 3339 spellings (offsets, fractions), so a substring test on its text
//!   would answer about formatting, not time.
//! - **Case-insensitive means Unicode full case folding** (`model::fold`) for every attribute
//!   with `caseExact: false` (RFC 7643 §2.2), not ASCII-only: the operand is folded here, and
//!   the engines compare it with folded values (stored folded columns in SQL).
//! - **Integers are integers.** An `integer` attribute (RFC 7643 §2.3.4: "a whole number with
//!   no fractional digits or decimal point") takes an integer operand within 64 bits, which is
//!   what the store can hold; `1.5`, `1e3` or a 20-digit number is refused. A `decimal`
//!   (§2.3.3) takes any number and compares as a 64-bit float.
//! - **`null` only with `eq` and `ne`**, meaning "has no value" and "has a value" (RFC 7643
//!   §2.5 treats unassigned and null alike, and `pr` is "has a non-empty value"), so `x eq
//!   null` is exactly `not (x pr)`.
//! - **Ordering (`gt ge lt le`) is refused on booleans and binary** (RFC 7644 §3.4.2.2).
//! - **Computed and never-returned attributes are not filterable**: `password` (returned
//!   never, RFC 7643 §4.1.1), `$ref`, `meta.location` and the access extensions are made when a
//!   resource is read, so no stored value could answer for them.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{Error, Result};
use crate::model::filter::{AttrPath, CompareOp};
use crate::model::fold::fold_if;
use crate::model::schema::{
    ACCESS_USER_SCHEMA, Attr, AttrType, Returned, Schema, TEAM_GROUP_SCHEMA,
};

/// A comparison's operand, typed against the attribute it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// Text for a string, reference or binary attribute; already case-folded when the
    /// attribute is not `caseExact`.
    Text(String),
    Bool(bool),
    Int(i64),
    Dec(f64),
    /// A dateTime, in UTC, within years 0000-9999 (RFC 3339's range).
    Instant(OffsetDateTime),
}

/// What one `attrPath op compValue` asks, after typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `eq null`: the attribute has no (non-empty) value.
    Absent,
    /// `ne null`: the attribute has a (non-empty) value, as `pr`.
    Present,
    /// A comparison proper; `op` is one the attribute's type allows with this operand.
    Compare(CompareOp, Operand),
}

fn invalid(detail: String) -> Error {
    Error::InvalidFilter(detail)
}

/// Types `value` against `leaf` (the attribute a comparison reaches) for operator `op`.
/// `path` is the attribute as the client wrote it, for the error detail.
///
/// Fails with `InvalidFilter` for a complex attribute, an operand of the wrong JSON type, an
/// operator the type does not allow, an unparsable or out-of-range dateTime, a non-integer
/// or out-of-range operand for an integer attribute, or `null` with anything but `eq`/`ne`.
pub fn type_comparison(leaf: &Attr, path: &AttrPath, op: CompareOp, value: &Value) -> Result<Test> {
    let shown = shown(path);
    if value.is_null() {
        return null_test(op);
    }
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let wrong_type = |expected: &str| {
        Err(invalid(format!(
            "\"{shown}\" is {expected}, so it cannot be compared with {}",
            describe(value)
        )))
    };
    let refuse = |what: &str| {
        Err(invalid(format!(
            "\"{shown}\" is {what}, so it cannot be compared with \"{}\"",
            op.as_str()
        )))
    };
    let operand = match leaf.ty {
        AttrType::Complex => {
            return Err(invalid(format!(
                "\"{shown}\" is complex: compare one of its sub-attributes"
            )));
        }
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            let Value::String(s) = value else {
                return wrong_type("a string");
            };
            if leaf.ty == AttrType::Binary && op.is_ordering() {
                return refuse("binary");
            }
            Operand::Text(fold_if(s, leaf.case_exact).into_owned())
        }
        AttrType::Boolean => {
            let Value::Bool(b) = value else {
                return wrong_type("a boolean (true or false, unquoted)");
            };
            if op.is_ordering() || substring {
                return refuse("a boolean");
            }
            Operand::Bool(*b)
        }
        AttrType::Integer => {
            let Value::Number(n) = value else {
                return wrong_type("an integer");
            };
            if substring {
                return refuse("a number");
            }
            if !(n.is_i64() || n.is_u64()) {
                return Err(invalid(format!(
                    "\"{shown}\" is an integer, so it cannot be compared with {n}, which is not one"
                )));
            }
            Operand::Int(n.as_i64().ok_or_else(|| {
                invalid(format!(
                    "{n} is outside the 64-bit integer range of \"{shown}\""
                ))
            })?)
        }
        AttrType::Decimal => {
            let Value::Number(n) = value else {
                return wrong_type("a number");
            };
            if substring {
                return refuse("a number");
            }
            // Every JSON number serde_json holds has an f64 form.
            Operand::Dec(n.as_f64().unwrap_or(f64::NAN))
        }
        AttrType::DateTime => {
            let Value::String(s) = value else {
                return wrong_type("a dateTime (a quoted RFC 3339 string)");
            };
            if substring {
                return refuse("a dateTime");
            }
            Operand::Instant(parse_instant(s).ok_or_else(|| {
                invalid(format!(
                    "\"{shown}\" takes an RFC 3339 dateTime such as \"2026-01-01T00:00:00Z\", \
                     not \"{}\"",
                    clip(s)
                ))
            })?)
        }
    };
    Ok(Test::Compare(op, operand))
}

/// `attrPath op null`: "has no value" for `eq`, "has a value" for `ne`, refused otherwise. It
/// does not depend on the attribute, so it holds for complex attributes too.
pub fn null_test(op: CompareOp) -> Result<Test> {
    match op {
        CompareOp::Eq => Ok(Test::Absent),
        CompareOp::Ne => Ok(Test::Present),
        _ => Err(invalid(format!(
            "null can only be compared with \"eq\" or \"ne\", not \"{}\"",
            op.as_str()
        ))),
    }
}

/// An RFC 3339 date-time as a UTC instant, refused when its UTC form leaves years 0000-9999.
pub fn parse_instant(s: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .checked_to_offset(UtcOffset::UTC)?;
    (0..=9999).contains(&t.year()).then_some(t)
}

/// Why an attribute cannot be used in a filter (or sort), or `None` when it can. `ext` is the
/// extension schema holding `attr` (`None` for core and common attributes), `sub` the
/// sub-attribute reached, if any.
pub fn unfilterable(ext: Option<&Schema>, attr: &Attr, sub: Option<&Attr>) -> Option<&'static str> {
    let leaf = sub.unwrap_or(attr);
    if attr.returned == Returned::Never || leaf.returned == Returned::Never {
        return Some("cannot be used in a filter or sort");
    }
    let computed = match (ext.map(|s| s.id), attr.name, sub.map(|s| s.name)) {
        _ if leaf.name == "$ref" => true,
        (None, "meta", Some("location")) => true,
        (Some(ACCESS_USER_SCHEMA), _, _) => true,
        (Some(TEAM_GROUP_SCHEMA), name, _) => name == "workspaceRoles",
        _ => false,
    };
    computed.then_some("is computed and cannot be used in a filter or sort")
}

/// A client-supplied path for an error detail, cut short if absurdly long.
pub fn shown(path: &AttrPath) -> String {
    clip(&path.to_string()).to_string()
}

pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(120) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) | Value::Object(_) => "a structure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn attr(ty: AttrType) -> Attr {
        Attr {
            name: "n",
            ty,
            multi: false,
            required: false,
            case_exact: false,
            mutability: crate::model::schema::Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: crate::model::schema::Uniqueness::None,
            canonical: &[],
            reference_types: &[],
            sub: &[],
            description: "",
        }
    }

    fn typed(ty: AttrType, op: CompareOp, v: Value) -> Result<Test> {
        type_comparison(&attr(ty), &AttrPath::simple("n"), op, &v)
    }

    fn detail(r: Result<Test>) -> String {
        match r {
            Err(Error::InvalidFilter(d)) => d,
            other => panic!("expected InvalidFilter, got {other:?}"),
        }
    }

    #[test]
    fn integers_take_64_bit_integers_only() {
        use CompareOp::*;
        assert_eq!(
            typed(AttrType::Integer, Gt, json!(-5)),
            Ok(Test::Compare(Gt, Operand::Int(-5)))
        );
        assert_eq!(
            typed(AttrType::Integer, Eq, json!(i64::MAX)),
            Ok(Test::Compare(Eq, Operand::Int(i64::MAX)))
        );
        assert_eq!(
            detail(typed(AttrType::Integer, Eq, json!(1.5))),
            r#""n" is an integer, so it cannot be compared with 1.5, which is not one"#
        );
        let big: Value = serde_json::from_str("18446744073709551615").unwrap();
        assert_eq!(
            detail(typed(AttrType::Integer, Eq, big)),
            r#"18446744073709551615 is outside the 64-bit integer range of "n""#
        );
        let huge: Value = serde_json::from_str("100000000000000000000").unwrap();
        detail(typed(AttrType::Integer, Eq, huge));
        detail(typed(AttrType::Integer, Eq, json!("5")));
        detail(typed(AttrType::Integer, Co, json!(5)));
    }

    #[test]
    fn decimals_take_any_number() {
        use CompareOp::*;
        assert_eq!(
            typed(AttrType::Decimal, Le, json!(2)),
            Ok(Test::Compare(Le, Operand::Dec(2.0)))
        );
        assert_eq!(
            typed(AttrType::Decimal, Lt, json!(1.25)),
            Ok(Test::Compare(Lt, Operand::Dec(1.25)))
        );
        detail(typed(AttrType::Decimal, Eq, json!("1.25")));
        detail(typed(AttrType::Decimal, Sw, json!(1)));
    }

    #[test]
    fn text_operands_are_folded_unless_case_exact() {
        use CompareOp::*;
        assert_eq!(
            typed(AttrType::String, Eq, json!("STRASSE")),
            Ok(Test::Compare(Eq, Operand::Text("strasse".into())))
        );
        let mut exact = attr(AttrType::String);
        exact.case_exact = true;
        assert_eq!(
            type_comparison(&exact, &AttrPath::simple("n"), Sw, &json!("ÉMILE")),
            Ok(Test::Compare(Sw, Operand::Text("ÉMILE".into())))
        );
    }

    #[test]
    fn date_times_are_instants_without_substring_operators() {
        use CompareOp::*;
        assert!(matches!(
            typed(AttrType::DateTime, Ge, json!("2026-01-01T01:00:00+01:00")),
            Ok(Test::Compare(Ge, Operand::Instant(t))) if t.hour() == 0 && t.year() == 2026
        ));
        assert_eq!(
            detail(typed(AttrType::DateTime, Sw, json!("2026"))),
            r#""n" is a dateTime, so it cannot be compared with "sw""#
        );
        // Year 0000 one hour east of UTC is year -1 in UTC: outside RFC 3339.
        detail(typed(
            AttrType::DateTime,
            Gt,
            json!("0000-01-01T00:00:00+01:00"),
        ));
        detail(typed(AttrType::DateTime, Gt, json!("2026-01-01")));
        detail(typed(AttrType::DateTime, Gt, json!(20260101)));
    }

    #[test]
    fn null_means_absent_or_present() {
        use CompareOp::*;
        assert_eq!(typed(AttrType::String, Eq, json!(null)), Ok(Test::Absent));
        assert_eq!(typed(AttrType::Boolean, Ne, json!(null)), Ok(Test::Present));
        detail(typed(AttrType::String, Gt, json!(null)));
    }

    #[test]
    fn computed_and_hidden_attributes_are_not_filterable() {
        let r = |rt: &crate::model::schema::ResourceType, urn, name, sub| {
            let r = rt.resolve(urn, name, sub).unwrap();
            unfilterable(r.extension, r.attr, r.sub)
        };
        assert!(r(&USER_TYPE, None, "password", None).is_some());
        assert!(r(&USER_TYPE, None, "groups", Some("$ref")).is_some());
        assert!(r(&USER_TYPE, None, "meta", Some("location")).is_some());
        assert!(
            r(
                &USER_TYPE,
                Some(ACCESS_USER_SCHEMA),
                "organizationRole",
                None
            )
            .is_some()
        );
        assert!(r(&GROUP_TYPE, Some(TEAM_GROUP_SCHEMA), "workspaceRoles", None).is_some());
        assert!(
            r(
                &GROUP_TYPE,
                Some(TEAM_GROUP_SCHEMA),
                "organizationRole",
                None
            )
            .is_none()
        );
        assert!(r(&GROUP_TYPE, Some(TEAM_GROUP_SCHEMA), "description", None).is_none());
        assert!(r(&USER_TYPE, None, "meta", Some("created")).is_none());
        assert!(r(&USER_TYPE, None, "userName", None).is_none());
    }
}
