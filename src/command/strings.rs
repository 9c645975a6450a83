//! String commands: GET SET SETNX GETSET GETDEL MGET MSET MSETNX APPEND STRLEN INCR DECR INCRBY
//! DECRBY SETEX PSETEX GETEX GETRANGE SUBSTR SETRANGE INCRBYFLOAT LCS. Invariant: a string write
//! replaces the whole entry (fresh version; TTL cleared) unless the command edits the string in
//! place, as APPEND, INCR*, SETRANGE and the bit commands do; those keep the TTL, as in Redis.
//!
//! Each command is a type with its `SPEC`, its parser and its `apply` (writes) or `read`.
//! Wire forms are in each spec's argument hints, e.g.
//! `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.

mod long_double;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

pub use long_double::LongDouble;

use super::{
    is_option, pairs, parse_i64, parse_i64_strict, string_at, string_or_nil, Args, Command,
    CommandError, CommandSpec, Cx, Flags, Group, KeySpec, Reply, STRING_BYTES_MAX,
};
use crate::keyspace::{CompactBytes, Entry, Keyspace, Slot, Value};

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
        Ok(string_or_nil(string_at(ks, &slot, cx.now_ms)?))
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
            string_or_nil(string_at(ks, &slot, now_ms)?)
        } else {
            Reply::Nil
        };
        // A plain SET neither tests nor keeps what is there: it skips the lookup (one tree
        // descent less; `insert` makes its own).
        let needs_current =
            self.condition != SetCondition::Always || self.expiry == SetExpiry::Keep;
        let current = if needs_current {
            ks.live(&slot, now_ms)
        } else {
            None
        };
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
        ks.insert(slot, Value::String(value.into()), expiry_ms);
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
        ks.insert(slot, Value::String(self.value.clone().into()), 0);
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
        let old = string_or_nil(string_at(ks, &slot, cx.now_ms)?);
        ks.insert(slot, Value::String(self.value.clone().into()), 0);
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
        let old = string_or_nil(string_at(ks, &slot, cx.now_ms)?);
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
                    string_or_nil(string_at(ks, &slot, cx.now_ms).ok().flatten())
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
            ks.insert(
                Slot::new(key.clone()),
                Value::String(value.clone().into()),
                0,
            );
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
            ks.insert(
                Slot::new(key.clone()),
                Value::String(value.clone().into()),
                0,
            );
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
            ks.insert(slot, Value::String(self.value.clone().into()), 0);
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
    ks.insert(slot.clone(), Value::String(value.into()), expiry_ms);
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

// ---- in-place edits (SETRANGE, SETBIT, BITFIELD) ----

/// Up to this size a growing string doubles its capacity; above it grows by this much, as
/// Redis's sds does, so setting bits or ranges one after another does not copy every time.
const GROWTH_GREEDY_BYTES_MAX: usize = 1024 * 1024;

/// Runs `edit` on the bytes of the live string at `slot`, in place: the key keeps its TTL,
/// and the bytes are copied only when a snapshot still shares them. `edit` returns whether it
/// changed the string; only then is the key re-versioned (so a WATCH sees no change when
/// nothing changed). The caller has checked that the key holds a string.
pub(super) fn edit_string<R>(
    ks: &mut Keyspace,
    slot: &Slot,
    now_ms: u64,
    edit: impl FnOnce(&mut BytesMut) -> (R, bool),
) -> Result<R, CommandError> {
    let Some(Entry {
        value: Value::String(stored),
        ..
    }) = ks.live_mut(slot, now_ms)
    else {
        return Err(CommandError::internal("edit_string needs a live string"));
    };
    let mut buffer = stored.take_for_edit();
    let (result, changed) = edit(&mut buffer);
    *stored = CompactBytes::from_edited(buffer);
    if changed {
        ks.touch(slot);
    }
    Ok(result)
}

/// Pads `buffer` with zero bytes up to `len` (no-op if it is already that long).
pub(super) fn grow_zeroed(buffer: &mut BytesMut, len: usize) {
    if len <= buffer.len() {
        return;
    }
    if len > buffer.capacity() {
        let capacity = if len < GROWTH_GREEDY_BYTES_MAX {
            len * 2
        } else {
            len + GROWTH_GREEDY_BYTES_MAX
        };
        let mut grown = BytesMut::with_capacity(capacity);
        grown.extend_from_slice(buffer);
        *buffer = grown;
    }
    buffer.resize(len, 0);
}

// ---- late argument errors ----

