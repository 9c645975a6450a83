//! Real server processes for end-to-end tests: `tandem serve` and Debian's `redis-server`, each
//! on 127.0.0.1 with an OS-picked port and killed on drop, plus a raw RESP client that compares
//! bytes. Nothing here talks to any address but 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a graceful SIGTERM may take before the test fails.
pub const TERMINATE_SECS_MAX: u64 = 30;

/// A running `tandem serve`; SIGKILLed on drop if still running. On a failing test its log is
/// printed.
pub struct Tandem {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The admin HTTP listener (/health, /ready, /metrics).
    pub admin: SocketAddr,
    /// The critical listener, when started with `--critical-listen`.
    pub critical: Option<SocketAddr>,
    /// The TLS client listener, when started with `--tls-port`.
    pub tls: Option<SocketAddr>,
    pub data: PathBuf,
    log: PathBuf,
    _dir: Option<TempDir>,
}

impl Tandem {
    /// Starts a server on a fresh data directory (kept until the `Tandem` is dropped).
    pub fn start(name: &str, flags: &[&str]) -> Tandem {
        let dir = super::data_dir(name);
        let mut server = Tandem::start_on(&dir.path().join("data"), flags);
        server._dir = Some(dir);
        server
    }

    /// Starts a server on `data`, which may hold a previous run's files.
    pub fn start_on(data: &Path, flags: &[&str]) -> Tandem {
        Tandem::start_on_with_env(data, flags, &[])
    }

    /// As [`Tandem::start_on`], with extra environment variables for the server process.
    pub fn start_on_with_env(data: &Path, flags: &[&str], env: &[(String, String)]) -> Tandem {
        let log = data.with_extension(format!("log.{}", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        // Port 0 unless the caller fixed a port (a node restarted where its clients expect it).
        let mut listeners: Vec<String> = Vec::new();
        for flag in ["--listen", "--admin-listen"] {
            if !flags.iter().any(|f| f.split('=').next() == Some(flag)) {
                listeners.extend([flag.to_string(), "127.0.0.1:0".to_string()]);
            }
        }
        // TANDEM_TEST_WAL_WRITER=inline runs every server of a test binary with that WAL writer.
        if !flags.iter().any(|f| f.starts_with("--wal-writer")) {
            if let Ok(mode) = std::env::var("TANDEM_TEST_WAL_WRITER") {
                listeners.extend(["--wal-writer".to_string(), mode]);
            }
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .args(listeners)
            .arg("--data")
            .arg(data)
            .args(flags)
            .env("RUST_LOG", "tandem=info,openraft=warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn tandem serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read ready line");
        let mut server = Tandem {
            child: Some(child),
            addr: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
            critical: None,
            tls: None,
            data: data.to_path_buf(),
            log,
            _dir: None,
        };
        assert!(
            line.starts_with("ready listen="),
            "expected the ready line, got {line:?}; log:\n{}",
            server.log_text()
        );
        let listen = line
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.strip_prefix("listen="))
            .expect("listen=");
        server.addr = listen.parse().expect("listen address");
        let admin = line
            .split_whitespace()
            .nth(2)
            .and_then(|w| w.strip_prefix("admin="))
            .expect("admin=");
        server.admin = admin.parse().expect("admin address");
        server.critical = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("critical="))
            .map(|a| a.parse().expect("critical address"));
        server.tls = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("tls="))
            .map(|a| a.parse().expect("tls address"));
        assert!(server.addr.ip().is_loopback(), "{line}");
        server
    }

    /// Takes the data directory's ownership from `self` so a restart can reuse it.
    pub fn take_dir(&mut self) -> Option<TempDir> {
        self._dir.take()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Panics if the process has exited.
    pub fn assert_alive(&mut self) {
        let child = self.child.as_mut().expect("running");
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "tandem serve exited with {status}; log:\n{}",
                self.log_text()
            );
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// Resident and virtual size of the server process, in bytes.
    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }

    /// Sends SIGTERM and waits for the exit code; fails after [`TERMINATE_SECS_MAX`].
    pub fn terminate(&mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let deadline = Instant::now() + Duration::from_secs(TERMINATE_SECS_MAX);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server did not exit within {TERMINATE_SECS_MAX} s of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit on its own (e.g. after SHUTDOWN); fails after
    /// [`TERMINATE_SECS_MAX`].
    pub fn wait_for_exit(&mut self) -> i32 {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + Duration::from_secs(TERMINATE_SECS_MAX);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {TERMINATE_SECS_MAX} s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (must exit 0), then a new server on the same data directory.
    pub fn restart(mut self, flags: &[&str]) -> Tandem {
        let code = self.terminate();
        assert_eq!(
            code,
            0,
            "exit code after SIGTERM; log:\n{}",
            self.log_text()
        );
        let dir = self.take_dir();
        let mut next = Tandem::start_on(&self.data, flags);
        next._dir = dir;
        next
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- tandem log ---\n{}", self.log_text());
        }
    }
}

/// Memory of a process from `/proc/<pid>/statm`.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_bytes: u64,
    pub virtual_bytes: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).expect("statm");
        let mut fields = statm.split_whitespace().map(|f| f.parse::<u64>().unwrap());
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let virtual_pages = fields.next().unwrap();
        let rss_pages = fields.next().unwrap();
        Memory {
            rss_bytes: rss_pages * page,
            virtual_bytes: virtual_pages * page,
        }
    }
}

