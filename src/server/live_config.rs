//! `LiveConfig`: the settings CONFIG GET reports and CONFIG SET changes while the server runs.
//! One per server (in `Shared`), read by the connection code with relaxed atomic loads (no lock
//! on any command's path); CONFIG SET takes a mutex only to serialize writers.
//!
//! Three kinds of parameter, under Redis's names:
//! - live: takes effect at once (`timeout`, `maxclients`, `proto-max-bulk-len`, the slow log,
//!   the latency monitor, `maxmemory`, ...);
//! - inert: Redis's encoding and housekeeping tunables (`hash-max-listpack-entries`,
//!   `lazyfree-*`, ...): accepted, range-checked, remembered and reported, with no effect,
//!   because Tandem's data structures have no such encodings (docs/compatibility.md);
//! - fixed: set at start or inherent to Tandem (`appendonly`, `port`, `dir`, ...): setting one
//!   to its current value is accepted, any other value is refused with the reason.
//!
//! Invariant: a CONFIG SET of several pairs changes all of them or none (every pair is checked
//! before any is stored), and its errors are Redis 7.0's texts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::config::ServerConfig;
use crate::keyspace::glob_match;
use crate::resp;

/// Redis's `slowlog-log-slower-than` default, in microseconds.
pub const SLOWLOG_SLOWER_THAN_US_DEFAULT: i64 = 10_000;
/// Redis's `slowlog-max-len` default.
pub const SLOWLOG_LEN_MAX_DEFAULT: i64 = 128;
/// Redis's `min-replicas-max-lag` default.
const MIN_REPLICAS_MAX_LAG_SECS_DEFAULT: i64 = 10;
/// Redis's lower bound of `proto-max-bulk-len` and `client-query-buffer-limit` at run time.
const PROTOCOL_BYTES_MIN: i64 = 1024 * 1024;

/// A setting that changes the server's behaviour at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    IdleTimeoutSecs,
    ClientsMax,
    BulkBytesMax,
    QueryBufferBytesMax,
    SlowlogSlowerThanUs,
    SlowlogLenMax,
    LatencyThresholdMs,
    MaxmemoryBytes,
    MinReplicasToWrite,
    MinReplicasMaxLagSecs,
    /// `notify-keyspace-events` as flags (`crate::command::notify`).
    NotifyKeyspaceEvents,
    /// `acllog-max-len`: entries ACL LOG keeps.
    AcllogLenMax,
    /// `busy-reply-threshold` (`lua-time-limit`): after this many ms a script run outside the
    /// log makes the node answer BUSY.
    BusyReplyThresholdMs,
    /// `script-instructions-max-<class>`: the Lua instructions a script from a client of that
    /// priority class may run at apply (carried in its log entry when not the default).
    ScriptInstructionsMaxCritical,
    ScriptInstructionsMaxNormal,
    ScriptInstructionsMaxBulk,
}

const LIVE_COUNT: usize = 16;
/// The smallest instruction budget CONFIG SET accepts: the budget hook runs every 10,000
/// instructions, so a smaller one would not be honoured exactly.
const SCRIPT_INSTRUCTIONS_MIN: i64 = 10_000;
/// Redis's `busy-reply-threshold` default, in milliseconds.
const BUSY_REPLY_THRESHOLD_MS_DEFAULT: i64 = 5_000;

/// How a value is checked (and, for live settings, read as a number).
#[derive(Clone, Copy, Debug)]
enum Check {
    Int {
        min: i64,
        max: i64,
    },
    /// A byte count with an optional unit (`1mb`, `512k`, `2gb`).
    Memory {
        min: i64,
        max: i64,
    },
    Bool,
    /// Any text (inert settings whose grammar Tandem does not interpret).
    Text,
    /// Redis's keyspace event letters (`KEA`, `Kl`, ...).
    NotifyFlags,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Live(Live),
    Inert {
        default: &'static str,
    },
    /// Cannot change while Tandem runs; the text says why.
    Fixed {
        reason: &'static str,
    },
}

