//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT. A script call is one log
//! entry (the body or its SHA-1, the keys and the arguments); every replica runs it at apply in
//! the engine ([`engine`]) and gets the same effects and reply. The script cache is keyspace
//! state ([`crate::keyspace::ScriptCache`]), so EVALSHA works on any node after a failover.
//! Invariant: a script either runs whole in one apply or fails; writes it made before an error
//! are kept, as Redis keeps them.
//!
//! Outside the log ([`run_outside_log`]), the node serving the client may first run a script
//! on a copy of the applied keyspace: a read-only script to its end, an EVAL, EVALSHA or FCALL
//! until its first write call. A run that never writes changes nothing, so its reply is final
//! and no entry is made; one that reaches a write is abandoned and the call goes to the log,
//! where every replica runs it from the start. Such a run is local, so SCRIPT KILL may stop it
//! ([`running`]).

mod engine;
mod functions;
mod libs;
mod msgpack;
mod running;
mod structlib;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::spec::Flags;
use super::{is_option, Args, Command, CommandError, CommandSpec, Cx, Group, KeySpec, Reply};
use crate::keyspace::{sha1_hex, Keyspace};

pub use engine::SCRIPT_INSTRUCTIONS_MAX;
pub use functions::{
    stats_reply as function_stats_reply, FCall, FCallRo, Function, FunctionRequest, RestorePolicy,
};
pub use running::{KillOutcome, RunGuard, RunMode, RunningScript, RunningScripts, ScriptKind};

/// No DENYOOM, as in Redis 7: whether a script is refused over `maxmemory` depends on its
/// flags ([`refused_over_maxmemory`]).
const EVAL_FLAGS: Flags = Flags::WRITE
    .union(Flags::NOSCRIPT)
    .union(Flags::SKIP_MONITOR)
    .union(Flags::MAY_REPLICATE)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE);
const EVAL_RO_FLAGS: Flags = Flags::READONLY
    .union(Flags::NOSCRIPT)
    .union(Flags::SKIP_MONITOR)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE);

/// EVAL-style key positions: `numkeys` at 2, then the keys.
impl Command {
    /// Whether this command runs Lua (a script or a function), whose calls are checked
    /// against the ACL permissions of the user running it.
    pub fn runs_script(&self) -> bool {
        matches!(
            self,
            Command::Eval(_)
                | Command::EvalSha(_)
                | Command::EvalRo(_)
                | Command::EvalShaRo(_)
                | Command::FCall(_)
                | Command::FCallRo(_)
        )
    }
}

/// What a script run outside the log came to.
#[derive(Debug)]
pub struct LocalRun {
    /// The reply, final; None if the run reached a write call and was abandoned (the call
    /// must go to the log).
    pub reply: Option<Reply>,
    /// The body of an EVAL that compiled and was not cached: Redis caches what EVAL runs, so
    /// the caller caches it through the log (SCRIPT LOAD) before answering.
    pub cache: Option<Bytes>,
}

/// The kind of program `command` runs (None if it runs none): which KILL stops it.
pub fn script_kind(command: &Command) -> Option<ScriptKind> {
    match command {
        Command::Eval(_) | Command::EvalSha(_) | Command::EvalRo(_) | Command::EvalShaRo(_) => {
            Some(ScriptKind::Eval)
        }
        Command::FCall(_) | Command::FCallRo(_) => Some(ScriptKind::Function),
        _ => None,
    }
}

/// Runs the script or function call `command` outside the log, on `ks`, a copy of the applied
/// keyspace that is thrown away afterwards, in `cx`, which carries the [`RunningScript`] that
/// SCRIPT KILL reaches. A write command (EVAL, EVALSHA, FCALL) runs speculatively: it stops at
/// its first write call.
pub fn run_outside_log(command: &Command, ks: &mut Keyspace, cx: &mut Cx) -> LocalRun {
    debug_assert!(cx.running_script().is_some(), "a local run is watched");
    let uncached = match command {
        Command::Eval(eval) => {
            let sha = sha1_hex(&eval.body);
            (!ks.scripts().contains(&sha)).then_some((sha, eval.body.clone()))
        }
        _ => None,
    };
    let reply = if command.is_write() {
        command.apply(ks, cx)
    } else {
        command.read(ks, cx)
    };
    let needs_log = cx.running_script().is_some_and(|script| script.needs_log());
    // Eval's apply cached the body in the copy once it compiled.
    let cache = uncached
        .filter(|(sha, _)| ks.scripts().contains(sha))
        .map(|(_, body)| body);
    LocalRun {
        reply: (!needs_log).then_some(reply),
        cache,
    }
}

