//! The io_uring backend: O_DIRECT block writes, linked write+fdatasync, two batches in flight.
//!
//! Owns the aligned buffers and the partially filled last block (kept in memory and rewritten
//! by the next batch). Invariant: a batch's write is issued only after the previous batch's
//! write completed (they may share a block), and batches are returned strictly in order, each
//! only after its own linked fdatasync completed.

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::device::{Device, DeviceCompletion};
use super::vfs::{Caching, OpenMode, Vfs, VfsFile};

/// O_DIRECT granularity: offsets, lengths and buffer addresses are multiples of this.
pub const BLOCK_BYTES: usize = 4096;
/// Batches in flight: batch k syncs while batch k+1 is written.
const PIPELINE_DEPTH: usize = 2;
/// Two SQEs per batch, with room to spare.
const RING_ENTRIES: u32 = 8;

/// A zero-initialised heap buffer aligned to [`BLOCK_BYTES`], length a multiple of it.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Box<[u8]>.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        let len = len.max(BLOCK_BYTES).div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
        let layout = Self::layout(len);
        // SAFETY: the layout has non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len, BLOCK_BYTES).expect("block-aligned layout is valid")
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised bytes for the lifetime of self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
    }
}

struct Batch {
    ticket: u64,
    buf: AlignedBuf,
    offset: u64,
    write: Option<io::Result<()>>,
    sync: Option<io::Result<()>>,
}

impl Batch {
    fn result(&mut self) -> io::Result<()> {
        match self.write.take() {
            Some(Err(e)) => Err(e),
            _ => self
                .sync
                .take()
                .unwrap_or_else(|| Err(io::Error::other("sync missing"))),
        }
    }
}

/// io_uring device. On files without a descriptor (simulated file systems) it keeps the same
/// block layout and ordering but performs each write lazily and each sync on completion
/// through the file's methods, so crash and fault tests exercise its logic too.
pub struct UringDevice {
    ring: IoUring,
    file: Option<Box<dyn VfsFile>>,
    fd: Option<RawFd>,
    end_offset: u64,
    /// Bytes of the block containing `end_offset`, up to `end_offset`, rest zero.
    tail: AlignedBuf,
    batches: VecDeque<Batch>,
    /// Set if the ring itself failed: buffers may still be owned by the kernel.
    ring_broken: bool,
}

