//! WAL tests: round trips, group commit, crash-at-every-sync, recovery rules, fault injection.
//! Every I/O test runs on both backends; every randomised test uses a fixed seed it prints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rand::{Rng, SeedableRng};

use super::*;

const BACKENDS: [Backend; 2] = [Backend::Pwrite, Backend::IoUring];
const TEST_SEGMENT_BYTES: u64 = 64 << 10;

fn test_dir() -> tempfile::TempDir {
    std::fs::create_dir_all("/work/tmp-wal").expect("tmp root");
    tempfile::Builder::new()
        .prefix("wal-test-")
        .tempdir_in("/work/tmp-wal")
        .expect("temp dir")
}

fn options(backend: Backend, vfs: Option<Arc<dyn Vfs>>) -> WalOptions {
    WalOptions {
        backend,
        segment_bytes: TEST_SEGMENT_BYTES,
        batch_bytes_max: 16 << 10,
        vfs,
        archive_dir: None,
        writer: WriterMode::Thread,
    }
}

/// A record whose payload is derived from (index, size, salt), so it can be checked later.
fn record(index: u64, bytes: usize, salt: u8) -> Record {
    let payload: Vec<u8> = (0..bytes)
        .map(|i| {
            (index as u8)
                .wrapping_mul(31)
                .wrapping_add(i as u8)
                .wrapping_add(salt)
        })
        .collect();
    Record {
        index,
        term: 1 + index / 100,
        kind: (index % 3) as u8,
        payload: Bytes::from(payload),
    }
}

fn size_of(index: u64) -> usize {
    ((index * 7919) % 1500) as usize
}

/// What a reboot after a crash must find: at least the `acked` first records of `all`, in
/// order (records written but not acknowledged may survive too, as a prefix).
fn assert_recovers_acked_prefix(got: &[Record], all: &[Record], acked: u64, context: &str) {
    assert!(
        got.len() as u64 >= acked,
        "{context}: acked {acked}, recovered {}",
        got.len()
    );
    assert_eq!(got[..], all[..got.len()], "{context}: not a prefix");
}

fn records(range: std::ops::RangeInclusive<u64>, salt: u8) -> Vec<Record> {
    range.map(|i| record(i, size_of(i), salt)).collect()
}

fn segment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("segment-"))
        .collect();
    names.sort();
    names
}

/// Appends in chunks of up to 7 records, without waiting, then flushes.
fn append_all(wal: &Wal, all: &[Record]) {
    let failures = Arc::new(Mutex::new(Vec::new()));
    for chunk in all.chunks(7) {
        let failures = failures.clone();
        let first = chunk[0].index;
        wal.append(
            chunk.to_vec(),
            Box::new(move |r| {
                if let Err(e) = r {
                    failures.lock().unwrap().push((first, e.to_string()));
                }
            }),
        );
    }
    wal.flush_blocking().expect("flush");
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
}

#[test]
fn append_reopen_round_trip_across_rollovers() {
    for backend in BACKENDS {
        let dir = test_dir();
        let first = records(1..=400, 0);
        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("open");
        assert!(recovery.records.is_empty());
        append_all(&wal, &first);
        assert_eq!(
            wal.positions(),
            WalPositions {
                accepted: 400,
                written: 400,
                flushed: 400
            }
        );
        wal.close().expect("close");
        assert!(
            segment_names(dir.path()).len() >= 4,
            "{backend}: expected rollovers"
        );

        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen");
        assert_eq!(recovery.records, first, "{backend}");
        assert!(recovery.torn_tail.is_none());
        assert_eq!(recovery.segment_count, segment_names(dir.path()).len());
        let second = records(401..=500, 0);
        append_all(&wal, &second);
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen 2");
        assert_eq!(recovery.records.len(), 500, "{backend}");
        assert_eq!(recovery.records[400..], second[..]);
    }
}

#[test]
fn truncate_then_append_continues_at_the_cut() {
    for backend in BACKENDS {
        let dir = test_dir();
        let (wal, _) = Wal::open(dir.path(), options(backend, None)).expect("open");
        append_all(&wal, &records(1..=300, 0));
        // Cut inside a sealed segment, then inside the active one.
        wal.truncate_from_blocking(120).expect("truncate");
        assert_eq!(wal.positions().accepted, 119);
        assert_eq!(wal.positions().flushed, 119);
        append_all(&wal, &records(120..=250, 1));
        wal.truncate_from_blocking(240).expect("truncate active");
        append_all(&wal, &records(240..=260, 2));
        // A rejected append: not continuing the log.
        let rejected = wal.append_blocking(records(300..=300, 0));
        assert!(matches!(
            rejected,
            Err(WalError::IndexNotConsecutive {
                expected: 261,
                actual: 300
            })
        ));
        wal.close().expect("close");

        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen");
        let mut expected = records(1..=119, 0);
        expected.extend(records(120..=239, 1));
        expected.extend(records(240..=260, 2));
        assert_eq!(recovery.records, expected, "{backend}");

        // Truncating everything empties the log; appending continues at the cut.
        wal.truncate_from_blocking(1).expect("truncate all");
        append_all(&wal, &records(1..=5, 3));
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen 2");
        assert_eq!(recovery.records, records(1..=5, 3), "{backend}");
    }
}

