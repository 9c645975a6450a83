//! Hash commands: HSET HMSET HSETNX HGET HMGET HDEL HGETALL HINCRBY HLEN HEXISTS HKEYS HVALS.
//! Invariant: a hash left empty by a write is deleted, and a write to a live hash keeps its TTL.
//!
//! Wire forms are in each spec, e.g. `HSET key field value [field value ...]`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    bulk_or_nil, hash_at, pairs, parse_i64, parse_i64_strict, Args, Command, CommandError,
    CommandSpec, Cx, Flags, Group, KeySpec, Reply,
};
use crate::keyspace::{Entry, HashValue, Keyspace, Slot, Value};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);

/// Whether a write changed the hash (and so the key's version).
pub(super) enum Change {
    None,
    Modified,
}

/// The live hash at `key` for a read (None if absent; WRONGTYPE for another type).
fn hash_for_read<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    cx: &Cx,
) -> Result<Option<&'a HashValue>, CommandError> {
    hash_at(ks, &Slot::new(key.clone()), cx.now_ms)
}

/// Runs `update` on the live hash at `key`, or on a new empty hash if the key is absent; then
/// stores, re-versions or deletes the key as needed.
pub(super) fn update_hash<R>(
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

fn parse_field_value_pairs(args: Args<'_>) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if args.len() % 2 == 1 {
        return Err(args.arity_error());
    }
    Ok(pairs(args.from(2)))
}

fn set_fields(
    ks: &mut Keyspace,
    key: &Bytes,
    pairs: &[(Bytes, Bytes)],
    now_ms: u64,
) -> Result<i64, CommandError> {
    update_hash(ks, key, now_ms, |hash| {
        let added = pairs
            .iter()
            .filter(|(field, value)| hash.insert(field.clone(), value.clone()))
            .count();
        Ok((added as i64, Change::Modified))
    })
}

// ---- HSET / HMSET / HSETNX ----

