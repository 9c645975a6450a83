//! Priority lanes: the bounded per-class queues in front of the batcher.
//!
//! Every queued write has a [`Class`]. Admission compares the writes queued in *all* lanes with
//! the class's threshold (`bulk_depth_max < normal_depth_max < queue_depth_max`), so as load
//! grows bulk is refused first, then normal, and critical only once the node has stopped
//! draining. A batch takes critical first, then normal, then at most `bulk_ops_per_batch_max`
//! bulk ops; within a class, writes leave in the order they came. Nothing here knows openraft:
//! `Lanes<T>` queues any item, so the order and the shedding are unit-tested directly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::histogram::LatencyHistogram;

/// Default threshold of queued writes (all lanes together) above which bulk writes are refused.
pub const BULK_DEPTH_MAX: usize = 8_192;
/// Default threshold of queued writes (all lanes together) above which normal writes are refused.
pub const NORMAL_DEPTH_MAX: usize = 32_768;
/// Default cap on bulk ops in one log entry: bounds how long the batch a critical write may
/// have to wait behind takes to apply. Measured with benches/lanes.rs (64 bulk connections):
/// 128 cost bulk 23% of its throughput against lanes off, 512 cost 5% (docs/benchmarks.md).
pub const BULK_OPS_PER_BATCH_MAX: usize = 512;
/// Suggested retry delay before any drain rate has been measured.
pub const RETRY_AFTER_MS_DEFAULT: u64 = 10;
/// Bounds of the suggested retry delay.
pub const RETRY_AFTER_MS_MIN: u64 = 1;
pub const RETRY_AFTER_MS_MAX: u64 = 1_000;

/// The priority class of a connection or of an embedded call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Order placement, balance moves: drained first, refused only when the node is stuck.
    Critical,
    #[default]
    Normal,
    /// Exports, scans, backfills: capped per batch and refused first under overload.
    Bulk,
}

impl Class {
    /// In drain order.
    pub const ALL: [Class; 3] = [Class::Critical, Class::Normal, Class::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Critical => "critical",
            Class::Normal => "normal",
            Class::Bulk => "bulk",
        }
    }

    /// Position in [`Class::ALL`]; also the class's value in an `AtomicU8`.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The inverse of [`Class::index`]; anything out of range is `Normal`.
    pub fn from_index(index: usize) -> Class {
        Class::ALL.get(index).copied().unwrap_or_default()
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A class name that is not `critical`, `normal` or `bulk`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority class '{0}' (expected critical, normal or bulk)")]
pub struct UnknownClass(pub String);

impl std::str::FromStr for Class {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownClass(s.to_string()))
    }
}

/// Admission thresholds and the bulk share of a batch. The critical threshold is the batcher's
/// `queue_depth_max` (all lanes together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneLimits {
    /// Bulk writes are refused while this many writes (any class) are queued.
    pub bulk_depth_max: usize,
    /// Normal writes are refused while this many writes (any class) are queued.
    pub normal_depth_max: usize,
    /// Most bulk ops in one log entry.
    pub bulk_ops_per_batch_max: usize,
}

impl Default for LaneLimits {
    fn default() -> Self {
        Self {
            bulk_depth_max: BULK_DEPTH_MAX,
            normal_depth_max: NORMAL_DEPTH_MAX,
            bulk_ops_per_batch_max: BULK_OPS_PER_BATCH_MAX,
        }
    }
}

impl LaneLimits {
    /// Why these limits cannot be used with `queue_depth_max` (None if they can).
    pub fn invalid_reason(&self, queue_depth_max: usize) -> Option<String> {
        if self.bulk_depth_max == 0 || self.bulk_ops_per_batch_max == 0 {
            return Some("bulk_depth_max and bulk_ops_per_batch_max must be positive".into());
        }
        if !(self.bulk_depth_max <= self.normal_depth_max
            && self.normal_depth_max <= queue_depth_max)
        {
            return Some(format!(
                "lane thresholds must satisfy bulk_depth_max ({}) <= normal_depth_max ({}) <= \
                 queue_depth_max ({queue_depth_max}), so bulk is refused before normal and \
                 normal before critical",
                self.bulk_depth_max, self.normal_depth_max
            ));
        }
        None
    }
}

