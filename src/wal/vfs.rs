//! The virtual file system under the WAL's devices: real files, a crash simulator, and an
//! error-countdown wrapper.
//!
//! Owns every file-system call the WAL makes, so tests can swap storage. Invariant of
//! `CrashFs`: after a "crash" a file holds exactly what its last effective `sync` saw (plus, in
//! a torn crash, a prefix of the writes made since, in order), and the directory holds exactly
//! what the last effective sync of anything saw. `CrashFs` keeps only ordered maps, so the
//! deterministic simulator (tests/simulation) runs on it and replays.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file.
    Existing,
    /// Create the file, emptying it if it exists.
    CreateTruncate,
}

/// Whether writes bypass the page cache (O_DIRECT: offsets, lengths and buffers 4096-aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caching {
    Buffered,
    Direct,
}

/// A file system as the WAL sees it.
pub trait Vfs: Send + Sync + fmt::Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Names (not paths) of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    fn open(&self, path: &Path, mode: OpenMode, caching: Caching) -> io::Result<Box<dyn VfsFile>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// The whole content of a file, for scanning (memory-mapped where the file is real).
    fn read_whole(&self, path: &Path) -> io::Result<FileBytes>;
}

/// One open file.
pub trait VfsFile: Send + Sync + fmt::Debug {
    /// Reads up to `buf.len()` bytes; fewer only at end of file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `buf`.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync.
    fn sync(&self) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// The descriptor, when the kernel can do I/O on it directly (io_uring); `None` for
    /// simulated files, whose I/O must go through these methods.
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }
}

/// A file's content: a read-only memory map, or owned bytes.
pub enum FileBytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(map) => map,
            FileBytes::Owned(bytes) => bytes,
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Real files in real directories.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealFile {
    file: File,
}

impl Vfs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn open(&self, path: &Path, mode: OpenMode, caching: Caching) -> io::Result<Box<dyn VfsFile>> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if mode == OpenMode::CreateTruncate {
            options.create(true).truncate(true);
        }
        if caching == Caching::Direct {
            options.custom_flags(libc::O_DIRECT);
        }
        Ok(Box::new(RealFile {
            file: options.open(path)?,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn read_whole(&self, path: &Path) -> io::Result<FileBytes> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(FileBytes::Owned(Vec::new()));
        }
        // SAFETY: the WAL maps segments only while no writer of this log runs (recovery,
        // inspect), and Tandem never truncates a mapped file; another process modifying the
        // directory concurrently is outside the supported operation.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(FileBytes::Mapped(map))
    }
}

impl VfsFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }
}

// ---------------------------------------------------------------------------------------------

/// An in-memory file system that simulates power loss.
///
/// Each file has a *live* image (what reads see) and a *durable* image (what survives a
/// crash). `sync` copies live to durable; directory changes (create, rename, remove) become
/// durable at the next sync of anything. After `freeze_after_syncs(n)`, only the first `n`
/// syncs take effect: later ones return `Ok` but change nothing, as if power failed right
/// before them. [`CrashFs::crash_image`] builds the file system a reboot would find.
/// Cloning shares the same state.
#[derive(Clone, Default)]
pub struct CrashFs {
    state: Arc<Mutex<CrashState>>,
}

#[derive(Default, Clone)]
struct CrashState {
    inodes: BTreeMap<u64, Inode>,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    syncs: u64,
    syncs_effective_max: Option<u64>,
    crashed: bool,
}

#[derive(Default, Clone)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Writes since the last effective sync, oldest first: (offset, bytes).
    unsynced: Vec<(u64, Vec<u8>)>,
}

/// How much of one file's unsynced writes a torn crash keeps: the first `writes` whole, then
/// the first `bytes` of the next one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kept {
    pub writes: usize,
    pub bytes: usize,
}

impl CrashState {
    /// Applies one sync (of `inode`, or of the directory if `None`) unless frozen.
    fn sync(&mut self, inode: Option<u64>) {
        self.syncs += 1;
        if let Some(max) = self.syncs_effective_max {
            if self.syncs > max {
                self.crashed = true;
                return;
            }
        }
        if let Some(id) = inode {
            if let Some(node) = self.inodes.get_mut(&id) {
                node.durable = node.live.clone();
                node.unsynced.clear();
            }
        }
        self.durable_names = self.live_names.clone();
    }
}

impl fmt::Debug for CrashFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("CrashFs")
            .field("files", &state.live_names.len())
            .field("syncs", &state.syncs)
            .field("crashed", &state.crashed)
            .finish()
    }
}

impl CrashFs {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, CrashState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the first `syncs` syncs (counted from the creation of this file system) take
    /// effect and freezes the durable image after that.
    pub fn freeze_after_syncs(&self, syncs: u64) {
        self.lock().syncs_effective_max = Some(syncs);
    }

