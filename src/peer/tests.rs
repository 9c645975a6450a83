//! Peer transport tests over real loopback sockets (ports chosen by the OS).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, SeedableRng};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use super::frame::{self, Frame, FrameError, FrameType, HEADER_BYTES, PROTOCOL_VERSION};
use super::handshake::HANDSHAKE_BODY_BYTES_MAX;
use super::*;

const CLUSTER: &str = "test-cluster";
const SECRET: &[u8] = b"correct horse battery staple";
/// Generous: the tests share two cores with other builds.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Handler kinds.
const ECHO: u8 = 1;
const FAIL: u8 = 2;
const FROM: u8 = 3;
const BLOCK: u8 = 4;
const PANIC: u8 = 5;
const SIZED: u8 = 6;
const SHUFFLED_ECHO: u8 = 7;

struct TestHandler {
    calls: AtomicUsize,
    /// A BLOCK request reports its arrival here, then waits for a permit of `release`.
    arrived: mpsc::UnboundedSender<()>,
    release: Arc<Semaphore>,
}

impl TestHandler {
    fn new() -> (Arc<TestHandler>, mpsc::UnboundedReceiver<()>) {
        let (arrived, arrived_rx) = mpsc::unbounded_channel();
        let handler = TestHandler {
            calls: AtomicUsize::new(0),
            arrived,
            release: Arc::new(Semaphore::new(0)),
        };
        (Arc::new(handler), arrived_rx)
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl PeerHandler for TestHandler {
    fn handle(&self, from: u64, kind: u8, payload: Bytes) -> HandlerFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let arrived = self.arrived.clone();
        let release = self.release.clone();
        Box::pin(async move {
            match kind {
                ECHO => Ok(payload),
                FAIL => Err(format!("boom: {}", String::from_utf8_lossy(&payload))),
                FROM => Ok(Bytes::copy_from_slice(&from.to_le_bytes())),
                BLOCK => {
                    let _ = arrived.send(());
                    let _permit = release.acquire().await;
                    Ok(payload)
                }
                PANIC => panic!("handler exploded"),
                SIZED => {
                    let bytes: [u8; 4] = payload[..4]
                        .try_into()
                        .map_err(|_| "bad size".to_string())?;
                    Ok(Bytes::from(vec![7u8; u32::from_le_bytes(bytes) as usize]))
                }
                SHUFFLED_ECHO => {
                    // Replies finish in an order unrelated to the requests' order.
                    let delay_us = u64::from(payload[0]) * 97 % 5_000;
                    tokio::time::sleep(Duration::from_micros(delay_us)).await;
                    Ok(payload)
                }
                other => Err(format!("unknown kind {other}")),
            }
        })
    }
}

fn config(node_id: u64) -> Arc<PeerConfig> {
    Arc::new(PeerConfig::new(node_id, CLUSTER, SECRET))
}

/// A config with a connect timeout that tolerates a busy test machine.
fn client_config(node_id: u64) -> PeerConfig {
    let mut config = PeerConfig::new(node_id, CLUSTER, SECRET);
    config.connect_timeout = Duration::from_secs(5);
    config
}

async fn start_server(node_id: u64) -> (PeerServer, Arc<TestHandler>, mpsc::UnboundedReceiver<()>) {
    let (handler, arrived) = TestHandler::new();
    let server = PeerServer::bind("127.0.0.1:0", config(node_id), handler.clone())
        .await
        .expect("bind");
    (server, handler, arrived)
}

fn client_for(server: &PeerServer, target: u64, config: PeerConfig) -> PeerClient {
    PeerClient::new(target, server.local_addr().to_string(), Arc::new(config))
}

/// A HELLO body as a client of this version sends it.
fn hello_body(client_id: u64, target_id: u64, cluster_name: &str) -> Bytes {
    let mut body = BytesMut::new();
    body.put_slice(b"TNDMPEER");
    body.put_u64_le(client_id);
    body.put_u64_le(target_id);
    body.put_slice(&[9u8; 32]);
    body.put_u8(cluster_name.len() as u8);
    body.put_slice(cluster_name.as_bytes());
    body.freeze()
}

async fn read_handshake_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Frame, FrameError> {
    frame::read_frame(stream, buf, HANDSHAKE_BODY_BYTES_MAX).await
}

/// Reads until the server closes the connection; fails the test if it sends anything else.
async fn expect_closed(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match tokio::time::timeout(CALL_TIMEOUT, stream.read_to_end(&mut rest)).await {
        Ok(Ok(_)) | Ok(Err(_)) => {}
        Err(_) => panic!("the server kept the connection open"),
    }
}

#[tokio::test]
async fn round_trip_delivers_payload_and_caller_id() {
    let (server, handler, _arrived) = start_server(1).await;
    let client = client_for(&server, 1, client_config(2));

    let reply = client
        .call(ECHO, Bytes::from_static(b"hello"), CALL_TIMEOUT)
        .await;
    assert_eq!(reply, Ok(Bytes::from_static(b"hello")));
    let reply = client.call(ECHO, Bytes::new(), CALL_TIMEOUT).await;
    assert_eq!(
        reply,
        Ok(Bytes::new()),
        "an empty payload is a valid request"
    );
    let from = client.call(FROM, Bytes::new(), CALL_TIMEOUT).await;
    assert_eq!(from, Ok(Bytes::copy_from_slice(&2u64.to_le_bytes())));
    assert_eq!(client.target(), 1);
    assert_eq!(handler.calls(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_calls_each_get_their_own_reply() {
    let (server, handler, _arrived) = start_server(1).await;
    let client = client_for(&server, 1, client_config(2));

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        let client = client.clone();
        calls.spawn(async move {
            // Distinct payloads (with a size that varies) so a mixed-up reply is detected.
            let mut payload = BytesMut::new();
            payload.put_u8((i % 251) as u8);
            payload.put_u32_le(i);
            payload.put_bytes(0xAB, (i % 64) as usize);
            let payload = payload.freeze();
            let reply = client
                .call(SHUFFLED_ECHO, payload.clone(), CALL_TIMEOUT)
                .await;
            (payload, reply)
        });
    }
    let mut answered = 0;
    while let Some(joined) = calls.join_next().await {
        let (payload, reply) = joined.expect("call task");
        assert_eq!(reply, Ok(payload));
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert_eq!(handler.calls(), 1000);
}

#[tokio::test]
async fn second_call_is_answered_while_first_is_still_running() {
    let (server, handler, mut arrived) = start_server(1).await;
    let client = client_for(&server, 1, client_config(2));

    let blocked = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call(BLOCK, Bytes::from_static(b"first"), CALL_TIMEOUT)
                .await
        }
    });
    arrived
        .recv()
        .await
        .expect("the first call reached the handler");
    let second = client
        .call(ECHO, Bytes::from_static(b"second"), CALL_TIMEOUT)
        .await;
    assert_eq!(second, Ok(Bytes::from_static(b"second")));
    assert!(
        !blocked.is_finished(),
        "the first call is still waiting for its handler"
    );

    handler.release.add_permits(1);
    let first = blocked.await.expect("call task");
    assert_eq!(first, Ok(Bytes::from_static(b"first")));
}

#[tokio::test]
async fn wrong_secret_is_refused_by_the_server() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut config = client_config(2);
    config.cluster_secret = b"not the secret".to_vec();
    let client = client_for(&server, 1, config);

