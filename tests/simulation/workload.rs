//! The simulator's workloads beyond registers, and their checks:
//!
//! - **counters**: `INCRBY key 1` through a node's `Db` (a cluster member's writes are
//!   exactly-once through its session, src/node/exactly_once.rs) and `GET`; checked for
//!   linearizability with the counter model, no acknowledged increment lost and none applied
//!   twice (the final value lies between the acknowledged increments and those plus the unknown
//!   ones);
//! - **bank**: transfers as one transaction (`DECRBY a n`, `INCRBY b n`) and reads of every
//!   account at once (`MGET`); checked for linearizability with the bank model and money
//!   conserved in every read;
//! - **TTL registers under clock skew**: each node reads its own skewed wall clock
//!   ([`SimClocks`], injected through `ClusterOptions::clock`); writes are `SET key v PX ttl`
//!   plus `PEXPIRETIME key` in one transaction, so each write reveals the log time it was
//!   stamped with; reads are `GET`. Checked: log time never goes back between writes ordered in
//!   real time, every stamp lies within the clocks' bounds, no key expires earlier or later than
//!   its TTL allows given the skew, and (a finding, see docs/reliability.md) whether a value a
//!   read saw gone comes back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use tandem::cluster::WallClock;
use tandem::{Reply, Transaction};
use tokio::time::Instant;

use super::world::{classify, lock, now_ns, pick_node, Outcome, Shared, CALL_TIMEOUT};
use crate::common::linearizability::{check, Bank, BankOp, Counter, CounterOp, Verdict};

pub const COUNTER_KEYS: usize = 2;
pub const ACCOUNTS: usize = 4;
/// TTL of each TTL key (virtual ms): short, medium, long.
pub const TTL_MS: [u64; 3] = [150, 1_000, 4_000];
/// Budget of one linearizability search (real time).
const CHECK_BUDGET: Duration = Duration::from_secs(20);
/// The simulated epoch: every clock starts here plus its offset.
const EPOCH_MS: u64 = 1_800_000_000_000;
/// Rounding of clocks to whole milliseconds, allowed in the TTL bounds.
const ROUNDING_MS: u64 = 2;

/// One recorded call of a workload (times in virtual ns from the start).
#[derive(Clone, Debug)]
pub struct Rec<O> {
    pub client: usize,
    pub key: usize,
    pub call: u64,
    pub ret: Option<u64>,
    pub op: O,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtlOp {
    /// `SET key value PX ttl` + `PEXPIRETIME key`: the log time it was stamped with, when known.
    Write {
        value: u64,
        stamp_ms: Option<u64>,
    },
    Read(Option<u64>),
}

/// The histories of the extra workloads.
#[derive(Default)]
pub struct Histories {
    pub counters: Vec<Rec<CounterOp>>,
    pub bank: Vec<Rec<BankOp>>,
    pub ttl: Vec<Rec<TtlOp>>,
    /// Findings that are not violations (see [`check_ttl`]).
    pub findings: Vec<String>,
}

impl Histories {
    pub fn len(&self) -> usize {
        self.counters.len() + self.bank.len() + self.ttl.len()
    }

    pub fn unknown(&self) -> usize {
        self.counters.iter().filter(|r| r.ret.is_none()).count()
            + self.bank.iter().filter(|r| r.ret.is_none()).count()
            + self.ttl.iter().filter(|r| r.ret.is_none()).count()
    }

