//! An honest estimate of the bytes one key takes in Tandem's keyspace, for MEMORY USAGE and
//! MEMORY STATS. It counts what the key owns: its slot in the top-level map (and in the expiry
//! index when it has a TTL), its value's map entries and the heap buffers of its strings. It
//! does not count buffers a value shares with other keys, snapshots or in-flight replies
//! (`Bytes` and the persistent maps share structure; a shared buffer is counted by every key
//! that holds it). Map entries are charged for the unused room of partly full B-tree nodes.

use std::mem::size_of;

use bytes::Bytes;

use super::entry::{Entry, Slot, StoredSlot, Value};
use super::{CompactBytes, HashValue, Keyspace, ListValue, SetValue, ZSet};

/// Allocator bookkeeping and rounding per heap buffer (a typical small-object cost).
const HEAP_BUFFER_OVERHEAD_BYTES: usize = 16;

/// Bytes a heap buffer of `len` bytes takes: rounded up to 8, plus the allocator's share.
fn heap_bytes(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.div_ceil(8) * 8 + HEAP_BUFFER_OVERHEAD_BYTES
    }
}

/// A string's buffer.
fn bytes_heap(bytes: &Bytes) -> usize {
    heap_bytes(bytes.len())
}

/// A stored key's or string value's buffer: none when it is inline.
fn compact_heap(bytes: &CompactBytes) -> usize {
    heap_bytes(bytes.heap_bytes())
}

/// One entry of an `imbl` ordered map or set holding `inline` bytes per element: B-tree nodes
/// of 16 slots are on average about two-thirds full, and each node has a child pointer per
/// slot, so an element costs about 3/2 of (its bytes + a pointer).
fn ord_entry_bytes(inline: usize) -> usize {
    (inline + size_of::<usize>()) * 3 / 2
}

/// One entry of a [`super::counted::CountedMap`] (the top-level map, the expiry index) holding
/// `inline` bytes: leaves are vectors sized to what they hold, on average about 3/4 full.
fn counted_entry_bytes(inline: usize) -> usize {
    inline * 4 / 3
}

/// The estimate over `len` elements from the first `samples` of them (all when `samples` is 0
/// or at least `len`), scaled up as Redis's MEMORY USAGE SAMPLES does.
fn sampled(len: usize, samples: usize, each: impl Iterator<Item = usize>) -> usize {
    if samples == 0 || samples >= len {
        return each.sum();
    }
    let seen: usize = each.take(samples).sum();
    seen / samples * len
}

impl HashValue {
    fn memory_estimate(&self, samples: usize) -> usize {
        // Packed: one buffer, its bytes are the whole cost. Large: fields: field → (sequence,
        // value); order: sequence → field (a second handle to the same field buffer, counted
        // once).
        if self.is_small() {
            return heap_bytes(self.packed_bytes());
        }
        let per_field = ord_entry_bytes(size_of::<(Bytes, (u64, Bytes))>())
            + ord_entry_bytes(size_of::<(u64, Bytes)>());
        sampled(
            self.len(),
            samples,
            self.iter().map(|(field, value)| {
                per_field + heap_bytes(field.len()) + heap_bytes(value.len())
            }),
        )
    }
}

impl ZSet {
    fn memory_estimate(&self, samples: usize) -> usize {
        // The member map ((hash, member) → score) and the (score, member) index, both
        // `CountedMap`s; a member longer than 23 bytes shares one buffer between them.
        let per_member = counted_entry_bytes(size_of::<(u64, CompactBytes, f64)>())
            + counted_entry_bytes(size_of::<(f64, CompactBytes)>());
        sampled(
            self.len(),
            samples,
            self.iter()
                .map(|(member, _)| per_member + compact_heap(member)),
        )
    }
}

impl ListValue {
    fn memory_estimate(&self, samples: usize) -> usize {
        // An RRB vector stores elements in dense leaf chunks: about one `Bytes` handle per
        // element plus a small share of the tree's inner nodes.
        let per_element = size_of::<Bytes>() * 9 / 8;
        sampled(
            self.len(),
            samples,
            self.iter().map(|element| per_element + bytes_heap(element)),
        )
    }
}

impl SetValue {
    fn memory_estimate(&self, samples: usize) -> usize {
        // The position vector (a hash and a handle per member) and the (hash, member) →
        // position index, both sharing the member's buffer.
        let per_member =
            size_of::<(u64, Bytes)>() * 9 / 8 + ord_entry_bytes(size_of::<((u64, Bytes), usize)>());
        sampled(
            self.len(),
            samples,
            self.iter_positions()
                .map(|member| per_member + bytes_heap(member)),
        )
    }
}

