//! The table of every command this server answers: the data commands of the command registry
//! (`crate::command`) and the server's own commands (connection, transactions, administration),
//! whose specs sit next to their handlers in this module's files. Dispatch finds a command with
//! one lookup here; COMMAND, COMMAND INFO and COMMAND DOCS render the same specs.
//! Invariant: a server spec's handler id is its position in [`ServerCommand`] (checked by a test).

use std::sync::LazyLock;

use bytes::Bytes;

use crate::command::{CommandSpec, Handler, Registry, Reply};

/// Declares the server's own commands: the `ServerCommand` id each handler is dispatched by,
/// and the spec (defined next to the handler) that carries it.
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
    Ping => super::session::PING,
    Echo => super::dispatch::ECHO,
    Hello => super::session::HELLO,
    Auth => super::session::AUTH,
    Client => super::session::CLIENT,
    Select => super::session::SELECT,
    Quit => super::dispatch::QUIT,
    Reset => super::session::RESET,
    Multi => super::multi::MULTI,
    Exec => super::multi::EXEC,
    Discard => super::multi::DISCARD,
    Watch => super::multi::WATCH,
    Unwatch => super::multi::UNWATCH,
    Time => super::server_commands::TIME,
    Info => super::server_commands::INFO,
    Command => super::server_commands::COMMAND,
    Config => super::server_commands::CONFIG,
    Wait => super::server_commands::WAIT,
    ReadOnly => super::cluster_commands::READONLY,
    ReadWrite => super::cluster_commands::READWRITE,
    Tandem => super::cluster_commands::TANDEM,
    Shutdown => super::server_commands::SHUTDOWN,
    Slowlog => super::slowlog::SLOWLOG,
    Latency => super::latency::LATENCY,
    Debug => super::debug::DEBUG,
    Save => super::server_commands::SAVE,
    // pubsub
    Subscribe => super::pubsub::SUBSCRIBE,
    Unsubscribe => super::pubsub::UNSUBSCRIBE,
    PSubscribe => super::pubsub::PSUBSCRIBE,
    PUnsubscribe => super::pubsub::PUNSUBSCRIBE,
    Publish => super::pubsub::PUBLISH,
    Pubsub => super::pubsub::PUBSUB,
    SSubscribe => super::pubsub::SSUBSCRIBE,
    SUnsubscribe => super::pubsub::SUNSUBSCRIBE,
    SPublish => super::pubsub::SPUBLISH,
    // acl
    Acl => super::acl_command::ACL,
    // operations
    BgSave => super::server_commands::BGSAVE,
    LastSave => super::server_commands::LASTSAVE,
}

/// Every command: data commands first, then the server's.
static COMMANDS: LazyLock<Registry> = LazyLock::new(|| {
    Registry::new(
        crate::command::DATA_SPECS
            .iter()
            .chain(SERVER_SPECS)
            .copied(),
    )
});

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

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// COMMAND INFO's 10-element array for one command (Redis 7 layout).
pub fn info_reply(spec: &CommandSpec) -> Reply {
    let categories = spec
        .categories_all()
        .names()
        .map(|name| Reply::Simple(format!("@{name}")))
        .collect();
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Integer(i64::from(spec.arity)),
        Reply::Array(
            spec.flags
                .names()
                .map(|f| Reply::Simple(f.into()))
                .collect(),
        ),
        Reply::Integer(i64::from(spec.keys.first)),
        Reply::Integer(i64::from(spec.keys.last)),
        Reply::Integer(i64::from(spec.keys.step)),
        Reply::Array(categories),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// COMMAND DOCS's map for one command: summary, since, group, complexity, arguments.
pub fn docs_reply(spec: &CommandSpec) -> Reply {
    Reply::Map(vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group.name())),
        (
            bulk("arguments"),
            Reply::Array(spec.arguments.iter().map(|a| arg_doc(a)).collect()),
        ),
    ])
}

/// One argument of COMMAND DOCS from a hint: `[x]` is optional, `x...` repeats, an all-caps
/// word is a pure token, `A|B|C` of all-caps words is a one-of; anything else is shown as its
/// text (type "key" when it is exactly `key`, else "string").
fn arg_doc(hint: &str) -> Reply {
    let (hint, optional) = match hint.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (hint, false),
    };
    let (hint, multiple) = match hint.strip_suffix("...") {
        Some(inner) => (inner, true),
        None => (hint, false),
    };
    let is_token =
        |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    let mut fields = vec![(bulk("name"), bulk(&hint.to_ascii_lowercase()))];
    if is_token(hint) {
        fields.push((bulk("type"), bulk("pure-token")));
        fields.push((bulk("token"), bulk(hint)));
    } else if hint.contains('|') && hint.split('|').all(is_token) {
        fields[0] = (bulk("name"), bulk("option"));
        fields.push((bulk("type"), bulk("oneof")));
        let choices = hint
            .split('|')
            .map(|token| {
                Reply::Map(vec![
                    (bulk("name"), bulk(&token.to_ascii_lowercase())),
                    (bulk("type"), bulk("pure-token")),
                    (bulk("token"), bulk(token)),
                ])
            })
            .collect();
        fields.push((bulk("arguments"), Reply::Array(choices)));
    } else {
        fields[0] = (bulk("name"), bulk(hint));
        let kind = if hint == "key" { "key" } else { "string" };
        fields.push((bulk("type"), bulk(kind)));
    }
    let mut flags = Vec::new();
    if optional {
        flags.push(Reply::Simple("optional".into()));
    }
    if multiple {
        flags.push(Reply::Simple("multiple".into()));
    }
    if !flags.is_empty() {
        fields.push((bulk("flags"), Reply::Array(flags)));
    }
    Reply::Map(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Flags;

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
            crate::command::DATA_SPECS.len() + SERVER_SPECS.len()
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
    fn command_info_reports_flags_keys_and_categories() {
        let Reply::Array(info) = info_reply(lookup(b"mset").unwrap()) else {
            panic!("array")
        };
        assert_eq!(info[0], bulk("mset"));
        assert_eq!(info[1], Reply::Integer(-3));
        assert_eq!(
            info[2],
            Reply::Array(vec![
                Reply::Simple("write".into()),
                Reply::Simple("denyoom".into())
            ])
        );
        assert_eq!(
            &info[3..6],
            &[Reply::Integer(1), Reply::Integer(-1), Reply::Integer(2)]
        );
        let Reply::Array(categories) = &info[6] else {
            panic!("array")
        };
        assert!(categories.contains(&Reply::Simple("@write".into())));
        assert!(categories.contains(&Reply::Simple("@string".into())));
        assert!(categories.contains(&Reply::Simple("@slow".into())));
    }

    #[test]
    fn arg_docs_shapes() {
        let Reply::Map(fields) = arg_doc("[NX|XX]") else {
            panic!()
        };
        assert!(fields.contains(&(bulk("type"), bulk("oneof"))));
        assert!(fields.contains(&(
            bulk("flags"),
            Reply::Array(vec![Reply::Simple("optional".into())])
        )));
        let Reply::Map(fields) = arg_doc("key...") else {
            panic!()
        };
        assert!(fields.contains(&(bulk("type"), bulk("key"))));
        assert!(fields.contains(&(
            bulk("flags"),
            Reply::Array(vec![Reply::Simple("multiple".into())])
        )));
    }
}
