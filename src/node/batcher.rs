//! The batcher: turns concurrent client writes into few, large log entries.
//!
//! Writes wait in the priority lanes (`lanes.rs`). Once a proposal slot is free the batcher
//! takes what is queued (up to `ops_per_batch_max`, critical first, bulk capped) as one
//! `Proposal`. Two limits pace it: at most `proposals_unflushed_max` proposals not yet fsynced
//! in the local WAL (one: while the WAL fsyncs a batch, the next one fills up), and at most
//! `proposals_in_flight_max` proposals not yet answered. So a batch is proposed as soon as the
//! previous one is flushed, and its fsync overlaps the previous one's replication, commit,
//! apply and replies, while unanswered work stays bounded. Each op gets its own reply. Time
//! stamps on proposals never go backwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::lanes::{LaneStats, Lanes, Taken};
pub use crate::cluster::wall_clock_ms;
use crate::cluster::{BatchHold, Cluster, ReplySender};
use crate::command::Reply;
use crate::error::Error;
use crate::raft::{FlushSlot, Op};

/// Default bound on queued, not yet proposed writes (all lanes together); critical writes are
/// refused only at this bound.
pub const QUEUE_DEPTH_MAX: usize = 65_536;
/// Default cap on operations in one log entry.
pub const OPS_PER_BATCH_MAX: usize = 1_024;
/// Default cap on proposals handed to openraft and not yet answered.
pub const PROPOSALS_IN_FLIGHT_MAX: usize = 4;
/// Default cap on the encoded bytes of one log entry: every write must fit in one, so this is
/// also the largest write (a 32 MiB value, less a little framing). It must fit in a WAL segment
/// and in one peer frame (both 64 MiB by default), with room for the entry's own framing.
pub const ENTRY_BYTES_MAX: usize = 32 << 20;
/// Bytes of an entry beyond its ops: log id, payload tag, time stamp and the ops' count.
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Default cap on proposals not yet fsynced in the local WAL.
///
/// One: a second entry waiting for the WAL only splits the waiting writes into smaller batches
/// (measured with `tandem embedded`, 64 tasks, back when this was the only limit: 1 in flight
/// 118k transfers/s, 2 in flight 77k, 4 in flight 39k).
pub const PROPOSALS_UNFLUSHED_MAX: usize = 1;

/// One queued write and where its reply goes.
pub(crate) struct Pending {
    pub op: Op,
    pub reply: oneshot::Sender<Result<Reply, Error>>,
    /// The op's encoded size, for the entry's byte budget.
    pub bytes: usize,
    /// A follower's op, forwarded to this node (see [`ReplySender`]).
    pub forwarded: bool,
}

impl super::lanes::Weight for Pending {
    fn weight_bytes(&self) -> usize {
        self.bytes
    }
}

/// Limits of the batcher.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    pub queue_depth_max: usize,
    pub ops_per_batch_max: usize,
    /// Proposals not yet answered.
    pub proposals_in_flight_max: usize,
    /// Proposals not yet fsynced in the local WAL (at most `proposals_in_flight_max`).
    pub proposals_unflushed_max: usize,
    /// Encoded bytes of one log entry; a larger single write is refused at once.
    pub entry_bytes_max: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            queue_depth_max: QUEUE_DEPTH_MAX,
            ops_per_batch_max: OPS_PER_BATCH_MAX,
            proposals_in_flight_max: PROPOSALS_IN_FLIGHT_MAX,
            proposals_unflushed_max: PROPOSALS_UNFLUSHED_MAX,
            entry_bytes_max: ENTRY_BYTES_MAX,
        }
    }
}

/// Counters the batcher keeps (read by status and metrics).
#[derive(Debug, Default)]
pub struct BatchStats {
    pub proposals: AtomicU64,
    pub ops: AtomicU64,
    /// Proposals made while an earlier one was still unanswered (flushed, but still
    /// replicating, committing or applying): the pipelining at work.
    pub overlapped: AtomicU64,
}

/// A batch's hold on the batcher's in-flight limits: `unflushed` is freed as soon as the entry
/// is fsynced locally (so the next batch can be proposed while this one commits, applies and
/// replies), the unanswered permit when the slot is dropped, once every caller has its reply.
pub(crate) struct BatchSlot {
    pub unflushed: FlushSlot,
    pub _unanswered: OwnedSemaphorePermit,
    /// Where the batch's time goes, recorded per class once it is answered.
    pub timing: Option<BatchTiming>,
}

/// What a batch needs to record its flush and answer times in the lanes' statistics.
pub(crate) struct BatchTiming {
    pub stats: Arc<LaneStats>,
    pub taken: Taken,
    pub proposed: Instant,
}

impl Drop for BatchSlot {
    fn drop(&mut self) {
        self.unflushed.release();
    }
}