struct Param {
    name: &'static str,
    /// Redis's other name for the same setting (the 6.x ziplist names).
    alias: Option<&'static str>,
    check: Check,
    kind: Kind,
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;

const fn int(min: i64, max: i64) -> Check {
    Check::Int { min, max }
}

const fn live(name: &'static str, check: Check, setting: Live) -> Param {
    Param {
        name,
        alias: None,
        check,
        kind: Kind::Live(setting),
    }
}

const fn inert(
    name: &'static str,
    alias: Option<&'static str>,
    check: Check,
    default: &'static str,
) -> Param {
    Param {
        name,
        alias,
        check,
        kind: Kind::Inert { default },
    }
}

const fn fixed(name: &'static str, reason: &'static str) -> Param {
    Param {
        name,
        alias: None,
        check: Check::Text,
        kind: Kind::Fixed { reason },
    }
}

const RESTART: &str =
    "set in the config file (tandem serve --config); it cannot change while Tandem runs";

const TLS_RELOAD: &str =
    "set at startup; replace the file itself and Tandem reloads it (on change or SIGHUP)";

/// Every parameter CONFIG GET and CONFIG SET know.
const PARAMS: &[Param] = &[
    // live
    live("maxclients", int(1, i64::MAX), Live::ClientsMax),
    live("timeout", int(0, INT_MAX), Live::IdleTimeoutSecs),
    // At most 512 MiB, the largest string Tandem (like Redis) stores; a larger request could
    // never be applied (and the largest write is an entry's size anyway, `entry_bytes_max`).
    live(
        "proto-max-bulk-len",
        Check::Memory {
            min: PROTOCOL_BYTES_MIN,
            max: crate::command::STRING_BYTES_MAX as i64,
        },
        Live::BulkBytesMax,
    ),
    live(
        "client-query-buffer-limit",
        Check::Memory {
            min: PROTOCOL_BYTES_MIN,
            max: i64::MAX,
        },
        Live::QueryBufferBytesMax,
    ),
    live(
        "slowlog-log-slower-than",
        int(-1, i64::MAX),
        Live::SlowlogSlowerThanUs,
    ),
    live("slowlog-max-len", int(0, i64::MAX), Live::SlowlogLenMax),
    live("acllog-max-len", int(0, i64::MAX), Live::AcllogLenMax),
    live(
        "latency-monitor-threshold",
        int(0, i64::MAX),
        Live::LatencyThresholdMs,
    ),
    live(
        "maxmemory",
        Check::Memory {
            min: 0,
            max: i64::MAX,
        },
        Live::MaxmemoryBytes,
    ),
    live(
        "min-replicas-to-write",
        int(0, INT_MAX),
        Live::MinReplicasToWrite,
    ),
    live(
        "min-replicas-max-lag",
        int(0, INT_MAX),
        Live::MinReplicasMaxLagSecs,
    ),
    // inert: Redis encodings and housekeeping that Tandem's structures do not have
    inert(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        int(0, i64::MAX),
        "512",
    ),
    inert(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        int(0, i64::MAX),
        "64",
    ),
    inert(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        int(INT_MIN, INT_MAX),
        "-2",
    ),
    inert("list-compress-depth", None, int(0, INT_MAX), "0"),
    inert("set-max-intset-entries", None, int(0, i64::MAX), "512"),
    inert("set-max-listpack-entries", None, int(0, i64::MAX), "128"),
    inert("set-max-listpack-value", None, int(0, i64::MAX), "64"),
    inert(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        int(0, i64::MAX),
        "128",
    ),
    inert(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        int(0, i64::MAX),
        "64",
    ),
    inert(
        "stream-node-max-bytes",
        None,
        Check::Memory {
            min: 0,
            max: i64::MAX,
        },
        "4096",
    ),
    inert("stream-node-max-entries", None, int(0, i64::MAX), "100"),
    // Tandem writes no AOF file to rewrite (its WAL is the log; snapshots are its own format).
    inert("aof-use-rdb-preamble", None, Check::Bool, "yes"),
    inert(
        "hll-sparse-max-bytes",
        None,
        Check::Memory {
            min: 0,
            max: i64::MAX,
        },
        "3000",
    ),
    inert("activerehashing", None, Check::Bool, "yes"),
    inert("lazyfree-lazy-eviction", None, Check::Bool, "no"),
    inert("lazyfree-lazy-expire", None, Check::Bool, "no"),
    inert("lazyfree-lazy-server-del", None, Check::Bool, "no"),
    inert("lazyfree-lazy-user-del", None, Check::Bool, "no"),
    inert("lazyfree-lazy-user-flush", None, Check::Bool, "no"),
    inert("replica-lazy-flush", None, Check::Bool, "no"),
    inert("activedefrag", None, Check::Bool, "no"),
    inert("hz", None, int(0, INT_MAX), "10"),
    inert("dynamic-hz", None, Check::Bool, "yes"),
    inert("active-expire-effort", None, int(1, 10), "1"),
    Param {
        name: "busy-reply-threshold",
        alias: Some("lua-time-limit"),
        check: int(0, i64::MAX),
        kind: Kind::Live(Live::BusyReplyThresholdMs),
    },
    live(
        "script-instructions-max-critical",
        int(SCRIPT_INSTRUCTIONS_MIN, i64::MAX),
        Live::ScriptInstructionsMaxCritical,
    ),
    live(
        "script-instructions-max-normal",
        int(SCRIPT_INSTRUCTIONS_MIN, i64::MAX),
        Live::ScriptInstructionsMaxNormal,
    ),
    live(
        "script-instructions-max-bulk",
        int(SCRIPT_INSTRUCTIONS_MIN, i64::MAX),
        Live::ScriptInstructionsMaxBulk,
    ),
    inert("maxmemory-samples", None, int(1, 64), "5"),
    inert("lfu-log-factor", None, int(0, INT_MAX), "10"),
    inert("lfu-decay-time", None, int(0, INT_MAX), "1"),
    inert("latency-tracking", None, Check::Bool, "yes"),
    inert("latency-tracking-info-percentiles", None, Check::Text, "50 99 99.9"),
    // fixed
    fixed("port", RESTART),
    fixed("bind", RESTART),
    fixed("dir", RESTART),
    fixed("requirepass", RESTART),
    fixed("tls-port", RESTART),
    fixed("tls-cert-file", TLS_RELOAD),
    fixed("tls-key-file", TLS_RELOAD),
    fixed("tls-ca-cert-file", TLS_RELOAD),
    fixed("tls-auth-clients", RESTART),
    fixed("tls-protocols", RESTART),
    fixed("tls-ciphersuites", RESTART),
    fixed("tls-cluster", RESTART),
    fixed(
        "appendonly",
        "Tandem writes every change to its fsynced write-ahead log before acknowledging it; that cannot be turned off",
    ),
    fixed(
        "appendfsync",
        "Tandem fsyncs every write on a quorum before acknowledging it; that cannot be weakened",
    ),
    fixed(
        "save",
        "Tandem snapshots after snapshot_logs_since_last log entries (config file), not on a save schedule",
    ),
    fixed("databases", "Tandem has one database"),
    fixed(
        "maxmemory-policy",
        "Tandem never evicts keys (they are durable, replicated state); over maxmemory it refuses writes that may grow memory",
    ),
    live(
        "notify-keyspace-events",
        Check::NotifyFlags,
        Live::NotifyKeyspaceEvents,
    ),
];

fn param(name: &[u8]) -> Option<&'static Param> {
    PARAMS.iter().find(|p| {
        name.eq_ignore_ascii_case(p.name.as_bytes())
            || p.alias
                .is_some_and(|alias| name.eq_ignore_ascii_case(alias.as_bytes()))
    })
}

