//! The two gates a reply passes on a cluster leader.
//!
//! `ReadGate`: a linearizable read waits until the leader has confirmed, with a quorum, that it
//! still leads (openraft's read-index, `ensure_linearizable`). Reads that arrive while a
//! confirmation is running wait for the next one, so one quorum round serves a whole burst.
//!
//! `ZoneGate`: openraft commits an entry once a majority has fsynced it; the contract also
//! requires fsyncs in `min_ack_zones` distinct zones. When every possible majority already spans
//! that many zones (three voters in three zones) the gate is open; otherwise replies wait until
//! the leader's replication progress shows the entry flushed in enough zones.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::replies::ReplySender;
use crate::command::Reply;
use crate::error::Error;
use crate::raft::{NodeId, NodeInfo, Raft};

type Metrics = openraft::RaftMetrics<NodeId, NodeInfo>;

/// The pause between two leadership confirmations for reads when one missed a quorum.
const READ_CONFIRM_RETRY: Duration = Duration::from_millis(10);

#[derive(Default)]
struct ReadGateState {
    running: bool,
    waiters: Vec<oneshot::Sender<Result<(), Error>>>,
}

/// Batches leadership confirmations for linearizable reads.
#[derive(Default)]
pub(crate) struct ReadGate {
    state: Mutex<ReadGateState>,
}

impl ReadGate {
    /// Returns once a quorum confirmation that started after this call has succeeded and the
    /// state machine has applied everything committed before it, and at least `floor`.
    pub(crate) async fn confirm(
        self: &Arc<Self>,
        raft: &Raft,
        timeout: Duration,
        floor: u64,
    ) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let start_driver = {
            let mut state = self.state.lock().expect("read gate lock");
            state.waiters.push(tx);
            !std::mem::replace(&mut state.running, true)
        };
        if start_driver {
            tokio::spawn(self.clone().drive(raft.clone(), timeout));
        }
        rx.await.unwrap_or(Err(Error::ShuttingDown))?;
        if raft.metrics().borrow().last_applied.map_or(0, |l| l.index) >= floor {
            return Ok(());
        }
        raft.wait(Some(timeout))
            .applied_index_at_least(Some(floor), "linearizable read: leadership floor")
            .await
            .map(|_| ())
            .map_err(|_| Error::NoQuorum {
                reason: format!(
                    "this leader has not committed its log up to index {floor} within {} ms",
                    timeout.as_millis()
                ),
            })
    }

    async fn drive(self: Arc<Self>, raft: Raft, timeout: Duration) {
        loop {
            let waiters = {
                let mut state = self.state.lock().expect("read gate lock");
                if state.waiters.is_empty() {
                    state.running = false;
                    return;
                }
                std::mem::take(&mut state.waiters)
            };
            let result = confirm_leadership(&raft, timeout).await;
            for waiter in waiters {
                let _ = waiter.send(result.clone());
            }
        }
    }
}

/// One leadership confirmation, retried within `timeout` while the leader only missed a quorum.
///
/// openraft's read-index sends one round of heartbeats and gives each follower a heartbeat
/// interval to answer; on a loaded machine both followers can miss that while the leader still
/// leads (no election follows). One missed round must not fail a read that may wait longer,
/// so the round is run again until `timeout` has passed since the first.
async fn confirm_leadership(raft: &Raft, timeout: Duration) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let error = match tokio::time::timeout_at(deadline, raft.ensure_linearizable()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => check_is_leader_error(e),
            Err(_) => {
                return Err(Error::NoQuorum {
                    reason: format!(
                        "this leader could not confirm its leadership with a quorum within {} ms",
                        timeout.as_millis()
                    ),
                })
            }
        };
        let retry =
            READ_CONFIRM_RETRY.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        if !matches!(error, Error::NoQuorum { .. }) || retry.is_zero() {
            return Err(error);
        }
        tokio::time::sleep(retry).await;
    }
}

fn check_is_leader_error(
    e: openraft::error::RaftError<NodeId, openraft::error::CheckIsLeaderError<NodeId, NodeInfo>>,
) -> Error {
    use openraft::error::{CheckIsLeaderError, RaftError};
    match e {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => Error::NotLeader {
            leader: f.leader_id,
        },
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(q)) => Error::NoQuorum {
            reason: format!("this leader cannot reach a quorum: {q}"),
        },
        RaftError::Fatal(fatal) => Error::Fatal {
            reason: format!("consensus engine stopped: {fatal}"),
        },
    }
}

