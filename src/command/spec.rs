//! What a command is, apart from what it does: name, arity, flags, key positions, ACL
//! categories and its `COMMAND DOCS` entry, plus how it is run (parsed into a typed [`Command`],
//! or answered by the server layer). One `CommandSpec` per command, declared next to its
//! implementation; dispatch, `COMMAND`, write classification and key extraction all read it.
//! Invariant: a spec is a `const`, so the registry is built once and never changes.

use bytes::Bytes;

use super::{Args, Command, CommandError};

/// How a command runs once its spec is found.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    /// A data command: parsed into a typed [`Command`]; a write goes through the log, a read is
    /// served from the keyspace.
    Data(fn(Args<'_>) -> Result<Command, CommandError>),
    /// Answered by the server layer (connection state, transactions, administration). The
    /// number is the server's own id for it, so dispatch needs no second lookup by name.
    Server(u16),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handler::Data(_) => f.write_str("Data"),
            Handler::Server(id) => write!(f, "Server({id})"),
        }
    }
}

/// Redis 7 command flags, as COMMAND INFO names them, plus Tandem's own hints (never shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags(u32);

impl Flags {
    pub const NONE: Flags = Flags(0);
    pub const WRITE: Flags = Flags(1 << 0);
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory (refused when over `maxmemory`).
    pub const DENYOOM: Flags = Flags(1 << 2);
    pub const ADMIN: Flags = Flags(1 << 3);
    pub const PUBSUB: Flags = Flags(1 << 4);
    pub const NOSCRIPT: Flags = Flags(1 << 5);
    pub const BLOCKING: Flags = Flags(1 << 6);
    pub const LOADING: Flags = Flags(1 << 7);
    pub const STALE: Flags = Flags(1 << 8);
    pub const SKIP_SLOWLOG: Flags = Flags(1 << 9);
    pub const FAST: Flags = Flags(1 << 10);
    pub const NO_AUTH: Flags = Flags(1 << 11);
    pub const MAY_REPLICATE: Flags = Flags(1 << 12);
    pub const NO_MULTI: Flags = Flags(1 << 13);
    pub const MOVABLEKEYS: Flags = Flags(1 << 14);
    pub const ALLOW_BUSY: Flags = Flags(1 << 15);
    pub const SKIP_MONITOR: Flags = Flags(1 << 16);
    pub const NO_MANDATORY_KEYS: Flags = Flags(1 << 17);
    /// Tandem: the read's cost grows with the data (whole collections, ranges, key scans), so
    /// it runs on an O(1) snapshot of the keyspace instead of under its lock.
    pub const READS_MANY: Flags = Flags(1 << 24);
    /// Tandem: runs at once inside MULTI instead of being queued (EXEC, DISCARD, ...).
    pub const RUNS_IN_MULTI: Flags = Flags(1 << 25);

    const NAMES: &'static [(Flags, &'static str)] = &[
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::BLOCKING, "blocking"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::SKIP_MONITOR, "skip_monitor"),
        (Flags::SKIP_SLOWLOG, "skip_slowlog"),
        (Flags::FAST, "fast"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::MAY_REPLICATE, "may_replicate"),
        (Flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (Flags::NO_MULTI, "no_multi"),
        (Flags::MOVABLEKEYS, "movablekeys"),
        (Flags::ALLOW_BUSY, "allow_busy"),
    ];

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The Redis flag names, in COMMAND INFO's order (Tandem's hints are not shown).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, other: Flags) -> Flags {
        self.union(other)
    }
}

/// Redis ACL categories (`@read`, `@write`, ...). Most are implied by a command's group and
/// flags ([`CommandSpec::categories`]); a spec adds the rest (`@keyspace`, `@dangerous`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Categories(u32);