/// Redis's `memtoull`: digits with an optional unit (b, k, kb, m, mb, g, gb; k = 1000, kb =
/// 1024), case-insensitive. None if not such a value or over `i64::MAX`.
pub(crate) fn parse_memory(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: i64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1_024,
        "m" => 1_000_000,
        "mb" => 1_024 * 1_024,
        "g" => 1_000_000_000,
        "gb" => 1_024 * 1_024 * 1_024,
        _ => return None,
    };
    if digits.is_empty() {
        return None;
    }
    digits.parse::<i64>().ok()?.checked_mul(multiplier)
}

/// The value `check` accepts, normalized as CONFIG GET shows it; Err is Redis's reason text.
fn checked(check: Check, value: &[u8]) -> Result<(String, Option<i64>), String> {
    let in_range = |n: i64, min: i64, max: i64| {
        if n < min || n > max {
            Err(format!(
                "argument must be between {min} and {max} inclusive"
            ))
        } else {
            Ok((n.to_string(), Some(n)))
        }
    };
    match check {
        Check::Int { min, max } => {
            let n = crate::command::parse_i64_strict(value)
                .ok_or("argument couldn't be parsed into an integer")?;
            in_range(n, min, max)
        }
        Check::Memory { min, max } => {
            let n = match crate::command::parse_i64_strict(value) {
                Some(n) => n,
                None => parse_memory(value).ok_or("argument must be a memory value")?,
            };
            in_range(n, min, max)
        }
        Check::Bool => {
            if value.eq_ignore_ascii_case(b"yes") {
                Ok(("yes".into(), None))
            } else if value.eq_ignore_ascii_case(b"no") {
                Ok(("no".into(), None))
            } else {
                Err("argument must be 'yes' or 'no'".into())
            }
        }
        Check::Text => Ok((String::from_utf8_lossy(value).into_owned(), None)),
        Check::NotifyFlags => {
            let flags = crate::command::notify::parse_flags(value)
                .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
            Ok((
                crate::command::notify::format_flags(flags),
                Some(i64::from(flags)),
            ))
        }
    }
}

