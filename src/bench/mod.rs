//! `tandem bench`: a load generator for any RESP server, so Tandem and Redis are measured by the
//! same client in the same run. It owns the run's shape (closed or open loop, warmup, stop
//! condition), the workloads, the latency histograms and the reports. Invariant: an operation
//! counts as a success only when every reply it got is not an error; everything else is counted
//! by kind, never dropped.

mod args;
mod distribution;
mod floor;
mod report;
mod schedule;
mod stats;
mod worker;
mod workload;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

pub use args::{BenchArgs, BenchHelper, Distribution, WorkloadName};
pub use distribution::{KeyChooser, SplitMix64, Zipf};
pub use floor::fdatasync_floor;
pub use report::{summary, JsonReport, RunReport, JSON_VERSION};
pub use schedule::{Limit, Schedule, Slot};
pub use stats::{Latency, Recorder};
pub use workload::{Op, OpGenerator, Workload};

use crate::client::{Auth, ConnectOptions, Reconnecting, RoundRobin};
use crate::resp::Protocol;
use worker::{Client, Plan, Shared, Stop};

/// Most clients one run may open (each is a connection and a histogram).
pub const CLIENTS_MAX: usize = 10_000;
/// Largest `--pipeline`.
pub const PIPELINE_MAX: usize = 100_000;
/// Measurement length when neither --duration nor --requests is given.
pub const DURATION_DEFAULT: Duration = Duration::from_secs(10);

/// Runs `tandem bench`: builds its own runtime, runs each target (or the cluster), prints the
/// summary on stdout and writes `--json`. Fails if an argument is invalid or a run had no
/// successful operation at all.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(helper) = &args.helper {
        return run_helper(helper);
    }
    validate(&args)?;
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let groups: Vec<Vec<String>> = if args.follow_leader {
        vec![args.targets.clone()]
    } else {
        args.targets.iter().map(|t| vec![t.clone()]).collect()
    };
    let mut runs = Vec::with_capacity(groups.len());
    for targets in groups {
        runs.push(runtime.block_on(run_targets(&args, targets))?);
    }
    print!("{}", summary(&runs));
    if let Some(path) = &args.json {
        let json = JsonReport {
            version: JSON_VERSION,
            runs: runs.clone(),
        };
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(run) = runs.iter().find(|r| r.ops == 0) {
        anyhow::bail!(
            "no operation succeeded against {} ({} failed)",
            run.target,
            run.errors_total
        );
    }
    Ok(())
}

fn run_helper(helper: &BenchHelper) -> anyhow::Result<()> {
    match helper {
        BenchHelper::Fdatasync { dir, samples } => {
            let l = fdatasync_floor(dir, (*samples).max(1))
                .with_context(|| format!("fdatasync floor in {}", dir.display()))?;
            println!(
                "fdatasync_us p50={} p90={} p99={} max={} mean={:.1}",
                l.p50, l.p90, l.p99, l.max, l.mean
            );
            Ok(())
        }
    }
}

fn validate(args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.targets.is_empty(), "give at least one --target");
    anyhow::ensure!(
        (1..=CLIENTS_MAX).contains(&args.clients),
        "--clients must be 1..={CLIENTS_MAX}"
    );
    anyhow::ensure!(
        (1..=PIPELINE_MAX).contains(&args.pipeline),
        "--pipeline must be 1..={PIPELINE_MAX}"
    );
    if let Some(rate) = args.rate {
        anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be above 0");
    }
    if let Some(duration) = args.duration {
        anyhow::ensure!(
            duration.is_finite() && duration > 0.0,
            "--duration must be above 0"
        );
    }
    anyhow::ensure!(
        args.warmup.is_finite() && args.warmup >= 0.0,
        "--warmup must be 0 or more"
    );
    anyhow::ensure!(args.keys >= 1, "--keys must be at least 1");
    anyhow::ensure!(args.zipf_s > 0.0, "--zipf-s must be above 0");
    anyhow::ensure!(
        !(args.sessions && args.command.is_none() && args.workload == WorkloadName::Xreadgroup),
        "--sessions cannot tag --workload xreadgroup: each of its operations is two writes (XACK, XREADGROUP)"
    );
    Ok(())
}

fn workload(args: &BenchArgs) -> anyhow::Result<Workload> {
    match &args.command {
        Some(command) => Workload::template(command).map_err(anyhow::Error::msg),
        None => Ok(Workload::Named(args.workload)),
    }
}

