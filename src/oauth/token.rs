//! `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4). The client
//! authenticates with HTTP Basic or form fields (§2.3.1), or with a JWT its identity provider
//! signed (RFC 7523 §2.2). Answers are RFC 6749 §5.1 tokens or §5.2 errors, never SCIM bodies.
//!
//! What an error says is bounded: a failed secret, an unknown client, a revoked client and a
//! bad signature all read "client authentication failed". Only once an assertion's signature
//! verified against the client's keys (so the caller holds what the identity provider
//! signed) does the description say which claim was wrong (RFC 7521 §4.2.1 allows it).

use crate::app::App;
use crate::auth::clients::{Authenticated, Refused, SCOPE};
use crate::scim::{Method, Reply};
use base64::Engine;
use serde_json::json;
use time::OffsetDateTime;

pub const GRANT: &str = "client_credentials";
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The largest token request body read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most form parameters read (a token request needs at most six).
pub const MAX_PARAMETERS: usize = 32;

/// A token request as the HTTP edge hands it over.
pub struct TokenRequest {
    pub method: Method,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The form parameters in order, decoded once (`+` is a space).
    pub form: Vec<(String, String)>,
    pub now: OffsetDateTime,
}

/// The answer, and what the request log and the throttle need to know.
pub struct Outcome {
    pub reply: Reply,
    /// `client:<name>` once a client authenticated.
    pub client: Option<String>,
    /// Client authentication failed (slowed down like a wrong API token).
    pub auth_failed: bool,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    InvalidRequest(String),
    /// 401 with `WWW-Authenticate: Basic`.
    InvalidClient(String),
    UnsupportedGrantType,
    InvalidScope,
    MethodNotAllowed,
    TooLarge,
    /// Too many failed client authentications from one address: 429 with `Retry-After`.
    Throttled(u64),
    Server,
}

const CLIENT_AUTH_FAILED: &str = "client authentication failed";

fn generic() -> Refusal {
    Refusal::InvalidClient(CLIENT_AUTH_FAILED.into())
}

/// An RFC 6749 §5.2 body. `error_description` stays within the characters §5.2 allows.
fn error_reply(r: &Refusal) -> Reply {
    let (status, code, description) = match r {
        Refusal::InvalidRequest(d) => (400, "invalid_request", d.clone()),
        Refusal::InvalidClient(d) => (401, "invalid_client", d.clone()),
        Refusal::UnsupportedGrantType => (
            400,
            "unsupported_grant_type",
            "the only grant type is client_credentials".into(),
        ),
        Refusal::InvalidScope => (
            400,
            "invalid_scope",
            format!("the scope to ask for is {SCOPE} (or leave scope out)"),
        ),
        Refusal::MethodNotAllowed => (
            405,
            "invalid_request",
            "the token endpoint takes POST".into(),
        ),
        Refusal::TooLarge => (
            413,
            "invalid_request",
            format!("the request body is over {MAX_BODY_BYTES} bytes"),
        ),
        // RFC 6749 has no code for this; invalid_request is the §5.2 code that fits, and the
        // status and Retry-After say when to come back.
        Refusal::Throttled(secs) => (
            429,
            "invalid_request",
            format!(
                "too many failed client authentications from this address; retry in {secs} \
                 seconds"
            ),
        ),
        Refusal::Server => (500, "server_error", "internal error".into()),
    };
    let description: String = description
        .chars()
        .map(|c| {
            if c == '"' || c == '\\' || !(' '..='~').contains(&c) {
                '\''
            } else {
                c
            }
        })
        .collect();
    let mut reply = json_reply(
        status,
        &json!({"error": code, "error_description": description}),
    );
    match r {
        Refusal::InvalidClient(_) => {
            reply = reply.header("www-authenticate", "Basic realm=\"scimbox\"".into());
        }
        Refusal::MethodNotAllowed => reply = reply.header("allow", "POST".into()),
        Refusal::Throttled(secs) => reply = reply.header("retry-after", secs.to_string()),
        _ => {}
    }
    reply
}

/// RFC 6749 §5.1: JSON, never cached.
fn json_reply(status: u16, body: &serde_json::Value) -> Reply {
    Reply::json(status, body.to_string())
        .header("content-type", "application/json;charset=UTF-8".into())
        .header("cache-control", "no-store".into())
        .header("pragma", "no-cache".into())
}

/// The reply to an address past its allowance of failed client authentications.
pub fn throttled(retry_after_secs: u64) -> Reply {
    error_reply(&Refusal::Throttled(retry_after_secs))
}

/// The reply to a body over [`MAX_BODY_BYTES`].
pub fn too_large() -> Reply {
    error_reply(&Refusal::TooLarge)
}

pub async fn serve(app: &App, req: TokenRequest) -> Outcome {
    let mut client_name = None;
    let result = issue(app, &req, &mut client_name).await;
    let auth_failed = matches!(result, Err(Refusal::InvalidClient(_)));
    Outcome {
        reply: result.unwrap_or_else(|r| error_reply(&r)),
        client: client_name,
        auth_failed,
    }
}

/// How the client said who it is.
enum Credentials {
    Secret {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        jwt: String,
    },
}

