use crate::command::tests::{bulk, err, exec, WRONGTYPE};
use crate::command::Reply;
use crate::keyspace::Keyspace;

#[test]
fn get_set_basics() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "v"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["get", "k"]), bulk("v"));
    assert_eq!(exec(&mut ks, 0, &["STRLEN", "k"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["STRLEN", "nope"]), Reply::Integer(0));
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["GET", "h"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["STRLEN", "h"]), err(WRONGTYPE));
    // SET overwrites any type.
    assert_eq!(exec(&mut ks, 0, &["SET", "h", "s"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["GET", "h"]), bulk("s"));
}

#[test]
fn set_conditions_and_get_option() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "1", "XX"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "1", "NX"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "2", "NX"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "3", "XX", "GET"]), bulk("1"));
    assert_eq!(exec(&mut ks, 0, &["SET", "k", "4", "NX", "GET"]), bulk("3"));
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("3"));
    assert_eq!(exec(&mut ks, 0, &["SET", "new", "x", "GET"]), Reply::Nil);
    exec(&mut ks, 0, &["ZADD", "z", "1", "m"]);
    assert_eq!(exec(&mut ks, 0, &["SET", "z", "x", "GET"]), err(WRONGTYPE));
    assert_eq!(
        exec(&mut ks, 0, &["TYPE", "z"]),
        Reply::Simple("zset".into())
    );
}

#[test]
fn set_option_errors() {
    let mut ks = Keyspace::new();
    let syntax = err("ERR syntax error");
    for words in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "XX", "NX"],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "PXAT", "100"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "BOGUS"],
        &["SET", "k", "v", "EX", "abc", "NX", "XX"],
    ] {
        assert_eq!(exec(&mut ks, 0, words), syntax, "{words:?}");
    }
    assert_eq!(
        exec(&mut ks, 0, &["SET", "k", "v", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    for words in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "PX", "-5"],
        &["SET", "k", "v", "EX", "9223372036854776"],
        &["SET", "k", "v", "EXAT", "0"],
    ] {
        assert_eq!(
            exec(&mut ks, 0, words),
            err("ERR invalid expire time in 'set' command"),
            "{words:?}"
        );
    }
    // Relative time that overflows once the log time is added.
    assert_eq!(
        exec(
            &mut ks,
            1000,
            &["SET", "k", "v", "PX", "9223372036854775807"]
        ),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        exec(&mut ks, 0, &["GET", "k"]),
        Reply::Nil,
        "nothing was set"
    );
    // Repeating the same option is accepted, as in Redis.
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["SET", "k", "v", "NX", "nx", "EX", "5", "ex", "6"]
        ),
        Reply::Ok
    );
    assert_eq!(exec(&mut ks, 0, &["TTL", "k"]), Reply::Integer(6));
}

#[test]
fn set_expiry_options_at_log_time() {
    let mut ks = Keyspace::new();
    let t0 = 1_700_000_000_000;
    assert_eq!(exec(&mut ks, t0, &["SET", "k", "v", "EX", "10"]), Reply::Ok);
    assert_eq!(exec(&mut ks, t0 + 9_999, &["GET", "k"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0 + 10_000, &["GET", "k"]), Reply::Nil);
    assert_eq!(
        exec(&mut ks, t0 + 10_000, &["TTL", "k"]),
        Reply::Integer(-2)
    );
    exec(&mut ks, t0, &["SET", "p", "v", "PX", "1500"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "p"]), Reply::Integer(1500));
    assert_eq!(
        exec(&mut ks, t0, &["TTL", "p"]),
        Reply::Integer(2),
        "TTL rounds to nearest"
    );
    exec(&mut ks, t0, &["SET", "a", "v", "EXAT", "1700000100"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "a"]), Reply::Integer(100_000));
    exec(&mut ks, t0, &["SET", "b", "v", "PXAT", "1700000000500"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "b"]), Reply::Integer(500));
    // KEEPTTL keeps, plain SET clears.
    exec(&mut ks, t0, &["SET", "b", "w", "KEEPTTL"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "b"]), Reply::Integer(500));
    exec(&mut ks, t0, &["SET", "b", "w"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "b"]), Reply::Integer(-1));
    // An absolute time in the past leaves the key absent.
    assert_eq!(
        exec(&mut ks, t0, &["SET", "b", "x", "PXAT", "5"]),
        Reply::Ok
    );
    assert_eq!(exec(&mut ks, t0, &["EXISTS", "b"]), Reply::Integer(0));
    // Writes treat an expired key as absent.
    assert_eq!(
        exec(&mut ks, t0 + 20_000, &["SET", "k", "n", "NX"]),
        Reply::Ok
    );
    assert_eq!(
        exec(&mut ks, t0 + 20_000, &["PTTL", "k"]),
        Reply::Integer(-1)
    );
}

