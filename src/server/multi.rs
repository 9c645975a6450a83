//! MULTI / EXEC / DISCARD / WATCH: a connection queues commands after MULTI and EXEC submits
//! them with the WATCHed key versions as one log entry (`Db::enqueue_transaction`), so the block
//! is atomic on every replica. Invariant: EXEC and DISCARD always end the block and forget the
//! watches, whatever they answer.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::command_table::ServerCommand;
use super::connection::{node_error_reply, Connection, Flow};
use crate::command::{CommandSpec, Flags, Group, KeySpec};
use crate::command::{Reply, Transaction};

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// Flags of MULTI, DISCARD, WATCH and UNWATCH.
const TRANSACTION_FLAGS: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::ALLOW_BUSY);

pub(super) const MULTI: CommandSpec =
    CommandSpec::server("multi", 1, Group::Transactions, ServerCommand::Multi as u16)
        .flags(TRANSACTION_FLAGS.union(Flags::RUNS_IN_MULTI))
        .docs("1.2.0", "Starts a transaction.", &[]);

pub(super) const EXEC: CommandSpec =
    CommandSpec::server("exec", 1, Group::Transactions, ServerCommand::Exec as u16)
        .flags(
            Flags::NOSCRIPT
                .union(Flags::LOADING)
                .union(Flags::STALE)
                .union(Flags::SKIP_SLOWLOG)
                .union(Flags::RUNS_IN_MULTI),
        )
        .docs(
            "1.2.0",
            "Executes all commands in a transaction (one log entry).",
            &[],
        );

pub(super) const DISCARD: CommandSpec = CommandSpec::server(
    "discard",
    1,
    Group::Transactions,
    ServerCommand::Discard as u16,
)
.flags(TRANSACTION_FLAGS.union(Flags::RUNS_IN_MULTI))
.docs("2.0.0", "Discards a transaction.", &[]);

pub(super) const WATCH: CommandSpec = CommandSpec::server(
    "watch",
    -2,
    Group::Transactions,
    ServerCommand::Watch as u16,
)
.flags(TRANSACTION_FLAGS.union(Flags::RUNS_IN_MULTI))
.keys(KeySpec::ALL)
.docs(
    "2.2.0",
    "Monitors changes to keys to determine the execution of a transaction.",
    &["key..."],
);

pub(super) const UNWATCH: CommandSpec = CommandSpec::server(
    "unwatch",
    1,
    Group::Transactions,
    ServerCommand::Unwatch as u16,
)
.flags(TRANSACTION_FLAGS)
.docs("2.2.0", "Forgets about watched keys of a transaction.", &[]);

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

    fn end_transaction(&mut self) {
        self.multi = None;
        self.multi_failed = false;
        self.watches.clear();
        self.client.multi.store(-1, Ordering::Relaxed);
    }

    pub(crate) async fn exec(&mut self) -> Flow {
        let name = Some("exec");
        let Some(commands) = self.multi.take() else {
            return self.error(name, "ERR EXEC without MULTI").await;
        };
        let failed = self.multi_failed;
        let watches = std::mem::take(&mut self.watches);
        self.end_transaction();
        if failed {
            return self.error(name, EXECABORT).await;
        }
        let transaction = Transaction { watches, commands };
        match self.db().enqueue_transaction(transaction).await {
            Ok(pending) => self.reply_later("exec", pending).await,
            Err(e) => self.reply(name, node_error_reply(&e)).await,
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
