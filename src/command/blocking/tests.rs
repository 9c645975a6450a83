use bytes::Bytes;

use super::*;
use crate::command::tests::{bulk, bulks, err, WRONGTYPE};
use crate::keyspace::Keyspace;

/// Applies one command as the state machine does (in `term`), then serves blocked clients;
/// returns the reply and the waits it ended.
fn step(ks: &mut Keyspace, term: u64, words: &[&str]) -> (Reply, Vec<super::super::Unblocked>) {
    step_as(ks, term, words, None)
}

fn step_as(
    ks: &mut Keyspace,
    term: u64,
    words: &[&str],
    waiter: Option<WaiterId>,
) -> (Reply, Vec<super::super::Unblocked>) {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
    let mut command = Command::parse(&args).expect("parses");
    if let Some(id) = waiter {
        assert!(
            command.set_waiter(id),
            "only blocking commands take a waiter"
        );
    }
    let mut cx = Cx::new(1_000, 0).in_term(term);
    end_stale_waits(ks, &mut cx);
    let reply = command.apply(ks, &mut cx);
    serve_blocked(ks, &mut cx);
    (reply, cx.take_unblocked())
}

fn id(client: u64) -> Option<WaiterId> {
    Some(WaiterId {
        node: 1,
        client,
        request: 0,
    })
}

fn served(client: u64, reply: Reply) -> super::super::Unblocked {
    super::super::Unblocked {
        id: id(client).unwrap(),
        outcome: UnblockOutcome::Served(reply),
    }
}

fn pair(key: &str, element: &str) -> Reply {
    Reply::Array(vec![bulk(key), bulk(element)])
}

#[test]
fn pops_at_once_when_it_can_and_answers_nil_when_it_may_not_block() {
    let mut ks = Keyspace::new();
    step(&mut ks, 1, &["RPUSH", "b", "x", "y"]);
    assert_eq!(
        step(&mut ks, 1, &["BLPOP", "a", "b", "0"]).0,
        pair("b", "x")
    );
    assert_eq!(
        step(&mut ks, 1, &["BRPOP", "a", "b", "0"]).0,
        pair("b", "y")
    );
    // No waiter id (MULTI, embedded): Redis's answers when a client cannot block.
    assert_eq!(step(&mut ks, 1, &["BLPOP", "a", "1"]).0, Reply::NilArray);
    assert_eq!(
        step(&mut ks, 1, &["BRPOPLPUSH", "a", "b", "1"]).0,
        Reply::Nil
    );
    assert_eq!(
        step(&mut ks, 1, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "1"]).0,
        Reply::Nil
    );
    assert_eq!(
        step(&mut ks, 1, &["BLMPOP", "1", "1", "a", "LEFT"]).0,
        Reply::NilArray
    );
    assert!(ks.blocked().is_empty());
    step(&mut ks, 1, &["SET", "s", "v"]);
    assert_eq!(step(&mut ks, 1, &["BLPOP", "s", "0"]).0, err(WRONGTYPE));
}

#[test]
fn a_push_serves_the_oldest_waiters_in_the_same_step() {
    let mut ks = Keyspace::new();
    assert_eq!(
        step_as(&mut ks, 1, &["BLPOP", "q", "0"], id(1)).0,
        Reply::Blocked
    );
    assert_eq!(
        step_as(&mut ks, 1, &["BRPOP", "q", "0"], id(2)).0,
        Reply::Blocked
    );
    assert_eq!(
        step_as(&mut ks, 1, &["BLPOP", "q", "0"], id(3)).0,
        Reply::Blocked
    );
    let (reply, unblocked) = step(&mut ks, 1, &["RPUSH", "q", "a", "b"]);
    assert_eq!(
        reply,
        Reply::Integer(2),
        "the pusher sees the length it made"
    );
    assert_eq!(
        unblocked,
        vec![served(1, pair("q", "a")), served(2, pair("q", "b"))]
    );
    // Served in the same step: the list is already gone, the third client still waits.
    assert_eq!(step(&mut ks, 1, &["EXISTS", "q"]).0, Reply::Integer(0));
    assert_eq!(ks.blocked().len(), 1);
    let (_, unblocked) = step(&mut ks, 1, &["LPUSH", "q", "c"]);
    assert_eq!(unblocked, vec![served(3, pair("q", "c"))]);
    assert!(ks.blocked().is_empty());
}

#[test]
fn a_waiter_on_several_keys_is_served_once_from_the_first_ready_one() {
    let mut ks = Keyspace::new();
    step_as(&mut ks, 1, &["BLPOP", "a", "b", "0"], id(1));
    let (_, unblocked) = step(&mut ks, 1, &["MSET", "x", "1"]);
    assert!(unblocked.is_empty());
    let (_, unblocked) = step(&mut ks, 1, &["RPUSH", "b", "x"]);
    assert_eq!(unblocked, vec![served(1, pair("b", "x"))]);
    let (_, unblocked) = step(&mut ks, 1, &["RPUSH", "a", "y"]);
    assert!(unblocked.is_empty(), "served once only");
    assert_eq!(step(&mut ks, 1, &["LLEN", "a"]).0, Reply::Integer(1));
}

