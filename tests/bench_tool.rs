//! `tandem bench` as users run it: the binary against real `tandem serve` processes, a closed
//! port, and a deliberately slow in-test server, with `--json` read back. No assertion depends
//! on how fast this machine is: the only latency bounds are lower bounds forced by the slow
//! server's sleeps.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use common::server::{free_port, Tandem};
use tandem::bench::{JsonReport, RunReport};

/// Runs `tandem bench` with `args` plus `--json`, returns the process output and the report.
fn bench(name: &str, args: &[&str]) -> (Output, JsonReport) {
    let dir = common::data_dir(name);
    let json = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run tandem bench");
    let report = read_report(&json, &output);
    (output, report)
}

fn read_report(path: &Path, output: &Output) -> JsonReport {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(&text).expect("valid JSON report")
}

fn only_run(report: &JsonReport) -> &RunReport {
    assert_eq!(report.runs.len(), 1, "{report:?}");
    &report.runs[0]
}

fn assert_percentiles_ordered(run: &RunReport) {
    let l = &run.latency_us;
    assert!(
        l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max,
        "{l:?}"
    );
    assert!(
        l.p50 >= 1,
        "a successful operation takes at least 1 µs: {l:?}"
    );
}

fn integer(server: &Tandem, key: &str) -> i64 {
    let reply = server.raw().cmd(&["GET", key]);
    if reply == "$-1\r\n" {
        return 0;
    }
    reply
        .lines()
        .nth(1)
        .expect("bulk")
        .parse()
        .expect("integer")
}

