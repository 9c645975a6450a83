//! The embedded demo behind `tandem embedded` (the quick start's main job: durable balance
//! transfers from many tasks, then a restart that checks every acknowledged write) and the
//! hidden `tandem crash-writer` the kill -9 test drives.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tandem::{Backend, Node, Transaction, WriterMode};

pub async fn embedded(
    data: PathBuf,
    tasks: usize,
    writes: u64,
    accounts: u64,
    backend: Backend,
) -> anyhow::Result<()> {
    println!(
        "opening embedded node in {} (backend {backend})",
        data.display()
    );
    let node = Node::builder(&data)
        .backend(backend)
        .open()
        .await
        .with_context(|| format!("opening {}", data.display()))?;
    let report = node.recovery_report().clone();
    println!(
        "recovered {} keys (snapshot through index {}, {} WAL records) in {} ms",
        report.keys,
        report.snapshot_index,
        report.wal_records,
        report.elapsed.as_millis()
    );
    let db = node.db();
    // Counters per task persist across runs, so a rerun continues where the last one stopped.
    let mut acks_before = Vec::with_capacity(tasks);
    for task in 0..tasks {
        acks_before.push(read_counter(&db, &format!("acks:{task}")).await?);
    }
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let progress = spawn_progress(done.clone(), writes, started);
    let mut handles = Vec::new();
    for task in 0..tasks {
        let db = db.clone();
        let done = done.clone();
        let share = writes / tasks as u64 + u64::from((task as u64) < writes % tasks as u64);
        handles.push(tokio::spawn(async move {
            let mut latencies = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
            let mut acked = 0u64;
            for i in 0..share {
                let from = (task as u64 * 7919 + i * 104_729) % accounts;
                let to = (from + 1 + i % (accounts - 1)) % accounts;
                let (from_key, to_key) = (format!("account:{from}"), format!("account:{to}"));
                let acks_key = format!("acks:{task}");
                let transfer = Transaction::from_args(
                    Vec::new(),
                    &[
                        &["DECRBY", from_key.as_str(), "1"][..],
                        &["INCRBY", to_key.as_str(), "1"][..],
                        &["INCR", acks_key.as_str()][..],
                    ],
                )?;
                let t0 = Instant::now();
                db.transaction(transfer).await?;
                latencies.record(t0.elapsed().as_micros() as u64).ok();
                acked += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>((acked, latencies))
        }));
    }
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut acked_by_task = Vec::new();
    for handle in handles {
        let (acked, h) = handle.await??;
        acked_by_task.push(acked);
        latencies.add(h)?;
    }
    let elapsed = started.elapsed();
    progress.abort();
    let status = node.status();
    println!(
        "\n{} durable transfers by {tasks} tasks in {:.2} s: {:.0} writes/s; latency p50 {} us, p99 {} us, max {} us",
        writes,
        elapsed.as_secs_f64(),
        writes as f64 / elapsed.as_secs_f64(),
        latencies.value_at_quantile(0.5),
        latencies.value_at_quantile(0.99),
        latencies.max()
    );
    println!(
        "log: {} entries proposed for {} ops; {} fsyncs; positions applied={} flushed={}",
        status.proposals, status.ops, status.wal.fsync_count, status.applied, status.flushed
    );
    node.shutdown().await?;

    println!(
        "restarting from {} to verify every acknowledged write ...",
        data.display()
    );
    let node = Node::builder(&data).backend(backend).open().await?;
    let reopened = node.recovery_report().clone();
    let db = node.db();
    let mut missing = 0u64;
    for (task, acked) in acked_by_task.iter().enumerate() {
        let now = read_counter(&db, &format!("acks:{task}")).await?;
        let expected = acks_before[task] + *acked as i64;
        if now != expected {
            missing += 1;
            println!("task {task}: counter {now}, expected {expected}");
        }
    }
    let mut balance_sum = 0i64;
    for account in 0..accounts {
        balance_sum += read_counter(&db, &format!("account:{account}")).await?;
    }
    println!(
        "reopened in {} ms with {} keys; task counters intact: {}; money conserved (sum of balances = {balance_sum}): {}",
        reopened.elapsed.as_millis(),
        reopened.keys,
        if missing == 0 { "yes" } else { "NO" },
        if balance_sum == 0 { "yes" } else { "NO" },
    );
    node.shutdown().await?;
    if missing > 0 || balance_sum != 0 {
        anyhow::bail!("verification failed: acknowledged writes missing after restart");
    }
    Ok(())
}

async fn read_counter(db: &tandem::Db, key: &str) -> anyhow::Result<i64> {
    Ok(match db.get(key).await? {
        Some(v) => std::str::from_utf8(&v)?.parse()?,
        None => 0,
    })
}

pub async fn crash_writer(
    data: PathBuf,
    tasks: usize,
    snapshot_every: u64,
    backend: Backend,
    wal_writer: WriterMode,
) -> anyhow::Result<()> {
    use std::io::Write;
    let node = Node::builder(&data)
        .backend(backend)
        .wal_writer(wal_writer)
        .segment_bytes(1 << 20)
        .snapshot_policy(tandem::SnapshotPolicyOption::LogsSinceLast(snapshot_every))
        .logs_kept_after_snapshot(16)
        .open()
        .await?;
    let run = std::process::id();
    println!("ready");
    std::io::stdout().flush()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for task in 0..tasks {
        let db = node.db();
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0u64.. {
                let key = format!("crash:{run}:{task}:{i}");
                let value = format!("v{i}-{}", "x".repeat((i % 50) as usize));
                if db.set(&key, &value).await.is_err() {
                    return;
                }
                if tx.send(format!("ack {key} {value}")).is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut stdout = std::io::stdout().lock();
    while let Some(line) = rx.recv().await {
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    Ok(())
}

fn spawn_progress(
    done: Arc<AtomicU64>,
    total: u64,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stderr().is_terminal() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let n = done.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            eprint!(
                "\r{n}/{total} writes ({:.0}%), {:.0} writes/s   ",
                n as f64 * 100.0 / total.max(1) as f64,
                n as f64 / secs
            );
        }
    })
}
