//! String commands: GET SET SETNX GETSET GETDEL MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY
//! DECRBY. Invariant: a string write replaces the whole entry (fresh version; TTL cleared unless
//! the command keeps it, as in Redis).
//!
//! Each command is a type with its `SPEC`, its parser and its `apply` (writes) or `read`.
//! Wire forms are in each spec's argument hints, e.g.
//! `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    bulk_or_nil, is_option, pairs, parse_i64, parse_i64_strict, string_at, Args, Command,
    CommandError, CommandSpec, Cx, Flags, Group, KeySpec, Reply, STRING_BYTES_MAX,
};
use crate::keyspace::{Keyspace, Slot, Value};

const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const WRITE_DENYOOM_FAST: Flags = WRITE_DENYOOM.union(Flags::FAST);
const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
/// MSET and MSETNX: `key value [key value ...]`.
const KEY_VALUE_PAIRS: KeySpec = KeySpec::range(1, -1, 2);

/// SET's NX / XX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCondition {
    Always,
    /// NX: only if the key does not exist.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
}

/// SET's expiry options, already converted to milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetExpiry {
    /// No option: any previous TTL is cleared.
    Clear,
    /// KEEPTTL
    Keep,
    /// EX / PX: this many ms after the log time (> 0).
    InMs(i64),
    /// EXAT / PXAT: at this Unix time in ms (> 0).
    AtMs(i64),
}

// ---- GET ----

/// `GET key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Get {
    pub key: Bytes,
}

impl Get {
    pub const SPEC: CommandSpec = CommandSpec::data("get", 2, Group::String, Get::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs("1.0.0", "Returns the string value of a key.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Get { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        Ok(bulk_or_nil(string_at(ks, &slot, cx.now_ms)?))
    }
}

// ---- SET ----

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Set {
    pub key: Bytes,
    pub value: Bytes,
    pub condition: SetCondition,
    pub expiry: SetExpiry,
    /// GET: reply with the previous value.
    pub return_old: bool,
}

impl Set {
    pub const SPEC: CommandSpec = CommandSpec::data("set", -3, Group::String, Set::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
            &["key", "value", "[NX|XX]", "[GET]",
              "[EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"],
        );

    /// A plain `SET key value`.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Set {
        Set {
            key: key.into(),
            value: value.into(),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            return_old: false,
        }
    }

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut condition = SetCondition::Always;
        let mut return_old = false;
        // (option, raw amount) so the amount is validated after all options, in Redis's order
        // (syntax errors first).
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
            Some((unit, amount)) => parse_expiry(unit, amount, "set")?,
        };
        Ok(Set {
            key: args.key(1),
            value: args.key(2),
            condition,
            expiry,
            return_old,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let slot = Slot::new(self.key.clone());
        // SET ... GET on a non-string fails before anything changes.
        let old = if self.return_old {
            bulk_or_nil(string_at(ks, &slot, now_ms)?)
        } else {
            Reply::Nil
        };
        let current = ks.live(&slot, now_ms);
        let allowed = match self.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => current.is_none(),
            SetCondition::IfPresent => current.is_some(),
        };
        if !allowed {
            return Ok(old);
        }
        let keep_ms = current.map_or(0, |entry| entry.expiry_ms);
        let expiry_ms = expiry_at_ms(self.expiry, keep_ms, now_ms, "set")?;
        store_string(ks, slot, self.value.clone(), expiry_ms, now_ms);
        Ok(if self.return_old { old } else { Reply::Ok })
    }
}

/// An EX/PX/EXAT/PXAT amount as Redis checks it: an integer > 0 that fits in ms.
pub(super) fn parse_expiry(
    unit: &str,
    amount: &[u8],
    command: &'static str,
) -> Result<SetExpiry, CommandError> {
    let invalid = CommandError::InvalidExpireTime { command };
    let amount = parse_i64(amount)?;
    if amount <= 0 {
        return Err(invalid);
    }
    let ms = match unit {
        "ex" | "exat" => amount.checked_mul(1000).ok_or(invalid)?,
        _ => amount,
    };
    Ok(if unit.ends_with("at") {
        SetExpiry::AtMs(ms)
    } else {
        SetExpiry::InMs(ms)
    })
}

