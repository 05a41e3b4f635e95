//! Access tokens: `sbxat_<claims>.<mac>`, the claims (client, organization, secret, expiry)
//! in base64url JSON and an HMAC-SHA-256 over them with a key kept in the database, so every
//! server on the database accepts what any of them issued. Nothing is written per token;
//! whether the client (and the secret it used) is still live is checked on every request
//! against a cache the auth epoch invalidates.

use super::jwt::{b64url, b64url_decode};
use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "sbxat_";
/// Longest access token accepted before any work is done on it.
const MAX_LEN: usize = 512;

/// What an access token says. Short names keep the token short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The client's pk.
    #[serde(rename = "c")]
    pub client_pk: i64,
    /// The organization id whose SCIM base URL the token works on.
    #[serde(rename = "o")]
    pub org_id: String,
    /// The pk of the secret it was issued for (0 for a federated client).
    #[serde(rename = "s")]
    pub secret_pk: i64,
    /// Expiry, seconds since the Unix epoch.
    #[serde(rename = "x")]
    pub exp: i64,
    /// Random, so two tokens issued in one second differ.
    #[serde(rename = "n")]
    pub nonce: String,
}

pub struct Keys {
    key: ring::hmac::Key,
}

impl Keys {
    /// A key from the stored secret (hex or any text: it is used as bytes).
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        }
    }

    pub fn mint(&self, claims: &Claims) -> String {
        let body = b64url(serde_json::to_string(claims).unwrap_or_default().as_bytes());
        let tag = ring::hmac::sign(&self.key, body.as_bytes());
        format!("{PREFIX}{body}.{}", b64url(tag.as_ref()))
    }

    /// The claims of a token this key made, if it has not expired at `now` (Unix seconds).
    /// The MAC is compared in constant time (ring's `verify`).
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        if token.len() > MAX_LEN {
            return None;
        }
        let (body, tag) = token.strip_prefix(PREFIX)?.split_once('.')?;
        let tag = b64url_decode(tag)?;
        ring::hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let claims: Claims = serde_json::from_slice(&b64url_decode(body)?).ok()?;
        (claims.exp > now).then_some(claims)
    }
}

/// Whether a bearer value is shaped like an access token (and not an API token).
pub fn is_access_token(bearer: &str) -> bool {
    bearer.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            client_pk: 7,
            org_id: "o1".into(),
            secret_pk: 3,
            exp,
            nonce: "n".into(),
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires_and_only_with_its_key() {
        let keys = Keys::new(b"k1");
        let t = keys.mint(&claims(100));
        assert!(is_access_token(&t));
        assert_eq!(keys.verify(&t, 99), Some(claims(100)));
        assert_eq!(keys.verify(&t, 100), None);
        assert_eq!(Keys::new(b"k2").verify(&t, 0), None);
        // Other claims under this token's MAC do not verify.
        let mut other = claims(100);
        other.org_id = "o2".into();
        let forged = Keys::new(b"k2").mint(&other);
        let (_, forged_body) = forged.split_once('_').unwrap();
        let (_, tag) = t.rsplit_once('.').unwrap();
        let body = forged_body.split_once('.').unwrap().0;
        assert_eq!(keys.verify(&format!("{PREFIX}{body}.{tag}"), 0), None);
        assert_eq!(keys.verify("sbxat_", 0), None);
        assert_eq!(keys.verify(&format!("{t}{}", "x".repeat(600)), 0), None);
    }
}
