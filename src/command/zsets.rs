//! Sorted-set commands: ZADD ZREM ZSCORE ZMSCORE ZINCRBY ZCARD ZRANK ZREVRANK ZCOUNT ZLEXCOUNT,
//! the ranges (ZRANGE ZRANGEBYSCORE ZRANGEBYLEX ZREVRANGE ZREVRANGEBYSCORE ZREVRANGEBYLEX
//! ZRANGESTORE), the range removals (ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX), the pops
//! (ZPOPMIN ZPOPMAX ZMPOP), the set operations (ZUNION ZINTER ZDIFF ZINTERCARD and the STORE
//! forms), ZRANDMEMBER and ZSCAN.
//!
//! Invariants: no score is ever NaN (an increment that would produce one is refused before any
//! change; a set operation turns NaN into 0, as Redis does); a sorted set left empty by a write
//! is deleted; a write to a live sorted set keeps its TTL, while a STORE replaces its
//! destination (whatever its type) and clears the TTL.
//!
//! Wire forms are in each spec, e.g. `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...`,
//! `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`.

use std::collections::BTreeMap;
use std::ops::{Bound, Range};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::keys::parse_cursor;
use super::{
    format_double, is_option, numkeys_positions, parse_f64, parse_f64_strict, parse_i64,
    parse_i64_strict, zset_at, Args, Command, CommandError, CommandSpec, Cx, Flags, Group, KeySpec,
    Reply, ScoreBound,
};
use crate::keyspace::{
    glob_match, CompactBytes, End, Entry, Keyspace, ScoreEnd, Slot, Value, ZSet,
};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const WRITE_DENYOOM_FAST: Flags = WRITE_DENYOOM.union(Flags::FAST);

/// ZSCAN's default COUNT, as SCAN's.
const ZSCAN_COUNT_DEFAULT: u64 = 10;
/// Tandem's limit on ZRANDMEMBER with a negative count (members may repeat, so the reply is
/// not bounded by the set): Redis would build the reply whatever its size.
pub const ZRANDMEMBER_REPEATS_MAX: u64 = 1 << 22;

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

/// What a ZRANGE selects: ranks (the default), scores (BYSCORE) or members (BYLEX).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ZRangeBy {
    /// Inclusive 0-based ranks; negative counts from the end.
    Rank { start: i64, stop: i64 },
    /// Lowest and highest score, whatever order they were written in (REV takes `max min`;
    /// parsing normalises).
    Score { min: ScoreBound, max: ScoreBound },
    /// Lowest and highest member, normalised like `Score`.
    Lex { min: LexBound, max: LexBound },
}

/// One end of a member range: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LexBound {
    /// `-`: before every member.
    Lowest,
    /// `+`: after every member.
    Highest,
    /// `[member`
    Inclusive(Bytes),
    /// `(member`
    Exclusive(Bytes),
}

/// LIMIT offset count (count < 0 means "all").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub offset: i64,
    pub count: i64,
}

/// A parsed ZRANGE and its variants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRangeSpec {
    pub key: Bytes,
    pub by: ZRangeBy,
    pub order: Order,
    pub limit: Option<Limit>,
    pub with_scores: bool,
}

impl ScoreEnd {
    /// The sorted set's end this names.
    pub(super) fn end(self) -> End {
        match self {
            ScoreEnd::Min => End::Min,
            ScoreEnd::Max => End::Max,
        }
    }
}

/// How ZUNION and ZINTER combine the weighted scores of a member found in several inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// An option error that Redis reports only after the command's keys passed their type check
/// (ZUNION's WEIGHTS, ZSCAN's COUNT, ...), so it is kept in the command until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OptionError {
    Syntax,
    NotInteger,
    WeightNotFloat,
    LimitNegative,
}

impl From<OptionError> for CommandError {
    fn from(error: OptionError) -> CommandError {
        match error {
            OptionError::Syntax => CommandError::Syntax,
            OptionError::NotInteger => CommandError::NotInteger,
            OptionError::WeightNotFloat => CommandError::WeightNotFloat,
            OptionError::LimitNegative => CommandError::LimitNegative,
        }
    }
}

/// The live sorted set at `key` for a read (None if absent; WRONGTYPE for another type).
fn zset_for_read<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    cx: &Cx,
) -> Result<Option<&'a ZSet>, CommandError> {
    zset_at(ks, &Slot::new(key.clone()), cx.now_ms)
}

/// Members, with their scores as doubles when asked: RESP2 flattens the pairs, RESP3 nests
/// them (Redis 7).
fn members_reply(members: impl Iterator<Item = (Bytes, f64)>, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(
            members
                .map(|(member, score)| (Reply::Bulk(member), Reply::Double(score)))
                .collect(),
        )
    } else {
        Reply::Array(members.map(|(member, _)| Reply::Bulk(member)).collect())
    }
}

/// Stored members with their scores, as reply bytes.
fn stored<'a, I>(members: I) -> impl Iterator<Item = (Bytes, f64)> + 'a
where
    I: Iterator<Item = (&'a CompactBytes, f64)> + 'a,
{
    members.map(|(member, score)| (member.to_bytes(), score))
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
            Ok((Reply::Integer(removed as i64), Change::when(removed > 0)))
        })
    }
}

// ---- ZSCORE / ZMSCORE / ZCARD / ZRANK / ZREVRANK ----

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

/// `ZMSCORE key member [member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZMScore {
    pub key: Bytes,
    pub members: Vec<Bytes>,
}

impl ZMScore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zmscore", -3, Group::SortedSet, ZMScore::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "6.2.0",
                "Returns the score of one or more members in a sorted set.",
                &["key", "member..."],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZMScore {
            key: args.key(1),
            members: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        Ok(Reply::Array(
            self.members
                .iter()
                .map(|member| {
                    zset.and_then(|z| z.score(member))
                        .map_or(Reply::Nil, Reply::Double)
                })
                .collect(),
        ))
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

/// `ZRANK key member`: O(log n).
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
        rank_reply(ks, &self.key, &self.member, Order::Forward, cx)
    }
}

/// `ZREVRANK key member`: O(log n).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRevRank {
    pub key: Bytes,
    pub member: Bytes,
}

