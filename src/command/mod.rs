//! The command registry and the typed command model: one [`CommandSpec`] per Redis command,
//! declared next to its implementation in its family's file (`strings`, `keys`, `hashes`,
//! `zsets`, ...; the commands the server answers itself are declared in [`table`], the table of
//! every command), and one `Command` variant holding its parsed arguments. A command is parsed
//! from RESP arguments (or built by the embedded API), applied to the keyspace through the log
//! if it writes, or read from the keyspace if it does not, and answered with a [`Reply`].
//!
//! Invariants: parsing is pure and rejects with Redis 7's exact error; applying depends only on
//! (keyspace, command, [`Cx`]), so every replica computes the same state and reply; and the
//! variants of [`Command`] are append-only, because a variant's position is its tag in the log.

pub(crate) mod acl;
mod bitmaps;
mod blocking;
mod context;
mod error;
mod hashes;
mod keys;
mod lists;
mod memory;
pub mod notify;
mod registry;
mod reply;
mod scripting;
mod sets;
mod sort;
mod spec;
mod streams;
mod strings;
pub mod table;
pub(crate) mod txn;
mod zsets;

use bytes::Bytes;

use crate::keyspace::{CompactBytes, Entry, HashValue, Keyspace, Slot, Value, ZSet};

pub use crate::keyspace::ListEnd;
pub use crate::keyspace::{KeyVersion, ScoreBound, ScoreEnd, WaiterId};
pub(crate) use blocking::{cancel_wait, end_stale_waits, serve_blocked};
pub use blocking::{
    BLMPop, BLMove, BLPop, BRPop, BRPopLPush, BZMPop, BZPopMax, BZPopMin, ListWait,
};
pub use context::{Caller, CallerCheck, Cx, Denial, Limits, ScriptCall, UnblockOutcome, Unblocked};
pub use error::{CommandError, STRING_BYTES_MAX};
pub use registry::Registry;
pub use reply::{format_double, format_general, Reply};
pub(crate) use spec::Handler;
pub use spec::{numkeys_positions, Categories, CommandSpec, FindKeys, Flags, Group, KeySpec};
pub use table::REDIS_VERSION;
pub use txn::Transaction;

pub use bitmaps::{
    BitCount, BitField, BitFieldRo, BitOp, BitOperation, BitPos, BitPosRange, BitRange, BitUnit,
    FieldOp, FieldType, GetBit, Overflow, SetBit,
};
pub use hashes::{
    HDel, HExists, HGet, HGetAll, HIncrBy, HKeys, HLen, HMGet, HMSet, HSet, HSetNx, HVals,
};
pub use hashes::{
    HIncrByFloat, HRandField, HScan, HScanOptions, HStrLen, RandomCount, HRANDFIELD_REPEATS_MAX,
    HSCAN_WHOLE_FIELDS_MAX,
};
pub use keys::{
    CopyKey, DbSize, Del, Exists, Expire, ExpireAt, ExpireCondition, ExpireTime, FlushAll, FlushDb,
    Keys, Object, ObjectQuestion, PExpire, PExpireAt, PExpireTime, PTtl, Persist, RandomKey,
    Rename, RenameNx, Scan, Touch, Ttl, Type, Unlink,
};
pub use lists::{
    InsertSide, LIndex, LInsert, LLen, LMPop, LMove, LPop, LPos, LPush, LPushX, LRange, LRem, LSet,
    LTrim, RPop, RPopLPush, RPush, RPushX,
};
pub use memory::{Memory, MemoryQuestion};
pub use scripting::{
    function_stats_reply, refused_over_maxmemory, refused_without_replicas, run_outside_log,
    script_kind, Eval, EvalRo, EvalSha, EvalShaRo, FCall, FCallRo, Function, FunctionRequest,
    KillOutcome, LocalRun, RestorePolicy, RunGuard, RunMode, RunningScript, RunningScripts, Script,
    ScriptKind, ScriptRequest, SCRIPT_INSTRUCTIONS_MAX,
};
pub use sets::{
    SAdd, SCard, SDiff, SDiffStore, SInter, SInterCard, SInterStore, SIsMember, SMIsMember,
    SMembers, SMove, SPop, SRandMember, SRem, SScan, SUnion, SUnionStore, ScanOptionError,
};
pub use sort::{SortBy, SortCompare, SortLimit, SortOptions, SortOrder, SortRead, SortStore};
pub use streams::{
    AddId, ClaimTime, PendingRange, ReadFrom, Trim, TrimBy, XAck, XAdd, XAutoClaim, XClaim, XDel,
    XGroup, XGroupOp, XInfo, XInfoQuestion, XLen, XPending, XRange, XRead, XReadGroup, XRevRange,
    XSetId, XTrim,
};
pub use strings::{
    Append, Decr, DecrBy, Get, GetDel, GetSet, Incr, IncrBy, MGet, MSet, MSetNx, Set, SetCondition,
    SetExpiry, SetNx, StrLen,
};
pub use strings::{
    ArgError, GetEx, GetExExpiry, GetRange, IncrByFloat, Lcs, LcsOptions, LcsOutput, LongDouble,
    PSetEx, SetEx, SetRange, SubStr, LCS_CELLS_MAX,
};
pub use zsets::{
    Aggregate, LexBound, Limit, OptionError, Order, ZAdd, ZAddComparison, ZAddCondition, ZCard,
    ZCount, ZDiff, ZDiffStore, ZIncrBy, ZInter, ZInterCard, ZInterStore, ZLexCount, ZMPop, ZMScore,
    ZPopMax, ZPopMin, ZRandMember, ZRange, ZRangeBy, ZRangeByLex, ZRangeByScore, ZRangeSpec,
    ZRangeStore, ZRank, ZRem, ZRemRangeByLex, ZRemRangeByRank, ZRemRangeByScore, ZRevRange,
    ZRevRangeByLex, ZRevRangeByScore, ZRevRank, ZScan, ZScore, ZSetOpArgs, ZUnion, ZUnionStore,
    ZRANDMEMBER_REPEATS_MAX,
};

