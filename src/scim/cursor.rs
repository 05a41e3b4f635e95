//! Cursor pagination (RFC 9865): opaque, tamper-evident cursors.
//!
//! A cursor is `hex(payload) "." hex(HMAC-SHA256(key, payload))[..32]`. The payload says where
//! the next page starts (after or before a row's pk, in creation order, so rows added during a
//! walk never shift it; or an offset when the client sorts), which query it belongs to, and when
//! it was issued. The key lives in the database, so cursors survive a restart.

use crate::auth::secret::hex;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};

/// How long a cursor stays valid; advertised as `cursorTimeout`.
pub const TIMEOUT_SECS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The page starts after this pk (forward, creation order).
    After(i64),
    /// The page ends before this pk (backward, creation order).
    Before(i64),
    /// The page starts at this 0-based offset (sorted queries).
    Offset(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub position: Position,
    /// Which query (resource type, organization, filter, sort) the cursor belongs to.
    pub query: String,
    /// Unix seconds when it was issued.
    pub issued: i64,
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // RFC 2104, with a 64-byte block.
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A short, stable fingerprint of the query a cursor belongs to.
pub fn query_fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..8])
}

pub fn encode(key: &[u8], c: &Cursor) -> String {
    let (kind, n) = match c.position {
        Position::After(pk) => ('a', pk),
        Position::Before(pk) => ('b', pk),
        Position::Offset(o) => ('o', o),
    };
    let payload = format!("{kind}{n}.{}.{}", c.query, c.issued);
    let mac = hmac(key, payload.as_bytes());
    format!("{}.{}", hex(payload.as_bytes()), hex(&mac[..16]))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Decodes and checks a cursor for this query: tampered or foreign ones are `invalidCursor`,
/// old ones `expiredCursor`.
pub fn decode(key: &[u8], text: &str, query: &str, now: i64) -> Result<Cursor> {
    let invalid =
        || Error::InvalidCursor("the cursor is not one this server issued for this query".into());
    let (payload_hex, mac_hex) = text.trim().split_once('.').ok_or_else(invalid)?;
    let payload = unhex(payload_hex).ok_or_else(invalid)?;
    let mac = unhex(mac_hex).ok_or_else(invalid)?;
    let expected = hmac(key, &payload);
    if mac.len() != 16 || !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..16], &mac[..])) {
        return Err(invalid());
    }
    let payload = String::from_utf8(payload).map_err(|_| invalid())?;
    let mut parts = payload.splitn(3, '.');
    let pos = parts.next().ok_or_else(invalid)?;
    let q = parts.next().ok_or_else(invalid)?;
    let issued: i64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    if q != query {
        return Err(invalid());
    }
    let n: i64 = pos
        .get(1..)
        .and_then(|s| s.parse().ok())
        .ok_or_else(invalid)?;
    let position = match pos.as_bytes().first() {
        Some(b'a') => Position::After(n),
        Some(b'b') => Position::Before(n),
        Some(b'o') => Position::Offset(n),
        _ => return Err(invalid()),
    };
    if now - issued > TIMEOUT_SECS {
        return Err(Error::ExpiredCursor(format!(
            "the cursor expired (cursors last {TIMEOUT_SECS} seconds); start the walk again"
        )));
    }
    Ok(Cursor {
        position,
        query: q.to_string(),
        issued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering_foreign_queries_and_age() {
        let key = b"k".repeat(32);
        let c = Cursor {
            position: Position::After(42),
            query: query_fingerprint(&["users", "1", ""]),
            issued: 1000,
        };
        let text = encode(&key, &c);
        assert_eq!(decode(&key, &text, &c.query, 1000).unwrap(), c);
        // Flip one character of the payload.
        let mut bad = text.clone().into_bytes();
        bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(
            decode(&key, &bad, &c.query, 1000),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            decode(b"other", &text, &c.query, 1000),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            decode(&key, &text, "other", 1000),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            decode(&key, "zz", &c.query, 1000),
            Err(Error::InvalidCursor(_))
        ));
        assert!(matches!(
            decode(&key, &text, &c.query, 1000 + TIMEOUT_SECS + 1),
            Err(Error::ExpiredCursor(_))
        ));
    }

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
