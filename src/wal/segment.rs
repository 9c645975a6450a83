//! Segment files: naming, the 40-byte segment header, and scanning a segment's bytes.
//!
//! Owns the on-disk shape of one segment. Invariant: a segment holds records with consecutive
//! indexes starting at the header's `first_index`, followed only by zeroes; `decode_segment`
//! reports the first offset where that stops holding and never panics on any input.

use super::record::{decode_record, Record, RecordProblem, RECORD_ALIGN_BYTES};

/// Bytes of the segment header; the first record starts right after it.
pub const SEGMENT_HEADER_BYTES: usize = 40;
/// Identifies a Tandem WAL segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TNDMWAL\0";
/// Bumped on any incompatible change of the segment or record layout.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Header flag: this segment starts a new log; every segment with a lower sequence number is
/// obsolete (left behind by a truncate or purge of everything that was interrupted).
pub const SEGMENT_FLAG_RESET: u32 = 1;

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".wal";

/// File name of the segment with sequence number `seq`.
pub fn segment_file_name(seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{seq:020}{SEGMENT_SUFFIX}")
}

/// Sequence number encoded in a segment file name, if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub flags: u32,
    pub seq: u64,
    /// Index of the first record this segment holds (or will hold, while it is empty).
    pub first_index: u64,
}

// Segment header layout (little-endian), at offset 0 of every segment file:
//
//   offset  size  field
//   0       8     magic          "TNDMWAL\0"
//   8       4     version        u32 = 1
//   12      4     flags          u32, bit 0 = RESET (older segments are obsolete)
//   16      8     seq            u64, segment sequence number (also in the file name)
//   24      8     first_index    u64, index of the first record in this segment
//   32      4     header_crc     u32, CRC32C of bytes 0..32
//   36      4     reserved       zero
//   40            first record

impl SegmentHeader {
    /// The 40 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.seq.to_le_bytes());
        out[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..32]);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the header at the start of `bytes` (layout above); never panics.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        let Some(h) = bytes.get(..SEGMENT_HEADER_BYTES) else {
            return Err(format!("file is only {} bytes long", bytes.len()));
        };
        if h[0..8] != SEGMENT_MAGIC {
            return Err("bad magic".to_string());
        }
        let le32 =
            |r: std::ops::Range<usize>| u32::from_le_bytes(h[r].try_into().unwrap_or_default());
        let le64 =
            |r: std::ops::Range<usize>| u64::from_le_bytes(h[r].try_into().unwrap_or_default());
        let stored = le32(32..36);
        let computed = crc32c::crc32c(&h[0..32]);
        if stored != computed {
            return Err(format!(
                "header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ));
        }
        let version = le32(8..12);
        if version != SEGMENT_FORMAT_VERSION {
            return Err(format!(
                "segment format version {version} is newer or older than this build reads (version {SEGMENT_FORMAT_VERSION}); run the Tandem release that wrote it"
            ));
        }
        Ok(SegmentHeader {
            flags: le32(12..16),
            seq: le64(16..24),
            first_index: le64(24..32),
        })
    }

    pub fn is_reset(&self) -> bool {
        self.flags & SEGMENT_FLAG_RESET != 0
    }
}

/// Why a scan of a segment stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The bytes at the stop offset are not a record.
    Invalid(RecordProblem),
    /// A record with a valid checksum carries the wrong index.
    IndexMismatch { expected: u64, actual: u64 },
}

/// Result of scanning one segment's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentScan {
    pub header: SegmentHeader,
    /// Valid records with consecutive indexes from `header.first_index`, and their offsets.
    pub records: Vec<(u64, Record)>,
    /// Offset just past the last valid record (where the next record would go).
    pub end_offset: u64,
    pub stop: StopReason,
    /// One past the last non-zero byte at or after `end_offset` (== `end_offset` if only
    /// zeroes follow): the extent of whatever lies beyond the valid records.
    pub dirty_end_offset: u64,
    /// The first offset after `end_offset` holding a record with a valid checksum, if any:
    /// evidence that the stop is damage in the middle rather than a torn tail.
    pub later_valid_offset: Option<u64>,
}

impl SegmentScan {
    /// True if only zeroes follow the valid records.
    pub fn ends_clean(&self) -> bool {
        self.dirty_end_offset == self.end_offset
    }
}

