//! The one writer thread with group commit.
//!
//! Writes that arrive together share one `BEGIN IMMEDIATE … COMMIT`, each in its own
//! `SAVEPOINT` so one failing request does not sink the others, and every caller is answered
//! only after the COMMIT returned. With `synchronous=FULL` the fsync per transaction is shared
//! by the whole batch, which is what makes durable writes fast. WAL checkpoints run on a
//! thread of their own so no commit waits for one.

use crate::error::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Called once the transaction holding the job ended: `Ok` after COMMIT, `Err` if it failed.
type Completion = Box<dyn FnOnce(Result<()>) + Send>;
/// Runs inside the transaction; says whether it succeeded (to keep or roll back its
/// savepoint) and hands back what to call after the COMMIT. Given `None`, it does not run and
/// its completion answers the caller with the error it is handed.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Completion) + Send>;
/// Told after each COMMIT that wrote an outbox row, so event deliverers wake at once.
pub(crate) type OutboxSignal = Arc<tokio::sync::watch::Sender<u64>>;

const QUEUE: usize = 8192;

/// Upper bounds of the group-commit batch size histogram (writes per transaction); the last
/// bucket takes everything larger.
pub const BATCH_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 64, 256, 1024];

/// Counters for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterStats {
    pub transactions: u64,
    pub writes: u64,
    pub queue_depth: u64,
    pub last_batch: u64,
    /// Transactions per batch size bucket (see [`BATCH_BUCKETS`]), not cumulative.
    pub batch_sizes: [u64; BATCH_BUCKETS.len()],
}

#[derive(Default)]
struct Counters {
    transactions: AtomicU64,
    writes: AtomicU64,
    queued: AtomicU64,
    last_batch: AtomicU64,
    batch_sizes: [AtomicU64; BATCH_BUCKETS.len()],
}

pub struct Writer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Mutex<Option<JoinHandle<()>>>,
    stopping: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread, and the checkpoint thread unless `checkpoints` is false (WAL
    /// checkpoints are then left to another process, such as Litestream).
    pub fn start(
        path: &Path,
        max_batch: usize,
        outbox: OutboxSignal,
        checkpoints: bool,
    ) -> Result<Writer> {
        let conn = super::open_connection(path)?;
        // Checkpoints happen on their own thread; the commit path never runs one. Once a
        // checkpoint let the log restart, the file is cut back to 64 MiB.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")?;
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("scimbox-writer".into())
            .spawn(move || run_writer(conn, rx, max_batch.max(1), &thread_counters, &outbox))
            .map_err(|e| Error::Internal(format!("cannot start writer thread: {e}")))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let checkpointer = if checkpoints {
            Some(start_checkpointer(path, stopping.clone())?)
        } else {
            None
        };
        Ok(Writer {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(checkpointer),
            stopping,
            counters,
        })
    }

    fn sender(&self) -> Result<mpsc::Sender<Job>> {
        let guard = self
            .tx
            .lock()
            .map_err(|_| Error::Internal("writer lock poisoned".into()))?;
        guard
            .clone()
            .ok_or_else(|| Error::Internal("the store is closed".into()))
    }

    fn job<T, F>(f: F) -> (Job, oneshot::Receiver<Result<T>>)
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let result = conn.map(|conn| {
                catch_unwind(AssertUnwindSafe(|| f(conn)))
                    .unwrap_or_else(|_| Err(Error::Internal("a write panicked".into())))
            });
            let ok = matches!(result, Some(Ok(_)));
            let completion: Completion = Box::new(move |committed: Result<()>| {
                let answer = match (result, committed) {
                    (Some(Ok(v)), Ok(())) => Ok(v),
                    (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                    (None, Ok(())) => Err(Error::Internal("a write was not run".into())),
                };
                let _ = done.send(answer);
            });
            (ok, completion)
        });
        (job, rx)
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (job, rx) = Self::job(f);
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.sender()?.send(job).await;
        if sent.is_err() {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Internal("the writer has stopped".into()));
        }
        rx.await
            .map_err(|_| Error::Internal("the writer dropped a write".into()))?
    }

    pub fn run_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (job, rx) = Self::job(f);
        self.counters.queued.fetch_add(1, Ordering::Relaxed);
        if self.sender()?.blocking_send(job).is_err() {
            self.counters.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Internal("the writer has stopped".into()));
        }
        rx.blocking_recv()
            .map_err(|_| Error::Internal("the writer dropped a write".into()))?
    }

    pub fn stats(&self) -> WriterStats {
        WriterStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            queue_depth: self.counters.queued.load(Ordering::Relaxed),
            last_batch: self.counters.last_batch.load(Ordering::Relaxed),
            batch_sizes: std::array::from_fn(|i| {
                self.counters.batch_sizes[i].load(Ordering::Relaxed)
            }),
        }
    }

    /// Lets the queued writes finish, then stops the threads.
    pub fn stop(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = handle.join();
        }
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(handle) = self.checkpointer.lock().ok().and_then(|mut t| t.take()) {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

fn run_writer(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    c: &Counters,
    outbox: &OutboxSignal,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        run_batch(&conn, &mut batch);
        // Rows of a batch that rolled back wake the deliverers for nothing; that is harmless.
        if super::outbox::take_written() {
            outbox.send_modify(|n| *n = n.wrapping_add(1));
        }
        c.queued.fetch_sub(n, Ordering::Relaxed);
        c.transactions.fetch_add(1, Ordering::Relaxed);
        c.writes.fetch_add(n, Ordering::Relaxed);
        c.last_batch.store(n, Ordering::Relaxed);
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&b| n <= b)
            .unwrap_or(BATCH_BUCKETS.len() - 1);
        c.batch_sizes[bucket].fetch_add(1, Ordering::Relaxed);
    }
}

