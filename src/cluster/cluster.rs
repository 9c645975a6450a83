//! `Cluster`: one node's view of its group, and the routing of writes and reads to the leader.
//!
//! Writes: the leader proposes a batch as one log entry; a follower forwards the batch to the
//! leader and hands back the leader's replies. A batch that was never appended, or that a new
//! leader truncated, is re-routed (it can never be applied twice); a batch lost with a failed
//! leader is answered `TRYAGAIN ... may or may not have been applied`, never "not applied".
//! Reads: linearizable by default (the leader confirms its leadership with a quorum, batched
//! across concurrent reads; a follower forwards the read); `READONLY` reads are served locally
//! while the follower has heard from its leader within `stale_read_lag_max`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{mpsc, watch};

use super::gates::{ReadGate, ZoneGate};
use super::replies::{BatchHold, Replies, ReplySender};
use super::rpc::{self, ForwardResults};
use super::wall_clock_ms;
use super::ClusterOptions;
use crate::command::{Command, Reply};
use crate::error::Error;
use crate::peer::{PeerClient, PeerError};
use crate::raft::{NodeId, NodeInfo, Op, PeerNetwork, Proposal, Raft, SmShared, WeakLogStore};

/// How long a forwarded batch waits for the leader's answer before its outcome is declared
/// unknown (covers an fsync on a quorum, the zone rule, and a slow disk).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// How a read may be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadConsistency {
    /// Reflects every write acknowledged before the read started (the default).
    Linearizable,
    /// Served from this node's state, which may lag the leader by up to `stale_read_lag_max`.
    Stale,
}

/// Counters the cluster keeps (INFO and /metrics).
#[derive(Debug, Default)]
pub struct ClusterStats {
    pub leader_changes: AtomicU64,
    pub forwarded_batches: AtomicU64,
    pub forwarded_reads: AtomicU64,
    pub forwards_uncertain: AtomicU64,
    /// Forwarded batches refused because a leader transfer paused proposals here.
    pub forwards_refused_paused: AtomicU64,
    /// Writes of a discarded entry not re-routed because their client had gone.
    pub resubmits_dropped: AtomicU64,
    pub stale_reads_refused: AtomicU64,
    pub hook_runs: AtomicU64,
    pub hook_failures: AtomicU64,
}

/// Where a voter that restarted without its data is in getting back into the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejoinPhase {
    /// A normal member (or a fresh node).
    None,
    /// Waiting for the leader to forget this node: it refuses replication and votes, because
    /// the leader's record of what it holds is false.
    Forgetting,
    /// Forgotten and being re-added: it takes entries but refuses votes until it is a voter
    /// again (a node that lost acknowledged entries must not help elect a leader lacking them).
    Catching,
}

/// What the cluster needs from this node's write path, which the layer above provides (the
/// node's `Db`): a follower's forwarded batch goes through this leader's own batcher, like a
/// local client's writes, and a forwarded read is served from this node's keyspace.
pub(crate) trait WritePath: Send + Sync + 'static {
    /// Queues every op as a write of this node, then waits for each one's reply (in order).
    fn submit(&self, ops: Vec<Op>) -> Submitted<'_>;

    /// Reads `command` from this node's keyspace as it is now.
    fn read(&self, command: &Command) -> Reply;
}

/// The replies of a batch submitted to the write path, one per op, once all are in.
pub(crate) type Submitted<'a> =
    Pin<Box<dyn Future<Output = Vec<Result<Reply, Error>>> + Send + 'a>>;

/// A batch whose entry was discarded, with its callers, on its way to the new leader.
type Resubmission = (Vec<Op>, Vec<ReplySender>);

/// When this follower last accepted an AppendEntries from its leader, and the leader's commit
/// index it carried (what the follower has been told is committed).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaderContact {
    pub at: Instant,
    pub leader_commit: u64,
}

/// Entries a follower may still have to apply, of those its leader said were committed, and
/// still be ready: apply trails the AppendEntries that carried the commit index by a moment,
/// so under steady writes a strict "all applied" would flap at every probe.
pub const READY_APPLY_BACKLOG_MAX: u64 = 1_024;

