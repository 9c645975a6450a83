//! WAL archiving: a copy of every sealed segment (and, on demand, of the active one) in an
//! archive directory, for point-in-time restore (`tandem restore --wal-archive`).
//!
//! Owns the archive file format and the archiver thread. Invariants: an archive file is
//! written under a temporary name, fsynced and renamed, so a listed file is complete; files are
//! numbered in the order they were archived (a later file that starts at index `i` replaces
//! every archived entry from `i` on, as a truncation replaced them in the log); the writer
//! never deletes a segment the archiver has not copied yet (`is_pending`, `wait_idle`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::record::Record;
use super::segment::{decode_segment, SEGMENT_HEADER_BYTES};
use super::vfs::Vfs;
use super::{Completion, WalError};

/// Identifies the trailer of an archive file.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"TNDMARC\0";
/// Bumped on any incompatible change of the archive file layout.
pub const ARCHIVE_FORMAT_VERSION: u32 = 1;
/// Bytes of the trailer after the segment image.
pub const ARCHIVE_TRAILER_BYTES: usize = 24;
/// How long the archiver waits before trying a failed copy again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

const ARCHIVE_PREFIX: &str = "archive-";
const ARCHIVE_SUFFIX: &str = ".walarc";
const PARTIAL_SUFFIX: &str = ".partial";

// Archive file layout: the archived segment's bytes up to the end of its last valid record
// (the 40-byte segment header, then the records, docs/formats.md), then a trailer:
//
//   offset       size  field
//   0            n     image          segment header + records (no zero tail)
//   n            8     magic          "TNDMARC\0"
//   n+8          4     version        u32 = 1
//   n+12         4     image_crc      u32, CRC32C of bytes 0..n
//   n+16         8     image_bytes    u64 = n
//
// Name: archive-<ordinal:020>-<first index:020>-<last index:020>.walarc.

/// One archive file, as its name describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Position in archiving order (1, 2, ...).
    pub ordinal: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub path: PathBuf,
}

/// Why an archive file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the archive file is corrupt"
    )]
    ChecksumMismatch {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("{path}: not a usable WAL archive file: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// File name of an archive file.
pub fn archive_file_name(ordinal: u64, first_index: u64, last_index: u64) -> String {
    format!("{ARCHIVE_PREFIX}{ordinal:020}-{first_index:020}-{last_index:020}{ARCHIVE_SUFFIX}")
}

fn parse_archive_file_name(name: &str) -> Option<(u64, u64, u64)> {
    let body = name
        .strip_prefix(ARCHIVE_PREFIX)?
        .strip_suffix(ARCHIVE_SUFFIX)?;
    let mut parts = body.split('-');
    let mut number = || -> Option<u64> {
        let digits = parts.next()?;
        (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())?
    };
    let parsed = (number()?, number()?, number()?);
    parts.next().is_none().then_some(parsed)
}

/// The archive files of `dir`, in archiving order.
pub fn list_archive(dir: &Path) -> io::Result<Vec<ArchiveFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((ordinal, first_index, last_index)) =
            name.to_str().and_then(parse_archive_file_name)
        else {
            continue;
        };
        files.push(ArchiveFile {
            ordinal,
            first_index,
            last_index,
            path: entry.path(),
        });
    }
    files.sort_by_key(|f| f.ordinal);
    Ok(files)
}

/// Reads an archive file, checks its trailer, checksum and name, and returns its records.
pub fn read_archive(file: &ArchiveFile) -> Result<Vec<Record>, ArchiveError> {
    let path = &file.path;
    let bytes = fs::read(path).map_err(|source| ArchiveError::Io {
        path: path.clone(),
        source,
    })?;
    let malformed = |reason: String| ArchiveError::Malformed {
        path: path.clone(),
        reason,
    };
    let Some(image_bytes) = bytes.len().checked_sub(ARCHIVE_TRAILER_BYTES) else {
        return Err(malformed(format!("only {} bytes long", bytes.len())));
    };
    let (image, trailer) = bytes.split_at(image_bytes);
    let le32 = |at: usize| u32::from_le_bytes(trailer[at..at + 4].try_into().expect("4 bytes"));
    if trailer[0..8] != ARCHIVE_MAGIC {
        return Err(malformed(
            "bad trailer magic (truncated or not an archive file)".into(),
        ));
    }
    let version = le32(8);
    if version != ARCHIVE_FORMAT_VERSION {
        return Err(malformed(format!(
            "archive format version {version}; this build reads version {ARCHIVE_FORMAT_VERSION}"
        )));
    }
    let stored_bytes = u64::from_le_bytes(trailer[16..24].try_into().expect("8 bytes"));
    if stored_bytes != image_bytes as u64 {
        return Err(malformed(format!(
            "trailer says {stored_bytes} bytes of segment, the file holds {image_bytes}"
        )));
    }
    let stored = le32(12);
    let computed = crc32c::crc32c(image);
    if stored != computed {
        return Err(ArchiveError::ChecksumMismatch {
            path: path.clone(),
            stored,
            computed,
        });
    }
    let scan = decode_segment(image).map_err(malformed)?;
    if scan.end_offset != image_bytes as u64 {
        return Err(malformed(format!(
            "records end at offset {} of {image_bytes}",
            scan.end_offset
        )));
    }
    let records: Vec<Record> = scan.records.into_iter().map(|(_, r)| r).collect();
    let range = records.first().zip(records.last());
    if range.map(|(f, l)| (f.index, l.index)) != Some((file.first_index, file.last_index)) {
        return Err(malformed(format!(
            "its name says entries {}..={} but it holds {:?}",
            file.first_index,
            file.last_index,
            range.map(|(f, l)| f.index..=l.index)
        )));
    }
    Ok(records)
}

