//! A real `kill -9` of a real process in the middle of durable writes: after restart, every
//! write the process reported as acknowledged is present with its value. Several rounds on the
//! same data directory, with frequent snapshots, so crashes also land in snapshot and purge code.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tandem::{Backend, Node, WriterMode};

/// Acks to collect per round before killing (bounded by time too).
const ACKS_PER_ROUND_MIN: usize = 1_500;
const ROUND_TIME_MAX: Duration = Duration::from_secs(20);

fn run_round(
    dir: &std::path::Path,
    backend: Backend,
    writer: WriterMode,
    round: usize,
) -> HashMap<String, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["crash-writer", "--tasks", "8", "--snapshot-every", "150"])
        .arg("--backend")
        .arg(backend.to_string())
        .arg("--wal-writer")
        .arg(writer.to_string())
        .arg("--data")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tandem crash-writer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut acked = HashMap::new();
    let started = Instant::now();
    // Kill at a point that varies per round, so different code paths are interrupted.
    let target = ACKS_PER_ROUND_MIN + round * 357;
    while acked.len() < target && started.elapsed() < ROUND_TIME_MAX {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("ack ") {
                    let (key, value) = rest.split_once(' ').expect("ack line");
                    acked.insert(key.to_string(), value.to_string());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    child.kill().expect("kill -9"); // SIGKILL: no destructor, no flush, no shutdown
    child.wait().expect("reap");
    // Acks printed before the kill but not yet read still count: the writer printed them only
    // after they were durable.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        if let Some(rest) = line.strip_prefix("ack ") {
            let (key, value) = rest.split_once(' ').expect("ack line");
            acked.insert(key.to_string(), value.to_string());
        }
    }
    assert!(
        acked.len() >= 100,
        "round {round}: the writer acknowledged only {} writes",
        acked.len()
    );
    acked
}

async fn verify(dir: &std::path::Path, backend: Backend, acked: &HashMap<String, String>) {
    let node = Node::builder(dir)
        .backend(backend)
        .open()
        .await
        .expect("reopen after kill -9");
    let db = node.db();
    let mut missing = Vec::new();
    for (key, value) in acked {
        match db.get(key).await.unwrap() {
            Some(v) if v.as_ref() == value.as_bytes() => {}
            other => missing.push(format!("{key}: expected {value}, found {other:?}")),
        }
    }
    node.shutdown().await.unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost after kill -9, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

fn kill9_rounds(backend: Backend, writer: WriterMode) {
    let dir = common::data_dir("kill9");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut all = HashMap::new();
    for round in 0..3 {
        let acked = run_round(dir.path(), backend, writer, round);
        eprintln!(
            "{backend} {writer} round {round}: {} acknowledged writes before kill -9",
            acked.len()
        );
        all.extend(acked);
        // Everything acknowledged in every round so far must be there.
        runtime.block_on(verify(dir.path(), backend, &all));
    }
}

#[test]
fn kill9_loses_no_acknowledged_write_pwrite() {
    kill9_rounds(Backend::Pwrite, WriterMode::Thread);
}

/// The same with the WAL written and fsynced on the runtime thread that appends
/// (`--wal-writer inline`): an ack still means the write was fsynced first.
#[test]
fn kill9_loses_no_acknowledged_write_inline_writer() {
    kill9_rounds(Backend::Pwrite, WriterMode::Caller);
}

#[test]
fn kill9_loses_no_acknowledged_write_io_uring() {
    kill9_rounds(Backend::IoUring, WriterMode::Thread);
}
