//! Point-in-time restore from a backup plus the WAL archive (`wal_archive_dir`,
//! `tandem restore --from --wal-archive --until`): a mistaken FLUSHALL is undone by restoring
//! to the entry just before it, by log index and by time; the restored node's digest equals
//! the source's at that index; a gap in the archive or a corrupt archive file is refused.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::server::{Raw, Tandem};

use common::{show, tandem};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (applied index, keyspace digest) of a single node, from TANDEM STATUS.
fn applied_and_digest(raw: &mut Raw) -> (u64, String) {
    let reply = raw.cmd(&["TANDEM", "STATUS"]);
    let json = reply.split_once("\r\n").expect("bulk reply").1.trim_end();
    let status: serde_json::Value = serde_json::from_str(json).expect("status json");
    let report = &status["nodes"][0]["report"];
    (
        report["applied"].as_u64().expect("applied"),
        report["digest"].as_str().expect("digest").to_string(),
    )
}

fn set_many(raw: &mut Raw, prefix: &str, count: usize) {
    let value = "v".repeat(200);
    for i in 0..count {
        assert_eq!(
            raw.cmd(&["SET", &format!("{prefix}{i}"), &value]),
            "+OK\r\n"
        );
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Restores into `data` and checks the state: A and B present, C and the FLUSHALL absent,
/// and the digest the source had at `index`.
fn restore_and_check(
    backup: &Path,
    archive: &Path,
    until: &str,
    data: &Path,
    (a, b): (usize, usize),
    digest: &str,
) {
    let output = tandem(&[
        "restore",
        "--from",
        path(backup),
        "--wal-archive",
        path(archive),
        "--until",
        until,
        "--data",
        path(data),
    ]);
    assert!(output.status.success(), "{}", show(&output));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(printed.contains("archived entries"), "{printed}");
    let restored = Tandem::start_on(data, &[]);
    let mut raw = restored.raw();
    assert_eq!(raw.cmd(&["DBSIZE"]), format!(":{}\r\n", a + b), "{printed}");
    for key in ["a0", &format!("a{}", a - 1), "b0", &format!("b{}", b - 1)] {
        assert_eq!(
            raw.cmd(&["EXISTS", key]),
            ":1\r\n",
            "{key} after --until {until}"
        );
    }
    assert_eq!(raw.cmd(&["EXISTS", "c0"]), ":0\r\n");
    assert_eq!(
        applied_and_digest(&mut raw).1,
        digest,
        "digest after --until {until}"
    );
}

fn copy_dir(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    let mut copied = Vec::new();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).unwrap();
        copied.push(target);
    }
    copied.sort();
    copied
}

/// First and last log index of an archive file, from its name.
fn name_range(file: &Path) -> (u64, u64) {
    let name = file.file_name().unwrap().to_str().unwrap();
    let parts: Vec<u64> = name
        .trim_start_matches("archive-")
        .trim_end_matches(".walarc")
        .split('-')
        .map(|p| p.parse().unwrap())
        .collect();
    (parts[1], parts[2])
}

/// Archive files (by their names) that hold log index `index`.
fn files_holding(files: &[PathBuf], index: u64) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|f| {
            let (first, last) = name_range(f);
            (first..=last).contains(&index)
        })
        .cloned()
        .collect()
}

#[test]
fn point_in_time_restore_undoes_a_flushall() {
    let dir = common::data_dir("pitr");
    let archive = dir.path().join("archive");
    // Small segments, so the log rolls over several times and is archived in several files.
    let source = Tandem::start(
        "pitr-source",
        &[
            "--wal-archive-dir",
            path(&archive),
            "--segment-bytes",
            "65536",
        ],
    );
    let mut raw = source.raw();
    let (a, b, c) = (300, 300, 50);
    set_many(&mut raw, "a", a);
    let backup = dir.path().join("tandem.backup");
    let output = tandem(&[
        "backup",
        "--target",
        &source.addr.to_string(),
        "--out",
        path(&backup),
    ]);
    assert!(output.status.success(), "{}", show(&output));
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let backup_index: u64 = printed
        .split("log index ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no log index in {printed:?}"));
    set_many(&mut raw, "b", b);
    let (index, digest) = applied_and_digest(&mut raw);
    // Log times are the leader's clock in ms: leave a clear millisecond either side.
    std::thread::sleep(Duration::from_millis(30));
    let before_flush = tandem::backup::format_time_ms(now_ms());
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(raw.cmd(&["FLUSHALL"]), "+OK\r\n");
    set_many(&mut raw, "c", c);
    assert_eq!(raw.cmd(&["DBSIZE"]), format!(":{c}\r\n"));
    // The active segment holds the newest entries: archive it now.
    assert_eq!(raw.cmd(&["TANDEM", "ARCHIVE"]), "+OK\r\n");
    let files = common::files_with_suffix(&archive, ".walarc");
    assert!(files.len() >= 3, "{files:?}");

    let index_text = index.to_string();
    for (name, until) in [("by-index", &index_text), ("by-time", &before_flush)] {
        restore_and_check(
            &backup,
            &archive,
            until,
            &dir.path().join(name),
            (a, b),
            &digest,
        );
    }

    // A gap: no file holds an entry between the backup and the chosen point (one that is not
    // in the newest file, so the archive still goes on past the gap).
    let gapped = dir.path().join("archive-gap");
    let copies = copy_dir(&archive, &gapped);
    let newest_first = name_range(copies.last().unwrap()).0;
    let missing = index.min(newest_first - 1);
    assert!(missing > backup_index, "{missing} {backup_index}");
    for file in files_holding(&copies, missing) {
        std::fs::remove_file(file).unwrap();
    }
    let data = dir.path().join("restore-gap");
    let output = tandem(&[
        "restore",
        "--from",
        path(&backup),
        "--wal-archive",
        path(&gapped),
        "--until",
        &index_text,
        "--data",
        path(&data),
    ]);
    assert!(!output.status.success(), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("gap"),
        "{}",
        show(&output)
    );

    // A flipped byte in an archive file the restore needs.
    let corrupt = dir.path().join("archive-corrupt");
    let copies = copy_dir(&archive, &corrupt);
    for file in files_holding(&copies, index) {
        let mut bytes = std::fs::read(&file).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x08;
        std::fs::write(&file, bytes).unwrap();
    }
    let data = dir.path().join("restore-corrupt");
    let output = tandem(&[
        "restore",
        "--from",
        path(&backup),
        "--wal-archive",
        path(&corrupt),
        "--until",
        &index_text,
        "--data",
        path(&data),
    ]);
    assert!(!output.status.success(), "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("checksum mismatch"),
        "{}",
        show(&output)
    );
}
