//! `BenchArgs`: the flags of `tandem bench`, and the parsing of workload and distribution names.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Load generator for any RESP server (Tandem, Redis, ...). Closed loop by default (`--clients`
/// connections, each sending `--pipeline` operations and waiting for their replies); open loop
/// with `--rate`, where latency counts from each operation's intended send time.
#[derive(Args, Clone, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub helper: Option<BenchHelper>,
    /// Server to load, `host:port`. Repeat it to measure several servers one after the other
    /// (one row each), or, with --follow-leader, the members of one cluster.
    #[arg(
        long = "target",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:7379"
    )]
    pub targets: Vec<String>,
    /// Password for AUTH.
    #[arg(long)]
    pub auth: Option<String>,
    /// User name for AUTH (with --auth).
    #[arg(long)]
    pub user: Option<String>,
    /// Speak RESP3 (send `HELLO 3` first).
    #[arg(long)]
    pub resp3: bool,
    /// Connect over TLS (as `redis-cli --tls`); needs --tls-ca-cert-file.
    #[arg(long)]
    pub tls: bool,
    /// CA certificates (PEM) the server's certificate must chain to (with --tls).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<std::path::PathBuf>,
    /// Client certificate chain (PEM) to present (with --tls and --tls-key-file).
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry [default: the target's host].
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Closed loop: operations sent together before waiting for their replies. Open loop: most
    /// operations in flight on one connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open loop: total operations per second, spread evenly over the clients.
    #[arg(long, value_name = "OPS_PER_S")]
    pub rate: Option<f64>,
    /// Measure for this many seconds (after the warmup).
    #[arg(long, conflicts_with = "requests")]
    pub duration: Option<f64>,
    /// Measure exactly this many operations (after the warmup), then stop.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Run the load this many seconds before measuring.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Bytes per value (SET, HSET, __value__).
    #[arg(long, default_value_t = 64)]
    pub value_size: usize,
    /// How keys are picked: uniform or zipfian.
    #[arg(long, default_value = "uniform")]
    pub distribution: Distribution,
    /// Exponent of the zipfian distribution (higher = hotter hot keys).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_s: f64,
    /// set, get, incr, mixed:R/W (R reads to W writes), hset, zadd, transfer, lpush and rpop
    /// (the two ends of a queue), sadd, xadd and xreadgroup (the two ends of a stream: each
    /// client reads one entry from group `tandem-bench` and acknowledges the previous one),
    /// publish.
    #[arg(long, short = 'w', default_value = "set")]
    pub workload: WorkloadName,
    /// A custom command instead of --workload: `__key__` and `__value__` are substituted, e.g.
    /// 'SET __key__ __value__'. Arguments are split on spaces.
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// After each write send `WAIT N 0` (pipelined right after it) and count the pair as one
    /// operation: Redis primary + replica measured as "write, then wait for a replica".
    #[arg(long, value_name = "N")]
    pub wait_replicas: Option<u64>,
    /// Tag every write with a client session (`TANDEM REQ`, exactly-once): each client opens a
    /// session (`TANDEM SESSION OPEN`) before the clock starts. Tandem only.
    #[arg(long)]
    pub sessions: bool,
    /// Reconnect after a connection error, trying the targets in turn (one cluster), and
    /// report the longest time without a successful operation.
    #[arg(long)]
    pub follow_leader: bool,
    /// Give up on a connection attempt after this many milliseconds.
    #[arg(long, default_value_t = 2_000)]
    pub connect_timeout_ms: u64,
    /// Give up on a reply after this many milliseconds (counted as a `timeout` error).
    #[arg(long, default_value_t = 10_000)]
    pub reply_timeout_ms: u64,
    /// Threads of the load generator (1 = one core, as redis-benchmark).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seed of the key and value choices (the same seed repeats the same operations).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Helpers of the comparison suite (scripts/bench-compare); not part of the user interface.
#[derive(Subcommand, Clone, Debug)]
pub enum BenchHelper {
    /// The physical floor of a durable write: overwrite one 4 KiB block of a preallocated file
    /// in DIR and fdatasync it, N times; prints `fdatasync_us p50=.. p90=.. p99=.. max=..`.
    #[command(hide = true)]
    Fdatasync {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 2_000)]
        samples: u64,
    },
}

