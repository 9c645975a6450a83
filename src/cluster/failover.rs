//! Fast failover: a follower that sees its leader's process die campaigns at once instead of
//! waiting out the leader lease and the election timeout (600-800 ms with the defaults).
//!
//! The signal: when a process dies, its kernel resets (or closes) every TCP connection it had,
//! so each follower's peer server sees the leader's replication connection end within a
//! millisecond. A connection can also end while the leader lives (the leader dropped it, a
//! middlebox cut it), so the follower then probes the leader's peer port with a bare TCP
//! connect, bounded by `leader_probe` (30 ms by default):
//! - refused: nothing listens there any more, the process is gone: campaign now;
//! - accepted: the kernel of a live process answered (even a slow or stopped one: the accept
//!   backlog answers for it): do nothing, heartbeats and the lease decide as usual;
//! - no answer in time, or any other error: the path or the machine is in trouble, which is the
//!   silent failure class the normal timeouts are for: do nothing early.
//!
//! Campaigning early is only ever a liveness decision: votes, terms and commitment are
//! openraft's, so a wrong guess costs an election, never data. Two openraft 0.9 rules shape it:
//! 1. A voter whose vote is committed (it follows a leader) refuses every vote request until its
//!    leader lease (`election_timeout_max` since it last heard from the leader) has run out.
//!    The survivors of a dead leader hold that lease, so a lone early candidate is refused.
//! 2. A candidate's own vote is not committed, so the lease no longer applies to it; and within
//!    one term a voter may move its vote to a candidate with a higher node id (openraft's
//!    default leader ids are `(term, node id)`, one leader per pair).
//!
//! So every survivor that confirmed the death campaigns ("releases" its lease: term T+1, its
//! own vote). The survivor with the highest id then collects the others' votes, as long as its
//! log is at least as long as theirs, usually within a few milliseconds. The campaigns also
//! tell each survivor who else released and how long its log is, and each candidate learns
//! which peers refused it. The survivor that ranks first (longest log, then highest id)
//! campaigns again at T+2, which the others grant, when its first campaign cannot win: a
//! lower-id survivor holds the longest log (the highest id cannot get its vote), or a peer
//! refused it because that peer released only after the request came (it still held its
//! lease). When a survivor did not confirm the death (it saw no reset, or its probe was not
//! refused), it keeps its lease and refuses; the others' campaigns fail and the normal timers
//! finish the election, as without fast failover.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use openraft::raft::VoteRequest;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::Cluster;
use crate::raft::{LogId, NodeId};

/// How long a survivor that released its lease waits for the others' campaigns before it
/// leaves the election to the normal timers.
const RELEASE_WAIT: Duration = Duration::from_millis(60);
/// How often it looks at what arrived meanwhile.
const RELEASE_POLL: Duration = Duration::from_millis(2);
/// Pause before connecting again when a probe's connection was closed under it.
const PROBE_RETRY_PAUSE: Duration = Duration::from_millis(1);
/// Campaigns older than this are not counted as releases of the current failover.
const CAMPAIGN_FRESH: Duration = Duration::from_secs(2);

/// What the probe of a leader's peer port found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The connection was refused: no process listens there.
    Refused,
    /// A connection was accepted: the process (or at least its kernel socket) is there.
    Answered,
    /// No answer within the deadline, or another error: nothing can be concluded.
    Unknown(String),
}

/// Connects to `addr` and holds the connection until `within` has passed.
///
/// A process killed with SIGKILL closes its sockets one by one: the connection that told us
/// may close while its listening socket still accepts. So an accepted probe only counts if the
/// connection stays open (a live peer server waits seconds for a handshake); one that is reset
/// or closed meanwhile is retried, and the retry is refused once the listener is gone.
pub(crate) async fn probe(addr: &str, within: Duration) -> Probe {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut stream = match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => return Probe::Refused,
            Ok(Err(e)) => return Probe::Unknown(e.to_string()),
            Err(_) => return Probe::Unknown(format!("no answer within {} ms", within.as_millis())),
        };
        let mut byte = [0u8; 1];
        match tokio::time::timeout_at(deadline, stream.read(&mut byte)).await {
            // Held open for the whole window, or the peer even said something.
            Err(_) | Ok(Ok(1..)) => return Probe::Answered,
            // Closed or reset under us: look again.
            Ok(Ok(0)) | Ok(Err(_)) => tokio::time::sleep(PROBE_RETRY_PAUSE).await,
        }
    }
}

