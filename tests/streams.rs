//! Consumer groups through leader failures on a real three-node cluster: entries are added and
//! consumed by three consumers (XREADGROUP, XACK) while the leader is killed with SIGKILL
//! four times: while entries are added, between a delivery and its acknowledgement, from another
//! thread in the middle of a round, and with nothing in flight. At the end every added entry has been acknowledged exactly once, no
//! acknowledged entry was ever delivered again, XPENDING held exactly the delivered and
//! unacknowledged entries (plus any whose delivery reply was lost in a failover, which
//! XCLAIM then redelivers), and every replica has the same digest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use redis::Value;

const ENTRIES_PER_ROUND: u64 = 30;

/// When, within a round of adding and consuming, the leader is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillAt {
    /// Halfway through the round's XADDs.
    Producing,
    /// After the second consumer's XREADGROUP, before its XACKs.
    Consuming,
    /// From another thread, 30 ms into the round, whatever is in flight.
    Midway,
    /// After the round, with nothing in flight.
    Idle,
}

/// One leader kill per round.
const KILLS: [KillAt; 4] = [
    KillAt::Producing,
    KillAt::Consuming,
    KillAt::Midway,
    KillAt::Idle,
];
const CONSUMERS: [&str; 3] = ["c1", "c2", "c3"];

