//! One client's load loop, closed or open, over a `Reconnecting` connection; and `Shared`, the
//! counters all clients of a run update (progress, request budget, longest gap). Invariant:
//! every measured operation ends in exactly one place — the client's histogram when all its
//! replies are non-errors, otherwise its error counts (an error reply's code, or the connection
//! error's kind for operations lost with a connection).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::schedule::Schedule;
use super::stats::Recorder;
use super::workload::{Op, OpGenerator};
use crate::client::{ClientError, Connection, Reconnecting, Value};

/// Pause after a failed connection attempt before the next one (with --follow-leader).
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(10);

/// When a closed-loop run stops.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// Operations sent before this instant are measured.
    At(Instant),
    /// This many measured operations, shared by all clients.
    After(u64),
}

/// Settings every client of a run shares.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Measurement starts here (the warmup ends).
    pub measure_from: Instant,
    pub stop: Stop,
    pub pipeline: usize,
    pub follow_leader: bool,
    pub reply_timeout: Duration,
}

/// Counters shared by the clients of one run. Times are microseconds since `measure_from`.
#[derive(Debug, Default)]
pub struct Shared {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    /// Measured operations handed out so far (`Stop::After`).
    pub claimed: AtomicU64,
    pub last_success_us: AtomicU64,
    pub gap_us_max: AtomicU64,
    /// When the last measured operation finished, success or not.
    pub last_done_us: AtomicU64,
}

impl Shared {
    fn since(plan: &Plan, at: Instant) -> u64 {
        at.saturating_duration_since(plan.measure_from).as_micros() as u64
    }

    fn success(&self, plan: &Plan, at: Instant) {
        let now = Self::since(plan, at);
        self.ops.fetch_add(1, Ordering::Relaxed);
        let before = self.last_success_us.fetch_max(now, Ordering::Relaxed);
        if now > before {
            self.gap_us_max.fetch_max(now - before, Ordering::Relaxed);
        }
        self.last_done_us.fetch_max(now, Ordering::Relaxed);
    }

    fn failure(&self, plan: &Plan, at: Instant, count: u64) {
        self.errors.fetch_add(count, Ordering::Relaxed);
        self.last_done_us
            .fetch_max(Self::since(plan, at), Ordering::Relaxed);
    }

    /// The longest time without a successful operation, counting the stretch from the last
    /// success to `end_us` (the end of the run).
    pub fn gap_us(&self, end_us: u64) -> u64 {
        let last = self.last_success_us.load(Ordering::Relaxed);
        self.gap_us_max
            .load(Ordering::Relaxed)
            .max(end_us.saturating_sub(last))
    }
}

/// What one client measured.
pub struct ClientResult {
    pub recorder: Recorder,
    pub reconnects: u64,
}

/// One client: its connection, its operations and its recorder.
pub struct Client<'a> {
    pub plan: &'a Plan,
    pub shared: &'a Shared,
    pub session: Reconnecting,
    pub ops: OpGenerator,
    pub recorder: Recorder,
}

/// An operation sent and waiting for its replies.
struct InFlight {
    op: Op,
    /// Latency counts from here: the send time (closed loop) or the intended time (open loop).
    since: Instant,
    sent: Instant,
    measured: bool,
    replies: Vec<Value>,
}