/// Declares [`Command`] from the list of command types: each `Variant(family) kind` names the
/// type `family::Variant`, whose `SPEC` describes it and whose `apply` (kind `write`) or `read`
/// (kind `read`) runs it; kind `read_or_wait` is a read that may block, with both (`apply` in
/// the log). Generates the enum, the spec lookup, the run dispatch and the list of
/// data specs the registry is built from.
macro_rules! commands {
    ($( $variant:ident($family:ident) $kind:ident, )*) => {
        /// One Redis data command with typed arguments. Variants are append-only: a variant's
        /// position is its tag in the log, so new commands go at the end.
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum Command {
            $( $variant($family::$variant), )*
        }

        $(
            impl From<$family::$variant> for Command {
                fn from(command: $family::$variant) -> Command {
                    Command::$variant(command)
                }
            }
        )*

        impl Command {
            /// This command's spec: name, arity, flags, keys, docs.
            pub fn spec(&self) -> &'static CommandSpec {
                match self {
                    $( Command::$variant(_) => &$family::$variant::SPEC, )*
                }
            }

            /// Runs the command against `ks`: a write changes it, a read only looks.
            fn run_mut(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
                match self {
                    $( Command::$variant(command) => commands!(@mut $kind command ks cx), )*
                }
            }

            /// Runs a read; a write here is an internal error (it must go through the log).
            fn run_ref(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
                match self {
                    $( Command::$variant(command) => {
                        commands!(@ref $kind $family::$variant, command ks cx)
                    } )*
                }
            }
        }

        /// Every data command's spec, in declaration order.
        pub(crate) const DATA_SPECS: &[&CommandSpec] = &[ $( &$family::$variant::SPEC, )* ];

        /// (name, declared kind is write) per command, to check against the specs' flags.
        #[cfg(test)]
        const DECLARED_KINDS: &[(&str, bool)] = &[
            $( ($family::$variant::SPEC.name, commands!(@is_write $kind)), )*
        ];
    };
    (@mut write $command:ident $ks:ident $cx:ident) => { $command.apply($ks, $cx) };
    (@mut read $command:ident $ks:ident $cx:ident) => { $command.read($ks, $cx) };
    // A read that may block (XREAD BLOCK): in the log, its `apply` registers a waiter when
    // there is nothing to read; elsewhere it is an ordinary read.
    (@mut read_or_wait $command:ident $ks:ident $cx:ident) => { $command.apply($ks, $cx) };
    (@ref read_or_wait $ty:path, $command:ident $ks:ident $cx:ident) => { $command.read($ks, $cx) };
    (@is_write read_or_wait) => { false };
    (@ref write $ty:path, $command:ident $ks:ident $cx:ident) => {{
        let _ = ($command, $ks, $cx);
        Err(CommandError::internal(format!(
            "'{}' is a write and must be applied", <$ty>::SPEC.name
        )))
    }};
    (@ref read $ty:path, $command:ident $ks:ident $cx:ident) => { $command.read($ks, $cx) };
    (@is_write write) => { true };
    (@is_write read) => { false };
}

