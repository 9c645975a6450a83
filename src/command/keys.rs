//! Keyspace commands: DEL EXISTS TYPE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL
//! PERSIST RENAME KEYS SCAN DBSIZE FLUSHDB FLUSHALL. Invariant: expiry times
//! are computed from the log time `now_ms`; an expiry at or before it deletes.
//!
//! Wire forms: `EXPIRE key seconds [NX|XX|GT|LT]`, `RENAME source target`,
//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, `FLUSHDB [ASYNC|SYNC]`.

use bytes::Bytes;

use super::strings::now_as_i64;
use super::{is_option, parse_i64, Args, Command, CommandError, ExpireCondition, Reply};
use crate::keyspace::{glob_match, Keyspace, Slot};

/// SCAN's default COUNT, as in Redis.
const SCAN_COUNT_DEFAULT: u64 = 10;

// ---- parse ----

pub(super) fn parse_del(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Del {
        keys: args.from(1).to_vec(),
    })
}

pub(super) fn parse_exists(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Exists {
        keys: args.from(1).to_vec(),
    })
}

pub(super) fn parse_type(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Type { key: args.key(1) })
}

/// Options first, then the amount: Redis reports an option error before a
/// non-integer amount.
fn parse_expire_parts(args: Args<'_>) -> Result<(Bytes, i64, ExpireCondition), CommandError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in args.from(3) {
        if is_option(option, "nx") {
            nx = true;
        } else if is_option(option, "xx") {
            xx = true;
        } else if is_option(option, "gt") {
            gt = true;
        } else if is_option(option, "lt") {
            lt = true;
        } else {
            return Err(CommandError::UnsupportedOption {
                option: String::from_utf8_lossy(option).into_owned(),
            });
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::ExpireNxIncompatible);
    }
    if gt && lt {
        return Err(CommandError::ExpireGtLtIncompatible);
    }
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNone,
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, true, _, true) => ExpireCondition::IfSomeAndLess,
        (_, false, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfSome,
        _ => ExpireCondition::Always,
    };
    Ok((args.key(1), parse_i64(args.at(2))?, condition))
}

pub(super) fn parse_expire(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, seconds, condition) = parse_expire_parts(args)?;
    Ok(Command::Expire {
        key,
        seconds,
        condition,
    })
}

pub(super) fn parse_pexpire(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, milliseconds, condition) = parse_expire_parts(args)?;
    Ok(Command::PExpire {
        key,
        milliseconds,
        condition,
    })
}

pub(super) fn parse_expireat(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, unix_seconds, condition) = parse_expire_parts(args)?;
    Ok(Command::ExpireAt {
        key,
        unix_seconds,
        condition,
    })
}

pub(super) fn parse_pexpireat(args: Args<'_>) -> Result<Command, CommandError> {
    let (key, unix_ms, condition) = parse_expire_parts(args)?;
    Ok(Command::PExpireAt {
        key,
        unix_ms,
        condition,
    })
}

pub(super) fn parse_ttl(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Ttl { key: args.key(1) })
}

pub(super) fn parse_pttl(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::PTtl { key: args.key(1) })
}

pub(super) fn parse_persist(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Persist { key: args.key(1) })
}

pub(super) fn parse_rename(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Rename {
        source: args.key(1),
        target: args.key(2),
    })
}

pub(super) fn parse_keys(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Keys {
        pattern: args.key(1),
    })
}

/// Redis parses the cursor with `strtoul`: optional sign (a '-' wraps), empty
/// means 0, nothing else may follow the digits.
fn parse_cursor(raw: &[u8]) -> Result<u64, CommandError> {
    if raw.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match raw[0] {
        b'-' => (true, &raw[1..]),
        b'+' => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(CommandError::InvalidCursor);
    }
    let mut value: u64 = 0;
    for &digit in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or(CommandError::InvalidCursor)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

pub(super) fn parse_scan(args: Args<'_>) -> Result<Command, CommandError> {
    let cursor = parse_cursor(args.at(1))?;
    let mut pattern = None;
    let mut count = SCAN_COUNT_DEFAULT;
    let mut type_name = None;
    let mut index = 2;
    while index < args.len() {
        let option = args.at(index);
        let has_value = index + 1 < args.len();
        if is_option(option, "count") && has_value {
            let value = parse_i64(args.at(index + 1))?;
            if value < 1 {
                return Err(CommandError::Syntax);
            }
            count = value as u64;
        } else if is_option(option, "match") && has_value {
            let raw = args.key(index + 1);
            // "*" matches everything; skipping it saves the per-key match.
            pattern = (raw[..] != b"*"[..]).then_some(raw);
        } else if is_option(option, "type") && has_value {
            type_name = Some(args.key(index + 1));
        } else {
            return Err(CommandError::Syntax);
        }
        index += 2;
    }
    Ok(Command::Scan {
        cursor,
        pattern,
        count,
        type_name,
    })
}

pub(super) fn parse_dbsize(_args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::DbSize)
}

/// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC, which Tandem ignores:
/// a flush is one persistent-map reset either way.
fn check_flush_mode(args: Args<'_>) -> Result<(), CommandError> {
    match args.len() {
        1 => Ok(()),
        2 if is_option(args.at(1), "async") || is_option(args.at(1), "sync") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

pub(super) fn parse_flushdb(args: Args<'_>) -> Result<Command, CommandError> {
    check_flush_mode(args)?;
    Ok(Command::FlushDb)
}

pub(super) fn parse_flushall(args: Args<'_>) -> Result<Command, CommandError> {
    check_flush_mode(args)?;
    Ok(Command::FlushAll)
}

// ---- apply / read ----

pub(super) fn read(ks: &Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    match cmd {
        Command::Exists { keys } => Ok(Reply::Integer(
            keys.iter()
                .filter(|key| ks.live(&Slot::new((*key).clone()), now_ms).is_some())
                .count() as i64,
        )),
        Command::Type { key } => Ok(Reply::Simple(
            ks.live(&Slot::new(key.clone()), now_ms)
                .map_or("none", |entry| entry.value.type_name())
                .to_string(),
        )),
        Command::Ttl { key } => Ok(Reply::Integer(ttl_ms(ks, key, now_ms).map_or_else(
            |code| code,
            // Redis rounds to the nearest second.
            |ms| (ms + 500) / 1000,
        ))),
        Command::PTtl { key } => Ok(Reply::Integer(
            ttl_ms(ks, key, now_ms).unwrap_or_else(|code| code),
        )),
        Command::Keys { pattern } => Ok(Reply::Array(
            ks.entries()
                .filter(|(slot, entry)| {
                    // Redis matches a lone "*" without the glob (so "" is included).
                    !entry.is_expired(now_ms)
                        && (pattern[..] == b"*"[..] || glob_match(pattern, &slot.key))
                })
                .map(|(slot, _)| Reply::bulk(&slot.key))
                .collect(),
        )),
        Command::Scan {
            cursor,
            pattern,
            count,
            type_name,
        } => Ok(scan(
            ks,
            *cursor,
            pattern.as_deref(),
            *count,
            type_name.as_deref(),
            now_ms,
        )),
        Command::DbSize => Ok(Reply::Integer(ks.live_len(now_ms) as i64)),
        other => unreachable!("{} is not a keyspace read", other.name()),
    }
}

/// Remaining lifetime in ms, or Err(-2) if absent / Err(-1) if persistent.
fn ttl_ms(ks: &Keyspace, key: &Bytes, now_ms: u64) -> Result<i64, i64> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Err(-2),
        Some(entry) if entry.expiry_ms == 0 => Err(-1),
        Some(entry) => Ok(i64::try_from(entry.expiry_ms - now_ms).unwrap_or(i64::MAX)),
    }
}

/// SCAN over the slot order. The cursor is the hash to resume from: every
/// key present for the whole scan is returned at least once, because keys
/// are visited in (hash, key) order and a batch never ends in the middle of
/// a group of keys that share one hash. A batch visits `count` entries (then
/// finishes the hash group), so the work per call is bounded even when the
/// pattern matches nothing. A mid-scan cursor is never 0: the next hash is
/// always greater than a hash already visited.
fn scan(
    ks: &Keyspace,
    cursor: u64,
    pattern: Option<&[u8]>,
    count: u64,
    type_name: Option<&[u8]>,
    now_ms: u64,
) -> Reply {
    let mut keys = Vec::new();
    let mut last_hash = None;
    let mut next_cursor = 0;
    let batch = (0u64..).zip(ks.entries_from(&Slot::first_with_hash(cursor)));
    for (visited, (slot, entry)) in batch {
        if visited >= count && last_hash != Some(slot.hash) {
            next_cursor = slot.hash;
            break;
        }
        last_hash = Some(slot.hash);
        if entry.is_expired(now_ms) {
            continue;
        }
        if pattern.is_some_and(|pattern| !glob_match(pattern, &slot.key)) {
            continue;
        }
        if type_name
            .is_some_and(|name| !name.eq_ignore_ascii_case(entry.value.type_name().as_bytes()))
        {
            continue;
        }
        keys.push(Reply::bulk(&slot.key));
    }
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next_cursor.to_string())),
        Reply::Array(keys),
    ])
}

