//! The peer transport: an authenticated, multiplexed request/response layer over TCP.
//!
//! It moves opaque `(kind, payload)` requests from a [`PeerClient`] to the [`PeerHandler`] behind
//! a [`PeerServer`] and the handler's reply back; what the bytes mean belongs to the layer above
//! (the raft network). Invariants: no request reaches a handler before both sides proved they
//! know the cluster secret; every call ends in exactly one reply or one [`PeerError`]; nothing is
//! allocated from a length a peer claims. Wire format: `docs/formats.md`, "Peer transport".

mod client;
mod frame;
mod handshake;
mod server;
mod stream;
mod transport;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use client::PeerClient;
pub use server::PeerServer;
pub use transport::{BoxFuture, PeerLink, PeerListener, PeerTransport, TcpTransport};

/// Longest cluster name, in bytes (it travels in the handshake).
pub const CLUSTER_NAME_BYTES_MAX: usize = 255;

/// How a node takes part in the peer protocol.
#[derive(Clone)]
pub struct PeerConfig {
    /// This node's id, sent in the handshake (0 = a tool, not a member).
    pub node_id: u64,
    /// Must be equal on both sides (at most [`CLUSTER_NAME_BYTES_MAX`] bytes).
    pub cluster_name: String,
    /// The shared secret; never sent on the wire. Must not be empty.
    pub cluster_secret: Vec<u8>,
    /// Bound on opening a connection: TCP connect and the handshake together.
    pub connect_timeout: Duration,
    /// Largest frame body accepted or sent; a bigger one is a protocol error.
    pub frame_bytes_max: usize,
    /// Mutual TLS under the frames (`tls-cluster yes`): the server requires a client
    /// certificate naming `tandem-node-<id>` for the id the client announces, and the client
    /// requires the server's certificate to name the node it dials.
    pub tls: Option<std::sync::Arc<crate::tls::TlsState>>,
}

impl PeerConfig {
    pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_millis(500);
    pub const FRAME_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;

    pub fn new(node_id: u64, cluster_name: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        PeerConfig {
            node_id,
            cluster_name: cluster_name.into(),
            cluster_secret: secret.into(),
            connect_timeout: Self::CONNECT_TIMEOUT_DEFAULT,
            frame_bytes_max: Self::FRAME_BYTES_MAX_DEFAULT,
            tls: None,
        }
    }

    /// The same configuration over mutual TLS (None: plaintext).
    pub fn with_tls(mut self, tls: Option<std::sync::Arc<crate::tls::TlsState>>) -> Self {
        self.tls = tls;
        self
    }

    /// Checks what the handshake and the frame header can carry; an empty secret is refused
    /// because it would let anyone in.
    pub fn validate(&self) -> Result<(), String> {
        if self.cluster_secret.is_empty() {
            return Err("the cluster secret is empty".to_string());
        }
        if self.cluster_name.len() > CLUSTER_NAME_BYTES_MAX {
            return Err(format!(
                "the cluster name is {} bytes, more than {CLUSTER_NAME_BYTES_MAX}",
                self.cluster_name.len()
            ));
        }
        if self.frame_bytes_max > u32::MAX as usize {
            return Err(format!(
                "frame_bytes_max {} does not fit the 32-bit frame length",
                self.frame_bytes_max
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for PeerConfig {
    /// Everything but the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("node_id", &self.node_id)
            .field("cluster_name", &self.cluster_name)
            .field("cluster_secret", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("frame_bytes_max", &self.frame_bytes_max)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The future a [`PeerHandler`] returns.
pub type HandlerFuture =
    Pin<Box<dyn Future<Output = Result<bytes::Bytes, String>> + Send + 'static>>;

/// What the server side does with one request. `kind` and `payload` are opaque to the transport.
///
/// `from` is the node id the client announced in its handshake. Over plaintext the handshake
/// proves only that the client knows the cluster secret, not which member it is: check `from`
/// against the membership before trusting it. With TLS, `from` is also the id its certificate
/// names. Each request runs in its own task; a panic in the handler is
/// caught and answered as an error.
pub trait PeerHandler: Send + Sync + 'static {
    fn handle(&self, from: u64, kind: u8, payload: bytes::Bytes) -> HandlerFuture;

    /// Called when an authenticated connection from node `from` ended because the other side
    /// went away (end of stream or a reset), not because this server shut down or refused a
    /// malformed frame. A peer whose process dies resets all its connections at once, so this
    /// is the earliest sign of its death; it must return quickly (spawn any real work).
    fn connection_lost(&self, from: u64) {
        let _ = from;
    }
}

/// Why a call did not get the handler's reply.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// Connecting failed (`request_sent: false`: nothing was sent), or the connection was lost
    /// before the reply came (the request may or may not have been handled).
    #[error("node {target} at {addr} is unreachable: {reason}")]
    Unreachable {
        target: u64,
        addr: String,
        reason: String,
        /// False when no connection was established, so the request never left this node
        /// (nothing it asked for can have happened); true when a connection broke while the
        /// request was in flight (it may have been handled).
        request_sent: bool,
    },
    /// No reply within the call's timeout. The request may or may not have been handled.
    #[error("node {target} did not answer within {after:?}")]
    Timeout { target: u64, after: Duration },
    /// The handshake was refused (wrong secret, cluster name, protocol version or node id).
    #[error("node {target} refused the connection: {reason}")]
    Rejected { target: u64, reason: String },
    /// The remote handler returned `Err(message)`.
    #[error("node {target} failed the request: {message}")]
    Remote { target: u64, message: String },
    /// A malformed or oversized frame, sent or received.
    #[error("protocol error with node {target}: {reason}")]
    Protocol { target: u64, reason: String },
}

impl PeerError {
    /// The node the failed call was for.
    pub fn target(&self) -> u64 {
        match self {
            PeerError::Unreachable { target, .. }
            | PeerError::Timeout { target, .. }
            | PeerError::Rejected { target, .. }
            | PeerError::Remote { target, .. }
            | PeerError::Protocol { target, .. } => *target,
        }
    }

    /// True when the request certainly never reached the peer's handler.
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            PeerError::Unreachable {
                request_sent: false,
                ..
            } | PeerError::Rejected { .. }
        )
    }
}
