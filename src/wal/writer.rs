//! The writer thread: one ordered queue, group commit, segment rollover, truncate, purge, meta.
//!
//! Owns every mutation of the log directory after `open`, except filling `next.spare`, which
//! it delegates to its segment preparer (`spare.rs`). Invariants: operations take effect and
//! complete in queue order; an append's completion fires only after a successful sync
//! covering its last record; after any device error nothing is reported durable again.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::archive::Archiver;
use super::device::{Device, DeviceCompletion};
use super::error::WalError;
use super::meta::save_meta;
use super::record::{encode_record, record_bytes, Record};
use super::recovery::{zero_range, SegmentInfo};
use super::segment::{
    decode_segment, segment_file_name, SegmentHeader, SEGMENT_FLAG_RESET, SEGMENT_HEADER_BYTES,
};
use super::spare::{SparePreparer, SpareStatus, SPARE_FILE_NAME};
use super::vfs::{Caching, OpenMode, Vfs};
use super::{Completion, WalPositions, WalStats, BATCH_RECORDS_BUCKETS, FSYNC_LATENCY_BUCKETS};

/// How often an idle writer checks whether spare preparation failed, so the error poisons the
/// log (and is logged) soon even when no request arrives.
const SPARE_FAILURE_POLL: Duration = Duration::from_millis(10);
/// How long the writer waits on an in-flight batch before checking the queue for a batch it
/// could pipeline behind it.
const PIPELINE_POLL: Duration = Duration::from_micros(200);

/// One request to the writer thread.
pub(crate) enum Op {
    Append {
        records: Vec<Record>,
        done: Completion,
        generation: u64,
    },
    Truncate {
        index: u64,
        done: Completion,
    },
    Purge {
        index: u64,
        done: Completion,
    },
    SaveMeta {
        meta: Vec<u8>,
        done: Completion,
    },
    Flush {
        done: Completion,
    },
    /// Copies the active segment to the WAL archive; `done` hears when the copy is durable.
    Archive {
        done: Completion,
    },
    Close {
        done: Completion,
    },
    /// Holds the writer until the sender side is dropped (tests use it to queue up work).
    #[cfg(test)]
    Pause {
        resume: std::sync::mpsc::Receiver<()>,
    },
}

impl Op {
    fn fail(self, error: impl Fn() -> WalError) {
        match self {
            Op::Append { done, .. }
            | Op::Truncate { done, .. }
            | Op::Purge { done, .. }
            | Op::Archive { done }
            | Op::SaveMeta { done, .. }
            | Op::Flush { done }
            | Op::Close { done } => done(Err(error())),
            #[cfg(test)]
            Op::Pause { .. } => {}
        }
    }
}

/// Positions, guarded together so `flushed <= written <= accepted` holds at every moment.
#[derive(Debug, Default)]
pub(crate) struct PositionState {
    pub positions: WalPositions,
    /// Bumped whenever the log's end moves backwards (truncate, restart after emptying), so
    /// completions of older appends no longer move `written`/`flushed`.
    pub generation: u64,
}

impl PositionState {
    pub fn check(&self) {
        let p = self.positions;
        debug_assert!(
            p.flushed <= p.written && p.written <= p.accepted,
            "position order violated: {p:?}"
        );
    }