/// A vote request received from another voter.
#[derive(Clone, Copy, Debug)]
struct Campaign {
    at: Instant,
    term: u64,
    last_log_id: Option<LogId>,
}

/// Fast-failover state of one node.
#[derive(Default)]
pub(crate) struct Failover {
    /// The (leader, term) whose loss this node is acting on: one reaction per leadership.
    handling: Mutex<Option<(NodeId, u64)>>,
    /// The newest vote request received from each other voter.
    campaigns: Mutex<BTreeMap<NodeId, Campaign>>,
    /// Set while a leader transfer asked this node not to campaign.
    paused_until: Mutex<Option<Instant>>,
    /// Elections this node started because its leader's process was gone.
    fast_elections: AtomicU64,
    /// Probes that found the leader alive after one of its connections ended.
    probes_answered: AtomicU64,
}

impl Failover {
    /// Records a vote request from `from`.
    pub(crate) fn note_campaign(&self, from: NodeId, request: &VoteRequest<NodeId>) {
        self.campaigns.lock().expect("campaigns lock").insert(
            from,
            Campaign {
                at: Instant::now(),
                term: request.vote.leader_id.term,
                last_log_id: request.last_log_id,
            },
        );
    }

    /// Elections are paused until `until` (leader transfer); None resumes them.
    pub(crate) fn pause_until(&self, until: Option<Instant>) {
        *self.paused_until.lock().expect("pause lock") = until;
    }

    fn paused(&self) -> bool {
        self.paused_until
            .lock()
            .expect("pause lock")
            .is_some_and(|until| Instant::now() < until)
    }

    /// Claims the reaction to the loss of `leader` in `term`; false if it is already under way.
    fn begin(&self, leader: NodeId, term: u64) -> bool {
        let mut handling = self.handling.lock().expect("failover lock");
        if *handling == Some((leader, term)) {
            return false;
        }
        *handling = Some((leader, term));
        true
    }

    /// Lets a later connection loss of the same leadership be looked at again.
    fn end(&self, leader: NodeId, term: u64) {
        let mut handling = self.handling.lock().expect("failover lock");
        if *handling == Some((leader, term)) {
            *handling = None;
        }
    }

    /// Fresh campaigns of a term above `term` from the nodes in `from`.
    fn releases(&self, term: u64, from: &[NodeId]) -> Vec<(NodeId, Option<LogId>)> {
        let campaigns = self.campaigns.lock().expect("campaigns lock");
        from.iter()
            .filter_map(|id| {
                campaigns
                    .get(id)
                    .filter(|c| c.term > term && c.at.elapsed() < CAMPAIGN_FRESH)
                    .map(|c| (*id, c.last_log_id))
            })
            .collect()
    }
}

/// True when the candidate `(log, id)` should lead rather than `(other_log, other_id)`: the
/// longer log wins (only it can collect the other's vote), the higher id breaks a tie, as
/// openraft orders two candidates of one term (its leader ids are `(term, node id)`).
fn outranks(log: Option<LogId>, id: NodeId, other_log: Option<LogId>, other_id: NodeId) -> bool {
    (log, id) > (other_log, other_id)
}

/// Whether a survivor that released its lease must campaign again, given the others that
/// released (`released`: id, log) and those that refused its campaign (`refused_by`).
///
/// Only the survivor that ranks first (longest log, then highest id) ever campaigns again, so
/// at most one does. In one term openraft lets a voter move its vote to a candidate with a
/// higher node id, so the first-ranked survivor wins its first campaign by itself when it also
/// has the highest id, unless a survivor refused it because that one still held its lease when
/// the request came (it released just after). If a lower-id survivor ranks first (it holds a
/// longer log, the highest id cannot get its vote), it must campaign one term higher.
fn must_escalate(
    mine: Option<LogId>,
    id: NodeId,
    released: &[(NodeId, Option<LogId>)],
    refused_by: &[NodeId],
) -> bool {
    let first = released
        .iter()
        .all(|(other, log)| outranks(mine, id, *log, *other));
    let outvoted_by_id = released.iter().any(|(other, _)| *other > id);
    let refused = released.iter().any(|(other, _)| refused_by.contains(other));
    first && (outvoted_by_id || refused)
}

impl Cluster {
    /// (elections started because the leader's process was gone, probes that found the leader
    /// alive after one of its connections ended), since this node started.
    pub fn fast_failover_counts(&self) -> (u64, u64) {
        (
            self.failover.fast_elections.load(Ordering::Relaxed),
            self.failover.probes_answered.load(Ordering::Relaxed),
        )
    }

