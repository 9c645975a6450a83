//! The peer network openraft uses to reach other voters: each RPC is one request on the
//! authenticated peer transport (`crate::peer`), its payload postcard-encoded.
//!
//! A node without a cluster configuration has no transport: every RPC reports the target as
//! unreachable (a single voter never sends one). The network also remembers when each peer last
//! answered, which status and `tandem check` report as "last contact".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::rpc;
use super::{LogId, NodeId, NodeInfo, TypeConfig};
use crate::peer::{PeerClient, PeerConfig, PeerError, PeerTransport, TcpTransport};

/// Factory for peer connections; clones share the connections and the contact times.
#[derive(Clone, Default)]
pub struct PeerNetwork {
    inner: Arc<NetworkInner>,
}

#[derive(Default)]
struct NetworkInner {
    config: Option<Arc<PeerConfig>>,
    /// How clients reach peers; None = TCP (the default transport).
    transport: Option<Arc<dyn PeerTransport>>,
    clients: Mutex<HashMap<NodeId, (String, PeerClient)>>,
    contacts: Mutex<HashMap<NodeId, Instant>>,
    /// The newest vote request this node sent as a candidate: its term and the last log id it
    /// carried (fast failover compares it with the other candidates').
    campaign: Mutex<Option<(u64, Option<LogId>)>>,
    /// Per peer, the term of the newest vote request it answered and whether it granted it.
    campaign_answers: Mutex<HashMap<NodeId, (u64, bool)>>,
}

impl std::fmt::Debug for PeerNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerNetwork")
            .field("transport", &self.inner.config.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no peer transport configured: node {target} cannot be reached")]
struct NoTransport {
    target: NodeId,
}

impl PeerNetwork {
    /// A network over the peer transport with this identity and secret.
    pub fn new(config: Arc<PeerConfig>) -> Self {
        Self::with_transport(config, None)
    }

    /// A network over `transport` (None: TCP).
    pub fn with_transport(
        config: Arc<PeerConfig>,
        transport: Option<Arc<dyn PeerTransport>>,
    ) -> Self {
        Self {
            inner: Arc::new(NetworkInner {
                config: Some(config),
                transport,
                ..NetworkInner::default()
            }),
        }
    }

    fn new_client(&self, target: NodeId, addr: &str, config: &Arc<PeerConfig>) -> PeerClient {
        match &self.inner.transport {
            None => TcpTransport.client(target, addr, config.clone()),
            Some(transport) => transport.client(target, addr, config.clone()),
        }
    }

    /// The client for `target` at `addr` (one shared connection per peer; replaced when the
    /// peer's address changes). None without a transport.
    pub fn client(&self, target: NodeId, addr: &str) -> Option<PeerClient> {
        let config = self.inner.config.as_ref()?;
        let mut clients = self.inner.clients.lock().expect("clients lock");
        let fresh = || (addr.to_string(), self.new_client(target, addr, config));
        let entry = clients.entry(target).or_insert_with(fresh);
        if entry.0 != addr {
            *entry = fresh();
        }
        Some(entry.1.clone())
    }

    /// A one-off client for an address whose node is not a member yet (cluster formation,
    /// adding a node). None without a transport.
    pub fn probe(&self, target: NodeId, addr: &str) -> Option<PeerClient> {
        let config = self.inner.config.as_ref()?;
        Some(self.new_client(target, addr, config))
    }

    /// When `target` last answered any request from this node.
    pub fn last_contact(&self, target: NodeId) -> Option<Instant> {
        self.inner
            .contacts
            .lock()
            .expect("contacts lock")
            .get(&target)
            .copied()
    }

    /// The last log id this node offered in its newest campaign, if that campaign's term is
    /// above `term`.
    pub fn campaign_after(&self, term: u64) -> Option<Option<LogId>> {
        let campaign = *self.inner.campaign.lock().expect("campaign lock");
        campaign
            .filter(|(campaign_term, _)| *campaign_term > term)
            .map(|(_, last_log_id)| last_log_id)
    }

    /// True when `peer` refused this node's newest campaign (the one of `campaign_after`).
    pub fn campaign_refused_by(&self, peer: NodeId) -> bool {
        let Some((term, _)) = *self.inner.campaign.lock().expect("campaign lock") else {
            return false;
        };
        self.inner
            .campaign_answers
            .lock()
            .expect("campaign lock")
            .get(&peer)
            .is_some_and(|(answered, granted)| *answered == term && !granted)
    }

    fn note_campaign_answer(&self, peer: NodeId, term: u64, granted: bool) {
        let mut answers = self.inner.campaign_answers.lock().expect("campaign lock");
        let answer = answers.entry(peer).or_insert((term, granted));
        if answer.0 <= term {
            *answer = (term, granted);
        }
    }

    fn note_campaign(&self, request: &VoteRequest<NodeId>) {
        let mut campaign = self.inner.campaign.lock().expect("campaign lock");
        let term = request.vote.leader_id.term;
        if campaign.is_none_or(|(newest, _)| newest <= term) {
            *campaign = Some((term, request.last_log_id));
        }
    }

    fn note_contact(&self, target: NodeId) {
        self.inner
            .contacts
            .lock()
            .expect("contacts lock")
            .insert(target, Instant::now());
    }

    /// Sends one request and decodes its answer; transport failures keep their kind.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        client: &PeerClient,
        kind: u8,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        let answer = client.call(kind, rpc::encode(request), timeout).await?;
        self.note_contact(client.target());
        rpc::decode(&answer, "response").map_err(|reason| PeerError::Protocol {
            target: client.target(),
            reason,
        })
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        PeerConnection {
            target,
            client: self.client(target, &node.peer_addr),
            network: self.clone(),
        }
    }
}

