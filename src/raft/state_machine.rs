//! openraft's state machine: applies committed entries to the keyspace and manages snapshots.
//!
//! The keyspace is shared with the read path behind an `RwLock`; apply holds the write lock for
//! one batch of entries. Snapshots are built from an O(1) clone of the (persistent) keyspace on a
//! blocking thread, so writes continue while a snapshot is written.
//! Invariant: `snapshot <= applied`, and `applied` only moves forward (or jumps to an installed
//! snapshot).

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::oneshot;

use super::{
    log_io_error, Entry, LogId, Op, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::command::notify::KeyEvent;
use crate::command::{self, Cx, Reply, UnblockOutcome, Unblocked};
use crate::keyspace::WaiterId;
use crate::keyspace::{session_id, Admission, Keyspace, Outcome};
use crate::snapshot::{self, SnapshotHeader, SnapshotInfo};

/// The name a snapshot being received from a leader is written under before it is verified.
const INCOMING_FILE: &str = "incoming.snap.tmp";
/// The name a snapshot being installed is copied to and verified under before it is renamed.
const INSTALLING_FILE: &str = "incoming-install.snap.tmp";

/// Applied position and membership, moved together.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub log_id: Option<LogId>,
    pub membership: StoredMembership,
}

/// State shared between the state machine (owned by openraft) and the node's read path.
pub struct SmShared {
    pub keyspace: RwLock<Keyspace>,
    pub applied: Mutex<Applied>,
    /// Time (ms) of the last applied entry; the batcher stamps new entries no earlier than this.
    pub last_time_ms: AtomicU64,
    /// Last log index covered by the current snapshot (0 = none).
    pub snapshot_index: AtomicU64,
    /// Snapshots built so far by this process (for ids and statistics).
    pub snapshots_built: AtomicU64,
    /// This node's blocked clients: where each waiter's outcome goes when an apply ends its
    /// wait. Waiters of other nodes are not here (their node delivers).
    waiting: Mutex<HashMap<WaiterId, oneshot::Sender<UnblockOutcome>>>,
    /// `notify-keyspace-events` (0: off): the events apply records.
    notify_flags: std::sync::atomic::AtomicU32,
    /// Where recorded keyspace events go after each apply (the server's pub/sub hub).
    event_sink: std::sync::OnceLock<EventSink>,
    /// Bumped after every applied change to the ACL users (and snapshot install), so
    /// connections know to look their user up again.
    pub acl_generation: AtomicU64,
    /// Called after an apply or snapshot install that changed the ACL users (the server
    /// disconnects clients of users that are gone or disabled).
    acl_sink: std::sync::OnceLock<AclSink>,
    /// Where the script calls refused by ACL during an apply go (the server's ACL LOG).
    denial_sink: std::sync::OnceLock<DenialSink>,
    /// Where the commands scripts called during an apply are counted (INFO commandstats).
    call_sink: std::sync::OnceLock<CallSink>,
    /// The scripts running on this node: applied ones register here while they run, and the
    /// server adds those it runs outside the log (BUSY, SCRIPT KILL).
    pub scripts: Arc<command::RunningScripts>,
}

/// Receives the commands the scripts of an applied batch called.
pub type CallSink = Arc<dyn Fn(Vec<command::ScriptCall>) + Send + Sync>;

/// Receives the script calls an applied batch refused, with the user each ran as.
pub type DenialSink = Arc<dyn Fn(Vec<(bytes::Bytes, command::Denial)>) + Send + Sync>;

/// Told that the ACL users changed.
pub type AclSink = Arc<dyn Fn() + Send + Sync>;

/// Receives the keyspace events of an applied batch, with the flags they were recorded under.
pub type EventSink = Arc<dyn Fn(u32, Vec<KeyEvent>) + Send + Sync>;

impl SmShared {
    pub fn applied(&self) -> Applied {
        self.applied.lock().expect("applied lock").clone()
    }

