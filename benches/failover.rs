//! Failover time of a three-node cluster: from `kill -9` of the leader to the first write
//! acknowledged through a surviving node, over repeated trials (the killed node is restarted
//! and caught up between trials). A regression here means elections or client forwarding got
//! slower; the target is a median under one second.
//!
//! `cargo bench --bench failover` runs 20 trials; `-- --test` runs one. `FAILOVER_TRIALS=N`
//! overrides; `FAILOVER_SERVE_FLAGS` adds `tandem serve` flags. Real processes on 127.0.0.1, ports picked by the OS.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "failover-bench-secret-0123456789";

struct Node {
    id: u64,
    data: PathBuf,
    flags: Vec<String>,
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
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))
            .expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data")
            .arg(&self.data)
            .args(&self.flags)
            .env("RUST_LOG", "tandem=warn,openraft=error")
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

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn connect(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(format!("redis://{}/", self.addr)).ok()?;
        let c = client
            .get_connection_with_timeout(Duration::from_millis(300))
            .ok()?;
        c.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        Some(c)
    }

    fn role(&self) -> Option<(String, u64)> {
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
        ))
    }
}

fn wait_for_steady(nodes: &[Node]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let roles: Vec<Option<(String, u64)>> = nodes.iter().map(Node::role).collect();
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

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let trials: usize = std::env::var("FAILOVER_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if test_mode { 1 } else { 20 });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let dir = tempfile::Builder::new()
        .prefix("failover-bench")
        .tempdir_in(&root)
        .expect("temp dir");
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
                data: dir.path().join(format!("n{id}")),
                flags,
                child: None,
                addr: String::new(),
            }
        })
        .collect();
    for node in &mut nodes {
        node.start();
    }
    let mut samples = Vec::new();
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
        nodes[leader].kill();
        let killed = Instant::now();
        let mut next = 0;
        loop {
            let ok: redis::RedisResult<()> =
                redis::cmd("SET").arg("probe").arg(trial).query(&mut client);
            if ok.is_ok() {
                break;
            }
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
        println!(
            "trial {trial:>2}: killed node {}, first acknowledged write after {:>4} ms",
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
}
