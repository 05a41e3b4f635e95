//! Server-wide settings and secrets.

use super::sql::{Conn, params};
use crate::error::Result;

pub fn get(conn: &Conn<'_>, name: &str) -> Result<Option<String>> {
    conn.query_opt(
        "SELECT value FROM settings WHERE name = ?",
        params![name],
        |r| r.get(0),
    )
}

/// Returns the setting, creating it with `make()` first if it does not exist yet. Safe when
/// several processes race: the first insert wins and everyone reads that one.
pub fn get_or_init(
    conn: &Conn<'_>,
    name: &str,
    make: impl FnOnce() -> Result<String>,
) -> Result<String> {
    if let Some(v) = get(conn, name)? {
        return Ok(v);
    }
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        params![name, make()?],
    )?;
    Ok(get(conn, name)?.unwrap_or_default())
}
