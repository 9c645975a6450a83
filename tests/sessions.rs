//! Exactly-once writes with client sessions, over real sockets and real faults: tagged
//! requests apply once however often they are sent and to whichever node, outcome queries
//! fence, sessions expire in log time identically on every replica, and counters incremented
//! by session clients through repeated leader `kill -9` and SIGSTOP end at exactly the sum of
//! the increments the clients were told succeeded.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::Tandem;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::Value;

fn connect(addr: SocketAddr, read_timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
    connection.set_read_timeout(Some(read_timeout))?;
    connection.set_write_timeout(Some(read_timeout))?;
    Ok(connection)
}

fn open_session(connection: &mut redis::Connection, timeout_ms: Option<u64>) -> u64 {
    let mut cmd = redis::cmd("TANDEM");
    cmd.arg("SESSION").arg("OPEN");
    if let Some(ms) = timeout_ms {
        cmd.arg("TIMEOUT").arg(ms);
    }
    cmd.query(connection).expect("TANDEM SESSION OPEN")
}

fn tagged(session: u64, seq: u64, acked: u64, command: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd("TANDEM");
    cmd.arg("REQ").arg(session).arg(seq).arg(acked);
    for arg in command {
        cmd.arg(*arg);
    }
    cmd
}

fn outcome(
    connection: &mut redis::Connection,
    session: u64,
    seq: u64,
) -> redis::RedisResult<Value> {
    redis::cmd("TANDEM")
        .arg("OUTCOME")
        .arg(session)
        .arg(seq)
        .query(connection)
}

