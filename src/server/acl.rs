//! ACL users on the server side: the rule parser (ACL SETUSER modifiers to
//! [`crate::keyspace::Rule`]s), the compiled form a connection checks every command against,
//! the rule describer (ACL GETUSER / LIST / SAVE), and the ACL LOG. The users themselves are
//! replicated state (`crate::keyspace::Users`, changed by `Op::Acl` log entries).
//! Invariant: the hot path is one atomic load and one bit test; a user with every command, key
//! and channel (the default user) skips even that (`Compiled::unrestricted`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::acl_keys::{key_access, KeyAccess};
use super::command_table;
use crate::command::{Caller, CallerCheck, Categories, CommandSpec, Flags};
use crate::keyspace::{glob_match, password_hash, KeyPattern, PasswordHash, Rule, User, Users};

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

/// ACL LOG's default length (Redis `acllog-max-len`, which CONFIG SET changes).
pub(crate) const LOG_ENTRIES_MAX: usize = 128;
/// Entries with the same reason, context, object and user within this window are counted
/// as one (as Redis does).
const LOG_GROUP_MS: u128 = 60_000;

fn lookup_container(name: &str) -> Option<&'static [&'static str]> {
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
    for (index, spec) in command_table::all().iter().enumerate() {
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
fn category(name: &str) -> Option<Categories> {
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

const UNKNOWN_COMMAND: &str = "Unknown command or category name in ACL";
const SYNTAX: &str = "Syntax error";
const BAD_HASH: &str = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
const FIRST_ARG_OF_SUBCOMMAND: &str = "Allowing first-arg of a subcommand is not supported";

/// Checks a command rule (`+get`, `-@read`, `+client|id`, `+select|0`) and returns it
/// lowercase, as stored.
fn command_rule(rule: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(rule)
        .map_err(|_| UNKNOWN_COMMAND)?
        .to_ascii_lowercase();
    let (sign, body) = text.split_at(1);
    if let Some(name) = body.strip_prefix('@') {
        category(name).ok_or(UNKNOWN_COMMAND)?;
        return Ok(text);
    }
    let mut parts = body.split('|');
    let command = parts.next().unwrap_or_default();
    let spec = command_table::lookup(command.as_bytes()).ok_or(UNKNOWN_COMMAND)?;
    let sub = parts.next();
    let more = parts.next();
    match (sub, more, lookup_container(spec.name)) {
        (None, _, _) => {}
        (Some(sub), None, Some(subs)) => {
            if !subs.contains(&sub) {
                return Err(UNKNOWN_COMMAND);
            }
        }
        (Some(sub), Some(_), Some(subs)) => {
            return Err(if subs.contains(&sub) {
                FIRST_ARG_OF_SUBCOMMAND
            } else {
                UNKNOWN_COMMAND
            })
        }
        // First argument of a plain command (`+select|0`): allowing only.
        (Some(arg), None, None) if sign == "+" && !arg.is_empty() => {}
        _ => return Err(UNKNOWN_COMMAND),
    }
    Ok(text)
}

fn hex_hash(text: &[u8]) -> Result<PasswordHash, &'static str> {
    if text.len() != 64 || !text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(BAD_HASH);
    }
    let mut hash = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let digit = |b: u8| {
            if b.is_ascii_digit() {
                b - b'0'
            } else {
                b - b'a' + 10
            }
        };
        hash[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(hash)
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses one ACL SETUSER modifier.
pub(crate) fn parse_rule(modifier: &[u8]) -> Result<Rule, &'static str> {
    let lower = modifier.to_ascii_lowercase();
    let rule = match &lower[..] {
        b"on" => Rule::On,
        b"off" => Rule::Off,
        b"nopass" => Rule::NoPass,
        b"resetpass" => Rule::ResetPass,
        b"allkeys" => Rule::AllKeys,
        b"resetkeys" => Rule::ResetKeys,
        b"allchannels" => Rule::AllChannels,
        b"resetchannels" => Rule::ResetChannels,
        b"reset" => Rule::Reset,
        b"allcommands" => Rule::Command("+@all".into()),
        b"nocommands" => Rule::Command("-@all".into()),
        // Accepted for compatibility; Tandem restores no payloads.
        b"sanitize-payload" | b"skip-sanitize-payload" | b"clearselectors" => {
            return Ok(Rule::Command(String::new()))
        }
        _ => match modifier.first() {
            Some(b'>') => Rule::AddPassword(password_hash(&modifier[1..])),
            Some(b'<') => Rule::RemovePassword(password_hash(&modifier[1..])),
            Some(b'#') => Rule::AddPassword(hex_hash(&modifier[1..])?),
            Some(b'!') => Rule::RemovePassword(hex_hash(&modifier[1..])?),
            Some(b'~') => Rule::Keys(KeyPattern {
                read: true,
                write: true,
                pattern: Bytes::copy_from_slice(&modifier[1..]),
            }),
            Some(b'%') => {
                let tilde = modifier.iter().position(|&b| b == b'~').ok_or(SYNTAX)?;
                let perms = &lower[1..tilde];
                if perms.is_empty() || !perms.iter().all(|b| matches!(b, b'r' | b'w')) {
                    return Err(SYNTAX);
                }
                Rule::Keys(KeyPattern {
                    read: perms.contains(&b'r'),
                    write: perms.contains(&b'w'),
                    pattern: Bytes::copy_from_slice(&modifier[tilde + 1..]),
                })
            }
            Some(b'&') => Rule::Channel(Bytes::copy_from_slice(&modifier[1..])),
            Some(b'+' | b'-') if modifier.len() > 1 => Rule::Command(command_rule(modifier)?),
            _ => return Err(SYNTAX),
        },
    };
    Ok(rule)
}

/// The modifier as an error may quote it: a clear-text password never is.
pub(crate) fn quoted_modifier(modifier: &[u8]) -> String {
    match modifier.first() {
        Some(b'>' | b'<') => format!("{}<redacted>", modifier[0] as char),
        _ => String::from_utf8_lossy(modifier).into_owned(),
    }
}

/// Parses SETUSER modifiers; the error is Redis's full text.
pub(crate) fn parse_rules(modifiers: &[Bytes]) -> Result<Vec<Rule>, String> {
    let mut rules = Vec::with_capacity(modifiers.len());
    for modifier in modifiers {
        match parse_rule(modifier) {
            Ok(Rule::Command(text)) if text.is_empty() => {}
            Ok(rule) => rules.push(rule),
            Err(reason) => return Err(setuser_error(modifier, reason)),
        }
    }
    Ok(rules)
}

pub(crate) fn setuser_error(modifier: &[u8], reason: &str) -> String {
    format!(
        "ERR Error in ACL SETUSER modifier '{}': {reason}",
        quoted_modifier(modifier)
    )
}

/// The command permissions a rule list leaves, one flag per unit, plus the allowed first
/// arguments of denied plain commands (`+select|0`).
#[derive(Clone)]
struct CommandBits {
    allowed: Vec<bool>,
    first_args: HashMap<usize, Vec<String>>,
}

impl CommandBits {
    fn new() -> Self {
        CommandBits {
            allowed: vec![false; UNITS.units.len()],
            first_args: HashMap::new(),
        }
    }

    /// Applies one stored rule; whether it changed anything.
    fn apply(&mut self, rule: &str) -> bool {
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
        let Some((index, spec)) = command_table::lookup_indexed(command.as_bytes()) else {
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
    bits: CommandBits,
}

/// Why a command was refused (defined with the command context, which scripts check with).
pub(crate) use crate::command::Denial;

impl Denial {
    /// The NOPERM error a client gets.
    pub(crate) fn error(&self) -> String {
        match self {
            Denial::Command(name) => {
                format!("NOPERM this user has no permissions to run the '{name}' command")
            }
            Denial::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denial::Channel(_) => "NOPERM this user has no permissions to access one of the channels used as arguments".into(),
        }
    }

    /// ACL DRYRUN's answer.
    pub(crate) fn dry_run_text(&self) -> String {
        match self {
            Denial::Command(name) => {
                format!("This user has no permissions to run the '{name}' command")
            }
            Denial::Key(key) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(key)
            ),
            Denial::Channel(channel) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(channel)
            ),
        }
    }

    /// The reason EXEC gives for a queued command the user may no longer run.
    pub(crate) fn exec_reason(&self) -> &'static str {
        match self {
            Denial::Command(_) => "no permission to execute the command or subcommand",
            Denial::Key(_) => "no permission to touch the specified keys",
            Denial::Channel(_) => "no permission to access one of the channels used as arguments",
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Denial::Command(_) => "command",
            Denial::Key(_) => "key",
            Denial::Channel(_) => "channel",
        }
    }

    fn object(&self) -> Bytes {
        match self {
            Denial::Command(name) => Bytes::copy_from_slice(name.as_bytes()),
            Denial::Key(key) | Denial::Channel(key) => key.clone(),
        }
    }
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
        let (index, spec) = command_table::lookup_indexed(args.first()?)?;
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

/// The command rules of `user` as ACL GETUSER shows them: `+@all` or `-@all`, then each
/// stored rule that still changes something at its place.
pub(crate) fn describe_commands(user: &User) -> String {
    let mut bits = CommandBits::new();
    let mut out = Vec::new();
    let mut rules = user.commands.iter().peekable();
    if rules.peek().is_some_and(|r| *r == "+@all") {
        bits.apply("+@all");
        out.push("+@all".to_string());
        rules.next();
    } else {
        out.push("-@all".to_string());
        if rules.peek().is_some_and(|r| *r == "-@all") {
            rules.next();
        }
    }
    for rule in rules {
        let changed = bits.apply(rule);
        if changed || rule[1..].starts_with('@') {
            out.push(rule.clone());
        }
    }
    out.join(" ")
}

fn describe_keys(user: &User) -> Vec<String> {
    if user.all_keys {
        return vec!["~*".into()];
    }
    user.keys
        .iter()
        .map(|k| {
            let perm = match (k.read, k.write) {
                (true, true) => "",
                (true, false) => "%R",
                (false, true) => "%W",
                (false, false) => "%",
            };
            format!("{perm}~{}", String::from_utf8_lossy(&k.pattern))
        })
        .collect()
}

fn describe_channels(user: &User) -> Vec<String> {
    if user.all_channels {
        return vec!["&*".into()];
    }
    user.channels
        .iter()
        .map(|c| format!("&{}", String::from_utf8_lossy(c)))
        .collect()
}

/// The user's flags as ACL GETUSER lists them.
pub(crate) fn flags(user: &User) -> Vec<&'static str> {
    let mut flags = vec![if user.enabled { "on" } else { "off" }];
    if user.nopass {
        flags.push("nopass");
    }
    flags
}

pub(crate) fn password_hexes(user: &User) -> Vec<String> {
    user.passwords.iter().map(|p| hex(p)).collect()
}

pub(crate) fn keys_text(user: &User) -> String {
    describe_keys(user).join(" ")
}

pub(crate) fn channels_text(user: &User) -> String {
    describe_channels(user).join(" ")
}

/// The ACL LIST / aclfile line of a user.
pub(crate) fn describe(name: &[u8], user: &User) -> String {
    let mut parts = vec![format!("user {}", String::from_utf8_lossy(name))];
    parts.extend(flags(user).into_iter().map(String::from));
    parts.extend(user.passwords.iter().map(|p| format!("#{}", hex(p))));
    parts.extend(describe_keys(user));
    if !user.all_channels {
        parts.push("resetchannels".into());
    }
    parts.extend(describe_channels(user));
    parts.push(describe_commands(user));
    parts.join(" ")
}

/// Every user by name, `default` included (implicit until changed).
pub(crate) fn all_users(
    users: &Users,
    default_password: Option<PasswordHash>,
) -> Vec<(Bytes, User)> {
    let mut all: Vec<(Bytes, User)> = users.iter().map(|(n, u)| (n.clone(), u.clone())).collect();
    if users.get(b"default").is_none() {
        all.push((
            Bytes::from_static(b"default"),
            User::default_user(default_password),
        ));
        all.sort_by(|a, b| a.0.cmp(&b.0));
    }
    all
}

/// Parses an aclfile: one `user <name> <rules...>` line each (blank lines and `#` comments
/// skipped). Errors name the file and line, as Redis does.
pub(crate) fn parse_acl_file(
    path: &std::path::Path,
    text: &str,
    default_password: Option<PasswordHash>,
) -> Result<Vec<(Bytes, User)>, String> {
    let mut users: Vec<(Bytes, User)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason: String| format!("ERR {}:{}: {reason}", path.display(), number + 1);
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if words[0] != "user" || words.len() < 2 {
            return Err(fail("should start with user keyword".into()));
        }
        let name = Bytes::copy_from_slice(words[1].as_bytes());
        if users.iter().any(|(n, _)| *n == name) {
            return Err(fail(format!("Duplicate user '{}' found", words[1])));
        }
        let modifiers: Vec<Bytes> = words[2..]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let rules =
            parse_rules(&modifiers).map_err(|e| fail(e.trim_start_matches("ERR ").into()))?;
        let mut user = if &name[..] == b"default" {
            User::default_user(default_password)
        } else {
            User::default()
        };
        if let Err(error) = user.apply(&rules) {
            return Err(fail(setuser_error(&modifiers[error.index], error.reason)));
        }
        users.push((name, user));
    }
    Ok(users)
}

