//! The simulator's network: an in-memory [`PeerTransport`] whose every decision (delay, loss,
//! duplication, partitions) comes from one seeded RNG, on tokio's paused clock.
//!
//! Each node binds its peer address here; a call from one node to another is delayed, maybe
//! lost (the caller then times out, as over TCP), maybe delivered twice, and its reply travels
//! back the same way. Calls run concurrently, so independent delays reorder them. Links can be
//! cut one way (asymmetric partitions) or both. A crashed node's incarnation ends: nothing it
//! sends afterwards arrives, and a reply it computes after its death is never delivered.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use tandem::peer::{
    BoxFuture, PeerClient, PeerConfig, PeerError, PeerHandler, PeerLink, PeerListener, PeerServer,
    PeerTransport,
};

/// Message-level faults, fixed for one run (drawn from its seed).
#[derive(Clone, Copy, Debug)]
pub struct Weather {
    /// One-way delay bounds of a message.
    pub delay_ms_min: u64,
    pub delay_ms_max: u64,
    /// Chance that a request or a reply is lost, in parts per million.
    pub drop_ppm: u32,
    /// Chance that a request is delivered a second time (its second reply is discarded).
    pub duplicate_ppm: u32,
}

impl Weather {
    pub fn calm() -> Weather {
        Weather {
            delay_ms_min: 1,
            delay_ms_max: 3,
            drop_ppm: 0,
            duplicate_ppm: 0,
        }
    }

    pub fn draw(rng: &mut StdRng) -> Weather {
        let delay_ms_min = rng.gen_range(0..3);
        Weather {
            delay_ms_min,
            delay_ms_max: delay_ms_min + rng.gen_range(1..25),
            drop_ppm: rng.gen_range(0..30_000),
            duplicate_ppm: rng.gen_range(0..30_000),
        }
    }
}

/// Counters of what the network did, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub struct NetStats {
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub cut: u64,
    pub refused: u64,
}

/// The shared network. Cloning shares it.
#[derive(Clone)]
pub struct SimNet {
    state: Arc<Mutex<NetState>>,
}

struct Endpoint {
    node: u64,
    incarnation: u64,
    handler: Arc<dyn PeerHandler>,
}

struct NetState {
    rng: StdRng,
    weather: Weather,
    /// Bound peer addresses.
    endpoints: BTreeMap<String, Endpoint>,
    /// The live incarnation of each node (absent while it is down).
    alive: BTreeMap<u64, u64>,
    /// Links that carry nothing, as (from, to).
    cut: BTreeSet<(u64, u64)>,
    /// Requests of one kind that a node sends and nobody receives, as (from, kind): a scripted
    /// loss that keeps the node's other traffic, replies included, flowing.
    lost_kinds: BTreeSet<(u64, u8)>,
    stats: NetStats,
}

/// What the network decided for one message.
enum Fate {
    /// To this incarnation of the node at the address, after `delay`.
    Deliver {
        incarnation: u64,
        delay: Duration,
        duplicate: Option<Duration>,
    },
    Lost,
    Refused,
    SenderDead,
}

