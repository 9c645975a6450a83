//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SMOVE SPOP SRANDMEMBER SINTER
//! SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE SINTERCARD SSCAN.
//! Invariants: a set left empty by a write is deleted; a write to a live set keeps its TTL; a
//! STORE replaces its destination whatever its type (no TTL), or deletes it when the result is
//! empty; and every random choice of a write (SPOP) is drawn from `cx`, so every replica pops
//! the same members.
//!
//! Wire forms are in each spec, e.g. `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
//!
//! SSCAN's cursor is a member hash: members are visited in `(xxh3(member), member)` order (see
//! `keyspace/set.rs`), and the cursor is the hash of the next member to visit, 0 when done. A
//! batch ends only between two different hashes, so a member present for the whole scan is
//! returned at least once however the set changes between calls (a member added or removed
//! meanwhile may or may not be). A batch visits `COUNT` members (default 10), plus the rest of
//! its last hash group, whether or not they match `MATCH`.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::keys::parse_cursor;
use super::{
    is_option, numkeys_positions, parse_i64, parse_i64_strict, Args, Command, CommandError,
    CommandSpec, Cx, Flags, Group, KeySpec, Reply,
};
use crate::keyspace::{glob_match, Entry, Keyspace, SetValue, Slot, Value};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_FAST: Flags = Flags::WRITE.union(Flags::FAST);
const WRITE_DENYOOM: Flags = Flags::WRITE.union(Flags::DENYOOM);
const WRITE_DENYOOM_FAST: Flags = WRITE_DENYOOM.union(Flags::FAST);

/// SSCAN's default COUNT, as in Redis.
const SCAN_COUNT_DEFAULT: u64 = 10;

/// The most elements SRANDMEMBER with a negative count may return. Redis has no such limit; a
/// count of -10^12 would make Tandem build a reply it cannot hold.
pub const SRANDMEMBER_REPEATS_MAX: u64 = 1 << 22;

/// Whether a write changed the set (and so the key's version).
enum Change {
    None,
    Modified,
}

/// The live set at `key` (None if absent; WRONGTYPE for another type).
fn set_at<'a>(
    ks: &'a Keyspace,
    key: &Bytes,
    now_ms: u64,
) -> Result<Option<&'a SetValue>, CommandError> {
    match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Ok(None),
        Some(Entry {
            value: Value::Set(set),
            ..
        }) => Ok(Some(set)),
        Some(_) => Err(CommandError::WrongType),
    }
}

/// The set at each of `keys` (None where absent). Every key is type-checked, as Redis does, so
/// an absent key does not hide a wrong type after it.
fn sets_at<'a>(
    ks: &'a Keyspace,
    keys: &[Bytes],
    now_ms: u64,
) -> Result<Vec<Option<&'a SetValue>>, CommandError> {
    keys.iter().map(|key| set_at(ks, key, now_ms)).collect()
}

/// Runs `update` on the live set at `key`, or on a new empty set if the key is absent; then
/// stores, re-versions or deletes the key as needed.
fn update_set<R>(
    ks: &mut Keyspace,
    key: &Bytes,
    now_ms: u64,
    update: impl FnOnce(&mut SetValue) -> (R, Change),
) -> Result<R, CommandError> {
    let slot = Slot::new(key.clone());
    let (result, change, is_empty) = match ks.live_mut(&slot, now_ms) {
        Some(Entry {
            value: Value::Set(set),
            ..
        }) => {
            let (result, change) = update(set);
            (result, change, set.is_empty())
        }
        Some(_) => return Err(CommandError::WrongType),
        None => {
            let mut set = SetValue::default();
            let (result, _) = update(&mut set);
            if !set.is_empty() {
                ks.insert(slot, Value::Set(set), 0);
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

/// The STORE commands' ending: `destination` becomes `result` (no TTL), or is deleted when the
/// result is empty. Replies with the result's size.
fn store_set(ks: &mut Keyspace, destination: &Bytes, result: SetValue) -> Reply {
    let slot = Slot::new(destination.clone());
    let len = result.len();
    if result.is_empty() {
        ks.remove(&slot);
    } else {
        ks.insert(slot, Value::Set(result), 0);
    }
    Reply::Integer(len as i64)
}

/// RESP3 set of bulk strings (an array in RESP2).
fn set_reply<'a>(members: impl Iterator<Item = &'a Bytes>) -> Reply {
    Reply::Set(members.map(Reply::bulk).collect())
}

// ---- set algebra, shared by the plain and STORE forms ----

/// Members of the smallest set that are in every other set, in the smallest set's order; none
/// if any key is absent.
fn intersection<'a>(sets: &[Option<&'a SetValue>]) -> Vec<&'a Bytes> {
    let Some(mut present) = sets.iter().copied().collect::<Option<Vec<&SetValue>>>() else {
        return Vec::new();
    };
    present.sort_by_key(|set| set.len());
    let Some((smallest, others)) = present.split_first() else {
        return Vec::new();
    };
    smallest
        .iter()
        .filter(|member| others.iter().all(|set| set.contains(member)))
        .collect()
}

