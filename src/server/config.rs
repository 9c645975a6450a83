//! `ServerConfig`: every setting of `tandem serve`, read from a TOML file and overridden by
//! command-line flags. Invariant: a config that passes `validate` can be served as is; every
//! limit the server enforces comes from here (docs/tandem.example.toml lists each key).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::priority::{LaneConfig, CRITICAL_THREADS_DEFAULT};
use super::resp;
use crate::wal::Backend;

/// Redis's `proto-max-bulk-len` default.
pub const BULK_BYTES_MAX_DEFAULT: usize = 512 * 1024 * 1024;
/// Redis's multibulk length limit.
pub const ARRAY_LEN_MAX_DEFAULT: usize = 1024 * 1024;
/// Redis's inline request limit (PROTO_INLINE_MAX_SIZE).
pub const INLINE_BYTES_MAX_DEFAULT: usize = 64 * 1024;
/// Redis's `client-query-buffer-limit` default.
pub const QUERY_BUFFER_BYTES_MAX_DEFAULT: usize = 1024 * 1024 * 1024;
/// Redis's `maxclients` default.
pub const CLIENTS_MAX_DEFAULT: usize = 10_000;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {reason}")]
    Invalid { reason: String },
}

/// Settings of `tandem serve`. Unknown keys are an error, missing keys take their default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// RESP listener, `ip:port` (port 0: the OS picks one).
    pub listen: String,
    /// Data directory: WAL, snapshots, lock file.
    pub data: PathBuf,
    /// Admin HTTP listener (/metrics, /health, /ready).
    pub admin_listen: String,
    /// Password of the default user; `None` = no AUTH required.
    pub requirepass: Option<String>,
    #[serde(deserialize_with = "backend_from_str")]
    pub wal_backend: Backend,
    /// Size of each preallocated WAL segment file.
    pub segment_bytes: u64,
    /// Take a snapshot after this many log entries since the last one.
    pub snapshot_logs_since_last: u64,
    /// Threads serving connections and consensus. 1 = a single-threaded runtime, which measured
    /// fastest on 2 cores (the WAL writer and segment preparer have their own threads).
    pub worker_threads: usize,
    /// Listener whose connections are `critical` and served by their own runtime, `ip:port`;
    /// `None` = none.
    pub critical_listen: Option<String>,
    /// OS threads of the critical runtime (1 = a current-thread runtime on one thread).
    pub critical_threads: usize,
    pub limits: ServerLimits,
    /// Priority lanes: admission thresholds and the bulk share of a batch.
    pub lanes: LaneConfig,
}

/// Default runtime threads: one. On the 2-core reference machine a single-threaded runtime
/// served 13% more durable SETs at 50 clients than two workers (fewer cross-thread wake-ups),
/// measured with `redis-benchmark -t set -c 50`; see docs/benchmarks.md.
pub const WORKER_THREADS_DEFAULT: usize = 1;
/// Upper bound on `worker_threads`.
pub const WORKER_THREADS_MAX: usize = 256;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7379".into(),
            data: PathBuf::from("./tandem-data"),
            admin_listen: "127.0.0.1:9379".into(),
            requirepass: None,
            wal_backend: Backend::default(),
            segment_bytes: crate::wal::SEGMENT_BYTES_DEFAULT,
            snapshot_logs_since_last: crate::node::SNAPSHOT_LOGS_SINCE_LAST_DEFAULT,
            worker_threads: WORKER_THREADS_DEFAULT,
            critical_listen: None,
            critical_threads: CRITICAL_THREADS_DEFAULT,
            limits: ServerLimits::default(),
            lanes: LaneConfig::default(),
        }
    }
}

/// Per-client and per-server limits (the `[limits]` table).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Largest bulk string in a request (Redis `proto-max-bulk-len`).
    pub bulk_bytes_max: usize,
    /// Most elements in a request array.
    pub array_len_max: usize,
    /// Longest inline (telnet-style) request line.
    pub inline_bytes_max: usize,
    /// Most unparsed bytes buffered for one client (Redis `client-query-buffer-limit`); a client
    /// over it is disconnected.
    pub query_buffer_bytes_max: usize,
    /// Most connected clients (Redis `maxclients`); later ones get an error and are closed.
    pub clients_max: usize,
    /// Close a client idle this long; 0 = never (Redis `timeout`).
    pub idle_timeout_secs: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            bulk_bytes_max: BULK_BYTES_MAX_DEFAULT,
            array_len_max: ARRAY_LEN_MAX_DEFAULT,
            inline_bytes_max: INLINE_BYTES_MAX_DEFAULT,
            query_buffer_bytes_max: QUERY_BUFFER_BYTES_MAX_DEFAULT,
            clients_max: CLIENTS_MAX_DEFAULT,
            idle_timeout_secs: 0,
        }
    }
}

