//! `ServerConfig`: every setting of `tandem serve`, read from a TOML file and overridden by
//! command-line flags. Invariant: a config that passes `validate` can be served as is; every
//! limit the server enforces comes from here (docs/tandem.example.toml lists each key).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::priority::{LaneConfig, CRITICAL_THREADS_DEFAULT};
use crate::resp;
use crate::tls::{ClientAuth, TlsSettings, TlsState};
use crate::wal::{Backend, WriterMode};

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
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
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
    /// ACL users file (Redis's `aclfile`: one `user <name> <rules...>` line each). It seeds the
    /// users of a cluster that has none yet; ACL SAVE writes it and ACL LOAD re-reads it.
    pub aclfile: Option<PathBuf>,
    /// Refuse to listen on a non-loopback client address while no user needs a password
    /// (Redis's `protected-mode`; default yes).
    pub protected_mode: bool,
    /// Keyspace notifications at start (Redis's `notify-keyspace-events` letters; "" = off).
    /// CONFIG SET changes it while the server runs.
    pub notify_keyspace_events: String,
    #[serde(deserialize_with = "backend_from_str", serialize_with = "to_text")]
    pub wal_backend: Backend,
    /// Where the WAL writes and fdatasyncs: `thread` (its own writer thread, the default) or
    /// `inline` (on the node's runtime thread, which runs nothing else during each fsync).
    #[serde(deserialize_with = "from_str", serialize_with = "to_text")]
    pub wal_writer: WriterMode,
    /// Size of each preallocated WAL segment file.
    pub segment_bytes: u64,
    /// Copy every sealed WAL segment here, for point-in-time restore (`None` = off).
    pub wal_archive_dir: Option<PathBuf>,
    /// Take a snapshot after this many log entries since the last one.
    pub snapshot_logs_since_last: u64,
    /// Also take a snapshot once the log entries since the last one take this many WAL bytes
    /// (0 = by entry count only).
    pub snapshot_log_bytes_since_last: u64,
    /// Bound on the estimated memory of the decoded log entries kept in memory; older ones are
    /// read back from the WAL when a follower or apply needs them.
    pub log_cache_bytes_max: u64,
    /// Threads serving connections and consensus. 1 = a single-threaded runtime, which measured
    /// fastest on 2 cores (the WAL writer and segment preparer have their own threads).
    pub worker_threads: usize,
    /// This node's id in its cluster (ids start at 1; unique per cluster).
    pub node_id: u64,
    /// This node's zone label (the zone rule counts distinct zones).
    pub zone: String,
    /// Peer transport listener, `ip:port`; set it (with `peers`) to run as a cluster member.
    pub peer_listen: Option<String>,
    /// The other members, `ID@HOST:PORT` (their peer listeners).
    pub peers: Vec<String>,
    /// Shared secret every member proves in the peer handshake (at least 16 bytes). May also
    /// come from the `TANDEM_CLUSTER_SECRET` environment variable.
    pub cluster_secret: Option<String>,
    /// The client address other nodes report for this one (`INFO replication`, status);
    /// defaults to the bound `listen` address.
    pub advertise: Option<String>,
    pub cluster: ClusterTuning,
    /// Listener whose connections are `critical` and served by their own runtime, `ip:port`;
    /// `None` = none.
    pub critical_listen: Option<String>,
    /// OS threads of the critical runtime (1 = a current-thread runtime on one thread).
    pub critical_threads: usize,
    pub limits: ServerLimits,
    /// Priority lanes: admission thresholds and the bulk share of a batch.
    pub lanes: LaneConfig,
    /// Redis's `tls-port`: a TLS client listener on the host of `listen` (0: the OS picks a
    /// port); None = no TLS listener. Plaintext `listen` keeps serving beside it.
    #[serde(alias = "tls-port")]
    pub tls_port: Option<u16>,
    /// This node's certificate chain, PEM (Redis `tls-cert-file`).
    #[serde(alias = "tls-cert-file")]
    pub tls_cert_file: Option<PathBuf>,
    /// Its private key, PEM (Redis `tls-key-file`).
    #[serde(alias = "tls-key-file")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates that sign client and peer certificates (Redis `tls-ca-cert-file`).
    #[serde(alias = "tls-ca-cert-file")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// no, yes (the default, as in Redis) or optional (Redis `tls-auth-clients`).
    #[serde(
        alias = "tls-auth-clients",
        deserialize_with = "from_str",
        serialize_with = "to_text"
    )]
    pub tls_auth_clients: ClientAuth,
    /// Space-separated `TLSv1.2` / `TLSv1.3` (Redis `tls-protocols`); None = both.
    #[serde(alias = "tls-protocols")]
    pub tls_protocols: Option<String>,
    /// Allowed cipher suites, IANA names separated by `:` (Redis `tls-ciphersuites`).
    #[serde(alias = "tls-ciphersuites")]
    pub tls_ciphersuites: Option<String>,
    /// The peer transport runs over mutual TLS with the same files (Redis `tls-cluster`); each
    /// node's certificate must name `tandem-node-<node_id>`.
    #[serde(alias = "tls-cluster")]
    pub tls_cluster: bool,
}

