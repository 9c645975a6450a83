//! WAL append latency: one iteration = append a batch of N records (100-byte payloads) and wait
//! until the WAL reports them durable (fsync done), for N in {1, 16, 256} and both backends.
//! `raw_fdatasync_4k` is the floor: overwrite one preallocated 4 KiB block and fdatasync it.
//!
//! A regression means acknowledged writes got slower: compare against `raw_fdatasync_4k` on the
//! same machine — a WAL batch should cost about one fdatasync plus copying; a gap that grows is
//! ours (encoding, queueing, extra syncs), not the disk's. The backend that wins here is the one
//! `Backend::default()` should name. Set TANDEM_BENCH_DIR to a directory on the disk under test
//! (O_DIRECT does not work on tmpfs).

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem::wal::{Backend, Record, Wal, WalOptions};

const PAYLOAD_BYTES: usize = 100;
const BATCH_RECORDS: [usize; 3] = [1, 16, 256];

fn bench_dir(name: &str) -> PathBuf {
    let root = std::env::var_os("TANDEM_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/wal-bench"));
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    dir
}

fn wal_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_durable");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    let payload = Bytes::from(vec![0x5a; PAYLOAD_BYTES]);
    for backend in [Backend::Pwrite, Backend::IoUring] {
        for records in BATCH_RECORDS {
            let dir = bench_dir(&format!("{backend}-{records}"));
            let (wal, _) = Wal::open(
                &dir,
                WalOptions {
                    backend,
                    ..WalOptions::default()
                },
            )
            .expect("open wal");
            let mut next_index = 1u64;
            group.throughput(Throughput::Elements(records as u64));
            group.bench_function(BenchmarkId::new(backend.to_string(), records), |b| {
                b.iter(|| {
                    let batch: Vec<Record> = (0..records as u64)
                        .map(|i| Record {
                            index: next_index + i,
                            term: 1,
                            kind: 0,
                            payload: payload.clone(),
                        })
                        .collect();
                    next_index += records as u64;
                    wal.append_blocking(batch).expect("durable");
                })
            });
            wal.close().expect("close");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    group.finish();
}

fn raw_fdatasync(c: &mut Criterion) {
    let dir = bench_dir("raw");
    let path = dir.join("block");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    let block = vec![0x5au8; 4096];
    file.write_all_at(&block, 0).expect("preallocate");
    file.sync_all().expect("sync");
    let mut group = c.benchmark_group("raw");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("raw_fdatasync_4k", |b| {
        b.iter(|| {
            file.write_all_at(&block, 0).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, raw_fdatasync, wal_append);
criterion_main!(benches);
