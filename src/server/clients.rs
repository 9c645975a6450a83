//! The client registry: one `ClientInfo` per open connection, for CLIENT LIST/INFO/KILL, INFO
//! clients and the `clients_max` limit. Invariant: a client is registered from accept until its
//! connection task ends, and its id is never reused within a process.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::node::Class;

/// What CLIENT LIST shows about one connection; updated by its connection task.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    /// Milliseconds after `created` of the last command.
    pub last_command_ms: AtomicU64,
    /// Lowercase name of the last command ("NULL" before the first).
    pub last_command: Mutex<&'static str>,
    pub name: Mutex<Option<String>>,
    pub lib_name: Mutex<Option<String>>,
    pub lib_version: Mutex<Option<String>>,
    /// 2 or 3.
    pub protocol: AtomicU8,
    /// Commands queued in MULTI, or -1 outside MULTI.
    pub multi: AtomicI64,
    /// Unparsed bytes in the query buffer.
    pub query_buffer_bytes: AtomicUsize,
    /// Notified once by CLIENT KILL; the connection closes at its next read.
    pub kill: Notify,
    /// The connection's priority class (`Class::index`): its lane.
    pub priority: AtomicU8,
    /// Waiting in a blocking command (BLPOP, ...): INFO's blocked_clients, CLIENT LIST's `b`.
    pub blocked: AtomicBool,
    /// Notified by CLIENT UNBLOCK; `unblock_with_error` says which kind it asked for.
    pub unblock: Notify,
    pub unblock_with_error: AtomicBool,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST's sub, psub, ssub).
    pub subscriptions: [AtomicUsize; 3],
    /// Bytes of pub/sub messages queued for this client and not yet written.
    pub push_bytes: AtomicUsize,
    /// Notified when the client is cut off for being over the pub/sub output limit: its
    /// writer stops waiting for the socket.
    pub cut_off: Notify,
    /// The ACL user this connection is authenticated as.
    pub user: Mutex<bytes::Bytes>,
    /// Notified when the ACL users change: the connection checks its user is still allowed.
    pub acl_check: Notify,
}

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, local_addr: SocketAddr, fd: i32) -> Self {
        Self {
            id,
            addr,
            local_addr,
            fd,
            created: Instant::now(),
            last_command_ms: AtomicU64::new(0),
            last_command: Mutex::new("NULL"),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_version: Mutex::new(None),
            protocol: AtomicU8::new(2),
            multi: AtomicI64::new(-1),
            query_buffer_bytes: AtomicUsize::new(0),
            kill: Notify::new(),
            priority: AtomicU8::new(Class::default().index() as u8),
            blocked: AtomicBool::new(false),
            unblock: Notify::new(),
            unblock_with_error: AtomicBool::new(false),
            subscriptions: Default::default(),
            push_bytes: AtomicUsize::new(0),
            cut_off: Notify::new(),
            user: Mutex::new(bytes::Bytes::from_static(b"default")),
            acl_check: Notify::new(),
        }
    }

    /// Records a command about to run.
    pub fn touch(&self, command: &'static str) {
        self.last_command_ms
            .store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
        *lock(&self.last_command) = command;
    }

    pub fn class(&self) -> Class {
        Class::from_index(self.priority.load(Ordering::Relaxed).into())
    }

    pub fn set_class(&self, class: Class) {
        self.priority.store(class.index() as u8, Ordering::Relaxed);
    }

    pub fn name(&self) -> Option<String> {
        lock(&self.name).clone()
    }

    /// One line of CLIENT LIST, shaped like Redis 7's (without the trailing newline).
    pub fn line(&self) -> String {
        let age = self.created.elapsed();
        let idle_ms =
            (age.as_millis() as u64).saturating_sub(self.last_command_ms.load(Ordering::Relaxed));
        let qbuf = self.query_buffer_bytes.load(Ordering::Relaxed);
        let multi = self.multi.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub={} psub={} ssub={} \
             multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
             tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={} prio={}",
            self.id,
            self.addr,
            self.local_addr,
            self.fd,
            self.name().unwrap_or_default(),
            age.as_secs(),
            idle_ms / 1000,
            if multi >= 0 {
                "x"
            } else if self.blocked.load(Ordering::Relaxed) {
                "b"
            } else if self.subscriptions.iter().any(|n| n.load(Ordering::Relaxed) > 0) {
                "P"
            } else {
                "N"
            },
            self.subscriptions[0].load(Ordering::Relaxed),
            self.subscriptions[1].load(Ordering::Relaxed),
            self.subscriptions[2].load(Ordering::Relaxed),
            multi,
            qbuf,
            *lock(&self.last_command),
            String::from_utf8_lossy(&lock(&self.user)),
            self.protocol.load(Ordering::Relaxed),
            lock(&self.lib_name).clone().unwrap_or_default(),
            lock(&self.lib_version).clone().unwrap_or_default(),
            self.class(),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every open connection of a server.
#[derive(Debug, Default)]
pub struct Clients {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Clients {
    /// Registers a connection unless `clients_max` are already open.
    pub fn register(
        &self,
        addr: SocketAddr,
        local_addr: SocketAddr,
        fd: i32,
        clients_max: usize,
    ) -> Option<Arc<ClientInfo>> {
        let mut clients = lock(&self.clients);
        if clients.len() >= clients_max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let info = Arc::new(ClientInfo::new(id, addr, local_addr, fd));
        clients.insert(id, info.clone());
        Some(info)
    }

    pub fn unregister(&self, id: u64) {
        lock(&self.clients).remove(&id);
    }

    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Connections waiting in a blocking command (INFO's blocked_clients).
    pub fn blocked(&self) -> usize {
        lock(&self.clients)
            .values()
            .filter(|c| c.blocked.load(Ordering::Relaxed))
            .count()
    }

    /// CLIENT UNBLOCK: asks client `id` to stop waiting (with an error when `with_error`);
    /// false if it is not blocked.
    pub fn unblock(&self, id: u64, with_error: bool) -> bool {
        let Some(client) = lock(&self.clients).get(&id).cloned() else {
            return false;
        };
        if !client.blocked.load(Ordering::Relaxed) {
            return false;
        }
        client
            .unblock_with_error
            .store(with_error, Ordering::Relaxed);
        client.unblock.notify_one();
        true
    }

    /// All clients, by id.
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// Asks every client matching `filter` to close; returns how many.
    pub fn kill(&self, filter: impl Fn(&ClientInfo) -> bool) -> usize {
        let matching: Vec<_> = lock(&self.clients)
            .values()
            .filter(|c| filter(c))
            .cloned()
            .collect();
        for client in &matching {
            client.kill.notify_one();
        }
        matching.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_respects_clients_max_and_ids_grow() {
        let clients = Clients::default();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let a = clients.register(addr, addr, 3, 2).unwrap();
        let b = clients.register(addr, addr, 4, 2).unwrap();
        assert!(clients.register(addr, addr, 5, 2).is_none());
        clients.unregister(a.id);
        let c = clients.register(addr, addr, 6, 2).unwrap();
        assert!(a.id < b.id && b.id < c.id);
        assert_eq!(clients.kill(|client| client.id == b.id), 1);
        let line = c.line();
        assert!(
            line.starts_with(&format!(
                "id={} addr=127.0.0.1:1 laddr=127.0.0.1:1 fd=6 name= ",
                c.id
            )),
            "{line}"
        );
        assert!(
            line.contains(" flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 "),
            "{line}"
        );
        assert!(
            line.contains(" cmd=NULL ") && line.contains(" resp=2"),
            "{line}"
        );
    }
}
