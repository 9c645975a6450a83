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

/// Where one op's reply goes.
pub(crate) type ReplySender = oneshot::Sender<Result<Reply, Error>>;

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
