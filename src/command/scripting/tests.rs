use bytes::Bytes;

use crate::command::tests::{bulk, err, exec};
use crate::command::{Command, Cx, Reply};
use crate::keyspace::Keyspace;

fn eval(ks: &mut Keyspace, script: &str, keys: &[&str], args: &[&str]) -> Reply {
    let numkeys = keys.len().to_string();
    let mut words = vec!["EVAL", script, numkeys.as_str()];
    words.extend_from_slice(keys);
    words.extend_from_slice(args);
    exec(ks, 1_000, &words)
}

#[test]
fn lua_values_convert_to_replies() {
    let mut ks = Keyspace::new();
    assert_eq!(eval(&mut ks, "return 'hello'", &[], &[]), bulk("hello"));
    assert_eq!(eval(&mut ks, "return 100.5", &[], &[]), Reply::Integer(100));
    assert_eq!(eval(&mut ks, "return true", &[], &[]), Reply::Integer(1));
    assert_eq!(eval(&mut ks, "return false", &[], &[]), Reply::Nil);
    assert_eq!(
        eval(&mut ks, "return {ok='fine'}", &[], &[]),
        Reply::Simple("fine".into())
    );
    assert_eq!(
        eval(&mut ks, "return {err='ERR this is an error'}", &[], &[]),
        err("ERR this is an error")
    );
    assert_eq!(
        eval(&mut ks, "return {1,2,'ciao',{1,2}}", &[], &[]),
        Reply::Array(vec![
            Reply::Integer(1),
            Reply::Integer(2),
            bulk("ciao"),
            Reply::Array(vec![Reply::Integer(1), Reply::Integer(2)])
        ])
    );
    assert_eq!(
        eval(&mut ks, "return {KEYS[1],ARGV[1]}", &["a"], &["b"]),
        Reply::Array(vec![bulk("a"), bulk("b")])
    );
}

#[test]
fn redis_call_runs_commands_and_converts_their_replies() {
    let mut ks = Keyspace::new();
    assert_eq!(
        eval(
            &mut ks,
            "return redis.call('set', KEYS[1], ARGV[1])",
            &["k"],
            &["v"]
        ),
        Reply::Simple("OK".into())
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "k"]), bulk("v"));
    assert_eq!(
        eval(
            &mut ks,
            "local v = redis.pcall('incr', KEYS[1]); return v['err']",
            &["k"],
            &[]
        ),
        bulk("ERR value is not an integer or out of range")
    );
    assert_eq!(
        eval(
            &mut ks,
            "return redis.call('get', 'missing') == false",
            &[],
            &[]
        ),
        Reply::Integer(1)
    );
    let reply = eval(&mut ks, "redis.call('nosuchcommand')", &[], &[]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR Unknown Redis command")),
        "{reply:?}"
    );
    let reply = eval(&mut ks, "redis.call('get','a','b')", &[], &[]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("Wrong number of args")),
        "{reply:?}"
    );
    let reply = eval(&mut ks, "return redis.pcall('blpop','x',0)", &[], &[]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("not allowed")),
        "{reply:?}"
    );
}

#[test]
fn writes_before_an_error_are_kept() {
    let mut ks = Keyspace::new();
    let reply = eval(
        &mut ks,
        "redis.call('set','a','1'); redis.call('lpush','a','x')",
        &[],
        &[],
    );
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("WRONGTYPE")),
        "{reply:?}"
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "a"]), bulk("1"));
}

#[test]
fn the_sandbox_has_no_files_and_protects_globals() {
    let mut ks = Keyspace::new();
    for script in [
        "return os.time()",
        "return io.open('x')",
        "return loadfile('x')",
        "return a",
    ] {
        let reply = eval(&mut ks, script, &[], &[]);
        assert!(matches!(reply, Reply::Error(_)), "{script}: {reply:?}");
    }
    let reply = eval(&mut ks, "a = 10", &[], &[]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("Attempt to modify a readonly table")),
        "{reply:?}"
    );
    let reply = eval(&mut ks, "return a", &[], &[]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("nonexistent global variable 'a'")),
        "{reply:?}"
    );
}

