//! SCIM provisioning events (RFC 9967 §2.4): what a change to a User or Team announces. Pure
//! functions from a change's audit facts (action, states before and after) to the event
//! payload the outbox keeps; the SET around it is built at delivery (`crate::events::set`).

use super::schema::TEAM_GROUP_SCHEMA;
use serde_json::{Map, Value, json};

pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
pub const PUT_NOTICE: &str = "urn:ietf:params:scim:event:prov:put:notice";
pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

/// Every event URI scimbox emits, as ServiceProviderConfig's `securityEvents.eventUris`
/// lists them (RFC 9967 §4).
pub const EVENT_URIS: [&str; 9] = [
    CREATE_FULL,
    CREATE_NOTICE,
    PATCH_FULL,
    PATCH_NOTICE,
    PUT_FULL,
    PUT_NOTICE,
    DELETE,
    ACTIVATE,
    DEACTIVATE,
];

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The kind of provisioning event (RFC 9967 §2.4.1-§2.4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Put,
    Patch,
    Delete,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Put => "put",
            Kind::Patch => "patch",
            Kind::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "create" => Some(Kind::Create),
            "put" => Some(Kind::Put),
            "patch" => Some(Kind::Patch),
            "delete" => Some(Kind::Delete),
            _ => None,
        }
    }

    /// The event URI for a receiver that wants `full` data or a `notice` (RFC 9967 §2.4:
    /// "full" exactly when the `data` payload is included; delete has neither).
    pub fn uri(self, full: bool) -> &'static str {
        match (self, full) {
            (Kind::Create, true) => CREATE_FULL,
            (Kind::Create, false) => CREATE_NOTICE,
            (Kind::Put, true) => PUT_FULL,
            (Kind::Put, false) => PUT_NOTICE,
            (Kind::Patch, true) => PATCH_FULL,
            (Kind::Patch, false) => PATCH_NOTICE,
            (Kind::Delete, _) => DELETE,
        }
    }
}

/// What one change announces.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: Kind,
    /// The attributes created or modified, as SCIM paths (the `notice` payload).
    pub attributes: Vec<String>,
    /// The `full` payload: the resource (create, put) or the equivalent PatchOp (patch).
    pub data: Option<Value>,
    /// `Some(true)`: the user became active (an activate event rides along in the same SET);
    /// `Some(false)`: it was deactivated.
    pub activation: Option<bool>,
}

