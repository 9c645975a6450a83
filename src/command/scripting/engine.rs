//! The Lua 5.1 engine scripts run in: a fresh, sandboxed Lua state per call (so nothing a script
//! leaves behind can reach the next one, on any replica), the `redis` table, and the RESP<->Lua
//! conversions. Invariant: a script's effects and reply depend only on (keyspace, script, keys,
//! args, [`Cx`]): `math.random` draws from a seed taken from the `Cx`, `TIME` is the log time,
//! and a runaway script is stopped after a fixed instruction count, never by a clock. A run
//! outside the log (the `Cx` carries a [`RunningScript`]) has no instruction budget: SCRIPT
//! KILL stops it, and a speculative one stops at its first write call.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use super::running::{RunningScript, ScriptKind};
use crate::command::{Command, CommandError, Cx, Flags, Reply, ScriptCall};
use crate::keyspace::{sha1_hex, Keyspace};

/// Lua instructions one script may run before it is stopped with [`budget_error`], unless the
/// leader set another budget for the caller's priority class (`Op::UnderBudget`). Counted by a
/// hook, so every replica stops the same script at the same instruction. Lua 5.1 runs roughly
/// 100-300 million simple instructions a second, so this is well under a second of apply.
pub const SCRIPT_INSTRUCTIONS_MAX: u64 = 100_000_000;
/// What one `redis.call`/`redis.pcall` costs against the instruction budget.
const CALL_INSTRUCTIONS: u64 = 1_000;
/// How often (in instructions) the budget hook runs.
const HOOK_INSTRUCTIONS: u32 = 10_000;
/// The field Redis sets in the error tables `redis.call` raises and `redis.pcall` returns: the
/// error was counted (INFO errorstats) when the call failed, so a script that ends with it is
/// not counted again.
const COUNTED_MARK: &str = "ignore_error_stats_update";
/// Deepest table nesting converted to a reply (deeper levels are an error).
const REPLY_DEPTH_MAX: usize = 100;

/// The error a script gets when it exhausts its budget of `max` instructions.
pub fn budget_error(max: u64) -> String {
    format!(
        "ERR Script killed: it ran more than {max} Lua instructions \
         (Tandem's deterministic limit; writes it made before are kept)"
    )
}

/// The error a script gets when SCRIPT KILL (or FUNCTION KILL) stops it.
pub fn killed_error(kind: ScriptKind) -> String {
    let command = match kind {
        ScriptKind::Eval => "SCRIPT",
        ScriptKind::Function => "FUNCTION",
    };
    format!("ERR Script killed by user with {command} KILL...")
}

/// What runs: a script body (EVAL, EVALSHA) or a function of a library (FCALL).
#[derive(Clone, Copy)]
pub enum Program<'a> {
    Script {
        body: &'a [u8],
        sha: &'a str,
    },
    Function {
        code: &'a [u8],
        name: &'a str,
        /// Whether the function declares `allow-oom`.
        allow_oom: bool,
    },
}

impl Program<'_> {
    /// How errors name what ran: the script's SHA-1 or the function's name.
    fn label(&self) -> &str {
        match self {
            Program::Script { sha, .. } => sha,
            Program::Function { name, .. } => name,
        }
    }

    /// Whether its memory-growing calls may run while the leader is over `maxmemory`: it
    /// declares `allow-oom` (or `no-writes`, which allows no such call anyway).
    fn allows_oom(&self) -> bool {
        match self {
            Program::Script { body, .. } => script_flags(body).is_ok_and(|flags| {
                flags.is_some_and(|flags| {
                    flags
                        .iter()
                        .any(|flag| flag == "allow-oom" || flag == "no-writes")
                })
            }),
            Program::Function { allow_oom, .. } => *allow_oom,
        }
    }
}

/// The chunk name scripts are compiled under (errors read `user_script:LINE:`).
const SCRIPT_CHUNK: &str = "user_script";
/// The chunk name libraries are compiled under.
const FUNCTION_CHUNK: &str = "user_function";

/// What the script may reach: the keyspace to change, or only to read (EVAL_RO, EVALSHA_RO).
pub enum Access<'a> {
    Write(&'a mut Keyspace),
    Read(&'a Keyspace),
}

/// The state `redis.call` works on during one script.
struct Session<'a> {
    access: Access<'a>,
    budget: Rc<Budget>,
    cx: &'a mut Cx,
    /// The protocol replies are converted from: 2 or 3 (`redis.setresp`).
    resp: u8,
    /// The limits the leader was under when it accepted the script (`over_memory` only if
    /// the script does not declare `allow-oom`): until the script has written, they refuse
    /// its write calls (too few replicas) and its DENYOOM calls (over `maxmemory`). Redis lets
    /// a script go on once it has written (stopping halfway would break atomicity).
    limits: crate::command::Limits,
    /// Whether the script has called a write command yet.
    wrote: bool,
}

