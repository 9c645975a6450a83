//! Prometheus metrics: lock-free latency histograms per command class, and the text-format
//! (0.0.4) rendering of the server counters, the node's log positions and its WAL counters.
//!
//! `observe` is a binary search over a fixed bucket table plus two relaxed `fetch_add`s, cheap
//! enough for every reply. A scrape reads each counter atomically but not all of them as one
//! snapshot, so `_count` is derived from the buckets: it always equals the `+Inf` bucket.
//! `CONFIG RESETSTAT` zeroes the server counters; Prometheus reads that as a counter reset.

use std::fmt::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::info::rss_bytes;
use super::stats::ServerStats;
use crate::node::{LaneClassStats, LaneStats, NodeStatus};

use crate::node::histogram::BUCKET_COUNT;
pub use crate::node::histogram::{HistogramSnapshot, LatencyHistogram, LATENCY_BUCKET_BOUNDS_NS};

/// The priority class of a connection (ARCHITECTURE.md, lanes): the lanes' [`Class`].
pub use crate::node::Class as CommandClass;

/// Metrics the server records itself (counters it already keeps live in `ServerStats`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Indexed by `CommandClass as usize`.
    command_latency: [LatencyHistogram; 3],
    /// The node's priority lanes (depth, wait, shed), when serving one.
    lanes: Option<Arc<LaneStats>>,
}

impl Metrics {
    /// Metrics that also export the per-class counters of `lanes`.
    pub fn with_lanes(lanes: Arc<LaneStats>) -> Self {
        Self {
            lanes: Some(lanes),
            ..Self::default()
        }
    }

    /// Records one command, from the moment it was parsed to the moment its reply was ready.
    pub fn observe_command(&self, class: CommandClass, latency: Duration) {
        self.command_latency[class as usize].observe(latency);
    }

    pub fn command_latency(&self, class: CommandClass) -> &LatencyHistogram {
        &self.command_latency[class as usize]
    }
}

/// The Prometheus metric types we emit.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        })
    }
}

