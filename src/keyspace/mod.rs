//! The in-memory keyspace: every key, its value, expiry and WATCH version.
//! Invariants: state changes only through `apply*`/`purge_expired`/decode, all
//! of which are pure functions of (state, input, `now_ms`) — no clock, no
//! randomly seeded hashing — so every replica that applies the same log ends
//! byte-identical. A key whose expiry is `<= now_ms` is absent to every command.

mod blocked;
mod codec;
mod compact_bytes;
mod counted;
mod digest;
mod entry;
mod functions;
mod glob;
mod hash;
mod list;
mod memory;
mod scripts;
mod sessions;
mod set;
mod stream;
mod users;
mod zset;

use bytes::Bytes;
use counted::CountedMap;

pub(crate) use blocked::Blocked;
pub use blocked::{BlockedPop, RegisterError, ScoreEnd, Waiter, WaiterId, BLOCKED_CLIENTS_MAX};
pub use codec::{EntryLoader, KeyspaceError};
pub(crate) use compact_bytes::CompactBytes;
pub(crate) use entry::{Entry, Slot, StoredSlot, Value};
pub use functions::{FunctionInfo, Libraries, Library, LibraryConflict, FUNCTION_FLAGS};
pub use glob::glob_match;
pub(crate) use hash::HashValue;
pub use list::ListEnd;
pub(crate) use list::ListValue;
pub use scripts::{sha1_hex, ScriptCache};
pub use sessions::{
    session_id, Admission, Outcome, Session, Sessions, SESSIONS_MAX,
    SESSION_IDLE_TIMEOUT_DEFAULT_MS, SESSION_IDLE_TIMEOUT_MAX_MS, SESSION_REPLIES_MAX,
};
pub(crate) use set::SetValue;
pub use stream::{Consumer, ConsumerGroup, Pending, StreamFields, StreamId, StreamValue};
pub use users::{
    password_hash, KeyPattern, PasswordHash, Rule, RuleError, User, UserChange, Users,
};
pub use zset::ScoreBound;
pub(crate) use zset::{End, ZSet};

/// A key's WATCH token: the keyspace-wide counter value at its last
/// modification. `KeyVersion(0)` means the key is absent (or expired).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KeyVersion(pub u64);

/// The whole data set of one node.
///
/// Top level is a persistent B+ tree ([`CountedMap`]) keyed by `(xxh3(key), key)` (see
/// [`Slot`]): O(log n) lookups, an iteration order that depends only on the set of keys, and
/// a SCAN cursor that is simply the next hash to visit. Its leaves are vectors sized to what
/// they hold (up to 64 entries), shared through `Arc` and copied on write, so `clone()` is
/// O(1) and a snapshot taken from a clone is unaffected by later writes. Keys and string
/// values are stored as [`CompactBytes`] (inline up to 23 bytes, else a buffer of their own),
/// so a key never pins the client frame or log entry it arrived in.
#[derive(Clone, Default)]
pub struct Keyspace {
    entries: CountedMap<StoredSlot, Entry>,
    /// `(expiry_ms, slot)` for every entry with an expiry, so purging and
    /// counting expired keys does not scan the whole keyspace.
    expiries: CountedMap<(u64, StoredSlot), ()>,
    version_counter: u64,
    /// Clients blocked on keys (replicated: served in apply, kept in snapshots).
    blocked: Blocked,
    /// Client sessions (exactly-once writes; replicated, kept in snapshots).
    sessions: Sessions,
    /// Lua scripts loaded or run (replicated: EVALSHA works after a failover).
    scripts: ScriptCache,
    /// ACL users (replicated: every node enforces the same users).
    users: Users,
    /// Function libraries (FUNCTION LOAD; replicated: FCALL works after a failover).
    functions: Libraries,
}

impl std::fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyspace")
            .field("len", &self.entries.len())
            .field("version_counter", &self.version_counter)
            .finish_non_exhaustive()
    }
}

