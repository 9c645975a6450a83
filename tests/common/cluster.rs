//! A real three-node (or more) Tandem cluster on 127.0.0.1 for end-to-end tests: one
//! `tandem serve` process per node, client ports picked by the OS, peer ports picked free a
//! moment before start. Nodes can be killed (SIGKILL), frozen (SIGSTOP), restarted and wiped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::server::{free_port, Tandem};

/// The secret every test cluster shares.
pub const SECRET: &str = "test-cluster-secret-0123456789";

/// One member: its process (None while down) and how to start it again.
pub struct Member {
    pub id: u64,
    pub zone: String,
    pub peer_port: u16,
    pub data: PathBuf,
    pub flags: Vec<String>,
    /// Extra environment variables for this node's process (test hooks).
    pub env: Vec<(String, String)>,
    pub server: Option<Tandem>,
}

pub struct Cluster {
    pub members: Vec<Member>,
    _dir: TempDir,
}

impl Cluster {
    /// Starts one node per zone label (ids 1..), all with the same peer list, plus `extra`
    /// flags on every node.
    pub fn start(name: &str, zones: &[&str], extra: &[&str]) -> Cluster {
        let extra: Vec<String> = extra.iter().map(|f| f.to_string()).collect();
        Cluster::start_with(name, zones, |_| extra.clone())
    }

    /// As [`Cluster::start`], with `extra(id)` giving each node's own extra flags.
    pub fn start_with(name: &str, zones: &[&str], extra: impl Fn(u64) -> Vec<String>) -> Cluster {
        let dir = super::data_dir(name);
        let ports: Vec<u16> = zones.iter().map(|_| free_port()).collect();
        let mut members = Vec::new();
        for (i, zone) in zones.iter().enumerate() {
            let id = i as u64 + 1;
            let mut flags = vec![
                format!("--node-id={id}"),
                format!("--zone={zone}"),
                format!("--peer-listen=127.0.0.1:{}", ports[i]),
                format!("--cluster-secret={SECRET}"),
                "--heartbeat-ms=50".to_string(),
            ];
            for (j, port) in ports.iter().enumerate() {
                if j != i {
                    flags.push(format!("--peer={}@127.0.0.1:{port}", j + 1));
                }
            }
            flags.extend(extra(id));
            members.push(Member {
                id,
                zone: zone.to_string(),
                peer_port: ports[i],
                data: dir.path().join(format!("n{id}")),
                flags,
                env: Vec::new(),
                server: None,
            });
        }
        let mut cluster = Cluster { members, _dir: dir };
        for i in 0..cluster.members.len() {
            cluster.boot(i);
        }
        cluster
    }

    /// Starts member `i` (index, not id) on its data directory.
    pub fn boot(&mut self, i: usize) {
        let m = &mut self.members[i];
        let flags: Vec<&str> = m.flags.iter().map(String::as_str).collect();
        m.server = Some(Tandem::start_on_with_env(&m.data, &flags, &m.env));
    }

    pub fn server(&self, i: usize) -> &Tandem {
        self.members[i].server.as_ref().expect("node is up")
    }

