//! Priority lanes end to end: a connection's class from each source (the critical listener,
//! CLIENT PRIORITY, the embedded API), the drain order seen in apply order, bulk shed before
//! critical under overload, and bulk still progressing beside a light critical load.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::server::{encode, Raw, Tandem};
use tandem::node::{BatchLimits, LaneLimits};
use tandem::{Class, Command, Error, Node, Reply};

/// One HTTP/1.0 GET of the admin listener; returns the body.
fn http_get(admin: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(admin).expect("connect admin");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

fn metric(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

/// The `lane_<class>:` line of INFO lanes, as key=value pairs.
fn lane_field(info: &str, class: &str, field: &str) -> u64 {
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix(&format!("lane_{class}:")))
        .unwrap_or_else(|| panic!("no lane_{class} in {info}"));
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{field}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {line}"))
}

/// Sends all `commands` in one write (a pipeline) and reads one reply per command.
fn pipeline(raw: &mut Raw, commands: &[Vec<String>]) -> Vec<String> {
    let mut bytes = Vec::new();
    for command in commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        bytes.extend_from_slice(&encode(&args));
    }
    raw.send(&bytes);
    (0..commands.len()).map(|_| raw.reply()).collect()
}

#[test]
fn class_comes_from_the_listener_and_from_client_priority() {
    let mut server = Tandem::start("lanes-class", &["--critical-listen", "127.0.0.1:0"]);
    let critical_addr = server
        .critical
        .expect("ready line names the critical listener");
    assert!(critical_addr.ip().is_loopback());

    // The plain listener: normal by default.
    let mut plain = server.raw();
    assert!(plain.cmd(&["CLIENT", "INFO"]).contains(" prio=normal"));
    assert_eq!(plain.cmd(&["CLIENT", "PRIORITY"]), "$6\r\nnormal\r\n");

    // The critical listener: critical, served (reads, writes, transactions) like any client.
    let mut critical = Raw::connect(critical_addr);
    assert!(critical.cmd(&["CLIENT", "INFO"]).contains(" prio=critical"));
    assert_eq!(critical.cmd(&["SET", "balance:a", "100"]), "+OK\r\n");
    let transfer = pipeline(
        &mut critical,
        &[
            vec!["MULTI".into()],
            vec!["DECRBY".into(), "balance:a".into(), "30".into()],
            vec!["INCRBY".into(), "balance:b".into(), "30".into()],
            vec!["EXEC".into()],
        ],
    );
    assert_eq!(transfer[3], "*2\r\n:70\r\n:30\r\n");
    assert_eq!(critical.cmd(&["GET", "balance:b"]), "$2\r\n30\r\n");

    // CLIENT PRIORITY moves a connection to another lane; bad names are refused.
    assert_eq!(plain.cmd(&["CLIENT", "PRIORITY", "bulk"]), "+OK\r\n");
    assert!(plain.cmd(&["CLIENT", "INFO"]).contains(" prio=bulk"));
    assert_eq!(plain.cmd(&["SET", "export:1", "x"]), "+OK\r\n");
    assert!(plain
        .cmd(&["CLIENT", "PRIORITY", "urgent"])
        .starts_with("-ERR CLIENT PRIORITY expects critical, normal or bulk"));
    assert!(plain
        .cmd(&["CLIENT", "PRIORITY", "bulk", "extra"])
        .starts_with("-ERR wrong number of arguments"));
    let list = plain.cmd(&["CLIENT", "LIST"]);
    assert!(
        list.contains(" prio=critical") && list.contains(" prio=bulk"),
        "{list}"
    );

    // INFO and /metrics show the classes.
    let info = plain.cmd(&["INFO", "lanes"]);
    assert!(info.contains("# Lanes\r\n"), "{info}");
    assert!(info.contains(&format!("critical_listen:{critical_addr}\r\n")));
    assert_eq!(lane_field(&info, "critical", "clients"), 1);
    assert_eq!(lane_field(&info, "bulk", "clients"), 1);
    assert!(lane_field(&info, "critical", "admitted") >= 2);
    assert_eq!(lane_field(&info, "bulk", "admitted"), 1);
    // Where each class's batches spent their time: recorded once per batch that carried the
    // class (the critical SET and the transaction went separately; the one bulk SET alone).
    assert!(lane_field(&info, "critical", "flush_count") >= 2, "{info}");
    assert_eq!(
        lane_field(&info, "critical", "answer_count"),
        lane_field(&info, "critical", "flush_count")
    );
    assert_eq!(lane_field(&info, "bulk", "flush_count"), 1);
    assert_eq!(lane_field(&info, "normal", "flush_count"), 0);
    let body = http_get(server.admin, "/metrics");
    assert_eq!(
        metric(&body, "tandem_lane_admitted_total{class=\"bulk\"}"),
        1.0
    );
    assert!(metric(&body, "tandem_lane_wait_seconds_count{class=\"critical\"}") >= 2.0);
    for stage in ["flush", "answer"] {
        let series = format!("tandem_lane_{stage}_seconds_count{{class=\"bulk\"}}");
        assert_eq!(metric(&body, &series), 1.0, "{series}");
    }
    assert!(
        metric(
            &body,
            "tandem_command_latency_seconds_count{class=\"critical\"}"
        ) >= 5.0
    );
    assert_eq!(metric(&body, "tandem_lane_shed_total{class=\"bulk\"}"), 0.0);

    // The critical runtime drains and stops with the server.
    drop((plain, critical));
    assert_eq!(server.terminate(), 0, "log:\n{}", server.log_text());
}