fn clone_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl UringDevice {
    pub fn new() -> io::Result<Self> {
        Ok(UringDevice {
            ring: IoUring::new(RING_ENTRIES)?,
            file: None,
            fd: None,
            end_offset: 0,
            tail: AlignedBuf::zeroed(BLOCK_BYTES),
            batches: VecDeque::new(),
            ring_broken: false,
        })
    }

    /// Consumes completions, waiting for at least one (bounded by `timeout`).
    fn reap(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let entered = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match entered {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR)) => {}
            Err(e) => return Err(e),
        }
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|cqe| (cqe.user_data(), cqe.result()))
            .collect();
        for (user_data, res) in done {
            let (ticket, is_sync) = (user_data >> 1, user_data & 1 == 1);
            let Some(batch) = self.batches.iter_mut().find(|b| b.ticket == ticket) else {
                continue;
            };
            let outcome = if res < 0 {
                Err(io::Error::from_raw_os_error(-res))
            } else if !is_sync && res as usize != batch.buf.as_slice().len() {
                Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "short O_DIRECT write",
                ))
            } else {
                Ok(())
            };
            if is_sync {
                batch.sync = Some(outcome);
            } else {
                batch.write = Some(outcome);
            }
        }
        Ok(())
    }

    /// Makes sure the newest batch's write has completed (emulated: performs it).
    fn finish_last_write(&mut self) -> io::Result<()> {
        if self.fd.is_none() {
            if let (Some(file), Some(batch)) = (&self.file, self.batches.back_mut()) {
                if batch.write.is_none() {
                    batch.write = Some(file.write_at(batch.buf.as_slice(), batch.offset));
                }
            }
            return Ok(());
        }
        while self.batches.back().is_some_and(|b| b.write.is_none()) {
            if let Err(e) = self.reap(None) {
                self.ring_broken = true;
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Device for UringDevice {
    fn attach(&mut self, vfs: &dyn Vfs, path: &Path, end_offset: u64) -> io::Result<()> {
        debug_assert!(self.batches.is_empty());
        let file = vfs.open(path, OpenMode::Existing, Caching::Direct)?;
        self.tail = AlignedBuf::zeroed(BLOCK_BYTES);
        let head = (end_offset % BLOCK_BYTES as u64) as usize;
        if head > 0 {
            file.read_at(self.tail.as_mut_slice(), end_offset - head as u64)?;
            self.tail.as_mut_slice()[head..].fill(0);
        }
        self.fd = file.raw_fd();
        self.file = Some(file);
        self.end_offset = end_offset;
        Ok(())
    }

    fn submit(&mut self, bytes: &[u8], ticket: u64) -> io::Result<()> {
        if self.ring_broken || self.file.is_none() {
            return Err(io::Error::other("io_uring device unusable"));
        }
        // The new batch rewrites the previous batch's last block: never let the two writes
        // race, or the older content could land last.
        self.finish_last_write()?;
        if let Some(Some(Err(e))) = self.batches.back().map(|b| &b.write) {
            return Err(clone_io_error(e));
        }
        let head = (self.end_offset % BLOCK_BYTES as u64) as usize;
        let block_offset = self.end_offset - head as u64;
        let total = head + bytes.len();
        let mut buf = AlignedBuf::zeroed(total);
        buf.as_mut_slice()[..head].copy_from_slice(&self.tail.as_slice()[..head]);
        buf.as_mut_slice()[head..total].copy_from_slice(bytes);
        let new_head = total % BLOCK_BYTES;
        let tail = self.tail.as_mut_slice();
        tail.fill(0);
        tail[..new_head].copy_from_slice(&buf.as_slice()[total - new_head..total]);
        self.end_offset += bytes.len() as u64;

        if let Some(fd) = self.fd {
            let write = opcode::Write::new(types::Fd(fd), buf.as_slice().as_ptr(), buf.len as u32)
                .offset(block_offset)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(ticket << 1);
            let sync = opcode::Fsync::new(types::Fd(fd))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data((ticket << 1) | 1);
            // SAFETY: the buffer is owned by the batch pushed below and freed only after both
            // completions were reaped (or leaked if the ring breaks); the fd stays open until
            // the next `attach`, which happens with nothing in flight.
            unsafe {
                let mut sq = self.ring.submission();
                sq.push(&write)
                    .map_err(|_| io::Error::other("submission queue full"))?;
                sq.push(&sync)
                    .map_err(|_| io::Error::other("submission queue full"))?;
            }
            self.batches.push_back(Batch {
                ticket,
                buf,
                offset: block_offset,
                write: None,
                sync: None,
            });
            if let Err(e) = self.ring.submit() {
                self.ring_broken = true;
                return Err(e);
            }
        } else {
            self.batches.push_back(Batch {
                ticket,
                buf,
                offset: block_offset,
                write: None,
                sync: None,
            });
        }
        Ok(())
    }

    fn wait_oldest(&mut self, timeout: Option<Duration>) -> Option<DeviceCompletion> {
        self.batches.front()?;
        if self.fd.is_none() {
            let file = self.file.as_ref()?;
            let batch = self.batches.front_mut()?;
            if batch.write.is_none() {
                batch.write = Some(file.write_at(batch.buf.as_slice(), batch.offset));
            }
            if let Some(Ok(())) = batch.write {
                batch.sync = Some(file.sync());
            }
        } else {
            loop {
                if self.batches.front().is_some_and(|b| b.sync.is_some()) {
                    break;
                }
                let reaped = if self.ring_broken {
                    Err(io::Error::other("io_uring ring failed earlier"))
                } else {
                    self.reap(timeout)
                };
                if let Err(e) = reaped {
                    self.ring_broken = true;
                    let batch = self.batches.pop_front()?;
                    // The kernel may still own the buffer: leaking beats a use-after-free.
                    std::mem::forget(batch.buf);
                    return Some((batch.ticket, Err(e)));
                }
                if timeout.is_some() && self.batches.front().is_some_and(|b| b.sync.is_none()) {
                    return None;
                }
            }
        }
        let mut batch = self.batches.pop_front()?;
        Some((batch.ticket, batch.result()))
    }

    fn in_flight(&self) -> usize {
        self.batches.len()
    }

    fn pipeline_depth(&self) -> usize {
        PIPELINE_DEPTH
    }
}

impl Drop for UringDevice {
    fn drop(&mut self) {
        if self.fd.is_none() {
            return;
        }
        while self
            .batches
            .iter()
            .any(|b| b.write.is_none() || b.sync.is_none())
        {
            if self.ring_broken || self.reap(None).is_err() {
                // The kernel may still write from these buffers: leaking beats a use-after-free.
                for batch in self.batches.drain(..) {
                    std::mem::forget(batch.buf);
                }
                return;
            }
        }
    }
}
