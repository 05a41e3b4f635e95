//! JWTs as client assertions (RFC 7523 §3): compact JWS parsing, RS256 verification with a
//! JWKS key, and the claim checks (`iss`, `sub`, `aud`, `exp`, `nbf`, `jti`). Pure functions:
//! the clock and the expected values come in as arguments.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The largest assertion read (Entra's are about 1.5 KB).
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds (RFC 7523 §3 allows "a reasonable
/// leeway").
pub const LEEWAY_SECS: i64 = 60;
/// An assertion may not live longer than this: its id is kept until it expires.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
const MAX_JTI: usize = 256;

/// A parsed, not yet verified JWT.
#[derive(Debug)]
pub struct Jwt {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why an assertion was refused, in words the token endpoint may send once the signature
/// checked out (RFC 7521 §4.2.1 allows a reason in `error_description`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reject {
    /// Not a compact JWS with JSON header and claims; or not RS256.
    Malformed,
    Signature,
    Issuer,
    Subject,
    Audience,
    Expired,
    NotYetValid,
    TooLong,
    MissingClaim(&'static str),
}

impl Reject {
    pub fn describe(&self) -> String {
        match self {
            Reject::Malformed => "the client assertion is not a JWT signed with RS256".into(),
            Reject::Signature => "the client assertion's signature does not verify".into(),
            Reject::Issuer => {
                "the client assertion's iss is not the issuer configured for this client".into()
            }
            Reject::Subject => {
                "the client assertion's sub is not the subject configured for this client".into()
            }
            Reject::Audience => {
                "the client assertion's aud does not name the audience configured for this client"
                    .into()
            }
            Reject::Expired => "the client assertion has expired".into(),
            Reject::NotYetValid => "the client assertion is not valid yet (nbf)".into(),
            Reject::TooLong => format!(
                "the client assertion lives longer than {} hours (exp)",
                MAX_LIFETIME_SECS / 3600
            ),
            Reject::MissingClaim(c) => format!("the client assertion has no {c} claim"),
        }
    }
}

fn b64(part: &str) -> Result<Vec<u8>, Reject> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Reject::Malformed)
}

/// Splits and decodes a compact JWS (RFC 7515 §7.1). Only RS256 is accepted: that is what
/// Entra signs with, and refusing `none` and HMAC algorithms here closes the classic
/// algorithm-confusion holes.
pub fn parse(token: &str) -> Result<Jwt, Reject> {
    if token.len() > MAX_ASSERTION_BYTES {
        return Err(Reject::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reject::Malformed);
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&b64(h)?).map_err(|_| Reject::Malformed)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&b64(c)?).map_err(|_| Reject::Malformed)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "RS256" || header.contains_key("crit") {
        return Err(Reject::Malformed);
    }
    let signature = b64(s)?;
    if signature.is_empty() {
        return Err(Reject::Malformed);
    }
    Ok(Jwt {
        alg: alg.to_string(),
        kid: header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string),
        claims,
        signing_input: format!("{h}.{c}"),
        signature,
    })
}

/// An RSA public key from a JWK (RFC 7518 §6.3.1): modulus and exponent, big-endian.
#[derive(Debug, Clone, PartialEq)]
pub struct RsaKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl Jwt {
    /// Whether the RS256 signature verifies with this key (RFC 7518 §3.3).
    pub fn verifies_with(&self, key: &RsaKey) -> bool {
        let public = ring::signature::RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        };
        public
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                self.signing_input.as_bytes(),
                &self.signature,
            )
            .is_ok()
    }

    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// What a verified assertion must say, and the time to judge it at.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub audience: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// What the claims gave: when the assertion expires, and the id its replay is known by.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub exp: i64,
    pub jti: String,
}

fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Reject> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or(Reject::MissingClaim(name)),
    }
}

