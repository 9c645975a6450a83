//! `CompactBytes`: the keyspace's byte string, 24 bytes wide. Up to [`INLINE_BYTES_MAX`]
//! bytes live inside it (no heap allocation at all); a longer string up to
//! [`SHARED_BYTES_MAX`] is one shared heap buffer sized to it; a larger one is kept as the
//! `Bytes` it arrived in (boxed), so it is neither copied on the way in nor on the way out,
//! and can be edited in place (SETRANGE, SETBIT). Invariant: a string that fits inline is
//! always inline; equality, order and hashing are those of the bytes, so the representation
//! never shows outside this file. Clone is O(1) in every representation.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// Longest string stored inline: the 24 bytes minus one length byte.
pub(crate) const INLINE_BYTES_MAX: usize = 23;
/// Longest string copied into a buffer of its own when stored. A longer one already has a
/// buffer of its own (the RESP decoder splits large arguments off without copying), and
/// copying it would cost more than the `Bytes` header kept with it.
pub(crate) const SHARED_BYTES_MAX: usize = 4096;

/// The length of an inline string. An enum rather than a `u8` so that the compiler knows the
/// values 24..=255 never occur, and can keep the discriminant of `Repr` (and of enums that
/// hold a `CompactBytes`, like `Value`) in them instead of in an extra word.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum InlineLen {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    L16,
    L17,
    L18,
    L19,
    L20,
    L21,
    L22,
    L23,
}

/// `INLINE_LENS[n]` is the `InlineLen` of `n` (safe code has no other way from a number).
const INLINE_LENS: [InlineLen; INLINE_BYTES_MAX + 1] = {
    use InlineLen::*;
    [
        L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18, L19,
        L20, L21, L22, L23,
    ]
};

#[derive(Clone)]
enum Repr {
    Inline {
        len: InlineLen,
        data: [u8; INLINE_BYTES_MAX],
    },
    /// Longer than [`INLINE_BYTES_MAX`], up to [`SHARED_BYTES_MAX`] when stored from a
    /// slice: one allocation of the bytes plus the two counters.
    Heap(Arc<[u8]>),
    /// Longer than [`SHARED_BYTES_MAX`], or the result of an in-place edit: kept as a `Bytes`
    /// (which may have spare capacity for the next edit).
    Large(Box<Bytes>),
}

/// An immutable byte string that stores short strings inline; see the module docs.
#[derive(Clone)]
pub(crate) struct CompactBytes(Repr);

impl CompactBytes {
    /// The empty string.
    pub(crate) const fn new() -> Self {
        CompactBytes(Repr::Inline {
            len: InlineLen::L0,
            data: [0; INLINE_BYTES_MAX],
        })
    }

    /// Copies `bytes` (inline or into a buffer of exactly their length).
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_BYTES_MAX {
            let mut data = [0; INLINE_BYTES_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            CompactBytes(Repr::Inline {
                len: INLINE_LENS[bytes.len()],
                data,
            })
        } else {
            CompactBytes(Repr::Heap(Arc::from(bytes)))
        }
    }

    /// Stores `bytes`: inline if it fits, copied up to [`SHARED_BYTES_MAX`], else kept as is.
    pub(crate) fn from_bytes(bytes: Bytes) -> Self {
        if bytes.len() <= SHARED_BYTES_MAX {
            CompactBytes::from_slice(&bytes)
        } else {
            CompactBytes(Repr::Large(Box::new(bytes)))
        }
    }

    /// Stores the result of an in-place edit, keeping its spare capacity for the next edit
    /// unless it fits inline.
    pub(crate) fn from_edited(bytes: BytesMut) -> Self {
        if bytes.len() <= INLINE_BYTES_MAX {
            CompactBytes::from_slice(&bytes)
        } else {
            CompactBytes(Repr::Large(Box::new(bytes.freeze())))
        }
    }

