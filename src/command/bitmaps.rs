//! Bitmap commands over string values: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//! Bit 0 is the most significant bit of byte 0, and bytes past the end of a string read as 0.
//!
//! Invariants: a bit offset is below 2^32, so a bit write never makes a string longer than
//! STRING_BYTES_MAX (a BITFIELD write may end up to 63 bits past its offset, as in Redis);
//! writes edit the string in place and keep its TTL; a write that changes nothing does not
//! re-version the key (a WATCH is not disturbed by it).
//!
//! Wire forms are in each spec, e.g. `BITCOUNT key [start end [BYTE|BIT]]`.

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use super::strings::{edit_string, grow_zeroed, ArgError};
use super::{
    is_option, parse_i64, parse_i64_strict, string_at, Args, Command, CommandError, CommandSpec,
    Cx, Flags, Group, KeySpec, Reply, STRING_BYTES_MAX,
};
use crate::keyspace::{CompactBytes, Entry, Keyspace, Slot, Value};

const READ_FAST: Flags = Flags::READONLY.union(Flags::FAST);
const READ_MANY: Flags = Flags::READONLY.union(Flags::READS_MANY);
const WRITE_DENYOOM: Flags = Flags::WRITE.union(Flags::DENYOOM);

/// A bit offset as Redis checks it: an integer in 0..2^32 (so its byte is below
/// STRING_BYTES_MAX). With `field_bits`, `#n` means the n-th field of that width (BITFIELD).
fn parse_bit_offset(raw: &[u8], field_bits: Option<u32>) -> Result<u64, CommandError> {
    let invalid = CommandError::BitOffsetOutOfRange;
    let (digits, multiplier) = match (raw.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&raw[1..], i64::from(bits)),
        _ => (raw, 1),
    };
    let offset = parse_i64_strict(digits)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or(invalid.clone())?;
    let offset = u64::try_from(offset).map_err(|_| invalid.clone())?;
    if offset >> 3 >= STRING_BYTES_MAX as u64 {
        return Err(invalid);
    }
    Ok(offset)
}

/// The byte holding bit `offset`, and that bit's mask within it.
fn bit_position(offset: u64) -> (usize, u8) {
    ((offset >> 3) as usize, 0x80 >> (offset & 7))
}

fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let (byte, mask) = bit_position(offset);
    bytes.get(byte).is_some_and(|b| b & mask != 0)
}

// ---- SETBIT / GETBIT ----

/// `SETBIT key offset value`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetBit {
    pub key: Bytes,
    pub offset: u64,
    pub value: bool,
}

impl SetBit {
    pub const SPEC: CommandSpec = CommandSpec::data("setbit", 4, Group::Bitmap, SetBit::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Sets or clears the bit at offset in the string value stored at key",
            &["key", "offset", "value"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let offset = parse_bit_offset(args.at(2), None)?;
        let value = match parse_i64_strict(args.at(3)) {
            Some(0) => false,
            Some(1) => true,
            _ => return Err(CommandError::BitValueOutOfRange),
        };
        Ok(SetBit {
            key: args.key(1),
            offset,
            value,
        }
        .into())
    }

    /// Replies with the bit's previous value. Creates the key (zero-filled up to the bit's
    /// byte) even to clear a bit.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let slot = Slot::new(self.key.clone());
        let (byte, mask) = bit_position(self.offset);
        let Some(current) = string_at(ks, &slot, cx.now_ms)? else {
            let mut created = BytesMut::zeroed(byte + 1);
            if self.value {
                created[byte] |= mask;
            }
            ks.insert(slot, Value::String(CompactBytes::from_edited(created)), 0);
            return Ok(Reply::Integer(0));
        };
        let old = bit_at(current, self.offset);
        if old != self.value || byte >= current.len() {
            edit_string(ks, &slot, cx.now_ms, |buffer| {
                grow_zeroed(buffer, byte + 1);
                if self.value {
                    buffer[byte] |= mask;
                } else {
                    buffer[byte] &= !mask;
                }
                ((), true)
            })?;
        }
        Ok(Reply::Integer(i64::from(old)))
    }
}

