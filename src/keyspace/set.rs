//! The set value type: a persistent array of members plus a persistent index into it.
//! Invariant: `members` and `positions` hold the same members, and `positions` maps each
//! member to its index in `members`; no member appears twice.
//!
//! Why this shape. SPOP and SRANDMEMBER must pick a *uniformly* random member in O(log n), and
//! must pick the same one on every replica; SSCAN must return every member present for the
//! whole scan even if the set changes between calls; snapshots clone the keyspace, so clone
//! must be O(1). No single `imbl` structure gives all of that:
//! - `members: Vector<Member>` (an RRB tree) gives O(log n) access by position, so a random
//!   member is `members[random_below(len)]`: exactly uniform. Removal swaps the last member into
//!   the hole, so the vector stays dense without shifting.
//! - `positions: OrdMap<Member, usize>` is ordered by `(xxh3(member), member)`, like the
//!   keyspace's own [`Slot`](super::Slot): O(log n) membership, and an iteration order that
//!   depends only on the set's contents, which lets SSCAN resume from a bare hash (see
//!   [`SetValue::scan_from`]). xxh3 is seedless, so no `RandomState` anywhere.
//!
//! A random pick is a pure function of the position order, which depends on history (appends and
//! swap-removes). The snapshot record therefore stores members in position order, and decoding
//! appends them in that order, so a replica restored from a snapshot picks exactly what a
//! replica that replayed the log picks. Both structures share their nodes on clone; each member's
//! bytes are stored once (`Bytes` is reference-counted).

use bytes::Bytes;
use imbl::{OrdMap, Vector};
use xxhash_rust::xxh3::xxh3_64;

/// A member with its hash, ordered by (hash, bytes).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Member {
    hash: u64,
    bytes: Bytes,
}

impl Member {
    fn new(bytes: Bytes) -> Member {
        Member {
            hash: xxh3_64(&bytes),
            bytes,
        }
    }

    /// The smallest member with this hash (the empty string sorts first).
    fn first_with_hash(hash: u64) -> Member {
        Member {
            hash,
            bytes: Bytes::new(),
        }
    }
}

/// An unordered set of byte strings with uniformly random picks. See the module docs.
/// Boxed: an RRB vector is about 64 bytes inline, and every `Value` (so every key's entry) is
/// as large as its largest variant.
#[derive(Clone, Debug, Default)]
pub(crate) struct SetValue {
    inner: Box<Inner>,
}

#[derive(Clone, Debug, Default)]
struct Inner {
    /// Position order: what random picks index into and what a snapshot stores.
    members: Vector<Member>,
    /// (hash, member) → position in `members`.
    positions: OrdMap<Member, usize>,
}

impl PartialEq for SetValue {
    /// Same members in the same position order: two sets that compare equal make the same
    /// random picks.
    fn eq(&self, other: &Self) -> bool {
        self.inner.members == other.inner.members
    }
}

impl SetValue {
    pub(crate) fn len(&self) -> usize {
        self.inner.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.members.is_empty()
    }

    pub(crate) fn contains(&self, member: &Bytes) -> bool {
        self.inner
            .positions
            .contains_key(&Member::new(member.clone()))
    }

    /// Adds `member` at the end of the position order; returns true when it is new.
    pub(crate) fn insert(&mut self, member: Bytes) -> bool {
        let member = Member::new(member);
        if self.inner.positions.contains_key(&member) {
            return false;
        }
        let member = Member {
            hash: member.hash,
            bytes: super::compact(member.bytes),
        };
        self.inner
            .positions
            .insert(member.clone(), self.inner.members.len());
        self.inner.members.push_back(member);
        true
    }

    /// Removes `member`; returns true when it was present.
    pub(crate) fn remove(&mut self, member: &Bytes) -> bool {
        match self.inner.positions.remove(&Member::new(member.clone())) {
            Some(position) => {
                self.fill_hole(position);
                true
            }
            None => false,
        }
    }

    /// The member at `position` (< len) of the position order: with a uniformly random
    /// position, a uniformly random member.
    pub(crate) fn member_at(&self, position: usize) -> &Bytes {
        &self.inner.members[position].bytes
    }

