//! `Value`: one RESP2/RESP3 reply as a client receives it, and the parser that reads it from the
//! front of a buffer. Invariants: parsing never panics, never allocates more than the bytes that
//! arrived (an aggregate's count is a claim, not a budget), and consumes nothing until a whole
//! reply is present.

use bytes::Bytes;

/// Deepest nesting of aggregates accepted in one reply; deeper is treated as malformed (Redis
/// replies nest a few levels, e.g. EXEC of ZRANGE WITHSCORES).
pub const VALUE_DEPTH_MAX: usize = 64;
/// Largest bulk string accepted: Redis's `proto-max-bulk-len` default.
pub const BULK_BYTES_MAX: usize = super::BULK_BYTES_MAX_DEFAULT;
/// Longest `+`/`-`/`:` line accepted before its `\r\n`.
pub const LINE_BYTES_MAX: usize = 1024 * 1024;
/// Smallest encoding of one element (`_\r\n`): preallocation is capped by the bytes present.
const ELEMENT_BYTES_MIN: usize = 3;

/// One reply. RESP2 and RESP3 nils (`$-1`, `*-1`, `_`) are all [`Value::Nil`]; RESP3 attributes
/// (`|`) are parsed and dropped, leaving the value they annotate.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...` or a RESP3 blob error `!<len>`: the full error text.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$<len>` (and RESP3 verbatim `=<len>`, without its `txt:` prefix).
    Bulk(Bytes),
    Nil,
    /// RESP3 `,`
    Double(f64),
    /// RESP3 `#t` / `#f`
    Boolean(bool),
    /// RESP3 `(`, as its decimal text.
    BigNumber(String),
    /// `*<n>`
    Array(Vec<Value>),
    /// RESP3 `~<n>`
    Set(Vec<Value>),
    /// RESP3 `%<n>`
    Map(Vec<(Value, Value)>),
    /// RESP3 `><n>`: out of band (pub/sub, invalidation), not the reply to a command.
    Push(Vec<Value>),
}

