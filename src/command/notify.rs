//! Keyspace notifications: Redis's `notify-keyspace-events` flags, and the (class, event, key)
//! triples a write records in its [`Cx`] while it applies. The state machine hands them to the
//! node's pub/sub hub after the apply, on every node, so a subscriber anywhere sees the events of
//! every write. Nothing here runs unless notifications are on: [`Command::apply`] checks one
//! mask first.
//!
//! The events are derived from the command, its reply and which of its keys existed before and
//! after it ran: `new` when a key appears, the command's own event (`set`, `lpush`, `srem`, ...)
//! when it changed something, and `del` when a key it touched disappeared (a pop that emptied a
//! list). Expiry is `expired`, recorded where an expired key is removed (the sweeper's entry).

use bytes::Bytes;

use super::{Command, Cx, GetExExpiry, Keyspace, Reply, ScoreEnd, SetCondition, SetExpiry, Slot};

/// `K`: publish on `__keyspace@0__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@0__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted (Tandem never evicts).
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: key misses (accepted; Tandem does not emit them).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (accepted; Tandem has no modules).
pub const MODULE: u32 = 1 << 12;
/// `n`: a new key.
pub const NEW: u32 = 1 << 13;
/// `A`: `g$lshzxetd`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// One event: recorded by apply, published by the node's hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub class: u32,
    pub event: &'static str,
    pub key: Bytes,
}