impl SimNet {
    pub fn new(rng: StdRng, weather: Weather) -> SimNet {
        SimNet {
            state: Arc::new(Mutex::new(NetState {
                rng,
                weather,
                endpoints: BTreeMap::new(),
                alive: BTreeMap::new(),
                cut: BTreeSet::new(),
                lost_kinds: BTreeSet::new(),
                stats: NetStats::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peer address node `id` listens on.
    pub fn addr(id: u64) -> String {
        format!("10.0.0.{id}:7000")
    }

    /// Starts incarnation `incarnation` of node `id`: the transport it must be opened with.
    pub fn boot(&self, id: u64, incarnation: u64) -> Arc<dyn PeerTransport> {
        self.lock().alive.insert(id, incarnation);
        Arc::new(SimTransport {
            net: self.clone(),
            node: id,
            incarnation,
        })
    }

    /// Node `id` dies: its endpoint goes, nothing it sends from now on arrives.
    pub fn kill(&self, id: u64) {
        let mut state = self.lock();
        state.alive.remove(&id);
        state.endpoints.retain(|_, endpoint| endpoint.node != id);
    }

    pub fn cut(&self, from: u64, to: u64) {
        self.lock().cut.insert((from, to));
    }

    /// Every request of `kind` that node `from` sends is lost until `heal`.
    pub fn lose_requests(&self, from: u64, kind: u8) {
        self.lock().lost_kinds.insert((from, kind));
    }

    pub fn heal(&self) {
        let mut state = self.lock();
        state.cut.clear();
        state.lost_kinds.clear();
    }

    pub fn set_weather(&self, weather: Weather) {
        self.lock().weather = weather;
    }

    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }

    fn sender_alive(state: &NetState, node: u64, incarnation: u64) -> bool {
        state.alive.get(&node) == Some(&incarnation)
    }

    /// Decides the fate of one message from `from` to the node at `to_addr`.
    fn fate(&self, from: (u64, u64), to_addr: &str, request: bool) -> Fate {
        let mut state = self.lock();
        if !Self::sender_alive(&state, from.0, from.1) {
            return Fate::SenderDead;
        }
        let Some((to, incarnation)) = state
            .endpoints
            .get(to_addr)
            .map(|e| (e.node, e.incarnation))
        else {
            state.stats.refused += 1;
            return Fate::Refused;
        };
        if state.cut.contains(&(from.0, to)) {
            state.stats.cut += 1;
            return Fate::Lost;
        }
        let weather = state.weather;
        if state.rng.gen_range(0..1_000_000) < weather.drop_ppm {
            state.stats.dropped += 1;
            return Fate::Lost;
        }
        let delay = Duration::from_millis(
            state
                .rng
                .gen_range(weather.delay_ms_min..=weather.delay_ms_max),
        );
        let duplicate = (request && state.rng.gen_range(0..1_000_000) < weather.duplicate_ppm)
            .then(|| {
                Duration::from_millis(
                    state
                        .rng
                        .gen_range(weather.delay_ms_min..=weather.delay_ms_max * 4),
                )
            });
        if duplicate.is_some() {
            state.stats.duplicated += 1;
        }
        state.stats.delivered += 1;
        Fate::Deliver {
            incarnation,
            delay,
            duplicate,
        }
    }

    /// The handler at `addr`, if the incarnation listening there is still `incarnation` (a
    /// connection to a process that died does not reach its successor).
    fn endpoint(&self, addr: &str, incarnation: u64) -> Option<(u64, Arc<dyn PeerHandler>)> {
        let state = self.lock();
        state
            .endpoints
            .get(addr)
            .filter(|e| e.incarnation == incarnation)
            .map(|e| (e.node, e.handler.clone()))
    }

    fn incarnation_alive(&self, node: u64, incarnation: u64) -> bool {
        Self::sender_alive(&self.lock(), node, incarnation)
    }

    /// One request and its reply: what a TCP round trip is, minus the bytes on a wire.
    async fn round_trip(
        &self,
        from: (u64, u64),
        target: u64,
        addr: String,
        kind: u8,
        payload: Bytes,
    ) -> Result<Bytes, PeerError> {
        let unreachable = |reason: &str, request_sent: bool| PeerError::Unreachable {
            target,
            addr: addr.clone(),
            reason: reason.to_string(),
            request_sent,
        };
        if self.lock().lost_kinds.contains(&(from.0, kind)) {
            return std::future::pending().await;
        }
        let (incarnation, delay) = match self.fate(from, &addr, true) {
            Fate::SenderDead => return Err(unreachable("the sending node is down", false)),
            Fate::Refused => {
                // A refused connection still takes a network round trip to learn.
                tokio::time::sleep(Duration::from_millis(1)).await;
                return Err(unreachable("connection refused", false));
            }
            Fate::Lost => return std::future::pending().await,
            Fate::Deliver {
                incarnation,
                delay,
                duplicate,
            } => {
                if let Some(extra) = duplicate {
                    let net = self.clone();
                    let (addr, payload) = (addr.clone(), payload.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(extra).await;
                        if let Some((_, handler)) = net.endpoint(&addr, incarnation) {
                            let _ = handler.handle(from.0, kind, payload).await;
                        }
                    });
                }
                (incarnation, delay)
            }
        };
        tokio::time::sleep(delay).await;
        let Some((to, handler)) = self.endpoint(&addr, incarnation) else {
            return Err(unreachable("connection reset", true));
        };
        let handled = tokio::spawn(handler.handle(from.0, kind, payload)).await;
        let reply = match handled {
            Ok(reply) => reply,
            Err(error) => Err(format!("handler panicked: {error}")),
        };
        // A reply computed after its node died is never sent.
        if !self.incarnation_alive(to, incarnation) {
            return std::future::pending().await;
        }
        match self.fate((to, incarnation), &Self::addr(from.0), false) {
            Fate::Deliver { delay, .. } => tokio::time::sleep(delay).await,
            // The caller went down (or its address is unbound): nobody reads the reply.
            Fate::SenderDead | Fate::Refused | Fate::Lost => return std::future::pending().await,
        }
        reply.map_err(|message| PeerError::Remote { target, message })
    }
}

/// One incarnation of one node, as its `Node` sees the network.
#[derive(Clone)]
struct SimTransport {
    net: SimNet,
    node: u64,
    incarnation: u64,
}

impl std::fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimTransport(node {} #{})", self.node, self.incarnation)
    }
}

impl PeerTransport for SimTransport {
    fn client(&self, target: u64, addr: &str, config: Arc<PeerConfig>) -> PeerClient {
        let link = SimLink {
            net: self.net.clone(),
            from: (self.node, self.incarnation),
            target,
            addr: addr.to_string(),
        };
        PeerClient::with_link(target, addr, config, Arc::new(link))
    }

    fn bind(
        &self,
        addr: &str,
        _config: Arc<PeerConfig>,
        handler: Arc<dyn PeerHandler>,
    ) -> BoxFuture<'static, io::Result<PeerServer>> {
        let result = self.listen(addr, handler);
        Box::pin(async move { result })
    }
}

impl SimTransport {
    fn listen(&self, addr: &str, handler: Arc<dyn PeerHandler>) -> io::Result<PeerServer> {
        let local_addr: SocketAddr = addr
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, addr.to_string()))?;
        let mut state = self.net.lock();
        if state.endpoints.contains_key(addr) {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, addr.to_string()));
        }
        state.endpoints.insert(
            addr.to_string(),
            Endpoint {
                node: self.node,
                incarnation: self.incarnation,
                handler,
            },
        );
        let listener = SimListener {
            net: self.net.clone(),
            addr: addr.to_string(),
            local_addr,
            incarnation: self.incarnation,
        };
        Ok(PeerServer::with_listener(Box::new(listener)))
    }
}

struct SimLink {
    net: SimNet,
    from: (u64, u64),
    target: u64,
    addr: String,
}

impl PeerLink for SimLink {
    fn call(
        &self,
        kind: u8,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Bytes, PeerError>> {
        let trip = self
            .net
            .round_trip(self.from, self.target, self.addr.clone(), kind, payload);
        let target = self.target;
        Box::pin(async move {
            tokio::time::timeout(timeout, trip)
                .await
                .unwrap_or(Err(PeerError::Timeout {
                    target,
                    after: timeout,
                }))
        })
    }
}

struct SimListener {
    net: SimNet,
    addr: String,
    local_addr: SocketAddr,
    incarnation: u64,
}

impl PeerListener for SimListener {
    fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    fn shutdown(&self) {
        let mut state = self.net.lock();
        if state
            .endpoints
            .get(&self.addr)
            .is_some_and(|e| e.incarnation == self.incarnation)
        {
            state.endpoints.remove(&self.addr);
        }
    }
}
