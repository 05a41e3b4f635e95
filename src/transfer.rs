//! Export and import of one organization, and the demo data.
//!
//! The export (`scimbox export`) is JSON in the format `scimbox-export/1`:
//!
//! ```json
//! {"format": "scimbox-export/1", "exportedAt": "…",
//!  "organization": {"id": "…", "name": "…", "scimEnabled": true},
//!  "users": [{"id": "…", "userName": "…", …the stored SCIM User…}],
//!  "teams": [{"id": "…", "displayName": "…", …the stored SCIM Group without members…,
//!             "scimbox": {"origin": "scim", "organizationRole": "ORGANIZATION_MEMBER",
//!                         "workspaceRoles": [{"workspace": "…id…", "role": "WORKSPACE_MEMBER"}]}}],
//!  "workspaces": [{"id": "…", "name": "…"}],
//!  "memberships": [{"team": "…team id…", "user": "…user id…"}]}
//! ```
//!
//! or CSV for people (three sections, see [`csv`]). The import reads the JSON form and checks
//! it the way the SCIM API checks a request: every user and Team goes through
//! `scim::resource::normalize`, so what the API would refuse, the import refuses, naming the
//! entry. Then `directory::transfer::import` writes it all in one transaction.

use crate::directory::transfer::{NewTeam, NewUser, NewWorkspace, Plan, Snapshot};
use crate::model::roles;
use crate::model::schema::{GROUP_TYPE, USER_TYPE};
use crate::scim::resource;
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
        "memberships": memberships,
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
        let email = data["emails"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|e| e["primary"] == true)
                    .or_else(|| list.first())
            })
            .map(|e| text(&e["value"]))
            .unwrap_or_default();
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

