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

// ---- functions ----

/// Runs a command; each char of the words is one byte (Latin-1), so binary payloads pass.
fn run(ks: &mut Keyspace, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| {
            if w.chars().all(|c| (c as u32) < 256) && !w.is_ascii() {
                Bytes::from(w.chars().map(|c| c as u8).collect::<Vec<u8>>())
            } else {
                Bytes::copy_from_slice(w.as_bytes())
            }
        })
        .collect();
    match Command::parse(&args) {
        Ok(cmd) => cmd.apply(ks, &mut Cx::new(1_000, 0)),
        Err(error) => error.to_reply(),
    }
}

const LIB: &str = "#!lua name=bank\n\
    local function balance(key) return tonumber(redis.call('get', key) or '0') end\n\
    redis.register_function('debit', function(keys, args)\n\
      local amount = tonumber(args[1])\n\
      if balance(keys[1]) < amount then return redis.error_reply('ERR insufficient funds') end\n\
      return redis.call('decrby', keys[1], amount)\n\
    end)\n\
    redis.register_function{function_name='peek', callback=function(keys) return balance(keys[1]) end,\n\
      flags={'no-writes'}, description='reads a balance'}";

#[test]
fn function_load_and_fcall() {
    let mut ks = Keyspace::new();
    assert_eq!(run(&mut ks, &["FUNCTION", "LOAD", LIB]), bulk("bank"));
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LOAD", LIB]),
        err("ERR Library 'bank' already exists")
    );
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LOAD", "REPLACE", LIB]),
        bulk("bank")
    );
    run(&mut ks, &["SET", "acct", "10"]);
    assert_eq!(
        run(&mut ks, &["FCALL", "debit", "1", "acct", "4"]),
        Reply::Integer(6)
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "DEBIT", "1", "acct", "40"]),
        err("ERR insufficient funds")
    );
    assert_eq!(
        run(&mut ks, &["FCALL_RO", "peek", "1", "acct"]),
        Reply::Integer(6)
    );
    assert_eq!(
        run(&mut ks, &["FCALL_RO", "debit", "1", "acct", "1"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "nosuch", "0"]),
        err("ERR Function not found")
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "debit", "x"]),
        err("ERR Bad number of keys provided")
    );
    assert_eq!(
        run(&mut ks, &["FUNCTION", "STATS"]).to_resp2(),
        Reply::Array(vec![
            bulk("running_script"),
            Reply::Nil,
            bulk("engines"),
            Reply::Array(vec![
                bulk("LUA"),
                Reply::Array(vec![
                    bulk("libraries_count"),
                    Reply::Integer(1),
                    bulk("functions_count"),
                    Reply::Integer(2)
                ])
            ])
        ])
    );
    assert_eq!(run(&mut ks, &["FUNCTION", "DELETE", "BANK"]), Reply::Ok);
    assert_eq!(
        run(&mut ks, &["FUNCTION", "DELETE", "bank"]),
        err("ERR Library not found")
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "debit", "1", "acct", "1"]),
        err("ERR Function not found")
    );
}

#[test]
fn function_load_errors_match_redis() {
    let mut ks = Keyspace::new();
    let cases = [
        ("return 1", "ERR Missing library metadata"),
        ("#!lua\nreturn 1", "ERR Library name was not given"),
        ("#!py name=a\nreturn 1", "ERR Engine 'py' not found"),
        ("#!lua name=a foo=bar\n", "ERR Invalid metadata value given: foo=bar"),
        (
            "#!lua name=a name=b\n",
            "ERR Invalid metadata value, name argument was given multiple times",
        ),
        (
            "#!lua name=a-b\n",
            "ERR Library names can only contain letters, numbers, or underscores(_) and must be \
             at least one character long",
        ),
        ("#!lua name=a\nreturn 1", "ERR No functions registered"),
        (
            "#!lua name=a\nbad script",
            "ERR Error compiling function: user_function:2: '=' expected near 'script'",
        ),
        (
            "#!lua name=a\nlocal x = math",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access \
             nonexistent global variable 'math'",
        ),
        (
            "#!lua name=a\nredis.register_function('f', 'x')",
            "ERR Error registering functions: ERR second argument to redis.register_function \
             must be a function",
        ),
        (
            "#!lua name=a\nredis.register_function{function_name='f', callback=function() end, \
             flags={'bad'}}",
            "ERR Error registering functions: ERR unknown flag given",
        ),
        (
            "#!lua name=a\nwhile 1 do end",
            "ERR Error registering functions: ERR FUNCTION LOAD timeout",
        ),
        ("#!lua name=a\nx = 1", "ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"),
    ];
    for (code, expected) in cases {
        assert_eq!(
            run(&mut ks, &["FUNCTION", "LOAD", code]),
            err(expected),
            "{code}"
        );
    }
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LOAD", "x", "y"]),
        err("ERR Unknown option given: x")
    );
    assert!(ks.functions().is_empty());
    run(
        &mut ks,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=one\nredis.register_function('f', function() return 1 end)",
        ],
    );
    assert_eq!(
        run(
            &mut ks,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=two\nredis.register_function('F', function() return 2 end)"
            ]
        ),
        err("ERR Function F already exists")
    );
}

