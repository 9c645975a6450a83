//! The WAL's error type.
//!
//! Owns the split between *rejected* requests (the caller can fix them and the log is intact)
//! and *fatal* conditions (I/O failure, corruption): every fatal variant that can stop a node
//! names the file, the offset and the documented way out.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// What an operator can do when `open` refuses a damaged log; part of every corruption message.
pub const CORRUPTION_WAY_OUT: &str = "the node refuses to start; restore this node from a peer \
     or snapshot, or, accepting the loss of every record from this offset on, run \
     `tandem inspect --truncate-at <segment>:<offset> <dir>` (see docs/formats.md, WAL recovery)";

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file-system call failed outside the writer thread (open, recovery, inspect).
    #[error("wal i/o error: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A write, fsync or other device call failed earlier; the log accepts nothing more.
    #[error("wal poisoned by a previous I/O error ({cause}); the failed fsync is never retried, reopen the log to recover the durable prefix")]
    Poisoned {
        #[source]
        cause: Arc<io::Error>,
    },

    /// A record's CRC32C does not match its bytes, and the damage is not a torn tail.
    #[error("wal corrupt: checksum mismatch in segment {segment} at offset {offset} (stored {expected:#010x}, computed {actual:#010x}); {way_out}", way_out = CORRUPTION_WAY_OUT)]
    ChecksumMismatch {
        segment: String,
        offset: u64,
        expected: u32,
        actual: u32,
    },

    /// A record (or a segment's first index) does not continue the previous index.
    #[error("wal corrupt: index gap in segment {segment} at offset {offset} (expected index {expected}, found {actual}); {way_out}", way_out = CORRUPTION_WAY_OUT)]
    IndexGap {
        segment: String,
        offset: u64,
        expected: u64,
        actual: u64,
    },

    /// Bytes that are neither a valid record nor zeroes where the log must be intact.
    #[error("wal corrupt: damaged record in segment {segment} at offset {offset} ({reason}); {way_out}", way_out = CORRUPTION_WAY_OUT)]
    DamagedRecord {
        segment: String,
        offset: u64,
        reason: String,
    },

    /// A segment header is unreadable (magic, version, checksum or sequence number).
    #[error("wal corrupt: bad header in segment {segment} at offset 0 ({reason}); {way_out}", way_out = CORRUPTION_WAY_OUT)]
    BadSegmentHeader { segment: String, reason: String },

    /// Segment sequence numbers are not consecutive: a segment in the middle is missing.
    #[error("wal corrupt: segment with sequence {expected_seq} missing between {before} and {after} (offset 0 of {after}); {way_out}", way_out = CORRUPTION_WAY_OUT)]
    MissingSegment {
        before: String,
        after: String,
        expected_seq: u64,
    },

    /// The metadata file exists but does not verify.
    #[error("wal corrupt: metadata file {path} is damaged ({reason}); restore this node from a peer or snapshot")]
    MetaCorrupt { path: PathBuf, reason: String },

    /// Rejected: an append does not continue the log.
    #[error("wal append rejected: expected index {expected}, got {actual}")]
    IndexNotConsecutive { expected: u64, actual: u64 },

    /// Rejected: one record cannot fit in a segment.
    #[error("wal append rejected: record {index} needs {record_bytes} bytes, at most {record_bytes_max} fit in a segment")]
    RecordTooLarge {
        index: u64,
        record_bytes: u64,
        record_bytes_max: u64,
    },

    /// Rejected: a read asked for records the log no longer holds (purged or truncated), or
    /// never held.
    #[error("wal read: record {index} is not in the log ({reason})")]
    NotInLog { index: u64, reason: String },

    /// Rejected: the options cannot work.
    #[error("invalid wal options: {reason}")]
    InvalidOptions { reason: String },

    /// The log was closed, or its writer thread is gone.
    #[error("wal closed")]
    Closed,
}

impl WalError {
    /// Wraps an `io::Error` from a named operation on a named path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WalError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True for conditions that must stop the node (as opposed to rejected requests).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            WalError::IndexNotConsecutive { .. }
                | WalError::RecordTooLarge { .. }
                | WalError::NotInLog { .. }
                | WalError::InvalidOptions { .. }
        )
    }
}