impl BatchHold for BatchSlot {
    fn unflushed(&self) -> FlushSlot {
        self.unflushed.clone()
    }

    fn answered(mut self: Box<Self>) {
        // Read before the slot is dropped: dropping frees a slot that is still held, and that
        // moment is not a flush.
        let flushed = self.unflushed.released_at();
        let timing = self.timing.take();
        // Frees both limits (the flush slot already, unless the entry never reached the WAL).
        drop(self);
        if let Some(BatchTiming {
            stats,
            taken,
            proposed,
        }) = timing
        {
            stats.observe_batch(taken, proposed, flushed, Instant::now());
        }
    }
}

/// Runs until the lanes are closed and empty, then waits for in-flight proposals to be answered.
pub(crate) async fn run(
    cluster: Arc<Cluster>,
    lanes: Arc<Lanes<Pending>>,
    limits: BatchLimits,
    stats: Arc<BatchStats>,
) {
    let in_flight = Arc::new(Semaphore::new(limits.proposals_in_flight_max));
    let unflushed = Arc::new(Semaphore::new(limits.proposals_unflushed_max));
    let mut batch: Vec<Pending> = Vec::with_capacity(limits.ops_per_batch_max);
    let lane_stats = lanes.stats();
    while lanes.ready().await {
        let unanswered = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let flush = unflushed
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        // Taken only now that a slot is free: whatever queued meanwhile rides in this batch,
        // and a critical write that arrived last still goes first.
        let bytes_max = limits.entry_bytes_max - ENTRY_OVERHEAD_BYTES;
        let taken = lanes.take_batch(limits.ops_per_batch_max, bytes_max, &mut batch);
        if taken.total() == 0 {
            continue;
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = batch
            .drain(..)
            .map(|p| (p.op, ReplySender::new(p.reply, p.forwarded)))
            .unzip();
        stats.proposals.fetch_add(1, Ordering::Relaxed);
        stats.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
        if in_flight.available_permits() + 1 < limits.proposals_in_flight_max {
            stats.overlapped.fetch_add(1, Ordering::Relaxed);
        }
        // The slot travels with the batch: the log store frees its flush half once the entry
        // is in the local WAL; the replies free the rest (on this node or, forwarded, once the
        // leader answers).
        let slot = BatchSlot {
            unflushed: FlushSlot::new(flush),
            _unanswered: unanswered,
            timing: Some(BatchTiming {
                stats: lane_stats.clone(),
                taken,
                proposed: Instant::now(),
            }),
        };
        cluster.route(ops, replies, Box::new(slot)).await;
    }
    // Drain: wait until every proposal in flight has been answered.
    let _all = in_flight
        .acquire_many(limits.proposals_in_flight_max as u32)
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use tokio::sync::Semaphore;

    use super::BatchSlot;
    use crate::command::{Command, Reply};
    use crate::node::Node;
    use crate::raft::FlushSlot;

    #[test]
    fn dropping_a_batch_slot_frees_both_limits() {
        let unflushed = Arc::new(Semaphore::new(1));
        let unanswered = Arc::new(Semaphore::new(1));
        let slot = BatchSlot {
            unflushed: FlushSlot::new(unflushed.clone().try_acquire_owned().expect("permit")),
            _unanswered: unanswered.clone().try_acquire_owned().expect("permit"),
            timing: None,
        };
        let kept_by_entry = slot.unflushed.clone();
        drop(slot);
        assert_eq!(unflushed.available_permits(), 1);
        assert_eq!(unanswered.available_permits(), 1);
        assert!(!kept_by_entry.is_held());
    }

    /// A batch is proposed once the previous one is flushed, before that one is answered:
    /// with writes arriving faster than batches finish, proposals overlap (under the old "one
    /// unanswered proposal" rule they never did), and every write is still answered in order.
    #[tokio::test]
    async fn next_batch_is_proposed_once_the_previous_is_flushed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Node::builder(dir.path()).open().await.expect("open");
        let db = node.db();
        let mut pending = Vec::new();
        for i in 0..5_000 {
            let args = [Bytes::from_static(b"INCR"), Bytes::from_static(b"counter")];
            pending.push(
                db.enqueue(Command::parse(&args).expect("parse"))
                    .await
                    .expect("enqueue"),
            );
            if i % 100 == 0 {
                tokio::task::yield_now().await; // let batches go while writes keep coming
            }
        }
        for (i, reply) in pending.into_iter().enumerate() {
            assert_eq!(
                reply.wait().await.expect("reply"),
                Reply::Integer(i as i64 + 1)
            );
        }
        let status = node.status();
        assert!(
            status.proposals_overlapped > 0,
            "no proposal overlapped an unanswered one in {} proposals",
            status.proposals
        );
        node.shutdown().await.expect("shutdown");
    }
}