#[test]
fn function_errors_carry_the_function_and_line() {
    let mut ks = Keyspace::new();
    let code = "#!lua name=e\n\
        redis.register_function('unknown', function() return redis.call('nosuch') end)\n\
        redis.register_function('boom', function() error('boom') end)\n\
        redis.register_function{function_name='ro', callback=function() return redis.call('set', 'x', 1) end, flags={'no-writes'}}\n\
        redis.register_function('nested', function() redis.register_function('g', function() end) end)";
    assert_eq!(run(&mut ks, &["FUNCTION", "LOAD", code]), bulk("e"));
    assert_eq!(
        run(&mut ks, &["FCALL", "unknown", "0"]),
        err("ERR Unknown Redis command called from script script: unknown, on @user_function:2.")
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "boom", "0"]),
        err("ERR user_function:3: boom script: boom, on @user_function:3.")
    );
    assert_eq!(
        run(&mut ks, &["FCALL", "ro", "0"]),
        err("ERR Write commands are not allowed from read-only scripts. script: ro, on @user_function:4.")
    );
    let Reply::Error(text) = run(&mut ks, &["FCALL", "nested", "0"]) else {
        panic!("nested registration must fail")
    };
    assert!(
        text.contains("attempt to call field 'register_function' (a nil value)"),
        "{text}"
    );
    assert_eq!(
        eval(&mut ks, "\nreturn redis.call('nosuch')", &[], &[]),
        err(&format!(
            "ERR Unknown Redis command called from script script: {}, on @user_script:2.",
            crate::keyspace::sha1_hex(b"\nreturn redis.call('nosuch')")
        ))
    );
}

