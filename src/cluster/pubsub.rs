//! PUBLISH across the cluster: the node a message is published on delivers it to its own
//! subscribers and sends it, in parallel, to every other member of the membership, which
//! delivers it to theirs. Never through the Raft log: a message is not durable and is delivered
//! at most once (a member that is down or slower than [`PUBLISH_TIMEOUT`] misses it), as Redis's
//! pub/sub. The publisher's reply counts the receivers of every member that answered in time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::rpc;
use super::Cluster;

/// How long a publish waits for each other member's receiver count.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

/// A message published on another node: delivered here to local subscribers only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishRequest {
    /// SPUBLISH (shard channels) rather than PUBLISH.
    pub shard: bool,
    pub channel: Bytes,
    pub message: Bytes,
}

/// Delivers a message to this node's subscribers and answers how many received it. Installed
/// by the server (the hub lives there); without one, nobody here listens.
pub type Publisher = Arc<dyn Fn(&PublishRequest) -> usize + Send + Sync>;

impl Cluster {
    /// Installs where messages published on other nodes are delivered.
    pub fn set_publisher(&self, publisher: Publisher) {
        let _ = self.publisher.set(publisher);
    }

    /// Delivers a message published on another node to this node's subscribers.
    pub(crate) fn deliver_published(&self, request: &PublishRequest) -> usize {
        self.publisher.get().map_or(0, |deliver| deliver(request))
    }

    /// Sends a message published on this node to every other member; the number of receivers
    /// they reported (members that failed or timed out count 0 and miss the message).
    pub async fn publish_to_peers(
        self: &Arc<Self>,
        shard: bool,
        channel: &Bytes,
        message: &Bytes,
    ) -> usize {
        if self.options.is_none() {
            return 0;
        }
        let peers: Vec<(u64, String)> = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, info)| (*id, info.peer_addr.clone()))
            .collect();
        if peers.is_empty() {
            return 0;
        }
        let request = Arc::new(PublishRequest {
            shard,
            channel: channel.clone(),
            message: message.clone(),
        });
        let mut asks = tokio::task::JoinSet::new();
        for (id, addr) in peers {
            let this = self.clone();
            let request = request.clone();
            asks.spawn(async move {
                let client = this.network.client(id, &addr)?;
                match this
                    .network
                    .call::<PublishRequest, u64>(&client, rpc::KIND_PUBLISH, &request, PUBLISH_TIMEOUT)
                    .await
                {
                    Ok(count) => Some(count as usize),
                    Err(e) => {
                        tracing::debug!(peer = id, error = %e, "a published message did not reach a peer");
                        None
                    }
                }
            });
        }
        let mut total = 0;
        while let Some(answer) = asks.join_next().await {
            total += answer.ok().flatten().unwrap_or(0);
        }
        total
    }
}
