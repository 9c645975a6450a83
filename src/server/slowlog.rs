//! The slow log (SLOWLOG GET | LEN | RESET | HELP): the last `slowlog-max-len` commands that
//! took at least `slowlog-log-slower-than` µs, newest first.
//!
//! A command is timed from when it is parsed to when its reply is ready. For a write that
//! includes waiting for the log entry to be fsynced on a quorum and applied, which is what its
//! client waits for; Redis times only execution (docs/compatibility.md). Commands flagged
//! `skip_slowlog` (EXEC) and the login commands (AUTH, HELLO: their arguments hold passwords) are
//! never logged. Invariant: ids grow by one per entry and are never reused, even after RESET.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::clients::ClientInfo;
use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use crate::command::{CommandSpec, Flags, Reply};

/// Arguments kept per entry (Redis's SLOWLOG_ENTRY_MAX_ARGC); the last one says how many more.
const ARGS_KEPT_MAX: usize = 32;
/// Bytes kept per argument (Redis's SLOWLOG_ENTRY_MAX_STRING).
const ARG_BYTES_KEPT_MAX: usize = 128;
/// Entries SLOWLOG GET returns without a count.
const GET_COUNT_DEFAULT: usize = 10;
const COUNT_RANGE: &str = "ERR count should be greater than or equal to -1";

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    id: u64,
    unix_secs: u64,
    duration_us: u64,
    args: Vec<Bytes>,
    client_addr: String,
    client_name: String,
}

/// The slow log of one server.
#[derive(Debug, Default)]
pub(crate) struct SlowLog {
    next_id: AtomicU64,
    /// Newest first.
    entries: Mutex<VecDeque<Entry>>,
}

/// `args` as Redis keeps them in a slow log entry: at most 32 arguments (the 32nd says how many
/// more there were) and at most 128 bytes of each (followed by how many more bytes).
fn truncated(args: &[Bytes]) -> Vec<Bytes> {
    let kept = if args.len() > ARGS_KEPT_MAX {
        ARGS_KEPT_MAX - 1
    } else {
        args.len()
    };
    let mut out: Vec<Bytes> = args[..kept]
        .iter()
        .map(|arg| {
            if arg.len() > ARG_BYTES_KEPT_MAX {
                let mut text = arg[..ARG_BYTES_KEPT_MAX].to_vec();
                text.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - ARG_BYTES_KEPT_MAX).as_bytes(),
                );
                Bytes::from(text)
            } else {
                arg.clone()
            }
        })
        .collect();
    if kept < args.len() {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            args.len() - kept
        )));
    }
    out
}

/// Settings whose values are secrets: CONFIG SET shows them as `(redacted)` in the slow log.
const SECRET_SETTINGS: &[&str] = &["requirepass", "masterauth"];

/// `args` with the values of secret settings in a CONFIG SET replaced, as Redis does.
fn redacted(spec: &CommandSpec, mut args: Vec<Bytes>) -> Vec<Bytes> {
    let is_config_set =
        spec.name == "config" && args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"set"));
    if is_config_set {
        for i in (2..args.len().saturating_sub(1)).step_by(2) {
            if SECRET_SETTINGS
                .iter()
                .any(|s| args[i].eq_ignore_ascii_case(s.as_bytes()))
            {
                args[i + 1] = Bytes::from_static(b"(redacted)");
            }
        }
    }
    // ACL SETUSER's clear-text passwords (`>pw`, `<pw`) never reach the log.
    let is_setuser = spec.name == "acl"
        && args
            .get(1)
            .is_some_and(|a| a.eq_ignore_ascii_case(b"setuser"));
    if is_setuser {
        for arg in args.iter_mut().skip(3) {
            if matches!(arg.first(), Some(b'>' | b'<')) {
                *arg = Bytes::from_static(b"(redacted)");
            }
        }
    }
    args
}

