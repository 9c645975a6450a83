//! The serving side: accepts connections, runs the handshake, then serves requests.
//!
//! Each connection is one task: after the handshake it reads requests, spawns one task per
//! request to run the handler, and writes the replies, in completion order, through one writer
//! that batches them. Nothing reaches the handler before the handshake succeeded. Shutdown
//! (or dropping the server) stops the listener and every connection task, which closes the
//! sockets; handler tasks already running finish, and their replies are dropped.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};

use super::frame::{self, Frame, FrameError, FrameType, PROTOCOL_VERSION};
use super::handshake::{self, AcceptError};
use super::stream::PeerStream;
use super::transport::PeerListener;
use super::{HandlerFuture, PeerConfig, PeerHandler};
use rustls::pki_types::CertificateDer;

/// A handshake must finish within this; a silent or slow peer is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Open connections per server (handshaking or serving); more are closed on accept.
const CONNECTIONS_MAX: usize = 1024;

/// Requests of one connection whose handler is still running; the connection stops reading
/// until one finishes.
const REQUESTS_IN_FLIGHT_MAX: usize = 4096;

/// Replies queued for the writer of one connection.
const OUTGOING_FRAMES_MAX: usize = 1024;

/// Pause after a failed `accept` (for example, out of file descriptors), so the loop does not
/// spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A listening peer endpoint. Dropping it is the same as [`PeerServer::shutdown`].
pub struct PeerServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: TaskCount,
    /// Set when another transport than TCP serves the peers (`PeerServer::with_listener`).
    listener: Option<Box<dyn PeerListener>>,
}

impl PeerServer {
    /// Binds exactly `addr` and starts accepting peers. Fails if the address cannot be bound or
    /// the configuration is invalid (see [`PeerConfig::validate`]).
    pub async fn bind(
        addr: &str,
        config: Arc<PeerConfig>,
        handler: Arc<dyn PeerHandler>,
    ) -> std::io::Result<PeerServer> {
        config
            .validate()
            .map_err(|reason| std::io::Error::new(std::io::ErrorKind::InvalidInput, reason))?;
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let tasks = TaskCount::default();
        let accepting = tasks.track();
        let listen = Listener {
            listener,
            config,
            handler,
            shutdown: shutdown_rx,
            tasks: tasks.clone(),
            connections: Arc::new(Semaphore::new(CONNECTIONS_MAX)),
        };
        tokio::spawn(async move {
            let _accepting = accepting;
            listen.run().await;
        });
        tracing::info!(%local_addr, "peer transport listening");
        Ok(PeerServer {
            local_addr,
            shutdown,
            tasks,
            listener: None,
        })
    }

    /// A server whose peers are served by `listener` (a transport other than TCP; see
    /// [`crate::peer::PeerTransport`]).
    pub fn with_listener(listener: Box<dyn PeerListener>) -> PeerServer {
        PeerServer {
            local_addr: listener.local_addr(),
            shutdown: watch::channel(false).0,
            tasks: TaskCount::default(),
            listener: Some(listener),
        }
    }

    /// The address actually bound (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and closes every connection. Returns at once; see [`PeerServer::closed`].
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
        if let Some(listener) = &self.listener {
            listener.shutdown();
        }
    }

    /// Waits until the listener and every connection socket are closed (after a shutdown), so
    /// the port can be bound again.
    pub async fn closed(&self) {
        if let Some(listener) = &self.listener {
            listener.closed().await;
        }
        let mut count = self.tasks.0.subscribe();
        let _ = count.wait_for(|running| *running == 0).await;
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Counts the tasks that hold a socket (the listener's and each connection's).
#[derive(Clone, Default)]
struct TaskCount(Arc<watch::Sender<usize>>);

impl TaskCount {
    fn track(&self) -> TaskGuard {
        self.0.send_modify(|running| *running += 1);
        TaskGuard(self.0.clone())
    }
}

struct TaskGuard(Arc<watch::Sender<usize>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.send_modify(|running| *running -= 1);
    }
}