    pub fn up(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|i| self.members[*i].server.is_some())
    }

    pub fn client(&self, i: usize) -> redis::Connection {
        let addr = self.server(i).addr;
        let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
        let connection = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect");
        connection
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        connection
    }

    /// SIGKILL of member `i`.
    pub fn kill(&mut self, i: usize) {
        let server = self.members[i].server.take().expect("node is up");
        signal(server.pid(), libc::SIGKILL);
        drop(server);
    }

    pub fn freeze(&self, i: usize) {
        signal(self.server(i).pid(), libc::SIGSTOP);
    }

    pub fn thaw(&self, i: usize) {
        signal(self.server(i).pid(), libc::SIGCONT);
    }

    /// Graceful stop (SIGTERM, exit 0).
    pub fn stop(&mut self, i: usize) {
        let mut server = self.members[i].server.take().expect("node is up");
        assert_eq!(
            server.terminate(),
            0,
            "exit code; log:\n{}",
            server.log_text()
        );
    }

    /// `INFO replication` of member `i` as key → value.
    pub fn replication(&self, i: usize) -> std::collections::HashMap<String, String> {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut self.client(i))
            .expect("INFO replication");
        info.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    /// Waits until every running node agrees on one leader; returns its index.
    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let views: Vec<(usize, String, String)> = self
                .up()
                .map(|i| {
                    let r = self.replication(i);
                    (
                        i,
                        r.get("tandem_role").cloned().unwrap_or_default(),
                        r.get("tandem_leader_id").cloned().unwrap_or_default(),
                    )
                })
                .collect();
            let leaders: Vec<usize> = views
                .iter()
                .filter(|v| v.1 == "leader")
                .map(|v| v.0)
                .collect();
            if leaders.len() == 1 {
                let id = (leaders[0] + 1).to_string();
                if views.iter().all(|v| v.2 == id) {
                    return leaders[0];
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {timeout:?}: {views:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node has applied the same index and returns their
    /// (applied, digest) pairs, which the caller compares.
    pub fn wait_for_convergence(&self, timeout: Duration) -> Vec<(u64, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let reports: Vec<(u64, String)> = self
                .up()
                .map(|i| {
                    let json: String = redis::cmd("TANDEM")
                        .arg("STATUS")
                        .query(&mut self.client(i))
                        .expect("TANDEM STATUS");
                    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
                    // A node that has not joined yet lists no members, itself included.
                    let Some(me) = status["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|n| n["member"]["id"] == (i as u64 + 1))
                        .cloned()
                    else {
                        return (0, String::new());
                    };
                    (
                        me["report"]["applied"].as_u64().unwrap_or(0),
                        me["report"]["digest"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            if reports.windows(2).all(|w| w[0].0 == w[1].0) {
                return reports;
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge within {timeout:?}: {reports:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Deletes member `i`'s data (it must be down).
    pub fn wipe(&mut self, i: usize) {
        assert!(self.members[i].server.is_none(), "stop the node first");
        std::fs::remove_dir_all(&self.members[i].data).expect("wipe data dir");
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child process of this test that has not been reaped.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

/// What a load thread saw: keys whose SET was acknowledged.
pub type Acked = Arc<Mutex<BTreeMap<String, u64>>>;

/// `threads` writers that keep setting fresh keys (`w<thread>:<n>`) through every node, moving
/// to the next node when theirs fails, until `stop`. Each returns how many writes failed.
pub fn start_writers(
    addrs: Vec<std::net::SocketAddr>,
    threads: usize,
    stop: Arc<AtomicBool>,
    acked: Acked,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..threads)
        .map(|t| {
            let addrs = addrs.clone();
            let stop = stop.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let mut errors = 0u64;
                let mut node = t % addrs.len();
                let mut n = 0u64;
                let mut conn: Option<redis::Connection> = None;
                while !stop.load(Ordering::Relaxed) {
                    if conn.is_none() {
                        let client =
                            redis::Client::open(format!("redis://{}/", addrs[node])).unwrap();
                        conn = client
                            .get_connection_with_timeout(Duration::from_millis(500))
                            .ok();
                        if let Some(c) = &conn {
                            let _ = c.set_read_timeout(Some(Duration::from_secs(15)));
                        } else {
                            node = (node + 1) % addrs.len();
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    }
                    let key = format!("w{t}:{n}");
                    let result: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(&key)
                        .arg(n)
                        .query(conn.as_mut().unwrap());
                    match result {
                        Ok(()) => {
                            acked.lock().unwrap().insert(key, n);
                        }
                        Err(_) => {
                            errors += 1;
                            conn = None;
                            node = (node + 1) % addrs.len();
                        }
                    }
                    n += 1;
                }
                errors
            })
        })
        .collect()
}
