use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::{Command, Flags, KeyVersion, Reply};
use crate::keyspace::Keyspace;

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

fn ints(items: &[i64]) -> Reply {
    Reply::Array(items.iter().map(|n| int(*n)).collect())
}

fn empty() -> Reply {
    Reply::Array(Vec::new())
}

fn contents(ks: &mut Keyspace, key: &str) -> Reply {
    exec(ks, 0, &["LRANGE", key, "0", "-1"])
}

/// A keyspace with the list `l` = [a b c d e], the string `s` and the hash `h`.
fn setup() -> Keyspace {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    exec(&mut ks, 0, &["SET", "s", "x"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    ks
}

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

#[test]
fn push_orders_elements_and_answers_the_length() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["LPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(exec(&mut ks, 0, &["RPUSH", "l", "0", "1"]), int(5));
    assert_eq!(contents(&mut ks, "l"), bulks(&["c", "b", "a", "0", "1"]));
    assert_eq!(exec(&mut ks, 0, &["LLEN", "l"]), int(5));
    assert_eq!(exec(&mut ks, 0, &["LLEN", "nokey"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["TYPE", "l"]),
        Reply::Simple("list".into())
    );
    assert_eq!(exec(&mut ks, 0, &["RPUSH", "r", "x"]), int(1));
    assert_eq!(contents(&mut ks, "r"), bulks(&["x"]));
}

#[test]
fn pushx_only_pushes_onto_an_existing_list() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["LPUSHX", "nokey", "a"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["RPUSHX", "nokey", "a", "b"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "nokey"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["LPUSHX", "l", "y", "z"]), int(7));
    assert_eq!(exec(&mut ks, 0, &["RPUSHX", "l", "f"]), int(8));
    assert_eq!(
        contents(&mut ks, "l"),
        bulks(&["z", "y", "a", "b", "c", "d", "e", "f"])
    );
}

#[test]
fn every_command_refuses_a_key_of_another_type() {
    let mut ks = setup();
    let commands: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "h", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LPOP", "s", "0"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LINDEX", "s", "notanumber"],
        &["LSET", "s", "0", "x"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "l"],
        &["RPOPLPUSH", "l", "h"],
        &["LMPOP", "1", "s", "LEFT"],
    ];
    for words in commands {
        assert_eq!(exec(&mut ks, 0, words), err(WRONGTYPE), "{words:?}");
    }
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "c", "d", "e"]));
    assert_eq!(exec(&mut ks, 0, &["GET", "s"]), bulk("x"));
}

#[test]
fn pop_without_count_answers_one_element_or_nil() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["LPOP", "l"]), bulk("a"));
    assert_eq!(exec(&mut ks, 0, &["RPOP", "l"]), bulk("e"));
    assert_eq!(exec(&mut ks, 0, &["LPOP", "nokey"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["RPOP", "nokey"]), Reply::Nil);
    assert_eq!(contents(&mut ks, "l"), bulks(&["b", "c", "d"]));
}

/// Redis 7.0: a count gives an array; an absent key a nil array (RESP2 `*-1`), even for count
/// 0; count 0 on a live list an empty array.
#[test]
fn pop_with_count_answers_an_array_nil_array_or_empty_array() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["LPOP", "l", "2"]), bulks(&["a", "b"]));
    assert_eq!(exec(&mut ks, 0, &["RPOP", "l", "1"]), bulks(&["e"]));
    let version = ks.version(b"l", 0);
    assert_eq!(exec(&mut ks, 0, &["LPOP", "l", "0"]), empty());
    assert_eq!(exec(&mut ks, 0, &["RPOP", "l", "0"]), empty());
    assert_eq!(ks.version(b"l", 0), version, "popping nothing is no change");
    assert_eq!(exec(&mut ks, 0, &["LPOP", "nokey", "0"]), Reply::NilArray);
    assert_eq!(exec(&mut ks, 0, &["RPOP", "nokey", "3"]), Reply::NilArray);
    assert_eq!(exec(&mut ks, 0, &["RPOP", "l", "100"]), bulks(&["d", "c"]));
    assert_eq!(
        exec(&mut ks, 0, &["EXISTS", "l"]),
        int(0),
        "emptied key is gone"
    );
    let max = i64::MAX.to_string();
    exec(&mut ks, 0, &["RPUSH", "l", "a"]);
    assert_eq!(exec(&mut ks, 0, &["LPOP", "l", &max]), bulks(&["a"]));
}

