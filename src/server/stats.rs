//! `ServerStats`: the server's counters, shared by every connection and read by INFO and the
//! admin endpoint. Counters only grow (except `connections_current`); readers see each counter
//! atomically but not the set as one snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Power-of-two latency buckets per command: bucket `i` counts answers that took at most `2^i`
/// µs (the last one also everything slower, ≈ 36 minutes and up).
pub const LATENCY_BUCKETS: usize = 32;

/// Calls, error replies and time of one command name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandCounts {
    pub calls: u64,
    /// Calls that ran and answered an error (Redis's `failed_calls`).
    pub errors: u64,
    /// Calls refused before they ran (Redis's `rejected_calls`; not in `calls`). Counted for
    /// the commands scripts call.
    pub rejected: u64,
    /// Total µs from parse to reply (INFO commandstats `usec`).
    pub usec: u64,
    /// Answers per power-of-two µs bucket (LATENCY HISTOGRAM).
    pub usec_buckets: [u64; LATENCY_BUCKETS],
}

/// The bucket of an answer that took `usec` µs: the smallest `i` with `usec <= 2^i`.
pub fn latency_bucket(usec: u64) -> usize {
    let bucket = usec.max(1).next_power_of_two().trailing_zeros() as usize;
    bucket.min(LATENCY_BUCKETS - 1)
}

/// Counters of one server (one listener, all its connections).
#[derive(Debug)]
pub struct ServerStats {
    pub started: Instant,
    /// Connections accepted (including ones rejected for `clients_max`).
    pub connections_accepted: AtomicU64,
    /// Connections open now.
    pub connections_current: AtomicU64,
    /// Connections refused because `clients_max` was reached.
    pub connections_rejected: AtomicU64,
    /// Connections to the TLS port closed because their TLS handshake failed or timed out.
    pub tls_handshakes_failed: AtomicU64,
    /// Commands answered (any reply, error replies included).
    pub commands_processed: AtomicU64,
    /// Error replies sent (Redis `total_error_replies`).
    pub error_replies: AtomicU64,
    /// Clients closed for a protocol error, a query buffer over its limit, or idleness.
    pub clients_closed_for_limits: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    commands: Mutex<HashMap<&'static str, CommandCounts>>,
    /// Error replies by error code (the error's first word: `ERR`, `WRONGTYPE`, ...), for INFO
    /// errorstats; at most [`ERROR_CODES_MAX`] codes, later new codes are not tracked.
    error_codes: Mutex<BTreeMap<String, u64>>,
}

/// Most distinct error codes INFO errorstats tracks (as Redis: a client sending errors with
/// made-up codes, e.g. from scripts, cannot grow the table without bound).
pub const ERROR_CODES_MAX: usize = 128;

