//! The request inspector: the latest SCIM requests in a bounded in-memory ring, so a failing
//! IdP call can be found from the admin page in seconds.
//!
//! Recording is on the hot path, so it costs a copy of at most [`BODY_HEAD`] bytes of each
//! body, a redaction pass over them and a short lock; nothing touches the database. The
//! `Authorization` header is never kept, and `password` values are replaced by `***` before a
//! body is stored.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How much of each request and response body is kept.
pub const BODY_HEAD: usize = 8 * 1024;
/// The default number of requests kept (`--request-log-size`).
pub const DEFAULT_SIZE: usize = 500;

/// One SCIM request as the inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub seq: u64,
    pub at: String,
    /// The `X-Request-Id` the response carried and the log line names.
    pub request_id: String,
    /// The organization id in the URL (whether or not the token matched it).
    pub org_id: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub latency_us: u64,
    /// The token's name, when authentication succeeded.
    pub token: Option<String>,
    pub user_agent: Option<String>,
    pub request_body: String,
    pub request_bytes: usize,
    pub response_body: String,
    /// Attributes under extension URNs the organization does not declare, which the request
    /// sent and scimbox dropped.
    pub dropped: Vec<String>,
}

/// What the SCIM edge hands over after answering a request.
pub struct Seen<'a> {
    pub at: String,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub token: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The first bytes of the request body, and the body's full length.
    pub request_head: &'a [u8],
    pub request_bytes: usize,
    pub response: Option<&'a str>,
    pub dropped: &'a [String],
}

/// The ring of the latest requests. `size` 0 turns recording off.
pub struct Inspector {
    size: usize,
    ring: Mutex<Ring>,
    undeclared: Mutex<Undeclared>,
}

/// Per organization id: each dropped attribute path with how often and when it was last sent.
type Undeclared = HashMap<String, BTreeMap<String, (u64, String)>>;

/// Most distinct dropped paths counted per organization (a client could invent endless ones).
const MAX_UNDECLARED: usize = 200;

/// One dropped attribute as the admin API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedCount {
    pub path: String,
    pub count: u64,
    pub last_seen: String,
}

#[derive(Default)]
struct Ring {
    next: u64,
    records: VecDeque<Arc<Record>>,
}

