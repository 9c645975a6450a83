//! openraft's log storage on top of the WAL.
//!
//! Every entry that is not purged is also kept decoded in memory, so replication and apply never
//! read the disk; the WAL is read only at open. Memory is bounded by the snapshot policy, which
//! purges the prefix a snapshot covers. Invariant: the cached entries are consecutive and end at
//! the WAL's accepted position; `last_purged <= first cached - 1`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, LogState, RaftLogReader};
use serde::{Deserialize, Serialize};

use super::{
    log_io_error, Entry, FlushSlot, LogId, StorageError, TypeConfig, Vote, RECORD_KIND_ENTRY,
};
use crate::wal::{Record, Recovery, Wal, WalError};

/// What the WAL's metadata blob holds for raft: the vote, the purge point and the formation
/// mark.
///
/// Encoded with postcard, fields in this order. `formation_member` was added later: a blob
/// without it (two fields) decodes with the mark unset, and an older build reading a blob with
/// it ignores the trailing byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStoreMeta {
    pub vote: Option<Vote>,
    pub last_purged: Option<LogId>,
    /// Set (durably) when the node forming the group named this node a member, before the group
    /// had any entry. An empty log with this mark means "not replicated to yet"; an empty log
    /// without it, in a group that lists this node, means "lost its data" (wiped disk).
    pub formation_member: bool,
}

/// The blob as written before `formation_member` existed.
#[derive(Deserialize)]
struct LogStoreMetaV1 {
    vote: Option<Vote>,
    last_purged: Option<LogId>,
}

impl LogStoreMeta {
    /// The blob's bytes (postcard).
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("log meta always encodes")
    }

    /// Decodes a blob of this build or of a build before `formation_member`.
    pub fn decode(bytes: &[u8]) -> Result<LogStoreMeta, postcard::Error> {
        postcard::from_bytes::<LogStoreMeta>(bytes).or_else(|error| {
            let old = postcard::from_bytes::<LogStoreMetaV1>(bytes).map_err(|_| error)?;
            Ok(LogStoreMeta {
                vote: old.vote,
                last_purged: old.last_purged,
                formation_member: false,
            })
        })
    }
}

struct Shared {
    wal: Arc<Wal>,
    entries: RwLock<BTreeMap<u64, Entry>>,
    meta: Mutex<LogStoreMeta>,
    /// Held across a read-modify-write of the blob, so concurrent updates (a vote from the
    /// engine, the formation mark from the cluster) never undo each other.
    meta_writes: tokio::sync::Mutex<()>,
    /// Kept alive as long as any clone of this store (see `LogStore::hold`).
    guard: Mutex<Option<Arc<dyn std::any::Any + Send + Sync>>>,
}

/// The log store handed to openraft; clones share one WAL and one cache (cheap `Arc` clone).
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Shared>,
}

/// A handle that does not keep the store (its WAL, its directory lock) alive: for owners that
/// may outlive the node, such as the cluster's tasks.
#[derive(Clone)]
pub struct WeakLogStore {
    shared: std::sync::Weak<Shared>,
}

impl WeakLogStore {
    /// The store, unless every strong handle is gone (the node stopped).
    pub fn upgrade(&self) -> Option<LogStore> {
        self.shared.upgrade().map(|shared| LogStore { shared })
    }
}

/// Why recovered WAL contents cannot be used as a raft log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogRecoveryError {
    #[error("WAL record at index {index} does not decode as a log entry: {reason}")]
    Undecodable { index: u64, reason: String },
    #[error("WAL metadata does not decode: {reason}")]
    MetaUndecodable { reason: String },
    #[error("WAL record {index} carries term {record_term} but its entry says term {entry_term}")]
    TermMismatch {
        index: u64,
        record_term: u64,
        entry_term: u64,
    },
}

impl LogStore {
    /// Builds the store from what the WAL recovered: decodes every record after the purge point.
    pub fn from_recovery(wal: Arc<Wal>, recovery: Recovery) -> Result<Self, LogRecoveryError> {
        let meta = match &recovery.meta {
            Some(bytes) => {
                LogStoreMeta::decode(bytes).map_err(|e| LogRecoveryError::MetaUndecodable {
                    reason: e.to_string(),
                })?
            }
            None => LogStoreMeta::default(),
        };
        let purged_index = meta.last_purged.map(|id| id.index);
        let mut entries = BTreeMap::new();
        for record in recovery.records {
            if purged_index.is_some_and(|p| record.index <= p) {
                continue;
            }
            let entry = decode_entry(&record)?;
            entries.insert(record.index, entry);
        }
        Ok(Self {
            shared: Arc::new(Shared {
                wal,
                entries: RwLock::new(entries),
                meta: Mutex::new(meta),
                meta_writes: tokio::sync::Mutex::new(()),
                guard: Mutex::new(None),
            }),
        })
    }

    /// Keeps `guard` alive until the last clone of this store (and so the WAL) is dropped. The
    /// node passes its data directory lock, so the directory stays locked while a WAL writer
    /// may still run.
    pub fn hold(&self, guard: Arc<dyn std::any::Any + Send + Sync>) {
        *self.shared.guard.lock().expect("guard lock") = Some(guard);
    }

