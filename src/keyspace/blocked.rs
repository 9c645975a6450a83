//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN, ...), as replicated state.
//!
//! A blocking command that finds nothing to pop registers a waiter here through the log; a later
//! write that gives one of its keys an element serves it in the same apply, so the pop and the
//! write are one step on every replica, and the waiter's node hands the reply to its client.
//! Invariants: waiters are served in the order they registered, per key; a waiter is only
//! served by entries of the term it registered in (a new leader's first entry drops older ones,
//! whose clients may be gone with the old leader); and everything here is a pure function of
//! the log, so it is part of snapshots and of the digest. `ready` is scratch within one apply.

use bytes::Bytes;
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

use super::list::ListEnd;
use super::stream::StreamId;

/// Most clients blocked at once in one group; one more gets an error instead of blocking.
pub const BLOCKED_CLIENTS_MAX: usize = 100_000;

/// A blocked request: the node its client is connected to, that node's connection id, and a
/// per-connection request number (a re-registration is a new waiter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WaiterId {
    pub node: u64,
    pub client: u64,
    pub request: u64,
}

/// A sorted-set end (lowest or highest score).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoreEnd {
    Min,
    Max,
}

/// What a waiter pops once one of its keys has something. `count: None` is the single-element
/// form (BLPOP, BZPOPMIN) and `Some(n)` the multi-pop form (BLMPOP, BZMPOP), which reply
/// differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockedPop {
    List {
        side: ListEnd,
        count: Option<u64>,
    },
    /// BLMOVE / BRPOPLPUSH: pop from `from` of the ready key, push at `to` of `destination`.
    ListMove {
        from: ListEnd,
        to: ListEnd,
        destination: Bytes,
    },
    ZSet {
        end: ScoreEnd,
        count: Option<u64>,
    },
    /// XREAD: the entries of a ready key after its id in `after` (one id per key, in the
    /// waiter's key order; `$` was resolved when the waiter registered).
    StreamRead {
        count: Option<u64>,
        after: Vec<StreamId>,
    },
    /// XREADGROUP with `>`: the entries `group` has not delivered yet, delivered to `consumer`
    /// (and recorded as pending unless `no_ack`).
    StreamGroup {
        group: Bytes,
        consumer: Bytes,
        count: Option<u64>,
        no_ack: bool,
    },
}

/// One blocked request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub id: WaiterId,
    /// The keys it waits on, in the order given; the first ready one is served.
    pub keys: Vec<Bytes>,
    pub pop: BlockedPop,
    /// The leader term of the entry that registered it.
    pub term: u64,
}

/// Why a waiter could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Already `BLOCKED_CLIENTS_MAX` waiters.
    Full,
    /// The same id is already waiting.
    Duplicate,
}

/// The waiters of one group, by registration order and by key.
#[derive(Clone, Default)]
pub struct Blocked {
    /// Registration sequence → waiter (FIFO order).
    waiters: OrdMap<u64, Waiter>,
    by_id: OrdMap<WaiterId, u64>,
    /// Key → sequences of the waiters on it.
    by_key: OrdMap<Bytes, OrdSet<u64>>,
    next_seq: u64,
    /// Keys that got elements during the current apply and have waiters (deduplicated).
    ready: Vec<Bytes>,
}

impl std::fmt::Debug for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocked")
            .field("waiters", &self.waiters.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Blocked {
    /// Logical equality: the same waiters in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.waiters.len() == other.waiters.len()
            && self.waiters.values().eq(other.waiters.values())
    }
}

