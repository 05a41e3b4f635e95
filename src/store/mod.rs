//! SQLite storage: opening and migrating the file, one writer thread with group commit, a few
//! read connections, and all SQL. Nothing above this module writes SQL.

pub mod access;
pub mod admins;
pub mod audit;
pub mod backup;
pub mod clients;
#[cfg(test)]
mod filter_diff_tests;
pub mod filter_sql;
#[cfg(test)]
mod filter_sql_tests;
mod migrate;
pub mod orgs;
pub mod outbox;
pub mod postgres;
mod readers;
pub mod requests;
pub mod schemas;
pub mod settings;
pub mod sql;
pub mod target;
pub mod teams;
#[cfg(test)]
pub(crate) mod testing;
pub mod tokens;
pub mod users;
mod writer;

use crate::error::{Error, Result, StorageFault};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use writer::{BATCH_BUCKETS, WriterStats};

use crate::model::query::{Keyset, ListQuery};
use crate::model::schema::ResourceType;
use filter_sql::SqlFilter;
use sql::Value as SqlValue;

/// A table that lists through [`page`]: its name, the alias `filter_sql` writes for it, the
/// columns read, the organization's counter column, and the compiler for its resource.
pub(crate) struct Listed<T> {
    pub table: &'static str,
    pub alias: &'static str,
    pub columns: &'static str,
    pub counter: &'static str,
    /// The built-in resource type; the organization's declared extensions are added to it.
    pub base: &'static crate::model::schema::ResourceType,
    pub compile:
        fn(Engine, &'static ResourceType, &crate::model::filter::Filter) -> Result<SqlFilter>,
    pub sort_expr:
        fn(Engine, &'static ResourceType, &crate::model::filter::AttrPath) -> Result<String>,
    pub from_row: fn(&sql::Row<'_>) -> Result<T>,
}

/// Compiles a list's filter and sort for `listed` without running them, so a query the
/// resource cannot answer is refused before any paging. Either engine refuses the same
/// queries (one typing pass), so SQLite's dialect answers for both.
pub(crate) fn check_query<T>(
    listed: &Listed<T>,
    rt: &'static ResourceType,
    filter: Option<&crate::model::filter::Filter>,
    sort: Option<&crate::model::query::Sort>,
) -> Result<()> {
    if let Some(f) = filter {
        (listed.compile)(Engine::Sqlite, rt, f)?;
    }
    if let Some(s) = sort {
        (listed.sort_expr)(Engine::Sqlite, rt, &s.by)?;
    }
    Ok(())
}

/// Lists one organization's rows of a table: compiles the query's filter and sort, then
/// reads the page. Returns (total that matched, the page). Without a filter the total comes
/// from the organization's counter column instead of counting every row.
pub(crate) fn page<T>(
    conn: &Conn<'_>,
    listed: &Listed<T>,
    org_pk: i64,
    q: &ListQuery,
) -> Result<(i64, Vec<T>)> {
    let rt = if q.filter.is_some() || q.sort.is_some() {
        schemas::extended(conn, org_pk, listed.base)?
    } else {
        listed.base
    };
    page_in(conn, listed, rt, org_pk, q)
}

/// [`page`] with the organization's resource type already read.
fn page_in<T>(
    conn: &Conn<'_>,
    listed: &Listed<T>,
    rt: &'static ResourceType,
    org_pk: i64,
    q: &ListQuery,
) -> Result<(i64, Vec<T>)> {
    let engine = conn.engine();
    let sqlite = engine == Engine::Sqlite;
    let filter = q
        .filter
        .as_ref()
        .map(|f| (listed.compile)(engine, rt, f))
        .transpose()?;
    let order_by = match &q.sort {
        Some(sort) => Some(filter_sql::order_by(
            &(listed.sort_expr)(engine, rt, &sort.by)?,
            sort.descending,
            &format!("{}.pk", listed.alias),
        )),
        None => None,
    };
    let (table, alias, columns, counter) =
        (listed.table, listed.alias, listed.columns, listed.counter);
    let mut params: Vec<SqlValue> = vec![SqlValue::Integer(org_pk)];
    // In creation order with no filter, the `+` keeps SQLite from reaching for an index that
    // leads with org_pk (the shipped statistics make it look selective): that read every row
    // of the organization and sorted them to return one page (22 ms a page at 50,000 users,
    // growing with the directory). Walking the table in pk order stops after the page.
    let plain = filter.is_none() && order_by.is_none();
    // `+?` on the filtered side too (SQLite): a bare `org_pk = ?` next to an equality on a
    // non-unique index (externalId, emails) let SQLite plan with the value in view, so the
    // statement was prepared again on every request (a tenth of the server's CPU on those
    // filters). PostgreSQL has no such planner habit (and no unary plus on a parameter).
    let mut where_sql = match (plain, sqlite) {
        (true, true) => format!("+{alias}.org_pk = ?"),
        (false, true) => format!("{alias}.org_pk = +?"),
        (_, false) => format!("{alias}.org_pk = ?"),
    };
    if let Some(f) = &filter {
        params.extend(f.params.iter().cloned());
        where_sql = format!("{where_sql} AND ({})", f.sql);
    }
    let total: i64 = if filter.is_some() {
        conn.query_row(
            &format!("SELECT count(*) FROM {table} {alias} WHERE {where_sql}"),
            &sql::param_list(&params),
            |r| r.get(0),
        )?
    } else {
        conn.query_row(
            &format!("SELECT {counter} FROM orgs WHERE pk = ?"),
            sql::params![org_pk],
            |r| r.get(0),
        )?
    };
    if q.limit <= 0 {
        return Ok((total, Vec::new()));
    }
    let default_order = format!("{alias}.pk");
    let mut order = order_by.unwrap_or(default_order);
    match q.keyset {
        Keyset::None => {}
        Keyset::After(pk) => {
            where_sql.push_str(&format!(" AND {alias}.pk > ?"));
            params.push(SqlValue::Integer(pk));
        }
        Keyset::Before(pk) => {
            // Read backwards from the cursor, then turn the page around.
            where_sql.push_str(&format!(" AND {alias}.pk < ?"));
            params.push(SqlValue::Integer(pk));
            order = format!("{alias}.pk DESC");
        }
    }
    // `+?`: SQLite plans with a bare `LIMIT ?` value in view and marks the statement to be
    // prepared again when it is bound anew, which (rusqlite clears bindings when a statement
    // returns to its cache) meant a parse and plan on every list request. Through `+` the
    // value is read only when the statement runs. PostgreSQL takes plain BIGINT parameters.
    let limit = if sqlite {
        "LIMIT +? OFFSET +?"
    } else {
        "LIMIT CAST(? AS BIGINT) OFFSET CAST(? AS BIGINT)"
    };
    let sql =
        format!("SELECT {columns} FROM {table} {alias} WHERE {where_sql} ORDER BY {order} {limit}");
    params.push(SqlValue::Integer(q.limit));
    params.push(SqlValue::Integer(q.offset));
    let mut rows = conn.query_map(&sql, &sql::param_list(&params), listed.from_row)?;
    if matches!(q.keyset, Keyset::Before(_)) {
        rows.reverse();
    }
    Ok((total, rows))
}

/// Tuning knobs for an opened store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub readers: usize,
    /// How many queued writes one transaction may take (group commit).
    pub max_batch: usize,
    /// Leave WAL checkpoints to another process (Litestream, `--litestream`): scimbox runs
    /// none, not even on close, so the replicator sees every frame before it is copied back.
    pub external_checkpoints: bool,
    /// PostgreSQL: connections in the pool (and threads running the store's work on them).
    pub pg_pool: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(2, 8),
            max_batch: 512,
            external_checkpoints: false,
            pg_pool: 16,
        }
    }
}