/// The sets present, and the index among them of the first of the largest (so the choice is
/// the same on every replica); None if no key is present.
fn largest_first<'a>(sets: &[Option<&'a SetValue>]) -> Option<(Vec<&'a SetValue>, usize)> {
    let present: Vec<&SetValue> = sets.iter().flatten().copied().collect();
    let largest = (0..present.len()).max_by_key(|&i| (present[i].len(), usize::MAX - i))?;
    Some((present, largest))
}

/// Every member of any set, for a reply: the largest set's members, then the others' members
/// that are new, each once.
fn union_members<'a>(sets: &[Option<&'a SetValue>]) -> Vec<&'a Bytes> {
    let Some((present, largest)) = largest_first(sets) else {
        return Vec::new();
    };
    let base = present[largest];
    let mut members: Vec<&Bytes> = base.iter().collect();
    let mut extra = BTreeSet::new();
    for (index, set) in present.iter().enumerate() {
        if index != largest {
            members.extend(
                set.iter()
                    .filter(|member| !base.contains(member) && extra.insert(*member)),
            );
        }
    }
    members
}

/// Every member of any set, as a new set: a clone of the largest (O(1)) plus the others'
/// members.
fn union_set(sets: &[Option<&SetValue>]) -> SetValue {
    let Some((present, largest)) = largest_first(sets) else {
        return SetValue::default();
    };
    let mut result = present[largest].clone();
    for (index, set) in present.iter().enumerate() {
        if index != largest {
            for member in set.iter() {
                result.insert(member.clone());
            }
        }
    }
    result
}

/// Members of the first set that are in none of the others, in the first set's order.
fn difference_members<'a>(sets: &[Option<&'a SetValue>]) -> Vec<&'a Bytes> {
    let Some(Some(first)) = sets.first() else {
        return Vec::new();
    };
    let others: Vec<&SetValue> = sets[1..].iter().flatten().copied().collect();
    first
        .iter()
        .filter(|member| !others.iter().any(|set| set.contains(member)))
        .collect()
}

/// The difference as a new set: the first set filtered, or a clone of it (O(1)) with the
/// others' members removed, whichever touches fewer members.
fn difference_set(sets: &[Option<&SetValue>]) -> SetValue {
    let Some(Some(first)) = sets.first() else {
        return SetValue::default();
    };
    let others_len: usize = sets[1..].iter().flatten().map(|set| set.len()).sum();
    if others_len >= first.len() {
        return difference_members(sets).into_iter().cloned().collect();
    }
    let mut result = (*first).clone();
    for member in sets[1..].iter().flatten().flat_map(|set| set.iter()) {
        result.remove(member);
    }
    result
}

// ---- SADD / SREM ----

/// `SADD key member [member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SAdd {
    pub key: Bytes,
    pub members: Vec<Bytes>,
}

impl SAdd {
    pub const SPEC: CommandSpec = CommandSpec::data("sadd", -3, Group::Set, SAdd::parse)
        .flags(WRITE_DENYOOM_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Adds members to a set, creating the set if needed.",
            &["key", "member..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SAdd {
            key: args.key(1),
            members: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_set(ks, &self.key, cx.now_ms, |set| {
            let added = self
                .members
                .iter()
                .filter(|member| set.insert((*member).clone()))
                .count();
            let change = if added > 0 {
                Change::Modified
            } else {
                Change::None
            };
            (Reply::Integer(added as i64), change)
        })
    }
}

/// `SREM key member [member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SRem {
    pub key: Bytes,
    pub members: Vec<Bytes>,
}

