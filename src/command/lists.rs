//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
//! LTRIM LPOS LMOVE RPOPLPUSH LMPOP. Invariant: a list left empty by a write is deleted, and a
//! write to a live list changes it in place (its TTL stays, its WATCH version moves); a write
//! that finds nothing to change (LREM, LINSERT without a match, a pop of 0) leaves the version
//! alone, as Redis does.
//!
//! The pop and move steps ([`pop`], [`pop_first`], [`move_element`]) are small functions of
//! their own so the blocking variants can run exactly the same steps when they wake.
//! Wire forms are in each spec's argument hints, e.g.
//! `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.

use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    bulk_or_nil, is_option, numkeys_positions, parse_i64, parse_i64_strict, Args, Command,
    CommandError, CommandSpec, Cx, Flags, Group, KeySpec, Reply,
};
use crate::keyspace::{Entry, Keyspace, ListEnd, ListValue, Slot, Value};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const WRITE_DENYOOM_FAST: Flags = WRITE_DENYOOM.union(Flags::FAST);
/// LMOVE and RPOPLPUSH: `source destination ...`.
const SOURCE_DESTINATION: KeySpec = KeySpec::range(1, 2, 1);

/// LINSERT's BEFORE / AFTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InsertSide {
    Before,
    After,
}

// ---- shared list access ----

/// The live list at `key` for a read (None if absent; WRONGTYPE for another type).
fn list_at<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    now_ms: u64,
) -> Result<Option<&'a ListValue>, CommandError> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::List(list),
            ..
        }) => Ok(Some(list)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// Whether a change to a list happened, so the key is re-versioned only when it did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    Modified,
}

/// Runs `change` on the live list at `key` and then re-versions the key, or removes it when the
/// change emptied the list. `Ok(None)` (nothing run) when the key is absent; WRONGTYPE when it
/// holds another type. The TTL is kept: the entry is changed in place.
fn modify_list<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    change: impl FnOnce(&mut ListValue) -> Result<(R, Change), CommandError>,
) -> Result<Option<R>, CommandError> {
    let slot = Slot::new(key.clone());
    let (result, change, is_empty) = match ks.live_mut(&slot, now_ms) {
        None => return Ok(None),
        Some(Entry {
            value: Value::List(list),
            ..
        }) => {
            let (result, change) = change(list)?;
            (result, change, list.is_empty())
        }
        Some(_) => return Err(CommandError::WrongType),
    };
    match change {
        Change::None => {}
        Change::Modified if is_empty => {
            ks.remove(&slot);
        }
        Change::Modified => ks.touch(&slot),
    }
    Ok(Some(result))
}

/// Pushes `elements` one by one at `end` of the list at `key` (so LPUSH a b c leaves c first),
/// creating the list when `create` allows. Returns the new length, 0 when the key is absent and
/// `create` is false.
pub(super) fn push(
    ks: &mut Keyspace,
    key: &Bytes,
    end: ListEnd,
    elements: &[Bytes],
    create: bool,
    now_ms: u64,
) -> Result<usize, CommandError> {
    let pushed = modify_list(ks, key, now_ms, |list| {
        for element in elements {
            list.push(end, element.clone());
        }
        Ok((list.len(), Change::Modified))
    })?;
    match pushed {
        Some(len) => Ok(len),
        None if create && !elements.is_empty() => {
            let list: ListValue = match end {
                ListEnd::Right => elements.iter().cloned().collect(),
                ListEnd::Left => elements.iter().rev().cloned().collect(),
            };
            let len = list.len();
            ks.insert(Slot::new(key.clone()), Value::List(list), 0);
            Ok(len)
        }
        None => Ok(0),
    }
}

/// Pops up to `count` elements from `end` of the list at `key`, in the order they come off;
/// deletes the key when it empties. `Ok(None)` when there is no list at `key`; `count` 0 on a
/// live list pops nothing and changes nothing.
pub(super) fn pop(
    ks: &mut Keyspace,
    key: &Bytes,
    end: ListEnd,
    count: u64,
    now_ms: u64,
) -> Result<Option<Vec<Bytes>>, CommandError> {
    modify_list(ks, key, now_ms, |list| {
        let taken = usize::try_from(count).unwrap_or(usize::MAX).min(list.len());
        let popped: Vec<Bytes> = (0..taken).filter_map(|_| list.pop(end)).collect();
        let change = if popped.is_empty() {
            Change::None
        } else {
            Change::Modified
        };
        Ok((popped, change))
    })
}

