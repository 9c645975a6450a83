//! The handshake: both sides prove they know the cluster secret without sending it.
//!
//! Four frames: HELLO (client id, the id it expects, client nonce, cluster name), CHALLENGE
//! (server id, server nonce), PROOF (client MAC), WELCOME (server MAC). Each MAC is
//! HMAC-SHA256 keyed by the secret over a role byte and the whole transcript, so a MAC is
//! bound to both fresh nonces, both ids, the cluster name and the version, and one side's MAC
//! is never valid as the other's. The client proves itself first, so a stranger connecting to
//! the server learns nothing that could help it guess the secret. Until WELCOME, frames are
//! limited to `HANDSHAKE_BODY_BYTES_MAX` bytes.
//!
//! Version negotiation: HELLO carries the range of protocol versions the client speaks (in its
//! header's `kind` and `request_id` fields, which a build without negotiation ignores and
//! leaves zero: version 1 only); the server answers with the highest version both speak in
//! CHALLENGE's `kind`, or refuses with a REJECT naming both ranges. Both MACs cover the chosen
//! version. Handshake frames keep header version 1 in every release, so any two releases can
//! read each other's HELLO and REJECT.

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncWrite};

use super::frame::{self, Frame, FrameError, FrameType, PROTOCOL_VERSION};
use super::PeerConfig;

/// Largest frame body before the handshake completes.
pub(crate) const HANDSHAKE_BODY_BYTES_MAX: usize = 1024;

/// A REJECT reason is cut to this many bytes.
const REJECT_REASON_BYTES_MAX: usize = 512;

const MAGIC: &[u8; 8] = b"TNDMPEER";
const NONCE_BYTES: usize = 32;
const MAC_BYTES: usize = 32;

/// The oldest peer protocol version this build speaks.
pub(crate) const PROTOCOL_VERSION_MIN: u8 = 1;
/// The newest peer protocol version this build speaks.
pub(crate) const PROTOCOL_VERSION_MAX: u8 = PROTOCOL_VERSION;

/// Test hook: `MIN-MAX` replaces the range of versions this process advertises, so tests can
/// run "mixed versions" with one binary. Not for production use.
const VERSIONS_ENV: &str = "TANDEM_TEST_PEER_PROTOCOL_VERSIONS";

/// A range of peer protocol versions, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VersionRange {
    pub min: u8,
    pub max: u8,
}

impl VersionRange {
    /// What a peer that does not negotiate speaks.
    const LEGACY: VersionRange = VersionRange { min: 1, max: 1 };

    /// The versions this process speaks (the build's, unless the test hook overrides them).
    pub fn ours() -> VersionRange {
        static OURS: std::sync::OnceLock<VersionRange> = std::sync::OnceLock::new();
        *OURS.get_or_init(|| {
            let build = VersionRange {
                min: PROTOCOL_VERSION_MIN,
                max: PROTOCOL_VERSION_MAX,
            };
            match std::env::var(VERSIONS_ENV) {
                Ok(text) => VersionRange::parse(&text).unwrap_or_else(|| {
                    tracing::warn!(value = %text, "{VERSIONS_ENV} is not MIN-MAX; ignored");
                    build
                }),
                Err(_) => build,
            }
        })
    }

    /// `MIN-MAX` (1 <= MIN <= MAX <= 255).
    fn parse(text: &str) -> Option<VersionRange> {
        let (min, max) = text.trim().split_once('-')?;
        let range = VersionRange {
            min: min.parse().ok()?,
            max: max.parse().ok()?,
        };
        (range.min >= 1 && range.min <= range.max).then_some(range)
    }

    /// The range a HELLO header announces (`kind` = max, `request_id` = min; zero = legacy).
    fn from_hello(kind: u8, request_id: u64) -> VersionRange {
        match (kind, u8::try_from(request_id)) {
            (0, _) => VersionRange::LEGACY,
            (max, Ok(min)) if min >= 1 && min <= max => VersionRange { min, max },
            // Malformed: a range nothing overlaps, so the server refuses and says why.
            (max, _) => VersionRange { min: max, max: 0 },
        }
    }

    fn contains(self, version: u8) -> bool {
        (self.min..=self.max).contains(&version)
    }

    /// The highest version both ranges hold.
    pub fn highest_common(self, other: VersionRange) -> Option<u8> {
        let (low, high) = (self.min.max(other.min), self.max.min(other.max));
        (low <= high).then_some(high)
    }
}

impl std::fmt::Display for VersionRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "version {}", self.min)
        } else {
            write!(f, "versions {} to {}", self.min, self.max)
        }
    }
}