#[test]
fn pop_count_and_arity_errors() {
    let mut ks = setup();
    let positive = err("ERR value is out of range, must be positive");
    assert_eq!(exec(&mut ks, 0, &["LPOP", "l", "-1"]), positive);
    assert_eq!(exec(&mut ks, 0, &["RPOP", "l", "abc"]), positive);
    assert_eq!(exec(&mut ks, 0, &["LPOP", "nokey", "-123"]), positive);
    assert_eq!(
        exec(&mut ks, 0, &["LPOP", "l", "1", "1"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(
        exec(&mut ks, 0, &["RPOP", "l", "2", "2"]),
        err("ERR wrong number of arguments for 'rpop' command")
    );
    assert_eq!(
        exec(&mut ks, 0, &["LPUSH", "l"]),
        err("ERR wrong number of arguments for 'lpush' command")
    );
    assert_eq!(exec(&mut ks, 0, &["LLEN", "l"]), int(5));
}

#[test]
fn writes_keep_the_ttl_and_the_last_pop_removes_the_key() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b", "c", "d"]);
    exec(&mut ks, 0, &["PEXPIRE", "l", "10000"]);
    for words in [
        &["LPUSH", "l", "z"][..],
        &["RPUSHX", "l", "y"],
        &["LPOP", "l"],
        &["LSET", "l", "0", "A"],
        &["LINSERT", "l", "AFTER", "A", "x"],
        &["LREM", "l", "1", "x"],
        &["LTRIM", "l", "0", "-2"],
        &["LMOVE", "l", "l", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l", "other"],
    ] {
        exec(&mut ks, 0, words);
        assert_eq!(exec(&mut ks, 0, &["PTTL", "l"]), int(10000), "{words:?}");
    }
    assert_eq!(contents(&mut ks, "l"), bulks(&["b", "c", "d"]));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "other"]), int(-1));
    exec(&mut ks, 0, &["RPOP", "l", "5"]);
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "l"]), int(0));
    // Pushing again makes a fresh list without the old TTL.
    exec(&mut ks, 0, &["RPUSH", "l", "a"]);
    assert_eq!(exec(&mut ks, 0, &["PTTL", "l"]), int(-1));
}

#[test]
fn an_expired_list_is_absent() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b"]);
    exec(&mut ks, 0, &["PEXPIRE", "l", "100"]);
    assert_eq!(exec(&mut ks, 100, &["LLEN", "l"]), int(0));
    assert_eq!(exec(&mut ks, 100, &["LPUSHX", "l", "c"]), int(0));
    assert_eq!(exec(&mut ks, 100, &["LPOP", "l", "1"]), Reply::NilArray);
    assert_eq!(
        exec(&mut ks, 100, &["LSET", "l", "0", "x"]),
        err("ERR no such key")
    );
    assert_eq!(exec(&mut ks, 100, &["LPUSH", "l", "c"]), int(1));
    assert_eq!(
        exec(&mut ks, 200, &["LRANGE", "l", "0", "-1"]),
        bulks(&["c"])
    );
    assert_eq!(exec(&mut ks, 200, &["PTTL", "l"]), int(-1));
}

#[test]
fn lrange_clamps_and_counts_from_the_tail() {
    let mut ks = setup();
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "-1", &["a", "b", "c", "d", "e"]),
        ("1", "-2", &["b", "c", "d"]),
        ("-2", "-1", &["d", "e"]),
        ("-1000", "1000", &["a", "b", "c", "d", "e"]),
        ("0", "-4", &["a", "b"]),
        ("0", "-6", &[]),
        ("3", "1", &[]),
        ("5", "10", &[]),
        ("4", "4", &["e"]),
        (
            "-9223372036854775808",
            "9223372036854775807",
            &["a", "b", "c", "d", "e"],
        ),
    ];
    for (start, stop, expected) in cases {
        assert_eq!(
            exec(&mut ks, 0, &["LRANGE", "l", start, stop]),
            bulks(expected),
            "{start} {stop}"
        );
    }
    assert_eq!(exec(&mut ks, 0, &["LRANGE", "nokey", "0", "1"]), empty());
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "nokey", "a", "1"]),
        err(NOT_INTEGER)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "l", "0", "1.5"]),
        err(NOT_INTEGER)
    );
}

