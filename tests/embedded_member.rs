//! The embedded `Db` of a cluster member writes exactly once: an in-process node joins two
//! `tandem serve` processes as the third member, and increments a counter through its `Db`
//! while the external leader is killed (`kill -9`) or paused. Writes it forwards to a leader
//! that fails are proposed again in the node's session; every call ends with its one reply or
//! a definite "not applied", and the counter equals exactly the increments reported applied.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SECRET};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tandem::cluster::{ClusterOptions, PeerAddr};
use tandem::Error;

/// The external member (index) that leads, if one does.
fn external_leader(cluster: &Cluster) -> Option<usize> {
    cluster.up().find(|&i| {
        cluster
            .replication(i)
            .get("tandem_role")
            .is_some_and(|role| role == "leader")
    })
}

#[test]
fn an_embedded_members_writes_apply_once_across_leader_faults() {
    let seed = common::seed("an_embedded_members_writes_apply_once_across_leader_faults");
    let embedded_peer = common::server::free_port();
    let mut cluster = Cluster::start_with("embedded-member", &["a", "b"], move |_| {
        vec![format!("--peer=3@127.0.0.1:{embedded_peer}")]
    });
    let peers: Vec<PeerAddr> = cluster
        .members
        .iter()
        .map(|m| PeerAddr {
            id: m.id,
            addr: format!("127.0.0.1:{}", m.peer_port),
        })
        .collect();
    let data = cluster.members[0].data.with_file_name("embedded");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let node = runtime.block_on(async {
        let mut options =
            ClusterOptions::new(format!("127.0.0.1:{embedded_peer}"), SECRET.as_bytes());
        options.peers = peers;
        options.heartbeat_interval = Duration::from_millis(50);
        tandem::Node::builder(&data)
            .node_id(3)
            .zone("c")
            .cluster(options)
            .open()
            .await
            .expect("open the embedded member")
    });
    runtime
        .block_on(node.wait_for_leader(Duration::from_secs(20)))
        .expect("a leader");

    let db = node.db();
    let observer = node.db();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        runtime.spawn(async move {
            let (mut applied, mut calls, mut not_applied) = (0i64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                calls += 1;
                match db.incr_by("embedded:counter", 1).await {
                    Ok(_) => applied += 1,
                    Err(Error::NotApplied { .. } | Error::Busy { .. }) => not_applied += 1,
                    Err(e) => panic!("an indefinite answer: {e}"),
                }
            }
            (applied, calls, not_applied)
        })
    };

    let mut rng = StdRng::seed_from_u64(seed);
    let mut faults = 0;
    let until = Instant::now() + Duration::from_secs(90);
    // At least 8 faults, and more (up to 16) until one of them made the member resend.
    let resent = || observer.session_stats().resends > 0;
    while (faults < 8 || (!resent() && faults < 16)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..700)));
        // Only a failing leader that the embedded member forwards to makes its writes
        // uncertain.
        let Some(leader) = external_leader(&cluster) else {
            // The embedded member leads: hand leadership to an external member first.
            if let Some(i) = cluster.up().next() {
                let target = cluster.members[i].id;
                let _: redis::RedisResult<redis::Value> = redis::cmd("TANDEM")
                    .arg("TRANSFER-LEADER")
                    .arg(target)
                    .query(&mut cluster.client(i));
            }
            continue;
        };
        if faults % 3 != 2 {
            cluster.kill(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(300..700)));
            cluster.boot(leader);
        } else {
            cluster.freeze(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(500..1_200)));
            cluster.thaw(leader);
        }
        faults += 1;
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (applied, calls, not_applied) = runtime.block_on(writer).expect("writer");
    let value = runtime.block_on(async {
        node.db()
            .read_with(
                &tandem::command::Command::parse(&[
                    bytes::Bytes::from_static(b"GET"),
                    bytes::Bytes::from_static(b"embedded:counter"),
                ])
                .unwrap(),
                tandem::cluster::ReadConsistency::Linearizable,
            )
            .await
    });
    let stats = observer.session_stats();
    eprintln!(
        "seed {seed}: {faults} faults, {calls} calls, {applied} applied, {not_applied} not applied, counter {value:?}, session {stats:?}"
    );
    assert!(
        stats.opened >= 1,
        "seed {seed}: writes must go through a session"
    );
    assert!(
        stats.resends > 0,
        "seed {seed}: no write was ever proposed again, so the faults tested nothing"
    );
    assert!(faults >= 3, "seed {seed}: too few leader faults ({faults})");
    assert!(calls > 20, "seed {seed}: too few calls ({calls})");
    match value.expect("linearizable read") {
        tandem::command::Reply::Bulk(text) => {
            assert_eq!(
                std::str::from_utf8(&text).unwrap(),
                applied.to_string(),
                "seed {seed}: the counter must equal the increments reported applied"
            );
        }
        other => panic!("seed {seed}: counter reply {other:?}"),
    }
    runtime.block_on(node.shutdown()).expect("shutdown");
}
