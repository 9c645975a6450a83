//! The scripts this node runs now. Those outside the log (a speculative EVAL/EVALSHA/FCALL, or
//! a read-only script) may be bounded by the wall clock: past `busy-reply-threshold`
//! (`lua-time-limit`) the node answers other clients BUSY, and SCRIPT KILL / FUNCTION KILL stop
//! them. A script applied from the log also makes the node busy, but nothing stops it but its
//! deterministic instruction budget (the same point on every replica): KILL answers
//! UNKILLABLE.
//! Invariant: an entry is in the registry exactly while its run lasts ([`RunGuard`] removes it).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// What kind of program runs, which decides the BUSY text and which KILL stops it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptKind {
    /// EVAL, EVALSHA and their `_RO` forms (stopped by SCRIPT KILL).
    Eval,
    /// FCALL and FCALL_RO (stopped by FUNCTION KILL).
    Function,
}

impl ScriptKind {
    /// Redis's reply to a command refused while a script of this kind is busy.
    pub fn busy_error(self) -> &'static str {
        match self {
            ScriptKind::Eval => {
                "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
            }
            ScriptKind::Function => {
                "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
            }
        }
    }
}

/// How a run outside the log may end early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// EVAL, EVALSHA or FCALL run on a copy of the applied keyspace until its first write
    /// call; then it is abandoned and the call goes to the log.
    Speculative,
    /// A read-only script (EVAL_RO, EVALSHA_RO, FCALL_RO, or a `no-writes` script), whose
    /// reply is final.
    ReadOnly,
    /// A script applied from the log: never killed.
    Applied,
}

/// One script running outside the log.
#[derive(Debug)]
pub struct RunningScript {
    started: Instant,
    kind: ScriptKind,
    mode: RunMode,
    killed: AtomicBool,
    needs_log: AtomicBool,
    /// The function's name and the call's arguments (FUNCTION STATS); empty for others.
    name: String,
    command: Vec<Bytes>,
}

impl RunningScript {
    /// A script of `kind` starting now, not registered anywhere (tests, or a run no KILL
    /// reaches).
    pub fn new(kind: ScriptKind, mode: RunMode) -> RunningScript {
        RunningScript {
            started: Instant::now(),
            kind,
            mode,
            killed: AtomicBool::new(false),
            needs_log: AtomicBool::new(false),
            name: String::new(),
            command: Vec::new(),
        }
    }

    pub fn kind(&self) -> ScriptKind {
        self.kind
    }

    /// Whether a write call must stop the run (speculative) or be refused (read-only).
    pub fn is_speculative(&self) -> bool {
        self.mode == RunMode::Speculative
    }

    /// Asks the script to stop at its next hook or `redis.call`.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
    }

    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// Records that the speculative run reached a write call: its reply is void and the call
    /// must go to the log.
    pub fn set_needs_log(&self) {
        self.needs_log.store(true, Ordering::Relaxed);
    }

    pub fn needs_log(&self) -> bool {
        self.needs_log.load(Ordering::Relaxed)
    }

    /// Whether it has run at least `threshold` and was not killed.
    fn busy(&self, threshold: Duration) -> bool {
        !self.killed() && self.started.elapsed() >= threshold
    }
}

/// What SCRIPT KILL or FUNCTION KILL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// Every busy script of the asked kind was told to stop.
    Killed,
    /// No script is busy.
    NotBusy,
    /// A script applied from the log is busy: only its instruction budget stops it.
    Unkillable,
    /// The busy scripts are of the other kind (SCRIPT KILL while a function is busy, or the
    /// reverse): Redis answers with that kind's BUSY error.
    OtherKind(ScriptKind),
}

/// How many scripts [`RunningScripts::note_writer`] remembers before it forgets them all.
const WRITERS_MAX: usize = 4096;

/// The scripts this node runs outside the log now, and the scripts it has seen write.
#[derive(Debug, Default)]
pub struct RunningScripts {
    /// How many are registered: lets [`RunningScripts::busy`] skip the lock when none run.
    count: AtomicUsize,
    scripts: Mutex<Vec<Arc<RunningScript>>>,
    /// Scripts (a hash of the command name and the body or SHA) whose run
    /// outside the log reached a write call. They go to the log directly from then on: a
    /// script that writes would otherwise run twice up to its first write on every call.
    writers: Mutex<HashSet<u64>>,
}

impl RunningScripts {
    /// Registers a script starting now; it stays registered until the guard drops.
    pub fn start(self: &Arc<Self>, kind: ScriptKind, mode: RunMode) -> RunGuard {
        self.start_named(kind, mode, String::new(), Vec::new())
    }

    /// [`Self::start`] for a function `name` called with `command` (FUNCTION STATS shows them).
    pub fn start_named(
        self: &Arc<Self>,
        kind: ScriptKind,
        mode: RunMode,
        name: String,
        command: Vec<Bytes>,
    ) -> RunGuard {
        let script = Arc::new(RunningScript {
            name,
            command,
            ..RunningScript::new(kind, mode)
        });
        let mut scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        scripts.push(script.clone());
        self.count.store(scripts.len(), Ordering::Release);
        RunGuard {
            registry: self.clone(),
            script,
        }
    }

