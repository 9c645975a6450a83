//! MULTI / EXEC / DISCARD / WATCH, as Redis 7 does them: after MULTI each command is checked and
//! queued. An unknown command, a wrong argument count, a command refused in a transaction or a
//! write over `maxmemory` fails the block (EXEC answers EXECABORT); any other error in a data
//! command's arguments is queued as that command's reply, and EXEC answers it in its slot.
//!
//! EXEC submits the queued data commands with the WATCHed key versions as ONE log entry
//! (`Db::enqueue_transaction`), so the block is atomic on every replica; the log holds only
//! commands, never errors. The queued errors and the replies of the queued server commands
//! (read-only ones such as PING, INFO, CONFIG GET, and CONFIG SET) are spliced into EXEC's reply
//! by the connection, in queueing order, once the entry has applied (docs/compatibility.md).
//! Invariant: EXEC and DISCARD always end the block and forget the watches, whatever they answer.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::clients::ClientInfo;
use super::command_table::{self, ServerCommand};
use super::connection::{node_error_reply, Connection, Flow};
use super::dispatch::{wrong_arity, NOREPLICAS, OOM};
use super::Shared;
use crate::command::{Command, CommandError, CommandSpec, Flags};
use crate::command::{Reply, Transaction};

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";

/// One command queued after MULTI.
#[derive(Debug)]
pub(crate) enum Queued {
    /// Goes into the transaction's log entry (with its arguments, checked again at EXEC).
    Data(Command, Vec<Bytes>),
    /// A data command whose arguments Redis rejects only when it runs: EXEC answers this error
    /// in its slot and the command never reaches the log.
    Failed(String),
    /// A server command answered when EXEC's log entry has applied.
    Server(ServerCommand, &'static CommandSpec, Vec<Bytes>),
}

/// What fills one slot of EXEC's reply.
#[derive(Debug)]
pub(crate) enum ExecSlot {
    /// The next reply of the transaction's log entry.
    Data,
    Failed(String),
    Server(ServerCommand, &'static CommandSpec, Vec<Bytes>),
}

/// Server commands that may be queued: they only read server state, change settings (CONFIG
/// SET) or pause this connection (DEBUG SLEEP), so answering them after the data commands
/// changes nothing a client can tell apart from Redis except what INFO and CONFIG GET report.
/// Connection-state commands (CLIENT, AUTH, HELLO, READONLY), WAIT and SHUTDOWN are refused.
fn queueable(command: ServerCommand) -> bool {
    matches!(
        command,
        ServerCommand::Ping
            | ServerCommand::Echo
            | ServerCommand::Time
            | ServerCommand::Select
            | ServerCommand::Info
            | ServerCommand::Command
            | ServerCommand::Config
            | ServerCommand::Slowlog
            | ServerCommand::Latency
            | ServerCommand::Debug
            | ServerCommand::Publish
            | ServerCommand::SPublish
            | ServerCommand::Pubsub
    )
}

/// EXEC's reply from the log entry's reply `data` (an array with one reply per data command,
/// `NilArray` if a watched key changed, or an error if the entry was refused) and the slots.
/// Each queued server command runs here, in order, and is timed for the slow log on its own
/// (EXEC itself is not logged; the data commands are one log entry, timed with EXEC).
pub(crate) async fn exec_reply(
    shared: &Shared,
    client: &ClientInfo,
    data: Reply,
    slots: Vec<ExecSlot>,
) -> Reply {
    let replies = match data {
        Reply::Array(replies) => replies,
        other => return other,
    };
    let mut replies = replies.into_iter();
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        out.push(match slot {
            ExecSlot::Data => replies.next().unwrap_or_else(|| {
                Reply::Error("ERR internal error: missing transaction reply".into())
            }),
            ExecSlot::Failed(text) => Reply::Error(text),
            ExecSlot::Server(command, spec, args) => {
                let started = Instant::now();
                let reply = super::server_commands::queued_reply(shared, command, &args).await;
                shared.observe_command(spec, &args, started.elapsed(), client);
                reply
            }
        });
    }
    Reply::Array(out)
}

impl Connection {
    pub(crate) async fn multi(&mut self) -> Flow {
        if self.multi.is_some() {
            return self
                .error(Some("multi"), "ERR MULTI calls can not be nested")
                .await;
        }
        self.multi = Some(Vec::new());
        self.multi_failed = false;
        self.client.multi.store(0, Ordering::Relaxed);
        self.reply(Some("multi"), Reply::Ok).await
    }

    pub(crate) fn end_transaction(&mut self) {
        self.multi = None;
        self.multi_failed = false;
        self.watches.clear();
        self.client.multi.store(-1, Ordering::Relaxed);
    }