/// Parses `notify-keyspace-events` (Redis's letters); None if a letter is unknown.
pub fn parse_flags(text: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for letter in text {
        flags |= match letter {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The flags as CONFIG GET shows them (Redis's order: `A` or the class letters, then K, E, m, n).
pub fn format_flags(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (bit, letter) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
        ] {
            if flags & bit != 0 {
                out.push(letter);
            }
        }
    }
    for (bit, letter) in [
        (KEYSPACE, 'K'),
        (KEYEVENT, 'E'),
        (KEY_MISS, 'm'),
        (NEW, 'n'),
    ] {
        if flags & bit != 0 {
            out.push(letter);
        }
    }
    out
}

/// Whether `flags` produce any message (Redis needs K or E, and some class).
pub fn active(flags: u32) -> bool {
    flags & (KEYSPACE | KEYEVENT) != 0 && flags & !(KEYSPACE | KEYEVENT) != 0
}

/// The keys whose appearance (`new`) and disappearance (`del`) apply watches, and the events
/// of the command itself once it has run with `reply`; `existed` says, per key, whether it was
/// live before.
fn keys_of(cmd: &Command) -> Vec<Bytes> {
    use Command as C;
    let one = |k: &Bytes| vec![k.clone()];
    match cmd {
        C::Set(c) => one(&c.key),
        C::SetNx(c) => one(&c.key),
        C::SetEx(c) => one(&c.key),
        C::PSetEx(c) => one(&c.key),
        C::GetSet(c) => one(&c.key),
        C::GetDel(c) => one(&c.key),
        C::Append(c) => one(&c.key),
        C::Incr(c) => one(&c.key),
        C::Decr(c) => one(&c.key),
        C::IncrBy(c) => one(&c.key),
        C::DecrBy(c) => one(&c.key),
        C::IncrByFloat(c) => one(&c.key),
        C::SetRange(c) => one(&c.key),
        C::MSet(c) => c.pairs.iter().map(|(k, _)| k.clone()).collect(),
        C::MSetNx(c) => c.pairs.iter().map(|(k, _)| k.clone()).collect(),
        C::Del(c) => c.keys.clone(),
        C::Unlink(c) => c.keys.clone(),
        C::Expire(c) => one(&c.key),
        C::PExpire(c) => one(&c.key),
        C::ExpireAt(c) => one(&c.key),
        C::PExpireAt(c) => one(&c.key),
        C::Persist(c) => one(&c.key),
        C::Rename(c) => vec![c.source.clone(), c.target.clone()],
        C::RenameNx(c) => vec![c.source.clone(), c.target.clone()],
        C::CopyKey(c) => one(&c.destination),
        C::LPush(c) => one(&c.key),
        C::RPush(c) => one(&c.key),
        C::LPushX(c) => one(&c.key),
        C::RPushX(c) => one(&c.key),
        C::LPop(c) => one(&c.key),
        C::RPop(c) => one(&c.key),
        C::LSet(c) => one(&c.key),
        C::LInsert(c) => one(&c.key),
        C::LRem(c) => one(&c.key),
        C::LTrim(c) => one(&c.key),
        C::RPopLPush(c) => vec![c.source.clone(), c.destination.clone()],
        C::LMove(c) => vec![c.source.clone(), c.destination.clone()],
        C::SAdd(c) => one(&c.key),
        C::SRem(c) => one(&c.key),
        C::SPop(c) => one(&c.key),
        C::SMove(c) => vec![c.source.clone(), c.destination.clone()],
        C::SInterStore(c) => one(&c.destination),
        C::SUnionStore(c) => one(&c.destination),
        C::SDiffStore(c) => one(&c.destination),
        C::HSet(c) => one(&c.key),
        C::HMSet(c) => one(&c.key),
        C::HSetNx(c) => one(&c.key),
        C::HDel(c) => one(&c.key),
        C::HIncrBy(c) => one(&c.key),
        C::HIncrByFloat(c) => one(&c.key),
        C::ZAdd(c) => one(&c.key),
        C::ZIncrBy(c) => one(&c.key),
        C::ZRem(c) => one(&c.key),
        C::ZPopMin(c) => one(&c.key),
        C::ZPopMax(c) => one(&c.key),
        C::ZRemRangeByScore(c) => one(&c.key),
        C::ZRemRangeByRank(c) => one(&c.key),
        C::ZRemRangeByLex(c) => one(&c.key),
        C::ZUnionStore(c) => one(&c.destination),
        C::ZInterStore(c) => one(&c.destination),
        C::ZDiffStore(c) => one(&c.destination),
        C::ZRangeStore(c) => one(&c.destination),
        C::SetBit(c) => one(&c.key),
        C::BitField(c) => one(&c.key),
        C::BitOp(c) => one(&c.destination),
        C::GetEx(c) => one(&c.key),
        C::SortStore(c) => one(&c.destination),
        C::LMPop(c) => c.keys.clone(),
        C::ZMPop(c) => c.keys.clone(),
        C::BLPop(c) => c.0.keys.clone(),
        C::BRPop(c) => c.0.keys.clone(),
        C::BZPopMin(c) => c.0.keys.clone(),
        C::BZPopMax(c) => c.0.keys.clone(),
        C::BLMPop(c) => c.pop.keys.clone(),
        C::BZMPop(c) => c.keys.clone(),
        C::BLMove(c) => vec![c.source.clone(), c.destination.clone()],
        C::BRPopLPush(c) => vec![c.source.clone(), c.destination.clone()],
        _ => Vec::new(),
    }
}

/// The key a multi-key pop (BLPOP, LMPOP, BZPOPMIN, ZMPOP, ...) popped from: the first
/// element of its reply. None when it popped nothing or blocked.
fn popped_key(reply: &Reply) -> Option<&Bytes> {
    match reply {
        Reply::Array(items) => match items.first() {
            Some(Reply::Bulk(key)) => Some(key),
            _ => None,
        },
        Reply::KeyedArrays(pairs) | Reply::Map(pairs) => match pairs.first() {
            Some((Reply::Bulk(key), _)) => Some(key),
            _ => None,
        },
        _ => None,
    }
}

fn score_end_event(end: ScoreEnd) -> &'static str {
    match end {
        ScoreEnd::Min => "zpopmin",
        ScoreEnd::Max => "zpopmax",
    }
}

fn changed(reply: &Reply) -> bool {
    match reply {
        Reply::Integer(n) => *n > 0,
        Reply::Nil | Reply::NilArray | Reply::Blocked => false,
        Reply::Array(items) | Reply::Set(items) => !items.is_empty(),
        Reply::Map(pairs) | Reply::Pairs(pairs) | Reply::KeyedArrays(pairs) => !pairs.is_empty(),
        _ => true,
    }
}

/// Whether some SET or INCRBY of a BITFIELD wrote (OVERFLOW FAIL answers nil for one that
/// did not; GETs never answer nil).
fn bitfield_wrote(cmd: &super::BitField, reply: &Reply) -> bool {
    let Reply::Array(replies) = reply else {
        return false;
    };
    cmd.ops
        .iter()
        .zip(replies)
        .any(|(op, r)| !op.is_get() && !matches!(r, Reply::Nil))
}

/// Per key of [`keys_of`]: live before the command, live after it, and whether the command
/// changed it (its WATCH version moved).
struct KeyStates {
    existed: Vec<bool>,
    exists: Vec<bool>,
    touched: Vec<bool>,
}

fn end_event(end: super::ListEnd, push: bool) -> &'static str {
    match (end, push) {
        (super::ListEnd::Left, true) => "lpush",
        (super::ListEnd::Right, true) => "rpush",
        (super::ListEnd::Left, false) => "lpop",
        (super::ListEnd::Right, false) => "rpop",
    }
}

