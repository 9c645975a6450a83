//! Exactly-once writes over RESP, usable from any Redis client library
//! (docs/guarantees.md, "Exactly once"):
//!
//! - `TANDEM SESSION OPEN [TIMEOUT ms]`: a log entry; answers the new session's id.
//! - `TANDEM SESSION CLOSE id`: a log entry; answers 1 if it was open, 0 if not.
//! - `TANDEM REQ session seq acked-below command [arg ...]`: runs a write tagged with its
//!   request number. A copy of the same `(session, seq)` (a resend after a failover, on any
//!   node) gets the first one's reply and is never applied again. `acked-below`: the client
//!   has every reply below this number, so the table may forget them. A read runs untagged.
//!   Inside MULTI, `TANDEM REQ session seq acked-below EXEC` ends the block as EXEC and tags
//!   the whole transaction.
//! - `TANDEM OUTCOME session seq`: a log entry; `["applied", reply]`, or `["not-applied"]`,
//!   which fences the number: a copy of that request still on its way is refused, forever.
//!
//! Refusals (unknown or expired session, an acknowledged or fenced number) are errors that
//! say the request was not applied.

use bytes::Bytes;

use super::command_table;
use super::connection::{node_error_reply, Connection, Flow};
use super::dispatch::{wrong_arity, NOREPLICAS, OOM};
use crate::keyspace::SESSION_IDLE_TIMEOUT_DEFAULT_MS;
use crate::raft::Op;

/// The tag of a request in a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionTag {
    pub session: u64,
    pub seq: u64,
    pub acked_below: u64,
}

impl SessionTag {
    /// `op`, tagged.
    pub(crate) fn wrap(self, op: Op) -> Op {
        Op::InSession {
            session: self.session,
            seq: self.seq,
            acked_below: self.acked_below,
            op: Box::new(op),
        }
    }
}

fn number(arg: &Bytes) -> Option<u64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// The tag in `TANDEM REQ session seq acked-below ...` (`args[2..5]`).
fn parse_tag(args: &[Bytes]) -> Result<SessionTag, &'static str> {
    match (number(&args[2]), number(&args[3]), number(&args[4])) {
        (Some(session), Some(seq), Some(acked_below)) => Ok(SessionTag {
            session,
            seq,
            acked_below,
        }),
        _ => {
            Err("ERR session, request number and acknowledged number must be non-negative integers")
        }
    }
}

/// Whether `args` is `TANDEM REQ session seq acked-below EXEC`, which ends a MULTI block.
pub(crate) fn is_tagged_exec(args: &[Bytes]) -> bool {
    args.len() == 6
        && args[0].eq_ignore_ascii_case(b"tandem")
        && args[1].eq_ignore_ascii_case(b"req")
        && args[5].eq_ignore_ascii_case(b"exec")
}

impl Connection {
    /// TANDEM SESSION OPEN [TIMEOUT ms] | CLOSE id
    pub(crate) async fn session_command(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("tandem");
        let sub = args
            .get(2)
            .map(|a| a.to_ascii_lowercase())
            .unwrap_or_default();
        let op = match (sub.as_slice(), args.len()) {
            (b"open", 3) => Op::OpenSession {
                idle_timeout_ms: SESSION_IDLE_TIMEOUT_DEFAULT_MS,
            },
            (b"open", 5) if args[3].eq_ignore_ascii_case(b"timeout") => match number(&args[4]) {
                Some(ms) if ms > 0 => Op::OpenSession {
                    idle_timeout_ms: ms,
                },
                _ => {
                    return self
                        .error(
                            name,
                            "ERR TIMEOUT must be a positive number of milliseconds",
                        )
                        .await
                }
            },
            (b"close", 4) => match number(&args[3]) {
                Some(id) => Op::CloseSession(id),
                None => {
                    return self
                        .error(name, "ERR session id must be a non-negative integer")
                        .await
                }
            },
            _ => {
                return self
                    .error(
                        name,
                        "ERR syntax: TANDEM SESSION OPEN [TIMEOUT ms] | TANDEM SESSION CLOSE id",
                    )
                    .await
            }
        };
        self.submit_op(op, args).await
    }

