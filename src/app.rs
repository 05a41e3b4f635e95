//! What every request handler shares: the store, the authenticator, the limits and the admin
//! page's state.

use crate::auth::bearer::Authenticator;
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
    /// Sessions, sign-in throttling and the request inspector of the admin page.
    pub admin: crate::admin::AdminState,
}
