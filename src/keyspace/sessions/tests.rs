//! The session table against a plain model: a seeded random mix of opens, requests (new,
//! duplicate, acknowledged, fenced), outcome queries, closes, expiry and snapshot round trips,
//! with every answer and the final table checked. Replay a failure with TANDEM_TEST_SEED.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A recorded reply for the model: any distinct bytes do.
fn reply(step: i64) -> RecordedReply {
    Bytes::from(step.to_le_bytes().to_vec())
}

/// What the table must answer, kept the simplest way.
#[derive(Default)]
struct Model {
    sessions: BTreeMap<u64, ModelSession>,
}

#[derive(Clone)]
struct ModelSession {
    timeout: u64,
    last: u64,
    acked_below: u64,
    applied: BTreeMap<u64, RecordedReply>,
    fenced: BTreeSet<u64>,
}

impl ModelSession {
    fn live(&self, now: u64) -> bool {
        now - self.last <= self.timeout
    }
}

fn seed() -> u64 {
    std::env::var("TANDEM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

#[test]
fn session_table_matches_its_model() {
    let seed = seed();
    eprintln!("seed {seed} (replay with TANDEM_TEST_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut table = Sessions::default();
    let mut model = Model::default();
    let mut now = 1_000u64;
    let mut next_index = 1u64;
    let mut applied_count = 0;
    let mut duplicates = 0;
    let mut fenced_refusals = 0;
    for step in 0..20_000i64 {
        now += rng.gen_range(0..50);
        let ids: Vec<u64> = model.sessions.keys().copied().collect();
        let pick = |rng: &mut StdRng| -> u64 {
            if ids.is_empty() || rng.gen_bool(0.05) {
                session_id(rng.gen_range(100_000..100_005), 0) // never opened
            } else {
                ids[rng.gen_range(0..ids.len())]
            }
        };
        match rng.gen_range(0..100) {
            0..=4 => {
                let id = session_id(next_index, rng.gen_range(0..3));
                next_index += 1;
                let timeout = rng.gen_range(200..3_000);
                model.sessions.retain(|_, s| s.live(now));
                let result = table.open(id, timeout, now);
                if model.sessions.len() >= SESSIONS_MAX {
                    assert!(result.is_err());
                } else {
                    assert_eq!(result, Ok(()), "step {step}");
                    model.sessions.insert(
                        id,
                        ModelSession {
                            timeout,
                            last: now,
                            acked_below: 0,
                            applied: BTreeMap::new(),
                            fenced: BTreeSet::new(),
                        },
                    );
                }
            }
            5 => {
                let id = pick(&mut rng);
                let was_live = model.sessions.remove(&id).is_some_and(|s| s.live(now));
                assert_eq!(table.close(id, now), was_live, "step {step}");
            }
            6..=14 => {
                let id = pick(&mut rng);
                let seq = rng.gen_range(0..40);
                let answer = table.outcome(id, seq, now);
                match model.sessions.get_mut(&id) {
                    Some(s) if s.live(now) => {
                        s.last = now;
                        if seq < s.acked_below {
                            assert!(matches!(answer, Outcome::Refused(_)), "step {step}");
                        } else if let Some(reply) = s.applied.get(&seq) {
                            assert_eq!(answer, Outcome::Applied(reply.clone()), "step {step}");
                        } else {
                            s.fenced.insert(seq);
                            assert_eq!(answer, Outcome::NotApplied, "step {step}");
                        }
                    }
                    _ => {
                        model.sessions.remove(&id);
                        assert!(matches!(answer, Outcome::Refused(_)), "step {step}");
                    }
                }
            }
            15..=16 => {
                // A snapshot round trip: the restored table answers the same from now on.
                let mut restored = Sessions::default();
                for (id, session) in table.iter() {
                    let bytes = postcard::to_allocvec(&(id, session)).unwrap();
                    let (id, session): (u64, Session) = postcard::from_bytes(&bytes).unwrap();
                    restored.restore(id, session);
                }
                assert_eq!(restored, table);
                table = restored;
            }
            _ => {
                let id = pick(&mut rng);
                let seq = rng.gen_range(0..40);
                let acked = if rng.gen_bool(0.3) {
                    rng.gen_range(0..=seq)
                } else {
                    0
                };
                let answer = table.admit(id, seq, acked, now);
                let expected = match model.sessions.get_mut(&id) {
                    Some(s) if s.live(now) => {
                        s.last = now;
                        if acked > s.acked_below {
                            s.acked_below = acked;
                            s.applied.retain(|n, _| *n >= acked);
                            s.fenced.retain(|n| *n >= acked);
                        }
                        if seq < s.acked_below || s.fenced.contains(&seq) {
                            "refuse"
                        } else if s.applied.contains_key(&seq) {
                            "duplicate"
                        } else {
                            "apply"
                        }
                    }
                    _ => {
                        model.sessions.remove(&id);
                        "refuse"
                    }
                };
                match (expected, answer) {
                    ("apply", Admission::Apply) => {
                        let reply = reply(step);
                        table.record(id, seq, reply.clone());
                        let session = model.sessions.get_mut(&id).expect("live");
                        session.applied.insert(seq, reply);
                        applied_count += 1;
                    }
                    ("duplicate", Admission::Duplicate(reply)) => {
                        assert_eq!(Some(&reply), model.sessions[&id].applied.get(&seq));
                        duplicates += 1;
                    }
                    ("refuse", Admission::Refuse(text)) => {
                        assert!(
                            text.contains("not applied") || text.contains("never will be"),
                            "a refusal says the request was not applied: {text}"
                        );
                        fenced_refusals += usize::from(text.contains("fenced"));
                    }
                    (expected, answer) => {
                        panic!("step {step}: expected {expected}, table said {answer:?}")
                    }
                }
            }
        }
    }
    assert!(
        applied_count > 100 && duplicates > 10 && fenced_refusals > 0,
        "the mix exercised too little: {applied_count} applied, {duplicates} duplicates, {fenced_refusals} fenced"
    );
    // Every live session of the model is in the table with the same contents (the table may
    // still hold expired ones that no entry has removed yet).
    for (id, s) in &model.sessions {
        if !s.live(now) {
            continue;
        }
        let (_, t) = table
            .iter()
            .find(|(i, _)| *i == id)
            .expect("live session kept");
        assert_eq!(t.acked_below, s.acked_below);
        assert_eq!(t.replies, s.applied);
        assert_eq!(t.fenced, s.fenced);
    }
}

#[test]
fn session_ids_are_distinct_per_log_position() {
    assert_ne!(session_id(1, 0), session_id(1, 1));
    assert_ne!(session_id(1, 0), session_id(2, 0));
    assert_eq!(session_id(3, 5), (3 << 20) | 5);
}

#[test]
fn opening_removes_expired_sessions_and_enforces_the_limit() {
    let mut table = Sessions::default();
    for i in 0..SESSIONS_MAX as u64 {
        table.open(session_id(i + 1, 0), 1_000, 0).unwrap();
    }
    let refused = table.open(session_id(1 << 30, 0), 1_000, 500);
    assert!(
        matches!(&refused, Err(text) if text.contains("too many open sessions")),
        "{refused:?}"
    );
    // After every session's idle time has passed, an open removes them all first.
    table.open(session_id(1 << 30, 0), 1_000, 2_000).unwrap();
    assert_eq!(table.len(), 1);
}