    /// Registers a blocked client of this node before its blocking command is proposed, so an
    /// outcome decided by any later entry finds it.
    pub(crate) fn expect_unblock(&self, id: WaiterId) -> oneshot::Receiver<UnblockOutcome> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("waiting lock").insert(id, tx);
        rx
    }

    /// Forgets a blocked client that no longer waits (answered at once, or gone).
    pub(crate) fn forget_unblock(&self, id: &WaiterId) {
        self.waiting.lock().expect("waiting lock").remove(id);
    }

    /// Sets `notify-keyspace-events` for the entries applied from now on.
    pub fn set_notify_flags(&self, flags: u32) {
        self.notify_flags.store(flags, Ordering::Relaxed);
    }

    /// Installs where keyspace events are delivered (once).
    pub fn set_event_sink(&self, sink: EventSink) {
        let _ = self.event_sink.set(sink);
    }

    /// Installs where refused script calls are reported (once).
    pub fn set_denial_sink(&self, sink: DenialSink) {
        let _ = self.denial_sink.set(sink);
    }

    /// Installs where the commands scripts call are counted (once).
    pub fn set_call_sink(&self, sink: CallSink) {
        let _ = self.call_sink.set(sink);
    }

    /// Installs who hears of ACL user changes (once).
    pub fn set_acl_sink(&self, sink: AclSink) {
        let _ = self.acl_sink.set(sink);
    }

    /// Records that the ACL users changed and tells the sink.
    fn acl_changed(&self) {
        self.acl_generation.fetch_add(1, Ordering::Release);
        if let Some(sink) = self.acl_sink.get() {
            sink();
        }
    }

    /// Hands each ended wait to its client on this node, if that client still waits.
    fn deliver_unblocked(&self, unblocked: Vec<Unblocked>) {
        if unblocked.is_empty() {
            return;
        }
        let mut waiting = self.waiting.lock().expect("waiting lock");
        for Unblocked { id, outcome } in unblocked {
            if let Some(tx) = waiting.remove(&id) {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// The state machine handed to openraft.
pub struct StateMachine {
    shared: Arc<SmShared>,
    dir: PathBuf,
    current: Option<SnapshotInfo>,
    /// Held for as long as openraft owns this state machine (see `hold`).
    guard: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl StateMachine {
    /// Opens the state machine on `dir`, loading the newest snapshot there if any.
    ///
    /// A snapshot that fails its checksum is an error, not something to skip: the WAL prefix it
    /// covers may already be purged, so falling back to an older image could lose writes.
    pub fn open(dir: &Path) -> Result<(Self, Arc<SmShared>), snapshot::SnapshotError> {
        let io_err = |source| snapshot::SnapshotError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let newest = snapshot::list(dir).map_err(io_err)?.into_iter().next();
        let (current, keyspace, applied, last_time_ms) = match newest {
            Some(path) => {
                let (info, keyspace) = snapshot::load(&path)?;
                snapshot::remove_others(dir, &path).map_err(io_err)?;
                let applied = Applied {
                    log_id: info.header.meta.last_log_id,
                    membership: info.header.meta.last_membership.clone(),
                };
                let time = info.header.last_time_ms;
                (Some(info), keyspace, applied, time)
            }
            None => (None, Keyspace::new(), Applied::default(), 0),
        };
        let snapshot_index = current
            .as_ref()
            .and_then(|c| c.header.meta.last_log_id)
            .map_or(0, |id| id.index);
        let shared = Arc::new(SmShared {
            keyspace: RwLock::new(keyspace),
            applied: Mutex::new(applied),
            last_time_ms: AtomicU64::new(last_time_ms),
            snapshot_index: AtomicU64::new(snapshot_index),
            snapshots_built: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            notify_flags: std::sync::atomic::AtomicU32::new(0),
            event_sink: std::sync::OnceLock::new(),
            acl_generation: AtomicU64::new(0),
            acl_sink: std::sync::OnceLock::new(),
            denial_sink: std::sync::OnceLock::new(),
            call_sink: std::sync::OnceLock::new(),
            scripts: Arc::default(),
        });
        let sm = Self {
            shared: shared.clone(),
            dir: dir.to_path_buf(),
            current,
            guard: None,
        };
        Ok((sm, shared))
    }

    /// Keeps `guard` alive until openraft drops the state machine, i.e. until the consensus
    /// engine has really stopped. The node passes its data directory lock here, so a node
    /// dropped without `shutdown` keeps its directory locked until its engine is gone.
    pub fn hold(&mut self, guard: Arc<dyn std::any::Any + Send + Sync>) {
        self.guard = Some(guard);
    }

    /// The snapshot currently backing this state machine, if any.
    pub fn current_snapshot(&self) -> Option<&SnapshotInfo> {
        self.current.as_ref()
    }
}

fn snapshot_error(
    meta: Option<&SnapshotMeta>,
    verb: ErrorVerb,
    e: impl std::error::Error + Send + Sync + 'static,
) -> StorageError {
    let subject = match meta {
        Some(m) => ErrorSubject::Snapshot(Some(m.signature())),
        None => ErrorSubject::Snapshot(None),
    };
    log_io_error(subject, verb, e)
}

/// Applies one operation in its context (log time, random seed); one reply per op.
pub(crate) fn apply_op(keyspace: &mut Keyspace, op: &Op, cx: &mut Cx) -> Reply {
    match op {
        Op::Command(cmd) => cmd.apply(keyspace, cx),
        Op::Transaction(txn) => txn.apply(keyspace, cx),
        Op::PurgeExpired(keys) => {
            if cx.notifications_on() {
                for key in keys {
                    let slot = crate::keyspace::Slot::new(key.clone());
                    if keyspace.contains_expired(&slot, cx.now_ms) {
                        cx.notify(KeyEvent {
                            class: command::notify::EXPIRED,
                            event: "expired",
                            key: key.clone(),
                        });
                    }
                }
            }
            Reply::Integer(keyspace.purge_expired(keys, cx.now_ms) as i64)
        }
        Op::CancelWait(id) => command::cancel_wait(keyspace, id),
        Op::OpenSession { idle_timeout_ms } => {
            let Some((index, position)) = cx.position else {
                return Reply::Error("ERR sessions are opened through the log".into());
            };
            let id = session_id(index, position);
            match keyspace
                .sessions_mut()
                .open(id, *idle_timeout_ms, cx.now_ms)
            {
                Ok(()) => Reply::Integer(id as i64),
                Err(error) => Reply::Error(error),
            }
        }
        Op::CloseSession(id) => {
            Reply::Integer(i64::from(keyspace.sessions_mut().close(*id, cx.now_ms)))
        }
        Op::InSession {
            session,
            seq,
            acked_below,
            op,
        } => {
            let admission = keyspace
                .sessions_mut()
                .admit(*session, *seq, *acked_below, cx.now_ms);
            match admission {
                Admission::Apply => {
                    let reply = apply_op(keyspace, op, cx);
                    let recorded = postcard::to_allocvec(&reply).expect("replies always encode");
                    keyspace
                        .sessions_mut()
                        .record(*session, *seq, recorded.into());
                    reply
                }
                Admission::Duplicate(recorded) => recorded_reply(&recorded),
                Admission::Refuse(error) => Reply::Error(error),
            }
        }
        Op::Outcome { session, seq } => {
            match keyspace.sessions_mut().outcome(*session, *seq, cx.now_ms) {
                Outcome::Applied(recorded) => Reply::Array(vec![
                    Reply::Bulk("applied".into()),
                    recorded_reply(&recorded),
                ]),
                Outcome::NotApplied => Reply::Array(vec![Reply::Bulk("not-applied".into())]),
                Outcome::Refused(error) => Reply::Error(error),
            }
        }
        Op::AsUser { user, op } => {
            let caller = crate::command::acl::script_caller(keyspace.users(), user);
            let outer = cx.set_caller(caller);
            let reply = apply_op(keyspace, op, cx);
            cx.set_caller(outer);
            reply
        }
        Op::UnderLimits { limits, op } => {
            let outer = cx.set_limits(*limits);
            let reply = apply_op(keyspace, op, cx);
            cx.set_limits(outer);
            reply
        }
        Op::UnderBudget { instructions, op } => {
            let outer = cx.set_instruction_budget(Some(*instructions));
            let reply = apply_op(keyspace, op, cx);
            cx.set_instruction_budget(outer);
            reply
        }
        Op::Acl(change) => match keyspace.users_mut().change(change) {
            Ok(_) if !matches!(change, crate::keyspace::UserChange::DelUsers(_)) => Reply::Ok,
            Ok(removed) => Reply::Integer(removed as i64),
            Err(error) => Reply::Array(vec![
                Reply::Integer(error.index as i64),
                Reply::Bulk(error.reason.into()),
            ]),
        },
    }
}

/// A reply the session table recorded (postcard of [`Reply`], written by this module).
fn recorded_reply(recorded: &[u8]) -> Reply {
    postcard::from_bytes(recorded)
        .unwrap_or_else(|e| Reply::Error(format!("ERR the recorded reply does not decode ({e})")))
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.shared.applied();
        Ok((applied.log_id, applied.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Reply>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        let mut acl_changed = false;
        let mut unblocked = Vec::new();
        let mut events = Vec::new();
        let mut denials = Vec::new();
        let mut calls = Vec::new();
        let notify_flags = self.shared.notify_flags.load(Ordering::Relaxed);
        let mut keyspace = self.shared.keyspace.write().expect("keyspace lock");
        let mut applied = self.shared.applied.lock().expect("applied lock");
        for entry in entries {
            debug_assert!(
                applied.log_id.is_none_or(|a| a.index < entry.log_id.index),
                "applied only moves forward"
            );
            let (term, index) = (entry.log_id.leader_id.term, entry.log_id.index);
            // Every entry (a new leader's first is blank) ends the waits of older terms.
            let mut cx = Cx::new(0, 0).in_term(term);
            command::end_stale_waits(&mut keyspace, &mut cx);
            unblocked.extend(cx.take_unblocked());
            let replies = match &entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(proposal) => {
                    let now_ms = proposal.time_ms;
                    self.shared
                        .last_time_ms
                        .fetch_max(now_ms, Ordering::Relaxed);
                    (0u64..)
                        .zip(&proposal.ops)
                        .map(|(position, op)| {
                            acl_changed |= matches!(op, Op::Acl(_));
                            let seed = Cx::entry_seed(term, index, position);
                            let mut cx = Cx::new(now_ms, seed)
                                .in_term(term)
                                .at(index, position)
                                .notifying(notify_flags)
                                .registering_in(self.shared.scripts.clone());
                            let reply = apply_op(&mut keyspace, op, &mut cx);
                            // Pops this op made possible happen now, before the next op.
                            command::serve_blocked(&mut keyspace, &mut cx);
                            unblocked.extend(cx.take_unblocked());
                            // After serving: a served XREADGROUP may create its consumer.
                            if cx.notifications_on() {
                                events.extend(cx.take_events());
                            }
                            denials.extend(cx.take_denials());
                            calls.extend(cx.take_calls());
                            reply
                        })
                        .collect()
                }
                EntryPayload::Membership(membership) => {
                    applied.membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    Vec::new()
                }
            };
            applied.log_id = Some(entry.log_id);
            responses.push(replies);
        }
        drop(applied);
        drop(keyspace);
        self.shared.deliver_unblocked(unblocked);
        if acl_changed {
            self.shared.acl_changed();
        }
        if !events.is_empty() {
            if let Some(sink) = self.shared.event_sink.get() {
                sink(notify_flags, events);
            }
        }
        if !denials.is_empty() {
            if let Some(sink) = self.shared.denial_sink.get() {
                sink(denials);
            }
        }
        if !calls.is_empty() {
            if let Some(sink) = self.shared.call_sink.get() {
                sink(calls);
            }
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Called on the state machine task, between applies: this clone is a consistent cut.
        let keyspace = self.shared.keyspace.read().expect("keyspace lock").clone();
        let applied = self.shared.applied();
        let seq = self.shared.snapshots_built.fetch_add(1, Ordering::Relaxed) + 1;
        SnapshotBuilder {
            dir: self.dir.clone(),
            keyspace,
            applied,
            last_time_ms: self.shared.last_time_ms.load(Ordering::Relaxed),
            seq,
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let path = self.dir.join(INCOMING_FILE);
        // Read and write: openraft writes the chunks into it, `install_snapshot` reads it back.
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(|e| snapshot_error(None, ErrorVerb::Write, e))?;
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let err = |verb, e: std::io::Error| snapshot_error(Some(meta), verb, e);
        // The handle may be the file from `begin_receiving_snapshot` or any other readable
        // snapshot; copy it from the start into a file of our own, fsync it, then verify it.
        let installing = self.dir.join(INSTALLING_FILE);
        snapshot
            .seek(SeekFrom::Start(0))
            .await
            .map_err(|e| err(ErrorVerb::Read, e))?;
        let mut target = tokio::fs::File::create(&installing)
            .await
            .map_err(|e| err(ErrorVerb::Write, e))?;
        tokio::io::copy(&mut *snapshot, &mut target)
            .await
            .map_err(|e| err(ErrorVerb::Write, e))?;
        target.flush().await.map_err(|e| err(ErrorVerb::Write, e))?;
        target
            .sync_all()
            .await
            .map_err(|e| err(ErrorVerb::Write, e))?;
        drop(target);
        drop(snapshot);
        let incoming = installing.clone();
        let (info, keyspace) = tokio::task::spawn_blocking(move || snapshot::load(&incoming))
            .await
            .map_err(|e| err(ErrorVerb::Read, std::io::Error::other(e)))?
            .map_err(|e| snapshot_error(Some(meta), ErrorVerb::Read, e))?;
        if info.header.meta.last_log_id != meta.last_log_id {
            return Err(err(
                ErrorVerb::Read,
                std::io::Error::other(format!(
                    "received snapshot covers {:?} but the leader announced {:?}",
                    info.header.meta.last_log_id, meta.last_log_id
                )),
            ));
        }
        let final_path = self.dir.join(snapshot::file_name(&meta.snapshot_id));
        let dir = self.dir.clone();
        let incoming = installing;
        let keep = final_path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::rename(&incoming, &keep)?;
            snapshot::sync_dir(&dir)?;
            snapshot::remove_others(&dir, &keep)
        })
        .await
        .map_err(|e| err(ErrorVerb::Write, std::io::Error::other(e)))?
        .map_err(|e| err(ErrorVerb::Write, e))?;

        let version_counter = info.header.version_counter;
        let last_time_ms = info.header.last_time_ms;
        {
            let mut ks = self.shared.keyspace.write().expect("keyspace lock");
            *ks = keyspace;
            ks.set_version_counter(version_counter);
            let mut applied = self.shared.applied.lock().expect("applied lock");
            applied.log_id = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        self.shared
            .last_time_ms
            .fetch_max(last_time_ms, Ordering::Relaxed);
        self.shared
            .snapshot_index
            .store(meta.last_log_id.map_or(0, |id| id.index), Ordering::Relaxed);
        self.shared.acl_changed();
        self.current = Some(SnapshotInfo {
            path: final_path,
            ..info
        });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let newest = snapshot::list(&self.dir)
            .map_err(|e| snapshot_error(None, ErrorVerb::Read, e))?
            .into_iter()
            .next();
        let Some(path) = newest else {
            return Ok(None);
        };
        let info = match &self.current {
            Some(info) if info.path == path => info.clone(),
            _ => {
                let p = path.clone();
                let info = tokio::task::spawn_blocking(move || snapshot::verify(&p))
                    .await
                    .map_err(|e| snapshot_error(None, ErrorVerb::Read, std::io::Error::other(e)))?
                    .map_err(|e| snapshot_error(None, ErrorVerb::Read, e))?;
                self.current = Some(info.clone());
                info
            }
        };
        let mut file = tokio::fs::File::open(&info.path)
            .await
            .map_err(|e| snapshot_error(Some(&info.header.meta), ErrorVerb::Read, e))?;
        file.seek(SeekFrom::Start(0))
            .await
            .map_err(|e| snapshot_error(Some(&info.header.meta), ErrorVerb::Read, e))?;
        Ok(Some(Snapshot {
            meta: info.header.meta.clone(),
            snapshot: Box::new(file),
        }))
    }
}

/// Builds one snapshot from a point-in-time clone of the keyspace.
pub struct SnapshotBuilder {
    dir: PathBuf,
    keyspace: Keyspace,
    applied: Applied,
    last_time_ms: u64,
    seq: u64,
    shared: Arc<SmShared>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (term, index) = self
            .applied
            .log_id
            .map_or((0, 0), |id| (id.leader_id.term, id.index));
        let meta = SnapshotMeta {
            last_log_id: self.applied.log_id,
            last_membership: self.applied.membership.clone(),
            snapshot_id: snapshot::snapshot_id(term, index, self.seq),
        };
        let header = SnapshotHeader {
            meta: meta.clone(),
            version_counter: self.keyspace.version_counter(),
            last_time_ms: self.last_time_ms,
        };
        let keyspace = std::mem::take(&mut self.keyspace);
        let dir = self.dir.clone();
        let started = std::time::Instant::now();
        let info = tokio::task::spawn_blocking(move || {
            let info = snapshot::write(&dir, &header, &keyspace)?;
            snapshot::remove_others(&dir, &info.path).map_err(|source| {
                snapshot::SnapshotError::Io {
                    path: dir.clone(),
                    source,
                }
            })?;
            Ok::<_, snapshot::SnapshotError>(info)
        })
        .await
        .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Write, std::io::Error::other(e)))?
        .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Write, e))?;
        self.shared.snapshot_index.store(index, Ordering::Relaxed);
        tracing::info!(
            snapshot = %meta.snapshot_id,
            keys = info.record_count,
            bytes = info.file_bytes,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
        let file = tokio::fs::File::open(&info.path)
            .await
            .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Read, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(file),
        })
    }
}
