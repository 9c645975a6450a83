//! String commands: GET SET SETNX GETSET GETDEL MGET MSET MSETNX APPEND STRLEN
//! INCR DECR INCRBY DECRBY. Invariant: a string write replaces the whole
//! entry (fresh version; TTL cleared unless the command keeps it, as Redis).
//!
//! Wire forms: `GET key`, `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`,
//! `MSET key value [key value ...]`, `INCRBY key delta`, ...

use bytes::Bytes;

use super::{
    bulk_or_nil, is_option, pairs, parse_i64, parse_i64_strict, string_at, Args, Command,
    CommandError, Reply, SetCondition, SetExpiry, STRING_BYTES_MAX,
};
use crate::keyspace::{Keyspace, Slot, Value};

// ---- parse ----

pub(super) fn parse_get(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Get { key: args.key(1) })
}

pub(super) fn parse_set(args: Args<'_>) -> Result<Command, CommandError> {
    let mut condition = SetCondition::Always;
    let mut return_old = false;
    // (option index, raw amount) so the amount is validated after all
    // options, in Redis's order (syntax errors first).
    let mut expiry_raw: Option<(&str, &Bytes)> = None;
    let mut keep_ttl = false;
    let mut index = 3;
    while index < args.len() {
        let option = args.at(index);
        let next = (index + 1 < args.len()).then(|| args.at(index + 1));
        if is_option(option, "nx") && condition != SetCondition::IfPresent {
            condition = SetCondition::IfAbsent;
        } else if is_option(option, "xx") && condition != SetCondition::IfAbsent {
            condition = SetCondition::IfPresent;
        } else if is_option(option, "get") {
            return_old = true;
        } else if is_option(option, "keepttl") && expiry_raw.is_none() {
            keep_ttl = true;
        } else if let Some(unit) = ["ex", "px", "exat", "pxat"]
            .into_iter()
            .find(|unit| is_option(option, unit))
        {
            let other_unit = expiry_raw.is_some_and(|(seen, _)| seen != unit);
            match next {
                Some(amount) if !keep_ttl && !other_unit => {
                    expiry_raw = Some((unit, amount));
                    index += 1;
                }
                _ => return Err(CommandError::Syntax),
            }
        } else {
            return Err(CommandError::Syntax);
        }
        index += 1;
    }
    let expiry = match expiry_raw {
        None if keep_ttl => SetExpiry::Keep,
        None => SetExpiry::Clear,
        Some((unit, amount)) => {
            let invalid = CommandError::InvalidExpireTime { command: "set" };
            let amount = parse_i64(amount)?;
            if amount <= 0 {
                return Err(invalid);
            }
            let ms = match unit {
                "ex" | "exat" => amount.checked_mul(1000).ok_or(invalid)?,
                _ => amount,
            };
            if unit.ends_with("at") {
                SetExpiry::AtMs(ms)
            } else {
                SetExpiry::InMs(ms)
            }
        }
    };
    Ok(Command::Set {
        key: args.key(1),
        value: args.key(2),
        condition,
        expiry,
        return_old,
    })
}

pub(super) fn parse_setnx(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::SetNx {
        key: args.key(1),
        value: args.key(2),
    })
}

pub(super) fn parse_getset(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::GetSet {
        key: args.key(1),
        value: args.key(2),
    })
}

pub(super) fn parse_getdel(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::GetDel { key: args.key(1) })
}

pub(super) fn parse_mget(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::MGet {
        keys: args.from(1).to_vec(),
    })
}

fn parse_key_value_pairs(args: Args<'_>) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if args.len() % 2 == 0 {
        return Err(args.arity_error());
    }
    Ok(pairs(args.from(1)))
}

pub(super) fn parse_mset(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::MSet {
        pairs: parse_key_value_pairs(args)?,
    })
}

pub(super) fn parse_msetnx(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::MSetNx {
        pairs: parse_key_value_pairs(args)?,
    })
}

pub(super) fn parse_append(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Append {
        key: args.key(1),
        value: args.key(2),
    })
}

pub(super) fn parse_strlen(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::StrLen { key: args.key(1) })
}

pub(super) fn parse_incr(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Incr { key: args.key(1) })
}

pub(super) fn parse_decr(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::Decr { key: args.key(1) })
}

pub(super) fn parse_incrby(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::IncrBy {
        key: args.key(1),
        delta: parse_i64(args.at(2))?,
    })
}

pub(super) fn parse_decrby(args: Args<'_>) -> Result<Command, CommandError> {
    let delta = parse_i64(args.at(2))?;
    // Redis rejects this before looking at the key: -i64::MIN does not exist.
    if delta == i64::MIN {
        return Err(CommandError::DecrementOverflow);
    }
    Ok(Command::DecrBy {
        key: args.key(1),
        delta,
    })
}

// ---- apply / read ----

pub(super) fn read(ks: &Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    match cmd {
        Command::Get { key } => Ok(bulk_or_nil(string_at(ks, &Slot::new(key.clone()), now_ms)?)),
        Command::MGet { keys } => Ok(Reply::Array(
            keys.iter()
                .map(|key| {
                    // MGET answers nil for a key of another type instead of failing.
                    bulk_or_nil(
                        string_at(ks, &Slot::new(key.clone()), now_ms)
                            .ok()
                            .flatten(),
                    )
                })
                .collect(),
        )),
        Command::StrLen { key } => {
            let value = string_at(ks, &Slot::new(key.clone()), now_ms)?;
            Ok(Reply::Integer(value.map_or(0, |v| v.len() as i64)))
        }
        other => unreachable!("{} is not a string read", other.name()),
    }
}

