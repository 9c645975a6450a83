//! The calling side: one lazily opened connection per target, shared by every clone.
//!
//! Calls are pipelined: each registers a fresh request id in the connection's pending table,
//! queues its frame for the writer, and waits for the reader to route the reply with that id
//! back. When the connection breaks, every pending call fails at once and the connection is
//! marked closed; the next call opens a new one (no background reconnecting). Concurrent callers
//! that find no open connection share one connection attempt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OnceCell};

use super::frame::{self, Frame, FrameError, FrameType, PROTOCOL_VERSION};
use super::handshake::{self, ConnectError};
use super::stream::PeerStream;
use super::transport::PeerLink;
use super::{PeerConfig, PeerError};

/// Frames queued for the writer of one connection; callers wait for room beyond this.
const OUTGOING_FRAMES_MAX: usize = 1024;

/// A handle for calling one peer. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct PeerClient {
    inner: Arc<ClientInner>,
    /// Set when another transport than TCP carries the calls (`PeerClient::with_link`).
    link: Option<Arc<dyn PeerLink>>,
}

struct ClientInner {
    target: u64,
    addr: String,
    config: Arc<PeerConfig>,
    state: Mutex<ConnectionState>,
}

/// The shared connection, or the attempt to open one that callers are waiting on.
enum ConnectionState {
    Idle,
    Connecting(Arc<OnceCell<Result<Arc<Connection>, PeerError>>>),
    Open(Arc<Connection>),
}

impl PeerClient {
    /// A client for node `target` at `addr` (`host:port`). Nothing happens until the first call.
    pub fn new(target: u64, addr: impl Into<String>, config: Arc<PeerConfig>) -> PeerClient {
        PeerClient {
            inner: Arc::new(ClientInner {
                target,
                addr: addr.into(),
                config,
                state: Mutex::new(ConnectionState::Idle),
            }),
            link: None,
        }
    }

    /// A client for node `target` whose calls go over `link` (a transport other than TCP; see
    /// [`crate::peer::PeerTransport`]).
    pub fn with_link(
        target: u64,
        addr: impl Into<String>,
        config: Arc<PeerConfig>,
        link: Arc<dyn PeerLink>,
    ) -> PeerClient {
        PeerClient {
            link: Some(link),
            ..PeerClient::new(target, addr, config)
        }
    }

    /// The node this client calls.
    pub fn target(&self) -> u64 {
        self.inner.target
    }

