use std::collections::BTreeSet;

use bytes::Bytes;

use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::{Command, Cx, Flags, Reply};
use crate::keyspace::Keyspace;

#[test]
fn del_exists_type() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["MSET", "a", "1", "b", "2"]);
    exec(&mut ks, 0, &["SET", "gone", "x", "PX", "5"]);
    assert_eq!(
        exec(&mut ks, 0, &["EXISTS", "a", "a", "zz", "b"]),
        Reply::Integer(3)
    );
    assert_eq!(exec(&mut ks, 10, &["EXISTS", "gone"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 10, &["DEL", "a", "gone", "zz"]),
        Reply::Integer(1)
    );
    assert_eq!(ks.len(), 1, "DEL also drops the expired key physically");
    assert_eq!(
        exec(&mut ks, 10, &["TYPE", "b"]),
        Reply::Simple("string".into())
    );
    assert_eq!(
        exec(&mut ks, 10, &["TYPE", "a"]),
        Reply::Simple("none".into())
    );
}

#[test]
fn ttl_pttl_persist() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["TTL", "k"]), Reply::Integer(-2));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "k"]), Reply::Integer(-2));
    exec(&mut ks, 0, &["SET", "k", "v"]);
    assert_eq!(exec(&mut ks, 0, &["TTL", "k"]), Reply::Integer(-1));
    assert_eq!(exec(&mut ks, 0, &["PERSIST", "k"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 1000, &["EXPIRE", "k", "10"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 1000, &["PTTL", "k"]), Reply::Integer(10_000));
    assert_eq!(exec(&mut ks, 5400, &["TTL", "k"]), Reply::Integer(6));
    assert_eq!(exec(&mut ks, 5600, &["TTL", "k"]), Reply::Integer(5));
    assert_eq!(exec(&mut ks, 5600, &["PERSIST", "k"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 99_999, &["TTL", "k"]), Reply::Integer(-1));
    assert_eq!(
        exec(&mut ks, 99_999, &["PERSIST", "missing"]),
        Reply::Integer(0)
    );
}

#[test]
fn expire_variants_and_past_times_delete() {
    let mut ks = Keyspace::new();
    let now = 1_000_000;
    exec(
        &mut ks,
        now,
        &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"],
    );
    assert_eq!(
        exec(&mut ks, now, &["EXPIRE", "missing", "10"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, now, &["EXPIRE", "a", "-1"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, now, &["EXISTS", "a"]), Reply::Integer(0));
    assert_eq!(ks.len(), 3, "a past expiry deletes the key at once");
    assert_eq!(
        exec(&mut ks, now, &["PEXPIRE", "b", "0"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, now, &["EXISTS", "b"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, now, &["EXPIREAT", "c", "1001"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, now, &["PTTL", "c"]), Reply::Integer(1000));
    assert_eq!(
        exec(&mut ks, now, &["PEXPIREAT", "d", "1000500"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, now, &["PTTL", "d"]), Reply::Integer(500));
    assert_eq!(
        exec(&mut ks, now, &["PEXPIREAT", "d", "1000000"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, now, &["EXISTS", "d"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, now, &["EXPIRE", "c", "9223372036854775807"]),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        exec(&mut ks, now, &["PEXPIRE", "c", "9223372036854775807"]),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        exec(&mut ks, now, &["EXPIRE", "c", "ten"]),
        err("ERR value is not an integer or out of range")
    );
}

#[test]
fn expire_conditions() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "100", "XX"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "100", "GT"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "100", "NX"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "200", "NX"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "50", "GT"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "150", "gt"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "120", "XX", "LT"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["TTL", "k"]), Reply::Integer(120));
    exec(&mut ks, 0, &["SET", "p", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "p", "10", "XX", "LT"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "p", "10", "LT"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "1", "NX", "XX"]),
        err("ERR NX and XX, GT or LT options at the same time are not compatible")
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "1", "GT", "LT"]),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXPIRE", "k", "x", "FOO"]),
        err("ERR Unsupported option FOO")
    );
}

#[test]
fn rename_semantics() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["RENAME", "a", "b"]),
        err("ERR no such key")
    );
    exec(&mut ks, 0, &["SET", "a", "1", "PX", "100"]);
    exec(&mut ks, 0, &["HSET", "b", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["RENAME", "a", "a"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["RENAME", "a", "b"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["GET", "b"]), bulk("1"));
    assert_eq!(
        exec(&mut ks, 0, &["PTTL", "b"]),
        Reply::Integer(100),
        "TTL travels"
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "a"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 200, &["RENAME", "b", "c"]),
        err("ERR no such key")
    );
}

#[test]
fn keys_glob_and_dbsize_flush() {
    let mut ks = Keyspace::new();
    exec(
        &mut ks,
        0,
        &["MSET", "user:1", "a", "user:2", "b", "order:1", "c"],
    );
    exec(&mut ks, 0, &["SET", "user:3", "d", "PX", "10"]);
    let Reply::Array(found) = exec(&mut ks, 20, &["KEYS", "user:*"]) else {
        panic!("KEYS answers an array");
    };
    let mut found: Vec<Reply> = found;
    found.sort_by_key(|reply| format!("{reply:?}"));
    assert_eq!(Reply::Array(found), bulks(&["user:1", "user:2"]));
    assert_eq!(
        exec(&mut ks, 20, &["KEYS", "order:[0-9]"]),
        bulks(&["order:1"])
    );
    assert_eq!(exec(&mut ks, 0, &["DBSIZE"]), Reply::Integer(4));
    assert_eq!(
        exec(&mut ks, 20, &["DBSIZE"]),
        Reply::Integer(3),
        "expired keys are not counted"
    );
    assert_eq!(
        exec(&mut ks, 20, &["FLUSHDB", "BOGUS"]),
        err("ERR syntax error")
    );
    assert_eq!(exec(&mut ks, 20, &["FLUSHALL", "ASYNC"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 20, &["DBSIZE"]), Reply::Integer(0));
    assert!(ks.is_empty());
    exec(&mut ks, 20, &["SET", "x", "1"]);
    assert_eq!(exec(&mut ks, 20, &["flushdb"]), Reply::Ok);
    assert!(ks.is_empty());
}

/// Runs one full SCAN, returning every key seen and the number of calls.
fn scan_all(
    ks: &mut Keyspace,
    count: &str,
    between_calls: &mut dyn FnMut(&mut Keyspace, usize),
) -> (Vec<Bytes>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut calls = 0;
    loop {
        let reply = exec(ks, 0, &["SCAN", &cursor, "COUNT", count]);
        let Reply::Array(parts) = reply else {
            panic!("SCAN answers an array")
        };
        let [Reply::Bulk(next), Reply::Array(keys)] = &parts[..] else {
            panic!("SCAN answers [cursor, keys]")
        };
        for key in keys {
            let Reply::Bulk(key) = key else {
                panic!("keys are bulk strings")
            };
            seen.push(key.clone());
        }
        calls += 1;
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            return (seen, calls);
        }
        between_calls(ks, calls);
        assert!(calls < 10_000, "scan must terminate");
    }
}

#[test]
fn scan_returns_every_key_present_throughout_with_concurrent_writes() {
    let mut ks = Keyspace::new();
    for i in 0..500 {
        exec(&mut ks, 0, &["SET", &format!("stable:{i}"), "v"]);
        exec(&mut ks, 0, &["SET", &format!("doomed:{i}"), "v"]);
    }
    let (seen, calls) = scan_all(&mut ks, "7", &mut |ks, call| {
        // Insert and delete keys between every call.
        exec(ks, 0, &["SET", &format!("fresh:{call}"), "v"]);
        exec(ks, 0, &["DEL", &format!("doomed:{call}")]);
    });
    assert!(calls > 10, "COUNT bounds the batch size");
    let seen: BTreeSet<Bytes> = seen.into_iter().collect();
    for i in 0..500 {
        assert!(
            seen.contains(format!("stable:{i}").as_bytes()),
            "stable:{i} missed"
        );
    }
}

#[test]
fn scan_options_and_errors() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["MSET", "a1", "x", "a2", "y", "b1", "z"]);
    exec(&mut ks, 0, &["HSET", "h1", "f", "v"]);
    let reply = exec(&mut ks, 0, &["SCAN", "0", "MATCH", "a*", "COUNT", "100"]);
    let Reply::Array(parts) = reply else { panic!() };
    assert_eq!(parts[0], bulk("0"));
    let Reply::Array(mut keys) = parts[1].clone() else {
        panic!()
    };
    keys.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(Reply::Array(keys), bulks(&["a1", "a2"]));
    let reply = exec(&mut ks, 0, &["SCAN", "0", "TYPE", "hash", "COUNT", "100"]);
    assert_eq!(reply, Reply::Array(vec![bulk("0"), bulks(&["h1"])]));
    assert_eq!(
        exec(&mut ks, 0, &["SCAN", "abc"]),
        err("ERR invalid cursor")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SCAN", "0", "COUNT", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SCAN", "0", "MATCH"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SCAN", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    // A cursor past every hash finishes at once.
    assert_eq!(
        exec(&mut ks, 0, &["SCAN", "18446744073709551615", "COUNT", "1"]).clone(),
        exec(&mut ks, 0, &["SCAN", "-1", "COUNT", "1"])
    );
}

/// Runs a read with its random choices drawn from `seed`.
fn read_seeded(ks: &Keyspace, now_ms: u64, seed: u64, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    let command = Command::parse(&args).expect("parses");
    assert!(!command.is_write(), "{words:?} is a read");
    command.read(ks, &mut Cx::new(now_ms, seed))
}

fn flag_names(words: &[&str]) -> Vec<&'static str> {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    Command::parse(&args)
        .unwrap()
        .spec()
        .flags
        .names()
        .collect()
}

