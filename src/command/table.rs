//! The table of every command Tandem answers: the data commands (each family's specs, in
//! `DATA_SPECS`) and the commands the server answers itself (connection, transactions,
//! administration, cluster, pub/sub), whose specs are declared here and whose handlers live in
//! `crate::server`, found by their [`ServerCommand`] id. The table sits below the server so that
//! everything reading specs (dispatch, COMMAND, ACL rules, scripts' `redis.acl_check_cmd` and
//! call names) reads this one, on every node, embedded or not.
//! Invariant: a server spec's handler id is its position in [`ServerCommand`] (checked by a test).

use std::sync::LazyLock;

use bytes::Bytes;

use super::{Categories, CommandSpec, Flags, Group, Handler, KeySpec, Registry, Reply};

/// The Redis version whose commands and replies Tandem follows, and answers as (INFO, HELLO,
/// scripts' `redis.REDIS_VERSION`).
pub const REDIS_VERSION: &str = "7.0.0";

/// Declares the server's own commands: the `ServerCommand` id each handler is dispatched by,
/// and the spec (declared below) that carries it.
macro_rules! server_commands {
    ($( $variant:ident => $spec:path, )*) => {
        /// A command the server answers itself. Its discriminant is the id in its spec.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u16)]
        pub(crate) enum ServerCommand {
            $( $variant, )*
        }

        impl ServerCommand {
            const ALL: &'static [ServerCommand] = &[ $( ServerCommand::$variant, )* ];

            /// The command a spec's `Handler::Server(id)` names.
            pub(crate) fn from_id(id: u16) -> Option<ServerCommand> {
                ServerCommand::ALL.get(usize::from(id)).copied()
            }
        }

        /// The server's own commands, in declaration order.
        const SERVER_SPECS: &[&CommandSpec] = &[ $( &$spec, )* ];
    };
}

server_commands! {
    Ping => PING,
    Echo => ECHO,
    Hello => HELLO,
    Auth => AUTH,
    Client => CLIENT,
    Select => SELECT,
    Quit => QUIT,
    Reset => RESET,
    Multi => MULTI,
    Exec => EXEC,
    Discard => DISCARD,
    Watch => WATCH,
    Unwatch => UNWATCH,
    Time => TIME,
    Info => INFO,
    Command => COMMAND,
    Config => CONFIG,
    Wait => WAIT,
    ReadOnly => READONLY,
    ReadWrite => READWRITE,
    Tandem => TANDEM,
    Shutdown => SHUTDOWN,
    Slowlog => SLOWLOG,
    Latency => LATENCY,
    Debug => DEBUG,
    Save => SAVE,
    // pubsub
    Subscribe => SUBSCRIBE,
    Unsubscribe => UNSUBSCRIBE,
    PSubscribe => PSUBSCRIBE,
    PUnsubscribe => PUNSUBSCRIBE,
    Publish => PUBLISH,
    Pubsub => PUBSUB,
    SSubscribe => SSUBSCRIBE,
    SUnsubscribe => SUNSUBSCRIBE,
    SPublish => SPUBLISH,
    // acl
    Acl => ACL,
    // operations
    BgSave => BGSAVE,
    LastSave => LASTSAVE,
}

/// Every command: data commands first, then the server's.
static COMMANDS: LazyLock<Registry> =
    LazyLock::new(|| Registry::new(super::DATA_SPECS.iter().chain(SERVER_SPECS).copied()));

/// The spec for `name` (any case): one hash lookup.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.lookup(name)
}

/// The spec for `name` (any case) and its position in [`all`]: one hash lookup.
pub fn lookup_indexed(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    COMMANDS.lookup_indexed(name)
}

/// Every command the server answers, in COMMAND's order.
pub fn all() -> &'static [&'static CommandSpec] {
    COMMANDS.all()
}

/// Whether `spec` is answered by the server itself rather than the command model.
pub(crate) fn server_command(spec: &CommandSpec) -> Option<ServerCommand> {
    match spec.handler {
        Handler::Server(id) => ServerCommand::from_id(id),
        Handler::Data(_) => None,
    }
}

