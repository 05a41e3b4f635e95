//! Secrets: generation, argon2id hashing, and a newtype that never prints itself.

use crate::error::{Error, Result};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// A secret value (a token or a password). `Debug` prints `***`, so it cannot end up in a log
/// by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself; call sites of this are the only places a secret leaves memory.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Lowercase hex of `n` random bytes from the operating system's CSPRNG.
pub fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// An argon2id PHC string of the secret (default parameters, random salt).
pub fn hash(secret: &str) -> Result<String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// An argon2id PHC string for an API token. Tokens carry 128 random bits, so no amount of
/// guessing work can find one, and argon2's default 19 MiB per hash only bought memory the
/// allocator then kept (most of the server's heap, measured by the benchmark): 4 MiB and two
/// passes still make a stolen database's hashes useless, at a fifth of the memory.
pub fn hash_token(secret: &str) -> Result<String> {
    let params = argon2::Params::new(4096, 2, 1, None)
        .map_err(|e| Error::Internal(format!("argon2 params: {e}")))?;
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("argon2: {e}")))
}

/// Checks a secret against a PHC string. argon2's own comparison is constant-time.
pub fn verify(secret: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(secret.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("x", "not a phc string"));
    }

    #[test]
    fn token_hashes_are_light_argon2id_and_verify() {
        let h = hash_token("sbx_x_y").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=4096,t=2,p=1$"), "{h}");
        assert!(verify("sbx_x_y", &h));
        assert!(!verify("sbx_x_z", &h));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("abc".into())), "***");
        assert_eq!(random_hex(16).unwrap().len(), 32);
    }
}
