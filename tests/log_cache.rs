//! The bounded log cache on a real three-node cluster: a follower that misses more log than the
//! cache holds catches up, by reading the evicted entries back from the leader's WAL or by a
//! snapshot (taken because of the log's bytes), and every node ends with the same digest. The
//! cache also lets go of entries as soon as they are applied and every follower has them.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::cluster::Cluster;

/// The cache bound every node runs with: a few dozen of the test's entries.
const CACHE_BYTES_MAX: u64 = 64 * 1024;
/// Each SET carries this much value, so the writes below are many times the bound.
const VALUE_BYTES: usize = 1024;

/// `INFO tandem` of member `i` as key → value.
fn info_tandem(cluster: &Cluster, i: usize) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("tandem")
        .query(&mut cluster.client(i))
        .expect("INFO tandem");
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?)))
        .collect()
}

/// Sets `count` keys `prefix:<n>` through the leader, 50 per pipeline (one log entry or a few
/// each), every one acknowledged.
fn write_keys(cluster: &Cluster, leader: usize, prefix: &str, count: usize) {
    let mut connection = cluster.client(leader);
    let value = "v".repeat(VALUE_BYTES);
    for chunk in (0..count).collect::<Vec<_>>().chunks(50) {
        let mut pipe = redis::pipe();
        for n in chunk {
            pipe.cmd("SET").arg(format!("{prefix}:{n}")).arg(&value);
        }
        let replies: Vec<String> = pipe.query(&mut connection).expect("SETs");
        assert!(replies.iter().all(|r| r == "OK"), "{replies:?}");
    }
}

/// Waits until `INFO tandem` of member `i` satisfies `done`; returns it (fails after 30 s).
fn wait_for_info(
    cluster: &Cluster,
    i: usize,
    what: &str,
    done: impl Fn(&HashMap<String, u64>) -> bool,
) -> HashMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = info_tandem(cluster, i);
        if done(&info) {
            return info;
        }
        assert!(
            Instant::now() < deadline,
            "node {i}: {what} within 30 s: {info:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_converged(cluster: &Cluster) {
    let reports = cluster.wait_for_convergence(Duration::from_secs(60));
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]) && !reports[0].1.is_empty(),
        "replicas differ: {reports:?}"
    );
}