    /// The kind of the longest-running script that has run `threshold` or more (and was not
    /// killed): while there is one, the node is busy.
    pub fn busy(&self, threshold: Duration) -> Option<ScriptKind> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        scripts
            .iter()
            .find(|script| script.busy(threshold))
            .map(|script| script.kind)
    }

    /// The longest-running function with a name, not killed: (name, the call's arguments, ms
    /// so far), for FUNCTION STATS.
    pub fn running_function(&self) -> Option<(String, Vec<Bytes>, u64)> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        scripts
            .iter()
            .find(|s| s.kind == ScriptKind::Function && !s.name.is_empty() && !s.killed())
            .map(|s| {
                let ms = u64::try_from(s.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                (s.name.clone(), s.command.clone(), ms)
            })
    }

    /// SCRIPT KILL (`kind` Eval) or FUNCTION KILL (`kind` Function): stops every busy script
    /// of that kind.
    pub fn kill(&self, kind: ScriptKind, threshold: Duration) -> KillOutcome {
        let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        let busy: Vec<_> = scripts.iter().filter(|s| s.busy(threshold)).collect();
        if busy.is_empty() {
            return KillOutcome::NotBusy;
        }
        if busy.iter().any(|s| s.mode == RunMode::Applied) {
            return KillOutcome::Unkillable;
        }
        let mut killed = false;
        for script in busy.iter().filter(|s| s.kind == kind) {
            script.kill();
            killed = true;
        }
        if killed {
            KillOutcome::Killed
        } else {
            KillOutcome::OtherKind(busy[0].kind)
        }
    }

    /// Whether the script `id` reached a write call when it last ran outside the log.
    pub fn known_writer(&self, id: u64) -> bool {
        let writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        writers.contains(&id)
    }

    /// Remembers that the script `id` reached a write call. Bounded: past [`WRITERS_MAX`] the
    /// set starts over (a forgotten writer only runs outside the log once more).
    pub fn note_writer(&self, id: u64) {
        let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if writers.len() >= WRITERS_MAX {
            writers.clear();
        }
        writers.insert(id);
    }

    /// Stops every script run outside the log (shutdown).
    pub fn kill_all(&self) {
        let scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        for script in scripts.iter().filter(|s| s.mode != RunMode::Applied) {
            script.kill();
        }
    }

    fn finish(&self, script: &Arc<RunningScript>) {
        let mut scripts = self.scripts.lock().unwrap_or_else(|e| e.into_inner());
        scripts.retain(|s| !Arc::ptr_eq(s, script));
        self.count.store(scripts.len(), Ordering::Release);
    }
}

/// A registered script; dropping it ends the registration.
#[derive(Debug)]
pub struct RunGuard {
    registry: Arc<RunningScripts>,
    script: Arc<RunningScript>,
}

impl RunGuard {
    pub fn script(&self) -> &Arc<RunningScript> {
        &self.script
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.registry.finish(&self.script);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_remembered_up_to_the_bound() {
        let registry = RunningScripts::default();
        assert!(!registry.known_writer(7));
        registry.note_writer(7);
        assert!(registry.known_writer(7));
        for id in 100..100 + WRITERS_MAX as u64 - 1 {
            registry.note_writer(id);
        }
        assert!(registry.known_writer(7), "still within the bound");
        registry.note_writer(1);
        assert!(
            !registry.known_writer(7),
            "past the bound the set starts over"
        );
        assert!(registry.known_writer(1));
    }

    #[test]
    fn busy_after_the_threshold_and_kill_by_kind() {
        let registry = Arc::new(RunningScripts::default());
        assert_eq!(registry.busy(Duration::ZERO), None);
        assert_eq!(
            registry.kill(ScriptKind::Eval, Duration::ZERO),
            KillOutcome::NotBusy
        );
        let guard = registry.start(ScriptKind::Function, RunMode::Speculative);
        assert_eq!(registry.busy(Duration::from_secs(3600)), None);
        assert_eq!(registry.busy(Duration::ZERO), Some(ScriptKind::Function));
        assert_eq!(
            registry.kill(ScriptKind::Eval, Duration::ZERO),
            KillOutcome::OtherKind(ScriptKind::Function)
        );
        assert!(!guard.script().killed());
        assert_eq!(
            registry.kill(ScriptKind::Function, Duration::ZERO),
            KillOutcome::Killed
        );
        assert!(guard.script().killed());
        assert_eq!(
            registry.busy(Duration::ZERO),
            None,
            "a killed script is not busy"
        );
        let applied = registry.start(ScriptKind::Eval, RunMode::Applied);
        assert_eq!(registry.busy(Duration::ZERO), Some(ScriptKind::Eval));
        assert_eq!(
            registry.kill(ScriptKind::Eval, Duration::ZERO),
            KillOutcome::Unkillable
        );
        registry.kill_all();
        assert!(!applied.script().killed(), "never stopped by a clock");
        drop(applied);
        drop(guard);
        assert!(registry.scripts.lock().unwrap().is_empty());
        assert_eq!(registry.count.load(Ordering::Relaxed), 0);
    }
}