    /// TANDEM OUTCOME session seq
    pub(crate) async fn outcome_command(&mut self, args: &[Bytes]) -> Flow {
        if args.len() != 4 {
            return self
                .error(Some("tandem"), wrong_arity("tandem|outcome"))
                .await;
        }
        match (number(&args[2]), number(&args[3])) {
            (Some(session), Some(seq)) => self.submit_op(Op::Outcome { session, seq }, args).await,
            _ => {
                self.error(
                    Some("tandem"),
                    "ERR session and request number must be non-negative integers",
                )
                .await
            }
        }
    }

    /// TANDEM REQ session seq acked-below command [arg ...]
    pub(crate) async fn tagged_request(&mut self, args: Vec<Bytes>) -> Flow {
        let name = Some("tandem");
        if args.len() < 6 {
            return self.error(name, wrong_arity("tandem|req")).await;
        }
        let tag = match parse_tag(&args) {
            Ok(tag) => tag,
            Err(text) => return self.error(name, text).await,
        };
        let inner: Vec<Bytes> = args[5..].to_vec();
        let Some((index, spec)) = command_table::lookup_indexed(&inner[0]) else {
            let error = crate::command::CommandError::unknown_command(&inner);
            return self.error(None, error.to_string()).await;
        };
        // The tagged command is checked against the user as if sent alone.
        if let Some(text) = self.acl_denial(index, spec, &inner) {
            return self.error(Some(spec.name), text).await;
        }
        if args[5].eq_ignore_ascii_case(b"exec") {
            return self.error(name, "ERR EXEC without MULTI").await;
        }
        if command_table::server_command(spec).is_some() {
            return self
                .error(
                    name,
                    format!(
                        "ERR only data commands can be tagged ('{}' is a server command)",
                        spec.name
                    ),
                )
                .await;
        }
        let command = match spec.parse(&inner) {
            Ok(command) => command,
            Err(e) => return self.error(Some(spec.name), e.to_string()).await,
        };
        if command.block_timeout_ms().is_some() {
            return self
                .error(
                    Some(spec.name),
                    "ERR blocking commands cannot be tagged: their wait is not a single request",
                )
                .await;
        }
        if !command.is_write() {
            // Reads change nothing: they run as any read, untagged.
            return self.data_read(spec, inner, command).await;
        }
        if self.refused_for_memory(&command) {
            return self.error(Some(spec.name), OOM).await;
        }
        if self.too_few_replicas() {
            return self.error(Some(spec.name), NOREPLICAS).await;
        }
        let op = tag.wrap(self.as_caller(Op::Command(command)));
        match self.db().enqueue_op(op).await {
            Ok(pending) => self.reply_later(spec, inner, pending).await,
            Err(e) => self.reply(Some(spec.name), node_error_reply(&e)).await,
        }
    }

    /// `TANDEM REQ session seq acked-below EXEC` inside MULTI: EXEC, the transaction tagged.
    pub(crate) async fn tagged_exec(&mut self, args: &[Bytes]) -> Flow {
        match parse_tag(args) {
            Ok(tag) => {
                self.session_tag = Some(tag);
                let flow = self.exec().await;
                self.session_tag = None;
                flow
            }
            Err(text) => {
                self.fail_transaction();
                self.error(Some("tandem"), text).await
            }
        }
    }

    /// Proposes a session op and answers with its reply once applied.
    async fn submit_op(&mut self, op: Op, args: &[Bytes]) -> Flow {
        let spec = command_table::lookup(b"tandem").expect("TANDEM is a command");
        match self.db().enqueue_op(op).await {
            Ok(pending) => self.reply_later(spec, args.to_vec(), pending).await,
            Err(e) => self.reply(Some("tandem"), node_error_reply(&e)).await,
        }
    }
}