/// `GETBIT key offset`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GetBit {
    pub key: Bytes,
    pub offset: u64,
}

impl GetBit {
    pub const SPEC: CommandSpec = CommandSpec::data("getbit", 3, Group::Bitmap, GetBit::parse)
        .flags(READ_FAST)
        .keys(KeySpec::ONE)
        .docs(
            "2.2.0",
            "Returns the bit value at offset in the string value stored at key",
            &["key", "offset"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(GetBit {
            key: args.key(1),
            offset: parse_bit_offset(args.at(2), None)?,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let value = string_at(ks, &Slot::new(self.key.clone()), cx.now_ms)?;
        Ok(Reply::Integer(i64::from(
            value.is_some_and(|v| bit_at(v, self.offset)),
        )))
    }
}

// ---- BITCOUNT / BITPOS ----

/// Whether a range counts bytes (the default) or bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitUnit {
    Byte,
    Bit,
}

fn parse_unit(raw: &[u8]) -> Result<BitUnit, ArgError> {
    if is_option(raw, "byte") {
        Ok(BitUnit::Byte)
    } else if is_option(raw, "bit") {
        Ok(BitUnit::Bit)
    } else {
        Err(ArgError::Syntax)
    }
}

fn late_i64(raw: &[u8]) -> Result<i64, ArgError> {
    parse_i64_strict(raw).ok_or(ArgError::NotInteger)
}

/// How a range whose ends are both negative and reversed resolves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReversedNegatives {
    /// Empty (BITCOUNT).
    Empty,
    /// Clamped like any other range, so it may cover the first unit (BITPOS).
    Clamp,
}

/// Resolves a `start end` pair (negative counts from the end) against a string of
/// `len_bytes` and returns the inclusive bit range it covers, or None when it is empty.
fn resolve_range(
    start: i64,
    end: i64,
    unit: BitUnit,
    len_bytes: usize,
    reversed: ReversedNegatives,
) -> Option<(u64, u64)> {
    let total = match unit {
        BitUnit::Byte => len_bytes as i64,
        BitUnit::Bit => len_bytes as i64 * 8,
    };
    if reversed == ReversedNegatives::Empty && start < 0 && end < 0 && start > end {
        return None;
    }
    let start = if start < 0 { start + total } else { start }.max(0);
    let end = if end < 0 { end + total } else { end }
        .max(0)
        .min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        BitUnit::Byte => (start * 8, end * 8 + 7),
        BitUnit::Bit => (start, end),
    })
}

/// Set bits among bits `first..=last` (both within `bytes`).
fn count_ones(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (first_byte, last_byte) = ((first / 8) as usize, (last / 8) as usize);
    let head_mask = 0xFFu8 >> (first % 8);
    let tail_mask = 0xFFu8 << (7 - last % 8);
    if first_byte == last_byte {
        return u64::from((bytes[first_byte] & head_mask & tail_mask).count_ones());
    }
    u64::from((bytes[first_byte] & head_mask).count_ones())
        + popcount(&bytes[first_byte + 1..last_byte])
        + u64::from((bytes[last_byte] & tail_mask).count_ones())
}

fn popcount(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let rest: u64 = words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    words
        .map(|word| u64::from(u64::from_ne_bytes(word.try_into().expect("8 bytes")).count_ones()))
        .sum::<u64>()
        + rest
}