impl Categories {
    pub const NONE: Categories = Categories(0);
    pub const KEYSPACE: Categories = Categories(1 << 0);
    pub const READ: Categories = Categories(1 << 1);
    pub const WRITE: Categories = Categories(1 << 2);
    pub const SET: Categories = Categories(1 << 3);
    pub const SORTEDSET: Categories = Categories(1 << 4);
    pub const LIST: Categories = Categories(1 << 5);
    pub const HASH: Categories = Categories(1 << 6);
    pub const STRING: Categories = Categories(1 << 7);
    pub const BITMAP: Categories = Categories(1 << 8);
    pub const HYPERLOGLOG: Categories = Categories(1 << 9);
    pub const GEO: Categories = Categories(1 << 10);
    pub const STREAM: Categories = Categories(1 << 11);
    pub const PUBSUB: Categories = Categories(1 << 12);
    pub const ADMIN: Categories = Categories(1 << 13);
    pub const FAST: Categories = Categories(1 << 14);
    pub const SLOW: Categories = Categories(1 << 15);
    pub const BLOCKING: Categories = Categories(1 << 16);
    pub const DANGEROUS: Categories = Categories(1 << 17);
    pub const CONNECTION: Categories = Categories(1 << 18);
    pub const TRANSACTION: Categories = Categories(1 << 19);
    pub const SCRIPTING: Categories = Categories(1 << 20);

    /// Every category with its ACL name, in Redis's `ACL CAT` order.
    pub const ALL: &'static [(Categories, &'static str)] = &[
        (Categories::KEYSPACE, "keyspace"),
        (Categories::READ, "read"),
        (Categories::WRITE, "write"),
        (Categories::SET, "set"),
        (Categories::SORTEDSET, "sortedset"),
        (Categories::LIST, "list"),
        (Categories::HASH, "hash"),
        (Categories::STRING, "string"),
        (Categories::BITMAP, "bitmap"),
        (Categories::HYPERLOGLOG, "hyperloglog"),
        (Categories::GEO, "geo"),
        (Categories::STREAM, "stream"),
        (Categories::PUBSUB, "pubsub"),
        (Categories::ADMIN, "admin"),
        (Categories::FAST, "fast"),
        (Categories::SLOW, "slow"),
        (Categories::BLOCKING, "blocking"),
        (Categories::DANGEROUS, "dangerous"),
        (Categories::CONNECTION, "connection"),
        (Categories::TRANSACTION, "transaction"),
        (Categories::SCRIPTING, "scripting"),
    ];

    pub const fn union(self, other: Categories) -> Categories {
        Categories(self.0 | other.0)
    }

    pub const fn contains(self, other: Categories) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the two sets share a category.
    pub const fn intersects(self, other: Categories) -> bool {
        self.0 & other.0 != 0
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Categories::ALL
            .iter()
            .filter(move |(category, _)| self.contains(*category))
            .map(|(_, name)| *name)
    }
}

impl std::ops::BitOr for Categories {
    type Output = Categories;
    fn bitor(self, other: Categories) -> Categories {
        self.union(other)
    }
}

/// The documentation group COMMAND DOCS reports; it also implies an ACL category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    Bitmap,
    Hash,
    List,
    Set,
    SortedSet,
    Stream,
    Pubsub,
    Scripting,
    Connection,
    Transactions,
    Server,
    Cluster,
}

impl Group {
    /// Redis's name for the group ("sorted-set", "generic", ...).
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Stream => "stream",
            Group::Pubsub => "pubsub",
            Group::Scripting => "scripting",
            Group::Connection => "connection",
            Group::Transactions => "transactions",
            Group::Server => "server",
            Group::Cluster => "cluster",
        }
    }

    const fn category(self) -> Categories {
        match self {
            Group::Generic => Categories::KEYSPACE,
            Group::String => Categories::STRING,
            Group::Bitmap => Categories::BITMAP,
            Group::Hash => Categories::HASH,
            Group::List => Categories::LIST,
            Group::Set => Categories::SET,
            Group::SortedSet => Categories::SORTEDSET,
            Group::Stream => Categories::STREAM,
            Group::Pubsub => Categories::PUBSUB,
            Group::Scripting => Categories::SCRIPTING,
            Group::Connection => Categories::CONNECTION,
            Group::Transactions => Categories::TRANSACTION,
            Group::Server | Group::Cluster => Categories::NONE,
        }
    }
}

/// Finds the positions of a command's keys in its arguments (`args[0]` is the name); None when
/// the arguments are malformed.
pub type FindKeys = fn(&[Bytes]) -> Option<Vec<usize>>;

