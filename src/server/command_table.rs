//! The table of commands this server answers, as COMMAND, COMMAND INFO and COMMAND DOCS report
//! them (arity, flags, key positions, one-line docs and argument hints for redis-cli).
//! Invariant: every data command here parses with `Command::parse`, and every name the
//! dispatcher routes has an entry (both checked by tests).

use bytes::Bytes;

use crate::command::Reply;

/// One command as COMMAND describes it.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    /// Redis 7 flag names ("write", "readonly", "fast", "denyoom", ...).
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Redis doc group ("string", "hash", "sorted-set", "generic", "connection", ...).
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument hints: `name`, `[optional]`, `repeated...`, `TOKEN`, `A|B` (see `arg_doc`).
    pub arguments: &'static [&'static str],
}

impl CommandSpec {
    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }
}

const W: &[&str] = &["write"];
const WF: &[&str] = &["write", "fast"];
const WD: &[&str] = &["write", "denyoom"];
const WDF: &[&str] = &["write", "denyoom", "fast"];
const R: &[&str] = &["readonly"];
const RF: &[&str] = &["readonly", "fast"];
const CONN: &[&str] = &["noscript", "loading", "stale", "fast"];
const NOAUTH: &[&str] = &[
    "noscript",
    "loading",
    "stale",
    "fast",
    "no_auth",
    "allow_busy",
];
const TXN: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];
const NONE: &[&str] = &[];

#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    arguments: &'static [&'static str],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        since,
        summary,
        arguments,
    }
}

const ONE: (i32, i32, i32) = (1, 1, 1);
const NO_KEYS: (i32, i32, i32) = (0, 0, 0);
const ALL_KEYS: (i32, i32, i32) = (1, -1, 1);
const EXPIRE_ARGS: &[&str] = &["key", "time", "[NX|XX|GT|LT]"];

