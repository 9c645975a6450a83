//! `tandem serve` as a real process on a real socket: command families through the `redis`
//! crate, and exact RESP bytes (mini-redis style) for pipelining, RESP3, transactions, AUTH,
//! limits and graceful shutdown.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::server::{bulk, encode, Raw, Tandem as Server};

/// A `redis` crate connection to a running server.
trait RedisClient {
    fn redis(&self) -> redis::Connection;
}

impl RedisClient for Server {
    fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection()
            .expect("redis connection")
    }
}

#[test]
fn every_command_family_round_trips_through_a_redis_client() {
    let server = Server::start("families", &[]);
    let mut con = server.redis();
    let q = |con: &mut redis::Connection, args: &[&str]| -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    };
    use redis::Value::*;
    let s = |t: &str| BulkString(t.as_bytes().to_vec());
    // strings
    assert_eq!(q(&mut con, &["SET", "s", "hello"]), Okay);
    assert_eq!(q(&mut con, &["APPEND", "s", " world"]), Int(11));
    assert_eq!(q(&mut con, &["GET", "s"]), s("hello world"));
    assert_eq!(q(&mut con, &["INCRBY", "n", "5"]), Int(5));
    assert_eq!(q(&mut con, &["DECR", "n"]), Int(4));
    assert_eq!(q(&mut con, &["MSET", "a", "1", "b", "2"]), Okay);
    assert_eq!(
        q(&mut con, &["MGET", "a", "b", "nope"]),
        Array(vec![s("1"), s("2"), Nil])
    );
    assert_eq!(q(&mut con, &["STRLEN", "s"]), Int(11));
    // keys
    assert_eq!(q(&mut con, &["EXISTS", "a", "b", "nope"]), Int(2));
    assert_eq!(q(&mut con, &["EXPIRE", "a", "100"]), Int(1));
    assert_eq!(q(&mut con, &["TTL", "a"]), Int(100));
    assert_eq!(q(&mut con, &["TYPE", "s"]), SimpleString("string".into()));
    assert_eq!(q(&mut con, &["RENAME", "b", "c"]), Okay);
    assert_eq!(q(&mut con, &["KEYS", "c"]), Array(vec![s("c")]));
    assert_eq!(q(&mut con, &["DEL", "c", "nope"]), Int(1));
    // hashes
    assert_eq!(q(&mut con, &["HSET", "h", "f1", "v1", "f2", "v2"]), Int(2));
    assert_eq!(q(&mut con, &["HGET", "h", "f1"]), s("v1"));
    assert_eq!(q(&mut con, &["HINCRBY", "h", "n", "3"]), Int(3));
    assert_eq!(q(&mut con, &["HLEN", "h"]), Int(3));
    assert_eq!(
        q(&mut con, &["HGETALL", "h"]),
        Array(vec![s("f1"), s("v1"), s("f2"), s("v2"), s("n"), s("3")])
    );
    // sorted sets
    assert_eq!(
        q(&mut con, &["ZADD", "z", "1", "one", "2.5", "two"]),
        Int(2)
    );
    assert_eq!(q(&mut con, &["ZSCORE", "z", "two"]), s("2.5"));
    assert_eq!(
        q(&mut con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Array(vec![s("one"), s("1"), s("two"), s("2.5")])
    );
    assert_eq!(
        q(&mut con, &["ZPOPMIN", "z"]),
        Array(vec![s("one"), s("1")])
    );
    assert_eq!(q(&mut con, &["DBSIZE"]), Int(5));
    // connection and server commands
    assert_eq!(q(&mut con, &["PING"]), SimpleString("PONG".into()));
    assert_eq!(q(&mut con, &["PING", "hi"]), s("hi"));
    assert_eq!(q(&mut con, &["ECHO", "x y"]), s("x y"));
    assert_eq!(q(&mut con, &["SELECT", "0"]), Okay);
    assert_eq!(q(&mut con, &["CLIENT", "SETNAME", "tester"]), Okay);
    assert_eq!(q(&mut con, &["CLIENT", "GETNAME"]), s("tester"));
    let Int(id) = q(&mut con, &["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let BulkString(list) = q(&mut con, &["CLIENT", "LIST"]) else {
        panic!("CLIENT LIST")
    };
    let list = String::from_utf8(list).unwrap();
    assert!(list.contains(&format!("id={id} addr=")), "{list}");
    assert!(
        list.contains(" name=tester ") && list.contains(" cmd=client "),
        "{list}"
    );
    assert_eq!(q(&mut con, &["WAIT", "1", "0"]), Int(0));
    let Array(time) = q(&mut con, &["TIME"]) else {
        panic!("TIME")
    };
    assert_eq!(time.len(), 2);
    let Int(count) = q(&mut con, &["COMMAND", "COUNT"]) else {
        panic!("COUNT")
    };
    assert!(count >= 70, "{count}");
    assert_eq!(
        q(&mut con, &["CONFIG", "GET", "maxclients"]),
        Array(vec![s("maxclients"), s("10000")])
    );
    let BulkString(info) = q(&mut con, &["INFO"]) else {
        panic!("INFO")
    };
    let info = String::from_utf8(info).unwrap();
    for needle in [
        "# Server\r\nredis_version:7.0.0\r\ntandem_version:",
        "# Clients\r\nconnected_clients:1\r\n",
        "used_memory_rss:",
        "role:master\r\nconnected_slaves:0\r\n",
        "db0:keys=5,expires=0,avg_ttl=0\r\n",
        "# Tandem\r\nlog_purged:",
        "wal_fsync_count:",
    ] {
        assert!(info.contains(needle), "{needle:?} not in\n{info}");
    }
    assert_eq!(q(&mut con, &["FLUSHALL"]), Okay);
    assert_eq!(q(&mut con, &["DBSIZE"]), Int(0));
    // error texts
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["NOSUCH", "a", "b"]),
        "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(
        raw.cmd(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        raw.cmd(&["ECHO"]),
        "-ERR wrong number of arguments for 'echo' command\r\n"
    );
    assert_eq!(
        raw.cmd(&["SELECT", "1"]),
        "-ERR DB index is out of range\r\n"
    );
    assert_eq!(raw.cmd(&["HSET", "s2", "f", "v"]), ":1\r\n");
    assert_eq!(
        raw.cmd(&["GET", "s2"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(
        raw.cmd(&["AUTH", "pw"]),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(raw.cmd(&["QUIT"]), "+OK\r\n");
    assert!(raw.closed());
}

/// Replies to a deep pipeline come back complete and in order, and each read sees the writes
/// sent before it on the same connection.
#[test]
fn ten_thousand_pipelined_commands_answer_in_order() {
    let server = Server::start("pipeline", &[]);
    let mut raw = server.raw();
    const ROUNDS: usize = 10_000 / 3 + 1;
    let mut request = Vec::new();
    for i in 0..ROUNDS {
        request.extend(encode(&["SET", &format!("k{i}"), &i.to_string()]));
        request.extend(encode(&["INCR", "counter"]));
        request.extend(encode(&["GET", &format!("k{i}")]));
    }
    // Send from another thread so neither side can block the other on full socket buffers.
    let mut sender = raw.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || sender.write_all(&request).unwrap());
    for i in 0..ROUNDS {
        assert_eq!(raw.reply(), "+OK\r\n", "SET #{i}");
        assert_eq!(raw.reply(), format!(":{}\r\n", i + 1), "INCR #{i}");
        assert_eq!(raw.reply(), bulk(&i.to_string()), "GET #{i}");
    }
    writer.join().unwrap();
    assert_eq!(raw.cmd(&["DBSIZE"]), format!(":{}\r\n", ROUNDS + 1));

    // The redis crate's pipeline gets the same order.
    let mut con = server.redis();
    let mut pipe = redis::pipe();
    for _ in 0..1000 {
        pipe.cmd("INCR").arg("p");
        pipe.cmd("GET").arg("p");
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    let expected: Vec<i64> = (1..=1000).flat_map(|i| [i, i]).collect();
    assert_eq!(values, expected);
}

#[test]
fn hello_3_switches_to_resp3_replies() {
    let server = Server::start("resp3", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["HSET", "h", "f", "v"]), ":1\r\n");
    assert_eq!(raw.cmd(&["ZADD", "z", "1.5", "m"]), ":1\r\n");
    assert_eq!(raw.cmd(&["ZSCORE", "z", "m"]), bulk("1.5"));
    assert_eq!(raw.cmd(&["HGETALL", "h"]), "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(raw.cmd(&["GET", "missing"]), "$-1\r\n");
    assert_eq!(
        raw.cmd(&["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
    assert_eq!(
        raw.cmd(&["HELLO", "x"]),
        "-ERR Protocol version is not an integer or out of range\r\n"
    );

    let hello = raw.cmd(&["HELLO", "3", "SETNAME", "r3"]);
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert!(hello.contains("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"), "{hello}");
    assert_eq!(raw.cmd(&["HGETALL", "h"]), "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    assert_eq!(raw.cmd(&["ZSCORE", "z", "m"]), ",1.5\r\n");
    assert_eq!(raw.cmd(&["GET", "missing"]), "_\r\n");
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]), bulk("r3"));
    let info = raw.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains(" resp=3"), "{info}");
    assert_eq!(raw.cmd(&["HELLO", "2"]).chars().next(), Some('*'));
    assert_eq!(raw.cmd(&["ZSCORE", "z", "m"]), bulk("1.5"));
}

#[test]
fn multi_exec_is_atomic_and_answers_like_redis() {
    let server = Server::start("multi", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(raw.cmd(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        raw.cmd(&["MULTI"]),
        "-ERR MULTI calls can not be nested\r\n"
    );
    assert_eq!(
        raw.cmd(&["WATCH", "x"]),
        "-ERR WATCH inside MULTI is not allowed\r\n"
    );
    assert_eq!(raw.cmd(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["GET", "a"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*3\r\n:1\r\n:2\r\n$1\r\n2\r\n");
    // A command that fails to queue discards the whole block.
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(raw.cmd(&["GET", "a"]), bulk("2"));
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["INCR", "a"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["DISCARD"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "a"]), bulk("2"));

    // Atomicity: transfers between two keys never show a half-done state to another client.
    let addr = server.addr;
    let transfers = std::thread::spawn(move || {
        let mut raw = Raw::connect(addr);
        for _ in 0..300 {
            let mut block = encode(&["MULTI"]);
            block.extend(encode(&["DECRBY", "from", "7"]));
            block.extend(encode(&["INCRBY", "to", "7"]));
            block.extend(encode(&["EXEC"]));
            raw.send(&block);
            assert_eq!(raw.reply(), "+OK\r\n");
            assert_eq!(raw.reply(), "+QUEUED\r\n");
            assert_eq!(raw.reply(), "+QUEUED\r\n");
            let exec = raw.reply();
            assert!(exec.starts_with("*2\r\n:-"), "{exec}");
        }
    });
    let mut reader = server.raw();
    let mut observed = 0;
    while !transfers.is_finished() {
        let reply = reader.cmd(&["MGET", "from", "to"]);
        let numbers: Vec<i64> = reply
            .split("\r\n")
            .filter(|l| !l.starts_with('*') && !l.starts_with('$') && !l.is_empty())
            .map(|l| l.parse().unwrap())
            .collect();
        if numbers.len() == 2 {
            assert_eq!(
                numbers[0] + numbers[1],
                0,
                "half a transaction seen: {reply:?}"
            );
            observed += 1;
        }
    }
    transfers.join().unwrap();
    assert_eq!(reader.cmd(&["GET", "to"]), bulk("2100"));
    assert!(observed > 0);
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changed() {
    let server = Server::start("watch", &[]);
    let mut first = server.raw();
    let mut second = server.raw();
    assert_eq!(first.cmd(&["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(first.cmd(&["WATCH", "k", "other"]), "+OK\r\n");
    assert_eq!(second.cmd(&["SET", "k", "2"]), "+OK\r\n");
    assert_eq!(first.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(first.cmd(&["SET", "k", "3"]), "+QUEUED\r\n");
    assert_eq!(first.cmd(&["EXEC"]), "*-1\r\n");
    assert_eq!(first.cmd(&["GET", "k"]), bulk("2"));
    // EXEC forgot the watch: the same block now runs.
    assert_eq!(first.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(first.cmd(&["SET", "k", "3"]), "+QUEUED\r\n");
    assert_eq!(first.cmd(&["EXEC"]), "*1\r\n+OK\r\n");
    // An untouched watched key lets EXEC run; UNWATCH forgets a touched one.
    assert_eq!(first.cmd(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(first.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(first.cmd(&["GET", "k"]), "+QUEUED\r\n");
    assert_eq!(first.cmd(&["EXEC"]), format!("*1\r\n{}", bulk("3")));
    assert_eq!(first.cmd(&["WATCH", "k"]), "+OK\r\n");
    assert_eq!(second.cmd(&["SET", "k", "4"]), "+OK\r\n");
    assert_eq!(first.cmd(&["UNWATCH"]), "+OK\r\n");
    assert_eq!(first.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(first.cmd(&["INCR", "k"]), "+QUEUED\r\n");
    assert_eq!(first.cmd(&["EXEC"]), "*1\r\n:5\r\n");
}

#[test]
fn auth_is_required_with_requirepass() {
    let server = Server::start("auth", &["--requirepass", "s3cret"]);
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(raw.cmd(&["PING"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        raw.cmd(&["HELLO", "3"]),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
    );
    assert_eq!(
        raw.cmd(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        raw.cmd(&["AUTH", "someone", "s3cret"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(raw.cmd(&["AUTH", "s3cret"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "requirepass"]),
        format!("*2\r\n{}{}", bulk("requirepass"), bulk("s3cret"))
    );
    assert_eq!(raw.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(
        raw.cmd(&["GET", "k"]),
        "-NOAUTH Authentication required.\r\n"
    );

    let mut other = server.raw();
    let hello = other.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert_eq!(other.cmd(&["GET", "k"]), bulk("v"));

    // The redis crate with a password in the URL.
    let mut con = redis::Client::open(format!("redis://:s3cret@{}/", server.addr))
        .unwrap()
        .get_connection()
        .unwrap();
    let value: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(value, "v");
}

#[test]
fn a_client_breaking_a_limit_is_closed_and_others_are_not_affected() {
    let server = Server::start(
        "limits",
        &[
            "--bulk-bytes-max",
            "65536",
            "--inline-bytes-max",
            "65536",
            "--query-buffer-bytes-max",
            "65536",
            "--clients-max",
            "4",
        ],
    );
    let mut good = server.raw();
    assert_eq!(good.cmd(&["SET", "k", "v"]), "+OK\r\n");

    let mut bad = server.raw();
    bad.send(b"*1\r\n$abc\r\n");
    let reply = bad.reply();
    assert!(reply.starts_with("-ERR Protocol error: "), "{reply}");
    assert!(bad.closed());

    let mut too_big = server.raw();
    too_big.send(b"*2\r\n$4\r\nECHO\r\n$100000\r\n");
    let reply = too_big.reply();
    assert!(reply.starts_with("-ERR Protocol error: "), "{reply}");
    assert!(too_big.closed());

    // Many complete-looking elements of one unfinished command overflow the query buffer.
    let mut hog = server.raw();
    let mut request = b"*1000\r\n".to_vec();
    for _ in 0..100 {
        request.extend_from_slice(format!("$1000\r\n{}\r\n", "x".repeat(1000)).as_bytes());
    }
    let _ = hog.stream.write_all(&request);
    assert!(hog.closed());

    assert_eq!(good.cmd(&["GET", "k"]), bulk("v"));

    // clients_max = 4: `good` plus three more fit, the fifth is refused.
    let _fill: Vec<Raw> = (0..3)
        .map(|_| {
            let mut c = server.raw();
            assert_eq!(c.cmd(&["PING"]), "+PONG\r\n");
            c
        })
        .collect();
    let mut refused = server.raw();
    assert_eq!(refused.reply(), "-ERR max number of clients reached\r\n");
    assert!(refused.closed());
    assert_eq!(good.cmd(&["PING"]), "+PONG\r\n");
    let info = good.cmd(&["INFO", "stats"]);
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    let server = Server::start("idle", &["--idle-timeout-secs", "1"]);
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), "+PONG\r\n");
    let started = Instant::now();
    assert!(idle.closed());
    assert!(started.elapsed() >= Duration::from_millis(900));
    let mut fresh = server.raw();
    assert_eq!(
        fresh.cmd(&["CONFIG", "GET", "timeout"]),
        format!("*2\r\n{}{}", bulk("timeout"), bulk("1"))
    );
}

#[test]
fn client_kill_closes_the_named_connection_only() {
    let server = Server::start("kill", &[]);
    let mut victim = server.raw();
    let mut killer = server.raw();
    let id = victim.cmd(&["CLIENT", "ID"]);
    let id = id.trim_start_matches(':').trim_end();
    assert_eq!(killer.cmd(&["CLIENT", "KILL", "ID", id]), ":1\r\n");
    assert!(victim.closed());
    assert_eq!(killer.cmd(&["CLIENT", "KILL", "ID", "999999"]), ":0\r\n");
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]),
        "-ERR No such client\r\n"
    );
    assert_eq!(killer.cmd(&["PING"]), "+PONG\r\n");
}

/// SIGTERM stops the server cleanly (exit 0) while clients are writing, and a restart on the
/// same directory has every write that was acknowledged.
#[test]
fn sigterm_then_restart_keeps_every_acknowledged_write() {
    sigterm_then_restart_keeps_acks("sigterm", &[]);
}

/// The same with the WAL written and fsynced on the server's runtime thread
/// (`--wal-writer inline`), with small segments so the writes also cross segment rollovers.
#[test]
fn sigterm_then_restart_keeps_every_acknowledged_write_inline_writer() {
    let flags = ["--wal-writer", "inline", "--segment-bytes", "65536"];
    sigterm_then_restart_keeps_acks("sigterm-inline", &flags);
}

fn sigterm_then_restart_keeps_acks(name: &str, flags: &[&str]) {
    let dir = common::data_dir(name);
    let data = dir.path().join("data");
    let mut server = Server::start_on(&data, flags);
    let writer_mode = match flags.contains(&"inline") {
        true => "inline".to_string(),
        false => std::env::var("TANDEM_TEST_WAL_WRITER").unwrap_or_else(|_| "thread".into()),
    };
    let info = server.raw().cmd(&["INFO", "persistence"]);
    assert!(
        info.contains(&format!("wal_writer:{writer_mode}\r\n")),
        "{info}"
    );
    let addr = server.addr;
    let writers: Vec<_> = (0..4)
        .map(|task| {
            std::thread::spawn(move || {
                let mut raw = Raw::connect(addr);
                let mut acked = Vec::new();
                for i in 0.. {
                    // Pipelines of 20 SETs; each +OK is an acknowledgement.
                    let mut batch = Vec::new();
                    for j in 0..20 {
                        batch.extend(encode(&["SET", &format!("t{task}:{i}:{j}"), "v"]));
                    }
                    if raw.stream.write_all(&batch).is_err() {
                        break;
                    }
                    for j in 0..20 {
                        match raw.try_reply().as_deref() {
                            Some("+OK\r\n") => acked.push(format!("t{task}:{i}:{j}")),
                            _ => return acked,
                        }
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.terminate(), 0, "log:\n{}", server.log_text());
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        acked.len() > 100,
        "only {} writes acknowledged",
        acked.len()
    );

    let restarted = Server::start_on(&data, flags);
    let mut raw = restarted.raw();
    for chunk in acked.chunks(500) {
        let mut args = vec!["EXISTS"];
        args.extend(chunk.iter().map(String::as_str));
        assert_eq!(
            raw.cmd(&args),
            format!(":{}\r\n", chunk.len()),
            "acknowledged write lost"
        );
    }
    let log = server.log_text();
    assert!(log.contains("SIGTERM"), "{log}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let first = Server::start("locked", &[]);
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(&first.data)
        .output()
        .expect("run second server");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another Tandem process"),
        "{stderr}"
    );
    let mut raw = first.raw();
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn config_file_keys_are_read_and_flags_override_them() {
    let dir = common::data_dir("config");
    let config = dir.path().join("tandem.toml");
    std::fs::write(
        &config,
        "requirepass = \"from-file\"\n[limits]\nclients_max = 77\nidle_timeout_secs = 9\n",
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let server = Server::start_on(
        &dir.path().join("data"),
        &["--config", config_arg, "--idle-timeout-secs", "0"],
    );
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["AUTH", "from-file"]), "+OK\r\n");
    let reply = raw.cmd(&["CONFIG", "GET", "maxclients", "timeout"]);
    assert_eq!(
        reply,
        format!(
            "*4\r\n{}{}{}{}",
            bulk("maxclients"),
            bulk("77"),
            bulk("timeout"),
            bulk("0")
        )
    );

    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["serve", "--config", config_arg])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no_such_key"));
}

/// Runs `redis-cli` (Debian's redis-tools) against the server; returns its stdout.
fn redis_cli(server: &Server, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(args)
        .output()
        .expect("redis-cli is installed (apt-get install redis-tools)");
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed: {output:?}"
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The stock `redis-cli` works unchanged: every command family, RESP3, INFO, COMMAND DOCS
/// (used for its hints), and `--pipe` bulk loading.
#[test]
fn redis_cli_works_unchanged() {
    let server = Server::start("redis-cli", &[]);
    assert_eq!(redis_cli(&server, &["PING"]), "PONG\n");
    assert_eq!(redis_cli(&server, &["SET", "balance:alice", "100"]), "OK\n");
    assert_eq!(
        redis_cli(&server, &["INCRBY", "balance:alice", "-30"]),
        "70\n"
    );
    assert_eq!(
        redis_cli(&server, &["HSET", "order:1", "side", "buy", "qty", "5"]),
        "2\n"
    );
    assert_eq!(redis_cli(&server, &["HGET", "order:1", "qty"]), "5\n");
    assert_eq!(
        redis_cli(&server, &["ZADD", "book", "101.5", "o1", "99", "o2"]),
        "2\n"
    );
    assert_eq!(
        redis_cli(&server, &["ZRANGE", "book", "0", "-1", "WITHSCORES"]),
        "o2\n99\no1\n101.5\n"
    );
    assert_eq!(
        redis_cli(&server, &["-3", "ZSCORE", "book", "o1"]),
        "101.5\n"
    );
    assert_eq!(redis_cli(&server, &["GET", "nosuchkey"]), "\n");
    assert!(redis_cli(&server, &["HGET", "balance:alice", "x"]).starts_with("WRONGTYPE"));
    let info = redis_cli(&server, &["INFO", "tandem"]);
    assert!(info.contains("log_applied:"), "{info}");
    let docs = redis_cli(&server, &["COMMAND", "DOCS", "set"]);
    assert!(docs.contains("summary"), "{docs}");

    // `--pipe` mode: a stream of raw commands on stdin, as used for bulk loads.
    let mut payload = Vec::new();
    for i in 0..1000 {
        payload.extend_from_slice(&encode(&["SET", &format!("bulk:{i}"), "v"]));
    }
    let mut child = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &server.addr.port().to_string(),
            "--pipe",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    child.stdin.take().unwrap().write_all(&payload).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(redis_cli(&server, &["DBSIZE"]), "1003\n");
}