/// `HSET key field value [field value ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HSet {
    pub key: Bytes,
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl HSet {
    pub const SPEC: CommandSpec = CommandSpec::data("hset", -4, Group::Hash, HSet::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Creates or modifies the value of a field in a hash.",
            &["key", "field value..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HSet {
            key: args.key(1),
            pairs: parse_field_value_pairs(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        set_fields(ks, &self.key, &self.pairs, cx.now_ms).map(Reply::Integer)
    }
}

/// `HMSET key field value [field value ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HMSet {
    pub key: Bytes,
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl HMSet {
    pub const SPEC: CommandSpec = CommandSpec::data("hmset", -4, Group::Hash, HMSet::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Sets the values of multiple fields.",
            &["key", "field value..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HMSet {
            key: args.key(1),
            pairs: parse_field_value_pairs(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        set_fields(ks, &self.key, &self.pairs, cx.now_ms)?;
        Ok(Reply::Ok)
    }
}

/// `HSETNX key field value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HSetNx {
    pub key: Bytes,
    pub field: Bytes,
    pub value: Bytes,
}

impl HSetNx {
    pub const SPEC: CommandSpec = CommandSpec::data("hsetnx", 4, Group::Hash, HSetNx::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Sets the value of a field in a hash only when the field doesn't exist.",
            &["key", "field", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HSetNx {
            key: args.key(1),
            field: args.key(2),
            value: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_hash(ks, &self.key, cx.now_ms, |hash| {
            if hash.contains(&self.field) {
                return Ok((Reply::Integer(0), Change::None));
            }
            hash.insert(self.field.clone(), self.value.clone());
            Ok((Reply::Integer(1), Change::Modified))
        })
    }
}

// ---- HGET / HMGET ----

/// `HGET key field`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HGet {
    pub key: Bytes,
    pub field: Bytes,
}

impl HGet {
    pub const SPEC: CommandSpec = CommandSpec::data("hget", 3, Group::Hash, HGet::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Returns the value of a field in a hash.",
            &["key", "field"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HGet {
            key: args.key(1),
            field: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(bulk_or_nil(hash.and_then(|h| h.get(&self.field))))
    }
}

/// `HMGET key field [field ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HMGet {
    pub key: Bytes,
    pub fields: Vec<Bytes>,
}

impl HMGet {
    pub const SPEC: CommandSpec = CommandSpec::data("hmget", -3, Group::Hash, HMGet::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Returns the values of all fields in a hash.",
            &["key", "field..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HMGet {
            key: args.key(1),
            fields: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Array(
            self.fields
                .iter()
                .map(|field| bulk_or_nil(hash.and_then(|h| h.get(field))))
                .collect(),
        ))
    }
}

// ---- HDEL ----

/// `HDEL key field [field ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HDel {
    pub key: Bytes,
    pub fields: Vec<Bytes>,
}

impl HDel {
    pub const SPEC: CommandSpec = CommandSpec::data("hdel", -3, Group::Hash, HDel::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
            &["key", "field..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HDel {
            key: args.key(1),
            fields: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_hash(ks, &self.key, cx.now_ms, |hash| {
            let removed = self
                .fields
                .iter()
                .filter(|field| hash.remove(field))
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

// ---- HGETALL / HKEYS / HVALS ----

/// `HGETALL key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HGetAll {
    pub key: Bytes,
}

impl HGetAll {
    pub const SPEC: CommandSpec = CommandSpec::data("hgetall", 2, Group::Hash, HGetAll::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Returns all fields and values in a hash.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HGetAll { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Map(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(field, value)| (Reply::bulk(field), Reply::bulk(value)))
                .collect(),
        ))
    }
}

/// `HKEYS key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HKeys {
    pub key: Bytes,
}

impl HKeys {
    pub const SPEC: CommandSpec = CommandSpec::data("hkeys", 2, Group::Hash, HKeys::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs("2.0.0", "Returns all fields in a hash.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HKeys { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Array(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(field, _)| Reply::bulk(field))
                .collect(),
        ))
    }
}

/// `HVALS key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HVals {
    pub key: Bytes,
}

impl HVals {
    pub const SPEC: CommandSpec = CommandSpec::data("hvals", 2, Group::Hash, HVals::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs("2.0.0", "Returns all values in a hash.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HVals { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Array(
            hash.into_iter()
                .flat_map(HashValue::iter)
                .map(|(_, value)| Reply::bulk(value))
                .collect(),
        ))
    }
}

// ---- HINCRBY ----

/// `HINCRBY key field increment`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HIncrBy {
    pub key: Bytes,
    pub field: Bytes,
    pub delta: i64,
}

impl HIncrBy {
    pub const SPEC: CommandSpec = CommandSpec::data("hincrby", 4, Group::Hash, HIncrBy::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
            &["key", "field", "increment"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HIncrBy {
            key: args.key(1),
            field: args.key(2),
            delta: parse_i64(args.at(3))?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_hash(ks, &self.key, cx.now_ms, |hash| {
            let current = match hash.get(&self.field) {
                Some(raw) => parse_i64_strict(raw).ok_or(CommandError::HashValueNotInteger)?,
                None => 0,
            };
            let next = current
                .checked_add(self.delta)
                .ok_or(CommandError::IncrementOverflow)?;
            hash.insert(self.field.clone(), Bytes::from(next.to_string()));
            Ok((Reply::Integer(next), Change::Modified))
        })
    }
}

// ---- HLEN / HEXISTS ----

/// `HLEN key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HLen {
    pub key: Bytes,
}

impl HLen {
    pub const SPEC: CommandSpec = CommandSpec::data("hlen", 2, Group::Hash, HLen::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs("2.0.0", "Returns the number of fields in a hash.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HLen { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Integer(hash.map_or(0, |h| h.len() as i64)))
    }
}

/// `HEXISTS key field`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HExists {
    pub key: Bytes,
    pub field: Bytes,
}

impl HExists {
    pub const SPEC: CommandSpec = CommandSpec::data("hexists", 3, Group::Hash, HExists::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Determines whether a field exists in a hash.",
            &["key", "field"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HExists {
            key: args.key(1),
            field: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        Ok(Reply::Integer(i64::from(
            hash.is_some_and(|h| h.contains(&self.field)),
        )))
    }
}

#[cfg(test)]
mod tests;
