//! The typed command model: one `Command` variant per Redis command, parsed
//! from RESP arguments, applied to (or read from) the keyspace, answered
//! with a `Reply`. Invariant: parsing is pure and rejects with Redis 7's exact
//! error; applying depends only on (keyspace, command, `now_ms`).

mod error;
mod hashes;
mod keys;
mod reply;
mod strings;
pub(crate) mod txn;
mod zsets;

use bytes::Bytes;

use crate::keyspace::{Entry, HashValue, Keyspace, Slot, Value, ZSet};

pub use crate::keyspace::{KeyVersion, ScoreBound};
pub use error::{CommandError, STRING_BYTES_MAX};
pub use reply::{format_double, Reply};
pub use txn::Transaction;

/// SET's NX / XX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetCondition {
    Always,
    /// NX: only if the key does not exist.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
}

/// SET's expiry options, already converted to milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// EXPIRE-family NX / XX / GT / LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// ZADD's NX / XX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ZAddCondition {
    Always,
    /// NX: only add new members.
    IfAbsent,
    /// XX: only update existing members.
    IfPresent,
}

/// ZADD's GT / LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ZAddComparison {
    Any,
    /// GT: update only when the new score is greater.
    Greater,
    /// LT: update only when the new score is less.
    Less,
}

/// Traversal direction of a range (REV).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Order {
    Forward,
    Reverse,
}

/// What a ZRANGE selects: ranks (the default) or scores (BYSCORE).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum ZRangeBy {
    /// Inclusive 0-based ranks; negative counts from the end.
    Rank { start: i64, stop: i64 },
    /// Lowest and highest score, whatever order they were written in (REV
    /// takes `max min`; parsing normalises).
    Score { min: ScoreBound, max: ScoreBound },
}

/// LIMIT offset count (count < 0 means "all").
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    pub offset: i64,
    pub count: i64,
}

/// A parsed ZRANGE / ZRANGEBYSCORE.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ZRangeSpec {
    pub key: Bytes,
    pub by: ZRangeBy,
    pub order: Order,
    pub limit: Option<Limit>,
    pub with_scores: bool,
}

