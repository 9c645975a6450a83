//! Failover time of a three-node cluster: from `kill -9` of the leader to the first write
//! acknowledged through a surviving node, over repeated trials (the killed node is restarted
//! and caught up between trials). The clock starts when SIGKILL is sent. A regression here
//! means detection, elections or client forwarding got slower; the target is a median under
//! 300 ms (docs/benchmarks.md, "Failover").
//!
//! `cargo bench --bench failover` runs 20 trials; `-- --test` runs one. Environment:
//! - `FAILOVER_TRIALS=N`: number of kills;
//! - `FAILOVER_SERVE_FLAGS`: extra `tandem serve` flags (e.g. `--leader-probe-ms=0`, the
//!   behaviour without fast failover);
//! - `FAILOVER_BREAKDOWN=1`: nodes log at info level and each trial is split, from the
//!   survivors' log time stamps, into detection (kill → first campaign), election (→ the
//!   first "leader changed" on a survivor) and the rest (→ the write's acknowledgement, which
//!   includes the new leader's first commit and the client finding it);
//! - `FAILOVER_SOAK_SECS=S`: instead of kills, runs `FAILOVER_SOAK_CLIENTS` (default 8)
//!   clients writing and reading through every node for S seconds with no fault, and reports
//!   term changes and leader changes (both must be 0).
//!
//! Real processes on 127.0.0.1; client ports picked by the OS, peer ports below the ephemeral
//! range.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "failover-bench-secret-0123456789";

struct Node {
    id: u64,
    data: PathBuf,
    flags: Vec<String>,
    log_filter: String,
    child: Option<Child>,
    addr: String,
}

/// A free peer port below the kernel's ephemeral range (32768 and up), so the nodes' own
/// port-0 listeners cannot take it before the node that was given it binds it.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 200) as u16 * 10;
    (0..10_000)
        .map(|_| start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 10_000)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .expect("a free port below the ephemeral range")
}

impl Node {
    fn log_path(&self) -> PathBuf {
        self.data.with_extension("log")
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data")
            .arg(&self.data)
            .args(&self.flags)
            .env("RUST_LOG", &self.log_filter)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn tandem serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        self.addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
            .expect("listen=")
            .to_string();
        self.child = Some(child);
    }

    /// SIGKILL; returns the wall-clock time and instant the signal was sent.
    fn kill(&mut self) -> (SystemTime, Instant) {
        let sent = (SystemTime::now(), Instant::now());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        sent
    }

    fn connect(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(format!("redis://{}/", self.addr)).ok()?;
        let c = client
            .get_connection_with_timeout(Duration::from_millis(300))
            .ok()?;
        c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        Some(c)
    }

    /// (role, applied index, term, leader changes) from INFO replication.
    fn role(&self) -> Option<(String, u64, u64, u64)> {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut self.connect()?)
            .ok()?;
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        Some((
            field("tandem_role:")?,
            field("tandem_applied_index:")?.parse().ok()?,
            field("tandem_term:")?.parse().ok()?,
            field("tandem_leader_changes:")?.parse().ok()?,
        ))
    }
}

fn wait_for_steady(nodes: &[Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let roles: Vec<Option<(String, u64, u64, u64)>> = nodes.iter().map(Node::role).collect();
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|i| roles[*i].as_ref().is_some_and(|r| r.0 == "leader"))
            .collect();
        let applied: Vec<u64> = roles.iter().flatten().map(|r| r.1).collect();
        if leaders.len() == 1
            && applied.len() == nodes.len()
            && applied.iter().all(|a| *a == applied[0])
        {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "cluster not steady: {roles:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Microseconds since the epoch of a log line's leading RFC 3339 UTC time stamp
/// (`2026-11-29T13:39:43.123456Z ...`), if it has one.
fn log_time_us(line: &str) -> Option<i64> {
    let stamp = line.split_whitespace().next()?;
    let (date, time) = stamp.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let frac_us = format!("{frac:0<6}")[..6].parse::<i64>().ok()?;
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60 * 1_000_000 + s * 1_000_000 + frac_us)
}

fn unix_us(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as i64
}

/// The first time after `since_us` at which a line containing `needle` was logged by any of
/// `logs`.
fn first_logged(logs: &[PathBuf], needle: &str, since_us: i64) -> Option<i64> {
    logs.iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|text| {
            text.lines()
                .filter(|l| l.contains(needle))
                .filter_map(log_time_us)
                .filter(|t| *t >= since_us)
                .min()
        })
        .min()
}

/// Where one trial's time went, in ms from the kill.
struct Breakdown {
    campaign_ms: f64,
    leader_ms: f64,
    ack_ms: f64,
    fast: bool,
}

