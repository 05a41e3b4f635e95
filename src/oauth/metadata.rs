//! `GET /.well-known/oauth-authorization-server` (RFC 8414 §3): what a client needs to find
//! the token endpoint and how to authenticate there.

use super::token::GRANT;
use crate::auth::clients::{SCOPE, TOKEN_PATH};
use crate::scim::Reply;
use serde_json::json;

/// The metadata document for the server reached at `root` (`https://host[/prefix]`), which
/// is also the issuer identifier (RFC 8414 §2).
pub fn document(root: &str) -> serde_json::Value {
    json!({
        "issuer": root,
        "token_endpoint": format!("{root}{TOKEN_PATH}"),
        "grant_types_supported": [GRANT],
        // No authorization endpoint: the client credentials grant needs none.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [SCOPE],
        "service_documentation": format!("{root}/admin/"),
    })
}

pub fn serve(root: &str) -> Reply {
    Reply::json(200, document(root).to_string()).header("content-type", "application/json".into())
}