#[test]
fn evalsha_finds_what_eval_and_script_load_cached() {
    let mut ks = Keyspace::new();
    let reply = exec(
        &mut ks,
        0,
        &["EVALSHA", "ffd632c7d33e571e9f24556ebed26c3479a87130", "0"],
    );
    assert_eq!(reply, err("NOSCRIPT No matching script. Please use EVAL."));
    eval(&mut ks, "return 'x'", &[], &[]);
    let sha = crate::keyspace::sha1_hex(b"return 'x'");
    assert_eq!(
        exec(&mut ks, 0, &["EVALSHA", &sha.to_uppercase(), "0"]),
        bulk("x")
    );
    let loaded = exec(&mut ks, 0, &["SCRIPT", "LOAD", "return 2"]);
    let Reply::Bulk(loaded) = loaded else {
        panic!("{loaded:?}")
    };
    let loaded = String::from_utf8(loaded.to_vec()).unwrap();
    assert_eq!(
        exec(&mut ks, 0, &["SCRIPT", "EXISTS", &loaded, "nope"]),
        Reply::Array(vec![Reply::Integer(1), Reply::Integer(0)])
    );
    assert_eq!(exec(&mut ks, 0, &["SCRIPT", "FLUSH"]), Reply::Ok);
    assert_eq!(
        exec(&mut ks, 0, &["SCRIPT", "EXISTS", &loaded]),
        Reply::Array(vec![Reply::Integer(0)])
    );
    assert_eq!(
        exec(&mut ks, 0, &["SCRIPT", "KILL"]),
        err("NOTBUSY No scripts in execution right now.")
    );
    let reply = exec(&mut ks, 0, &["SCRIPT", "LOAD", "return +"]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR Error compiling script")),
        "{reply:?}"
    );
}

#[test]
fn read_only_scripts_refuse_writes() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "v"]);
    let args: Vec<Bytes> = ["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k"]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    let command = Command::parse(&args).unwrap();
    assert!(!command.is_write());
    assert_eq!(command.read(&ks, &mut Cx::new(0, 0)), bulk("v"));
    let args: Vec<Bytes> = ["EVAL_RO", "return redis.call('del', KEYS[1])", "1", "k"]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    let reply = Command::parse(&args).unwrap().read(&ks, &mut Cx::new(0, 0));
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR Write commands are not allowed from read-only scripts")),
        "{reply:?}"
    );
}

/// Same script, same keyspace, same seed: same effects and reply (math.random, TIME).
#[test]
fn same_seed_gives_the_same_effects() {
    let script = "local r = math.random(1000000); redis.call('set', 'r', r); \
                  return {r, math.random(), redis.call('time')[1]}";
    let run = |seed: u64| {
        let mut ks = Keyspace::new();
        let args: Vec<Bytes> = ["EVAL", script, "0"]
            .iter()
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        let reply = Command::parse(&args)
            .unwrap()
            .apply(&mut ks, &mut Cx::new(5_000, seed));
        (reply, ks.digest())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).1, run(8).1);
}

#[test]
fn a_runaway_script_is_stopped_by_the_instruction_budget() {
    let mut ks = Keyspace::new();
    let reply = eval(
        &mut ks,
        "redis.call('set','before','1'); while true do end",
        &[],
        &[],
    );
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR Script killed")),
        "{reply:?}"
    );
    let reply = eval(
        &mut ks,
        "while true do pcall(function() while true do end end) end",
        &[],
        &[],
    );
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR Script killed")),
        "{reply:?}"
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "before"]), bulk("1"));
}

#[test]
fn bit_and_cjson_are_available() {
    let mut ks = Keyspace::new();
    assert_eq!(
        eval(&mut ks, "return bit.band(0xff, 0x0f)", &[], &[]),
        Reply::Integer(15)
    );
    assert_eq!(
        eval(&mut ks, "return bit.tohex(65535)", &[], &[]),
        bulk("0000ffff")
    );
    assert_eq!(
        eval(&mut ks, "return cjson.encode({1,2,3})", &[], &[]),
        bulk("[1,2,3]")
    );
    assert_eq!(
        eval(
            &mut ks,
            "return cjson.decode('{\"a\":[1,2]}').a[2]",
            &[],
            &[]
        ),
        Reply::Integer(2)
    );
}
