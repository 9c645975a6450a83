//! Stream commands: XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID XREAD XGROUP XREADGROUP XACK
//! XPENDING XCLAIM XAUTOCLAIM XINFO.
//!
//! Invariants: every id a write invents comes from the log time (`cx.now_ms`), so replicas
//! agree; every change to a consumer group (XREADGROUP deliveries, XACK, XCLAIM, XAUTOCLAIM,
//! XGROUP) is a write and goes through the log; idle times shown by reads (XPENDING, XINFO)
//! are the reading node's clock minus the recorded log time. A stream is never removed by
//! emptying it (as in Redis). Trimming with `~` removes whole nodes of [`NODE_ENTRIES`]
//! entries, counted by a fixed rule (see keyspace/stream.rs), never depending on byte sizes.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::blocking::wait_or;
use super::notify::{self, KeyEvent};
use super::{
    is_option, parse_i64, parse_i64_strict, Args, Command, CommandError, CommandSpec, Cx, Flags,
    Group, KeySpec, Reply,
};
use crate::keyspace::{
    BlockedPop, ConsumerGroup, Entry, Keyspace, Slot, StreamFields, StreamId, StreamValue, Value,
    WaiterId,
};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM_FAST: Flags = Flags::WRITE.union(Flags::DENYOOM).union(Flags::FAST);

/// Entries per node for `~` trimming (Redis's default `stream-node-max-entries`).
pub const NODE_ENTRIES: u64 = 100;

// ---- keyspace events ----

/// Records the stream event `event` on `key` (class `t`).
fn event(cx: &mut Cx, key: &Bytes, event: &'static str) {
    if cx.notifications_on() {
        cx.notify(KeyEvent {
            class: notify::STREAM,
            event,
            key: key.clone(),
        });
    }
}

/// Records that `key` was created (class `n`), before the event of the write that created it.
fn new_key(cx: &mut Cx, key: &Bytes) {
    if cx.notifications_on() {
        cx.notify(KeyEvent {
            class: notify::NEW,
            event: "new",
            key: key.clone(),
        });
    }
}

// ---- errors ----

fn err(text: impl Into<String>) -> CommandError {
    CommandError::Stream(text.into())
}

fn invalid_id() -> CommandError {
    err("ERR Invalid stream ID specified as stream command argument")
}

fn no_group(key: &[u8], group: &[u8]) -> CommandError {
    err(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn no_such_group_for_key(key: &[u8], group: &[u8]) -> CommandError {
    err(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

// ---- ids ----

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `ms[-seq]`; a missing seq is `missing_seq`. `-` and `+` are MIN and MAX unless `strict`.
fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CommandError> {
    if !strict {
        if arg == b"-" {
            return Ok(StreamId::MIN);
        }
        if arg == b"+" {
            return Ok(StreamId::MAX);
        }
    }
    match arg.iter().position(|&b| b == b'-') {
        None => parse_u64(arg)
            .map(|ms| StreamId::new(ms, missing_seq))
            .ok_or_else(invalid_id),
        Some(at) => {
            let ms = parse_u64(&arg[..at]).ok_or_else(invalid_id)?;
            let seq = parse_u64(&arg[at + 1..]).ok_or_else(invalid_id)?;
            Ok(StreamId::new(ms, seq))
        }
    }
}

fn strict_id(arg: &[u8]) -> Result<StreamId, CommandError> {
    parse_id(arg, 0, true)
}

/// XRANGE's bounds: `-`, `+`, ids, and `(`-exclusive ids.
fn range_bound(arg: &[u8], is_start: bool) -> Result<Option<StreamId>, CommandError> {
    if let Some(rest) = arg.strip_prefix(b"(") {
        let which = if is_start { "start" } else { "end" };
        let bad = || err(format!("ERR invalid {which} ID for the interval"));
        if rest == b"-" || rest == b"+" {
            return Err(bad());
        }
        let id = parse_id(rest, if is_start { 0 } else { u64::MAX }, true)?;
        let moved = if is_start { id.next() } else { id.prev() };
        return moved.map(Some).ok_or_else(bad);
    }
    parse_id(arg, if is_start { 0 } else { u64::MAX }, false).map(Some)
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

fn entry_reply(id: StreamId, fields: &StreamFields) -> Reply {
    Reply::Array(vec![
        id_reply(id),
        Reply::Array(fields.iter().map(Reply::bulk).collect()),
    ])
}

fn entries_reply(entries: &[(StreamId, StreamFields)]) -> Reply {
    Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect())
}

// ---- shared access ----

fn stream_at<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    now_ms: u64,
) -> Result<Option<&'a StreamValue>, CommandError> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Stream(stream),
            ..
        }) => Ok(Some(&**stream)),
        Some(_) => Err(CommandError::WrongType),
    }
}

fn stream_mut<'a>(
    ks: &'a mut Keyspace,
    slot: &Slot,
    now_ms: u64,
) -> Result<Option<&'a mut StreamValue>, CommandError> {
    match ks.live_mut(slot, now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Stream(stream),
            ..
        }) => Ok(Some(&mut **stream)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// Runs `change` on the stream at `key` (None if absent) and re-versions the key when it
/// reports a change.
fn modify<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    change: impl FnOnce(&mut StreamValue) -> Result<(R, bool), CommandError>,
) -> Result<Option<R>, CommandError> {
    let slot = Slot::new(key.clone());
    let Some(stream) = stream_mut(ks, &slot, now_ms)? else {
        return Ok(None);
    };
    let (result, changed) = change(stream)?;
    if changed {
        ks.touch(&slot);
    }
    Ok(Some(result))
}

// ---- trimming ----

/// XADD's and XTRIM's trimming clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrimBy {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trim {
    pub by: TrimBy,
    /// `~`: whole nodes only.
    pub approx: bool,
    /// Most entries to remove; 0 = no limit.
    pub limit: u64,
}