/// Flags, arity and "since" as Redis 7.0's COMMAND INFO gives them.
#[test]
fn new_key_commands_have_redis_flags() {
    assert_eq!(flag_names(&["unlink", "k"]), ["write", "fast"]);
    assert_eq!(flag_names(&["touch", "k"]), ["readonly", "fast"]);
    assert_eq!(flag_names(&["copy", "a", "b"]), ["write", "denyoom"]);
    assert_eq!(flag_names(&["renamenx", "a", "b"]), ["write", "fast"]);
    assert_eq!(flag_names(&["randomkey"]), ["readonly"]);
    assert_eq!(flag_names(&["expiretime", "k"]), ["readonly", "fast"]);
    assert_eq!(flag_names(&["pexpiretime", "k"]), ["readonly", "fast"]);
    assert_eq!(flag_names(&["object", "encoding", "k"]), ["readonly"]);
    let args = |words: &[&str]| -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    };
    let spec = Command::parse(&args(&["copy", "a", "b"])).unwrap().spec();
    assert_eq!((spec.arity, spec.since), (-3, "6.2.0"));
    assert_eq!(
        spec.keys.positions(&args(&["copy", "a", "b", "REPLACE"])),
        [1, 2]
    );
    let spec = Command::parse(&args(&["touch", "a"])).unwrap().spec();
    assert!(!spec.flags.contains(Flags::READS_MANY));
    let spec = Command::parse(&args(&["object", "help"])).unwrap().spec();
    assert_eq!(
        spec.keys.positions(&args(&["object", "encoding", "k"])),
        [2]
    );
}