/// Copies the valid records of the segment at `path` into `dir` as archive file `ordinal`.
/// `Ok(None)`: the segment holds no record (or is gone), nothing to archive.
fn archive_segment(
    vfs: &dyn Vfs,
    path: &Path,
    dir: &Path,
    ordinal: u64,
) -> io::Result<Option<ArchiveFile>> {
    let bytes = match vfs.read_whole(path) {
        Ok(bytes) => bytes,
        // A truncate removed it: its entries were discarded from the log.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let scan = decode_segment(&bytes)
        .map_err(|reason| io::Error::other(format!("{}: {reason}", path.display())))?;
    let (Some((_, first)), Some((_, last))) = (scan.records.first(), scan.records.last()) else {
        return Ok(None);
    };
    let image = &bytes[..scan.end_offset as usize];
    debug_assert!(image.len() >= SEGMENT_HEADER_BYTES);
    let name = archive_file_name(ordinal, first.index, last.index);
    let target = dir.join(&name);
    let temp = dir.join(format!("{name}{PARTIAL_SUFFIX}"));
    let mut trailer = [0u8; ARCHIVE_TRAILER_BYTES];
    trailer[0..8].copy_from_slice(&ARCHIVE_MAGIC);
    trailer[8..12].copy_from_slice(&ARCHIVE_FORMAT_VERSION.to_le_bytes());
    trailer[12..16].copy_from_slice(&crc32c::crc32c(image).to_le_bytes());
    trailer[16..24].copy_from_slice(&(image.len() as u64).to_le_bytes());
    let mut file = File::create(&temp)?;
    file.write_all(image)?;
    file.write_all(&trailer)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, &target)?;
    File::open(dir)?.sync_all()?;
    Ok(Some(ArchiveFile {
        ordinal,
        first_index: first.index,
        last_index: last.index,
        path: target,
    }))
}

struct Job {
    seq: u64,
    path: PathBuf,
    /// Told the outcome (on-demand archiving of the active segment).
    done: Option<Completion>,
}

#[derive(Default)]
struct State {
    /// Segment sequence numbers queued or being copied, with how many times each is queued.
    pending: BTreeMap<u64, usize>,
    /// Highest entry index archived so far (0 = none).
    archived_index_max: u64,
}