fn single<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn credentials(req: &TokenRequest) -> std::result::Result<Credentials, Refusal> {
    let form = &req.form;
    let basic = match req.authorization.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(h) => {
            let (scheme, value) = h.split_once(' ').ok_or_else(generic)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(generic());
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(generic)?;
            let (id, secret) = decoded.split_once(':').ok_or_else(generic)?;
            // RFC 6749 §2.3.1: both are form-encoded before Basic encodes them.
            Some((
                crate::http::query::decode(id, true),
                crate::http::query::decode(secret, true),
            ))
        }
    };
    let form_secret = single(form, "client_secret");
    let assertion = single(form, "client_assertion");
    let assertion_type = single(form, "client_assertion_type");
    let methods = usize::from(basic.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        // RFC 6749 §2.3: one authentication method per request.
        return Err(Refusal::InvalidRequest(
            "use one client authentication method: HTTP Basic, client_secret or client_assertion"
                .into(),
        ));
    }
    let form_id = single(form, "client_id");
    if let Some((id, secret)) = basic {
        if form_id.is_some_and(|f| f != id) {
            return Err(Refusal::InvalidRequest(
                "client_id differs from the client in the Authorization header".into(),
            ));
        }
        return Ok(Credentials::Secret {
            client_id: id,
            secret,
        });
    }
    if let Some(secret) = form_secret {
        let client_id = form_id.ok_or_else(|| {
            Refusal::InvalidRequest("client_id is missing beside client_secret".into())
        })?;
        return Ok(Credentials::Secret {
            client_id: client_id.to_string(),
            secret: secret.to_string(),
        });
    }
    if let Some(jwt) = assertion {
        match assertion_type {
            Some(ASSERTION_TYPE) => {}
            None => {
                return Err(Refusal::InvalidRequest(
                    "client_assertion_type is missing beside client_assertion".into(),
                ));
            }
            // RFC 6749 §5.2: an unsupported authentication method is invalid_client.
            Some(_) => {
                return Err(Refusal::InvalidClient(format!(
                    "the only client_assertion_type is {ASSERTION_TYPE}"
                )));
            }
        }
        return Ok(Credentials::Assertion {
            client_id: form_id.map(str::to_string),
            jwt: jwt.to_string(),
        });
    }
    Err(Refusal::InvalidClient(
        "no client authentication: use HTTP Basic, client_id and client_secret, or a client_assertion"
            .into(),
    ))
}

/// RFC 6749 §3.3: the requested scope, checked. Entra asks for `<app id URI>/.default`; that
/// and `scim` both mean the SCIM API.
fn scope_ok(scope: Option<&str>) -> bool {
    scope.is_none_or(|s| {
        s.split(' ')
            .filter(|v| !v.is_empty())
            .all(|v| v == SCOPE || v.ends_with("/.default"))
    })
}

async fn issue(
    app: &App,
    req: &TokenRequest,
    client_name: &mut Option<String>,
) -> std::result::Result<Reply, Refusal> {
    if req.method != Method::Post {
        return Err(Refusal::MethodNotAllowed);
    }
    let media = req
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim();
    if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Refusal::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    if req.form.len() > MAX_PARAMETERS {
        return Err(Refusal::InvalidRequest(format!(
            "a token request has at most {MAX_PARAMETERS} parameters"
        )));
    }
    // RFC 6749 §3.2: no parameter more than once.
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &req.form {
        if !seen.insert(name.as_str()) {
            let shown: String = name.chars().take(64).collect();
            return Err(Refusal::InvalidRequest(format!(
                "{shown} is given more than once"
            )));
        }
    }
    match single(&req.form, "grant_type") {
        None => return Err(Refusal::InvalidRequest("grant_type is missing".into())),
        Some(GRANT) => {}
        Some(_) => return Err(Refusal::UnsupportedGrantType),
    }
    let oauth = &app.oauth;
    let now_unix = req.now.unix_timestamp();
    let now = crate::clock::format(req.now);
    let checked = match credentials(req)? {
        Credentials::Secret { client_id, secret } => {
            oauth
                .check_secret(&app.store, client_id, secret, &now)
                .await
        }
        Credentials::Assertion { client_id, jwt } => {
            oauth
                .check_assertion(&app.store, client_id, &jwt, now_unix, &now)
                .await
        }
    };
    let who: Authenticated = checked.map_err(|r| match r {
        Refused::Failed => generic(),
        Refused::Claim(why) => Refusal::InvalidClient(why),
        Refused::Internal(e) => {
            tracing::error!(cause = %e, "token endpoint: internal error");
            Refusal::Server
        }
    })?;
    let client = &who.client;
    *client_name = Some(format!("client:{}", client.name));
    if !scope_ok(single(&req.form, "scope")) {
        return Err(Refusal::InvalidScope);
    }
    let token = oauth.issue(&who, now_unix).map_err(|_| Refusal::Server)?;
    let (store, pk) = (app.store.clone(), client.pk);
    tokio::spawn(async move { crate::directory::clients::touch(&store, pk, now).await });
    tracing::info!(client = %client.name, org = %client.org_id, expires_in = oauth.ttl_secs(), "issued an access token");
    Ok(json_reply(
        200,
        &json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": oauth.ttl_secs(),
            "scope": SCOPE,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_scim_or_an_entra_default_scope() {
        assert!(scope_ok(None));
        assert!(scope_ok(Some("scim")));
        assert!(scope_ok(Some("api://scimbox/.default")));
        assert!(!scope_ok(Some("scim admin")));
        assert!(!scope_ok(Some("openid")));
    }

    #[test]
    fn error_bodies_are_rfc_6749_with_safe_descriptions() {
        let r = error_reply(&Refusal::InvalidClient("a \"quoted\" thing é".into()));
        assert_eq!(r.status, 401);
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_description"], "a 'quoted' thing '");
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| *k == "www-authenticate" && v.starts_with("Basic"))
        );
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| *k == "cache-control" && v == "no-store")
        );
    }
}
