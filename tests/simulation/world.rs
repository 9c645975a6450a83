//! One simulated run: three (or five) complete Tandem nodes (openraft, state machine, WAL on a
//! [`SimDisk`]) in this process, on a current-thread tokio runtime with paused time, talking
//! over a [`SimNet`]. Clients write and read registers (and run the workloads of
//! [`super::workload`]) through the nodes' `Db` handles while a nemesis crashes, restarts and
//! wipes nodes, fails disks, partitions the network, moves leadership and membership and
//! makes clocks jump. Every choice comes from the
//! run's seed, so the same seed gives the same history.
//!
//! Afterwards the run is checked: the history per key with the linearizability checker, no
//! acknowledged write lost, equal digests on every node once healed, no vote going back.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tandem::cluster::{Cluster, ClusterOptions, PeerAddr};
use tandem::node::Node;
use tandem::wal::vfs::FaultKind;
use tandem::wal::WriterMode;
use tandem::{Db, Error, OpenError, SnapshotPolicyOption};
use tokio::sync::watch;
use tokio::time::Instant;

use super::disk::{Honesty, SimDisk};
use super::net::{NetStats, SimNet, Weather};
use super::workload::{self, Histories, Kind, SimClocks};
use crate::common::linearizability::{check, Operation, Register, RegisterOp, Verdict};
use tandem::cluster::rpc::AdminRequest;

const SECRET: &str = "simulation-secret-0123456789abcdef";
/// A client gives up on one call after this (virtual) time: its outcome is then unknown.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the healed cluster may take to accept a write and converge.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Virtual time between checks while waiting for convergence.
const POLL: Duration = Duration::from_millis(20);
/// WAL segments: small, so runs roll over segments often.
const SEGMENT_BYTES: u64 = 256 << 10;
/// Budget of the linearizability search per key (real time).
const CHECK_BUDGET: Duration = Duration::from_secs(20);

/// What one run does.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: u64,
    pub clients: usize,
    pub keys: usize,
    /// Virtual time during which clients call and the nemesis injects faults.
    pub workload: Duration,
    pub faults: bool,
    /// Faults from the start, while the group forms (otherwise only once it has formed).
    pub early_faults: bool,
    /// The whole fault mix: besides power losses (never torn) and partitions, torn power
    /// losses, `kill -9` and failing disks. Off, the nemesis draws exactly the schedule it drew
    /// before disk faults existed (so seeds found then replay).
    pub disk_faults: bool,
    pub honesty: Honesty,
    /// Clients of the counter, bank and TTL workloads (docs/reliability.md).
    pub counter_clients: usize,
    pub bank_clients: usize,
    pub ttl_clients: usize,
    /// Each node's clock is offset from the others (the bound is drawn per run, up to 5 s),
    /// and clock jumps are among the faults.
    pub clock_skew: bool,
    /// Leader transfers, a follower removed, wiped and added back, and wiped disks among the
    /// faults.
    pub membership_faults: bool,
    /// The injected client bug of the counter workload (see `workload::Kind::Counter`).
    pub resend_increments: bool,
    /// A scripted fault instead of the nemesis's random ones.
    pub scenario: Option<Scenario>,
}

/// A fault sequence the nemesis would draw too rarely to test, played by script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// A double fault. One node falls behind (cut off while the others take writes). Then the
    /// leader goes down, and the third node restarts from a wiped disk. The wiped node's
    /// questions to its peers are lost, so it cannot learn that it must rebuild, while the
    /// stale node asks it for its vote. An empty log finds any candidate up to date: granting
    /// that vote would let the stale node lead and drop the writes the leader and the wiped node
    /// acknowledged.
    StaleCandidateMeetsWipedVoter,
}

impl SimConfig {
    pub fn new(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            nodes: 3,
            clients: 5,
            keys: 3,
            workload: Duration::from_secs(20),
            faults: true,
            early_faults: false,
            disk_faults: true,
            honesty: Honesty::Honest,
            counter_clients: 2,
            bank_clients: 2,
            ttl_clients: 2,
            clock_skew: true,
            membership_faults: true,
            resend_increments: false,
            scenario: None,
        }
    }

    /// A run of `scenario` under `seed` (which draws the weather and the workload): a short
    /// workload, no clock skew, the script as the only fault.
    pub fn scripted(seed: u64, scenario: Scenario) -> SimConfig {
        SimConfig {
            workload: Duration::from_secs(14),
            clock_skew: false,
            scenario: Some(scenario),
            ..SimConfig::new(seed)
        }
    }

    /// The first simulator's run: registers only, the fault mix before disk faults, no skew,
    /// no membership faults (seeds found then replay their schedules).
    pub fn classic(seed: u64) -> SimConfig {
        SimConfig {
            disk_faults: false,
            counter_clients: 0,
            bank_clients: 0,
            ttl_clients: 0,
            clock_skew: false,
            membership_faults: false,
            ..SimConfig::new(seed)
        }
    }
}

/// What a run did and found.
#[derive(Debug)]
pub struct SimReport {
    pub seed: u64,
    /// Hash of the whole client history (operations, results, virtual times).
    pub history_hash: u64,
    pub operations: usize,
    /// Operations by workload: registers, counters, bank, TTL registers.
    pub operations_by_workload: [usize; 4],
    pub unknown: usize,
    pub faults: Vec<String>,
    /// Faults injected, by kind.
    pub fault_kinds: BTreeMap<&'static str, usize>,
    /// The kinds of the faults in the order drawn: the schedule, which a seed always replays
    /// (the times and outcomes in `faults` can move with the history).
    pub schedule: Vec<&'static str>,
    pub violations: Vec<String>,
    /// Findings that are not violations (TTL values coming back under clock skew).
    pub findings: Vec<String>,
    /// The bound of the clocks' offsets this run drew (ms).
    pub skew_ms: i64,
    pub net: NetStats,
    pub weather: Weather,
    /// Term -> the nodes that led it.
    pub leaders: BTreeMap<u64, Vec<u64>>,
    pub virtual_ms: u64,
    /// The history, one line per call, in the order the calls ended.
    pub history: Vec<String>,
}