#[test]
fn lindex_reads_by_position() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "0"]), bulk("a"));
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "4"]), bulk("e"));
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "-1"]), bulk("e"));
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "-5"]), bulk("a"));
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "5"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "-6"]), Reply::Nil);
    let min = i64::MIN.to_string();
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", &min]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "nokey", "10"]), Reply::Nil);
    // Redis looks at the key before the index: no list, no complaint about the index.
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "nokey", "x"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["LINDEX", "l", "x"]), err(NOT_INTEGER));
}

#[test]
fn lset_replaces_an_element_or_says_why_not() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["LSET", "l", "0", "A"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["LSET", "l", "-1", "E"]), Reply::Ok);
    assert_eq!(contents(&mut ks, "l"), bulks(&["A", "b", "c", "d", "E"]));
    let out_of_range = err("ERR index out of range");
    assert_eq!(exec(&mut ks, 0, &["LSET", "l", "5", "x"]), out_of_range);
    assert_eq!(exec(&mut ks, 0, &["LSET", "l", "-6", "x"]), out_of_range);
    let no_such_key = err("ERR no such key");
    assert_eq!(exec(&mut ks, 0, &["LSET", "nokey", "0", "x"]), no_such_key);
    // The key is checked before the index, as in Redis.
    assert_eq!(exec(&mut ks, 0, &["LSET", "nokey", "x", "x"]), no_such_key);
    assert_eq!(exec(&mut ks, 0, &["LSET", "s", "x", "x"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["LSET", "l", "x", "x"]), err(NOT_INTEGER));
    assert_eq!(contents(&mut ks, "l"), bulks(&["A", "b", "c", "d", "E"]));
}

#[test]
fn linsert_before_and_after_the_first_pivot() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b", "c", "b"]);
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "l", "BEFORE", "b", "x"]),
        int(5)
    );
    assert_eq!(
        exec(&mut ks, 0, &["linsert", "l", "after", "b", "y"]),
        int(6)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "l", "AFTER", "b", "z"]),
        int(7)
    );
    assert_eq!(
        contents(&mut ks, "l"),
        bulks(&["a", "x", "b", "z", "y", "c", "b"])
    );
    let version = ks.version(b"l", 0);
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "l", "BEFORE", "nope", "q"]),
        int(-1)
    );
    assert_eq!(ks.version(b"l", 0), version, "no pivot, no change");
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "nokey", "BEFORE", "a", "q"]),
        int(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "nokey"]), int(0));
    // The keyword is checked before the key.
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "l", "MIDDLE", "a", "q"]),
        err("ERR syntax error")
    );
    exec(&mut ks, 0, &["SET", "s", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["LINSERT", "s", "MIDDLE", "a", "q"]),
        err("ERR syntax error")
    );
}

#[test]
fn lrem_by_count_and_direction() {
    let mut ks = Keyspace::new();
    let fill = |ks: &mut Keyspace| {
        exec(ks, 0, &["DEL", "l"]);
        exec(ks, 0, &["RPUSH", "l", "x", "a", "x", "b", "x", "c", "x"]);
    };
    fill(&mut ks);
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "2", "x"]), int(2));
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "x", "c", "x"]));
    fill(&mut ks);
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "-3", "x"]), int(3));
    assert_eq!(contents(&mut ks, "l"), bulks(&["x", "a", "b", "c"]));
    fill(&mut ks);
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "0", "x"]), int(4));
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "c"]));
    let version = ks.version(b"l", 0);
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "1", "nope"]), int(0));
    assert_eq!(ks.version(b"l", 0), version, "nothing removed, no change");
    fill(&mut ks);
    let min = i64::MIN.to_string();
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", &min, "x"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "0", "a"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "0", "b"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["LREM", "l", "0", "c"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "l"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["LREM", "nokey", "0", "a"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["LREM", "nokey", "x", "a"]),
        err(NOT_INTEGER)
    );
}

