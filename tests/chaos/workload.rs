//! The chaos drill's clients: register (SET/GET), counter (INCR/GET) and bank (MULTI
//! DECRBY/INCRBY EXEC, MGET) workloads through `tandem::client::Client` (exactly-once writes,
//! leader following), each client starting on a random node. Every call is recorded with its
//! call and return times: a definite reply is an operation, an unresolved write is an operation
//! with an unknown outcome, a definite "not applied" and an unanswered read are dropped (they
//! changed nothing). After the faults, final reads of every key close the histories; then the
//! checker decides, and the report counts acknowledged writes lost and the longest time no call
//! succeeded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tandem::client::{CallError, Client, ClientOptions, ConnectOptions, Connection, Value};

use crate::common::linearizability::{
    check, Bank, BankOp, Counter, CounterOp, Operation, Register, RegisterOp, Verdict,
};

pub const REGISTER_KEYS: usize = 3;
pub const COUNTER_KEYS: usize = 2;
pub const ACCOUNTS: usize = 4;
pub const INITIAL_BALANCE: i64 = 100;
/// The client id of the final reads.
const FINAL_CLIENT: usize = 999;

/// What to run.
#[derive(Clone, Debug)]
pub struct Workload {
    pub targets: Vec<String>,
    pub seed: u64,
    /// Clients per workload (register, counter, bank).
    pub clients: usize,
    /// Prefix of every key, so runs against one cluster never share keys.
    pub prefix: String,
    /// Pause between one client's calls, at most.
    pub think_ms_max: u64,
    /// A deliberately wrong register client: reads go to a random node with `READONLY` (stale
    /// reads allowed), so the checker has something real to catch.
    pub stale_reads: bool,
}

/// Everything the clients saw.
#[derive(Default)]
pub struct History {
    pub registers: BTreeMap<usize, Vec<Operation<RegisterOp>>>,
    pub counters: BTreeMap<usize, Vec<Operation<CounterOp>>>,
    pub bank: Vec<Operation<BankOp>>,
    /// Return times of every call that got a definite reply.
    pub successes: Vec<u64>,
    /// When the workload started and stopped (ns from the origin).
    pub span: (u64, u64),
    pub counts: Counts,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub ok: u64,
    /// Writes definitely not applied (refused, fenced) and reads no node answered.
    pub failed: u64,
    /// Writes whose outcome stayed unknown.
    pub indeterminate: u64,
    /// Replies of a shape the workload does not expect (kept as unknown outcomes when writes).
    pub unexpected: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.indeterminate += other.indeterminate;
        self.unexpected += other.unexpected;
    }
}

/// The drill's result.
pub struct Report {
    pub operations: usize,
    pub counts: Counts,
    pub acknowledged_writes_lost: u64,
    pub duplicated_increments: u64,
    pub money_not_conserved_reads: u64,
    pub longest_unavailable_ms: u64,
    /// When that stretch began, in ms from the origin.
    pub longest_unavailable_from_ms: u64,
    /// (history name, verdict text) of every partition that is not linearizable or unknown.
    pub failures: Vec<(String, String)>,
    pub partitions_checked: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
            && self.acknowledged_writes_lost == 0
            && self.duplicated_increments == 0
            && self.money_not_conserved_reads == 0
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let c = self.counts;
        let _ = writeln!(out, "operations: {} ({} ok, {} not applied or unanswered, {} indeterminate, {} unexpected replies)",
            self.operations, c.ok, c.failed, c.indeterminate, c.unexpected);
        let _ = writeln!(
            out,
            "acknowledged writes lost: {}",
            self.acknowledged_writes_lost
        );
        let _ = writeln!(
            out,
            "increments applied twice: {}",
            self.duplicated_increments
        );
        let _ = writeln!(
            out,
            "reads with money not conserved: {}",
            self.money_not_conserved_reads
        );
        let _ = writeln!(
            out,
            "longest unavailability: {} ms (from t={:.1} s)",
            self.longest_unavailable_ms,
            self.longest_unavailable_from_ms as f64 / 1000.0
        );
        let verdict = if self.passed() {
            "PASS: every history linearizable"
        } else {
            "FAIL"
        };
        let _ = writeln!(out, "histories checked: {}", self.partitions_checked);
        let _ = writeln!(out, "verdict: {verdict}");
        for (name, why) in &self.failures {
            let _ = writeln!(out, "  {name}: {why}");
        }
        out
    }
}