pub use sql::{Conn, Engine};

/// What the bearer-token cache asks on every request: the authentication epoch, when
/// anything that decides authentication may have changed since the last look, in this process
/// or another. On SQLite a few connections of their own notice commits cheaply (the epoch is
/// read only after one); on PostgreSQL, where another server may have committed, the epoch
/// row is read every time (one indexed read), so a token revoked through one server is
/// refused by every server from its next request.
pub struct AuthWatch {
    inner: AuthWatchInner,
}

enum AuthWatchInner {
    Sqlite {
        watches: Vec<std::sync::Mutex<Watch>>,
        next: std::sync::atomic::AtomicUsize,
    },
    Postgres(Store),
}

/// Watches to check with on SQLite: several, so concurrent requests do not queue on one mutex.
const WATCHES: usize = 4;

impl AuthWatch {
    pub fn open(store: &Store) -> Result<AuthWatch> {
        let inner = match store.path() {
            Some(path) => AuthWatchInner::Sqlite {
                watches: (0..WATCHES)
                    .map(|_| Watch::open(path).map(std::sync::Mutex::new))
                    .collect::<Result<_>>()?,
                next: std::sync::atomic::AtomicUsize::new(0),
            },
            None => AuthWatchInner::Postgres(store.clone()),
        };
        Ok(AuthWatch { inner })
    }

