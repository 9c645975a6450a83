//! A linearizability checker for client histories (Wing & Gong's search with Lowe's
//! memoisation, as Knossos and Porcupine do it): is there one order of the operations, each
//! placed somewhere between its call and its return, in which a sequential model gives every
//! recorded result? Operations whose outcome is unknown (a write that timed out) return at
//! infinity and accept any result, so they may take effect at any point after their call, or
//! never (placed last, nothing observes them).
//!
//! The search keeps the linearized set as a bitset and never visits a (set, state) pair twice,
//! which makes histories with little concurrency near linear to check. Operations with an
//! unknown outcome that are equal (the same increment, the same transfer) are interchangeable:
//! of two such, the one called first is always placed first, so the search never tries both
//! orders (many unknown increments would otherwise make it exponential). Models: a register
//! (SET/GET), a counter (INCRBY/GET) and a bank (transfers between accounts, reads of all
//! balances; money is conserved by construction of the model).

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Op: Clone + Debug + PartialEq;
    fn init(&self) -> Self::State;
    /// The state after `op`, or None if `op`'s recorded result is impossible in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One operation of a history: times are nanoseconds from any common origin.
#[derive(Clone, Debug)]
pub struct Operation<O> {
    pub client: usize,
    pub call: u64,
    /// None: the outcome is unknown (indeterminate); it may happen at any time after `call`.
    pub ret: Option<u64>,
    pub op: O,
}

/// Where the search got stuck: the operation that could not be placed before its return when
/// the most operations were placed, and the state at that point.
#[derive(Clone, Debug)]
pub struct Violation<O> {
    pub linearized: usize,
    pub stuck: Operation<O>,
    pub state: String,
    /// Operations overlapping `stuck` in real time (call before its return, return after its
    /// call), for the report.
    pub concurrent: Vec<Operation<O>>,
}

#[derive(Clone, Debug)]
pub enum Verdict<O> {
    Linearizable,
    NotLinearizable(Box<Violation<O>>),
    /// The search ran out of its time budget.
    Unknown {
        steps: u64,
    },
}

impl<O> Verdict<O> {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

const NIL: usize = usize::MAX;
/// The list head's index in the entry arrays.
const HEAD: usize = 0;

/// Checks `history` against `model`, giving up after `budget`.
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Op>],
    budget: Duration,
) -> Verdict<M::Op> {
    let n = history.len();
    if n == 0 {
        return Verdict::Linearizable;
    }
    // Events sorted by time; at equal times calls come first (the operations overlap).
    let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in history.iter().enumerate() {
        let ret = op.ret.unwrap_or(u64::MAX).max(op.call);
        events.push((op.call, 0, i));
        events.push((ret, 1, i));
    }
    events.sort_unstable();
    // Entry k + 1 is events[k]; entry 0 is the head of a doubly linked list of the entries not
    // yet linearized.
    let len = 2 * n + 1;
    let mut next = vec![NIL; len];
    let mut prev = vec![NIL; len];
    let mut is_call = vec![false; len];
    let mut op_of = vec![0usize; len];
    let mut return_of = vec![NIL; len];
    let mut call_entry = vec![NIL; n];
    for (k, &(_, kind, op)) in events.iter().enumerate() {
        let e = k + 1;
        prev[e] = e - 1;
        next[e - 1] = e;
        op_of[e] = op;
        if kind == 0 {
            is_call[e] = true;
            call_entry[op] = e;
        } else {
            return_of[call_entry[op]] = e;
        }
    }

    // For an operation with an unknown outcome: the latest-called equal operation with an
    // unknown outcome called no later, which must be placed before it (see the module header).
    let mut before_same: Vec<Option<usize>> = vec![None; n];
    let mut by_call: Vec<usize> = (0..n).filter(|&i| history[i].ret.is_none()).collect();
    by_call.sort_by_key(|&i| (history[i].call, i));
    for (k, &i) in by_call.iter().enumerate() {
        before_same[i] = by_call[..k]
            .iter()
            .rev()
            .find(|&&j| history[j].op == history[i].op)
            .copied();
    }
    let words = n.div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut state = model.init();
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    // The deepest point reached: (operations placed, stuck return entry, state there).
    let mut deepest: (usize, usize, Option<M::State>) = (0, NIL, None);
    let started = Instant::now();
    let mut steps: u64 = 0;
    let mut entry = next[HEAD];
    while next[HEAD] != NIL {
        steps += 1;
        if steps % 4096 == 0 && started.elapsed() > budget {
            return Verdict::Unknown { steps };
        }
        if is_call[entry] {
            let op = op_of[entry];
            let waits = before_same[op].is_some_and(|j| linearized[j / 64] & (1 << (j % 64)) == 0);
            if waits {
                entry = next[entry];
                continue;
            }
            if let Some(after) = model.step(&state, &history[op].op) {
                let mut placed = linearized.clone();
                placed[op / 64] |= 1 << (op % 64);
                if cache.insert((placed.clone(), after.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, after)));
                    linearized = placed;
                    lift(&mut next, &mut prev, entry, return_of[entry]);
                    entry = next[HEAD];
                    continue;
                }
            }
            entry = next[entry];
        } else {
            // A return whose operation is not placed yet: undo the last placement.
            if deepest.2.is_none() || stack.len() > deepest.0 {
                deepest = (stack.len(), entry, Some(state.clone()));
            }
            let Some((placed_entry, before)) = stack.pop() else {
                return Verdict::NotLinearizable(Box::new(violation(history, deepest, &op_of)));
            };
            state = before;
            let op = op_of[placed_entry];
            linearized[op / 64] &= !(1 << (op % 64));
            unlift(&mut next, &mut prev, placed_entry, return_of[placed_entry]);
            entry = next[placed_entry];
        }
    }
    Verdict::Linearizable
}

