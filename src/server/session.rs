//! Connection commands: PING, HELLO, AUTH, SELECT, RESET and CLIENT. They change only this
//! connection's state (protocol, authentication, name) or, for CLIENT KILL, ask other
//! connections to close. Replies and error texts are Redis 7's.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::clients::ClientInfo;
use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::info::REDIS_VERSION;
use crate::command::table::select_reply;
use crate::command::Reply;
use crate::resp::Protocol;

const NOPASS_AUTH: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
const SYNTAX: &str = "ERR syntax error";

fn bulk(text: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(text.into()))
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

fn parse_i64(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// PING [message]
pub(crate) fn ping_reply(args: &[Bytes]) -> Reply {
    match args.len() {
        1 => Reply::Simple("PONG".into()),
        2 => Reply::Bulk(args[1].clone()),
        _ => Reply::Error(wrong_arity("ping")),
    }
}

impl Connection {
    pub(crate) async fn ping(&mut self, args: &[Bytes]) -> Flow {
        if self.protocol == Protocol::Resp2 && self.subscriptions.active() && args.len() <= 2 {
            // A RESP2 subscriber can only read arrays: Redis answers PING with one.
            let message = args.get(1).cloned().unwrap_or_default();
            let reply = Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"pong")),
                Reply::Bulk(message),
            ]);
            return self.reply(Some("ping"), reply).await;
        }
        self.reply(Some("ping"), ping_reply(args)).await
    }

    /// Logs in as `user` if it exists, is enabled and `password` is one of its passwords;
    /// a failure is logged in the ACL LOG (never with the password).
    fn login(&mut self, user: &[u8], password: &[u8]) -> bool {
        let found = self.shared.acl.user(self.shared.sm(), user);
        match found {
            Some(compiled) if compiled.user.enabled && compiled.user.password_ok(password) => {
                *self.client.user.lock().unwrap_or_else(|e| e.into_inner()) = compiled.name.clone();
                self.user = compiled;
                self.authenticated = true;
                true
            }
            _ => {
                tracing::info!(id = self.client.id, addr = %self.client.addr, "AUTH failed");
                let context = if self.multi.is_some() {
                    "multi"
                } else {
                    "toplevel"
                };
                self.shared.acl.log(
                    self.shared.live.acllog_len_max(),
                    "auth",
                    context,
                    Bytes::from_static(b"AUTH"),
                    Bytes::copy_from_slice(user),
                    self.client.line(),
                );
                false
            }
        }
    }

    /// AUTH [username] password
    pub(crate) async fn auth(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("auth");
        let (user, password): (&[u8], &[u8]) = match args.len() {
            2 if self.shared.default_user().user.nopass => {
                return self.error(name, NOPASS_AUTH).await;
            }
            2 => (b"default", &args[1]),
            3 => (&args[1], &args[2]),
            _ => return self.error(name, SYNTAX).await,
        };
        if self.login(user, password) {
            self.reply(name, Reply::Ok).await
        } else {
            self.error(name, WRONGPASS).await
        }
    }

    /// HELLO [protover [AUTH username password] [SETNAME clientname]]
    pub(crate) async fn hello(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("hello");
        let mut protocol = None;
        if args.len() >= 2 {
            match parse_i64(&args[1]) {
                None => {
                    return self
                        .error(
                            name,
                            "ERR Protocol version is not an integer or out of range",
                        )
                        .await
                }
                Some(2) => protocol = Some(Protocol::Resp2),
                Some(3) => protocol = Some(Protocol::Resp3),
                Some(_) => {
                    return self
                        .error(name, "NOPROTO unsupported protocol version")
                        .await
                }
            }
        }
        let mut login = None;
        let mut client_name = None;
        let mut i = 2;
        while i < args.len() {
            let more = args.len() - 1 - i;
            let option = &args[i];
            if option.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                login = Some((args[i + 1].clone(), args[i + 2].clone()));
                i += 3;
            } else if option.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                client_name = Some(args[i + 1].clone());
                i += 2;
            } else {
                let message = format!("ERR Syntax error in HELLO option '{}'", text(option));
                return self.error(name, message).await;
            }
        }
        if let Some((user, password)) = login {
            if !self.login(&user, &password) {
                return self.error(name, WRONGPASS).await;
            }
        }
        if !self.authenticated {
            return self.error(name, HELLO_NOAUTH).await;
        }
        if let Some(client_name) = client_name {
            if !self.set_name(&client_name) {
                return self.error(name, BAD_CLIENT_NAME).await;
            }
        }
        if let Some(protocol) = protocol {
            self.protocol = protocol;
            let version = if protocol == Protocol::Resp3 { 3 } else { 2 };
            self.client.protocol.store(version, Ordering::Relaxed);
        }
        let proto = if self.protocol == Protocol::Resp3 {
            3
        } else {
            2
        };
        let reply = Reply::Map(vec![
            (bulk("server"), bulk("redis")),
            (bulk("version"), bulk(REDIS_VERSION)),
            (bulk("proto"), Reply::Integer(proto)),
            (bulk("id"), Reply::Integer(self.client.id as i64)),
            (bulk("mode"), bulk("standalone")),
            (bulk("role"), bulk("master")),
            (bulk("modules"), Reply::Array(Vec::new())),
        ]);
        self.reply(name, reply).await
    }

    /// Sets (or with "" clears) the client name; false if the name has forbidden characters.
    fn set_name(&self, name: &[u8]) -> bool {
        if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            return false;
        }
        *self.client.name.lock().unwrap_or_else(|e| e.into_inner()) =
            (!name.is_empty()).then(|| text(name));
        true
    }

    /// SELECT index: Tandem has one database, 0.
    pub(crate) async fn select(&mut self, args: &[Bytes]) -> Flow {
        self.reply(Some("select"), select_reply(args)).await
    }

    /// RESET: leave MULTI, forget WATCHes, back to RESP2 without a name, and log out when a
    /// password is required.
    pub(crate) async fn reset(&mut self) -> Flow {
        self.unsubscribe_all();
        self.reply_mode = super::connection::ReplyMode::On;
        self.silenced = false;
        self.multi = None;
        self.multi_failed = false;
        self.watches.clear();
        self.protocol = Protocol::Resp2;
        let default_user = self.shared.default_user();
        self.authenticated = default_user.user.enabled && default_user.user.nopass;
        *self.client.user.lock().unwrap_or_else(|e| e.into_inner()) = default_user.name.clone();
        self.user = default_user;
        self.client.multi.store(-1, Ordering::Relaxed);
        self.client.protocol.store(2, Ordering::Relaxed);
        self.set_name(b"");
        self.reply(Some("reset"), Reply::Simple("RESET".into()))
            .await
    }

    /// CLIENT ID | GETNAME | SETNAME | LIST | INFO | KILL | SETINFO | NO-EVICT | NO-TOUCH |
    /// PRIORITY | HELP
    pub(crate) async fn client_command(&mut self, args: &[Bytes]) -> Flow {
        let name = Some("client");
        let sub = args[1].to_ascii_lowercase();
        let sub = String::from_utf8_lossy(&sub).into_owned();
        let arity_ok = match sub.as_str() {
            "id" | "getname" | "info" | "help" => args.len() == 2,
            "setname" | "no-evict" | "no-touch" | "reply" => args.len() == 3,
            "setinfo" => args.len() == 4,
            "priority" => args.len() <= 3,
            "list" | "kill" => args.len() >= 2 + usize::from(sub == "kill"),
            "unblock" => args.len() == 3 || args.len() == 4,
            _ => {
                let message = format!(
                    "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                    text(&args[1])
                );
                return self.error(name, message).await;
            }
        };
        if !arity_ok {
            return self
                .error(name, wrong_arity(&format!("client|{sub}")))
                .await;
        }
        match sub.as_str() {
            "id" => {
                self.reply(name, Reply::Integer(self.client.id as i64))
                    .await
            }
            "getname" => {
                let reply = self.client.name().map_or(Reply::Nil, bulk);
                self.reply(name, reply).await
            }
            "setname" => {
                if self.set_name(&args[2]) {
                    self.reply(name, Reply::Ok).await
                } else {
                    self.error(name, BAD_CLIENT_NAME).await
                }
            }
            "info" => self.reply(name, bulk(self.client.line() + "\n")).await,
            "list" => self.client_list(&args[2..]).await,
            "priority" => self.client_priority(&args[2..]).await,
            "kill" => self.client_kill(&args[2..]).await,
            "unblock" => {
                let Some(id) = parse_i64(&args[2]) else {
                    return self
                        .error(name, "ERR value is not an integer or out of range")
                        .await;
                };
                let with_error = match args.get(3) {
                    None => false,
                    Some(reason) if reason.eq_ignore_ascii_case(b"timeout") => false,
                    Some(reason) if reason.eq_ignore_ascii_case(b"error") => true,
                    Some(_) => {
                        return self
                            .error(name, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
                            .await
                    }
                };
                let unblocked =
                    u64::try_from(id).is_ok_and(|id| self.shared.clients.unblock(id, with_error));
                self.reply(name, Reply::Integer(i64::from(unblocked))).await
            }
            "setinfo" => {
                let attribute = args[2].to_ascii_lowercase();
                let slot = match attribute.as_slice() {
                    b"lib-name" => &self.client.lib_name,
                    b"lib-ver" => &self.client.lib_version,
                    _ => {
                        let message = format!("ERR Unrecognized option '{}'", text(&args[2]));
                        return self.error(name, message).await;
                    }
                };
                if args[3].iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    let message = format!(
                        "ERR {} cannot contain spaces, newlines or special characters.",
                        text(&args[2])
                    );
                    return self.error(name, message).await;
                }
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(text(&args[3]));
                self.reply(name, Reply::Ok).await
            }
            "reply" => {
                use super::connection::ReplyMode;
                let mode = if args[2].eq_ignore_ascii_case(b"on") {
                    ReplyMode::On
                } else if args[2].eq_ignore_ascii_case(b"off") {
                    ReplyMode::Off
                } else if args[2].eq_ignore_ascii_case(b"skip") {
                    ReplyMode::Skip
                } else {
                    return self.error(name, SYNTAX).await;
                };
                // OFF and SKIP silence their own reply too; SKIP then silences the next one.
                self.reply_mode = mode;
                self.silenced = mode != ReplyMode::On;
                self.reply(name, Reply::Ok).await
            }
            "no-evict" | "no-touch" => {
                if args[2].eq_ignore_ascii_case(b"on") || args[2].eq_ignore_ascii_case(b"off") {
                    self.reply(name, Reply::Ok).await
                } else {
                    self.error(name, SYNTAX).await
                }
            }
            _ => {
                let lines = [
                    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "ID", "GETNAME", "SETNAME <name>", "INFO",
                    "LIST [TYPE normal] [ID <id> [<id> ...]]",
                    "KILL <ip:port> | KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [SKIPME yes|no]",
                    "SETINFO LIB-NAME|LIB-VER <value>", "NO-EVICT on|off", "NO-TOUCH on|off",
                    "PRIORITY [critical|normal|bulk]", "UNBLOCK <clientid> [TIMEOUT|ERROR]", "HELP",
                ];
                let reply =
                    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect());
                self.reply(name, reply).await
            }
        }
    }

    /// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]
    async fn client_list(&mut self, filters: &[Bytes]) -> Flow {
        let name = Some("client");
        let mut ids: Option<Vec<u64>> = None;
        let mut only_normal = true;
        let mut i = 0;
        while i < filters.len() {
            if filters[i].eq_ignore_ascii_case(b"TYPE") && i + 1 < filters.len() {
                let kind = filters[i + 1].to_ascii_lowercase();
                match kind.as_slice() {
                    b"normal" => only_normal = true,
                    b"master" | b"replica" | b"slave" | b"pubsub" => only_normal = false,
                    _ => {
                        let message =
                            format!("ERR Unknown client type '{}'", text(&filters[i + 1]));
                        return self.error(name, message).await;
                    }
                }
                i += 2;
            } else if filters[i].eq_ignore_ascii_case(b"ID") && i + 1 < filters.len() {
                let mut list = Vec::new();
                for id in &filters[i + 1..] {
                    match parse_i64(id) {
                        Some(id) if id > 0 => list.push(id as u64),
                        _ => return self.error(name, "ERR Invalid client ID").await,
                    }
                }
                ids = Some(list);
                i = filters.len();
            } else {
                return self.error(name, SYNTAX).await;
            }
        }
        let mut out = String::new();
        if only_normal {
            for client in self.shared.clients.list() {
                if ids.as_ref().is_none_or(|ids| ids.contains(&client.id)) {
                    out.push_str(&client.line());
                    out.push('\n');
                }
            }
        }
        self.reply(name, bulk(out)).await
    }

    /// CLIENT KILL ip:port, or CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port]
    /// [SKIPME yes|no] [USER name] [TYPE normal|...] (the new form answers how many).
    async fn client_kill(&mut self, filters: &[Bytes]) -> Flow {
        let name = Some("client");
        let me = self.client.id;
        if filters.len() == 1 {
            let addr = text(&filters[0]);
            let killed = self.shared.clients.kill(|c| c.addr.to_string() == addr);
            if killed == 0 {
                return self.error(name, "ERR No such client").await;
            }
            let flow = self.reply(name, Reply::Ok).await;
            return if self.client.addr.to_string() == addr {
                Flow::Close
            } else {
                flow
            };
        }
        if filters.len() % 2 != 0 {
            return self.error(name, SYNTAX).await;
        }
        let mut id = None;
        let mut addr = None;
        let mut laddr = None;
        let mut skip_me = true;
        let mut user_ok = true;
        let mut type_ok = true;
        for pair in filters.chunks_exact(2) {
            let value = &pair[1];
            match pair[0].to_ascii_lowercase().as_slice() {
                b"id" => match parse_i64(value) {
                    Some(n) if n > 0 => id = Some(n as u64),
                    _ => {
                        return self
                            .error(name, "ERR client-id should be greater than 0")
                            .await
                    }
                },
                b"addr" => addr = Some(text(value)),
                b"laddr" => laddr = Some(text(value)),
                b"skipme" => {
                    if value.eq_ignore_ascii_case(b"yes") {
                        skip_me = true;
                    } else if value.eq_ignore_ascii_case(b"no") {
                        skip_me = false;
                    } else {
                        return self.error(name, SYNTAX).await;
                    }
                }
                b"user" => user_ok = value.eq_ignore_ascii_case(b"default"),
                b"type" => type_ok = value.eq_ignore_ascii_case(b"normal"),
                _ => return self.error(name, SYNTAX).await,
            }
        }
        let matches = |c: &ClientInfo| {
            user_ok
                && type_ok
                && id.is_none_or(|id| c.id == id)
                && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
                && laddr
                    .as_ref()
                    .is_none_or(|a| c.local_addr.to_string() == *a)
                && !(skip_me && c.id == me)
        };
        let killed_me = matches(&self.client);
        let killed = self.shared.clients.kill(matches);
        let flow = self.reply(name, Reply::Integer(killed as i64)).await;
        if killed_me {
            Flow::Close
        } else {
            flow
        }
    }
}
