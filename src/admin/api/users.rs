//! Users: search, detail, (de)activate, delete.

use super::*;
use crate::model::filter::{AttrPath, CompareOp, Filter};
use crate::model::query::{Keyset, ListQuery, Sort};

pub(super) async fn route(cx: &Cx<'_>, method: &str, rest: &[&str]) -> Result<Reply> {
    let (app, req, org, actor) = (cx.app, cx.req, cx.org, cx.actor);
    let (store, now) = (&app.store, cx.now.clone());
    match (method, rest) {
        ("GET", ["users"]) => list_users(app, req, org).await,
        ("GET", ["users", id]) => user_detail(app, req, org, id).await,
        ("PUT", ["users", id, "active"]) => {
            let active = bool_field(&json_body(req)?, "active")?;
            let what = if active {
                "reactivate user"
            } else {
                "deactivate user"
            };
            directory::users::update_with(
                store,
                &actor(what),
                org.pk,
                id.to_string(),
                None,
                now,
                move |_, mut data| {
                    data.insert("active".into(), Value::Bool(active));
                    Ok(data)
                },
            )
            .await?;
            user_detail(app, req, org, id).await
        }
        ("DELETE", ["users", id]) => {
            directory::users::delete(
                store,
                &actor("delete user"),
                org.pk,
                id.to_string(),
                None,
                now,
            )
            .await?;
            Ok(Reply::empty(204))
        }
        _ => Err(cx.not_found(method)),
    }
}

fn compare(attr: &str, op: CompareOp, value: Value) -> Filter {
    let mut path = AttrPath::simple(attr);
    if let Some((name, sub)) = attr.split_once('.') {
        path = AttrPath::simple(name);
        path.sub = Some(sub.to_string());
    }
    Filter::Compare { path, op, value }
}

async fn list_users(app: &App, req: &Request, org: &Org) -> Result<Reply> {
    let q = req.param("q").map(str::trim).unwrap_or("");
    if q.chars().count() > MAX_SEARCH {
        return Err(Fail::new(
            400,
            "invalid",
            format!(
                "the search is too long ({} characters): search with at most {MAX_SEARCH}",
                q.chars().count()
            ),
        ));
    }
    let start = count_param(req, "start", 0, 10_000_000)?;
    let count = count_param(req, "count", 25, MAX_PAGE)?;
    let mut filter: Option<Filter> = None;
    if !q.is_empty() {
        let text = || Value::String(q.to_string());
        filter = Some(Filter::Or(
            Box::new(Filter::Or(
                Box::new(compare("userName", CompareOp::Co, text())),
                Box::new(compare("displayName", CompareOp::Co, text())),
            )),
            Box::new(compare("emails.value", CompareOp::Co, text())),
        ));
    }
    let active = match req.param("active").unwrap_or("") {
        "" | "any" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            return Err(Fail::new(
                400,
                "invalid",
                "active must be true, false or any",
            ));
        }
    };
    if let Some(a) = active {
        let term = compare("active", CompareOp::Eq, Value::Bool(a));
        filter = Some(match filter {
            Some(f) => Filter::And(Box::new(f), Box::new(term)),
            None => term,
        });
    }
    let query = ListQuery {
        filter,
        sort: Some(Sort {
            by: AttrPath::simple("userName"),
            descending: false,
        }),
        offset: start,
        limit: count,
        keyset: Keyset::None,
    };
    let (total, users) = directory::users::list(&app.store, org.pk, query).await?;
    let items: Vec<Value> = users
        .iter()
        .map(|u| {
            let data: Value = serde_json::from_str(&u.row.data).unwrap_or(Value::Null);
            let email = crate::model::resource::primary_email(&data).map(str::to_string);
            json!({
                "id": u.row.id,
                "userName": data["userName"],
                "displayName": data["displayName"],
                "email": email,
                "active": data["active"].as_bool().unwrap_or(true),
                "teams": u.teams.iter().map(|(id, name)| json!({"id": id, "name": name}))
                    .collect::<Vec<_>>(),
                "lastModified": u.row.last_modified,
            })
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({"total": total, "start": start, "count": count, "users": items}),
    ))
}

async fn user_detail(app: &App, req: &Request, org: &Org, id: &str) -> Result<Reply> {
    let Some(user) = directory::users::get(&app.store, org.pk, id.to_string()).await? else {
        return Err(Fail::new(
            404,
            "not-found",
            format!("no user {id} in this organization"),
        ));
    };
    let (_, access) = directory::users::access(&app.store, org.pk, user.row.id.clone()).await?;
    let sync = directory::orgs::sync_of(&app.store, org.pk, user.row.id.clone()).await?;
    let base = req.scim_base(&org.id);
    let scim: Value =
        serde_json::from_str(&crate::scim::users::render(&user, &base)).unwrap_or(Value::Null);
    let data: Value = serde_json::from_str(&user.row.data).unwrap_or(Value::Null);
    Ok(Reply::json(
        200,
        &json!({
            "id": user.row.id,
            "userName": data["userName"],
            "displayName": data["displayName"],
            "name": data["name"],
            "emails": data["emails"],
            "externalId": data["externalId"],
            "active": data["active"].as_bool().unwrap_or(true),
            "created": user.row.created,
            "lastModified": user.row.last_modified,
            "version": user.row.version,
            "teams": user.teams.iter().map(|(id, name)| json!({"id": id, "name": name}))
                .collect::<Vec<_>>(),
            "access": access.to_json(),
            "effective": access.to_detail_json(),
            "sync": {"idpWrote": sync.0, "changedHere": sync.1},
            "scim": scim,
        }),
    ))
}
