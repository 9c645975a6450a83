use std::collections::BTreeMap;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::Reply;
use crate::keyspace::Keyspace;

#[test]
fn hset_hget_hgetall_in_insertion_order() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["HSET", "h", "b", "1", "a", "2"]),
        Reply::Integer(2)
    );
    assert_eq!(
        exec(&mut ks, 0, &["HSET", "h", "b", "3", "c", "4"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "b"]), bulk("3"));
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "zz"]), Reply::Nil);
    assert_eq!(exec(&mut ks, 0, &["HGET", "nope", "b"]), Reply::Nil);
    let all = exec(&mut ks, 0, &["HGETALL", "h"]);
    assert_eq!(
        all,
        Reply::Map(vec![
            (bulk("b"), bulk("3")),
            (bulk("a"), bulk("2")),
            (bulk("c"), bulk("4"))
        ])
    );
    assert_eq!(all.to_resp2(), bulks(&["b", "3", "a", "2", "c", "4"]));
    assert_eq!(exec(&mut ks, 0, &["HGETALL", "nope"]), Reply::Map(vec![]));
    assert_eq!(exec(&mut ks, 0, &["HKEYS", "h"]), bulks(&["b", "a", "c"]));
    assert_eq!(exec(&mut ks, 0, &["HVALS", "h"]), bulks(&["3", "2", "4"]));
    assert_eq!(exec(&mut ks, 0, &["HLEN", "h"]), Reply::Integer(3));
    assert_eq!(exec(&mut ks, 0, &["HEXISTS", "h", "a"]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 0, &["HEXISTS", "h", "q"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 0, &["HMGET", "h", "a", "q", "c"]),
        Reply::Array(vec![bulk("2"), Reply::Nil, bulk("4")])
    );
    assert_eq!(exec(&mut ks, 0, &["HMSET", "h", "d", "5"]), Reply::Ok);
    assert_eq!(
        exec(&mut ks, 0, &["HSETNX", "h", "d", "6"]),
        Reply::Integer(0)
    );
    assert_eq!(
        exec(&mut ks, 0, &["HSETNX", "h", "e", "6"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["HLEN", "h"]), Reply::Integer(5));
}

#[test]
fn hdel_removes_empty_hash_and_keeps_ttl() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["HSET", "h", "a", "1", "b", "2"]);
    exec(&mut ks, 0, &["PEXPIRE", "h", "1000"]);
    assert_eq!(
        exec(&mut ks, 0, &["HSET", "h", "c", "3"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 0, &["PTTL", "h"]), Reply::Integer(1000));
    assert_eq!(
        exec(&mut ks, 0, &["HDEL", "h", "a", "zz", "a"]),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["HDEL", "h", "b", "c"]),
        Reply::Integer(2)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "h"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["HDEL", "h", "b"]), Reply::Integer(0));
    assert!(ks.is_empty());
}

#[test]
fn hash_errors() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "s", "v"]);
    for words in [
        &["HSET", "s", "f", "v"][..],
        &["HGET", "s", "f"],
        &["HGETALL", "s"],
        &["HDEL", "s", "f"],
        &["HLEN", "s"],
        &["HINCRBY", "s", "f", "1"],
        &["HSETNX", "s", "f", "v"],
    ] {
        assert_eq!(exec(&mut ks, 0, words), err(WRONGTYPE), "{words:?}");
    }
    assert_eq!(
        exec(&mut ks, 0, &["HSET", "h", "f"]),
        err("ERR wrong number of arguments for 'hset' command")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HMSET", "h", "f", "v", "g"]),
        err("ERR wrong number of arguments for 'hmset' command")
    );
}

#[test]
fn hincrby_semantics() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "h", "n", "5"]),
        Reply::Integer(5)
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "h", "n", "-7"]),
        Reply::Integer(-2)
    );
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "n"]), bulk("-2"));
    exec(
        &mut ks,
        0,
        &["HSET", "h", "s", "abc", "big", "9223372036854775807"],
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "h", "s", "1"]),
        err("ERR hash value is not an integer")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "h", "big", "1"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "h", "n", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBY", "fresh", "n", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "fresh"]), Reply::Integer(0));
}

