use crate::command::tests::{bulk, bulks, err, exec, WRONGTYPE};
use crate::command::Reply;
use crate::keyspace::Keyspace;

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

fn entry(id: &str, fields: &[&str]) -> Reply {
    Reply::Array(vec![bulk(id), bulks(fields)])
}

fn array(items: Vec<Reply>) -> Reply {
    Reply::Array(items)
}

const SMALLER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

#[test]
fn xadd_ids_come_from_log_time_or_the_caller() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 1000, &["XADD", "s", "*", "a", "1"]),
        bulk("1000-0")
    );
    assert_eq!(
        exec(&mut ks, 1000, &["XADD", "s", "*", "a", "2"]),
        bulk("1000-1")
    );
    // A log time behind the last id continues from the last id.
    assert_eq!(
        exec(&mut ks, 500, &["XADD", "s", "*", "a", "3"]),
        bulk("1000-2")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "1000-*", "a", "4"]),
        bulk("1000-3")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "2000-*", "a", "5"]),
        bulk("2000-0")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "2000-0", "a", "6"]),
        err(SMALLER)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "1999-*", "a", "6"]),
        err(SMALLER)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "3000", "a", "7"]),
        bulk("3000-0")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "0-0", "a", "7"]),
        err("ERR The ID specified in XADD must be greater than 0-0")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "x-1", "a", "7"]),
        err(INVALID_ID)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "*", "a"]),
        err("ERR wrong number of arguments for 'xadd' command")
    );
    assert_eq!(exec(&mut ks, 0, &["XLEN", "s"]), int(6));
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "n", "NOMKSTREAM", "*", "a", "1"]),
        Reply::Nil
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "n"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["TYPE", "s"]),
        Reply::Simple("stream".into())
    );
    exec(&mut ks, 0, &["SET", "str", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "str", "*", "a", "1"]),
        err(WRONGTYPE)
    );
    assert_eq!(exec(&mut ks, 0, &["XLEN", "str"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["XLEN", "missing"]), int(0));
}

#[test]
fn xrange_and_xrevrange_honour_bounds_exclusion_and_count() {
    let mut ks = Keyspace::new();
    for id in ["1-1", "1-2", "2-0", "3-5"] {
        exec(&mut ks, 0, &["XADD", "s", id, "f", id]);
    }
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "s", "-", "+", "COUNT", "2"]),
        array(vec![
            entry("1-1", &["f", "1-1"]),
            entry("1-2", &["f", "1-2"])
        ])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "s", "(1-2", "2"]),
        array(vec![entry("2-0", &["f", "2-0"])])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XREVRANGE", "s", "+", "(2-0"]),
        array(vec![entry("3-5", &["f", "3-5"])])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "s", "1", "1"]),
        array(vec![
            entry("1-1", &["f", "1-1"]),
            entry("1-2", &["f", "1-2"])
        ])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "s", "(-", "+"]),
        err("ERR invalid start ID for the interval")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "s", "-", "(0-0"]),
        err("ERR invalid end ID for the interval")
    );
    assert_eq!(exec(&mut ks, 0, &["XRANGE", "s", "5", "1"]), array(vec![]));
    assert_eq!(
        exec(&mut ks, 0, &["XRANGE", "none", "-", "+"]),
        array(vec![])
    );
}

#[test]
fn xdel_xtrim_and_xsetid_keep_the_counters() {
    let mut ks = Keyspace::new();
    for n in 1..=10 {
        exec(&mut ks, 0, &["XADD", "s", &format!("{n}-0"), "f", "v"]);
    }
    assert_eq!(
        exec(&mut ks, 0, &["XDEL", "s", "2-0", "3-0", "99-0"]),
        int(2)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XTRIM", "s", "MAXLEN", "=", "5"]),
        int(3)
    );
    assert_eq!(exec(&mut ks, 0, &["XLEN", "s"]), int(5));
    assert_eq!(exec(&mut ks, 0, &["XTRIM", "s", "MINID", "8"]), int(2));
    assert_eq!(
        exec(&mut ks, 0, &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "3"]),
        err("ERR syntax error, LIMIT cannot be used without the special ~ option")
    );
    // Trimming to nothing keeps the (empty) stream.
    assert_eq!(exec(&mut ks, 0, &["XTRIM", "s", "MAXLEN", "0"]), int(3));
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "s"]), int(1));
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "10-0", "f", "v"]),
        err(SMALLER)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XSETID", "missing", "1-1"]),
        err("ERR no such key")
    );
    assert_eq!(exec(&mut ks, 0, &["XSETID", "s", "50-0"]), Reply::Ok);
    assert_eq!(
        exec(&mut ks, 0, &["XADD", "s", "*", "f", "v"]),
        bulk("50-1")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XSETID", "s", "1-0"]),
        err("ERR The ID specified in XSETID is smaller than the target stream top item")
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &[
                "XSETID",
                "s",
                "60-0",
                "ENTRIESADDED",
                "0",
                "MAXDELETEDID",
                "0-0"
            ]
        ),
        err("ERR The entries_added specified in XSETID is smaller than the target stream length")
    );
}

