//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9), honouring each attribute's
//! `returned` characteristic.

use crate::model::schema::{Attr, Resolved, ResourceType, Returned, Schema};
use serde_json::{Map, Value};

/// One attribute named in `attributes` or `excludedAttributes`.
#[derive(Debug, Clone, Copy)]
enum Target {
    Attr(Resolved),
    /// A whole extension named by its URN.
    Extension(&'static Schema),
}

/// Which attributes a response carries. The default (no parameters) returns every attribute
/// whose `returned` is `always` or `default`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
}

fn parse_list(rt: &'static ResourceType, list: &str) -> Vec<Target> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter_map(|path| {
            if let Some(schema) = rt
                .extensions
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(path))
            {
                return Some(Target::Extension(schema));
            }
            let (urn, rest) = rt.split_urn(path);
            let (name, sub) = match rest.split_once('.') {
                Some((n, s)) => (n, Some(s)),
                None => (rest, None),
            };
            // Unknown names are ignored: RFC 7644 gives no error for them.
            rt.resolve(urn, name, sub).map(Target::Attr)
        })
        .collect()
}

impl Projection {
    pub fn parse(
        rt: &'static ResourceType,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Projection {
        let mut include = attributes
            .map(|a| parse_list(rt, a))
            .filter(|l| !l.is_empty());
        let mut exclude = excluded.map(|e| parse_list(rt, e)).unwrap_or_default();
        // Declared attributes keep their `returned` (RFC 7643 §2.2): `never` is never sent,
        // `request` only when named, `always` even when other attributes are named.
        for schema in crate::model::declared::declared_of(rt) {
            for attr in schema.attributes {
                let target = Target::Attr(Resolved {
                    extension: Some(schema),
                    attr,
                    sub: None,
                });
                let named = include.as_ref().is_some_and(|list| {
                    list.iter().any(|t| match t {
                        Target::Extension(s) => std::ptr::eq(*s, schema),
                        Target::Attr(r) => {
                            r.extension.is_some_and(|s| std::ptr::eq(s, schema))
                                && std::ptr::eq(r.attr, attr)
                        }
                    })
                });
                match attr.returned {
                    Returned::Never => exclude.push(target),
                    Returned::Request if !named => exclude.push(target),
                    Returned::Always => {
                        if let Some(list) = include.as_mut() {
                            list.push(target);
                        }
                    }
                    Returned::Request | Returned::Default => {}
                }
            }
        }
        Projection { include, exclude }
    }

    /// True when the response is the default representation (the fast path).
    pub fn is_default(&self) -> bool {
        self.include.is_none() && self.exclude.is_empty()
    }

    /// Whether a core attribute (`members`, `groups`) will be in the response; lets callers
    /// skip loading what nobody asked for.
    pub fn returns(&self, name: &str) -> bool {
        let named = |t: &Target| matches!(t, Target::Attr(r) if r.extension.is_none() && r.attr.name == name);
        if let Some(include) = &self.include {
            return include.iter().any(named);
        }
        !self
            .exclude
            .iter()
            .any(|t| named(t) && matches!(t, Target::Attr(r) if r.sub.is_none()))
    }

    /// Whether an extension with `returned: request` attributes was asked for.
    pub fn requests_extension(&self, schema: &Schema) -> bool {
        self.include.as_ref().is_some_and(|list| {
            list.iter().any(|t| match t {
                Target::Extension(s) => std::ptr::eq(*s, schema),
                Target::Attr(r) => r.extension.is_some_and(|s| std::ptr::eq(s, schema)),
            })
        })
    }

    /// Applies the projection to a full resource.
    pub fn apply(&self, resource: Map<String, Value>) -> Map<String, Value> {
        let mut out = match &self.include {
            None => resource,
            Some(list) => {
                let mut out = Map::new();
                for key in ["schemas", "id"] {
                    if let Some(v) = resource.get(key) {
                        out.insert(key.into(), v.clone());
                    }
                }
                for target in list {
                    copy(&resource, &mut out, target);
                }
                out
            }
        };
        for target in &self.exclude {
            remove(&mut out, target);
        }
        out
    }
}