/// One Redis command with typed arguments.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Command {
    // strings
    Get {
        key: Bytes,
    },
    Set {
        key: Bytes,
        value: Bytes,
        condition: SetCondition,
        expiry: SetExpiry,
        /// GET: reply with the previous value.
        return_old: bool,
    },
    SetNx {
        key: Bytes,
        value: Bytes,
    },
    GetSet {
        key: Bytes,
        value: Bytes,
    },
    GetDel {
        key: Bytes,
    },
    MGet {
        keys: Vec<Bytes>,
    },
    MSet {
        pairs: Vec<(Bytes, Bytes)>,
    },
    MSetNx {
        pairs: Vec<(Bytes, Bytes)>,
    },
    Append {
        key: Bytes,
        value: Bytes,
    },
    StrLen {
        key: Bytes,
    },
    Incr {
        key: Bytes,
    },
    Decr {
        key: Bytes,
    },
    IncrBy {
        key: Bytes,
        delta: i64,
    },
    DecrBy {
        key: Bytes,
        delta: i64,
    },
    // keys
    Del {
        keys: Vec<Bytes>,
    },
    Exists {
        keys: Vec<Bytes>,
    },
    Type {
        key: Bytes,
    },
    Expire {
        key: Bytes,
        seconds: i64,
        condition: ExpireCondition,
    },
    PExpire {
        key: Bytes,
        milliseconds: i64,
        condition: ExpireCondition,
    },
    ExpireAt {
        key: Bytes,
        unix_seconds: i64,
        condition: ExpireCondition,
    },
    PExpireAt {
        key: Bytes,
        unix_ms: i64,
        condition: ExpireCondition,
    },
    Ttl {
        key: Bytes,
    },
    PTtl {
        key: Bytes,
    },
    Persist {
        key: Bytes,
    },
    Rename {
        source: Bytes,
        target: Bytes,
    },
    Keys {
        pattern: Bytes,
    },
    Scan {
        cursor: u64,
        pattern: Option<Bytes>,
        count: u64,
        type_name: Option<Bytes>,
    },
    DbSize,
    FlushDb,
    FlushAll,
    // hashes
    HSet {
        key: Bytes,
        pairs: Vec<(Bytes, Bytes)>,
    },
    HMSet {
        key: Bytes,
        pairs: Vec<(Bytes, Bytes)>,
    },
    HSetNx {
        key: Bytes,
        field: Bytes,
        value: Bytes,
    },
    HGet {
        key: Bytes,
        field: Bytes,
    },
    HMGet {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HDel {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    HGetAll {
        key: Bytes,
    },
    HIncrBy {
        key: Bytes,
        field: Bytes,
        delta: i64,
    },
    HLen {
        key: Bytes,
    },
    HExists {
        key: Bytes,
        field: Bytes,
    },
    HKeys {
        key: Bytes,
    },
    HVals {
        key: Bytes,
    },
    // sorted sets
    ZAdd {
        key: Bytes,
        condition: ZAddCondition,
        comparison: ZAddComparison,
        /// CH: count changed members, not only added ones.
        count_changed: bool,
        /// INCR: behave like ZINCRBY (exactly one pair).
        incr: bool,
        pairs: Vec<(f64, Bytes)>,
    },
    ZRem {
        key: Bytes,
        members: Vec<Bytes>,
    },
    ZScore {
        key: Bytes,
        member: Bytes,
    },
    ZIncrBy {
        key: Bytes,
        increment: f64,
        member: Bytes,
    },
    ZCard {
        key: Bytes,
    },
    ZRank {
        key: Bytes,
        member: Bytes,
    },
    ZRange(ZRangeSpec),
    ZRangeByScore(ZRangeSpec),
    ZPopMin {
        key: Bytes,
        count: Option<u64>,
    },
    ZPopMax {
        key: Bytes,
        count: Option<u64>,
    },
}

impl Command {
    /// `args[0]` is the command name (case-insensitive); the rest are its
    /// arguments, exactly as they arrive in a RESP array.
    pub fn parse(args: &[Bytes]) -> Result<Command, CommandError> {
        let Some(name) = args.first() else {
            return Err(CommandError::unknown_command(args));
        };
        let lower = name.to_ascii_lowercase();
        let Some(spec) = SPECS.iter().find(|spec| spec.name.as_bytes() == lower) else {
            return Err(CommandError::unknown_command(args));
        };
        let arity_ok = if spec.arity >= 0 {
            args.len() == spec.arity as usize
        } else {
            args.len() >= spec.arity.unsigned_abs() as usize
        };
        if !arity_ok {
            return Err(CommandError::WrongArity { command: spec.name });
        }
        (spec.parse)(Args {
            name: spec.name,
            args,
        })
    }

    /// True if the command must go through the log.
    pub fn is_write(&self) -> bool {
        use Command::*;
        matches!(
            self,
            Set { .. }
                | SetNx { .. }
                | GetSet { .. }
                | GetDel { .. }
                | MSet { .. }
                | MSetNx { .. }
                | Append { .. }
                | Incr { .. }
                | Decr { .. }
                | IncrBy { .. }
                | DecrBy { .. }
                | Del { .. }
                | Expire { .. }
                | PExpire { .. }
                | ExpireAt { .. }
                | PExpireAt { .. }
                | Persist { .. }
                | Rename { .. }
                | FlushDb
                | FlushAll
                | HSet { .. }
                | HMSet { .. }
                | HSetNx { .. }
                | HDel { .. }
                | HIncrBy { .. }
                | ZAdd { .. }
                | ZRem { .. }
                | ZIncrBy { .. }
                | ZPopMin { .. }
                | ZPopMax { .. }
        )
    }

    /// True for reads whose cost grows with the data (whole hashes, ranges, key scans):
    /// they run on a snapshot of the keyspace instead of under its lock.
    pub fn may_read_many(&self) -> bool {
        use Command::*;
        match self {
            Keys { .. } | Scan { .. } | HGetAll { .. } | HKeys { .. } | HVals { .. } => true,
            ZRange(_) | ZRangeByScore(_) => true,
            MGet { keys } | Exists { keys } => keys.len() > MANY_KEYS,
            _ => false,
        }
    }

    /// Lowercase Redis name, e.g. "zrangebyscore".
    pub fn name(&self) -> &'static str {
        use Command::*;
        match self {
            Get { .. } => "get",
            Set { .. } => "set",
            SetNx { .. } => "setnx",
            GetSet { .. } => "getset",
            GetDel { .. } => "getdel",
            MGet { .. } => "mget",
            MSet { .. } => "mset",
            MSetNx { .. } => "msetnx",
            Append { .. } => "append",
            StrLen { .. } => "strlen",
            Incr { .. } => "incr",
            Decr { .. } => "decr",
            IncrBy { .. } => "incrby",
            DecrBy { .. } => "decrby",
            Del { .. } => "del",
            Exists { .. } => "exists",
            Type { .. } => "type",
            Expire { .. } => "expire",
            PExpire { .. } => "pexpire",
            ExpireAt { .. } => "expireat",
            PExpireAt { .. } => "pexpireat",
            Ttl { .. } => "ttl",
            PTtl { .. } => "pttl",
            Persist { .. } => "persist",
            Rename { .. } => "rename",
            Keys { .. } => "keys",
            Scan { .. } => "scan",
            DbSize => "dbsize",
            FlushDb => "flushdb",
            FlushAll => "flushall",
            HSet { .. } => "hset",
            HMSet { .. } => "hmset",
            HSetNx { .. } => "hsetnx",
            HGet { .. } => "hget",
            HMGet { .. } => "hmget",
            HDel { .. } => "hdel",
            HGetAll { .. } => "hgetall",
            HIncrBy { .. } => "hincrby",
            HLen { .. } => "hlen",
            HExists { .. } => "hexists",
            HKeys { .. } => "hkeys",
            HVals { .. } => "hvals",
            ZAdd { .. } => "zadd",
            ZRem { .. } => "zrem",
            ZScore { .. } => "zscore",
            ZIncrBy { .. } => "zincrby",
            ZCard { .. } => "zcard",
            ZRank { .. } => "zrank",
            ZRange(_) => "zrange",
            ZRangeByScore(_) => "zrangebyscore",
            ZPopMin { .. } => "zpopmin",
            ZPopMax { .. } => "zpopmax",
        }
    }

    /// The keys the command touches, in argument order (for WATCH/routing).
    /// KEYS, SCAN, DBSIZE and the FLUSH commands name no key.
    pub fn keys(&self) -> Vec<Bytes> {
        use Command::*;
        match self {
            Get { key }
            | Set { key, .. }
            | SetNx { key, .. }
            | GetSet { key, .. }
            | GetDel { key }
            | Append { key, .. }
            | StrLen { key }
            | Incr { key }
            | Decr { key }
            | IncrBy { key, .. }
            | DecrBy { key, .. }
            | Type { key }
            | Expire { key, .. }
            | PExpire { key, .. }
            | ExpireAt { key, .. }
            | PExpireAt { key, .. }
            | Ttl { key }
            | PTtl { key }
            | Persist { key }
            | HSet { key, .. }
            | HMSet { key, .. }
            | HSetNx { key, .. }
            | HGet { key, .. }
            | HMGet { key, .. }
            | HDel { key, .. }
            | HGetAll { key }
            | HIncrBy { key, .. }
            | HLen { key }
            | HExists { key, .. }
            | HKeys { key }
            | HVals { key }
            | ZAdd { key, .. }
            | ZRem { key, .. }
            | ZScore { key, .. }
            | ZIncrBy { key, .. }
            | ZCard { key }
            | ZRank { key, .. }
            | ZPopMin { key, .. }
            | ZPopMax { key, .. } => vec![key.clone()],
            ZRange(spec) | ZRangeByScore(spec) => vec![spec.key.clone()],
            MGet { keys } | Del { keys } | Exists { keys } => keys.clone(),
            MSet { pairs } | MSetNx { pairs } => pairs.iter().map(|(k, _)| k.clone()).collect(),
            Rename { source, target } => vec![source.clone(), target.clone()],
            Keys { .. } | Scan { .. } | DbSize | FlushDb | FlushAll => Vec::new(),
        }
    }

    fn family(&self) -> Family {
        use Command::*;
        match self {
            Get { .. }
            | Set { .. }
            | SetNx { .. }
            | GetSet { .. }
            | GetDel { .. }
            | MGet { .. }
            | MSet { .. }
            | MSetNx { .. }
            | Append { .. }
            | StrLen { .. }
            | Incr { .. }
            | Decr { .. }
            | IncrBy { .. }
            | DecrBy { .. } => Family::Strings,
            Del { .. }
            | Exists { .. }
            | Type { .. }
            | Expire { .. }
            | PExpire { .. }
            | ExpireAt { .. }
            | PExpireAt { .. }
            | Ttl { .. }
            | PTtl { .. }
            | Persist { .. }
            | Rename { .. }
            | Keys { .. }
            | Scan { .. }
            | DbSize
            | FlushDb
            | FlushAll => Family::Keys,
            HSet { .. }
            | HMSet { .. }
            | HSetNx { .. }
            | HGet { .. }
            | HMGet { .. }
            | HDel { .. }
            | HGetAll { .. }
            | HIncrBy { .. }
            | HLen { .. }
            | HExists { .. }
            | HKeys { .. }
            | HVals { .. } => Family::Hashes,
            ZAdd { .. }
            | ZRem { .. }
            | ZScore { .. }
            | ZIncrBy { .. }
            | ZCard { .. }
            | ZRank { .. }
            | ZRange(_)
            | ZRangeByScore(_)
            | ZPopMin { .. }
            | ZPopMax { .. } => Family::ZSets,
        }
    }
}

