//! RESP2/RESP3, the one codec for both directions. A server turns client bytes into command
//! argument vectors ([`CommandDecoder`], [`parse_command`]) and [`Reply`] trees into wire bytes
//! ([`write_reply`], [`write_push`]); a client turns arguments into a request
//! ([`write_command`]) and wire bytes back into a [`Value`] ([`parse_value`]). The server, the
//! client library, `tandem bench` and the operator tools all use this module; nothing else in
//! the crate reads RESP.
//!
//! Invariants: parsing never panics, never allocates more than the bytes that actually arrived
//! (a length field is a claim, not a budget), and consumes a command's or a reply's bytes only
//! once the whole of it is present; encoded error and status text never contains `\r` or `\n`,
//! so a reply cannot break the framing. The request side accepts what Redis accepts, quirks
//! included (inline commands, a `\r` not checked to be followed by `\n`); the reply side reads
//! whatever a Redis 7 server sends, RESP3 included.

mod value;

pub use value::{parse_value, Value, ValueError, BULK_BYTES_MAX, LINE_BYTES_MAX, VALUE_DEPTH_MAX};

use std::fmt;
use std::ops::Range;

use bytes::{Buf, BufMut, Bytes, BytesMut};

// Lengths parse like Redis's string2ll, the same strict rule command arguments use.
use crate::command::parse_i64_strict as parse_i64;
use crate::command::{format_double, Reply};

/// Default for [`Limits::bulk_bytes_max`]: Redis's `proto-max-bulk-len`.
pub const BULK_BYTES_MAX_DEFAULT: usize = 512 * 1024 * 1024;
/// Default for [`Limits::array_len_max`].
pub const ARRAY_LEN_MAX_DEFAULT: usize = 1024 * 1024;
/// Default for [`Limits::inline_bytes_max`]: Redis's `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_BYTES_MAX_DEFAULT: usize = 64 * 1024;
/// Longest `*<count>` or `$<len>` line before its `\r`, type byte included. An i64 has at most
/// 20 characters, so a longer line can never be a valid length; waiting for more of it only
/// buffers garbage. (Redis waits for `PROTO_INLINE_MAX_SIZE` bytes instead.)
pub const LENGTH_LINE_BYTES_MAX: usize = 32;
/// Smallest encoding of one multibulk argument, `$0\r\n\r\n`: the argument table is preallocated
/// for at most as many arguments as the bytes present could hold.
const ARG_BYTES_MIN: usize = 6;

const CRLF: &[u8] = b"\r\n";
/// Command frames up to this size are copied out of the read buffer; larger ones are split off
/// it without copying (copying a large value costs more than a fresh read buffer).
pub const COPIED_FRAME_BYTES_MAX: usize = 4 * 1024;

/// Which reply encoding a connection has chosen (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    /// The protocol of `HELLO <version>` (2 for anything but 3).
    pub fn from_version(version: u8) -> Protocol {
        if version == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        }
    }
}

/// Limits enforced while parsing; every one is configurable by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `$<len>` accepted; longer is "invalid bulk length".
    pub bulk_bytes_max: usize,
    /// Largest `*<count>` accepted; larger is "invalid multibulk length".
    pub array_len_max: usize,
    /// Longest inline line still waited for; past it without a newline is
    /// "too big inline request".
    pub inline_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            bulk_bytes_max: BULK_BYTES_MAX_DEFAULT,
            array_len_max: ARRAY_LEN_MAX_DEFAULT,
            inline_bytes_max: INLINE_BYTES_MAX_DEFAULT,
        }
    }
}