/// A connection to one peer, as openraft sees it.
pub struct PeerConnection {
    target: NodeId,
    client: Option<PeerClient>,
    network: PeerNetwork,
}

impl PeerConnection {
    async fn rpc<Req, Resp, E>(
        &self,
        kind: u8,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(client) = &self.client else {
            return Err(RPCError::Unreachable(Unreachable::new(&NoTransport {
                target: self.target,
            })));
        };
        let answer: Result<Resp, RaftError<NodeId, E>> = self
            .network
            .call(client, kind, request, option.hard_ttl())
            .await
            .map_err(|e| match e {
                // A connection that broke under a call was there a moment ago (the peer reset
                // it, or this node dropped it): retry with the next heartbeat, as for a
                // network error. "Unreachable" makes openraft stop replicating to the peer for
                // its backoff (500 ms, most of a follower's election timeout), so a reset
                // between a live leader and a follower would let the follower's timer run out.
                // If the peer is really gone the next call cannot connect, and that one backs off.
                PeerError::Unreachable {
                    request_sent: true, ..
                } => RPCError::Network(NetworkError::new(&e)),
                PeerError::Unreachable { .. } | PeerError::Rejected { .. } => {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                _ => RPCError::Network(NetworkError::new(&e)),
            })?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Room in a peer frame for an AppendEntries request's own fields (vote, log ids, counts).
const APPEND_ENTRIES_OVERHEAD_BYTES: usize = 4096;

/// How many of `entries` (a prefix, at least one) fit in `budget` encoded bytes.
fn entries_that_fit(entries: &[super::Entry], budget: usize) -> usize {
    let mut total = 0usize;
    for (count, entry) in entries.iter().enumerate() {
        let size = postcard::serialize_with_flavor(entry, postcard::ser_flavors::Size::default())
            .unwrap_or(usize::MAX);
        total = total.saturating_add(size);
        if total > budget && count > 0 {
            return count;
        }
    }
    entries.len()
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    /// Sends as many of the entries as fit in one peer frame; when that is not all of them,
    /// a success is reported as a partial one up to the last entry sent, and openraft sends
    /// the rest next (each entry alone fits: the batcher bounds entries to half a frame).
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        let frame_bytes_max = self
            .network
            .inner
            .config
            .as_ref()
            .map_or(usize::MAX, |c| c.frame_bytes_max);
        let budget = frame_bytes_max.saturating_sub(APPEND_ENTRIES_OVERHEAD_BYTES);
        let fit = entries_that_fit(&rpc.entries, budget);
        if fit == rpc.entries.len() {
            return self.rpc(rpc::KIND_APPEND_ENTRIES, &rpc, &option).await;
        }
        rpc.entries.truncate(fit);
        let last_sent = rpc.entries.last().map(|entry| entry.log_id);
        let response: AppendEntriesResponse<NodeId> =
            self.rpc(rpc::KIND_APPEND_ENTRIES, &rpc, &option).await?;
        Ok(match response {
            AppendEntriesResponse::Success => AppendEntriesResponse::PartialSuccess(last_sent),
            other => other,
        })
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeInfo, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(rpc::KIND_INSTALL_SNAPSHOT, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeInfo, RaftError<NodeId>>> {
        self.network.note_campaign(&rpc);
        let response: VoteResponse<NodeId> = self.rpc(rpc::KIND_VOTE, &rpc, &option).await?;
        self.network.note_campaign_answer(
            self.target,
            rpc.vote.leader_id.term,
            response.vote_granted,
        );
        Ok(response)
    }
}
