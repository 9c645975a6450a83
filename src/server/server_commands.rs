//! Server commands: TIME, INFO, COMMAND, CONFIG, WAIT and SHUTDOWN. They read or change
//! server-wide state (the command table, the run-time configuration, counters, node status)
//! and none of the data. The replies of those that may be queued in MULTI are plain functions of
//! the server state, so EXEC can answer them too (`queued_reply`).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::command_table;
use super::command_table::ServerCommand;
use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::info;
use super::Shared;
use crate::command::Reply;
use crate::command::{CommandSpec, Flags};

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

fn unknown_subcommand(command: &str, sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        String::from_utf8_lossy(sub)
    )
}

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Refused by Tandem: its config file belongs to the operator; CONFIG SET lasts until restart.",
    "HELP",
    "    Prints this help.",
];

/// SHUTDOWN's options: at most one of SAVE / NOSAVE, any of NOW / FORCE, or ABORT alone
/// (which always fails: a shutdown cannot be aborted once begun). Err is the reply text.
fn check_shutdown_options(options: &[Bytes]) -> Result<(), &'static str> {
    const SYNTAX: &str = "ERR syntax error";
    let (mut save, mut abort, mut other) = (false, false, false);
    for option in options {
        match option.to_ascii_lowercase().as_slice() {
            b"save" | b"nosave" if save => return Err(SYNTAX),
            b"save" | b"nosave" => save = true,
            b"now" | b"force" => other = true,
            b"abort" => abort = true,
            _ => return Err(SYNTAX),
        }
    }
    match (abort, save || other) {
        (true, true) => Err(SYNTAX),
        (true, false) => Err("ERR No shutdown in progress."),
        (false, _) => Ok(()),
    }
}

/// The reply of a server command queued in MULTI, answered at EXEC after the data commands.
pub(crate) async fn queued_reply(shared: &Shared, command: ServerCommand, args: &[Bytes]) -> Reply {
    match command {
        ServerCommand::Debug => super::debug::run(args).await,
        ServerCommand::Ping => super::session::ping_reply(args),
        ServerCommand::Echo => Reply::Bulk(args[1].clone()),
        ServerCommand::Publish | ServerCommand::SPublish => {
            let shard = command == ServerCommand::SPublish;
            let receivers = super::pubsub::publish(shared, shard, &args[1], &args[2]).await;
            Reply::Integer(receivers as i64)
        }
        ServerCommand::Pubsub => super::pubsub::pubsub_reply(shared, args),
        ServerCommand::Time => time_reply(),
        ServerCommand::Select => crate::command::table::select_reply(args),
        ServerCommand::Info => info_reply(shared, args),
        ServerCommand::Command => command_reply(args),
        ServerCommand::Config => config_reply(shared, args),
        ServerCommand::Slowlog => super::slowlog::slowlog_reply(&shared.slowlog, args),
        ServerCommand::Latency => super::latency::latency_reply(
            &shared.latency,
            &shared.stats,
            args,
            shared.live.latency_threshold_ms(),
        ),
        other => Reply::Error(format!(
            "ERR internal error: {other:?} cannot be answered inside EXEC"
        )),
    }
}

fn time_reply() -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        bulk(now.as_secs().to_string()),
        bulk(now.subsec_micros().to_string()),
    ])
}

fn info_reply(shared: &Shared, args: &[Bytes]) -> Reply {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    bulk(info::render(shared, &sections))
}

