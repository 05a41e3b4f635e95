//! The request inspector: the latest SCIM requests in a bounded in-memory ring, so a failing
//! IdP call can be found from the admin page in seconds.
//!
//! Recording is on the hot path, so it costs a redaction pass over each body, a copy of at
//! most [`BODY_HEAD`] bytes of it and a short lock; nothing touches the database. The
//! `Authorization` header is never kept. Bodies are redacted on the parsed JSON document, so a
//! password is found in any spelling (any case, URN-qualified, JSON-escaped key), at any depth
//! (PATCH values, Bulk data); credential-like query parameters are replaced by `***`; a body
//! that is not JSON is kept only when nothing in it looks like a secret.

use serde_json::Value;
use std::collections::VecDeque;
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
}

/// What the SCIM edge hands over after answering a request.
pub struct Seen<'a> {
    pub at: String,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    /// The query string, already through [`redact_query`].
    pub query: &'a str,
    pub status: u16,
    pub latency_us: u64,
    pub token: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The request body as shown (see [`show_body`]), and the body's full length.
    pub request_shown: &'a str,
    pub request_bytes: usize,
    pub response: Option<&'a str>,
}

/// The ring of the latest requests. `size` 0 turns recording off.
pub struct Inspector {
    size: usize,
    ring: Mutex<Ring>,
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
        }
    }

    pub fn size(&self) -> usize {
        self.size
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
            request_body: seen.request_shown.to_string(),
            request_bytes: seen.request_bytes,
            response_body: seen
                .response
                .map_or_else(String::new, |r| show_body(r.as_bytes())),
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
/// Bodies up to this size are parsed for redaction; larger ones are treated as unparsable.
const PARSE_MAX: usize = 1024 * 1024;

/// What the inspector keeps of a body: the JSON document with every secret replaced by `***`
/// (see [`redact_value`]), cut to [`BODY_HEAD`] bytes. A body that is not JSON (or is over
/// 1 MiB) is kept as text only when nothing in its first bytes looks like a secret; otherwise
/// a placeholder says it was withheld.
pub fn show_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    if body.len() <= PARSE_MAX
        && let Ok(mut v) = serde_json::from_slice::<Value>(body)
    {
        redact_value(&mut v);
        return cut(&v.to_string());
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(BODY_HEAD)]);
    if looks_secret(&head) {
        return format!(
            "[withheld: the {} byte body is not JSON that could be checked, and it may hold a \
             secret]",
            body.len()
        );
    }
    cut(&String::from_utf8_lossy(body))
}

fn cut(text: &str) -> String {
    if text.len() <= BODY_HEAD {
        text.to_string()
    } else {
        format!("{} … [truncated]", clip(text, BODY_HEAD))
    }
}

/// Whether unparsed text may hold a credential: a secret-like word, our token prefix, or an
/// escape that could spell one.
fn looks_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "bearer",
        "assertion",
        "credential",
        "sbx_",
        "\\u",
        "%",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Whether a JSON member or query parameter with this name holds a credential. The name is
/// compared as the attribute it names: the part after a schema URN (`urn:...:User:password`)
/// and after a parent (`name.password`), any case.
fn is_secret_name(name: &str) -> bool {
    let attr = name.rsplit(':').next().unwrap_or(name);
    let attr = attr.rsplit('.').next().unwrap_or(attr).to_ascii_lowercase();
    attr.contains("password")
        || attr.contains("secret")
        || attr.contains("token")
        || attr.contains("assertion")
        || matches!(
            attr.as_str(),
            "pwd"
                | "passwd"
                | "code"
                | "code_verifier"
                | "apikey"
                | "api_key"
                | "key"
                | "sig"
                | "signature"
                | "authorization"
                | "credentials"
        )
}

/// Whether a PATCH operation's `path` targets a password (`password`,
/// `urn:...:User:password`, any case; a value filter `[...]` is ignored).
fn path_is_secret(path: &str) -> bool {
    let path = path.split('[').next().unwrap_or(path).trim();
    is_secret_name(path)
}

