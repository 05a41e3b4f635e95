//! The request inspector: the latest SCIM requests, kept in the database (bounded by count and
//! age) so a failing IdP call can be found from the admin page in seconds, also after a
//! restart.
//!
//! Recording is on the hot path, so it costs a redaction pass over each body, a copy of at
//! most [`BODY_HEAD`] bytes of it and a short lock; the database write happens later, in
//! batches: [`Inspector::run`] hands what piled up to the store's writer a few times a second
//! (one savepoint in whatever transaction the writer is committing), so a GET never waits for
//! a write and adds no fsync of its own. The `Authorization` header is never kept. Bodies are
//! redacted on the parsed JSON document, so a password is found in any spelling (any case,
//! URN-qualified, JSON-escaped key), at any depth (PATCH values, Bulk data); credential-like
//! query parameters are replaced by `***`; a body that is not JSON is kept only when nothing
//! in it looks like a secret.

use crate::store::Store;
use crate::store::requests::{RequestRow, Search};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// How much of each request and response body is kept.
pub const BODY_HEAD: usize = 8 * 1024;
/// The default number of requests kept (`--request-log-size`).
pub const DEFAULT_SIZE: usize = 10_000;
/// The default number of days a request is kept (`--request-log-days`).
pub const DEFAULT_DAYS: u32 = 7;
/// Requests waiting for the database past this many wake the flusher at once.
const FLUSH_AT: usize = 256;
/// At most this many wait; past it the newest are dropped rather than memory growing.
const PENDING_MAX: usize = 20_000;
/// How often the flusher writes what is pending.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

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
    /// The caller's address.
    pub source: Option<String>,
    /// The resource the request named or created.
    pub resource_id: Option<String>,
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
    /// The caller's address.
    pub source: Option<&'a str>,
    /// What the response said was dropped as undeclared (see `scim::Reply::dropped`).
    pub dropped: &'a [String],
}

/// The requests on their way to the database. `size` 0 turns recording off.
pub struct Inspector {
    size: usize,
    days: u32,
    pending: Mutex<Vec<Record>>,
    wake: tokio::sync::Notify,
    /// Serializes flushes, so rows reach the table in the order they were seen.
    flushing: tokio::sync::Mutex<()>,
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

impl Inspector {
    pub fn new(size: usize) -> Inspector {
        Inspector::with_days(size, DEFAULT_DAYS)
    }

    /// An inspector that keeps `size` requests, none older than `days` (0: no age limit).
    pub fn with_days(size: usize, days: u32) -> Inspector {
        Inspector {
            size,
            days,
            pending: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            flushing: tokio::sync::Mutex::new(()),
            undeclared: Mutex::new(HashMap::new()),
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn days(&self) -> u32 {
        self.days
    }

    /// Counts the undeclared attributes an organization's clients sent (since the server
    /// started), whether or not requests are recorded.
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

    /// Keeps a request: queues it for the next batch write.
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
            source: None,
            resource_id: None,
            dropped: seen.dropped.to_vec(),
        };
        record.source = seen.source.map(str::to_string);
        record.resource_id = resource_of(seen);
        self.keep(record);
    }

    fn keep(&self, record: Record) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.len() >= PENDING_MAX {
            return;
        }
        pending.push(record);
        if pending.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Writes what is pending, in one write through the store's writer, and drops what is
    /// past the count or age bound.
    pub async fn flush(&self, store: &Store) -> crate::error::Result<()> {
        if self.size == 0 {
            return Ok(());
        }
        let _turn = self.flushing.lock().await;
        let mut batch: Vec<Record> = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(()),
        };
        // Only the newest `size` outlast this write: the older ones are not written at all.
        if batch.len() > self.size {
            batch.drain(..batch.len() - self.size);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<RequestRow> = batch.into_iter().map(to_row).collect();
        let keep = self.size;
        let cutoff = (self.days > 0).then(|| {
            crate::clock::format(crate::clock::now() - time::Duration::days(i64::from(self.days)))
        });
        store
            .write(move |conn| {
                crate::store::requests::insert_batch(conn, &rows, keep, cutoff.as_deref())
            })
            .await
    }

    /// Flushes every [`FLUSH_EVERY`], or sooner when many requests wait; runs until aborted.
    pub async fn run(&self, store: Store) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(FLUSH_EVERY) => {}
            }
            if let Err(e) = self.flush(&store).await {
                tracing::warn!(error = %e, "request inspector: cannot store requests");
            }
        }
    }

    /// The newest requests of an organization first that match `search`, and how many match
    /// in all. What is still pending is written first, so a request just answered is found.
    pub async fn list(
        &self,
        store: &Store,
        org_id: &str,
        search: Search,
    ) -> crate::error::Result<(i64, Vec<RequestRow>)> {
        self.flush(store).await?;
        let org_id = org_id.to_string();
        store
            .read(move |conn| crate::store::requests::search(conn, &org_id, &search))
            .await
    }
}