#[test]
fn ltrim_keeps_a_range_and_removes_an_emptied_key() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("0", "0", &["a"]),
        ("0", "1", &["a", "b"]),
        ("1", "-2", &["b", "c", "d"]),
        ("-2", "-1", &["d", "e"]),
        ("-100", "100", &["a", "b", "c", "d", "e"]),
        ("0", "-5", &["a"]),
    ];
    for (start, stop, expected) in cases {
        let mut ks = setup();
        assert_eq!(exec(&mut ks, 0, &["LTRIM", "l", start, stop]), Reply::Ok);
        assert_eq!(contents(&mut ks, "l"), bulks(expected), "{start} {stop}");
    }
    for (start, stop) in [("0", "-6"), ("3", "1"), ("5", "10")] {
        let mut ks = setup();
        assert_eq!(exec(&mut ks, 0, &["LTRIM", "l", start, stop]), Reply::Ok);
        assert_eq!(exec(&mut ks, 0, &["EXISTS", "l"]), int(0), "{start} {stop}");
    }
    let mut ks = setup();
    // Redis counts even a trim that keeps everything as a change (WATCH sees it).
    let version = ks.version(b"l", 0);
    exec(&mut ks, 0, &["LTRIM", "l", "0", "-1"]);
    assert!(ks.version(b"l", 0).0 > version.0);
    assert_eq!(exec(&mut ks, 0, &["LTRIM", "nokey", "0", "1"]), Reply::Ok);
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "nokey"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["LTRIM", "nokey", "a", "1"]),
        err(NOT_INTEGER)
    );
}

#[test]
fn lpos_rank_count_and_maxlen() {
    let mut ks = Keyspace::new();
    exec(
        &mut ks,
        0,
        &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
    );
    let pos = |ks: &mut Keyspace, extra: &[&str]| {
        let mut words = vec!["LPOS", "l"];
        words.extend_from_slice(extra);
        exec(ks, 0, &words)
    };
    assert_eq!(pos(&mut ks, &["a"]), int(0));
    assert_eq!(pos(&mut ks, &["c"]), int(2));
    assert_eq!(pos(&mut ks, &["c", "RANK", "2"]), int(6));
    assert_eq!(pos(&mut ks, &["c", "RANK", "4"]), Reply::Nil);
    assert_eq!(pos(&mut ks, &["c", "RANK", "-1"]), int(7));
    assert_eq!(pos(&mut ks, &["c", "RANK", "-2"]), int(6));
    assert_eq!(pos(&mut ks, &["c", "COUNT", "0"]), ints(&[2, 6, 7]));
    assert_eq!(pos(&mut ks, &["c", "COUNT", "2"]), ints(&[2, 6]));
    assert_eq!(pos(&mut ks, &["c", "COUNT", "100"]), ints(&[2, 6, 7]));
    assert_eq!(
        pos(&mut ks, &["c", "COUNT", "0", "RANK", "2"]),
        ints(&[6, 7])
    );
    assert_eq!(
        pos(&mut ks, &["c", "COUNT", "2", "RANK", "-1"]),
        ints(&[7, 6])
    );
    assert_eq!(pos(&mut ks, &["x", "COUNT", "2", "RANK", "-1"]), empty());
    assert_eq!(pos(&mut ks, &["x", "RANK", "-1"]), Reply::Nil);
    assert_eq!(
        pos(&mut ks, &["a", "COUNT", "0", "MAXLEN", "1"]),
        ints(&[0])
    );
    assert_eq!(pos(&mut ks, &["c", "COUNT", "0", "MAXLEN", "1"]), empty());
    assert_eq!(
        pos(&mut ks, &["c", "COUNT", "0", "MAXLEN", "3"]),
        ints(&[2])
    );
    assert_eq!(
        pos(&mut ks, &["c", "COUNT", "0", "MAXLEN", "3", "RANK", "-1"]),
        ints(&[7, 6])
    );
    assert_eq!(
        pos(&mut ks, &["c", "COUNT", "0", "MAXLEN", "7", "RANK", "2"]),
        ints(&[6])
    );
    assert_eq!(pos(&mut ks, &["c", "rank", "1", "RANK", "2"]), int(6));
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["LPOS", "nokey", "c", "COUNT", "0", "RANK", "2"]
        ),
        empty()
    );
    assert_eq!(exec(&mut ks, 0, &["LPOS", "nokey", "c"]), Reply::Nil);
}

/// Redis 7.0 turns RANK i64::MIN into "every match from the tail", whatever COUNT says.
#[test]
fn lpos_rank_min_matches_redis_7_0() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "m", "c", "x", "c", "c"]);
    let min = i64::MIN.to_string();
    assert_eq!(exec(&mut ks, 0, &["LPOS", "m", "c", "RANK", &min]), int(3));
    assert_eq!(
        exec(&mut ks, 0, &["LPOS", "m", "c", "RANK", &min, "COUNT", "1"]),
        ints(&[3, 2, 0])
    );
    let beyond = (-i64::MAX).to_string();
    assert_eq!(
        exec(&mut ks, 0, &["LPOS", "m", "c", "RANK", &beyond]),
        Reply::Nil
    );
}

