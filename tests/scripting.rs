//! Lua scripting against real `tandem serve` processes: EVAL and EVALSHA over a real socket;
//! on three nodes, a script loaded before a `kill -9` of the leader runs by its SHA-1 on the
//! new leader; and replicas stay digest-equal after scripts that use `math.random` and `TIME`
//! and that sometimes fail halfway; function libraries (FUNCTION LOAD, FCALL) reach every
//! replica, survive a `kill -9` of the leader and rebuild a wiped node from a snapshot.

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
    // A runaway script is stopped and the server serves again.
    let reply = raw.cmd(&["EVAL", "while true do end", "0"]);
    assert!(reply.starts_with("-ERR Script killed"), "{reply}");
    assert_eq!(raw.cmd(&["GET", "k"]), "$1\r\nv\r\n");
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