#[test]
fn purge_deletes_whole_segments_only() {
    for backend in BACKENDS {
        let dir = test_dir();
        let (wal, _) = Wal::open(dir.path(), options(backend, None)).expect("open");
        append_all(&wal, &records(1..=400, 0));
        let before = segment_names(dir.path()).len();
        wal.purge_through_blocking(200).expect("purge");
        let after = segment_names(dir.path()).len();
        assert!(after < before, "{backend}: {before} -> {after}");
        drop(wal);
        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen");
        let first = recovery.records[0].index;
        assert!(first > 1 && first <= 201, "{backend}: first {first}");
        assert_eq!(recovery.records.last().map(|r| r.index), Some(400));
        assert!(recovery
            .records
            .windows(2)
            .all(|w| w[0].index + 1 == w[1].index));

        // Purging past the end empties the log; the next append may start anywhere.
        wal.purge_through_blocking(1000).expect("purge all");
        assert_eq!(segment_names(dir.path()).len(), 1);
        append_all(&wal, &records(1001..=1010, 0));
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen 2");
        assert_eq!(recovery.records, records(1001..=1010, 0), "{backend}");
    }
}

#[test]
fn meta_round_trip_and_replace() {
    for backend in BACKENDS {
        let dir = test_dir();
        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("open");
        assert_eq!(recovery.meta, None);
        wal.save_meta_blocking(b"vote-1".to_vec()).expect("save");
        wal.save_meta_blocking(b"vote-2, purged 7".to_vec())
            .expect("save 2");
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen");
        assert_eq!(recovery.meta.as_deref(), Some(&b"vote-2, purged 7"[..]));
    }
}

#[test]
fn async_api_works_in_a_tokio_runtime() {
    let dir = test_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (wal, _) = Wal::open(dir.path(), options(Backend::IoUring, None)).expect("open");
        let (tx, rx) = tokio::sync::oneshot::channel();
        wal.append(records(1..=3, 0), Box::new(move |r| drop(tx.send(r))));
        rx.await.expect("callback").expect("durable");
        wal.save_meta(vec![1, 2, 3]).await.expect("meta");
        wal.truncate_from(3).await.expect("truncate");
        wal.purge_through(1).await.expect("purge");
        wal.flush().await.expect("flush");
        assert_eq!(wal.positions().flushed, 2);
    });
}

/// Group commit: appends queued while the writer is busy go out in one write and one fsync.
#[test]
fn group_commit_batches_queued_appends() {
    for backend in BACKENDS {
        let dir = test_dir();
        let (wal, _) = Wal::open(dir.path(), options(backend, None)).expect("open");
        let resume = wal.pause_writer();
        let done = Arc::new(Mutex::new(0u64));
        for index in 1..=200u64 {
            let done = done.clone();
            wal.append(
                vec![record(index, 20, 0)],
                Box::new(move |r| {
                    r.expect("durable");
                    *done.lock().unwrap() += 1;
                }),
            );
        }
        assert_eq!(
            *done.lock().unwrap(),
            0,
            "nothing is durable while the writer is held"
        );
        drop(resume);
        wal.flush_blocking().expect("flush");
        let stats = wal.stats();
        assert_eq!(*done.lock().unwrap(), 200);
        assert_eq!(stats.records, 200);
        assert!(stats.batches <= 2, "{backend}: {stats:?}");
        assert!(stats.fsync_count < 10, "{backend}: {stats:?}");
    }
}

/// A batch never exceeds `batch_bytes_max` unless one record alone does.
#[test]
fn batches_respect_batch_bytes_max() {
    let dir = test_dir();
    let mut opts = options(Backend::Pwrite, None);
    opts.batch_bytes_max = 1000;
    let (wal, _) = Wal::open(dir.path(), opts).expect("open");
    let resume = wal.pause_writer();
    for index in 1..=50u64 {
        wal.append(
            vec![record(index, 200, 0)],
            Box::new(|r| r.expect("durable")),
        );
    }
    drop(resume);
    wal.flush_blocking().expect("flush");
    let stats = wal.stats();
    assert!(stats.batches >= 50 * 232 / 1000, "{stats:?}");
    assert!(stats.last_batch_bytes <= 1000, "{stats:?}");
}

/// Runs the crash workload on `fs`; returns the highest index acknowledged before the
/// simulated power loss.
fn crash_workload(fs: &CrashFs, backend: Backend, seed: u64) -> (u64, Vec<Record>) {
    crash_workload_with(fs, options(backend, None), seed)
}

