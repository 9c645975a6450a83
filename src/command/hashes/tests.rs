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
