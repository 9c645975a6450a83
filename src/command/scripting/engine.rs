//! The Lua 5.1 engine scripts run in: a fresh, sandboxed Lua state per call (so nothing a script
//! leaves behind can reach the next one, on any replica), the `redis` table, and the RESP<->Lua
//! conversions. Invariant: a script's effects and reply depend only on (keyspace, script, keys,
//! args, [`Cx`]): `math.random` draws from a seed taken from the `Cx`, `TIME` is the log time,
//! and a runaway script is stopped after a fixed instruction count, never by a clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::command::{Command, CommandError, Cx, Flags, Reply};
use crate::keyspace::{sha1_hex, Keyspace};

/// Lua instructions one script may run before it is stopped with [`budget_error`]. Counted by a
/// hook, so every replica stops the same script at the same instruction. Lua 5.1 runs roughly
/// 100-300 million simple instructions a second, so this is well under a second of apply.
pub const SCRIPT_INSTRUCTIONS_MAX: u64 = 100_000_000;
/// How often (in instructions) the budget hook runs.
const HOOK_INSTRUCTIONS: u32 = 10_000;
/// Deepest table nesting converted to a reply (deeper levels are an error).
const REPLY_DEPTH_MAX: usize = 100;

/// The error a script gets when it exhausts its instruction budget.
pub fn budget_error() -> String {
    format!(
        "ERR Script killed: it ran more than {SCRIPT_INSTRUCTIONS_MAX} Lua instructions \
         (Tandem's deterministic limit; writes it made before are kept)"
    )
}

/// What the script may reach: the keyspace to change, or only to read (EVAL_RO, EVALSHA_RO).
pub enum Access<'a> {
    Write(&'a mut Keyspace),
    Read(&'a Keyspace),
}

/// The state `redis.call` works on during one script.
struct Session<'a> {
    access: Access<'a>,
    cx: &'a mut Cx,
    /// The protocol replies are converted from: 2 or 3 (`redis.setresp`).
    resp: u8,
}

/// Compiles `body` in a throwaway state: the error Redis gives for a script that does not
/// compile, or Ok.
pub fn check_compiles(body: &[u8]) -> Result<(), CommandError> {
    let lua = new_state().map_err(|e| CommandError::Script(format!("ERR {e}")))?;
    compile(&lua, body).map(|_| ())
}

/// Runs the script `body` (whose SHA-1 is `sha`) with `KEYS` and `ARGV`; its reply, or the
/// error it ended with. Writes it made before an error are kept, as in Redis.
pub fn run(
    body: &[u8],
    sha: &str,
    keys: &[Bytes],
    args: &[Bytes],
    access: Access<'_>,
    cx: &mut Cx,
) -> Reply {
    match run_inner(body, sha, keys, args, access, cx) {
        Ok(reply) => reply,
        Err(error) => Reply::Error(error),
    }
}

fn run_inner(
    body: &[u8],
    sha: &str,
    keys: &[Bytes],
    args: &[Bytes],
    access: Access<'_>,
    cx: &mut Cx,
) -> Result<Reply, String> {
    let lua = new_state().map_err(|e| format!("ERR {e}"))?;
    let seed = cx.random_u64();
    install_random(&lua, seed).map_err(|e| format!("ERR {e}"))?;
    let function = compile(&lua, body).map_err(|e| e.to_string())?;
    let globals = lua.globals();
    let lua_err = |e: mlua::Error| format!("ERR {e}");
    globals
        .raw_set("KEYS", strings_table(&lua, keys).map_err(lua_err)?)
        .map_err(lua_err)?;
    globals
        .raw_set("ARGV", strings_table(&lua, args).map_err(lua_err)?)
        .map_err(lua_err)?;

    let exhausted = Rc::new(Cell::new(false));
    {
        let exhausted = exhausted.clone();
        let executed = Cell::new(0u64);
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
            move |_, _| {
                executed.set(executed.get() + u64::from(HOOK_INSTRUCTIONS));
                if executed.get() > SCRIPT_INSTRUCTIONS_MAX {
                    exhausted.set(true);
                    return Err(mlua::Error::runtime(budget_error()));
                }
                Ok(VmState::Continue)
            },
        )
        .map_err(lua_err)?;
    }

    let session = RefCell::new(Session {
        access,
        cx,
        resp: 2,
    });
    let outcome = lua.scope(|scope| {
        let call = scope.create_function(|lua, args: MultiValue| {
            let mut session = session.borrow_mut();
            let (value, failed) = redis_call(lua, &mut session, args)?;
            Ok((value, failed))
        })?;
        let setresp = scope.create_function(|_, version: Value| {
            let version = match version {
                Value::Integer(n) => n,
                Value::Number(n) => n as i64,
                _ => 0,
            };
            if version != 2 && version != 3 {
                return Err(mlua::Error::runtime(
                    "RESP version must be 2 or 3.".to_string(),
                ));
            }
            session.borrow_mut().resp = version as u8;
            Ok(())
        })?;
        let bind: mlua::Function = lua
            .load(BIND_CALLS)
            .set_name("=bind")
            .eval()
            .expect("the binding chunk compiles");
        let stopped = {
            let exhausted = exhausted.clone();
            lua.create_function(move |_, ()| Ok(exhausted.get()))?
        };
        let runner: mlua::Function = bind.call((call, setresp, stopped))?;
        let (ok, value): (bool, Value) = runner.call(function)?;
        let resp = session.borrow().resp;
        Ok(if ok {
            Ok(lua_to_reply(&value, 0, resp))
        } else {
            Err(error_text(&value, sha))
        })
    });
    lua.remove_hook();
    if exhausted.get() {
        return Err(budget_error());
    }
    match outcome {
        Ok(result) => result,
        Err(e) => Err(format!("ERR {e}")),
    }
}

