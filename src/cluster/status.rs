//! What `tandem status` and `tandem check` show: each node's own report (role, term, log
//! positions, digest, lag as its leader sees it, disk, clock, checksums), gathered by the node
//! the tool talks to from every member over the peer transport.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rpc;
use super::wall_clock_ms;
use super::Cluster;
use crate::raft::NodeId;

/// How long the queried node waits for each member's report (deep reports read every file).
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// One member as the membership lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub zone: String,
    pub client_addr: String,
    pub peer_addr: String,
    pub voter: bool,
}

/// The leader's view of one replication target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Progress {
    pub id: NodeId,
    pub matched: Option<u64>,
    /// Entries the target is behind the leader's last log index.
    pub lag: u64,
    /// Milliseconds since the target last answered this leader (None: never).
    pub last_contact_ms: Option<u64>,
}

/// One node's report on itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeReport {
    pub node_id: NodeId,
    pub zone: String,
    pub client_addr: String,
    pub peer_addr: String,
    /// leader, follower, candidate, learner or stopped.
    pub role: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voter: bool,
    pub last_log_index: Option<u64>,
    pub applied: Option<u64>,
    pub snapshot: Option<u64>,
    pub purged: Option<u64>,
    pub keys: usize,
    /// xxh3-128 digest of the keyspace at `applied`, in hex (empty in summaries).
    pub digest: String,
    pub min_ack_zones: usize,
    pub members: Vec<Member>,
    /// Leader only: every replication target, itself included.
    pub replication: Vec<Progress>,
    /// Leader only: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// Follower only: milliseconds since it last accepted entries from its leader.
    pub leader_contact_ms: Option<u64>,
    /// This node's wall clock when it wrote the report (clock offset checks).
    pub time_ms: u64,
    pub disk_free_bytes: Option<u64>,
    /// Empty when healthy; otherwise why this node cannot serve (engine stopped, WAL failed).
    pub problem: Option<String>,
    pub leader_changes: u64,
    /// Checksums of this node's files, when the report was asked for with `deep`.
    pub files: Option<FileChecks>,
}

/// Every checksum of a node's snapshot and WAL, verified without changing anything.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileChecks {
    /// "ok: ..." or why the newest snapshot is unusable ("none" when there is none yet).
    pub snapshot: String,
    pub snapshot_ok: bool,
    /// "ok: ..." or the first corruption found.
    pub wal: String,
    pub wal_ok: bool,
}

impl FileChecks {
    /// Verifies the newest snapshot file (`snapshot::list` returns newest first) and every WAL
    /// segment under `data_dir`.
    pub fn run(data_dir: &std::path::Path) -> Self {
        let (snapshot, snapshot_ok) = match crate::snapshot::list(&data_dir.join("snapshots")) {
            Ok(files) => match files.first() {
                None => ("none".to_string(), true),
                Some(newest) => match crate::snapshot::verify(newest) {
                    Ok(info) => (
                        format!(
                            "ok: {} records up to index {}",
                            info.record_count,
                            info.header.meta.last_log_id.map_or(0, |l| l.index)
                        ),
                        true,
                    ),
                    Err(e) => (format!("{}: {e}", newest.display()), false),
                },
            },
            Err(e) => (format!("cannot list snapshots: {e}"), false),
        };
        let (wal, wal_ok) = check_live_wal(&data_dir.join("wal"));
        Self {
            snapshot,
            snapshot_ok,
            wal,
            wal_ok,
        }
    }
}

/// Scans taken of a live WAL before a problem that keeps moving counts as writes in flight.
const LIVE_WAL_SCANS_MAX: usize = 3;
/// How long pipelined writes get to land between two scans (short: the scans delay this node's
/// report, and a slow report skews the clock-offset estimate made from its round trip).
const LIVE_WAL_SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Verifies the WAL of a running node. The active segment is being appended to, and the writer
/// pipelines its batches, so a scan can find a later batch on disk before an earlier one (a
/// "damaged record" with a valid one after it) or an unfinished tail: both are normal there.
/// A problem is reported only when the next scan, a moment later, finds the very same one (real
/// damage stays put; in-flight writes land and the tail moves on).
fn check_live_wal(dir: &std::path::Path) -> (String, bool) {
    let mut previous: Option<String> = None;
    for _ in 0..LIVE_WAL_SCANS_MAX {
        let report = match crate::wal::inspect(dir) {
            Ok(report) => report,
            Err(e) => return (e.to_string(), false),
        };
        match report.fatal {
            None => {
                let records: u64 = report.segments.iter().map(|s| s.records).sum();
                return (
                    format!("ok: {} segments, {records} records", report.segments.len()),
                    true,
                );
            }
            Some(fatal) if previous.as_ref() == Some(&fatal) => return (fatal, false),
            Some(fatal) => previous = Some(fatal),
        }
        std::thread::sleep(LIVE_WAL_SETTLE);
    }
    (
        "ok: writes in flight at the tail of the active segment (a problem that moved on in \
         every scan)"
            .to_string(),
        true,
    )
}

/// Whether a report hashes the whole keyspace.
#[derive(Clone, Copy)]
enum Digest {
    Compute,
    Skip,
}

/// Every member's report, as gathered by one node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub queried: NodeId,
    pub nodes: Vec<MemberStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    pub member: Member,
    pub report: Option<NodeReport>,
    /// Why no report came back.
    pub error: Option<String>,
    /// Round trip of the report request.
    pub rtt_ms: Option<u64>,
    /// The member's clock minus the queried node's, corrected by half the round trip.
    pub clock_offset_ms: Option<i64>,
}

