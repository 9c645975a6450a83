//! Priority lanes, proved on a real `tandem serve` over loopback: the p99 of critical transfers
//! (4 connections, MULTI/DECRBY/INCRBY/EXEC) measured alone and under bulk saturation (64
//! connections: pipelined SETs, and large HGETALLs and SCANs), with lanes on (critical on
//! `critical_listen`, bulk connections `CLIENT PRIORITY bulk`) and off (everyone normal on the
//! plain listener) as the control, in the same run on the same machine.
//!
//! Targets (docs/benchmarks.md, "Priority lanes"): critical p99 under bulk with lanes on <= 2x
//! critical p99 alone; bulk throughput with lanes on within 20% of lanes off. For the lanes-on
//! cases it also shows where the server spent critical writes' time (lane wait, proposal to local
//! fsync, fsync to answered), from the server's /metrics scraped before and after each phase.
//!
//! Run: `cargo bench --bench lanes` (about two minutes; `LANES_BENCH_RUNS`, `LANES_BENCH_SECS`
//! and `LANES_BENCH_BULK` override the 3 runs, 5 s phases and 64 bulk connections;
//! `LANES_BENCH_SERVER_FLAGS` adds `tandem serve` flags; `LANES_BENCH_CRITICAL_RATE=N` paces the
//! critical clients at N transfers/s in all (open loop, latency counted from each transfer's
//! scheduled start, so a stall is not hidden by the client waiting), instead of the default
//! closed loop where each client sends its next transfer as soon as the last is answered). With
//! `-- --test` (as CI does) every size is tiny so it only proves the code runs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Critical connections (the issue's 4 transfer clients).
const CRITICAL_CONNECTIONS: usize = 4;
/// Accounts the transfers move money between.
const ACCOUNTS: u64 = 1_000;
/// SETs per pipelined request of a bulk writer.
const BULK_PIPELINE: usize = 16;
/// Bytes per bulk SET value.
const BULK_VALUE_BYTES: usize = 100;
/// Share of bulk connections that read (HGETALL / SCAN) instead of writing: one in this many.
const BULK_READER_EVERY: usize = 4;

struct Sizes {
    runs: usize,
    phase: Duration,
    warmup: Duration,
    bulk_connections: usize,
    hash_fields: usize,
    scan_keys: usize,
    /// Transfers per second over all critical clients; None: closed loop.
    critical_rate: Option<u64>,
}

impl Sizes {
    fn from_env(test: bool) -> Sizes {
        let env = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        if test {
            return Sizes {
                runs: 1,
                phase: Duration::from_millis(200),
                warmup: Duration::from_millis(50),
                bulk_connections: 4,
                hash_fields: 100,
                scan_keys: 100,
                critical_rate: None,
            };
        }
        Sizes {
            runs: env("LANES_BENCH_RUNS", 3) as usize,
            phase: Duration::from_secs(env("LANES_BENCH_SECS", 5)),
            warmup: Duration::from_secs(1),
            bulk_connections: env("LANES_BENCH_BULK", 64) as usize,
            hash_fields: 10_000,
            scan_keys: 20_000,
            critical_rate: Some(env("LANES_BENCH_CRITICAL_RATE", 0)).filter(|rate| *rate > 0),
        }
    }
}