/// Reads an export document into an import plan, checking everything that does not need the
/// database: the format, each user and Team as the SCIM API would (`normalize`), duplicate
/// ids and names, roles, and that every membership and Workspace role names something in the
/// file. With `new_ids`, every resource gets a fresh id (memberships follow); otherwise ids
/// are kept, so an IdP that stored them keeps working after a move to another server.
///
/// Errors name the entry (`users[3] (userName "x")`) and what to fix.
pub fn plan(doc: &Value, new_ids: bool) -> Result<Plan, String> {
    let obj = doc
        .as_object()
        .ok_or("the file is not a scimbox export: it must be a JSON object")?;
    match obj.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "the file's format is {other:?}; this scimbox reads {FORMAT:?}"
            ));
        }
        None => {
            return Err(format!(
                "the file is not a scimbox export: it has no \"format\": {FORMAT:?}"
            ));
        }
    }
    let list = |key: &str| -> Result<&[Value], String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(_) => Err(format!("\"{key}\" must be a list")),
        }
    };
    let fresh = |old: &str| {
        if new_ids {
            crate::directory::new_id()
        } else {
            old.to_string()
        }
    };
    let id_of = |v: &Value, at: &str| -> Result<String, String> {
        match v.get("id").and_then(Value::as_str) {
            Some(id) if !id.trim().is_empty() && id.len() <= 128 => Ok(id.to_string()),
            _ => Err(format!("{at}: needs an \"id\" (a non-empty string)")),
        }
    };
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    let mut claim = |id: &str, at: &str| -> Result<(), String> {
        match seen_ids.insert(id.to_string(), at.to_string()) {
            Some(first) => Err(format!("{at}: id {id} is also the id of {first}")),
            None => Ok(()),
        }
    };

    let mut plan = Plan::default();
    let mut ws_index: HashMap<String, usize> = HashMap::new();
    let mut ws_names: HashMap<String, usize> = HashMap::new();
    for (i, w) in list("workspaces")?.iter().enumerate() {
        let at = format!("workspaces[{i}]");
        let id = id_of(w, &at)?;
        claim(&id, &at)?;
        let name = w
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or(format!("{at}: needs a \"name\""))?;
        if let Some(j) = ws_names.insert(name.to_lowercase(), i) {
            return Err(format!(
                "{at}: Workspace name {name:?} is also the name of workspaces[{j}]"
            ));
        }
        ws_index.insert(id.clone(), i);
        plan.workspaces.push(NewWorkspace {
            id: fresh(&id),
            name: name.to_string(),
        });
    }

    let mut user_index: HashMap<String, usize> = HashMap::new();
    let mut user_names: HashMap<String, usize> = HashMap::new();
    for (i, u) in list("users")?.iter().enumerate() {
        let at = format!("users[{i}]");
        let id = id_of(u, &at)?;
        claim(&id, &at)?;
        let data = resource::normalize(&USER_TYPE, u).map_err(|e| {
            let name = u.get("userName").and_then(Value::as_str).unwrap_or("?");
            format!("{at} (userName {name:?}): {e}")
        })?;
        let user_name = data
            .get("userName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // userName is unique per organization, case-insensitively (as the API enforces).
        if let Some(j) = user_names.insert(crate::model::fold::fold(&user_name).into_owned(), i) {
            return Err(format!(
                "{at}: userName {user_name:?} is also the userName of users[{j}] (userNames \
                 are unique, ignoring case)"
            ));
        }
        user_index.insert(id.clone(), i);
        plan.users.push(NewUser {
            id: fresh(&id),
            data,
        });
    }

    let mut team_index: HashMap<String, usize> = HashMap::new();
    let mut team_names: HashMap<String, usize> = HashMap::new();
    for (i, t) in list("teams")?.iter().enumerate() {
        let at = format!("teams[{i}]");
        let id = id_of(t, &at)?;
        claim(&id, &at)?;
        if t.get("members").is_some_and(|m| !m.is_null()) {
            return Err(format!(
                "{at}: members go in \"memberships\", not in the Team (as `scimbox export` \
                 writes them)"
            ));
        }
        let data = resource::normalize(&GROUP_TYPE, t).map_err(|e| {
            let name = t.get("displayName").and_then(Value::as_str).unwrap_or("?");
            format!("{at} (displayName {name:?}): {e}")
        })?;
        let display = data
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(j) = team_names.insert(display.to_lowercase(), i) {
            return Err(format!(
                "{at}: displayName {display:?} is also the displayName of teams[{j}]"
            ));
        }
        let extra = t.get("scimbox").cloned().unwrap_or(Value::Null);
        let scim_managed = match extra.get("origin").and_then(Value::as_str) {
            None | Some("scim") => true,
            Some("local") => false,
            Some(other) => {
                return Err(format!(
                    "{at}: scimbox.origin is {other:?}; it is \"scim\" or \"local\""
                ));
            }
        };
        let org_role = match extra.get("organizationRole").and_then(Value::as_str) {
            None => roles::ORG_ROLES[0].to_string(),
            Some(r) => roles::org_role(r)
                .ok_or(format!(
                    "{at}: {r:?} is not an Organization role ({})",
                    roles::ORG_ROLES.join(", ")
                ))?
                .to_string(),
        };
        let mut workspace_roles = Vec::new();
        if let Some(grants) = extra.get("workspaceRoles").and_then(Value::as_array) {
            for (k, g) in grants.iter().enumerate() {
                let ws = g.get("workspace").and_then(Value::as_str).unwrap_or("");
                let index = *ws_index.get(ws).ok_or(format!(
                    "{at}: scimbox.workspaceRoles[{k}] names Workspace {ws:?}, which is not \
                     in \"workspaces\""
                ))?;
                let r = g.get("role").and_then(Value::as_str).unwrap_or("");
                let role = roles::workspace_role(r).ok_or(format!(
                    "{at}: scimbox.workspaceRoles[{k}]: {r:?} is not a Workspace role ({})",
                    roles::WORKSPACE_ROLES.join(", ")
                ))?;
                workspace_roles.push((index, role.to_string()));
            }
        }
        team_index.insert(id.clone(), i);
        plan.teams.push(NewTeam {
            id: fresh(&id),
            data,
            scim_managed,
            org_role,
            workspace_roles,
            members: Vec::new(),
        });
    }

    for (i, m) in list("memberships")?.iter().enumerate() {
        let at = format!("memberships[{i}]");
        let team = m.get("team").and_then(Value::as_str).unwrap_or("");
        let user = m.get("user").and_then(Value::as_str).unwrap_or("");
        let t = *team_index
            .get(team)
            .ok_or(format!("{at}: team {team:?} is not in \"teams\""))?;
        let u = match user_index.get(user) {
            Some(u) => *u,
            None if team_index.contains_key(user) => {
                return Err(format!(
                    "{at}: {user} is a Team: nested Teams are not supported; add its users \
                     instead"
                ));
            }
            None => return Err(format!("{at}: user {user:?} is not in \"users\"")),
        };
        if !plan.teams[t].members.contains(&u) {
            plan.teams[t].members.push(u);
        }
    }
    Ok(plan)
}

