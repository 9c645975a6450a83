//! A Tandem node in-process: opening the WAL and snapshots, starting openraft, the batcher and
//! the expiry sweeper, and shutting all of it down in order.
//!
//! All per-group state lives inside one `Node` (no globals), so several nodes, or later several
//! Raft groups, can share a process.

mod batcher;
mod db;
mod exactly_once;
pub mod histogram;
mod lanes;
mod lock;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{Config, SnapshotPolicy};
use tokio::task::JoinHandle;

pub use batcher::{wall_clock_ms, BatchLimits, BatchStats};
pub use db::{Db, PendingReply};
pub use exactly_once::SessionStats;
pub use lanes::{
    Class, LaneClassStats, LaneLimits, LaneStats, Lanes, Refused, Taken, UnknownClass,
};
pub use lock::DirLock;

use crate::cluster::{Cluster, ClusterOptions};
use crate::error::{Error, OpenError};
use crate::peer::{PeerConfig, PeerTransport, TcpTransport};
use crate::raft::{
    LogCacheStats, LogStore, NodeId, NodeInfo, PeerNetwork, Raft, SmShared, StateMachine,
    WeakLogStore, LOG_CACHE_BYTES_MAX_DEFAULT,
};
use crate::wal::{Backend, Vfs, Wal, WalOptions, WriterMode};

/// Default: take a snapshot after this many log entries since the last one.
pub const SNAPSHOT_LOGS_SINCE_LAST_DEFAULT: u64 = 100_000;
/// Default: take a snapshot once the log entries since the last one take this many WAL bytes.
pub const SNAPSHOT_LOG_BYTES_SINCE_LAST_DEFAULT: u64 = 256 << 20;
/// Entries kept in the log behind a snapshot (lets a slightly lagging follower catch up by log).
pub const LOGS_KEPT_AFTER_SNAPSHOT: u64 = 1_000;
/// Default interval between sweeps that propose the removal of expired keys.
pub const EXPIRY_SWEEP_INTERVAL_DEFAULT: Duration = Duration::from_millis(100);
/// Most expired keys removed by one sweep entry.
pub const EXPIRY_SWEEP_KEYS_MAX: usize = 1_024;
/// How long the snapshot policy by log bytes waits for a snapshot it asked for before it
/// looks at the log again.
const SNAPSHOT_BY_BYTES_WAIT: Duration = Duration::from_secs(60);
/// How long shutdown waits for openraft's tasks to let go of the log store and state machine.
const ENGINE_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for the writes already queued to be answered. A leader that lost
/// its quorum answers none of them (nothing commits, and openraft does not give up on a
/// proposal); after this the node stops anyway, and those callers get an error whose outcome
/// is unknown, as after a crash.
const WRITES_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open waits for the node to become leader and replay its log.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// When snapshots are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotPolicyOption {
    /// After this many log entries since the last snapshot.
    LogsSinceLast(u64),
    /// Only when asked (`Node::snapshot`).
    Manual,
}

/// Configures and opens a [`Node`].
#[derive(Clone)]
pub struct NodeBuilder {
    data_dir: PathBuf,
    node_id: NodeId,
    zone: String,
    backend: Backend,
    segment_bytes: u64,
    snapshot_policy: SnapshotPolicyOption,
    snapshot_log_bytes_since_last: Option<u64>,
    logs_kept_after_snapshot: u64,
    log_cache_bytes_max: u64,
    expiry_sweep_interval: Duration,
    batch_limits: BatchLimits,
    lane_limits: LaneLimits,
    vfs: Option<Arc<dyn Vfs>>,
    wal_writer: WriterMode,
    /// None: a thread of its own when opened on a multi-thread runtime.
    own_thread: Option<bool>,
    peer_transport: Option<Arc<dyn PeerTransport>>,
    cluster: Option<ClusterOptions>,
    client_addr: String,
    wal_archive_dir: Option<PathBuf>,
}

