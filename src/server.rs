//! The accept loop: one task per connection, a header-read timeout, and a graceful shutdown
//! that lets in-flight requests finish. Plain HTTP, or HTTPS with a certificate that can be
//! replaced while serving (see `tls`). [`start`] is the one way a server starts: the binary
//! (`scimbox serve`) and the in-process test server both call it.

use crate::admin::AdminState;
use crate::app::{App, Edge, Limits};
use crate::http::State;
use crate::store::Store;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

/// What a server starts with besides its store and listener: what `scimbox serve` reads from
/// its flags.
pub struct Options {
    pub limits: Limits,
    /// The admin page's session lifetimes and request inspector.
    pub admin: AdminState,
    pub edge: Edge,
    /// `--tls-cert`/`--tls-key`, loaded; reloaded while serving when the files change.
    pub certs: Option<Arc<crate::tls::Certs>>,
    /// `--metrics-listen`, already bound.
    pub metrics_listener: Option<TcpListener>,
    /// Days the audit log keeps an entry (0 keeps them forever).
    pub audit_retention_days: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            admin: AdminState::default(),
            edge: Edge::default(),
            certs: None,
            metrics_listener: None,
            audit_retention_days: 365,
        }
    }
}

/// A started server: its state, and the task that serves until the shutdown future resolves
/// (then drains, stops the metrics port and the background jobs, and ends).
pub struct Running {
    pub state: Arc<State>,
    pub done: tokio::task::JoinHandle<()>,
}

/// Starts serving `listener` on an open store: builds the shared state (reading or making
/// the cursor key), then spawns the accept loop, the metrics port, the certificate reloader
/// and the hourly housekeeping. Fails only when the shared state cannot be built.
pub async fn start(
    store: Store,
    listener: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> crate::error::Result<Running> {
    let Options {
        limits,
        admin,
        edge,
        certs,
        metrics_listener,
        audit_retention_days,
    } = options;
    let app = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || App::new(store, limits))
            .await
            .map_err(|e| crate::error::Error::Internal(e.to_string()))??
    };
    let state = Arc::new(State::new(app.with_edge(edge), admin));
    let done = tokio::spawn({
        let state = state.clone();
        async move {
            let housekeeping = tokio::spawn(housekeeping(store, audit_retention_days));
            let reloader = certs.clone().map(|c| tokio::spawn(c.watch()));
            let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
            let metrics = metrics_listener.map(|l| {
                let local = l.local_addr().ok();
                tracing::info!(addr = ?local, "serving /metrics and /healthz");
                tokio::spawn(run_metrics(l, state.clone(), async {
                    let _ = metrics_stopped.await;
                }))
            });
            run_with(listener, state, certs, shutdown).await;
            let _ = stop_metrics.send(());
            if let Some(m) = metrics {
                let _ = m.await;
            }
            if let Some(r) = reloader {
                r.abort();
            }
            housekeeping.abort();
        }
    });
    Ok(Running { state, done })
}

/// Hourly: deletes ended admin sessions and audit entries past the retention.
async fn housekeeping(store: Store, retention_days: u32) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = crate::clock::now();
        let stamp = crate::clock::format(now);
        let cutoff = (retention_days > 0)
            .then(|| crate::clock::format(now - time::Duration::days(i64::from(retention_days))));
        let result = store
            .write(move |conn| {
                let sessions = crate::store::admins::delete_expired(conn, &stamp)?;
                let audit = match cutoff {
                    Some(c) => crate::store::audit::prune(conn, &c)?,
                    None => 0,
                };
                Ok((sessions, audit))
            })
            .await;
        match result {
            Ok((0, 0)) => {}
            Ok((sessions, audit)) => {
                tracing::info!(
                    sessions,
                    audit,
                    "housekeeping: removed ended sessions and old audit entries"
                )
            }
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves plain HTTP until `shutdown` resolves, then stops accepting and drains open
/// connections.
pub async fn run(listener: TcpListener, state: Arc<State>, shutdown: impl Future<Output = ()>) {
    run_with(listener, state, None, shutdown).await
}

/// Serves HTTPS with `certs` (or plain HTTP without), like [`run`]. Each connection takes the
/// certificate current at its handshake, so a reload needs no restart.
pub async fn run_with(
    listener: TcpListener,
    state: Arc<State>,
    certs: Option<Arc<crate::tls::Certs>>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let limits = state.app.limits.clone();
    let mut builder = http1::Builder::new();
    // The header-read timer also runs while a keep-alive connection waits for its next
    // request, so it closes idle connections and slowloris clients alike.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    accept_until(
        &listener,
        limits.max_connections,
        shutdown,
        |stream, peer, permit| {
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let ip = peer.ip();
            let service = service_fn(move |req| crate::http::handle(state.clone(), ip, req));
            match &certs {
                None => {
                    let conn =
                        graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
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
                        // A client that never finishes its handshake is dropped like one that
                        // never sends its headers.
                        let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await
                        {
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
        },
    )
    .await;
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
pub async fn run_metrics(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.app.limits.header_read_timeout)
        .keep_alive(true);
    accept_until(&listener, 16, shutdown, |stream, _, permit| {
        let state = state.clone();
        let service = service_fn(move |req| crate::http::handle_metrics_port(state.clone(), req));
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    })
    .await;
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(2)) => {}
    }
}

/// Accepts connections until `shutdown` resolves, at most `max` open at once (at the limit it
/// waits for one to close before accepting another), and hands each to `serve` with the slot
/// it holds until it ends. After an accept error (out of file descriptors and the like) it
/// backs off briefly instead of spinning.
async fn accept_until(
    listener: &TcpListener,
    max: usize,
    shutdown: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(max.max(1)));
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
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => serve(stream, peer, permit),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
}