fn key(prefix: &str, kind: &str, i: usize) -> String {
    format!("{prefix}:{kind}:{i}")
}

fn args(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

/// Client options for a drill: short reply timeouts so a frozen node is left quickly.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        connect: ConnectOptions {
            connect_timeout: Duration::from_millis(500),
            reply_timeout: Duration::from_millis(1_500),
            ..ConnectOptions::default()
        },
        deadline: Duration::from_secs(5),
        resolve_for: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

fn nanos(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// Targets rotated so the client starts on a random node.
fn rotated(targets: &[String], rng: &mut StdRng) -> Vec<String> {
    let mut t = targets.to_vec();
    let by = rng.gen_range(0..t.len());
    t.rotate_left(by);
    t
}

/// How a write call ended, for the history.
enum Written<T> {
    Done(T),
    /// Definitely not applied: leave it out.
    Dropped,
    /// May or may not have happened.
    Unknown,
}

fn written<T>(
    result: Result<Value, CallError>,
    counts: &mut Counts,
    parse: impl Fn(&Value) -> Option<T>,
) -> Written<T> {
    match result {
        Ok(value) => match parse(&value) {
            Some(t) => {
                counts.ok += 1;
                Written::Done(t)
            }
            None => {
                eprintln!("chaos: unexpected write reply {value:?}");
                counts.unexpected += 1;
                Written::Unknown
            }
        },
        Err(CallError::NotApplied { .. } | CallError::CircuitOpen { .. }) => {
            counts.failed += 1;
            Written::Dropped
        }
        Err(_) => {
            counts.indeterminate += 1;
            Written::Unknown
        }
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        Value::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::Nil => Some(0),
        _ => None,
    }
}

/// Writes the initial balances; retries until the cluster takes them.
pub async fn setup(w: &Workload) {
    let mut client = Client::new(w.targets.clone(), client_options());
    let mut mset = vec!["MSET".to_string()];
    for a in 0..ACCOUNTS {
        mset.push(key(&w.prefix, "acct", a));
        mset.push(INITIAL_BALANCE.to_string());
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.write(&args(&mset)).await {
            Ok(Value::Simple(ok)) if ok == "OK" => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "setup: could not write the balances: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Runs every client until `stop`, then the final reads (after `healed` resolves).
pub async fn run(
    w: &Workload,
    origin: Instant,
    stop: Arc<AtomicBool>,
    healed: impl std::future::Future<Output = ()>,
) -> History {
    let mut history = History::default();
    let started = nanos(origin);
    let mut tasks = Vec::new();
    for c in 0..w.clients {
        for kind in 0..3usize {
            let id = kind * 100 + c;
            let w = w.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(w.seed ^ (id as u64 + 1).wrapping_mul(0x9e37));
                let client = Client::new(rotated(&w.targets, &mut rng), client_options());
                match kind {
                    0 => ClientRun::Register(
                        register_client(id, &w, client, rng, origin, stop).await,
                    ),
                    1 => {
                        ClientRun::Counter(counter_client(id, &w, client, rng, origin, stop).await)
                    }
                    _ => ClientRun::Bank(bank_client(id, &w, client, rng, origin, stop).await),
                }
            }));
        }
    }
    for task in tasks {
        match task.await.expect("client task") {
            ClientRun::Register((ops, successes, counts)) => {
                for (k, op) in ops {
                    history.registers.entry(k).or_default().push(op);
                }
                history.successes.extend(successes);
                history.counts.add(counts);
            }
            ClientRun::Counter((ops, successes, counts)) => {
                for (k, op) in ops {
                    history.counters.entry(k).or_default().push(op);
                }
                history.successes.extend(successes);
                history.counts.add(counts);
            }
            ClientRun::Bank((ops, successes, counts)) => {
                history.bank.extend(ops.into_iter().map(|(_, op)| op));
                history.successes.extend(successes);
                history.counts.add(counts);
            }
        }
    }
    history.span = (started, nanos(origin));
    healed.await;
    final_reads(w, origin, &mut history).await;
    history
}

type Run<O> = (Vec<(usize, Operation<O>)>, Vec<u64>, Counts);

enum ClientRun {
    Register(Run<RegisterOp>),
    Counter(Run<CounterOp>),
    Bank(Run<BankOp>),
}

async fn think(w: &Workload, rng: &mut StdRng) {
    let ms = rng.gen_range(0..=w.think_ms_max);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

async fn register_client(
    id: usize,
    w: &Workload,
    mut client: Client,
    mut rng: StdRng,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> Run<RegisterOp> {
    let (mut ops, mut successes, mut counts) = (Vec::new(), Vec::new(), Counts::default());
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let k = rng.gen_range(0..REGISTER_KEYS);
        let name = key(&w.prefix, "reg", k);
        let call = nanos(origin);
        if rng.gen_bool(0.5) {
            n += 1;
            let value = ((id as u64) << 32) | n;
            let result = client
                .write(&args(&["SET", &name, &value.to_string()]))
                .await;
            let ret = nanos(origin);
            let ok = |v: &Value| matches!(v, Value::Simple(s) if s == "OK").then_some(());
            match written(result, &mut counts, ok) {
                Written::Done(()) => {
                    successes.push(ret);
                    ops.push((
                        k,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: RegisterOp::Write(value),
                        },
                    ));
                }
                Written::Unknown => ops.push((
                    k,
                    Operation {
                        client: id,
                        call,
                        ret: None,
                        op: RegisterOp::Write(value),
                    },
                )),
                Written::Dropped => {}
            }
        } else {
            let result = if w.stale_reads {
                stale_get(&w.targets[rng.gen_range(0..w.targets.len())], &name).await
            } else {
                client.read(&args(&["GET", &name])).await
            };
            let ret = nanos(origin);
            let seen = match &result {
                Ok(Value::Nil) => Some(None),
                Ok(Value::Bulk(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .map(Some),
                _ => None,
            };
            match seen {
                Some(seen) => {
                    counts.ok += 1;
                    successes.push(ret);
                    ops.push((
                        k,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: RegisterOp::Read(seen),
                        },
                    ));
                }
                None if result.is_err() => counts.failed += 1,
                None => {
                    eprintln!("chaos: unexpected GET reply {result:?}");
                    counts.unexpected += 1;
                }
            }
        }
        think(w, &mut rng).await;
    }
    (ops, successes, counts)
}

/// GET on `target` itself, allowed to be stale (`READONLY`).
async fn stale_get(target: &str, name: &str) -> Result<Value, CallError> {
    let unavailable = |e: String| CallError::Unavailable {
        waited_ms: 0,
        last_error: e,
    };
    let mut connection = Connection::connect(target, &client_options().connect)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let replies = connection
        .pipeline(&[args(&["READONLY"]), args(&["GET", name])])
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    match replies.last() {
        Some(Value::Error(e)) => Err(unavailable(e.clone())),
        Some(v) => Ok(v.clone()),
        None => Err(unavailable("no reply".into())),
    }
}

async fn counter_client(
    id: usize,
    w: &Workload,
    mut client: Client,
    mut rng: StdRng,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> Run<CounterOp> {
    let (mut ops, mut successes, mut counts) = (Vec::new(), Vec::new(), Counts::default());
    while !stop.load(Ordering::Relaxed) {
        let k = rng.gen_range(0..COUNTER_KEYS);
        let name = key(&w.prefix, "ctr", k);
        let call = nanos(origin);
        if rng.gen_bool(0.7) {
            let result = client.write(&args(&["INCRBY", &name, "1"])).await;
            let ret = nanos(origin);
            let int = |v: &Value| match v {
                Value::Integer(n) => Some(*n),
                _ => None,
            };
            match written(result, &mut counts, int) {
                Written::Done(n) => {
                    successes.push(ret);
                    ops.push((
                        k,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: CounterOp::Incr {
                                by: 1,
                                result: Some(n),
                            },
                        },
                    ));
                }
                Written::Unknown => ops.push((
                    k,
                    Operation {
                        client: id,
                        call,
                        ret: None,
                        op: CounterOp::Incr {
                            by: 1,
                            result: None,
                        },
                    },
                )),
                Written::Dropped => {}
            }
        } else {
            let result = client.read(&args(&["GET", &name])).await;
            let ret = nanos(origin);
            match result.as_ref().ok().and_then(integer) {
                Some(n) => {
                    counts.ok += 1;
                    successes.push(ret);
                    ops.push((
                        k,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: CounterOp::Read(n),
                        },
                    ));
                }
                None if result.is_err() => counts.failed += 1,
                None => counts.unexpected += 1,
            }
        }
        think(w, &mut rng).await;
    }
    (ops, successes, counts)
}

fn balances(value: &Value) -> Option<Vec<i64>> {
    match value {
        Value::Array(items) if items.len() == ACCOUNTS => items.iter().map(integer).collect(),
        _ => None,
    }
}

async fn bank_client(
    id: usize,
    w: &Workload,
    mut client: Client,
    mut rng: StdRng,
    origin: Instant,
    stop: Arc<AtomicBool>,
) -> Run<BankOp> {
    let (mut ops, mut successes, mut counts) = (Vec::new(), Vec::new(), Counts::default());
    let names: Vec<String> = (0..ACCOUNTS).map(|a| key(&w.prefix, "acct", a)).collect();
    while !stop.load(Ordering::Relaxed) {
        let call = nanos(origin);
        if rng.gen_bool(0.6) {
            let from = rng.gen_range(0..ACCOUNTS);
            let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
            let amount = rng.gen_range(1..=10i64);
            let a = amount.to_string();
            let result = client
                .transaction(&[
                    args(&["DECRBY", &names[from], &a]),
                    args(&["INCRBY", &names[to], &a]),
                ])
                .await;
            let ret = nanos(origin);
            let pair = |v: &Value| match v {
                Value::Array(items) => match items.as_slice() {
                    [Value::Integer(f), Value::Integer(t)] => Some((*f, *t)),
                    _ => None,
                },
                _ => None,
            };
            match written(result, &mut counts, pair) {
                Written::Done(result) => {
                    successes.push(ret);
                    ops.push((
                        0,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: BankOp::Transfer {
                                from,
                                to,
                                amount,
                                result: Some(result),
                            },
                        },
                    ));
                }
                Written::Unknown => ops.push((
                    0,
                    Operation {
                        client: id,
                        call,
                        ret: None,
                        op: BankOp::Transfer {
                            from,
                            to,
                            amount,
                            result: None,
                        },
                    },
                )),
                Written::Dropped => {}
            }
        } else {
            let mut mget = vec!["MGET"];
            mget.extend(names.iter().map(String::as_str));
            let result = client.read(&args(&mget)).await;
            let ret = nanos(origin);
            match result.as_ref().ok().and_then(balances) {
                Some(seen) => {
                    counts.ok += 1;
                    successes.push(ret);
                    ops.push((
                        0,
                        Operation {
                            client: id,
                            call,
                            ret: Some(ret),
                            op: BankOp::Read(seen),
                        },
                    ));
                }
                None if result.is_err() => counts.failed += 1,
                None => counts.unexpected += 1,
            }
        }
        think(w, &mut rng).await;
    }
    (ops, successes, counts)
}

