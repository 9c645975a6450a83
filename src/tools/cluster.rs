//! The operator tools behind `tandem status`, `tandem check`, `tandem cluster ...` and
//! `tandem demo`. They talk to any node's client port with plain RESP (`TANDEM ...` commands),
//! so they work through the same firewall holes as any Redis client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use tandem::client::{Auth, ConnectOptions, Value};
use tandem::cluster::status::{ClusterStatus, MemberStatus, Progress};

/// How long the tools wait for a node to answer.
const TOOL_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the tools wait for a node to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to one node: [`tandem::client::Connection`] on a small runtime of its own,
/// since the tools are synchronous.
struct Connection {
    runtime: tokio::runtime::Runtime,
    inner: tandem::client::Connection,
}

impl Connection {
    fn open(target: &str, auth: Option<&str>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the tool's runtime")?;
        let options = ConnectOptions {
            connect_timeout: CONNECT_TIMEOUT,
            reply_timeout: TOOL_TIMEOUT,
            auth: auth.map(|password| Auth {
                username: None,
                password: password.to_string(),
            }),
            ..ConnectOptions::default()
        };
        let inner = runtime
            .block_on(tandem::client::Connection::connect(target, &options))
            .with_context(|| format!("cannot connect to {target}"))?;
        Ok(Self { runtime, inner })
    }

    /// Sends one command and returns its reply; an error reply is an error.
    fn call(&mut self, args: &[&str]) -> anyhow::Result<Value> {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        match self.runtime.block_on(self.inner.command(&args))? {
            Value::Error(text) => bail!("{text}"),
            value => Ok(value),
        }
    }
}

fn fetch_status(target: &str, auth: Option<&str>, deep: bool) -> anyhow::Result<ClusterStatus> {
    let mut connection = Connection::open(target, auth)?;
    let sub = if deep { "CHECK" } else { "STATUS" };
    match connection.call(&["TANDEM", sub])? {
        Value::Bulk(json) => serde_json::from_slice(&json).context("status is not valid JSON"),
        other => bail!("unexpected answer to TANDEM {sub}: {other:?}"),
    }
}

/// The leader's progress entry for `id`, from whichever report is the leader's.
fn progress(status: &ClusterStatus, id: u64) -> Option<&Progress> {
    status
        .nodes
        .iter()
        .filter_map(|n| n.report.as_ref())
        .find(|r| r.role == "leader")
        .and_then(|leader| leader.replication.iter().find(|p| p.id == id))
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or("-".to_string(), |v| v.to_string())
}

/// `tandem status`: one line per member.
pub fn status(target: &str, auth: Option<&str>, json: bool) -> anyhow::Result<()> {
    let status = fetch_status(target, auth, false)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let leader = status
        .nodes
        .iter()
        .filter_map(|n| n.report.as_ref())
        .find(|r| r.role == "leader");
    println!(
        "cluster as seen by node {} ({target}): leader {}, term {}",
        status.queried,
        opt(leader.map(|l| l.node_id)),
        opt(leader.map(|l| l.term)),
    );
    println!(
        "{:<4} {:<8} {:<10} {:<22} {:>6} {:>10} {:>10} {:>8} {:>13}  DIGEST",
        "ID", "ZONE", "ROLE", "CLIENT", "TERM", "APPLIED", "MATCHED", "LAG", "LAST-CONTACT"
    );
    for node in &status.nodes {
        let m = &node.member;
        let p = progress(&status, m.id);
        match &node.report {
            Some(r) => println!(
                "{:<4} {:<8} {:<10} {:<22} {:>6} {:>10} {:>10} {:>8} {:>13}  {}",
                m.id,
                m.zone,
                r.role,
                m.client_addr,
                r.term,
                opt(r.applied),
                opt(p.and_then(|p| p.matched)),
                opt(p.map(|p| p.lag)),
                opt(p
                    .and_then(|p| p.last_contact_ms)
                    .map(|ms| format!("{ms} ms"))),
                &r.digest[..12.min(r.digest.len())]
            ),
            None => println!(
                "{:<4} {:<8} {:<10} {:<22} unreachable: {}",
                m.id,
                m.zone,
                "?",
                m.client_addr,
                opt(node.error.as_ref())
            ),
        }
    }
    Ok(())
}

/// Thresholds of `tandem check`.
#[derive(Clone, Debug)]
pub struct CheckLimits {
    /// Most entries a node may lag its leader and still be able to take over.
    pub lag_entries_max: u64,
    pub disk_free_bytes_min: u64,
    pub clock_offset_ms_max: i64,
}

