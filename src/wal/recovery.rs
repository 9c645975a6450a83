//! Recovery on open, `inspect`, and the operator's `truncate-at` repair.
//!
//! Owns the rule that tells a torn tail from corruption (see docs-wal-formats.md): only the
//! last segment may end in damage, and only if no checksum-valid record follows the damage.
//! Invariant: `open` either returns records with consecutive indexes, or refuses to start.

use std::path::Path;

use super::error::WalError;
use super::meta::load_meta;
use super::reader::{read_segments, SegmentImage};
use super::record::{Record, RecordProblem};
use super::segment::{SegmentHeader, SegmentScan, StopReason};
use super::vfs::{Caching, OpenMode, RealFs, Vfs};

/// A damaged end of the last segment that recovery cut off (zeroed on disk and synced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub segment: String,
    pub offset: u64,
    pub bytes_discarded: u64,
}

/// What `Wal::open` found.
#[derive(Debug)]
pub struct Recovery {
    /// All records in the log, consecutive indexes. Records at or below the last purge point
    /// may be included (purge drops whole segments only); the caller filters them.
    pub records: Vec<Record>,
    pub meta: Option<Vec<u8>>,
    pub torn_tail: Option<TornTail>,
    pub segment_count: usize,
}

/// A kept segment as the writer needs to know it.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    pub seq: u64,
    pub header: SegmentHeader,
    pub last_index: Option<u64>,
    pub end_offset: u64,
    pub file_bytes: u64,
}

/// Findings of one pass over a directory's segments, before anything is changed.
pub(crate) struct Analysis {
    /// Segments older than the newest RESET segment: left by an interrupted truncate/purge.
    pub obsolete: Vec<String>,
    pub kept: Vec<SegmentInfo>,
    pub records: Vec<Record>,
    pub torn_tail: Option<TornTail>,
    pub fatal: Option<WalError>,
    pub reports: Vec<SegmentReport>,
}

/// One segment in an [`InspectReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    pub name: String,
    pub seq: u64,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub records: u64,
    /// Header plus valid records.
    pub bytes_used: u64,
    pub file_bytes: u64,
    /// True if this segment starts a new log (older segments are obsolete).
    pub reset: bool,
    pub problems: Vec<String>,
}

/// What `tandem inspect DIR` prints: every segment, and what `open` would do.
#[derive(Clone, Debug)]
pub struct InspectReport {
    pub segments: Vec<SegmentReport>,
    /// Segments `open` would delete as obsolete.
    pub obsolete: Vec<String>,
    /// The torn tail `open` would cut off.
    pub torn_tail: Option<TornTail>,
    /// Why `open` would refuse to start, if it would.
    pub fatal: Option<String>,
    pub meta_bytes: Option<usize>,
}

fn corruption_at(name: &str, scan: &SegmentScan) -> WalError {
    let segment = name.to_string();
    let offset = scan.end_offset;
    match &scan.stop {
        StopReason::Invalid(RecordProblem::ChecksumMismatch { expected, actual }) => {
            WalError::ChecksumMismatch {
                segment,
                offset,
                expected: *expected,
                actual: *actual,
            }
        }
        StopReason::IndexMismatch { expected, actual } => WalError::IndexGap {
            segment,
            offset,
            expected: *expected,
            actual: *actual,
        },
        StopReason::Invalid(problem) => WalError::DamagedRecord {
            segment,
            offset,
            reason: match (problem, scan.later_valid_offset) {
                (RecordProblem::LengthOutOfBounds { payload_len }, _) => {
                    format!("payload length {payload_len} runs past the end of the segment")
                }
                (_, Some(later)) => format!("a valid record follows at offset {later}"),
                _ => "non-zero bytes after the last record of a sealed segment".to_string(),
            },
        },
    }
}