/// The model: key → string, or key → hash as an insertion-ordered field list.
#[derive(Clone, Debug)]
enum ModelValue {
    Str(Vec<u8>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

fn model_reply(model: &mut BTreeMap<Vec<u8>, ModelValue>, words: &[String]) -> Reply {
    let wrongtype = err(WRONGTYPE);
    let b = |s: &[u8]| Reply::Bulk(Bytes::copy_from_slice(s));
    let key = words[1].as_bytes().to_vec();
    match words[0].as_str() {
        "SET" => {
            model.insert(key, ModelValue::Str(words[2].as_bytes().to_vec()));
            Reply::Ok
        }
        "GET" => match model.get(&key) {
            None => Reply::Nil,
            Some(ModelValue::Str(s)) => b(s),
            Some(_) => wrongtype,
        },
        "APPEND" => match model.get_mut(&key) {
            None => {
                model.insert(key, ModelValue::Str(words[2].as_bytes().to_vec()));
                Reply::Integer(words[2].len() as i64)
            }
            Some(ModelValue::Str(s)) => {
                s.extend_from_slice(words[2].as_bytes());
                Reply::Integer(s.len() as i64)
            }
            Some(_) => wrongtype,
        },
        "INCRBY" => {
            let delta: i64 = words[2].parse().unwrap();
            let current = match model.get(&key) {
                None => 0,
                Some(ModelValue::Str(s)) => match std::str::from_utf8(s)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(n) if n.to_string().as_bytes() == &s[..] => n,
                    _ => return err("ERR value is not an integer or out of range"),
                },
                Some(_) => return wrongtype,
            };
            match current.checked_add(delta) {
                Some(next) => {
                    model.insert(key, ModelValue::Str(next.to_string().into_bytes()));
                    Reply::Integer(next)
                }
                None => err("ERR increment or decrement would overflow"),
            }
        }
        "DEL" => Reply::Integer(i64::from(model.remove(&key).is_some())),
        "HSET" => {
            let field = words[2].as_bytes().to_vec();
            let value = words[3].as_bytes().to_vec();
            let entry = model
                .entry(key)
                .or_insert_with(|| ModelValue::Hash(Vec::new()));
            let ModelValue::Hash(fields) = entry else {
                return wrongtype;
            };
            match fields.iter_mut().find(|(f, _)| *f == field) {
                Some(slot) => {
                    slot.1 = value;
                    Reply::Integer(0)
                }
                None => {
                    fields.push((field, value));
                    Reply::Integer(1)
                }
            }
        }
        "HDEL" => {
            let field = words[2].as_bytes();
            match model.get_mut(&key) {
                None => Reply::Integer(0),
                Some(ModelValue::Hash(fields)) => {
                    let before = fields.len();
                    fields.retain(|(f, _)| f != field);
                    let removed = before - fields.len();
                    if fields.is_empty() {
                        model.remove(&key);
                    }
                    Reply::Integer(removed as i64)
                }
                Some(_) => wrongtype,
            }
        }
        "HGET" => match model.get(&key) {
            None => Reply::Nil,
            Some(ModelValue::Hash(fields)) => fields
                .iter()
                .find(|(f, _)| f == words[2].as_bytes())
                .map_or(Reply::Nil, |(_, v)| b(v)),
            Some(_) => wrongtype,
        },
        "HGETALL" => match model.get(&key) {
            None => Reply::Map(vec![]),
            Some(ModelValue::Hash(fields)) => {
                Reply::Map(fields.iter().map(|(f, v)| (b(f), b(v))).collect())
            }
            Some(_) => wrongtype,
        },
        "HLEN" => match model.get(&key) {
            None => Reply::Integer(0),
            Some(ModelValue::Hash(fields)) => Reply::Integer(fields.len() as i64),
            Some(_) => wrongtype,
        },
        "EXISTS" => Reply::Integer(i64::from(model.contains_key(&key))),
        "TYPE" => Reply::Simple(
            match model.get(&key) {
                None => "none",
                Some(ModelValue::Str(_)) => "string",
                Some(ModelValue::Hash(_)) => "hash",
            }
            .to_string(),
        ),
        other => unreachable!("model does not know {other}"),
    }
}

/// Random string and hash operations, replies compared one by one with a
/// `BTreeMap` model; a failure prints the seed and the step.
#[test]
fn model_based_strings_and_hashes() {
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ks = Keyspace::new();
        let mut model = BTreeMap::new();
        for step in 0..2000 {
            let key = format!("k{}", rng.gen_range(0..6));
            let field = format!("f{}", rng.gen_range(0..5));
            let value = match rng.gen_range(0..4) {
                0 => rng.gen_range(-100i64..100).to_string(),
                1 => "9223372036854775800".to_string(),
                2 => format!("v{}", rng.gen_range(0..10)),
                _ => String::new(),
            };
            let delta = if rng.gen_bool(0.1) { "9" } else { "3" }.to_string();
            let words: Vec<String> = match rng.gen_range(0..13) {
                0 => vec!["SET".into(), key, value],
                1 => vec!["GET".into(), key],
                2 => vec!["APPEND".into(), key, value],
                3 => vec!["INCRBY".into(), key, delta],
                4 => vec!["DEL".into(), key],
                5 | 6 => vec!["HSET".into(), key, field, value],
                7 => vec!["HDEL".into(), key, field],
                8 => vec!["HGET".into(), key, field],
                9 => vec!["HGETALL".into(), key],
                10 => vec!["HLEN".into(), key],
                11 => vec!["EXISTS".into(), key],
                _ => vec!["TYPE".into(), key],
            };
            let expected = model_reply(&mut model, &words);
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            let actual = exec(&mut ks, 0, &refs);
            assert_eq!(actual, expected, "seed {seed} step {step}: {words:?}");
        }
        assert_eq!(ks.len(), model.len(), "seed {seed}: key count");
    }
}