fn sigkill(pid: u32) {
    // SAFETY: kill(2) on a child of this test that has not been reaped (Cluster::kill reaps it).
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Runs `args` on any live node, retrying through failover (connection errors, TRYAGAIN,
/// no leader yet) for up to 30 s.
fn run(cluster: &Cluster, args: &[&str]) -> redis::RedisResult<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes: Vec<usize> = cluster.up().collect();
        for node in nodes {
            let client = redis::Client::open(format!("redis://{}/", cluster.server(node).addr))
                .expect("client");
            let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
                continue;
            };
            let _ = con.set_read_timeout(Some(Duration::from_secs(5)));
            let mut cmd = redis::cmd(args[0]);
            for arg in &args[1..] {
                cmd.arg(*arg);
            }
            match cmd.query::<Value>(&mut con) {
                Ok(value) => return Ok(value),
                Err(e) => {
                    // A Redis-style answer (not a failover symptom) is the command's result.
                    let text = e.to_string();
                    if text.contains("equal or smaller") || text.contains("NOGROUP") {
                        return Err(e);
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "{args:?}: no node answered");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn is_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
    })
}

/// The ids of every `[id, [fields]]` entry anywhere in `value`.
fn entry_ids(value: &Value, out: &mut Vec<String>) {
    if let Value::Array(items) = value {
        if items.len() == 2 {
            if let (Some(id), Value::Array(_)) = (text(&items[0]), &items[1]) {
                if is_id(&id) {
                    out.push(id);
                    return;
                }
            }
        }
        for item in items {
            entry_ids(item, out);
        }
    }
}

fn id_key(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[derive(Default)]
struct Ledger {
    added: BTreeSet<(u64, u64)>,
    delivered: BTreeMap<(u64, u64), String>,
    acked: BTreeSet<(u64, u64)>,
}

impl Ledger {
    fn deliveries(&mut self, consumer: &str, ids: &[String]) {
        for id in ids {
            let key = id_key(id);
            assert!(
                !self.acked.contains(&key),
                "{id} was delivered again after it was acknowledged"
            );
            self.delivered.insert(key, consumer.to_string());
        }
    }

    fn ack(&mut self, cluster: &Cluster, ids: &[(u64, u64)]) {
        for &(ms, seq) in ids {
            let id = format!("{ms}-{seq}");
            match run(cluster, &["XACK", "orders", "g", &id]) {
                // 0 after a retry whose first attempt was applied: already acknowledged.
                Ok(Value::Int(1)) | Ok(Value::Int(0)) => {
                    assert!(self.acked.insert((ms, seq)), "{id} acknowledged twice");
                    self.delivered.remove(&(ms, seq));
                }
                other => panic!("XACK {id}: {other:?}"),
            }
        }
    }
}

#[test]
fn consumer_groups_survive_leader_kills() {
    let mut cluster = Cluster::start("streams-failover", &["a", "b", "c"], &[]);
    cluster.wait_for_leader(Duration::from_secs(20));
    run(
        &cluster,
        &["XGROUP", "CREATE", "orders", "g", "0", "MKSTREAM"],
    )
    .expect("create");
    let mut ledger = Ledger::default();
    let mut next_ms = 1u64;
    for (round, kill_at) in KILLS.into_iter().enumerate() {
        let leader = cluster.wait_for_leader(Duration::from_secs(20));
        let pid = cluster.server(leader).pid();
        // `Midway` kills from another thread while the round's commands are in flight.
        let killer = (kill_at == KillAt::Midway).then(|| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                sigkill(pid);
            })
        });
        for n in 0..ENTRIES_PER_ROUND {
            if kill_at == KillAt::Producing && n == ENTRIES_PER_ROUND / 2 {
                sigkill(pid);
            }
            let id = format!("{next_ms}-1");
            match run(
                &cluster,
                &["XADD", "orders", &id, "n", &next_ms.to_string()],
            ) {
                Ok(_) => {}
                Err(e) if e.to_string().contains("equal or smaller") => {} // applied before
                Err(e) => panic!("XADD {id}: {e}"),
            }
            ledger.added.insert((next_ms, 1));
            next_ms += 1;
        }
        for (c, consumer) in CONSUMERS.into_iter().enumerate() {
            let reply = run(
                &cluster,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    consumer,
                    "COUNT",
                    "6",
                    "STREAMS",
                    "orders",
                    ">",
                ],
            )
            .expect("XREADGROUP");
            let mut ids = Vec::new();
            entry_ids(&reply, &mut ids);
            ledger.deliveries(consumer, &ids);
            if kill_at == KillAt::Consuming && c == 1 {
                // Delivered, not yet acknowledged: the acks go to the next leader.
                sigkill(pid);
            }
            // Half of what it got is processed and acknowledged before the failure.
            let to_ack: Vec<(u64, u64)> = ids.iter().step_by(2).map(|id| id_key(id)).collect();
            ledger.ack(&cluster, &to_ack);
        }
        if let Some(killer) = killer {
            killer.join().expect("killer thread");
        }
        if kill_at == KillAt::Idle {
            sigkill(pid);
        }
        // Reap the killed process and bring the node back as a follower.
        cluster.kill(leader);
        cluster.wait_for_leader(Duration::from_secs(20));
        cluster.boot(leader);
        eprintln!("round {round}: killed node {leader} ({kill_at:?})");
    }
    cluster.wait_for_leader(Duration::from_secs(20));

    // XPENDING is exactly delivered-and-unacknowledged, plus deliveries whose reply was lost.
    let pending =
        run(&cluster, &["XPENDING", "orders", "g", "-", "+", "100000"]).expect("xpending");
    let Value::Array(rows) = pending else {
        panic!("XPENDING: {pending:?}")
    };
    let pending: BTreeSet<(u64, u64)> = rows
        .iter()
        .map(|row| match row {
            Value::Array(fields) => id_key(&text(&fields[0]).unwrap()),
            other => panic!("XPENDING row {other:?}"),
        })
        .collect();
    assert!(
        pending.is_disjoint(&ledger.acked),
        "an acknowledged entry is pending"
    );
    let known: BTreeSet<(u64, u64)> = ledger.delivered.keys().copied().collect();
    assert!(
        known.is_subset(&pending),
        "delivered and unacknowledged entries missing from XPENDING: {:?}",
        known.difference(&pending).collect::<Vec<_>>()
    );
    assert!(pending.is_subset(&ledger.added));

    // The pending entries are redelivered through XCLAIM (never the acknowledged ones).
    let mut claim: Vec<String> = vec![
        "XCLAIM".into(),
        "orders".into(),
        "g".into(),
        "rescuer".into(),
        "0".into(),
    ];
    claim.extend(pending.iter().map(|(ms, seq)| format!("{ms}-{seq}")));
    if !pending.is_empty() {
        let args: Vec<&str> = claim.iter().map(String::as_str).collect();
        let reply = run(&cluster, &args).expect("XCLAIM");
        let mut ids = Vec::new();
        entry_ids(&reply, &mut ids);
        let claimed: BTreeSet<(u64, u64)> = ids.iter().map(|id| id_key(id)).collect();
        assert_eq!(
            claimed, pending,
            "XCLAIM redelivers exactly the pending entries"
        );
        ledger.deliveries("rescuer", &ids);
        let ids: Vec<(u64, u64)> = claimed.into_iter().collect();
        ledger.ack(&cluster, &ids);
    }
    // The rest was never delivered: read and acknowledge it.
    loop {
        let reply = run(
            &cluster,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "COUNT",
                "50",
                "STREAMS",
                "orders",
                ">",
            ],
        )
        .expect("XREADGROUP");
        let mut ids = Vec::new();
        entry_ids(&reply, &mut ids);
        if ids.is_empty() {
            break;
        }
        ledger.deliveries("c1", &ids);
        let keys: Vec<(u64, u64)> = ids.iter().map(|id| id_key(id)).collect();
        ledger.ack(&cluster, &keys);
    }
    assert_eq!(
        ledger.acked, ledger.added,
        "every entry acknowledged exactly once"
    );
    let summary = run(&cluster, &["XPENDING", "orders", "g"]).expect("summary");
    let Value::Array(summary) = summary else {
        panic!("{summary:?}")
    };
    assert_eq!(summary[0], Value::Int(0));

    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]) && !reports[0].1.is_empty(),
        "replicas differ: {reports:?}"
    );
}

