use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::Reply;
use crate::keyspace::Keyspace;

fn pairs(items: &[(&str, f64)]) -> Reply {
    Reply::Pairs(
        items
            .iter()
            .map(|(m, s)| (bulk(m), Reply::Double(*s)))
            .collect(),
    )
}

fn setup() -> Keyspace {
    let mut ks = Keyspace::new();
    exec(
        &mut ks,
        0,
        &[
            "ZADD", "z", "1", "a", "2", "b", "2", "c", "3", "d", "-inf", "lo", "+inf", "hi",
        ],
    );
    ks
}

#[test]
fn zadd_basic_and_options() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "1", "a", "2", "b"]),
        Reply::Integer(2)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "5", "a", "3", "c"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["ZADD", "z", "CH", "6", "a", "3", "c", "4", "d"]
        ),
        Reply::Integer(2)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "NX", "100", "a", "1", "e"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["ZSCORE", "z", "a"]), Reply::Double(6.0));
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "XX", "CH", "7", "a", "1", "new"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["ZSCORE", "z", "new"]), Reply::Nil);
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "GT", "CH", "1", "a", "8", "b"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["ZSCORE", "z", "a"]), Reply::Double(7.0));
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "LT", "CH", "1", "a", "9", "b"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["ZSCORE", "z", "a"]), Reply::Double(1.0));
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "INCR", "2.5", "a"]),
        Reply::Double(3.5)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "NX", "INCR", "2.5", "a"]),
        Reply::Nil
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "GT", "INCR", "-1", "a"]),
        Reply::Nil
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "nokey", "XX", "1", "a"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "nokey", "XX", "INCR", "1", "a"]),
        Reply::Nil
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "nokey"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["ZCARD", "z"]), Reply::Integer(5));
    assert_eq!(exec(&mut ks, 0, &["ZCARD", "nokey"]), Reply::Integer(0));
}

#[test]
fn zadd_errors() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "NX", "XX", "1", "a"]),
        err("ERR XX and NX options at the same time are not compatible")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "GT", "LT", "1", "a"]),
        err("ERR GT, LT, and/or NX options at the same time are not compatible")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "NX", "GT", "1", "a"]),
        err("ERR GT, LT, and/or NX options at the same time are not compatible")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        err("ERR INCR option supports a single increment-element pair")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "1", "a", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "NX", "1"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "1", "a", "x", "b"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "nan", "a"]),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        exec(&mut ks, 0, &["EXISTS", "z"]),
        Reply::Integer(0),
        "all or nothing"
    );
    exec(&mut ks, 0, &["SET", "s", "v"]);
    assert_eq!(exec(&mut ks, 0, &["ZADD", "s", "1", "a"]), err(WRONGTYPE));
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "s", "0", "-1"]),
        err(WRONGTYPE)
    );
    assert_eq!(exec(&mut ks, 0, &["ZSCORE", "s", "a"]), err(WRONGTYPE));
}

#[test]
fn zincrby_and_nan() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["ZINCRBY", "z", "1.5", "m"]),
        Reply::Double(1.5)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZINCRBY", "z", "0.1", "m"]).to_resp2(),
        bulk("1.6")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZINCRBY", "z", "x", "m"]),
        err("ERR value is not a valid float")
    );
    exec(&mut ks, 0, &["ZADD", "z", "inf", "i"]);
    assert_eq!(
        exec(&mut ks, 0, &["ZINCRBY", "z", "-inf", "i"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZSCORE", "z", "i"]).to_resp2(),
        bulk("inf")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "INCR", "-inf", "i"]),
        err("ERR resulting score is not a number (NaN)")
    );
}

#[test]
fn zrem_zrank_zscore() {
    let mut ks = setup();
    assert_eq!(exec(&mut ks, 0, &["ZRANK", "z", "lo"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["ZRANK", "z", "c"]), Reply::Integer(3));
    assert_eq!(exec(&mut ks, 0, &["ZRANK", "z", "zz"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["ZRANK", "nokey", "zz"]), Reply::Nil);
    assert_eq!(
        exec(&mut ks, 0, &["ZSCORE", "z", "lo"]).to_resp2(),
        bulk("-inf")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZREM", "z", "a", "zz", "a"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZREM", "z", "b", "c", "d", "lo", "hi"]),
        Reply::Integer(5)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "z"]), Reply::Integer(0));
}

