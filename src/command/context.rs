//! What a command may use besides the keyspace: the time it runs at, a source of random
//! choices, the leader term of its entry, and where it reports blocked clients it ended.
//! Invariant: for a write, all of it comes from its log entry (the leader's clock, a seed
//! derived from the entry's position, the entry's term), never from the replica, so every
//! replica that applies the entry makes the same choices (SPOP, which waiter is served, ...).

use std::sync::Arc;

use bytes::Bytes;

use super::Reply;
use crate::keyspace::WaiterId;

/// The context one command (or one transaction) runs in.
#[derive(Clone, Debug)]
pub struct Cx {
    /// Log time in Unix milliseconds: "now" for expiries and TTLs.
    pub now_ms: u64,
    /// Leader term of the log entry being applied (0 outside the log: reads, tests).
    pub term: u64,
    random: SplitMix64,
    /// The op's place in the log, `(index, position in its entry)` (None outside the log):
    /// what names a session it opens.
    pub position: Option<(u64, u64)>,
    /// Blocked clients whose wait ended during this apply, in order.
    unblocked: Vec<Unblocked>,
    /// `notify-keyspace-events` flags while notifications are on, else 0.
    notify_flags: u32,
    /// Keyspace events recorded so far, in order.
    events: Vec<super::notify::KeyEvent>,
    /// The user a script runs as, checking each command it calls (None: unchecked, as for
    /// log entries written before scripts carried their user).
    caller: Option<Caller>,
    /// Calls the caller check refused, with the user's name, in order (for the ACL LOG).
    denials: Vec<(Bytes, Denial)>,
    /// The limits the leader was under when it accepted this op (carried in the log entry,
    /// never measured at apply): scripts refuse the calls they forbid.
    limits: Limits,
    /// Lua instructions a script of this op may run (the leader's setting for the caller's
    /// priority class, carried in the log entry); None: the default budget.
    instruction_budget: Option<u64>,
    /// Set for a script run outside the log ([`super::scripting::RunningScript`]): it is then
    /// bounded by SCRIPT KILL instead of the instruction budget, and (speculative) stops at
    /// its first write call. None at apply.
    script: Option<Arc<super::scripting::RunningScript>>,
    /// Commands the scripts of this op called, in order (INFO commandstats and errorstats).
    calls: Vec<ScriptCall>,
    /// Where a script applied from the log registers while it runs (BUSY, UNKILLABLE).
    applying: Option<Arc<super::scripting::RunningScripts>>,
}

/// One command a script called, as INFO commandstats and errorstats count it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCall {
    /// The command's name in the command table (None: no such command).
    pub name: Option<&'static str>,
    /// Whether it ran; false if it was refused before running (ACL, OOM, a write from a
    /// read-only script, ...): Redis's `rejected_calls`.
    pub ran: bool,
    /// The error it answered, if any.
    pub error: Option<String>,
    /// Whether its error counts in errorstats and `total_error_replies`: not when the script
    /// ends with that error as its own reply, which is counted once, as the script's.
    pub error_counted: bool,
}

/// Server limits that refuse some of a script's calls, as the leader found them when it
/// accepted the script. Redis checks them at each call; Tandem measures once, on the leader,
/// and carries the result in the log entry, so every replica refuses the same calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Used memory was over `maxmemory`: memory-growing (DENYOOM) calls are refused until the
    /// script has written, unless it declares `allow-oom`.
    pub over_memory: bool,
    /// Fewer followers than `min-replicas-to-write` were in contact: write calls are refused
    /// until the script has written.
    pub too_few_replicas: bool,
}

impl Limits {
    /// Whether any limit applies.
    pub fn any(&self) -> bool {
        self.over_memory || self.too_few_replicas
    }
}

/// Why a user may not run a command: its ACL permissions lack the command, a key or a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The command (`get`, or `client|kill` for a subcommand).
    Command(String),
    Key(Bytes),
    Channel(Bytes),
}

impl Denial {
    /// The error `redis.call` raises (and `redis.pcall` returns) for a refused call: Redis
    /// 7.0's texts, which differ from the NOPERM a client gets at top level.
    pub fn script_error(&self) -> String {
        match self {
            Denial::Command(_) => {
                "ERR The user executing the script can't run this command or subcommand".into()
            }
            Denial::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments".into(),
            Denial::Channel(_) => "ERR The user executing the script can't publish to the channel mentioned in the command".into(),
        }
    }
}

