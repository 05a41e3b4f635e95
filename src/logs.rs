//! Logging: text or one JSON object per line, to stderr. Tokens never reach a log: the
//! request line names the token, never its value.
//!
//! Lines are formatted on the thread that logs them and written by a thread of their own
//! (tracing-appender's non-blocking writer), in batches: a request never waits for stderr.
//! The queue between them is bounded; when whatever reads stderr falls that far behind, new
//! lines are dropped rather than requests slowed or memory grown, and counted
//! ([`dropped_lines`], `scimbox_log_lines_dropped_total` in `/metrics`).

use crate::config::LogFormat;
use std::sync::OnceLock;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines the queue holds before new ones are dropped: about 4 MiB of request lines, a few
/// tenths of a second at full speed.
pub const QUEUE_LINES: usize = 16_384;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Sets up logging for the process. Keep the guard until the end of `main`: dropping it
/// writes what is still queued.
pub fn init(level: &str, format: LogFormat) -> Option<WorkerGuard> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("scimbox-log")
        // Buffered: the writer thread flushes once its queue is empty, so lines that pile up
        // go out in one write.
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    match installed {
        Ok(()) => {
            let _ = DROPPED.set(counter);
            Some(guard)
        }
        // Another subscriber is in place (a test harness): it keeps logging.
        Err(_) => None,
    }
}

/// Log lines dropped since start because the queue to stderr was full (0 when this process
/// logs some other way).
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}