/// Under overload bulk is refused with BUSY and a retry hint while critical writes are all
/// admitted; once the backlog drains, bulk writes succeed again.
#[test]
fn bulk_is_shed_before_critical_under_overload() {
    let server = Tandem::start(
        "lanes-shed",
        &[
            "--critical-listen",
            "127.0.0.1:0",
            "--bulk-depth-max",
            "1",
            "--normal-depth-max",
            "2",
        ],
    );
    let mut bulk = server.raw();
    assert_eq!(bulk.cmd(&["CLIENT", "PRIORITY", "bulk"]), "+OK\r\n");
    let mut critical = Raw::connect(server.critical.unwrap());
    const WRITES: usize = 2_000;
    let sets = |prefix: &str| -> Vec<u8> {
        (0..WRITES)
            .flat_map(|i| encode(&["SET", &format!("{prefix}:{i}"), "v"]))
            .collect()
    };
    // Both pipelines are in flight at once; each connection is read to the end afterwards.
    bulk.send(&sets("bulk"));
    critical.send(&sets("critical"));
    let read_all = |raw: &mut Raw| -> Vec<String> { (0..WRITES).map(|_| raw.reply()).collect() };
    let critical_replies = read_all(&mut critical);
    let bulk_replies = read_all(&mut bulk);

    assert!(
        critical_replies.iter().all(|r| r == "+OK\r\n"),
        "critical writes must not be shed: {:?}",
        critical_replies.iter().find(|r| *r != "+OK\r\n")
    );
    let busy: Vec<&String> = bulk_replies.iter().filter(|r| r.starts_with("-")).collect();
    assert!(
        !busy.is_empty(),
        "a bulk lane of depth 1 must shed some of {WRITES} pipelined writes"
    );
    for reply in &busy {
        assert!(
            reply.starts_with("-BUSY bulk lane over its limit") && reply.contains("retry after "),
            "{reply}"
        );
    }
    let info = bulk.cmd(&["INFO", "lanes"]);
    assert_eq!(lane_field(&info, "bulk", "shed"), busy.len() as u64);
    assert_eq!(lane_field(&info, "critical", "shed"), 0);
    assert_eq!(lane_field(&info, "critical", "admitted"), WRITES as u64);
    // Retrying after the backlog drained succeeds.
    assert_eq!(bulk.cmd(&["SET", "bulk:retry", "v"]), "+OK\r\n");
}

