//! Routing one parsed command: the AUTH gate, queueing inside MULTI, server and connection
//! commands by name, and every other name through the command model (writes to the log, reads
//! from the keyspace after this connection's earlier writes).

use bytes::Bytes;

use super::command_table::{self, CommandSpec};
use super::connection::{node_error_reply, Connection, Flow};
use crate::command::{Command, Reply};

/// Commands a client may send before it authenticates.
const ALLOWED_BEFORE_AUTH: &[&str] = &["auth", "hello", "quit", "reset"];
/// Commands that run at once inside MULTI instead of being queued.
const RUN_INSIDE_MULTI: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Names answered by the server itself (everything else goes to the command model).
const SERVER_COMMANDS: &[&str] = &[
    "ping",
    "echo",
    "hello",
    "auth",
    "client",
    "select",
    "quit",
    "reset",
    "multi",
    "exec",
    "discard",
    "watch",
    "unwatch",
    "time",
    "info",
    "command",
    "config",
    "wait",
    "readonly",
    "readwrite",
    "tandem",
];

fn is_server_command(name: &str) -> bool {
    SERVER_COMMANDS.contains(&name)
}

/// Redis's arity error, also for subcommands (`client|setname`).
pub(crate) fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

impl Connection {
    /// Runs one command (`args[0]` is its name) and queues its reply.
    pub(crate) async fn dispatch(&mut self, args: Vec<Bytes>) -> Flow {
        self.command_started = std::time::Instant::now();
        let spec = command_table::lookup(&args[0]);
        let name = spec.map(|s| s.name);
        self.client.touch(name.unwrap_or("unknown"));

        if !self.authenticated && !name.is_some_and(|n| ALLOWED_BEFORE_AUTH.contains(&n)) {
            self.fail_transaction();
            return self.error(name, "NOAUTH Authentication required.").await;
        }
        if self.multi.is_some() && !name.is_some_and(|n| RUN_INSIDE_MULTI.contains(&n)) {
            return self.queue(spec, &args).await;
        }
        match spec {
            Some(spec) if is_server_command(spec.name) => {
                if !spec.arity_ok(args.len()) {
                    return self.error(Some(spec.name), wrong_arity(spec.name)).await;
                }
                self.server_command(spec, &args).await
            }
            _ => self.data_command(&args).await,
        }
    }

    async fn server_command(&mut self, spec: &'static CommandSpec, args: &[Bytes]) -> Flow {
        let name = spec.name;
        match name {
            "ping" => self.ping(args).await,
            "echo" => self.reply(Some(name), Reply::Bulk(args[1].clone())).await,
            "hello" => self.hello(args).await,
            "auth" => self.auth(args).await,
            "client" => self.client_command(args).await,
            "select" => self.select(args).await,
            "quit" => {
                self.reply(Some(name), Reply::Ok).await;
                Flow::Close
            }
            "reset" => self.reset().await,
            "multi" => self.multi().await,
            "exec" => self.exec().await,
            "discard" => self.discard().await,
            "watch" => self.watch(args).await,
            "unwatch" => {
                self.watches.clear();
                self.reply(Some(name), Reply::Ok).await
            }
            "time" => self.time().await,
            "info" => self.info(args).await,
            "command" => self.command(args).await,
            "config" => self.config(args).await,
            "wait" => self.wait(args).await,
            "readonly" => self.read_mode(crate::cluster::ReadConsistency::Stale).await,
            "readwrite" => {
                self.read_mode(crate::cluster::ReadConsistency::Linearizable)
                    .await
            }
            "tandem" => self.tandem_command(args).await,
            _ => unreachable!("is_server_command and this match list the same names"),
        }
    }

    /// A command of the command model: parsed, then a write goes to the log and a read is
    /// served from the keyspace once this connection's earlier writes are applied.
    async fn data_command(&mut self, args: &[Bytes]) -> Flow {
        let command = match Command::parse(args) {
            Ok(command) => command,
            Err(e) => {
                let name = command_table::lookup(&args[0]).map(|s| s.name);
                return self.error(name, e.to_string()).await;
            }
        };
        let name = command.name();
        if command.is_write() {
            match self.db().enqueue(command).await {
                Ok(pending) => self.reply_later(name, pending).await,
                Err(e) => self.reply(Some(name), node_error_reply(&e)).await,
            }
        } else {
            if !self.wait_for_own_writes().await {
                return Flow::Close;
            }
            let reply = match self
                .shared
                .db
                .read_with(&command, self.read_consistency)
                .await
            {
                Ok(reply) => reply,
                Err(e) => node_error_reply(&e),
            };
            self.reply(Some(name), reply).await
        }
    }

    /// Inside MULTI: a data command that parses is queued (`+QUEUED`); anything else is an
    /// error that makes EXEC answer EXECABORT.
    async fn queue(&mut self, spec: Option<&'static CommandSpec>, args: &[Bytes]) -> Flow {
        let name = spec.map(|s| s.name);
        if spec.is_some_and(|s| is_server_command(s.name)) {
            self.fail_transaction();
            return self
                .error(name, "ERR Command not allowed inside a transaction")
                .await;
        }
        match Command::parse(args) {
            Ok(command) => {
                let queued = self.multi.get_or_insert_with(Vec::new);
                queued.push(command);
                self.client
                    .multi
                    .store(queued.len() as i64, std::sync::atomic::Ordering::Relaxed);
                self.reply(name, Reply::Simple("QUEUED".into())).await
            }
            Err(e) => {
                self.fail_transaction();
                self.error(name, e.to_string()).await
            }
        }
    }

    /// Marks an open MULTI block as failed (EXEC will answer EXECABORT).
    fn fail_transaction(&mut self) {
        if self.multi.is_some() {
            self.multi_failed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_command_is_in_the_table() {
        for spec in command_table::COMMANDS {
            if matches!(spec.group, "connection" | "transactions" | "cluster")
                || ["time", "info", "command", "config", "wait"].contains(&spec.name)
            {
                assert!(is_server_command(spec.name), "{}", spec.name);
            }
        }
        for name in RUN_INSIDE_MULTI
            .iter()
            .chain(ALLOWED_BEFORE_AUTH)
            .chain(SERVER_COMMANDS)
        {
            assert!(command_table::lookup(name.as_bytes()).is_some(), "{name}");
        }
    }

    #[test]
    fn wrong_arity_text_is_redis() {
        assert_eq!(
            wrong_arity("client|setname"),
            "ERR wrong number of arguments for 'client|setname' command"
        );
    }
}
