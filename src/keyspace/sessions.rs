//! Client sessions: the replicated table that makes a tagged write apply at most once, and
//! lets its client ask what happened to it (docs/guarantees.md, "Exactly once").
//!
//! A session is opened by a log entry and named by that entry's position, so every replica
//! gives it the same id. Each write the client tags carries `(session, request number)` and
//! the lowest request number whose reply the client has not received yet (`acked_below`). The
//! table records the reply of every applied request until the client acknowledges it, so a
//! copy of a request that arrives again (a resend after a failover, a duplicate from a
//! re-routed batch) gets the recorded reply and is never applied twice. An outcome query
//! answers "applied, with this reply" or "not applied"; the second answer fences the number,
//! so a copy still travelling can never apply afterwards.
//!
//! Invariants:
//! - The table is a pure function of the log: sessions expire by log time, and expired ones
//!   are removed only by entries (an open, or a request that finds its session expired), so
//!   snapshots and digests agree on every replica.
//! - A session's `replies` and `fenced` hold only numbers >= `acked_below`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};

/// A recorded reply, as the state machine encoded it (the keyspace does not know reply types:
/// the layer above it encodes and decodes them).
pub type RecordedReply = Bytes;

/// Most sessions open at once; opening one more is refused until some close or expire.
pub const SESSIONS_MAX: usize = 10_000;
/// Most replies one session keeps unacknowledged; a request beyond it is refused (not applied)
/// until the client acknowledges earlier ones.
pub const SESSION_REPLIES_MAX: usize = 10_000;
/// A session's idle timeout when the client names none.
pub const SESSION_IDLE_TIMEOUT_DEFAULT_MS: u64 = 5 * 60 * 1000;
/// The longest idle timeout a client may ask for.
pub const SESSION_IDLE_TIMEOUT_MAX_MS: u64 = 24 * 60 * 60 * 1000;
/// Op positions per log entry in a session id (`index << POSITION_BITS | position`).
const POSITION_BITS: u32 = 20;

/// The id of a session opened by the op at `position` of the entry at log `index`: unique in
/// the cluster's history, the same on every replica.
pub fn session_id(index: u64, position: u64) -> u64 {
    debug_assert!(position < 1 << POSITION_BITS, "a batch holds fewer ops");
    (index << POSITION_BITS) | (position & ((1 << POSITION_BITS) - 1))
}

/// One client session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub idle_timeout_ms: u64,
    /// Log time of the last request or query on it.
    pub last_active_ms: u64,
    /// Every request below this number has been answered to the client: its reply is
    /// forgotten and a new copy of it is refused.
    pub acked_below: u64,
    /// Replies of applied requests the client may still ask for.
    pub replies: BTreeMap<u64, RecordedReply>,
    /// Requests an outcome query declared "not applied": refused forever.
    pub fenced: BTreeSet<u64>,
}

impl Session {
    fn expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_active_ms) > self.idle_timeout_ms
    }

    fn acknowledge(&mut self, acked_below: u64) {
        if acked_below > self.acked_below {
            self.acked_below = acked_below;
            self.replies = self.replies.split_off(&acked_below);
            self.fenced = self.fenced.split_off(&acked_below);
        }
    }
}

/// What to do with a tagged request.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// New: apply it, then [`Sessions::record`] its reply.
    Apply,
    /// Applied before: this is its reply; do not apply it again.
    Duplicate(RecordedReply),
    /// Refused with this error text; it is not applied.
    Refuse(String),
}

/// What an outcome query found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Applied(RecordedReply),
    /// Not applied, and now fenced: it never will be.
    NotApplied,
    /// The query itself is refused (unknown session, acknowledged number): the error text.
    Refused(String),
}