/// Checks the commands a script calls against its user's ACL permissions.
pub trait CallerCheck: Send + Sync {
    /// The user's name.
    fn user(&self) -> &Bytes;
    /// Why the call `args` (`args[0]` is the command name) is refused, or None. Unknown
    /// commands, wrong argument counts and commands scripts may not call are None: the script
    /// engine answers those with its own errors.
    fn check(&self, args: &[Bytes]) -> Option<Denial>;
}

/// A script's user, as a [`Cx`] holds it.
#[derive(Clone)]
pub struct Caller(pub Arc<dyn CallerCheck>);

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caller({})", String::from_utf8_lossy(self.0.user()))
    }
}

/// A blocked client whose wait ended in an apply; the node it is connected to tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Unblocked {
    pub id: WaiterId,
    pub outcome: UnblockOutcome,
}

/// How a blocked client's wait ended.
#[derive(Clone, Debug, PartialEq)]
pub enum UnblockOutcome {
    /// Something was popped for it: the reply its command gets.
    Served(Reply),
    /// Leadership changed since it registered, so it no longer waits; its node may register it
    /// again (the client is never told about this).
    Dropped,
    /// Dropped as [`UnblockOutcome::Dropped`], for an XREAD whose `$` ids were resolved when it
    /// registered: its node registers it again reading after these ids (one per key), so
    /// entries added in between are not missed.
    DroppedAfter(Vec<crate::keyspace::StreamId>),
}

impl Cx {
    /// A context at `now_ms` whose random choices all follow from `seed`.
    pub fn new(now_ms: u64, seed: u64) -> Cx {
        Cx {
            now_ms,
            term: 0,
            random: SplitMix64(seed),
            position: None,
            unblocked: Vec::new(),
            notify_flags: 0,
            events: Vec::new(),
            caller: None,
            denials: Vec::new(),
            limits: Limits::default(),
            instruction_budget: None,
            script: None,
            calls: Vec::new(),
            applying: None,
        }
    }

    /// The same context registering the scripts it applies in `scripts`.
    pub fn registering_in(mut self, scripts: Arc<super::scripting::RunningScripts>) -> Cx {
        self.applying = Some(scripts);
        self
    }

    /// Where an applied script registers while it runs (None outside the state machine).
    pub fn applied_scripts(&self) -> Option<&Arc<super::scripting::RunningScripts>> {
        self.applying.as_ref()
    }

    /// Records a command a script called.
    pub(crate) fn record_call(&mut self, call: ScriptCall) {
        self.calls.push(call);
    }

    /// The script ends with the error of one of its calls as its own reply (code `code`, the
    /// error's first word): that error is counted once, as the script's, so the latest call
    /// error with that code stops counting.
    pub(crate) fn uncount_call_error(&mut self, code: &str) {
        let same_code = |text: &str| text.split(' ').next() == Some(code);
        if let Some(call) = self
            .calls
            .iter_mut()
            .rev()
            .find(|call| call.error_counted && call.error.as_deref().is_some_and(same_code))
        {
            call.error_counted = false;
        }
    }

    /// The commands scripts called so far (emptied).
    pub fn take_calls(&mut self) -> Vec<ScriptCall> {
        std::mem::take(&mut self.calls)
    }

    /// The same context for a script run outside the log, watched by `script`.
    pub fn watched_by(mut self, script: Arc<super::scripting::RunningScript>) -> Cx {
        self.script = Some(script);
        self
    }

    /// The run outside the log this context belongs to (None at apply).
    pub fn running_script(&self) -> Option<&Arc<super::scripting::RunningScript>> {
        self.script.as_ref()
    }

    /// Sets the limits the leader was under when it accepted the op being applied; returns
    /// the previous ones.
    pub fn set_limits(&mut self, limits: Limits) -> Limits {
        std::mem::replace(&mut self.limits, limits)
    }

    /// The limits the leader was under when it accepted the op being applied.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Sets the instruction budget of the op being applied's scripts (None: the default);
    /// returns the previous one, to restore.
    pub fn set_instruction_budget(&mut self, instructions: Option<u64>) -> Option<u64> {
        std::mem::replace(&mut self.instruction_budget, instructions)
    }

    /// Lua instructions a script applied now may run.
    pub fn instruction_budget(&self) -> u64 {
        self.instruction_budget
            .unwrap_or(super::scripting::SCRIPT_INSTRUCTIONS_MAX)
    }

    /// Sets the user scripts run as (None: unchecked); returns the previous one.
    pub fn set_caller(&mut self, caller: Option<Caller>) -> Option<Caller> {
        std::mem::replace(&mut self.caller, caller)
    }

