//! Snapshot files: a point-in-time image of the keyspace with the log position it covers.
//!
//! A snapshot is written to a temporary file, fsynced, renamed into place and the directory
//! fsynced, so a crash leaves either the old snapshot or the new one, never a half. Every byte is
//! covered by one CRC32C in the footer; a file that fails it is never loaded.
//!
//! Layout (little-endian; drawn byte by byte in docs/formats.md):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "TNDMSNP1"
//! 8       4     format version (2; version 1 files are read too)
//! 12      4     header length H
//! 16      H     header: postcard(SnapshotHeader)
//! 16+H    ...   records: [u32 length L][u8 kind][L-1 bytes: payload] * count
//!               kind 1: a keyspace entry record; kind 2: a blocked client, postcard(Waiter);
//!               kind 4: a client session, postcard((u64 id, Session))
//!               kind 3: scripting state, [u8 sub-kind][rest]: sub-kind 1 = one cached
//!               Lua script, rest = its body (the SHA-1 is recomputed on load);
//!               sub-kind 2 = one function library, rest = postcard(Library)
//!               kind 5: an ACL user, postcard((name bytes, User))
//!               (version 1: [u32 length L][L bytes: keyspace entry record], no kind)
//! end-24  8     footer magic "TNDMEND1"
//! end-16  8     record count
//! end-8   4     CRC32C of every byte before this field
//! end-4   4     zero (reserved)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keyspace::{EntryLoader, Keyspace, Session, Waiter};
use crate::raft::SnapshotMeta;

const MAGIC: &[u8; 8] = b"TNDMSNP1";
const FOOTER_MAGIC: &[u8; 8] = b"TNDMEND1";
/// The version this build writes.
const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads.
const FORMAT_VERSION_MIN: u32 = 1;
const FOOTER_BYTES: usize = 24;
/// Largest header we accept; a bigger length field means corruption, not a real header.
const HEADER_BYTES_MAX: u32 = 16 << 20;
/// Largest single keyspace record we accept (a key plus its whole value).
const RECORD_BYTES_MAX: u32 = 1 << 30;
const FILE_PREFIX: &str = "snapshot-";
const FILE_SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".tmp";

/// Everything besides the keyspace entries that a restore needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    pub meta: SnapshotMeta,
    /// The keyspace-wide version counter (WATCH versions continue from it).
    pub version_counter: u64,
    /// Time of the last applied entry, so the leader's clock stays non-decreasing in the log.
    pub last_time_ms: u64,
}

/// Record kinds (format version 2; version 1 has keyspace entries only, without a kind byte).
const KIND_ENTRY: u8 = 1;
const KIND_WAITER: u8 = 2;
/// Client sessions (exactly-once writes).
const KIND_SESSION: u8 = 4;
const KIND_SCRIPTING: u8 = 3;
/// ACL users.
const KIND_USER: u8 = 5;
/// Sub-kinds of a `KIND_SCRIPTING` record.
const SCRIPTING_SCRIPT: u8 = 1;
/// Scripting sub-kind 2: one function library, postcard(Library).
const SCRIPTING_LIBRARY: u8 = 2;

/// Why a snapshot file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("snapshot I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is not a Tandem snapshot (bad magic)")]
    BadMagic { path: PathBuf },
    #[error(
        "{path} has snapshot format version {version}; this build reads versions {FORMAT_VERSION_MIN} to {FORMAT_VERSION}"
    )]
    UnsupportedVersion { path: PathBuf, version: u32 },
    #[error("{path}: checksum mismatch (expected {expected:#010x}, computed {actual:#010x}); the snapshot is corrupt")]
    ChecksumMismatch {
        path: PathBuf,
        expected: u32,
        actual: u32,
    },
    #[error("{path}: malformed at offset {offset}: {reason}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
}

/// A verified snapshot: its header and where its records start and end in the file.
#[derive(Clone, Debug)]
pub struct SnapshotInfo {
    pub path: PathBuf,
    pub header: SnapshotHeader,
    pub record_count: u64,
    pub file_bytes: u64,
}

/// The file name a snapshot with this id gets.
pub fn file_name(snapshot_id: &str) -> String {
    format!("{FILE_PREFIX}{snapshot_id}{FILE_SUFFIX}")
}

