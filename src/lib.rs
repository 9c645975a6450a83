//! Tandem: a replicated in-memory key-value store for critical state.
//!
//! Data lives in RAM; every write is appended to a checksummed write-ahead log and fsynced
//! before it is acknowledged; replication and election run on openraft. This crate is both the
//! `tandem` server and an embedded library: a [`Node`] runs inside your process (a single
//! embedded node is a one-voter Raft group, durable on the local disk only), and [`Db`] is the
//! handle you read and write through.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use tandem::{Node, Transaction};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let node = Node::builder(dir.path()).open().await.unwrap();
//! let db = node.db();
//!
//! db.set("balance:alice", "100").await.unwrap();          // durable (fsynced) on return
//! db.incr_by("balance:alice", -30).await.unwrap();
//! assert_eq!(db.get("balance:alice").await.unwrap().as_deref(), Some(&b"70"[..]));
//!
//! // Move 20 from alice to bob atomically, only if alice's balance did not change meanwhile.
//! let seen = db.version("balance:alice");
//! let transfer = Transaction::from_args(
//!     vec![(bytes::Bytes::from("balance:alice"), seen)],
//!     &[&["DECRBY", "balance:alice", "20"][..], &["INCRBY", "balance:bob", "20"][..]],
//! )
//! .unwrap();
//! let replies = db.transaction(transfer).await.unwrap().expect("not aborted");
//! assert_eq!(replies.len(), 2);
//!
//! node.shutdown().await.unwrap();                          // drains, fsyncs, closes the log
//!
//! // Reopen: everything acknowledged is still there.
//! let node = Node::builder(dir.path()).open().await.unwrap();
//! assert_eq!(node.db().get("balance:bob").await.unwrap().as_deref(), Some(&b"20"[..]));
//! node.shutdown().await.unwrap();
//! # });
//! ```

pub mod allocator;
pub mod backup;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod command;
pub mod error;
pub mod inspect;
pub mod keyspace;
pub mod node;
pub mod peer;
pub mod raft;
pub mod resp;
pub mod server;
pub mod snapshot;
pub mod tls;
pub mod wal;

pub use command::{Command, CommandError, Reply, Transaction};
pub use error::{Error, OpenError};
pub use keyspace::KeyVersion;
pub use node::{Class, Db, Node, NodeBuilder, NodeStatus, SnapshotPolicyOption};
pub use wal::{Backend, WriterMode};