/// LMPOP's step (and BLPOP's, BRPOP's and BLMPOP's when they find or are handed data): pops up
/// to `count` elements from `end` of the first key in `keys` that holds a list. A key of
/// another type before that one is WRONGTYPE; keys after it are not looked at. `Ok(None)` when
/// no key holds a list.
pub(super) fn pop_first(
    ks: &mut Keyspace,
    keys: &[Bytes],
    end: ListEnd,
    count: u64,
    now_ms: u64,
) -> Result<Option<(Bytes, Vec<Bytes>)>, CommandError> {
    for key in keys {
        if let Some(popped) = pop(ks, key, end, count, now_ms)? {
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

/// LMOVE's step (and RPOPLPUSH's, BLMOVE's, BRPOPLPUSH's): pops one element from `from` of the
/// list at `source` and pushes it at `to` of the list at `destination`, creating that list if
/// needed. Returns the element, or `Ok(None)` when there is no list at `source`. A destination
/// of another type is WRONGTYPE before anything is popped. With `source == destination` the
/// list rotates in place (it never passes through empty, so its TTL stays).
pub(super) fn move_element(
    ks: &mut Keyspace,
    source: &Bytes,
    destination: &Bytes,
    from: ListEnd,
    to: ListEnd,
    now_ms: u64,
) -> Result<Option<Bytes>, CommandError> {
    if list_at(ks, source, now_ms)?.is_none() {
        return Ok(None);
    }
    if source == destination {
        return modify_list(ks, source, now_ms, |list| {
            let element = list
                .pop(from)
                .ok_or_else(|| CommandError::internal("a stored list is never empty"))?;
            list.push(to, element.clone());
            Ok((element, Change::Modified))
        });
    }
    list_at(ks, destination, now_ms)?;
    let Some(mut popped) = pop(ks, source, from, 1, now_ms)? else {
        return Ok(None);
    };
    let Some(element) = popped.pop() else {
        return Err(CommandError::internal("a stored list is never empty"));
    };
    push(
        ks,
        destination,
        to,
        std::slice::from_ref(&element),
        true,
        now_ms,
    )?;
    Ok(Some(element))
}

/// Redis's index into a list of `len`: negative counts from the tail (-1 is the last); None
/// when out of range.
fn resolve_index(len: usize, index: i64) -> Option<usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let index = if index < 0 { index + len } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// Redis's inclusive `start stop` range over a list of `len` (LRANGE, LTRIM): negative counts
/// from the tail, a start before the head is the head, a stop past the tail is the tail. None
/// when the range selects nothing.
fn resolve_range(len: usize, start: i64, stop: i64) -> Option<Range<usize>> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { start + len } else { start }.max(0);
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some(start as usize..stop as usize + 1)
}

/// LEFT or RIGHT (any case), as LMOVE, LMPOP and their blocking variants take them.
pub(super) fn parse_end(arg: &[u8]) -> Result<ListEnd, CommandError> {
    if is_option(arg, "left") {
        Ok(ListEnd::Left)
    } else if is_option(arg, "right") {
        Ok(ListEnd::Right)
    } else {
        Err(CommandError::Syntax)
    }
}

fn bulks(elements: Vec<Bytes>) -> Reply {
    Reply::Array(elements.into_iter().map(Reply::Bulk).collect())
}

fn length_reply(len: usize) -> Reply {
    Reply::Integer(i64::try_from(len).unwrap_or(i64::MAX))
}

// ---- LPUSH / RPUSH / LPUSHX / RPUSHX ----

/// `LPUSH key element [element ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LPush {
    pub key: Bytes,
    pub elements: Vec<Bytes>,
}

impl LPush {
    pub const SPEC: CommandSpec = CommandSpec::data("lpush", -3, Group::List, LPush::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Pushes elements at the head of a list, creating the list if needed.",
            &["key", "element..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LPush {
            key: args.key(1),
            elements: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let len = push(
            ks,
            &self.key,
            ListEnd::Left,
            &self.elements,
            true,
            cx.now_ms,
        )?;
        Ok(length_reply(len))
    }
}

/// `RPUSH key element [element ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RPush {
    pub key: Bytes,
    pub elements: Vec<Bytes>,
}

impl RPush {
    pub const SPEC: CommandSpec = CommandSpec::data("rpush", -3, Group::List, RPush::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Pushes elements at the tail of a list, creating the list if needed.",
            &["key", "element..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RPush {
            key: args.key(1),
            elements: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let len = push(
            ks,
            &self.key,
            ListEnd::Right,
            &self.elements,
            true,
            cx.now_ms,
        )?;
        Ok(length_reply(len))
    }
}

/// `LPUSHX key element [element ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LPushX {
    pub key: Bytes,
    pub elements: Vec<Bytes>,
}

impl LPushX {
    pub const SPEC: CommandSpec = CommandSpec::data("lpushx", -3, Group::List, LPushX::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Pushes elements at the head of a list, only if the list already exists.",
            &["key", "element..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LPushX {
            key: args.key(1),
            elements: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let len = push(
            ks,
            &self.key,
            ListEnd::Left,
            &self.elements,
            false,
            cx.now_ms,
        )?;
        Ok(length_reply(len))
    }
}

/// `RPUSHX key element [element ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RPushX {
    pub key: Bytes,
    pub elements: Vec<Bytes>,
}

impl RPushX {
    pub const SPEC: CommandSpec = CommandSpec::data("rpushx", -3, Group::List, RPushX::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Pushes elements at the tail of a list, only if the list already exists.",
            &["key", "element..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RPushX {
            key: args.key(1),
            elements: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let len = push(
            ks,
            &self.key,
            ListEnd::Right,
            &self.elements,
            false,
            cx.now_ms,
        )?;
        Ok(length_reply(len))
    }
}

// ---- LPOP / RPOP ----

/// LPOP's and RPOP's optional count: a non-negative integer (anything else is "must be
/// positive", as Redis words it); a third argument is an arity error.
fn parse_pop_count(args: Args<'_>) -> Result<Option<u64>, CommandError> {
    match args.len() {
        2 => Ok(None),
        3 => parse_i64_strict(args.at(2))
            .and_then(|count| u64::try_from(count).ok())
            .map(Some)
            .ok_or(CommandError::NotPositive),
        _ => Err(args.arity_error()),
    }
}

/// LPOP/RPOP: without a count, one element or nil; with one, an array (empty for count 0),
/// and a nil array when the key is absent.
fn pop_reply(
    ks: &mut Keyspace,
    key: &Bytes,
    end: ListEnd,
    count: Option<u64>,
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let popped = pop(ks, key, end, count.unwrap_or(1), now_ms)?;
    Ok(match (popped, count) {
        (None, None) => Reply::Nil,
        (None, Some(_)) => Reply::NilArray,
        (Some(mut popped), None) => bulk_or_nil(popped.pop().as_ref()),
        (Some(popped), Some(_)) => bulks(popped),
    })
}

/// `LPOP key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LPop {
    pub key: Bytes,
    pub count: Option<u64>,
}

impl LPop {
    pub const SPEC: CommandSpec = CommandSpec::data("lpop", -2, Group::List, LPop::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Removes and returns elements from the head of a list; the key is deleted when the list empties.",
            &["key", "[count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LPop {
            key: args.key(1),
            count: parse_pop_count(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        pop_reply(ks, &self.key, ListEnd::Left, self.count, cx.now_ms)
    }
}

/// `RPOP key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RPop {
    pub key: Bytes,
    pub count: Option<u64>,
}

impl RPop {
    pub const SPEC: CommandSpec = CommandSpec::data("rpop", -2, Group::List, RPop::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Removes and returns elements from the tail of a list; the key is deleted when the list empties.",
            &["key", "[count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RPop {
            key: args.key(1),
            count: parse_pop_count(args)?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        pop_reply(ks, &self.key, ListEnd::Right, self.count, cx.now_ms)
    }
}

// ---- LLEN ----

/// `LLEN key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LLen {
    pub key: Bytes,
}

impl LLen {
    pub const SPEC: CommandSpec = CommandSpec::data("llen", 2, Group::List, LLen::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Returns the number of elements in a list.",
            &["key"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LLen { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let list = list_at(ks, &self.key, cx.now_ms)?;
        Ok(length_reply(list.map_or(0, ListValue::len)))
    }
}

// ---- LRANGE ----

/// `LRANGE key start stop`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LRange {
    pub key: Bytes,
    /// Inclusive; negative counts from the tail.
    pub start: i64,
    pub stop: i64,
}

impl LRange {
    pub const SPEC: CommandSpec = CommandSpec::data("lrange", 4, Group::List, LRange::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Returns the elements of a list between two indexes, both included.",
            &["key", "start", "stop"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LRange {
            key: args.key(1),
            start: parse_i64(args.at(2))?,
            stop: parse_i64(args.at(3))?,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(list) = list_at(ks, &self.key, cx.now_ms)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        let Some(range) = resolve_range(list.len(), self.start, self.stop) else {
            return Ok(Reply::Array(Vec::new()));
        };
        Ok(Reply::Array(list.range(range).map(Reply::bulk).collect()))
    }
}

// ---- LINDEX ----

/// `LINDEX key index`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LIndex {
    pub key: Bytes,
    /// Negative counts from the tail. None when the argument is not an integer: Redis reports
    /// that only after it has found a list at the key.
    pub index: Option<i64>,
}

impl LIndex {
    pub const SPEC: CommandSpec = CommandSpec::data("lindex", 3, Group::List, LIndex::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Returns the element at an index of a list.",
            &["key", "index"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LIndex {
            key: args.key(1),
            index: parse_i64_strict(args.at(2)),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(list) = list_at(ks, &self.key, cx.now_ms)? else {
            return Ok(Reply::Nil);
        };
        let index = self.index.ok_or(CommandError::NotInteger)?;
        let element = resolve_index(list.len(), index).and_then(|at| list.get(at));
        Ok(bulk_or_nil(element))
    }
}

// ---- LSET ----

/// `LSET key index element`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LSet {
    pub key: Bytes,
    /// Negative counts from the tail. None when the argument is not an integer: Redis reports
    /// that only after it has found a list at the key.
    pub index: Option<i64>,
    pub element: Bytes,
}

impl LSet {
    pub const SPEC: CommandSpec = CommandSpec::data("lset", 4, Group::List, LSet::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Replaces the element at an index of a list.",
            &["key", "index", "element"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LSet {
            key: args.key(1),
            index: parse_i64_strict(args.at(2)),
            element: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = modify_list(ks, &self.key, cx.now_ms, |list| {
            let index = self.index.ok_or(CommandError::NotInteger)?;
            let at = resolve_index(list.len(), index).ok_or(CommandError::IndexOutOfRange)?;
            list.set(at, self.element.clone());
            Ok(((), Change::Modified))
        })?;
        set.map(|()| Reply::Ok).ok_or(CommandError::NoSuchKey)
    }
}

// ---- LINSERT ----

/// `LINSERT key BEFORE|AFTER pivot element`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LInsert {
    pub key: Bytes,
    pub side: InsertSide,
    pub pivot: Bytes,
    pub element: Bytes,
}

impl LInsert {
    pub const SPEC: CommandSpec = CommandSpec::data("linsert", 5, Group::List, LInsert::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Inserts an element before or after the first occurrence of a pivot element in a list.",
            &["key", "BEFORE|AFTER", "pivot", "element"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let side = if is_option(args.at(2), "before") {
            InsertSide::Before
        } else if is_option(args.at(2), "after") {
            InsertSide::After
        } else {
            return Err(CommandError::Syntax);
        };
        Ok(LInsert {
            key: args.key(1),
            side,
            pivot: args.key(3),
            element: args.key(4),
        }
        .into())
    }

    /// The new length, -1 when the pivot is not in the list, 0 when there is no list.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let inserted = modify_list(ks, &self.key, cx.now_ms, |list| {
            let Some(at) = list.iter().position(|item| *item == self.pivot) else {
                return Ok((Reply::Integer(-1), Change::None));
            };
            let at = match self.side {
                InsertSide::Before => at,
                InsertSide::After => at + 1,
            };
            list.insert(at, self.element.clone());
            Ok((length_reply(list.len()), Change::Modified))
        })?;
        Ok(inserted.unwrap_or(Reply::Integer(0)))
    }
}

// ---- LREM ----

/// `LREM key count element`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LRem {
    pub key: Bytes,
    /// > 0: at most this many, from the head; < 0: at most -count, from the tail; 0: all.
    pub count: i64,
    pub element: Bytes,
}

impl LRem {
    pub const SPEC: CommandSpec = CommandSpec::data("lrem", 4, Group::List, LRem::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Removes occurrences of an element from a list; the key is deleted when the list empties.",
            &["key", "count", "element"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LRem {
            key: args.key(1),
            count: parse_i64(args.at(2))?,
            element: args.key(3),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let from = if self.count < 0 {
            ListEnd::Right
        } else {
            ListEnd::Left
        };
        let count_max = match self.count {
            0 => None,
            count => Some(usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)),
        };
        let removed = modify_list(ks, &self.key, cx.now_ms, |list| {
            let removed = list.remove_matching(&self.element, count_max, from);
            let change = if removed > 0 {
                Change::Modified
            } else {
                Change::None
            };
            Ok((removed, change))
        })?;
        Ok(length_reply(removed.unwrap_or(0)))
    }
}

// ---- LTRIM ----

/// `LTRIM key start stop`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LTrim {
    pub key: Bytes,
    /// Inclusive; negative counts from the tail.
    pub start: i64,
    pub stop: i64,
}

impl LTrim {
    pub const SPEC: CommandSpec = CommandSpec::data("ltrim", 4, Group::List, LTrim::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Keeps only the elements of a list between two indexes; the key is deleted when nothing is left.",
            &["key", "start", "stop"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LTrim {
            key: args.key(1),
            start: parse_i64(args.at(2))?,
            stop: parse_i64(args.at(3))?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        // Redis counts every LTRIM of a live list as a change (WATCH sees it), even one that
        // keeps everything.
        modify_list(ks, &self.key, cx.now_ms, |list| {
            let keep = resolve_range(list.len(), self.start, self.stop).unwrap_or(0..0);
            list.retain_range(keep);
            Ok(((), Change::Modified))
        })?;
        Ok(Reply::Ok)
    }
}

// ---- LPOS ----

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LPos {
    pub key: Bytes,
    pub element: Bytes,
    /// Which match to start from: 1 the first from the head, -1 the first from the tail; never 0.
    pub rank: i64,
    /// COUNT: None answers one position (or nil); Some(0) every match; Some(n) at most n.
    pub count: Option<u64>,
    /// MAXLEN: compare at most this many elements (0 = no limit).
    pub maxlen: u64,
}

impl LPos {
    pub const SPEC: CommandSpec = CommandSpec::data("lpos", -3, Group::List, LPos::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "6.0.6",
            "Returns the positions of the elements of a list that match a given element.",
            &[
                "key",
                "element",
                "[RANK rank]",
                "[COUNT num-matches]",
                "[MAXLEN len]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let mut rank = 1;
        let mut count = None;
        let mut maxlen = 0;
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            let Some(value) = (index + 1 < args.len()).then(|| args.at(index + 1)) else {
                return Err(CommandError::Syntax);
            };
            // A later repeat of an option overrides the earlier one, as in Redis.
            if is_option(option, "rank") {
                rank = parse_i64(value)?;
                if rank == 0 {
                    return Err(CommandError::LposRankZero);
                }
            } else if is_option(option, "count") {
                count = Some(
                    parse_i64_strict(value)
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or(CommandError::LposCountNegative)?,
                );
            } else if is_option(option, "maxlen") {
                maxlen = parse_i64_strict(value)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or(CommandError::LposMaxlenNegative)?;
            } else {
                return Err(CommandError::Syntax);
            }
            index += 2;
        }
        Ok(LPos {
            key: args.key(1),
            element: args.key(2),
            rank,
            count,
            maxlen,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(list) = list_at(ks, &self.key, cx.now_ms)? else {
            return Ok(match self.count {
                Some(_) => Reply::Array(Vec::new()),
                None => Reply::Nil,
            });
        };
        let positions = self.positions(list);
        Ok(match self.count {
            Some(_) => Reply::Array(positions.into_iter().map(length_reply).collect()),
            None => positions.first().map_or(Reply::Nil, |at| length_reply(*at)),
        })
    }

    /// Head-based positions of the matches LPOS reports, in the order it reports them.
    fn positions(&self, list: &ListValue) -> Vec<usize> {
        let len = list.len();
        // Redis 7.0 negates RANK i64::MIN into itself, which then admits every match and
        // never reaches COUNT: the first match from the tail on, all of them.
        let skip = if self.rank == i64::MIN {
            0
        } else {
            usize::try_from(self.rank.unsigned_abs() - 1).unwrap_or(usize::MAX)
        };
        let wanted = match self.count {
            _ if self.rank == i64::MIN => usize::MAX,
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let scanned = match usize::try_from(self.maxlen) {
            Ok(0) | Err(_) => len,
            Ok(maxlen) => maxlen.min(len),
        };
        // Distances from the end the scan starts at, of the scanned elements that match.
        let matching = |items: &mut dyn Iterator<Item = &Bytes>| -> Vec<usize> {
            items
                .take(scanned)
                .enumerate()
                .filter(|(_, item)| **item == self.element)
                .map(|(distance, _)| distance)
                .skip(skip)
                .take(wanted)
                .collect()
        };
        if self.rank > 0 {
            matching(&mut list.iter())
        } else {
            let mut from_tail = matching(&mut list.iter().rev());
            for at in &mut from_tail {
                *at = len - 1 - *at;
            }
            from_tail
        }
    }
}

// ---- LMOVE / RPOPLPUSH ----

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LMove {
    pub source: Bytes,
    pub destination: Bytes,
    pub from: ListEnd,
    pub to: ListEnd,
}

impl LMove {
    pub const SPEC: CommandSpec = CommandSpec::data("lmove", 5, Group::List, LMove::parse)
        .flags(WRITE_DENYOOM)
        .keys(SOURCE_DESTINATION)
        .docs(
            "6.2.0",
            "Pops an element from one end of a list and pushes it at an end of another (or the same) list.",
            &["source", "destination", "LEFT|RIGHT", "LEFT|RIGHT"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(LMove {
            source: args.key(1),
            destination: args.key(2),
            from: parse_end(args.at(3))?,
            to: parse_end(args.at(4))?,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let moved = move_element(
            ks,
            &self.source,
            &self.destination,
            self.from,
            self.to,
            cx.now_ms,
        )?;
        Ok(bulk_or_nil(moved.as_ref()))
    }
}

/// `RPOPLPUSH source destination` (LMOVE source destination RIGHT LEFT)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RPopLPush {
    pub source: Bytes,
    pub destination: Bytes,
}

impl RPopLPush {
    pub const SPEC: CommandSpec =
        CommandSpec::data("rpoplpush", 3, Group::List, RPopLPush::parse)
            .flags(WRITE_DENYOOM)
            .keys(SOURCE_DESTINATION)
            .docs(
                "1.2.0",
                "Pops the last element of a list and pushes it at the head of another (or the same) list.",
                &["source", "destination"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(RPopLPush {
            source: args.key(1),
            destination: args.key(2),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let moved = move_element(
            ks,
            &self.source,
            &self.destination,
            ListEnd::Right,
            ListEnd::Left,
            cx.now_ms,
        )?;
        Ok(bulk_or_nil(moved.as_ref()))
    }
}

// ---- LMPOP ----

/// LMPOP's keys: `numkeys` at position 1, the keys right after it.
fn lmpop_key_positions(args: &[Bytes]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LMPop {
    pub keys: Vec<Bytes>,
    pub end: ListEnd,
    /// At least 1.
    pub count: u64,
}

impl LMPop {
    pub const SPEC: CommandSpec = CommandSpec::data("lmpop", -4, Group::List, LMPop::parse)
        .flags(Flags::WRITE)
        .keys(KeySpec::movable(0, 0, 0, lmpop_key_positions))
        .docs(
            "7.0.0",
            "Pops elements from one end of the first non-empty list among the given keys.",
            &["numkeys", "key...", "LEFT|RIGHT", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Self::parse_from(args, 1).map(Command::from)
    }

    /// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `args[first]`
    /// (BLMPOP has its timeout first).
    pub(super) fn parse_from(args: Args<'_>, first: usize) -> Result<LMPop, CommandError> {
        let numkeys = parse_i64_strict(args.at(first))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or(CommandError::NumkeysNotPositive)?;
        let keys_start = first + 1;
        let end_at = match keys_start.checked_add(numkeys) {
            Some(at) if at < args.len() => at,
            _ => return Err(CommandError::Syntax),
        };
        let end = parse_end(args.at(end_at))?;
        let mut count = None;
        let mut index = end_at + 1;
        while index < args.len() {
            let option = args.at(index);
            if is_option(option, "count") && count.is_none() && index + 1 < args.len() {
                let value = parse_i64_strict(args.at(index + 1))
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or(CommandError::CountNotPositive)?;
                count = Some(value);
                index += 2;
            } else {
                return Err(CommandError::Syntax);
            }
        }
        Ok(LMPop {
            keys: args.from(keys_start)[..numkeys].to_vec(),
            end,
            count: count.unwrap_or(1),
        })
    }

    /// `[key, [element ...]]`, or a nil array when no key holds a list.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let popped = pop_first(ks, &self.keys, self.end, self.count, cx.now_ms)?;
        Ok(match popped {
            Some((key, elements)) => Reply::Array(vec![Reply::Bulk(key), bulks(elements)]),
            None => Reply::NilArray,
        })
    }
}

#[cfg(test)]
mod tests;