#[test]
fn setnx_getset_getdel() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["SETNX", "k", "1"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["SETNX", "k", "2"]), Reply::Integer(0));
    exec(&mut ks, 0, &["EXPIRE", "k", "100"]);
    assert_eq!(exec(&mut ks, 0, &["GETSET", "k", "3"]), bulk("1"));
    assert_eq!(
        exec(&mut ks, 0, &["TTL", "k"]),
        Reply::Integer(-1),
        "GETSET clears the TTL"
    );
    assert_eq!(exec(&mut ks, 0, &["GETSET", "n", "x"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["GETDEL", "k"]), bulk("3"));
    assert_eq!(exec(&mut ks, 0, &["GETDEL", "k"]), Reply::Nil);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["GETSET", "h", "x"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["GETDEL", "h"]), err(WRONGTYPE));
    assert_eq!(
        exec(&mut ks, 0, &["TYPE", "h"]),
        Reply::Simple("hash".into())
    );
}

#[test]
fn mget_mset_msetnx() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["MSET", "a", "1", "b", "2"]), Reply::Ok);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["MGET", "a", "h", "zz", "b"]),
        Reply::Array(vec![bulk("1"), Reply::Nil, Reply::Nil, bulk("2")])
    );
    assert_eq!(
        exec(&mut ks, 0, &["MSETNX", "c", "3", "a", "9"]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "c"]), Reply::Nil);
    assert_eq!(
        exec(&mut ks, 0, &["MSETNX", "c", "3", "d", "4"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "d"]), bulk("4"));
    assert_eq!(
        exec(&mut ks, 0, &["MSETNX", "c", "3", "d"]),
        err("ERR wrong number of arguments for 'msetnx' command")
    );
}

#[test]
fn append_keeps_ttl_and_checks_type() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["APPEND", "k", "ab"]), Reply::Integer(2));
    exec(&mut ks, 0, &["PEXPIRE", "k", "1000"]);
    assert_eq!(exec(&mut ks, 0, &["APPEND", "k", "cde"]), Reply::Integer(5));
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("abcde"));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "k"]), Reply::Integer(1000));
    exec(&mut ks, 0, &["ZADD", "z", "1", "m"]);
    assert_eq!(exec(&mut ks, 0, &["APPEND", "z", "x"]), err(WRONGTYPE));
}

#[test]
fn incr_decr_family() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["INCR", "n"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["INCRBY", "n", "10"]), Reply::Integer(11));
    assert_eq!(exec(&mut ks, 0, &["DECR", "n"]), Reply::Integer(10));
    assert_eq!(exec(&mut ks, 0, &["DECRBY", "n", "-5"]), Reply::Integer(15));
    assert_eq!(exec(&mut ks, 0, &["GET", "n"]), bulk("15"));
    exec(&mut ks, 0, &["SET", "big", "9223372036854775800"]);
    assert_eq!(
        exec(&mut ks, 0, &["INCRBY", "big", "8"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        exec(&mut ks, 0, &["INCRBY", "big", "7"]),
        Reply::Integer(i64::MAX)
    );
    assert_eq!(
        exec(&mut ks, 0, &["INCR", "big"]),
        err("ERR increment or decrement would overflow")
    );
    exec(&mut ks, 0, &["SET", "small", "-9223372036854775808"]);
    assert_eq!(
        exec(&mut ks, 0, &["DECR", "small"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        exec(&mut ks, 0, &["DECRBY", "n", "-9223372036854775808"]),
        err("ERR decrement would overflow")
    );
    for value in ["abc", " 1", "1.0", "01", "", "+1"] {
        exec(&mut ks, 0, &["SET", "s", value]);
        assert_eq!(
            exec(&mut ks, 0, &["INCR", "s"]),
            err("ERR value is not an integer or out of range"),
            "{value:?}"
        );
    }
    assert_eq!(
        exec(&mut ks, 0, &["INCRBY", "n", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    exec(&mut ks, 0, &["HSET", "h", "f", "1"]);
    assert_eq!(exec(&mut ks, 0, &["INCR", "h"]), err(WRONGTYPE));
    // INCR keeps the TTL.
    exec(&mut ks, 0, &["SET", "t", "1", "PX", "500"]);
    exec(&mut ks, 0, &["INCR", "t"]);
    assert_eq!(exec(&mut ks, 0, &["PTTL", "t"]), Reply::Integer(500));
}
