//! The physical floor of a durable write on a disk: overwrite one 4 KiB block of a preallocated
//! file and `fdatasync` it. Nothing that acknowledges after an fsync can beat this on that disk.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use super::stats::{Latency, Recorder};

/// Bytes written per sample: one page, as a WAL record batch usually is.
pub const BLOCK_BYTES: usize = 4096;
/// Size of the preallocated file; samples cycle through its blocks.
const FILE_BYTES: usize = 1024 * 1024;

/// Measures `samples` overwrites + fdatasync in `dir` (on the disk under test, not tmpfs).
pub fn fdatasync_floor(dir: &Path, samples: u64) -> std::io::Result<Latency> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("fdatasync-floor.{}.tmp", std::process::id()));
    let result = measure(&path, samples);
    let _ = std::fs::remove_file(&path);
    result
}

fn measure(path: &Path, samples: u64) -> std::io::Result<Latency> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    // Written and synced up front, so the samples overwrite allocated blocks (no metadata).
    file.write_all(&vec![0u8; FILE_BYTES])?;
    file.sync_all()?;
    let block = vec![0x5au8; BLOCK_BYTES];
    let blocks = (FILE_BYTES / BLOCK_BYTES) as u64;
    let mut recorder = Recorder::default();
    for i in 0..samples {
        let started = Instant::now();
        file.write_all_at(&block, (i % blocks) * BLOCK_BYTES as u64)?;
        file.sync_data()?;
        recorder.success(started.elapsed().as_micros() as u64);
    }
    Ok(recorder.latency())
}