impl Blocked {
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Adds a waiter at the back of every queue it joins.
    pub fn register(&mut self, waiter: Waiter) -> Result<(), RegisterError> {
        if self.by_id.contains_key(&waiter.id) {
            return Err(RegisterError::Duplicate);
        }
        if self.waiters.len() >= BLOCKED_CLIENTS_MAX {
            return Err(RegisterError::Full);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        for key in &waiter.keys {
            self.by_key.entry(key.clone()).or_default().insert(seq);
        }
        self.by_id.insert(waiter.id, seq);
        self.waiters.insert(seq, waiter);
        Ok(())
    }

    /// Removes a waiter (served, timed out, disconnected); None if it is not waiting.
    pub fn remove(&mut self, id: &WaiterId) -> Option<Waiter> {
        let seq = self.by_id.remove(id)?;
        let waiter = self.waiters.remove(&seq)?;
        for key in &waiter.keys {
            if let Some(queue) = self.by_key.get_mut(key) {
                queue.remove(&seq);
                if queue.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
        Some(waiter)
    }

    /// Notes that `key` may now have something to pop, if anyone waits on it.
    pub fn signal(&mut self, key: &Bytes) {
        if self.by_key.contains_key(key) && !self.ready.contains(key) {
            self.ready.push(key.clone());
        }
    }

    /// Notes every key someone waits on (FLUSHALL: waiters on streams must hear that their
    /// key is gone).
    pub fn signal_all(&mut self) {
        let keys: Vec<Bytes> = self.by_key.keys().cloned().collect();
        for key in keys {
            self.signal(&key);
        }
    }

    /// The keys signalled since the last call, in signalling order.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.ready)
    }

    /// The waiters on `key`, oldest first.
    pub fn waiting_on(&self, key: &[u8]) -> Vec<WaiterId> {
        self.by_key
            .get(key)
            .into_iter()
            .flat_map(|queue| queue.iter())
            .filter_map(|seq| self.waiters.get(seq).map(|w| w.id))
            .collect()
    }

    pub fn get(&self, id: &WaiterId) -> Option<&Waiter> {
        self.by_id.get(id).and_then(|seq| self.waiters.get(seq))
    }

    /// Removes every waiter registered before `term`; returns them, oldest first.
    pub fn drop_before_term(&mut self, term: u64) -> Vec<Waiter> {
        let stale: Vec<WaiterId> = self
            .waiters
            .values()
            .filter(|w| w.term < term)
            .map(|w| w.id)
            .collect();
        stale.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Every waiter, oldest first (snapshots and the digest).
    pub fn iter(&self) -> impl Iterator<Item = &Waiter> + '_ {
        self.waiters.values()
    }

    /// Rebuilds the table from a snapshot's list (oldest first).
    pub fn from_waiters(waiters: Vec<Waiter>) -> Result<Blocked, RegisterError> {
        let mut blocked = Blocked::default();
        for waiter in waiters {
            blocked.register(waiter)?;
        }
        Ok(blocked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(client: u64, keys: &[&str], term: u64) -> Waiter {
        Waiter {
            id: WaiterId {
                node: 1,
                client,
                request: 0,
            },
            keys: keys.iter().map(|k| Bytes::from(k.to_string())).collect(),
            pop: BlockedPop::List {
                side: ListEnd::Left,
                count: None,
            },
            term,
        }
    }

    #[test]
    fn waiters_are_kept_in_registration_order_per_key() {
        let mut blocked = Blocked::default();
        blocked.register(waiter(1, &["a", "b"], 1)).unwrap();
        blocked.register(waiter(2, &["b"], 1)).unwrap();
        blocked.register(waiter(3, &["a"], 1)).unwrap();
        let clients = |ids: Vec<WaiterId>| ids.into_iter().map(|id| id.client).collect::<Vec<_>>();
        assert_eq!(clients(blocked.waiting_on(b"a")), [1, 3]);
        assert_eq!(clients(blocked.waiting_on(b"b")), [1, 2]);
        let first = blocked.waiting_on(b"a")[0];
        assert!(blocked.remove(&first).is_some());
        assert!(blocked.remove(&first).is_none(), "removed once");
        assert_eq!(clients(blocked.waiting_on(b"b")), [2]);
        assert_eq!(
            blocked.register(waiter(2, &["c"], 1)),
            Err(RegisterError::Duplicate)
        );
    }

    #[test]
    fn signals_only_keys_with_waiters_once_each() {
        let mut blocked = Blocked::default();
        blocked.register(waiter(1, &["a"], 1)).unwrap();
        blocked.signal(&Bytes::from("x"));
        blocked.signal(&Bytes::from("a"));
        blocked.signal(&Bytes::from("a"));
        assert_eq!(blocked.take_ready(), vec![Bytes::from("a")]);
        assert!(blocked.take_ready().is_empty());
    }

    #[test]
    fn a_new_term_drops_older_waiters_and_clones_are_independent() {
        let mut blocked = Blocked::default();
        blocked.register(waiter(1, &["a"], 1)).unwrap();
        blocked.register(waiter(2, &["a"], 2)).unwrap();
        let before = blocked.clone();
        let dropped = blocked.drop_before_term(2);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].id.client, 1);
        assert_eq!(blocked.len(), 1);
        assert_eq!(before.len(), 2, "a snapshot clone keeps its waiters");
        let rebuilt = Blocked::from_waiters(before.iter().cloned().collect()).unwrap();
        assert_eq!(rebuilt, before);
    }
}
