//! Client-facing rejections, parse-time and run-time alike.
//! Invariant: `Display` is the exact Redis 7 error line without the leading
//! '-', so a client sees byte-for-byte what Redis would send.

use super::reply::Reply;

/// Redis's `proto-max-bulk-len` default, the largest string APPEND may build.
pub const STRING_BYTES_MAX: usize = 512 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// `preview` is Redis's "'a' 'b' " rendering of the first arguments.
    #[error("ERR unknown command '{name}', with args beginning with: {preview}")]
    UnknownCommand { name: String, preview: String },
    #[error("ERR wrong number of arguments for '{command}' command")]
    WrongArity { command: &'static str },
    #[error("ERR syntax error")]
    Syntax,
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    #[error("ERR value is not a valid float")]
    NotFloat,
    #[error("ERR increment or decrement would overflow")]
    IncrementOverflow,
    #[error("ERR decrement would overflow")]
    DecrementOverflow,
    #[error("ERR invalid expire time in '{command}' command")]
    InvalidExpireTime { command: &'static str },
    #[error("ERR Unsupported option {option}")]
    UnsupportedOption { option: String },
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxIncompatible,
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtLtIncompatible,
    #[error("ERR no such key")]
    NoSuchKey,
    #[error("ERR invalid cursor")]
    InvalidCursor,
    #[error("ERR hash value is not an integer")]
    HashValueNotInteger,
    #[error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    #[error("ERR min or max is not a float")]
    MinMaxNotFloat,
    #[error("ERR XX and NX options at the same time are not compatible")]
    ZAddXxNx,
    #[error("ERR GT, LT, and/or NX options at the same time are not compatible")]
    ZAddGtLtNx,
    #[error("ERR INCR option supports a single increment-element pair")]
    ZAddIncrPairs,
    #[error("ERR resulting score is not a number (NaN)")]
    ScoreNan,
    #[error("ERR value is out of range, must be positive")]
    NotPositive,
    #[error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    )]
    LimitWithoutBy,
    /// A server command (PING, MULTI, ...) given to the data-command parser.
    #[error("ERR '{command}' is answered by the server, not the command model")]
    NotData { command: &'static str },
    /// A bug, reported instead of acting on it.
    #[error("ERR internal error: {reason}")]
    Internal { reason: String },
    /// A `numkeys` argument that is not an integer >= 1 (SINTERCARD, ...).
    #[error("ERR numkeys should be greater than 0")]
    NumkeysNotPositive,
    /// A `numkeys` larger than the arguments that follow it.
    #[error("ERR Number of keys can't be greater than number of args")]
    NumkeysTooMany,
    /// A LIMIT that is not an integer >= 0 (SINTERCARD, ...).
    #[error("ERR LIMIT can't be negative")]
    LimitNegative,
    /// An integer outside `min..=max` where Redis names the range (SRANDMEMBER's count).
    #[error("ERR value is out of range, value must between {min} and {max}")]
    OutOfRangeBetween { min: i64, max: i64 },
    /// Tandem's own limit on a reply that repeats elements (SRANDMEMBER with a negative
    /// count): Redis would build the reply whatever its size.
    #[error("ERR count is out of range, a reply may repeat at most {max} elements")]
    RepeatsTooMany { max: u64 },
    #[error("ERR index out of range")]
    IndexOutOfRange,
    #[error("ERR count should be greater than 0")]
    CountNotPositive,
    #[error(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    )]
    LposRankZero,
    #[error("ERR COUNT can't be negative")]
    LposCountNegative,
    #[error("ERR MAXLEN can't be negative")]
    LposMaxlenNegative,
    /// `command` is the upper-case container name (`MEMORY`).
    #[error("ERR unknown subcommand '{subcommand}'. Try {command} HELP.")]
    UnknownSubcommand {
        command: &'static str,
        subcommand: String,
    },
    #[error("ERR min or max not valid string range item")]
    LexRangeInvalid,
    #[error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")]
    WithScoresByLex,
    /// ZUNION, ZINTERSTORE, ... with `numkeys` below 1.
    #[error("ERR at least 1 input key is needed for '{command}' command")]
    NoInputKeys { command: &'static str },
    #[error("ERR weight value is not a float")]
    WeightNotFloat,
    /// ZRANDMEMBER's count with WITHSCORES beyond what doubling can hold.
    #[error("ERR value is out of range")]
    ValueOutOfRange,
    #[error("ERR timeout is not a float or out of range")]
    TimeoutNotFloat,
    #[error("ERR timeout is negative")]
    TimeoutNegative,
    /// Tandem's bound on blocked clients in one group.
    #[error("ERR too many blocked clients (at most {max}); try again later")]
    TooManyBlocked { max: usize },
    #[error("ERR offset is out of range")]
    OffsetOutOfRange,
    #[error("ERR bit offset is not an integer or out of range")]
    BitOffsetOutOfRange,
    #[error("ERR bit is not an integer or out of range")]
    BitValueOutOfRange,
    #[error("ERR The bit argument must be 1 or 0.")]
    BitArgument,
    #[error("ERR BITOP NOT must be called with a single source key.")]
    BitOpNotArity,
    #[error(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
    )]
    BitfieldType,
    #[error("ERR Invalid OVERFLOW type specified")]
    BitfieldOverflowType,
    #[error("ERR BITFIELD_RO only supports the GET subcommand")]
    BitfieldReadOnly,
    #[error("ERR The specified keys must contain string values")]
    LcsNotStrings,
    #[error("ERR If you want both the length and indexes, please just use IDX.")]
    LcsIdxWithLen,
    /// LCS over more cells than Tandem computes (see `LCS_CELLS_MAX`); Redis gives this text
    /// when its table would exceed proto-max-bulk-len.
    #[error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")]
    LcsTooLarge,
    #[error("ERR increment would produce NaN or Infinity")]
    IncrementNanOrInfinity,
    #[error("ERR value is NaN or Infinity")]
    ValueNanOrInfinity,
    #[error("ERR hash value is not a float")]
    HashValueNotFloat,
    /// A count must be in -i64::MAX ..= i64::MAX (HRANDFIELD).
    #[error(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )]
    CountOutOfRange,
    /// A database other than 0 (Tandem has one), as SELECT answers it.
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    /// COPY onto itself.
    #[error("ERR source and destination objects are the same")]
    SameObject,
    /// OBJECT FREQ: Redis's answer without an LFU policy; Tandem never tracks access frequency.
    #[error(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    )]
    AccessFrequencyNotTracked,
    /// OBJECT IDLETIME: Tandem keeps no access time per key (Redis answers this only under an
    /// LFU policy; the wording follows its FREQ error).
    #[error("ERR access time not tracked: Tandem keeps no per-key access time (it never evicts)")]
    AccessTimeNotTracked,
    /// SORT's numeric mode met an element or BY value that is not a double.
    #[error("ERR One or more scores can't be converted into double")]
    SortScoreNotDouble,
    /// A stream command's rejection; the text is Redis 7's exact line (see command/streams.rs).
    #[error("{0}")]
    Stream(String),
    /// EVALSHA of a SHA-1 that is not in the script cache.
    #[error("NOSCRIPT No matching script. Please use EVAL.")]
    NoScript,
    /// SCRIPT KILL: Tandem never runs a script outside an apply, so none is ever busy.
    #[error("NOTBUSY No scripts in execution right now.")]
    NotBusy,
    /// A scripting error whose full Redis text is built by the scripting module (compile
    /// errors, errors raised by scripts, `numkeys` checks).
    #[error("{0}")]
    Script(String),
}

impl CommandError {
    pub(crate) fn internal(reason: impl Into<String>) -> CommandError {
        CommandError::Internal {
            reason: reason.into(),
        }
    }

    pub fn to_reply(&self) -> Reply {
        Reply::Error(self.to_string())
    }

    /// The typed error whose Redis text is `text`, for the errors without fields (a reply that
    /// crossed the log carries only its text). `None` for any other text.
    pub fn from_text(text: &str) -> Option<CommandError> {
        const WITHOUT_FIELDS: &[CommandError] = &[
            CommandError::Syntax,
            CommandError::WrongType,
            CommandError::NotInteger,
            CommandError::NotFloat,
            CommandError::IncrementOverflow,
            CommandError::DecrementOverflow,
            CommandError::ExpireNxIncompatible,
            CommandError::ExpireGtLtIncompatible,
            CommandError::NoSuchKey,
            CommandError::InvalidCursor,
            CommandError::HashValueNotInteger,
            CommandError::StringTooLong,
            CommandError::MinMaxNotFloat,
            CommandError::ZAddXxNx,
            CommandError::ZAddGtLtNx,
            CommandError::ZAddIncrPairs,
            CommandError::ScoreNan,
            CommandError::NotPositive,
            CommandError::LimitWithoutBy,
            CommandError::NumkeysNotPositive,
            CommandError::NumkeysTooMany,
            CommandError::LimitNegative,
            CommandError::IndexOutOfRange,
            CommandError::CountNotPositive,
            CommandError::LposRankZero,
            CommandError::LposCountNegative,
            CommandError::LposMaxlenNegative,
            CommandError::LexRangeInvalid,
            CommandError::WithScoresByLex,
            CommandError::WeightNotFloat,
            CommandError::ValueOutOfRange,
            CommandError::TimeoutNotFloat,
            CommandError::TimeoutNegative,
            CommandError::OffsetOutOfRange,
            CommandError::BitOffsetOutOfRange,
            CommandError::BitValueOutOfRange,
            CommandError::BitArgument,
            CommandError::BitOpNotArity,
            CommandError::BitfieldType,
            CommandError::BitfieldOverflowType,
            CommandError::BitfieldReadOnly,
            CommandError::LcsNotStrings,
            CommandError::LcsIdxWithLen,
            CommandError::LcsTooLarge,
            CommandError::IncrementNanOrInfinity,
            CommandError::ValueNanOrInfinity,
            CommandError::HashValueNotFloat,
            CommandError::CountOutOfRange,
            CommandError::DbIndexOutOfRange,
            CommandError::SameObject,
            CommandError::AccessFrequencyNotTracked,
            CommandError::AccessTimeNotTracked,
            CommandError::SortScoreNotDouble,
            CommandError::NoScript,
            CommandError::NotBusy,
        ];
        WITHOUT_FIELDS
            .iter()
            .find(|error| error.to_string() == text)
            .cloned()
    }

    /// Redis 7's unknown-command error: the name and the first arguments,
    /// each quoted and truncated so the argument preview stays under 128
    /// bytes; CR/LF become spaces so the error stays one line.
    pub fn unknown_command(args: &[bytes::Bytes]) -> CommandError {
        const PREVIEW_BYTES_MAX: usize = 128;
        let name = args
            .first()
            .map(|n| &n[..n.len().min(PREVIEW_BYTES_MAX)])
            .unwrap_or(b"");
        let mut preview: Vec<u8> = Vec::new();
        for arg in args.iter().skip(1) {
            if preview.len() >= PREVIEW_BYTES_MAX {
                break;
            }
            let room = PREVIEW_BYTES_MAX - preview.len();
            preview.push(b'\'');
            preview.extend_from_slice(&arg[..arg.len().min(room)]);
            preview.extend_from_slice(b"' ");
        }
        CommandError::UnknownCommand {
            name: one_line(name),
            preview: one_line(&preview),
        }
    }
}

fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace(['\r', '\n'], " ")
}
