//! ACL users as commands are checked against them: the permission units (a command, or one
//! subcommand of a container) with their categories, a user's stored rules compiled into
//! per-unit bits ([`Compiled`]), and the check of one call (command, keys, channels). It sits
//! with the command table because the state machine checks a script's calls as its user's
//! rules stood at the script's log entry, the same on every replica; the ACL command, the
//! rule parser and the ACL LOG are the server's (`crate::server::acl`).
//! Invariant: the hot path is one atomic load and one bit test; a user with every command, key
//! and channel (the default user) skips even that (`Compiled::unrestricted`).

mod keys;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use self::keys::{key_access, KeyAccess};
use super::table;
use super::{Caller, CallerCheck, Categories, CommandSpec, Denial, Flags};
use crate::keyspace::{glob_match, User, Users};

/// Commands whose first argument names a subcommand, as Redis 7.0 has them, with the
/// subcommands whose ACL categories differ from the container's.
const CONTAINERS: &[(&str, &[&str])] = &[
    (
        "acl",
        &[
            "cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log",
            "save", "setuser", "users", "whoami",
        ],
    ),
    (
        "client",
        &[
            "caching",
            "getname",
            "getredir",
            "help",
            "id",
            "info",
            "kill",
            "list",
            "no-evict",
            "no-touch",
            "pause",
            "reply",
            "setinfo",
            "setname",
            "tracking",
            "trackinginfo",
            "unblock",
            "unpause",
            "priority",
        ],
    ),
    (
        "command",
        &[
            "count",
            "docs",
            "getkeys",
            "getkeysandflags",
            "help",
            "info",
            "list",
        ],
    ),
    ("config", &["get", "help", "resetstat", "rewrite", "set"]),
    (
        "latency",
        &[
            "doctor",
            "graph",
            "help",
            "histogram",
            "history",
            "latest",
            "reset",
        ],
    ),
    (
        "memory",
        &["doctor", "help", "malloc-stats", "purge", "stats", "usage"],
    ),
    (
        "object",
        &["encoding", "freq", "help", "idletime", "refcount"],
    ),
    (
        "pubsub",
        &[
            "channels",
            "help",
            "numpat",
            "numsub",
            "shardchannels",
            "shardnumsub",
        ],
    ),
    (
        "script",
        &["debug", "exists", "flush", "help", "kill", "load"],
    ),
    ("slowlog", &["get", "help", "len", "reset"]),
    ("xinfo", &["consumers", "groups", "help", "stream"]),
    (
        "xgroup",
        &[
            "create",
            "createconsumer",
            "delconsumer",
            "destroy",
            "help",
            "setid",
        ],
    ),
    (
        "tandem",
        &[
            "status",
            "add-node",
            "remove-node",
            "transfer-leader",
            "session",
            "req",
            "outcome",
        ],
    ),
];

const ADMIN_DANGEROUS: Categories = Categories::ADMIN.union(Categories::DANGEROUS);

/// Subcommands whose categories are not their container's (Redis 7.0's table): the
/// container's spec carries those of its harmless subcommands.
const SUB_CATEGORIES: &[(&str, &str, Categories)] = &[
    ("acl", "cat", Categories::NONE),
    ("acl", "whoami", Categories::NONE),
    ("acl", "genpass", Categories::NONE),
    ("acl", "help", Categories::NONE),
    (
        "client",
        "kill",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "list",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "pause",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "unpause",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "unblock",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "no-evict",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    (
        "client",
        "priority",
        ADMIN_DANGEROUS.union(Categories::CONNECTION),
    ),
    ("config", "help", Categories::NONE),
    ("latency", "help", Categories::NONE),
    ("slowlog", "help", Categories::NONE),
    (
        "memory",
        "usage",
        Categories::READ.union(Categories::KEYSPACE),
    ),
    ("object", "help", Categories::KEYSPACE),
    // Exactly-once sessions are for every client; the tagged command is checked itself.
    ("tandem", "session", Categories::CONNECTION),
    ("tandem", "req", Categories::CONNECTION),
    ("tandem", "outcome", Categories::CONNECTION),
    ("tandem", "status", Categories::NONE),
];

pub(crate) fn lookup_container(name: &str) -> Option<&'static [&'static str]> {
    CONTAINERS
        .iter()
        .find(|(container, _)| *container == name)
        .map(|(_, subs)| *subs)
}

/// One permission unit: a command, or one subcommand of a container.
struct Unit {
    command: usize,
    sub: Option<&'static str>,
    categories: Categories,
}

/// Every unit with its categories, and where each command's units start.
struct Units {
    units: Vec<Unit>,
    /// For each command (by registry index): the range of its units.
    ranges: Vec<std::ops::Range<usize>>,
}

