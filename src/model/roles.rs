//! Astro's roles, ordered so that "the highest" is a comparison.

/// Organization roles, lowest first.
pub const ORG_ROLES: [&str; 3] = [
    "ORGANIZATION_MEMBER",
    "ORGANIZATION_BILLING_ADMIN",
    "ORGANIZATION_OWNER",
];

/// Workspace roles, lowest first.
pub const WORKSPACE_ROLES: [&str; 3] =
    ["WORKSPACE_MEMBER", "WORKSPACE_OPERATOR", "WORKSPACE_OWNER"];

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
    }
}
