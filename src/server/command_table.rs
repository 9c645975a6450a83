//! COMMAND INFO and COMMAND DOCS: the replies that render a command's spec. The table itself
//! (every command, the data commands' and the server's own) is `crate::command::table`, below
//! the server, so that scripts and ACL rules read the same specs; it is named here again for
//! the server's dispatch.

use bytes::Bytes;

pub use crate::command::table::{all, lookup, lookup_indexed};
pub(crate) use crate::command::table::{server_command, ServerCommand};
use crate::command::{CommandSpec, Reply};

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
