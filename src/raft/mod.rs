//! The consensus side of a node: openraft's type configuration, the log store (on the WAL),
//! the state machine (on the keyspace) and the peer network.
//!
//! openraft decides what is committed; this module only stores and applies. Every log entry
//! carries its term in the WAL record header, and apply is a pure function of the log.

mod log_store;
mod network;
mod proposal;
pub mod rpc;
mod state_machine;

use std::fmt;

use serde::{Deserialize, Serialize};

pub(crate) use log_store::decode_entry;
pub use log_store::{
    LogCacheStats, LogRecoveryError, LogStore, LogStoreMeta, WeakLogStore,
    LOG_CACHE_BYTES_MAX_DEFAULT, READ_BACK_BYTES_MAX,
};
pub use network::PeerNetwork;
pub(crate) use proposal::FlushSlot;
pub use proposal::{Op, Proposal};
pub use state_machine::{SmShared, StateMachine};

use crate::command::Reply;

/// Identity of a node inside one Raft group.
pub type NodeId = u64;

/// What the cluster knows about a member: where to reach it and which zone it lives in.
///
/// Zones are labels; the zone rule (an ack needs fsyncs in `min_ack_zones` zones) reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub zone: String,
    pub peer_addr: String,
    pub client_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "zone={} peer={} client={}",
            self.zone, self.peer_addr, self.client_addr
        )
    }
}

openraft::declare_raft_types!(
    /// openraft's type configuration for a Tandem group.
    pub TypeConfig:
        D = Proposal,
        R = Vec<Reply>,
        NodeId = NodeId,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, NodeInfo>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, NodeInfo>;

/// The WAL record kind used for openraft log entries (the only kind so far).
pub const RECORD_KIND_ENTRY: u8 = 1;

/// Wraps any error as an openraft storage error on the log.
pub(crate) fn log_io_error(
    subject: openraft::ErrorSubject<NodeId>,
    verb: openraft::ErrorVerb,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&error)).into()
}