/// Parses `MAXLEN|MINID [=|~] threshold [LIMIT count]` starting at `args[at]` (the keyword);
/// returns the clause and the index after it.
fn parse_trim(args: &[Bytes], at: usize) -> Result<(Trim, usize), CommandError> {
    let is_maxlen = is_option(&args[at], "maxlen");
    let mut index = at + 1;
    let mut approx = false;
    let next = args.get(index).ok_or(CommandError::Syntax)?;
    if next.as_ref() == b"~" {
        approx = true;
        index += 1;
    } else if next.as_ref() == b"=" {
        index += 1;
    }
    let threshold = args.get(index).ok_or(CommandError::Syntax)?;
    index += 1;
    let by = if is_maxlen {
        let maxlen = parse_i64(threshold)?;
        if maxlen < 0 {
            return Err(err("ERR The MAXLEN argument must be >= 0."));
        }
        TrimBy::MaxLen(maxlen as u64)
    } else {
        TrimBy::MinId(strict_id(threshold)?)
    };
    let mut limit = if approx { NODE_ENTRIES * 100 } else { 0 };
    if args.get(index).is_some_and(|a| is_option(a, "limit")) {
        let count = args.get(index + 1).ok_or(CommandError::Syntax)?;
        let count = parse_i64(count)?;
        if count < 0 {
            return Err(err("ERR The LIMIT argument must be >= 0."));
        }
        if !approx {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        limit = count as u64;
        index += 2;
    }
    Ok((Trim { by, approx, limit }, index))
}

/// Trims `stream` by `trim`; returns the number of entries removed.
fn trim(stream: &mut StreamValue, trim: &Trim) -> u64 {
    let should = |len: usize, id: StreamId| match trim.by {
        TrimBy::MaxLen(max) => len as u64 > max,
        TrimBy::MinId(min) => id < min,
    };
    let mut removed = 0u64;
    while let Some(first) = stream.entries.get_min().map(|(id, _)| *id) {
        if !should(stream.len(), first) {
            break;
        }
        let Some((node_start, live)) = stream.first_node() else {
            break;
        };
        let whole = match trim.by {
            TrimBy::MaxLen(max) => (stream.len() - live.len()) as u64 >= max,
            TrimBy::MinId(min) => live.last().is_none_or(|last| *last < min),
        };
        if trim.limit != 0 && removed + live.len() as u64 > trim.limit {
            if trim.approx {
                break;
            }
        } else if whole {
            for id in &live {
                stream.entries.remove(id);
            }
            stream.nodes.remove(&node_start);
            removed += live.len() as u64;
            continue;
        }
        if trim.approx {
            break;
        }
        for id in live {
            if !should(stream.len(), id) || (trim.limit != 0 && removed >= trim.limit) {
                break;
            }
            stream.entries.remove(&id);
            removed += 1;
        }
        break;
    }
    if stream.entries.is_empty() {
        stream.nodes.clear();
    }
    removed
}

// ---- XADD ----

/// How XADD picks the new entry's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddId {
    /// `*`: from the log time.
    Auto,
    /// `ms-*`.
    AutoSeq(u64),
    Explicit(StreamId),
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XAdd {
    pub key: Bytes,
    pub no_mkstream: bool,
    pub trim: Option<Trim>,
    pub id: AddId,
    pub fields: Vec<Bytes>,
}

impl XAdd {
    pub const SPEC: CommandSpec = CommandSpec::data("xadd", -5, Group::Stream, XAdd::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Appends a new entry to a stream.",
            &[
                "key",
                "[NOMKSTREAM]",
                "[MAXLEN|MINID [=|~] threshold [LIMIT count]]",
                "*|id",
                "field value...",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let all = args.from(0);
        let mut index = 2;
        let mut no_mkstream = false;
        let mut trim = None;
        loop {
            let Some(arg) = all.get(index) else {
                return Err(args.arity_error());
            };
            if is_option(arg, "nomkstream") {
                no_mkstream = true;
                index += 1;
            } else if is_option(arg, "maxlen") || is_option(arg, "minid") {
                if trim.is_some() {
                    return Err(err(
                        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                    ));
                }
                let (parsed, next) = parse_trim(all, index)?;
                trim = Some(parsed);
                index = next;
            } else {
                break;
            }
        }
        let fields = &all[index + 1..];
        if fields.is_empty() || fields.len() % 2 != 0 {
            return Err(args.arity_error());
        }
        let id_arg = &all[index];
        let id = if id_arg.as_ref() == b"*" {
            AddId::Auto
        } else if let Some(ms) = id_arg.strip_suffix(b"-*") {
            AddId::AutoSeq(parse_u64(ms).ok_or_else(invalid_id)?)
        } else {
            let id = strict_id(id_arg)?;
            if id.is_zero() {
                return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
            }
            AddId::Explicit(id)
        };
        Ok(XAdd {
            key: args.key(1),
            no_mkstream,
            trim,
            id,
            fields: fields.to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let exists = stream_mut(ks, &slot, cx.now_ms)?.is_some();
        if !exists {
            if self.no_mkstream {
                return Ok(Reply::Nil);
            }
            // Checked on an empty stream before the key is created, so an error creates nothing.
            self.next_id(&StreamValue::default(), cx.now_ms)?;
            ks.insert(slot.clone(), Value::Stream(Box::default()), 0);
            new_key(cx, &self.key);
        }
        let Some(stream) = stream_mut(ks, &slot, cx.now_ms)? else {
            return Err(CommandError::internal("stream vanished"));
        };
        let id = self.next_id(stream, cx.now_ms)?;
        stream.append(id, self.fields.clone().into(), NODE_ENTRIES);
        let trimmed = self.trim.as_ref().map_or(0, |clause| trim(stream, clause));
        ks.touch(&slot);
        event(cx, &self.key, "xadd");
        if trimmed > 0 {
            event(cx, &self.key, "xtrim");
        }
        Ok(id_reply(id))
    }

    fn next_id(&self, stream: &StreamValue, now_ms: u64) -> Result<StreamId, CommandError> {
        let last = stream.last_id;
        let smaller = || {
            err("ERR The ID specified in XADD is equal or smaller than the target stream top item")
        };
        match self.id {
            AddId::Auto => {
                if last == StreamId::MAX {
                    return Err(err(
                        "ERR The stream has exhausted the last possible ID, unable to add more items",
                    ));
                }
                if now_ms > last.ms {
                    Ok(StreamId::new(now_ms, 0))
                } else {
                    last.next().ok_or_else(smaller)
                }
            }
            AddId::AutoSeq(ms) => {
                if ms > last.ms {
                    Ok(StreamId::new(ms, 0))
                } else if ms == last.ms {
                    match last.seq.checked_add(1) {
                        Some(seq) => Ok(StreamId::new(ms, seq)),
                        None => Err(smaller()),
                    }
                } else {
                    Err(smaller())
                }
            }
            AddId::Explicit(id) => {
                if id > last {
                    Ok(id)
                } else {
                    Err(smaller())
                }
            }
        }
    }
}

// ---- XLEN ----

/// XLEN key
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XLen {
    pub key: Bytes,
}

impl XLen {
    pub const SPEC: CommandSpec = CommandSpec::data("xlen", 2, Group::Stream, XLen::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Return the number of entries in a stream.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(XLen { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let len = stream_at(ks, &self.key, cx.now_ms)?.map_or(0, StreamValue::len);
        Ok(Reply::Integer(len as i64))
    }
}

// ---- XRANGE / XREVRANGE ----

/// XRANGE key start end [COUNT count] (XREVRANGE takes end first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XRange {
    pub key: Bytes,
    /// None: an empty interval (an exclusive bound that moved past the other).
    pub start: Option<StreamId>,
    pub end: Option<StreamId>,
    pub count: Option<u64>,
    pub rev: bool,
}

fn parse_range(args: Args<'_>, rev: bool) -> Result<XRange, CommandError> {
    let (start_arg, end_arg) = if rev {
        (args.at(3), args.at(2))
    } else {
        (args.at(2), args.at(3))
    };
    let start = range_bound(start_arg, true)?;
    let end = range_bound(end_arg, false)?;
    let mut count = None;
    let rest = args.from(4);
    if !rest.is_empty() {
        if rest.len() == 2 && is_option(&rest[0], "count") {
            let n = parse_i64(&rest[1])?;
            count = Some(n.max(0) as u64);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(XRange {
        key: args.key(1),
        start,
        end,
        count,
        rev,
    })
}

impl XRange {
    pub const SPEC: CommandSpec = CommandSpec::data("xrange", -4, Group::Stream, XRange::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Return a range of elements in a stream, with IDs matching the specified IDs interval",
            &["key", "start", "end", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(parse_range(args, false)?.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(stream) = stream_at(ks, &self.key, cx.now_ms)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        // Redis answers a COUNT of 0 (or less) on an existing stream with a null array.
        if self.count == Some(0) {
            return Ok(Reply::NilArray);
        }
        let (Some(start), Some(end)) = (self.start, self.end) else {
            return Ok(Reply::Array(Vec::new()));
        };
        let count = self.count.map_or(usize::MAX, |c| c as usize);
        Ok(entries_reply(&stream.range(start, end, self.rev, count)))
    }
}

/// XREVRANGE key end start [COUNT count]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XRevRange(pub XRange);

impl XRevRange {
    pub const SPEC: CommandSpec =
        CommandSpec::data("xrevrange", -4, Group::Stream, XRevRange::parse)
            .flags(READ_MANY)
            .keys(KeySpec::ONE)
            .docs(
                "5.0.0",
                "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
                &["key", "end", "start", "[COUNT count]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(XRevRange(parse_range(args, true)?).into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        self.0.read(ks, cx)
    }
}

// ---- XDEL ----

/// XDEL key id [id ...]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XDel {
    pub key: Bytes,
    pub ids: Vec<StreamId>,
}

impl XDel {
    pub const SPEC: CommandSpec = CommandSpec::data("xdel", -3, Group::Stream, XDel::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
            &["key", "id..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let ids = args
            .from(2)
            .iter()
            .map(|a| strict_id(a))
            .collect::<Result<_, _>>()?;
        Ok(XDel {
            key: args.key(1),
            ids,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let deleted = modify(ks, &self.key, cx.now_ms, |stream| {
            let deleted = self.ids.iter().filter(|id| stream.delete(**id)).count();
            Ok((deleted, deleted > 0))
        })?
        .unwrap_or(0);
        if deleted > 0 {
            event(cx, &self.key, "xdel");
        }
        Ok(Reply::Integer(deleted as i64))
    }
}

// ---- XTRIM ----

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XTrim {
    pub key: Bytes,
    pub trim: Trim,
}

impl XTrim {
    pub const SPEC: CommandSpec = CommandSpec::data("xtrim", -4, Group::Stream, XTrim::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Trims the stream to (approximately if '~' is passed) a certain size",
            &["key", "MAXLEN|MINID [=|~] threshold [LIMIT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let all = args.from(0);
        if !(is_option(&all[2], "maxlen") || is_option(&all[2], "minid")) {
            return Err(CommandError::Syntax);
        }
        let (trim, next) = parse_trim(all, 2)?;
        if next != all.len() {
            return Err(CommandError::Syntax);
        }
        Ok(XTrim {
            key: args.key(1),
            trim,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let removed = modify(ks, &self.key, cx.now_ms, |stream| {
            let removed = trim(stream, &self.trim);
            Ok((removed, removed > 0))
        })?
        .unwrap_or(0);
        if removed > 0 {
            event(cx, &self.key, "xtrim");
        }
        Ok(Reply::Integer(removed as i64))
    }
}

// ---- XSETID ----

/// XSETID key last-id [ENTRIESADDED entries-added MAXDELETEDID max-deleted-id]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XSetId {
    pub key: Bytes,
    pub last_id: StreamId,
    pub entries_added: Option<(u64, StreamId)>,
}

impl XSetId {
    pub const SPEC: CommandSpec = CommandSpec::data("xsetid", -3, Group::Stream, XSetId::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "An internal command for replicating stream values",
            &[
                "key",
                "last-id",
                "[ENTRIESADDED entries-added]",
                "[MAXDELETEDID max-deleted-id]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let last_id = strict_id(args.at(2))?;
        let rest = args.from(3);
        let mut added = None;
        let mut max_deleted = None;
        let mut index = 0;
        while index < rest.len() {
            let value = rest.get(index + 1).ok_or(CommandError::Syntax)?;
            if is_option(&rest[index], "entriesadded") {
                let n = parse_i64(value)?;
                if n < 0 {
                    return Err(err("ERR entries_added must be positive"));
                }
                added = Some(n as u64);
            } else if is_option(&rest[index], "maxdeletedid") {
                let id = strict_id(value)?;
                if last_id < id {
                    return Err(err(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    ));
                }
                max_deleted = Some(id);
            } else {
                return Err(CommandError::Syntax);
            }
            index += 2;
        }
        let entries_added = match (added, max_deleted) {
            (None, None) => None,
            (Some(added), Some(max)) => Some((added, max)),
            _ => return Err(CommandError::Syntax),
        };
        Ok(XSetId {
            key: args.key(1),
            last_id,
            entries_added,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let done = modify(ks, &self.key, cx.now_ms, |stream| {
            if let Some((added, _)) = self.entries_added {
                if (stream.len() as u64) > added {
                    return Err(err(
                        "ERR The entries_added specified in XSETID is smaller than the target stream length",
                    ));
                }
            }
            if let Some((top, _)) = stream.entries.get_max() {
                if self.last_id < *top {
                    return Err(err(
                        "ERR The ID specified in XSETID is smaller than the target stream top item",
                    ));
                }
            }
            stream.last_id = self.last_id;
            if let Some((added, max_deleted)) = self.entries_added {
                stream.entries_added = added;
                stream.max_deleted_id = max_deleted;
            }
            Ok(((), true))
        })?;
        match done {
            Some(()) => {
                event(cx, &self.key, "xsetid");
                Ok(Reply::Ok)
            }
            None => Err(CommandError::NoSuchKey),
        }
    }
}

// ---- XREAD ----

/// Positions of the keys after STREAMS: the first half of what follows it.
fn streams_positions(args: &[Bytes]) -> Option<Vec<usize>> {
    let at = args.iter().position(|a| is_option(a, "streams"))?;
    let rest = args.len() - at - 1;
    if rest == 0 || rest % 2 != 0 {
        return None;
    }
    Some((at + 1..at + 1 + rest / 2).collect())
}

/// Where one stream of XREAD / XREADGROUP starts reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadFrom {
    /// Entries after this id.
    After(StreamId),
    /// `$`: entries after the stream's last id.
    Last,
    /// `>` (XREADGROUP only): entries never delivered to the group.
    New,
}

/// The options XREAD and XREADGROUP share.
struct ReadOptions {
    count: Option<u64>,
    block_ms: Option<u64>,
    no_ack: bool,
    group: Option<(Bytes, Bytes)>,
    streams: Vec<(Bytes, ReadFrom)>,
}

fn parse_read(args: Args<'_>, group_form: bool) -> Result<ReadOptions, CommandError> {
    let all = args.from(0);
    let mut options = ReadOptions {
        count: None,
        block_ms: None,
        no_ack: false,
        group: None,
        streams: Vec::new(),
    };
    let mut index = 1;
    while index < all.len() {
        let arg = &all[index];
        let more = all.len() - index - 1;
        if is_option(arg, "streams") {
            let rest = &all[index + 1..];
            if rest.is_empty() || rest.len() % 2 != 0 {
                return Err(err(format!(
                    "ERR Unbalanced '{}' list of streams: for each stream key an ID or '{}' must be specified.",
                    args.name,
                    if group_form { ">" } else { "$" }
                )));
            }
            let half = rest.len() / 2;
            for (key, id) in rest[..half].iter().zip(&rest[half..]) {
                let from = if id.as_ref() == b"$" {
                    if group_form {
                        return Err(err(
                            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                        ));
                    }
                    ReadFrom::Last
                } else if id.as_ref() == b">" {
                    if !group_form {
                        return Err(err(
                            "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                        ));
                    }
                    ReadFrom::New
                } else {
                    ReadFrom::After(strict_id(id)?)
                };
                options.streams.push((key.clone(), from));
            }
            break;
        } else if is_option(arg, "count") && more >= 1 {
            let n = parse_i64(&all[index + 1])?;
            options.count = if n > 0 { Some(n as u64) } else { None };
            index += 2;
        } else if is_option(arg, "block") && more >= 1 {
            let n = parse_i64_strict(&all[index + 1])
                .ok_or_else(|| err("ERR timeout is not an integer or out of range"))?;
            if n < 0 {
                return Err(err("ERR timeout is negative"));
            }
            options.block_ms = Some(n as u64);
            index += 2;
        } else if group_form && is_option(arg, "group") && more >= 2 {
            options.group = Some((all[index + 1].clone(), all[index + 2].clone()));
            index += 3;
        } else if group_form && is_option(arg, "noack") {
            options.no_ack = true;
            index += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    if options.streams.is_empty() {
        return Err(CommandError::Syntax);
    }
    if group_form && options.group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(options)
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XRead {
    pub count: Option<u64>,
    /// BLOCK: how long its client waits (0 = forever). Only the client's node uses it.
    pub block_ms: Option<u64>,
    pub streams: Vec<(Bytes, ReadFrom)>,
    /// Set by the connection that may block (then the command goes through the log).
    pub waiter: Option<WaiterId>,
}

impl XRead {
    pub const SPEC: CommandSpec = CommandSpec::data("xread", -4, Group::Stream, XRead::parse)
        .flags(Flags::READONLY.union(Flags::BLOCKING).union(Flags::READS_MANY))
        .keys(KeySpec::movable(0, 0, 1, streams_positions))
        .docs(
            "5.0.0",
            "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
            &[
                "[COUNT count]",
                "[BLOCK milliseconds]",
                "STREAMS",
                "key...",
                "id...",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let options = parse_read(args, false)?;
        Ok(XRead {
            count: options.count,
            block_ms: options.block_ms,
            streams: options.streams,
            waiter: None,
        }
        .into())
    }

    /// XREAD BLOCK, applied from the log: what `read` answers, or, when that is nothing and a
    /// waiter is given, the waiter registered to read after each stream's id (`$`: its last id
    /// now, 0-0 for a missing key).
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let reply = self.read(ks, cx)?;
        if self.waiter.is_none() || !matches!(reply, Reply::NilArray) {
            return Ok(reply);
        }
        let mut keys = Vec::with_capacity(self.streams.len());
        let mut after = Vec::with_capacity(self.streams.len());
        for (key, from) in &self.streams {
            let id = match from {
                ReadFrom::After(id) => *id,
                ReadFrom::Last | ReadFrom::New => {
                    stream_at(ks, key, cx.now_ms)?.map_or(StreamId::MIN, |s| s.last_id)
                }
            };
            keys.push(key.clone());
            after.push(id);
        }
        let pop = BlockedPop::StreamRead {
            count: self.count,
            after,
        };
        wait_or(ks, cx, self.waiter, &keys, pop, Reply::NilArray)
    }

    /// Reads after these ids (one per stream) instead of what was given (`$`).
    pub(super) fn resume_after(&mut self, after: &[StreamId]) {
        for ((_, from), id) in self.streams.iter_mut().zip(after) {
            *from = ReadFrom::After(*id);
        }
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let mut out = Vec::new();
        for (key, from) in &self.streams {
            let Some(stream) = stream_at(ks, key, cx.now_ms)? else {
                continue;
            };
            let after = match from {
                ReadFrom::After(id) => *id,
                ReadFrom::Last | ReadFrom::New => stream.last_id,
            };
            let Some(start) = after.next() else {
                continue;
            };
            let count = self.count.map_or(usize::MAX, |c| c as usize);
            let entries = stream.range(start, StreamId::MAX, false, count);
            if !entries.is_empty() {
                out.push((Reply::bulk(key), entries_reply(&entries)));
            }
        }
        if out.is_empty() {
            Ok(Reply::NilArray)
        } else {
            Ok(Reply::KeyedArrays(out))
        }
    }
}

// ---- serving blocked XREAD / XREADGROUP ----

/// A blocked XREAD on `key`, now ready: `[[key, entries]]` with the entries after `after`, or
/// None when there are none (it keeps waiting; so it does while the key holds another type).
pub(super) fn serve_stream_read(
    ks: &Keyspace,
    key: &Bytes,
    after: StreamId,
    count: Option<u64>,
    now_ms: u64,
) -> Option<Reply> {
    let stream = stream_at(ks, key, now_ms).ok().flatten()?;
    let start = after.next()?;
    let count = count.map_or(usize::MAX, |c| c as usize);
    let entries = stream.range(start, StreamId::MAX, false, count);
    if entries.is_empty() {
        return None;
    }
    Some(Reply::KeyedArrays(vec![(
        Reply::bulk(key),
        entries_reply(&entries),
    )]))
}

/// What a blocked XREADGROUP waits for.
pub(super) struct GroupRead<'a> {
    pub group: &'a Bytes,
    pub consumer: &'a Bytes,
    pub count: Option<u64>,
    pub no_ack: bool,
}

/// A blocked XREADGROUP on `key`, now ready: the group's new entries delivered to the consumer
/// as `[[key, entries]]`; an error when the key is no longer a stream or the group is gone (as
/// Redis 7.0 answers); None when there is nothing new (it keeps waiting).
pub(super) fn serve_stream_group(
    ks: &mut Keyspace,
    key: &Bytes,
    read: &GroupRead<'_>,
    cx: &mut Cx,
) -> Option<Reply> {
    let now = cx.now_ms;
    let slot = Slot::new(key.clone());
    let Ok(Some(stream)) = stream_mut(ks, &slot, now) else {
        return Some(err("UNBLOCKED the stream key no longer exists").to_reply());
    };
    if !stream.groups.contains_key(read.group) {
        return Some(
            err("NOGROUP the consumer group this client was blocked on no longer exists")
                .to_reply(),
        );
    }
    let count = read.count.map_or(usize::MAX, |c| c as usize);
    let (entries, created) = read_new(stream, read.group, read.consumer, count, read.no_ack, now);
    if entries.is_empty() {
        return None;
    }
    ks.touch(&slot);
    if created {
        event(cx, key, "xgroup-createconsumer");
    }
    Some(Reply::KeyedArrays(vec![(
        Reply::bulk(key),
        entries_reply(&entries),
    )]))
}

/// Delivers up to `count` entries `group` has not delivered yet to `consumer` (pending unless
/// `no_ack`) and advances the group. Nothing changes when there are none (the consumer is not
/// even created, as in Redis). Returns the entries and whether the consumer was created.
fn read_new(
    stream: &mut StreamValue,
    group_name: &Bytes,
    consumer: &Bytes,
    count: usize,
    no_ack: bool,
    now_ms: u64,
) -> (Vec<(StreamId, StreamFields)>, bool) {
    let Some(group) = stream.groups.get(group_name) else {
        return (Vec::new(), false);
    };
    let last = group.last_id;
    let mut read = group.entries_read;
    let entries = match last.next() {
        Some(start) => stream.range(start, StreamId::MAX, false, count),
        None => Vec::new(),
    };
    if entries.is_empty() {
        return (entries, false);
    }
    let mut new_last = last;
    for (id, _) in &entries {
        read = match read {
            Some(n) if !stream.range_has_tombstones(*id, StreamId::MAX) => Some(n + 1),
            _ if stream.entries_added > 0 => stream.estimate_entries_read(*id),
            other => other,
        };
        new_last = *id;
    }
    let group = group_of(stream, group_name);
    let created = seen(group, consumer, now_ms);
    group.last_id = new_last;
    group.entries_read = read;
    if !no_ack {
        for (id, _) in &entries {
            group.deliver(*id, consumer, now_ms, 1);
        }
    }
    (entries, created)
}

// ---- consumer groups ----

/// The group `name` of the stream at `key`, for a write; NOGROUP (`no_group`) when either is
/// missing.
fn with_group<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    group: &Bytes,
    now_ms: u64,
    missing: impl FnOnce() -> CommandError,
    change: impl FnOnce(&mut StreamValue) -> Result<(R, bool), CommandError>,
) -> Result<R, CommandError> {
    let slot = Slot::new(key.clone());
    let Some(stream) = stream_mut(ks, &slot, now_ms)? else {
        return Err(missing());
    };
    if !stream.groups.contains_key(group) {
        return Err(missing());
    }
    let (result, changed) = change(stream)?;
    if changed {
        ks.touch(&slot);
    }
    Ok(result)
}

fn group_of<'a>(stream: &'a mut StreamValue, name: &Bytes) -> &'a mut ConsumerGroup {
    stream
        .groups
        .get_mut(name)
        .expect("the caller checked the group exists")
}

/// Touches (creating if needed) `consumer` at `now_ms`; true if it was created.
fn seen(group: &mut ConsumerGroup, consumer: &Bytes, now_ms: u64) -> bool {
    let created = !group.consumers.contains_key(consumer);
    group.consumers.entry(consumer.clone()).or_default().seen_ms = now_ms;
    created
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key ... id ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XReadGroup {
    pub group: Bytes,
    pub consumer: Bytes,
    pub count: Option<u64>,
    /// BLOCK: how long its client waits (0 = forever). Only the client's node uses it.
    pub block_ms: Option<u64>,
    pub no_ack: bool,
    pub streams: Vec<(Bytes, ReadFrom)>,
    /// Set by the connection that may block; None never blocks.
    pub waiter: Option<WaiterId>,
}

impl XReadGroup {
    pub const SPEC: CommandSpec =
        CommandSpec::data("xreadgroup", -7, Group::Stream, XReadGroup::parse)
            .flags(Flags::WRITE.union(Flags::BLOCKING))
            .keys(KeySpec::movable(0, 0, 1, streams_positions))
            .docs(
                "5.0.0",
                "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
                &[
                    "GROUP group consumer",
                    "[COUNT count]",
                    "[BLOCK milliseconds]",
                    "[NOACK]",
                    "STREAMS",
                    "key...",
                    "id...",
                ],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let options = parse_read(args, true)?;
        let (group, consumer) = options.group.ok_or(CommandError::Syntax)?;
        Ok(XReadGroup {
            group,
            consumer,
            count: options.count,
            block_ms: options.block_ms,
            no_ack: options.no_ack,
            streams: options.streams,
            waiter: None,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        // Every stream and group must exist before anything is delivered.
        for (key, _) in &self.streams {
            let present = stream_at(ks, key, cx.now_ms)?
                .is_some_and(|stream| stream.groups.contains_key(&self.group));
            if !present {
                return Err(err(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&self.group)
                )));
            }
        }
        let count = self.count.map_or(usize::MAX, |c| c as usize);
        let mut out = Vec::new();
        for (key, from) in &self.streams {
            let now = cx.now_ms;
            let (reply, created) = with_group(
                ks,
                key,
                &self.group,
                now,
                || CommandError::internal("group vanished"),
                |stream| {
                    let (reply, created) = self.read_one(stream, *from, count, now);
                    Ok(((reply.clone(), created), reply.is_some()))
                },
            )?;
            if created {
                event(cx, key, "xgroup-createconsumer");
            }
            if let Some(reply) = reply {
                out.push((Reply::bulk(key), reply));
            }
        }
        if !out.is_empty() {
            return Ok(Reply::KeyedArrays(out));
        }
        // Only `>` finds nothing (a history read always answers): wait for new entries.
        let keys: Vec<Bytes> = self.streams.iter().map(|(key, _)| key.clone()).collect();
        let pop = BlockedPop::StreamGroup {
            group: self.group.clone(),
            consumer: self.consumer.clone(),
            count: self.count,
            no_ack: self.no_ack,
        };
        wait_or(ks, cx, self.waiter, &keys, pop, Reply::NilArray)
    }

    /// Serves one stream; None when `>` found nothing new. Also says whether the consumer
    /// was created.
    fn read_one(
        &self,
        stream: &mut StreamValue,
        from: ReadFrom,
        count: usize,
        now_ms: u64,
    ) -> (Option<Reply>, bool) {
        let group_name = self.group.clone();
        match from {
            ReadFrom::New => {
                let (entries, created) = read_new(
                    stream,
                    &group_name,
                    &self.consumer,
                    count,
                    self.no_ack,
                    now_ms,
                );
                if entries.is_empty() {
                    (None, false)
                } else {
                    (Some(entries_reply(&entries)), created)
                }
            }
            ReadFrom::After(after) => {
                let StreamValue {
                    entries, groups, ..
                } = stream;
                let Some(group) = groups.get_mut(&group_name) else {
                    return (None, false);
                };
                let created = seen(group, &self.consumer, now_ms);
                let ids: Vec<StreamId> = match (after.next(), group.consumers.get(&self.consumer)) {
                    (Some(start), Some(consumer)) => consumer
                        .pending
                        .range(start..)
                        .take(count)
                        .copied()
                        .collect(),
                    _ => Vec::new(),
                };
                let mut replies = Vec::new();
                for id in ids {
                    if let Some(pending) = group.pel.get_mut(&id) {
                        pending.delivery_ms = now_ms;
                        pending.delivery_count += 1;
                    }
                    replies.push(match entries.get(&id) {
                        Some(fields) => entry_reply(id, fields),
                        None => Reply::Array(vec![id_reply(id), Reply::NilArray]),
                    });
                }
                (Some(Reply::Array(replies)), created)
            }
            ReadFrom::Last => (None, false),
        }
    }
}

// ---- XGROUP ----

/// One XGROUP subcommand.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum XGroupOp {
    Create {
        key: Bytes,
        group: Bytes,
        /// None: `$`.
        id: Option<StreamId>,
        mkstream: bool,
        entries_read: Option<u64>,
    },
    SetId {
        key: Bytes,
        group: Bytes,
        id: Option<StreamId>,
        entries_read: Option<u64>,
    },
    Destroy {
        key: Bytes,
        group: Bytes,
    },
    CreateConsumer {
        key: Bytes,
        group: Bytes,
        consumer: Bytes,
    },
    DelConsumer {
        key: Bytes,
        group: Bytes,
        consumer: Bytes,
    },
    Help,
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XGroup {
    pub op: XGroupOp,
}

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Print this help.",
];

fn group_id(arg: &[u8]) -> Result<Option<StreamId>, CommandError> {
    if arg == b"$" {
        Ok(None)
    } else {
        parse_id(arg, 0, false).map(Some)
    }
}

fn entries_read_option(
    rest: &[Bytes],
    allow_mkstream: bool,
) -> Result<(bool, Option<u64>), CommandError> {
    let mut mkstream = false;
    let mut entries_read = None;
    let mut index = 0;
    while index < rest.len() {
        if allow_mkstream && is_option(&rest[index], "mkstream") {
            mkstream = true;
            index += 1;
        } else if is_option(&rest[index], "entriesread") && index + 1 < rest.len() {
            let n = parse_i64(&rest[index + 1])?;
            if n < -1 {
                return Err(err("ERR value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = u64::try_from(n).ok();
            index += 2;
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok((mkstream, entries_read))
}

impl XGroup {
    pub const SPEC: CommandSpec = CommandSpec::data("xgroup", -2, Group::Stream, XGroup::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::range(2, 2, 1))
        .docs(
            "5.0.0",
            "A container for consumer groups commands",
            &["subcommand", "[arguments...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1);
        let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let (name, min, max): (&'static str, usize, usize) = match lower.as_str() {
            "create" => ("xgroup|create", 5, 8),
            "setid" => ("xgroup|setid", 5, 7),
            "destroy" => ("xgroup|destroy", 4, 4),
            "createconsumer" => ("xgroup|createconsumer", 5, 5),
            "delconsumer" => ("xgroup|delconsumer", 5, 5),
            "help" => ("xgroup|help", 2, 2),
            _ => {
                return Err(CommandError::UnknownSubcommand {
                    command: "XGROUP",
                    subcommand: String::from_utf8_lossy(sub).into_owned(),
                })
            }
        };
        if args.len() < min || args.len() > max {
            return Err(CommandError::WrongArity { command: name });
        }
        let key = || args.key(2);
        let group = || args.key(3);
        let op = match lower.as_str() {
            "create" => {
                let id = group_id(args.at(4))?;
                let (mkstream, entries_read) = entries_read_option(args.from(5), true)?;
                XGroupOp::Create {
                    key: key(),
                    group: group(),
                    id,
                    mkstream,
                    entries_read,
                }
            }
            "setid" => {
                let id = group_id(args.at(4))?;
                let (_, entries_read) = entries_read_option(args.from(5), false)?;
                XGroupOp::SetId {
                    key: key(),
                    group: group(),
                    id,
                    entries_read,
                }
            }
            "destroy" => XGroupOp::Destroy {
                key: key(),
                group: group(),
            },
            "createconsumer" => XGroupOp::CreateConsumer {
                key: key(),
                group: group(),
                consumer: args.key(4),
            },
            "delconsumer" => XGroupOp::DelConsumer {
                key: key(),
                group: group(),
                consumer: args.key(4),
            },
            _ => XGroupOp::Help,
        };
        Ok(XGroup { op }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now = cx.now_ms;
        let requires_key = || {
            err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
        };
        match &self.op {
            XGroupOp::Help => Ok(Reply::Array(
                XGROUP_HELP
                    .iter()
                    .map(|line| Reply::Simple((*line).to_string()))
                    .collect(),
            )),
            XGroupOp::Create {
                key,
                group,
                id,
                mkstream,
                entries_read,
            } => {
                let slot = Slot::new(key.clone());
                if stream_mut(ks, &slot, now)?.is_none() {
                    if !mkstream {
                        return Err(requires_key());
                    }
                    ks.insert(slot.clone(), Value::Stream(Box::default()), 0);
                    new_key(cx, key);
                }
                let Some(stream) = stream_mut(ks, &slot, now)? else {
                    return Err(CommandError::internal("stream vanished"));
                };
                if stream.groups.contains_key(group) {
                    return Err(err("BUSYGROUP Consumer Group name already exists"));
                }
                let last = id.unwrap_or(stream.last_id);
                stream
                    .groups
                    .insert(group.clone(), ConsumerGroup::new(last, *entries_read));
                ks.touch(&slot);
                event(cx, key, "xgroup-create");
                Ok(Reply::Ok)
            }
            XGroupOp::SetId {
                key,
                group,
                id,
                entries_read,
            } => {
                let slot = Slot::new(key.clone());
                let Some(stream) = stream_mut(ks, &slot, now)? else {
                    return Err(requires_key());
                };
                let last = id.unwrap_or(stream.last_id);
                let Some(state) = stream.groups.get_mut(group) else {
                    return Err(no_such_group_for_key(key, group));
                };
                state.last_id = last;
                state.entries_read = *entries_read;
                ks.touch(&slot);
                event(cx, key, "xgroup-setid");
                Ok(Reply::Ok)
            }
            XGroupOp::Destroy { key, group } => {
                let slot = Slot::new(key.clone());
                let Some(stream) = stream_mut(ks, &slot, now)? else {
                    return Err(requires_key());
                };
                let removed = stream.groups.remove(group).is_some();
                if removed {
                    // Touching signals the clients blocked in XREADGROUP on it (NOGROUP).
                    ks.touch(&slot);
                    event(cx, key, "xgroup-destroy");
                }
                Ok(Reply::Integer(i64::from(removed)))
            }
            XGroupOp::CreateConsumer {
                key,
                group,
                consumer,
            } => {
                let slot = Slot::new(key.clone());
                let Some(stream) = stream_mut(ks, &slot, now)? else {
                    return Err(requires_key());
                };
                let Some(state) = stream.groups.get_mut(group) else {
                    return Err(no_such_group_for_key(key, group));
                };
                if state.consumers.contains_key(consumer) {
                    return Ok(Reply::Integer(0));
                }
                seen(state, consumer, now);
                ks.touch(&slot);
                event(cx, key, "xgroup-createconsumer");
                Ok(Reply::Integer(1))
            }
            XGroupOp::DelConsumer {
                key,
                group,
                consumer,
            } => {
                let slot = Slot::new(key.clone());
                let Some(stream) = stream_mut(ks, &slot, now)? else {
                    return Err(requires_key());
                };
                let Some(state) = stream.groups.get_mut(group) else {
                    return Err(no_such_group_for_key(key, group));
                };
                let Some(gone) = state.consumers.remove(consumer) else {
                    return Ok(Reply::Integer(0));
                };
                for id in gone.pending.iter() {
                    state.pel.remove(id);
                }
                ks.touch(&slot);
                event(cx, key, "xgroup-delconsumer");
                Ok(Reply::Integer(gone.pending.len() as i64))
            }
        }
    }
}

// ---- XACK ----

/// XACK key group id [id ...]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XAck {
    pub key: Bytes,
    pub group: Bytes,
    pub ids: Vec<StreamId>,
}

impl XAck {
    pub const SPEC: CommandSpec = CommandSpec::data("xack", -4, Group::Stream, XAck::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
            &["key", "group", "id..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let ids = args
            .from(3)
            .iter()
            .map(|a| strict_id(a))
            .collect::<Result<_, _>>()?;
        Ok(XAck {
            key: args.key(1),
            group: args.key(2),
            ids,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let acked = modify(ks, &self.key, cx.now_ms, |stream| {
            let Some(group) = stream.groups.get_mut(&self.group) else {
                return Ok((0, false));
            };
            let acked = self.ids.iter().filter(|id| group.ack(**id)).count();
            Ok((acked, acked > 0))
        })?;
        Ok(Reply::Integer(acked.unwrap_or(0) as i64))
    }
}

// ---- XPENDING ----

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XPending {
    pub key: Bytes,
    pub group: Bytes,
    pub extended: Option<PendingRange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingRange {
    pub min_idle_ms: u64,
    pub start: Option<StreamId>,
    pub end: Option<StreamId>,
    pub count: u64,
    pub consumer: Option<Bytes>,
}

impl XPending {
    pub const SPEC: CommandSpec = CommandSpec::data("xpending", -3, Group::Stream, XPending::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
            &["key", "group", "[[IDLE min-idle-time] start end count [consumer]]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let rest = args.from(3);
        let extended = if rest.is_empty() {
            None
        } else {
            let mut rest = rest;
            let mut min_idle_ms = 0;
            if is_option(&rest[0], "idle") {
                if rest.len() < 2 {
                    return Err(CommandError::Syntax);
                }
                min_idle_ms = parse_i64(&rest[1])?.max(0) as u64;
                rest = &rest[2..];
            }
            if rest.len() < 3 || rest.len() > 4 {
                return Err(CommandError::Syntax);
            }
            let start = range_bound(&rest[0], true)?;
            let end = range_bound(&rest[1], false)?;
            let count = parse_i64(&rest[2])?.max(0) as u64;
            Some(PendingRange {
                min_idle_ms,
                start,
                end,
                count,
                consumer: rest.get(3).cloned(),
            })
        };
        Ok(XPending {
            key: args.key(1),
            group: args.key(2),
            extended,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let group = stream_at(ks, &self.key, cx.now_ms)?
            .and_then(|stream| stream.groups.get(&self.group))
            .ok_or_else(|| no_group(&self.key, &self.group))?;
        let Some(range) = &self.extended else {
            let (Some((min, _)), Some((max, _))) = (group.pel.get_min(), group.pel.get_max())
            else {
                return Ok(Reply::Array(vec![
                    Reply::Integer(0),
                    Reply::Nil,
                    Reply::Nil,
                    Reply::NilArray,
                ]));
            };
            let consumers = group
                .consumers
                .iter()
                .filter(|(_, c)| !c.pending.is_empty())
                .map(|(name, c)| {
                    Reply::Array(vec![
                        Reply::bulk(name),
                        Reply::Bulk(Bytes::from(c.pending.len().to_string())),
                    ])
                })
                .collect();
            return Ok(Reply::Array(vec![
                Reply::Integer(group.pel.len() as i64),
                id_reply(*min),
                id_reply(*max),
                Reply::Array(consumers),
            ]));
        };
        let (Some(start), Some(end)) = (range.start, range.end) else {
            return Ok(Reply::Array(Vec::new()));
        };
        if start > end {
            return Ok(Reply::Array(Vec::new()));
        }
        let mut out = Vec::new();
        for (id, pending) in group.pel.range(start..=end) {
            if out.len() as u64 >= range.count {
                break;
            }
            if range
                .consumer
                .as_ref()
                .is_some_and(|c| *c != pending.consumer)
            {
                continue;
            }
            let idle = cx.now_ms.saturating_sub(pending.delivery_ms);
            if idle < range.min_idle_ms {
                continue;
            }
            out.push(Reply::Array(vec![
                id_reply(*id),
                Reply::bulk(&pending.consumer),
                Reply::Integer(idle as i64),
                Reply::Integer(pending.delivery_count as i64),
            ]));
        }
        Ok(Reply::Array(out))
    }
}

// ---- XCLAIM ----

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XClaim {
    pub key: Bytes,
    pub group: Bytes,
    pub consumer: Bytes,
    pub min_idle_ms: u64,
    pub ids: Vec<StreamId>,
    /// IDLE (as `Idle`) or TIME (as `Time`): the delivery time to record.
    pub delivery: Option<ClaimTime>,
    pub retry_count: Option<u64>,
    pub force: bool,
    pub just_id: bool,
    pub last_id: Option<StreamId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimTime {
    Idle(i64),
    Time(i64),
}

impl XClaim {
    pub const SPEC: CommandSpec = CommandSpec::data("xclaim", -6, Group::Stream, XClaim::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "5.0.0",
            "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
            &[
                "key",
                "group",
                "consumer",
                "min-idle-time",
                "id...",
                "[IDLE ms]",
                "[TIME unix-time-milliseconds]",
                "[RETRYCOUNT count]",
                "[FORCE]",
                "[JUSTID]",
                "[LASTID lastid]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let min_idle = parse_i64_strict(args.at(4))
            .ok_or_else(|| err("ERR Invalid min-idle-time argument for XCLAIM"))?;
        let rest = args.from(5);
        let mut index = 0;
        let mut ids = Vec::new();
        while index < rest.len() {
            match strict_id(&rest[index]) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            index += 1;
        }
        let mut claim = XClaim {
            key: args.key(1),
            group: args.key(2),
            consumer: args.key(3),
            min_idle_ms: min_idle.max(0) as u64,
            ids,
            delivery: None,
            retry_count: None,
            force: false,
            just_id: false,
            last_id: None,
        };
        while index < rest.len() {
            let option = &rest[index];
            let value = rest.get(index + 1);
            let int = |what: &str| {
                value
                    .and_then(|v| parse_i64_strict(v))
                    .ok_or_else(|| err(format!("ERR Invalid {what} option argument for XCLAIM")))
            };
            if is_option(option, "force") {
                claim.force = true;
            } else if is_option(option, "justid") {
                claim.just_id = true;
            } else if is_option(option, "idle") && value.is_some() {
                claim.delivery = Some(ClaimTime::Idle(int("IDLE")?));
                index += 1;
            } else if is_option(option, "time") && value.is_some() {
                claim.delivery = Some(ClaimTime::Time(int("TIME")?));
                index += 1;
            } else if is_option(option, "retrycount") && value.is_some() {
                claim.retry_count = Some(int("RETRYCOUNT")?.max(0) as u64);
                index += 1;
            } else if is_option(option, "lastid") && value.is_some() {
                claim.last_id = Some(strict_id(value.map_or(&[][..], |v| v))?);
                index += 1;
            } else {
                return Err(err(format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(option)
                )));
            }
            index += 1;
        }
        Ok(claim.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now = cx.now_ms;
        let delivery_ms = match self.delivery {
            None => now as i64,
            Some(ClaimTime::Idle(idle)) => (now as i64).saturating_sub(idle),
            Some(ClaimTime::Time(time)) => time,
        };
        let delivery_ms = if delivery_ms < 0 || delivery_ms as u64 > now {
            now
        } else {
            delivery_ms as u64
        };
        let (reply, created) = with_group(
            ks,
            &self.key,
            &self.group,
            now,
            || no_group(&self.key, &self.group),
            |stream| {
                let StreamValue {
                    entries, groups, ..
                } = stream;
                let group = groups
                    .get_mut(&self.group)
                    .ok_or_else(|| CommandError::internal("group vanished"))?;
                if let Some(last) = self.last_id {
                    if last > group.last_id {
                        group.last_id = last;
                    }
                }
                // The consumer is looked up (and created) at its first claim, as in Redis.
                let mut consumer_created = None;
                let mut out = Vec::new();
                for id in &self.ids {
                    let existing = group.pel.get(id).cloned();
                    let count = match existing {
                        None if self.force && entries.contains_key(id) => 1,
                        None => continue,
                        Some(ref pending) => {
                            if self.min_idle_ms > 0
                                && now.saturating_sub(pending.delivery_ms) < self.min_idle_ms
                            {
                                continue;
                            }
                            if !entries.contains_key(id) {
                                group.ack(*id);
                                continue;
                            }
                            pending.delivery_count
                        }
                    };
                    let count = match self.retry_count {
                        Some(retry) => retry,
                        None if self.just_id => count,
                        None if existing.is_none() => count,
                        None => count + 1,
                    };
                    if consumer_created.is_none() {
                        consumer_created = Some(seen(group, &self.consumer, now));
                    }
                    group.deliver(*id, &self.consumer, delivery_ms, count);
                    out.push(match (self.just_id, entries.get(id)) {
                        (true, _) | (false, None) => id_reply(*id),
                        (false, Some(fields)) => entry_reply(*id, fields),
                    });
                }
                Ok(((Reply::Array(out), consumer_created == Some(true)), true))
            },
        )?;
        if created {
            event(cx, &self.key, "xgroup-createconsumer");
        }
        Ok(reply)
    }
}

// ---- XAUTOCLAIM ----

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XAutoClaim {
    pub key: Bytes,
    pub group: Bytes,
    pub consumer: Bytes,
    pub min_idle_ms: u64,
    pub start: StreamId,
    pub count: u64,
    pub just_id: bool,
}

impl XAutoClaim {
    pub const SPEC: CommandSpec =
        CommandSpec::data("xautoclaim", -6, Group::Stream, XAutoClaim::parse)
            .flags(WRITE_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "6.2.0",
                "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
                &["key", "group", "consumer", "min-idle-time", "start", "[COUNT count]", "[JUSTID]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let min_idle = parse_i64_strict(args.at(4))
            .ok_or_else(|| err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?;
        let start = parse_id(args.at(5), 0, false)?;
        let mut count = 100u64;
        let mut just_id = false;
        let rest = args.from(6);
        let mut index = 0;
        while index < rest.len() {
            if is_option(&rest[index], "justid") {
                just_id = true;
                index += 1;
            } else if is_option(&rest[index], "count") && index + 1 < rest.len() {
                let n = parse_i64(&rest[index + 1])?;
                if !(1..=i64::MAX / 10).contains(&n) {
                    return Err(err("ERR COUNT must be > 0"));
                }
                count = n as u64;
                index += 2;
            } else {
                return Err(CommandError::Syntax);
            }
        }
        Ok(XAutoClaim {
            key: args.key(1),
            group: args.key(2),
            consumer: args.key(3),
            min_idle_ms: min_idle.max(0) as u64,
            start,
            count,
            just_id,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now = cx.now_ms;
        let (reply, created) = with_group(
            ks,
            &self.key,
            &self.group,
            now,
            || no_group(&self.key, &self.group),
            |stream| {
                let StreamValue {
                    entries, groups, ..
                } = stream;
                let group = groups
                    .get_mut(&self.group)
                    .ok_or_else(|| CommandError::internal("group vanished"))?;
                // The consumer is looked up (and created) at its first claim, as in Redis.
                let mut consumer_created = None;
                let mut attempts = self.count.saturating_mul(10);
                let mut claimed = Vec::new();
                let mut deleted = Vec::new();
                let mut next = StreamId::MIN;
                let candidates: Vec<(StreamId, u64, u64)> = group
                    .pel
                    .range(self.start..)
                    .map(|(id, p)| (*id, p.delivery_ms, p.delivery_count))
                    .collect();
                let mut iter = candidates.into_iter().peekable();
                let mut budget = self.count;
                while attempts > 0 && budget > 0 {
                    let Some((id, delivered, count)) = iter.next() else {
                        break;
                    };
                    attempts -= 1;
                    if self.min_idle_ms > 0 && now.saturating_sub(delivered) < self.min_idle_ms {
                        continue;
                    }
                    budget -= 1;
                    let Some(fields) = entries.get(&id) else {
                        group.ack(id);
                        deleted.push(id_reply(id));
                        continue;
                    };
                    let count = if self.just_id { count } else { count + 1 };
                    if consumer_created.is_none() {
                        consumer_created = Some(seen(group, &self.consumer, now));
                    }
                    group.deliver(id, &self.consumer, now, count);
                    claimed.push(if self.just_id {
                        id_reply(id)
                    } else {
                        entry_reply(id, fields)
                    });
                }
                if let Some((id, _, _)) = iter.peek() {
                    next = *id;
                }
                let reply = Reply::Array(vec![
                    id_reply(next),
                    Reply::Array(claimed),
                    Reply::Array(deleted),
                ]);
                Ok(((reply, consumer_created == Some(true)), true))
            },
        )?;
        if created {
            event(cx, &self.key, "xgroup-createconsumer");
        }
        Ok(reply)
    }
}

// ---- XINFO ----

/// One XINFO question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum XInfoQuestion {
    Stream { key: Bytes, full: Option<u64> },
    Groups { key: Bytes },
    Consumers { key: Bytes, group: Bytes },
    Help,
}

/// XINFO STREAM|GROUPS|CONSUMERS|HELP ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct XInfo {
    pub question: XInfoQuestion,
}

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Print this help.",
];

fn bulk_str(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn opt_int(value: Option<u64>) -> Reply {
    value.map_or(Reply::Nil, |v| Reply::Integer(v as i64))
}

impl XInfo {
    pub const SPEC: CommandSpec = CommandSpec::data("xinfo", -2, Group::Stream, XInfo::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::range(2, 2, 1))
        .docs(
            "5.0.0",
            "A container for stream introspection commands",
            &["subcommand", "[arguments...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1);
        let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
        let question = match lower.as_str() {
            "help" if args.len() == 2 => XInfoQuestion::Help,
            "help" => {
                return Err(CommandError::WrongArity {
                    command: "xinfo|help",
                })
            }
            "groups" if args.len() == 3 => XInfoQuestion::Groups { key: args.key(2) },
            "groups" => {
                return Err(CommandError::WrongArity {
                    command: "xinfo|groups",
                })
            }
            "consumers" if args.len() == 4 => XInfoQuestion::Consumers {
                key: args.key(2),
                group: args.key(3),
            },
            "consumers" => {
                return Err(CommandError::WrongArity {
                    command: "xinfo|consumers",
                })
            }
            "stream" if args.len() >= 3 => {
                let rest = args.from(3);
                let full = match rest.len() {
                    0 => None,
                    1 if is_option(&rest[0], "full") => Some(10),
                    3 if is_option(&rest[0], "full") && is_option(&rest[1], "count") => {
                        let n = parse_i64(&rest[2])?;
                        Some(if n <= 0 { 0 } else { n as u64 })
                    }
                    _ => return Err(CommandError::Syntax),
                };
                XInfoQuestion::Stream {
                    key: args.key(2),
                    full,
                }
            }
            "stream" => {
                return Err(CommandError::WrongArity {
                    command: "xinfo|stream",
                })
            }
            _ => {
                return Err(CommandError::UnknownSubcommand {
                    command: "XINFO",
                    subcommand: String::from_utf8_lossy(sub).into_owned(),
                })
            }
        };
        Ok(XInfo { question }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now = cx.now_ms;
        let stream_or_err = |key: &Bytes| -> Result<&StreamValue, CommandError> {
            stream_at(ks, key, now)?.ok_or(CommandError::NoSuchKey)
        };
        match &self.question {
            XInfoQuestion::Help => Ok(Reply::Array(
                XINFO_HELP
                    .iter()
                    .map(|line| Reply::Simple((*line).to_string()))
                    .collect(),
            )),
            XInfoQuestion::Groups { key } => {
                let stream = stream_or_err(key)?;
                let groups = stream
                    .groups
                    .iter()
                    .map(|(name, group)| {
                        Reply::Map(vec![
                            (bulk_str("name"), Reply::bulk(name)),
                            (
                                bulk_str("consumers"),
                                Reply::Integer(group.consumers.len() as i64),
                            ),
                            (bulk_str("pending"), Reply::Integer(group.pel.len() as i64)),
                            (bulk_str("last-delivered-id"), id_reply(group.last_id)),
                            (bulk_str("entries-read"), opt_int(group.entries_read)),
                            (bulk_str("lag"), opt_int(stream.group_lag(group))),
                        ])
                    })
                    .collect();
                Ok(Reply::Array(groups))
            }
            XInfoQuestion::Consumers { key, group } => {
                let stream = stream_or_err(key)?;
                let state = stream
                    .groups
                    .get(group)
                    .ok_or_else(|| no_such_group_for_key(key, group))?;
                let consumers = state
                    .consumers
                    .iter()
                    .map(|(name, consumer)| {
                        Reply::Map(vec![
                            (bulk_str("name"), Reply::bulk(name)),
                            (
                                bulk_str("pending"),
                                Reply::Integer(consumer.pending.len() as i64),
                            ),
                            (
                                bulk_str("idle"),
                                Reply::Integer(now.saturating_sub(consumer.seen_ms) as i64),
                            ),
                        ])
                    })
                    .collect();
                Ok(Reply::Array(consumers))
            }
            XInfoQuestion::Stream { key, full } => {
                let stream = stream_or_err(key)?;
                let mut out = vec![
                    (bulk_str("length"), Reply::Integer(stream.len() as i64)),
                    (
                        bulk_str("radix-tree-keys"),
                        Reply::Integer(stream.nodes.len() as i64),
                    ),
                    (
                        bulk_str("radix-tree-nodes"),
                        Reply::Integer(stream.nodes.len() as i64 + 1),
                    ),
                    (bulk_str("last-generated-id"), id_reply(stream.last_id)),
                    (
                        bulk_str("max-deleted-entry-id"),
                        id_reply(stream.max_deleted_id),
                    ),
                    (
                        bulk_str("entries-added"),
                        Reply::Integer(stream.entries_added as i64),
                    ),
                    (
                        bulk_str("recorded-first-entry-id"),
                        id_reply(stream.first_id()),
                    ),
                ];
                match full {
                    None => {
                        out.push((
                            bulk_str("groups"),
                            Reply::Integer(stream.groups.len() as i64),
                        ));
                        let first = stream.entries.get_min();
                        let last = stream.entries.get_max();
                        out.push((
                            bulk_str("first-entry"),
                            first.map_or(Reply::Nil, |(id, f)| entry_reply(*id, f)),
                        ));
                        out.push((
                            bulk_str("last-entry"),
                            last.map_or(Reply::Nil, |(id, f)| entry_reply(*id, f)),
                        ));
                    }
                    Some(count) => {
                        let limit = if *count == 0 {
                            usize::MAX
                        } else {
                            *count as usize
                        };
                        let entries = stream.range(StreamId::MIN, StreamId::MAX, false, limit);
                        out.push((bulk_str("entries"), entries_reply(&entries)));
                        let groups = stream
                            .groups
                            .iter()
                            .map(|(name, group)| full_group(stream, name, group, limit))
                            .collect();
                        out.push((bulk_str("groups"), Reply::Array(groups)));
                    }
                }
                Ok(Reply::Map(out))
            }
        }
    }
}

fn full_group(stream: &StreamValue, name: &Bytes, group: &ConsumerGroup, limit: usize) -> Reply {
    let pel = group
        .pel
        .iter()
        .take(limit)
        .map(|(id, p)| {
            Reply::Array(vec![
                id_reply(*id),
                Reply::bulk(&p.consumer),
                Reply::Integer(p.delivery_ms as i64),
                Reply::Integer(p.delivery_count as i64),
            ])
        })
        .collect();
    let consumers = group
        .consumers
        .iter()
        .map(|(cname, consumer)| {
            let pending = consumer
                .pending
                .iter()
                .take(limit)
                .filter_map(|id| {
                    group.pel.get(id).map(|p| {
                        Reply::Array(vec![
                            id_reply(*id),
                            Reply::Integer(p.delivery_ms as i64),
                            Reply::Integer(p.delivery_count as i64),
                        ])
                    })
                })
                .collect();
            Reply::Map(vec![
                (bulk_str("name"), Reply::bulk(cname)),
                (
                    bulk_str("seen-time"),
                    Reply::Integer(consumer.seen_ms as i64),
                ),
                (
                    bulk_str("pel-count"),
                    Reply::Integer(consumer.pending.len() as i64),
                ),
                (bulk_str("pending"), Reply::Array(pending)),
            ])
        })
        .collect();
    Reply::Map(vec![
        (bulk_str("name"), Reply::bulk(name)),
        (bulk_str("last-delivered-id"), id_reply(group.last_id)),
        (bulk_str("entries-read"), opt_int(group.entries_read)),
        (bulk_str("lag"), opt_int(stream.group_lag(group))),
        (
            bulk_str("pel-count"),
            Reply::Integer(group.pel.len() as i64),
        ),
        (bulk_str("pending"), Reply::Array(pel)),
        (bulk_str("consumers"), Reply::Array(consumers)),
    ])
}

#[cfg(test)]
mod tests;