/// One transaction for the whole batch; a savepoint per job.
fn run_batch(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(e) = statement(conn, "BEGIN IMMEDIATE") {
        let err = Error::from(e);
        for job in batch.drain(..) {
            // The job never ran; answer it with the reason the transaction could not start.
            let (_, done) = job(None);
            done(Err(err.clone()));
        }
        return;
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        if let Err(e) = statement(conn, "SAVEPOINT job") {
            let (_, done) = job(None);
            done(Err(e.into()));
            continue;
        }
        let (ok, completion) = job(Some(conn));
        let end = if ok {
            statement(conn, "RELEASE job")
        } else {
            statement(conn, "ROLLBACK TO job").and_then(|()| statement(conn, "RELEASE job"))
        };
        match end {
            Ok(()) => completions.push(completion),
            Err(e) => {
                // The savepoint could not be closed: the transaction is in an unknown state,
                // so nothing of this batch may be kept.
                let err = Error::from(e);
                let _ = conn.execute_batch("ROLLBACK");
                completion(Err(err.clone()));
                for done in completions {
                    done(Err(err.clone()));
                }
                return;
            }
        }
    }
    let committed = statement(conn, "COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        Error::from(e)
    });
    for done in completions {
        done(committed.clone());
    }
}

/// Runs one of the writer's own statements, prepared once: they run for every write, and
/// `execute_batch` would parse them every time.
fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Checkpoints the WAL beside the writer: PASSIVE every half second (never blocks anyone).
/// Under sustained writes a passive checkpoint never reaches the end of the log, which then
/// grows without bound (593 MiB beside a 72 MiB database in the benchmark), so past
/// `RESTART_FRAMES` a RESTART checkpoint waits briefly for the writer and readers, copies the
/// rest and lets the next write start the log from its beginning.
fn start_checkpointer(path: &Path, stopping: Arc<AtomicBool>) -> Result<JoinHandle<()>> {
    const RESTART_FRAMES: i64 = 8_000;
    let conn = super::open_connection(path)?;
    conn.execute_batch("PRAGMA busy_timeout = 200;")?;
    std::thread::Builder::new()
        .name("scimbox-checkpoint".into())
        .spawn(move || {
            // Every half second when quiet; every 50 ms while writes pour in, so the log is
            // copied back in small steps instead of piling up.
            let mut pause = Duration::from_millis(500);
            while !stopping.load(Ordering::Relaxed) {
                std::thread::park_timeout(pause);
                let frames: Option<(i64, i64)> = conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get(1)?, r.get(2)?))
                    })
                    .ok();
                pause = match frames {
                    Some((log, _)) if log > 1_000 => Duration::from_millis(50),
                    _ => Duration::from_millis(500),
                };
                if let Some((log, done)) = frames
                    && (log > RESTART_FRAMES || (log > 0 && log == done))
                {
                    let _ = conn.execute_batch("PRAGMA wal_checkpoint(RESTART)");
                }
            }
        })
        .map_err(|e| Error::Internal(format!("cannot start checkpoint thread: {e}")))
}