fn crash_workload_with(fs: &CrashFs, options: WalOptions, seed: u64) -> (u64, Vec<Record>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let all: Vec<Record> = (1..=250u64)
        .map(|i| record(i, rng.gen_range(0..2500), 9))
        .collect();
    let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
    let options = WalOptions {
        vfs: Some(vfs),
        ..options
    };
    let Ok((wal, _)) = Wal::open(Path::new("/wal"), options) else {
        return (0, all);
    };
    let acked = Arc::new(Mutex::new(0u64));
    let mut next = 0;
    let mut chunks = 0;
    while next < all.len() {
        let n = rng.gen_range(1..8).min(all.len() - next);
        let chunk = all[next..next + n].to_vec();
        next += n;
        let last = chunk[n - 1].index;
        let (acked, fs) = (acked.clone(), fs.clone());
        wal.append(
            chunk,
            Box::new(move |r| {
                if r.is_ok() && !fs.has_crashed() {
                    let mut a = acked.lock().unwrap();
                    assert!(last > *a, "callbacks out of order");
                    *a = last;
                }
            }),
        );
        chunks += 1;
        if chunks % 6 == 0 {
            let _ = wal.flush_blocking();
        }
    }
    let _ = wal.flush_blocking();
    drop(wal);
    let acked = *acked.lock().unwrap();
    (acked, all)
}

/// Callbacks fire only after fsync: for every N, freezing durability at the N-th sync and
/// rebooting from the durable image keeps every acknowledged record.
#[test]
fn crash_at_every_sync_keeps_every_acknowledged_append() {
    for backend in BACKENDS {
        let seed = 0xC0FFEE;
        let probe = CrashFs::new();
        let (acked, _) = crash_workload(&probe, backend, seed);
        assert_eq!(acked, 250);
        let syncs_total = probe.sync_count();
        assert!(syncs_total > 20, "{backend}: {syncs_total} syncs");
        for freeze in 0..=syncs_total {
            let fs = CrashFs::new();
            fs.freeze_after_syncs(freeze);
            let (acked, all) = crash_workload(&fs, backend, seed);
            let rebooted: Arc<dyn Vfs> = Arc::new(fs.crash_image());
            let (wal, recovery) = Wal::open(Path::new("/wal"), options(backend, Some(rebooted)))
                .unwrap_or_else(|e| panic!("{backend} seed {seed} freeze {freeze}: {e}"));
            let got = &recovery.records;
            let context = format!("{backend} seed {seed} freeze {freeze}");
            assert_recovers_acked_prefix(got, &all, acked, &context);
            // The log keeps working after the reboot.
            let next = got.len() as u64 + 1;
            wal.append_blocking(vec![record(next, 10, 0)])
                .unwrap_or_else(|e| panic!("{backend} freeze {freeze}: append after reboot: {e}"));
        }
    }
}

/// Runs the crash workload once to count its syncs, then once per sync point with durability
/// frozen there, and checks that a reboot of each crash image keeps every acknowledged record.
fn crash_at_every_sync(options: &dyn Fn() -> WalOptions, seed: u64, context: &str) {
    let probe = CrashFs::new();
    let (acked, _) = crash_workload_with(&probe, options(), seed);
    assert_eq!(acked, 250, "{context}");
    let syncs_total = probe.sync_count();
    assert!(syncs_total > 20, "{context}: {syncs_total} syncs");
    for freeze in 0..=syncs_total {
        let fs = CrashFs::new();
        fs.freeze_after_syncs(freeze);
        let (acked, all) = crash_workload_with(&fs, options(), seed);
        let rebooted = WalOptions {
            vfs: Some(Arc::new(fs.crash_image())),
            ..options()
        };
        let context = format!("{context} freeze {freeze}");
        let (_wal, recovery) =
            Wal::open(Path::new("/wal"), rebooted).unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_recovers_acked_prefix(&recovery.records, &all, acked, &context);
    }
}

/// The inline writer (no threads, for the simulator) keeps the same promise: freezing
/// durability at any sync and rebooting keeps every acknowledged record, and every append has
/// completed when its call returns.
#[test]
fn inline_writer_completes_in_the_call_and_survives_a_crash_at_every_sync() {
    let seed = 0x1A11E;
    let inline = || WalOptions {
        writer: WriterMode::Inline,
        ..options(Backend::Pwrite, None)
    };
    let probe = CrashFs::new();
    let (wal, _) = Wal::open(
        Path::new("/wal"),
        WalOptions {
            vfs: Some(Arc::new(probe.clone())),
            ..inline()
        },
    )
    .expect("open inline");
    let done = Arc::new(Mutex::new(false));
    let seen = done.clone();
    wal.append(
        vec![record(1, 100, 0)],
        Box::new(move |r| *seen.lock().unwrap() = r.is_ok()),
    );
    assert!(
        *done.lock().unwrap(),
        "an inline append completes before it returns"
    );
    assert_eq!(wal.positions().flushed, 1);
    wal.close().expect("close inline");

    crash_at_every_sync(&inline, seed, "inline");
}

