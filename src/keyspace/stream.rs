//! The stream value: entries ordered by id in a persistent map (cheap to clone for snapshots),
//! the stream's counters, and its consumer groups with their pending entries lists (PEL).
//!
//! Invariants: every entry id is `<= last_id`; `entries_added` counts every entry ever added
//! (never decreases except through XSETID, which checks it against the length); a group's PEL
//! and its consumers' pending sets hold exactly the same ids (each id pending for exactly one
//! consumer, which exists). Times (`delivery_ms`, `seen_ms`) are log times. Unlike the other
//! collections a stream may be empty: XDEL and XTRIM keep the key, as in Redis.

use std::sync::Arc;

use bytes::Bytes;
use imbl::{OrdMap, OrdSet};

/// A stream entry id, `ms-seq`. Orders by (ms, seq).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next id in order, None after MAX.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The previous id in order, None before MIN.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The `ms-seq` text.
    pub fn to_bytes(self) -> Bytes {
        Bytes::from(format!("{}-{}", self.ms, self.seq))
    }
}

/// One entry's fields and values, flattened `f1 v1 f2 v2 ...` (never empty).
pub type StreamFields = Arc<[Bytes]>;

/// A pending entry: delivered to `consumer` and not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Bytes,
    /// Log time of the last delivery.
    pub delivery_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Log time of the consumer's last attempted interaction.
    pub seen_ms: u64,
    /// The ids pending for this consumer (mirrors the group's PEL).
    pub pending: OrdSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Logical count of entries read by the group; None when it is not known (Redis's -1).
    pub entries_read: Option<u64>,
    pub pel: OrdMap<StreamId, Pending>,
    pub consumers: OrdMap<Bytes, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: OrdMap::new(),
            consumers: OrdMap::new(),
        }
    }

    /// Records `id` as pending for `consumer` (delivered now), moving it from its previous
    /// owner if it had one.
    pub fn deliver(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            if let Some(owner) = self.consumers.get_mut(&old.consumer) {
                owner.pending.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Pending {
                consumer: consumer.clone(),
                delivery_ms: now_ms,
                delivery_count: count,
            },
        );
        self.consumers
            .entry(consumer.clone())
            .or_default()
            .pending
            .insert(id);
    }

    /// Removes `id` from the PEL; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(pending) => {
                if let Some(owner) = self.consumers.get_mut(&pending.consumer) {
                    owner.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }
}

/// A stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamValue {
    pub entries: OrdMap<StreamId, StreamFields>,
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted_id: StreamId,
    pub groups: OrdMap<Bytes, ConsumerGroup>,
    /// The node rule `~` trimming follows: first id of each node -> entries ever appended to
    /// it. A new node starts when the last one has had `node_entries` appends; a node goes
    /// when its last live entry does.
    pub nodes: OrdMap<StreamId, u64>,
}

impl StreamValue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry's id, 0-0 when empty.
    pub fn first_id(&self) -> StreamId {
        self.entries.get_min().map_or(StreamId::MIN, |(id, _)| *id)
    }

    /// Appends an entry whose id the caller checked is above `last_id`, into the last node
    /// unless that one has had `node_entries` appends.
    pub fn append(&mut self, id: StreamId, fields: StreamFields, node_entries: u64) {
        match self.nodes.get_max().map(|(start, n)| (*start, *n)) {
            Some((start, appended)) if appended < node_entries => {
                self.nodes.insert(start, appended + 1);
            }
            _ => {
                self.nodes.insert(id, 1);
            }
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// The first node: its start and the ids of its live entries, None without nodes.
    pub fn first_node(&self) -> Option<(StreamId, Vec<StreamId>)> {
        let (start, _) = self.nodes.get_min()?;
        let next = start
            .next()
            .and_then(|after| self.nodes.range(after..).next().map(|(n, _)| *n));
        let ids = match next {
            Some(next) => self
                .entries
                .range(*start..next)
                .map(|(id, _)| *id)
                .collect(),
            None => self.entries.range(*start..).map(|(id, _)| *id).collect(),
        };
        Some((*start, ids))
    }

    /// The node holding `id`: its start and the next node's start (None for the last).
    fn node_of(&self, id: StreamId) -> Option<(StreamId, Option<StreamId>)> {
        let (start, _) = self.nodes.range(..=id).next_back()?;
        let next = id
            .next()
            .and_then(|after| self.nodes.range(after..).next().map(|(n, _)| *n));
        Some((*start, next))
    }

    /// Deletes one entry (and its node if it was the node's last live one); true if it
    /// existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        if self.entries.remove(&id).is_some() {
            if let Some((start, next)) = self.node_of(id) {
                let live = match next {
                    Some(next) => self.entries.range(start..next).next().is_some(),
                    None => self.entries.range(start..).next().is_some(),
                };
                if !live {
                    self.nodes.remove(&start);
                }
            }
            if id > self.max_deleted_id {
                self.max_deleted_id = id;
            }
            true
        } else {
            false
        }
    }

    /// Entries with ids in `start..=end`, ascending (or descending when `rev`), at most
    /// `count` of them.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, StreamFields)> {
        if start > end || count == 0 {
            return Vec::new();
        }
        let range = self.entries.range(start..=end);
        if rev {
            range
                .rev()
                .take(count)
                .map(|(id, f)| (*id, f.clone()))
                .collect()
        } else {
            range.take(count).map(|(id, f)| (*id, f.clone())).collect()
        }
    }

    /// True when a deleted entry may lie within `start..=end` (Redis's tombstone check).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical position (entries added up to and including `id`) when it can be known.
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        let first = self.first_id();
        if self.max_deleted_id.is_zero() || self.max_deleted_id < first {
            let before_first = self.entries_added - self.len() as u64;
            if id < first {
                return Some(before_first);
            }
            if id == first {
                return Some(before_first + 1);
            }
        }
        None
    }

    /// The group's lag (entries added and not yet read by it), None when unknown.
    pub fn group_lag(&self, group: &ConsumerGroup) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = group.entries_read {
            if !self.range_has_tombstones(group.last_id, StreamId::MAX) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.estimate_entries_read(group.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// Removes entries from the front while `should_trim(len, first_id)` holds, at most
    /// `limit`; returns how many were removed.
    pub fn trim_front(
        &mut self,
        limit: u64,
        mut should_trim: impl FnMut(usize, StreamId) -> bool,
    ) -> u64 {
        let mut removed = 0;
        while removed < limit {
            let Some((id, _)) = self.entries.get_min().map(|(id, f)| (*id, f.clone())) else {
                break;
            };
            if !should_trim(self.entries.len(), id) {
                break;
            }
            self.entries.remove(&id);
            removed += 1;
        }
        removed
    }

    /// A rough byte estimate of what the stream owns (MEMORY USAGE).
    pub fn memory_estimate(&self) -> usize {
        let entries: usize = self
            .entries
            .values()
            .map(|fields| 64 + fields.iter().map(|f| f.len() + 16).sum::<usize>())
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| 96 + name.len() + g.pel.len() * 80 + g.consumers.len() * 64)
            .sum();
        64 + entries + groups
    }
}