/// The first bit equal to `target` among bits `first..=last` (both within `bytes`).
fn find_bit(bytes: &[u8], target: bool, first: u64, last: u64) -> Option<u64> {
    let (first_byte, last_byte) = ((first / 8) as usize, (last / 8) as usize);
    // The bits of byte `index` that are in range and equal to `target`, as set bits.
    let hits_in = |index: usize| -> Option<u64> {
        let mut in_range = 0xFFu8;
        if index == first_byte {
            in_range &= 0xFF >> (first % 8);
        }
        if index == last_byte {
            in_range &= 0xFF << (7 - last % 8);
        }
        let byte = bytes[index];
        let hits = if target { byte } else { !byte } & in_range;
        (hits != 0).then(|| index as u64 * 8 + u64::from(hits.leading_zeros()))
    };
    if let Some(found) = hits_in(first_byte) {
        return Some(found);
    }
    if last_byte == first_byte {
        return None;
    }
    let skip = if target { 0x00 } else { 0xFF };
    let middle = &bytes[first_byte + 1..last_byte];
    match middle.iter().position(|&byte| byte != skip) {
        Some(offset) => hits_in(first_byte + 1 + offset),
        None => hits_in(last_byte),
    }
}

/// BITCOUNT's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitRange {
    pub start: i64,
    pub end: i64,
    pub unit: BitUnit,
}

/// `BITCOUNT key [start end [BYTE|BIT]]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitCount {
    pub key: Bytes,
    /// None: the whole string. Errors in the range are reported only for an existing string,
    /// as in Redis (a missing key counts 0 whatever follows).
    pub range: Result<Option<BitRange>, ArgError>,
}

impl BitCount {
    pub const SPEC: CommandSpec = CommandSpec::data("bitcount", -2, Group::Bitmap, BitCount::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.6.0",
            "Count set bits in a string",
            &["key", "[start end [BYTE|BIT]]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BitCount {
            key: args.key(1),
            range: BitCount::parse_range(args),
        }
        .into())
    }

    fn parse_range(args: Args<'_>) -> Result<Option<BitRange>, ArgError> {
        if args.len() == 2 {
            return Ok(None);
        }
        if !(4..=5).contains(&args.len()) {
            return Err(ArgError::Syntax);
        }
        let start = late_i64(args.at(2))?;
        let end = late_i64(args.at(3))?;
        // Redis answers 0 for this empty range before it looks at the unit.
        let empty = start < 0 && end < 0 && start > end;
        let unit = match args.len() {
            5 if !empty => parse_unit(args.at(4))?,
            _ => BitUnit::Byte,
        };
        Ok(Some(BitRange { start, end, unit }))
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(value) = string_at(ks, &Slot::new(self.key.clone()), cx.now_ms)? else {
            return Ok(Reply::Integer(0));
        };
        let range = self.range.map_err(|error| error.into_error("bitcount"))?;
        let count = match range {
            None => popcount(value),
            Some(range) => resolve_range(
                range.start,
                range.end,
                range.unit,
                value.len(),
                ReversedNegatives::Empty,
            )
            .map_or(0, |(first, last)| count_ones(value, first, last)),
        };
        Ok(Reply::Integer(count as i64))
    }
}

/// BITPOS's range: `start [end [BYTE|BIT]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitPosRange {
    pub start: i64,
    /// Without an end, a search for a 0 bit that finds none answers the first bit past the
    /// string (it is zero-padded); with one, it answers -1.
    pub end: Option<i64>,
    pub unit: BitUnit,
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitPos {
    pub key: Bytes,
    pub bit: bool,
    /// None: the whole string. Errors in the range are reported only for an existing string.
    pub range: Result<Option<BitPosRange>, ArgError>,
}

impl BitPos {
    pub const SPEC: CommandSpec = CommandSpec::data("bitpos", -3, Group::Bitmap, BitPos::parse)
        .flags(READ_MANY)
        .keys(KeySpec::ONE)
        .docs(
            "2.8.7",
            "Find first bit set or clear in a string",
            &["key", "bit", "[start [end [BYTE|BIT]]]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let bit = match parse_i64(args.at(2))? {
            0 => false,
            1 => true,
            _ => return Err(CommandError::BitArgument),
        };
        Ok(BitPos {
            key: args.key(1),
            bit,
            range: BitPos::parse_range(args),
        }
        .into())
    }