/// The caller-thread writer (`tandem serve --wal-writer inline`) completes each append inside
/// the call, on the calling thread, with no writer thread; rollover still works (the segment
/// preparer has its own thread); and freezing durability at any sync keeps every acknowledged
/// record, on both backends.
#[test]
fn caller_writer_completes_on_the_caller_and_survives_a_crash_at_every_sync() {
    for backend in BACKENDS {
        let seed = 0xCA11E4;
        let caller = || WalOptions {
            writer: WriterMode::Caller,
            ..options(backend, None)
        };
        let dir = test_dir();
        let (wal, _) = Wal::open(dir.path(), caller()).expect("open caller");
        let caller_thread = std::thread::current().id();
        let mut next = 1;
        // Enough bytes for several segments.
        while next <= 200 {
            let ran_on = Arc::new(Mutex::new(None));
            let seen = ran_on.clone();
            wal.append(
                vec![record(next, 1000, 0)],
                Box::new(move |r| {
                    *seen.lock().unwrap() = Some((r.is_ok(), std::thread::current().id()))
                }),
            );
            assert_eq!(
                *ran_on.lock().unwrap(),
                Some((true, caller_thread)),
                "{backend}: append {next} completed in the call, on the caller"
            );
            assert_eq!(wal.positions().flushed, next);
            next += 1;
        }
        wal.close().expect("close caller");
        let (_wal, recovery) = Wal::open(dir.path(), caller()).expect("reopen caller");
        assert!(recovery.segment_count > 2, "{backend}: rolled over");
        assert_eq!(recovery.records.len(), 200);

        crash_at_every_sync(&caller, seed, &backend.to_string());
    }
}

/// The names `--wal-writer` accepts, and that they round-trip through their text.
#[test]
fn writer_mode_names() {
    assert_eq!("thread".parse::<WriterMode>().unwrap(), WriterMode::Thread);
    assert_eq!("inline".parse::<WriterMode>().unwrap(), WriterMode::Caller);
    assert!("inline-no-threads".parse::<WriterMode>().is_err());
    assert!("fast".parse::<WriterMode>().is_err());
    for mode in [WriterMode::Thread, WriterMode::Caller] {
        assert_eq!(mode.to_string().parse::<WriterMode>().unwrap(), mode);
    }
}

/// A torn power loss (some writes made after the last sync reach the disk, in order, the last
/// one cut anywhere) never makes recovery refuse the log or lose an acknowledged record: the
/// torn part is a tail, and recovery cuts it. Every sync point, several tears each.
#[test]
fn torn_writes_after_any_sync_are_cut_as_a_tail() {
    let seed = 0x7EA2;
    let inline = || WalOptions {
        writer: WriterMode::Inline,
        ..options(Backend::Pwrite, None)
    };
    let probe = CrashFs::new();
    let (_, _) = crash_workload_with(&probe, inline(), seed);
    let syncs_total = probe.sync_count();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut torn_files = 0;
    for freeze in 0..=syncs_total {
        let fs = CrashFs::new();
        fs.freeze_after_syncs(freeze);
        let (acked, all) = crash_workload_with(&fs, inline(), seed);
        for tear in 0..3 {
            let rebooted = fs.torn_crash_image(&mut |_, lengths| {
                let writes = rng.gen_range(0..=lengths.len());
                let bytes = lengths.get(writes).map_or(0, |&len| rng.gen_range(0..=len));
                torn_files += usize::from(bytes > 0);
                vfs::Kept { writes, bytes }
            });
            let options = WalOptions {
                vfs: Some(Arc::new(rebooted)),
                ..inline()
            };
            let (_wal, recovery) = Wal::open(Path::new("/wal"), options)
                .unwrap_or_else(|e| panic!("freeze {freeze} tear {tear}: {e}"));
            assert_recovers_acked_prefix(
                &recovery.records,
                &all,
                acked,
                &format!("freeze {freeze} tear {tear}"),
            );
        }
    }
    assert!(torn_files > 100, "only {torn_files} torn files");
}

fn last_segment(dir: &Path) -> PathBuf {
    dir.join(segment_names(dir).last().expect("a segment"))
}

fn write_then_close(dir: &Path, backend: Backend, all: &[Record]) {
    let (wal, _) = Wal::open(dir, options(backend, None)).expect("open");
    append_all(&wal, all);
    wal.close().expect("close");
}

/// Offsets of the records in a segment file.
fn record_offsets(path: &Path) -> Vec<(u64, u64)> {
    let bytes = std::fs::read(path).expect("read segment");
    let scan = decode_segment(&bytes).expect("header");
    scan.records.iter().map(|(o, r)| (*o, r.index)).collect()
}

