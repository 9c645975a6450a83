//! Errors of the embedded API.
//!
//! `Error` separates what a caller can act on (a command rejected with a Redis-style error, the
//! node shutting down, a different leader) from what is fatal to this node (the log is poisoned,
//! consensus stopped). `OpenError` covers everything that stops a node from starting.

use std::path::PathBuf;

use crate::raft::NodeId;

/// Why a call on [`crate::Db`] did not succeed.
///
/// Serializable, because a follower forwards writes to the leader and hands the leader's answer
/// (reply or error) back to its own caller unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The command was applied or parsed and answered with an error, exactly as Redis would
    /// (`WRONGTYPE ...`, `ERR value is not an integer or out of range`, ...). Nothing changed.
    #[error("{0}")]
    Command(String),
    /// The command was refused before it reached the log; the text says why.
    #[error("BUSY {reason}")]
    Busy {
        reason: String,
        /// When a retry may be admitted (0: no hint).
        retry_after_ms: u64,
    },
    /// This node is not the leader; the write was not proposed.
    #[error("MOVED this node is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    /// No leader was elected within the wait bound; the write was not proposed.
    #[error(
        "CLUSTERDOWN no leader elected within {waited_ms} ms; the write was not applied, retry"
    )]
    NoLeader { waited_ms: u64 },
    /// This node leads but cannot confirm it with a quorum (it may be cut off): it serves no
    /// linearizable read and acknowledges no write until it can.
    #[error("CLUSTERDOWN {reason}")]
    NoQuorum { reason: String },
    /// The write was sent towards a leader that failed or lost leadership before answering: it
    /// may or may not have been applied. Retry only if the command is safe to apply twice.
    #[error("TRYAGAIN {reason}; the write may or may not have been applied")]
    Uncertain { reason: String },
    /// The write was definitely not applied, and never will be: its session's outcome query
    /// fenced it after it got no reply within its deadline.
    #[error("ERR not applied: {reason}")]
    NotApplied { reason: String },
    /// A stale read (`READONLY`) was refused because this replica has not heard from its
    /// leader within the configured bound.
    #[error("STALE this replica {} (limit {limit_ms} ms); send READWRITE or use another node", stale_lag_text(*lag_ms))]
    Stale {
        /// Milliseconds since it last heard from its leader; `u64::MAX` = never.
        lag_ms: u64,
        limit_ms: u64,
    },
    /// The node is shutting down or has shut down; the write was not proposed.
    #[error("ERR the node is shutting down")]
    ShuttingDown,
    /// The node can no longer acknowledge writes (for example, the WAL was poisoned by an I/O
    /// error). Whether an in-flight write became durable is unknown.
    #[error("ERR node failed and stopped acknowledging writes: {reason}")]
    Fatal { reason: String },
    /// The write does not fit in one log entry; it was not proposed.
    #[error("ERR the write is too large for one log entry: {bytes} bytes encoded, at most {max} (batch limit entry_bytes_max)")]
    TooLarge { bytes: usize, max: usize },
}

fn stale_lag_text(lag_ms: u64) -> String {
    if lag_ms == u64::MAX {
        "has not heard from a leader since it started".into()
    } else {
        format!("last heard from its leader {lag_ms} ms ago")
    }
}

impl Error {
    /// The typed [`CommandError`](crate::command::CommandError) behind an `Error::Command`
    /// (`WRONGTYPE ...`, `ERR value is not an integer or out of range`, ...), when the command
    /// layer defines it; `None` for other errors and for texts with details in them.
    pub fn command_error(&self) -> Option<crate::command::CommandError> {
        match self {
            Error::Command(text) => crate::command::CommandError::from_text(text),
            _ => None,
        }
    }

    /// True for errors after which this node will never acknowledge another write.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Fatal { .. })
    }
}

/// Why [`crate::NodeBuilder::open`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {path} is in use by another Tandem process (lock file held); stop that process or choose another --data directory")]
    Locked { path: PathBuf },
    #[error("write-ahead log: {0}")]
    Wal(#[from] crate::wal::WalError),
    #[error("raft log: {0}")]
    Log(#[from] crate::raft::LogRecoveryError),
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::snapshot::SnapshotError),
    #[error("consensus engine: {reason}")]
    Raft { reason: String },
    #[error("invalid configuration: {reason}")]
    Config { reason: String },
}