impl SimReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// One line for logs; the violations follow on their own lines.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "seed {}: {} ({} operations {:?}, {} unknown outcomes, {} faults {:?}, skew ±{} ms, {} findings, {} terms with a leader ({} led by two nodes), {} ms virtual, history {:016x}; net {:?}; weather {:?})",
            self.seed,
            if self.passed() { "PASS" } else { "FAIL" },
            self.operations,
            self.operations_by_workload,
            self.unknown,
            self.fault_kinds.values().sum::<usize>(),
            self.fault_kinds,
            self.skew_ms,
            self.findings.len(),
            self.leaders.len(),
            self.leaders.values().filter(|l| l.len() > 1).count(),
            self.virtual_ms,
            self.history_hash,
            self.net,
            self.weather,
        );
        for violation in &self.violations {
            text.push_str("\n  violation: ");
            text.push_str(violation);
        }
        for finding in &self.findings {
            text.push_str("\n  finding: ");
            text.push_str(finding);
        }
        text
    }
}

/// One recorded call: which key, what, when (virtual ns from the start).
#[derive(Clone, Debug)]
struct Call {
    client: usize,
    key: usize,
    call: u64,
    ret: Option<u64>,
    op: RegisterOp,
}

/// A node's place in the world: its disk survives crashes, its process does not.
struct Slot {
    id: u64,
    dir: PathBuf,
    disk: SimDisk,
    node: Option<Node>,
    incarnation: u64,
    /// Signalled when the current incarnation dies: a client waiting on it learns it here.
    death: Arc<Death>,
}

