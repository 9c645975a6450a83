//! `Db`: the embedded handle for reads and writes.
//!
//! Writes go through the batcher and the log and return only after their entry is fsynced and
//! applied; reads are served from the keyspace without touching the log. The typed calls build
//! `Command` values directly (no argument strings to parse), the same values the wire protocol
//! parses into, so the embedded API and the wire share one set of semantics and error texts.
//! On a cluster member, every write of the caller is exactly-once through the node's session
//! (src/node/exactly_once.rs). Typed calls return typed results; a command's refusal is
//! `Error::Command` with Redis's text, and [`Error::command_error`] gives the typed
//! [`CommandError`] behind it. A full lane is `Error::Busy { retry_after_ms, .. }`. Each handle has a priority [`Class`]; its writes go to
//! that lane (`Db::with_class`).

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::batcher::Pending;
use super::exactly_once::DbSession;
use super::lanes::{Class, Lanes, Refused};
use crate::cluster::{Cluster, ReadConsistency};
use crate::command::{
    Command, CommandError, Cx, Del, ExpireCondition, Get, HGet, HGetAll, HSet, IncrBy, PExpire,
    Reply, Set, SetCondition, SetExpiry, Transaction, ZAdd, ZAddComparison, ZAddCondition, ZScore,
};
use crate::error::Error;
use crate::keyspace::KeyVersion;
use crate::raft::{Op, SmShared};

struct Inner {
    lanes: Arc<Lanes<Pending>>,
    sm: Arc<SmShared>,
    cluster: Arc<Cluster>,
    /// The batcher's `entry_bytes_max`: no single write may be larger.
    entry_bytes_max: usize,
    /// A cluster member's exactly-once session (unused on a single node).
    session: DbSession,
}

/// A cloneable handle on a node's data. Every write returns after its fsync.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    /// The lane this handle's writes go to.
    class: Class,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

fn arg(x: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(x.as_ref())
}