/// Removes a call entry and its return entry from the list.
fn lift(next: &mut [usize], prev: &mut [usize], call: usize, ret: usize) {
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call];
    next[prev[ret]] = next[ret];
    if next[ret] != NIL {
        prev[next[ret]] = prev[ret];
    }
}

/// Puts back what the matching [`lift`] removed (lifts are undone in reverse order).
fn unlift(next: &mut [usize], prev: &mut [usize], call: usize, ret: usize) {
    next[prev[ret]] = ret;
    if next[ret] != NIL {
        prev[next[ret]] = ret;
    }
    next[prev[call]] = call;
    prev[next[call]] = call;
}

fn violation<S: Debug, O: Clone>(
    history: &[Operation<O>],
    deepest: (usize, usize, Option<S>),
    op_of: &[usize],
) -> Violation<O> {
    let stuck = history[op_of[deepest.1]].clone();
    let stuck_ret = stuck.ret.unwrap_or(u64::MAX);
    let concurrent = history
        .iter()
        .filter(|o| o.call <= stuck_ret && o.ret.unwrap_or(u64::MAX) >= stuck.call)
        .take(40)
        .cloned()
        .collect();
    Violation {
        linearized: deepest.0,
        stuck,
        state: format!("{:?}", deepest.2),
        concurrent,
    }
}

/// A register: SET writes a value, GET reads it (None: the key does not exist yet). Values are
/// unique per write so a read names the write it saw.
pub struct Register;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    Write(u64),
    Read(Option<u64>),
}

impl Model for Register {
    type State = Option<u64>;
    type Op = RegisterOp;
    fn init(&self) -> Option<u64> {
        None
    }
    fn step(&self, state: &Option<u64>, op: &RegisterOp) -> Option<Option<u64>> {
        match op {
            RegisterOp::Write(v) => Some(Some(*v)),
            RegisterOp::Read(seen) => (seen == state).then_some(*state),
        }
    }
}

/// A counter: INCRBY answers the new value (None: unknown outcome), GET reads it (a missing key
/// reads 0).
pub struct Counter;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CounterOp {
    Incr { by: i64, result: Option<i64> },
    Read(i64),
}

impl Model for Counter {
    type State = i64;
    type Op = CounterOp;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, state: &i64, op: &CounterOp) -> Option<i64> {
        match op {
            CounterOp::Incr { by, result } => {
                let after = state + by;
                match result {
                    Some(seen) if *seen != after => None,
                    _ => Some(after),
                }
            }
            CounterOp::Read(seen) => (seen == state).then_some(*state),
        }
    }
}

/// Accounts holding balances: a transfer moves `amount` from one to another atomically
/// (MULTI DECRBY/INCRBY EXEC, answering both new balances; None: unknown outcome); a read sees
/// every balance at once (MGET). Balances may go negative; their sum never changes.
pub struct Bank {
    pub initial: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BankOp {
    Transfer {
        from: usize,
        to: usize,
        amount: i64,
        result: Option<(i64, i64)>,
    },
    Read(Vec<i64>),
}

impl Model for Bank {
    type State = Vec<i64>;
    type Op = BankOp;
    fn init(&self) -> Vec<i64> {
        self.initial.clone()
    }
    fn step(&self, state: &Vec<i64>, op: &BankOp) -> Option<Vec<i64>> {
        match op {
            BankOp::Transfer {
                from,
                to,
                amount,
                result,
            } => {
                let mut after = state.clone();
                after[*from] -= amount;
                after[*to] += amount;
                match result {
                    Some((f, t)) if (*f, *t) != (after[*from], after[*to]) => None,
                    _ => Some(after),
                }
            }
            BankOp::Read(seen) => (seen == state).then(|| state.clone()),
        }
    }
}
