//! The simulator's disk: the WAL's own in-memory crash disk ([`CrashFs`], a live and a durable
//! image per file, ordered maps only, so a run replays) behind its error injector
//! ([`FaultFs`]), plus the one thing only the simulator needs: an injected bug.
//!
//! Faults the nemesis switches on and off: EIO on every file write, EIO on every sync, ENOSPC on
//! every write. A power loss keeps what was synced and, torn, a prefix of the writes made since
//! (the last one cut short). [`Honesty::LateSync`] is the bug the simulator must catch: syncs of
//! WAL segments report success but make durable only what the previous sync of that file saw (a
//! disk or a log that acknowledges before the data is down).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::Rng;
use tandem::wal::vfs::{Caching, CrashFs, FaultFs, FaultKind, FileBytes, Kept, OpenMode, VfsFile};
use tandem::wal::Vfs;

/// Whether syncs of WAL segments keep their promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Honesty {
    Honest,
    /// Injected bug: a segment's sync makes durable only what its previous sync saw.
    LateSync,
}

/// One node's disk. Clones share it; a crash image is a new disk.
#[derive(Clone)]
pub struct SimDisk {
    crash: CrashFs,
    faults: FaultFs,
    honesty: Honesty,
    /// LateSync: per segment, the live image its last sync saw (made durable by the next one).
    promised: Arc<Mutex<BTreeMap<PathBuf, Vec<u8>>>>,
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDisk")
            .field("crash", &self.crash)
            .field("honesty", &self.honesty)
            .finish()
    }
}

fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wal")
}

impl SimDisk {
    pub fn new(honesty: Honesty) -> SimDisk {
        SimDisk::on(CrashFs::new(), honesty)
    }

    fn on(crash: CrashFs, honesty: Honesty) -> SimDisk {
        SimDisk {
            faults: FaultFs::new(Arc::new(crash.clone())),
            crash,
            honesty,
            promised: Arc::default(),
        }
    }

    /// From now on every call of `kind`'s sort fails (`None`: the disk works again).
    pub fn set_fault(&self, kind: Option<FaultKind>) {
        match kind {
            Some(kind) => self.faults.arm(kind, 0),
            None => self.faults.disarm(),
        }
    }

    /// Calls failed by injected faults so far.
    pub fn failures(&self) -> u64 {
        self.faults.failure_count()
    }

    /// The disk a restarted process finds after the old one was killed: everything, unsynced
    /// writes included, on a copy the old process can no longer touch.
    pub fn process_image(&self) -> SimDisk {
        SimDisk::on(self.crash.copy(), self.honesty)
    }

    /// The disk a reboot finds after power is lost now: durable names with durable bytes.
    pub fn crash_image(&self) -> SimDisk {
        SimDisk::on(self.crash.crash_image(), self.honesty)
    }

    /// A power loss during which some unsynced writes also reached the disk, in order, the last
    /// of them torn: for each file, a random number of them whole and a random prefix of the
    /// next. Returns the new disk and how many files were torn.
    pub fn torn_crash_image(&self, rng: &mut StdRng) -> (SimDisk, usize) {
        let mut torn = 0;
        let image = self.crash.torn_crash_image(&mut |_, lengths| {
            let writes = rng.gen_range(0..=lengths.len());
            let bytes = match lengths.get(writes) {
                Some(&len) if len > 0 => {
                    torn += 1;
                    rng.gen_range(0..len)
                }
                _ => 0,
            };
            Kept { writes, bytes }
        });
        (SimDisk::on(image, self.honesty), torn)
    }
}

impl Vfs for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.faults.create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.faults.list(dir)
    }

    fn open(&self, path: &Path, mode: OpenMode, caching: Caching) -> io::Result<Box<dyn VfsFile>> {
        let lying = self.honesty == Honesty::LateSync && is_segment(path);
        Ok(Box::new(SimFile {
            file: self.faults.open(path, mode, caching)?,
            lag: lying.then(|| Lag {
                path: path.to_path_buf(),
                raw: self.crash.open(path, OpenMode::Existing, Caching::Buffered),
                promised: self.promised.clone(),
            }),
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.faults.rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.faults.remove(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.faults.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.faults.exists(path)
    }

    fn read_whole(&self, path: &Path) -> io::Result<FileBytes> {
        self.faults.read_whole(path)
    }
}

#[derive(Debug)]
struct SimFile {
    file: Box<dyn VfsFile>,
    /// Set on a WAL segment under [`Honesty::LateSync`].
    lag: Option<Lag>,
}

/// The injected bug's state for one segment: its file without the fault layer, to make an
/// older image durable behind the WAL's back.
#[derive(Debug)]
struct Lag {
    path: PathBuf,
    raw: io::Result<Box<dyn VfsFile>>,
    promised: Arc<Mutex<BTreeMap<PathBuf, Vec<u8>>>>,
}

impl Lag {
    /// Makes durable what the previous sync saw, keeps the live image live, and promises it
    /// for the next sync.
    fn sync(&self) -> io::Result<()> {
        let raw = self
            .raw
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        let mut live = vec![0; raw.len()? as usize];
        let n = raw.read_at(&mut live, 0)?;
        live.truncate(n);
        let mut promised = self.promised.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = promised.get(&self.path) {
            // Write the old image over the differing range, sync it, write the live one back.
            let common = old.len().min(live.len());
            let first = (0..common).find(|&i| old[i] != live[i]);
            let last = (0..common).rev().find(|&i| old[i] != live[i]);
            if let (Some(first), Some(last)) = (first, last) {
                raw.write_at(&old[first..=last], first as u64)?;
                raw.sync()?;
                raw.write_at(&live[first..=last], first as u64)?;
            } else {
                raw.sync()?;
            }
        }
        promised.insert(self.path.clone(), live);
        Ok(())
    }
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_at(buf, offset)
    }

    fn sync(&self) -> io::Result<()> {
        match &self.lag {
            Some(lag) => lag.sync(),
            None => self.file.sync(),
        }
    }

    fn len(&self) -> io::Result<u64> {
        self.file.len()
    }
}