    /// Syncs requested so far (effective or not).
    pub fn sync_count(&self) -> u64 {
        self.lock().syncs
    }

    /// True once a sync was requested past the freeze point: the simulated power loss has
    /// happened, and nothing observed from now on may be counted as durable.
    pub fn has_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// An independent copy of this file system as it is now, unsynced writes included: what a
    /// restarted process finds after the old one was killed (the kernel still holds its
    /// writes), out of reach of anything the old one still does.
    pub fn copy(&self) -> CrashFs {
        let state = self.lock().clone();
        CrashFs {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The file system a reboot would find: every file's durable image under the durable
    /// names, as a new independent `CrashFs` (live == durable, not frozen).
    pub fn crash_image(&self) -> CrashFs {
        self.torn_crash_image(&mut |_, _| Kept::default())
    }

    /// The file system a reboot would find if, besides what was synced, some of the writes
    /// made since reached the disk: for each durable file with unsynced writes, `keep(path,
    /// lengths of those writes, oldest first)` says how many survive whole and how many bytes
    /// of the next one (a torn write). Writes reach the disk in the order they were made.
    pub fn torn_crash_image(&self, keep: &mut dyn FnMut(&Path, &[usize]) -> Kept) -> CrashFs {
        let state = self.lock();
        let mut image = CrashState::default();
        for (path, id) in &state.durable_names {
            let mut data = Vec::new();
            if let Some(node) = state.inodes.get(id) {
                data = node.durable.clone();
                if !node.unsynced.is_empty() {
                    let lengths: Vec<usize> = node.unsynced.iter().map(|(_, w)| w.len()).collect();
                    let kept = keep(path, &lengths);
                    let whole = kept.writes.min(node.unsynced.len());
                    for (at, (offset, bytes)) in node.unsynced.iter().enumerate() {
                        let take = match at.cmp(&whole) {
                            std::cmp::Ordering::Less => bytes.len(),
                            std::cmp::Ordering::Equal => kept.bytes.min(bytes.len()),
                            std::cmp::Ordering::Greater => break,
                        };
                        let end = *offset as usize + take;
                        if data.len() < end {
                            data.resize(end, 0);
                        }
                        data[*offset as usize..end].copy_from_slice(&bytes[..take]);
                    }
                }
            }
            let new_id = image.next_inode;
            image.next_inode += 1;
            image.inodes.insert(
                new_id,
                Inode {
                    live: data.clone(),
                    durable: data,
                    unsynced: Vec::new(),
                },
            );
            image.live_names.insert(path.clone(), new_id);
        }
        image.durable_names = image.live_names.clone();
        CrashFs {
            state: Arc::new(Mutex::new(image)),
        }
    }

    /// Live content of a file (for tests that inspect or damage files).
    pub fn read_live(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let id = state.live_names.get(path)?;
        state.inodes.get(id).map(|n| n.live.clone())
    }

    /// Overwrites a file's live and durable content (for tests that damage files).
    pub fn write_both(&self, path: &Path, data: Vec<u8>) {
        let mut state = self.lock();
        if let Some(&id) = state.live_names.get(path) {
            if let Some(node) = state.inodes.get_mut(&id) {
                node.live = data.clone();
                node.durable = data;
            }
        }
    }
}

#[derive(Debug)]
struct CrashFile {
    fs: CrashFs,
    inode: u64,
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl Vfs for CrashFs {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        Ok(state
            .live_names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn open(&self, path: &Path, mode: OpenMode, _caching: Caching) -> io::Result<Box<dyn VfsFile>> {
        let mut state = self.lock();
        let inode = match (state.live_names.get(path).copied(), mode) {
            (Some(id), OpenMode::Existing) => id,
            (None, OpenMode::Existing) => return Err(not_found(path)),
            (Some(id), OpenMode::CreateTruncate) => {
                if let Some(node) = state.inodes.get_mut(&id) {
                    // A truncation reaches the disk with the next sync of the file, like a
                    // write; a torn crash never keeps it (it keeps writes only).
                    node.live.clear();
                }
                id
            }
            (None, OpenMode::CreateTruncate) => {
                let id = state.next_inode;
                state.next_inode += 1;
                state.inodes.insert(id, Inode::default());
                state.live_names.insert(path.to_path_buf(), id);
                id
            }
        };
        Ok(Box::new(CrashFile {
            fs: self.clone(),
            inode,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let id = state
            .live_names
            .remove(from)
            .ok_or_else(|| not_found(from))?;
        state.live_names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state
            .live_names
            .remove(path)
            .ok_or_else(|| not_found(path))?;
        Ok(())
    }

    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.lock().sync(None);
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.lock().live_names.contains_key(path))
    }

    fn read_whole(&self, path: &Path) -> io::Result<FileBytes> {
        self.read_live(path)
            .map(FileBytes::Owned)
            .ok_or_else(|| not_found(path))
    }
}

impl CrashFile {
    fn with_inode<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut state = self.fs.lock();
        let node = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "inode gone"))?;
        Ok(f(node))
    }
}

impl VfsFile for CrashFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.with_inode(|node| {
            let start = (offset as usize).min(node.live.len());
            let n = buf.len().min(node.live.len() - start);
            buf[..n].copy_from_slice(&node.live[start..start + n]);
            n
        })
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.with_inode(|node| {
            let end = offset as usize + buf.len();
            if node.live.len() < end {
                node.live.resize(end, 0);
            }
            node.live[offset as usize..end].copy_from_slice(buf);
            node.unsynced.push((offset, buf.to_vec()));
        })
    }

