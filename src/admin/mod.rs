//! The admin edge: the embedded admin page under `/admin/` and its JSON API under
//! `/admin/api/` (documented in `docs/admin-api.md`).
//!
//! Like `scim`, it sees no hyper types: `http::admin` hands it a [`Request`] and turns the
//! [`Reply`] into a response. Every change goes through `directory` with `Origin::Local` and an
//! `admin:<name>` actor, so the SCIM-managed rules and the audit log apply as they do to the
//! CLI.

pub mod api;
pub mod assets;
pub mod inspector;
pub mod session;

use time::OffsetDateTime;

/// The largest request body the admin API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the admin edge keeps between requests.
pub struct AdminState {
    pub lifetimes: session::Lifetimes,
    pub inspector: inspector::Inspector,
}

impl AdminState {
    pub fn new(lifetimes: session::Lifetimes, request_log_size: usize) -> AdminState {
        AdminState {
            lifetimes,
            inspector: inspector::Inspector::new(request_log_size),
        }
    }

    pub fn with_inspector(
        lifetimes: session::Lifetimes,
        inspector: inspector::Inspector,
    ) -> AdminState {
        AdminState {
            lifetimes,
            inspector,
        }
    }
}

impl Default for AdminState {
    fn default() -> Self {
        AdminState::new(session::Lifetimes::default(), inspector::DEFAULT_SIZE)
    }
}

/// An admin request, as `http::admin` extracts it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path below `/admin` (`""`, `"/"`, `"/api/session"`...), not decoded.
    pub path: String,
    /// The same path split at `/`, empty segments left out, each percent-decoded once.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    /// The `Host` header, reduced to host characters.
    pub host: String,
    /// Where the server is reached: `--public-url`, or the scheme and `Host` of this request
    /// (no trailing slash). SCIM base URLs shown on the page start with it.
    pub root: String,
    /// Served over TLS (directly or, as `X-Forwarded-Proto: https` says, behind a proxy).
    pub tls: bool,
    pub cookie: Option<String>,
    pub origin: Option<String>,
    pub sec_fetch_site: Option<String>,
    pub csrf: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub now: OffsetDateTime,
    /// The client's address (sign-in attempts are counted per address too; the audit record
    /// names it), its `X-Request-Id` and user agent.
    pub peer: std::net::IpAddr,
    pub request_id: String,
    pub user_agent: Option<String>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An organization's SCIM base URL, as the page shows it.
    pub fn scim_base(&self, org_id: &str) -> String {
        format!("{}/scim/v2/{org_id}", self.root)
    }
}

/// What the admin edge answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::new(
            status,
            "application/json; charset=utf-8",
            value.to_string().into_bytes(),
        )
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// Serves one request under `/admin`.
pub async fn handle(app: &crate::app::App, state: &AdminState, req: Request) -> Reply {
    let reply = match req.path.as_str() {
        "" => Reply::empty(308).header("location", "/admin/".into()),
        p if p == "/api" || p.starts_with("/api/") => api::handle(app, state, &req).await,
        _ => assets::serve(&req),
    };
    secure(reply)
}

/// Headers every admin response carries: no sniffing, no framing, no referrer, and no
/// script, style or connection from anywhere but this server (the page works offline).
fn secure(reply: Reply) -> Reply {
    let html = reply
        .headers
        .iter()
        .any(|(k, v)| *k == "content-type" && v.starts_with("text/html"));
    let mut reply = reply
        .header("x-content-type-options", "nosniff".into())
        .header("x-frame-options", "DENY".into())
        .header("referrer-policy", "no-referrer".into());
    if html {
        reply = reply.header(
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
                .into(),
        );
    }
    reply
}