impl ServerLimits {
    /// The limits the RESP parser enforces.
    pub fn protocol(&self) -> resp::Limits {
        resp::Limits {
            bulk_bytes_max: self.bulk_bytes_max,
            array_len_max: self.array_len_max,
            inline_bytes_max: self.inline_bytes_max,
        }
    }
}

fn backend_from_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Backend, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

impl ServerConfig {
    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Reads `path`, or returns the defaults when there is no file.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Rejects settings the server could not honour.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid { reason });
        let l = &self.limits;
        if l.clients_max == 0 {
            return invalid("limits.clients_max must be at least 1".into());
        }
        if l.bulk_bytes_max < 1024 {
            return invalid("limits.bulk_bytes_max must be at least 1024".into());
        }
        if l.array_len_max == 0 || l.inline_bytes_max == 0 {
            return invalid(
                "limits.array_len_max and limits.inline_bytes_max must be positive".into(),
            );
        }
        if l.query_buffer_bytes_max < l.bulk_bytes_max.max(l.inline_bytes_max) {
            return invalid(format!(
                "limits.query_buffer_bytes_max ({}) must be at least limits.bulk_bytes_max ({}) and limits.inline_bytes_max ({})",
                l.query_buffer_bytes_max, l.bulk_bytes_max, l.inline_bytes_max
            ));
        }
        if self.requirepass.as_deref() == Some("") {
            return invalid("requirepass must not be empty (leave it out for no password)".into());
        }
        if self.worker_threads == 0 || self.worker_threads > WORKER_THREADS_MAX {
            return invalid(format!(
                "worker_threads must be between 1 and {WORKER_THREADS_MAX}"
            ));
        }
        if self.critical_threads == 0 || self.critical_threads > WORKER_THREADS_MAX {
            return invalid(format!(
                "critical_threads must be between 1 and {WORKER_THREADS_MAX}"
            ));
        }
        if let Some(reason) = self.lanes.invalid_reason() {
            return invalid(reason);
        }
        if self.snapshot_logs_since_last == 0 {
            return invalid("snapshot_logs_since_last must be at least 1".into());
        }
        Ok(())
    }
}

/// Command-line overrides of `tandem serve`; a flag that is given wins over the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (see docs/tandem.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// RESP listener ip:port [default 127.0.0.1:7379].
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory [default ./tandem-data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Admin HTTP listener ip:port [default 127.0.0.1:9379].
    #[arg(long)]
    pub admin_listen: Option<String>,
    /// Password clients must AUTH with.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// WAL I/O backend: pwrite or io_uring.
    #[arg(long)]
    pub wal_backend: Option<Backend>,
    /// Size of each WAL segment file.
    #[arg(long)]
    pub segment_bytes: Option<u64>,
    /// Snapshot after this many log entries.
    #[arg(long)]
    pub snapshot_logs_since_last: Option<u64>,
    /// Threads serving connections and consensus (1 = single-threaded runtime).
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Largest bulk string in a request.
    #[arg(long)]
    pub bulk_bytes_max: Option<usize>,
    /// Most elements in a request array.
    #[arg(long)]
    pub array_len_max: Option<usize>,
    /// Longest inline request line.
    #[arg(long)]
    pub inline_bytes_max: Option<usize>,
    /// Most unparsed bytes buffered per client.
    #[arg(long)]
    pub query_buffer_bytes_max: Option<usize>,
    /// Most connected clients.
    #[arg(long)]
    pub clients_max: Option<usize>,
    /// Close clients idle this many seconds (0 = never).
    #[arg(long)]
    pub idle_timeout_secs: Option<u64>,
    /// Listener for critical connections (own runtime threads), ip:port.
    #[arg(long)]
    pub critical_listen: Option<String>,
    /// OS threads serving critical connections.
    #[arg(long)]
    pub critical_threads: Option<usize>,
    /// Queued writes (all lanes) at which critical writes are refused.
    #[arg(long)]
    pub queue_depth_max: Option<usize>,
    /// Queued writes (all lanes) at which normal writes are refused with BUSY.
    #[arg(long)]
    pub normal_depth_max: Option<usize>,
    /// Queued writes (all lanes) at which bulk writes are refused with BUSY.
    #[arg(long)]
    pub bulk_depth_max: Option<usize>,
    /// Most bulk writes in one log entry.
    #[arg(long)]
    pub bulk_ops_per_batch_max: Option<usize>,
}

