//! The admin HTTP listener: `GET /health` (liveness), `GET /ready` (can serve clients: a
//! leader, or a follower in touch with its leader and caught up), `GET /leader` (200 only on
//! the leader), `GET /role` (JSON: role, leader, its client address) and `GET /metrics`
//! (Prometheus 0.0.4).
//!
//! A deliberately small HTTP/1.1 server, since its clients are probes and scrapers sending tiny
//! GETs: it reads at most `REQUEST_HEAD_BYTES_MAX` of request head, never reads a body, and
//! answers anything unexpected with a 4xx and closes. Connections are capped and every read and
//! write has a deadline, so a slow, silent or garbage-sending client holds one bounded task and
//! cannot delay the RESP server or other scrapes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::metrics::{self, Metrics};
use super::stats::ServerStats;
use crate::cluster::Readiness;
use crate::node::NodeStatus;

/// Longest request line plus headers accepted; a longer head gets 431.
pub const REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Admin connections served at once; more are answered 503 and closed at once.
pub const ADMIN_CONNECTIONS_MAX: usize = 64;
/// Time a client has to send a whole request head once it has started one (or connected).
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A kept-alive connection with no new request for this long is closed.
pub const KEEPALIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to take a response before the connection is dropped.
pub const RESPONSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests served on one connection before it is closed (bounds one client's share).
pub const REQUESTS_PER_CONNECTION_MAX: u32 = 1_000;
/// After an error response, unread input is drained for at most this long and this many bytes
/// before closing, so the kernel does not reset the connection and destroy the response.
const LINGER_TIMEOUT: Duration = Duration::from_millis(500);
const LINGER_BYTES_MAX: usize = 64 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors) instead of spinning.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// What the admin endpoints read. The closures are called once per request, on the admin
/// connection's task; they must be quick (`Node::status` is).
pub struct AdminSources {
    pub stats: Arc<ServerStats>,
    pub metrics: Arc<Metrics>,
    /// The node's log positions and counters, for `/metrics`.
    pub status: Box<dyn Fn() -> NodeStatus + Send + Sync>,
    /// The node's role and whether it can serve clients (`Cluster::readiness`), for `/ready`,
    /// `/leader` and `/role`.
    pub readiness: Box<dyn Fn() -> Readiness + Send + Sync>,
}

/// A running admin server (see `AdminServer::spawn`).
pub struct AdminServer {
    local_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Serves `listener` on a new task until `shutdown`.
    pub fn spawn(listener: TcpListener, sources: AdminSources) -> Self {
        let local_addr = listener.local_addr().ok();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_admin(listener, sources, async {
            let _ = stopped.await;
        }));
        Self {
            local_addr,
            stop,
            task,
        }
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Stops accepting, ends open admin connections and waits for them. When this returns the
    /// `AdminSources` (and whatever their closures hold) have been dropped.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "admin server task failed");
        }
    }
}

/// Serves the admin endpoints on `listener` until `stop` completes, then closes every admin
/// connection and returns (dropping `sources`).
pub async fn serve_admin(
    listener: TcpListener,
    sources: AdminSources,
    stop: impl Future<Output = ()>,
) {
    let sources = Arc::new(sources);
    let permits = Arc::new(Semaphore::new(ADMIN_CONNECTIONS_MAX));
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let sources = sources.clone();
                        connections.spawn(async move {
                            serve_connection(stream, &sources).await;
                            drop(permit);
                        });
                    }
                    Err(_) => refuse_busy(stream, addr),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    connections.shutdown().await;
}

/// Answers 503 to a connection over `ADMIN_CONNECTIONS_MAX` without a task: every call is
/// non-blocking, so what does not fit the socket buffers right now is lost, by design.
fn refuse_busy(stream: TcpStream, addr: SocketAddr) {
    tracing::warn!(%addr, limit = ADMIN_CONNECTIONS_MAX, "admin connection refused: too many");
    // Take what the request already delivered, so closing sends FIN rather than a reset that
    // would discard the 503 at the client.
    let mut scratch = [0u8; 4096];
    let _ = stream.try_read(&mut scratch);
    let response = Response::text(
        503,
        "Service Unavailable",
        "too many admin connections; retry\n",
    );
    let _ = stream.try_write(&response.encode(false));
}

