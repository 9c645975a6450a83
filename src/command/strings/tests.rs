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

#[test]
fn setex_and_psetex_set_value_and_ttl() {
    let mut ks = Keyspace::new();
    let t0 = 1_700_000_000_000;
    exec(&mut ks, t0, &["HSET", "k", "f", "v"]);
    assert_eq!(exec(&mut ks, t0, &["SETEX", "k", "10", "v"]), Reply::Ok);
    assert_eq!(
        exec(&mut ks, t0, &["GET", "k"]),
        bulk("v"),
        "any type is replaced"
    );
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(10_000));
    assert_eq!(exec(&mut ks, t0, &["PSETEX", "k", "1500", "w"]), Reply::Ok);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(1500));
    assert_eq!(exec(&mut ks, t0 + 1500, &["GET", "k"]), Reply::Nil);
    for (words, command) in [
        (&["SETEX", "k", "0", "v"][..], "setex"),
        (&["SETEX", "k", "-1", "v"], "setex"),
        (&["SETEX", "k", "9223372036854776", "v"], "setex"),
        (&["PSETEX", "k", "0", "v"], "psetex"),
    ] {
        assert_eq!(
            exec(&mut ks, t0, words),
            err(&format!("ERR invalid expire time in '{command}' command")),
            "{words:?}"
        );
    }
    assert_eq!(
        exec(&mut ks, t0, &["PSETEX", "k", "9223372036854775807", "v"]),
        err("ERR invalid expire time in 'psetex' command"),
        "overflows once the log time is added"
    );
    assert_eq!(
        exec(&mut ks, t0, &["SETEX", "k", "ten", "v"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        exec(&mut ks, t0, &["SETEX", "k", "10"]),
        err("ERR wrong number of arguments for 'setex' command")
    );
}

#[test]
fn getex_changes_the_ttl_only_as_asked() {
    let mut ks = Keyspace::new();
    let t0 = 1_700_000_000_000;
    exec(&mut ks, t0, &["SET", "k", "v", "PX", "5000"]);
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(5000));
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k", "EX", "10"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(10_000));
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k", "px", "700"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(700));
    exec(&mut ks, t0, &["GETEX", "k", "EXAT", "1700000100"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(100_000));
    exec(&mut ks, t0, &["GETEX", "k", "PXAT", "1700000000250"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(250));
    // The same unit may repeat (the last wins).
    exec(&mut ks, t0, &["GETEX", "k", "EX", "1", "ex", "2"]);
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(2000));
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0, &["PTTL", "k"]), Reply::Integer(-1));
    // PERSIST on a key without a TTL is not a modification.
    let version = ks.version(b"k", t0);
    exec(&mut ks, t0, &["GETEX", "k", "PERSIST"]);
    exec(&mut ks, t0, &["GETEX", "k"]);
    assert_eq!(ks.version(b"k", t0), version);
    // An absolute time in the past deletes the key but answers its value.
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k", "PXAT", "5"]), bulk("v"));
    assert_eq!(exec(&mut ks, t0, &["EXISTS", "k"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, t0, &["GETEX", "k", "EX", "5"]), Reply::Nil);
}

#[test]
fn getex_errors_come_in_redis_order() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "v"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    let syntax = err("ERR syntax error");
    for words in [
        &["GETEX", "k", "bogus"][..],
        &["GETEX", "k", "EX", "1", "PX", "1"],
        &["GETEX", "k", "EX", "1", "PERSIST"],
        &["GETEX", "k", "PERSIST", "EX", "1"],
        &["GETEX", "k", "EX"],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "missing", "bogus"],
    ] {
        assert_eq!(exec(&mut ks, 0, words), syntax, "{words:?}");
    }
    // An invalid amount is only reported for a live string.
    assert_eq!(
        exec(&mut ks, 0, &["GETEX", "missing", "EX", "abc"]),
        Reply::Nil
    );
    assert_eq!(
        exec(&mut ks, 0, &["GETEX", "h", "EX", "abc"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        exec(&mut ks, 0, &["GETEX", "k", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    for amount in ["0", "-5", "9223372036854776"] {
        assert_eq!(
            exec(&mut ks, 0, &["GETEX", "k", "EX", amount]),
            err("ERR invalid expire time in 'getex' command"),
            "{amount}"
        );
    }
    assert_eq!(exec(&mut ks, 0, &["TTL", "k"]), Reply::Integer(-1));
    assert_eq!(
        exec(&mut ks, 0, &["GETEX"]),
        err("ERR wrong number of arguments for 'getex' command")
    );
}

#[test]
fn getrange_and_substr_clamp_like_redis() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "Hello World"]);
    for command in ["GETRANGE", "SUBSTR"] {
        let range =
            |ks: &mut Keyspace, start: &str, end: &str| exec(ks, 0, &[command, "k", start, end]);
        assert_eq!(range(&mut ks, "0", "3"), bulk("Hell"));
        assert_eq!(range(&mut ks, "0", "-1"), bulk("Hello World"));
        assert_eq!(range(&mut ks, "-4", "-1"), bulk("orld"));
        assert_eq!(range(&mut ks, "5", "3"), bulk(""));
        assert_eq!(range(&mut ks, "5", "5000"), bulk(" World"));
        assert_eq!(range(&mut ks, "-5000", "10000"), bulk("Hello World"));
        assert_eq!(
            range(&mut ks, "-1", "-5"),
            bulk(""),
            "both negative, reversed"
        );
        assert_eq!(range(&mut ks, "0", "4294967297"), bulk("Hello World"));
        assert_eq!(
            range(&mut ks, "-9223372036854775808", "9223372036854775807"),
            bulk("Hello World")
        );
        assert_eq!(exec(&mut ks, 0, &[command, "nope", "0", "-1"]), bulk(""));
        assert_eq!(
            exec(&mut ks, 0, &[command, "k", "x", "1"]),
            err("ERR value is not an integer or out of range")
        );
    }
    exec(&mut ks, 0, &["SET", "empty", ""]);
    assert_eq!(
        exec(&mut ks, 0, &["GETRANGE", "empty", "0", "-1"]),
        bulk("")
    );
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["GETRANGE", "h", "0", "1"]),
        err(WRONGTYPE)
    );
}