    /// In Redis's order: start, then the unit, then end.
    fn parse_range(args: Args<'_>) -> Result<Option<BitPosRange>, ArgError> {
        if args.len() == 3 {
            return Ok(None);
        }
        if !(4..=6).contains(&args.len()) {
            return Err(ArgError::Syntax);
        }
        let start = late_i64(args.at(3))?;
        let unit = match args.len() {
            6 => parse_unit(args.at(5))?,
            _ => BitUnit::Byte,
        };
        let end = match args.len() {
            5 | 6 => Some(late_i64(args.at(4))?),
            _ => None,
        };
        Ok(Some(BitPosRange { start, end, unit }))
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        // A missing key is an endless run of 0 bits.
        let Some(value) = string_at(ks, &Slot::new(self.key.clone()), cx.now_ms)? else {
            return Ok(Reply::Integer(if self.bit { -1 } else { 0 }));
        };
        let range = self.range.map_err(|error| error.into_error("bitpos"))?;
        let (start, end, unit) = match range {
            None => (0, -1, BitUnit::Byte),
            Some(range) => (range.start, range.end.unwrap_or(-1), range.unit),
        };
        let end_given = range.is_some_and(|range| range.end.is_some());
        // Without an end the range runs to the end of the string, as "-1" does.
        let resolved = resolve_range(start, end, unit, value.len(), ReversedNegatives::Clamp);
        let Some((first, last)) = resolved else {
            return Ok(Reply::Integer(-1));
        };
        let position = match find_bit(value, self.bit, first, last) {
            Some(found) => found as i64,
            None if !self.bit && !end_given => last as i64 + 1,
            None => -1,
        };
        Ok(Reply::Integer(position))
    }
}

// ---- BITOP ----

/// BITOP's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitOperation {
    And,
    Or,
    Xor,
    Not,
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitOp {
    pub operation: BitOperation,
    pub destination: Bytes,
    /// Exactly one for NOT.
    pub sources: Vec<Bytes>,
}

impl BitOp {
    pub const SPEC: CommandSpec = CommandSpec::data("bitop", -4, Group::Bitmap, BitOp::parse)
        .flags(WRITE_DENYOOM)
        .keys(KeySpec::range(2, -1, 1))
        .docs(
            "2.6.0",
            "Perform bitwise operations between strings",
            &["AND|OR|XOR|NOT", "destkey", "key..."],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let name = args.at(1);
        let operation = [
            ("and", BitOperation::And),
            ("or", BitOperation::Or),
            ("xor", BitOperation::Xor),
            ("not", BitOperation::Not),
        ]
        .into_iter()
        .find(|(option, _)| is_option(name, option))
        .map(|(_, operation)| operation)
        .ok_or(CommandError::Syntax)?;
        let sources = args.from(3).to_vec();
        if operation == BitOperation::Not && sources.len() != 1 {
            return Err(CommandError::BitOpNotArity);
        }
        Ok(BitOp {
            operation,
            destination: args.key(2),
            sources,
        }
        .into())
    }

    /// Missing sources are empty strings and shorter ones are zero-padded to the longest. The
    /// result replaces the destination (TTL cleared), or deletes it when it is empty. Replies
    /// with the result's length.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let sources = self
            .sources
            .iter()
            .map(|key| {
                Ok(string_at(ks, &Slot::new(key.clone()), cx.now_ms)?.map(CompactBytes::to_bytes))
            })
            .collect::<Result<Vec<Option<Bytes>>, CommandError>>()?;
        let len = sources.iter().flatten().map(Bytes::len).max().unwrap_or(0);
        let destination = Slot::new(self.destination.clone());
        if len == 0 {
            ks.remove(&destination);
            return Ok(Reply::Integer(0));
        }
        let source = |index: usize| sources[index].as_deref().unwrap_or(&[]);
        let mut result = vec![0u8; len];
        result[..source(0).len()].copy_from_slice(source(0));
        match self.operation {
            BitOperation::Not => result.iter_mut().for_each(|byte| *byte = !*byte),
            BitOperation::And => {
                for index in 1..sources.len() {
                    let other = source(index);
                    result[other.len()..].fill(0);
                    result.iter_mut().zip(other).for_each(|(r, b)| *r &= b);
                }
            }
            BitOperation::Or => {
                for index in 1..sources.len() {
                    result
                        .iter_mut()
                        .zip(source(index))
                        .for_each(|(r, b)| *r |= b);
                }
            }
            BitOperation::Xor => {
                for index in 1..sources.len() {
                    result
                        .iter_mut()
                        .zip(source(index))
                        .for_each(|(r, b)| *r ^= b);
                }
            }
        }
        ks.insert(destination, Value::String(Bytes::from(result).into()), 0);
        Ok(Reply::Integer(len as i64))
    }
}