#[test]
fn function_list_dump_and_restore() {
    let mut ks = Keyspace::new();
    run(&mut ks, &["FUNCTION", "LOAD", LIB]);
    let list = run(
        &mut ks,
        &["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "ba*"],
    );
    let Reply::Array(libraries) = &list else {
        panic!("{list:?}")
    };
    assert_eq!(libraries.len(), 1);
    let Reply::Map(fields) = &libraries[0] else {
        panic!()
    };
    assert_eq!(fields[0], (bulk("library_name"), bulk("bank")));
    assert_eq!(fields[3], (bulk("library_code"), bulk(LIB)));
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LIST", "LIBRARYNAME", "x*"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LIST", "withcode", "withcode"]),
        err("ERR Unknown argument withcode")
    );
    assert_eq!(
        run(&mut ks, &["FUNCTION", "LIST", "libraryname"]),
        err("ERR library name argument was not given")
    );

    let Reply::Bulk(payload) = run(&mut ks, &["FUNCTION", "DUMP"]) else {
        panic!()
    };
    // The payload is binary: pass it as Latin-1 text, one char per byte, and back.
    let payload: String = payload.iter().map(|&b| b as char).collect();
    assert_eq!(
        run(&mut ks, &["FUNCTION", "RESTORE", &payload]),
        err("ERR Library bank already exists")
    );
    assert_eq!(
        run(&mut ks, &["FUNCTION", "RESTORE", &payload, "REPLACE"]),
        Reply::Ok
    );
    assert_eq!(run(&mut ks, &["FUNCTION", "FLUSH"]), Reply::Ok);
    assert!(ks.functions().is_empty());
    assert_eq!(run(&mut ks, &["FUNCTION", "RESTORE", &payload]), Reply::Ok);
    assert_eq!(ks.functions().function_count(), 2);
    let mut corrupt: Vec<char> = payload.chars().collect();
    let middle = corrupt.len() / 2;
    corrupt[middle] = if corrupt[middle] == 'x' { 'y' } else { 'x' };
    let corrupt: String = corrupt.into_iter().collect();
    for bad in ["bad_payload", corrupt.as_str()] {
        assert_eq!(
            run(&mut ks, &["FUNCTION", "RESTORE", bad, "FLUSH"]),
            err("ERR DUMP payload version or checksum are wrong")
        );
    }
    assert_eq!(ks.functions().len(), 1, "a bad payload drops nothing");
    assert_eq!(
        run(&mut ks, &["FUNCTION", "RESTORE", &payload, "SOMETIMES"]),
        err("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    );
    run(&mut ks, &["SET", "k", "1"]);
    run(&mut ks, &["FLUSHALL"]);
    assert_eq!(ks.functions().len(), 1, "FLUSHALL keeps functions");
}

#[test]
fn library_globals_are_protected() {
    let mut ks = Keyspace::new();
    let code = "#!lua name=lib1\n\
        local lib = redis\n\
        lib.register_function('f1', function() lib.redis = redis return {ok='OK'} end)\n\
        lib.register_function('f2', function() lib.register_function('f1', function() end) end)\n\
        redis.register_function('f3', function() mt = getmetatable(_G) end)";
    assert_eq!(run(&mut ks, &["FUNCTION", "LOAD", code]), bulk("lib1"));
    for (name, expected) in [
        ("f1", "Attempt to modify a readonly table"),
        ("f2", "can only be called on FUNCTION LOAD command"),
        ("f3", "Attempt to modify a readonly table"),
    ] {
        let Reply::Error(text) = run(&mut ks, &["FCALL", name, "0"]) else {
            panic!()
        };
        assert!(text.contains(expected), "{name}: {text}");
    }
}

#[test]
fn eval_shebang_flags() {
    let mut ks = Keyspace::new();
    assert_eq!(
        eval(&mut ks, "#!not-lua\nreturn 1", &[], &[]),
        err("ERR Unexpected engine in script shebang: #!not-lua")
    );
    assert_eq!(
        eval(&mut ks, "#!lua badger=data\nreturn 1", &[], &[]),
        err("ERR Unknown lua shebang option: badger=data")
    );
    assert_eq!(
        eval(&mut ks, "#!lua flags=allow-oom,what?\nreturn 1", &[], &[]),
        err("ERR Unexpected flag in script shebang: what?")
    );
    assert_eq!(
        eval(&mut ks, "#!lua\nreturn 1", &[], &[]),
        Reply::Integer(1)
    );
    let body = "#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)";
    assert_eq!(
        eval(&mut ks, body, &[], &[]),
        err(&format!(
            "ERR Write commands are not allowed from read-only scripts. script: {}, on \
             @user_script:2.",
            crate::keyspace::sha1_hex(body.as_bytes())
        ))
    );
    assert_eq!(
        exec(&mut ks, 1_000, &["EVAL_RO", "#!lua\nreturn 1", "0"]),
        err("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        exec(
            &mut ks,
            1_000,
            &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"]
        ),
        Reply::Integer(1)
    );
    assert_eq!(
        exec(&mut ks, 1_000, &["EVAL_RO", "return 2", "0"]),
        Reply::Integer(2)
    );
}

#[test]
fn cmsgpack_packs_as_redis_does() {
    let mut ks = Keyspace::new();
    let hex = "local e = cmsgpack.pack(ARGV[1] == 'd' and 0.1 or -1099511627776) \
               local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end \
               return h";
    assert_eq!(eval(&mut ks, hex, &[], &["d"]), bulk("cb3fb999999999999a"));
    assert_eq!(eval(&mut ks, hex, &[], &["i"]), bulk("d3ffffff0000000000"));
    let round_trip = "local s = string.rep('x', 300) \
        local t = {a = {1, 2, 3}, b = true, s = s, n = -120, f = 1.5} \
        local d = cmsgpack.unpack(cmsgpack.pack(t)) \
        assert(d.a[3] == 3 and d.b == true and d.s == s and d.n == -120 and d.f == 1.5) \
        local offset, one = cmsgpack.unpack_limit(cmsgpack.pack('x', 'y'), 1, 0) \
        assert(one == 'x' and offset == 2) \
        offset, one = cmsgpack.unpack_one(cmsgpack.pack('x', 'y'), offset) \
        assert(one == 'y' and offset == -1) \
        return 1";
    assert_eq!(eval(&mut ks, round_trip, &[], &[]), Reply::Integer(1));
}

#[test]
fn library_tables_are_read_only_and_commands_use_the_budget() {
    let mut ks = Keyspace::new();
    for script in [
        "redis.call = function() return 1 end",
        "cjson.encode = function() return 1 end",
        "bit.lshift = function() return 1 end",
        "setmetatable(_G, {})",
        "local g = getmetatable(_G) g.__index = {}",
    ] {
        let Reply::Error(text) = eval(&mut ks, script, &[], &[]) else {
            panic!("{script}")
        };
        assert!(
            text.contains("Attempt to modify a readonly table"),
            "{script}: {text}"
        );
    }
    let Reply::Error(text) = eval(&mut ks, "while true do redis.call('ping') end", &[], &[]) else {
        panic!("a command loop must be stopped")
    };
    assert!(text.starts_with("ERR Script killed"), "{text}");
}

/// Runs `words` as applied from an op the leader accepted under `limits`.
fn exec_under(ks: &mut Keyspace, limits: crate::command::Limits, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    let mut cx = Cx::new(1_000, 0);
    cx.set_limits(limits);
    match Command::parse(&args) {
        Ok(cmd) => cmd.apply(ks, &mut cx),
        Err(error) => error.to_reply(),
    }
}

/// Runs `words` as applied from an op the leader accepted while over `maxmemory`.
fn exec_over_memory(ks: &mut Keyspace, words: &[&str]) -> Reply {
    let limits = crate::command::Limits {
        over_memory: true,
        too_few_replicas: false,
    };
    exec_under(ks, limits, words)
}

/// Over `maxmemory`, a script without a shebang runs (Redis 6 compatibility) but its first
/// memory-growing call fails with Redis's OOM error; reads, `allow-oom` scripts and scripts
/// that already wrote go on.
#[test]
fn over_maxmemory_a_script_refuses_its_first_memory_growing_call() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 1_000, &["SET", "x", "123"]);
    let set = "redis.call('set', 'x', 1)\nreturn 1";
    let refused = exec_over_memory(&mut ks, &["EVAL", set, "1", "x"]);
    assert_eq!(
        refused,
        err(&format!(
            "OOM command not allowed when used memory > 'maxmemory'. script: {}, on \
             @user_script:1.",
            crate::keyspace::sha1_hex(set.as_bytes())
        ))
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "x"]), bulk("123"));
    assert_eq!(
        exec_over_memory(&mut ks, &["EVAL", "return redis.call('get','x')", "1", "x"]),
        bulk("123")
    );
    let pcall = "local t = redis.pcall('set','x','y') return t['err']";
    assert_eq!(
        exec_over_memory(&mut ks, &["EVAL", pcall, "1", "x"]),
        bulk("OOM command not allowed when used memory > 'maxmemory'.")
    );
    assert_eq!(
        exec_over_memory(
            &mut ks,
            &["EVAL", "return redis.pcall('set','x','y')", "1", "x"]
        ),
        err("OOM command not allowed when used memory > 'maxmemory'.")
    );
    // A write that cannot grow memory first: the script may then go on (Redis does not stop
    // a script halfway once it has written).
    let after_write = "redis.call('del', 'gone')\nredis.call('set', 'x', 2)\nreturn 1";
    assert_eq!(
        exec_over_memory(&mut ks, &["EVAL", after_write, "1", "x"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "x"]), bulk("2"));
    let allowed = "#!lua flags=allow-oom\nredis.call('set', 'x', 3)\nreturn 1";
    assert_eq!(
        exec_over_memory(&mut ks, &["EVAL", allowed, "1", "x"]),
        Reply::Integer(1)
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "x"]), bulk("3"));
    // The same script in an op not marked over memory writes.
    assert_eq!(eval(&mut ks, set, &["x"], &[]), Reply::Integer(1));
    assert_eq!(exec(&mut ks, 1_000, &["GET", "x"]), bulk("1"));
}

