//! The `struct` library Redis gives scripts (Roberto Ierusalimschy's struct 0.2): `pack`,
//! `unpack` and `size` convert between Lua values and binary strings laid out by a format.
//!
//! Format: `>` big-endian, `<` little-endian, `=` native (little here), `![n]` align fields to
//! at most n bytes (8 without n; alignment starts off), `x` one padding byte, `b`/`B` signed /
//! unsigned char, `h`/`H` short (2 bytes), `l`/`L` long and `T` size_t (8 bytes), `i[n]`/`I[n]`
//! an integer of n bytes (4 without n; 1 to 32), `c[n]` n characters (`c0`: in `pack` the
//! whole string, in `unpack` as many as the value before it says), `s` a zero-terminated
//! string, `f` float, `d` double; spaces are ignored. Numbers are Lua numbers (doubles), as in
//! Redis's Lua 5.1.

use mlua::{Lua, MultiValue, Value};

/// Default alignment of `!` without a number: a double's, as the C library computes it.
const ALIGN_NATIVE: usize = 8;
/// Largest integer size, as in struct.c.
const INT_SIZE_MAX: usize = 32;
/// Integers are computed on 64 bits (struct.c's `long long`).
const WIDE: usize = 8;

/// Installs the `struct` table in `lua`'s globals.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let table = lua.create_table()?;
    table.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| pack(lua, args))?,
    )?;
    table.raw_set(
        "unpack",
        lua.create_function(
            |lua, (format, data, init): (mlua::String, mlua::String, Option<i64>)| {
                unpack(lua, &format.as_bytes(), &data.as_bytes(), init)
            },
        )?,
    )?;
    table.raw_set(
        "size",
        lua.create_function(|_, format: mlua::String| size(&format.as_bytes()))?,
    )?;
    lua.globals().raw_set("struct", table)
}

/// One item of a format.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Item {
    Pad,
    Int { size: usize, signed: bool },
    Chars(usize),
    ZString,
    Float,
    Double,
}

/// Reads a format: endianness and alignment settings are applied as they come; each data item
/// is handed to `each` with the padding it needs at offset `at` (what `each` returns).
struct Format<'a> {
    text: &'a [u8],
    pos: usize,
    little: bool,
    align: usize,
}

impl<'a> Format<'a> {
    fn new(text: &'a [u8]) -> Self {
        Format {
            text,
            pos: 0,
            little: true,
            align: 1,
        }
    }

    /// Digits at the current position, or `default` if there are none.
    fn number(&mut self, default: usize) -> usize {
        let start = self.pos;
        let mut n: usize = 0;
        while let Some(d) = self.text.get(self.pos).filter(|b| b.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(usize::from(d - b'0'));
            self.pos += 1;
        }
        if self.pos == start {
            default
        } else {
            n
        }
    }

    /// The next data item, or None at the end.
    fn next_item(&mut self) -> mlua::Result<Option<Item>> {
        while let Some(&option) = self.text.get(self.pos) {
            self.pos += 1;
            let item = match option {
                b' ' => continue,
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'<' | b'=' => {
                    self.little = true;
                    continue;
                }
                b'!' => {
                    self.align = self.number(ALIGN_NATIVE);
                    continue;
                }
                b'x' => Item::Pad,
                b'b' | b'B' => Item::Int {
                    size: 1,
                    signed: option == b'b',
                },
                b'h' | b'H' => Item::Int {
                    size: 2,
                    signed: option == b'h',
                },
                b'l' | b'L' | b'T' => Item::Int {
                    size: 8,
                    signed: option == b'l',
                },
                b'i' | b'I' => {
                    let size = self.number(4);
                    if size == 0 || size > INT_SIZE_MAX {
                        return Err(mlua::Error::runtime(format!(
                            "integral size {size} is larger than limit of {INT_SIZE_MAX}"
                        )));
                    }
                    Item::Int {
                        size,
                        signed: option == b'i',
                    }
                }
                b'c' => Item::Chars(self.number(1)),
                b's' => Item::ZString,
                b'f' => Item::Float,
                b'd' => Item::Double,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "invalid format option '{}'",
                        char::from(other)
                    )))
                }
            };
            return Ok(Some(item));
        }
        Ok(None)
    }

    /// Padding bytes before `item` at offset `at` under the current alignment.
    fn padding(&self, item: Item, at: usize) -> mlua::Result<usize> {
        let size = match item {
            Item::Int { size, .. } => size,
            Item::Float => 4,
            Item::Double => 8,
            Item::Pad | Item::Chars(_) | Item::ZString => return Ok(0),
        };
        let align = size.min(self.align);
        if align <= 1 {
            return Ok(0);
        }
        if !align.is_power_of_two() {
            return Err(mlua::Error::runtime("alignment must be power of 2"));
        }
        Ok((align - (at & (align - 1))) & (align - 1))
    }
}

