//! INFO: Redis-shaped sections (`# Server\r\nkey:value\r\n...`) built from the server's counters,
//! the client registry and the node's status, plus a `tandem` section with the log positions
//! (names as in docs/log-positions.md) and WAL group-commit statistics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use super::stats::ServerStats;
use super::Shared;
use crate::node::NodeStatus;

/// The Redis version Tandem's command set and replies follow (declared with the command table).
pub use crate::command::REDIS_VERSION;

/// Sections in INFO's default output, in order.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "keyspace",
    "tandem",
    "lanes",
];
/// Sections only in `INFO all` / `INFO everything` / `INFO commandstats`.
const EXTRA_SECTIONS: &[&str] = &["commandstats"];

/// The INFO text for the requested section names (empty = default sections).
pub(crate) fn render(shared: &Shared, requested: &[String]) -> String {
    let mut wanted: Vec<&str> = Vec::new();
    let mut add = |section: &'static str| {
        if !wanted.contains(&section) {
            wanted.push(section);
        }
    };
    if requested.is_empty() {
        DEFAULT_SECTIONS.iter().for_each(|s| add(s));
    }
    for name in requested {
        match name.to_ascii_lowercase().as_str() {
            "default" => DEFAULT_SECTIONS.iter().for_each(|s| add(s)),
            "all" | "everything" => DEFAULT_SECTIONS
                .iter()
                .chain(EXTRA_SECTIONS)
                .for_each(|s| add(s)),
            other => {
                if let Some(s) = DEFAULT_SECTIONS
                    .iter()
                    .chain(EXTRA_SECTIONS)
                    .find(|s| **s == other)
                {
                    add(s);
                }
            }
        }
    }
    let status = shared.node.status();
    let mut out = String::new();
    for section in wanted {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match section {
            "server" => server(&mut out, shared),
            "clients" => clients(&mut out, shared),
            "memory" => memory(&mut out, shared),
            "persistence" => persistence(&mut out, shared, &status),
            "stats" => stats(&mut out, &shared.stats, &shared.pubsub),
            "replication" => replication(&mut out, shared, &status),
            "cpu" => cpu(&mut out),
            "keyspace" => keyspace(&mut out, &status),
            "tandem" => tandem(&mut out, shared, &status),
            "lanes" => super::priority::info_section(&mut out, shared),
            "commandstats" => commandstats(&mut out, &shared.stats),
            "errorstats" => errorstats(&mut out, &shared.stats),
            _ => unreachable!("section names come from the lists above"),
        }
    }
    out
}

