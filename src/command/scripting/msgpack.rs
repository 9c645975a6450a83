//! `cmsgpack`, the MessagePack library Redis gives scripts, written here in Rust: `pack(...)`,
//! `unpack(data)`, `unpack_one(data, offset)` and `unpack_limit(data, limit, offset)`, with the
//! encoding choices scripts observe in Redis (smallest integer form, float32 when exact, str8
//! for short strings, tables nested deeper than 16 encoded as nil).
//! Invariant: pure functions of their arguments, so scripts stay deterministic.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// Tables nested deeper than this are encoded as nil.
const NESTING_MAX: usize = 16;

pub fn install(lua: &Lua) -> mlua::Result<()> {
    let msgpack = lua.create_table()?;
    msgpack.raw_set(
        "pack",
        lua.create_function(|lua, values: Variadic<Value>| {
            if values.is_empty() {
                return Err(mlua::Error::runtime("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for value in values.iter() {
                encode(value, 0, &mut out)?;
            }
            lua.create_string(&out)
        })?,
    )?;
    msgpack.raw_set(
        "unpack",
        lua.create_function(|lua, data: mlua::String| {
            let data = data.as_bytes();
            let mut offset = 0;
            let mut values = Vec::new();
            while offset < data.len() {
                values.push(decode(lua, &data, &mut offset, 0)?);
            }
            Ok(MultiValue::from_iter(values))
        })?,
    )?;
    msgpack.raw_set(
        "unpack_one",
        lua.create_function(|lua, (data, offset): (mlua::String, Option<i64>)| {
            unpack_limited(lua, &data.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    msgpack.raw_set(
        "unpack_limit",
        lua.create_function(
            |lua, (data, limit, offset): (mlua::String, i64, Option<i64>)| {
                unpack_limited(lua, &data.as_bytes(), limit, offset.unwrap_or(0))
            },
        )?,
    )?;
    lua.globals().raw_set("cmsgpack", msgpack)
}

/// Decodes up to `limit` values (all if `limit` <= 0) from `offset`: the offset after them
/// (-1 at the end of the data), then the values.
fn unpack_limited(lua: &Lua, data: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    if offset < 0 || offset as usize > data.len() {
        return Err(mlua::Error::runtime(
            "Start offset greater than input length.",
        ));
    }
    let mut position = offset as usize;
    let mut values = Vec::new();
    while position < data.len() && (limit <= 0 || (values.len() as i64) < limit) {
        values.push(decode(lua, data, &mut position, 0)?);
    }
    let next = if position >= data.len() {
        -1
    } else {
        position as i64
    };
    let mut out = vec![Value::Integer(next)];
    out.extend(values);
    Ok(MultiValue::from_iter(out))
}

fn encode(value: &Value, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_integer(*n, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Table(table) if depth < NESTING_MAX => encode_table(table, depth, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    let integral = n.is_finite() && n.fract() == 0.0 && n.abs() < 9.2e18;
    if integral && !(n == 0.0 && n.is_sign_negative()) {
        encode_integer(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_integer(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let n = n as u64;
        if n < 128 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

/// The length of `table` if its keys are exactly 1..=n, else None (a map).
fn array_length(table: &Table) -> mlua::Result<Option<usize>> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(n) if n >= 1 => n as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        count += 1;
        max = max.max(index);
    }
    Ok((count == max).then_some(count))
}

fn encode_table(table: &Table, depth: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    if let Some(len) = array_length(table)? {
        encode_header(len, 0x90, 0xdc, 0xdd, out);
        for i in 1..=len {
            encode(&table.raw_get::<Value>(i)?, depth + 1, out)?;
        }
        return Ok(());
    }
    // Two passes rather than collecting the pairs: every Lua value held from Rust takes a slot
    // on a bounded Lua stack, so a big map must be walked one pair at a time.
    let mut count = 0;
    for pair in table.pairs::<Value, Value>() {
        pair?;
        count += 1;
    }
    encode_header(count, 0x80, 0xde, 0xdf, out);
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        encode(&key, depth + 1, out)?;
        encode(&value, depth + 1, out)?;
    }
    Ok(())
}

fn encode_header(len: usize, fix: u8, code16: u8, code32: u8, out: &mut Vec<u8>) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(code16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(code32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn truncated() -> mlua::Error {
    mlua::Error::runtime("Missing bytes in input.")
}

fn take<'a>(data: &'a [u8], offset: &mut usize, n: usize) -> mlua::Result<&'a [u8]> {
    let end = offset.checked_add(n).ok_or_else(truncated)?;
    let slice = data.get(*offset..end).ok_or_else(truncated)?;
    *offset = end;
    Ok(slice)
}

fn be_uint(data: &[u8], offset: &mut usize, n: usize) -> mlua::Result<u64> {
    Ok(take(data, offset, n)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn decode(lua: &Lua, data: &[u8], offset: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > 1000 {
        return Err(mlua::Error::runtime("Bad data format in input."));
    }
    let code = take(data, offset, 1)?[0];
    Ok(match code {
        0x00..=0x7f => Value::Integer(i64::from(code)),
        0x80..=0x8f => decode_map(lua, data, offset, usize::from(code & 0x0f), depth)?,
        0x90..=0x9f => decode_array(lua, data, offset, usize::from(code & 0x0f), depth)?,
        0xa0..=0xbf => {
            Value::String(lua.create_string(take(data, offset, usize::from(code & 0x1f))?)?)
        }
        0xc0 => Value::Nil,
        0xc2 => Value::Boolean(false),
        0xc3 => Value::Boolean(true),
        0xc4 | 0xd9 => {
            let len = be_uint(data, offset, 1)? as usize;
            Value::String(lua.create_string(take(data, offset, len)?)?)
        }
        0xc5 | 0xda => {
            let len = be_uint(data, offset, 2)? as usize;
            Value::String(lua.create_string(take(data, offset, len)?)?)
        }
        0xc6 | 0xdb => {
            let len = be_uint(data, offset, 4)? as usize;
            Value::String(lua.create_string(take(data, offset, len)?)?)
        }
        0xca => Value::Number(f64::from(f32::from_bits(be_uint(data, offset, 4)? as u32))),
        0xcb => Value::Number(f64::from_bits(be_uint(data, offset, 8)?)),
        0xcc => Value::Integer(be_uint(data, offset, 1)? as i64),
        0xcd => Value::Integer(be_uint(data, offset, 2)? as i64),
        0xce => Value::Integer(be_uint(data, offset, 4)? as i64),
        0xcf => Value::Number(be_uint(data, offset, 8)? as f64),
        0xd0 => Value::Integer(i64::from(be_uint(data, offset, 1)? as u8 as i8)),
        0xd1 => Value::Integer(i64::from(be_uint(data, offset, 2)? as u16 as i16)),
        0xd2 => Value::Integer(i64::from(be_uint(data, offset, 4)? as u32 as i32)),
        0xd3 => Value::Integer(be_uint(data, offset, 8)? as i64),
        0xdc => {
            let len = be_uint(data, offset, 2)? as usize;
            decode_array(lua, data, offset, len, depth)?
        }
        0xdd => {
            let len = be_uint(data, offset, 4)? as usize;
            decode_array(lua, data, offset, len, depth)?
        }
        0xde => {
            let len = be_uint(data, offset, 2)? as usize;
            decode_map(lua, data, offset, len, depth)?
        }
        0xdf => {
            let len = be_uint(data, offset, 4)? as usize;
            decode_map(lua, data, offset, len, depth)?
        }
        0xe0..=0xff => Value::Integer(i64::from(code as i8)),
        _ => return Err(mlua::Error::runtime("Bad data format in input.")),
    })
}

fn decode_array(
    lua: &Lua,
    data: &[u8],
    offset: &mut usize,
    len: usize,
    depth: usize,
) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(len.min(1 << 16), 0)?;
    for i in 1..=len {
        table.raw_set(i, decode(lua, data, offset, depth + 1)?)?;
    }
    Ok(Value::Table(table))
}

fn decode_map(
    lua: &Lua,
    data: &[u8],
    offset: &mut usize,
    len: usize,
    depth: usize,
) -> mlua::Result<Value> {
    let table = lua.create_table_with_capacity(0, len.min(1 << 16))?;
    for _ in 0..len {
        let key = decode(lua, data, offset, depth + 1)?;
        let value = decode(lua, data, offset, depth + 1)?;
        if !matches!(key, Value::Nil) {
            table.raw_set(key, value)?;
        }
    }
    Ok(Value::Table(table))
}