/// One read of every key once the cluster is whole again (retried for up to a minute): a write
/// acknowledged and then lost shows up here if no read during the run caught it.
async fn final_reads(w: &Workload, origin: Instant, history: &mut History) {
    let mut client = Client::new(w.targets.clone(), client_options());
    let deadline = Instant::now() + Duration::from_secs(60);
    async fn read_until(client: &mut Client, a: &[Bytes], deadline: Instant) -> Value {
        loop {
            match client.read(a).await {
                Ok(v) if !v.is_error() => return v,
                other => {
                    assert!(Instant::now() < deadline, "final read {a:?}: {other:?}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    for k in 0..REGISTER_KEYS {
        let call = nanos(origin);
        let v = read_until(
            &mut client,
            &args(&["GET", &key(&w.prefix, "reg", k)]),
            deadline,
        )
        .await;
        let seen = match &v {
            Value::Bulk(b) => Some(std::str::from_utf8(b).unwrap().parse().unwrap()),
            _ => None,
        };
        history.registers.entry(k).or_default().push(Operation {
            client: FINAL_CLIENT,
            call,
            ret: Some(nanos(origin)),
            op: RegisterOp::Read(seen),
        });
    }
    for k in 0..COUNTER_KEYS {
        let call = nanos(origin);
        let v = read_until(
            &mut client,
            &args(&["GET", &key(&w.prefix, "ctr", k)]),
            deadline,
        )
        .await;
        let n = integer(&v).expect("counter value");
        history.counters.entry(k).or_default().push(Operation {
            client: FINAL_CLIENT,
            call,
            ret: Some(nanos(origin)),
            op: CounterOp::Read(n),
        });
    }
    let call = nanos(origin);
    let mut mget = vec!["MGET".to_string()];
    mget.extend((0..ACCOUNTS).map(|a| key(&w.prefix, "acct", a)));
    let mget: Vec<&str> = mget.iter().map(String::as_str).collect();
    let v = read_until(&mut client, &args(&mget), deadline).await;
    let seen = balances(&v).expect("balances");
    history.bank.push(Operation {
        client: FINAL_CLIENT,
        call,
        ret: Some(nanos(origin)),
        op: BankOp::Read(seen),
    });
}

/// Runs the checker on every history and counts what was lost.
pub fn verify(history: &History, budget: Duration) -> Report {
    let mut failures = Vec::new();
    let mut partitions = 0;
    let mut note = |name: String, verdict: Verdict<String>| match verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => {
            let mut why = format!(
                "NOT linearizable: {} operations placed, then stuck on {:?} in state {}; concurrent:",
                v.linearized, v.stuck, v.state
            );
            for op in &v.concurrent {
                let _ = write!(why, "\n      {op:?}");
            }
            failures.push((name, why));
        }
        Verdict::Unknown { steps } => failures.push((
            name,
            format!("unknown: the search gave up after {steps} steps"),
        )),
    };
    let stringly = |v: Verdict<RegisterOp>| -> Verdict<String> { restring(v) };
    for (k, ops) in &history.registers {
        partitions += 1;
        note(
            format!("register {k} ({} ops)", ops.len()),
            stringly(check(&Register, ops, budget)),
        );
    }
    for (k, ops) in &history.counters {
        partitions += 1;
        note(
            format!("counter {k} ({} ops)", ops.len()),
            restring(check(&Counter, ops, budget)),
        );
    }
    partitions += 1;
    let bank = Bank {
        initial: vec![INITIAL_BALANCE; ACCOUNTS],
    };
    note(
        format!("bank ({} ops)", history.bank.len()),
        restring(check(&bank, &history.bank, budget)),
    );

    let operations = history.registers.values().map(Vec::len).sum::<usize>()
        + history.counters.values().map(Vec::len).sum::<usize>()
        + history.bank.len();
    let (lost, duplicated) = lost_writes(history);
    let gap = longest_gap(history);
    let total = INITIAL_BALANCE * ACCOUNTS as i64;
    let money_not_conserved_reads = history
        .bank
        .iter()
        .filter(|o| matches!(&o.op, BankOp::Read(b) if b.iter().sum::<i64>() != total))
        .count() as u64;
    Report {
        operations,
        counts: history.counts,
        acknowledged_writes_lost: lost,
        duplicated_increments: duplicated,
        money_not_conserved_reads,
        longest_unavailable_ms: gap.0 / 1_000_000,
        longest_unavailable_from_ms: gap.1 / 1_000_000,
        failures,
        partitions_checked: partitions,
    }
}

fn restring<O: std::fmt::Debug>(v: Verdict<O>) -> Verdict<String> {
    match v {
        Verdict::Linearizable => Verdict::Linearizable,
        Verdict::Unknown { steps } => Verdict::Unknown { steps },
        Verdict::NotLinearizable(x) => {
            let s = |o: &Operation<O>| Operation {
                client: o.client,
                call: o.call,
                ret: o.ret,
                op: format!("{:?}", o.op),
            };
            Verdict::NotLinearizable(Box::new(crate::common::linearizability::Violation {
                linearized: x.linearized,
                stuck: s(&x.stuck),
                state: x.state.clone(),
                concurrent: x.concurrent.iter().map(s).collect(),
            }))
        }
    }
}

/// Acknowledged writes the final reads do not reflect, and increments applied more often than
/// acknowledged + unknown ones allow.
///
/// A counter whose final value is below its acknowledged increments lost the difference. A
/// register whose final value was written by `w` lost every acknowledged write that started
/// after `w` returned (nothing could have overwritten those with `w`); a final nil loses them
/// all.
fn lost_writes(history: &History) -> (u64, u64) {
    let mut lost = 0u64;
    let mut duplicated = 0u64;
    for ops in history.counters.values() {
        let Some(CounterOp::Read(last)) = ops
            .iter()
            .rev()
            .find(|o| o.client == FINAL_CLIENT)
            .map(|o| &o.op)
        else {
            continue;
        };
        let acked = ops
            .iter()
            .filter(|o| {
                matches!(
                    o.op,
                    CounterOp::Incr {
                        result: Some(_),
                        ..
                    }
                )
            })
            .count() as i64;
        let unknown = ops
            .iter()
            .filter(|o| matches!(o.op, CounterOp::Incr { result: None, .. }))
            .count() as i64;
        lost += (acked - last).max(0) as u64;
        duplicated += (last - acked - unknown).max(0) as u64;
    }
    for ops in history.registers.values() {
        let Some(RegisterOp::Read(last)) = ops
            .iter()
            .rev()
            .find(|o| o.client == FINAL_CLIENT)
            .map(|o| &o.op)
        else {
            continue;
        };
        let after = match last {
            None => 0,
            Some(v) => match ops.iter().find(|o| o.op == RegisterOp::Write(*v)) {
                Some(w) => w.ret.unwrap_or(u64::MAX),
                None => continue, // a value no one wrote: the checker reports it
            },
        };
        lost += ops
            .iter()
            .filter(|o| matches!(o.op, RegisterOp::Write(_)) && o.ret.is_some() && o.call > after)
            .count() as u64;
    }
    (lost, duplicated)
}

/// The longest stretch of the workload in which no call got a definite reply: (length, start).
fn longest_gap(history: &History) -> (u64, u64) {
    let mut times = history.successes.clone();
    times.push(history.span.0);
    times.push(history.span.1);
    times.sort_unstable();
    times
        .windows(2)
        .map(|w| (w[1] - w[0], w[0]))
        .max()
        .unwrap_or((0, 0))
}
