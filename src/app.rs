//! What every request handler shares: the store, the authenticator, the limits and the key
//! that signs pagination cursors.

use crate::auth::bearer::Authenticator;
use crate::error::Result;
use crate::store::Store;

/// Limits that protect the server; each is a flag of `scimbox serve`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
        }
    }
}

pub struct App {
    pub store: Store,
    pub auth: Authenticator,
    pub limits: Limits,
    /// Signs cursors (RFC 9865); kept in the database so cursors survive a restart.
    pub cursor_key: Vec<u8>,
}

impl App {
    /// Builds the shared state for a store that is already open.
    pub fn new(store: Store, limits: Limits) -> Result<App> {
        let auth = Authenticator::new(store.path())?;
        let key = store.write_blocking(|conn| {
            crate::store::settings::get_or_init(conn, "cursor_key", || {
                crate::auth::secret::random_hex(32)
            })
        })?;
        Ok(App {
            store,
            auth,
            limits,
            cursor_key: key.into_bytes(),
        })
    }
}