/// Resolves once shutdown was asked for (or the server is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

struct Listener {
    listener: TcpListener,
    config: Arc<PeerConfig>,
    handler: Arc<dyn PeerHandler>,
    shutdown: watch::Receiver<bool>,
    tasks: TaskCount,
    connections: Arc<Semaphore>,
}

impl Listener {
    async fn run(mut self) {
        loop {
            let accepted = tokio::select! {
                _ = stopped(&mut self.shutdown) => break,
                accepted = self.listener.accept() => accepted,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "peer transport: accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                tracing::warn!(%remote, "refusing peer connection: {CONNECTIONS_MAX} connections open");
                continue;
            };
            let connection = ServerConnection {
                remote,
                config: self.config.clone(),
                handler: self.handler.clone(),
                shutdown: self.shutdown.clone(),
                _permit: permit,
                _task: self.tasks.track(),
            };
            tokio::spawn(connection.run(stream));
        }
        tracing::info!(local_addr = ?self.listener.local_addr().ok(), "peer transport stopped listening");
    }
}

struct ServerConnection {
    remote: SocketAddr,
    config: Arc<PeerConfig>,
    handler: Arc<dyn PeerHandler>,
    shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    _task: TaskGuard,
}

impl ServerConnection {
    async fn run(self, stream: TcpStream) {
        let remote = self.remote;
        let mut shutdown = self.shutdown.clone();
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%remote, %error, "cannot set TCP_NODELAY on a peer connection");
        }
        let Some(acceptor) = self.config.tls.as_ref().and_then(|tls| tls.peer_acceptor()) else {
            return self.serve(PeerStream::Plain(stream), None).await;
        };
        // The TLS handshake and the secret handshake share HANDSHAKE_TIMEOUT's budget twice at
        // most; a client without a certificate signed by the CA never gets past this.
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = tls => accepted,
        };
        let stream = match accepted {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::warn!(%remote, %error, "peer TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::warn!(%remote, "peer TLS handshake did not finish within {HANDSHAKE_TIMEOUT:?}");
                return;
            }
        };
        let chain: Vec<CertificateDer<'static>> = stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let stream = PeerStream::Tls(Box::new(tokio_rustls::TlsStream::Server(stream)));
        self.serve(stream, Some(chain)).await;
    }

    /// Runs the secret handshake on `stream`, then serves requests. `chain` is the client's
    /// verified certificate chain when the connection is TLS: it must name the claimed id.
    async fn serve(self, mut stream: PeerStream, chain: Option<Vec<CertificateDer<'static>>>) {
        let remote = self.remote;
        let mut shutdown = self.shutdown.clone();
        let identity = move |claimed: u64| match &chain {
            None => Ok(()),
            Some(chain) => crate::tls::certificate_names_node(chain, claimed),
        };
        let mut buf = BytesMut::new();
        let handshake = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            handshake::accept(&mut stream, &mut buf, &self.config, &identity),
        );
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => return,
            accepted = handshake => accepted,
        };
        let from = match accepted {
            Ok(Ok(from)) => from,
            Ok(Err(AcceptError::Refused { detail })) => {
                tracing::warn!(%remote, "peer refused: {detail}");
                return;
            }
            // Closed before its first byte: a port check, such as a follower's leader probe.
            Ok(Err(AcceptError::Frame(FrameError::Closed))) => {
                tracing::debug!(%remote, "peer connection closed before its handshake");
                return;
            }
            Ok(Err(AcceptError::Frame(error))) => {
                tracing::warn!(%remote, %error, "peer handshake failed");
                return;
            }
            Err(_) => {
                tracing::warn!(%remote, "peer handshake did not finish within {HANDSHAKE_TIMEOUT:?}");
                return;
            }
        };
        tracing::info!(%remote, from, "peer connected");

        let (mut read_half, mut write_half) = tokio::io::split(stream);
        let (replies, mut replies_rx) = mpsc::channel(OUTGOING_FRAMES_MAX);
        let ended = tokio::select! {
            _ = stopped(&mut shutdown) => None,
            error = self.serve_requests(&mut read_half, buf, from, replies) => Some(error),
            written = frame::write_loop(&mut write_half, &mut replies_rx) => written.err().map(FrameError::Io),
        };
        match ended {
            Some(error) if error.is_protocol() => {
                tracing::error!(%remote, from, %error, "closing peer connection: protocol error");
            }
            Some(error) => {
                tracing::info!(%remote, from, %error, "peer connection closed");
                self.handler.connection_lost(from);
            }
            None => tracing::debug!(%remote, from, "peer connection closed by shutdown"),
        }
    }

    /// Reads requests and starts a task for each; returns why reading stopped.
    async fn serve_requests(
        &self,
        reader: &mut tokio::io::ReadHalf<PeerStream>,
        mut buf: BytesMut,
        from: u64,
        replies: mpsc::Sender<Frame>,
    ) -> FrameError {
        let frame_bytes_max = self.config.frame_bytes_max;
        let in_flight = Arc::new(Semaphore::new(REQUESTS_IN_FLIGHT_MAX));
        loop {
            let request = match frame::read_frame(reader, &mut buf, frame_bytes_max).await {
                Ok(request) => request,
                Err(error) => return error,
            };
            if request.version != PROTOCOL_VERSION || request.frame_type != FrameType::Request {
                return FrameError::Unexpected {
                    version: request.version,
                    frame_type: request.frame_type,
                };
            }
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                unreachable!("the in-flight semaphore is never closed");
            };
            let handler = self.handler.clone();
            let replies = replies.clone();
            let remote = self.remote;
            tokio::spawn(async move {
                let request_id = request.request_id;
                let outcome = run_handler(&*handler, from, request.kind, request.body).await;
                let reply = match outcome {
                    Ok(body) if body.len() > frame_bytes_max => Frame::new(
                        FrameType::Failure,
                        0,
                        request_id,
                        Bytes::from(format!(
                            "reply of {} bytes is over frame_bytes_max ({frame_bytes_max} bytes)",
                            body.len()
                        )),
                    ),
                    Ok(body) => Frame::new(FrameType::Response, 0, request_id, body),
                    Err(HandlerFailure::Returned(message)) => {
                        Frame::new(FrameType::Failure, 0, request_id, Bytes::from(message))
                    }
                    Err(HandlerFailure::Panicked(message)) => {
                        tracing::error!(%remote, from, "peer request handler panicked: {message}");
                        let message = format!("the handler panicked: {message}");
                        Frame::new(FrameType::Failure, 0, request_id, Bytes::from(message))
                    }
                };
                // The connection may be gone; then nobody waits for the reply.
                let _ = replies.send(reply).await;
                drop(permit);
            });
        }
    }
}

enum HandlerFailure {
    Returned(String),
    Panicked(String),
}

/// Runs the handler for one request; a panic, in `handle` or in its future, becomes an error.
async fn run_handler(
    handler: &dyn PeerHandler,
    from: u64,
    kind: u8,
    payload: Bytes,
) -> Result<Bytes, HandlerFailure> {
    let future = catch_unwind(AssertUnwindSafe(|| handler.handle(from, kind, payload)))
        .map_err(|panic| HandlerFailure::Panicked(panic_message(&*panic)))?;
    match (CatchPanic(future)).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(message)) => Err(HandlerFailure::Returned(message)),
        Err(message) => Err(HandlerFailure::Panicked(message)),
    }
}

/// A handler future whose panics are caught; it is not polled again after one.
struct CatchPanic(HandlerFuture);

impl Future for CatchPanic {
    type Output = Result<Result<Bytes, String>, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(panic) => Poll::Ready(Err(panic_message(&*panic))),
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "(no message)".to_string()
    }
}