/// An argument error that Redis reports only after it has looked the key up, so that a missing
/// key or a key of another type wins over it (`GETEX missing EX abc` answers nil). Parsing
/// keeps such an error, typed, until the command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArgError {
    Syntax,
    NotInteger,
    NotFloat,
    /// `invalid expire time in '<command>' command`
    InvalidExpireTime,
    /// LCS given both IDX and LEN.
    LcsIdxWithLen,
}

impl ArgError {
    pub(super) fn into_error(self, command: &'static str) -> CommandError {
        match self {
            ArgError::Syntax => CommandError::Syntax,
            ArgError::NotInteger => CommandError::NotInteger,
            ArgError::NotFloat => CommandError::NotFloat,
            ArgError::InvalidExpireTime => CommandError::InvalidExpireTime { command },
            ArgError::LcsIdxWithLen => CommandError::LcsIdxWithLen,
        }
    }
}

// ---- SETEX / PSETEX ----

/// `SETEX key seconds value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetEx {
    pub key: Bytes,
    /// Always [`SetExpiry::InMs`].
    pub expiry: SetExpiry,
    pub value: Bytes,
}

impl SetEx {
    pub const SPEC: CommandSpec = CommandSpec::data("setex", 4, Group::String, SetEx::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "2.0.0",
            "Set the value and expiration of a key",
            &["key", "seconds", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SetEx {
            key: args.key(1),
            expiry: parse_expiry("ex", args.at(2), "setex")?,
            value: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        set_with_expiry(ks, &self.key, &self.value, self.expiry, cx.now_ms, "setex")
    }
}

/// `PSETEX key milliseconds value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PSetEx {
    pub key: Bytes,
    /// Always [`SetExpiry::InMs`].
    pub expiry: SetExpiry,
    pub value: Bytes,
}

impl PSetEx {
    pub const SPEC: CommandSpec = CommandSpec::data("psetex", 4, Group::String, PSetEx::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "2.6.0",
            "Set the value and expiration in milliseconds of a key",
            &["key", "milliseconds", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(PSetEx {
            key: args.key(1),
            expiry: parse_expiry("px", args.at(2), "psetex")?,
            value: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        set_with_expiry(ks, &self.key, &self.value, self.expiry, cx.now_ms, "psetex")
    }
}

fn set_with_expiry(
    ks: &mut Keyspace,
    key: &Bytes,
    value: &Bytes,
    expiry: SetExpiry,
    now_ms: u64,
    command: &'static str,
) -> Result<Reply, CommandError> {
    let expiry_ms = expiry_at_ms(expiry, 0, now_ms, command)?;
    store_string(ks, Slot::new(key.clone()), value.clone(), expiry_ms, now_ms);
    Ok(Reply::Ok)
}

// ---- GETEX ----

/// What GETEX does to the TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GetExExpiry {
    /// No option: the TTL is unchanged.
    Keep,
    /// PERSIST
    Persist,
    /// EX / PX / EXAT / PXAT (never `Clear` or `Keep`).
    Set(SetExpiry),
}

/// `GETEX key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetEx {
    pub key: Bytes,
    /// An invalid amount is reported only for a live string, as Redis checks it after the
    /// lookup.
    pub expiry: Result<GetExExpiry, ArgError>,
}

impl GetEx {
    pub const SPEC: CommandSpec = CommandSpec::data("getex", -2, Group::String, GetEx::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "6.2.0",
            "Get the value of a key and optionally set its expiration",
            &[
                "key",
                "[EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut persist = false;
        let mut expiry_raw: Option<(&str, &Bytes)> = None;
        let mut index = 2;
        while index < args.len() {
            let option = args.at(index);
            let next = (index + 1 < args.len()).then(|| args.at(index + 1));
            if let Some(unit) = ["ex", "px", "exat", "pxat"]
                .into_iter()
                .find(|unit| is_option(option, unit))
            {
                // The same unit may repeat (the last wins); two different units may not.
                let other_unit = expiry_raw.is_some_and(|(seen, _)| seen != unit);
                match next {
                    Some(amount) if !persist && !other_unit => {
                        expiry_raw = Some((unit, amount));
                        index += 1;
                    }
                    _ => return Err(CommandError::Syntax),
                }
            } else if is_option(option, "persist") && expiry_raw.is_none() {
                persist = true;
            } else {
                return Err(CommandError::Syntax);
            }
            index += 1;
        }
        let expiry = match expiry_raw {
            None if persist => Ok(GetExExpiry::Persist),
            None => Ok(GetExExpiry::Keep),
            Some((unit, amount)) => match parse_expiry(unit, amount, "getex") {
                Ok(expiry) => Ok(GetExExpiry::Set(expiry)),
                Err(CommandError::NotInteger) => Err(ArgError::NotInteger),
                Err(_) => Err(ArgError::InvalidExpireTime),
            },
        };
        Ok(GetEx {
            key: args.key(1),
            expiry,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let slot = Slot::new(self.key.clone());
        let Some(value) = string_at(ks, &slot, now_ms)?.map(CompactBytes::to_bytes) else {
            return Ok(Reply::Nil);
        };
        match self.expiry.map_err(|error| error.into_error("getex"))? {
            GetExExpiry::Keep => {}
            GetExExpiry::Persist => {
                let has_ttl = ks.live(&slot, now_ms).is_some_and(|e| e.expiry_ms != 0);
                if has_ttl {
                    ks.set_expiry(&slot, 0);
                }
            }
            GetExExpiry::Set(expiry) => {
                let expiry_ms = expiry_at_ms(expiry, 0, now_ms, "getex")?;
                // Only EXAT/PXAT can be in the past: the key is deleted, its value returned.
                if expiry_ms <= now_ms {
                    ks.remove(&slot);
                } else {
                    ks.set_expiry(&slot, expiry_ms);
                }
            }
        }
        Ok(Reply::Bulk(value))
    }
}

// ---- GETRANGE / SUBSTR ----

/// `GETRANGE key start end`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetRange {
    pub key: Bytes,
    pub start: i64,
    pub end: i64,
}

impl GetRange {
    pub const SPEC: CommandSpec = CommandSpec::data("getrange", 4, Group::String, GetRange::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::ONE)
        .docs(
            "2.4.0",
            "Get a substring of the string stored at a key",
            &["key", "start", "end"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (start, end) = parse_range(args)?;
        Ok(GetRange {
            key: args.key(1),
            start,
            end,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        substring(ks, &self.key, self.start, self.end, cx.now_ms)
    }
}

/// `SUBSTR key start end` (the old name of GETRANGE)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubStr {
    pub key: Bytes,
    pub start: i64,
    pub end: i64,
}

impl SubStr {
    pub const SPEC: CommandSpec = CommandSpec::data("substr", 4, Group::String, SubStr::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Get a substring of the string stored at a key",
            &["key", "start", "end"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (start, end) = parse_range(args)?;
        Ok(SubStr {
            key: args.key(1),
            start,
            end,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        substring(ks, &self.key, self.start, self.end, cx.now_ms)
    }
}

fn parse_range(args: Args<'_>) -> Result<(i64, i64), CommandError> {
    Ok((parse_i64(args.at(2))?, parse_i64(args.at(3))?))
}

/// The bytes `start..=end` of the string (negative indexes count from the end, the range is
/// clamped to the string); empty for a missing key. No copy: a slice of the stored bytes.
fn substring(
    ks: &Keyspace,
    key: &Bytes,
    start: i64,
    end: i64,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let value = string_at(ks, &Slot::new(key.clone()), now_ms)?
        .map(CompactBytes::to_bytes)
        .unwrap_or_default();
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return Ok(Reply::Bulk(Bytes::new()));
    }
    Ok(Reply::Bulk(value.slice(start as usize..=end as usize)))
}

// ---- SETRANGE ----

/// `SETRANGE key offset value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetRange {
    pub key: Bytes,
    pub offset: u64,
    pub value: Bytes,
}

impl SetRange {
    pub const SPEC: CommandSpec = CommandSpec::data("setrange", 4, Group::String, SetRange::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Overwrite part of a string at key starting at the specified offset",
            &["key", "offset", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let offset = parse_i64(args.at(2))?;
        let offset = u64::try_from(offset).map_err(|_| CommandError::OffsetOutOfRange)?;
        Ok(SetRange {
            key: args.key(1),
            offset,
            value: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let old_len = string_at(ks, &slot, cx.now_ms)?.map(|value| value.len());
        // Writing nothing changes nothing, whatever the offset.
        if self.value.is_empty() {
            return Ok(Reply::Integer(old_len.unwrap_or(0) as i64));
        }
        let end = self
            .offset
            .checked_add(self.value.len() as u64)
            .filter(|&end| end <= STRING_BYTES_MAX as u64)
            .ok_or(CommandError::StringTooLong)? as usize;
        let start = self.offset as usize;
        let Some(old_len) = old_len else {
            let mut created = BytesMut::zeroed(end);
            created[start..].copy_from_slice(&self.value);
            ks.insert(slot, Value::String(CompactBytes::from_edited(created)), 0);
            return Ok(Reply::Integer(end as i64));
        };
        let len = edit_string(ks, &slot, cx.now_ms, |buffer| {
            grow_zeroed(buffer, end);
            buffer[start..end].copy_from_slice(&self.value);
            (buffer.len(), true)
        })?;
        debug_assert!(len >= old_len);
        Ok(Reply::Integer(len as i64))
    }
}

// ---- INCRBYFLOAT ----

/// `INCRBYFLOAT key increment`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncrByFloat {
    pub key: Bytes,
    /// Not a valid float: reported after the key's own type and value are checked, as Redis
    /// does.
    pub increment: Result<LongDouble, ArgError>,
}

impl IncrByFloat {
    pub const SPEC: CommandSpec =
        CommandSpec::data("incrbyfloat", 3, Group::String, IncrByFloat::parse)
            .flags(WRITE_DENYOOM_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "2.6.0",
                "Increment the float value of a key by the given amount",
                &["key", "increment"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(IncrByFloat {
            key: args.key(1),
            increment: LongDouble::parse(args.at(2)).ok_or(ArgError::NotFloat),
        }
        .into())
    }

    /// Adds in x87 extended precision and stores Redis's text for the sum (see
    /// [`LongDouble`]); the key keeps its TTL.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let current = match string_at(ks, &slot, cx.now_ms)? {
            Some(bytes) => LongDouble::parse(bytes).ok_or(CommandError::NotFloat)?,
            None => LongDouble::ZERO,
        };
        let increment = self
            .increment
            .map_err(|error| error.into_error("incrbyfloat"))?;
        let sum = current
            .checked_add(increment)
            .ok_or(CommandError::IncrementNanOrInfinity)?;
        let text = Bytes::from(sum.to_redis_string());
        replace_string_keep_ttl(ks, &slot, text.clone(), cx.now_ms);
        Ok(Reply::Bulk(text))
    }
}

// ---- LCS ----

/// The largest LCS table Tandem computes, in cells: (len(a) + 1) × (len(b) + 1), for example
/// two strings of 4 KiB each. The work is O(cells) and the table (u16 per cell: the bound
/// keeps the shorter string under 2^12 bytes, so lengths fit) takes at most 32 MiB. Redis
/// refuses a table over proto-max-bulk-len (512 MiB of u32 cells, 2^27 cells); Tandem refuses
/// past this smaller bound with the same error.
pub const LCS_CELLS_MAX: u64 = 1 << 24;

/// What LCS answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LcsOutput {
    /// The common subsequence itself.
    String,
    /// LEN: its length.
    Length,
    /// IDX: the matching ranges and the length.
    Ranges,
}

/// LCS's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LcsOptions {
    pub output: LcsOutput,
    /// MINMATCHLEN: ranges shorter than this are left out (IDX only).
    pub match_len_min: u64,
    /// WITHMATCHLEN: each range carries its length (IDX only).
    pub with_match_len: bool,
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lcs {
    pub key_a: Bytes,
    pub key_b: Bytes,
    /// Option errors come after the type check of both keys, as in Redis.
    pub options: Result<LcsOptions, ArgError>,
}

impl Lcs {
    pub const SPEC: CommandSpec = CommandSpec::data("lcs", -3, Group::String, Lcs::parse)
        .flags(Flags::READONLY.union(Flags::READS_MANY))
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "7.0.0",
            "Find longest common substring",
            &[
                "key1",
                "key2",
                "[LEN]",
                "[IDX]",
                "[MINMATCHLEN min-match-len]",
                "[WITHMATCHLEN]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Lcs {
            key_a: args.key(1),
            key_b: args.key(2),
            options: Lcs::parse_options(args),
        }
        .into())
    }

    fn parse_options(args: Args<'_>) -> Result<LcsOptions, ArgError> {
        let (mut ranges, mut length) = (false, false);
        let mut options = LcsOptions {
            output: LcsOutput::String,
            match_len_min: 0,
            with_match_len: false,
        };
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            if is_option(option, "idx") {
                ranges = true;
            } else if is_option(option, "len") {
                length = true;
            } else if is_option(option, "withmatchlen") {
                options.with_match_len = true;
            } else if is_option(option, "minmatchlen") && index + 1 < args.len() {
                let min = parse_i64_strict(args.at(index + 1)).ok_or(ArgError::NotInteger)?;
                options.match_len_min = min.max(0) as u64;
                index += 1;
            } else {
                return Err(ArgError::Syntax);
            }
            index += 1;
        }
        options.output = match (ranges, length) {
            (true, true) => return Err(ArgError::LcsIdxWithLen),
            (true, false) => LcsOutput::Ranges,
            (false, true) => LcsOutput::Length,
            (false, false) => LcsOutput::String,
        };
        Ok(options)
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let lookup = |key: &Bytes| match ks.live(&Slot::new(key.clone()), cx.now_ms) {
            None => Ok(Bytes::new()),
            Some(Entry {
                value: Value::String(value),
                ..
            }) => Ok(value.to_bytes()),
            Some(_) => Err(CommandError::LcsNotStrings),
        };
        let (a, b) = (lookup(&self.key_a), lookup(&self.key_b));
        let (a, b) = (a?, b?);
        let options = self.options.map_err(|error| error.into_error("lcs"))?;
        // With an empty side the answer needs no table, whatever the other's length.
        let (a, b) = if a.is_empty() || b.is_empty() {
            (Bytes::new(), Bytes::new())
        } else {
            (a, b)
        };
        let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
        if cells > LCS_CELLS_MAX {
            return Err(CommandError::LcsTooLarge);
        }
        let table = LcsTable::new(&a, &b);
        let length = Reply::Integer(i64::from(table.length()));
        Ok(match options.output {
            LcsOutput::Length => length,
            LcsOutput::String => Reply::Bulk(Bytes::from(table.walk_back(|_| {}))),
            LcsOutput::Ranges => {
                let mut matches = Vec::new();
                table.walk_back(|range| {
                    if range.len() >= options.match_len_min {
                        matches.push(range.to_reply(options.with_match_len));
                    }
                });
                Reply::Map(vec![
                    (
                        Reply::Bulk(Bytes::from_static(b"matches")),
                        Reply::Array(matches),
                    ),
                    (Reply::Bulk(Bytes::from_static(b"len")), length),
                ])
            }
        })
    }
}

/// A run of matching bytes: `a[a_start..=a_end]` equals `b[b_start..=b_end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LcsRange {
    a_start: usize,
    a_end: usize,
    b_start: usize,
    b_end: usize,
}

impl LcsRange {
    fn len(&self) -> u64 {
        (self.a_end - self.a_start + 1) as u64
    }