impl ZRevRank {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zrevrank", 3, Group::SortedSet, ZRevRank::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "2.0.0",
                "Returns the index of a member in a sorted set ordered by descending scores.",
                &["key", "member"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRevRank {
            key: args.key(1),
            member: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        rank_reply(ks, &self.key, &self.member, Order::Reverse, cx)
    }
}

fn rank_reply(
    ks: &Keyspace,
    key: &Bytes,
    member: &[u8],
    order: Order,
    cx: &Cx,
) -> Result<Reply, CommandError> {
    let Some(zset) = zset_for_read(ks, key, cx)? else {
        return Ok(Reply::Nil);
    };
    Ok(zset.rank(member).map_or(Reply::Nil, |rank| {
        let rank = match order {
            Order::Forward => rank,
            Order::Reverse => zset.len() - 1 - rank,
        };
        Reply::Integer(rank as i64)
    }))
}

// ---- range arguments ----

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

/// A member bound as `zslParseLexRangeItem` reads it: exactly `-` or `+`, or `[` / `(`
/// followed by the member.
fn parse_lex_bound(raw: &Bytes) -> Result<LexBound, CommandError> {
    match raw.first() {
        Some(b'-') if raw.len() == 1 => Ok(LexBound::Lowest),
        Some(b'+') if raw.len() == 1 => Ok(LexBound::Highest),
        Some(b'[') => Ok(LexBound::Inclusive(raw.slice(1..))),
        Some(b'(') => Ok(LexBound::Exclusive(raw.slice(1..))),
        _ => Err(CommandError::LexRangeInvalid),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), CommandError> {
    Ok((parse_score_bound(min)?, parse_score_bound(max)?))
}

fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<(LexBound, LexBound), CommandError> {
    Ok((parse_lex_bound(min)?, parse_lex_bound(max)?))
}

/// The ranks of the members between two member bounds.
fn lex_ranks(zset: &ZSet, min: &LexBound, max: &LexBound) -> Range<usize> {
    let min = match min {
        LexBound::Lowest => Bound::Unbounded,
        LexBound::Highest => return 0..0,
        LexBound::Inclusive(member) => Bound::Included(&member[..]),
        LexBound::Exclusive(member) => Bound::Excluded(&member[..]),
    };
    let max = match max {
        LexBound::Lowest => return 0..0,
        LexBound::Highest => Bound::Unbounded,
        LexBound::Inclusive(member) => Bound::Included(&member[..]),
        LexBound::Exclusive(member) => Bound::Excluded(&member[..]),
    };
    zset.lex_ranks(min, max)
}

/// Redis's rank sanitising (negative counts from the end, clamped to the set): the inclusive
/// ascending ranks, or None when the range is empty.
fn clamp_ranks(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

// ---- ZRANGE and its variants ----

#[derive(Clone, Copy, PartialEq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// How a variant presets ZRANGE's options (Redis's `zrangeGenericCommand`): a preset kind or
/// order makes the matching option (BYSCORE, BYLEX, REV) a syntax error, and a STORE form
/// refuses WITHSCORES.
#[derive(Clone, Copy)]
struct RangeForm {
    /// Position of the source key; the range follows it.
    key_at: usize,
    kind: RangeKind,
    order: Option<Order>,
    store: bool,
}

fn parse_range(args: Args<'_>, form: RangeForm) -> Result<ZRangeSpec, CommandError> {
    let mut kind = form.kind;
    let mut order = form.order;
    let mut limit: Option<Limit> = None;
    let mut with_scores = false;
    let mut index = form.key_at + 3;
    while index < args.len() {
        let option = args.at(index);
        let left = args.len() - index - 1;
        if !form.store && is_option(option, "withscores") {
            with_scores = true;
        } else if is_option(option, "limit") && left >= 2 {
            limit = Some(Limit {
                offset: parse_i64(args.at(index + 1))?,
                count: parse_i64(args.at(index + 2))?,
            });
            index += 2;
        } else if order.is_none() && is_option(option, "rev") {
            order = Some(Order::Reverse);
        } else if kind == RangeKind::Auto && is_option(option, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && is_option(option, "byscore") {
            kind = RangeKind::Score;
        } else {
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
    if kind == RangeKind::Lex && with_scores {
        return Err(CommandError::WithScoresByLex);
    }
    // BYSCORE and BYLEX with REV take the range as `max min`.
    let (low, high) = (args.at(form.key_at + 1), args.at(form.key_at + 2));
    let (min, max) = match order {
        Order::Reverse if kind != RangeKind::Rank => (high, low),
        _ => (low, high),
    };
    let by = match kind {
        RangeKind::Score => {
            let (min, max) = parse_score_range(min, max)?;
            ZRangeBy::Score { min, max }
        }
        RangeKind::Lex => {
            let (min, max) = parse_lex_range(min, max)?;
            ZRangeBy::Lex { min, max }
        }
        RangeKind::Rank | RangeKind::Auto => ZRangeBy::Rank {
            start: parse_i64(min)?,
            stop: parse_i64(max)?,
        },
    };
    Ok(ZRangeSpec {
        key: args.key(form.key_at),
        by,
        order,
        // LIMIT is meaningless for ranks (Redis ignores "LIMIT x -1" there).
        limit: if kind == RangeKind::Rank { None } else { limit },
        with_scores,
    })
}

/// The ascending ranks a range selects after LIMIT; the caller walks them in `spec.order`.
/// O(log n): nothing before the range is visited, whatever the offset.
fn selected_ranks(zset: &ZSet, spec: &ZRangeSpec) -> Range<usize> {
    let len = zset.len();
    let ranks = match &spec.by {
        ZRangeBy::Rank { start, stop } => {
            let Some((start, stop)) = clamp_ranks(*start, *stop, len) else {
                return 0..0;
            };
            return match spec.order {
                Order::Forward => start..stop + 1,
                Order::Reverse => len - 1 - stop..len - start,
            };
        }
        ZRangeBy::Score { min, max } => zset.score_ranks(*min, *max),
        ZRangeBy::Lex { min, max } => lex_ranks(zset, min, max),
    };
    let Some(Limit { offset, count }) = spec.limit else {
        return ranks;
    };
    if offset < 0 {
        // Redis's skip loop never ends for a negative offset: nothing.
        return ranks.start..ranks.start;
    }
    let skip = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(ranks.len());
    let rest = ranks.len() - skip;
    let take = usize::try_from(count).map_or(rest, |count| count.min(rest));
    match spec.order {
        Order::Forward => ranks.start + skip..ranks.start + skip + take,
        Order::Reverse => ranks.end - skip - take..ranks.end - skip,
    }
}

fn read_range(ks: &Keyspace, spec: &ZRangeSpec, cx: &Cx) -> Result<Reply, CommandError> {
    let Some(zset) = zset_for_read(ks, &spec.key, cx)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let members = zset.range_by_rank(selected_ranks(zset, spec));
    Ok(match spec.order {
        Order::Forward => members_reply(stored(members), spec.with_scores),
        Order::Reverse => members_reply(stored(members.rev()), spec.with_scores),
    })
}

/// Declares a range read: a tuple struct around [`ZRangeSpec`], its spec, and its parser with
/// the variant's presets.
macro_rules! range_read {
    ($(#[$doc:meta])* $name:ident, $command:literal, $since:literal, $summary:literal,
     $hints:expr, $kind:expr, $order:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name(pub ZRangeSpec);

        impl $name {
            pub const SPEC: CommandSpec =
                CommandSpec::data($command, -4, Group::SortedSet, $name::parse)
                    .flags(READ_MANY)
                    .keys(KeySpec::ONE)
                    .docs($since, $summary, $hints);

            fn parse(args: Args<'_>) -> Result<Command, CommandError> {
                let form = RangeForm { key_at: 1, kind: $kind, order: $order, store: false };
                Ok($name(parse_range(args, form)?).into())
            }

            pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
                read_range(ks, &self.0, cx)
            }
        }
    };
}

range_read!(
    /// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`
    ZRange,
    "zrange",
    "1.2.0",
    "Returns members in a sorted set within a range of indexes.",
    &["key", "start", "stop", "[BYSCORE|BYLEX]", "[REV]", "[LIMIT offset count]", "[WITHSCORES]"],
    RangeKind::Auto,
    None
);

range_read!(
    /// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`
    ZRangeByScore,
    "zrangebyscore",
    "1.0.5",
    "Returns members in a sorted set within a range of scores.",
    &["key", "min", "max", "[WITHSCORES]", "[LIMIT offset count]"],
    RangeKind::Score,
    Some(Order::Forward)
);

range_read!(
    /// `ZREVRANGE key start stop [WITHSCORES]`
    ZRevRange,
    "zrevrange",
    "1.2.0",
    "Returns members in a sorted set within a range of indexes in reverse order.",
    &["key", "start", "stop", "[WITHSCORES]"],
    RangeKind::Rank,
    Some(Order::Reverse)
);

range_read!(
    /// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`
    ZRevRangeByScore,
    "zrevrangebyscore",
    "2.2.0",
    "Returns members in a sorted set within a range of scores in reverse order.",
    &["key", "max", "min", "[WITHSCORES]", "[LIMIT offset count]"],
    RangeKind::Score,
    Some(Order::Reverse)
);

range_read!(
    /// `ZRANGEBYLEX key min max [LIMIT offset count]`
    ZRangeByLex,
    "zrangebylex",
    "2.8.9",
    "Returns members in a sorted set within a lexicographical range.",
    &["key", "min", "max", "[LIMIT offset count]"],
    RangeKind::Lex,
    Some(Order::Forward)
);

range_read!(
    /// `ZREVRANGEBYLEX key max min [LIMIT offset count]`
    ZRevRangeByLex,
    "zrevrangebylex",
    "2.8.9",
    "Returns members in a sorted set within a lexicographical range in reverse order.",
    &["key", "max", "min", "[LIMIT offset count]"],
    RangeKind::Lex,
    Some(Order::Reverse)
);

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRangeStore {
    pub destination: Bytes,
    pub range: ZRangeSpec,
}

impl ZRangeStore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zrangestore", -5, Group::SortedSet, ZRangeStore::parse)
            .flags(WRITE_DENYOOM)
            .keys(KeySpec::range(1, 2, 1))
            .docs(
                "6.2.0",
                "Stores a range of members from sorted set in a key.",
                &[
                    "dst",
                    "src",
                    "min",
                    "max",
                    "[BYSCORE|BYLEX]",
                    "[REV]",
                    "[LIMIT offset count]",
                ],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let form = RangeForm {
            key_at: 2,
            kind: RangeKind::Auto,
            order: None,
            store: true,
        };
        Ok(ZRangeStore {
            destination: args.key(1),
            range: parse_range(args, form)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let selected: Vec<(Bytes, f64)> = match zset_for_read(ks, &self.range.key, cx)? {
            None => Vec::new(),
            Some(zset) => zset
                .range_by_rank(selected_ranks(zset, &self.range))
                .map(|(member, score)| (member.to_bytes(), score))
                .collect(),
        };
        // The ranks are walked ascending whatever the order, so `selected` is sorted.
        Ok(store_result(ks, &self.destination, selected))
    }
}

// ---- ZCOUNT / ZLEXCOUNT ----

/// `ZCOUNT key min max`: O(log n).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZCount {
    pub key: Bytes,
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ZCount {
    pub const SPEC: CommandSpec = CommandSpec::data("zcount", 4, Group::SortedSet, ZCount::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Returns the count of members in a sorted set that have scores within a range.",
            &["key", "min", "max"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (min, max) = parse_score_range(args.at(2), args.at(3))?;
        Ok(ZCount {
            key: args.key(1),
            min,
            max,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        let count = zset.map_or(0, |z| z.score_ranks(self.min, self.max).len());
        Ok(Reply::Integer(count as i64))
    }
}

/// `ZLEXCOUNT key min max`: O(log n).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZLexCount {
    pub key: Bytes,
    pub min: LexBound,
    pub max: LexBound,
}

impl ZLexCount {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zlexcount", 4, Group::SortedSet, ZLexCount::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "2.8.9",
                "Returns the number of members in a sorted set within a lexicographical range.",
                &["key", "min", "max"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (min, max) = parse_lex_range(args.at(2), args.at(3))?;
        Ok(ZLexCount {
            key: args.key(1),
            min,
            max,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        let count = zset.map_or(0, |z| lex_ranks(z, &self.min, &self.max).len());
        Ok(Reply::Integer(count as i64))
    }
}

// ---- ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX ----

/// Removes the members at `ranks(zset)` from the sorted set at `key`; replies how many.
fn remove_ranks(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    ranks: impl FnOnce(&ZSet) -> Range<usize>,
) -> Result<Reply, CommandError> {
    update_zset(ks, key, now_ms, Some(Reply::Integer(0)), |zset| {
        let range = ranks(zset);
        let removed = zset.remove_ranks(range);
        Ok((Reply::Integer(removed as i64), Change::when(removed > 0)))
    })
}

/// `ZREMRANGEBYRANK key start stop`: O(log n) to find the range, then per member removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRemRangeByRank {
    pub key: Bytes,
    pub start: i64,
    pub stop: i64,
}

impl ZRemRangeByRank {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zremrangebyrank", 4, Group::SortedSet, ZRemRangeByRank::parse)
            .flags(Flags::WRITE)
            .keys(KeySpec::ONE)
            .docs(
                "2.0.0",
                "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
                &["key", "start", "stop"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZRemRangeByRank {
            key: args.key(1),
            start: parse_i64(args.at(2))?,
            stop: parse_i64(args.at(3))?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        remove_ranks(ks, &self.key, cx.now_ms, |zset| {
            clamp_ranks(self.start, self.stop, zset.len())
                .map_or(0..0, |(start, stop)| start..stop + 1)
        })
    }
}

/// `ZREMRANGEBYSCORE key min max`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRemRangeByScore {
    pub key: Bytes,
    pub min: ScoreBound,
    pub max: ScoreBound,
}

impl ZRemRangeByScore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zremrangebyscore", 4, Group::SortedSet, ZRemRangeByScore::parse)
            .flags(Flags::WRITE)
            .keys(KeySpec::ONE)
            .docs(
                "1.2.0",
                "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
                &["key", "min", "max"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (min, max) = parse_score_range(args.at(2), args.at(3))?;
        Ok(ZRemRangeByScore {
            key: args.key(1),
            min,
            max,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        remove_ranks(ks, &self.key, cx.now_ms, |zset| {
            zset.score_ranks(self.min, self.max)
        })
    }
}

/// `ZREMRANGEBYLEX key min max`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRemRangeByLex {
    pub key: Bytes,
    pub min: LexBound,
    pub max: LexBound,
}

impl ZRemRangeByLex {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zremrangebylex", 4, Group::SortedSet, ZRemRangeByLex::parse)
            .flags(Flags::WRITE)
            .keys(KeySpec::ONE)
            .docs(
                "2.8.9",
                "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
                &["key", "min", "max"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (min, max) = parse_lex_range(args.at(2), args.at(3))?;
        Ok(ZRemRangeByLex {
            key: args.key(1),
            min,
            max,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        remove_ranks(ks, &self.key, cx.now_ms, |zset| {
            lex_ranks(zset, &self.min, &self.max)
        })
    }
}

// ---- ZPOPMIN / ZPOPMAX / ZMPOP ----

fn parse_pop(args: Args<'_>) -> Result<(Bytes, Option<u64>), CommandError> {
    if args.len() > 3 {
        return Err(CommandError::Syntax);
    }
    let count = if args.len() == 3 {
        let count = parse_i64_strict(args.at(2)).ok_or(CommandError::NotPositive)?;
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
        pop_reply(ks, &self.key, self.count, End::Min, cx.now_ms)
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
        pop_reply(ks, &self.key, self.count, End::Max, cx.now_ms)
    }
}

/// ZPOPMIN/ZPOPMAX. Without a count the reply is `[member, score]`; with one
/// it is pairs (RESP3 nests them, RESP2 flattens), as Redis 7 does.
fn pop_reply(
    ks: &mut Keyspace,
    key: &Bytes,
    count: Option<u64>,
    end: End,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let popped = pop_members(ks, key, end, count.unwrap_or(1), now_ms)?.unwrap_or_default();
    if popped.is_empty() {
        return Ok(Reply::Array(Vec::new()));
    }
    let popped = popped
        .into_iter()
        .map(|(member, score)| (Reply::Bulk(member), Reply::Double(score)));
    Ok(match count {
        Some(_) => Reply::Pairs(popped.collect()),
        None => Reply::Array(popped.flat_map(|(m, s)| [m, s]).collect()),
    })
}

/// Pops up to `count` members from `end` of the sorted set at `key`, deleting the key when it
/// empties; None when the key is absent, WRONGTYPE for another type. A count of 0 checks the
/// type and pops nothing. The building block of every pop, blocking ones included.
pub(super) fn pop_members(
    ks: &mut Keyspace,
    key: &Bytes,
    end: End,
    count: u64,
    now_ms: u64,
) -> Result<Option<Vec<(Bytes, f64)>>, CommandError> {
    update_zset(ks, key, now_ms, Some(None), |zset| {
        let mut popped = Vec::new();
        while (popped.len() as u64) < count {
            let Some(member) = zset.pop(end) else {
                break;
            };
            popped.push(member);
        }
        let change = Change::when(!popped.is_empty());
        Ok((Some(popped), change))
    })
}

/// A key and the members popped from it, in pop order.
pub(super) type Popped = (Bytes, Vec<(Bytes, f64)>);

/// Pops up to `count` (>= 1) members from the first of `keys` that exists, which must hold a
/// sorted set (WRONGTYPE otherwise; keys after it are not looked at); None when none exists.
/// ZMPOP, and the non-blocking path of BZMPOP / BZPOPMIN / BZPOPMAX.
pub(super) fn pop_first_present(
    ks: &mut Keyspace,
    keys: &[Bytes],
    end: End,
    count: u64,
    now_ms: u64,
) -> Result<Option<Popped>, CommandError> {
    for key in keys {
        if let Some(popped) = pop_members(ks, key, end, count, now_ms)? {
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

/// ZMPOP/BZMPOP's reply: `[key, [[member, score], ...]]`, nested in RESP2 too; a nil array
/// when nothing was popped.
pub(super) fn mpop_reply(popped: Option<Popped>) -> Reply {
    let Some((key, members)) = popped else {
        return Reply::NilArray;
    };
    let members = members
        .into_iter()
        .map(|(member, score)| Reply::Array(vec![Reply::Bulk(member), Reply::Double(score)]))
        .collect();
    Reply::Array(vec![Reply::Bulk(key), Reply::Array(members)])
}

/// `numkeys key [key ...] MIN|MAX [COUNT count]` (ZMPOP from `numkeys_at` = 1, BZMPOP from 2):
/// the keys, the end and the count, with Redis's errors.
pub(super) fn parse_mpop(
    args: Args<'_>,
    numkeys_at: usize,
) -> Result<(Vec<Bytes>, ScoreEnd, u64), CommandError> {
    let numkeys = parse_i64_strict(args.at(numkeys_at))
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or(CommandError::NumkeysNotPositive)?;
    let from_at = numkeys
        .checked_add(numkeys_at + 1)
        .filter(|at| *at < args.len())
        .ok_or(CommandError::Syntax)?;
    let from = if is_option(args.at(from_at), "min") {
        ScoreEnd::Min
    } else if is_option(args.at(from_at), "max") {
        ScoreEnd::Max
    } else {
        return Err(CommandError::Syntax);
    };
    let mut count = None;
    let mut index = from_at + 1;
    while index < args.len() {
        if count.is_none() && is_option(args.at(index), "count") && index + 1 < args.len() {
            let value = parse_i64_strict(args.at(index + 1))
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or(CommandError::CountNotPositive)?;
            count = Some(value);
            index += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    let keys = args.args[numkeys_at + 1..from_at].to_vec();
    Ok((keys, from, count.unwrap_or(1)))
}

/// ZMPOP's keys: `numkeys` at position 1.
fn zmpop_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

/// `ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZMPop {
    pub keys: Vec<Bytes>,
    pub from: ScoreEnd,
    pub count: u64,
}

impl ZMPop {
    pub const SPEC: CommandSpec = CommandSpec::data("zmpop", -4, Group::SortedSet, ZMPop::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::movable(0, 0, 0, zmpop_keys))
        .docs(
            "7.0.0",
            "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
            &["numkeys", "key...", "MIN|MAX", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, from, count) = parse_mpop(args, 1)?;
        Ok(ZMPop { keys, from, count }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let popped = pop_first_present(ks, &self.keys, self.from.end(), self.count, cx.now_ms)?;
        Ok(mpop_reply(popped))
    }
}

// ---- ZUNION / ZINTER / ZDIFF / ZINTERCARD and the STORE forms ----

/// Whether a plain set holds a member.
pub(super) type SetContains<'a> = Box<dyn Fn(&[u8]) -> bool + 'a>;
/// A fresh walk over a plain set's members.
pub(super) type SetMembers<'a> = Box<dyn Fn() -> Box<dyn Iterator<Item = &'a Bytes> + 'a> + 'a>;

/// One input of a set operation, as the operation sees it: its size, a member's score, and
/// its members with scores.
pub(super) enum Input<'a> {
    /// A missing key: an empty input.
    Absent,
    ZSet(&'a ZSet),
    /// A plain set, every member scoring 1 (Redis accepts sets wherever these commands take
    /// sorted sets).
    Set {
        len: usize,
        contains: SetContains<'a>,
        members: SetMembers<'a>,
    },
}

impl<'a> Input<'a> {
    fn len(&self) -> usize {
        match self {
            Input::Absent => 0,
            Input::ZSet(zset) => zset.len(),
            Input::Set { len, .. } => *len,
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Absent => None,
            Input::ZSet(zset) => zset.score(member),
            Input::Set { contains, .. } => contains(member).then_some(1.0),
        }
    }

    fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Members with their scores; a sorted set's in score order.
    fn members(&self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match self {
            Input::Absent => Box::new(std::iter::empty()),
            Input::ZSet(zset) => Box::new(zset.iter().map(|(member, score)| (&member[..], score))),
            Input::Set { members, .. } => Box::new(members().map(|member| (&member[..], 1.0))),
        }
    }
}

/// The input at `key`: absent, a sorted set or a set; WRONGTYPE for anything else.
fn input_at<'a>(ks: &'a Keyspace, key: &Bytes, now_ms: u64) -> Result<Input<'a>, CommandError> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Ok(Input::Absent),
        Some(Entry {
            value: Value::ZSet(zset),
            ..
        }) => Ok(Input::ZSet(zset)),
        Some(Entry {
            value: Value::Set(set),
            ..
        }) => Ok(Input::Set {
            len: set.len(),
            contains: Box::new(|member| set.contains(&Bytes::copy_from_slice(member))),
            members: Box::new(|| Box::new(set.iter())),
        }),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// Which set operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// What the command does with the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOpForm {
    /// ZUNION/ZINTER/ZDIFF: reply with the members (WITHSCORES allowed).
    Reply,
    /// The STORE forms.
    Store,
    /// ZINTERCARD: count (LIMIT allowed, no WEIGHTS/AGGREGATE).
    Cardinality,
}

/// The inputs and options of a set operation (Redis's `zunionInterDiffGenericCommand`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZSetOpArgs {
    pub keys: Vec<Bytes>,
    /// One per key; 1 unless WEIGHTS (may be ±inf, never NaN).
    pub weights: Vec<f64>,
    pub aggregate: Aggregate,
    pub with_scores: bool,
    /// ZINTERCARD's LIMIT; 0 means none.
    pub limit: u64,
    /// Reported after the inputs' type check, as Redis orders its errors.
    pub option_error: Option<OptionError>,
}

/// Parses `numkeys key [key ...] [options]` with `numkeys` at `numkeys_at`.
fn parse_set_op(
    args: Args<'_>,
    numkeys_at: usize,
    op: SetOp,
    form: SetOpForm,
) -> Result<ZSetOpArgs, CommandError> {
    let numkeys = parse_i64(args.at(numkeys_at))?;
    if numkeys < 1 {
        return Err(CommandError::NoInputKeys { command: args.name });
    }
    let first = numkeys_at + 1;
    let numkeys = usize::try_from(numkeys)
        .ok()
        .filter(|n| *n <= args.len() - first)
        .ok_or(CommandError::Syntax)?;
    let mut parsed = ZSetOpArgs {
        keys: args.args[first..first + numkeys].to_vec(),
        weights: vec![1.0; numkeys],
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
        option_error: None,
    };
    if let Err(error) = parse_set_op_options(args, first + numkeys, op, form, &mut parsed) {
        parsed.option_error = Some(error);
    }
    Ok(parsed)
}

fn parse_set_op_options(
    args: Args<'_>,
    mut index: usize,
    op: SetOp,
    form: SetOpForm,
    parsed: &mut ZSetOpArgs,
) -> Result<(), OptionError> {
    let scored = op != SetOp::Diff && form != SetOpForm::Cardinality;
    while index < args.len() {
        let option = args.at(index);
        let left = args.len() - index - 1;
        if scored && left >= parsed.keys.len() && is_option(option, "weights") {
            for (offset, weight) in parsed.weights.iter_mut().enumerate() {
                *weight = parse_f64_strict(args.at(index + 1 + offset))
                    .ok_or(OptionError::WeightNotFloat)?;
            }
            index += parsed.keys.len();
        } else if scored && left >= 1 && is_option(option, "aggregate") {
            let value = args.at(index + 1);
            parsed.aggregate = if is_option(value, "sum") {
                Aggregate::Sum
            } else if is_option(value, "min") {
                Aggregate::Min
            } else if is_option(value, "max") {
                Aggregate::Max
            } else {
                return Err(OptionError::Syntax);
            };
            index += 1;
        } else if form == SetOpForm::Reply && is_option(option, "withscores") {
            parsed.with_scores = true;
        } else if form == SetOpForm::Cardinality && left >= 1 && is_option(option, "limit") {
            parsed.limit = parse_i64_strict(args.at(index + 1))
                .and_then(|limit| u64::try_from(limit).ok())
                .ok_or(OptionError::LimitNegative)?;
            index += 1;
        } else {
            return Err(OptionError::Syntax);
        }
        index += 1;
    }
    Ok(())
}

/// Redis's `zunionInterAggregate`: a SUM of +inf and -inf is 0, not NaN; MIN and MAX keep the
/// current value against NaN.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// A weighted score, with NaN (0 × ±inf) taken as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// The inputs of a set operation, read and type-checked (WRONGTYPE before any option error).
fn read_inputs<'a>(
    ks: &'a Keyspace,
    args: &ZSetOpArgs,
    now_ms: u64,
) -> Result<Vec<Input<'a>>, CommandError> {
    let inputs = args
        .keys
        .iter()
        .map(|key| input_at(ks, key, now_ms))
        .collect::<Result<Vec<_>, _>>()?;
    match args.option_error {
        Some(error) => Err(error.into()),
        None => Ok(inputs),
    }
}

/// The inputs by ascending size (stable), the order Redis combines them in for ZUNION and
/// ZINTER: it decides which weighted scores meet first, which matters for SUM's ±inf and
/// rounding.
fn by_size(inputs: &[Input<'_>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&index| inputs[index].len());
    order
}

/// The result of a set operation in (score, member) order. For ZINTERCARD (`count_only`),
/// only its length matters, and it stops at `args.limit`.
fn combine(
    inputs: &[Input<'_>],
    args: &ZSetOpArgs,
    op: SetOp,
    count_only: bool,
) -> Vec<(Bytes, f64)> {
    let mut result: Vec<(Bytes, f64)> = match op {
        SetOp::Union => {
            let mut scores: BTreeMap<&[u8], f64> = BTreeMap::new();
            for index in by_size(inputs) {
                for (member, score) in inputs[index].members() {
                    let value = weighted(score, args.weights[index]);
                    scores
                        .entry(member)
                        .and_modify(|total| aggregate(total, value, args.aggregate))
                        .or_insert(value);
                }
            }
            scores
                .into_iter()
                .map(|(member, score)| (Bytes::copy_from_slice(member), score))
                .collect()
        }
        SetOp::Inter => {
            let order = by_size(inputs);
            let (first, others) = order.split_first().expect("at least one input");
            let mut result = Vec::new();
            'members: for (member, score) in inputs[*first].members() {
                let mut total = weighted(score, args.weights[*first]);
                for &other in others {
                    let Some(score) = inputs[other].score(member) else {
                        continue 'members;
                    };
                    // Unlike the first input's, these products may be NaN: `aggregate` decides.
                    aggregate(&mut total, score * args.weights[other], args.aggregate);
                }
                result.push((Bytes::copy_from_slice(member), total));
                if count_only && args.limit != 0 && result.len() as u64 >= args.limit {
                    break;
                }
            }
            result
        }
        SetOp::Diff => {
            let (first, others) = inputs.split_first().expect("at least one input");
            first
                .members()
                .filter(|(member, _)| !others.iter().any(|other| other.contains(member)))
                .map(|(member, score)| (Bytes::copy_from_slice(member), score))
                .collect()
        }
    };
    if !count_only {
        // Redis's score order: -0 and 0 tie (the member decides); no result score is NaN.
        result.sort_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
    }
    result
}

/// Stores `members` (in (score, member) order) at `destination` as a new sorted set, replacing
/// whatever was there and its TTL; an empty result deletes the destination. Replies the count.
fn store_result(ks: &mut Keyspace, destination: &Bytes, members: Vec<(Bytes, f64)>) -> Reply {
    let slot = Slot::new(destination.clone());
    let count = members.len();
    if count == 0 {
        ks.remove(&slot);
    } else {
        let zset = ZSet::from_sorted(members).expect("a set operation yields each member once");
        ks.insert(slot, Value::ZSet(zset), 0);
    }
    Reply::Integer(count as i64)
}

fn set_op_reply(
    ks: &Keyspace,
    args: &ZSetOpArgs,
    op: SetOp,
    cx: &Cx,
) -> Result<Reply, CommandError> {
    let inputs = read_inputs(ks, args, cx.now_ms)?;
    let result = combine(&inputs, args, op, false);
    Ok(members_reply(result.into_iter(), args.with_scores))
}

fn set_op_store(
    ks: &mut Keyspace,
    destination: &Bytes,
    args: &ZSetOpArgs,
    op: SetOp,
    cx: &Cx,
) -> Result<Reply, CommandError> {
    let result = {
        let inputs = read_inputs(ks, args, cx.now_ms)?;
        combine(&inputs, args, op, false)
    };
    Ok(store_result(ks, destination, result))
}

/// Keys of the STORE forms: the destination, then `numkeys` keys after position 2.
fn store_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    let mut keys = numkeys_positions(args, 2)?;
    keys.insert(0, 1);
    Some(keys)
}

/// Keys of ZUNION/ZINTER/ZDIFF/ZINTERCARD: `numkeys` keys after position 1.
fn reply_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

/// Declares a STORE form of a set operation.
macro_rules! set_op_store {
    ($(#[$doc:meta])* $name:ident, $command:literal, $since:literal, $summary:literal,
     $hints:expr, $op:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            pub destination: Bytes,
            pub inputs: ZSetOpArgs,
        }

        impl $name {
            pub const SPEC: CommandSpec =
                CommandSpec::data($command, -4, Group::SortedSet, $name::parse)
                    .flags(WRITE_DENYOOM)
                    .keys(KeySpec::movable(1, 1, 1, store_keys))
                    .docs($since, $summary, $hints);

            fn parse(args: Args<'_>) -> Result<Command, CommandError> {
                Ok($name {
                    destination: args.key(1),
                    inputs: parse_set_op(args, 2, $op, SetOpForm::Store)?,
                }
                .into())
            }

            pub(super) fn apply(
                &self,
                ks: &mut Keyspace,
                cx: &mut Cx,
            ) -> Result<Reply, CommandError> {
                set_op_store(ks, &self.destination, &self.inputs, $op, cx)
            }
        }
    };
}

/// Declares a replying form of a set operation.
macro_rules! set_op_read {
    ($(#[$doc:meta])* $name:ident, $command:literal, $since:literal, $summary:literal,
     $hints:expr, $op:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name(pub ZSetOpArgs);

        impl $name {
            pub const SPEC: CommandSpec =
                CommandSpec::data($command, -3, Group::SortedSet, $name::parse)
                    .flags(READ_MANY)
                    .keys(KeySpec::movable(0, 0, 0, reply_keys))
                    .docs($since, $summary, $hints);

            fn parse(args: Args<'_>) -> Result<Command, CommandError> {
                Ok($name(parse_set_op(args, 1, $op, SetOpForm::Reply)?).into())
            }

            pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
                set_op_reply(ks, &self.0, $op, cx)
            }
        }
    };
}

set_op_store!(
    /// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]`
    ZUnionStore,
    "zunionstore",
    "2.0.0",
    "Stores the union of multiple sorted sets in a key.",
    &["destination", "numkeys", "key...", "[WEIGHTS weight...]", "[AGGREGATE SUM|MIN|MAX]"],
    SetOp::Union
);

set_op_store!(
    /// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]`
    ZInterStore,
    "zinterstore",
    "2.0.0",
    "Stores the intersect of multiple sorted sets in a key.",
    &["destination", "numkeys", "key...", "[WEIGHTS weight...]", "[AGGREGATE SUM|MIN|MAX]"],
    SetOp::Inter
);

set_op_store!(
    /// `ZDIFFSTORE destination numkeys key [key ...]`
    ZDiffStore,
    "zdiffstore",
    "6.2.0",
    "Stores the difference of multiple sorted sets in a key.",
    &["destination", "numkeys", "key..."],
    SetOp::Diff
);

set_op_read!(
    /// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
    ZUnion,
    "zunion",
    "6.2.0",
    "Returns the union of multiple sorted sets.",
    &["numkeys", "key...", "[WEIGHTS weight...]", "[AGGREGATE SUM|MIN|MAX]", "[WITHSCORES]"],
    SetOp::Union
);

set_op_read!(
    /// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`
    ZInter,
    "zinter",
    "6.2.0",
    "Returns the intersect of multiple sorted sets.",
    &["numkeys", "key...", "[WEIGHTS weight...]", "[AGGREGATE SUM|MIN|MAX]", "[WITHSCORES]"],
    SetOp::Inter
);

set_op_read!(
    /// `ZDIFF numkeys key [key ...] [WITHSCORES]`
    ZDiff,
    "zdiff",
    "6.2.0",
    "Returns the difference between multiple sorted sets.",
    &["numkeys", "key...", "[WITHSCORES]"],
    SetOp::Diff
);

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZInterCard(pub ZSetOpArgs);

impl ZInterCard {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zintercard", -3, Group::SortedSet, ZInterCard::parse)
            .flags(READ_MANY)
            .keys(KeySpec::movable(0, 0, 0, reply_keys))
            .docs(
                "7.0.0",
                "Returns the number of members of the intersect of multiple sorted sets.",
                &["numkeys", "key...", "[LIMIT limit]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ZInterCard(parse_set_op(args, 1, SetOp::Inter, SetOpForm::Cardinality)?).into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let inputs = read_inputs(ks, &self.0, cx.now_ms)?;
        let count = combine(&inputs, &self.0, SetOp::Inter, true).len();
        Ok(Reply::Integer(count as i64))
    }
}

// ---- ZRANDMEMBER ----

/// `ZRANDMEMBER key [count [WITHSCORES]]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZRandMember {
    pub key: Bytes,
    /// None: one member as a bulk string. Negative: that many draws, members may repeat.
    pub count: Option<i64>,
    pub with_scores: bool,
}

impl ZRandMember {
    pub const SPEC: CommandSpec =
        CommandSpec::data("zrandmember", -2, Group::SortedSet, ZRandMember::parse)
            .flags(READ_MANY)
            .keys(KeySpec::ONE)
            .docs(
                "6.2.0",
                "Returns one or more random members from a sorted set.",
                &["key", "[count [WITHSCORES]]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut count = None;
        let mut with_scores = false;
        if args.len() >= 3 {
            let value = parse_i64(args.at(2))?;
            if value == i64::MIN {
                return Err(CommandError::OutOfRangeBetween {
                    min: -i64::MAX,
                    max: i64::MAX,
                });
            }
            if args.len() > 4 || (args.len() == 4 && !is_option(args.at(3), "withscores")) {
                return Err(CommandError::Syntax);
            }
            if args.len() == 4 {
                with_scores = true;
                // The reply holds twice as many elements.
                if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&value) {
                    return Err(CommandError::ValueOutOfRange);
                }
            }
            count = Some(value);
        }
        Ok(ZRandMember {
            key: args.key(1),
            count,
            with_scores,
        }
        .into())
    }

    /// Positive counts draw distinct members (Floyd's sampling over ranks, then shuffled),
    /// negative counts draw independently; each draw is an O(log n) select by rank.
    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        let Some(count) = self.count else {
            return Ok(match zset {
                None => Reply::Nil,
                Some(zset) => {
                    let rank = cx.random_below(zset.len() as u64) as usize;
                    let (member, _) = zset.select(rank).expect("rank within the set");
                    Reply::Bulk(member.to_bytes())
                }
            });
        };
        let Some(zset) = zset else {
            return Ok(Reply::Array(Vec::new()));
        };
        let len = zset.len() as u64;
        let ranks: Vec<usize> = if count < 0 {
            let draws = count.unsigned_abs();
            if draws > ZRANDMEMBER_REPEATS_MAX {
                return Err(CommandError::RepeatsTooMany {
                    max: ZRANDMEMBER_REPEATS_MAX,
                });
            }
            (0..draws).map(|_| cx.random_below(len) as usize).collect()
        } else if count as u64 >= len {
            (0..zset.len()).collect()
        } else {
            distinct_ranks(cx, len, count as u64)
        };
        let members = ranks
            .into_iter()
            .map(|rank| zset.select(rank).expect("rank within the set"));
        Ok(members_reply(stored(members), self.with_scores))
    }
}

/// `count` distinct ranks below `len` (`count < len`), in random order: Floyd's algorithm,
/// O(count log count), then a Fisher-Yates shuffle.
fn distinct_ranks(cx: &mut Cx, len: u64, count: u64) -> Vec<usize> {
    let mut chosen = std::collections::BTreeSet::new();
    for top in len - count..len {
        let pick = cx.random_below(top + 1);
        if !chosen.insert(pick) {
            chosen.insert(top);
        }
    }
    let mut ranks: Vec<usize> = chosen.into_iter().map(|rank| rank as usize).collect();
    for index in (1..ranks.len()).rev() {
        let other = cx.random_below(index as u64 + 1) as usize;
        ranks.swap(index, other);
    }
    ranks
}

// ---- ZSCAN ----

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
///
/// The cursor is a position in the member map's `(xxh3(member), member)` order: the hash to
/// resume from, 0 to start and when done. Every member present for the whole scan is returned
/// at least once, because that order does not depend on what else the set holds and a batch
/// never ends inside a group of members sharing one hash. A batch visits `count` members (then
/// finishes the hash group), so the work per call is bounded even when MATCH filters out
/// everything. A mid-scan cursor is never 0: it is a hash greater than one already visited.
/// Scores are bulk strings in both protocols, as in Redis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZScan {
    pub key: Bytes,
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: u64,
    /// Reported after the key's type check, as Redis orders its errors.
    pub option_error: Option<OptionError>,
}

impl ZScan {
    pub const SPEC: CommandSpec = CommandSpec::data("zscan", -3, Group::SortedSet, ZScan::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.8.0",
            "Iterates over members and scores of a sorted set.",
            &["key", "cursor", "[MATCH pattern]", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut scan = ZScan {
            key: args.key(1),
            cursor: parse_cursor(args.at(2))?,
            pattern: None,
            count: ZSCAN_COUNT_DEFAULT,
            option_error: None,
        };
        if let Err(error) = scan.parse_options(args) {
            scan.option_error = Some(error);
        }
        Ok(scan.into())
    }

    fn parse_options(&mut self, args: Args<'_>) -> Result<(), OptionError> {
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            if index + 1 >= args.len() {
                return Err(OptionError::Syntax);
            }
            if is_option(option, "count") {
                let count = parse_i64_strict(args.at(index + 1)).ok_or(OptionError::NotInteger)?;
                self.count = u64::try_from(count)
                    .ok()
                    .filter(|count| *count >= 1)
                    .ok_or(OptionError::Syntax)?;
            } else if is_option(option, "match") {
                let pattern = args.key(index + 1);
                // "*" matches everything; skipping it saves the per-member match.
                self.pattern = (pattern[..] != b"*"[..]).then_some(pattern);
            } else {
                return Err(OptionError::Syntax);
            }
            index += 2;
        }
        Ok(())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let zset = zset_for_read(ks, &self.key, cx)?;
        if let Some(error) = self.option_error {
            if zset.is_some() {
                return Err(error.into());
            }
        }
        let mut items = Vec::new();
        let mut next_cursor = 0;
        if let Some(zset) = zset {
            let mut last_hash = None;
            for (visited, (hash, member, score)) in (0u64..).zip(zset.scan_from(self.cursor)) {
                if visited >= self.count && last_hash != Some(hash) {
                    next_cursor = hash;
                    break;
                }
                last_hash = Some(hash);
                if let Some(pattern) = &self.pattern {
                    if !glob_match(pattern, member) {
                        continue;
                    }
                }
                items.push(Reply::Bulk(member.to_bytes()));
                items.push(Reply::Bulk(Bytes::from(format_double(score))));
            }
        }
        Ok(Reply::Array(vec![
            Reply::Bulk(Bytes::from(next_cursor.to_string())),
            Reply::Array(items),
        ]))
    }
}

// ---- shared ----

/// Whether a write changed the sorted set (and so the key's version).
pub(super) enum Change {
    None,
    Modified,
}

impl Change {
    fn when(modified: bool) -> Change {
        if modified {
            Change::Modified
        } else {
            Change::None
        }
    }
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
    Ok((reply, Change::when(added + updated > 0)))
}

#[cfg(test)]
mod tests;