/// Binds the Rust primitives into `redis.call`/`redis.pcall`/`redis.setresp`, then protects
/// the globals and returns the function that runs the script under `pcall` (so an error value
/// reaches Rust intact, table or string).
const BIND_CALLS: &str = r#"
return function(raw_call, raw_setresp, stopped)
  -- A script out of budget must not go on by catching the budget error: every way of
  -- catching an error raises it again once the budget is spent.
  local raw_pcall, raw_xpcall, raw_resume = pcall, xpcall, coroutine.resume
  local budget = function(...)
    if stopped() then error("script out of instruction budget", 0) end
    return ...
  end
  pcall = function(...) return budget(raw_pcall(...)) end
  xpcall = function(...) return budget(raw_xpcall(...)) end
  coroutine.resume = function(...) return budget(raw_resume(...)) end
  redis.call = function(...)
    local reply, failed = raw_call(...)
    if failed then error(reply, 0) end
    return reply
  end
  redis.pcall = function(...)
    local reply = raw_call(...)
    return reply
  end
  redis.setresp = function(v) raw_setresp(v) end
  local env = {}
  setmetatable(env, {
    __index = function(_, name)
      local value = rawget(_G, name)
      if value == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
      end
      return value
    end,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = false,
  })
  return function(script)
    setfenv(script, env)
    return raw_pcall(script)
  end
end
"#;

/// The reply text for a script that ended with `value` as its error.
fn error_text(value: &Value, sha: &str) -> String {
    match value {
        Value::Table(table) => match table.raw_get::<Value>("err") {
            Ok(Value::String(text)) => {
                let text = text.to_string_lossy();
                if text.is_empty() {
                    "ERR".to_string()
                } else {
                    format!("{text} script: {sha}")
                }
            }
            _ => format!("ERR unknown error script: {sha}"),
        },
        Value::String(text) => format!("ERR {} script: {sha}", text.to_string_lossy()),
        Value::Error(error) => format!("ERR {} script: {sha}", root_message(error)),
        _ => format!("ERR unknown error script: {sha}"),
    }
}

/// The message of the error a Rust callback raised, without mlua's call-stack wrapping.
fn root_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// A Lua state with only what scripts may use: base (minus file access), table, string, math,
/// and the `redis` and `bit` tables.
fn new_state() -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::new(),
    )?;
    let globals = lua.globals();
    for name in [
        "dofile", "loadfile", "print", "module", "require", "newproxy",
    ] {
        globals.raw_set(name, Value::Nil)?;
    }
    let redis = lua.create_table()?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, data: mlua::String| Ok(sha1_hex(&data.as_bytes())))?,
    )?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, text: mlua::String| {
            let table = lua.create_table()?;
            table.raw_set("err", text)?;
            Ok(table)
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, text: mlua::String| {
            let table = lua.create_table()?;
            table.raw_set("ok", text)?;
            Ok(table)
        })?,
    )?;
    redis.raw_set(
        "log",
        lua.create_function(|_, (level, message): (i64, mlua::String)| {
            tracing::info!(level, message = %message.to_string_lossy(), "script log");
            Ok(())
        })?,
    )?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    globals.raw_set("redis", redis)?;
    super::libs::install(&lua)?;
    Ok(lua)
}

