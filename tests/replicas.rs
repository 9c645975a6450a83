//! Determinism of the whole command set on a real three-node cluster: a seeded random stream of
//! every data command (strings, bitmaps, hashes, lists, sets, sorted sets, blocking pops,
//! MULTI blocks, expiries) sent through all three nodes, with snapshots taken along the way and
//! one follower restarted in the middle, leaves every replica with the same state digest.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::server::encode;
use common::workload::Generator;
use rand::Rng;

/// Commands in the stream (each MULTI block counts as one).
const COMMANDS: usize = 3_000;

#[test]
fn replicas_stay_equal_under_every_write_command() {
    let seed = common::seed("replicas_stay_equal_under_every_write_command");
    let mut cluster = Cluster::start(
        "replicas-equal",
        &["a", "b", "c"],
        &["--snapshot-logs-since-last=300"],
    );
    cluster.wait_for_leader(Duration::from_secs(20));
    let mut generator = Generator::new(seed);
    let mut errors = 0usize;
    for sent in 0..COMMANDS {
        if sent == COMMANDS / 2 {
            // A follower goes down and comes back: it catches up by log or by snapshot.
            let leader = cluster.wait_for_leader(Duration::from_secs(20));
            let follower = (leader + 1) % 3;
            cluster.stop(follower);
            cluster.boot(follower);
        }
        let node = generator.rng.gen_range(0..3);
        let mut raw = cluster.server(node).raw();
        let command = generator.command(false);
        let batch: Vec<Vec<String>> = if command[0] == "__MULTI__" {
            let mut block = vec![vec!["MULTI".to_string()]];
            for _ in 0..generator.rng.gen_range(1..5) {
                block.push(generator.command(true));
            }
            block.push(vec!["EXEC".to_string()]);
            block
        } else {
            vec![command]
        };
        for command in &batch {
            let args: Vec<&str> = command.iter().map(String::as_str).collect();
            raw.send(&encode(&args));
        }
        for command in &batch {
            let reply = raw.reply();
            // A forwarded write during the restart may come back TRYAGAIN; the rest are
            // Redis-style answers (some of them errors on purpose).
            assert!(
                !reply.starts_with("-ERR internal"),
                "seed {seed}: {command:?} -> {reply}"
            );
            errors += usize::from(reply.starts_with('-'));
        }
    }
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    eprintln!("seed {seed}: {COMMANDS} commands, {errors} error replies, replicas {reports:?}");
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]) && !reports[0].1.is_empty(),
        "seed {seed}: replicas differ: {reports:?}"
    );
    assert!(
        errors < COMMANDS / 2,
        "seed {seed}: mostly errors ({errors})"
    );
}