#[test]
fn approximate_trimming_removes_whole_nodes_only() {
    let mut ks = Keyspace::new();
    for n in 1..=250 {
        exec(&mut ks, 0, &["XADD", "s", &format!("{n}-0"), "f", "v"]);
    }
    // Nodes of 100: trimming to ~120 can drop only the first node.
    assert_eq!(
        exec(&mut ks, 0, &["XTRIM", "s", "MAXLEN", "~", "120"]),
        int(100)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XTRIM", "s", "MAXLEN", "~", "120"]),
        int(0)
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "50"]
        ),
        int(0)
    );
}

#[test]
fn xread_reads_after_the_given_ids() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["XADD", "a", "1-0", "f", "1"]);
    exec(&mut ks, 0, &["XADD", "a", "2-0", "f", "2"]);
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"]
        ),
        Reply::KeyedArrays(vec![(bulk("a"), array(vec![entry("1-0", &["f", "1"])]))])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XREAD", "STREAMS", "a", "$"]),
        Reply::NilArray
    );
    assert_eq!(
        exec(&mut ks, 0, &["XREAD", "STREAMS", "a", "b", "0"]),
        err("ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XREAD", "STREAMS", "a", ">"]),
        err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
    );
}

#[test]
fn a_group_delivers_acks_and_redelivers_pending_entries() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["XGROUP", "CREATE", "s", "g", "$"]),
        err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        Reply::Ok
    );
    assert_eq!(
        exec(&mut ks, 0, &["XGROUP", "CREATE", "s", "g", "$"]),
        err("BUSYGROUP Consumer Group name already exists")
    );
    for n in 1..=3 {
        exec(&mut ks, 0, &["XADD", "s", &format!("{n}-0"), "f", "v"]);
    }
    let read = exec(
        &mut ks,
        100,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
    );
    assert_eq!(
        read,
        Reply::KeyedArrays(vec![(
            bulk("s"),
            array(vec![entry("1-0", &["f", "v"]), entry("2-0", &["f", "v"])])
        )])
    );
    assert_eq!(exec(&mut ks, 0, &["XACK", "s", "g", "1-0", "9-0"]), int(1));
    assert_eq!(
        exec(&mut ks, 150, &["XPENDING", "s", "g"]),
        array(vec![
            int(1),
            bulk("2-0"),
            bulk("2-0"),
            array(vec![bulks(&["c1", "1"])])
        ])
    );
    assert_eq!(
        exec(&mut ks, 150, &["XPENDING", "s", "g", "-", "+", "10"]),
        array(vec![array(vec![bulk("2-0"), bulk("c1"), int(50), int(1)])])
    );
    // History of c1: the pending entry again, its delivery count grows.
    exec(
        &mut ks,
        200,
        &["XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"],
    );
    assert_eq!(
        exec(&mut ks, 200, &["XPENDING", "s", "g", "-", "+", "10", "c1"]),
        array(vec![array(vec![bulk("2-0"), bulk("c1"), int(0), int(2)])])
    );
    // Claimed by c2 after it was idle long enough.
    assert_eq!(
        exec(&mut ks, 250, &["XCLAIM", "s", "g", "c2", "100", "2-0"]),
        array(vec![])
    );
    assert_eq!(
        exec(
            &mut ks,
            400,
            &["XCLAIM", "s", "g", "c2", "100", "2-0", "JUSTID"]
        ),
        array(vec![bulk("2-0")])
    );
    assert_eq!(
        exec(&mut ks, 900, &["XAUTOCLAIM", "s", "g", "c3", "100", "0"]),
        array(vec![
            bulk("0-0"),
            array(vec![entry("2-0", &["f", "v"])]),
            array(vec![])
        ])
    );
    assert_eq!(
        exec(&mut ks, 0, &["XGROUP", "DELCONSUMER", "s", "g", "c3"]),
        int(1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["XPENDING", "s", "g", "-", "+", "10"]),
        array(vec![])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["XREADGROUP", "GROUP", "x", "c", "STREAMS", "s", ">"]
        ),
        err("NOGROUP No such key 's' or consumer group 'x' in XREADGROUP with GROUP option")
    );
    assert_eq!(
        exec(&mut ks, 0, &["XPENDING", "s", "x"]),
        err("NOGROUP No such key 's' or consumer group 'x'")
    );
    assert_eq!(exec(&mut ks, 0, &["XGROUP", "DESTROY", "s", "g"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["XGROUP", "DESTROY", "s", "g"]), int(0));
}

