//! The shape of an API token: `sbx_<id>_<secret>`, 64 bits of id and 128 bits of secret in
//! hex. A leaf: making a token needs no store, so `directory` can make one.

use super::secret::{self, Secret};
use crate::error::Result;

pub const PREFIX: &str = "sbx_";
pub const ID_HEX: usize = 8;
pub const SECRET_HEX: usize = 32;

/// A newly made token: its id, and the whole bearer value to show once.
pub struct NewToken {
    pub id: String,
    pub bearer: Secret,
}

/// Makes a token: 64 bits of id and 128 bits of secret from the OS CSPRNG.
pub fn generate() -> Result<NewToken> {
    let id = secret::random_hex(ID_HEX)?;
    let secret = secret::random_hex(SECRET_HEX)?;
    Ok(NewToken {
        bearer: Secret::new(format!("{PREFIX}{id}_{secret}")),
        id,
    })
}

/// The id part of a bearer value, if it has our shape.
pub fn token_id(bearer: &str) -> Option<&str> {
    let rest = bearer.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX * 2) && hex(secret, SECRET_HEX * 2)).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_parsable_shape() {
        let t = generate().unwrap();
        assert_eq!(token_id(t.bearer.expose()), Some(t.id.as_str()));
        assert_eq!(token_id("sbx_zz_00"), None);
        assert_eq!(token_id("Bearer x"), None);
    }
}