    fn to_reply(self, with_len: bool) -> Reply {
        let pair = |start: usize, end: usize| {
            Reply::Array(vec![
                Reply::Integer(start as i64),
                Reply::Integer(end as i64),
            ])
        };
        let mut items = vec![
            pair(self.a_start, self.a_end),
            pair(self.b_start, self.b_end),
        ];
        if with_len {
            items.push(Reply::Integer(self.len() as i64));
        }
        Reply::Array(items)
    }
}

/// The dynamic-programming table: `cell(i, j)` is the LCS length of `a[..i]` and `b[..j]`.
struct LcsTable<'a> {
    a: &'a [u8],
    b: &'a [u8],
    cells: Vec<u16>,
}

impl<'a> LcsTable<'a> {
    fn new(a: &'a [u8], b: &'a [u8]) -> LcsTable<'a> {
        debug_assert!(a.len().min(b.len()) < usize::from(u16::MAX));
        let width = b.len() + 1;
        let mut cells = vec![0u16; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        LcsTable { a, b, cells }
    }

    fn cell(&self, i: usize, j: usize) -> u16 {
        self.cells[i * (self.b.len() + 1) + j]
    }

    fn length(&self) -> u16 {
        self.cell(self.a.len(), self.b.len())
    }

    /// Walks from the ends of both strings back to their starts along one longest common
    /// subsequence (on a tie, moving back in `b` first, as Redis does), calls `on_range` for
    /// each maximal run of matches in that walk (last run first), and returns the subsequence.
    fn walk_back(&self, mut on_range: impl FnMut(LcsRange)) -> Vec<u8> {
        let mut common = vec![0u8; usize::from(self.length())];
        let mut filled = common.len();
        let (mut i, mut j) = (self.a.len(), self.b.len());
        let mut run: Option<LcsRange> = None;
        while i > 0 && j > 0 {
            if self.a[i - 1] == self.b[j - 1] {
                filled -= 1;
                common[filled] = self.a[i - 1];
                run = Some(match run {
                    // The walk moves diagonally, so a run grows at its start.
                    Some(range) => LcsRange {
                        a_start: i - 1,
                        b_start: j - 1,
                        ..range
                    },
                    None => LcsRange {
                        a_start: i - 1,
                        a_end: i - 1,
                        b_start: j - 1,
                        b_end: j - 1,
                    },
                });
                i -= 1;
                j -= 1;
            } else {
                if let Some(range) = run.take() {
                    on_range(range);
                }
                if self.cell(i - 1, j) > self.cell(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
            }
        }
        if let Some(range) = run {
            on_range(range);
        }
        common
    }
}

#[cfg(test)]
mod tests;
