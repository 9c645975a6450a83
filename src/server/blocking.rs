//! A connection waiting in a blocking command (BLPOP, BLMOVE, BZPOPMIN, ...).
//!
//! The command goes through the log carrying a waiter id (this node, this connection, a
//! request number). Applied, it either pops at once or registers the waiter in the replicated
//! table and answers `Reply::Blocked`; then a later entry that gives one of its keys an element
//! serves it in the same apply, and this node's state machine hands the outcome here. While
//! waiting, the connection reads nothing further (as a Redis client blocks), but notices a
//! disconnect, CLIENT KILL, CLIENT UNBLOCK, shutdown and the timeout; each of those ends the
//! wait through the log (`Op::CancelWait`), so a pop is never both made and lost: either the
//! cancel comes first and nothing is popped, or the pop comes first and its reply is sent.
//! A waiter dropped by a change of leader is registered again, unseen by the client.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::connection::{node_error_reply, ClientReader, Connection, End, Flow};
use crate::command::{Command, CommandSpec, Reply, UnblockOutcome};
use crate::keyspace::WaiterId;
use crate::node::PendingReply;

/// How long a cancelled wait may take to deliver an outcome that an entry before the cancel
/// already decided (it is delivered at that entry's apply, before the cancel's reply).
const DECIDED_OUTCOME_WAIT: Duration = Duration::from_secs(5);

/// Redis's reply to a client unblocked by CLIENT UNBLOCK ... ERROR.
const UNBLOCKED_ERROR: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// A blocking command on its way, between dispatch and its reply.
pub(crate) struct BlockedWait {
    spec: &'static CommandSpec,
    args: Vec<Bytes>,
    command: Command,
    waiter: WaiterId,
    /// The reply of the entry that pops at once or registers the waiter (taken once awaited).
    pending: Option<PendingReply>,
    outcome: oneshot::Receiver<UnblockOutcome>,
    deadline: Option<Instant>,
}

/// Why the wait ended before an outcome (the connection or the server is going away).
enum Interrupted {
    End(End),
}

impl Connection {
    /// Starts a blocking command: gives it a waiter id, prepares to hear its outcome and
    /// proposes it. The read loop then calls [`Connection::wait_blocked`].
    pub(crate) async fn start_blocking(
        &mut self,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
        mut command: Command,
    ) -> Flow {
        if !self.shared.db.may_block() {
            return self
                .error(
                    Some(spec.name),
                    "ERR blocking commands need every quorum of voters to span min_ack_zones zones (a pop reaches its client when it is applied); use the non-blocking form and poll",
                )
                .await;
        }
        let timeout_ms = command.block_timeout_ms().unwrap_or(0);
        let deadline = (timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(timeout_ms));
        match self.propose_blocking(&mut command).await {
            Ok((waiter, pending, outcome)) => {
                self.blocked = Some(BlockedWait {
                    spec,
                    args,
                    command,
                    waiter,
                    pending: Some(pending),
                    outcome,
                    deadline,
                });
                Flow::Block
            }
            Err(reply) => self.reply(Some(spec.name), reply).await,
        }
    }

    /// Gives `command` a fresh waiter id and proposes it.
    async fn propose_blocking(
        &mut self,
        command: &mut Command,
    ) -> Result<(WaiterId, PendingReply, oneshot::Receiver<UnblockOutcome>), Reply> {
        self.blocking_requests += 1;
        let waiter = WaiterId {
            node: self.shared.node.cluster().node_id(),
            client: self.client.id,
            request: self.blocking_requests,
        };
        command.set_waiter(waiter);
        let db = self.db();
        let outcome = db.expect_unblock(waiter);
        match db.enqueue(command.clone()).await {
            Ok(pending) => Ok((waiter, pending, outcome)),
            Err(e) => {
                db.forget_unblock(&waiter);
                Err(node_error_reply(&e))
            }
        }
    }

    /// Waits for the blocked command's reply while watching the socket (bytes that arrive are
    /// kept for after the wait), then answers it. `Err` when the connection must end.
    pub(crate) async fn wait_blocked(
        &mut self,
        reader: &mut ClientReader,
        buf: &mut BytesMut,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), End> {
        let Some(mut wait) = self.blocked.take() else {
            return Ok(());
        };
        let result = self.run_wait(&mut wait, reader, buf, stop).await;
        self.client.blocked.store(false, Ordering::Relaxed);
        let db = self.db();
        db.forget_unblock(&wait.waiter);
        match result {
            Ok(reply) => {
                let flow = self.reply(Some(wait.spec.name), reply).await;
                let elapsed = self.command_started.elapsed();
                self.shared
                    .observe_command(wait.spec, &wait.args, elapsed, &self.client);
                if flow == Flow::Close {
                    return Err(End::Quit);
                }
                Ok(())
            }
            Err(Interrupted::End(end)) => {
                // Nobody will read a reply: end the wait in the background so no later entry
                // pops for this client.
                let waiter = wait.waiter;
                tokio::spawn(async move {
                    let _ = db.cancel_wait(waiter).await;
                });
                Err(end)
            }
        }
    }