/// The server's run-time configuration.
pub(crate) struct LiveConfig {
    live: [AtomicI64; LIVE_COUNT],
    /// Inert settings by canonical name.
    inert: Mutex<HashMap<&'static str, String>>,
    /// Fixed settings' values, by name.
    fixed: HashMap<&'static str, String>,
    /// Lengths the request parser keeps from the config file.
    array_len_max: usize,
    inline_bytes_max: usize,
    /// Serializes CONFIG SET (readers never take it).
    writer: Mutex<()>,
}

impl LiveConfig {
    pub(crate) fn new(config: &ServerConfig, listen: std::net::SocketAddr) -> Self {
        let limits = &config.limits;
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let mut initial = [0i64; LIVE_COUNT];
        initial[Live::IdleTimeoutSecs as usize] =
            i64::try_from(limits.idle_timeout_secs).unwrap_or(i64::MAX);
        initial[Live::ClientsMax as usize] = as_i64(limits.clients_max);
        initial[Live::BulkBytesMax as usize] = as_i64(limits.bulk_bytes_max);
        initial[Live::QueryBufferBytesMax as usize] = as_i64(limits.query_buffer_bytes_max);
        initial[Live::SlowlogSlowerThanUs as usize] = SLOWLOG_SLOWER_THAN_US_DEFAULT;
        initial[Live::SlowlogLenMax as usize] = SLOWLOG_LEN_MAX_DEFAULT;
        initial[Live::AcllogLenMax as usize] = super::acl::LOG_ENTRIES_MAX as i64;
        initial[Live::LatencyThresholdMs as usize] = 0;
        initial[Live::BusyReplyThresholdMs as usize] = BUSY_REPLY_THRESHOLD_MS_DEFAULT;
        let budget = i64::try_from(crate::command::SCRIPT_INSTRUCTIONS_MAX).unwrap_or(i64::MAX);
        initial[Live::ScriptInstructionsMaxCritical as usize] = budget;
        initial[Live::ScriptInstructionsMaxNormal as usize] = budget;
        initial[Live::ScriptInstructionsMaxBulk as usize] = budget;
        initial[Live::MaxmemoryBytes as usize] = 0;
        initial[Live::MinReplicasToWrite as usize] = 0;
        initial[Live::MinReplicasMaxLagSecs as usize] = MIN_REPLICAS_MAX_LAG_SECS_DEFAULT;
        initial[Live::NotifyKeyspaceEvents as usize] = i64::from(
            crate::command::notify::parse_flags(config.notify_keyspace_events.as_bytes())
                .unwrap_or(0),
        );
        let inert = PARAMS
            .iter()
            .filter_map(|p| match p.kind {
                Kind::Inert { default } => Some((p.name, default.to_string())),
                _ => None,
            })
            .collect();
        let fixed = HashMap::from([
            ("port", listen.port().to_string()),
            ("bind", listen.ip().to_string()),
            ("dir", config.data.display().to_string()),
            (
                "requirepass",
                config.requirepass.clone().unwrap_or_default(),
            ),
            (
                "tls-port",
                config.tls_port.map_or("0".into(), |p| p.to_string()),
            ),
            (
                "tls-cert-file",
                config
                    .tls_cert_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "tls-key-file",
                config
                    .tls_key_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "tls-ca-cert-file",
                config
                    .tls_ca_cert_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("tls-auth-clients", config.tls_auth_clients.to_string()),
            (
                "tls-protocols",
                config.tls_protocols.clone().unwrap_or_default(),
            ),
            (
                "tls-ciphersuites",
                config.tls_ciphersuites.clone().unwrap_or_default(),
            ),
            (
                "tls-cluster",
                if config.tls_cluster { "yes" } else { "no" }.into(),
            ),
            ("appendonly", "yes".into()),
            ("appendfsync", "always".into()),
            ("save", String::new()),
            ("databases", "1".into()),
            ("maxmemory-policy", "noeviction".into()),
        ]);
        Self {
            live: initial.map(AtomicI64::new),
            inert: Mutex::new(inert),
            fixed,
            array_len_max: limits.array_len_max,
            inline_bytes_max: limits.inline_bytes_max,
            writer: Mutex::new(()),
        }
    }

    fn load(&self, setting: Live) -> i64 {
        self.live[setting as usize].load(Ordering::Relaxed)
    }

    fn load_usize(&self, setting: Live) -> usize {
        usize::try_from(self.load(setting).max(0)).unwrap_or(usize::MAX)
    }

    /// Close a client idle this long (`timeout`); None = never.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        let secs = self.load(Live::IdleTimeoutSecs);
        (secs > 0).then(|| Duration::from_secs(secs as u64))
    }

