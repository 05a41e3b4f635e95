//! The command line of the access model: Deployments, custom Deployment roles, role rules and
//! the role flags `team set-role` and `user set-role` share.

use clap::{Args, Subcommand};

/// Which role to set: `--organization ROLE`, or `--workspace WS --role ROLE`, or
/// `--deployment DEP --role ROLE` (with `--workspace WS` too, the Deployment must be in it).
#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    /// An Organization role: ORGANIZATION_MEMBER, ORGANIZATION_OBSERVE_MEMBER,
    /// ORGANIZATION_OBSERVE_ADMIN, ORGANIZATION_BILLING_ADMIN or ORGANIZATION_OWNER.
    #[arg(long, conflicts_with_all = ["workspace", "deployment", "role"])]
    pub organization: Option<String>,
    /// The Workspace's id or name.
    #[arg(long)]
    pub workspace: Option<String>,
    /// The Deployment's id or name.
    #[arg(long)]
    pub deployment: Option<String>,
    /// With --workspace: WORKSPACE_ACCESSOR, WORKSPACE_MEMBER, WORKSPACE_AUTHOR,
    /// WORKSPACE_OPERATOR, WORKSPACE_OWNER or none. With --deployment: DEPLOYMENT_ADMIN, a
    /// custom Deployment role's name, or none.
    #[arg(long)]
    pub role: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Create a Deployment in a Workspace; prints its id alone on stdout.
    Create {
        #[arg(long)]
        org: String,
        /// The Workspace's id or name.
        #[arg(long)]
        workspace: String,
        /// The Deployment's name (unique in the organization).
        name: String,
    },
    /// List Deployments (of one Workspace with --workspace).
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Delete a Deployment and every Deployment role given on it.
    Delete {
        #[arg(long)]
        org: String,
        #[arg(long)]
        workspace: String,
        /// The Deployment's id or name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentRoleCommand {
    /// Define a custom Deployment role; prints its id alone on stdout.
    Create {
        #[arg(long)]
        org: String,
        /// The role's name (letters, digits, _ - .), e.g. Deployment_Viewer.
        name: String,
        /// A Deployment permission as Astro names it, e.g. deployment.get (repeatable, or
        /// several after one flag).
        #[arg(long, num_args = 1.., required = true)]
        permission: Vec<String>,
    },
    /// List the custom Deployment roles with their permissions.
    List {
        #[arg(long)]
        org: String,
    },
    /// Delete a custom Deployment role (refused while it is still given).
    Delete {
        #[arg(long)]
        org: String,
        /// The role's id or name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamRuleCommand {
    /// Define a rule; prints its id alone on stdout. Refused if it could match a Team another
    /// rule matches.
    Create {
        #[arg(long)]
        org: String,
        /// The rule's name.
        name: String,
        /// How to match the Team's displayName: exact, prefix or pattern (`*` and `?`).
        #[arg(long = "match", value_name = "KIND")]
        kind: String,
        /// The name, prefix or pattern (case-insensitive, like displayName).
        #[arg(long)]
        value: String,
        /// The Organization role the Team gets.
        #[arg(long)]
        organization: Option<String>,
        /// A Workspace role the Team gets, as WORKSPACE=ROLE (repeatable).
        #[arg(long, value_name = "WS=ROLE", value_parser = pair)]
        workspace: Vec<(String, String)>,
        /// A Deployment role the Team gets, as DEPLOYMENT=ROLE (repeatable).
        #[arg(long, value_name = "DEP=ROLE", value_parser = pair)]
        deployment: Vec<(String, String)>,
    },
    /// List the rules.
    List {
        #[arg(long)]
        org: String,
    },
    /// Delete a rule (Teams it gave roles to keep them).
    Delete {
        #[arg(long)]
        org: String,
        /// The rule's id or name.
        rule: String,
    },
    /// Show which rule a Team of this displayName would get, and what it would grant.
    Test {
        #[arg(long)]
        org: String,
        display_name: String,
    },
}

fn pair(s: &str) -> Result<(String, String), String> {
    match s.rsplit_once('=') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            Ok((a.trim().to_string(), b.trim().to_string()))
        }
        _ => Err(format!("{s:?}: give NAME=ROLE")),
    }
}

/// A grace period: a number with s, m or h (`90s`, `30m`, `2h`), at most 24 h.
pub fn grace(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 90s, 30m, 2h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{s:?} is not a duration (e.g. 90s, 30m, 2h)")),
    };
    if secs > crate::directory::tokens::MAX_GRACE_SECS {
        return Err(format!(
            "{s:?} is longer than the 24h a grace period may last"
        ));
    }
    Ok(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_parse_and_are_capped_at_a_day() {
        assert_eq!(grace("90s"), Ok(90));
        assert_eq!(grace("30m"), Ok(1800));
        assert_eq!(grace("24h"), Ok(86_400));
        assert!(grace("25h").unwrap_err().contains("24h"));
        assert!(grace("1d").is_err());
        assert!(grace("soon").unwrap_err().contains("soon"));
    }
}