// ---- BITFIELD / BITFIELD_RO ----

/// A field type: `i1`..`i64` or `u1`..`u63`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldType {
    pub signed: bool,
    pub bits: u32,
}

impl FieldType {
    /// Lowercase `i` or `u` then the width, as Redis requires.
    fn parse(raw: &[u8]) -> Result<FieldType, CommandError> {
        let signed = match raw.first() {
            Some(b'i') => true,
            Some(b'u') => false,
            _ => return Err(CommandError::BitfieldType),
        };
        let bits_max = if signed { 64 } else { 63 };
        match parse_i64_strict(&raw[1..]) {
            Some(bits @ 1..=64) if bits <= bits_max => Ok(FieldType {
                signed,
                bits: bits as u32,
            }),
            _ => Err(CommandError::BitfieldType),
        }
    }

    /// The values the field holds, as (min, max).
    fn limits(self) -> (i128, i128) {
        if self.signed {
            let half = 1i128 << (self.bits - 1);
            (-half, half - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// The field's value from its raw bits (sign-extended if signed).
    fn decode(self, raw: u64) -> i64 {
        if self.signed && self.bits < 64 && raw >> (self.bits - 1) & 1 == 1 {
            (raw | u64::MAX << self.bits) as i64
        } else {
            raw as i64
        }
    }

    /// The field's raw bits for `value`: its low `bits` bits in two's complement (for a
    /// value out of range, what WRAP keeps).
    fn encode(self, value: i128) -> u64 {
        let raw = value as u64;
        if self.bits == 64 {
            raw
        } else {
            raw & ((1u64 << self.bits) - 1)
        }
    }

    /// Fits an exact result into the field: Some(value) when it fits or `overflow` says how
    /// to make it fit; None when it does not fit and the policy is FAIL.
    fn fit(self, exact: i128, overflow: Overflow) -> Option<i128> {
        let (min, max) = self.limits();
        if (min..=max).contains(&exact) {
            return Some(exact);
        }
        match overflow {
            Overflow::Fail => None,
            Overflow::Sat => Some(exact.clamp(min, max)),
            Overflow::Wrap => Some(i128::from(self.decode(self.encode(exact)))),
        }
    }
}

/// What a SET or INCRBY that overflows its field does (BITFIELD's OVERFLOW).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// Keep the low bits (the default).
    Wrap,
    /// Clamp to the field's min or max.
    Sat,
    /// Leave the field alone and answer nil.
    Fail,
}

/// One BITFIELD operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldOp {
    Get {
        field: FieldType,
        offset: u64,
    },
    /// Replies with the old value.
    Set {
        field: FieldType,
        offset: u64,
        value: i64,
        overflow: Overflow,
    },
    /// Replies with the new value.
    IncrBy {
        field: FieldType,
        offset: u64,
        increment: i64,
        overflow: Overflow,
    },
}

impl FieldOp {
    /// The operations of `BITFIELD key ...` (`args[2..]`), with OVERFLOW applied to the SET
    /// and INCRBY operations that follow it.
    fn parse_all(args: Args<'_>) -> Result<Vec<FieldOp>, CommandError> {
        let mut ops = Vec::new();
        let mut overflow = Overflow::Wrap;
        let mut index = 2;
        while index < args.len() {
            let remaining = args.len() - index - 1;
            let name = args.at(index);
            if is_option(name, "overflow") && remaining >= 1 {
                let policy = args.at(index + 1);
                overflow = [
                    ("wrap", Overflow::Wrap),
                    ("sat", Overflow::Sat),
                    ("fail", Overflow::Fail),
                ]
                .into_iter()
                .find(|(option, _)| is_option(policy, option))
                .map(|(_, overflow)| overflow)
                .ok_or(CommandError::BitfieldOverflowType)?;
                index += 2;
                continue;
            }
            let is_get = is_option(name, "get") && remaining >= 2;
            let is_set = is_option(name, "set") && remaining >= 3;
            let is_incrby = is_option(name, "incrby") && remaining >= 3;
            if !(is_get || is_set || is_incrby) {
                return Err(CommandError::Syntax);
            }
            let field = FieldType::parse(args.at(index + 1))?;
            let offset = parse_bit_offset(args.at(index + 2), Some(field.bits))?;
            if is_get {
                ops.push(FieldOp::Get { field, offset });
                index += 3;
                continue;
            }
            let amount = parse_i64(args.at(index + 3))?;
            ops.push(if is_set {
                FieldOp::Set {
                    field,
                    offset,
                    value: amount,
                    overflow,
                }
            } else {
                FieldOp::IncrBy {
                    field,
                    offset,
                    increment: amount,
                    overflow,
                }
            });
            index += 4;
        }
        Ok(ops)
    }