/// COMMAND | COMMAND COUNT | COMMAND INFO [name ...] | COMMAND DOCS [name ...] | COMMAND LIST
fn command_reply(args: &[Bytes]) -> Reply {
    let commands = command_table::all();
    let all_info = || {
        Reply::Array(
            commands
                .iter()
                .map(|c| command_table::info_reply(c))
                .collect(),
        )
    };
    let Some(sub) = args.get(1) else {
        return all_info();
    };
    let names = &args[2..];
    match sub.to_ascii_lowercase().as_slice() {
        b"count" if names.is_empty() => Reply::Integer(commands.len() as i64),
        b"list" => command_list(commands, names),
        b"getkeys" => command_getkeys(args),
        b"info" if names.is_empty() => all_info(),
        b"info" => Reply::Array(
            names
                .iter()
                .map(|n| command_table::lookup(n).map_or(Reply::Nil, command_table::info_reply))
                .collect(),
        ),
        b"docs" => {
            let specs: Vec<_> = if names.is_empty() {
                commands.to_vec()
            } else {
                names
                    .iter()
                    .filter_map(|n| command_table::lookup(n))
                    .collect()
            };
            Reply::Map(
                specs
                    .into_iter()
                    .map(|spec| (bulk(spec.name), command_table::docs_reply(spec)))
                    .collect(),
            )
        }
        b"count" => Reply::Error(wrong_arity("command|count")),
        _ => Reply::Error(unknown_subcommand("COMMAND", sub)),
    }
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
fn command_list(commands: &[&'static CommandSpec], filter: &[Bytes]) -> Reply {
    let names = |keep: &dyn Fn(&CommandSpec) -> bool| {
        Reply::Array(
            commands
                .iter()
                .filter(|c| keep(c))
                .map(|c| bulk(c.name))
                .collect(),
        )
    };
    match filter {
        [] => names(&|_| true),
        [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
            match kind.to_ascii_lowercase().as_slice() {
                // Tandem has no modules.
                b"module" => Reply::Array(Vec::new()),
                b"aclcat" => {
                    let wanted = value.to_ascii_lowercase();
                    names(&|c| {
                        c.categories_all()
                            .names()
                            .any(|category| category.as_bytes() == wanted.as_slice())
                    })
                }
                b"pattern" => {
                    let pattern = value.to_ascii_lowercase();
                    names(&|c| crate::keyspace::glob_match(&pattern, c.name.as_bytes()))
                }
                _ => Reply::Error("ERR syntax error".into()),
            }
        }
        _ => Reply::Error("ERR syntax error".into()),
    }
}

/// COMMAND GETKEYS command [arg ...]: the keys `command` would touch, with Redis 7.0's errors.
fn command_getkeys(args: &[Bytes]) -> Reply {
    if args.len() < 4 {
        return Reply::Error(wrong_arity("command|getkeys"));
    }
    let target = &args[2..];
    let error = |text: &str| Reply::Error(text.into());
    let Some(spec) = command_table::lookup(&target[0]) else {
        return error("ERR Invalid command specified");
    };
    if spec.keys.first <= 0 && spec.keys.movable.is_none() {
        return error("ERR The command has no key arguments");
    }
    if !spec.arity_ok(target.len()) {
        return error("ERR Invalid number of arguments specified for command");
    }
    let positions = match spec.keys.movable {
        Some(find) => match find(target) {
            Some(positions) => positions,
            None if spec.flags.contains(Flags::NO_MANDATORY_KEYS) => Vec::new(),
            None => return error("ERR Invalid arguments specified for command"),
        },
        None => spec.keys.positions(target),
    };
    Reply::Array(
        positions
            .into_iter()
            .map(|i| Reply::Bulk(target[i].clone()))
            .collect(),
    )
}

/// CONFIG GET parameter [parameter ...] | SET parameter value [parameter value ...] |
/// RESETSTAT | HELP (REWRITE is refused).
fn config_reply(shared: &Shared, args: &[Bytes]) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"get" if args.len() >= 3 => Reply::Map(
            shared
                .live
                .get(&args[2..])
                .into_iter()
                .map(|(key, value)| (bulk(key), bulk(value)))
                .collect(),
        ),
        b"set" if args.len() >= 4 && args.len() % 2 == 1 => Reply::Error("ERR syntax error".into()),
        b"set" if args.len() >= 4 => match shared.live.set(&args[2..]) {
            Ok(()) => {
                let flags = shared.live.notify_flags();
                shared.node.cluster().sm.set_notify_flags(flags);
                Reply::Ok
            }
            Err(text) => Reply::Error(text),
        },
        b"resetstat" if args.len() == 2 => {
            shared.stats.reset();
            Reply::Ok
        }
        b"rewrite" if args.len() == 2 => Reply::Error(
            "ERR CONFIG REWRITE is not supported: Tandem never writes its config file (tandem serve --config); settings changed by CONFIG SET last until restart".into(),
        ),
        b"help" if args.len() == 2 => super::slowlog::help_reply(CONFIG_HELP),
        b"get" | b"set" | b"resetstat" | b"rewrite" | b"help" => Reply::Error(wrong_arity(
            &format!("config|{}", String::from_utf8_lossy(&sub)),
        )),
        _ => Reply::Error(unknown_subcommand("CONFIG", &args[1])),
    }
}

