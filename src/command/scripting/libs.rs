//! The libraries Redis gives scripts besides the standard ones, written here in Rust: `bit`
//! (LuaBitOp's API: 32-bit operations with signed results) and `cjson` (`encode`, `decode`,
//! `null` and lua-cjson's settings: depth limits, invalid numbers, sparse arrays, precision).
//! Invariant: results depend only on the arguments and the settings the running script made,
//! so scripts stay deterministic.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{LightUserData, Lua, Table, Value, Variadic};

/// Installs `bit`, `cjson`, `cmsgpack` and `struct` as globals of `lua`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    install_bit(lua)?;
    install_cjson(lua)?;
    super::msgpack::install(lua)?;
    super::structlib::install(lua)?;
    Ok(())
}

/// A Lua number as LuaBitOp sees it: its integer part modulo 2^32, as i32.
fn to_bit(value: f64) -> i32 {
    (value as i64) as i32
}

fn install_bit(lua: &Lua) -> mlua::Result<()> {
    let bit = lua.create_table()?;
    bit.raw_set("tobit", lua.create_function(|_, x: f64| Ok(to_bit(x)))?)?;
    bit.raw_set("bnot", lua.create_function(|_, x: f64| Ok(!to_bit(x)))?)?;
    let fold = |lua: &Lua, op: fn(i32, i32) -> i32| {
        lua.create_function(move |_, (first, rest): (f64, Variadic<f64>)| {
            Ok(rest
                .iter()
                .fold(to_bit(first), |acc, &x| op(acc, to_bit(x))))
        })
    };
    bit.raw_set("band", fold(lua, |a, b| a & b)?)?;
    bit.raw_set("bor", fold(lua, |a, b| a | b)?)?;
    bit.raw_set("bxor", fold(lua, |a, b| a ^ b)?)?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (x, n): (f64, f64)| Ok(op(to_bit(x), (to_bit(n) & 31) as u32)))
    };
    bit.raw_set("lshift", shift(lua, |x, n| ((x as u32) << n) as i32)?)?;
    bit.raw_set("rshift", shift(lua, |x, n| ((x as u32) >> n) as i32)?)?;
    bit.raw_set("arshift", shift(lua, |x, n| x >> n)?)?;
    bit.raw_set("rol", shift(lua, |x, n| (x as u32).rotate_left(n) as i32)?)?;
    bit.raw_set("ror", shift(lua, |x, n| (x as u32).rotate_right(n) as i32)?)?;
    bit.raw_set(
        "bswap",
        lua.create_function(|_, x: f64| Ok((to_bit(x) as u32).swap_bytes() as i32))?,
    )?;
    bit.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let x = to_bit(x) as u32;
            let n = n.map_or(8, |n| n as i64);
            let (digits, upper) = if n < 0 { (-n, true) } else { (n, false) };
            let digits = digits.clamp(1, 8) as usize;
            let text = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(text[8 - digits..].to_string())
        })?,
    )?;
    lua.globals().raw_set("bit", bit)
}

/// `cjson.null`: a light userdata that stands for JSON null.
fn null() -> LightUserData {
    LightUserData(std::ptr::null_mut())
}

/// What NaN and infinities encode as (`cjson.encode_invalid_numbers`).
#[derive(Clone, Copy, PartialEq)]
enum InvalidNumbers {
    Refuse,
    Allow,
    AsNull,
}

/// The settings a script may change with `cjson.encode_max_depth` and friends. Each script
/// starts with the defaults (its Lua state is fresh), so a setting never leaks between calls.
struct JsonConfig {
    encode_depth_max: usize,
    decode_depth_max: usize,
    encode_invalid: InvalidNumbers,
    decode_invalid: bool,
    keep_buffer: bool,
    precision: usize,
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
}

impl Default for JsonConfig {
    fn default() -> Self {
        JsonConfig {
            encode_depth_max: 1000,
            decode_depth_max: 1000,
            encode_invalid: InvalidNumbers::Refuse,
            decode_invalid: true,
            keep_buffer: true,
            precision: 14,
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
        }
    }
}

type SharedConfig = Rc<RefCell<JsonConfig>>;

/// A depth setting's new value: an integer in 1..=i32::MAX (None: unchanged).
fn depth_argument(value: Option<f64>) -> mlua::Result<Option<usize>> {
    match value {
        None => Ok(None),
        Some(n) if n >= 1.0 && n <= f64::from(i32::MAX) => Ok(Some(n as usize)),
        Some(_) => Err(mlua::Error::runtime(
            "bad argument #1 (expected integer between 1 and 2147483647)",
        )),
    }
}