/// The content type of `render`'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Appends every Tandem metric to `out` in the Prometheus text format 0.0.4.
pub fn render(out: &mut String, stats: &ServerStats, metrics: &Metrics, status: &NodeStatus) {
    let load = ServerStats::get;
    single(
        out,
        "tandem_up",
        Kind::Gauge,
        "1 while the process serves.",
        1,
    );

    // Commands.
    single(
        out,
        "tandem_commands_processed_total",
        Kind::Counter,
        "Commands answered, error replies included.",
        load(&stats.commands_processed),
    );
    single(
        out,
        "tandem_error_replies_total",
        Kind::Counter,
        "Error replies sent, including for unknown commands and protocol errors.",
        load(&stats.error_replies),
    );
    let commands = stats.commands();
    family(
        out,
        "tandem_commands_total",
        Kind::Counter,
        "Commands answered, by command name.",
    );
    for (name, counts) in &commands {
        sample(
            out,
            "tandem_commands_total",
            &[("command", name)],
            counts.calls,
        );
    }
    family(
        out,
        "tandem_command_errors_total",
        Kind::Counter,
        "Error replies, by command name.",
    );
    for (name, counts) in &commands {
        sample(
            out,
            "tandem_command_errors_total",
            &[("command", name)],
            counts.errors,
        );
    }
    family(
        out,
        "tandem_command_latency_seconds",
        Kind::Histogram,
        "Time from a command being parsed to its reply being ready (writes: durable and \
         applied), by connection class.",
    );
    for class in CommandClass::ALL {
        histogram(
            out,
            "tandem_command_latency_seconds",
            ("class", class.as_str()),
            &metrics.command_latency(class).snapshot(),
        );
    }

    if let Some(lanes) = &metrics.lanes {
        lane_families(out, lanes);
    }

    // Connections and bytes.
    single(
        out,
        "tandem_connections",
        Kind::Gauge,
        "Client connections open now.",
        load(&stats.connections_current),
    );
    single(
        out,
        "tandem_connections_accepted_total",
        Kind::Counter,
        "Client connections accepted, including ones then refused for clients_max.",
        load(&stats.connections_accepted),
    );
    single(
        out,
        "tandem_connections_rejected_total",
        Kind::Counter,
        "Client connections refused because clients_max was reached.",
        load(&stats.connections_rejected),
    );
    single(
        out,
        "tandem_tls_handshakes_failed_total",
        Kind::Counter,
        "Connections to the TLS port closed because their TLS handshake failed or timed out.",
        load(&stats.tls_handshakes_failed),
    );
    single(
        out,
        "tandem_connections_closed_for_limits_total",
        Kind::Counter,
        "Clients closed for a protocol error, an oversized query buffer or idleness.",
        load(&stats.clients_closed_for_limits),
    );
    single(
        out,
        "tandem_net_input_bytes_total",
        Kind::Counter,
        "Bytes read from clients.",
        load(&stats.bytes_in),
    );
    single(
        out,
        "tandem_net_output_bytes_total",
        Kind::Counter,
        "Bytes written to clients.",
        load(&stats.bytes_out),
    );

    // The node: log positions (docs/log-positions.md), keyspace, batching, WAL.
    family(
        out,
        "tandem_log_position",
        Kind::Gauge,
        "Log index of each named position: purged <= snapshot <= applied <= committed, \
         flushed <= written <= accepted.",
    );
    for (position, index) in [
        ("purged", status.purged),
        ("snapshot", status.snapshot),
        ("applied", status.applied),
        ("committed", status.committed),
        ("flushed", status.flushed),
        ("written", status.written),
        ("accepted", status.accepted),
    ] {
        sample(out, "tandem_log_position", &[("position", position)], index);
    }
    single(
        out,
        "tandem_raft_term",
        Kind::Gauge,
        "Current Raft term.",
        status.term,
    );
    single(
        out,
        "tandem_keys",
        Kind::Gauge,
        "Keys in the keyspace.",
        status.keys,
    );
    single(
        out,
        "tandem_batch_proposals_total",
        Kind::Counter,
        "Batches proposed to the log by the batcher since the node opened.",
        status.proposals,
    );
    single(
        out,
        "tandem_batch_ops_total",
        Kind::Counter,
        "Operations carried by those batches.",
        status.ops,
    );
    single(
        out,
        "tandem_batch_proposals_overlapped_total",
        Kind::Counter,
        "Batches proposed while an earlier batch was flushed but not yet answered.",
        status.proposals_overlapped,
    );
    let wal = &status.wal;
    single(
        out,
        "tandem_wal_batches_total",
        Kind::Counter,
        "WAL group commits completed since the node opened.",
        wal.batches,
    );
    single(
        out,
        "tandem_wal_records_total",
        Kind::Counter,
        "WAL records written since the node opened.",
        wal.records,
    );
    single(
        out,
        "tandem_wal_bytes_total",
        Kind::Counter,
        "WAL bytes written since the node opened.",
        wal.bytes,
    );
    single(
        out,
        "tandem_wal_fsyncs_total",
        Kind::Counter,
        "WAL syncs of batches and of control operations (truncate, purge, vote).",
        wal.fsync_count,
    );
    single(
        out,
        "tandem_wal_fsync_seconds_sum",
        Kind::Counter,
        "Total batch sync latency, submission to completion; control syncs are not included, \
         so this over tandem_wal_batches_total is the mean batch sync latency.",
        Seconds(wal.fsync_latency_ns_sum),
    );
    single(
        out,
        "tandem_wal_fsync_seconds_max",
        Kind::Gauge,
        "Slowest batch sync since the node opened.",
        Seconds(wal.fsync_latency_ns_max),
    );
    single(
        out,
        "tandem_log_cache_entries",
        Kind::Gauge,
        "Log entries kept decoded in memory (the newest of the log).",
        status.log_cache.cached_entries,
    );
    single(
        out,
        "tandem_log_cache_bytes",
        Kind::Gauge,
        "Estimated memory of the cached log entries (bounded by log_cache_bytes_max).",
        status.log_cache.cached_bytes,
    );
    single(
        out,
        "tandem_log_wal_read_entries_total",
        Kind::Counter,
        "Log entries read back from the WAL because they had left the cache.",
        status.log_cache.wal_read_entries,
    );
    log2_histogram(
        out,
        "tandem_wal_batch_sync_seconds",
        "Group-commit sync latency (write submitted to sync completed), log2 buckets.",
        &wal.batch_fsync_us_log2,
        |i| Seconds((1u64 << i) * 1_000).to_string(),
        Seconds(wal.fsync_latency_ns_sum).to_string(),
    );
    log2_histogram(
        out,
        "tandem_wal_batch_records",
        "Records (log entries) per group commit, log2 buckets.",
        &wal.batch_records_log2,
        |i| (1u64 << i).to_string(),
        wal.records.to_string(),
    );
    single(
        out,
        "tandem_process_resident_memory_bytes",
        Kind::Gauge,
        "Resident set size of the process (0 where /proc is unavailable).",
        rss_bytes(),
    );
}