fn to_row(r: Record) -> RequestRow {
    RequestRow {
        pk: 0,
        org_id: r.org_id,
        at: r.at,
        request_id: r.request_id,
        method: r.method,
        path: r.path,
        query: r.query,
        status: r.status,
        latency_us: r.latency_us,
        token: r.token,
        user_agent: r.user_agent,
        source: r.source,
        resource_id: r.resource_id,
        request_body: r.request_body,
        request_bytes: r.request_bytes,
        response_body: r.response_body,
        dropped: r.dropped,
    }
}

/// The resource a request is about: the id in its path (`/Users/{id}`), or the id of what a
/// successful POST created.
fn resource_of(seen: &Seen<'_>) -> Option<String> {
    let id = seen
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .nth(4)
        .map(|s| clip(s, 128));
    if id.is_some() {
        return id;
    }
    if seen.method == "POST" && seen.status == 201 {
        // Resources are written with their id first (`scim::users::render`): no parse then.
        let response = seen.response?;
        if let Some(id) = response
            .strip_prefix("{\"id\":\"")
            .and_then(|r| r.split_once('"'))
            .map(|(id, _)| id)
            .filter(|id| !id.contains('\\'))
        {
            return Some(clip(id, 128));
        }
        let created: Value = serde_json::from_str(response).ok()?;
        return created.get("id")?.as_str().map(|s| clip(s, 128));
    }
    None
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
    // Most bodies (every answer to a GET) hold nothing redaction could change: shown as they
    // are, without parsing and writing them again.
    if let Ok(text) = std::str::from_utf8(body)
        && !might_hold_secret(text)
    {
        return cut(text);
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

/// Whether redaction could change anything in `text`: a word any secret member name, PATCH
/// path or secret-looking text contains ([`is_secret_name`], [`looks_secret`]), in any case,
/// or a `\u` escape (which could spell one; the other JSON escapes stand for no letter). When
/// not, the parsed document would come out unredacted, so the text is shown as it was sent.
fn might_hold_secret(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|i| {
        let rest = &bytes[i..];
        let starts = |w: &[u8]| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w);
        match bytes[i].to_ascii_lowercase() {
            b'p' => starts(b"pass") || starts(b"pwd"),
            b's' => starts(b"secret") || starts(b"sig") || starts(b"sbx_"),
            b't' => starts(b"token"),
            b'a' => starts(b"assertion") || starts(b"authorization"),
            b'c' => starts(b"code") || starts(b"credential"),
            b'k' => starts(b"key"),
            b'b' => starts(b"bearer"),
            b'\\' => starts(b"\\u"),
            b'%' => true,
            _ => false,
        }
    })
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
            source: None,
            dropped: &[],
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
        // A body redaction cannot change is shown as sent; one it might is parsed and checked.
        let plain =
            r#"{"userName":"a@x.io","name":{"givenName":"Ada"},"meta":{"version":"W/\"1\""}}"#;
        assert_eq!(shown(plain), plain);
        assert!(!might_hold_secret(plain));
        for hint in [
            "PassWord", "apiKey", "x\\u0041", "Sig", "TOKEN", "code", "50%",
        ] {
            assert!(might_hold_secret(&format!("{{\"{hint}\":1}}")), "{hint}");
        }
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
    fn a_request_names_its_resource() {
        let mut s = seen("/scim/v2/org1/Users/u1", 200, b"");
        assert_eq!(resource_of(&s).as_deref(), Some("u1"));
        s.path = "/scim/v2/org1/Users";
        s.status = 201;
        assert_eq!(resource_of(&s).as_deref(), Some("1"));
        s.status = 409;
        assert_eq!(resource_of(&s), None);
    }

    #[test]
    fn undeclared_attributes_are_counted_per_organization() {
        let i = Inspector::new(0);
        let dropped = ["urn:x:2.0:User:costCenter".to_string()];
        i.count_undeclared("org1", &dropped, "t1");
        i.count_undeclared("org1", &dropped, "t2");
        i.count_undeclared("org1", &[], "t3");
        let counted = i.undeclared("org1");
        assert_eq!(counted.len(), 1);
        assert_eq!((counted[0].count, counted[0].last_seen.as_str()), (2, "t2"));
        assert!(i.undeclared("org2").is_empty());
    }
}
