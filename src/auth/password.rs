//! Admin accounts: passwords hashed with argon2id (`secret::hash`), checked in constant time
//! whether or not the account exists.

use super::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::admins::{self, AdminRow};
use std::sync::OnceLock;

/// The account `scimbox serve` creates on a new database and `admin set-password` resets.
pub const DEFAULT_ADMIN: &str = "admin";
/// Shorter passwords are refused: the page is the key to every organization.
pub const MIN_LENGTH: usize = 12;
/// Longer ones are refused too, so a sign-in cannot make argon2 hash megabytes.
pub const MAX_LENGTH: usize = 1024;

/// A generated password: 20 characters from an alphabet without look-alikes (about 100 bits),
/// in groups of five so it can be read aloud or typed from a terminal.
pub fn generate() -> Result<Secret> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY3479";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let mut out = String::with_capacity(23);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        // 256 is not a multiple of 49: the bias is under 1 % per character, and 20 characters
        // keep well over 100 bits.
        out.push(ALPHABET[*b as usize % ALPHABET.len()] as char);
    }
    Ok(Secret::new(out))
}

/// Checks a new password's length, saying what is wrong in words.
pub fn check_strength(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(Error::InvalidValue(format!(
            "the password is too short: use at least {MIN_LENGTH} characters"
        )));
    }
    if password.len() > MAX_LENGTH {
        return Err(Error::InvalidValue(format!(
            "the password is too long: use at most {MAX_LENGTH} bytes"
        )));
    }
    Ok(())
}

/// Sets (or creates the account with) a password; every session of the account ends.
pub async fn set(store: &Store, name: &str, password: Secret, now: String) -> Result<()> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(Error::InvalidValue("an admin account needs a name".into()));
    }
    check_strength(password.expose())?;
    let hash = tokio::task::spawn_blocking(move || secret::hash(password.expose()))
        .await
        .map_err(|e| Error::Internal(format!("hash task: {e}")))??;
    store
        .write(move |conn| admins::set_password(conn, &name, &hash, &now))
        .await?;
    Ok(())
}

/// Whether any admin account exists (none on a new database).
pub async fn any(store: &Store) -> Result<bool> {
    Ok(store.read(admins::count).await? > 0)
}

/// A real hash to check against when the name is unknown, so a wrong name takes as long as a
/// wrong password and the answer does not tell which accounts exist.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| secret::hash("scimbox decoy password").unwrap_or_default())
}

/// The account if `name` and `password` match, `None` if either is wrong (never which).
pub async fn verify(store: &Store, name: &str, password: &str) -> Result<Option<AdminRow>> {
    if password.len() > MAX_LENGTH || name.len() > 200 {
        return Ok(None);
    }
    let lookup = name.trim().to_string();
    let row = store
        .read(move |conn| admins::by_name(conn, &lookup))
        .await?;
    let hash = row
        .as_ref()
        .map_or_else(|| decoy().to_string(), |r| r.hash.clone());
    let candidate = password.to_string();
    let ok = tokio::task::spawn_blocking(move || secret::verify(&candidate, &hash))
        .await
        .map_err(|e| Error::Internal(format!("verify task: {e}")))?;
    Ok(row.filter(|_| ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.expose().len(), 23);
        assert!(check_strength(a.expose()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn weak_passwords_are_refused_in_words() {
        let e = check_strength("short").unwrap_err();
        assert!(e.to_string().contains("at least 12"), "{e}");
        assert!(check_strength(&"x".repeat(2000)).is_err());
    }
}
