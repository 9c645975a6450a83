//! A node as one member of a replicated group: who its peers are, how writes and reads reach the
//! leader, when an acknowledgement may be sent (the zone rule), and the operator's tools
//! (status, check, membership changes, leader transfer, the leadership-change hook).
//!
//! openraft decides leadership and commitment; this module only routes work to the leader and
//! holds replies back until the contract allows them (docs/guarantees.md).

// `Cluster` lives in a file named after it, like every main type.
#[allow(clippy::module_inception)]
mod cluster;
mod failover;
mod gates;
mod handler;
mod hook;
mod membership;
mod pubsub;
mod replies;
pub mod rpc;
pub mod status;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use cluster::{Cluster, ClusterStats, ReadConsistency, Readiness, READY_APPLY_BACKLOG_MAX};
pub(crate) use cluster::{Submitted, WritePath};
pub(crate) use handler::PeerService;
pub use pubsub::{PublishRequest, Publisher, PUBLISH_TIMEOUT};
pub(crate) use replies::{BatchHold, ReplySender};
pub use status::{ClusterStatus, NodeReport};

use crate::raft::NodeId;

/// Wall-clock milliseconds since the Unix epoch: the leader's clock, from which each log entry's
/// time is taken (apply never reads a clock).
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a node reads the wall clock for the time it stamps into the entries it proposes as
/// leader and for the time its reads judge expiry by: the system clock unless another source
/// is injected (the simulator gives each node its own skewed clock). Only these two uses go
/// through it; apply never reads a clock.
#[derive(Clone, Default)]
pub struct WallClock(Option<std::sync::Arc<dyn Fn() -> u64 + Send + Sync>>);

impl WallClock {
    /// The system clock ([`wall_clock_ms`]).
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that answers `now_ms()` (milliseconds since the Unix epoch).
    pub fn from_fn(now_ms: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Self(Some(std::sync::Arc::new(now_ms)))
    }

    /// Milliseconds since the Unix epoch by this clock.
    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            None => wall_clock_ms(),
            Some(now_ms) => now_ms(),
        }
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_none() {
            "WallClock::system"
        } else {
            "WallClock::custom"
        })
    }
}

/// Default heartbeat interval (LAN).
pub const HEARTBEAT_INTERVAL_DEFAULT: Duration = Duration::from_millis(50);
/// Default lower bound of the randomized election timeout.
///
/// A leader that goes silent (machine lost, partition) is replaced after about one leader
/// lease (= the upper bound) plus one election timeout, so the bounds set that failover time
/// (a leader whose process dies is noticed sooner: `LEADER_PROBE_DEFAULT`): measured with `cargo bench --bench failover` (20 trials),
/// 300-600 ms gave a median of 1,078 ms, 200-400 ms 705 ms, 150-300 ms 548 ms. 200-400 keeps the
/// median well under a second while leaving 4 heartbeats before a follower may campaign.
pub const ELECTION_TIMEOUT_MIN_DEFAULT: Duration = Duration::from_millis(200);
/// Default upper bound of the randomized election timeout (also openraft's leader lease: a
/// follower refuses to vote for this long after it last heard from a leader).
pub const ELECTION_TIMEOUT_MAX_DEFAULT: Duration = Duration::from_millis(400);
/// Default deadline of the probe a follower sends its leader when the leader's connection to it
/// resets (fast failover, `failover.rs`): a refused connection within it means the leader's
/// process is gone and the follower campaigns at once instead of waiting out the lease.
pub const LEADER_PROBE_DEFAULT: Duration = Duration::from_millis(30);
/// Default bound on how stale a `READONLY` read on a follower may be.
pub const STALE_READ_LAG_MAX_DEFAULT: Duration = Duration::from_millis(1_000);
/// Default time a write or read waits for a leader to be elected before it is refused.
pub const LEADER_WAIT_DEFAULT: Duration = Duration::from_millis(3_000);
/// Default number of distinct zones whose nodes must have fsynced a write before it is
/// acknowledged (clusters; a single voter has one zone and uses 1).
pub const MIN_ACK_ZONES_DEFAULT: usize = 2;

/// One configured peer: `ID@HOST:PORT` (the peer listener of that node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub id: NodeId,
    pub addr: String,
}