/// `math.random` and `math.randomseed` on a generator seeded from the command's context, so
/// every replica draws the same numbers.
fn install_random(lua: &Lua, seed: u64) -> mlua::Result<()> {
    let state = Rc::new(Cell::new(seed));
    let math: Table = lua.globals().raw_get("math")?;
    let next = {
        let state = state.clone();
        move || {
            // SplitMix64, as in `Cx`.
            let value = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(value);
            let mut z = value;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    };
    math.raw_set(
        "random",
        lua.create_function(move |_, (low, high): (Option<f64>, Option<f64>)| {
            let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let (low, high) = match (low, high) {
                (None, _) => return Ok(unit),
                (Some(high), None) => (1.0, high.floor()),
                (Some(low), Some(high)) => (low.floor(), high.floor()),
            };
            if low > high {
                return Err(mlua::Error::runtime(
                    "bad argument to 'random' (interval is empty)",
                ));
            }
            Ok((unit * (high - low + 1.0)).floor() + low)
        })?,
    )?;
    math.raw_set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            state.set(seed.to_bits());
            Ok(())
        })?,
    )?;
    Ok(())
}

/// Compiles a script body as Redis names it (`user_script`), or Redis's compile error.
fn compile(lua: &Lua, body: &[u8]) -> Result<mlua::Function, CommandError> {
    lua.load(body)
        .set_name("@user_script")
        .into_function()
        .map_err(|error| {
            let message = match &error {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            CommandError::Script(format!(
                "ERR Error compiling script (new function): {message}"
            ))
        })
}

fn strings_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let table = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        table.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(table)
}

/// One `redis.call`/`redis.pcall`: (the reply as Lua, whether it is an error).
fn redis_call(
    lua: &Lua,
    session: &mut Session<'_>,
    args: MultiValue,
) -> mlua::Result<(Value, bool)> {
    let error = |text: String| -> mlua::Result<(Value, bool)> {
        let table = lua.create_table()?;
        table.raw_set("err", text)?;
        Ok((Value::Table(table), true))
    };
    if args.is_empty() {
        return error("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut words = Vec::with_capacity(args.len());
    for arg in args.iter() {
        let word = match arg {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Integer(n) => Bytes::from(n.to_string()),
            Value::Number(_) => match lua.coerce_string(arg.clone())? {
                Some(s) => Bytes::copy_from_slice(&s.as_bytes()),
                None => Bytes::new(),
            },
            _ => {
                return error(
                    "ERR Lua redis lib command arguments must be strings or integers".into(),
                )
            }
        };
        words.push(word);
    }
    let reply = match run_command(session, &words) {
        Ok(reply) => reply,
        Err(text) => return error(text),
    };
    let failed = matches!(reply, Reply::Error(_));
    let resp = session.resp;
    Ok((reply_to_lua(lua, &reply, resp)?, failed))
}

/// Runs one command a script asked for, refusing what scripts may not run.
fn run_command(session: &mut Session<'_>, words: &[Bytes]) -> Result<Reply, String> {
    let name = words[0].to_ascii_lowercase();
    match name.as_slice() {
        b"time" => {
            let now_ms = session.cx.now_ms;
            return Ok(Reply::Array(vec![
                Reply::Bulk(Bytes::from((now_ms / 1000).to_string())),
                Reply::Bulk(Bytes::from((now_ms % 1000 * 1000).to_string())),
            ]));
        }
        b"ping" => {
            return Ok(match words.len() {
                1 => Reply::Simple("PONG".into()),
                2 => Reply::Bulk(words[1].clone()),
                _ => return Err(arity_error()),
            });
        }
        b"echo" if words.len() == 2 => return Ok(Reply::Bulk(words[1].clone())),
        b"eval" | b"evalsha" | b"eval_ro" | b"evalsha_ro" | b"script" | b"multi" | b"exec"
        | b"fcall" | b"fcall_ro" | b"function" | b"watch" | b"subscribe" => {
            return Err("ERR This Redis command is not allowed from script".into());
        }
        _ => {}
    }
    let command = match Command::parse(words) {
        Ok(command) => command,
        Err(CommandError::UnknownCommand { .. }) | Err(CommandError::NotData { .. }) => {
            return Err("ERR Unknown Redis command called from script".into())
        }
        Err(CommandError::WrongArity { .. }) => return Err(arity_error()),
        Err(other) => return Ok(other.to_reply()),
    };
    let spec = command.spec();
    if matches!(command, Command::XRead(_) | Command::XReadGroup(_))
        && command.block_timeout_ms().is_some()
    {
        // Redis answers these with an error reply (pcall returns it) rather than raising.
        return Ok(Reply::Error(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(&words[0])
        )));
    }
    if spec.flags.contains(Flags::NOSCRIPT) || command.block_timeout_ms().is_some() {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    Ok(match &mut session.access {
        Access::Write(ks) => command.apply(ks, session.cx),
        Access::Read(ks) => {
            if command.is_write() {
                return Err("ERR Write commands are not allowed from read-only scripts.".into());
            }
            command.read(ks, session.cx)
        }
    })
}

fn arity_error() -> String {
    "ERR Wrong number of args calling Redis command from script".into()
}

/// A command's reply as a script sees it, in protocol `resp` (2 or 3).
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp: u8) -> mlua::Result<Value> {
    if resp == 2 {
        let lowered = reply.to_resp2();
        return reply_to_lua_as(lua, &lowered, false);
    }
    reply_to_lua_as(lua, reply, true)
}

fn reply_to_lua_as(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    let tagged = |tag: &str, value: Value| -> mlua::Result<Value> {
        let table = lua.create_table()?;
        table.raw_set(tag, value)?;
        Ok(Value::Table(table))
    };
    Ok(match reply {
        Reply::Ok => tagged("ok", Value::String(lua.create_string("OK")?))?,
        Reply::Simple(text) => tagged("ok", Value::String(lua.create_string(text)?))?,
        Reply::Error(text) => tagged("err", Value::String(lua.create_string(text)?))?,
        Reply::Integer(n) => Value::Integer(*n),
        Reply::Bulk(bytes) => Value::String(lua.create_string(bytes)?),
        Reply::Nil | Reply::NilArray | Reply::Blocked => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, reply_to_lua_as(lua, item, resp3)?)?;
            }
            Value::Table(table)
        }
        Reply::Double(value) => tagged("double", Value::Number(*value))?,
        Reply::Map(pairs) => {
            let map = lua.create_table()?;
            for (key, value) in pairs {
                map.raw_set(
                    reply_to_lua_as(lua, key, resp3)?,
                    reply_to_lua_as(lua, value, resp3)?,
                )?;
            }
            tagged("map", Value::Table(map))?
        }
        Reply::Pairs(pairs) => {
            let table = lua.create_table_with_capacity(pairs.len(), 0)?;
            for (i, (a, b)) in pairs.iter().enumerate() {
                let pair = lua.create_table_with_capacity(2, 0)?;
                pair.raw_set(1, reply_to_lua_as(lua, a, resp3)?)?;
                pair.raw_set(2, reply_to_lua_as(lua, b, resp3)?)?;
                table.raw_set(i + 1, pair)?;
            }
            Value::Table(table)
        }
        // XREAD's shape: a map in RESP3, an array of [key, entries] pairs in RESP2.
        Reply::KeyedArrays(pairs) => {
            let lowered = if resp3 {
                Reply::Map(pairs.clone())
            } else {
                Reply::Pairs(pairs.clone())
            };
            reply_to_lua_as(lua, &lowered, resp3)?
        }
        Reply::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua_as(lua, item, resp3)?, true)?;
            }
            tagged("set", Value::Table(set))?
        }
    })
}