#[test]
fn stream_records_round_trip_with_groups() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"]);
    for n in 1..=5 {
        exec(&mut ks, 10, &["XADD", "s", "*", "f", &n.to_string()]);
    }
    exec(
        &mut ks,
        20,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
    );
    exec(&mut ks, 30, &["XDEL", "s", "10-1"]);
    exec(&mut ks, 30, &["XGROUP", "CREATECONSUMER", "s", "g", "idle"]);
    let mut records = Vec::new();
    ks.encode_entries(&mut |record| {
        records.push(record.to_vec());
        Ok(())
    })
    .unwrap();
    let mut restored = Keyspace::new();
    for record in &records {
        restored.decode_entry_into(record).unwrap();
    }
    restored.set_version_counter(ks.version_counter());
    assert_eq!(restored.digest(), ks.digest());
    assert_eq!(
        exec(&mut restored, 40, &["XPENDING", "s", "g"]),
        exec(&mut ks, 40, &["XPENDING", "s", "g"])
    );
    // Every truncation is rejected, never a panic.
    for len in 0..records[0].len() {
        assert!(crate::keyspace::Keyspace::new()
            .decode_entry_into(&records[0][..len])
            .is_err());
    }
}

// ---- blocking XREAD / XREADGROUP, and keyspace events ----

mod blocking {
    use bytes::Bytes;

    use super::{bulk, entry, err, exec, int};
    use crate::command::notify::{self, KeyEvent};
    use crate::command::{
        end_stale_waits, serve_blocked, Command, Cx, Reply, UnblockOutcome, Unblocked,
    };
    use crate::keyspace::{Keyspace, StreamId, WaiterId};

    /// What one op of a log entry produced: its reply, the waits it ended, its events.
    struct Step {
        reply: Reply,
        unblocked: Vec<Unblocked>,
        events: Vec<KeyEvent>,
    }

    /// Applies `words` as the state machine does (term `term`, at `now_ms`), registering
    /// `client` as the waiter when given, then serves blocked clients.
    fn step(ks: &mut Keyspace, term: u64, words: &[&str], client: Option<u64>) -> Step {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let mut command = Command::parse(&args).expect("parses");
        if let Some(client) = client {
            assert!(command.set_waiter(id(client)), "a blocking command");
        }
        let flags = notify::parse_flags(b"KEA").unwrap() | notify::NEW;
        let mut cx = Cx::new(1_000, 0).in_term(term).notifying(flags);
        end_stale_waits(ks, &mut cx);
        let reply = command.apply(ks, &mut cx);
        serve_blocked(ks, &mut cx);
        Step {
            reply,
            unblocked: cx.take_unblocked(),
            events: cx.take_events(),
        }
    }

    fn id(client: u64) -> WaiterId {
        WaiterId {
            node: 1,
            client,
            request: 0,
        }
    }

    fn served(client: u64, reply: Reply) -> Unblocked {
        Unblocked {
            id: id(client),
            outcome: UnblockOutcome::Served(reply),
        }
    }

    /// `[[key, [entry ...]]]`, the reply of a served XREAD / XREADGROUP.
    fn keyed(key: &str, entries: Vec<Reply>) -> Reply {
        Reply::KeyedArrays(vec![(bulk(key), Reply::Array(entries))])
    }