// ---- Demo data ------------------------------------------------------------------------------

/// A small deterministic generator (splitmix64), so the demo is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A UUID-shaped id (version 4 layout), deterministic for the seed.
    fn id(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

const GIVEN: &[&str] = &[
    "Ada", "Alan", "Amara", "Ana", "Ben", "Bo", "Chen", "Chloe", "Dara", "David", "Elena", "Emil",
    "Fatima", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jade", "Jonas", "Kai", "Kemal",
    "Lea", "Leo", "Lina", "Maya", "Mateo", "Nadia", "Noah", "Omar", "Priya", "Rosa", "Sami",
    "Sofia", "Tariq", "Uma", "Vera", "Wei", "Yara", "Zoe",
];
const FAMILY: &[&str] = &[
    "Adeyemi",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Novak",
    "Murphy",
    "Haddad",
    "Lindqvist",
];
/// (department, job titles, share of the company in percent)
const DEPARTMENTS: &[(&str, &[&str], usize)] = &[
    (
        "Engineering",
        &[
            "Software Engineer",
            "Senior Engineer",
            "Staff Engineer",
            "Engineering Manager",
        ],
        35,
    ),
    ("Data", &["Data Engineer", "Data Scientist", "Analyst"], 10),
    ("Design", &["Product Designer", "UX Researcher"], 6),
    (
        "Sales",
        &["Account Executive", "Sales Engineer", "Sales Manager"],
        17,
    ),
    ("Marketing", &["Marketing Manager", "Content Writer"], 8),
    ("Support", &["Support Engineer", "Support Lead"], 12),
    ("Finance", &["Accountant", "Controller"], 6),
    ("People", &["Recruiter", "People Partner"], 6),
];

/// The demo organization as an export document: `users` people with names, work emails,
/// titles and departments (a few deactivated), a Team per department plus a few across them,
/// and three Workspaces with the Teams' roles in them. The same `seed` always gives the same
/// document.
pub fn demo(users: usize, seed: &str) -> Value {
    // FNV-1a of the seed, so each organization name has its own (stable) ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = Rng(h);
    let workspaces: Vec<(String, &str)> = ["Production", "Staging", "Analytics"]
        .into_iter()
        .map(|n| (rng.id(), n))
        .collect();
    let mut people = Vec::with_capacity(users);
    let mut taken = std::collections::HashSet::new();
    let mut by_dept: HashMap<&str, Vec<String>> = HashMap::new();
    let total_share: usize = DEPARTMENTS.iter().map(|d| d.2).sum();
    for i in 0..users {
        let (given, family) = (rng.pick(GIVEN), rng.pick(FAMILY));
        let base = format!("{}.{}", given.to_lowercase(), family.to_lowercase());
        let mut user_name = format!("{base}@example.com");
        let mut n = 2;
        while !taken.insert(user_name.clone()) {
            user_name = format!("{base}{n}@example.com");
            n += 1;
        }
        // Departments by share, in a fixed order, so every run lands people the same way.
        let mut slot = (i * total_share / users.max(1)) % total_share;
        let mut dept = DEPARTMENTS[0];
        for d in DEPARTMENTS {
            if slot < d.2 {
                dept = *d;
                break;
            }
            slot -= d.2;
        }
        let id = rng.id();
        let active = rng.below(25) != 0;
        by_dept.entry(dept.0).or_default().push(id.clone());
        people.push(json!({
            "id": id,
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "userName": user_name,
            "externalId": format!("00u{:017x}", rng.next() >> 4),
            "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
            "displayName": format!("{given} {family}"),
            "title": rng.pick(dept.1),
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "active": active,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": format!("{}", 1000 + i),
                "department": dept.0,
                "organization": "Example Corp"
            }
        }));
    }
    let ws = |name: &str| {
        workspaces
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_default()
    };
    let mut teams = Vec::new();
    let mut memberships = Vec::new();
    let mut team = |name: &str,
                    origin: &str,
                    org_role: &str,
                    grants: &[(&str, &str)],
                    members: &[String],
                    rng: &mut Rng| {
        let id = rng.id();
        for m in members {
            memberships.push(json!({"team": id, "user": m}));
        }
        teams.push(json!({
            "id": id,
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "scimbox": {
                "origin": origin,
                "organizationRole": org_role,
                "workspaceRoles": grants.iter()
                    .map(|(w, r)| json!({"workspace": ws(w), "role": r}))
                    .collect::<Vec<_>>()
            }
        }));
    };
    let dept_grants: &[(&str, &[(&str, &str)])] = &[
        (
            "Engineering",
            &[
                ("Production", "WORKSPACE_OPERATOR"),
                ("Staging", "WORKSPACE_OWNER"),
            ],
        ),
        (
            "Data",
            &[
                ("Analytics", "WORKSPACE_OWNER"),
                ("Production", "WORKSPACE_MEMBER"),
            ],
        ),
        ("Design", &[("Staging", "WORKSPACE_MEMBER")]),
        ("Support", &[("Production", "WORKSPACE_MEMBER")]),
        ("Sales", &[("Analytics", "WORKSPACE_MEMBER")]),
        ("Marketing", &[("Analytics", "WORKSPACE_MEMBER")]),
    ];
    for (dept, _, _) in DEPARTMENTS {
        let grants = dept_grants
            .iter()
            .find(|(d, _)| d == dept)
            .map(|(_, g)| *g)
            .unwrap_or(&[]);
        let org_role = if *dept == "Finance" {
            "ORGANIZATION_BILLING_ADMIN"
        } else {
            "ORGANIZATION_MEMBER"
        };
        let members = by_dept.get(dept).cloned().unwrap_or_default();
        team(dept, "scim", org_role, grants, &members, &mut rng);
    }
    let engineers = by_dept.get("Engineering").cloned().unwrap_or_default();
    let on_call: Vec<String> = engineers.iter().step_by(4).cloned().collect();
    team(
        "Platform On-call",
        "local",
        "ORGANIZATION_MEMBER",
        &[("Production", "WORKSPACE_OWNER")],
        &on_call,
        &mut rng,
    );
    let admins: Vec<String> = people
        .iter()
        .step_by(60)
        .filter_map(|p| p["id"].as_str().map(str::to_string))
        .collect();
    team(
        "Org Admins",
        "local",
        "ORGANIZATION_OWNER",
        &[],
        &admins,
        &mut rng,
    );
    let leads: Vec<String> = people
        .iter()
        .filter(|p| {
            p["title"]
                .as_str()
                .is_some_and(|t| t.contains("Manager") || t.contains("Lead"))
        })
        .filter_map(|p| p["id"].as_str().map(str::to_string))
        .collect();
    team(
        "People Managers",
        "scim",
        "ORGANIZATION_MEMBER",
        &[("Analytics", "WORKSPACE_MEMBER")],
        &leads,
        &mut rng,
    );
    json!({
        "format": FORMAT,
        "organization": {"name": seed},
        "users": people,
        "teams": teams,
        "workspaces": workspaces.iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect::<Vec<_>>(),
        "memberships": memberships,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_deterministic_and_passes_the_import_checks() {
        let a = demo(300, "demo");
        assert_eq!(a, demo(300, "demo"));
        assert_ne!(a["users"][0]["id"], demo(300, "other")["users"][0]["id"]);
        let p = plan(&a, false).unwrap();
        assert_eq!(p.users.len(), 300);
        assert!(p.teams.len() >= 10);
        assert_eq!(p.workspaces.len(), 3);
        assert!(p.teams.iter().all(|t| !t.members.is_empty()));
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(cell("plain"), "plain");
    }

    #[test]
    fn plan_names_the_entry_and_what_to_fix() {
        let doc = |users: Value| json!({"format": FORMAT, "users": users});
        let err = plan(&json!({"users": []}), false).unwrap_err();
        assert!(err.contains("format"), "{err}");
        let err = plan(&doc(json!([{"id": "1", "userName": ""}])), false).unwrap_err();
        assert!(
            err.contains("users[0]") && err.contains("userName"),
            "{err}"
        );
        let err = plan(
            &doc(json!([{"id": "1", "userName": "a"}, {"id": "2", "userName": "A"}])),
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("users[1]") && err.contains("users[0]"),
            "{err}"
        );
        let err = plan(
            &json!({"format": FORMAT, "teams": [{"id": "t", "displayName": "T"}],
                    "memberships": [{"team": "t", "user": "nobody"}]}),
            false,
        )
        .unwrap_err();
        assert!(
            err.contains("memberships[0]") && err.contains("nobody"),
            "{err}"
        );
    }
}
