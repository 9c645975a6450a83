//! The payload of one log entry: a batch of operations stamped with the leader's clock, and the
//! responder that hands each operation's reply back to its caller.
//!
//! Apply reads time only from `time_ms`, never from the local clock, so every replica computes
//! the same expiries. The batcher keeps `time_ms` non-decreasing along the log. Each op gets
//! exactly one answer: its reply, or an error if the entry could not be committed.

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::TypeConfig;
use crate::command::{Command, Reply, Transaction};
use crate::error::Error;

/// One log entry's worth of client work.
#[derive(Serialize, Deserialize)]
pub struct Proposal {
    /// Wall-clock milliseconds on the proposing leader; the "now" of every op in the batch.
    pub time_ms: u64,
    pub ops: Vec<Op>,
    /// Where the replies go; present only on the leader between the batcher and openraft, never
    /// in the log.
    #[serde(skip)]
    pub(crate) replies: Option<Replies>,
}

impl Proposal {
    pub fn new(time_ms: u64, ops: Vec<Op>) -> Self {
        Self {
            time_ms,
            ops,
            replies: None,
        }
    }
}

impl Clone for Proposal {
    /// Copies of an entry (log cache, replication) never carry the callers' reply channels.
    fn clone(&self) -> Self {
        Self::new(self.time_ms, self.ops.clone())
    }
}

impl PartialEq for Proposal {
    fn eq(&self, other: &Self) -> bool {
        self.time_ms == other.time_ms && self.ops == other.ops
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

/// The callers waiting for one proposal, and the batcher's in-flight slot it occupies.
pub(crate) struct Replies {
    pub senders: Vec<oneshot::Sender<Result<Reply, Error>>>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// openraft's responder for a proposal: answers every caller directly from the task that
/// learns the outcome, with no task in between.
pub struct ReplyResponder {
    replies: Option<Replies>,
}

impl openraft::raft::responder::Responder<TypeConfig> for ReplyResponder {
    type Receiver = ();

    fn from_app_data(mut app_data: Proposal) -> (Proposal, Self, ()) {
        let replies = app_data.replies.take();
        (app_data, Self { replies }, ())
    }

    fn send(mut self, result: openraft::raft::ClientWriteResult<TypeConfig>) {
        let Some(Replies { senders, permit }) = self.replies.take() else {
            return;
        };
        match result {
            Ok(response) => {
                debug_assert_eq!(response.data.len(), senders.len());
                for (reply, tx) in response.data.into_iter().zip(senders) {
                    let _ = tx.send(Ok(reply));
                }
            }
            Err(e) => {
                let error = client_write_error(e);
                for tx in senders {
                    let _ = tx.send(Err(error.clone()));
                }
            }
        }
        // The next batch may go only now: while this one was in flight, writes piled up.
        drop(permit);
    }
}

impl Drop for ReplyResponder {
    /// Dropped unanswered: the consensus engine stopped. Whether the entry became durable is
    /// unknown, so callers get a fatal error, never "not applied".
    fn drop(&mut self) {
        if let Some(Replies { senders, permit }) = self.replies.take() {
            drop(permit);
            for tx in senders {
                let _ = tx.send(Err(Error::Fatal {
                    reason: "consensus engine stopped before answering".into(),
                }));
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