#[test]
fn unlink_deletes_like_del() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["MSET", "a", "1", "b", "2"]);
    exec(&mut ks, 0, &["RPUSH", "l", "x", "y"]);
    exec(&mut ks, 0, &["SET", "gone", "x", "PX", "5"]);
    assert_eq!(
        exec(&mut ks, 10, &["UNLINK", "a", "l", "gone", "zz", "a"]),
        Reply::Integer(2)
    );
    assert_eq!(
        exec(&mut ks, 10, &["EXISTS", "a", "l", "b"]),
        Reply::Integer(1)
    );
    assert_eq!(ks.len(), 1, "the expired key is dropped too");
    assert_eq!(
        exec(&mut ks, 10, &["UNLINK"]),
        err("ERR wrong number of arguments for 'unlink' command")
    );
}

#[test]
fn touch_counts_live_keys_and_changes_nothing() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "a", "1"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    exec(&mut ks, 0, &["SET", "gone", "x", "PX", "5"]);
    let version = ks.version(b"a", 10);
    assert_eq!(
        exec(&mut ks, 10, &["TOUCH", "a", "h", "gone", "none", "a"]),
        Reply::Integer(3),
        "a repeated key counts each time"
    );
    assert_eq!(ks.version(b"a", 10), version, "TOUCH is not a modification");
    assert_eq!(exec(&mut ks, 10, &["TOUCH", "none"]), Reply::Integer(0));
}

