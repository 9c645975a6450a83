//! The write-ahead log: segmented, checksummed, group-committed; the Raft log lives in it.
//!
//! Owns the log directory. Invariants: every operation (append, truncate, purge, save_meta,
//! flush) flows through one ordered queue to one writer and completes in queue order (the
//! writer's preparer only fills `next.spare`, which nothing reads until the writer takes it);
//! an append completes `Ok` only after an fsync covering it; positions keep
//! `flushed <= written <= accepted`; after any I/O error the log is poisoned for good. The
//! writer runs on its own thread ([`WriterMode::Thread`]), or inside each call on the caller's
//! thread ([`WriterMode::Caller`], for `tandem serve --wal-writer inline`; [`WriterMode::Inline`],
//! with no thread at all, for the deterministic simulator).

pub mod archive;
mod device;
mod error;
pub mod meta;
mod reader;
mod record;
mod recovery;
mod segment;
mod spare;
mod uring;
pub mod vfs;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use error::{WalError, CORRUPTION_WAY_OUT};
pub use reader::{list_segments, read_segments, SegmentImage};
pub use record::{
    decode_record, encode_record, record_bytes, Record, RecordProblem, RECORD_HEADER_BYTES,
};
pub use recovery::{
    inspect, inspect_with, repair_truncate_at, repair_truncate_at_with, InspectReport, Recovery,
    SegmentReport, TornTail,
};
pub use segment::{
    decode_segment, segment_file_name, SegmentHeader, SegmentScan, StopReason, SEGMENT_HEADER_BYTES,
};
pub use vfs::{CrashFs, FaultFs, FaultKind, RealFs, Vfs};

use device::{Device, PwriteDevice};
use spare::SPARE_FILE_NAME;
use uring::UringDevice;
use writer::{Op, Shared, Writer, WriterConfig};

/// Default segment size: large enough that rollover (which drains the pipeline) is rare.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// Bytes of a segment that no record payload can use: the segment header and one record's
/// header, and alignment padding. A payload larger than the segment size minus this is refused.
pub const SEGMENT_OVERHEAD_BYTES: usize =
    SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES + SEGMENT_ALIGN_BYTES as usize;
/// Default cap on the bytes one group commit writes.
pub const BATCH_BYTES_MAX_DEFAULT: usize = 1 << 20;
/// Segment sizes must be a multiple of this (O_DIRECT block size).
pub const SEGMENT_ALIGN_BYTES: u64 = 4096;

/// Called once with the outcome of an append, on the writer thread; keep it short.
pub type Completion = Box<dyn FnOnce(Result<(), WalError>) + Send + 'static>;

/// How batches reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// `pwrite` + `fdatasync`, one batch at a time.
    #[default]
    Pwrite,
    /// io_uring with O_DIRECT, linked write+fdatasync, two batches in flight.
    IoUring,
}

impl FromStr for Backend {
    type Err = WalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pwrite" => Ok(Backend::Pwrite),
            "io_uring" => Ok(Backend::IoUring),
            other => Err(WalError::InvalidOptions {
                reason: format!(
                    "unknown wal backend {other:?} (expected \"pwrite\" or \"io_uring\")"
                ),
            }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Pwrite => "pwrite",
            Backend::IoUring => "io_uring",
        })
    }
}

/// Where the writer (and its segment preparer) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WriterMode {
    /// On dedicated threads: callers never wait for the disk, and group commit gathers what
    /// arrives while a sync runs.
    #[default]
    Thread,
    /// The writer on the calling thread, inside each call (as [`WriterMode::Inline`]): an
    /// append is written and fdatasynced before the call returns, and its completion fires on
    /// the caller, so the common write path crosses no thread. The segment preparer and the
    /// archiver keep their own threads, so rollover never zero-fills a segment on the caller.
    /// The caller blocks for every sync: on an async runtime nothing else runs on that thread
    /// meanwhile. Group commit is the caller's: what arrives during a sync is the next call.
    Caller,
    /// On the calling thread, inside each call: an append or control operation is written,
    /// synced and completed before the call returns (completions fire after the log's locks
    /// are released). No thread is started, so a single-threaded simulation with paused time
    /// stays deterministic; there is no group commit across calls.
    Inline,
}

/// The names `tandem serve` accepts (`--wal-writer`, `wal_writer`): `thread` and `inline`
/// ([`WriterMode::Caller`]). The simulator's thread-less mode has no name there.
impl FromStr for WriterMode {
    type Err = WalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "thread" => Ok(WriterMode::Thread),
            "inline" => Ok(WriterMode::Caller),
            other => Err(WalError::InvalidOptions {
                reason: format!("unknown wal writer {other:?} (expected \"thread\" or \"inline\")"),
            }),
        }
    }
}

