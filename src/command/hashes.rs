//! Hash commands: HSET HMSET HSETNX HGET HMGET HDEL HGETALL HINCRBY HLEN
//! HEXISTS HKEYS HVALS. Invariant: a hash left empty by a write is deleted,
//! and a write to a live hash keeps its TTL.
//!
//! Wire forms: `HSET key field value [field value ...]`, `HDEL key field [field ...]`,
//! `HINCRBY key field delta`, `HGETALL key`, ...

use bytes::Bytes;

use super::{
    bulk_or_nil, hash_at, pairs, parse_i64, parse_i64_strict, Args, Command, CommandError, Reply,
};
use crate::keyspace::{Entry, HashValue, Keyspace, Slot, Value};

// ---- parse ----

fn parse_field_value_pairs(args: Args<'_>) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if args.len() % 2 == 1 {
        return Err(args.arity_error());
    }
    Ok(pairs(args.from(2)))
}

pub(super) fn parse_hset(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HSet {
        key: args.key(1),
        pairs: parse_field_value_pairs(args)?,
    })
}

pub(super) fn parse_hmset(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HMSet {
        key: args.key(1),
        pairs: parse_field_value_pairs(args)?,
    })
}

pub(super) fn parse_hsetnx(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HSetNx {
        key: args.key(1),
        field: args.key(2),
        value: args.key(3),
    })
}

pub(super) fn parse_hget(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HGet {
        key: args.key(1),
        field: args.key(2),
    })
}

pub(super) fn parse_hmget(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HMGet {
        key: args.key(1),
        fields: args.from(2).to_vec(),
    })
}

pub(super) fn parse_hdel(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HDel {
        key: args.key(1),
        fields: args.from(2).to_vec(),
    })
}

pub(super) fn parse_hgetall(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HGetAll { key: args.key(1) })
}

pub(super) fn parse_hincrby(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HIncrBy {
        key: args.key(1),
        field: args.key(2),
        delta: parse_i64(args.at(3))?,
    })
}

pub(super) fn parse_hlen(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HLen { key: args.key(1) })
}

pub(super) fn parse_hexists(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HExists {
        key: args.key(1),
        field: args.key(2),
    })
}

pub(super) fn parse_hkeys(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HKeys { key: args.key(1) })
}

pub(super) fn parse_hvals(args: Args<'_>) -> Result<Command, CommandError> {
    Ok(Command::HVals { key: args.key(1) })
}

// ---- apply / read ----

pub(super) fn read(ks: &Keyspace, cmd: &Command, now_ms: u64) -> Result<Reply, CommandError> {
    let slot = Slot::new(cmd.keys().swap_remove(0));
    let hash = hash_at(ks, &slot, now_ms)?;
    let reply = match cmd {
        Command::HGet { field, .. } => bulk_or_nil(hash.and_then(|h| h.get(field))),
        Command::HMGet { fields, .. } => Reply::Array(
            fields
                .iter()
                .map(|field| bulk_or_nil(hash.and_then(|h| h.get(field))))
                .collect(),
        ),
        Command::HGetAll { .. } => Reply::Map(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(field, value)| (Reply::bulk(field), Reply::bulk(value)))
                .collect(),
        ),
        Command::HLen { .. } => Reply::Integer(hash.map_or(0, |h| h.len() as i64)),
        Command::HExists { field, .. } => {
            Reply::Integer(i64::from(hash.is_some_and(|h| h.contains(field))))
        }
        Command::HKeys { .. } => Reply::Array(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(field, _)| Reply::bulk(field))
                .collect(),
        ),
        Command::HVals { .. } => Reply::Array(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(_, value)| Reply::bulk(value))
                .collect(),
        ),
        other => unreachable!("{} is not a hash read", other.name()),
    };
    Ok(reply)
}

/// Whether a write changed the hash (and so the key's version).
enum Change {
    None,
    Modified,
}

/// Runs `update` on the live hash at `key`, or on a new empty hash if the
/// key is absent; then stores, re-versions or deletes the key as needed.
fn update_hash<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    update: impl FnOnce(&mut HashValue) -> Result<(R, Change), CommandError>,
) -> Result<R, CommandError> {
    let slot = Slot::new(key.clone());
    let (result, change, is_empty) = match ks.live_mut(&slot, now_ms) {
        Some(Entry {
            value: Value::Hash(hash),
            ..
        }) => {
            let (result, change) = update(hash)?;
            (result, change, hash.is_empty())
        }
        Some(_) => return Err(CommandError::WrongType),
        None => {
            let mut hash = HashValue::default();
            let (result, _) = update(&mut hash)?;
            if !hash.is_empty() {
                ks.insert(slot, Value::Hash(hash), 0);
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
        Command::HSet { key, pairs } | Command::HMSet { key, pairs } => {
            let added = update_hash(ks, key, now_ms, |hash| {
                let added = pairs
                    .iter()
                    .filter(|(field, value)| hash.insert(field.clone(), value.clone()))
                    .count();
                Ok((added, Change::Modified))
            })?;
            Ok(match cmd {
                Command::HMSet { .. } => Reply::Ok,
                _ => Reply::Integer(added as i64),
            })
        }
        Command::HSetNx { key, field, value } => update_hash(ks, key, now_ms, |hash| {
            if hash.contains(field) {
                return Ok((Reply::Integer(0), Change::None));
            }
            hash.insert(field.clone(), value.clone());
            Ok((Reply::Integer(1), Change::Modified))
        }),
        Command::HDel { key, fields } => update_hash(ks, key, now_ms, |hash| {
            let removed = fields.iter().filter(|field| hash.remove(field)).count();
            let change = if removed > 0 {
                Change::Modified
            } else {
                Change::None
            };
            Ok((Reply::Integer(removed as i64), change))
        }),
        Command::HIncrBy { key, field, delta } => update_hash(ks, key, now_ms, |hash| {
            let current = match hash.get(field) {
                Some(raw) => parse_i64_strict(raw).ok_or(CommandError::HashValueNotInteger)?,
                None => 0,
            };
            let next = current
                .checked_add(*delta)
                .ok_or(CommandError::IncrementOverflow)?;
            hash.insert(field.clone(), Bytes::from(next.to_string()));
            Ok((Reply::Integer(next), Change::Modified))
        }),
        other => unreachable!("{} is not a hash write", other.name()),
    }
}

#[cfg(test)]
mod tests;
