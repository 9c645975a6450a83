//! MEMORY: USAGE key [SAMPLES count], STATS, DOCTOR, MALLOC-STATS, PURGE, HELP.
//!
//! MEMORY is a data command (a read), not a server command, because its one real question,
//! MEMORY USAGE, is a read of the keyspace: as a read it is routed like GET (linearizable on the
//! leader, forwarded from a follower, READONLY-stale on request), sees this connection's earlier
//! writes, and inside MULTI it is answered by the transaction's log entry with the other
//! commands. Its other subcommands need nothing but the keyspace either. The byte counts are
//! Tandem's own estimate (`Keyspace::memory_usage`), not Redis's allocator's.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{is_option, parse_i64, Args, Command, CommandError, CommandSpec, Cx, Flags, Group};
use super::{KeySpec, Reply};
use crate::keyspace::Keyspace;

/// Elements of a collection MEMORY USAGE looks at by default (Redis's default).
const SAMPLES_DEFAULT: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MemoryQuestion {
    /// Estimated bytes of one key; `samples` collection elements are looked at (0 = all).
    Usage {
        key: Bytes,
        samples: usize,
    },
    /// Key count and dataset size (estimated over every key).
    Stats,
    Doctor,
    MallocStats,
    Purge,
    Help,
}

/// MEMORY <subcommand> ...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub question: MemoryQuestion,
}

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

const DOCTOR: &str =
    "Tandem keeps every key in RAM and never evicts; it does not diagnose memory problems. \
MEMORY USAGE <key> and MEMORY STATS give its own estimate of what keys take; INFO memory gives \
the process's resident size (used_memory_rss), which also holds the write-ahead log's buffers, \
snapshots being written and client buffers.\n";

impl Memory {
    pub const SPEC: CommandSpec = CommandSpec::data("memory", -2, Group::Server, Memory::parse)
        .flags(Flags::READONLY)
        .keys(KeySpec::range(2, 2, 1))
        .docs(
            "4.0.0",
            "Memory introspection: USAGE key [SAMPLES count] (Tandem's estimate), STATS, DOCTOR, MALLOC-STATS, PURGE, HELP.",
            &["USAGE|STATS|DOCTOR|MALLOC-STATS|PURGE|HELP", "[key]", "[SAMPLES count]"],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let sub = args.at(1).to_ascii_lowercase();
        let arity = |command: &'static str| CommandError::WrongArity { command };
        let question = match sub.as_slice() {
            b"usage" => {
                if args.len() < 3 {
                    return Err(arity("memory|usage"));
                }
                let mut samples = SAMPLES_DEFAULT;
                let options = args.from(3);
                let mut i = 0;
                while i < options.len() {
                    if is_option(&options[i], "samples") && i + 1 < options.len() {
                        let count = parse_i64(&options[i + 1])?;
                        samples = usize::try_from(count).map_err(|_| CommandError::Syntax)?;
                        i += 2;
                    } else {
                        return Err(CommandError::Syntax);
                    }
                }
                MemoryQuestion::Usage {
                    key: args.key(2),
                    samples,
                }
            }
            b"stats" | b"doctor" | b"malloc-stats" | b"purge" | b"help" if args.len() > 2 => {
                return Err(arity(match sub.as_slice() {
                    b"stats" => "memory|stats",
                    b"doctor" => "memory|doctor",
                    b"malloc-stats" => "memory|malloc-stats",
                    b"purge" => "memory|purge",
                    _ => "memory|help",
                }))
            }
            b"stats" => MemoryQuestion::Stats,
            b"doctor" => MemoryQuestion::Doctor,
            b"malloc-stats" => MemoryQuestion::MallocStats,
            b"purge" => MemoryQuestion::Purge,
            b"help" => MemoryQuestion::Help,
            _ => {
                return Err(CommandError::UnknownSubcommand {
                    command: "MEMORY",
                    subcommand: String::from_utf8_lossy(args.at(1)).into_owned(),
                })
            }
        };
        Ok(Memory { question }.into())
    }

    /// MEMORY STATS looks at every key, so it runs on a snapshot.
    pub(super) fn reads_many(&self) -> bool {
        self.question == MemoryQuestion::Stats
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let bulk = |text: &str| Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()));
        Ok(match &self.question {
            MemoryQuestion::Usage { key, samples } => ks
                .memory_usage(key, cx.now_ms, *samples)
                .map_or(Reply::Nil, |bytes| Reply::Integer(bytes as i64)),
            MemoryQuestion::Stats => {
                let (keys, bytes) = ks.dataset_estimate(cx.now_ms, SAMPLES_DEFAULT);
                let per_key = bytes.checked_div(keys).unwrap_or(0);
                Reply::Map(vec![
                    (bulk("keys.count"), Reply::Integer(keys as i64)),
                    (bulk("keys.bytes-per-key"), Reply::Integer(per_key as i64)),
                    (bulk("dataset.bytes"), Reply::Integer(bytes as i64)),
                ])
            }
            MemoryQuestion::Doctor => bulk(DOCTOR),
            // Redis's own answers when it is not built with jemalloc.
            MemoryQuestion::MallocStats => bulk("Stats not supported for the current allocator"),
            MemoryQuestion::Purge => Reply::Ok,
            MemoryQuestion::Help => {
                Reply::Array(HELP.iter().map(|l| Reply::Simple((*l).into())).collect())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, exec};
    use super::*;

    #[test]
    fn usage_of_present_absent_and_bad_arguments() {
        let mut ks = Keyspace::new();
        exec(&mut ks, 0, &["set", "k", "v"]);
        assert!(matches!(exec(&mut ks, 0, &["memory", "usage", "k"]), Reply::Integer(n) if n > 0));
        assert!(matches!(
            exec(&mut ks, 0, &["MEMORY", "USAGE", "k", "SAMPLES", "0"]),
            Reply::Integer(n) if n > 0
        ));
        assert_eq!(exec(&mut ks, 0, &["memory", "usage", "nosuch"]), Reply::Nil);
        assert_eq!(
            exec(&mut ks, 0, &["memory", "usage", "k", "samples", "x"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            exec(&mut ks, 0, &["memory", "usage", "k", "samples", "-1"]),
            err("ERR syntax error")
        );
        assert_eq!(
            exec(&mut ks, 0, &["memory", "usage", "k", "samples"]),
            err("ERR syntax error")
        );
        assert_eq!(
            exec(&mut ks, 0, &["memory", "usage"]),
            err("ERR wrong number of arguments for 'memory|usage' command")
        );
        assert_eq!(
            exec(&mut ks, 0, &["memory", "foo"]),
            err("ERR unknown subcommand 'foo'. Try MEMORY HELP.")
        );
        assert_eq!(
            exec(&mut ks, 0, &["memory", "stats", "x"]),
            err("ERR wrong number of arguments for 'memory|stats' command")
        );
    }

    #[test]
    fn stats_count_live_keys() {
        let mut ks = Keyspace::new();
        exec(&mut ks, 0, &["set", "a", "1"]);
        exec(&mut ks, 0, &["hset", "h", "f", "v"]);
        exec(&mut ks, 0, &["set", "gone", "1", "px", "10"]);
        let Reply::Map(fields) = exec(&mut ks, 100, &["memory", "stats"]) else {
            panic!("map")
        };
        assert_eq!(
            fields[0],
            (Reply::Bulk("keys.count".into()), Reply::Integer(2))
        );
        assert!(matches!(fields[2].1, Reply::Integer(n) if n > 0));
        assert_eq!(exec(&mut ks, 0, &["memory", "purge"]), Reply::Ok);
    }
}
