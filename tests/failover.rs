//! Fast failover (src/cluster/failover.rs) with real processes: after `kill -9` of the leader
//! a new leader is elected and no acknowledged write is lost, with one leader per term; a
//! connection to a live leader that is reset does not start an election.
//!
//! These tests check correctness, not timing: how fast failover is lives in
//! `cargo bench --bench failover`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{start_writers, Acked, Cluster};

const LEADER_TIMEOUT: Duration = Duration::from_secs(20);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Every (term, new leader) a node logged ("leader changed ... new_leader=Some(N) term=T").
fn leaders_logged(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter(|l| l.contains("leader changed"))
        .filter_map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .map(|v| v.trim_matches(|c: char| !c.is_ascii_digit()).to_string())
            };
            Some((
                field("term=")?.parse().ok()?,
                field("new_leader=")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Asserts that across every node's log, each term had one leader.
fn assert_one_leader_per_term(logs: &[String]) -> BTreeMap<u64, BTreeSet<u64>> {
    let mut per_term: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for log in logs {
        for (term, leader) in leaders_logged(log) {
            per_term.entry(term).or_default().insert(leader);
        }
    }
    for (term, leaders) in &per_term {
        assert_eq!(leaders.len(), 1, "term {term} had leaders {leaders:?}");
    }
    per_term
}

/// kill -9 of the leader under writes through every node: a new leader is elected and
/// acknowledges writes, every write acknowledged before or after the kill is on the survivors,
/// each term had a single leader, and the killed node restarts and ends identical.
#[test]
fn leader_kill_9_elects_a_new_leader_and_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start("fo-kill", &["a", "b", "c"], &[]);
    for round in 0..2 {
        let leader = cluster.wait_for_leader(LEADER_TIMEOUT);
        let addrs: Vec<_> = (0..3).map(|i| cluster.server(i).addr).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Acked = Arc::default();
        let writers = start_writers(addrs, 6, stop.clone(), acked.clone());
        std::thread::sleep(Duration::from_millis(500));
        let before_kill = acked.lock().unwrap().len();
        cluster.kill(leader);
        let deadline = Instant::now() + Duration::from_secs(20);
        while acked.lock().unwrap().len() < before_kill + 100 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() > before_kill,
            "round {round}: no write acknowledged after the kill ({before_kill} before)"
        );
        let new_leader = cluster.wait_for_leader(LEADER_TIMEOUT);
        assert_ne!(new_leader, leader, "round {round}");
        let survivor = (leader + 1) % 3;
        let mut c = cluster.client(survivor);
        for (key, n) in &acked {
            let value: Option<u64> = redis::cmd("GET").arg(key).query(&mut c).unwrap();
            assert_eq!(
                value,
                Some(*n),
                "round {round}: acknowledged write {key} lost"
            );
        }
        let logs: Vec<String> = cluster.up().map(|i| cluster.server(i).log_text()).collect();
        let terms = assert_one_leader_per_term(&logs);
        let fast = logs.iter().any(|l| l.contains("campaigning now"));
        eprintln!(
            "round {round}: {} writes acknowledged ({before_kill} before the kill); leaders by term {terms:?}; fast failover: {fast}",
            acked.len()
        );
        cluster.boot(leader);
        let reports = cluster.wait_for_convergence(CONVERGE_TIMEOUT);
        assert!(
            reports.windows(2).all(|w| w[0] == w[1]),
            "replicas differ (applied index, digest): {reports:?}"
        );
    }
}

/// Resets (with `ss -K`, on the leader's side) the connections the leader holds to a
/// follower's peer port, several times: the follower sees them reset, probes the leader, finds
/// it alive and starts no election; the term and the leader stay the same and writes through
/// the follower keep working. Skipped where `ss -K` cannot destroy sockets (it needs
/// CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY).
#[test]
fn connections_reset_under_a_live_leader_start_no_election() {
    let cluster = Cluster::start("fo-reset", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(LEADER_TIMEOUT);
    let follower = (leader + 1) % 3;
    let port = cluster.members[follower].peer_port;
    let mut c = cluster.client(follower);
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let term = |i: usize| -> u64 { cluster.replication(i)["tandem_term"].parse().unwrap() };
    let terms_before: Vec<u64> = (0..3).map(term).collect();
    let mut destroyed = 0;
    for _ in 0..5 {
        let filter = format!("( dport = :{port} )");
        let out = std::process::Command::new("ss")
            .args(["-K", "-t", "state", "established", &filter])
            .output();
        let Some(out) = out.ok().filter(|o| o.status.success()) else {
            eprintln!("skipped: `ss -K` is not available here");
            return;
        };
        // A header line, then one line per destroyed socket.
        destroyed += String::from_utf8_lossy(&out.stdout)
            .lines()
            .count()
            .saturating_sub(1);
        std::thread::sleep(Duration::from_millis(200));
    }
    if destroyed == 0 {
        eprintln!("skipped: `ss -K` destroyed no socket (no CAP_NET_ADMIN or no SOCK_DESTROY)");
        return;
    }
    // Longer than the lease plus the longest election timeout: a false election would show.
    std::thread::sleep(Duration::from_millis(1_500));
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg(2)
        .query(&mut cluster.client(follower))
        .expect("writes through the follower still work");
    let terms_after: Vec<u64> = (0..3).map(term).collect();
    let log = cluster.server(follower).log_text();
    assert!(
        log.contains("a connection from the leader ended"),
        "the follower never looked at the reset (destroyed {destroyed} sockets); log:\n{log}"
    );
    assert!(
        !log.contains("campaigning now"),
        "the follower campaigned against a live leader; log:\n{log}"
    );
    assert_eq!(
        terms_after, terms_before,
        "a reset connection changed the term (an election ran)"
    );
    assert_eq!(cluster.wait_for_leader(LEADER_TIMEOUT), leader);
}

/// A leader that lost both followers cannot commit, so a write it took is never answered. A
/// SIGTERM must still stop it cleanly (after a bounded wait for the writes it queued) instead
/// of waiting on that write for good, and the write must not be reported done.
#[test]
fn a_leader_without_quorum_stops_on_sigterm_with_a_write_in_flight() {
    let mut cluster = Cluster::start("fo-noquorum", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(LEADER_TIMEOUT);
    let mut client = cluster.client(leader);
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut client)
        .expect("a write with a quorum");
    for follower in (0..3).filter(|&i| i != leader) {
        cluster.kill(follower);
    }
    let mut stuck = cluster.client(leader);
    let writer = std::thread::spawn(move || {
        redis::cmd("SET")
            .arg("after")
            .arg("1")
            .query::<redis::Value>(&mut stuck)
    });
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    // Exit 0 within the harness's bound, or it panics with the node's log.
    cluster.stop(leader);
    let reply = writer.join().expect("writer thread");
    assert!(
        reply.is_err(),
        "a leader without a quorum reported a write done: {reply:?}"
    );
    eprintln!(
        "stopped {:?} after SIGTERM; the write got {reply:?}",
        started.elapsed()
    );
}