/// One ACL LOG entry.
struct LogEntry {
    count: u64,
    reason: &'static str,
    context: &'static str,
    object: Bytes,
    username: Bytes,
    created: Instant,
    updated: Instant,
    client_info: String,
}

/// The server's ACL state: compiled users (rebuilt when the replicated table changes) and the
/// ACL LOG.
pub(crate) struct Acl {
    /// `requirepass`, hashed: the implicit default user's password.
    pub(crate) default_password: Option<PasswordHash>,
    cache: Mutex<(u64, HashMap<Bytes, Arc<Compiled>>)>,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Acl {
    pub(crate) fn new(requirepass: Option<&str>) -> Acl {
        Acl {
            default_password: requirepass.map(|p| password_hash(p.as_bytes())),
            cache: Mutex::new((u64::MAX, HashMap::new())),
            log: Mutex::new(VecDeque::new()),
        }
    }

    /// User `name` compiled, as of the table at `generation`; None if there is no such user.
    pub(crate) fn user(&self, sm: &crate::raft::SmShared, name: &[u8]) -> Option<Arc<Compiled>> {
        let generation = sm.acl_generation.load(std::sync::atomic::Ordering::Acquire);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != generation {
            *cache = (generation, HashMap::new());
        }
        if let Some(user) = cache.1.get(name) {
            return Some(user.clone());
        }
        let user = {
            let keyspace = sm.keyspace.read().expect("keyspace lock");
            match keyspace.users().get(name) {
                Some(user) => user.clone(),
                None if name == b"default" => User::default_user(self.default_password),
                None => return None,
            }
        };
        let compiled = Arc::new(Compiled::new(Bytes::copy_from_slice(name), user));
        cache.1.insert(compiled.name.clone(), compiled.clone());
        Some(compiled)
    }

    /// Logs a denial or a failed AUTH (`reason` "auth", object "AUTH").
    pub(crate) fn log(
        &self,
        entries_max: usize,
        reason: &'static str,
        context: &'static str,
        object: Bytes,
        username: Bytes,
        client_info: String,
    ) {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = log.iter_mut().find(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.duration_since(e.updated).as_millis() < LOG_GROUP_MS
        }) {
            entry.count += 1;
            entry.updated = now;
            entry.client_info = client_info;
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            created: now,
            updated: now,
            client_info,
        });
        log.truncate(entries_max);
    }

    pub(crate) fn log_denial(
        &self,
        entries_max: usize,
        denial: &Denial,
        context: &'static str,
        user: &Bytes,
        client_info: String,
    ) {
        self.log(
            entries_max,
            denial.reason(),
            context,
            denial.object(),
            user.clone(),
            client_info,
        );
    }

    pub(crate) fn log_reset(&self) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// ACL LOG [count]: newest first.
    pub(crate) fn log_reply(&self, count: usize) -> crate::command::Reply {
        use crate::command::Reply;
        let bulk = |t: &str| Reply::Bulk(Bytes::copy_from_slice(t.as_bytes()));
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let entries = log
            .iter()
            .take(count)
            .map(|e| {
                let age = e.created.elapsed().as_secs_f64();
                Reply::Map(vec![
                    (bulk("count"), Reply::Integer(e.count as i64)),
                    (bulk("reason"), bulk(e.reason)),
                    (bulk("context"), bulk(e.context)),
                    (bulk("object"), Reply::Bulk(e.object.clone())),
                    (bulk("username"), Reply::Bulk(e.username.clone())),
                    (bulk("age-seconds"), Reply::Double(age)),
                    (bulk("client-info"), bulk(&e.client_info)),
                ])
            })
            .collect();
        Reply::Array(entries)
    }
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
    let all = command_table::all();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(modifiers: &[&str]) -> User {
        let modifiers: Vec<Bytes> = modifiers
            .iter()
            .map(|m| Bytes::from(m.to_string()))
            .collect();
        let mut user = User::default();
        user.apply(&parse_rules(&modifiers).unwrap()).unwrap();
        user
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn check(user: &User, words: &[&str]) -> Result<(), Denial> {
        let compiled = Compiled::new(Bytes::from("u"), user.clone());
        let args = args(words);
        let (index, spec) = command_table::lookup_indexed(&args[0]).unwrap();
        compiled.check(index, spec, &args)
    }

    #[test]
    fn describe_round_trips_through_the_parser() {
        for modifiers in [
            &[
                "on",
                ">pw",
                "~k*",
                "%R~r*",
                "%W~w*",
                "&ch*",
                "+@read",
                "-get",
                "+client|id",
            ][..],
            &["off", "resetchannels", "-@all"],
            &[
                "on",
                "nopass",
                "allkeys",
                "allchannels",
                "+@all",
                "-@dangerous",
                "+set",
            ],
            &["+@all", "-client|kill", "-debug", "+select|0"],
        ] {
            let original = user(modifiers);
            let line = describe(b"u", &original);
            let words: Vec<&str> = line.split(' ').skip(2).collect();
            let mut again = User::default();
            let reparsed: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
            again.apply(&parse_rules(&reparsed).unwrap()).unwrap();
            assert_eq!(describe(b"u", &again), line);
            let compiled = Compiled::new(Bytes::new(), original.clone());
            let recompiled = Compiled::new(Bytes::new(), again);
            assert_eq!(compiled.bits.allowed, recompiled.bits.allowed, "{line}");
        }
    }

    #[test]
    fn getuser_commands_match_redis() {
        assert_eq!(
            describe_commands(&user(&["+@all", "-@dangerous", "+get", "-get", "+set"])),
            "+@all -@dangerous -get"
        );
        assert_eq!(
            describe_commands(&user(&["+memory|doctor"])),
            "-@all +memory|doctor"
        );
        assert_eq!(
            describe_commands(&user(&["+memory|doctor", "+memory"])),
            "-@all +memory"
        );
        assert_eq!(describe_commands(&user(&["+@all", "+client|id"])), "+@all");
        assert_eq!(
            describe_commands(&user(&["+@all", "-client|kill"])),
            "+@all -client|kill"
        );
        assert_eq!(
            describe(b"bob", &User::default()),
            "user bob off resetchannels -@all"
        );
        assert_eq!(
            describe(b"default", &User::default_user(None)),
            "user default on nopass ~* &* +@all"
        );
        for (_, name) in Categories::ALL {
            let rule = format!("-@{name}");
            assert_eq!(
                describe_commands(&user(&["+@all", &rule])),
                format!("+@all {rule}")
            );
        }
    }

    #[test]
    fn parser_errors_are_redis_texts() {
        let error = |m: &str| parse_rules(&[Bytes::from(m.to_string())]).unwrap_err();
        assert_eq!(
            error("+nosuch"),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            error("foo"),
            "ERR Error in ACL SETUSER modifier 'foo': Syntax error"
        );
        assert!(error("#abc").ends_with(BAD_HASH));
        assert!(error("+config|get|appendonly").ends_with(FIRST_ARG_OF_SUBCOMMAND));
        assert!(error("+config|asdf").ends_with(UNKNOWN_COMMAND));
        assert!(error("+get|key1|key2").ends_with(UNKNOWN_COMMAND));
        let removal = setuser_error(b"<secret", "The password you are trying to remove");
        assert!(
            !removal.contains("secret"),
            "passwords are never quoted: {removal}"
        );
    }

    /// `%W~` alone allowed INCR (a read-modify-write) when keys were checked by the command's
    /// write flag instead of each key's access.
    #[test]
    fn keys_are_checked_by_their_access() {
        let u = user(&["on", "nopass", "+@all", "%R~r*", "%W~w*"]);
        let key = |k: &str| Err(Denial::Key(Bytes::from(k.to_string())));
        assert_eq!(check(&u, &["set", "w1", "v"]), Ok(()));
        assert_eq!(check(&u, &["set", "w1", "v", "GET"]), key("w1"));
        assert_eq!(check(&u, &["incr", "w1"]), key("w1"));
        assert_eq!(check(&u, &["get", "w1"]), key("w1"));
        assert_eq!(check(&u, &["exists", "w1"]), Ok(()));
        assert_eq!(check(&u, &["exists", "r1"]), Ok(()));
        assert_eq!(check(&u, &["exists", "x"]), key("x"));
        assert_eq!(check(&u, &["copy", "r1", "w2"]), Ok(()));
        assert_eq!(check(&u, &["copy", "w1", "w2"]), key("w1"));
        assert_eq!(check(&u, &["sunionstore", "w1", "r1", "r2"]), Ok(()));
        assert_eq!(check(&u, &["sunionstore", "w1", "r1", "w2"]), key("w2"));
        assert_eq!(check(&u, &["bitfield", "r1", "get", "u8", "0"]), Ok(()));
        assert_eq!(
            check(&u, &["bitfield", "r1", "set", "u8", "0", "1"]),
            key("r1")
        );
        assert_eq!(check(&u, &["xinfo", "stream", "r1"]), Ok(()));
        assert_eq!(check(&u, &["xgroup", "destroy", "r1", "g"]), key("r1"));
        let both = user(&["on", "nopass", "+@all", "%RW~k*"]);
        assert_eq!(check(&both, &["incr", "k1"]), Ok(()));
    }

    #[test]
    fn a_script_caller_checks_calls_against_the_replicated_user() {
        let mut users = Users::default();
        let rules = parse_rules(&args(&["on", "nopass", "+set", "~k*"])).unwrap();
        users
            .change(&crate::keyspace::UserChange::SetUser {
                name: Bytes::from("s"),
                base: None,
                rules,
            })
            .unwrap();
        let caller = script_caller(&users, &Bytes::from("s")).unwrap();
        assert_eq!(caller.0.check(&args(&["set", "k1", "v"])), None);
        assert_eq!(
            caller.0.check(&args(&["set", "x", "v"])),
            Some(Denial::Key(Bytes::from("x")))
        );
        assert_eq!(
            caller.0.check(&args(&["get", "k1"])),
            Some(Denial::Command("get".into()))
        );
        // Unknown commands and wrong arity are the script engine's errors, not ACL's.
        assert_eq!(caller.0.check(&args(&["nosuch"])), None);
        assert_eq!(caller.0.check(&args(&["get"])), None);
        let gone = script_caller(&users, &Bytes::from("gone")).unwrap();
        assert_eq!(
            gone.0.check(&args(&["set", "k1", "v"])),
            Some(Denial::Command("set".into()))
        );
        assert!(script_caller(&users, &Bytes::from("default")).is_none());
    }

    #[test]
    fn checks_commands_keys_and_channels() {
        let u = user(&[
            "on",
            "nopass",
            "+@all",
            "-@dangerous",
            "-client|kill",
            "~a*",
            "%R~r*",
            "&ch*",
        ]);
        assert_eq!(check(&u, &["get", "abc"]), Ok(()));
        assert_eq!(check(&u, &["get", "b"]), Err(Denial::Key(Bytes::from("b"))));
        assert_eq!(check(&u, &["get", "r1"]), Ok(()));
        assert_eq!(
            check(&u, &["set", "r1", "v"]),
            Err(Denial::Key(Bytes::from("r1")))
        );
        assert_eq!(
            check(&u, &["flushall"]),
            Err(Denial::Command("flushall".into()))
        );
        assert_eq!(
            check(&u, &["client", "kill", "x"]),
            Err(Denial::Command("client|kill".into()))
        );
        assert_eq!(check(&u, &["client", "id"]), Ok(()));
        assert_eq!(check(&u, &["publish", "ch1", "m"]), Ok(()));
        assert_eq!(
            check(&u, &["publish", "x", "m"]),
            Err(Denial::Channel(Bytes::from("x")))
        );
        assert_eq!(
            check(&u, &["psubscribe", "ch1"]),
            Err(Denial::Channel(Bytes::from("ch1")))
        );
        assert_eq!(check(&u, &["psubscribe", "ch*"]), Ok(()));
        let select = user(&["-@all", "+select|0"]);
        assert_eq!(check(&select, &["select", "0"]), Ok(()));
        assert_eq!(
            check(&select, &["select", "1"]),
            Err(Denial::Command("select".into()))
        );
        assert!(Compiled::new(Bytes::new(), User::default_user(None)).unrestricted);
    }
}