/// The reason a server gives for a wrong secret; deliberately says nothing more.
pub(crate) const AUTHENTICATION_FAILED: &str = "authentication failed";

type HmacSha256 = Hmac<Sha256>;

/// Which side a MAC proves; the first byte MACed.
#[derive(Clone, Copy)]
enum Role {
    Client = 1,
    Server = 2,
}

/// Everything both MACs cover.
struct Transcript<'a> {
    /// The negotiated protocol version.
    version: u8,
    cluster_name: &'a [u8],
    client_id: u64,
    target_id: u64,
    client_nonce: [u8; NONCE_BYTES],
    server_id: u64,
    server_nonce: [u8; NONCE_BYTES],
}

impl Transcript<'_> {
    // MAC input (see docs/formats.md):
    // role u8 | "TNDMPEER" | negotiated version u8 | name_len u8 | name | client_id u64 | target_id u64
    //   | client_nonce [32] | server_id u64 | server_nonce [32]
    fn mac(&self, secret: &[u8], role: Role) -> HmacSha256 {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(&[role as u8]);
        mac.update(MAGIC);
        mac.update(&[self.version, self.cluster_name.len() as u8]);
        mac.update(self.cluster_name);
        mac.update(&self.client_id.to_le_bytes());
        mac.update(&self.target_id.to_le_bytes());
        mac.update(&self.client_nonce);
        mac.update(&self.server_id.to_le_bytes());
        mac.update(&self.server_nonce);
        mac
    }

    fn sign(&self, secret: &[u8], role: Role) -> [u8; MAC_BYTES] {
        self.mac(secret, role).finalize().into_bytes().into()
    }

    /// Constant-time comparison of `received` with the expected MAC.
    fn verify(&self, secret: &[u8], role: Role, received: &[u8]) -> bool {
        self.mac(secret, role).verify_slice(received).is_ok()
    }
}

fn nonce() -> [u8; NONCE_BYTES] {
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

// HELLO body:
// offset  size  field
// 0       8     magic "TNDMPEER"
// 8       8     client node id u64
// 16      8     target node id u64 (the id the client expects the server to have)
// 24      32    client nonce
// 56      1     cluster name length N (at most 255)
// 57      N     cluster name, UTF-8
struct Hello {
    client_id: u64,
    target_id: u64,
    client_nonce: [u8; NONCE_BYTES],
    cluster_name: Bytes,
}

impl Hello {
    fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(57 + self.cluster_name.len());
        out.put_slice(MAGIC);
        out.put_u64_le(self.client_id);
        out.put_u64_le(self.target_id);
        out.put_slice(&self.client_nonce);
        out.put_u8(self.cluster_name.len() as u8);
        out.put_slice(&self.cluster_name);
        out.freeze()
    }

    fn decode(body: &Bytes) -> Option<Hello> {
        if body.len() < 57 || &body[0..8] != MAGIC {
            return None;
        }
        let name_len = body[56] as usize;
        if body.len() != 57 + name_len {
            return None;
        }
        Some(Hello {
            client_id: u64_at(body, 8),
            target_id: u64_at(body, 16),
            client_nonce: body[24..56].try_into().ok()?,
            cluster_name: body.slice(57..),
        })
    }
}

// CHALLENGE body:
// offset  size  field
// 0       8     server node id u64
// 8       32    server nonce
fn encode_challenge(server_id: u64, server_nonce: &[u8; NONCE_BYTES]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + NONCE_BYTES);
    out.put_u64_le(server_id);
    out.put_slice(server_nonce);
    out.freeze()
}

