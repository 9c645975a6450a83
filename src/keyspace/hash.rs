//! The hash value type: a persistent field map that remembers insertion order.
//! Invariant: `fields` and `order` hold the same field set; iteration follows
//! `order`, which is what Redis shows for small (listpack) hashes; `fields` is
//! ordered by (xxh3 of the field, field), the order HSCAN's cursor walks.

use std::borrow::Borrow;
use std::cmp::Ordering;

use bytes::Bytes;
use imbl::OrdMap;
use xxhash_rust::xxh3::xxh3_64;

/// Field → value map iterated in insertion order (an overwritten field keeps
/// its place; a deleted and re-added field moves to the end), like a Redis
/// listpack-encoded hash. Both maps are persistent, so cloning is O(1) and
/// mutating a hash that a snapshot still holds copies only the touched path.
#[derive(Clone, Debug, Default)]
pub(crate) struct HashValue {
    /// (xxh3(field), field) → (insertion sequence, value). Ordering by the hash first gives
    /// a scan order that depends only on the field set, never on history or on the node.
    fields: OrdMap<FieldKey, (u64, Bytes)>,
    /// insertion sequence → field
    order: OrdMap<u64, Bytes>,
    seq_next: u64,
}

/// A field's position in `fields`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FieldKey {
    hash: u64,
    field: Bytes,
}

impl FieldKey {
    fn new(field: Bytes) -> FieldKey {
        FieldKey {
            hash: xxh3_64(&field),
            field,
        }
    }
}

/// What `fields` is ordered by, so a lookup can borrow the probed field instead of copying
/// it into a `FieldKey` (`OrdMap::get` needs `K: Borrow<Q>`).
trait FieldOrder {
    fn parts(&self) -> (u64, &[u8]);
}

impl FieldOrder for FieldKey {
    fn parts(&self) -> (u64, &[u8]) {
        (self.hash, &self.field)
    }
}

impl FieldOrder for (u64, &[u8]) {
    fn parts(&self) -> (u64, &[u8]) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn FieldOrder + 'a> for FieldKey {
    fn borrow(&self) -> &(dyn FieldOrder + 'a) {
        self
    }
}

impl PartialEq for dyn FieldOrder + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn FieldOrder + '_ {}

impl PartialOrd for dyn FieldOrder + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn FieldOrder + '_ {
    /// The same order as `FieldKey`'s derived one: hash, then field bytes.
    fn cmp(&self, other: &Self) -> Ordering {
        self.parts().cmp(&other.parts())
    }
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

    fn entry(&self, field: &[u8]) -> Option<&(u64, Bytes)> {
        let probe = (xxh3_64(field), field);
        self.fields.get(&probe as &dyn FieldOrder)
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&Bytes> {
        self.entry(field).map(|(_, value)| value)
    }

    pub(crate) fn contains(&self, field: &[u8]) -> bool {
        self.entry(field).is_some()
    }

    /// Sets `field`; returns true when the field is new.
    pub(crate) fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        let probe = (xxh3_64(&field), &field[..]);
        if let Some((_, slot)) = self.fields.get_mut(&probe as &dyn FieldOrder) {
            *slot = value;
            return false;
        }
        let seq = self.seq_next;
        self.seq_next += 1;
        self.order.insert(seq, field.clone());
        self.fields.insert(FieldKey::new(field), (seq, value));
        true
    }

    /// Removes `field`; returns true when it was present.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        let probe = (xxh3_64(field), field);
        match self.fields.remove(&probe as &dyn FieldOrder) {
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
            let value = self
                .get(field)
                .expect("order and fields hold the same field set");
            (field, value)
        })
    }

    /// (hash, field, value) in scan order, from the first field whose xxh3 hash is
    /// `>= hash_from`. A field's hash never changes, so a scan that resumes at the next
    /// unvisited hash sees every field that stayed in the hash meanwhile.
    pub(crate) fn scan_from(
        &self,
        hash_from: u64,
    ) -> impl Iterator<Item = (u64, &Bytes, &Bytes)> + '_ {
        let start = FieldKey {
            hash: hash_from,
            field: Bytes::new(),
        };
        self.fields
            .range(start..)
            .map(|(key, (_, value))| (key.hash, &key.field, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(pairs: &[(&str, &str)]) -> HashValue {
        let mut hash = HashValue::default();
        for (field, value) in pairs {
            hash.insert(
                Bytes::from(field.to_string()),
                Bytes::from(value.to_string()),
            );
        }
        hash
    }

    #[test]
    fn lookups_borrow_and_agree_with_insertion_order() {
        let mut hash = hash_of(&[("b", "1"), ("a", "2"), ("c", "3")]);
        assert_eq!(hash.get(b"a"), Some(&Bytes::from("2")));
        assert!(hash.contains(b"c"));
        assert!(!hash.contains(b"zz"));
        assert!(!hash.insert(Bytes::from("b"), Bytes::from("9")));
        assert!(hash.remove(b"a"));
        assert!(!hash.remove(b"a"));
        let order: Vec<_> = hash.iter().map(|(f, v)| (f.clone(), v.clone())).collect();
        assert_eq!(
            order,
            [
                (Bytes::from("b"), Bytes::from("9")),
                (Bytes::from("c"), Bytes::from("3"))
            ]
        );
    }

    /// The scan order is by field hash, the same whatever order the fields were added in.
    #[test]
    fn scan_order_is_by_hash_and_independent_of_history() {
        let forward = hash_of(&[("x", "1"), ("y", "2"), ("z", "3"), ("w", "4")]);
        let backward = hash_of(&[("w", "4"), ("z", "3"), ("y", "2"), ("x", "1")]);
        let scan = |hash: &HashValue| {
            hash.scan_from(0)
                .map(|(h, f, _)| (h, f.clone()))
                .collect::<Vec<_>>()
        };
        let order = scan(&forward);
        assert_eq!(order, scan(&backward));
        assert!(order.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        assert_eq!(order.len(), 4);
        // Resuming at a hash skips exactly the fields below it.
        let third = order[2].0;
        let rest: Vec<_> = forward.scan_from(third).map(|(h, _, _)| h).collect();
        assert_eq!(rest, [order[2].0, order[3].0]);
        assert_eq!(
            forward.scan_from(u64::MAX).count(),
            usize::from(order[3].0 == u64::MAX)
        );
    }
}
