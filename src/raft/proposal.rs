//! The payload of one log entry: a batch of operations stamped with the leader's clock.
//!
//! Apply reads time only from `time_ms`, never from the local clock, so every replica computes
//! the same expiries. The batcher keeps `time_ms` non-decreasing along the log.

use serde::{Deserialize, Serialize};

use crate::command::{Command, Transaction};

/// One log entry's worth of client work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Wall-clock milliseconds on the proposing leader; the "now" of every op in the batch.
    pub time_ms: u64,
    pub ops: Vec<Op>,
}

/// One client-visible operation inside a batch; each yields exactly one reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Command(Command),
    Transaction(Transaction),
    /// Removes those keys that are still expired at the entry's time (proposed by the leader's
    /// expiry sweeper; replies with the number removed).
    PurgeExpired(Vec<bytes::Bytes>),
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proposal(time_ms={}, ops={})",
            self.time_ms,
            self.ops.len()
        )
    }
}
