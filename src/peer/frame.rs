//! Frames: the unit of the peer protocol, and the reading and writing loops both sides share.
//!
//! A frame is a fixed 16-byte header and a body of at most `body_bytes_max` bytes. The decoder
//! checks the claimed length against that limit before it reserves anything, and grows its
//! buffer only as bytes arrive, so a hostile length costs nothing. The layout is drawn in
//! `docs/formats.md` ("Peer transport").

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// The version this build speaks; carried in every frame header.
pub(crate) const PROTOCOL_VERSION: u8 = 1;

/// Bytes in a frame header.
pub(crate) const HEADER_BYTES: usize = 16;

/// How much the decoder asks the socket for at a time; the read buffer grows by at most this
/// much beyond the bytes already received.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The writer gathers queued frames into one write until the batch reaches this size.
const WRITE_BATCH_BYTES_MAX: usize = 64 * 1024;

/// Bodies at least this big are written straight from their buffer instead of being copied
/// into the batch.
const BODY_COPY_BYTES_MAX: usize = 16 * 1024;

/// What a frame is. The byte values are part of the protocol. The first six header bytes, the
/// `Hello` type and the `Reject` frame keep their meaning in every version, so two versions can
/// always tell each other why they disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameType {
    /// Client → server: magic, node ids, client nonce, cluster name.
    Hello = 1,
    /// Server → client: server node id, server nonce.
    Challenge = 2,
    /// Client → server: the client's MAC over the handshake transcript.
    Proof = 3,
    /// Server → client: the server's MAC; the connection is now open for requests.
    Welcome = 4,
    /// Either way, during the handshake: a UTF-8 reason, then the sender closes.
    Reject = 5,
    /// Client → server: one call; `kind` and the body are the caller's.
    Request = 16,
    /// Server → client: the handler's reply to the request with the same id.
    Response = 17,
    /// Server → client: the handler's error (UTF-8) for the request with the same id.
    Failure = 18,
}

impl FrameType {
    fn from_byte(byte: u8) -> Option<FrameType> {
        Some(match byte {
            1 => FrameType::Hello,
            2 => FrameType::Challenge,
            3 => FrameType::Proof,
            4 => FrameType::Welcome,
            5 => FrameType::Reject,
            16 => FrameType::Request,
            17 => FrameType::Response,
            18 => FrameType::Failure,
            _ => return None,
        })
    }
}

/// One frame, decoded. `version` is kept as received so the handshake can answer a peer that
/// speaks another version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub version: u8,
    pub frame_type: FrameType,
    pub kind: u8,
    pub request_id: u64,
    pub body: Bytes,
}

impl Frame {
    /// A frame of this build's version.
    pub fn new(frame_type: FrameType, kind: u8, request_id: u64, body: Bytes) -> Frame {
        Frame {
            version: PROTOCOL_VERSION,
            frame_type,
            kind,
            request_id,
            body,
        }
    }

    /// A handshake frame (no kind, no request id).
    pub fn handshake(frame_type: FrameType, body: Bytes) -> Frame {
        Frame::new(frame_type, 0, 0, body)
    }
}

/// Why a byte stream is not a sequence of frames.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame body of {body_bytes} bytes is over the limit of {body_bytes_max} bytes")]
    TooLarge {
        body_bytes: u64,
        body_bytes_max: usize,
    },
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    #[error("reserved header byte is {0}, not zero")]
    Reserved(u8),
    #[error("unexpected {frame_type:?} frame (version {version})")]
    Unexpected { version: u8, frame_type: FrameType },
}

impl FrameError {
    /// True when the stream carried something that is not our protocol (as opposed to the
    /// connection going away).
    pub fn is_protocol(&self) -> bool {
        matches!(
            self,
            FrameError::TooLarge { .. }
                | FrameError::UnknownType(_)
                | FrameError::Reserved(_)
                | FrameError::Unexpected { .. }
        )
    }
}

// Frame header (16 bytes, little-endian):
//
// offset  size  field
// 0       4     body_len    u32, bytes of body after the header
// 4       1     version     u8 = PROTOCOL_VERSION
// 5       1     frame_type  u8 (FrameType)
// 6       1     kind        u8, Request only (the caller's); zero otherwise
// 7       1     reserved    zero
// 8       8     request_id  u64, Request/Response/Failure; zero in handshake frames
// 16      n     body

