//! openraft's own storage conformance suite, run against Tandem's log store (on the WAL, real
//! files) and state machine (on the keyspace, real snapshot files).

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};
use tandem::raft::{LogStore, StateMachine, StorageError, TypeConfig};
use tandem::wal::{Backend, Wal, WalOptions};
use tempfile::TempDir;

struct Builder {
    backend: Backend,
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
            ..WalOptions::default()
        };
        let (wal, recovery) = Wal::open(&dir.path().join("wal"), options).expect("open wal");
        let log = LogStore::from_recovery(Arc::new(wal), recovery).expect("log store");
        let (sm, _shared) = StateMachine::open(&dir.path().join("snapshots")).expect("sm");
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_pwrite() {
    Suite::test_all(Builder {
        backend: Backend::Pwrite,
    })
    .expect("openraft storage suite");
}

#[test]
fn openraft_storage_suite_io_uring() {
    Suite::test_all(Builder {
        backend: Backend::IoUring,
    })
    .expect("openraft storage suite");
}
