//! End-to-end embedded benchmarks: what an application using `Db` sees.
//!
//! - `durable_write/raw_fdatasync_4k`: the physical floor on this disk — overwrite one 4 KiB
//!   block of a preallocated file and `fdatasync` it. Every durable write pays at least this.
//! - `durable_write/set_1_task`: one task doing SETs back to back; each returns after its fsync.
//!   Target: p50 within 1.5x of the raw fdatasync p50. A regression means per-write overhead
//!   (batcher, openraft, WAL encoding, apply) grew relative to the disk.
//! - `durable_write/set_64_tasks`: 64 concurrent tasks; throughput comes from group commit.
//!   Target: >= 100,000 durable writes/s on 2 cores. A regression means batching got worse.
//!
//! Run: `cargo bench --bench embedded`. The issue targets (ratios, restart time, write p99 during
//! a snapshot) are measured together in one run by `benches/targets.rs`.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem::{Backend, Node};

fn bench_dir(name: &str) -> tempfile::TempDir {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&root).expect("bench dir");
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(root)
        .expect("temp dir")
}

fn raw_fdatasync(c: &mut Criterion) {
    let dir = bench_dir("fdatasync");
    let path = dir.path().join("block");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&vec![0u8; 1 << 20]).unwrap();
    file.sync_all().unwrap();
    let block = vec![7u8; 4096];
    let mut group = c.benchmark_group("durable_write");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    let mut offset = 0u64;
    group.bench_function("raw_fdatasync_4k", |b| {
        b.iter(|| {
            file.write_all_at(&block, offset).unwrap();
            file.sync_data().unwrap();
            offset = (offset + 4096) % (1 << 20);
        })
    });
    group.finish();
}

fn durable_set(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("durable_write");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for backend in [Backend::Pwrite, Backend::IoUring] {
        let dir = bench_dir("set");
        let node = runtime
            .block_on(Node::builder(dir.path()).backend(backend).open())
            .unwrap();
        let db = node.db();
        let mut i = 0u64;
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("set_1_task", backend), |b| {
            b.to_async(&runtime).iter(|| {
                i += 1;
                let db = db.clone();
                async move {
                    db.set(format!("k{}", i % 100_000), "value-100-bytes")
                        .await
                        .unwrap()
                }
            })
        });
        const TASKS: u64 = 64;
        group.throughput(Throughput::Elements(TASKS * 64));
        group.bench_function(BenchmarkId::new("set_64_tasks", backend), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let db = db.clone();
                async move {
                    let started = Instant::now();
                    let mut handles = Vec::new();
                    for t in 0..TASKS {
                        let db = db.clone();
                        handles.push(tokio::spawn(async move {
                            for n in 0..iters * 64 {
                                db.set(format!("t{t}:{}", n % 1000), "value").await.unwrap();
                            }
                        }));
                    }
                    for h in handles {
                        h.await.unwrap();
                    }
                    started.elapsed()
                }
            })
        });
        runtime.block_on(node.shutdown()).unwrap();
    }
    group.finish();
}

criterion_group!(benches, raw_fdatasync, durable_set);
criterion_main!(benches);