commands! {
    // strings
    Get(strings) read,
    Set(strings) write,
    SetNx(strings) write,
    GetSet(strings) write,
    GetDel(strings) write,
    MGet(strings) read,
    MSet(strings) write,
    MSetNx(strings) write,
    Append(strings) write,
    StrLen(strings) read,
    Incr(strings) write,
    Decr(strings) write,
    IncrBy(strings) write,
    DecrBy(strings) write,
    // keys
    Del(keys) write,
    Exists(keys) read,
    Type(keys) read,
    Expire(keys) write,
    PExpire(keys) write,
    ExpireAt(keys) write,
    PExpireAt(keys) write,
    Ttl(keys) read,
    PTtl(keys) read,
    Persist(keys) write,
    Rename(keys) write,
    Keys(keys) read,
    Scan(keys) read,
    DbSize(keys) read,
    FlushDb(keys) write,
    FlushAll(keys) write,
    // hashes
    HSet(hashes) write,
    HMSet(hashes) write,
    HSetNx(hashes) write,
    HGet(hashes) read,
    HMGet(hashes) read,
    HDel(hashes) write,
    HGetAll(hashes) read,
    HIncrBy(hashes) write,
    HLen(hashes) read,
    HExists(hashes) read,
    HKeys(hashes) read,
    HVals(hashes) read,
    // sorted sets
    ZAdd(zsets) write,
    ZRem(zsets) write,
    ZScore(zsets) read,
    ZIncrBy(zsets) write,
    ZCard(zsets) read,
    ZRank(zsets) read,
    ZRange(zsets) read,
    ZRangeByScore(zsets) read,
    ZPopMin(zsets) write,
    ZPopMax(zsets) write,
    // sets
    SAdd(sets) write,
    SRem(sets) write,
    SMembers(sets) read,
    SIsMember(sets) read,
    SMIsMember(sets) read,
    SCard(sets) read,
    SMove(sets) write,
    SPop(sets) write,
    SRandMember(sets) read,
    SInter(sets) read,
    SUnion(sets) read,
    SDiff(sets) read,
    SInterStore(sets) write,
    SUnionStore(sets) write,
    SDiffStore(sets) write,
    SInterCard(sets) read,
    SScan(sets) read,
    // lists
    LPush(lists) write,
    RPush(lists) write,
    LPushX(lists) write,
    RPushX(lists) write,
    LPop(lists) write,
    RPop(lists) write,
    LLen(lists) read,
    LRange(lists) read,
    LIndex(lists) read,
    LSet(lists) write,
    LInsert(lists) write,
    LRem(lists) write,
    LTrim(lists) write,
    LPos(lists) read,
    LMove(lists) write,
    RPopLPush(lists) write,
    LMPop(lists) write,
    // server introspection that reads the keyspace
    Memory(memory) read,
    // sorted sets (more)
    ZRangeByLex(zsets) read,
    ZRevRangeByLex(zsets) read,
    ZLexCount(zsets) read,
    ZRevRange(zsets) read,
    ZRevRangeByScore(zsets) read,
    ZRevRank(zsets) read,
    ZCount(zsets) read,
    ZMScore(zsets) read,
    ZRemRangeByScore(zsets) write,
    ZRemRangeByRank(zsets) write,
    ZRemRangeByLex(zsets) write,
    ZUnionStore(zsets) write,
    ZInterStore(zsets) write,
    ZDiffStore(zsets) write,
    ZUnion(zsets) read,
    ZInter(zsets) read,
    ZDiff(zsets) read,
    ZInterCard(zsets) read,
    ZRangeStore(zsets) write,
    ZRandMember(zsets) read,
    ZScan(zsets) read,
    ZMPop(zsets) write,
    // blocking pops
    BLPop(blocking) write,
    BRPop(blocking) write,
    BLMove(blocking) write,
    BRPopLPush(blocking) write,
    BLMPop(blocking) write,
    BZPopMin(blocking) write,
    BZPopMax(blocking) write,
    BZMPop(blocking) write,
    // strings (more)
    SetEx(strings) write,
    PSetEx(strings) write,
    GetEx(strings) write,
    GetRange(strings) read,
    SubStr(strings) read,
    SetRange(strings) write,
    IncrByFloat(strings) write,
    Lcs(strings) read,
    // bitmaps
    SetBit(bitmaps) write,
    GetBit(bitmaps) read,
    BitCount(bitmaps) read,
    BitPos(bitmaps) read,
    BitOp(bitmaps) write,
    BitField(bitmaps) write,
    BitFieldRo(bitmaps) read,
    // hashes (more)
    HIncrByFloat(hashes) write,
    HStrLen(hashes) read,
    HRandField(hashes) read,
    HScan(hashes) read,
    // keys (more)
    Unlink(keys) write,
    Touch(keys) read,
    CopyKey(keys) write,
    RenameNx(keys) write,
    RandomKey(keys) read,
    ExpireTime(keys) read,
    PExpireTime(keys) read,
    Object(keys) read,
    // sort
    SortStore(sort) write,
    SortRead(sort) read,
    // streams
    XAdd(streams) write,
    XLen(streams) read,
    XRange(streams) read,
    XRevRange(streams) read,
    XDel(streams) write,
    XTrim(streams) write,
    XSetId(streams) write,
    XRead(streams) read_or_wait,
    XGroup(streams) write,
    XReadGroup(streams) write,
    XAck(streams) write,
    XPending(streams) read,
    XClaim(streams) write,
    XAutoClaim(streams) write,
    XInfo(streams) read,
    // scripting
    Eval(scripting) write,
    EvalSha(scripting) write,
    EvalRo(scripting) read,
    EvalShaRo(scripting) read,
    Script(scripting) write,
    // functions
    Function(scripting) write,
    FCall(scripting) write,
    FCallRo(scripting) read,
}