/// The command's own events, given its reply and the states of its `keys_of`.
fn command_events(cmd: &Command, reply: &Reply, keys: &KeyStates, out: &mut Vec<KeyEvent>) {
    use Command as C;
    let (existed, exists, touched) = (&keys.existed, &keys.exists, &keys.touched);
    let mut add = |class: u32, event: &'static str, key: &Bytes| {
        out.push(KeyEvent {
            class,
            event,
            key: key.clone(),
        })
    };
    let did = changed(reply);
    match cmd {
        C::Set(c) => {
            let done = if c.return_old {
                match c.condition {
                    SetCondition::Always => true,
                    SetCondition::IfAbsent => !existed[0],
                    SetCondition::IfPresent => existed[0],
                }
            } else {
                !matches!(reply, Reply::Nil)
            };
            if done {
                add(STRING, "set", &c.key);
                if matches!(c.expiry, SetExpiry::InMs(_) | SetExpiry::AtMs(_)) {
                    add(GENERIC, "expire", &c.key);
                }
            }
        }
        C::SetNx(c) if did => add(STRING, "set", &c.key),
        C::SetEx(c) => {
            add(STRING, "set", &c.key);
            add(GENERIC, "expire", &c.key);
        }
        C::PSetEx(c) => {
            add(STRING, "set", &c.key);
            add(GENERIC, "expire", &c.key);
        }
        C::GetSet(c) => add(STRING, "set", &c.key),
        C::GetDel(c) if did => add(GENERIC, "del", &c.key),
        C::Append(c) => add(STRING, "append", &c.key),
        C::Incr(c) => add(STRING, "incrby", &c.key),
        // Redis reports DECR and DECRBY as `incrby` (one implementation for all four).
        C::Decr(c) => add(STRING, "incrby", &c.key),
        C::IncrBy(c) => add(STRING, "incrby", &c.key),
        C::DecrBy(c) => add(STRING, "incrby", &c.key),
        C::IncrByFloat(c) => add(STRING, "incrbyfloat", &c.key),
        C::SetRange(c) if !c.value.is_empty() => add(STRING, "setrange", &c.key),
        C::MSet(c) => c.pairs.iter().for_each(|(k, _)| add(STRING, "set", k)),
        C::MSetNx(c) if did => c.pairs.iter().for_each(|(k, _)| add(STRING, "set", k)),
        C::Del(Super { keys }) | C::Unlink(UnlinkKeys { keys }) => {
            // A key named twice is deleted (and reported) once.
            for (i, (key, was)) in keys.iter().zip(existed).enumerate() {
                if *was && !keys[..i].contains(key) {
                    add(GENERIC, "del", key);
                }
            }
        }
        // An expiry in the past deletes the key: only `del`, added below.
        C::Expire(c) if did && exists[0] => add(GENERIC, "expire", &c.key),
        C::PExpire(c) if did && exists[0] => add(GENERIC, "expire", &c.key),
        C::ExpireAt(c) if did && exists[0] => add(GENERIC, "expire", &c.key),
        C::PExpireAt(c) if did && exists[0] => add(GENERIC, "expire", &c.key),
        C::Persist(c) if did => add(GENERIC, "persist", &c.key),
        // Renaming a key to itself changes nothing and reports nothing.
        C::Rename(c) if did && c.source != c.target => {
            add(GENERIC, "rename_from", &c.source);
            add(GENERIC, "rename_to", &c.target);
        }
        C::RenameNx(c) if did => {
            add(GENERIC, "rename_from", &c.source);
            add(GENERIC, "rename_to", &c.target);
        }
        C::CopyKey(c) if did => add(GENERIC, "copy_to", &c.destination),
        C::LPush(c) => add(LIST, "lpush", &c.key),
        C::RPush(c) => add(LIST, "rpush", &c.key),
        C::LPushX(c) if did => add(LIST, "lpush", &c.key),
        C::RPushX(c) if did => add(LIST, "rpush", &c.key),
        C::LPop(c) if did => add(LIST, "lpop", &c.key),
        C::RPop(c) if did => add(LIST, "rpop", &c.key),
        C::LSet(c) => add(LIST, "lset", &c.key),
        C::LInsert(c) if did => add(LIST, "linsert", &c.key),
        C::LRem(c) if did => add(LIST, "lrem", &c.key),
        C::LTrim(c) if existed[0] => add(LIST, "ltrim", &c.key),
        // Redis reports the push before the pop.
        C::RPopLPush(c) if did => {
            add(LIST, "lpush", &c.destination);
            add(LIST, "rpop", &c.source);
        }
        C::LMove(c) if did => {
            add(LIST, end_event(c.to, true), &c.destination);
            add(LIST, end_event(c.from, false), &c.source);
        }
        C::SAdd(c) if did => add(SET, "sadd", &c.key),
        C::SRem(c) if did => add(SET, "srem", &c.key),
        C::SPop(c) if did => add(SET, "spop", &c.key),
        // Moving within one set changes nothing. The source's `del`, if it emptied, comes
        // between the removal and the addition, as in Redis.
        C::SMove(c) if did && c.source != c.destination => {
            add(SET, "srem", &c.source);
            if existed[0] && !exists[0] {
                add(GENERIC, "del", &c.source);
            }
            // Already a member there: only removed from the source.
            if touched[1] {
                add(SET, "sadd", &c.destination);
            }
        }
        C::SInterStore(c) if did => add(SET, "sinterstore", &c.destination),
        C::SUnionStore(c) if did => add(SET, "sunionstore", &c.destination),
        C::SDiffStore(c) if did => add(SET, "sdiffstore", &c.destination),
        C::HSet(c) => add(HASH, "hset", &c.key),
        C::HMSet(c) => add(HASH, "hset", &c.key),
        C::HSetNx(c) if did => add(HASH, "hset", &c.key),
        C::HDel(c) if did => add(HASH, "hdel", &c.key),
        C::HIncrBy(c) => add(HASH, "hincrby", &c.key),
        C::HIncrByFloat(c) => add(HASH, "hincrbyfloat", &c.key),
        C::ZAdd(c) if c.incr && touched[0] => add(ZSET, "zincr", &c.key),
        // Only when a member was added or its score changed.
        C::ZAdd(c) if !c.incr && touched[0] => add(ZSET, "zadd", &c.key),
        // Only when the score moved (an infinite score plus anything finite stays put).
        C::ZIncrBy(c) if touched[0] => add(ZSET, "zincr", &c.key),
        C::ZRem(c) if did => add(ZSET, "zrem", &c.key),
        C::ZPopMin(c) if did => add(ZSET, "zpopmin", &c.key),
        C::ZPopMax(c) if did => add(ZSET, "zpopmax", &c.key),
        C::ZRemRangeByScore(c) if did => add(ZSET, "zremrangebyscore", &c.key),
        C::ZRemRangeByRank(c) if did => add(ZSET, "zremrangebyrank", &c.key),
        C::ZRemRangeByLex(c) if did => add(ZSET, "zremrangebylex", &c.key),
        C::ZUnionStore(c) if did => add(ZSET, "zunionstore", &c.destination),
        C::ZInterStore(c) if did => add(ZSET, "zinterstore", &c.destination),
        C::ZDiffStore(c) if did => add(ZSET, "zdiffstore", &c.destination),
        C::ZRangeStore(c) if did => add(ZSET, "zrangestore", &c.destination),
        // Only when the bit changed or the string grew.
        C::SetBit(c) if touched[0] => add(STRING, "setbit", &c.key),
        // Only when a SET or INCRBY that was not refused by OVERFLOW FAIL changed a value or
        // made the string grow. A key created for writes that all failed reports nothing.
        C::BitField(c) if touched[0] && bitfield_wrote(c, reply) => add(STRING, "setbit", &c.key),
        // An empty result deletes the destination: `del`, added below.
        C::BitOp(c) if exists[0] => add(STRING, "set", &c.destination),
        C::SortStore(c) if exists[0] => add(LIST, "sortstore", &c.destination),
        C::GetEx(c) => match c.expiry {
            Ok(GetExExpiry::Persist) if touched[0] => add(GENERIC, "persist", &c.key),
            // An expiry in the past deletes the key: `del`, added below.
            Ok(GetExExpiry::Set(_)) if existed[0] && exists[0] => add(GENERIC, "expire", &c.key),
            _ => {}
        },
        C::LMPop(c) => {
            if let Some(key) = popped_key(reply) {
                add(LIST, end_event(c.end, false), key);
            }
        }
        C::BLMPop(c) => {
            if let Some(key) = popped_key(reply) {
                add(LIST, end_event(c.pop.end, false), key);
            }
        }
        C::BLPop(_) | C::BRPop(_) => {
            let event = if matches!(cmd, C::BLPop(_)) {
                "lpop"
            } else {
                "rpop"
            };
            if let Some(key) = popped_key(reply) {
                add(LIST, event, key);
            }
        }
        C::ZMPop(c) => {
            if let Some(key) = popped_key(reply) {
                add(ZSET, score_end_event(c.from), key);
            }
        }
        C::BZMPop(c) => {
            if let Some(key) = popped_key(reply) {
                add(ZSET, score_end_event(c.from), key);
            }
        }
        C::BZPopMin(_) | C::BZPopMax(_) => {
            let end = if matches!(cmd, C::BZPopMin(_)) {
                ScoreEnd::Min
            } else {
                ScoreEnd::Max
            };
            if let Some(key) = popped_key(reply) {
                add(ZSET, score_end_event(end), key);
            }
        }
        C::BRPopLPush(c) if did => {
            add(LIST, "lpush", &c.destination);
            add(LIST, "rpop", &c.source);
        }
        C::BLMove(c) if did => {
            add(LIST, end_event(c.to, true), &c.destination);
            add(LIST, end_event(c.from, false), &c.source);
        }
        _ => {}
    }
}