    /// The epoch as it is now (at start-up).
    pub async fn epoch(&self) -> Result<i64> {
        match &self.inner {
            AuthWatchInner::Sqlite { watches, .. } => {
                let w = watches[0]
                    .lock()
                    .map_err(|_| Error::Internal("auth watch poisoned".into()))?;
                w.read(tokens::auth_epoch)
            }
            AuthWatchInner::Postgres(store) => store.read(tokens::auth_epoch).await,
        }
    }

    /// The epoch if something may have changed since the last call, `None` if nothing did.
    pub async fn changed(&self) -> Result<Option<i64>> {
        match &self.inner {
            AuthWatchInner::Sqlite { watches, next } => {
                let n = watches.len();
                let start = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n;
                let free = (0..n).find_map(|i| watches[(start + i) % n].try_lock().ok());
                let mut w = match free {
                    Some(w) => w,
                    None => watches[start]
                        .lock()
                        .map_err(|_| Error::Internal("auth watch poisoned".into()))?,
                };
                if !w.changed()? {
                    return Ok(None);
                }
                w.read(tokens::auth_epoch).map(Some)
            }
            AuthWatchInner::Postgres(store) => store.read(tokens::auth_epoch).await.map(Some),
        }
    }

    /// The same as [`AuthWatch::epoch`], outside the async runtime.
    pub fn epoch_blocking(&self) -> Result<i64> {
        match &self.inner {
            AuthWatchInner::Sqlite { .. } => futures_now(self.epoch()),
            AuthWatchInner::Postgres(store) => store.read_blocking(tokens::auth_epoch),
        }
    }
}

/// Runs a future that never waits (the SQLite branch of the watch is synchronous) to its end.
fn futures_now<T>(fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => Err(Error::Internal("the auth watch waited".into())),
    }
}

/// A SQLite connection of its own that only notices whether anyone (this process or another)
/// committed since it last looked.
struct Watch {
    conn: Connection,
    data_version: i64,
}

impl Watch {
    fn open(path: &Path) -> Result<Watch> {
        let conn = open_connection(path)?;
        let data_version = Self::data_version(&conn)?;
        Ok(Watch { conn, data_version })
    }

    /// Whether a commit landed since the last call (or since open).
    fn changed(&mut self) -> Result<bool> {
        let dv = Self::data_version(&self.conn)?;
        let changed = dv != self.data_version;
        self.data_version = dv;
        Ok(changed)
    }

    /// Runs `f` on the watch's connection.
    fn read<T>(&self, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        f(&Conn::sqlite(&self.conn))
    }

