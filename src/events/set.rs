//! Security Event Tokens (RFC 8417) for outbox events, profiled by RFC 9967, signed as a JWS
//! (RFC 7515) with ES256 (RFC 7518 §3.4), and the organization's key published as a JWKS.
//!
//! Signing uses `ring`, already in the tree under rustls: it generates the P-256 key
//! (PKCS#8, kept in the database) and makes the fixed-width `r || s` signature JWS wants, so
//! a JOSE crate would add code without removing any.

use crate::error::{Error, Result};
use crate::model::events::{self, Kind};
use crate::store::outbox::{Event, Receiver};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Map, Value, json};

/// The JOSE header `typ` of a SET (RFC 8417 §2.3).
pub const TYP: &str = "secevent+jwt";
/// The media type of a pushed SET (RFC 8935 §2).
pub const MEDIA_TYPE: &str = "application/secevent+jwt";

/// Base64url without padding (RFC 7515 §2).
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// An organization's signing key.
pub struct Key {
    pub kid: String,
    pair: EcdsaKeyPair,
}

impl Key {
    /// A new P-256 key as a PKCS#8 document, and its `kid`.
    pub fn generate() -> Result<(String, Vec<u8>)> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Error::Internal("cannot generate an event signing key".into()))?;
        let key = Key::from_pkcs8("", pkcs8.as_ref())?;
        Ok((key.thumbprint(), pkcs8.as_ref().to_vec()))
    }

    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Key> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| Error::Internal("the stored event signing key is damaged".into()))?;
        Ok(Key {
            kid: kid.to_string(),
            pair,
        })
    }

    /// The public key's x and y coordinates (the uncompressed point is `04 || x || y`).
    fn coordinates(&self) -> (&[u8], &[u8]) {
        let point = self.pair.public_key().as_ref();
        (&point[1..33], &point[33..65])
    }

    /// The JWK thumbprint (RFC 7638): SHA-256 of the required members in lexical order.
    fn thumbprint(&self) -> String {
        use sha2::Digest;
        let (x, y) = self.coordinates();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(x),
            b64(y)
        );
        b64(&sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// The public key as a JWK (RFC 7517, RFC 7518 §6.2).
    pub fn jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({
            "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y),
            "kid": self.kid, "use": "sig", "alg": "ES256"
        })
    }

    /// Signs `claims` as a compact JWS with the SET header.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"alg": "ES256", "typ": TYP, "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| Error::Internal("cannot sign an event".into()))?;
        Ok(format!("{input}.{}", b64(sig.as_ref())))
    }
}

/// The SET's `jti`: the same for every delivery of one event to one receiver, so a receiver
/// can drop duplicates, and different for each receiver (RFC 9967 §2.2: one `txn`, distinct
/// `jti`s). [`parse_jti`] reads it back.
pub fn jti(event: &Event, receiver: &Receiver) -> String {
    format!("{}.{}", event.txn, receiver.id)
}

/// The `txn` inside a `jti` this receiver was given, or `None`.
pub fn parse_jti<'a>(jti: &'a str, receiver: &Receiver) -> Option<&'a str> {
    let (txn, rid) = jti.split_once('.')?;
    (rid == receiver.id).then_some(txn)
}

/// The SCIM path of a resource (RFC 9967 §2.1 `sub_id.uri`).
fn uri(event: &Event) -> String {
    let endpoint = if event.resource_type == "Team" {
        "Groups"
    } else {
        "Users"
    };
    format!("/{endpoint}/{}", event.resource_id)
}