/// A follower killed while the leader writes 3 MiB of log (50 times its 64 KiB cache) comes
/// back and catches up from the leader's WAL: no snapshot is due (both snapshot triggers are far
/// off), so the entries it missed can only come from reading evicted records back.
#[test]
fn a_follower_behind_by_more_than_the_cache_catches_up_from_the_wal() {
    let cache = format!("--log-cache-bytes-max={CACHE_BYTES_MAX}");
    let mut cluster = Cluster::start(
        "log-cache-readback",
        &["a", "b", "c"],
        &[
            &cache,
            "--snapshot-logs-since-last=1000000",
            "--snapshot-log-bytes-since-last=0",
        ],
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    write_keys(&cluster, leader, "before", 100);
    let follower = (leader + 1) % 3;
    cluster.kill(follower);
    write_keys(&cluster, leader, "missed", 3000);

    let info = info_tandem(&cluster, leader);
    assert_eq!(info["log_cache_bytes_max"], CACHE_BYTES_MAX);
    assert!(
        info["log_held_bytes"] > 40 * CACHE_BYTES_MAX,
        "the log holds far more than the cache: {info:?}"
    );
    assert!(
        info["log_cache_entries"] < info["log_held_entries"],
        "entries were evicted: {info:?}"
    );
    assert_eq!(info["log_snapshot"], 0, "no snapshot was due: {info:?}");
    let reads_before = info["log_wal_read_entries"];

    cluster.boot(follower);
    assert_converged(&cluster);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let info = info_tandem(&cluster, leader);
    assert!(
        info["log_wal_read_entries"] > reads_before,
        "the follower's catch-up read evicted entries back from the WAL: {info:?}"
    );
    assert_eq!(
        info["log_snapshot"], 0,
        "caught up without a snapshot: {info:?}"
    );
    let mut connection = cluster.client(follower);
    let _: () = redis::cmd("READONLY")
        .query(&mut connection)
        .expect("READONLY");
    let value: Option<String> = redis::cmd("GET")
        .arg("missed:2999")
        .query(&mut connection)
        .expect("GET on the follower");
    assert_eq!(value.map(|v| v.len()), Some(VALUE_BYTES));
}

/// A follower frozen (SIGSTOP) while the log grows past the snapshot trigger by bytes (256 KiB
/// here; the trigger by entry count is far off) and far past what the leader keeps after a
/// snapshot: the leader snapshots because of the log's bytes, purges, and the thawed follower
/// catches up by snapshot; every node ends digest-equal.
#[test]
fn snapshots_by_log_bytes_and_a_frozen_follower_catches_up() {
    let cache = format!("--log-cache-bytes-max={CACHE_BYTES_MAX}");
    let cluster = Cluster::start(
        "log-cache-snapshot",
        &["a", "b", "c"],
        &[
            &cache,
            "--snapshot-logs-since-last=1000000",
            "--snapshot-log-bytes-since-last=262144",
        ],
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    write_keys(&cluster, leader, "before", 50);
    let follower = (leader + 1) % 3;
    cluster.freeze(follower);
    // One SET per entry (no pipelining), so the log gets past the 1,000 entries a snapshot
    // keeps behind it and the frozen follower's position is purged.
    let mut connection = cluster.client(leader);
    let value = "w".repeat(VALUE_BYTES);
    for n in 0..1500 {
        let _: () = redis::cmd("SET")
            .arg(format!("frozen:{n}"))
            .arg(&value)
            .query(&mut connection)
            .expect("SET");
    }
    let info = info_tandem(&cluster, leader);
    assert!(
        info["log_snapshot"] > 0,
        "the log's bytes triggered a snapshot: {info:?}"
    );
    assert!(info["log_purged"] > 0, "the log was purged: {info:?}");
    cluster.thaw(follower);
    assert_converged(&cluster);
}

/// With the default cache bound (64 MiB, far more than the 600 KiB written here) and no
/// snapshot due, every node lets go of the decoded entries once they are applied and (on the
/// leader) every follower has them: the log still holds them (in the WAL), the cache none.
/// While a follower is down, the leader keeps what that follower lacks, the other follower
/// nothing; after a leader change the new leader, which kept nothing, catches the returning
/// follower up by reading the entries back from its WAL, and every node ends digest-equal.
#[test]
fn the_cache_lets_go_of_applied_and_replicated_entries() {
    let mut cluster = Cluster::start(
        "log-cache-release",
        &["a", "b", "c"],
        &[
            "--snapshot-logs-since-last=1000000",
            "--snapshot-log-bytes-since-last=0",
        ],
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    write_keys(&cluster, leader, "all", 300);
    for i in 0..3 {
        let info = wait_for_info(&cluster, i, "the cache empties", |info| {
            info["log_cache_entries"] == 0
        });
        assert!(
            info["log_held_entries"] >= 6,
            "the entries are still in the log, only not cached: {info:?}"
        );
        assert_eq!(info["log_cache_bytes"], 0, "{info:?}");
        assert!(info["log_cache_bytes_max"] > 1 << 20, "{info:?}");
    }

    // One follower down: the leader keeps what it lacks, the other follower keeps nothing.
    let down = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    cluster.kill(down);
    write_keys(&cluster, leader, "missed", 300);
    wait_for_info(
        &cluster,
        other,
        "the live follower's cache empties",
        |info| info["log_cache_entries"] == 0,
    );
    let info = info_tandem(&cluster, leader);
    assert!(
        info["log_cache_entries"] >= 6,
        "the leader keeps the entries the down follower lacks: {info:?}"
    );

    // The leader goes; the follower that kept nothing leads and catches the other one up.
    cluster.kill(leader);
    let reads_before = info_tandem(&cluster, other)["log_wal_read_entries"];
    cluster.boot(down);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(20));
    assert_eq!(new_leader, other, "the node with the whole log leads");
    cluster.boot(leader);
    assert_converged(&cluster);
    let info = info_tandem(&cluster, other);
    assert!(
        info["log_wal_read_entries"] > reads_before,
        "the returning follower's entries were read back from the WAL: {info:?}"
    );
    let mut connection = cluster.client(down);
    let _: () = redis::cmd("READONLY")
        .query(&mut connection)
        .expect("READONLY");
    let value: Option<String> = redis::cmd("GET")
        .arg("missed:299")
        .query(&mut connection)
        .expect("GET on the follower");
    assert_eq!(value.map(|v| v.len()), Some(VALUE_BYTES));
}