    /// Runs on every request, so the pragma stays prepared.
    fn data_version(conn: &Connection) -> Result<i64> {
        Ok(conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
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
    engine: Engines,
    /// Moves after every commit that wrote an event (see [`Store::outbox_changes`]).
    outbox: writer::OutboxSignal,
    health: Health,
}

/// The engine a store runs on, chosen once when it opens.
enum Engines {
    Sqlite {
        path: PathBuf,
        writer: writer::Writer,
        readers: readers::Readers,
        external_checkpoints: bool,
    },
    Postgres {
        url: target::PgUrl,
        engine: postgres::engine::PgEngine,
    },
}

/// Whether writes reach the disk: the fault of the latest failed write, until a write
/// commits again, and how many writes each fault refused.
#[derive(Default)]
struct Health {
    /// 0: healthy, else 1 + the index of the fault in [`FAULTS`].
    fault: std::sync::atomic::AtomicUsize,
    refused: [std::sync::atomic::AtomicU64; 4],
}

const FAULTS: [StorageFault; 4] = [
    StorageFault::Full,
    StorageFault::ReadOnly,
    StorageFault::Io,
    StorageFault::Unreachable,
];

/// What `/healthz` and `/metrics` say about the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageHealth {
    /// Set while writes fail; reads still work.
    pub fault: Option<StorageFault>,
    /// Writes refused by each fault since start, in the order full, read-only, io-error,
    /// unreachable.
    pub refused: [u64; 4],
}

impl StorageHealth {
    /// Each fault with its count of refused writes.
    pub fn counts(&self) -> impl Iterator<Item = (StorageFault, u64)> + '_ {
        FAULTS.iter().copied().zip(self.refused.iter().copied())
    }
}

