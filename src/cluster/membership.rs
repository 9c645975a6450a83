//! Who is in the group: forming it from the configured peers, adding and removing nodes (joint
//! consensus, by openraft), and handing leadership to another voter.
//!
//! Formation follows etcd's initial cluster: every node starts with the same peer list, and the
//! node with the lowest id initialises the group once every peer has answered (and none of them
//! already belongs to a group, which is the case when a wiped node restarts).
//!
//! Before it does, every member records durably that it is a member from the start (the
//! formation mark in the log's metadata). A node with an empty log in a group that lists it is
//! then told apart: with the mark it simply has not been replicated to yet; without it, its disk
//! was wiped, and it must be forgotten and re-added, because it no longer holds what it
//! acknowledged. Nothing another node sends can write the mark (a vote can be: a leader's
//! heartbeat saves it), and such a node grants no vote until it holds a log again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock (std's outside tests): the simulator's paused time must drive the transfer's
// deadlines, or a transfer whose target never catches up waits in virtual time for good.
use tokio::time::Instant;

use super::cluster::RejoinPhase;
use super::rpc::{self, AdminRequest, ElectionControl, Hello};
use super::Cluster;
use crate::error::Error;
use crate::raft::{LogStoreMeta, NodeId, NodeInfo};

/// Timeout of one request during formation, membership changes and transfers.
const ADMIN_RPC_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a new learner may take to catch up before `add-node` gives up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a rejoining node waits for the answer to its request to be forgotten (one
/// membership change, forwarded to the leader) before asking again.
const FORGET_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a leader transfer may take before it is abandoned and elections resume everywhere.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before retrying a membership change refused because another one has not committed yet.
const MEMBERSHIP_RETRY: Duration = Duration::from_millis(50);

/// What a node whose log is empty (no entry, no snapshot) is, once it learns that its peers
/// already form a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EmptyLogVerdict {
    /// A voter with the formation mark: a member from the start that the leader has not
    /// replicated to yet. It acknowledged nothing, so it lost nothing; it waits.
    NotReplicatedYet,
    /// A voter without the mark: it held a log once (it was added, or formed the group), and a
    /// wipe destroyed it with the mark. It must be forgotten and re-added.
    Wiped,
    /// The group does not list it: a new node, waiting for `add-node`.
    NotListed,
}

impl EmptyLogVerdict {
    /// Decides on the formation mark alone. The vote in the same metadata says nothing: a
    /// leader's heartbeat (an empty AppendEntries; every interval in openraft 0.10) or a
    /// candidate's request writes one into a wiped node's empty store before this node has
    /// asked its peers anything.
    pub(crate) fn of(listed_as_voter: bool, meta: &LogStoreMeta) -> EmptyLogVerdict {
        match (listed_as_voter, meta.formation_member) {
            (false, _) => EmptyLogVerdict::NotListed,
            (true, true) => EmptyLogVerdict::NotReplicatedYet,
            (true, false) => EmptyLogVerdict::Wiped,
        }
    }
}

impl Cluster {
    /// True while this node must not grant votes because it may have lost its data: it holds
    /// no log (no membership, so no entry and no snapshot) and no formation mark. A wiped
    /// voter is in this state from its restart until it is re-added; granting a vote then
    /// (its empty log is "up to date" for any candidate) could help elect a leader that lacks
    /// entries this node acknowledged before the wipe. A member from the start holds the mark;
    /// a node added by `add-node` holds a log before it becomes a voter.
    pub(crate) fn may_have_lost_its_data(&self) -> bool {
        !self.holds_log()
            && self
                .log_store
                .upgrade()
                .is_some_and(|store| !store.meta().formation_member)
    }