    pub fn clamp(&mut self, last: u64) {
        let p = &mut self.positions;
        p.accepted = p.accepted.min(last);
        p.written = p.written.min(last);
        p.flushed = p.flushed.min(last);
        self.check();
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    batches: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    fsync_count: AtomicU64,
    fsync_latency_ns_sum: AtomicU64,
    fsync_latency_ns_max: AtomicU64,
    last_batch_records: AtomicU64,
    last_batch_bytes: AtomicU64,
    batch_fsync_us_log2: [AtomicU64; FSYNC_LATENCY_BUCKETS],
    batch_records_log2: [AtomicU64; BATCH_RECORDS_BUCKETS],
}

/// Slot `i` of a log2 histogram: the smallest `i` with `value <= 2^i`, the last slot for
/// anything larger.
fn log2_slot(value: u64, slots: usize) -> usize {
    let slot = if value <= 1 {
        0
    } else {
        (64 - (value - 1).leading_zeros()) as usize
    };
    slot.min(slots - 1)
}

impl StatsCounters {
    /// One completed group commit: its sync latency and size go into the histograms.
    fn count_batch(&self, sync_latency: std::time::Duration, records: u64) {
        let us = sync_latency.as_micros() as u64;
        self.batch_fsync_us_log2[log2_slot(us, FSYNC_LATENCY_BUCKETS)]
            .fetch_add(1, Ordering::Relaxed);
        self.batch_records_log2[log2_slot(records, BATCH_RECORDS_BUCKETS)]
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> WalStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WalStats {
            batches: get(&self.batches),
            records: get(&self.records),
            bytes: get(&self.bytes),
            fsync_count: get(&self.fsync_count),
            fsync_latency_ns_sum: get(&self.fsync_latency_ns_sum),
            fsync_latency_ns_max: get(&self.fsync_latency_ns_max),
            last_batch_records: get(&self.last_batch_records),
            last_batch_bytes: get(&self.last_batch_bytes),
            batch_fsync_us_log2: std::array::from_fn(|i| get(&self.batch_fsync_us_log2[i])),
            batch_records_log2: std::array::from_fn(|i| get(&self.batch_records_log2[i])),
        }
    }

    fn count_sync(&self, started: Instant) {
        let ns = started.elapsed().as_nanos() as u64;
        self.fsync_count.fetch_add(1, Ordering::Relaxed);
        self.fsync_latency_ns_sum.fetch_add(ns, Ordering::Relaxed);
        self.fsync_latency_ns_max.fetch_max(ns, Ordering::Relaxed);
    }
}

/// State shared between the `Wal` handle and its writer thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub positions: Mutex<PositionState>,
    pub stats: StatsCounters,
    pub poison: OnceLock<Arc<io::Error>>,
}