/// What `/ready` and `/role` report about this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// leader, follower, candidate, learner or stopped.
    pub role: &'static str,
    pub node: NodeId,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// The leader's client address, from the membership (None when no leader is known).
    pub leader_client_addr: Option<String>,
    pub applied: u64,
    /// Follower only: milliseconds since its leader last reached it.
    pub leader_contact_ms: Option<u64>,
    /// `Ok` when the node can serve clients; otherwise why not.
    pub ready: Result<(), String>,
}

/// One node's membership in its group (also present, trivially, on a single voter).
pub struct Cluster {
    pub(crate) id: NodeId,
    pub(crate) info: NodeInfo,
    pub(crate) raft: Raft,
    pub(crate) sm: Arc<SmShared>,
    /// The log's metadata holds the formation mark (`membership.rs`). Weak: the cluster may
    /// outlive the node in a lingering task, and must not keep its data directory locked.
    pub(crate) log_store: WeakLogStore,
    pub(crate) network: PeerNetwork,
    /// None on a single voter (no peers, no transport).
    pub(crate) options: Option<ClusterOptions>,
    pub(crate) data_dir: PathBuf,
    pub(crate) min_ack_zones: usize,
    pub(crate) stats: ClusterStats,
    pub(crate) read_gate: Arc<ReadGate>,
    pub(crate) zone_gate: ZoneGate,
    /// The highest `time_ms` proposed by this node (proposal times never go backwards).
    clock_ms: AtomicU64,
    /// True while this leader hands leadership over: new batches wait instead of being proposed.
    pub(crate) paused: watch::Sender<bool>,
    pub(crate) leader_contact: Mutex<Option<LeaderContact>>,
    /// When this node was last asked to start an election by a transferring leader.
    pub(crate) transfer_requested: Mutex<Option<Instant>>,
    /// Set once the node's write path exists; taken at shutdown (breaks the cycle between the
    /// write path, which routes through the cluster, and the cluster).
    write_path: Mutex<Option<Arc<dyn WritePath>>>,
    /// (term, last log index when this node was first seen leading in that term): reads wait
    /// until the state machine has applied it, because openraft's read index can trail entries
    /// a previous leadership of this node acknowledged (a leader restarted on a committed vote).
    leadership_floor: Mutex<(u64, u64)>,
    rejoin: Mutex<RejoinPhase>,
    resubmit: mpsc::UnboundedSender<Resubmission>,
    resubmit_rx: Mutex<Option<mpsc::UnboundedReceiver<Resubmission>>>,
    /// Where messages published on other nodes are delivered (set by the server).
    pub(crate) publisher: std::sync::OnceLock<super::Publisher>,
    /// Fast failover: noticing a dead leader by its connections (`failover.rs`).
    pub(crate) failover: super::failover::Failover,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("id", &self.id)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Answers every caller of a batch with the same error.
fn fail_all(senders: Vec<ReplySender>, error: Error) {
    for tx in senders {
        let _ = tx.send(Err(error.clone()));
    }
}

/// Answers the ops of `ops` that a follower forwarded to this node with [`Error::NotLeader`]
/// (they were never applied: the follower routes them again) and returns the others, to be
/// sent on to the leader. A forwarded op is never forwarded a second time (see
/// [`ReplySender`]).
fn refuse_forwarded(
    ops: Vec<Op>,
    senders: Vec<ReplySender>,
    leader: Option<NodeId>,
) -> (Vec<Op>, Vec<ReplySender>) {
    ops.into_iter()
        .zip(senders)
        .filter_map(|(op, sender)| {
            if !sender.is_forwarded() {
                return Some((op, sender));
            }
            let _ = sender.send(Err(Error::NotLeader { leader }));
            None
        })
        .unzip()
}

impl Cluster {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: NodeId,
        info: NodeInfo,
        raft: Raft,
        sm: Arc<SmShared>,
        log_store: WeakLogStore,
        network: PeerNetwork,
        options: Option<ClusterOptions>,
        data_dir: PathBuf,
    ) -> Arc<Self> {
        let min_ack_zones = options.as_ref().map_or(1, |o| o.min_ack_zones);
        let (resubmit, resubmit_rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            id,
            info,
            raft,
            sm,
            log_store,
            network,
            options,
            data_dir,
            min_ack_zones,
            stats: ClusterStats::default(),
            read_gate: Arc::new(ReadGate::default()),
            zone_gate: ZoneGate::default(),
            clock_ms: AtomicU64::new(0),
            paused: watch::channel(false).0,
            leader_contact: Mutex::new(None),
            transfer_requested: Mutex::new(None),
            write_path: Mutex::new(None),
            leadership_floor: Mutex::new((0, 0)),
            rejoin: Mutex::new(RejoinPhase::None),
            resubmit,
            resubmit_rx: Mutex::new(Some(resubmit_rx)),
            publisher: std::sync::OnceLock::new(),
            failover: super::failover::Failover::default(),
        })
    }

    /// Starts the background work of a cluster member: re-routing discarded batches in order,
    /// and watching leadership (hook, zone rule).
    pub(crate) fn start(
        self: &Arc<Self>,
        write_path: impl WritePath,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        *self.write_path.lock().expect("write path lock") = Some(Arc::new(write_path));
        let mut tasks = vec![tokio::spawn(super::hook::watch(self.clone()))];
        if let Some(mut rx) = self.resubmit_rx.lock().expect("resubmit lock").take() {
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                while let Some((ops, senders)) = rx.recv().await {
                    this.forward(ops, senders, None).await;
                }
            }));
        }
        tasks
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// True when this node is a single voter with no peers.
    pub fn is_single(&self) -> bool {
        self.options.is_none()
    }

    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    pub fn options(&self) -> Option<&ClusterOptions> {
        self.options.as_ref()
    }

    fn leader_wait(&self) -> Duration {
        self.options
            .as_ref()
            .map_or(super::LEADER_WAIT_DEFAULT, |o| o.leader_wait)
    }

    /// The leader as this node knows it.
    pub fn current_leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.current_leader == Some(self.id) && metrics.state == openraft::ServerState::Leader
    }

    /// The membership entry of `node` (its zone and addresses).
    pub fn member(&self, node: NodeId) -> Option<NodeInfo> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&node)
            .cloned()
    }

    fn write_path(&self) -> Result<Arc<dyn WritePath>, Error> {
        self.write_path
            .lock()
            .expect("write path lock")
            .clone()
            .ok_or(Error::ShuttingDown)
    }

    /// Forgets the write path (node shutdown).
    pub(crate) fn detach_db(&self) {
        self.write_path.lock().expect("write path lock").take();
    }

    /// This node's wall clock (`ClusterOptions::clock`; the system clock on a single voter).
    pub(crate) fn now_ms(&self) -> u64 {
        self.options
            .as_ref()
            .map_or_else(wall_clock_ms, |options| options.clock.now_ms())
    }

    /// The time stamp of the next proposal: wall clock, but never before the last applied
    /// entry (possibly from another leader) or this node's previous proposal.
    fn next_time_ms(&self) -> u64 {
        let floor = self
            .now_ms()
            .max(self.sm.last_time_ms.load(Ordering::Relaxed));
        self.clock_ms.fetch_max(floor, Ordering::Relaxed).max(floor)
    }

    /// Sends one batch of writes on its way: proposed here if this node leads, otherwise to
    /// the leader. `slot` (the batcher's in-flight limits) is freed as the batch is flushed
    /// locally and answered; a forwarded batch holds all of it until the leader answers.
    pub(crate) async fn route(
        self: &Arc<Self>,
        ops: Vec<Op>,
        senders: Vec<ReplySender>,
        slot: Box<dyn BatchHold>,
    ) {
        if self.is_single() || (self.is_leader() && !*self.paused.borrow()) {
            self.propose(ops, senders, Some(slot)).await;
        } else {
            let this = self.clone();
            tokio::spawn(async move { this.forward(ops, senders, Some(slot)).await });
        }
    }

    async fn propose(
        self: &Arc<Self>,
        ops: Vec<Op>,
        senders: Vec<ReplySender>,
        slot: Option<Box<dyn BatchHold>>,
    ) {
        let retry = (!self.is_single()).then(|| (self.clone(), ops.clone()));
        let mut proposal = Proposal::new(self.next_time_ms(), ops);
        if let Some(slot) = &slot {
            proposal.flushed = slot.unflushed();
        }
        let replies = Replies {
            senders,
            slot,
            cluster: retry,
        };
        match self.raft.client_write_ff(proposal).await {
            // Answers every caller and frees the in-flight slot once openraft reports.
            Ok(outcome) => {
                tokio::spawn(async move { replies.deliver(outcome.await.ok()) });
            }
            Err(fatal) => {
                tracing::error!(error = %fatal, "consensus engine stopped; writes are refused");
                replies.deliver(None);
            }
        }
    }

    /// Re-routes a batch whose entry will never be applied (called from openraft's responder).
    /// One queue, drained in order, keeps the batches in their original order.
    ///
    /// A write whose caller is gone (its client closed the connection, so nobody can be told
    /// the outcome) is dropped here instead of being applied late: a client that resent it on
    /// another connection would otherwise see its first copy overwrite what came after.
    pub(crate) fn resubmit(&self, ops: Vec<Op>, senders: Vec<ReplySender>) {
        let senders_before = senders.len();
        let (ops, senders): (Vec<Op>, Vec<ReplySender>) = ops
            .into_iter()
            .zip(senders)
            .filter(|(_, sender)| !sender.is_closed())
            .unzip();
        let dropped = senders_before - senders.len();
        if dropped > 0 {
            self.stats
                .resubmits_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        let (ops, senders) = refuse_forwarded(ops, senders, self.current_leader());
        if ops.is_empty() {
            return;
        }
        if let Err(mpsc::error::SendError((_, senders))) = self.resubmit.send((ops, senders)) {
            fail_all(senders, Error::ShuttingDown);
        }
    }

    /// Waits until a leader other than `avoid` (a leader and term that just failed us) is
    /// known, up to `deadline`.
    pub(crate) async fn wait_for_leader(
        &self,
        deadline: tokio::time::Instant,
        avoid: Option<(NodeId, u64)>,
    ) -> Result<NodeId, Error> {
        let started = Instant::now();
        let mut metrics = self.raft.metrics();
        loop {
            {
                let m = metrics.borrow_and_update();
                if let Err(fatal) = &m.running_state {
                    return Err(Error::Fatal {
                        reason: format!("consensus engine stopped: {fatal}"),
                    });
                }
                if let Some(leader) = m.current_leader {
                    let settled = leader != self.id || m.state == openraft::ServerState::Leader;
                    if settled && avoid != Some((leader, m.current_term)) {
                        return Ok(leader);
                    }
                }
            }
            match tokio::time::timeout_at(deadline, metrics.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Error::ShuttingDown),
                Err(_) => {
                    return Err(Error::NoLeader {
                        waited_ms: started.elapsed().as_millis() as u64,
                    })
                }
            }
        }
    }

    fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// A client for member `node`, if the membership knows its address.
    pub(crate) fn client_for(&self, node: NodeId) -> Option<PeerClient> {
        let info = self.member(node)?;
        self.network.client(node, &info.peer_addr)
    }

    /// Waits while a leader transfer pauses proposals. False if the pause outlived `deadline`
    /// or this node stopped leading meanwhile.
    async fn wait_unpaused(&self, deadline: tokio::time::Instant) -> bool {
        let mut paused = self.paused.subscribe();
        let unpaused = tokio::time::timeout_at(deadline, paused.wait_for(|p| !*p)).await;
        matches!(unpaused, Ok(Ok(_))) && self.is_leader()
    }

    /// Delivers a batch to the leader (possibly this node, after a leader change) and hands
    /// each caller its reply.
    async fn forward(
        self: &Arc<Self>,
        mut ops: Vec<Op>,
        mut senders: Vec<ReplySender>,
        slot: Option<Box<dyn BatchHold>>,
    ) {
        let deadline = tokio::time::Instant::now() + self.leader_wait();
        let mut avoid = None;
        loop {
            let leader = match self.wait_for_leader(deadline, avoid).await {
                Ok(leader) => leader,
                Err(e) => return fail_all(senders, e),
            };
            let term = self.term();
            if leader == self.id {
                if self.wait_unpaused(deadline).await {
                    return self.propose(ops, senders, slot).await;
                }
                avoid = Some((leader, term));
                continue;
            }
            if senders.iter().any(ReplySender::is_forwarded) {
                (ops, senders) = refuse_forwarded(ops, senders, Some(leader));
                if ops.is_empty() {
                    return;
                }
            }
            let Some(client) = self.client_for(leader) else {
                avoid = Some((leader, term));
                continue;
            };
            self.stats.forwarded_batches.fetch_add(1, Ordering::Relaxed);
            let answer: Result<ForwardResults, PeerError> = self
                .network
                .call(&client, rpc::KIND_FORWARD, &ops, FORWARD_TIMEOUT)
                .await;
            match answer {
                Ok(Ok(results)) => {
                    debug_assert_eq!(results.len(), senders.len());
                    for (result, tx) in results.into_iter().zip(senders) {
                        let _ = tx.send(result);
                    }
                    return;
                }
                // Refused before anything was proposed: safe to try the next leader.
                Ok(Err(Error::NotLeader { .. } | Error::NoLeader { .. })) => {
                    avoid = Some((leader, term));
                }
                Ok(Err(e)) => return fail_all(senders, e),
                Err(e) if e.never_sent() => avoid = Some((leader, term)),
                Err(e) => {
                    self.stats
                        .forwards_uncertain
                        .fetch_add(1, Ordering::Relaxed);
                    return fail_all(
                        senders,
                        Error::Uncertain {
                            reason: format!(
                                "leader {leader} did not answer a forwarded write ({e})"
                            ),
                        },
                    );
                }
            }
        }
    }

    /// A follower's batch, run by this node if it leads (on the peer transport).
    ///
    /// While a leader transfer pauses proposals here the batch is refused, never proposed (the
    /// follower waits for the next leader and sends it there, or proposes it itself if it is
    /// the target). Accepting it would park it in this node's batcher until the transfer ends
    /// and then forward it to the new leader, while the follower's own batcher holds its only
    /// unflushed slot for this very batch: if the follower is the new leader, neither side can
    /// move until the forward times out (10 s).
    pub(crate) async fn serve_forward(&self, ops: Vec<Op>) -> ForwardResults {
        if *self.paused.borrow() {
            self.stats
                .forwards_refused_paused
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::NotLeader { leader: None });
        }
        if !self.is_leader() {
            return Err(Error::NotLeader {
                leader: self.current_leader(),
            });
        }
        let results = self.write_path()?.submit(ops).await;
        // This node stopped leading before any of them was applied: the follower routes the
        // whole batch again, in order (to itself, if it is the new leader).
        if results
            .iter()
            .all(|r| matches!(r, Err(Error::NotLeader { .. })))
        {
            return Err(Error::NotLeader {
                leader: self.current_leader(),
            });
        }
        Ok(results)
    }

    /// Serves a read command at the given consistency, with `local` doing the actual read on
    /// this node's keyspace.
    pub async fn read(
        self: &Arc<Self>,
        command: &Command,
        consistency: ReadConsistency,
        local: impl Fn(&Command) -> Reply,
    ) -> Result<Reply, Error> {
        let Some(options) = &self.options else {
            return Ok(local(command));
        };
        if consistency == ReadConsistency::Stale {
            if self.is_leader() {
                return Ok(local(command));
            }
            let contact = *self.leader_contact.lock().expect("contact lock");
            let limit = options.stale_read_lag_max;
            return match contact.map(|c| c.at.elapsed()) {
                Some(lag) if lag <= limit => Ok(local(command)),
                lag => {
                    self.stats
                        .stale_reads_refused
                        .fetch_add(1, Ordering::Relaxed);
                    Err(Error::Stale {
                        lag_ms: lag.map_or(u64::MAX, |l| l.as_millis() as u64),
                        limit_ms: limit.as_millis() as u64,
                    })
                }
            };
        }
        let deadline = tokio::time::Instant::now() + options.leader_wait;
        let mut avoid = None;
        loop {
            let leader = self.wait_for_leader(deadline, avoid).await?;
            let term = self.term();
            if leader == self.id {
                let floor = self.leadership_floor();
                match self
                    .read_gate
                    .confirm(&self.raft, options.leader_wait, floor)
                    .await
                {
                    Ok(()) => return Ok(local(command)),
                    Err(Error::NotLeader { .. }) => avoid = Some((leader, term)),
                    Err(e) => return Err(e),
                }
                continue;
            }
            let Some(client) = self.client_for(leader) else {
                avoid = Some((leader, term));
                continue;
            };
            self.stats.forwarded_reads.fetch_add(1, Ordering::Relaxed);
            let answer: Result<Result<Reply, Error>, PeerError> = self
                .network
                .call(&client, rpc::KIND_READ, command, options.leader_wait)
                .await;
            match answer {
                Ok(Err(Error::NotLeader { .. } | Error::NoLeader { .. })) => {
                    avoid = Some((leader, term))
                }
                Ok(result) => return result,
                // A read changes nothing: whatever happened to it, it can be retried.
                Err(_) => avoid = Some((leader, term)),
            }
        }
    }

    pub fn rejoin_phase(&self) -> RejoinPhase {
        *self.rejoin.lock().expect("rejoin lock")
    }

    pub(crate) fn set_rejoin_phase(&self, phase: RejoinPhase) {
        *self.rejoin.lock().expect("rejoin lock") = phase;
    }

    /// The index every linearizable read served by this leadership must see applied.
    pub(crate) fn leadership_floor(&self) -> u64 {
        let (term, last) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.current_term, m.last_log_index.unwrap_or(0))
        };
        let mut floor = self.leadership_floor.lock().expect("floor lock");
        if floor.0 != term {
            *floor = (term, last);
        }
        floor.1
    }

    /// Proposes an entry with no ops: it commits every earlier entry of the log under this
    /// leadership (openraft commits only entries it has replicated in its own term).
    pub(crate) async fn propose_noop(&self) {
        let proposal = Proposal::new(self.next_time_ms(), Vec::new());
        if let Ok(outcome) = self.raft.client_write_ff(proposal).await {
            let _ = outcome.await;
        }
    }

    /// The term this node leads in, if it may start a linearizable read of its applied state
    /// now, to be confirmed afterwards with [`Self::confirm_local_read`] (a read too long to
    /// hold the keyspace for, such as a script): it believes it leads, and has applied its
    /// leadership floor, so every write acknowledged so far is applied here. None on a
    /// follower, or a leader that has not applied its floor yet. A single node: always.
    pub(crate) fn local_read_term(&self) -> Option<u64> {
        if self.is_single() {
            return Some(0);
        }
        if !self.is_leader() {
            return None;
        }
        let term = self.term();
        let floor = self.leadership_floor();
        let applied = self
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index);
        (applied >= floor).then_some(term)
    }

    /// Whether this node still leads in `term` (from [`Self::local_read_term`]), confirmed by a
    /// quorum after this call: then no other leader existed since the read began, so the state
    /// it read was current at its start (the read's linearization point).
    pub(crate) async fn confirm_local_read(&self, term: u64) -> bool {
        if self.is_single() {
            return true;
        }
        let floor = self.leadership_floor();
        let confirmed = self
            .read_gate
            .confirm(&self.raft, self.leader_wait(), floor)
            .await
            .is_ok();
        confirmed && self.is_leader() && self.term() == term
    }

    /// A follower's linearizable read, run by this node if it leads.
    pub(crate) async fn serve_read(&self, command: Command) -> Result<Reply, Error> {
        if !self.is_leader() {
            return Err(Error::NotLeader {
                leader: self.current_leader(),
            });
        }
        let floor = self.leadership_floor();
        self.read_gate
            .confirm(&self.raft, self.leader_wait(), floor)
            .await?;
        Ok(self.write_path()?.read(&command))
    }

    /// Records that the current leader's AppendEntries was accepted (stale-read bound).
    pub(crate) fn note_leader_contact(&self, leader_commit: u64) {
        *self.leader_contact.lock().expect("contact lock") = Some(LeaderContact {
            at: Instant::now(),
            leader_commit,
        });
    }

    /// Whether this node can serve clients, for orchestrators' readiness probes. A leader is
    /// ready while its engine runs (a single node always leads). A follower is ready when its
    /// leader reached it within `stale_read_lag_max` (the bound READONLY reads are served
    /// under) and it has applied what that leader said was committed, give or take
    /// [`READY_APPLY_BACKLOG_MAX`] entries. Candidates, learners and stopped engines are not.
    pub fn readiness(&self) -> Readiness {
        let metrics = self.raft.metrics().borrow().clone();
        let applied = self.sm.applied().log_id.map_or(0, |id| id.index);
        let leader = metrics.current_leader;
        let role = match (&metrics.running_state, metrics.state) {
            (Err(_), _) => "stopped",
            (Ok(()), openraft::ServerState::Leader) => "leader",
            (Ok(()), openraft::ServerState::Follower) => "follower",
            (Ok(()), openraft::ServerState::Candidate) => "candidate",
            (Ok(()), openraft::ServerState::Learner) => "learner",
            (Ok(()), openraft::ServerState::Shutdown) => "stopped",
        };
        let contact = *self.leader_contact.lock().expect("contact lock");
        let leader_contact_ms = contact
            .filter(|_| role == "follower")
            .map(|c| c.at.elapsed().as_millis() as u64);
        let ready = match (role, &metrics.running_state) {
            (_, Err(fatal)) => Err(format!("consensus engine stopped: {fatal}")),
            ("leader", _) if leader == Some(self.id) => Ok(()),
            ("follower", _) => self.follower_ready(leader, contact, applied),
            _ => Err(match leader {
                Some(leader) => {
                    format!("node {} is a {role}; the leader is node {leader}", self.id)
                }
                None => format!("node {} is a {role}; no leader known", self.id),
            }),
        };
        Readiness {
            role,
            node: self.id,
            term: metrics.current_term,
            leader,
            leader_client_addr: leader.and_then(|l| self.member(l)).map(|m| m.client_addr),
            applied,
            leader_contact_ms,
            ready,
        }
    }

    fn follower_ready(
        &self,
        leader: Option<NodeId>,
        contact: Option<LeaderContact>,
        applied: u64,
    ) -> Result<(), String> {
        let Some(leader) = leader else {
            return Err(format!(
                "node {} is a follower with no known leader",
                self.id
            ));
        };
        let limit = self
            .options
            .as_ref()
            .map_or(super::STALE_READ_LAG_MAX_DEFAULT, |o| o.stale_read_lag_max);
        let Some(contact) = contact else {
            return Err(format!(
                "node {} has not heard from its leader (node {leader}) since it started",
                self.id
            ));
        };
        let since = contact.at.elapsed();
        if since > limit {
            return Err(format!(
                "node {} last heard from its leader (node {leader}) {} ms ago (stale_read_lag_max_ms is {})",
                self.id,
                since.as_millis(),
                limit.as_millis()
            ));
        }
        let backlog = contact.leader_commit.saturating_sub(applied);
        if backlog > READY_APPLY_BACKLOG_MAX {
            return Err(format!(
                "node {} is catching up: applied {applied}, its leader has committed {} ({backlog} entries behind)",
                self.id, contact.leader_commit
            ));
        }
        Ok(())
    }

    /// True when commit alone implies the zone rule: one node, or voters placed so that every
    /// majority spans `min_ack_zones` zones.
    pub fn commit_implies_zone_rule(&self) -> bool {
        self.is_single()
            || super::gates::commit_implies_zone_rule(
                &self.raft.metrics().borrow(),
                self.min_ack_zones,
            )
    }

    /// Replies applied but waiting for the zone rule.
    pub fn replies_waiting_for_zones(&self) -> usize {
        self.zone_gate.held()
    }

    /// Called by openraft's responder once a batch is applied: replies now, or once the
    /// entry is fsynced in `min_ack_zones` zones.
    pub(crate) fn acknowledge(&self, index: u64, replies: Vec<Reply>, senders: Vec<ReplySender>) {
        self.zone_gate.acknowledge(
            index,
            replies,
            senders,
            &self.raft.metrics().borrow(),
            self.min_ack_zones,
        );
    }
}