pub const MIB: u64 = 1024 * 1024;

/// A port on 127.0.0.1 for a server that must know its port before it starts (a cluster
/// member's peer port, which the other members are told up front).
///
/// Ports are handed out below the kernel's ephemeral range, so no `bind(port 0)` anywhere in the
/// test run (every client port and every admin listener) can take one between this call and the
/// server's own bind. Each test process walks its own stretch of the range (seeded by its pid),
/// never hands the same port out twice, and skips ports that something else already holds.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let high = ephemeral_low().clamp(LOW + 1_000, 65_535);
    let span = high - LOW;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range ({LOW}..{high})");
}

/// The first port of the kernel's ephemeral range (32768 when it cannot be read).
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A running Debian `redis-server` on 127.0.0.1, without persistence; SIGKILLed on drop.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts `redis-server` on a free port and waits until it answers PING.
    pub fn start(name: &str) -> RedisServer {
        let mut last_error = String::new();
        // The port is free when picked but could be taken before redis binds it: retry.
        for _ in 0..3 {
            let dir = super::data_dir(name);
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot run redis-server ({e}); install it: apt-get install redis-server"
                ),
            };
            let mut server = RedisServer {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(status) = server.child.try_wait().unwrap() {
                    last_error = format!("redis-server exited with {status}");
                    break;
                }
                if let Ok(stream) = TcpStream::connect(server.addr) {
                    let mut raw = Raw::from_stream(stream);
                    if raw.try_cmd(&["PING"]).as_deref() == Some("+PONG\r\n") {
                        return server;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if last_error.is_empty() {
                last_error = "redis-server did not answer PING within 10 s".into();
            }
        }
        panic!("{last_error}");
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client speaking raw RESP bytes.
pub struct Raw {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        Raw::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends one command as a RESP array and reads its reply, as text.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        self.send(&encode(args));
        self.reply()
    }

    fn try_cmd(&mut self, args: &[&str]) -> Option<String> {
        self.stream.write_all(&encode(args)).ok()?;
        self.try_reply()
    }

    /// Reads one complete reply frame, as text.
    pub fn reply(&mut self) -> String {
        String::from_utf8_lossy(&self.reply_bytes()).into_owned()
    }

    /// Reads one complete reply frame.
    pub fn reply_bytes(&mut self) -> Vec<u8> {
        self.try_reply_bytes().unwrap_or_else(|| {
            panic!(
                "connection closed; buffered {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// One reply frame, or None if the connection ends first.
    pub fn try_reply(&mut self) -> Option<String> {
        self.try_reply_bytes()
            .map(|f| String::from_utf8_lossy(&f).into_owned())
    }

    pub fn try_reply_bytes(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(len) = frame_len(&self.buf) {
                return Some(self.buf.drain(..len).collect());
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until the peer closes or stays silent for `quiet`; everything read is appended to
    /// `buf`. Returns how it ended.
    pub fn read_until_quiet(&mut self, quiet: Duration) -> Ending {
        self.stream.set_read_timeout(Some(quiet)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        let ending = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Ending::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ending::Closed,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ending::Silent
                }
                Err(e) => panic!("read: {e}"),
            }
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        ending
    }

    /// True if the server closes the connection (EOF or reset) within the read timeout.
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// How a read loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// EOF or connection reset.
    Closed,
    /// Nothing arrived for the quiet period; the connection is still open.
    Silent,
}

pub fn encode(args: &[&str]) -> Vec<u8> {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    encode_bytes(&args)
}

pub fn encode_bytes(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Length of the first complete RESP2/RESP3 frame in `buf`, if there is one. Panics on a byte
/// that cannot start a frame: the server sent something malformed.
pub fn frame_len(buf: &[u8]) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let header = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf[0] {
        b'+' | b'-' | b':' | b',' | b'_' | b'#' | b'(' => Some(after),
        b'$' | b'=' | b'!' => {
            let n: i64 = header.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = header.parse().ok()?;
            let items = if buf[0] == b'%' || buf[0] == b'|' {
                n * 2
            } else {
                n
            };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += frame_len(&buf[at..])?;
            }
            Some(at)
        }
        other => panic!(
            "malformed reply: frame starts with {:?} in {:?}",
            other as char,
            String::from_utf8_lossy(&buf[..buf.len().min(200)])
        ),
    }
}

/// Splits `buf` into complete frames; the second value is the incomplete rest.
pub fn frames(buf: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        match frame_len(&buf[at..]) {
            Some(len) => {
                out.push(&buf[at..at + len]);
                at += len;
            }
            None => break,
        }
    }
    (out, &buf[at..])
}

pub fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (capped at the hard limit);
/// returns the soft limit now in force. Children started afterwards inherit it.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    limit.rlim_cur
}