    pub(super) fn is_get(&self) -> bool {
        matches!(self, FieldOp::Get { .. })
    }

    /// The last bit a SET or INCRBY writes.
    fn last_written_bit(&self) -> Option<u64> {
        match *self {
            FieldOp::Get { .. } => None,
            FieldOp::Set { field, offset, .. } | FieldOp::IncrBy { field, offset, .. } => {
                Some(offset + u64::from(field.bits) - 1)
            }
        }
    }
}

fn read_bits(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |raw, i| raw << 1 | u64::from(bit_at(bytes, offset + i)))
}

/// Writes the low `bits` bits of `raw` at `offset`; the bytes are long enough.
fn write_bits(bytes: &mut [u8], offset: u64, bits: u32, raw: u64) {
    for i in 0..u64::from(bits) {
        let (byte, mask) = bit_position(offset + i);
        if raw >> (u64::from(bits) - 1 - i) & 1 == 1 {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
    }
}

fn get_field(bytes: &[u8], field: FieldType, offset: u64) -> Reply {
    Reply::Integer(field.decode(read_bits(bytes, offset, field.bits)))
}

/// Runs one operation on a string already long enough for every write. As in Redis, a SET or
/// INCRBY that writes counts as a change (`changed`) when the field's bits changed or the string
/// had to grow (`grew`); one refused by OVERFLOW FAIL never does.
fn run_field_op(op: &FieldOp, bytes: &mut [u8], grew: bool, changed: &mut bool) -> Reply {
    let (field, offset, amount, overflow) = match *op {
        FieldOp::Get { field, offset } => return get_field(bytes, field, offset),
        FieldOp::Set {
            field,
            offset,
            value,
            overflow,
        } => (field, offset, value, overflow),
        FieldOp::IncrBy {
            field,
            offset,
            increment,
            overflow,
        } => (field, offset, increment, overflow),
    };
    let old_raw = read_bits(bytes, offset, field.bits);
    let old = field.decode(old_raw);
    let exact = match op {
        FieldOp::IncrBy { .. } => i128::from(old) + i128::from(amount),
        // An unsigned field takes the value's 64-bit pattern, so -1 overflows it.
        _ if !field.signed => i128::from(amount as u64),
        _ => i128::from(amount),
    };
    let Some(new) = field.fit(exact, overflow) else {
        return Reply::Nil;
    };
    let new_raw = field.encode(new);
    if new_raw != old_raw {
        write_bits(bytes, offset, field.bits, new_raw);
    }
    *changed |= grew || new_raw != old_raw;
    Reply::Integer(match op {
        FieldOp::IncrBy { .. } => field.decode(new_raw),
        _ => old,
    })
}

/// Only GETs: reads, without creating the key.
fn get_fields(
    ks: &Keyspace,
    key: &Bytes,
    ops: &[FieldOp],
    now_ms: u64,
) -> Result<Reply, CommandError> {
    let value = string_at(ks, &Slot::new(key.clone()), now_ms)?;
    let bytes = value.map_or(&[][..], |v| &v[..]);
    Ok(Reply::Array(
        ops.iter()
            .filter_map(|op| match *op {
                FieldOp::Get { field, offset } => Some(get_field(bytes, field, offset)),
                _ => None,
            })
            .collect(),
    ))
}

/// `BITFIELD key [GET encoding offset | [OVERFLOW WRAP|SAT|FAIL] SET encoding offset value |
/// INCRBY encoding offset increment ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitField {
    pub key: Bytes,
    pub ops: Vec<FieldOp>,
}

