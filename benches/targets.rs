//! The durability targets, measured together in one run so ratios compare like with like:
//!
//! 1. durable SET p50 (1 task) vs raw 4 KiB `fdatasync` p50 on the same disk — target <= 1.3x
//!    (issue 14), for each WAL backend and writer mode, on a 2-worker and a current-thread runtime;
//! 2. durable SETs/s with 64 concurrent tasks — target >= 100,000/s on 2 cores;
//! 3. write p50/p99 with and without a snapshot of 1M keys being written — the snapshot must not
//!    stall writes (p99 during the snapshot close to p99 without);
//! 4. restart time with 1M keys in a snapshot plus 100k WAL entries after it — target <= 3 s.
//!
//! Run: `cargo bench --bench targets` (about a minute). With `-- --test` (as CI does) every
//! size is scaled down so it only proves the code runs; `-- --writes-only` measures 1 and 2 only.
//! A regression in (1) means per-write overhead grew; in (2) batching got worse; in (3) the
//! snapshot path started holding a lock; in (4) recovery got slower.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tandem::node::BatchLimits;
use tandem::{Backend, Node, SnapshotPolicyOption, WriterMode};

struct Sizes {
    samples: u64,
    tasks_writes: u64,
    keys: u64,
    wal_entries: u64,
}

fn bench_dir(name: &str) -> tempfile::TempDir {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root).expect("bench dir");
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(root)
        .expect("temp dir")
}

fn us(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn raw_fdatasync(samples: u64) -> Histogram<u64> {
    let dir = bench_dir("fdatasync");
    let path = dir.path().join("block");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&vec![0u8; 1 << 20]).unwrap();
    file.sync_all().unwrap();
    let block = vec![7u8; 4096];
    let mut h = Histogram::<u64>::new(3).unwrap();
    for i in 0..samples {
        let t0 = Instant::now();
        file.write_all_at(&block, (i * 4096) % (1 << 20)).unwrap();
        file.sync_data().unwrap();
        h.record(t0.elapsed().as_nanos() as u64).unwrap();
    }
    h
}

async fn one_task(db: &tandem::Db, samples: u64) -> Histogram<u64> {
    // Warm up first: the WAL prepares its next segment right after open.
    for i in 0..samples / 4 {
        db.set(format!("warm:{}", i % 100), "v").await.unwrap();
    }
    let mut h = Histogram::<u64>::new(3).unwrap();
    for i in 0..samples {
        let t0 = Instant::now();
        db.set(format!("one:{}", i % 10_000), "value-of-some-bytes")
            .await
            .unwrap();
        h.record(t0.elapsed().as_nanos() as u64).unwrap();
    }
    h
}

async fn many_tasks(db: &tandem::Db, tasks: u64, writes_per_task: u64) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..writes_per_task {
                db.set(format!("many:{t}:{}", i % 1000), "value-of-some-bytes")
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (tasks * writes_per_task) as f64 / started.elapsed().as_secs_f64()
}

