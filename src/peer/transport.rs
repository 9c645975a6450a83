//! The seam under the peer layer, as `Vfs` is under the WAL: how a node opens links to its
//! peers and how it is reached by them.
//!
//! The default, [`TcpTransport`], is the real one (TCP, mutual TLS with `tls-cluster yes`):
//! its clients and servers are the plain [`PeerClient`] and [`PeerServer`], with no extra task,
//! channel or allocation per call. Another transport (the deterministic simulator's in-memory
//! network, `tests/simulation/`) wraps its own [`PeerLink`] and [`PeerListener`] in the same two
//! types, so nothing above this module knows which one it runs on. A transport must keep the
//! contract of [`PeerClient::call`]: exactly one reply or one [`PeerError`] per call, within
//! the call's timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{PeerClient, PeerConfig, PeerError, PeerHandler, PeerServer};

/// A boxed, sendable future (what the transport traits return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a node's peer traffic moves. One transport serves a whole node: every client it makes
/// and the one server it binds.
pub trait PeerTransport: Send + Sync + std::fmt::Debug + 'static {
    /// A client for node `target` at `addr`; nothing is sent until the first call.
    fn client(&self, target: u64, addr: &str, config: Arc<PeerConfig>) -> PeerClient;

    /// Starts serving peers at `addr` with `handler`.
    fn bind(
        &self,
        addr: &str,
        config: Arc<PeerConfig>,
        handler: Arc<dyn PeerHandler>,
    ) -> BoxFuture<'static, io::Result<PeerServer>>;
}

/// The calling side of a transport other than TCP: one link per target node.
pub trait PeerLink: Send + Sync + 'static {
    /// Sends one request and waits for its reply, at most `timeout` in all.
    fn call(
        &self,
        kind: u8,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Bytes, PeerError>>;

    /// Drops the current connection, if the transport has one; calls in flight fail.
    fn disconnect(&self) {}
}

/// The serving side of a transport other than TCP.
pub trait PeerListener: Send + Sync + 'static {
    /// The address peers reach this node at.
    fn local_addr(&self) -> SocketAddr;
    /// Stops serving: no request reaches the handler after this returns.
    fn shutdown(&self);
    /// Waits until serving has stopped (after `shutdown`).
    fn closed(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// The real transport: TCP, with mutual TLS when the configuration carries it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpTransport;

impl PeerTransport for TcpTransport {
    fn client(&self, target: u64, addr: &str, config: Arc<PeerConfig>) -> PeerClient {
        PeerClient::new(target, addr, config)
    }

    fn bind(
        &self,
        addr: &str,
        config: Arc<PeerConfig>,
        handler: Arc<dyn PeerHandler>,
    ) -> BoxFuture<'static, io::Result<PeerServer>> {
        let addr = addr.to_string();
        Box::pin(async move { PeerServer::bind(&addr, config, handler).await })
    }
}
