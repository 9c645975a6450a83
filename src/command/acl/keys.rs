//! What each key of a command does, for `%R~` / `%W~` key patterns: Redis 7.0's key-spec
//! access flags reduced to what ACL checks use. A key the command reads (its spec has the
//! `access` flag) needs a pattern with R; a key it inserts, deletes or updates needs W; a key
//! with neither (EXISTS, TYPE, STRLEN: only metadata) is allowed by any pattern that matches.
//! Invariant: the table is sorted by name, so lookup is a binary search.

use bytes::Bytes;

use crate::command::CommandSpec;

/// The permission one key of a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyAccess {
    /// Any matching pattern, `%R~` or `%W~`.
    Any,
    R,
    W,
    Rw,
}

impl KeyAccess {
    pub(crate) fn needs_read(self) -> bool {
        matches!(self, KeyAccess::R | KeyAccess::Rw)
    }

    pub(crate) fn needs_write(self) -> bool {
        matches!(self, KeyAccess::W | KeyAccess::Rw)
    }
}

use KeyAccess::{Any, Rw, R, W};

/// (command or `container|sub`, first key, every later key), from `COMMAND INFO` of
/// redis-server 7.0.15. Where a command has several key specs, the later ones describe the
/// later keys (a destination, or the sources after it); GEORADIUS's and SORT's later keys are
/// their STORE destinations.
const ACCESS: &[(&str, KeyAccess, KeyAccess)] = &[
    ("append", W, W),
    ("bitcount", R, R),
    ("bitfield", Rw, Rw),
    ("bitfield_ro", R, R),
    ("bitop", W, R),
    ("bitpos", R, R),
    ("blmove", Rw, W),
    ("blmpop", Rw, Rw),
    ("blpop", Rw, Rw),
    ("brpop", Rw, Rw),
    ("brpoplpush", Rw, W),
    ("bzmpop", Rw, Rw),
    ("bzpopmax", Rw, Rw),
    ("bzpopmin", Rw, Rw),
    ("copy", R, W),
    ("decr", Rw, Rw),
    ("decrby", Rw, Rw),
    ("del", W, W),
    ("dump", R, R),
    ("eval", Rw, Rw),
    ("eval_ro", R, R),
    ("evalsha", Rw, Rw),
    ("evalsha_ro", R, R),
    ("exists", Any, Any),
    ("expire", W, W),
    ("expireat", W, W),
    ("expiretime", R, R),
    ("fcall", Rw, Rw),
    ("fcall_ro", R, R),
    ("geoadd", W, W),
    ("geodist", R, R),
    ("geohash", R, R),
    ("geopos", R, R),
    ("georadius", R, W),
    ("georadius_ro", R, R),
    ("georadiusbymember", R, W),
    ("georadiusbymember_ro", R, R),
    ("geosearch", R, R),
    ("geosearchstore", W, R),
    ("get", R, R),
    ("getbit", R, R),
    ("getdel", Rw, Rw),
    ("getex", Rw, Rw),
    ("getrange", R, R),
    ("getset", Rw, Rw),
    ("hdel", W, W),
    ("hexists", Any, Any),
    ("hget", R, R),
    ("hgetall", R, R),
    ("hincrby", Rw, Rw),
    ("hincrbyfloat", Rw, Rw),
    ("hkeys", R, R),
    ("hlen", Any, Any),
    ("hmget", R, R),
    ("hmset", W, W),
    ("hrandfield", R, R),
    ("hscan", R, R),
    ("hset", W, W),
    ("hsetnx", W, W),
    ("hstrlen", Any, Any),
    ("hvals", R, R),
    ("incr", Rw, Rw),
    ("incrby", Rw, Rw),
    ("incrbyfloat", Rw, Rw),
    ("lcs", R, R),
    ("lindex", R, R),
    ("linsert", W, W),
    ("llen", Any, Any),
    ("lmove", Rw, W),
    ("lmpop", Rw, Rw),
    ("lpop", Rw, Rw),
    ("lpos", R, R),
    ("lpush", W, W),
    ("lpushx", W, W),
    ("lrange", R, R),
    ("lrem", W, W),
    ("lset", W, W),
    ("ltrim", W, W),
    ("memory|usage", Any, Any),
    ("mget", R, R),
    ("migrate", Rw, Rw),
    ("move", Rw, Rw),
    ("mset", W, W),
    ("msetnx", W, W),
    ("object|encoding", Any, Any),
    ("object|freq", Any, Any),
    ("object|idletime", Any, Any),
    ("object|refcount", Any, Any),
    ("persist", W, W),
    ("pexpire", W, W),
    ("pexpireat", W, W),
    ("pexpiretime", R, R),
    ("pfadd", W, W),
    ("pfcount", R, R),
    ("pfdebug", R, R),
    ("pfmerge", Rw, R),
    ("psetex", W, W),
    ("pttl", R, R),
    ("rename", Rw, W),
    ("renamenx", Rw, W),
    ("restore", W, W),
    ("restore-asking", W, W),
    ("rpop", Rw, Rw),
    ("rpoplpush", Rw, W),
    ("rpush", W, W),
    ("rpushx", W, W),
    ("sadd", W, W),
    ("scard", Any, Any),
    ("sdiff", R, R),
    ("sdiffstore", W, R),
    ("set", Rw, Rw),
    ("setbit", Rw, Rw),
    ("setex", W, W),
    ("setnx", W, W),
    ("setrange", W, W),
    ("sinter", R, R),
    ("sintercard", R, R),
    ("sinterstore", W, R),
    ("sismember", Any, Any),
    ("smembers", R, R),
    ("smismember", R, R),
    ("smove", Rw, W),
    ("sort", R, W),
    ("sort_ro", R, R),
    ("spop", Rw, Rw),
    ("spublish", Any, Any),
    ("srandmember", R, R),
    ("srem", W, W),
    ("sscan", R, R),
    ("ssubscribe", Any, Any),
    ("strlen", Any, Any),
    ("substr", R, R),
    ("sunion", R, R),
    ("sunionstore", W, R),
    ("sunsubscribe", Any, Any),
    ("touch", Any, Any),
    ("ttl", R, R),
    ("type", Any, Any),
    ("unlink", W, W),
    ("watch", Any, Any),
    ("xack", W, W),
    ("xadd", W, W),
    ("xautoclaim", W, W),
    ("xclaim", W, W),
    ("xdel", W, W),
    ("xgroup|create", W, W),
    ("xgroup|createconsumer", W, W),
    ("xgroup|delconsumer", W, W),
    ("xgroup|destroy", W, W),
    ("xgroup|setid", W, W),
    ("xinfo|consumers", R, R),
    ("xinfo|groups", R, R),
    ("xinfo|stream", R, R),
    ("xlen", Any, Any),
    ("xpending", R, R),
    ("xrange", R, R),
    ("xread", R, R),
    ("xreadgroup", R, R),
    ("xrevrange", R, R),
    ("xsetid", W, W),
    ("xtrim", W, W),
    ("zadd", W, W),
    ("zcard", Any, Any),
    ("zcount", R, R),
    ("zdiff", R, R),
    ("zdiffstore", W, R),
    ("zincrby", Rw, Rw),
    ("zinter", R, R),
    ("zintercard", R, R),
    ("zinterstore", W, R),
    ("zlexcount", R, R),
    ("zmpop", Rw, Rw),
    ("zmscore", R, R),
    ("zpopmax", Rw, Rw),
    ("zpopmin", Rw, Rw),
    ("zrandmember", R, R),
    ("zrange", R, R),
    ("zrangebylex", R, R),
    ("zrangebyscore", R, R),
    ("zrangestore", W, R),
    ("zrank", R, R),
    ("zrem", W, W),
    ("zremrangebylex", W, W),
    ("zremrangebyrank", W, W),
    ("zremrangebyscore", W, W),
    ("zrevrange", R, R),
    ("zrevrangebylex", R, R),
    ("zrevrangebyscore", R, R),
    ("zrevrank", R, R),
    ("zscan", R, R),
    ("zscore", R, R),
    ("zunion", R, R),
    ("zunionstore", W, R),
];

