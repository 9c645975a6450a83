//! ACL users on the server side: the rule parser (ACL SETUSER modifiers to
//! [`crate::keyspace::Rule`]s), the rule describer (ACL GETUSER / LIST / SAVE), each
//! connection's compiled user (cached per generation of the user table), and the ACL LOG. The
//! users themselves are replicated state (`crate::keyspace::Users`, changed by `Op::Acl` log
//! entries); compiling and checking them is `crate::command::acl`, which replicas also use.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::command_table;
use crate::command::acl::{category, lookup_container, CommandBits};
pub(crate) use crate::command::acl::{category_names, commands_in, script_caller, Compiled};
use crate::keyspace::{password_hash, KeyPattern, PasswordHash, Rule, User, Users};

/// ACL LOG's default length (Redis `acllog-max-len`, which CONFIG SET changes).
pub(crate) const LOG_ENTRIES_MAX: usize = 128;
/// Entries with the same reason, context, object and user within this window are counted
/// as one (as Redis does).
const LOG_GROUP_MS: u128 = 60_000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Categories;

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
