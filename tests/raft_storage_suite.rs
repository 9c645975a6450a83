//! openraft's own storage conformance suite, run against Tandem's log store (on the WAL, real
//! files) and state machine (on the keyspace, real snapshot files); once more with a log cache
//! bound of zero, so every flushed entry is evicted and every read of it comes from the WAL; and
//! once with the WAL writer on the caller's thread (`--wal-writer inline`), whose flush callback
//! fires before `append` returns.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use tandem::raft::{LogStore, StateMachine, StorageError, TypeConfig, LOG_CACHE_BYTES_MAX_DEFAULT};
use tandem::wal::{Backend, Wal, WalOptions, WriterMode};
use tempfile::TempDir;

struct Builder {
    backend: Backend,
    cache_bytes_max: u64,
    writer: WriterMode,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::Builder::new()
            .prefix("raft-suite")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temp dir");
        let options = WalOptions {
            backend: self.backend,
            segment_bytes: 256 * 1024,
            writer: self.writer,
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open(&dir.path().join("wal"), options).expect("open wal");
        let log = LogStore::from_recovery_bounded(Arc::new(wal), recovery, self.cache_bytes_max)
            .expect("log store");
        let (sm, _shared) = StateMachine::open(&dir.path().join("snapshots")).expect("sm");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_pwrite() {
    Suite::test_all(Builder {
        backend: Backend::Pwrite,
        cache_bytes_max: LOG_CACHE_BYTES_MAX_DEFAULT,
        writer: WriterMode::Thread,
    })
    .expect("openraft storage suite");
}

#[test]
fn openraft_storage_suite_io_uring() {
    Suite::test_all(Builder {
        backend: Backend::IoUring,
        cache_bytes_max: LOG_CACHE_BYTES_MAX_DEFAULT,
        writer: WriterMode::Thread,
    })
    .expect("openraft storage suite");
}

#[test]
fn openraft_storage_suite_reads_evicted_entries_from_the_wal() {
    Suite::test_all(Builder {
        backend: Backend::Pwrite,
        cache_bytes_max: 0,
        writer: WriterMode::Thread,
    })
    .expect("openraft storage suite");
}

#[test]
fn openraft_storage_suite_inline_writer() {
    Suite::test_all(Builder {
        backend: Backend::Pwrite,
        cache_bytes_max: LOG_CACHE_BYTES_MAX_DEFAULT,
        writer: WriterMode::Caller,
    })
    .expect("openraft storage suite");
}