/// Writes `keyspace` as a snapshot into `dir` atomically; returns the final path.
///
/// Runs on a blocking thread: it walks a clone of the keyspace, so writers are never stalled.
pub fn write(
    dir: &Path,
    header: &SnapshotHeader,
    keyspace: &Keyspace,
) -> Result<SnapshotInfo, SnapshotError> {
    let final_path = dir.join(file_name(&header.meta.snapshot_id));
    let temp_path = dir.join(format!(
        "{}{TEMP_SUFFIX}",
        file_name(&header.meta.snapshot_id)
    ));
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Io { path, source }
    };
    let file = File::create(&temp_path).map_err(io_err(&temp_path))?;
    let mut out = CrcWriter::new(BufWriter::with_capacity(1 << 20, file));
    let header_bytes = postcard::to_allocvec(header).expect("snapshot header always encodes");
    out.write_all(MAGIC).map_err(io_err(&temp_path))?;
    out.write_all(&FORMAT_VERSION.to_le_bytes())
        .map_err(io_err(&temp_path))?;
    out.write_all(&(header_bytes.len() as u32).to_le_bytes())
        .map_err(io_err(&temp_path))?;
    out.write_all(&header_bytes).map_err(io_err(&temp_path))?;
    let mut write_record = |kind: u8, record: &[u8]| {
        out.write_all(&(record.len() as u32 + 1).to_le_bytes())?;
        out.write_all(&[kind])?;
        out.write_all(record)
    };
    let mut record_count = keyspace
        .encode_entries(&mut |record: &[u8]| write_record(KIND_ENTRY, record))
        .map_err(io_err(&temp_path))?;
    for waiter in keyspace.waiters() {
        let record = postcard::to_allocvec(&waiter).expect("waiters always encode");
        write_record(KIND_WAITER, &record).map_err(io_err(&temp_path))?;
        record_count += 1;
    }
    for session in keyspace.sessions().iter() {
        let record = postcard::to_allocvec(&session).expect("sessions always encode");
        write_record(KIND_SESSION, &record).map_err(io_err(&temp_path))?;
        record_count += 1;
    }
    let mut scripting_record = Vec::new();
    for body in keyspace.scripts().bodies() {
        scripting_record.clear();
        scripting_record.push(SCRIPTING_SCRIPT);
        scripting_record.extend_from_slice(body);
        write_record(KIND_SCRIPTING, &scripting_record).map_err(io_err(&temp_path))?;
        record_count += 1;
    }
    for user in keyspace.users().iter() {
        let record = postcard::to_allocvec(&user).expect("users always encode");
        write_record(KIND_USER, &record).map_err(io_err(&temp_path))?;
        record_count += 1;
    }
    for library in keyspace.functions().iter() {
        scripting_record.clear();
        scripting_record.push(SCRIPTING_LIBRARY);
        scripting_record
            .extend_from_slice(&postcard::to_allocvec(library).expect("libraries always encode"));
        write_record(KIND_SCRIPTING, &scripting_record).map_err(io_err(&temp_path))?;
        record_count += 1;
    }
    out.write_all(FOOTER_MAGIC).map_err(io_err(&temp_path))?;
    out.write_all(&record_count.to_le_bytes())
        .map_err(io_err(&temp_path))?;
    let crc = out.crc;
    let mut inner = out.into_inner();
    inner
        .write_all(&crc.to_le_bytes())
        .and_then(|_| inner.write_all(&0u32.to_le_bytes()))
        .map_err(io_err(&temp_path))?;
    let file = inner
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_err(&temp_path))?;
    file.sync_all().map_err(io_err(&temp_path))?;
    let file_bytes = file.metadata().map_err(io_err(&temp_path))?.len();
    drop(file);
    fs::rename(&temp_path, &final_path).map_err(io_err(&final_path))?;
    sync_dir(dir).map_err(io_err(dir))?;
    Ok(SnapshotInfo {
        path: final_path,
        header: header.clone(),
        record_count,
        file_bytes,
    })
}