impl Health {
    fn observe<T>(&self, result: &Result<T>) {
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(_) => {
                // Space came back (or the disk recovered): writes work again.
                if self.fault.load(Relaxed) != 0 {
                    self.fault.store(0, Relaxed);
                    tracing::info!("storage: writes succeed again");
                }
            }
            Err(Error::Storage(f)) => {
                let i = FAULTS.iter().position(|x| x == f).unwrap_or(2);
                self.refused[i].fetch_add(1, Relaxed);
                if self.fault.swap(i + 1, Relaxed) != i + 1 {
                    tracing::error!(fault = f.name(), "storage: writes fail; reads go on");
                }
            }
            Err(_) => {}
        }
    }

    fn snapshot(&self) -> StorageHealth {
        use std::sync::atomic::Ordering::Relaxed;
        StorageHealth {
            fault: self
                .fault
                .load(Relaxed)
                .checked_sub(1)
                .and_then(|i| FAULTS.get(i).copied()),
            refused: std::array::from_fn(|i| self.refused[i].load(Relaxed)),
        }
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the database file and starts its threads.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store> {
        let conn = open_connection(path)?;
        migrate::migrate(&conn)?;
        drop(conn);
        let outbox = Arc::new(tokio::sync::watch::Sender::new(0));
        let writer = writer::Writer::start(
            path,
            options.max_batch,
            outbox.clone(),
            !options.external_checkpoints,
        )?;
        let readers = readers::Readers::start(path, options.readers)?;
        Ok(Store {
            inner: Arc::new(Inner {
                engine: Engines::Sqlite {
                    path: path.to_path_buf(),
                    writer,
                    readers,
                    external_checkpoints: options.external_checkpoints,
                },
                outbox,
                health: Health::default(),
            }),
        })
    }

    /// Opens the database `--db` names: a SQLite file ([`Store::open`]) or a PostgreSQL URL
    /// (reached, checked and migrated first, see [`postgres::prepare`]). The engine is chosen
    /// here, once.
    pub fn open_target(target: &target::Target, options: &StoreOptions) -> Result<Store> {
        match target {
            target::Target::Sqlite(path) => Store::open(path, options),
            target::Target::Postgres(url) => {
                postgres::prepare(url)?;
                let outbox = Arc::new(tokio::sync::watch::Sender::new(0));
                let engine =
                    postgres::engine::PgEngine::start(url, options.pg_pool, outbox.clone())?;
                Ok(Store {
                    inner: Arc::new(Inner {
                        engine: Engines::Postgres {
                            url: url.clone(),
                            engine,
                        },
                        outbox,
                        health: Health::default(),
                    }),
                })
            }
        }
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        match self.inner.engine {
            Engines::Sqlite { .. } => Engine::Sqlite,
            Engines::Postgres { .. } => Engine::Postgres,
        }
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.inner.engine {
            Engines::Sqlite { path, .. } => Some(path),
            Engines::Postgres { .. } => None,
        }
    }

    /// What `--db` named, printable (a PostgreSQL URL with its password masked).
    pub fn describe(&self) -> String {
        match &self.inner.engine {
            Engines::Sqlite { path, .. } => path.display().to_string(),
            Engines::Postgres { url, .. } => url.to_string(),
        }
    }

    /// Runs `f` on a read connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        let result = match &self.inner.engine {
            Engines::Sqlite { readers, .. } => readers.run(|c| f(&Conn::sqlite(c))).await,
            Engines::Postgres { engine, .. } => engine.run(postgres::engine::Mode::Read, f).await,
        };
        self.observe_read(&result);
        result
    }

    /// Runs `f` on a read connection inside one read transaction, so all it reads, however
    /// many statements, comes from one snapshot even while others write.
    pub async fn read_snapshot<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        match &self.inner.engine {
            Engines::Sqlite { .. } => {
                self.read(move |conn| {
                    conn.execute_batch("BEGIN")?;
                    let result = f(conn);
                    let _ = conn.execute_batch("COMMIT");
                    result
                })
                .await
            }
            Engines::Postgres { engine, .. } => {
                let result = engine.run(postgres::engine::Mode::Snapshot, f).await;
                self.observe_read(&result);
                result
            }
        }
    }

    /// Runs `f` in a write transaction (on SQLite inside the writer's current transaction, in
    /// a savepoint of its own; on PostgreSQL a transaction of its own): if `f` fails, nothing
    /// it did is kept. Answers only after the transaction committed, so an `Ok` is durable.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        let result = match &self.inner.engine {
            Engines::Sqlite { writer, .. } => {
                self.refine(writer.run(|c| f(&Conn::sqlite(c))).await)
            }
            Engines::Postgres { engine, .. } => engine.run(postgres::engine::Mode::Write, f).await,
        };
        self.inner.health.observe(&result);
        result
    }

    /// A read that could not reach the database says so in the health too (PostgreSQL); a
    /// read that worked says nothing about writes.
    fn observe_read<T>(&self, result: &Result<T>) {
        if matches!(result, Err(Error::Storage(StorageFault::Unreachable))) {
            self.inner.health.observe(result);
        }
    }

    /// SQLite reports a filesystem turned read-only under it as an I/O error: say read-only
    /// when the file can no longer be opened for writing for that reason.
    fn refine<T>(&self, result: Result<T>) -> Result<T> {
        let Some(path) = self.path() else {
            return result;
        };
        match result {
            Err(Error::Storage(StorageFault::Io))
                if std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::ReadOnlyFilesystem) =>
            {
                Err(Error::Storage(StorageFault::ReadOnly))
            }
            other => other,
        }
    }

    /// Whether writes currently reach the disk, and how many were refused.
    pub fn health(&self) -> StorageHealth {
        self.inner.health.snapshot()
    }

    /// The same as [`Store::write`], for code outside the async runtime (the CLI, tests).
    pub fn write_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        let result = match &self.inner.engine {
            Engines::Sqlite { writer, .. } => {
                self.refine(writer.run_blocking(|c| f(&Conn::sqlite(c))))
            }
            Engines::Postgres { engine, .. } => {
                engine.run_blocking(postgres::engine::Mode::Write, f)
            }
        };
        self.inner.health.observe(&result);
        result
    }

    /// The same as [`Store::read`], for code outside the async runtime.
    pub fn read_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        match &self.inner.engine {
            Engines::Sqlite { readers, .. } => readers.run_blocking(|c| f(&Conn::sqlite(c))),
            Engines::Postgres { engine, .. } => {
                engine.run_blocking(postgres::engine::Mode::Read, f)
            }
        }
    }

    /// Changes each time this process committed a write that put an event in the outbox
    /// (writes by another process, such as the CLI or another server, are not seen: poll for
    /// those too).
    pub fn outbox_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.outbox.subscribe()
    }

    /// Bytes on disk: (the database file, its write-ahead log). A file that cannot be read
    /// counts 0, and so does a PostgreSQL database (its size is the server's to report).
    pub fn disk_usage(&self) -> (u64, u64) {
        let Some(path) = self.path() else {
            return (0, 0);
        };
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        (size(path), size(Path::new(&wal)))
    }

    /// The SQLite writer's group-commit figures (zero on PostgreSQL, which has no writer
    /// thread).
    pub fn writer_stats(&self) -> WriterStats {
        match &self.inner.engine {
            Engines::Sqlite { writer, .. } => writer.stats(),
            Engines::Postgres { .. } => WriterStats::default(),
        }
    }

    /// Stops the threads after the queued work is done. On SQLite also checkpoints the WAL
    /// into the main file, so a cleanly stopped server leaves one self-contained file.
    pub fn close(&self) {
        match &self.inner.engine {
            Engines::Sqlite {
                path,
                writer,
                readers,
                external_checkpoints,
            } => {
                writer.stop();
                readers.stop();
                if *external_checkpoints {
                    return;
                }
                if let Ok(conn) = open_connection(path) {
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                }
            }
            Engines::Postgres { engine, .. } => engine.stop(),
        }
    }
}