#[test]
fn hincrbyfloat_formats_like_redis_and_keeps_ttl() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "1.23"]),
        bulk("1.23")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "0.77"]),
        bulk("2")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "-0.1"]),
        bulk("1.9")
    );
    assert_eq!(exec(&mut ks, 0, &["HGET", "h", "f"]), bulk("1.9"));
    exec(&mut ks, 0, &["HSET", "h", "big", "17179869184"]);
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "big", "17179869184"]),
        bulk("34359738368")
    );
    exec(&mut ks, 0, &["PEXPIRE", "h", "700"]);
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "new", "2.5"]),
        bulk("2.5")
    );
    assert_eq!(exec(&mut ks, 0, &["PTTL", "h"]), Reply::Integer(700));
}

#[test]
fn hincrbyfloat_errors() {
    let mut ks = Keyspace::new();
    for value in [" 11", "11 ", "1\x002", "abc"] {
        exec(&mut ks, 0, &["HSET", "h", "f", value]);
        assert_eq!(
            exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "1"]),
            err("ERR hash value is not a float"),
            "{value:?}"
        );
    }
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "x"]),
        err("ERR value is not a valid float")
    );
    // Infinity is refused before the key is looked at: nothing is created.
    for increment in ["+inf", "-inf", "infinity"] {
        assert_eq!(
            exec(&mut ks, 0, &["HINCRBYFLOAT", "fresh", "f", increment]),
            err("ERR value is NaN or Infinity")
        );
    }
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "fresh"]), Reply::Integer(0));
    exec(&mut ks, 0, &["HSET", "h", "f", "1.1e4932"]);
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "h", "f", "1.1e4932"]),
        err("ERR increment would produce NaN or Infinity")
    );
    exec(&mut ks, 0, &["SET", "s", "1"]);
    assert_eq!(
        exec(&mut ks, 0, &["HINCRBYFLOAT", "s", "f", "1"]),
        err(WRONGTYPE)
    );
}

#[test]
fn hstrlen_counts_value_bytes() {
    let mut ks = Keyspace::new();
    exec(
        &mut ks,
        0,
        &[
            "HSET",
            "h",
            "a",
            "hello",
            "e",
            "",
            "n",
            "-9223372036854775808",
        ],
    );
    assert_eq!(exec(&mut ks, 0, &["HSTRLEN", "h", "a"]), Reply::Integer(5));
    assert_eq!(exec(&mut ks, 0, &["HSTRLEN", "h", "e"]), Reply::Integer(0));
    assert_eq!(exec(&mut ks, 0, &["HSTRLEN", "h", "n"]), Reply::Integer(20));
    assert_eq!(exec(&mut ks, 0, &["HSTRLEN", "h", "zz"]), Reply::Integer(0));
    assert_eq!(
        exec(&mut ks, 0, &["HSTRLEN", "nope", "a"]),
        Reply::Integer(0)
    );
    exec(&mut ks, 0, &["SET", "s", "1"]);
    assert_eq!(exec(&mut ks, 0, &["HSTRLEN", "s", "a"]), err(WRONGTYPE));
}

