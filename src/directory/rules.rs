//! Role rules: when the IdP creates a Team (Okta Group Push, Entra group provisioning), the
//! one rule whose match fits its displayName gives it a role template, so `astro-prod-admins`
//! gets access without anyone running the CLI. Rules never overlap (refused at creation), so
//! at most one applies; a Team created by a rule remembers which.
//!
//! Only Teams created over SCIM get a rule's template, once, at creation: later changes to
//! the Team's roles are the organization's own, and renaming a Team never changes its access
//! behind anyone's back.

use super::Actor;
use super::access::{deployment_role, find_deployment, find_workspace, org_role, workspace_role};
use crate::error::{Error, Result};
use crate::model::rules::{Kind, Matcher};
use crate::store::Conn;
use crate::store::Store;
use crate::store::access::{self as sa, DeploymentRole, Holder, RuleRow};
use crate::store::teams::{self as st, TeamRow};
use serde_json::{Value, json};

/// What a rule grants, as names given on the command line or the page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Template {
    pub organization: Option<String>,
    /// (workspace, role)
    pub workspaces: Vec<(String, String)>,
    /// (deployment, role)
    pub deployments: Vec<(String, String)>,
}

/// Checks every name of a template and stores it by id, so renaming a Workspace keeps the
/// rule working.
fn resolve(conn: &Conn, org_pk: i64, t: &Template) -> Result<Value> {
    if t.organization.is_none() && t.workspaces.is_empty() && t.deployments.is_empty() {
        return Err(Error::InvalidValue(
            "a rule needs at least one role: --organization, --workspace WS=ROLE or \
             --deployment DEP=ROLE"
                .into(),
        ));
    }
    let org = t.organization.as_deref().map(org_role).transpose()?;
    let mut ws = Vec::new();
    for (w, r) in &t.workspaces {
        let found = find_workspace(conn, org_pk, w)?;
        ws.push(json!({"workspace": found.id, "role": workspace_role(r)?}));
    }
    let mut deps = Vec::new();
    for (d, r) in &t.deployments {
        let found = find_deployment(conn, org_pk, d, None)?;
        let role = match deployment_role(conn, org_pk, r)? {
            DeploymentRole::Admin => crate::model::roles::DEPLOYMENT_ADMIN.to_string(),
            DeploymentRole::Custom(_) => sa::find_custom_role(conn, org_pk, r)?
                .map(|c| c.id)
                .unwrap_or_default(),
        };
        deps.push(json!({"deployment": found.id, "role": role}));
    }
    Ok(json!({"organizationRole": org, "workspaceRoles": ws, "deploymentRoles": deps}))
}

fn matcher(row: &RuleRow) -> Result<Matcher> {
    let kind = Kind::parse(&row.kind)
        .ok_or_else(|| Error::Internal(format!("rule {} has kind {:?}", row.id, row.kind)))?;
    Matcher::new(kind, &row.value).map_err(Error::Internal)
}

pub fn rule_json(r: &RuleRow) -> Value {
    json!({
        "id": r.id, "name": r.name, "match": r.kind, "value": r.value,
        "template": serde_json::from_str::<Value>(&r.template).unwrap_or(Value::Null),
        "created": r.created,
    })
}

/// Defines a rule. Refused, naming the bad value: an unknown match kind, an invalid pattern,
/// an unknown role, Workspace or Deployment, or a match that overlaps another rule's.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    name: String,
    kind: String,
    value: String,
    template: Template,
    now: String,
) -> Result<RuleRow> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::InvalidValue(
            "a rule needs a name of 1 to 100 characters".into(),
        ));
    }
    let k = Kind::parse(&kind).ok_or_else(|| {
        Error::InvalidValue(format!(
            "{kind:?} is not a match kind (exact, prefix or pattern)"
        ))
    })?;
    let m = Matcher::new(k, &value).map_err(Error::InvalidValue)?;
    let actor = actor.clone();
    store
        .write(move |conn| {
            for other in sa::rules(conn, org_pk)? {
                if matcher(&other)?.overlaps(&m) {
                    return Err(Error::InvalidValue(format!(
                        "{} {value:?} overlaps rule {:?} ({} {:?}): a Team could match both",
                        k.as_str(),
                        other.name,
                        other.kind,
                        other.value
                    )));
                }
            }
            let template = resolve(conn, org_pk, &template)?.to_string();
            let row = sa::insert_rule(
                conn,
                org_pk,
                &RuleRow {
                    pk: 0,
                    id: super::new_id(),
                    name,
                    kind: k.as_str().into(),
                    value,
                    template,
                    created: now.clone(),
                },
            )?;
            actor.record(
                conn,
                org_pk,
                ("create", "Rule", &row.id),
                None,
                Some(&rule_json(&row).to_string()),
                &now,
            )?;
            Ok(row)
        })
        .await
}

