//! The admin HTTP listener of a real `tandem serve`: /health, /ready and /metrics reflect the
//! traffic and log positions of the running node.

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