/// SELECT index's answer (from a client or a script): Tandem has one database, 0.
pub(crate) fn select_reply(args: &[Bytes]) -> Reply {
    let index = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|text| text.parse::<i64>().ok());
    match index {
        None => Reply::Error("ERR value is not an integer or out of range".into()),
        Some(0) => Reply::Ok,
        Some(_) => Reply::Error("ERR DB index is out of range".into()),
    }
}

// Connection.

/// Flags of the commands a client may send before it authenticates.
const NO_AUTH_FLAGS: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::NO_AUTH)
    .union(Flags::ALLOW_BUSY);

const PING: CommandSpec =
    CommandSpec::server("ping", -1, Group::Connection, ServerCommand::Ping as u16)
        .flags(Flags::FAST)
        .docs(
            "1.0.0",
            "Returns the server's liveliness response.",
            &["[message]"],
        );

const ECHO: CommandSpec =
    CommandSpec::server("echo", 2, Group::Connection, ServerCommand::Echo as u16)
        .flags(Flags::FAST)
        .docs("1.0.0", "Returns the given string.", &["message"]);

const HELLO: CommandSpec =
    CommandSpec::server("hello", -1, Group::Connection, ServerCommand::Hello as u16)
        .flags(NO_AUTH_FLAGS)
        .docs(
            "6.0.0",
            "Handshakes with the Redis server.",
            &["[protover [AUTH username password] [SETNAME clientname]]"],
        );

const AUTH: CommandSpec =
    CommandSpec::server("auth", -2, Group::Connection, ServerCommand::Auth as u16)
        .flags(NO_AUTH_FLAGS)
        .docs(
            "1.0.0",
            "Authenticates the connection.",
            &["[username]", "password"],
        );

const CLIENT: CommandSpec =
    CommandSpec::server("client", -2, Group::Connection, ServerCommand::Client as u16)
        .docs(
            "2.4.0",
            "A container for client connection commands (SETNAME, GETNAME, ID, LIST, INFO, KILL, SETINFO, PRIORITY).",
            &["subcommand", "[argument...]"],
        );

const SELECT: CommandSpec =
    CommandSpec::server("select", 2, Group::Connection, ServerCommand::Select as u16)
        .flags(
            Flags::NOSCRIPT
                .union(Flags::LOADING)
                .union(Flags::STALE)
                .union(Flags::FAST),
        )
        .docs(
            "1.0.0",
            "Changes the selected database (Tandem has only database 0).",
            &["index"],
        );

const QUIT: CommandSpec =
    CommandSpec::server("quit", -1, Group::Connection, ServerCommand::Quit as u16)
        .flags(
            Flags::NOSCRIPT
                .union(Flags::LOADING)
                .union(Flags::STALE)
                .union(Flags::FAST)
                .union(Flags::NO_AUTH)
                .union(Flags::ALLOW_BUSY)
                .union(Flags::RUNS_IN_MULTI),
        )
        .docs("1.0.0", "Closes the connection.", &[]);

const RESET: CommandSpec =
    CommandSpec::server("reset", 1, Group::Connection, ServerCommand::Reset as u16)
        .flags(NO_AUTH_FLAGS.union(Flags::RUNS_IN_MULTI))
        .docs("6.2.0", "Resets the connection.", &[]);

// Transactions.

/// Flags of MULTI, DISCARD, WATCH and UNWATCH.
const TRANSACTION_FLAGS: Flags = Flags::NOSCRIPT
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::ALLOW_BUSY);

const MULTI: CommandSpec =
    CommandSpec::server("multi", 1, Group::Transactions, ServerCommand::Multi as u16)
        .flags(TRANSACTION_FLAGS.union(Flags::RUNS_IN_MULTI))
        .docs("1.2.0", "Starts a transaction.", &[]);

const EXEC: CommandSpec =
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

const DISCARD: CommandSpec = CommandSpec::server(
    "discard",
    1,
    Group::Transactions,
    ServerCommand::Discard as u16,
)
.flags(TRANSACTION_FLAGS.union(Flags::RUNS_IN_MULTI))
.docs("2.0.0", "Discards a transaction.", &[]);