/// The client broke the protocol. `Display` is exactly the text Redis 7 sends after `-ERR `;
/// the server replies with it and closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// `*<count>` is not an integer, is below -1, or exceeds [`Limits::array_len_max`].
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<len>` is not an integer, is negative, or exceeds [`Limits::bulk_bytes_max`].
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An argument of a multibulk command does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", ByteText(*.got))]
    ExpectedDollar { got: u8 },
    /// An inline command has an unterminated quote, or a closing quote glued to more text.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline line grew past [`Limits::inline_bytes_max`] without a newline.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// A `*<count>` line grew past [`LENGTH_LINE_BYTES_MAX`] without `\r`.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCountString,
    /// A `$<len>` line grew past [`LENGTH_LINE_BYTES_MAX`] without `\r`.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCountString,
}

/// Shows one byte as Redis's `%c` would, except that a non-ASCII byte is written `\xHH`: the
/// error text is a Rust `String`, and a lone high byte is not UTF-8. `\r` and `\n` stay as they
/// are here; [`write_reply`] turns them into spaces like Redis's `addReplyErrorFormat`.
struct ByteText(u8);

impl fmt::Display for ByteText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii() {
            write!(f, "{}", char::from(self.0))
        } else {
            write!(f, "\\x{:02x}", self.0)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
//
// Multibulk, what every client library sends (`SET k hello`):
//
//   *3\r\n  $3\r\n SET \r\n  $1\r\n k \r\n  $5\r\n hello \r\n
//   ^^^^^^  ^^^^^^ ^^^ ^^^^
//   count   length  data  two bytes skipped unchecked (Redis does not check them either)
//
//   count:  `*` then a decimal integer as Redis's string2ll reads it (optional `-`, no `+`,
//           no leading zeros, no spaces), then `\r` and one more byte (skipped unchecked,
//           as Redis does). 0 and below are empty commands and are skipped (Redis 7's
//           `ll <= 0`); above `array_len_max` is "invalid multibulk length".
//   length: the same shape with `$`; 0..=bulk_bytes_max, else "invalid bulk length". The data
//           is binary: it may hold `\r\n`, because only the length says where it ends.
//
// Inline, for telnet (`SET k "hello world"\r\n`), any first byte other than `*`:
//
//   SET k "a\x41\n" 'it\'s'\n          -> ["SET", "k", "aA\n", "it's"]
//
//   The line ends at `\n` (a `\r` before it is dropped). Arguments are split as Redis's
//   sdssplitargs does: blanks separate; "..." knows \n \r \t \b \a \xHH and \<any>; '...'
//   knows only \'; a closing quote must be followed by a blank or the end of the line.
//   Empty lines are skipped.
//
// Why the parser is resumable: `CommandDecoder` remembers where the last call stopped (the
// arguments already delimited, the header of the one in flight, how far an inline line has
// been scanned), so a 100 MB argument arriving in 64 KiB reads is checked in O(1) per read and
// a pipeline of many small arguments is not re-walked. `parse_command` is the same machine
// started fresh on each call: it re-reads the short headers, but never rescans argument data.
//
// Divergences from Redis 7 (`processMultibulkBuffer` / `processInlineBuffer`), all on input
// no client library sends:
// - Length lines are bounded by LENGTH_LINE_BYTES_MAX, not 64 KiB, so garbage there fails sooner
//   with "too big (m)bulk count string" where Redis might say "invalid (multi)bulk length".
// - A NUL byte does not hide the rest of the buffer: Redis searches for `\r`/`\n` with strchr,
//   which stops at NUL, so `PING\0\n` stalls until 64 KiB; here the newline is found and, as in
//   sdssplitargs, the NUL ends the line's content.
// - `expected '$', got '%c'` shows a non-ASCII byte as `\xHH` (see `ByteText`).
// - There is no "unauthenticated multibulk/bulk length" check; authentication is the server's.
// ---------------------------------------------------------------------------------------------

/// Parses one command from the front of `buf`.
///
/// - `Ok(Some(args))`: a complete command; its bytes were removed from `buf`. `args[0]` is the
///   name; the vector is never empty.
/// - `Ok(None)`: more bytes are needed. The incomplete command's bytes are all still in `buf`;
///   empty inline lines and `*0` / `*-1` before it have been removed, as Redis discards them.
/// - `Err(e)`: the client broke the protocol; the server replies `-ERR {e}` and closes the
///   connection.
///
/// Each argument is a slice of the command's frame: a frame of up to
/// [`COPIED_FRAME_BYTES_MAX`] bytes is copied once out of `buf` (so the connection's read buffer
/// keeps being reused); a larger one is split off `buf` without copying. Inline arguments, which
/// need unescaping, are copied once.
pub fn parse_command(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    CommandDecoder::default().decode(buf, limits)
}

/// [`parse_command`] that resumes where its last call stopped instead of re-reading headers.
///
/// Contract: between calls, the caller only appends to `buf` (and never removes bytes itself);
/// after an `Err` the decoder must not be used again. One decoder per connection.
#[derive(Debug, Default)]
pub struct CommandDecoder {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// Nothing of the next command has been read.
    #[default]
    Start,
    /// An inline line is in flight; its first `scanned` bytes hold no `\n`.
    Inline { scanned: usize },
    /// The `*<count>` line of a multibulk command has been read.
    Multibulk(Multibulk),
}

#[derive(Debug)]
struct Multibulk {
    /// Arguments whose data has not been fully delimited yet.
    args_remaining: usize,
    /// Offset in `buf` of the first byte not yet parsed.
    cursor: usize,
    /// Where each delimited argument's data lies in `buf`.
    args: Vec<Range<usize>>,
    /// The length from the current argument's `$<len>` line, once read; its data starts at
    /// `cursor`.
    bulk_len: Option<usize>,
}

impl CommandDecoder {
    /// See [`parse_command`]; same results for the same bytes, however they were split.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            match &mut self.state {
                State::Start => {
                    let Some(&first) = buf.first() else {
                        return Ok(None);
                    };
                    if first != b'*' {
                        self.state = State::Inline { scanned: 0 };
                        continue;
                    }
                    let (digits, line_len) = match length_line(buf) {
                        LengthLine::Incomplete => return Ok(None),
                        LengthLine::TooLong => {
                            return Err(ProtocolError::TooBigMultibulkCountString)
                        }
                        LengthLine::Complete {
                            digits, line_len, ..
                        } => (digits, line_len),
                    };
                    let count = parse_i64(digits).ok_or(ProtocolError::InvalidMultibulkLength)?;
                    if count <= 0 {
                        buf.advance(line_len);
                        continue;
                    }
                    let count = usize::try_from(count)
                        .ok()
                        .filter(|count| *count <= limits.array_len_max)
                        .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    let args_present = (buf.len() - line_len) / ARG_BYTES_MIN;
                    self.state = State::Multibulk(Multibulk {
                        args_remaining: count,
                        cursor: line_len,
                        args: Vec::with_capacity(count.min(args_present)),
                        bulk_len: None,
                    });
                }
                State::Inline { scanned } => {
                    let from = (*scanned).min(buf.len());
                    let Some(offset) = buf[from..].iter().position(|&b| b == b'\n') else {
                        // Like Redis, the limit applies only while no newline has arrived: a
                        // longer line that arrives whole is still served.
                        if buf.len() > limits.inline_bytes_max {
                            return Err(ProtocolError::TooBigInlineRequest);
                        }
                        *scanned = buf.len();
                        return Ok(None);
                    };
                    let line = buf.split_to(from + offset + 1);
                    self.state = State::Start;
                    let args = split_inline(&line)?;
                    if !args.is_empty() {
                        return Ok(Some(args));
                    }
                }
                State::Multibulk(multibulk) => {
                    if !multibulk.delimit(buf, limits)? {
                        return Ok(None);
                    }
                    let State::Multibulk(multibulk) = std::mem::take(&mut self.state) else {
                        return Ok(None);
                    };
                    let frame = if multibulk.cursor <= COPIED_FRAME_BYTES_MAX {
                        // Copying a small frame keeps `buf` the sole owner of its allocation,
                        // so the next read reuses it instead of allocating a new one.
                        let frame = Bytes::copy_from_slice(&buf[..multibulk.cursor]);
                        buf.advance(multibulk.cursor);
                        frame
                    } else {
                        buf.split_to(multibulk.cursor).freeze()
                    };
                    let args = multibulk
                        .args
                        .into_iter()
                        .map(|range| frame.slice(range))
                        .collect();
                    return Ok(Some(args));
                }
            }
        }
    }
}

impl Multibulk {
    /// Delimits as many arguments as `buf` holds; true once all of them are.
    fn delimit(&mut self, buf: &[u8], limits: &Limits) -> Result<bool, ProtocolError> {
        while self.args_remaining > 0 {
            let bulk_len = match self.bulk_len {
                Some(bulk_len) => bulk_len,
                None => {
                    // `None` only if the caller broke the append-only contract.
                    let Some(rest) = buf.get(self.cursor..) else {
                        return Ok(false);
                    };
                    let (first, digits, line_len) = match length_line(rest) {
                        LengthLine::Incomplete => return Ok(false),
                        LengthLine::TooLong => return Err(ProtocolError::TooBigBulkCountString),
                        LengthLine::Complete {
                            first,
                            digits,
                            line_len,
                        } => (first, digits, line_len),
                    };
                    if first != b'$' {
                        return Err(ProtocolError::ExpectedDollar { got: first });
                    }
                    let bulk_len = parse_i64(digits)
                        .and_then(|len| usize::try_from(len).ok())
                        .filter(|len| *len <= limits.bulk_bytes_max)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    self.cursor += line_len;
                    self.bulk_len = Some(bulk_len);
                    bulk_len
                }
            };
            // The O(1) check that keeps a large argument arriving in pieces linear.
            let data_end = self.cursor.saturating_add(bulk_len);
            let arg_end = data_end.saturating_add(CRLF.len());
            if buf.len() < arg_end {
                return Ok(false);
            }
            self.args.push(self.cursor..data_end);
            self.cursor = arg_end;
            self.bulk_len = None;
            self.args_remaining -= 1;
        }
        Ok(true)
    }
}

enum LengthLine<'a> {
    Incomplete,
    TooLong,
    /// `first` is the type byte, `digits` what lies between it and `\r`, `line_len` the bytes
    /// the line takes including the two after `\r`.
    Complete {
        first: u8,
        digits: &'a [u8],
        line_len: usize,
    },
}

/// Reads a `*<count>` or `$<len>` line at the start of `bytes`. Like Redis, it needs `\r` and
/// one more byte, which it does not check is `\n`.
fn length_line(bytes: &[u8]) -> LengthLine<'_> {
    let window = &bytes[..bytes.len().min(LENGTH_LINE_BYTES_MAX + 1)];
    match window.iter().position(|&b| b == b'\r') {
        None if bytes.len() > LENGTH_LINE_BYTES_MAX => LengthLine::TooLong,
        None => LengthLine::Incomplete,
        Some(cr) if cr + 1 >= bytes.len() => LengthLine::Incomplete,
        Some(cr) => LengthLine::Complete {
            first: bytes[0],
            digits: bytes.get(1..cr).unwrap_or(&[]),
            line_len: cr + CRLF.len(),
        },
    }
}

/// C's `isspace` in the C locale, which sdssplitargs uses between arguments and after quotes.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|v| v as u8)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Splits one inline line (ending in `\n`, maybe `\r\n`) into arguments the way Redis's
/// sdssplitargs does. It reads the line as a C string: content ends at the first NUL.
fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    // Reading past the end gives NUL, as in C, so the lookaheads below need no bounds checks.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i) != 0 && is_c_space(at(i)) {
            i += 1;
        }
        if at(i) == 0 {
            return Ok(args);
        }
        let mut arg = Vec::new();
        let mut quote = Quote::None;
        loop {
            let byte = at(i);
            match quote {
                Quote::Double => {
                    let escaped_hex = (hex_value(at(i + 2)), hex_value(at(i + 3)));
                    if let (b'\\', b'x', (Some(high), Some(low))) = (byte, at(i + 1), escaped_hex) {
                        arg.push(high * 16 + low);
                        i += 4;
                    } else if byte == b'\\' && at(i + 1) != 0 {
                        arg.push(match at(i + 1) {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 2;
                    } else if byte == b'"' {
                        if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    } else if byte == 0 {
                        return Err(ProtocolError::UnbalancedQuotes);
                    } else {
                        arg.push(byte);
                        i += 1;
                    }
                }
                Quote::Single => {
                    if byte == b'\\' && at(i + 1) == b'\'' {
                        arg.push(b'\'');
                        i += 2;
                    } else if byte == b'\'' {
                        if at(i + 1) != 0 && !is_c_space(at(i + 1)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    } else if byte == 0 {
                        return Err(ProtocolError::UnbalancedQuotes);
                    } else {
                        arg.push(byte);
                        i += 1;
                    }
                }
                // Unquoted, only these end a token (not \v or \f, unlike the blanks skipped
                // between tokens); a quote opens in the middle of a token and joins it.
                Quote::None => match byte {
                    0 => break,
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        i += 1;
                        break;
                    }
                    b'"' => {
                        quote = Quote::Double;
                        i += 1;
                    }
                    b'\'' => {
                        quote = Quote::Single;
                        i += 1;
                    }
                    _ => {
                        arg.push(byte);
                        i += 1;
                    }
                },
            }
        }
        args.push(Bytes::from(arg));
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
//
//   Reply            RESP2                         RESP3
//   Ok               +OK\r\n                       same
//   Simple("s")      +s\r\n                        same
//   Error("ERR x")   -ERR x\r\n                    same
//   Integer(-5)      :-5\r\n                       same
//   Bulk("ab")       $2\r\nab\r\n                  same
//   Nil              $-1\r\n                       _\r\n
//   NilArray         *-1\r\n                       _\r\n
//   Array([a, b])    *2\r\n a b                    same
//   Double(1.5)      $3\r\n1.5\r\n                 ,1.5\r\n   (,inf / ,-inf / ,nan)
//   Map([(k, v)])    *2\r\n k v                    %1\r\n k v
//   Pairs([(m, s)])  *2\r\n m s                    *1\r\n *2\r\n m s
//   Set([a, b])      *2\r\n a b                    ~2\r\n a b
//   BigNumber("12")  $2\r\n12\r\n                 (12\r\n
//   Verbatim(txt, x) $1\r\nx\r\n                  =5\r\ntxt:x\r\n
//   Boolean(true)    :1\r\n                       #t\r\n
// ---------------------------------------------------------------------------------------------

/// Appends `reply` encoded for `protocol`. For RESP2 the result equals encoding
/// [`Reply::to_resp2`], without building that tree.
pub fn write_reply(reply: &Reply, protocol: Protocol, out: &mut BytesMut) {
    match reply {
        Reply::Ok => out.put_slice(b"+OK\r\n"),
        Reply::Simple(text) => write_line(b'+', text.as_bytes(), out),
        Reply::Error(text) => write_line(b'-', text.as_bytes(), out),
        // The connection waits for the waiter's outcome instead of sending this; if it ever
        // reaches the wire, the client gets a clear error rather than a wrong value.
        Reply::Blocked => write_line(
            b'-',
            b"ERR internal error: a blocked command's marker reached the client",
            out,
        ),
        Reply::Integer(value) => {
            out.put_u8(b':');
            put_decimal(value.is_negative(), value.unsigned_abs(), out);
            out.put_slice(CRLF);
        }
        Reply::Bulk(data) => write_bulk(data, out),
        Reply::Nil => out.put_slice(match protocol {
            Protocol::Resp2 => b"$-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        }),
        Reply::NilArray => out.put_slice(match protocol {
            Protocol::Resp2 => b"*-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        }),
        Reply::Array(items) => {
            write_header(b'*', items.len(), out);
            for item in items {
                write_reply(item, protocol, out);
            }
        }
        Reply::Set(items) => {
            match protocol {
                Protocol::Resp2 => write_header(b'*', items.len(), out),
                Protocol::Resp3 => write_header(b'~', items.len(), out),
            }
            for item in items {
                write_reply(item, protocol, out);
            }
        }
        Reply::Double(value) => {
            let text = format_double(*value);
            match protocol {
                Protocol::Resp2 => write_bulk(text.as_bytes(), out),
                Protocol::Resp3 => write_line(b',', text.as_bytes(), out),
            }
        }
        Reply::Map(pairs) => {
            match protocol {
                Protocol::Resp2 => write_header(b'*', pairs.len().saturating_mul(2), out),
                Protocol::Resp3 => write_header(b'%', pairs.len(), out),
            }
            for (key, value) in pairs {
                write_reply(key, protocol, out);
                write_reply(value, protocol, out);
            }
        }
        Reply::KeyedArrays(pairs) => {
            match protocol {
                Protocol::Resp2 => write_header(b'*', pairs.len(), out),
                Protocol::Resp3 => write_header(b'%', pairs.len(), out),
            }
            for (key, value) in pairs {
                if protocol == Protocol::Resp2 {
                    out.put_slice(b"*2\r\n");
                }
                write_reply(key, protocol, out);
                write_reply(value, protocol, out);
            }
        }
        Reply::BigNumber(digits) => match protocol {
            Protocol::Resp2 => write_bulk(digits.as_bytes(), out),
            Protocol::Resp3 => write_line(b'(', digits.as_bytes(), out),
        },
        Reply::Verbatim { format, text } => match protocol {
            Protocol::Resp2 => write_bulk(text, out),
            Protocol::Resp3 => {
                write_header(b'=', format.len() + 1 + text.len(), out);
                out.put_slice(format.as_bytes());
                out.put_u8(b':');
                out.put_slice(text);
                out.put_slice(CRLF);
            }
        },
        Reply::Boolean(value) => out.put_slice(match (protocol, value) {
            (Protocol::Resp2, true) => b":1\r\n",
            (Protocol::Resp2, false) => b":0\r\n",
            (Protocol::Resp3, true) => b"#t\r\n",
            (Protocol::Resp3, false) => b"#f\r\n",
        }),
        Reply::Pairs(pairs) => {
            match protocol {
                Protocol::Resp2 => write_header(b'*', pairs.len().saturating_mul(2), out),
                Protocol::Resp3 => write_header(b'*', pairs.len(), out),
            }
            for (first, second) in pairs {
                if protocol == Protocol::Resp3 {
                    out.put_slice(b"*2\r\n");
                }
                write_reply(first, protocol, out);
                write_reply(second, protocol, out);
            }
        }
    }
}

/// Appends an out-of-band message (pub/sub): a RESP3 push frame (`>`), or for RESP2 the plain
/// array Redis sends a subscribed client.
pub fn write_push(items: &[Reply], protocol: Protocol, out: &mut BytesMut) {
    match protocol {
        Protocol::Resp2 => write_header(b'*', items.len(), out),
        Protocol::Resp3 => write_header(b'>', items.len(), out),
    }
    for item in items {
        write_reply(item, protocol, out);
    }
}

/// Appends `args` as a RESP array of bulk strings, the form clients send commands in.
pub fn write_command(args: &[Bytes], out: &mut BytesMut) {
    write_header(b'*', args.len(), out);
    for arg in args {
        write_bulk(arg, out);
    }
}

/// `<kind><text>\r\n`, with `\r` and `\n` in `text` replaced by spaces so the line cannot end
/// early (Redis's addReplyErrorLength does the same for errors).
fn write_line(kind: u8, text: &[u8], out: &mut BytesMut) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(CRLF);
}

fn write_bulk(data: &[u8], out: &mut BytesMut) {
    out.reserve(data.len() + 16);
    write_header(b'$', data.len(), out);
    out.put_slice(data);
    out.put_slice(CRLF);
}

fn write_header(kind: u8, len: usize, out: &mut BytesMut) {
    out.put_u8(kind);
    put_decimal(false, len as u64, out);
    out.put_slice(CRLF);
}

fn put_decimal(negative: bool, magnitude: u64, out: &mut BytesMut) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = magnitude;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn encode(reply: &Reply, protocol: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_reply(reply, protocol, &mut out);
        out.to_vec()
    }

    fn args(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Parses commands until `None` or an error; returns them, the error, and what is left.
    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut commands = Vec::new();
        loop {
            match parse_command(&mut buf, &Limits::default()) {
                Ok(Some(command)) => commands.push(command),
                Ok(None) => return (commands, None, buf),
                Err(e) => return (commands, Some(e), buf),
            }
        }
    }

    fn nested_sample() -> Reply {
        Reply::Array(vec![
            Reply::Integer(-7),
            Reply::Array(vec![bulk(""), Reply::Nil, Reply::Array(vec![])]),
            Reply::Double(2.5),
            Reply::Map(vec![(bulk("f"), Reply::Double(f64::INFINITY))]),
            Reply::Pairs(vec![(bulk("m"), Reply::Double(-1.0))]),
            Reply::NilArray,
        ])
    }

    #[test]
    fn resp2_encodes_every_variant_to_exact_bytes() {
        let cases: Vec<(Reply, &[u8])> = vec![
            (Reply::Ok, b"+OK\r\n"),
            (Reply::Simple("string".into()), b"+string\r\n"),
            (
                Reply::Error("WRONGTYPE Operation".into()),
                b"-WRONGTYPE Operation\r\n",
            ),
            (Reply::Integer(0), b":0\r\n"),
            (Reply::Integer(-42), b":-42\r\n"),
            (Reply::Integer(i64::MIN), b":-9223372036854775808\r\n"),
            (Reply::Integer(i64::MAX), b":9223372036854775807\r\n"),
            (bulk("hello"), b"$5\r\nhello\r\n"),
            (bulk(""), b"$0\r\n\r\n"),
            (Reply::Nil, b"$-1\r\n"),
            (Reply::NilArray, b"*-1\r\n"),
            (Reply::Array(vec![]), b"*0\r\n"),
            (Reply::Double(1.5), b"$3\r\n1.5\r\n"),
            (Reply::Double(3.0), b"$1\r\n3\r\n"),
            (Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n"),
            (Reply::Double(f64::NEG_INFINITY), b"$4\r\n-inf\r\n"),
            (
                Reply::Map(vec![(bulk("f"), bulk("v")), (bulk("g"), Reply::Integer(1))]),
                b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n:1\r\n",
            ),
            (Reply::Map(vec![]), b"*0\r\n"),
            (
                Reply::Pairs(vec![(bulk("m"), Reply::Double(1.5))]),
                b"*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n",
            ),
            (
                Reply::Set(vec![bulk("a"), bulk("b")]),
                b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
            ),
            (Reply::Set(vec![]), b"*0\r\n"),
            (Reply::BigNumber("12345".into()), b"$5\r\n12345\r\n"),
            (
                Reply::Verbatim {
                    format: "txt".into(),
                    text: Bytes::from_static(b"a\nb"),
                },
                b"$3\r\na\nb\r\n",
            ),
            (Reply::Boolean(true), b":1\r\n"),
            (Reply::Boolean(false), b":0\r\n"),
            (
                nested_sample(),
                b"*6\r\n:-7\r\n*3\r\n$0\r\n\r\n$-1\r\n*0\r\n$3\r\n2.5\r\n\
                  *2\r\n$1\r\nf\r\n$3\r\ninf\r\n*2\r\n$1\r\nm\r\n$2\r\n-1\r\n*-1\r\n",
            ),
        ];
        for (reply, expected) in cases {
            assert_eq!(
                encode(&reply, Protocol::Resp2),
                expected,
                "{reply:?}: got {:?}",
                String::from_utf8_lossy(&encode(&reply, Protocol::Resp2))
            );
        }
    }

    #[test]
    fn resp3_encodes_every_variant_to_exact_bytes() {
        let cases: Vec<(Reply, &[u8])> = vec![
            (Reply::Ok, b"+OK\r\n"),
            (Reply::Simple("PONG".into()), b"+PONG\r\n"),
            (Reply::Error("ERR no".into()), b"-ERR no\r\n"),
            (Reply::Integer(-1), b":-1\r\n"),
            (bulk("a\r\nb"), b"$4\r\na\r\nb\r\n"),
            (bulk(""), b"$0\r\n\r\n"),
            (Reply::Nil, b"_\r\n"),
            (Reply::NilArray, b"_\r\n"),
            (Reply::Array(vec![]), b"*0\r\n"),
            (Reply::Double(1.5), b",1.5\r\n"),
            (Reply::Double(3.0), b",3\r\n"),
            (Reply::Double(f64::INFINITY), b",inf\r\n"),
            (Reply::Double(f64::NEG_INFINITY), b",-inf\r\n"),
            (
                Reply::Map(vec![(bulk("f"), bulk("v")), (bulk("g"), Reply::Integer(1))]),
                b"%2\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n:1\r\n",
            ),
            (Reply::Map(vec![]), b"%0\r\n"),
            (
                Reply::Pairs(vec![
                    (bulk("a"), Reply::Double(1.5)),
                    (bulk("b"), Reply::Double(2.0)),
                ]),
                b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n",
            ),
            (Reply::Pairs(vec![]), b"*0\r\n"),
            (
                Reply::Set(vec![bulk("a"), bulk("b")]),
                b"~2\r\n$1\r\na\r\n$1\r\nb\r\n",
            ),
            (Reply::Set(vec![]), b"~0\r\n"),
            (Reply::BigNumber("12345".into()), b"(12345\r\n"),
            (
                Reply::Verbatim {
                    format: "txt".into(),
                    text: Bytes::from_static(b"a\nb"),
                },
                b"=7\r\ntxt:a\nb\r\n",
            ),
            (Reply::Boolean(true), b"#t\r\n"),
            (Reply::Boolean(false), b"#f\r\n"),
            (
                nested_sample(),
                b"*6\r\n:-7\r\n*3\r\n$0\r\n\r\n_\r\n*0\r\n,2.5\r\n\
                  %1\r\n$1\r\nf\r\n,inf\r\n*1\r\n*2\r\n$1\r\nm\r\n,-1\r\n_\r\n",
            ),
        ];
        for (reply, expected) in cases {
            assert_eq!(
                encode(&reply, Protocol::Resp3),
                expected,
                "{reply:?}: got {:?}",
                String::from_utf8_lossy(&encode(&reply, Protocol::Resp3))
            );
        }
    }

    #[test]
    fn resp2_encoding_equals_encoding_the_lowered_tree() {
        let reply = nested_sample();
        assert_eq!(
            encode(&reply, Protocol::Resp2),
            encode(&reply.to_resp2(), Protocol::Resp2)
        );
        // After lowering, nothing RESP3-only is left: both protocols agree on it
        // except for nils, which the sample's lowered tree still holds.
        let lowered = Reply::Array(vec![Reply::Map(vec![(bulk("k"), Reply::Double(0.5))])]);
        assert_eq!(
            encode(&lowered.to_resp2(), Protocol::Resp3),
            encode(&lowered, Protocol::Resp2)
        );
    }

    #[test]
    fn error_and_status_text_cannot_break_framing() {
        assert_eq!(
            encode(&Reply::Error("ERR a\r\nb\nc\r".into()), Protocol::Resp2),
            b"-ERR a  b c \r\n"
        );
        assert_eq!(
            encode(&Reply::Simple("x\ny".into()), Protocol::Resp3),
            b"+x y\r\n"
        );
    }

    #[test]
    fn parses_a_complete_command_and_consumes_only_it() {
        let mut buf =
            BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPI"[..]);
        let command = parse_command(&mut buf, &Limits::default()).unwrap();
        assert_eq!(command, Some(args(&[b"SET", b"k", b"hello"])));
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
        assert_eq!(parse_command(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(
            &buf[..],
            b"*1\r\n$4\r\nPI",
            "an incomplete command stays in the buffer"
        );
    }

    #[test]
    fn a_command_split_at_every_byte_boundary_parses_only_at_its_end() {
        let wire: &[u8] = b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\nx\r\n$0\r\n\r\n";
        let expected = args(&[b"SET", b"k\r\nx", b""]);
        // One byte at a time, through both the stateless call and the resumable decoder.
        let mut stateless = BytesMut::new();
        let mut resumed = BytesMut::new();
        let mut decoder = CommandDecoder::default();
        for (i, byte) in wire.iter().enumerate() {
            stateless.put_u8(*byte);
            resumed.put_u8(*byte);
            let a = parse_command(&mut stateless, &Limits::default()).unwrap();
            let b = decoder.decode(&mut resumed, &Limits::default()).unwrap();
            if i + 1 < wire.len() {
                assert_eq!(a, None, "complete after {} bytes", i + 1);
                assert_eq!(b, None, "decoder complete after {} bytes", i + 1);
                assert_eq!(stateless.len(), i + 1, "bytes consumed early");
            } else {
                assert_eq!(a.as_ref(), Some(&expected));
                assert_eq!(b.as_ref(), Some(&expected));
            }
        }
        assert!(stateless.is_empty() && resumed.is_empty());
        // Two pieces, split at every boundary.
        for split in 0..=wire.len() {
            let mut buf = BytesMut::from(&wire[..split]);
            let mut decoder = CommandDecoder::default();
            let first = decoder.decode(&mut buf, &Limits::default()).unwrap();
            buf.extend_from_slice(&wire[split..]);
            let second = decoder.decode(&mut buf, &Limits::default()).unwrap();
            assert_eq!(first.or(second), Some(expected.clone()), "split at {split}");
        }
    }

    #[test]
    fn an_inline_command_split_at_every_byte_parses_only_at_its_end() {
        let wire: &[u8] = b"SET \"a b\" 'c'\r\n";
        let mut buf = BytesMut::new();
        let mut decoder = CommandDecoder::default();
        for (i, byte) in wire.iter().enumerate() {
            buf.put_u8(*byte);
            let parsed = decoder.decode(&mut buf, &Limits::default()).unwrap();
            if i + 1 < wire.len() {
                assert_eq!(parsed, None);
            } else {
                assert_eq!(parsed, Some(args(&[b"SET", b"a b", b"c"])));
            }
        }
    }

    #[test]
    fn pipelined_commands_in_one_buffer_come_out_in_order() {
        let (commands, error, rest) = parse_all(
            b"*1\r\n$4\r\nPING\r\nGET k\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nINCR n\n*2\r\n$3\r\nGET",
        );
        assert_eq!(error, None);
        assert_eq!(
            commands,
            vec![
                args(&[b"PING"]),
                args(&[b"GET", b"k"]),
                args(&[b"ECHO", b"hi"]),
                args(&[b"INCR", b"n"]),
            ]
        );
        assert_eq!(&rest[..], b"*2\r\n$3\r\nGET");
    }

    #[test]
    fn inline_commands_follow_redis_quoting_rules() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"PING\r\n", &[b"PING"]),
            (b"PING\n", &[b"PING"]),
            (b"  SET   k  v  \r\n", &[b"SET", b"k", b"v"]),
            (
                b"SET k \"hello world\"\r\n",
                &[b"SET", b"k", b"hello world"],
            ),
            (
                b"ECHO \"a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n",
                &[b"ECHO", b"a\n\r\t\x08\x07\\\"q"],
            ),
            (b"ECHO \"\\x41\\x7a\\xff\\xZZ\"\n", &[b"ECHO", b"Az\xffxZZ"]),
            (
                b"ECHO 'it\\'s \"raw\" \\n'\n",
                &[b"ECHO", b"it's \"raw\" \\n"],
            ),
            (b"ECHO \"\" ''\n", &[b"ECHO", b"", b""]),
            (b"ECHO a\"b c\" d\n", &[b"ECHO", b"ab c", b"d"]),
            (b"ECHO \"x\"\t'y'\x0b\n", &[b"ECHO", b"x", b"y"]),
            (b"ECHO a\x0bb\n", &[b"ECHO", b"a\x0bb"]),
            (b"ECHO a\0ignored\n", &[b"ECHO", b"a"]),
            (b"ECHO a\rb\n", &[b"ECHO", b"a", b"b"]),
        ];
        for (wire, expected) in cases {
            let (commands, error, rest) = parse_all(wire);
            assert_eq!(error, None, "{:?}", String::from_utf8_lossy(wire));
            assert_eq!(
                commands,
                vec![args(expected)],
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn empty_lines_and_empty_arrays_are_skipped_and_consumed() {
        let (commands, error, rest) =
            parse_all(b"\r\n\n   \r\n\t\n*0\r\n*-1\r\n*-10\r\nPING\r\n*0\r\n\n");
        assert_eq!(error, None);
        assert_eq!(commands, vec![args(&[b"PING"])]);
        assert!(rest.is_empty(), "skipped lines are consumed: {rest:?}");
        let mut buf = BytesMut::from(&b"*-1\r\n*0\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(parse_command(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn bulk_arguments_are_binary_safe() {
        let (commands, error, _) =
            parse_all(b"*3\r\n$3\r\nSET\r\n$4\r\n\r\n\r\n\r\n$5\r\n\0\xff*\n$\r\n");
        assert_eq!(error, None);
        assert_eq!(commands, vec![args(&[b"SET", b"\r\n\r\n", b"\0\xff*\n$"])]);
    }

    #[test]
    fn every_protocol_error_has_redis_text() {
        let cases: &[(&[u8], ProtocolError, &str)] = &[
            (
                b"*x\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*+1\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*01\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*1048577\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*9223372036854775808\r\n",
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                b"*1\r\n$-1\r\n",
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\n$x\r\n",
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\n$\r\n",
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\n$536870913\r\n",
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\nx3\r\n",
                ProtocolError::ExpectedDollar { got: b'x' },
                "Protocol error: expected '$', got 'x'",
            ),
            (
                b"*2\r\n$1\r\na\r\n:1\r\n",
                ProtocolError::ExpectedDollar { got: b':' },
                "Protocol error: expected '$', got ':'",
            ),
            (
                b"*1\r\n\xe9\r\n",
                ProtocolError::ExpectedDollar { got: 0xe9 },
                "Protocol error: expected '$', got '\\xe9'",
            ),
            (
                b"SET k \"v\r\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"SET k 'v\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"SET k \"v\"x\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"ECHO a\"b c\"d\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"SET k 'v'x\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"ECHO \"a\\\"\n",
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                b"*11111111111111111111111111111111111",
                ProtocolError::TooBigMultibulkCountString,
                "Protocol error: too big mbulk count string",
            ),
            (
                b"*1\r\n$11111111111111111111111111111111111",
                ProtocolError::TooBigBulkCountString,
                "Protocol error: too big bulk count string",
            ),
        ];
        for (wire, expected, text) in cases {
            let (commands, error, _) = parse_all(wire);
            assert!(commands.is_empty(), "{:?}", String::from_utf8_lossy(wire));
            assert_eq!(
                error.as_ref(),
                Some(expected),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
            assert_eq!(expected.to_string(), *text);
        }
        let long_line = vec![b'a'; INLINE_BYTES_MAX_DEFAULT + 1];
        let (_, error, _) = parse_all(&long_line);
        assert_eq!(error, Some(ProtocolError::TooBigInlineRequest));
        assert_eq!(
            ProtocolError::TooBigInlineRequest.to_string(),
            "Protocol error: too big inline request"
        );
        // At the limit it is still waited for, and a longer line that arrives whole is served.
        assert_eq!(parse_all(&long_line[1..]).1, None);
        let mut whole = long_line.clone();
        whole.push(b'\n');
        assert_eq!(parse_all(&whole).0.len(), 1);
    }

    #[test]
    fn configured_limits_are_enforced_at_their_boundary() {
        let limits = Limits {
            bulk_bytes_max: 3,
            array_len_max: 2,
            inline_bytes_max: 4,
        };
        let parse = |wire: &[u8]| parse_command(&mut BytesMut::from(wire), &limits);
        assert_eq!(
            parse(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"),
            Ok(Some(args(&[b"GET", b"key"])))
        );
        assert_eq!(parse(b"*3\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(
            parse(b"*1\r\n$4\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(parse(b"PING"), Ok(None));
        assert_eq!(parse(b"PINGX"), Err(ProtocolError::TooBigInlineRequest));
    }

    #[test]
    fn claimed_lengths_reserve_nothing() {
        let unlimited = Limits {
            bulk_bytes_max: usize::MAX,
            array_len_max: usize::MAX,
            inline_bytes_max: INLINE_BYTES_MAX_DEFAULT,
        };
        // Default limits refuse the count outright.
        let mut buf = BytesMut::from(&b"*2000000000\r\n$3\r\nfoo\r\n"[..]);
        assert_eq!(
            parse_command(&mut buf, &Limits::default()),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        // Allowed by the limits, it is just waited for: no table sized by the claim.
        let mut buf = BytesMut::from(&b"*2000000000\r\n$3\r\nfoo\r\n"[..]);
        let mut decoder = CommandDecoder::default();
        assert_eq!(decoder.decode(&mut buf, &unlimited), Ok(None));
        assert!(buf.capacity() < 4096, "{}", buf.capacity());
        match &decoder.state {
            State::Multibulk(multibulk) => assert!(multibulk.args.capacity() <= 4),
            other => panic!("unexpected state {other:?}"),
        }
        // A huge bulk is waited for without growing the buffer.
        for limits in [Limits::default(), unlimited] {
            let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$500000000\r\nabc"[..]);
            let before = buf.clone();
            assert_eq!(parse_command(&mut buf, &limits), Ok(None));
            assert!(buf.capacity() < 4096, "{}", buf.capacity());
            assert_eq!(buf, before);
        }
        let mut buf = BytesMut::from(&b"*1\r\n$9223372036854775807\r\nabc"[..]);
        assert_eq!(parse_command(&mut buf, &unlimited), Ok(None));
    }

    #[test]
    fn small_frames_are_copied_out_and_large_ones_split_off_without_copying() {
        let limits = Limits::default();
        let inside = |arg: &Bytes, start: usize, len: usize| {
            let at = arg.as_ptr() as usize;
            at >= start && at < start + len
        };
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        let (start, len) = (buf.as_ptr() as usize, buf.capacity());
        let args = parse_command(&mut buf, &limits)
            .expect("valid")
            .expect("complete");
        assert_eq!(
            args,
            vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("v")]
        );
        assert!(!inside(&args[2], start, len), "a small frame is copied");
        // `buf` still owns its whole allocation: asking for all of it back reuses it.
        buf.reserve(len);
        assert_eq!(buf.as_ptr() as usize, start);

        let value = vec![b'x'; COPIED_FRAME_BYTES_MAX];
        buf.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).as_bytes(),
        );
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
        let (start, len) = (buf.as_ptr() as usize, buf.capacity());
        let args = parse_command(&mut buf, &limits)
            .expect("valid")
            .expect("complete");
        assert_eq!(args[2].as_ref(), value.as_slice());
        assert!(inside(&args[2], start, len), "a large frame is not copied");
    }

    #[test]
    fn decoder_checks_a_large_argument_in_flight_without_rereading() {
        let payload = vec![b'z'; 1 << 20];
        let mut wire = b"*2\r\n$3\r\nSET\r\n$1048576\r\n".to_vec();
        wire.extend_from_slice(&payload);
        wire.extend_from_slice(b"\r\n");
        let mut buf = BytesMut::new();
        let mut decoder = CommandDecoder::default();
        let mut result = None;
        for chunk in wire.chunks(4096) {
            buf.extend_from_slice(chunk);
            if let Some(command) = decoder.decode(&mut buf, &Limits::default()).unwrap() {
                result = Some(command);
                break;
            }
            // After the header, the state holds the argument's length: the next call is
            // one comparison, not a scan.
            if buf.len() > 40 {
                match &decoder.state {
                    State::Multibulk(multibulk) => {
                        assert_eq!(multibulk.bulk_len, Some(1 << 20));
                        assert_eq!(multibulk.cursor, 23);
                    }
                    other => panic!("unexpected state {other:?}"),
                }
            }
        }
        let command = result.expect("command completes");
        assert_eq!(command[1].len(), 1 << 20);
        assert!(buf.is_empty());
    }

    #[test]
    fn length_fields_are_read_like_redis_string2ll() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"0", Some(0)),
            (b"7", Some(7)),
            (b"-1", Some(-1)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"99999999999999999999", None),
            (b"", None),
            (b"-", None),
            (b"-0", None),
            (b"01", None),
            (b"+1", None),
            (b" 1", None),
            (b"1 ", None),
            (b"1a", None),
        ];
        for (digits, expected) in cases {
            assert_eq!(
                parse_i64(digits),
                *expected,
                "{:?}",
                String::from_utf8_lossy(digits)
            );
        }
    }

    #[test]
    fn defaults_match_redis() {
        let limits = Limits::default();
        assert_eq!(limits.bulk_bytes_max, 512 * 1024 * 1024);
        assert_eq!(limits.array_len_max, 1_048_576);
        assert_eq!(limits.inline_bytes_max, 64 * 1024);
        assert_eq!(Protocol::default(), Protocol::Resp2);
    }

    /// Random buffers built from protocol fragments and raw bytes: parsing never panics,
    /// always consumes what it returns, the resumable decoder fed in random chunks agrees with
    /// the stateless call fed the same chunks, and every command re-encodes to itself.
    #[test]
    fn random_garbage_never_panics_and_decoders_agree() {
        const FRAGMENTS: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\r",
            b"\n",
            b"0",
            b"1",
            b"2",
            b"3",
            b"-1",
            b"-",
            b"10",
            b"99999999999999999999",
            b"\"",
            b"'",
            b"\\",
            b"\\x4",
            b"x",
            b"SET",
            b" ",
            b"\0",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"PING\r\n",
        ];
        let seed = 0x7e5d_2024_u64;
        let mut rng = StdRng::seed_from_u64(seed);
        let limits = Limits {
            bulk_bytes_max: 16,
            array_len_max: 8,
            inline_bytes_max: 24,
        };
        for round in 0..4000 {
            let mut wire = Vec::new();
            for _ in 0..rng.gen_range(0..24) {
                if rng.gen_bool(0.8) {
                    wire.extend_from_slice(FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())]);
                } else {
                    wire.push(rng.gen());
                }
            }
            let limits = if round % 2 == 0 {
                limits
            } else {
                Limits::default()
            };
            let mut stateless = BytesMut::new();
            let mut resumed = BytesMut::new();
            let mut decoder = CommandDecoder::default();
            let mut rest = &wire[..];
            'feed: while !rest.is_empty() {
                let take = rng.gen_range(1..=rest.len());
                stateless.extend_from_slice(&rest[..take]);
                resumed.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                loop {
                    let before = stateless.len();
                    let a = parse_command(&mut stateless, &limits);
                    let b = decoder.decode(&mut resumed, &limits);
                    assert_eq!(a, b, "seed {seed} round {round}: {wire:?}");
                    assert_eq!(stateless, resumed, "seed {seed} round {round}");
                    match a {
                        Ok(Some(command)) => {
                            assert!(!command.is_empty());
                            assert!(stateless.len() < before, "no progress");
                            let mut encoded = BytesMut::new();
                            write_command(&command, &mut encoded);
                            let again = parse_command(&mut encoded, &Limits::default());
                            assert_eq!(again, Ok(Some(command)));
                            assert!(encoded.is_empty());
                        }
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
        }
    }
}