    /// Checks a call a script makes against its user: the denial (also recorded for the ACL
    /// LOG), or None if it may run.
    pub(crate) fn check_call(&mut self, args: &[Bytes]) -> Option<Denial> {
        let caller = self.caller.as_ref()?;
        let denial = caller.0.check(args)?;
        self.denials.push((caller.0.user().clone(), denial.clone()));
        Some(denial)
    }

    /// Whether the script's user may make the call `args` (unchecked scripts may make any).
    pub(crate) fn caller_allows(&self, args: &[Bytes]) -> bool {
        self.caller
            .as_ref()
            .is_none_or(|caller| caller.0.check(args).is_none())
    }

    /// The calls refused so far, with their user (emptied).
    pub fn take_denials(&mut self) -> Vec<(Bytes, Denial)> {
        std::mem::take(&mut self.denials)
    }

    /// The same context recording the keyspace events `flags` select (0: none, at no cost).
    pub fn notifying(mut self, flags: u32) -> Cx {
        self.notify_flags = if super::notify::active(flags) {
            flags
        } else {
            0
        };
        self
    }

    /// Whether keyspace events are being recorded.
    #[inline]
    pub fn notifications_on(&self) -> bool {
        self.notify_flags != 0
    }

    /// Records `event` if its class is enabled.
    pub(crate) fn notify(&mut self, event: super::notify::KeyEvent) {
        if self.notify_flags & event.class != 0 {
            self.events.push(event);
        }
    }

    /// The keyspace events recorded so far (emptied).
    pub fn take_events(&mut self) -> Vec<super::notify::KeyEvent> {
        std::mem::take(&mut self.events)
    }

    /// The same context for an entry of leader term `term`.
    pub fn in_term(mut self, term: u64) -> Cx {
        self.term = term;
        self
    }

    /// The same context for the op at `position` of the entry at log `index`.
    pub fn at(mut self, index: u64, position: u64) -> Cx {
        self.position = Some((index, position));
        self
    }

    /// Records that a blocked client's wait ended.
    pub(crate) fn unblock(&mut self, id: WaiterId, outcome: UnblockOutcome) {
        self.unblocked.push(Unblocked { id, outcome });
    }

    /// The blocked clients whose wait ended so far (emptied).
    pub fn take_unblocked(&mut self) -> Vec<Unblocked> {
        std::mem::take(&mut self.unblocked)
    }

    /// For a read served by one node: its random choices need not match any other node's.
    pub fn local(now_ms: u64) -> Cx {
        Cx::new(now_ms, rand::random())
    }

    /// The seed of the `op`-th operation of the log entry at (`term`, `index`): distinct for
    /// every operation in the log, the same on every replica.
    pub fn entry_seed(term: u64, index: u64, op: u64) -> u64 {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&term.to_le_bytes());
        bytes[8..16].copy_from_slice(&index.to_le_bytes());
        bytes[16..].copy_from_slice(&op.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&bytes)
    }

    /// The next 64 random bits.
    pub fn random_u64(&mut self) -> u64 {
        self.random.next()
    }

    /// A uniformly random number in `0..bound` (`bound` > 0), without modulo bias.
    pub fn random_below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "random_below needs a positive bound");
        // Lemire's multiply-shift with rejection of the biased low zone.
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.random.next()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }
}

/// SplitMix64: tiny, fast, and fixed here (not a library's choice that could change between
/// versions), because replicas running different builds must draw the same numbers.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_choices_and_the_sequence_is_pinned() {
        let mut a = Cx::new(0, 42);
        let mut b = Cx::new(0, 42);
        let drawn: Vec<u64> = (0..4).map(|_| a.random_u64()).collect();
        assert_eq!(drawn, (0..4).map(|_| b.random_u64()).collect::<Vec<_>>());
        // Pinned: a change here would make replicas of different builds diverge.
        assert_eq!(Cx::new(0, 0).random_u64(), 0xE220_A839_7B1D_CDAF);
        assert_ne!(Cx::entry_seed(1, 2, 0), Cx::entry_seed(1, 2, 1));
        assert_ne!(Cx::entry_seed(1, 2, 0), Cx::entry_seed(2, 1, 0));
    }

    #[test]
    fn random_below_stays_in_bounds_and_covers_them() {
        let mut cx = Cx::new(0, 7);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[cx.random_below(5) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(cx.random_below(1), 0);
    }
}
