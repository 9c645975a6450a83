//! Watching leadership: a log line and a counter on every leader change, the operator's hook
//! on the node that becomes leader, and the zone gate's releases as replication progresses.
//!
//! The hook runs as `sh -c COMMAND` with `TANDEM_OLD_LEADER`, `TANDEM_NEW_LEADER`, `TANDEM_TERM`,
//! `TANDEM_REASON` (`initial`, `failover` or `transfer`) and `TANDEM_NODE_ID` in its environment;
//! its exit status is logged, and a hook that runs longer than `HOOK_TIMEOUT` is killed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Cluster;
use crate::error::Error;
use crate::raft::NodeId;

/// How long the leadership-change hook may run.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// A leader change within this long after an `ElectNow` is reported as a transfer.
const TRANSFER_WINDOW: Duration = Duration::from_secs(5);

pub(crate) async fn watch(cluster: Arc<Cluster>) {
    let mut metrics = cluster.raft.metrics();
    let mut leader: Option<NodeId> = None;
    loop {
        let (new_leader, term, stopped) = {
            let m = metrics.borrow_and_update();
            cluster.zone_gate.release(&m, cluster.min_ack_zones);
            (m.current_leader, m.current_term, m.running_state.is_err())
        };
        if stopped {
            break;
        }
        if new_leader != leader && new_leader.is_some() {
            let reason = change_reason(&cluster, leader);
            cluster.stats.leader_changes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                old_leader = ?leader,
                new_leader = ?new_leader,
                term,
                reason,
                "leader changed"
            );
            if new_leader == Some(cluster.id) && !cluster.is_single() {
                // Commits what earlier leaderships left uncommitted (see `leadership_floor`).
                let this = cluster.clone();
                tokio::spawn(async move { this.propose_noop().await });
            }
            if new_leader == Some(cluster.id) {
                if let Some(command) = cluster
                    .options
                    .as_ref()
                    .and_then(|o| o.on_leader_change.clone())
                {
                    tokio::spawn(run_hook(
                        cluster.clone(),
                        command,
                        leader,
                        cluster.id,
                        term,
                        reason,
                    ));
                }
            }
            leader = new_leader;
        }
        if metrics.changed().await.is_err() {
            break;
        }
    }
    cluster.zone_gate.fail_all(Error::Fatal {
        reason: "consensus engine stopped before the write was fsynced in enough zones".into(),
    });
}

fn change_reason(cluster: &Cluster, old: Option<NodeId>) -> &'static str {
    let transfer = cluster
        .transfer_requested
        .lock()
        .expect("transfer lock")
        .is_some_and(|at| at.elapsed() < TRANSFER_WINDOW);
    match old {
        None => "initial",
        Some(_) if transfer => "transfer",
        Some(_) => "failover",
    }
}

async fn run_hook(
    cluster: Arc<Cluster>,
    command: String,
    old: Option<NodeId>,
    new: NodeId,
    term: u64,
    reason: &'static str,
) {
    cluster.stats.hook_runs.fetch_add(1, Ordering::Relaxed);
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .env(
            "TANDEM_OLD_LEADER",
            old.map_or(String::new(), |o| o.to_string()),
        )
        .env("TANDEM_NEW_LEADER", new.to_string())
        .env("TANDEM_TERM", term.to_string())
        .env("TANDEM_REASON", reason)
        .env("TANDEM_NODE_ID", cluster.id.to_string())
        .kill_on_drop(true)
        .spawn();
    let outcome = match child {
        Ok(mut child) => match tokio::time::timeout(HOOK_TIMEOUT, child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(format!("exited with {status}")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "still running after {} s; killed",
                HOOK_TIMEOUT.as_secs()
            )),
        },
        Err(e) => Err(format!("could not start: {e}")),
    };
    match outcome {
        Ok(()) => tracing::info!(%command, term, reason, "leadership-change hook ran"),
        Err(why) => {
            cluster.stats.hook_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%command, term, reason, error = %why, "leadership-change hook failed");
        }
    }
}