/// The absolute expiry (0 = none) an expiry option gives at `now_ms`; `keep_ms` is the key's
/// current expiry, for KEEPTTL.
pub(super) fn expiry_at_ms(
    expiry: SetExpiry,
    keep_ms: u64,
    now_ms: u64,
    command: &'static str,
) -> Result<u64, CommandError> {
    Ok(match expiry {
        SetExpiry::Clear => 0,
        SetExpiry::Keep => keep_ms,
        // Redis adds the command time and rejects an overflow.
        SetExpiry::InMs(ms) => {
            ms.checked_add(now_as_i64(now_ms))
                .ok_or(CommandError::InvalidExpireTime { command })? as u64
        }
        SetExpiry::AtMs(ms) => ms as u64,
    })
}

/// Stores a string with an absolute expiry (0 = none); an expiry already in the past leaves
/// the key absent, as in Redis.
pub(super) fn store_string(
    ks: &mut Keyspace,
    slot: Slot,
    value: Bytes,
    expiry_ms: u64,
    now_ms: u64,
) {
    if expiry_ms != 0 && expiry_ms <= now_ms {
        ks.remove(&slot);
    } else {
        ks.insert(slot, Value::String(value), expiry_ms);
    }
}

// ---- SETNX ----

/// `SETNX key value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetNx {
    pub key: Bytes,
    pub value: Bytes,
}