enum Family {
    Strings,
    Keys,
    Hashes,
    ZSets,
}

/// Apply any command (reads are answered without mutating).
pub(crate) fn apply(ks: &mut Keyspace, cmd: &Command, now_ms: u64) -> Reply {
    if !cmd.is_write() {
        return read(ks, cmd, now_ms);
    }
    let result = match cmd.family() {
        Family::Strings => strings::apply(ks, cmd, now_ms),
        Family::Keys => keys::apply(ks, cmd, now_ms),
        Family::Hashes => hashes::apply(ks, cmd, now_ms),
        Family::ZSets => zsets::apply(ks, cmd, now_ms),
    };
    result.unwrap_or_else(|error| error.to_reply())
}

/// Answer a read-only command.
pub(crate) fn read(ks: &Keyspace, cmd: &Command, now_ms: u64) -> Reply {
    if cmd.is_write() {
        // Release builds answer instead of mutating through a shared borrow.
        return Reply::Error(format!(
            "ERR internal: '{}' is a write and must be applied",
            cmd.name()
        ));
    }
    let result = match cmd.family() {
        Family::Strings => strings::read(ks, cmd, now_ms),
        Family::Keys => keys::read(ks, cmd, now_ms),
        Family::Hashes => hashes::read(ks, cmd, now_ms),
        Family::ZSets => zsets::read(ks, cmd, now_ms),
    };
    result.unwrap_or_else(|error| error.to_reply())
}

