//! The simulator's disk: an in-memory [`Vfs`] with a live and a durable image per file, so a
//! crash keeps exactly what was synced. Everything is ordered (no hashing), so a run replays.
//!
//! A file's `sync` makes its live bytes durable; creations, renames and removals become durable
//! at the next sync of anything (as `CrashFs` models them). [`Honesty::LateSync`] is the bug the
//! simulator must catch: syncs of WAL segments report success but make durable only what the
//! previous sync of that file saw (a disk or a log that acknowledges before the data is down).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tandem::wal::vfs::{Caching, FileBytes, OpenMode, VfsFile};
use tandem::wal::Vfs;

/// Whether syncs of WAL segments keep their promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Honesty {
    Honest,
    /// Injected bug: a segment's sync makes durable only what its previous sync saw.
    LateSync,
}

#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

#[derive(Default, Clone)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// LateSync: the live image at the last sync, made durable by the next one.
    promised: Option<Vec<u8>>,
}

struct DiskState {
    honesty: Honesty,
    inodes: BTreeMap<u64, Inode>,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    next_inode: u64,
    syncs: u64,
}

impl fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("SimDisk")
            .field("files", &state.live_names.len())
            .field("syncs", &state.syncs)
            .finish()
    }
}

fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wal")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl SimDisk {
    pub fn new(honesty: Honesty) -> SimDisk {
        SimDisk {
            state: Arc::new(Mutex::new(DiskState {
                honesty,
                inodes: BTreeMap::new(),
                live_names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                next_inode: 1,
                syncs: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The disk a reboot finds after power is lost now: durable names with durable bytes.
    pub fn crash_image(&self) -> SimDisk {
        let state = self.lock();
        let mut inodes = BTreeMap::new();
        let mut names = BTreeMap::new();
        for (path, id) in &state.durable_names {
            let bytes = state
                .inodes
                .get(id)
                .map(|n| n.durable.clone())
                .unwrap_or_default();
            inodes.insert(
                *id,
                Inode {
                    live: bytes.clone(),
                    durable: bytes,
                    promised: None,
                },
            );
            names.insert(path.clone(), *id);
        }
        SimDisk {
            state: Arc::new(Mutex::new(DiskState {
                honesty: state.honesty,
                inodes,
                live_names: names.clone(),
                durable_names: names,
                next_inode: state.next_inode,
                syncs: 0,
            })),
        }
    }
}

impl DiskState {
    fn sync_file(&mut self, id: u64) {
        self.syncs += 1;
        let lying = self.honesty == Honesty::LateSync
            && self
                .live_names
                .iter()
                .any(|(path, inode)| *inode == id && is_segment(path));
        if let Some(node) = self.inodes.get_mut(&id) {
            if lying {
                if let Some(promised) = node.promised.take() {
                    node.durable = promised;
                }
                node.promised = Some(node.live.clone());
            } else {
                node.durable = node.live.clone();
                node.promised = None;
            }
        }
        self.durable_names = self.live_names.clone();
    }
}

impl Vfs for SimDisk {
    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        Ok(state
            .live_names
            .keys()
            .filter(|path| path.parent() == Some(dir))
            .filter_map(|path| path.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn open(&self, path: &Path, mode: OpenMode, _caching: Caching) -> io::Result<Box<dyn VfsFile>> {
        let mut state = self.lock();
        let inode = match mode {
            OpenMode::Existing => *state.live_names.get(path).ok_or_else(|| not_found(path))?,
            OpenMode::CreateTruncate => match state.live_names.get(path).copied() {
                Some(id) => {
                    if let Some(node) = state.inodes.get_mut(&id) {
                        node.live.clear();
                    }
                    id
                }
                None => {
                    let id = state.next_inode;
                    state.next_inode += 1;
                    state.inodes.insert(id, Inode::default());
                    state.live_names.insert(path.to_path_buf(), id);
                    id
                }
            },
        };
        Ok(Box::new(SimFile {
            disk: self.clone(),
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
        let mut state = self.lock();
        state.syncs += 1;
        state.durable_names = state.live_names.clone();
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        Ok(self.lock().live_names.contains_key(path))
    }

    fn read_whole(&self, path: &Path) -> io::Result<FileBytes> {
        let state = self.lock();
        let id = state.live_names.get(path).ok_or_else(|| not_found(path))?;
        Ok(FileBytes::Owned(
            state
                .inodes
                .get(id)
                .map(|n| n.live.clone())
                .unwrap_or_default(),
        ))
    }
}

#[derive(Debug)]
struct SimFile {
    disk: SimDisk,
    inode: u64,
}

impl VfsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let state = self.disk.lock();
        let live = state
            .inodes
            .get(&self.inode)
            .map(|n| n.live.as_slice())
            .unwrap_or_default();
        let start = (offset as usize).min(live.len());
        let n = buf.len().min(live.len() - start);
        buf[..n].copy_from_slice(&live[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut state = self.disk.lock();
        let node = state.inodes.entry(self.inode).or_default();
        let end = offset as usize + buf.len();
        if node.live.len() < end {
            node.live.resize(end, 0);
        }
        node.live[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.disk.lock().sync_file(self.inode);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let state = self.disk.lock();
        Ok(state
            .inodes
            .get(&self.inode)
            .map_or(0, |n| n.live.len() as u64))
    }
}