impl Keyspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// The WATCH token of `key` at `now_ms` (`KeyVersion(0)` if absent).
    pub fn version(&self, key: &[u8], now_ms: u64) -> KeyVersion {
        match self.live(&Slot::from_slice(key), now_ms) {
            Some(entry) => KeyVersion(entry.version),
            None => KeyVersion(0),
        }
    }

    /// Up to `count_max` keys whose expiry is `<= now_ms`, earliest expiry
    /// first (ties in slot order). The leader proposes their purge.
    pub fn expired_keys(&self, now_ms: u64, count_max: usize) -> Vec<Bytes> {
        self.expiries
            .iter()
            .take_while(|((expiry_ms, _), _)| *expiry_ms <= now_ms)
            .take(count_max)
            .map(|((_, slot), _)| slot.key.to_bytes())
            .collect()
    }

    /// Whether `slot` is stored but expired at `now_ms` (the sweeper will remove it).
    pub(crate) fn contains_expired(&self, slot: &Slot, now_ms: u64) -> bool {
        self.get(slot).is_some_and(|entry| entry.is_expired(now_ms))
    }

    /// Remove those of `keys` that are still expired at `now_ms`; returns how
    /// many were removed. A key rewritten since it was proposed is kept.
    pub fn purge_expired(&mut self, keys: &[Bytes], now_ms: u64) -> usize {
        let mut removed = 0;
        for key in keys {
            let slot = Slot::new(key.clone());
            let expired = self
                .get(&slot)
                .is_some_and(|entry| entry.is_expired(now_ms));
            if expired {
                self.remove(&slot);
                removed += 1;
            }
        }
        removed
    }

    /// Number of stored keys, including expired keys not yet purged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn version_counter(&self) -> u64 {
        self.version_counter
    }

    pub fn set_version_counter(&mut self, v: u64) {
        self.version_counter = v;
    }

    // ---- crate-internal access used by the command families ----

    /// The entry stored under `slot`, live or expired.
    fn get(&self, slot: &Slot) -> Option<&Entry> {
        self.entries
            .get_by(|stored| stored.cmp_slot(slot))
            .map(|(_, entry)| entry)
    }

    /// Mutable access to the entry stored under `slot`, live or expired.
    fn get_mut(&mut self, slot: &Slot) -> Option<&mut Entry> {
        self.entries.get_mut_by(|stored| stored.cmp_slot(slot))
    }

    /// Removes `(expiry_ms, slot)` from the expiry index.
    fn remove_expiry(&mut self, expiry_ms: u64, slot: &Slot) {
        self.expiries
            .remove_by(|(at_ms, stored)| at_ms.cmp(&expiry_ms).then_with(|| stored.cmp_slot(slot)));
    }

    /// The entry for `slot` unless it is missing or expired at `now_ms`.
    pub(crate) fn live(&self, slot: &Slot, now_ms: u64) -> Option<&Entry> {
        self.get(slot).filter(|entry| !entry.is_expired(now_ms))
    }

    /// Mutable access to a live entry. The caller must call [`Self::touch`]
    /// if it changes the value (the expiry must go through `set_expiry`).
    pub(crate) fn live_mut(&mut self, slot: &Slot, now_ms: u64) -> Option<&mut Entry> {
        self.get_mut(slot).filter(|entry| !entry.is_expired(now_ms))
    }

    /// Advance the version counter and stamp `slot` with the new value.
    pub(crate) fn touch(&mut self, slot: &Slot) {
        self.signal_blocked(slot);
        self.version_counter += 1;
        let version = self.version_counter;
        if let Some(entry) = self.get_mut(slot) {
            entry.version = version;
        }
    }

    /// Store `value` under `slot`, replacing whatever was there (live or
    /// expired), with the given expiry (0 = none) and a fresh version.
    pub(crate) fn insert(&mut self, slot: Slot, value: Value, expiry_ms: u64) {
        self.signal_blocked(&slot);
        let stored = StoredSlot::of(&slot);
        self.version_counter += 1;
        let entry = Entry {
            value,
            expiry_ms,
            version: self.version_counter,
        };
        if expiry_ms != 0 {
            self.expiries.insert((expiry_ms, stored.clone()), ());
        }
        if let Some(old) = self.entries.insert(stored, entry) {
            if old.expiry_ms != 0 && old.expiry_ms != expiry_ms {
                self.remove_expiry(old.expiry_ms, &slot);
            }
        }
    }

    /// A changed key may let a blocked client pop: note it for the end of this apply.
    fn signal_blocked(&mut self, slot: &Slot) {
        if !self.blocked.is_empty() {
            self.blocked.signal(&slot.key);
        }
    }

    /// The clients blocked on keys.
    pub(crate) fn blocked(&self) -> &Blocked {
        &self.blocked
    }

    pub(crate) fn blocked_mut(&mut self) -> &mut Blocked {
        &mut self.blocked
    }

    /// The client sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(crate) fn sessions_mut(&mut self) -> &mut Sessions {
        &mut self.sessions
    }

    /// The blocked clients, oldest first, for a snapshot.
    pub fn waiters(&self) -> Vec<Waiter> {
        self.blocked.iter().cloned().collect()
    }

    /// Restores the blocked clients from a snapshot.
    pub fn set_waiters(&mut self, waiters: Vec<Waiter>) -> Result<(), RegisterError> {
        self.blocked = Blocked::from_waiters(waiters)?;
        Ok(())
    }

    /// The script cache (SCRIPT LOAD, EVAL, EVALSHA).
    pub fn scripts(&self) -> &ScriptCache {
        &self.scripts
    }

    pub fn scripts_mut(&mut self) -> &mut ScriptCache {
        &mut self.scripts
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    pub fn users_mut(&mut self) -> &mut Users {
        &mut self.users
    }

    /// The function libraries (FUNCTION LOAD, FCALL).
    pub fn functions(&self) -> &Libraries {
        &self.functions
    }

    pub fn functions_mut(&mut self) -> &mut Libraries {
        &mut self.functions
    }

    /// Remove `slot` (live or expired) and its expiry; returns the entry. A client blocked in
    /// XREADGROUP on the key hears of it (it gets an error, as in Redis).
    pub(crate) fn remove(&mut self, slot: &Slot) -> Option<Entry> {
        let (_, old) = self.entries.remove_by(|stored| stored.cmp_slot(slot))?;
        self.signal_blocked(slot);
        if old.expiry_ms != 0 {
            self.remove_expiry(old.expiry_ms, slot);
        }
        Some(old)
    }

    /// Change the expiry of an existing entry (0 = persist) and bump its version.
    pub(crate) fn set_expiry(&mut self, slot: &Slot, expiry_ms: u64) {
        let Some(entry) = self.get_mut(slot) else {
            return;
        };
        let old_ms = std::mem::replace(&mut entry.expiry_ms, expiry_ms);
        if old_ms != 0 {
            self.remove_expiry(old_ms, slot);
        }
        if expiry_ms != 0 {
            self.expiries.insert((expiry_ms, StoredSlot::of(slot)), ());
        }
        self.touch(slot);
    }

    /// Drop every key (FLUSHDB/FLUSHALL). The version counter keeps counting
    /// so a key recreated later never reuses a version a WATCH saw. Blocked clients stay
    /// blocked, as in Redis, except in XREADGROUP (its key is gone: an error).
    pub(crate) fn clear(&mut self) {
        if !self.blocked.is_empty() {
            self.blocked.signal_all();
        }
        self.entries = CountedMap::new();
        self.expiries = CountedMap::new();
        self.version_counter += 1;
    }

    /// All entries in slot order, starting at `from` (inclusive).
    pub(crate) fn entries_from(
        &self,
        from: &Slot,
    ) -> impl Iterator<Item = (&StoredSlot, &Entry)> + '_ {
        let start = match self.entries.rank_by(|stored| stored.cmp_slot(from)) {
            Ok(rank) | Err(rank) => rank,
        };
        self.entries.range_by_rank(start..self.entries.len())
    }

    /// All entries in slot order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&StoredSlot, &Entry)> + '_ {
        self.entries.iter()
    }

    /// Number of keys live at `now_ms` (DBSIZE). Costs O(expired-but-unpurged).
    pub(crate) fn live_len(&self, now_ms: u64) -> usize {
        let expired = self
            .expiries
            .count_while(|(expiry_ms, _)| *expiry_ms <= now_ms);
        self.entries.len() - expired
    }
}

/// Collection elements at most this long are copied into a buffer of their own when stored;
/// longer ones are kept as they came (a large argument is split off the client's read buffer
/// on its own, and copying it would cost more than the frame around it). The same bound as
/// [`CompactBytes`]'s for keys and string values.
const COMPACT_COPY_BYTES_MAX: usize = compact_bytes::SHARED_BYTES_MAX;

/// `bytes` in a buffer of exactly its length, owned by nobody else: the stored key, value or
/// collection element then costs its own length, instead of pinning the whole client frame
/// (or decoded log entry) it is a slice of, with that frame's shared header.
pub(crate) fn compact(bytes: Bytes) -> Bytes {
    if bytes.len() <= COMPACT_COPY_BYTES_MAX {
        Bytes::from(bytes.to_vec())
    } else {
        bytes
    }
}

#[cfg(test)]
mod tests;