    async fn run_wait(
        &mut self,
        wait: &mut BlockedWait,
        reader: &mut ClientReader,
        buf: &mut BytesMut,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Reply, Interrupted> {
        loop {
            // 1. The entry that either popped at once or registered the waiter.
            let Some(pending) = wait.pending.take() else {
                return Ok(Reply::Error(
                    "ERR internal error: a blocked command without its entry".into(),
                ));
            };
            let registered = tokio::select! {
                result = pending.wait() => result,
                end = self.watch_socket(reader, buf, stop) => {
                    return Err(Interrupted::End(end));
                }
            };
            match registered {
                // Counted as blocked (INFO, CLIENT LIST, CLIENT UNBLOCK) from the moment the
                // log holds its waiter.
                Ok(Reply::Blocked) => self.client.blocked.store(true, Ordering::Relaxed),
                Ok(reply) => return Ok(reply),
                Err(e) => return Ok(node_error_reply(&e)),
            }
            // 2. The outcome, the timeout, or the client going away.
            let deadline = wait.deadline;
            let timed_out = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let cancel = tokio::select! {
                outcome = &mut wait.outcome => match outcome {
                    Ok(UnblockOutcome::Served(reply)) => return Ok(reply),
                    Ok(UnblockOutcome::Dropped) => None,
                    Ok(UnblockOutcome::DroppedAfter(after)) => {
                        wait.command.resume_after(&after);
                        None
                    }
                    // The node dropped its side (shutting down).
                    Err(_) => return Ok(Reply::Error("ERR the node stopped while this client was blocked".into())),
                },
                () = timed_out => Some(Reply::NilArray),
                () = self.client.unblock.notified() => {
                    if self.client.unblock_with_error.load(Ordering::Relaxed) {
                        Some(Reply::Error(UNBLOCKED_ERROR.into()))
                    } else {
                        Some(Reply::NilArray)
                    }
                }
                end = self.watch_socket(reader, buf, stop) => {
                    return Err(Interrupted::End(end));
                }
            };
            let Some(cancelled_reply) = cancel else {
                // Dropped by a new leader's term: register again with what is left of the
                // timeout.
                match self.propose_blocking(&mut wait.command).await {
                    Ok((waiter, pending, outcome)) => {
                        wait.waiter = waiter;
                        wait.pending = Some(pending);
                        wait.outcome = outcome;
                        continue;
                    }
                    Err(reply) => return Ok(reply),
                }
            };
            return Ok(self.cancel(wait, cancelled_reply).await);
        }
    }

    /// Ends the wait through the log: `cancelled` if nothing was popped for it first, else
    /// the reply of the pop that came first.
    async fn cancel(&mut self, wait: &mut BlockedWait, cancelled: Reply) -> Reply {
        match self.db().cancel_wait(wait.waiter).await {
            Ok(Reply::Integer(1)) => cancelled,
            Ok(_) => {
                // An earlier entry served (or dropped) it; that outcome is on its way.
                match tokio::time::timeout(DECIDED_OUTCOME_WAIT, &mut wait.outcome).await {
                    Ok(Ok(UnblockOutcome::Served(reply))) => reply,
                    Ok(Ok(UnblockOutcome::Dropped | UnblockOutcome::DroppedAfter(_))) => cancelled,
                    _ => Reply::Error(
                        "ERR the outcome of this blocked command was decided but did not arrive; it may have popped"
                            .into(),
                    ),
                }
            }
            Err(e) => node_error_reply(&e),
        }
    }
}

impl Connection {
    /// Completes when the connection must end while blocked: the client closed it (EOF or a
    /// read error), CLIENT KILL, shutdown, or more unread input than the query buffer limit.
    /// Bytes the client sends meanwhile are kept in `buf` for after the wait.
    async fn watch_socket(
        &self,
        reader: &mut ClientReader,
        buf: &mut BytesMut,
        stop: &mut watch::Receiver<bool>,
    ) -> End {
        loop {
            if buf.len() > self.shared.live.query_buffer_bytes_max() {
                return End::QueryBufferFull(buf.len());
            }
            buf.reserve(4096);
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return End::Shutdown,
                _ = self.client.kill.notified() => return End::Killed,
                result = reader.read_buf(buf) => match result {
                    Ok(0) => return End::Eof,
                    Ok(_) => continue,
                    Err(e) => return End::Io(e),
                },
            }
        }
    }
}