/// Why a request head could not be read or understood.
#[derive(Debug, thiserror::Error)]
enum HeadError {
    #[error("request head exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("malformed request line")]
    BadRequestLine,
    #[error("malformed header line")]
    BadHeader,
    #[error("request head is not UTF-8")]
    NotUtf8,
    #[error("unsupported protocol {version}")]
    UnsupportedVersion { version: String },
    #[error("request head not complete within {timeout:?}")]
    Timeout { timeout: Duration },
    #[error("connection closed inside a request head")]
    Truncated,
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The parts of a request head we act on.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    /// The target without its query string.
    path: String,
    /// The client allows another request on this connection (HTTP/1.1 without `close`).
    keep_alive: bool,
    /// The request announces a body, which we never read: the connection must close after.
    has_body: bool,
}

struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    body: String,
    allow_get: bool,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow_get: false,
        }
    }

    fn encode(&self, keep_alive: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: \
             no-store\r\nConnection: {}\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len(),
            if keep_alive { "keep-alive" } else { "close" },
        );
        if self.allow_get {
            out.push_str("Allow: GET\r\n");
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out.into_bytes()
    }
}

async fn serve_connection(mut stream: TcpStream, sources: &AdminSources) {
    let mut buf = Vec::with_capacity(1024);
    let mut served = 0u32;
    loop {
        let idle_timeout = if served == 0 {
            REQUEST_HEAD_TIMEOUT
        } else {
            KEEPALIVE_IDLE_TIMEOUT
        };
        let request = match read_head(&mut stream, &mut buf, idle_timeout).await {
            Ok(Some(request)) => request,
            // The client closed or went quiet between requests: nothing to answer.
            Ok(None) | Err(HeadError::Io(_)) => return,
            Err(e) => {
                let response = match &e {
                    HeadError::TooLarge { .. } => {
                        Response::text(431, "Request Header Fields Too Large", format!("{e}\n"))
                    }
                    HeadError::UnsupportedVersion { .. } => {
                        Response::text(505, "HTTP Version Not Supported", format!("{e}\n"))
                    }
                    HeadError::Timeout { .. } => {
                        Response::text(408, "Request Timeout", format!("{e}\n"))
                    }
                    HeadError::Truncated => return,
                    _ => Response::text(400, "Bad Request", format!("{e}\n")),
                };
                tracing::debug!(error = %e, "admin request rejected");
                if write_response(&mut stream, &response, false).await {
                    linger_close(stream).await;
                }
                return;
            }
        };
        served += 1;
        let response = route(&request, sources);
        let keep_alive = request.keep_alive
            && !request.has_body
            && request.method == "GET"
            && served < REQUESTS_PER_CONNECTION_MAX;
        if !write_response(&mut stream, &response, keep_alive).await {
            return;
        }
        if !keep_alive {
            linger_close(stream).await;
            return;
        }
    }
}

fn route(request: &Request, sources: &AdminSources) -> Response {
    if request.method != "GET" {
        let mut response = Response::text(405, "Method Not Allowed", "only GET is served\n");
        response.allow_get = true;
        return response;
    }
    match request.path.as_str() {
        "/health" => Response::text(200, "OK", "ok\n"),
        "/ready" => match (sources.readiness)().ready {
            Ok(()) => Response::text(200, "OK", "ready\n"),
            Err(reason) => Response::text(503, "Service Unavailable", format!("{reason}\n")),
        },
        "/leader" => {
            let readiness = (sources.readiness)();
            match (readiness.role, &readiness.ready) {
                ("leader", Ok(())) => Response::text(200, "OK", "leader\n"),
                _ => Response::text(
                    503,
                    "Service Unavailable",
                    match (readiness.leader, readiness.leader_client_addr) {
                        (Some(leader), Some(addr)) => format!(
                            "node {} is a {}; the leader is node {leader} at {addr}\n",
                            readiness.node, readiness.role
                        ),
                        _ => format!(
                            "node {} is a {}; no leader known\n",
                            readiness.node, readiness.role
                        ),
                    },
                ),
            }
        }
        "/role" => {
            let readiness = (sources.readiness)();
            let body = serde_json::json!({
                "role": readiness.role,
                "node": readiness.node,
                "term": readiness.term,
                "leader": readiness.leader,
                "leader_client_addr": readiness.leader_client_addr,
                "applied": readiness.applied,
                "leader_contact_ms": readiness.leader_contact_ms,
                "ready": readiness.ready.is_ok(),
                "not_ready_because": readiness.ready.err(),
            });
            Response {
                content_type: "application/json",
                ..Response::text(200, "OK", format!("{body}\n"))
            }
        }
        "/metrics" => {
            let status = (sources.status)();
            let mut body = String::with_capacity(16 * 1024);
            metrics::render(&mut body, &sources.stats, &sources.metrics, &status);
            Response {
                content_type: metrics::CONTENT_TYPE,
                ..Response::text(200, "OK", body)
            }
        }
        _ => Response::text(
            404,
            "Not Found",
            "not found; try /health, /ready, /leader, /role or /metrics\n",
        ),
    }
}