impl SRem {
    pub const SPEC: CommandSpec = CommandSpec::data("srem", -3, Group::Set, SRem::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Removes members from a set; the set is deleted when it becomes empty.",
            &["key", "member..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SRem {
            key: args.key(1),
            members: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        update_set(ks, &self.key, cx.now_ms, |set| {
            let removed = self
                .members
                .iter()
                .filter(|member| set.remove(member))
                .count();
            let change = if removed > 0 {
                Change::Modified
            } else {
                Change::None
            };
            (Reply::Integer(removed as i64), change)
        })
    }
}

// ---- SMEMBERS / SISMEMBER / SMISMEMBER / SCARD ----

/// `SMEMBERS key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SMembers {
    pub key: Bytes,
}

impl SMembers {
    pub const SPEC: CommandSpec = CommandSpec::data("smembers", 2, Group::Set, SMembers::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs("1.0.0", "Returns every member of a set.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SMembers { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = set_at(ks, &self.key, cx.now_ms)?;
        Ok(set_reply(set.into_iter().flat_map(SetValue::iter)))
    }
}

/// `SISMEMBER key member`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SIsMember {
    pub key: Bytes,
    pub member: Bytes,
}

impl SIsMember {
    pub const SPEC: CommandSpec = CommandSpec::data("sismember", 3, Group::Set, SIsMember::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Tells whether a value is a member of a set.",
            &["key", "member"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SIsMember {
            key: args.key(1),
            member: args.key(2),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = set_at(ks, &self.key, cx.now_ms)?;
        let is_member = set.is_some_and(|set| set.contains(&self.member));
        Ok(Reply::Integer(i64::from(is_member)))
    }
}

/// `SMISMEMBER key member [member ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SMIsMember {
    pub key: Bytes,
    pub members: Vec<Bytes>,
}

impl SMIsMember {
    pub const SPEC: CommandSpec =
        CommandSpec::data("smismember", -3, Group::Set, SMIsMember::parse)
            .flags(READ_FAST)
            .keys(KeySpec::ONE)
            .docs(
                "6.2.0",
                "Tells, for each value, whether it is a member of a set.",
                &["key", "member..."],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SMIsMember {
            key: args.key(1),
            members: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = set_at(ks, &self.key, cx.now_ms)?;
        Ok(Reply::Array(
            self.members
                .iter()
                .map(|member| {
                    let is_member = set.is_some_and(|set| set.contains(member));
                    Reply::Integer(i64::from(is_member))
                })
                .collect(),
        ))
    }
}

/// `SCARD key`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SCard {
    pub key: Bytes,
}

impl SCard {
    pub const SPEC: CommandSpec = CommandSpec::data("scard", 2, Group::Set, SCard::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs("1.0.0", "Returns the number of members in a set.", &["key"]);

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SCard { key: args.key(1) }.into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = set_at(ks, &self.key, cx.now_ms)?;
        Ok(Reply::Integer(set.map_or(0, SetValue::len) as i64))
    }
}

// ---- SMOVE ----

/// `SMOVE source destination member`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SMove {
    pub source: Bytes,
    pub destination: Bytes,
    pub member: Bytes,
}

impl SMove {
    pub const SPEC: CommandSpec = CommandSpec::data("smove", 4, Group::Set, SMove::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "1.0.0",
            "Moves a member from one set to another.",
            &["source", "destination", "member"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SMove {
            source: args.key(1),
            destination: args.key(2),
            member: args.key(3),
        }
        .into())
    }

    /// As Redis: an absent source answers 0 before the destination's type is looked at; the
    /// destination is re-versioned only if the member is new to it.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let Some(source) = set_at(ks, &self.source, now_ms)? else {
            return Ok(Reply::Integer(0));
        };
        let in_source = source.contains(&self.member);
        set_at(ks, &self.destination, now_ms)?;
        if self.source == self.destination || !in_source {
            return Ok(Reply::Integer(i64::from(in_source)));
        }
        update_set(ks, &self.source, now_ms, |set| {
            set.remove(&self.member);
            ((), Change::Modified)
        })?;
        update_set(ks, &self.destination, now_ms, |set| {
            let change = if set.insert(self.member.clone()) {
                Change::Modified
            } else {
                Change::None
            };
            ((), change)
        })?;
        Ok(Reply::Integer(1))
    }
}

// ---- SPOP / SRANDMEMBER ----

/// `SPOP key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SPop {
    pub key: Bytes,
    /// None: pop one member and reply with it (or nil); Some: reply with a set.
    pub count: Option<u64>,
}