fn breakdown(logs: &[PathBuf], killed_us: i64, took: Duration) -> Option<Breakdown> {
    // openraft logs "new candidate" at info when a node starts an election (both paths);
    // Tandem logs "campaigning now" when fast failover starts it.
    let campaign = first_logged(logs, "new candidate", killed_us)?;
    let leader = first_logged(logs, "leader changed", killed_us)?;
    let fast = first_logged(logs, "campaigning now", killed_us).is_some();
    let ms = |us: i64| (us - killed_us) as f64 / 1000.0;
    Some(Breakdown {
        campaign_ms: ms(campaign),
        leader_ms: ms(leader),
        ack_ms: took.as_secs_f64() * 1000.0,
        fast,
    })
}

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn start_cluster(root: &Path, log_filter: &str) -> Vec<Node> {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| {
            let id = i as u64 + 1;
            let mut flags = vec![
                format!("--node-id={id}"),
                format!("--zone={}", ["a", "b", "c"][i]),
                format!("--peer-listen=127.0.0.1:{}", ports[i]),
                format!("--cluster-secret={SECRET}"),
            ];
            for (j, port) in ports.iter().enumerate() {
                if j != i {
                    flags.push(format!("--peer={}@127.0.0.1:{port}", j + 1));
                }
            }
            // Extra `tandem serve` flags, e.g. other election timeouts.
            if let Ok(extra) = std::env::var("FAILOVER_SERVE_FLAGS") {
                flags.extend(extra.split_whitespace().map(str::to_string));
            }
            Node {
                id,
                data: root.join(format!("n{id}")),
                flags,
                log_filter: log_filter.to_string(),
                child: None,
                addr: String::new(),
            }
        })
        .collect();
    for node in &mut nodes {
        node.start();
    }
    nodes
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let dir = tempfile::Builder::new()
        .prefix("failover-bench")
        .tempdir_in(&root)
        .expect("temp dir");
    if let Some(secs) = env_number::<u64>("FAILOVER_SOAK_SECS") {
        return soak(dir.path(), Duration::from_secs(secs));
    }
    let trials: usize = env_number("FAILOVER_TRIALS").unwrap_or(if test_mode { 1 } else { 20 });
    let detailed = std::env::var("FAILOVER_BREAKDOWN").is_ok_and(|v| v == "1");
    let log_filter = if detailed {
        "tandem=info,openraft=info"
    } else {
        "tandem=warn,openraft=error"
    };
    let mut nodes = start_cluster(dir.path(), log_filter);
    let mut samples = Vec::new();
    let mut parts = Vec::new();
    for trial in 1..=trials {
        let leader = wait_for_steady(&nodes);
        let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
        let mut client = nodes[survivors[0]]
            .connect()
            .expect("connect to a follower");
        let _: () = redis::cmd("SET")
            .arg("warm")
            .arg(trial)
            .query(&mut client)
            .expect("write before the kill");
        let (killed_at, killed) = nodes[leader].kill();
        let mut next = 0;
        let mut errors = 0;
        loop {
            let ok: redis::RedisResult<()> =
                redis::cmd("SET").arg("probe").arg(trial).query(&mut client);
            if ok.is_ok() {
                break;
            }
            errors += 1;
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "no failover within 30 s"
            );
            next = (next + 1) % survivors.len();
            if let Some(c) = nodes[survivors[next]].connect() {
                client = c;
            }
        }
        let took = killed.elapsed();
        let detail = if detailed {
            let logs: Vec<PathBuf> = survivors.iter().map(|i| nodes[*i].log_path()).collect();
            match breakdown(&logs, unix_us(killed_at), took) {
                Some(b) => {
                    let line = format!(
                        " (campaign {:.1} ms{}, leader {:.1} ms, {errors} client errors)",
                        b.campaign_ms,
                        if b.fast { " fast" } else { " by timeout" },
                        b.leader_ms
                    );
                    parts.push(b);
                    line
                }
                None => " (no breakdown: log lines missing)".to_string(),
            }
        } else {
            String::new()
        };
        println!(
            "trial {trial:>2}: killed node {}, first acknowledged write after {:>4} ms{detail}",
            nodes[leader].id,
            took.as_millis()
        );
        samples.push(took);
        nodes[leader].start();
    }
    for node in &mut nodes {
        node.kill();
    }
    samples.sort();
    println!(
        "failover over {} trials: median {} ms, p90 {} ms, min {} ms, max {} ms",
        samples.len(),
        percentile(&samples, 50.0).as_millis(),
        percentile(&samples, 90.0).as_millis(),
        samples[0].as_millis(),
        samples[samples.len() - 1].as_millis()
    );
    if !parts.is_empty() {
        let median = |f: &dyn Fn(&Breakdown) -> f64| {
            let mut v: Vec<f64> = parts.iter().map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let detect = median(&|b| b.campaign_ms);
        let elect = median(&|b| b.leader_ms - b.campaign_ms);
        let rest = median(&|b| b.ack_ms - b.leader_ms);
        let fast = parts.iter().filter(|b| b.fast).count();
        println!(
            "breakdown (medians over {} trials, {fast} by fast failover): detection {detect:.1} ms, \
             election {elect:.1} ms, new leader to acknowledged write {rest:.1} ms",
            parts.len()
        );
    }
}

