//! The embedded API end to end on real files: durability across restarts, snapshots, expiry,
//! transactions, errors, and the data directory lock.

mod common;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use tandem::{Backend, CommandError, Error, Node, OpenError, SnapshotPolicyOption, Transaction};

fn backends() -> [Backend; 2] {
    [Backend::Pwrite, Backend::IoUring]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_restart() {
    for backend in backends() {
        let dir = common::data_dir("restart");
        let node = Node::builder(dir.path())
            .backend(backend)
            .open()
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for t in 0..16 {
            let db = node.db();
            tasks.push(tokio::spawn(async move {
                for i in 0..40 {
                    db.set(format!("k:{t}:{i}"), format!("v{i}")).await.unwrap();
                }
                db.incr_by("counter", 40).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let digest = node.db().digest();
        node.shutdown().await.unwrap();

        let node = Node::builder(dir.path())
            .backend(backend)
            .open()
            .await
            .unwrap();
        let db = node.db();
        for t in 0..16 {
            for i in 0..40 {
                let v = db.get(format!("k:{t}:{i}")).await.unwrap();
                assert_eq!(
                    v,
                    Some(Bytes::from(format!("v{i}"))),
                    "{backend}: k:{t}:{i}"
                );
            }
        }
        assert_eq!(db.get("counter").await.unwrap(), Some(Bytes::from("640")));
        assert_eq!(
            db.digest(),
            digest,
            "{backend}: digest changed across restart"
        );
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_purges_log_and_restart_restores_from_it() {
    let dir = common::data_dir("snapshot");
    let node = Node::builder(dir.path())
        .snapshot_policy(SnapshotPolicyOption::Manual)
        .logs_kept_after_snapshot(0)
        .segment_bytes(64 * 1024)
        .open()
        .await
        .unwrap();
    let db = node.db();
    for i in 0..300 {
        db.hset(
            format!("h:{}", i % 10),
            &[(format!("f{i}"), format!("{i}"))],
        )
        .await
        .unwrap();
    }
    node.snapshot().await.unwrap();
    let status = node.status();
    assert!(
        status.snapshot >= 300,
        "snapshot covers the writes: {status:?}"
    );
    // The purge runs right after the snapshot; give it a moment.
    let mut purged = node.status().purged;
    for _ in 0..200 {
        if purged > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        purged = node.status().purged;
    }
    assert!(purged > 0, "WAL prefix purged after the snapshot");
    for i in 300..350 {
        db.zadd("book", &[(i as f64, format!("order{i}"))])
            .await
            .unwrap();
    }
    let digest = db.digest();
    node.shutdown().await.unwrap();

    let node = Node::builder(dir.path()).open().await.unwrap();
    let report = node.recovery_report().clone();
    assert!(
        report.snapshot_index >= 300,
        "restart loaded the snapshot: {report:?}"
    );
    let db = node.db();
    assert_eq!(db.digest(), digest);
    assert_eq!(
        db.hget("h:3", "f293").await.unwrap(),
        Some(Bytes::from("293"))
    );
    assert_eq!(db.zscore("book", "order349").await.unwrap(), Some(349.0));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_snapshot_by_log_size() {
    let dir = common::data_dir("autosnap");
    let node = Node::builder(dir.path())
        .snapshot_policy(SnapshotPolicyOption::LogsSinceLast(50))
        .logs_kept_after_snapshot(5)
        .open()
        .await
        .unwrap();
    let db = node.db();
    for i in 0..200 {
        db.set(format!("k{i}"), "v").await.unwrap();
    }
    let mut snapshot = 0;
    for _ in 0..300 {
        snapshot = node.status().snapshot;
        if snapshot >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        snapshot >= 100,
        "a snapshot was taken by log size: {:?}",
        node.status()
    );
    // Older snapshots are deleted once a newer one is in place (a build may still be finishing).
    let mut snaps = Vec::new();
    for _ in 0..300 {
        snaps = common::files_with_suffix(&dir.path().join("snapshots"), ".snap");
        if snaps.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        snaps.len(),
        1,
        "exactly one snapshot file is kept: {snaps:?}"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_are_swept_through_the_log() {
    let dir = common::data_dir("expiry");
    let node = Node::builder(dir.path())
        .expiry_sweep_interval(Duration::from_millis(20))
        .open()
        .await
        .unwrap();
    let db = node.db();
    db.set_with_ttl("session", "x", Duration::from_millis(50))
        .await
        .unwrap();
    db.set("keep", "y").await.unwrap();
    assert_eq!(db.get("session").await.unwrap(), Some(Bytes::from("x")));
    let mut len = db.len();
    for _ in 0..200 {
        if len == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        len = db.len();
    }
    assert_eq!(len, 1, "the expired key was physically removed");
    assert_eq!(db.get("session").await.unwrap(), None);
    node.shutdown().await.unwrap();
    let node = Node::builder(dir.path()).open().await.unwrap();
    assert_eq!(node.db().len(), 1);
    assert_eq!(node.db().get("session").await.unwrap(), None);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_is_atomic_and_watch_aborts_on_change() {
    let dir = common::data_dir("txn");
    let node = Node::builder(dir.path()).open().await.unwrap();
    let db = node.db();
    db.set("a", "100").await.unwrap();
    let seen = db.version("a");
    db.incr_by("a", 1).await.unwrap(); // someone else changes `a`
    let txn = Transaction::from_args(
        vec![(Bytes::from("a"), seen)],
        &[&["DECRBY", "a", "10"][..], &["INCRBY", "b", "10"][..]],
    )
    .unwrap();
    assert_eq!(db.transaction(txn).await.unwrap(), None, "watch must abort");
    assert_eq!(db.get("a").await.unwrap(), Some(Bytes::from("101")));
    assert_eq!(db.get("b").await.unwrap(), None);

    let seen = db.version("a");
    let txn = Transaction::from_args(
        vec![(Bytes::from("a"), seen)],
        &[
            &["DECRBY", "a", "10"][..],
            &["HSET", "a", "f", "v"][..], // WRONGTYPE at runtime: reported, no rollback
            &["INCRBY", "b", "10"][..],
        ],
    )
    .unwrap();
    let replies = db.transaction(txn).await.unwrap().expect("not aborted");
    assert_eq!(replies.len(), 3);
    assert!(matches!(&replies[1], tandem::Reply::Error(e) if e.starts_with("WRONGTYPE")));
    assert_eq!(db.get("a").await.unwrap(), Some(Bytes::from("91")));
    assert_eq!(db.get("b").await.unwrap(), Some(Bytes::from("10")));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_errors_are_rejections_not_failures() {
    let dir = common::data_dir("errors");
    let node = Node::builder(dir.path()).open().await.unwrap();
    let db = node.db();
    db.hset("h", &[("f", "v")]).await.unwrap();
    match db.get("h").await {
        Err(e @ Error::Command(_)) => {
            assert!(e.to_string().starts_with("WRONGTYPE"), "{e}");
            assert_eq!(e.command_error(), Some(CommandError::WrongType));
        }
        other => panic!("expected WRONGTYPE, got {other:?}"),
    }
    db.set("n", i64::MAX.to_string()).await.unwrap();
    match db.incr_by("n", 1).await {
        Err(e @ Error::Command(_)) => {
            assert_eq!(e.to_string(), "ERR increment or decrement would overflow");
            assert_eq!(e.command_error(), Some(CommandError::IncrementOverflow));
        }
        other => panic!("expected overflow, got {other:?}"),
    }
    db.set("s", "not a number").await.unwrap();
    let error = db.incr_by("s", 1).await.expect_err("INCRBY of text");
    assert_eq!(error.command_error(), Some(CommandError::NotInteger));
    let error = db
        .zadd("z", &[(f64::NAN, "m")])
        .await
        .expect_err("NaN score");
    assert_eq!(error.command_error(), Some(CommandError::NotFloat));
    let reply = db.execute_args(&["NOSUCH", "x"]).await.unwrap();
    assert!(matches!(reply, tandem::Reply::Error(e) if e.starts_with("ERR unknown command")));
    // The node is healthy afterwards.
    db.set("ok", "1").await.unwrap();
    assert_eq!(db.get("ok").await.unwrap(), Some(Bytes::from("1")));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_open_of_a_data_dir_is_refused() {
    let dir = common::data_dir("lock");
    let node = Node::builder(dir.path()).open().await.unwrap();
    match Node::builder(dir.path()).open().await {
        Err(OpenError::Locked { path }) => assert_eq!(path, dir.path()),
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second node opened the same data directory"),
    }
    node.shutdown().await.unwrap();
    // Released on shutdown.
    let node = Node::builder(dir.path()).open().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_shutdown_are_refused() {
    let dir = common::data_dir("closed");
    let node = Node::builder(dir.path()).open().await.unwrap();
    let db = node.db();
    db.set("a", "1").await.unwrap();
    node.shutdown().await.unwrap();
    assert_eq!(db.set("b", "2").await, Err(Error::ShuttingDown));
}

/// Dropping a node without `shutdown` stops it in the background; reopening the directory
/// (retried while the dropped node's engine still holds the lock) succeeds, and every
/// acknowledged write is there. It does not observe the lock's timing itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_node_keeps_its_directory_until_its_engine_stops() {
    let dir = common::data_dir("dropped");
    let node = Node::builder(dir.path()).open().await.unwrap();
    for i in 0..50 {
        node.db().set(format!("k{i}"), "v").await.unwrap();
    }
    drop(node);
    let mut reopened = None;
    for _ in 0..500 {
        match Node::builder(dir.path()).open().await {
            Ok(node) => {
                reopened = Some(node);
                break;
            }
            Err(OpenError::Locked { .. }) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(other) => panic!("unexpected open error: {other}"),
        }
    }
    let node = reopened.expect("the directory is released once the dropped engine stops");
    for i in 0..50 {
        assert_eq!(
            node.db().get(format!("k{i}")).await.unwrap(),
            Some(Bytes::from("v"))
        );
    }
    node.shutdown().await.unwrap();
}

/// A node on a thread of its own (`own_thread`), opened from a current-thread runtime with the
/// WAL written and fsynced on that thread (`WriterMode::Caller`): it answers a write while the
/// caller's thread is blocked, concurrent writers are
/// answered, `shutdown` keeps every write for a reopen on the caller's own thread, and a node
/// dropped without `shutdown` stops its thread without blocking the caller's runtime (which
/// would panic) and releases the directory.
#[test]
fn a_node_on_its_own_thread_serves_a_current_thread_caller() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = common::data_dir("own-thread");
        let open_own = || {
            Node::builder(dir.path())
                .own_thread(true)
                .wal_writer(tandem::WriterMode::Caller)
                .open()
        };
        let node = open_own().await.unwrap();
        // The node works while the caller's only thread is blocked: the write is queued by
        // the first poll and answered by the node's thread, which it could not be if the
        // node's tasks ran on this runtime.
        let db = node.db();
        let mut write = std::pin::pin!(db.set("while-blocked", "done"));
        std::future::poll_fn(|cx| {
            assert!(
                write.as_mut().poll(cx).is_pending(),
                "a durable write needs an fsync"
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                std::thread::sleep(Duration::from_millis(5)); // blocks this runtime's thread
                if let std::task::Poll::Ready(result) = write.as_mut().poll(cx) {
                    result.unwrap();
                    return std::task::Poll::Ready(());
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the write was not answered while the caller's thread was blocked"
                );
            }
        })
        .await;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let db = node.db();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    db.set(format!("k:{t}:{i}"), format!("v{i}")).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let digest = node.db().digest();
        node.shutdown().await.unwrap();

        let node = Node::builder(dir.path())
            .own_thread(false)
            .open()
            .await
            .unwrap();
        assert_eq!(node.db().digest(), digest);
        assert_eq!(
            node.db().get("k:7:24").await.unwrap(),
            Some(Bytes::from("v24"))
        );
        node.shutdown().await.unwrap();

        let node = open_own().await.unwrap();
        node.db().set("after", "drop").await.unwrap();
        drop(node);
        let mut reopened = None;
        for _ in 0..500 {
            match open_own().await {
                Ok(node) => {
                    reopened = Some(node);
                    break;
                }
                Err(OpenError::Locked { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(other) => panic!("unexpected open error: {other}"),
            }
        }
        let node = reopened.expect("the dropped node's thread releases the directory");
        assert_eq!(
            node.db().get("after").await.unwrap(),
            Some(Bytes::from("drop"))
        );
        node.shutdown().await.unwrap();
    });
}
