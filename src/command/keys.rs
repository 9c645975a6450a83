//! Keyspace commands: DEL EXISTS TYPE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST RENAME
//! KEYS SCAN DBSIZE FLUSHDB FLUSHALL UNLINK TOUCH COPY RENAMENX RANDOMKEY EXPIRETIME PEXPIRETIME
//! OBJECT. Invariant: expiry times are computed from the log time `cx.now_ms`; an expiry at or
//! before it deletes.
//!
//! Wire forms are in each spec, e.g. `EXPIRE key seconds [NX|XX|GT|LT]`,
//! `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, `FLUSHDB [ASYNC|SYNC]`,
//! `COPY source destination [DB destination-db] [REPLACE]`.
//!
//! Tandem keeps no access time and no access frequency per key (it never evicts, so it needs
//! neither): TOUCH only counts, OBJECT IDLETIME and OBJECT FREQ answer with an error.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::strings::now_as_i64;
use super::{
    is_option, parse_i64, Args, Categories, Command, CommandError, CommandSpec, Cx, Flags, Group,
    KeySpec, Reply,
};
use crate::keyspace::{glob_match, CompactBytes, Keyspace, Slot, Value};

/// SCAN's default COUNT, as in Redis.
const SCAN_COUNT_DEFAULT: u64 = 10;

const READ: Flags = Flags::READONLY;
const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const WRITE: Flags = Flags::WRITE;
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const EXPIRE_ARGS: &[&str] = &["key", "time", "[NX|XX|GT|LT]"];

/// EXPIRE-family NX / XX / GT / LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCondition {
    Always,
    /// NX: only if the key has no expiry.
    IfNone,
    /// XX: only if the key has an expiry.
    IfSome,
    /// GT: only if the new expiry is greater (no expiry counts as infinite).
    IfGreater,
    /// LT: only if the new expiry is less (no expiry counts as infinite).
    IfLess,
    /// XX LT: only if the key has an expiry and the new one is less.
    /// (XX GT needs no variant: GT already fails on a key without expiry.)
    IfSomeAndLess,
}

// ---- DEL ----

/// `DEL key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Del {
    pub keys: Vec<Bytes>,
}

impl Del {
    pub const SPEC: CommandSpec = CommandSpec::data("del", -2, Group::Generic, Del::parse)
        .flags(WRITE)
        .keys(KeySpec::ALL)
        .docs("1.0.0", "Deletes one or more keys.", &["key..."]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Del {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(delete_keys(ks, &self.keys, cx.now_ms)))
    }
}

/// Removes `keys` (an expired key is physically dropped too, but not counted); returns how
/// many were live.
pub(super) fn delete_keys(ks: &mut Keyspace, keys: &[Bytes], now_ms: u64) -> i64 {
    let mut removed = 0;
    for key in keys {
        let slot = Slot::new(key.clone());
        let live = ks.live(&slot, now_ms).is_some();
        if ks.remove(&slot).is_some() && live {
            removed += 1;
        }
    }
    removed
}

// ---- EXISTS ----

/// `EXISTS key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exists {
    pub keys: Vec<Bytes>,
}

impl Exists {
    pub const SPEC: CommandSpec = CommandSpec::data("exists", -2, Group::Generic, Exists::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ALL)
        .docs(
            "1.0.0",
            "Determines whether one or more keys exist.",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Exists {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(
            self.keys
                .iter()
                .filter(|key| ks.live(&Slot::new((*key).clone()), cx.now_ms).is_some())
                .count() as i64,
        ))
    }
}

// ---- TYPE ----

/// `TYPE key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Type {
    pub key: Bytes,
}

impl Type {
    pub const SPEC: CommandSpec = CommandSpec::data("type", 2, Group::Generic, Type::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Determines the type of value stored at a key.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Type { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Simple(
            ks.live(&Slot::new(self.key.clone()), cx.now_ms)
                .map_or("none", |entry| entry.value.type_name())
                .to_string(),
        ))
    }
}

