//! Lua scripting against real `tandem serve` processes: EVAL and EVALSHA over a real socket;
//! on three nodes, a script loaded before a `kill -9` of the leader runs by its SHA-1 on the
//! new leader; and replicas stay digest-equal after scripts that use `math.random` and `TIME`
//! and that sometimes fail halfway.

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
            "-ERR Write commands are not allowed from read-only scripts. script: {}\r\n",
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
