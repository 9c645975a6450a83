//! The ACL command (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, SAVE, LOAD,
//! GENPASS, DRYRUN, HELP) and how a connection follows changes to its user. Changes to the
//! users (SETUSER, DELUSER, LOAD) are log entries (`Op::Acl`), answered once applied; the
//! rest read this node's copy of the replicated table.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::acl::{self, Compiled};
use super::command_table;
use super::connection::{node_error_reply, Connection, Flow};
use super::dispatch::wrong_arity;
use super::Shared;
use crate::command::{CommandSpec, Reply};
use crate::keyspace::{User, UserChange};
use crate::raft::Op;

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";
const GENPASS_RANGE: &str =
    "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

impl Shared {
    /// The `default` user as the replicated table (or requirepass) defines it now.
    pub(crate) fn default_user(&self) -> Arc<Compiled> {
        self.acl
            .user(self.sm(), b"default")
            .expect("the default user always exists")
    }

    fn all_users(&self) -> Vec<(Bytes, User)> {
        let keyspace = self.sm().keyspace.read().expect("keyspace lock");
        acl::all_users(keyspace.users(), self.acl.default_password)
    }
}

impl Connection {
    /// Looks this connection's user up again after the users changed. False if the
    /// connection must close: its user was deleted, or it holds subscriptions its user may no
    /// longer have.
    pub(crate) fn refresh_user(&mut self) -> bool {
        self.acl_generation = self.shared.sm().acl_generation.load(Ordering::Acquire);
        let Some(user) = self.shared.acl.user(self.shared.sm(), &self.user.name) else {
            return false;
        };
        if self.subscriptions.active() {
            let subs = &self.subscriptions;
            let channels: Vec<Bytes> = subs.channels.iter().chain(&subs.shard).cloned().collect();
            let patterns: Vec<Bytes> = subs.patterns.iter().cloned().collect();
            if !user.may_keep(&channels, &patterns) {
                return false;
            }
        }
        self.user = user;
        true
    }

    /// Checks a command against this connection's user; on a denial, logs it in the ACL LOG
    /// and returns the NOPERM text.
    pub(crate) fn acl_denial(
        &self,
        index: usize,
        spec: &CommandSpec,
        args: &[Bytes],
    ) -> Option<String> {
        let denial = self.user.check(index, spec, args).err()?;
        let context = if self.multi.is_some() {
            "multi"
        } else {
            "toplevel"
        };
        self.shared.acl.log_denial(
            self.shared.live.acllog_len_max(),
            &denial,
            context,
            &self.user.name,
            self.client.line(),
        );
        Some(denial.error())
    }

    /// `op`, run as this connection's user if it runs a script: the commands the script
    /// calls are checked at apply, against the users as of its log entry. A script accepted
    /// while over `maxmemory` or short of replicas also carries those limits
    /// ([`Op::UnderLimits`]), so every replica refuses the same calls in it; and a client
    /// whose priority class has its own instruction budget carries it ([`Op::UnderBudget`]).
    pub(crate) fn as_caller(&self, op: Op) -> Op {
        if !op.runs_script() {
            return op;
        }
        let op = Op::AsUser {
            user: self.user.name.clone(),
            op: Box::new(op),
        };
        let limits = crate::command::Limits {
            over_memory: self.over_maxmemory(),
            too_few_replicas: self.too_few_replicas(),
        };
        let op = if limits.any() {
            Op::UnderLimits {
                limits,
                op: Box::new(op),
            }
        } else {
            op
        };
        // The default budget is not written: entries stay readable by builds without the
        // variant (a rolling upgrade) until an operator sets a class's budget.
        let instructions = self.shared.live.script_instructions_max(self.class());
        if instructions == crate::command::SCRIPT_INSTRUCTIONS_MAX {
            op
        } else {
            Op::UnderBudget {
                instructions,
                op: Box::new(op),
            }
        }
    }

    /// Proposes a change to the users and waits until it is applied.
    async fn submit_acl(&mut self, change: UserChange) -> Reply {
        let pending = match self.db().enqueue_op(Op::Acl(change)).await {
            Ok(pending) => pending,
            Err(e) => return node_error_reply(&e),
        };
        match pending.wait().await {
            Ok(reply) => reply,
            Err(e) => node_error_reply(&e),
        }
    }