/// Where a command's keys are among its arguments.
#[derive(Clone, Copy)]
pub struct KeySpec {
    /// Redis's legacy (first, last, step): 1-based positions, `last` < 0 counts from the end;
    /// (0, 0, 0) for none.
    pub first: i32,
    pub last: i32,
    pub step: i32,
    /// For keys whose positions depend on other arguments (`numkeys`, `STORE`): the positions
    /// of every key, or None when the arguments are malformed. Such commands have the
    /// `movablekeys` flag.
    pub movable: Option<FindKeys>,
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {}, {})", self.first, self.last, self.step)?;
        if self.movable.is_some() {
            f.write_str(" movable")?;
        }
        Ok(())
    }
}

impl KeySpec {
    pub const NONE: KeySpec = KeySpec::range(0, 0, 0);
    /// The one key right after the name.
    pub const ONE: KeySpec = KeySpec::range(1, 1, 1);
    /// Every argument is a key.
    pub const ALL: KeySpec = KeySpec::range(1, -1, 1);

    pub const fn range(first: i32, last: i32, step: i32) -> KeySpec {
        KeySpec {
            first,
            last,
            step,
            movable: None,
        }
    }

    /// Keys found by `find`, with the legacy triple COMMAND INFO shows for them.
    pub const fn movable(first: i32, last: i32, step: i32, find: FindKeys) -> KeySpec {
        KeySpec {
            first,
            last,
            step,
            movable: Some(find),
        }
    }

    /// Positions of the keys in `args` (`args[0]` is the name). Malformed arguments give
    /// whatever positions are in range; parsing reports the error.
    pub fn positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(find) = self.movable {
            return find(args).unwrap_or_default();
        }
        if self.first <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i64;
        let last = if self.last < 0 {
            argc + i64::from(self.last)
        } else {
            i64::from(self.last).min(argc - 1)
        };
        let step = i64::from(self.step.max(1));
        let mut positions = Vec::new();
        let mut index = i64::from(self.first);
        while index <= last && index < argc {
            positions.push(index as usize);
            index += step;
        }
        positions
    }
}

/// Keys given as `numkeys key [key ...]` with the count at `args[at]` (LMPOP, ZUNION,
/// SINTERCARD, EVAL, ...): the key positions, or None if the count is not a positive integer
/// that fits the arguments.
pub fn numkeys_positions(args: &[Bytes], at: usize) -> Option<Vec<usize>> {
    let count = super::parse_i64_strict(args.get(at)?)?;
    let count = usize::try_from(count).ok()?;
    if at + 1 + count > args.len() {
        return None;
    }
    Some((at + 1..at + 1 + count).collect())
}

/// One command: everything about it except its implementation, which `handler` points to.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    pub flags: Flags,
    pub keys: KeySpec,
    pub group: Group,
    /// ACL categories beyond those implied by the group and flags.
    pub extra_categories: Categories,
    /// The Redis version that introduced the command.
    pub since: &'static str,
    pub summary: &'static str,
    /// Argument hints for COMMAND DOCS: `name`, `[optional]`, `repeated...`, `TOKEN`, `A|B`.
    pub arguments: &'static [&'static str],
    pub(crate) handler: Handler,
}

impl CommandSpec {
    /// A data command with no flags, no keys and no docs yet; the builder methods fill them in.
    pub(crate) const fn data(
        name: &'static str,
        arity: i32,
        group: Group,
        parse: fn(Args<'_>) -> Result<Command, CommandError>,
    ) -> CommandSpec {
        CommandSpec::new(name, arity, group, Handler::Data(parse))
    }

    /// A command the server layer answers, under its id `id`.
    pub(crate) const fn server(
        name: &'static str,
        arity: i32,
        group: Group,
        id: u16,
    ) -> CommandSpec {
        CommandSpec::new(name, arity, group, Handler::Server(id))
    }

    const fn new(name: &'static str, arity: i32, group: Group, handler: Handler) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags: Flags::NONE,
            keys: KeySpec::NONE,
            group,
            extra_categories: Categories::NONE,
            since: "1.0.0",
            summary: "",
            arguments: &[],
            handler,
        }
    }

    pub const fn flags(mut self, flags: Flags) -> CommandSpec {
        self.flags = flags;
        self
    }