/// Scans a whole segment file image. This is the fuzzing entry point: any byte string gives
/// `Ok` or `Err(reason the header is bad)`, never a panic or an out-of-bounds read.
pub fn decode_segment(bytes: &[u8]) -> Result<SegmentScan, String> {
    let header = SegmentHeader::decode(bytes)?;
    let mut records = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    let mut expected = header.first_index;
    let stop = loop {
        match decode_record(bytes, offset) {
            Ok(decoded) if decoded.record.index == expected => {
                records.push((offset as u64, decoded.record));
                offset = decoded.next_offset;
                expected = expected.wrapping_add(1);
            }
            Ok(decoded) => {
                break StopReason::IndexMismatch {
                    expected,
                    actual: decoded.record.index,
                }
            }
            Err(problem) => break StopReason::Invalid(problem),
        }
    };
    let dirty_end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
        .max(offset);
    let later_valid = find_valid_record(bytes, offset + RECORD_ALIGN_BYTES, dirty_end);
    Ok(SegmentScan {
        header,
        records,
        end_offset: offset as u64,
        stop,
        dirty_end_offset: dirty_end as u64,
        later_valid_offset: later_valid.map(|o| o as u64),
    })
}

/// First 8-aligned offset in `from..until` where a checksum-valid record starts.
fn find_valid_record(bytes: &[u8], from: usize, until: usize) -> Option<usize> {
    let mut offset = from;
    while offset < until {
        // Skip all-zero headers cheaply; only a non-zero header can be a record.
        match decode_record(bytes, offset) {
            Ok(_) => return Some(offset),
            Err(RecordProblem::ShortHeader) => return None,
            Err(_) => offset += RECORD_ALIGN_BYTES,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::record::encode_record;
    use super::*;
    use bytes::Bytes;
    use rand::{Rng, SeedableRng};

    fn segment_with(records: u64, payload_bytes: usize, size: usize) -> Vec<u8> {
        let mut out = SegmentHeader {
            flags: 0,
            seq: 3,
            first_index: 10,
        }
        .encode()
        .to_vec();
        for i in 0..records {
            let record = Record {
                index: 10 + i,
                term: 1,
                kind: 0,
                payload: Bytes::from(vec![i as u8 + 1; payload_bytes]),
            };
            encode_record(&record, &mut out);
        }
        out.resize(size, 0);
        out
    }

    #[test]
    fn file_names_round_trip() {
        assert_eq!(parse_segment_file_name(&segment_file_name(17)), Some(17));
        assert_eq!(parse_segment_file_name("segment-17.wal"), None);
        assert_eq!(parse_segment_file_name("next.spare"), None);
    }

    #[test]
    fn clean_segment_scans_to_its_end() {
        let bytes = segment_with(5, 13, 4096);
        let scan = decode_segment(&bytes).expect("header ok");
        assert_eq!(scan.records.len(), 5);
        assert_eq!(scan.records[4].1.index, 14);
        assert!(scan.ends_clean());
        assert_eq!(scan.stop, StopReason::Invalid(RecordProblem::ZeroHeader));
        assert_eq!(scan.later_valid_offset, None);
    }

    #[test]
    fn damage_before_a_valid_record_is_visible() {
        let mut bytes = segment_with(5, 13, 4096);
        let second = SEGMENT_HEADER_BYTES + 48;
        bytes[second + 40] ^= 1;
        let scan = decode_segment(&bytes).expect("header ok");
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.end_offset, second as u64);
        assert!(matches!(
            scan.stop,
            StopReason::Invalid(RecordProblem::ChecksumMismatch { .. })
        ));
        assert_eq!(scan.later_valid_offset, Some(second as u64 + 48));
    }

    /// Fuzz-style: random and mutated segment images never panic the decoder.
    #[test]
    fn decode_segment_never_panics_on_random_or_mutated_input() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a4d_e111);
        let base = segment_with(20, 37, 2048);
        for round in 0..4000 {
            let bytes = match round % 4 {
                0 => {
                    let len = rng.gen_range(0..600);
                    (0..len).map(|_| rng.gen()).collect::<Vec<u8>>()
                }
                1 => {
                    let mut b = base.clone();
                    for _ in 0..rng.gen_range(1..8) {
                        let at = rng.gen_range(0..b.len());
                        b[at] = rng.gen();
                    }
                    b
                }
                2 => {
                    let cut = rng.gen_range(0..base.len());
                    base[..cut].to_vec()
                }
                _ => {
                    // Valid header, hostile lengths: claim huge payloads mid-segment.
                    let mut b = base.clone();
                    let at = SEGMENT_HEADER_BYTES + 8 * rng.gen_range(0..100);
                    let len: u32 = rng.gen();
                    b[at..at + 4].copy_from_slice(&len.to_le_bytes());
                    b
                }
            };
            if let Ok(scan) = decode_segment(&bytes) {
                assert!(scan.end_offset as usize <= bytes.len().max(SEGMENT_HEADER_BYTES));
                assert!(scan.dirty_end_offset >= scan.end_offset);
                for pair in scan.records.windows(2) {
                    assert_eq!(pair[0].1.index + 1, pair[1].1.index);
                }
            }
        }
    }
}