/// A `tandem serve` child with a critical listener; SIGTERMed on drop.
struct Server {
    child: Child,
    plain: SocketAddr,
    critical: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
        std::fs::create_dir_all(&root).expect("bench dir");
        let dir = tempfile::Builder::new()
            .prefix("lanes")
            .tempdir_in(root)
            .expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--critical-listen", "127.0.0.1:0"])
            .args(server_flags())
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("RUST_LOG", "tandem=warn,openraft=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tandem serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        let field = |key: &str| -> SocketAddr {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .parse()
                .expect("address")
        };
        let (plain, critical, admin) = (field("listen="), field("critical="), field("admin="));
        assert!([plain, critical, admin]
            .iter()
            .all(|a| a.ip().is_loopback()));
        Server {
            child,
            plain,
            critical,
            admin,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Extra `tandem serve` flags from `LANES_BENCH_SERVER_FLAGS` (e.g. a lane limit to compare).
fn server_flags() -> Vec<String> {
    std::env::var("LANES_BENCH_SERVER_FLAGS")
        .map(|flags| flags.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Length of the first complete RESP2 frame in `buf`, if there is one.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let after = line_end + 2;
    let number = || -> Option<i64> { std::str::from_utf8(&buf[1..line_end]).ok()?.parse().ok() };
    match buf[0] {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let n = number()?;
            let end = if n < 0 { after } else { after + n as usize + 2 };
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let mut at = after;
            for _ in 0..number()?.max(0) {
                at += frame_len(&buf[at..])?;
            }
            Some(at)
        }
        other => panic!("unexpected reply byte {:?}", other as char),
    }
}

/// One RESP connection: send a request (one or more commands), read its replies.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Sends `request` and reads `replies` frames; returns (error replies, the first reply).
    async fn call(&mut self, request: &[u8], replies: usize) -> (usize, Vec<u8>) {
        self.stream.write_all(request).await.expect("send");
        let mut errors = 0;
        let mut first = Vec::new();
        for i in 0..replies {
            let len = loop {
                if !self.buf.is_empty() {
                    if let Some(len) = frame_len(&self.buf) {
                        break len;
                    }
                }
                if self.buf.capacity() - self.buf.len() < 16 * 1024 {
                    self.buf.reserve(64 * 1024);
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "server closed the connection");
            };
            errors += usize::from(self.buf[0] == b'-');
            if i == 0 {
                first = self.buf[..len.min(256)].to_vec();
            }
            self.buf.advance(len);
        }
        (errors, first)
    }
}

/// Where each kind of client connects.
#[derive(Clone, Copy, PartialEq)]
enum Lanes {
    /// Everyone normal on the plain listener (the control).
    Off,
    /// Critical clients on `critical_listen`, bulk clients `CLIENT PRIORITY bulk`.
    On,
}

/// What one phase measured.
#[derive(Clone, Copy, Debug, Default)]
struct Phase {
    critical_p50_us: f64,
    critical_p99_us: f64,
    critical_max_us: f64,
    critical_per_s: f64,
    bulk_ops_per_s: f64,
    bulk_busy: u64,
    /// Server side, critical writes during the phase: p99 bucket bounds (µs) of the lane wait,
    /// proposal → local fsync, and fsync → answered stages.
    server_p99_us: [f64; 3],
}

/// The server's per-class stage histograms on /metrics, in the order of `Phase::server_p99_us`.
const SERVER_STAGES: [&str; 3] = ["wait", "flush", "answer"];

/// Cumulative bucket counts `(le seconds, count)` of the critical class's stage histograms,
/// scraped from the admin endpoint's /metrics.
fn scrape_critical_stages(admin: SocketAddr) -> [Vec<(f64, u64)>; 3] {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).expect("connect admin");
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("metrics");
    SERVER_STAGES.map(|stage| {
        let prefix = format!("tandem_lane_{stage}_seconds_bucket{{class=\"critical\",le=\"");
        body.lines()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .map(|rest| {
                let (le, count) = rest.split_once("\"} ").expect("bucket sample");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("le")
                };
                (le, count.trim().parse().expect("count"))
            })
            .collect()
    })
}

/// The p99 bucket bound in µs of the observations between two scrapes (0 if there were none).
fn p99_between(before: &[(f64, u64)], after: &[(f64, u64)]) -> f64 {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .zip(before)
        .map(|(&(le, a), &(_, b))| (le, a - b))
        .collect();
    let total = delta.last().map_or(0, |&(_, count)| count);
    let rank = (total as f64 * 0.99).ceil() as u64;
    delta
        .iter()
        .find(|&&(_, count)| total > 0 && count >= rank)
        .map_or(0.0, |&(le, _)| le * 1e6)
}

