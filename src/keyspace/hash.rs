//! The hash value type: a persistent field map that remembers insertion order.
//! Invariant: `fields` and `order` hold the same field set; iteration follows
//! `order`, which is what Redis shows for small (listpack) hashes.

use bytes::Bytes;
use imbl::OrdMap;

/// Field → value map iterated in insertion order (an overwritten field keeps
/// its place; a deleted and re-added field moves to the end), like a Redis
/// listpack-encoded hash. Both maps are persistent, so cloning is O(1) and
/// mutating a hash that a snapshot still holds copies only the touched path.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashValue {
    /// field → (insertion sequence, value)
    fields: OrdMap<Bytes, (u64, Bytes)>,
    /// insertion sequence → field
    order: OrdMap<u64, Bytes>,
    seq_next: u64,
}

impl PartialEq for HashValue {
    /// Logical equality: same fields, values and order (sequence numbers are
    /// an implementation detail and differ after a snapshot restore).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl HashValue {
    pub(crate) fn len(&self) -> usize {
        self.fields.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&Bytes> {
        self.fields.get(field).map(|(_, value)| value)
    }

    pub(crate) fn contains(&self, field: &[u8]) -> bool {
        self.fields.contains_key(field)
    }

    /// Sets `field`; returns true when the field is new.
    pub(crate) fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        if let Some((_, slot)) = self.fields.get_mut(&field[..]) {
            *slot = value;
            return false;
        }
        let seq = self.seq_next;
        self.seq_next += 1;
        self.order.insert(seq, field.clone());
        self.fields.insert(field, (seq, value));
        true
    }

    /// Removes `field`; returns true when it was present.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        match self.fields.remove(field) {
            Some((seq, _)) => {
                self.order.remove(&seq);
                true
            }
            None => false,
        }
    }

    /// Fields and values in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> + '_ {
        self.order.values().map(move |field| {
            let (_, value) = self
                .fields
                .get(&field[..])
                .expect("order and fields hold the same field set");
            (field, value)
        })
    }
}
