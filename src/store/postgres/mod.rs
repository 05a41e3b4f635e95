//! The PostgreSQL engine, first part: connecting, checking that the database is scimbox's (or
//! empty), and creating or migrating its schema once even when several servers start together.
//! Serving from PostgreSQL is not built yet: [`super::Store::open`] answers every command on a
//! PostgreSQL URL with [`not_yet_supported`] after this part succeeded.
//!
//! Versioning: the PostgreSQL schema has its own version, kept in the one-row table
//! `scimbox_meta` (PostgreSQL has no `user_version`). `schema.sql` beside this file is version
//! 1 and mirrors SQLite schema version 3; later changes are numbered steps at the end of
//! [`STEPS`], one per SQLite step that changes the schema (see the note in `store/mod.rs`).

use super::target::PgUrl;
use crate::error::{Error, Result};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

const SCHEMA: &str = include_str!("schema.sql");

/// The PostgreSQL schema version this binary writes; a database with a higher one is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// Numbered steps from version N to N+1 (index 0 takes 1 to 2), in PostgreSQL's dialect.
const STEPS: &[&str] = &[];

/// The advisory lock every migrating server takes (inside its transaction, so it is released
/// at COMMIT or when the connection drops): servers starting together on one database apply
/// the schema once, one after another. The value spells "scimbox" in ASCII.
const MIGRATION_LOCK: i64 = 0x73_63_69_6d_62_6f_78;

/// How long connecting may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects, checks and migrates the database at `url`; returns its schema version. Every
/// failure is one line naming the problem with the URL masked; on any failure nothing was
/// written (the whole check and migration is one transaction).
///
/// Runs on a thread and runtime of its own, so it works from the CLI and from inside the
/// server's runtime alike.
pub fn prepare(url: &PgUrl) -> Result<i64> {
    let url = url.clone();
    std::thread::Builder::new()
        .name("scimbox-pg-open".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Internal(format!("cannot start the runtime: {e}")))?;
            rt.block_on(prepare_async(&url))
        })
        .map_err(|e| Error::Internal(format!("cannot start a thread: {e}")))?
        .join()
        .map_err(|_| Error::Internal("opening the PostgreSQL database panicked".into()))?
}

async fn prepare_async(url: &PgUrl) -> Result<i64> {
    let mut client = connect(url).await?;
    let db = |e: tokio_postgres::Error| query_error(url, e);
    let tx = client.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    let ours: bool = tx
        .query_one(
            "SELECT to_regclass(quote_ident(current_schema()) || '.scimbox_meta') IS NOT NULL",
            &[],
        )
        .await
        .map_err(db)?
        .get(0);
    let version: i64 = if ours {
        tx.query_one("SELECT version FROM scimbox_meta WHERE id = 1", &[])
            .await
            .map_err(db)?
            .get(0)
    } else {
        0
    };
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "the PostgreSQL database {url} has scimbox schema version {version}, newer than \
             this scimbox understands ({SCHEMA_VERSION}); use a newer scimbox"
        )));
    }
    if version == 0 {
        if let Some(table) = foreign_table(&tx).await.map_err(db)? {
            return Err(Error::Internal(format!(
                "the PostgreSQL database {url} is not empty and not scimbox's (it has a table \
                 {table}); give scimbox an empty database of its own"
            )));
        }
        tx.batch_execute(SCHEMA).await.map_err(db)?;
        tx.execute("INSERT INTO scimbox_meta (id, version) VALUES (1, 1)", &[])
            .await
            .map_err(db)?;
    }
    let from = version.max(1);
    for step in STEPS.iter().skip((from - 1) as usize) {
        tx.batch_execute(step).await.map_err(db)?;
    }
    tx.execute(
        "UPDATE scimbox_meta SET version = $1 WHERE id = 1",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(SCHEMA_VERSION)
}

/// A table (or view, sequence, ...) in the current schema, when scimbox's own is not there:
/// such a database belongs to something else.
async fn foreign_table(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<Option<String>, tokio_postgres::Error> {
    let row = tx
        .query_opt(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() ORDER BY c.relname LIMIT 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Opens one connection, its I/O driven by a task on the current runtime.
async fn connect(url: &PgUrl) -> Result<tokio_postgres::Client> {
    let mut config = url.config().clone();
    config.connect_timeout(CONNECT_TIMEOUT);
    config.application_name("scimbox");
    let connecting = config.connect(NoTls);
    let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT * 2, connecting)
        .await
        .map_err(|_| {
            Error::Internal(format!(
                "cannot reach PostgreSQL at {url}: no answer within {}s",
                (CONNECT_TIMEOUT * 2).as_secs()
            ))
        })?
        .map_err(|e| connect_error(url, e))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "PostgreSQL connection closed");
        }
    });
    Ok(client)
}

/// One line for a failed connection: unreachable, refused credentials, no such database.
fn connect_error(url: &PgUrl, e: tokio_postgres::Error) -> Error {
    let code = e.code().cloned();
    let cause = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    let message = if code == Some(SqlState::INVALID_PASSWORD)
        || code == Some(SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    {
        format!(
            "PostgreSQL at {url} refused the credentials of user {} (wrong password, or no \
             such user)",
            url.user()
        )
    } else if code == Some(SqlState::INVALID_CATALOG_NAME) {
        format!(
            "the PostgreSQL database {} does not exist at {url}; create it first (createdb)",
            url.dbname()
        )
    } else if let Some(db) = e.as_db_error() {
        format!(
            "PostgreSQL at {url} refused the connection: {}",
            db.message()
        )
    } else if cause.contains("password missing") {
        // The server asked for a password (the driver's config error says so in these words).
        format!(
            "PostgreSQL at {url} asks for a password for user {} and the URL has none",
            url.user()
        )
    } else {
        // Not an answer from the server: the driver's own text (connection refused, a name
        // that does not resolve). It never contains the password.
        format!("cannot reach PostgreSQL at {url}: {cause}")
    };
    Error::Internal(message)
}

/// A statement failed after connecting: the server's message, with the URL, never the SQL.
fn query_error(url: &PgUrl, e: tokio_postgres::Error) -> Error {
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    Error::Internal(format!("PostgreSQL database {url}: {detail}"))
}

/// What a command on a PostgreSQL URL answers once the database is checked and migrated: the
/// engine serves nothing else yet, so every command says so instead of half-working.
pub fn not_yet_supported(url: &PgUrl, version: i64) -> Error {
    Error::NotImplemented(format!(
        "the PostgreSQL database {url} is ready (scimbox PostgreSQL schema version {version}), \
         but this scimbox cannot yet serve or change data on PostgreSQL: only checking and \
         migrating the database is built; use a SQLite file path for --db"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_tables(sql: &str) -> Vec<String> {
        let mut names: Vec<String> = sql
            .lines()
            .filter_map(|l| l.trim().strip_prefix("CREATE TABLE "))
            .filter_map(|rest| rest.split([' ', '(']).next())
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Both engines hold the same tables. A branch that adds a SQLite table must add it to the
    /// PostgreSQL schema (as a new step in `STEPS`) too.
    #[test]
    fn the_postgres_schema_has_every_sqlite_table() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&conn).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' ORDER BY name",
            )
            .unwrap();
        let sqlite: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let mut pg = created_tables(SCHEMA);
        for step in STEPS {
            pg.extend(created_tables(step));
        }
        pg.retain(|t| t != "scimbox_meta");
        pg.sort();
        assert_eq!(
            pg, sqlite,
            "add the missing tables to the PostgreSQL schema"
        );
    }
}