/// Why a write was not queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over the class's threshold; the client may retry after `retry_after_ms`.
    Busy {
        class: Class,
        queued: usize,
        threshold: usize,
        retry_after_ms: u64,
    },
    /// The lanes were closed (node shutting down).
    Closed,
}

impl Refused {
    /// When a retry may be admitted, in ms (0 when closed).
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            Refused::Busy { retry_after_ms, .. } => *retry_after_ms,
            Refused::Closed => 0,
        }
    }

    /// The reason text of a `-BUSY` reply (without the `BUSY` code).
    pub fn busy_reason(&self) -> Option<String> {
        match self {
            Refused::Busy {
                class,
                queued,
                threshold,
                retry_after_ms,
            } => Some(format!(
                "{class} lane over its limit ({queued} writes queued, {class} admitted below \
                 {threshold}); retry after {retry_after_ms} ms"
            )),
            Refused::Closed => None,
        }
    }
}

/// Counters of one class (read by INFO and /metrics without taking the lane lock).
#[derive(Debug, Default)]
pub struct LaneClassStats {
    /// Writes queued now.
    pub depth: AtomicUsize,
    /// Writes admitted since the node opened.
    pub admitted: AtomicU64,
    /// Writes refused with BUSY since the node opened.
    pub shed: AtomicU64,
    /// Time from admission to being taken into a batch.
    pub wait: LatencyHistogram,
    /// Of batches this node proposed carrying writes of this class: time from the proposal
    /// until the entry was fsynced in the local WAL (waiting for the batch ahead included).
    pub flush: LatencyHistogram,
    /// Of the same batches: time from the local fsync until the consensus engine answered
    /// (replicated to a quorum, committed, applied); a reply the zone rule holds back waits
    /// longer than this.
    pub answer: LatencyHistogram,
}

/// Counters of all lanes, indexed by [`Class::index`].
#[derive(Debug, Default)]
pub struct LaneStats {
    pub classes: [LaneClassStats; 3],
    /// The thresholds in force (0 until the lanes are built), for display.
    pub thresholds: [AtomicUsize; 3],
    pub bulk_ops_per_batch_max: AtomicUsize,
}

impl LaneStats {
    pub fn class(&self, class: Class) -> &LaneClassStats {
        &self.classes[class.index()]
    }

    /// Admission threshold of `class` (writes queued in all lanes).
    pub fn threshold(&self, class: Class) -> usize {
        self.thresholds[class.index()].load(Ordering::Relaxed)
    }

    /// Records where an answered batch spent its time, once for each class it carried.
    /// `flushed`: when the local WAL fsynced it (None: it never reached this node's WAL).
    pub fn observe_batch(
        &self,
        taken: Taken,
        proposed: Instant,
        flushed: Option<Instant>,
        answered: Instant,
    ) {
        for class in taken.classes() {
            let stats = self.class(class);
            if let Some(flushed) = flushed {
                stats
                    .flush
                    .observe(flushed.saturating_duration_since(proposed));
                stats
                    .answer
                    .observe(answered.saturating_duration_since(flushed));
            }
        }
    }
}

/// How many writes of each class one batch took, indexed by [`Class::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Taken(pub [usize; 3]);

impl Taken {
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    /// The classes with at least one write in the batch, in drain order.
    pub fn classes(self) -> impl Iterator<Item = Class> {
        Class::ALL
            .into_iter()
            .filter(move |c| self.0[c.index()] > 0)
    }
}

/// What a queued item costs in a batch's byte budget.
pub trait Weight {
    /// The item's size in bytes, as it counts against a batch's `bytes_max`.
    fn weight_bytes(&self) -> usize;
}

struct Queued<T> {
    item: T,
    admitted_at: Instant,
}

struct State<T> {
    queues: [VecDeque<Queued<T>>; 3],
    closed: bool,
    /// Smoothed time per drained op while the lanes stayed backlogged (for retry hints).
    ns_per_op: Option<f64>,
    last_take: Option<Instant>,
}

