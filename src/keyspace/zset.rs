//! The sorted-set value type: member → score plus a (score, member) index with ranks.
//! Invariant: both maps describe the same members, no score is NaN (nor -0, stored as 0), and
//! the index orders by score then member bytes, exactly as Redis does.
//!
//! Both maps are [`CountedMap`]s (persistent, O(1) clone): the index answers ranks and rank
//! ranges in O(log n) (ZRANK, ZRANGE, ZCOUNT, ZREMRANGEBYRANK locate their range without
//! walking it); the member map is ordered by `(xxh3(member), member)`, which gives ZSCAN a
//! numeric cursor that stays valid while the set changes.

use std::cmp::Ordering;
use std::ops::{Bound, Range};

use bytes::Bytes;
use xxhash_rust::xxh3::xxh3_64;

use super::compact_bytes::CompactBytes;
use super::counted::{CountedMap, Iter};

/// A member's place in the score index.
#[derive(Clone, Debug)]
pub(crate) struct ScoreKey {
    pub(crate) score: f64,
    pub(crate) member: CompactBytes,
}

/// A member's place in the member map: by hash first, so ZSCAN can resume from a hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MemberSlot {
    hash: u64,
    member: CompactBytes,
}

/// Redis's score order: scores compare with `<`/`==`, so -0.0 and 0.0 tie
/// and the member decides. NaN is never stored (see module invariant).
pub(crate) fn cmp_score(a: f64, b: f64) -> Ordering {
    if a == b {
        Ordering::Equal
    } else {
        a.total_cmp(&b)
    }
}

impl ScoreKey {
    /// How this key orders against (`score`, `member`), without building a key.
    fn cmp_to(&self, score: f64, member: &[u8]) -> Ordering {
        cmp_score(self.score, score).then_with(|| self.member[..].cmp(member))
    }
}

impl PartialEq for ScoreKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for ScoreKey {}
impl PartialOrd for ScoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ScoreKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_to(other.score, &other.member)
    }
}

/// One end of a score range; `exclusive` is the `(` prefix.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// Which end of the score order ZPOPMIN/ZPOPMAX take from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Min,
    Max,
}

/// Boxed: a `Value` is as large as its largest variant, and two maps inline would make every
/// key's entry 8 bytes larger (see `sizes_of_the_encodings` in hash.rs).
#[derive(Clone, Debug, Default)]
pub(crate) struct ZSet {
    maps: Box<Maps>,
}

#[derive(Clone, Debug, Default)]
struct Maps {
    /// member → score, in (hash, member) order.
    members: CountedMap<MemberSlot, f64>,
    /// Every member in (score, member) order, with ranks.
    index: CountedMap<ScoreKey, ()>,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|((ma, sa), (mb, sb))| ma == mb && sa.to_bits() == sb.to_bits())
    }
}

/// Members with their scores, from an index range.
pub(crate) type Members<'a> =
    std::iter::Map<Iter<'a, ScoreKey, ()>, fn((&'a ScoreKey, &'a ())) -> (&'a CompactBytes, f64)>;

fn as_pair<'a>((key, _): (&'a ScoreKey, &'a ())) -> (&'a CompactBytes, f64) {
    (&key.member, key.score)
}

/// How `slot` orders against the slot of `member` whose hash is `hash`.
fn cmp_slot(slot: &MemberSlot, hash: u64, member: &[u8]) -> Ordering {
    slot.hash
        .cmp(&hash)
        .then_with(|| slot.member[..].cmp(member))
}

impl ZSet {
    pub(crate) fn len(&self) -> usize {
        self.maps.index.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.maps.index.is_empty()
    }