impl Cluster {
    /// This node's report on itself; `deep` also verifies every file checksum (slow on big
    /// logs, runs on a blocking thread).
    pub async fn report_with(&self, deep: bool) -> NodeReport {
        let mut report = self.report();
        if deep {
            let dir = self.data_dir.clone();
            report.files = tokio::task::spawn_blocking(move || FileChecks::run(&dir))
                .await
                .ok();
            // The clock reading must be as late as possible: offsets subtract half the round trip.
            report.time_ms = wall_clock_ms();
        }
        report
    }

    /// This node's report on itself, with the keyspace digest (hashes every key: for status
    /// and check, not for per-request paths).
    pub fn report(&self) -> NodeReport {
        self.build_report(Digest::Compute)
    }

    /// The report without the digest (`digest` is empty): cheap enough for INFO and WAIT.
    pub fn report_summary(&self) -> NodeReport {
        self.build_report(Digest::Skip)
    }

    fn build_report(&self, digest: Digest) -> NodeReport {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, info)| Member {
                id: *id,
                zone: info.zone.clone(),
                client_addr: info.client_addr.clone(),
                peer_addr: info.peer_addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        let last = metrics.last_log_index.unwrap_or(0);
        let replication = metrics
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, matched)| Progress {
                        id: *id,
                        matched: matched.map(|m| m.index),
                        lag: last.saturating_sub(matched.map_or(0, |m| m.index)),
                        last_contact_ms: if *id == self.id {
                            Some(0)
                        } else {
                            self.network
                                .last_contact(*id)
                                .map(|t| t.elapsed().as_millis() as u64)
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        let role = match metrics.state {
            _ if metrics.running_state.is_err() => "stopped",
            openraft::ServerState::Leader => "leader",
            openraft::ServerState::Candidate => "candidate",
            openraft::ServerState::Learner => "learner",
            openraft::ServerState::Follower if !voters.contains(&self.id) => "learner",
            openraft::ServerState::Follower => "follower",
            openraft::ServerState::Shutdown => "stopped",
        };
        let (keys, digest) = {
            let keyspace = self.sm.keyspace.read().expect("keyspace lock");
            let text = match digest {
                Digest::Compute => format!("{:032x}", keyspace.digest()),
                Digest::Skip => String::new(),
            };
            (keyspace.len(), text)
        };
        let leader_contact_ms = self
            .leader_contact
            .lock()
            .expect("contact lock")
            .map(|c| c.at.elapsed().as_millis() as u64);
        let problem = match &metrics.running_state {
            Err(fatal) => Some(format!("consensus engine stopped: {fatal}")),
            Ok(()) => None,
        };
        NodeReport {
            node_id: self.id,
            zone: self.info.zone.clone(),
            client_addr: self.info.client_addr.clone(),
            peer_addr: self.info.peer_addr.clone(),
            role: role.to_string(),
            term: metrics.current_term,
            leader: metrics.current_leader,
            voter: voters.contains(&self.id),
            last_log_index: metrics.last_log_index,
            applied: metrics.last_applied.map(|l| l.index),
            snapshot: metrics.snapshot.map(|l| l.index),
            purged: metrics.purged.map(|l| l.index),
            keys,
            digest,
            min_ack_zones: self.min_ack_zones,
            members,
            replication,
            millis_since_quorum_ack: metrics.millis_since_quorum_ack,
            leader_contact_ms: if metrics.state == openraft::ServerState::Leader {
                None
            } else {
                leader_contact_ms
            },
            time_ms: wall_clock_ms(),
            disk_free_bytes: disk_free_bytes(&self.data_dir),
            problem,
            leader_changes: self.stats.leader_changes.load(Ordering::Relaxed),
            files: None,
        }
    }

    /// Every member's report (this node's own included), each asked in parallel.
    pub async fn cluster_status(self: &Arc<Self>, deep: bool) -> ClusterStatus {
        let own = self.report_with(deep).await;
        let mut asks = Vec::new();
        for member in own.members.clone() {
            if member.id == self.id {
                continue;
            }
            let this = self.clone();
            asks.push(tokio::spawn(async move {
                let started = std::time::Instant::now();
                let result: Result<NodeReport, String> =
                    match this.network.client(member.id, &member.peer_addr) {
                        Some(client) => this
                            .network
                            .call(&client, rpc::KIND_STATUS, &deep, REPORT_TIMEOUT)
                            .await
                            .map_err(|e| e.to_string()),
                        None => Err("no peer transport".into()),
                    };
                let rtt = started.elapsed().as_millis() as i64;
                match result {
                    Ok(report) => MemberStatus {
                        member,
                        clock_offset_ms: Some(
                            report.time_ms as i64 - (wall_clock_ms() as i64 - rtt / 2),
                        ),
                        report: Some(report),
                        error: None,
                        rtt_ms: Some(rtt as u64),
                    },
                    Err(e) => MemberStatus {
                        member,
                        report: None,
                        error: Some(e),
                        rtt_ms: None,
                        clock_offset_ms: None,
                    },
                }
            }));
        }
        let mut nodes = Vec::new();
        if let Some(me) = own.members.iter().find(|m| m.id == self.id).cloned() {
            nodes.push(MemberStatus {
                member: me,
                report: Some(own.clone()),
                error: None,
                rtt_ms: Some(0),
                clock_offset_ms: Some(0),
            });
        }
        for ask in asks {
            if let Ok(status) = ask.await {
                nodes.push(status);
            }
        }
        nodes.sort_by_key(|n| n.member.id);
        ClusterStatus {
            queried: self.id,
            nodes,
        }
    }
}

/// Free bytes on the file system holding `dir` (None if statvfs fails).
pub fn disk_free_bytes(dir: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a valid NUL-terminated string and `stat` is a plain-old-data out value.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
    (rc == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}