    /// The address this client connects to.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Sends one request and waits for its reply, at most `timeout` in all (including opening
    /// the connection, if none is open).
    pub async fn call(
        &self,
        kind: u8,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, PeerError> {
        let target = self.inner.target;
        if payload.len() > self.inner.config.frame_bytes_max {
            return Err(PeerError::Protocol {
                target,
                reason: format!(
                    "request of {} bytes is over frame_bytes_max ({} bytes); not sent",
                    payload.len(),
                    self.inner.config.frame_bytes_max
                ),
            });
        }
        if let Some(link) = &self.link {
            return link.call(kind, payload, timeout).await;
        }
        let call = async {
            let connection = self.connection().await?;
            connection.call(kind, payload).await
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(PeerError::Timeout {
                target,
                after: timeout,
            }),
        }
    }

    /// Closes the current connection, if any; pending calls fail with `Unreachable`. The next
    /// call connects again.
    pub fn disconnect(&self) {
        if let Some(link) = &self.link {
            link.disconnect();
        }
        let previous = std::mem::replace(&mut *self.inner.state(), ConnectionState::Idle);
        if let ConnectionState::Open(connection) = previous {
            connection.pending.close(PeerError::Unreachable {
                target: self.inner.target,
                addr: self.inner.addr.clone(),
                reason: "disconnected by this node".into(),
                request_sent: true,
            });
        }
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> Result<Arc<Connection>, PeerError> {
        let attempt = {
            let mut state = self.inner.state();
            match &*state {
                ConnectionState::Open(connection) if !connection.pending.is_closed() => {
                    return Ok(connection.clone());
                }
                ConnectionState::Connecting(attempt) => attempt.clone(),
                _ => {
                    let attempt = Arc::new(OnceCell::new());
                    *state = ConnectionState::Connecting(attempt.clone());
                    attempt
                }
            }
        };
        // The first waiter runs the attempt; if it is cancelled (its call timed out), the next
        // waiter starts over.
        let result = attempt.get_or_init(|| self.inner.open()).await.clone();
        let mut state = self.inner.state();
        if matches!(&*state, ConnectionState::Connecting(current) if Arc::ptr_eq(current, &attempt))
        {
            *state = match &result {
                Ok(connection) => ConnectionState::Open(connection.clone()),
                Err(_) => ConnectionState::Idle,
            };
        }
        result
    }
}

impl ClientInner {
    fn state(&self) -> MutexGuard<'_, ConnectionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn unreachable(&self, reason: impl Into<String>) -> PeerError {
        PeerError::Unreachable {
            target: self.target,
            addr: self.addr.clone(),
            reason: reason.into(),
            request_sent: false,
        }
    }

    /// Connects and runs the handshake, both within `connect_timeout`, then starts the
    /// connection's task.
    async fn open(&self) -> Result<Arc<Connection>, PeerError> {
        self.config
            .validate()
            .map_err(|reason| PeerError::Rejected {
                target: self.target,
                reason: format!("invalid local peer configuration: {reason}"),
            })?;
        let timeout = self.config.connect_timeout;
        let opened = tokio::time::timeout(timeout, self.connect_and_handshake()).await;
        let (stream, buf) = opened.unwrap_or_else(|_| {
            Err(self.unreachable(format!(
                "no connection within connect_timeout ({timeout:?})"
            )))
        })?;
        tracing::debug!(target_node = self.target, addr = %self.addr, "peer connection open");
        Ok(Connection::start(stream, buf, self))
    }

    async fn connect_and_handshake(&self) -> Result<(PeerStream, BytesMut), PeerError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|error| self.unreachable(format!("connect failed: {error}")))?;
        stream
            .set_nodelay(true)
            .map_err(|error| self.unreachable(format!("cannot set TCP_NODELAY: {error}")))?;
        let connector = self
            .config
            .tls
            .as_ref()
            .and_then(|tls| tls.peer_connector());
        let mut stream = match connector {
            None => PeerStream::Plain(stream),
            Some(connector) => {
                // The server's certificate must name the node this client dials.
                let name = crate::tls::node_server_name(self.target);
                let stream = connector.connect(name, stream).await.map_err(|error| {
                    tracing::warn!(target_node = self.target, addr = %self.addr, %error, "peer TLS handshake failed");
                    PeerError::Rejected {
                        target: self.target,
                        reason: format!("TLS handshake failed: {error}"),
                    }
                })?;
                PeerStream::Tls(Box::new(tokio_rustls::TlsStream::Client(stream)))
            }
        };
        let mut buf = BytesMut::new();
        handshake::connect(&mut stream, &mut buf, &self.config, self.target)
            .await
            .map_err(|error| match error {
                ConnectError::Frame(error) => self.unreachable(format!("handshake failed: {error}")),
                ConnectError::Rejected(reason) => {
                    tracing::warn!(target_node = self.target, addr = %self.addr, %reason, "peer handshake refused");
                    PeerError::Rejected {
                        target: self.target,
                        reason,
                    }
                }
                ConnectError::Protocol(reason) => PeerError::Protocol {
                    target: self.target,
                    reason: format!("in the handshake: {reason}"),
                },
            })?;
        Ok((stream, buf))
    }
}

/// One open, authenticated connection.
struct Connection {
    target: u64,
    addr: String,
    outgoing: mpsc::Sender<Frame>,
    pending: Arc<Pending>,
    request_id_next: AtomicU64,
}

impl Connection {
    /// Spawns the task that writes queued requests and routes replies; it ends when the
    /// connection breaks or when this handle is dropped (the request channel closes).
    fn start(stream: PeerStream, buf: BytesMut, client: &ClientInner) -> Arc<Connection> {
        let (outgoing, mut outgoing_rx) = mpsc::channel(OUTGOING_FRAMES_MAX);
        let pending = Arc::new(Pending::default());
        let connection = Arc::new(Connection {
            target: client.target,
            addr: client.addr.clone(),
            outgoing,
            pending: pending.clone(),
            request_id_next: AtomicU64::new(1),
        });
        let target = client.target;
        let addr = client.addr.clone();
        let frame_bytes_max = client.config.frame_bytes_max;
        tokio::spawn(async move {
            let (mut read_half, mut write_half) = tokio::io::split(stream);
            let error = tokio::select! {
                error = read_replies(&mut read_half, buf, &pending, target, frame_bytes_max) => error,
                written = frame::write_loop(&mut write_half, &mut outgoing_rx) => match written {
                    Ok(()) => FrameError::Closed,
                    Err(error) => FrameError::Io(error),
                },
            };
            let error = if error.is_protocol() {
                tracing::error!(target_node = target, %addr, %error, "closing peer connection: protocol error");
                PeerError::Protocol {
                    target,
                    reason: error.to_string(),
                }
            } else {
                tracing::debug!(target_node = target, %addr, %error, "peer connection closed");
                PeerError::Unreachable {
                    target,
                    addr,
                    reason: format!("connection lost: {error}"),
                    request_sent: true,
                }
            };
            pending.close(error);
        });
        connection
    }

