//! The audit log as people read it: entries with the names of what they touch, and the
//! NDJSON and CSV exports the admin page and `scimbox audit export` share.

use crate::error::Result;
use crate::store::audit::{AuditRow, Named};
use serde_json::{Value, json};

/// Entries read per page while exporting.
const PAGE: i64 = 500;
/// The largest export, in entries.
const EXPORT_MAX: i64 = 1_000_000;

/// A stored before/after: JSON when it is JSON, else the text.
pub fn stored(text: Option<&str>) -> Value {
    match text {
        None => Value::Null,
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_string())),
    }
}

fn named_json(n: &Named) -> Value {
    json!({"type": n.kind, "id": n.id, "name": n.name, "display": n.display})
}

/// One entry as the page and the export show it: the stored states, the names of the
/// resource and of the members a membership change adds or removes, and where it came from.
pub fn entry_json(r: &AuditRow, names: &[Named]) -> Value {
    let find = |id: &str| names.iter().find(|n| n.id == id);
    let person = |id: &Value| match id.as_str().and_then(find) {
        Some(n) => named_json(n),
        None => json!({"id": id, "name": Value::Null}),
    };
    let after = stored(r.after.as_deref());
    let members = (r.action == "members").then(|| {
        let side = |k: &str| -> Vec<Value> {
            after
                .get(k)
                .and_then(Value::as_array)
                .map(|l| l.iter().map(person).collect())
                .unwrap_or_default()
        };
        json!({"added": side("added"), "removed": side("removed")})
    });
    json!({
        "id": r.pk, "at": r.at, "actor": r.actor, "action": r.action,
        "resourceType": r.resource_type, "resourceId": r.resource_id,
        "resourceName": find(&r.resource_id).map(|n| n.name.clone()),
        "resourceDisplay": find(&r.resource_id).and_then(|n| n.display.clone()),
        "reason": r.reason,
        "requestId": r.request_id, "source": r.source, "userAgent": r.user_agent,
        "members": members,
        "before": stored(r.before.as_deref()), "after": after,
    })
}

/// The audit log of one organization as NDJSON or CSV text (shared with the CLI).
pub async fn export(
    store: &crate::store::Store,
    org_pk: i64,
    filter: crate::store::audit::Filter,
    format: &str,
) -> Result<String> {
    let mut out = String::new();
    if format == "csv" {
        out.push_str(CSV_HEADER);
    }
    let mut before = None;
    let mut written = 0;
    loop {
        let page = super::orgs::audit_page(store, org_pk, filter.clone(), before, PAGE).await?;
        for r in &page.rows {
            let entry = entry_json(r, &page.names);
            if format == "csv" {
                out.push_str(&csv_line(&entry));
            } else {
                out.push_str(&entry.to_string());
                out.push('\n');
            }
        }
        written += page.rows.len() as i64;
        match page.rows.last() {
            Some(last) if page.rows.len() as i64 == PAGE && written < EXPORT_MAX => {
                before = Some(last.pk)
            }
            _ => break,
        }
    }
    Ok(out)
}

const CSV_HEADER: &str = "id,at,actor,action,resourceType,resourceId,resourceName,reason,\
requestId,source,userAgent,added,removed,before,after\r\n";

/// One CSV row (RFC 4180: every field quoted, quotes doubled). A field that a spreadsheet
/// would run as a formula gets a leading `'`.
fn csv_line(e: &Value) -> String {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let names = |side: &str| {
        e["members"][side]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|m| match m["name"].as_str() {
                        Some(n) => format!("{n} ({})", text(&m["id"])),
                        None => text(&m["id"]),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    };
    let fields = [
        text(&e["id"]),
        text(&e["at"]),
        text(&e["actor"]),
        text(&e["action"]),
        text(&e["resourceType"]),
        text(&e["resourceId"]),
        text(&e["resourceName"]),
        text(&e["reason"]),
        text(&e["requestId"]),
        text(&e["source"]),
        text(&e["userAgent"]),
        names("added"),
        names("removed"),
        text(&e["before"]),
        text(&e["after"]),
    ];
    let mut line = fields
        .iter()
        .map(|f| {
            let f = if f.starts_with(['=', '+', '-', '@']) {
                format!("'{f}")
            } else {
                f.clone()
            };
            format!("\"{}\"", f.replace('"', "\"\""))
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}
