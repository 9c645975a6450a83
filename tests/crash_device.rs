//! Crash consistency with a crash device: the WAL runs on an in-memory file system whose durable
//! image stops changing at the N-th sync, for every N over a workload. After "reopening the
//! machine" from the durable image, every write acknowledged before the crash point is present
//! with its value, and the node starts cleanly.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use tandem::wal::vfs::CrashFs;
use tandem::{Node, SnapshotPolicyOption};

const WRITES: usize = 24;

/// Runs the workload on `fs`; returns the writes acknowledged while the device had not crashed.
async fn workload(dir: &std::path::Path, fs: &CrashFs) -> BTreeMap<String, String> {
    let mut acked = BTreeMap::new();
    let node = match Node::builder(dir)
        .wal_vfs(Arc::new(fs.clone()))
        .snapshot_policy(SnapshotPolicyOption::Manual)
        .segment_bytes(16 * 1024)
        .open()
        .await
    {
        Ok(node) => node,
        Err(_) => return acked,
    };
    let db = node.db();
    for i in 0..WRITES {
        // Values of varied sizes so records straddle blocks and segment boundaries.
        let key = format!("k{i}");
        let value = format!("{i}-{}", "v".repeat((i * 397) % 3000));
        if db.set(&key, &value).await.is_err() {
            break;
        }
        // An ack seen after the crash point would not exist in a real crash: the process died.
        if fs.has_crashed() {
            break;
        }
        acked.insert(key, value);
    }
    let _ = node.shutdown().await;
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_keeps_every_acknowledged_write() {
    // First a run without a crash, to count the syncs the workload makes.
    let dir = common::data_dir("crashdev");
    let fs = CrashFs::new();
    let all = workload(dir.path(), &fs).await;
    assert_eq!(
        all.len(),
        WRITES,
        "the uncrashed run acknowledges everything"
    );
    let total_syncs = fs.sync_count();
    assert!(
        total_syncs >= WRITES as u64,
        "each sequential write syncs: {total_syncs}"
    );

    for n in 0..=total_syncs {
        let dir = common::data_dir("crashdev");
        let fs = CrashFs::new();
        fs.freeze_after_syncs(n);
        let acked = workload(dir.path(), &fs).await;
        eprintln!(
            "crash at sync {n}/{total_syncs}: {} acknowledged before the crash",
            acked.len()
        );
        let image = fs.crash_image();
        let node = Node::builder(dir.path())
            .wal_vfs(Arc::new(image))
            .snapshot_policy(SnapshotPolicyOption::Manual)
            .segment_bytes(16 * 1024)
            .open()
            .await
            .unwrap_or_else(|e| panic!("crash at sync {n}: node does not restart: {e}"));
        let db = node.db();
        for (key, value) in &acked {
            assert_eq!(
                db.get(key).await.unwrap(),
                Some(Bytes::from(value.clone())),
                "crash at sync {n}/{total_syncs}: acknowledged {key} lost"
            );
        }
        // Nothing beyond the workload appears; unacknowledged writes are whole or absent.
        for i in 0..WRITES {
            let key = format!("k{i}");
            if let Some(v) = db.get(&key).await.unwrap() {
                assert_eq!(
                    v,
                    Bytes::from(all[&key].clone()),
                    "crash at sync {n}: torn value"
                );
            }
        }
        node.shutdown().await.unwrap();
    }
}
