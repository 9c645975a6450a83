//! One log record on disk: a fixed 32-byte little-endian header, the payload, zero padding.
//!
//! Owns the record encoding and its checksum. Invariant: every record starts and ends on an
//! 8-byte boundary, and an all-zero header is never a valid record (its CRC field would be 0,
//! while the CRC32C of a zero header is not), so zeroes mark the end of written data.

use bytes::Bytes;

/// Bytes of the fixed record header.
pub const RECORD_HEADER_BYTES: usize = 32;
/// Records start and end on multiples of this.
pub const RECORD_ALIGN_BYTES: usize = 8;

/// One entry of the log, as the raft layer hands it over and gets it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub index: u64,
    pub term: u64,
    pub kind: u8,
    pub payload: Bytes,
}

/// Bytes a record with `payload_bytes` of payload occupies on disk, padding included.
pub fn record_bytes(payload_bytes: usize) -> usize {
    align_up(RECORD_HEADER_BYTES + payload_bytes)
}

fn align_up(bytes: usize) -> usize {
    bytes.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

// Record layout (all integers little-endian):
//
//   offset  size  field
//   0       4     payload_len   u32, bytes of payload (padding not included)
//   4       4     crc           u32, CRC32C of bytes 0..4, then 8..32, then the payload
//   8       8     term          u64
//   16      8     index         u64
//   24      1     kind          u8 (meaning owned by the raft layer)
//   25      7     reserved      zero
//   32      n     payload
//   32+n    p     padding       zero, p = (8 - (32+n) % 8) % 8
//
// The CRC covers everything but itself, so a flipped length is caught too.

/// Appends the encoding of `record` to `out`.
pub fn encode_record(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    let mut header = [0u8; RECORD_HEADER_BYTES];
    header[0..4].copy_from_slice(&(record.payload.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&record.term.to_le_bytes());
    header[16..24].copy_from_slice(&record.index.to_le_bytes());
    header[24] = record.kind;
    let crc = record_crc(&header, &record.payload);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&record.payload);
    out.resize(start + record_bytes(record.payload.len()), 0);
}

fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..RECORD_HEADER_BYTES]);
    crc32c::crc32c_append(crc, payload)
}

/// Why bytes at an offset are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordProblem {
    /// The 32 header bytes are all zero: the end of written data (or a zeroed region).
    ZeroHeader,
    /// Fewer than 32 bytes remain before the end of the segment.
    ShortHeader,
    /// The length field points past the end of the segment.
    LengthOutOfBounds { payload_len: u64 },
    /// The stored CRC does not match the bytes.
    ChecksumMismatch { expected: u32, actual: u32 },
}

/// A decoded record and where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    pub record: Record,
    pub next_offset: usize,
}

// Decoding reads the same layout as `encode_record` above:
//   [0..4) payload_len | [4..8) crc | [8..16) term | [16..24) index | [24] kind |
//   [25..32) reserved | [32..32+payload_len) payload | zero padding to 8.
// Every slice is bounds-checked against `bytes.len()` before it is taken.

/// Decodes the record at `offset` of `bytes`; never panics and never reads out of bounds.
pub fn decode_record(bytes: &[u8], offset: usize) -> Result<DecodedRecord, RecordProblem> {
    let rest = bytes.get(offset..).unwrap_or(&[]);
    if rest.len() < RECORD_HEADER_BYTES {
        return Err(RecordProblem::ShortHeader);
    }
    let header = &rest[..RECORD_HEADER_BYTES];
    if header.iter().all(|&b| b == 0) {
        return Err(RecordProblem::ZeroHeader);
    }
    let payload_len = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default()) as usize;
    let total = record_bytes(payload_len);
    if total > rest.len() {
        return Err(RecordProblem::LengthOutOfBounds {
            payload_len: payload_len as u64,
        });
    }
    let payload = &rest[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + payload_len];
    let expected = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
    let actual = record_crc(header, payload);
    if expected != actual {
        return Err(RecordProblem::ChecksumMismatch { expected, actual });
    }
    let term = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
    let index = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
    Ok(DecodedRecord {
        record: Record {
            index,
            term,
            kind: header[24],
            payload: Bytes::copy_from_slice(payload),
        },
        next_offset: offset + total,
    })
}

/// The index of the record at `offset` and the offset just past it, read from the header
/// alone (no checksum): for skipping ahead to a record, which is then decoded in full. `None`
/// where no record header can be (zeroes, too few bytes, a length past the end).
pub(crate) fn skip_record(bytes: &[u8], offset: usize) -> Option<(u64, usize)> {
    let header = bytes.get(offset..offset.checked_add(RECORD_HEADER_BYTES)?)?;
    if header.iter().all(|&b| b == 0) {
        return None;
    }
    let payload_len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let next = offset.checked_add(record_bytes(payload_len))?;
    if next > bytes.len() {
        return None;
    }
    let index = u64::from_le_bytes(header[16..24].try_into().ok()?);
    Some((index, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_header_is_never_valid() {
        // The end-of-data rule relies on this: a record with all-zero fields still has a
        // non-zero CRC, so its header is never 32 zero bytes.
        let mut out = Vec::new();
        encode_record(
            &Record {
                index: 0,
                term: 0,
                kind: 0,
                payload: Bytes::new(),
            },
            &mut out,
        );
        assert_eq!(out.len(), RECORD_HEADER_BYTES);
        assert!(out.iter().any(|&b| b != 0));
        assert!(decode_record(&out, 0).is_ok());
    }

    #[test]
    fn round_trip_and_flipped_bits_are_caught() {
        let record = Record {
            index: 42,
            term: 7,
            kind: 3,
            payload: Bytes::from_static(b"hello, wal"),
        };
        let mut out = Vec::new();
        encode_record(&record, &mut out);
        assert_eq!(out.len() % RECORD_ALIGN_BYTES, 0);
        let decoded = decode_record(&out, 0).expect("valid record");
        assert_eq!(decoded.record, record);
        assert_eq!(decoded.next_offset, out.len());
        for byte in 0..RECORD_HEADER_BYTES + record.payload.len() {
            let mut bad = out.clone();
            bad[byte] ^= 0x10;
            assert!(decode_record(&bad, 0).is_err(), "flip at {byte} undetected");
        }
    }
}