impl Default for ServerStats {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            connections_accepted: AtomicU64::new(0),
            connections_current: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            tls_handshakes_failed: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            clients_closed_for_limits: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            commands: Mutex::new(HashMap::new()),
            error_codes: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ServerStats {
    /// Counts one answered command. `name` is the lowercase command name, or `None` for a
    /// command that does not exist (counted as processed and as an error, not by name);
    /// `error` is the error reply's text when the answer was an error.
    pub fn record_command(&self, name: Option<&'static str>, error: Option<&str>) {
        self.record_command_timed(name, error, Duration::ZERO);
    }

    /// [`Self::record_command`] for a command answered `elapsed` after it was parsed.
    pub fn record_command_timed(
        &self,
        name: Option<&'static str>,
        error: Option<&str>,
        elapsed: Duration,
    ) {
        self.commands_processed.fetch_add(1, Ordering::Relaxed);
        let failed = error.is_some();
        if let Some(text) = error {
            self.error_replies.fetch_add(1, Ordering::Relaxed);
            self.count_error_code(text);
        }
        if let Some(name) = name {
            let usec = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            let mut commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
            let counts = commands.entry(name).or_default();
            counts.calls += 1;
            counts.errors += u64::from(failed);
            counts.usec = counts.usec.saturating_add(usec);
            counts.usec_buckets[latency_bucket(usec)] += 1;
        }
    }

    /// Counts the commands scripts called (on every node that ran the script: the one that
    /// answered it outside the log, or each replica that applied it).
    pub fn record_script_calls(&self, calls: &[crate::command::ScriptCall]) {
        if calls.is_empty() {
            return;
        }
        for call in calls {
            if let Some(text) = call.error.as_deref().filter(|_| call.error_counted) {
                self.error_replies.fetch_add(1, Ordering::Relaxed);
                self.count_error_code(text);
            }
        }
        let mut commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        for call in calls {
            let Some(name) = call.name else { continue };
            let counts = commands.entry(name).or_default();
            if call.ran {
                counts.calls += 1;
                counts.errors += u64::from(call.error.is_some());
                counts.usec_buckets[0] += 1;
            } else {
                counts.rejected += 1;
            }
        }
    }

    fn count_error_code(&self, text: &str) {
        let code = text.split(' ').next().unwrap_or_default();
        let mut codes = self.error_codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = codes.get_mut(code) {
            *count += 1;
        } else if codes.len() < ERROR_CODES_MAX {
            codes.insert(code.to_string(), 1);
        }
    }

    /// Error replies per error code, sorted by code (INFO errorstats).
    pub fn error_codes(&self) -> Vec<(String, u64)> {
        let codes = self.error_codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.iter().map(|(code, n)| (code.clone(), *n)).collect()
    }

    /// Per-command counts, sorted by name.
    pub fn commands(&self) -> Vec<(&'static str, CommandCounts)> {
        let commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = commands.iter().map(|(k, v)| (*k, *v)).collect();
        out.sort_unstable_by_key(|(name, _)| *name);
        out
    }

    /// CONFIG RESETSTAT: zero the command and byte counters (connection gauges stay).
    pub fn reset(&self) {
        for counter in [
            &self.connections_accepted,
            &self.connections_rejected,
            &self.tls_handshakes_failed,
            &self.commands_processed,
            &self.error_replies,
            &self.clients_closed_for_limits,
            &self.bytes_in,
            &self.bytes_out,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.error_codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero_usec_buckets(calls: u64) -> [u64; LATENCY_BUCKETS] {
        let mut buckets = [0; LATENCY_BUCKETS];
        buckets[0] = calls;
        buckets
    }

    #[test]
    fn latency_buckets_are_powers_of_two() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(2), 1);
        assert_eq!(latency_bucket(5), 3);
        assert_eq!(latency_bucket(8), 3);
        assert_eq!(latency_bucket(12), 4);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        let stats = ServerStats::default();
        stats.record_command_timed(Some("set"), None, Duration::from_micros(12));
        stats.record_command_timed(Some("set"), None, Duration::from_micros(5));
        let counts = stats.commands()[0].1;
        assert_eq!(counts.usec, 17);
        assert_eq!(counts.usec_buckets[3], 1);
        assert_eq!(counts.usec_buckets[4], 1);
    }

    #[test]
    fn per_command_counts_and_totals() {
        let stats = ServerStats::default();
        stats.record_command(Some("get"), None);
        stats.record_command(Some("get"), Some("WRONGTYPE Operation against a key"));
        stats.record_command(Some("set"), None);
        stats.record_command(None, Some("ERR unknown command 'x'"));
        stats.record_command(None, Some("ERR unknown command 'y'"));
        assert_eq!(ServerStats::get(&stats.commands_processed), 5);
        assert_eq!(ServerStats::get(&stats.error_replies), 3);
        assert_eq!(
            stats.error_codes(),
            vec![("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]
        );
        assert_eq!(
            stats.commands(),
            vec![
                (
                    "get",
                    CommandCounts {
                        calls: 2,
                        errors: 1,
                        usec_buckets: zero_usec_buckets(2),
                        ..CommandCounts::default()
                    }
                ),
                (
                    "set",
                    CommandCounts {
                        calls: 1,
                        errors: 0,
                        usec_buckets: zero_usec_buckets(1),
                        ..CommandCounts::default()
                    }
                ),
            ]
        );
        stats.reset();
        assert!(stats.commands().is_empty());
        assert_eq!(ServerStats::get(&stats.commands_processed), 0);
        for n in 0..ERROR_CODES_MAX + 10 {
            stats.record_command(None, Some(&format!("CODE{n} made up")));
        }
        assert_eq!(stats.error_codes().len(), ERROR_CODES_MAX, "bounded");
        stats.reset();
        assert!(stats.error_codes().is_empty());
    }
}