/// Runs a read with the random source seeded by `seed`.
fn read_seeded(ks: &Keyspace, seed: u64, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    let command = crate::command::Command::parse(&args).expect("parses");
    command.read(ks, &mut crate::command::Cx::new(0, seed))
}

fn array_len(reply: &Reply) -> usize {
    match reply {
        Reply::Array(items) => items.len(),
        Reply::Pairs(pairs) => pairs.len(),
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn hrandfield_counts() {
    let mut ks = Keyspace::new();
    let fields = ["a", "b", "c", "d", "e"];
    for (i, field) in fields.iter().enumerate() {
        exec(&mut ks, 0, &["HSET", "h", field, &i.to_string()]);
    }
    // No count: one field; every field is eventually drawn.
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        match read_seeded(&ks, seed, &["HRANDFIELD", "h"]) {
            Reply::Bulk(field) => seen.insert(field),
            other => panic!("{other:?}"),
        };
    }
    assert_eq!(seen.len(), fields.len());
    assert_eq!(read_seeded(&ks, 0, &["HRANDFIELD", "nope"]), Reply::Nil);
    assert_eq!(
        read_seeded(&ks, 0, &["HRANDFIELD", "nope", "3"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        read_seeded(&ks, 0, &["HRANDFIELD", "h", "0"]),
        Reply::Array(vec![])
    );
    // A count of at least the size: the whole hash, in insertion order.
    assert_eq!(
        read_seeded(&ks, 0, &["HRANDFIELD", "h", "9"]),
        bulks(&["a", "b", "c", "d", "e"])
    );
    // Fewer: distinct fields.
    for seed in 0..50 {
        let Reply::Array(items) = read_seeded(&ks, seed, &["HRANDFIELD", "h", "3"]) else {
            panic!("array");
        };
        let distinct: std::collections::BTreeSet<_> =
            items.iter().map(|r| format!("{r:?}")).collect();
        assert_eq!((items.len(), distinct.len()), (3, 3));
    }
    // Negative: that many draws, repeats allowed.
    assert_eq!(
        array_len(&read_seeded(&ks, 1, &["HRANDFIELD", "h", "-20"])),
        20
    );
    let with_values = read_seeded(&ks, 1, &["HRANDFIELD", "h", "-20", "WITHVALUES"]);
    let Reply::Pairs(pairs) = &with_values else {
        panic!("pairs: {with_values:?}");
    };
    assert_eq!(pairs.len(), 20);
    for (field, value) in pairs {
        let (Reply::Bulk(field), Reply::Bulk(value)) = (field, value) else {
            panic!("bulks");
        };
        let index = fields
            .iter()
            .position(|f| f.as_bytes() == &field[..])
            .expect("a field");
        assert_eq!(
            &value[..],
            index.to_string().as_bytes(),
            "value matches field"
        );
    }
    assert_eq!(
        array_len(&with_values.to_resp2()),
        40,
        "RESP2 flattens the pairs"
    );
    // The same seed draws the same fields.
    assert_eq!(
        read_seeded(&ks, 9, &["HRANDFIELD", "h", "-7"]),
        read_seeded(&ks, 9, &["HRANDFIELD", "h", "-7"])
    );
}

/// Every field is drawn about as often: a chi-square bound loose enough never to fail by
/// chance with a fixed seed, tight enough to catch a bias towards some positions.
#[test]
fn hrandfield_draws_uniformly() {
    let mut ks = Keyspace::new();
    for i in 0..10 {
        exec(&mut ks, 0, &["HSET", "h", &format!("f{i}"), "v"]);
    }
    let mut counts = BTreeMap::new();
    for seed in 0..20 {
        let Reply::Array(items) = read_seeded(&ks, seed, &["HRANDFIELD", "h", "-500"]) else {
            panic!("array");
        };
        for item in items {
            *counts.entry(format!("{item:?}")).or_insert(0.0) += 1.0;
        }
        let Reply::Array(items) = read_seeded(&ks, seed + 100, &["HRANDFIELD", "h", "4"]) else {
            panic!("array");
        };
        for item in items {
            *counts.entry(format!("{item:?}")).or_insert(0.0) += 1.0;
        }
    }
    let total: f64 = counts.values().sum();
    let expected = total / 10.0;
    let chi_square: f64 = counts
        .values()
        .map(|c| (c - expected).powi(2) / expected)
        .sum();
    assert_eq!(counts.len(), 10);
    assert!(chi_square < 40.0, "chi-square {chi_square}");
}

#[test]
fn hrandfield_errors() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["HSET", "h", "a", "1"]);
    let range = err("ERR value is out of range");
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]
        ),
        range
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"]
        ),
        range
    );
    assert_eq!(
        exec(&mut ks, 0, &["HRANDFIELD", "h", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HRANDFIELD", "h", "1", "WITHSCORES"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HRANDFIELD", "h", "1", "WITHVALUES", "x"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HRANDFIELD", "h", "x"]),
        err("ERR value is not an integer or out of range")
    );
    // Tandem's bound on repeated draws.
    let over = format!("-{}", crate::command::HRANDFIELD_REPEATS_MAX + 1);
    assert_eq!(exec(&mut ks, 0, &["HRANDFIELD", "h", &over]), range);
    let at = format!("-{}", crate::command::HRANDFIELD_REPEATS_MAX);
    assert_eq!(
        array_len(&exec(&mut ks, 0, &["HRANDFIELD", "h", &at])),
        1 << 20
    );
    // A huge positive count is fine: it returns the whole hash.
    assert_eq!(
        exec(&mut ks, 0, &["HRANDFIELD", "h", "9223372036854775807"]),
        bulks(&["a"])
    );
    exec(&mut ks, 0, &["SET", "s", "1"]);
    assert_eq!(exec(&mut ks, 0, &["HRANDFIELD", "s"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["HRANDFIELD", "s", "2"]), err(WRONGTYPE));
}

/// Splits an HSCAN reply into (cursor, [(field, value)]).
fn scan_parts(reply: Reply) -> (u64, Vec<(String, String)>) {
    let Reply::Array(parts) = reply else {
        panic!("array: {reply:?}");
    };
    let [Reply::Bulk(cursor), Reply::Array(items)] = &parts[..] else {
        panic!("cursor and items: {parts:?}");
    };
    let text = |r: &Reply| match r {
        Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf-8"),
        other => panic!("bulk: {other:?}"),
    };
    let cursor = std::str::from_utf8(cursor).unwrap().parse().unwrap();
    let pairs = items
        .chunks(2)
        .map(|pair| (text(&pair[0]), text(&pair[1])))
        .collect();
    (cursor, pairs)
}

#[test]
fn hscan_returns_a_small_hash_whole() {
    let mut ks = Keyspace::new();
    exec(
        &mut ks,
        0,
        &["HSET", "h", "foo1", "1", "bar", "2", "foo2", "3"],
    );
    let (cursor, pairs) = scan_parts(exec(&mut ks, 0, &["HSCAN", "h", "0", "COUNT", "1"]));
    assert_eq!(cursor, 0);
    let fields: Vec<_> = pairs.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["foo1", "bar", "foo2"], "insertion order");
    let (_, pairs) = scan_parts(exec(&mut ks, 0, &["HSCAN", "h", "12345", "MATCH", "foo*"]));
    assert_eq!(
        pairs,
        [("foo1".into(), "1".into()), ("foo2".into(), "3".into())]
    );
    assert_eq!(
        scan_parts(exec(&mut ks, 0, &["HSCAN", "nope", "0"])),
        (0, vec![])
    );
}

#[test]
fn hscan_errors_come_after_the_lookup() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    let syntax = err("ERR syntax error");
    assert_eq!(
        exec(&mut ks, 0, &["HSCAN", "h", "x"]),
        err("ERR invalid cursor")
    );
    assert_eq!(
        exec(&mut ks, 0, &["HSCAN", "nope", "x"]),
        err("ERR invalid cursor")
    );
    // A missing key answers an empty scan whatever the options.
    assert_eq!(
        scan_parts(exec(&mut ks, 0, &["HSCAN", "nope", "0", "bogus"])),
        (0, vec![])
    );
    assert_eq!(exec(&mut ks, 0, &["HSCAN", "h", "0", "bogus"]), syntax);
    assert_eq!(
        exec(&mut ks, 0, &["HSCAN", "h", "0", "TYPE", "hash"]),
        syntax
    );
    assert_eq!(exec(&mut ks, 0, &["HSCAN", "h", "0", "COUNT", "0"]), syntax);
    assert_eq!(exec(&mut ks, 0, &["HSCAN", "h", "0", "MATCH"]), syntax);
    assert_eq!(
        exec(&mut ks, 0, &["HSCAN", "h", "0", "COUNT", "x"]),
        err("ERR value is not an integer or out of range")
    );
    exec(&mut ks, 0, &["SET", "s", "1"]);
    assert_eq!(
        exec(&mut ks, 0, &["HSCAN", "s", "0", "bogus"]),
        err(WRONGTYPE)
    );
}