/// Opens a connection with the settings every connection needs: WAL, foreign keys (SQLite
/// leaves them off), a busy timeout so a CLI write beside the server waits instead of failing,
/// and `synchronous=FULL` so a committed change survives a power loss, not only a crash.
pub fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .map_err(|e| Error::Internal(format!("cannot open database {}: {e}", path.display())))?;
    // 4 KiB pages: 8 KiB would store rows of this size a fifth smaller, but every commit
    // writes each page it touched to the WAL, and a create touches about six: 8 KiB pages made
    // 2.6 times the WAL bytes per create (measured). Only takes effect on a new file.
    conn.execute_batch(
        "PRAGMA page_size = 4096;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    register_functions(&conn)?;
    Ok(conn)
}

/// An in-memory database with the current schema and the store's SQL functions, for code that
/// runs compiled filters without a file (the fuzz targets). Fails only if SQLite does.
pub fn open_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    migrate::migrate(&conn)?;
    Ok(conn)
}

/// Registers the SQL functions the store's queries call: `scimbox_fold`, the Unicode case
/// folding of `model::fold` (NULL for NULL and for anything that is not text, which then
/// matches nothing, as the in-memory matcher's type check). Queries use it only where no
/// stored folded column exists; no index, view or trigger does, so other SQLite clients can
/// read and back up the file without it.
pub(crate) fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::{Value, ValueRef};
    conn.create_scalar_function(
        filter_sql::FOLD_FUNCTION,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) => match std::str::from_utf8(t) {
                    Ok(s) => Value::Text(crate::model::fold::fold(s).into_owned()),
                    Err(_) => Value::Null,
                },
                _ => Value::Null,
            })
        },
    )?;
    Ok(())
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if is_unique_violation(&e) {
            // The caller names the attribute (see `unique_as`).
            return Error::Uniqueness(String::new());
        }
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
                Error::Busy
            }
            Some(rusqlite::ErrorCode::DiskFull) => Error::Storage(StorageFault::Full),
            Some(rusqlite::ErrorCode::ReadOnly) => Error::Storage(StorageFault::ReadOnly),
            Some(rusqlite::ErrorCode::SystemIoFailure) => Error::Storage(StorageFault::Io),
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