    /// A handle that does not keep this store alive.
    pub fn downgrade(&self) -> WeakLogStore {
        WeakLogStore {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// The WAL under this store (for positions and statistics).
    pub fn wal(&self) -> &Arc<Wal> {
        &self.shared.wal
    }

    /// Number of entries held (not yet purged).
    pub fn entry_count(&self) -> usize {
        self.shared.entries.read().expect("log cache lock").len()
    }

    /// The current metadata (vote, purge point).
    pub fn meta(&self) -> LogStoreMeta {
        self.shared.meta.lock().expect("log meta lock").clone()
    }

    /// Changes the blob and makes it durable before returning.
    async fn update_meta(&self, update: impl FnOnce(&mut LogStoreMeta)) -> Result<(), WalError> {
        let _turn = self.shared.meta_writes.lock().await;
        let mut meta = self.meta();
        update(&mut meta);
        self.shared.wal.save_meta(meta.encode()).await?;
        *self.shared.meta.lock().expect("log meta lock") = meta;
        Ok(())
    }

    /// Records durably that the node forming the group named this node a member (see
    /// [`LogStoreMeta::formation_member`]).
    pub async fn mark_formation_member(&self) -> Result<(), WalError> {
        if self.meta().formation_member {
            return Ok(());
        }
        self.update_meta(|meta| meta.formation_member = true).await
    }
}

/// Decodes one WAL record into an openraft entry, checking the record header against it.
pub(crate) fn decode_entry(record: &Record) -> Result<Entry, LogRecoveryError> {
    let entry: Entry =
        postcard::from_bytes(&record.payload).map_err(|e| LogRecoveryError::Undecodable {
            index: record.index,
            reason: e.to_string(),
        })?;
    if entry.log_id.index != record.index {
        return Err(LogRecoveryError::Undecodable {
            index: record.index,
            reason: format!("entry says index {}", entry.log_id.index),
        });
    }
    if entry.log_id.leader_id.term != record.term {
        return Err(LogRecoveryError::TermMismatch {
            index: record.index,
            record_term: record.term,
            entry_term: entry.log_id.leader_id.term,
        });
    }
    Ok(entry)
}

/// Encodes an entry as a WAL record (term and index also in the record header).
pub(crate) fn encode_entry(entry: &Entry) -> Record {
    let payload = postcard::to_allocvec(entry).expect("log entries always encode");
    Record {
        index: entry.log_id.index,
        term: entry.log_id.leader_id.term,
        kind: RECORD_KIND_ENTRY,
        payload: Bytes::from(payload),
    }
}

fn wal_to_io(error: WalError) -> io::Error {
    io::Error::other(error)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let entries = self.shared.entries.read().expect("log cache lock");
        Ok(entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged = self.meta().last_purged;
        let last_cached = self
            .shared
            .entries
            .read()
            .expect("log cache lock")
            .last_key_value()
            .map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last_cached.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.update_meta(|meta| meta.vote = Some(vote))
            .await
            .map_err(|e| log_io_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.meta().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut records = Vec::new();
        // The batcher slots of this node's own proposals, freed once they are flushed.
        let mut flushed_slots = Vec::new();
        {
            let mut cache = self.shared.entries.write().expect("log cache lock");
            for entry in entries {
                debug_assert!(
                    cache
                        .last_key_value()
                        .is_none_or(|(last, _)| *last + 1 == entry.log_id.index),
                    "log entries must be consecutive"
                );
                records.push(encode_entry(&entry));
                if let EntryPayload::Normal(proposal) = &entry.payload {
                    if proposal.flushed.is_held() {
                        flushed_slots.push(proposal.flushed.clone());
                    }
                }
                cache.insert(entry.log_id.index, entry);
            }
        }
        self.shared.wal.append(
            records,
            Box::new(move |result| {
                // Freed before openraft hears of the flush, so the batcher is woken first and
                // its next proposal never waits for this entry's commit and apply.
                flushed_slots.iter().for_each(FlushSlot::release);
                callback.log_io_completed(result.map_err(wal_to_io));
            }),
        );
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.shared
            .wal
            .truncate_from(log_id.index)
            .await
            .map_err(|e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))?;
        let mut cache = self.shared.entries.write().expect("log cache lock");
        cache.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The purge point is made durable first: if we crash after deleting segments, recovery
        // must not mistake the missing prefix for lost entries.
        self.update_meta(|meta| {
            debug_assert!(meta.last_purged.is_none_or(|p| p <= log_id));
            meta.last_purged = Some(log_id);
        })
        .await
        .map_err(|e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))?;
        self.shared
            .wal
            .purge_through(log_id.index)
            .await
            .map_err(|e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))?;
        let mut cache = self.shared.entries.write().expect("log cache lock");
        let kept = cache.split_off(&(log_id.index + 1));
        *cache = kept;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob written before the formation mark existed still decodes (mark unset), and a
    /// build without the mark reads a blob with it (postcard ignores the trailing byte).
    #[test]
    fn meta_blobs_decode_across_the_formation_mark() {
        let vote = Vote::new(7, 2);
        let old = postcard::to_allocvec(&(Some(vote), None::<LogId>)).expect("encode");
        let meta = LogStoreMeta::decode(&old).expect("old blob decodes");
        assert_eq!(meta.vote, Some(vote));
        assert!(!meta.formation_member);
        let new = LogStoreMeta {
            vote: Some(vote),
            last_purged: None,
            formation_member: true,
        };
        assert_eq!(LogStoreMeta::decode(&new.encode()).expect("decodes"), new);
        let (read_vote, purged): (Option<Vote>, Option<LogId>) =
            postcard::from_bytes(&new.encode()).expect("an older build reads it");
        assert_eq!((read_vote, purged), (Some(vote), None));
    }
}