impl Shared {
    pub fn lock_positions(&self) -> std::sync::MutexGuard<'_, PositionState> {
        self.positions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The segment records are appended to.
#[derive(Debug)]
struct Active {
    seq: u64,
    header: SegmentHeader,
    last_index: Option<u64>,
    end_offset: u64,
    file_bytes: u64,
}

/// A full segment, kept for purge and truncate.
#[derive(Debug)]
struct Sealed {
    seq: u64,
    first_index: u64,
    last_index: Option<u64>,
}

struct InFlight {
    ticket: u64,
    callbacks: Vec<Completion>,
    last_index: Option<u64>,
    generation: u64,
    records: u64,
    bytes: u64,
    submitted_at: Instant,
}

pub(crate) struct WriterConfig {
    pub vfs: Arc<dyn Vfs>,
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub batch_bytes_max: usize,
    /// Copies sealed segments to the WAL archive (`wal_archive_dir`), if archiving is on.
    pub archiver: Option<Arc<Archiver>>,
    pub mode: super::WriterMode,
}

pub(crate) struct Writer {
    config: WriterConfig,
    device: Box<dyn Device>,
    shared: Arc<Shared>,
    rx: Option<Receiver<Op>>,
    pending: VecDeque<Op>,
    /// Records of the front pending append already handed to the device.
    front_written: usize,
    sealed: VecDeque<Sealed>,
    active: Active,
    /// Index the next record must have; `None` while the log is empty (any index may start it).
    next_index: Option<u64>,
    needs_roll: bool,
    spare: SparePreparer,
    in_flight: VecDeque<InFlight>,
    next_ticket: u64,
    poisoned: Option<Arc<io::Error>>,
    encode_buf: Vec<u8>,
}

fn io_context(what: &str, path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

impl Writer {
    /// Builds the writer over the recovered segments (creating the first segment of an empty
    /// directory), and attaches the device. Runs on the opening thread.
    pub fn new(
        config: WriterConfig,
        mut device: Box<dyn Device>,
        shared: Arc<Shared>,
        kept: &[SegmentInfo],
    ) -> Result<Writer, WalError> {
        let mut sealed: VecDeque<Sealed> = kept
            .iter()
            .map(|s| Sealed {
                seq: s.seq,
                first_index: s.header.first_index,
                last_index: s.last_index,
            })
            .collect();
        let last = sealed.pop_back();
        let (active, next_index) = match (last, kept.last()) {
            (Some(_), Some(info)) => {
                let next = match info.last_index {
                    Some(last) => Some(last + 1),
                    None if info.header.is_reset() => None,
                    None => Some(info.header.first_index),
                };
                let active = Active {
                    seq: info.seq,
                    header: info.header,
                    last_index: info.last_index,
                    end_offset: info.end_offset,
                    file_bytes: info.file_bytes,
                };
                (active, next)
            }
            _ => {
                // Placeholder; replaced by the first segment right below.
                let active = Active {
                    seq: 0,
                    header: SegmentHeader {
                        flags: 0,
                        seq: 0,
                        first_index: 0,
                    },
                    last_index: None,
                    end_offset: 0,
                    file_bytes: 0,
                };
                (active, None)
            }
        };
        let create_first = kept.is_empty();
        let spare = SparePreparer::spawn(
            config.vfs.clone(),
            &config.dir,
            config.segment_bytes,
            config.mode,
        )
        .map_err(|e| WalError::io("spawn spare preparer", &config.dir, e))?;
        spare.request();
        let mut writer = Writer {
            config,
            device: Box::new(super::device::PwriteDevice::default()),
            shared,
            rx: None,
            pending: VecDeque::new(),
            front_written: 0,
            sealed,
            active,
            next_index,
            needs_roll: false,
            spare,
            in_flight: VecDeque::new(),
            next_ticket: 1,
            poisoned: None,
            encode_buf: Vec::new(),
        };
        let dir = writer.config.dir.clone();
        if create_first {
            writer
                .activate_spare(SEGMENT_FLAG_RESET, 1, 0)
                .map_err(|e| WalError::io("create first segment", &dir, e))?;
        }
        if let Some(archiver) = &writer.config.archiver {
            // Sealed before a crash (or before archiving was turned on) and not archived yet.
            let archived = archiver.archived_index_max();
            for segment in &writer.sealed {
                if segment.last_index.is_some_and(|last| last > archived) {
                    let path = writer.config.dir.join(segment_file_name(segment.seq));
                    archiver.submit(segment.seq, path, None);
                }
            }
        }
        let path = writer.active_path();
        device
            .attach(&*writer.config.vfs, &path, writer.active.end_offset)
            .map_err(|e| WalError::io("attach device", &path, e))?;
        writer.device = device;
        Ok(writer)
    }

    pub fn run(mut self, rx: Receiver<Op>) {
        self.rx = Some(rx);
        loop {
            if !self.receive() {
                // Every handle is gone without a Close: finish what is queued, then stop.
                self.pending.push_back(Op::Close {
                    done: Box::new(|_| {}),
                });
            }
            if self.turn() {
                return;
            }
        }
    }

    /// The inline writer ([`super::WriterMode::Inline`]): queues `op` and works until nothing
    /// is pending or in flight, so `op` has completed (or failed) on return.
    pub fn run_inline(&mut self, op: Op) {
        self.pending.push_back(op);
        while !self.pending.is_empty() || self.device.in_flight() > 0 {
            if self.turn() {
                return;
            }
        }
    }

    /// One step of the writer over what is pending; true once it must stop (Close handled,
    /// or poisoned with no queue left to drain).
    fn turn(&mut self) -> bool {
        self.check_spare();
        if self.poisoned.is_some() {
            return self.fail_pending();
        }
        let in_flight = self.device.in_flight();
        let room = in_flight < self.device.pipeline_depth();
        match self.pending.front() {
            Some(Op::Append { records, .. }) if room && !self.needs_roll => {
                if self.next_index.is_none() && !records.is_empty() {
                    if in_flight > 0 {
                        self.complete_oldest(None);
                    } else {
                        let first = records[0].index;
                        let result = self.start_log_at(first);
                        self.check(result);
                    }
                    return false;
                }
                self.submit_batch();
            }
            Some(Op::Append { .. }) if self.needs_roll && in_flight == 0 => {
                let result = self.roll();
                self.check(result);
            }
            Some(Op::Append { .. }) => self.complete_oldest(None),
            Some(_) if in_flight == 0 => {
                if let Some(op) = self.pending.pop_front() {
                    if self.execute(op) {
                        return true;
                    }
                }
            }
            Some(_) => self.complete_oldest(None),
            None if in_flight > 0 => {
                // Wait briefly so an append arriving meanwhile can be pipelined.
                let timeout = room.then_some(PIPELINE_POLL);
                self.complete_oldest(timeout);
            }
            None => {}
        }
        false
    }

    /// Moves queued operations into `pending`; blocks if there is nothing else to do. Returns
    /// false if the queue is closed and empty.
    fn receive(&mut self) -> bool {
        if self.rx.is_none() {
            return true;
        }
        if self.pending.is_empty() && self.device.in_flight() == 0 {
            loop {
                let spare_may_fail = self.check_spare();
                let Some(rx) = self.rx.as_ref() else {
                    return true;
                };
                let received = if spare_may_fail {
                    rx.recv_timeout(SPARE_FAILURE_POLL)
                } else {
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                };
                match received {
                    Ok(op) => {
                        self.pending.push_back(op);
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        self.rx = None;
                        return false;
                    }
                }
            }
        }
        while let Some(op) = self.rx.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.pending.push_back(op);
        }
        true
    }

    /// Fails everything queued after poisoning; true once Close was handled.
    fn fail_pending(&mut self) -> bool {
        self.drain_failed();
        self.front_written = 0;
        while let Some(op) = self.pending.pop_front() {
            let closing = matches!(op, Op::Close { .. });
            let error = self.poisoned_error_fn();
            op.fail(error);
            if closing {
                return true;
            }
        }
        self.rx.is_none()
    }

    fn poisoned_error_fn(&self) -> impl Fn() -> WalError {
        let cause = self.poisoned.clone();
        move || match &cause {
            Some(cause) => WalError::Poisoned {
                cause: cause.clone(),
            },
            None => WalError::Closed,
        }
    }

    /// Poisons the log if preparing the spare failed: a device error like any other, even
    /// though no request is waiting on that file. True while the spare may still fail.
    fn check_spare(&mut self) -> bool {
        match self.spare.status() {
            SpareStatus::Failed(error) => {
                self.poison(error);
                false
            }
            SpareStatus::Preparing => self.poisoned.is_none(),
            SpareStatus::Settled => false,
        }
    }

    /// Poisons the log on error.
    fn check(&mut self, result: io::Result<()>) {
        if let Err(e) = result {
            self.poison(e);
        }
    }

    fn poison(&mut self, error: io::Error) {
        if self.poisoned.is_some() {
            return;
        }
        tracing::error!(
            dir = %self.config.dir.display(),
            error = %error,
            "wal poisoned: an I/O operation failed; no further writes are acknowledged"
        );
        let cause = Arc::new(error);
        let _ = self.shared.poison.set(cause.clone());
        self.poisoned = Some(cause);
        // Nothing is written after a device error, the spare included.
        self.spare.cancel();
        self.drain_failed();
    }

    /// After poisoning: waits out every in-flight batch and fails its callbacks.
    fn drain_failed(&mut self) {
        while self.device.in_flight() > 0 {
            if self.device.wait_oldest(None).is_none() {
                break;
            }
        }
        let error = self.poisoned_error_fn();
        for batch in self.in_flight.drain(..) {
            for done in batch.callbacks {
                done(Err(error()));
            }
        }
    }

    fn active_path(&self) -> PathBuf {
        self.config.dir.join(segment_file_name(self.active.seq))
    }

    /// Encodes the leading appends into one batch and submits it.
    fn submit_batch(&mut self) {
        self.encode_buf.clear();
        let room = self
            .active
            .file_bytes
            .saturating_sub(self.active.end_offset);
        let mut callbacks = Vec::new();
        let mut last_index = None;
        let mut generation = 0;
        let mut records = 0u64;
        'ops: while let Some(Op::Append { .. }) = self.pending.front() {
            let Some(Op::Append {
                records: recs,
                done,
                generation: op_generation,
            }) = self.pending.pop_front()
            else {
                break;
            };
            generation = op_generation;
            while self.front_written < recs.len() {
                let record = &recs[self.front_written];
                let size = record_bytes(record.payload.len());
                if self.encode_buf.len() + size > room as usize {
                    self.needs_roll = true;
                } else if !self.encode_buf.is_empty()
                    && self.encode_buf.len() + size > self.config.batch_bytes_max
                {
                    // Batch full; the rest of this append goes in the next one.
                } else if self.next_index != Some(record.index) {
                    let expected = self.next_index.unwrap_or(record.index);
                    done(Err(WalError::IndexNotConsecutive {
                        expected,
                        actual: record.index,
                    }));
                    self.poison(io::Error::other(format!(
                        "writer received index {} where {expected} was due",
                        record.index
                    )));
                    return;
                } else {
                    encode_record(record, &mut self.encode_buf);
                    self.next_index = Some(record.index + 1);
                    last_index = Some(record.index);
                    self.front_written += 1;
                    records += 1;
                    continue;
                }
                self.pending.push_front(Op::Append {
                    records: recs,
                    done,
                    generation: op_generation,
                });
                break 'ops;
            }
            self.front_written = 0;
            callbacks.push(done);
        }
        if self.encode_buf.is_empty() {
            // Only empty appends (or nothing fits before a roll): they are durable once
            // everything before them is.
            match self.in_flight.back_mut() {
                Some(batch) => batch.callbacks.extend(callbacks),
                None => callbacks.into_iter().for_each(|done| done(Ok(()))),
            }
            return;
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        let bytes = self.encode_buf.len() as u64;
        let submitted_at = Instant::now();
        if let Err(e) = self.device.submit(&self.encode_buf, ticket) {
            let cause = io_context("submit batch to", &self.active_path(), e);
            self.in_flight.push_back(InFlight {
                ticket,
                callbacks,
                last_index,
                generation,
                records,
                bytes,
                submitted_at,
            });
            self.poison(cause);
            return;
        }
        self.active.end_offset += bytes;
        self.active.last_index = last_index.or(self.active.last_index);
        {
            let mut state = self.shared.lock_positions();
            if state.generation == generation {
                if let Some(last) = last_index {
                    state.positions.written = state.positions.written.max(last);
                    state.check();
                }
            }
        }
        self.in_flight.push_back(InFlight {
            ticket,
            callbacks,
            last_index,
            generation,
            records,
            bytes,
            submitted_at,
        });
    }

    /// Waits for the oldest in-flight batch and fires its callbacks.
    fn complete_oldest(&mut self, timeout: Option<Duration>) {
        let Some(completion) = self.device.wait_oldest(timeout) else {
            return;
        };
        self.complete(completion);
    }

    fn complete(&mut self, (ticket, result): DeviceCompletion) {
        let Some(batch) = self.in_flight.pop_front() else {
            return;
        };
        debug_assert_eq!(
            batch.ticket, ticket,
            "device completed batches out of order"
        );
        if let Err(e) = result {
            let cause = io_context("write+sync", &self.active_path(), e);
            self.in_flight.push_front(batch);
            self.poison(cause);
            return;
        }
        let stats = &self.shared.stats;
        stats.count_batch(batch.submitted_at.elapsed(), batch.records);
        stats.count_sync(batch.submitted_at);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.records.fetch_add(batch.records, Ordering::Relaxed);
        stats.bytes.fetch_add(batch.bytes, Ordering::Relaxed);
        stats
            .last_batch_records
            .store(batch.records, Ordering::Relaxed);
        stats.last_batch_bytes.store(batch.bytes, Ordering::Relaxed);
        {
            let mut state = self.shared.lock_positions();
            if state.generation == batch.generation {
                if let Some(last) = batch.last_index {
                    state.positions.flushed = state.positions.flushed.max(last);
                    state.check();
                }
            }
        }
        for done in batch.callbacks {
            done(Ok(()));
        }
    }

    /// Runs a non-append operation; nothing is in flight. Returns true on Close.
    fn execute(&mut self, op: Op) -> bool {
        let (result, done, closing) = match op {
            Op::Truncate { index, done } => (self.truncate(index), done, false),
            Op::Purge { index, done } => (self.purge(index), done, false),
            Op::SaveMeta { meta, done } => {
                let started = Instant::now();
                let result = save_meta(&*self.config.vfs, &self.config.dir, &meta);
                self.shared.stats.count_sync(started);
                (result, done, false)
            }
            Op::Flush { done } => (Ok(()), done, false),
            Op::Archive { done } => {
                match &self.config.archiver {
                    Some(archiver) => {
                        archiver.submit(self.active.seq, self.active_path(), Some(done))
                    }
                    None => done(Err(WalError::InvalidOptions {
                        reason: "WAL archiving is off (set wal_archive_dir)".into(),
                    })),
                }
                return false;
            }
            Op::Close { done } => {
                // A clean stop leaves the whole log in the archive.
                if let Some(archiver) = &self.config.archiver {
                    archiver.submit(self.active.seq, self.active_path(), None);
                    archiver.stop();
                }
                // Join the preparer before answering, so a close that returns Ok saw no
                // device error and left no thread behind.
                let result = self.spare.stop().map_or(Ok(()), Err);
                (result, done, true)
            }
            Op::Append { .. } => unreachable!("appends are batched, not executed"),
            #[cfg(test)]
            Op::Pause { resume } => {
                let _ = resume.recv();
                return false;
            }
        };
        match result {
            Ok(()) => done(Ok(())),
            Err(e) => {
                self.poison(e);
                let error = self.poisoned_error_fn();
                done(Err(error()));
            }
        }
        closing
    }

    // --- segments -------------------------------------------------------------------------

    /// Turns the spare into segment `seq`, makes it the active segment and asks for the next
    /// spare. Waits for the preparer if the spare is not ready yet: only here does the writer
    /// ever wait for spare preparation.
    fn activate_spare(&mut self, flags: u32, seq: u64, first_index: u64) -> io::Result<()> {
        let waited = self.spare.take_ready()?;
        if !waited.is_zero() {
            tracing::debug!(
                waited_us = waited.as_micros() as u64,
                seq,
                "wal: segment activation waited for the spare to be prepared"
            );
        }
        let vfs = &*self.config.vfs;
        let spare_path = self.config.dir.join(SPARE_FILE_NAME);
        let header = SegmentHeader {
            flags,
            seq,
            first_index,
        };
        let file = vfs.open(&spare_path, OpenMode::Existing, Caching::Buffered)?;
        file.write_at(&header.encode(), 0)?;
        file.sync()?;
        let file_bytes = file.len()?;
        drop(file);
        let path = self.config.dir.join(segment_file_name(seq));
        vfs.rename(&spare_path, &path)?;
        vfs.sync_dir(&self.config.dir)?;
        self.spare.request();
        if self.active.seq != 0 {
            if let Some(archiver) = &self.config.archiver {
                archiver.submit(self.active.seq, self.active_path(), None);
            }
            self.sealed.push_back(Sealed {
                seq: self.active.seq,
                first_index: self.active.header.first_index,
                last_index: self.active.last_index,
            });
        }
        self.active = Active {
            seq,
            header,
            last_index: None,
            end_offset: SEGMENT_HEADER_BYTES as u64,
            file_bytes,
        };
        Ok(())
    }

    /// Seals the full active segment and continues in the spare.
    fn roll(&mut self) -> io::Result<()> {
        let first_index = self.next_index.unwrap_or(0);
        self.activate_spare(0, self.active.seq + 1, first_index)?;
        self.needs_roll = false;
        let path = self.active_path();
        self.device
            .attach(&*self.config.vfs, &path, self.active.end_offset)
    }

    /// Empties the log: a fresh RESET segment becomes active, then every older one goes.
    /// A crash in between is finished by recovery, which ignores segments before a RESET.
    fn reset_log(&mut self, first_index_hint: u64) -> io::Result<()> {
        self.activate_spare(SEGMENT_FLAG_RESET, self.active.seq + 1, first_index_hint)?;
        if let Some(archiver) = &self.config.archiver {
            // Never delete a segment before it is archived.
            archiver.wait_idle();
        }
        let vfs = &*self.config.vfs;
        for old in self.sealed.drain(..) {
            let path = self.config.dir.join(segment_file_name(old.seq));
            vfs.remove(&path)
                .map_err(|e| io_context("remove", &path, e))?;
        }
        vfs.sync_dir(&self.config.dir)?;
        self.next_index = None;
        self.needs_roll = false;
        let path = self.active_path();
        self.device.attach(vfs, &path, self.active.end_offset)
    }

    /// First append to an empty log: record its index in the active segment's header.
    fn start_log_at(&mut self, first_index: u64) -> io::Result<()> {
        debug_assert!(self.active.last_index.is_none());
        if self.active.header.first_index != first_index {
            self.active.header.first_index = first_index;
            let path = self.active_path();
            let file = self
                .config
                .vfs
                .open(&path, OpenMode::Existing, Caching::Buffered)?;
            file.write_at(&self.active.header.encode(), 0)?;
            file.sync()?;
            drop(file);
            self.device
                .attach(&*self.config.vfs, &path, self.active.end_offset)?;
        }
        self.next_index = Some(first_index);
        Ok(())
    }

    /// Removes every record with index >= `index`, durably.
    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(next) = self.next_index else {
            return Ok(());
        };
        if index >= next {
            return Ok(());
        }
        let log_first = self
            .sealed
            .front()
            .map_or(self.active.header.first_index, |s| s.first_index);
        if index <= log_first {
            return self.reset_log(index);
        }
        let vfs = self.config.vfs.clone();
        let dir = self.config.dir.clone();
        if index < self.active.header.first_index {
            // The cut lies in a sealed segment: drop everything after it (newest first, so a
            // crash midway leaves a prefix), and it becomes the active segment again.
            let active_path = self.active_path();
            vfs.remove(&active_path)
                .map_err(|e| io_context("remove", &active_path, e))?;
            while let Some(last) = self.sealed.back() {
                if last.first_index <= index {
                    break;
                }
                let path = dir.join(segment_file_name(last.seq));
                vfs.remove(&path)
                    .map_err(|e| io_context("remove", &path, e))?;
                self.sealed.pop_back();
            }
            vfs.sync_dir(&dir)?;
            let Some(target) = self.sealed.pop_back() else {
                return Err(io::Error::other("truncate target segment missing"));
            };
            let path = dir.join(segment_file_name(target.seq));
            let file_bytes = vfs
                .open(&path, OpenMode::Existing, Caching::Buffered)?
                .len()?;
            self.active = Active {
                seq: target.seq,
                header: SegmentHeader {
                    flags: 0,
                    seq: target.seq,
                    first_index: target.first_index,
                },
                last_index: target.last_index,
                end_offset: 0,
                file_bytes,
            };
        }
        let path = self.active_path();
        let image = vfs.read_whole(&path)?;
        let scan = decode_segment(&image).map_err(|reason| {
            io::Error::other(format!(
                "rescanning {} for truncate: {reason}",
                path.display()
            ))
        })?;
        drop(image);
        self.active.header = scan.header;
        let cut = scan
            .records
            .iter()
            .find(|(_, r)| r.index == index)
            .map(|(offset, _)| *offset)
            .ok_or_else(|| {
                io::Error::other(format!("index {index} not found in {}", path.display()))
            })?;
        zero_range(&*vfs, &path, cut, scan.end_offset - cut)?;
        self.active.end_offset = cut;
        self.active.last_index = index
            .checked_sub(1)
            .filter(|&l| l >= scan.header.first_index);
        self.next_index = Some(index);
        self.needs_roll = false;
        self.device.attach(&*vfs, &path, cut)
    }

