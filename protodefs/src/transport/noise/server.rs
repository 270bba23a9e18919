//! The controller's side of the control transport: [`NoiseIncoming`] accepts TCP connections,
//! runs each one's handshake in its own task (at most [`MAX_HANDSHAKES_IN_FLIGHT`] at a time,
//! each within the handshake deadline), counts and drops the ones that fail, and yields the
//! rest as [`NoiseConn`]s for `tonic::transport::Server::serve_with_incoming(_shutdown)`.
//! When every slot is taken, a new connection ends the oldest handshake in flight: clients
//! that connect and say nothing cannot keep a good client, whose handshake takes one round
//! trip, waiting for their deadlines.
//! A handler learns who calls from `request.extensions().get::<NoisePeer>()`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use cvlan_types::{PrivateKey, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinHandle};
use tonic::transport::server::Connected;

use super::stream::{NoiseStream, server_handshake};

/// How many handshakes may run at once; beyond it, each new connection ends the oldest.
pub const MAX_HANDSHAKES_IN_FLIGHT: usize = 256;

/// How long accepting pauses after an error that is not one connection's (out of file
/// descriptors, say), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Who is at the other end of a control connection: their proven static key, and the address
/// they connect from. Every request on the connection carries it as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoisePeer {
    /// The client's static key (a node's machine key): its identity.
    pub key: PublicKey,
    /// The client's TCP address.
    pub addr: SocketAddr,
}

/// Counts of handshakes, for the controller to show.
#[derive(Debug, Default)]
pub struct HandshakeCounters {
    accepted: AtomicU64,
    failed: AtomicU64,
}

impl HandshakeCounters {
    /// Handshakes that completed and whose connection was handed to the server.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Handshakes that failed (garbage, the wrong key, a replay, a timeout, a close, or the
    /// oldest in flight ended to make room) and whose connection was dropped.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// An established control connection with the peer it proved to be.
#[derive(Debug)]
pub struct NoiseConn {
    stream: NoiseStream<TcpStream>,
    peer: NoisePeer,
}

impl NoiseConn {
    /// Who is at the other end.
    pub fn peer(&self) -> NoisePeer {
        self.peer
    }
}

impl Connected for NoiseConn {
    type ConnectInfo = NoisePeer;

    fn connect_info(&self) -> NoisePeer {
        self.peer
    }
}

impl AsyncRead for NoiseConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for NoiseConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The established control connections of a listener, as a stream for tonic's
/// `serve_with_incoming`. Never ends and never yields an error: a bad client only counts as
/// failed. Dropping it stops accepting.
#[derive(Debug)]
pub struct NoiseIncoming {
    connections: mpsc::Receiver<NoiseConn>,
    counters: Arc<HandshakeCounters>,
    acceptor: JoinHandle<()>,
}

impl NoiseIncoming {
    /// Starts accepting on `listener`, answering handshakes with the server's static key.
    /// Must be called within a tokio runtime.
    pub fn new(listener: TcpListener, key: &PrivateKey) -> Self {
        let counters = Arc::new(HandshakeCounters::default());
        let (sender, connections) = mpsc::channel(16);
        let acceptor = tokio::spawn(accept(
            listener,
            Arc::new(key.clone()),
            sender,
            counters.clone(),
        ));
        Self {
            connections,
            counters,
            acceptor,
        }
    }

    /// The handshake counters, shared: they keep counting while the server runs.
    pub fn counters(&self) -> Arc<HandshakeCounters> {
        self.counters.clone()
    }
}

impl tokio_stream::Stream for NoiseIncoming {
    type Item = Result<NoiseConn, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().connections.poll_recv(cx).map(|c| c.map(Ok))
    }
}

impl Drop for NoiseIncoming {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Accepts connections until the receiving side is gone, one handshake task each.
async fn accept(
    listener: TcpListener,
    key: Arc<PrivateKey>,
    sender: mpsc::Sender<NoiseConn>,
    counters: Arc<HandshakeCounters>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES_IN_FLIGHT));
    // The handshake tasks, oldest first; finished ones are pruned as it grows.
    let mut in_flight: VecDeque<AbortHandle> = VecDeque::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = sender.closed() => return,
        };
        let (tcp, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a control connection failed");
                if !is_connection_error(&error) {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, %addr, "cannot set TCP_NODELAY on a control connection");
        }
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                in_flight.retain(|task| !task.is_finished());
                if let Some(oldest) = in_flight.pop_front() {
                    // Its slot comes free when the runtime drops the aborted task.
                    oldest.abort();
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%addr, "every handshake slot taken: ended the oldest");
                }
                // The semaphore is never closed.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                slot
            }
        };
        let (key, sender, counters) = (key.clone(), sender.clone(), counters.clone());
        let task = tokio::spawn(async move {
            // The slot is held until the connection is handed over, so handshakes and
            // connections waiting for the server stay within the bound together.
            let _slot = slot;
            match server_handshake(tcp, &key).await {
                Ok((stream, key)) => {
                    let peer = NoisePeer { key, addr };
                    if sender.send(NoiseConn { stream, peer }).await.is_ok() {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%addr, key = %key, "control connection established");
                    }
                }
                Err(error) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, %addr, "control handshake failed");
                }
            }
        });
        // At most MAX_HANDSHAKES_IN_FLIGHT are unfinished, so this keeps the list (and the
        // finished tasks its handles hold) within twice that.
        if in_flight.len() >= 2 * MAX_HANDSHAKES_IN_FLIGHT {
            in_flight.retain(|task| !task.is_finished());
        }
        in_flight.push_back(task.abort_handle());
    }
}

/// Errors of one connection that died before it was accepted; the next accept is fine.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