/// The registry of data commands only (what [`Command::parse`] accepts).
static DATA_REGISTRY: std::sync::LazyLock<Registry> =
    std::sync::LazyLock::new(|| Registry::new(DATA_SPECS.iter().copied()));

/// The spec of the data command `name` (any case); `None` for the server's own commands
/// (PING, CLIENT, MULTI, ...), none of which writes the keyspace.
pub fn data_spec(name: &[u8]) -> Option<&'static CommandSpec> {
    DATA_REGISTRY.lookup(name)
}

/// Above this many keys, MGET and EXISTS read from a snapshot (see `may_read_many`).
const MANY_KEYS: usize = 64;

impl Command {
    /// `args[0]` is the command name (case-insensitive); the rest are its arguments, exactly
    /// as they arrive in a RESP array. Only data commands parse here; the server layer answers
    /// the others (PING, CLIENT, MULTI, ...).
    pub fn parse(args: &[Bytes]) -> Result<Command, CommandError> {
        let Some(name) = args.first() else {
            return Err(CommandError::unknown_command(args));
        };
        match DATA_REGISTRY.lookup(name) {
            Some(spec) => spec.parse(args),
            None => Err(CommandError::unknown_command(args)),
        }
    }

    /// True if the command must go through the log.
    pub fn is_write(&self) -> bool {
        self.spec().is_write()
    }

    /// Lowercase Redis name, e.g. "zrangebyscore".
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// True for reads whose cost grows with the data (whole collections, ranges, key scans):
    /// they run on a snapshot of the keyspace instead of under its lock.
    pub fn may_read_many(&self) -> bool {
        match self {
            Command::MGet(MGet { keys }) | Command::Exists(Exists { keys }) => {
                keys.len() > MANY_KEYS
            }
            Command::Memory(memory) => memory.reads_many(),
            _ => self.spec().flags.contains(Flags::READS_MANY),
        }
    }

    /// Applies the command at `cx` (a read is answered without changing anything). An error
    /// is the reply, as on the wire; the keyspace is unchanged by a command that fails.
    pub fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Reply {
        if cx.notifications_on() {
            return notify::apply_notifying(self, ks, cx);
        }
        self.run_mut(ks, cx)
            .unwrap_or_else(|error| error.to_reply())
    }

    /// Answers a read-only command. A write here is answered with an internal error instead
    /// of being applied.
    pub fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Reply {
        self.run_ref(ks, cx)
            .unwrap_or_else(|error| error.to_reply())
    }
}

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
) -> Result<Option<&'a CompactBytes>, CommandError> {
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

/// A stored string as a bulk reply, or nil.
fn string_or_nil(value: Option<&CompactBytes>) -> Reply {
    value.map_or(Reply::Nil, |value| Reply::Bulk(value.to_bytes()))
}

/// Splits `args` into (a, b) pairs; the caller has checked the count is even.
fn pairs(args: &[Bytes]) -> Vec<(Bytes, Bytes)> {
    args.chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

#[cfg(test)]
mod tests;