// ---- command table ----

struct Spec {
    name: &'static str,
    /// Redis arity: N means exactly N arguments including the name, -N at least N.
    arity: i32,
    parse: fn(Args<'_>) -> Result<Command, CommandError>,
}

/// Above this many keys, MGET and EXISTS read from a snapshot (see `may_read_many`).
const MANY_KEYS: usize = 64;

const SPECS: &[Spec] = &[
    Spec {
        name: "get",
        arity: 2,
        parse: strings::parse_get,
    },
    Spec {
        name: "set",
        arity: -3,
        parse: strings::parse_set,
    },
    Spec {
        name: "setnx",
        arity: 3,
        parse: strings::parse_setnx,
    },
    Spec {
        name: "getset",
        arity: 3,
        parse: strings::parse_getset,
    },
    Spec {
        name: "getdel",
        arity: 2,
        parse: strings::parse_getdel,
    },
    Spec {
        name: "mget",
        arity: -2,
        parse: strings::parse_mget,
    },
    Spec {
        name: "mset",
        arity: -3,
        parse: strings::parse_mset,
    },
    Spec {
        name: "msetnx",
        arity: -3,
        parse: strings::parse_msetnx,
    },
    Spec {
        name: "append",
        arity: 3,
        parse: strings::parse_append,
    },
    Spec {
        name: "strlen",
        arity: 2,
        parse: strings::parse_strlen,
    },
    Spec {
        name: "incr",
        arity: 2,
        parse: strings::parse_incr,
    },
    Spec {
        name: "decr",
        arity: 2,
        parse: strings::parse_decr,
    },
    Spec {
        name: "incrby",
        arity: 3,
        parse: strings::parse_incrby,
    },
    Spec {
        name: "decrby",
        arity: 3,
        parse: strings::parse_decrby,
    },
    Spec {
        name: "del",
        arity: -2,
        parse: keys::parse_del,
    },
    Spec {
        name: "exists",
        arity: -2,
        parse: keys::parse_exists,
    },
    Spec {
        name: "type",
        arity: 2,
        parse: keys::parse_type,
    },
    Spec {
        name: "expire",
        arity: -3,
        parse: keys::parse_expire,
    },
    Spec {
        name: "pexpire",
        arity: -3,
        parse: keys::parse_pexpire,
    },
    Spec {
        name: "expireat",
        arity: -3,
        parse: keys::parse_expireat,
    },
    Spec {
        name: "pexpireat",
        arity: -3,
        parse: keys::parse_pexpireat,
    },
    Spec {
        name: "ttl",
        arity: 2,
        parse: keys::parse_ttl,
    },
    Spec {
        name: "pttl",
        arity: 2,
        parse: keys::parse_pttl,
    },
    Spec {
        name: "persist",
        arity: 2,
        parse: keys::parse_persist,
    },
    Spec {
        name: "rename",
        arity: 3,
        parse: keys::parse_rename,
    },
    Spec {
        name: "keys",
        arity: 2,
        parse: keys::parse_keys,
    },
    Spec {
        name: "scan",
        arity: -2,
        parse: keys::parse_scan,
    },
    Spec {
        name: "dbsize",
        arity: 1,
        parse: keys::parse_dbsize,
    },
    Spec {
        name: "flushdb",
        arity: -1,
        parse: keys::parse_flushdb,
    },
    Spec {
        name: "flushall",
        arity: -1,
        parse: keys::parse_flushall,
    },
    Spec {
        name: "hset",
        arity: -4,
        parse: hashes::parse_hset,
    },
    Spec {
        name: "hmset",
        arity: -4,
        parse: hashes::parse_hmset,
    },
    Spec {
        name: "hsetnx",
        arity: 4,
        parse: hashes::parse_hsetnx,
    },
    Spec {
        name: "hget",
        arity: 3,
        parse: hashes::parse_hget,
    },
    Spec {
        name: "hmget",
        arity: -3,
        parse: hashes::parse_hmget,
    },
    Spec {
        name: "hdel",
        arity: -3,
        parse: hashes::parse_hdel,
    },
    Spec {
        name: "hgetall",
        arity: 2,
        parse: hashes::parse_hgetall,
    },
    Spec {
        name: "hincrby",
        arity: 4,
        parse: hashes::parse_hincrby,
    },
    Spec {
        name: "hlen",
        arity: 2,
        parse: hashes::parse_hlen,
    },
    Spec {
        name: "hexists",
        arity: 3,
        parse: hashes::parse_hexists,
    },
    Spec {
        name: "hkeys",
        arity: 2,
        parse: hashes::parse_hkeys,
    },
    Spec {
        name: "hvals",
        arity: 2,
        parse: hashes::parse_hvals,
    },
    Spec {
        name: "zadd",
        arity: -4,
        parse: zsets::parse_zadd,
    },
    Spec {
        name: "zrem",
        arity: -3,
        parse: zsets::parse_zrem,
    },
    Spec {
        name: "zscore",
        arity: 3,
        parse: zsets::parse_zscore,
    },
    Spec {
        name: "zincrby",
        arity: 4,
        parse: zsets::parse_zincrby,
    },
    Spec {
        name: "zcard",
        arity: 2,
        parse: zsets::parse_zcard,
    },
    Spec {
        name: "zrank",
        arity: 3,
        parse: zsets::parse_zrank,
    },
    Spec {
        name: "zrange",
        arity: -4,
        parse: zsets::parse_zrange,
    },
    Spec {
        name: "zrangebyscore",
        arity: -4,
        parse: zsets::parse_zrangebyscore,
    },
    Spec {
        name: "zpopmin",
        arity: -2,
        parse: zsets::parse_zpopmin,
    },
    Spec {
        name: "zpopmax",
        arity: -2,
        parse: zsets::parse_zpopmax,
    },
];

// ---- argument helpers shared by the families ----

/// A command's arguments after the arity check. `args[0]` is the name.
#[derive(Clone, Copy)]
pub(crate) struct Args<'a> {
    name: &'static str,
    args: &'a [Bytes],
}

