//! Read connections on threads of their own, fed by one queue. WAL lets them read beside the
//! writer; a dedicated thread per connection keeps slow queries off the async workers and
//! costs far less than a `spawn_blocking` per query.

use crate::error::{Error, Result};
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&Connection) + Send>;

pub struct Readers {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Readers {
    pub fn start(path: &Path, count: usize) -> Result<Readers> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let conn = super::open_connection(path)?;
            // Readers never write. No mmap: mapped database pages count as the server's
            // resident memory (72 MiB at 20,000 users with two 64 MiB maps, over the 40 MiB
            // target) for about a tenth of the read speed (measured with the bench).
            conn.execute_batch("PRAGMA query_only = ON; PRAGMA mmap_size = 0;")?;
            let rx = rx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("scimbox-reader-{i}"))
                .spawn(move || {
                    loop {
                        // Only one idle reader waits on the queue at a time; the lock is
                        // released before the job runs.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&conn),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| Error::Internal(format!("cannot start reader thread: {e}")))?;
            threads.push(handle);
        }
        Ok(Readers {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(threads),
        })
    }

    fn send<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (done, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = catch_unwind(AssertUnwindSafe(|| f(conn)))
                .unwrap_or_else(|_| Err(Error::Internal("a read panicked".into())));
            let _ = done.send(result);
        });
        let guard = self
            .tx
            .lock()
            .map_err(|_| Error::Internal("reader lock poisoned".into()))?;
        guard
            .as_ref()
            .ok_or_else(|| Error::Internal("the store is closed".into()))?
            .send(job)
            .map_err(|_| Error::Internal("the readers have stopped".into()))?;
        Ok(rx)
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.send(f)?
            .await
            .map_err(|_| Error::Internal("a reader dropped a query".into()))?
    }

    pub fn run_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.send(f)?
            .blocking_recv()
            .map_err(|_| Error::Internal("a reader dropped a query".into()))?
    }

    pub fn stop(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut threads) = self.threads.lock() {
            for t in threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}
