//! Routing one command: a single registry lookup, then the AUTH gate, queueing inside MULTI,
//! the server's own commands by id, and every data command through the command model (writes to
//! the log, reads from the keyspace after this connection's earlier writes).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::command_table::{self, ServerCommand};
use super::connection::{node_error_reply, Connection, Flow, ReplyMode};
use super::pubsub::Kind;
use crate::command::{CommandError, CommandSpec, Flags, Reply};
use crate::resp::Protocol;

/// Redis's arity error, also for subcommands (`client|setname`).
pub(crate) fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Redis's reply to a write that may grow memory while the server is over `maxmemory`.
pub(crate) const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// Redis's reply to a write while fewer than `min-replicas-to-write` followers are in contact.
pub(crate) const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

impl Connection {
    /// Runs one command (`args[0]` is its name) and queues its reply.
    pub(crate) async fn dispatch(&mut self, args: Vec<Bytes>) -> Flow {
        self.command_started = std::time::Instant::now();
        self.silenced = match self.reply_mode {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::On;
                true
            }
        };
        let found = command_table::lookup_indexed(&args[0]);
        let spec = found.map(|(_, s)| s);
        let name = spec.map(|s| s.name);
        self.client.touch(name.unwrap_or("unknown"));

        if !self.authenticated && !spec.is_some_and(|s| s.flags.contains(Flags::NO_AUTH)) {
            self.fail_transaction();
            return self.error(name, "NOAUTH Authentication required.").await;
        }
        let Some((index, spec)) = found else {
            self.fail_transaction();
            let error = CommandError::unknown_command(&args);
            return self.error(None, error.to_string()).await;
        };
        if self.acl_generation != self.shared.sm().acl_generation.load(Ordering::Acquire)
            && !self.refresh_user()
        {
            return Flow::Close;
        }
        if !self.user.unrestricted && !spec.flags.contains(Flags::NO_AUTH) {
            if let Some(text) = self.acl_denial(index, spec, &args) {
                self.fail_transaction();
                return self.error(Some(spec.name), text).await;
            }
        }
        if let Some(text) = self.busy_refusal(spec, &args) {
            // As Redis rejects a command: an EXEC refused while busy discards the transaction
            // (EXECABORT with the reason); any other refused command fails it.
            if spec.name == "exec" && self.multi.is_some() {
                self.end_transaction();
                let text = format!("EXECABORT Transaction discarded because of: {text}");
                return self.error(Some(spec.name), text).await;
            }
            self.fail_transaction();
            return self.error(Some(spec.name), text).await;
        }
        if self.protocol == Protocol::Resp2
            && self.subscriptions.active()
            && !super::pubsub::allowed_when_subscribed(command_table::server_command(spec))
        {
            self.fail_transaction();
            let text = super::pubsub::subscribed_mode_error(spec.name);
            return self.error(Some(spec.name), text).await;
        }
        if self.multi.is_some() && super::exactly_once::is_tagged_exec(&args) {
            return self.tagged_exec(&args).await;
        }
        if self.multi.is_some() && !spec.flags.contains(Flags::RUNS_IN_MULTI) {
            return self.queue(spec, args).await;
        }
        if spec.flags.contains(Flags::DENYOOM) && self.over_maxmemory() {
            return self.error(Some(spec.name), OOM).await;
        }
        // A script's replica check needs its flags: done once it is parsed (data_command).
        if spec.is_write() && !runs_script(spec) && self.too_few_replicas() {
            return self.error(Some(spec.name), NOREPLICAS).await;
        }
        match command_table::server_command(spec) {
            Some(command) => {
                if !spec.arity_ok(args.len()) {
                    return self.error(Some(spec.name), wrong_arity(spec.name)).await;
                }
                let flow = self.server_command(command, &args).await;
                let elapsed = self.command_started.elapsed();
                self.shared
                    .observe_command(spec, &args, elapsed, &self.client);
                flow
            }
            None => self.data_command(spec, args).await,
        }
    }

    /// Whether `maxmemory` is set and used memory (the allocator's count, refreshed every few
    /// milliseconds: see [`crate::allocator::used_memory`]) is over it.
    pub(crate) fn over_maxmemory(&self) -> bool {
        self.shared
            .live
            .maxmemory_bytes()
            .is_some_and(|max| crate::allocator::used_memory() > max)
    }

    /// Whether `command` is refused with OOM now: used memory is over `maxmemory` and the command
    /// may grow memory (DENYOOM), or runs a script that may write without `allow-oom`.
    pub(crate) fn refused_for_memory(&self, command: &crate::command::Command) -> bool {
        if !self.over_maxmemory() {
            return false;
        }
        if command.spec().flags.contains(Flags::DENYOOM) {
            return true;
        }
        let keyspace = self.shared.sm().keyspace.read().expect("keyspace lock");
        crate::command::refused_over_maxmemory(command, &keyspace)
    }

    /// Whether the script `command` runs is refused now for want of replicas: too few are in
    /// contact and it declares flags without `no-writes` (one without a shebang starts, and
    /// its first write fails at apply).
    pub(crate) fn refused_for_replicas(&self, command: &crate::command::Command) -> bool {
        if !self.too_few_replicas() {
            return false;
        }
        let keyspace = self.shared.sm().keyspace.read().expect("keyspace lock");
        crate::command::refused_without_replicas(command, &keyspace)
    }

    /// Whether `min-replicas-to-write` is set and fewer followers than that have been heard
    /// from within `min-replicas-max-lag` (a single node has none).
    pub(crate) fn too_few_replicas(&self) -> bool {
        let live = &self.shared.live;
        let Some(needed) = live.min_replicas_to_write() else {
            return false;
        };
        let cluster = self.shared.node.cluster();
        if cluster.is_single() {
            return true;
        }
        let lag_max_ms = live.min_replicas_max_lag().as_millis() as u64;
        let report = cluster.report_summary();
        let good = report
            .replication
            .iter()
            .filter(|p| p.id != report.node_id)
            .filter(|p| p.last_contact_ms.is_some_and(|ms| ms <= lag_max_ms))
            .count();
        good < needed
    }

    async fn server_command(&mut self, command: ServerCommand, args: &[Bytes]) -> Flow {
        use crate::cluster::ReadConsistency;
        match command {
            ServerCommand::Ping => self.ping(args).await,
            ServerCommand::Echo => self.reply(Some("echo"), Reply::Bulk(args[1].clone())).await,
            ServerCommand::Hello => self.hello(args).await,
            ServerCommand::Auth => self.auth(args).await,
            ServerCommand::Client => self.client_command(args).await,
            ServerCommand::Select => self.select(args).await,
            ServerCommand::Quit => {
                self.reply(Some("quit"), Reply::Ok).await;
                Flow::Close
            }
            ServerCommand::Reset => self.reset().await,
            ServerCommand::Multi => self.multi().await,
            ServerCommand::Exec => self.exec().await,
            ServerCommand::Discard => self.discard().await,
            ServerCommand::Watch => self.watch(args).await,
            ServerCommand::Unwatch => {
                self.watches.clear();
                self.reply(Some("unwatch"), Reply::Ok).await
            }
            ServerCommand::Time => self.time().await,
            ServerCommand::Info => self.info(args).await,
            ServerCommand::Command => self.command(args).await,
            ServerCommand::Config => self.config(args).await,
            ServerCommand::Wait => self.wait(args).await,
            ServerCommand::ReadOnly => self.read_mode(ReadConsistency::Stale).await,
            ServerCommand::ReadWrite => self.read_mode(ReadConsistency::Linearizable).await,
            ServerCommand::Tandem => self.tandem_command(args).await,
            ServerCommand::Shutdown => self.shutdown(args).await,
            ServerCommand::Slowlog => self.slowlog(args).await,
            ServerCommand::Latency => self.latency(args).await,
            ServerCommand::Debug => self.debug(args).await,
            ServerCommand::Save => self.save().await,
            ServerCommand::BgSave => self.bgsave(args).await,
            ServerCommand::LastSave => self.lastsave().await,
            ServerCommand::Subscribe => self.subscribe(Kind::Channel, args).await,
            ServerCommand::Unsubscribe => self.unsubscribe(Kind::Channel, args).await,
            ServerCommand::PSubscribe => self.subscribe(Kind::Pattern, args).await,
            ServerCommand::PUnsubscribe => self.unsubscribe(Kind::Pattern, args).await,
            ServerCommand::SSubscribe => self.subscribe(Kind::Shard, args).await,
            ServerCommand::SUnsubscribe => self.unsubscribe(Kind::Shard, args).await,
            ServerCommand::Publish => self.publish(false, args).await,
            ServerCommand::SPublish => self.publish(true, args).await,
            ServerCommand::Pubsub => self.pubsub(args).await,
            ServerCommand::Acl => self.acl_command(args).await,
        }
    }

    /// A command of the command model: parsed, then a write goes to the log and a read is
    /// served from the keyspace once this connection's earlier writes are applied.
    async fn data_command(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) -> Flow {
        let command = match spec.parse(&args) {
            Ok(command) => command,
            Err(e) => return self.error(Some(spec.name), e.to_string()).await,
        };
        let name = spec.name;
        if command.block_timeout_ms().is_some() {
            return self.start_blocking(spec, args, command).await;
        }
        if let Some(kind) = super::scripts::kill_request(&command) {
            return self.kill_scripts(spec, kind).await;
        }
        if super::scripts::is_function_stats(&command) {
            // The running function is this node's: answered here, not through the log.
            let reply = crate::command::function_stats_reply(
                &self.shared.db.keyspace_copy(),
                self.shared.scripts.running_function(),
            );
            return self.reply(Some(name), reply).await;
        }
        if spec.is_write() {
            if self.refused_for_memory(&command) {
                return self.error(Some(name), OOM).await;
            }
            if runs_script(spec) && self.refused_for_replicas(&command) {
                return self.error(Some(name), NOREPLICAS).await;
            }
            if command.runs_script() {
                if let Some(flow) = self.run_script_outside_log(spec, &args, &command).await {
                    return flow;
                }
            }
            let runs_script = command.runs_script();
            let op = self.as_caller(crate::raft::Op::Command(command));
            match self.db().enqueue_op(op).await {
                Ok(pending) => {
                    let flow = self.reply_later(spec, args, pending).await;
                    if runs_script {
                        self.note_script_enqueued();
                    }
                    flow
                }
                Err(e) => self.reply(Some(name), node_error_reply(&e)).await,
            }
        } else {
            self.data_read(spec, args, command).await
        }
    }

    /// Serves a read once this connection's earlier writes are applied.
    pub(crate) async fn data_read(
        &mut self,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
        command: crate::command::Command,
    ) -> Flow {
        if command.runs_script() {
            if let Some(flow) = self.run_script_outside_log(spec, &args, &command).await {
                return flow;
            }
        }
        if command.runs_script() && !self.user.unrestricted {
            // Checked at apply against the replicated users, as a script that writes is.
            let op = self.as_caller(crate::raft::Op::Command(command));
            return match self.db().enqueue_op(op).await {
                Ok(pending) => {
                    let flow = self.reply_later(spec, args, pending).await;
                    self.note_script_enqueued();
                    flow
                }
                Err(e) => self.reply(Some(spec.name), node_error_reply(&e)).await,
            };
        }
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
        let flow = self.reply(Some(spec.name), reply).await;
        let elapsed = self.command_started.elapsed();
        self.shared
            .observe_command(spec, &args, elapsed, &self.client);
        flow
    }
}

/// Whether `spec` runs a script that may write (EVAL, EVALSHA, FCALL): Redis checks such a
/// script's writes against the server's limits by its flags, or at each call.
fn runs_script(spec: &CommandSpec) -> bool {
    matches!(spec.name, "eval" | "evalsha" | "fcall")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_arity_text_is_redis() {
        assert_eq!(
            wrong_arity("client|setname"),
            "ERR wrong number of arguments for 'client|setname' command"
        );
    }

    #[test]
    fn only_login_commands_run_before_auth() {
        let before_auth: Vec<_> = command_table::all()
            .iter()
            .filter(|s| s.flags.contains(Flags::NO_AUTH))
            .map(|s| s.name)
            .collect();
        assert_eq!(before_auth, ["hello", "auth", "quit", "reset"]);
    }
}