/// No faults: load through every node for `length`; every election is a false one.
fn soak(root: &Path, length: Duration) {
    let clients: usize = env_number("FAILOVER_SOAK_CLIENTS").unwrap_or(8);
    let mut nodes = start_cluster(root, "tandem=warn,openraft=error");
    let leader = wait_for_steady(&nodes);
    // A follower counts its first leader once it hears from it, which can come after the
    // cluster looks steady: take the baseline once every node has.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !nodes.iter().all(|n| n.role().is_some_and(|r| r.3 >= 1)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let before: Vec<(u64, u64)> = nodes
        .iter()
        .map(|n| n.role().map(|r| (r.2, r.3)).expect("INFO"))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    // Every distinct error a client saw (the first time), with the node it was connected to.
    let error_kinds = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let workers: Vec<_> = (0..clients)
        .map(|worker| {
            let (stop, ops, errors) = (stop.clone(), ops.clone(), errors.clone());
            let error_kinds = error_kinds.clone();
            let addr = addrs[worker % addrs.len()].clone();
            let node = addr.clone();
            let note = move |error: String| {
                let mut kinds = error_kinds.lock().expect("error kinds");
                *kinds.entry(format!("{node}: {error}")).or_default() += 1;
            };
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://{addr}/")).expect("url");
                let mut conn = None;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if conn.is_none() {
                        conn = match client.get_connection_with_timeout(Duration::from_secs(1)) {
                            Ok(conn) => Some(conn),
                            Err(e) => {
                                note(format!("connect: {e}"));
                                None
                            }
                        };
                        if conn.is_none() {
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    }
                    let c = conn.as_mut().expect("connected");
                    let key = format!("soak:{worker}:{}", n % 1000);
                    let result: redis::RedisResult<()> = if n % 4 == 3 {
                        redis::cmd("GET")
                            .arg(&key)
                            .query::<Option<u64>>(c)
                            .map(|_| ())
                    } else {
                        redis::cmd("SET").arg(&key).arg(n).query(c)
                    };
                    match result {
                        Ok(()) => {
                            ops.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            note(format!("{}: {e}", if n % 4 == 3 { "GET" } else { "SET" }));
                            errors.fetch_add(1, Ordering::Relaxed);
                            conn = None;
                        }
                    }
                    n += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut changes_seen = Vec::new();
    let mut terms: Vec<u64> = before.iter().map(|b| b.0).collect();
    while started.elapsed() < length {
        std::thread::sleep(Duration::from_millis(500));
        for (i, node) in nodes.iter().enumerate() {
            if let Some((role, _, term, _)) = node.role() {
                if term != terms[i] {
                    changes_seen.push(format!(
                        "{:.1} s: node {} term {} -> {term} ({role})",
                        started.elapsed().as_secs_f64(),
                        node.id,
                        terms[i]
                    ));
                    terms[i] = term;
                }
            }
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "soak {:>4} s: {} ops, {} errors, term changes so far {}",
                started.elapsed().as_secs(),
                ops.load(Ordering::Relaxed),
                errors.load(Ordering::Relaxed),
                changes_seen.len()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let elapsed = started.elapsed();
    let after: Vec<(u64, u64)> = nodes
        .iter()
        .map(|n| n.role().map(|r| (r.2, r.3)).expect("INFO"))
        .collect();
    for node in &mut nodes {
        node.kill();
    }
    let term_changes = (0..3).map(|i| after[i].0 - before[i].0).max().unwrap_or(0);
    let leader_changes: u64 = (0..3).map(|i| after[i].1 - before[i].1).sum();
    for change in &changes_seen {
        println!("  {change}");
    }
    for (error, count) in error_kinds.lock().expect("error kinds").iter() {
        println!("  client error x{count}: {error}");
    }
    let total = ops.load(Ordering::Relaxed);
    println!(
        "soak over {:.0} s, {clients} clients, leader node {}: {total} ops ({:.0}/s), {} errors, \
         elections (term changes) {term_changes}, leader changes seen by the nodes {leader_changes}",
        elapsed.as_secs_f64(),
        nodes[leader].id,
        total as f64 / elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed),
    );
}
