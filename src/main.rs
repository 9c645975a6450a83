//! The `tandem` command line: thin wrappers over the library.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tandem::{Backend, Node, WriterMode};

mod tools;

/// jemalloc rather than the system allocator: its own accounting gives `used_memory` (what
/// `maxmemory` is compared with) without reading /proc, it fragments less under a keyspace of
/// many small allocations, and with its background threads it returns freed pages to the
/// kernel after a burst (glibc's malloc keeps them in per-thread arenas).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "A replicated in-memory key-value store for critical state"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the Tandem server: the Redis protocol (RESP2/RESP3) in front of a durable node.
    /// Prints `ready listen=<ip:port> admin=<ip:port>` on stdout once it accepts clients.
    Serve(Box<tandem::server::ServeArgs>),
    /// Run an embedded single-node Tandem in this process: durable balance transfers from many
    /// concurrent tasks, then a restart from disk that verifies every acknowledged write.
    Embedded {
        /// Data directory (created if missing).
        #[arg(long, default_value = "./tandem-data")]
        data: PathBuf,
        /// Concurrent writer tasks.
        #[arg(long, default_value_t = 64)]
        tasks: usize,
        /// Total writes (transfers) to perform.
        #[arg(long, default_value_t = 200_000)]
        writes: u64,
        /// Number of accounts transfers move money between.
        #[arg(long, default_value_t = 1_000)]
        accounts: u64,
        /// WAL I/O backend: pwrite or io_uring.
        #[arg(long, default_value_t = Backend::default())]
        backend: Backend,
    },
    /// Test helper: write unique keys from several tasks and print `ack <key> <value>` after each
    /// acknowledged write, until killed. Used by the kill -9 crash test.
    #[command(hide = true)]
    CrashWriter {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 8)]
        tasks: usize,
        /// Take a snapshot after this many log entries (small, so crashes hit snapshot code too).
        #[arg(long, default_value_t = 200)]
        snapshot_every: u64,
        #[arg(long, default_value_t = Backend::default())]
        backend: Backend,
        /// Where the WAL writes and fsyncs: thread or inline.
        #[arg(long, default_value_t = WriterMode::default())]
        wal_writer: WriterMode,
    },
    /// Start a local three-node, three-zone cluster (client ports 7379-7381) and keep it
    /// running until Ctrl-C; prints how to connect and how to watch a failover.
    Demo {
        /// Folder for the three data directories and logs.
        #[arg(long, default_value = "./tandem-demo")]
        dir: PathBuf,
        /// First client port (peer ports are +10000, admin ports +2000).
        #[arg(long, default_value_t = 7379)]
        base_port: u16,
        /// Make a throwaway CA and certificates, run the peers over mutual TLS and open TLS
        /// client ports (base + 1000...).
        #[arg(long)]
        tls: bool,
    },
    /// Print the cluster as a node sees it: leader, term, and per node its zone, role, applied
    /// and matched index, lag and last contact.
    Status {
        /// Any node's client address.
        #[arg(long, default_value = "127.0.0.1:7379")]
        target: String,
        /// Password, if the node requires AUTH.
        #[arg(long)]
        auth: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The standby smoke test: for each node reachability, role, lag, snapshot and WAL
    /// checksums, disk space, clock offset, and whether it could take over. Exit 0 = PASS.
    Check {
        #[arg(long, default_value = "127.0.0.1:7379")]
        target: String,
        #[arg(long)]
        auth: Option<String>,
        #[arg(long)]
        json: bool,
        /// Most entries a node may lag its leader.
        #[arg(long, default_value_t = 1_000)]
        lag_max: u64,
        /// Least free disk space, in MiB.
        #[arg(long, default_value_t = 1_024)]
        disk_min_mb: u64,
        /// Largest clock offset from the queried node, in ms.
        #[arg(long, default_value_t = 500)]
        clock_offset_max_ms: i64,
    },
    /// Membership changes and planned leader switchovers (run by the leader).
    Cluster {
        #[arg(long, default_value = "127.0.0.1:7379")]
        target: String,
        #[arg(long)]
        auth: Option<String>,
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Load generator for any RESP server (Tandem, Redis): closed or open loop, latency
    /// percentiles, errors by kind, JSON output. See docs/operations.md.
    Bench(Box<tandem::bench::BenchArgs>),
    /// Save a fresh snapshot of a node (a follower serves as well as the leader) to FILE, with
    /// its log position and checksum; the file is kept only if it verifies.
    Backup {
        /// The node's client address.
        #[arg(long)]
        target: String,
        #[arg(long)]
        auth: Option<String>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Seed an empty data directory with a backup: the node starts as the only voter of a new
    /// cluster, holding the backup's state at its log position. `--verify` only checks FILE.
    ///
    /// Point-in-time restore: with `--wal-archive DIR --until POINT`, every archived log entry
    /// after the backup up to and including the last one at or before POINT (a log index, or
    /// an RFC 3339 time such as 2026-11-29T16:05:00Z) is applied on top of the backup.
    Restore {
        /// A file written by `tandem backup` (or give it with --from).
        #[arg(required_unless_present = "from")]
        file: Option<PathBuf>,
        /// The backup file (same as FILE).
        #[arg(long, value_name = "FILE", conflicts_with = "file")]
        from: Option<PathBuf>,
        /// A WAL archive directory (`wal_archive_dir` of the node the backup came from).
        #[arg(long, value_name = "DIR", requires = "until")]
        wal_archive: Option<PathBuf>,
        /// Where to stop: a log index or an RFC 3339 time (needs --wal-archive).
        #[arg(long, value_name = "INDEX|TIME", requires = "wal_archive")]
        until: Option<tandem::backup::Until>,
        /// The new node's data directory (absent or empty).
        #[arg(long, required_unless_present = "verify")]
        data: Option<PathBuf>,
        /// The id the restored node will run with.
        #[arg(long, default_value_t = 1)]
        node_id: u64,
        /// Only verify the backup and print what it holds.
        #[arg(long)]
        verify: bool,
    },
    /// List WAL segments, records and snapshots in a data directory and verify every checksum.
    Inspect {
        /// The node's data directory.
        dir: PathBuf,
        /// Also list every record (index, term, kind, bytes).
        #[arg(long)]
        records: bool,
        /// Repair a WAL that refuses to start: zero everything from <segment>:<offset> on and
        /// delete later segments. Every record from there on is LOST on this node; use it only
        /// when the node can catch up from peers or the loss is accepted.
        #[arg(long, value_name = "SEGMENT:OFFSET")]
        truncate_at: Option<String>,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Add a started node (its --peer-listen address) as a learner, then as a voter once it has
    /// caught up.
    AddNode {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        peer_addr: String,
    },
    /// Remove a node from the membership.
    RemoveNode {
        #[arg(long)]
        id: u64,
    },
    /// Hand leadership to another caught-up voter (rolling upgrade, failback after repair).
    TransferLeader {
        #[arg(long)]
        to: u64,
    },
    /// If the target node leads, hand leadership to its most caught-up voter; else do nothing
    /// (the Kubernetes preStop hook; step 1 of a rolling restart).
    StepDown,
}

fn main() -> anyhow::Result<()> {
    tandem::allocator::jemalloc_is_global();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tandem=info,openraft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    tandem::allocator::enable_background_purge();
    let cli = Cli::parse();
    match cli.command {
        Cmd::Serve(args) if args.check_config => check_config(&args),
        Cmd::Serve(args) => {
            let worker_threads = args.resolve()?.worker_threads;
            let runtime = if worker_threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads)
                    .enable_all()
                    .build()?
            };
            runtime.block_on(serve(args))
        }
        Cmd::Embedded {
            data,
            tasks,
            writes,
            accounts,
            backend,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(tools::embedded::embedded(
                data,
                tasks.max(1),
                writes,
                accounts.max(2),
                backend,
            ))
        }
        Cmd::CrashWriter {
            data,
            tasks,
            snapshot_every,
            backend,
            wal_writer,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(tools::embedded::crash_writer(
                data,
                tasks.max(1),
                snapshot_every,
                backend,
                wal_writer,
            ))
        }
        Cmd::Demo {
            dir,
            base_port,
            tls,
        } => tools::cluster::demo(&tools::cluster::DemoOptions {
            dir,
            base_port,
            tls,
        }),
        Cmd::Status { target, auth, json } => {
            tools::cluster::status(&target, auth.as_deref(), json)
        }
        Cmd::Check {
            target,
            auth,
            json,
            lag_max,
            disk_min_mb,
            clock_offset_max_ms,
        } => {
            let limits = tools::cluster::CheckLimits {
                lag_entries_max: lag_max,
                disk_free_bytes_min: disk_min_mb << 20,
                clock_offset_ms_max: clock_offset_max_ms,
            };
            if tools::cluster::check(&target, auth.as_deref(), json, &limits)? {
                Ok(())
            } else {
                std::process::exit(1);
            }
        }
        Cmd::Cluster {
            target,
            auth,
            action,
        } => {
            let answer = match action {
                ClusterAction::AddNode { id, peer_addr } => tools::cluster::admin(
                    &target,
                    auth.as_deref(),
                    &["ADD-NODE", &id.to_string(), &peer_addr],
                ),
                ClusterAction::RemoveNode { id } => tools::cluster::admin(
                    &target,
                    auth.as_deref(),
                    &["REMOVE-NODE", &id.to_string()],
                ),
                ClusterAction::TransferLeader { to } => tools::cluster::admin(
                    &target,
                    auth.as_deref(),
                    &["TRANSFER-LEADER", &to.to_string()],
                ),
                ClusterAction::StepDown => tools::cluster::step_down(&target, auth.as_deref()),
            }?;
            println!("{answer}");
            Ok(())
        }
        Cmd::Bench(args) => tandem::bench::run(*args),
        Cmd::Backup { target, auth, out } => {
            let summary = tandem::backup::backup(&target, auth.as_deref(), &out)?;
            println!("backup {summary}");
            Ok(())
        }
        Cmd::Restore {
            file,
            from,
            wal_archive,
            until,
            data,
            node_id,
            verify,
        } => {
            let file = file.or(from).context("name the backup file")?;
            if let (Some(archive), Some(until), Some(data), false) =
                (&wal_archive, until, &data, verify)
            {
                let summary = tandem::backup::restore_until(
                    &file,
                    archive,
                    until,
                    data,
                    node_id,
                    &mut |line| eprintln!("restore: {line}"),
                )?;
                println!("backup {}", summary.backup);
                println!(
                    "applied {} archived entries from {} archive file(s); last entry's log time {}",
                    summary.entries_applied,
                    summary.archive_files_read,
                    match summary.last_time_ms {
                        0 => "none".to_string(),
                        ms => tandem::backup::format_time_ms(ms),
                    }
                );
                if let Some(end) = summary.archive_ended_at {
                    println!(
                        "warning: the archive ends at log index {end}, before --until; later writes, if any, were not archived yet"
                    );
                }
                println!(
                    "restored into {} as node {node_id} (the only voter): {}",
                    data.display(),
                    summary.restored
                );
                return Ok(());
            }
            let summary = match data {
                Some(data) if !verify => {
                    let summary = tandem::backup::restore(&file, &data, node_id)?;
                    println!(
                        "restored into {} as node {node_id} (the only voter)",
                        data.display()
                    );
                    summary
                }
                _ => tandem::backup::verify(&file)?,
            };
            println!("backup {summary}");
            Ok(())
        }
        Cmd::Inspect {
            dir,
            records,
            truncate_at,
        } => {
            if let Some(spec) = truncate_at {
                tandem::inspect::truncate_at(&dir, &spec)?;
                println!("truncated the WAL in {} at {spec}", dir.display());
            }
            let report = tandem::inspect::inspect(&dir, records)?;
            print!("{}", report.text);
            if report.problems > 0 {
                anyhow::bail!("{} problem(s) found in {}", report.problems, dir.display());
            }
            Ok(())
        }
    }
}

/// `tandem serve`: open the node, bind, announce readiness, serve until SIGINT/SIGTERM or a
/// client's SHUTDOWN.
async fn serve(args: Box<tandem::server::ServeArgs>) -> anyhow::Result<()> {
    use std::io::Write;
    use tandem::server::{Listeners, Server};
    let config = args.resolve()?;
    if let Some(refusal) = tandem::server::protected_mode_refusal(&config) {
        anyhow::bail!(refusal);
    }
    let tls = config.load_tls()?;
    if let Some(tls) = &tls {
        tandem::tls::spawn_reloader(tls.clone());
    }
    let listeners = Listeners::bind(&config, tls.clone()).await?;
    let client_addr = listeners.resp.local_addr()?.to_string();
    let mut builder = Node::builder(&config.data)
        .node_id(config.node_id)
        .zone(config.zone.clone())
        .client_addr(client_addr.clone())
        .backend(config.wal_backend)
        .wal_writer(config.wal_writer)
        .segment_bytes(config.segment_bytes)
        .wal_archive_dir(config.wal_archive_dir.clone())
        .snapshot_policy(tandem::SnapshotPolicyOption::LogsSinceLast(
            config.snapshot_logs_since_last,
        ))
        .snapshot_log_bytes_since_last(
            Some(config.snapshot_log_bytes_since_last).filter(|&bytes| bytes > 0),
        )
        .log_cache_bytes_max(config.log_cache_bytes_max)
        .batch_limits(config.lanes.batch_limits())
        .lane_limits(config.lanes.lane_limits())
        // With critical connections on a runtime of their own, the node gets a thread of its
        // own too: a critical write never waits for the shared runtime to reach the batcher.
        .own_thread(config.critical_listen.is_some());
    if let Some(mut options) = config.cluster_options(&client_addr)? {
        if config.tls_cluster {
            options.peer_tls = tls.clone();
        }
        builder = builder.cluster(options);
    }
    let node = builder
        .open()
        .await
        .with_context(|| format!("opening {}", config.data.display()))?;
    let report = node.recovery_report().clone();
    tracing::info!(
        data = %config.data.display(),
        keys = report.keys,
        snapshot_index = report.snapshot_index,
        wal_records = report.wal_records,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "recovered"
    );
    let mut server = Server::new(config, args.config.clone(), node, listeners)?;
    let admin_listener = server.take_admin_listener().context("admin listener")?;
    let admin = tandem::server::admin::AdminServer::spawn(admin_listener, server.admin_sources());
    tracing::info!(listen = %server.local_addr(), admin = %server.admin_addr(), "serving");
    {
        let mut stdout = std::io::stdout().lock();
        let critical = server
            .critical_addr()
            .map(|addr| format!(" critical={addr}"))
            .unwrap_or_default();
        let tls = server
            .tls_addr()
            .map(|addr| format!(" tls={addr}"))
            .unwrap_or_default();
        writeln!(
            stdout,
            "ready listen={} admin={}{critical}{tls}",
            server.local_addr(),
            server.admin_addr()
        )?;
        stdout.flush()?;
    }
    let requested = server.shutdown_requested();
    server
        .run(async {
            tokio::select! {
                () = shutdown_signal() => {}
                () = requested.wait() => tracing::info!("shutdown requested by SHUTDOWN"),
            }
            admin.shutdown().await; // drops its hold on the node before `run` shuts it down
        })
        .await?;
    Ok(())
}

/// `tandem serve --check-config`: prints the effective config (TOML) and any notes on stdout,
/// or fails with the reason the server would refuse to start.
fn check_config(args: &tandem::server::ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let notes = config.check()?;
    print!("{}", config.effective_toml());
    for note in notes {
        println!("# {note}");
    }
    println!("# configuration OK");
    Ok(())
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let which = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(signal = which, "shutdown requested");
}