impl Db {
    pub(crate) fn new(
        lanes: Arc<Lanes<Pending>>,
        sm: Arc<SmShared>,
        cluster: Arc<Cluster>,
        entry_bytes_max: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                lanes,
                sm,
                cluster,
                entry_bytes_max,
                session: DbSession::default(),
            }),
            class: Class::default(),
        }
    }

    /// The same node's data through another lane: writes made through the returned handle are
    /// queued, drained and shed as `class` (the default handle is `Normal`). Writes through
    /// handles of different classes may be applied in a different order than they were made.
    pub fn with_class(&self, class: Class) -> Db {
        Db {
            inner: self.inner.clone(),
            class,
        }
    }

    /// The lane this handle's writes go to.
    pub fn class(&self) -> Class {
        self.class
    }

    /// Refuses new writes from every clone of this handle; queued ones are still answered.
    pub(crate) fn close(&self) {
        self.inner.lanes.close();
    }

    /// The keyspace, locked for reading (apply takes the write lock once per batch).
    fn keyspace(&self) -> std::sync::RwLockReadGuard<'_, crate::keyspace::Keyspace> {
        self.inner.sm.keyspace.read().expect("keyspace lock")
    }

    /// A copy of the applied keyspace (O(1): persistent maps), for a read that runs too long
    /// to hold the lock (a script run outside the log).
    pub(crate) fn keyspace_copy(&self) -> crate::keyspace::Keyspace {
        self.keyspace().clone()
    }

    /// The time used for reads: never earlier than the last applied entry's time, so a key
    /// that a write already saw as expired is never seen alive by a later read.
    pub(crate) fn read_time_ms(&self) -> u64 {
        self.inner.cluster.now_ms().max(
            self.inner
                .sm
                .last_time_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub(super) async fn submit(&self, op: Op) -> Result<Reply, Error> {
        self.enqueue_op(op).await?.wait().await
    }

    /// A write of this handle's caller: exactly once through the node's session on a cluster
    /// member (where a write forwarded to a failing leader could otherwise end "may or may not
    /// have been applied"); proposed once on a single node, whose own fsync decides.
    async fn submit_write(&self, op: Op) -> Result<Reply, Error> {
        if self.inner.cluster.options.is_some() {
            self.exactly_once(op).await
        } else {
            self.submit(op).await
        }
    }

    pub(super) fn node_id(&self) -> u64 {
        self.inner.cluster.id
    }

    pub(super) fn session_cell(&self) -> &DbSession {
        &self.inner.session
    }

    /// Queues a write and returns as soon as it is admitted, without waiting for its reply.
    /// Writes enqueued one after another from one task are applied in that order, so a
    /// pipelining connection can enqueue a run of writes and then await the replies in order.
    pub async fn enqueue(&self, command: Command) -> Result<PendingReply, Error> {
        debug_assert!(
            command.is_write() || command.block_timeout_ms().is_some(),
            "reads never touch the log, except one that may block (XREAD BLOCK registers a waiter)"
        );
        self.enqueue_op(Op::Command(command)).await
    }

    /// [`Db::enqueue`] for a transaction (one log entry).
    pub async fn enqueue_transaction(
        &self,
        transaction: Transaction,
    ) -> Result<PendingReply, Error> {
        self.enqueue_op(Op::Transaction(transaction)).await
    }

    /// Admits a write to this handle's lane, or refuses it at once (`Error::Busy` with a retry
    /// hint when the lane is over its limit).
    pub(crate) async fn enqueue_op(&self, op: Op) -> Result<PendingReply, Error> {
        self.enqueue_from(op, false).await
    }

    /// Queues `op` in this handle's lane; `forwarded` if a follower sent it to this node.
    async fn enqueue_from(&self, op: Op, forwarded: bool) -> Result<PendingReply, Error> {
        let bytes = postcard::serialize_with_flavor(&op, postcard::ser_flavors::Size::default())
            .unwrap_or(usize::MAX);
        let max = self.inner.entry_bytes_max - super::batcher::ENTRY_OVERHEAD_BYTES;
        if bytes > max {
            return Err(Error::TooLarge { bytes, max });
        }
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            op,
            reply: tx,
            bytes,
            forwarded,
        };
        match self.inner.lanes.push(self.class, pending) {
            Ok(()) => Ok(PendingReply { rx }),
            Err(Refused::Closed) => Err(Error::ShuttingDown),
            Err(busy) => Err(Error::Busy {
                reason: busy.busy_reason().unwrap_or_default(),
                retry_after_ms: busy.retry_after_ms(),
            }),
        }
    }

    /// Serves a read-only command from the keyspace (no log). A write command here is a bug in
    /// the caller; it gets an error reply rather than being applied.
    pub fn read(&self, command: &Command) -> Reply {
        let mut cx = Cx::local(self.read_time_ms());
        if command.may_read_many() {
            // Clone (O(1): persistent maps) and read without the lock: a long scan never keeps
            // apply waiting, even when the reader's thread is descheduled mid-scan.
            let snapshot = self.keyspace().clone();
            return command.read(&snapshot, &mut cx);
        }
        command.read(&self.keyspace(), &mut cx)
    }

    /// Serves a read at the given consistency: linearizable (on a cluster, confirmed with a
    /// quorum by the leader, or forwarded to it from a follower) or stale (this node's state,
    /// refused when it lags its leader by more than the configured bound).
    pub async fn read_with(
        &self,
        command: &Command,
        consistency: ReadConsistency,
    ) -> Result<Reply, Error> {
        self.inner
            .cluster
            .read(command, consistency, |c| self.read(c))
            .await
    }

    /// Runs any command: writes go through the log, reads are linearizable. A Redis-style
    /// error is returned as `Ok(Reply::Error(..))`, as it would be on the wire.
    pub async fn execute(&self, command: Command) -> Result<Reply, Error> {
        if command.is_write() {
            self.submit_write(Op::Command(command)).await
        } else {
            self.read_with(&command, ReadConsistency::Linearizable)
                .await
        }
    }

    /// Parses a command given as Redis arguments (`["SET", "k", "v"]`) and runs it.
    pub async fn execute_args<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply, Error> {
        let args: Vec<Bytes> = args.iter().map(arg).collect();
        match Command::parse(&args) {
            Ok(command) => self.execute(command).await,
            Err(e) => Ok(e.to_reply()),
        }
    }

    /// Runs a command built by a typed call; an error reply becomes `Error::Command`.
    async fn run(&self, command: impl Into<Command>) -> Result<Reply, Error> {
        match self.execute(command.into()).await? {
            Reply::Error(text) => Err(Error::Command(text)),
            reply => Ok(reply),
        }
    }

    async fn call<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply, Error> {
        match self.execute_args(args).await? {
            Reply::Error(text) => Err(Error::Command(text)),
            reply => Ok(reply),
        }
    }

    /// SET key value. Durable when it returns.
    pub async fn set(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Error> {
        self.set_with(key, value, SetExpiry::Clear).await
    }

    /// SET key value PX ttl (at least 1 ms).
    pub async fn set_with_ttl(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<(), Error> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        self.set_with(key, value, SetExpiry::InMs(ttl_ms)).await
    }

    async fn set_with(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        expiry: SetExpiry,
    ) -> Result<(), Error> {
        self.run(Set {
            key: arg(key),
            value: arg(value),
            condition: SetCondition::Always,
            expiry,
            return_old: false,
        })
        .await?;
        Ok(())
    }

    /// GET key.
    pub async fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>, Error> {
        bulk_or_nil(self.run(Get { key: arg(key) }).await?)
    }

    /// DEL key [key ...]: how many existed.
    pub async fn del<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<i64, Error> {
        let keys = keys.iter().map(arg).collect();
        integer(self.run(Del { keys }).await?)
    }

    /// INCRBY key delta: the new value.
    pub async fn incr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64, Error> {
        integer(
            self.run(IncrBy {
                key: arg(key),
                delta,
            })
            .await?,
        )
    }

    /// HSET key field value [field value ...]: how many fields were added.
    pub async fn hset<F: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        key: impl AsRef<[u8]>,
        pairs: &[(F, V)],
    ) -> Result<i64, Error> {
        let pairs = pairs.iter().map(|(f, v)| (arg(f), arg(v))).collect();
        integer(
            self.run(HSet {
                key: arg(key),
                pairs,
            })
            .await?,
        )
    }

    /// HGET key field.
    pub async fn hget(
        &self,
        key: impl AsRef<[u8]>,
        field: impl AsRef<[u8]>,
    ) -> Result<Option<Bytes>, Error> {
        bulk_or_nil(
            self.run(HGet {
                key: arg(key),
                field: arg(field),
            })
            .await?,
        )
    }

    /// HGETALL key as (field, value) pairs.
    pub async fn hgetall(&self, key: impl AsRef<[u8]>) -> Result<Vec<(Bytes, Bytes)>, Error> {
        pairs(self.run(HGetAll { key: arg(key) }).await?)
    }

    /// ZADD key score member [score member ...]: how many members were added. A NaN score is
    /// refused as Redis refuses it.
    pub async fn zadd<M: AsRef<[u8]>>(
        &self,
        key: impl AsRef<[u8]>,
        members: &[(f64, M)],
    ) -> Result<i64, Error> {
        if members.iter().any(|(score, _)| score.is_nan()) {
            return Err(Error::Command(CommandError::NotFloat.to_string()));
        }
        integer(
            self.run(ZAdd {
                key: arg(key),
                condition: ZAddCondition::Always,
                comparison: ZAddComparison::Any,
                count_changed: false,
                incr: false,
                pairs: members.iter().map(|(s, m)| (*s, arg(m))).collect(),
            })
            .await?,
        )
    }

    /// ZSCORE key member.
    pub async fn zscore(
        &self,
        key: impl AsRef<[u8]>,
        member: impl AsRef<[u8]>,
    ) -> Result<Option<f64>, Error> {
        let reply = self
            .run(ZScore {
                key: arg(key),
                member: arg(member),
            })
            .await?;
        match reply {
            Reply::Double(score) => Ok(Some(score)),
            Reply::Bulk(text) => parse_score(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// ZRANGE key min max BYSCORE WITHSCORES as (member, score) pairs, lowest score first.
    pub async fn zrange_by_score(
        &self,
        key: impl AsRef<[u8]>,
        min: f64,
        max: f64,
    ) -> Result<Vec<(Bytes, f64)>, Error> {
        let reply = self
            .call(&[
                arg("ZRANGE"),
                arg(key),
                arg(format_score(min)),
                arg(format_score(max)),
                arg("BYSCORE"),
                arg("WITHSCORES"),
            ])
            .await?;
        scored_members(reply)
    }

    /// PEXPIRE key after `ttl`: true if the key exists and got the TTL.
    pub async fn expire(
        &self,
        key: impl AsRef<[u8]>,
        ttl: std::time::Duration,
    ) -> Result<bool, Error> {
        let milliseconds = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let reply = self
            .run(PExpire {
                key: arg(key),
                milliseconds,
                condition: ExpireCondition::Always,
            })
            .await?;
        Ok(integer(reply)? == 1)
    }

    /// The current version of `key`, for a WATCH-style check in [`Db::transaction`].
    pub fn version(&self, key: impl AsRef<[u8]>) -> KeyVersion {
        let now_ms = self.read_time_ms();
        self.keyspace().version(key.as_ref(), now_ms)
    }

    /// Applies `transaction` atomically as one log entry. `Ok(None)` means a watched key changed
    /// and nothing was applied; otherwise one reply per command (a command's runtime error is
    /// its reply; the others still apply, as in Redis).
    pub async fn transaction(&self, transaction: Transaction) -> Result<Option<Vec<Reply>>, Error> {
        match self.submit_write(Op::Transaction(transaction)).await? {
            Reply::Array(replies) => Ok(Some(replies)),
            Reply::NilArray | Reply::Nil => Ok(None),
            Reply::Error(text) => Err(Error::Command(text)),
            other => Err(Error::Command(format!(
                "ERR unexpected transaction reply {other:?}"
            ))),
        }
    }

    /// Number of keys stored (expired keys not yet swept included, as Redis DBSIZE).
    pub fn len(&self) -> usize {
        self.keyspace().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Digest of the whole keyspace; equal on replicas that applied the same log.
    pub fn digest(&self) -> u128 {
        self.keyspace().digest()
    }

    /// Prepares to hear the outcome of blocked waiter `id` of this node; call before proposing
    /// its blocking command, so that an entry serving it right after is not missed.
    pub(crate) fn expect_unblock(
        &self,
        id: crate::keyspace::WaiterId,
    ) -> oneshot::Receiver<crate::command::UnblockOutcome> {
        self.inner.sm.expect_unblock(id)
    }

    /// Stops listening for waiter `id` (its command was answered without blocking).
    pub(crate) fn forget_unblock(&self, id: &crate::keyspace::WaiterId) {
        self.inner.sm.forget_unblock(id);
    }

    /// Ends waiter `id`'s wait through the log: `Ok(Reply::Integer(1))` if it was still
    /// waiting, `0` if an entry before this one served or dropped it (its outcome was then
    /// delivered to [`Db::expect_unblock`]'s receiver).
    pub(crate) async fn cancel_wait(&self, id: crate::keyspace::WaiterId) -> Result<Reply, Error> {
        self.submit(Op::CancelWait(id)).await
    }

    /// Whether this node may hand blocked clients the pops that later entries make for them:
    /// true when a committed entry is already fsynced in `min_ack_zones` zones (a single node,
    /// or voters spread so that every majority spans enough zones), since such a pop reaches its
    /// client at apply, without the zone gate that holds ordinary replies.
    pub(crate) fn may_block(&self) -> bool {
        self.inner.cluster.commit_implies_zone_rule()
    }

    pub(crate) fn expired_keys(&self, count_max: usize) -> Vec<Bytes> {
        let now_ms = self.read_time_ms();
        self.keyspace().expired_keys(now_ms, count_max)
    }

    pub(crate) async fn purge_expired(&self, keys: Vec<Bytes>) -> Result<Reply, Error> {
        self.submit(Op::PurgeExpired(keys)).await
    }
}

/// The reply to a write that was admitted to the log queue.
#[derive(Debug)]
pub struct PendingReply {
    rx: oneshot::Receiver<Result<Reply, Error>>,
}

impl PendingReply {
    /// Waits until the write is durable and applied (or failed).
    pub async fn wait(self) -> Result<Reply, Error> {
        // A dropped sender means the engine went away without answering; whether the entry
        // became durable is unknown.
        self.rx.await.unwrap_or_else(|_| {
            Err(Error::Fatal {
                reason: "consensus engine stopped before answering".into(),
            })
        })
    }
}

/// The cluster's view of this node's write path: a follower's forwarded batch is queued in
/// this handle's lane like any local write.
impl crate::cluster::WritePath for Db {
    fn submit(&self, ops: Vec<Op>) -> crate::cluster::Submitted<'_> {
        Box::pin(async move {
            let mut pending = Vec::with_capacity(ops.len());
            for op in ops {
                pending.push(self.enqueue_from(op, true).await);
            }
            let mut results = Vec::with_capacity(pending.len());
            for p in pending {
                results.push(match p {
                    Ok(p) => p.wait().await,
                    Err(e) => Err(e),
                });
            }
            results
        })
    }

    fn read(&self, command: &Command) -> Reply {
        Db::read(self, command)
    }
}

fn bulk_or_nil(reply: Reply) -> Result<Option<Bytes>, Error> {
    match reply {
        Reply::Bulk(value) => Ok(Some(value)),
        Reply::Nil => Ok(None),
        other => Err(Error::Command(format!(
            "ERR expected a bulk reply, got {other:?}"
        ))),
    }
}

fn integer(reply: Reply) -> Result<i64, Error> {
    match reply {
        Reply::Integer(n) => Ok(n),
        other => Err(Error::Command(format!(
            "ERR expected an integer reply, got {other:?}"
        ))),
    }
}

fn format_score(score: f64) -> String {
    if score == f64::INFINITY {
        "+inf".into()
    } else if score == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{score}")
    }
}

fn parse_score(text: &[u8]) -> Result<f64, Error> {
    let s = std::str::from_utf8(text).map_err(|_| Error::Command("ERR bad score".into()))?;
    match s {
        "inf" | "+inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        _ => s
            .parse()
            .map_err(|_| Error::Command(format!("ERR bad score {s}"))),
    }
}

fn pairs(reply: Reply) -> Result<Vec<(Bytes, Bytes)>, Error> {
    let bulk = |r: Reply| match r {
        Reply::Bulk(b) => Ok(b),
        other => Err(Error::Command(format!("ERR expected bulk, got {other:?}"))),
    };
    match reply {
        Reply::Map(items) => items
            .into_iter()
            .map(|(k, v)| Ok((bulk(k)?, bulk(v)?)))
            .collect(),
        Reply::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((bulk(k)?, bulk(v)?));
            }
            Ok(out)
        }
        Reply::Nil | Reply::NilArray => Ok(Vec::new()),
        other => Err(Error::Command(format!("ERR expected pairs, got {other:?}"))),
    }
}