impl SlowLog {
    /// Logs a command that took `elapsed` if it is over `slower_than_us` (None: the log is
    /// off), keeping at most `len_max` entries.
    pub(crate) fn observe(
        &self,
        spec: &CommandSpec,
        args: &[Bytes],
        elapsed: Duration,
        client: &ClientInfo,
        slower_than_us: Option<u64>,
        len_max: usize,
    ) {
        let Some(slower_than_us) = slower_than_us else {
            return;
        };
        let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        if duration_us < slower_than_us
            || spec.flags.contains(Flags::SKIP_SLOWLOG)
            || spec.flags.contains(Flags::NO_AUTH)
        {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            unix_secs: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            duration_us,
            args: redacted(spec, truncated(args)),
            client_addr: client.addr.to_string(),
            client_name: client.name().unwrap_or_default(),
        };
        let mut entries = lock(&self.entries);
        entries.push_front(entry);
        entries.truncate(len_max);
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub(crate) fn reset(&self) {
        lock(&self.entries).clear();
    }

    /// The newest `count` entries as SLOWLOG GET answers them.
    fn newest(&self, count: usize) -> Reply {
        let bulk = |text: &str| Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()));
        Reply::Array(
            lock(&self.entries)
                .iter()
                .take(count)
                .map(|e| {
                    Reply::Array(vec![
                        Reply::Integer(e.id as i64),
                        Reply::Integer(e.unix_secs as i64),
                        Reply::Integer(e.duration_us as i64),
                        Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                        bulk(&e.client_addr),
                        bulk(&e.client_name),
                    ])
                })
                .collect(),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

const HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

pub(crate) fn help_reply(lines: &[&str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
}

/// The reply of SLOWLOG with `args` (`args[0]` is "slowlog").
pub(crate) fn slowlog_reply(log: &SlowLog, args: &[Bytes]) -> Reply {
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"get", 2) => log.newest(GET_COUNT_DEFAULT),
        (b"get", 3) => match crate::command::parse_i64_strict(&args[2]) {
            // Redis answers a non-integer count with the range error too.
            None => Reply::Error(COUNT_RANGE.into()),
            Some(count) if count < -1 => Reply::Error(COUNT_RANGE.into()),
            Some(-1) => log.newest(usize::MAX),
            Some(count) => log.newest(usize::try_from(count).unwrap_or(usize::MAX)),
        },
        (b"len", 2) => Reply::Integer(log.len() as i64),
        (b"reset", 2) => {
            log.reset();
            Reply::Ok
        }
        (b"help", 2) => help_reply(HELP),
        (b"get" | b"len" | b"reset" | b"help", _) => Reply::Error(wrong_arity(&format!(
            "slowlog|{}",
            String::from_utf8_lossy(&sub)
        ))),
        _ => Reply::Error(format!(
            "ERR unknown subcommand '{}'. Try SLOWLOG HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

impl Connection {
    /// SLOWLOG GET [count] | LEN | RESET | HELP
    pub(crate) async fn slowlog(&mut self, args: &[Bytes]) -> Flow {
        let reply = slowlog_reply(&self.shared.slowlog, args);
        self.reply(Some("slowlog"), reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn client() -> ClientInfo {
        let addr = "127.0.0.1:5000".parse().unwrap();
        ClientInfo::new(1, addr, addr, 3)
    }

    #[test]
    fn arguments_are_truncated_as_redis_does() {
        let long = "x".repeat(200);
        let kept = truncated(&args(&["set", "k", &long]));
        assert_eq!(kept.len(), 3);
        assert_eq!(
            kept[2],
            Bytes::from(format!("{}... (72 more bytes)", "x".repeat(128)))
        );
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let kept = truncated(&args(&many));
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], Bytes::from("30"));
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        assert_eq!(truncated(&args(&many[..32])).len(), 32);
    }

    #[test]
    fn threshold_length_and_reset() {
        let log = SlowLog::default();
        let client = client();
        let spec = super::super::command_table::lookup(b"get").unwrap();
        let ms = Duration::from_millis;
        log.observe(spec, &args(&["get", "a"]), ms(5), &client, Some(10_000), 2);
        assert_eq!(log.len(), 0, "under the threshold");
        log.observe(spec, &args(&["get", "a"]), ms(5), &client, None, 2);
        assert_eq!(log.len(), 0, "log off");
        for key in ["a", "b", "c"] {
            log.observe(spec, &args(&["get", key]), ms(20), &client, Some(10_000), 2);
        }
        assert_eq!(log.len(), 2, "slowlog-max-len");
        let Reply::Array(entries) = slowlog_reply(&log, &args(&["slowlog", "get", "1"])) else {
            panic!()
        };
        let Reply::Array(newest) = &entries[0] else {
            panic!()
        };
        assert_eq!(newest[0], Reply::Integer(2));
        assert_eq!(newest[2], Reply::Integer(20_000));
        assert_eq!(
            newest[3],
            Reply::Array(vec![Reply::Bulk("get".into()), Reply::Bulk("c".into())])
        );
        assert_eq!(newest[4], Reply::Bulk("127.0.0.1:5000".into()));
        assert_eq!(slowlog_reply(&log, &args(&["slowlog", "reset"])), Reply::Ok);
        assert_eq!(
            slowlog_reply(&log, &args(&["slowlog", "len"])),
            Reply::Integer(0)
        );
        let exec = super::super::command_table::lookup(b"exec").unwrap();
        log.observe(exec, &args(&["exec"]), ms(20), &client, Some(0), 2);
        let auth = super::super::command_table::lookup(b"auth").unwrap();
        log.observe(auth, &args(&["auth", "pw"]), ms(20), &client, Some(0), 2);
        assert_eq!(
            log.len(),
            0,
            "skip_slowlog and login commands are not logged"
        );
    }

    #[test]
    fn secret_settings_are_redacted() {
        let config = super::super::command_table::lookup(b"config").unwrap();
        let kept = redacted(
            config,
            args(&["CONFIG", "SET", "timeout", "1", "requirepass", "s3cret"]),
        );
        assert_eq!(
            kept,
            args(&["CONFIG", "SET", "timeout", "1", "requirepass", "(redacted)"])
        );
        let get = super::super::command_table::lookup(b"get").unwrap();
        assert_eq!(
            redacted(get, args(&["GET", "requirepass"])),
            args(&["GET", "requirepass"])
        );
        let acl = super::super::command_table::lookup(b"acl").unwrap();
        assert_eq!(
            redacted(
                acl,
                args(&["ACL", "SETUSER", "u", "on", ">s3cret", "<old", "~*"])
            ),
            args(&[
                "ACL",
                "SETUSER",
                "u",
                "on",
                "(redacted)",
                "(redacted)",
                "~*"
            ])
        );
    }

    #[test]
    fn errors_are_redis_texts() {
        let log = SlowLog::default();
        assert_eq!(
            slowlog_reply(&log, &args(&["slowlog", "get", "-2"])),
            Reply::Error("ERR count should be greater than or equal to -1".into())
        );
        assert_eq!(
            slowlog_reply(&log, &args(&["slowlog", "foo"])),
            Reply::Error("ERR unknown subcommand 'foo'. Try SLOWLOG HELP.".into())
        );
        assert_eq!(
            slowlog_reply(&log, &args(&["slowlog", "len", "x"])),
            Reply::Error("ERR wrong number of arguments for 'slowlog|len' command".into())
        );
    }
}
