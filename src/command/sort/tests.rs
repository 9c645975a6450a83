use bytes::Bytes;

use super::{sort_key_positions, strtod_whole};
use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::{Command, Cx, Reply};
use crate::keyspace::Keyspace;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

fn args(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::from(w.to_string())).collect()
}

fn parse(words: &[&str]) -> Command {
    Command::parse(&args(words)).expect("parses")
}

/// Runs a read the way a server serves it (no log).
fn read(ks: &Keyspace, now_ms: u64, words: &[&str]) -> Reply {
    parse(words).read(ks, &mut Cx::new(now_ms, 0))
}

fn ks_with(commands: &[&[&str]]) -> Keyspace {
    let mut ks = Keyspace::new();
    for words in commands {
        let reply = exec(&mut ks, 0, words);
        assert!(!matches!(reply, Reply::Error(_)), "{words:?}: {reply:?}");
    }
    ks
}

#[test]
fn sort_without_store_is_a_read_and_with_store_a_write() {
    let plain = parse(&["SORT", "k", "ALPHA"]);
    assert!(matches!(plain, Command::SortRead(_)));
    assert!(!plain.is_write());
    assert!(plain.may_read_many(), "runs on a snapshot");
    let stored = parse(&["sort", "k", "STORE", "d"]);
    assert!(matches!(stored, Command::SortStore(_)));
    assert!(stored.is_write());
    assert!(!parse(&["SORT_RO", "k"]).is_write());
    // The spec found by name is Redis's: SORT is a write, SORT_RO a read.
    let flags = |words: &[&str]| parse(words).spec().flags.names().collect::<Vec<_>>();
    assert_eq!(
        flags(&["sort", "k", "store", "d"]),
        ["write", "denyoom", "movablekeys"]
    );
    assert_eq!(flags(&["sort_ro", "k"]), ["readonly", "movablekeys"]);
    let categories = |words: &[&str]| {
        parse(words)
            .spec()
            .categories_all()
            .names()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        categories(&["sort", "k", "store", "d"]),
        ["write", "set", "sortedset", "list", "slow", "dangerous"]
    );
    assert_eq!(
        categories(&["sort_ro", "k"]),
        ["read", "set", "sortedset", "list", "slow", "dangerous"]
    );
}

#[test]
fn key_positions_follow_sort_get_keys() {
    let positions = |words: &[&str]| sort_key_positions(&args(words)).unwrap();
    assert_eq!(positions(&["sort", "abc", "store", "def"]), [1, 3]);
    assert_eq!(
        positions(&["sort", "abc", "store", "invalid", "store", "stillbad", "store", "def"]),
        [1, 7]
    );
    assert_eq!(
        positions(&["sort", "abc", "by", "store", "get", "store"]),
        [1]
    );
    assert_eq!(
        positions(&["sort", "abc", "limit", "store", "x", "store"]),
        [1]
    );
    assert_eq!(positions(&["sort", "abc"]), [1]);
    let spec = parse(&["sort_ro", "k"]).spec();
    assert_eq!(
        spec.keys.positions(&args(&["sort_ro", "abc", "by", "x"])),
        [1]
    );
}

#[test]
fn numeric_sort_of_list_set_and_sorted_set() {
    let ks = ks_with(&[
        &["RPUSH", "l", "3", "-1.5", "10", "2", "inf", "-inf"],
        &["SADD", "s", "5", "1", "30", "2"],
        &["ZADD", "z", "1", "30", "2", "4", "3", "-2"],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l"]),
        bulks(&["-inf", "-1.5", "2", "3", "10", "inf"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "DESC"]),
        bulks(&["inf", "10", "3", "2", "-1.5", "-inf"])
    );
    assert_eq!(read(&ks, 0, &["SORT", "s"]), bulks(&["1", "2", "5", "30"]));
    assert_eq!(
        read(&ks, 0, &["SORT_RO", "z"]),
        bulks(&["-2", "4", "30"]),
        "a sorted set sorts by its members, not its scores"
    );
    assert_eq!(read(&ks, 0, &["SORT", "missing"]), Reply::Array(vec![]));
}

#[test]
fn numeric_ties_sort_by_bytes_and_desc_reverses_them() {
    let ks = ks_with(&[&["RPUSH", "l", "1.0", "1", "01", "0", "-0", "0.0"]]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l"]),
        bulks(&["-0", "0", "0.0", "01", "1", "1.0"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "DESC"]),
        bulks(&["1.0", "1", "01", "0.0", "0", "-0"])
    );
}

#[test]
fn alpha_sorts_bytes() {
    let ks = ks_with(&[
        &["RPUSH", "l", "2", "1", "3", "10", "b", "B", ""],
        &[
            "ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e",
        ],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "ALPHA"]),
        bulks(&["", "1", "10", "2", "3", "B", "b"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "z", "alpha", "desc"]),
        bulks(&["e", "d", "c", "b", "a"])
    );
}