    /// One line per call, for the history hash.
    pub fn lines(&self) -> Vec<String> {
        let line = |kind: &str, client, key, call, ret: Option<u64>, op: String| {
            format!("{kind} client {client} k{key} call {call} ret {ret:?} {op}")
        };
        let mut lines = Vec::new();
        for r in &self.counters {
            lines.push(line(
                "counter",
                r.client,
                r.key,
                r.call,
                r.ret,
                format!("{:?}", r.op),
            ));
        }
        for r in &self.bank {
            lines.push(line(
                "bank",
                r.client,
                r.key,
                r.call,
                r.ret,
                format!("{:?}", r.op),
            ));
        }
        for r in &self.ttl {
            lines.push(line(
                "ttl",
                r.client,
                r.key,
                r.call,
                r.ret,
                format!("{:?}", r.op),
            ));
        }
        lines
    }
}

/// Every node's wall clock: the simulated epoch plus virtual time plus the node's offset.
/// Offsets are drawn per run within ±`max_ms`; a clock jump (a fault) draws a node's offset
/// again. The bounds every offset ever had are kept for the checks.
#[derive(Clone)]
pub struct SimClocks {
    started: Instant,
    offsets: Arc<Vec<AtomicI64>>,
    pub max_ms: i64,
    bounds: Arc<std::sync::Mutex<(i64, i64)>>,
}

impl SimClocks {
    pub fn new(rng: &mut StdRng, nodes: u64, max_ms: i64, started: Instant) -> SimClocks {
        let offsets: Vec<AtomicI64> = (0..nodes)
            .map(|_| {
                AtomicI64::new(if max_ms > 0 {
                    rng.gen_range(-max_ms..=max_ms)
                } else {
                    0
                })
            })
            .collect();
        let low = offsets
            .iter()
            .map(|o| o.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0);
        let high = offsets
            .iter()
            .map(|o| o.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        SimClocks {
            started,
            offsets: Arc::new(offsets),
            max_ms,
            bounds: Arc::new(std::sync::Mutex::new((low, high))),
        }
    }

    /// Node `id`'s clock, as the node reads it.
    pub fn clock(&self, id: u64) -> WallClock {
        let clocks = self.clone();
        WallClock::from_fn(move || clocks.now_ms(id))
    }

    pub fn now_ms(&self, id: u64) -> u64 {
        let elapsed = Instant::now()
            .saturating_duration_since(self.started)
            .as_millis() as i64;
        let offset = self.offsets[id as usize - 1].load(Ordering::Relaxed);
        (EPOCH_MS as i64 + elapsed + offset) as u64
    }

    /// Node `id`'s clock jumps: a new offset within ±max. Returns the old and new offsets.
    pub fn jump(&self, id: u64, rng: &mut StdRng) -> (i64, i64) {
        let new = rng.gen_range(-self.max_ms..=self.max_ms);
        let old = self.offsets[id as usize - 1].swap(new, Ordering::Relaxed);
        let mut bounds = self.bounds.lock().unwrap_or_else(|e| e.into_inner());
        *bounds = (bounds.0.min(new), bounds.1.max(new));
        (old, new)
    }

    /// The lowest and highest offset any clock had.
    pub fn bounds(&self) -> (i64, i64) {
        *self.bounds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which workload a client runs.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Counter,
    Bank,
    Ttl,
}

async fn call<T>(
    world: &Shared,
    rng: &mut StdRng,
    f: impl AsyncFnOnce(tandem::Db) -> Result<T, tandem::Error>,
) -> Option<Outcome<T>> {
    let (db, death) = pick_node(world, rng)?;
    Some(tokio::select! {
        biased;
        result = tokio::time::timeout(CALL_TIMEOUT, f(db)) => classify(result),
        _ = death.wait() => Outcome::Unknown,
    })
}

/// One workload client: calls until `end`.
pub(super) async fn client_loop(
    world: Shared,
    kind: Kind,
    client: usize,
    mut rng: StdRng,
    end: Instant,
) {
    let started = lock(&world).started;
    let mut written = 0u64;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..30))).await;
        let at = now_ns(started);
        match kind {
            Kind::Counter => counter_call(&world, client, &mut rng, at).await,
            Kind::Bank => bank_call(&world, client, &mut rng, at).await,
            Kind::Ttl => {
                written += 1;
                ttl_call(&world, client, &mut rng, at, written).await
            }
        }
    }
}

