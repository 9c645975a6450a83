//! Sorted-set commands: ZADD ZREM ZSCORE ZINCRBY ZCARD ZRANK ZRANGE
//! ZRANGEBYSCORE ZPOPMIN ZPOPMAX. Invariant: no score is ever NaN (an
//! increment that would produce one is refused before any change), and a
//! sorted set left empty by a write is deleted.
//!
//! Wire forms: `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`,
//! `ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]`,
//! `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`, `ZPOPMIN key [count]`.

use bytes::Bytes;

use super::{
    is_option, parse_f64, parse_i64, zset_at, Args, Command, CommandError, Limit, Order, Reply,
    ScoreBound, ZAddComparison, ZAddCondition, ZRangeBy, ZRangeSpec,
};
use crate::keyspace::{End, Entry, Keyspace, Slot, Value, ZSet};

// ---- parse ----

pub(super) fn parse_zadd(args: Args<'_>) -> Result<Command, CommandError> {
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
    Ok(Command::ZAdd {
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
    })
}

pub(super) fn parse_zrem(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZRem {
        key: args.key(1),
        members: args.from(2).to_vec(),
    })
}

pub(super) fn parse_zscore(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZScore {
        key: args.key(1),
        member: args.key(2),
    })
}

pub(super) fn parse_zincrby(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZIncrBy {
        key: args.key(1),
        increment: parse_f64(args.at(2))?,
        member: args.key(3),
    })
}

pub(super) fn parse_zcard(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZCard { key: args.key(1) })
}

pub(super) fn parse_zrank(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZRank {
        key: args.key(1),
        member: args.key(2),
    })
}

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

pub(super) fn parse_zrange(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZRange(parse_range(args, RangeKind::Auto)?))
}

pub(super) fn parse_zrangebyscore(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::ZRangeByScore(parse_range(args, RangeKind::Score)?))
}

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

pub(super) fn parse_zpopmin(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, count) = parse_pop(args)?;
    Ok(Command::ZPopMin { key, count })
}

pub(super) fn parse_zpopmax(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, count) = parse_pop(args)?;
    Ok(Command::ZPopMax { key, count })
}

// ---- apply / read ----

pub(super) fn read(ks: &Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    let slot = Slot::new(cmd.keys().swap_remove(0));
    let zset = zset_at(ks, &slot, now_ms)?;
    let reply = match cmd {
        Command::ZScore { member, .. } => zset
            .and_then(|z| z.score(member))
            .map_or(Reply::Nil, Reply::Double),
        Command::ZCard { .. } => Reply::Integer(zset.map_or(0, |z| z.len() as i64)),
        Command::ZRank { member, .. } => zset
            .and_then(|z| z.rank(member))
            .map_or(Reply::Nil, |rank| Reply::Integer(rank as i64)),
        Command::ZRange(spec) | Command::ZRangeByScore(spec) => match zset {
            None => Reply::Array(Vec::new()),
            Some(zset) => range(zset, spec),
        },
        other => unreachable!("{} is not a sorted-set read", other.name()),
    };
    Ok(reply)
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

/// Whether a write changed the sorted set (and so the key's version).
enum Change {
    None,
    Modified,
}

/// Runs `update` on the live sorted set at `key`; if absent, on a new empty
/// one when `create` allows it, else answers `absent`. Then stores,
/// re-versions or deletes the key as needed.
fn update_zset<R>(
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

pub(super) fn apply(ks: &mut Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    match cmd {
        Command::ZAdd {
            key,
            condition,
            comparison,
            count_changed,
            incr,
            pairs,
        } => {
            // XX on a missing key creates nothing.
            let absent = (*condition == ZAddCondition::IfPresent).then(|| {
                if *incr {
                    Reply::Nil
                } else {
                    Reply::Integer(0)
                }
            });
            update_zset(ks, key, now_ms, absent, |zset| {
                zadd(zset, *condition, *comparison, *count_changed, *incr, pairs)
            })
        }
        Command::ZIncrBy {
            key,
            increment,
            member,
        } => update_zset(ks, key, now_ms, None, |zset| {
            zadd(
                zset,
                ZAddCondition::Always,
                ZAddComparison::Any,
                false,
                true,
                &[(*increment, member.clone())],
            )
        }),
        Command::ZRem { key, members } => {
            update_zset(ks, key, now_ms, Some(Reply::Integer(0)), |zset| {
                let removed = members.iter().filter(|member| zset.remove(member)).count();
                let change = if removed > 0 {
                    Change::Modified
                } else {
                    Change::None
                };
                Ok((Reply::Integer(removed as i64), change))
            })
        }
        Command::ZPopMin { key, count } => pop(ks, key, *count, End::Min, now_ms),
        Command::ZPopMax { key, count } => pop(ks, key, *count, End::Max, now_ms),
        other => unreachable!("{} is not a sorted-set write", other.name()),
    }
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