    /// Removes and returns the member at `position` (< len).
    pub(crate) fn remove_at(&mut self, position: usize) -> Bytes {
        let member = self.inner.members[position].clone();
        self.inner.positions.remove(&member);
        self.fill_hole(position);
        member.bytes
    }

    /// Closes the hole `positions` no longer points to: the last member moves into it.
    fn fill_hole(&mut self, position: usize) {
        let last = self
            .inner
            .members
            .pop_back()
            .expect("a member was just removed from the index");
        if position < self.inner.members.len() {
            self.inner.positions.insert(last.clone(), position);
            self.inner.members.set(position, last);
        }
    }

    /// Members in (hash, member) order: a function of the contents alone.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.inner.positions.keys().map(|member| &member.bytes)
    }

    /// Members in position order (what a snapshot record stores).
    pub(crate) fn iter_positions(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.inner.members.iter().map(|member| &member.bytes)
    }

    /// `(hash, member)` in (hash, member) order, from the first member whose hash is
    /// `>= hash`. SSCAN's cursor is the hash to resume from: a member present for the whole
    /// scan keeps its hash, so it is visited once the scan passes it, whatever else changes.
    pub(crate) fn scan_from(&self, hash: u64) -> impl Iterator<Item = (u64, &Bytes)> + '_ {
        self.inner
            .positions
            .range(Member::first_with_hash(hash)..)
            .map(|(member, _)| (member.hash, &member.bytes))
    }
}

impl FromIterator<Bytes> for SetValue {
    /// A set of the distinct members, in the order first seen.
    fn from_iter<I: IntoIterator<Item = Bytes>>(members: I) -> SetValue {
        let mut set = SetValue::default();
        for member in members {
            set.insert(member);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::codec::{decode_record, encode_record};
    use crate::keyspace::entry::{Entry, Value};
    use crate::keyspace::KeyspaceError;

    fn set_of(members: &[&str]) -> SetValue {
        members
            .iter()
            .map(|m| Bytes::copy_from_slice(m.as_bytes()))
            .collect()
    }

    /// Checks the module invariant: the index and the array agree.
    fn assert_consistent(set: &SetValue) {
        assert_eq!(set.inner.members.len(), set.inner.positions.len());
        for (position, member) in set.inner.members.iter().enumerate() {
            assert_eq!(set.inner.positions.get(member), Some(&position));
        }
    }

    #[test]
    fn insert_remove_and_swap_keep_index_and_array_in_step() {
        let mut set = set_of(&["a", "b", "c", "d"]);
        assert!(!set.insert(Bytes::from("b")));
        assert!(set.remove(&Bytes::from("b")));
        assert!(!set.remove(&Bytes::from("b")));
        assert_consistent(&set);
        // "d" (the last) filled the hole left by "b".
        let order: Vec<_> = set.iter_positions().cloned().collect();
        assert_eq!(order, ["a", "d", "c"]);
        assert_eq!(set.remove_at(0), "a");
        assert_eq!(set.remove_at(1), "d");
        assert_consistent(&set);
        assert_eq!(set.len(), 1);
        assert!(set.contains(&Bytes::from("c")));
        assert_eq!(set.remove_at(0), "c");
        assert!(set.is_empty());
        assert_consistent(&set);
    }

    #[test]
    fn iteration_order_depends_only_on_contents() {
        let a = set_of(&["x", "y", "z", ""]);
        let b = set_of(&["", "z", "y", "x"]);
        assert!(a.iter().eq(b.iter()));
        assert_ne!(a, b, "position orders differ, so random picks differ");
    }

    #[test]
    fn clone_is_isolated() {
        let mut set = set_of(&["a", "b"]);
        let snapshot = set.clone();
        set.insert(Bytes::from("c"));
        set.remove(&Bytes::from("a"));
        assert_eq!(snapshot, set_of(&["a", "b"]));
        assert_consistent(&snapshot);
        assert_consistent(&set);
    }

    #[test]
    fn scan_from_resumes_at_a_hash() {
        let set: SetValue = (0..100).map(|i| Bytes::from(i.to_string())).collect();
        let all: Vec<(u64, Bytes)> = set.scan_from(0).map(|(h, m)| (h, m.clone())).collect();
        assert_eq!(all.len(), 100);
        let (middle_hash, _) = all[50];
        let rest: Vec<_> = set.scan_from(middle_hash).map(|(_, m)| m.clone()).collect();
        assert_eq!(rest.len(), 50);
        assert_eq!(rest[0], all[50].1);
    }

    fn record_of(set: SetValue) -> Vec<u8> {
        let entry = Entry {
            value: Value::Set(set),
            expiry_ms: 7,
            version: 3,
        };
        let mut record = Vec::new();
        encode_record(b"key", &entry, &mut record);
        record
    }

    #[test]
    fn record_round_trip_keeps_the_position_order() {
        let mut set = set_of(&["one", "two", "three", "four", ""]);
        set.remove(&Bytes::from("two"));
        let record = record_of(set.clone());
        let (key, entry) = decode_record(&record).unwrap();
        assert_eq!(key, "key");
        assert_eq!((entry.expiry_ms, entry.version), (7, 3));
        let Value::Set(decoded) = entry.value else {
            panic!("decoded a set record as {}", entry.value.type_name());
        };
        assert_consistent(&decoded);
        assert!(decoded.iter_positions().eq(set.iter_positions()));
        assert_eq!(decoded, set);
    }

    /// The header up to the member count of a set record for key "k".
    fn header() -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.push(b'k');
        out.push(4);
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&1u64.to_le_bytes());
        out
    }