    let error = client
        .call(ECHO, Bytes::from_static(b"x"), CALL_TIMEOUT)
        .await;
    match error {
        Err(PeerError::Rejected { target: 1, reason }) => {
            assert_eq!(reason, "authentication failed")
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        handler.calls(),
        0,
        "no request is handled without authentication"
    );
}

/// A server that does not know the secret and admits everyone anyway: the client must still
/// refuse it, because the server's MAC does not verify.
#[tokio::test]
async fn server_that_cannot_prove_the_secret_is_refused_by_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let impostor = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = BytesMut::new();
        let hello = read_handshake_frame(&mut stream, &mut buf)
            .await
            .expect("hello");
        assert_eq!(hello.frame_type, FrameType::Hello);
        let mut challenge = BytesMut::new();
        challenge.put_u64_le(1);
        challenge.put_slice(&[3u8; 32]);
        let challenge = Frame::handshake(FrameType::Challenge, challenge.freeze());
        frame::write_frame(&mut stream, &challenge)
            .await
            .expect("challenge");
        let proof = read_handshake_frame(&mut stream, &mut buf)
            .await
            .expect("proof");
        assert_eq!(proof.frame_type, FrameType::Proof);
        let welcome = Frame::handshake(FrameType::Welcome, Bytes::from(vec![0u8; 32]));
        frame::write_frame(&mut stream, &welcome)
            .await
            .expect("welcome");
        // The client must not send a request now.
        read_handshake_frame(&mut stream, &mut buf).await
    });

    let client = PeerClient::new(1, addr.to_string(), Arc::new(client_config(2)));
    match client
        .call(ECHO, Bytes::from_static(b"secret data"), CALL_TIMEOUT)
        .await
    {
        Err(PeerError::Rejected { target: 1, reason }) => {
            assert!(reason.contains("failed to prove"), "reason: {reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let after_welcome = impostor.await.expect("impostor task");
    assert!(
        matches!(after_welcome, Err(FrameError::Closed)),
        "the client closed without sending a request: {after_welcome:?}"
    );
}

#[tokio::test]
async fn cluster_name_mismatch_is_refused_with_the_reason() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut config = client_config(2);
    config.cluster_name = "other-cluster".to_string();
    let client = client_for(&server, 1, config);

    match client
        .call(ECHO, Bytes::from_static(b"x"), CALL_TIMEOUT)
        .await
    {
        Err(PeerError::Rejected { target: 1, reason }) => {
            assert!(reason.contains("cluster name mismatch"), "reason: {reason}");
            assert!(
                reason.contains("test-cluster") && reason.contains("other-cluster"),
                "reason: {reason}"
            );
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(handler.calls(), 0);
}

#[tokio::test]
async fn wrong_target_node_id_is_refused() {
    let (server, _handler, _arrived) = start_server(1).await;
    let client = client_for(&server, 7, client_config(2));

    match client
        .call(ECHO, Bytes::from_static(b"x"), CALL_TIMEOUT)
        .await
    {
        Err(PeerError::Rejected { target: 7, reason }) => {
            assert!(reason.contains("node id mismatch"), "reason: {reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn other_protocol_version_is_refused_with_the_reason() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let mut hello = Frame::handshake(FrameType::Hello, hello_body(2, 1, CLUSTER));
    hello.version = PROTOCOL_VERSION + 1;
    frame::write_frame(&mut stream, &hello)
        .await
        .expect("hello");

    let mut buf = BytesMut::new();
    let reject = read_handshake_frame(&mut stream, &mut buf)
        .await
        .expect("reject");
    assert_eq!(reject.frame_type, FrameType::Reject);
    let reason = String::from_utf8_lossy(&reject.body);
    assert!(
        reason.contains("protocol version mismatch"),
        "reason: {reason}"
    );
    expect_closed(&mut stream).await;
    assert_eq!(handler.calls(), 0);
}

/// A client whose protocol versions do not overlap the server's is refused, and the REJECT
/// names both ranges (the server logs the same).
#[tokio::test]
async fn no_common_protocol_version_is_refused_with_both_ranges() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let (min, max) = (PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 2);
    let hello = Frame::new(
        FrameType::Hello,
        max,
        u64::from(min),
        hello_body(2, 1, CLUSTER),
    );
    frame::write_frame(&mut stream, &hello)
        .await
        .expect("hello");
    let mut buf = BytesMut::new();
    let reject = read_handshake_frame(&mut stream, &mut buf)
        .await
        .expect("reject");
    assert_eq!(reject.frame_type, FrameType::Reject);
    let reason = String::from_utf8_lossy(&reject.body);
    assert!(
        reason.contains("no common peer protocol version")
            && reason.contains(&format!("versions {min} to {max}")),
        "reason: {reason}"
    );
    expect_closed(&mut stream).await;
    assert_eq!(handler.calls(), 0);
}

/// The server answers with the highest version both sides speak, in CHALLENGE's `kind`; a
/// HELLO without a range (a build that does not negotiate) gets version 1.
#[tokio::test]
async fn challenge_carries_the_highest_common_version() {
    let (server, _handler, _arrived) = start_server(1).await;
    for (max, min, expected) in [(200, 1, PROTOCOL_VERSION), (0, 0, 1)] {
        let mut stream = TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        let hello = Frame::new(FrameType::Hello, max, min, hello_body(2, 1, CLUSTER));
        frame::write_frame(&mut stream, &hello)
            .await
            .expect("hello");
        let mut buf = BytesMut::new();
        let challenge = read_handshake_frame(&mut stream, &mut buf)
            .await
            .expect("challenge");
        assert_eq!(challenge.frame_type, FrameType::Challenge);
        assert_eq!(challenge.kind, expected, "HELLO range {min}..={max}");
    }
}

/// A request sent before the handshake finished is never handled: the server takes it for a
/// (wrong) proof and refuses the connection.
#[tokio::test]
async fn request_before_the_handshake_is_not_handled() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let hello = Frame::handshake(FrameType::Hello, hello_body(2, 1, CLUSTER));
    frame::write_frame(&mut stream, &hello)
        .await
        .expect("hello");
    let request = Frame::new(FrameType::Request, ECHO, 1, Bytes::from_static(b"sneaky"));
    frame::write_frame(&mut stream, &request)
        .await
        .expect("request");

    let mut buf = BytesMut::new();
    let challenge = read_handshake_frame(&mut stream, &mut buf)
        .await
        .expect("challenge");
    assert_eq!(challenge.frame_type, FrameType::Challenge);
    let reject = read_handshake_frame(&mut stream, &mut buf)
        .await
        .expect("reject");
    assert_eq!(reject.frame_type, FrameType::Reject);
    assert_eq!(&reject.body[..], b"authentication failed");
    expect_closed(&mut stream).await;
    assert_eq!(handler.calls(), 0);
}

#[tokio::test]
async fn handler_error_comes_back_as_remote_and_connection_stays_usable() {
    let (server, _handler, _arrived) = start_server(1).await;
    let client = client_for(&server, 1, client_config(2));

    let failed = client
        .call(FAIL, Bytes::from_static(b"disk on fire"), CALL_TIMEOUT)
        .await;
    assert_eq!(
        failed,
        Err(PeerError::Remote {
            target: 1,
            message: "boom: disk on fire".to_string()
        })
    );
    match client.call(PANIC, Bytes::new(), CALL_TIMEOUT).await {
        Err(PeerError::Remote { message, .. }) => {
            assert!(message.contains("panicked"), "message: {message}")
        }
        other => panic!("expected Remote, got {other:?}"),
    }
    let echoed = client
        .call(ECHO, Bytes::from_static(b"still here"), CALL_TIMEOUT)
        .await;
    assert_eq!(echoed, Ok(Bytes::from_static(b"still here")));
}

#[tokio::test]
async fn server_killed_mid_call_gives_unreachable_then_next_call_reconnects() {
    let (server, handler, mut arrived) = start_server(1).await;
    let addr = server.local_addr();
    let client = client_for(&server, 1, client_config(2));

    let pending = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .call(BLOCK, Bytes::from_static(b"in flight"), CALL_TIMEOUT)
                .await
        }
    });
    arrived.recv().await.expect("the call reached the handler");
    server.shutdown();
    match pending.await.expect("call task") {
        Err(PeerError::Unreachable { target: 1, .. }) => {}
        other => panic!("expected Unreachable, got {other:?}"),
    }
    server.closed().await;
    drop(server);
    handler.release.add_permits(1); // let the orphaned handler task finish

    let (handler, _arrived) = TestHandler::new();
    let restarted = PeerServer::bind(&addr.to_string(), config(1), handler.clone())
        .await
        .expect("bind the same port again");
    let reply = client
        .call(ECHO, Bytes::from_static(b"again"), CALL_TIMEOUT)
        .await;
    assert_eq!(reply, Ok(Bytes::from_static(b"again")));
    assert_eq!(handler.calls(), 1);
    drop(restarted);
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = PeerClient::new(1, addr.to_string(), Arc::new(client_config(2)));
    match client.call(ECHO, Bytes::new(), CALL_TIMEOUT).await {
        Err(PeerError::Unreachable {
            target: 1,
            addr: failed,
            ..
        }) => assert_eq!(failed, addr.to_string()),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn oversized_request_closes_the_connection_and_the_next_call_reconnects() {
    let (handler, _arrived) = TestHandler::new();
    let mut small = PeerConfig::new(1, CLUSTER, SECRET);
    small.frame_bytes_max = 1024;
    let server = PeerServer::bind("127.0.0.1:0", Arc::new(small), handler.clone())
        .await
        .expect("bind");
    let client = client_for(&server, 1, client_config(2));

    let oversized = client
        .call(ECHO, Bytes::from(vec![1u8; 4096]), CALL_TIMEOUT)
        .await;
    match oversized {
        Err(PeerError::Unreachable { target: 1, .. }) => {}
        other => panic!("expected Unreachable (connection closed by the server), got {other:?}"),
    }
    assert_eq!(handler.calls(), 0);
    let reply = client
        .call(ECHO, Bytes::from(vec![2u8; 1024]), CALL_TIMEOUT)
        .await;
    assert_eq!(
        reply,
        Ok(Bytes::from(vec![2u8; 1024])),
        "a frame at the limit is fine"
    );
}

#[tokio::test]
async fn oversized_reply_is_a_protocol_error_for_the_client() {
    let (server, _handler, _arrived) = start_server(1).await;
    let mut config = client_config(2);
    config.frame_bytes_max = 1024;
    let client = client_for(&server, 1, config);

    let big = client
        .call(
            SIZED,
            Bytes::copy_from_slice(&4096u32.to_le_bytes()),
            CALL_TIMEOUT,
        )
        .await;
    match big {
        Err(PeerError::Protocol { target: 1, reason }) => {
            assert!(reason.contains("over the limit"), "reason: {reason}")
        }
        other => panic!("expected Protocol, got {other:?}"),
    }
    let not_sent = client
        .call(ECHO, Bytes::from(vec![0u8; 1025]), CALL_TIMEOUT)
        .await;
    assert!(
        matches!(not_sent, Err(PeerError::Protocol { .. })),
        "{not_sent:?}"
    );
    let reply = client
        .call(
            SIZED,
            Bytes::copy_from_slice(&16u32.to_le_bytes()),
            CALL_TIMEOUT,
        )
        .await;
    assert_eq!(reply, Ok(Bytes::from(vec![7u8; 16])));
}

#[tokio::test]
async fn oversized_length_before_the_handshake_closes_the_connection() {
    let (server, handler, _arrived) = start_server(1).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    let mut header = BytesMut::new();
    header.put_u32_le(u32::MAX);
    header.put_bytes(0, HEADER_BYTES - 4);
    tokio::io::AsyncWriteExt::write_all(&mut stream, &header)
        .await
        .expect("write");
    expect_closed(&mut stream).await;
    assert_eq!(handler.calls(), 0);
}

#[tokio::test]
async fn silent_connection_is_dropped_after_the_handshake_timeout() {
    let (server, _handler, _arrived) = start_server(1).await;
    let mut stream = TcpStream::connect(server.local_addr())
        .await
        .expect("connect");
    expect_closed(&mut stream).await;
}

#[tokio::test]
async fn call_without_reply_times_out_and_the_connection_stays_usable() {
    let (server, handler, _arrived) = start_server(1).await;
    let client = client_for(&server, 1, client_config(2));

    let timeout = Duration::from_millis(100);
    let timed_out = client.call(BLOCK, Bytes::new(), timeout).await;
    assert_eq!(
        timed_out,
        Err(PeerError::Timeout {
            target: 1,
            after: timeout
        })
    );
    let reply = client
        .call(ECHO, Bytes::from_static(b"ok"), CALL_TIMEOUT)
        .await;
    assert_eq!(reply, Ok(Bytes::from_static(b"ok")));
    handler.release.add_permits(1);
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let (handler, _arrived) = TestHandler::new();
    let no_secret = Arc::new(PeerConfig::new(1, CLUSTER, Vec::new()));
    let bound = PeerServer::bind("127.0.0.1:0", no_secret.clone(), handler).await;
    assert_eq!(
        bound.err().map(|error| error.kind()),
        Some(std::io::ErrorKind::InvalidInput)
    );

    let client = PeerClient::new(1, "127.0.0.1:1", no_secret);
    let refused = client.call(ECHO, Bytes::new(), CALL_TIMEOUT).await;
    assert!(
        matches!(refused, Err(PeerError::Rejected { .. })),
        "{refused:?}"
    );
}

#[test]
fn decode_refuses_a_large_claimed_length_without_reserving_it() {
    let mut buf = BytesMut::new();
    buf.put_u32_le(1 << 30);
    buf.put_u8(PROTOCOL_VERSION);
    buf.put_u8(FrameType::Request as u8);
    buf.put_bytes(0, 10);
    let error = frame::decode(&mut buf, 1 << 20).expect_err("too large");
    assert!(matches!(error, FrameError::TooLarge { body_bytes, .. } if body_bytes == 1 << 30));
    assert!(buf.capacity() < 1024);
}

#[test]
fn frames_round_trip_and_split_at_any_byte() {
    let frames = vec![
        Frame::new(FrameType::Request, 9, 1, Bytes::from_static(b"payload")),
        Frame::new(FrameType::Response, 0, u64::MAX, Bytes::new()),
        Frame::handshake(FrameType::Reject, Bytes::from_static(b"no")),
    ];
    let mut wire = BytesMut::new();
    for frame in &frames {
        frame::encode(frame, &mut wire);
    }
    for split in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..split]);
        let mut decoded = Vec::new();
        while let Some(frame) = frame::decode(&mut buf, 1024).expect("valid") {
            decoded.push(frame);
        }
        buf.extend_from_slice(&wire[split..]);
        while let Some(frame) = frame::decode(&mut buf, 1024).expect("valid") {
            decoded.push(frame);
        }
        assert_eq!(decoded, frames, "split at {split}");
        assert!(buf.is_empty());
    }
}

