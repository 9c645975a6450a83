//! The hash value type: a persistent field map that remembers insertion order.
//! Invariant: `fields` and `order` hold the same field set; iteration follows
//! `order`, which is what Redis shows for small (listpack) hashes; `fields` is
//! ordered by (xxh3 of the field, field), the order HSCAN's cursor walks.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use imbl::OrdMap;
use xxhash_rust::xxh3::xxh3_64;

/// Field → value map iterated in insertion order (an overwritten field keeps
/// its place; a deleted and re-added field moves to the end), like a Redis
/// listpack-encoded hash. Cloning is O(1) in both encodings: a small hash is one shared
/// buffer (rebuilt by each write, as a listpack is), a large one two persistent maps that
/// share structure, so mutating a hash that a snapshot still holds copies only the touched
/// path. The encoding is invisible: iteration, scan order, equality, the snapshot encoding
/// and the digest are the same for the same fields and history.
#[derive(Clone, Debug)]
pub(crate) struct HashValue {
    repr: Repr,
}

/// Most fields a hash keeps packed (Redis's `hash-max-listpack-entries` default); the write
/// that adds one more converts it (for good: a large hash that shrinks stays large until a
/// snapshot reload).
pub(crate) const PACKED_FIELDS_MAX: usize = 128;
/// Longest field or value a packed hash holds (Redis's `hash-max-listpack-value` default);
/// a longer one converts the hash. Lengths then fit the one-byte prefixes of the buffer.
pub(crate) const PACKED_BYTES_MAX: usize = 64;

#[derive(Clone, Debug)]
enum Repr {
    /// Up to [`PACKED_FIELDS_MAX`] pairs in insertion order, in one buffer sized to them:
    /// `field_len: u8 | field | value_len: u8 | value`, repeated. Found by a linear scan.
    /// About 2 + field + value bytes per field, instead of two B-tree entries and two buffers.
    Packed(Arc<[u8]>),
    /// Boxed so that a small hash (and every `Value`) stays small.
    Large(Box<Large>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue {
            repr: Repr::Packed(Arc::from(&[][..])),
        }
    }
}

/// The pairs of a packed buffer, in order.
#[derive(Clone)]
struct PackedIter<'a> {
    rest: &'a [u8],
}

impl<'a> PackedIter<'a> {
    fn new(buffer: &'a [u8]) -> Self {
        PackedIter { rest: buffer }
    }

    fn take(&mut self) -> &'a [u8] {
        let (&len, tail) = self
            .rest
            .split_first()
            .expect("a packed hash holds whole pairs");
        let (item, rest) = tail.split_at(len as usize);
        self.rest = rest;
        item
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.take();
        let value = self.take();
        Some((field, value))
    }
}

/// Whether a (field, value) pair may be packed.
fn packable(field: &[u8], value: &[u8]) -> bool {
    field.len() <= PACKED_BYTES_MAX && value.len() <= PACKED_BYTES_MAX
}

/// A packed buffer holding `pairs`, each [`packable`].
fn pack<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Arc<[u8]> {
    let len: usize = pairs.clone().map(|(f, v)| 2 + f.len() + v.len()).sum();
    let mut buffer = Vec::with_capacity(len);
    for (field, value) in pairs {
        debug_assert!(packable(field, value));
        buffer.push(field.len() as u8);
        buffer.extend_from_slice(field);
        buffer.push(value.len() as u8);
        buffer.extend_from_slice(value);
    }
    Arc::from(buffer)
}

#[derive(Clone, Debug, Default)]
struct Large {
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

impl Large {
    fn entry(&self, field: &[u8]) -> Option<&(u64, Bytes)> {
        let probe = (xxh3_64(field), field);
        self.fields.get(&probe as &dyn FieldOrder)
    }

    fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        let value = super::compact(value);
        let probe = (xxh3_64(&field), &field[..]);
        if let Some((_, slot)) = self.fields.get_mut(&probe as &dyn FieldOrder) {
            *slot = value;
            return false;
        }
        let field = super::compact(field);
        let seq = self.seq_next;
        self.seq_next += 1;
        self.order.insert(seq, field.clone());
        self.fields.insert(FieldKey::new(field), (seq, value));
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let probe = (xxh3_64(field), field);
        match self.fields.remove(&probe as &dyn FieldOrder) {
            Some((seq, _)) => {
                self.order.remove(&seq);
                true
            }
            None => false,
        }
    }
}

/// Either of two iterators (the two encodings' iterators have different types).
enum Either<A, B> {
    Small(A),
    Large(B),
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Either<A, B> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Either::Small(a) => a.next(),
            Either::Large(b) => b.next(),
        }
    }
}

