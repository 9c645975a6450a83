//! `tandem serve` under bad input and bad clients, as a real process on a real socket: protocol
//! garbage, hostile length fields, a byte-at-a-time client, 10,000 idle connections and
//! redis-benchmark. Each test also checks that every write acknowledged meanwhile is still there
//! after a graceful SIGTERM and a restart on the same data directory.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::server::{bulk, encode, frames, raise_fd_limit, Ending, Raw, Tandem, MIB};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WRITER_ACKED_MIN: usize = 20;

/// A client that writes while something else misbehaves, and remembers what was acknowledged.
struct Writer {
    stop: Arc<AtomicBool>,
    acked_count: Arc<AtomicUsize>,
    thread: JoinHandle<WriterReport>,
}

struct WriterReport {
    /// (key, value) of every SET answered `+OK`.
    acked: Vec<(String, String)>,
    /// Slowest round trip seen.
    latency_max: Duration,
    commands: usize,
}

impl Writer {
    /// Starts a client on `addr` that SETs `prefix:<i>` and reads every tenth key back, checking
    /// each reply, until stopped.
    fn start(addr: SocketAddr, prefix: &'static str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let acked_count = Arc::new(AtomicUsize::new(0));
        let counter = acked_count.clone();
        let thread = std::thread::spawn(move || {
            let mut raw = Raw::connect(addr);
            let mut report = WriterReport {
                acked: Vec::new(),
                latency_max: Duration::ZERO,
                commands: 0,
            };
            let mut i = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                let key = format!("{prefix}:{i}");
                let value = format!("v{i}");
                let started = Instant::now();
                assert_eq!(raw.cmd(&["SET", &key, &value]), "+OK\r\n", "SET {key}");
                report.latency_max = report.latency_max.max(started.elapsed());
                report.acked.push((key, value));
                counter.store(report.acked.len(), Ordering::Relaxed);
                if i % 10 == 9 {
                    let (key, value) = &report.acked[(i / 2) as usize];
                    let started = Instant::now();
                    assert_eq!(raw.cmd(&["GET", key]), bulk(value), "GET {key}");
                    report.latency_max = report.latency_max.max(started.elapsed());
                    report.commands += 1;
                }
                report.commands += 1;
                i += 1;
            }
            report
        });
        Writer {
            stop,
            acked_count,
            thread,
        }
    }

    /// Stops the writer once it has had at least [`WRITER_ACKED_MIN`] writes acknowledged, so
    /// there is always something whose survival is checked.
    fn finish(self) -> WriterReport {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.acked_count.load(Ordering::Relaxed) < WRITER_ACKED_MIN
            && !self.thread.is_finished()
        {
            assert!(Instant::now() < deadline, "writer made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("writer thread")
    }
}

/// Every (key, value) is present on `server`, checked with MGET in chunks.
fn assert_all_present(server: &Tandem, pairs: &[(String, String)], when: &str) {
    let mut raw = server.raw();
    for chunk in pairs.chunks(500) {
        let mut args = vec!["MGET"];
        args.extend(chunk.iter().map(|(k, _)| k.as_str()));
        let mut expected = format!("*{}\r\n", chunk.len());
        for (_, v) in chunk {
            expected.push_str(&bulk(v));
        }
        let reply = raw.cmd(&args);
        if reply != expected {
            let missing: Vec<&str> = chunk
                .iter()
                .filter(|(k, v)| raw.cmd(&["GET", k]) != bulk(v))
                .map(|(k, _)| k.as_str())
                .take(10)
                .collect();
            panic!("{when}: acknowledged writes lost, e.g. {missing:?}");
        }
    }
}

/// The acknowledged writes are there now and after SIGTERM + restart; returns the restarted
/// server.
fn assert_durable(server: Tandem, pairs: &[(String, String)], flags: &[&str]) -> Tandem {
    assert_all_present(&server, pairs, "before restart");
    let restarted = server.restart(flags);
    assert_all_present(&restarted, pairs, "after SIGTERM and restart");
    restarted
}

/// One connection's worth of bad input, and what the server must do with it.
enum Garbage {
    /// Bytes whose meaning is not predicted; the server may answer (inline commands give
    /// "unknown command"), wait for more, or reject them.
    Unpredicted(Vec<u8>),
    /// Bytes that must get exactly `-ERR <reply prefix>...` and then a close.
    Rejected(Vec<u8>, &'static str),
}

fn garbage(rng: &mut StdRng) -> Garbage {
    match rng.gen_range(0..5) {
        // Uniformly random bytes.
        0 => {
            let len = rng.gen_range(1..2048);
            Garbage::Unpredicted((0..len).map(|_| rng.gen()).collect())
        }
        // A valid pipeline with a few bytes overwritten.
        1 => {
            let mut bytes = Vec::new();
            for i in 0..rng.gen_range(1..6) {
                bytes.extend(encode(&["SET", &format!("junk:{i}"), "x"]));
            }
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            Garbage::Unpredicted(bytes)
        }
        // A count line that is not a number.
        2 => {
            let mut line = b"*".to_vec();
            line.extend((0..rng.gen_range(0..4)).map(|_| rng.gen_range(b'0'..=b'9')));
            line.push(rng.gen_range(b'a'..=b'z'));
            line.extend((0..rng.gen_range(0..8)).map(|_| rng.gen_range(b'0'..=b'z')));
            line.extend_from_slice(b"\r\n");
            Garbage::Rejected(line, "Protocol error: invalid multibulk length")
        }
        // An argument line that does not start with `$` (the line must end before the length
        // line limit, else the error is "too big bulk count string").
        3 => {
            let mut bytes = b"*2\r\n$4\r\nECHO\r\n".to_vec();
            let first = loop {
                let b: u8 = rng.gen();
                if b != b'$' {
                    break b;
                }
            };
            bytes.push(first);
            bytes.extend((0..rng.gen_range(0..16)).map(|_| rng.gen::<u8>()));
            bytes.extend_from_slice(b"\r\n");
            Garbage::Rejected(bytes, "Protocol error: expected '$', got '")
        }
        // An inline line longer than 64 KiB without a newline.
        _ => {
            let len = rng.gen_range(64 * 1024 + 1..100 * 1024);
            let bytes = (0..len)
                .map(|i| loop {
                    let b: u8 = rng.gen();
                    if b != b'\n' && (i > 0 || b != b'*') {
                        break b;
                    }
                })
                .collect();
            Garbage::Rejected(bytes, "Protocol error: too big inline request")
        }
    }
}

/// Sends `garbage` on a fresh connection and checks the server's answer. Returns whether the
/// server rejected it (protocol error and close).
fn offend(addr: SocketAddr, garbage: &Garbage, label: &str) -> bool {
    let mut raw = Raw::connect(addr);
    let bytes = match garbage {
        Garbage::Unpredicted(b) | Garbage::Rejected(b, _) => b,
    };
    // The server may close before it has read everything: a failed write is expected then.
    let _ = raw.stream.write_all(bytes);
    let ending = raw.read_until_quiet(Duration::from_millis(300));
    let (replies, rest) = frames(&raw.buf);
    let shown = || {
        format!(
            "{label}: sent {:?}, got {:?} then {ending:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(120)]),
            String::from_utf8_lossy(&raw.buf[..raw.buf.len().min(400)])
        )
    };
    assert!(rest.is_empty(), "incomplete reply: {}", shown());
    let protocol_error = |f: &[u8]| f.starts_with(b"-ERR Protocol error: ");
    // A protocol error is the last thing said before the close, and a close is always
    // explained by one.
    if let Some(at) = replies.iter().position(|f| protocol_error(f)) {
        assert_eq!(
            at + 1,
            replies.len(),
            "replies after the error: {}",
            shown()
        );
        assert_eq!(ending, Ending::Closed, "not closed: {}", shown());
    } else {
        assert_eq!(
            ending,
            Ending::Silent,
            "closed without an error: {}",
            shown()
        );
    }
    if let Garbage::Rejected(_, prefix) = garbage {
        let last = replies.last().copied().unwrap_or_default();
        assert!(
            last.starts_with(format!("-ERR {prefix}").as_bytes()),
            "expected -ERR {prefix}...: {}",
            shown()
        );
    }
    ending == Ending::Closed
}

/// Random garbage from several connections at once: each offender is answered with a protocol
/// error and closed, or left waiting; a well-behaved client meanwhile gets correct replies, and
/// everything it wrote survives a restart.
#[test]
fn garbage_storm_hurts_only_the_offenders() {
    let seed = common::seed("garbage_storm_hurts_only_the_offenders");
    let mut server = Tandem::start("garbage", &[]);
    let writer = Writer::start(server.addr, "good");
    let addr = server.addr;
    let offenders: Vec<_> = (0..6u64)
        .map(|task| {
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (task << 32));
                let mut rejected = 0;
                for round in 0..12 {
                    let g = garbage(&mut rng);
                    let label = format!("seed {seed} offender {task} round {round}");
                    rejected += usize::from(offend(addr, &g, &label));
                }
                rejected
            })
        })
        .collect();
    let mut rejected = 0;
    for offender in offenders {
        rejected += offender.join().expect("offender");
    }
    server.assert_alive();
    let report = writer.finish();
    eprintln!(
        "{rejected} of 72 offenders rejected; good client: {} commands, slowest {:?}",
        report.commands, report.latency_max
    );
    // Kinds 2-4 are always rejected, about 3/5 of the rounds.
    assert!(rejected >= 20, "only {rejected} offenders were rejected");
    assert!(report.acked.len() >= 50, "{}", report.acked.len());
    assert!(
        report.latency_max < Duration::from_secs(2),
        "{:?}",
        report.latency_max
    );
    let mut restarted = assert_durable(server, &report.acked, &[]);
    assert_eq!(restarted.raw().cmd(&["PING"]), "+PONG\r\n");
    restarted.assert_alive();
}

