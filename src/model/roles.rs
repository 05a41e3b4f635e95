//! Astro's roles, ordered so that "the highest" is a comparison.

//!
//! Astro's hierarchies (its user-permissions reference): a senior role holds every permission
//! of the roles below it, and an Organization Owner holds Workspace Owner in every Workspace.
//! The three names scimbox stored before (Member, Billing Admin, Owner; Member, Operator,
//! Owner) are in these lists unchanged, so stored data keeps its meaning.

/// Organization roles, lowest first.
pub const ORG_ROLES: [&str; 5] = [
    "ORGANIZATION_MEMBER",
    "ORGANIZATION_OBSERVE_MEMBER",
    "ORGANIZATION_OBSERVE_ADMIN",
    "ORGANIZATION_BILLING_ADMIN",
    "ORGANIZATION_OWNER",
];

/// Workspace roles, lowest first.
pub const WORKSPACE_ROLES: [&str; 5] = [
    "WORKSPACE_ACCESSOR",
    "WORKSPACE_MEMBER",
    "WORKSPACE_AUTHOR",
    "WORKSPACE_OPERATOR",
    "WORKSPACE_OWNER",
];

/// The Organization role whose holders hold `OWNER_WORKSPACE_ROLE` in every Workspace.
pub const ORG_OWNER: &str = "ORGANIZATION_OWNER";
/// What an Organization Owner holds in every Workspace.
pub const OWNER_WORKSPACE_ROLE: &str = "WORKSPACE_OWNER";
/// What a Deployment role gives in its Workspace to someone without a Workspace role there.
pub const IMPLIED_WORKSPACE_ROLE: &str = "WORKSPACE_ACCESSOR";
/// The built-in Deployment role; the others are custom roles an organization defines.
pub const DEPLOYMENT_ADMIN: &str = "DEPLOYMENT_ADMIN";

/// The permissions a custom Deployment role may hold, as Astro's custom Deployment role
/// permissions reference names them.
pub const DEPLOYMENT_PERMISSIONS: [&str; 16] = [
    "deployment.get",
    "deployment.update",
    "deployment.delete",
    "deployment.agents.get",
    "deployment.agents.update",
    "deployment.agents.delete",
    "deployment.agentTokens.create",
    "deployment.agentTokens.update",
    "deployment.agentTokens.delete",
    "deployment.airflow.adminMenu.get",
    "deployment.airflow.astronomer.get",
    "deployment.airflow.auditLog.get",
    "deployment.airflow.browseMenu.get",
    "deployment.airflow.clusterActivity.get",
    "deployment.airflow.customMenu.get",
    "deployment.airflow.configMenu.get",
];

/// The canonical spelling of a custom Deployment role permission (they are case-sensitive
/// in Astro, so only the exact name is accepted).
pub fn deployment_permission(p: &str) -> Option<&'static str> {
    DEPLOYMENT_PERMISSIONS.iter().copied().find(|d| *d == p)
}

/// Whether a name may name a custom Deployment role: 1 to 64 letters, digits, `_`, `-` or
/// `.`, and not a built-in role's name (which would make `--role` ambiguous).
pub fn valid_custom_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.eq_ignore_ascii_case(DEPLOYMENT_ADMIN)
        && !name.eq_ignore_ascii_case("none")
        && org_role(name).is_none()
        && workspace_role(name).is_none()
}

/// The rank of a Workspace role (higher is more), if it is one.
pub fn workspace_rank(role: &str) -> Option<usize> {
    rank(&WORKSPACE_ROLES, role)
}

/// The rank of an Organization role (higher is more), if it is one.
pub fn org_rank(role: &str) -> Option<usize> {
    rank(&ORG_ROLES, role)
}

fn rank(list: &[&str], role: &str) -> Option<usize> {
    list.iter().position(|r| r.eq_ignore_ascii_case(role))
}

/// The canonical spelling of an organization role, if it is one.
pub fn org_role(role: &str) -> Option<&'static str> {
    rank(&ORG_ROLES, role).map(|i| ORG_ROLES[i])
}

pub fn workspace_role(role: &str) -> Option<&'static str> {
    rank(&WORKSPACE_ROLES, role).map(|i| WORKSPACE_ROLES[i])
}

/// The highest of several organization roles (Member when there are none).
pub fn highest_org_role<'a>(roles: impl IntoIterator<Item = &'a str>) -> &'static str {
    roles
        .into_iter()
        .filter_map(|r| rank(&ORG_ROLES, r))
        .max()
        .map_or(ORG_ROLES[0], |i| ORG_ROLES[i])
}

/// The higher of two Workspace roles.
pub fn higher_workspace_role(a: &str, b: &str) -> &'static str {
    let ra = rank(&WORKSPACE_ROLES, a).unwrap_or(0);
    let rb = rank(&WORKSPACE_ROLES, b).unwrap_or(0);
    WORKSPACE_ROLES[ra.max(rb)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_role_wins() {
        assert_eq!(
            highest_org_role([
                "ORGANIZATION_MEMBER",
                "ORGANIZATION_OWNER",
                "ORGANIZATION_BILLING_ADMIN"
            ]),
            "ORGANIZATION_OWNER"
        );
        assert_eq!(highest_org_role([]), "ORGANIZATION_MEMBER");
        assert_eq!(
            higher_workspace_role("WORKSPACE_OPERATOR", "WORKSPACE_MEMBER"),
            "WORKSPACE_OPERATOR"
        );
        assert_eq!(org_role("organization_owner"), Some("ORGANIZATION_OWNER"));
        assert_eq!(workspace_role("nope"), None);
        assert_eq!(
            higher_workspace_role("WORKSPACE_ACCESSOR", "WORKSPACE_AUTHOR"),
            "WORKSPACE_AUTHOR"
        );
        assert!(org_rank("ORGANIZATION_OBSERVE_ADMIN") > org_rank("ORGANIZATION_OBSERVE_MEMBER"));
        assert!(org_rank("ORGANIZATION_BILLING_ADMIN") > org_rank("ORGANIZATION_OBSERVE_ADMIN"));
    }

    #[test]
    fn custom_role_names_cannot_shadow_built_in_roles() {
        assert!(valid_custom_role_name("Deployment_Viewer"));
        assert!(!valid_custom_role_name("deployment_admin"));
        assert!(!valid_custom_role_name("WORKSPACE_OWNER"));
        assert!(!valid_custom_role_name("none"));
        assert!(!valid_custom_role_name("has space"));
        assert!(!valid_custom_role_name(""));
        assert_eq!(
            deployment_permission("deployment.get"),
            Some("deployment.get")
        );
        assert_eq!(deployment_permission("deployment.GET"), None);
    }
}