impl HashValue {
    pub(crate) fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(buffer) => PackedIter::new(buffer).count(),
            Repr::Large(large) => large.fields.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Packed(buffer) => buffer.is_empty(),
            Repr::Large(large) => large.fields.is_empty(),
        }
    }

    /// Whether this hash is in the packed encoding (for tests and MEMORY USAGE).
    pub(crate) fn is_small(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// Bytes of the packed buffer (0 when large), for MEMORY USAGE.
    pub(crate) fn packed_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(buffer) => buffer.len(),
            Repr::Large(_) => 0,
        }
    }

    pub(crate) fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(buffer) => PackedIter::new(buffer)
                .find(|(f, _)| *f == field)
                .map(|(_, value)| value),
            Repr::Large(large) => large.entry(field).map(|(_, value)| &value[..]),
        }
    }

    pub(crate) fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field`; returns true when the field is new.
    pub(crate) fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        let buffer = match &mut self.repr {
            Repr::Large(large) => return large.insert(field, value),
            Repr::Packed(buffer) => buffer,
        };
        let pairs = PackedIter::new(buffer);
        let found = pairs.clone().position(|(f, _)| f == &field[..]);
        let count = match found {
            Some(_) => 0,
            None => pairs.clone().count(),
        };
        if packable(&field, &value) && count < PACKED_FIELDS_MAX {
            *buffer = match found {
                Some(at) => {
                    pack(
                        pairs
                            .enumerate()
                            .map(|(i, (f, v))| if i == at { (f, &value[..]) } else { (f, v) }),
                    )
                }
                None => pack(pairs.chain(std::iter::once((&field[..], &value[..])))),
            };
            return found.is_none();
        }
        let mut large = Large::default();
        for (f, v) in pairs {
            large.insert(Bytes::copy_from_slice(f), Bytes::copy_from_slice(v));
        }
        self.repr = Repr::Large(Box::new(large));
        self.insert(field, value)
    }

    /// Removes `field`; returns true when it was present.
    pub(crate) fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Large(large) => large.remove(field),
            Repr::Packed(buffer) => {
                let pairs = PackedIter::new(buffer);
                if !pairs.clone().any(|(f, _)| f == field) {
                    return false;
                }
                *buffer = pack(pairs.filter(|(f, _)| *f != field));
                true
            }
        }
    }

    /// Fields and values in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        match &self.repr {
            Repr::Packed(buffer) => Either::Small(PackedIter::new(buffer)),
            Repr::Large(large) => Either::Large(large.order.values().map(move |field| {
                let (_, value) = large
                    .entry(field)
                    .expect("order and fields hold the same field set");
                (&field[..], &value[..])
            })),
        }
    }

    /// (hash, field, value) in scan order, from the first field whose xxh3 hash is
    /// `>= hash_from`. A field's hash never changes, so a scan that resumes at the next
    /// unvisited hash sees every field that stayed in the hash meanwhile.
    pub(crate) fn scan_from(
        &self,
        hash_from: u64,
    ) -> impl Iterator<Item = (u64, &[u8], &[u8])> + '_ {
        match &self.repr {
            Repr::Packed(buffer) => {
                let mut found: Vec<(u64, &[u8], &[u8])> = PackedIter::new(buffer)
                    .map(|(f, v)| (xxh3_64(f), f, v))
                    .filter(|(hash, _, _)| *hash >= hash_from)
                    .collect();
                found.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                Either::Small(found.into_iter())
            }
            Repr::Large(large) => {
                let start = FieldKey {
                    hash: hash_from,
                    field: Bytes::new(),
                };
                Either::Large(
                    large
                        .fields
                        .range(start..)
                        .map(|(key, (_, value))| (key.hash, &key.field[..], &value[..])),
                )
            }
        }
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
        assert_eq!(hash.get(b"a"), Some(&b"2"[..]));
        assert!(hash.contains(b"c"));
        assert!(!hash.contains(b"zz"));
        assert!(!hash.insert(Bytes::from("b"), Bytes::from("9")));
        assert!(hash.remove(b"a"));
        assert!(!hash.remove(b"a"));
        let order: Vec<_> = hash.iter().collect();
        assert_eq!(order, [(&b"b"[..], &b"9"[..]), (&b"c"[..], &b"3"[..])]);
    }

    /// The scan order is by field hash, the same whatever order the fields were added in.
    #[test]
    fn scan_order_is_by_hash_and_independent_of_history() {
        let forward = hash_of(&[("x", "1"), ("y", "2"), ("z", "3"), ("w", "4")]);
        let backward = hash_of(&[("w", "4"), ("z", "3"), ("y", "2"), ("x", "1")]);
        let scan = |hash: &HashValue| {
            hash.scan_from(0)
                .map(|(h, f, _)| (h, f.to_vec()))
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

    fn owned(pairs: &[(Bytes, Bytes)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }

    /// The two encodings against a reference (a vector in insertion order), seeded random
    /// operations crossing the small/large threshold both ways (by field count and by value
    /// length): every read agrees.
    #[test]
    fn encodings_agree_with_a_reference_model() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut hash = HashValue::default();
            let mut model: Vec<(Bytes, Bytes)> = Vec::new();
            let mut snapshots: Vec<(HashValue, Vec<(Bytes, Bytes)>)> = Vec::new();
            // Grow past the threshold, then shrink, then grow again.
            let universe = [40, 150, 20, 90][seed as usize % 4];
            for step in 0..3000 {
                let field = Bytes::from(format!("f{}", rng.gen_range(0..universe)));
                let grow = (step / 500) % 2 == 0;
                if rng.gen_bool(if grow { 0.7 } else { 0.3 }) {
                    // Now and then a value too long to pack.
                    let pad = if rng.gen_ratio(1, 200) {
                        PACKED_BYTES_MAX
                    } else {
                        0
                    };
                    let value = Bytes::from(format!("v{step}{}", "x".repeat(pad)));
                    let at = model.iter().position(|(f, _)| *f == field);
                    let new = hash.insert(field.clone(), value.clone());
                    assert_eq!(new, at.is_none());
                    match at {
                        Some(at) => model[at].1 = value,
                        None => model.push((field.clone(), value)),
                    }
                } else {
                    let at = model.iter().position(|(f, _)| *f == field);
                    assert_eq!(hash.remove(&field), at.is_some());
                    if let Some(at) = at {
                        model.remove(at);
                    }
                }
                assert_eq!(hash.len(), model.len());
                assert_eq!(
                    hash.get(&field),
                    model.iter().find(|(f, _)| *f == field).map(|(_, v)| &v[..])
                );
                if step % 97 == 0 {
                    let pairs: Vec<_> =
                        hash.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                    assert_eq!(pairs, owned(&model), "seed {seed} step {step}");
                    let mut expected: Vec<_> = model
                        .iter()
                        .map(|(f, v)| (xxh3_64(f), f.clone(), v.clone()))
                        .collect();
                    expected.sort();
                    let from = rng.gen::<u64>() >> rng.gen_range(0..64);
                    expected.retain(|(h, _, _)| *h >= from);
                    let scanned: Vec<_> = hash
                        .scan_from(from)
                        .map(|(h, f, v)| (h, Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                        .collect();
                    assert_eq!(scanned, expected, "seed {seed} step {step}");
                    snapshots.push((hash.clone(), model.clone()));
                }
            }
            // Clones taken along the way were not changed by later writes.
            for (clone, model) in snapshots {
                let pairs: Vec<_> = clone
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect();
                assert_eq!(pairs, owned(&model));
            }
        }
    }

    /// A hash that grew large and shrank back holds the same logical value as one that
    /// stayed small: equal, and the same snapshot record (so the same digest).
    #[test]
    fn encoding_does_not_reach_equality_or_the_snapshot_record() {
        let mut grown = HashValue::default();
        let mut small = HashValue::default();
        for i in 0..PACKED_FIELDS_MAX + 10 {
            grown.insert(Bytes::from(format!("tmp{i}")), Bytes::from("x"));
        }
        for i in 0..10 {
            let field = Bytes::from(format!("f{i}"));
            grown.insert(field.clone(), Bytes::from(format!("{i}")));
            small.insert(field, Bytes::from(format!("{i}")));
        }
        for i in 0..PACKED_FIELDS_MAX + 10 {
            assert!(grown.remove(format!("tmp{i}").as_bytes()));
        }
        assert!(!grown.is_small() && small.is_small());
        assert_eq!(grown, small);
        let record = |hash: &HashValue| {
            let entry = super::super::Entry {
                value: super::super::Value::Hash(hash.clone()),
                expiry_ms: 0,
                version: 7,
            };
            let mut out = Vec::new();
            super::super::codec::encode_record(b"h", &entry, &mut out);
            out
        };
        assert_eq!(record(&grown), record(&small));
    }

    /// Where a key's bytes go (printed with --nocapture): the value types stay small, so a
    /// key's (StoredSlot, Entry) pair in the top-level map is 72 bytes.
    #[test]
    fn sizes_of_the_encodings() {
        use std::mem::size_of;
        println!(
            "HashValue {} Entry {} Value {} CompactBytes {} Bytes {} StoredSlot {} Slot {}",
            size_of::<HashValue>(),
            size_of::<super::super::Entry>(),
            size_of::<super::super::Value>(),
            size_of::<super::super::CompactBytes>(),
            size_of::<Bytes>(),
            size_of::<super::super::StoredSlot>(),
            size_of::<super::super::Slot>(),
        );
        assert!(size_of::<HashValue>() <= 16);
        // Large variants are boxed, so a key's entry stays small whatever its type, and a
        // string's tag fits in the spare values of its inline length byte.
        assert_eq!(size_of::<super::super::Value>(), 24);
        assert_eq!(size_of::<super::super::Entry>(), 40);
        assert_eq!(size_of::<super::super::StoredSlot>(), 32);
    }
}