pub async fn list(store: &Store, org_pk: i64) -> Result<Vec<RuleRow>> {
    store.read(move |conn| sa::rules(conn, org_pk)).await
}

pub async fn delete(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    rule: String,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let row = sa::find_rule(conn, org_pk, &rule)?
                .ok_or_else(|| Error::NotFound(format!("no rule {rule:?}")))?;
            sa::delete_rule(conn, org_pk, row.pk)?;
            actor.record(
                conn,
                org_pk,
                ("delete", "Rule", &row.id),
                Some(&rule_json(&row).to_string()),
                None,
                &now,
            )
        })
        .await
}

/// The rule that fits a displayName, if any.
pub fn matching(conn: &Conn, org_pk: i64, display_name: &str) -> Result<Option<RuleRow>> {
    for r in sa::rules(conn, org_pk)? {
        if matcher(&r)?.matches(display_name) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// The rule (id, name if it still exists) that gave a Team its template, if one did.
pub async fn of_team(store: &Store, team_pk: i64) -> Result<Option<(String, Option<String>)>> {
    store.read(move |conn| sa::team_rule(conn, team_pk)).await
}

/// `team-rule test`: which rule a Team of this name would get.
pub async fn test(store: &Store, org_pk: i64, display_name: String) -> Result<Option<RuleRow>> {
    store
        .read(move |conn| matching(conn, org_pk, &display_name))
        .await
}

/// Gives a Team the IdP just created its rule's template, in the creating transaction, and
/// audits it (before/after). Parts naming a Workspace, Deployment or custom role deleted
/// since the rule was made are skipped and named in the audit record's reason.
pub(crate) fn apply(
    conn: &Conn,
    org_pk: i64,
    team: &TeamRow,
    actor: &Actor,
    now: &str,
) -> Result<()> {
    let Some(rule) = matching(conn, org_pk, &team.display_name)? else {
        return Ok(());
    };
    let before = super::teams::team_access(conn, team)?.to_json().to_string();
    let t: Value = serde_json::from_str(&rule.template)
        .map_err(|e| Error::Internal(format!("rule {} template: {e}", rule.id)))?;
    let mut skipped: Vec<String> = Vec::new();
    if let Some(r) = t["organizationRole"].as_str() {
        st::set_team_org_role(conn, team.pk, r)?;
    }
    for w in t["workspaceRoles"].as_array().into_iter().flatten() {
        let (id, role) = (w["workspace"].as_str().unwrap_or(""), w["role"].as_str());
        match st::find_workspace(conn, org_pk, id)? {
            Some(ws) => st::set_team_workspace_role(conn, team.pk, ws.pk, role)?,
            None => skipped.push(format!("Workspace {id}")),
        }
    }
    for d in t["deploymentRoles"].as_array().into_iter().flatten() {
        let (id, role) = (
            d["deployment"].as_str().unwrap_or(""),
            d["role"].as_str().unwrap_or(""),
        );
        let dep = sa::find_deployment(conn, org_pk, id)?;
        let role = deployment_role(conn, org_pk, role).ok();
        match (dep, role) {
            (Some(dep), Some(role)) => {
                sa::set_deployment_role(conn, Holder::Team(team.pk), dep.pk, Some(role))?
            }
            _ => skipped.push(format!("Deployment {id}")),
        }
    }
    sa::set_team_rule(conn, team.pk, Some(&rule.id))?;
    let fresh = st::get(conn, org_pk, &team.id)?.unwrap_or_else(|| team.clone());
    let mut after = super::teams::team_access(conn, &fresh)?.to_json();
    after["rule"] = json!({"id": rule.id, "name": rule.name});
    let why = if skipped.is_empty() {
        format!("{}; rule {:?}", actor.why, rule.name)
    } else {
        format!(
            "{}; rule {:?} (skipped, no longer there: {})",
            actor.why,
            rule.name,
            skipped.join(", ")
        )
    };
    Actor {
        who: actor.who.clone(),
        why,
        via: actor.via.clone(),
    }
    .record(
        conn,
        org_pk,
        ("rule", "Team", &team.id),
        Some(&before),
        Some(&after.to_string()),
        now,
    )
}