/// Number of clients blocked on member `i` (INFO clients).
fn blocked_clients(cluster: &Cluster, i: usize) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(&mut cluster.client(i))
        .expect("INFO clients");
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients")
}

fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client blocked in XREADGROUP on a follower when the leader is killed with SIGKILL is
/// served after the failover (its node registers the wait again with the new leader), with the
/// entry added after the failover, and nothing acknowledged before is ever delivered again.
#[test]
fn blocked_xreadgroup_on_a_follower_is_served_after_the_leader_dies() {
    let mut cluster = Cluster::start("streams-blocked-failover", &["a", "b", "c"], &[]);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    run(
        &cluster,
        &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"],
    )
    .expect("create");
    for n in 1..=5 {
        run(&cluster, &["XADD", "jobs", &format!("{n}-1"), "n", "x"]).expect("XADD");
    }
    let reply = run(
        &cluster,
        &["XREADGROUP", "GROUP", "g", "early", "STREAMS", "jobs", ">"],
    )
    .expect("XREADGROUP");
    let mut acked = Vec::new();
    entry_ids(&reply, &mut acked);
    assert_eq!(acked.len(), 5);
    for id in &acked {
        assert_eq!(
            run(&cluster, &["XACK", "jobs", "g", id]).unwrap(),
            Value::Int(1)
        );
    }

    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut con = cluster.client(follower);
    con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let waiting = std::thread::spawn(move || {
        redis::cmd("XREADGROUP")
            .arg(&["GROUP", "g", "late", "BLOCK", "0", "STREAMS", "jobs", ">"])
            .query::<Value>(&mut con)
    });
    wait_until(
        "the follower's client to block",
        Duration::from_secs(10),
        || blocked_clients(&cluster, follower) == 1,
    );

    cluster.kill(leader);
    cluster.wait_for_leader(Duration::from_secs(20));
    let added = match run(&cluster, &["XADD", "jobs", "100-1", "n", "after"]) {
        Ok(value) => text(&value).unwrap(),
        Err(e) if e.to_string().contains("equal or smaller") => "100-1".to_string(),
        Err(e) => panic!("XADD: {e}"),
    };
    let served = waiting
        .join()
        .unwrap()
        .expect("the blocked client is answered");
    let mut ids = Vec::new();
    entry_ids(&served, &mut ids);
    assert_eq!(ids, vec![added.clone()], "served with the new entry only");

    // It is pending for the blocked consumer until acknowledged; nothing else is pending.
    let pending = run(&cluster, &["XPENDING", "jobs", "g", "-", "+", "10"]).unwrap();
    let Value::Array(rows) = pending else {
        panic!("{pending:?}")
    };
    assert_eq!(rows.len(), 1);
    let Value::Array(row) = &rows[0] else {
        panic!("{rows:?}")
    };
    assert_eq!(text(&row[0]).unwrap(), added);
    assert_eq!(text(&row[1]).unwrap(), "late");
    assert_eq!(
        run(&cluster, &["XACK", "jobs", "g", &added]).unwrap(),
        Value::Int(1)
    );

    cluster.boot(leader);
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]) && !reports[0].1.is_empty(),
        "replicas differ: {reports:?}"
    );
}

