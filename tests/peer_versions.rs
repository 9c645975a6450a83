//! Peer protocol version negotiation with real processes ("mixed versions" as far as one
//! binary allows: the test hook TANDEM_TEST_PEER_PROTOCOL_VERSIONS changes the range a node
//! advertises). A node with no version in common with the others is refused, with the reason
//! in the logs of both sides, while the other two keep serving; a node that shares version 1
//! joins; once every node speaks 1 to 2 (a rolling "upgrade"), each pair uses version 2.

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;

const VERSIONS_ENV: &str = "TANDEM_TEST_PEER_PROTOCOL_VERSIONS";

fn log_of(cluster: &Cluster, i: usize) -> String {
    cluster.server(i).log_text()
}

/// Waits until member `i`'s log contains `text`.
fn wait_for_log(cluster: &Cluster, i: usize, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log_of(cluster, i).contains(text) {
        assert!(
            Instant::now() < deadline,
            "node {} never logged {text:?}; log:\n{}",
            i + 1,
            log_of(cluster, i)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Restarts member `i` advertising `versions` (`None`: the build's own range).
fn restart_with(cluster: &mut Cluster, i: usize, versions: Option<&str>) {
    cluster.stop(i);
    cluster.members[i].env = versions
        .map(|v| vec![(VERSIONS_ENV.to_string(), v.to_string())])
        .unwrap_or_default();
    cluster.boot(i);
}

fn write(cluster: &Cluster, i: usize, key: &str) {
    let reply: String = redis::cmd("SET")
        .arg(key)
        .arg("v")
        .query(&mut cluster.client(i))
        .expect("SET");
    assert_eq!(reply, "OK");
}

/// SET through member `i` until it succeeds (a leader may be being elected).
fn write_retrying(cluster: &Cluster, i: usize, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply: redis::RedisResult<String> = redis::cmd("SET")
            .arg(key)
            .arg("v")
            .query(&mut cluster.client(i));
        match reply {
            Ok(ok) if ok == "OK" => return,
            other => assert!(
                Instant::now() < deadline,
                "SET {key} through node {}: {other:?}",
                i + 1
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn peers_negotiate_the_highest_common_version_and_refuse_without_one() {
    let mut cluster = Cluster::start("peer-versions", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    write(&cluster, leader, "before");
    // Node 3 comes back speaking only versions 2 and 3: nodes 1 and 2 speak 1.
    restart_with(&mut cluster, 2, Some("2-3"));
    let refusal = "no common peer protocol version";
    wait_for_log(&cluster, 2, refusal);
    wait_for_log(&cluster, 0, refusal);
    wait_for_log(&cluster, 1, refusal);
    // Nodes 1 and 2 still form a quorum in two zones (node 1 forwards to the leader).
    write_retrying(&cluster, 0, "while-node-3-is-refused");

    // Node 3 now speaks 1 and 2: version 1 is common, it joins and catches up.
    restart_with(&mut cluster, 2, Some("1-2"));
    // (The log file is appended to across restarts: match what only this run can print.)
    wait_for_log(
        &cluster,
        2,
        "peer protocol version 1 (this node speaks versions 1 to 2",
    );
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");

    // Roll nodes 1 and 2 to 1-2 as well: every pair now uses version 2. (Only the leader
    // talks to each follower, so a node shows version 2 once every node speaks it.)
    for i in [0, 1] {
        restart_with(&mut cluster, i, Some("1-2"));
        write_retrying(&cluster, i, &format!("rolled-{i}"));
    }
    for i in 0..3 {
        wait_for_log(&cluster, i, "peer protocol version 2 ");
    }
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    write(&cluster, leader, "after-the-upgrade");
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");
    let mut con = cluster.client(2);
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).expect("KEYS");
    assert_eq!(keys.len(), 5, "{keys:?}");
}