impl NodeBuilder {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            node_id: 1,
            zone: "local".to_string(),
            backend: Backend::default(),
            segment_bytes: WalOptions::default().segment_bytes,
            snapshot_policy: SnapshotPolicyOption::LogsSinceLast(SNAPSHOT_LOGS_SINCE_LAST_DEFAULT),
            snapshot_log_bytes_since_last: Some(SNAPSHOT_LOG_BYTES_SINCE_LAST_DEFAULT),
            logs_kept_after_snapshot: LOGS_KEPT_AFTER_SNAPSHOT,
            log_cache_bytes_max: LOG_CACHE_BYTES_MAX_DEFAULT,
            expiry_sweep_interval: EXPIRY_SWEEP_INTERVAL_DEFAULT,
            batch_limits: BatchLimits::default(),
            lane_limits: LaneLimits::default(),
            vfs: None,
            wal_writer: WriterMode::Thread,
            own_thread: None,
            peer_transport: None,
            cluster: None,
            client_addr: String::new(),
            wal_archive_dir: None,
        }
    }

    /// This node's id in its group (default 1).
    pub fn node_id(mut self, node_id: NodeId) -> Self {
        self.node_id = node_id;
        self
    }

    /// The client (RESP) address this node reports in its membership entry when it has no
    /// cluster options (a served single node); cluster members use `ClusterOptions::client_addr`.
    pub fn client_addr(mut self, addr: impl Into<String>) -> Self {
        self.client_addr = addr.into();
        self
    }

    /// Makes the node a member of a replicated group (peers, secret, zone rule, timeouts).
    /// Without it the node is a single voter.
    pub fn cluster(mut self, options: ClusterOptions) -> Self {
        self.cluster = Some(options);
        self
    }

    /// The WAL I/O backend (`pwrite`+`fdatasync`, or io_uring with O_DIRECT).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Copy every sealed WAL segment into `dir` (point-in-time restore, docs/operations.md);
    /// `None` (the default) = no archiving.
    pub fn wal_archive_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.wal_archive_dir = dir;
        self
    }

    /// Size of each preallocated WAL segment file.
    pub fn segment_bytes(mut self, segment_bytes: u64) -> Self {
        self.segment_bytes = segment_bytes;
        self
    }

    pub fn snapshot_policy(mut self, policy: SnapshotPolicyOption) -> Self {
        self.snapshot_policy = policy;
        self
    }

    /// Also take a snapshot once the log entries since the last one take this many WAL bytes
    /// (`None`: by entry count only). Ignored under [`SnapshotPolicyOption::Manual`].
    pub fn snapshot_log_bytes_since_last(mut self, bytes: Option<u64>) -> Self {
        self.snapshot_log_bytes_since_last = bytes;
        self
    }

    /// Bound on the estimated memory of the decoded log entries kept in memory; older entries
    /// are read back from the WAL when needed (docs/operations.md, "The log cache").
    pub fn log_cache_bytes_max(mut self, bytes: u64) -> Self {
        self.log_cache_bytes_max = bytes;
        self
    }

    /// Log entries kept behind a snapshot when the WAL prefix is purged.
    pub fn logs_kept_after_snapshot(mut self, entries: u64) -> Self {
        self.logs_kept_after_snapshot = entries;
        self
    }

    pub fn expiry_sweep_interval(mut self, interval: Duration) -> Self {
        self.expiry_sweep_interval = interval;
        self
    }

    pub fn batch_limits(mut self, limits: BatchLimits) -> Self {
        self.batch_limits = limits;
        self
    }

    /// Admission thresholds of the priority lanes and the bulk share of a batch.
    pub fn lane_limits(mut self, limits: LaneLimits) -> Self {
        self.lane_limits = limits;
        self
    }

    /// The zone label of this node (a single embedded node has only one zone).
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = zone.into();
        self
    }

    /// Runs the WAL on a virtual file system (crash and fault-injection tests).
    #[doc(hidden)]
    pub fn wal_vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = Some(vfs);
        self
    }

    /// Where the WAL writes and fsyncs (default [`WriterMode::Thread`], its own thread).
    /// [`WriterMode::Caller`] does it on the task that appends to the log, which blocks its
    /// runtime thread for each fsync (`tandem serve --wal-writer inline`);
    /// [`WriterMode::Inline`] also prepares segments there (the deterministic simulator).
    pub fn wal_writer(mut self, mode: WriterMode) -> Self {
        self.wal_writer = mode;
        self
    }

    /// Whether the node's own tasks (the batcher, consensus, apply, expiry sweeps, and the WAL's
    /// write and fsync under [`WriterMode::Caller`]) run on a thread of their own,
    /// `tandem-node`, rather than on the runtime that calls `open`. By default they do when
    /// `open` is called on a multi-thread runtime: there every hop of a write between the
    /// node's tasks may cross to another worker, while on its own thread they stay together and
    /// a caller's write costs two cross-thread wakes (measured: p50 of one task's durable SET
    /// about a third lower, 64 tasks' throughput higher; docs/benchmarks.md, "Embedded, one
    /// task"). On a current-thread runtime they share its thread. `tandem serve` turns it on
    /// with `critical_listen` only, so that busy connections never hold up the batcher.
    pub fn own_thread(mut self, own: bool) -> Self {
        self.own_thread = Some(own);
        self
    }

    /// Carries peer traffic over `transport` instead of TCP (the deterministic simulator's
    /// in-memory network).
    #[doc(hidden)]
    pub fn peer_transport(mut self, transport: Arc<dyn PeerTransport>) -> Self {
        self.peer_transport = Some(transport);
        self
    }

    /// Opens the node: recovers the newest snapshot and the WAL, replays the log, and returns
    /// once the node accepts writes.
    pub async fn open(mut self) -> Result<Node, OpenError> {
        let own_thread = self.own_thread.unwrap_or_else(|| {
            tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
                runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            })
        });
        if !own_thread {
            return self.open_here().await;
        }
        self.own_thread = Some(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tandem-node")
            .enable_all()
            .build()
            .map_err(|e| OpenError::Config {
                reason: format!("cannot start the node's thread: {e}"),
            })?;
        // Every task the node starts is spawned from here, so it runs on that thread.
        let opening = runtime.spawn(self.open_here());
        // Held so that a failed open (or a panic) stops the runtime without blocking here.
        let runtime = OwnRuntime(Some(runtime));
        let mut node = opening
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        node.own_runtime = Some(runtime);
        Ok(node)
    }

    async fn open_here(self) -> Result<Node, OpenError> {
        let started = Instant::now();
        if self.batch_limits.ops_per_batch_max == 0
            || self.batch_limits.proposals_in_flight_max == 0
            || self.batch_limits.proposals_unflushed_max == 0
            || self.batch_limits.queue_depth_max == 0
        {
            return Err(OpenError::Config {
                reason: "batch limits must be positive".into(),
            });
        }
        if self.batch_limits.proposals_unflushed_max > self.batch_limits.proposals_in_flight_max {
            return Err(OpenError::Config {
                reason: format!(
                    "batch limit proposals_unflushed_max ({}) must not exceed \
                     proposals_in_flight_max ({})",
                    self.batch_limits.proposals_unflushed_max,
                    self.batch_limits.proposals_in_flight_max
                ),
            });
        }
        if let Some(reason) = self
            .lane_limits
            .invalid_reason(self.batch_limits.queue_depth_max)
        {
            return Err(OpenError::Config { reason });
        }
        // One entry must fit in a WAL segment and, replicated, in half a peer frame (an
        // AppendEntries request carries at least one whole entry): smaller segments lower it.
        let entry_room = (self.segment_bytes as usize)
            .saturating_sub(crate::wal::SEGMENT_OVERHEAD_BYTES)
            .min(crate::peer::PeerConfig::FRAME_BYTES_MAX_DEFAULT / 2);
        let entry_bytes_max = self.batch_limits.entry_bytes_max.min(entry_room);
        if entry_bytes_max <= batcher::ENTRY_OVERHEAD_BYTES {
            return Err(OpenError::Config {
                reason: format!(
                    "a log entry may be at most {entry_bytes_max} bytes (batch limit entry_bytes_max {}, WAL segment_bytes {}); it must be above {}",
                    self.batch_limits.entry_bytes_max,
                    self.segment_bytes,
                    batcher::ENTRY_OVERHEAD_BYTES
                ),
            });
        }
        let data_dir = self.data_dir.clone();
        std::fs::create_dir_all(&data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let lock = Arc::new(DirLock::acquire(&data_dir)?);

        let wal_options = WalOptions {
            backend: self.backend,
            segment_bytes: self.segment_bytes,
            vfs: self.vfs.clone(),
            archive_dir: self.wal_archive_dir.clone(),
            writer: self.wal_writer,
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open(&data_dir.join("wal"), wal_options)?;
        if let Some(torn) = &recovery.torn_tail {
            tracing::warn!(
                segment = %torn.segment,
                offset = torn.offset,
                bytes_discarded = torn.bytes_discarded,
                "WAL had a torn tail (a write that never completed); it was truncated"
            );
        }
        let wal_records = recovery.records.len();
        let (mut state_machine, sm) = StateMachine::open(&data_dir.join("snapshots"))?;
        state_machine.hold(lock.clone());
        let snapshot_index = sm.snapshot_index.load(Ordering::Relaxed);
        // Entries the snapshot covers are checked but not kept decoded.
        let log_store = LogStore::from_recovery_applied(
            Arc::new(wal),
            recovery,
            self.log_cache_bytes_max,
            snapshot_index,
        )?;
        log_store.hold(lock.clone());

        if self.node_id == 0 {
            return Err(OpenError::Config {
                reason: "node ids start at 1".into(),
            });
        }
        if let Some(options) = &self.cluster {
            options
                .validate(self.node_id)
                .map_err(|reason| OpenError::Config { reason })?;
        }
        let ms = |d: Duration| d.as_millis() as u64;
        let (heartbeat, election_min, election_max) = match &self.cluster {
            Some(o) => (
                ms(o.heartbeat_interval),
                ms(o.election_timeout_min),
                ms(o.election_timeout_max),
            ),
            None => (50, 150, 300),
        };
        let config = Config {
            cluster_name: "tandem".into(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election_min,
            election_timeout_max: election_max,
            snapshot_policy: match self.snapshot_policy {
                SnapshotPolicyOption::LogsSinceLast(n) => SnapshotPolicy::LogsSinceLast(n),
                SnapshotPolicyOption::Manual => SnapshotPolicy::Never,
            },
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            ..Config::default()
        }
        .validate()
        .map_err(|e| OpenError::Config {
            reason: e.to_string(),
        })?;
        let last_log_index = {
            let mut probe = log_store.clone();
            use openraft::storage::RaftLogStorage;
            probe
                .get_log_state()
                .await
                .map_err(|e| OpenError::Raft {
                    reason: e.to_string(),
                })?
                .last_log_id
                .map(|id| id.index)
        };
        let info = NodeInfo {
            zone: self.zone.clone(),
            peer_addr: self
                .cluster
                .as_ref()
                .map_or(String::new(), |o| o.peer_listen.clone()),
            client_addr: self
                .cluster
                .as_ref()
                .map_or(self.client_addr.clone(), |o| o.client_addr.clone()),
        };
        let network = match &self.cluster {
            Some(o) => PeerNetwork::with_transport(
                Arc::new(
                    PeerConfig::new(
                        self.node_id,
                        o.cluster_name.clone(),
                        o.cluster_secret.clone(),
                    )
                    .with_tls(o.peer_tls.clone()),
                ),
                self.peer_transport.clone(),
            ),
            None => PeerNetwork::default(),
        };
        let raft = Raft::new(
            self.node_id,
            Arc::new(config),
            network.clone(),
            log_store.clone(),
            state_machine,
        )
        .await
        .map_err(|e| OpenError::Raft {
            reason: e.to_string(),
        })?;
        let raft_error = |e: &dyn std::fmt::Display| OpenError::Raft {
            reason: e.to_string(),
        };
        let cluster = Cluster::new(
            self.node_id,
            info.clone(),
            raft.clone(),
            sm.clone(),
            log_store.downgrade(),
            network,
            self.cluster.clone(),
            data_dir.clone(),
        );
        let peer_server = match &self.cluster {
            Some(options) => {
                let transport: Arc<dyn PeerTransport> = match &self.peer_transport {
                    Some(transport) => transport.clone(),
                    None => Arc::new(TcpTransport),
                };
                let server = transport
                    .bind(
                        &options.peer_listen,
                        Arc::new(
                            PeerConfig::new(
                                self.node_id,
                                options.cluster_name.clone(),
                                options.cluster_secret.clone(),
                            )
                            .with_tls(options.peer_tls.clone()),
                        ),
                        Arc::new(crate::cluster::PeerService {
                            cluster: cluster.clone(),
                        }),
                    )
                    .await
                    .map_err(|e| OpenError::Config {
                        reason: format!("cannot listen on {} (peers): {e}", options.peer_listen),
                    })?;
                tracing::info!(peer_listen = %server.local_addr(), zone = %self.zone, "peer transport listening");
                Some(server)
            }
            None => None,
        };
        let mut formation = None;
        if self.cluster.is_some() {
            // Formation, catching up and elections happen in the background; writes and reads
            // wait (bounded) for a leader.
            formation = Some(tokio::spawn(cluster.clone().form()));
        } else if !raft.is_initialized().await.map_err(|e| raft_error(&e))? {
            let mut members = BTreeMap::new();
            members.insert(self.node_id, info.clone());
            raft.initialize(members).await.map_err(|e| raft_error(&e))?;
        }
        if self.cluster.is_none() {
            raft.wait(Some(OPEN_TIMEOUT))
                .current_leader(self.node_id, "node open: become leader")
                .await
                .map_err(|e| raft_error(&e))?;
        }
        if let (Some(index), None) = (last_log_index, &self.cluster) {
            raft.wait(Some(OPEN_TIMEOUT))
                .applied_index_at_least(Some(index), "node open: replay log")
                .await
                .map_err(|e| raft_error(&e))?;
        }

        let lanes = Arc::new(Lanes::new(
            self.batch_limits.queue_depth_max,
            self.lane_limits,
        ));
        let batch_limits = BatchLimits {
            entry_bytes_max,
            ..self.batch_limits
        };
        let lane_stats = lanes.stats();
        let batch_stats = Arc::new(BatchStats::default());
        let batcher = tokio::spawn(batcher::run(
            cluster.clone(),
            lanes.clone(),
            batch_limits,
            batch_stats.clone(),
        ));
        let db = Db::new(lanes, sm.clone(), cluster.clone(), entry_bytes_max);
        let mut cluster_tasks = cluster.start(db.clone());
        cluster_tasks.push(tokio::spawn(release_log_cache(
            raft.clone(),
            log_store.downgrade(),
        )));
        // Formation retries until it succeeds; a node dropped meanwhile must stop it.
        cluster_tasks.extend(formation);
        let sweeper = tokio::spawn(sweep_expired(
            db.clone(),
            cluster.clone(),
            self.expiry_sweep_interval,
        ));
        let snapshotter = match (self.snapshot_policy, self.snapshot_log_bytes_since_last) {
            (SnapshotPolicyOption::LogsSinceLast(_), Some(bytes)) if bytes > 0 => {
                Some(tokio::spawn(snapshot_by_log_bytes(
                    raft.clone(),
                    log_store.clone(),
                    sm.clone(),
                    bytes,
                )))
            }
            _ => None,
        };

        let recovered = RecoveryReport {
            snapshot_index,
            wal_records,
            keys: sm.keyspace.read().expect("keyspace lock").len(),
            elapsed: started.elapsed(),
        };
        tracing::info!(
            data_dir = %data_dir.display(),
            snapshot_index,
            wal_records,
            keys = recovered.keys,
            elapsed_ms = recovered.elapsed.as_millis() as u64,
            "node open"
        );
        // What the open decoded and dropped would otherwise stay resident for a while.
        crate::allocator::release_unused_pages();
        Ok(Node {
            db,
            raft,
            cluster,
            peer_server,
            cluster_tasks,
            log_store,
            sm,
            batcher: Some(batcher),
            sweeper,
            snapshotter,
            batch_stats,
            lane_stats,
            recovered,
            data_dir,
            _lock: lock,
            own_runtime: None,
        })
    }
}

/// What `open` found on disk.
#[derive(Clone, Debug)]
pub struct RecoveryReport {
    /// Last log index covered by the snapshot loaded (0 = none).
    pub snapshot_index: u64,
    /// WAL records read (including ones below the purge point).
    pub wal_records: usize,
    /// Keys in the keyspace after replay.
    pub keys: usize,
    /// Time from `open` to ready.
    pub elapsed: Duration,
}

/// Log positions and counters of a node (names as in docs/log-positions.md).
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub purged: u64,
    pub snapshot: u64,
    pub applied: u64,
    pub committed: u64,
    pub flushed: u64,
    pub written: u64,
    pub accepted: u64,
    pub keys: usize,
    pub term: u64,
    pub proposals: u64,
    pub ops: u64,
    /// Proposals made while an earlier one was still unanswered.
    pub proposals_overlapped: u64,
    pub wal: crate::wal::WalStats,
    /// The decoded log entries kept in memory, and reads of evicted ones from the WAL.
    pub log_cache: LogCacheStats,
}

/// A running node. Dropping it without `shutdown` stops it abruptly (like a crash).
pub struct Node {
    db: Db,
    raft: Raft,
    cluster: Arc<Cluster>,
    peer_server: Option<crate::peer::PeerServer>,
    cluster_tasks: Vec<JoinHandle<()>>,
    log_store: LogStore,
    sm: Arc<SmShared>,
    batcher: Option<JoinHandle<()>>,
    sweeper: JoinHandle<()>,
    /// Takes snapshots by log bytes (None when that policy is off).
    snapshotter: Option<JoinHandle<()>>,
    batch_stats: Arc<BatchStats>,
    lane_stats: Arc<LaneStats>,
    recovered: RecoveryReport,
    data_dir: PathBuf,
    _lock: Arc<DirLock>,
    /// The node's own thread ([`NodeBuilder::own_thread`]); last, so it stops after the rest.
    own_runtime: Option<OwnRuntime>,
}

/// The runtime of a node opened with [`NodeBuilder::own_thread`].
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    /// Without waiting: the node may be dropped inside a runtime, where blocking is not allowed.
    /// After `shutdown` nothing is left running on it; after a plain drop its tasks are
    /// dropped as they would be in a crash.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl Node {
    /// Starts configuring a node whose files live in `data_dir`.
    pub fn builder(data_dir: impl Into<PathBuf>) -> NodeBuilder {
        NodeBuilder::new(data_dir)
    }

    /// Copies the active WAL segment to the WAL archive now (every entry appended so far);
    /// returns once the copy is durable. Fails if `wal_archive_dir` is not set.
    pub async fn archive_wal(&self) -> Result<(), crate::wal::WalError> {
        self.log_store.wal().archive_active().await
    }

    /// A handle for reads and writes; cheap to clone, usable from many tasks.
    pub fn db(&self) -> Db {
        self.db.clone()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What open recovered.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovered
    }

    /// The openraft handle (metrics, membership; used by the server and tests).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// This node's place in its group: leader, members, routing, reports.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// The address the peer transport listens on (None on a single voter).
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.peer_server.as_ref().map(|s| s.local_addr())
    }

    /// Waits until this node knows a leader (itself or another), up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, Error> {
        self.cluster
            .wait_for_leader(tokio::time::Instant::now() + timeout, None)
            .await
    }

    /// Per-class queue depth, wait times and shed counts of the priority lanes.
    pub fn lane_stats(&self) -> Arc<LaneStats> {
        self.lane_stats.clone()
    }

    /// Log positions and counters.
    pub fn status(&self) -> NodeStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let positions = self.log_store.wal().positions();
        let applied = self.sm.applied().log_id.map_or(0, |id| id.index);
        let status = NodeStatus {
            purged: self.log_store.meta().last_purged.map_or(0, |id| id.index),
            snapshot: self.sm.snapshot_index.load(Ordering::Relaxed),
            applied,
            committed: quorum_matched(&metrics).unwrap_or(0).max(applied),
            flushed: positions.flushed,
            written: positions.written,
            accepted: positions.accepted,
            keys: self.sm.keyspace.read().expect("keyspace lock").len(),
            term: metrics.current_term,
            proposals: self.batch_stats.proposals.load(Ordering::Relaxed),
            ops: self.batch_stats.ops.load(Ordering::Relaxed),
            proposals_overlapped: self.batch_stats.overlapped.load(Ordering::Relaxed),
            wal: self.log_store.wal().stats(),
            log_cache: self.log_store.cache_stats(),
        };
        debug_assert!(status.purged <= status.snapshot.max(status.purged));
        debug_assert!(status.flushed <= status.written && status.written <= status.accepted);
        status
    }

    /// Builds a snapshot now and waits for it (the WAL prefix it covers is purged afterwards).
    pub async fn snapshot(&self) -> Result<(), Error> {
        let before = self.sm.snapshots_built.load(Ordering::Relaxed);
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| Error::Fatal {
                reason: e.to_string(),
            })?;
        let applied = self.sm.applied().log_id.map_or(0, |id| id.index);
        let deadline = Instant::now() + OPEN_TIMEOUT;
        loop {
            let done = self.sm.snapshots_built.load(Ordering::Relaxed) > before
                && self.sm.snapshot_index.load(Ordering::Relaxed) >= applied;
            if done {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Fatal {
                    reason: "snapshot did not complete in time".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting writes, answers every write already queued (waiting at most
    /// [`WRITES_DRAIN_TIMEOUT`] for them), stops consensus and closes the WAL with a final fsync.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.sweeper.abort();
        if let Some(snapshotter) = self.snapshotter.take() {
            // It holds a clone of the log store (and so the WAL): gone before the WAL closes.
            snapshotter.abort();
            let _ = snapshotter.await;
        }
        let batcher = self.batcher.take();
        self.db.close();
        if let Some(mut batcher) = batcher {
            if tokio::time::timeout(WRITES_DRAIN_TIMEOUT, &mut batcher)
                .await
                .is_err()
            {
                tracing::warn!(
                    timeout_ms = WRITES_DRAIN_TIMEOUT.as_millis() as u64,
                    "stopping with writes still unanswered (no quorum?): their outcome is unknown to their callers"
                );
                batcher.abort();
                let _ = batcher.await;
            }
        }
        let flush = self.log_store.wal().flush().await;
        if let Some(server) = &self.peer_server {
            server.shutdown();
        }
        let stopped = self.raft.shutdown().await;
        self.stop_cluster_tasks();
        self.wait_for_engine_release().await;
        stopped.map_err(|e| Error::Fatal {
            reason: format!("consensus engine did not stop cleanly: {e}"),
        })?;
        flush.map_err(|e| Error::Fatal {
            reason: e.to_string(),
        })
    }

    /// Waits until openraft has dropped its state machine and log store clones, so that when
    /// `shutdown` returns (and this node drops its own references: the WAL writer is joined,
    /// then the lock released) the data directory can be reopened at once.
    async fn wait_for_engine_release(&self) {
        // Ours: `_lock` itself and the one held by `self.log_store`'s shared state.
        const OWN_REFERENCES: usize = 2;
        let deadline = Instant::now() + ENGINE_RELEASE_TIMEOUT;
        while Arc::strong_count(&self._lock) > OWN_REFERENCES {
            if Instant::now() > deadline {
                tracing::warn!("consensus engine still holds the data directory after shutdown");
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Node {
    fn stop_cluster_tasks(&mut self) {
        for task in self.cluster_tasks.drain(..) {
            task.abort();
        }
        self.cluster.detach_db();
    }
}

impl Drop for Node {
    /// Without `shutdown`: stop taking writes and stop the engine in the background. The data
    /// directory stays locked until the engine (which owns the WAL) has really stopped.
    fn drop(&mut self) {
        self.sweeper.abort();
        if let Some(snapshotter) = &self.snapshotter {
            snapshotter.abort();
        }
        if let Some(server) = &self.peer_server {
            server.shutdown();
        }
        self.stop_cluster_tasks();
        if let Some(batcher) = self.batcher.take() {
            batcher.abort();
            self.db.close();
            let raft = self.raft.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = raft.shutdown().await;
                });
            }
        }
    }
}

/// The highest index a majority of the leader's replication targets (itself included) has
/// flushed: the commit index as far as metrics can tell (None on a follower).
fn quorum_matched(metrics: &openraft::RaftMetrics<NodeId, NodeInfo>) -> Option<u64> {
    let replication = metrics.replication.as_ref()?;
    let mut matched: Vec<u64> = replication
        .values()
        .map(|m| m.map_or(0, |id| id.index))
        .collect();
    if matched.is_empty() {
        return None;
    }
    matched.sort_unstable_by(|a, b| b.cmp(a));
    Some(matched[matched.len() / 2])
}

/// The index through which no one needs the log's decoded entries any more: applied here and,
/// on a leader, matched by every replication target (a target not matched yet holds it at 0).
fn log_released_through(metrics: &openraft::metrics::RaftDataMetrics<NodeId>) -> u64 {
    let applied = metrics.last_applied.map_or(0, |id| id.index);
    let matched = metrics.replication.as_ref().map_or(applied, |replication| {
        replication
            .values()
            .map(|m| m.map_or(0, |id| id.index))
            .min()
            .unwrap_or(applied)
    });
    applied.min(matched)
}

/// Releases the log cache's entries as they stop being needed (see `log_released_through`),
/// so the cache holds only the unapplied or unreplicated tail, not the newest 64 MiB.
async fn release_log_cache(raft: Raft, log_store: WeakLogStore) {
    let mut metrics = raft.data_metrics();
    loop {
        let through = log_released_through(&metrics.borrow_and_update());
        match log_store.upgrade() {
            Some(store) => store.release_through(through),
            None => return,
        }
        if metrics.changed().await.is_err() {
            return; // the engine stopped
        }
    }
}

/// Takes a snapshot whenever the log entries after the last snapshot take `bytes_since_last`
/// of WAL, besides openraft's policy by entry count (large entries fill the disk, and the
/// time to replay them at a restart, long before 100k of them are written).
async fn snapshot_by_log_bytes(
    raft: Raft,
    log_store: LogStore,
    sm: Arc<SmShared>,
    bytes_since_last: u64,
) {
    let mut metrics = raft.metrics();
    loop {
        let snapshot = sm.snapshot_index.load(Ordering::Relaxed);
        let applied = sm.applied().log_id.map_or(0, |id| id.index);
        let due = log_store.log_bytes_after(snapshot) >= bytes_since_last;
        if due && applied > snapshot {
            if raft.trigger().snapshot().await.is_err() {
                return; // the engine stopped
            }
            // Look again once this snapshot is taken (or, if building it failed, a while later).
            let taken = metrics.wait_for(|m| m.snapshot.is_some_and(|s| s.index > snapshot));
            match tokio::time::timeout(SNAPSHOT_BY_BYTES_WAIT, taken).await {
                Ok(Err(_)) => return, // the engine stopped
                Ok(Ok(_)) | Err(_) => continue,
            }
        }
        if due {
            // Nothing applied beyond the snapshot yet (a node catching up): wait for apply.
            if metrics.changed().await.is_err() {
                return;
            }
            continue;
        }
        log_store.notify_when_log_bytes_after(snapshot, bytes_since_last);
        log_store.log_bytes_due().await;
    }
}

/// Periodically proposes the removal of keys whose TTL has passed (on the leader only).
///
/// Expiry is decided by the time in the log entry, so every replica removes the same keys.
async fn sweep_expired(db: Db, cluster: Arc<Cluster>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !cluster.is_leader() {
            continue;
        }
        let keys = db.expired_keys(EXPIRY_SWEEP_KEYS_MAX);
        if keys.is_empty() {
            continue;
        }
        if let Err(e) = db.purge_expired(keys).await {
            if matches!(e, Error::ShuttingDown) || e.is_fatal() {
                return;
            }
            if matches!(e, Error::Busy { .. }) {
                continue; // overloaded: the keys stay expired for reads; the next sweep retries
            }
            tracing::warn!(error = %e, "expiry sweep failed");
        }
    }
}