/// A function declaring `allow-oom` writes over `maxmemory`.
#[test]
fn over_maxmemory_an_allow_oom_function_writes() {
    let mut ks = Keyspace::new();
    let library = "#!lua name=oom\nredis.register_function{function_name='put', \
                   callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, \
                   flags={'allow-oom'}}";
    assert_eq!(run(&mut ks, &["FUNCTION", "LOAD", library]), bulk("oom"));
    assert_eq!(
        exec_over_memory(&mut ks, &["FCALL", "put", "1", "k", "v"]),
        Reply::Simple("OK".into())
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "k"]), bulk("v"));
}

/// Short of replicas, a script without a shebang reads, and its first write call fails with
/// Redis's NOREPLICAS error (later writes go on once it has written).
#[test]
fn short_of_replicas_a_script_refuses_its_first_write() {
    let mut ks = Keyspace::new();
    let limits = crate::command::Limits {
        over_memory: false,
        too_few_replicas: true,
    };
    exec(&mut ks, 1_000, &["SET", "x", "some value"]);
    assert_eq!(
        exec_under(
            &mut ks,
            limits,
            &["EVAL", "return redis.call('get','x')", "1", "x"]
        ),
        bulk("some value")
    );
    let set = "return redis.call('set','x', 1)";
    assert_eq!(
        exec_under(&mut ks, limits, &["EVAL", set, "1", "x"]),
        err(&format!(
            "NOREPLICAS Not enough good replicas to write. script: {}, on @user_script:1.",
            crate::keyspace::sha1_hex(set.as_bytes())
        ))
    );
    assert_eq!(exec(&mut ks, 1_000, &["GET", "x"]), bulk("some value"));
}