pub(super) fn apply(ks: &mut Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    match cmd {
        Command::Del { keys } => {
            let mut removed = 0;
            for key in keys {
                let slot = Slot::new(key.clone());
                let live = ks.live(&slot, now_ms).is_some();
                // An expired key is physically dropped too, but not counted.
                if ks.remove(&slot).is_some() && live {
                    removed += 1;
                }
            }
            Ok(Reply::Integer(removed))
        }
        Command::Expire {
            key,
            seconds,
            condition,
        } => expire(
            ks,
            key,
            *seconds,
            Unit::Seconds,
            now_as_i64(now_ms),
            *condition,
            "expire",
            now_ms,
        ),
        Command::PExpire {
            key,
            milliseconds,
            condition,
        } => expire(
            ks,
            key,
            *milliseconds,
            Unit::Milliseconds,
            now_as_i64(now_ms),
            *condition,
            "pexpire",
            now_ms,
        ),
        Command::ExpireAt {
            key,
            unix_seconds,
            condition,
        } => expire(
            ks,
            key,
            *unix_seconds,
            Unit::Seconds,
            0,
            *condition,
            "expireat",
            now_ms,
        ),
        Command::PExpireAt {
            key,
            unix_ms,
            condition,
        } => expire(
            ks,
            key,
            *unix_ms,
            Unit::Milliseconds,
            0,
            *condition,
            "pexpireat",
            now_ms,
        ),
        Command::Persist { key } => {
            let slot = Slot::new(key.clone());
            match ks.live(&slot, now_ms) {
                Some(entry) if entry.expiry_ms != 0 => {
                    ks.set_expiry(&slot, 0);
                    Ok(Reply::Integer(1))
                }
                _ => Ok(Reply::Integer(0)),
            }
        }
        Command::Rename { source, target } => {
            let source_slot = Slot::new(source.clone());
            let Some(entry) = ks.live(&source_slot, now_ms) else {
                return Err(CommandError::NoSuchKey);
            };
            if source == target {
                return Ok(Reply::Ok);
            }
            let (value, expiry_ms) = (entry.value.clone(), entry.expiry_ms);
            ks.remove(&source_slot);
            ks.insert(Slot::new(target.clone()), value, expiry_ms);
            Ok(Reply::Ok)
        }
        Command::FlushDb | Command::FlushAll => {
            ks.clear();
            Ok(Reply::Ok)
        }
        other => unreachable!("{} is not a keyspace write", other.name()),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT, in Redis's order: overflow checks,
/// then key lookup, then the NX/XX/GT/LT condition, then set or delete.
#[allow(clippy::too_many_arguments)]
fn expire(
    ks: &mut Keyspace,
    key: &Bytes,
    amount: i64,
    unit: Unit,
    base_ms: i64,
    condition: ExpireCondition,
    command: &'static str,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let invalid = CommandError::InvalidExpireTime { command };
    let amount_ms = match unit {
        Unit::Seconds => amount.checked_mul(1000).ok_or(invalid.clone())?,
        Unit::Milliseconds => amount,
    };
    let at_ms = amount_ms.checked_add(base_ms).ok_or(invalid)?;
    let slot = Slot::new(key.clone());
    let Some(entry) = ks.live(&slot, now_ms) else {
        return Ok(Reply::Integer(0));
    };
    // Redis compares against the current expiry, "none" meaning infinite.
    let current = (entry.expiry_ms != 0).then_some(entry.expiry_ms as i64);
    let allowed = match condition {
        ExpireCondition::Always => true,
        ExpireCondition::IfNone => current.is_none(),
        ExpireCondition::IfSome => current.is_some(),
        ExpireCondition::IfGreater => current.is_some_and(|current| at_ms > current),
        ExpireCondition::IfLess => current.is_none_or(|current| at_ms < current),
        ExpireCondition::IfSomeAndLess => current.is_some_and(|current| at_ms < current),
    };
    if !allowed {
        return Ok(Reply::Integer(0));
    }
    if at_ms <= now_as_i64(now_ms) {
        ks.remove(&slot);
    } else {
        ks.set_expiry(&slot, at_ms as u64);
    }
    Ok(Reply::Integer(1))
}

#[cfg(test)]
mod tests;
