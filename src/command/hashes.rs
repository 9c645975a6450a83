//! Hash commands: HSET HMSET HSETNX HGET HMGET HDEL HGETALL HINCRBY HLEN HEXISTS HKEYS HVALS
//! HINCRBYFLOAT HSTRLEN HRANDFIELD HSCAN.
//! Invariant: a hash left empty by a write is deleted, and a write to a live hash keeps its TTL.
//!
//! Wire forms are in each spec, e.g. `HSET key field value [field value ...]`.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::keys::parse_cursor;
use super::strings::{ArgError, LongDouble};
use super::{
    hash_at, is_option, pairs, parse_i64, parse_i64_strict, Args, Command, CommandError,
    CommandSpec, Cx, Flags, Group, KeySpec, Reply,
};
use crate::keyspace::{glob_match, Entry, HashValue, Keyspace, Slot, Value};

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
        Ok(hash
            .and_then(|h| h.get(&self.field))
            .map_or(Reply::Nil, bulk))
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
                .map(|field| hash.and_then(|h| h.get(field)).map_or(Reply::Nil, bulk))
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
                .map(|(field, value)| (bulk(field), bulk(value)))
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
                .map(|(field, _)| bulk(field))
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
                .map(|(_, value)| bulk(value))
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

// ---- HINCRBYFLOAT ----

/// `HINCRBYFLOAT key field increment`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HIncrByFloat {
    pub key: Bytes,
    pub field: Bytes,
    /// Finite.
    pub increment: LongDouble,
}

impl HIncrByFloat {
    pub const SPEC: CommandSpec =
        CommandSpec::data("hincrbyfloat", 4, Group::Hash, HIncrByFloat::parse)
            .flags(WRITE_DENYOOM_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "2.6.0",
                "Increment the float value of a hash field by the given amount",
                &["key", "field", "increment"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let increment = LongDouble::parse(args.at(3)).ok_or(CommandError::NotFloat)?;
        if !increment.is_finite() {
            return Err(CommandError::ValueNanOrInfinity);
        }
        Ok(HIncrByFloat {
            key: args.key(1),
            field: args.key(2),
            increment,
        }
        .into())
    }

    /// Adds in x87 extended precision, as INCRBYFLOAT does, and stores Redis's text.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_hash(ks, &self.key, cx.now_ms, |hash| {
            let current = match hash.get(&self.field) {
                Some(raw) => LongDouble::parse(raw).ok_or(CommandError::HashValueNotFloat)?,
                None => LongDouble::ZERO,
            };
            let sum = current
                .checked_add(self.increment)
                .ok_or(CommandError::IncrementNanOrInfinity)?;
            let text = Bytes::from(sum.to_redis_string());
            hash.insert(self.field.clone(), text.clone());
            Ok((Reply::Bulk(text), Change::Modified))
        })
    }
}

// ---- HSTRLEN ----

/// `HSTRLEN key field`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HStrLen {
    pub key: Bytes,
    pub field: Bytes,
}

impl HStrLen {
    pub const SPEC: CommandSpec = CommandSpec::data("hstrlen", 3, Group::Hash, HStrLen::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "3.2.0",
            "Get the length of the value of a hash field",
            &["key", "field"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HStrLen {
            key: args.key(1),
            field: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        let len = hash.and_then(|h| h.get(&self.field)).map_or(0, <[u8]>::len);
        Ok(Reply::Integer(len as i64))
    }
}

// ---- HRANDFIELD ----

/// The most fields one HRANDFIELD with a negative count (repeats allowed) returns. Redis has
/// no bound and builds whatever reply is asked for; Tandem refuses larger counts with
/// `ERR value is out of range` rather than build a reply that could exhaust memory.
pub const HRANDFIELD_REPEATS_MAX: u64 = 1 << 20;

/// HRANDFIELD's `count [WITHVALUES]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomCount {
    /// > 0: that many distinct fields (at most all); < 0: that many draws, repeats allowed.
    pub count: i64,
    pub with_values: bool,
}

/// `HRANDFIELD key [count [WITHVALUES]]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HRandField {
    pub key: Bytes,
    /// None: one field, or nil for a missing key.
    pub count: Option<RandomCount>,
}

