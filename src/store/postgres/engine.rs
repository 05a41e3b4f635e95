//! Serving from PostgreSQL: a pool of connections (deadpool-postgres) whose I/O a runtime of
//! the store's own drives, and worker threads that run the store's synchronous closures on
//! them. Each write is one transaction (rows it changes are read `FOR UPDATE`, so two servers
//! writing one Team take turns and lose nothing); each read runs on one connection, a snapshot
//! read in one `REPEATABLE READ` transaction. A write is answered only after its COMMIT.

use super::super::sql::{Conn, PgSession};
use super::super::target::PgUrl;
use crate::error::{Error, Result, StorageFault};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a request waits for a free connection, or for a new one to connect, before it is
/// answered 503: a database that is down must not hold requests past their timeout.
const POOL_WAIT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A statement still running after this is cancelled by the server (and answered 503).
const STATEMENT_TIMEOUT_MS: u64 = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Snapshot,
    Write,
}

type Job = Box<dyn FnOnce(&Shared) + Send>;

pub(crate) struct PgEngine {
    shared: Arc<Shared>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    /// `None` only while dropping (the runtime is shut down in the background, so a store
    /// dropped inside async code does not block it).
    rt: Option<tokio::runtime::Runtime>,
    pool: deadpool_postgres::Pool,
    outbox: super::super::writer::OutboxSignal,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgEngine {
    /// A pool of at most `size` connections to `url` and as many worker threads. Connections
    /// open on first use and again after the server restarted.
    pub fn start(
        url: &PgUrl,
        size: usize,
        outbox: super::super::writer::OutboxSignal,
    ) -> Result<PgEngine> {
        let size = size.max(1);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("scimbox-pg-io")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("cannot start the runtime: {e}")))?;
        let mut config = url.config().clone();
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("scimbox");
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        config.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the connection pool: {e}")))?;
        let shared = Arc::new(Shared {
            rt: Some(rt),
            pool,
            outbox,
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(size);
        for i in 0..size {
            let rx = rx.clone();
            let shared = shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("scimbox-pg-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&shared),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start a database thread: {e}")))?;
            threads.push(handle);
        }
        Ok(PgEngine {
            shared,
            jobs: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        })
    }

    fn send<T, F>(&self, mode: Mode, f: F) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(move |shared: &Shared| {
            let _ = done.send(shared.session(mode, f));
        });
        let guard = self
            .jobs
            .lock()
            .map_err(|_| Error::Internal("database queue lock poisoned".into()))?;
        guard
            .as_ref()
            .ok_or_else(|| Error::Internal("the store is closed".into()))?
            .send(job)
            .map_err(|_| Error::Internal("the database threads have stopped".into()))?;
        Ok(rx)
    }

    pub async fn run<T, F>(&self, mode: Mode, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        self.send(mode, f)?
            .await
            .map_err(|_| Error::Internal("a database thread dropped its work".into()))?
    }

    pub fn run_blocking<T, F>(&self, mode: Mode, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Conn<'_>) -> Result<T> + Send + 'static,
    {
        self.send(mode, f)?
            .blocking_recv()
            .map_err(|_| Error::Internal("a database thread dropped its work".into()))?
    }

    /// Stops the threads after the queued work is done and closes the pool.
    pub fn stop(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut threads) = self.threads.lock() {
            for t in threads.drain(..) {
                let _ = t.join();
            }
        }
        self.shared.pool.close();
    }
}

impl Shared {
    fn handle(&self) -> Result<&tokio::runtime::Handle> {
        self.rt
            .as_ref()
            .map(|rt| rt.handle())
            .ok_or_else(|| Error::Internal("the store is closed".into()))
    }

    /// Takes a connection and runs `f` on it in the transaction `mode` calls for.
    fn session<T>(&self, mode: Mode, f: impl FnOnce(&Conn<'_>) -> Result<T>) -> Result<T> {
        let rt = self.handle()?;
        let client = rt.block_on(self.pool.get()).map_err(pool_error)?;
        let conn = Conn::postgres(PgSession {
            client: &client,
            rt,
            writing: mode == Mode::Write,
        });
        let begin = match mode {
            Mode::Read => None,
            Mode::Snapshot => Some("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
            Mode::Write => Some("BEGIN"),
        };
        let Some(begin) = begin else {
            return catch_unwind(AssertUnwindSafe(|| f(&conn)))
                .unwrap_or_else(|_| Err(Error::Internal("a read panicked".into())));
        };
        conn.execute_batch(begin)?;
        // Nothing from an earlier write on this thread counts for this one.
        let _ = super::super::outbox::take_written();
        super::super::outbox::discard_pending();
        let result = catch_unwind(AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| Err(Error::Internal("a database call panicked".into())))
            // The events the write made go in last, numbered in commit order.
            .and_then(|v| super::super::outbox::before_commit(&conn).map(|()| v));
        match result {
            Ok(v) => {
                conn.execute_batch("COMMIT")?;
                if super::super::outbox::take_written() {
                    self.outbox.send_modify(|n| *n = n.wrapping_add(1));
                }
                Ok(v)
            }
            Err(e) => {
                let _ = super::super::outbox::take_written();
                super::super::outbox::discard_pending();
                if conn.execute_batch("ROLLBACK").is_err() {
                    // A connection that cannot roll back is not handed out again.
                    let _ = deadpool_postgres::Object::take(client);
                }
                Err(e)
            }
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> Error {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => super::error(e),
        PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => Error::Busy,
        PoolError::Timeout(_) => Error::Storage(StorageFault::Unreachable),
        other => {
            tracing::warn!(error = %other, "PostgreSQL pool");
            Error::Storage(StorageFault::Unreachable)
        }
    }
}
