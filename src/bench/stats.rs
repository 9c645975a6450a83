//! `Recorder`: what one client measured — an HDR histogram of successful operations' latencies
//! (microseconds, 3 significant digits) and error counts by kind — and `Latency`, the
//! percentiles a report prints. Invariant: an operation is either in the histogram or in the
//! error counts, never both and never neither.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency the histogram tracks exactly; longer ones are recorded as this.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies and errors of one client (merged into one per run).
#[derive(Clone, Debug)]
pub struct Recorder {
    pub histogram: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
                .expect("valid histogram bounds"),
            errors: BTreeMap::new(),
        }
    }
}

impl Recorder {
    /// A successful operation that took `latency_us` (at least 1 µs is recorded).
    pub fn success(&mut self, latency_us: u64) {
        self.histogram.saturating_record(latency_us.max(1));
    }

    /// `count` failed operations of `kind` (an error code like `ERR`, or `io`, `timeout`).
    pub fn error(&mut self, kind: &str, count: u64) {
        if count > 0 {
            *self.errors.entry(kind.to_string()).or_default() += count;
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms with the same bounds");
        for (kind, count) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += count;
        }
    }

    pub fn ops(&self) -> u64 {
        self.histogram.len()
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn latency(&self) -> Latency {
        let h = &self.histogram;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Latency percentiles of successful operations, in microseconds (0 when there were none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1..=1000 µs once each: the q-quantile is the value at rank ceil(q * 1000).
    #[test]
    fn percentiles_of_a_known_sequence() {
        let mut recorder = Recorder::default();
        for us in 1..=1000 {
            recorder.success(us);
        }
        let latency = recorder.latency();
        assert_eq!(
            (
                latency.p50,
                latency.p90,
                latency.p99,
                latency.p999,
                latency.max
            ),
            (500, 900, 990, 999, 1000)
        );
        assert!((latency.mean - 500.5).abs() < 0.01);
        assert_eq!(recorder.ops(), 1000);
    }

    /// One slow outlier among 999 fast operations shows in max and p99.9 only; large values
    /// keep 3 significant digits.
    #[test]
    fn an_outlier_shows_in_the_tail() {
        let mut recorder = Recorder::default();
        for _ in 0..998 {
            recorder.success(100);
        }
        recorder.success(2_000_000);
        recorder.success(2_000_000);
        let latency = recorder.latency();
        assert_eq!((latency.p50, latency.p99), (100, 100));
        let within = |value: u64, expected: u64| value.abs_diff(expected) * 1000 <= expected;
        assert!(within(latency.p999, 2_000_000), "{latency:?}");
        assert!(within(latency.max, 2_000_000), "{latency:?}");
    }

    #[test]
    fn merge_adds_counts_and_errors() {
        let (mut a, mut b) = (Recorder::default(), Recorder::default());
        a.success(10);
        a.error("ERR", 2);
        b.success(30);
        b.error("ERR", 1);
        b.error("io", 4);
        b.error("timeout", 0);
        a.merge(&b);
        assert_eq!(a.ops(), 2);
        assert_eq!(a.errors_total(), 7);
        assert_eq!(a.errors.get("ERR"), Some(&3));
        assert!(
            !a.errors.contains_key("timeout"),
            "zero counts are not listed"
        );
        assert_eq!(a.latency().max, 30);
    }

    #[test]
    fn empty_recorder_reports_zeros() {
        assert_eq!(Recorder::default().latency(), Latency::default());
    }
}