/// Per-class queue depth, admission threshold, admitted and shed writes, and queue wait.
fn lane_families(out: &mut String, lanes: &LaneStats) {
    let per_class = |out: &mut String,
                     name: &str,
                     kind: Kind,
                     help: &str,
                     value: &dyn Fn(CommandClass) -> u64| {
        family(out, name, kind, help);
        for class in CommandClass::ALL {
            sample(out, name, &[("class", class.as_str())], value(class));
        }
    };
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    per_class(
        out,
        "tandem_lane_depth",
        Kind::Gauge,
        "Writes queued in each priority lane, not yet in a batch.",
        &|c| lanes.class(c).depth.load(Ordering::Relaxed) as u64,
    );
    per_class(
        out,
        "tandem_lane_depth_max",
        Kind::Gauge,
        "Writes queued in all lanes at which a class is refused with BUSY.",
        &|c| lanes.threshold(c) as u64,
    );
    per_class(
        out,
        "tandem_lane_admitted_total",
        Kind::Counter,
        "Writes admitted to each lane.",
        &|c| load(&lanes.class(c).admitted),
    );
    per_class(
        out,
        "tandem_lane_shed_total",
        Kind::Counter,
        "Writes refused with BUSY because the lanes were over the class's threshold.",
        &|c| load(&lanes.class(c).shed),
    );
    let per_class_histogram =
        |out: &mut String,
         name: &str,
         help: &str,
         pick: &dyn Fn(&LaneClassStats) -> &LatencyHistogram| {
            family(out, name, Kind::Histogram, help);
            for class in CommandClass::ALL {
                histogram(
                    out,
                    name,
                    ("class", class.as_str()),
                    &pick(lanes.class(class)).snapshot(),
                );
            }
        };
    per_class_histogram(
        out,
        "tandem_lane_wait_seconds",
        "Time from a write's admission to its lane until the batcher takes it into a batch.",
        &|lane| &lane.wait,
    );
    per_class_histogram(
        out,
        "tandem_lane_flush_seconds",
        "Per batch carrying the class, proposed on this node: time from the proposal until the \
         entry was fsynced in the local WAL.",
        &|lane| &lane.flush,
    );
    per_class_histogram(
        out,
        "tandem_lane_answer_seconds",
        "Per batch carrying the class, proposed on this node: time from the local fsync until \
         the entry was replicated to a quorum, committed and applied.",
        &|lane| &lane.answer,
    );
}

/// Nanoseconds shown as exact decimal seconds ("0.0000025", "10"), with no float rounding.
struct Seconds(u64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NS_PER_SECOND: u64 = 1_000_000_000;
        let whole = self.0 / NS_PER_SECOND;
        let fraction = self.0 % NS_PER_SECOND;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:09}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

