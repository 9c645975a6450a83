//! The sorted-set value type: member → score plus a (score, member) index.
//! Invariant: both maps describe the same members, no score is NaN, and the
//! index orders by score then member bytes, exactly as Redis does.

use std::cmp::Ordering;
use std::ops::Bound;

use bytes::Bytes;
use imbl::{OrdMap, OrdSet};

/// A member position in the score index. `Low`/`High` never appear in the set;
/// they are probes that sort before/after every real member of equal score,
/// so score ranges map onto `OrdSet::range` without scanning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MemberKey {
    Low,
    Member(Bytes),
    High,
}

#[derive(Clone, Debug)]
pub(crate) struct ScoreKey {
    pub(crate) score: f64,
    pub(crate) member: MemberKey,
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
        cmp_score(self.score, other.score).then_with(|| self.member.cmp(&other.member))
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

#[derive(Clone, Debug, Default)]
pub(crate) struct ZSet {
    scores: OrdMap<Bytes, f64>,
    index: OrdSet<ScoreKey>,
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

impl ZSet {
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member` to `score` (never NaN); returns the previous score.
    pub(crate) fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        // -0 is stored as 0, as Redis's compact sorted sets do, so ZSCORE never shows "-0".
        let score = if score == 0.0 { 0.0 } else { score };
        let previous = self.scores.insert(member.clone(), score);
        if let Some(old) = previous {
            self.index.remove(&ScoreKey {
                score: old,
                member: MemberKey::Member(member.clone()),
            });
        }
        self.index.insert(ScoreKey {
            score,
            member: MemberKey::Member(member),
        });
        previous
    }

    /// Removes `member`; returns true when it was present.
    pub(crate) fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove_with_key(member) {
            Some((member, score)) => {
                self.index.remove(&ScoreKey {
                    score,
                    member: MemberKey::Member(member),
                });
                true
            }
            None => false,
        }
    }

    /// 0-based position in score order. O(n): `OrdSet` keeps no subtree
    /// sizes, so this counts the members before it.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let probe = ScoreKey {
            score,
            member: MemberKey::Member(Bytes::copy_from_slice(member)),
        };
        Some(self.index.range(..probe).count())
    }

    /// Members in ascending (score, member) order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + '_ {
        self.index.iter().map(ScoreKey::as_pair)
    }

    /// Members whose score lies within `[min, max]` (honouring exclusivity),
    /// in ascending order. Empty when the range is empty, as Redis decides it.
    pub(crate) fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
    ) -> Box<dyn DoubleEndedIterator<Item = (&Bytes, f64)> + '_> {
        let empty =
            min.value > max.value || (min.value == max.value && (min.exclusive || max.exclusive));
        if empty {
            return Box::new(std::iter::empty());
        }
        let low = ScoreKey {
            score: min.value,
            member: if min.exclusive {
                MemberKey::High
            } else {
                MemberKey::Low
            },
        };
        let high = ScoreKey {
            score: max.value,
            member: if max.exclusive {
                MemberKey::Low
            } else {
                MemberKey::High
            },
        };
        Box::new(
            self.index
                .range((Bound::Included(low), Bound::Included(high)))
                .map(ScoreKey::as_pair),
        )
    }

    /// Removes and returns the member at `end` of the score order.
    pub(crate) fn pop(&mut self, end: End) -> Option<(Bytes, f64)> {
        let key = match end {
            End::Min => self.index.remove_min()?,
            End::Max => self.index.remove_max()?,
        };
        let MemberKey::Member(member) = key.member else {
            unreachable!("probes are never stored");
        };
        self.scores.remove(&member[..]);
        Some((member, key.score))
    }
}

impl ScoreKey {
    fn as_pair(&self) -> (&Bytes, f64) {
        match &self.member {
            MemberKey::Member(member) => (member, self.score),
            MemberKey::Low | MemberKey::High => unreachable!("probes are never stored"),
        }
    }
}
