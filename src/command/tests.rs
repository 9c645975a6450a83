use super::*;

/// Parse `words` as a RESP argument array and apply it at `now_ms`.
pub(crate) fn exec(ks: &mut Keyspace, now_ms: u64, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    match Command::parse(&args) {
        Ok(cmd) => cmd.apply(ks, &mut Cx::new(now_ms, 0)),
        Err(error) => error.to_reply(),
    }
}

pub(crate) fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::Error(text.to_string())
}

pub(crate) fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

pub(crate) const WRONGTYPE: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

fn parse(words: &[&str]) -> Result<Command, CommandError> {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    Command::parse(&args)
}

#[test]
fn unknown_command_text_matches_redis7() {
    assert_eq!(
        parse(&["FOO", "a", "b"]).unwrap_err().to_string(),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        parse(&["foo"]).unwrap_err().to_string(),
        "ERR unknown command 'foo', with args beginning with: "
    );
    let long = "x".repeat(200);
    let text = parse(&["foo", &long, "next"]).unwrap_err().to_string();
    assert_eq!(
        text,
        format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        )
    );
}

#[test]
fn arity_errors_use_lowercase_redis_name() {
    let cases: &[(&[&str], &str)] = &[
        (&["GET"], "get"),
        (&["get", "a", "b"], "get"),
        (&["SET", "k"], "set"),
        (&["mset", "a", "1", "b"], "mset"),
        (&["HSET", "h", "f"], "hset"),
        (&["hset", "h", "f", "v", "g"], "hset"),
        (&["ZADD", "z", "1"], "zadd"),
        (&["ZRANGEBYSCORE", "z", "1"], "zrangebyscore"),
        (&["dbsize", "x"], "dbsize"),
        (&["RENAME", "a"], "rename"),
    ];
    for (words, name) in cases {
        assert_eq!(
            parse(words).unwrap_err().to_string(),
            format!("ERR wrong number of arguments for '{name}' command"),
            "{words:?}"
        );
    }
}

#[test]
fn command_metadata() {
    let cmd = parse(&["zRangeByScore", "z", "-inf", "+inf"]).unwrap();
    assert_eq!(cmd.name(), "zrangebyscore");
    assert!(!cmd.is_write());
    let cmd = parse(&["RENAME", "a", "b"]).unwrap();
    assert!(cmd.is_write());
    assert_eq!(cmd.name(), "rename");
}

/// Key extraction reads the spec: the positions COMMAND GETKEYS and ACL checks use.
#[test]
fn key_positions_come_from_the_spec() {
    let keys = |words: &[&str]| {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let spec = DATA_REGISTRY.lookup(&args[0]).expect("known");
        spec.keys
            .positions(&args)
            .into_iter()
            .map(|i| words[i].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&["zrangebyscore", "z", "-inf", "+inf"]), ["z"]);
    assert_eq!(keys(&["RENAME", "a", "b"]), ["a", "b"]);
    assert_eq!(keys(&["MSET", "a", "1", "b", "2"]), ["a", "b"]);
    assert_eq!(keys(&["DEL", "a", "b", "c"]), ["a", "b", "c"]);
    assert!(keys(&["DBSIZE"]).is_empty());
}

/// The registry and the enum agree: each spec parses into its own variant, and the kind the
/// command list declares (read or write) is what the spec's flags say.
#[test]
fn every_spec_is_consistent_with_its_variant() {
    assert_eq!(DATA_SPECS.len(), DECLARED_KINDS.len());
    for (spec, (name, declared_write)) in DATA_SPECS.iter().zip(DECLARED_KINDS) {
        assert_eq!(spec.name, *name);
        assert_eq!(
            spec.is_write(),
            *declared_write,
            "{name}: write flag vs kind"
        );
        assert!(
            spec.flags.contains(Flags::WRITE) != spec.flags.contains(Flags::READONLY),
            "{name}: exactly one of write/readonly"
        );
        assert!(!spec.summary.is_empty(), "{name}: COMMAND DOCS summary");
        assert_eq!(DATA_REGISTRY.lookup(name.as_bytes()).unwrap().name, *name);
        assert!(
            DATA_REGISTRY
                .lookup(name.to_uppercase().as_bytes())
                .is_some(),
            "{name}: any case"
        );
    }
}

/// A variant's position is its tag in the log: these bytes were written by earlier versions
/// and must keep decoding to the same commands.
#[test]
fn log_encoding_of_existing_commands_is_stable() {
    let cases: &[(&[&str], &[u8])] = &[
        (&["GET", "k"], &[0, 1, b'k']),
        (&["SET", "k", "v"], &[1, 1, b'k', 1, b'v', 0, 0, 0]),
        (&["DEL", "a", "b"], &[14, 2, 1, b'a', 1, b'b']),
        (&["DBSIZE"], &[27]),
        (&["FLUSHALL"], &[29]),
        (
            &["HSET", "h", "f", "v"],
            &[30, 1, b'h', 1, 1, b'f', 1, b'v'],
        ),
        (&["ZPOPMAX", "z"], &[51, 1, b'z', 0]),
    ];
    for (words, bytes) in cases {
        let cmd = parse(words).unwrap();
        assert_eq!(postcard::to_allocvec(&cmd).unwrap(), *bytes, "{words:?}");
        assert_eq!(postcard::from_bytes::<Command>(bytes).unwrap(), cmd);
    }
}

#[test]
fn commands_serialize_round_trip() {
    let cmd = parse(&["ZADD", "z", "GT", "CH", "1.5", "a", "-inf", "b"]).unwrap();
    let encoded = postcard::to_allocvec(&cmd).unwrap();
    let decoded: Command = postcard::from_bytes(&encoded).unwrap();
    assert_eq!(decoded, cmd);
}