macro_rules! line {
    ($out:expr, $key:expr, $value:expr) => {
        let _ = write!($out, "{}:{}\r\n", $key, $value);
    };
}

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn server(out: &mut String, shared: &Shared) {
    let uptime = shared.stats.started.elapsed().as_secs();
    out.push_str("# Server\r\n");
    line!(out, "redis_version", REDIS_VERSION);
    line!(out, "tandem_version", env!("CARGO_PKG_VERSION"));
    line!(out, "redis_mode", "standalone");
    line!(out, "os", std::env::consts::OS);
    line!(out, "arch_bits", usize::BITS);
    line!(out, "process_id", std::process::id());
    line!(out, "run_id", shared.run_id);
    line!(out, "tcp_port", shared.listen_addr.port());
    line!(out, "server_time_usec", unix_micros());
    line!(out, "uptime_in_seconds", uptime);
    line!(out, "uptime_in_days", uptime / 86_400);
    line!(
        out,
        "executable",
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    line!(
        out,
        "config_file",
        shared
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
}

fn clients(out: &mut String, shared: &Shared) {
    out.push_str("# Clients\r\n");
    line!(out, "connected_clients", shared.clients.len());
    line!(out, "maxclients", shared.live.clients_max());
    line!(out, "blocked_clients", shared.clients.blocked());
    line!(out, "tracking_clients", 0);
}

pub use crate::allocator::rss_bytes;

fn human_bytes(bytes: u64) -> String {
    const UNITS: &[&str] = &["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

fn memory(out: &mut String, shared: &Shared) {
    use crate::allocator;
    let rss = rss_bytes();
    let jemalloc = allocator::jemalloc_stats();
    let used = match jemalloc {
        Some(stats) => stats.allocated,
        None => rss,
    };
    let peak = allocator::peak_memory().max(used);
    let maxmemory = shared.live.maxmemory_bytes().unwrap_or(0);
    let ratio = |a: u64, b: u64| {
        if b == 0 {
            "0.00".to_string()
        } else {
            format!("{:.2}", a as f64 / b as f64)
        }
    };
    let diff = |a: u64, b: u64| a as i64 - b as i64;
    out.push_str("# Memory\r\n");
    line!(out, "used_memory", used);
    line!(out, "used_memory_human", human_bytes(used));
    line!(out, "used_memory_rss", rss);
    line!(out, "used_memory_rss_human", human_bytes(rss));
    line!(out, "used_memory_peak", peak);
    line!(out, "used_memory_peak_human", human_bytes(peak));
    if let Some(stats) = jemalloc {
        line!(out, "allocator_allocated", stats.allocated);
        line!(out, "allocator_active", stats.active);
        line!(out, "allocator_resident", stats.resident);
        line!(out, "allocator_metadata", stats.metadata);
        line!(out, "allocator_mapped", stats.mapped);
        line!(out, "allocator_retained", stats.retained);
    }
    line!(out, "maxmemory", maxmemory);
    line!(out, "maxmemory_human", human_bytes(maxmemory));
    line!(out, "maxmemory_policy", "noeviction");
    if let Some(stats) = jemalloc {
        line!(
            out,
            "allocator_frag_ratio",
            ratio(stats.active, stats.allocated)
        );
        line!(
            out,
            "allocator_frag_bytes",
            diff(stats.active, stats.allocated)
        );
        line!(
            out,
            "allocator_rss_ratio",
            ratio(stats.resident, stats.active)
        );
        line!(
            out,
            "allocator_rss_bytes",
            diff(stats.resident, stats.active)
        );
        line!(out, "rss_overhead_ratio", ratio(rss, stats.resident));
        line!(out, "rss_overhead_bytes", diff(rss, stats.resident));
    }
    line!(out, "mem_fragmentation_ratio", ratio(rss, used));
    line!(out, "mem_fragmentation_bytes", diff(rss, used));
    line!(out, "mem_allocator", allocator::name());
    let scripts = shared
        .sm()
        .keyspace
        .read()
        .expect("keyspace lock")
        .scripts()
        .len();
    line!(out, "number_of_cached_scripts", scripts);
}

/// CPU time used, as `seconds.micros` (getrusage).
fn cpu(out: &mut String) {
    fn usage(who: libc::c_int) -> (String, String) {
        // SAFETY: getrusage writes one rusage into the zeroed struct we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::getrusage(who, &mut usage) } == 0;
        let seconds = |t: libc::timeval| {
            if ok {
                format!("{}.{:06}", t.tv_sec, t.tv_usec)
            } else {
                "0.000000".into()
            }
        };
        (seconds(usage.ru_stime), seconds(usage.ru_utime))
    }
    let (sys, user) = usage(libc::RUSAGE_SELF);
    let (sys_children, user_children) = usage(libc::RUSAGE_CHILDREN);
    out.push_str("# CPU\r\n");
    line!(out, "used_cpu_sys", sys);
    line!(out, "used_cpu_user", user);
    line!(out, "used_cpu_sys_children", sys_children);
    line!(out, "used_cpu_user_children", user_children);
}

fn persistence(out: &mut String, shared: &Shared, status: &NodeStatus) {
    out.push_str("# Persistence\r\n");
    line!(out, "loading", 0);
    line!(out, "async_loading", 0);
    // Every write is in the fsynced WAL before it is acknowledged: AOF with appendfsync always.
    line!(out, "aof_enabled", 1);
    line!(out, "aof_rewrite_in_progress", 0);
    line!(out, "aof_last_write_status", "ok");
    line!(out, "rdb_bgsave_in_progress", 0);
    line!(
        out,
        "rdb_changes_since_last_save",
        status.applied.saturating_sub(status.snapshot)
    );
    line!(out, "wal_backend", shared.config.wal_backend);
    line!(out, "wal_writer", shared.config.wal_writer);
    line!(out, "data_dir", shared.config.data.display());
}

fn stats(out: &mut String, stats: &ServerStats, pubsub: &super::pubsub::Hub) {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    out.push_str("# Stats\r\n");
    line!(
        out,
        "total_connections_received",
        get(&stats.connections_accepted)
    );
    line!(
        out,
        "total_commands_processed",
        get(&stats.commands_processed)
    );
    line!(out, "total_net_input_bytes", get(&stats.bytes_in));
    line!(out, "total_net_output_bytes", get(&stats.bytes_out));
    line!(
        out,
        "rejected_connections",
        get(&stats.connections_rejected)
    );
    line!(out, "total_error_replies", get(&stats.error_replies));
    line!(
        out,
        "clients_closed_for_limits",
        get(&stats.clients_closed_for_limits)
    );
    line!(out, "expired_keys", 0);
    line!(out, "evicted_keys", 0);
    line!(out, "pubsub_channels", pubsub.channel_count());
    line!(out, "pubsub_patterns", pubsub.patterns());
    line!(out, "pubsubshard_channels", pubsub.shard_channel_count());
}

/// Redis-shaped: `role:master` on the leader (with `slaveN` lines for its followers),
/// `role:slave` with the leader's client address on a follower; then Tandem's own fields.
fn replication(out: &mut String, shared: &Shared, status: &NodeStatus) {
    let cluster = shared.node.cluster();
    let report = cluster.report_summary();
    out.push_str("# Replication\r\n");
    let leader = report
        .leader
        .and_then(|id| cluster.member(id).map(|info| (id, info)));
    if report.role == "leader" || cluster.is_single() {
        line!(out, "role", "master");
        let followers: Vec<_> = report
            .replication
            .iter()
            .filter(|p| p.id != report.node_id)
            .collect();
        line!(out, "connected_slaves", followers.len());
        for (i, p) in followers.iter().enumerate() {
            let info = cluster.member(p.id).unwrap_or_default();
            let (ip, port) = split_host_port(&info.client_addr);
            let state = if p.last_contact_ms.is_some_and(|ms| ms < 1_000) {
                "online"
            } else {
                "wait_bgsave"
            };
            let _ = write!(
                out,
                "slave{i}:ip={ip},port={port},state={state},offset={},lag={}\r\n",
                p.matched.unwrap_or(0),
                p.last_contact_ms.map_or(-1, |ms| (ms / 1_000) as i64)
            );
        }
    } else {
        line!(out, "role", "slave");
        let (host, port) = leader
            .as_ref()
            .map_or((String::new(), String::new()), |(_, info)| {
                split_host_port(&info.client_addr)
            });
        line!(out, "master_host", host);
        line!(out, "master_port", port);
        let up = report.leader_contact_ms.is_some_and(|ms| ms < 1_000);
        line!(out, "master_link_status", if up { "up" } else { "down" });
        line!(
            out,
            "master_last_io_seconds_ago",
            report
                .leader_contact_ms
                .map_or(-1, |ms| (ms / 1_000) as i64)
        );
        line!(out, "master_sync_in_progress", 0);
        line!(out, "slave_repl_offset", status.applied);
        line!(out, "slave_read_only", 1);
        line!(out, "connected_slaves", 0);
    }
    line!(out, "master_failover_state", "no-failover");
    line!(out, "master_repl_offset", status.applied);
    line!(out, "tandem_node_id", report.node_id);
    line!(out, "tandem_zone", report.zone);
    line!(out, "tandem_role", report.role);
    line!(out, "tandem_term", report.term);
    line!(
        out,
        "tandem_leader_id",
        report.leader.map_or(String::new(), |l| l.to_string())
    );
    line!(out, "tandem_commit_index", status.committed);
    line!(out, "tandem_applied_index", report.applied.unwrap_or(0));
    line!(
        out,
        "tandem_last_log_index",
        report.last_log_index.unwrap_or(0)
    );
    line!(out, "tandem_min_ack_zones", report.min_ack_zones);
    line!(out, "tandem_members", report.members.len());
    line!(out, "tandem_leader_changes", report.leader_changes);
    let (fast_elections, probes_answered) = cluster.fast_failover_counts();
    line!(out, "tandem_fast_elections", fast_elections);
    line!(out, "tandem_leader_probes_answered", probes_answered);
    let stats = cluster.stats();
    line!(
        out,
        "tandem_forwarded_batches",
        stats.forwarded_batches.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_forwarded_reads",
        stats.forwarded_reads.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_forwards_uncertain",
        stats.forwards_uncertain.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_forwards_refused_paused",
        stats.forwards_refused_paused.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_resubmits_dropped",
        stats.resubmits_dropped.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_stale_reads_refused",
        stats.stale_reads_refused.load(Ordering::Relaxed)
    );
    line!(
        out,
        "tandem_replies_waiting_for_zones",
        cluster.replies_waiting_for_zones()
    );
    for p in &report.replication {
        let _ = write!(
            out,
            "tandem_peer{}:zone={},matched={},lag={},last_contact_ms={}\r\n",
            p.id,
            cluster.member(p.id).map_or(String::new(), |i| i.zone),
            p.matched.map_or(-1, |m| m as i64),
            p.lag,
            p.last_contact_ms.map_or(-1, |ms| ms as i64)
        );
    }
}

/// `host:port` → (host, port); the whole text as host when there is no port.
fn split_host_port(addr: &str) -> (String, String) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.to_string()),
        None => (addr.to_string(), String::new()),
    }
}

fn keyspace(out: &mut String, status: &NodeStatus) {
    out.push_str("# Keyspace\r\n");
    if status.keys > 0 {
        let _ = write!(out, "db0:keys={},expires=0,avg_ttl=0\r\n", status.keys);
    }
}

fn tandem(out: &mut String, shared: &Shared, status: &NodeStatus) {
    let wal = &status.wal;
    out.push_str("# Tandem\r\n");
    line!(out, "log_purged", status.purged);
    line!(out, "log_snapshot", status.snapshot);
    line!(out, "log_applied", status.applied);
    line!(out, "log_committed", status.committed);
    line!(out, "log_flushed", status.flushed);
    line!(out, "log_written", status.written);
    line!(out, "log_accepted", status.accepted);
    line!(out, "raft_term", status.term);
    line!(out, "proposals", status.proposals);
    line!(out, "ops", status.ops);
    line!(out, "proposals_overlapped", status.proposals_overlapped);
    line!(out, "wal_batches", wal.batches);
    line!(out, "wal_records", wal.records);
    line!(out, "wal_bytes", wal.bytes);
    line!(out, "wal_fsync_count", wal.fsync_count);
    line!(out, "wal_fsync_latency_ns_sum", wal.fsync_latency_ns_sum);
    line!(out, "wal_fsync_latency_ns_max", wal.fsync_latency_ns_max);
    line!(
        out,
        "wal_fsync_latency_ns_avg",
        wal.fsync_latency_ns_sum / wal.batches.max(1)
    );
    line!(out, "wal_last_batch_records", wal.last_batch_records);
    line!(out, "wal_last_batch_bytes", wal.last_batch_bytes);
    line!(out, "wal_backend", shared.config.wal_backend);
    line!(out, "wal_writer", shared.config.wal_writer);
    let cache = &status.log_cache;
    line!(out, "log_held_entries", cache.held_entries);
    line!(out, "log_held_bytes", cache.held_log_bytes);
    line!(out, "log_cache_entries", cache.cached_entries);
    line!(out, "log_cache_bytes", cache.cached_bytes);
    line!(out, "log_cache_bytes_max", cache.cached_bytes_max);
    line!(out, "log_wal_reads", cache.wal_reads);
    line!(out, "log_wal_read_entries", cache.wal_read_entries);
    let cluster = shared.node.cluster();
    if cluster.is_single() {
        line!(out, "durability", "local-fsync (single voter, one zone)");
    } else {
        line!(
            out,
            "durability",
            format!("quorum-fsync in at least {} zone(s)", status_zones(cluster))
        );
    }
}

fn commandstats(out: &mut String, stats: &ServerStats) {
    out.push_str("# Commandstats\r\n");
    for (name, counts) in stats.commands() {
        let _ = write!(
            out,
            "cmdstat_{name}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            counts.calls,
            counts.usec,
            counts.usec as f64 / counts.calls.max(1) as f64,
            counts.rejected,
            counts.errors
        );
    }
}

/// Error replies by error code, as Redis's `# Errorstats`.
fn errorstats(out: &mut String, stats: &ServerStats) {
    out.push_str("# Errorstats\r\n");
    for (code, count) in stats.error_codes() {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

fn status_zones(cluster: &crate::cluster::Cluster) -> usize {
    cluster.options().map_or(1, |o| o.min_ack_zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_section_has_redis_fields() {
        let mut out = String::new();
        cpu(&mut out);
        assert!(out.starts_with("# CPU\r\nused_cpu_sys:"), "{out}");
        assert!(out.contains("\r\nused_cpu_user_children:"), "{out}");
    }

    #[test]
    fn rss_is_read_from_proc() {
        assert!(rss_bytes() > 0);
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.00M");
    }
}
