//! The accept loop: every connection is served by hyper's HTTP/1.1 with a deadline for its
//! request headers (a client that trickles them in holds nothing for long), at most
//! `max_connections` at once (the rest wait in the system's accept queue instead of using up
//! the process's file descriptors), WebSocket upgrades allowed, and a graceful close of every
//! connection when shutdown starts; with TLS, the handshake first, within the same deadline.
//! axum's own `serve` sets no header deadline and no cap.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::App;

/// Accepts and serves connections until shutdown starts, then waits for the open ones to
/// finish what they are answering (upgraded WebSockets are no longer connections here).
pub(crate) async fn serve(listener: TcpListener, router: Router, app: &Arc<App>) {
    let slots = Arc::new(Semaphore::new(app.options.max_connections));
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut stopping = app.stop_signal.subscribe();
    let mut warned_full = false;
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = crate::raised(&mut stopping) => break,
        };
        if slots.available_permits() == 0 && !warned_full {
            log::warn!(
                "{} connections open, the most served at once: new ones wait",
                app.options.max_connections
            );
        }
        warned_full = slots.available_permits() == 0;
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // nothing to serve; do not spin.
                    log::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::raised(&mut stopping) => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let header_timeout = app.options.header_timeout;
        let stop = app.stop_signal.subscribe();
        let open = open_rx.clone();
        let tls = app
            .options
            .tls
            .as_ref()
            .map(|tls| tokio_rustls::TlsAcceptor::from(std::sync::Arc::clone(&tls.config)));
        tokio::spawn(async move {
            let _slot = slot;
            let _open = open;
            let Some(acceptor) = tls else {
                return serve_connection(tcp, service, header_timeout, stop).await;
            };
            // The handshake shares the headers' deadline: a client that opens a connection
            // and says nothing holds it no longer over TLS than without.
            match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => serve_connection(stream, service, header_timeout, stop).await,
                Ok(Err(e)) => log::debug!("TLS handshake failed: {e}"),
                Err(_) => log::debug!("TLS handshake timed out"),
            }
        });
    }
    drop(listener);
    drop(open_rx);
    // Every connection task holds a receiver: closed once the last has finished.
    open_tx.closed().await;
}

/// One connection (plain TCP or TLS) served by hyper's HTTP/1.1 until it closes, or closed
/// gracefully when shutdown starts.
async fn serve_connection<Io>(
    io: Io,
    service: TowerToHyperService<Router>,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                log::debug!("connection ended: {e}");
            }
        }
        () = crate::raised(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
