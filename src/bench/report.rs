//! `RunReport`: the result of one run (one target, or one cluster with --follow-leader), the
//! summary table printed at the end, the JSON written with `--json`, and the live progress
//! line. Latencies are of successful operations only; failed ones are in `errors`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::stats::Latency;
use super::worker::Shared;

/// Version of the JSON layout; bumped when a field changes meaning.
pub const JSON_VERSION: u32 = 1;

/// One run's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// `host:port`, or the targets joined by `,` with --follow-leader.
    pub target: String,
    pub workload: String,
    /// `closed` or `open`.
    pub mode: String,
    pub clients: usize,
    pub pipeline: usize,
    pub rate_ops_per_s: Option<f64>,
    pub warmup_s: f64,
    /// The measured window: from the end of the warmup to the last measured operation (or the
    /// end of --duration, whichever is later).
    pub elapsed_s: f64,
    /// Successful measured operations.
    pub ops: u64,
    /// Failed measured operations, by kind.
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub throughput_ops_per_s: f64,
    pub latency_us: Latency,
    /// With --follow-leader: the longest time without a successful operation.
    pub longest_gap_ms: Option<f64>,
    pub reconnects: u64,
}

/// The `--json` file.
#[derive(Debug, Serialize, Deserialize)]
pub struct JsonReport {
    pub version: u32,
    pub runs: Vec<RunReport>,
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// The summary table: one row per run, errors and gaps listed under it.
pub fn summary(runs: &[RunReport]) -> String {
    let mut out = String::new();
    let target_width = runs
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let workload_width = runs
        .iter()
        .map(|r| r.workload.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(
        out,
        "{:<target_width$}  {:<workload_width$} {:>7} {:>5} {:>10} {:>8} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "target", "workload", "clients", "pipe", "ops", "errors", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for run in runs {
        let l = &run.latency_us;
        let _ = writeln!(
            out,
            "{:<target_width$}  {:<workload_width$} {:>7} {:>5} {:>10} {:>8} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>9}",
            run.target,
            run.workload,
            run.clients,
            run.pipeline,
            run.ops,
            run.errors_total,
            run.throughput_ops_per_s,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
        );
        if !run.errors.is_empty() {
            let kinds: Vec<String> = run.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(out, "  errors: {}", kinds.join(", "));
        }
        if let Some(rate) = run.rate_ops_per_s {
            let _ = writeln!(
                out,
                "  open loop at {rate:.0} ops/s: latency counts from each operation's intended send time"
            );
        }
        if let Some(gap) = run.longest_gap_ms {
            let _ = writeln!(
                out,
                "  longest time without a successful operation: {gap:.1} ms ({} reconnects)",
                run.reconnects
            );
        }
    }
    out
}

/// Prints `label  elapsed  ops  ops/s  errors` on stderr once a second, rewriting the line, while
/// the returned guard lives; silent when stderr is not a terminal.
pub struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(label: String, shared: Arc<Shared>, measure_from: Instant) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            ticks.tick().await;
            let mut ops_before = 0;
            loop {
                ticks.tick().await;
                let ops = shared.ops.load(Ordering::Relaxed);
                let errors = shared.errors.load(Ordering::Relaxed);
                let phase = if Instant::now() < measure_from {
                    " (warmup)"
                } else {
                    ""
                };
                eprint!(
                    "\r\x1b[K{label}  {:.0} s{phase}  {ops} ops  {} ops/s  {errors} errors",
                    started.elapsed().as_secs_f64(),
                    ops - ops_before,
                );
                ops_before = ops;
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            eprint!("\r\x1b[K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_errors_and_gaps() {
        let run = RunReport {
            target: "127.0.0.1:7379".into(),
            workload: "incr".into(),
            mode: "closed".into(),
            clients: 2,
            pipeline: 1,
            rate_ops_per_s: None,
            warmup_s: 0.0,
            elapsed_s: 1.0,
            ops: 10,
            errors: BTreeMap::from([("ERR".to_string(), 3), ("io".to_string(), 1)]),
            errors_total: 4,
            throughput_ops_per_s: 10.0,
            latency_us: Latency {
                p50: 1500,
                ..Latency::default()
            },
            longest_gap_ms: Some(812.5),
            reconnects: 2,
        };
        let text = summary(&[run]);
        assert!(text.contains("1.500"), "{text}");
        assert!(text.contains("errors: ERR 3, io 1"), "{text}");
        assert!(text.contains("812.5 ms (2 reconnects)"), "{text}");
    }
}