/// The death of one incarnation. (Not a `watch` channel: tokio wakes a watch's waiters in an
/// order drawn from its unseeded RNG, which would make replays differ.)
#[derive(Default)]
pub(super) struct Death {
    dead: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Death {
    fn announce(&self) {
        self.dead.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub(super) async fn wait(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.dead.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}

pub(super) struct World {
    config: SimConfig,
    net: SimNet,
    slots: Vec<Slot>,
    rng: StdRng,
    /// Whether an operator runs `add-node` for a node rebuilding itself after a wiped disk
    /// (its own stream, so drawing it leaves the fault schedule of every seed as it was).
    operator_rng: StdRng,
    history: Vec<Call>,
    /// The counter, bank and TTL workloads' histories.
    pub(super) extra: Histories,
    clocks: SimClocks,
    faults: Vec<String>,
    fault_kinds: BTreeMap<&'static str, usize>,
    schedule: Vec<&'static str>,
    pub(super) violations: Vec<String>,
    /// Term -> the nodes seen leading it, in order.
    leaders: BTreeMap<u64, Vec<u64>>,
    /// (term, node) -> when that leader was first seen (virtual ms).
    leader_seen_ms: BTreeMap<(u64, u64), u64>,
    /// Node -> the newest vote (term, node) it was seen holding.
    votes: BTreeMap<u64, (u64, u64)>,
    pub(super) started: Instant,
}

pub(super) type Shared = Arc<Mutex<World>>;

pub(super) fn lock(world: &Shared) -> MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now_ns(started: Instant) -> u64 {
    started.elapsed().as_nanos() as u64
}

/// Runs one simulation on its own current-thread runtime with paused time.
pub fn run(config: SimConfig) -> SimReport {
    if let Ok(filter) = std::env::var("TANDEM_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time().start_paused(true);
    seed_tokio(&mut builder, config.seed);
    let runtime = builder.build().expect("runtime");
    let root = tempfile::Builder::new()
        .prefix(&format!("sim-{}-", config.seed))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    let report = runtime.block_on(simulate(config, root.path().to_path_buf()));
    // Tasks of crashed incarnations may still hold files; the runtime goes first.
    drop(runtime);
    drop(root);
    report
}

/// True when tokio's own RNG is seeded from the run's seed, which needs tokio's unstable API
/// (`RUSTFLAGS="--cfg tokio_unstable"`, as `scripts/simulate --exact` builds). tokio draws
/// from that RNG to pick which of a `watch` channel's wait lists a waiter joins (so the order
/// in which tasks waiting on one openraft metrics change wake up) and the first branch a
/// `select!` polls; unseeded, runs of one seed can part once two tasks wake on the same change.
pub const TOKIO_SEEDED: bool = cfg!(tokio_unstable);

fn seed_tokio(builder: &mut tokio::runtime::Builder, seed: u64) {
    #[cfg(tokio_unstable)]
    builder.rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()));
    let _ = (builder, seed);
}

async fn simulate(config: SimConfig, root: PathBuf) -> SimReport {
    let mut master = StdRng::seed_from_u64(config.seed);
    let net_rng = StdRng::seed_from_u64(master.gen());
    let weather = if config.faults && std::env::var("TANDEM_SIM_CALM").is_err() {
        Weather::draw(&mut master)
    } else {
        Weather::calm()
    };
    let net = SimNet::new(net_rng, weather);
    let started = Instant::now();
    // Drawn from their own generators (not `master`), so the classic runs' draws are unchanged.
    let mut clock_rng = StdRng::seed_from_u64(config.seed ^ 0xC10C_5EED_0000_0001);
    let skew_ms = if config.clock_skew {
        [0, 20, 200, 1_000, 5_000][clock_rng.gen_range(0..5)]
    } else {
        0
    };
    let clocks = SimClocks::new(&mut clock_rng, config.nodes, skew_ms, started);
    let slots = (1..=config.nodes)
        .map(|id| Slot {
            id,
            dir: root.join(format!("node{id}")),
            disk: SimDisk::new(config.honesty),
            node: None,
            incarnation: 0,
            death: Arc::default(),
        })
        .collect();
    let world: Shared = Arc::new(Mutex::new(World {
        config: config.clone(),
        net: net.clone(),
        slots,
        rng: StdRng::seed_from_u64(master.gen()),
        operator_rng: StdRng::seed_from_u64(config.seed ^ 0x0AD0_0D0E_0000_0003),
        history: Vec::new(),
        extra: Histories::default(),
        clocks: clocks.clone(),
        faults: Vec::new(),
        fault_kinds: BTreeMap::new(),
        schedule: Vec::new(),
        violations: Vec::new(),
        leaders: BTreeMap::new(),
        leader_seen_ms: BTreeMap::new(),
        votes: BTreeMap::new(),
        started,
    }));
    for id in 1..=config.nodes {
        boot(&world, id).await;
    }
    let end = started + config.workload;
    let clients: Vec<_> = (0..config.clients)
        .map(|client| {
            let rng = StdRng::seed_from_u64(master.gen());
            tokio::spawn(client_loop(world.clone(), client, rng, end))
        })
        .collect();
    let mut workload_rng = StdRng::seed_from_u64(config.seed ^ 0x0BA4_C0DE_0000_0002);
    let mut extra_clients = Vec::new();
    let kinds = [
        (Kind::Counter, config.counter_clients),
        (Kind::Bank, config.bank_clients),
        (Kind::Ttl, config.ttl_clients),
    ];
    for (kind, count) in kinds {
        for _ in 0..count {
            let client = config.clients + 1 + extra_clients.len();
            let rng = StdRng::seed_from_u64(workload_rng.gen());
            extra_clients.push(tokio::spawn(workload::client_loop(
                world.clone(),
                kind,
                client,
                rng,
                end,
            )));
        }
    }
    if let Some(scenario) = config.scenario {
        play(&world, scenario, end).await;
    } else if config.faults {
        let rng = StdRng::seed_from_u64(master.gen());
        nemesis(&world, rng, end).await;
    } else {
        tokio::time::sleep_until(end).await;
    }
    // Heal everything, bring every node back, let the clients finish their last calls.
    net.heal();
    net.set_weather(Weather::calm());
    for id in 1..=config.nodes {
        let down = lock(&world).slot(id).node.is_none();
        if down {
            boot(&world, id).await;
        }
    }
    for client in clients.into_iter().chain(extra_clients) {
        let _ = client.await;
    }
    if config.membership_faults {
        restore_membership(&world).await;
    }
    converge(&world).await;
    rejoins_end(&world).await;
    final_reads(&world, config.clients).await;
    if config.counter_clients + config.bank_clients > 0 {
        workload::final_reads(&world, config.clients).await;
    }
    shut_down(&world).await;
    let virtual_ms = started.elapsed().as_millis() as u64;
    let mut world = lock(&world);
    check_history(&mut world);
    let history = std::mem::take(&mut world.history);
    let extra = std::mem::take(&mut world.extra);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut lines: Vec<String> = history
        .iter()
        .map(|c| {
            format!(
                "client {} k{} call {} ret {:?} {:?}",
                c.client, c.key, c.call, c.ret, c.op
            )
        })
        .collect();
    lines.extend(extra.lines());
    lines.hash(&mut hasher);
    SimReport {
        seed: config.seed,
        history_hash: hasher.finish(),
        operations: history.len() + extra.len(),
        operations_by_workload: [
            history.len(),
            extra.counters.len(),
            extra.bank.len(),
            extra.ttl.len(),
        ],
        unknown: history.iter().filter(|c| c.ret.is_none()).count() + extra.unknown(),
        faults: std::mem::take(&mut world.faults),
        fault_kinds: std::mem::take(&mut world.fault_kinds),
        schedule: std::mem::take(&mut world.schedule),
        violations: std::mem::take(&mut world.violations),
        findings: extra.findings,
        skew_ms,
        net: net.stats(),
        weather,
        leaders: world.leaders.clone(),
        virtual_ms,
        history: lines,
    }
}

impl World {
    pub(super) fn resend_increments(&self) -> bool {
        self.config.resend_increments
    }

    fn slot(&mut self, id: u64) -> &mut Slot {
        &mut self.slots[id as usize - 1]
    }

    fn count_fault(&mut self, kind: &'static str) {
        *self.fault_kinds.entry(kind).or_default() += 1;
        self.schedule.push(kind);
    }

    fn note_fault(&mut self, text: String) {
        let at = self.started.elapsed().as_millis();
        self.faults.push(format!("{at} ms: {text}"));
    }

    fn up(&self) -> Vec<u64> {
        self.slots
            .iter()
            .filter(|s| s.node.is_some())
            .map(|s| s.id)
            .collect()
    }
}

/// Opens the next incarnation of node `id` on its disk.
async fn boot(world: &Shared, id: u64) {
    let builder = {
        let mut w = lock(world);
        let nodes = w.config.nodes;
        // A fixed election timeout per incarnation (openraft draws it from min..max with its
        // own unseeded RNG; a one-millisecond range leaves it no choice).
        let election_ms = w.rng.gen_range(150..300u64);
        let net = w.net.clone();
        let clock = w.clocks.clock(id);
        let slot = w.slot(id);
        slot.incarnation += 1;
        slot.death = Arc::default();
        let transport = net.boot(id, slot.incarnation);
        let mut options = ClusterOptions::new(SimNet::addr(id), SECRET);
        options.peers = (1..=nodes)
            .filter(|peer| *peer != id)
            .map(|peer| PeerAddr {
                id: peer,
                addr: SimNet::addr(peer),
            })
            .collect();
        options.client_addr = format!("10.0.1.{id}:6379");
        options.election_timeout_min = Duration::from_millis(election_ms);
        options.election_timeout_max = Duration::from_millis(election_ms + 1);
        // The leader probe dials TCP directly (not through the transport): off here.
        options.leader_probe = None;
        options.clock = clock;
        let builder = Node::builder(&slot.dir)
            .node_id(id)
            .zone(format!("zone-{id}"))
            .wal_vfs(Arc::new(slot.disk.clone()))
            .wal_writer(WriterMode::Inline)
            .peer_transport(transport)
            .segment_bytes(SEGMENT_BYTES)
            .snapshot_policy(SnapshotPolicyOption::Manual)
            .cluster(options);
        builder
    };
    // The previous incarnation's engine lets go of the data directory lock as it stops.
    let mut attempts = 0;
    let node = loop {
        match builder.clone().open().await {
            Ok(node) => break Some(node),
            Err(OpenError::Locked { .. }) if attempts < 1_000 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => {
                lock(world)
                    .violations
                    .push(format!("node {id} could not reopen: {error}"));
                break None;
            }
        }
    };
    let Some(node) = node else {
        return;
    };
    let metrics = node.raft().metrics();
    let death = {
        let mut w = lock(world);
        let slot = w.slot(id);
        slot.node = Some(node);
        slot.death.clone()
    };
    tokio::spawn(watch_leaders(world.clone(), id, metrics, death));
}

/// How often the leader monitor samples a node's metrics.
const LEADER_SAMPLE: Duration = Duration::from_millis(5);

/// Watches one incarnation's consensus state. Checked: a node's vote never goes back, not even
/// across a crash (votes are durable); and leaders of one term follow each other in increasing
/// node id. openraft 0.9 (without its `single-term-leader` feature, which would change the
/// encoding of every log id) orders leaders by (term, node id): two nodes may both lead one
/// term, the higher id superseding the lower, but a lower id can never win a term a higher id
/// already won (its voters have moved past it). The report counts terms led by two nodes.
/// It samples rather than waits on the metrics channel, so it adds no waiter to the channel the
/// node's own tasks wait on (tokio wakes those in an unseeded random order).
async fn watch_leaders(
    world: Shared,
    id: u64,
    metrics: watch::Receiver<openraft::RaftMetrics<u64, tandem::raft::NodeInfo>>,
    death: Arc<Death>,
) {
    loop {
        if death.dead.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        {
            let m = metrics.borrow();
            let vote = (m.vote.leader_id().get_term(), m.vote.leader_id().node_id);
            let leads = m.state == openraft::ServerState::Leader
                && m.vote.is_committed()
                && m.vote.leader_id().voted_for() == Some(id);
            let mut w = lock(&world);
            let at = w.started.elapsed().as_millis();
            let last = w.votes.insert(id, vote).unwrap_or_default();
            if vote < last {
                w.violations.push(format!(
                    "node {id}'s vote went back from T{}-N{} to T{}-N{} at {at} ms",
                    last.0, last.1, vote.0, vote.1
                ));
            }
            // The log positions of docs/log-positions.md, as this node reports them.
            let positions = w.slot(id).node.as_ref().map(|node| node.status());
            if let Some(p) = positions {
                let ordered = p.purged <= p.snapshot
                    && p.snapshot <= p.applied
                    && p.applied <= p.committed
                    && p.flushed <= p.written
                    && p.written <= p.accepted;
                if !ordered {
                    w.violations.push(format!(
                        "node {id}'s log positions out of order at {at} ms: purged {} snapshot {} \
                         applied {} committed {}, flushed {} written {} accepted {}",
                        p.purged,
                        p.snapshot,
                        p.applied,
                        p.committed,
                        p.flushed,
                        p.written,
                        p.accepted
                    ));
                }
            }
            if leads {
                let leaders = w.leaders.entry(vote.0).or_default();
                if !leaders.contains(&id) {
                    leaders.push(id);
                    let at = at as u64;
                    // Sampling sees a leader up to one period late; allow two.
                    let slack = 2 * LEADER_SAMPLE.as_millis() as u64;
                    let superseded: Vec<(u64, u64)> = w
                        .leader_seen_ms
                        .range((vote.0, id + 1)..(vote.0 + 1, 0))
                        .filter(|(_, seen)| **seen + slack < at)
                        .map(|((_, other), seen)| (*other, *seen))
                        .collect();
                    for (other, seen) in superseded {
                        w.violations.push(format!(
                            "node {id} led term {} at {at} ms, after node {other} had led it (seen at {seen} ms)",
                            vote.0
                        ));
                    }
                    w.leader_seen_ms.insert((vote.0, id), at);
                }
            }
        }
        tokio::time::sleep(LEADER_SAMPLE).await;
    }
}

/// How a node goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// `kill -9`: the process dies, the kernel keeps every write it made.
    Process,
    /// Power loss: the disk keeps only what was synced.
    Power,
    /// Power loss during which some unsynced writes reached the disk, the last one torn.
    TornPower,
}

/// Node `id` goes down: it stops sending at once, and its disk becomes what the next
/// incarnation finds.
fn crash(world: &Shared, id: u64, loss: Loss, rng: &mut StdRng) -> Option<Node> {
    let mut w = lock(world);
    let net = w.net.clone();
    let slot = w.slot(id);
    let node = slot.node.take()?;
    net.kill(id);
    // The image is a new disk without faults: the next incarnation finds a working disk.
    let mut torn = 0;
    slot.disk = match loss {
        Loss::Process => slot.disk.process_image(),
        Loss::Power => slot.disk.crash_image(),
        Loss::TornPower => {
            let (image, files) = slot.disk.torn_crash_image(rng);
            torn = files;
            image
        }
    };
    slot.death.announce();
    if torn > 0 {
        w.note_fault(format!(
            "  node {id}: {torn} file(s) torn by the power loss"
        ));
    }
    Some(node)
}

/// A power loss, torn or not (even odds; never torn, and no draw, without `torn`).
fn power_loss(rng: &mut StdRng, torn: bool) -> Loss {
    if torn && rng.gen_bool(0.5) {
        Loss::TornPower
    } else {
        Loss::Power
    }
}

/// Injects one fault at a time until `end`: crashes (one node, or two at once), partitions
/// (isolation, one-way, flapping), each held for a while and then repaired.
async fn nemesis(world: &Shared, mut rng: StdRng, end: Instant) {
    let (nodes, early, disk_faults, membership, skew) = {
        let w = lock(world);
        (
            w.config.nodes,
            w.config.early_faults,
            w.config.disk_faults,
            w.config.membership_faults,
            w.clocks.max_ms > 0,
        )
    };
    let kinds = match (disk_faults, membership) {
        (false, _) => 5,
        (true, false) => 8,
        (true, true) => 12,
    };
    // Faults start once every node is a voter of the formed group, unless `early_faults`
    // (formation under faults has its own test: it found the formation race).
    if !early {
        while Instant::now() < end && !formed(world) {
            tokio::time::sleep(POLL).await;
        }
    }
    loop {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1_500))).await;
        if Instant::now() >= end {
            return;
        }
        if std::env::var("TANDEM_SIM_NO_FAULTS").is_ok() {
            continue;
        }
        let hold = Duration::from_millis(rng.gen_range(100..3_000));
        let a = rng.gen_range(1..=nodes);
        let b = (a + rng.gen_range(1..nodes) - 1) % nodes + 1;
        let net = lock(world).net.clone();
        match rng.gen_range(0..kinds) {
            0 => {
                let loss = power_loss(&mut rng, disk_faults);
                lock(world).count_fault("crash");
                lock(world).note_fault(format!(
                    "crash node {a} ({loss:?}) for {} ms",
                    hold.as_millis()
                ));
                let dead = crash(world, a, loss, &mut rng);
                drop(dead);
                tokio::time::sleep(hold).await;
                boot(world, a).await;
            }
            1 => {
                let loss = power_loss(&mut rng, disk_faults);
                lock(world).count_fault("power loss on two");
                lock(world).note_fault(format!(
                    "power loss ({loss:?}) on nodes {a} and {b} for {} ms",
                    hold.as_millis()
                ));
                let dead = (
                    crash(world, a, loss, &mut rng),
                    crash(world, b, loss, &mut rng),
                );
                drop(dead);
                tokio::time::sleep(hold).await;
                boot(world, a).await;
                boot(world, b).await;
            }
            // Three nodes: one node cut off. Five: a minority of two, still linked to each
            // other, cut off from the majority (the leader may be among the two).
            2 => {
                let minority = if nodes >= 5 { vec![a, b] } else { vec![a] };
                lock(world).count_fault("isolate");
                lock(world).note_fault(format!(
                    "isolate node(s) {minority:?} for {} ms",
                    hold.as_millis()
                ));
                for inside in &minority {
                    for other in (1..=nodes).filter(|n| !minority.contains(n)) {
                        net.cut(*inside, other);
                        net.cut(other, *inside);
                    }
                }
                tokio::time::sleep(hold).await;
                net.heal();
            }
            3 => {
                lock(world).count_fault("one-way cut");
                lock(world).note_fault(format!(
                    "cut link {a} -> {b} (one way) for {} ms",
                    hold.as_millis()
                ));
                net.cut(a, b);
                tokio::time::sleep(hold).await;
                net.heal();
            }
            5 => {
                lock(world).count_fault("kill -9");
                lock(world).note_fault(format!(
                    "kill -9 node {a} (its writes kept) for {} ms",
                    hold.as_millis()
                ));
                let dead = crash(world, a, Loss::Process, &mut rng);
                drop(dead);
                tokio::time::sleep(hold).await;
                boot(world, a).await;
            }
            6 | 7 => disk_fault(world, a, hold, &mut rng).await,
            8 => leader_transfer(world, &mut rng).await,
            // A disk is replaced only while every other node holds its data: two disks lost
            // at once is beyond what three replicas survive.
            9 | 10 if !formed(world) => {
                lock(world).note_fault("no disk replacement while a node rebuilds".to_string());
                leader_transfer(world, &mut rng).await;
            }
            9 => remove_and_readd(world, a, hold).await,
            10 => wipe(world, a, hold).await,
            11 if skew => {
                let (old, new) = lock(world).clocks.jump(a, &mut rng);
                lock(world).count_fault("clock jump");
                lock(world).note_fault(format!(
                    "clock of node {a} jumps from {old:+} ms to {new:+} ms"
                ));
            }
            11 => leader_transfer(world, &mut rng).await,
            _ => {
                lock(world).count_fault("flapping link");
                let period = Duration::from_millis(rng.gen_range(20..300));
                lock(world).note_fault(format!(
                    "flap link {a} <-> {b} every {} ms for {} ms",
                    period.as_millis(),
                    hold.as_millis()
                ));
                let until = Instant::now() + hold;
                let mut down = false;
                while Instant::now() < until {
                    down = !down;
                    if down {
                        net.cut(a, b);
                        net.cut(b, a);
                    } else {
                        net.heal();
                    }
                    tokio::time::sleep(period).await;
                }
                net.heal();
            }
        }
    }
}