    fn consumers(ks: &mut Keyspace, key: &str, group: &str) -> usize {
        match exec(ks, 1_000, &["XINFO", "CONSUMERS", key, group]) {
            Reply::Array(items) => items.len(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xread_block_waits_after_the_last_id_and_the_xadd_serves_it() {
        let mut ks = Keyspace::new();
        step(&mut ks, 1, &["XADD", "s", "1-0", "a", "1"], None);
        // Data already there: answered at once, nobody waits.
        let now = step(
            &mut ks,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "0"],
            Some(1),
        );
        assert_eq!(now.reply, keyed("s", vec![entry("1-0", &["a", "1"])]));
        assert!(ks.blocked().is_empty());
        // `$` (and a missing key, read after 0-0) registers one waiter on both keys.
        let blocked = step(
            &mut ks,
            1,
            &[
                "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "t", "$", "$",
            ],
            Some(2),
        );
        assert_eq!(blocked.reply, Reply::Blocked);
        // A write that adds nothing readable serves nobody.
        assert!(step(&mut ks, 1, &["XDEL", "s", "1-0"], None)
            .unblocked
            .is_empty());
        let add = step(&mut ks, 1, &["XADD", "t", "5-0", "b", "2"], None);
        assert_eq!(
            add.unblocked,
            vec![served(2, keyed("t", vec![entry("5-0", &["b", "2"])]))]
        );
        assert!(ks.blocked().is_empty());
        // Without a waiter (MULTI, scripts) BLOCK cannot block: a nil.
        let multi = step(
            &mut ks,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "t", "$"],
            None,
        );
        assert_eq!(multi.reply, Reply::NilArray);
        assert!(ks.blocked().is_empty());
    }

    #[test]
    fn xread_keeps_waiting_through_deletes_and_other_types() {
        let mut ks = Keyspace::new();
        step(&mut ks, 1, &["XADD", "s", "666", "f", "v"], None);
        step(
            &mut ks,
            1,
            &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
            Some(1),
        );
        assert!(step(&mut ks, 1, &["DEL", "s"], None).unblocked.is_empty());
        assert!(step(&mut ks, 1, &["SET", "s", "x"], None)
            .unblocked
            .is_empty());
        assert!(step(&mut ks, 1, &["DEL", "s"], None).unblocked.is_empty());
        // A new stream with an id below the resolved `$` does not wake it; one above does.
        assert!(step(&mut ks, 1, &["XADD", "s", "600", "f", "v"], None)
            .unblocked
            .is_empty());
        let add = step(&mut ks, 1, &["XADD", "s", "667", "f", "v"], None);
        assert_eq!(
            add.unblocked,
            vec![served(1, keyed("s", vec![entry("667-0", &["f", "v"])]))]
        );
    }

    #[test]
    fn xreadgroup_block_is_served_with_the_pel_changed_in_the_same_apply() {
        let mut ks = Keyspace::new();
        exec(
            &mut ks,
            1_000,
            &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
        );
        let words = [
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        assert_eq!(step(&mut ks, 1, &words, Some(1)).reply, Reply::Blocked);
        // Nothing new: the consumer is not created yet (as in Redis).
        assert_eq!(consumers(&mut ks, "s", "g"), 0);
        let bob = [
            "XREADGROUP",
            "GROUP",
            "g",
            "bob",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        assert_eq!(step(&mut ks, 1, &bob, Some(2)).reply, Reply::Blocked);
        // One entry: the oldest waiter gets it; the other waits for the next.
        let add = step(&mut ks, 1, &["XADD", "s", "1-0", "a", "1"], None);
        assert_eq!(
            add.unblocked,
            vec![served(1, keyed("s", vec![entry("1-0", &["a", "1"])]))]
        );
        assert!(add
            .events
            .iter()
            .any(|e| e.event == "xgroup-createconsumer" && e.key == "s"));
        assert_eq!(
            exec(&mut ks, 1_000, &["XPENDING", "s", "g", "-", "+", "10"]),
            Reply::Array(vec![Reply::Array(vec![
                bulk("1-0"),
                bulk("alice"),
                int(0),
                int(1)
            ])])
        );
        let add = step(&mut ks, 1, &["XADD", "s", "2-0", "b", "2"], None);
        assert_eq!(
            add.unblocked,
            vec![served(2, keyed("s", vec![entry("2-0", &["b", "2"])]))]
        );
        assert!(ks.blocked().is_empty());
        assert_eq!(consumers(&mut ks, "s", "g"), 2);
    }

    #[test]
    fn xreadgroup_waiters_get_redis_errors_when_the_key_or_group_goes() {
        let errors = [
            (
                vec!["DEL", "s"],
                "UNBLOCKED the stream key no longer exists",
            ),
            (
                vec!["SET", "s", "v"],
                "UNBLOCKED the stream key no longer exists",
            ),
            (
                vec!["FLUSHALL"],
                "UNBLOCKED the stream key no longer exists",
            ),
            (
                vec!["XGROUP", "DESTROY", "s", "g"],
                "NOGROUP the consumer group this client was blocked on no longer exists",
            ),
        ];
        for (write, text) in errors {
            let mut ks = Keyspace::new();
            exec(
                &mut ks,
                1_000,
                &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
            );
            let words = [
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ];
            step(&mut ks, 1, &words, Some(1));
            let ended = step(&mut ks, 1, &write, None);
            assert_eq!(ended.unblocked, vec![served(1, err(text))], "{write:?}");
            assert!(ks.blocked().is_empty());
        }
    }

    #[test]
    fn a_new_term_drops_a_waiting_xread_with_its_resolved_ids() {
        let mut ks = Keyspace::new();
        step(&mut ks, 1, &["XADD", "s", "7-3", "a", "1"], None);
        let words = ["XREAD", "BLOCK", "0", "STREAMS", "s", "t", "$", "$"];
        step(&mut ks, 1, &words, Some(1));
        let next = step(&mut ks, 2, &["XLEN", "s"], None);
        let after = vec![StreamId::new(7, 3), StreamId::MIN];
        assert_eq!(
            next.unblocked,
            vec![Unblocked {
                id: id(1),
                outcome: UnblockOutcome::DroppedAfter(after.clone()),
            }]
        );
        // Registered again, it reads after those ids, not after the ids of the moment.
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let mut again = Command::parse(&args).unwrap();
        again.resume_after(&after);
        step(&mut ks, 2, &["XADD", "s", "8-0", "b", "2"], None);
        again.set_waiter(id(1));
        let mut cx = Cx::new(1_000, 0).in_term(2);
        assert_eq!(
            again.apply(&mut ks, &mut cx),
            keyed("s", vec![entry("8-0", &["b", "2"])])
        );
    }

    #[test]
    fn stream_writes_emit_redis_events() {
        let mut ks = Keyspace::new();
        let events = |ks: &mut Keyspace, words: &[&str]| -> Vec<&'static str> {
            step(ks, 1, words, None)
                .events
                .iter()
                .filter(|e| e.class != notify::NEW || e.event == "new")
                .map(|e| e.event)
                .collect()
        };
        assert_eq!(
            events(&mut ks, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
            ["new", "xgroup-create"]
        );
        assert_eq!(
            events(&mut ks, &["XGROUP", "CREATECONSUMER", "s", "g", "bob"]),
            ["xgroup-createconsumer"]
        );
        assert!(events(&mut ks, &["XGROUP", "CREATECONSUMER", "s", "g", "bob"]).is_empty());
        assert_eq!(events(&mut ks, &["XADD", "s", "1", "f", "A"]), ["xadd"]);
        assert_eq!(
            events(
                &mut ks,
                &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]
            ),
            ["xgroup-createconsumer"]
        );
        // Nothing new: no consumer, no event.
        assert!(events(
            &mut ks,
            &["XREADGROUP", "GROUP", "g", "zed", "STREAMS", "s", ">"]
        )
        .is_empty());
        assert_eq!(
            events(&mut ks, &["XCLAIM", "s", "g", "mike", "0", "1-0", "FORCE"]),
            ["xgroup-createconsumer"]
        );
        // Nothing claimed: the consumer is not created.
        assert!(events(&mut ks, &["XCLAIM", "s", "g", "nobody", "0", "9-0"]).is_empty());
        assert!(events(&mut ks, &["XGROUP", "DELCONSUMER", "s", "g", "lee"]).is_empty());
        assert!(events(&mut ks, &["XAUTOCLAIM", "s", "g", "bob", "0", "0"]).is_empty());
        assert_eq!(
            events(&mut ks, &["XGROUP", "DELCONSUMER", "s", "g", "bob"]),
            ["xgroup-delconsumer"]
        );
        assert_eq!(
            events(&mut ks, &["XADD", "s", "MAXLEN", "1", "2", "f", "B"]),
            ["xadd", "xtrim"]
        );
        assert_eq!(events(&mut ks, &["XDEL", "s", "2-0"]), ["xdel"]);
        assert!(events(&mut ks, &["XDEL", "s", "2-0"]).is_empty());
        assert_eq!(events(&mut ks, &["XADD", "s", "3", "f", "C"]), ["xadd"]);
        assert_eq!(events(&mut ks, &["XADD", "s", "4", "f", "D"]), ["xadd"]);
        assert_eq!(events(&mut ks, &["XTRIM", "s", "MAXLEN", "1"]), ["xtrim"]);
        assert!(events(&mut ks, &["XTRIM", "s", "MAXLEN", "1"]).is_empty());
        assert_eq!(events(&mut ks, &["XSETID", "s", "10-0"]), ["xsetid"]);
        assert_eq!(
            events(&mut ks, &["XGROUP", "SETID", "s", "g", "0"]),
            ["xgroup-setid"]
        );
        assert_eq!(
            events(&mut ks, &["XGROUP", "DESTROY", "s", "g"]),
            ["xgroup-destroy"]
        );
        assert!(events(&mut ks, &["XGROUP", "DESTROY", "s", "g"]).is_empty());
        assert!(events(&mut ks, &["XADD", "nos", "NOMKSTREAM", "*", "f", "v"]).is_empty());
    }
}