impl HRandField {
    pub const SPEC: CommandSpec =
        CommandSpec::data("hrandfield", -2, Group::Hash, HRandField::parse)
            .flags(READ_MANY)
            .keys(KeySpec::ONE)
            .docs(
                "6.2.0",
                "Get one or multiple random fields from a hash",
                &["key", "[count [WITHVALUES]]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        if args.len() == 2 {
            return Ok(HRandField {
                key: args.key(1),
                count: None,
            }
            .into());
        }
        let count = parse_i64(args.at(2))?;
        if count == i64::MIN {
            return Err(CommandError::CountOutOfRange);
        }
        let with_values = match args.len() {
            3 => false,
            4 if is_option(args.at(3), "withvalues") => true,
            _ => return Err(CommandError::Syntax),
        };
        // The reply has two entries per field, so the count must stay doubled in range.
        if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CommandError::ValueOutOfRange);
        }
        Ok(HRandField {
            key: args.key(1),
            count: Some(RandomCount { count, with_values }),
        }
        .into())
    }

    /// Draws with the read's random source. A field is picked by its position in scan order,
    /// which costs O(fields) per reply (no positional index is kept).
    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let hash = hash_for_read(ks, &self.key, cx)?;
        let Some(RandomCount { count, with_values }) = self.count else {
            return Ok(match hash {
                None => Reply::Nil,
                Some(hash) => {
                    let position = cx.random_below(hash.len() as u64);
                    let picked = fields_at(hash, &[position]);
                    bulk(picked[0].0)
                }
            });
        };
        let Some(hash) = hash else {
            return Ok(Reply::Array(Vec::new()));
        };
        let size = hash.len() as u64;
        let picked: Vec<(&[u8], &[u8])> = if count < 0 {
            let draws = count.unsigned_abs();
            if draws > HRANDFIELD_REPEATS_MAX {
                return Err(CommandError::ValueOutOfRange);
            }
            let positions: Vec<u64> = (0..draws).map(|_| cx.random_below(size)).collect();
            fields_at(hash, &positions)
        } else if count as u64 >= size {
            hash.iter().collect()
        } else {
            // Floyd's sampling: `count` distinct positions, each subset equally likely.
            let mut chosen = BTreeSet::new();
            for upper in size - count as u64..size {
                let drawn = cx.random_below(upper + 1);
                if !chosen.insert(drawn) {
                    chosen.insert(upper);
                }
            }
            let positions: Vec<u64> = chosen.into_iter().collect();
            fields_at(hash, &positions)
        };
        Ok(if with_values {
            Reply::Pairs(
                picked
                    .into_iter()
                    .map(|(field, value)| (bulk(field), bulk(value)))
                    .collect(),
            )
        } else {
            Reply::Array(picked.into_iter().map(|(field, _)| bulk(field)).collect())
        })
    }
}

/// The fields at `positions` (in scan order, each `< hash.len()`, repeats allowed), in the
/// order of `positions`; one pass over the hash.
fn fields_at<'a>(hash: &'a HashValue, positions: &[u64]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut wanted: Vec<(u64, usize)> = positions
        .iter()
        .enumerate()
        .map(|(slot, &position)| (position, slot))
        .collect();
    wanted.sort_unstable();
    let mut picked = vec![None; positions.len()];
    let mut fields = (0u64..).zip(hash.scan_from(0));
    let mut current = fields.next();
    for (position, slot) in wanted {
        while let Some((at, _)) = current {
            if at == position {
                break;
            }
            current = fields.next();
        }
        let (_, (_, field, value)) = current.expect("positions are below the hash's length");
        picked[slot] = Some((field, value));
    }
    picked
        .into_iter()
        .map(|entry| entry.expect("every slot is filled"))
        .collect()
}