/// Applies the recovery rules to segment images (pure: changes nothing on disk).
pub(crate) fn analyze(images: &[SegmentImage]) -> Analysis {
    let mut analysis = Analysis {
        obsolete: Vec::new(),
        kept: Vec::new(),
        records: Vec::new(),
        torn_tail: None,
        fatal: None,
        reports: Vec::new(),
    };
    let mut scans = Vec::with_capacity(images.len());
    for image in images {
        let mut report = SegmentReport {
            name: image.name.clone(),
            seq: image.seq,
            first_index: None,
            last_index: None,
            records: 0,
            bytes_used: 0,
            file_bytes: image.bytes.len() as u64,
            reset: false,
            problems: Vec::new(),
        };
        let scan = match image.scan() {
            Ok(scan) if scan.header.seq != image.seq => Err(format!(
                "header says sequence {}, file name says {}",
                scan.header.seq, image.seq
            )),
            other => other,
        };
        match &scan {
            Ok(scan) => {
                report.first_index = Some(scan.header.first_index);
                report.last_index = scan.records.last().map(|(_, r)| r.index);
                report.records = scan.records.len() as u64;
                report.bytes_used = scan.end_offset;
                report.reset = scan.header.is_reset();
                if !(matches!(
                    scan.stop,
                    StopReason::Invalid(RecordProblem::ZeroHeader | RecordProblem::ShortHeader)
                ) && scan.ends_clean())
                {
                    report
                        .problems
                        .push(format!("{:?} at offset {}", scan.stop, scan.end_offset));
                    if let Some(later) = scan.later_valid_offset {
                        report
                            .problems
                            .push(format!("valid record after the damage, at offset {later}"));
                    }
                }
            }
            Err(reason) => {
                report.problems.push(format!("bad header: {reason}"));
                if analysis.fatal.is_none() {
                    analysis.fatal = Some(WalError::BadSegmentHeader {
                        segment: image.name.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        analysis.reports.push(report);
        scans.push(scan);
    }
    if analysis.fatal.is_some() {
        return analysis;
    }
    let scans: Vec<SegmentScan> = scans.into_iter().flatten().collect();
    let start = scans.iter().rposition(|s| s.header.is_reset()).unwrap_or(0);
    analysis.obsolete = images[..start].iter().map(|i| i.name.clone()).collect();

    let mut expected: Option<u64> = None;
    let last = images.len().saturating_sub(1);
    for position in start..images.len() {
        let (image, scan) = (&images[position], &scans[position]);
        let fail = |analysis: &mut Analysis, error: WalError| {
            analysis.reports[position].problems.push(error.to_string());
            analysis.fatal = Some(error);
        };
        if position > start && images[position - 1].seq + 1 != image.seq {
            fail(
                &mut analysis,
                WalError::MissingSegment {
                    before: images[position - 1].name.clone(),
                    after: image.name.clone(),
                    expected_seq: images[position - 1].seq + 1,
                },
            );
            return analysis;
        }
        if let Some(expected) = expected {
            if scan.header.first_index != expected {
                fail(
                    &mut analysis,
                    WalError::IndexGap {
                        segment: image.name.clone(),
                        offset: 0,
                        expected,
                        actual: scan.header.first_index,
                    },
                );
                return analysis;
            }
        }
        let clean_end = matches!(
            scan.stop,
            StopReason::Invalid(RecordProblem::ZeroHeader | RecordProblem::ShortHeader)
        ) && scan.ends_clean();
        let torn = !clean_end
            && position == last
            && scan.later_valid_offset.is_none()
            && !matches!(scan.stop, StopReason::IndexMismatch { .. });
        if !clean_end && !torn {
            fail(&mut analysis, corruption_at(&image.name, scan));
            return analysis;
        }
        if torn {
            analysis.torn_tail = Some(TornTail {
                segment: image.name.clone(),
                offset: scan.end_offset,
                bytes_discarded: scan.dirty_end_offset - scan.end_offset,
            });
        }
        analysis
            .records
            .extend(scan.records.iter().map(|(_, r)| r.clone()));
        let last_index = scan.records.last().map(|(_, r)| r.index);
        expected = Some(last_index.map_or(scan.header.first_index, |i| i + 1));
        analysis.kept.push(SegmentInfo {
            seq: image.seq,
            header: scan.header,
            last_index,
            end_offset: scan.end_offset,
            file_bytes: image.bytes.len() as u64,
        });
    }
    analysis
}

/// Zeroes `offset..offset+bytes` of the file at `path` and syncs it.
pub(crate) fn zero_range(
    vfs: &dyn Vfs,
    path: &Path,
    offset: u64,
    bytes: u64,
) -> std::io::Result<()> {
    const CHUNK_BYTES: u64 = 1 << 20;
    let file = vfs.open(path, OpenMode::Existing, Caching::Buffered)?;
    let zeros = vec![0u8; CHUNK_BYTES.min(bytes) as usize];
    let mut done = 0;
    while done < bytes {
        let n = (bytes - done).min(CHUNK_BYTES);
        file.write_at(&zeros[..n as usize], offset + done)?;
        done += n;
    }
    file.sync()
}

/// Scans `dir`, deletes obsolete segments, cuts a torn tail, and returns what survives.
pub(crate) fn recover(vfs: &dyn Vfs, dir: &Path) -> Result<(Analysis, Recovery), WalError> {
    let images = read_segments(vfs, dir)?;
    let mut analysis = analyze(&images);
    drop(images); // unmap before writing to the files
    if let Some(fatal) = analysis.fatal.take() {
        return Err(fatal);
    }
    if !analysis.obsolete.is_empty() {
        for name in &analysis.obsolete {
            let path = dir.join(name);
            vfs.remove(&path)
                .map_err(|e| WalError::io("remove", &path, e))?;
        }
        vfs.sync_dir(dir)
            .map_err(|e| WalError::io("sync dir", dir, e))?;
    }
    if let Some(torn) = &analysis.torn_tail {
        let path = dir.join(&torn.segment);
        tracing::warn!(
            segment = %torn.segment,
            offset = torn.offset,
            bytes_discarded = torn.bytes_discarded,
            "wal: cutting torn tail (an unacknowledged write interrupted by a crash)"
        );
        zero_range(vfs, &path, torn.offset, torn.bytes_discarded)
            .map_err(|e| WalError::io("zero torn tail", &path, e))?;
    }
    let meta = load_meta(vfs, dir)?;
    let recovery = Recovery {
        records: std::mem::take(&mut analysis.records),
        meta,
        torn_tail: analysis.torn_tail.clone(),
        segment_count: analysis.kept.len(),
    };
    Ok((analysis, recovery))
}

/// Lists the segments of the log in `dir` and verifies every checksum, changing nothing.
pub fn inspect(dir: &Path) -> Result<InspectReport, WalError> {
    inspect_with(&RealFs, dir)
}

/// [`inspect`] on any file system.
pub fn inspect_with(vfs: &dyn Vfs, dir: &Path) -> Result<InspectReport, WalError> {
    let images = read_segments(vfs, dir)?;
    let analysis = analyze(&images);
    let meta_bytes = match load_meta(vfs, dir) {
        Ok(meta) => meta.map(|m| m.len()),
        Err(_) => None,
    };
    Ok(InspectReport {
        segments: analysis.reports,
        obsolete: analysis.obsolete,
        torn_tail: analysis.torn_tail,
        fatal: analysis.fatal.map(|e| e.to_string()),
        meta_bytes,
    })
}

/// The documented way out of a corruption error, for `tandem inspect --truncate-at`: zeroes
/// `segment` from `offset` on and deletes every later segment. Records from `offset` on are
/// lost; run it only on a node that will catch up from its peers.
pub fn repair_truncate_at(dir: &Path, segment: &str, offset: u64) -> Result<(), WalError> {
    repair_truncate_at_with(&RealFs, dir, segment, offset)
}

/// [`repair_truncate_at`] on any file system.
pub fn repair_truncate_at_with(
    vfs: &dyn Vfs,
    dir: &Path,
    segment: &str,
    offset: u64,
) -> Result<(), WalError> {
    let segments = super::reader::list_segments(vfs, dir)?;
    let Some(&(seq, _)) = segments.iter().find(|(_, name)| name == segment) else {
        return Err(WalError::io(
            "find segment",
            dir.join(segment),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    };
    if offset < super::segment::SEGMENT_HEADER_BYTES as u64 {
        return Err(WalError::InvalidOptions {
            reason: "truncate offset lies inside the segment header".into(),
        });
    }
    // Later segments first, so a crash midway never leaves a gap.
    for (_, name) in segments.iter().rev().filter(|(s, _)| *s > seq) {
        let path = dir.join(name);
        vfs.remove(&path)
            .map_err(|e| WalError::io("remove", &path, e))?;
    }
    vfs.sync_dir(dir)
        .map_err(|e| WalError::io("sync dir", dir, e))?;
    let path = dir.join(segment);
    let file_bytes = vfs
        .open(&path, OpenMode::Existing, Caching::Buffered)
        .and_then(|f| f.len())
        .map_err(|e| WalError::io("open", &path, e))?;
    zero_range(vfs, &path, offset, file_bytes.saturating_sub(offset))
        .map_err(|e| WalError::io("zero", &path, e))
}