/// One critical connection. `interval`: open loop, one transfer per interval, latency measured
/// from its scheduled start; None: closed loop.
async fn critical_client(
    addr: SocketAddr,
    seed: u64,
    stop: Arc<AtomicBool>,
    interval: Option<Duration>,
) -> Histogram<u64> {
    let mut conn = Conn::connect(addr).await;
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    let mut state = seed | 1;
    let mut request = Vec::new();
    let mut next_start = tokio::time::Instant::now();
    let mut previous_done = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let scheduled = match interval {
            Some(interval) => {
                tokio::time::sleep_until(next_start).await;
                let scheduled = next_start.into_std();
                next_start += interval;
                // Late because the previous transfer was slow: count from the schedule (the
                // wait is the server's). Late only because the client's timer fired late
                // (millisecond granularity): count from now (the wait is the client's).
                if previous_done > scheduled {
                    scheduled
                } else {
                    Instant::now()
                }
            }
            None => Instant::now(),
        };
        // xorshift: accounts differ per transfer, no allocation-heavy RNG in the loop.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let from = format!("balance:{}", state % ACCOUNTS);
        let to = format!("balance:{}", (state / ACCOUNTS) % ACCOUNTS);
        request.clear();
        encode(&[b"MULTI"], &mut request);
        encode(&[b"DECRBY", from.as_bytes(), b"5"], &mut request);
        encode(&[b"INCRBY", to.as_bytes(), b"5"], &mut request);
        encode(&[b"EXEC"], &mut request);
        let (errors, _) = conn.call(&request, 4).await;
        previous_done = Instant::now();
        histogram
            .record((previous_done - scheduled).as_micros() as u64)
            .expect("record");
        assert_eq!(errors, 0, "critical transfers must not fail");
    }
    histogram
}

async fn bulk_client(
    addr: SocketAddr,
    index: usize,
    lanes: Lanes,
    stop: Arc<AtomicBool>,
    ops: Arc<AtomicU64>,
    busy: Arc<AtomicU64>,
) {
    let mut conn = Conn::connect(addr).await;
    if lanes == Lanes::On {
        let mut request = Vec::new();
        encode(&[b"CLIENT", b"PRIORITY", b"bulk"], &mut request);
        assert_eq!(conn.call(&request, 1).await.0, 0);
    }
    let value = vec![b'x'; BULK_VALUE_BYTES];
    let reader = index % BULK_READER_EVERY == 0;
    let mut request = Vec::new();
    let mut cursor = b"0".to_vec();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        request.clear();
        round += 1;
        if reader && round % 2 == 0 {
            encode(&[b"HGETALL", b"bulk:hash"], &mut request);
            conn.call(&request, 1).await;
            ops.fetch_add(1, Ordering::Relaxed);
        } else if reader {
            encode(&[b"SCAN", &cursor, b"COUNT", b"1000"], &mut request);
            let (_, first) = conn.call(&request, 1).await;
            // *2\r\n$<n>\r\n<cursor>\r\n...: take the next cursor.
            cursor = first
                .split(|&b| b == b'\n')
                .nth(2)
                .map(|c| c.strip_suffix(b"\r").unwrap_or(c).to_vec())
                .unwrap_or_else(|| b"0".to_vec());
            ops.fetch_add(1, Ordering::Relaxed);
        } else {
            for i in 0..BULK_PIPELINE {
                let key = format!(
                    "bulk:{index}:{}",
                    (round * BULK_PIPELINE as u64 + i as u64) % 10_000
                );
                encode(&[b"SET", key.as_bytes(), &value], &mut request);
            }
            let (errors, _) = conn.call(&request, BULK_PIPELINE).await;
            ops.fetch_add((BULK_PIPELINE - errors) as u64, Ordering::Relaxed);
            busy.fetch_add(errors as u64, Ordering::Relaxed);
        }
    }
}