impl SetNx {
    pub const SPEC: CommandSpec = CommandSpec::data("setnx", 3, Group::String, SetNx::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Set the string value of a key only when the key doesn't exist.",
            &["key", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SetNx {
            key: args.key(1),
            value: args.key(2),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        if ks.live(&slot, cx.now_ms).is_some() {
            return Ok(Reply::Integer(0));
        }
        ks.insert(slot, Value::String(self.value.clone()), 0);
        Ok(Reply::Integer(1))
    }
}

// ---- GETSET ----

/// `GETSET key value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetSet {
    pub key: Bytes,
    pub value: Bytes,
}

impl GetSet {
    pub const SPEC: CommandSpec = CommandSpec::data("getset", 3, Group::String, GetSet::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Returns the previous string value of a key after setting it to a new value.",
            &["key", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(GetSet {
            key: args.key(1),
            value: args.key(2),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let old = bulk_or_nil(string_at(ks, &slot, cx.now_ms)?);
        ks.insert(slot, Value::String(self.value.clone()), 0);
        Ok(old)
    }
}

// ---- GETDEL ----

/// `GETDEL key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetDel {
    pub key: Bytes,
}

impl GetDel {
    pub const SPEC: CommandSpec = CommandSpec::data("getdel", 2, Group::String, GetDel::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "6.2.0",
            "Returns the string value of a key after deleting the key.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(GetDel { key: args.key(1) }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let old = bulk_or_nil(string_at(ks, &slot, cx.now_ms)?);
        if old != Reply::Nil {
            ks.remove(&slot);
        }
        Ok(old)
    }
}

// ---- MGET ----

/// `MGET key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MGet {
    pub keys: Vec<Bytes>,
}

impl MGet {
    pub const SPEC: CommandSpec = CommandSpec::data("mget", -2, Group::String, MGet::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ALL)
        .docs(
            "1.0.0",
            "Atomically returns the string values of one or more keys.",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(MGet {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Array(
            self.keys
                .iter()
                .map(|key| {
                    // MGET answers nil for a key of another type instead of failing.
                    let slot = Slot::new(key.clone());
                    bulk_or_nil(string_at(ks, &slot, cx.now_ms).ok().flatten())
                })
                .collect(),
        ))
    }
}

// ---- MSET / MSETNX ----

fn parse_key_value_pairs(args: Args<'_>) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    if args.len() % 2 == 0 {
        return Err(args.arity_error());
    }
    Ok(pairs(args.from(1)))
}

/// `MSET key value [key value ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MSet {
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl MSet {
    pub const SPEC: CommandSpec = CommandSpec::data("mset", -3, Group::String, MSet::parse)
        .flags(WRITE_DENYOOM)
        .keys(KEY_VALUE_PAIRS)
        .docs(
            "1.0.1",
            "Atomically creates or modifies the string values of one or more keys.",
            &["key value..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(MSet {
            pairs: parse_key_value_pairs(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, _cx: &mut Cx) -> Result<Reply, CommandError> {
        for (key, value) in &self.pairs {
            ks.insert(Slot::new(key.clone()), Value::String(value.clone()), 0);
        }
        Ok(Reply::Ok)
    }
}

/// `MSETNX key value [key value ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MSetNx {
    pub pairs: Vec<(Bytes, Bytes)>,
}

impl MSetNx {
    pub const SPEC: CommandSpec = CommandSpec::data("msetnx", -3, Group::String, MSetNx::parse)
        .flags(WRITE_DENYOOM)
        .keys(KEY_VALUE_PAIRS)
        .docs(
            "1.0.1",
            "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            &["key value..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(MSetNx {
            pairs: parse_key_value_pairs(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let any_exists = self
            .pairs
            .iter()
            .any(|(key, _)| ks.live(&Slot::new(key.clone()), cx.now_ms).is_some());
        if any_exists {
            return Ok(Reply::Integer(0));
        }
        for (key, value) in &self.pairs {
            ks.insert(Slot::new(key.clone()), Value::String(value.clone()), 0);
        }
        Ok(Reply::Integer(1))
    }
}

// ---- APPEND ----

/// `APPEND key value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Append {
    pub key: Bytes,
    pub value: Bytes,
}

impl Append {
    pub const SPEC: CommandSpec = CommandSpec::data("append", 3, Group::String, Append::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Appends a string to the value of a key. Creates the key if it doesn't exist.",
            &["key", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Append {
            key: args.key(1),
            value: args.key(2),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let Some(old) = string_at(ks, &slot, cx.now_ms)? else {
            ks.insert(slot, Value::String(self.value.clone()), 0);
            return Ok(Reply::Integer(self.value.len() as i64));
        };
        let total_len = old.len() + self.value.len();
        if total_len > STRING_BYTES_MAX {
            return Err(CommandError::StringTooLong);
        }
        let mut joined = Vec::with_capacity(total_len);
        joined.extend_from_slice(old);
        joined.extend_from_slice(&self.value);
        replace_string_keep_ttl(ks, &slot, Bytes::from(joined), cx.now_ms);
        Ok(Reply::Integer(total_len as i64))
    }
}

// ---- STRLEN ----

/// `STRLEN key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrLen {
    pub key: Bytes,
}

impl StrLen {
    pub const SPEC: CommandSpec = CommandSpec::data("strlen", 2, Group::String, StrLen::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs("2.2.0", "Returns the length of a string value.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(StrLen { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let value = string_at(ks, &Slot::new(self.key.clone()), cx.now_ms)?;
        Ok(Reply::Integer(value.map_or(0, |v| v.len() as i64)))
    }
}

// ---- INCR / DECR / INCRBY / DECRBY ----

/// `INCR key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incr {
    pub key: Bytes,
}

impl Incr {
    pub const SPEC: CommandSpec = CommandSpec::data("incr", 2, Group::String, Incr::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Incr { key: args.key(1) }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        incr_by(ks, &self.key, 1, cx.now_ms)
    }
}

/// `DECR key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decr {
    pub key: Bytes,
}

impl Decr {
    pub const SPEC: CommandSpec = CommandSpec::data("decr", 2, Group::String, Decr::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Decr { key: args.key(1) }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        incr_by(ks, &self.key, -1, cx.now_ms)
    }
}

/// `INCRBY key increment`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncrBy {
    pub key: Bytes,
    pub delta: i64,
}

impl IncrBy {
    pub const SPEC: CommandSpec = CommandSpec::data("incrby", 3, Group::String, IncrBy::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
            &["key", "increment"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(IncrBy {
            key: args.key(1),
            delta: parse_i64(args.at(2))?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        incr_by(ks, &self.key, self.delta, cx.now_ms)
    }
}

/// `DECRBY key decrement`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecrBy {
    pub key: Bytes,
    pub delta: i64,
}

impl DecrBy {
    pub const SPEC: CommandSpec = CommandSpec::data("decrby", 3, Group::String, DecrBy::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
            &["key", "decrement"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let delta = parse_i64(args.at(2))?;
        // Redis rejects this before looking at the key: -i64::MIN does not exist.
        if delta == i64::MIN {
            return Err(CommandError::DecrementOverflow);
        }
        Ok(DecrBy {
            key: args.key(1),
            delta,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let delta = self
            .delta
            .checked_neg()
            .ok_or(CommandError::DecrementOverflow)?;
        incr_by(ks, &self.key, delta, cx.now_ms)
    }
}

// ---- shared ----

/// Log times fit in i64 for the next 292 million years; saturate regardless.
pub(super) fn now_as_i64(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Overwrite a live string's bytes, keeping its TTL (APPEND, INCR).
pub(super) fn replace_string_keep_ttl(ks: &mut Keyspace, slot: &Slot, value: Bytes, now_ms: u64) {
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
