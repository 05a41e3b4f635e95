//! The demo data (`scimbox demo`, `serve --demo`): a made-up organization as an export
//! document, the same for the same seed.

use crate::export::FORMAT;
use crate::rng::Rng;
use serde_json::{Value, json};
use std::collections::HashMap;

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

/// A UUID-shaped id (version 4 layout), deterministic for the seed.
fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next_u64(), rng.next_u64());
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
        .map(|n| (uuid(&mut rng), n))
        .collect();
    let mut people = Vec::with_capacity(users);
    let mut taken = std::collections::HashSet::new();
    let mut by_dept: HashMap<&str, Vec<String>> = HashMap::new();
    let total_share: usize = DEPARTMENTS.iter().map(|d| d.2).sum();
    for i in 0..users {
        let (given, family) = (*rng.pick(GIVEN), *rng.pick(FAMILY));
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
        let id = uuid(&mut rng);
        let active = rng.below(25) != 0;
        by_dept.entry(dept.0).or_default().push(id.clone());
        people.push(json!({
            "id": id,
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "userName": user_name,
            "externalId": format!("00u{:017x}", rng.next_u64() >> 4),
            "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
            "displayName": format!("{given} {family}"),
            "title": *rng.pick(dept.1),
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
        let id = uuid(rng);
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
    use crate::import::plan;
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
}