fn integer(reply: &Reply) -> Option<i64> {
    match reply {
        Reply::Integer(n) => Some(*n),
        Reply::Bulk(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        Reply::Nil => Some(0),
        _ => None,
    }
}

async fn counter_call(world: &Shared, client: usize, rng: &mut StdRng, call_at: u64) {
    let started = lock(world).started;
    let key = rng.gen_range(0..COUNTER_KEYS);
    let name = format!("c{key}");
    let op = if rng.gen_bool(0.6) {
        let outcome = call(world, rng, async |db| db.incr_by(&name, 1).await).await;
        match outcome {
            None | Some(Outcome::Refused) => None,
            Some(Outcome::Done(value)) => Some((
                Some(now_ns(started)),
                CounterOp::Incr {
                    by: 1,
                    result: Some(value),
                },
            )),
            Some(Outcome::Unknown) if lock(world).resend_increments() => {
                // The injected client bug (`TANDEM_SIM_BUG=resend-incr`): an increment whose
                // outcome is unknown is sent again through another node as a new request and
                // recorded as one increment, as a client without exactly-once sessions would.
                match call(world, rng, async |db| db.incr_by(&name, 1).await).await {
                    Some(Outcome::Done(value)) => Some((
                        Some(now_ns(started)),
                        CounterOp::Incr {
                            by: 1,
                            result: Some(value),
                        },
                    )),
                    _ => Some((
                        None,
                        CounterOp::Incr {
                            by: 1,
                            result: None,
                        },
                    )),
                }
            }
            Some(Outcome::Unknown) => Some((
                None,
                CounterOp::Incr {
                    by: 1,
                    result: None,
                },
            )),
        }
    } else {
        match call(world, rng, async |db| db.get(&name).await).await {
            Some(Outcome::Done(value)) => {
                let seen = value.map_or(Some(0), |bytes| integer(&Reply::Bulk(bytes)));
                Some((
                    Some(now_ns(started)),
                    CounterOp::Read(seen.unwrap_or(i64::MIN)),
                ))
            }
            _ => None,
        }
    };
    if let Some((ret, op)) = op {
        lock(world).extra.counters.push(Rec {
            client,
            key,
            call: call_at,
            ret,
            op,
        });
    }
}

fn mget_args() -> Vec<String> {
    let mut args = vec!["MGET".to_string()];
    args.extend((0..ACCOUNTS).map(|a| format!("a{a}")));
    args
}

fn balances(reply: &Reply) -> Option<Vec<i64>> {
    match reply {
        Reply::Array(items) if items.len() == ACCOUNTS => items.iter().map(integer).collect(),
        _ => None,
    }
}

async fn bank_call(world: &Shared, client: usize, rng: &mut StdRng, call_at: u64) {
    let started = lock(world).started;
    let op = if rng.gen_bool(0.6) {
        let from = rng.gen_range(0..ACCOUNTS);
        // Money moves around a ring, 1 or 2 at a time: few distinct transfers, and equal ones
        // with unknown outcomes are interchangeable for the checker, which keeps its search
        // small when many transfers end unknown (a history with transfers between any two
        // accounts made it give up on some seeds).
        let to = (from + 1) % ACCOUNTS;
        let amount: i64 = rng.gen_range(1..=2);
        let (a, b, n) = (format!("a{from}"), format!("a{to}"), amount.to_string());
        let transaction = Transaction::from_args(
            Vec::new(),
            &[
                &["DECRBY", a.as_str(), n.as_str()][..],
                &["INCRBY", b.as_str(), n.as_str()][..],
            ],
        )
        .expect("transfer parses");
        let outcome = call(world, rng, async |db| db.transaction(transaction).await).await;
        let transfer = |result| BankOp::Transfer {
            from,
            to,
            amount,
            result,
        };
        match outcome {
            None | Some(Outcome::Refused) => None,
            Some(Outcome::Done(Some(replies))) => {
                let result = match replies.as_slice() {
                    [f, t] => integer(f).zip(integer(t)),
                    _ => None,
                };
                match result {
                    Some(pair) => Some((Some(now_ns(started)), transfer(Some(pair)))),
                    None => {
                        lock(world).violations.push(format!(
                            "a transfer got replies of the wrong shape: {replies:?}"
                        ));
                        Some((None, transfer(None)))
                    }
                }
            }
            Some(Outcome::Done(None)) => None,
            Some(Outcome::Unknown) => Some((None, transfer(None))),
        }
    } else {
        let args = mget_args();
        match call(world, rng, async |db| db.execute_args(&args).await).await {
            Some(Outcome::Done(reply)) => match balances(&reply) {
                Some(seen) => Some((Some(now_ns(started)), BankOp::Read(seen))),
                None => {
                    lock(world)
                        .violations
                        .push(format!("MGET of the accounts answered {reply:?}"));
                    None
                }
            },
            _ => None,
        }
    };
    if let Some((ret, op)) = op {
        lock(world).extra.bank.push(Rec {
            client,
            key: 0,
            call: call_at,
            ret,
            op,
        });
    }
}

fn ttl_value(client: usize, written: u64) -> u64 {
    (client as u64 + 1) * 1_000_000 + written
}

fn parse_u64(value: Option<Bytes>) -> Option<u64> {
    value.map(|bytes| {
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    })
}

async fn ttl_call(world: &Shared, client: usize, rng: &mut StdRng, call_at: u64, written: u64) {
    let started = lock(world).started;
    let key = rng.gen_range(0..TTL_MS.len());
    let name = format!("t{key}");
    let op = if rng.gen_bool(0.4) {
        let value = ttl_value(client, written);
        let (v, px) = (value.to_string(), TTL_MS[key].to_string());
        let transaction = Transaction::from_args(
            Vec::new(),
            &[
                &["SET", name.as_str(), v.as_str(), "PX", px.as_str()][..],
                &["PEXPIRETIME", name.as_str()][..],
            ],
        )
        .expect("TTL write parses");
        match call(world, rng, async |db| db.transaction(transaction).await).await {
            None | Some(Outcome::Refused) | Some(Outcome::Done(None)) => None,
            Some(Outcome::Done(Some(replies))) => {
                let stamp_ms = match replies.as_slice() {
                    [_, Reply::Integer(at)] if *at > 0 => Some(*at as u64 - TTL_MS[key]),
                    _ => {
                        lock(world)
                            .violations
                            .push(format!("a TTL write got replies {replies:?}"));
                        None
                    }
                };
                Some((Some(now_ns(started)), TtlOp::Write { value, stamp_ms }))
            }
            Some(Outcome::Unknown) => Some((
                None,
                TtlOp::Write {
                    value,
                    stamp_ms: None,
                },
            )),
        }
    } else {
        match call(world, rng, async |db| db.get(&name).await).await {
            Some(Outcome::Done(value)) => {
                Some((Some(now_ns(started)), TtlOp::Read(parse_u64(value))))
            }
            _ => None,
        }
    };
    if let Some((ret, op)) = op {
        lock(world).extra.ttl.push(Rec {
            client,
            key,
            call: call_at,
            ret,
            op,
        });
    }
}

/// The final reads of counters and accounts (TTL keys need none), part of the histories.
pub(super) async fn final_reads(world: &Shared, client: usize) {
    let started = lock(world).started;
    let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(2);
    for key in 0..COUNTER_KEYS {
        let call_at = now_ns(started);
        match call(world, &mut rng, async |db| db.get(format!("c{key}")).await).await {
            Some(Outcome::Done(value)) => {
                let seen = value.map_or(Some(0), |bytes| integer(&Reply::Bulk(bytes)));
                let op = CounterOp::Read(seen.unwrap_or(i64::MIN));
                let ret = Some(now_ns(started));
                lock(world).extra.counters.push(Rec {
                    client,
                    key,
                    call: call_at,
                    ret,
                    op,
                });
            }
            _ => lock(world)
                .violations
                .push(format!("the final read of c{key} failed")),
        }
    }
    let call_at = now_ns(started);
    let args = mget_args();
    let read = call(world, &mut rng, async |db| db.execute_args(&args).await).await;
    match read.and_then(|o| match o {
        Outcome::Done(reply) => balances(&reply),
        _ => None,
    }) {
        Some(seen) => {
            let ret = Some(now_ns(started));
            lock(world).extra.bank.push(Rec {
                client,
                key: 0,
                call: call_at,
                ret,
                op: BankOp::Read(seen),
            });
        }
        None => lock(world)
            .violations
            .push("the final read of the accounts failed".to_string()),
    }
}

fn ops<O: Clone>(recs: &[&Rec<O>]) -> Vec<crate::common::linearizability::Operation<O>> {
    recs.iter()
        .map(|r| crate::common::linearizability::Operation {
            client: r.client,
            call: r.call,
            ret: r.ret,
            op: r.op.clone(),
        })
        .collect()
}

fn verdict<O: std::fmt::Debug>(what: &str, verdict: Verdict<O>, violations: &mut Vec<String>) {
    match verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(v) => violations.push(format!(
            "{what} is not linearizable: stuck at {:?} in state {} after {} operations; concurrent: {:?}",
            v.stuck, v.state, v.linearized, v.concurrent
        )),
        Verdict::Unknown { steps } => {
            violations.push(format!("{what}: the checker gave up after {steps} steps"))
        }
    }
}