fn install_cjson(lua: &Lua) -> mlua::Result<()> {
    let config: SharedConfig = Rc::default();
    let cjson = lua.create_table()?;
    cjson.raw_set("null", Value::LightUserData(null()))?;
    let shared = config.clone();
    cjson.raw_set(
        "encode",
        lua.create_function(move |lua, value: Value| {
            let config = shared.borrow();
            let mut out = Vec::new();
            encode_json(&value, 0, &config, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "decode",
        lua.create_function(move |lua, text: mlua::String| {
            let config = shared.borrow();
            let bytes = text.as_bytes();
            let mut decoder = Decoder {
                lua,
                text: &bytes,
                at: 0,
                depth_max: config.decode_depth_max,
                invalid_numbers: config.decode_invalid,
            };
            decoder.skip_space();
            let value = decoder.value(0)?;
            decoder.skip_space();
            if decoder.at < bytes.len() {
                return Err(decoder.unexpected("the end"));
            }
            Ok(value)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "encode_max_depth",
        lua.create_function(move |_, depth: Option<f64>| {
            let mut config = shared.borrow_mut();
            if let Some(depth) = depth_argument(depth)? {
                config.encode_depth_max = depth;
            }
            Ok(config.encode_depth_max)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "decode_max_depth",
        lua.create_function(move |_, depth: Option<f64>| {
            let mut config = shared.borrow_mut();
            if let Some(depth) = depth_argument(depth)? {
                config.decode_depth_max = depth;
            }
            Ok(config.decode_depth_max)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, setting: Value| {
            let mut config = shared.borrow_mut();
            config.encode_invalid = match setting {
                Value::Nil => config.encode_invalid,
                Value::Boolean(true) => InvalidNumbers::Allow,
                Value::Boolean(false) => InvalidNumbers::Refuse,
                Value::String(s) if s.as_bytes().as_ref() == b"null" => InvalidNumbers::AsNull,
                Value::String(s) if s.as_bytes().as_ref() == b"on" => InvalidNumbers::Allow,
                Value::String(s) if s.as_bytes().as_ref() == b"off" => InvalidNumbers::Refuse,
                _ => return Err(mlua::Error::runtime("bad argument #1 (invalid option)")),
            };
            Ok(match config.encode_invalid {
                InvalidNumbers::Allow => Value::Boolean(true),
                InvalidNumbers::Refuse => Value::Boolean(false),
                InvalidNumbers::AsNull => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "decode_invalid_numbers",
        lua.create_function(move |_, setting: Option<bool>| {
            let mut config = shared.borrow_mut();
            if let Some(setting) = setting {
                config.decode_invalid = setting;
            }
            Ok(config.decode_invalid)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "encode_keep_buffer",
        lua.create_function(move |_, setting: Option<bool>| {
            let mut config = shared.borrow_mut();
            if let Some(setting) = setting {
                config.keep_buffer = setting;
            }
            Ok(config.keep_buffer)
        })?,
    )?;
    let shared = config.clone();
    cjson.raw_set(
        "encode_number_precision",
        lua.create_function(move |_, precision: Option<f64>| {
            let mut config = shared.borrow_mut();
            match precision {
                None => {}
                Some(p) if (1.0..=14.0).contains(&p) => config.precision = p as usize,
                Some(_) => {
                    return Err(mlua::Error::runtime(
                        "bad argument #1 (expected integer between 1 and 14)",
                    ))
                }
            }
            Ok(config.precision)
        })?,
    )?;
    let shared = config;
    cjson.raw_set(
        "encode_sparse_array",
        lua.create_function(
            move |_, (convert, ratio, safe): (Option<bool>, Option<f64>, Option<f64>)| {
                let mut config = shared.borrow_mut();
                if let Some(convert) = convert {
                    config.sparse_convert = convert;
                }
                if let Some(ratio) = ratio {
                    config.sparse_ratio = ratio.max(0.0) as i64;
                }
                if let Some(safe) = safe {
                    config.sparse_safe = safe.max(0.0) as i64;
                }
                Ok((
                    config.sparse_convert,
                    config.sparse_ratio,
                    config.sparse_safe,
                ))
            },
        )?,
    )?;
    cjson.raw_set("_NAME", "cjson")?;
    cjson.raw_set("_VERSION", "2.1.0")?;
    lua.globals().raw_set("cjson", cjson)
}

/// The Lua type name cjson's errors use.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::LightUserData(_) => "lightuserdata",
        Value::Integer(_) => "number",
        other => other.type_name(),
    }
}

fn encode_error(value: &Value, reason: &str) -> mlua::Error {
    mlua::Error::runtime(format!("Cannot serialise {}: {reason}", type_name(value)))
}

/// Appends `value` as JSON, as lua-cjson writes it: keys in the table's own order, numbers
/// as `%.14g`, `/` escaped.
fn encode_json(
    value: &Value,
    depth: usize,
    config: &JsonConfig,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(ud) if ud.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => encode_number(*n as f64, value, config, out)?,
        Value::Number(n) => encode_number(*n, value, config, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(table) => {
            let depth = depth + 1;
            if depth > config.encode_depth_max {
                return Err(mlua::Error::runtime(format!(
                    "Cannot serialise, excessive nesting ({depth})"
                )));
            }
            match array_length(table, config)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode_json(&table.raw_get::<Value>(i)?, depth, config, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in table.pairs::<Value, Value>() {
                        let (key, item) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &key {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(n) => {
                                out.push(b'"');
                                encode_number(*n as f64, &key, config, out)?;
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                encode_number(*n, &key, config, out)?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(encode_error(
                                    other,
                                    "table key must be a number or string",
                                ))
                            }
                        }
                        out.push(b':');
                        encode_json(&item, depth, config, out)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(encode_error(other, "type not supported")),
    }
    Ok(())
}

/// The length of `table` as a JSON array, or None if it is an object: every key a positive
/// integer, and not excessively sparse (which is an error unless sparse arrays convert).
fn array_length(table: &Table, config: &JsonConfig) -> mlua::Result<Option<usize>> {
    let mut max = 0f64;
    let mut items = 0i64;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if index < 1.0 || index.fract() != 0.0 {
            return Ok(None);
        }
        max = max.max(index);
        items += 1;
    }
    let ratio = config.sparse_ratio;
    if ratio > 0 && max > (items * ratio) as f64 && max > config.sparse_safe as f64 {
        if !config.sparse_convert {
            return Err(mlua::Error::runtime(
                "Cannot serialise table: excessively sparse array",
            ));
        }
        return Ok(None);
    }
    Ok(Some(max as usize))
}

fn encode_number(
    n: f64,
    value: &Value,
    config: &JsonConfig,
    out: &mut Vec<u8>,
) -> mlua::Result<()> {
    if !n.is_finite() {
        match config.encode_invalid {
            InvalidNumbers::Refuse => return Err(encode_error(value, "must not be NaN or Inf")),
            InvalidNumbers::AsNull => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            InvalidNumbers::Allow => {}
        }
    }
    let text = crate::command::format_general(n, config.precision);
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A JSON text being decoded into Lua values, as lua-cjson does: objects and arrays become
/// tables, null is `cjson.null`, numbers are Lua numbers.
struct Decoder<'a> {
    lua: &'a Lua,
    text: &'a [u8],
    at: usize,
    depth_max: usize,
    invalid_numbers: bool,
}

impl Decoder<'_> {
    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// cjson's error for an unexpected token where `expected` should be.
    fn unexpected(&self, expected: &str) -> mlua::Error {
        let found = match self.text.get(self.at) {
            None => "the end",
            Some(b'{') => "object start",
            Some(b'}') => "object end",
            Some(b'[') => "array start",
            Some(b']') => "array end",
            Some(b',') => "comma",
            Some(b':') => "colon",
            Some(b'"') => "string",
            _ => "invalid token",
        };
        mlua::Error::runtime(format!(
            "Expected {expected} but found {found} at character {}",
            self.at + 1
        ))
    }

    fn nest(&self, depth: usize) -> mlua::Result<usize> {
        let depth = depth + 1;
        if depth > self.depth_max {
            return Err(mlua::Error::runtime(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.at + 1
            )));
        }
        Ok(depth)
    }

    fn value(&mut self, depth: usize) -> mlua::Result<Value> {
        let rest = &self.text[self.at..];
        match rest.first() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let bytes = self.string()?;
                Ok(Value::String(self.lua.create_string(&bytes)?))
            }
            _ if rest.starts_with(b"true") => {
                self.at += 4;
                Ok(Value::Boolean(true))
            }
            _ if rest.starts_with(b"false") => {
                self.at += 5;
                Ok(Value::Boolean(false))
            }
            _ if rest.starts_with(b"null") => {
                self.at += 4;
                Ok(Value::LightUserData(null()))
            }
            _ => self.number(),
        }
    }

    fn object(&mut self, depth: usize) -> mlua::Result<Value> {
        let depth = self.nest(depth)?;
        self.at += 1;
        let table = self.lua.create_table()?;
        self.skip_space();
        if self.text.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Value::Table(table));
        }
        loop {
            self.skip_space();
            if self.text.get(self.at) != Some(&b'"') {
                return Err(self.unexpected("object key string"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.text.get(self.at) != Some(&b':') {
                return Err(self.unexpected("colon"));
            }
            self.at += 1;
            self.skip_space();
            let value = self.value(depth)?;
            table.raw_set(self.lua.create_string(&key)?, value)?;
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                _ => return Err(self.unexpected("comma or object end")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> mlua::Result<Value> {
        let depth = self.nest(depth)?;
        self.at += 1;
        let table = self.lua.create_table()?;
        self.skip_space();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Value::Table(table));
        }
        let mut index = 1;
        loop {
            self.skip_space();
            let value = self.value(depth)?;
            table.raw_set(index, value)?;
            index += 1;
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Table(table));
                }
                _ => return Err(self.unexpected("comma or array end")),
            }
        }
    }

    /// A string token (at its opening quote): its bytes, escapes resolved (`\u` as UTF-8).
    fn string(&mut self) -> mlua::Result<Vec<u8>> {
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else {
                self.at = start;
                return Err(mlua::Error::runtime(format!(
                    "Expected value but found unexpected end of string at character {}",
                    start + 1
                )));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let escape = self.text.get(self.at).copied();
                    self.at += 1;
                    match escape {
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'/') => out.push(b'/'),
                        Some(b'b') => out.push(0x08),
                        Some(b'f') => out.push(0x0c),
                        Some(b'n') => out.push(b'\n'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let c = self.unicode_escape(start)?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(self.invalid_escape(start)),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn invalid_escape(&self, start: usize) -> mlua::Error {
        mlua::Error::runtime(format!(
            "Expected value but found invalid escape code at character {}",
            start + 1
        ))
    }

    fn hex4(&mut self, start: usize) -> mlua::Result<u32> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.invalid_escape(start))?;
        self.at += 4;
        Ok(digits)
    }

    /// The character of a `\uXXXX` escape (after the `u`), with a following low surrogate.
    fn unicode_escape(&mut self, start: usize) -> mlua::Result<char> {
        let high = self.hex4(start)?;
        let code = if (0xd800..0xdc00).contains(&high) {
            if self.text.get(self.at..self.at + 2) != Some(b"\\u") {
                return Err(self.invalid_escape(start));
            }
            self.at += 2;
            let low = self.hex4(start)?;
            if !(0xdc00..0xe000).contains(&low) {
                return Err(self.invalid_escape(start));
            }
            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.invalid_escape(start))
    }

    fn number(&mut self) -> mlua::Result<Value> {
        let rest = &self.text[self.at..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E' | b'x' | b'X' | b'a'..=b'f' | b'A'..=b'F' | b'n' | b'i' | b'I' | b'N' | b't' | b'y'))
            .unwrap_or(rest.len());
        let token = std::str::from_utf8(&rest[..len]).unwrap_or("");
        let plain = !token.is_empty()
            && token
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
            && token
                .bytes()
                .next()
                .is_some_and(|b| b == b'-' || b.is_ascii_digit());
        let parsed = if plain {
            token.parse::<f64>().ok()
        } else if self.invalid_numbers {
            parse_invalid_number(token)
        } else {
            None
        };
        match parsed {
            Some(n) => {
                self.at += len;
                Ok(Value::Number(n))
            }
            None => Err(self.unexpected("value")),
        }
    }
}

/// What lua-cjson accepts beyond JSON when `decode_invalid_numbers` is on: hexadecimal
/// integers, `nan` and `inf` (any case, optionally signed).
fn parse_invalid_number(token: &str) -> Option<f64> {
    let (negative, body) = match token.as_bytes().first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    let lower = body.to_ascii_lowercase();
    let value = if let Some(hex) = lower.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if lower == "nan" {
        f64::NAN
    } else if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}
