//! Sorted-set commands: ZADD ZREM ZSCORE ZINCRBY ZCARD ZRANK ZRANGE ZRANGEBYSCORE ZPOPMIN
//! ZPOPMAX. Invariant: no score is ever NaN (an increment that would produce one is refused
//! before any change), and a sorted set left empty by a write is deleted.
//!
//! Wire forms are in each spec, e.g. `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...`,
//! `ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    is_option, parse_f64, parse_i64, zset_at, Args, Command, CommandError, CommandSpec, Cx, Flags,
    Group, KeySpec, Reply, ScoreBound,
};
use crate::keyspace::{End, Entry, Keyspace, Slot, Value, ZSet};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);

/// ZADD's NX / XX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZAddCondition {
    Always,
    /// NX: only add new members.
    IfAbsent,
    /// XX: only update existing members.
    IfPresent,
}

/// ZADD's GT / LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZAddComparison {
    Any,
    /// GT: update only when the new score is greater.
    Greater,
    /// LT: update only when the new score is less.
    Less,
}

/// Traversal direction of a range (REV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    Forward,
    Reverse,
}

/// What a ZRANGE selects: ranks (the default) or scores (BYSCORE).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZRangeBy {
    /// Inclusive 0-based ranks; negative counts from the end.
    Rank { start: i64, stop: i64 },
    /// Lowest and highest score, whatever order they were written in (REV takes `max min`;
    /// parsing normalises).
    Score { min: ScoreBound, max: ScoreBound },
}

/// LIMIT offset count (count < 0 means "all").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub offset: i64,
    pub count: i64,
}

/// A parsed ZRANGE / ZRANGEBYSCORE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRangeSpec {
    pub key: Bytes,
    pub by: ZRangeBy,
    pub order: Order,
    pub limit: Option<Limit>,
    pub with_scores: bool,
}

/// The live sorted set at `key` for a read (None if absent; WRONGTYPE for another type).
fn zset_for_read<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    cx: &Cx,
) -> Result<Option<&'a ZSet>, CommandError> {
    zset_at(ks, &Slot::new(key.clone()), cx.now_ms)
}

// ---- ZADD ----

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZAdd {
    pub key: Bytes,
    pub condition: ZAddCondition,
    pub comparison: ZAddComparison,
    /// CH: count changed members, not only added ones.
    pub count_changed: bool,
    /// INCR: behave like ZINCRBY (exactly one pair).
    pub incr: bool,
    pub pairs: Vec<(f64, Bytes)>,
}

