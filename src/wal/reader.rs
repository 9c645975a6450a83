//! Reading segment files back: listing a log directory, mapping its segments, and reading a
//! range of records by index for a live log.
//!
//! Owns the read side of the format for recovery, `inspect`, tools and the raft log store's
//! read-back. Invariant: segments are returned in sequence-number order and are only read,
//! never modified, here; a record is handed out only after its checksum and index verify.

use std::path::{Path, PathBuf};

use super::error::WalError;
use super::record::{decode_record, skip_record, Record, RecordProblem};
use super::segment::{
    decode_segment, parse_segment_file_name, SegmentHeader, SegmentScan, SEGMENT_HEADER_BYTES,
};
use super::vfs::{FileBytes, Vfs};

/// One segment file's name and content (memory-mapped on real files).
pub struct SegmentImage {
    pub seq: u64,
    pub name: String,
    pub path: PathBuf,
    pub bytes: FileBytes,
}

impl SegmentImage {
    /// Scans the image; `Err` carries why the header is unreadable.
    pub fn scan(&self) -> Result<SegmentScan, String> {
        decode_segment(&self.bytes)
    }
}

/// Sequence numbers and names of the segment files in `dir`, in order.
pub fn list_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<(u64, String)>, WalError> {
    let names = vfs.list(dir).map_err(|e| WalError::io("list", dir, e))?;
    let mut segments: Vec<(u64, String)> = names
        .into_iter()
        .filter_map(|name| parse_segment_file_name(&name).map(|seq| (seq, name)))
        .collect();
    segments.sort();
    Ok(segments)
}

/// Every segment of `dir`, in order, with its content.
pub fn read_segments(vfs: &dyn Vfs, dir: &Path) -> Result<Vec<SegmentImage>, WalError> {
    list_segments(vfs, dir)?
        .into_iter()
        .map(|(seq, name)| {
            let path = dir.join(&name);
            let bytes = vfs
                .read_whole(&path)
                .map_err(|e| WalError::io("read", &path, e))?;
            Ok(SegmentImage {
                seq,
                name,
                path,
                bytes,
            })
        })
        .collect()
}

fn read_image(
    vfs: &dyn Vfs,
    dir: &Path,
    name: &str,
) -> Result<(FileBytes, SegmentHeader), WalError> {
    let path = dir.join(name);
    let bytes = vfs
        .read_whole(&path)
        .map_err(|e| WalError::io("read", &path, e))?;
    let header = SegmentHeader::decode(&bytes).map_err(|reason| WalError::BadSegmentHeader {
        segment: name.to_string(),
        reason,
    })?;
    Ok((bytes, header))
}

/// Reads the records with indexes `from..until` from the segments of the live log in `dir`.
///
/// The records come back consecutive from `from`; fewer than asked if the log ends first, or
/// once `payload_bytes_max` bytes of payload are read (the first record always comes whole).
/// Records before `from` in its segment are skipped by their headers alone; every record
/// returned has its checksum and index verified. The caller keeps the range stable meanwhile
/// (no truncate or purge of it, every record in it written), as the raft log store does.
pub(crate) fn read_range(
    vfs: &dyn Vfs,
    dir: &Path,
    from: u64,
    until: u64,
    payload_bytes_max: usize,
) -> Result<Vec<Record>, WalError> {
    let mut records = Vec::new();
    if from >= until {
        return Ok(records);
    }
    let segments = list_segments(vfs, dir)?;
    // The newest segment that starts at or before `from`; none older than a RESET segment.
    let mut start = None;
    for (pos, (_, name)) in segments.iter().enumerate().rev() {
        let (bytes, header) = read_image(vfs, dir, name)?;
        if header.first_index <= from {
            start = Some((pos, bytes, header));
            break;
        }
        if header.is_reset() {
            break;
        }
    }
    let Some((mut pos, mut bytes, header)) = start else {
        return Err(WalError::NotInLog {
            index: from,
            reason: "no segment holds it".into(),
        });
    };
    let mut expected = header.first_index;
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut payload_bytes = 0usize;
    while expected < until && (records.is_empty() || payload_bytes < payload_bytes_max) {
        let name = &segments[pos].1;
        match skip_record(&bytes, offset) {
            Some((index, next)) if index == expected => {
                if index >= from {
                    let decoded =
                        decode_record(&bytes, offset).map_err(|problem| match problem {
                            RecordProblem::ChecksumMismatch { expected, actual } => {
                                WalError::ChecksumMismatch {
                                    segment: name.clone(),
                                    offset: offset as u64,
                                    expected,
                                    actual,
                                }
                            }
                            other => WalError::DamagedRecord {
                                segment: name.clone(),
                                offset: offset as u64,
                                reason: format!("{other:?}"),
                            },
                        })?;
                    payload_bytes += decoded.record.payload.len();
                    records.push(decoded.record);
                }
                offset = next;
                expected += 1;
            }
            Some((index, _)) => {
                return Err(WalError::IndexGap {
                    segment: name.clone(),
                    offset: offset as u64,
                    expected,
                    actual: index,
                })
            }
            None => {
                // The end of this segment's records: the log goes on in the next one, if any.
                pos += 1;
                let Some((_, next_name)) = segments.get(pos) else {
                    break;
                };
                let (next_bytes, next_header) = read_image(vfs, dir, next_name)?;
                if next_header.first_index != expected {
                    return Err(WalError::IndexGap {
                        segment: next_name.clone(),
                        offset: 0,
                        expected,
                        actual: next_header.first_index,
                    });
                }
                bytes = next_bytes;
                offset = SEGMENT_HEADER_BYTES;
            }
        }
    }
    if records.is_empty() {
        return Err(WalError::NotInLog {
            index: from,
            reason: format!("the log ends at index {}", expected.saturating_sub(1)),
        });
    }
    Ok(records)
}
