//! openraft's requests on the peer transport: their kinds, and the payload encoding every peer
//! request uses (docs/formats.md, "Peer requests").
//!
//! The cluster's own requests (forwarded writes and reads, status, admin) number their kinds
//! in `crate::cluster::rpc`, from 10 up; the kinds below 10 are openraft's.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// openraft `AppendEntriesRequest` → `Result<AppendEntriesResponse, RaftError>`.
pub const KIND_APPEND_ENTRIES: u8 = 1;
/// openraft `VoteRequest` → `Result<VoteResponse, RaftError>`.
pub const KIND_VOTE: u8 = 2;
/// openraft `InstallSnapshotRequest` (one chunk) → `Result<InstallSnapshotResponse, RaftError>`.
pub const KIND_INSTALL_SNAPSHOT: u8 = 3;

/// Encodes a payload. Encoding our own types into a Vec cannot fail.
pub fn encode<T: Serialize>(value: &T) -> Bytes {
    Bytes::from(postcard::to_allocvec(value).expect("peer payloads always serialize"))
}

/// Decodes a payload, naming what was expected when it is malformed.
pub fn decode<T: DeserializeOwned>(payload: &[u8], what: &str) -> Result<T, String> {
    postcard::from_bytes(payload).map_err(|e| format!("malformed {what} payload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{NodeId, TypeConfig, Vote};

    #[test]
    fn raft_messages_round_trip_through_postcard() {
        let vote = openraft::raft::VoteRequest::<NodeId>::new(Vote::new(3, 1), None);
        let back: openraft::raft::VoteRequest<NodeId> = decode(&encode(&vote), "vote").unwrap();
        assert_eq!(back, vote);
        let append = openraft::raft::AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(4, 2),
            prev_log_id: None,
            entries: vec![],
            leader_commit: None,
        };
        let back: openraft::raft::AppendEntriesRequest<TypeConfig> =
            decode(&encode(&append), "append").unwrap();
        assert_eq!(back.vote, append.vote);
        let result: Result<
            openraft::raft::VoteResponse<NodeId>,
            openraft::error::RaftError<NodeId>,
        > = Err(openraft::error::RaftError::Fatal(
            openraft::error::Fatal::Stopped,
        ));
        let back: Result<openraft::raft::VoteResponse<NodeId>, openraft::error::RaftError<NodeId>> =
            decode(&encode(&result), "vote result").unwrap();
        assert!(back.is_err());
    }
}