#[test]
fn lpos_errors() {
    let mut ks = setup();
    let cases: &[(&[&str], &str)] = &[
        (
            &["LPOS", "l", "a", "RANK", "0"],
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        ),
        (&["LPOS", "l", "a", "RANK", "x"], NOT_INTEGER),
        (&["LPOS", "l", "a", "COUNT", "-1"], "ERR COUNT can't be negative"),
        (&["LPOS", "l", "a", "COUNT", "x"], "ERR COUNT can't be negative"),
        (&["LPOS", "l", "a", "MAXLEN", "-1"], "ERR MAXLEN can't be negative"),
        (&["LPOS", "l", "a", "MAXLEN", "x"], "ERR MAXLEN can't be negative"),
        (&["LPOS", "l", "a", "FOO", "1"], "ERR syntax error"),
        (&["LPOS", "l", "a", "RANK"], "ERR syntax error"),
        (&["LPOS", "l", "a", "COUNT", "1", "x"], "ERR syntax error"),
        // Options are checked before the key's type.
        (
            &["LPOS", "s", "a", "MAXLEN", "-1"],
            "ERR MAXLEN can't be negative",
        ),
    ];
    for (words, expected) in cases {
        assert_eq!(exec(&mut ks, 0, words), err(expected), "{words:?}");
    }
}

#[test]
fn lmove_in_every_direction() {
    /// (from, to, element moved, source after, destination after)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [&'a str]);
    let cases: &[Case] = &[
        ("LEFT", "LEFT", "a", &["b", "c"], &["a", "x", "y"]),
        ("LEFT", "RIGHT", "a", &["b", "c"], &["x", "y", "a"]),
        ("RIGHT", "LEFT", "c", &["a", "b"], &["c", "x", "y"]),
        ("right", "right", "c", &["a", "b"], &["x", "y", "c"]),
    ];
    for (from, to, moved, source, destination) in cases {
        let mut ks = Keyspace::new();
        exec(&mut ks, 0, &["RPUSH", "src", "a", "b", "c"]);
        exec(&mut ks, 0, &["RPUSH", "dst", "x", "y"]);
        assert_eq!(
            exec(&mut ks, 0, &["LMOVE", "src", "dst", from, to]),
            bulk(moved)
        );
        assert_eq!(contents(&mut ks, "src"), bulks(source), "{from} {to}");
        assert_eq!(contents(&mut ks, "dst"), bulks(destination), "{from} {to}");
    }
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "a", "b", "UP", "LEFT"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "a", "b", "LEFT", "DOWN"]),
        err("ERR syntax error")
    );
}

#[test]
fn lmove_creates_the_destination_and_removes_an_emptied_source() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "src", "only"]);
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        bulk("only")
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "src"]), int(0));
    assert_eq!(contents(&mut ks, "dst"), bulks(&["only"]));
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "nokey", "dst", "LEFT", "RIGHT"]),
        Reply::Nil
    );
    assert_eq!(exec(&mut ks, 0, &["RPOPLPUSH", "nokey", "dst"]), Reply::Nil);
    assert_eq!(
        exec(&mut ks, 0, &["RPOPLPUSH", "nokey", "nokey2"]),
        Reply::Nil
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "nokey2"]), int(0));
    // An absent source wins over a destination of another type, as in Redis.
    exec(&mut ks, 0, &["SET", "s", "x"]);
    assert_eq!(exec(&mut ks, 0, &["RPOPLPUSH", "nokey", "s"]), Reply::Nil);
}

#[test]
fn lmove_to_the_same_key_rotates_in_place() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "l", "a", "b", "c"]);
    assert_eq!(exec(&mut ks, 0, &["RPOPLPUSH", "l", "l"]), bulk("c"));
    assert_eq!(contents(&mut ks, "l"), bulks(&["c", "a", "b"]));
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "l", "l", "LEFT", "RIGHT"]),
        bulk("c")
    );
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "c"]));
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "l", "l", "LEFT", "LEFT"]),
        bulk("a")
    );
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "c"]));
    // A one-element list never passes through empty: key, TTL and element stay.
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "one", "x"]);
    exec(&mut ks, 0, &["PEXPIRE", "one", "5000"]);
    let version = ks.version(b"one", 0);
    assert_eq!(exec(&mut ks, 0, &["RPOPLPUSH", "one", "one"]), bulk("x"));
    assert_eq!(contents(&mut ks, "one"), bulks(&["x"]));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "one"]), int(5000));
    assert!(
        ks.version(b"one", 0).0 > version.0,
        "a rotation is a change"
    );
}

