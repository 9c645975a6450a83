//! Server commands: TIME, INFO, COMMAND, CONFIG and WAIT. They read server-wide state (the
//! command table, the configuration, counters and node status) and change none of the data.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::command_table;
use super::command_table::ServerCommand;
use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::info;
use crate::command::Reply;
use crate::command::{Categories, CommandSpec, Flags, Group};
use crate::keyspace::glob_match;

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

fn unknown_subcommand(command: &str, sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        String::from_utf8_lossy(sub)
    )
}

pub(super) const TIME: CommandSpec =
    CommandSpec::server("time", 1, Group::Server, ServerCommand::Time as u16)
        .flags(Flags::LOADING.union(Flags::STALE).union(Flags::FAST))
        .docs("2.6.0", "Returns the server time.", &[]);

pub(super) const INFO: CommandSpec =
    CommandSpec::server("info", -1, Group::Server, ServerCommand::Info as u16)
        .flags(Flags::LOADING.union(Flags::STALE))
        .categories(Categories::DANGEROUS)
        .docs(
            "1.0.0",
            "Returns information and statistics about the server.",
            &["[section...]"],
        );

pub(super) const COMMAND: CommandSpec =
    CommandSpec::server("command", -1, Group::Server, ServerCommand::Command as u16)
        .flags(Flags::LOADING.union(Flags::STALE))
        .categories(Categories::CONNECTION)
        .docs(
            "2.8.13",
            "Returns detailed information about all commands (COUNT, INFO, DOCS, LIST, GETKEYS).",
            &["[COUNT|INFO|DOCS|LIST|GETKEYS]", "[argument...]"],
        );

pub(super) const CONFIG: CommandSpec =
    CommandSpec::server("config", -2, Group::Server, ServerCommand::Config as u16)
        .flags(
            Flags::ADMIN
                .union(Flags::NOSCRIPT)
                .union(Flags::LOADING)
                .union(Flags::STALE),
        )
        .docs(
            "2.0.0",
            "Reads the server configuration (GET, RESETSTAT).",
            &["GET", "parameter..."],
        );

pub(super) const WAIT: CommandSpec =
    CommandSpec::server("wait", 3, Group::Generic, ServerCommand::Wait as u16)
        .docs(
            "3.0.0",
            "Answers at once: every acknowledged write is already on a quorum (the count of followers holding all applied writes; 0 on a single node).",
            &["numreplicas", "timeout"],
        );

impl Connection {
    pub(crate) async fn time(&mut self) -> Flow {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let reply = Reply::Array(vec![
            bulk(now.as_secs().to_string()),
            bulk(now.subsec_micros().to_string()),
        ]);
        self.reply(Some("time"), reply).await
    }

    /// INFO [section ...]
    pub(crate) async fn info(&mut self, args: &[Bytes]) -> Flow {
        if !self.wait_for_own_writes().await {
            return Flow::Close;
        }
        let sections: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let text = info::render(&self.shared, &sections);
        self.reply(Some("info"), bulk(text)).await
    }

    /// COMMAND | COMMAND COUNT | COMMAND INFO [name ...] | COMMAND DOCS [name ...] | COMMAND LIST
    pub(crate) async fn command(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("command");
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
            return self.reply(name, all_info()).await;
        };
        let names = &args[2..];
        let reply = match sub.to_ascii_lowercase().as_slice() {
            b"count" if names.is_empty() => Reply::Integer(commands.len() as i64),
            b"list" => Reply::Array(commands.iter().map(|c| bulk(c.name)).collect()),
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
            b"count" => return self.error(name, wrong_arity("command|count")).await,
            _ => return self.error(name, unknown_subcommand("COMMAND", sub)).await,
        };
        self.reply(name, reply).await
    }

    /// The settings CONFIG GET reports, under Redis's names where Redis has one.
    fn config_parameters(&self) -> Vec<(&'static str, String)> {
        let config = &self.shared.config;
        let limits = &config.limits;
        vec![
            ("maxclients", limits.clients_max.to_string()),
            ("timeout", limits.idle_timeout_secs.to_string()),
            ("proto-max-bulk-len", limits.bulk_bytes_max.to_string()),
            (
                "client-query-buffer-limit",
                limits.query_buffer_bytes_max.to_string(),
            ),
            (
                "requirepass",
                config.requirepass.clone().unwrap_or_default(),
            ),
            ("appendonly", "yes".into()),
            ("appendfsync", "always".into()),
            ("save", String::new()),
            ("databases", "1".into()),
            ("port", self.shared.listen_addr.port().to_string()),
            ("bind", self.shared.listen_addr.ip().to_string()),
            ("dir", config.data.display().to_string()),
            ("maxmemory", "0".into()),
            ("maxmemory-policy", "noeviction".into()),
        ]
    }

    /// CONFIG GET parameter [parameter ...] | CONFIG RESETSTAT (CONFIG SET is refused: the
    /// configuration is read at start).
    pub(crate) async fn config(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("config");
        let sub = args[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"get" if args.len() >= 3 => {
                let patterns: Vec<Vec<u8>> = args[2..].iter().map(|p| p.to_ascii_lowercase()).collect();
                let reply = Reply::Map(
                    self.config_parameters()
                        .into_iter()
                        .filter(|(key, _)| patterns.iter().any(|p| glob_match(p, key.as_bytes())))
                        .map(|(key, value)| (bulk(key), bulk(value)))
                        .collect(),
                );
                self.reply(name, reply).await
            }
            b"get" => self.error(name, wrong_arity("config|get")).await,
            b"resetstat" => {
                self.shared.stats.reset();
                self.reply(name, Reply::Ok).await
            }
            b"set" | b"rewrite" => {
                self.error(
                    name,
                    "ERR CONFIG SET and CONFIG REWRITE are not supported: Tandem reads its configuration at start (tandem serve --config)",
                )
                .await
            }
            _ => self.error(name, unknown_subcommand("CONFIG", &args[1])).await,
        }
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