fn decode_challenge(body: &[u8]) -> Option<(u64, [u8; NONCE_BYTES])> {
    if body.len() != 8 + NONCE_BYTES {
        return None;
    }
    Some((u64_at(body, 0), body[8..].try_into().ok()?))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

/// A REJECT frame; the reason is cut to `REJECT_REASON_BYTES_MAX` on a character boundary.
fn reject_frame(reason: &str) -> Frame {
    let mut end = reason.len().min(REJECT_REASON_BYTES_MAX);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Frame::handshake(
        FrameType::Reject,
        Bytes::copy_from_slice(&reason.as_bytes()[..end]),
    )
}

fn reject_reason(frame: &Frame) -> String {
    String::from_utf8_lossy(&frame.body).into_owned()
}

/// Why the server side of a handshake did not admit a client.
#[derive(Debug)]
pub(crate) enum AcceptError {
    /// The stream ended, failed or did not carry frames.
    Frame(FrameError),
    /// The client was sent a REJECT frame; `detail` is for the server's log and may say more
    /// than the client was told.
    Refused { detail: String },
}

impl From<FrameError> for AcceptError {
    fn from(error: FrameError) -> Self {
        AcceptError::Frame(error)
    }
}

/// Runs the server side on `stream`; returns the client's node id once it proved it knows the
/// secret. `identity` vets the id the client claims (with TLS: its certificate must name it)
/// before anything else is sent. Bytes read past the handshake stay in `buf`.
pub(crate) async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    config: &PeerConfig,
    identity: &(dyn Fn(u64) -> Result<(), String> + Send + Sync),
) -> Result<u64, AcceptError> {
    let hello = frame::read_frame(stream, buf, HANDSHAKE_BODY_BYTES_MAX).await?;
    let theirs = VersionRange::from_hello(hello.kind, hello.request_id);
    if hello.version != PROTOCOL_VERSION {
        let told = format!(
            "protocol version mismatch: this node speaks version {PROTOCOL_VERSION}, the peer version {}",
            hello.version
        );
        return refuse(stream, told.clone(), told).await;
    }
    let Some(hello) = (hello.frame_type == FrameType::Hello)
        .then(|| Hello::decode(&hello.body))
        .flatten()
    else {
        let told = "not a Tandem peer handshake".to_string();
        return refuse(stream, told.clone(), told).await;
    };
    let ours = VersionRange::ours();
    let Some(version) = ours.highest_common(theirs) else {
        let told = format!(
            "no common peer protocol version: node {} speaks {ours}, node {} speaks {theirs}; run releases that share a protocol version",
            config.node_id, hello.client_id
        );
        return refuse(stream, told.clone(), told).await;
    };
    if hello.cluster_name != config.cluster_name.as_bytes() {
        let told = format!(
            "cluster name mismatch: this node is in cluster {:?}, the peer in {:?}",
            config.cluster_name,
            String::from_utf8_lossy(&hello.cluster_name)
        );
        return refuse(stream, told.clone(), told).await;
    }
    if let Err(reason) = identity(hello.client_id) {
        let told = format!(
            "identity mismatch: the peer claims node {} but {reason}",
            hello.client_id
        );
        return refuse(stream, told.clone(), told).await;
    }
    if hello.target_id != config.node_id {
        let told = format!(
            "node id mismatch: this is node {}, the peer expected node {}",
            config.node_id, hello.target_id
        );
        return refuse(stream, told.clone(), told).await;
    }

    let transcript = Transcript {
        version,
        cluster_name: config.cluster_name.as_bytes(),
        client_id: hello.client_id,
        target_id: hello.target_id,
        client_nonce: hello.client_nonce,
        server_id: config.node_id,
        server_nonce: nonce(),
    };
    let challenge = encode_challenge(config.node_id, &transcript.server_nonce);
    let challenge = Frame::new(FrameType::Challenge, version, 0, challenge);
    frame::write_frame(stream, &challenge).await?;

    let proof = frame::read_frame(stream, buf, HANDSHAKE_BODY_BYTES_MAX).await?;
    let proven = proof.version == PROTOCOL_VERSION
        && proof.frame_type == FrameType::Proof
        && transcript.verify(&config.cluster_secret, Role::Client, &proof.body);
    if !proven {
        let detail = format!(
            "authentication failed (wrong cluster secret?) for a peer claiming node {}",
            hello.client_id
        );
        return refuse(stream, AUTHENTICATION_FAILED.to_string(), detail).await;
    }
    let welcome = transcript.sign(&config.cluster_secret, Role::Server);
    let welcome = Frame::handshake(FrameType::Welcome, Bytes::copy_from_slice(&welcome));
    frame::write_frame(stream, &welcome).await?;
    tracing::info!(
        peer = hello.client_id,
        "peer node {} connected: peer protocol version {version} (this node speaks {ours}, the peer {theirs})",
        hello.client_id
    );
    Ok(hello.client_id)
}

async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    told: String,
    detail: String,
) -> Result<u64, AcceptError> {
    // Best effort: the peer may already be gone, and it is refused either way.
    let _ = frame::write_frame(stream, &reject_frame(&told)).await;
    Err(AcceptError::Refused { detail })
}

/// Why the client side of a handshake failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The connection failed or closed.
    Frame(FrameError),
    /// The server refused us, or failed to prove itself.
    Rejected(String),
    /// The server sent something that is not the handshake.
    Protocol(String),
}

impl From<FrameError> for ConnectError {
    fn from(error: FrameError) -> Self {
        if error.is_protocol() {
            ConnectError::Protocol(error.to_string())
        } else {
            ConnectError::Frame(error)
        }
    }
}

