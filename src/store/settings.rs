//! Server-wide settings and secrets.

use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};

pub fn get(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE name = ?")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Returns the setting, creating it with `make()` first if it does not exist yet. Safe when
/// several processes race: the first insert wins and everyone reads that one.
pub fn get_or_init(
    conn: &Connection,
    name: &str,
    make: impl FnOnce() -> Result<String>,
) -> Result<String> {
    if let Some(v) = get(conn, name)? {
        return Ok(v);
    }
    conn.prepare_cached("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)")?
        .execute(params![name, make()?])?;
    Ok(get(conn, name)?.unwrap_or_default())
}
