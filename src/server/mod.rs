//! The network server: RESP2/RESP3 over TCP in front of a node.
//!
//! `Server` owns the listener, the client registry and the node; each accepted connection runs
//! in its own task (`connection`), which parses pipelined commands and routes them
//! (`dispatch`). Shutdown stops accepting, lets every connection finish the commands it has
//! already read, then shuts the node down (drain, final fsync).

pub(crate) mod acl;
mod acl_command;
pub mod admin;
mod blocking;
mod clients;
mod cluster_commands;
pub mod command_table;
pub mod config;
mod connection;
mod debug;
mod dispatch;
mod exactly_once;
pub mod info;
mod latency;
mod live_config;
pub mod metrics;
mod multi;
pub mod priority;
pub(crate) mod pubsub;
mod scripts;
mod server_commands;
pub(crate) mod session;
mod slowlog;
pub mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use acl_command::protected_mode_refusal;
pub use clients::{ClientInfo, Clients};
pub use config::{ConfigError, ServeArgs, ServerConfig, ServerLimits};
pub use stats::{CommandCounts, ServerStats};

use crate::error::Error;
use crate::node::{Class, Db, Node};
use crate::tls::TlsState;

/// A TLS handshake on the client port must finish within this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for connections to finish their in-flight commands.
pub const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by the accept loop and every connection.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) node: Node,
    pub(crate) db: Db,
    pub(crate) stats: Arc<ServerStats>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) clients: Clients,
    pub(crate) listen_addr: SocketAddr,
    /// Where critical connections are accepted (None: no `critical_listen`).
    pub(crate) critical_addr: Option<SocketAddr>,
    /// Random per process, as Redis's run_id.
    pub(crate) run_id: String,
    /// What CONFIG SET can change while the server runs.
    pub(crate) live: live_config::LiveConfig,
    pub(crate) slowlog: slowlog::SlowLog,
    pub(crate) latency: latency::LatencyMonitor,
    /// Set by SHUTDOWN; the server then shuts down as on SIGTERM.
    pub(crate) shutdown_requested: watch::Sender<bool>,
    /// This node's pub/sub subscriptions.
    pub(crate) pubsub: Arc<pubsub::Hub>,
    /// Compiled ACL users and the ACL LOG.
    pub(crate) acl: acl::Acl,
    /// Scripts running on this node (the state machine's registry): BUSY, SCRIPT KILL.
    pub(crate) scripts: Arc<crate::command::RunningScripts>,
}

impl Shared {
    /// The state machine's shared state (keyspace, ACL generation).
    pub(crate) fn sm(&self) -> &crate::raft::SmShared {
        &self.node.cluster().sm
    }
}

impl Shared {
    /// Records how long a command took, for the slow log and the latency monitor.
    pub(crate) fn observe_command(
        &self,
        spec: &crate::command::CommandSpec,
        args: &[bytes::Bytes],
        elapsed: Duration,
        client: &ClientInfo,
    ) {
        self.slowlog.observe(
            spec,
            args,
            elapsed,
            client,
            self.live.slowlog_slower_than_us(),
            self.live.slowlog_len_max(),
        );
        self.latency
            .observe(spec, elapsed, self.live.latency_threshold_ms());
    }
}

/// Completes once a client has sent SHUTDOWN (see [`Server::shutdown_requested`]).
pub struct ShutdownRequest(watch::Receiver<bool>);

impl ShutdownRequest {
    pub async fn wait(mut self) {
        // An error means the server is gone, which is a shutdown too.
        let _ = self.0.wait_for(|requested| *requested).await;
    }
}

/// The bound sockets of a server (bound before serving so port 0 can be reported).
pub struct Listeners {
    pub resp: TcpListener,
    /// Served by the admin HTTP server; held here so its address is known and reserved.
    pub admin: TcpListener,
    /// `critical_listen`, if configured; served by its own runtime (see `priority`).
    pub critical: Option<std::net::TcpListener>,
    /// The TLS client listener (`tls-port`) and the TLS configuration it serves with.
    pub tls: Option<(TcpListener, Arc<TlsState>)>,
}

impl Listeners {
    /// Binds every listener of `config`; `tls` (from [`ServerConfig::load_tls`]) serves the
    /// `tls-port` listener.
    pub async fn bind(config: &ServerConfig, tls: Option<Arc<TlsState>>) -> std::io::Result<Self> {
        let resp = bind_with_backlog(&config.listen).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
        })?;
        let admin = TcpListener::bind(&config.admin_listen).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on {} (admin): {e}", config.admin_listen),
            )
        })?;
        let critical = match &config.critical_listen {
            Some(addr) => Some(priority::bind_critical(addr).await?),
            None => None,
        };
        let tls = match (config.tls_listen(), tls) {
            (Some(addr), Some(state)) => {
                let listener = bind_with_backlog(&addr).await.map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot listen on {addr} (tls-port): {e}"),
                    )
                })?;
                Some((listener, state))
            }
            (Some(_), None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "tls-port is set but no TLS configuration was loaded",
                ))
            }
            (None, _) => None,
        };
        Ok(Self {
            resp,
            admin,
            critical,
            tls,
        })
    }
}