/// The event a change makes, from its audit facts: `action` as the directory records it
/// (`create`, `update`, `delete`, `members`, `roles`), `how` the change's reason (a SCIM PUT
/// says `SCIM PUT /…`; every other update is partial, so a patch), and the states as stored
/// text. `None` for changes that are not SCIM resource changes (a Workspace, a token...) or
/// that changed nothing.
pub fn derive(
    resource_type: &str,
    action: &str,
    how: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
) -> Option<Change> {
    if resource_type != "User" && resource_type != "Team" {
        return None;
    }
    let parse = |t: Option<&str>| -> Map<String, Value> {
        t.and_then(|t| serde_json::from_str::<Map<String, Value>>(t).ok())
            .unwrap_or_default()
    };
    match action {
        "create" => {
            let after = parse(after);
            let mut attributes = vec!["id".to_string()];
            attributes.extend(after.keys().filter(|k| *k != "schemas").cloned());
            Some(Change {
                kind: Kind::Create,
                attributes,
                data: Some(Value::Object(after)),
                activation: None,
            })
        }
        "update" => {
            let (before, after) = (parse(before), parse(after));
            let attributes = changed_paths(&before, &after);
            if attributes.is_empty() {
                return None;
            }
            let activation = (resource_type == "User")
                .then(|| active(&before) != active(&after))
                .filter(|changed| *changed)
                .map(|_| active(&after));
            let put = how.is_some_and(|h| h.starts_with("SCIM PUT "));
            Some(if put {
                Change {
                    kind: Kind::Put,
                    attributes,
                    data: Some(Value::Object(after)),
                    activation,
                }
            } else {
                Change {
                    kind: Kind::Patch,
                    data: Some(patch_op(&before, &after)),
                    attributes,
                    activation,
                }
            })
        }
        "delete" => Some(Change {
            kind: Kind::Delete,
            attributes: Vec::new(),
            data: None,
            activation: None,
        }),
        "members" if resource_type == "Team" => {
            let delta = parse(after);
            let ids = |k: &str| -> Vec<String> {
                delta
                    .get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (added, removed) = (ids("added"), ids("removed"));
            if added.is_empty() && removed.is_empty() {
                return None;
            }
            // RFC 9967 Figure 6: the membership change as the PatchOp that makes it.
            let mut ops = Vec::new();
            if !added.is_empty() {
                let value: Vec<Value> = added.iter().map(|id| json!({"value": id})).collect();
                ops.push(json!({"op": "add", "path": "members", "value": value}));
            }
            if !removed.is_empty() {
                let filter = removed
                    .iter()
                    .map(|id| format!("value eq {}", Value::String(id.clone())))
                    .collect::<Vec<_>>()
                    .join(" or ");
                ops.push(json!({"op": "remove", "path": format!("members[{filter}]")}));
            }
            Some(Change {
                kind: Kind::Patch,
                attributes: vec!["members".into()],
                data: Some(json!({"schemas": [PATCH_OP], "Operations": ops})),
                activation: None,
            })
        }
        "roles" if resource_type == "Team" => {
            let access: Value = after
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            Some(Change {
                kind: Kind::Patch,
                attributes: vec![TEAM_GROUP_SCHEMA.to_string()],
                data: Some(json!({"schemas": [PATCH_OP], "Operations": [
                    {"op": "replace", "path": TEAM_GROUP_SCHEMA, "value": access}
                ]})),
                activation: None,
            })
        }
        _ => None,
    }
}

fn active(data: &Map<String, Value>) -> bool {
    data.get("active").and_then(Value::as_bool).unwrap_or(true)
}

/// Whether a top-level key is a schema extension (`urn:…`), whose sub-attributes are named
/// one by one (`urn:…:User:employeeNumber`, a valid `path` of RFC 7644 §3.5.2).
fn is_extension(key: &str) -> bool {
    key.len() > 4 && key[..4].eq_ignore_ascii_case("urn:")
}

/// The attributes that differ between two states, as SCIM paths, in a stable order.
pub fn changed_paths(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        if b == a || key == "schemas" {
            continue;
        }
        match (b, a) {
            (Some(Value::Object(b)), Some(Value::Object(a))) if is_extension(key) => {
                for sub in changed_paths(b, a) {
                    out.push(format!("{key}:{sub}"));
                }
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// The PatchOp (RFC 7644 §3.5.2) that turns `before` into `after`: a `replace` for each
/// attribute with a new value, a `remove` for each one that went.
pub fn patch_op(before: &Map<String, Value>, after: &Map<String, Value>) -> Value {
    let mut ops = Vec::new();
    for path in changed_paths(before, after) {
        let value = match path.rsplit_once(':').filter(|_| is_extension(&path)) {
            Some((urn, sub)) => after
                .get(urn)
                .and_then(|e| e.get(sub))
                .cloned()
                .or_else(|| after.get(&path).cloned()),
            None => after.get(&path).cloned(),
        };
        ops.push(match value {
            Some(v) => json!({"op": "replace", "path": path, "value": v}),
            None => json!({"op": "remove", "path": path}),
        });
    }
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn text(v: Value) -> String {
        v.to_string()
    }

    #[test]
    fn a_create_lists_its_attributes_and_carries_the_resource() {
        let after = text(json!({"schemas": [USER], "userName": "jdoe", "emails": []}));
        let c = derive(
            "User",
            "create",
            Some("SCIM POST /Users"),
            None,
            Some(&after),
        )
        .unwrap();
        assert_eq!(c.kind, Kind::Create);
        assert_eq!(c.attributes, ["id", "emails", "userName"]);
        assert_eq!(c.data.unwrap()["userName"], "jdoe");
        assert_eq!(c.kind.uri(false), CREATE_NOTICE);
        assert_eq!(c.kind.uri(true), CREATE_FULL);
    }

    #[test]
    fn a_put_is_a_put_and_anything_else_is_a_patch() {
        let before = text(json!({"userName": "a", "title": "x"}));
        let after = text(json!({"userName": "b", "title": "x"}));
        let put = derive(
            "User",
            "update",
            Some("SCIM PUT /Users/1"),
            Some(&before),
            Some(&after),
        )
        .unwrap();
        assert_eq!(put.kind, Kind::Put);
        assert_eq!(put.attributes, ["userName"]);
        let patch = derive(
            "User",
            "update",
            Some("admin: fix name"),
            Some(&before),
            Some(&after),
        )
        .unwrap();
        assert_eq!(patch.kind, Kind::Patch);
        assert_eq!(
            patch.data.unwrap()["Operations"],
            json!([{"op": "replace", "path": "userName", "value": "b"}])
        );
    }

    #[test]
    fn deactivating_a_user_says_so_beside_the_patch() {
        let before = text(json!({"userName": "a", "active": true}));
        let after = text(json!({"userName": "a", "active": false}));
        let c = derive("User", "update", None, Some(&before), Some(&after)).unwrap();
        assert_eq!(c.activation, Some(false));
        assert_eq!(c.attributes, ["active"]);
        let back = derive("User", "update", None, Some(&after), Some(&before)).unwrap();
        assert_eq!(back.activation, Some(true));
    }

    #[test]
    fn extension_changes_are_named_by_their_full_path() {
        let before = text(json!({ENTERPRISE: {"employeeNumber": "1", "division": "x"}}));
        let after = text(json!({ENTERPRISE: {"employeeNumber": "2", "division": "x"}}));
        let c = derive("User", "update", None, Some(&before), Some(&after)).unwrap();
        let path = format!("{ENTERPRISE}:employeeNumber");
        assert_eq!(c.attributes, vec![path.clone()]);
        assert_eq!(
            c.data.unwrap()["Operations"],
            json!([{"op": "replace", "path": path, "value": "2"}])
        );
    }

    #[test]
    fn a_removed_attribute_is_a_remove_operation() {
        let before = text(json!({"userName": "a", "title": "x"}));
        let after = text(json!({"userName": "a"}));
        let c = derive("User", "update", None, Some(&before), Some(&after)).unwrap();
        assert_eq!(
            c.data.unwrap()["Operations"],
            json!([{"op": "remove", "path": "title"}])
        );
    }

    #[test]
    fn membership_changes_are_the_patch_that_makes_them() {
        let delta = text(json!({"added": ["u1", "u2"], "removed": ["u3"]}));
        let c = derive("Team", "members", None, None, Some(&delta)).unwrap();
        assert_eq!(c.kind, Kind::Patch);
        assert_eq!(c.attributes, ["members"]);
        assert_eq!(
            c.data.unwrap()["Operations"],
            json!([
                {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
                {"op": "remove", "path": "members[value eq \"u3\"]"}
            ])
        );
    }

    #[test]
    fn changes_to_other_things_make_no_event() {
        assert!(derive("Workspace", "create", None, None, Some("w")).is_none());
        assert!(derive("Token", "create", None, None, Some("{}")).is_none());
        let same = text(json!({"userName": "a"}));
        assert!(derive("User", "update", None, Some(&same), Some(&same)).is_none());
        assert_eq!(
            derive("Team", "delete", None, Some("{}"), None)
                .unwrap()
                .kind,
            Kind::Delete
        );
    }
}
