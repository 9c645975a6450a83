//! openraft's log storage on top of the WAL, with a bounded cache of decoded entries.
//!
//! The newest entries are kept decoded in memory (replication and apply read them there) only
//! while someone may still need them: an entry applied here and held by every follower is
//! released (`release_through`, fed by the node from openraft's metrics), and once the cache's
//! estimated bytes pass its bound the oldest entries already flushed are evicted even if not.
//! A read of a released or evicted entry decodes its record back from the WAL segments. Invariants: the held
//! entries (after the purge point) are consecutive, the cached ones are their newest suffix,
//! and every entry held but not cached is flushed in the WAL; a read-back never overlaps a
//! truncate or purge of the WAL (`Shared::disk`).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, LogState, RaftLogReader};
use serde::{Deserialize, Serialize};

use super::{
    log_io_error, Entry, FlushSlot, LogId, StorageError, TypeConfig, Vote, RECORD_KIND_ENTRY,
};
use crate::wal::{record_bytes, Record, Recovery, Wal, WalError};

/// Default bound on the estimated memory of the decoded entries cached (`log_cache_bytes_max`).
pub const LOG_CACHE_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Payload bytes one bounded read (`limited_get_log_entries`, what replication uses) reads
/// back from the WAL at most, beyond its first record.
pub const READ_BACK_BYTES_MAX: usize = 4 << 20;
/// Counted per cached entry besides its encoded bytes: the entry, its place in the cache.
const CACHED_ENTRY_OVERHEAD_BYTES: usize = std::mem::size_of::<CachedEntry>() + 64;
/// Counted per op of a cached entry besides its encoded bytes: the decoded `Op` and the
/// allocations of its keys and values.
const CACHED_OP_OVERHEAD_BYTES: usize = std::mem::size_of::<super::Op>() + 64;

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

/// The log cache's size and traffic (INFO `tandem`, `log_cache_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCacheStats {
    /// Entries held after the purge point, cached or not.
    pub held_entries: u64,
    /// WAL bytes of the held entries (records as written, headers included).
    pub held_log_bytes: u64,
    /// Entries held decoded in memory.
    pub cached_entries: u64,
    /// Their estimated memory.
    pub cached_bytes: u64,
    /// The bound on `cached_bytes`.
    pub cached_bytes_max: u64,
    /// Reads that went to the WAL for evicted entries, and the entries they decoded.
    pub wal_reads: u64,
    pub wal_read_entries: u64,
}

struct CachedEntry {
    entry: Entry,
    /// What it counts for against the bound (see `cached_bytes`).
    bytes: u64,
}

/// The held entries' bookkeeping and the cached suffix, under one lock.
struct Cache {
    /// Index of the first entry held: the purge point + 1, or where the log (re)started.
    held_first: u64,
    /// Running total of WAL bytes through each held index: `ends[i]` covers `held_first + i`.
    ends: VecDeque<u64>,
    /// The running total before `held_first`.
    ends_base: u64,
    /// The newest held entries, decoded: `entries[i]` is index `cached_first() + i`.
    entries: VecDeque<CachedEntry>,
    /// Sum of `entries[..].bytes`.
    bytes: u64,
    /// The last entry held (None while the log holds nothing after the purge point).
    last: Option<LogId>,
}

impl Cache {
    /// One past the last index held.
    fn held_end(&self) -> u64 {
        self.held_first + self.ends.len() as u64
    }

    fn cached_first(&self) -> u64 {
        self.held_end() - self.entries.len() as u64
    }

    /// The running byte total through `index` (clamped to what is held).
    fn total_through(&self, index: u64) -> u64 {
        if index < self.held_first || self.ends.is_empty() {
            return self.ends_base;
        }
        let at = ((index - self.held_first) as usize).min(self.ends.len() - 1);
        self.ends[at]
    }

    fn total(&self) -> u64 {
        self.ends.back().copied().unwrap_or(self.ends_base)
    }

    fn check(&self) {
        debug_assert!(self.entries.len() <= self.ends.len());
        debug_assert_eq!(
            self.last.map(|id| id.index + 1),
            (!self.ends.is_empty()).then(|| self.held_end()),
            "the last log id is the last entry held"
        );
        // The ends only (checking every entry would make each append O(n) in debug builds).
        if let (Some(first), Some(last)) = (self.entries.front(), self.entries.back()) {
            debug_assert_eq!(first.entry.log_id.index, self.cached_first());
            debug_assert_eq!(last.entry.log_id.index + 1, self.held_end());
        }
    }
}

