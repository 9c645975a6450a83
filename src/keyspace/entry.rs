//! One stored key: its value, its absolute expiry and its WATCH version.
//! Invariant: a collection value (hash, list, set, sorted set) is never empty; the writer
//! that removes the last element removes the key instead.

use std::cmp::Ordering;

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::compact_bytes::CompactBytes;
use super::hash::HashValue;
use super::list::ListValue;
use super::set::SetValue;
use super::stream::StreamValue;
use super::zset::ZSet;

/// Position of a key in the top-level map: `(xxh3 of the key, key)`, as commands name it
/// (the key is a slice of the command's arguments; the map stores a [`StoredSlot`]).
///
/// Ordering by hash first gives a deterministic iteration order that does not
/// depend on insertion history, and lets SCAN resume from a bare `u64` cursor.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Slot {
    pub(crate) hash: u64,
    pub(crate) key: Bytes,
}

impl Slot {
    pub(crate) fn new(key: Bytes) -> Self {
        Slot {
            hash: xxh3_64(&key),
            key,
        }
    }

    pub(crate) fn from_slice(key: &[u8]) -> Self {
        Slot::new(Bytes::copy_from_slice(key))
    }

    /// The smallest slot with this hash (empty keys sort first).
    pub(crate) fn first_with_hash(hash: u64) -> Self {
        Slot {
            hash,
            key: Bytes::new(),
        }
    }
}

/// A key as the top-level map stores it: the same `(hash, key)` order as [`Slot`], with the
/// key in a [`CompactBytes`] (inline up to 23 bytes, so a typical key costs no allocation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StoredSlot {
    pub(crate) hash: u64,
    pub(crate) key: CompactBytes,
}

impl StoredSlot {
    pub(crate) fn new(key: CompactBytes) -> Self {
        StoredSlot {
            hash: xxh3_64(&key),
            key,
        }
    }

    /// The stored form of `slot` (copies its key).
    pub(crate) fn of(slot: &Slot) -> Self {
        StoredSlot {
            hash: slot.hash,
            key: CompactBytes::from_slice(&slot.key),
        }
    }

    /// How this stored slot orders against `slot` (the order of `Slot`'s derived `Ord`).
    pub(crate) fn cmp_slot(&self, slot: &Slot) -> Ordering {
        self.hash
            .cmp(&slot.hash)
            .then_with(|| self.key.as_slice().cmp(&slot.key[..]))
    }
}

/// A stored value. Clone is O(1): strings are inline or share their buffer, collections are
/// persistent maps that share structure.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    /// Inline up to 23 bytes (no allocation), else one shared buffer; see [`CompactBytes`].
    String(CompactBytes),
    Hash(HashValue),
    ZSet(ZSet),
    Set(SetValue),
    List(ListValue),
    /// Boxed: a stream's counters and maps take about 90 bytes, and every `Value` (so every
    /// key's entry, in the top-level map's nodes) is as large as its largest variant.
    Stream(Box<StreamValue>),
}

impl Value {
    /// The name TYPE and SCAN TYPE use.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Hash(_) => "hash",
            Value::ZSet(_) => "zset",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::Stream(_) => "stream",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub(crate) expiry_ms: u64,
    /// Keyspace-wide counter value at the last modification of this key.
    pub(crate) version: u64,
}

impl Entry {
    /// True when the key must be treated as absent at `now_ms`.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expiry_ms != 0 && self.expiry_ms <= now_ms
    }
}
