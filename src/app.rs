//! What every request handler shares: the store, the authenticator, the limits, the key
//! that signs pagination cursors and the admin page's state.

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
    /// Wrong tokens one address may present per minute before answers slow down.
    pub auth_free_failures: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            auth_free_failures: crate::auth::throttle::FREE_FAILURES,
        }
    }
}

pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub limits: Limits,
    /// Signs cursors (RFC 9865); kept in the database so cursors survive a restart.
    pub cursor_key: Vec<u8>,
    /// Slows down addresses that keep failing to authenticate.
    pub throttle: crate::auth::throttle::Throttle,
    /// Sessions, sign-in throttling and the request inspector of the admin page.
    pub admin: crate::admin::AdminState,
}

impl App {
    /// Builds the shared state for a store that is already open.
    pub fn new(store: Store, limits: Limits, admin: crate::admin::AdminState) -> Result<App> {
        let auth = Authenticator::new(store.path())?;
        let key = store.write_blocking(|conn| {
            crate::store::settings::get_or_init(conn, "cursor_key", || {
                crate::auth::secret::random_hex(32)
            })
        })?;
        Ok(App {
            store,
            auth,
            throttle: crate::auth::throttle::Throttle::new(limits.auth_free_failures),
            limits,
            cursor_key: key.into_bytes(),
            admin,
        })
    }
}
