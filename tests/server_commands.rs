//! The server's administration and introspection commands over a real socket: SHUTDOWN, SAVE, CONFIG
//! GET/SET (settings that take effect at once, inert tunables, fixed settings), SLOWLOG,
//! LATENCY, MEMORY, DEBUG, maxmemory and min-replicas-to-write refusals, and MULTI with
//! argument errors, arity errors and queued server commands, byte-compared with redis-server.

mod common;

use std::time::{Duration, Instant};

use common::server::{bulk, encode, Raw, RedisServer, Tandem as Server};

/// The integer of a `:n\r\n` reply.
fn integer(reply: &str) -> i64 {
    reply
        .strip_prefix(':')
        .and_then(|r| r.strip_suffix("\r\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {reply:?}"))
}

/// SHUTDOWN closes the client's connection without a reply, and the server exits 0 after the
/// same drain and final fsync as SIGTERM: every acknowledged write is there after a restart.
#[test]
fn shutdown_exits_cleanly_like_sigterm() {
    let mut server = Server::start("shutdown", &[]);
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["SHUTDOWN", "ABORT"]),
        "-ERR No shutdown in progress.\r\n"
    );
    assert_eq!(
        raw.cmd(&["SHUTDOWN", "SAVE", "NOSAVE"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(raw.cmd(&["SHUTDOWN", "BOGUS"]), "-ERR syntax error\r\n");
    assert_eq!(raw.cmd(&["SET", "saved", "1"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SAVE"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "in-multi", "1"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["SHUTDOWN"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(
        raw.cmd(&["SAVE"]),
        "-ERR Command not allowed inside a transaction\r\n"
    );
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    // Pipelined writes right before SHUTDOWN are answered, then the connection closes.
    let mut wire = Vec::new();
    for i in 0..50 {
        wire.extend(encode(&["SET", &format!("k{i}"), &i.to_string()]));
    }
    wire.extend(encode(&["SHUTDOWN", "NOSAVE", "NOW", "FORCE"]));
    raw.send(&wire);
    for _ in 0..50 {
        assert_eq!(raw.reply(), "+OK\r\n");
    }
    assert!(
        raw.closed(),
        "SHUTDOWN closes the connection without a reply"
    );
    assert_eq!(server.wait_for_exit(), 0, "log:\n{}", server.log_text());
    assert!(server.log_text().contains("node shut down cleanly"));

    let dir = server.take_dir();
    let restarted = Server::start_on(&server.data, &[]);
    let mut raw = restarted.raw();
    assert_eq!(raw.cmd(&["GET", "k49"]), bulk("49"));
    assert_eq!(raw.cmd(&["GET", "saved"]), bulk("1"));
    assert_eq!(raw.cmd(&["EXISTS", "in-multi"]), ":0\r\n");
    drop(restarted);
    drop(dir);
}

#[test]
fn config_set_takes_effect_at_once_and_is_all_or_nothing() {
    let server = Server::start("config-set", &[]);
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "maxclients"]),
        "*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
    );
    // maxclients: a new connection over the limit is refused.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "maxclients", "2"]), "+OK\r\n");
    let mut second = server.raw();
    assert_eq!(second.cmd(&["PING"]), "+PONG\r\n");
    let mut third = server.raw();
    assert_eq!(third.reply(), "-ERR max number of clients reached\r\n");
    drop(second);
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "maxclients", "10000"]),
        "+OK\r\n"
    );

    // timeout: every idle client is closed, including ones connected before the change.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "timeout", "1"]), "+OK\r\n");
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), "+PONG\r\n");
    let started = Instant::now();
    assert!(idle.closed(), "an idle client is closed after `timeout`");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(raw.closed(), "the client that set it was idle too");
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["CONFIG", "SET", "timeout", "0"]), "+OK\r\n");

    // proto-max-bulk-len: a larger bulk is a protocol error.
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        "+OK\r\n"
    );
    let mut big = server.raw();
    // Only the header: the length alone is refused, before any data is read.
    big.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048577\r\n");
    assert_eq!(big.reply(), "-ERR Protocol error: invalid bulk length\r\n");
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "512mb"]),
        "+OK\r\n"
    );

    // All or nothing, with Redis 7.0's texts.
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-max-len", "7", "maxmemory", "bla"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "slowlog-max-len"]),
        "*2\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-max-len", "7", "nosuch", "1"]),
        "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "timeout", "1", "maxmemory"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "timeout"]),
        "-ERR wrong number of arguments for 'config|set' command\r\n"
    );
    // Encoding tunables are remembered (under both names) and change nothing.
    assert_eq!(
        raw.cmd(&[
            "CONFIG",
            "SET",
            "hash-max-ziplist-entries",
            "0",
            "activerehashing",
            "no"
        ]),
        "+OK\r\n"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "hash-max-listpack-entries"]),
        "*2\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n0\r\n"
    );
    // Fixed settings: the current value is accepted, another is refused with the reason.
    assert_eq!(raw.cmd(&["CONFIG", "SET", "appendonly", "yes"]), "+OK\r\n");
    let refused = raw.cmd(&["CONFIG", "SET", "appendonly", "no"]);
    assert!(
        refused.starts_with(
            "-ERR CONFIG SET failed (possibly related to argument 'appendonly') - Tandem writes"
        ),
        "{refused}"
    );
    let rewrite = raw.cmd(&["CONFIG", "REWRITE"]);
    assert!(
        rewrite.starts_with("-ERR CONFIG REWRITE is not supported"),
        "{rewrite}"
    );
    assert_eq!(raw.cmd(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
}

#[test]
fn slowlog_records_commands_over_the_threshold() {
    let server = Server::start("slowlog", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SLOWLOG", "LEN"]), ":0\r\n");
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "+OK\r\n"
    );
    assert_eq!(raw.cmd(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["CLIENT", "SETNAME", "timer"]), "+OK\r\n");
    let long = "v".repeat(200);
    assert_eq!(raw.cmd(&["SET", "k", &long]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "k"]), bulk(&long));
    // Newest first: GET, then SET (a write, timed until it was durable), CLIENT, RESET.
    let entries = raw.cmd(&["SLOWLOG", "GET", "2"]);
    assert!(entries.starts_with("*2\r\n*6\r\n:"), "{entries}");
    assert!(
        entries.contains("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
        "{entries}"
    );
    let truncated = format!("{}... (72 more bytes)", "v".repeat(128));
    assert!(entries.contains(&bulk(&truncated)), "{entries}");
    assert!(entries.contains(&bulk("timer")), "{entries}");
    let local = raw.stream.local_addr().unwrap().to_string();
    assert!(entries.contains(&bulk(&local)), "{entries}");
    assert!(integer(&raw.cmd(&["SLOWLOG", "LEN"])) >= 4);

    // Inside MULTI, EXEC is not logged; a queued server command is, when EXEC runs it.
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "40000"]),
        "+OK\r\n"
    );
    assert_eq!(raw.cmd(&["SLOWLOG", "RESET"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["DEBUG", "SLEEP", "0.05"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*1\r\n+OK\r\n");
    let entries = raw.cmd(&["SLOWLOG", "GET"]);
    assert!(entries.starts_with("*1\r\n*6\r\n"), "{entries}");
    assert!(
        entries.contains("*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$4\r\n0.05\r\n"),
        "{entries}"
    );
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]),
        "+OK\r\n"
    );
    raw.cmd(&["CONFIG", "SET", "requirepass", "not-the-password"]);
    let entries = raw.cmd(&["SLOWLOG", "GET", "1"]);
    assert!(entries.contains(&bulk("(redacted)")), "{entries}");
    assert!(!entries.contains("not-the-password"), "{entries}");

    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-max-len", "2"]),
        "+OK\r\n"
    );
    raw.cmd(&["PING"]);
    assert_eq!(raw.cmd(&["SLOWLOG", "LEN"]), ":2\r\n");
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]),
        "+OK\r\n"
    );
    assert_eq!(raw.cmd(&["SLOWLOG", "RESET"]), "+OK\r\n");
    raw.cmd(&["PING"]);
    assert_eq!(
        raw.cmd(&["SLOWLOG", "LEN"]),
        ":0\r\n",
        "-1 disables the log"
    );
    assert_eq!(
        raw.cmd(&["SLOWLOG", "GET", "-2"]),
        "-ERR count should be greater than or equal to -1\r\n"
    );
}