use super::{Del as Super, Unlink as UnlinkKeys};

/// [`Command::apply`] while notifications are on: runs the command and records its events.
pub(super) fn apply_notifying(cmd: &Command, ks: &mut Keyspace, cx: &mut Cx) -> Reply {
    let keys = keys_of(cmd);
    let live =
        |ks: &Keyspace, key: &Bytes, now: u64| ks.live(&Slot::new(key.clone()), now).is_some();
    let existed: Vec<bool> = keys.iter().map(|k| live(ks, k, cx.now_ms)).collect();
    let versions: Vec<_> = keys.iter().map(|k| ks.version(k, cx.now_ms)).collect();
    let reply = cmd.run_mut(ks, cx).unwrap_or_else(|error| error.to_reply());
    if matches!(reply, Reply::Error(_) | Reply::Blocked) || keys.is_empty() {
        return reply;
    }
    let exists: Vec<bool> = keys.iter().map(|k| live(ks, k, cx.now_ms)).collect();
    let touched: Vec<bool> = keys
        .iter()
        .zip(&versions)
        .map(|(k, before)| ks.version(k, cx.now_ms) != *before)
        .collect();
    let mut events = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if !existed[i] && exists[i] && !keys[..i].contains(key) {
            events.push(KeyEvent {
                class: NEW,
                event: "new",
                key: key.clone(),
            });
        }
    }
    let states = KeyStates {
        existed: existed.clone(),
        exists: exists.clone(),
        touched,
    };
    command_events(cmd, &reply, &states, &mut events);
    let renamed = matches!(cmd, Command::Rename(_) | Command::RenameNx(_));
    for (i, key) in keys.iter().enumerate() {
        let reported = events
            .iter()
            .any(|e| e.key == *key && (e.event == "del" || e.event == "rename_from"));
        if existed[i] && !exists[i] && !reported && !renamed && !keys[..i].contains(key) {
            events.push(KeyEvent {
                class: GENERIC,
                event: "del",
                key: key.clone(),
            });
        }
    }
    for event in events {
        cx.notify(event);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_print_as_redis() {
        let round = |text: &str| format_flags(parse_flags(text.as_bytes()).unwrap());
        assert_eq!(round("gKE"), "gKE");
        assert_eq!(round("$lshzxeKE"), "$lshzxeKE");
        assert_eq!(round("KA"), "AK");
        assert_eq!(round("EA"), "AE");
        assert_eq!(round(""), "");
        assert!(parse_flags(b"Q").is_none());
        assert!(!active(parse_flags(b"K").unwrap()));
        assert!(!active(parse_flags(b"A").unwrap()));
        assert!(active(parse_flags(b"Kg").unwrap()));
    }
}
