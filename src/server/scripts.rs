//! Scripts run by this node outside the log, and the BUSY state they cause. EVAL, EVALSHA
//! and FCALL first run speculatively on a copy of the applied keyspace: a script that never
//! calls a write command is answered from that run (a read, confirmed as linearizable reads
//! are) and makes no log entry; at its first write call the run is abandoned and the command
//! goes to the log as before, where every replica runs it under the deterministic instruction
//! budget. EVAL_RO, EVALSHA_RO and FCALL_RO run the same way to their end. Because such a run
//! is local, the wall clock may bound it: past `busy-reply-threshold` (`lua-time-limit`) the
//! node answers other clients BUSY, and SCRIPT KILL / FUNCTION KILL stop it.

use bytes::Bytes;

use super::connection::{node_error_reply, Connection, Flow};
use crate::command::{
    Command, CommandSpec, Cx, Flags, FunctionRequest, KillOutcome, RunMode, Script, ScriptKind,
    ScriptRequest,
};

impl Connection {
    /// The BUSY error for a command `spec` with `args` while a script run outside the log has
    /// been running past `busy-reply-threshold`; None if the command may run (Redis's
    /// `allow-busy` commands: the transaction and connection commands, SHUTDOWN, SCRIPT KILL,
    /// FUNCTION KILL and FUNCTION STATS).
    pub(crate) fn busy_refusal(&self, spec: &CommandSpec, args: &[Bytes]) -> Option<&'static str> {
        let kind = self
            .shared
            .scripts
            .busy(self.shared.live.busy_reply_threshold())?;
        if spec.flags.contains(Flags::ALLOW_BUSY) {
            return None;
        }
        let sub = args.get(1).map(|sub| sub.to_ascii_lowercase());
        let allowed = matches!(
            (spec.name, sub.as_deref()),
            ("script", Some(b"kill")) | ("function", Some(b"kill" | b"stats"))
        );
        (!allowed).then(|| kind.busy_error())
    }

    /// SCRIPT KILL (`kind` Eval) or FUNCTION KILL (`kind` Function), answered by this node: it
    /// stops the busy scripts it runs outside the log. A busy script applied from the log is
    /// UNKILLABLE: stopping one replica's run would make it differ from the others.
    pub(crate) async fn kill_scripts(
        &mut self,
        spec: &'static CommandSpec,
        kind: ScriptKind,
    ) -> Flow {
        let threshold = self.shared.live.busy_reply_threshold();
        match self.shared.scripts.kill(kind, threshold) {
            KillOutcome::Killed => self.reply(Some(spec.name), crate::command::Reply::Ok).await,
            KillOutcome::NotBusy => {
                let text = crate::command::CommandError::NotBusy.to_string();
                self.error(Some(spec.name), text).await
            }
            KillOutcome::OtherKind(busy) => self.error(Some(spec.name), busy.busy_error()).await,
            KillOutcome::Unkillable => self.error(Some(spec.name), UNKILLABLE).await,
        }
    }

    /// Runs the script or function call `command` outside the log if this node may answer it
    /// locally (a single node, or a leader that has applied its leadership floor), once this
    /// connection's earlier writes are applied. Some(flow) once answered; None if the command
    /// must go the usual way: the run reached a write call, this node is not the leader (or
    /// stopped being it while the script ran), or a script this connection sent earlier is
    /// still on the log (pipelined scripts stay pipelined: waiting for each would make them
    /// one round trip each).
    pub(crate) async fn run_script_outside_log(
        &mut self,
        spec: &'static CommandSpec,
        args: &[Bytes],
        command: &Command,
    ) -> Option<Flow> {
        let kind = crate::command::script_kind(command)?;
        if self.script_in_flight() {
            return None;
        }
        // A script that wrote when it last ran here goes straight to the log. Only EVAL and
        // EVALSHA: their body or SHA names the code, where a function name can be loaded
        // again with other code (FUNCTION LOAD REPLACE).
        let writer_id = (spec.is_write() && kind == crate::command::ScriptKind::Eval)
            .then(|| script_id(spec, args));
        if writer_id.is_some_and(|id| self.shared.scripts.known_writer(id)) {
            return None;
        }
        let cluster = self.shared.node.cluster().clone();
        let term = cluster.local_read_term()?;
        if !self.wait_for_own_writes().await {
            return Some(Flow::Close);
        }
        let mut keyspace = self.shared.db.keyspace_copy();
        let caller = if self.user.unrestricted {
            None
        } else {
            super::acl::script_caller(keyspace.users(), &self.user.name)
        };
        let mode = if spec.is_write() {
            RunMode::Speculative
        } else {
            RunMode::ReadOnly
        };
        let name = match command {
            Command::FCall(call) => String::from_utf8_lossy(&call.function).into_owned(),
            Command::FCallRo(call) => String::from_utf8_lossy(&call.function).into_owned(),
            _ => String::new(),
        };
        let guard = self
            .shared
            .scripts
            .start_named(kind, mode, name, args.to_vec());
        let mut cx = Cx::local(self.shared.db.read_time_ms()).watched_by(guard.script().clone());
        cx.set_caller(caller);
        let call = command.clone();
        // A blocking thread: the script may run until SCRIPT KILL, and must not hold up the
        // other connections of this runtime thread meanwhile.
        let outcome = tokio::task::spawn_blocking(move || {
            let run = crate::command::run_outside_log(&call, &mut keyspace, &mut cx);
            (run, cx.take_denials(), cx.take_calls())
        })
        .await;
        drop(guard);
        let (run, denials, calls) = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "a script run outside the log panicked");
                let text = "ERR the script's run failed (see the server log)";
                return Some(self.error(Some(spec.name), text).await);
            }
        };
        let Some(reply) = run.reply else {
            if let Some(id) = writer_id {
                self.shared.scripts.note_writer(id);
            }
            return None;
        };
        if !cluster.confirm_local_read(term).await {
            return None;
        }
        self.shared.stats.record_script_calls(&calls);
        for (user, denial) in denials {
            self.shared.acl.log_denial(
                self.shared.live.acllog_len_max(),
                &denial,
                "lua",
                &user,
                self.client.line(),
            );
        }
        if let Some(body) = run.cache {
            // EVAL caches what it runs (a new script, even one that failed or was killed):
            // through the log, as the script cache is replicated state.
            let load = Command::from(Script {
                request: ScriptRequest::Load(body),
            });
            let cached = match self.db().enqueue_op(crate::raft::Op::Command(load)).await {
                Ok(pending) => pending.wait().await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = cached {
                return Some(self.reply(Some(spec.name), node_error_reply(&e)).await);
            }
        }
        let flow = self.reply(Some(spec.name), reply).await;
        let elapsed = self.command_started.elapsed();
        self.shared
            .observe_command(spec, args, elapsed, &self.client);
        Some(flow)
    }
}