#[test]
fn latency_monitor_debug_sleep_and_memory() {
    let server = Server::start("latency", &[]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["LATENCY", "LATEST"]), "*0\r\n");
    assert_eq!(
        raw.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "10"]),
        "+OK\r\n"
    );
    let started = Instant::now();
    assert_eq!(raw.cmd(&["DEBUG", "SLEEP", "0.05"]), "+OK\r\n");
    assert!(started.elapsed() >= Duration::from_millis(50));
    let latest = raw.cmd(&["LATENCY", "LATEST"]);
    assert!(
        latest.starts_with("*1\r\n*4\r\n$7\r\ncommand\r\n:"),
        "{latest}"
    );
    let history = raw.cmd(&["LATENCY", "HISTORY", "command"]);
    assert!(history.starts_with("*1\r\n*2\r\n:"), "{history}");
    assert_eq!(raw.cmd(&["LATENCY", "RESET"]), ":1\r\n");
    assert_eq!(raw.cmd(&["LATENCY", "LATEST"]), "*0\r\n");

    assert_eq!(raw.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "+OK\r\n");
    let reload = raw.cmd(&["DEBUG", "RELOAD"]);
    assert!(
        reload.starts_with("-ERR DEBUG RELOAD is not supported"),
        "{reload}"
    );

    assert_eq!(raw.cmd(&["SET", "small", "v"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "large", &"x".repeat(10_000)]), "+OK\r\n");
    let small = integer(&raw.cmd(&["MEMORY", "USAGE", "small"]));
    let large = integer(&raw.cmd(&["MEMORY", "USAGE", "large", "SAMPLES", "0"]));
    assert!(small > 0 && large > small + 10_000 - 100, "{small} {large}");
    assert_eq!(raw.cmd(&["MEMORY", "USAGE", "nosuch"]), "$-1\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MEMORY", "USAGE", "small"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["DEL", "small"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["MEMORY", "USAGE", "small"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        format!("*3\r\n:{small}\r\n:1\r\n$-1\r\n")
    );
    let stats = raw.cmd(&["MEMORY", "STATS"]);
    assert!(stats.contains("$10\r\nkeys.count\r\n:1\r\n"), "{stats}");
    assert_eq!(
        raw.cmd(&["MEMORY", "FOO"]),
        "-ERR unknown subcommand 'FOO'. Try MEMORY HELP.\r\n"
    );
}

#[test]
fn maxmemory_and_min_replicas_refuse_writes() {
    let server = Server::start("maxmemory", &[]);
    let mut raw = server.raw();
    let mut admin = server.raw();
    assert_eq!(raw.cmd(&["SET", "x", "1"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "x", "2"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["GET", "x"]), "+QUEUED\r\n");
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(
        raw.cmd(&["SET", "x", "3"]),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(raw.cmd(&["GET", "x"]), bulk("1"), "reads still work");
    assert_eq!(raw.cmd(&["DEL", "x"]), ":1\r\n", "DEL may free memory");
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");

    // A single node has no follower: with min-replicas-to-write 1 every write is refused.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1"]),
        "+OK\r\n"
    );
    assert_eq!(
        raw.cmd(&["SET", "x", "1"]),
        "-NOREPLICAS Not enough good replicas to write.\r\n"
    );
    assert_eq!(raw.cmd(&["GET", "x"]), "$-1\r\n");
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]),
        "+OK\r\n"
    );
    assert_eq!(raw.cmd(&["SET", "x", "1"]), "+OK\r\n");
}

