//! `tandem backup` and `tandem restore`: a backup taken while a client writes restores to
//! exactly the state at the backup's log position, the restored node takes writes and keeps
//! them across a restart, and a corrupt or truncated backup is refused.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::server::{Raw, Tandem};

use common::{show, tandem};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes `SET k<i> v<i>` for i = 0, 1, ... until `stop`; `acked` counts acknowledged writes.
fn spawn_writer(
    server: &Tandem,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let mut raw = Raw::connect(server.addr);
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let reply = raw.cmd(&["SET", &format!("k{i}"), &format!("v{i}")]);
            assert_eq!(reply, "+OK\r\n");
            i += 1;
            acked.store(i, Ordering::Relaxed);
        }
    })
}

fn integer(reply: &str) -> u64 {
    reply
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .unwrap_or_else(|_| panic!("not an integer reply: {reply:?}"))
}

#[test]
fn backup_under_load_restores_the_state_at_its_log_position() {
    let source = Tandem::start("backup-source", &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(&source, stop.clone(), acked.clone());
    while acked.load(Ordering::Relaxed) < 2_000 {
        std::thread::yield_now();
    }
    let acked_before = acked.load(Ordering::Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tandem.backup");
    let output = tandem(&[
        "backup",
        "--target",
        &source.addr.to_string(),
        "--out",
        path(&file),
    ]);
    let acked_after = acked.load(Ordering::Relaxed);
    assert!(output.status.success(), "{}", show(&output));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(printed.contains("log index"), "{printed}");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    let data = dir.path().join("restored");
    let output = tandem(&["restore", path(&file), "--data", path(&data)]);
    assert!(output.status.success(), "{}", show(&output));
    let restored = Tandem::start_on(&data, &[]);
    let mut raw = restored.raw();
    // One writer, one key per write: the state at any log position is k0..k(n-1) for some n.
    let n = integer(&raw.cmd(&["DBSIZE"]));
    assert!(
        (acked_before..=acked_after).contains(&n),
        "{acked_before} <= {n} <= {acked_after}"
    );
    for i in [0, n / 2, n - 1] {
        assert_eq!(
            raw.cmd(&["GET", &format!("k{i}")]),
            format!("${}\r\nv{i}\r\n", format!("v{i}").len())
        );
    }
    assert_eq!(raw.cmd(&["EXISTS", &format!("k{n}")]), ":0\r\n");

    // The restored node takes writes and keeps them, and the backup, across a restart.
    assert_eq!(raw.cmd(&["SET", "after", "restore"]), "+OK\r\n");
    drop(raw);
    let restored = restored.restart(&[]);
    let mut raw = restored.raw();
    assert_eq!(integer(&raw.cmd(&["DBSIZE"])), n + 1);
    assert_eq!(raw.cmd(&["GET", "after"]), "$7\r\nrestore\r\n");
}

#[test]
fn corrupt_or_truncated_backup_is_refused() {
    let source = Tandem::start("backup-corrupt", &[]);
    let mut raw = source.raw();
    for i in 0..200 {
        assert_eq!(raw.cmd(&["SET", &format!("k{i}"), "value"]), "+OK\r\n");
    }
    // Redis tooling: LASTSAVE is 0 until a snapshot exists; BGSAVE starts one at once.
    assert_eq!(raw.cmd(&["LASTSAVE"]), ":0\r\n");
    assert_eq!(raw.cmd(&["BGSAVE"]), "+Background saving started\r\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while integer(&raw.cmd(&["LASTSAVE"])) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "BGSAVE never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("good.backup");
    let output = tandem(&[
        "backup",
        "--target",
        &source.addr.to_string(),
        "--out",
        path(&file),
    ]);
    assert!(output.status.success(), "{}", show(&output));
    let good = std::fs::read(&file).unwrap();

    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let truncated = good[..good.len() - 100].to_vec();
    for (name, bytes) in [("flipped", flipped), ("truncated", truncated)] {
        let bad = dir.path().join(format!("{name}.backup"));
        std::fs::write(&bad, bytes).unwrap();
        let data = dir.path().join(format!("{name}-data"));
        let output = tandem(&["restore", path(&bad), "--data", path(&data)]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", show(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("is not a usable backup"),
            "{name}: {stderr}"
        );
        assert!(!data.exists(), "{name}: nothing is written");
    }

    // A restore never overwrites an existing data directory.
    let output = tandem(&["restore", path(&file), "--data", path(&source.data)]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not empty"));
}