/// Fills the hash HGETALL reads and the keys SCAN walks.
async fn preload(addr: SocketAddr, sizes: &Sizes) {
    let mut conn = Conn::connect(addr).await;
    for chunk in (0..sizes.hash_fields).collect::<Vec<_>>().chunks(500) {
        let fields: Vec<(String, String)> = chunk
            .iter()
            .map(|i| (format!("field:{i}"), format!("value-{i}")))
            .collect();
        let mut args: Vec<&[u8]> = vec![b"HSET", b"bulk:hash"];
        for (f, v) in &fields {
            args.push(f.as_bytes());
            args.push(v.as_bytes());
        }
        let mut request = Vec::new();
        encode(&args, &mut request);
        assert_eq!(conn.call(&request, 1).await.0, 0);
    }
    for chunk in (0..sizes.scan_keys).collect::<Vec<_>>().chunks(500) {
        let mut request = Vec::new();
        for i in chunk {
            encode(
                &[b"SET", format!("scan:{i}").as_bytes(), b"v"],
                &mut request,
            );
        }
        assert_eq!(conn.call(&request, chunk.len()).await.0, 0);
    }
}

/// One phase: bulk load (if any) warms up, then critical clients are measured for `sizes.phase`.
fn run_phase(server: &Server, lanes: Lanes, with_bulk: bool, sizes: &Sizes) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicU64::new(0));
    // The bulk load runs on its own runtime thread, so its client-side work does not delay the
    // critical clients' timing (that runtime is below). In production the load would come from
    // other machines; here it shares the two cores with the server and the critical clients, so
    // its thread runs at nice 10 (lanes on and off alike): generating load must not take the
    // CPU the server needs to serve it.
    let bulk = with_bulk.then(|| {
        let (stop, ops, busy) = (stop.clone(), ops.clone(), busy.clone());
        let addr = server.plain;
        let connections = sizes.bulk_connections;
        std::thread::spawn(move || {
            // SAFETY: setpriority(2) on this thread (a Linux thread id is a PRIO_PROCESS target).
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let tasks: Vec<_> = (0..connections)
                    .map(|i| {
                        tokio::spawn(bulk_client(
                            addr,
                            i,
                            lanes,
                            stop.clone(),
                            ops.clone(),
                            busy.clone(),
                        ))
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("bulk client");
                }
            });
        })
    });
    if with_bulk {
        std::thread::sleep(sizes.warmup);
    }
    let critical_addr = match lanes {
        Lanes::On => server.critical,
        Lanes::Off => server.plain,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stages_before = scrape_critical_stages(server.admin);
    let ops_before = ops.load(Ordering::Relaxed);
    let started = Instant::now();
    let histogram = runtime.block_on(async {
        let interval = sizes
            .critical_rate
            .map(|rate| Duration::from_secs_f64(CRITICAL_CONNECTIONS as f64 / rate as f64));
        let clients: Vec<_> = (0..CRITICAL_CONNECTIONS)
            .map(|i| {
                tokio::spawn(critical_client(
                    critical_addr,
                    0x9E37_79B9 + i as u64,
                    stop.clone(),
                    interval,
                ))
            })
            .collect();
        tokio::time::sleep(sizes.phase).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Histogram::<u64>::new(3).unwrap();
        for client in clients {
            all.add(client.await.expect("critical client")).unwrap();
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let bulk_ops = ops.load(Ordering::Relaxed) - ops_before;
    let stages_after = scrape_critical_stages(server.admin);
    if let Some(bulk) = bulk {
        bulk.join().expect("bulk thread");
    }
    Phase {
        critical_p50_us: histogram.value_at_quantile(0.50) as f64,
        critical_p99_us: histogram.value_at_quantile(0.99) as f64,
        critical_max_us: histogram.max() as f64,
        critical_per_s: histogram.len() as f64 / elapsed,
        bulk_ops_per_s: bulk_ops as f64 / elapsed,
        bulk_busy: busy.load(Ordering::Relaxed),
        server_p99_us: [0, 1, 2].map(|i| p99_between(&stages_before[i], &stages_after[i])),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

const CASES: [(&str, Lanes, bool); 4] = [
    ("critical alone, lanes off", Lanes::Off, false),
    ("critical alone, lanes on", Lanes::On, false),
    ("critical + bulk, lanes off", Lanes::Off, true),
    ("critical + bulk, lanes on", Lanes::On, true),
];

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let sizes = Sizes::from_env(test);
    println!(
        "lanes bench: {} run(s), {:?} per phase, {} critical + {} bulk connections, critical {}",
        sizes.runs,
        sizes.phase,
        CRITICAL_CONNECTIONS,
        sizes.bulk_connections,
        match sizes.critical_rate {
            Some(rate) => format!("paced at {rate} transfers/s (open loop)"),
            None => "closed loop".to_string(),
        }
    );
    let mut results: Vec<Vec<Phase>> = vec![Vec::new(); CASES.len()];
    for run in 0..sizes.runs {
        // A fresh server per run: no run inherits another's keyspace or WAL.
        let server = Server::start();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(preload(server.plain, &sizes));
        for (i, (name, lanes, with_bulk)) in CASES.iter().enumerate() {
            let phase = run_phase(&server, *lanes, *with_bulk, &sizes);
            println!(
                "run {run} {name:<28} critical p50 {:>7.0} µs p99 {:>7.0} µs max {:>7.0} µs \
                 {:>7.0} transfers/s | bulk {:>9.0} ops/s busy {} | server p99 <= wait {:.0} flush {:.0} \
                 answer {:.0} µs",
                phase.critical_p50_us,
                phase.critical_p99_us,
                phase.critical_max_us,
                phase.critical_per_s,
                phase.bulk_ops_per_s,
                phase.bulk_busy,
                phase.server_p99_us[0],
                phase.server_p99_us[1],
                phase.server_p99_us[2],
            );
            results[i].push(phase);
        }
    }
    println!("\nmedians of {} run(s):", sizes.runs);
    println!("| case | critical p50 µs | critical p99 µs | critical transfers/s | bulk ops/s | bulk BUSY |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let medians: Vec<Phase> = results
        .iter()
        .map(|phases| {
            let m = |f: fn(&Phase) -> f64| median(phases.iter().map(f).collect());
            Phase {
                critical_p50_us: m(|p| p.critical_p50_us),
                critical_p99_us: m(|p| p.critical_p99_us),
                critical_max_us: m(|p| p.critical_max_us),
                critical_per_s: m(|p| p.critical_per_s),
                bulk_ops_per_s: m(|p| p.bulk_ops_per_s),
                bulk_busy: m(|p| p.bulk_busy as f64) as u64,
                server_p99_us: [0, 1, 2]
                    .map(|i| median(phases.iter().map(|p| p.server_p99_us[i]).collect())),
            }
        })
        .collect();
    for ((name, _, _), m) in CASES.iter().zip(&medians) {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
            m.critical_p50_us, m.critical_p99_us, m.critical_per_s, m.bulk_ops_per_s, m.bulk_busy
        );
    }
    println!("\nserver side, critical writes (median of the phases' p99 bucket bounds, µs):");
    println!("| case | lane wait | proposal → local fsync | fsync → answered |");
    println!("| --- | --- | --- | --- |");
    for ((name, _, _), m) in CASES.iter().zip(&medians) {
        // Lanes off, the critical clients are `normal` like the bulk load: nothing to show.
        let [wait, flush, answer] = m.server_p99_us.map(|us| match us {
            0.0 => "–".to_string(),
            us => format!("{us:.0}"),
        });
        println!("| {name} | {wait} | {flush} | {answer} |");
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    println!(
        "\ncritical p99 under bulk / alone: lanes on {:.2}x (target <= 2x), lanes off {:.2}x",
        ratio(medians[3].critical_p99_us, medians[1].critical_p99_us),
        ratio(medians[2].critical_p99_us, medians[0].critical_p99_us),
    );
    println!(
        "bulk throughput lanes on / off: {:.2} (target >= 0.80)",
        ratio(medians[3].bulk_ops_per_s, medians[2].bulk_ops_per_s)
    );
}
