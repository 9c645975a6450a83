use std::collections::BTreeSet;

use bytes::Bytes;

use crate::command::tests::{bulk, bulks, err, exec};
use crate::command::Reply;
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
