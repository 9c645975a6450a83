//! ACL users end to end: Redis's NOPERM and WRONGPASS texts, a differential run against
//! redis-server for a set of users × commands, users replicated across a 3-node cluster
//! (enforced on followers, a deleted user stays deleted after the leader is killed), and
//! protected mode refusing an exposed node without passwords.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::{Ending, Raw, RedisServer, Tandem};

/// Users the differential test creates on both servers.
const USERS: &[&[&str]] = &[
    &["reader", "on", ">pw", "~*", "+@read"],
    &["writer", "on", ">pw", "~app:*", "+@write", "+@read", "-del"],
    &[
        "split",
        "on",
        ">pw",
        "%R~r:*",
        "%W~w:*",
        "+@all",
        "-@dangerous",
    ],
    &[
        "pubsub",
        "on",
        ">pw",
        "resetchannels",
        "&news.*",
        "+@pubsub",
    ],
    &[
        "subs",
        "on",
        ">pw",
        "+@all",
        "-client|kill",
        "-config",
        "+config|get",
        "~*",
    ],
    &["nothing", "on", ">pw"],
];

/// Commands each user runs (after AUTH) on both servers.
const COMMANDS: &[&[&str]] = &[
    &["GET", "app:1"],
    &["SET", "app:1", "v"],
    &["SET", "other", "v"],
    &["DEL", "app:1"],
    &["GET", "r:1"],
    &["SET", "w:1", "v"],
    &["GET", "w:1"],
    &["SET", "r:1", "v"],
    &["LPUSH", "w:list", "a"],
    &["HSET", "app:h", "f", "v"],
    &["FLUSHALL"],
    &["KEYS", "nomatch*"],
    &["PUBLISH", "news.today", "m"],
    &["PUBLISH", "sports", "m"],
    &["CLIENT", "ID"],
    &["CLIENT", "KILL", "ID", "999999"],
    &["CONFIG", "GET", "maxmemory-policy-nosuch"],
    &["CONFIG", "SET", "nosuch", "1"],
    &["PING"],
    &["ACL", "WHOAMI"],
    &["SUBSCRIBE", "sports"],
    &["PSUBSCRIBE", "news.*"],
];

/// The shape of a reply for comparing: errors by text, a CLIENT ID integer by kind.
fn normalized(command: &[&str], reply: String) -> String {
    if reply.starts_with(':') && command == ["CLIENT", "ID"] {
        return ":<id>".into();
    }
    reply
}

fn run_all(raw_for: &dyn Fn() -> Raw) -> Vec<String> {
    let mut admin = raw_for();
    for user in USERS {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(user);
        assert_eq!(admin.cmd(&args), "+OK\r\n", "{user:?}");
    }
    let mut out = Vec::new();
    for user in USERS {
        for command in COMMANDS {
            // A fresh connection each time: a SUBSCRIBE that succeeds changes the mode.
            let mut raw = raw_for();
            assert_eq!(raw.cmd(&["AUTH", user[0], "pw"]), "+OK\r\n");
            let reply = normalized(command, raw.cmd(command));
            out.push(format!("{} {:?} -> {}", user[0], command, reply.trim_end()));
        }
    }
    out
}

/// Runs `run` against redis-server 7.0 and against Tandem and asserts the transcripts are the
/// same, line for line.
fn assert_same_as_redis(name: &str, run: fn(&dyn Fn() -> Raw) -> Vec<String>) -> Tandem {
    let redis = RedisServer::start(&format!("{name}-redis"));
    let tandem = Tandem::start(&format!("{name}-tandem"), &[]);
    let expected = run(&|| redis.raw());
    let actual = run(&|| tandem.raw());
    let differences: Vec<String> = expected
        .iter()
        .zip(&actual)
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("redis:  {e}\ntandem: {a}"))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    tandem
}

/// Every user × command gets the same reply from Tandem as from redis-server 7.0.
#[test]
fn users_and_commands_match_redis() {
    assert_same_as_redis("acl-diff", run_all);
}