    /// Drops whole segments whose records are all <= `index`, durably.
    fn purge(&mut self, index: u64) -> io::Result<()> {
        let Some(next) = self.next_index else {
            return Ok(());
        };
        if index.saturating_add(1) >= next {
            return self.reset_log(index + 1);
        }
        let mut removed = false;
        // A segment still waiting for the archiver stays (with every later one); a later
        // purge removes it.
        let archiver = self.config.archiver.clone();
        let archived = |seq: u64| archiver.as_ref().is_none_or(|a| !a.is_pending(seq));
        while self
            .sealed
            .front()
            .is_some_and(|s| s.last_index.is_some_and(|last| last <= index) && archived(s.seq))
        {
            if let Some(old) = self.sealed.pop_front() {
                let path = self.config.dir.join(segment_file_name(old.seq));
                self.config
                    .vfs
                    .remove(&path)
                    .map_err(|e| io_context("remove", &path, e))?;
                removed = true;
            }
        }
        if removed {
            self.config.vfs.sync_dir(&self.config.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod histogram_tests {
    use super::log2_slot;

    /// Slot `i` holds values in `(2^(i-1), 2^i]`; values past the last bound land in the last slot.
    #[test]
    fn log2_slots_bound_values_from_above() {
        assert_eq!(log2_slot(0, 8), 0);
        assert_eq!(log2_slot(1, 8), 0);
        assert_eq!(log2_slot(2, 8), 1);
        assert_eq!(log2_slot(3, 8), 2);
        assert_eq!(log2_slot(4, 8), 2);
        assert_eq!(log2_slot(5, 8), 3);
        assert_eq!(log2_slot(64, 8), 6);
        assert_eq!(log2_slot(65, 8), 7);
        assert_eq!(log2_slot(1 << 40, 8), 7);
        assert_eq!(log2_slot(u64::MAX, 8), 7);
    }
}
