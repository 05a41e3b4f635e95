//! The access model's subcommands: Deployments, custom Deployment roles, role rules, role
//! changes for Teams and users, effective access, and token rotation. Like every subcommand
//! they work through `directory`, so the same checks and audit apply.

use crate::cli::{cli_actor, now, with_store};
use crate::config_access::{DeploymentCommand, DeploymentRoleCommand, RoleArgs, TeamRuleCommand};
use crate::directory::{self, access::Change, access::Effective};
use crate::error::Error;
use std::path::Path;

type CliResult = Result<(), String>;

/// The role change the flags ask for, or an error saying which flags to give.
pub fn change(args: &RoleArgs) -> Result<Change, Error> {
    let role = |r: &String| (!r.eq_ignore_ascii_case("none")).then(|| r.clone());
    match (
        &args.organization,
        &args.workspace,
        &args.deployment,
        &args.role,
    ) {
        (Some(r), None, None, None) => Ok(Change::Organization(r.clone())),
        (None, ws, Some(dep), Some(r)) => Ok(Change::Deployment(dep.clone(), ws.clone(), role(r))),
        (None, Some(ws), None, Some(r)) => Ok(Change::Workspace(ws.clone(), role(r))),
        _ => Err(Error::InvalidValue(
            "give --organization ROLE, --workspace WS --role ROLE, or --deployment DEP --role ROLE"
                .into(),
        )),
    }
}

/// The same change for a Team's template.
pub fn team_change(args: &RoleArgs) -> Result<directory::teams::RoleChange, Error> {
    use directory::teams::RoleChange;
    Ok(match change(args)? {
        Change::Organization(r) => RoleChange::Organization(r),
        Change::Workspace(w, r) => RoleChange::Workspace(w, r),
        Change::Deployment(d, w, r) => RoleChange::Deployment(d, w, r),
    })
}

fn sources(e: &directory::access::Entry) -> String {
    e.sources
        .iter()
        .map(directory::access::Source::label)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `user access`: one line per level, each with its sources in parentheses.
pub fn print_effective(e: &Effective) {
    println!(
        "organization role: {} ({})",
        e.organization.role,
        sources(&e.organization)
    );
    for w in &e.workspaces {
        println!(
            "workspace {} ({}): {} ({})",
            w.name,
            w.id,
            w.role,
            sources(w)
        );
    }
    for d in &e.deployments {
        println!(
            "deployment {} ({}) in {}: {} ({})",
            d.entry.name,
            d.entry.id,
            d.workspace_name,
            d.entry.role,
            sources(&d.entry)
        );
    }
}

pub fn deployment(db: &Path, cmd: &DeploymentCommand) -> CliResult {
    use crate::directory::access as a;
    with_store(db, |store| async move {
        match cmd {
            DeploymentCommand::Create {
                org,
                workspace,
                name,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let d = a::create_deployment(
                    &store,
                    &cli_actor("deployment create"),
                    org.pk,
                    workspace.clone(),
                    name.clone(),
                    now(),
                )
                .await?;
                println!("{}", d.id);
            }
            DeploymentCommand::List { org, workspace } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!("{:<36} {:<24} NAME", "ID", "WORKSPACE");
                for d in a::deployments(&store, org.pk, workspace.clone()).await? {
                    println!("{:<36} {:<24} {}", d.id, d.workspace_name, d.name);
                }
            }
            DeploymentCommand::Delete {
                org,
                workspace,
                name,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                a::delete_deployment(
                    &store,
                    &cli_actor("deployment delete"),
                    org.pk,
                    workspace.clone(),
                    name.clone(),
                    now(),
                )
                .await?;
                eprintln!("deleted Deployment {name}");
            }
        }
        Ok(())
    })
}