const WATCH: CommandSpec = CommandSpec::server(
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

const UNWATCH: CommandSpec = CommandSpec::server(
    "unwatch",
    1,
    Group::Transactions,
    ServerCommand::Unwatch as u16,
)
.flags(TRANSACTION_FLAGS)
.docs("2.2.0", "Forgets about watched keys of a transaction.", &[]);

// Server and operations.

const TIME: CommandSpec = CommandSpec::server("time", 1, Group::Server, ServerCommand::Time as u16)
    .flags(Flags::LOADING.union(Flags::STALE).union(Flags::FAST))
    .docs("2.6.0", "Returns the server time.", &[]);

const INFO: CommandSpec =
    CommandSpec::server("info", -1, Group::Server, ServerCommand::Info as u16)
        .flags(Flags::LOADING.union(Flags::STALE))
        .categories(Categories::DANGEROUS)
        .docs(
            "1.0.0",
            "Returns information and statistics about the server.",
            &["[section...]"],
        );

const COMMAND: CommandSpec =
    CommandSpec::server("command", -1, Group::Server, ServerCommand::Command as u16)
        .flags(Flags::LOADING.union(Flags::STALE))
        .categories(Categories::CONNECTION)
        .docs(
            "2.8.13",
            "Returns detailed information about all commands (COUNT, INFO, DOCS, LIST [FILTERBY], GETKEYS).",
            &["[COUNT|INFO|DOCS|LIST|GETKEYS]", "[argument...]"],
        );

const CONFIG: CommandSpec = CommandSpec::server(
    "config",
    -2,
    Group::Server,
    ServerCommand::Config as u16,
)
.flags(
    Flags::ADMIN
        .union(Flags::NOSCRIPT)
        .union(Flags::LOADING)
        .union(Flags::STALE),
)
.docs(
    "2.0.0",
    "Reads or changes the run-time configuration (GET, SET, RESETSTAT, HELP; REWRITE is refused).",
    &["GET|SET|RESETSTAT|REWRITE|HELP", "[argument...]"],
);

const WAIT: CommandSpec =
    CommandSpec::server("wait", 3, Group::Generic, ServerCommand::Wait as u16)
        .docs(
            "3.0.0",
            "Answers at once: every acknowledged write is already on a quorum (the count of followers holding all applied writes; 0 on a single node).",
            &["numreplicas", "timeout"],
        );

const SHUTDOWN: CommandSpec =
    CommandSpec::server("shutdown", -1, Group::Server, ServerCommand::Shutdown as u16)
        .flags(
            Flags::ADMIN
                .union(Flags::NOSCRIPT)
                .union(Flags::LOADING)
                .union(Flags::STALE)
                .union(Flags::NO_MULTI)
                .union(Flags::ALLOW_BUSY),
        )
        .docs(
            "1.0.0",
            "Shuts the server down as SIGTERM does: stops accepting, finishes in-flight commands, final fsync, exit 0.",
            &["[NOSAVE|SAVE]", "[NOW]", "[FORCE]", "[ABORT]"],
        );

const SLOWLOG: CommandSpec =
    CommandSpec::server("slowlog", -2, Group::Server, ServerCommand::Slowlog as u16)
        .flags(Flags::ADMIN.union(Flags::LOADING).union(Flags::STALE))
        .docs(
            "2.2.12",
            "Reads or resets the slow log (GET [count], LEN, RESET, HELP).",
            &["GET|LEN|RESET|HELP", "[count]"],
        );

const LATENCY: CommandSpec = CommandSpec::server(
    "latency",
    -2,
    Group::Server,
    ServerCommand::Latency as u16,
)
.flags(Flags::ADMIN.union(Flags::LOADING).union(Flags::STALE))
.docs(
    "2.8.13",
    "Reads or resets the latency monitor (LATEST, HISTORY event, RESET [event...], DOCTOR, HELP).",
    &["LATEST|HISTORY|RESET|DOCTOR|HELP", "[event...]"],
);

const DEBUG: CommandSpec =
    CommandSpec::server("debug", -2, Group::Server, ServerCommand::Debug as u16)
        .flags(
            Flags::ADMIN
                .union(Flags::NOSCRIPT)
                .union(Flags::LOADING)
                .union(Flags::STALE),
        )
        .docs(
            "1.0.0",
            "A few debugging helpers (SLEEP seconds, SET-ACTIVE-EXPIRE 0|1, HELP).",
            &["SLEEP|SET-ACTIVE-EXPIRE|HELP", "[argument...]"],
        );

const SAVE: CommandSpec =
    CommandSpec::server("save", 1, Group::Server, ServerCommand::Save as u16)
        .flags(
            Flags::ADMIN
                .union(Flags::NOSCRIPT)
                .union(Flags::NO_MULTI),
        )
        .docs(
            "1.0.0",
            "Builds a snapshot now and waits for it (every write is already in the fsynced log; a snapshot shortens restart and lets the log be purged).",
            &[],
        );

const BGSAVE: CommandSpec =
    CommandSpec::server("bgsave", -1, Group::Server, ServerCommand::BgSave as u16)
        .flags(Flags::ADMIN.union(Flags::NOSCRIPT))
        .docs(
            "1.0.0",
            "Starts building a snapshot in the background (as SAVE, without waiting for it); LASTSAVE changes when it is on disk.",
            &["[SCHEDULE]"],
        );

const LASTSAVE: CommandSpec = CommandSpec::server(
    "lastsave",
    1,
    Group::Server,
    ServerCommand::LastSave as u16,
)
.flags(Flags::LOADING.union(Flags::STALE).union(Flags::FAST))
.docs(
    "1.0.0",
    "Unix time (seconds) at which this node's newest snapshot was written; 0 if it has none.",
    &[],
);

const ACL: CommandSpec = CommandSpec::server("acl", -2, Group::Server, ServerCommand::Acl as u16)
    .flags(Flags::NOSCRIPT.union(Flags::LOADING).union(Flags::STALE))
    .categories(Categories::ADMIN.union(Categories::DANGEROUS))
    .docs(
        "6.0.0",
        "A container for Access List Control commands.",
        &["subcommand", "[arg...]"],
    );

// Cluster.

const READONLY: CommandSpec = CommandSpec::server(
    "readonly",
    1,
    Group::Cluster,
    ServerCommand::ReadOnly as u16,
)
.flags(Flags::LOADING.union(Flags::STALE).union(Flags::FAST))
.categories(Categories::CONNECTION)
.docs(
    "3.0.0",
    "Lets this connection read from a follower (stale by at most the configured lag).",
    &[],
);

const READWRITE: CommandSpec = CommandSpec::server(
    "readwrite",
    1,
    Group::Cluster,
    ServerCommand::ReadWrite as u16,
)
.flags(Flags::LOADING.union(Flags::STALE).union(Flags::FAST))
.categories(Categories::CONNECTION)
.docs(
    "3.0.0",
    "Back to linearizable reads for this connection.",
    &[],
);

const TANDEM: CommandSpec =
    CommandSpec::server("tandem", -2, Group::Cluster, ServerCommand::Tandem as u16)
        .flags(
            Flags::ADMIN
                .union(Flags::NOSCRIPT)
                .union(Flags::LOADING)
                .union(Flags::STALE),
        )
        .docs(
            "0.1.0",
            "Tandem cluster administration (STATUS, ADD-NODE, REMOVE-NODE, TRANSFER-LEADER, BACKUP, ARCHIVE) and exactly-once sessions (SESSION, REQ, OUTCOME).",
            &[
                "STATUS|ADD-NODE|REMOVE-NODE|TRANSFER-LEADER|BACKUP|ARCHIVE|SESSION|REQ|OUTCOME",
                "[argument...]",
            ],
        );

// Pub/sub.

const SUBSCRIBE_FLAGS: Flags = Flags::PUBSUB
    .union(Flags::NOSCRIPT)
    .union(Flags::LOADING)
    .union(Flags::STALE);

const PUBLISH_FLAGS: Flags = Flags::PUBSUB
    .union(Flags::LOADING)
    .union(Flags::STALE)
    .union(Flags::FAST)
    .union(Flags::MAY_REPLICATE);

const SUBSCRIBE: CommandSpec = CommandSpec::server(
    "subscribe",
    -2,
    Group::Pubsub,
    ServerCommand::Subscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.docs(
    "2.0.0",
    "Listens for messages published to channels.",
    &["channel..."],
);

const UNSUBSCRIBE: CommandSpec = CommandSpec::server(
    "unsubscribe",
    -1,
    Group::Pubsub,
    ServerCommand::Unsubscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.docs(
    "2.0.0",
    "Stops listening to messages posted to channels.",
    &["[channel...]"],
);

const PSUBSCRIBE: CommandSpec = CommandSpec::server(
    "psubscribe",
    -2,
    Group::Pubsub,
    ServerCommand::PSubscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.docs(
    "2.0.0",
    "Listens for messages published to channels that match one or more patterns.",
    &["pattern..."],
);

const PUNSUBSCRIBE: CommandSpec = CommandSpec::server(
    "punsubscribe",
    -1,
    Group::Pubsub,
    ServerCommand::PUnsubscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.docs(
    "2.0.0",
    "Stops listening to messages published to channels that match one or more patterns.",
    &["[pattern...]"],
);

const PUBLISH: CommandSpec =
    CommandSpec::server("publish", 3, Group::Pubsub, ServerCommand::Publish as u16)
        .flags(PUBLISH_FLAGS)
        .docs(
            "2.0.0",
            "Posts a message to a channel, on every node of the cluster.",
            &["channel", "message"],
        );

const PUBSUB: CommandSpec =
    CommandSpec::server("pubsub", -2, Group::Pubsub, ServerCommand::Pubsub as u16).docs(
        "2.8.0",
        "A container for Pub/Sub commands (CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB).",
        &["subcommand", "[argument...]"],
    );

const SSUBSCRIBE: CommandSpec = CommandSpec::server(
    "ssubscribe",
    -2,
    Group::Pubsub,
    ServerCommand::SSubscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.keys(KeySpec::range(1, -1, 1))
.docs(
    "7.0.0",
    "Listens for messages published to shard channels.",
    &["shardchannel..."],
);

const SUNSUBSCRIBE: CommandSpec = CommandSpec::server(
    "sunsubscribe",
    -1,
    Group::Pubsub,
    ServerCommand::SUnsubscribe as u16,
)
.flags(SUBSCRIBE_FLAGS)
.keys(KeySpec::range(1, -1, 1))
.docs(
    "7.0.0",
    "Stops listening to messages posted to shard channels.",
    &["[shardchannel...]"],
);

const SPUBLISH: CommandSpec =
    CommandSpec::server("spublish", 3, Group::Pubsub, ServerCommand::SPublish as u16)
        .flags(PUBLISH_FLAGS)
        .keys(KeySpec::ONE)
        .docs(
            "7.0.0",
            "Posts a message to a shard channel (Tandem has one shard: every node of the cluster).",
            &["shardchannel", "message"],
        );

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_match_their_position() {
        for (position, spec) in SERVER_SPECS.iter().enumerate() {
            match spec.handler {
                Handler::Server(id) => assert_eq!(usize::from(id), position, "{}", spec.name),
                Handler::Data(_) => panic!("{} is declared as a server command", spec.name),
            }
            assert!(
                !spec.summary.is_empty(),
                "{}: COMMAND DOCS summary",
                spec.name
            );
        }
        assert_eq!(ServerCommand::ALL.len(), SERVER_SPECS.len());
    }

    #[test]
    fn every_command_is_found_once_in_any_case() {
        assert_eq!(
            all().len(),
            super::super::DATA_SPECS.len() + SERVER_SPECS.len()
        );
        for spec in all() {
            assert_eq!(
                lookup(spec.name.to_uppercase().as_bytes()).unwrap().name,
                spec.name
            );
        }
        assert!(lookup(b"ZRANGEBYSCORE").is_some());
        assert!(lookup(b"nosuch").is_none());
        let exec = lookup(b"exec").unwrap();
        assert!(exec.flags.contains(Flags::RUNS_IN_MULTI));
        assert!(!lookup(b"set").unwrap().flags.contains(Flags::RUNS_IN_MULTI));
    }

    #[test]
    fn select_accepts_only_database_zero() {
        let select = |index: &'static str| {
            select_reply(&[
                Bytes::from_static(b"SELECT"),
                Bytes::from_static(index.as_bytes()),
            ])
        };
        assert_eq!(select("0"), Reply::Ok);
        assert_eq!(
            select("1"),
            Reply::Error("ERR DB index is out of range".into())
        );
        assert_eq!(
            select("x"),
            Reply::Error("ERR value is not an integer or out of range".into())
        );
    }
}