#[test]
fn limit_follows_redis_arithmetic() {
    let mut ks = ks_with(&[&["RPUSH", "l", "5", "3", "1", "4", "2"]]);
    let mut sorted = |extra: &[&str]| {
        let mut words = vec!["SORT", "l"];
        words.extend_from_slice(extra);
        exec(&mut ks, 0, &words)
    };
    assert_eq!(sorted(&["LIMIT", "1", "2"]), bulks(&["2", "3"]));
    assert_eq!(sorted(&["LIMIT", "-10", "2"]), bulks(&["1", "2"]));
    assert_eq!(sorted(&["LIMIT", "3", "-1"]), bulks(&["4", "5"]));
    assert_eq!(sorted(&["LIMIT", "0", "0"]), bulks(&[]));
    assert_eq!(sorted(&["LIMIT", "5", "10"]), bulks(&[]));
    assert_eq!(
        sorted(&["LIMIT", "2", "9223372036854775807"]),
        bulks(&["3", "4", "5"])
    );
    assert_eq!(
        sorted(&["LIMIT", "-9223372036854775808", "9223372036854775807"]),
        bulks(&["1", "2", "3", "4", "5"])
    );
    assert_eq!(sorted(&["LIMIT", "1", "2", "DESC"]), bulks(&["4", "3"]));
    assert_eq!(
        sorted(&["LIMIT", "x", "2"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        sorted(&["LIMIT", "1", "2.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(sorted(&["LIMIT", "1"]), err("ERR syntax error"));
}

#[test]
fn by_pattern_reads_strings_and_hash_fields() {
    let ks = ks_with(&[
        &["RPUSH", "l", "a", "b", "c", "d"],
        &["MSET", "w_a", "3", "w_b", "1", "w_c", "2"],
        &["HSET", "o_a", "w", "30"],
        &["HSET", "o_b", "w", "10"],
        &["HSET", "o_c", "w", "20", "x", "1"],
        &["HSET", "o_d", "x", "1"],
    ]);
    // d has no weight: it scores 0.
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "w_*"]),
        bulks(&["d", "b", "c", "a"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "o_*->w"]),
        bulks(&["d", "b", "c", "a"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "w_*", "LIMIT", "1", "2"]),
        bulks(&["b", "c"])
    );
    // A key of the wrong type reads as missing, not as an error.
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "o_*"]),
        bulks(&["a", "b", "c", "d"])
    );
    // Only the first '*' is replaced.
    let ks = ks_with(&[
        &["RPUSH", "l", "a", "b"],
        &["SET", "x_a_*", "2"],
        &["SET", "x_b_*", "1"],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "x_*_*"]),
        bulks(&["b", "a"])
    );
}

/// Equal BY values keep the list order, under DESC too (Redis leaves them to `qsort`).
#[test]
fn alpha_by_sorts_missing_values_first_and_keeps_ties_in_list_order() {
    let ks = ks_with(&[
        &["RPUSH", "l", "d", "c", "b", "a", "e"],
        &["MSET", "w_a", "x", "w_b", "x", "w_c", "a"],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "w_*", "ALPHA"]),
        bulks(&["d", "e", "c", "b", "a"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "w_*", "ALPHA", "DESC"]),
        bulks(&["b", "a", "c", "d", "e"])
    );
    assert_eq!(
        read(
            &ks,
            0,
            &["SORT", "l", "BY", "w_*", "ALPHA", "DESC", "LIMIT", "1", "3"]
        ),
        bulks(&["a", "c", "d"])
    );
}