    /// A peer connection from `from` ended (see [`crate::peer::PeerHandler::connection_lost`]).
    /// If `from` is this follower's leader, finds out whether its process is gone and, if so,
    /// starts the election now.
    pub(crate) fn peer_connection_lost(self: &Arc<Self>, from: NodeId) {
        let Some(within) = self.options.as_ref().and_then(|o| o.leader_probe) else {
            return;
        };
        let Some(term) = self.following(from) else {
            return;
        };
        if !self.failover.begin(from, term) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.react_to_lost_leader(from, term, within).await });
    }

    /// The current term if this node is a voting follower of `leader` in a group of three or
    /// more voters (with fewer, no survivor can win alone anyway) and may campaign.
    fn following(&self, leader: NodeId) -> Option<u64> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters = membership.voter_ids().count();
        let voter = membership.voter_ids().any(|id| id == self.id);
        let follows = m.state == openraft::ServerState::Follower
            && m.current_leader == Some(leader)
            && m.vote.is_committed();
        (follows && voter && voters >= 3 && !self.failover.paused()).then_some(m.current_term)
    }

    async fn react_to_lost_leader(self: Arc<Self>, leader: NodeId, term: u64, within: Duration) {
        let Some(info) = self.member(leader) else {
            return self.failover.end(leader, term);
        };
        let started = Instant::now();
        match probe(&info.peer_addr, within).await {
            Probe::Refused => {}
            Probe::Answered => {
                self.failover
                    .probes_answered
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    leader,
                    term,
                    "a connection from the leader ended but its peer port answers; no early election"
                );
                return self.failover.end(leader, term);
            }
            Probe::Unknown(reason) => {
                tracing::info!(
                    leader,
                    term,
                    %reason,
                    "a connection from the leader ended and its probe is inconclusive; the election timeout decides"
                );
                return self.failover.end(leader, term);
            }
        }
        // A heartbeat of a new leader may have come in meanwhile.
        if self.following(leader) != Some(term) {
            return;
        }
        tracing::warn!(
            leader,
            term,
            probe_ms = started.elapsed().as_millis() as u64,
            "the leader's connections reset and its peer port refuses connections: campaigning now"
        );
        self.failover.fast_elections.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.raft.trigger().elect().await {
            tracing::warn!(error = %e, "could not start an election");
            return;
        }
        self.escalate_if_first(leader, term).await;
    }

    /// After releasing its lease: waits briefly for the other survivors' campaigns, and
    /// campaigns again (one term higher) if this node's log ranks first among those who
    /// released, so the others can grant it.
    async fn escalate_if_first(&self, dead: NodeId, term: u64) {
        let deadline = Instant::now() + RELEASE_WAIT;
        loop {
            let (others, quorum, released_own, settled) = {
                let metrics = self.raft.metrics();
                let m = metrics.borrow();
                let membership = m.membership_config.membership();
                let voters: Vec<NodeId> = membership.voter_ids().collect();
                let others: Vec<NodeId> = voters
                    .iter()
                    .copied()
                    .filter(|id| *id != dead && *id != self.id)
                    .collect();
                // The trigger only queues the election: until the metrics show the new term,
                // this node has not released yet.
                let released_own = m.current_term > term;
                // Settled: a newer leader is known, or this node is no longer a candidate
                // (it won, or granted someone's vote).
                let settled = released_own
                    && (m.current_leader.is_some() || m.state != openraft::ServerState::Candidate);
                (others, voters.len() / 2 + 1, released_own, settled)
            };
            if settled {
                return;
            }
            if !released_own {
                if Instant::now() >= deadline {
                    return;
                }
                tokio::time::sleep(RELEASE_POLL).await;
                continue;
            }
            let released = self.failover.releases(term, &others);
            let timed_out = Instant::now() >= deadline;
            let heard = released.len() == others.len() || (timed_out && !released.is_empty());
            if heard && released.len() + 1 >= quorum {
                let Some(mine) = self.network.campaign_after(term) else {
                    return;
                };
                let refused_by: Vec<NodeId> = others
                    .iter()
                    .copied()
                    .filter(|peer| self.network.campaign_refused_by(*peer))
                    .collect();
                if must_escalate(mine, self.id, &released, &refused_by) {
                    tracing::info!(
                        dead,
                        term,
                        released = released.len(),
                        refused = refused_by.len(),
                        "the survivors released their leases and this node ranks first: campaigning again"
                    );
                    if let Err(e) = self.raft.trigger().elect().await {
                        tracing::warn!(error = %e, "could not start an election");
                    }
                    return;
                }
            }
            // Not first, or first with no refusal yet: a grant may still come.
            if timed_out {
                return;
            }
            tokio::time::sleep(RELEASE_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::CommittedLeaderId;

    fn log(term: u64, index: u64) -> Option<LogId> {
        Some(LogId::new(CommittedLeaderId::new(term, 0), index))
    }

    #[test]
    fn the_longer_log_ranks_first_then_the_higher_id() {
        assert!(outranks(log(3, 10), 1, log(3, 9), 2));
        assert!(!outranks(log(3, 9), 2, log(3, 10), 1));
        assert!(
            outranks(log(4, 2), 1, log(3, 10), 3),
            "a newer term beats a longer log"
        );
        assert!(outranks(log(3, 10), 2, log(3, 10), 1));
        assert!(!outranks(log(3, 10), 1, log(3, 10), 2));
        assert!(outranks(log(1, 1), 1, None, 5));
    }

    #[test]
    fn only_the_first_ranked_survivor_campaigns_again() {
        // Equal logs: the highest id wins its first campaign, nobody escalates...
        assert!(!must_escalate(log(3, 10), 1, &[(2, log(3, 10))], &[]));
        assert!(!must_escalate(log(3, 10), 2, &[(1, log(3, 10))], &[]));
        // ...unless the other refused it (it still held its lease): then only the highest id.
        assert!(must_escalate(log(3, 10), 2, &[(1, log(3, 10))], &[1]));
        assert!(!must_escalate(log(3, 10), 1, &[(2, log(3, 10))], &[2]));
        // The lower id holds more: it escalates, the higher id does not.
        assert!(must_escalate(log(3, 11), 1, &[(2, log(3, 10))], &[]));
        assert!(!must_escalate(log(3, 10), 2, &[(1, log(3, 11))], &[1]));
        // The higher id holds more: it wins by itself.
        assert!(!must_escalate(log(3, 11), 2, &[(1, log(3, 10))], &[]));
        assert!(!must_escalate(log(3, 10), 1, &[(2, log(3, 11))], &[2]));
        // Five voters: only the first-ranked of all who released escalates.
        let others = [(3, log(3, 10)), (4, log(3, 11))];
        assert!(must_escalate(log(3, 12), 2, &others, &[]));
        let others = [(2, log(3, 12)), (3, log(3, 10))];
        assert!(!must_escalate(log(3, 11), 4, &others, &[2]));
    }

    #[test]
    fn only_fresh_campaigns_of_a_newer_term_count_as_releases() {
        let failover = Failover::default();
        let request = |term| VoteRequest::new(crate::raft::Vote::new(term, 9), log(term - 1, 4));
        failover.note_campaign(2, &request(5));
        failover.note_campaign(3, &request(4));
        assert_eq!(failover.releases(4, &[2, 3]), vec![(2, log(4, 4))]);
        assert!(failover.releases(5, &[2, 3]).is_empty());
        assert!(failover.releases(4, &[3]).is_empty());
    }

    #[test]
    fn one_reaction_per_leadership_until_it_ends() {
        let failover = Failover::default();
        assert!(failover.begin(1, 7));
        assert!(!failover.begin(1, 7));
        failover.end(1, 7);
        assert!(failover.begin(1, 7));
        assert!(
            failover.begin(2, 8),
            "a new leadership replaces the old one"
        );
    }

    #[tokio::test]
    async fn a_probe_tells_a_closed_port_from_an_open_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let within = Duration::from_millis(50);
        assert_eq!(probe(&addr, within).await, Probe::Answered);
        drop(listener);
        assert_eq!(probe(&addr, within).await, Probe::Refused);
    }

    /// A listener that accepts and closes at once (a dying process's backlog) is not alive;
    /// once it is gone the probe is refused.
    #[tokio::test]
    async fn a_probe_does_not_trust_a_connection_closed_under_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let closer = tokio::spawn(async move {
            for _ in 0..3 {
                let (stream, _) = listener.accept().await.unwrap();
                drop(stream);
            }
        });
        let probed = probe(&addr, Duration::from_millis(500)).await;
        closer.await.unwrap();
        assert_eq!(probed, Probe::Refused);
    }
}