/// Cluster tuning (the `[cluster]` table).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterTuning {
    /// Distinct zones that must have fsynced a write before it is acknowledged
    /// (default 2 with peers; a single voter uses 1).
    pub min_ack_zones: Option<usize>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Most a `READONLY` read on a follower may lag (time since it last heard its leader).
    pub stale_read_lag_max_ms: u64,
    /// How long a command waits for a leader to be elected before it is refused.
    pub leader_wait_ms: u64,
    /// Deadline of the probe a follower sends its leader when the leader's connection resets;
    /// a refused probe starts an election at once (fast failover). 0 turns it off.
    pub leader_probe_ms: u64,
    /// Command run by `sh -c` on the node that becomes leader (TANDEM_OLD_LEADER,
    /// TANDEM_NEW_LEADER, TANDEM_TERM, TANDEM_REASON, TANDEM_NODE_ID in its environment).
    pub on_leader_change: Option<String>,
}

impl Default for ClusterTuning {
    fn default() -> Self {
        use crate::cluster as c;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        Self {
            min_ack_zones: None,
            heartbeat_ms: ms(c::HEARTBEAT_INTERVAL_DEFAULT),
            election_timeout_min_ms: ms(c::ELECTION_TIMEOUT_MIN_DEFAULT),
            election_timeout_max_ms: ms(c::ELECTION_TIMEOUT_MAX_DEFAULT),
            stale_read_lag_max_ms: ms(c::STALE_READ_LAG_MAX_DEFAULT),
            leader_wait_ms: ms(c::LEADER_WAIT_DEFAULT),
            leader_probe_ms: ms(c::LEADER_PROBE_DEFAULT),
            on_leader_change: None,
        }
    }
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
            aclfile: None,
            protected_mode: true,
            notify_keyspace_events: String::new(),
            wal_backend: Backend::default(),
            wal_writer: WriterMode::default(),
            segment_bytes: crate::wal::SEGMENT_BYTES_DEFAULT,
            wal_archive_dir: None,
            snapshot_logs_since_last: crate::node::SNAPSHOT_LOGS_SINCE_LAST_DEFAULT,
            snapshot_log_bytes_since_last: crate::node::SNAPSHOT_LOG_BYTES_SINCE_LAST_DEFAULT,
            log_cache_bytes_max: crate::raft::LOG_CACHE_BYTES_MAX_DEFAULT,
            worker_threads: WORKER_THREADS_DEFAULT,
            node_id: 1,
            zone: "local".into(),
            peer_listen: None,
            peers: Vec::new(),
            cluster_secret: None,
            advertise: None,
            cluster: ClusterTuning::default(),
            critical_listen: None,
            critical_threads: CRITICAL_THREADS_DEFAULT,
            limits: ServerLimits::default(),
            lanes: LaneConfig::default(),
            tls_port: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_cert_file: None,
            tls_auth_clients: ClientAuth::default(),
            tls_protocols: None,
            tls_ciphersuites: None,
            tls_cluster: false,
        }
    }
}

/// Per-client and per-server limits (the `[limits]` table).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
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