impl<T> State<T> {
    fn queued(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }
}

/// Weight of the newest sample in the smoothed drain cost.
const DRAIN_COST_SMOOTHING: f64 = 0.125;

/// The three lanes. Producers call `push` from any thread or runtime; one batcher takes batches.
pub struct Lanes<T> {
    state: Mutex<State<T>>,
    /// Signalled on every push and on close; the batcher waits on it when the lanes are empty.
    ready: Notify,
    thresholds: [usize; 3],
    bulk_ops_per_batch_max: usize,
    stats: std::sync::Arc<LaneStats>,
}

impl<T> Lanes<T> {
    /// Lanes whose critical threshold is `queue_depth_max`. The limits must be valid
    /// ([`LaneLimits::invalid_reason`]).
    pub fn new(queue_depth_max: usize, limits: LaneLimits) -> Self {
        debug_assert!(limits.invalid_reason(queue_depth_max).is_none());
        let thresholds = [
            queue_depth_max,
            limits.normal_depth_max,
            limits.bulk_depth_max,
        ];
        let stats = std::sync::Arc::new(LaneStats::default());
        for class in Class::ALL {
            stats.thresholds[class.index()].store(thresholds[class.index()], Ordering::Relaxed);
        }
        stats
            .bulk_ops_per_batch_max
            .store(limits.bulk_ops_per_batch_max, Ordering::Relaxed);
        Self {
            state: Mutex::new(State {
                queues: Default::default(),
                closed: false,
                ns_per_op: None,
                last_take: None,
            }),
            ready: Notify::new(),
            thresholds,
            bulk_ops_per_batch_max: limits.bulk_ops_per_batch_max,
            stats,
        }
    }