    fn sync(&self) -> io::Result<()> {
        self.fs.lock().sync(Some(self.inode));
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        self.with_inode(|node| node.live.len() as u64)
    }
}

// ---------------------------------------------------------------------------------------------

/// Which failure a [`FaultFs`] injects once its countdown runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// File writes fail with EIO.
    WriteEio,
    /// File and directory syncs fail with EIO.
    SyncEio,
    /// File writes fail with ENOSPC.
    NoSpace,
}

impl FaultKind {
    fn error(self) -> io::Error {
        match self {
            FaultKind::WriteEio | FaultKind::SyncEio => io::Error::from_raw_os_error(libc::EIO),
            FaultKind::NoSpace => io::Error::from_raw_os_error(libc::ENOSPC),
        }
    }
}

/// Wraps another file system and, once armed, lets `calls` more calls of the targeted kind
/// (writes for `WriteEio`/`NoSpace`, syncs for `SyncEio`) succeed, then fails every later one.
/// Its files hide their descriptors, so io_uring devices route through it too.
#[derive(Clone, Debug)]
pub struct FaultFs {
    inner: Arc<dyn Vfs>,
    plan: Arc<FaultPlan>,
}

#[derive(Debug)]
struct FaultPlan {
    kind: Mutex<Option<FaultKind>>,
    calls_left: AtomicU64,
    failures: AtomicU64,
}

impl FaultFs {
    /// A pass-through wrapper; call [`FaultFs::arm`] to start the countdown.
    pub fn new(inner: Arc<dyn Vfs>) -> Self {
        FaultFs {
            inner,
            plan: Arc::new(FaultPlan {
                kind: Mutex::new(None),
                calls_left: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        }
    }

    /// After `calls` more successful calls of the targeted kind, fail with `kind`.
    pub fn arm(&self, kind: FaultKind, calls: u64) {
        self.plan.calls_left.store(calls, Ordering::SeqCst);
        *self.plan.kind.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
    }

    /// Stops injecting: every later call passes through.
    pub fn disarm(&self) {
        *self.plan.kind.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Failures injected so far.
    pub fn failure_count(&self) -> u64 {
        self.plan.failures.load(Ordering::SeqCst)
    }

    fn check(&self, is_sync: bool) -> io::Result<()> {
        let Some(kind) = *self.plan.kind.lock().unwrap_or_else(|e| e.into_inner()) else {
            return Ok(());
        };
        if is_sync != (kind == FaultKind::SyncEio) {
            return Ok(());
        }
        let left = self.plan.calls_left.load(Ordering::SeqCst);
        if left > 0 {
            self.plan.calls_left.store(left - 1, Ordering::SeqCst);
            return Ok(());
        }
        self.plan.failures.fetch_add(1, Ordering::SeqCst);
        Err(kind.error())
    }
}

#[derive(Debug)]
struct FaultFile {
    fs: FaultFs,
    inner: Box<dyn VfsFile>,
}

impl Vfs for FaultFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode, caching: Caching) -> io::Result<Box<dyn VfsFile>> {
        // Buffered underneath: the wrapper is a software path, alignment is irrelevant.
        let _ = caching;
        Ok(Box::new(FaultFile {
            fs: self.clone(),
            inner: self.inner.open(path, mode, Caching::Buffered)?,
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.check(true)?;
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn read_whole(&self, path: &Path) -> io::Result<FileBytes> {
        self.inner.read_whole(path)
    }
}

impl VfsFile for FaultFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.fs.check(false)?;
        self.inner.write_at(buf, offset)
    }
    fn sync(&self) -> io::Result<()> {
        self.fs.check(true)?;
        self.inner.sync()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}
