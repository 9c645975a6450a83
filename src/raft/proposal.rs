//! The payload of one log entry: a batch of operations stamped with the leader's clock.
//!
//! Apply reads time only from `time_ms`, never from the local clock, so every replica computes
//! the same expiries. The batcher keeps `time_ms` non-decreasing along the log. Each op yields
//! exactly one reply; delivering it is the write path's business (`crate::cluster`).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use crate::command::{Command, Transaction};

/// One log entry's worth of client work.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Wall-clock milliseconds on the proposing leader; the "now" of every op in the batch.
    pub time_ms: u64,
    pub ops: Vec<Op>,
    /// The batcher's "not yet flushed" slot, freed by the log store once this entry is fsynced
    /// in the local WAL. Only the proposing node's in-memory copy carries one; it is not part
    /// of the entry's value and never written to the log.
    #[serde(skip)]
    pub(crate) flushed: FlushSlot,
}

impl Proposal {
    pub fn new(time_ms: u64, ops: Vec<Op>) -> Self {
        Self {
            time_ms,
            ops,
            flushed: FlushSlot::default(),
        }
    }
}

/// A batcher permit shared between a proposal's in-memory log entry and its replies, freed by
/// whichever comes first: the entry flushed in the local WAL, or the proposal answered.
#[derive(Clone, Default)]
pub(crate) struct FlushSlot(Option<Arc<Mutex<SlotState>>>);

#[derive(Default)]
struct SlotState {
    permit: Option<OwnedSemaphorePermit>,
    /// When the permit was freed.
    released_at: Option<Instant>,
}

impl FlushSlot {
    pub(crate) fn new(permit: OwnedSemaphorePermit) -> Self {
        Self(Some(Arc::new(Mutex::new(SlotState {
            permit: Some(permit),
            released_at: None,
        }))))
    }

    /// Frees the permit (once; later calls do nothing).
    pub(crate) fn release(&self) {
        if let Some(slot) = &self.0 {
            let mut state = slot.lock().expect("flush slot lock");
            if let Some(permit) = state.permit.take() {
                state.released_at = Some(Instant::now());
                drop(permit);
            }
        }
    }

    pub(crate) fn is_held(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|slot| slot.lock().expect("flush slot lock").permit.is_some())
    }

    /// When the permit was freed (None while held).
    pub(crate) fn released_at(&self) -> Option<Instant> {
        self.0
            .as_ref()
            .and_then(|slot| slot.lock().expect("flush slot lock").released_at)
    }
}

/// Entries compare by value; who waits for their flush is not part of it.
impl PartialEq for FlushSlot {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposal")
            .field("time_ms", &self.time_ms)
            .field("ops", &self.ops)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proposal(time_ms={}, ops={})",
            self.time_ms,
            self.ops.len()
        )
    }
}

/// One client-visible operation inside a batch; each yields exactly one reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    Command(Command),
    Transaction(Transaction),
    /// Removes those keys that are still expired at the entry's time (proposed by the leader's
    /// expiry sweeper; replies with the number removed).
    PurgeExpired(Vec<bytes::Bytes>),
    /// Ends a blocked client's wait (it timed out, disconnected or was unblocked): replies 1 if
    /// it was still waiting, 0 if an earlier entry already served or dropped it.
    CancelWait(crate::keyspace::WaiterId),
    /// Opens a client session that expires after `idle_timeout_ms` of log time without use;
    /// replies with its id (named by this op's log position).
    OpenSession {
        idle_timeout_ms: u64,
    },
    /// Closes a client session: replies 1 if it was open, 0 if not.
    CloseSession(u64),
    /// A write (a command or a transaction) tagged with its session and request number:
    /// applied at most once; a copy gets the first one's recorded reply. `acked_below`: the
    /// client has received every reply below this number (they may be forgotten).
    InSession {
        session: u64,
        seq: u64,
        acked_below: u64,
        op: Box<Op>,
    },
    /// What happened to request `seq` of `session`: `["applied", reply]`, or `["not-applied"]`,
    /// which fences the number so a copy still on its way can never apply.
    Outcome {
        session: u64,
        seq: u64,
    },
    /// A change to the ACL users (SETUSER, DELUSER, LOAD): replies OK, the number of users
    /// deleted, or `[index, reason]` for the SETUSER rule that failed (nothing changed).
    Acl(crate::keyspace::UserChange),
    /// A script (EVAL, FCALL, ...; or a transaction holding one) run as `user`: every command
    /// it calls is checked against that user's permissions in the replicated user table as of
    /// this entry, so every replica allows and refuses the same calls. Ops written before this
    /// variant existed carry no user and run unchecked.
    AsUser {
        user: bytes::Bytes,
        op: Box<Op>,
    },
    /// An op that runs a script, accepted while the leader was over `maxmemory` or short of
    /// `min-replicas-to-write` followers: the script's calls those limits forbid are refused
    /// with Redis's errors (see [`crate::command::Limits`]). The leader measures once, when it
    /// accepts the command, so every replica refuses the same calls whatever its own state.
    UnderLimits {
        limits: crate::command::Limits,
        op: Box<Op>,
    },
    /// An op that runs a script, from a client whose priority class has its own instruction
    /// budget on the leader (`script-instructions-max-<class>`, when not the default): every
    /// replica stops its scripts after `instructions` Lua instructions. Ops without it run
    /// under the default budget.
    UnderBudget {
        instructions: u64,
        op: Box<Op>,
    },
}

impl Op {
    /// Whether this op runs a script (so it must say which user runs it).
    pub fn runs_script(&self) -> bool {
        match self {
            Op::Command(command) => command.runs_script(),
            Op::Transaction(transaction) => transaction.commands.iter().any(|c| c.runs_script()),
            Op::InSession { op, .. }
            | Op::AsUser { op, .. }
            | Op::UnderLimits { op, .. }
            | Op::UnderBudget { op, .. } => op.runs_script(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::*;

    #[test]
    fn flush_slot_frees_its_permit_once_and_is_shared_by_clones() {
        let semaphore = Arc::new(Semaphore::new(1));
        let slot = FlushSlot::new(semaphore.clone().try_acquire_owned().expect("permit"));
        let in_entry = slot.clone();
        assert!(slot.is_held() && in_entry.is_held());
        assert_eq!(semaphore.available_permits(), 0);
        in_entry.release();
        assert!(!slot.is_held(), "a clone's release frees the one permit");
        assert_eq!(semaphore.available_permits(), 1);
        slot.release();
        assert_eq!(semaphore.available_permits(), 1, "released once only");
        assert!(!FlushSlot::default().is_held());
    }

    #[test]
    fn the_flush_slot_is_not_part_of_the_entry() {
        let semaphore = Arc::new(Semaphore::new(1));
        let mut proposal = Proposal::new(7, Vec::new());
        let plain = postcard::to_allocvec(&proposal).expect("encode");
        proposal.flushed = FlushSlot::new(semaphore.try_acquire_owned().expect("permit"));
        assert_eq!(postcard::to_allocvec(&proposal).expect("encode"), plain);
        let decoded: Proposal = postcard::from_bytes(&plain).expect("decode");
        assert!(!decoded.flushed.is_held());
        assert_eq!(decoded, proposal);
    }
}