    pub(crate) fn clients_max(&self) -> usize {
        self.load_usize(Live::ClientsMax)
    }

    /// The limits the request parser enforces now.
    pub(crate) fn protocol_limits(&self) -> resp::Limits {
        resp::Limits {
            bulk_bytes_max: self.load_usize(Live::BulkBytesMax),
            array_len_max: self.array_len_max,
            inline_bytes_max: self.inline_bytes_max,
        }
    }

    pub(crate) fn query_buffer_bytes_max(&self) -> usize {
        self.load_usize(Live::QueryBufferBytesMax)
    }

    /// Log commands slower than this many µs; None = the slow log is off (negative).
    pub(crate) fn slowlog_slower_than_us(&self) -> Option<u64> {
        u64::try_from(self.load(Live::SlowlogSlowerThanUs)).ok()
    }

    pub(crate) fn slowlog_len_max(&self) -> usize {
        self.load_usize(Live::SlowlogLenMax)
    }

    pub(crate) fn acllog_len_max(&self) -> usize {
        self.load_usize(Live::AcllogLenMax)
    }

    /// Record latency events of at least this many ms; None = the monitor is off (0).
    pub(crate) fn latency_threshold_ms(&self) -> Option<u64> {
        u64::try_from(self.load(Live::LatencyThresholdMs))
            .ok()
            .filter(|ms| *ms > 0)
    }

    /// How long a script may run outside the log before the node answers other clients BUSY
    /// (`busy-reply-threshold`, `lua-time-limit`).
    pub(crate) fn busy_reply_threshold(&self) -> Duration {
        Duration::from_millis(self.load(Live::BusyReplyThresholdMs).max(0) as u64)
    }

    /// Lua instructions a script from a client of `class` may run at apply
    /// (`script-instructions-max-<class>`).
    pub(crate) fn script_instructions_max(&self, class: crate::node::Class) -> u64 {
        let setting = match class {
            crate::node::Class::Critical => Live::ScriptInstructionsMaxCritical,
            crate::node::Class::Normal => Live::ScriptInstructionsMaxNormal,
            crate::node::Class::Bulk => Live::ScriptInstructionsMaxBulk,
        };
        u64::try_from(self.load(setting)).unwrap_or(crate::command::SCRIPT_INSTRUCTIONS_MAX)
    }

    /// Refuse writes that may grow memory when the process is over this many bytes; None = no
    /// limit (0).
    pub(crate) fn maxmemory_bytes(&self) -> Option<u64> {
        u64::try_from(self.load(Live::MaxmemoryBytes))
            .ok()
            .filter(|bytes| *bytes > 0)
    }