/// Pending-connection queue of the client listener: Redis's `tcp-backlog` default. The
/// runtime's default (128) drops connection attempts when many clients connect at once, and
/// each dropped client then waits a second before its SYN is retried.
pub const LISTEN_BACKLOG: u32 = 511;

async fn bind_with_backlog(addr: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for resolved in tokio::net::lookup_host(addr).await? {
        let socket = if resolved.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(resolved) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "address resolves to nothing",
        )
    }))
}

/// A RESP server over one node.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    admin_addr: SocketAddr,
    critical: Option<std::net::TcpListener>,
    tls: Option<(TcpListener, Arc<TlsState>)>,
    tls_addr: Option<SocketAddr>,
}

impl Server {
    pub fn new(
        config: ServerConfig,
        config_file: Option<PathBuf>,
        node: Node,
        listeners: Listeners,
    ) -> std::io::Result<Self> {
        let listen_addr = listeners.resp.local_addr()?;
        let admin_addr = listeners.admin.local_addr()?;
        let critical_addr = listeners
            .critical
            .as_ref()
            .map(|l| l.local_addr())
            .transpose()?;
        let tls_addr = listeners
            .tls
            .as_ref()
            .map(|(l, _)| l.local_addr())
            .transpose()?;
        if let Some(path) = &config.aclfile {
            let default_password = config
                .requirepass
                .as_deref()
                .map(|p| crate::keyspace::password_hash(p.as_bytes()));
            acl_command::read_acl_file(path, default_password).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("aclfile: {}", e.trim_start_matches("ERR ")),
                )
            })?;
        }
        let db = node.db();
        let metrics = metrics::Metrics::with_lanes(node.lane_stats());
        let live = live_config::LiveConfig::new(&config, listen_addr);
        let hub = Arc::new(pubsub::Hub::default());
        let deliver = hub.clone();
        node.cluster()
            .set_publisher(Arc::new(move |request: &crate::cluster::PublishRequest| {
                deliver.publish(request.shard, &request.channel, &request.message)
            }));
        let sm = &node.cluster().sm;
        let events = hub.clone();
        sm.set_event_sink(Arc::new(move |flags, list| {
            pubsub::publish_key_events(&events, flags, list)
        }));
        sm.set_notify_flags(live.notify_flags());
        let shared = Arc::new(Shared {
            live,
            slowlog: slowlog::SlowLog::default(),
            latency: latency::LatencyMonitor::default(),
            shutdown_requested: watch::channel(false).0,
            pubsub: hub,
            acl: acl::Acl::new(config.requirepass.as_deref()),
            scripts: node.cluster().sm.scripts.clone(),
            config,
            config_file,
            node,
            db,
            stats: Arc::new(ServerStats::default()),
            metrics: Arc::new(metrics),
            clients: Clients::default(),
            listen_addr,
            critical_addr,
            run_id: run_id(),
        });
        let clients = Arc::downgrade(&shared);
        shared.sm().set_acl_sink(Arc::new(move || {
            if let Some(shared) = clients.upgrade() {
                for client in shared.clients.list() {
                    client.acl_check.notify_one();
                }
            }
        }));
        // The commands scripts call at apply: every node that applies the entry counts them.
        let stats = shared.stats.clone();
        shared
            .sm()
            .set_call_sink(Arc::new(move |calls| stats.record_script_calls(&calls)));
        // Script calls refused at apply: every node that applies the entry logs them (the
        // calling client is known only on the node it is connected to).
        let log_to = Arc::downgrade(&shared);
        shared.sm().set_denial_sink(Arc::new(move |denials| {
            if let Some(shared) = log_to.upgrade() {
                for (user, denial) in denials {
                    let client_info = format!(
                        "user={} cmd=script (a script's call, applied from the log)",
                        String::from_utf8_lossy(&user)
                    );
                    shared.acl.log_denial(
                        shared.live.acllog_len_max(),
                        &denial,
                        "lua",
                        &user,
                        client_info,
                    );
                }
            }
        }));
        Ok(Self {
            shared,
            listener: listeners.resp,
            admin: Some(listeners.admin),
            admin_addr,
            critical: listeners.critical,
            tls: listeners.tls,
            tls_addr,
        })
    }

    /// The TLS client listener's address, if `tls-port` is configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.listen_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The critical listener's address, if `critical_listen` is configured.
    pub fn critical_addr(&self) -> Option<SocketAddr> {
        self.shared.critical_addr
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// What the admin HTTP server reads. Its closures hold the server state, so shut the admin
    /// server down before `run` ends: `run` needs sole ownership of the node to shut it down.
    pub fn admin_sources(&self) -> admin::AdminSources {
        let shared = self.shared.clone();
        let cluster = self.shared.node.cluster().clone();
        admin::AdminSources {
            stats: self.shared.stats.clone(),
            metrics: self.shared.metrics.clone(),
            status: Box::new(move || shared.node.status()),
            readiness: Box::new(move || cluster.readiness()),
        }
    }

    /// Completes when a client sends SHUTDOWN. Whoever runs the server makes it part of the
    /// future given to [`Server::run`] (after stopping anything else that holds the server's
    /// state, such as the admin HTTP server), so SHUTDOWN ends the server exactly as SIGTERM.
    pub fn shutdown_requested(&self) -> ShutdownRequest {
        ShutdownRequest(self.shared.shutdown_requested.subscribe())
    }

    /// The admin listener, for the admin HTTP server to serve.
    pub fn take_admin_listener(&mut self) -> Option<TcpListener> {
        self.admin.take()
    }

    /// Serves until `shutdown` completes, then drains connections and shuts the node down.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            shared,
            listener,
            admin,
            critical,
            tls,
            ..
        } = self;
        if let Some(path) = &shared.config.aclfile {
            // Checked at start (Server::new); read again here only to seed an empty table.
            if let Ok(users) = acl_command::read_acl_file(path, shared.acl.default_password) {
                tokio::spawn(acl_command::seed_users_from_file(shared.clone(), users));
            }
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let critical = match critical {
            Some(listener) => Some(
                priority::CriticalRuntime::spawn(
                    shared.clone(),
                    listener,
                    shared.config.critical_threads,
                    stop_rx.clone(),
                )
                .map_err(|e| Error::Fatal {
                    reason: format!("cannot start the critical runtime: {e}"),
                })?,
            ),
            None => None,
        };
        if critical.is_some() {
            priority::deprioritize_shared_runtime();
        }
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        let (tls_listener, tls_state) = match tls {
            Some((listener, state)) => (Some(listener), Some(state)),
            None => (None, None),
        };
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = accept_on(tls_listener.as_ref()) => {
                    match (accepted, &tls_state) {
                        (Ok((stream, addr)), Some(state)) => {
                            let tls = Some(state.client_acceptor());
                            accept(&shared, stream, addr, &stop_rx, &mut connections, Class::Normal, tls);
                        }
                        (Ok(_), None) => {}
                        (Err(e), _) => {
                            tracing::warn!(error = %e, "TLS accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                accepted = listener.accept() => match accepted {
                    Ok((stream, addr)) => {
                        accept(&shared, stream, addr, &stop_rx, &mut connections, Class::Normal, None);
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
            while connections.try_join_next().is_some() {}
        }
        drop(listener);
        drop(tls_listener);
        drop(admin);
        tracing::info!(
            connections = shared.clients.len(),
            "shutting down: no new connections; finishing in-flight commands"
        );
        let _ = stop_tx.send(true);
        // A script run outside the log may loop until killed: connections waiting on one
        // could not finish otherwise.
        shared.scripts.kill_all();
        let drained = tokio::time::timeout(SHUTDOWN_DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = shared.clients.len(),
                "connections still busy after the drain timeout; closing them"
            );
            connections.shutdown().await;
        }
        if let Some(critical) = critical {
            critical.stopped().await;
        }
        let shared = Arc::try_unwrap(shared).map_err(|_| Error::Fatal {
            reason: "server state still referenced after every connection ended".into(),
        })?;
        shared.node.shutdown().await?;
        tracing::info!("node shut down cleanly");
        Ok(())
    }
}

/// Accepts on `listener`, or never completes when there is none.
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Registers and spawns (on the current runtime) one accepted connection of `class`; with
/// `tls`, the connection first runs the TLS handshake (a client that fails it is closed and
/// logged at debug level, and never sees a RESP reply).
fn accept(
    shared: &Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    stop: &watch::Receiver<bool>,
    connections: &mut JoinSet<()>,
    class: Class,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    use std::os::fd::AsRawFd;
    shared
        .stats
        .connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    let local_addr = stream.local_addr().unwrap_or(shared.listen_addr);
    let fd = stream.as_raw_fd();
    let clients_max = shared.live.clients_max();
    let Some(client) = shared.clients.register(addr, local_addr, fd, clients_max) else {
        shared
            .stats
            .connections_rejected
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%addr, clients_max, "refusing connection: max number of clients reached");
        if tls.is_some() {
            return; // the client expects a TLS handshake, not a plaintext error: just close
        }
        connections.spawn(async move {
            let mut stream = stream;
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
            let _ = stream.shutdown().await;
        });
        return;
    };
    client.set_class(class);
    let _ = stream.set_nodelay(true);
    shared
        .stats
        .connections_current
        .fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    let stop = stop.clone();
    connections.spawn(async move {
        let id = client.id;
        match tls {
            None => connection::run(shared.clone(), client, stream, stop).await,
            Some(acceptor) => {
                let handshake =
                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(stream)) => {
                        connection::run_tls(shared.clone(), client, stream, stop).await;
                    }
                    Ok(Err(error)) => {
                        shared
                            .stats
                            .tls_handshakes_failed
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%addr, %error, "TLS handshake failed");
                    }
                    Err(_) => {
                        shared
                            .stats
                            .tls_handshakes_failed
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%addr, "TLS handshake did not finish in time");
                    }
                }
            }
        }
        shared.clients.unregister(id);
        shared
            .stats
            .connections_current
            .fetch_sub(1, Ordering::Relaxed);
    });
}

/// 40 hex characters, different for every process start.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(40);
    out
}