/// True when every majority of the voters spans at least `min_ack_zones` zones, so commit alone
/// implies the zone rule. Checked for each configuration of a joint membership.
pub fn commit_implies_zone_rule(metrics: &Metrics, min_ack_zones: usize) -> bool {
    let membership = metrics.membership_config.membership();
    membership.get_joint_config().iter().all(|voters| {
        let mut per_zone: HashMap<&str, usize> = HashMap::new();
        for id in voters {
            let zone = membership.get_node(id).map_or("", |n| n.zone.as_str());
            *per_zone.entry(zone).or_default() += 1;
        }
        let mut counts: Vec<usize> = per_zone.into_values().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // The largest group of voters that fits in fewer than `min_ack_zones` zones.
        let within_fewer_zones: usize = counts.iter().take(min_ack_zones - 1).sum();
        within_fewer_zones < voters.len() / 2 + 1
    })
}

/// The highest log index fsynced on nodes in at least `min_ack_zones` distinct zones, as the
/// leader's replication progress shows it (None on a follower).
pub fn zone_durable_index(metrics: &Metrics, min_ack_zones: usize) -> Option<u64> {
    let replication = metrics.replication.as_ref()?;
    let membership = metrics.membership_config.membership();
    let mut per_zone: BTreeMap<&str, u64> = BTreeMap::new();
    for (id, matched) in replication {
        let zone = membership.get_node(id).map_or("", |n| n.zone.as_str());
        let matched = matched.map_or(0, |m| m.index);
        let best = per_zone.entry(zone).or_default();
        *best = (*best).max(matched);
    }
    let mut indexes: Vec<u64> = per_zone.into_values().collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes.get(min_ack_zones.checked_sub(1)?).copied()
}

struct Held {
    index: u64,
    replies: Vec<Reply>,
    senders: Vec<ReplySender>,
}

/// Replies applied but not yet fsynced in enough zones, in log order.
#[derive(Default)]
pub(crate) struct ZoneGate {
    held: Mutex<VecDeque<Held>>,
}

impl ZoneGate {
    pub(crate) fn acknowledge(
        &self,
        index: u64,
        replies: Vec<Reply>,
        senders: Vec<ReplySender>,
        metrics: &Metrics,
        min_ack_zones: usize,
    ) {
        let mut held = self.held.lock().expect("zone gate lock");
        let open = held.is_empty()
            && (commit_implies_zone_rule(metrics, min_ack_zones)
                || zone_durable_index(metrics, min_ack_zones).is_some_and(|z| z >= index));
        if open {
            drop(held);
            send_all(replies, senders);
        } else {
            held.push_back(Held {
                index,
                replies,
                senders,
            });
        }
    }

    /// Releases what the latest replication progress allows; on a node that no longer leads,
    /// answers what is still held as uncertain (the new leader may or may not keep it).
    pub(crate) fn release(&self, metrics: &Metrics, min_ack_zones: usize) {
        let mut held = self.held.lock().expect("zone gate lock");
        if held.is_empty() {
            return;
        }
        if metrics.state != openraft::ServerState::Leader {
            for h in held.drain(..) {
                for tx in h.senders {
                    let _ = tx.send(Err(Error::Uncertain {
                        reason: "leadership changed before the write was fsynced in enough zones"
                            .into(),
                    }));
                }
            }
            return;
        }
        let durable = if commit_implies_zone_rule(metrics, min_ack_zones) {
            u64::MAX
        } else {
            zone_durable_index(metrics, min_ack_zones).unwrap_or(0)
        };
        while held.front().is_some_and(|h| h.index <= durable) {
            let h = held.pop_front().expect("front exists");
            send_all(h.replies, h.senders);
        }
    }

    /// Answers everything held with `error` (the engine stopped).
    pub(crate) fn fail_all(&self, error: Error) {
        let mut held = self.held.lock().expect("zone gate lock");
        for h in held.drain(..) {
            for tx in h.senders {
                let _ = tx.send(Err(error.clone()));
            }
        }
    }

    pub(crate) fn held(&self) -> usize {
        self.held.lock().expect("zone gate lock").len()
    }
}

fn send_all(replies: Vec<Reply>, senders: Vec<ReplySender>) {
    for (reply, tx) in replies.into_iter().zip(senders) {
        let _ = tx.send(Ok(reply));
    }
}