    /// ACL <subcommand> ...
    pub(crate) async fn acl_command(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("acl");
        let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let argc = args.len();
        let arity_ok = match sub.as_str() {
            "setuser" | "getuser" | "deluser" => argc >= 3 && (sub != "getuser" || argc == 3),
            "list" | "users" | "whoami" | "save" | "load" | "help" => argc == 2,
            "cat" | "genpass" => argc <= 3,
            "log" => argc <= 3,
            "dryrun" => argc >= 4,
            _ => {
                let message = format!(
                    "ERR unknown subcommand '{}'. Try ACL HELP.",
                    String::from_utf8_lossy(&args[1])
                );
                return self.error(name, message).await;
            }
        };
        if !arity_ok {
            if sub == "cat" {
                let message =
                    "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.";
                return self.error(name, message).await;
            }
            return self.error(name, wrong_arity(&format!("acl|{sub}"))).await;
        }
        let reply = match sub.as_str() {
            "setuser" => self.acl_setuser(&args[2], &args[3..]).await,
            "deluser" => self.acl_deluser(&args[2..]).await,
            "getuser" => self.acl_getuser(&args[2]),
            "list" => Reply::Array(
                self.shared
                    .all_users()
                    .iter()
                    .map(|(n, u)| bulk(&acl::describe(n, u)))
                    .collect(),
            ),
            "users" => Reply::Array(
                self.shared
                    .all_users()
                    .into_iter()
                    .map(|(n, _)| Reply::Bulk(n))
                    .collect(),
            ),
            "whoami" => Reply::Bulk(self.user.name.clone()),
            "cat" => match args.get(2) {
                None => Reply::Array(acl::category_names().into_iter().map(bulk).collect()),
                Some(category) => {
                    let category = String::from_utf8_lossy(category);
                    match acl::commands_in(&category) {
                        Some(names) => Reply::Array(names.iter().map(|n| bulk(n)).collect()),
                        None => Reply::Error(format!("ERR Unknown category '{category}'")),
                    }
                }
            },
            "log" => match args.get(2) {
                None => self.shared.acl.log_reply(10),
                Some(arg) if arg.eq_ignore_ascii_case(b"reset") => {
                    self.shared.acl.log_reset();
                    Reply::Ok
                }
                Some(arg) => match std::str::from_utf8(arg)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                {
                    Some(count) if count >= 0 => self.shared.acl.log_reply(count as usize),
                    _ => Reply::Error("ERR value is out of range, must be positive".into()),
                },
            },
            "genpass" => genpass(args.get(2)),
            "dryrun" => self.acl_dryrun(&args[2], &args[3..]),
            "save" => self.acl_save(),
            "load" => self.acl_load().await,
            _ => Reply::Array(HELP.iter().map(|l| Reply::Simple((*l).into())).collect()),
        };
        let flow = self.reply(name, reply).await;
        // A connection whose own user was just deleted gets its reply, then is closed.
        if self.acl_generation != self.shared.sm().acl_generation.load(Ordering::Acquire)
            && !self.refresh_user()
        {
            return Flow::Close;
        }
        flow
    }

    async fn acl_setuser(&mut self, user: &Bytes, modifiers: &[Bytes]) -> Reply {
        if user.iter().any(|&b| b == b' ' || b == 0) {
            return Reply::Error("ERR Usernames can't contain spaces or null characters".into());
        }
        let rules = match acl::parse_rules(modifiers) {
            Ok(rules) => rules,
            Err(text) => return Reply::Error(text),
        };
        let base =
            (&user[..] == b"default").then(|| User::default_user(self.shared.acl.default_password));
        let change = UserChange::SetUser {
            name: user.clone(),
            base,
            rules,
        };
        match self.submit_acl(change).await {
            // The rule that failed at apply: quote the modifier it came from.
            Reply::Array(failure) => {
                let (Some(Reply::Integer(index)), Some(Reply::Bulk(reason))) =
                    (failure.first(), failure.get(1))
                else {
                    return Reply::Error("ERR unexpected ACL SETUSER outcome".into());
                };
                let modifier = modifier_of_rule(modifiers, *index as usize);
                Reply::Error(acl::setuser_error(
                    &modifier,
                    &String::from_utf8_lossy(reason),
                ))
            }
            other => other,
        }
    }

