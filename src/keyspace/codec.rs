//! Snapshot records: one self-contained little-endian record per key.
//! Invariant: `decode` accepts exactly what `encode` produces and rejects
//! everything else with an error — it never panics, and never allocates more
//! than the bytes actually present justify, whatever the length fields claim.

use std::cmp::Ordering;

use bytes::Bytes;

use super::compact_bytes::CompactBytes;
use super::counted::{CountedMap, SortedBuilder};
use super::entry::{Entry, StoredSlot, Value};
use super::hash::HashValue;
use super::list::{ListEnd, ListValue};
use super::set::SetValue;
use super::stream::{ConsumerGroup, StreamId, StreamValue};
use super::zset::{cmp_score, ZSet};
use super::Keyspace;

const TAG_STRING: u8 = 0;
const TAG_HASH: u8 = 1;
const TAG_ZSET: u8 = 2;
const TAG_LIST: u8 = 3;
const TAG_SET: u8 = 4;
const TAG_STREAM: u8 = 5;

/// Why a snapshot record was rejected (corruption, not a client error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyspaceError {
    #[error(
        "record truncated at offset {offset}: needed {needed} more bytes, {available} available"
    )]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("record has unknown type tag {tag}")]
    UnknownTypeTag { tag: u8 },
    #[error("record has {count} trailing bytes after its payload")]
    TrailingBytes { count: usize },
    #[error("sorted-set record has a NaN score at offset {offset}")]
    NanScore { offset: usize },
    #[error("record repeats a field or member at offset {offset}")]
    DuplicateElement { offset: usize },
    #[error("sorted-set record is not in (score, member) order at offset {offset}")]
    OutOfOrder { offset: usize },
    #[error("record holds an empty collection")]
    EmptyCollection,
    #[error("record repeats a key that is already loaded")]
    DuplicateKey,
    #[error("stream record is inconsistent at offset {offset}")]
    BadStream { offset: usize },
}

// Record layout (all integers little-endian; one record per key):
//
//   offset      size  field
//   0           4     key_len: u32
//   4           K     key bytes (K = key_len)
//   4+K         1     type tag: 0 = string, 1 = hash, 2 = sorted set, 3 = list, 4 = set
//   5+K         8     expiry_ms: u64 (absolute Unix ms; 0 = no expiry)
//   13+K        8     version: u64 (WATCH version of the key)
//   21+K        ...   payload, by type tag:
//
//   string (0):  +0  4  value_len: u32
//                +4  V  value bytes
//
//   hash (1):    +0  4  field_count: u32 (>= 1)
//                then field_count times, in insertion order:
//                    4  field_len: u32 | F field bytes | 4 value_len: u32 | V value bytes
//
//   zset (2):    +0  4  member_count: u32 (>= 1)
//                then member_count times, in (score, member) order:
//                    8  score: f64 bits (u64, never NaN) | 4 member_len: u32 | M member bytes
//
//   list (3):    +0  4  element_count: u32 (>= 1)
//                then element_count times, head to tail:
//                    4  element_len: u32 | E element bytes
//
//   set (4):     +0  4  member_count: u32 (>= 1)
//                then member_count times, in position order (the order random picks index
//                into; see keyspace/set.rs), each member once:
//                    4  member_len: u32 | M member bytes
//
//   stream (5):  +0  16 last_id (ms: u64, seq: u64)
//                +16 8  entries_added: u64
//                +24 16 max_deleted_id (ms: u64, seq: u64)
//                +40 4  entry_count: u32 (may be 0: a stream may be empty)
//                then entry_count times, in ascending id order (each id <= last_id):
//                    16 id | 4 pair_count: u32 (>= 1) | pair_count times field, value
//                    (each 4 len: u32 | bytes)
//                4  group_count: u32, then per group in ascending name order:
//                    4 name_len | name | 16 last_id | 8 entries_read: u64 (u64::MAX = unknown)
//                    4 consumer_count: u32, per consumer in ascending name order:
//                        4 name_len | name | 8 seen_ms: u64
//                    4 pending_count: u32, per pending entry in ascending id order:
//                        16 id | 4 consumer index: u32 (into the list above)
//                        | 8 delivery_ms: u64 | 8 delivery_count: u64
//                4  node_count: u32, per node in ascending order (the `~` trimming rule):
//                    16 first id | 8 entries appended to the node: u64
//
// A record ends exactly at the end of its payload; trailing bytes are an error.
// Strings, fields, members and elements are limited to u32::MAX bytes by this layout
// (Redis's own limit is 512 MiB).