impl Inspector {
    pub fn new(size: usize) -> Inspector {
        Inspector {
            size,
            ring: Mutex::new(Ring::default()),
            undeclared: Mutex::new(HashMap::new()),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Counts the undeclared attributes an organization's clients sent (since the server
    /// started), whether or not the ring is on.
    pub fn count_undeclared(&self, org_id: &str, dropped: &[String], at: &str) {
        if dropped.is_empty() {
            return;
        }
        let Ok(mut all) = self.undeclared.lock() else {
            return;
        };
        let counts = all.entry(org_id.to_string()).or_default();
        for path in dropped {
            if let Some((n, last)) = counts.get_mut(path) {
                *n += 1;
                *last = at.to_string();
            } else if counts.len() < MAX_UNDECLARED {
                counts.insert(clip(path, 512), (1, at.to_string()));
            }
        }
    }

    /// The undeclared attributes an organization's clients sent, most frequent first.
    pub fn undeclared(&self, org_id: &str) -> Vec<DroppedCount> {
        let Ok(all) = self.undeclared.lock() else {
            return Vec::new();
        };
        let mut out: Vec<DroppedCount> = all
            .get(org_id)
            .map(|m| {
                m.iter()
                    .map(|(path, (count, last))| DroppedCount {
                        path: path.clone(),
                        count: *count,
                        last_seen: last.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.path.cmp(&b.path)));
        out
    }

    /// Keeps a request, dropping the oldest when the ring is full.
    pub fn record(&self, seen: &Seen<'_>) {
        if self.size == 0 {
            return;
        }
        let org_id = seen
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .nth(2)
            .unwrap_or("")
            .to_string();
        let truncated = seen.request_bytes > seen.request_head.len();
        let mut record = Record {
            seq: 0,
            at: seen.at.clone(),
            request_id: seen.request_id.to_string(),
            org_id,
            method: seen.method.to_string(),
            path: clip(seen.path, 2048),
            query: clip(seen.query, 4096),
            status: seen.status,
            latency_us: seen.latency_us,
            token: seen.token.map(str::to_string),
            user_agent: seen.user_agent.map(|u| clip(u, 256)),
            request_body: redact(&String::from_utf8_lossy(seen.request_head), truncated),
            request_bytes: seen.request_bytes,
            response_body: seen.response.map_or_else(String::new, |r| {
                let head = clip(r, BODY_HEAD);
                redact(&head, head.len() < r.len())
            }),
            dropped: seen.dropped.to_vec(),
        };
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        ring.next += 1;
        record.seq = ring.next;
        if ring.records.len() >= self.size {
            ring.records.pop_front();
        }
        ring.records.push_back(Arc::new(record));
    }

    /// The newest requests of an organization first, those whose status starts with
    /// `status` ("4", "40", "401"...; empty for all) and older than `before` when given.
    pub fn list(
        &self,
        org_id: &str,
        status: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<Arc<Record>> {
        let Ok(ring) = self.ring.lock() else {
            return Vec::new();
        };
        ring.records
            .iter()
            .rev()
            .filter(|r| r.org_id == org_id)
            .filter(|r| before.is_none_or(|b| r.seq < b))
            .filter(|r| r.status.to_string().starts_with(status))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

const REDACTED: &str = "***";

/// A body with every password value replaced by `***`: the value of any `password` member,
/// and the `value` of a PATCH operation whose `path` is `password`. A body that is not whole
/// JSON (cut at [`BODY_HEAD`], or malformed) is cut before the first mention of a password,
/// since its values cannot be found reliably.
pub fn redact(body: &str, truncated: bool) -> String {
    if body.is_empty() {
        return String::new();
    }
    // Most bodies never mention a password: one scan, no parse.
    let Some(at) = password_at(body) else {
        return if truncated {
            format!("{body} … [truncated]")
        } else {
            body.to_string()
        };
    };
    if !truncated && let Ok(mut v) = serde_json::from_str::<Value>(body) {
        redact_value(&mut v);
        return v.to_string();
    }
    // Not whole JSON: its values cannot be found reliably, so cut before the mention.
    format!("{}… [cut: the rest mentions a password]", clip(body, at))
}

/// Where the first "password" (any case) starts.
fn password_at(s: &str) -> Option<usize> {
    const WORD: &[u8] = b"password";
    s.as_bytes()
        .windows(WORD.len())
        .position(|w| w.eq_ignore_ascii_case(WORD))
}

fn redact_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let path_is_password = map
                .get("path")
                .and_then(Value::as_str)
                .is_some_and(|p| p.to_ascii_lowercase().ends_with("password"));
            for (k, val) in map.iter_mut() {
                let key_is_secret = k.eq_ignore_ascii_case("password")
                    || (path_is_password && k.eq_ignore_ascii_case("value"));
                if key_is_secret {
                    *val = Value::String(REDACTED.into());
                } else {
                    redact_value(val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(path: &'a str, status: u16, body: &'a [u8]) -> Seen<'a> {
        Seen {
            at: "t".into(),
            request_id: "r1",
            method: "POST",
            path,
            query: "",
            status,
            latency_us: 5,
            token: Some("idp"),
            user_agent: None,
            request_head: body,
            request_bytes: body.len(),
            response: Some("{\"id\":\"1\"}"),
            dropped: &[],
        }
    }

    #[test]
    fn passwords_never_reach_the_ring() {
        let okta = r#"{"userName":"a@x.io","password":"1mz050nq","name":{"password":"x"}}"#;
        let r = redact(okta, false);
        assert!(!r.contains("1mz050nq") && r.contains("a@x.io"), "{r}");
        let patch = r#"{"Operations":[{"op":"replace","path":"password","value":"s3cret"},
            {"op":"replace","value":{"Password":"other"}}]}"#;
        let r = redact(patch, false);
        assert!(!r.contains("s3cret") && !r.contains("other"), "{r}");
        let cut = redact(r#"{"userName":"a","password":"s3cr"#, true);
        assert!(!cut.contains("s3cr") && cut.contains("userName"), "{cut}");
        let bad = redact(r#"{"password": "x" oops"#, false);
        assert!(!bad.contains("oops"), "{bad}");
        assert_eq!(redact(r#"{"a":1}"#, false), r#"{"a":1}"#);
    }

    #[test]
    fn the_ring_keeps_the_latest_and_filters_by_status() {
        let i = Inspector::new(3);
        for status in [201, 401, 409, 200] {
            i.record(&seen("/scim/v2/org1/Users", status, b"{}"));
        }
        i.record(&seen("/scim/v2/org2/Users", 500, b""));
        let all = i.list("org1", "", None, 10);
        assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), [200, 409]);
        assert_eq!(i.list("org1", "4", None, 10).len(), 1);
        assert_eq!(i.list("org1", "", Some(all[0].seq), 10)[0].status, 409);
        assert_eq!(i.list("org2", "5", None, 10)[0].org_id, "org2");
        let dropped = ["urn:x:2.0:User:costCenter".to_string()];
        i.count_undeclared("org1", &dropped, "t1");
        i.count_undeclared("org1", &dropped, "t2");
        let counted = i.undeclared("org1");
        assert_eq!((counted[0].count, counted[0].last_seen.as_str()), (2, "t2"));
        assert!(i.undeclared("org2").is_empty());
        let off = Inspector::new(0);
        off.record(&seen("/scim/v2/o/Users", 200, b""));
        assert!(off.list("o", "", None, 10).is_empty());
    }
}