impl fmt::Display for WriterMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriterMode::Thread => "thread",
            WriterMode::Caller => "inline",
            WriterMode::Inline => "inline-no-threads",
        })
    }
}

/// Options of [`Wal::open`].
#[derive(Clone, Debug)]
pub struct WalOptions {
    pub backend: Backend,
    /// Bytes of each segment file (multiple of 4096, at least 8192).
    pub segment_bytes: u64,
    /// Cap on the bytes written by one group commit (a single larger record still goes alone).
    pub batch_bytes_max: usize,
    /// File system to use; `None` = real files.
    pub vfs: Option<Arc<dyn Vfs>>,
    /// Where every sealed segment is copied (`wal_archive_dir`); `None` = no archiving.
    pub archive_dir: Option<PathBuf>,
    pub writer: WriterMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            backend: Backend::default(),
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            batch_bytes_max: BATCH_BYTES_MAX_DEFAULT,
            vfs: None,
            archive_dir: None,
            writer: WriterMode::Thread,
        }
    }
}

/// Last index in each state (0 = none). Invariant: `flushed <= written <= accepted`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WalPositions {
    /// Queued by `append`.
    pub accepted: u64,
    /// Handed to the device (write issued).
    pub written: u64,
    /// Covered by a successful fsync.
    pub flushed: u64,
}

/// Counters for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WalStats {
    /// Group commits completed.
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    /// Syncs of batches and of control operations (truncate, purge, meta); spare-segment
    /// preparation is not counted.
    pub fsync_count: u64,
    /// For batches: from submission to completion of the sync (io_uring: includes the write).
    pub fsync_latency_ns_sum: u64,
    pub fsync_latency_ns_max: u64,
    pub last_batch_records: u64,
    pub last_batch_bytes: u64,
    /// Group-commit sync latency, log2 buckets of microseconds: slot `i` counts batches with
    /// latency `<= 2^i` µs (and above `2^(i-1)`); the last slot counts everything slower.
    pub batch_fsync_us_log2: [u64; FSYNC_LATENCY_BUCKETS],
    /// Records per group commit, log2 buckets: slot `i` counts batches of `<= 2^i` records.
    pub batch_records_log2: [u64; BATCH_RECORDS_BUCKETS],
}

/// Slots of [`WalStats::batch_fsync_us_log2`]: up to 2^23 µs (about 8.4 s), then overflow.
pub const FSYNC_LATENCY_BUCKETS: usize = 25;
/// Slots of [`WalStats::batch_records_log2`]: up to 2^15 records, then overflow.
pub const BATCH_RECORDS_BUCKETS: usize = 17;

/// The way into the writer: the writer thread's queue, or the writer itself (inline).
enum Queue {
    Thread(Sender<Op>),
    Inline(Box<Writer>),
}

impl Queue {
    /// Hands `op` to the writer; gives it back if the writer thread is gone.
    fn send(&mut self, op: Op) -> Result<(), Op> {
        match self {
            Queue::Thread(tx) => tx.send(op).map_err(|mpsc::SendError(op)| op),
            Queue::Inline(writer) => {
                writer.run_inline(op);
                Ok(())
            }
        }
    }
}

/// Completions of an inline writer, held until the caller has released the log's locks (a
/// completion may call back into the log).
type Deferred = Arc<Mutex<VecDeque<(Completion, Result<(), WalError>)>>>;

struct Front {
    /// None once the log is closed.
    tx: Option<Queue>,
    /// Index the next append must start at; `None` while the log is empty.
    next_index: Option<u64>,
    record_bytes_max: u64,
}

/// The write-ahead log handle. `Send + Sync`; share it with an `Arc`.
pub struct Wal {
    front: Mutex<Front>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Some for an inline writer.
    deferred: Option<Deferred>,
    dir: PathBuf,
    /// The file system the writer uses; reads of records go through it too.
    vfs: Arc<dyn Vfs>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("positions", &self.positions())
            .finish()
    }
}

enum Control {
    Truncate(u64),
    Purge(u64),
    SaveMeta(Vec<u8>),
    Flush,
    Archive,
}