/// A consumer that crashes with entries delivered and unacknowledged loses none of them:
/// XAUTOCLAIM hands exactly those (and no acknowledged ones) to another consumer once they
/// have been idle long enough, with their delivery count raised. A client that disconnects
/// while blocked in XREADGROUP takes nothing with it: the next entry goes to a live consumer.
#[test]
fn a_crashed_consumers_entries_are_redelivered_by_xautoclaim() {
    let cluster = Cluster::start("streams-consumer-crash", &["a", "b", "c"], &[]);
    cluster.wait_for_leader(Duration::from_secs(20));
    run(
        &cluster,
        &["XGROUP", "CREATE", "jobs", "g", "0", "MKSTREAM"],
    )
    .expect("create");
    for n in 1..=8 {
        run(&cluster, &["XADD", "jobs", &format!("{n}-1"), "n", "x"]).expect("XADD");
    }
    // The consumer that will crash takes 6, acknowledges 2 of them, then is gone.
    let reply = run(
        &cluster,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "doomed",
            "COUNT",
            "6",
            "STREAMS",
            "jobs",
            ">",
        ],
    )
    .unwrap();
    let mut taken = Vec::new();
    entry_ids(&reply, &mut taken);
    assert_eq!(taken.len(), 6);
    for id in &taken[..2] {
        assert_eq!(
            run(&cluster, &["XACK", "jobs", "g", id]).unwrap(),
            Value::Int(1)
        );
    }
    let unacked: BTreeSet<String> = taken[2..].iter().cloned().collect();

    // Not idle long enough yet: nothing is claimed.
    let early = run(
        &cluster,
        &[
            "XAUTOCLAIM",
            "jobs",
            "g",
            "rescuer",
            "60000",
            "0-0",
            "COUNT",
            "100",
        ],
    )
    .unwrap();
    let mut none = Vec::new();
    entry_ids(&early, &mut none);
    assert!(none.is_empty(), "claimed before the idle time: {none:?}");

    std::thread::sleep(Duration::from_millis(300));
    let claimed = run(
        &cluster,
        &[
            "XAUTOCLAIM",
            "jobs",
            "g",
            "rescuer",
            "200",
            "0-0",
            "COUNT",
            "100",
        ],
    )
    .unwrap();
    let mut ids = Vec::new();
    entry_ids(&claimed, &mut ids);
    let ids: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(
        ids, unacked,
        "exactly the unacknowledged entries are redelivered"
    );
    let detail = run(&cluster, &["XPENDING", "jobs", "g", "-", "+", "100"]).unwrap();
    let Value::Array(rows) = detail else {
        panic!("{detail:?}")
    };
    for row in &rows {
        let Value::Array(fields) = row else {
            panic!("{row:?}")
        };
        assert_eq!(text(&fields[1]).unwrap(), "rescuer");
        assert_eq!(fields[3], Value::Int(2), "delivered twice");
    }
    for id in &ids {
        assert_eq!(
            run(&cluster, &["XACK", "jobs", "g", id]).unwrap(),
            Value::Int(1)
        );
    }

    // The entries never delivered go to a live consumer.
    let rest = run(
        &cluster,
        &["XREADGROUP", "GROUP", "g", "alive", "STREAMS", "jobs", ">"],
    )
    .unwrap();
    let mut ids = Vec::new();
    entry_ids(&rest, &mut ids);
    assert_eq!(ids, vec!["7-1", "8-1"]);

    // A blocked reader that disconnects does not keep a claim on the next entry.
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let addr = cluster.server(leader).addr;
    {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(addr).unwrap();
        let command = "*9\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$4\r\ngone\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n$4\r\njobs\r\n$1\r\n>\r\n";
        raw.write_all(command.as_bytes()).unwrap();
        wait_until("the raw client to block", Duration::from_secs(10), || {
            blocked_clients(&cluster, leader) == 1
        });
    }
    wait_until(
        "the disconnect to end the wait",
        Duration::from_secs(10),
        || blocked_clients(&cluster, leader) == 0,
    );
    run(&cluster, &["XADD", "jobs", "9-1", "n", "x"]).unwrap();
    let rest = run(
        &cluster,
        &["XREADGROUP", "GROUP", "g", "alive", "STREAMS", "jobs", ">"],
    )
    .unwrap();
    let mut ids = Vec::new();
    entry_ids(&rest, &mut ids);
    assert_eq!(ids, vec!["9-1"]);
    let consumers = run(&cluster, &["XINFO", "CONSUMERS", "jobs", "g"]).unwrap();
    assert!(
        !format!("{consumers:?}").contains("gone"),
        "the disconnected reader was never served: {consumers:?}"
    );
}
