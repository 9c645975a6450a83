//! The protocol-agnostic reply tree every command produces.
//! Invariant: each variant has one RESP3 rendering and one RESP2 rendering,
//! and `to_resp2` gives the tree whose plain rendering is Redis 7's RESP2 bytes.

use bytes::Bytes;

/// A command's reply. The RESP codec renders it as RESP2 or RESP3.
///
/// Where Redis 7 sends a richer RESP3 type, the richer variant is used here
/// (`Double`, `Map`, `Pairs`, `Set`); [`Reply::to_resp2`] lowers those to what Redis
/// sends a RESP2 client.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// `+OK`
    Ok,
    /// A status line, e.g. TYPE's `+string`.
    Simple(String),
    /// Full error text, e.g. "WRONGTYPE Operation against ...".
    Error(String),
    Integer(i64),
    Bulk(Bytes),
    /// RESP2 `$-1`, RESP3 `_`.
    Nil,
    /// RESP2 `*-1` (e.g. aborted EXEC), RESP3 `_`.
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 `,` double; RESP2 bulk string formatted by [`format_double`].
    Double(f64),
    /// RESP3 `%` map (HGETALL); RESP2 flat array `k1 v1 k2 v2 ...`.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 array of 2-element arrays (ZRANGE ... WITHSCORES);
    /// RESP2 flat array `m1 s1 m2 s2 ...`.
    Pairs(Vec<(Reply, Reply)>),
    /// Internal, never sent to a client: a blocking command found nothing and registered its
    /// waiter; the client's connection waits for the waiter's outcome instead.
    Blocked,
    /// RESP3 `~` set (SMEMBERS, SINTER, SPOP with a count); RESP2 array.
    Set(Vec<Reply>),
    /// RESP3 `%` map; RESP2 array of 2-element arrays (XREAD, XREADGROUP).
    KeyedArrays(Vec<(Reply, Reply)>),
    /// RESP3 `(` big number, its decimal digits (a script's `{big_number=...}`); RESP2 bulk
    /// string.
    BigNumber(String),
    /// RESP3 `=` verbatim string: a three-letter format (`txt`, `mkd`) and the text; RESP2 bulk
    /// string of the text.
    Verbatim {
        format: String,
        text: Bytes,
    },
    /// RESP3 `#t` / `#f`; RESP2 integer 1 / 0.
    Boolean(bool),
}

impl Reply {
    /// The error's text, if this reply is an error.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Reply::Error(text) => Some(text),
            _ => None,
        }
    }

    pub fn bulk(bytes: &Bytes) -> Reply {
        Reply::Bulk(bytes.clone())
    }

    /// The same reply as a RESP2 client sees it: doubles become bulk strings,
    /// maps and pairs become flat arrays, sets become arrays. Idempotent.
    pub fn to_resp2(&self) -> Reply {
        match self {
            Reply::Double(value) => Reply::Bulk(Bytes::from(format_double(*value))),
            Reply::Array(items) | Reply::Set(items) => {
                Reply::Array(items.iter().map(Reply::to_resp2).collect())
            }
            Reply::KeyedArrays(pairs) => Reply::Array(
                pairs
                    .iter()
                    .map(|(a, b)| Reply::Array(vec![a.to_resp2(), b.to_resp2()]))
                    .collect(),
            ),
            Reply::Map(pairs) | Reply::Pairs(pairs) => Reply::Array(
                pairs
                    .iter()
                    .flat_map(|(a, b)| [a.to_resp2(), b.to_resp2()])
                    .collect(),
            ),
            Reply::BigNumber(digits) => Reply::Bulk(Bytes::from(digits.clone())),
            Reply::Verbatim { text, .. } => Reply::Bulk(text.clone()),
            Reply::Boolean(value) => Reply::Integer(i64::from(*value)),
            other => other.clone(),
        }
    }
}

/// Redis 7.0's text for a double, C's `%.17g`: 17 significant digits with trailing zeros
/// dropped (so 1.1 is `1.1000000000000001`, 2.5 is `2.5`), plain notation for decimal
/// exponents -4..=16, otherwise `d.ddde+XX`; and `inf` / `-inf`.
pub fn format_double(value: f64) -> String {
    format_general(value, 17)
}

/// C's `%.<precision>g` (`precision` significant digits, 1..=17): trailing zeros dropped,
/// plain notation for decimal exponents -4..precision, otherwise `d.ddde+XX`; `inf`, `-inf`,
/// `nan`.
pub fn format_general(value: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if value.is_nan() {
        return "nan".to_string();
    }
    // `{:.N$e}` gives N+1 significant digits, correctly rounded, as "d.ddde<exp>".
    let scientific = format!("{value:.*e}", precision - 1);
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always contains an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // %g drops trailing zeros (keeping one digit).
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let mut out = String::from(sign);
    if !(-4..precision as i32).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.unsigned_abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let integer_len = exponent as usize + 1;
        if digits.len() <= integer_len {
            out.push_str(digits);
            for _ in digits.len()..integer_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..integer_len]);
            out.push('.');
            out.push_str(&digits[integer_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_double_matches_redis() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-3.0, "-3"),
            (1.1, "1.1000000000000001"),
            (2.5, "2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1.25e100, "1.25e+100"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (9007199254740993.0, "9007199254740992"),
            (-2.5e-300, "-2.5e-300"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_double(*value), *expected, "{value:?}");
        }
    }

    #[test]
    fn format_general_is_c_percent_g() {
        assert_eq!(format_general(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_general(1e20, 14), "1e+20");
        assert_eq!(format_general(100.0, 14), "100");
        assert_eq!(
            format_general(12345678901234567.0, 14),
            "1.2345678901235e+16"
        );
        assert_eq!(format_general(0.0003, 14), "0.0003");
        assert_eq!(format_general(-5000.0, 14), "-5000");
    }

    #[test]
    fn resp2_lowering_flattens_maps_pairs_and_doubles() {
        let reply = Reply::Pairs(vec![(Reply::Bulk("a".into()), Reply::Double(1.5))]);
        assert_eq!(
            reply.to_resp2(),
            Reply::Array(vec![Reply::Bulk("a".into()), Reply::Bulk("1.5".into())])
        );
        let set = Reply::Set(vec![Reply::Bulk("m".into())]);
        assert_eq!(set.to_resp2(), Reply::Array(vec![Reply::Bulk("m".into())]));
        let map = Reply::Map(vec![(Reply::Bulk("f".into()), Reply::Bulk("v".into()))]);
        assert_eq!(
            map.to_resp2(),
            Reply::Array(vec![Reply::Bulk("f".into()), Reply::Bulk("v".into())])
        );
    }
}