impl ZAdd {
    pub const SPEC: CommandSpec = CommandSpec::data("zadd", -4, Group::SortedSet, ZAdd::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
            &["key", "[NX|XX]", "[GT|LT]", "[CH]", "[INCR]", "score member..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
            (false, false, false, false, false, false);
        let mut index = 2;
        while index < args.len() {
            let option = args.at(index);
            if is_option(option, "nx") {
                nx = true;
            } else if is_option(option, "xx") {
                xx = true;
            } else if is_option(option, "gt") {
                gt = true;
            } else if is_option(option, "lt") {
                lt = true;
            } else if is_option(option, "ch") {
                ch = true;
            } else if is_option(option, "incr") {
                incr = true;
            } else {
                break;
            }
            index += 1;
        }
        let elements = args.len() - index;
        if elements == 0 || elements % 2 == 1 {
            return Err(CommandError::Syntax);
        }
        if nx && xx {
            return Err(CommandError::ZAddXxNx);
        }
        if (nx && (gt || lt)) || (gt && lt) {
            return Err(CommandError::ZAddGtLtNx);
        }
        if incr && elements > 2 {
            return Err(CommandError::ZAddIncrPairs);
        }
        // All scores are checked before anything is applied: ZADD is all or nothing.
        let pairs = args
            .from(index)
            .chunks_exact(2)
            .map(|pair| Ok((parse_f64(&pair[0])?, pair[1].clone())))
            .collect::<Result<Vec<_>, CommandError>>()?;
        Ok(ZAdd {
            key: args.key(1),
            condition: if nx {
                ZAddCondition::IfAbsent
            } else if xx {
                ZAddCondition::IfPresent
            } else {
                ZAddCondition::Always
            },
            comparison: if gt {
                ZAddComparison::Greater
            } else if lt {
                ZAddComparison::Less
            } else {
                ZAddComparison::Any
            },
            count_changed: ch,
            incr,
            pairs,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        // XX on a missing key creates nothing.
        let absent = (self.condition == ZAddCondition::IfPresent).then(|| {
            if self.incr {
                Reply::Nil
            } else {
                Reply::Integer(0)
            }
        });
        update_zset(ks, &self.key, cx.now_ms, absent, |zset| {
            zadd(
                zset,
                self.condition,
                self.comparison,
                self.count_changed,
                self.incr,
                &self.pairs,
            )
        })
    }
}

// ---- ZREM ----

/// `ZREM key member [member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRem {
    pub key: Bytes,
    pub members: Vec<Bytes>,
}

impl ZRem {
    pub const SPEC: CommandSpec = CommandSpec::data("zrem", -3, Group::SortedSet, ZRem::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
            &["key", "member..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRem {
            key: args.key(1),
            members: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_zset(ks, &self.key, cx.now_ms, Some(Reply::Integer(0)), |zset| {
            let removed = self
                .members
                .iter()
                .filter(|member| zset.remove(member))
                .count();
            let change = if removed > 0 {
                Change::Modified
            } else {
                Change::None
            };
            Ok((Reply::Integer(removed as i64), change))
        })
    }
}

// ---- ZSCORE / ZCARD / ZRANK ----

/// `ZSCORE key member`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZScore {
    pub key: Bytes,
    pub member: Bytes,
}

impl ZScore {
    pub const SPEC: CommandSpec = CommandSpec::data("zscore", 3, Group::SortedSet, ZScore::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Returns the score of a member in a sorted set.",
            &["key", "member"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZScore {
            key: args.key(1),
            member: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        Ok(zset
            .and_then(|z| z.score(&self.member))
            .map_or(Reply::Nil, Reply::Double))
    }
}

// ---- ZINCRBY ----

/// `ZINCRBY key increment member`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZIncrBy {
    pub key: Bytes,
    pub increment: f64,
    pub member: Bytes,
}

impl ZIncrBy {
    pub const SPEC: CommandSpec = CommandSpec::data("zincrby", 4, Group::SortedSet, ZIncrBy::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Increments the score of a member in a sorted set.",
            &["key", "increment", "member"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZIncrBy {
            key: args.key(1),
            increment: parse_f64(args.at(2))?,
            member: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_zset(ks, &self.key, cx.now_ms, None, |zset| {
            zadd(
                zset,
                ZAddCondition::Always,
                ZAddComparison::Any,
                false,
                true,
                &[(self.increment, self.member.clone())],
            )
        })
    }
}

/// `ZCARD key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZCard {
    pub key: Bytes,
}

impl ZCard {
    pub const SPEC: CommandSpec = CommandSpec::data("zcard", 2, Group::SortedSet, ZCard::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Returns the number of members in a sorted set.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZCard { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        Ok(Reply::Integer(zset.map_or(0, |z| z.len() as i64)))
    }
}

/// `ZRANK key member`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRank {
    pub key: Bytes,
    pub member: Bytes,
}

impl ZRank {
    pub const SPEC: CommandSpec = CommandSpec::data("zrank", 3, Group::SortedSet, ZRank::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Returns the index of a member in a sorted set ordered by ascending scores.",
            &["key", "member"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRank {
            key: args.key(1),
            member: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        Ok(zset
            .and_then(|z| z.rank(&self.member))
            .map_or(Reply::Nil, |rank| Reply::Integer(rank as i64)))
    }
}

// ---- ZRANGE / ZRANGEBYSCORE ----

/// A score bound as `zslParseRange` reads it: `(` marks exclusive, then
/// strtod over the rest, which must be consumed entirely and not be NaN.
/// Unlike ZADD scores, leading spaces, an empty string (0) and overflow to
/// ±inf are accepted, as strtod does.
fn parse_score_bound(raw: &[u8]) -> Result<ScoreBound, CommandError> {
    let (exclusive, text) = match raw.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let text = std::str::from_utf8(text).map_err(|_| CommandError::MinMaxNotFloat)?;
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let value = if text.is_empty() {
        0.0
    } else {
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let is_inf =
            unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
        let plain = unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
        if !is_inf && !plain {
            return Err(CommandError::MinMaxNotFloat);
        }
        text.parse::<f64>()
            .map_err(|_| CommandError::MinMaxNotFloat)?
    };
    if value.is_nan() {
        return Err(CommandError::MinMaxNotFloat);
    }
    Ok(ScoreBound { value, exclusive })
}

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
}

/// Shared by ZRANGE and ZRANGEBYSCORE (Redis's `zrangeGenericCommand`):
/// ZRANGEBYSCORE presets BYSCORE and forward order, which makes BYSCORE/REV
/// options there a syntax error, as in Redis.
fn parse_range(args: Args<'_>, preset: RangeKind) -> Result<ZRangeSpec, CommandError> {
    let mut kind = preset;
    let mut order: Option<Order> = (preset == RangeKind::Score).then_some(Order::Forward);
    let mut limit: Option<Limit> = None;
    let mut with_scores = false;
    let mut index = 4;
    while index < args.len() {
        let option = args.at(index);
        let left = args.len() - index - 1;
        if is_option(option, "withscores") {
            with_scores = true;
        } else if is_option(option, "limit") && left >= 2 {
            limit = Some(Limit {
                offset: parse_i64(args.at(index + 1))?,
                count: parse_i64(args.at(index + 2))?,
            });
            index += 2;
        } else if order.is_none() && is_option(option, "rev") {
            order = Some(Order::Reverse);
        } else if kind == RangeKind::Auto && is_option(option, "byscore") {
            kind = RangeKind::Score;
        } else {
            // BYLEX is not supported yet and lands here too.
            return Err(CommandError::Syntax);
        }
        index += 1;
    }
    let order = order.unwrap_or(Order::Forward);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if kind == RangeKind::Rank && limit.is_some_and(|limit| limit.count != -1) {
        return Err(CommandError::LimitWithoutBy);
    }
    let by = match kind {
        RangeKind::Score => {
            // With REV the bounds are written `max min`.
            let (min_raw, max_raw) = match order {
                Order::Forward => (args.at(2), args.at(3)),
                Order::Reverse => (args.at(3), args.at(2)),
            };
            let min = parse_score_bound(min_raw)?;
            let max = parse_score_bound(max_raw)?;
            ZRangeBy::Score { min, max }
        }
        _ => ZRangeBy::Rank {
            start: parse_i64(args.at(2))?,
            stop: parse_i64(args.at(3))?,
        },
    };
    Ok(ZRangeSpec {
        key: args.key(1),
        by,
        order,
        // LIMIT is meaningless for ranks (Redis ignores "LIMIT x -1" there).
        limit: if kind == RangeKind::Rank { None } else { limit },
        with_scores,
    })
}

/// `ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRange(pub ZRangeSpec);

impl ZRange {
    pub const SPEC: CommandSpec = CommandSpec::data("zrange", -4, Group::SortedSet, ZRange::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "1.2.0",
            "Returns members in a sorted set within a range of indexes.",
            &[
                "key",
                "start",
                "stop",
                "[BYSCORE]",
                "[REV]",
                "[LIMIT offset count]",
                "[WITHSCORES]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRange(parse_range(args, RangeKind::Auto)?).into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        read_range(ks, &self.0, cx)
    }
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRangeByScore(pub ZRangeSpec);

impl ZRangeByScore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zrangebyscore", -4, Group::SortedSet, ZRangeByScore::parse)
            .flags(READ_MANY)
            .keys(KeySpec::ONE)
            .docs(
                "1.0.5",
                "Returns members in a sorted set within a range of scores.",
                &["key", "min", "max", "[WITHSCORES]", "[LIMIT offset count]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRangeByScore(parse_range(args, RangeKind::Score)?).into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        read_range(ks, &self.0, cx)
    }
}

fn read_range(ks: &Keyspace, spec: &ZRangeSpec, cx: &Cx) -> Result<Reply, CommandError> {
    Ok(match zset_for_read(ks, &spec.key, cx)? {
        None => Reply::Array(Vec::new()),
        Some(zset) => range(zset, spec),
    })
}

fn range(zset: &ZSet, spec: &ZRangeSpec) -> Reply {
    let selected: Vec<(&Bytes, f64)> = match spec.by {
        ZRangeBy::Rank { start, stop } => {
            let len = zset.len() as i64;
            let start = if start < 0 {
                (len + start).max(0)
            } else {
                start
            };
            let stop = if stop < 0 {
                len + stop
            } else {
                stop.min(len - 1)
            };
            if start > stop || start >= len {
                Vec::new()
            } else {
                // O(start + count): the index has no rank lookup.
                let (skip, take) = (start as usize, (stop - start + 1) as usize);
                match spec.order {
                    Order::Forward => zset.iter().skip(skip).take(take).collect(),
                    Order::Reverse => zset.iter().rev().skip(skip).take(take).collect(),
                }
            }
        }
        ZRangeBy::Score { min, max } => {
            let limit = spec.limit.unwrap_or(Limit {
                offset: 0,
                count: -1,
            });
            if limit.offset < 0 {
                // Redis's skip loop never ends for a negative offset: nothing.
                Vec::new()
            } else {
                let skip = usize::try_from(limit.offset).unwrap_or(usize::MAX);
                let take = usize::try_from(limit.count).unwrap_or(usize::MAX);
                let in_range = zset.range_by_score(min, max);
                match spec.order {
                    Order::Forward => in_range.skip(skip).take(take).collect(),
                    Order::Reverse => in_range.rev().skip(skip).take(take).collect(),
                }
            }
        }
    };
    if spec.with_scores {
        Reply::Pairs(
            selected
                .into_iter()
                .map(|(member, score)| (Reply::bulk(member), Reply::Double(score)))
                .collect(),
        )
    } else {
        Reply::Array(
            selected
                .into_iter()
                .map(|(member, _)| Reply::bulk(member))
                .collect(),
        )
    }
}

// ---- ZPOPMIN / ZPOPMAX ----

fn parse_pop(args: Args<'_>) -> Result<(Bytes, Option<u64>), CommandError> {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = if args.len() == 3 {
        let count = super::parse_i64_strict(args.at(2)).ok_or(CommandError::NotPositive)?;
        Some(u64::try_from(count).map_err(|_| CommandError::NotPositive)?)
    } else {
        None
    };
    Ok((args.key(1), count))
}

/// `ZPOPMIN key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZPopMin {
    pub key: Bytes,
    pub count: Option<u64>,
}

impl ZPopMin {
    pub const SPEC: CommandSpec = CommandSpec::data("zpopmin", -2, Group::SortedSet, ZPopMin::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
            &["key", "[count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, count) = parse_pop(args)?;
        Ok(ZPopMin { key, count }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        pop(ks, &self.key, self.count, End::Min, cx.now_ms)
    }
}

/// `ZPOPMAX key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZPopMax {
    pub key: Bytes,
    pub count: Option<u64>,
}

impl ZPopMax {
    pub const SPEC: CommandSpec = CommandSpec::data("zpopmax", -2, Group::SortedSet, ZPopMax::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
            &["key", "[count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, count) = parse_pop(args)?;
        Ok(ZPopMax { key, count }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        pop(ks, &self.key, self.count, End::Max, cx.now_ms)
    }
}

// ---- shared ----

/// Whether a write changed the sorted set (and so the key's version).
pub(super) enum Change {
    None,
    Modified,
}

/// Runs `update` on the live sorted set at `key`; if absent, on a new empty
/// one when `create` allows it, else answers `absent`. Then stores,
/// re-versions or deletes the key as needed.
pub(super) fn update_zset<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    absent: Option<R>,
    update: impl FnOnce(&mut ZSet) -> Result<(R, Change), CommandError>,
) -> Result<R, CommandError> {
    let slot = Slot::new(key.clone());
    let (result, change, is_empty) = match ks.live_mut(&slot, now_ms) {
        Some(Entry {
            value: Value::ZSet(zset),
            ..
        }) => {
            let (result, change) = update(zset)?;
            (result, change, zset.is_empty())
        }
        Some(_) => return Err(CommandError::WrongType),
        None => {
            if let Some(result) = absent {
                return Ok(result);
            }
            let mut zset = ZSet::default();
            let (result, _) = update(&mut zset)?;
            if !zset.is_empty() {
                ks.insert(slot, Value::ZSet(zset), 0);
            }
            return Ok(result);
        }
    };
    match change {
        Change::None => {}
        Change::Modified if is_empty => {
            ks.remove(&slot);
        }
        Change::Modified => ks.touch(&slot),
    }
    Ok(result)
}

/// Redis's `zsetAdd` loop for ZADD and ZINCRBY.
fn zadd(
    zset: &mut ZSet,
    condition: ZAddCondition,
    comparison: ZAddComparison,
    count_changed: bool,
    incr: bool,
    pairs: &[(f64, Bytes)],
) -> Result<(Reply, Change), CommandError> {
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    for (score, member) in pairs {
        match zset.score(member) {
            Some(current) => {
                if condition == ZAddCondition::IfAbsent {
                    continue;
                }
                let mut score = *score;
                if incr {
                    score += current;
                    if score.is_nan() {
                        // Only one pair with INCR, so nothing has changed yet.
                        return Err(CommandError::ScoreNan);
                    }
                }
                let refused = match comparison {
                    ZAddComparison::Any => false,
                    ZAddComparison::Greater => score <= current,
                    ZAddComparison::Less => score >= current,
                };
                if refused {
                    continue;
                }
                processed += 1;
                last_score = score;
                // -0.0 == 0.0: Redis keeps the stored score then.
                if score != current {
                    zset.insert(member.clone(), score);
                    updated += 1;
                }
            }
            None if condition == ZAddCondition::IfPresent => {}
            None => {
                zset.insert(member.clone(), *score);
                added += 1;
                processed += 1;
                last_score = *score;
            }
        }
    }
    let change = if added + updated > 0 {
        Change::Modified
    } else {
        Change::None
    };
    let reply = if incr {
        if processed > 0 {
            Reply::Double(last_score)
        } else {
            Reply::Nil
        }
    } else if count_changed {
        Reply::Integer(added + updated)
    } else {
        Reply::Integer(added)
    };
    Ok((reply, change))
}

/// ZPOPMIN/ZPOPMAX. Without a count the reply is `[member, score]`; with one
/// it is pairs (RESP3 nests them, RESP2 flattens), as Redis 7 does.
fn pop(
    ks: &mut Keyspace,
    key: &Bytes,
    count: Option<u64>,
    end: End,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let empty = Reply::Array(Vec::new());
    update_zset(ks, key, now_ms, Some(empty.clone()), |zset| {
        let wanted = count.unwrap_or(1);
        if wanted == 0 {
            return Ok((empty, Change::None));
        }
        let mut popped = Vec::new();
        while (popped.len() as u64) < wanted {
            let Some((member, score)) = zset.pop(end) else {
                break;
            };
            popped.push((Reply::Bulk(member), Reply::Double(score)));
        }
        let reply = match count {
            Some(_) => Reply::Pairs(popped),
            None => Reply::Array(popped.into_iter().flat_map(|(m, s)| [m, s]).collect()),
        };
        Ok((reply, Change::Modified))
    })
}

#[cfg(test)]
mod tests;