/// Appends `frame`'s header to `out` (the body is written separately by the caller).
pub(crate) fn encode_header(frame: &Frame, out: &mut BytesMut) {
    debug_assert!(frame.body.len() <= u32::MAX as usize);
    out.put_u32_le(frame.body.len() as u32);
    out.put_u8(frame.version);
    out.put_u8(frame.frame_type as u8);
    out.put_u8(frame.kind);
    out.put_u8(0);
    out.put_u64_le(frame.request_id);
}

/// Appends a whole frame (header and body) to `out`.
pub(crate) fn encode(frame: &Frame, out: &mut BytesMut) {
    out.reserve(HEADER_BYTES + frame.body.len());
    encode_header(frame, out);
    out.put_slice(&frame.body);
}

/// Takes one frame off the front of `buf` if a whole one is there.
///
/// `Ok(None)` means "need more bytes"; in that case the return value of [`bytes_wanted`]
/// says how many at least. The length is checked before anything else, so a frame over
/// `body_bytes_max` is refused from its header alone.
pub(crate) fn decode(
    buf: &mut BytesMut,
    body_bytes_max: usize,
) -> Result<Option<Frame>, FrameError> {
    if buf.len() < HEADER_BYTES {
        return Ok(None);
    }
    let body_bytes = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if body_bytes > body_bytes_max {
        return Err(FrameError::TooLarge {
            body_bytes: body_bytes as u64,
            body_bytes_max,
        });
    }
    let frame_type = FrameType::from_byte(buf[5]).ok_or(FrameError::UnknownType(buf[5]))?;
    // Another version may use the rest of the header differently; the handshake answers it.
    if buf[4] == PROTOCOL_VERSION && buf[7] != 0 {
        return Err(FrameError::Reserved(buf[7]));
    }
    if buf.len() < HEADER_BYTES + body_bytes {
        return Ok(None);
    }
    let version = buf[4];
    let kind = buf[6];
    let mut header = buf.split_to(HEADER_BYTES);
    header.advance(8);
    let request_id = header.get_u64_le();
    let body = buf.split_to(body_bytes).freeze();
    Ok(Some(Frame {
        version,
        frame_type,
        kind,
        request_id,
        body,
    }))
}

/// How many more bytes `buf` needs before [`decode`] can return a frame (at least one).
fn bytes_wanted(buf: &BytesMut) -> usize {
    if buf.len() < HEADER_BYTES {
        return HEADER_BYTES - buf.len();
    }
    let body_bytes = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    (HEADER_BYTES + body_bytes).saturating_sub(buf.len()).max(1)
}

/// Reads the next frame from `reader`, keeping any bytes past it in `buf`.
///
/// Returns `FrameError::Closed` on a clean end of stream between frames. The buffer grows by at
/// most `READ_CHUNK_BYTES` per read, never by what a header claims.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    body_bytes_max: usize,
) -> Result<Frame, FrameError> {
    loop {
        if let Some(frame) = decode(buf, body_bytes_max)? {
            return Ok(frame);
        }
        buf.reserve(bytes_wanted(buf).min(READ_CHUNK_BYTES));
        if reader.read_buf(buf).await? == 0 {
            return Err(if buf.is_empty() {
                FrameError::Closed
            } else {
                FrameError::Truncated
            });
        }
    }
}

/// Writes one frame and flushes it (handshake messages, which go one at a time).
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> Result<(), FrameError> {
    let mut out = BytesMut::new();
    encode(frame, &mut out);
    writer.write_all(&out).await?;
    writer.flush().await?;
    Ok(())
}

/// Drains `outgoing` onto `writer` until the channel closes or a write fails.
///
/// Whatever is queued when the writer wakes goes out together: small frames are copied into
/// one batch of up to `WRITE_BATCH_BYTES_MAX` bytes and written with one call, so many small
/// replies cost one system call; large bodies are written from their own buffers.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &mut W,
    outgoing: &mut mpsc::Receiver<Frame>,
) -> std::io::Result<()> {
    let mut batch = BytesMut::with_capacity(WRITE_BATCH_BYTES_MAX);
    while let Some(first) = outgoing.recv().await {
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if frame.body.len() < BODY_COPY_BYTES_MAX {
                encode(&frame, &mut batch);
            } else {
                encode_header(&frame, &mut batch);
                writer.write_all(&batch).await?;
                batch.clear();
                writer.write_all(&frame.body).await?;
            }
            if batch.len() < WRITE_BATCH_BYTES_MAX {
                next = outgoing.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            writer.write_all(&batch).await?;
            batch.clear();
        }
        writer.flush().await?;
    }
    Ok(())
}