    /// The bytes to edit in place: taken without copying when this string holds the only
    /// handle to an edited buffer, else copied. Leaves the empty string behind.
    pub(crate) fn take_for_edit(&mut self) -> BytesMut {
        match std::mem::take(self).0 {
            Repr::Large(bytes) => (*bytes)
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..])),
            other => BytesMut::from(CompactBytes(other).as_slice()),
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..*len as usize],
            Repr::Heap(buffer) => buffer,
            Repr::Large(bytes) => bytes,
        }
    }

    /// Whether the bytes live inside the value (no heap buffer).
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// Bytes of the heap buffers (counters and headers included), 0 when inline: what the
    /// string costs beyond its 24 bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(buffer) => buffer.len() + 2 * std::mem::size_of::<usize>(),
            Repr::Large(bytes) => bytes.len() + std::mem::size_of::<Bytes>(),
        }
    }

    /// The bytes as a [`Bytes`] for a reply or a command: an inline string is copied (at most
    /// 23 bytes), a longer one is shared without copying.
    pub(crate) fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Inline { .. } => Bytes::copy_from_slice(self.as_slice()),
            Repr::Heap(buffer) => Bytes::from_owner(buffer.clone()),
            Repr::Large(bytes) => Bytes::clone(bytes),
        }
    }
}

impl Default for CompactBytes {
    fn default() -> Self {
        CompactBytes::new()
    }
}

impl Deref for CompactBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for CompactBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for CompactBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(bytes: &[u8]) -> Self {
        CompactBytes::from_slice(bytes)
    }
}

impl From<&Bytes> for CompactBytes {
    fn from(bytes: &Bytes) -> Self {
        CompactBytes::from_slice(bytes)
    }
}

/// See [`CompactBytes::from_bytes`]: a stored string never pins the client frame or log
/// entry it is a small slice of.
impl From<Bytes> for CompactBytes {
    fn from(bytes: Bytes) -> Self {
        CompactBytes::from_bytes(bytes)
    }
}

impl From<Vec<u8>> for CompactBytes {
    fn from(bytes: Vec<u8>) -> Self {
        CompactBytes::from_slice(&bytes)
    }
}

impl From<&str> for CompactBytes {
    fn from(text: &str) -> Self {
        CompactBytes::from_slice(text.as_bytes())
    }
}

impl From<&CompactBytes> for Bytes {
    fn from(bytes: &CompactBytes) -> Self {
        bytes.to_bytes()
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for CompactBytes {}

impl PartialEq<[u8]> for CompactBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&str> for CompactBytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_slice() == other.as_bytes()
    }
}

impl PartialEq<Bytes> for CompactBytes {
    fn eq(&self, other: &Bytes) -> bool {
        self.as_slice() == &other[..]
    }
}

impl PartialOrd for CompactBytes {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CompactBytes {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for CompactBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for CompactBytes {
    /// Like `Bytes`: `b"text\x00"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &byte in self.as_slice() {
            for escaped in std::ascii::escape_default(byte) {
                f.write_str(std::str::from_utf8(&[escaped]).expect("escape_default yields ASCII"))?;
            }
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of_len(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 1) as u8).collect()
    }

    /// The sizes the keyspace's memory budget rests on.
    #[test]
    fn is_24_bytes_and_leaves_room_for_an_enum_tag() {
        use std::mem::size_of;
        assert_eq!(size_of::<CompactBytes>(), 24);
        assert_eq!(size_of::<Option<CompactBytes>>(), 24);
    }