#[test]
fn denials_use_redis_texts_and_are_logged() {
    let tandem = Tandem::start("acl-texts", &[]);
    let mut admin = tandem.raw();
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "alice", "on", ">secret", "~k*", "&c*", "+get", "+publish"]),
        "+OK\r\n"
    );
    let mut raw = tandem.raw();
    assert_eq!(
        raw.cmd(&["AUTH", "alice", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.cmd(&["AUTH", "alice", "secret"]), "+OK\r\n");
    assert_eq!(
        raw.cmd(&["SET", "k1", "v"]),
        "-NOPERM this user has no permissions to run the 'set' command\r\n"
    );
    assert_eq!(
        raw.cmd(&["GET", "x"]),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(
        raw.cmd(&["PUBLISH", "d", "m"]),
        "-NOPERM this user has no permissions to access one of the channels used as arguments\r\n"
    );
    assert_eq!(raw.cmd(&["GET", "k1"]), "$-1\r\n");
    let log = admin.cmd(&["ACL", "LOG"]);
    for expected in ["channel", "key", "command", "auth", "alice"] {
        assert!(log.contains(expected), "{expected} in {log}");
    }
    assert!(
        !log.contains("secret") && !log.contains("wrong\r"),
        "no passwords in the log"
    );
    let list = admin.cmd(&["ACL", "LIST"]);
    assert!(
        !list.contains("secret"),
        "passwords are listed as hashes: {list}"
    );
    assert!(list.contains("user alice on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~k* resetchannels &c* -@all +get +publish"), "{list}");
}

/// The cluster of `zones` with a leader elected and every node answering.
fn cluster(name: &str) -> (Cluster, usize) {
    let cluster = Cluster::start(name, &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    (cluster, leader)
}

fn raw_on(cluster: &Cluster, i: usize) -> Raw {
    Raw::connect(cluster.server(i).addr)
}

/// Retries `check` on node `i` until it holds (a follower applies a moment after the leader
/// answers).
fn eventually(cluster: &Cluster, i: usize, what: &str, check: impl Fn(&mut Raw) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut raw = raw_on(cluster, i);
        if check(&mut raw) {
            return;
        }
        assert!(Instant::now() < deadline, "node {i}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn users_are_replicated_and_a_deleted_user_stays_deleted_after_failover() {
    let (mut cluster, leader) = cluster("acl-cluster");
    let follower = (leader + 1) % 3;
    let mut admin = raw_on(&cluster, leader);
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "bob", "on", ">pw", "~b:*", "+get", "+set"]),
        "+OK\r\n"
    );
    eventually(&cluster, follower, "bob can log in", |raw| {
        raw.cmd(&["AUTH", "bob", "pw"]) == "+OK\r\n"
    });
    let mut bob = raw_on(&cluster, follower);
    assert_eq!(bob.cmd(&["AUTH", "bob", "pw"]), "+OK\r\n");
    assert_eq!(
        bob.cmd(&["DEL", "b:1"]),
        "-NOPERM this user has no permissions to run the 'del' command\r\n"
    );
    assert_eq!(
        bob.cmd(&["SET", "x", "v"]),
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
    );
    assert_eq!(bob.cmd(&["SET", "b:1", "v"]), "+OK\r\n");

    // SETUSER on a follower goes through the log too.
    let mut on_follower = raw_on(&cluster, follower);
    assert_eq!(
        on_follower.cmd(&["ACL", "SETUSER", "carol", "on", "nopass", "+@all"]),
        "+OK\r\n"
    );

    assert_eq!(admin.cmd(&["ACL", "DELUSER", "bob"]), ":1\r\n");
    // bob's connection on the follower is closed once the deletion applies there.
    assert!(
        matches!(
            bob.read_until_quiet(Duration::from_secs(10)),
            Ending::Closed
        ),
        "bob's connection stays open"
    );
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    for i in cluster.up().collect::<Vec<_>>() {
        let mut raw = raw_on(&cluster, i);
        assert_eq!(
            raw.cmd(&["AUTH", "bob", "pw"]),
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
            "node {i}"
        );
        assert_eq!(raw.cmd(&["AUTH", "carol", "x"]), "+OK\r\n", "node {i}");
    }
    cluster.boot(leader);
    eventually(
        &cluster,
        leader,
        "the old leader knows bob is gone",
        |raw| raw.cmd(&["ACL", "USERS"]) == "*2\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n",
    );
    let mut raw = raw_on(&cluster, new_leader);
    assert_eq!(
        raw.cmd(&["ACL", "USERS"]),
        "*2\r\n$5\r\ncarol\r\n$7\r\ndefault\r\n"
    );
    cluster.wait_for_convergence(Duration::from_secs(30));
}

#[test]
fn protected_mode_refuses_an_exposed_node_without_passwords() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before any socket is bound, so this never listens on 0.0.0.0.
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("serve")
        .args(["--listen", "0.0.0.0:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run tandem serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("protected mode"), "{stderr}");
    assert!(
        stderr.contains("requirepass") && stderr.contains("--protected-mode no"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&output.stdout).is_empty());
    // On loopback the same configuration starts.
    let mut tandem = Tandem::start("acl-protected-loopback", &[]);
    tandem.assert_alive();
}

#[test]
fn aclfile_seeds_users_and_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.acl");
    std::fs::write(
        &path,
        "user alice on >alice ~* &* +@all\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let path_text = path.to_str().unwrap();
    let tandem = Tandem::start("acl-file", &["--aclfile", path_text]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut raw = tandem.raw();
    while raw.cmd(&["AUTH", "alice", "alice"]) != "+OK\r\n" {
        assert!(Instant::now() < deadline, "aclfile users never loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        raw.cmd(&["ACL", "SETUSER", "bob", "on", ">bob", "+@set"]),
        "+OK\r\n"
    );
    assert_eq!(raw.cmd(&["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(saved.contains("user bob on #"), "{saved}");
    assert!(!saved.contains(">bob"), "{saved}");
    assert_eq!(raw.cmd(&["ACL", "DELUSER", "bob"]), ":1\r\n");
    assert_eq!(raw.cmd(&["ACL", "LOAD"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["AUTH", "bob", "bob"]), "+OK\r\n");
}

/// The user scripts and per-access key patterns are checked against, on both servers.
const SCRIPTER: &[&str] = &[
    "scripter", "on", ">pw", "+eval", "+eval_ro", "+get", "+set", "+incr", "+exists", "+ping",
    "~x", "%R~r:*", "%W~w:*",
];

/// A user with every command and per-access key patterns only.
const SPLIT: &[&str] = &[
    "split2",
    "on",
    ">pw",
    "+@all",
    "-@dangerous",
    "%R~r:*",
    "%W~w:*",
];

/// (user, command) in order, each on a fresh connection; earlier writes are seen by later
/// commands, identically on both servers.
const ACCESS_COMMANDS: &[(&str, &[&str])] = &[
    (
        "scripter",
        &["EVAL", "return redis.call('set','x','1')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.call('set','y','1')", "0"],
    ),
    ("scripter", &["EVAL", "return redis.call('del','x')", "0"]),
    ("scripter", &["EVAL", "return redis.pcall('del','x')", "0"]),
    (
        "scripter",
        &[
            "EVAL",
            "local r = redis.pcall('set','y','1'); return r['err']",
            "0",
        ],
    ),
    ("scripter", &["EVAL", "return redis.call('get','w:1')", "0"]),
    (
        "scripter",
        &["EVAL", "return redis.call('set','w:1','v')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.call('incr','w:1')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.call('exists','w:1')", "0"],
    ),
    ("scripter", &["EVAL", "return redis.call('ping')", "0"]),
    ("scripter", &["EVAL", "return redis.call('time')", "0"]),
    (
        "scripter",
        &["EVAL_RO", "return redis.call('get','r:1')", "0"],
    ),
    (
        "scripter",
        &["EVAL_RO", "return redis.call('get','q')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.acl_check_cmd('set','x','1')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.acl_check_cmd('set','y','1')", "0"],
    ),
    (
        "scripter",
        &["EVAL", "return redis.acl_check_cmd('del','x')", "0"],
    ),
    ("split2", &["SET", "w:1", "v", "GET"]),
    ("split2", &["SET", "w:1", "v"]),
    ("split2", &["INCR", "w:1"]),
    ("split2", &["EXISTS", "w:1"]),
    ("split2", &["EXISTS", "r:1"]),
    ("split2", &["STRLEN", "w:1"]),
    ("split2", &["TYPE", "w:1"]),
    ("split2", &["TTL", "w:1"]),
    ("split2", &["GET", "r:1"]),
    ("split2", &["COPY", "r:1", "w:2"]),
    ("split2", &["COPY", "w:1", "w:3"]),
    ("split2", &["LMOVE", "w:l", "w:m", "LEFT", "LEFT"]),
    ("split2", &["LPUSH", "w:l", "a"]),
    ("split2", &["DEL", "r:1"]),
    ("split2", &["UNLINK", "w:2"]),
    ("split2", &["GETDEL", "w:1"]),
    ("split2", &["APPEND", "w:a", "x"]),
    ("split2", &["BITFIELD", "r:1", "GET", "u8", "0"]),
    ("split2", &["BITFIELD", "r:1", "SET", "u8", "0", "1"]),
    ("split2", &["SUNIONSTORE", "w:s", "r:s1", "r:s2"]),
    ("split2", &["SUNIONSTORE", "r:s", "w:s1"]),
    ("split2", &["EXPIRE", "w:a", "100"]),
];

fn run_access(raw_for: &dyn Fn() -> Raw) -> Vec<String> {
    let mut admin = raw_for();
    for user in [SCRIPTER, SPLIT] {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(user);
        assert_eq!(admin.cmd(&args), "+OK\r\n", "{user:?}");
    }
    let mut out = Vec::new();
    for (user, command) in ACCESS_COMMANDS {
        let mut raw = raw_for();
        assert_eq!(raw.cmd(&["AUTH", user, "pw"]), "+OK\r\n");
        out.push(format!(
            "{user} {command:?} -> {}",
            raw.cmd(command).trim_end()
        ));
    }
    out
}

/// Commands called from scripts are checked against the calling user (Redis 7.0's script
/// error texts, `redis.pcall` returns them), and `%R~`/`%W~` patterns are checked by each key's
/// access as Redis's key specs give it (SET needs W, INCR R and W, EXISTS either, ...).
#[test]
fn script_calls_and_key_access_match_redis() {
    let tandem = assert_same_as_redis("acl-access", run_access);

    // The refused call is in the ACL LOG with context `lua`.
    let mut admin = tandem.raw();
    assert_eq!(admin.cmd(&["ACL", "LOG", "RESET"]), "+OK\r\n");
    let mut raw = tandem.raw();
    assert_eq!(raw.cmd(&["AUTH", "scripter", "pw"]), "+OK\r\n");
    raw.cmd(&["EVAL", "return redis.pcall('incr','w:9')", "0"]);
    let log = admin.cmd(&["ACL", "LOG", "1"]);
    for expected in [
        "\r\nkey\r\n",
        "\r\nlua\r\n",
        "\r\nw:9\r\n",
        "\r\nscripter\r\n",
    ] {
        assert!(log.contains(expected), "{expected:?} in {log}");
    }
}

/// Replies of one MULTI block whose user loses permissions before EXEC.
fn exec_after_acl_change(raw_for: impl Fn() -> Raw) -> String {
    let mut admin = raw_for();
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "tx", "on", ">pw", "+@all", "~*", "&*"]),
        "+OK\r\n"
    );
    let mut raw = raw_for();
    assert_eq!(raw.cmd(&["AUTH", "tx", "pw"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    for command in [
        &["INCR", "a"][..],
        &["SET", "c", "1"],
        &["SET", "b", "1"],
        &["PUBLISH", "ch", "x"],
        &["EVAL", "return redis.call('get','c')", "0"],
    ] {
        assert_eq!(raw.cmd(command), "+QUEUED\r\n", "{command:?}");
    }
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "tx",
            "-incr",
            "resetkeys",
            "~b",
            "resetchannels"
        ]),
        "+OK\r\n"
    );
    let exec = raw.cmd(&["EXEC"]);
    let log = admin.cmd(&["ACL", "LOG"]);
    assert!(log.contains("\r\nmulti\r\n"), "{log}");
    assert!(log.contains("\r\nlua\r\n"), "{log}");
    exec
}

/// EXEC checks the queued commands again, as Redis does: those the user may no longer run
/// answer NOPERM in their slot, the others run.
#[test]
fn exec_checks_queued_commands_again() {
    let redis = RedisServer::start("acl-exec-redis");
    let tandem = Tandem::start("acl-exec-tandem", &[]);
    let expected = exec_after_acl_change(|| redis.raw());
    let actual = exec_after_acl_change(|| tandem.raw());
    assert_eq!(actual, expected);
}

/// On a cluster, a script's calls are checked at apply against the replicated users: a
/// refused call changes nothing on any node, an allowed one is applied everywhere, and the
/// refusal is in the ACL LOG of every node.
#[test]
fn script_calls_are_checked_alike_on_every_node() {
    let (cluster, leader) = cluster("acl-scripts-cluster");
    let follower = (leader + 1) % 3;
    let mut admin = raw_on(&cluster, leader);
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "eve", "on", ">pw", "+eval", "+set", "~e:*"]),
        "+OK\r\n"
    );
    eventually(&cluster, follower, "eve can log in", |raw| {
        raw.cmd(&["AUTH", "eve", "pw"]) == "+OK\r\n"
    });
    let mut eve = raw_on(&cluster, follower);
    assert_eq!(eve.cmd(&["AUTH", "eve", "pw"]), "+OK\r\n");
    let script = "redis.call('set','e:1','v'); return redis.call('set','other','v')";
    let reply = eve.cmd(&["EVAL", script, "0"]);
    assert!(
        reply.starts_with("-ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"),
        "{reply}"
    );
    for i in 0..3 {
        eventually(
            &cluster,
            i,
            "the allowed call applied, the refused one not",
            |raw| raw.cmd(&["MGET", "e:1", "other"]) == "*2\r\n$1\r\nv\r\n$-1\r\n",
        );
        eventually(&cluster, i, "the refusal is logged", |raw| {
            raw.cmd(&["ACL", "LOG", "1"]).contains("\r\nlua\r\n")
        });
    }
    cluster.wait_for_convergence(Duration::from_secs(30));
}