pub(super) fn apply(ks: &mut Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    match cmd {
        Command::Set {
            key,
            value,
            condition,
            expiry,
            return_old,
        } => set(ks, key, value, *condition, *expiry, *return_old, now_ms),
        Command::SetNx { key, value } => {
            let slot = Slot::new(key.clone());
            if ks.live(&slot, now_ms).is_some() {
                return Ok(Reply::Integer(0));
            }
            ks.insert(slot, Value::String(value.clone()), 0);
            Ok(Reply::Integer(1))
        }
        Command::GetSet { key, value } => {
            let slot = Slot::new(key.clone());
            let old = bulk_or_nil(string_at(ks, &slot, now_ms)?);
            ks.insert(slot, Value::String(value.clone()), 0);
            Ok(old)
        }
        Command::GetDel { key } => {
            let slot = Slot::new(key.clone());
            let old = bulk_or_nil(string_at(ks, &slot, now_ms)?);
            if old != Reply::Nil {
                ks.remove(&slot);
            }
            Ok(old)
        }
        Command::MSet { pairs } => {
            for (key, value) in pairs {
                ks.insert(Slot::new(key.clone()), Value::String(value.clone()), 0);
            }
            Ok(Reply::Ok)
        }
        Command::MSetNx { pairs } => {
            let any_exists = pairs
                .iter()
                .any(|(key, _)| ks.live(&Slot::new(key.clone()), now_ms).is_some());
            if any_exists {
                return Ok(Reply::Integer(0));
            }
            for (key, value) in pairs {
                ks.insert(Slot::new(key.clone()), Value::String(value.clone()), 0);
            }
            Ok(Reply::Integer(1))
        }
        Command::Append { key, value } => {
            let slot = Slot::new(key.clone());
            let Some(old) = string_at(ks, &slot, now_ms)? else {
                ks.insert(slot, Value::String(value.clone()), 0);
                return Ok(Reply::Integer(value.len() as i64));
            };
            let total_len = old.len() + value.len();
            if total_len > STRING_BYTES_MAX {
                return Err(CommandError::StringTooLong);
            }
            let mut joined = Vec::with_capacity(total_len);
            joined.extend_from_slice(old);
            joined.extend_from_slice(value);
            replace_string_keep_ttl(ks, &slot, Bytes::from(joined), now_ms);
            Ok(Reply::Integer(total_len as i64))
        }
        Command::Incr { key } => incr_by(ks, key, 1, now_ms),
        Command::Decr { key } => incr_by(ks, key, -1, now_ms),
        Command::IncrBy { key, delta } => incr_by(ks, key, *delta, now_ms),
        Command::DecrBy { key, delta } => {
            let delta = delta.checked_neg().ok_or(CommandError::DecrementOverflow)?;
            incr_by(ks, key, delta, now_ms)
        }
        other => unreachable!("{} is not a string write", other.name()),
    }
}

fn set(
    ks: &mut Keyspace,
    key: &Bytes,
    value: &Bytes,
    condition: SetCondition,
    expiry: SetExpiry,
    return_old: bool,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let slot = Slot::new(key.clone());
    // SET ... GET on a non-string fails before anything changes.
    let old = if return_old {
        bulk_or_nil(string_at(ks, &slot, now_ms)?)
    } else {
        Reply::Nil
    };
    let current = ks.live(&slot, now_ms);
    let allowed = match condition {
        SetCondition::Always => true,
        SetCondition::IfAbsent => current.is_none(),
        SetCondition::IfPresent => current.is_some(),
    };
    if !allowed {
        return Ok(old);
    }
    let expiry_ms = match expiry {
        SetExpiry::Clear => 0,
        SetExpiry::Keep => current.map_or(0, |entry| entry.expiry_ms),
        SetExpiry::InMs(ms) => {
            // Redis adds the command time and rejects an overflow.
            let at_ms = ms
                .checked_add(now_as_i64(now_ms))
                .ok_or(CommandError::InvalidExpireTime { command: "set" })?;
            at_ms as u64
        }
        SetExpiry::AtMs(ms) => ms as u64,
    };
    if expiry_ms != 0 && expiry_ms <= now_ms {
        // Already in the past: the key ends up absent, as in Redis.
        ks.remove(&slot);
    } else {
        ks.insert(slot, Value::String(value.clone()), expiry_ms);
    }
    Ok(if return_old { old } else { Reply::Ok })
}

/// Log times fit in i64 for the next 292 million years; saturate regardless.
pub(super) fn now_as_i64(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Overwrite a live string's bytes, keeping its TTL (APPEND, INCR).
fn replace_string_keep_ttl(ks: &mut Keyspace, slot: &Slot, value: Bytes, now_ms: u64) {
    let expiry_ms = ks.live(slot, now_ms).map_or(0, |entry| entry.expiry_ms);
    ks.insert(slot.clone(), Value::String(value), expiry_ms);
}

fn incr_by(ks: &mut Keyspace, key: &Bytes, delta: i64, now_ms: u64) -> Result<Reply, CommandError> {
    let slot = Slot::new(key.clone());
    let current = match string_at(ks, &slot, now_ms)? {
        Some(bytes) => parse_i64_strict(bytes).ok_or(CommandError::NotInteger)?,
        None => 0,
    };
    let next = current
        .checked_add(delta)
        .ok_or(CommandError::IncrementOverflow)?;
    replace_string_keep_ttl(ks, &slot, Bytes::from(next.to_string()), now_ms);
    Ok(Reply::Integer(next))
}

#[cfg(test)]
mod tests;
