//! Exactly-once writes for the embedded [`Db`] of a cluster member (docs/guarantees.md,
//! "Exactly once"). A member's writes can be forwarded to a leader that fails before it
//! answers; without a session such a write ends `TRYAGAIN ... may or may not have been
//! applied`. With one, the same tagged request is proposed again until it gets its one reply:
//! a copy that reaches the log after the first gets the first one's reply.
//!
//! All clones of one node's `Db` share one session, opened on the first write (a log entry) and
//! opened again if it expires. Request numbers come from one counter; the acknowledged number
//! sent with each request is the lowest one still waiting for its reply, so replies are kept
//! exactly as long as a resend may ask for them.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// tokio's clock (the same as std's outside tests) so paused time in the simulator drives the
// deadlines too.
use tokio::time::Instant;

use super::db::Db;
use crate::command::Reply;
use crate::error::Error;
use crate::keyspace::SESSION_IDLE_TIMEOUT_DEFAULT_MS;
use crate::raft::Op;

/// How long one write is proposed again before its outcome is asked for. Under half the
/// session idle timeout, so a session cannot expire while a request of it is being resent.
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// How long the outcome is asked for after the deadline.
const RESOLVE_FOR: Duration = Duration::from_secs(10);
const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// The session shared by a node's `Db` handles.
#[derive(Default)]
pub(crate) struct DbSession {
    /// The open session; the async lock makes concurrent first writes open one session.
    id: tokio::sync::Mutex<Option<u64>>,
    numbers: std::sync::Mutex<Numbers>,
    stats: SessionCounters,
    /// Counts the jitter seeds handed out (see `Db::jitter_seed`).
    jitter_seeds: AtomicU64,
}

#[derive(Default)]
struct SessionCounters {
    opened: AtomicU64,
    resends: AtomicU64,
    outcome_queries: AtomicU64,
}

/// What a node's exactly-once session has been through ([`Db::session_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Sessions opened (more than one after a session expired).
    pub opened: u64,
    /// Writes proposed again after a failure.
    pub resends: u64,
    /// Outcome queries made after a write's deadline.
    pub outcome_queries: u64,
}

#[derive(Default)]
struct Numbers {
    /// The session these numbers belong to.
    session: u64,
    next: u64,
    /// Requests sent and not yet answered.
    in_flight: BTreeSet<u64>,
}

impl DbSession {
    /// The next request number of `session`, now in flight.
    fn begin(&self, session: u64) -> u64 {
        let mut numbers = self.numbers.lock().expect("session numbers");
        if numbers.session != session {
            *numbers = Numbers {
                session,
                next: 1,
                in_flight: BTreeSet::new(),
            };
        }
        let seq = numbers.next;
        numbers.next += 1;
        numbers.in_flight.insert(seq);
        seq
    }

    /// Every reply below this number was received.
    fn acked_below(&self) -> u64 {
        let numbers = self.numbers.lock().expect("session numbers");
        numbers.in_flight.first().copied().unwrap_or(numbers.next)
    }

    fn end(&self, seq: u64) {
        self.numbers
            .lock()
            .expect("session numbers")
            .in_flight
            .remove(&seq);
    }
}

/// What a failed attempt means.
fn retryable(error: &Error) -> Option<(bool, Duration)> {
    match error {
        // Not proposed: try again.
        Error::NotLeader { .. } | Error::NoLeader { .. } | Error::NoQuorum { .. } => {
            Some((false, Duration::ZERO))
        }
        Error::Busy { retry_after_ms, .. } => Some((false, Duration::from_millis(*retry_after_ms))),
        // May have reached the log: resend the same request.
        Error::Uncertain { .. } => Some((true, Duration::ZERO)),
        _ => None,
    }
}

fn session_gone(reply: &Reply) -> bool {
    matches!(reply, Reply::Error(text)
        if text.starts_with("ERR unknown session") || text.contains("expired (idle more than"))
}

/// A pause with full jitter under an exponentially growing cap.
fn backoff(attempt: u32, seed: u64) -> Duration {
    let cap = BACKOFF_FIRST
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    let mut x = seed ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    cap.mul_f64((x >> 11) as f64 / (1u64 << 53) as f64)
}

impl Db {
    /// A seed for one write's backoff jitter: different per node and per write, and the same
    /// in every run (no clock), so a simulated cluster replays exactly.
    fn jitter_seed(&self) -> u64 {
        let count = self
            .session_cell()
            .jitter_seeds
            .fetch_add(1, Ordering::Relaxed);
        self.node_id()
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(count)
    }

