//! The latency monitor (LATENCY LATEST | HISTORY | RESET | DOCTOR | HELP): for each event, the
//! commands that took at least `latency-monitor-threshold` ms (0 = off), one sample per second
//! (the worst of that second), the last 160 seconds that had one, and the all-time worst.
//! Events: `command` (commands not flagged fast) and `fast-command` (fast ones), timed as the
//! slow log times them (parse to reply, so a write includes its quorum fsync). LATENCY
//! HISTOGRAM reads the per-command power-of-two histograms of `ServerStats`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::slowlog::help_reply;
use super::stats::{CommandCounts, ServerStats};
use crate::command::{CommandSpec, Flags, Reply};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
const SAMPLES_MAX: usize = 160;

#[derive(Debug, Default)]
struct Series {
    /// (unix seconds, worst ms that second), oldest first.
    samples: VecDeque<(u64, u64)>,
    max_ms: u64,
}

/// The latency events of one server.
#[derive(Debug, Default)]
pub(crate) struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl LatencyMonitor {
    /// Records a command's time if it reaches `threshold_ms` (None: the monitor is off).
    pub(crate) fn observe(&self, spec: &CommandSpec, elapsed: Duration, threshold_ms: Option<u64>) {
        let Some(threshold_ms) = threshold_ms else {
            return;
        };
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        if ms < threshold_ms || spec.flags.contains(Flags::SKIP_SLOWLOG) {
            return;
        }
        let event = if spec.flags.contains(Flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        self.add(event, unix_secs(), ms);
    }

    fn add(&self, event: &'static str, now_secs: u64, ms: u64) {
        let mut events = lock(&self.events);
        let series = events.entry(event).or_default();
        series.max_ms = series.max_ms.max(ms);
        match series.samples.back_mut() {
            Some((secs, worst)) if *secs == now_secs => *worst = (*worst).max(ms),
            _ => {
                series.samples.push_back((now_secs, ms));
                if series.samples.len() > SAMPLES_MAX {
                    series.samples.pop_front();
                }
            }
        }
    }

    fn latest(&self) -> Reply {
        Reply::Array(
            lock(&self.events)
                .iter()
                .filter_map(|(event, series)| {
                    let (secs, ms) = *series.samples.back()?;
                    Some(Reply::Array(vec![
                        Reply::Bulk(Bytes::from_static(event.as_bytes())),
                        Reply::Integer(secs as i64),
                        Reply::Integer(ms as i64),
                        Reply::Integer(series.max_ms as i64),
                    ]))
                })
                .collect(),
        )
    }

    fn history(&self, event: &[u8]) -> Reply {
        let events = lock(&self.events);
        let samples = events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, series)| {
                series
                    .samples
                    .iter()
                    .map(|(secs, ms)| {
                        Reply::Array(vec![
                            Reply::Integer(*secs as i64),
                            Reply::Integer(*ms as i64),
                        ])
                    })
                    .collect()
            });
        Reply::Array(samples.unwrap_or_default())
    }

    /// Forgets the named events (all when `names` is empty); returns how many had data.
    fn reset(&self, names: &[Bytes]) -> usize {
        let mut events = lock(&self.events);
        if names.is_empty() {
            let count = events.len();
            events.clear();
            return count;
        }
        let before = events.len();
        events.retain(|event, _| !names.iter().any(|n| n.as_ref() == event.as_bytes()));
        before - events.len()
    }

    fn doctor(&self, threshold_ms: Option<u64>) -> String {
        let Some(threshold_ms) = threshold_ms else {
            return "Latency monitoring is disabled. Enable it with \
                    CONFIG SET latency-monitor-threshold <milliseconds>.\n"
                .into();
        };
        let events = lock(&self.events);
        if events.is_empty() {
            return format!(
                "No latency spike of {threshold_ms} ms or more was observed since the monitor was enabled or reset.\n"
            );
        }
        let mut out = format!("Latency spikes of {threshold_ms} ms or more, per event:\n");
        for (event, series) in events.iter() {
            let count = series.samples.len().max(1) as u64;
            let sum: u64 = series.samples.iter().map(|(_, ms)| ms).sum();
            out.push_str(&format!(
                "- {event}: {} second(s) with a spike in the last {} recorded; worst {} ms, average of the recorded seconds {} ms.\n",
                series.samples.len(),
                SAMPLES_MAX,
                series.max_ms,
                sum / count
            ));
        }
        out.push_str(
            "A write is timed until it is fsynced on a quorum and applied: spikes in 'command' \
             or 'fast-command' that writes share usually come from the disk (see INFO tandem, \
             wal_fsync_latency_ns_max) or from a slow follower; reads that scan whole \
             collections (KEYS, HGETALL, ZRANGE of large sets) cost time with their size.\n",
        );
        out
    }
}

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

/// LATENCY HISTOGRAM [command ...]: per command, its calls and the cumulative count of answers
/// per power-of-two µs bucket (only buckets that have answers), as Redis 7.0 shapes it. Unknown
/// or never-called names are skipped; no names means every command called since RESETSTAT.
fn histogram(stats: &ServerStats, names: &[Bytes]) -> Reply {
    let bulk = |text: &str| Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()));
    let all = stats.commands();
    let mut selected: Vec<(&'static str, CommandCounts)> = Vec::new();
    if names.is_empty() {
        selected = all;
    } else {
        for name in names {
            let name = name.to_ascii_lowercase();
            let found = all
                .iter()
                .find(|(known, _)| known.as_bytes() == name.as_slice());
            if let Some(entry) = found {
                if !selected.iter().any(|(known, _)| *known == entry.0) {
                    selected.push(*entry);
                }
            }
        }
    }
    Reply::Map(
        selected
            .into_iter()
            .map(|(name, counts)| {
                let mut total = 0;
                let mut buckets = Vec::new();
                for (i, count) in counts.usec_buckets.iter().enumerate() {
                    if *count > 0 {
                        total += count;
                        buckets.push((Reply::Integer(1i64 << i), Reply::Integer(total as i64)));
                    }
                }
                let fields = vec![
                    (bulk("calls"), Reply::Integer(counts.calls as i64)),
                    (bulk("histogram_usec"), Reply::Map(buckets)),
                ];
                (bulk(name), Reply::Map(fields))
            })
            .collect(),
    )
}

