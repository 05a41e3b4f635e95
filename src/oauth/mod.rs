//! The OAuth 2.0 edge, as Entra requires of SCIM applications: `POST /oauth/token`, the
//! client credentials grant (RFC 6749 §4.4) with a client secret or a federated client
//! assertion (RFC 7523 §2.2), and `/.well-known/oauth-authorization-server` (RFC 8414). This
//! layer speaks the protocol (form parameters, which authentication method, RFC 6749 §5.2
//! error bodies); the credential checks and the access tokens live in `auth::clients`.

pub mod metadata;
pub mod token;

use crate::auth::clients::{METADATA_PATH, TOKEN_PATH};

/// Whether a path is served by this module.
pub fn owns(path: &str) -> bool {
    path == TOKEN_PATH || path == METADATA_PATH
}
