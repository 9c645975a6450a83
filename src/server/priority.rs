//! Priority on the server side: which lane a connection's writes take, and where critical
//! connections run.
//!
//! A connection's class comes from the listener that accepted it (`critical_listen` gives
//! `critical`, `listen` gives `normal`) and can be changed with `CLIENT PRIORITY`. Connections
//! accepted on `critical_listen` are served by their own tokio runtime on their own OS
//! thread(s), so parsing, reads and replies for them never queue behind the shared runtime.
//! ACL users carry no priority class: the class follows the listener and `CLIENT PRIORITY`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::metrics::{HistogramSnapshot, LATENCY_BUCKET_BOUNDS_NS};
use super::Shared;
use crate::command::Reply;
use crate::node::{BatchLimits, Class, Db, LaneLimits, LaneStats};

/// Default OS threads of the critical runtime.
pub const CRITICAL_THREADS_DEFAULT: usize = 1;
/// How long shutdown waits for the critical runtime to finish its connections and stop.
const CRITICAL_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The `[lanes]` table: admission thresholds (writes queued in all lanes together) and the bulk
/// share of a batch. Invariant after validation: bulk < normal < critical thresholds.
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LaneConfig {
    /// Critical writes are refused only at this many queued writes (the node is not draining).
    pub queue_depth_max: usize,
    /// Normal writes are refused with BUSY at this many queued writes.
    pub normal_depth_max: usize,
    /// Bulk writes are refused with BUSY at this many queued writes.
    pub bulk_depth_max: usize,
    /// Most bulk writes in one log entry.
    pub bulk_ops_per_batch_max: usize,
}

impl Default for LaneConfig {
    fn default() -> Self {
        let lanes = LaneLimits::default();
        Self {
            queue_depth_max: BatchLimits::default().queue_depth_max,
            normal_depth_max: lanes.normal_depth_max,
            bulk_depth_max: lanes.bulk_depth_max,
            bulk_ops_per_batch_max: lanes.bulk_ops_per_batch_max,
        }
    }
}

impl LaneConfig {
    pub fn lane_limits(&self) -> LaneLimits {
        LaneLimits {
            bulk_depth_max: self.bulk_depth_max,
            normal_depth_max: self.normal_depth_max,
            bulk_ops_per_batch_max: self.bulk_ops_per_batch_max,
        }
    }

    pub fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            queue_depth_max: self.queue_depth_max,
            ..BatchLimits::default()
        }
    }

    /// Why the node could not use these settings (None if it can).
    pub fn invalid_reason(&self) -> Option<String> {
        if self.queue_depth_max == 0 {
            return Some("lanes.queue_depth_max must be positive".into());
        }
        self.lane_limits()
            .invalid_reason(self.queue_depth_max)
            .map(|reason| format!("lanes: {reason}"))
    }
}

/// The node handle for a connection of `class`.
pub(crate) fn db_for(shared: &Shared, class: Class) -> Db {
    shared.db.with_class(class)
}

impl Connection {
    /// This connection's class (its lane and its latency series).
    pub(crate) fn class(&self) -> Class {
        self.client.class()
    }

    /// The node handle whose writes go to this connection's lane.
    pub(crate) fn db(&self) -> Db {
        db_for(&self.shared, self.class())
    }

    /// CLIENT PRIORITY [critical|normal|bulk]: without an argument, the current class.
    pub(crate) async fn client_priority(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("client");
        match args {
            [] => {
                let class = Bytes::from_static(self.class().as_str().as_bytes());
                self.reply(name, Reply::Bulk(class)).await
            }
            [class] => {
                let parsed = std::str::from_utf8(class)
                    .ok()
                    .and_then(|c| c.parse::<Class>().ok());
                let Some(class) = parsed else {
                    return self
                        .error(name, "ERR CLIENT PRIORITY expects critical, normal or bulk")
                        .await;
                };
                // Writes already queued in the old lane must apply before any in the new one,
                // or this connection's writes could overtake each other.
                if class != self.class() && !self.wait_for_own_writes().await {
                    return Flow::Close;
                }
                self.client.set_class(class);
                self.reply(name, Reply::Ok).await
            }
            _ => self.error(name, wrong_arity("client|priority")).await,
        }
    }
}

/// The runtime serving `critical_listen`, on its own OS thread(s).
pub(crate) struct CriticalRuntime {
    done: oneshot::Receiver<()>,
}

impl CriticalRuntime {
    /// Starts `threads` OS threads (one: a current-thread runtime) that accept on `listener`
    /// and serve each connection as `critical` until `stop` turns true.
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        listener: std::net::TcpListener,
        threads: usize,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<CriticalRuntime> {
        let runtime = if threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("tandem-critical")
                .enable_all()
                .build()?
        };
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("tandem-critical".into())
            .spawn(move || {
                runtime.block_on(serve_critical(shared, listener, stop));
                // Every connection task (and its hold on the server state) is gone after this.
                drop(runtime);
                let _ = done_tx.send(());
            })?;
        Ok(CriticalRuntime { done })
    }

    /// Waits until the critical runtime has drained its connections and stopped.
    pub(crate) async fn stopped(self) {
        if tokio::time::timeout(CRITICAL_STOP_TIMEOUT, self.done)
            .await
            .is_err()
        {
            tracing::warn!("critical runtime did not stop in time");
        }
    }
}

async fn serve_critical(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    stop: watch::Receiver<bool>,
) {
    let mut stopping = stop.clone();
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
    {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "critical listener unusable; critical_listen is not served");
            return;
        }
    };
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stopping| *stopping) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    super::accept(&shared, stream, addr, &stop, &mut connections, Class::Critical, None);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed (critical listener)");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(super::SHUTDOWN_DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