    /// Empty, the longest inline string, one past it and a long one: each reads back its
    /// bytes, and only the first two are inline.
    #[test]
    fn round_trips_at_the_inline_boundaries() {
        for len in [
            0,
            1,
            INLINE_BYTES_MAX - 1,
            INLINE_BYTES_MAX,
            INLINE_BYTES_MAX + 1,
            4096,
        ] {
            let bytes = of_len(len);
            let compact = CompactBytes::from_slice(&bytes);
            assert_eq!(compact.as_slice(), &bytes[..], "len {len}");
            assert_eq!(compact.len(), len);
            assert_eq!(compact.is_inline(), len <= INLINE_BYTES_MAX, "len {len}");
            assert_eq!(compact.heap_bytes() == 0, len <= INLINE_BYTES_MAX);
            assert_eq!(compact.to_bytes(), Bytes::from(bytes.clone()));
            assert_eq!(CompactBytes::from(Bytes::from(bytes.clone())), compact);
            assert_eq!(compact.clone(), compact);
        }
        // Past SHARED_BYTES_MAX a `Bytes` is kept, not copied.
        let large = Bytes::from(of_len(SHARED_BYTES_MAX + 1));
        let stored = CompactBytes::from_bytes(large.clone());
        assert_eq!(stored.to_bytes().as_ptr(), large.as_ptr());
        assert_eq!(stored, large);
        assert!(CompactBytes::new().is_empty());
        assert_eq!(CompactBytes::default(), CompactBytes::from_slice(b""));
    }

    /// Order, equality and hashing are the bytes', across the inline/heap boundary (the
    /// keyspace's iteration order, and so the snapshot and the digest, depend on it).
    #[test]
    fn orders_and_hashes_like_its_bytes() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |bytes: &[u8]| {
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            hasher.finish()
        };
        let mut samples: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0xff],
            vec![b'a'; INLINE_BYTES_MAX],
            vec![b'a'; INLINE_BYTES_MAX + 1],
            vec![b'b'; INLINE_BYTES_MAX],
            vec![b'a'; 100],
        ];
        let mut last = vec![b'a'; INLINE_BYTES_MAX];
        last.push(0);
        samples.push(last);
        for a in &samples {
            let ca = CompactBytes::from_slice(a);
            let mut hasher = DefaultHasher::new();
            ca.hash(&mut hasher);
            assert_eq!(hasher.finish(), hash(a));
            for b in &samples {
                let cb = CompactBytes::from_slice(b);
                assert_eq!(ca.cmp(&cb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(ca == cb, a == b);
            }
        }
    }

    /// An edit gets the bytes back without a copy when nothing else holds them, and a copy
    /// when a clone (a snapshot) still does, which keeps its old bytes.
    #[test]
    fn edits_are_in_place_unless_shared() {
        let mut edited = BytesMut::with_capacity(100);
        edited.extend_from_slice(&of_len(INLINE_BYTES_MAX + 5));
        let mut stored = CompactBytes::from_edited(edited);
        let before = stored.as_ptr();
        let mut buffer = stored.take_for_edit();
        assert!(stored.is_empty());
        assert_eq!(buffer.as_ptr(), before, "taken, not copied");
        buffer.extend_from_slice(b"xy");
        stored = CompactBytes::from_edited(buffer);
        let snapshot = stored.clone();
        let mut buffer = stored.take_for_edit();
        buffer[0] = 0xee;
        stored = CompactBytes::from_edited(buffer);
        assert_eq!(stored[0], 0xee);
        assert_eq!(snapshot[0], 1, "the clone kept its bytes");
        assert_eq!(stored.len(), INLINE_BYTES_MAX + 7);
        // Short results go inline; inline and shared strings are copied for an edit.
        let mut short = CompactBytes::from_edited(BytesMut::from(&b"abc"[..]));
        assert!(short.is_inline());
        assert_eq!(&short.take_for_edit()[..], b"abc");
        let mut shared = CompactBytes::from_slice(&of_len(100));
        assert_eq!(&shared.take_for_edit()[..], &of_len(100)[..]);
    }

    #[test]
    fn debug_shows_escaped_bytes() {
        assert_eq!(
            format!("{:?}", CompactBytes::from_slice(b"a\"\x00")),
            "b\"a\\\"\\x00\""
        );
    }
}