    /// Refuse writes unless this many followers are in contact (`min-replicas-to-write`, on
    /// top of the quorum every write already needs); None = 0.
    pub(crate) fn min_replicas_to_write(&self) -> Option<usize> {
        Some(self.load_usize(Live::MinReplicasToWrite)).filter(|n| *n > 0)
    }

    /// A follower counts for `min-replicas-to-write` if heard from within this long.
    pub(crate) fn min_replicas_max_lag(&self) -> Duration {
        Duration::from_secs(self.load(Live::MinReplicasMaxLagSecs).max(0) as u64)
    }

    /// `notify-keyspace-events` as flags (0: off).
    pub(crate) fn notify_flags(&self) -> u32 {
        u32::try_from(self.load(Live::NotifyKeyspaceEvents)).unwrap_or(0)
    }

    fn value(&self, p: &Param) -> String {
        match p.kind {
            Kind::Live(Live::NotifyKeyspaceEvents) => {
                crate::command::notify::format_flags(self.notify_flags())
            }
            Kind::Live(setting) => self.load(setting).to_string(),
            Kind::Inert { .. } => lock(&self.inert).get(p.name).cloned().unwrap_or_default(),
            Kind::Fixed { .. } => self.fixed.get(p.name).cloned().unwrap_or_default(),
        }
    }

    /// CONFIG GET: (name, value) of every parameter or alias matching one of `patterns` (glob,
    /// case-insensitive), each once, in table order.
    pub(crate) fn get(&self, patterns: &[Bytes]) -> Vec<(&'static str, String)> {
        let patterns: Vec<Vec<u8>> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        let matches = |name: &str| patterns.iter().any(|p| glob_match(p, name.as_bytes()));
        let mut out = Vec::new();
        for p in PARAMS {
            for name in std::iter::once(p.name).chain(p.alias) {
                if matches(name) {
                    out.push((name, self.value(p)));
                }
            }
        }
        out
    }