fn error_text(result: redis::RedisResult<Value>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[test]
fn a_tagged_write_applies_once_and_its_outcome_is_definite() {
    let server = Tandem::start("sessions-basic", &[]);
    let mut con = connect(server.addr, Duration::from_secs(10)).unwrap();
    let s = open_session(&mut con, None);

    // The same request three times: applied once, the same reply each time.
    for _ in 0..3 {
        let reply: i64 = tagged(s, 1, 1, &["INCRBY", "balance", "-30"])
            .query(&mut con)
            .unwrap();
        assert_eq!(reply, -30);
    }
    let balance: i64 = redis::cmd("GET").arg("balance").query(&mut con).unwrap();
    assert_eq!(balance, -30);

    // A read runs untagged; a blocking command cannot be tagged.
    let read: i64 = tagged(s, 2, 2, &["GET", "balance"])
        .query(&mut con)
        .unwrap();
    assert_eq!(read, -30);
    let text = error_text(tagged(s, 3, 2, &["BLPOP", "q", "0"]).query(&mut con));
    assert!(
        text.contains("blocking commands cannot be tagged"),
        "{text}"
    );

    // Outcome of an applied request: its reply. Of one never seen: not applied, and fenced.
    let applied = outcome(&mut con, s, 1).unwrap();
    assert_eq!(
        applied,
        Value::Array(vec![
            Value::BulkString(b"applied".to_vec()),
            Value::Int(-30)
        ])
    );
    let fenced = outcome(&mut con, s, 7).unwrap();
    assert_eq!(
        fenced,
        Value::Array(vec![Value::BulkString(b"not-applied".to_vec())])
    );
    let text = error_text(tagged(s, 7, 1, &["INCRBY", "balance", "5"]).query(&mut con));
    assert!(text.contains("fenced"), "{text}");
    let balance: i64 = redis::cmd("GET").arg("balance").query(&mut con).unwrap();
    assert_eq!(balance, -30, "a fenced request never applies");

    // Acknowledging forgets: an acknowledged number is refused, not applied again.
    let _: i64 = tagged(s, 8, 8, &["INCRBY", "balance", "1"])
        .query(&mut con)
        .unwrap();
    let text = error_text(tagged(s, 1, 8, &["INCRBY", "balance", "-30"]).query(&mut con));
    assert!(text.contains("already answered and acknowledged"), "{text}");

    // A tagged transaction: EXEC's reply is recorded as a whole.
    for _ in 0..2 {
        let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
        let queued: String = redis::cmd("INCRBY")
            .arg("a")
            .arg(10)
            .query(&mut con)
            .unwrap();
        assert_eq!(queued, "QUEUED");
        let _: String = redis::cmd("INCRBY")
            .arg("b")
            .arg(-10)
            .query(&mut con)
            .unwrap();
        let replies: Vec<i64> = tagged(s, 9, 9, &["EXEC"]).query(&mut con).unwrap();
        assert_eq!(replies, vec![10, -10]);
    }
    let a: i64 = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(a, 10, "the tagged transaction applied once");

    // Unknown and closed sessions refuse, saying nothing was applied.
    let text = error_text(tagged(999, 1, 0, &["SET", "x", "1"]).query(&mut con));
    assert!(
        text.contains("unknown session") && text.contains("not applied"),
        "{text}"
    );
    let closed: i64 = redis::cmd("TANDEM")
        .arg("SESSION")
        .arg("CLOSE")
        .arg(s)
        .query(&mut con)
        .unwrap();
    assert_eq!(closed, 1);
    let text = error_text(tagged(s, 10, 10, &["SET", "x", "1"]).query(&mut con));
    assert!(text.contains("unknown session"), "{text}");
    let exists: i64 = redis::cmd("EXISTS").arg("x").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

/// The same tagged request sent to two nodes at once, then again after a snapshot and a
/// restart of every node: applied once, every copy gets the same reply, replicas agree. A
/// session that idles past its timeout expires on every replica alike.
#[test]
fn duplicates_on_two_nodes_and_after_restart_apply_once() {
    let mut cluster = Cluster::start("sessions-dup", &["a", "b", "c"], &[]);
    cluster.wait_for_leader(Duration::from_secs(20));
    let s = open_session(&mut cluster.client(0), None);
    let short = open_session(&mut cluster.client(0), Some(300));

    let addrs: Vec<SocketAddr> = (0..2).map(|i| cluster.server(i).addr).collect();
    let replies: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = addrs
            .iter()
            .map(|addr| {
                scope.spawn(move || {
                    let mut con = connect(*addr, Duration::from_secs(10)).unwrap();
                    tagged(s, 1, 0, &["INCRBY", "counter", "7"])
                        .query::<i64>(&mut con)
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(replies, vec![7, 7], "both copies get the one reply");

    // Snapshots on every node, then every node restarted: the table comes back from them.
    for i in 0..3 {
        let _: String = redis::cmd("SAVE").query(&mut cluster.client(i)).unwrap();
    }
    for i in 0..3 {
        cluster.stop(i);
        cluster.boot(i);
    }
    cluster.wait_for_leader(Duration::from_secs(20));
    for i in 0..3 {
        let reply: i64 = tagged(s, 1, 0, &["INCRBY", "counter", "7"])
            .query(&mut cluster.client(i))
            .unwrap();
        assert_eq!(reply, 7);
    }
    let counter: i64 = redis::cmd("GET")
        .arg("counter")
        .query(&mut cluster.client(0))
        .unwrap();
    assert_eq!(counter, 7, "applied exactly once");

    // Idle past its timeout (log time moves with the other session's writes): expired.
    std::thread::sleep(Duration::from_millis(600));
    let _: i64 = tagged(s, 2, 2, &["INCR", "tick"])
        .query(&mut cluster.client(1))
        .unwrap();
    let text = error_text(tagged(short, 1, 0, &["SET", "late", "1"]).query(&mut cluster.client(2)));
    assert!(text.contains("expired"), "{text}");
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(
        reports
            .windows(2)
            .all(|w| w == [w[0].clone(), w[0].clone()])
            && !reports[0].1.is_empty(),
        "replicas differ: {reports:?}"
    );
}

/// Copies of requests sent again after an error, over all clients.
static RESENDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// What one client learned about one request.
enum Fate {
    Applied,
    NotApplied,
    Unknown,
}

/// Sends request `seq` until it gets a definite answer or `deadline` passes, to a random
/// running node each time. Every copy is the same tagged request.
fn send_until_definite(
    rng: &mut StdRng,
    addrs: &Mutex<Vec<Option<SocketAddr>>>,
    session: u64,
    seq: u64,
    command: &[&str],
    deadline: Instant,
) -> Fate {
    let mut backoff = Duration::from_millis(20);
    while Instant::now() < deadline {
        let choices: Vec<SocketAddr> = addrs.lock().unwrap().iter().flatten().copied().collect();
        if choices.is_empty() {
            std::thread::sleep(backoff);
            continue;
        }
        let addr = choices[rng.gen_range(0..choices.len())];
        let result = connect(addr, Duration::from_secs(2))
            .and_then(|mut con| tagged(session, seq, seq, command).query::<Value>(&mut con));
        match result {
            Ok(Value::Int(_)) => return Fate::Applied,
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(e) if e.to_string().contains("not applied") => return Fate::NotApplied,
            Err(_) => {
                RESENDS.fetch_add(1, Ordering::Relaxed);
                // Connection refused or lost, TRYAGAIN, CLUSTERDOWN, a timeout: resend the same
                // request after a jittered backoff.
                let jitter = rng.gen_range(0..=backoff.as_millis() as u64);
                std::thread::sleep(Duration::from_millis(jitter));
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
        }
    }
    Fate::Unknown
}

/// Session clients INCRBY shared counters through random nodes while the leader is killed
/// (`kill -9`, then restarted) or paused (SIGSTOP, then SIGCONT), 20 faults in all. Every
/// request ends applied or definitely not applied (an outcome query settles the rest), and
/// every counter equals exactly the sum of the increments reported applied.
#[test]
fn counters_are_exact_under_leader_kills_and_pauses() {
    let seed = common::seed("counters_are_exact_under_leader_kills_and_pauses");
    let mut cluster = Cluster::start("sessions-faults", &["a", "b", "c"], &[]);
    cluster.wait_for_leader(Duration::from_secs(20));
    let addrs = Arc::new(Mutex::new(
        (0..3)
            .map(|i| Some(cluster.server(i).addr))
            .collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    const CLIENTS: u64 = 3;
    const COUNTERS: usize = 3;
    let sessions: Vec<u64> = (0..CLIENTS)
        .map(|_| open_session(&mut cluster.client(0), None))
        .collect();
    let workers: Vec<_> = sessions
        .iter()
        .enumerate()
        .map(|(n, &session)| {
            let addrs = addrs.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ n as u64);
                let mut applied = vec![0i64; COUNTERS];
                let mut unknown = Vec::new();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let counter = rng.gen_range(0..COUNTERS);
                    let by = rng.gen_range(1..=9i64);
                    let key = format!("counter:{counter}");
                    let by_text = by.to_string();
                    let command = ["INCRBY", key.as_str(), by_text.as_str()];
                    let deadline = Instant::now() + Duration::from_secs(20);
                    match send_until_definite(&mut rng, &addrs, session, seq, &command, deadline) {
                        Fate::Applied => applied[counter] += by,
                        Fate::NotApplied => {}
                        Fate::Unknown => unknown.push((seq, counter, by)),
                    }
                }
                (session, applied, unknown, seq)
            })
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(seed);
    for fault in 0..20 {
        let leader = cluster.wait_for_leader(Duration::from_secs(30));
        if fault % 2 == 0 {
            addrs.lock().unwrap()[leader] = None;
            cluster.kill(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(200..600)));
            cluster.boot(leader);
            addrs.lock().unwrap()[leader] = Some(cluster.server(leader).addr);
        } else {
            cluster.freeze(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(400..1_200)));
            cluster.thaw(leader);
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..500)));
    }
    cluster.wait_for_leader(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);

    let mut expected = vec![0i64; COUNTERS];
    let mut requests = 0;
    let mut settled_by_outcome = 0;
    for worker in workers {
        let (session, applied, unknown, sent) = worker.join().unwrap();
        requests += sent;
        for (counter, sum) in applied.iter().enumerate() {
            expected[counter] += sum;
        }
        // What the retries could not settle, an outcome query does (fencing the rest).
        for (seq, counter, by) in unknown {
            settled_by_outcome += 1;
            match outcome(&mut cluster.client(0), session, seq).expect("outcome") {
                Value::Array(items) if items.len() == 2 => expected[counter] += by,
                Value::Array(items) if items.len() == 1 => {}
                other => panic!("outcome {other:?}"),
            }
        }
    }
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    let mut con = cluster.client(0);
    let actual: HashMap<usize, i64> = (0..COUNTERS)
        .map(|c| {
            let value: Option<i64> = redis::cmd("GET")
                .arg(format!("counter:{c}"))
                .query(&mut con)
                .unwrap();
            (c, value.unwrap_or(0))
        })
        .collect();
    let resends = RESENDS.load(Ordering::Relaxed);
    eprintln!(
        "seed {seed}: {requests} requests, {resends} resends, {settled_by_outcome} settled by outcome queries, expected {expected:?}, replicas {reports:?}"
    );
    assert!(
        resends > 0,
        "seed {seed}: the faults never made a client resend"
    );
    for (c, want) in expected.iter().enumerate() {
        assert_eq!(actual[&c], *want, "seed {seed}: counter:{c}");
    }
    assert!(requests > 50, "seed {seed}: too few requests ({requests})");
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: replicas differ: {reports:?}"
    );
}

/// Tandem's own client (`tandem::client::Client`) with its defaults: exactly-once writes,
/// resends with backoff and jitter, leader following. Two clients INCRBY shared counters (some
/// as two-command transactions) while the leader is killed (and restarted on its port) or
/// paused, 10 faults in all. Every call ends with the one true reply or a definite "not
/// applied", never "unknown", and the counters equal exactly the increments reported applied.
#[test]
fn the_client_library_writes_exactly_once_across_faults() {
    use tandem::client::{CallError, Client, ClientOptions, Value as Reply};

    let seed = common::seed("the_client_library_writes_exactly_once_across_faults");
    let ports: Vec<u16> = (0..3).map(|_| common::server::free_port()).collect();
    let listen = ports.clone();
    let mut cluster = Cluster::start_with("sessions-client", &["a", "b", "c"], move |id| {
        vec![format!("--listen=127.0.0.1:{}", listen[id as usize - 1])]
    });
    cluster.wait_for_leader(Duration::from_secs(20));
    let targets: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    const COUNTERS: usize = 3;
    let workers: Vec<_> = (0..2u64)
        .map(|n| {
            let targets = targets.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let mut rng = StdRng::seed_from_u64(seed ^ (n + 100));
                    let mut client = Client::new(targets, ClientOptions::default());
                    let mut applied = vec![0i64; COUNTERS];
                    let (mut calls, mut not_applied) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        calls += 1;
                        let counter = rng.gen_range(0..COUNTERS);
                        let other = (counter + 1) % COUNTERS;
                        let by = rng.gen_range(1..=9i64);
                        let incr = |c: usize| -> Vec<bytes::Bytes> {
                            ["INCRBY", &format!("counter:{c}"), &by.to_string()]
                                .iter()
                                .map(|a| bytes::Bytes::copy_from_slice(a.as_bytes()))
                                .collect()
                        };
                        let both = rng.gen_bool(0.3);
                        let result = if both {
                            client.transaction(&[incr(counter), incr(other)]).await
                        } else {
                            client.write(&incr(counter)).await
                        };
                        match result {
                            Ok(Reply::Integer(_)) if !both => applied[counter] += by,
                            Ok(Reply::Array(replies)) if both && replies.len() == 2 => {
                                applied[counter] += by;
                                applied[other] += by;
                            }
                            Ok(other) => panic!("unexpected reply {other:?}"),
                            Err(CallError::NotApplied { .. } | CallError::CircuitOpen { .. }) => {
                                not_applied += 1
                            }
                            Err(e) => panic!("an indefinite answer: {e}"),
                        }
                    }
                    (applied, calls, not_applied, client.stats())
                })
            })
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(seed);
    for fault in 0..10 {
        let leader = cluster.wait_for_leader(Duration::from_secs(30));
        if fault % 2 == 0 {
            cluster.kill(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(200..600)));
            cluster.boot(leader);
        } else {
            cluster.freeze(leader);
            std::thread::sleep(Duration::from_millis(rng.gen_range(400..1_200)));
            cluster.thaw(leader);
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..500)));
    }
    cluster.wait_for_leader(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);

    let mut expected = vec![0i64; COUNTERS];
    let (mut calls, mut not_applied, mut resends) = (0, 0, 0);
    for worker in workers {
        let (applied, n, refused, stats) = worker.join().unwrap();
        calls += n;
        not_applied += refused;
        resends += stats.resends;
        for (c, sum) in applied.iter().enumerate() {
            expected[c] += sum;
        }
    }
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    let mut con = cluster.client(0);
    eprintln!(
        "seed {seed}: {calls} calls, {resends} resends, {not_applied} definitely not applied, expected {expected:?}"
    );
    for (c, want) in expected.iter().enumerate() {
        let value: Option<i64> = redis::cmd("GET")
            .arg(format!("counter:{c}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(value.unwrap_or(0), *want, "seed {seed}: counter:{c}");
    }
    assert!(
        resends > 0,
        "seed {seed}: the faults never made a client resend"
    );
    assert!(calls > 20, "seed {seed}: too few calls ({calls})");
    assert!(
        reports.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: replicas differ: {reports:?}"
    );
}