fn from_str<'de, D: Deserializer<'de>, T>(deserializer: D) -> Result<T, D::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn to_text<S: Serializer, T: std::fmt::Display>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
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
        if crate::command::notify::parse_flags(self.notify_keyspace_events.as_bytes()).is_none() {
            return invalid(format!(
                "notify_keyspace_events {:?} has a letter outside Ag$lshzxeKEtmdn",
                self.notify_keyspace_events
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
        if let Err(ConfigError::Invalid { reason }) = self.cluster_options("127.0.0.1:1") {
            return invalid(reason);
        }
        self.tls_settings()?;
        Ok(())
    }

    /// `tandem serve --check-config`: everything start-up checks short of binding and opening
    /// the data directory. Validates the settings, reads the TLS files, checks that each
    /// listener address is `host:port`, and looks at the data directory without changing it.
    /// Returns notes for the operator (e.g. "the data directory will be created").
    pub fn check(&self) -> Result<Vec<String>, ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid { reason });
        self.validate()?;
        self.load_tls()?;
        let listeners = [
            ("listen", Some(&self.listen)),
            ("admin_listen", Some(&self.admin_listen)),
            ("peer_listen", self.peer_listen.as_ref()),
            ("critical_listen", self.critical_listen.as_ref()),
        ];
        for (name, addr) in listeners {
            let Some(addr) = addr else { continue };
            let port = addr
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return invalid(format!("{name} {addr:?} is not host:port"));
            }
        }
        let mut notes = Vec::new();
        match std::fs::metadata(&self.data) {
            Ok(meta) if meta.is_dir() => {
                if let Err(e) = std::fs::read_dir(&self.data) {
                    return invalid(format!(
                        "data directory {} cannot be read: {e}",
                        self.data.display()
                    ));
                }
                if meta.permissions().readonly() {
                    return invalid(format!(
                        "data directory {} is read-only",
                        self.data.display()
                    ));
                }
                notes.push(format!("data directory {} exists", self.data.display()));
            }
            Ok(_) => {
                return invalid(format!(
                    "data directory {} exists and is not a directory",
                    self.data.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = self
                    .data
                    .ancestors()
                    .skip(1)
                    .find(|dir| dir.exists())
                    .unwrap_or(Path::new("."));
                if !parent.is_dir() {
                    return invalid(format!(
                        "data directory {} cannot be created: {} is not a directory",
                        self.data.display(),
                        parent.display()
                    ));
                }
                notes.push(format!(
                    "data directory {} will be created",
                    self.data.display()
                ));
            }
            Err(e) => {
                return invalid(format!(
                    "data directory {} cannot be examined: {e}",
                    self.data.display()
                ))
            }
        }
        Ok(notes)
    }

    /// The effective settings as a TOML config file, secrets replaced by `"<redacted>"`.
    pub fn effective_toml(&self) -> String {
        let mut shown = self.clone();
        let redact = |secret: &mut Option<String>| {
            if secret.is_some() {
                *secret = Some("<redacted>".into());
            }
        };
        redact(&mut shown.requirepass);
        if shown.cluster_secret.is_none() && shown.peer_listen.is_some() {
            shown.cluster_secret = std::env::var("TANDEM_CLUSTER_SECRET").ok();
        }
        redact(&mut shown.cluster_secret);
        toml::to_string(&shown).expect("a config always encodes as TOML")
    }

    /// What the `tls-*` settings ask for, or None when TLS is not used (neither `tls-port` nor
    /// `tls-cluster`). Files are not read here; see [`ServerConfig::load_tls`].
    pub fn tls_settings(&self) -> Result<Option<TlsSettings>, ConfigError> {
        let invalid = |reason: String| Err(ConfigError::Invalid { reason });
        if self.tls_port.is_none() && !self.tls_cluster {
            return Ok(None);
        }
        let (Some(cert_file), Some(key_file)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return invalid("tls-port and tls-cluster need tls-cert-file and tls-key-file".into());
        };
        if self.tls_cluster && self.peer_listen.is_none() {
            return invalid("tls-cluster yes needs peer_listen (--peer-listen)".into());
        }
        Ok(Some(TlsSettings {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            ca_cert_file: self.tls_ca_cert_file.clone(),
            auth_clients: self.tls_auth_clients,
            protocols: self.tls_protocols.clone(),
            ciphersuites: self.tls_ciphersuites.clone(),
            cluster: self.tls_cluster,
            node_id: self.node_id,
        }))
    }

    /// Reads the TLS files and builds the configurations (None when TLS is not used).
    pub fn load_tls(&self) -> Result<Option<std::sync::Arc<TlsState>>, ConfigError> {
        let Some(settings) = self.tls_settings()? else {
            return Ok(None);
        };
        TlsState::load(settings)
            .map(|state| Some(std::sync::Arc::new(state)))
            .map_err(|reason| ConfigError::Invalid { reason })
    }

    /// The TLS client listener's address: the host of `listen` with `tls_port`.
    pub fn tls_listen(&self) -> Option<String> {
        let port = self.tls_port?;
        let host = match self.listen.rsplit_once(':') {
            Some((host, _)) => host,
            None => self.listen.as_str(),
        };
        Some(format!("{host}:{port}"))
    }

    /// The cluster membership settings, or None for a single voter. `client_addr` is the bound
    /// client address, advertised unless `advertise` says otherwise.
    pub fn cluster_options(
        &self,
        client_addr: &str,
    ) -> Result<Option<crate::cluster::ClusterOptions>, ConfigError> {
        use std::time::Duration;
        let invalid = |reason: String| Err(ConfigError::Invalid { reason });
        if self.node_id == 0 {
            return invalid("node_id must be at least 1".into());
        }
        let Some(peer_listen) = &self.peer_listen else {
            if !self.peers.is_empty() {
                return invalid(
                    "peers are configured but peer_listen is not (--peer-listen)".into(),
                );
            }
            if self.cluster.min_ack_zones.is_some_and(|z| z > 1) {
                return invalid(
                    "min_ack_zones > 1 needs peers in other zones; a single node has one zone"
                        .into(),
                );
            }
            return Ok(None);
        };
        if peer_listen.ends_with(":0") {
            return invalid(format!(
                "peer_listen {peer_listen}: the peer port must be fixed (other nodes are configured with it)"
            ));
        }
        let secret = self
            .cluster_secret
            .clone()
            .or_else(|| std::env::var("TANDEM_CLUSTER_SECRET").ok())
            .filter(|s| !s.is_empty());
        let Some(secret) = secret else {
            return invalid(
                "a cluster needs cluster_secret (--cluster-secret or TANDEM_CLUSTER_SECRET); every member uses the same one".into(),
            );
        };
        let mut options =
            crate::cluster::ClusterOptions::new(peer_listen.clone(), secret.into_bytes());
        for peer in &self.peers {
            options.peers.push(
                peer.parse()
                    .map_err(|reason| ConfigError::Invalid { reason })?,
            );
        }
        let t = &self.cluster;
        options.client_addr = self
            .advertise
            .clone()
            .unwrap_or_else(|| client_addr.to_string());
        let zones_default = if options.peers.is_empty() {
            1
        } else {
            crate::cluster::MIN_ACK_ZONES_DEFAULT
        };
        options.min_ack_zones = t.min_ack_zones.unwrap_or(zones_default);
        options.heartbeat_interval = Duration::from_millis(t.heartbeat_ms);
        options.election_timeout_min = Duration::from_millis(t.election_timeout_min_ms);
        options.election_timeout_max = Duration::from_millis(t.election_timeout_max_ms);
        options.stale_read_lag_max = Duration::from_millis(t.stale_read_lag_max_ms);
        options.leader_wait = Duration::from_millis(t.leader_wait_ms);
        options.leader_probe =
            (t.leader_probe_ms > 0).then(|| Duration::from_millis(t.leader_probe_ms));
        options.on_leader_change = t.on_leader_change.clone();
        options
            .validate(self.node_id)
            .map_err(|reason| ConfigError::Invalid { reason })?;
        Ok(Some(options))
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
    /// ACL users file (one `user <name> <rules...>` line each).
    #[arg(long)]
    pub aclfile: Option<PathBuf>,
    /// Refuse a non-loopback client listener without passwords: yes or no [default yes].
    #[arg(long, value_name = "yes|no", value_parser = parse_yes_no)]
    pub protected_mode: Option<bool>,
    /// WAL I/O backend: pwrite or io_uring.
    #[arg(long)]
    pub wal_backend: Option<Backend>,
    /// Where the WAL writes and fsyncs: thread (its own thread) or inline (the node's runtime
    /// thread).
    #[arg(long, value_name = "thread|inline")]
    pub wal_writer: Option<WriterMode>,
    /// Size of each WAL segment file.
    #[arg(long)]
    pub segment_bytes: Option<u64>,
    /// Copy every sealed WAL segment into this directory (point-in-time restore).
    #[arg(long)]
    pub wal_archive_dir: Option<PathBuf>,
    /// Snapshot after this many log entries.
    #[arg(long)]
    pub snapshot_logs_since_last: Option<u64>,
    /// Also snapshot once the log since the last snapshot takes this many WAL bytes (0 = off).
    #[arg(long)]
    pub snapshot_log_bytes_since_last: Option<u64>,
    /// Bound on the memory of decoded log entries kept in memory, in bytes.
    #[arg(long)]
    pub log_cache_bytes_max: Option<u64>,
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
    /// This node's id in its cluster [default 1].
    #[arg(long)]
    pub node_id: Option<u64>,
    /// This node's zone label [default local].
    #[arg(long)]
    pub zone: Option<String>,
    /// Peer transport listener ip:port (makes this node a cluster member).
    #[arg(long)]
    pub peer_listen: Option<String>,
    /// Another member, ID@HOST:PORT of its peer listener (repeat for each).
    #[arg(long = "peer", value_name = "ID@HOST:PORT")]
    pub peers: Vec<String>,
    /// Shared cluster secret (or TANDEM_CLUSTER_SECRET).
    #[arg(long)]
    pub cluster_secret: Option<String>,
    /// Client address other nodes report for this one [default: the bound listen address].
    #[arg(long)]
    pub advertise: Option<String>,
    /// Distinct zones that must have fsynced a write before it is acknowledged [default 2 with peers].
    #[arg(long)]
    pub min_ack_zones: Option<usize>,
    /// Leader heartbeat interval in ms [default 50].
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// Election timeout lower bound in ms [default 200].
    #[arg(long)]
    pub election_timeout_min_ms: Option<u64>,
    /// Election timeout upper bound in ms [default 400].
    #[arg(long)]
    pub election_timeout_max_ms: Option<u64>,
    /// Most a READONLY follower read may lag its leader, in ms [default 1000].
    #[arg(long)]
    pub stale_read_lag_max_ms: Option<u64>,
    /// Fast failover probe deadline in ms; 0 turns fast failover off [default 30].
    #[arg(long)]
    pub leader_probe_ms: Option<u64>,
    /// Command run (sh -c) on the node that becomes leader.
    #[arg(long)]
    pub on_leader_change: Option<String>,
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
    /// TLS client listener port on the listen host (0: the OS picks).
    #[arg(long)]
    pub tls_port: Option<u16>,
    /// This node's certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// This node's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates for client and peer certificates (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates on the TLS port: no, yes or optional [default yes].
    #[arg(long, value_name = "no|yes|optional")]
    pub tls_auth_clients: Option<ClientAuth>,
    /// TLS versions allowed, e.g. "TLSv1.2 TLSv1.3" [default both].
    #[arg(long)]
    pub tls_protocols: Option<String>,
    /// Cipher suites allowed, IANA names separated by ':' [default all].
    #[arg(long)]
    pub tls_ciphersuites: Option<String>,
    /// Peer transport over mutual TLS: yes or no [default no].
    #[arg(long, value_name = "yes|no", value_parser = parse_yes_no)]
    pub tls_cluster: Option<bool>,
    /// Check the flags and config file (and read the TLS files) without binding or opening the
    /// data directory; print the effective config as TOML and exit 0, or the error and exit 1.
    #[arg(long)]
    pub check_config: bool,
}

fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("expected yes or no, not {text:?}")),
    }
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
        if self.aclfile.is_some() {
            config.aclfile = self.aclfile.clone();
        }
        set(&mut config.protected_mode, &self.protected_mode);
        set(&mut config.wal_backend, &self.wal_backend);
        set(&mut config.wal_writer, &self.wal_writer);
        set(&mut config.segment_bytes, &self.segment_bytes);
        if self.wal_archive_dir.is_some() {
            config.wal_archive_dir = self.wal_archive_dir.clone();
        }
        set(
            &mut config.snapshot_logs_since_last,
            &self.snapshot_logs_since_last,
        );
        set(
            &mut config.snapshot_log_bytes_since_last,
            &self.snapshot_log_bytes_since_last,
        );
        set(&mut config.log_cache_bytes_max, &self.log_cache_bytes_max);
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
        set(&mut config.node_id, &self.node_id);
        set(&mut config.zone, &self.zone);
        if self.peer_listen.is_some() {
            config.peer_listen = self.peer_listen.clone();
        }
        if !self.peers.is_empty() {
            config.peers = self.peers.clone();
        }
        if self.cluster_secret.is_some() {
            config.cluster_secret = self.cluster_secret.clone();
        }
        if self.advertise.is_some() {
            config.advertise = self.advertise.clone();
        }
        let tuning = &mut config.cluster;
        if self.min_ack_zones.is_some() {
            tuning.min_ack_zones = self.min_ack_zones;
        }
        set(&mut tuning.heartbeat_ms, &self.heartbeat_ms);
        set(
            &mut tuning.election_timeout_min_ms,
            &self.election_timeout_min_ms,
        );
        set(
            &mut tuning.election_timeout_max_ms,
            &self.election_timeout_max_ms,
        );
        set(
            &mut tuning.stale_read_lag_max_ms,
            &self.stale_read_lag_max_ms,
        );
        set(&mut tuning.leader_probe_ms, &self.leader_probe_ms);
        if self.on_leader_change.is_some() {
            tuning.on_leader_change = self.on_leader_change.clone();
        }
        if self.tls_port.is_some() {
            config.tls_port = self.tls_port;
        }
        if self.tls_cert_file.is_some() {
            config.tls_cert_file = self.tls_cert_file.clone();
        }
        if self.tls_key_file.is_some() {
            config.tls_key_file = self.tls_key_file.clone();
        }
        if self.tls_ca_cert_file.is_some() {
            config.tls_ca_cert_file = self.tls_ca_cert_file.clone();
        }
        set(&mut config.tls_auth_clients, &self.tls_auth_clients);
        if self.tls_protocols.is_some() {
            config.tls_protocols = self.tls_protocols.clone();
        }
        if self.tls_ciphersuites.is_some() {
            config.tls_ciphersuites = self.tls_ciphersuites.clone();
        }
        set(&mut config.tls_cluster, &self.tls_cluster);
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

    /// `wal_writer` takes `thread` or `inline` from the file, the flag wins, anything else is
    /// refused, and the value survives a round trip through TOML (CONFIG REWRITE, --check-config).
    #[test]
    fn wal_writer_from_file_and_flag() {
        let config = ServerConfig::from_toml("wal_writer = \"inline\"\n", Path::new("x.toml"))
            .expect("inline parses");
        assert_eq!(config.wal_writer, WriterMode::Caller);
        let text = toml::to_string(&config).expect("serialize");
        assert!(text.contains("wal_writer = \"inline\""), "{text}");
        assert_eq!(
            ServerConfig::from_toml(&text, Path::new("y.toml")).expect("reparse"),
            config
        );
        let mut overridden = config.clone();
        ServeArgs {
            wal_writer: Some(WriterMode::Thread),
            ..ServeArgs::default()
        }
        .apply(&mut overridden);
        assert_eq!(overridden.wal_writer, WriterMode::Thread);
        assert!(ServerConfig::from_toml("wal_writer = \"fast\"\n", Path::new("x")).is_err());
    }

    #[test]
    fn effective_toml_reads_back_as_the_same_config_without_secrets() {
        let mut config = ServerConfig::from_toml(
            "zone = \"z\"\nrequirepass = \"pw\"\nwal_backend = \"io_uring\"\n[cluster]\nheartbeat_ms = 40\n",
            Path::new("x.toml"),
        )
        .unwrap();
        config.tls_auth_clients = ClientAuth::Optional;
        let text = config.effective_toml();
        assert!(!text.contains("\"pw\""), "{text}");
        let mut read_back = ServerConfig::from_toml(&text, Path::new("effective")).unwrap();
        assert_eq!(read_back.requirepass.as_deref(), Some("<redacted>"));
        read_back.requirepass = config.requirepass.clone();
        assert_eq!(read_back, config);
    }

    #[test]
    fn check_refuses_what_start_up_would_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            data: dir.path().join("new"),
            ..ServerConfig::default()
        };
        let notes = config.check().expect("defaults pass");
        assert!(notes[0].contains("will be created"), "{notes:?}");
        assert!(!dir.path().join("new").exists(), "check creates nothing");
        config.listen = "7379".into();
        assert!(config.check().unwrap_err().to_string().contains("listen"));
        config.listen = "127.0.0.1:7379".into();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        config.data = file;
        assert!(config
            .check()
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        config.data = dir.path().to_path_buf();
        config.tls_port = Some(0);
        config.tls_cert_file = Some(dir.path().join("missing.pem"));
        config.tls_key_file = Some(dir.path().join("missing.key"));
        assert!(config.check().is_err(), "unreadable TLS files are refused");
    }

    #[test]
    fn bad_backend_and_bad_limits_are_rejected() {
        assert!(ServerConfig::from_toml("wal_backend = \"mmap\"\n", Path::new("x")).is_err());
        let mut config = ServerConfig::default();
        config.limits.clients_max = 0;
        assert!(config.validate().is_err());
    }
}