/// RFC 7523 §3 checks, in its order: iss, sub, aud, exp, nbf; then the replay id (`jti`,
/// or Entra's `uti`, or else the signature itself, which is unique per assertion).
pub fn check(jwt: &Jwt, expect: &Expect<'_>) -> Result<Checked, Reject> {
    if jwt.claim_str("iss") != Some(expect.issuer) {
        return Err(Reject::Issuer);
    }
    if jwt.claim_str("sub") != Some(expect.subject) {
        return Err(Reject::Subject);
    }
    let aud_ok = match jwt.claims.get("aud") {
        Some(Value::String(a)) => a == expect.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(Reject::Audience);
    }
    let exp = numeric_date(&jwt.claims, "exp")?.ok_or(Reject::MissingClaim("exp"))?;
    if exp + LEEWAY_SECS <= expect.now {
        return Err(Reject::Expired);
    }
    if exp > expect.now + MAX_LIFETIME_SECS {
        return Err(Reject::TooLong);
    }
    if let Some(nbf) = numeric_date(&jwt.claims, "nbf")?
        && nbf > expect.now + LEEWAY_SECS
    {
        return Err(Reject::NotYetValid);
    }
    let jti = jwt
        .claim_str("jti")
        .or_else(|| jwt.claim_str("uti"))
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI)
        .map(str::to_string)
        .unwrap_or_else(|| format!("sig:{}", URL_SAFE_NO_PAD.encode(sha256(&jwt.signature))));
    Ok(Checked { exp, jti })
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Base64url without padding, as JWS and JWK use it.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes a base64url JWK member (`n`, `e`).
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    b64(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn unsigned(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.c2ln",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        )
    }

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: "https://sts.windows.net/t/",
            subject: "app-object-id",
            audience: "api://scimbox",
            now,
        }
    }

    fn claims(exp: i64) -> Value {
        json!({"iss": "https://sts.windows.net/t/", "sub": "app-object-id",
               "aud": "api://scimbox", "exp": exp, "nbf": exp - 3600, "jti": "j-1"})
    }

    #[test]
    fn only_rs256_compact_jws_parses() {
        let ok = unsigned(&json!({"alg": "RS256", "kid": "k1"}), &claims(10));
        let jwt = parse(&ok).unwrap();
        assert_eq!(jwt.kid.as_deref(), Some("k1"));
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "HS256"}),
            json!({"alg": "RS256", "crit": ["x"]}),
        ] {
            assert_eq!(
                parse(&unsigned(&header, &claims(10))).unwrap_err(),
                Reject::Malformed
            );
        }
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.c2ln", "e30.e30."] {
            assert_eq!(parse(bad).unwrap_err(), Reject::Malformed, "{bad}");
        }
        assert_eq!(
            parse(&"a".repeat(MAX_ASSERTION_BYTES + 1)).unwrap_err(),
            Reject::Malformed
        );
    }

    #[test]
    fn claims_are_checked_in_the_rfc_order() {
        let h = json!({"alg": "RS256"});
        let now = 1_000_000;
        let run = |c: &Value| check(&parse(&unsigned(&h, c)).unwrap(), &expect(now));
        let good = claims(now + 600);
        assert_eq!(
            run(&good),
            Ok(Checked {
                exp: now + 600,
                jti: "j-1".into()
            })
        );
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        assert_eq!(run(&with("iss", json!("other"))), Err(Reject::Issuer));
        assert_eq!(run(&with("sub", json!("other"))), Err(Reject::Subject));
        assert_eq!(run(&with("aud", json!("https://x"))), Err(Reject::Audience));
        assert_eq!(
            run(&with("aud", json!(["a", "api://scimbox"]))).map(|c| c.exp),
            Ok(now + 600)
        );
        assert_eq!(run(&with("exp", json!(now - 61))), Err(Reject::Expired));
        assert!(run(&with("exp", json!(now - 30))).is_ok(), "within leeway");
        assert_eq!(
            run(&with("exp", json!(now + MAX_LIFETIME_SECS + 1))),
            Err(Reject::TooLong)
        );
        assert_eq!(
            run(&with("nbf", json!(now + 120))),
            Err(Reject::NotYetValid)
        );
        assert_eq!(
            run(&with("exp", Value::Null)),
            Err(Reject::MissingClaim("exp"))
        );
        // Entra's uti stands in for a missing jti; without either, the signature does.
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove("jti");
        c["uti"] = json!("u-1");
        assert_eq!(run(&c).unwrap().jti, "u-1");
        c.as_object_mut().unwrap().remove("uti");
        assert!(run(&c).unwrap().jti.starts_with("sig:"));
    }
}