impl ServeArgs {
    /// Loads `--config` (or the defaults), applies the flags, validates.
    pub fn resolve(&self) -> Result<ServerConfig, ConfigError> {
        let mut config = ServerConfig::load(self.config.as_deref())?;
        self.apply(&mut config);
        config.validate()?;
        Ok(config)
    }

    fn apply(&self, config: &mut ServerConfig) {
        fn set<T: Clone>(target: &mut T, flag: &Option<T>) {
            if let Some(value) = flag {
                *target = value.clone();
            }
        }
        set(&mut config.listen, &self.listen);
        set(&mut config.data, &self.data);
        set(&mut config.admin_listen, &self.admin_listen);
        if self.requirepass.is_some() {
            config.requirepass = self.requirepass.clone();
        }
        set(&mut config.wal_backend, &self.wal_backend);
        set(&mut config.segment_bytes, &self.segment_bytes);
        set(
            &mut config.snapshot_logs_since_last,
            &self.snapshot_logs_since_last,
        );
        set(&mut config.worker_threads, &self.worker_threads);
        if self.critical_listen.is_some() {
            config.critical_listen = self.critical_listen.clone();
        }
        set(&mut config.critical_threads, &self.critical_threads);
        let lanes = &mut config.lanes;
        set(&mut lanes.queue_depth_max, &self.queue_depth_max);
        set(&mut lanes.normal_depth_max, &self.normal_depth_max);
        set(&mut lanes.bulk_depth_max, &self.bulk_depth_max);
        set(
            &mut lanes.bulk_ops_per_batch_max,
            &self.bulk_ops_per_batch_max,
        );
        let limits = &mut config.limits;
        set(&mut limits.bulk_bytes_max, &self.bulk_bytes_max);
        set(&mut limits.array_len_max, &self.array_len_max);
        set(&mut limits.inline_bytes_max, &self.inline_bytes_max);
        set(
            &mut limits.query_buffer_bytes_max,
            &self.query_buffer_bytes_max,
        );
        set(&mut limits.clients_max, &self.clients_max);
        set(&mut limits.idle_timeout_secs, &self.idle_timeout_secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_matches_the_defaults() {
        let text = include_str!("../../docs/tandem.example.toml");
        let config = ServerConfig::from_toml(text, Path::new("docs/tandem.example.toml"))
            .expect("example parses");
        config.validate().expect("example is valid");
        assert_eq!(config, ServerConfig::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = ServerConfig::from_toml("listne = \"1.2.3.4:1\"\n", Path::new("x.toml"))
            .expect_err("typo must fail");
        assert!(err.to_string().contains("listne"), "{err}");
        let err = ServerConfig::from_toml("[limits]\nclient_max = 3\n", Path::new("x.toml"))
            .expect_err("typo must fail");
        assert!(err.to_string().contains("client_max"), "{err}");
    }

    #[test]
    fn partial_file_keeps_other_defaults_and_flags_win() {
        let config = ServerConfig::from_toml(
            "listen = \"0.0.0.0:1\"\nwal_backend = \"io_uring\"\n[limits]\nclients_max = 5\n",
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(config.listen, "0.0.0.0:1");
        assert_eq!(config.wal_backend, Backend::IoUring);
        assert_eq!(config.limits.clients_max, 5);
        assert_eq!(config.limits.bulk_bytes_max, BULK_BYTES_MAX_DEFAULT);

        let mut overridden = config.clone();
        ServeArgs {
            listen: Some("127.0.0.1:0".into()),
            clients_max: Some(7),
            ..ServeArgs::default()
        }
        .apply(&mut overridden);
        assert_eq!(overridden.listen, "127.0.0.1:0");
        assert_eq!(overridden.limits.clients_max, 7);
        assert_eq!(overridden.wal_backend, Backend::IoUring);
    }

    #[test]
    fn bad_backend_and_bad_limits_are_rejected() {
        assert!(ServerConfig::from_toml("wal_backend = \"mmap\"\n", Path::new("x")).is_err());
        let mut config = ServerConfig::default();
        config.limits.clients_max = 0;
        assert!(config.validate().is_err());
    }
}