#[test]
fn copy_copies_value_and_ttl() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "s", "v", "PX", "5000"]);
    assert_eq!(exec(&mut ks, 0, &["COPY", "s", "t"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["GET", "t"]), bulk("v"));
    assert_eq!(
        exec(&mut ks, 0, &["PTTL", "t"]),
        Reply::Integer(5000),
        "TTL kept"
    );
    // No TTL on the source: none on the copy, even over a destination that had one.
    exec(&mut ks, 0, &["SET", "p", "w"]);
    assert_eq!(
        exec(&mut ks, 0, &["COPY", "p", "t", "REPLACE"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["TTL", "t"]), Reply::Integer(-1));
    assert_eq!(exec(&mut ks, 0, &["GET", "t"]), bulk("w"));
    // An existing destination is kept without REPLACE, whatever its type.
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["COPY", "s", "h"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "f"]), bulk("v"));
    assert_eq!(
        exec(&mut ks, 0, &["COPY", "s", "h", "replace", "DB", "0"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "h"]), bulk("v"));
    // A missing or expired source copies nothing.
    assert_eq!(exec(&mut ks, 0, &["COPY", "none", "x"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 6000, &["COPY", "s", "x"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 6000, &["EXISTS", "x"]), Reply::Integer(0));
    // An expired destination counts as absent.
    exec(&mut ks, 0, &["SET", "old", "o", "PX", "10"]);
    assert_eq!(exec(&mut ks, 20, &["COPY", "p", "old"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 20, &["GET", "old"]), bulk("w"));
}

#[test]
fn copy_of_each_type_is_equal_and_independent() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b", "c"]);
    exec(&mut ks, 0, &["SADD", "s", "1", "2", "x"]);
    exec(&mut ks, 0, &["ZADD", "z", "1", "a", "2", "b"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "1", "g", "2"]);
    for (key, read) in [
        ("l", &["LRANGE", "", "0", "-1"][..]),
        ("s", &["SMEMBERS", ""][..]),
        ("z", &["ZRANGE", "", "0", "-1", "WITHSCORES"][..]),
        ("h", &["HGETALL", ""][..]),
    ] {
        let copy = format!("{key}-copy");
        assert_eq!(exec(&mut ks, 0, &["COPY", key, &copy]), Reply::Integer(1));
        let read_of = |name: &str| {
            let mut words: Vec<&str> = read.to_vec();
            words[1] = name;
            words.iter().map(|w| w.to_string()).collect::<Vec<_>>()
        };
        let words = read_of(key);
        let original = exec(
            &mut ks,
            0,
            &words.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let words = read_of(&copy);
        let copied = exec(
            &mut ks,
            0,
            &words.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(original, copied, "{key}");
        exec(&mut ks, 0, &["DEL", key]);
        let again = exec(
            &mut ks,
            0,
            &words.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(again, copied, "{key}: the copy outlives its source");
    }
    exec(&mut ks, 0, &["RPUSH", "l2", "a"]);
    exec(&mut ks, 0, &["COPY", "l2", "l3"]);
    exec(&mut ks, 0, &["RPUSH", "l3", "b"]);
    assert_eq!(
        exec(&mut ks, 0, &["LLEN", "l2"]),
        Reply::Integer(1),
        "writes to the copy stay there"
    );
}

#[test]
fn copy_errors_match_redis() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "a", "1"]);
    for (words, error) in [
        (
            &["COPY", "a", "a"][..],
            "ERR source and destination objects are the same",
        ),
        (
            &["COPY", "none", "none"],
            "ERR source and destination objects are the same",
        ),
        (
            &["COPY", "a", "b", "DB", "1"],
            "ERR DB index is out of range",
        ),
        (
            &["COPY", "a", "b", "DB", "-1"],
            "ERR DB index is out of range",
        ),
        (
            &["COPY", "a", "a", "DB", "1"],
            "ERR DB index is out of range",
        ),
        (
            &["COPY", "a", "b", "DB", "notanumber"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["COPY", "a", "b", "DB", "4294967296"],
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ),
        (
            &["COPY", "a", "b", "DB", "99999999999999999999"],
            "ERR value is not an integer or out of range",
        ),
        (&["COPY", "a", "b", "DB"], "ERR syntax error"),
        (&["COPY", "a", "b", "BOGUS"], "ERR syntax error"),
        (&["COPY", "a", "b", "DB", "5", "BOGUS"], "ERR syntax error"),
        (
            &["COPY", "a"],
            "ERR wrong number of arguments for 'copy' command",
        ),
    ] {
        assert_eq!(exec(&mut ks, 0, words), err(error), "{words:?}");
    }
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "b"]), Reply::Integer(0));
}