    /// A sorted set from members in strictly ascending (score, member) order, scores never
    /// NaN, built bottom-up: the index in one pass, the member map after one sort by hash
    /// (O(n log n) in all, no per-member rebalancing). `None` when a member appears twice
    /// (with two scores: the input order allows it, a sorted set does not).
    pub(crate) fn from_sorted<M: Into<CompactBytes>>(members: Vec<(M, f64)>) -> Option<ZSet> {
        let mut slots: Vec<(MemberSlot, f64)> = Vec::with_capacity(members.len());
        let mut keys: Vec<(ScoreKey, ())> = Vec::with_capacity(members.len());
        for (member, score) in members {
            let member: CompactBytes = member.into();
            debug_assert!(!score.is_nan());
            let score = if score == 0.0 { 0.0 } else { score };
            let hash = xxh3_64(&member);
            slots.push((
                MemberSlot {
                    hash,
                    member: member.clone(),
                },
                score,
            ));
            keys.push((ScoreKey { score, member }, ()));
        }
        debug_assert!(keys.windows(2).all(|pair| pair[0].0 < pair[1].0));
        slots.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if slots.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return None;
        }
        Some(ZSet {
            maps: Box::new(Maps {
                members: CountedMap::from_sorted(slots),
                index: CountedMap::from_sorted(keys),
            }),
        })
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        let hash = xxh3_64(member);
        self.maps
            .members
            .get_by(|slot| cmp_slot(slot, hash, member))
            .map(|(_, score)| *score)
    }

    /// Sets `member` to `score` (never NaN); returns the previous score.
    pub(crate) fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        // -0 is stored as 0, as Redis's compact sorted sets do, so ZSCORE never shows "-0".
        let score = if score == 0.0 { 0.0 } else { score };
        let member = CompactBytes::from(member);
        let hash = xxh3_64(&member);
        let previous = self.maps.members.insert(
            MemberSlot {
                hash,
                member: member.clone(),
            },
            score,
        );
        if let Some(old) = previous {
            if old.to_bits() == score.to_bits() {
                return previous;
            }
            self.maps.index.remove_by(|key| key.cmp_to(old, &member));
        }
        self.maps.index.insert(ScoreKey { score, member }, ());
        previous
    }

    /// Removes `member`; returns true when it was present.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        let hash = xxh3_64(member);
        match self
            .maps
            .members
            .remove_by(|slot| cmp_slot(slot, hash, member))
        {
            Some((_, score)) => {
                self.maps.index.remove_by(|key| key.cmp_to(score, member));
                true
            }
            None => false,
        }
    }

    /// 0-based position in score order, O(log n).
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        self.maps
            .index
            .rank_by(|key| key.cmp_to(score, member))
            .ok()
    }

    /// The member at `rank` in score order.
    pub(crate) fn select(&self, rank: usize) -> Option<(&CompactBytes, f64)> {
        self.maps.index.select(rank).map(as_pair)
    }

    /// Members in ascending (score, member) order.
    pub(crate) fn iter(&self) -> Members<'_> {
        self.range_by_rank(0..self.len())
    }

    /// The members at ranks `ranks` (clamped), ascending; double-ended. O(log n) to start.
    pub(crate) fn range_by_rank(&self, ranks: Range<usize>) -> Members<'_> {
        self.maps
            .index
            .range_by_rank(ranks)
            .map(as_pair as fn(_) -> _)
    }

    /// The ranks of the members whose score lies within `[min, max]` (honouring exclusivity),
    /// O(log n). Empty when the range is empty, as Redis decides it.
    pub(crate) fn score_ranks(&self, min: ScoreBound, max: ScoreBound) -> Range<usize> {
        let start = self.maps.index.count_while(|key| {
            if min.exclusive {
                key.score <= min.value
            } else {
                key.score < min.value
            }
        });
        let end = self.maps.index.count_while(|key| {
            if max.exclusive {
                key.score < max.value
            } else {
                key.score <= max.value
            }
        });
        start..end.max(start)
    }

    /// The ranks of the members within the member bounds, O(log n). As in Redis, this assumes
    /// every member has the same score; otherwise the result is some (unspecified) range.
    pub(crate) fn lex_ranks(&self, min: Bound<&[u8]>, max: Bound<&[u8]>) -> Range<usize> {
        let start = self.maps.index.count_while(|key| match min {
            Bound::Included(min) => key.member[..] < *min,
            Bound::Excluded(min) => key.member[..] <= *min,
            Bound::Unbounded => false,
        });
        let end = self.maps.index.count_while(|key| match max {
            Bound::Included(max) => key.member[..] <= *max,
            Bound::Excluded(max) => key.member[..] < *max,
            Bound::Unbounded => true,
        });
        start..end.max(start)
    }

    /// Removes and returns the member at `end` of the score order.
    pub(crate) fn pop(&mut self, end: End) -> Option<(Bytes, f64)> {
        let (key, ()) = match end {
            End::Min => self.maps.index.pop_first()?,
            End::Max => self.maps.index.pop_last()?,
        };
        let hash = xxh3_64(&key.member);
        self.maps
            .members
            .remove_by(|slot| cmp_slot(slot, hash, &key.member));
        Some((key.member.to_bytes(), key.score))
    }

    /// Removes the members at ranks `ranks` (clamped); returns how many.
    pub(crate) fn remove_ranks(&mut self, ranks: Range<usize>) -> usize {
        let removed = self.maps.index.remove_range_by_rank(ranks);
        for (key, ()) in &removed {
            let hash = xxh3_64(&key.member);
            self.maps
                .members
                .remove_by(|slot| cmp_slot(slot, hash, &key.member));
        }
        removed.len()
    }

    /// Members in (hash, member) order starting at the first whose hash is `>= hash`: ZSCAN's
    /// walk. Yields (hash, member, score).
    pub(crate) fn scan_from(
        &self,
        hash: u64,
    ) -> impl Iterator<Item = (u64, &CompactBytes, f64)> + '_ {
        let start = self.maps.members.count_while(|slot| slot.hash < hash);
        self.maps
            .members
            .range_by_rank(start..self.maps.members.len())
            .map(|(slot, score)| (slot.hash, &slot.member, *score))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(value: f64, exclusive: bool) -> ScoreBound {
        ScoreBound { value, exclusive }
    }

    #[test]
    fn ranks_follow_score_then_member() {
        let mut zset = ZSet::default();
        for (member, score) in [("b", 2.0), ("a", 2.0), ("c", 1.0), ("d", -0.0)] {
            zset.insert(Bytes::from(member), score);
        }
        let order: Vec<&[u8]> = zset.iter().map(|(m, _)| &m[..]).collect();
        assert_eq!(order, [&b"d"[..], b"c", b"a", b"b"]);
        assert_eq!(zset.rank(b"a"), Some(2));
        assert_eq!(zset.rank(b"zz"), None);
        assert_eq!(zset.score(b"d").map(f64::to_bits), Some(0.0f64.to_bits()));
        zset.insert(Bytes::from("a"), 0.5);
        assert_eq!(zset.rank(b"a"), Some(1));
        assert_eq!(zset.select(3), Some((&CompactBytes::from("b"), 2.0)));
        assert_eq!(zset.score_ranks(bound(0.5, false), bound(2.0, true)), 1..3);
        assert_eq!(zset.score_ranks(bound(2.0, true), bound(2.0, false)), 4..4);
        assert_eq!(zset.score_ranks(bound(3.0, false), bound(1.0, false)), 4..4);
        assert!(zset.remove(b"c"));
        assert!(!zset.remove(b"c"));
        assert_eq!(zset.remove_ranks(0..2), 2);
        assert_eq!(zset.len(), 1);
        assert_eq!(zset.score(b"a"), None);
        assert_eq!(zset.pop(End::Max), Some((Bytes::from("b"), 2.0)));
        assert!(zset.is_empty());
    }

    #[test]
    fn from_sorted_equals_inserting_one_by_one() {
        let members: Vec<(CompactBytes, f64)> = (0..1000)
            .map(|i| {
                (
                    CompactBytes::from(format!("m{i:04}").as_str()),
                    f64::from(i / 10),
                )
            })
            .collect();
        let mut inserted = ZSet::default();
        for (member, score) in &members {
            inserted.insert(member.to_bytes(), *score);
        }
        let built = ZSet::from_sorted(members).expect("no member twice");
        assert_eq!(built, inserted);
        assert_eq!(built.score(b"m0123"), Some(12.0));
        let scanned: Vec<u64> = built.scan_from(0).map(|(hash, _, _)| hash).collect();
        assert_eq!(scanned.len(), 1000);
        assert!(scanned.windows(2).all(|pair| pair[0] <= pair[1]));
        let middle = scanned[500];
        assert_eq!(built.scan_from(middle).count(), 500);
    }

    /// A member listed twice with two scores is in (score, member) order but is no sorted set.
    #[test]
    fn from_sorted_refuses_a_member_twice() {
        let members = vec![
            (CompactBytes::from("a"), 1.0),
            (CompactBytes::from("b"), 1.5),
            (CompactBytes::from("a"), 2.0),
        ];
        assert!(ZSet::from_sorted(members).is_none());
    }
}