#[test]
fn rpoplpush_onto_another_type_does_not_pop() {
    let mut ks = setup();
    let before = ks.version(b"l", 0);
    assert_eq!(exec(&mut ks, 0, &["RPOPLPUSH", "l", "s"]), err(WRONGTYPE));
    assert_eq!(
        exec(&mut ks, 0, &["LMOVE", "l", "h", "LEFT", "LEFT"]),
        err(WRONGTYPE)
    );
    assert_eq!(contents(&mut ks, "l"), bulks(&["a", "b", "c", "d", "e"]));
    assert_eq!(ks.version(b"l", 0), before);
    assert_eq!(exec(&mut ks, 0, &["GET", "s"]), bulk("x"));
}

#[test]
fn lmpop_pops_from_the_first_list() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["RPUSH", "b", "1", "2", "3"]);
    exec(&mut ks, 0, &["RPUSH", "c", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["LMPOP", "3", "a", "b", "c", "LEFT"]),
        Reply::Array(vec![bulk("b"), bulks(&["1"])])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["LMPOP", "2", "b", "c", "RIGHT", "COUNT", "10"]
        ),
        Reply::Array(vec![bulk("b"), bulks(&["3", "2"])])
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "b"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["lmpop", "2", "b", "c", "left", "count", "1"]),
        Reply::Array(vec![bulk("c"), bulks(&["x"])])
    );
    assert_eq!(
        exec(&mut ks, 0, &["LMPOP", "2", "b", "c", "LEFT"]),
        Reply::NilArray
    );
    // The same key twice is fine.
    exec(&mut ks, 0, &["RPUSH", "d", "a", "b"]);
    assert_eq!(
        exec(&mut ks, 0, &["LMPOP", "2", "d", "d", "LEFT", "COUNT", "2"]),
        Reply::Array(vec![bulk("d"), bulks(&["a", "b"])])
    );
    // A key of another type before the first list fails; one after it is never looked at.
    exec(&mut ks, 0, &["SET", "s", "x"]);
    exec(&mut ks, 0, &["RPUSH", "e", "1"]);
    assert_eq!(
        exec(&mut ks, 0, &["LMPOP", "2", "s", "e", "LEFT"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LMPOP", "2", "e", "s", "LEFT"]),
        Reply::Array(vec![bulk("e"), bulks(&["1"])])
    );
}

#[test]
fn lmpop_argument_errors() {
    let mut ks = Keyspace::new();
    let numkeys = "ERR numkeys should be greater than 0";
    let count = "ERR count should be greater than 0";
    let syntax = "ERR syntax error";
    let cases: &[(&[&str], &str)] = &[
        (&["LMPOP", "0", "a", "LEFT"], numkeys),
        (&["LMPOP", "-1", "a", "LEFT"], numkeys),
        (&["LMPOP", "x", "a", "LEFT"], numkeys),
        (&["LMPOP", "2", "a", "LEFT"], syntax),
        (&["LMPOP", "100", "a", "LEFT"], syntax),
        (&["LMPOP", "9223372036854775807", "a", "LEFT"], syntax),
        (&["LMPOP", "1", "a", "MIDDLE"], syntax),
        (&["LMPOP", "1", "a", "LEFT", "COUNT", "0"], count),
        (&["LMPOP", "1", "a", "LEFT", "COUNT", "-1"], count),
        (&["LMPOP", "1", "a", "LEFT", "COUNT", "x"], count),
        (&["LMPOP", "1", "a", "LEFT", "COUNT"], syntax),
        (
            &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "2"],
            syntax,
        ),
        (&["LMPOP", "1", "a", "LEFT", "FOO"], syntax),
        (&["LMPOP", "1", "a", "LEFT", "COUNT", "1", "x"], syntax),
        (
            &["LMPOP", "1", "a"],
            "ERR wrong number of arguments for 'lmpop' command",
        ),
    ];
    for (words, expected) in cases {
        assert_eq!(exec(&mut ks, 0, words), err(expected), "{words:?}");
    }
}