/// Names the attribute of a UNIQUE (or primary key) constraint failure: `Uniqueness(attr)`;
/// anything else passes through. Told apart by the engine's error code (SQLite's extended
/// result code, PostgreSQL's SQLSTATE 23505), never the message text, so a NOT NULL, CHECK or
/// foreign key failure is never reported as a taken name.
pub(crate) fn unique_as<E: Into<Error>>(attr: &str) -> impl Fn(E) -> Error + '_ {
    move |e| match e.into() {
        Error::Uniqueness(_) => Error::Uniqueness(attr.to_string()),
        other => other,
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unique_and_primary_key_failures_are_uniqueness() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER NOT NULL CHECK (n > 0));
             INSERT INTO t VALUES (1, 'a', 1);",
        )
        .unwrap();
        let run = |sql: &str| {
            conn.execute_batch(sql)
                .map_err(unique_as("name"))
                .unwrap_err()
        };
        assert_eq!(
            run("INSERT INTO t VALUES (2, 'a', 1)"),
            Error::Uniqueness("name".into())
        );
        assert_eq!(
            run("INSERT INTO t VALUES (1, 'b', 1)"),
            Error::Uniqueness("name".into())
        );
        assert!(matches!(
            run("INSERT INTO t VALUES (3, 'c', NULL)"),
            Error::Internal(_)
        ));
        assert!(matches!(
            run("INSERT INTO t VALUES (4, 'd', 0)"),
            Error::Internal(_)
        ));
    }
    use crate::model::filter::{AttrPath, CompareOp, Filter};
    use rusqlite::StatementStatus;

    /// The neutral layer on both engines: settings read and written through one function.
    #[test]
    fn settings_work_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let first = store
                .write_blocking(|c| settings::get_or_init(c, "k", || Ok("v1".into())))
                .unwrap();
            let again = store
                .write_blocking(|c| settings::get_or_init(c, "k", || Ok("v2".into())))
                .unwrap();
            assert_eq!((first.as_str(), again.as_str()), ("v1", "v1"), "{engine}");
            let read = store.read_blocking(|c| settings::get(c, "k")).unwrap();
            assert_eq!(read.as_deref(), Some("v1"), "{engine}");
            let epoch = store.read_blocking(tokens::auth_epoch).unwrap();
            assert!(epoch >= 0, "{engine}");
            store.close();
        }
    }

    /// A list page on either engine: the counter's total without a filter, offsets, cursors
    /// both ways, a filter's own total, a case-folded sort by code point (`é` after `z`), a
    /// page of nothing. Rows are written with plain SQL here, so the test does not depend on
    /// the users store running on PostgreSQL.
    #[test]
    fn pages_read_alike_on_every_engine() {
        use crate::model::query::Sort;
        use sql::params;
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let pks = store
                .write_blocking(|c| {
                    let org: i64 = c.query_row(
                        "INSERT INTO orgs (id, name, created) VALUES ('o1', 'One', 'now') \
                         RETURNING pk",
                        params![],
                        |r| r.get(0),
                    )?;
                    let mut pks = Vec::new();
                    for (i, name) in ["bob", "Émile", "alice", "ZOE", "Bea"].iter().enumerate() {
                        let fold = crate::model::fold::fold(name).into_owned();
                        pks.push(c.query_row(
                            "INSERT INTO users (org_pk, id, user_name, user_name_fold, active, \
                             created, last_modified, version, data) \
                             VALUES (?, ?, ?, ?, ?, 'now', 'now', 1, '{}') RETURNING pk",
                            params![org, format!("u{i}"), name, fold, i % 2 == 0],
                            |r| r.get::<i64>(0),
                        )?);
                    }
                    Ok(pks)
                })
                .unwrap();
            let org = 1;
            let reader = store.clone();
            let list = move |filter: Option<&str>, sort: Option<bool>, q: ListQuery| {
                let filter = filter.map(|f| crate::scim::filter::parse_filter(f).unwrap());
                let sort = sort.map(|descending| Sort {
                    by: AttrPath::simple("userName"),
                    descending,
                });
                let q = ListQuery { filter, sort, ..q };
                reader
                    .read_blocking(move |c| {
                        let (total, rows) =
                            page_in(c, &users::LISTED, &crate::model::schema::USER_TYPE, org, &q)?;
                        Ok((total, rows.into_iter().map(|r| r.id).collect::<Vec<_>>()))
                    })
                    .unwrap()
            };
            let q = |offset, limit, keyset| ListQuery {
                filter: None,
                sort: None,
                offset,
                limit,
                keyset,
            };
            let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            assert_eq!(
                list(None, None, q(0, 2, Keyset::None)),
                (5, ids(&["u0", "u1"])),
                "{engine}"
            );
            assert_eq!(
                list(None, None, q(3, 10, Keyset::None)),
                (5, ids(&["u3", "u4"])),
                "{engine}"
            );
            assert_eq!(
                list(None, None, q(0, 2, Keyset::After(pks[1]))),
                (5, ids(&["u2", "u3"])),
                "{engine}"
            );
            assert_eq!(
                list(None, None, q(0, 2, Keyset::Before(pks[3]))),
                (5, ids(&["u1", "u2"])),
                "{engine}"
            );
            assert_eq!(
                list(None, Some(false), q(0, 10, Keyset::None)),
                (5, ids(&["u2", "u4", "u0", "u3", "u1"])),
                "{engine}"
            );
            assert_eq!(
                list(Some("userName sw \"B\""), Some(true), q(0, 1, Keyset::None)),
                (2, ids(&["u0"])),
                "{engine}"
            );
            assert_eq!(
                list(Some("active eq true"), None, q(0, 0, Keyset::None)),
                (3, ids(&[])),
                "{engine}"
            );
            assert_eq!(
                list(Some("userName gt \"zoe\""), None, q(0, 10, Keyset::None)),
                (1, ids(&["u1"])),
                "{engine}"
            );
            store.close();
        }
    }

    /// Every list request reuses its prepared statements: no parse and plan per request, on a
    /// unique index (userName) and a non-unique one (externalId) alike.
    #[test]
    fn list_statements_stay_prepared_across_requests() {
        let conn = Connection::open_in_memory().unwrap();
        migrate::migrate(&conn).unwrap();
        conn.execute_batch("INSERT INTO orgs (id, name, created) VALUES ('o', 'o', 'now')")
            .unwrap();
        for attr in ["userName", "externalId"] {
            let mut sql_text = String::new();
            for i in 0..5 {
                let filter = Filter::Compare {
                    path: AttrPath::simple(attr),
                    op: CompareOp::Eq,
                    value: serde_json::json!(format!("user{i}@x.io")),
                };
                sql_text = filter_sql::compile_users(&filter).unwrap().sql;
                let q = ListQuery {
                    filter: Some(filter),
                    sort: None,
                    offset: i,
                    limit: 10 + i,
                    keyset: Keyset::None,
                };
                users::list(&Conn::sqlite(&conn), 1, &q).unwrap();
            }
            let page = format!(
                "SELECT u.pk, u.id, u.created, u.last_modified, u.version, u.data FROM users u \
                 WHERE u.org_pk = +? AND ({sql_text}) ORDER BY u.pk LIMIT +? OFFSET +?"
            );
            let stmt = conn.prepare_cached(&page).unwrap();
            assert_eq!(
                stmt.get_status(StatementStatus::Run),
                5,
                "the same statement ran for {attr}"
            );
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "{attr}");
        }
        // A filtered list reads the organization's declared schemas each time.
        let declared = "SELECT urn, resource_type, required, body, created FROM declared_schemas
             WHERE org_pk = +? ORDER BY pk";
        let stmt = conn.prepare_cached(declared).unwrap();
        assert_eq!(stmt.get_status(StatementStatus::Run), 10);
        assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
    }
}