impl Wal {
    /// Recovers the log in `dir` (creating it if needed) and starts the writer thread.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovery), WalError> {
        if options.segment_bytes % SEGMENT_ALIGN_BYTES != 0
            || options.segment_bytes < 2 * SEGMENT_ALIGN_BYTES
        {
            return Err(WalError::InvalidOptions {
                reason: format!(
                    "segment_bytes {} must be a multiple of {SEGMENT_ALIGN_BYTES} and at least {}",
                    options.segment_bytes,
                    2 * SEGMENT_ALIGN_BYTES
                ),
            });
        }
        if options.batch_bytes_max == 0 {
            return Err(WalError::InvalidOptions {
                reason: "batch_bytes_max must be positive".into(),
            });
        }
        let vfs: Arc<dyn Vfs> = options.vfs.clone().unwrap_or_else(|| Arc::new(RealFs));
        vfs.create_dir_all(dir)
            .map_err(|e| WalError::io("create dir", dir, e))?;
        for leftover in [SPARE_FILE_NAME, meta::META_TEMP_FILE_NAME] {
            let path = dir.join(leftover);
            if vfs
                .exists(&path)
                .map_err(|e| WalError::io("stat", &path, e))?
            {
                vfs.remove(&path)
                    .map_err(|e| WalError::io("remove", &path, e))?;
            }
        }
        let (analysis, mut recovery) = recovery::recover(&*vfs, dir)?;
        let device: Box<dyn Device> = match options.backend {
            Backend::Pwrite => Box::<PwriteDevice>::default(),
            Backend::IoUring => {
                Box::new(UringDevice::new().map_err(|e| WalError::io("io_uring setup", dir, e))?)
            }
        };
        let shared = Arc::new(Shared::default());
        let last_index = recovery.records.last().map(|r| r.index);
        {
            let mut state = shared.lock_positions();
            let last = last_index.unwrap_or(0);
            state.positions = WalPositions {
                accepted: last,
                written: last,
                flushed: last,
            };
        }
        let archiver = match &options.archive_dir {
            Some(archive_dir) => Some(Arc::new(archive::Archiver::start(
                vfs.clone(),
                archive_dir,
            )?)),
            None => None,
        };
        let config = WriterConfig {
            vfs: vfs.clone(),
            dir: dir.to_path_buf(),
            segment_bytes: options.segment_bytes,
            batch_bytes_max: options.batch_bytes_max,
            archiver,
            mode: options.writer,
        };
        let writer = Writer::new(config, device, shared.clone(), &analysis.kept)?;
        let next_index = match analysis.kept.last() {
            None => None,
            Some(segment) => match segment.last_index {
                Some(last) => Some(last + 1),
                None if segment.header.is_reset() => None,
                None => Some(segment.header.first_index),
            },
        };
        recovery.segment_count = analysis.kept.len().max(1);
        let (queue, thread, deferred) = match options.writer {
            WriterMode::Thread => {
                let (tx, rx) = mpsc::channel();
                let thread = std::thread::Builder::new()
                    .name("tandem-wal-writer".into())
                    .spawn(move || writer.run(rx))
                    .map_err(|e| WalError::io("spawn writer thread", dir, e))?;
                (Queue::Thread(tx), Some(thread), None)
            }
            WriterMode::Caller | WriterMode::Inline => (
                Queue::Inline(Box::new(writer)),
                None,
                Some(Deferred::default()),
            ),
        };
        let wal = Wal {
            front: Mutex::new(Front {
                tx: Some(queue),
                next_index,
                record_bytes_max: options.segment_bytes - SEGMENT_HEADER_BYTES as u64,
            }),
            shared,
            thread: Mutex::new(thread),
            deferred,
            dir: dir.to_path_buf(),
            vfs,
        };
        Ok((wal, recovery))
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_front(&self) -> MutexGuard<'_, Front> {
        self.front.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poisoned(&self) -> Option<WalError> {
        self.shared.poison.get().map(|cause| WalError::Poisoned {
            cause: cause.clone(),
        })
    }

    /// Non-blocking: queues records (consecutive indexes; the first continues the log, or is
    /// any index while the log is empty). `on_durable` fires on the writer thread after the
    /// fsync covering them, or with the error (immediately, on the calling thread, if the
    /// request is rejected or the log is poisoned).
    pub fn append(&self, records: Vec<Record>, on_durable: Completion) {
        let on_durable = self.defer(on_durable);
        if let Err((error, on_durable)) = self.try_append(records, on_durable) {
            on_durable(Err(error));
        }
        self.fire_deferred();
    }

    /// With an inline writer, wraps `done` so it fires from [`Wal::fire_deferred`], once the
    /// caller holds no lock of the log.
    fn defer(&self, done: Completion) -> Completion {
        match &self.deferred {
            None => done,
            Some(deferred) => {
                let deferred = deferred.clone();
                Box::new(move |result| {
                    deferred
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back((done, result))
                })
            }
        }
    }

