//! Backup and restore. `tandem backup` asks a node (a follower works as well as the leader) for
//! a fresh snapshot over its client port (`TANDEM BACKUP`), streams it to a file and keeps the
//! file only if it verifies. `tandem restore` seeds an empty data directory with a backup.
//!
//! A backup file is a snapshot file byte for byte (docs/formats.md): its header names the log
//! position it covers and its footer's CRC32C covers every byte, so a corrupt or truncated
//! backup is refused by the same check that guards a node's own snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

mod pitr;

pub use pitr::{format_time_ms, restore_until, PitrSummary, Until};

use crate::raft::{LogStoreMeta, StoredMembership, Vote};
use crate::snapshot::{self, SnapshotInfo};

/// How long `tandem backup` waits for the node to build and send its snapshot.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(600);

/// What a backup or a restore holds.
#[derive(Clone, Debug)]
pub struct BackupSummary {
    pub path: PathBuf,
    /// Last log entry the backup covers, and its term.
    pub log_index: u64,
    pub log_term: u64,
    /// Records in the file (keys, blocked clients, sessions, scripts).
    pub records: u64,
    pub bytes: u64,
    /// The CRC32C in the file's footer.
    pub crc32c: u32,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: log index {} (term {}), {} records, {} bytes, crc32c {:#010x}",
            self.path.display(),
            self.log_index,
            self.log_term,
            self.records,
            self.bytes,
            self.crc32c
        )
    }
}

fn summary(info: &SnapshotInfo) -> anyhow::Result<BackupSummary> {
    let mut footer = [0u8; 8];
    let mut file = File::open(&info.path)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(-8))?;
    file.read_exact(&mut footer)?;
    let last = info.header.meta.last_log_id;
    Ok(BackupSummary {
        path: info.path.clone(),
        log_index: last.map_or(0, |id| id.index),
        log_term: last.map_or(0, |id| id.leader_id.term),
        records: info.record_count,
        bytes: info.file_bytes,
        crc32c: u32::from_le_bytes(footer[..4].try_into().expect("4 bytes")),
    })
}

/// Verifies a backup file (magic, version, every record, the CRC).
pub fn verify(path: &Path) -> anyhow::Result<BackupSummary> {
    let info = snapshot::verify(path)
        .with_context(|| format!("{} is not a usable backup", path.display()))?;
    summary(&info)
}

/// `tandem backup --target HOST:PORT --out FILE`: a fresh snapshot of the target node, written
/// to `out` only once it verifies (it lands under a temporary name first).
pub fn backup(target: &str, auth: Option<&str>, out: &Path) -> anyhow::Result<BackupSummary> {
    let addr = std::net::ToSocketAddrs::to_socket_addrs(target)
        .with_context(|| format!("cannot resolve {target}"))?
        .next()
        .with_context(|| format!("{target} resolves to nothing"))?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .with_context(|| format!("cannot connect to {target}"))?;
    stream.set_read_timeout(Some(BACKUP_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(1 << 20, stream);
    let command = |args: &[&str]| {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        request
    };
    if let Some(password) = auth {
        writer.write_all(&command(&["AUTH", password]))?;
        let line = read_line(&mut reader)?;
        if !line.starts_with('+') {
            bail!("AUTH failed: {}", line.trim_start_matches('-'));
        }
    }
    writer.write_all(&command(&["TANDEM", "BACKUP"]))?;
    let line = read_line(&mut reader)?;
    let length: u64 = match line.strip_prefix('$') {
        Some(length) => length
            .parse()
            .with_context(|| format!("bad reply header {line:?}"))?,
        None => bail!(
            "{target} refused the backup: {}",
            line.trim_start_matches('-')
        ),
    };
    let temp = out.with_extension("partial");
    let result = (|| {
        let mut file =
            File::create(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        let copied = std::io::copy(&mut (&mut reader).take(length), &mut file)?;
        if copied != length {
            bail!("the connection closed after {copied} of {length} bytes");
        }
        file.sync_all()?;
        let mut summary = verify(&temp)?;
        fs::rename(&temp, out)?;
        summary.path = out.to_path_buf();
        Ok(summary)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn read_line(reader: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        bail!("the node closed the connection");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `tandem restore FILE --data DIR --node-id N`: makes `data` (absent or empty) the data
/// directory of a node that holds the backup's state at its log position, as the only voter
/// of its cluster (add the other nodes with `tandem cluster add-node`). The node keeps the
/// zone and addresses the backup's membership lists for `node_id` (else for its first member;
/// the running node reports its real ones).
pub fn restore(file: &Path, data: &Path, node_id: u64) -> anyhow::Result<BackupSummary> {
    if node_id == 0 {
        bail!("node ids start at 1");
    }
    verify(file)?;
    ensure_empty(data)?;
    let (info, keyspace) = snapshot::load(file)
        .with_context(|| format!("{} is not a usable backup", file.display()))?;
    seed(data, node_id, &info.header, &keyspace)
}

/// Refuses a data directory that holds anything: restore only seeds a new one.
fn ensure_empty(data: &Path) -> anyhow::Result<()> {
    if data.exists()
        && fs::read_dir(data)
            .with_context(|| format!("cannot read {}", data.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: restore only seeds a new data directory",
            data.display()
        );
    }
    Ok(())
}

/// Writes `keyspace` at the header's log position into the empty `data` as the snapshot of a
/// one-voter cluster whose only member is `node_id`.
fn seed(
    data: &Path,
    node_id: u64,
    header: &snapshot::SnapshotHeader,
    keyspace: &crate::keyspace::Keyspace,
) -> anyhow::Result<BackupSummary> {
    let mut header = header.clone();
    let old = header.meta.last_membership.clone();
    let node = old
        .membership()
        .get_node(&node_id)
        .or_else(|| old.nodes().next().map(|(_, node)| node))
        .cloned()
        .unwrap_or_default();
    header.meta.last_membership = StoredMembership::new(
        *old.log_id(),
        openraft::Membership::new(
            vec![BTreeSet::from([node_id])],
            BTreeMap::from([(node_id, node)]),
        ),
    );
    let snapshots = data.join("snapshots");
    fs::create_dir_all(&snapshots)?;
    let written = snapshot::write(&snapshots, &header, keyspace)?;
    snapshot::sync_dir(&snapshots)?;
    // The node's first election must be in a later term than the last entry the backup
    // covers, or its first entries would sort below that entry: the vote starts at its term.
    if let Some(last) = header.meta.last_log_id {
        let (wal, _) = crate::wal::Wal::open(&data.join("wal"), crate::wal::WalOptions::default())?;
        let meta = LogStoreMeta {
            vote: Some(Vote::new(last.leader_id.term, node_id)),
            last_purged: None,
            formation_member: false,
        };
        wal.save_meta_blocking(meta.encode())?;
    }
    summary(&written)
}