/// The TLS settings of --tls: the server name defaults to the first target's host.
fn client_tls(
    args: &BenchArgs,
    targets: &[String],
) -> anyhow::Result<Option<crate::client::ClientTls>> {
    if !args.tls {
        return Ok(None);
    }
    let ca = args
        .tls_ca_cert_file
        .as_deref()
        .context("--tls needs --tls-ca-cert-file")?;
    let identity = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert-file and --tls-key-file go together"),
    };
    let connector = crate::tls::client_connector(ca, identity).map_err(anyhow::Error::msg)?;
    let host = match &args.tls_server_name {
        Some(name) => name.clone(),
        None => {
            let target = targets.first().context("a target")?;
            let (host, _) = target.rsplit_once(':').context("--target is host:port")?;
            host.trim_matches(|c| c == '[' || c == ']').to_string()
        }
    };
    let server_name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| anyhow::anyhow!("--tls-server-name {host}: {e}"))?;
    Ok(Some(crate::client::ClientTls {
        connector,
        server_name,
    }))
}

/// One run against `targets` (one server, or one cluster with --follow-leader).
async fn run_targets(args: &BenchArgs, targets: Vec<String>) -> anyhow::Result<RunReport> {
    let label = targets.join(",");
    let workload = workload(args)?;
    let options = ConnectOptions {
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        reply_timeout: Duration::from_millis(args.reply_timeout_ms.max(1)),
        auth: args.auth.as_ref().map(|password| Auth {
            username: args.user.clone(),
            password: password.clone(),
        }),
        protocol: if args.resp3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        },
        tls: client_tls(args, &targets)?,
    };
    // Connect every client before the clock starts, as redis-benchmark does.
    let mut sessions = Vec::with_capacity(args.clients);
    let mut setup_errors = Recorder::default();
    let mut connecting = tokio::task::JoinSet::new();
    for client in 0..args.clients {
        let mut session = Reconnecting::new(targets.clone(), options.clone(), Box::new(RoundRobin));
        connecting.spawn(async move {
            let result = session.connection().await.map(|_| ()).map_err(|e| e.kind());
            (client, session, result)
        });
    }
    let mut connected = Vec::with_capacity(args.clients);
    while let Some(joined) = connecting.join_next().await {
        connected.push(joined.context("connecting task")?);
    }
    connected.sort_by_key(|(client, ..)| *client);
    let mut first_error = None;
    for (client, session, result) in connected {
        match result {
            Ok(()) => sessions.push((client, session)),
            Err(kind) => {
                if first_error.is_none() {
                    first_error = Some(format!("{kind} connecting to {}", session.target()));
                }
                // With --follow-leader the client keeps trying (the wait shows in the gap);
                // without, it never sends anything: one error for the client.
                if args.follow_leader {
                    sessions.push((client, session));
                } else {
                    setup_errors.error(kind, 1);
                }
            }
        }
    }
    if let Some(error) = &first_error {
        eprintln!("{label}: {error}");
    }
    if matches!(workload, Workload::Named(WorkloadName::Xreadgroup)) {
        if let Some((_, session)) = sessions.first_mut() {
            create_consumer_groups(session, args.keys)
                .await
                .with_context(|| format!("creating consumer groups on {label}"))?;
        }
    }

    let origin = Instant::now();
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure_from = origin + warmup;
    let duration = args
        .duration
        .map(Duration::from_secs_f64)
        .or(if args.requests.is_some() {
            None
        } else {
            Some(DURATION_DEFAULT)
        });
    let stop = match (duration, args.requests) {
        (Some(duration), _) => Stop::At(measure_from + duration),
        (None, Some(requests)) => Stop::After(requests),
        (None, None) => unreachable!("a default duration is set above"),
    };
    let plan = Arc::new(Plan {
        measure_from,
        stop,
        pipeline: args.pipeline,
        follow_leader: args.follow_leader,
        reply_timeout: options.reply_timeout,
    });
    let shared = Arc::new(Shared::default());
    let progress = report::Progress::start(label.clone(), shared.clone(), measure_from);
    let keys = KeyChooser::new(args.distribution, args.keys, args.zipf_s);
    let mut tasks = tokio::task::JoinSet::new();
    let mut exactly_once = Vec::with_capacity(sessions.len());
    for (_, session) in sessions.iter_mut() {
        exactly_once.push(if args.sessions {
            Some(open_session(session).await?)
        } else {
            None
        });
    }
    for ((client, session), exactly_once) in sessions.into_iter().zip(exactly_once) {
        let ops = OpGenerator::new(
            workload.clone(),
            keys.clone(),
            args.seed
                .wrapping_add((client as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            args.value_size,
            args.wait_replicas,
        )
        .in_session(exactly_once, args.pipeline.max(1) as u64);
        let (plan, shared) = (plan.clone(), shared.clone());
        let schedule = args.rate.map(|rate| {
            let limit = match stop {
                Stop::At(end) => Limit::Until(end),
                Stop::After(count) => Limit::Count(count),
            };
            Schedule::new(origin, rate, args.clients, client, warmup, limit)
        });
        tasks.spawn(async move {
            let worker = Client {
                plan: &plan,
                shared: &shared,
                session,
                ops,
                recorder: Recorder::default(),
            };
            match schedule {
                Some(schedule) => worker.open_loop(schedule).await,
                None => worker.closed_loop().await,
            }
        });
    }
    let mut recorder = Recorder::default();
    let mut reconnects = 0;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.context("client task")?;
        recorder.merge(&result.recorder);
        reconnects += result.reconnects;
    }
    drop(progress);
    recorder.merge(&setup_errors);

    let last_done_us = shared.last_done_us.load(Ordering::Relaxed);
    let window_us = match stop {
        Stop::At(end) => {
            (end.saturating_duration_since(measure_from).as_micros() as u64).max(last_done_us)
        }
        Stop::After(_) => last_done_us,
    }
    .max(1);
    let elapsed_s = window_us as f64 / 1e6;
    let ops = recorder.ops();
    Ok(RunReport {
        target: label,
        workload: workload.label(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        }
        .into(),
        clients: args.clients,
        pipeline: args.pipeline,
        rate_ops_per_s: args.rate,
        warmup_s: args.warmup,
        elapsed_s,
        ops,
        errors_total: recorder.errors_total(),
        errors: recorder.errors.clone(),
        throughput_ops_per_s: ops as f64 / elapsed_s,
        latency_us: recorder.latency(),
        longest_gap_ms: args
            .follow_leader
            .then(|| shared.gap_us(window_us) as f64 / 1000.0),
        reconnects,
    })
}