/// Counters: linearizable, and the final value between the acknowledged increments and those
/// plus the unknown ones.
pub fn check_counters(h: &Histories, final_client: usize, violations: &mut Vec<String>) {
    for key in 0..COUNTER_KEYS {
        let recs: Vec<&Rec<CounterOp>> = h.counters.iter().filter(|r| r.key == key).collect();
        verdict(
            &format!("c{key}"),
            check(&Counter, &ops(&recs), CHECK_BUDGET),
            violations,
        );
        let acked = recs
            .iter()
            .filter(|r| {
                matches!(
                    r.op,
                    CounterOp::Incr {
                        result: Some(_),
                        ..
                    }
                )
            })
            .count() as i64;
        let unknown = recs
            .iter()
            .filter(|r| matches!(r.op, CounterOp::Incr { result: None, .. }))
            .count() as i64;
        let Some(last) = recs
            .iter()
            .rev()
            .find(|r| r.client == final_client)
            .and_then(|r| match r.op {
                CounterOp::Read(v) => Some(v),
                _ => None,
            })
        else {
            continue;
        };
        if last < acked {
            violations.push(format!(
                "c{key}: acknowledged increments lost: final value {last}, {acked} acknowledged"
            ));
        }
        if last > acked + unknown {
            violations.push(format!(
                "c{key}: increments applied twice: final value {last}, {acked} acknowledged + {unknown} unknown"
            ));
        }
    }
}

