//! The server side of the peer requests: each kind in `rpc` decoded, handed to openraft or to
//! the cluster, and its answer encoded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, VoteRequest,
};

use super::cluster::RejoinPhase;
use super::rpc::{self, decode, encode, AdminRequest, ElectionControl, Hello};
use super::Cluster;
use crate::command::Command;
use crate::raft::{NodeId, Op, TypeConfig};

/// Serves peer requests for one node.
pub(crate) struct PeerService {
    pub cluster: Arc<Cluster>,
}

impl crate::peer::PeerHandler for PeerService {
    fn handle(
        &self,
        from: u64,
        kind: u8,
        payload: Bytes,
    ) -> Pin<Box<dyn Future<Output = Result<Bytes, String>> + Send + 'static>> {
        let cluster = self.cluster.clone();
        Box::pin(async move { serve(cluster, from, kind, payload).await })
    }

    fn connection_lost(&self, from: u64) {
        self.cluster.peer_connection_lost(from);
    }
}

async fn serve(
    cluster: Arc<Cluster>,
    from: NodeId,
    kind: u8,
    payload: Bytes,
) -> Result<Bytes, String> {
    match (cluster.rejoin_phase(), kind) {
        (RejoinPhase::Forgetting, rpc::KIND_APPEND_ENTRIES | rpc::KIND_INSTALL_SNAPSHOT | rpc::KIND_VOTE)
        | (RejoinPhase::Catching, rpc::KIND_VOTE) => {
            return Err(
                "this node lost its data and is rejoining: it takes no part in replication or votes until the leader re-adds it"
                    .into(),
            )
        }
        _ => {}
    }
    match kind {
        rpc::KIND_APPEND_ENTRIES => {
            let request: AppendEntriesRequest<TypeConfig> = decode(&payload, "append-entries")?;
            let leader_commit = request.leader_commit.map_or(0, |id| id.index);
            let result = cluster.raft.append_entries(request).await;
            if let Ok(AppendEntriesResponse::Success) = &result {
                cluster.note_leader_contact(leader_commit);
            }
            Ok(encode(&result))
        }
        rpc::KIND_VOTE => {
            if cluster.may_have_lost_its_data() {
                return Err(
                    "this node holds no log and no formation mark (it may have lost its data): it grants no vote until it holds a log again"
                        .into(),
                );
            }
            let request: VoteRequest<NodeId> = decode(&payload, "vote")?;
            cluster.failover.note_campaign(from, &request);
            Ok(encode(&cluster.raft.vote(request).await))
        }
        rpc::KIND_INSTALL_SNAPSHOT => {
            let request: InstallSnapshotRequest<TypeConfig> = decode(&payload, "install-snapshot")?;
            Ok(encode(&cluster.raft.install_snapshot(request).await))
        }
        rpc::KIND_HELLO => {
            let initialized = cluster.holds_log();
            let voters = cluster
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .collect();
            Ok(encode(&Hello {
                node_id: cluster.id,
                info: cluster.info.clone(),
                initialized,
                voters,
            }))
        }
        rpc::KIND_FORWARD => {
            let ops: Vec<Op> = decode(&payload, "forward")?;
            Ok(encode(&cluster.serve_forward(ops).await))
        }
        rpc::KIND_READ => {
            let command: Command = decode(&payload, "read")?;
            if command.is_write() {
                return Err("a forwarded read must not be a write".into());
            }
            Ok(encode(&cluster.serve_read(command).await))
        }
        rpc::KIND_STATUS => {
            let deep: bool = decode(&payload, "status")?;
            Ok(encode(&cluster.report_with(deep).await))
        }
        rpc::KIND_ADMIN => {
            let request: AdminRequest = decode(&payload, "admin")?;
            tracing::info!(from, ?request, "admin request from a peer");
            Ok(encode(&cluster.admin(request).await))
        }
        rpc::KIND_ELECTION => {
            let control: ElectionControl = decode(&payload, "election")?;
            cluster.election_control(control).await;
            Ok(encode(&()))
        }
        rpc::KIND_PUBLISH => {
            let request: super::PublishRequest = decode(&payload, "publish")?;
            Ok(encode(&(cluster.deliver_published(&request) as u64)))
        }
        rpc::KIND_FORMING => {
            let members: Vec<NodeId> = decode(&payload, "forming")?;
            cluster.accept_formation(from, &members).await?;
            Ok(encode(&()))
        }
        other => Err(format!("{} {other}", rpc::UNKNOWN_KIND)),
    }
}