impl SPop {
    pub const SPEC: CommandSpec = CommandSpec::data("spop", -2, Group::Set, SPop::parse)
        .flags(WRITE_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "1.0.0",
            "Removes and returns one or more random members of a set.",
            &["key", "[count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let count = match args.len() {
            2 => None,
            3 => {
                let count = parse_i64_strict(args.at(2)).ok_or(CommandError::NotPositive)?;
                Some(u64::try_from(count).map_err(|_| CommandError::NotPositive)?)
            }
            _ => return Err(CommandError::Syntax),
        };
        Ok(SPop {
            key: args.key(1),
            count,
        }
        .into())
    }

    /// Each popped member is drawn uniformly from those left, with `cx`'s random numbers, so
    /// the same log entry pops the same members on every replica.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        update_set(ks, &self.key, now_ms, |set| {
            let Some(count) = self.count else {
                if set.is_empty() {
                    return (Reply::Nil, Change::None);
                }
                let position = cx.random_below(set.len() as u64) as usize;
                return (Reply::Bulk(set.remove_at(position)), Change::Modified);
            };
            if count == 0 || set.is_empty() {
                return (Reply::Set(Vec::new()), Change::None);
            }
            if count >= set.len() as u64 {
                let all = set_reply(set.iter());
                *set = SetValue::default();
                return (all, Change::Modified);
            }
            let popped = (0..count)
                .map(|_| {
                    let position = cx.random_below(set.len() as u64) as usize;
                    Reply::Bulk(set.remove_at(position))
                })
                .collect();
            (Reply::Set(popped), Change::Modified)
        })
    }
}

/// `SRANDMEMBER key [count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SRandMember {
    pub key: Bytes,
    /// None: one member (or nil). Some(n > 0): up to n distinct members. Some(n < 0): |n|
    /// members drawn independently (repeats possible).
    pub count: Option<i64>,
}

impl SRandMember {
    pub const SPEC: CommandSpec =
        CommandSpec::data("srandmember", -2, Group::Set, SRandMember::parse)
            .flags(READ_MANY)
            .keys(KeySpec::ONE)
            .docs(
                "1.0.0",
                "Returns one or more random members of a set.",
                &["key", "[count]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let count = match args.len() {
            2 => None,
            3 => match parse_i64(args.at(2))? {
                i64::MIN => {
                    return Err(CommandError::OutOfRangeBetween {
                        min: -i64::MAX,
                        max: i64::MAX,
                    })
                }
                count => Some(count),
            },
            _ => return Err(CommandError::Syntax),
        };
        Ok(SRandMember {
            key: args.key(1),
            count,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let set = set_at(ks, &self.key, cx.now_ms)?;
        let Some(count) = self.count else {
            return Ok(match set {
                Some(set) => Reply::bulk(set.member_at(cx.random_below(set.len() as u64) as usize)),
                None => Reply::Nil,
            });
        };
        let Some(set) = set else {
            return Ok(Reply::Array(Vec::new()));
        };
        let len = set.len() as u64;
        let members: Vec<Reply> = if count < 0 {
            let repeats = count.unsigned_abs();
            if repeats > SRANDMEMBER_REPEATS_MAX {
                return Err(CommandError::RepeatsTooMany {
                    max: SRANDMEMBER_REPEATS_MAX,
                });
            }
            (0..repeats)
                .map(|_| Reply::bulk(set.member_at(cx.random_below(len) as usize)))
                .collect()
        } else if count as u64 >= len {
            set.iter().map(Reply::bulk).collect()
        } else {
            distinct_positions(count as u64, len, cx)
                .into_iter()
                .map(|position| Reply::bulk(set.member_at(position as usize)))
                .collect()
        };
        Ok(Reply::Array(members))
    }
}

/// `count` distinct positions in `0..len` (`count <= len`), every subset equally likely:
/// Floyd's sampling, O(count log count) whatever `len` is.
fn distinct_positions(count: u64, len: u64, cx: &mut Cx) -> Vec<u64> {
    let mut chosen = BTreeSet::new();
    let mut order = Vec::with_capacity(count as usize);
    for top in len - count..len {
        let pick = cx.random_below(top + 1);
        let pick = if chosen.insert(pick) {
            pick
        } else {
            chosen.insert(top);
            top
        };
        order.push(pick);
    }
    order
}

// ---- SINTER / SUNION / SDIFF and their STORE forms ----

/// `SINTER key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SInter {
    pub keys: Vec<Bytes>,
}

impl SInter {
    pub const SPEC: CommandSpec = CommandSpec::data("sinter", -2, Group::Set, SInter::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ALL)
        .docs(
            "1.0.0",
            "Returns the members common to every given set.",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SInter {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sets = sets_at(ks, &self.keys, cx.now_ms)?;
        Ok(set_reply(intersection(&sets).into_iter()))
    }
}

/// `SUNION key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SUnion {
    pub keys: Vec<Bytes>,
}

impl SUnion {
    pub const SPEC: CommandSpec = CommandSpec::data("sunion", -2, Group::Set, SUnion::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ALL)
        .docs(
            "1.0.0",
            "Returns the members of any of the given sets.",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SUnion {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sets = sets_at(ks, &self.keys, cx.now_ms)?;
        Ok(set_reply(union_members(&sets).into_iter()))
    }
}

/// `SDIFF key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SDiff {
    pub keys: Vec<Bytes>,
}

impl SDiff {
    pub const SPEC: CommandSpec = CommandSpec::data("sdiff", -2, Group::Set, SDiff::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ALL)
        .docs(
            "1.0.0",
            "Returns the members of the first set that are in none of the others.",
            &["key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SDiff {
            keys: args.from(1).to_vec(),
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sets = sets_at(ks, &self.keys, cx.now_ms)?;
        Ok(set_reply(difference_members(&sets).into_iter()))
    }
}

/// `SINTERSTORE destination key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SInterStore {
    pub destination: Bytes,
    pub keys: Vec<Bytes>,
}

impl SInterStore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("sinterstore", -3, Group::Set, SInterStore::parse)
            .flags(WRITE_DENYOOM)
            .keys(KeySpec::ALL)
            .docs(
                "1.0.0",
                "Stores the members common to every given set in a key.",
                &["destination", "key..."],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SInterStore {
            destination: args.key(1),
            keys: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sets = sets_at(ks, &self.keys, cx.now_ms)?;
        let result: SetValue = intersection(&sets).into_iter().cloned().collect();
        Ok(store_set(ks, &self.destination, result))
    }
}

/// `SUNIONSTORE destination key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SUnionStore {
    pub destination: Bytes,
    pub keys: Vec<Bytes>,
}