static UNITS: std::sync::LazyLock<Units> = std::sync::LazyLock::new(|| {
    let mut units = Vec::new();
    let mut ranges = Vec::new();
    for (index, spec) in table::all().iter().enumerate() {
        let start = units.len();
        let categories = spec.categories_all();
        match lookup_container(spec.name) {
            Some(subs) => {
                for sub in subs {
                    let sub_categories = SUB_CATEGORIES
                        .iter()
                        .find(|(c, s, _)| *c == spec.name && s == sub)
                        .map_or(categories, |(_, _, extra)| {
                            // The speed category stays; the rest is the subcommand's own.
                            let speed = if categories.contains(Categories::FAST) {
                                Categories::FAST
                            } else {
                                Categories::SLOW
                            };
                            extra.union(speed)
                        });
                    units.push(Unit {
                        command: index,
                        sub: Some(sub),
                        categories: sub_categories,
                    });
                }
            }
            None => units.push(Unit {
                command: index,
                sub: None,
                categories,
            }),
        }
        ranges.push(start..units.len());
    }
    Units { units, ranges }
});

/// The category named `name` (without `@`), `all` included as every category.
pub(crate) fn category(name: &str) -> Option<Categories> {
    if name == "all" {
        return Some(
            Categories::ALL
                .iter()
                .fold(Categories::NONE, |a, (c, _)| a | *c),
        );
    }
    Categories::ALL
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
}

/// The command permissions a rule list leaves, one flag per unit, plus the allowed first
/// arguments of denied plain commands (`+select|0`).
#[derive(Clone)]
pub(crate) struct CommandBits {
    pub(crate) allowed: Vec<bool>,
    first_args: HashMap<usize, Vec<String>>,
}

impl CommandBits {
    pub(crate) fn new() -> Self {
        CommandBits {
            allowed: vec![false; UNITS.units.len()],
            first_args: HashMap::new(),
        }
    }

    /// Applies one stored rule; whether it changed anything.
    pub(crate) fn apply(&mut self, rule: &str) -> bool {
        let Some((sign, body)) = rule.split_at_checked(1) else {
            return false;
        };
        let allow = sign == "+";
        let mut changed = false;
        let mut set = |bits: &mut CommandBits, unit: usize| {
            if bits.allowed[unit] != allow {
                bits.allowed[unit] = allow;
                changed = true;
            }
        };
        if let Some(name) = body.strip_prefix('@') {
            let Some(category) = category(name) else {
                return false;
            };
            for (unit, u) in UNITS.units.iter().enumerate() {
                if category.intersects(u.categories) {
                    set(self, unit);
                    self.first_args.remove(&u.command);
                }
            }
            return changed;
        }
        let (command, sub) = match body.split_once('|') {
            Some((command, sub)) => (command, Some(sub)),
            None => (body, None),
        };
        let Some((index, spec)) = table::lookup_indexed(command.as_bytes()) else {
            return false;
        };
        let range = UNITS.ranges[index].clone();
        match (sub, lookup_container(spec.name)) {
            (None, _) => {
                for unit in range {
                    set(self, unit);
                }
                changed |= self.first_args.remove(&index).is_some();
            }
            (Some(sub), Some(_)) => {
                if let Some(unit) = range.clone().find(|&u| UNITS.units[u].sub == Some(sub)) {
                    set(self, unit);
                }
            }
            (Some(arg), None) => {
                if !self.allowed[range.start] {
                    let args = self.first_args.entry(index).or_default();
                    if !args.iter().any(|a| a == arg) {
                        args.push(arg.to_string());
                        changed = true;
                    }
                }
            }
        }
        changed
    }
}

/// A user compiled for checking: what every command of this connection is tested against.
pub(crate) struct Compiled {
    pub(crate) name: Bytes,
    pub(crate) user: User,
    /// Every command, key and channel: nothing to check.
    pub(crate) unrestricted: bool,
    /// Per command (registry index): allowed whatever its subcommand or first argument.
    whole: Vec<u64>,
    pub(crate) bits: CommandBits,
}

impl Compiled {
    pub(crate) fn new(name: Bytes, user: User) -> Compiled {
        let mut bits = CommandBits::new();
        for rule in &user.commands {
            bits.apply(rule);
        }
        let mut whole = vec![0u64; UNITS.ranges.len().div_ceil(64)];
        for (index, range) in UNITS.ranges.iter().enumerate() {
            if range.clone().all(|u| bits.allowed[u]) {
                whole[index / 64] |= 1 << (index % 64);
            }
        }
        let every_command = bits.allowed.iter().all(|&a| a);
        let unrestricted = every_command && user.all_keys && user.all_channels;
        Compiled {
            name,
            user,
            unrestricted,
            whole,
            bits,
        }
    }

