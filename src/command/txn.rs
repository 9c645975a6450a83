//! MULTI/EXEC as one log entry: optimistic WATCH checks, then every queued
//! command in order. Invariant: either no command runs (a watched key's
//! version changed) or all run; a command failing at run time reports its
//! error in its slot and nothing is rolled back, exactly as Redis.

use bytes::Bytes;

use super::{Command, CommandError, Cx, Reply};
use crate::keyspace::{KeyVersion, Keyspace};

/// A MULTI/EXEC block: applied as one unit; aborted (`Reply::NilArray`) if
/// any watched key's version changed. Commands rejected while queuing (parse
/// errors) never get here: the server answers EXECABORT instead.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    /// Keys and the versions the client saw when it ran WATCH.
    pub watches: Vec<(Bytes, KeyVersion)>,
    pub commands: Vec<Command>,
}

impl Transaction {
    /// Builds a transaction from commands written as Redis arguments
    /// (`&[&["INCRBY", "a", "1"][..]]`); the first command that does not parse is the error.
    pub fn from_args<A: AsRef<[u8]>>(
        watches: Vec<(Bytes, KeyVersion)>,
        commands: &[&[A]],
    ) -> Result<Self, CommandError> {
        let commands = commands
            .iter()
            .map(|args| {
                let args: Vec<Bytes> = args
                    .iter()
                    .map(|a| Bytes::copy_from_slice(a.as_ref()))
                    .collect();
                Command::parse(&args)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { watches, commands })
    }

    /// True if any command must go through the log. A block of reads only
    /// with no watches could be served locally.
    pub fn is_write(&self) -> bool {
        self.commands.iter().any(Command::is_write)
    }

    /// Applies the block at `cx`: `Reply::NilArray` if any watched key's version changed,
    /// else one reply per command, all in the same context (one log time, one stream of
    /// random choices).
    pub fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Reply {
        let watch_broken = self
            .watches
            .iter()
            .any(|(key, seen)| ks.version(key, cx.now_ms) != *seen);
        if watch_broken {
            return Reply::NilArray;
        }
        Reply::Array(self.commands.iter().map(|cmd| cmd.apply(ks, cx)).collect())
    }
}
