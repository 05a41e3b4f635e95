//! The identity providers' signing keys: each JWKS URL a federated client names is fetched
//! over HTTPS (src/outbound.rs), its RSA keys kept by `kid`. An assertion with a `kid` not in
//! the cache makes one fresh fetch (the provider rotated its keys), at most once per
//! `min_refresh`, so a flood of made-up `kid`s cannot turn scimbox into a fetching machine. A
//! fetch that fails keeps the keys already cached and is logged.

use super::jwt::{RsaKey, b64url_decode};
use crate::outbound::{Limits, Outbound};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys kept from one JWKS at most.
const MAX_KEYS: usize = 100;

#[derive(Default)]
struct Entry {
    keys: Vec<(Option<String>, RsaKey)>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

pub struct Jwks {
    outbound: Outbound,
    limits: Limits,
    /// Least time between two fetches of one URL.
    min_refresh: Duration,
    /// Keys older than this are fetched again on their next use.
    max_age: Duration,
    /// One lock per URL: concurrent requests wait for one fetch instead of each making one.
    sets: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

/// The RSA signing keys of a JWKS document (RFC 7517 §5), skipping keys for other uses or
/// algorithms. `None` when the document is not a JWKS at all.
pub fn parse(body: &[u8]) -> Option<Vec<(Option<String>, RsaKey)>> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let keys = doc.get("keys")?.as_array()?;
    let mut out = Vec::new();
    for k in keys.iter().take(MAX_KEYS) {
        let s = |name: &str| k.get(name).and_then(Value::as_str);
        if s("kty") != Some("RSA")
            || s("use").is_some_and(|u| u != "sig")
            || s("alg").is_some_and(|a| a != "RS256")
        {
            continue;
        }
        let (Some(n), Some(e)) = (
            s("n").and_then(b64url_decode),
            s("e").and_then(b64url_decode),
        ) else {
            continue;
        };
        out.push((s("kid").map(str::to_string), RsaKey { n, e }));
    }
    Some(out)
}

impl Jwks {
    pub fn new(outbound: Outbound, min_refresh: Duration, max_age: Duration) -> Jwks {
        Jwks {
            outbound,
            limits: Limits {
                timeout: Duration::from_secs(5),
                max_bytes: 256 * 1024,
                allow_http: false,
            },
            min_refresh,
            max_age,
            sets: Mutex::new(HashMap::new()),
        }
    }

    /// The keys an assertion signed under `kid` may verify with: the one with that `kid`, or
    /// every key when the assertion names none. Empty when none is known even after a fetch.
    pub async fn keys(&self, url: &str, kid: Option<&str>) -> Vec<RsaKey> {
        let entry = {
            let Ok(mut sets) = self.sets.lock() else {
                return Vec::new();
            };
            sets.entry(url.to_string()).or_default().clone()
        };
        let mut entry = entry.lock().await;
        let now = Instant::now();
        let stale = entry
            .fetched
            .is_none_or(|f| now.duration_since(f) >= self.max_age);
        let pick = |e: &Entry| -> Vec<RsaKey> {
            e.keys
                .iter()
                .filter(|(k, _)| kid.is_none() || k.as_deref() == kid)
                .map(|(_, key)| key.clone())
                .collect()
        };
        let found = pick(&entry);
        let may_fetch = entry
            .attempted
            .is_none_or(|a| now.duration_since(a) >= self.min_refresh);
        if (stale || found.is_empty()) && may_fetch {
            self.fetch(url, &mut entry).await;
            return pick(&entry);
        }
        found
    }

    async fn fetch(&self, url: &str, entry: &mut Entry) {
        entry.attempted = Some(Instant::now());
        let why = match self.outbound.get(url, &self.limits).await {
            Ok(r) if r.status == 200 => match parse(&r.body) {
                Some(keys) => {
                    tracing::info!(jwks_url = %url, keys = keys.len(), "fetched the JWKS");
                    entry.keys = keys;
                    entry.fetched = Some(Instant::now());
                    return;
                }
                None => "the answer is not a JWKS".to_string(),
            },
            Ok(r) => format!("it answered {}", r.status),
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            jwks_url = %url,
            error = %why,
            cached_keys = entry.keys.len(),
            "cannot fetch the JWKS; keeping the keys already cached"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signing_keys_are_kept() {
        let doc = br#"{"keys":[
            {"kty":"RSA","kid":"a","use":"sig","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"ec","crv":"P-256","x":"AQAB","y":"AQAB"},
            {"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"},
            {"kty":"RSA","kid":"bad","n":"!!","e":"AQAB"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"}
        ]}"#;
        let keys = parse(doc).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].0.as_deref(), Some("a"));
        assert_eq!(keys[0].1.n, vec![1, 0, 1]);
        assert_eq!(keys[1].0, None);
        assert!(parse(b"[]").is_none());
        assert!(parse(b"not json").is_none());
    }
}