#[test]
fn setrange_pads_keeps_ttl_and_respects_the_size_limit() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "1", "foo"]),
        Reply::Integer(4)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("\0foo"));
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "new", "0", ""]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "new"]), Reply::Integer(0));
    exec(&mut ks, 0, &["SET", "k", "foo", "PX", "900"]);
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "1", "b"]),
        Reply::Integer(3)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("fbo"));
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "4", "bar"]),
        Reply::Integer(7)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("fbo\0bar"));
    assert_eq!(
        exec(&mut ks, 0, &["PTTL", "k"]),
        Reply::Integer(900),
        "TTL kept"
    );
    // Writing nothing answers the length, whatever the offset.
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "9223372036854775807", ""]),
        Reply::Integer(7)
    );
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "x", "x"]),
        err("ERR value is not an integer or out of range")
    );
    let too_long = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    // 512 MiB - 4 + 5 bytes is one byte too many.
    for key in ["k", "absent"] {
        assert_eq!(
            exec(&mut ks, 0, &["SETRANGE", key, "536870908", "world"]),
            too_long,
            "{key}"
        );
    }
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "k", "9223372036854775807", "A"]),
        too_long
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "absent"]), Reply::Integer(0));
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["SETRANGE", "h", "0", "x"]),
        err(WRONGTYPE)
    );
}

/// A snapshot taken before SETRANGE keeps the old bytes: the in-place edit copies them when
/// they are shared.
#[test]
fn setrange_does_not_change_a_snapshot() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "abc"]);
    let snapshot = ks.clone();
    exec(&mut ks, 0, &["SETRANGE", "k", "0", "X"]);
    let mut snapshot = snapshot;
    assert_eq!(exec(&mut snapshot, 0, &["GET", "k"]), bulk("abc"));
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("Xbc"));
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["INCRBYFLOAT", "f", "1.23"]),
        bulk("1.23")
    );
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "f", "0.77"]), bulk("2"));
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "f", "-0.1"]), bulk("1.9"));
    assert_eq!(exec(&mut ks, 0, &["GET", "f"]), bulk("1.9"));
    exec(&mut ks, 0, &["SET", "n", "17179869184"]);
    assert_eq!(
        exec(&mut ks, 0, &["INCRBYFLOAT", "n", "1.5"]),
        bulk("17179869185.5")
    );
    exec(&mut ks, 0, &["SET", "n", "5.0e3"]);
    assert_eq!(
        exec(&mut ks, 0, &["INCRBYFLOAT", "n", "2.0e2"]),
        bulk("5200")
    );
    exec(&mut ks, 0, &["SET", "n", "0.1"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "n", "0.2"]), bulk("0.3"));
    // No negative zero.
    exec(&mut ks, 0, &["SET", "z", "1"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "z", "-1"]), bulk("0"));
    exec(&mut ks, 0, &["SET", "z", "-1e-30"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "z", "0"]), bulk("0"));
    // The key keeps its TTL.
    exec(&mut ks, 0, &["SET", "t", "1", "PX", "400"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "t", "1"]), bulk("2"));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "t"]), Reply::Integer(400));
}