    /// Whether the command at registry `index` may run with these arguments (`args[0]` is
    /// its name); the denied command's ACL name otherwise.
    fn command_allowed(
        &self,
        index: usize,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Result<(), String> {
        if self.whole[index / 64] & (1 << (index % 64)) != 0 {
            return Ok(());
        }
        let range = UNITS.ranges[index].clone();
        if lookup_container(spec.name).is_some() {
            let sub = args
                .get(1)
                .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
                .unwrap_or_default();
            return match range
                .clone()
                .find(|&u| UNITS.units[u].sub == Some(sub.as_str()))
            {
                Some(unit) if self.bits.allowed[unit] => Ok(()),
                Some(unit) => Err(format!(
                    "{}|{}",
                    spec.name,
                    UNITS.units[unit].sub.unwrap_or("")
                )),
                // An unknown subcommand gets the command's own error, if any unit allows it.
                None if range.clone().any(|u| self.bits.allowed[u]) => Ok(()),
                None => Err(spec.name.to_string()),
            };
        }
        if let (Some(first), Some(allowed)) = (args.get(1), self.bits.first_args.get(&index)) {
            let first = String::from_utf8_lossy(first).to_ascii_lowercase();
            if allowed.contains(&first) {
                return Ok(());
            }
        }
        Err(spec.name.to_string())
    }

    fn key_allowed(&self, key: &[u8], access: KeyAccess) -> bool {
        self.user.all_keys
            || self.user.keys.iter().any(|p| {
                (p.read || !access.needs_read())
                    && (p.write || !access.needs_write())
                    && glob_match(&p.pattern, key)
            })
    }

    fn channel_allowed(&self, channel: &[u8], literal: bool) -> bool {
        self.user.all_channels
            || self.user.channels.iter().any(|p| {
                if literal {
                    p[..] == channel[..]
                } else {
                    glob_match(p, channel)
                }
            })
    }

    /// Checks a command against this user: command, keys, channels.
    pub(crate) fn check(
        &self,
        index: usize,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Result<(), Denial> {
        if self.unrestricted {
            return Ok(());
        }
        self.command_allowed(index, spec, args)
            .map_err(Denial::Command)?;
        // A shard channel sits where a key would (for cluster routing); it is checked as a
        // channel below.
        let shard_channels = matches!(spec.name, "spublish" | "ssubscribe" | "sunsubscribe");
        if !self.user.all_keys && !shard_channels {
            let container = lookup_container(spec.name).is_some();
            // A command Redis does not have: its reads need R, its writes W.
            let fallback = if spec.is_write() {
                KeyAccess::W
            } else {
                KeyAccess::R
            };
            for (nth, position) in spec.keys.positions(args).into_iter().enumerate() {
                if let Some(key) = args.get(position) {
                    let access = key_access(spec, container, args, nth).unwrap_or(fallback);
                    if !self.key_allowed(key, access) {
                        return Err(Denial::Key(key.clone()));
                    }
                }
            }
        }
        if !self.user.all_channels && spec.flags.contains(Flags::PUBSUB) {
            let (channels, literal): (&[Bytes], bool) = match spec.name {
                "publish" | "spublish" => (&args[1..args.len().min(2)], false),
                "subscribe" | "ssubscribe" => (&args[1..], false),
                "psubscribe" => (&args[1..], true),
                _ => (&[], false),
            };
            for channel in channels {
                if !self.channel_allowed(channel, literal) {
                    return Err(Denial::Channel(channel.clone()));
                }
            }
        }
        Ok(())
    }

    /// Whether this user may still hold subscriptions to these channels and patterns.
    pub(crate) fn may_keep(&self, channels: &[Bytes], patterns: &[Bytes]) -> bool {
        channels.iter().all(|c| self.channel_allowed(c, false))
            && patterns.iter().all(|p| self.channel_allowed(p, true))
    }
}

/// A script's user as the replicated table has it: what its calls are checked against.
struct ScriptCaller {
    name: Bytes,
    /// None: no such user (deleted after the script was proposed): every call is refused.
    user: Option<Compiled>,
}

impl CallerCheck for ScriptCaller {
    fn user(&self) -> &Bytes {
        &self.name
    }

    fn check(&self, args: &[Bytes]) -> Option<Denial> {
        let (index, spec) = table::lookup_indexed(args.first()?)?;
        if !spec.arity_ok(args.len()) || spec.flags.contains(Flags::NOSCRIPT) {
            return None;
        }
        match &self.user {
            Some(user) => user.check(index, spec, args).err(),
            None => Some(Denial::Command(spec.name.to_string())),
        }
    }
}

/// The checker for a script run as `name`, from the user table as of the script's log entry;
/// None when there is nothing to check (the user may run every command on every key and
/// channel, as the implicit `default` user does).
pub(crate) fn script_caller(users: &Users, name: &Bytes) -> Option<Caller> {
    let user = match users.get(name) {
        Some(user) => Some(Compiled::new(name.clone(), user.clone())),
        None if &name[..] == b"default" => return None,
        None => None,
    };
    if user.as_ref().is_some_and(|u| u.unrestricted) {
        return None;
    }
    Some(Caller(Arc::new(ScriptCaller {
        name: name.clone(),
        user,
    })))
}

/// ACL CAT's categories, and ACL CAT <category>'s commands.
pub(crate) fn category_names() -> Vec<&'static str> {
    Categories::ALL.iter().map(|(_, n)| *n).collect()
}

pub(crate) fn commands_in(category_name: &str) -> Option<Vec<String>> {
    let wanted = Categories::ALL
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(category_name))
        .map(|(c, _)| *c)?;
    let all = table::all();
    Some(
        UNITS
            .units
            .iter()
            .filter(|u| u.categories.intersects(wanted))
            .map(|u| match u.sub {
                Some(sub) => format!("{}|{sub}", all[u.command].name),
                None => all[u.command].name.to_string(),
            })
            .collect(),
    )
}