#[test]
fn renamenx_semantics() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["RENAMENX", "a", "b"]),
        err("ERR no such key")
    );
    assert_eq!(
        exec(&mut ks, 0, &["RENAMENX", "a", "a"]),
        err("ERR no such key"),
        "a missing source is an error even onto itself"
    );
    exec(&mut ks, 0, &["SET", "a", "1", "PX", "100"]);
    assert_eq!(exec(&mut ks, 0, &["RENAMENX", "a", "a"]), Reply::Integer(0));
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["RENAMENX", "a", "h"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["GET", "a"]), bulk("1"), "nothing moved");
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "f"]), bulk("v"));
    assert_eq!(exec(&mut ks, 0, &["RENAMENX", "a", "b"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["GET", "b"]), bulk("1"));
    assert_eq!(
        exec(&mut ks, 0, &["PTTL", "b"]),
        Reply::Integer(100),
        "TTL kept"
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "a"]), Reply::Integer(0));
    // An expired target is absent; an expired source is missing.
    exec(&mut ks, 0, &["SET", "c", "2"]);
    assert_eq!(
        exec(&mut ks, 150, &["RENAMENX", "c", "b"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 150, &["TTL", "b"]), Reply::Integer(-1));
    exec(&mut ks, 150, &["SET", "d", "3", "PX", "10"]);
    assert_eq!(
        exec(&mut ks, 200, &["RENAMENX", "d", "e"]),
        err("ERR no such key")
    );
}

#[test]
fn randomkey_empty_expired_and_single() {
    let mut ks = Keyspace::new();
    assert_eq!(read_seeded(&ks, 0, 1, &["RANDOMKEY"]), Reply::Nil);
    exec(&mut ks, 0, &["SET", "x", "10"]);
    exec(&mut ks, 0, &["DEL", "x"]);
    assert_eq!(read_seeded(&ks, 0, 1, &["RANDOMKEY"]), Reply::Nil);
    exec(&mut ks, 0, &["SET", "gone", "v", "PX", "5"]);
    assert_eq!(read_seeded(&ks, 10, 1, &["RANDOMKEY"]), Reply::Nil);
    exec(&mut ks, 0, &["SET", "k", "v"]);
    for seed in 0..20 {
        assert_eq!(read_seeded(&ks, 10, seed, &["RANDOMKEY"]), bulk("k"));
    }
}