/// Reads and verifies a snapshot file, rebuilding its keyspace.
pub fn load(path: &Path) -> Result<(SnapshotInfo, Keyspace), SnapshotError> {
    let mut keyspace = Keyspace::new();
    let mut loader = EntryLoader::new();
    let mut waiters = Vec::new();
    let malformed = |offset: u64, reason: String| SnapshotError::Malformed {
        path: path.to_path_buf(),
        offset,
        reason,
    };
    let info = scan(path, |kind, record, offset| match kind {
        KIND_ENTRY => loader
            .push(record)
            .map_err(|e| malformed(offset, e.to_string())),
        KIND_WAITER => {
            let waiter: Waiter = postcard::from_bytes(record)
                .map_err(|e| malformed(offset, format!("blocked client does not decode: {e}")))?;
            waiters.push(waiter);
            Ok(())
        }
        KIND_SESSION => {
            let (id, session): (u64, Session) = postcard::from_bytes(record)
                .map_err(|e| malformed(offset, format!("session does not decode: {e}")))?;
            keyspace.sessions_mut().restore(id, session);
            Ok(())
        }
        KIND_SCRIPTING => match record.split_first() {
            Some((&SCRIPTING_SCRIPT, body)) => {
                keyspace
                    .scripts_mut()
                    .insert(bytes::Bytes::copy_from_slice(body));
                Ok(())
            }
            Some((&SCRIPTING_LIBRARY, payload)) => {
                let library: crate::keyspace::Library = postcard::from_bytes(payload)
                    .map_err(|e| malformed(offset, format!("library does not decode: {e}")))?;
                keyspace
                    .functions_mut()
                    .add(vec![library], false)
                    .map_err(|e| malformed(offset, format!("library conflicts: {e:?}")))
            }
            _ => Err(malformed(offset, "unknown scripting record".to_string())),
        },
        KIND_USER => {
            let (name, user): (bytes::Bytes, crate::keyspace::User) = postcard::from_bytes(record)
                .map_err(|e| malformed(offset, format!("ACL user does not decode: {e}")))?;
            keyspace.users_mut().restore(name, user);
            Ok(())
        }
        other => Err(malformed(
            offset,
            format!("unknown record kind {other} (written by a newer Tandem?)"),
        )),
    })?;
    keyspace
        .finish_loading(loader)
        .map_err(|e| malformed(info.file_bytes, e.to_string()))?;
    keyspace.set_version_counter(info.header.version_counter);
    keyspace
        .set_waiters(waiters)
        .map_err(|e| malformed(16, format!("blocked clients do not load: {e:?}")))?;
    Ok((info, keyspace))
}

/// Verifies a snapshot file's checksum and structure without building a keyspace.
pub fn verify(path: &Path) -> Result<SnapshotInfo, SnapshotError> {
    scan(path, |_, _, _| Ok(()))
}