impl FromStr for PeerAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (id, addr) = text
            .split_once('@')
            .ok_or_else(|| format!("peer '{text}' is not ID@HOST:PORT"))?;
        let id: NodeId = id
            .parse()
            .map_err(|_| format!("peer '{text}': node id '{id}' is not a positive integer"))?;
        if id == 0 {
            return Err(format!("peer '{text}': node ids start at 1"));
        }
        if addr
            .rsplit_once(':')
            .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(format!("peer '{text}': '{addr}' is not HOST:PORT"));
        }
        Ok(Self {
            id,
            addr: addr.to_string(),
        })
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// How a node takes part in a cluster. Without it, a node is a single voter.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Address the peer transport listens on.
    pub peer_listen: String,
    /// The other members this node starts with (the initial cluster, or nodes to contact).
    pub peers: Vec<PeerAddr>,
    /// Shared secret proven in the peer handshake; a process without it cannot join or vote.
    pub cluster_secret: Vec<u8>,
    /// Must match on every node (guards against wiring two clusters together).
    pub cluster_name: String,
    /// The client (RESP) address other nodes and clients are told to use for this node.
    pub client_addr: String,
    pub min_ack_zones: usize,
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub stale_read_lag_max: Duration,
    pub leader_wait: Duration,
    /// Deadline of the liveness probe behind fast failover; None turns fast failover off (a
    /// dead leader is then noticed by the election timeout alone).
    pub leader_probe: Option<Duration>,
    /// Command run (by `sh -c`) on a node when it becomes leader.
    pub on_leader_change: Option<String>,
    /// `tls-cluster yes`: peer connections run over mutual TLS with this configuration (the
    /// cluster secret handshake still runs inside it).
    pub peer_tls: Option<std::sync::Arc<crate::tls::TlsState>>,
    /// The wall clock this node stamps proposals and judges reads' expiry by (the system
    /// clock by default).
    pub clock: WallClock,
}

impl ClusterOptions {
    pub fn new(peer_listen: impl Into<String>, cluster_secret: impl Into<Vec<u8>>) -> Self {
        Self {
            peer_listen: peer_listen.into(),
            peers: Vec::new(),
            cluster_secret: cluster_secret.into(),
            cluster_name: "tandem".into(),
            client_addr: String::new(),
            min_ack_zones: MIN_ACK_ZONES_DEFAULT,
            heartbeat_interval: HEARTBEAT_INTERVAL_DEFAULT,
            election_timeout_min: ELECTION_TIMEOUT_MIN_DEFAULT,
            election_timeout_max: ELECTION_TIMEOUT_MAX_DEFAULT,
            stale_read_lag_max: STALE_READ_LAG_MAX_DEFAULT,
            leader_wait: LEADER_WAIT_DEFAULT,
            leader_probe: Some(LEADER_PROBE_DEFAULT),
            on_leader_change: None,
            peer_tls: None,
            clock: WallClock::system(),
        }
    }

    /// Checks what can be checked before the node starts; the reason names the setting.
    pub fn validate(&self, node_id: NodeId) -> Result<(), String> {
        if self.cluster_secret.len() < 16 {
            return Err(
                "cluster_secret must be at least 16 bytes (every node uses the same one; \
                 generate one with e.g. `openssl rand -hex 32`)"
                    .into(),
            );
        }
        if self.min_ack_zones == 0 {
            return Err("min_ack_zones must be at least 1".into());
        }
        if self.heartbeat_interval.is_zero()
            || self.election_timeout_min <= self.heartbeat_interval
            || self.election_timeout_max <= self.election_timeout_min
        {
            return Err(format!(
                "timeouts must satisfy 0 < heartbeat ({} ms) < election_timeout_min ({} ms) < \
                 election_timeout_max ({} ms)",
                self.heartbeat_interval.as_millis(),
                self.election_timeout_min.as_millis(),
                self.election_timeout_max.as_millis()
            ));
        }
        if let Some(probe) = self.leader_probe {
            if probe.is_zero() || probe >= self.election_timeout_min {
                return Err(format!(
                    "leader_probe_ms ({} ms) must be above 0 and below election_timeout_min ({} ms); 0 turns the probe off",
                    probe.as_millis(),
                    self.election_timeout_min.as_millis()
                ));
            }
        }
        let mut ids = vec![node_id];
        for peer in &self.peers {
            if ids.contains(&peer.id) {
                return Err(format!(
                    "peer id {} appears twice (or is this node's own id)",
                    peer.id
                ));
            }
            ids.push(peer.id);
        }
        Ok(())
    }
}