/// Writes the response; false if the client did not take it in time or went away.
async fn write_response(stream: &mut TcpStream, response: &Response, keep_alive: bool) -> bool {
    let bytes = response.encode(keep_alive);
    matches!(
        tokio::time::timeout(RESPONSE_WRITE_TIMEOUT, stream.write_all(&bytes)).await,
        Ok(Ok(()))
    )
}

/// Half-closes, then discards what the client still sends (bounded in time and bytes), so
/// closing with unread input does not turn into a reset that loses the response.
async fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGER_TIMEOUT;
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES_MAX {
        match tokio::time::timeout_at(deadline, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Reads one request head into `buf` (which keeps any bytes after it for the next request).
/// `Ok(None)`: the client closed, or sent nothing within `idle_timeout`, before a new request.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    idle_timeout: Duration,
) -> Result<Option<Request>, HeadError> {
    let mut deadline = Instant::now() + idle_timeout;
    let mut started = false;
    loop {
        // RFC 9112 §2.2: ignore empty lines before a request line.
        let blank = buf
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        buf.drain(..blank);
        if !buf.is_empty() && !started {
            started = true;
            deadline = deadline.min(Instant::now() + REQUEST_HEAD_TIMEOUT);
        }
        if let Some(end) = head_end(buf) {
            let head: Vec<u8> = buf.drain(..end).collect();
            return parse_head(&head).map(Some);
        }
        if buf.len() >= REQUEST_HEAD_BYTES_MAX {
            return Err(HeadError::TooLarge {
                limit: REQUEST_HEAD_BYTES_MAX,
            });
        }
        let room = REQUEST_HEAD_BYTES_MAX - buf.len();
        let mut chunk = [0u8; 2048];
        let want = room.min(chunk.len());
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..want])).await {
            Err(_) if !started => return Ok(None),
            Err(_) => {
                return Err(HeadError::Timeout {
                    timeout: REQUEST_HEAD_TIMEOUT,
                })
            }
            Ok(Ok(0)) if !started => return Ok(None),
            Ok(Ok(0)) => return Err(HeadError::Truncated),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}

/// The length of the head (through its blank line) if `buf` holds a whole one. Bare `\n` line
/// ends are accepted as well as `\r\n`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, byte) in buf.iter().enumerate() {
        if *byte == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