    /// True once this node holds a log with a membership in it (entries or a snapshot): it
    /// belongs to a group. A vote alone does not count: a candidate's request or a leader's
    /// heartbeat saves one into an empty store (openraft's `is_initialized` counts it).
    pub(crate) fn holds_log(&self) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .log_id()
            .is_some()
    }

    /// Brings a node without a log into its group: forms the group from the configured peers
    /// (the node with the lowest id does, once every peer answers and none belongs to a group
    /// yet), or, if the peers already form a group that lists this node as a voter, gets this
    /// node forgotten and re-added (it restarted without its data). A node the group does not
    /// list waits for `tandem cluster add-node`. Logs what it waits for.
    pub(crate) async fn form(self: Arc<Self>) {
        let Some(options) = self.options.clone() else {
            return;
        };
        let lowest = options.peers.iter().all(|p| p.id > self.id);
        let mut last_report = Instant::now();
        loop {
            if self.holds_log() {
                return;
            }
            let mut members = BTreeMap::from([(self.id, self.info.clone())]);
            let mut missing = Vec::new();
            let mut existing: Option<(crate::cluster::PeerAddr, Hello)> = None;
            for peer in &options.peers {
                let Some(client) = self.network.probe(peer.id, &peer.addr) else {
                    return;
                };
                let hello: Result<Hello, _> = self
                    .network
                    .call(&client, rpc::KIND_HELLO, &(), ADMIN_RPC_TIMEOUT)
                    .await;
                match hello {
                    Ok(hello) if hello.node_id != peer.id => {
                        tracing::error!(
                            expected = peer.id,
                            found = hello.node_id,
                            addr = %peer.addr,
                            "a peer address answers with a different node id; check --peer"
                        );
                        missing.push(peer.id);
                    }
                    Ok(hello) if hello.initialized && !hello.voters.is_empty() => {
                        existing = Some((peer.clone(), hello))
                    }
                    Ok(hello) if hello.initialized => {
                        // Belongs to no group it can name (an older release counted a saved
                        // vote as "initialized"): no one to form with, nothing to learn from.
                        tracing::debug!(peer = %peer, "peer holds a vote but no membership");
                        missing.push(peer.id);
                    }
                    Ok(hello) => {
                        members.insert(peer.id, hello.info);
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer, error = %e, "peer not reachable yet");
                        missing.push(peer.id);
                    }
                }
            }
            if let Some((peer, hello)) = existing {
                // The answers took time; a leader may have replicated to this node meanwhile
                // (`add-node` lists a node as a voter only once it holds the log). Judge the
                // log as it is now, after the answer that lists this node.
                if self.holds_log() {
                    return;
                }
                let Some(meta) = self.log_store.upgrade().map(|store| store.meta()) else {
                    return;
                };
                match EmptyLogVerdict::of(hello.voters.contains(&self.id), &meta) {
                    EmptyLogVerdict::NotReplicatedYet => tracing::info!(
                        vote = ?meta.vote,
                        "the group lists this node and its log is empty, but it holds the formation mark (its disk was not wiped): waiting for the leader to replicate to it"
                    ),
                    EmptyLogVerdict::Wiped => self.rejoin(&peer).await,
                    EmptyLogVerdict::NotListed => tracing::info!(
                        "the peers already form a cluster that does not list this node; add it with `tandem cluster add-node --id {} --peer-addr {}`",
                        self.id,
                        self.info.peer_addr
                    ),
                }
                return;
            }
            if lowest && missing.is_empty() {
                if let Err(reason) = zones_allow_acks(&members, options.min_ack_zones) {
                    tracing::error!(%reason, "cannot form the cluster");
                    return;
                }
                let summary: Vec<String> = members
                    .iter()
                    .map(|(id, info)| format!("{id}({})", info.zone))
                    .collect();
                if !self.announce_formation(&options, &members).await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                match self.raft.initialize(members).await {
                    Ok(()) => tracing::info!(members = %summary.join(" "), "cluster formed"),
                    Err(e) => tracing::warn!(error = %e, "cluster initialisation refused"),
                }
                return;
            }
            if last_report.elapsed() >= Duration::from_secs(2) {
                tracing::info!(?missing, "waiting for peers to form the cluster");
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Before forming the group: marks this node and asks every peer to mark itself as a member
    /// from the start. False if any member could not record the mark (formation waits for the
    /// next round); a peer of an older release, which does not know the request, is formed
    /// without the mark.
    async fn announce_formation(
        &self,
        options: &super::ClusterOptions,
        members: &BTreeMap<NodeId, NodeInfo>,
    ) -> bool {
        let Some(store) = self.log_store.upgrade() else {
            return false;
        };
        if let Err(e) = store.mark_formation_member().await {
            tracing::error!(error = %e, "cannot record the formation mark; not forming the group");
            return false;
        }
        drop(store);
        let ids: Vec<NodeId> = members.keys().copied().collect();
        for peer in &options.peers {
            let Some(client) = self.network.probe(peer.id, &peer.addr) else {
                return false;
            };
            let answer: Result<(), _> = self
                .network
                .call(&client, rpc::KIND_FORMING, &ids, ADMIN_RPC_TIMEOUT)
                .await;
            match answer {
                Ok(()) => {}
                Err(crate::peer::PeerError::Remote { message, .. })
                    if message.starts_with(rpc::UNKNOWN_KIND) =>
                {
                    tracing::warn!(
                        peer = %peer,
                        "this peer runs an older release that keeps no formation mark; forming the group anyway"
                    );
                }
                Err(e) => {
                    tracing::info!(peer = %peer, error = %e, "a peer did not record the formation mark; retrying formation");
                    return false;
                }
            }
        }
        true
    }

    /// Answers [`rpc::KIND_FORMING`]: records the formation mark unless this node already
    /// belongs to a group or is not among the members.
    pub(crate) async fn accept_formation(
        &self,
        from: NodeId,
        members: &[NodeId],
    ) -> Result<(), String> {
        if !members.contains(&self.id) {
            return Err(format!(
                "node {from} forms a group of {members:?}, which does not include this node"
            ));
        }
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| e.to_string())?
        {
            return Err("this node already belongs to a group".into());
        }
        let store = self.log_store.upgrade().ok_or("this node is stopping")?;
        store
            .mark_formation_member()
            .await
            .map_err(|e| format!("cannot record the formation mark: {e}"))?;
        tracing::info!(
            from,
            ?members,
            "recorded the formation mark: a member of the group being formed"
        );
        Ok(())
    }

    /// This voter restarted without its data: have the leader forget it, then add it again.
    async fn rejoin(&self, via: &crate::cluster::PeerAddr) {
        tracing::warn!(
            "this node is a voter of an existing cluster but has no data (wiped or replaced disk); asking the leader to forget and re-add it"
        );
        self.set_rejoin_phase(RejoinPhase::Forgetting);
        let Some(client) = self.network.probe(via.id, &via.addr) else {
            return;
        };
        let steps = [
            (
                AdminRequest::Forget { node_id: self.id },
                RejoinPhase::Catching,
            ),
            (
                AdminRequest::AddNode {
                    node_id: self.id,
                    peer_addr: self.info.peer_addr.clone(),
                },
                RejoinPhase::None,
            ),
        ];
        // Where the leader committed a membership without this node (known once forgotten).
        let mut forgotten_at: Option<u64> = None;
        for (request, next) in steps {
            loop {
                // Forgetting is one membership change, and retrying it is harmless (a node
                // already forgotten answers where that happened); only the re-add waits for
                // this node to catch up. A lost reply must not hold the rejoin for a minute.
                let timeout = match request {
                    AdminRequest::Forget { .. } => FORGET_TIMEOUT,
                    _ => CATCH_UP_TIMEOUT + ADMIN_RPC_TIMEOUT,
                };
                let call = self.network.call::<_, Result<String, Error>>(
                    &client,
                    rpc::KIND_ADMIN,
                    &request,
                    timeout,
                );
                let answer = tokio::select! {
                    answer = call => answer,
                    // Re-added meanwhile by someone else (an operator's add-node), possibly
                    // with no leader left to answer this request: the rejoin is over.
                    () = self.voter_again(forgotten_at), if next == RejoinPhase::None => {
                        tracing::info!("this node is a voter again (re-added by another request); rejoin done");
                        self.set_rejoin_phase(next);
                        break;
                    }
                };
                match answer {
                    Ok(Ok(text)) => {
                        tracing::info!(%text, "rejoin step done");
                        forgotten_at = forgotten_at.or_else(|| forgotten_index(&text));
                        self.set_rejoin_phase(next);
                        break;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "rejoin step refused; retrying"),
                    Err(e) => tracing::warn!(error = %e, "rejoin step failed; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Returns once this node's own log (replicated to it while it catches up) holds, applied,
    /// a membership that lists it as a voter and comes after `forgotten_at`, the committed
    /// membership that left it out. The log it copies from the leader starts with the old
    /// memberships that listed it before it was forgotten; only a later one counts. Never
    /// returns without `forgotten_at` (a leader of an older release does not say it).
    async fn voter_again(&self, forgotten_at: Option<u64>) {
        let Some(forgotten_at) = forgotten_at else {
            return std::future::pending().await;
        };
        loop {
            let again = {
                let m = self.raft.metrics();
                let m = m.borrow();
                let membership = m.membership_config.log_id().map_or(0, |id| id.index);
                membership > forgotten_at
                    && m.last_applied.map_or(0, |id| id.index) >= membership
                    && m.membership_config
                        .membership()
                        .voter_ids()
                        .any(|v| v == self.id)
            };
            if again {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a membership or leadership request here if this node leads, else on the leader.
    pub async fn admin(self: &Arc<Self>, request: AdminRequest) -> Result<String, Error> {
        if self.is_single() {
            return Err(Error::Command(
                "ERR this node runs without peers; start it with --peer-listen and --peer to use membership commands"
                    .into(),
            ));
        }
        if !self.is_leader() {
            let deadline = tokio::time::Instant::now()
                + self
                    .options()
                    .map_or(super::LEADER_WAIT_DEFAULT, |o| o.leader_wait);
            let leader = self.wait_for_leader(deadline, None).await?;
            if leader != self.id {
                let client = self
                    .client_for(leader)
                    .ok_or(Error::NoLeader { waited_ms: 0 })?;
                return self
                    .network
                    .call(
                        &client,
                        rpc::KIND_ADMIN,
                        &request,
                        CATCH_UP_TIMEOUT + ADMIN_RPC_TIMEOUT,
                    )
                    .await
                    .map_err(|e| Error::Uncertain {
                        reason: format!("the leader did not answer the request ({e})"),
                    })?;
            }
        }
        match request {
            AdminRequest::AddNode { node_id, peer_addr } => self.add_node(node_id, peer_addr).await,
            AdminRequest::RemoveNode { node_id } => self.remove_node(node_id).await,
            AdminRequest::TransferLeader { node_id } => self.transfer_leader(node_id).await,
            AdminRequest::Forget { node_id } => self.forget(node_id).await,
        }
    }

    fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    fn members(&self) -> BTreeMap<NodeId, NodeInfo> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, info)| (*id, info.clone()))
            .collect()
    }

    /// `add-node`: adds the node as a learner, waits for it to catch up, makes it a voter.
    /// Idempotent, so that it can race a node's own rejoin (src/cluster/membership.rs,
    /// [`Cluster::rejoin`]) or another `add-node` of the same node: whichever change commits
    /// first, every request ends with the node a voter and says so.
    async fn add_node(&self, node_id: NodeId, peer_addr: String) -> Result<String, Error> {
        if self.voters().contains(&node_id) {
            return self.already_a_voter(node_id, &peer_addr).await;
        }
        let client = self
            .network
            .probe(node_id, &peer_addr)
            .ok_or_else(|| Error::Command("ERR no peer transport".into()))?;
        let hello: Hello = self
            .network
            .call(&client, rpc::KIND_HELLO, &(), ADMIN_RPC_TIMEOUT)
            .await
            .map_err(|e| {
                Error::Command(format!(
                    "ERR cannot reach node {node_id} at {peer_addr}: {e}"
                ))
            })?;
        if hello.node_id != node_id {
            return Err(Error::Command(format!(
                "ERR the node at {peer_addr} is node {}, not {node_id}",
                hello.node_id
            )));
        }
        let mut members = self.members();
        members.insert(node_id, hello.info.clone());
        zones_allow_acks(&members, self.min_ack_zones)
            .map_err(|r| Error::Command(format!("ERR {r}")))?;
        tracing::info!(node_id, info = %hello.info, "adding node as learner; waiting for it to catch up");
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            let added = tokio::time::timeout_at(
                deadline,
                self.raft.add_learner(node_id, hello.info.clone(), true),
            )
            .await
            .map_err(|_| {
                Error::Command(format!(
                    "ERR node {node_id} did not catch up within {} s; it stays a learner (retry add-node or remove-node)",
                    CATCH_UP_TIMEOUT.as_secs()
                ))
            })?;
            match added {
                Ok(_) => break,
                Err(e) if membership_change_in_progress(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(MEMBERSHIP_RETRY).await;
                }
                Err(e) => return Err(Error::Command(format!("ERR adding learner {node_id}: {e}"))),
            }
        }
        loop {
            let mut voters = self.voters();
            if voters.contains(&node_id) {
                return Ok(format!(
                    "node {node_id} added (by a concurrent request); voters now {voters:?}"
                ));
            }
            voters.insert(node_id);
            match self.raft.change_membership(voters.clone(), false).await {
                Ok(_) => return Ok(format!("node {node_id} added; voters now {voters:?}")),
                Err(e) if membership_change_in_progress(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(MEMBERSHIP_RETRY).await;
                }
                Err(e) => return Err(Error::Command(format!("ERR membership change: {e}"))),
            }
        }
    }

    /// `add-node` of a node the membership already lists as a voter. First this leader
    /// confirms it still leads (a deposed leader may list a voter its successor forgot). Then:
    /// a node that answers with data is simply a voter (success, nothing changed); a node that
    /// answers without any log is a voter that lost its disk and is rebuilding itself (it has
    /// itself forgotten and re-added): the request waits for that, up to the catch-up timeout.
    async fn already_a_voter(&self, node_id: NodeId, peer_addr: &str) -> Result<String, Error> {
        self.read_gate
            .confirm(&self.raft, ADMIN_RPC_TIMEOUT, 0)
            .await?;
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        let mut rebuilding = false;
        loop {
            let voter = self.voters().contains(&node_id);
            let hello: Option<Hello> = match self.network.probe(node_id, peer_addr) {
                Some(client) => self
                    .network
                    .call(&client, rpc::KIND_HELLO, &(), ADMIN_RPC_TIMEOUT)
                    .await
                    .ok(),
                None => None,
            };
            let has_data = hello.is_none_or(|h| h.initialized);
            match (voter, has_data, rebuilding) {
                (true, true, false) => {
                    return Ok(format!(
                        "node {node_id} is already a voter; nothing changed"
                    ))
                }
                (true, true, true) => {
                    return Ok(format!(
                        "node {node_id} rebuilt itself after losing its data and is a voter again"
                    ))
                }
                _ if !rebuilding => {
                    rebuilding = true;
                    tracing::info!(
                        node_id,
                        "add-node of a voter that lost its data: waiting for it to rebuild itself (it asks to be forgotten and re-added)"
                    );
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(Error::Command(format!(
                    "ERR node {node_id} lost its data and is still rebuilding itself after {} s (it has itself forgotten and re-added; no add-node is needed)",
                    CATCH_UP_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(MEMBERSHIP_RETRY * 4).await;
        }
    }

    /// Removes a voter that lost its data, keeping the others (it is added back afterwards).
    async fn forget(&self, node_id: NodeId) -> Result<String, Error> {
        let mut voters = self.voters();
        if !voters.contains(&node_id) {
            // Already forgotten (a retried request), removed, or a learner an operator's
            // add-node is catching up: nothing in its replication progress to forget. The
            // rejoin learns where a committed membership without it stands, if this leader
            // can tell.
            self.read_gate
                .confirm(&self.raft, ADMIN_RPC_TIMEOUT, 0)
                .await?;
            let (membership, applied, voter) = {
                let m = self.raft.metrics();
                let m = m.borrow();
                (
                    m.membership_config.log_id().map_or(0, |id| id.index),
                    m.last_applied.map_or(0, |id| id.index),
                    m.membership_config
                        .membership()
                        .voter_ids()
                        .any(|v| v == node_id),
                )
            };
            let at = if applied >= membership && !voter {
                format!(" ({FORGOTTEN_AT}{membership})")
            } else {
                String::new()
            };
            return Ok(format!(
                "node {node_id} is not a voter; nothing to forget{at}"
            ));
        }
        voters.remove(&node_id);
        if voters.is_empty() {
            return Err(Error::Command("ERR cannot forget the only voter".into()));
        }
        let changed = self
            .raft
            .change_membership(voters, false)
            .await
            .map_err(|e| Error::Command(format!("ERR membership change: {e}")))?;
        Ok(format!(
            "node {node_id} forgotten; re-add it ({FORGOTTEN_AT}{})",
            changed.log_id.index
        ))
    }

    async fn remove_node(&self, node_id: NodeId) -> Result<String, Error> {
        let mut members = self.members();
        if !members.contains_key(&node_id) {
            return Err(Error::Command(format!(
                "ERR node {node_id} is not a member"
            )));
        }
        let mut voters = self.voters();
        voters.remove(&node_id);
        if voters.is_empty() {
            return Err(Error::Command("ERR cannot remove the last voter".into()));
        }
        members.remove(&node_id);
        members.retain(|id, _| voters.contains(id));
        zones_allow_acks(&members, self.min_ack_zones)
            .map_err(|r| Error::Command(format!("ERR {r}")))?;
        self.raft
            .change_membership(voters.clone(), false)
            .await
            .map_err(|e| Error::Command(format!("ERR membership change: {e}")))?;
        Ok(format!("node {node_id} removed; voters now {voters:?}"))
    }

    /// Turns back on what a leader transfer turned off on this node.
    fn resume_after_transfer(&self) {
        self.paused.send_replace(false);
        self.raft.runtime_config().heartbeat(true);
        self.raft.runtime_config().elect(true);
    }

    /// A planned switchover. openraft 0.9 has no transfer primitive, so: wait (writes flowing)
    /// until the target has replicated what this leader had when the transfer began, then pause
    /// new proposals here, wait (briefly) until the target has every entry, stop the other nodes
    /// (this one included) from starting elections for a bounded time, stop heartbeats so the
    /// target's leader lease runs out, ask the target to campaign, and resume elections
    /// everywhere when it leads. Writes issued while paused wait and then go to the new leader;
    /// none is refused. A target that is down, cut off or rebuilding its data is refused without
    /// pausing writes.
    async fn transfer_leader(self: &Arc<Self>, target: NodeId) -> Result<String, Error> {
        if target == self.id {
            return Ok(format!("node {target} already leads"));
        }
        if !self.voters().contains(&target) {
            return Err(Error::Command(format!("ERR node {target} is not a voter")));
        }
        let options = self.options().cloned().expect("cluster member");
        let started = Instant::now();
        // 1. Writes still flowing: the target must be replicating and close behind.
        let goal = self.raft.metrics().borrow().last_log_index;
        let heard_within = Some(options.election_timeout_max);
        self.wait_for_target(target, goal, started + TRANSFER_TIMEOUT, heard_within)
            .await
            .map_err(|matched| {
                Error::Command(format!(
                    "ERR node {target} is not caught up (matched {matched:?} of {goal:?}, or not heard from within {} ms, after {} ms); leadership unchanged",
                    options.election_timeout_max.as_millis(),
                    started.elapsed().as_millis()
                ))
            })?;
        self.paused.send_replace(true);
        let mut guard = TransferGuard {
            cluster: Some(self.clone()),
        };
        let outcome = self.hand_over(target, &options).await;
        guard.cluster = None;
        self.resume_after_transfer();
        self.tell_others(&ElectionControl::Resume, None).await;
        outcome?;
        Ok(format!(
            "leadership moved to node {target} in {} ms",
            started.elapsed().as_millis()
        ))
    }

    /// Waits until the leader's replication to `target` has matched at least `goal` (None:
    /// the log is empty) and, with `heard_within`, this node has heard from the target that
    /// recently (a target that died caught up would otherwise pass), up to `deadline`; on
    /// timeout, what it matched.
    async fn wait_for_target(
        &self,
        target: NodeId,
        goal: Option<u64>,
        deadline: Instant,
        heard_within: Option<Duration>,
    ) -> Result<(), Option<u64>> {
        loop {
            let heard = heard_within.is_none_or(|within| {
                self.network
                    .last_contact(target)
                    .is_some_and(|at| at.elapsed() <= within)
            });
            let matched = self
                .raft
                .metrics()
                .borrow()
                .replication
                .as_ref()
                .and_then(|r| r.get(&target).cloned().flatten())
                .map(|id| id.index);
            if heard && matched.is_some() && matched >= goal {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(matched);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn hand_over(
        &self,
        target: NodeId,
        options: &super::ClusterOptions,
    ) -> Result<(), Error> {
        let paused_at = Instant::now();
        // 2. The target must hold every entry. New proposals are paused and it was close
        //    behind, so this takes a replication round trip; bounded, because writes wait.
        let last = self.raft.metrics().borrow().last_log_index;
        self.wait_for_target(target, last, paused_at + options.election_timeout_max, None)
            .await
            .map_err(|matched| {
                Error::Command(format!(
                    "ERR node {target} did not catch up while writes were paused (matched {matched:?}, last {last:?}); leadership unchanged"
                ))
            })?;
        // 3. Only the target may campaign; the pause ends by itself if this node dies.
        let pause_ms = (TRANSFER_TIMEOUT + options.election_timeout_max).as_millis() as u64;
        self.tell_others(&ElectionControl::Pause { for_ms: pause_ms }, Some(target))
            .await;
        self.raft.runtime_config().elect(false);
        self.raft.runtime_config().heartbeat(false);
        // 4. Followers refuse votes until their leader lease (election_timeout_max) runs out.
        tokio::time::sleep(options.election_timeout_max + options.heartbeat_interval).await;
        let client = self
            .client_for(target)
            .ok_or(Error::NoLeader { waited_ms: 0 })?;
        self.network
            .call::<_, ()>(
                &client,
                rpc::KIND_ELECTION,
                &ElectionControl::ElectNow,
                ADMIN_RPC_TIMEOUT,
            )
            .await
            .map_err(|e| {
                Error::Command(format!(
                    "ERR node {target} did not take the election request: {e}"
                ))
            })?;
        // 5. Wait for the target to lead.
        let mut metrics = self.raft.metrics();
        let waited = tokio::time::timeout_at(
            paused_at + TRANSFER_TIMEOUT + options.election_timeout_max,
            metrics.wait_for(|m| m.current_leader == Some(target)),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::Command(format!(
                "ERR node {target} did not become leader in time; elections resumed"
            ))),
        }
    }

    /// Sends an election control to every other member except `skip`, all at once and best
    /// effort: a member that misses a pause may campaign too (the transfer then reports that the
    /// target did not win), and a missed resume is covered by the pause's own deadline. A member
    /// that is down costs one request timeout, not one per member (writes wait meanwhile).
    async fn tell_others(&self, control: &ElectionControl, skip: Option<NodeId>) {
        let mut calls = tokio::task::JoinSet::new();
        for id in self.members().into_keys() {
            if id == self.id || Some(id) == skip {
                continue;
            }
            if let Some(client) = self.client_for(id) {
                let (network, control) = (self.network.clone(), control.clone());
                calls.spawn(async move {
                    let _: Result<(), _> = network
                        .call(&client, rpc::KIND_ELECTION, &control, ADMIN_RPC_TIMEOUT)
                        .await;
                });
            }
        }
        while calls.join_next().await.is_some() {}
    }

    /// Pauses, resumes or starts elections on this node (leader transfer).
    pub(crate) async fn election_control(self: &Arc<Self>, control: ElectionControl) {
        match control {
            ElectionControl::Pause { for_ms } => {
                self.raft.runtime_config().elect(false);
                self.failover
                    .pause_until(Some(Instant::now() + Duration::from_millis(for_ms)));
                let this = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(for_ms)).await;
                    this.raft.runtime_config().elect(true);
                });
            }
            ElectionControl::Resume => {
                self.failover.pause_until(None);
                self.raft.runtime_config().elect(true);
            }
            ElectionControl::ElectNow => {
                self.failover.pause_until(None);
                *self.transfer_requested.lock().expect("transfer lock") = Some(Instant::now());
                self.raft.runtime_config().elect(true);
                if let Err(e) = self.raft.trigger().elect().await {
                    tracing::warn!(error = %e, "could not start the requested election");
                }
            }
        }
    }
}

/// How a `Forget` answer names the log index of a committed membership without the node.
const FORGOTTEN_AT: &str = "membership without it at log index ";

/// The index a `Forget` answer names ([`FORGOTTEN_AT`]), if any.
fn forgotten_index(answer: &str) -> Option<u64> {
    let (_, rest) = answer.split_once(FORGOTTEN_AT)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// True when openraft refused a membership change because the previous one has not committed
/// yet (another `add-node`, a rejoin or a removal is under way): worth retrying shortly.
fn membership_change_in_progress(
    error: &openraft::error::RaftError<NodeId, openraft::error::ClientWriteError<NodeId, NodeInfo>>,
) -> bool {
    use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
    matches!(
        error,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(
            ChangeMembershipError::InProgress(_)
        ))
    )
}

/// Refuses a membership whose voters can never satisfy the zone rule.
pub(crate) fn zones_allow_acks(
    members: &BTreeMap<NodeId, NodeInfo>,
    min_ack_zones: usize,
) -> Result<(), String> {
    let zones: BTreeSet<&str> = members.values().map(|n| n.zone.as_str()).collect();
    if zones.len() < min_ack_zones {
        return Err(format!(
            "min_ack_zones is {min_ack_zones} but the voters span only {} zone(s) ({}); no write could ever be acknowledged",
            zones.len(),
            zones.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(())
}

/// Undoes a leader transfer's pause if the transfer's future is dropped midway (its caller
/// gave up: a timeout, a closed connection). Without it the node would stay paused, with
/// heartbeats and elections off, for good. Disarmed (`cluster: None`) when the transfer ends
/// normally and resumes everything itself.
struct TransferGuard {
    cluster: Option<Arc<Cluster>>,
}

impl Drop for TransferGuard {
    fn drop(&mut self) {
        let Some(cluster) = self.cluster.take() else {
            return;
        };
        tracing::warn!("leader transfer abandoned midway: resuming proposals and elections");
        cluster.resume_after_transfer();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                cluster.tell_others(&ElectionControl::Resume, None).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forget_answer_names_its_index() {
        assert_eq!(
            forgotten_index(&format!("node 3 forgotten; re-add it ({FORGOTTEN_AT}42)")),
            Some(42)
        );
        assert_eq!(forgotten_index("node 3 forgotten; re-add it"), None);
    }

    /// Seed 7 of the simulator on the openraft 0.10 branch (three and five nodes; the same rule
    /// holds on 0.9, where a heartbeat saves the vote too): a node restarted from
    /// a wiped disk saved the leader's vote from a heartbeat before it asked its peers whether
    /// the group lists it, took that vote for proof that its disk was not wiped, and waited at
    /// index 0 for a replication that openraft never sends (the leader's record of what the
    /// node holds never goes back). A vote must not count; only the formation mark does.
    #[test]
    fn a_vote_alone_does_not_make_an_empty_log_unwiped() {
        let vote_from_a_heartbeat = LogStoreMeta {
            vote: Some(crate::raft::Vote::new_committed(4, 2)),
            ..LogStoreMeta::default()
        };
        assert_eq!(
            EmptyLogVerdict::of(true, &vote_from_a_heartbeat),
            EmptyLogVerdict::Wiped
        );
        let marked = LogStoreMeta {
            formation_member: true,
            ..vote_from_a_heartbeat.clone()
        };
        assert_eq!(
            EmptyLogVerdict::of(true, &marked),
            EmptyLogVerdict::NotReplicatedYet
        );
        assert_eq!(
            EmptyLogVerdict::of(false, &vote_from_a_heartbeat),
            EmptyLogVerdict::NotListed
        );
        assert_eq!(
            EmptyLogVerdict::of(true, &LogStoreMeta::default()),
            EmptyLogVerdict::Wiped
        );
    }
}