/// The embedded API takes a class per handle: over the thresholds bulk is refused first, then
/// normal, then (only at the node-wide bound) critical; and one batch applies critical work
/// before normal before bulk, whatever the order the calls were made in.
#[tokio::test]
async fn embedded_class_per_call_sheds_and_orders_by_class() {
    let dir = common::data_dir("lanes-embedded");
    let node = Node::builder(dir.path())
        .batch_limits(BatchLimits {
            queue_depth_max: 8,
            ..BatchLimits::default()
        })
        .lane_limits(LaneLimits {
            bulk_depth_max: 2,
            normal_depth_max: 4,
            bulk_ops_per_batch_max: 64,
        })
        .open()
        .await
        .unwrap();
    let db = node.db();
    assert_eq!(db.class(), Class::Normal);
    let incr = || Command::parse(&["INCRBY".into(), "order".into(), "1".into()]).unwrap();
    // No await point between these calls on this single-threaded runtime: the batcher cannot
    // take anything until all of them are made, so admission sees the whole backlog.
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for class in [Class::Bulk, Class::Bulk, Class::Bulk] {
        match db.with_class(class).enqueue(incr()).await {
            Ok(pending) => admitted.push((class, pending)),
            Err(e) => refused.push((class, e)),
        }
    }
    for class in [Class::Normal, Class::Normal, Class::Normal] {
        match db.with_class(class).enqueue(incr()).await {
            Ok(pending) => admitted.push((class, pending)),
            Err(e) => refused.push((class, e)),
        }
    }
    for _ in 0..5 {
        match db.with_class(Class::Critical).enqueue(incr()).await {
            Ok(pending) => admitted.push((Class::Critical, pending)),
            Err(e) => refused.push((Class::Critical, e)),
        }
    }
    let refused_classes: Vec<Class> = refused.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        refused_classes,
        vec![Class::Bulk, Class::Normal, Class::Critical]
    );
    for (_, error) in &refused {
        let Error::Busy {
            reason,
            retry_after_ms,
        } = error
        else {
            panic!("expected BUSY, got {error:?}");
        };
        assert!(
            reason.contains(&format!("retry after {retry_after_ms} ms")),
            "the typed hint matches the text: {reason}"
        );
    }
    // Apply order: the counter's value is each write's position in the log.
    let mut positions: Vec<(i64, Class)> = Vec::new();
    for (class, pending) in admitted {
        let Reply::Integer(n) = pending.wait().await.unwrap() else {
            panic!("INCRBY answers an integer");
        };
        positions.push((n, class));
    }
    positions.sort();
    let order: Vec<Class> = positions.into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        order,
        [
            vec![Class::Critical; 4],
            vec![Class::Normal; 2],
            vec![Class::Bulk; 2]
        ]
        .concat()
    );
    // The typed calls go through the handle's lane too.
    db.with_class(Class::Bulk).set("k", "v").await.unwrap();
    assert_eq!(
        node.lane_stats()
            .class(Class::Bulk)
            .admitted
            .load(Ordering::Relaxed),
        3
    );
    node.shutdown().await.unwrap();
}

/// Bulk writes keep completing while a light critical load runs beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_is_not_starved_by_a_light_critical_load() {
    let dir = common::data_dir("lanes-starve");
    let node = Node::builder(dir.path()).open().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let critical = {
        let db = node.db().with_class(Class::Critical);
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.incr_by("critical:counter", 1).await.unwrap();
                writes += 1;
            }
            writes
        })
    };
    let bulk = node.db().with_class(Class::Bulk);
    let bulk_done = tokio::time::timeout(Duration::from_secs(120), async {
        for i in 0..300 {
            bulk.set(format!("bulk:{i}"), "v").await.unwrap();
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let critical_writes = critical.await.unwrap();
    assert!(
        bulk_done.is_ok(),
        "bulk writes starved beside critical load"
    );
    assert!(critical_writes > 0);
    assert_eq!(bulk.len(), 301);
    node.shutdown().await.unwrap();
}