pub fn deployment_role(db: &Path, cmd: &DeploymentRoleCommand) -> CliResult {
    use crate::directory::access as a;
    with_store(db, |store| async move {
        match cmd {
            DeploymentRoleCommand::Create {
                org,
                name,
                permission,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let c = a::create_custom_role(
                    &store,
                    &cli_actor("deployment-role create"),
                    org.pk,
                    name.clone(),
                    permission.clone(),
                    now(),
                )
                .await?;
                println!("{}", c.id);
            }
            DeploymentRoleCommand::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!("{:<36} {:<24} PERMISSIONS", "ID", "NAME");
                for c in a::custom_roles(&store, org.pk).await? {
                    println!("{:<36} {:<24} {}", c.id, c.name, c.permissions.join(" "));
                }
            }
            DeploymentRoleCommand::Delete { org, name } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                a::delete_custom_role(
                    &store,
                    &cli_actor("deployment-role delete"),
                    org.pk,
                    name.clone(),
                    now(),
                )
                .await?;
                eprintln!("deleted custom Deployment role {name}");
            }
        }
        Ok(())
    })
}

fn print_rule(r: &crate::store::access::RuleRow) {
    println!(
        "{:<36} {:<20} {:<8} {:<28} {}",
        r.id, r.name, r.kind, r.value, r.template
    );
}

pub fn team_rule(db: &Path, cmd: &TeamRuleCommand) -> CliResult {
    use crate::directory::rules;
    with_store(db, |store| async move {
        match cmd {
            TeamRuleCommand::Create {
                org,
                name,
                kind,
                value,
                organization,
                workspace,
                deployment,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let template = rules::Template {
                    organization: organization.clone(),
                    workspaces: workspace.clone(),
                    deployments: deployment.clone(),
                };
                let r = rules::create(
                    &store,
                    &cli_actor("team-rule create"),
                    org.pk,
                    name.clone(),
                    kind.clone(),
                    value.clone(),
                    template,
                    now(),
                )
                .await?;
                println!("{}", r.id);
            }
            TeamRuleCommand::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!(
                    "{:<36} {:<20} {:<8} {:<28} TEMPLATE",
                    "ID", "NAME", "MATCH", "VALUE"
                );
                for r in rules::list(&store, org.pk).await? {
                    print_rule(&r);
                }
            }
            TeamRuleCommand::Delete { org, rule } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                rules::delete(
                    &store,
                    &cli_actor("team-rule delete"),
                    org.pk,
                    rule.clone(),
                    now(),
                )
                .await?;
                eprintln!("deleted rule {rule}");
            }
            TeamRuleCommand::Test { org, display_name } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                match rules::test(&store, org.pk, display_name.clone()).await? {
                    Some(r) => {
                        println!("{display_name:?} matches rule {:?}", r.name);
                        print_rule(&r);
                    }
                    None => println!("{display_name:?} matches no rule"),
                }
            }
        }
        Ok(())
    })
}

/// `user set-role`, inside `user`'s store.
pub async fn user_set_role_in(
    store: &crate::store::Store,
    org: &str,
    user: &str,
    args: &RoleArgs,
) -> Result<(), Error> {
    let change = change(args)?;
    let org = directory::orgs::find(store, org.to_string()).await?;
    let e = directory::access::set_user_role(
        store,
        &cli_actor("user set-role"),
        org.pk,
        user.to_string(),
        change,
        now(),
    )
    .await?;
    print_effective(&e);
    Ok(())
}

/// `token rotate`: prints the new bearer value alone on stdout.
pub async fn token_rotate_in(
    store: &crate::store::Store,
    org: &str,
    token: &str,
    grace: Option<u64>,
) -> Result<(), Error> {
    let org = directory::orgs::find(store, org.to_string()).await?;
    let (id, bearer) = directory::tokens::rotate(
        store,
        &cli_actor("token rotate"),
        &org,
        token.to_string(),
        grace.unwrap_or(0),
        crate::clock::now(),
    )
    .await?;
    println!("{}", bearer.expose());
    match grace {
        Some(g) if g > 0 => {
            eprintln!("token {id} rotated; its old secret is accepted for {g}s more")
        }
        _ => eprintln!("token {id} rotated; its old secret is refused from now on"),
    }
    Ok(())
}