fn patch(path: &Path, offset: u64, f: impl FnOnce(&mut [u8])) {
    let mut bytes = std::fs::read(path).expect("read");
    f(&mut bytes[offset as usize..]);
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn torn_tail_is_cut_and_reported() {
    for backend in BACKENDS {
        let dir = test_dir();
        let all = records(1..=120, 0);
        write_then_close(dir.path(), backend, &all);
        let segment = last_segment(dir.path());
        let &(offset, index) = record_offsets(&segment).last().expect("records");
        // A torn write: the header and part of the payload landed, the rest is garbage.
        patch(&segment, offset + 40, |b| {
            b[..8].copy_from_slice(&[0xAB; 8])
        });
        let (wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("open");
        let torn = recovery.torn_tail.clone().expect("torn tail reported");
        assert_eq!(torn.offset, offset);
        assert!(torn.bytes_discarded > 0);
        assert!(segment.ends_with(&torn.segment));
        assert_eq!(recovery.records[..], all[..(index - 1) as usize]);
        // The cut is durable and the log continues at the torn index.
        append_all(&wal, &records(index..=index + 3, 5));
        drop(wal);
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("reopen");
        assert!(recovery.torn_tail.is_none());
        assert_eq!(recovery.records.last().map(|r| r.index), Some(index + 3));
    }
}

#[test]
fn zeroed_tail_is_a_clean_end() {
    for backend in BACKENDS {
        let dir = test_dir();
        let all = records(1..=120, 0);
        write_then_close(dir.path(), backend, &all);
        let segment = last_segment(dir.path());
        let offsets = record_offsets(&segment);
        let (cut, index) = offsets[offsets.len() - 3];
        let len = std::fs::metadata(&segment).unwrap().len();
        patch(&segment, cut, |b| b[..(len - cut) as usize].fill(0));
        let (_wal, recovery) = Wal::open(dir.path(), options(backend, None)).expect("open");
        assert!(recovery.torn_tail.is_none());
        assert_eq!(recovery.records[..], all[..(index - 1) as usize]);
    }
}

/// Header zeroed but payload bytes still there, nothing valid after: a torn tail too.
#[test]
fn zero_header_with_garbage_after_is_a_torn_tail() {
    let dir = test_dir();
    let all = records(1..=50, 0);
    write_then_close(dir.path(), Backend::Pwrite, &all);
    let segment = last_segment(dir.path());
    let &(offset, index) = record_offsets(&segment).last().unwrap();
    assert!(
        size_of(index) > 0,
        "the last record needs a payload for this test"
    );
    patch(&segment, offset, |b| b[..32].fill(0));
    let (_wal, recovery) = Wal::open(dir.path(), options(Backend::Pwrite, None)).expect("open");
    let torn = recovery.torn_tail.expect("torn tail");
    assert_eq!(torn.offset, offset);
    assert_eq!(recovery.records[..], all[..(index - 1) as usize]);
}

#[test]
fn corrupt_record_in_the_middle_refuses_to_open() {
    for backend in BACKENDS {
        let dir = test_dir();
        write_then_close(dir.path(), backend, &records(1..=120, 0));
        let segment = last_segment(dir.path());
        let offsets = record_offsets(&segment);
        let (offset, index) = offsets[offsets.len() / 2];
        patch(&segment, offset + 20, |b| b[0] ^= 0x01);
        let error = Wal::open(dir.path(), options(backend, None)).expect_err("must refuse");
        let name = segment.file_name().unwrap().to_str().unwrap().to_string();
        match &error {
            WalError::ChecksumMismatch {
                segment,
                offset: at,
                ..
            } => {
                assert_eq!(segment, &name);
                assert_eq!(*at, offset, "record {index}");
            }
            other => panic!("{backend}: unexpected {other:?}"),
        }
        let text = error.to_string();
        assert!(
            text.contains("refuses to start") && text.contains("tandem inspect"),
            "{text}"
        );
        assert!(
            text.contains(&name) && text.contains(&offset.to_string()),
            "{text}"
        );

        // inspect names the problem without changing anything; the repair is the way out.
        let report = inspect(dir.path()).expect("inspect");
        assert!(report.fatal.is_some());
        assert!(report.segments.iter().any(|s| !s.problems.is_empty()));
        repair_truncate_at(dir.path(), &name, offset).expect("repair");
        let (_wal, recovery) =
            Wal::open(dir.path(), options(backend, None)).expect("open after repair");
        assert_eq!(recovery.records.last().map(|r| r.index), Some(index - 1));
    }
}

#[test]
fn corrupt_last_record_of_a_sealed_segment_refuses_to_open() {
    let dir = test_dir();
    write_then_close(dir.path(), Backend::Pwrite, &records(1..=200, 0));
    let names = segment_names(dir.path());
    assert!(names.len() >= 3);
    let sealed = dir.path().join(&names[names.len() - 2]);
    let &(offset, _) = record_offsets(&sealed).last().unwrap();
    patch(&sealed, offset + 8, |b| b[0] ^= 0x80);
    let error = Wal::open(dir.path(), options(Backend::Pwrite, None)).expect_err("must refuse");
    assert!(
        matches!(&error, WalError::ChecksumMismatch { segment, .. } if *segment == names[names.len() - 2]),
        "{error:?}"
    );
}

#[test]
fn missing_middle_segment_refuses_to_open() {
    let dir = test_dir();
    write_then_close(dir.path(), Backend::IoUring, &records(1..=300, 0));
    let names = segment_names(dir.path());
    assert!(names.len() >= 4);
    std::fs::remove_file(dir.path().join(&names[1])).unwrap();
    let error = Wal::open(dir.path(), options(Backend::IoUring, None)).expect_err("must refuse");
    assert!(
        matches!(error, WalError::MissingSegment { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("refuses to start"));
}

#[test]
fn bad_segment_header_refuses_to_open() {
    let dir = test_dir();
    write_then_close(dir.path(), Backend::Pwrite, &records(1..=100, 0));
    let names = segment_names(dir.path());
    patch(&dir.path().join(&names[0]), 17, |b| b[0] ^= 1);
    let error = Wal::open(dir.path(), options(Backend::Pwrite, None)).expect_err("must refuse");
    assert!(
        matches!(error, WalError::BadSegmentHeader { .. }),
        "{error:?}"
    );
}

/// Injected I/O errors poison the log: the failing batch and everything after it fail, and
/// a reboot recovers every acknowledged record, in order (and possibly a batch made durable
/// but not acknowledged before the failure).
#[test]
fn io_errors_poison_and_reboot_recovers_the_acknowledged_prefix() {
    for backend in BACKENDS {
        for kind in [FaultKind::WriteEio, FaultKind::SyncEio, FaultKind::NoSpace] {
            for calls in [0u64, 1, 2, 3, 5, 8, 13, 21] {
                let context = format!("{backend} {kind:?} after {calls}");
                let disk = CrashFs::new();
                let faulty = FaultFs::new(Arc::new(disk.clone()));
                let vfs: Arc<dyn Vfs> = Arc::new(faulty.clone());
                let (wal, _) =
                    Wal::open(Path::new("/wal"), options(backend, Some(vfs))).expect("open");
                faulty.arm(kind, calls);
                let results = Arc::new(Mutex::new(Vec::new()));
                let all = records(1..=150, 4);
                for chunk in all.chunks(3) {
                    let (results, last) = (results.clone(), chunk[2].index);
                    wal.append(
                        chunk.to_vec(),
                        Box::new(move |r| results.lock().unwrap().push((last, r))),
                    );
                    if last % 6 == 0 {
                        let _ = wal.flush_blocking();
                    }
                }
                let flushed = wal.flush_blocking();
                assert!(faulty.failure_count() > 0, "{context}: no fault injected");
                assert!(
                    matches!(flushed, Err(WalError::Poisoned { .. })),
                    "{context}: {flushed:?}"
                );
                let later = wal.append_blocking(vec![record(151, 1, 0)]);
                assert!(matches!(later, Err(WalError::Poisoned { .. })), "{context}");
                assert!(matches!(
                    wal.save_meta_blocking(vec![1]),
                    Err(WalError::Poisoned { .. })
                ));
                let results = std::mem::take(&mut *results.lock().unwrap());
                let acked = results.iter().take_while(|(_, r)| r.is_ok()).count();
                assert!(
                    results[acked..]
                        .iter()
                        .all(|(_, r)| matches!(r, Err(WalError::Poisoned { .. }))),
                    "{context}: an append succeeded after the first failure"
                );
                let acked_last = results[..acked].last().map_or(0, |(last, _)| *last);
                // An append split across batches may be partly durable without being acked.
                let flushed = wal.positions().flushed;
                assert!(
                    flushed >= acked_last && flushed < acked_last + 3,
                    "{context}: {flushed}"
                );
                assert!(matches!(wal.close(), Err(WalError::Poisoned { .. })));

                let rebooted: Arc<dyn Vfs> = Arc::new(disk.crash_image());
                let (_wal, recovery) =
                    Wal::open(Path::new("/wal"), options(backend, Some(rebooted)))
                        .unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
                // Every acknowledged record, in order. A batch whose data sync succeeded but
                // whose later sync failed (another thread's sync may take the last successful
                // call first) is durable without being acknowledged: it may come back too, as
                // uncommitted log entries may.
                assert_recovers_acked_prefix(&recovery.records, &all, flushed, &context);
            }
        }
    }
}

#[test]
fn rejected_requests_do_not_poison() {
    let dir = test_dir();
    let (wal, _) = Wal::open(dir.path(), options(Backend::Pwrite, None)).expect("open");
    let huge = Record {
        index: 1,
        term: 1,
        kind: 0,
        payload: Bytes::from(vec![0u8; TEST_SEGMENT_BYTES as usize]),
    };
    assert!(matches!(
        wal.append_blocking(vec![huge]),
        Err(WalError::RecordTooLarge { .. })
    ));
    let gap = vec![record(1, 1, 0), record(3, 1, 0)];
    assert!(matches!(
        wal.append_blocking(gap),
        Err(WalError::IndexNotConsecutive { .. })
    ));
    wal.append_blocking(records(1..=2, 0))
        .expect("log still healthy");
    assert_eq!("io_uring".parse::<Backend>().ok(), Some(Backend::IoUring));
    assert_eq!("pwrite".parse::<Backend>().ok(), Some(Backend::Pwrite));
    assert!("mmap".parse::<Backend>().is_err());
    assert_eq!(Backend::IoUring.to_string(), "io_uring");
}

/// An interrupted purge-everything (new RESET segment durable, old segments not yet removed)
/// recovers to the new, empty log rather than reporting an index gap.
#[test]
fn reset_segment_makes_older_segments_obsolete() {
    let fs = CrashFs::new();
    let vfs: Arc<dyn Vfs> = Arc::new(fs.clone());
    let dir = Path::new("/wal");
    let (wal, _) = Wal::open(dir, options(Backend::Pwrite, Some(vfs.clone()))).expect("open");
    append_all(&wal, &records(1..=200, 0));
    wal.purge_through_blocking(500).expect("purge all");
    append_all(&wal, &records(501..=510, 0));
    drop(wal);
    // Put an old segment back, as if its removal never became durable.
    let (_w, r) = Wal::open(dir, options(Backend::Pwrite, Some(vfs.clone()))).expect("reopen");
    assert_eq!(r.records, records(501..=510, 0));
    drop(_w);
    let names = list_segments(&*vfs, dir).unwrap();
    let first_seq = names[0].0;
    let stale = dir.join(segment_file_name(first_seq - 1));
    let image = segment_header_only(first_seq - 1, 1);
    let file = vfs
        .open(
            &stale,
            vfs::OpenMode::CreateTruncate,
            vfs::Caching::Buffered,
        )
        .unwrap();
    file.write_at(&image, 0).unwrap();
    drop(file);
    let (_w, r) = Wal::open(dir, options(Backend::Pwrite, Some(vfs.clone()))).expect("reopen 2");
    assert_eq!(r.records, records(501..=510, 0));
    assert!(!vfs.exists(&stale).unwrap(), "obsolete segment removed");
}

fn segment_header_only(seq: u64, first_index: u64) -> Vec<u8> {
    let mut image = SegmentHeader {
        flags: 0,
        seq,
        first_index,
    }
    .encode()
    .to_vec();
    image.resize(TEST_SEGMENT_BYTES as usize, 0);
    image
}

/// Holds back the syncs the segment preparer issues on `next.spare` (the files it creates),
/// so a test can keep the spare "not ready" for as long as it likes.
#[derive(Debug)]
struct SpareGateFs {
    inner: Arc<dyn Vfs>,
    gate: Arc<SpareGate>,
}

#[derive(Debug, Default)]
struct SpareGate {
    /// Spare syncs still allowed through, and whether the gate is open for good.
    state: Mutex<(u64, bool)>,
    changed: std::sync::Condvar,
}

impl SpareGate {
    fn new(syncs_allowed: u64) -> Arc<Self> {
        Arc::new(SpareGate {
            state: Mutex::new((syncs_allowed, false)),
            changed: std::sync::Condvar::new(),
        })
    }

    fn open(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        while state.0 == 0 && !state.1 {
            state = self.changed.wait(state).unwrap();
        }
        state.0 = state.0.saturating_sub(1);
    }
}

/// Opens the gate when dropped, so a failing test never leaves the preparer (and with it the
/// writer's close) blocked. Declare it after the `Wal` so it is dropped first.
struct OpenGateOnDrop(Arc<SpareGate>);

impl Drop for OpenGateOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[derive(Debug)]
struct GatedFile {
    inner: Box<dyn vfs::VfsFile>,
    gate: Arc<SpareGate>,
}

impl vfs::VfsFile for GatedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn sync(&self) -> std::io::Result<()> {
        self.gate.pass();
        self.inner.sync()
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
}

impl Vfs for SpareGateFs {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(
        &self,
        path: &Path,
        mode: vfs::OpenMode,
        caching: vfs::Caching,
    ) -> std::io::Result<Box<dyn vfs::VfsFile>> {
        let file = self.inner.open(path, mode, caching)?;
        let is_spare = path.file_name() == Some(SPARE_FILE_NAME.as_ref());
        if is_spare && mode == vfs::OpenMode::CreateTruncate {
            return Ok(Box::new(GatedFile {
                inner: file,
                gate: self.gate.clone(),
            }));
        }
        Ok(file)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn read_whole(&self, path: &Path) -> std::io::Result<vfs::FileBytes> {
        self.inner.read_whole(path)
    }
}

/// How long a test waits for an acknowledgement that must come before calling it lost.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Regression: spare-segment preparation ran on the writer thread between batches, so a
/// client's durable write waited behind zero-filling and the spare's fsync. Now appends that
/// fit in the active segment are acknowledged while the spare's sync is held back; only the
/// rollover waits for the spare, and it does wait (nothing goes into a segment that is not
/// zero-filled and synced).
#[test]
fn group_commit_never_waits_for_the_spare_and_rollover_waits_for_it() {
    const PAYLOAD_BYTES: usize = 200;
    let fitting =
        (TEST_SEGMENT_BYTES - SEGMENT_HEADER_BYTES as u64) / record_bytes(PAYLOAD_BYTES) as u64;
    let total = fitting + 20;
    for backend in BACKENDS {
        let disk = CrashFs::new();
        // The first spare (it becomes segment 1 at open) may sync; the next one is held.
        let gate = SpareGate::new(1);
        let vfs: Arc<dyn Vfs> = Arc::new(SpareGateFs {
            inner: Arc::new(disk.clone()),
            gate: gate.clone(),
        });
        let dir = Path::new("/wal");
        let (wal, _) = Wal::open(dir, options(backend, Some(vfs))).expect("open");
        let _open_gate = OpenGateOnDrop(gate.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let append = |index: u64| {
            let tx = tx.clone();
            wal.append(
                vec![record(index, PAYLOAD_BYTES, 0)],
                Box::new(move |r| {
                    let _ = tx.send((index, r.is_ok()));
                }),
            );
        };

        // One write at a time, like a single client: each is acknowledged on its own.
        for index in 1..=fitting {
            append(index);
            let acked = rx.recv_timeout(ACK_WAIT);
            assert_eq!(
                acked,
                Ok((index, true)),
                "{backend}: append {index} waited for the spare"
            );
        }
        // These need the next segment, whose spare is not synced yet.
        for index in fitting + 1..=total {
            append(index);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            rx.try_recv().is_err(),
            "{backend}: acknowledged before the spare was ready"
        );
        assert_eq!(wal.positions().flushed, fitting, "{backend}");
        gate.open();
        for index in fitting + 1..=total {
            assert_eq!(rx.recv_timeout(ACK_WAIT), Ok((index, true)), "{backend}");
        }
        wal.close().expect("close");
        let (_wal, recovery) =
            Wal::open(dir, options(backend, Some(Arc::new(disk.clone())))).expect("reopen");
        assert_eq!(recovery.records.len() as u64, total, "{backend}");
        assert_eq!(recovery.segment_count, 2, "{backend}");
    }
}

/// An I/O error while preparing the spare is a device error: it poisons the log even though
/// no request was waiting on that file, it is reported with its cause, and it is not retried.
#[test]
fn spare_preparation_error_poisons_the_log_and_is_not_retried() {
    // Counted from open on an empty directory: the first spare's zero-fill write and sync,
    // then segment 1's header write, header sync and directory sync; the next call of each
    // kind is the second spare's.
    let cases = [
        (FaultKind::WriteEio, 2, "zero-fill spare"),
        (FaultKind::NoSpace, 2, "zero-fill spare"),
        (FaultKind::SyncEio, 3, "sync spare"),
    ];
    for backend in BACKENDS {
        for (kind, calls, what) in cases {
            let context = format!("{backend} {kind:?}");
            let disk = CrashFs::new();
            let faulty = FaultFs::new(Arc::new(disk.clone()));
            faulty.arm(kind, calls);
            let vfs: Arc<dyn Vfs> = Arc::new(faulty.clone());
            let (wal, _) = Wal::open(Path::new("/wal"), options(backend, Some(vfs)))
                .unwrap_or_else(|e| panic!("{context}: open: {e}"));
            let deadline = std::time::Instant::now() + ACK_WAIT;
            let cause = loop {
                if let Some(cause) = wal.shared.poison.get() {
                    break cause.clone();
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{context}: not poisoned"
                );
                std::thread::sleep(std::time::Duration::from_millis(1));
            };
            assert!(cause.to_string().contains(what), "{context}: {cause}");
            assert!(
                matches!(wal.flush_blocking(), Err(WalError::Poisoned { .. })),
                "{context}"
            );
            assert!(
                matches!(
                    wal.append_blocking(records(1..=1, 0)),
                    Err(WalError::Poisoned { .. })
                ),
                "{context}"
            );
            assert!(
                matches!(wal.close(), Err(WalError::Poisoned { .. })),
                "{context}"
            );
            // Every later call of the armed kind would fail too: exactly one means the
            // preparer stopped and nothing else was written after the error.
            assert_eq!(faulty.failure_count(), 1, "{context}");
            let (_wal, recovery) = Wal::open(
                Path::new("/wal"),
                options(backend, Some(Arc::new(disk.crash_image()))),
            )
            .unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
            assert!(recovery.records.is_empty(), "{context}");
        }
    }
}

/// WAL archiving: every record appended reaches the archive (sealed segments as they roll,
/// the active one on demand and at close), each archive file verifies, and a purge never
/// removes a segment before the archiver copied it.
#[test]
fn archive_holds_every_record_after_rolls_purges_and_close() {
    let dir = test_dir();
    let archive_dir = dir.path().join("archive");
    let wal_dir = dir.path().join("wal");
    let open = || {
        let options = WalOptions {
            archive_dir: Some(archive_dir.clone()),
            ..options(Backend::Pwrite, None)
        };
        Wal::open(&wal_dir, options).expect("open").0
    };
    let wal = open();
    let all = records(1..=400, 5);
    append_all(&wal, &all[..300]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime
        .block_on(wal.archive_active())
        .expect("archive the active segment");
    wal.purge_through_blocking(250).expect("purge");
    append_all(&wal, &all[300..]);
    wal.close().expect("close");

    let files = archive::list_archive(&archive_dir).expect("list archive");
    assert!(files.len() >= 3, "{files:?}");
    let mut archived = std::collections::BTreeMap::new();
    for file in &files {
        // Later files replace what earlier ones held from their first index on.
        archived.split_off(&file.first_index);
        for record in archive::read_archive(file).expect("archive file verifies") {
            archived.insert(record.index, record);
        }
    }
    assert_eq!(archived.into_values().collect::<Vec<_>>(), all);

    // A flipped byte is caught by the file's checksum.
    let victim = &files[0];
    let mut bytes = std::fs::read(&victim.path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&victim.path, bytes).unwrap();
    let error = archive::read_archive(victim).expect_err("corrupt file refused");
    assert!(error.to_string().contains("checksum mismatch"), "{error}");
}