impl Keyspace {
    /// Serialize every entry in slot order (the stable iteration order),
    /// calling `out` once per key with that key's record; returns the count.
    pub fn encode_entries(
        &self,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        let mut count = 0u64;
        let mut record = Vec::new();
        for (slot, entry) in self.entries() {
            record.clear();
            encode_record(&slot.key, entry, &mut record);
            out(&record)?;
            count += 1;
        }
        Ok(count)
    }

    /// Insert the entry one record describes. Does not touch the version
    /// counter (restore it with `set_version_counter`).
    pub fn decode_entry_into(&mut self, record: &[u8]) -> Result<(), KeyspaceError> {
        let (key, entry) = decode_record(record)?;
        let slot = StoredSlot::new(key);
        if self.entries.contains_key(&slot) {
            return Err(KeyspaceError::DuplicateKey);
        }
        if entry.expiry_ms != 0 {
            self.expiries.insert((entry.expiry_ms, slot.clone()), ());
        }
        self.entries.insert(slot, entry);
        Ok(())
    }

    /// Adds the entries `loader` decoded (see [`EntryLoader`]); fails if a key was loaded
    /// twice. Does not touch the version counter.
    pub fn finish_loading(&mut self, loader: EntryLoader) -> Result<(), KeyspaceError> {
        let EntryLoader {
            sorted,
            unsorted,
            mut expiries,
        } = loader;
        let sorted = sorted.finish();
        let unsorted = if self.entries.is_empty() {
            self.entries = sorted;
            unsorted
        } else {
            sorted
                .into_sorted_vec()
                .into_iter()
                .chain(unsorted)
                .collect()
        };
        for (slot, entry) in unsorted {
            if self.entries.insert(slot, entry).is_some() {
                return Err(KeyspaceError::DuplicateKey);
            }
        }
        if self.expiries.is_empty() {
            expiries.sort_unstable();
            self.expiries =
                CountedMap::from_sorted(expiries.into_iter().map(|e| (e, ())).collect());
        } else {
            for expiry in expiries {
                self.expiries.insert(expiry, ());
            }
        }
        Ok(())
    }
}

/// Decodes a snapshot's entry records into a keyspace built in one pass: the records come in
/// slot order (as [`Keyspace::encode_entries`] writes them), so the top-level map is built
/// with full leaves instead of by one insert per key, which would leave every leaf half full.
/// A record out of slot order (never written by Tandem) is still accepted, and inserted at
/// the end. Finish with [`Keyspace::finish_loading`].
#[derive(Default)]
pub struct EntryLoader {
    sorted: SortedBuilder<StoredSlot, Entry>,
    unsorted: Vec<(StoredSlot, Entry)>,
    expiries: Vec<(u64, StoredSlot)>,
}