/// Redis's error for a memory-growing call while over `maxmemory`.
const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// Redis's error for a write call while fewer than `min-replicas-to-write` followers are in
/// contact.
const NOREPLICAS_ERROR: &str = "NOREPLICAS Not enough good replicas to write.";

/// Compiles `body` in a throwaway state: the error Redis gives for a script that does not
/// compile, or Ok.
pub fn check_compiles(body: &[u8]) -> Result<(), CommandError> {
    script_flags(body)?;
    let lua = new_state().map_err(|e| CommandError::Script(format!("ERR {e}")))?;
    compile(&lua, &blank_shebang(body), SCRIPT_CHUNK).map(|_| ())
}

/// The flags a script declares in its `#!lua flags=a,b` first line; None without that line
/// (a script without a shebang runs as in Redis 6: it may write, and is read-only only under
/// EVAL_RO).
pub fn script_flags(body: &[u8]) -> Result<Option<Vec<String>>, CommandError> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split(' ').filter(|part| !part.is_empty());
    let engine = parts.next().unwrap_or("#!");
    if engine != "#!lua" {
        return Err(CommandError::Script(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = Vec::new();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(CommandError::Script(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for flag in list.split(',').filter(|flag| !flag.is_empty()) {
            if !crate::keyspace::FUNCTION_FLAGS.contains(&flag) {
                return Err(CommandError::Script(format!(
                    "ERR Unexpected flag in script shebang: {flag}"
                )));
            }
            flags.push(flag.to_string());
        }
    }
    Ok(Some(flags))
}

/// Runs the script `body` (whose SHA-1 is `sha`) with `KEYS` and `ARGV`; its reply, or the
/// error it ended with. Writes it made before an error are kept, as in Redis.
pub fn run(
    program: Program<'_>,
    keys: &[Bytes],
    args: &[Bytes],
    access: Access<'_>,
    cx: &mut Cx,
) -> Reply {
    match run_inner(program, keys, args, access, cx) {
        Ok(reply) => reply,
        Err(error) => Reply::Error(error),
    }
}

fn run_inner(
    program: Program<'_>,
    keys: &[Bytes],
    args: &[Bytes],
    access: Access<'_>,
    cx: &mut Cx,
) -> Result<Reply, String> {
    let lua = new_state().map_err(|e| format!("ERR {e}"))?;
    let seed = cx.random_u64();
    install_random(&lua, seed).map_err(|e| format!("ERR {e}"))?;
    let lua_err = |e: mlua::Error| format!("ERR {e}");
    let (function, chunk) = match program {
        Program::Script { body, .. } => (
            compile(&lua, &blank_shebang(body), SCRIPT_CHUNK).map_err(|e| e.to_string())?,
            SCRIPT_CHUNK,
        ),
        Program::Function { code, .. } => (
            compile(&lua, &blank_shebang(code), FUNCTION_CHUNK).map_err(|e| e.to_string())?,
            FUNCTION_CHUNK,
        ),
    };
    if let Program::Script { .. } = program {
        let globals = lua.globals();
        globals
            .raw_set("KEYS", strings_table(&lua, keys).map_err(lua_err)?)
            .map_err(lua_err)?;
        globals
            .raw_set("ARGV", strings_table(&lua, args).map_err(lua_err)?)
            .map_err(lua_err)?;
    }

    let budget_max = cx.instruction_budget();
    let exhausted = install_budget(
        &lua,
        budget_max,
        budget_error(budget_max),
        cx.running_script().cloned(),
    )
    .map_err(lua_err)?;
    let kind = match program {
        Program::Script { .. } => ScriptKind::Eval,
        Program::Function { .. } => ScriptKind::Function,
    };
    // Applied from the log: registered so the node reports BUSY (and KILL UNKILLABLE) while
    // it runs long; only the budget stops it.
    let _registered = match (cx.running_script(), cx.applied_scripts()) {
        (None, Some(scripts)) => Some(scripts.start(kind, super::running::RunMode::Applied)),
        _ => None,
    };

    let session = RefCell::new(Session {
        access,
        budget: exhausted.clone(),
        limits: crate::command::Limits {
            over_memory: cx.limits().over_memory && !program.allows_oom(),
            too_few_replicas: cx.limits().too_few_replicas,
        },
        cx,
        resp: 2,
        wrote: false,
    });
    let outcome = lua.scope(|scope| {
        let call = scope.create_function(|lua, args: MultiValue| {
            let mut session = session.borrow_mut();
            let (value, failed) = redis_call(lua, &mut session, args)?;
            Ok((value, failed))
        })?;
        // `redis.acl_check_cmd(command, ...)`: whether the script's user may run that call
        // (nothing is logged); an error for a command that does not exist.
        let acl_check = scope.create_function(|lua, args: MultiValue| {
            let mut words = Vec::with_capacity(args.len());
            for arg in args.iter() {
                words.push(match arg {
                    Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
                    Value::Integer(n) => Bytes::from(n.to_string()),
                    Value::Number(_) => match lua.coerce_string(arg.clone())? {
                        Some(s) => Bytes::copy_from_slice(&s.as_bytes()),
                        None => Bytes::new(),
                    },
                    _ => {
                        return Err(mlua::Error::external(CallError(
                            "ERR Lua redis lib command arguments must be strings or integers"
                                .into(),
                        )))
                    }
                });
            }
            let known = words
                .first()
                .and_then(|name| crate::command::table::lookup(name))
                .is_some();
            if !known {
                return Err(mlua::Error::external(CallError(
                    "ERR Invalid command passed to redis.acl_check_cmd()".into(),
                )));
            }
            Ok(session.borrow().cx.caller_allows(&words))
        })?;
        lua.globals()
            .raw_get::<Table>("redis")?
            .raw_set("acl_check_cmd", acl_check)?;
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
        let raising_call = scope.create_function(|lua, args: MultiValue| {
            let mut session = session.borrow_mut();
            let (value, failed) = redis_call(lua, &mut session, args)?;
            if failed {
                let text = match &value {
                    Value::Table(table) => {
                        table.raw_get::<Option<String>>("err")?.unwrap_or_default()
                    }
                    _ => String::new(),
                };
                return Err(mlua::Error::external(CallError(text)));
            }
            Ok(value)
        })?;
        let as_error_value = lua.create_function(|lua, value: Value| {
            if let Value::Error(error) = &value {
                if let Some(text) = call_error_text(error) {
                    let table = lua.create_table()?;
                    table.raw_set("err", text)?;
                    return Ok(Value::Table(table));
                }
            }
            Ok(value)
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
        let loader: mlua::Function = lua
            .load(LOAD_LIBRARY)
            .set_name("=loader")
            .eval()
            .expect("the loader chunk compiles");
        let (runner, script_env): (mlua::Function, Table) = bind.call((
            call,
            raising_call,
            as_error_value,
            setresp,
            stopped,
            error_line_handler(&lua)?,
        ))?;
        let (ok, value): (bool, Value) = match program {
            Program::Script { .. } => runner.call((function, true))?,
            Program::Function { name, .. } => {
                let (loaded, registered): (bool, Value) = loader.call((function, script_env))?;
                let callback = match (loaded, registered) {
                    (true, Value::Table(registered)) => find_callback(&registered, name)?,
                    _ => None,
                };
                let Some(callback) = callback else {
                    return Ok((Err("ERR Function not found".to_string()), false));
                };
                let keys = strings_table(&lua, keys)?;
                let args = strings_table(&lua, args)?;
                runner.call((callback, false, keys, args))?
            }
        };
        let resp = session.borrow().resp;
        let counted = ends_with_call_error(ok, &value);
        Ok(if ok {
            (Ok(lua_to_reply(&value, 0, resp)), counted)
        } else {
            (Err(error_text(&value, program.label(), chunk)), counted)
        })
    });
    lua.remove_hook();
    let outcome = outcome.map(|(result, counted)| {
        let text = match &result {
            Ok(Reply::Error(text)) | Err(text) if counted => Some(text),
            _ => None,
        };
        if let Some(code) = text.and_then(|text| text.split(' ').next()) {
            session.into_inner().cx.uncount_call_error(code);
        }
        result
    });
    match exhausted.stop.get() {
        Some(Stop::Budget) => return Err(budget_error(budget_max)),
        Some(Stop::Killed) => return Err(killed_error(kind)),
        // The reply is void (the caller sends the command to the log): any text will do.
        Some(Stop::NeedsLog) => return Err("ERR the script called a write command".into()),
        None => {}
    }
    match outcome {
        Ok(result) => result,
        Err(e) => Err(format!("ERR {e}")),
    }
}

/// Counts instructions with a hook; past `max` it raises `message` (and keeps raising it). With `script` (a run outside the log) nothing is counted: the hook
/// raises once the script is killed. The returned budget says whether and why it stopped.
fn install_budget(
    lua: &Lua,
    max: u64,
    message: String,
    script: Option<Arc<RunningScript>>,
) -> mlua::Result<Rc<Budget>> {
    let budget = Rc::new(Budget {
        executed: Cell::new(0),
        max,
        stop: Cell::new(None),
        message,
        script,
    });
    let hook_budget = budget.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        move |_, _| {
            hook_budget.charge(u64::from(HOOK_INSTRUCTIONS))?;
            Ok(VmState::Continue)
        },
    )?;
    Ok(budget)
}

/// Why a script was stopped before it returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// It ran past its instruction budget (at apply).
    Budget,
    /// SCRIPT KILL or FUNCTION KILL (a run outside the log).
    Killed,
    /// A speculative run reached a write call: the command goes to the log instead.
    NeedsLog,
}

/// Instructions one script has used, counted by the hook and by `redis.call` (which charges
/// [`CALL_INSTRUCTIONS`] per command, so a loop of commands is stopped about as soon as a loop
/// of Lua is); or, for a run outside the log, whether it was killed.
struct Budget {
    executed: Cell<u64>,
    /// Instructions allowed.
    max: u64,
    stop: Cell<Option<Stop>>,
    message: String,
    script: Option<Arc<RunningScript>>,
}

impl Budget {
    /// Adds `instructions`; an error once past the budget's `max`, or once killed
    /// (outside the log), and on every later call.
    fn charge(&self, instructions: u64) -> mlua::Result<()> {
        if let Some(stop) = self.stop.get() {
            return Err(self.error(stop));
        }
        match &self.script {
            Some(script) => {
                if script.killed() {
                    self.stop.set(Some(Stop::Killed));
                    return Err(self.error(Stop::Killed));
                }
            }
            None => {
                self.executed.set(self.executed.get() + instructions);
                if self.executed.get() > self.max {
                    self.stop.set(Some(Stop::Budget));
                    return Err(self.error(Stop::Budget));
                }
            }
        }
        Ok(())
    }

    /// Stops a speculative run at its first write call.
    fn stop_for_log(&self) {
        if let Some(script) = &self.script {
            script.set_needs_log();
        }
        self.stop.set(Some(Stop::NeedsLog));
    }

    fn error(&self, stop: Stop) -> mlua::Error {
        mlua::Error::runtime(match stop {
            Stop::Budget => self.message.clone(),
            Stop::Killed => "Script killed by user".to_string(),
            Stop::NeedsLog => "the script called a write command".to_string(),
        })
    }

    /// Whether the script was stopped (for any reason).
    fn get(&self) -> bool {
        self.stop.get().is_some()
    }
}

/// The error handler scripts run under: it wraps the error value with the line of the script
/// (or library) that raised it, which Redis appends to the error reply.
fn error_line_handler(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_function(|lua, error: Value| {
        let mut line = None;
        for level in 1..64 {
            let frame = lua.inspect_stack(level, |debug| {
                let source = debug.source().source.map(|s| s.into_owned());
                (source, debug.current_line())
            });
            let Some((source, current)) = frame else {
                break;
            };
            let user = source.is_some_and(|s| {
                s == format!("@{SCRIPT_CHUNK}") || s == format!("@{FUNCTION_CHUNK}")
            });
            if let (true, Some(current)) = (user, current) {
                line = Some(current);
                break;
            }
        }
        let wrapped = lua.create_table()?;
        wrapped.raw_set("error", error)?;
        if let Some(line) = line {
            wrapped.raw_set("line", line)?;
        }
        Ok(wrapped)
    })
}

/// The callback registered under `name` (any case) in the loader's list.
fn find_callback(registered: &Table, name: &str) -> mlua::Result<Option<mlua::Function>> {
    for entry in registered.sequence_values::<Table>() {
        let entry = entry?;
        let entry_name: String = entry.raw_get("name")?;
        if entry_name.eq_ignore_ascii_case(name) {
            return Ok(Some(entry.raw_get("callback")?));
        }
    }
    Ok(None)
}

/// The code with its first (`#!`) line blanked, so line numbers stay as the user wrote them.
fn blank_shebang(code: &[u8]) -> Vec<u8> {
    match code.iter().position(|&b| b == b'\n') {
        Some(end) if code.starts_with(b"#!") => code[end..].to_vec(),
        None if code.starts_with(b"#!") => Vec::new(),
        _ => code.to_vec(),
    }
}

/// What loading a library registered: each function's name, description and flags.
pub type Registered = Vec<crate::keyspace::FunctionInfo>;

/// Runs a library's code (with its `#!` line) as FUNCTION LOAD does: only
/// `redis.register_function`, `redis.log` and the version constants are reachable. Returns the
/// functions it registered, or Redis's error text.
pub fn load_library(code: &[u8]) -> Result<Registered, String> {
    let lua = new_state().map_err(|e| format!("ERR {e}"))?;
    let function = match compile(&lua, &blank_shebang(code), FUNCTION_CHUNK) {
        Ok(function) => function,
        Err(CommandError::Script(text)) => {
            return Err(text.replacen("(new function)", "function", 1).replacen(
                "compiling script",
                "compiling",
                1,
            ))
        }
        Err(other) => return Err(other.to_string()),
    };
    let exhausted = install_budget(
        &lua,
        SCRIPT_INSTRUCTIONS_MAX,
        "FUNCTION LOAD timeout".to_string(),
        None,
    )
    .map_err(|e| format!("ERR {e}"))?;
    let outcome = (|| -> mlua::Result<Result<Registered, String>> {
        let loader: mlua::Function = lua
            .load(LOAD_LIBRARY)
            .set_name("=loader")
            .eval()
            .expect("the loader chunk compiles");
        let (loaded, value): (bool, Value) = loader.call(function)?;
        if !loaded {
            let text = match &value {
                Value::String(text) => text.to_string_lossy(),
                Value::Error(error) => root_message(error),
                Value::Table(table) => table
                    .raw_get::<Option<String>>("err")?
                    .unwrap_or_else(|| "unknown error".into()),
                _ => "unknown error".into(),
            };
            return Ok(Err(format!("ERR Error registering functions: ERR {text}")));
        }
        let Value::Table(registered) = value else {
            return Ok(Err("ERR No functions registered".into()));
        };
        let mut functions = Vec::new();
        for entry in registered.sequence_values::<Table>() {
            let entry = entry?;
            let flags: Table = entry.raw_get("flags")?;
            functions.push(crate::keyspace::FunctionInfo {
                name: entry.raw_get("name")?,
                description: entry.raw_get("description")?,
                flags: flags
                    .sequence_values::<String>()
                    .collect::<mlua::Result<_>>()?,
            });
        }
        Ok(Ok(functions))
    })();
    lua.remove_hook();
    if exhausted.get() {
        return Err("ERR Error registering functions: ERR FUNCTION LOAD timeout".into());
    }
    match outcome {
        Ok(Ok(functions)) if functions.is_empty() => Err("ERR No functions registered".into()),
        Ok(result) => result,
        Err(e) => Err(format!("ERR {e}")),
    }
}

/// Runs a library chunk in the environment FUNCTION LOAD gives it and collects what it
/// registers. `load(chunk)` returns (true, {{name, callback, description, flags}, ...}) or
/// (false, error). Afterwards the chunk's globals resolve to the full script globals (so the
/// callbacks see `redis.call` and the standard libraries; `_G` is `script_env`, the protected
/// view a script gets, when given), and `register_function` refuses.
const LOAD_LIBRARY: &str = r#"
local raw_pcall, rawget, setmetatable, setfenv, type, pairs, ipairs, select, tostring, error =
  pcall, rawget, setmetatable, setfenv, type, pairs, ipairs, select, tostring, error
local find, lower = string.find, string.lower
local globals = _G
local function readonly_view(backing, own_g)
  local view = {}
  setmetatable(view, {
    __index = function(_, name)
      if name == '_G' and own_g ~= nil and own_g() ~= nil then return own_g() end
      local value = rawget(backing(), name)
      if value == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
      end
      return value
    end,
    __newindex = function() error("Attempt to modify a readonly table", 2) end,
    __metatable = false,
  })
  return view
end
local flag_names = {
  ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
  ['no-cluster'] = true, ['allow-cross-slot-keys'] = true,
}
local function fail(text) error(text, 0) end
return function(chunk, script_env)
  local loading = true
  local registered = {}
  local function register(...)
    if not loading then fail("redis.register_function can only be called on FUNCTION LOAD command") end
    local count = select('#', ...)
    local name, callback, description, flags
    if count == 1 then
      local named = ...
      if type(named) ~= 'table' then
        fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
      end
      for key, value in pairs(named) do
        if key == 'function_name' then
          if type(value) ~= 'string' then fail("function_name argument given to redis.register_function must be a string") end
          name = value
        elseif key == 'callback' then
          if type(value) ~= 'function' then fail("callback argument given to redis.register_function must be a function") end
          callback = value
        elseif key == 'description' then
          if type(value) ~= 'string' then fail("description argument given to redis.register_function must be a string") end
          description = value
        elseif key == 'flags' then
          if type(value) ~= 'table' then fail("flags argument to redis.register_function must be a table representing function flags") end
          flags = value
        else
          fail("unknown argument given to redis.register_function")
        end
      end
      if name == nil then fail("redis.register_function must get a function name argument") end
      if callback == nil then fail("redis.register_function must get a callback argument") end
    elseif count == 2 then
      name, callback = ...
      if type(name) ~= 'string' then fail("first argument to redis.register_function must be a string") end
      if type(callback) ~= 'function' then fail("second argument to redis.register_function must be a function") end
    else
      fail("wrong number of arguments to redis.register_function")
    end
    local flag_list = {}
    for _, flag in ipairs(flags or {}) do
      if type(flag) ~= 'string' or not flag_names[flag] then fail("unknown flag given") end
      flag_list[#flag_list + 1] = flag
    end
    if #name == 0 or find(name, '[^%w_]') then
      fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    end
    for _, other in ipairs(registered) do
      if lower(other.name) == lower(name) then fail("Function already exists in the library") end
    end
    registered[#registered + 1] = {
      name = name, callback = callback, description = description, flags = flag_list,
    }
  end
  local load_redis = {
    register_function = register,
    log = globals.redis.log,
    LOG_DEBUG = globals.redis.LOG_DEBUG,
    LOG_VERBOSE = globals.redis.LOG_VERBOSE,
    LOG_NOTICE = globals.redis.LOG_NOTICE,
    LOG_WARNING = globals.redis.LOG_WARNING,
    REDIS_VERSION = globals.redis.REDIS_VERSION,
    REDIS_VERSION_NUM = globals.redis.REDIS_VERSION_NUM,
  }
  local load_globals = { redis = readonly_view(function() return load_redis end) }
  local current = load_globals
  -- Once loaded, the callbacks see the protected globals of a script as `_G`.
  local own_g = function() if not loading then return script_env end end
  setfenv(chunk, readonly_view(function() return current end, own_g))
  local ok, err = raw_pcall(chunk)
  loading = false
  current = globals
  if not ok then return false, err end
  return true, registered
end
"#;

/// Binds the Rust primitives into `redis.call`/`redis.pcall`/`redis.setresp`, then protects
/// the globals and returns the function that runs the script under `pcall` (so an error value
/// reaches Rust intact, table or string) and the protected globals scripts see.
const BIND_CALLS: &str = r#"
return function(raw_call, raising_call, as_error_value, raw_setresp, stopped, on_error)
  -- A script out of budget must not go on by catching the budget error: every way of
  -- catching an error raises it again once the budget is spent.
  local raw_pcall, raw_xpcall, raw_resume = pcall, xpcall, coroutine.resume
  local budget = function(...)
    if stopped() then error("script out of instruction budget", 0) end
    return ...
  end
  -- Errors `redis.call` raises are caught as Redis gives them: a table with an `err` field.
  local caught = function(ok, ...)
    if ok then return budget(ok, ...) end
    return budget(false, as_error_value((...)))
  end
  pcall = function(...) return caught(raw_pcall(...)) end
  xpcall = function(f, handler)
    return budget(raw_xpcall(f, function(e) return handler(as_error_value(e)) end))
  end
  coroutine.resume = function(...) return caught(raw_resume(...)) end
  -- Compiled chunks are refused (as Redis's Lua does): a script only runs source it shows.
  local raw_loadstring = loadstring
  loadstring = function(text, ...)
    if type(text) == 'string' and text:byte(1) == 27 then
      return nil, 'attempt to load a binary chunk'
    end
    return raw_loadstring(text, ...)
  end
  -- A Rust function, so `return redis.call(...)` keeps the caller's frame (and line).
  redis.call = raising_call
  redis.pcall = function(...)
    local reply = raw_call(...)
    return reply
  end
  redis.setresp = function(v) raw_setresp(v) end
  -- Read-only tables, as Redis makes them: the globals, the libraries, and what
  -- getmetatable shows of them. Writing to any of them is an error.
  local readonly_error = function() error("Attempt to modify a readonly table", 2) end
  local readonly = setmetatable({}, { __mode = 'k' })
  local guard = setmetatable({}, { __newindex = readonly_error, __metatable = false })
  readonly[guard] = true
  local protect = function(lib)
    local view = setmetatable({}, { __index = lib, __newindex = readonly_error, __metatable = guard })
    readonly[view] = true
    return view
  end
  for _, name in ipairs({ 'redis', 'cjson', 'bit', 'cmsgpack', 'struct' }) do
    local lib = rawget(_G, name)
    if lib ~= nil then rawset(_G, name, protect(lib)) end
  end
  local raw_setmetatable = setmetatable
  setmetatable = function(t, mt)
    if readonly[t] then readonly_error() end
    return raw_setmetatable(t, mt)
  end
  local env = {}
  raw_setmetatable(env, {
    __index = function(_, name)
      if name == '_G' then return env end
      local value = rawget(_G, name)
      if value == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
      end
      return value
    end,
    __newindex = readonly_error,
    __metatable = guard,
  })
  readonly[env] = true
  local unpack, select = unpack, select
  local runner = function(script, own_env, ...)
    if own_env then setfenv(script, env) end
    local args, count = {...}, select('#', ...)
    return raw_xpcall(function() return script(unpack(args, 1, count)) end, on_error)
  end
  return runner, env
end
"#;

/// Whether a script that ended with `value` (returned if `ok`, else its error handler's
/// wrapper) ends with the error of one of its calls: raised by `redis.call`, or a table
/// `redis.pcall` returned.
fn ends_with_call_error(ok: bool, value: &Value) -> bool {
    let marked = |value: &Value| match value {
        Value::Table(table) => table.raw_get::<bool>(COUNTED_MARK).unwrap_or(false),
        Value::Error(error) => call_error_text(error).is_some(),
        _ => false,
    };
    if ok {
        return marked(value);
    }
    match value {
        Value::Table(wrapper) => marked(&wrapper.raw_get::<Value>("error").unwrap_or(Value::Nil)),
        other => marked(other),
    }
}

/// The reply text for a script that ended with `value` as its error (the handler's wrapper:
/// the error and the line that raised it), as Redis words it: `<error> script: <sha or
/// function>, on @<chunk>:<line>.`
fn error_text(value: &Value, label: &str, chunk: &str) -> String {
    let (error, line) = match value {
        Value::Table(wrapper) if wrapper.contains_key("error").unwrap_or(false) => (
            wrapper.raw_get::<Value>("error").unwrap_or(Value::Nil),
            wrapper.raw_get::<Option<i64>>("line").ok().flatten(),
        ),
        other => (other.clone(), None),
    };
    let suffix = match line {
        Some(line) => format!(" script: {label}, on @{chunk}:{line}."),
        None => format!(" script: {label}"),
    };
    match &error {
        Value::Table(table) => match table.raw_get::<Value>("err") {
            Ok(Value::String(text)) => {
                let text = text.to_string_lossy();
                if text.is_empty() {
                    "ERR".to_string()
                } else {
                    format!("{text}{suffix}")
                }
            }
            _ => format!("ERR unknown error{suffix}"),
        },
        Value::String(text) => format!("ERR {}{suffix}", text.to_string_lossy()),
        Value::Error(error) => match call_error_text(error) {
            Some(text) => format!("{text}{suffix}"),
            None => format!("ERR {}{suffix}", root_message(error)),
        },
        _ => format!("ERR unknown error{suffix}"),
    }
}

/// The error `redis.call` raises: the failed command's error reply.
#[derive(Debug)]
struct CallError(String);

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CallError {}

/// The reply text if `error` is (or wraps) a [`CallError`].
fn call_error_text(error: &mlua::Error) -> Option<String> {
    match error {
        mlua::Error::CallbackError { cause, .. } => call_error_text(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<CallError>().map(|e| e.0.clone()),
        _ => None,
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
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(mlua::Error::runtime("wrong number of arguments"));
            }
            // As Redis: a number hashes its text, anything else not a string the empty string.
            let text = match args.into_iter().next() {
                Some(value @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
                    lua.coerce_string(value)?
                }
                _ => None,
            };
            Ok(sha1_hex(
                &text.map(|t| t.as_bytes().to_vec()).unwrap_or_default(),
            ))
        })?,
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
    let version = crate::command::REDIS_VERSION;
    redis.raw_set("REDIS_VERSION", version)?;
    let number = version
        .split('.')
        .map(|part| part.parse::<i64>().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(3)
        .fold(0, |acc, part| (acc << 8) | part);
    redis.raw_set("REDIS_VERSION_NUM", number)?;
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
fn compile(lua: &Lua, body: &[u8], chunk: &str) -> Result<mlua::Function, CommandError> {
    lua.load(body)
        .set_name(format!("@{chunk}"))
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
        table.raw_set(COUNTED_MARK, true)?;
        Ok((Value::Table(table), true))
    };
    session.budget.charge(CALL_INSTRUCTIONS)?;
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
    let name = crate::command::table::lookup(&words[0]).map(|spec| spec.name);
    let reply = match run_command(session, &words) {
        Ok(reply) => reply,
        // Stopped for the log: raised, so no `pcall` can go on without the write.
        Err(_) if session.budget.get() => return Err(session.budget.error(Stop::NeedsLog)),
        Err(text) => {
            session.cx.record_call(ScriptCall {
                name,
                ran: false,
                error: Some(text.clone()),
                error_counted: true,
            });
            return error(text);
        }
    };
    let failed = matches!(reply, Reply::Error(_));
    session.cx.record_call(ScriptCall {
        name,
        ran: true,
        error: reply.error_text().map(str::to_string),
        error_counted: true,
    });
    let resp = session.resp;
    Ok((reply_to_lua(lua, &reply, resp)?, failed))
}

/// Runs one command a script asked for, refusing what scripts may not run.
fn run_command(session: &mut Session<'_>, words: &[Bytes]) -> Result<Reply, String> {
    // The caller's ACL permissions come first (after the unknown-command, arity and
    // not-from-scripts checks, which the check leaves to the code below), as in Redis.
    if let Some(denial) = session.cx.check_call(words) {
        return Err(denial.script_error());
    }
    let name = words[0].to_ascii_lowercase();
    if name == b"debug" {
        if let Some(reply) = debug_in_script(words) {
            return Ok(reply);
        }
    }
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
        // One database: SELECT 0 changes nothing, another index is an error (as Redis's for
        // an index past `databases`).
        b"select" if words.len() == 2 => {
            return Ok(crate::command::table::select_reply(words));
        }
        b"select" => return Err(arity_error()),
        _ if refused_in_scripts(&name, words.get(1)) => {
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
    if let Command::SortRead(sort) = &command {
        let ks: &Keyspace = match &session.access {
            Access::Write(ks) => ks,
            Access::Read(ks) => ks,
        };
        return Ok(sort
            .read_in_script(ks, session.cx)
            .unwrap_or_else(|e| e.to_reply()));
    }
    Ok(match &mut session.access {
        Access::Write(ks) => {
            if !session.wrote {
                if session.limits.too_few_replicas && command.is_write() {
                    return Err(NOREPLICAS_ERROR.into());
                }
                if session.limits.over_memory && spec.flags.contains(Flags::DENYOOM) {
                    return Err(OOM_ERROR.into());
                }
            }
            if command.is_write() {
                if session
                    .cx
                    .running_script()
                    .is_some_and(|script| script.is_speculative())
                {
                    session.budget.stop_for_log();
                    return Err("ERR the script called a write command".into());
                }
                session.wrote = true;
            }
            command.apply(ks, session.cx)
        }
        Access::Read(ks) => {
            if command.is_write() {
                return Err("ERR Write commands are not allowed from read-only scripts.".into());
            }
            command.read(ks, session.cx)
        }
    })
}

/// The DEBUG subcommands a script may call, which change nothing: PROTOCOL (a reply of each
/// RESP3 type, to test conversions) and SLEEP (a no-op: a script's time is its entry's log
/// time, and apply does not wait). Redis allows them only after DEBUG
/// SET-DISABLE-DENY-SCRIPTS 1; Tandem always does, as they are harmless. None for the others.
// Redis's DEBUG PROTOCOL double is the literal 3.141, not pi.
#[allow(clippy::approx_constant)]
fn debug_in_script(words: &[Bytes]) -> Option<Reply> {
    let sub = words.get(1)?.to_ascii_lowercase();
    let bulk = |text: &'static str| Reply::Bulk(Bytes::from_static(text.as_bytes()));
    Some(match (sub.as_slice(), words.len()) {
        (b"sleep", 3) => Reply::Ok,
        (b"protocol", 3) => match words[2].to_ascii_lowercase().as_slice() {
            b"string" => bulk("Hello World"),
            b"integer" => Reply::Integer(12345),
            b"double" => Reply::Double(3.141),
            b"bignum" => Reply::BigNumber("1234567999999999999999999999999999999".into()),
            b"null" => Reply::Nil,
            b"array" => Reply::Array((0..3).map(Reply::Integer).collect()),
            b"set" => Reply::Set((0..3).map(Reply::Integer).collect()),
            b"map" => Reply::Map(
                (0..3)
                    .map(|j| (Reply::Integer(j), Reply::Boolean(j == 1)))
                    .collect(),
            ),
            // Scripts never see attributes: only the reply that follows one.
            b"attrib" => bulk("Some real reply following the attribute"),
            b"verbatim" => Reply::Verbatim {
                format: "txt".into(),
                text: Bytes::from_static(b"This is a verbatim\nstring"),
            },
            b"true" => Reply::Boolean(true),
            b"false" => Reply::Boolean(false),
            _ => Reply::Error(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"
                    .into(),
            ),
        },
        _ => return None,
    })
}

/// Commands Redis 7.0 flags `noscript` (refused inside scripts whatever their arguments), as
/// lower-case names; also those Tandem serves outside its command model, so a script gets
/// Redis's refusal rather than "unknown command".
const NOSCRIPT_COMMANDS: &[&str] = &[
    "acl",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "blmove",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzpopmax",
    "bzpopmin",
    "client",
    "config",
    "debug",
    "discard",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "failover",
    "fcall",
    "fcall_ro",
    "function",
    "hello",
    "latency",
    "module",
    "monitor",
    "multi",
    "psubscribe",
    "psync",
    "punsubscribe",
    "quit",
    "replconf",
    "replicaof",
    "reset",
    "role",
    "save",
    "script",
    "shutdown",
    "slaveof",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "sync",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
];

/// Whether a script may not call `name` (lower case) with first argument `sub`: Redis's
/// `noscript` commands, and CLUSTER RESET.
fn refused_in_scripts(name: &[u8], sub: Option<&Bytes>) -> bool {
    let name = std::str::from_utf8(name).unwrap_or("");
    NOSCRIPT_COMMANDS.contains(&name)
        || (name == "cluster" && sub.is_some_and(|sub| sub.eq_ignore_ascii_case(b"reset")))
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
        Reply::Error(text) => {
            let table = lua.create_table()?;
            table.raw_set("err", lua.create_string(text)?)?;
            table.raw_set(COUNTED_MARK, true)?;
            Value::Table(table)
        }
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
        Reply::BigNumber(digits) => {
            tagged("big_number", Value::String(lua.create_string(digits)?))?
        }
        Reply::Verbatim { format, text } => {
            let verbatim = lua.create_table()?;
            verbatim.raw_set("format", lua.create_string(format)?)?;
            verbatim.raw_set("string", lua.create_string(text)?)?;
            tagged("verbatim_string", Value::Table(verbatim))?
        }
        Reply::Boolean(value) => Value::Boolean(*value),
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
        // A RESP3 script (`redis.setresp(3)`) returns booleans as booleans.
        Value::Boolean(value) if resp == 3 => Reply::Boolean(*value),
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
    if let Ok(Value::String(digits)) = table.raw_get::<Value>("big_number") {
        // Line breaks would break the frame: Redis turns them into spaces.
        let digits = digits.to_string_lossy().replace(['\r', '\n'], " ");
        return Reply::BigNumber(digits);
    }
    if let Ok(Value::Table(verbatim)) = table.raw_get::<Value>("verbatim_string") {
        let format = verbatim.raw_get::<Option<mlua::String>>("format");
        let text = verbatim.raw_get::<Option<mlua::String>>("string");
        if let (Ok(Some(format)), Ok(Some(text))) = (format, text) {
            return Reply::Verbatim {
                format: format.to_string_lossy(),
                text: Bytes::copy_from_slice(&text.as_bytes()),
            };
        }
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