#[test]
fn numeric_by_with_missing_values_sorts_them_as_zero_by_element() {
    let ks = ks_with(&[&["SADD", "s", "b", "a", "c", "aa"], &["SET", "w_c", "-1"]]);
    assert_eq!(
        read(&ks, 0, &["SORT", "s", "BY", "w_*"]),
        bulks(&["c", "a", "aa", "b"])
    );
}

#[test]
fn nosort_keeps_native_order() {
    let ks = ks_with(&[
        &["LPUSH", "l", "2", "1", "4", "3", "5"],
        &[
            "ZADD", "z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e",
        ],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "nosort"]),
        bulks(&["5", "3", "4", "1", "2"])
    );
    assert_eq!(
        read(
            &ks,
            0,
            &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]
        ),
        bulks(&["1", "4"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "z", "BY", "nosort"]),
        bulks(&["a", "c", "e", "b", "d"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "z", "BY", "nosort", "DESC"]),
        bulks(&["d", "b", "e", "c", "a"])
    );
    for (limit, expected) in [
        (["0", "1"], &["a"][..]),
        (["0", "2"], &["a", "c"]),
        (["5", "10"], &[]),
        (["-10", "100"], &["a", "c", "e", "b", "d"]),
    ] {
        assert_eq!(
            read(
                &ks,
                0,
                &["SORT", "z", "BY", "nosort", "LIMIT", limit[0], limit[1]]
            ),
            bulks(expected)
        );
    }
    assert_eq!(
        read(
            &ks,
            0,
            &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]
        ),
        bulks(&["d", "b"])
    );
    // Any BY without '*' means nosort, and stays so whatever BY follows.
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "nosort", "BY", "w_*"]),
        bulks(&["5", "3", "4", "1", "2"])
    );
}

#[test]
fn nosort_of_a_set_is_its_member_order_unless_stored() {
    let mut ks = ks_with(&[&["SADD", "s", "c", "a", "b", "aa"]]);
    let Reply::Set(members) = exec(&mut ks, 0, &["SMEMBERS", "s"]) else {
        panic!("SMEMBERS answers a set")
    };
    assert_eq!(
        read(&ks, 0, &["SORT", "s", "BY", "nosort"]),
        Reply::Array(members)
    );
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "s", "BY", "_", "DESC", "STORE", "d"]),
        Reply::Integer(4)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "d", "0", "-1"]),
        bulks(&["c", "b", "aa", "a"]),
        "stored: sorted by bytes, so every replica stores the same list"
    );
}

#[test]
fn get_patterns() {
    let ks = ks_with(&[
        &["RPUSH", "l", "2", "1", "3"],
        &["MSET", "v_1", "one", "v_2", "two"],
        &["HSET", "h_1", "f", "uno"],
        &["HSET", "h_3", "f", "tres"],
    ]);
    assert_eq!(
        read(
            &ks,
            0,
            &["SORT", "l", "GET", "#", "GET", "v_*", "GET", "h_*->f"]
        ),
        Reply::Array(vec![
            bulk("1"),
            bulk("one"),
            bulk("uno"),
            bulk("2"),
            bulk("two"),
            Reply::Nil,
            bulk("3"),
            Reply::Nil,
            bulk("tres"),
        ])
    );
    // A pattern without '*' names nothing.
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "GET", "v_1"]),
        Reply::Array(vec![Reply::Nil; 3])
    );
    // "->" with no field after it is part of the key name.
    let ks = ks_with(&[&["RPUSH", "l", "a"], &["SET", "x:a->", "100"]]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "num", "GET", "x:*->"]),
        bulks(&["100"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT_RO", "l", "BY", "nosort", "GET", "x:*->"]),
        bulks(&["100"])
    );
}

#[test]
fn bad_doubles_are_an_error() {
    let mut ks = ks_with(&[
        &["SADD", "s", "1", "2", "3", "4", "not-a-double"],
        &["SADD", "t", "1", "2"],
        &["MSET", "score:1", "10", "score:2", "nan"],
    ]);
    assert_eq!(read(&ks, 0, &["SORT", "s"]), err(NOT_DOUBLE));
    assert_eq!(
        read(&ks, 0, &["SORT", "s", "LIMIT", "0", "1"]),
        err(NOT_DOUBLE),
        "wherever the bad value sorts"
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "t", "BY", "score:*"]),
        err(NOT_DOUBLE)
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "s", "ALPHA"]),
        bulks(&["1", "2", "3", "4", "not-a-double"])
    );
    assert_eq!(
        read(&ks, 0, &["SORT", "s", "BY", "nosort"]).clone(),
        read(&ks, 0, &["SORT", "s", "BY", "x"])
    );
    exec(&mut ks, 0, &["RPUSH", "d", "old"]);
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "s", "STORE", "d"]),
        err(NOT_DOUBLE)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "d", "0", "-1"]),
        bulks(&["old"]),
        "nothing stored"
    );
}