fn container<'a>(m: &'a Map<String, Value>, r: &Resolved) -> Option<&'a Map<String, Value>> {
    match r.extension {
        None => Some(m),
        Some(ext) => m.get(ext.id)?.as_object(),
    }
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, target: &Target) {
    let r = match target {
        Target::Extension(schema) => {
            if let Some(v) = from.get(schema.id) {
                to.insert(schema.id.to_string(), v.clone());
            }
            return;
        }
        Target::Attr(r) => r,
    };
    let Some(value) = container(from, r).and_then(|c| c.get(r.attr.name)) else {
        return;
    };
    let picked = match r.sub {
        None => Some(value.clone()),
        Some(sub) => only_sub(value, sub),
    };
    let Some(picked) = picked else { return };
    let dest = match r.extension {
        None => to,
        Some(ext) => {
            let entry = to
                .entry(ext.id.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            match entry.as_object_mut() {
                Some(m) => m,
                None => return,
            }
        }
    };
    merge(dest, r.attr.name, picked);
}

/// Keeps only one sub-attribute of a complex value (or of each value of a multi-valued one).
fn only_sub(value: &Value, sub: &Attr) -> Option<Value> {
    let pick = |v: &Value| {
        v.get(sub.name).map(|s| {
            let mut m = Map::new();
            m.insert(sub.name.to_string(), s.clone());
            Value::Object(m)
        })
    };
    match value {
        Value::Array(items) => {
            let picked: Vec<Value> = items.iter().filter_map(pick).collect();
            (!picked.is_empty()).then_some(Value::Array(picked))
        }
        other => pick(other),
    }
}

/// Merges a picked value into what is already there (`name.givenName` then `name.familyName`).
fn merge(dest: &mut Map<String, Value>, name: &str, picked: Value) {
    match (dest.get_mut(name), picked) {
        (Some(Value::Object(have)), Value::Object(add)) => have.extend(add),
        (Some(Value::Array(have)), Value::Array(add)) if have.len() == add.len() => {
            for (h, a) in have.iter_mut().zip(add) {
                if let (Value::Object(h), Value::Object(a)) = (h, a) {
                    h.extend(a);
                }
            }
        }
        (_, picked) => {
            dest.insert(name.to_string(), picked);
        }
    }
}

fn remove(m: &mut Map<String, Value>, target: &Target) {
    let r = match target {
        Target::Extension(schema) => {
            m.remove(schema.id);
            return;
        }
        Target::Attr(r) => r,
    };
    let attr_always = r.attr.returned == Returned::Always;
    let holder = match r.extension {
        None => Some(&mut *m),
        Some(ext) => m.get_mut(ext.id).and_then(Value::as_object_mut),
    };
    let Some(holder) = holder else { return };
    match r.sub {
        None if !attr_always => {
            holder.remove(r.attr.name);
        }
        None => {}
        Some(sub) if sub.returned != Returned::Always => match holder.get_mut(r.attr.name) {
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    if let Some(o) = item.as_object_mut() {
                        o.remove(sub.name);
                    }
                }
            }
            Some(Value::Object(o)) => {
                o.remove(sub.name);
            }
            _ => {}
        },
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn user() -> Map<String, Value> {
        json!({"schemas":["s"],"id":"1","userName":"bjensen","name":{"givenName":"B","familyName":"J"},
          "emails":[{"value":"a@x","type":"work"},{"value":"b@x"}],
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D","division":"V"},
          "meta":{"resourceType":"User"}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn attributes_keeps_always_returned_and_the_named_ones() {
        let p = Projection::parse(
            &USER_TYPE,
            Some(
                "name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            ),
            None,
        );
        let out = Value::Object(p.apply(user()));
        assert_eq!(
            out,
            json!({"schemas":["s"],"id":"1","name":{"givenName":"B"},
                "emails":[{"value":"a@x"},{"value":"b@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"D"}})
        );
    }

    #[test]
    fn excluded_attributes_never_removes_id() {
        let p = Projection::parse(&USER_TYPE, None, Some("id,emails,name.familyName,meta"));
        let out = p.apply(user());
        assert!(out.contains_key("id"));
        assert!(!out.contains_key("emails"));
        assert!(!out.contains_key("meta"));
        assert_eq!(out["name"], json!({"givenName":"B"}));
    }

    #[test]
    fn returns_tells_whether_members_are_needed() {
        assert!(Projection::default().returns("members"));
        assert!(!Projection::parse(&GROUP_TYPE, None, Some("members")).returns("members"));
        assert!(!Projection::parse(&GROUP_TYPE, Some("displayName"), None).returns("members"));
        assert!(Projection::parse(&GROUP_TYPE, Some("members.value"), None).returns("members"));
    }
}