fn parse_head(head: &[u8]) -> Result<Request, HeadError> {
    let text = std::str::from_utf8(head).map_err(|_| HeadError::NotUtf8)?;
    let mut lines = text
        .lines()
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let request_line = lines.next().ok_or(HeadError::BadRequestLine)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::BadRequestLine);
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
        || !target.starts_with('/')
    {
        return Err(HeadError::BadRequestLine);
    }
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        // HTTP/1.0 keep-alive is opt-in and rare among probes: always close.
        "HTTP/1.0" => false,
        other if other.starts_with("HTTP/") => {
            return Err(HeadError::UnsupportedVersion {
                version: other.to_string(),
            })
        }
        _ => return Err(HeadError::BadRequestLine),
    };
    let mut has_body = false;
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::BadHeader)?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(HeadError::BadHeader);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        {
            keep_alive = false;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            has_body = true;
        }
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        keep_alive,
        has_body,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::node::Node;
    use crate::server::metrics::tests::parse_exposition;
    use crate::server::metrics::CommandClass;

    /// Time a test waits for any one response; far above what a local response needs.
    const TEST_IO_TIMEOUT: Duration = Duration::from_secs(10);

    fn test_dir() -> tempfile::TempDir {
        std::fs::create_dir_all("target").expect("target dir");
        tempfile::Builder::new()
            .prefix("admin-test-")
            .tempdir_in("target")
            .expect("temp dir")
    }

    struct Harness {
        addr: SocketAddr,
        admin: AdminServer,
        node: Arc<Node>,
        stats: Arc<ServerStats>,
        ready_override: Arc<AtomicBool>,
        _dir: tempfile::TempDir,
    }

    /// A real node and an admin server on 127.0.0.1:0 reading it. `ready_override` = false
    /// makes `/ready` report not ready whatever the node says.
    async fn start() -> Harness {
        let dir = test_dir();
        let node = Arc::new(Node::builder(dir.path()).open().await.expect("open node"));
        node.db().set("k", "v").await.expect("set");
        let stats = Arc::new(ServerStats::default());
        stats.record_command(Some("set"), None);
        let metrics = Arc::new(Metrics::default());
        metrics.observe_command(CommandClass::Normal, Duration::from_micros(120));
        let ready_override = Arc::new(AtomicBool::new(true));
        let cluster = node.cluster().clone();
        let status_node = node.clone();
        let ready_flag = ready_override.clone();
        let sources = AdminSources {
            stats: stats.clone(),
            metrics,
            status: Box::new(move || status_node.status()),
            readiness: Box::new(move || {
                let mut readiness = cluster.readiness();
                if !ready_flag.load(Ordering::Relaxed) {
                    readiness.ready = Err("forced not ready by the test".into());
                }
                readiness
            }),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let admin = AdminServer::spawn(listener, sources);
        Harness {
            addr,
            admin,
            node,
            stats,
            ready_override,
            _dir: dir,
        }
    }

    impl Harness {
        async fn stop(self) {
            self.admin.shutdown().await;
            let node = Arc::try_unwrap(self.node)
                .unwrap_or_else(|_| panic!("admin shutdown must drop the status closure"));
            node.shutdown().await.expect("node shutdown");
        }
    }

    /// Sends `request` raw on a new connection and reads until the server closes.
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write request");
        let mut response = Vec::new();
        tokio::time::timeout(TEST_IO_TIMEOUT, stream.read_to_end(&mut response))
            .await
            .expect("server answers and closes in time")
            .expect("read response");
        String::from_utf8(response).expect("UTF-8 response")
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        exchange(
            addr,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
    }

    fn status_line(response: &str) -> &str {
        response.lines().next().unwrap_or("")
    }

    fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn endpoints_answer_with_the_right_status() {
        let h = start().await;

        let health = get(h.addr, "/health").await;
        assert_eq!(status_line(&health), "HTTP/1.1 200 OK");
        assert_eq!(body(&health), "ok\n");

        let ready = get(h.addr, "/ready").await;
        assert_eq!(status_line(&ready), "HTTP/1.1 200 OK", "{ready}");

        let metrics = get(h.addr, "/metrics?name=x").await;
        assert_eq!(status_line(&metrics), "HTTP/1.1 200 OK");
        assert!(metrics.contains("Content-Type: text/plain; version=0.0.4"));
        let text = body(&metrics);
        assert!(text.lines().any(|l| l == "tandem_up 1"), "{text}");
        assert!(
            text.contains("tandem_keys 1\n"),
            "the node's key is counted: {text}"
        );
        assert!(text.contains("tandem_commands_total{command=\"set\"} 1\n"));
        parse_exposition(text);

        assert_eq!(
            status_line(&get(h.addr, "/nope").await),
            "HTTP/1.1 404 Not Found"
        );
        let post = exchange(
            h.addr,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        )
        .await;
        assert_eq!(status_line(&post), "HTTP/1.1 405 Method Not Allowed");
        assert!(post.contains("Allow: GET\r\n"));
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ready_reports_503_with_the_reason() {
        let h = start().await;
        h.ready_override.store(false, Ordering::Relaxed);
        let ready = get(h.addr, "/ready").await;
        assert_eq!(status_line(&ready), "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body(&ready), "forced not ready by the test\n");
        h.stop().await;
    }

    /// A stopped engine must read as not ready, whatever role it last had.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readiness_follows_the_engine() {
        let dir = test_dir();
        let node = Node::builder(dir.path()).open().await.expect("open node");
        let cluster = node.cluster().clone();
        let readiness = cluster.readiness();
        assert_eq!((readiness.role, readiness.ready), ("leader", Ok(())));
        node.shutdown().await.expect("shutdown");
        let readiness = cluster.readiness();
        let reason = readiness.ready.expect_err("stopped node is not ready");
        assert!(reason.starts_with("consensus engine stopped"), "{reason}");
        assert_eq!(readiness.role, "stopped");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn leader_and_role_answer_for_a_single_node() {
        let h = start().await;
        let leader = get(h.addr, "/leader").await;
        assert_eq!(status_line(&leader), "HTTP/1.1 200 OK", "{leader}");
        assert_eq!(body(&leader), "leader\n");
        let role = get(h.addr, "/role").await;
        assert_eq!(status_line(&role), "HTTP/1.1 200 OK", "{role}");
        assert!(role.contains("Content-Type: application/json"), "{role}");
        let json: serde_json::Value = serde_json::from_str(body(&role)).expect("json");
        assert_eq!(json["role"], "leader");
        assert_eq!(json["ready"], true);
        assert_eq!(json["leader"], json["node"]);
        h.ready_override.store(false, Ordering::Relaxed);
        let leader = get(h.addr, "/leader").await;
        assert_eq!(status_line(&leader), "HTTP/1.1 503 Service Unavailable");
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn oversized_and_garbage_requests_are_refused_and_others_still_served() {
        let h = start().await;
        let long_target = "a".repeat(REQUEST_HEAD_BYTES_MAX * 2);
        let oversized = exchange(
            h.addr,
            format!("GET /{long_target} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(
            status_line(&oversized),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        let garbage = exchange(h.addr, b"\x00\x01\x02 nonsense\r\n\r\n").await;
        assert_eq!(status_line(&garbage), "HTTP/1.1 400 Bad Request");
        let no_colon = exchange(h.addr, b"GET /health HTTP/1.1\r\nbroken header\r\n\r\n").await;
        assert_eq!(status_line(&no_colon), "HTTP/1.1 400 Bad Request");
        let http2 = exchange(h.addr, b"GET /health HTTP/2.0\r\n\r\n").await;
        assert_eq!(
            status_line(&http2),
            "HTTP/1.1 505 HTTP Version Not Supported"
        );

        // A client that sends half a request and stalls does not hold up anyone else.
        let mut stalled = TcpStream::connect(h.addr).await.expect("connect");
        stalled.write_all(b"GET /hea").await.expect("write");
        assert_eq!(
            status_line(&get(h.addr, "/health").await),
            "HTTP/1.1 200 OK"
        );
        drop(stalled);
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_alive_serves_pipelined_requests_in_order() {
        let h = start().await;
        h.stats.record_command(Some("get"), None);
        let response = exchange(
            h.addr,
            b"GET /health HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await;
        let statuses: Vec<&str> = response
            .lines()
            .filter(|l| l.starts_with("HTTP/1.1 "))
            .collect();
        assert_eq!(
            statuses,
            [
                "HTTP/1.1 200 OK",
                "HTTP/1.1 404 Not Found",
                "HTTP/1.1 200 OK"
            ]
        );
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_over_the_limit_get_503_and_the_limit_frees_up() {
        let h = start().await;
        let mut idle = Vec::new();
        for _ in 0..ADMIN_CONNECTIONS_MAX {
            let mut stream = TcpStream::connect(h.addr).await.expect("connect");
            // A started request holds its permit until REQUEST_HEAD_TIMEOUT.
            stream.write_all(b"G").await.expect("write");
            idle.push(stream);
        }
        // The accept loop takes connections in order, so by the time it reaches this one every
        // permit is held. It sends no request: the 503 must not depend on reading one.
        let refused = exchange(h.addr, b"").await;
        assert_eq!(status_line(&refused), "HTTP/1.1 503 Service Unavailable");
        drop(idle);
        let deadline = Instant::now() + TEST_IO_TIMEOUT;
        loop {
            let health = get(h.addr, "/health").await;
            if status_line(&health) == "HTTP/1.1 200 OK" {
                break;
            }
            assert!(Instant::now() < deadline, "permits never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.stop().await;
    }

    #[test]
    fn parse_head_reads_method_path_and_connection_semantics() {
        let request = parse_head(
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Close\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(
            request,
            Request {
                method: "GET".into(),
                path: "/metrics".into(),
                keep_alive: false,
                has_body: false,
            }
        );
        let request = parse_head(b"GET / HTTP/1.0\n\n").expect("bare LF is accepted");
        assert!(!request.keep_alive);
        let request =
            parse_head(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").expect("valid");
        assert!(request.has_body && request.keep_alive);
        assert!(matches!(
            parse_head(b"GET  / HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadRequestLine)
        ));
        assert!(matches!(
            parse_head(b"GET http://x/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadRequestLine)
        ));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