/// Plays `scenario` once the group has formed, then waits for `end`.
async fn play(world: &Shared, scenario: Scenario, end: Instant) {
    while Instant::now() < end && !formed(world) {
        tokio::time::sleep(POLL).await;
    }
    lock(world).count_fault("scripted");
    match scenario {
        Scenario::StaleCandidateMeetsWipedVoter => stale_candidate_meets_wiped_voter(world).await,
    }
    tokio::time::sleep_until(end).await;
}

/// See [`Scenario::StaleCandidateMeetsWipedVoter`].
async fn stale_candidate_meets_wiped_voter(world: &Shared) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let Some((leader_id, _, _)) = leader(world) else {
        lock(world).note_fault("scenario: no leader to start from".to_string());
        return;
    };
    let nodes = lock(world).config.nodes;
    let wiped = leader_id % nodes + 1;
    let stale = wiped % nodes + 1;
    let net = lock(world).net.clone();
    lock(world).note_fault(format!(
        "cut node {stale} off while leader {leader_id} and node {wiped} take writes"
    ));
    for other in [leader_id, wiped] {
        net.cut(stale, other);
        net.cut(other, stale);
    }
    let acked = write_marker(world, leader_id).await;
    lock(world).note_fault(format!(
        "  {MARKER} written through leader {leader_id}: {acked:?}"
    ));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    lock(world).note_fault(format!(
        "power loss on leader {leader_id}; node {wiped} restarts from a wiped disk, its hello requests lost; node {stale} reconnects"
    ));
    drop(crash(
        world,
        leader_id,
        Loss::Power,
        &mut StdRng::seed_from_u64(0),
    ));
    drop(wipe_node(world, wiped));
    net.heal();
    net.lose_requests(wiped, tandem::cluster::rpc::KIND_HELLO);
    boot(world, wiped).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    lock(world).note_fault(format!("node {leader_id} back; hello requests flow again"));
    boot(world, leader_id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    net.heal();
    if let Some(value) = acked {
        read_marker(world, &value).await;
    }
}