// ---- HSCAN ----

/// Up to this many fields, HSCAN returns the whole hash at once, in insertion order, with
/// cursor 0, whatever the cursor and COUNT: what Redis does for its small (listpack) hashes,
/// which hold at most 128 fields by default.
pub const HSCAN_WHOLE_FIELDS_MAX: usize = 128;

/// HSCAN's MATCH and COUNT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HScanOptions {
    /// None matches every field.
    pub pattern: Option<Bytes>,
    pub count: u64,
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HScan {
    pub key: Bytes,
    pub cursor: u64,
    /// Option errors are reported only for an existing hash, as in Redis.
    pub options: Result<HScanOptions, ArgError>,
}

impl HScan {
    pub const SPEC: CommandSpec = CommandSpec::data("hscan", -3, Group::Hash, HScan::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.8.0",
            "Incrementally iterate hash fields and associated values",
            &["key", "cursor", "[MATCH pattern]", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(HScan {
            key: args.key(1),
            cursor: parse_cursor(args.at(2))?,
            options: HScan::parse_options(args),
        }
        .into())
    }

    fn parse_options(args: Args<'_>) -> Result<HScanOptions, ArgError> {
        let mut options = HScanOptions {
            pattern: None,
            count: HSCAN_COUNT_DEFAULT,
        };
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            let has_value = index + 1 < args.len();
            if is_option(option, "count") && has_value {
                let count = parse_i64_strict(args.at(index + 1)).ok_or(ArgError::NotInteger)?;
                if count < 1 {
                    return Err(ArgError::Syntax);
                }
                options.count = count as u64;
            } else if is_option(option, "match") && has_value {
                let pattern = args.key(index + 1);
                options.pattern = (pattern[..] != b"*"[..]).then_some(pattern);
            } else {
                return Err(ArgError::Syntax);
            }
            index += 2;
        }
        Ok(options)
    }

    /// A hash of up to [`HSCAN_WHOLE_FIELDS_MAX`] fields comes back whole with cursor 0.
    /// Past that, fields are visited in scan order (by the xxh3 hash of the field, see
    /// `HashValue::scan_from`) and the cursor is the hash of the next field to visit. A call
    /// visits COUNT fields, then finishes the group of fields sharing the last hash, so every
    /// field present for the whole scan is returned at least once however the hash changes
    /// between calls (and fields are never returned twice unless the hash shrinks to the
    /// whole-hash size). The order depends only on the field set, so a scan may continue on
    /// another node. A mid-scan cursor is never 0: it is greater than a visited hash.
    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(hash) = hash_for_read(ks, &self.key, cx)? else {
            return Ok(scan_reply(0, Vec::new()));
        };
        let options = self.options.clone().map_err(|e| e.into_error("hscan"))?;
        let matches = |field: &[u8]| {
            options
                .pattern
                .as_ref()
                .is_none_or(|pattern| glob_match(pattern, field))
        };
        let mut items = Vec::new();
        let mut push = |field: &[u8], value: &[u8]| {
            if matches(field) {
                items.push(bulk(field));
                items.push(bulk(value));
            }
        };
        if hash.len() <= HSCAN_WHOLE_FIELDS_MAX {
            hash.iter().for_each(|(field, value)| push(field, value));
            return Ok(scan_reply(0, items));
        }
        let mut next_cursor = 0;
        let mut last_hash = None;
        for (visited, (field_hash, field, value)) in (0u64..).zip(hash.scan_from(self.cursor)) {
            if visited >= options.count && last_hash != Some(field_hash) {
                next_cursor = field_hash;
                break;
            }
            last_hash = Some(field_hash);
            push(field, value);
        }
        Ok(scan_reply(next_cursor, items))
    }
}

/// HSCAN's COUNT when none is given, as in Redis.
const HSCAN_COUNT_DEFAULT: u64 = 10;

/// A field or value as a bulk reply (a packed hash lends out slices of its buffer).
fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

#[cfg(test)]
mod tests;