fn number_arg(args: &[Value], index: usize) -> mlua::Result<f64> {
    match args.get(index) {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| bad_argument(index + 1, "pack", "number expected, got string")),
        _ => Err(bad_argument(index + 1, "pack", "number expected")),
    }
}

fn string_arg(args: &[Value], index: usize) -> mlua::Result<Vec<u8>> {
    match args.get(index) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(Value::Integer(n)) => Ok(n.to_string().into_bytes()),
        Some(Value::Number(n)) => Ok(n.to_string().into_bytes()),
        _ => Err(bad_argument(index + 1, "pack", "string expected")),
    }
}

fn bad_argument(arg: usize, function: &str, message: &str) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{arg} to '{function}' ({message})"))
}

fn put_integer(out: &mut Vec<u8>, n: f64, size: usize, little: bool) {
    let value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut bytes: Vec<u8> = (0..size)
        .map(|i| {
            if i < WIDE {
                (value >> (8 * i)) as u8
            } else {
                0
            }
        })
        .collect();
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let size = bytes.len();
    let mut value: u64 = 0;
    for i in 0..size {
        let byte = if little {
            bytes[size - 1 - i]
        } else {
            bytes[i]
        };
        value = (value << 8) | u64::from(byte);
    }
    if !signed {
        return value as f64;
    }
    if size < WIDE {
        let mask = u64::MAX << (size * 8 - 1);
        if value & mask != 0 {
            value |= mask;
        }
    }
    value as i64 as f64
}

