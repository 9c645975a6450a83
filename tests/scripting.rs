//! Lua scripting against real `tandem serve` processes: EVAL and EVALSHA over a real socket;
//! on three nodes, a script loaded before a `kill -9` of the leader runs by its SHA-1 on the
//! new leader; and replicas stay digest-equal after scripts that use `math.random` and `TIME`
//! and that sometimes fail halfway; function libraries (FUNCTION LOAD, FCALL) reach every
//! replica, survive a `kill -9` of the leader and rebuild a wiped node from a snapshot; a
//! script that runs past `lua-time-limit` without writing makes the node answer BUSY until
//! SCRIPT KILL or FUNCTION KILL stops it, and one that writes runs from the log (busy too,
//! but UNKILLABLE: its instruction budget stops it on every replica).

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::server::Tandem;

/// How long a test waits for a condition before failing.
const WAIT_MAX: Duration = Duration::from_secs(20);

/// SHA-1 of "return redis.call('get', KEYS[1])".
const GET_SCRIPT: &str = "return redis.call('get', KEYS[1])";

#[test]
fn eval_and_evalsha_over_a_real_socket() {
    let server = Tandem::start("scripting-basic", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["EVAL", GET_SCRIPT, "1", "k"]), "$1\r\nv\r\n");
    let sha = raw.cmd(&["SCRIPT", "LOAD", GET_SCRIPT]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    assert_eq!(raw.cmd(&["EVALSHA", &sha, "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(
        raw.cmd(&["EVALSHA", "ffd632c7d33e571e9f24556ebed26c3479a87130", "0"]),
        "-NOSCRIPT No matching script. Please use EVAL.\r\n"
    );
    // The struct library, as Redis gives scripts.
    assert_eq!(
        raw.cmd(&[
            "EVAL",
            "return {struct.unpack('>I2 s', struct.pack('>I2 s', 513, 'ab'))}",
            "0"
        ]),
        "*3\r\n:513\r\n$2\r\nab\r\n:6\r\n"
    );
    assert_eq!(
        raw.cmd(&["EVAL", "return {1, 'a', {ok='fine'}, false}", "0"]),
        "*4\r\n:1\r\n$1\r\na\r\n+fine\r\n$-1\r\n"
    );
    assert_eq!(
        raw.cmd(&["EVAL_RO", "return redis.call('set', 'x', 1)", "0"]),
        format!(
            "-ERR Write commands are not allowed from read-only scripts. script: {}, on \
             @user_script:1.\r\n",
            tandem::keyspace::sha1_hex(b"return redis.call('set', 'x', 1)")
        )
    );
    assert_eq!(
        raw.cmd(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    // A runaway script that writes runs from the log: its instruction budget stops it (on
    // every replica), its write is kept, and the server serves again.
    let reply = raw.cmd(&["EVAL", "redis.call('set', 'w', 1) while true do end", "0"]);
    assert!(
        reply.starts_with("-ERR Script killed: it ran more"),
        "{reply}"
    );
    assert_eq!(raw.cmd(&["GET", "w"]), "$1\r\n1\r\n");
    assert_eq!(raw.cmd(&["GET", "k"]), "$1\r\nv\r\n");
}

/// `script-instructions-max-<class>` gives each priority class its own budget: the leader
/// writes a non-default one into the script's log entry, so a bulk client's runaway script is
/// stopped sooner while a normal client's same script completes.
#[test]
fn each_priority_class_has_its_own_instruction_budget() {
    let server = Tandem::start("scripting-budget", &[]);
    let mut normal = server.raw();
    let mut bulk = server.raw();
    assert_eq!(bulk.cmd(&["CLIENT", "PRIORITY", "bulk"]), "+OK\r\n");
    assert_eq!(
        normal.cmd(&["CONFIG", "GET", "script-instructions-max-bulk"]),
        "*2\r\n$28\r\nscript-instructions-max-bulk\r\n$9\r\n100000000\r\n"
    );
    assert!(normal
        .cmd(&["CONFIG", "SET", "script-instructions-max-bulk", "5"])
        .starts_with("-ERR"));
    assert_eq!(
        normal.cmd(&["CONFIG", "SET", "script-instructions-max-bulk", "200000"]),
        "+OK\r\n"
    );
    // About 4 million instructions: over the bulk budget, well under the default.
    let script = "redis.call('incr', 'n') local i = 0 while i < 1000000 do i = i + 1 end return i";
    let reply = bulk.cmd(&["EVAL", script, "0"]);
    assert!(
        reply.starts_with("-ERR Script killed: it ran more than 200000 Lua instructions"),
        "{reply}"
    );
    assert_eq!(normal.cmd(&["EVAL", script, "0"]), ":1000000\r\n");
    // Both writes before the loops are kept, as after any script error.
    assert_eq!(normal.cmd(&["GET", "n"]), "$1\r\n2\r\n");
    // Back to the default: the bulk client's script completes too.
    assert_eq!(
        normal.cmd(&["CONFIG", "SET", "script-instructions-max-bulk", "100000000"]),
        "+OK\r\n"
    );
    assert_eq!(bulk.cmd(&["EVAL", script, "0"]), ":1000000\r\n");
}

/// A script cached with SCRIPT LOAD is replicated state: after the leader is killed, EVALSHA
/// runs it on the new leader, and every replica ends digest-equal after scripts that draw
/// random numbers, read TIME and sometimes fail after a write.
#[test]
fn evalsha_works_on_a_new_leader_and_replicas_stay_equal() {
    let mut cluster = Cluster::start("scripting-failover", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(leader).raw();
    let script = "local r = math.random(1000000) \
                  redis.call('hset', KEYS[1], 'r', r, 't', redis.call('time')[1]) \
                  redis.call('incrby', KEYS[2], math.random(10)) \
                  if tonumber(ARGV[1]) % 3 == 0 then redis.call('lpush', KEYS[1], 'x') end \
                  return r";
    let sha = raw.cmd(&["SCRIPT", "LOAD", script]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    for i in 0..30 {
        let key = format!("h{}", i % 5);
        let reply = raw.cmd(&["EVALSHA", &sha, "2", &key, "total", &i.to_string()]);
        if i % 3 == 0 {
            assert!(reply.starts_with("-WRONGTYPE"), "{i}: {reply}");
        } else {
            assert!(reply.starts_with(':'), "{i}: {reply}");
        }
    }
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );

    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(new_leader).raw();
    let reply = raw.cmd(&["EVALSHA", &sha, "2", "after", "total", "1"]);
    assert!(reply.starts_with(':'), "{reply}");
    assert_eq!(raw.cmd(&["SCRIPT", "EXISTS", &sha]), "*1\r\n:1\r\n");
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );
}

const BANK_LIBRARY: &str = "#!lua name=bank\n\
    redis.register_function('debit', function(keys, args)\n\
      local balance = tonumber(redis.call('get', keys[1]) or '0')\n\
      local amount = tonumber(args[1])\n\
      if balance < amount then return redis.error_reply('ERR insufficient funds') end\n\
      redis.call('incrby', keys[2], amount)\n\
      return redis.call('decrby', keys[1], amount)\n\
    end)\n\
    redis.register_function{function_name='balance', flags={'no-writes'},\n\
      callback=function(keys) return tonumber(redis.call('get', keys[1]) or '0') end}";

/// Function libraries are replicated state: FCALL works on a new leader after a `kill -9`,
/// and a node whose disk was wiped gets them back from a snapshot; replicas stay digest-equal.
#[test]
fn functions_survive_failover_and_snapshot_rebuild() {
    let mut cluster = Cluster::start(
        "functions-failover",
        &["a", "b", "c"],
        &["--snapshot-logs-since-last=100"],
    );
    let leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(leader).raw();
    assert_eq!(
        raw.cmd(&["FUNCTION", "LOAD", BANK_LIBRARY]),
        "$4\r\nbank\r\n"
    );
    assert_eq!(raw.cmd(&["SET", "acct", "1000"]), "+OK\r\n");
    for _ in 0..150 {
        let reply = raw.cmd(&["FCALL", "debit", "2", "acct", "spent", "3"]);
        assert!(reply.starts_with(':'), "{reply}");
    }
    assert_eq!(raw.cmd(&["FCALL_RO", "balance", "1", "acct"]), ":550\r\n");
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );

    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(new_leader).raw();
    assert_eq!(
        raw.cmd(&["FCALL", "debit", "2", "acct", "spent", "50"]),
        ":500\r\n"
    );
    assert_eq!(
        raw.cmd(&["FCALL", "debit", "2", "acct", "spent", "501"]),
        "-ERR insufficient funds\r\n"
    );
    for _ in 0..300 {
        raw.cmd(&["SET", "filler", "x"]);
    }
    cluster.boot(leader);
    let victim = (new_leader + 1) % 3;
    cluster.kill(victim);
    cluster.wipe(victim);
    cluster.boot(victim);
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ after the rebuild: {reports:?}"
    );
    let snapshots =
        common::files_with_suffix(&cluster.members[victim].data.join("snapshots"), ".snap");
    assert!(
        !snapshots.is_empty(),
        "the wiped node was rebuilt from a snapshot"
    );
    let leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(leader).raw();
    assert_eq!(raw.cmd(&["FCALL", "balance", "1", "spent"]), ":500\r\n");
    let list = raw.cmd(&["FUNCTION", "LIST"]);
    assert!(list.contains("bank") && list.contains("debit"), "{list}");
}

/// Over `maxmemory`, a script without a shebang runs as in Redis: reads go on and its first
/// memory-growing call fails with Redis's OOM error. Only the leader is over `maxmemory`; the
/// decision travels in the log entry, so the followers (with no limit) refuse the same call
/// and every replica ends digest-equal.
#[test]
fn over_maxmemory_scripts_refuse_the_same_calls_on_every_replica() {
    let cluster = Cluster::start("scripting-oom", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(leader).raw();
    assert_eq!(raw.cmd(&["SET", "x", "123"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
    // The refused writes name `y`, never written later: a replica that applied one would
    // differ from the others in the digest.
    let write = "redis.call('set', KEYS[1], 1)\nreturn 1";
    assert_eq!(
        raw.cmd(&["EVAL", write, "1", "y"]),
        format!(
            "-OOM command not allowed when used memory > 'maxmemory'. script: {}, on \
             @user_script:1.\r\n",
            tandem::keyspace::sha1_hex(write.as_bytes())
        )
    );
    assert_eq!(
        raw.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "x"]),
        "$3\r\n123\r\n"
    );
    assert_eq!(
        raw.cmd(&["EVAL", "return redis.pcall('set', KEYS[1], 2)", "1", "y"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    let declared = raw.cmd(&["EVAL", "#!lua\nreturn 1", "0"]);
    assert!(declared.starts_with("-OOM "), "{declared}");
    let allowed = "#!lua flags=allow-oom\nredis.call('set', KEYS[1], 'allowed')\nreturn 1";
    assert_eq!(raw.cmd(&["EVAL", allowed, "1", "x"]), ":1\r\n");
    // A write that cannot grow memory comes first: Redis does not stop the script after it.
    let after_del = "redis.call('del', 'gone')\nredis.call('set', KEYS[1], 'after')\nreturn 1";
    assert_eq!(raw.cmd(&["EVAL", after_del, "1", "x"]), ":1\r\n");
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["EVAL", write, "1", "x"]), ":1\r\n");
    assert_eq!(raw.cmd(&["GET", "x"]), "$1\r\n1\r\n");
    assert_eq!(raw.cmd(&["EXISTS", "y"]), ":0\r\n");
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );
}

/// Polls `raw` with PING until the reply satisfies `done`; the last reply.
fn ping_until(raw: &mut common::server::Raw, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT_MAX;
    loop {
        let reply = raw.cmd(&["PING"]);
        if done(&reply) {
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "PING never satisfied the condition: {reply}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const BUSY_EVAL: &str = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or \
                         SHUTDOWN NOSAVE.\r\n";
const BUSY_FUNCTION: &str = "-BUSY Redis is busy running a script. You can only call FUNCTION \
                             KILL or SHUTDOWN NOSAVE.\r\n";

/// A script that never writes runs outside the log: past `lua-time-limit` other clients get
/// BUSY (the allowed commands still run), SCRIPT KILL stops it (even inside `pcall`), the
/// wrong KILL gets the other kind's BUSY error, nothing running gets NOTBUSY, and a script
/// that writes is left to the log (busy, UNKILLABLE, stopped by its budget).
#[test]
fn busy_scripts_are_killed_by_script_kill_and_function_kill() {
    let server = Tandem::start("scripting-busy", &[]);
    let mut raw = server.raw();
    let mut runner = server.raw();
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]),
        "+OK\r\n"
    );
    let threshold = raw.cmd(&["CONFIG", "GET", "busy-reply-threshold"]);
    assert!(threshold.ends_with("$2\r\n10\r\n"), "{threshold}");
    assert_eq!(
        raw.cmd(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );

    for script in [
        "while true do end",
        "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
    ] {
        runner.send(&common::server::encode(&["EVAL", script, "0"]));
        assert_eq!(ping_until(&mut raw, |r| r.starts_with("-BUSY")), BUSY_EVAL);
        assert_eq!(raw.cmd(&["GET", "k"]), BUSY_EVAL, "data commands too");
        assert_eq!(raw.cmd(&["FUNCTION", "KILL"]), BUSY_EVAL, "not a function");
        assert_eq!(raw.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
        let killed = runner.reply();
        assert!(killed.contains("killed by user"), "{killed}");
        assert_eq!(ping_until(&mut raw, |r| r == "+PONG\r\n"), "+PONG\r\n");
    }
    // The killed script was cached, as EVAL caches what it runs.
    assert_eq!(
        raw.cmd(&[
            "SCRIPT",
            "EXISTS",
            &tandem::keyspace::sha1_hex(b"while true do end")
        ]),
        "*1\r\n:1\r\n"
    );

    // A function: FUNCTION KILL, pipelined behind FUNCTION LOAD with a PING after it.
    let library = "#!lua name=spin\nredis.register_function('spin', function() while 1 do \
                   redis.call('ping') end end)";
    let mut pipeline = common::server::encode(&["FUNCTION", "LOAD", "REPLACE", library]);
    pipeline.extend(common::server::encode(&["FCALL", "spin", "0"]));
    pipeline.extend(common::server::encode(&["PING"]));
    runner.send(&pipeline);
    assert_eq!(
        ping_until(&mut raw, |r| r.starts_with("-BUSY")),
        BUSY_FUNCTION
    );
    assert_eq!(raw.cmd(&["SCRIPT", "KILL"]), BUSY_FUNCTION, "not an eval");
    assert_eq!(raw.cmd(&["FUNCTION", "KILL"]), "+OK\r\n");
    assert_eq!(runner.reply(), "$4\r\nspin\r\n");
    let killed = runner.reply();
    assert!(killed.contains("killed by user"), "{killed}");
    assert_eq!(runner.reply(), "+PONG\r\n");
    assert_eq!(ping_until(&mut raw, |r| r == "+PONG\r\n"), "+PONG\r\n");

    // A read-only loop of 100k calls finishes (no instruction budget outside the log).
    assert_eq!(
        raw.cmd(&[
            "EVAL",
            "for i=1,100000 do redis.call('ping') end return 'ok'",
            "0"
        ]),
        "$2\r\nok\r\n"
    );

    // A script that writes goes to the log: its budget stops it, its write is kept.
    let stopped = raw.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'y') while true do end",
        "1",
        "x",
    ]);
    assert!(
        stopped.starts_with("-ERR Script killed: it ran more"),
        "{stopped}"
    );
    assert_eq!(raw.cmd(&["GET", "x"]), "$1\r\ny\r\n");
}

/// A script applied from the log that runs past `lua-time-limit` makes the node busy too,
/// but SCRIPT KILL answers UNKILLABLE (stopping one replica's run would make it differ); its
/// instruction budget ends it. Two runtime threads, so one serves while the other applies
/// (with the default single thread, the node simply serves nobody during the apply).
#[test]
fn a_busy_script_applied_from_the_log_is_unkillable() {
    let server = Tandem::start("scripting-unkillable", &["--worker-threads", "2"]);
    let mut raw = server.raw();
    let mut runner = server.raw();
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]),
        "+OK\r\n"
    );
    runner.send(&common::server::encode(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'y') while true do end",
        "1",
        "x",
    ]));
    assert_eq!(ping_until(&mut raw, |r| r.starts_with("-BUSY")), BUSY_EVAL);
    let unkillable = raw.cmd(&["SCRIPT", "KILL"]);
    assert!(
        unkillable.starts_with("-UNKILLABLE Sorry the script already executed write"),
        "{unkillable}"
    );
    let stopped = runner.reply();
    assert!(
        stopped.starts_with("-ERR Script killed: it ran more"),
        "{stopped}"
    );
    assert_eq!(ping_until(&mut raw, |r| r == "+PONG\r\n"), "+PONG\r\n");
    assert_eq!(raw.cmd(&["GET", "x"]), "$1\r\ny\r\n");
}

