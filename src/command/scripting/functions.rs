//! FUNCTION (LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE, STATS, KILL, HELP), FCALL and FCALL_RO.
//! A library is Lua code whose first line is `#!lua name=<library>`; loading it runs the code
//! once, in an environment that offers only `redis.register_function` (and `redis.log`), to
//! learn its functions. Every FUNCTION subcommand is one log entry, so every replica holds the
//! same libraries ([`crate::keyspace::Libraries`]); FCALL is one log entry like EVAL.
//! The DUMP payload is Tandem's own format (see [`dump_payload`]), not Redis's RDB encoding.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::engine::{self, Access, Program};
use super::eval_keys;
use crate::command::spec::Flags;
use crate::command::{
    is_option, Args, Command, CommandError, CommandSpec, Cx, Group, KeySpec, Reply,
};
use crate::keyspace::{glob_match, Keyspace, Library, LibraryConflict};

const FCALL_FLAGS: Flags = Flags::WRITE
    .union(Flags::NOSCRIPT)
    .union(Flags::SKIP_MONITOR)
    .union(Flags::MAY_REPLICATE)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE);
const FCALL_RO_FLAGS: Flags = Flags::READONLY
    .union(Flags::NOSCRIPT)
    .union(Flags::SKIP_MONITOR)
    .union(Flags::NO_MANDATORY_KEYS)
    .union(Flags::STALE);

fn script_error(text: impl Into<String>) -> CommandError {
    CommandError::Script(text.into())
}