/// Random bytes (seeded; the seed is printed on failure) never panic the decoder, and it never
/// returns a frame over the limit.
#[test]
fn decode_survives_random_input() {
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..20_000 {
        let len = rng.gen_range(0..64);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if rng.gen_bool(0.5) && bytes.len() >= 6 {
            // Plausible headers reach the later checks more often.
            bytes[0..4].copy_from_slice(&(rng.gen_range(0..48u32)).to_le_bytes());
            bytes[4] = PROTOCOL_VERSION;
            bytes[5] = [1, 2, 3, 4, 5, 16, 17, 18][rng.gen_range(0..8)];
        }
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(frame)) = frame::decode(&mut buf, 32) {
            assert!(frame.body.len() <= 32, "seed {seed}");
        }
    }
}

// --- mutual TLS (tls-cluster) ---

/// A CA and, per node id, a TLS state whose certificate names `cert_id` (normally the node's
/// own id) while the state believes it is node `cert_id` too.
struct TlsFixture {
    dir: tempfile::TempDir,
    ca: crate::tls::certs::CertAuthority,
}

impl TlsFixture {
    fn new() -> TlsFixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = crate::tls::certs::CertAuthority::new("peer test CA").expect("CA");
        ca.write(dir.path()).expect("write CA");
        TlsFixture { dir, ca }
    }

    /// TLS state holding a certificate for `tandem-node-<cert_id>` signed by `ca`.
    fn state_with(
        &self,
        ca: &crate::tls::certs::CertAuthority,
        cert_id: u64,
    ) -> Arc<crate::tls::TlsState> {
        let stem = format!("node{cert_id}-{}", rand::random::<u32>());
        let (cert_file, key_file) = ca
            .node(cert_id, &[])
            .expect("issue")
            .write(self.dir.path(), &stem)
            .expect("write");
        let settings = crate::tls::TlsSettings {
            cert_file,
            key_file,
            ca_cert_file: Some(self.dir.path().join("ca.crt")),
            auth_clients: crate::tls::ClientAuth::Yes,
            protocols: None,
            ciphersuites: None,
            cluster: true,
            node_id: cert_id,
        };
        Arc::new(crate::tls::TlsState::load(settings).expect("TLS state"))
    }

    fn state(&self, cert_id: u64) -> Arc<crate::tls::TlsState> {
        self.state_with(&self.ca, cert_id)
    }
}