    async fn acl_deluser(&mut self, names: &[Bytes]) -> Reply {
        if names.iter().any(|n| &n[..] == b"default") {
            return Reply::Error("ERR The 'default' user cannot be removed".into());
        }
        self.submit_acl(UserChange::DelUsers(names.to_vec())).await
    }

    fn acl_getuser(&self, name: &[u8]) -> Reply {
        let Some(compiled) = self.shared.acl.user(self.shared.sm(), name) else {
            return Reply::Nil;
        };
        let user = &compiled.user;
        Reply::Map(vec![
            (
                bulk("flags"),
                Reply::Array(acl::flags(user).into_iter().map(bulk).collect()),
            ),
            (
                bulk("passwords"),
                Reply::Array(acl::password_hexes(user).iter().map(|p| bulk(p)).collect()),
            ),
            (bulk("commands"), bulk(&acl::describe_commands(user))),
            (bulk("keys"), bulk(&acl::keys_text(user))),
            (bulk("channels"), bulk(&acl::channels_text(user))),
            (bulk("selectors"), Reply::Array(Vec::new())),
        ])
    }

    fn acl_dryrun(&self, user: &[u8], command: &[Bytes]) -> Reply {
        let Some(compiled) = self.shared.acl.user(self.shared.sm(), user) else {
            return Reply::Error(format!(
                "ERR User '{}' not found",
                String::from_utf8_lossy(user)
            ));
        };
        let Some((index, spec)) = command_table::lookup_indexed(&command[0]) else {
            return Reply::Error(format!(
                "ERR Command '{}' not found",
                String::from_utf8_lossy(&command[0])
            ));
        };
        if !spec.arity_ok(command.len()) {
            return Reply::Error(wrong_arity(spec.name));
        }
        match compiled.check(index, spec, command) {
            Ok(()) => Reply::Ok,
            Err(denial) => bulk(&denial.dry_run_text()),
        }
    }

    fn acl_save(&self) -> Reply {
        let Some(path) = self.shared.config.aclfile.clone() else {
            return Reply::Error(NO_ACL_FILE.into());
        };
        let mut text = String::new();
        for (name, user) in self.shared.all_users() {
            text.push_str(&acl::describe(&name, &user));
            text.push('\n');
        }
        let temp = path.with_extension("tmp");
        let written = std::fs::write(&temp, text).and_then(|()| std::fs::rename(&temp, &path));
        match written {
            Ok(()) => Reply::Ok,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ACL SAVE failed");
                Reply::Error("ERR There was an error trying to save the ACLs. Please check the server logs for more information".into())
            }
        }
    }

    async fn acl_load(&mut self) -> Reply {
        let Some(path) = self.shared.config.aclfile.clone() else {
            return Reply::Error(NO_ACL_FILE.into());
        };
        match read_acl_file(&path, self.shared.acl.default_password) {
            Ok(users) => self.submit_acl(UserChange::Replace(users)).await,
            Err(text) => Reply::Error(text),
        }
    }
}

/// Reads and parses an aclfile into the users it defines.
pub(crate) fn read_acl_file(
    path: &std::path::Path,
    default_password: Option<crate::keyspace::PasswordHash>,
) -> Result<Vec<(Bytes, User)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "ERR Error loading ACLs, opening file '{}': {e}",
            path.display()
        )
    })?;
    acl::parse_acl_file(path, &text, default_password)
}

/// The modifier that produced rule `index` (modifiers that yield no rule are skipped, as
/// `parse_rules` does).
fn modifier_of_rule(modifiers: &[Bytes], index: usize) -> Bytes {
    modifiers
        .iter()
        .filter(|m| !matches!(acl::parse_rule(m), Ok(crate::keyspace::Rule::Command(ref t)) if t.is_empty()))
        .nth(index)
        .cloned()
        .unwrap_or_default()
}

