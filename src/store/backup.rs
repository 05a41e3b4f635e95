//! Consistent copies of a live database with SQLite's online backup API.

use crate::error::{Error, Result};
use rusqlite::Connection;
use rusqlite::backup::Backup;
use std::path::Path;

/// Copies the database at `db` to `out` while servers keep using it. The whole copy is one
/// backup step, so it reads one snapshot (WAL lets writers go on meanwhile) and is never
/// restarted by their commits. `out` must not exist: a backup never overwrites.
pub fn run(db: &Path, out: &Path) -> Result<u64> {
    if out.exists() {
        return Err(Error::InvalidValue(format!(
            "{} exists; a backup never overwrites a file",
            out.display()
        )));
    }
    if !db.exists() {
        return Err(Error::NotFound(format!("no database at {}", db.display())));
    }
    let src = super::open_connection(db)?;
    let mut dst = Connection::open(out)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", out.display())))?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        backup.step(-1)?;
    }
    // The copy is a plain rollback-journal file; make it WAL like every scimbox database.
    dst.execute_batch("PRAGMA journal_mode = WAL;")?;
    let integrity: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(Error::Internal(format!(
            "the copy failed its integrity check: {integrity}"
        )));
    }
    let pages: i64 = dst.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    Ok(pages.max(0) as u64)
}
