//! The libraries Redis gives scripts besides the standard ones, written here in Rust: `bit`
//! (LuaBitOp's API: 32-bit operations with signed results) and `cjson` (`encode`, `decode`,
//! `null`). Invariant: pure functions of their arguments, so scripts stay deterministic.

use mlua::{LightUserData, Lua, Table, Value, Variadic};

/// Installs `bit` and `cjson` as globals of `lua`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    install_bit(lua)?;
    install_cjson(lua)?;
    super::msgpack::install(lua)?;
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

fn install_cjson(lua: &Lua) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.raw_set("null", Value::LightUserData(null()))?;
    cjson.raw_set(
        "encode",
        lua.create_function(|_, value: Value| {
            let json = to_json(&value, 0)?;
            Ok(json.to_string())
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, text: mlua::String| {
            let json: serde_json::Value =
                serde_json::from_slice(&text.as_bytes()).map_err(|e| {
                    mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
                })?;
            from_json(lua, &json)
        })?,
    )?;
    lua.globals().raw_set("cjson", cjson)
}

const JSON_DEPTH_MAX: usize = 1000;

fn to_json(value: &Value, depth: usize) -> mlua::Result<serde_json::Value> {
    use serde_json::Value as J;
    if depth > JSON_DEPTH_MAX {
        return Err(mlua::Error::runtime(
            "Cannot serialise, excessive nesting (1001)",
        ));
    }
    Ok(match value {
        Value::Nil => J::Null,
        Value::LightUserData(ud) if ud.0.is_null() => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(n) => J::from(*n),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                J::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(J::Null, J::Number)
            }
        }
        Value::String(s) => J::String(s.to_string_lossy()),
        Value::Table(table) => table_to_json(table, depth)?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    })
}

fn table_to_json(table: &Table, depth: usize) -> mlua::Result<serde_json::Value> {
    let len = table.raw_len();
    let mut count = 0usize;
    let mut is_array = true;
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        count += 1;
        let index = match key {
            Value::Integer(n) => Some(n as f64),
            Value::Number(n) => Some(n),
            _ => None,
        };
        if !index.is_some_and(|i| i >= 1.0 && i.fract() == 0.0 && i as usize <= len) {
            is_array = false;
        }
    }
    if is_array && count > 0 {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            items.push(to_json(&table.raw_get::<Value>(i)?, depth + 1)?);
        }
        return Ok(serde_json::Value::Array(items));
    }
    let mut object = serde_json::Map::new();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        let key = match key {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(mlua::Error::runtime(
                    "Cannot serialise table: table key must be a number or string",
                ))
            }
        };
        object.insert(key, to_json(&value, depth + 1)?);
    }
    Ok(serde_json::Value::Object(object))
}

fn from_json(lua: &Lua, json: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match json {
        J::Null => Value::LightUserData(null()),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, from_json(lua, item)?)?;
            }
            Value::Table(table)
        }
        J::Object(map) => {
            let table = lua.create_table_with_capacity(0, map.len())?;
            for (key, value) in map {
                table.raw_set(key.as_str(), from_json(lua, value)?)?;
            }
            Value::Table(table)
        }
    })
}