impl BitField {
    pub const SPEC: CommandSpec =
        CommandSpec::data("bitfield", -2, Group::Bitmap, BitField::parse)
            .flags(WRITE_DENYOOM)
            .keys(KeySpec::ONE)
            .docs(
                "3.2.0",
                "Perform arbitrary bitfield integer operations on strings",
                &[
                    "key",
                    "[GET encoding offset|[OVERFLOW WRAP|SAT|FAIL] SET encoding offset value|INCRBY encoding offset increment...]",
                ],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        Ok(BitField {
            key: args.key(1),
            ops: FieldOp::parse_all(args)?,
        }
        .into())
    }

    /// With a SET or INCRBY, the string is first created or zero-padded up to the last bit
    /// any of them writes (even if they all fail), then the operations run in order.
    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let Some(last_bit) = self.ops.iter().filter_map(FieldOp::last_written_bit).max() else {
            return get_fields(ks, &self.key, &self.ops, cx.now_ms);
        };
        let slot = Slot::new(self.key.clone());
        let created = match ks.live(&slot, cx.now_ms) {
            None => {
                ks.insert(slot.clone(), Value::String(CompactBytes::new()), 0);
                true
            }
            Some(Entry {
                value: Value::String(_),
                ..
            }) => false,
            Some(_) => return Err(CommandError::WrongType),
        };
        let len = (last_bit >> 3) as usize + 1;
        let replies = edit_string(ks, &slot, cx.now_ms, |buffer| {
            let grew = created || buffer.len() < len;
            let mut changed = false;
            grow_zeroed(buffer, len);
            let replies = self
                .ops
                .iter()
                .map(|op| run_field_op(op, buffer, grew, &mut changed))
                .collect();
            (replies, changed)
        })?;
        Ok(Reply::Array(replies))
    }
}

/// `BITFIELD_RO key [GET encoding offset ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BitFieldRo {
    pub key: Bytes,
    /// Only `FieldOp::Get`.
    pub ops: Vec<FieldOp>,
}

impl BitFieldRo {
    pub const SPEC: CommandSpec = CommandSpec::data(
        "bitfield_ro",
        -2,
        Group::Bitmap,
        BitFieldRo::parse,
    )
    .flags(READ_FAST)
    .keys(KeySpec::ONE)
    .docs(
        "6.0.0",
        "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
        &["key", "[GET encoding offset...]"],
    );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let ops = FieldOp::parse_all(args)?;
        if !ops.iter().all(FieldOp::is_get) {
            return Err(CommandError::BitfieldReadOnly);
        }
        Ok(BitFieldRo {
            key: args.key(1),
            ops,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        get_fields(ks, &self.key, &self.ops, cx.now_ms)
    }
}

#[cfg(test)]
mod tests;
