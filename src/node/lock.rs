//! The data directory lock: one Tandem process per data directory.
//!
//! An advisory `flock` on `<data>/LOCK`, held for the node's lifetime; the kernel releases it if
//! the process dies, so a `kill -9` never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::OpenError;

/// Holds the lock until dropped.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    pub path: PathBuf,
}

impl DirLock {
    pub fn acquire(data_dir: &Path) -> Result<Self, OpenError> {
        let path = data_dir.join("LOCK");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| OpenError::DataDir {
                path: path.clone(),
                source,
            })?;
        // SAFETY: flock on a valid, owned file descriptor has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(OpenError::Locked {
                    path: data_dir.to_path_buf(),
                });
            }
            return Err(OpenError::DataDir { path, source: err });
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file, path })
    }
}
