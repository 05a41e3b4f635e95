//! What `--db` names: a SQLite file (the default) or a PostgreSQL URL. The engine is chosen
//! here, once, from the text of the flag; a URL's password never leaves this module unmasked.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The database a command works on.
#[derive(Clone)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

impl Target {
    /// Reads `--db`: a value starting with `postgres://` or `postgresql://` (any case) is a
    /// PostgreSQL URL, anything else a SQLite file path. A URL that does not parse is an error
    /// that shows it with its password masked.
    pub fn parse(db: &Path) -> Result<Target> {
        let Some(text) = db.to_str() else {
            return Ok(Target::Sqlite(db.to_path_buf()));
        };
        let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            PgUrl::parse(text).map(Target::Postgres)
        } else {
            Ok(Target::Sqlite(db.to_path_buf()))
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Sqlite(path) => write!(f, "{}", path.display()),
            Target::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({self})")
    }
}

/// A PostgreSQL connection URL. `Display` and `Debug` print it with the password masked
/// (`postgres://app:***@db:5432/scimbox`); only [`PgUrl::config`] carries the secret.
#[derive(Clone)]
pub struct PgUrl {
    masked: String,
    config: Box<tokio_postgres::Config>,
}

impl PgUrl {
    pub fn parse(text: &str) -> Result<PgUrl> {
        let masked = mask(text);
        // The driver's message names the part that is wrong, never the password's value.
        // The driver knows the schemes in lower case only; URL schemes ignore case.
        let normalized = match text.find("://") {
            Some(i) => format!("{}{}", text[..i].to_ascii_lowercase(), &text[i..]),
            None => text.to_string(),
        };
        let config: tokio_postgres::Config = normalized.parse().map_err(|e| {
            Error::InvalidValue(format!("not a valid PostgreSQL URL: {masked} ({e})"))
        })?;
        Ok(PgUrl {
            masked,
            config: Box::new(config),
        })
    }

    /// The driver's settings, password included: for connecting, never for printing.
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// The database's name as the server will see it (the user's name when the URL has none,
    /// as PostgreSQL itself defaults).
    pub fn dbname(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }

    pub fn user(&self) -> String {
        self.config
            .get_user()
            .unwrap_or("(default user)")
            .to_string()
    }
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked)
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({})", self.masked)
    }
}

/// The URL with the password of its user-info part and any `password=` query parameter
/// replaced by `***`. Works on text that does not parse too, so an error can show it.
pub fn mask(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // The authority ends at the first `/`, `?` or `#`; its user info at the last `@` in it.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_the_user_info_and_the_query() {
        assert_eq!(
            mask("postgres://app:s3cr%40t@db.example:5432/scimbox"),
            "postgres://app:***@db.example:5432/scimbox"
        );
        assert_eq!(
            mask("postgresql://app:p@ss@db/x?sslmode=disable&password=hunter2"),
            "postgresql://app:***@db/x?sslmode=disable&password=***"
        );
        assert_eq!(mask("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(mask("postgres://db"), "postgres://db");
    }

    #[test]
    fn the_flag_picks_the_engine_by_its_scheme() {
        assert!(matches!(
            Target::parse(Path::new("scimbox.db")).unwrap(),
            Target::Sqlite(_)
        ));
        assert!(matches!(
            Target::parse(Path::new("./postgres://x")).unwrap(),
            Target::Sqlite(_)
        ));
        let t = Target::parse(Path::new("PostgreSQL://app:pw@127.0.0.1:5433/s")).unwrap();
        let Target::Postgres(url) = &t else {
            panic!("a postgres target")
        };
        assert_eq!(url.dbname(), "s");
        assert_eq!(url.user(), "app");
        assert_eq!(t.to_string(), "PostgreSQL://app:***@127.0.0.1:5433/s");
        assert!(!format!("{t:?}").contains("pw"));
    }

    #[test]
    fn a_url_that_does_not_parse_is_an_error_without_its_password() {
        let e = Target::parse(Path::new("postgres://app:hunter2@db:notaport/s"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("not a valid PostgreSQL URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
