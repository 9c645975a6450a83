//! Model-based test: random command sequences against the embedded node and against a plain
//! in-memory model, with restarts (some after a snapshot) in between. Every reply must match the
//! model's, and after each restart the whole state must match. Failures print the seed.

mod common;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tandem::{Node, Reply, SnapshotPolicyOption};

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Default)]
struct Model {
    data: HashMap<Vec<u8>, Value>,
}

fn bulk(v: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(v))
}

impl Model {
    /// The reply Redis 7 gives for `args` on this state, applying it.
    fn run(&mut self, args: &[Vec<u8>]) -> Reply {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let key = args[1].clone();
        match name.as_str() {
            "SET" => {
                self.data.insert(key, Value::Str(args[2].clone()));
                Reply::Ok
            }
            "GET" => match self.data.get(&key) {
                None => Reply::Nil,
                Some(Value::Str(s)) => bulk(s),
                Some(_) => Reply::Error(WRONGTYPE.into()),
            },
            "DEL" => Reply::Integer(i64::from(self.data.remove(&key).is_some())),
            "EXISTS" => Reply::Integer(i64::from(self.data.contains_key(&key))),
            "APPEND" => match self.data.entry(key).or_insert(Value::Str(Vec::new())) {
                Value::Str(s) => {
                    s.extend_from_slice(&args[2]);
                    Reply::Integer(s.len() as i64)
                }
                _ => Reply::Error(WRONGTYPE.into()),
            },
            "STRLEN" => match self.data.get(&key) {
                None => Reply::Integer(0),
                Some(Value::Str(s)) => Reply::Integer(s.len() as i64),
                Some(_) => Reply::Error(WRONGTYPE.into()),
            },
            "INCRBY" => {
                let delta: i64 = String::from_utf8_lossy(&args[2]).parse().unwrap();
                let current = match self.data.get(&key) {
                    None => 0,
                    Some(Value::Str(s)) => match std::str::from_utf8(s).ok().and_then(|s| {
                        // Redis accepts only canonical integers (no spaces, no leading '+').
                        let n: i64 = s.parse().ok()?;
                        (n.to_string() == s).then_some(n)
                    }) {
                        Some(n) => n,
                        None => {
                            return Reply::Error(
                                "ERR value is not an integer or out of range".into(),
                            )
                        }
                    },
                    Some(_) => return Reply::Error(WRONGTYPE.into()),
                };
                match current.checked_add(delta) {
                    Some(n) => {
                        self.data
                            .insert(key, Value::Str(n.to_string().into_bytes()));
                        Reply::Integer(n)
                    }
                    None => Reply::Error("ERR increment or decrement would overflow".into()),
                }
            }
            "HSET" => match self.data.entry(key).or_insert(Value::Hash(BTreeMap::new())) {
                Value::Hash(h) => Reply::Integer(i64::from(
                    h.insert(args[2].clone(), args[3].clone()).is_none(),
                )),
                _ => Reply::Error(WRONGTYPE.into()),
            },
            "HGET" => match self.data.get(&key) {
                None => Reply::Nil,
                Some(Value::Hash(h)) => h.get(&args[2]).map_or(Reply::Nil, |v| bulk(v)),
                Some(_) => Reply::Error(WRONGTYPE.into()),
            },
            "HDEL" => match self.data.get_mut(&key) {
                None => Reply::Integer(0),
                Some(Value::Hash(h)) => {
                    let removed = h.remove(&args[2]).is_some();
                    if h.is_empty() {
                        self.data.remove(&key);
                    }
                    Reply::Integer(i64::from(removed))
                }
                Some(_) => Reply::Error(WRONGTYPE.into()),
            },
            "HLEN" => match self.data.get(&key) {
                None => Reply::Integer(0),
                Some(Value::Hash(h)) => Reply::Integer(h.len() as i64),
                Some(_) => Reply::Error(WRONGTYPE.into()),
            },
            other => panic!("model does not know {other}"),
        }
    }
}

fn random_command(rng: &mut StdRng) -> Vec<Vec<u8>> {
    let key = format!("k{}", rng.gen_range(0..12)).into_bytes();
    let field = format!("f{}", rng.gen_range(0..4)).into_bytes();
    let value = if rng.gen_bool(0.3) {
        rng.gen_range(-50i64..50).to_string().into_bytes()
    } else {
        let len = rng.gen_range(0..20);
        (0..len).map(|_| rng.gen_range(b'a'..=b'z')).collect()
    };
    let delta = if rng.gen_bool(0.05) {
        i64::MAX - rng.gen_range(0..3)
    } else {
        rng.gen_range(-100..100)
    };
    let s = |x: &str| x.as_bytes().to_vec();
    match rng.gen_range(0..12) {
        0 | 1 => vec![s("SET"), key, value],
        2 | 3 => vec![s("GET"), key],
        4 => vec![s("DEL"), key],
        5 => vec![s("EXISTS"), key],
        6 => vec![s("APPEND"), key, value],
        7 => vec![s("STRLEN"), key],
        8 => vec![s("INCRBY"), key, delta.to_string().into_bytes()],
        9 => vec![s("HSET"), key, field, value],
        10 => vec![s("HGET"), key, field],
        _ => {
            if rng.gen_bool(0.5) {
                vec![s("HDEL"), key, field]
            } else {
                vec![s("HLEN"), key]
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commands_with_restarts_match_the_model() {
    let seed = common::seed("model");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = common::data_dir("model");
    let open = || {
        Node::builder(dir.path())
            .snapshot_policy(SnapshotPolicyOption::Manual)
            .logs_kept_after_snapshot(3)
            .segment_bytes(64 * 1024)
            .open()
    };
    let mut model = Model::default();
    let mut node = open().await.unwrap();
    for round in 0..8 {
        let db = node.db();
        for step in 0..250 {
            let args = random_command(&mut rng);
            let expected = model.run(&args);
            let actual = db.execute_args(&args).await.unwrap();
            assert_eq!(
                actual,
                expected,
                "seed {seed}, round {round}, step {step}: {:?}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
        if rng.gen_bool(0.5) {
            node.snapshot().await.unwrap();
        }
        node.shutdown().await.unwrap();
        node = open().await.unwrap();
        // The whole state after restart equals the model's.
        let db = node.db();
        assert_eq!(
            db.len(),
            model.data.len(),
            "seed {seed}: key count after restart"
        );
        for (key, value) in &model.data {
            match value {
                Value::Str(s) => assert_eq!(
                    db.get(key).await.unwrap().as_deref(),
                    Some(&s[..]),
                    "seed {seed}: {}",
                    String::from_utf8_lossy(key)
                ),
                Value::Hash(h) => {
                    let mut got = db.hgetall(key).await.unwrap();
                    got.sort();
                    let want: Vec<(Bytes, Bytes)> = h
                        .iter()
                        .map(|(f, v)| (Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)))
                        .collect();
                    assert_eq!(got, want, "seed {seed}: {}", String::from_utf8_lossy(key));
                }
            }
        }
    }
    node.shutdown().await.unwrap();
}