/// FCALL's `numkeys` and the keys and arguments after it, with Redis's errors.
fn split_fcall_keys(args: Args<'_>) -> Result<(Vec<Bytes>, Vec<Bytes>), CommandError> {
    let count = std::str::from_utf8(args.at(2))
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| script_error("ERR Bad number of keys provided"))?;
    if count < 0 {
        return Err(script_error("ERR Number of keys can't be negative"));
    }
    let rest = args.from(3);
    let count = count as usize;
    if count > rest.len() {
        return Err(script_error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok((rest[..count].to_vec(), rest[count..].to_vec()))
}

/// Runs function `name` with the keyspace writable, unless it is flagged `no-writes` or the
/// call is FCALL_RO (`read_only`).
fn call_function(
    ks: &mut Keyspace,
    cx: &mut Cx,
    name: &Bytes,
    keys: &[Bytes],
    args: &[Bytes],
    read_only: bool,
) -> Result<Reply, CommandError> {
    let name = String::from_utf8_lossy(name);
    let Some((library, function)) = ks.functions().function(&name) else {
        return Err(script_error("ERR Function not found"));
    };
    let no_writes = function.has_flag("no-writes");
    if read_only && !no_writes {
        return Err(script_error(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let code = library.code.clone();
    let name = function.name.clone();
    let program = Program::Function {
        code: &code,
        name: &name,
        allow_oom: function.has_flag("allow-oom"),
    };
    let access = if no_writes || read_only {
        Access::Read(ks)
    } else {
        Access::Write(ks)
    };
    Ok(engine::run(program, keys, args, access, cx))
}

/// `FCALL function numkeys [key ...] [arg ...]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FCall {
    pub function: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl FCall {
    pub const SPEC: CommandSpec = CommandSpec::data("fcall", -3, Group::Scripting, FCall::parse)
        .flags(FCALL_FLAGS)
        .keys(KeySpec::movable(0, 0, 0, eval_keys))
        .docs(
            "7.0.0",
            "Invokes a function.",
            &["function", "numkeys", "[key...]", "[arg...]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_fcall_keys(args)?;
        Ok(FCall {
            function: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(in crate::command) fn apply(
        &self,
        ks: &mut Keyspace,
        cx: &mut Cx,
    ) -> Result<Reply, CommandError> {
        call_function(ks, cx, &self.function, &self.keys, &self.args, false)
    }
}

/// `FCALL_RO function numkeys [key ...] [arg ...]`: a read; only functions flagged
/// `no-writes` may run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FCallRo {
    pub function: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
}

impl FCallRo {
    pub const SPEC: CommandSpec =
        CommandSpec::data("fcall_ro", -3, Group::Scripting, FCallRo::parse)
            .flags(FCALL_RO_FLAGS)
            .keys(KeySpec::movable(0, 0, 0, eval_keys))
            .docs(
                "7.0.0",
                "Invokes a read-only function.",
                &["function", "numkeys", "[key...]", "[arg...]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (keys, rest) = split_fcall_keys(args)?;
        Ok(FCallRo {
            function: args.key(1),
            keys,
            args: rest,
        }
        .into())
    }

    pub(in crate::command) fn read(
        &self,
        ks: &Keyspace,
        cx: &mut Cx,
    ) -> Result<Reply, CommandError> {
        let name = String::from_utf8_lossy(&self.function);
        let Some((library, function)) = ks.functions().function(&name) else {
            return Err(script_error("ERR Function not found"));
        };
        if !function.has_flag("no-writes") {
            return Err(script_error(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
        let code = library.code.clone();
        let name = function.name.clone();
        let program = Program::Function {
            code: &code,
            name: &name,
            allow_oom: function.has_flag("allow-oom"),
        };
        Ok(engine::run(
            program,
            &self.keys,
            &self.args,
            Access::Read(ks),
            cx,
        ))
    }
}

/// What FUNCTION RESTORE does with libraries already loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestorePolicy {
    Flush,
    Append,
    Replace,
}

/// What a FUNCTION command asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FunctionRequest {
    Load {
        code: Bytes,
        replace: bool,
    },
    Delete(Bytes),
    Flush,
    List {
        pattern: Option<Bytes>,
        with_code: bool,
    },
    Dump,
    Restore {
        payload: Bytes,
        policy: RestorePolicy,
    },
    Stats,
    Kill,
    Help,
}

/// `FUNCTION <subcommand> ...`. Every subcommand goes through the log: the libraries are
/// replicated state, and reads so answered are linearizable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub request: FunctionRequest,
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

fn wrong_subcommand_arity(sub: &str) -> CommandError {
    script_error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
    ))
}

impl Function {
    pub const SPEC: CommandSpec =
        CommandSpec::data("function", -2, Group::Scripting, Function::parse)
            .flags(Flags::WRITE.union(Flags::NOSCRIPT))
            .docs(
                "7.0.0",
                "Manages function libraries: LOAD, DELETE, FLUSH, LIST, DUMP, RESTORE, STATS, \
                 KILL (never busy in Tandem), HELP.",
                &["subcommand", "[arg...]"],
            );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1).to_ascii_lowercase();
        let arity = |name: &'static str| CommandError::WrongArity { command: name };
        let request = match sub.as_slice() {
            b"load" => {
                if args.len() < 3 {
                    return Err(arity("function|load"));
                }
                let last = args.len() - 1;
                let mut replace = false;
                for option in &args.from(2)[..last - 2] {
                    if is_option(option, "replace") {
                        replace = true;
                    } else {
                        return Err(script_error(format!(
                            "ERR Unknown option given: {}",
                            String::from_utf8_lossy(option)
                        )));
                    }
                }
                FunctionRequest::Load {
                    code: args.key(last),
                    replace,
                }
            }
            b"delete" if args.len() == 3 => FunctionRequest::Delete(args.key(2)),
            b"delete" => return Err(arity("function|delete")),
            b"flush" => match args.len() {
                2 => FunctionRequest::Flush,
                3 if is_option(args.at(2), "async") || is_option(args.at(2), "sync") => {
                    FunctionRequest::Flush
                }
                3 => {
                    return Err(script_error(
                        "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
                    ))
                }
                _ => return Err(wrong_subcommand_arity("flush")),
            },
            b"list" => Self::parse_list(args)?,
            b"dump" if args.len() == 2 => FunctionRequest::Dump,
            b"dump" => return Err(arity("function|dump")),
            b"restore" => {
                let policy = match args.len() {
                    0..=2 => return Err(arity("function|restore")),
                    3 => RestorePolicy::Append,
                    4 if is_option(args.at(3), "flush") => RestorePolicy::Flush,
                    4 if is_option(args.at(3), "append") => RestorePolicy::Append,
                    4 if is_option(args.at(3), "replace") => RestorePolicy::Replace,
                    4 => {
                        return Err(script_error(
                            "ERR Wrong restore policy given, value should be either FLUSH, \
                             APPEND or REPLACE.",
                        ))
                    }
                    _ => return Err(wrong_subcommand_arity("restore")),
                };
                FunctionRequest::Restore {
                    payload: args.key(2),
                    policy,
                }
            }
            b"stats" if args.len() == 2 => FunctionRequest::Stats,
            b"stats" => return Err(arity("function|stats")),
            b"kill" if args.len() == 2 => FunctionRequest::Kill,
            b"kill" => return Err(arity("function|kill")),
            b"help" if args.len() == 2 => FunctionRequest::Help,
            b"help" => return Err(arity("function|help")),
            _ => {
                return Err(script_error(format!(
                    "ERR unknown subcommand '{}'. Try FUNCTION HELP.",
                    String::from_utf8_lossy(args.at(1))
                )))
            }
        };
        Ok(Function { request }.into())
    }

    fn parse_list(args: Args<'_>) -> Result<FunctionRequest, CommandError> {
        let mut pattern = None;
        let mut with_code = false;
        let mut i = 2;
        while i < args.len() {
            let word = args.at(i);
            if is_option(word, "withcode") && !with_code {
                with_code = true;
            } else if is_option(word, "libraryname") && pattern.is_none() {
                if i + 1 >= args.len() {
                    return Err(script_error("ERR library name argument was not given"));
                }
                pattern = Some(args.key(i + 1));
                i += 1;
            } else {
                return Err(script_error(format!(
                    "ERR Unknown argument {}",
                    String::from_utf8_lossy(word)
                )));
            }
            i += 1;
        }
        Ok(FunctionRequest::List { pattern, with_code })
    }

    pub(in crate::command) fn apply(
        &self,
        ks: &mut Keyspace,
        _cx: &mut Cx,
    ) -> Result<Reply, CommandError> {
        Ok(match &self.request {
            FunctionRequest::Load { code, replace } => {
                let library = compile_library(code)?;
                let name = library.name.clone();
                ks.functions_mut().add(vec![library], *replace).map_err(
                    |conflict| match conflict {
                        LibraryConflict::Library(name) => {
                            script_error(format!("ERR Library '{name}' already exists"))
                        }
                        LibraryConflict::Function(name) => {
                            script_error(format!("ERR Function {name} already exists"))
                        }
                    },
                )?;
                Reply::Bulk(Bytes::from(name))
            }
            FunctionRequest::Delete(name) => {
                match ks.functions_mut().remove(&String::from_utf8_lossy(name)) {
                    Some(_) => Reply::Ok,
                    None => return Err(script_error("ERR Library not found")),
                }
            }
            FunctionRequest::Flush => {
                ks.functions_mut().clear();
                Reply::Ok
            }
            FunctionRequest::List { pattern, with_code } => {
                list_reply(ks, pattern.as_deref(), *with_code)
            }
            FunctionRequest::Dump => Reply::Bulk(dump_payload(ks.functions().iter())),
            FunctionRequest::Restore { payload, policy } => {
                let codes = parse_payload(payload).ok_or_else(|| {
                    script_error("ERR DUMP payload version or checksum are wrong")
                })?;
                let libraries = codes
                    .iter()
                    .map(compile_library)
                    .collect::<Result<Vec<_>, _>>()?;
                let mut next = ks.functions().clone();
                if *policy == RestorePolicy::Flush {
                    next.clear();
                }
                next.add(libraries, *policy == RestorePolicy::Replace)
                    .map_err(|conflict| match conflict {
                        LibraryConflict::Library(name) => {
                            script_error(format!("ERR Library {name} already exists"))
                        }
                        LibraryConflict::Function(name) => {
                            script_error(format!("ERR Function {name} already exists"))
                        }
                    })?;
                *ks.functions_mut() = next;
                Reply::Ok
            }
            FunctionRequest::Stats => stats_reply(ks, None),
            FunctionRequest::Kill => return Err(CommandError::NotBusy),
            FunctionRequest::Help => Reply::Array(
                FUNCTION_HELP
                    .iter()
                    .map(|line| Reply::Simple((*line).to_string()))
                    .collect(),
            ),
        })
    }
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// FUNCTION LIST's reply: per library a map of name, engine, functions (and code).
fn list_reply(ks: &Keyspace, pattern: Option<&[u8]>, with_code: bool) -> Reply {
    let libraries = ks
        .functions()
        .iter()
        .filter(|library| pattern.is_none_or(|p| glob_match(p, library.name.as_bytes())))
        .map(|library| {
            let mut functions: Vec<_> = library.functions.iter().collect();
            functions.sort_by(|a, b| a.name.cmp(&b.name));
            let functions = functions
                .into_iter()
                .map(|function| {
                    Reply::Map(vec![
                        (bulk("name"), bulk(&function.name)),
                        (
                            bulk("description"),
                            function.description.as_deref().map_or(Reply::Nil, bulk),
                        ),
                        (
                            bulk("flags"),
                            Reply::Set(
                                function
                                    .flags
                                    .iter()
                                    .map(|flag| Reply::Simple(flag.clone()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (bulk("library_name"), bulk(&library.name)),
                (bulk("engine"), bulk("LUA")),
                (bulk("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((bulk("library_code"), Reply::Bulk(library.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Reply::Array(libraries)
}

/// Parses the `#!lua name=<library>` line and loads the code: the library, or Redis's error.
pub fn compile_library(code: &Bytes) -> Result<Library, CommandError> {
    let name = parse_shebang(code).map_err(script_error)?;
    let functions = engine::load_library(code).map_err(script_error)?;
    Ok(Library {
        name,
        code: code.clone(),
        functions,
    })
}

/// The library name from the first line, `#!<engine> name=<name>`, with Redis's errors.
fn parse_shebang(code: &[u8]) -> Result<String, String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut parts = line.split(' ');
    let engine = parts.next().unwrap_or("");
    let mut name = None;
    for part in parts.filter(|part| !part.is_empty()) {
        let Some(value) = part.strip_prefix("name=") else {
            return Err(format!("ERR Invalid metadata value given: {part}"));
        };
        if name.is_some() {
            return Err(
                "ERR Invalid metadata value, name argument was given multiple times".into(),
            );
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        name = Some(value.to_string());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(
            "ERR Library names can only contain letters, numbers, or underscores(_) and \
                    must be at least one character long"
                .into(),
        );
    }
    Ok(name)
}

/// Magic at the start of a FUNCTION DUMP payload.
const DUMP_MAGIC: &[u8; 4] = b"TFNC";
/// Version of the payload layout written by this build.
const DUMP_VERSION: u16 = 1;

/// FUNCTION DUMP's payload (Tandem's format, documented in docs/formats.md):
/// `"TFNC" | u16 LE version | postcard(Vec<library code>) | u32 LE CRC32C of all before`.
/// Only the code is kept: RESTORE loads it again, which re-checks it and re-registers its
/// functions.
pub fn dump_payload<'a>(libraries: impl Iterator<Item = &'a Library>) -> Bytes {
    let codes: Vec<&[u8]> = libraries.map(|library| library.code.as_ref()).collect();
    let mut out = Vec::new();
    out.extend_from_slice(DUMP_MAGIC);
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    out.extend_from_slice(&postcard::to_allocvec(&codes).expect("codes always encode"));
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Bytes::from(out)
}

/// The library codes in a DUMP payload, or None when it is not one (bad magic, version or
/// checksum, or does not decode).
fn parse_payload(payload: &[u8]) -> Option<Vec<Bytes>> {
    if payload.len() < DUMP_MAGIC.len() + 2 + 4 || !payload.starts_with(DUMP_MAGIC) {
        return None;
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let version = u16::from_le_bytes([body[4], body[5]]);
    if version != DUMP_VERSION {
        return None;
    }
    let codes: Vec<Vec<u8>> = postcard::from_bytes(&body[6..]).ok()?;
    Some(codes.into_iter().map(Bytes::from).collect())
}

/// FUNCTION STATS: `running_script` (the function running now, as (name, its call's
/// arguments, ms so far), or nil) and the library and function counts.
pub fn stats_reply(ks: &Keyspace, running: Option<(String, Vec<Bytes>, u64)>) -> Reply {
    let functions = ks.functions();
    let counts = Reply::Map(vec![
        (
            Reply::Bulk(Bytes::from_static(b"libraries_count")),
            Reply::Integer(functions.len() as i64),
        ),
        (
            Reply::Bulk(Bytes::from_static(b"functions_count")),
            Reply::Integer(functions.function_count() as i64),
        ),
    ]);
    let running = match running {
        None => Reply::Nil,
        Some((name, args, duration_ms)) => Reply::Map(vec![
            (
                Reply::Bulk(Bytes::from_static(b"name")),
                Reply::Bulk(Bytes::from(name)),
            ),
            (
                Reply::Bulk(Bytes::from_static(b"command")),
                Reply::Array(args.into_iter().map(Reply::Bulk).collect()),
            ),
            (
                Reply::Bulk(Bytes::from_static(b"duration_ms")),
                Reply::Integer(duration_ms as i64),
            ),
        ]),
    };
    Reply::Map(vec![
        (Reply::Bulk(Bytes::from_static(b"running_script")), running),
        (
            Reply::Bulk(Bytes::from_static(b"engines")),
            Reply::Map(vec![(Reply::Bulk(Bytes::from_static(b"LUA")), counts)]),
        ),
    ])
}