fn eval_keys(args: &[Bytes]) -> Option<Vec<usize>> {
    super::numkeys_positions(args, 2)
}

/// The keys and arguments after `numkeys` (at index 2), with Redis's errors.
fn split_keys(args: Args<'_>) -> Result<(Vec<Bytes>, Vec<Bytes>), CommandError> {
    let count = super::parse_i64(args.at(2))?;
    if count < 0 {
        return Err(CommandError::Script(
            "ERR Number of keys can't be negative".into(),
        ));
    }
    let rest = args.from(3);
    let count = count as usize;
    if count > rest.len() {
        return Err(CommandError::Script(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    Ok((rest[..count].to_vec(), rest[count..].to_vec()))
}

/// Runs `body` after caching it (EVAL adds what it runs to the cache, as Redis does).
fn eval_body(
    ks: &mut Keyspace,
    cx: &mut Cx,
    body: &Bytes,
    keys: &[Bytes],
    args: &[Bytes],
) -> Result<Reply, CommandError> {
    let sha = sha1_hex(body);
    if !ks.scripts().contains(&sha) {
        engine::check_compiles(body)?;
        ks.scripts_mut().insert(body.clone());
    }
    run_script(ks, cx, body, &sha, keys, args)
}

/// Runs a cached or just-cached script, read-only if its shebang says `no-writes`.
fn run_script(
    ks: &mut Keyspace,
    cx: &mut Cx,
    body: &Bytes,
    sha: &str,
    keys: &[Bytes],
    args: &[Bytes],
) -> Result<Reply, CommandError> {
    let no_writes = engine::script_flags(body)?
        .is_some_and(|flags| flags.iter().any(|flag| flag == "no-writes"));
    let access = if no_writes {
        engine::Access::Read(ks)
    } else {
        engine::Access::Write(ks)
    };
    Ok(engine::run(
        engine::Program::Script { body, sha },
        keys,
        args,
        access,
        cx,
    ))
}

/// Whether `command` runs a script or function that must be refused while used memory is over
/// `maxmemory`: one that declares its flags, may write (not `no-writes`) and does not declare
/// `allow-oom`; or is FUNCTION LOAD or RESTORE. A script without a shebang starts as in Redis:
/// the leader marks its log entry as accepted over `maxmemory` (`Op::OverMemory`) and the
/// script's first memory-growing call fails at apply, the same on every replica. Scripts that
/// are not cached, functions that do not exist and malformed shebangs are not refused here:
/// running them gives their own error.
pub fn refused_over_maxmemory(command: &Command, ks: &Keyspace) -> bool {
    match command {
        // FUNCTION LOAD and RESTORE add code (Redis flags those subcommands denyoom).
        Command::Function(function) => matches!(
            function.request,
            FunctionRequest::Load { .. } | FunctionRequest::Restore { .. }
        ),
        _ => declares_none_of(command, ks, &["no-writes", "allow-oom"]).unwrap_or(false),
    }
}

/// Whether `command` runs a script or function that must be refused while fewer than
/// `min-replicas-to-write` followers are in contact: one that declares its flags and may write
/// (not `no-writes`). A script without a shebang starts, and its first write call fails at
/// apply (`Op::UnderLimits`), as in Redis.
pub fn refused_without_replicas(command: &Command, ks: &Keyspace) -> bool {
    declares_none_of(command, ks, &["no-writes"]).unwrap_or(true)
}

/// For a command that runs a script or function (EVAL, EVALSHA, FCALL): whether that code
/// declares its flags and none of them is in `exempt`. A script without a shebang, one that is
/// not cached, a malformed shebang or a function that does not exist declare nothing: `false`.
/// `None` for any other command.
fn declares_none_of(command: &Command, ks: &Keyspace, exempt: &[&str]) -> Option<bool> {
    let script = |body: &[u8]| {
        engine::script_flags(body).is_ok_and(|flags| {
            flags.is_some_and(|flags| !flags.iter().any(|flag| exempt.contains(&flag.as_str())))
        })
    };
    Some(match command {
        Command::Eval(eval) => script(&eval.body),
        Command::EvalSha(eval) => cached_body(ks, &eval.sha).is_ok_and(|(body, _)| script(&body)),
        Command::FCall(call) => ks
            .functions()
            .function(&String::from_utf8_lossy(&call.function))
            .is_some_and(|(_, function)| !exempt.iter().any(|flag| function.has_flag(flag))),
        _ => return None,
    })
}

/// EVAL_RO and EVALSHA_RO refuse a script whose shebang does not declare `no-writes`.
fn check_read_only(body: &[u8]) -> Result<(), CommandError> {
    match engine::script_flags(body)? {
        Some(flags) if !flags.iter().any(|flag| flag == "no-writes") => Err(CommandError::Script(
            "ERR Can not execute a script with write flag using *_ro command.".into(),
        )),
        _ => Ok(()),
    }
}

fn cached_body(ks: &Keyspace, sha: &Bytes) -> Result<(Bytes, String), CommandError> {
    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
    match ks.scripts().get(&sha) {
        Some(body) if sha.len() == 40 => Ok((body.clone(), sha)),
        _ => Err(CommandError::NoScript),
    }
}

/// `EVAL script numkeys [key ...] [arg ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    pub body: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl Eval {
    pub const SPEC: CommandSpec = CommandSpec::data("eval", -3, Group::Scripting, Eval::parse)
        .flags(EVAL_FLAGS)
        .keys(KeySpec::movable(0, 0, 0, eval_keys))
        .docs(
            "2.6.0",
            "Executes a server-side Lua script.",
            &["script", "numkeys", "[key...]", "[arg...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_keys(args)?;
        Ok(Eval {
            body: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        eval_body(ks, cx, &self.body, &self.keys, &self.args)
    }
}

/// `EVALSHA sha1 numkeys [key ...] [arg ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSha {
    pub sha: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl EvalSha {
    pub const SPEC: CommandSpec =
        CommandSpec::data("evalsha", -3, Group::Scripting, EvalSha::parse)
            .flags(EVAL_FLAGS)
            .keys(KeySpec::movable(0, 0, 0, eval_keys))
            .docs(
                "2.6.0",
                "Executes a server-side Lua script by SHA1 digest.",
                &["sha1", "numkeys", "[key...]", "[arg...]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_keys(args)?;
        Ok(EvalSha {
            sha: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let (body, sha) = cached_body(ks, &self.sha)?;
        run_script(ks, cx, &body, &sha, &self.keys, &self.args)
    }
}

/// `EVAL_RO script numkeys [key ...] [arg ...]`: a read; any write the script tries is an
/// error. The body is not added to the cache (a read changes no state).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRo {
    pub body: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl EvalRo {
    pub const SPEC: CommandSpec = CommandSpec::data("eval_ro", -3, Group::Scripting, EvalRo::parse)
        .flags(EVAL_RO_FLAGS)
        .keys(KeySpec::movable(0, 0, 0, eval_keys))
        .docs(
            "7.0.0",
            "Executes a read-only server-side Lua script.",
            &["script", "numkeys", "[key...]", "[arg...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_keys(args)?;
        Ok(EvalRo {
            body: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        engine::check_compiles(&self.body)?;
        check_read_only(&self.body)?;
        let sha = sha1_hex(&self.body);
        Ok(engine::run(
            engine::Program::Script {
                body: &self.body,
                sha: &sha,
            },
            &self.keys,
            &self.args,
            engine::Access::Read(ks),
            cx,
        ))
    }
}

/// `EVALSHA_RO sha1 numkeys [key ...] [arg ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalShaRo {
    pub sha: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl EvalShaRo {
    pub const SPEC: CommandSpec =
        CommandSpec::data("evalsha_ro", -3, Group::Scripting, EvalShaRo::parse)
            .flags(EVAL_RO_FLAGS)
            .keys(KeySpec::movable(0, 0, 0, eval_keys))
            .docs(
                "7.0.0",
                "Executes a read-only server-side Lua script by SHA1 digest.",
                &["sha1", "numkeys", "[key...]", "[arg...]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_keys(args)?;
        Ok(EvalShaRo {
            sha: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let (body, sha) = cached_body(ks, &self.sha)?;
        check_read_only(&body)?;
        Ok(engine::run(
            engine::Program::Script {
                body: &body,
                sha: &sha,
            },
            &self.keys,
            &self.args,
            engine::Access::Read(ks),
            cx,
        ))
    }
}

/// What a SCRIPT command asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScriptRequest {
    Load(Bytes),
    Exists(Vec<Bytes>),
    Flush,
    Kill,
    Help,
}

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP`. Every subcommand goes through the log (the cache is
/// replicated state; EXISTS so answered is linearizable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Script {
    pub request: ScriptRequest,
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Print this help.",
];

impl Script {
    pub const SPEC: CommandSpec = CommandSpec::data("script", -2, Group::Scripting, Script::parse)
        .flags(Flags::WRITE.union(Flags::NOSCRIPT))
        .docs(
            "2.6.0",
            "Manages the Lua script cache: LOAD, EXISTS, FLUSH, KILL (a script run outside the log), HELP.",
            &["subcommand", "[arg...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1).to_ascii_lowercase();
        let arity_error = |name: &'static str| CommandError::WrongArity { command: name };
        let request = match sub.as_slice() {
            b"load" if args.len() == 3 => ScriptRequest::Load(args.key(2)),
            b"load" => return Err(arity_error("script|load")),
            b"exists" if args.len() >= 3 => ScriptRequest::Exists(args.from(2).to_vec()),
            b"exists" => return Err(arity_error("script|exists")),
            b"flush" if args.len() == 2 => ScriptRequest::Flush,
            b"flush" if args.len() == 3 => {
                if is_option(args.at(2), "async") || is_option(args.at(2), "sync") {
                    ScriptRequest::Flush
                } else {
                    return Err(CommandError::Script(
                        "ERR SCRIPT FLUSH only support SYNC|ASYNC option".into(),
                    ));
                }
            }
            b"flush" => return Err(arity_error("script|flush")),
            b"kill" if args.len() == 2 => ScriptRequest::Kill,
            b"kill" => return Err(arity_error("script|kill")),
            b"help" if args.len() == 2 => ScriptRequest::Help,
            b"help" => return Err(arity_error("script|help")),
            _ => {
                return Err(CommandError::Script(format!(
                    "ERR unknown subcommand '{}'. Try SCRIPT HELP.",
                    String::from_utf8_lossy(args.at(1))
                )))
            }
        };
        Ok(Script { request }.into())
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, _cx: &mut Cx) -> Result<Reply, CommandError> {
        Ok(match &self.request {
            ScriptRequest::Load(body) => {
                engine::check_compiles(body)?;
                let sha = ks.scripts_mut().insert(body.clone());
                Reply::Bulk(Bytes::from(sha))
            }
            ScriptRequest::Exists(shas) => Reply::Array(
                shas.iter()
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha);
                        Reply::Integer(i64::from(ks.scripts().contains(&sha)))
                    })
                    .collect(),
            ),
            ScriptRequest::Flush => {
                ks.scripts_mut().clear();
                Reply::Ok
            }
            ScriptRequest::Kill => return Err(CommandError::NotBusy),
            ScriptRequest::Help => Reply::Array(
                SCRIPT_HELP
                    .iter()
                    .map(|line| Reply::Simple((*line).to_string()))
                    .collect(),
            ),
        })
    }
}

#[cfg(test)]
mod tests;