/// `struct.pack(format, ...)`.
fn pack(lua: &Lua, args: MultiValue) -> mlua::Result<mlua::String> {
    let args: Vec<Value> = args.into_iter().collect();
    let format = match args.first() {
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        _ => return Err(bad_argument(1, "pack", "string expected")),
    };
    let mut format = Format::new(&format);
    let mut out = Vec::new();
    let mut arg = 1;
    while let Some(item) = format.next_item()? {
        let padding = format.padding(item, out.len())?;
        out.resize(out.len() + padding, 0);
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, .. } => {
                put_integer(&mut out, number_arg(&args, arg)?, size, format.little);
                arg += 1;
            }
            Item::Float | Item::Double => {
                let n = number_arg(&args, arg)?;
                arg += 1;
                let mut bytes = match item {
                    Item::Float => (n as f32).to_le_bytes().to_vec(),
                    _ => n.to_le_bytes().to_vec(),
                };
                if !format.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            Item::Chars(size) => {
                let bytes = string_arg(&args, arg)?;
                let size = if size == 0 { bytes.len() } else { size };
                if bytes.len() < size {
                    return Err(bad_argument(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&bytes[..size]);
                arg += 1;
            }
            Item::ZString => {
                let bytes = string_arg(&args, arg)?;
                if bytes.contains(&0) {
                    return Err(bad_argument(arg + 1, "pack", "string contains zeros"));
                }
                out.extend_from_slice(&bytes);
                out.push(0);
                arg += 1;
            }
        }
    }
    lua.create_string(&out)
}

/// `struct.unpack(format, data [, init])`: the values, then the position after the last.
fn unpack(lua: &Lua, format: &[u8], data: &[u8], init: Option<i64>) -> mlua::Result<MultiValue> {
    let start = init.unwrap_or(1);
    if start < 1 {
        return Err(bad_argument(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = usize::try_from(start - 1).unwrap_or(usize::MAX);
    if pos > data.len() {
        return Err(bad_argument(3, "unpack", "offset must be 1 or greater"));
    }
    let mut format = Format::new(format);
    let mut values: Vec<Value> = Vec::new();
    let short = || bad_argument(2, "unpack", "data string too short");
    while let Some(item) = format.next_item()? {
        pos += format.padding(item, pos)?;
        match item {
            Item::Pad => {
                if pos + 1 > data.len() {
                    return Err(short());
                }
                pos += 1;
            }
            Item::Int { size, signed } => {
                let bytes = data.get(pos..pos + size).ok_or_else(short)?;
                values.push(Value::Number(get_integer(bytes, format.little, signed)));
                pos += size;
            }
            Item::Float | Item::Double => {
                let size = if item == Item::Float { 4 } else { 8 };
                let mut bytes = data.get(pos..pos + size).ok_or_else(short)?.to_vec();
                if !format.little {
                    bytes.reverse();
                }
                let n = if size == 4 {
                    f64::from(f32::from_le_bytes(bytes.try_into().expect("four bytes")))
                } else {
                    f64::from_le_bytes(bytes.try_into().expect("eight bytes"))
                };
                values.push(Value::Number(n));
                pos += size;
            }
            Item::Chars(size) => {
                let size = if size == 0 {
                    match values.pop() {
                        Some(Value::Number(n)) if n >= 0.0 => n as usize,
                        Some(Value::Integer(n)) if n >= 0 => n as usize,
                        _ => return Err(mlua::Error::runtime("format 'c0' needs a previous size")),
                    }
                } else {
                    size
                };
                let bytes = data.get(pos..pos + size).ok_or_else(short)?;
                values.push(Value::String(lua.create_string(bytes)?));
                pos += size;
            }
            Item::ZString => {
                let rest = data.get(pos..).unwrap_or_default();
                let end = rest
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| bad_argument(2, "unpack", "unfinished string in data"))?;
                values.push(Value::String(lua.create_string(&rest[..end])?));
                pos += end + 1;
            }
        }
    }
    values.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_iter(values))
}

/// `struct.size(format)`: the bytes `pack` makes for it.
fn size(format: &[u8]) -> mlua::Result<f64> {
    let mut format = Format::new(format);
    let mut total = 0usize;
    while let Some(item) = format.next_item()? {
        total += format.padding(item, total)?;
        total += match item {
            Item::Pad => 1,
            Item::Int { size, .. } => size,
            Item::Float => 4,
            Item::Double => 8,
            Item::Chars(0) | Item::ZString => {
                return Err(bad_argument(
                    1,
                    "size",
                    "options 'c0' - 's' have undefined sizes",
                ))
            }
            Item::Chars(size) => size,
        };
    }
    Ok(total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        install(&lua).expect("install struct");
        lua
    }

    fn eval<T: mlua::FromLuaMulti>(lua: &Lua, code: &str) -> T {
        lua.load(code).eval().expect(code)
    }

    #[test]
    fn integers_round_trip_in_both_byte_orders() {
        let lua = lua();
        let packed: mlua::String = eval(&lua, "return struct.pack('>I2<i4', 258, -2)");
        assert_eq!(&*packed.as_bytes(), &[1, 2, 0xfe, 0xff, 0xff, 0xff]);
        let (a, b, next): (f64, f64, f64) = eval(
            &lua,
            "return struct.unpack('>I2<i4', struct.pack('>I2<i4', 258, -2))",
        );
        assert_eq!((a, b, next), (258.0, -2.0, 7.0));
        let (b, big): (f64, f64) = eval(
            &lua,
            "return struct.unpack('b>L', '\\255\\0\\0\\0\\0\\0\\0\\1\\0')",
        );
        assert_eq!((b, big), (-1.0, 256.0));
    }

    #[test]
    fn strings_floats_padding_and_alignment() {
        let lua = lua();
        let (s, z, c, next): (String, String, String, f64) = eval(
            &lua,
            "return struct.unpack('c3 s B c0', struct.pack('c3 s B c0', 'abcdef', 'zz', 2, 'xy'))",
        );
        // `B` gives c0 its size in unpack: it is consumed, not returned.
        assert_eq!(
            (s.as_str(), z.as_str(), c.as_str(), next),
            ("abc", "zz", "xy", 10.0)
        );
        let (f, d): (f64, f64) = eval(
            &lua,
            "return struct.unpack('<fd', struct.pack('<fd', 1.5, -0.25))",
        );
        assert_eq!((f, d), (1.5, -0.25));
        let size: f64 = eval(&lua, "return struct.size('!4 b i4 x h')");
        assert_eq!(size, 1.0 + 3.0 + 4.0 + 1.0 + 1.0 + 2.0);
        let packed: mlua::String = eval(&lua, "return struct.pack('!4 b i4', 1, 2)");
        assert_eq!(&*packed.as_bytes(), &[1, 0, 0, 0, 2, 0, 0, 0]);
        let (value, next): (f64, f64) = eval(&lua, "return struct.unpack('B', 'xyz', 2)");
        assert_eq!((value, next), (f64::from(b'y'), 3.0));
    }

    #[test]
    fn errors_name_the_problem() {
        let lua = lua();
        let error = |code: &str| lua.load(code).exec().unwrap_err().to_string();
        assert!(error("struct.pack('q', 1)").contains("invalid format option 'q'"));
        assert!(error("struct.unpack('i4', 'ab')").contains("data string too short"));
        assert!(error("struct.size('s')").contains("undefined sizes"));
        assert!(error("struct.pack('c5', 'ab')").contains("string too short"));
        assert!(error("struct.unpack('s', 'ab')").contains("unfinished string"));
        assert!(error("struct.pack('i40', 1)").contains("integral size 40"));
        assert!(error("struct.pack('i', 'x')").contains("number expected"));
    }
}