impl Connection {
    pub(crate) async fn time(&mut self) -> Flow {
        self.reply(Some("time"), time_reply()).await
    }

    /// INFO [section ...]
    pub(crate) async fn info(&mut self, args: &[Bytes]) -> Flow {
        if !self.wait_for_own_writes().await {
            return Flow::Close;
        }
        let reply = info_reply(&self.shared, args);
        self.reply(Some("info"), reply).await
    }

    pub(crate) async fn command(&mut self, args: &[Bytes]) -> Flow {
        self.reply(Some("command"), command_reply(args)).await
    }

    pub(crate) async fn config(&mut self, args: &[Bytes]) -> Flow {
        let reply = config_reply(&self.shared, args);
        self.reply(Some("config"), reply).await
    }

    /// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: the same clean shutdown as SIGTERM. The
    /// options are accepted as Redis has them; none changes what happens, because every
    /// acknowledged write is already in the fsynced log (nothing to save), the server does not
    /// wait for lagging followers (a quorum already holds every acknowledged write), and a
    /// shutdown cannot be aborted once begun (ABORT answers that none is in progress). Like
    /// Redis, the client gets no reply: its connection closes once earlier replies are sent.
    pub(crate) async fn shutdown(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("shutdown");
        if let Err(text) = check_shutdown_options(&args[1..]) {
            return self.error(name, text).await;
        }
        tracing::info!(id = self.client.id, addr = %self.client.addr, "SHUTDOWN received");
        self.shared.stats.record_command(name, None);
        self.shared.shutdown_requested.send_replace(true);
        Flow::Close
    }

