//! Lock-free latency histograms with fixed exponential buckets: the lanes' stage timings and
//! the server's per-class command latency (rendered for Prometheus by `server::metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Inclusive upper bounds of the latency buckets in nanoseconds: 1, 2.5 and 5 per decade from
/// 1 µs to 10 s. Slower observations are counted only in `+Inf` (and in `_sum`).
pub const LATENCY_BUCKET_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// One counter per bound plus the overflow bucket.
pub(crate) const BUCKET_COUNT: usize = LATENCY_BUCKET_BOUNDS_NS.len() + 1;

/// A latency histogram with fixed exponential buckets; `observe` never blocks.
#[derive(Debug)]
pub struct LatencyHistogram {
    /// Not cumulative: `counts[i]` holds observations in `(bound[i-1], bound[i]]`, and the last
    /// slot those above every bound. Cumulating happens at render time.
    counts: [AtomicU64; BUCKET_COUNT],
    sum_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The counters of a histogram as read at one moment (each one atomically).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Not cumulative, as in `LatencyHistogram::counts`.
    pub counts: [u64; BUCKET_COUNT],
    pub sum_ns: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl LatencyHistogram {
    pub fn observe(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // First bound >= ns, because a bucket's bound is inclusive (`le`).
        let bucket = LATENCY_BUCKET_BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}
