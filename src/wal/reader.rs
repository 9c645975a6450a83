//! Reading segment files back: listing a log directory and mapping its segments.
//!
//! Owns the read side of the format for recovery, `inspect` and tools. Invariant: segments are
//! returned in sequence-number order and are only read, never modified, here.

use std::path::{Path, PathBuf};

use super::error::WalError;
use super::segment::{decode_segment, parse_segment_file_name, SegmentScan};
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