impl<'a> Args<'a> {
    fn len(&self) -> usize {
        self.args.len()
    }

    fn at(&self, index: usize) -> &'a Bytes {
        &self.args[index]
    }

    fn key(&self, index: usize) -> Bytes {
        self.args[index].clone()
    }

    fn from(&self, index: usize) -> &'a [Bytes] {
        &self.args[index..]
    }

    fn arity_error(&self) -> CommandError {
        CommandError::WrongArity { command: self.name }
    }
}

/// Case-insensitive option name comparison.
fn is_option(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

/// Redis's strict `string2ll`: optional '-', no '+', no leading zeros, no
/// spaces, at most 20 bytes, within i64.
pub(crate) fn parse_i64_strict(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        if magnitude == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn parse_i64(bytes: &[u8]) -> Result<i64, CommandError> {
    parse_i64_strict(bytes).ok_or(CommandError::NotInteger)
}

/// Redis's `getDoubleFromObject` (strtod with checks): no leading space, the
/// whole string consumed, no NaN, no overflow to ±inf or underflow to 0 from
/// a finite literal. Hexadecimal floats are not accepted (see module docs).
pub(crate) fn parse_f64_strict(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let value = parse_c_float(text)?;
    if value.is_nan() {
        return None;
    }
    Some(value)
}

/// strtod-like parse of a full string: decimal notation, inf/infinity with
/// optional sign; rejects NaN literals. Returns None for out-of-range finite
/// literals, as Redis reports ERANGE for them.
fn parse_c_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let is_inf_literal =
        unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    if !is_inf_literal
        && !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if value.is_infinite() && !is_inf_literal {
        return None; // overflow
    }
    if value == 0.0 {
        let mantissa = unsigned.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            return None; // underflow
        }
    }
    Some(value)
}