/// RESP3 replies a script sees and returns: big numbers, verbatim strings and booleans
/// (DEBUG PROTOCOL gives one of each type to scripts), lowered for a RESP2 script.
#[test]
fn resp3_big_numbers_verbatim_strings_and_booleans_convert_as_in_redis() {
    let mut ks = Keyspace::new();
    let through = |ks: &mut Keyspace, resp: u8, kind: &str| {
        let script =
            format!("redis.setresp({resp}) return redis.call('debug', 'protocol', '{kind}')");
        eval(ks, &script, &[], &[])
    };
    let digits = "1234567999999999999999999999999999999";
    assert_eq!(
        through(&mut ks, 3, "bignum"),
        Reply::BigNumber(digits.into())
    );
    assert_eq!(through(&mut ks, 2, "bignum"), bulk(digits));
    let verbatim = Reply::Verbatim {
        format: "txt".into(),
        text: Bytes::from_static(b"This is a verbatim\nstring"),
    };
    assert_eq!(through(&mut ks, 3, "verbatim"), verbatim);
    assert_eq!(
        through(&mut ks, 2, "verbatim"),
        bulk("This is a verbatim\nstring")
    );
    assert_eq!(through(&mut ks, 3, "true"), Reply::Boolean(true));
    assert_eq!(through(&mut ks, 3, "false"), Reply::Boolean(false));
    assert_eq!(through(&mut ks, 2, "true"), Reply::Integer(1));
    assert_eq!(through(&mut ks, 2, "false"), Reply::Integer(0));
    // Line breaks in a returned big number become spaces, as Redis writes them.
    assert_eq!(
        eval(&mut ks, "return {big_number='123\\r\\n123'}", &[], &[]),
        Reply::BigNumber("123  123".into())
    );
    // A RESP2 script's false is nil, as ever.
    assert_eq!(eval(&mut ks, "return false", &[], &[]), Reply::Nil);
}