/// Replaces the value of every secret member at any depth, and the `value` of a PATCH
/// operation whose `path` names a secret (RFC 7644 §3.5.2), with `***`. Keys are compared
/// after JSON unescaping, since this runs on the parsed document.
fn redact_value(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let path_is_password = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .and_then(|(_, p)| p.as_str())
                .is_some_and(path_is_secret);
            for (k, val) in map.iter_mut() {
                let key_is_secret =
                    is_secret_name(k) || (path_is_password && k.eq_ignore_ascii_case("value"));
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

/// A query string with the value of every credential-like parameter (`access_token`,
/// `client_secret`, `password`, `code`...) replaced by `***`, and any value that mentions a
/// password (a filter on it) too. Names and values are compared after `decode` (the HTTP
/// edge's percent-decoding, passed in so this module stays below it).
pub fn redact_query(query: &str, decode: impl Fn(&str) -> String) -> String {
    if query.is_empty() {
        return String::new();
    }
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(k);
            let value = decode(v).to_ascii_lowercase();
            if is_secret_name(&name) || value.contains("password") || value.contains("sbx_") {
                format!("{k}={REDACTED}")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
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
            request_shown: std::str::from_utf8(body).unwrap(),
            request_bytes: body.len(),
            response: Some("{\"id\":\"1\"}"),
        }
    }

    fn shown(body: &str) -> String {
        show_body(body.as_bytes())
    }

    #[test]
    fn passwords_never_reach_the_ring() {
        let okta = r#"{"userName":"a@x.io","password":"1mz050nq","name":{"password":"x"}}"#;
        let r = shown(okta);
        assert!(!r.contains("1mz050nq") && r.contains("a@x.io"), "{r}");
        let patch = r#"{"Operations":[{"op":"replace","path":"password","value":"s3cret"},
            {"op":"replace","value":{"Password":"other"}}]}"#;
        let r = shown(patch);
        assert!(!r.contains("s3cret") && !r.contains("other"), "{r}");
        let urn = r#"{"urn:ietf:params:scim:schemas:core:2.0:User:password":"u1",
            "pass\u0077ord":"e2","Operations":[{"op":"add","path":
            "urn:ietf:params:scim:schemas:core:2.0:User:PASSWORD","value":"p3"}]}"#;
        let r = shown(urn);
        assert!(
            !r.contains("u1") && !r.contains("e2") && !r.contains("p3"),
            "{r}"
        );
        // Cut JSON cannot be checked: it mentions a password, so it is withheld.
        let cut = shown(r#"{"userName":"a","password":"s3cr"#);
        assert!(!cut.contains("s3cr") && cut.contains("withheld"), "{cut}");
        let bad = shown(r#"{"pa\u0073s": "x" oops"#);
        assert!(bad.contains("withheld"), "{bad}");
        // Broken JSON with nothing secret-looking is kept, to show what the IdP sent.
        assert_eq!(shown(r#"{"a":1"#), r#"{"a":1"#);
        assert_eq!(shown(r#"{"a":1}"#), r#"{"a":1}"#);
        // A big document is cut after redaction.
        let big = format!(
            r#"{{"password":"zz9","x":"{}"}}"#,
            "y".repeat(3 * BODY_HEAD)
        );
        let r = shown(&big);
        assert!(
            !r.contains("zz9") && r.ends_with("[truncated]"),
            "{}",
            r.len()
        );
    }

    #[test]
    fn credential_query_parameters_are_redacted() {
        let redact_query = |q| super::redact_query(q, |s| crate::http::query::decode(s, true));
        assert_eq!(
            redact_query("access_token=abc&count=2&Client_Secret=x&acc%65ss_token=y"),
            "access_token=***&count=2&Client_Secret=***&acc%65ss_token=***"
        );
        assert_eq!(
            redact_query("filter=password%20eq%20%22x%22&code=1&startIndex=1"),
            "filter=***&code=***&startIndex=1"
        );
        assert_eq!(redact_query(""), "");
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
        let off = Inspector::new(0);
        off.record(&seen("/scim/v2/o/Users", 200, b""));
        assert!(off.list("o", "", None, 10).is_empty());
    }
}