struct Verdict {
    id: u64,
    cells: Vec<(String, bool)>,
}

fn judge(status: &ClusterStatus, node: &MemberStatus, limits: &CheckLimits) -> Verdict {
    let mut cells = Vec::new();
    let Some(r) = &node.report else {
        cells.push((format!("unreachable: {}", opt(node.error.as_ref())), false));
        return Verdict {
            id: node.member.id,
            cells,
        };
    };
    cells.push(("reachable".into(), true));
    let healthy = r.problem.is_none() && r.role != "stopped";
    cells.push((r.problem.clone().unwrap_or_else(|| r.role.clone()), healthy));
    let lag = if r.role == "leader" {
        Some(0)
    } else {
        progress(status, r.node_id).map(|p| p.lag)
    };
    cells.push((
        format!("lag {}", opt(lag)),
        lag.is_some_and(|l| l <= limits.lag_entries_max),
    ));
    match &r.files {
        Some(files) => {
            cells.push((format!("snapshot {}", files.snapshot), files.snapshot_ok));
            cells.push((format!("wal {}", files.wal), files.wal_ok));
        }
        None => cells.push(("files not checked".into(), false)),
    }
    let disk_ok = r
        .disk_free_bytes
        .is_some_and(|b| b >= limits.disk_free_bytes_min);
    cells.push((
        format!("disk {} MiB free", opt(r.disk_free_bytes.map(|b| b >> 20))),
        disk_ok,
    ));
    let offset = node.clock_offset_ms;
    cells.push((
        format!("clock {} ms", opt(offset)),
        offset.is_some_and(|o| o.abs() <= limits.clock_offset_ms_max),
    ));
    let all_ok = cells.iter().all(|(_, ok)| *ok);
    cells.push((
        if !r.voter {
            "takeover: no (not a voter)".to_string()
        } else if all_ok {
            "takeover: yes".to_string()
        } else {
            "takeover: no".to_string()
        },
        r.voter && all_ok,
    ));
    Verdict {
        id: node.member.id,
        cells,
    }
}

/// `tandem check`: PASS/FAIL per node and overall; Ok(true) when everything passed.
pub fn check(
    target: &str,
    auth: Option<&str>,
    json: bool,
    limits: &CheckLimits,
) -> anyhow::Result<bool> {
    let status = fetch_status(target, auth, true)?;
    let mut verdicts: Vec<Verdict> = status
        .nodes
        .iter()
        .map(|n| judge(&status, n, limits))
        .collect();
    // Replicas at the same applied index must hold the same data.
    let mut digests = std::collections::BTreeMap::new();
    for r in status.nodes.iter().filter_map(|n| n.report.as_ref()) {
        digests
            .entry(r.applied)
            .or_insert_with(Vec::new)
            .push((r.node_id, r.digest.clone()));
    }
    for (applied, nodes) in &digests {
        let differs = nodes.iter().any(|(_, d)| *d != nodes[0].1);
        for (id, digest) in nodes {
            if let Some(v) = verdicts.iter_mut().find(|v| v.id == *id) {
                let text = format!(
                    "digest {} @{}",
                    &digest[..12.min(digest.len())],
                    opt(*applied)
                );
                v.cells.insert(v.cells.len() - 1, (text, !differs));
            }
        }
    }
    let has_leader = status
        .nodes
        .iter()
        .any(|n| n.report.as_ref().is_some_and(|r| r.role == "leader"));
    let passed = has_leader && verdicts.iter().all(|v| v.cells.iter().all(|(_, ok)| *ok));
    if json {
        let rows: Vec<serde_json::Value> = verdicts
            .iter()
            .map(|v| {
                serde_json::json!({
                    "node": v.id,
                    "pass": v.cells.iter().all(|(_, ok)| *ok),
                    "checks": v.cells.iter().map(|(t, ok)| serde_json::json!({"check": t, "pass": ok})).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"pass": passed, "leader_known": has_leader, "nodes": rows})
            )?
        );
        return Ok(passed);
    }
    for v in &verdicts {
        let pass = v.cells.iter().all(|(_, ok)| *ok);
        println!("node {}: {}", v.id, if pass { "PASS" } else { "FAIL" });
        for (text, ok) in &v.cells {
            println!("  [{}] {text}", if *ok { " ok " } else { "FAIL" });
        }
    }
    if !has_leader {
        println!("cluster: FAIL (no leader)");
    }
    println!("overall: {}", if passed { "PASS" } else { "FAIL" });
    Ok(passed)
}

