//! The requests nodes send each other over the peer transport, and their payloads.
//!
//! The transport carries `(kind, payload)` pairs opaquely; this file names every kind and the
//! postcard-encoded type of its request and response (docs/formats.md, "Peer requests").
//! openraft's own three kinds, and the payload encoding, are defined with the network adapter
//! that sends them (`crate::raft::rpc`) and named here again.

use serde::{Deserialize, Serialize};

use crate::command::Reply;
use crate::error::Error;
use crate::raft::{NodeId, NodeInfo};

pub use crate::raft::rpc::{decode, encode, KIND_APPEND_ENTRIES, KIND_INSTALL_SNAPSHOT, KIND_VOTE};

/// `()` → [`Hello`]: who is at this address, and has it joined a cluster already.
pub const KIND_HELLO: u8 = 10;
/// `Vec<Op>` → `Result<Vec<Result<Reply, Error>>, Error>`: a follower's batch of writes.
pub const KIND_FORWARD: u8 = 11;
/// `Command` (a read) → `Result<Reply, Error>`: a follower's linearizable read, served by the
/// leader after it confirms its leadership with a quorum.
pub const KIND_READ: u8 = 12;
/// `bool` (deep: verify file checksums too) → [`crate::cluster::NodeReport`]: this node's own
/// view (status and check).
pub const KIND_STATUS: u8 = 13;
/// [`AdminRequest`] → `Result<String, Error>`: membership changes and leader transfer, run by
/// the leader.
pub const KIND_ADMIN: u8 = 14;
/// [`ElectionControl`] → `()`: pauses or starts elections during a leader transfer.
pub const KIND_ELECTION: u8 = 15;
/// `Vec<NodeId>` (the voters of the group about to be formed) → `()`: sent by the node that
/// forms the group to every other member, which records durably that it is a member from the
/// start (`LogStoreMeta::formation_member`) before the group exists. Refused (an error) by a
/// node that already belongs to a group. A release without this kind answers
/// [`UNKNOWN_KIND`]: the group is formed anyway, that node without the mark.
pub const KIND_FORMING: u8 = 16;

/// How a node answers a request kind it does not know (the start of the error text).
pub const UNKNOWN_KIND: &str = "unknown peer request kind";

/// [`crate::cluster::PublishRequest`] → `u64`: a message PUBLISHed on the sender, delivered to
/// this node's subscribers; the answer is how many received it.
pub const KIND_PUBLISH: u8 = 20;

/// Answer to [`KIND_HELLO`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: NodeId,
    pub info: NodeInfo,
    /// True once this node holds a log with a membership (it belongs to a cluster).
    pub initialized: bool,
    /// The voters this node knows (empty when not initialized).
    pub voters: Vec<NodeId>,
}

/// Operations only the leader runs; a follower forwards them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Adds the node listening on `peer_addr` (its id must be `node_id`) as a learner, waits for
    /// it to catch up, then makes it a voter.
    AddNode { node_id: NodeId, peer_addr: String },
    /// Removes a voter or learner from the membership.
    RemoveNode { node_id: NodeId },
    /// Hands leadership to `node_id` (which must be a caught-up voter).
    TransferLeader { node_id: NodeId },
    /// Sent by a voter that restarted without its data: the leader removes it from the
    /// membership, so that its replication progress is forgotten (it no longer holds what it
    /// acknowledged); the node then asks to be added again.
    Forget { node_id: NodeId },
}

/// Sent by a leader that is handing over leadership.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ElectionControl {
    /// Do not start elections for this long (elections resume by themselves afterwards, so a
    /// leader that dies mid-transfer cannot leave the cluster without elections).
    Pause { for_ms: u64 },
    /// Elections may start again.
    Resume,
    /// Start an election now (the transfer's target).
    ElectNow,
}

/// The per-op results of a forwarded batch.
pub type ForwardResults = Result<Vec<Result<Reply, Error>>, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_results_round_trip_with_every_error_kind() {
        let results: ForwardResults = Ok(vec![
            Ok(Reply::Ok),
            Ok(Reply::Integer(-3)),
            Err(Error::Command("WRONGTYPE x".into())),
            Err(Error::NotLeader { leader: Some(2) }),
            Err(Error::Uncertain { reason: "r".into() }),
            Err(Error::NoLeader { waited_ms: 7 }),
        ]);
        let back: ForwardResults = decode(&encode(&results), "forward").expect("decode");
        assert_eq!(back, results);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode::<Hello>(&[0xff, 0xff, 0xff], "hello").is_err());
        assert!(decode::<ForwardResults>(&[], "forward").is_err());
    }
}