    pub const fn keys(mut self, keys: KeySpec) -> CommandSpec {
        if keys.movable.is_some() {
            self.flags = self.flags.union(Flags::MOVABLEKEYS);
        }
        self.keys = keys;
        self
    }

    pub const fn categories(mut self, extra: Categories) -> CommandSpec {
        self.extra_categories = extra;
        self
    }

    /// COMMAND DOCS: since which Redis version, a one-line summary and argument hints.
    pub const fn docs(
        mut self,
        since: &'static str,
        summary: &'static str,
        arguments: &'static [&'static str],
    ) -> CommandSpec {
        self.since = since;
        self.summary = summary;
        self.arguments = arguments;
        self
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }

    pub fn is_write(&self) -> bool {
        self.flags.contains(Flags::WRITE)
    }

    /// Every ACL category the command belongs to: its group's, those its flags imply (as Redis
    /// derives them), and its extra ones.
    pub fn categories_all(&self) -> Categories {
        let mut categories = self.group.category().union(self.extra_categories);
        let implied = [
            (Flags::WRITE, Categories::WRITE),
            (Flags::READONLY, Categories::READ),
            (Flags::ADMIN, Categories::ADMIN.union(Categories::DANGEROUS)),
            (Flags::PUBSUB, Categories::PUBSUB),
            (Flags::BLOCKING, Categories::BLOCKING),
        ];
        for (flag, category) in implied {
            if self.flags.contains(flag) {
                categories = categories.union(category);
            }
        }
        let speed = if self.flags.contains(Flags::FAST) {
            Categories::FAST
        } else {
            Categories::SLOW
        };
        categories.union(speed)
    }

    /// Parses `args` (`args[0]` is the name, any case) after checking the arity. Only for data
    /// commands; a server command is a [`CommandError::NotData`] here.
    pub fn parse(&'static self, args: &[Bytes]) -> Result<Command, CommandError> {
        if !self.arity_ok(args.len()) {
            return Err(CommandError::WrongArity { command: self.name });
        }
        match self.handler {
            Handler::Data(parse) => parse(Args {
                name: self.name,
                args,
            }),
            Handler::Server(_) => Err(CommandError::NotData { command: self.name }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn key_positions_follow_first_last_step() {
        let mset = KeySpec::range(1, -1, 2);
        assert_eq!(mset.positions(&args(&["mset", "a", "1", "b", "2"])), [1, 3]);
        assert_eq!(KeySpec::ALL.positions(&args(&["del", "a", "b"])), [1, 2]);
        assert_eq!(KeySpec::ONE.positions(&args(&["get", "k"])), [1]);
        assert_eq!(KeySpec::NONE.positions(&args(&["ping"])), [0usize; 0]);
        let rename = KeySpec::range(1, 2, 1);
        assert_eq!(rename.positions(&args(&["rename", "a", "b"])), [1, 2]);
    }

    #[test]
    fn numkeys_positions_checks_the_count() {
        let a = args(&["zunion", "2", "a", "b", "WEIGHTS", "1", "2"]);
        assert_eq!(numkeys_positions(&a, 1), Some(vec![2, 3]));
        assert_eq!(
            numkeys_positions(&args(&["zunion", "3", "a", "b"]), 1),
            None
        );
        assert_eq!(numkeys_positions(&args(&["zunion", "x", "a"]), 1), None);
        assert_eq!(numkeys_positions(&args(&["zunion", "-1", "a"]), 1), None);
    }

    #[test]
    fn categories_follow_group_and_flags() {
        fn parse(_: Args<'_>) -> Result<Command, CommandError> {
            Err(CommandError::Syntax)
        }
        let spec = CommandSpec::data("x", 2, Group::List, parse)
            .flags(Flags::WRITE.union(Flags::FAST))
            .categories(Categories::KEYSPACE);
        let names: Vec<_> = spec.categories_all().names().collect();
        assert_eq!(names, ["keyspace", "write", "list", "fast"]);
        let names: Vec<_> = Flags::WRITE.union(Flags::READS_MANY).names().collect();
        assert_eq!(names, ["write"], "Tandem's hints are not Redis flags");
    }
}
