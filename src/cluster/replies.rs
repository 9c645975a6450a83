//! Reply delivery: the callers waiting for one proposal, answered once openraft reports its
//! outcome. Each op gets exactly one answer: its reply, or an error if the entry could not be
//! committed. On a member of a multi-node cluster a reply waits for the zone rule, and a batch
//! whose entry a leader change discarded is re-routed to the new leader.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::Cluster;
use crate::command::Reply;
use crate::error::Error;
use crate::raft::{FlushSlot, NodeId, NodeInfo, Op, TypeConfig};

/// Where one op's reply goes, and whether the op is a follower's, forwarded to this node.
///
/// A forwarded op is never sent on to another node: if this node cannot propose it (it stopped
/// leading), or a leader change discards its entry, the op is answered [`Error::NotLeader`]
/// (never applied) and the follower that sent it routes it again. Sending it on instead could
/// send it back to that follower, whose batcher holds its only unflushed slot for this very
/// batch until this node answers: neither side would move until the forward timed out.
pub(crate) struct ReplySender {
    tx: oneshot::Sender<Result<Reply, Error>>,
    forwarded: bool,
}

impl ReplySender {
    /// The reply channel of an op queued on this node: `forwarded` if a follower sent it.
    pub(crate) fn new(tx: oneshot::Sender<Result<Reply, Error>>, forwarded: bool) -> Self {
        ReplySender { tx, forwarded }
    }

    pub(crate) fn send(self, result: Result<Reply, Error>) -> Result<(), Result<Reply, Error>> {
        self.tx.send(result)
    }

    /// True once the caller stopped waiting (its connection closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub(crate) fn is_forwarded(&self) -> bool {
        self.forwarded
    }
}

/// The write path's hold on one batch while it is in flight (the batcher's limits and its
/// timing, `crate::node`): the cluster carries it with the batch wherever the batch goes, and
/// lets go of it once the batch is answered (or dropped).
pub(crate) trait BatchHold: Send + 'static {
    /// The slot the local log store frees once the batch's entry is fsynced here.
    fn unflushed(&self) -> FlushSlot;

    /// Frees the hold once openraft has reported the batch's outcome, before any caller hears
    /// back (so a caller that then reads the write path's statistics finds its batch in them).
    fn answered(self: Box<Self>);
}

/// The callers waiting for one proposal, and the batcher's in-flight hold it occupies.
pub(crate) struct Replies {
    pub senders: Vec<ReplySender>,
    pub slot: Option<Box<dyn BatchHold>>,
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
            slot,
            cluster,
        } = self;
        if let Some(slot) = slot {
            slot.answered();
        }
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

fn client_write_error(e: openraft::error::ClientWriteError<NodeId, NodeInfo>) -> Error {
    use openraft::error::ClientWriteError;
    match e {
        ClientWriteError::ForwardToLeader(f) => Error::NotLeader {
            leader: f.leader_id,
        },
        ClientWriteError::ChangeMembershipError(c) => Error::Command(format!("ERR {c}")),
    }
}