/// Loads `keys` keys quickly (MSET of 1,000 keys per command).
async fn load_keys(db: &tandem::Db, keys: u64) {
    let mut handles = Vec::new();
    let chunks = keys.div_ceil(1000);
    for worker in 0..8u64 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut chunk = worker;
            while chunk < chunks {
                let mut args = vec!["MSET".to_string()];
                for k in chunk * 1000..((chunk + 1) * 1000).min(keys) {
                    args.push(format!("key:{k:08}"));
                    args.push(format!("value-{k}-padding-to-about-forty-bytes"));
                }
                db.execute_args(&args).await.unwrap();
                chunk += 8;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

/// Per-write latency of one writer for `window`, or until `stop` is set.
async fn writer_latencies(
    db: &tandem::Db,
    window: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new(3).unwrap();
    let started = Instant::now();
    let mut i = 0u64;
    while started.elapsed() < window && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let t0 = Instant::now();
        db.set(format!("probe:{}", i % 1000), "v").await.unwrap();
        h.record(t0.elapsed().as_nanos() as u64).unwrap();
        i += 1;
    }
    h
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let sizes = if test_mode {
        Sizes {
            samples: 50,
            tasks_writes: 20,
            keys: 5_000,
            wal_entries: 500,
        }
    } else {
        Sizes {
            samples: 2_000,
            tasks_writes: 3_000,
            keys: 1_000_000,
            wal_entries: 100_000,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _ = writeln!(std::io::stderr(), "measuring (test mode: {test_mode}) ...");

    // 1 + 2: the WAL writer on its own thread (the default) with both backends, then on the
    // task that appends (`WriterMode::Caller`, `--wal-writer inline`), on this 2-worker runtime
    // and on a current-thread runtime, where every hop of a write stays on one OS thread. Each
    // case right after its own measure of the raw floor: the disk's fsync time drifts over a
    // run by a third or more.
    let one_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Last, the node on a thread of its own (`NodeBuilder::own_thread`) under the 2-worker
    // runtime.
    let cases = [
        (
            "2 workers",
            &runtime,
            Backend::Pwrite,
            WriterMode::Thread,
            false,
        ),
        (
            "2 workers",
            &runtime,
            Backend::IoUring,
            WriterMode::Thread,
            false,
        ),
        (
            "2 workers",
            &runtime,
            Backend::Pwrite,
            WriterMode::Caller,
            false,
        ),
        (
            "1 thread",
            &one_thread,
            Backend::Pwrite,
            WriterMode::Thread,
            false,
        ),
        (
            "1 thread",
            &one_thread,
            Backend::Pwrite,
            WriterMode::Caller,
            false,
        ),
        (
            "2 workers, own",
            &runtime,
            Backend::Pwrite,
            WriterMode::Thread,
            true,
        ),
        (
            "2 workers, own",
            &runtime,
            Backend::Pwrite,
            WriterMode::Caller,
            true,
        ),
    ];
    for (threads, runtime, backend, writer, own_thread) in cases {
        let floor = raw_fdatasync(sizes.samples);
        let dir = bench_dir("targets");
        runtime.block_on(async {
            let node = Node::builder(dir.path())
                .backend(backend)
                .wal_writer(writer)
                .own_thread(own_thread)
                .open()
                .await
                .unwrap();
            let db = node.db();
            let h = one_task(&db, sizes.samples).await;
            let rate = many_tasks(&db, 64, sizes.tasks_writes).await;
            let case = format!("{backend}, writer {writer}, {threads}");
            println!(
                "{case:38} durable SET 1 task: p50 {:.1} us, p99 {:.1} us; raw 4 KiB fdatasync just before: p50 {:.1} us; ratio {:.2}x (target <= 1.3x)",
                us(&h, 0.5),
                us(&h, 0.99),
                us(&floor, 0.5),
                us(&h, 0.5) / us(&floor, 0.5)
            );
            println!("{case:38} durable SET 64 tasks: {rate:.0} writes/s (target >= 100000)");
            node.shutdown().await.unwrap();
        });
    }

    if std::env::args().any(|a| a == "--writes-only") {
        return;
    }

    // 3 + 4: a big keyspace, a snapshot under write load, then a restart.
    let dir = bench_dir("restart");
    runtime.block_on(async {
        let node = Node::builder(dir.path())
            .snapshot_policy(SnapshotPolicyOption::Manual)
            .open()
            .await
            .unwrap();
        let db = node.db();
        load_keys(&db, sizes.keys).await;
        let window = if test_mode {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(3)
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        let quiet = writer_latencies(&db, window, &never).await;
        // The writer runs exactly as long as the snapshot does.
        let done = std::sync::atomic::AtomicBool::new(false);
        let timed_snapshot = async {
            let started = Instant::now();
            let result = node.snapshot().await.map(|()| started.elapsed());
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            result
        };
        let (during, snapshot_elapsed) = tokio::join!(
            writer_latencies(&db, Duration::from_secs(600), &done),
            timed_snapshot
        );
        let snapshot_elapsed = snapshot_elapsed.unwrap();
        println!(
            "snapshot of {} keys took {:.2} s; writes without: p50 {:.1} us p99 {:.1} us; during: p50 {:.1} us p99 {:.1} us ({:.2}x p99)",
            sizes.keys,
            snapshot_elapsed.as_secs_f64(),
            us(&quiet, 0.5),
            us(&quiet, 0.99),
            us(&during, 0.5),
            us(&during, 0.99),
            us(&during, 0.99) / us(&quiet, 0.99)
        );
        node.shutdown().await.unwrap();

        // 100k separate log entries after the snapshot: one op per entry.
        let node = Node::builder(dir.path())
            .snapshot_policy(SnapshotPolicyOption::Manual)
            .batch_limits(BatchLimits {
                ops_per_batch_max: 1,
                proposals_in_flight_max: 64,
                ..BatchLimits::default()
            })
            .open()
            .await
            .unwrap();
        let per_task = sizes.wal_entries / 64;
        many_tasks(&node.db(), 64, per_task).await;
        let entries_after = node.status().applied - node.status().snapshot;
        let digest = node.db().digest();
        node.shutdown().await.unwrap();

        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let node = Node::builder(dir.path())
                .snapshot_policy(SnapshotPolicyOption::Manual)
                .open()
                .await
                .unwrap();
            let elapsed = started.elapsed();
            assert_eq!(node.db().digest(), digest, "restart restored a different state");
            times.push(elapsed);
            node.shutdown().await.unwrap();
        }
        times.sort();
        println!(
            "restart with {} keys in the snapshot + {} WAL entries: median {:.2} s (runs {:?}) (target <= 3 s)",
            sizes.keys,
            entries_after,
            times[1].as_secs_f64(),
            times.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect::<Vec<_>>()
        );
    });
}
