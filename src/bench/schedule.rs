//! `Schedule`: when each operation of one open-loop client is meant to be sent. Operation j of
//! the whole run (all clients) is due at `origin + j / rate`, and client c sends operations
//! c, c + C, c + 2C, ... Latency is measured from this intended time, not from when the send
//! actually happened, so a server that stalls is charged for the operations it delayed
//! (coordinated omission corrected).

use std::time::{Duration, Instant};

/// When the run stops issuing operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Operations due before this instant.
    Until(Instant),
    /// This many measured operations (after the warmup ones).
    Count(u64),
}

/// One operation's slot in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub intended: Instant,
    /// False for warmup operations: sent, but not recorded.
    pub measured: bool,
}

/// The open-loop schedule of one client.
#[derive(Clone, Debug)]
pub struct Schedule {
    origin: Instant,
    rate_ops_per_s: f64,
    clients: u64,
    client: u64,
    /// Operations of the whole run due before the warmup ends.
    warmup_ops: u64,
    limit: Limit,
}

impl Schedule {
    /// `rate_ops_per_s` for the whole run, shared by `clients`; this is client `client`.
    pub fn new(
        origin: Instant,
        rate_ops_per_s: f64,
        clients: usize,
        client: usize,
        warmup: Duration,
        limit: Limit,
    ) -> Self {
        let rate_ops_per_s = rate_ops_per_s.max(f64::MIN_POSITIVE);
        Self {
            origin,
            rate_ops_per_s,
            clients: clients.max(1) as u64,
            client: client as u64,
            warmup_ops: (warmup.as_secs_f64() * rate_ops_per_s).ceil() as u64,
            limit,
        }
    }

    /// Index in the whole run of this client's `i`-th operation.
    pub fn global_index(&self, i: u64) -> u64 {
        i * self.clients + self.client
    }

    /// This client's `i`-th operation, or `None` once the schedule has ended.
    pub fn slot(&self, i: u64) -> Option<Slot> {
        let j = self.global_index(i);
        let intended = self.origin + Duration::from_secs_f64(j as f64 / self.rate_ops_per_s);
        let within = match self.limit {
            Limit::Until(end) => intended < end,
            Limit::Count(count) => j < self.warmup_ops + count,
        };
        within.then_some(Slot {
            intended,
            measured: j >= self.warmup_ops,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets_ms(schedule: &Schedule, origin: Instant) -> Vec<(f64, bool)> {
        (0..)
            .map_while(|i| schedule.slot(i))
            .map(|slot| {
                let ms = (slot.intended - origin).as_secs_f64() * 1000.0;
                ((ms * 1000.0).round() / 1000.0, slot.measured)
            })
            .collect()
    }

    /// 1000 ops/s over 2 clients: the clients alternate, one operation per millisecond in all.
    #[test]
    fn clients_interleave_at_the_rate() {
        let origin = Instant::now();
        let limit = Limit::Count(6);
        let a = Schedule::new(origin, 1000.0, 2, 0, Duration::ZERO, limit);
        let b = Schedule::new(origin, 1000.0, 2, 1, Duration::ZERO, limit);
        let on = |v: &[f64]| v.iter().map(|ms| (*ms, true)).collect::<Vec<_>>();
        assert_eq!(offsets_ms(&a, origin), on(&[0.0, 2.0, 4.0]));
        assert_eq!(offsets_ms(&b, origin), on(&[1.0, 3.0, 5.0]));
    }

    /// Warmup operations come first and are not measured; the count limit is of measured ones.
    #[test]
    fn warmup_slots_are_not_measured() {
        let origin = Instant::now();
        let schedule = Schedule::new(
            origin,
            100.0,
            1,
            0,
            Duration::from_millis(30),
            Limit::Count(2),
        );
        assert_eq!(
            offsets_ms(&schedule, origin),
            vec![
                (0.0, false),
                (10.0, false),
                (20.0, false),
                (30.0, true),
                (40.0, true)
            ]
        );
    }

    /// A duration limit keeps the operations due strictly before the end.
    #[test]
    fn duration_limit_ends_the_schedule() {
        let origin = Instant::now();
        let end = origin + Duration::from_millis(50);
        let schedule = Schedule::new(origin, 100.0, 1, 0, Duration::ZERO, Limit::Until(end));
        assert_eq!(offsets_ms(&schedule, origin).len(), 5);
    }
}