#[test]
fn zrange_by_rank() {
    let mut ks = setup();
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "-1"]),
        bulks(&["lo", "a", "b", "c", "d", "hi"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "1", "2"]),
        bulks(&["a", "b"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "-2", "100"]),
        bulks(&["d", "hi"])
    );
    assert_eq!(exec(&mut ks, 0, &["ZRANGE", "z", "4", "2"]), bulks(&[]));
    assert_eq!(exec(&mut ks, 0, &["ZRANGE", "z", "10", "20"]), bulks(&[]));
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "1", "REV"]),
        bulks(&["hi", "d"])
    );
    let reply = exec(&mut ks, 0, &["ZRANGE", "z", "0", "1", "WITHSCORES"]);
    assert_eq!(reply, pairs(&[("lo", f64::NEG_INFINITY), ("a", 1.0)]));
    assert_eq!(reply.to_resp2(), bulks(&["lo", "-inf", "a", "1"]));
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "nokey", "0", "-1"]),
        bulks(&[])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "2"]),
        err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "-1"]),
        bulks(&["lo", "a"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "1", "BOGUS"]),
        err("ERR syntax error")
    );
}

#[test]
fn zrange_by_score() {
    let mut ks = setup();
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "2", "3", "BYSCORE"]),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "(2", "3", "BYSCORE"]),
        bulks(&["d"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "1", "(2", "BYSCORE"]),
        bulks(&["a"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "(2", "(2", "BYSCORE"]),
        bulks(&[])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "-inf", "+inf", "BYSCORE"]),
        bulks(&["lo", "a", "b", "c", "d", "hi"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "(-inf", "(+inf", "BYSCORE"]),
        bulks(&["a", "b", "c", "d"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "3", "1", "BYSCORE", "REV"]),
        bulks(&["d", "c", "b", "a"])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &[
                "ZRANGE",
                "z",
                "+inf",
                "-inf",
                "BYSCORE",
                "REV",
                "LIMIT",
                "1",
                "2",
                "WITHSCORES"
            ]
        ),
        pairs(&[("d", 3.0), ("c", 2.0)])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "1", "2"]
        ),
        bulks(&["b", "c"])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "1", "-1"]
        ),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "-1", "2"]
        ),
        bulks(&[])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["ZRANGEBYSCORE", "z", "1", "3", "LIMIT", "0", "0"]
        ),
        bulks(&[])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "(1", "2", "WITHSCORES"]).to_resp2(),
        bulks(&["b", "2", "c", "2"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "3", "1"]),
        bulks(&[])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "x", "1"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "1", "nan"]),
        err("ERR min or max is not a float")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "1", "3", "REV"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "nokey", "1", "3"]),
        bulks(&[])
    );
}

#[test]
fn zpopmin_zpopmax() {
    let mut ks = setup();
    assert_eq!(
        exec(&mut ks, 0, &["ZPOPMIN", "z"]),
        Reply::Array(vec![bulk("lo"), Reply::Double(f64::NEG_INFINITY)])
    );
    let reply = exec(&mut ks, 0, &["ZPOPMAX", "z", "2"]);
    assert_eq!(reply, pairs(&[("hi", f64::INFINITY), ("d", 3.0)]));
    assert_eq!(reply.to_resp2(), bulks(&["hi", "inf", "d", "3"]));
    assert_eq!(
        exec(&mut ks, 0, &["ZPOPMIN", "z", "0"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZPOPMIN", "z", "-1"]),
        err("ERR value is out of range, must be positive")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZPOPMIN", "z", "1", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZPOPMIN", "z", "10"]),
        pairs(&[("a", 1.0), ("b", 2.0), ("c", 2.0)])
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "z"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["ZPOPMIN", "z"]), Reply::Array(vec![]));
    exec(&mut ks, 0, &["SET", "s", "v"]);
    assert_eq!(exec(&mut ks, 0, &["ZPOPMAX", "s"]), err(WRONGTYPE));
}

/// -0 ties with 0 and is stored as 0 (Redis 7's compact sorted sets reply "0" to ZSCORE; the
/// differential test against redis-server found "-0" here once).
#[test]
fn negative_zero_ties_with_zero() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["ZADD", "z", "0", "b", "-0", "a", "0", "c"]);
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGE", "z", "0", "-1"]),
        bulks(&["a", "b", "c"])
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZADD", "z", "CH", "0", "a"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZSCORE", "z", "a"]).to_resp2(),
        bulk("0")
    );
    assert_eq!(
        exec(&mut ks, 0, &["ZRANGEBYSCORE", "z", "0", "0"]),
        bulks(&["a", "b", "c"])
    );
}