/// A closed-loop run with --requests against a real server measures exactly that many
/// operations, all successful, and the JSON numbers agree with each other and with the server.
#[test]
fn end_to_end_json_is_consistent() {
    let server = Tandem::start("bench-e2e", &[]);
    let addr = server.addr.to_string();
    let (output, report) = bench(
        "bench-e2e-json",
        &[
            "--target",
            &addr,
            "-w",
            "set",
            "--clients",
            "4",
            "--pipeline",
            "5",
            "--requests",
            "1000",
            "--keys",
            "50",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!((run.ops, run.errors_total), (1000, 0), "{run:?}");
    assert!(run.errors.is_empty());
    assert_eq!(
        (run.clients, run.pipeline, run.mode.as_str()),
        (4, 5, "closed")
    );
    assert_eq!(run.target, addr);
    assert_percentiles_ordered(run);
    let implied = run.ops as f64 / run.elapsed_s;
    assert!(
        (run.throughput_ops_per_s / implied - 1.0).abs() < 1e-6,
        "{run:?}"
    );
    let keys = server.raw().cmd(&["DBSIZE"]);
    assert_eq!(keys, ":50\r\n", "1000 SETs over 50 keys touch every key");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("p99.9 ms") && stdout.contains(&addr),
        "{stdout}"
    );
}

/// Transfers are MULTI/EXEC pairs of DECRBY/INCRBY: after any number of them the balances
/// still sum to zero, and every one was counted as a success.
#[test]
fn transfers_conserve_money() {
    let server = Tandem::start("bench-transfer", &[]);
    let addr = server.addr.to_string();
    let (output, report) = bench(
        "bench-transfer-json",
        &[
            "--target",
            &addr,
            "-w",
            "transfer",
            "--clients",
            "3",
            "--pipeline",
            "2",
            "--requests",
            "300",
            "--keys",
            "8",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!((run.ops, run.errors_total), (300, 0), "{run:?}");
    let balances: Vec<i64> = (0..8)
        .map(|k| integer(&server, &format!("balance:{k}")))
        .collect();
    assert_eq!(balances.iter().sum::<i64>(), 0, "{balances:?}");
    assert!(
        balances.iter().any(|b| *b != 0),
        "money moved: {balances:?}"
    );
}

/// INCR on a key holding text fails with ERR: every such operation is an error, none a success,
/// and the run exits non-zero because nothing succeeded.
#[test]
fn error_replies_are_errors() {
    let server = Tandem::start("bench-errors", &[]);
    assert_eq!(server.raw().cmd(&["SET", "word", "abc"]), "+OK\r\n");
    let addr = server.addr.to_string();
    let (output, report) = bench(
        "bench-errors-json",
        &[
            "--target",
            &addr,
            "--command",
            "INCR word",
            "--clients",
            "2",
            "--requests",
            "40",
        ],
    );
    assert!(
        !output.status.success(),
        "no operation succeeded: {output:?}"
    );
    let run = only_run(&report);
    assert_eq!(run.ops, 0, "{run:?}");
    assert_eq!(run.errors.get("ERR"), Some(&40), "{run:?}");
    assert_eq!(run.errors_total, 40);
    assert_eq!(server.raw().cmd(&["GET", "word"]), "$3\r\nabc\r\n");
}

/// Half the keys hold text, half integers: exactly the successful INCRs reached the server.
#[test]
fn successes_match_what_the_server_applied() {
    let server = Tandem::start("bench-mixed-errors", &[]);
    for k in 0..5 {
        server.raw().cmd(&["SET", &format!("key:{k}"), "text"]);
    }
    let addr = server.addr.to_string();
    let (output, report) = bench(
        "bench-mixed-errors-json",
        &[
            "--target",
            &addr,
            "--command",
            "INCR __key__",
            "--keys",
            "10",
            "--clients",
            "3",
            "--pipeline",
            "3",
            "--requests",
            "300",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!(run.ops + run.errors_total, 300, "{run:?}");
    assert_eq!(run.errors.keys().collect::<Vec<_>>(), ["ERR"], "{run:?}");
    let applied: i64 = (5..10).map(|k| integer(&server, &format!("key:{k}"))).sum();
    assert_eq!(applied as u64, run.ops, "{run:?}");
    assert!(run.ops > 0 && run.errors_total > 0, "{run:?}");
}

/// `xadd` fills four streams; `xreadgroup` then consumes them through the consumer group it
/// creates: everything appended is delivered, and all but each client's last delivery is
/// acknowledged (an operation acknowledges what the previous one was given).
#[test]
fn xreadgroup_consumes_and_acknowledges_what_xadd_appended() {
    let server = Tandem::start("bench-streams", &[]);
    let addr = server.addr.to_string();
    let common = ["--target", &addr, "--keys", "4", "--clients", "2"];
    let (output, report) = bench(
        "bench-streams-xadd",
        &[&common[..], &["--workload", "xadd", "--requests", "120"]].concat(),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(only_run(&report).ops, 120, "{report:?}");
    let (output, report) = bench(
        "bench-streams-xreadgroup",
        &[
            &common[..],
            &["--workload", "xreadgroup", "--requests", "400"],
        ]
        .concat(),
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!((run.ops, run.errors_total), (400, 0), "{run:?}");
    // 400 reads over 4 streams of ~30 entries: every entry was delivered to someone.
    let undelivered = server.raw().cmd(&[
        "XREADGROUP",
        "GROUP",
        "tandem-bench",
        "checker",
        "COUNT",
        "1000",
        "STREAMS",
        "stream:0",
        "stream:1",
        "stream:2",
        "stream:3",
        ">",
        ">",
        ">",
        ">",
    ]);
    assert_eq!(undelivered, "*-1\r\n", "entries never delivered");
    let pending: i64 = (0..4)
        .map(|k| {
            let summary = server
                .raw()
                .cmd(&["XPENDING", &format!("stream:{k}"), "tandem-bench"]);
            let count = summary.lines().nth(1).expect("count line");
            count.trim_start_matches(':').parse::<i64>().expect("count")
        })
        .sum();
    assert!(
        pending <= 2,
        "only each client's last delivery may be unacknowledged: {pending}"
    );
    let total: i64 = (0..4)
        .map(|k| {
            let len = server.raw().cmd(&["XLEN", &format!("stream:{k}")]);
            len.trim()
                .trim_start_matches(':')
                .parse::<i64>()
                .expect("XLEN")
        })
        .sum();
    assert_eq!(total, 120);
}

/// Nothing listens on the port: every client's failure is an `io` error, nothing succeeds.
#[test]
fn closed_port_is_an_io_error() {
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let (output, report) = bench(
        "bench-closed",
        &["--target", &target, "--clients", "3", "--requests", "10"],
    );
    assert!(!output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!(run.ops, 0);
    assert_eq!(run.errors.get("io"), Some(&3), "{run:?}");
}

/// With --follow-leader, a client whose first target is down moves on to the next one and the
/// run completes; the gap is reported.
#[test]
fn follow_leader_moves_past_a_dead_target() {
    let server = Tandem::start("bench-follow", &[]);
    let dead = format!("127.0.0.1:{}", free_port());
    let live = server.addr.to_string();
    let (output, report) = bench(
        "bench-follow-json",
        &[
            "--target",
            &dead,
            "--target",
            &live,
            "--follow-leader",
            "--clients",
            "2",
            "--requests",
            "100",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!(run.target, format!("{dead},{live}"));
    assert_eq!((run.ops, run.errors_total), (100, 0), "{run:?}");
    assert!(run.longest_gap_ms.is_some(), "{run:?}");
}

/// Several targets without --follow-leader: one run (one row) per target, same parameters.
#[test]
fn each_target_gets_its_own_run() {
    let a = Tandem::start("bench-two-a", &["--requirepass", "other"]);
    let b = Tandem::start("bench-two-b", &["--requirepass", "secret"]);
    let (a_addr, b_addr) = (a.addr.to_string(), b.addr.to_string());
    let (output, report) = bench(
        "bench-two-json",
        &[
            "--target",
            &a_addr,
            "--target",
            &b_addr,
            "--auth",
            "secret",
            "--resp3",
            "-w",
            "get",
            "--requests",
            "50",
            "--clients",
            "1",
        ],
    );
    // `a` wants another password: the handshake fails there, and that run is all errors.
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(report.runs.len(), 2);
    assert_eq!(report.runs[0].target, a_addr);
    assert_eq!(report.runs[0].ops, 0);
    assert_eq!(
        report.runs[0].errors.get("handshake"),
        Some(&1),
        "{:?}",
        report.runs[0]
    );
    assert_eq!(report.runs[1].target, b_addr);
    assert_eq!(
        (report.runs[1].ops, report.runs[1].errors_total),
        (50, 0),
        "{:?}",
        report.runs[1]
    );
}

/// Answers `+OK` to each command `delay` after reading it, one at a time, and counts commands.
fn slow_server(delay: Duration) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = counter.clone();
            std::thread::spawn(move || serve_slowly(stream, delay, &counter));
        }
    });
    (addr, served)
}

fn serve_slowly(mut stream: TcpStream, delay: Duration, served: &AtomicU64) {
    let limits = tandem::resp::Limits::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Ok(Some(_command)) = tandem::resp::parse_command(&mut buf, &limits) {
            std::thread::sleep(delay);
            served.fetch_add(1, Ordering::SeqCst);
            if stream.write_all(b"+OK\r\n").is_err() {
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Open loop at 200 ops/s against a server that takes 20 ms per command: operation i is due at
/// 5·i ms but answered no earlier than 20·(i+1) ms, so measured from its intended send time the
/// last of 20 takes at least 400 − 95 = 305 ms. Measured from when it was actually sent (after
/// the previous reply) it would look like 20 ms: the run must report the former.
#[test]
fn open_loop_latency_counts_from_the_intended_send_time() {
    let (addr, served) = slow_server(Duration::from_millis(20));
    let target = addr.to_string();
    let (output, report) = bench(
        "bench-open-loop",
        &[
            "--target",
            &target,
            "--rate",
            "200",
            "--clients",
            "1",
            "--pipeline",
            "1",
            "--requests",
            "20",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!((run.ops, run.errors_total), (20, 0), "{run:?}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        20,
        "one command per operation"
    );
    assert_eq!(run.mode, "open");
    assert!(run.latency_us.max >= 305_000, "{:?}", run.latency_us);
    // Operation 10 is due at 50 ms and answered no earlier than 220 ms.
    assert!(run.latency_us.p50 >= 150_000, "{:?}", run.latency_us);
    assert_percentiles_ordered(run);
}

/// The closed loop against the same server waits for each reply before sending: every
/// operation is charged only its own service time (at least the 20 ms sleep).
#[test]
fn closed_loop_latency_counts_from_the_send() {
    let (addr, served) = slow_server(Duration::from_millis(20));
    let target = addr.to_string();
    let (output, report) = bench(
        "bench-closed-loop",
        &["--target", &target, "--clients", "1", "--requests", "5"],
    );
    assert!(output.status.success(), "{output:?}");
    let run = only_run(&report);
    assert_eq!((run.ops, served.load(Ordering::SeqCst)), (5, 5));
    assert!(run.latency_us.p50 >= 20_000, "{:?}", run.latency_us);
}