    /// Runs `op` exactly once through this node's session, resending it until the deadline and
    /// then asking for its outcome. The answer is the one true reply or a definite error; only
    /// when no quorum answers for the whole deadline and resolve time is it `Uncertain`, and the
    /// reason names the session and request to ask about later.
    pub(crate) async fn exactly_once(&self, op: Op) -> Result<Reply, Error> {
        let started = Instant::now();
        let deadline = started + WRITE_DEADLINE;
        let seed = self.jitter_seed();
        'session: loop {
            let session = self.session_id(deadline).await?;
            let state = self.session_cell();
            let seq = state.begin(session);
            let mut maybe_sent = false;
            let mut attempt = 0;
            let mut last: Error;
            loop {
                let tagged = Op::InSession {
                    session,
                    seq,
                    acked_below: state.acked_below(),
                    op: Box::new(op.clone()),
                };
                let hint = match self.submit(tagged).await {
                    Ok(reply) if session_gone(&reply) => {
                        // Deadlines stay under half the idle timeout: no earlier copy can have
                        // applied (it would have kept the session alive). Open a new one.
                        state.end(seq);
                        self.forget_session(session).await;
                        continue 'session;
                    }
                    Ok(reply) => {
                        state.end(seq);
                        return Ok(reply);
                    }
                    Err(error) => match retryable(&error) {
                        Some((may_have_applied, hint)) => {
                            maybe_sent |= may_have_applied;
                            last = error;
                            hint
                        }
                        None => {
                            state.end(seq);
                            return Err(error);
                        }
                    },
                };
                let pause = backoff(attempt, seed).max(hint);
                attempt += 1;
                if Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
                state.stats.resends.fetch_add(1, Ordering::Relaxed);
            }
            if !maybe_sent {
                state.end(seq);
                return Err(last);
            }
            state.stats.outcome_queries.fetch_add(1, Ordering::Relaxed);
            let answer = self.resolve(session, seq, seed).await;
            state.end(seq);
            return answer;
        }
    }

    /// Asks for the outcome of (session, seq) until [`RESOLVE_FOR`] passes. "Not applied"
    /// fences the number.
    async fn resolve(&self, session: u64, seq: u64, seed: u64) -> Result<Reply, Error> {
        let until = Instant::now() + RESOLVE_FOR;
        let mut attempt = 0;
        loop {
            match self.submit(Op::Outcome { session, seq }).await {
                Ok(Reply::Array(items)) => {
                    return match items.as_slice() {
                        [Reply::Bulk(state), reply] if state.as_ref() == b"applied" => {
                            Ok(reply.clone())
                        }
                        _ => Err(Error::NotApplied {
                            reason: format!(
                                "no reply within {} ms; request {seq} of session {session} was fenced by an outcome query",
                                WRITE_DEADLINE.as_millis()
                            ),
                        }),
                    }
                }
                Ok(other) => {
                    return Err(Error::NotApplied {
                        reason: format!("outcome of request {seq} of session {session}: {other:?}"),
                    })
                }
                Err(error) if retryable(&error).is_some() => {
                    let pause = backoff(attempt, seed);
                    attempt += 1;
                    if Instant::now() + pause >= until {
                        return Err(Error::Uncertain {
                            reason: format!(
                                "no quorum answered for {} ms (last: {error}); TANDEM OUTCOME {session} {seq} gives the definite answer later",
                                (WRITE_DEADLINE + RESOLVE_FOR).as_millis()
                            ),
                        });
                    }
                    tokio::time::sleep(pause).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The open session, opened through the log if there is none.
    async fn session_id(&self, deadline: Instant) -> Result<u64, Error> {
        let mut id = self.session_cell().id.lock().await;
        if let Some(session) = *id {
            return Ok(session);
        }
        let mut attempt = 0;
        let seed = self.jitter_seed();
        loop {
            // Opening twice only leaves an unused session behind, which expires.
            let open = Op::OpenSession {
                idle_timeout_ms: SESSION_IDLE_TIMEOUT_DEFAULT_MS,
            };
            match self.submit(open).await {
                Ok(Reply::Integer(session)) => {
                    self.session_cell()
                        .stats
                        .opened
                        .fetch_add(1, Ordering::Relaxed);
                    *id = Some(session as u64);
                    return Ok(session as u64);
                }
                Ok(other) => {
                    return Err(Error::Command(format!(
                        "ERR could not open a session: {other:?}"
                    )))
                }
                Err(error) => {
                    let Some((_, hint)) = retryable(&error) else {
                        return Err(error);
                    };
                    let pause = backoff(attempt, seed).max(hint);
                    attempt += 1;
                    if Instant::now() + pause >= deadline {
                        return Err(error);
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// What this node's exactly-once session has been through (all zero on a single node).
    pub fn session_stats(&self) -> SessionStats {
        let stats = &self.session_cell().stats;
        SessionStats {
            opened: stats.opened.load(Ordering::Relaxed),
            resends: stats.resends.load(Ordering::Relaxed),
            outcome_queries: stats.outcome_queries.load(Ordering::Relaxed),
        }
    }

    async fn forget_session(&self, session: u64) {
        let mut id = self.session_cell().id.lock().await;
        if *id == Some(session) {
            *id = None;
        }
    }
}