fn scored_members(reply: Reply) -> Result<Vec<(Bytes, f64)>, Error> {
    let member = |r: Reply| match r {
        Reply::Bulk(b) => Ok(b),
        other => Err(Error::Command(format!(
            "ERR expected member, got {other:?}"
        ))),
    };
    let score = |r: Reply| match r {
        Reply::Double(d) => Ok(d),
        Reply::Bulk(b) => parse_score(&b),
        other => Err(Error::Command(format!("ERR expected score, got {other:?}"))),
    };
    let Reply::Array(items) = reply else {
        return Err(Error::Command(format!("ERR expected array, got {reply:?}")));
    };
    let mut out = Vec::new();
    let mut it = items.into_iter().peekable();
    while let Some(item) = it.next() {
        match item {
            // RESP3 shape: [member, score] pairs.
            Reply::Array(pair) if pair.len() == 2 => {
                let mut p = pair.into_iter();
                let m = member(p.next().expect("len 2"))?;
                let s = score(p.next().expect("len 2"))?;
                out.push((m, s));
            }
            // RESP2 shape: member, score, member, score ...
            m => {
                let s = it
                    .next()
                    .ok_or_else(|| Error::Command("ERR odd WITHSCORES reply".into()))?;
                out.push((member(m)?, score(s)?));
            }
        }
    }
    Ok(out)
}