/// The claims of the SET announcing `event` to `receiver`. `issuer` is the organization's
/// SCIM base URL; `iat` the time of issue in seconds.
pub fn claims(event: &Event, receiver: &Receiver, issuer: &str, iat: i64) -> Result<Value> {
    let payload: Map<String, Value> = serde_json::from_str(&event.payload)
        .map_err(|e| Error::Internal(format!("outbox event {} is not JSON: {e}", event.seq)))?;
    let kind = payload
        .get("kind")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or_else(|| Error::Internal(format!("outbox event {} has no kind", event.seq)))?;
    let full = receiver.detail == "full";
    let path = uri(event);
    let version = payload
        .get("version")
        .and_then(Value::as_i64)
        .map(crate::directory::etag);
    let mut detail = Map::new();
    if kind != Kind::Delete {
        // RFC 9967 §2.4: exactly one of `data` (full) and `attributes` (notice).
        if full {
            let mut data = payload.get("data").cloned().unwrap_or(Value::Null);
            if matches!(kind, Kind::Create | Kind::Put)
                && let Some(obj) = data.as_object_mut()
            {
                obj.insert("id".into(), event.resource_id.clone().into());
                let resource_type = if event.resource_type == "Team" {
                    "Group"
                } else {
                    "User"
                };
                obj.insert(
                    "meta".into(),
                    json!({
                        "resourceType": resource_type,
                        "created": payload.get("created"),
                        "lastModified": payload.get("lastModified"),
                        "location": format!("{issuer}{path}"),
                        "version": version,
                    }),
                );
            }
            detail.insert("data".into(), data);
        } else {
            detail.insert(
                "attributes".into(),
                payload.get("attributes").cloned().unwrap_or(json!([])),
            );
        }
        if let Some(v) = &version {
            detail.insert("version".into(), v.clone().into());
        }
    }
    let mut events_claim = Map::new();
    events_claim.insert(kind.uri(full).into(), Value::Object(detail));
    // RFC 9967 §2.1: several event URIs in one SET arise from one state change.
    match payload.get("active").and_then(Value::as_bool) {
        Some(true) => {
            events_claim.insert(events::ACTIVATE.into(), json!({}));
        }
        Some(false) => {
            events_claim.insert(events::DEACTIVATE.into(), json!({}));
        }
        None => {}
    }
    let mut sub_id = json!({"format": "scim", "uri": path, "id": event.resource_id});
    if let Some(ext) = &event.external_id {
        sub_id["externalId"] = ext.clone().into();
    }
    let toe = crate::clock::parse(&event.at).map(|t| t.unix_timestamp());
    let mut claims = json!({
        "iss": issuer,
        "iat": iat,
        "jti": jti(event, receiver),
        "aud": receiver.url,
        "txn": event.txn,
        "sub_id": sub_id,
        "events": events_claim,
    });
    if let Some(toe) = toe {
        claims["toe"] = toe.into();
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unb64(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        out
    }

    #[test]
    fn base64url_matches_rfc_4648_vectors_without_padding() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg");
        assert_eq!(b64(b"fo"), "Zm8");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"foob"), "Zm9vYg");
        assert_eq!(b64(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn a_signed_set_verifies_with_the_published_key() {
        let (kid, pkcs8) = Key::generate().unwrap();
        let key = Key::from_pkcs8(&kid, &pkcs8).unwrap();
        let token = key.sign(&json!({"jti": "x"})).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (x, y) = key.coordinates();
        let mut point = vec![4u8];
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            point,
        );
        assert!(public.verify(input.as_bytes(), &unb64(sig)).is_ok());
        assert!(public.verify(b"other", &unb64(sig)).is_err());
        assert_eq!(sig.len(), 86, "64 bytes of r || s");
        assert_eq!(key.jwk()["kid"], kid.as_str());
        assert_eq!(kid.len(), 43, "a SHA-256 thumbprint");
    }

    fn event(payload: Value) -> Event {
        Event {
            seq: 7,
            org_pk: 1,
            txn: "t1".into(),
            at: "2026-05-01T00:00:00.000Z".into(),
            resource_type: "User".into(),
            resource_id: "u1".into(),
            external_id: Some("jdoe".into()),
            payload: payload.to_string(),
        }
    }

    fn receiver(detail: &str) -> Receiver {
        Receiver {
            pk: 1,
            id: "r1".into(),
            org_pk: 1,
            url: "https://app.example/events".into(),
            mode: "push".into(),
            detail: detail.into(),
            created: "now".into(),
            cursor: 0,
            state: "active".into(),
            attempts: 0,
            next_attempt: None,
            last_delivery: None,
            last_error: None,
            delivered: 0,
            backlog: 0,
            org_id: "o".into(),
        }
    }

    #[test]
    fn claims_follow_rfc_9967() {
        let e = event(
            json!({"kind": "patch", "attributes": ["active"], "active": false,
                             "data": {"Operations": []}, "version": 3}),
        );
        let c = claims(&e, &receiver("notice"), "https://s/scim/v2/o", 10).unwrap();
        assert_eq!(c["sub_id"]["format"], "scim");
        assert_eq!(c["sub_id"]["uri"], "/Users/u1");
        assert_eq!(c["sub_id"]["externalId"], "jdoe");
        assert!(c.get("sub").is_none(), "RFC 9967 §2.1: never sub");
        assert_eq!(c["jti"], "t1.r1");
        assert_eq!(c["txn"], "t1");
        let notice = &c["events"][events::PATCH_NOTICE];
        assert_eq!(notice["attributes"], json!(["active"]));
        assert_eq!(notice["version"], "W/\"3\"");
        assert!(notice.get("data").is_none());
        assert_eq!(c["events"][events::DEACTIVATE], json!({}));
        let full = claims(&e, &receiver("full"), "https://s/scim/v2/o", 10).unwrap();
        assert!(full["events"][events::PATCH_FULL]["data"].is_object());
        assert!(
            full["events"][events::PATCH_FULL]
                .get("attributes")
                .is_none()
        );
        let gone = claims(
            &event(json!({"kind": "delete", "attributes": []})),
            &receiver("full"),
            "i",
            1,
        )
        .unwrap();
        assert_eq!(gone["events"], json!({events::DELETE: {}}));
    }
}
