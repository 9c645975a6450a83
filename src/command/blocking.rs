//! Blocking pops: BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP, and serving
//! blocked clients in apply (these, and XREAD / XREADGROUP with BLOCK, see streams.rs).
//!
//! A blocking command is a write. Applied, it pops at once if it can; otherwise, if its
//! connection gave it a waiter id, it registers that waiter in the keyspace's replicated table
//! and answers [`Reply::Blocked`], and the connection then waits for the waiter's outcome. After
//! every operation of a log entry, the keys that got elements and have waiters are served,
//! oldest waiter first, so a push and the pops it satisfies are one step on every replica
//! (Redis's semantics: after `RPUSH k a` the client blocked on `k` already has `a`).
//! Without a waiter id (inside MULTI, from the embedded API) it answers as Redis does when a
//! client cannot block: a nil.
//!
//! Invariants: serving is a pure function of the keyspace and the entry (its term), like every
//! apply; a waiter is served at most once and then removed; a waiter registered in an older
//! term is dropped, not served, by the first entry of a newer term, because its client may have
//! been connected to a leader that is gone (its node registers it again if it is still there).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::lists::{move_element, parse_end, pop, pop_first, LMPop};
use super::streams::{serve_stream_group, serve_stream_read, GroupRead};
use super::zsets::{mpop_reply, parse_mpop, pop_first_present, pop_members};
use super::{
    numkeys_positions, Args, Command, CommandError, CommandSpec, Cx, Flags, Group, KeySpec, Reply,
    UnblockOutcome,
};
use crate::keyspace::{BlockedPop, Keyspace, ListEnd, RegisterError, ScoreEnd, Waiter, WaiterId};

/// Serving one ready key may make others ready (BLMOVE pushes); this bounds the rounds of one
/// apply so a cycle of moves cannot spin (each round serves at least one waiter, and there
/// are at most `BLOCKED_CLIENTS_MAX` of them).
const SERVE_ROUNDS_MAX: usize = crate::keyspace::BLOCKED_CLIENTS_MAX;

const WRITE_BLOCKING: Flags = Flags::WRITE.union(Flags::NOSCRIPT).union(Flags::BLOCKING);
const WRITE_DENYOOM_BLOCKING: Flags = WRITE_BLOCKING.union(Flags::DENYOOM);

/// 2^63 as a float: the first millisecond count that does not fit in an i64.
const I64_LIMIT_AS_F64: f64 = 9_223_372_036_854_775_808.0;

/// A blocking command's timeout in ms (0 = wait forever), as Redis reads it: seconds as a float.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<u64, CommandError> {
    let not_float = CommandError::TimeoutNotFloat;
    let text = std::str::from_utf8(arg).map_err(|_| not_float.clone())?;
    if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return Err(not_float);
    }
    let seconds: f64 = text.parse().map_err(|_| not_float.clone())?;
    if seconds.is_nan() {
        return Err(not_float);
    }
    let ms = seconds * 1000.0;
    // Redis converts to a signed 64-bit count of ms; a value that does not fit comes out
    // negative there, so it is "negative" here too.
    if !(0.0..I64_LIMIT_AS_F64).contains(&ms) {
        return Err(CommandError::TimeoutNegative);
    }
    Ok(ms as u64)
}

/// Registers `waiter` if the command has one; the reply then is [`Reply::Blocked`]. Without one,
/// `nil` is the answer (the command cannot block here).
pub(super) fn wait_or(
    ks: &mut Keyspace,
    cx: &Cx,
    waiter: Option<WaiterId>,
    keys: &[Bytes],
    pop: BlockedPop,
    nil: Reply,
) -> Result<Reply, CommandError> {
    let Some(id) = waiter else {
        return Ok(nil);
    };
    let registered = ks.blocked_mut().register(Waiter {
        id,
        keys: keys.to_vec(),
        pop,
        term: cx.term,
    });
    match registered {
        Ok(()) => Ok(Reply::Blocked),
        Err(RegisterError::Full) => Err(CommandError::TooManyBlocked {
            max: crate::keyspace::BLOCKED_CLIENTS_MAX,
        }),
        Err(RegisterError::Duplicate) => Err(CommandError::internal(
            "a waiter id was registered twice".to_string(),
        )),
    }
}