fn parse(words: &[&str]) -> Command {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    Command::parse(&args).expect("parses")
}

#[test]
fn specs_match_redis_command_table() {
    let flag_names = |words: &[&str]| parse(words).spec().flags.names().collect::<Vec<_>>();
    assert_eq!(
        flag_names(&["LPUSH", "l", "a"]),
        ["write", "denyoom", "fast"]
    );
    assert_eq!(flag_names(&["LPOP", "l"]), ["write", "fast"]);
    assert_eq!(flag_names(&["LLEN", "l"]), ["readonly", "fast"]);
    assert_eq!(flag_names(&["LRANGE", "l", "0", "1"]), ["readonly"]);
    assert_eq!(flag_names(&["LINDEX", "l", "0"]), ["readonly"]);
    assert_eq!(flag_names(&["LSET", "l", "0", "x"]), ["write", "denyoom"]);
    assert_eq!(flag_names(&["LREM", "l", "0", "x"]), ["write"]);
    assert_eq!(
        flag_names(&["LMOVE", "a", "b", "LEFT", "LEFT"]),
        ["write", "denyoom"]
    );
    assert_eq!(
        flag_names(&["LMPOP", "1", "a", "LEFT"]),
        ["write", "movablekeys"]
    );
    let keys = |words: &[&str]| {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let spec = parse(words).spec();
        spec.keys
            .positions(&args)
            .into_iter()
            .map(|i| words[i].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&["LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"]),
        ["a", "b"]
    );
    assert_eq!(keys(&["RPOPLPUSH", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["LMOVE", "a", "b", "LEFT", "RIGHT"]), ["a", "b"]);
    assert_eq!(keys(&["RPUSH", "a", "b", "c"]), ["a"]);
}

/// LRANGE and LPOS walk the list, so they are served from a snapshot; the O(1)/O(log n) reads
/// are not.
#[test]
fn reads_that_walk_the_list_are_marked_for_a_snapshot() {
    assert!(parse(&["LRANGE", "l", "0", "-1"]).may_read_many());
    assert!(parse(&["LPOS", "l", "a"]).may_read_many());
    assert!(!parse(&["LLEN", "l"]).may_read_many());
    assert!(!parse(&["LINDEX", "l", "5"]).may_read_many());
    assert!(parse(&["LRANGE", "l", "0", "-1"])
        .spec()
        .flags
        .contains(Flags::READS_MANY));
}

#[test]
fn reads_run_without_changing_anything() {
    let ks = setup();
    let digest = ks.digest();
    let mut cx = crate::command::Cx::new(0, 0);
    assert_eq!(
        parse(&["LRANGE", "l", "1", "2"]).read(&ks, &mut cx),
        bulks(&["b", "c"])
    );
    assert_eq!(parse(&["LPOS", "l", "e"]).read(&ks, &mut cx), int(4));
    assert_eq!(parse(&["LINDEX", "l", "-2"]).read(&ks, &mut cx), bulk("d"));
    assert_eq!(parse(&["LLEN", "l"]).read(&ks, &mut cx), int(5));
    assert!(matches!(
        parse(&["LPOP", "l"]).read(&ks, &mut cx),
        Reply::Error(_)
    ));
    assert_eq!(ks.digest(), digest);
}

#[test]
fn list_commands_round_trip_through_the_log_encoding() {
    for words in [
        &["LPUSH", "l", "a", "b"][..],
        &["LPOP", "l", "3"],
        &["LINDEX", "l", "x"],
        &["LSET", "l", "-1", "v"],
        &["LINSERT", "l", "AFTER", "p", "v"],
        &["LPOS", "l", "a", "RANK", "-2", "COUNT", "0", "MAXLEN", "9"],
        &["LMOVE", "a", "b", "RIGHT", "LEFT"],
        &["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "4"],
    ] {
        let command = parse(words);
        let encoded = postcard::to_allocvec(&command).unwrap();
        assert_eq!(
            postcard::from_bytes::<Command>(&encoded).unwrap(),
            command,
            "{words:?}"
        );
    }
}

#[test]
fn a_watched_list_sees_writes_and_only_writes() {
    let mut ks = setup();
    let version = ks.version(b"l", 0);
    for words in [
        &["LLEN", "l"][..],
        &["LRANGE", "l", "0", "-1"],
        &["LPOS", "l", "a"],
        &["LPOP", "l", "0"],
        &["LREM", "l", "0", "zz"],
        &["LPUSHX", "nokey", "a"],
    ] {
        exec(&mut ks, 0, words);
        assert_eq!(ks.version(b"l", 0), version, "{words:?}");
    }
    exec(&mut ks, 0, &["LSET", "l", "0", "a"]);
    assert_ne!(
        ks.version(b"l", 0),
        version,
        "LSET to the same value counts"
    );
    exec(&mut ks, 0, &["DEL", "l"]);
    assert_eq!(ks.version(b"l", 0), KeyVersion(0));
}

/// Random pushes, pops, inserts, removals, trims and moves against a `Vec` model: the replies
/// and the final contents must agree.
#[test]
fn model_based_list_operations() {
    let mut rng = StdRng::seed_from_u64(0x11575);
    let mut ks = Keyspace::new();
    let mut model: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let keys = ["k0", "k1"];
    for step in 0..4000 {
        let which = rng.gen_range(0..2);
        let key = keys[which];
        let value = rng.gen_range(0..6).to_string();
        let len = model[which].len() as i64;
        let index = rng.gen_range(-(len + 2)..=len + 2);
        let index_text = index.to_string();
        let resolve = |i: i64| if i < 0 { i + len } else { i };
        let (words, expected): (Vec<&str>, Reply) = match rng.gen_range(0..9) {
            0 => {
                model[which].insert(0, value.clone());
                (vec!["LPUSH", key, &value], int(model[which].len() as i64))
            }
            1 => {
                model[which].push(value.clone());
                (vec!["RPUSH", key, &value], int(model[which].len() as i64))
            }
            2 => {
                let popped = if model[which].is_empty() {
                    Reply::Nil
                } else {
                    bulk(&model[which].remove(0))
                };
                (vec!["LPOP", key], popped)
            }
            3 => {
                let reply = match model[which].pop() {
                    Some(item) => bulk(&item),
                    None => Reply::Nil,
                };
                (vec!["RPOP", key], reply)
            }
            4 => {
                let at = resolve(index);
                let reply = if (0..len).contains(&at) {
                    bulk(&model[which][at as usize])
                } else {
                    Reply::Nil
                };
                (vec!["LINDEX", key, &index_text], reply)
            }
            5 => {
                let reply = match model[which].iter().position(|item| *item == value) {
                    Some(at) => {
                        model[which].insert(at + 1, "new".to_string());
                        int(model[which].len() as i64)
                    }
                    None if model[which].is_empty() => int(0),
                    None => int(-1),
                };
                (vec!["LINSERT", key, "AFTER", &value, "new"], reply)
            }
            6 => {
                let before = model[which].len();
                model[which].retain(|item| *item != value);
                let removed = (before - model[which].len()) as i64;
                (vec!["LREM", key, "0", &value], int(removed))
            }
            7 => {
                let start = resolve(index).max(0);
                let stop = resolve(-1 - (step % 3));
                if start > stop || start >= len {
                    model[which].clear();
                } else {
                    let stop = stop.min(len - 1) as usize;
                    model[which] = model[which][start as usize..=stop].to_vec();
                }
                let stop_text = (-1 - (step % 3)).to_string();
                check(&mut ks, &["LTRIM", key, &index_text, &stop_text], Reply::Ok);
                continue;
            }
            _ => {
                let other = 1 - which;
                let reply = match model[which].pop() {
                    Some(item) => {
                        model[other].insert(0, item.clone());
                        bulk(&item)
                    }
                    None => Reply::Nil,
                };
                (vec!["RPOPLPUSH", key, keys[other]], reply)
            }
        };
        check(&mut ks, &words, expected);
    }
    for (which, key) in keys.iter().enumerate() {
        let expected: Vec<&str> = model[which].iter().map(String::as_str).collect();
        assert_eq!(contents(&mut ks, key), bulks(&expected));
        let exists = i64::from(!model[which].is_empty());
        assert_eq!(exec(&mut ks, 0, &["EXISTS", key]), int(exists));
    }
}

fn check(ks: &mut Keyspace, words: &[&str], expected: Reply) {
    assert_eq!(exec(ks, 0, words), expected, "{words:?}");
}