/// Sends `commands` to a server on a fresh connection and returns every reply's bytes.
fn replies(raw: &mut Raw, commands: &[&[&str]]) -> Vec<String> {
    let mut wire = Vec::new();
    for command in commands {
        wire.extend(encode(command));
    }
    raw.send(&wire);
    commands.iter().map(|_| raw.reply()).collect()
}

/// MULTI as Redis 7 does it: an argument error is queued and answered in its EXEC slot while
/// the other commands apply; a wrong argument count or an unknown command aborts the block;
/// queued PING, ECHO and CONFIG SET are answered in their slots. Same bytes as redis-server.
#[test]
fn multi_with_argument_errors_answers_like_redis() {
    let redis = RedisServer::start("multi-errors-redis");
    let tandem = Server::start("multi-errors", &[]);
    let scripts: &[&[&[&str]]] = &[
        &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCRBY", "a", "notint"],
            &["SET", "b", "2", "BADOPT"],
            &["MSET", "c", "1", "odd"],
            &["PING"],
            &["ECHO", "hi"],
            &["CONFIG", "SET", "maxmemory", "bla"],
            &["INCR", "a"],
            &["HSET", "a", "f", "v"],
            &["EXEC"],
            &["GET", "a"],
            &["EXISTS", "b", "c"],
        ],
        &[
            &["MULTI"],
            &["SET", "a", "5"],
            &["INCRBY", "a"],
            &["INCRBY", "a", "x"],
            &["EXEC"],
            &["GET", "a"],
        ],
        &[
            &["MULTI"],
            &["SET", "a", "6"],
            &["NOSUCHCOMMAND", "x"],
            &["EXEC"],
            &["GET", "a"],
        ],
        &[&["MULTI"], &["ZADD", "z", "nan", "m"], &["EXEC"]],
        &[&["MULTI"], &["EXEC"]],
    ];
    for script in scripts {
        let expected = replies(&mut redis.raw(), script);
        let got = replies(&mut tandem.raw(), script);
        for ((command, expected), got) in script.iter().zip(&expected).zip(&got) {
            assert_eq!(got, expected, "{command:?} in {script:?}");
        }
    }
}