/// `[key, element]`: BLPOP's and BRPOP's reply.
fn key_and_element(key: Bytes, mut elements: Vec<Bytes>) -> Reply {
    let element = elements.pop().map_or(Reply::Nil, Reply::Bulk);
    Reply::Array(vec![Reply::Bulk(key), element])
}

/// `[key, [element ...]]`: BLMPOP's reply.
fn key_and_elements(key: Bytes, elements: Vec<Bytes>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(key),
        Reply::Array(elements.into_iter().map(Reply::Bulk).collect()),
    ])
}

// ---- BLPOP / BRPOP ----

/// BLPOP's and BRPOP's arguments: `key [key ...] timeout`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListWait {
    pub keys: Vec<Bytes>,
    /// 0 = forever. Only the client's node uses it (its timer); apply never reads it.
    pub timeout_ms: u64,
    /// Set by the connection that may block; None never blocks.
    pub waiter: Option<WaiterId>,
}

impl ListWait {
    fn parse(args: Args<'_>) -> Result<ListWait, CommandError> {
        let last = args.len() - 1;
        Ok(ListWait {
            keys: args.from(1)[..last - 1].to_vec(),
            timeout_ms: parse_timeout(args.at(last))?,
            waiter: None,
        })
    }

    fn apply(&self, ks: &mut Keyspace, cx: &mut Cx, side: ListEnd) -> Result<Reply, CommandError> {
        if let Some((key, elements)) = pop_first(ks, &self.keys, side, 1, cx.now_ms)? {
            return Ok(key_and_element(key, elements));
        }
        let pop = BlockedPop::List { side, count: None };
        wait_or(ks, cx, self.waiter, &self.keys, pop, Reply::NilArray)
    }
}

/// `BLPOP key [key ...] timeout`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BLPop(pub ListWait);

impl BLPop {
    pub const SPEC: CommandSpec = CommandSpec::data("blpop", -3, Group::List, BLPop::parse)
        .flags(WRITE_BLOCKING)
        .keys(KeySpec::range(1, -2, 1))
        .docs(
            "2.0.0",
            "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            &["key...", "timeout"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BLPop(ListWait::parse(args)?).into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        self.0.apply(ks, cx, ListEnd::Left)
    }
}

/// `BRPOP key [key ...] timeout`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BRPop(pub ListWait);

impl BRPop {
    pub const SPEC: CommandSpec = CommandSpec::data("brpop", -3, Group::List, BRPop::parse)
        .flags(WRITE_BLOCKING)
        .keys(KeySpec::range(1, -2, 1))
        .docs(
            "2.0.0",
            "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            &["key...", "timeout"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BRPop(ListWait::parse(args)?).into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        self.0.apply(ks, cx, ListEnd::Right)
    }
}

// ---- BLMOVE / BRPOPLPUSH ----

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BLMove {
    pub source: Bytes,
    pub destination: Bytes,
    pub from: ListEnd,
    pub to: ListEnd,
    pub timeout_ms: u64,
    pub waiter: Option<WaiterId>,
}