/// The bucket walk of a large keyspace gives every live key the same chance: 300 keys (past the
/// exhaustive-count threshold), 60 000 draws, every key drawn within 6 standard deviations of
/// 200 times, and no expired key ever.
#[test]
fn randomkey_is_uniform_over_live_keys() {
    let mut ks = Keyspace::new();
    for i in 0..300 {
        exec(&mut ks, 0, &["SET", &format!("key:{i}"), "v"]);
    }
    for i in 0..100 {
        exec(
            &mut ks,
            0,
            &["SET", &format!("expired:{i}"), "v", "PX", "5"],
        );
    }
    let mut counts = std::collections::BTreeMap::new();
    let draws = 60_000;
    for seed in 0..draws {
        let Reply::Bulk(key) = read_seeded(&ks, 10, seed, &["RANDOMKEY"]) else {
            panic!("a key")
        };
        assert!(key.starts_with(b"key:"), "{key:?}");
        *counts.entry(key).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 300, "every key is drawn");
    let (min, max) = (
        counts.values().min().copied().unwrap(),
        counts.values().max().copied().unwrap(),
    );
    assert!(min > 115 && max < 285, "min {min}, max {max}");
}

/// When most stored keys are expired and not purged, the draws miss and the exhaustive count
/// still finds the live one.
#[test]
fn randomkey_finds_the_one_live_key_among_many_expired() {
    let mut ks = Keyspace::new();
    for i in 0..2000 {
        exec(
            &mut ks,
            0,
            &["SET", &format!("expired:{i}"), "v", "PX", "5"],
        );
    }
    exec(&mut ks, 0, &["SET", "alive", "v"]);
    for seed in 0..5 {
        assert_eq!(read_seeded(&ks, 10, seed, &["RANDOMKEY"]), bulk("alive"));
    }
    assert_eq!(
        exec(&mut ks, 0, &["RANDOMKEY", "x"]),
        err("ERR wrong number of arguments for 'randomkey' command")
    );
}

#[test]
fn expiretime_and_pexpiretime() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["EXPIRETIME", "k"]), Reply::Integer(-2));
    assert_eq!(exec(&mut ks, 0, &["PEXPIRETIME", "k"]), Reply::Integer(-2));
    exec(&mut ks, 0, &["SET", "k", "v"]);
    assert_eq!(exec(&mut ks, 0, &["EXPIRETIME", "k"]), Reply::Integer(-1));
    assert_eq!(exec(&mut ks, 0, &["PEXPIRETIME", "k"]), Reply::Integer(-1));
    exec(&mut ks, 1_000, &["PEXPIREAT", "k", "1795936599826"]);
    assert_eq!(
        exec(&mut ks, 1_000, &["PEXPIRETIME", "k"]),
        Reply::Integer(1_795_936_599_826)
    );
    assert_eq!(
        exec(&mut ks, 1_000, &["EXPIRETIME", "k"]),
        Reply::Integer(1_795_936_600),
        "rounded to the nearest second, as Redis does"
    );
    exec(&mut ks, 1_000, &["PEXPIREAT", "k", "1795936599499"]);
    assert_eq!(
        exec(&mut ks, 1_000, &["EXPIRETIME", "k"]),
        Reply::Integer(1_795_936_599)
    );
    // The answer does not depend on the time it is asked at, until the key expires.
    assert_eq!(
        exec(&mut ks, 1_795_936_599_000, &["PEXPIRETIME", "k"]),
        Reply::Integer(1_795_936_599_499)
    );
    assert_eq!(
        exec(&mut ks, 1_795_936_599_499, &["PEXPIRETIME", "k"]),
        Reply::Integer(-2)
    );
}

