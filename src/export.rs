//! Export of one organization (`scimbox export`): JSON in the format `scimbox-export/1`,
//!
//! ```json
//! {"format": "scimbox-export/1", "exportedAt": "…",
//!  "organization": {"id": "…", "name": "…", "scimEnabled": true},
//!  "users": [{"id": "…", "userName": "…", …the stored SCIM User…}],
//!  "teams": [{"id": "…", "displayName": "…", …the stored SCIM Group without members…,
//!             "scimbox": {"origin": "scim", "organizationRole": "ORGANIZATION_MEMBER",
//!                         "workspaceRoles": [{"workspace": "…id…", "role": "WORKSPACE_MEMBER"}],
//!                         "deploymentRoles": [{"deployment": "…id…", "role": "DEPLOYMENT_ADMIN"},
//!                                             {"deployment": "…id…", "customRole": "…id…"}]}}],
//!  "workspaces": [{"id": "…", "name": "…"}],
//!  "deployments": [{"id": "…", "name": "…", "workspace": "…id…"}],
//!  "deploymentRoles": [{"id": "…", "name": "…", "permissions": ["deployment.get"]}],
//!  "memberships": [{"team": "…team id…", "user": "…user id…"}],
//!  "schemas": [{"resourceType": "User", "schema": {…RFC 7643 §7 schema…}}]}
//! ```
//!
//! or CSV for people (three sections, see [`csv`]). `import` reads the JSON form back.

use crate::directory::transfer::Snapshot;
use crate::store::orgs::Org;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub const FORMAT: &str = "scimbox-export/1";

/// The JSON export of a snapshot.
pub fn to_json(org: &Org, snap: &Snapshot, now: &str) -> Value {
    let users: Vec<Value> = snap
        .users
        .iter()
        .map(|u| {
            let mut obj = Map::new();
            obj.insert("id".into(), Value::String(u.id.clone()));
            if let Ok(Value::Object(data)) = serde_json::from_str::<Value>(&u.data) {
                obj.extend(data);
            }
            Value::Object(obj)
        })
        .collect();
    let mut memberships = Vec::new();
    // A grant names its custom role by name; the file names it by id.
    let custom: HashMap<&str, &str> = snap
        .custom_roles
        .iter()
        .map(|c| (c.name.as_str(), c.id.as_str()))
        .collect();
    let teams: Vec<Value> = snap
        .teams
        .iter()
        .map(|t| {
            let mut obj = Map::new();
            obj.insert("id".into(), Value::String(t.row.id.clone()));
            if let Ok(Value::Object(data)) = serde_json::from_str::<Value>(&t.row.data) {
                obj.extend(data);
            }
            obj.insert(
                "scimbox".into(),
                json!({
                    "origin": if t.row.scim_managed { "scim" } else { "local" },
                    "organizationRole": t.row.org_role,
                    "workspaceRoles": t.workspace_roles.iter()
                        .map(|(id, _, role)| json!({"workspace": id, "role": role}))
                        .collect::<Vec<_>>(),
                    "deploymentRoles": t.deployment_roles.iter()
                        .map(|g| match custom.get(g.role.as_str()) {
                            Some(id) => json!({"deployment": g.deployment.id, "customRole": id}),
                            None => json!({"deployment": g.deployment.id, "role": g.role}),
                        })
                        .collect::<Vec<_>>(),
                }),
            );
            for user in &t.members {
                memberships.push(json!({"team": t.row.id, "user": user}));
            }
            Value::Object(obj)
        })
        .collect();
    json!({
        "format": FORMAT,
        "exportedAt": now,
        "organization": {"id": org.id, "name": org.name, "scimEnabled": org.scim_enabled},
        "users": users,
        "teams": teams,
        "workspaces": snap.workspaces.iter()
            .map(|w| json!({"id": w.id, "name": w.name}))
            .collect::<Vec<_>>(),
        "deployments": snap.deployments.iter()
            .map(|d| json!({"id": d.id, "name": d.name, "workspace": d.workspace_id}))
            .collect::<Vec<_>>(),
        "deploymentRoles": snap.custom_roles.iter()
            .map(|c| json!({"id": c.id, "name": c.name, "permissions": c.permissions}))
            .collect::<Vec<_>>(),
        "memberships": memberships,
        "schemas": snap.schemas.iter()
            .map(|d| json!({
                "resourceType": d.resource_type,
                "schema": serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
            }))
            .collect::<Vec<_>>(),
    })
}

/// One CSV cell: quoted when it holds a separator, quote or line break; a leading `=`, `+`,
/// `-` or `@` gets a `'` so a spreadsheet shows it instead of running it as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn row(cells: &[String]) -> String {
    let mut line = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

/// The CSV export: three sections, each a title line (`# users`, `# teams`,
/// `# memberships`), a header and its rows, separated by an empty line (RFC 4180 quoting,
/// CRLF line ends).
///
/// - users: `id,userName,externalId,displayName,givenName,familyName,email,title,department,active`
/// - teams: `id,displayName,externalId,origin,organizationRole,members`
/// - memberships: `teamId,teamName,userId,userName`
pub fn csv(snap: &Snapshot) -> String {
    let mut out = String::new();
    out.push_str("# users\r\n");
    out.push_str(&row(&[
        "id",
        "userName",
        "externalId",
        "displayName",
        "givenName",
        "familyName",
        "email",
        "title",
        "department",
        "active",
    ]
    .map(String::from)));
    let mut names: HashMap<&str, String> = HashMap::new();
    for u in &snap.users {
        let data: Value = serde_json::from_str(&u.data).unwrap_or(Value::Null);
        let text = |v: &Value| v.as_str().unwrap_or("").to_string();
        let email = crate::model::resource::primary_email(&data)
            .unwrap_or("")
            .to_string();
        let user_name = text(&data["userName"]);
        names.insert(&u.id, user_name.clone());
        out.push_str(&row(&[
            u.id.clone(),
            user_name,
            text(&data["externalId"]),
            text(&data["displayName"]),
            text(&data["name"]["givenName"]),
            text(&data["name"]["familyName"]),
            email,
            text(&data["title"]),
            text(&data["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"]),
            (data["active"] != false).to_string(),
        ]));
    }
    out.push_str("\r\n# teams\r\n");
    out.push_str(&row(&[
        "id",
        "displayName",
        "externalId",
        "origin",
        "organizationRole",
        "members",
    ]
    .map(String::from)));
    for t in &snap.teams {
        let data: Value = serde_json::from_str(&t.row.data).unwrap_or(Value::Null);
        out.push_str(&row(&[
            t.row.id.clone(),
            t.row.display_name.clone(),
            data["externalId"].as_str().unwrap_or("").to_string(),
            if t.row.scim_managed { "scim" } else { "local" }.to_string(),
            t.row.org_role.clone(),
            t.members.len().to_string(),
        ]));
    }
    out.push_str("\r\n# memberships\r\n");
    out.push_str(&row(
        &["teamId", "teamName", "userId", "userName"].map(String::from)
    ));
    for t in &snap.teams {
        for user in &t.members {
            out.push_str(&row(&[
                t.row.id.clone(),
                t.row.display_name.clone(),
                user.clone(),
                names.get(user.as_str()).cloned().unwrap_or_default(),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(cell("plain"), "plain");
    }
}
