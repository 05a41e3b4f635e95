//! What every edge shares: the store, the authenticators (API tokens, OAuth clients), the
//! limits, the key that signs pagination cursors, the rate limits and how the server is
//! reached. Each edge keeps its own
//! state beside it (the HTTP layer its request ids and metrics in `http::State`, the admin page
//! its sessions and inspector in `admin::AdminState`), so `scim/` builds on this alone.

use crate::auth::bearer::Authenticator;
use crate::error::Result;
use crate::store::Store;

use std::time::Duration;

/// Limits that protect the server; each is a flag of `scimbox serve`.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest request body (and Bulk payload); larger ones get 413.
    pub max_body_bytes: usize,
    /// The most bytes of request line and headers; more gets 431.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send its headers; also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout: Duration,
    /// How long a client may take to send its body; slower gets 408.
    pub body_read_timeout: Duration,
    /// How long a response may wait for the client to read it; then the connection closes.
    pub write_timeout: Duration,
    /// How long a connection may neither send nor receive a byte; then it closes.
    pub idle_timeout: Duration,
    /// Token checks one address may have in flight or failed in a minute before checks are
    /// spaced out (past it: 429 with `Retry-After`).
    pub auth_free_failures: u32,
    /// Requests per second one token may make (0: no limit); more get 429.
    pub rate_limit: u32,
    /// Requests one token may make at once after a quiet spell.
    pub rate_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            auth_free_failures: crate::auth::throttle::FREE_FAILURES,
            rate_limit: crate::auth::ratelimit::DEFAULT_RATE,
            rate_burst: crate::auth::ratelimit::DEFAULT_BURST,
        }
    }
}

/// How the server is reached from outside: the base of the URLs it hands out, and who may
/// read `/metrics` on the main port.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// `--public-url`, validated and without a trailing slash (`https://scim.example.com` or
    /// `https://example.com/prefix`). Without it, URLs are built from the request's `Host`.
    pub public_url: Option<String>,
    /// The server speaks TLS itself, so URLs built from `Host` start with `https`.
    pub tls: bool,
    /// `--metrics-token`: `/metrics` on the main port answers only with this bearer token.
    /// Without it, `/metrics` is not served there at all (404).
    pub metrics_token: Option<crate::auth::secret::Secret>,
}

impl Edge {
    /// The root every URL starts with (`https://host[:port][/prefix]`, no trailing slash):
    /// the public URL if set, else the scheme and the request's `Host` (already reduced to
    /// host characters). `forwarded_https` is a proxy's `X-Forwarded-Proto: https`.
    pub fn root(&self, host: &str, forwarded_https: bool) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let scheme = if self.tls || forwarded_https {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{host}")
            }
        }
    }

    /// An organization's SCIM base URL.
    pub fn scim_base(&self, host: &str, forwarded_https: bool, org_id: &str) -> String {
        format!("{}/scim/v2/{org_id}", self.root(host, forwarded_https))
    }
}

/// Checks a `--public-url`: an absolute `http` or `https` URL with a host, and no query,
/// fragment or user info. Returns it without a trailing slash, or says what to fix.
pub fn parse_public_url(url: &str) -> std::result::Result<String, String> {
    let fix = |why: &str| {
        format!(
            "--public-url {url:?} is not usable: {why} (give the URL clients reach the server \
             at, like https://scim.example.com)"
        )
    };
    let trimmed = url.trim();
    let rest = if let Some(r) = trimmed.strip_prefix("https://") {
        r
    } else if let Some(r) = trimmed.strip_prefix("http://") {
        r
    } else {
        return Err(fix("it must start with https:// or http://"));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err(fix("it has no host"));
    }
    if authority.contains('@') {
        return Err(fix("it must not carry a user name or password"));
    }
    let host_ok = authority
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !host_ok {
        return Err(fix("its host has characters a host name cannot have"));
    }
    if let Some((_, port)) = authority.rsplit_once(':')
        && !authority.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err(fix("its port is not a number from 0 to 65535"));
    }
    if path.contains(['?', '#']) || authority.contains(['?', '#']) {
        return Err(fix("it must not have a query or fragment"));
    }
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b));
    if !path_ok {
        return Err(fix("its path has characters that need percent-encoding"));
    }
    Ok(trimmed.trim_end_matches('/').to_string())
}

pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub limits: Limits,
    /// Signs cursors (RFC 9865); kept in the database so cursors survive a restart.
    pub cursor_key: Vec<u8>,
    /// Counts credential checks per name, address or client (admin sign-in, SCIM tokens,
    /// OAuth clients): take a reservation before verifying any secret (see `auth::throttle`).
    pub throttle: std::sync::Arc<crate::auth::throttle::Throttle>,
    /// The public URL, TLS and the metrics token (see [`App::with_edge`]).
    pub edge: Edge,
    /// Token buckets per API token (`--rate-limit`, `--rate-burst`).
    pub rate: crate::auth::ratelimit::RateLimiter,
    /// OAuth clients' credentials and access tokens (see [`App::with_oauth`]).
    pub oauth: crate::auth::clients::OAuth,
}

impl App {
    /// Builds the shared state for a store that is already open.
    pub fn new(store: Store, limits: Limits) -> Result<App> {
        let throttle = std::sync::Arc::new(crate::auth::throttle::Throttle::new());
        let auth = Authenticator::new(
            &store,
            throttle.clone(),
            crate::auth::bearer::throttle_policy(limits.auth_free_failures),
        )?;
        let key = store.write_blocking(|conn| {
            crate::store::settings::get_or_init(conn, "cursor_key", || {
                crate::auth::secret::random_hex(32)
            })
        })?;
        let oauth =
            crate::auth::clients::OAuth::new(&store, &crate::auth::clients::Settings::default())?;
        Ok(App {
            oauth,
            store,
            auth,
            throttle,
            rate: crate::auth::ratelimit::RateLimiter::new(limits.rate_limit, limits.rate_burst),
            limits,
            cursor_key: key.into_bytes(),
            edge: Edge::default(),
        })
    }

    /// Sets up OAuth clients (access-token lifetime, the CA file for JWKS URLs). Fails when
    /// the CA file cannot be used. Blocking (it reads the key): call it where `App::new` is.
    pub fn with_oauth(mut self, settings: &crate::auth::clients::Settings) -> Result<App> {
        self.oauth = crate::auth::clients::OAuth::new(&self.store, settings)?;
        Ok(self)
    }

    /// Sets how the server is reached (public URL, TLS, metrics token).
    pub fn with_edge(mut self, edge: Edge) -> App {
        self.edge = edge;
        self
    }
}