pub(crate) fn latency_reply(
    monitor: &LatencyMonitor,
    stats: &ServerStats,
    args: &[Bytes],
    threshold_ms: Option<u64>,
) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    let arity = |name: &str| Reply::Error(wrong_arity(&format!("latency|{name}")));
    match sub.as_slice() {
        b"latest" if args.len() == 2 => monitor.latest(),
        b"history" if args.len() == 3 => monitor.history(&args[2]),
        b"reset" => Reply::Integer(monitor.reset(&args[2..]) as i64),
        b"doctor" if args.len() == 2 => {
            Reply::Bulk(Bytes::from(monitor.doctor(threshold_ms)))
        }
        b"help" if args.len() == 2 => help_reply(HELP),
        b"histogram" => histogram(stats, &args[2..]),
        b"latest" => arity("latest"),
        b"history" => arity("history"),
        b"doctor" => arity("doctor"),
        b"help" => arity("help"),
        b"graph" => Reply::Error(
            "ERR LATENCY GRAPH is not supported by Tandem; use LATENCY HISTORY or LATENCY HISTOGRAM".into(),
        ),
        _ => Reply::Error(format!(
            "ERR unknown subcommand '{}'. Try LATENCY HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

impl Connection {
    /// LATENCY LATEST | HISTORY event | RESET [event ...] | DOCTOR | HELP
    pub(crate) async fn latency(&mut self, args: &[Bytes]) -> Flow {
        let threshold = self.shared.live.latency_threshold_ms();
        let reply = latency_reply(&self.shared.latency, &self.shared.stats, args, threshold);
        self.reply(Some("latency"), reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn samples_keep_the_worst_per_second_and_the_max() {
        let monitor = LatencyMonitor::default();
        monitor.add("command", 100, 5);
        monitor.add("command", 100, 9);
        monitor.add("command", 100, 7);
        monitor.add("command", 101, 3);
        assert_eq!(
            monitor.history(b"command"),
            Reply::Array(vec![
                Reply::Array(vec![Reply::Integer(100), Reply::Integer(9)]),
                Reply::Array(vec![Reply::Integer(101), Reply::Integer(3)]),
            ])
        );
        assert_eq!(
            monitor.latest(),
            Reply::Array(vec![Reply::Array(vec![
                Reply::Bulk("command".into()),
                Reply::Integer(101),
                Reply::Integer(3),
                Reply::Integer(9),
            ])])
        );
        for second in 0..200 {
            monitor.add("fast-command", 1000 + second, 1);
        }
        let Reply::Array(history) = monitor.history(b"fast-command") else {
            panic!()
        };
        assert_eq!(history.len(), SAMPLES_MAX);
        assert_eq!(monitor.history(b"nosuch"), Reply::Array(vec![]));
        assert_eq!(monitor.reset(&args(&["command", "nosuch"])), 1);
        assert_eq!(monitor.reset(&[]), 1);
    }

    #[test]
    fn histogram_is_cumulative_per_command() {
        let stats = ServerStats::default();
        let us = Duration::from_micros;
        stats.record_command_timed(Some("set"), None, us(12));
        stats.record_command_timed(Some("set"), None, us(5));
        stats.record_command_timed(Some("get"), None, us(3));
        let reply = histogram(&stats, &args(&["SET", "nosuch", "set"]));
        let expected = Reply::Map(vec![(
            Reply::Bulk("set".into()),
            Reply::Map(vec![
                (Reply::Bulk("calls".into()), Reply::Integer(2)),
                (
                    Reply::Bulk("histogram_usec".into()),
                    Reply::Map(vec![
                        (Reply::Integer(8), Reply::Integer(1)),
                        (Reply::Integer(16), Reply::Integer(2)),
                    ]),
                ),
            ]),
        )]);
        assert_eq!(reply, expected);
        let Reply::Map(all) = histogram(&stats, &[]) else {
            panic!()
        };
        assert_eq!(all.len(), 2);
        assert_eq!(histogram(&stats, &args(&["nosuch"])), Reply::Map(vec![]));
    }

    #[test]
    fn threshold_and_event_classes() {
        let monitor = LatencyMonitor::default();
        let get = super::super::command_table::lookup(b"get").unwrap();
        let keys = super::super::command_table::lookup(b"keys").unwrap();
        let ms = Duration::from_millis;
        monitor.observe(get, ms(50), None);
        monitor.observe(get, ms(5), Some(10));
        assert_eq!(monitor.latest(), Reply::Array(vec![]));
        monitor.observe(get, ms(10), Some(10));
        monitor.observe(keys, ms(30), Some(10));
        let Reply::Array(latest) = monitor.latest() else {
            panic!()
        };
        let events: Vec<_> = latest
            .iter()
            .map(|e| match e {
                Reply::Array(fields) => fields[0].clone(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(
            events,
            [
                Reply::Bulk("command".into()),
                Reply::Bulk("fast-command".into())
            ]
        );
        let stats = ServerStats::default();
        assert_eq!(
            latency_reply(&monitor, &stats, &args(&["latency", "history"]), Some(10)),
            Reply::Error("ERR wrong number of arguments for 'latency|history' command".into())
        );
    }
}