impl EntryLoader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one record (see [`Keyspace::decode_entry_into`] for what is rejected).
    pub fn push(&mut self, record: &[u8]) -> Result<(), KeyspaceError> {
        let (key, entry) = decode_record(record)?;
        let slot = StoredSlot::new(key);
        match self.sorted.last().map(|last| last.cmp(&slot)) {
            Some(Ordering::Equal) => return Err(KeyspaceError::DuplicateKey),
            Some(Ordering::Greater) => {
                if entry.expiry_ms != 0 {
                    self.expiries.push((entry.expiry_ms, slot.clone()));
                }
                self.unsorted.push((slot, entry));
            }
            Some(Ordering::Less) | None => {
                if entry.expiry_ms != 0 {
                    self.expiries.push((entry.expiry_ms, slot.clone()));
                }
                self.sorted.push(slot, entry);
            }
        }
        Ok(())
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("element longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

pub(crate) fn encode_record(key: &[u8], entry: &Entry, out: &mut Vec<u8>) {
    put_bytes(out, key);
    let tag = match entry.value {
        Value::String(_) => TAG_STRING,
        Value::Hash(_) => TAG_HASH,
        Value::ZSet(_) => TAG_ZSET,
        Value::List(_) => TAG_LIST,
        Value::Set(_) => TAG_SET,
        Value::Stream(_) => TAG_STREAM,
    };
    out.push(tag);
    out.extend_from_slice(&entry.expiry_ms.to_le_bytes());
    out.extend_from_slice(&entry.version.to_le_bytes());
    match &entry.value {
        Value::String(value) => put_bytes(out, value),
        Value::Hash(hash) => {
            put_len(out, hash.len());
            for (field, value) in hash.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
        }
        Value::ZSet(zset) => {
            put_len(out, zset.len());
            for (member, score) in zset.iter() {
                out.extend_from_slice(&score.to_bits().to_le_bytes());
                put_bytes(out, member);
            }
        }
        Value::List(list) => {
            put_len(out, list.len());
            for element in list.iter() {
                put_bytes(out, element);
            }
        }
        Value::Set(set) => {
            put_len(out, set.len());
            for member in set.iter_positions() {
                put_bytes(out, member);
            }
        }
        Value::Stream(stream) => encode_stream(stream, out),
    }
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
}

fn encode_stream(stream: &StreamValue, out: &mut Vec<u8>) {
    put_id(out, stream.last_id);
    out.extend_from_slice(&stream.entries_added.to_le_bytes());
    put_id(out, stream.max_deleted_id);
    put_len(out, stream.entries.len());
    for (id, fields) in stream.entries.iter() {
        put_id(out, *id);
        put_len(out, fields.len() / 2);
        for item in fields.iter() {
            put_bytes(out, item);
        }
    }
    put_len(out, stream.groups.len());
    for (name, group) in stream.groups.iter() {
        put_bytes(out, name);
        put_id(out, group.last_id);
        out.extend_from_slice(&group.entries_read.unwrap_or(u64::MAX).to_le_bytes());
        put_len(out, group.consumers.len());
        let mut index = std::collections::BTreeMap::new();
        for (position, (consumer, state)) in group.consumers.iter().enumerate() {
            put_bytes(out, consumer);
            out.extend_from_slice(&state.seen_ms.to_le_bytes());
            index.insert(consumer.clone(), position);
        }
        put_len(out, group.pel.len());
        for (id, pending) in group.pel.iter() {
            put_id(out, *id);
            put_len(out, index.get(&pending.consumer).copied().unwrap_or(0));
            out.extend_from_slice(&pending.delivery_ms.to_le_bytes());
            out.extend_from_slice(&pending.delivery_count.to_le_bytes());
        }
    }
    put_len(out, stream.nodes.len());
    for (start, appended) in stream.nodes.iter() {
        put_id(out, *start);
        out.extend_from_slice(&appended.to_le_bytes());
    }
}

fn decode_stream(reader: &mut Reader<'_>) -> Result<StreamValue, KeyspaceError> {
    let mut stream = StreamValue {
        last_id: reader.id()?,
        entries_added: reader.u64()?,
        max_deleted_id: reader.id()?,
        ..StreamValue::default()
    };
    let count = reader.u32()?;
    let mut previous: Option<StreamId> = None;
    for _ in 0..count {
        let offset = reader.offset;
        let id = reader.id()?;
        if previous.is_some_and(|p| p >= id) || id > stream.last_id {
            return Err(KeyspaceError::BadStream { offset });
        }
        previous = Some(id);
        let pairs = reader.u32()?;
        if pairs == 0 {
            return Err(KeyspaceError::BadStream { offset });
        }
        let mut fields = Vec::new();
        for _ in 0..pairs {
            fields.push(reader.bytes()?);
            fields.push(reader.bytes()?);
        }
        stream.entries.insert(id, fields.into());
    }
    let groups = reader.u32()?;
    let mut previous_name: Option<Bytes> = None;
    for _ in 0..groups {
        let offset = reader.offset;
        let name = reader.bytes()?;
        if previous_name.as_ref().is_some_and(|p| *p >= name) {
            return Err(KeyspaceError::BadStream { offset });
        }
        previous_name = Some(name.clone());
        let last_id = reader.id()?;
        let entries_read = match reader.u64()? {
            u64::MAX => None,
            read => Some(read),
        };
        let mut group = ConsumerGroup::new(last_id, entries_read);
        let consumers = reader.u32()?;
        let mut names: Vec<Bytes> = Vec::new();
        for _ in 0..consumers {
            let offset = reader.offset;
            let consumer = reader.bytes()?;
            if names.last().is_some_and(|p| *p >= consumer) {
                return Err(KeyspaceError::BadStream { offset });
            }
            let seen_ms = reader.u64()?;
            group.consumers.insert(
                consumer.clone(),
                super::stream::Consumer {
                    seen_ms,
                    pending: Default::default(),
                },
            );
            names.push(consumer);
        }
        let pending = reader.u32()?;
        let mut previous_id: Option<StreamId> = None;
        for _ in 0..pending {
            let offset = reader.offset;
            let id = reader.id()?;
            if previous_id.is_some_and(|p| p >= id) {
                return Err(KeyspaceError::BadStream { offset });
            }
            previous_id = Some(id);
            let consumer = reader.u32()? as usize;
            let Some(consumer) = names.get(consumer) else {
                return Err(KeyspaceError::BadStream { offset });
            };
            let delivery_ms = reader.u64()?;
            let delivery_count = reader.u64()?;
            group.deliver(id, consumer, delivery_ms, delivery_count);
        }
        stream.groups.insert(name, group);
    }
    let nodes = reader.u32()?;
    let mut previous_node: Option<StreamId> = None;
    for _ in 0..nodes {
        let offset = reader.offset;
        let start = reader.id()?;
        if previous_node.is_some_and(|p| p >= start) {
            return Err(KeyspaceError::BadStream { offset });
        }
        previous_node = Some(start);
        let appended = reader.u64()?;
        stream.nodes.insert(start, appended);
    }
    Ok(stream)
}

/// A bounds-checked cursor over one record.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], KeyspaceError> {
        let available = self.bytes.len() - self.offset;
        if len > available {
            return Err(KeyspaceError::Truncated {
                offset: self.offset,
                needed: len,
                available,
            });
        }
        let slice = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, KeyspaceError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, KeyspaceError> {
        let raw = self.take(4)?;
        Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    fn id(&mut self) -> Result<StreamId, KeyspaceError> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }

    fn u64(&mut self) -> Result<u64, KeyspaceError> {
        let raw = self.take(8)?;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(raw);
        Ok(u64::from_le_bytes(buf))
    }

    /// A length-prefixed byte string; the length is checked against the
    /// bytes present before anything is copied.
    fn bytes(&mut self) -> Result<Bytes, KeyspaceError> {
        let len = self.u32()? as usize;
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }

    /// Like [`Self::bytes`], as a key or string value is stored.
    fn compact_bytes(&mut self) -> Result<CompactBytes, KeyspaceError> {
        let len = self.u32()? as usize;
        Ok(CompactBytes::from_slice(self.take(len)?))
    }
}

/// Where the first repeat of a member is, in a sorted-set record whose `count` (score, member)
/// pairs start at `start` and are known to be well formed (the error path only).
fn repeated_member_offset(record: &[u8], start: usize, count: u32) -> usize {
    let mut reader = Reader {
        bytes: record,
        offset: start,
    };
    let mut seen = std::collections::HashSet::new();
    for _ in 0..count {
        let offset = reader.offset;
        let member = reader.u64().and_then(|_| reader.u32()).and_then(|len| {
            let len = len as usize;
            reader.take(len)
        });
        match member {
            Ok(member) if !seen.insert(member) => return offset,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    start
}

pub(crate) fn decode_record(record: &[u8]) -> Result<(CompactBytes, Entry), KeyspaceError> {
    let mut reader = Reader {
        bytes: record,
        offset: 0,
    };
    let key = reader.compact_bytes()?;
    let tag = reader.u8()?;
    let expiry_ms = reader.u64()?;
    let version = reader.u64()?;
    let value = match tag {
        TAG_STRING => Value::String(reader.compact_bytes()?),
        TAG_HASH => {
            // No pre-allocation from the count: elements are pushed only as
            // their bytes are actually read.
            let count = reader.u32()?;
            if count == 0 {
                return Err(KeyspaceError::EmptyCollection);
            }
            let mut hash = HashValue::default();
            for _ in 0..count {
                let offset = reader.offset;
                let field = reader.bytes()?;
                let value = reader.bytes()?;
                if !hash.insert(field, value) {
                    return Err(KeyspaceError::DuplicateElement { offset });
                }
            }
            Value::Hash(hash)
        }
        TAG_ZSET => {
            let count = reader.u32()?;
            if count == 0 {
                return Err(KeyspaceError::EmptyCollection);
            }
            // Members must come in strictly ascending (score, member) order, so that every
            // accepted record is exactly what encode writes; that order lets the set be built
            // bottom-up. Pushed only as their bytes are read (no pre-allocation from `count`).
            let start = reader.offset;
            let mut members: Vec<(CompactBytes, f64)> = Vec::new();
            for _ in 0..count {
                let offset = reader.offset;
                let score = f64::from_bits(reader.u64()?);
                if score.is_nan() {
                    return Err(KeyspaceError::NanScore { offset });
                }
                let member = reader.compact_bytes()?;
                if let Some((previous_member, previous_score)) = members.last() {
                    let order = cmp_score(*previous_score, score)
                        .then_with(|| previous_member[..].cmp(&member[..]));
                    if order != Ordering::Less {
                        return Err(KeyspaceError::OutOfOrder { offset });
                    }
                }
                members.push((member, score));
            }
            let Some(zset) = ZSet::from_sorted(members) else {
                return Err(KeyspaceError::DuplicateElement {
                    offset: repeated_member_offset(record, start, count),
                });
            };
            Value::ZSet(zset)
        }
        TAG_LIST => {
            let count = reader.u32()?;
            if count == 0 {
                return Err(KeyspaceError::EmptyCollection);
            }
            // Pushed one element at a time as its bytes are read, like the hash above;
            // repeated elements are legal in a list.
            let mut list = ListValue::default();
            for _ in 0..count {
                list.push(ListEnd::Right, reader.bytes()?);
            }
            Value::List(list)
        }
        TAG_SET => {
            let count = reader.u32()?;
            if count == 0 {
                return Err(KeyspaceError::EmptyCollection);
            }
            // Any order is canonical (the position order is state), so every accepted record
            // re-encodes to itself; members are added only as their bytes are read.
            let mut set = SetValue::default();
            for _ in 0..count {
                let offset = reader.offset;
                if !set.insert(reader.bytes()?) {
                    return Err(KeyspaceError::DuplicateElement { offset });
                }
            }
            Value::Set(set)
        }
        TAG_STREAM => Value::Stream(Box::new(decode_stream(&mut reader)?)),
        tag => return Err(KeyspaceError::UnknownTypeTag { tag }),
    };
    let trailing = record.len() - reader.offset;
    if trailing != 0 {
        return Err(KeyspaceError::TrailingBytes { count: trailing });
    }
    Ok((
        key,
        Entry {
            value,
            expiry_ms,
            version,
        },
    ))
}

#[cfg(test)]
mod list_record_tests {
    use super::super::Slot;
    use super::*;

    fn list_entry(items: &[&[u8]], expiry_ms: u64, version: u64) -> Entry {
        Entry {
            value: Value::List(
                items
                    .iter()
                    .map(|item| Bytes::copy_from_slice(item))
                    .collect(),
            ),
            expiry_ms,
            version,
        }
    }

    fn record(key: &[u8], entry: &Entry) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(key, entry, &mut out);
        out
    }

    /// The header of a list record for key "k" that claims `count` elements.
    fn header(count: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.push(b'k');
        out.push(TAG_LIST);
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&7u64.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out
    }

    #[test]
    fn list_records_round_trip_with_order_duplicates_and_empty_elements() {
        let entry = list_entry(&[b"b", b"", b"a", b"b", &[0, 255]], 12_345, 9);
        let bytes = record(b"key", &entry);
        let (key, decoded) = decode_record(&bytes).unwrap();
        assert_eq!(&key[..], b"key");
        assert_eq!(decoded, entry);
        assert_eq!(
            record(&key, &decoded),
            bytes,
            "re-encodes to the same bytes"
        );
        // The layout drawn in the comment above (and in docs/formats.md).
        let mut expected = header(2);
        let version_at = 4 + 1 + 1 + 8; // key_len, key "k", tag, expiry_ms
        expected[version_at..version_at + 8].copy_from_slice(&3u64.to_le_bytes());
        for item in [&b"x"[..], b"yz"] {
            expected.extend_from_slice(&(item.len() as u32).to_le_bytes());
            expected.extend_from_slice(item);
        }
        assert_eq!(record(b"k", &list_entry(&[b"x", b"yz"], 0, 3)), expected);
    }

    #[test]
    fn list_records_that_are_malformed_are_rejected() {
        let bytes = record(b"k", &list_entry(&[b"one", b"two"], 0, 1));
        for len in 0..bytes.len() {
            assert!(
                matches!(
                    decode_record(&bytes[..len]),
                    Err(KeyspaceError::Truncated { .. })
                ),
                "prefix {len}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode_record(&trailing),
            Err(KeyspaceError::TrailingBytes { count: 1 })
        );
        assert_eq!(
            decode_record(&header(0)),
            Err(KeyspaceError::EmptyCollection)
        );
        // A count far beyond the bytes present fails at the first missing element, having
        // allocated only for what was read.
        let mut huge = header(u32::MAX);
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.push(b'a');
        assert!(matches!(
            decode_record(&huge),
            Err(KeyspaceError::Truncated { .. })
        ));
        // An element length beyond the record.
        let mut long = header(1);
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_record(&long),
            Err(KeyspaceError::Truncated { .. })
        ));
    }

    #[test]
    fn decoding_mutated_list_records_never_panics() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(0x1157);
        let valid = record(b"list", &list_entry(&[b"a", b"bb", b"", b"a"], 77, 5));
        for _ in 0..5000 {
            let mut bytes = valid.clone();
            for _ in 0..rng.gen_range(1..4) {
                match rng.gen_range(0..3) {
                    0 => {
                        let at = rng.gen_range(0..bytes.len());
                        bytes[at] ^= 1 << rng.gen_range(0..8);
                    }
                    1 => bytes.truncate(rng.gen_range(0..bytes.len())),
                    _ => bytes.push(rng.gen()),
                }
                if bytes.is_empty() {
                    bytes.push(0);
                }
            }
            if let Ok((key, entry)) = decode_record(&bytes) {
                assert_eq!(record(&key, &entry), bytes, "accepted means canonical");
            }
        }
    }

    #[test]
    fn a_keyspace_with_lists_restores_to_the_same_digest() {
        let mut ks = Keyspace::new();
        ks.insert(
            Slot::new(Bytes::from("l")),
            list_entry(&[b"a", b"b"], 0, 0).value,
            0,
        );
        ks.insert(
            Slot::new(Bytes::from("t")),
            list_entry(&[b"c"], 0, 0).value,
            99_000,
        );
        let mut records = Vec::new();
        ks.encode_entries(&mut |record| {
            records.push(record.to_vec());
            Ok(())
        })
        .unwrap();
        let mut restored = Keyspace::new();
        for record in &records {
            restored.decode_entry_into(record).unwrap();
        }
        restored.set_version_counter(ks.version_counter());
        assert_eq!(restored.digest(), ks.digest());
        let mut other = ks.clone();
        other.insert(
            Slot::new(Bytes::from("l")),
            list_entry(&[b"b", b"a"], 0, 0).value,
            0,
        );
        other.set_version_counter(ks.version_counter());
        assert_ne!(other.digest(), ks.digest(), "element order is state");
    }
}