impl Client<'_> {
    fn succeeded(&mut self, since: Instant, done: Instant) {
        self.recorder
            .success(done.saturating_duration_since(since).as_micros() as u64);
        self.shared.success(self.plan, done);
    }

    fn failed(&mut self, kind: &str, count: u64) {
        self.recorder.error(kind, count);
        self.shared.failure(self.plan, Instant::now(), count);
    }

    /// Judges an operation whose replies are all in; returns the error reply text, if any, for
    /// the target policy.
    fn finish(&mut self, done: InFlight, at: Instant) -> Option<String> {
        self.ops.learn(&done.op, &done.replies);
        let outcome = done.op.outcome(&done.replies);
        if done.measured {
            match &outcome {
                Ok(()) => self.succeeded(done.since, at),
                Err(kind) => self.failed(kind, 1),
            }
        }
        outcome.err().and_then(|_| {
            done.replies.iter().find_map(|reply| match reply {
                Value::Error(text) => Some(text.clone()),
                _ => None,
            })
        })
    }

    /// Operations lost with the connection: measured ones count as `error`'s kind.
    fn lose(&mut self, lost: impl IntoIterator<Item = InFlight>, error: &ClientError) {
        let count = lost.into_iter().filter(|f| f.measured).count() as u64;
        self.failed(error.kind(), count);
        self.session.failed(error);
    }

    /// Closed loop: send `pipeline` operations, wait for all their replies, repeat.
    pub async fn closed_loop(mut self) -> ClientResult {
        let mut batch: VecDeque<InFlight> = VecDeque::with_capacity(self.plan.pipeline);
        loop {
            let connection = match self.session.connection().await {
                Ok(connection) => connection,
                Err(error) => {
                    let (count, measured) = claim_for(self.plan, self.shared, Instant::now());
                    if count == 0 {
                        break;
                    }
                    if measured {
                        self.recorder.error(error.kind(), count as u64);
                        self.shared.failure(self.plan, Instant::now(), count as u64);
                    }
                    if !self.plan.follow_leader {
                        break;
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            let now = Instant::now();
            let (count, measured) = claim_for(self.plan, self.shared, now);
            if count == 0 {
                break;
            }
            for _ in 0..count {
                let op = self.ops.next_op();
                for command in &op.commands {
                    connection.queue(command);
                }
                batch.push_back(InFlight {
                    op,
                    since: now,
                    sent: now,
                    measured,
                    replies: Vec::new(),
                });
            }
            let result = exchange(connection, &mut batch).await;
            let mut error_reply = None;
            for (done, at) in result.done {
                if let Some(text) = self.finish(done, at) {
                    error_reply = Some(text);
                }
            }
            if let Some(error) = result.error {
                self.lose(batch.drain(..), &error);
                if !self.plan.follow_leader {
                    break;
                }
            } else if let Some(text) = error_reply {
                self.session.error_reply(&text);
            }
        }
        ClientResult {
            reconnects: self.session.reconnects(),
            recorder: self.recorder,
        }
    }

    /// Open loop: send each operation at its scheduled time (up to `pipeline` in flight), read
    /// replies as they come, charge latency from the scheduled time.
    pub async fn open_loop(mut self, schedule: Schedule) -> ClientResult {
        let mut next: u64 = 0;
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let reply_timeout = self.plan.reply_timeout;
        loop {
            let due = schedule.slot(next);
            if due.is_none() && in_flight.is_empty() {
                break;
            }
            let connection = match self.session.connection().await {
                Ok(connection) => connection,
                Err(error) => {
                    // Nothing can be sent: the next due operation fails when its time comes.
                    if let Some(slot) = due {
                        tokio::time::sleep_until(slot.intended.into()).await;
                        if slot.measured {
                            self.recorder.error(error.kind(), 1);
                            self.shared.failure(self.plan, Instant::now(), 1);
                        }
                        next += 1;
                    }
                    if !self.plan.follow_leader {
                        break;
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            };
            let can_send = due.is_some() && in_flight.len() < self.plan.pipeline;
            let send_at = due.map_or_else(Instant::now, |slot| slot.intended);
            let timeout_at = in_flight.front().map(|f| f.sent + reply_timeout);
            let event = tokio::select! {
                biased;
                _ = tokio::time::sleep_until(send_at.into()), if can_send => Event::Send,
                read = connection.fill(), if !in_flight.is_empty() => Event::Read(read),
                _ = tokio::time::sleep_until(timeout_at.unwrap_or(send_at).into()), if timeout_at.is_some() => Event::Timeout,
            };
            match event {
                Event::Send => {
                    // Send every operation already due, up to the in-flight limit; one that
                    // waited longer than the reply timeout for its turn fails unsent.
                    let now = Instant::now();
                    let mut expired = 0u64;
                    while in_flight.len() < self.plan.pipeline {
                        let Some(slot) = schedule.slot(next) else {
                            break;
                        };
                        if slot.intended > now {
                            break;
                        }
                        next += 1;
                        if now.saturating_duration_since(slot.intended) > reply_timeout {
                            expired += u64::from(slot.measured);
                            continue;
                        }
                        let op = self.ops.next_op();
                        for command in &op.commands {
                            connection.queue(command);
                        }
                        in_flight.push_back(InFlight {
                            op,
                            since: slot.intended,
                            sent: now,
                            measured: slot.measured,
                            replies: Vec::new(),
                        });
                    }
                    let flushed = connection.flush().await;
                    self.failed("timeout", expired);
                    if let Err(error) = flushed {
                        self.lose(in_flight.drain(..), &error);
                        if !self.plan.follow_leader {
                            break;
                        }
                    }
                }
                Event::Read(Ok(())) => {
                    let mut completed = Vec::new();
                    let parsed = drain_replies(connection, &mut in_flight, &mut completed);
                    let mut error_reply = None;
                    for (done, at) in completed {
                        if let Some(text) = self.finish(done, at) {
                            error_reply = Some(text);
                        }
                    }
                    if let Err(error) = parsed {
                        self.lose(in_flight.drain(..), &error);
                        if !self.plan.follow_leader {
                            break;
                        }
                    } else if let Some(text) = error_reply {
                        if self.session.error_reply(&text) {
                            let lost = in_flight.drain(..).filter(|f| f.measured).count() as u64;
                            self.failed("redirected", lost);
                        }
                    }
                }
                Event::Read(Err(error)) => {
                    self.lose(in_flight.drain(..), &error);
                    if !self.plan.follow_leader {
                        break;
                    }
                }
                Event::Timeout => {
                    let error = ClientError::ReplyTimeout {
                        target: self.session.target().to_string(),
                        timeout_ms: reply_timeout.as_millis() as u64,
                    };
                    self.lose(in_flight.drain(..), &error);
                    if !self.plan.follow_leader {
                        break;
                    }
                }
            }
        }
        ClientResult {
            reconnects: self.session.reconnects(),
            recorder: self.recorder,
        }
    }
}

enum Event {
    Send,
    Read(Result<(), ClientError>),
    Timeout,
}

/// How many operations the next closed-loop batch has (0: the run is over), and whether they
/// are measured (false during the warmup).
fn claim_for(plan: &Plan, shared: &Shared, now: Instant) -> (usize, bool) {
    let pipeline = plan.pipeline;
    if now < plan.measure_from {
        return (pipeline, false);
    }
    match plan.stop {
        Stop::At(end) => (if now < end { pipeline } else { 0 }, true),
        Stop::After(total) => {
            let claimed =
                shared
                    .claimed
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |claimed| {
                        (claimed < total).then(|| (claimed + pipeline as u64).min(total))
                    });
            match claimed {
                Ok(before) => (
                    ((before + pipeline as u64).min(total) - before) as usize,
                    true,
                ),
                Err(_) => (0, true),
            }
        }
    }
}

/// Replies of a closed-loop batch: the operations completed (with when), and the connection
/// error that ended the batch early, if any (the unfinished operations stay in the batch).
struct Exchange {
    done: Vec<(InFlight, Instant)>,
    error: Option<ClientError>,
}

async fn exchange(connection: &mut Connection, batch: &mut VecDeque<InFlight>) -> Exchange {
    let mut done = Vec::with_capacity(batch.len());
    if let Err(error) = connection.flush().await {
        return Exchange {
            done,
            error: Some(error),
        };
    }
    while let Some(front) = batch.front_mut() {
        match connection.read_reply().await {
            Ok(reply) => {
                front.replies.push(reply);
                if front.replies.len() == front.op.commands.len() {
                    let finished = batch.pop_front().expect("front exists");
                    done.push((finished, Instant::now()));
                }
            }
            Err(error) => {
                return Exchange {
                    done,
                    error: Some(error),
                }
            }
        }
    }
    Exchange { done, error: None }
}

/// Moves every complete reply in the connection's buffer to its operation; operations with all
/// their replies go to `completed`. Push messages are skipped. A reply with no operation
/// waiting for it is a protocol error.
fn drain_replies(
    connection: &mut Connection,
    in_flight: &mut VecDeque<InFlight>,
    completed: &mut Vec<(InFlight, Instant)>,
) -> Result<(), ClientError> {
    while let Some(value) = connection.buffered_value()? {
        if matches!(value, Value::Push(_)) {
            continue;
        }
        let Some(front) = in_flight.front_mut() else {
            return Err(ClientError::UnexpectedReply {
                target: connection.target().to_string(),
            });
        };
        front.replies.push(value);
        if front.replies.len() == front.op.commands.len() {
            let finished = in_flight.pop_front().expect("front exists");
            completed.push((finished, Instant::now()));
        }
    }
    Ok(())
}