impl Value {
    /// What the value owns beyond its inline enum.
    pub(crate) fn memory_estimate(&self, samples: usize) -> usize {
        match self {
            Value::String(bytes) => compact_heap(bytes),
            Value::Hash(hash) => size_of::<HashValue>() + hash.memory_estimate(samples),
            Value::ZSet(zset) => size_of::<ZSet>() + zset.memory_estimate(samples),
            Value::List(list) => size_of::<ListValue>() + list.memory_estimate(samples),
            Value::Set(set) => size_of::<SetValue>() + set.memory_estimate(samples),
            Value::Stream(stream) => stream.memory_estimate(),
        }
    }
}

impl Entry {
    /// The key's whole cost: its top-level map entry, its key buffer, its expiry index entry
    /// and its value.
    pub(crate) fn memory_estimate(&self, key: &CompactBytes, samples: usize) -> usize {
        let expiry = if self.expiry_ms != 0 {
            counted_entry_bytes(size_of::<(u64, StoredSlot)>())
        } else {
            0
        };
        counted_entry_bytes(size_of::<(StoredSlot, Entry)>())
            + compact_heap(key)
            + expiry
            + self.value.memory_estimate(samples)
    }
}

impl Keyspace {
    /// MEMORY USAGE: the estimated bytes of `key`, None if it is absent at `now_ms`.
    pub(crate) fn memory_usage(&self, key: &Bytes, now_ms: u64, samples: usize) -> Option<usize> {
        self.live(&Slot::new(key.clone()), now_ms)
            .map(|entry| entry.memory_estimate(&CompactBytes::from(key), samples))
    }

    /// (live keys, their estimated bytes in total), sampling collections as MEMORY USAGE does
    /// by default. O(keys).
    pub(crate) fn dataset_estimate(&self, now_ms: u64, samples: usize) -> (usize, usize) {
        self.entries()
            .filter(|(_, entry)| !entry.is_expired(now_ms))
            .fold((0, 0), |(keys, bytes), (slot, entry)| {
                (keys + 1, bytes + entry.memory_estimate(&slot.key, samples))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn strings_cost_their_buffer_and_their_slot() {
        let mut ks = Keyspace::new();
        ks.insert(Slot::new(bytes("k")), Value::String(CompactBytes::new()), 0);
        let empty = ks.memory_usage(&bytes("k"), 0, 5).unwrap();
        ks.insert(
            Slot::new(bytes("k")),
            Value::String(CompactBytes::from(vec![b'x'; 23])),
            0,
        );
        let inline = ks.memory_usage(&bytes("k"), 0, 5).unwrap();
        assert_eq!(inline, empty, "up to 23 bytes are inline");
        ks.insert(
            Slot::new(bytes("k")),
            Value::String(CompactBytes::from(vec![b'x'; 1000])),
            0,
        );
        let big = ks.memory_usage(&bytes("k"), 0, 5).unwrap();
        // The buffer: its bytes, its two reference counts and the allocator's share.
        assert_eq!(big - empty, 1000 + 16 + HEAP_BUFFER_OVERHEAD_BYTES);
        ks.set_expiry(&Slot::new(bytes("k")), 50);
        assert!(
            ks.memory_usage(&bytes("k"), 0, 5).unwrap() > big,
            "TTL index entry"
        );
        assert_eq!(ks.memory_usage(&bytes("k"), 50, 5), None, "expired");
        assert_eq!(ks.memory_usage(&bytes("nosuch"), 0, 5), None);
    }

    #[test]
    fn collections_grow_with_their_elements_and_samples_extrapolate() {
        let mut ks = Keyspace::new();
        let mut hash = HashValue::default();
        for i in 0..100 {
            hash.insert(bytes(&format!("field{i:03}")), bytes("value"));
        }
        ks.insert(Slot::new(bytes("h")), Value::Hash(hash.clone()), 0);
        let all = ks.memory_usage(&bytes("h"), 0, 0).unwrap();
        let sampled = ks.memory_usage(&bytes("h"), 0, 5).unwrap();
        assert_eq!(all, sampled, "equal-sized fields extrapolate exactly");
        hash.insert(bytes("field999"), bytes("v"));
        ks.insert(Slot::new(bytes("h")), Value::Hash(hash), 0);
        assert!(ks.memory_usage(&bytes("h"), 0, 0).unwrap() > all);

        let mut zset = ZSet::default();
        zset.insert(bytes("a"), 1.0);
        ks.insert(Slot::new(bytes("z")), Value::ZSet(zset.clone()), 0);
        let one = ks.memory_usage(&bytes("z"), 0, 0).unwrap();
        zset.insert(bytes("b"), 2.0);
        ks.insert(Slot::new(bytes("z")), Value::ZSet(zset), 0);
        assert!(ks.memory_usage(&bytes("z"), 0, 0).unwrap() > one);
        let (keys, total) = ks.dataset_estimate(0, 5);
        assert_eq!(keys, 2);
        assert!(total > all);
    }
}