struct Shared {
    wal: Arc<Wal>,
    cache: RwLock<Cache>,
    /// Read-locked while evicted entries are read back from the WAL, write-locked while a
    /// truncate or purge changes the WAL's files: a read-back never sees them change.
    disk: tokio::sync::RwLock<()>,
    cache_bytes_max: u64,
    meta: Mutex<LogStoreMeta>,
    wal_reads: AtomicU64,
    wal_read_entries: AtomicU64,
    /// `log_bytes_due` is woken once the running byte total reaches this (MAX = never).
    log_bytes_due_at: AtomicU64,
    log_bytes_due: tokio::sync::Notify,
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

/// What a decoded entry counts for in the cache: its encoded size plus fixed overheads per
/// entry and per op (an estimate of its heap footprint, not a measurement).
fn cached_bytes(entry: &Entry, payload_bytes: usize) -> u64 {
    let ops = match &entry.payload {
        EntryPayload::Normal(proposal) => proposal.ops.len(),
        _ => 0,
    };
    (CACHED_ENTRY_OVERHEAD_BYTES + payload_bytes + ops * CACHED_OP_OVERHEAD_BYTES) as u64
}

/// `[start, end)` of a range of indexes.
fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl LogStore {
    /// Builds the store from what the WAL recovered, with the default cache bound.
    pub fn from_recovery(wal: Arc<Wal>, recovery: Recovery) -> Result<Self, LogRecoveryError> {
        Self::from_recovery_bounded(wal, recovery, LOG_CACHE_BYTES_MAX_DEFAULT)
    }

    /// Builds the store from what the WAL recovered: every record after the purge point is
    /// checked by decoding it, and the newest that fit in `cache_bytes_max` stay cached.
    pub fn from_recovery_bounded(
        wal: Arc<Wal>,
        recovery: Recovery,
        cache_bytes_max: u64,
    ) -> Result<Self, LogRecoveryError> {
        Self::from_recovery_applied(wal, recovery, cache_bytes_max, 0)
    }

    /// As [`LogStore::from_recovery_bounded`], for a node whose state machine already holds
    /// everything through `applied_index` (its snapshot): entries at or below it are checked
    /// but not cached, since only a lagging follower could still ask for them (and a read
    /// back from the WAL serves it).
    pub fn from_recovery_applied(
        wal: Arc<Wal>,
        recovery: Recovery,
        cache_bytes_max: u64,
        applied_index: u64,
    ) -> Result<Self, LogRecoveryError> {
        let meta = match &recovery.meta {
            Some(bytes) => {
                LogStoreMeta::decode(bytes).map_err(|e| LogRecoveryError::MetaUndecodable {
                    reason: e.to_string(),
                })?
            }
            None => LogStoreMeta::default(),
        };
        let purged_index = meta.last_purged.map(|id| id.index);
        let records: Vec<Record> = recovery
            .records
            .into_iter()
            .filter(|r| purged_index.is_none_or(|p| r.index > p))
            .collect();
        let mut cache = Cache {
            held_first: records
                .first()
                .map_or(purged_index.map_or(0, |p| p + 1), |r| r.index),
            ends: VecDeque::with_capacity(records.len()),
            ends_base: 0,
            entries: VecDeque::new(),
            bytes: 0,
            last: None,
        };
        let mut total = 0;
        for record in &records {
            total += record_bytes(record.payload.len()) as u64;
            cache.ends.push_back(total);
        }
        // Newest first, so only what fits stays decoded; every record is still checked.
        let mut fits = true;
        for record in records.iter().rev() {
            let entry = decode_entry(record)?;
            if cache.last.is_none() {
                cache.last = Some(entry.log_id);
            }
            let bytes = cached_bytes(&entry, record.payload.len());
            fits = fits && cache.bytes + bytes <= cache_bytes_max && record.index > applied_index;
            if fits {
                cache.bytes += bytes;
                cache.entries.push_front(CachedEntry { entry, bytes });
            }
        }
        cache.check();
        Ok(Self {
            shared: Arc::new(Shared {
                wal,
                cache: RwLock::new(cache),
                disk: tokio::sync::RwLock::new(()),
                cache_bytes_max,
                meta: Mutex::new(meta),
                wal_reads: AtomicU64::new(0),
                wal_read_entries: AtomicU64::new(0),
                log_bytes_due_at: AtomicU64::new(u64::MAX),
                log_bytes_due: tokio::sync::Notify::new(),
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

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.shared.cache.read().expect("log cache lock")
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.shared.cache.write().expect("log cache lock")
    }

    /// Number of entries held (not yet purged), cached or not.
    pub fn entry_count(&self) -> usize {
        self.cache().ends.len()
    }

    /// The cache's size and read-back counters.
    pub fn cache_stats(&self) -> LogCacheStats {
        let cache = self.cache();
        LogCacheStats {
            held_entries: cache.ends.len() as u64,
            held_log_bytes: cache.total() - cache.ends_base,
            cached_entries: cache.entries.len() as u64,
            cached_bytes: cache.bytes,
            cached_bytes_max: self.shared.cache_bytes_max,
            wal_reads: self.shared.wal_reads.load(Ordering::Relaxed),
            wal_read_entries: self.shared.wal_read_entries.load(Ordering::Relaxed),
        }
    }

    /// Drops the cached entries at or below `index` (and flushed): the node has applied them
    /// and every follower has them, so only a node that falls behind later could ask for them
    /// again, and the WAL gives them back. Cheap when there is nothing to drop.
    pub fn release_through(&self, index: u64) {
        let flushed = self.shared.wal.positions().flushed;
        let through = index.min(flushed);
        let count = |cache: &Cache| {
            (through + 1)
                .saturating_sub(cache.cached_first())
                .min(cache.entries.len() as u64) as usize
        };
        // `flushed` 0 means nothing flushed (as in `append`).
        if through == 0 || count(&self.cache()) == 0 {
            return;
        }
        let released = {
            let mut cache = self.cache_mut();
            let count = count(&cache);
            let released: Vec<CachedEntry> = cache.entries.drain(..count).collect();
            cache.bytes -= released.iter().map(|e| e.bytes).sum::<u64>();
            cache.check();
            released
        };
        // Freed outside the lock (freeing decoded entries is not free).
        drop(released);
    }

    /// WAL bytes of the entries held after `index` (for the snapshot policy by log bytes).
    pub fn log_bytes_after(&self, index: u64) -> u64 {
        let cache = self.cache();
        cache.total() - cache.total_through(index)
    }

    /// Arms [`LogStore::log_bytes_due`] to fire once the entries after `index` take `bytes` of
    /// WAL (at once if they already do).
    pub fn notify_when_log_bytes_after(&self, index: u64, bytes: u64) {
        let (due_at, total) = {
            let cache = self.cache();
            (
                cache.total_through(index).saturating_add(bytes),
                cache.total(),
            )
        };
        self.shared
            .log_bytes_due_at
            .store(due_at, Ordering::Relaxed);
        if total >= due_at {
            self.shared.log_bytes_due.notify_one();
        }
    }

    /// Waits until the log reaches the size armed by [`LogStore::notify_when_log_bytes_after`].
    pub async fn log_bytes_due(&self) {
        self.shared.log_bytes_due.notified().await
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

    /// Entries `start..end` held (consecutive from `start` clamped to the purge point); a
    /// `limit` bounds the bytes read back from the WAL (replication's reads).
    async fn read(
        &self,
        start: u64,
        end: u64,
        limit: Option<usize>,
    ) -> Result<Vec<Entry>, StorageError> {
        let clone_cached = |cache: &Cache, from: u64, until: u64| -> Vec<Entry> {
            let first = cache.cached_first();
            let (from, until) = (from.max(first), until.min(cache.held_end()));
            (from..until)
                .map(|i| cache.entries[(i - first) as usize].entry.clone())
                .collect()
        };
        {
            let cache = self.cache();
            let (start, end) = (start.max(cache.held_first), end.min(cache.held_end()));
            if start >= end {
                return Ok(Vec::new());
            }
            if start >= cache.cached_first() {
                return Ok(clone_cached(&cache, start, end));
            }
        }
        // Evicted entries: read back from the WAL, which no truncate or purge may change
        // meanwhile. Evictions may go on; what they evict is flushed, so the disk has it.
        let _disk = self.shared.disk.read().await;
        let (start, disk_end, cached) = {
            let cache = self.cache();
            let (start, end) = (start.max(cache.held_first), end.min(cache.held_end()));
            if start >= end {
                return Ok(Vec::new());
            }
            let cached_first = cache.cached_first();
            if start >= cached_first {
                return Ok(clone_cached(&cache, start, end));
            }
            (
                start,
                end.min(cached_first),
                clone_cached(&cache, cached_first, end),
            )
        };
        let read_error = |e: WalError| {
            let id = LogId::new(openraft::CommittedLeaderId::new(0, 0), start);
            log_io_error(ErrorSubject::Log(id), ErrorVerb::Read, e)
        };
        let records = self
            .shared
            .wal
            .read_range(start, disk_end, limit.unwrap_or(usize::MAX))
            .map_err(read_error)?;
        let mut entries = Vec::with_capacity(records.len() + cached.len());
        for record in &records {
            let entry = decode_entry(record).map_err(|e| {
                let id = LogId::new(
                    openraft::CommittedLeaderId::new(record.term, 0),
                    record.index,
                );
                log_io_error(ErrorSubject::Log(id), ErrorVerb::Read, e)
            })?;
            entries.push(entry);
        }
        self.shared.wal_reads.fetch_add(1, Ordering::Relaxed);
        self.shared
            .wal_read_entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        let complete = entries.len() as u64 == disk_end - start;
        if !complete && limit.is_none() {
            let missing = WalError::NotInLog {
                index: start + entries.len() as u64,
                reason: "the log store holds it but the WAL ends before it".into(),
            };
            return Err(read_error(missing));
        }
        if complete {
            entries.extend(cached);
        }
        Ok(entries)
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
        let (start, end) = bounds(&range);
        self.read(start, end, None).await
    }

    /// As `try_get_log_entries`, but a read back from the WAL stops after
    /// [`READ_BACK_BYTES_MAX`] (replication sends the rest next).
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read(start, end, Some(READ_BACK_BYTES_MAX)).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged = self.meta().last_purged;
        let last_held = self.cache().last;
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last_held.or(last_purged),
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
        // Dropped after the lock is released (freeing a decoded entry is not free).
        let mut evicted = Vec::new();
        {
            let mut cache = self.cache_mut();
            for entry in entries {
                if cache.ends.is_empty() {
                    // An empty log may start at any index (after a purge of everything).
                    cache.held_first = entry.log_id.index;
                }
                debug_assert_eq!(
                    cache.held_end(),
                    entry.log_id.index,
                    "log entries must be consecutive"
                );
                let record = encode_entry(&entry);
                let total = cache.total() + record_bytes(record.payload.len()) as u64;
                cache.ends.push_back(total);
                if let EntryPayload::Normal(proposal) = &entry.payload {
                    if proposal.flushed.is_held() {
                        flushed_slots.push(proposal.flushed.clone());
                    }
                }
                let bytes = cached_bytes(&entry, record.payload.len());
                cache.bytes += bytes;
                cache.last = Some(entry.log_id);
                cache.entries.push_back(CachedEntry { entry, bytes });
                records.push(record);
            }
            if cache.bytes > self.shared.cache_bytes_max {
                // Evict the oldest entries already flushed: the WAL can give them back. The
                // newest stay, for apply and for followers that keep up.
                // `flushed` 0 also means "nothing flushed": index 0 waits for index 1.
                let flushed = self.shared.wal.positions().flushed;
                while cache.bytes > self.shared.cache_bytes_max
                    && !cache.entries.is_empty()
                    && flushed > 0
                    && cache.cached_first() <= flushed
                {
                    let Some(oldest) = cache.entries.pop_front() else {
                        break;
                    };
                    cache.bytes -= oldest.bytes;
                    evicted.push(oldest);
                }
            }
            cache.check();
            if cache.total() >= self.shared.log_bytes_due_at.load(Ordering::Relaxed) {
                self.shared.log_bytes_due.notify_one();
            }
        }
        drop(evicted);
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
        let index = log_id.index;
        let io_error = |e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e);
        let _disk = self.shared.disk.write().await;
        self.shared
            .wal
            .truncate_from(index)
            .await
            .map_err(io_error)?;
        let (evicted, last_on_disk) = {
            let mut cache = self.cache_mut();
            if index >= cache.held_end() {
                return Ok(());
            }
            let cached_first = cache.cached_first();
            let kept_cached = index.saturating_sub(cached_first) as usize;
            let evicted: Vec<CachedEntry> = cache.entries.drain(kept_cached..).collect();
            cache.bytes -= evicted.iter().map(|e| e.bytes).sum::<u64>();
            let kept_held = index.saturating_sub(cache.held_first) as usize;
            cache.ends.truncate(kept_held);
            cache.last = cache.entries.back().map(|last| last.entry.log_id);
            // The new last entry is evicted: its log id comes from the WAL.
            let last_on_disk = cache.last.is_none() && !cache.ends.is_empty();
            (evicted, last_on_disk.then(|| cache.held_end() - 1))
        };
        drop(evicted);
        if let Some(last) = last_on_disk {
            let records = self
                .shared
                .wal
                .read_range(last, last + 1, 0)
                .map_err(io_error)?;
            let entry = records
                .first()
                .map(decode_entry)
                .transpose()
                .map_err(|e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Read, e))?;
            let mut cache = self.cache_mut();
            cache.last = entry.map(|e| e.log_id);
            cache.check();
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let index = log_id.index;
        let io_error = |e| log_io_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e);
        // The purge point is made durable first: if we crash after deleting segments, recovery
        // must not mistake the missing prefix for lost entries.
        self.update_meta(|meta| {
            debug_assert!(meta.last_purged.is_none_or(|p| p <= log_id));
            meta.last_purged = Some(log_id);
        })
        .await
        .map_err(io_error)?;
        let _disk = self.shared.disk.write().await;
        self.shared
            .wal
            .purge_through(index)
            .await
            .map_err(io_error)?;
        let evicted = {
            let mut cache = self.cache_mut();
            let drop_cached = (index + 1)
                .saturating_sub(cache.cached_first())
                .min(cache.entries.len() as u64) as usize;
            let evicted: Vec<CachedEntry> = cache.entries.drain(..drop_cached).collect();
            cache.bytes -= evicted.iter().map(|e| e.bytes).sum::<u64>();
            let drop_held = (index + 1)
                .saturating_sub(cache.held_first)
                .min(cache.ends.len() as u64) as usize;
            if drop_held > 0 {
                cache.ends_base = cache.ends[drop_held - 1];
                cache.ends.drain(..drop_held);
            }
            cache.held_first = cache.held_first.max(index + 1);
            if cache.last.is_some_and(|last| last.index <= index) {
                cache.last = None;
            }
            cache.check();
            evicted
        };
        drop(evicted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorageExt;
    use openraft::CommittedLeaderId;

    use super::*;
    use crate::raft::{Op, Proposal};
    use crate::wal::WalOptions;

    /// Entries are about 300 bytes, so a 64 KiB segment holds ~200 of them.
    const SEGMENT_BYTES: u64 = 16 * 4096;

    fn entry(term: u64, index: u64) -> Entry {
        let key = Bytes::from(format!("key-{index}-term-{term}-").repeat(12));
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Proposal::new(index, vec![Op::PurgeExpired(vec![key])])),
        }
    }

    fn open(dir: &std::path::Path, cache_bytes_max: u64) -> LogStore {
        let options = WalOptions {
            segment_bytes: SEGMENT_BYTES,
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open(dir, options).expect("open wal");
        LogStore::from_recovery_bounded(Arc::new(wal), recovery, cache_bytes_max).expect("store")
    }

    fn entry_bytes(term: u64, index: u64) -> u64 {
        let e = entry(term, index);
        cached_bytes(&e, encode_entry(&e).payload.len())
    }

    /// What one of the first entries counts for (later ones, with longer indexes, a little more).
    fn one_entry_bytes() -> u64 {
        entry_bytes(1, 1)
    }

    async fn append_each(store: &mut LogStore, term: u64, indexes: std::ops::Range<u64>) {
        for index in indexes {
            store
                .blocking_append([entry(term, index)])
                .await
                .expect("append");
        }
    }

    async fn read(store: &mut LogStore, range: std::ops::Range<u64>) -> Vec<Entry> {
        store.try_get_log_entries(range).await.expect("read")
    }

    /// The cache keeps only the newest entries within its bound, and a read of older ones
    /// returns them from the WAL, equal to what was appended, across segment boundaries.
    #[tokio::test]
    async fn evicted_entries_are_read_back_from_the_wal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path(), 5 * one_entry_bytes());
        append_each(&mut store, 1, 1..1001).await;
        let stats = store.cache_stats();
        assert_eq!(stats.held_entries, 1000);
        assert!(
            (1..=6).contains(&stats.cached_entries),
            "cached {} entries with room for 5",
            stats.cached_entries
        );
        assert!(stats.cached_bytes <= 6 * one_entry_bytes());
        assert_eq!(stats.wal_reads, 0);

        let all = read(&mut store, 1..1001).await;
        let expected: Vec<Entry> = (1..1001).map(|i| entry(1, i)).collect();
        assert_eq!(all, expected);
        let stats = store.cache_stats();
        assert_eq!(stats.wal_reads, 1);
        assert!(stats.wal_read_entries >= 994);

        // A read starting in the middle of a sealed segment, and one beyond the end.
        assert_eq!(
            read(&mut store, 333..340).await,
            expected[332..339].to_vec()
        );
        assert_eq!(read(&mut store, 990..2000).await, expected[989..].to_vec());
        let limited = store.limited_get_log_entries(1, 1001).await.expect("read");
        assert!(!limited.is_empty());
        assert_eq!(limited, expected[..limited.len()].to_vec());
    }

    /// A truncate below the cached entries leaves a consecutive log whose last id (read back
    /// from the WAL) is right, and new entries continue it.
    #[tokio::test]
    async fn truncate_into_the_evicted_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path(), 3 * one_entry_bytes());
        append_each(&mut store, 1, 1..401).await;
        store
            .truncate(LogId::new(CommittedLeaderId::new(1, 1), 250))
            .await
            .expect("truncate");
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(1, 249).log_id));
        assert_eq!(store.cache_stats().cached_entries, 0);
        append_each(&mut store, 2, 250..300).await;
        let expected: Vec<Entry> = (1..250)
            .map(|i| entry(1, i))
            .chain((250..300).map(|i| entry(2, i)))
            .collect();
        assert_eq!(read(&mut store, 1..400).await, expected);
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(2, 299).log_id));
    }

    /// A purge through evicted entries, then through everything, keeps the rest readable and
    /// lets the log start again after the purge point.
    #[tokio::test]
    async fn purge_across_the_evicted_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path(), 4 * one_entry_bytes());
        append_each(&mut store, 1, 1..601).await;
        let bytes_before = store.cache_stats().held_log_bytes;
        store.purge(entry(1, 300).log_id).await.expect("purge");
        let stats = store.cache_stats();
        assert_eq!(stats.held_entries, 300);
        assert!(stats.held_log_bytes < bytes_before);
        assert_eq!(
            store.log_bytes_after(300),
            stats.held_log_bytes,
            "bytes after the purge point are all the bytes held"
        );
        let expected: Vec<Entry> = (301..601).map(|i| entry(1, i)).collect();
        assert_eq!(read(&mut store, 1..601).await, expected);

        store.purge(entry(1, 700).log_id).await.expect("purge all");
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(1, 700).log_id));
        assert!(read(&mut store, 1..1000).await.is_empty());
        append_each(&mut store, 2, 701..720).await;
        let expected: Vec<Entry> = (701..720).map(|i| entry(2, i)).collect();
        assert_eq!(read(&mut store, 1..1000).await, expected);
    }

    /// Reopening decodes and checks every record but caches only the newest within the bound.
    #[tokio::test]
    async fn reopen_caches_only_the_newest_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = open(dir.path(), u64::MAX);
            append_each(&mut store, 1, 1..301).await;
            assert_eq!(store.cache_stats().cached_entries, 300);
        }
        let newest_ten: u64 = (291..301).map(|i| entry_bytes(1, i)).sum();
        let mut store = open(dir.path(), newest_ten);
        let stats = store.cache_stats();
        assert_eq!((stats.held_entries, stats.cached_entries), (300, 10));
        let expected: Vec<Entry> = (1..301).map(|i| entry(1, i)).collect();
        assert_eq!(read(&mut store, 1..301).await, expected);
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(1, 300).log_id));
    }

    /// Entries released as applied and replicated leave the cache at once, whatever room it
    /// has; reads of them come back from the WAL, and the newer ones stay cached.
    #[tokio::test]
    async fn released_entries_leave_the_cache_and_are_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = open(dir.path(), u64::MAX);
        append_each(&mut store, 1, 1..101).await;
        store.wal().flush().await.expect("flush");
        store.release_through(0);
        assert_eq!(store.cache_stats().cached_entries, 100, "nothing released");
        store.release_through(60);
        let stats = store.cache_stats();
        assert_eq!((stats.held_entries, stats.cached_entries), (100, 40));
        let newest_forty: u64 = (61..101).map(|i| entry_bytes(1, i)).sum();
        assert_eq!(stats.cached_bytes, newest_forty);
        assert_eq!(stats.wal_reads, 0);
        let expected: Vec<Entry> = (1..101).map(|i| entry(1, i)).collect();
        assert_eq!(read(&mut store, 1..101).await, expected);
        assert_eq!(store.cache_stats().wal_read_entries, 60);
        // Releasing less than already released, or beyond the log, is harmless.
        store.release_through(10);
        store.release_through(1000);
        assert_eq!(store.cache_stats().cached_entries, 0);
        append_each(&mut store, 1, 101..111).await;
        assert_eq!(store.cache_stats().cached_entries, 10);
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(1, 110).log_id));
    }

    /// Reopening with a snapshot through index 250 checks every record but caches only the
    /// entries after it.
    #[tokio::test]
    async fn reopen_caches_nothing_the_snapshot_covers() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = open(dir.path(), u64::MAX);
            append_each(&mut store, 1, 1..301).await;
        }
        let options = WalOptions {
            segment_bytes: SEGMENT_BYTES,
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open(dir.path(), options).expect("open wal");
        let mut store =
            LogStore::from_recovery_applied(Arc::new(wal), recovery, u64::MAX, 250).expect("store");
        let stats = store.cache_stats();
        assert_eq!((stats.held_entries, stats.cached_entries), (300, 50));
        let expected: Vec<Entry> = (1..301).map(|i| entry(1, i)).collect();
        assert_eq!(read(&mut store, 1..301).await, expected);
    }

    /// Readers running beside appends, evictions and purges always get consecutive entries
    /// equal to what was appended (the entry at an index never changes here), many of them
    /// read back from the WAL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn concurrent_reads_appends_and_purges_stay_consistent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path(), 8 * one_entry_bytes());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for seed in 0..2u64 {
            let mut reader = store.clone();
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let mut entries_seen = 0u64;
                let mut x = seed + 1;
                while !done.load(Ordering::Relaxed) {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let start = 1 + (x >> 33) % 1200;
                    let got = reader
                        .limited_get_log_entries(start, start + 50)
                        .await
                        .expect("read");
                    if let Some(first) = got.first() {
                        assert!(first.log_id.index >= start);
                    }
                    for (i, e) in got.iter().enumerate() {
                        assert_eq!(*e, entry(1, got[0].log_id.index + i as u64));
                    }
                    entries_seen += got.len() as u64;
                    tokio::task::yield_now().await;
                }
                entries_seen
            }));
        }
        let mut writer = store.clone();
        for index in 1..1201 {
            writer
                .blocking_append([entry(1, index)])
                .await
                .expect("append");
            if index % 300 == 0 {
                writer
                    .purge(entry(1, index - 200).log_id)
                    .await
                    .expect("purge");
            }
        }
        done.store(true, Ordering::Relaxed);
        for reader in readers {
            assert!(reader.await.expect("reader") > 0, "the reader read entries");
        }
        let stats = store.cache_stats();
        assert_eq!(stats.held_entries, 1200 - 1000);
        assert!(stats.wal_reads > 0, "some reads went to the WAL: {stats:?}");
    }

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
