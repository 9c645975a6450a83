//! A rolling restart of a 3-node cluster under load, as `scripts/roll` does it: each node in
//! turn, followers first and the leader last after `tandem cluster step-down` hands its
//! leadership away, is stopped cleanly (SIGTERM), started again with the same binary, and
//! `tandem check` must pass before the next node goes. Meanwhile a writer using Tandem's own
//! exactly-once client appends a unique number per call to one list. Afterwards: every
//! acknowledged number is in the list exactly once, nothing definitely refused is, and the
//! longest time without a successful write is printed (the target is under 1 s; this test does
//! not assert times).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::Cluster;

const TANDEM: &str = env!("CARGO_BIN_EXE_tandem");
/// How long one node may take to come back and pass `tandem check`.
const CHECK_WAIT: Duration = Duration::from_secs(60);

/// What the writer saw.
struct Written {
    acked: Vec<u64>,
    refused: Vec<u64>,
    /// (longest gap between two successful writes, when the gap ended) over the whole run.
    gap_max: Duration,
    calls: u64,
}

fn spawn_writer(targets: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Written> {
    use tandem::client::{CallError, Client, ClientOptions, Value};
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut client = Client::new(targets, ClientOptions::default());
            let mut written = Written {
                acked: Vec::new(),
                refused: Vec::new(),
                gap_max: Duration::ZERO,
                calls: 0,
            };
            let mut last_success = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                written.calls += 1;
                let args: Vec<bytes::Bytes> = ["RPUSH", "roll:log", &n.to_string()]
                    .iter()
                    .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()))
                    .collect();
                match client.write(&args).await {
                    Ok(Value::Integer(_)) => {
                        let now = Instant::now();
                        written.gap_max = written.gap_max.max(now - last_success);
                        last_success = now;
                        written.acked.push(n);
                    }
                    Ok(other) => panic!("unexpected reply {other:?}"),
                    Err(CallError::NotApplied { .. } | CallError::CircuitOpen { .. }) => {
                        written.refused.push(n)
                    }
                    Err(e) => panic!("write {n}: an indefinite answer: {e}"),
                }
            }
            written
        })
    })
}

/// Runs `tandem ARGS` and returns (success, stdout + stderr).
fn tandem(args: &[&str]) -> (bool, String) {
    let output = Command::new(TANDEM)
        .args(args)
        .output()
        .expect("run tandem");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Waits until `tandem check` through `addr` passes.
fn wait_check(addr: &str) {
    let deadline = Instant::now() + CHECK_WAIT;
    loop {
        let (passed, report) = tandem(&["check", "--target", addr]);
        if passed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tandem check through {addr} still fails:\n{report}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rolling_restart_under_load_loses_and_duplicates_nothing() {
    // Fixed client ports: a restarted node comes back where the writer's targets point.
    let ports: Vec<u16> = (0..3).map(|_| common::server::free_port()).collect();
    let listen = ports.clone();
    let mut cluster = Cluster::start_with("rolling-restart", &["a", "b", "c"], move |id| {
        vec![format!("--listen=127.0.0.1:{}", listen[id as usize - 1])]
    });
    cluster.wait_for_leader(Duration::from_secs(20));
    let targets: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    wait_check(&targets[0]);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(targets.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let order: Vec<usize> = (0..3).filter(|&i| i != leader).chain([leader]).collect();
    for i in order {
        let addr = &targets[i];
        // A follower is left alone; the leader hands leadership to the most caught-up voter.
        let (stepped, text) = tandem(&["cluster", "--target", addr, "step-down"]);
        assert!(stepped, "step-down through {addr}: {text}");
        eprintln!("roll: node {} step-down: {}", i + 1, text.trim());
        cluster.stop(i);
        cluster.boot(i);
        wait_check(addr);
        eprintln!(
            "roll: node {} is back and the cluster checks out ({:.1} s into the roll)",
            i + 1,
            started.elapsed().as_secs_f64()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();

    cluster.wait_for_leader(Duration::from_secs(20));
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {reports:?}"
    );
    let list: Vec<u64> = redis::cmd("LRANGE")
        .arg("roll:log")
        .arg(0)
        .arg(-1)
        .query(&mut cluster.client(0))
        .expect("LRANGE");
    let mut seen = std::collections::BTreeSet::new();
    for n in &list {
        assert!(seen.insert(*n), "{n} was applied twice");
    }
    for n in &written.acked {
        assert!(seen.contains(n), "acknowledged write {n} is lost");
    }
    for n in &written.refused {
        assert!(
            !seen.contains(n),
            "write {n} was reported not applied but is in the list"
        );
    }
    // A write whose call never returned (the last one, when `stop` was set) may be either way;
    // every other number is acked or refused, so the list holds nothing else.
    assert!(
        list.len() <= written.acked.len() + 1,
        "{} in the list, {} acked",
        list.len(),
        written.acked.len()
    );
    assert!(
        written.acked.len() > 100,
        "too few writes: {}",
        written.acked.len()
    );
    let summary = format!(
        "rolling restart of 3 nodes: {:.1} s, {} calls, {} acknowledged, {} refused, 0 lost, 0 duplicated; longest gap without a successful write {} ms",
        started.elapsed().as_secs_f64(),
        written.calls,
        written.acked.len(),
        written.refused.len(),
        written.gap_max.as_millis()
    );
    eprintln!("{summary}");
    println!("{summary}");
}