/// ACL GENPASS [bits]: random hex, 4 bits a digit.
fn genpass(bits: Option<&Bytes>) -> Reply {
    let bits = match bits {
        None => 256,
        Some(arg) => match std::str::from_utf8(arg)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
        {
            Some(bits) if (1..=4096).contains(&bits) => bits as usize,
            _ => return Reply::Error(GENPASS_RANGE.into()),
        },
    };
    use rand::RngCore;
    let mut bytes = vec![0u8; bits.div_ceil(8)];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let mut text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    text.truncate(bits.div_ceil(4));
    bulk(&text)
}

/// Protected mode: why a node must not start, if it would serve clients on a non-loopback
/// address while no user needs a password (no `requirepass`, no enabled user with a
/// password in the aclfile). None when it may start. Checked before any socket is bound, so
/// users created with ACL SETUSER count once ACL SAVE has written them to the aclfile.
pub fn protected_mode_refusal(config: &super::config::ServerConfig) -> Option<String> {
    if !config.protected_mode {
        return None;
    }
    let mut addrs = vec![config.listen.clone()];
    addrs.extend(config.critical_listen.clone());
    addrs.extend(config.tls_listen());
    let exposed = addrs.into_iter().find(|addr| !is_loopback(addr))?;
    let has_password = |user: &User| user.enabled && !user.nopass && !user.passwords.is_empty();
    if config.requirepass.is_some() {
        return None;
    }
    if let Some(path) = &config.aclfile {
        if let Ok(users) = read_acl_file(path, None) {
            if users.iter().any(|(_, u)| has_password(u)) {
                return None;
            }
        }
    }
    Some(format!(
        "protected mode: refusing to serve clients on {exposed}, which is not a loopback address, \
         while no user needs a password. Set requirepass (or --requirepass), or give ACL users \
         passwords in an aclfile (--aclfile), or listen on 127.0.0.1 only; --protected-mode no \
         turns this check off"
    ))
}

/// Whether every address `addr` (`host:port`) resolves to is a loopback one.
fn is_loopback(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    match addr.to_socket_addrs() {
        Ok(resolved) => {
            let resolved: Vec<_> = resolved.collect();
            !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// Seeds the users of a cluster that has none from the aclfile, once the cluster takes
/// writes: the file is the starting point, and the log (ACL SETUSER, DELUSER, LOAD) the truth
/// afterwards, so a restart never brings back a user deleted since.
pub(crate) async fn seed_users_from_file(shared: Arc<Shared>, users: Vec<(Bytes, User)>) {
    let mut delay = std::time::Duration::from_millis(50);
    loop {
        if !shared
            .sm()
            .keyspace
            .read()
            .expect("keyspace lock")
            .users()
            .is_empty()
        {
            return;
        }
        let proposed = async {
            shared
                .db
                .enqueue_op(Op::Acl(UserChange::Replace(users.clone())))
                .await?
                .wait()
                .await
        };
        match proposed.await {
            Ok(_) => return,
            Err(e) => tracing::debug!(error = %e, "aclfile users not applied yet; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_refuses_exposed_nodes_without_passwords() {
        let mut config = super::super::config::ServerConfig {
            listen: "0.0.0.0:0".into(),
            ..Default::default()
        };
        let refusal = protected_mode_refusal(&config).unwrap();
        assert!(refusal.contains("requirepass") && refusal.contains("--protected-mode no"));
        config.protected_mode = false;
        assert_eq!(protected_mode_refusal(&config), None);
        config.protected_mode = true;
        config.requirepass = Some("pw".into());
        assert_eq!(protected_mode_refusal(&config), None);
        config.requirepass = None;
        config.listen = "127.0.0.1:0".into();
        assert_eq!(protected_mode_refusal(&config), None);
        config.listen = "0.0.0.0:0".into();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.acl");
        std::fs::write(&path, "user ops on >secret ~* +@all\n").unwrap();
        config.aclfile = Some(path.clone());
        assert_eq!(protected_mode_refusal(&config), None);
        std::fs::write(&path, "user ops on nopass ~* +@all\n").unwrap();
        assert!(protected_mode_refusal(&config).is_some());
    }
}