#[test]
fn strict_integer_parsing_matches_string2ll() {
    assert_eq!(parse_i64_strict(b"0"), Some(0));
    assert_eq!(parse_i64_strict(b"-12"), Some(-12));
    assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"01",
        b"+1",
        b" 1",
        b"1 ",
        b"1.0",
        b"9223372036854775808",
        b"abc",
    ] {
        assert_eq!(
            parse_i64_strict(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn strict_float_parsing_matches_redis() {
    assert_eq!(parse_f64_strict(b"1.5"), Some(1.5));
    assert_eq!(parse_f64_strict(b"+inf"), Some(f64::INFINITY));
    assert_eq!(parse_f64_strict(b"-INF"), Some(f64::NEG_INFINITY));
    assert_eq!(parse_f64_strict(b".5"), Some(0.5));
    assert_eq!(parse_f64_strict(b"1e3"), Some(1000.0));
    assert_eq!(parse_f64_strict(b"0e-400"), Some(0.0));
    for bad in [
        &b""[..],
        b" 1",
        b"nan",
        b"1e400",
        b"1e-400",
        b"abc",
        b"1.5x",
        b"inf1",
    ] {
        assert_eq!(
            parse_f64_strict(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn transaction_aborts_when_a_watched_key_changed() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "1"]);
    let seen = ks.version(b"k", 0);
    assert_ne!(seen, KeyVersion(0));
    let txn = Transaction {
        watches: vec![(Bytes::from("k"), seen)],
        commands: vec![parse(&["INCR", "k"]).unwrap()],
    };
    // Unchanged: runs.
    let mut copy = ks.clone();
    assert_eq!(
        txn.apply(&mut copy, &mut Cx::new(0, 0)),
        Reply::Array(vec![Reply::Integer(2)])
    );
    // Changed in between (even to the same value): aborted, nothing applied.
    exec(&mut ks, 0, &["SET", "k", "1"]);
    assert_eq!(txn.apply(&mut ks, &mut Cx::new(0, 0)), Reply::NilArray);
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), bulk("1"));
    // A watched key that expired also aborts (Redis 7 behaviour).
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "1", "PX", "10"]);
    let txn = Transaction {
        watches: vec![(Bytes::from("k"), ks.version(b"k", 0))],
        commands: vec![parse(&["GET", "k"]).unwrap()],
    };
    assert_eq!(txn.apply(&mut ks, &mut Cx::new(20, 0)), Reply::NilArray);
}

#[test]
fn transaction_runtime_error_does_not_roll_back() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    let txn = Transaction {
        watches: vec![(Bytes::from("absent"), KeyVersion(0))],
        commands: vec![
            parse(&["SET", "a", "1"]).unwrap(),
            parse(&["INCR", "h"]).unwrap(),
            parse(&["INCR", "a"]).unwrap(),
            parse(&["GET", "a"]).unwrap(),
        ],
    };
    assert!(txn.is_write());
    assert_eq!(
        txn.apply(&mut ks, &mut Cx::new(0, 0)),
        Reply::Array(vec![
            Reply::Ok,
            err(WRONGTYPE),
            Reply::Integer(2),
            bulk("2")
        ])
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "a"]), bulk("2"));
}

#[test]
fn versions_change_on_every_modification_only() {
    let mut ks = Keyspace::new();
    assert_eq!(ks.version(b"k", 0), KeyVersion(0));
    exec(&mut ks, 0, &["SET", "k", "v"]);
    let v1 = ks.version(b"k", 0);
    exec(&mut ks, 0, &["GET", "k"]);
    assert_eq!(
        ks.version(b"k", 0),
        v1,
        "a read must not change the version"
    );
    exec(&mut ks, 0, &["SETNX", "k", "other"]);
    assert_eq!(
        ks.version(b"k", 0),
        v1,
        "a refused SETNX is not a modification"
    );
    exec(&mut ks, 0, &["EXPIRE", "k", "100"]);
    let v2 = ks.version(b"k", 0);
    assert!(v2.0 > v1.0, "changing the TTL is a modification");
    exec(&mut ks, 0, &["DEL", "k"]);
    assert_eq!(ks.version(b"k", 0), KeyVersion(0));
    exec(&mut ks, 0, &["SET", "k", "v"]);
    assert!(
        ks.version(b"k", 0).0 > v2.0,
        "a recreated key never reuses a version"
    );
}

#[test]
/// Which reads `Db::read` serves from a snapshot (their effect on critical latency is measured
/// by `cargo bench --bench lanes`, not here).
fn reads_whose_cost_grows_with_the_data_are_marked_for_a_snapshot() {
    let many = |words: &[&str]| parse(words).expect("parse").may_read_many();
    for words in [
        &["HGETALL", "h"][..],
        &["HKEYS", "h"],
        &["HVALS", "h"],
        &["SCAN", "0"],
        &["KEYS", "*"],
        &["ZRANGE", "z", "0", "-1"],
        &["ZRANGEBYSCORE", "z", "-inf", "+inf"],
    ] {
        assert!(many(words), "{words:?}");
    }
    for words in [
        &["GET", "k"][..],
        &["HGET", "h", "f"],
        &["ZSCORE", "z", "m"],
    ] {
        assert!(!many(words), "{words:?}");
    }
    let keys: Vec<String> = (0..=MANY_KEYS).map(|i| format!("k{i}")).collect();
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    assert!(many(&mget));
    assert!(!many(&mget[..MANY_KEYS]));
}