fn parse_f64(bytes: &[u8]) -> Result<f64, CommandError> {
    parse_f64_strict(bytes).ok_or(CommandError::NotFloat)
}

// ---- typed lookups shared by the families ----

/// The live string at `slot`, `Ok(None)` if absent, WRONGTYPE otherwise.
fn string_at<'a>(
    ks: &'a Keyspace,
    slot: &Slot,
    now_ms: u64,
) -> Result<Option<&'a Bytes>, CommandError> {
    match ks.live(slot, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::String(value),
            ..
        }) => Ok(Some(value)),
        Some(_) => Err(CommandError::WrongType),
    }
}

fn hash_at<'a>(
    ks: &'a Keyspace,
    slot: &Slot,
    now_ms: u64,
) -> Result<Option<&'a HashValue>, CommandError> {
    match ks.live(slot, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Hash(hash),
            ..
        }) => Ok(Some(hash)),
        Some(_) => Err(CommandError::WrongType),
    }
}

fn zset_at<'a>(
    ks: &'a Keyspace,
    slot: &Slot,
    now_ms: u64,
) -> Result<Option<&'a ZSet>, CommandError> {
    match ks.live(slot, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::ZSet(zset),
            ..
        }) => Ok(Some(zset)),
        Some(_) => Err(CommandError::WrongType),
    }
}

fn bulk_or_nil(value: Option<&Bytes>) -> Reply {
    value.map_or(Reply::Nil, Reply::bulk)
}

/// Splits `args` into (a, b) pairs; the caller has checked the count is even.
fn pairs(args: &[Bytes]) -> Vec<(Bytes, Bytes)> {
    args.chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

#[cfg(test)]
mod tests;