/// `tandem cluster ...`: sends one `TANDEM` admin command and prints the answer.
pub fn admin(target: &str, auth: Option<&str>, args: &[&str]) -> anyhow::Result<String> {
    let mut connection = Connection::open(target, auth)?;
    let mut full = vec!["TANDEM"];
    full.extend_from_slice(args);
    Ok(render(&connection.call(&full)?))
}

/// `tandem cluster step-down`: if the target node leads, hand leadership to the voter that has
/// matched the most of its log (then the one in another zone); otherwise do nothing. Kubernetes
/// runs it as the preStop hook, so a pod is never stopped while it leads. Returns what it did.
pub fn step_down(target: &str, auth: Option<&str>) -> anyhow::Result<String> {
    let status = fetch_status(target, auth, false)?;
    let me = status.queried;
    let mine = status
        .nodes
        .iter()
        .find(|n| n.member.id == me)
        .and_then(|n| n.report.as_ref())
        .context("the node did not report on itself")?;
    if mine.role != "leader" {
        return Ok(format!(
            "node {me} is not the leader ({}); nothing to do",
            mine.role
        ));
    }
    let successor = status
        .nodes
        .iter()
        .filter(|n| n.member.id != me && n.member.voter)
        .max_by_key(|n| {
            let matched = progress(&status, n.member.id).and_then(|p| p.matched);
            (
                matched,
                n.member.zone != mine.zone,
                std::cmp::Reverse(n.member.id),
            )
        })
        .map(|n| n.member.id);
    let Some(successor) = successor else {
        return Ok(format!(
            "node {me} leads and is the only voter; nothing to hand over"
        ));
    };
    admin(target, auth, &["TRANSFER-LEADER", &successor.to_string()])
}

fn render(value: &Value) -> String {
    match value {
        Value::Simple(text) | Value::Error(text) | Value::BigNumber(text) => text.clone(),
        Value::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Double(x) => x.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "(nil)".into(),
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            items.iter().map(render).collect::<Vec<_>>().join("\n")
        }
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{}: {}", render(k), render(v)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Settings of `tandem demo`.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub dir: PathBuf,
    /// Client ports are base, base+1, base+2; peer ports base+10000...; admin base+2000....
    pub base_port: u16,
    /// Make a throwaway CA and certificates (in `<dir>/tls`), run the peers over mutual TLS
    /// and open TLS client ports base+1000....
    pub tls: bool,
}

struct DemoNode {
    id: u64,
    args: Vec<String>,
    child: Option<Child>,
}

