//! The payload of one log entry: a batch of operations stamped with the leader's clock, and the
//! replies that go back to each operation's caller once openraft reports the outcome.
//!
//! Apply reads time only from `time_ms`, never from the local clock, so every replica computes
//! the same expiries. The batcher keeps `time_ms` non-decreasing along the log. Each op gets
//! exactly one answer: its reply, or an error if the entry could not be committed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::TypeConfig;
use crate::cluster::Cluster;
use crate::command::{Command, Reply, Transaction};
use crate::error::Error;

/// One log entry's worth of client work.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Wall-clock milliseconds on the proposing leader; the "now" of every op in the batch.
    pub time_ms: u64,
    pub ops: Vec<Op>,
}

impl Proposal {
    pub fn new(time_ms: u64, ops: Vec<Op>) -> Self {
        Self { time_ms, ops }
    }
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposal")
            .field("time_ms", &self.time_ms)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
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

/// One client-visible operation inside a batch; each yields exactly one reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Command(Command),
    Transaction(Transaction),
    /// Removes those keys that are still expired at the entry's time (proposed by the leader's
    /// expiry sweeper; replies with the number removed).
    PurgeExpired(Vec<bytes::Bytes>),
}

/// Where one op's reply goes.
pub(crate) type ReplySender = oneshot::Sender<Result<Reply, Error>>;

/// The callers waiting for one proposal, and the batcher's in-flight slot it occupies.
pub(crate) struct Replies {
    pub senders: Vec<ReplySender>,
    pub permit: Option<OwnedSemaphorePermit>,
    /// On a member of a multi-node cluster: the cluster (which holds replies back until the
    /// zone rule is met) and a copy of the ops, re-routed to the new leader if a leader change
    /// discards this entry before it commits.
    pub cluster: Option<(Arc<Cluster>, Vec<Op>)>,
}

impl Replies {
    /// Answers every caller with the outcome of the proposal (None: openraft stopped before
    /// answering, so whether the entry became durable is unknown and callers get a fatal
    /// error, never "not applied").
    pub(crate) fn deliver(self, result: Option<openraft::raft::ClientWriteResult<TypeConfig>>) {
        let Replies {
            senders,
            permit,
            cluster,
        } = self;
        // The next batch may go now: while this one was in flight, writes piled up.
        drop(permit);
        match (result, cluster) {
            (None, _) => {
                for tx in senders {
                    let _ = tx.send(Err(Error::Fatal {
                        reason: "consensus engine stopped before answering".into(),
                    }));
                }
            }
            (Some(Ok(response)), Some((cluster, _))) => {
                debug_assert_eq!(response.data.len(), senders.len());
                cluster.acknowledge(response.log_id.index, response.data, senders);
            }
            (Some(Ok(response)), None) => {
                debug_assert_eq!(response.data.len(), senders.len());
                for (reply, tx) in response.data.into_iter().zip(senders) {
                    let _ = tx.send(Ok(reply));
                }
            }
            // The entry was never appended here, or a new leader truncated it: it will never
            // be applied, so its ops may safely go to the new leader.
            (
                Some(Err(openraft::error::ClientWriteError::ForwardToLeader(_))),
                Some((cluster, ops)),
            ) => cluster.resubmit(ops, senders),
            (Some(Err(e)), _) => {
                let error = client_write_error(e);
                for tx in senders {
                    let _ = tx.send(Err(error.clone()));
                }
            }
        }
    }
}

fn client_write_error(
    e: openraft::error::ClientWriteError<super::NodeId, super::NodeInfo>,
) -> Error {
    use openraft::error::ClientWriteError;
    match e {
        ClientWriteError::ForwardToLeader(f) => Error::NotLeader {
            leader: f.leader_id,
        },
        ClientWriteError::ChangeMembershipError(c) => Error::Command(format!("ERR {c}")),
    }
}