/// Length fields that lie: out-of-range counts and lengths are rejected with Redis's error text
/// and a close; in-range claims of huge sizes followed by silence leave the client waiting,
/// without the server reserving memory for what was only claimed. Waiting clients do not delay
/// a graceful shutdown.
#[test]
fn hostile_lengths_are_rejected_or_wait_without_memory_growth() {
    let server = Tandem::start("lengths", &[]);
    let writer = Writer::start(server.addr, "len");
    let mut acked = Vec::new();
    let invalid_multibulk = "-ERR Protocol error: invalid multibulk length\r\n";
    let invalid_bulk = "-ERR Protocol error: invalid bulk length\r\n";
    let rejected: &[(&[u8], &str)] = &[
        (b"*99999999999\r\n", invalid_multibulk),
        (b"*1048577\r\n", invalid_multibulk),
        (b"*1\r\n$-7\r\n", invalid_bulk),
        (b"*2\r\n$3\r\nGET\r\n$600000000\r\nabc", invalid_bulk),
        (
            b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n",
            invalid_bulk,
        ),
        (
            b"*1\r\n$1111111111111111111111111111111111111",
            "-ERR Protocol error: too big bulk count string\r\n",
        ),
        (
            b"*1111111111111111111111111111111111111",
            "-ERR Protocol error: too big mbulk count string\r\n",
        ),
    ];
    // A count of zero or below is an empty command, skipped as Redis 7 skips it.
    let mut raw = server.raw();
    raw.send(b"*-5\r\n*0\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(raw.reply(), "+PONG\r\n");
    for (wire, reply) in rejected {
        let mut raw = server.raw();
        raw.send(wire);
        let ending = raw.read_until_quiet(Duration::from_secs(5));
        assert_eq!(
            (String::from_utf8_lossy(&raw.buf).as_ref(), ending),
            (*reply, Ending::Closed),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
    // `$-7` outside an array is an inline command, as in Redis.
    let mut raw = server.raw();
    raw.send(b"$-7\r\n");
    assert_eq!(
        raw.reply(),
        "-ERR unknown command '$-7', with args beginning with: \r\n"
    );
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");

    // The writer's growing keyspace would blur the memory measurement: it pauses for it.
    acked.extend(writer.finish().acked);
    // Warm up the allocator before the baseline.
    let mut good = server.raw();
    for i in 0..200 {
        good.cmd(&["SET", &format!("warm:{i}"), &"w".repeat(100)]);
    }
    let before = server.memory();
    const COPIES: usize = 40;
    // (first bytes, a few more sent later): the claimed sizes are all within the limits.
    let waiting: &[(&[u8], &[u8])] = &[
        (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n", b"abcdefgh"),
        (b"*1048576\r\n", b"$3\r\nab"),
        (b"*2\r\n$4\r\nECHO\r\n$536870912\r\n", b"\r\n\r\n"),
        (b"*1\r\n$4\r\n", b"PIN"),
        (b"*2", b""),
        (b"SET inline", b" v"),
    ];
    let mut waiters = Vec::new();
    for _ in 0..COPIES {
        for (first, _) in waiting {
            let mut raw = server.raw();
            raw.send(first);
            waiters.push(raw);
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    for (i, raw) in waiters.iter_mut().enumerate() {
        raw.send(waiting[i % waiting.len()].1);
    }
    std::thread::sleep(Duration::from_millis(300));
    for (i, raw) in waiters.iter_mut().enumerate() {
        let (first, later) = waiting[i % waiting.len()];
        let ending = raw.read_until_quiet(Duration::from_millis(1));
        assert_eq!(
            (ending, raw.buf.as_slice()),
            (Ending::Silent, &b""[..]),
            "{:?} then {:?} should wait",
            String::from_utf8_lossy(first),
            String::from_utf8_lossy(later)
        );
    }
    assert_eq!(good.cmd(&["GET", "warm:7"]), bulk(&"w".repeat(100)));
    let after = server.memory();
    let rss_growth = after.rss_bytes.saturating_sub(before.rss_bytes);
    let virtual_growth = after.virtual_bytes.saturating_sub(before.virtual_bytes);
    eprintln!(
        "{} waiting clients, some claiming 500 MiB: RSS {} -> {} MiB (+{} KiB), virtual +{} MiB",
        waiters.len(),
        before.rss_bytes / MIB,
        after.rss_bytes / MIB,
        rss_growth / 1024,
        virtual_growth / MIB
    );
    assert!(rss_growth < 64 * MIB, "RSS grew by {rss_growth} bytes");
    // Reserving (even without touching) the claimed sizes would show here: 80 x 500 MB.
    assert!(
        virtual_growth < 4096 * MIB,
        "virtual size grew by {virtual_growth} bytes"
    );

    let writer = Writer::start(server.addr, "len2");
    // The unterminated ones were waiting, not stuck: finishing one gets the answer.
    let ping = waiting
        .iter()
        .position(|(_, later)| *later == b"PIN")
        .unwrap();
    let mut finished = waiters.swap_remove(ping);
    finished.send(b"G\r\n");
    assert_eq!(finished.reply(), "+PONG\r\n");

    // SIGTERM with all these half-sent commands still open.
    acked.extend(writer.finish().acked);
    assert!(acked.len() >= 10, "{}", acked.len());
    let mut restarted = assert_durable(server, &acked, &[]);
    drop(waiters);
    assert_eq!(
        restarted.raw().cmd(&["GET", "warm:199"]),
        bulk(&"w".repeat(100))
    );
    assert_eq!(restarted.raw().cmd(&["EXISTS", "k", "inline"]), ":0\r\n");
    restarted.assert_alive();
}

/// A client sending a SET one byte every 50 ms gets `+OK` at the end, and another client is
/// served at normal speed the whole time.
#[test]
fn a_byte_at_a_time_client_is_served_and_does_not_slow_others() {
    let server = Tandem::start("slow", &[]);
    let addr = server.addr;
    const BYTE_GAP: Duration = Duration::from_millis(50);
    let request = encode(&["SET", "slow", "patience"]);
    let slow = std::thread::spawn(move || {
        let mut raw = Raw::connect(addr);
        let started = Instant::now();
        for (i, byte) in request.iter().enumerate() {
            raw.send(&[*byte]);
            if i + 1 < request.len() {
                // Nothing is answered before the command is complete.
                assert_eq!(raw.read_until_quiet(BYTE_GAP), Ending::Silent);
                assert!(raw.buf.is_empty(), "early reply after byte {i}");
            }
        }
        let reply = raw.reply();
        (reply, started.elapsed(), request.len())
    });
    let writer = Writer::start(addr, "fast");
    let (reply, slow_elapsed, bytes) = slow.join().expect("slow client");
    let report = writer.finish();
    eprintln!(
        "slow SET: {bytes} bytes in {slow_elapsed:?}; meanwhile the other client ran {} commands, slowest {:?}",
        report.commands, report.latency_max
    );
    assert_eq!(reply, "+OK\r\n");
    // Had the server waited on the slow client, each of its commands would wait for a byte
    // (50 ms): at most ~35 commands in this window, each taking ~50 ms.
    assert!(report.commands >= 200, "{} commands", report.commands);
    assert!(
        report.latency_max < Duration::from_millis(500),
        "{:?}",
        report.latency_max
    );
    let mut pairs = report.acked;
    pairs.push(("slow".into(), "patience".into()));
    assert_durable(server, &pairs, &[]);
}

/// 10,000 idle connections at once: all are accepted, a normal client is still served, memory
/// stays bounded (the per-connection cost is printed), and after they close the server is back
/// to one client and healthy.
#[test]
fn ten_thousand_idle_connections_are_held_and_released() {
    const IDLE: usize = 10_000;
    const FLAGS: &[&str] = &["--clients-max", "10100"];
    let fds = raise_fd_limit(IDLE as u64 + 2_000);
    assert!(
        fds >= IDLE as u64 + 500,
        "RLIMIT_NOFILE {fds} is too low for {IDLE} connections"
    );
    let server = Tandem::start("idle10k", FLAGS);
    let mut good = server.raw();
    assert_eq!(good.cmd(&["SET", "before", "1"]), "+OK\r\n");
    let connected = |good: &mut Raw| -> usize {
        let info = good.cmd(&["INFO", "clients"]);
        let line = info
            .split("\r\n")
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap_or_else(|| panic!("no connected_clients in {info}"));
        line.parse().unwrap()
    };
    let wait_for_clients = |good: &mut Raw, wanted: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = connected(good);
            if now == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connected_clients stuck at {now}, wanted {wanted}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let before = server.memory();
    let started = Instant::now();
    // In batches that the accept loop catches up with: connecting faster than the server
    // accepts overflows the listen backlog (128, mio's default), and each dropped SYN costs the
    // client a 1 s retry.
    const BATCH: usize = 100;
    let mut idle: Vec<std::net::TcpStream> = Vec::with_capacity(IDLE);
    while idle.len() < IDLE {
        for _ in 0..BATCH {
            let stream = std::net::TcpStream::connect(server.addr)
                .unwrap_or_else(|e| panic!("connection {} of {IDLE}: {e}", idle.len()));
            idle.push(stream);
        }
        wait_for_clients(&mut good, idle.len() + 1);
    }
    let connect_elapsed = started.elapsed();
    let held = server.memory();

    // A normal client is still served, quickly.
    let started = Instant::now();
    for i in 0..100 {
        assert_eq!(good.cmd(&["SET", &format!("during:{i}"), "x"]), "+OK\r\n");
    }
    let hundred_sets = started.elapsed();
    let mut fresh = server.raw();
    assert_eq!(fresh.cmd(&["GET", "during:99"]), bulk("x"));
    // The connections are alive, not just counted: one of them is answered.
    let mut probe = Raw::from_stream(idle[IDLE / 2].try_clone().unwrap());
    assert_eq!(probe.cmd(&["PING"]), "+PONG\r\n");
    drop(probe);
    drop(fresh);

    let growth = held.rss_bytes.saturating_sub(before.rss_bytes);
    let per_connection = growth / IDLE as u64;
    eprintln!(
        "{IDLE} idle connections in {connect_elapsed:?}: RSS {} -> {} MiB, {per_connection} bytes each; 100 SETs meanwhile took {hundred_sets:?}",
        before.rss_bytes / MIB,
        held.rss_bytes / MIB,
    );
    assert!(
        per_connection < 64 * 1024,
        "{per_connection} bytes per idle connection"
    );
    assert!(
        hundred_sets < Duration::from_secs(5),
        "{hundred_sets:?} for 100 SETs"
    );

    drop(idle);
    wait_for_clients(&mut good, 1);
    let released = server.memory();
    eprintln!("after closing them: RSS {} MiB", released.rss_bytes / MIB);
    assert_eq!(good.cmd(&["SET", "after", "1"]), "+OK\r\n");
    assert_eq!(good.cmd(&["DBSIZE"]), ":102\r\n");
    let mut pairs: Vec<(String, String)> = (0..100)
        .map(|i| (format!("during:{i}"), "x".to_string()))
        .collect();
    pairs.push(("before".into(), "1".into()));
    pairs.push(("after".into(), "1".into()));
    drop(good);
    assert_durable(server, &pairs, FLAGS);
}

/// `redis-benchmark -t set,get,incr,mset -n 100000 -c 50 -P 16` completes without errors, and
/// its writes are all applied: the INCR test's single counter ends at exactly 100,000, before
/// and after a restart.
#[test]
fn redis_benchmark_runs_clean() {
    const REQUESTS: u64 = 100_000;
    const TIME_MAX: Duration = Duration::from_secs(120);
    let server = Tandem::start("benchmark", &[]);
    let port = server.addr.port().to_string();
    let requests = REQUESTS.to_string();
    let out_dir = common::data_dir("benchmark-out");
    let stdout_path = out_dir.path().join("stdout");
    let stderr_path = out_dir.path().join("stderr");
    let child = std::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(["-t", "set,get,incr,mset", "-n", &requests])
        .args(["-c", "50", "-P", "16", "-q", "--csv"])
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run redis-benchmark ({e}); apt-get install redis-tools")
        });
    let mut child = KillOnDrop(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < TIME_MAX,
            "redis-benchmark still running after {TIME_MAX:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    eprintln!(
        "redis-benchmark in {:?}:\n{stdout}{stderr}",
        started.elapsed()
    );
    assert!(
        status.success(),
        "redis-benchmark: {status}\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.to_lowercase().contains("err") && stderr.trim().is_empty(),
        "errors in redis-benchmark output:\n{stdout}\n{stderr}"
    );
    let mut tests: Vec<&str> = Vec::new();
    for line in stdout.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        let rps: f64 = fields[1].parse().unwrap_or_else(|_| panic!("{line}"));
        assert!(rps > 0.0, "{line}");
        tests.push(fields[0]);
    }
    assert_eq!(tests, ["SET", "GET", "INCR", "MSET (10 keys)"], "{stdout}");

    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["GET", "counter:__rand_int__"]), bulk(&requests));
    let value = raw.cmd(&["GET", "key:__rand_int__"]);
    assert!(value.starts_with("$3\r\n") && value.len() == 9, "{value:?}");
    drop(raw);
    let restarted = server.restart(&[]);
    assert_eq!(
        restarted.raw().cmd(&["GET", "counter:__rand_int__"]),
        bulk(&requests)
    );
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Regression: one write larger than a WAL segment (a 70 MiB SET) made the WAL refuse the log
/// entry, which stopped the consensus engine: the node never acknowledged another write. Now a
/// write that cannot fit in one entry is refused with a clear error and the node keeps serving.
#[test]
fn writes_too_large_for_a_log_entry_are_refused_and_the_node_keeps_serving() {
    let mut server = Tandem::start("too-large", &[]);
    let mut raw = server.raw();
    let huge = vec![b'x'; 70 * MIB as usize];
    raw.send(&common::server::encode_bytes(&[b"SET", b"huge", &huge]));
    let reply = raw.reply();
    assert!(
        reply.starts_with("-ERR the write is too large for one log entry"),
        "{reply}"
    );
    drop(huge);
    // Large writes that fit are still accepted (batches of them are kept within one entry;
    // `a_batch_keeps_within_its_byte_budget` in src/node/lanes.rs checks that part).
    let value = vec![b'a'; 8 * MIB as usize];
    raw.send(&common::server::encode_bytes(&[b"SET", b"big", &value]));
    assert_eq!(raw.reply(), "+OK\r\n");
    server.assert_alive();
    assert_eq!(raw.cmd(&["SET", "after", "ok"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["STRLEN", "big"]), format!(":{}\r\n", 8 * MIB));
    assert_all_present(
        &server,
        &[("after".into(), "ok".into())],
        "after the large writes",
    );
}