/// Nice value the shared connection runtime's thread takes while critical threads run beside
/// it: under CPU saturation the kernel then runs the critical and node threads first. Raising a
/// thread's nice value needs no privilege; lowering it back would, so it is done only after the
/// critical and node threads (which would inherit it) exist.
pub const SHARED_RUNTIME_NICE: i32 = 10;

/// Lowers the CPU priority of the calling thread, if it is the whole shared runtime (a
/// current-thread runtime). A multi-thread shared runtime keeps its priority.
pub(crate) fn deprioritize_shared_runtime() {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    if flavor != tokio::runtime::RuntimeFlavor::CurrentThread {
        return;
    }
    // SAFETY: setpriority on this thread's own id; no memory is passed.
    let rc = unsafe {
        libc::setpriority(
            libc::PRIO_PROCESS,
            libc::gettid() as libc::id_t,
            SHARED_RUNTIME_NICE,
        )
    };
    if rc != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot lower the shared runtime's priority");
    }
}

/// Binds `critical_listen` (with the client listener's backlog) as a std listener, so that the
/// critical runtime, not the shared one, registers it.
pub(crate) async fn bind_critical(addr: &str) -> std::io::Result<std::net::TcpListener> {
    let listener = super::bind_with_backlog(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr} (critical): {e}"))
    })?;
    listener.into_std()
}

/// Upper bound of the bucket holding quantile `q` of `snapshot`, in nanoseconds (None: empty;
/// `u64::MAX`: above the last bound).
pub fn quantile_bound_ns(snapshot: &HistogramSnapshot, q: f64) -> Option<u64> {
    let count = snapshot.count();
    if count == 0 {
        return None;
    }
    let rank = ((count as f64 * q).ceil() as u64).clamp(1, count);
    let mut seen = 0;
    for (i, n) in snapshot.counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(LATENCY_BUCKET_BOUNDS_NS.get(i).copied().unwrap_or(u64::MAX));
        }
    }
    Some(u64::MAX)
}

/// The `# Lanes` section of INFO.
pub(crate) fn info_section(out: &mut String, shared: &Shared) {
    out.push_str("# Lanes\r\n");
    let critical_listen = shared
        .critical_addr
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = write!(out, "critical_listen:{critical_listen}\r\n");
    let _ = write!(
        out,
        "critical_threads:{}\r\n",
        if shared.critical_addr.is_some() {
            shared.config.critical_threads
        } else {
            0
        }
    );
    let stats: Arc<LaneStats> = shared.node.lane_stats();
    let _ = write!(
        out,
        "lanes_bulk_ops_per_batch_max:{}\r\n",
        stats.bulk_ops_per_batch_max.load(Ordering::Relaxed)
    );
    let clients = shared.clients.list();
    for class in Class::ALL {
        let lane = stats.class(class);
        let wait = lane.wait.snapshot();
        let us = |ns: Option<u64>| ns.map_or(0, |ns| ns / 1_000);
        let _ = write!(
            out,
            "lane_{class}:clients={},depth={},depth_max={},admitted={},shed={},\
             wait_count={},wait_us_avg={},wait_us_p50_le={},wait_us_p99_le={}",
            clients.iter().filter(|c| c.class() == class).count(),
            lane.depth.load(Ordering::Relaxed),
            stats.threshold(class),
            lane.admitted.load(Ordering::Relaxed),
            lane.shed.load(Ordering::Relaxed),
            wait.count(),
            wait.sum_ns / wait.count().max(1) / 1_000,
            us(quantile_bound_ns(&wait, 0.5)),
            us(quantile_bound_ns(&wait, 0.99)),
        );
        for (stage, histogram) in [("flush", &lane.flush), ("answer", &lane.answer)] {
            let snapshot = histogram.snapshot();
            let _ = write!(
                out,
                ",{stage}_count={},{stage}_us_p50_le={},{stage}_us_p99_le={}",
                snapshot.count(),
                us(quantile_bound_ns(&snapshot, 0.5)),
                us(quantile_bound_ns(&snapshot, 0.99)),
            );
        }
        out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::metrics::LatencyHistogram;

    #[test]
    fn quantile_bound_is_the_upper_bound_of_its_bucket() {
        let histogram = LatencyHistogram::default();
        assert_eq!(quantile_bound_ns(&histogram.snapshot(), 0.99), None);
        for _ in 0..98 {
            histogram.observe(Duration::from_micros(3)); // le 5 µs
        }
        histogram.observe(Duration::from_millis(2)); // le 2.5 ms
        histogram.observe(Duration::from_secs(60)); // above every bound
        let snapshot = histogram.snapshot();
        assert_eq!(quantile_bound_ns(&snapshot, 0.5), Some(5_000));
        assert_eq!(quantile_bound_ns(&snapshot, 0.98), Some(5_000));
        assert_eq!(quantile_bound_ns(&snapshot, 0.99), Some(2_500_000));
        assert_eq!(quantile_bound_ns(&snapshot, 1.0), Some(u64::MAX));
    }

    #[test]
    fn default_lane_config_is_valid_and_misordered_thresholds_are_not() {
        assert_eq!(LaneConfig::default().invalid_reason(), None);
        let config = LaneConfig {
            bulk_depth_max: 40_000,
            ..LaneConfig::default()
        };
        assert!(config.invalid_reason().unwrap().contains("bulk_depth_max"));
    }
}