/// Data commands (served by the command model) then server and connection commands.
pub const COMMANDS: &[CommandSpec] = &[
    // strings
    spec("get", 2, RF, ONE, "string", "1.0.0", "Returns the string value of a key.", &["key"]),
    spec("set", -3, WD, ONE, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        &["key", "value", "[NX|XX]", "[GET]", "[EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"]),
    spec("setnx", 3, WDF, ONE, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", &["key", "value"]),
    spec("getset", 3, WDF, ONE, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", &["key", "value"]),
    spec("getdel", 2, WF, ONE, "string", "6.2.0", "Returns the string value of a key after deleting the key.", &["key"]),
    spec("mget", -2, RF, ALL_KEYS, "string", "1.0.0", "Atomically returns the string values of one or more keys.", &["key..."]),
    spec("mset", -3, WD, (1, -1, 2), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", &["key value..."]),
    spec("msetnx", -3, WD, (1, -1, 2), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", &["key value..."]),
    spec("append", 3, WDF, ONE, "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", &["key", "value"]),
    spec("strlen", 2, RF, ONE, "string", "2.2.0", "Returns the length of a string value.", &["key"]),
    spec("incr", 2, WDF, ONE, "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", &["key"]),
    spec("decr", 2, WDF, ONE, "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", &["key"]),
    spec("incrby", 3, WDF, ONE, "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", &["key", "increment"]),
    spec("decrby", 3, WDF, ONE, "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", &["key", "decrement"]),
    // keys
    spec("del", -2, W, ALL_KEYS, "generic", "1.0.0", "Deletes one or more keys.", &["key..."]),
    spec("exists", -2, RF, ALL_KEYS, "generic", "1.0.0", "Determines whether one or more keys exist.", &["key..."]),
    spec("type", 2, RF, ONE, "generic", "1.0.0", "Determines the type of value stored at a key.", &["key"]),
    spec("expire", -3, WF, ONE, "generic", "1.0.0", "Sets the expiration time of a key in seconds.", EXPIRE_ARGS),
    spec("pexpire", -3, WF, ONE, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", EXPIRE_ARGS),
    spec("expireat", -3, WF, ONE, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", &["key", "unix-time-seconds", "[NX|XX|GT|LT]"]),
    spec("pexpireat", -3, WF, ONE, "generic", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", &["key", "unix-time-milliseconds", "[NX|XX|GT|LT]"]),
    spec("ttl", 2, RF, ONE, "generic", "1.0.0", "Returns the expiration time in seconds of a key.", &["key"]),
    spec("pttl", 2, RF, ONE, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", &["key"]),
    spec("persist", 2, WF, ONE, "generic", "2.2.0", "Removes the expiration time of a key.", &["key"]),
    spec("rename", 3, W, (1, 2, 1), "generic", "1.0.0", "Renames a key and overwrites the destination.", &["key", "newkey"]),
    spec("keys", 2, R, NO_KEYS, "generic", "1.0.0", "Returns all key names that match a pattern.", &["pattern"]),
    spec("scan", -2, R, NO_KEYS, "generic", "2.8.0", "Iterates over the key names in the database.", &["cursor", "[MATCH pattern]", "[COUNT count]", "[TYPE type]"]),
    spec("dbsize", 1, RF, NO_KEYS, "server", "1.0.0", "Returns the number of keys in the database.", &[]),
    spec("flushdb", -1, W, NO_KEYS, "server", "1.0.0", "Removes all keys from the current database.", &["[ASYNC|SYNC]"]),
    spec("flushall", -1, W, NO_KEYS, "server", "1.0.0", "Removes all keys from all databases.", &["[ASYNC|SYNC]"]),
    // hashes
    spec("hset", -4, WDF, ONE, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", &["key", "field value..."]),
    spec("hmset", -4, WDF, ONE, "hash", "2.0.0", "Sets the values of multiple fields.", &["key", "field value..."]),
    spec("hsetnx", 4, WDF, ONE, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", &["key", "field", "value"]),
    spec("hget", 3, RF, ONE, "hash", "2.0.0", "Returns the value of a field in a hash.", &["key", "field"]),
    spec("hmget", -3, RF, ONE, "hash", "2.0.0", "Returns the values of all fields in a hash.", &["key", "field..."]),
    spec("hdel", -3, WF, ONE, "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", &["key", "field..."]),
    spec("hgetall", 2, R, ONE, "hash", "2.0.0", "Returns all fields and values in a hash.", &["key"]),
    spec("hincrby", 4, WDF, ONE, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", &["key", "field", "increment"]),
    spec("hlen", 2, RF, ONE, "hash", "2.0.0", "Returns the number of fields in a hash.", &["key"]),
    spec("hexists", 3, RF, ONE, "hash", "2.0.0", "Determines whether a field exists in a hash.", &["key", "field"]),
    spec("hkeys", 2, R, ONE, "hash", "2.0.0", "Returns all fields in a hash.", &["key"]),
    spec("hvals", 2, R, ONE, "hash", "2.0.0", "Returns all values in a hash.", &["key"]),
    // sorted sets
    spec("zadd", -4, WDF, ONE, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        &["key", "[NX|XX]", "[GT|LT]", "[CH]", "[INCR]", "score member..."]),
    spec("zrem", -3, WF, ONE, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", &["key", "member..."]),
    spec("zscore", 3, RF, ONE, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", &["key", "member"]),
    spec("zincrby", 4, WDF, ONE, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", &["key", "increment", "member"]),
    spec("zcard", 2, RF, ONE, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", &["key"]),
    spec("zrank", 3, RF, ONE, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", &["key", "member"]),
    spec("zrange", -4, R, ONE, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.",
        &["key", "start", "stop", "[BYSCORE]", "[REV]", "[LIMIT offset count]", "[WITHSCORES]"]),
    spec("zrangebyscore", -4, R, ONE, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.",
        &["key", "min", "max", "[WITHSCORES]", "[LIMIT offset count]"]),
    spec("zpopmin", -2, WF, ONE, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", &["key", "[count]"]),
    spec("zpopmax", -2, WF, ONE, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", &["key", "[count]"]),
    // connection
    spec("ping", -1, &["fast"], NO_KEYS, "connection", "1.0.0", "Returns the server's liveliness response.", &["[message]"]),
    spec("echo", 2, &["fast"], NO_KEYS, "connection", "1.0.0", "Returns the given string.", &["message"]),
    spec("hello", -1, NOAUTH, NO_KEYS, "connection", "6.0.0", "Handshakes with the Redis server.", &["[protover [AUTH username password] [SETNAME clientname]]"]),
    spec("auth", -2, NOAUTH, NO_KEYS, "connection", "1.0.0", "Authenticates the connection.", &["[username]", "password"]),
    spec("client", -2, NONE, NO_KEYS, "connection", "2.4.0", "A container for client connection commands (SETNAME, GETNAME, ID, LIST, INFO, KILL, SETINFO).", &["subcommand", "[argument...]"]),
    spec("select", 2, CONN, NO_KEYS, "connection", "1.0.0", "Changes the selected database (Tandem has only database 0).", &["index"]),
    spec("quit", -1, NOAUTH, NO_KEYS, "connection", "1.0.0", "Closes the connection.", &[]),
    spec("reset", 1, NOAUTH, NO_KEYS, "connection", "6.2.0", "Resets the connection.", &[]),
    // transactions
    spec("multi", 1, TXN, NO_KEYS, "transactions", "1.2.0", "Starts a transaction.", &[]),
    spec("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], NO_KEYS, "transactions", "1.2.0", "Executes all commands in a transaction (one log entry).", &[]),
    spec("discard", 1, TXN, NO_KEYS, "transactions", "2.0.0", "Discards a transaction.", &[]),
    spec("watch", -2, TXN, ALL_KEYS, "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", &["key..."]),
    spec("unwatch", 1, TXN, NO_KEYS, "transactions", "2.2.0", "Forgets about watched keys of a transaction.", &[]),
    // server
    spec("time", 1, &["loading", "stale", "fast"], NO_KEYS, "server", "2.6.0", "Returns the server time.", &[]),
    spec("info", -1, &["loading", "stale"], NO_KEYS, "server", "1.0.0", "Returns information and statistics about the server.", &["[section...]"]),
    spec("command", -1, &["loading", "stale"], NO_KEYS, "server", "2.8.13", "Returns detailed information about all commands (COUNT, INFO, DOCS, LIST).", &["[COUNT|INFO|DOCS|LIST]", "[command-name...]"]),
    spec("config", -2, ADMIN, NO_KEYS, "server", "2.0.0", "Reads the server configuration (GET, RESETSTAT).", &["GET", "parameter..."]),
    spec("wait", 3, NONE, NO_KEYS, "generic", "3.0.0", "Answers at once: every acknowledged write is already on a quorum (the count of followers holding all applied writes; 0 on a single node).", &["numreplicas", "timeout"]),
    // cluster
    spec("readonly", 1, &["loading", "stale", "fast"], NO_KEYS, "cluster", "3.0.0", "Lets this connection read from a follower (stale by at most the configured lag).", &[]),
    spec("readwrite", 1, &["loading", "stale", "fast"], NO_KEYS, "cluster", "3.0.0", "Back to linearizable reads for this connection.", &[]),
    spec("tandem", -2, ADMIN, NO_KEYS, "cluster", "0.1.0", "Tandem cluster administration (STATUS, ADD-NODE, REMOVE-NODE, TRANSFER-LEADER).", &["STATUS|ADD-NODE|REMOVE-NODE|TRANSFER-LEADER", "[argument...]"]),
];

/// The entry for `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name.as_bytes().eq_ignore_ascii_case(name))
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// COMMAND INFO's 10-element array for one command (Redis 7 layout).
pub fn info_reply(spec: &CommandSpec) -> Reply {
    let mut categories = vec![Reply::Simple(format!("@{}", spec.group.replace('-', "")))];
    for flag in spec.flags {
        match *flag {
            "write" => categories.push(Reply::Simple("@write".into())),
            "readonly" => categories.push(Reply::Simple("@read".into())),
            "fast" => categories.push(Reply::Simple("@fast".into())),
            _ => {}
        }
    }
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Array(
            spec.flags
                .iter()
                .map(|f| Reply::Simple((*f).into()))
                .collect(),
        ),
        Reply::Integer(i64::from(spec.first_key)),
        Reply::Integer(i64::from(spec.last_key)),
        Reply::Integer(i64::from(spec.step)),
        Reply::Array(categories),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// COMMAND DOCS's map for one command: summary, since, group, complexity, arguments.
pub fn docs_reply(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group)),
        (
            bulk("arguments"),
            Reply::Array(spec.arguments.iter().map(|a| arg_doc(a)).collect()),
        ),
    ])
}

/// One argument of COMMAND DOCS from a hint: `[x]` is optional, `x...` repeats, an all-caps
/// word is a pure token, `A|B|C` of all-caps words is a one-of; anything else is shown as its
/// text (type "key" when it is exactly `key`, else "string").
fn arg_doc(hint: &str) -> Reply {
    let (hint, optional) = match hint.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (hint, false),
    };
    let (hint, multiple) = match hint.strip_suffix("...") {
        Some(inner) => (inner, true),
        None => (hint, false),
    };
    let is_token =
        |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    let mut fields = vec![(bulk("name"), bulk(&hint.to_ascii_lowercase()))];
    if is_token(hint) {
        fields.push((bulk("type"), bulk("pure-token")));
        fields.push((bulk("token"), bulk(hint)));
    } else if hint.contains('|') && hint.split('|').all(is_token) {
        fields[0] = (bulk("name"), bulk("option"));
        fields.push((bulk("type"), bulk("oneof")));
        let choices = hint
            .split('|')
            .map(|token| {
                Reply::Map(vec![
                    (bulk("name"), bulk(&token.to_ascii_lowercase())),
                    (bulk("type"), bulk("pure-token")),
                    (bulk("token"), bulk(token)),
                ])
            })
            .collect();
        fields.push((bulk("arguments"), Reply::Array(choices)));
    } else {
        fields[0] = (bulk("name"), bulk(hint));
        let kind = if hint == "key" { "key" } else { "string" };
        fields.push((bulk("type"), bulk(kind)));
    }
    let mut flags = Vec::new();
    if optional {
        flags.push(Reply::Simple("optional".into()));
    }
    if multiple {
        flags.push(Reply::Simple("multiple".into()));
    }
    if !flags.is_empty() {
        fields.push((bulk("flags"), Reply::Array(flags)));
    }
    Reply::Map(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, CommandError};

    const DATA_GROUPS: &[&str] = &["string", "generic", "hash", "sorted-set"];

    /// Every data command in the table is one the command model knows, with the same arity.
    #[test]
    fn data_commands_exist_in_the_command_model_with_the_same_arity() {
        for spec in COMMANDS {
            let is_data = DATA_GROUPS.contains(&spec.group) && spec.name != "wait"
                || ["dbsize", "flushdb", "flushall"].contains(&spec.name);
            if !is_data {
                continue;
            }
            let too_few = (spec.arity.unsigned_abs() as usize).saturating_sub(1);
            let mut args = vec![Bytes::from(spec.name)];
            args.extend((1..too_few).map(|_| Bytes::from_static(b"1")));
            match Command::parse(&args) {
                Err(CommandError::WrongArity { command }) => assert_eq!(command, spec.name),
                Ok(cmd) => assert!(spec.arity.unsigned_abs() == 1, "{}: {cmd:?}", spec.name),
                Err(other) => panic!("{}: {other}", spec.name),
            }
            if spec.arity == 1 || spec.arity == -1 {
                let cmd = Command::parse(&[Bytes::from(spec.name)]).expect(spec.name);
                assert_eq!(
                    cmd.is_write(),
                    spec.flags.contains(&"write"),
                    "{}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn write_flag_matches_is_write() {
        // One sample invocation per data command with enough arguments to parse.
        let samples: &[&[&str]] = &[
            &["get", "k"],
            &["set", "k", "v"],
            &["del", "k"],
            &["hset", "h", "f", "v"],
            &["hgetall", "h"],
            &["zadd", "z", "1", "m"],
            &["zscore", "z", "m"],
            &["zrange", "z", "0", "-1"],
            &["expire", "k", "10"],
            &["mset", "a", "1", "b", "2"],
        ];
        for sample in samples {
            let args: Vec<Bytes> = sample.iter().map(|a| Bytes::from(a.to_string())).collect();
            let cmd = Command::parse(&args).expect("sample parses");
            let spec = lookup(sample[0].as_bytes()).expect("in table");
            assert_eq!(
                cmd.is_write(),
                spec.flags.contains(&"write"),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<_> = COMMANDS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| b.is_ascii_lowercase())));
        assert!(lookup(b"ZRANGEBYSCORE").is_some());
        assert!(lookup(b"nosuch").is_none());
    }

    #[test]
    fn arg_docs_shapes() {
        let Reply::Map(fields) = arg_doc("[NX|XX]") else {
            panic!()
        };
        assert!(fields.contains(&(bulk("type"), bulk("oneof"))));
        assert!(fields.contains(&(
            bulk("flags"),
            Reply::Array(vec![Reply::Simple("optional".into())])
        )));
        let Reply::Map(fields) = arg_doc("key...") else {
            panic!()
        };
        assert!(fields.contains(&(bulk("type"), bulk("key"))));
        assert!(fields.contains(&(
            bulk("flags"),
            Reply::Array(vec![Reply::Simple("multiple".into())])
        )));
    }
}