#[test]
fn scores_are_read_as_strtod_reads_them() {
    for (text, value) in [
        ("", 0.0),
        (" 1", 1.0),
        ("\t\n-2.5", -2.5),
        ("+5", 5.0),
        ("5.", 5.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("1E+03", 1000.0),
        ("inf", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("0x10", 16.0),
        ("-0X1.8p1", -3.0),
        ("0x.8", 0.5),
        ("0e-400", 0.0),
        ("7\0garbage", 7.0),
    ] {
        assert_eq!(strtod_whole(text.as_bytes()), Some(value), "{text:?}");
    }
    for text in [
        "1 ",
        "  ",
        "nan",
        "-nan",
        "1e400",
        "1e-400",
        "1e-310",
        "0x",
        "0x1p",
        "1_0",
        "abc",
        "--1",
        "+-1",
        "1e",
        "0x1p99999",
        ".",
        "infinit",
    ] {
        assert_eq!(strtod_whole(text.as_bytes()), None, "{text:?}");
    }
}

#[test]
fn wrong_types_and_syntax_errors() {
    let mut ks = ks_with(&[
        &["SET", "str", "1"],
        &["HSET", "h", "f", "1"],
        &["RPUSH", "l", "1"],
    ]);
    assert_eq!(read(&ks, 0, &["SORT", "str"]), err(WRONGTYPE));
    assert_eq!(read(&ks, 0, &["SORT_RO", "h"]), err(WRONGTYPE));
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "h", "STORE", "d"]),
        err(WRONGTYPE)
    );
    for words in [
        &["SORT", "l", "BOGUS"][..],
        &["SORT", "l", "BY"],
        &["SORT", "l", "GET"],
        &["SORT", "l", "STORE"],
        &["SORT", "l", "LIMIT", "0"],
        &["SORT_RO", "l", "STORE", "d"],
        &["SORT_RO", "foolist", "STORE", "bar"],
    ] {
        assert_eq!(
            exec(&mut ks, 0, words),
            err("ERR syntax error"),
            "{words:?}"
        );
    }
    // Options are checked in order: the first bad one decides.
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "l", "BOGUS", "LIMIT", "x", "1"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "l", "LIMIT", "x", "1", "BOGUS"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SORT"]),
        err("ERR wrong number of arguments for 'sort' command")
    );
    assert_eq!(
        exec(&mut ks, 0, &["SORT_RO"]),
        err("ERR wrong number of arguments for 'sort_ro' command")
    );
    // Parse errors come before the type check.
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "str", "BOGUS"]),
        err("ERR syntax error")
    );
}

#[test]
fn store_replaces_the_destination_and_clears_its_ttl() {
    let mut ks = ks_with(&[
        &["RPUSH", "l", "3", "1", "2"],
        &["SET", "w_1", "a"],
        &["HSET", "dest", "f", "v"],
        &["PEXPIRE", "dest", "5000"],
    ]);
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "l", "STORE", "dest"]),
        Reply::Integer(3)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "dest", "0", "-1"]),
        bulks(&["1", "2", "3"])
    );
    assert_eq!(exec(&mut ks, 0, &["TTL", "dest"]), Reply::Integer(-1));
    // With GET, every value is stored; a missing one as "".
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["SORT", "l", "GET", "#", "GET", "w_*", "STORE", "dest"]
        ),
        Reply::Integer(6)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "dest", "0", "-1"]),
        bulks(&["1", "a", "2", "", "3", ""])
    );
    // The last STORE wins; the sorted key may be its own destination.
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["SORT", "l", "DESC", "STORE", "x", "STORE", "l"]
        ),
        Reply::Integer(3)
    );
    assert_eq!(
        exec(&mut ks, 0, &["LRANGE", "l", "0", "-1"]),
        bulks(&["3", "2", "1"])
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "x"]), Reply::Integer(0));
}