    /// Runs the completions an inline writer produced, in order.
    fn fire_deferred(&self) {
        let Some(deferred) = &self.deferred else {
            return;
        };
        loop {
            let next = deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some((done, result)) => done(result),
                None => return,
            }
        }
    }

    fn try_append(
        &self,
        records: Vec<Record>,
        done: Completion,
    ) -> Result<(), (WalError, Completion)> {
        if let Some(error) = self.poisoned() {
            return Err((error, done));
        }
        let mut front = self.lock_front();
        for (i, record) in records.iter().enumerate() {
            let bytes = record_bytes(record.payload.len()) as u64;
            if bytes > front.record_bytes_max {
                let error = WalError::RecordTooLarge {
                    index: record.index,
                    record_bytes: bytes,
                    record_bytes_max: front.record_bytes_max,
                };
                return Err((error, done));
            }
            let expected = match i {
                0 => front.next_index,
                _ => Some(records[i - 1].index + 1),
            };
            if let Some(expected) = expected.filter(|&e| e != record.index) {
                let error = WalError::IndexNotConsecutive {
                    expected,
                    actual: record.index,
                };
                return Err((error, done));
            }
        }
        if front.tx.is_none() {
            return Err((WalError::Closed, done));
        }
        let generation = {
            let mut state = self.shared.lock_positions();
            if let (Some(first), Some(last)) = (records.first(), records.last()) {
                if front.next_index.is_none() {
                    // A new log starts: older positions no longer describe it.
                    state.generation += 1;
                    state.clamp(first.index.saturating_sub(1));
                }
                state.positions.accepted = last.index;
                state.check();
                front.next_index = Some(last.index + 1);
            }
            state.generation
        };
        let op = Op::Append {
            records,
            done,
            generation,
        };
        let tx = front.tx.as_mut().expect("checked above");
        tx.send(op).map_err(|op| match op {
            Op::Append { done, .. } => (WalError::Closed, done),
            _ => unreachable!("sent an append"),
        })
    }

    fn submit_control(&self, control: Control, done: Completion) {
        let done = self.defer(done);
        self.submit_control_deferred(control, done);
        self.fire_deferred();
    }

    fn submit_control_deferred(&self, control: Control, done: Completion) {
        if let Some(error) = self.poisoned() {
            return done(Err(error));
        }
        let mut front = self.lock_front();
        let op = match control {
            Control::Truncate(index) => {
                if let Some(next) = front.next_index {
                    if index < next {
                        front.next_index = Some(index);
                        let mut state = self.shared.lock_positions();
                        state.generation += 1;
                        state.clamp(index.saturating_sub(1));
                    }
                }
                Op::Truncate { index, done }
            }
            Control::Purge(index) => {
                if front
                    .next_index
                    .is_some_and(|next| index.saturating_add(1) >= next)
                {
                    front.next_index = None;
                }
                Op::Purge { index, done }
            }
            Control::SaveMeta(meta) => Op::SaveMeta { meta, done },
            Control::Flush => Op::Flush { done },
            Control::Archive => Op::Archive { done },
        };
        match front.tx.as_mut() {
            Some(tx) => {
                if let Err(op) = tx.send(op) {
                    drop(front);
                    op_fail_closed(op);
                }
            }
            None => {
                drop(front);
                op_fail_closed(op);
            }
        }
    }

    async fn control(&self, control: Control) -> Result<(), WalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit_control(
            control,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    fn control_blocking(&self, control: Control) -> Result<(), WalError> {
        let (tx, rx) = mpsc::channel();
        self.submit_control(
            control,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Removes every record with index >= `index`; durable on return. The next append
    /// continues at `index`.
    pub async fn truncate_from(&self, index: u64) -> Result<(), WalError> {
        self.control(Control::Truncate(index)).await
    }

    /// Drops whole segments whose records are all <= `index`; durable on return. Records <=
    /// `index` in a partly covered segment remain. If `index` covers the whole log, the log
    /// becomes empty and the next append may start at any index.
    pub async fn purge_through(&self, index: u64) -> Result<(), WalError> {
        self.control(Control::Purge(index)).await
    }

    /// Replaces the metadata blob atomically; durable on return.
    pub async fn save_meta(&self, meta: Vec<u8>) -> Result<(), WalError> {
        self.control(Control::SaveMeta(meta)).await
    }

    /// Returns once everything queued before it is durable.
    pub async fn flush(&self) -> Result<(), WalError> {
        self.control(Control::Flush).await
    }

    /// Copies the active segment (everything appended so far) to the WAL archive; returns once
    /// the copy is durable. Fails if archiving is off.
    pub async fn archive_active(&self) -> Result<(), WalError> {
        self.control(Control::Archive).await
    }

    /// Blocking [`Wal::truncate_from`], for tools and tests (not inside an async task).
    pub fn truncate_from_blocking(&self, index: u64) -> Result<(), WalError> {
        self.control_blocking(Control::Truncate(index))
    }

    /// Blocking [`Wal::purge_through`].
    pub fn purge_through_blocking(&self, index: u64) -> Result<(), WalError> {
        self.control_blocking(Control::Purge(index))
    }

    /// Blocking [`Wal::save_meta`].
    pub fn save_meta_blocking(&self, meta: Vec<u8>) -> Result<(), WalError> {
        self.control_blocking(Control::SaveMeta(meta))
    }

    /// Blocking [`Wal::flush`].
    pub fn flush_blocking(&self) -> Result<(), WalError> {
        self.control_blocking(Control::Flush)
    }

    /// Blocking append: returns once the records are durable.
    pub fn append_blocking(&self, records: Vec<Record>) -> Result<(), WalError> {
        let (tx, rx) = mpsc::channel();
        self.append(
            records,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Reads records `from..until` back from the segment files (memory-mapped on real files),
    /// each verified by checksum and index: consecutive from `from`, fewer if the log ends
    /// first or once `payload_bytes_max` payload bytes are read (at least one record). Errors
    /// if `from` is not in the log. The caller must keep the range stable while it reads: no
    /// truncate or purge of it, and every record in it written (`<= positions().written`).
    pub fn read_range(
        &self,
        from: u64,
        until: u64,
        payload_bytes_max: usize,
    ) -> Result<Vec<Record>, WalError> {
        if let Some(error) = self.poisoned() {
            return Err(error);
        }
        reader::read_range(&*self.vfs, &self.dir, from, until, payload_bytes_max)
    }

    pub fn positions(&self) -> WalPositions {
        let state = self.shared.lock_positions();
        state.check();
        state.positions
    }

    pub fn stats(&self) -> WalStats {
        self.shared.stats.snapshot()
    }

    /// Drains the queue (everything queued completes), then stops the writer thread.
    pub fn close(self) -> Result<(), WalError> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), WalError> {
        if self.deferred.is_some() {
            return self.shutdown_inline();
        }
        let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        let sent = {
            let mut front = self.lock_front();
            let sender = front.tx.take();
            sender.is_some_and(|mut sender| {
                sender
                    .send(Op::Close {
                        done: Box::new(move |result| {
                            let _ = tx.send(result);
                        }),
                    })
                    .is_ok()
            })
        };
        let result = if sent {
            rx.recv().unwrap_or(Err(WalError::Closed))
        } else {
            Err(WalError::Closed)
        };
        if thread.join().is_err() {
            return Err(WalError::Closed);
        }
        result
    }

    /// Closes an inline writer: everything was completed by the calls that queued it, so this
    /// only stops the writer (and reports a spare failure nobody took yet).
    fn shutdown_inline(&self) -> Result<(), WalError> {
        let Some(mut queue) = self.lock_front().tx.take() else {
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        let close = Op::Close {
            done: Box::new(move |result| {
                let _ = tx.send(result);
            }),
        };
        if let Err(op) = queue.send(close) {
            op_fail_closed(op);
        }
        self.fire_deferred();
        rx.try_recv().unwrap_or(Err(WalError::Closed))
    }

    /// Test hook: holds the writer thread until the returned sender is dropped.
    #[cfg(test)]
    fn pause_writer(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        if let Some(Queue::Thread(sender)) = self.lock_front().tx.as_ref() {
            let _ = sender.send(Op::Pause { resume: rx });
        }
        tx
    }
}

fn op_fail_closed(op: Op) {
    match op {
        Op::Truncate { done, .. }
        | Op::Purge { done, .. }
        | Op::SaveMeta { done, .. }
        | Op::Flush { done }
        | Op::Archive { done }
        | Op::Append { done, .. }
        | Op::Close { done } => done(Err(WalError::Closed)),
        #[cfg(test)]
        Op::Pause { .. } => {}
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            if !matches!(error, WalError::Closed | WalError::Poisoned { .. }) {
                tracing::warn!(error = %error, "wal: error while closing on drop");
            }
        }
    }
}