/// The scan guarantee on a hash too big to return whole: every field present from the first
/// call to the last is returned at least once, while other fields come and go in between.
#[test]
fn hscan_of_a_big_hash_sees_every_field_that_stays() {
    let mut ks = Keyspace::new();
    let mut rng = StdRng::seed_from_u64(5);
    for i in 0..600 {
        exec(&mut ks, 0, &["HSET", "h", &format!("f{i}"), "v"]);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut removed = std::collections::BTreeSet::new();
    let mut cursor = 0u64;
    let mut calls = 0;
    loop {
        let count = rng.gen_range(1..30).to_string();
        let (next, pairs) = scan_parts(exec(
            &mut ks,
            0,
            &["HSCAN", "h", &cursor.to_string(), "COUNT", &count],
        ));
        calls += 1;
        seen.extend(pairs.into_iter().map(|(field, _)| field));
        // Churn between calls: remove some original fields, add new ones.
        for _ in 0..3 {
            let victim = format!("f{}", rng.gen_range(0..600));
            exec(&mut ks, 0, &["HDEL", "h", &victim]);
            removed.insert(victim);
            exec(
                &mut ks,
                0,
                &["HSET", "h", &format!("new{}", rng.gen::<u32>()), "v"],
            );
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(calls > 10, "the scan is split into batches ({calls} calls)");
    for i in 0..600 {
        let field = format!("f{i}");
        assert!(
            removed.contains(&field) || seen.contains(&field),
            "{field} missed"
        );
    }
}

#[test]
fn hscan_batches_follow_count_and_match() {
    let mut ks = Keyspace::new();
    for i in 0..300 {
        exec(&mut ks, 0, &["HSET", "h", &format!("k{i}"), &i.to_string()]);
    }
    let (cursor, pairs) = scan_parts(exec(&mut ks, 0, &["HSCAN", "h", "0"]));
    assert_ne!(cursor, 0);
    assert_eq!(pairs.len(), 10, "COUNT 10 by default");
    let (cursor, pairs) = scan_parts(exec(&mut ks, 0, &["HSCAN", "h", "0", "COUNT", "1000"]));
    assert_eq!((cursor, pairs.len()), (0, 300));
    let (_, pairs) = scan_parts(exec(
        &mut ks,
        0,
        &["HSCAN", "h", "0", "COUNT", "1000", "MATCH", "k1?"],
    ));
    let mut fields = pairs;
    fields.sort();
    let expected: Vec<_> = (10..20).map(|i| (format!("k{i}"), i.to_string())).collect();
    assert_eq!(fields, expected);
}

/// HRANDFIELD walks the hash and HSCAN may return all of it: both run on a snapshot.
#[test]
fn hash_walks_are_marked_for_a_snapshot() {
    let many = |words: &[&str]| {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        crate::command::Command::parse(&args)
            .expect("parses")
            .may_read_many()
    };
    assert!(many(&["HRANDFIELD", "h"]));
    assert!(many(&["HSCAN", "h", "0"]));
    assert!(!many(&["HSTRLEN", "h", "f"]));
}
