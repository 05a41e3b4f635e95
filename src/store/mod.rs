//! SQLite storage: opening and migrating the file, one writer thread with group commit, a few
//! read connections, and all SQL. Nothing above this module writes SQL.

pub mod admins;
pub mod audit;
pub mod filter_sql;
#[cfg(test)]
mod filter_sql_tests;
mod migrate;
pub mod orgs;
mod readers;
pub mod teams;
pub mod tokens;
pub mod users;
mod writer;

use crate::error::{Error, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use writer::WriterStats;

/// Tuning knobs for an opened store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub readers: usize,
    /// How many queued writes one transaction may take (group commit).
    pub max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 8),
            max_batch: 512,
        }
    }
}

/// The database as the server uses it: writes go through one writer thread that groups the
/// writes that arrive together into one transaction (each in its own savepoint, each answered
/// only after the COMMIT), reads go to dedicated read connections (WAL lets them run beside
/// the writer).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: writer::Writer,
    readers: readers::Readers,
}

impl Store {
    /// Opens (creating and migrating if needed) the database file and starts its threads.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store> {
        let conn = open_connection(path)?;
        migrate::migrate(&conn)?;
        drop(conn);
        let writer = writer::Writer::start(path, options.max_batch)?;
        let readers = readers::Readers::start(path, options.readers)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer,
                readers,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a read connection (a consistent snapshot for its duration).
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.readers.run(f).await
    }

    /// Runs `f` inside the writer's current transaction, in a savepoint of its own: if `f`
    /// fails, nothing it did is kept. Answers only after the transaction committed, so an `Ok`
    /// is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.run(f).await
    }

    /// The same as [`Store::write`], for code outside the async runtime (the CLI, tests).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.run_blocking(f)
    }

    /// The same as [`Store::read`], for code outside the async runtime.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.inner.readers.run_blocking(f)
    }

    pub fn writer_stats(&self) -> WriterStats {
        self.inner.writer.stats()
    }

    /// Stops the threads after the queued work is done and checkpoints the WAL into the main
    /// file, so a cleanly stopped server leaves one self-contained database file.
    pub fn close(&self) {
        self.inner.writer.stop();
        self.inner.readers.stop();
        if let Ok(conn) = open_connection(&self.inner.path) {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
    }
}

/// Opens a connection with the settings every connection needs: WAL, foreign keys (SQLite
/// leaves them off), a busy timeout so a CLI write beside the server waits instead of failing,
/// and `synchronous=FULL` so a committed change survives a power loss, not only a crash.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| Error::Internal(format!("cannot open database {}: {e}", path.display())))?;
    // 8 KiB pages store rows of this size about a fifth smaller; only takes effect on a new file.
    conn.execute_batch(
        "PRAGMA page_size = 8192;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    Ok(conn)
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Busy
            }
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

/// Maps a UNIQUE constraint failure to `Uniqueness(attr)`, anything else through `From`.
pub(crate) fn unique_as(attr: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |e| {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
            && e.to_string().contains("UNIQUE")
        {
            Error::Uniqueness(attr.to_string())
        } else {
            Error::from(e)
        }
    }
}