/// Streams per pipelined batch when the consumer groups are created.
const GROUPS_PER_BATCH: u64 = 1_000;

/// Creates the `xreadgroup` workload's consumer group on every stream it reads (`XGROUP CREATE
/// stream:<k> tandem-bench 0 MKSTREAM`), before the clock starts. A group left by an earlier
/// run is kept (BUSYGROUP), so a run reads what earlier `xadd` runs appended and not yet read.
async fn create_consumer_groups(session: &mut Reconnecting, streams: u64) -> anyhow::Result<()> {
    let connection = session
        .connection()
        .await
        .map_err(|e| anyhow::anyhow!("connecting: {e}"))?;
    let report_every = (streams / 10).max(GROUPS_PER_BATCH);
    let mut created = 0u64;
    let mut next_report = report_every;
    while created < streams {
        let batch = GROUPS_PER_BATCH.min(streams - created);
        for key in created..created + batch {
            let command = [
                Bytes::from_static(b"XGROUP"),
                Bytes::from_static(b"CREATE"),
                Bytes::from(format!("stream:{key}")),
                Bytes::from_static(workload::CONSUMER_GROUP.as_bytes()),
                Bytes::from_static(b"0"),
                Bytes::from_static(b"MKSTREAM"),
            ];
            connection.queue(&command);
        }
        connection
            .flush()
            .await
            .map_err(|e| anyhow::anyhow!("sending XGROUP CREATE: {e}"))?;
        for _ in 0..batch {
            match connection.read_reply().await {
                Ok(crate::client::Value::Error(text)) if !text.starts_with("BUSYGROUP") => {
                    anyhow::bail!("XGROUP CREATE failed: {text}")
                }
                Ok(_) => {}
                Err(e) => anyhow::bail!("reading XGROUP CREATE replies: {e}"),
            }
        }
        created += batch;
        if created >= next_report && streams > GROUPS_PER_BATCH {
            eprintln!(
                "consumer group {}: {created}/{streams} streams",
                workload::CONSUMER_GROUP
            );
            next_report += report_every;
        }
    }
    Ok(())
}

/// Opens an exactly-once session on `session`'s connection (`--sessions`).
async fn open_session(session: &mut Reconnecting) -> anyhow::Result<u64> {
    let connection = session
        .connection()
        .await
        .map_err(|e| anyhow::anyhow!("connecting to open a session: {e}"))?;
    let args = ["TANDEM", "SESSION", "OPEN"].map(|a| Bytes::from_static(a.as_bytes()));
    match connection.command(&args).await {
        Ok(crate::client::Value::Integer(id)) if id >= 0 => Ok(id as u64),
        Ok(other) => {
            anyhow::bail!("TANDEM SESSION OPEN answered {other:?} (--sessions needs Tandem)")
        }
        Err(e) => anyhow::bail!("TANDEM SESSION OPEN failed: {e}"),
    }
}