    pub fn stats(&self) -> std::sync::Arc<LaneStats> {
        self.stats.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` in `class`'s lane, or refuses it without blocking.
    pub fn push(&self, class: Class, item: T) -> Result<(), Refused> {
        self.push_at(class, item, Instant::now())
    }

    fn push_at(&self, class: Class, item: T, now: Instant) -> Result<(), Refused> {
        let stats = self.stats.class(class);
        {
            let mut state = self.lock();
            if state.closed {
                return Err(Refused::Closed);
            }
            let queued = state.queued();
            let threshold = self.thresholds[class.index()];
            if queued >= threshold {
                stats.shed.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::Busy {
                    class,
                    queued,
                    threshold,
                    retry_after_ms: retry_after_ms(queued, state.ns_per_op),
                });
            }
            state.queues[class.index()].push_back(Queued {
                item,
                admitted_at: now,
            });
            stats.depth.fetch_add(1, Ordering::Relaxed);
        }
        stats.admitted.fetch_add(1, Ordering::Relaxed);
        self.ready.notify_one();
        Ok(())
    }
}

impl<T: Weight> Lanes<T> {
    /// Moves up to `ops_max` items of at most `bytes_max` bytes in all into `batch` (always at
    /// least one, if any is queued): critical first, then normal, then at most
    /// `bulk_ops_per_batch_max` bulk. Returns how many of each class were taken (none if the
    /// lanes are empty).
    pub fn take_batch(&self, ops_max: usize, bytes_max: usize, batch: &mut Vec<T>) -> Taken {
        self.take_batch_at(ops_max, bytes_max, batch, Instant::now())
    }

    fn take_batch_at(
        &self,
        ops_max: usize,
        bytes_max: usize,
        batch: &mut Vec<T>,
        now: Instant,
    ) -> Taken {
        let mut state = self.lock();
        let mut per_class = Taken::default();
        let mut taken = 0;
        let mut bytes = 0;
        for class in Class::ALL {
            let room = ops_max - taken;
            let share = match class {
                Class::Bulk => room.min(self.bulk_ops_per_batch_max),
                Class::Critical | Class::Normal => room,
            };
            let stats = self.stats.class(class);
            let queue = &mut state.queues[class.index()];
            let mut count = 0;
            while count < share {
                let Some(next) = queue.front() else {
                    break;
                };
                let weight = next.item.weight_bytes();
                if taken + count > 0 && bytes + weight > bytes_max {
                    break;
                }
                bytes += weight;
                let queued = queue.pop_front().expect("front exists");
                stats
                    .wait
                    .observe(now.saturating_duration_since(queued.admitted_at));
                batch.push(queued.item);
                count += 1;
            }
            stats.depth.fetch_sub(count, Ordering::Relaxed);
            per_class.0[class.index()] = count;
            taken += count;
        }
        // While a backlog remains, the time between two takes is what the node needs per
        // batch: that (not idle gaps) is the drain cost a retry hint should use.
        if let Some(last) = state.last_take {
            if taken > 0 && state.queued() > 0 {
                let sample = now.saturating_duration_since(last).as_nanos() as f64 / taken as f64;
                state.ns_per_op = Some(match state.ns_per_op {
                    None => sample,
                    Some(old) => old + DRAIN_COST_SMOOTHING * (sample - old),
                });
            }
        }
        state.last_take = Some(now);
        per_class
    }

    /// Waits until some lane holds an item (true) or the lanes are closed and empty (false).
    pub async fn ready(&self) -> bool {
        loop {
            {
                let state = self.lock();
                if state.queued() > 0 {
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            // `notify_one` stores a permit when nobody waits, so a push between the check
            // above and this await is not missed.
            self.ready.notified().await;
        }
    }

    /// Refuses every later push; items already queued are still taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Items queued in `class`'s lane now.
    pub fn depth(&self, class: Class) -> usize {
        self.lock().queues[class.index()].len()
    }
}

/// How long a refused client should wait: the time to drain what is queued at the measured
/// per-op cost, within [RETRY_AFTER_MS_MIN, RETRY_AFTER_MS_MAX].
fn retry_after_ms(queued: usize, ns_per_op: Option<f64>) -> u64 {
    let Some(ns_per_op) = ns_per_op else {
        return RETRY_AFTER_MS_DEFAULT;
    };
    let ms = Duration::from_nanos((queued as f64 * ns_per_op) as u64)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX);
    ms.clamp(RETRY_AFTER_MS_MIN, RETRY_AFTER_MS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(bulk: usize, normal: usize, bulk_per_batch: usize) -> LaneLimits {
        LaneLimits {
            bulk_depth_max: bulk,
            normal_depth_max: normal,
            bulk_ops_per_batch_max: bulk_per_batch,
        }
    }

    /// Test items weigh their number, in bytes.
    impl Weight for (Class, u32) {
        fn weight_bytes(&self) -> usize {
            self.1 as usize
        }
    }

    fn take(lanes: &Lanes<(Class, u32)>, ops_max: usize) -> Vec<(Class, u32)> {
        let mut batch = Vec::new();
        lanes.take_batch(ops_max, usize::MAX, &mut batch);
        batch
    }

    /// A batch stops before the item that would take it over its byte budget (so a log entry
    /// always fits a WAL segment and a peer frame), but always takes one item.
    #[test]
    fn a_batch_keeps_within_its_byte_budget() {
        let lanes = Lanes::new(100, limits(10, 50, 10));
        for weight in [40, 30, 50, 10] {
            lanes.push(Class::Normal, (Class::Normal, weight)).unwrap();
        }
        let mut batch = Vec::new();
        lanes.take_batch(10, 80, &mut batch);
        assert_eq!(batch, [(Class::Normal, 40), (Class::Normal, 30)]);
        batch.clear();
        lanes.take_batch(10, 20, &mut batch);
        assert_eq!(
            batch,
            [(Class::Normal, 50)],
            "one item even over the budget"
        );
        batch.clear();
        lanes.take_batch(10, 20, &mut batch);
        assert_eq!(batch, [(Class::Normal, 10)]);
    }

    #[test]
    fn class_names_round_trip_and_default_is_normal() {
        for class in Class::ALL {
            assert_eq!(class.to_string().parse::<Class>(), Ok(class));
            assert_eq!(Class::from_index(class.index()), class);
        }
        assert_eq!("CRITICAL".parse::<Class>(), Ok(Class::Critical));
        assert!("urgent".parse::<Class>().is_err());
        assert_eq!(Class::default(), Class::Normal);
    }

    /// The batcher's drain order: every critical op before any normal op, normal before bulk,
    /// FIFO within a class, and never more bulk ops in a batch than the cap.
    #[test]
    fn batch_takes_critical_first_then_normal_then_capped_bulk() {
        let lanes = Lanes::new(1_000, limits(100, 500, 2));
        // Interleaved arrival: bulk first, so a FIFO queue would put it at the front.
        for i in 0..4 {
            lanes.push(Class::Bulk, (Class::Bulk, i)).unwrap();
            lanes.push(Class::Normal, (Class::Normal, i)).unwrap();
            lanes.push(Class::Critical, (Class::Critical, i)).unwrap();
        }
        let batch = take(&lanes, 7);
        assert_eq!(
            batch,
            vec![
                (Class::Critical, 0),
                (Class::Critical, 1),
                (Class::Critical, 2),
                (Class::Critical, 3),
                (Class::Normal, 0),
                (Class::Normal, 1),
                (Class::Normal, 2),
            ]
        );
        // Room for 10 but only 2 bulk may ride along.
        let batch = take(&lanes, 10);
        assert_eq!(
            batch,
            vec![(Class::Normal, 3), (Class::Bulk, 0), (Class::Bulk, 1)]
        );
        assert_eq!(take(&lanes, 10), vec![(Class::Bulk, 2), (Class::Bulk, 3)]);
        assert!(take(&lanes, 10).is_empty());
        let stats = lanes.stats();
        for class in Class::ALL {
            assert_eq!(stats.class(class).depth.load(Ordering::Relaxed), 0);
            assert_eq!(stats.class(class).admitted.load(Ordering::Relaxed), 4);
            assert_eq!(stats.class(class).wait.snapshot().count(), 4);
        }
    }

    /// A critical write that arrives behind a full backlog of bulk and normal work is in the
    /// very next batch.
    #[test]
    fn late_critical_write_rides_in_the_next_batch() {
        let lanes = Lanes::new(10_000, limits(10_000, 10_000, 16));
        for i in 0..3_000 {
            lanes.push(Class::Bulk, (Class::Bulk, i)).unwrap();
            lanes.push(Class::Normal, (Class::Normal, i)).unwrap();
        }
        lanes.push(Class::Critical, (Class::Critical, 0)).unwrap();
        let batch = take(&lanes, 64);
        assert_eq!(batch[0], (Class::Critical, 0));
        assert_eq!(batch.len(), 64);
    }

    /// Overload: bulk is refused first (with a retry hint), then normal; critical is admitted
    /// until the node-wide bound, i.e. only when nothing is being drained.
    #[test]
    fn bulk_is_shed_before_normal_and_normal_before_critical() {
        let lanes = Lanes::new(8, limits(2, 5, 4));
        lanes.push(Class::Bulk, (Class::Bulk, 0)).unwrap();
        lanes.push(Class::Bulk, (Class::Bulk, 1)).unwrap();
        let refused = lanes.push(Class::Bulk, (Class::Bulk, 2)).unwrap_err();
        assert!(matches!(
            refused,
            Refused::Busy {
                class: Class::Bulk,
                queued: 2,
                threshold: 2,
                retry_after_ms: RETRY_AFTER_MS_DEFAULT,
            }
        ));
        let reason = refused.busy_reason().unwrap();
        assert!(reason.contains("bulk lane") && reason.ends_with("retry after 10 ms"));
        // Normal and critical still get in while bulk is refused.
        for i in 0..3 {
            lanes.push(Class::Normal, (Class::Normal, i)).unwrap();
        }
        assert!(matches!(
            lanes.push(Class::Normal, (Class::Normal, 9)),
            Err(Refused::Busy {
                class: Class::Normal,
                ..
            })
        ));
        assert!(lanes.push(Class::Bulk, (Class::Bulk, 9)).is_err());
        for i in 0..3 {
            lanes.push(Class::Critical, (Class::Critical, i)).unwrap();
        }
        assert!(matches!(
            lanes.push(Class::Critical, (Class::Critical, 9)),
            Err(Refused::Busy {
                class: Class::Critical,
                queued: 8,
                ..
            })
        ));
        let stats = lanes.stats();
        let shed = |c: Class| stats.class(c).shed.load(Ordering::Relaxed);
        assert_eq!((shed(Class::Bulk), shed(Class::Normal)), (2, 1));
        assert_eq!(shed(Class::Critical), 1);
        // Draining makes room again: 4 of 8 taken, normal is admitted again, bulk not yet.
        take(&lanes, 4);
        lanes.push(Class::Normal, (Class::Normal, 3)).unwrap();
        assert!(lanes.push(Class::Bulk, (Class::Bulk, 3)).is_err());
        lanes.push(Class::Critical, (Class::Critical, 3)).unwrap();
    }

    /// With light critical load every batch still carries bulk work, so bulk makes progress.
    #[test]
    fn bulk_is_not_starved_when_critical_load_is_light() {
        let lanes = Lanes::new(10_000, limits(10_000, 10_000, 8));
        for i in 0..100 {
            lanes.push(Class::Bulk, (Class::Bulk, i)).unwrap();
        }
        let mut bulk_done = 0;
        for round in 0..20 {
            lanes
                .push(Class::Critical, (Class::Critical, round))
                .unwrap();
            let batch = take(&lanes, 64);
            assert_eq!(batch[0], (Class::Critical, round));
            let bulk: Vec<u32> = batch
                .iter()
                .filter(|(c, _)| *c == Class::Bulk)
                .map(|(_, i)| *i)
                .collect();
            // In order, and as many as the cap allows while bulk is waiting.
            assert_eq!(
                bulk,
                (bulk_done..(bulk_done + 8).min(100)).collect::<Vec<_>>()
            );
            bulk_done += bulk.len() as u32;
        }
        assert_eq!(bulk_done, 100);
    }

    #[test]
    fn retry_hint_follows_the_measured_drain_cost() {
        let lanes = Lanes::new(100, limits(10, 50, 100));
        let t0 = Instant::now();
        for i in 0..40 {
            lanes
                .push_at(Class::Normal, (Class::Normal, i), t0)
                .unwrap();
        }
        let mut batch = Vec::new();
        lanes.take_batch_at(10, usize::MAX, &mut batch, t0);
        // 10 ops in 20 ms with a backlog left: 2 ms per op.
        lanes.take_batch_at(10, usize::MAX, &mut batch, t0 + Duration::from_millis(20));
        let Err(Refused::Busy {
            queued,
            retry_after_ms,
            ..
        }) = lanes.push_at(Class::Bulk, (Class::Bulk, 0), t0)
        else {
            panic!("bulk must be refused");
        };
        assert_eq!((queued, retry_after_ms), (20, 40));
        assert_eq!(retry_after_ms_for(1_000_000, 1e9), RETRY_AFTER_MS_MAX);
        assert_eq!(retry_after_ms_for(1, 1.0), RETRY_AFTER_MS_MIN);
    }

    fn retry_after_ms_for(queued: usize, ns_per_op: f64) -> u64 {
        retry_after_ms(queued, Some(ns_per_op))
    }

    #[test]
    fn closed_lanes_refuse_new_items_but_hand_out_queued_ones() {
        let lanes = Lanes::new(10, limits(5, 5, 5));
        lanes.push(Class::Normal, (Class::Normal, 0)).unwrap();
        lanes.close();
        assert_eq!(
            lanes.push(Class::Critical, (Class::Critical, 0)),
            Err(Refused::Closed)
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(lanes.ready()));
        assert_eq!(take(&lanes, 10).len(), 1);
        assert!(!rt.block_on(lanes.ready()));
    }

    #[test]
    fn limits_must_order_the_thresholds() {
        assert!(LaneLimits::default()
            .invalid_reason(crate::node::BatchLimits::default().queue_depth_max)
            .is_none());
        assert!(limits(10, 5, 1).invalid_reason(100).is_some());
        assert!(limits(1, 500, 1).invalid_reason(100).is_some());
        assert!(limits(1, 5, 0).invalid_reason(100).is_some());
    }
}