/// The access the `nth` key (0-based, in key-position order) of this command needs, or None
/// for a command Redis does not have (the caller falls back to the command's read/write
/// flag). `args[0]` is the name; `container`: the command takes a subcommand.
pub(crate) fn key_access(
    spec: &CommandSpec,
    container: bool,
    args: &[Bytes],
    nth: usize,
) -> Option<KeyAccess> {
    match spec.name {
        // Variable flags: SET only overwrites, unless GET reads the old value too.
        "set" => {
            let get = args[3.min(args.len())..]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(b"get"));
            return Some(if get { Rw } else { W });
        }
        // BITFIELD with only GET operations reads; any other operation writes too.
        "bitfield" => {
            let writes = args[2.min(args.len())..]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby"));
            return Some(if writes { Rw } else { R });
        }
        _ => {}
    }
    let sub;
    let name = if let (true, Some(arg)) = (container, args.get(1)) {
        sub = format!(
            "{}|{}",
            spec.name,
            String::from_utf8_lossy(arg).to_ascii_lowercase()
        );
        sub.as_str()
    } else {
        spec.name
    };
    let at = ACCESS.binary_search_by(|(n, _, _)| (*n).cmp(name)).ok()?;
    let (_, first, rest) = ACCESS[at];
    Some(if nth == 0 { first } else { rest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(ACCESS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