/// The archiver thread and what the writer asks of it.
pub(crate) struct Archiver {
    tx: Mutex<Option<Sender<Job>>>,
    state: Arc<(Mutex<State>, Condvar)>,
    stopping: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Archiver {
    /// Opens (creating) the archive directory and starts the thread.
    pub fn start(vfs: Arc<dyn Vfs>, dir: &Path) -> Result<Archiver, WalError> {
        let io_err = |what: &'static str| move |e| WalError::io(what, dir, e);
        fs::create_dir_all(dir).map_err(io_err("create archive dir"))?;
        for entry in fs::read_dir(dir).map_err(io_err("list archive dir"))? {
            let path = entry.map_err(io_err("list archive dir"))?.path();
            if path.to_string_lossy().ends_with(PARTIAL_SUFFIX) {
                fs::remove_file(&path).map_err(io_err("remove partial archive file"))?;
            }
        }
        let files = list_archive(dir).map_err(io_err("list archive dir"))?;
        let next_ordinal = files.last().map_or(1, |f| f.ordinal + 1);
        let state = Arc::new((
            Mutex::new(State {
                pending: BTreeMap::new(),
                archived_index_max: files.iter().map(|f| f.last_index).max().unwrap_or(0),
            }),
            Condvar::new(),
        ));
        let stopping = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let thread = {
            let (dir, state, stopping) = (dir.to_path_buf(), state.clone(), stopping.clone());
            std::thread::Builder::new()
                .name("tandem-wal-archiver".into())
                .spawn(move || run(&*vfs, &dir, next_ordinal, rx, &state, &stopping))
                .map_err(io_err("spawn archiver thread"))?
        };
        Ok(Archiver {
            tx: Mutex::new(Some(tx)),
            state,
            stopping,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Highest entry index in the archive when it was opened or archived since.
    pub fn archived_index_max(&self) -> u64 {
        self.state
            .0
            .lock()
            .expect("archive state")
            .archived_index_max
    }

    /// Queues a copy of segment `seq` at `path`; `done` (if any) hears the outcome.
    pub fn submit(&self, seq: u64, path: PathBuf, done: Option<Completion>) {
        *self
            .state
            .0
            .lock()
            .expect("archive state")
            .pending
            .entry(seq)
            .or_default() += 1;
        let job = Job { seq, path, done };
        let sent = match self.tx.lock().expect("archive queue").as_ref() {
            Some(tx) => tx.send(job).map_err(|mpsc::SendError(job)| job),
            None => Err(job),
        };
        if let Err(job) = sent {
            self.finish(job.seq);
            if let Some(done) = job.done {
                done(Err(WalError::Closed));
            }
        }
    }

    fn finish(&self, seq: u64) {
        finish(&self.state, seq, 0);
    }

    /// True while segment `seq` is queued or being copied: it must not be deleted yet.
    pub fn is_pending(&self, seq: u64) -> bool {
        self.state
            .0
            .lock()
            .expect("archive state")
            .pending
            .contains_key(&seq)
    }

    /// Blocks until every queued copy is done.
    pub fn wait_idle(&self) {
        let (lock, idle) = &*self.state;
        let mut state = lock.lock().expect("archive state");
        while !state.pending.is_empty() {
            state = idle.wait(state).expect("archive state");
        }
    }

    /// Finishes the queued copies (a copy that keeps failing is given up, with an error in the
    /// log) and stops the thread.
    pub fn stop(&self) {
        self.tx.lock().expect("archive queue").take();
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.lock().expect("archiver thread").take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn finish(state: &(Mutex<State>, Condvar), seq: u64, archived_last: u64) {
    let (lock, idle) = state;
    let mut state = lock.lock().expect("archive state");
    if let Some(count) = state.pending.get_mut(&seq) {
        *count -= 1;
        if *count == 0 {
            state.pending.remove(&seq);
        }
    }
    state.archived_index_max = state.archived_index_max.max(archived_last);
    idle.notify_all();
}

fn run(
    vfs: &dyn Vfs,
    dir: &Path,
    mut next_ordinal: u64,
    rx: Receiver<Job>,
    state: &(Mutex<State>, Condvar),
    stopping: &AtomicBool,
) {
    for job in rx {
        let mut done = job.done;
        let outcome = loop {
            match archive_segment(vfs, &job.path, dir, next_ordinal) {
                Ok(outcome) => break Ok(outcome),
                Err(e) => {
                    tracing::error!(
                        segment = %job.path.display(),
                        archive = %dir.display(),
                        error = %e,
                        "wal archive: copying a segment failed; the segment is kept until it is archived, retrying"
                    );
                    if let Some(done) = done.take() {
                        done(Err(WalError::io(
                            "archive",
                            &job.path,
                            io::Error::other(e.to_string()),
                        )));
                    }
                    if stopping.load(Ordering::Relaxed) {
                        break Err(e);
                    }
                    std::thread::sleep(RETRY_INTERVAL);
                }
            }
        };
        let archived_last = match &outcome {
            Ok(Some(file)) => {
                next_ordinal += 1;
                tracing::debug!(file = %file.path.display(), "wal archive: segment archived");
                file.last_index
            }
            _ => 0,
        };
        finish(state, job.seq, archived_last);
        if let Some(done) = done {
            done(Ok(()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_round_trip() {
        let name = archive_file_name(3, 17, 42);
        assert_eq!(parse_archive_file_name(&name), Some((3, 17, 42)));
        assert_eq!(parse_archive_file_name("archive-1-2-3.walarc"), None);
        assert_eq!(
            parse_archive_file_name(&format!("{name}{PARTIAL_SUFFIX}")),
            None
        );
    }
}