fn family(out: &mut String, name: &str, kind: Kind, help: &str) {
    debug_assert!(
        !help.contains(['\\', '\n']),
        "HELP text would need escaping"
    );
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, label_value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, label_value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A family with one unlabelled sample.
fn single(out: &mut String, name: &str, kind: Kind, help: &str, value: impl fmt::Display) {
    family(out, name, kind, help);
    sample(out, name, &[], value);
}

/// The `_bucket`, `_sum` and `_count` samples of one labelled histogram series.
fn histogram(out: &mut String, name: &str, label: (&str, &str), snapshot: &HistogramSnapshot) {
    let bucket_name = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (bound_ns, count) in LATENCY_BUCKET_BOUNDS_NS.iter().zip(&snapshot.counts) {
        cumulative += count;
        let le = Seconds(*bound_ns).to_string();
        sample(out, &bucket_name, &[label, ("le", &le)], cumulative);
    }
    cumulative += snapshot.counts[BUCKET_COUNT - 1];
    sample(out, &bucket_name, &[label, ("le", "+Inf")], cumulative);
    sample(
        out,
        &format!("{name}_sum"),
        &[label],
        Seconds(snapshot.sum_ns),
    );
    sample(out, &format!("{name}_count"), &[label], cumulative);
}

/// A histogram family from non-cumulative log2 slots (the WAL's counters): slot `i` holds
/// observations `<= bound(i)`; the last slot holds everything above the last bound.
fn log2_histogram(
    out: &mut String,
    name: &str,
    help: &str,
    slots: &[u64],
    bound: impl Fn(usize) -> String,
    sum: String,
) {
    family(out, name, Kind::Histogram, help);
    let bucket_name = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (i, count) in slots.iter().enumerate().take(slots.len() - 1) {
        cumulative += count;
        sample(out, &bucket_name, &[("le", &bound(i))], cumulative);
    }
    cumulative += slots[slots.len() - 1];
    sample(out, &bucket_name, &[("le", "+Inf")], cumulative);
    sample(out, &format!("{name}_sum"), &[], sum);
    sample(out, &format!("{name}_count"), &[], cumulative);
}

/// Label values escape backslash, double quote and newline (text format 0.0.4).
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;
    use crate::wal::WalStats;

    fn status() -> NodeStatus {
        NodeStatus {
            purged: 1,
            snapshot: 2,
            applied: 3,
            committed: 4,
            flushed: 5,
            written: 6,
            accepted: 7,
            keys: 8,
            term: 9,
            proposals: 10,
            ops: 11,
            proposals_overlapped: 99,
            wal: WalStats {
                batches: 12,
                records: 13,
                bytes: 14,
                fsync_count: 15,
                fsync_latency_ns_sum: 1_500_000_000,
                fsync_latency_ns_max: 250_000,
                last_batch_records: 1,
                last_batch_bytes: 1,
                batch_fsync_us_log2: std::array::from_fn(|i| match i {
                    7 => 10, // <= 128 µs
                    8 => 2,  // <= 256 µs
                    _ => 0,
                }),
                batch_records_log2: std::array::from_fn(|i| u64::from(i == 0) * 12),
            },
            log_cache: Default::default(),
        }
    }

    /// One parsed sample line.
    #[derive(Debug)]
    pub(crate) struct Sample {
        pub(crate) name: String,
        pub(crate) labels: BTreeMap<String, String>,
        pub(crate) value: f64,
    }

    /// Parses a Prometheus 0.0.4 exposition strictly: every line is a HELP, a TYPE or a
    /// sample `name{labels} value`; every sample belongs to a family whose TYPE came before
    /// it; no family is declared twice and no series appears twice. Panics on any violation.
    pub(crate) fn parse_exposition(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
        fn is_name(s: &str) -> bool {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        }
        assert!(text.ends_with('\n'), "exposition must end with a newline");
        let mut types: HashMap<String, String> = HashMap::new();
        let mut helped: HashSet<String> = HashSet::new();
        let mut series: HashSet<String> = HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(is_name(name), "bad HELP name in {line:?}");
                assert!(!help.is_empty(), "empty HELP in {line:?}");
                assert!(helped.insert(name.to_string()), "second HELP: {line:?}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(is_name(name), "bad TYPE name in {line:?}");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad TYPE in {line:?}"
                );
                let previous = types.insert(name.to_string(), kind.to_string());
                assert!(previous.is_none(), "second TYPE: {line:?}");
                continue;
            }
            assert!(!line.starts_with('#'), "unexpected comment {line:?}");
            let (series_key, value) = line.rsplit_once(' ').expect("sample value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match series_key.split_once('{') {
                None => (series_key, BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels end with }");
                    (name, parse_labels(body, line))
                }
            };
            assert!(is_name(name), "bad sample name in {line:?}");
            let family = [
                name.strip_suffix("_bucket"),
                name.strip_suffix("_sum"),
                name.strip_suffix("_count"),
            ]
            .into_iter()
            .flatten()
            .find(|base| types.get(*base).is_some_and(|k| k == "histogram"))
            .unwrap_or(name);
            assert!(
                types.contains_key(family),
                "sample without a preceding TYPE: {line:?}"
            );
            assert!(
                series.insert(series_key.to_string()),
                "duplicate series {line:?}"
            );
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        (types, samples)
    }

    fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        let mut chars = body.chars().peekable();
        while chars.peek().is_some() {
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert!(!name.is_empty(), "empty label name in {line:?}");
            assert_eq!(
                chars.next(),
                Some('"'),
                "label value must be quoted: {line:?}"
            );
            let mut value = String::new();
            loop {
                match chars.next().expect("unterminated label value") {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    c => value.push(c),
                }
            }
            assert!(
                labels.insert(name, value).is_none(),
                "duplicate label in {line:?}"
            );
            match chars.next() {
                None => break,
                Some(',') => {}
                Some(c) => panic!("unexpected {c:?} after a label in {line:?}"),
            }
        }
        labels
    }

    fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
            .value
    }

    #[test]
    fn observations_land_in_the_first_bucket_whose_bound_they_do_not_exceed() {
        let histogram = LatencyHistogram::default();
        for latency in [
            Duration::ZERO,                // bucket 0 (le 1µs)
            Duration::from_nanos(1_000),   // bucket 0: bounds are inclusive
            Duration::from_nanos(1_001),   // bucket 1 (le 2.5µs)
            Duration::from_micros(700),    // bucket 9 (le 1ms)
            Duration::from_secs(10),       // bucket 21 (le 10s)
            Duration::from_secs(11),       // overflow
            Duration::from_secs(u64::MAX), // overflow, nanoseconds saturate
        ] {
            histogram.observe(latency);
        }
        let snapshot = histogram.snapshot();
        let mut expected = [0u64; BUCKET_COUNT];
        expected[0] = 2;
        expected[1] = 1;
        expected[9] = 1;
        expected[21] = 1;
        expected[22] = 2;
        assert_eq!(snapshot.counts, expected);
        assert_eq!(snapshot.count(), 7);
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(Seconds(0).to_string(), "0");
        assert_eq!(Seconds(1_000).to_string(), "0.000001");
        assert_eq!(Seconds(2_500).to_string(), "0.0000025");
        assert_eq!(Seconds(1_500_000_000).to_string(), "1.5");
        assert_eq!(Seconds(10_000_000_000).to_string(), "10");
    }

    #[test]
    fn histogram_renders_cumulative_buckets_sum_and_count() {
        let latency = LatencyHistogram::default();
        latency.observe(Duration::from_micros(3)); // le 5µs
        latency.observe(Duration::from_micros(3));
        latency.observe(Duration::from_millis(2)); // le 2.5ms
        latency.observe(Duration::from_secs(20)); // +Inf only
        let mut out = String::new();
        family(&mut out, "t_seconds", Kind::Histogram, "test.");
        histogram(
            &mut out,
            "t_seconds",
            ("class", "normal"),
            &latency.snapshot(),
        );
        let (_, samples) = parse_exposition(&out);
        let bucket = |le: &str| {
            value_of(
                &samples,
                "t_seconds_bucket",
                &[("class", "normal"), ("le", le)],
            )
        };
        assert_eq!(bucket("0.0000025"), 0.0);
        assert_eq!(bucket("0.000005"), 2.0);
        assert_eq!(bucket("0.001"), 2.0);
        assert_eq!(bucket("0.0025"), 3.0);
        assert_eq!(bucket("10"), 3.0);
        assert_eq!(bucket("+Inf"), 4.0);
        assert_eq!(
            value_of(&samples, "t_seconds_count", &[("class", "normal")]),
            4.0
        );
        assert!(
            out.contains("t_seconds_sum{class=\"normal\"} 20.002006\n"),
            "{out}"
        );
        // Buckets never decrease.
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|s| s.name == "t_seconds_bucket")
            .map(|s| s.value)
            .collect();
        assert_eq!(buckets.len(), BUCKET_COUNT);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn exposition_parses_and_carries_every_value() {
        let stats = ServerStats::default();
        stats.record_command(Some("set"), None);
        stats.record_command(Some("set"), Some("ERR x"));
        stats.record_command(Some("get"), None);
        stats.record_command(None, Some("ERR unknown command"));
        stats.connections_current.store(3, Ordering::Relaxed);
        stats.bytes_in.store(100, Ordering::Relaxed);
        let metrics = Metrics::default();
        metrics.observe_command(CommandClass::Normal, Duration::from_micros(40));
        let mut out = String::new();
        render(&mut out, &stats, &metrics, &status());

        let (types, samples) = parse_exposition(&out);
        let value = |name: &str, labels: &[(&str, &str)]| value_of(&samples, name, labels);
        assert_eq!(value("tandem_up", &[]), 1.0);
        // The WAL's log2 slots become cumulative buckets with their bounds in seconds.
        let sync = |le: &str| value("tandem_wal_batch_sync_seconds_bucket", &[("le", le)]);
        assert_eq!(sync("0.000064"), 0.0);
        assert_eq!(sync("0.000128"), 10.0);
        assert_eq!(sync("0.000256"), 12.0);
        assert_eq!(sync("+Inf"), 12.0);
        assert_eq!(value("tandem_wal_batch_sync_seconds_count", &[]), 12.0);
        assert_eq!(
            value("tandem_wal_batch_records_bucket", &[("le", "1")]),
            12.0
        );
        assert_eq!(value("tandem_wal_batch_records_sum", &[]), 13.0);
        assert_eq!(value("tandem_commands_total", &[("command", "set")]), 2.0);
        assert_eq!(
            value("tandem_command_errors_total", &[("command", "set")]),
            1.0
        );
        assert_eq!(value("tandem_commands_total", &[("command", "get")]), 1.0);
        assert_eq!(value("tandem_commands_processed_total", &[]), 4.0);
        assert_eq!(value("tandem_error_replies_total", &[]), 2.0);
        assert_eq!(value("tandem_connections", &[]), 3.0);
        assert_eq!(value("tandem_net_input_bytes_total", &[]), 100.0);
        assert_eq!(
            value(
                "tandem_command_latency_seconds_count",
                &[("class", "normal")]
            ),
            1.0
        );
        assert_eq!(
            value("tandem_command_latency_seconds_count", &[("class", "bulk")]),
            0.0
        );
        for (position, index) in [
            ("purged", 1.0),
            ("snapshot", 2.0),
            ("applied", 3.0),
            ("committed", 4.0),
            ("flushed", 5.0),
            ("written", 6.0),
            ("accepted", 7.0),
        ] {
            assert_eq!(
                value("tandem_log_position", &[("position", position)]),
                index
            );
        }
        assert_eq!(value("tandem_keys", &[]), 8.0);
        assert_eq!(value("tandem_raft_term", &[]), 9.0);
        assert_eq!(value("tandem_batch_proposals_total", &[]), 10.0);
        assert_eq!(value("tandem_batch_ops_total", &[]), 11.0);
        assert_eq!(value("tandem_batch_proposals_overlapped_total", &[]), 99.0);
        assert_eq!(value("tandem_wal_batches_total", &[]), 12.0);
        assert_eq!(value("tandem_wal_records_total", &[]), 13.0);
        assert_eq!(value("tandem_wal_bytes_total", &[]), 14.0);
        assert_eq!(value("tandem_wal_fsyncs_total", &[]), 15.0);
        assert_eq!(value("tandem_wal_fsync_seconds_sum", &[]), 1.5);
        assert_eq!(value("tandem_wal_fsync_seconds_max", &[]), 0.00025);
        assert!(value("tandem_process_resident_memory_bytes", &[]) > 0.0);
        // Every family the brief names is declared with its type.
        for (name, kind) in [
            ("tandem_commands_total", "counter"),
            ("tandem_command_latency_seconds", "histogram"),
            ("tandem_connections_accepted_total", "counter"),
            ("tandem_connections_rejected_total", "counter"),
            ("tandem_net_output_bytes_total", "counter"),
            ("tandem_log_position", "gauge"),
        ] {
            assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        family(&mut out, "t", Kind::Counter, "test.");
        sample(&mut out, "t", &[("command", "a\"b\\c\nd")], 1);
        assert_eq!(out.lines().last(), Some(r#"t{command="a\"b\\c\nd"} 1"#));
        let (_, samples) = parse_exposition(&out);
        assert_eq!(samples[0].labels["command"], "a\"b\\c\nd");
    }

    /// The parser used by these tests must itself reject what Prometheus rejects.
    #[test]
    #[should_panic(expected = "sample without a preceding TYPE")]
    fn parser_rejects_a_sample_without_type() {
        parse_exposition("tandem_orphan 1\n");
    }
}