impl BLMove {
    pub const SPEC: CommandSpec = CommandSpec::data("blmove", 6, Group::List, BLMove::parse)
        .flags(WRITE_DENYOOM_BLOCKING)
        .keys(KeySpec::range(1, 2, 1))
        .docs(
            "6.2.0",
            "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.",
            &["source", "destination", "LEFT|RIGHT", "LEFT|RIGHT", "timeout"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BLMove {
            source: args.key(1),
            destination: args.key(2),
            from: parse_end(args.at(3))?,
            to: parse_end(args.at(4))?,
            timeout_ms: parse_timeout(args.at(5))?,
            waiter: None,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        blocking_move(
            ks,
            cx,
            (&self.source, &self.destination),
            (self.from, self.to),
            self.waiter,
        )
    }
}

/// `BRPOPLPUSH source destination timeout` (BLMOVE source destination RIGHT LEFT timeout)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BRPopLPush {
    pub source: Bytes,
    pub destination: Bytes,
    pub timeout_ms: u64,
    pub waiter: Option<WaiterId>,
}

impl BRPopLPush {
    pub const SPEC: CommandSpec =
        CommandSpec::data("brpoplpush", 4, Group::List, BRPopLPush::parse)
            .flags(WRITE_DENYOOM_BLOCKING)
            .keys(KeySpec::range(1, 2, 1))
            .docs(
                "2.2.0",
                "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.",
                &["source", "destination", "timeout"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BRPopLPush {
            source: args.key(1),
            destination: args.key(2),
            timeout_ms: parse_timeout(args.at(3))?,
            waiter: None,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        blocking_move(
            ks,
            cx,
            (&self.source, &self.destination),
            (ListEnd::Right, ListEnd::Left),
            self.waiter,
        )
    }
}

fn blocking_move(
    ks: &mut Keyspace,
    cx: &mut Cx,
    (source, destination): (&Bytes, &Bytes),
    (from, to): (ListEnd, ListEnd),
    waiter: Option<WaiterId>,
) -> Result<Reply, CommandError> {
    if let Some(element) = move_element(ks, source, destination, from, to, cx.now_ms)? {
        return Ok(Reply::Bulk(element));
    }
    let pop = BlockedPop::ListMove {
        from,
        to,
        destination: destination.clone(),
    };
    wait_or(
        ks,
        cx,
        waiter,
        std::slice::from_ref(source),
        pop,
        Reply::Nil,
    )
}

// ---- BLMPOP ----

/// BLMPOP's keys: `numkeys` at position 2 (after the timeout), the keys right after it.
fn blmpop_key_positions(args: &[Bytes]) -> Option<Vec<usize>> {
    numkeys_positions(args, 2)
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BLMPop {
    pub timeout_ms: u64,
    pub pop: LMPop,
    pub waiter: Option<WaiterId>,
}

impl BLMPop {
    pub const SPEC: CommandSpec = CommandSpec::data("blmpop", -5, Group::List, BLMPop::parse)
        .flags(Flags::WRITE.union(Flags::BLOCKING))
        .keys(KeySpec::movable(0, 0, 0, blmpop_key_positions))
        .docs(
            "7.0.0",
            "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.",
            &["timeout", "numkeys", "key...", "LEFT|RIGHT", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let timeout_ms = parse_timeout(args.at(1))?;
        Ok(BLMPop {
            timeout_ms,
            pop: LMPop::parse_from(args, 2)?,
            waiter: None,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let LMPop { keys, end, count } = &self.pop;
        if let Some((key, elements)) = pop_first(ks, keys, *end, *count, cx.now_ms)? {
            return Ok(key_and_elements(key, elements));
        }
        let pop = BlockedPop::List {
            side: *end,
            count: Some(*count),
        };
        wait_or(ks, cx, self.waiter, keys, pop, Reply::NilArray)
    }
}

// ---- BZPOPMIN / BZPOPMAX ----

/// `[key, member, score]`: BZPOPMIN's and BZPOPMAX's reply.
fn key_member_score(key: Bytes, mut members: Vec<(Bytes, f64)>) -> Reply {
    match members.pop() {
        Some((member, score)) => Reply::Array(vec![
            Reply::Bulk(key),
            Reply::Bulk(member),
            Reply::Double(score),
        ]),
        None => Reply::NilArray,
    }
}

fn zset_wait(
    wait: &ListWait,
    ks: &mut Keyspace,
    cx: &mut Cx,
    end: ScoreEnd,
) -> Result<Reply, CommandError> {
    if let Some((key, members)) = pop_first_present(ks, &wait.keys, end.end(), 1, cx.now_ms)? {
        return Ok(key_member_score(key, members));
    }
    let pop = BlockedPop::ZSet { end, count: None };
    wait_or(ks, cx, wait.waiter, &wait.keys, pop, Reply::NilArray)
}

/// `BZPOPMIN key [key ...] timeout`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BZPopMin(pub ListWait);

impl BZPopMin {
    pub const SPEC: CommandSpec =
        CommandSpec::data("bzpopmin", -3, Group::SortedSet, BZPopMin::parse)
            .flags(WRITE_BLOCKING.union(Flags::FAST))
            .keys(KeySpec::range(1, -2, 1))
            .docs(
                "5.0.0",
                "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
                &["key...", "timeout"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BZPopMin(ListWait::parse(args)?).into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        zset_wait(&self.0, ks, cx, ScoreEnd::Min)
    }
}

/// `BZPOPMAX key [key ...] timeout`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BZPopMax(pub ListWait);

impl BZPopMax {
    pub const SPEC: CommandSpec =
        CommandSpec::data("bzpopmax", -3, Group::SortedSet, BZPopMax::parse)
            .flags(WRITE_BLOCKING.union(Flags::FAST))
            .keys(KeySpec::range(1, -2, 1))
            .docs(
                "5.0.0",
                "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.",
                &["key...", "timeout"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BZPopMax(ListWait::parse(args)?).into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        zset_wait(&self.0, ks, cx, ScoreEnd::Max)
    }
}

// ---- BZMPOP ----

/// `BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BZMPop {
    pub timeout_ms: u64,
    pub keys: Vec<Bytes>,
    pub from: ScoreEnd,
    pub count: u64,
    pub waiter: Option<WaiterId>,
}

impl BZMPop {
    pub const SPEC: CommandSpec = CommandSpec::data("bzmpop", -5, Group::SortedSet, BZMPop::parse)
        .flags(Flags::WRITE.union(Flags::BLOCKING))
        .keys(KeySpec::movable(0, 0, 0, blmpop_key_positions))
        .docs(
            "7.0.0",
            "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
            &["timeout", "numkeys", "key...", "MIN|MAX", "[COUNT count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let timeout_ms = parse_timeout(args.at(1))?;
        let (keys, from, count) = parse_mpop(args, 2)?;
        Ok(BZMPop {
            timeout_ms,
            keys,
            from,
            count,
            waiter: None,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let end = self.from.end();
        if let Some(popped) = pop_first_present(ks, &self.keys, end, self.count, cx.now_ms)? {
            return Ok(mpop_reply(Some(popped)));
        }
        let pop = BlockedPop::ZSet {
            end: self.from,
            count: Some(self.count),
        };
        wait_or(ks, cx, self.waiter, &self.keys, pop, Reply::NilArray)
    }
}

// ---- what a connection needs to know ----

impl Command {
    /// For a blocking command: how long its client waits (ms, 0 = forever). None otherwise.
    pub fn block_timeout_ms(&self) -> Option<u64> {
        match self {
            Command::BLPop(BLPop(wait))
            | Command::BRPop(BRPop(wait))
            | Command::BZPopMin(BZPopMin(wait))
            | Command::BZPopMax(BZPopMax(wait)) => Some(wait.timeout_ms),
            Command::BLMove(c) => Some(c.timeout_ms),
            Command::BRPopLPush(c) => Some(c.timeout_ms),
            Command::BLMPop(c) => Some(c.timeout_ms),
            Command::BZMPop(c) => Some(c.timeout_ms),
            Command::XRead(c) => c.block_ms,
            Command::XReadGroup(c) => c.block_ms,
            _ => None,
        }
    }

    /// Lets a blocking command register `id` as its waiter when it finds nothing; false (and
    /// nothing changed) for any other command.
    pub fn set_waiter(&mut self, id: WaiterId) -> bool {
        let slot = match self {
            Command::BLPop(BLPop(wait))
            | Command::BRPop(BRPop(wait))
            | Command::BZPopMin(BZPopMin(wait))
            | Command::BZPopMax(BZPopMax(wait)) => &mut wait.waiter,
            Command::BLMove(c) => &mut c.waiter,
            Command::BRPopLPush(c) => &mut c.waiter,
            Command::BLMPop(c) => &mut c.waiter,
            Command::BZMPop(c) => &mut c.waiter,
            Command::XRead(c) => &mut c.waiter,
            Command::XReadGroup(c) => &mut c.waiter,
            _ => return false,
        };
        *slot = Some(id);
        true
    }

    /// For an XREAD dropped by a change of leader ([`UnblockOutcome::DroppedAfter`]): read
    /// after `after` (one id per stream) when it registers again, instead of resolving `$`
    /// anew. Nothing changes for any other command.
    pub fn resume_after(&mut self, after: &[crate::keyspace::StreamId]) {
        if let Command::XRead(read) = self {
            read.resume_after(after);
        }
    }
}

// ---- serving ----

/// Ends the waits of clients registered before the entry's term (see the module invariant).
pub(crate) fn end_stale_waits(ks: &mut Keyspace, cx: &mut Cx) {
    if ks.blocked().is_empty() {
        return;
    }
    for waiter in ks.blocked_mut().drop_before_term(cx.term) {
        let outcome = match waiter.pop {
            BlockedPop::StreamRead { after, .. } => UnblockOutcome::DroppedAfter(after),
            _ => UnblockOutcome::Dropped,
        };
        cx.unblock(waiter.id, outcome);
    }
}

/// Removes a waiter whose client stopped waiting (timed out, disconnected, CLIENT UNBLOCK):
/// 1 if it was still waiting, 0 if it had been served or dropped already.
pub(crate) fn cancel_wait(ks: &mut Keyspace, id: &WaiterId) -> Reply {
    Reply::Integer(i64::from(ks.blocked_mut().remove(id).is_some()))
}

/// Serves the waiters of every key that got elements since the last call.
pub(crate) fn serve_blocked(ks: &mut Keyspace, cx: &mut Cx) {
    for _ in 0..SERVE_ROUNDS_MAX {
        let ready = ks.blocked_mut().take_ready();
        if ready.is_empty() {
            return;
        }
        for key in ready {
            for id in ks.blocked().waiting_on(&key) {
                let Some(waiter) = ks.blocked().get(&id).cloned() else {
                    continue;
                };
                match serve_one(ks, &waiter, &key, cx) {
                    Served::Yes(reply) => {
                        ks.blocked_mut().remove(&id);
                        cx.unblock(id, UnblockOutcome::Served(reply));
                    }
                    // Nothing (left) to pop: the waiters behind it wait too.
                    Served::Empty => break,
                    // Nothing for this one (a stream read after another id); the next may
                    // still be served.
                    Served::Skip => continue,
                }
            }
        }
    }
}

/// The outcome of trying to serve one waiter from one key.
enum Served {
    /// Its wait is over with this reply (a pop, or an error such as WRONGTYPE).
    Yes(Reply),
    /// Nothing to pop from this key.
    Empty,
    /// Nothing for this waiter, but a waiter behind it may find something (streams: each
    /// reads after its own id, or for its own group).
    Skip,
}

/// Tries `waiter`'s pop on `key` (one of its keys, now ready).
fn serve_one(ks: &mut Keyspace, waiter: &Waiter, key: &Bytes, cx: &mut Cx) -> Served {
    match &waiter.pop {
        BlockedPop::List { side, count } => {
            match pop(ks, key, *side, count.unwrap_or(1), cx.now_ms) {
                Ok(Some(elements)) if !elements.is_empty() => Served::Yes(match count {
                    None => key_and_element(key.clone(), elements),
                    Some(_) => key_and_elements(key.clone(), elements),
                }),
                // No list (any more), or a value of another type now: nothing to serve.
                _ => Served::Empty,
            }
        }
        BlockedPop::ListMove {
            from,
            to,
            destination,
        } => match move_element(ks, key, destination, *from, *to, cx.now_ms) {
            Ok(Some(element)) => Served::Yes(Reply::Bulk(element)),
            Ok(None) => Served::Empty,
            // The destination holds another type: as Redis, the client gets the error and
            // stops waiting, and nothing is popped (the next waiter may take the element).
            Err(error) => Served::Yes(error.to_reply()),
        },
        BlockedPop::ZSet { end, count } => {
            match pop_members(ks, key, end.end(), count.unwrap_or(1), cx.now_ms) {
                Ok(Some(members)) if !members.is_empty() => Served::Yes(match count {
                    None => key_member_score(key.clone(), members),
                    Some(_) => mpop_reply(Some((key.clone(), members))),
                }),
                _ => Served::Empty,
            }
        }
        BlockedPop::StreamRead { count, after } => {
            let Some(at) = waiter.keys.iter().position(|k| k == key) else {
                return Served::Skip;
            };
            let after = after.get(at).copied().unwrap_or_default();
            match serve_stream_read(ks, key, after, *count, cx.now_ms) {
                Some(reply) => Served::Yes(reply),
                None => Served::Skip,
            }
        }
        BlockedPop::StreamGroup {
            group,
            consumer,
            count,
            no_ack,
        } => {
            let read = GroupRead {
                group,
                consumer,
                count: *count,
                no_ack: *no_ack,
            };
            match serve_stream_group(ks, key, &read, cx) {
                Some(reply) => Served::Yes(reply),
                None => Served::Skip,
            }
        }
    }
}

#[cfg(test)]
mod tests;