    async fn call(&self, kind: u8, payload: Bytes) -> Result<Bytes, PeerError> {
        let request_id = self.request_id_next.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        self.pending.register(request_id, reply_tx)?;
        // Removes the entry if this call is dropped (timed out) before its reply.
        let _registered = Registered {
            pending: &self.pending,
            request_id,
        };
        let request = Frame::new(FrameType::Request, kind, request_id, payload);
        if self.outgoing.send(request).await.is_err() {
            return Err(self.closed_error());
        }
        match reply_rx.await {
            Ok(result) => result,
            Err(_) => Err(self.closed_error()),
        }
    }

    /// Why the connection closed (the connection task records it before it lets go of the
    /// channels, so the fallback is never expected).
    fn closed_error(&self) -> PeerError {
        self.pending
            .closed()
            .unwrap_or_else(|| PeerError::Unreachable {
                target: self.target,
                addr: self.addr.clone(),
                reason: "connection closed".to_string(),
                request_sent: true,
            })
    }
}

/// Waits for replies and hands each to its caller. Returns why it stopped.
async fn read_replies(
    reader: &mut tokio::io::ReadHalf<PeerStream>,
    mut buf: BytesMut,
    pending: &Pending,
    target: u64,
    frame_bytes_max: usize,
) -> FrameError {
    loop {
        let frame = match frame::read_frame(reader, &mut buf, frame_bytes_max).await {
            Ok(frame) => frame,
            Err(error) => return error,
        };
        let result = match (frame.version, frame.frame_type) {
            (PROTOCOL_VERSION, FrameType::Response) => Ok(frame.body),
            (PROTOCOL_VERSION, FrameType::Failure) => Err(PeerError::Remote {
                target,
                message: String::from_utf8_lossy(&frame.body).into_owned(),
            }),
            (version, frame_type) => {
                return FrameError::Unexpected {
                    version,
                    frame_type,
                }
            }
        };
        if !pending.complete(frame.request_id, result) {
            tracing::debug!(
                target_node = target,
                request_id = frame.request_id,
                "reply for a call that gave up"
            );
        }
    }
}

/// The calls waiting for a reply on one connection, and whether it is closed. Registering
/// and closing take the same lock, so no call can be left waiting on a closed connection.
#[derive(Default)]
struct Pending {
    state: Mutex<PendingState>,
}

#[derive(Default)]
struct PendingState {
    calls: HashMap<u64, oneshot::Sender<Result<Bytes, PeerError>>>,
    closed: Option<PeerError>,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        request_id: u64,
        reply: oneshot::Sender<Result<Bytes, PeerError>>,
    ) -> Result<(), PeerError> {
        let mut state = self.lock();
        if let Some(error) = &state.closed {
            return Err(error.clone());
        }
        state.calls.insert(request_id, reply);
        Ok(())
    }

    /// Delivers a reply; false if nobody waits for `request_id` any more.
    fn complete(&self, request_id: u64, result: Result<Bytes, PeerError>) -> bool {
        let reply = self.lock().calls.remove(&request_id);
        reply.is_some_and(|reply| reply.send(result).is_ok())
    }

    fn forget(&self, request_id: u64) {
        self.lock().calls.remove(&request_id);
    }

    /// Marks the connection closed (first reason wins) and fails every waiting call with it.
    fn close(&self, error: PeerError) {
        let calls = {
            let mut state = self.lock();
            let error = state.closed.get_or_insert(error).clone();
            std::mem::take(&mut state.calls)
                .into_values()
                .map(move |reply| (reply, error.clone()))
                .collect::<Vec<_>>()
        };
        for (reply, error) in calls {
            let _ = reply.send(Err(error));
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    fn closed(&self) -> Option<PeerError> {
        self.lock().closed.clone()
    }
}

struct Registered<'a> {
    pending: &'a Pending,
    request_id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.pending.forget(self.request_id);
    }
}