/// The bank: linearizable, and every read sums to zero (the accounts start empty).
pub fn check_bank(h: &Histories, violations: &mut Vec<String>) {
    for r in &h.bank {
        if let BankOp::Read(seen) = &r.op {
            if seen.iter().sum::<i64>() != 0 {
                violations.push(format!(
                    "money not conserved: a read at {} ns saw {seen:?}",
                    r.call
                ));
            }
        }
    }
    let recs: Vec<&Rec<BankOp>> = h.bank.iter().collect();
    let bank = Bank {
        initial: vec![0; ACCOUNTS],
    };
    verdict(
        "the bank",
        check(&bank, &ops(&recs), CHECK_BUDGET),
        violations,
    );
}

/// TTL keys under skew (offsets between `low` and `high` ms): see the module header. A value
/// coming back after a read saw it gone is a violation without skew and a finding with it.
pub fn check_ttl(h: &mut Histories, (low, high): (i64, i64), violations: &mut Vec<String>) {
    let span = (high - low) as u64 + ROUNDING_MS;
    let ms = |ns: u64| ns / 1_000_000;
    let writes: BTreeMap<u64, &Rec<TtlOp>> = h
        .ttl
        .iter()
        .filter_map(|r| match r.op {
            TtlOp::Write { value, .. } => Some((value, r)),
            TtlOp::Read(_) => None,
        })
        .collect();
    // Stamps: within the clocks' bounds, and never back between writes ordered in real time.
    let mut stamped: Vec<(u64, u64, u64)> = Vec::new(); // (call ns, ret ns, stamp ms)
    for r in &h.ttl {
        if let (
            TtlOp::Write {
                stamp_ms: Some(stamp),
                ..
            },
            Some(ret),
        ) = (&r.op, r.ret)
        {
            let earliest = (EPOCH_MS + ms(r.call)) as i64 + low - ROUNDING_MS as i64;
            let latest = (EPOCH_MS + ms(ret)) as i64 + high + ROUNDING_MS as i64;
            if (*stamp as i64) < earliest || *stamp as i64 > latest {
                violations.push(format!(
                    "t{}: a write called at {} ms and answered at {} ms was stamped {} ms, outside the clocks' bounds [{}, {}]",
                    r.key, ms(r.call), ms(ret), *stamp as i64 - EPOCH_MS as i64,
                    earliest - EPOCH_MS as i64, latest - EPOCH_MS as i64
                ));
            }
            stamped.push((r.call, ret, *stamp));
        }
    }
    stamped.sort_unstable();
    let mut by_ret = stamped.clone();
    by_ret.sort_unstable_by_key(|s| s.1);
    // For each write, the highest stamp of writes that returned before it was called.
    let mut highest: Option<(u64, u64)> = None; // (stamp, ret)
    let mut j = 0;
    let mut backwards = 0;
    let mut example = None;
    for &(call, _, stamp) in &stamped {
        while j < by_ret.len() && by_ret[j].1 < call {
            if highest.is_none_or(|(s, _)| by_ret[j].2 > s) {
                highest = Some((by_ret[j].2, by_ret[j].1));
            }
            j += 1;
        }
        if let Some((before, _)) = highest.filter(|(before, _)| stamp < *before) {
            backwards += 1;
            example.get_or_insert((ms(call), before - stamp));
        }
    }
    if let Some((at, by)) = example {
        violations.push(format!(
            "log time went back {backwards} time(s): e.g. a write called at {at} ms was stamped {by} ms before a write that had already returned"
        ));
    }
    for read in &h.ttl {
        let (TtlOp::Read(seen), Some(read_ret)) = (&read.op, read.ret) else {
            continue;
        };
        let ttl = TTL_MS[read.key];
        match seen {
            // Expired too early: a write that returned before the read was called is at most
            // `span` older by the read's clock than by real time.
            None => {
                let early = h.ttl.iter().find(|w| {
                    w.key == read.key
                        && matches!(w.op, TtlOp::Write { .. })
                        && w.ret.is_some_and(|ret| ret < read.call)
                        && ms(read_ret) + span < ms(w.call) + ttl
                });
                if let Some(w) = early {
                    violations.push(format!(
                        "t{}: read as expired at {}-{} ms, but a write called at {} ms with a {ttl} ms TTL had returned (skew span {span} ms)",
                        read.key, ms(read.call), ms(read_ret), ms(w.call)
                    ));
                }
            }
            Some(value) => match writes.get(value) {
                None => violations.push(format!(
                    "t{}: read a value never written: {value}",
                    read.key
                )),
                Some(w) => {
                    if let Some(ret) = w.ret.filter(|ret| ms(read.call) > ms(*ret) + ttl + span) {
                        violations.push(format!(
                            "t{}: value {value} (written by {} ms) still read at {} ms, past its {ttl} ms TTL (skew span {span} ms)",
                            read.key, ms(ret), ms(read.call)
                        ));
                    }
                }
            },
        }
    }
    // A value a read saw gone (expired or overwritten, after its write returned) never comes
    // back: its one write is applied once.
    let mut back = Vec::new();
    for (value, w) in &writes {
        let Some(w_ret) = w.ret else { continue };
        let gone = h.ttl.iter().filter(|r| {
            r.key == w.key
                && r.call > w_ret
                && r.ret.is_some()
                && r.op != TtlOp::Read(Some(*value))
                && matches!(r.op, TtlOp::Read(_))
        });
        let first_gone = gone.filter_map(|r| r.ret).min();
        let Some(gone_at) = first_gone else { continue };
        if let Some(r) = h
            .ttl
            .iter()
            .find(|r| r.key == w.key && r.call > gone_at && r.op == TtlOp::Read(Some(*value)))
        {
            back.push(format!(
                "t{}: value {value} read as gone by {} ms, then read again at {} ms",
                w.key,
                ms(gone_at),
                ms(r.call)
            ));
        }
    }
    if !back.is_empty() {
        let text = format!(
            "{} TTL value(s) came back after a read saw them gone, e.g. {}",
            back.len(),
            back[0]
        );
        if high == low {
            violations.push(text);
        } else {
            h.findings.push(text);
        }
    }
}