#[test]
fn store_of_an_empty_result_deletes_the_destination() {
    let mut ks = ks_with(&[&["RPUSH", "foo", "bar"]]);
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "nokey", "STORE", "bar"]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "bar"]), Reply::Integer(0));
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["SORT", "foo", "ALPHA", "LIMIT", "10", "10", "STORE", "zap"]
        ),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "zap"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 0, &["SORT", "emptylist", "STORE", "foo"]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "foo"]), Reply::Integer(0));
}

#[test]
fn expired_keys_are_absent_to_sort() {
    let mut ks = ks_with(&[
        &["RPUSH", "l", "a", "b"],
        &["SET", "w_a", "2"],
        &["SET", "w_b", "1", "PX", "10"],
        &["RPUSH", "gone", "1"],
        &["PEXPIRE", "gone", "10"],
    ]);
    assert_eq!(
        read(&ks, 0, &["SORT", "l", "BY", "w_*"]),
        bulks(&["b", "a"])
    );
    assert_eq!(
        read(&ks, 10, &["SORT", "l", "BY", "w_*"]),
        bulks(&["b", "a"])
    );
    assert_eq!(
        read(&ks, 10, &["SORT", "l", "BY", "w_*", "GET", "w_*"]),
        Reply::Array(vec![Reply::Nil, bulk("2")])
    );
    assert_eq!(read(&ks, 10, &["SORT", "gone"]), Reply::Array(vec![]));
    assert_eq!(
        exec(&mut ks, 10, &["SORT", "gone", "STORE", "l"]),
        Reply::Integer(0)
    );
    assert_eq!(exec(&mut ks, 10, &["EXISTS", "l"]), Reply::Integer(0));
}

/// A STORE is a pure function of the keyspace: the same command on keyspaces with the same
/// contents, built in different orders, stores the same list.
#[test]
fn store_is_deterministic_across_insertion_orders() {
    let members: Vec<String> = (0..200)
        .map(|i| format!("m{}", (i * 7919) % 1000))
        .collect();
    let mut forward = Keyspace::new();
    let mut backward = Keyspace::new();
    for member in &members {
        exec(&mut forward, 0, &["SADD", "s", member]);
        exec(
            &mut forward,
            0,
            &[
                "SET",
                &format!("w_{member}"),
                &(member.len() % 3).to_string(),
            ],
        );
    }
    for member in members.iter().rev() {
        exec(
            &mut backward,
            0,
            &[
                "SET",
                &format!("w_{member}"),
                &(member.len() % 3).to_string(),
            ],
        );
        exec(&mut backward, 0, &["SADD", "s", member]);
    }
    for options in [
        &["BY", "w_*"][..],
        &["BY", "w_*", "ALPHA", "DESC"],
        &["BY", "nosort"],
        &["ALPHA", "LIMIT", "5", "20"],
    ] {
        let mut words = vec!["SORT", "s"];
        words.extend_from_slice(options);
        words.extend_from_slice(&["STORE", "d"]);
        exec(&mut forward, 0, &words);
        exec(&mut backward, 0, &words);
        assert_eq!(
            exec(&mut forward, 0, &["LRANGE", "d", "0", "-1"]),
            exec(&mut backward, 0, &["LRANGE", "d", "0", "-1"]),
            "{options:?}"
        );
    }
}

/// A partial sort (LIMIT) gives exactly the window of the full sort.
#[test]
fn limit_window_equals_slice_of_full_sort() {
    let mut ks = Keyspace::new();
    for i in 0..300 {
        exec(&mut ks, 0, &["RPUSH", "l", &((i * 37) % 101).to_string()]);
    }
    let Reply::Array(full) = read(&ks, 0, &["SORT", "l"]) else {
        panic!("array")
    };
    for (start, count) in [(0, 10), (50, 17), (290, 50), (299, 1)] {
        let window = read(
            &ks,
            0,
            &["SORT", "l", "LIMIT", &start.to_string(), &count.to_string()],
        );
        let end = (start + count).min(full.len());
        assert_eq!(
            window,
            Reply::Array(full[start..end].to_vec()),
            "{start} {count}"
        );
    }
}