/// How keys are picked from the key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Distribution {
    Uniform,
    Zipfian,
}

/// A workload by name, as given to `--workload`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadName {
    Set,
    Get,
    Incr,
    /// `reads` GETs to `writes` SETs.
    Mixed {
        reads: u32,
        writes: u32,
    },
    Hset,
    Zadd,
    Transfer,
    /// LPUSH onto queues: the producer half of a queue.
    Lpush,
    /// RPOP from the same queues: the consumer half (run after `lpush`, it pops what it pushed).
    Rpop,
    /// SADD of members drawn from a fixed pool per set.
    Sadd,
    /// XADD with an automatic id onto streams: durable event appends.
    Xadd,
    /// XREADGROUP of one entry from a stream's consumer group, with the XACK of what the
    /// previous read returned: the consumer half of `xadd` (consume and acknowledge).
    Xreadgroup,
    /// PUBLISH onto channels: live fan-out, at most once, no log entry.
    Publish,
}

impl std::str::FromStr for WorkloadName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "set" => WorkloadName::Set,
            "get" => WorkloadName::Get,
            "incr" => WorkloadName::Incr,
            "hset" => WorkloadName::Hset,
            "zadd" => WorkloadName::Zadd,
            "transfer" => WorkloadName::Transfer,
            "lpush" => WorkloadName::Lpush,
            "rpop" => WorkloadName::Rpop,
            "sadd" => WorkloadName::Sadd,
            "xadd" => WorkloadName::Xadd,
            "xreadgroup" => WorkloadName::Xreadgroup,
            "publish" => WorkloadName::Publish,
            _ => {
                let ratio = text
                    .strip_prefix("mixed:")
                    .ok_or_else(|| format!("unknown workload {text:?}: expected set, get, incr, mixed:R/W, hset, zadd, transfer, lpush, rpop, sadd, xadd, xreadgroup or publish"))?;
                let (reads, writes) = ratio
                    .split_once('/')
                    .and_then(|(r, w)| Some((r.parse().ok()?, w.parse().ok()?)))
                    .ok_or_else(|| format!("invalid mix {ratio:?}: expected R/W, e.g. 80/20"))?;
                if reads == 0 && writes == 0 {
                    return Err("mixed:0/0 has no operations".into());
                }
                WorkloadName::Mixed { reads, writes }
            }
        })
    }
}

impl std::fmt::Display for WorkloadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkloadName::Set => f.write_str("set"),
            WorkloadName::Get => f.write_str("get"),
            WorkloadName::Incr => f.write_str("incr"),
            WorkloadName::Mixed { reads, writes } => write!(f, "mixed:{reads}/{writes}"),
            WorkloadName::Hset => f.write_str("hset"),
            WorkloadName::Zadd => f.write_str("zadd"),
            WorkloadName::Transfer => f.write_str("transfer"),
            WorkloadName::Lpush => f.write_str("lpush"),
            WorkloadName::Rpop => f.write_str("rpop"),
            WorkloadName::Sadd => f.write_str("sadd"),
            WorkloadName::Xadd => f.write_str("xadd"),
            WorkloadName::Xreadgroup => f.write_str("xreadgroup"),
            WorkloadName::Publish => f.write_str("publish"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_names_round_trip() {
        for name in [
            "set",
            "get",
            "incr",
            "mixed:80/20",
            "hset",
            "zadd",
            "transfer",
            "lpush",
            "rpop",
            "sadd",
            "xadd",
            "xreadgroup",
            "publish",
        ] {
            let parsed: WorkloadName = name.parse().expect(name);
            assert_eq!(parsed.to_string(), name);
        }
        assert_eq!(
            "mixed:9/1".parse(),
            Ok(WorkloadName::Mixed {
                reads: 9,
                writes: 1
            })
        );
        assert!("mixed:0/0".parse::<WorkloadName>().is_err());
        assert!("mixed:a/b".parse::<WorkloadName>().is_err());
        assert!("scan".parse::<WorkloadName>().is_err());
    }
}
