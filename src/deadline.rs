//! A connection's deadlines, enforced under hyper at the byte level: a response that cannot be
//! sent within the write timeout, and a connection that neither sends nor receives for the
//! idle timeout, end with an error, which closes the connection and frees its slot. Without
//! it, a client that sends pipelined requests and never reads holds its slot forever: hyper
//! stops reading once it cannot write, and waits on the write without a timer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a connection may stall.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadlines {
    /// A write (or flush) that makes no progress for this long fails.
    pub write: Duration,
    /// No byte read or written for this long ends the connection.
    pub idle: Duration,
}

/// A stream with [`Deadlines`].
pub struct Guarded<S> {
    inner: S,
    deadlines: Deadlines,
    /// Armed while a write waits; reset whenever it makes progress.
    write_timer: Option<Pin<Box<Sleep>>>,
    /// Pushed back on every byte read or written.
    idle_timer: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, deadlines: Deadlines) -> Guarded<S> {
        Guarded {
            inner,
            deadlines,
            write_timer: None,
            idle_timer: Box::pin(tokio::time::sleep(deadlines.idle)),
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.deadlines.idle;
        self.idle_timer.as_mut().reset(next);
    }

    /// After a write that did not complete: `Err` once the write has stalled too long.
    fn stalled_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let write = self.deadlines.write;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(write)));
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read its response in time",
            )));
        }
        if self.idle_timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(idle_error()));
        }
        Poll::Pending
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the connection was idle too long")
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                if this.idle_timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(idle_error()));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                this.write_timer = None;
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.stalled_write(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.write_timer = None;
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.stalled_write(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.stalled_write(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.stalled_write(cx),
        }
    }
}