#[test]
fn object_answers_for_each_type() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "s", "12345"]);
    exec(&mut ks, 0, &["RPUSH", "l", "a"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    exec(&mut ks, 0, &["SADD", "set", "1"]);
    exec(&mut ks, 0, &["ZADD", "z", "1", "m"]);
    for (key, encoding) in [
        ("s", "raw"),
        ("l", "rrbtree"),
        ("h", "listpack"),
        ("set", "indexedvector"),
        ("z", "countedbtree"),
    ] {
        assert_eq!(
            exec(&mut ks, 0, &["OBJECT", "ENCODING", key]),
            bulk(encoding)
        );
        assert_eq!(
            exec(&mut ks, 0, &["object", "refcount", key]),
            Reply::Integer(1)
        );
        assert_eq!(
            exec(&mut ks, 0, &["OBJECT", "FREQ", key]),
            err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        assert_eq!(
            exec(&mut ks, 0, &["OBJECT", "IDLETIME", key]),
            err("ERR access time not tracked: Tandem keeps no per-key access time (it never evicts)")
        );
    }
    for question in ["ENCODING", "REFCOUNT", "FREQ", "IDLETIME"] {
        assert_eq!(
            exec(&mut ks, 0, &["OBJECT", question, "none"]),
            Reply::Nil,
            "{question}"
        );
    }
    let Reply::Array(help) = exec(&mut ks, 0, &["OBJECT", "HELP"]) else {
        panic!("HELP is an array")
    };
    assert!(help.len() > 5);
}

#[test]
fn object_errors_match_redis() {
    let mut ks = Keyspace::new();
    for (words, error) in [
        (
            &["OBJECT", "foo", "bar"][..],
            "ERR unknown subcommand 'foo'. Try OBJECT HELP.",
        ),
        (
            &["OBJECT", "encoding"],
            "ERR wrong number of arguments for 'object|encoding' command",
        ),
        (
            &["OBJECT", "ENCODING", "a", "b"],
            "ERR wrong number of arguments for 'object|encoding' command",
        ),
        (
            &["OBJECT", "freq"],
            "ERR wrong number of arguments for 'object|freq' command",
        ),
        (
            &["OBJECT", "idletime"],
            "ERR wrong number of arguments for 'object|idletime' command",
        ),
        (
            &["OBJECT", "refcount"],
            "ERR wrong number of arguments for 'object|refcount' command",
        ),
        (
            &["OBJECT", "help", "x"],
            "ERR wrong number of arguments for 'object|help' command",
        ),
        (
            &["OBJECT"],
            "ERR wrong number of arguments for 'object' command",
        ),
    ] {
        assert_eq!(exec(&mut ks, 0, words), err(error), "{words:?}");
    }
}

#[test]
fn expired_keys_are_absent_to_the_new_commands() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "v", "PX", "10"]);
    for words in [
        &["OBJECT", "ENCODING", "k"][..],
        &["OBJECT", "REFCOUNT", "k"],
    ] {
        assert_eq!(exec(&mut ks, 10, words), Reply::Nil, "{words:?}");
    }
    assert_eq!(exec(&mut ks, 10, &["EXPIRETIME", "k"]), Reply::Integer(-2));
    assert_eq!(exec(&mut ks, 10, &["TOUCH", "k"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 10, &["UNLINK", "k"]), Reply::Integer(0));
    exec(&mut ks, 10, &["SET", "k", "v"]);
    assert_eq!(
        exec(&mut ks, 10, &["RENAMENX", "k", "wrongtype-free"]),
        Reply::Integer(1)
    );
    // None of them checks the type of what they find.
    exec(&mut ks, 10, &["HSET", "h", "f", "v"]);
    assert_ne!(
        exec(&mut ks, 10, &["OBJECT", "ENCODING", "h"]),
        err(WRONGTYPE)
    );
}