    /// CONFIG SET name value [name value ...]: all or nothing. `args` are the pairs (an even,
    /// non-zero count; the caller answers the arity and syntax errors). Err is the reply text.
    pub(crate) fn set(&self, args: &[Bytes]) -> Result<(), String> {
        let _writer = lock(&self.writer);
        let mut planned: Vec<(&'static Param, String, Option<i64>)> = Vec::new();
        // Redis reports an unknown name before any other error, wherever it is in the list.
        for pair in args.chunks_exact(2) {
            if param(&pair[0]).is_none() {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(&pair[0])
                ));
            }
        }
        let failed = |name: &[u8], reason: &str| {
            format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - {reason}",
                String::from_utf8_lossy(name)
            )
        };
        for pair in args.chunks_exact(2) {
            let (name, value) = (&pair[0], &pair[1]);
            let p = param(name).expect("checked above");
            if planned.iter().any(|(q, _, _)| std::ptr::eq(*q, p)) {
                return Err(failed(name, "duplicate parameter"));
            }
            let (text, number) = checked(p.check, value).map_err(|reason| failed(name, &reason))?;
            if let Kind::Fixed { reason } = p.kind {
                if !text.eq_ignore_ascii_case(&self.value(p)) {
                    return Err(failed(name, reason));
                }
            }
            planned.push((p, text, number));
        }
        for (p, text, number) in planned {
            match p.kind {
                Kind::Live(setting) => {
                    let n = number.expect("live settings are numbers");
                    self.live[setting as usize].store(n, Ordering::Relaxed);
                }
                Kind::Inert { .. } => {
                    lock(&self.inert).insert(p.name, text);
                }
                Kind::Fixed { .. } => {}
            }
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LiveConfig {
        LiveConfig::new(&ServerConfig::default(), "127.0.0.1:7379".parse().unwrap())
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn get(config: &LiveConfig, name: &str) -> String {
        let found = config.get(&args(&[name]));
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        found[0].1.clone()
    }

    #[test]
    fn memory_values_take_redis_units() {
        assert_eq!(parse_memory(b"100"), Some(100));
        assert_eq!(parse_memory(b"1k"), Some(1000));
        assert_eq!(parse_memory(b"1KB"), Some(1024));
        assert_eq!(parse_memory(b"2mb"), Some(2 * 1024 * 1024));
        assert_eq!(parse_memory(b"1gb"), Some(1 << 30));
        assert_eq!(parse_memory(b"bla"), None);
        assert_eq!(parse_memory(b"mb"), None);
        assert_eq!(parse_memory(b"-1"), None);
    }

    #[test]
    fn live_settings_change_what_the_server_reads() {
        let config = config();
        assert_eq!(config.idle_timeout(), None);
        assert_eq!(config.slowlog_slower_than_us(), Some(10_000));
        config
            .set(&args(&[
                "timeout",
                "5",
                "maxclients",
                "7",
                "slowlog-log-slower-than",
                "-1",
                "proto-max-bulk-len",
                "2mb",
                "latency-monitor-threshold",
                "3",
            ]))
            .unwrap();
        assert_eq!(config.idle_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(config.clients_max(), 7);
        assert_eq!(config.slowlog_slower_than_us(), None);
        assert_eq!(config.protocol_limits().bulk_bytes_max, 2 * 1024 * 1024);
        assert_eq!(config.latency_threshold_ms(), Some(3));
        assert_eq!(get(&config, "proto-max-bulk-len"), "2097152");
    }

    #[test]
    fn a_failing_pair_changes_nothing() {
        let config = config();
        let err = config
            .set(&args(&["timeout", "9", "maxmemory", "bla"]))
            .unwrap_err();
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(get(&config, "timeout"), "0");
        let err = config
            .set(&args(&["timeout", "9", "nosuch", "1"]))
            .unwrap_err();
        assert_eq!(
            err,
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        let err = config
            .set(&args(&["timeout", "1", "TIMEOUT", "2"]))
            .unwrap_err();
        assert_eq!(
            err,
            "ERR CONFIG SET failed (possibly related to argument 'TIMEOUT') - duplicate parameter"
        );
        let err = config.set(&args(&["timeout", "-1"])).unwrap_err();
        assert!(
            err.ends_with("argument must be between 0 and 2147483647 inclusive"),
            "{err}"
        );
        let err = config.set(&args(&["timeout", "x"])).unwrap_err();
        assert!(
            err.ends_with("argument couldn't be parsed into an integer"),
            "{err}"
        );
        let err = config
            .set(&args(&["activerehashing", "maybe"]))
            .unwrap_err();
        assert!(err.ends_with("argument must be 'yes' or 'no'"), "{err}");
        assert_eq!(get(&config, "timeout"), "0");
    }

    #[test]
    fn inert_settings_are_remembered_under_both_names() {
        let config = config();
        assert_eq!(get(&config, "zset-max-ziplist-entries"), "128");
        config
            .set(&args(&[
                "zset-max-ziplist-entries",
                "0",
                "activerehashing",
                "NO",
            ]))
            .unwrap();
        assert_eq!(get(&config, "zset-max-listpack-entries"), "0");
        assert_eq!(get(&config, "zset-max-ziplist-entries"), "0");
        assert_eq!(get(&config, "activerehashing"), "no");
        let err = config
            .set(&args(&[
                "zset-max-ziplist-entries",
                "1",
                "zset-max-listpack-entries",
                "2",
            ]))
            .unwrap_err();
        assert!(err.ends_with("duplicate parameter"), "{err}");
    }

    #[test]
    fn fixed_settings_accept_only_their_value() {
        let config = config();
        config
            .set(&args(&["appendonly", "yes", "save", ""]))
            .unwrap();
        let err = config.set(&args(&["appendonly", "no"])).unwrap_err();
        assert!(
            err.starts_with(
                "ERR CONFIG SET failed (possibly related to argument 'appendonly') - Tandem writes"
            ),
            "{err}"
        );
        let err = config
            .set(&args(&["maxmemory-policy", "allkeys-lru"]))
            .unwrap_err();
        assert!(err.contains("never evicts"), "{err}");
    }

    #[test]
    fn get_matches_globs_and_aliases() {
        let config = config();
        let names: Vec<_> = config
            .get(&args(&["hash-max-*"]))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "hash-max-listpack-entries",
                "hash-max-ziplist-entries",
                "hash-max-listpack-value",
                "hash-max-ziplist-value"
            ]
        );
        assert_eq!(get(&config, "MAXCLIENTS"), "10000");
    }
}