/// On three nodes, scripts that only read are answered by the leader without a log entry
/// (the applied index does not move), a new EVAL body is still cached on every replica, a
/// busy read-only script killed on the leader leaves no trace, and replicas stay
/// digest-equal.
#[test]
fn read_only_scripts_make_no_log_entry_and_replicas_stay_equal() {
    let cluster = Cluster::start("scripting-speculative", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(WAIT_MAX);
    let mut raw = cluster.server(leader).raw();
    let mut runner = cluster.server(leader).raw();
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    let sha = raw.cmd(&["SCRIPT", "LOAD", GET_SCRIPT]);
    let sha = sha.lines().nth(1).unwrap().to_string();
    let before = cluster.wait_for_convergence(WAIT_MAX);
    for _ in 0..20 {
        assert_eq!(raw.cmd(&["EVALSHA", &sha, "1", "k"]), "$1\r\nv\r\n");
        assert_eq!(raw.cmd(&["EVAL", GET_SCRIPT, "1", "k"]), "$1\r\nv\r\n");
    }
    let after = cluster.wait_for_convergence(WAIT_MAX);
    assert_eq!(before, after, "read-only scripts made log entries");

    // A new body that only reads: cached through the log, on every replica.
    let fresh = "return redis.call('strlen', KEYS[1])";
    assert_eq!(raw.cmd(&["EVAL", fresh, "1", "k"]), ":1\r\n");
    for i in cluster.up() {
        let exists: Vec<i64> = redis::cmd("SCRIPT")
            .arg("EXISTS")
            .arg(tandem::keyspace::sha1_hex(fresh.as_bytes()))
            .query(&mut cluster.client(i))
            .expect("SCRIPT EXISTS");
        assert_eq!(exists, vec![1], "node {i}");
    }
    // A script that writes after reading still goes to the log, once.
    let transfer = "local v = redis.call('get', KEYS[1]) redis.call('incr', KEYS[2]) \
                    return v";
    assert_eq!(raw.cmd(&["EVAL", transfer, "2", "k", "n"]), "$1\r\nv\r\n");
    assert_eq!(raw.cmd(&["GET", "n"]), "$1\r\n1\r\n");

    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "lua-time-limit", "10"]),
        "+OK\r\n"
    );
    runner.send(&common::server::encode(&[
        "EVAL",
        "local n = 0 while true do n = n + #redis.call('get', KEYS[1]) end",
        "1",
        "k",
    ]));
    assert_eq!(ping_until(&mut raw, |r| r.starts_with("-BUSY")), BUSY_EVAL);
    assert_eq!(raw.cmd(&["SCRIPT", "KILL"]), "+OK\r\n");
    let killed = runner.reply();
    assert!(killed.contains("killed by user"), "{killed}");
    assert_eq!(ping_until(&mut raw, |r| r == "+PONG\r\n"), "+PONG\r\n");
    let reports = cluster.wait_for_convergence(WAIT_MAX);
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );
}