/// Every open session, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sessions {
    map: OrdMap<u64, Session>,
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sessions in id order (snapshots, digest).
    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Session)> {
        self.map.iter()
    }

    /// Restores one session from a snapshot.
    pub(crate) fn restore(&mut self, id: u64, session: Session) {
        self.map.insert(id, session);
    }

    /// Opens session `id` at `now_ms`: first removes every expired session, then refuses when
    /// [`SESSIONS_MAX`] are still open. `idle_timeout_ms` is clamped to
    /// 1..=[`SESSION_IDLE_TIMEOUT_MAX_MS`].
    pub fn open(&mut self, id: u64, idle_timeout_ms: u64, now_ms: u64) -> Result<(), String> {
        let expired: Vec<u64> = self
            .map
            .iter()
            .filter(|(_, s)| s.expired(now_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.map.remove(&id);
        }
        if self.map.len() >= SESSIONS_MAX {
            return Err(format!(
                "ERR too many open sessions (at most {SESSIONS_MAX}); close sessions that are done (TANDEM SESSION CLOSE) or wait for idle ones to expire"
            ));
        }
        self.map.insert(
            id,
            Session {
                idle_timeout_ms: idle_timeout_ms.clamp(1, SESSION_IDLE_TIMEOUT_MAX_MS),
                last_active_ms: now_ms,
                acked_below: 0,
                replies: BTreeMap::new(),
                fenced: BTreeSet::new(),
            },
        );
        Ok(())
    }

    /// Closes session `id`; false if it was not open (or had expired).
    pub fn close(&mut self, id: u64, now_ms: u64) -> bool {
        match self.map.remove(&id) {
            Some(session) => !session.expired(now_ms),
            None => false,
        }
    }

    /// The live session `id`, removing it if it has expired.
    fn live(&mut self, id: u64, now_ms: u64) -> Result<&mut Session, String> {
        match self.map.get(&id) {
            None => Err(format!(
                "ERR unknown session {id} (never opened, closed, or expired and removed); open a new one with TANDEM SESSION OPEN"
            )),
            Some(session) if session.expired(now_ms) => {
                let timeout = session.idle_timeout_ms;
                self.map.remove(&id);
                Err(format!(
                    "ERR session {id} expired (idle more than {timeout} ms of log time); open a new one with TANDEM SESSION OPEN"
                ))
            }
            Some(_) => Ok(self.map.get_mut(&id).expect("present")),
        }
    }

    /// Decides what to do with request `seq` of session `id`, whose client has received every
    /// reply below `acked_below`.
    pub fn admit(&mut self, id: u64, seq: u64, acked_below: u64, now_ms: u64) -> Admission {
        let session = match self.live(id, now_ms) {
            Ok(session) => session,
            Err(error) => return Admission::Refuse(not_applied(error)),
        };
        session.last_active_ms = now_ms;
        session.acknowledge(acked_below);
        if seq < session.acked_below {
            return Admission::Refuse(format!(
                "ERR request {seq} of session {id} was already answered and acknowledged; its reply is no longer kept (this copy was not applied)"
            ));
        }
        if let Some(reply) = session.replies.get(&seq) {
            return Admission::Duplicate(reply.clone());
        }
        if session.fenced.contains(&seq) {
            return Admission::Refuse(format!(
                "ERR request {seq} of session {id} was fenced by an outcome query: it was not applied and never will be"
            ));
        }
        if session.replies.len() >= SESSION_REPLIES_MAX {
            return Admission::Refuse(format!(
                "ERR session {id} keeps {SESSION_REPLIES_MAX} unacknowledged replies already; raise the acknowledged number before sending more (not applied)"
            ));
        }
        Admission::Apply
    }

    /// Records the reply of request `seq` of session `id`, just applied.
    pub fn record(&mut self, id: u64, seq: u64, reply: RecordedReply) {
        if let Some(session) = self.map.get_mut(&id) {
            session.replies.insert(seq, reply);
        }
    }

    /// What happened to request `seq` of session `id`; "not applied" fences it.
    pub fn outcome(&mut self, id: u64, seq: u64, now_ms: u64) -> Outcome {
        let session = match self.live(id, now_ms) {
            Ok(session) => session,
            Err(error) => return Outcome::Refused(error),
        };
        session.last_active_ms = now_ms;
        if seq < session.acked_below {
            return Outcome::Refused(format!(
                "ERR request {seq} of session {id} was acknowledged by its client; its outcome is no longer kept"
            ));
        }
        match session.replies.get(&seq) {
            Some(reply) => Outcome::Applied(reply.clone()),
            None => {
                session.fenced.insert(seq);
                Outcome::NotApplied
            }
        }
    }
}

/// Makes sure a refusal says the request was not applied.
fn not_applied(error: String) -> String {
    if error.contains("not applied") {
        error
    } else {
        format!("{error} (this request was not applied)")
    }
}

#[cfg(test)]
mod tests;