/// Identifies a script call for [`crate::command::RunningScripts::note_writer`]: the command
/// name and its first argument (EVAL's body, EVALSHA's SHA).
fn script_id(spec: &CommandSpec, args: &[Bytes]) -> u64 {
    let mut id = Vec::with_capacity(spec.name.len() + 1 + args.get(1).map_or(0, |a| a.len()));
    id.extend_from_slice(spec.name.as_bytes());
    id.push(0);
    if let Some(first) = args.get(1) {
        id.extend_from_slice(first);
    }
    xxhash_rust::xxh3::xxh3_64(&id)
}

/// Whether `command` is FUNCTION STATS, answered by this node (its running function).
pub(crate) fn is_function_stats(command: &Command) -> bool {
    matches!(command, Command::Function(function) if function.request == FunctionRequest::Stats)
}

/// Redis's reply to SCRIPT KILL while the busy script has written. In Tandem that is a script
/// applied from the log, which ends at its instruction budget at the latest.
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against \
                          the dataset. You can either wait the script termination or kill the \
                          server in a hard way using the SHUTDOWN NOSAVE command.";

/// The kind of script `command` kills, if it is SCRIPT KILL or FUNCTION KILL.
pub(crate) fn kill_request(command: &Command) -> Option<ScriptKind> {
    match command {
        Command::Script(Script {
            request: ScriptRequest::Kill,
        }) => Some(ScriptKind::Eval),
        Command::Function(function) if function.request == FunctionRequest::Kill => {
            Some(ScriptKind::Function)
        }
        _ => None,
    }
}