    fn push_member(out: &mut Vec<u8>, member: &[u8]) {
        out.extend_from_slice(&(member.len() as u32).to_le_bytes());
        out.extend_from_slice(member);
    }

    #[test]
    fn decode_rejects_malformed_set_records() {
        let record = record_of(set_of(&["a", "bb"]));
        for len in 0..record.len() {
            assert!(
                matches!(
                    decode_record(&record[..len]),
                    Err(KeyspaceError::Truncated { .. })
                ),
                "prefix {len}"
            );
        }
        let mut trailing = record.clone();
        trailing.push(0);
        assert_eq!(
            decode_record(&trailing),
            Err(KeyspaceError::TrailingBytes { count: 1 })
        );

        let mut empty = header();
        empty.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_record(&empty), Err(KeyspaceError::EmptyCollection));

        let mut duplicate = header();
        duplicate.extend_from_slice(&3u32.to_le_bytes());
        push_member(&mut duplicate, b"a");
        push_member(&mut duplicate, b"b");
        let second_a = duplicate.len();
        push_member(&mut duplicate, b"a");
        assert_eq!(
            decode_record(&duplicate),
            Err(KeyspaceError::DuplicateElement { offset: second_a })
        );

        // A count far beyond the bytes present fails without allocating for it.
        let mut huge = header();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        push_member(&mut huge, b"a");
        assert!(matches!(
            decode_record(&huge),
            Err(KeyspaceError::Truncated { .. })
        ));
        // So does a member length far beyond the bytes present.
        let mut long_member = header();
        long_member.extend_from_slice(&1u32.to_le_bytes());
        long_member.extend_from_slice(&u32::MAX.to_le_bytes());
        long_member.push(b'a');
        assert!(matches!(
            decode_record(&long_member),
            Err(KeyspaceError::Truncated { .. })
        ));
    }

    /// Mutated set records are rejected or accepted whole: never a panic, and whatever is
    /// accepted re-encodes to the same bytes.
    #[test]
    fn decode_never_panics_on_mutated_set_records() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(0x5e7);
        let valid = record_of(set_of(&["a", "bb", "", "ccc"]));
        for _ in 0..5000 {
            let mut record = valid.clone();
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..3) {
                    0 => {
                        let at = rng.gen_range(0..record.len());
                        record[at] ^= 1 << rng.gen_range(0..8);
                    }
                    1 => record.truncate(rng.gen_range(0..record.len())),
                    _ => record.push(rng.gen()),
                }
                if record.is_empty() {
                    break;
                }
            }
            if let Ok((key, entry)) = decode_record(&record) {
                let mut again = Vec::new();
                encode_record(&key, &entry, &mut again);
                assert_eq!(again, record);
            }
        }
    }
}