// ---- EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT ----

/// Options first, then the amount: Redis reports an option error before a non-integer amount.
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

/// `EXPIRE key seconds [NX|XX|GT|LT]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Expire {
    pub key: Bytes,
    pub seconds: i64,
    pub condition: ExpireCondition,
}

impl Expire {
    pub const SPEC: CommandSpec = CommandSpec::data("expire", -3, Group::Generic, Expire::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Sets the expiration time of a key in seconds.",
            EXPIRE_ARGS,
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, seconds, condition) = parse_expire_parts(args)?;
        Ok(Expire {
            key,
            seconds,
            condition,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let base = now_as_i64(cx.now_ms);
        expire(
            ks,
            &self.key,
            self.seconds,
            Unit::Seconds,
            base,
            self.condition,
            "expire",
            cx.now_ms,
        )
    }
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PExpire {
    pub key: Bytes,
    pub milliseconds: i64,
    pub condition: ExpireCondition,
}

impl PExpire {
    pub const SPEC: CommandSpec = CommandSpec::data("pexpire", -3, Group::Generic, PExpire::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.6.0",
            "Sets the expiration time of a key in milliseconds.",
            EXPIRE_ARGS,
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, milliseconds, condition) = parse_expire_parts(args)?;
        Ok(PExpire {
            key,
            milliseconds,
            condition,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let base = now_as_i64(cx.now_ms);
        expire(
            ks,
            &self.key,
            self.milliseconds,
            Unit::Milliseconds,
            base,
            self.condition,
            "pexpire",
            cx.now_ms,
        )
    }
}

/// `EXPIREAT key unix-time-seconds [NX|XX|GT|LT]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpireAt {
    pub key: Bytes,
    pub unix_seconds: i64,
    pub condition: ExpireCondition,
}

impl ExpireAt {
    pub const SPEC: CommandSpec =
        CommandSpec::data("expireat", -3, Group::Generic, ExpireAt::parse)
            .flags(WRITE_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "1.2.0",
                "Sets the expiration time of a key to a Unix timestamp.",
                &["key", "unix-time-seconds", "[NX|XX|GT|LT]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, unix_seconds, condition) = parse_expire_parts(args)?;
        Ok(ExpireAt {
            key,
            unix_seconds,
            condition,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        expire(
            ks,
            &self.key,
            self.unix_seconds,
            Unit::Seconds,
            0,
            self.condition,
            "expireat",
            cx.now_ms,
        )
    }
}

/// `PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PExpireAt {
    pub key: Bytes,
    pub unix_ms: i64,
    pub condition: ExpireCondition,
}

impl PExpireAt {
    pub const SPEC: CommandSpec =
        CommandSpec::data("pexpireat", -3, Group::Generic, PExpireAt::parse)
            .flags(WRITE_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "2.6.0",
                "Sets the expiration time of a key to a Unix milliseconds timestamp.",
                &["key", "unix-time-milliseconds", "[NX|XX|GT|LT]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (key, unix_ms, condition) = parse_expire_parts(args)?;
        Ok(PExpireAt {
            key,
            unix_ms,
            condition,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        expire(
            ks,
            &self.key,
            self.unix_ms,
            Unit::Milliseconds,
            0,
            self.condition,
            "pexpireat",
            cx.now_ms,
        )
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT, in Redis's order: overflow checks, then key lookup, then
/// the NX/XX/GT/LT condition, then set or delete.
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

// ---- TTL / PTTL ----

/// Remaining lifetime in ms, or Err(-2) if absent / Err(-1) if persistent.
fn ttl_ms(ks: &Keyspace, key: &Bytes, now_ms: u64) -> Result<i64, i64> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Err(-2),
        Some(entry) if entry.expiry_ms == 0 => Err(-1),
        Some(entry) => Ok(i64::try_from(entry.expiry_ms - now_ms).unwrap_or(i64::MAX)),
    }
}

/// `TTL key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ttl {
    pub key: Bytes,
}

impl Ttl {
    pub const SPEC: CommandSpec = CommandSpec::data("ttl", 2, Group::Generic, Ttl::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Returns the expiration time in seconds of a key.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Ttl { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(
            ttl_ms(ks, &self.key, cx.now_ms).map_or_else(
                |code| code,
                // Redis rounds to the nearest second.
                |ms| (ms + 500) / 1000,
            ),
        ))
    }
}

/// `PTTL key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PTtl {
    pub key: Bytes,
}

impl PTtl {
    pub const SPEC: CommandSpec = CommandSpec::data("pttl", 2, Group::Generic, PTtl::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.6.0",
            "Returns the expiration time in milliseconds of a key.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(PTtl { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(
            ttl_ms(ks, &self.key, cx.now_ms).unwrap_or_else(|code| code),
        ))
    }
}

// ---- PERSIST ----

/// `PERSIST key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Persist {
    pub key: Bytes,
}

impl Persist {
    pub const SPEC: CommandSpec = CommandSpec::data("persist", 2, Group::Generic, Persist::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs("2.2.0", "Removes the expiration time of a key.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Persist { key: args.key(1) }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        match ks.live(&slot, cx.now_ms) {
            Some(entry) if entry.expiry_ms != 0 => {
                ks.set_expiry(&slot, 0);
                Ok(Reply::Integer(1))
            }
            _ => Ok(Reply::Integer(0)),
        }
    }
}

// ---- RENAME ----

/// `RENAME key newkey`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rename {
    pub source: Bytes,
    pub target: Bytes,
}

impl Rename {
    pub const SPEC: CommandSpec = CommandSpec::data("rename", 3, Group::Generic, Rename::parse)
        .flags(WRITE)
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "1.0.0",
            "Renames a key and overwrites the destination.",
            &["key", "newkey"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Rename {
            source: args.key(1),
            target: args.key(2),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let source_slot = Slot::new(self.source.clone());
        let Some(entry) = ks.live(&source_slot, cx.now_ms) else {
            return Err(CommandError::NoSuchKey);
        };
        if self.source == self.target {
            return Ok(Reply::Ok);
        }
        let (value, expiry_ms) = (entry.value.clone(), entry.expiry_ms);
        ks.remove(&source_slot);
        ks.insert(Slot::new(self.target.clone()), value, expiry_ms);
        Ok(Reply::Ok)
    }
}

// ---- KEYS ----

/// `KEYS pattern`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keys {
    pub pattern: Bytes,
}

impl Keys {
    pub const SPEC: CommandSpec = CommandSpec::data("keys", 2, Group::Generic, Keys::parse)
        .flags(READ.union(Flags::READS_MANY))
        .categories(Categories::DANGEROUS)
        .docs(
            "1.0.0",
            "Returns all key names that match a pattern.",
            &["pattern"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Keys {
            pattern: args.key(1),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let pattern = &self.pattern;
        Ok(Reply::Array(
            ks.entries()
                .filter(|(slot, entry)| {
                    // Redis matches a lone "*" without the glob (so "" is included).
                    !entry.is_expired(cx.now_ms)
                        && (pattern[..] == b"*"[..] || glob_match(pattern, &slot.key))
                })
                .map(|(slot, _)| Reply::Bulk(slot.key.to_bytes()))
                .collect(),
        ))
    }
}

// ---- SCAN ----

/// Redis parses the cursor with `strtoul`: optional sign (a '-' wraps), empty means 0, nothing
/// else may follow the digits.
pub(super) fn parse_cursor(raw: &[u8]) -> Result<u64, CommandError> {
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

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scan {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: u64,
    pub type_name: Option<Bytes>,
}

impl Scan {
    pub const SPEC: CommandSpec = CommandSpec::data("scan", -2, Group::Generic, Scan::parse)
        .flags(READ.union(Flags::READS_MANY))
        .docs(
            "2.8.0",
            "Iterates over the key names in the database.",
            &["cursor", "[MATCH pattern]", "[COUNT count]", "[TYPE type]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
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
        Ok(Scan {
            cursor,
            pattern,
            count,
            type_name,
        }
        .into())
    }

    /// SCAN over the slot order. The cursor is the hash to resume from: every key present for
    /// the whole scan is returned at least once, because keys are visited in (hash, key) order
    /// and a batch never ends in the middle of a group of keys that share one hash. A batch
    /// visits `count` entries (then finishes the hash group), so the work per call is bounded
    /// even when the pattern matches nothing. A mid-scan cursor is never 0: the next hash is
    /// always greater than a hash already visited.
    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let mut keys = Vec::new();
        let mut last_hash = None;
        let mut next_cursor = 0;
        let batch = (0u64..).zip(ks.entries_from(&Slot::first_with_hash(self.cursor)));
        for (visited, (slot, entry)) in batch {
            if visited >= self.count && last_hash != Some(slot.hash) {
                next_cursor = slot.hash;
                break;
            }
            last_hash = Some(slot.hash);
            if entry.is_expired(cx.now_ms) {
                continue;
            }
            if let Some(pattern) = &self.pattern {
                if !glob_match(pattern, &slot.key) {
                    continue;
                }
            }
            if let Some(name) = &self.type_name {
                if !name.eq_ignore_ascii_case(entry.value.type_name().as_bytes()) {
                    continue;
                }
            }
            keys.push(Reply::Bulk(slot.key.to_bytes()));
        }
        Ok(Reply::Array(vec![
            Reply::Bulk(Bytes::from(next_cursor.to_string())),
            Reply::Array(keys),
        ]))
    }
}

// ---- DBSIZE ----

/// `DBSIZE`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DbSize;

impl DbSize {
    pub const SPEC: CommandSpec = CommandSpec::data("dbsize", 1, Group::Server, DbSize::parse)
        .flags(READ_FAST)
        .categories(Categories::KEYSPACE)
        .docs("1.0.0", "Returns the number of keys in the database.", &[]);

    fn parse(_args: Args<'_>) -> Result<Command, CommandError> {
        Ok(DbSize.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(ks.live_len(cx.now_ms) as i64))
    }
}

// ---- FLUSHDB / FLUSHALL ----

/// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC, which Tandem ignores: a flush is one
/// persistent-map reset either way.
fn check_flush_mode(args: Args<'_>) -> Result<(), CommandError> {
    match args.len() {
        1 => Ok(()),
        2 if is_option(args.at(1), "async") || is_option(args.at(1), "sync") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

/// `FLUSHDB [ASYNC|SYNC]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlushDb;

impl FlushDb {
    pub const SPEC: CommandSpec = CommandSpec::data("flushdb", -1, Group::Server, FlushDb::parse)
        .flags(WRITE)
        .categories(Categories::KEYSPACE.union(Categories::DANGEROUS))
        .docs(
            "1.0.0",
            "Removes all keys from the current database.",
            &["[ASYNC|SYNC]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        check_flush_mode(args)?;
        Ok(FlushDb.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, _cx: &mut Cx) -> Result<Reply, CommandError> {
        ks.clear();
        Ok(Reply::Ok)
    }
}

/// `FLUSHALL [ASYNC|SYNC]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlushAll;

impl FlushAll {
    pub const SPEC: CommandSpec = CommandSpec::data("flushall", -1, Group::Server, FlushAll::parse)
        .flags(WRITE)
        .categories(Categories::KEYSPACE.union(Categories::DANGEROUS))
        .docs(
            "1.0.0",
            "Removes all keys from all databases.",
            &["[ASYNC|SYNC]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        check_flush_mode(args)?;
        Ok(FlushAll.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, _cx: &mut Cx) -> Result<Reply, CommandError> {
        ks.clear();
        Ok(Reply::Ok)
    }
}

// ---- UNLINK ----

/// `UNLINK key [key ...]`
///
/// The same as DEL. Redis's UNLINK removes the key at once and frees a large value on a
/// background thread. In Tandem removing a key from the keyspace is O(log n) either way, and a
/// value is a persistent structure that is freed when its last reference goes: right after the
/// apply, or later when a snapshot that still shares it is dropped. There is no background
/// free thread to hand the value to, so UNLINK and DEL do the same work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unlink {
    pub keys: Vec<Bytes>,
}

impl Unlink {
    pub const SPEC: CommandSpec = CommandSpec::data("unlink", -2, Group::Generic, Unlink::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ALL)
        .docs(
            "4.0.0",
            "Deletes one or more keys (the same as DEL in Tandem: values are never freed on another thread).",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Unlink {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(delete_keys(ks, &self.keys, cx.now_ms)))
    }
}

// ---- TOUCH ----

/// `TOUCH key [key ...]`
///
/// Counts the keys that exist, like EXISTS counts them (a repeated key counts each time).
/// Redis's TOUCH also refreshes each key's access time for its LRU/LFU eviction; Tandem never
/// evicts and keeps no access time, so there is nothing to refresh and TOUCH changes nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    pub keys: Vec<Bytes>,
}

impl Touch {
    pub const SPEC: CommandSpec = CommandSpec::data("touch", -2, Group::Generic, Touch::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ALL)
        .docs(
            "3.2.1",
            "Returns the number of existing keys out of those specified (Tandem keeps no access time to refresh).",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(Touch {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let live = self
            .keys
            .iter()
            .filter(|key| ks.live(&Slot::new((*key).clone()), cx.now_ms).is_some())
            .count();
        Ok(Reply::Integer(live as i64))
    }
}

// ---- COPY ----

/// `COPY source destination [DB destination-db] [REPLACE]`
///
/// Tandem has one database: `DB 0` is accepted, any other index is Redis's "DB index is out of
/// range". The copy keeps the source's TTL. Values are persistent structures, so the copy
/// shares the source's nodes and costs O(1); a later write to either copies only what it
/// changes. (Named `CopyKey` so the type does not shadow the `Copy` trait.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyKey {
    pub source: Bytes,
    pub destination: Bytes,
    /// REPLACE: overwrite a destination that exists.
    pub replace: bool,
}

impl CopyKey {
    pub const SPEC: CommandSpec = CommandSpec::data("copy", -3, Group::Generic, CopyKey::parse)
        .flags(Flags::WRITE.union(Flags::DENYOOM))
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "6.2.0",
            "Copies the value of a key to a new key.",
            &["source", "destination", "[DB destination-db]", "[REPLACE]"],
        );

    /// Redis's order: every option first (a non-integer DB at once, an unknown option as a
    /// syntax error), then the database, then source == destination.
    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut replace = false;
        let mut db = 0;
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            if is_option(option, "replace") {
                replace = true;
            } else if is_option(option, "db") && index + 1 < args.len() {
                db = parse_i64(args.at(index + 1))?;
                // Redis reads the index as a C int.
                if i32::try_from(db).is_err() {
                    return Err(CommandError::OutOfRangeBetween {
                        min: i32::MIN.into(),
                        max: i32::MAX.into(),
                    });
                }
                index += 1;
            } else {
                return Err(CommandError::Syntax);
            }
            index += 1;
        }
        if db != 0 {
            return Err(CommandError::DbIndexOutOfRange);
        }
        if args.at(1) == args.at(2) {
            return Err(CommandError::SameObject);
        }
        Ok(CopyKey {
            source: args.key(1),
            destination: args.key(2),
            replace,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(entry) = ks.live(&Slot::new(self.source.clone()), cx.now_ms) else {
            return Ok(Reply::Integer(0));
        };
        let (value, expiry_ms) = (entry.value.clone(), entry.expiry_ms);
        let target = Slot::new(self.destination.clone());
        if !self.replace && ks.live(&target, cx.now_ms).is_some() {
            return Ok(Reply::Integer(0));
        }
        ks.insert(target, value, expiry_ms);
        Ok(Reply::Integer(1))
    }
}

// ---- RENAMENX ----

/// `RENAMENX key newkey`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenameNx {
    pub source: Bytes,
    pub target: Bytes,
}

impl RenameNx {
    pub const SPEC: CommandSpec = CommandSpec::data("renamenx", 3, Group::Generic, RenameNx::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "1.0.0",
            "Renames a key only when the target key name doesn't exist.",
            &["key", "newkey"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RenameNx {
            source: args.key(1),
            target: args.key(2),
        }
        .into())
    }

    /// A missing source is an error even when the names are equal; equal names then answer 0
    /// (the target "exists"), as in Redis. The TTL moves with the value.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let source_slot = Slot::new(self.source.clone());
        let Some(entry) = ks.live(&source_slot, cx.now_ms) else {
            return Err(CommandError::NoSuchKey);
        };
        let target_slot = Slot::new(self.target.clone());
        if self.source == self.target || ks.live(&target_slot, cx.now_ms).is_some() {
            return Ok(Reply::Integer(0));
        }
        let (value, expiry_ms) = (entry.value.clone(), entry.expiry_ms);
        ks.remove(&source_slot);
        ks.insert(target_slot, value, expiry_ms);
        Ok(Reply::Integer(1))
    }
}

// ---- RANDOMKEY ----

/// Up to this many stored keys, RANDOMKEY counts the live ones and takes the i-th: exact and
/// cheap enough.
const RANDOM_SCAN_KEYS_MAX: usize = 64;
/// Keys per bucket on average, at least (see [`RandomKey::read`]); below twice this.
const RANDOM_BUCKET_KEYS_MIN: usize = 4;
/// A bucket with `c` live keys is accepted with probability `min(c, M) / M`, M this.
const RANDOM_ACCEPT_KEYS: u64 = 32;
/// Bucket draws before falling back to counting (when most stored keys are expired and not
/// purged yet, few draws find a live key).
const RANDOM_DRAWS_MAX: usize = 128;

/// `RANDOMKEY`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomKey;

impl RandomKey {
    pub const SPEC: CommandSpec =
        CommandSpec::data("randomkey", 1, Group::Generic, RandomKey::parse)
            .flags(READ)
            .docs("1.0.0", "Returns a random key name from the database.", &[]);

    fn parse(_args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RandomKey.into())
    }

    /// A uniformly random live key, in O(log n) expected time.
    ///
    /// The keyspace is ordered by `(xxh3(key), key)` and keeps no subtree counts, so "the i-th
    /// key" would cost O(i). Instead the hash space is cut into B = 2^k equal buckets with 4 to
    /// 8 stored keys each on average. A draw picks a bucket uniformly, walks it (one O(log n)
    /// descent, then its few keys), and accepts it with probability `min(c, 32) / 32`, where
    /// `c` counts its live keys; an accepted bucket gives one of its `c` keys uniformly. A key
    /// is then returned by a draw with probability `1 / (B * 32)`, the same for every key,
    /// whatever the other keys' hashes: exactly uniform, with 4 to 8 draws expected. The only
    /// departure is a bucket holding more than 32 live keys, whose keys are each picked less
    /// often than the others; with xxh3's spread that is about a 10^-10 chance per bucket
    /// (keys crafted to collide in their hash prefix could cause it). If 128 draws all miss,
    /// which happens when most stored keys are expired but not yet purged, the live keys are
    /// counted and one is taken by index: O(n), and also uniform.
    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let stored = ks.len();
        if stored > RANDOM_SCAN_KEYS_MAX {
            let bits = (stored / RANDOM_BUCKET_KEYS_MIN).ilog2();
            let shift = 64 - bits;
            for _ in 0..RANDOM_DRAWS_MAX {
                let bucket = cx.random_below(1u64 << bits);
                let live: Vec<&CompactBytes> = ks
                    .entries_from(&Slot::first_with_hash(bucket << shift))
                    .take_while(|(slot, _)| slot.hash >> shift == bucket)
                    .filter(|(_, entry)| !entry.is_expired(now_ms))
                    .map(|(slot, _)| &slot.key)
                    .collect();
                let count = live.len() as u64;
                if cx.random_below(RANDOM_ACCEPT_KEYS) < count.min(RANDOM_ACCEPT_KEYS) {
                    return Ok(Reply::Bulk(
                        live[cx.random_below(count) as usize].to_bytes(),
                    ));
                }
            }
        }
        let live = || ks.entries().filter(|(_, entry)| !entry.is_expired(now_ms));
        let count = live().count() as u64;
        if count == 0 {
            return Ok(Reply::Nil);
        }
        let index = cx.random_below(count) as usize;
        Ok(live()
            .nth(index)
            .map_or(Reply::Nil, |(slot, _)| Reply::Bulk(slot.key.to_bytes())))
    }
}

// ---- EXPIRETIME / PEXPIRETIME ----

/// Absolute expiry in ms, or Err(-2) if absent / Err(-1) if persistent.
fn expiry_at_ms(ks: &Keyspace, key: &Bytes, now_ms: u64) -> Result<i64, i64> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Err(-2),
        Some(entry) if entry.expiry_ms == 0 => Err(-1),
        Some(entry) => Ok(i64::try_from(entry.expiry_ms).unwrap_or(i64::MAX)),
    }
}

/// `EXPIRETIME key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpireTime {
    pub key: Bytes,
}

impl ExpireTime {
    pub const SPEC: CommandSpec =
        CommandSpec::data("expiretime", 2, Group::Generic, ExpireTime::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "7.0.0",
                "Returns the expiration time of a key as a Unix timestamp.",
                &["key"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(ExpireTime { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(
            expiry_at_ms(ks, &self.key, cx.now_ms).map_or_else(
                |code| code,
                // Redis rounds to the nearest second, as TTL does.
                |ms| ms.saturating_add(500) / 1000,
            ),
        ))
    }
}

/// `PEXPIRETIME key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PExpireTime {
    pub key: Bytes,
}

impl PExpireTime {
    pub const SPEC: CommandSpec =
        CommandSpec::data("pexpiretime", 2, Group::Generic, PExpireTime::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "7.0.0",
                "Returns the expiration time of a key as a Unix milliseconds timestamp.",
                &["key"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(PExpireTime { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(Reply::Integer(
            expiry_at_ms(ks, &self.key, cx.now_ms).unwrap_or_else(|code| code),
        ))
    }
}

// ---- OBJECT ----

/// What OBJECT asks about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ObjectQuestion {
    Encoding { key: Bytes },
    Freq { key: Bytes },
    IdleTime { key: Bytes },
    RefCount { key: Bytes },
    Help,
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`, `OBJECT HELP`
///
/// ENCODING names the structure Tandem really stores the value in. Tandem does not switch
/// representation with size or content the way Redis does (listpack to hashtable, int or embstr
/// to raw), so each type has one answer at every size:
///
/// | type   | encoding        | structure                                                      |
/// |--------|-----------------|----------------------------------------------------------------|
/// | string | `raw`           | inline up to 23 bytes, else one buffer (no `int`, no `embstr`) |
/// | list   | `rrbtree`       | persistent RRB tree of element chunks                          |
/// | hash   | `btree`         | persistent B-trees: field to value, and insertion order        |
/// | set    | `indexedvector` | persistent vector of members plus a B-tree index into it       |
/// | zset   | `countedbtree`  | persistent order-statistic B+ trees by member and by score     |
///
/// REFCOUNT is always 1: a value is never shared between keys the way Redis shares small
/// integers (a COPY or a snapshot shares tree nodes, invisibly). FREQ and IDLETIME need an
/// access counter or clock per key, which Tandem does not keep (it never evicts); FREQ answers
/// Redis's own error for a server without an LFU policy, IDLETIME a similar one. A key that
/// does not exist is a nil reply to every question, as in Redis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub question: ObjectQuestion,
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the structure Tandem stores the value of <key> in: raw (string),",
    "    rrbtree (list), btree (hash), indexedvector (set), countedbtree (sorted set).",
    "FREQ <key>",
    "    Not available: Tandem does not track access frequency.",
    "IDLETIME <key>",
    "    Not available: Tandem does not track access time.",
    "REFCOUNT <key>",
    "    Return the number of references of the value of <key> (always 1).",
    "HELP",
    "    Prints this help.",
];

impl Object {
    pub const SPEC: CommandSpec = CommandSpec::data("object", -2, Group::Generic, Object::parse)
        .flags(READ)
        .keys(KeySpec::range(2, 2, 1))
        .docs(
            "2.2.3",
            "Object introspection: ENCODING key, REFCOUNT key, FREQ key and IDLETIME key (not tracked by Tandem), HELP.",
            &["ENCODING|FREQ|IDLETIME|REFCOUNT|HELP", "[key]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1).to_ascii_lowercase();
        let (arity, subcommand) = match sub.as_slice() {
            b"encoding" => (3, "object|encoding"),
            b"freq" => (3, "object|freq"),
            b"idletime" => (3, "object|idletime"),
            b"refcount" => (3, "object|refcount"),
            b"help" => (2, "object|help"),
            _ => {
                return Err(CommandError::UnknownSubcommand {
                    command: "OBJECT",
                    subcommand: String::from_utf8_lossy(args.at(1)).into_owned(),
                })
            }
        };
        if args.len() != arity {
            return Err(CommandError::WrongArity {
                command: subcommand,
            });
        }
        let question = match sub.as_slice() {
            b"encoding" => ObjectQuestion::Encoding { key: args.key(2) },
            b"freq" => ObjectQuestion::Freq { key: args.key(2) },
            b"idletime" => ObjectQuestion::IdleTime { key: args.key(2) },
            b"refcount" => ObjectQuestion::RefCount { key: args.key(2) },
            _ => ObjectQuestion::Help,
        };
        Ok(Object { question }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let live = |key: &Bytes| ks.live(&Slot::new(key.clone()), cx.now_ms);
        Ok(match &self.question {
            ObjectQuestion::Help => Reply::Array(
                OBJECT_HELP
                    .iter()
                    .map(|line| Reply::Simple((*line).into()))
                    .collect(),
            ),
            ObjectQuestion::Encoding { key } => live(key).map_or(Reply::Nil, |entry| {
                Reply::Bulk(Bytes::from_static(encoding(&entry.value)))
            }),
            ObjectQuestion::RefCount { key } => live(key).map_or(Reply::Nil, |_| Reply::Integer(1)),
            ObjectQuestion::Freq { key } => match live(key) {
                None => Reply::Nil,
                Some(_) => return Err(CommandError::AccessFrequencyNotTracked),
            },
            ObjectQuestion::IdleTime { key } => match live(key) {
                None => Reply::Nil,
                Some(_) => return Err(CommandError::AccessTimeNotTracked),
            },
        })
    }
}

/// OBJECT ENCODING's name for the structure `value` is stored in (see [`Object`]).
fn encoding(value: &Value) -> &'static [u8] {
    match value {
        Value::String(_) => b"raw",
        Value::List(_) => b"rrbtree",
        Value::Hash(hash) if hash.is_small() => b"listpack",
        Value::Hash(_) => b"hashtable",
        Value::Set(_) => b"indexedvector",
        Value::ZSet(_) => b"countedbtree",
        Value::Stream(_) => b"stream",
    }
}

#[cfg(test)]
mod tests;
