//! The accept loop: one task per connection, a header-read timeout, and a graceful shutdown
//! that lets in-flight requests finish. Plain HTTP, or HTTPS with a certificate that can be
//! replaced while serving (see `tls`).

use crate::app::App;
use crate::deadline::Guarded;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves plain HTTP until `shutdown` resolves, then stops accepting and drains open
/// connections.
pub async fn run(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    run_with(listener, app, None, shutdown).await
}

/// Serves HTTPS with `certs` (or plain HTTP without), like [`run`]. Each connection takes the
/// certificate current at its handshake, so a reload needs no restart.
pub async fn run_with(
    listener: TcpListener,
    app: Arc<App>,
    certs: Option<Arc<crate::tls::Certs>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let limits = app.limits.clone();
    let mut builder = http1::Builder::new();
    // The header-read timer also runs while a keep-alive connection waits for its next
    // request, so it closes idle connections and slowloris clients alike.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        // At the connection limit, wait for one to close before accepting another.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // A client that stops reading, or goes quiet, loses its slot (see deadline).
                let stream = Guarded::new(stream, limits.deadlines());
                let app = app.clone();
                let ip = peer.ip();
                let service = service_fn(move |req| crate::http::handle(app.clone(), ip, req));
                match &certs {
                    None => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            let _ = conn.await;
                            drop(permit);
                        });
                    }
                    Some(certs) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(certs.config());
                        let (builder, watcher) = (builder.clone(), graceful.watcher());
                        let timeout = limits.header_read_timeout;
                        tokio::spawn(async move {
                            // A client that never finishes its handshake is dropped like one
                            // that never sends its headers.
                            let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                            let conn = builder.serve_connection(TokioIo::new(tls), service);
                            let _ = watcher.watch(conn).await;
                            drop(permit);
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("shutdown: some connections did not finish in time");
        }
    }
}

/// Serves the `--metrics-listen` address: `/metrics` and `/healthz` only, plain HTTP, a few
/// connections at a time. Kept apart from the SCIM port so an IdP never sees it.
pub async fn run_metrics(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.limits.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(tokio::sync::Semaphore::new(16));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let stream = Guarded::new(stream, app.limits.deadlines());
                let app = app.clone();
                let service = service_fn(move |req| crate::http::handle_metrics_port(app.clone(), req));
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(2)) => {}
    }
}