impl Value {
    /// The error's code, the first word of its text (`ERR`, `WRONGTYPE`, `BUSY`, `MOVED`, ...).
    pub fn error_kind(&self) -> Option<&str> {
        match self {
            Value::Error(text) => Some(text.split_whitespace().next().unwrap_or("ERR")),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
}

/// Why bytes from the server are not a reply. After one, the connection cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("a reply cannot start with byte 0x{byte:02x}")]
    UnknownType { byte: u8 },
    #[error("invalid length or count {text:?}")]
    InvalidLength { text: String },
    #[error("invalid integer {text:?}")]
    InvalidInteger { text: String },
    #[error("invalid double {text:?}")]
    InvalidDouble { text: String },
    #[error("invalid boolean {text:?}")]
    InvalidBoolean { text: String },
    #[error("bulk data not followed by \\r\\n")]
    MissingCrlf,
    #[error("line longer than {LINE_BYTES_MAX} bytes")]
    LineTooLong,
    #[error("bulk of {len} bytes is over the {BULK_BYTES_MAX}-byte limit")]
    BulkTooLong { len: usize },
    #[error("aggregates nested deeper than {VALUE_DEPTH_MAX}")]
    TooDeep,
}

/// Parses one reply from the front of `buf`: `Ok(Some((value, consumed)))` when a whole reply is
/// present, `Ok(None)` when more bytes are needed.
pub fn parse_value(buf: &[u8]) -> Result<Option<(Value, usize)>, ValueError> {
    let mut at = 0;
    Ok(parse_at(buf, &mut at, 0)?.map(|value| (value, at)))
}

fn parse_at(buf: &[u8], at: &mut usize, depth: usize) -> Result<Option<Value>, ValueError> {
    if depth > VALUE_DEPTH_MAX {
        return Err(ValueError::TooDeep);
    }
    let Some(&kind) = buf.get(*at) else {
        return Ok(None);
    };
    let Some(line) = line(buf, *at + 1)? else {
        return Ok(None);
    };
    let body_start = *at + 1 + line.len() + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    let value = match kind {
        b'+' => {
            *at = body_start;
            Value::Simple(text())
        }
        b'-' => {
            *at = body_start;
            Value::Error(text())
        }
        b':' => {
            *at = body_start;
            Value::Integer(
                integer(line).ok_or_else(|| ValueError::InvalidInteger { text: text() })?,
            )
        }
        b'_' => {
            *at = body_start;
            Value::Nil
        }
        b',' => {
            *at = body_start;
            let parsed = std::str::from_utf8(line).ok().and_then(|s| s.parse().ok());
            Value::Double(parsed.ok_or_else(|| ValueError::InvalidDouble { text: text() })?)
        }
        b'#' => {
            *at = body_start;
            match line {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                _ => return Err(ValueError::InvalidBoolean { text: text() }),
            }
        }
        b'(' => {
            *at = body_start;
            Value::BigNumber(text())
        }
        b'$' | b'=' | b'!' => {
            let len = integer(line).ok_or_else(|| ValueError::InvalidLength { text: text() })?;
            if len == -1 && kind == b'$' {
                *at = body_start;
                return Ok(Some(Value::Nil));
            }
            let len =
                usize::try_from(len).map_err(|_| ValueError::InvalidLength { text: text() })?;
            if len > BULK_BYTES_MAX {
                return Err(ValueError::BulkTooLong { len });
            }
            let end = body_start + len;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ValueError::MissingCrlf);
            }
            let data = &buf[body_start..end];
            *at = end + 2;
            match kind {
                b'!' => Value::Error(String::from_utf8_lossy(data).into_owned()),
                // Verbatim strings carry a 3-byte format and a colon: `txt:...`.
                b'=' => Value::Bulk(Bytes::copy_from_slice(data.get(4..).unwrap_or_default())),
                _ => Value::Bulk(Bytes::copy_from_slice(data)),
            }
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count = integer(line).ok_or_else(|| ValueError::InvalidLength { text: text() })?;
            if count == -1 && kind == b'*' {
                *at = body_start;
                return Ok(Some(Value::Nil));
            }
            let count =
                usize::try_from(count).map_err(|_| ValueError::InvalidLength { text: text() })?;
            let elements = if matches!(kind, b'%' | b'|') {
                count
                    .checked_mul(2)
                    .ok_or(ValueError::InvalidLength { text: text() })?
            } else {
                count
            };
            let mut cursor = body_start;
            let present = (buf.len() - cursor) / ELEMENT_BYTES_MIN;
            let mut items = Vec::with_capacity(elements.min(present));
            for _ in 0..elements {
                match parse_at(buf, &mut cursor, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            *at = cursor;
            match kind {
                b'*' => Value::Array(items),
                b'~' => Value::Set(items),
                b'>' => Value::Push(items),
                b'%' => Value::Map(pairs(items)),
                _ => {
                    // An attribute annotates the value that follows it; keep only that value.
                    *at = cursor;
                    return parse_at(buf, at, depth + 1);
                }
            }
        }
        other => return Err(ValueError::UnknownType { byte: other }),
    };
    Ok(Some(value))
}

/// The bytes from `from` to the next `\r\n`, if it has arrived.
fn line(buf: &[u8], from: usize) -> Result<Option<&[u8]>, ValueError> {
    let rest = buf.get(from..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) if end <= LINE_BYTES_MAX => Ok(Some(&rest[..end])),
        Some(_) => Err(ValueError::LineTooLong),
        None if rest.len() > LINE_BYTES_MAX + 1 => Err(ValueError::LineTooLong),
        None => Ok(None),
    }
}

fn integer(text: &[u8]) -> Option<i64> {
    super::parse_i64(text)
}

fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        out.push((key, value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Value {
        let (value, used) = parse_value(bytes).expect("valid").expect("complete");
        assert_eq!(used, bytes.len(), "consumed the whole reply");
        value
    }

    #[test]
    fn parses_resp2_replies() {
        assert_eq!(parse_all(b"+OK\r\n"), Value::Simple("OK".into()));
        assert_eq!(
            parse_all(b"-ERR value is not an integer\r\n").error_kind(),
            Some("ERR")
        );
        assert_eq!(parse_all(b":-12\r\n"), Value::Integer(-12));
        assert_eq!(parse_all(b"$3\r\nabc\r\n"), Value::Bulk("abc".into()));
        assert_eq!(parse_all(b"$0\r\n\r\n"), Value::Bulk("".into()));
        assert_eq!(parse_all(b"$-1\r\n"), Value::Nil);
        assert_eq!(parse_all(b"*-1\r\n"), Value::Nil);
        assert_eq!(
            parse_all(b"*3\r\n+QUEUED\r\n:1\r\n*1\r\n-ERR x\r\n"),
            Value::Array(vec![
                Value::Simple("QUEUED".into()),
                Value::Integer(1),
                Value::Array(vec![Value::Error("ERR x".into())]),
            ])
        );
    }

    #[test]
    fn parses_resp3_replies() {
        assert_eq!(parse_all(b"_\r\n"), Value::Nil);
        assert_eq!(parse_all(b",1.5\r\n"), Value::Double(1.5));
        assert_eq!(parse_all(b",-inf\r\n"), Value::Double(f64::NEG_INFINITY));
        assert_eq!(parse_all(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(
            parse_all(b"(123456789012345678901234567890\r\n"),
            Value::BigNumber("123456789012345678901234567890".into())
        );
        assert_eq!(parse_all(b"!9\r\nBUSY slow\r\n").error_kind(), Some("BUSY"));
        assert_eq!(parse_all(b"=8\r\ntxt:abcd\r\n"), Value::Bulk("abcd".into()));
        assert_eq!(
            parse_all(b"%1\r\n+k\r\n:1\r\n"),
            Value::Map(vec![(Value::Simple("k".into()), Value::Integer(1))])
        );
        assert_eq!(
            parse_all(b"~1\r\n:1\r\n"),
            Value::Set(vec![Value::Integer(1)])
        );
        assert_eq!(
            parse_all(b">2\r\n+message\r\n$1\r\nx\r\n"),
            Value::Push(vec![
                Value::Simple("message".into()),
                Value::Bulk("x".into())
            ])
        );
        assert_eq!(
            parse_all(b"|1\r\n+ttl\r\n:3\r\n:42\r\n"),
            Value::Integer(42)
        );
    }

    /// Every strict prefix of a reply is incomplete, never an error or a shorter reply.
    #[test]
    fn prefixes_are_incomplete() {
        let reply = b"*2\r\n$5\r\nhello\r\n%1\r\n+a\r\n|1\r\n+x\r\n+y\r\n,2.5\r\n";
        for cut in 0..reply.len() {
            assert_eq!(
                parse_value(&reply[..cut]),
                Ok(None),
                "prefix of {cut} bytes"
            );
        }
        assert!(parse_value(reply).unwrap().is_some());
    }

    #[test]
    fn leaves_the_next_reply_in_the_buffer() {
        let (value, used) = parse_value(b":1\r\n:2\r\n").unwrap().unwrap();
        assert_eq!((value, used), (Value::Integer(1), 4));
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(matches!(
            parse_value(b"?x\r\n"),
            Err(ValueError::UnknownType { byte: b'?' })
        ));
        assert!(parse_value(b":12a\r\n").is_err());
        assert!(parse_value(b"$-2\r\n").is_err());
        assert!(parse_value(b"$3\r\nabcXY").is_err());
        assert!(parse_value(b"*-5\r\n").is_err());
        let deep = "*1\r\n".repeat(VALUE_DEPTH_MAX + 2);
        assert_eq!(parse_value(deep.as_bytes()), Err(ValueError::TooDeep));
    }

    /// A huge claimed count with few bytes present must not allocate for the claim.
    #[test]
    fn a_claimed_count_is_not_a_budget() {
        assert_eq!(parse_value(b"*4000000000\r\n:1\r\n"), Ok(None));
    }
}