/// Walks a snapshot file: checks the whole-file checksum first, then hands each record to `each`
/// with its kind (always `KIND_ENTRY` in a version 1 file) and offset.
fn scan(
    path: &Path,
    mut each: impl FnMut(u8, &[u8], u64) -> Result<(), SnapshotError>,
) -> Result<SnapshotInfo, SnapshotError> {
    let malformed = |offset: u64, reason: &str| SnapshotError::Malformed {
        path: path.to_path_buf(),
        offset,
        reason: reason.to_string(),
    };
    let io_error = |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Mapped, not read into a buffer: a restart neither copies the file nor leaves a buffer of
    // its size in the allocator's retained pages (counted in RSS until they decay); the mapped
    // pages go with the map.
    let file = File::open(path).map_err(io_error)?;
    let file_len = file.metadata().map_err(io_error)?.len();
    if file_len < (16 + FOOTER_BYTES) as u64 {
        return Err(SnapshotError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    // SAFETY: a snapshot file is complete (written, fsynced and closed) before anything reads
    // it, and never written again: a node writes under a temporary name and renames, a
    // received snapshot is copied into a file of its own first. So the mapped bytes do not
    // change while they are read (a file removed meanwhile stays mapped); another process
    // writing into the directory is outside the supported operation, as for the WAL.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_error)?;
    let bytes: &[u8] = &map;
    let file_bytes = bytes.len() as u64;
    if bytes.len() < 16 + FOOTER_BYTES || &bytes[..8] != MAGIC {
        return Err(SnapshotError::BadMagic {
            path: path.to_path_buf(),
        });
    }
    // Footer: [magic 8][count 8][crc 4][reserved 4] at the very end.
    let footer = &bytes[bytes.len() - FOOTER_BYTES..];
    let expected = u32::from_le_bytes(footer[16..20].try_into().expect("4 bytes"));
    let actual = crc32c::crc32c(&bytes[..bytes.len() - 8]);
    if expected != actual {
        return Err(SnapshotError::ChecksumMismatch {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    if &footer[..8] != FOOTER_MAGIC {
        return Err(malformed(
            file_bytes - FOOTER_BYTES as u64,
            "bad footer magic",
        ));
    }
    let record_count = u64::from_le_bytes(footer[8..16].try_into().expect("8 bytes"));
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(FORMAT_VERSION_MIN..=FORMAT_VERSION).contains(&version) {
        return Err(SnapshotError::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let body_end = bytes.len() - FOOTER_BYTES;
    if header_len > HEADER_BYTES_MAX || 16 + header_len as usize > body_end {
        return Err(malformed(12, "header length out of range"));
    }
    let header: SnapshotHeader = postcard::from_bytes(&bytes[16..16 + header_len as usize])
        .map_err(|e| malformed(16, &format!("header does not decode: {e}")))?;
    let mut offset = 16 + header_len as usize;
    let mut seen = 0u64;
    while offset < body_end {
        if body_end - offset < 4 {
            return Err(malformed(offset as u64, "truncated record length"));
        }
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"));
        if len > RECORD_BYTES_MAX || (len as usize) > body_end - offset - 4 {
            return Err(malformed(offset as u64, "record length out of range"));
        }
        let start = offset + 4;
        let record = &bytes[start..start + len as usize];
        if version == 1 {
            each(KIND_ENTRY, record, start as u64)?;
        } else {
            let Some((&kind, payload)) = record.split_first() else {
                return Err(malformed(offset as u64, "record without a kind"));
            };
            each(kind, payload, start as u64 + 1)?;
        }
        offset = start + len as usize;
        seen += 1;
    }
    if seen != record_count {
        return Err(malformed(
            body_end as u64,
            &format!("footer says {record_count} records, found {seen}"),
        ));
    }
    Ok(SnapshotInfo {
        path: path.to_path_buf(),
        header,
        record_count,
        file_bytes,
    })
}

/// Snapshot files in `dir`, newest (highest last log index) first. Temporary files are ignored.
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for item in fs::read_dir(dir)? {
        let path = item?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with(FILE_PREFIX) && name.ends_with(FILE_SUFFIX) {
            found.push(path);
        }
    }
    // Ids are "<term>-<index>-<seq>" with fixed-width numbers, so name order is log order.
    found.sort();
    found.reverse();
    Ok(found)
}

/// Removes leftovers of interrupted writes and every snapshot but `keep`.
pub fn remove_others(dir: &Path, keep: &Path) -> io::Result<()> {
    for item in fs::read_dir(dir)? {
        let path = item?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let ours = name.starts_with(FILE_PREFIX) || name.starts_with("incoming");
        if ours && path != keep {
            fs::remove_file(&path)?;
        }
    }
    sync_dir(dir)
}

/// fsyncs a directory so that renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    OpenOptions::new().read(true).open(dir)?.sync_all()
}

/// Snapshot id for a log position: fixed-width so that file names sort in log order.
pub fn snapshot_id(term: u64, index: u64, seq: u64) -> String {
    format!("{term:020}-{index:020}-{seq:06}")
}

struct CrcWriter<W: Write> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    fn new(inner: W) -> Self {
        Self { inner, crc: 0 }
    }
    fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::keyspace::{BlockedPop, ListEnd, WaiterId};

    fn header(id: &str) -> SnapshotHeader {
        SnapshotHeader {
            meta: SnapshotMeta {
                snapshot_id: id.into(),
                ..Default::default()
            },
            version_counter: 7,
            last_time_ms: 1_000,
        }
    }

    fn waiter() -> Waiter {
        Waiter {
            id: WaiterId {
                node: 1,
                client: 2,
                request: 3,
            },
            keys: vec![Bytes::from("queue")],
            pop: BlockedPop::List {
                side: ListEnd::Left,
                count: None,
            },
            term: 4,
        }
    }

    #[test]
    fn blocked_clients_survive_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut keyspace = Keyspace::new();
        keyspace.set_version_counter(7);
        keyspace.set_waiters(vec![waiter()]).unwrap();
        let info = write(dir.path(), &header("a"), &keyspace).unwrap();
        assert_eq!(info.record_count, 1);
        let (_, restored) = load(&info.path).unwrap();
        assert_eq!(restored.waiters(), vec![waiter()]);
        assert_eq!(restored.digest(), keyspace.digest());
    }

    #[test]
    fn cached_scripts_survive_a_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut keyspace = Keyspace::new();
        keyspace.set_version_counter(7);
        let empty_digest = keyspace.digest();
        let sha = keyspace.scripts_mut().insert(Bytes::from("return 1"));
        keyspace.scripts_mut().insert(Bytes::from("return 2"));
        assert_ne!(keyspace.digest(), empty_digest, "scripts are in the digest");
        let info = write(dir.path(), &header("s"), &keyspace).unwrap();
        assert_eq!(info.record_count, 2);
        let (_, restored) = load(&info.path).unwrap();
        assert_eq!(restored.scripts().get(&sha).unwrap(), "return 1");
        assert_eq!(restored.scripts().len(), 2);
        assert_eq!(restored.digest(), keyspace.digest());
    }

    #[test]
    fn acl_users_survive_a_snapshot() {
        use crate::keyspace::{password_hash, Rule};
        let dir = tempfile::tempdir().unwrap();
        let mut keyspace = Keyspace::new();
        keyspace.set_version_counter(7);
        let empty_digest = keyspace.digest();
        let rules = [
            Rule::On,
            Rule::AddPassword(password_hash(b"pw")),
            Rule::Command("+@read".into()),
        ];
        keyspace
            .users_mut()
            .set_user(&Bytes::from("alice"), None, &rules)
            .unwrap();
        assert_ne!(keyspace.digest(), empty_digest, "users are in the digest");
        let info = write(dir.path(), &header("u"), &keyspace).unwrap();
        assert_eq!(info.record_count, 1);
        let (_, restored) = load(&info.path).unwrap();
        assert_eq!(restored.users(), keyspace.users());
        assert!(restored.users().get(b"alice").unwrap().password_ok(b"pw"));
        assert_eq!(restored.digest(), keyspace.digest());
    }

    #[test]
    fn function_libraries_survive_a_snapshot() {
        use crate::keyspace::{FunctionInfo, Library};
        let dir = tempfile::tempdir().unwrap();
        let mut keyspace = Keyspace::new();
        keyspace.set_version_counter(7);
        let empty_digest = keyspace.digest();
        let library = Library {
            name: "Lib".into(),
            code: Bytes::from("#!lua name=Lib\nredis.register_function('f', function() end)"),
            functions: vec![FunctionInfo {
                name: "f".into(),
                description: Some("d".into()),
                flags: vec!["no-writes".into()],
            }],
        };
        keyspace
            .functions_mut()
            .add(vec![library.clone()], false)
            .unwrap();
        assert_ne!(
            keyspace.digest(),
            empty_digest,
            "libraries are in the digest"
        );
        let info = write(dir.path(), &header("f"), &keyspace).unwrap();
        assert_eq!(info.record_count, 1);
        let (_, restored) = load(&info.path).unwrap();
        assert_eq!(restored.functions().get("lib"), Some(&library));
        assert_eq!(restored.functions().function("F").unwrap().1.name, "f");
        assert_eq!(restored.digest(), keyspace.digest());
    }

    /// Format version 1 (keyspace records without a kind byte) is still read; a version from
    /// the future is refused with both versions named.
    #[test]
    fn version_1_is_read_and_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = Keyspace::new();
        let mut entries = Vec::new();
        let set = crate::command::Command::parse(&[
            Bytes::from("SET"),
            Bytes::from("k"),
            Bytes::from("v"),
        ])
        .unwrap();
        set.apply(&mut source, &mut crate::command::Cx::new(0, 0));
        source
            .encode_entries(&mut |record: &[u8]| {
                entries.push(record.to_vec());
                Ok(())
            })
            .unwrap();
        let write_version = |version: u32, header_bytes: &[u8], name: &str| {
            let mut bytes = Vec::new();
            bytes.extend_from_slice(MAGIC);
            bytes.extend_from_slice(&version.to_le_bytes());
            bytes.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
            bytes.extend_from_slice(header_bytes);
            for record in &entries {
                bytes.extend_from_slice(&(record.len() as u32).to_le_bytes());
                bytes.extend_from_slice(record);
            }
            bytes.extend_from_slice(FOOTER_MAGIC);
            bytes.extend_from_slice(&(entries.len() as u64).to_le_bytes());
            let crc = crc32c::crc32c(&bytes);
            bytes.extend_from_slice(&crc.to_le_bytes());
            bytes.extend_from_slice(&0u32.to_le_bytes());
            let path = dir.path().join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        let v1 = postcard::to_allocvec(&header("v1")).unwrap();
        let (info, keyspace) = load(&write_version(1, &v1, "v1.snap")).unwrap();
        assert_eq!(info.header.version_counter, 7);
        assert_eq!(keyspace.len(), 1);
        assert_eq!(keyspace.version_counter(), 7);

        let v3 = postcard::to_allocvec(&header("c")).unwrap();
        let error = load(&write_version(3, &v3, "v3.snap")).unwrap_err();
        assert!(matches!(
            error,
            SnapshotError::UnsupportedVersion { version: 3, .. }
        ));
        assert!(
            error.to_string().contains("reads versions 1 to 2"),
            "{error}"
        );
    }
}