async fn start_tls_server(fixture: &TlsFixture, node_id: u64) -> (PeerServer, Arc<TestHandler>) {
    let (handler, _arrived) = TestHandler::new();
    let config = PeerConfig::new(node_id, CLUSTER, SECRET).with_tls(Some(fixture.state(node_id)));
    let server = PeerServer::bind("127.0.0.1:0", Arc::new(config), handler.clone())
        .await
        .expect("bind");
    (server, handler)
}

#[tokio::test]
async fn mutual_tls_carries_calls_between_members_with_matching_certificates() {
    let fixture = TlsFixture::new();
    let (server, handler) = start_tls_server(&fixture, 1).await;
    let client = client_for(
        &server,
        1,
        client_config(2).with_tls(Some(fixture.state(2))),
    );
    let reply = client
        .call(ECHO, Bytes::from_static(b"over tls"), CALL_TIMEOUT)
        .await;
    assert_eq!(reply, Ok(Bytes::from_static(b"over tls")));
    let from = client.call(FROM, Bytes::new(), CALL_TIMEOUT).await;
    assert_eq!(from, Ok(Bytes::copy_from_slice(&2u64.to_le_bytes())));
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn a_member_certificate_cannot_claim_another_member_id() {
    let fixture = TlsFixture::new();
    let (server, handler) = start_tls_server(&fixture, 1).await;
    // A valid certificate for node 3, used by a process that says it is node 2.
    let impostor = client_for(
        &server,
        1,
        client_config(2).with_tls(Some(fixture.state(3))),
    );
    let error = impostor
        .call(ECHO, Bytes::from_static(b"x"), CALL_TIMEOUT)
        .await
        .expect_err("an impostor must be refused");
    assert!(
        matches!(&error, PeerError::Rejected { reason, .. } if reason.contains("tandem-node-2")),
        "{error:?}"
    );
    assert_eq!(handler.calls(), 0, "nothing reached the handler");
}

#[tokio::test]
async fn the_dialer_refuses_a_server_whose_certificate_names_another_node() {
    let fixture = TlsFixture::new();
    // The server is node 1 with node 1's certificate; the client dials it believing it is
    // node 4 (its address was taken over): the TLS name check fails before any frame.
    let (server, handler) = start_tls_server(&fixture, 1).await;
    let client = client_for(
        &server,
        4,
        client_config(2).with_tls(Some(fixture.state(2))),
    );
    let error = client
        .call(ECHO, Bytes::from_static(b"x"), CALL_TIMEOUT)
        .await
        .expect_err("wrong server identity");
    assert!(error.never_sent(), "{error:?}");
    assert_eq!(handler.calls(), 0);
}

#[tokio::test]
async fn strangers_are_refused_by_a_tls_peer_server() {
    let fixture = TlsFixture::new();
    let (server, handler) = start_tls_server(&fixture, 1).await;
    // A certificate from another CA.
    let other_ca = crate::tls::certs::CertAuthority::new("other CA").expect("CA");
    let foreign = fixture.state_with(&other_ca, 2);
    let client = client_for(&server, 1, client_config(2).with_tls(Some(foreign)));
    assert!(client.call(ECHO, Bytes::new(), CALL_TIMEOUT).await.is_err());
    // Plaintext with the right secret.
    let plain = client_for(&server, 1, client_config(2));
    assert!(plain.call(ECHO, Bytes::new(), CALL_TIMEOUT).await.is_err());
    assert_eq!(handler.calls(), 0);
    // The server still serves members afterwards.
    let member = client_for(
        &server,
        1,
        client_config(2).with_tls(Some(fixture.state(2))),
    );
    assert_eq!(
        member
            .call(ECHO, Bytes::from_static(b"ok"), CALL_TIMEOUT)
            .await,
        Ok(Bytes::from_static(b"ok"))
    );
}

#[tokio::test]
async fn tampered_tls_records_drop_the_connection_and_nothing_is_applied() {
    // A proxy between client and server flips one byte of the client's stream after the
    // handshake: the TLS record fails its integrity check, the server closes the connection
    // and the handler never sees the altered request.
    let fixture = TlsFixture::new();
    let (server, handler) = start_tls_server(&fixture, 1).await;
    let upstream = server.local_addr();
    let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let proxy_addr = proxy.local_addr().expect("addr");
    let flip_after = Arc::new(AtomicUsize::new(usize::MAX));
    let flip = flip_after.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut inbound, _)) = proxy.accept().await {
            let mut outbound = TcpStream::connect(upstream).await.expect("upstream");
            let flip = flip.clone();
            tokio::spawn(async move {
                let (mut in_read, mut in_write) = inbound.split();
                let (mut out_read, mut out_write) = outbound.split();
                let forward = async {
                    let mut seen = 0usize;
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        let n = match in_read.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let at = flip.load(Ordering::SeqCst);
                        if at != usize::MAX && at >= seen && at < seen + n {
                            chunk[at - seen] ^= 0x40;
                        }
                        seen += n;
                        if out_write.write_all(&chunk[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let backward = tokio::io::copy(&mut out_read, &mut in_write);
                tokio::select! { _ = forward => {}, _ = backward => {} }
            });
        }
    });
    let config = client_config(2).with_tls(Some(fixture.state(2)));
    let client = PeerClient::new(1, proxy_addr.to_string(), Arc::new(config));
    assert_eq!(
        client
            .call(ECHO, Bytes::from_static(b"first"), CALL_TIMEOUT)
            .await,
        Ok(Bytes::from_static(b"first"))
    );
    assert_eq!(handler.calls(), 1);
    // Flip a byte in the middle of the next request's record. The handshake and the first
    // request are well under 64 KiB of client bytes; the next request is 200 KiB.
    flip_after.store(100 * 1024, Ordering::SeqCst);
    let tampered = client
        .call(ECHO, Bytes::from(vec![1u8; 200 * 1024]), CALL_TIMEOUT)
        .await;
    assert!(tampered.is_err(), "a tampered request must not be answered");
    assert_eq!(
        handler.calls(),
        1,
        "the altered request never reached the handler"
    );
    // A new connection works (the flip position is behind us now).
    flip_after.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(
        client
            .call(ECHO, Bytes::from_static(b"again"), CALL_TIMEOUT)
            .await,
        Ok(Bytes::from_static(b"again"))
    );
}