/// `tandem demo`: three nodes in three zones on loopback, until Ctrl-C.
pub fn demo(options: &DemoOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the tandem executable")?;
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;
    let secret = demo_secret(&options.dir)?;
    let base = options.base_port;
    let client = |i: u16| format!("127.0.0.1:{}", base + i);
    let peer = |i: u16| format!("127.0.0.1:{}", base + 10_000 + i);
    let tls_dir = if options.tls {
        Some(demo_certificates(&options.dir)?)
    } else {
        None
    };
    let mut nodes = Vec::new();
    for i in 0..3u16 {
        let id = u64::from(i) + 1;
        let mut args = vec![
            "serve".to_string(),
            format!("--node-id={id}"),
            format!("--zone={}", ["a", "b", "c"][i as usize]),
            format!("--listen={}", client(i)),
            format!("--peer-listen={}", peer(i)),
            format!("--admin-listen=127.0.0.1:{}", base + 2_000 + i),
            format!("--data={}", options.dir.join(format!("n{id}")).display()),
            format!("--cluster-secret={secret}"),
        ];
        for j in (0..3u16).filter(|j| *j != i) {
            args.push(format!("--peer={}@{}", u64::from(j) + 1, peer(j)));
        }
        if let Some(tls) = &tls_dir {
            let file = |name: String| tls.join(name).display().to_string();
            args.extend([
                "--tls-cluster=yes".to_string(),
                format!("--tls-port={}", base + 1_000 + i),
                format!("--tls-cert-file={}", file(format!("node{id}.crt"))),
                format!("--tls-key-file={}", file(format!("node{id}.key"))),
                format!("--tls-ca-cert-file={}", file("ca.crt".into())),
            ]);
        }
        nodes.push(DemoNode {
            id,
            args,
            child: None,
        });
    }
    for node in &mut nodes {
        node.child = Some(start_demo_node(&exe, &options.dir, node)?);
    }
    let started = Instant::now();
    let status = loop {
        if let Ok(status) = fetch_status(&client(0), None, false) {
            if status
                .nodes
                .iter()
                .any(|n| n.report.as_ref().is_some_and(|r| r.role == "leader"))
            {
                break status;
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            for node in &mut nodes {
                stop_demo_node(node);
            }
            bail!(
                "the demo cluster did not elect a leader within 30 s; see the logs in {}",
                options.dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let leader = status
        .nodes
        .iter()
        .find_map(|n| n.report.as_ref().filter(|r| r.role == "leader"))
        .map_or(0, |r| r.node_id);
    println!(
        "Tandem demo: three nodes in zones a, b, c (data and logs in {})",
        options.dir.display()
    );
    for node in &nodes {
        let pid = node.child.as_ref().map_or(0, |c| c.id());
        let i = (node.id - 1) as u16;
        println!(
            "  node {}  client {}  peer {}  pid {pid}{}",
            node.id,
            client(i),
            peer(i),
            if node.id == leader { "  (leader)" } else { "" }
        );
    }
    let leader_pid = nodes
        .iter()
        .find(|n| n.id == leader)
        .and_then(|n| n.child.as_ref())
        .map_or(0, |c| c.id());
    println!();
    println!(
        "connect:        redis-cli -p {base}        (any node; writes are forwarded to the leader)"
    );
    if let Some(tls) = &tls_dir {
        let file = |name: &str| tls.join(name).display().to_string();
        println!(
            "connect (TLS):  redis-cli --tls --cacert {} --cert {} --key {} -p {}",
            file("ca.crt"),
            file("client.crt"),
            file("client.key"),
            base + 1_000
        );
        println!(
            "                (peers talk mutual TLS; certificates in {})",
            tls.display()
        );
    }
    println!("watch:          tandem status --target {}", client(0));
    println!("fail over:      kill -9 {leader_pid}        (the leader; a new one is elected in under a second)");
    println!("health:         tandem check --target {}", client(1));
    println!("a killed node is restarted by this demo after 5 s; Ctrl-C stops all three.");
    let stop = ctrl_c_flag()?;
    let mut dead_since: Vec<Option<Instant>> = vec![None; nodes.len()];
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        for (node, dead) in nodes.iter_mut().zip(dead_since.iter_mut()) {
            let exited = node
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited && dead.is_none() {
                println!("node {} exited; restarting it in 5 s", node.id);
                *dead = Some(Instant::now());
            }
            if dead.is_some_and(|at| at.elapsed() > Duration::from_secs(5)) {
                node.child = Some(start_demo_node(&exe, &options.dir, node)?);
                println!("node {} restarted; it catches up from the leader", node.id);
                *dead = None;
            }
        }
    }
    println!("stopping the demo cluster");
    for node in &mut nodes {
        stop_demo_node(node);
    }
    Ok(())
}

fn start_demo_node(exe: &Path, dir: &Path, node: &DemoNode) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("n{}.log", node.id)))?;
    Process::new(exe)
        .args(&node.args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start node {}", node.id))
}

fn stop_demo_node(node: &mut DemoNode) {
    if let Some(mut child) = node.child.take() {
        // SAFETY: sending a signal to a child process we started.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let _ = child.wait();
    }
}

/// A fresh throwaway CA, one certificate per node (`tandem-node-<id>`, localhost, 127.0.0.1)
/// and a client certificate, in `<dir>/tls`.
fn demo_certificates(dir: &Path) -> anyhow::Result<PathBuf> {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).with_context(|| format!("cannot create {}", tls.display()))?;
    let ca = tandem::tls::certs::CertAuthority::new("tandem demo CA")?;
    ca.write(&tls)?;
    for id in 1..=3u64 {
        ca.node(id, &[])?.write(&tls, &format!("node{id}"))?;
    }
    ca.issue("demo client", &["demo-client".to_string()])?
        .write(&tls, "client")?;
    Ok(tls)
}

/// The demo's cluster secret: random on first run, kept in the demo folder so restarts match.
fn demo_secret(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("cluster-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    let mut bytes = [0u8; 24];
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    std::io::Read::read_exact(&mut urandom, &mut bytes)?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

/// A flag set by SIGINT/SIGTERM.
fn ctrl_c_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let set = flag.clone();
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match &mut term { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        });
        set.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(flag)
}
