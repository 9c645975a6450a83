//! Failures of the disk under a running node, and damaged files at startup:
//! - an I/O error (EIO on write, EIO on fsync, ENOSPC) poisons the log: the node stops
//!   acknowledging for good, and a restart recovers every write acknowledged before the error;
//! - a corrupted record before the tail, or a missing segment, makes the node refuse to start
//!   with an error naming the file and offset; `inspect` reports it; the documented
//!   `--truncate-at` repair lets the node start with the prefix before the damage.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use tandem::wal::{FaultFs, FaultKind, RealFs, WalError};
use tandem::{Backend, Error, Node, OpenError, SnapshotPolicyOption};

async fn poisoned_log_stops_acks(kind: FaultKind, backend: Backend) {
    let dir = common::data_dir("fault");
    let faults = FaultFs::new(Arc::new(RealFs));
    let node = Node::builder(dir.path())
        .backend(backend)
        .wal_vfs(Arc::new(faults.clone()))
        .snapshot_policy(SnapshotPolicyOption::Manual)
        .open()
        .await
        .unwrap();
    let db = node.db();
    let mut acked = Vec::new();
    for i in 0..20 {
        db.set(format!("k{i}"), format!("v{i}")).await.unwrap();
        acked.push(i);
    }
    faults.arm(kind, 3);
    let mut first_failure = None;
    for i in 20..60 {
        match db.set(format!("k{i}"), format!("v{i}")).await {
            Ok(()) => {
                assert!(
                    first_failure.is_none(),
                    "{kind:?}/{backend}: k{i} acknowledged after the log failed"
                );
                acked.push(i);
            }
            Err(e) => {
                assert!(
                    e.is_fatal() || e == Error::ShuttingDown,
                    "{kind:?}/{backend}: expected a fatal error, got {e}"
                );
                first_failure.get_or_insert(i);
            }
        }
    }
    assert!(
        first_failure.is_some(),
        "{kind:?}/{backend}: the injected error surfaced"
    );
    assert!(faults.failure_count() >= 1);
    let _ = node.shutdown().await;

    // A restart on the healthy disk recovers everything that was acknowledged.
    let node = Node::builder(dir.path())
        .backend(backend)
        .open()
        .await
        .unwrap();
    let db = node.db();
    for i in acked {
        assert_eq!(
            db.get(format!("k{i}")).await.unwrap(),
            Some(Bytes::from(format!("v{i}"))),
            "{kind:?}/{backend}: acknowledged k{i} lost"
        );
    }
    db.set("after", "restart").await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_errors_poison_the_log_and_lose_no_acknowledged_write() {
    for backend in [Backend::Pwrite, Backend::IoUring] {
        for kind in [FaultKind::SyncEio, FaultKind::WriteEio, FaultKind::NoSpace] {
            poisoned_log_stops_acks(kind, backend).await;
        }
    }
}

/// Writes enough to fill several small segments; returns the data dir.
async fn filled_dir(name: &str) -> tempfile::TempDir {
    let dir = common::data_dir(name);
    let node = Node::builder(dir.path())
        .segment_bytes(16 * 1024)
        .snapshot_policy(SnapshotPolicyOption::Manual)
        .open()
        .await
        .unwrap();
    let db = node.db();
    for i in 0..200 {
        db.set(format!("k{i:03}"), "x".repeat(200)).await.unwrap();
    }
    node.shutdown().await.unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_middle_record_refuses_start_and_truncate_at_repairs() {
    let dir = filled_dir("corrupt").await;
    let wal_dir = dir.path().join("wal");
    let report = tandem::wal::inspect(&wal_dir).unwrap();
    assert!(report.segments.len() >= 3, "several segments: {report:?}");
    let victim = &report.segments[1];
    let path = wal_dir.join(&victim.name);
    let mut bytes = std::fs::read(&path).unwrap();
    let position = (victim.bytes_used / 2) as usize;
    bytes[position] ^= 0x5A;
    std::fs::write(&path, &bytes).unwrap();

    let (segment, offset) = match Node::builder(dir.path()).open().await {
        Err(OpenError::Wal(e @ WalError::ChecksumMismatch { .. })) => {
            let text = e.to_string();
            assert!(text.contains(&victim.name), "names the file: {text}");
            assert!(text.contains("--truncate-at"), "names the way out: {text}");
            match e {
                WalError::ChecksumMismatch {
                    segment, offset, ..
                } => (segment, offset),
                _ => unreachable!(),
            }
        }
        Err(other) => panic!("expected a checksum error, got {other}"),
        Ok(_) => panic!("a node with a corrupt WAL record started"),
    };
    assert!(
        offset <= position as u64,
        "the bad record starts at or before the flipped byte"
    );

    let inspected = tandem::inspect::inspect(dir.path(), false).unwrap();
    assert!(
        inspected.problems > 0,
        "inspect reports it:\n{}",
        inspected.text
    );
    assert!(
        inspected.text.contains("REFUSES TO START"),
        "{}",
        inspected.text
    );

    tandem::inspect::truncate_at(dir.path(), &format!("{segment}:{offset}")).unwrap();
    let node = Node::builder(dir.path())
        .open()
        .await
        .expect("starts after the repair");
    let db = node.db();
    assert_eq!(
        db.get("k000").await.unwrap(),
        Some(Bytes::from("x".repeat(200)))
    );
    assert_eq!(
        db.get("k199").await.unwrap(),
        None,
        "records after the cut are gone"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_middle_segment_refuses_start() {
    let dir = filled_dir("missing").await;
    let wal_dir = dir.path().join("wal");
    let report = tandem::wal::inspect(&wal_dir).unwrap();
    assert!(report.segments.len() >= 3);
    std::fs::remove_file(wal_dir.join(&report.segments[1].name)).unwrap();
    match Node::builder(dir.path()).open().await {
        Err(OpenError::Wal(e)) => {
            assert!(e.is_fatal(), "{e}");
            assert!(e.to_string().contains("missing"), "{e}");
        }
        Err(other) => panic!("expected a WAL error, got {other}"),
        Ok(_) => panic!("a node with a missing segment started"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_truncated_and_the_node_starts() {
    let dir = filled_dir("torn").await;
    let wal_dir = dir.path().join("wal");
    let report = tandem::wal::inspect(&wal_dir).unwrap();
    let last = report.segments.last().unwrap();
    // Half a record after the last one: what a crash mid-write leaves.
    let path = wal_dir.join(&last.name);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = last.bytes_used as usize;
    bytes[at..at + 20].copy_from_slice(&[0xAB; 20]);
    std::fs::write(&path, &bytes).unwrap();
    let node = Node::builder(dir.path()).open().await.unwrap();
    assert_eq!(
        node.db().get("k199").await.unwrap(),
        Some(Bytes::from("x".repeat(200)))
    );
    node.shutdown().await.unwrap();
    let report = tandem::wal::inspect(&wal_dir).unwrap();
    assert!(
        report.torn_tail.is_none() && report.fatal.is_none(),
        "{report:?}"
    );
}

/// A snapshot that fails its checksum is never skipped (the log it covers may be purged): the
/// node refuses to start and names the file; `inspect` reports it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_snapshot_refuses_start() {
    let dir = common::data_dir("badsnap");
    let node = Node::builder(dir.path())
        .snapshot_policy(SnapshotPolicyOption::Manual)
        .open()
        .await
        .unwrap();
    for i in 0..100 {
        node.db().set(format!("k{i}"), "v").await.unwrap();
    }
    node.snapshot().await.unwrap();
    node.shutdown().await.unwrap();
    let snapshots = common::files_with_suffix(&dir.path().join("snapshots"), ".snap");
    assert_eq!(snapshots.len(), 1);
    let mut bytes = std::fs::read(&snapshots[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&snapshots[0], &bytes).unwrap();
    match Node::builder(dir.path()).open().await {
        Err(OpenError::Snapshot(e)) => {
            let text = e.to_string();
            assert!(text.contains("checksum mismatch"), "{text}");
            assert!(
                text.contains(&*snapshots[0].file_name().unwrap().to_string_lossy()),
                "{text}"
            );
        }
        Err(other) => panic!("expected a snapshot error, got {other}"),
        Ok(_) => panic!("a node with a corrupt snapshot started"),
    }
    let inspected = tandem::inspect::inspect(dir.path(), false).unwrap();
    assert!(inspected.problems > 0, "{}", inspected.text);
}