impl SUnionStore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("sunionstore", -3, Group::Set, SUnionStore::parse)
            .flags(WRITE_DENYOOM)
            .keys(KeySpec::ALL)
            .docs(
                "1.0.0",
                "Stores the members of any of the given sets in a key.",
                &["destination", "key..."],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SUnionStore {
            destination: args.key(1),
            keys: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let result = union_set(&sets_at(ks, &self.keys, cx.now_ms)?);
        Ok(store_set(ks, &self.destination, result))
    }
}

/// `SDIFFSTORE destination key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SDiffStore {
    pub destination: Bytes,
    pub keys: Vec<Bytes>,
}

impl SDiffStore {
    pub const SPEC: CommandSpec =
        CommandSpec::data("sdiffstore", -3, Group::Set, SDiffStore::parse)
            .flags(WRITE_DENYOOM)
            .keys(KeySpec::ALL)
            .docs(
                "1.0.0",
                "Stores the members of the first set that are in none of the others in a key.",
                &["destination", "key..."],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(SDiffStore {
            destination: args.key(1),
            keys: args.from(2).to_vec(),
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let result = difference_set(&sets_at(ks, &self.keys, cx.now_ms)?);
        Ok(store_set(ks, &self.destination, result))
    }
}

// ---- SINTERCARD ----

/// SINTERCARD's keys: `numkeys` at position 1, then that many keys.
fn sintercard_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    numkeys_positions(args, 1)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SInterCard {
    pub keys: Vec<Bytes>,
    /// Stop counting at this many; 0 = no limit.
    pub limit: u64,
}

impl SInterCard {
    pub const SPEC: CommandSpec =
        CommandSpec::data("sintercard", -3, Group::Set, SInterCard::parse)
            .flags(READ_MANY)
            .keys(KeySpec::movable(0, 0, 0, sintercard_keys))
            .docs(
                "7.0.0",
                "Counts the members common to every given set, up to an optional limit.",
                &["numkeys", "key...", "[LIMIT limit]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let numkeys = parse_i64_strict(args.at(1))
            .filter(|&n| n >= 1)
            .ok_or(CommandError::NumkeysNotPositive)?;
        let numkeys = usize::try_from(numkeys).map_err(|_| CommandError::NumkeysTooMany)?;
        if numkeys > args.len() - 2 {
            return Err(CommandError::NumkeysTooMany);
        }
        let mut limit = 0;
        let mut index = 2 + numkeys;
        while index < args.len() {
            if is_option(args.at(index), "limit") && index + 1 < args.len() {
                let value = parse_i64_strict(args.at(index + 1))
                    .and_then(|value| u64::try_from(value).ok())
                    .ok_or(CommandError::LimitNegative)?;
                limit = value;
                index += 2;
            } else {
                return Err(CommandError::Syntax);
            }
        }
        Ok(SInterCard {
            keys: args.from(2)[..numkeys].to_vec(),
            limit,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sets = sets_at(ks, &self.keys, cx.now_ms)?;
        let limit = if self.limit == 0 {
            usize::MAX
        } else {
            usize::try_from(self.limit).unwrap_or(usize::MAX)
        };
        // As `intersection`, but counting, and stopping at the limit.
        let Some(mut present) = sets.into_iter().collect::<Option<Vec<&SetValue>>>() else {
            return Ok(Reply::Integer(0));
        };
        present.sort_by_key(|set| set.len());
        let (smallest, others) = present
            .split_first()
            .expect("SINTERCARD has at least one key");
        let count = smallest
            .iter()
            .filter(|member| others.iter().all(|set| set.contains(member)))
            .take(limit)
            .count();
        Ok(Reply::Integer(count as i64))
    }
}

// ---- SSCAN ----

/// An SSCAN option error. Redis reports it only once the key is found to be a set (an absent
/// key answers an empty scan, another type WRONGTYPE), so parsing keeps it for the read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanOptionError {
    /// An unknown option, a missing value or a COUNT below 1.
    Syntax,
    /// A COUNT that is not an integer.
    NotInteger,
}

impl From<ScanOptionError> for CommandError {
    fn from(error: ScanOptionError) -> CommandError {
        match error {
            ScanOptionError::Syntax => CommandError::Syntax,
            ScanOptionError::NotInteger => CommandError::NotInteger,
        }
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SScan {
    pub key: Bytes,
    /// The member hash to resume from (see the module docs); 0 starts a scan.
    pub cursor: u64,
    /// None matches every member.
    pub pattern: Option<Bytes>,
    pub count: u64,
    pub option_error: Option<ScanOptionError>,
}

impl SScan {
    pub const SPEC: CommandSpec = CommandSpec::data("sscan", -3, Group::Set, SScan::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.8.0",
            "Iterates over the members of a set.",
            &["key", "cursor", "[MATCH pattern]", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let cursor = parse_cursor(args.at(2))?;
        let mut pattern = None;
        let mut count = SCAN_COUNT_DEFAULT;
        let mut option_error = None;
        let mut index = 3;
        while index < args.len() {
            let option = args.at(index);
            let has_value = index + 1 < args.len();
            if is_option(option, "count") && has_value {
                match parse_i64_strict(args.at(index + 1)) {
                    Some(value) if value >= 1 => count = value as u64,
                    Some(_) => option_error = Some(ScanOptionError::Syntax),
                    None => option_error = Some(ScanOptionError::NotInteger),
                }
            } else if is_option(option, "match") && has_value {
                let raw = args.key(index + 1);
                // "*" matches everything; skipping it saves the per-member match.
                pattern = (raw[..] != b"*"[..]).then_some(raw);
            } else {
                option_error = Some(ScanOptionError::Syntax);
            }
            if option_error.is_some() {
                break;
            }
            index += 2;
        }
        Ok(SScan {
            key: args.key(1),
            cursor,
            pattern,
            count,
            option_error,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(set) = set_at(ks, &self.key, cx.now_ms)? else {
            return Ok(scan_reply(0, Vec::new()));
        };
        if let Some(error) = self.option_error {
            return Err(error.into());
        }
        let mut members = Vec::new();
        let mut last_hash = None;
        let mut next_cursor = 0;
        for (visited, (hash, member)) in (0u64..).zip(set.scan_from(self.cursor)) {
            if visited >= self.count && last_hash != Some(hash) {
                next_cursor = hash;
                break;
            }
            last_hash = Some(hash);
            if self
                .pattern
                .as_ref()
                .is_none_or(|pattern| glob_match(pattern, member))
            {
                members.push(Reply::bulk(member));
            }
        }
        Ok(scan_reply(next_cursor, members))
    }
}

fn scan_reply(cursor: u64, members: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(members),
    ])
}

#[cfg(test)]
mod tests;