#[test]
fn incrbyfloat_errors() {
    let mut ks = Keyspace::new();
    let not_float = err("ERR value is not a valid float");
    for value in [" 11", "11 ", " 11 ", "abc", "1\x002", "nan", "1e5000"] {
        exec(&mut ks, 0, &["SET", "s", value]);
        assert_eq!(
            exec(&mut ks, 0, &["INCRBYFLOAT", "s", "1"]),
            not_float,
            "{value:?}"
        );
    }
    exec(&mut ks, 0, &["SET", "s", "1"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "s", "x"]), not_float);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "absent", "x"]), not_float);
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "absent"]), Reply::Integer(0));
    let nan_or_inf = err("ERR increment would produce NaN or Infinity");
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "s", "+inf"]), nan_or_inf);
    exec(&mut ks, 0, &["SET", "s", "inf"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "s", "1"]), nan_or_inf);
    exec(&mut ks, 0, &["SET", "s", "1.1e4932"]);
    assert_eq!(
        exec(&mut ks, 0, &["INCRBYFLOAT", "s", "1.1e4932"]),
        nan_or_inf
    );
    assert_eq!(
        exec(&mut ks, 0, &["GET", "s"]),
        bulk("1.1e4932"),
        "unchanged"
    );
    // The key's type is checked before the increment.
    exec(&mut ks, 0, &["HSET", "h", "f", "1"]);
    assert_eq!(exec(&mut ks, 0, &["INCRBYFLOAT", "h", "x"]), err(WRONGTYPE));
}

/// LCS answers, checked against Redis 7.0 for these inputs.
#[test]
fn lcs_string_length_and_ranges() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
    assert_eq!(exec(&mut ks, 0, &["LCS", "a", "b"]), bulk("mytext"));
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "a", "b", "LEN"]),
        Reply::Integer(6)
    );
    let range = |a: (i64, i64), b: (i64, i64), len: Option<i64>| {
        let pair = |(s, e): (i64, i64)| Reply::Array(vec![Reply::Integer(s), Reply::Integer(e)]);
        let mut items = vec![pair(a), pair(b)];
        items.extend(len.map(Reply::Integer));
        Reply::Array(items)
    };
    let idx = |matches: Vec<Reply>, len: i64| {
        Reply::Map(vec![
            (bulk("matches"), Reply::Array(matches)),
            (bulk("len"), Reply::Integer(len)),
        ])
    };
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "a", "b", "IDX"]),
        idx(
            vec![range((4, 7), (5, 8), None), range((2, 3), (0, 1), None)],
            6
        )
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["LCS", "a", "b", "idx", "WITHMATCHLEN", "MINMATCHLEN", "4"]
        ),
        idx(vec![range((4, 7), (5, 8), Some(4))], 6)
    );
    exec(
        &mut ks,
        0,
        &["MSET", "c", "GATTACA-CATTAG", "d", "TAGCATTACAGATT"],
    );
    assert_eq!(exec(&mut ks, 0, &["LCS", "c", "d"]), bulk("GATTACAATT"));
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "c", "d", "IDX", "WITHMATCHLEN"]),
        idx(
            vec![
                range((9, 11), (11, 13), Some(3)),
                range((1, 6), (4, 9), Some(6)),
                range((0, 0), (2, 2), Some(1)),
            ],
            10
        )
    );
    // A missing key is an empty string; a negative MINMATCHLEN is 0.
    assert_eq!(exec(&mut ks, 0, &["LCS", "a", "missing"]), bulk(""));
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["LCS", "missing", "a", "IDX", "MINMATCHLEN", "-3"]
        ),
        idx(vec![], 0)
    );
}

#[test]
fn lcs_errors_and_bound() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "a", "abc"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    let not_strings = err("ERR The specified keys must contain string values");
    assert_eq!(exec(&mut ks, 0, &["LCS", "a", "h"]), not_strings);
    // The type check comes before the options are looked at.
    assert_eq!(exec(&mut ks, 0, &["LCS", "h", "a", "bogus"]), not_strings);
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "a", "a", "bogus"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "a", "a", "IDX", "LEN"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["LCS", "a", "a", "MINMATCHLEN", "x", "IDX", "LEN"]
        ),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "a", "a", "MINMATCHLEN"]),
        err("ERR syntax error")
    );
    // 4095 × 4095 bytes is (4096)^2 = 2^24 cells: allowed; one more byte is not.
    let at_bound = "x".repeat(4095);
    exec(&mut ks, 0, &["MSET", "p", &at_bound, "q", &at_bound]);
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "p", "q", "LEN"]),
        Reply::Integer(4095)
    );
    exec(&mut ks, 0, &["APPEND", "q", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "p", "q", "LEN"]),
        err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    );
    // An empty side needs no table, however long the other side is.
    exec(&mut ks, 0, &["SETRANGE", "long", "16777216", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["LCS", "long", "missing", "LEN"]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["LCS", "missing", "long"]), bulk(""));
}

/// LCS is quadratic and runs on a snapshot; GETRANGE answers a slice of the stored bytes.
#[test]
fn lcs_is_marked_for_a_snapshot() {
    let many = |words: &[&str]| {
        let args: Vec<bytes::Bytes> = words
            .iter()
            .map(|w| bytes::Bytes::from(w.to_string()))
            .collect();
        crate::command::Command::parse(&args)
            .expect("parses")
            .may_read_many()
    };
    assert!(many(&["LCS", "a", "b"]));
    assert!(!many(&["GETRANGE", "a", "0", "-1"]));
}