/// A script's return value as the reply its client gets.
pub fn lua_to_reply(value: &Value, depth: usize, resp: u8) -> Reply {
    if depth > REPLY_DEPTH_MAX {
        return Reply::Error("ERR reached lua stack limit".into());
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(n) => Reply::Integer(*n),
        Value::Number(n) => Reply::Integer(*n as i64),
        Value::Boolean(true) => Reply::Integer(1),
        Value::Boolean(false) | Value::Nil => Reply::Nil,
        Value::Table(table) => table_to_reply(table, depth, resp),
        _ => Reply::Nil,
    }
}

fn table_to_reply(table: &Table, depth: usize, resp: u8) -> Reply {
    if let Ok(Value::String(text)) = table.raw_get::<Value>("err") {
        let text = text.to_string_lossy();
        return Reply::Error(if text.is_empty() { "ERR".into() } else { text });
    }
    if let Ok(Value::String(text)) = table.raw_get::<Value>("ok") {
        return Reply::Simple(text.to_string_lossy());
    }
    match table.raw_get::<Value>("double") {
        Ok(Value::Number(n)) => return Reply::Double(n),
        Ok(Value::Integer(n)) => return Reply::Double(n as f64),
        _ => {}
    }
    if let Ok(Value::Table(map)) = table.raw_get::<Value>("map") {
        let pairs = map
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| {
                (
                    lua_to_reply(&k, depth + 1, resp),
                    lua_to_reply(&v, depth + 1, resp),
                )
            })
            .collect();
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(set)) = table.raw_get::<Value>("set") {
        let items = set
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| lua_to_reply(&k, depth + 1, resp))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match table.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(value) => items.push(lua_to_reply(&value, depth + 1, resp)),
        }
    }
    Reply::Array(items)
}