/// The key the scenario writes while one node is cut off (not a workload key).
const MARKER: &str = "scenario:acked";

/// Writes [`MARKER`] through node `id` until a write is acknowledged (a few tries); the value
/// acknowledged, if any.
async fn write_marker(world: &Shared, id: u64) -> Option<String> {
    for attempt in 0..5 {
        let db = lock(world).slot(id).node.as_ref()?.db();
        let value = format!("acked-{attempt}");
        match tokio::time::timeout(Duration::from_secs(1), db.set(MARKER, value.clone())).await {
            Ok(Ok(())) => return Some(value),
            _ => tokio::time::sleep(POLL).await,
        }
    }
    None
}

/// Reads [`MARKER`] through any node once one answers; anything but `value` is a lost
/// acknowledged write.
async fn read_marker(world: &Shared, value: &str) {
    let mut rng = StdRng::seed_from_u64(2);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while Instant::now() < deadline {
        if let Some((db, _)) = pick_node(world, &mut rng) {
            if let Ok(Ok(read)) = tokio::time::timeout(CALL_TIMEOUT, db.get(MARKER)).await {
                let read = read.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                lock(world).note_fault(format!("  {MARKER} read back: {read:?}"));
                if read.as_deref() != Some(value) {
                    lock(world).violations.push(format!(
                        "an acknowledged write was lost: {MARKER} = {value:?} acknowledged, {read:?} read"
                    ));
                }
                return;
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A failing disk on node `a` for `hold`: every write fails (EIO or ENOSPC) or every sync fails
/// (EIO). Checked meanwhile: the node's WAL counts nothing more as flushed (it must not
/// acknowledge what it could not make durable). Then the node is restarted, as an operator or
/// supervisor would restart a node that stopped on an I/O error: after failed writes by a
/// process restart or a power loss, after a failed sync by a power loss (the kernel may have
/// dropped the unsynced pages, so nothing unsynced may be trusted).
async fn disk_fault(world: &Shared, a: u64, hold: Duration, rng: &mut StdRng) {
    let kind = match rng.gen_range(0..3) {
        0 => FaultKind::WriteEio,
        1 => FaultKind::SyncEio,
        _ => FaultKind::NoSpace,
    };
    let flushed_before = {
        let mut w = lock(world);
        w.count_fault("disk fault");
        w.note_fault(format!(
            "disk of node {a}: {kind:?} for {} ms",
            hold.as_millis()
        ));
        let slot = w.slot(a);
        let Some(node) = &slot.node else {
            return;
        };
        slot.disk.set_fault(Some(kind));
        node.status().flushed
    };
    tokio::time::sleep(hold).await;
    {
        let mut w = lock(world);
        let slot = w.slot(a);
        let failures = slot.disk.failures();
        let flushed = slot.node.as_ref().map(|node| node.status().flushed);
        if let Some(flushed) = flushed.filter(|f| failures > 0 && *f > flushed_before) {
            w.violations.push(format!(
                "node {a}'s WAL counted index {flushed} as flushed after its disk failed ({kind:?}; flushed was {flushed_before})"
            ));
        }
        w.note_fault(format!("  node {a}: {failures} call(s) failed"));
    }
    let loss = match kind {
        FaultKind::SyncEio => power_loss(rng, true),
        _ if rng.gen_bool(0.5) => Loss::Process,
        _ => power_loss(rng, true),
    };
    lock(world).note_fault(format!("  node {a} restarted ({loss:?})"));
    let dead = crash(world, a, loss, rng);
    drop(dead);
    boot(world, a).await;
}

/// A node that leads by its own account: its id, its cluster handle and the voters it lists.
fn leader(world: &Shared) -> Option<(u64, Arc<Cluster>, Vec<u64>)> {
    let w = lock(world);
    w.slots.iter().find_map(|slot| {
        let node = slot.node.as_ref()?;
        if !node.cluster().is_leader() {
            return None;
        }
        let voters = voters(node);
        Some((slot.id, node.cluster().clone(), voters))
    })
}

fn voters(node: &Node) -> Vec<u64> {
    let metrics = node.raft().metrics();
    let m = metrics.borrow();
    m.membership_config.membership().voter_ids().collect()
}

/// Runs a membership or leadership request on `node` (forwarded to the leader if `node` does not
/// lead), waiting for its answer at most `timeout`. The request runs on in its own task after
/// that, as it would for an operator whose tool gave up: cancelling it midway would be another
/// fault (a leader transfer dropped mid-way leaves the leader paused, with elections off).
async fn admin(
    cluster: &Arc<Cluster>,
    request: AdminRequest,
    timeout: Duration,
) -> Result<String, String> {
    let cluster = cluster.clone();
    let task = tokio::spawn(async move { cluster.admin(request).await });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Ok(text))) => Ok(text),
        Ok(Ok(Err(error))) => Err(error.to_string()),
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// How long the nemesis waits for one membership or leadership request.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// A planned leader transfer (`tandem cluster transfer-leader`) to a random other voter.
async fn leader_transfer(world: &Shared, rng: &mut StdRng) {
    lock(world).count_fault("leader transfer");
    let Some((id, node, voters)) = leader(world) else {
        lock(world).note_fault("leader transfer: no leader now".to_string());
        return;
    };
    let voters: Vec<u64> = voters.into_iter().filter(|v| *v != id).collect();
    if voters.is_empty() {
        return;
    }
    let target = voters[rng.gen_range(0..voters.len())];
    let answer = admin(
        &node,
        AdminRequest::TransferLeader { node_id: target },
        ADMIN_TIMEOUT,
    )
    .await;
    let mut w = lock(world);
    w.note_fault(format!("leader transfer {id} -> {target}: {answer:?}"));
    // A transfer gives up within its own bounds (5 s to catch up, then the election): one
    // that runs past the nemesis's patience paused writes or leaked past its deadline.
    if answer
        .as_ref()
        .is_err_and(|e| e.starts_with("no answer within"))
    {
        w.violations.push(format!(
            "leader transfer {id} -> {target} unanswered after {} s",
            ADMIN_TIMEOUT.as_secs()
        ));
    }
}

/// Node `id` loses its disk: it goes down, and the next incarnation starts on a new, empty
/// disk and an empty data directory (its vote goes with it).
fn wipe_node(world: &Shared, id: u64) -> Option<Node> {
    let dead = crash(world, id, Loss::Process, &mut StdRng::seed_from_u64(0));
    let mut w = lock(world);
    let honesty = w.config.honesty;
    w.votes.remove(&id);
    let slot = w.slot(id);
    slot.disk = SimDisk::new(honesty);
    let _ = std::fs::remove_dir_all(&slot.dir);
    dead
}

/// The operator's disk replacement (`tandem cluster remove-node`, wipe, restart empty,
/// `add-node`), on a follower.
async fn remove_and_readd(world: &Shared, a: u64, hold: Duration) {
    lock(world).count_fault("remove, wipe, re-add");
    let Some((leader_id, node, _)) = leader(world) else {
        lock(world).note_fault("remove node: no leader now".to_string());
        return;
    };
    let a = if a == leader_id {
        a % lock(world).config.nodes + 1
    } else {
        a
    };
    let removed = admin(
        &node,
        AdminRequest::RemoveNode { node_id: a },
        ADMIN_TIMEOUT,
    )
    .await;
    lock(world).note_fault(format!(
        "remove node {a} (via leader {leader_id}), wipe it, re-add it after {} ms: {removed:?}",
        hold.as_millis()
    ));
    if removed.is_err() {
        return;
    }
    drop(wipe_node(world, a));
    tokio::time::sleep(hold).await;
    boot(world, a).await;
    let added = add_back(world, a, ADMIN_TIMEOUT).await;
    lock(world).note_fault(format!("  add node {a}: {added:?}"));
}

/// `add-node` for `id` through whichever node leads, retried until `timeout`.
async fn add_back(world: &Shared, id: u64, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut last = Err("no leader".to_string());
    while Instant::now() < deadline {
        if let Some((_, node, _)) = leader(world) {
            let request = AdminRequest::AddNode {
                node_id: id,
                peer_addr: SimNet::addr(id),
            };
            last = admin(&node, request, deadline - Instant::now()).await;
            if last.is_ok() {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

/// A wiped disk: the node restarts empty and rebuilds itself as the product does (it finds
/// itself listed as a voter without data, has the leader forget it and adds itself back).
///
/// Half the time an operator also runs `add-node` for it meanwhile (as the disk replacement
/// procedure says, not knowing the node rebuilds itself), at a random moment of its rejoin:
/// both must end with the node a voter, and the rejoin must end (checked once healed).
async fn wipe(world: &Shared, a: u64, hold: Duration) {
    lock(world).count_fault("wiped disk");
    let operator_after = {
        let mut w = lock(world);
        w.operator_rng
            .gen_bool(0.5)
            .then(|| Duration::from_millis(w.operator_rng.gen_range(0..400)))
    };
    lock(world).note_fault(format!(
        "wipe node {a}'s disk; it restarts empty after {} ms{}",
        hold.as_millis(),
        operator_after.map_or(String::new(), |after| format!(
            "; an operator runs add-node {} ms after that",
            after.as_millis()
        ))
    ));
    drop(wipe_node(world, a));
    tokio::time::sleep(hold).await;
    boot(world, a).await;
    if let Some(after) = operator_after {
        let world = world.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let added = add_back(&world, a, ADMIN_TIMEOUT).await;
            lock(&world).note_fault(format!("  operator's add-node {a}: {added:?}"));
        });
    }
}

/// Each running node's raft state in one line, for a violation that says the group is stuck:
/// role, term, vote, last log index, applied index, voters and rejoin phase.
fn node_states(w: &World) -> String {
    let states: Vec<String> = w
        .slots
        .iter()
        .filter_map(|s| {
            let node = s.node.as_ref()?;
            let m = node.raft().metrics().borrow().clone();
            let voters = m.membership_config.membership().get_joint_config();
            Some(format!(
                "node {}: {:?} term {} vote {} last log {:?} applied {:?} voters {voters:?} (at {:?}) rejoin {:?}",
                s.id,
                m.state,
                m.current_term,
                m.vote,
                m.last_log_index,
                m.last_applied.map(|id| id.index),
                m.membership_config.log_id().map(|id| id.index),
                node.cluster().rejoin_phase()
            ))
        })
        .collect();
    states.join("; ")
}

/// Once healed: no node is still rebuilding itself (a rejoin that never ends keeps the node
/// out of elections for good).
async fn rejoins_end(world: &Shared) {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let rejoining: Vec<String> = lock(world)
            .slots
            .iter()
            .filter_map(|s| {
                let phase = format!("{:?}", s.node.as_ref()?.cluster().rejoin_phase());
                (phase != "None").then(|| format!("node {} ({phase})", s.id))
            })
            .collect();
        if rejoining.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            lock(world).violations.push(format!(
                "a rejoin never ended: {} still rebuilding 60 s after healing",
                rejoining.join(", ")
            ));
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Once healed: every node a voter again. A node that a removal left out (its `add-node`
/// failed) is added back, as an operator would; a node rebuilding itself after a wipe is left
/// to do so.
async fn restore_membership(world: &Shared) {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while Instant::now() < deadline && !formed(world) {
        let outside: Vec<u64> = {
            let w = lock(world);
            let voters: Vec<u64> = w
                .slots
                .iter()
                .filter_map(|s| s.node.as_ref())
                .find(|n| n.cluster().is_leader())
                .map(voters)
                .unwrap_or_default();
            w.slots
                .iter()
                .filter(|s| {
                    !voters.is_empty()
                        && !voters.contains(&s.id)
                        // (The phase's type is not exported; `None` means no rejoin runs.)
                        && s.node.as_ref().is_some_and(|n| {
                            format!("{:?}", n.cluster().rejoin_phase()) == "None"
                        })
                })
                .map(|s| s.id)
                .collect()
        };
        for id in outside {
            let added = add_back(world, id, Duration::from_secs(5)).await;
            lock(world).note_fault(format!("healing: add node {id}: {added:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// True when every node is up and lists every node as a voter.
fn formed(world: &Shared) -> bool {
    let w = lock(world);
    let nodes = w.config.nodes as usize;
    w.slots.iter().all(|slot| {
        slot.node.as_ref().is_some_and(|node| {
            let metrics = node.raft().metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            membership.voter_ids().count() == nodes && membership.get_joint_config().len() == 1
        })
    })
}

/// What a client learns from one call.
pub(super) enum Outcome<T> {
    Done(T),
    /// Certainly not applied (refused before the log, or fenced).
    Refused,
    /// May or may not have been applied.
    Unknown,
}

pub(super) fn classify<T>(
    result: Result<Result<T, Error>, tokio::time::error::Elapsed>,
) -> Outcome<T> {
    match result {
        Ok(Ok(value)) => Outcome::Done(value),
        Ok(Err(
            Error::NotLeader { .. }
            | Error::NoLeader { .. }
            | Error::Busy { .. }
            | Error::ShuttingDown
            | Error::NotApplied { .. }
            | Error::TooLarge { .. }
            | Error::Command(_),
        )) => Outcome::Refused,
        Ok(Err(_)) | Err(_) => Outcome::Unknown,
    }
}

/// A node's handle and a way to learn that this incarnation died.
pub(super) fn pick_node(world: &Shared, rng: &mut StdRng) -> Option<(Db, Arc<Death>)> {
    let w = lock(world);
    let up = w.up();
    if up.is_empty() {
        return None;
    }
    let id = up[rng.gen_range(0..up.len())];
    let slot = &w.slots[id as usize - 1];
    let node = slot.node.as_ref()?;
    Some((node.db(), slot.death.clone()))
}

/// Calls SET (unique values) and GET on random keys through random live nodes until `end`.
async fn client_loop(world: Shared, client: usize, mut rng: StdRng, end: Instant) {
    let (keys, started) = {
        let w = lock(&world);
        (w.config.keys, w.started)
    };
    let mut written = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..30))).await;
        let Some((db, death)) = pick_node(&world, &mut rng) else {
            continue;
        };
        let key = rng.gen_range(0..keys);
        let name = format!("k{key}");
        let call = now_ns(started);
        let record = if rng.gen_bool(0.5) {
            written += 1;
            let value = (client as u64 + 1) * 1_000_000 + written;
            let outcome = tokio::select! {
                biased;
                result = tokio::time::timeout(CALL_TIMEOUT, db.set(&name, value.to_string())) => classify(result),
                _ = death.wait() => Outcome::Unknown,
            };
            match outcome {
                Outcome::Done(()) => Some((Some(now_ns(started)), RegisterOp::Write(value))),
                Outcome::Unknown => Some((None, RegisterOp::Write(value))),
                Outcome::Refused => None,
            }
        } else {
            let outcome = tokio::select! {
                biased;
                result = tokio::time::timeout(CALL_TIMEOUT, db.get(&name)) => classify(result),
                _ = death.wait() => Outcome::Unknown,
            };
            match outcome {
                Outcome::Done(value) => {
                    let seen = value.map(|bytes| {
                        std::str::from_utf8(&bytes)
                            .ok()
                            .and_then(|text| text.parse::<u64>().ok())
                            .unwrap_or(u64::MAX)
                    });
                    Some((Some(now_ns(started)), RegisterOp::Read(seen)))
                }
                Outcome::Unknown | Outcome::Refused => None,
            }
        };
        if let Some((ret, op)) = record {
            lock(&world).history.push(Call {
                client,
                key,
                call,
                ret,
                op,
            });
        }
    }
}

/// Once healed: one write must succeed, then every node must apply the same log and hold the
/// same keyspace.
async fn converge(world: &Shared) {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut rng = StdRng::seed_from_u64(0);
    let barrier_ok = loop {
        if Instant::now() >= deadline {
            break false;
        }
        if let Some((db, _)) = pick_node(world, &mut rng) {
            if let Ok(Ok(())) = tokio::time::timeout(CALL_TIMEOUT, db.set("barrier", "1")).await {
                break true;
            }
        }
        tokio::time::sleep(POLL).await;
    };
    if !barrier_ok {
        let mut w = lock(world);
        let states = node_states(&w);
        w.violations.push(format!(
            "the healed cluster accepted no write within 60 s; {states}"
        ));
        return;
    }
    loop {
        let (applied, digests) = {
            let w = lock(world);
            let applied: Vec<u64> = w
                .slots
                .iter()
                .filter_map(|s| s.node.as_ref().map(|n| n.status().applied))
                .collect();
            let digests: Vec<(u64, u128)> = w
                .slots
                .iter()
                .filter_map(|s| s.node.as_ref().map(|n| (s.id, n.db().digest())))
                .collect();
            (applied, digests)
        };
        let settled = applied.len() as u64 == lock(world).config.nodes
            && applied.windows(2).all(|pair| pair[0] == pair[1]);
        if settled {
            if digests.windows(2).any(|pair| pair[0].1 != pair[1].1) {
                lock(world).violations.push(format!(
                    "digests differ at applied index {}: {digests:x?}",
                    applied[0]
                ));
            }
            return;
        }
        if Instant::now() >= deadline {
            lock(world).violations.push(format!(
                "nodes did not converge within 60 s (applied indexes {applied:?})"
            ));
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One linearizable read of every key at the end, part of the history.
async fn final_reads(world: &Shared, client: usize) {
    let (keys, started) = {
        let w = lock(world);
        (w.config.keys, w.started)
    };
    let mut rng = StdRng::seed_from_u64(1);
    for key in 0..keys {
        let Some((db, _)) = pick_node(world, &mut rng) else {
            return;
        };
        let call = now_ns(started);
        match tokio::time::timeout(CALL_TIMEOUT, db.get(format!("k{key}"))).await {
            Ok(Ok(value)) => {
                let seen = value.map(|bytes| {
                    std::str::from_utf8(&bytes)
                        .ok()
                        .and_then(|text| text.parse::<u64>().ok())
                        .unwrap_or(u64::MAX)
                });
                lock(world).history.push(Call {
                    client,
                    key,
                    call,
                    ret: Some(now_ns(started)),
                    op: RegisterOp::Read(seen),
                });
            }
            other => lock(world)
                .violations
                .push(format!("the final read of k{key} failed: {other:?}")),
        }
    }
}

async fn shut_down(world: &Shared) {
    let nodes: Vec<Node> = {
        let mut w = lock(world);
        w.slots.iter_mut().filter_map(|s| s.node.take()).collect()
    };
    for node in nodes {
        let _ = node.shutdown().await;
    }
}

/// Linearizability per key, and acknowledged writes the final value cannot have overwritten;
/// then the counter, bank and TTL workloads' checks.
fn check_history(world: &mut World) {
    check_registers(world);
    let final_client = world.config.clients;
    let bounds = world.clocks.bounds();
    let mut violations = Vec::new();
    if world.config.counter_clients > 0 {
        workload::check_counters(&world.extra, final_client, &mut violations);
    }
    if world.config.bank_clients > 0 {
        workload::check_bank(&world.extra, &mut violations);
    }
    workload::check_ttl(&mut world.extra, bounds, &mut violations);
    world.violations.extend(violations);
}

fn check_registers(world: &mut World) {
    let final_client = world.config.clients;
    for key in 0..world.config.keys {
        let calls: Vec<&Call> = world.history.iter().filter(|c| c.key == key).collect();
        let ops: Vec<Operation<RegisterOp>> = calls
            .iter()
            .map(|c| Operation {
                client: c.client,
                call: c.call,
                ret: c.ret,
                op: c.op.clone(),
            })
            .collect();
        match check(&Register, &ops, CHECK_BUDGET) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(violation) => world.violations.push(format!(
                "k{key} is not linearizable: stuck at {:?} in state {} after {} operations; concurrent: {:?}",
                violation.stuck, violation.state, violation.linearized, violation.concurrent
            )),
            Verdict::Unknown { steps } => world.violations.push(format!(
                "k{key}: the checker gave up after {steps} steps"
            )),
        }
        // The final read names the write it saw; every write acknowledged after that write
        // returned should have replaced it.
        let Some(last) = calls
            .iter()
            .rev()
            .find(|c| c.client == final_client)
            .and_then(|c| match c.op {
                RegisterOp::Read(seen) => Some(seen),
                RegisterOp::Write(_) => None,
            })
        else {
            continue;
        };
        let floor = match last {
            None => Some(0),
            Some(value) => calls
                .iter()
                .find(|c| c.op == RegisterOp::Write(value))
                .and_then(|c| c.ret),
        };
        let Some(floor) = floor else {
            continue;
        };
        let lost: Vec<u64> = calls
            .iter()
            .filter(|c| c.ret.is_some() && c.call > floor)
            .filter_map(|c| match c.op {
                RegisterOp::Write(value) => Some(value),
                RegisterOp::Read(_) => None,
            })
            .collect();
        if !lost.is_empty() {
            world.violations.push(format!(
                "k{key}: {} acknowledged writes lost (final value {last:?}): {lost:?}",
                lost.len()
            ));
        }
    }
}