    /// BGSAVE [SCHEDULE]: starts a snapshot and answers at once, as Redis does.
    pub(crate) async fn bgsave(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("bgsave");
        let schedule = match args.len() {
            1 => false,
            2 if args[1].eq_ignore_ascii_case(b"schedule") => true,
            _ => return self.error(name, "ERR syntax error").await,
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            if let Err(e) = shared.node.snapshot().await {
                tracing::warn!(error = %e, "BGSAVE: the snapshot failed");
            }
        });
        let text = if schedule {
            "Background saving scheduled"
        } else {
            "Background saving started"
        };
        self.reply(name, Reply::Simple(text.into())).await
    }

    /// LASTSAVE: when the newest snapshot file was written (its modification time).
    pub(crate) async fn lastsave(&mut self) -> Flow {
        let dir = self.shared.node.data_dir().join("snapshots");
        let newest = crate::snapshot::list(&dir)
            .ok()
            .and_then(|files| files.into_iter().next())
            .and_then(|path| std::fs::metadata(path).ok()?.modified().ok())
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_secs() as i64);
        self.reply(Some("lastsave"), Reply::Integer(newest)).await
    }

    /// SAVE: a snapshot of this node's keyspace now, as Redis's SAVE writes its RDB file.
    pub(crate) async fn save(&mut self) -> Flow {
        if !self.wait_for_own_writes().await {
            return Flow::Close;
        }
        let reply = match self.shared.node.snapshot().await {
            Ok(()) => Reply::Ok,
            Err(e) => super::connection::node_error_reply(&e),
        };
        self.reply(Some("save"), reply).await
    }

    /// WAIT numreplicas timeout: answers at once, because every write this connection got a
    /// reply for was already fsynced on a quorum (in `min_ack_zones` zones) before that reply.
    /// A single node answers 0; a cluster leader answers how many followers hold everything it
    /// has applied; a follower refuses, as a Redis replica does.
    pub(crate) async fn wait(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("wait");
        let parse = |a: &Bytes| std::str::from_utf8(a).ok()?.parse::<i64>().ok();
        let (Some(_), Some(timeout)) = (parse(&args[1]), parse(&args[2])) else {
            return self
                .error(name, "ERR value is not an integer or out of range")
                .await;
        };
        if timeout < 0 {
            return self.error(name, "ERR timeout is negative").await;
        }
        let cluster = self.shared.node.cluster().clone();
        if cluster.is_single() {
            return self.reply(name, Reply::Integer(0)).await;
        }
        let report = cluster.report_summary();
        if report.role != "leader" {
            return self
                .error(name, "ERR WAIT is answered by the leader; this node is a follower (writes sent here are forwarded and acknowledged once on a quorum)")
                .await;
        }
        let applied = report.applied.unwrap_or(0);
        let replicas = report
            .replication
            .iter()
            .filter(|p| p.id != report.node_id && p.matched.is_some_and(|m| m >= applied))
            .count();
        self.reply(name, Reply::Integer(replicas as i64)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn reply_names(reply: Reply) -> Vec<String> {
        let Reply::Array(items) = reply else {
            panic!("array: {reply:?}")
        };
        items
            .into_iter()
            .map(|item| match item {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("bulk: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn command_getkeys_follows_key_specs() {
        let keys = |words: &[&str]| reply_names(command_getkeys(&args(words)));
        assert_eq!(keys(&["command", "getkeys", "get", "k"]), ["k"]);
        assert_eq!(
            keys(&["command", "getkeys", "mset", "a", "1", "b", "2"]),
            ["a", "b"]
        );
        assert_eq!(keys(&["command", "getkeys", "memory", "usage", "k"]), ["k"]);
        let error = |words: &[&str]| command_getkeys(&args(words));
        assert_eq!(
            error(&["command", "getkeys", "get"]),
            Reply::Error("ERR wrong number of arguments for 'command|getkeys' command".into())
        );
        assert_eq!(
            error(&["command", "getkeys", "nosuch", "a"]),
            Reply::Error("ERR Invalid command specified".into())
        );
        assert_eq!(
            error(&["command", "getkeys", "ping", "x"]),
            Reply::Error("ERR The command has no key arguments".into())
        );
        assert_eq!(
            error(&["command", "getkeys", "get", "a", "b"]),
            Reply::Error("ERR Invalid number of arguments specified for command".into())
        );
    }

    #[test]
    fn command_list_filters() {
        let all = command_table::all();
        let list = |words: &[&str]| command_list(all, &args(words));
        assert_eq!(
            reply_names(list(&["filterby", "pattern", "HGETAL?"])),
            ["hgetall"]
        );
        let hashes = reply_names(list(&["FILTERBY", "ACLCAT", "hash"]));
        assert!(hashes.contains(&"hset".to_string()) && !hashes.contains(&"set".to_string()));
        assert_eq!(
            list(&["filterby", "aclcat", "nosuch"]),
            Reply::Array(vec![])
        );
        assert_eq!(list(&["filterby", "module", "x"]), Reply::Array(vec![]));
        assert_eq!(list(&["bad"]), Reply::Error("ERR syntax error".into()));
        assert_eq!(
            list(&["filterby", "bad", "x"]),
            Reply::Error("ERR syntax error".into())
        );
    }

    #[test]
    fn shutdown_options_are_redis_ones() {
        assert_eq!(check_shutdown_options(&[]), Ok(()));
        assert_eq!(
            check_shutdown_options(&args(&["nosave", "NOW", "force"])),
            Ok(())
        );
        assert_eq!(
            check_shutdown_options(&args(&["save", "nosave"])),
            Err("ERR syntax error")
        );
        assert_eq!(
            check_shutdown_options(&args(&["abort"])),
            Err("ERR No shutdown in progress.")
        );
        assert_eq!(
            check_shutdown_options(&args(&["abort", "now"])),
            Err("ERR syntax error")
        );
        assert_eq!(
            check_shutdown_options(&args(&["later"])),
            Err("ERR syntax error")
        );
    }
}