    pub(crate) async fn exec(&mut self) -> Flow {
        let name = Some("exec");
        let Some(queued) = self.multi.take() else {
            return self.error(name, "ERR EXEC without MULTI").await;
        };
        let failed = self.multi_failed;
        let watches = std::mem::take(&mut self.watches);
        self.end_transaction();
        if failed {
            return self.error(name, EXECABORT).await;
        }
        let queued = self.recheck_queued(queued);
        let grows_memory = queued.iter().any(|q| match q {
            Queued::Data(command, _) => self.refused_for_memory(command),
            _ => false,
        });
        if grows_memory {
            let text = format!("EXECABORT Transaction discarded because of: {OOM}");
            return self.error(name, text).await;
        }
        let writes = queued.iter().any(|q| match q {
            Queued::Data(command, _) => command.is_write(),
            _ => false,
        });
        if writes && self.too_few_replicas() {
            let text = format!("EXECABORT Transaction discarded because of: {NOREPLICAS}");
            return self.error(name, text).await;
        }
        let mut commands = Vec::new();
        let slots: Vec<ExecSlot> = queued
            .into_iter()
            .map(|q| match q {
                Queued::Data(command, _) => {
                    commands.push(command);
                    ExecSlot::Data
                }
                Queued::Failed(text) => ExecSlot::Failed(text),
                Queued::Server(command, spec, args) => ExecSlot::Server(command, spec, args),
            })
            .collect();
        if commands.is_empty() && watches.is_empty() {
            // Nothing to apply and nothing to check: no log entry.
            return self.reply_exec(None, slots).await;
        }
        let transaction = self.as_caller(crate::raft::Op::Transaction(Transaction {
            watches,
            commands,
        }));
        let op = match self.session_tag.take() {
            Some(tag) => tag.wrap(transaction),
            None => transaction,
        };
        match self.db().enqueue_op(op).await {
            Ok(pending) => self.reply_exec(Some(pending), slots).await,
            Err(e) => self.reply(name, node_error_reply(&e)).await,
        }
    }

    /// Inside MULTI: checks a command and queues it (`+QUEUED`), or answers an error that makes
    /// EXEC answer EXECABORT.
    pub(crate) async fn queue(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Flow {
        let name = Some(spec.name);
        if !spec.arity_ok(args.len()) {
            self.fail_transaction();
            return self.error(name, wrong_arity(spec.name)).await;
        }
        if spec.flags.contains(Flags::DENYOOM) && self.over_maxmemory() {
            self.fail_transaction();
            return self.error(name, OOM).await;
        }
        if spec.is_write() && self.too_few_replicas() {
            self.fail_transaction();
            return self.error(name, NOREPLICAS).await;
        }
        let queued = match command_table::server_command(spec) {
            Some(command) if queueable(command) => Queued::Server(command, spec, args),
            Some(_) if spec.flags.contains(Flags::NO_MULTI) => {
                self.fail_transaction();
                return self.error(name, NOT_IN_MULTI).await;
            }
            Some(_) => {
                self.fail_transaction();
                let text = format!(
                    "ERR {} cannot be queued in a Tandem transaction (it changes the connection, waits or administers the server); send it outside MULTI",
                    spec.name.to_ascii_uppercase()
                );
                return self.error(name, text).await;
            }
            None => match spec.parse(&args) {
                Ok(command) => Queued::Data(command, args),
                // The arity was checked above: anything else is the command's own argument
                // check, which Redis runs at EXEC.
                Err(error @ CommandError::Internal { .. }) => {
                    self.fail_transaction();
                    return self.error(name, error.to_string()).await;
                }
                Err(error) => Queued::Failed(error.to_string()),
            },
        };
        let queue = self.multi.get_or_insert_with(Vec::new);
        queue.push(queued);
        self.client
            .multi
            .store(queue.len() as i64, Ordering::Relaxed);
        self.reply(name, Reply::Simple("QUEUED".into())).await
    }

    /// Checks the queued commands again against the user as it is now (the users may have
    /// changed since they were queued, as Redis does at EXEC): a command no longer allowed
    /// is not run and answers NOPERM in its slot; the others run.
    fn recheck_queued(&self, queued: Vec<Queued>) -> Vec<Queued> {
        if self.user.unrestricted {
            return queued;
        }
        queued
            .into_iter()
            .map(|q| {
                let args = match &q {
                    Queued::Data(_, args) | Queued::Server(_, _, args) => args,
                    Queued::Failed(_) => return q,
                };
                let Some((index, spec)) = command_table::lookup_indexed(&args[0]) else {
                    return q;
                };
                match self.user.check(index, spec, args) {
                    Ok(()) => q,
                    Err(denial) => {
                        self.shared.acl.log_denial(
                            self.shared.live.acllog_len_max(),
                            &denial,
                            "multi",
                            &self.user.name,
                            self.client.line(),
                        );
                        Queued::Failed(format!(
                            "NOPERM ACLs rules changed between the moment the transaction was \
                             accumulated and the EXEC call. This command is no longer allowed \
                             for the following reason: {}",
                            denial.exec_reason()
                        ))
                    }
                }
            })
            .collect()
    }

    /// Marks an open MULTI block as failed (EXEC will answer EXECABORT).
    pub(crate) fn fail_transaction(&mut self) {
        if self.multi.is_some() {
            self.multi_failed = true;
        }
    }

    pub(crate) async fn discard(&mut self) -> Flow {
        if self.multi.is_none() {
            return self
                .error(Some("discard"), "ERR DISCARD without MULTI")
                .await;
        }
        self.end_transaction();
        self.reply(Some("discard"), Reply::Ok).await
    }

    /// WATCH key [key ...]: remembers each key's version as of after this connection's
    /// earlier writes.
    pub(crate) async fn watch(&mut self, args: &[Bytes]) -> Flow {
        if self.multi.is_some() {
            return self
                .error(Some("watch"), "ERR WATCH inside MULTI is not allowed")
                .await;
        }
        if !self.wait_for_own_writes().await {
            return Flow::Close;
        }
        for key in &args[1..] {
            if self.watches.iter().all(|(watched, _)| watched != key) {
                let version = self.shared.db.version(key);
                self.watches.push((key.clone(), version));
            }
        }
        self.reply(Some("watch"), Reply::Ok).await
    }
}