/// Runs the client side on `stream` towards node `target_id`. Bytes read past the handshake
/// stay in `buf`.
pub(crate) async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    config: &PeerConfig,
    target_id: u64,
) -> Result<(), ConnectError> {
    let hello = Hello {
        client_id: config.node_id,
        target_id,
        client_nonce: nonce(),
        cluster_name: Bytes::copy_from_slice(config.cluster_name.as_bytes()),
    };
    let ours = VersionRange::ours();
    let hello_frame = Frame::new(
        FrameType::Hello,
        ours.max,
        u64::from(ours.min),
        hello.encode(),
    );
    frame::write_frame(stream, &hello_frame).await?;

    let challenge = expect(stream, buf, FrameType::Challenge).await?;
    // A server that does not negotiate leaves `kind` zero: it speaks version 1 only.
    let version = match challenge.kind {
        0 => 1,
        chosen => chosen,
    };
    if !ours.contains(version) {
        let reason = format!(
            "no common peer protocol version: node {target_id} chose version {version}, node {} speaks {ours}; run releases that share a protocol version",
            config.node_id
        );
        let _ = frame::write_frame(stream, &reject_frame(&reason)).await;
        return Err(ConnectError::Rejected(reason));
    }
    let Some((server_id, server_nonce)) = decode_challenge(&challenge.body) else {
        return Err(ConnectError::Protocol("malformed CHALLENGE".to_string()));
    };
    if server_id != target_id {
        let reason = format!("the address is node {server_id}, not node {target_id}");
        let _ = frame::write_frame(stream, &reject_frame(&reason)).await;
        return Err(ConnectError::Rejected(reason));
    }
    let transcript = Transcript {
        version,
        cluster_name: config.cluster_name.as_bytes(),
        client_id: config.node_id,
        target_id,
        client_nonce: hello.client_nonce,
        server_id,
        server_nonce,
    };
    let proof = transcript.sign(&config.cluster_secret, Role::Client);
    let proof = Frame::handshake(FrameType::Proof, Bytes::copy_from_slice(&proof));
    frame::write_frame(stream, &proof).await?;

    let welcome = expect(stream, buf, FrameType::Welcome).await?;
    if !transcript.verify(&config.cluster_secret, Role::Server, &welcome.body) {
        return Err(ConnectError::Rejected(
            "the server failed to prove it knows the cluster secret (wrong secret?)".to_string(),
        ));
    }
    tracing::info!(
        peer = target_id,
        "connected to peer node {target_id}: peer protocol version {version} (this node speaks {ours})"
    );
    Ok(())
}

/// Reads the next handshake frame, turning a REJECT into `Rejected` with the server's reason.
async fn expect<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    wanted: FrameType,
) -> Result<Frame, ConnectError> {
    let frame = frame::read_frame(stream, buf, HANDSHAKE_BODY_BYTES_MAX).await?;
    if frame.frame_type == FrameType::Reject {
        return Err(ConnectError::Rejected(reject_reason(&frame)));
    }
    if frame.version != PROTOCOL_VERSION {
        return Err(ConnectError::Rejected(format!(
            "protocol version mismatch: this node speaks version {PROTOCOL_VERSION}, the server version {}",
            frame.version
        )));
    }
    if frame.frame_type != wanted {
        return Err(ConnectError::Protocol(format!(
            "expected {wanted:?} in the handshake, got {:?}",
            frame.frame_type
        )));
    }
    Ok(frame)
}

#[cfg(test)]
mod version_tests {
    use super::VersionRange;

    fn range(min: u8, max: u8) -> VersionRange {
        VersionRange { min, max }
    }

    #[test]
    fn the_highest_common_version_wins() {
        assert_eq!(range(1, 3).highest_common(range(2, 5)), Some(3));
        assert_eq!(range(1, 1).highest_common(range(1, 2)), Some(1));
        assert_eq!(range(2, 3).highest_common(range(1, 1)), None);
        assert_eq!(VersionRange::parse("2-3"), Some(range(2, 3)));
        assert_eq!(VersionRange::parse("3-2"), None);
        assert_eq!(VersionRange::parse("0-2"), None);
        // A HELLO without a range comes from a build that speaks version 1 only.
        assert_eq!(VersionRange::from_hello(0, 0), range(1, 1));
        assert_eq!(VersionRange::from_hello(4, 2), range(2, 4));
        assert_eq!(
            VersionRange::from_hello(2, 300).highest_common(range(1, 255)),
            None
        );
    }
}
