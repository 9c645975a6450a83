//! The admin HTTP listener of a real `tandem serve`: /health, /ready and /metrics reflect the
//! traffic and log positions of the running node; /ready, /leader and /role follow a
//! cluster's roles.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::server::Tandem;

/// One HTTP/1.0 GET; returns (status code, body).
fn get(admin: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(admin).expect("connect admin");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the first sample line of `metric` (exact name and labels) in `body`.
fn sample(body: &str, metric: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {metric} in:\n{body}"))
}

#[test]
fn health_ready_and_metrics_follow_the_node() {
    let mut server = Tandem::start("admin", &[]);
    let (status, body) = get(server.admin, "/health");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, _) = get(server.admin, "/ready");
    assert_eq!(status, 200, "a single-voter node is ready");

    let mut raw = server.raw();
    for i in 0..25 {
        assert_eq!(raw.cmd(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    assert!(raw.cmd(&["GET", "k1"]).starts_with("$1"));
    assert!(raw
        .cmd(&["NOSUCHCOMMAND"])
        .starts_with("-ERR unknown command"));

    let (status, body) = get(server.admin, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "tandem_up"), 1.0);
    assert!(sample(&body, "tandem_commands_total{command=\"set\"}") >= 25.0);
    assert!(sample(&body, "tandem_error_replies_total") >= 1.0);
    assert!(sample(&body, "tandem_keys") >= 25.0);
    let applied = sample(&body, "tandem_log_position{position=\"applied\"}");
    let flushed = sample(&body, "tandem_log_position{position=\"flushed\"}");
    assert!(
        applied >= 25.0 && flushed >= applied,
        "applied {applied}, flushed {flushed}"
    );
    assert!(sample(&body, "tandem_wal_fsyncs_total") >= 25.0);
    assert!(
        body.contains("tandem_command_latency_seconds_count{class=\"normal\"}"),
        "{body}"
    );

    assert_eq!(get(server.admin, "/nope").0, 404);
    assert_eq!(server.terminate(), 0, "clean exit on SIGTERM");
}

/// Polls `path` on `admin` until `accept(status, body)` holds; panics with the last answer.
fn wait_for(
    admin: std::net::SocketAddr,
    path: &str,
    what: &str,
    accept: impl Fn(u16, &str) -> bool,
) -> (u16, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get(admin, path);
        if accept(status, &body) {
            return (status, body);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {path} answered {status} {body:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// In a three-node cluster every node in touch with its leader is ready (followers too, so an
/// orchestrator keeps them in the client Service); only the leader answers 200 on /leader, the
/// others name it. A follower cut off from its leader (the other two nodes killed) stops being
/// ready once `stale_read_lag_max_ms` has passed.
#[test]
fn followers_are_ready_and_only_the_leader_answers_leader() {
    let mut cluster = common::cluster::Cluster::start(
        "admin-probes",
        &["a", "b", "c"],
        &["--stale-read-lag-max-ms=500"],
    );
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let leader_addr = cluster.server(leader).addr.to_string();
    for node in 0..3 {
        let admin = cluster.server(node).admin;
        wait_for(admin, "/ready", "every node becomes ready", |status, _| {
            status == 200
        });
        let (status, body) = get(admin, "/leader");
        let (_, role) = get(admin, "/role");
        let role: serde_json::Value = serde_json::from_str(&role).expect("role is JSON");
        assert_eq!(role["ready"], true, "{role}");
        assert_eq!(role["leader_client_addr"], leader_addr.as_str(), "{role}");
        if node == leader {
            assert_eq!((status, body.as_str()), (200, "leader\n"));
            assert_eq!(role["role"], "leader");
        } else {
            assert_eq!(status, 503, "{body}");
            assert!(
                body.contains(&leader_addr),
                "a follower names the leader: {body}"
            );
            assert_eq!(role["role"], "follower");
            assert!(role["leader_contact_ms"].as_u64().is_some(), "{role}");
        }
    }

    let survivor = (leader + 1) % 3;
    for node in 0..3 {
        if node != survivor {
            cluster.kill(node);
        }
    }
    let (_, reason) = wait_for(
        cluster.server(survivor).admin,
        "/ready",
        "a node without a quorum stops being ready",
        |status, _| status == 503,
    );
    assert!(
        reason.starts_with(&format!("node {}", survivor + 1)),
        "the reason names the node: {reason}"
    );
    let (status, _) = get(cluster.server(survivor).admin, "/leader");
    assert_eq!(status, 503);
}
