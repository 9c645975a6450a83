//! The narrow door every durable byte of a batch goes through, and its `pwrite` backend.
//!
//! Owns the write+sync of record batches into the active segment. Invariant: `wait_oldest`
//! returns batches in submission order, and returns `Ok` for a batch only after a data sync
//! that started after all of that batch's bytes were written has succeeded.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::vfs::{Caching, OpenMode, Vfs, VfsFile};

/// A completed batch: the ticket it was submitted with and whether it became durable.
pub type DeviceCompletion = (u64, io::Result<()>);

/// How record batches reach the disk.
pub trait Device: Send {
    /// Makes the segment at `path` the target; its valid bytes end at `end_offset`. Only
    /// called with nothing in flight.
    fn attach(&mut self, vfs: &dyn Vfs, path: &Path, end_offset: u64) -> io::Result<()>;
    /// Starts writing `bytes` at the current end, followed by a data sync. An error means
    /// the batch was not submitted (earlier batches may still be in flight).
    fn submit(&mut self, bytes: &[u8], ticket: u64) -> io::Result<()>;
    /// Waits up to `timeout` (forever if `None`) for the oldest batch in flight to finish.
    fn wait_oldest(&mut self, timeout: Option<Duration>) -> Option<DeviceCompletion>;
    /// Batches submitted and not yet returned by `wait_oldest`.
    fn in_flight(&self) -> usize;
    /// How many batches may be in flight at once.
    fn pipeline_depth(&self) -> usize;
}

/// `pwrite` + `fdatasync`, one batch at a time, on the calling thread.
#[derive(Default)]
pub struct PwriteDevice {
    file: Option<Box<dyn VfsFile>>,
    end_offset: u64,
    done: VecDeque<DeviceCompletion>,
}

impl Device for PwriteDevice {
    fn attach(&mut self, vfs: &dyn Vfs, path: &Path, end_offset: u64) -> io::Result<()> {
        debug_assert!(self.done.is_empty());
        self.file = Some(vfs.open(path, OpenMode::Existing, Caching::Buffered)?);
        self.end_offset = end_offset;
        Ok(())
    }

    fn submit(&mut self, bytes: &[u8], ticket: u64) -> io::Result<()> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("device has no segment attached"))?;
        let result = file
            .write_at(bytes, self.end_offset)
            .and_then(|()| file.sync());
        self.end_offset += bytes.len() as u64;
        self.done.push_back((ticket, result));
        Ok(())
    }

    fn wait_oldest(&mut self, _timeout: Option<Duration>) -> Option<DeviceCompletion> {
        self.done.pop_front()
    }

    fn in_flight(&self) -> usize {
        self.done.len()
    }

    fn pipeline_depth(&self) -> usize {
        1
    }
}