/// Linked moves: a push into the first list travels through two blocked BLMOVEs in one step.
#[test]
fn moves_chain_through_waiting_destinations() {
    let mut ks = Keyspace::new();
    step_as(
        &mut ks,
        1,
        &["BLMOVE", "l1", "l2", "RIGHT", "LEFT", "0"],
        id(1),
    );
    step_as(
        &mut ks,
        1,
        &["BLMOVE", "l2", "l3", "LEFT", "RIGHT", "0"],
        id(2),
    );
    let (_, unblocked) = step(&mut ks, 1, &["RPUSH", "l1", "foo"]);
    assert_eq!(
        unblocked,
        vec![served(1, bulk("foo")), served(2, bulk("foo"))]
    );
    assert_eq!(step(&mut ks, 1, &["LRANGE", "l1", "0", "-1"]).0, bulks(&[]));
    assert_eq!(step(&mut ks, 1, &["LRANGE", "l2", "0", "-1"]).0, bulks(&[]));
    assert_eq!(
        step(&mut ks, 1, &["LRANGE", "l3", "0", "-1"]).0,
        bulks(&["foo"])
    );
}

#[test]
fn blmpop_serves_up_to_its_count() {
    let mut ks = Keyspace::new();
    step_as(
        &mut ks,
        1,
        &["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"],
        id(1),
    );
    let (_, unblocked) = step(&mut ks, 1, &["RPUSH", "b", "1", "2", "3"]);
    let expected = Reply::Array(vec![bulk("b"), bulks(&["3", "2"])]);
    assert_eq!(unblocked, vec![served(1, expected)]);
    assert_eq!(
        step(&mut ks, 1, &["LRANGE", "b", "0", "-1"]).0,
        bulks(&["1"])
    );
}

#[test]
fn a_new_term_drops_older_waiters_and_a_cancel_ends_a_wait_once() {
    let mut ks = Keyspace::new();
    step_as(&mut ks, 1, &["BLPOP", "q", "0"], id(1));
    // The first entry of term 2 drops the term-1 waiter before anything else.
    let (reply, unblocked) = step_as(&mut ks, 2, &["BLPOP", "q", "0"], id(2));
    assert_eq!(reply, Reply::Blocked);
    assert_eq!(
        unblocked,
        vec![super::super::Unblocked {
            id: id(1).unwrap(),
            outcome: UnblockOutcome::Dropped
        }]
    );
    assert_eq!(cancel_wait(&mut ks, &id(2).unwrap()), Reply::Integer(1));
    assert_eq!(cancel_wait(&mut ks, &id(2).unwrap()), Reply::Integer(0));
    let (_, unblocked) = step(&mut ks, 2, &["RPUSH", "q", "x"]);
    assert!(unblocked.is_empty());
}

/// Two replicas applying the same commands serve the same waiters and end equal.
#[test]
fn serving_is_deterministic() {
    let run = || {
        let mut ks = Keyspace::new();
        let mut all = Vec::new();
        for client in 1..=5 {
            step_as(&mut ks, 1, &["BLPOP", "q", "r", "0"], id(client));
        }
        for words in [
            &["RPUSH", "r", "1", "2"][..],
            &["LPUSH", "q", "3"],
            &["RPUSH", "q", "4", "5", "6"],
        ] {
            all.extend(step(&mut ks, 1, words).1);
        }
        (ks.digest(), all)
    };
    let (digest, unblocked) = run();
    assert_eq!(unblocked.len(), 5);
    assert_eq!(run(), (digest, unblocked));
}

#[test]
fn timeouts_parse_as_redis_reads_them() {
    assert_eq!(parse_timeout(b"0"), Ok(0));
    assert_eq!(parse_timeout(b"1.5"), Ok(1500));
    assert_eq!(parse_timeout(b"0.001"), Ok(1));
    assert_eq!(parse_timeout(b"-1"), Err(CommandError::TimeoutNegative));
    assert_eq!(parse_timeout(b"1e20"), Err(CommandError::TimeoutNegative));
    for bad in [&b"abc"[..], b"", b" 1", b"nan"] {
        assert_eq!(
            parse_timeout(bad),
            Err(CommandError::TimeoutNotFloat),
            "{bad:?}"
        );
    }
    assert_eq!(
        CommandError::TimeoutNotFloat.to_string(),
        "ERR timeout is not a float or out of range"
    );
}

/// Redis's behaviour: a blocked BRPOPLPUSH whose destination became another type gets
/// WRONGTYPE when an element arrives, and the element stays for the next waiter.
#[test]
fn a_move_to_a_destination_of_another_type_ends_the_wait_with_wrongtype() {
    let mut ks = Keyspace::new();
    step(&mut ks, 1, &["SET", "target", "nolist"]);
    step_as(&mut ks, 1, &["BRPOPLPUSH", "src", "target", "0"], id(1));
    step_as(&mut ks, 1, &["BLPOP", "src", "0"], id(2));
    let (_, unblocked) = step(&mut ks, 1, &["RPUSH", "src", "a"]);
    assert_eq!(
        unblocked,
        vec![served(1, err(WRONGTYPE)), served(2, pair("src", "a"))]
    );
}
