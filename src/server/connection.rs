//! One client connection: a reader that parses every complete command in its buffer and
//! dispatches it, and a writer that sends the replies in order.
//!
//! Invariants: replies leave in the order the commands arrived; writes are enqueued on the log
//! as soon as they are parsed (many in flight per connection), and a command that reads state
//! first waits until every earlier write of this connection has its reply (read-your-writes).
//! The two halves run concurrently in one task, so a client that pipelines without reading its
//! replies is throttled by the bounded queue between them instead of deadlocking.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio_rustls::server::TlsStream;

use super::clients::ClientInfo;
use super::multi::{ExecSlot, Queued};
use super::Shared;
use crate::command::{CommandSpec, Reply};
use crate::error::Error;
use crate::keyspace::KeyVersion;
use crate::node::PendingReply;
use crate::resp::{self, Protocol};

/// Replies (ready or awaited) queued between the reader and the writer of one connection.
const OUTGOING_DEPTH_MAX: usize = 1024;
/// Bytes read per read call (the buffer grows further for large requests).
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// The writer sends its buffer once it holds this much, even if more replies are queued.
const WRITE_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// One reply slot, in command order.
pub(crate) enum Outgoing {
    Reply {
        reply: Reply,
        protocol: Protocol,
    },
    /// A write admitted to the log; its reply arrives when it is durable and applied.
    Pending {
        pending: PendingReply,
        protocol: Protocol,
        spec: &'static CommandSpec,
        /// Its arguments, for the slow log.
        args: Vec<Bytes>,
        /// When the command was parsed, for its latency.
        started: Instant,
        /// The connection's class when the command was parsed (its latency series).
        class: crate::node::Class,
    },
    /// EXEC: the transaction's log entry (None when it has no data command and no WATCH), and
    /// what goes in each slot of its reply, in queueing order.
    Exec {
        pending: Option<PendingReply>,
        slots: Vec<ExecSlot>,
        protocol: Protocol,
        started: Instant,
        class: crate::node::Class,
    },
    /// An out-of-band message (pub/sub): `bytes` is what it counts against the client's
    /// pub/sub output limit. Pushes do not take a reply slot.
    Push {
        items: Vec<Reply>,
        protocol: Protocol,
        bytes: usize,
    },
    /// A reply the client asked not to get (CLIENT REPLY OFF / SKIP): awaited like any other
    /// (so read-your-writes and statistics hold), then dropped.
    Silenced(Box<Outgoing>),
    /// Send everything before this, then close.
    Close,
}

/// CLIENT REPLY's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyMode {
    On,
    Off,
    /// Drop the reply of the next command only.
    Skip,
}

/// What the dispatcher tells the read loop after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// Stop reading; close once the replies so far are written.
    Close,
    /// A blocking command is waiting (`Connection::blocked`): read nothing more until it is
    /// answered.
    Block,
}

/// Why a connection ended (logged at debug, or warn for limits).
#[derive(Debug)]
pub(crate) enum End {
    Eof,
    Quit,
    Killed,
    Shutdown,
    IdleTimeout,
    ProtocolError(String),
    QueryBufferFull(usize),
    Io(std::io::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Eof => f.write_str("client closed the connection"),
            End::Quit => f.write_str("QUIT or CLIENT KILL of itself"),
            End::Killed => f.write_str("killed by CLIENT KILL"),
            End::Shutdown => f.write_str("server shutting down"),
            End::IdleTimeout => f.write_str("idle timeout"),
            End::ProtocolError(text) => write!(f, "protocol error: {text}"),
            End::QueryBufferFull(bytes) => write!(
                f,
                "query buffer of {bytes} bytes is over client-query-buffer-limit (limits.query_buffer_bytes_max)"
            ),
            End::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// How many of one connection's writes have their reply: the writer counts them, the reader
/// waits on the count before a read (read-your-writes). Counting takes no lock unless the reader
/// is waiting; a `watch` would take nine per write (its value lock and eight `Notify` lists).
#[derive(Default)]
struct Answered {
    count: AtomicU64,
    /// Set while the reader waits; the writer then wakes it.
    waiting: AtomicBool,
    /// The writer has stopped: the count moves no more.
    closed: AtomicBool,
    wake: Notify,
}

impl Answered {
    fn get(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    fn set(&self, count: u64) {
        self.count.store(count, Ordering::SeqCst);
        // SeqCst on both sides: either the waiter's check sees this count, or this sees its
        // flag (and its `Notified`, created before the flag was set, gets the wake).
        if self.waiting.load(Ordering::SeqCst) {
            self.wake.notify_waiters();
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Waits until the count reaches `target`: true, or false if the writer stopped first.
    /// One waiter at a time (the connection's reader).
    async fn wait_for(&self, target: u64) -> bool {
        // Clears the flag however the wait ends, a cancelled one included: a flag left set
        // would make the writer take the wake's lock on every reply.
        struct Waiting<'a>(&'a AtomicBool);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        let _waiting = Waiting(&self.waiting);
        loop {
            let woken = self.wake.notified();
            self.waiting.store(true, Ordering::SeqCst);
            let reached = self.get() >= target;
            if reached || self.closed.load(Ordering::SeqCst) {
                return reached;
            }
            woken.await;
        }
    }
}

/// The writer's end of `Answered`: closes it however the writer stops.
struct AnsweredWriter(Arc<Answered>);

impl Drop for AnsweredWriter {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Per-connection state that commands read and change.
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: Arc<ClientInfo>,
    pub(crate) protocol: Protocol,
    pub(crate) authenticated: bool,
    /// The ACL user commands are checked against (`default` before AUTH).
    pub(crate) user: Arc<super::acl::Compiled>,
    /// The ACL generation `user` was compiled at.
    pub(crate) acl_generation: u64,
    /// Commands queued since MULTI (None outside MULTI).
    pub(crate) multi: Option<Vec<Queued>>,
    /// A command failed to queue: EXEC answers EXECABORT.
    pub(crate) multi_failed: bool,
    /// WATCHed keys and the versions seen at WATCH time.
    pub(crate) watches: Vec<(Bytes, KeyVersion)>,
    /// When the command being dispatched was parsed, for its latency.
    pub(crate) command_started: Instant,
    /// Linearizable unless the client sent READONLY.
    pub(crate) read_consistency: crate::cluster::ReadConsistency,
    out: mpsc::UnboundedSender<Outgoing>,
    /// Reply slots still free in the queue to the writer (pushes take none): a client that
    /// pipelines without reading is throttled here.
    slots: Arc<Semaphore>,
    /// Channels and patterns this connection listens to.
    pub(crate) subscriptions: super::pubsub::Subscriptions,
    /// CLIENT REPLY ON | OFF | SKIP.
    pub(crate) reply_mode: ReplyMode,
    /// The current command's reply is dropped (CLIENT REPLY OFF / SKIP).
    pub(crate) silenced: bool,
    writes_enqueued: u64,
    writes_answered: Arc<Answered>,
    /// `writes_enqueued` just after the last script this connection sent to the log.
    last_script_write: u64,
    /// The blocking command being waited for, between its dispatch and its reply.
    pub(crate) blocked: Option<super::blocking::BlockedWait>,
    /// Blocking commands sent so far: the request number of the next waiter id.
    pub(crate) blocking_requests: u64,
    /// Set while a tagged EXEC (`TANDEM REQ s n a EXEC`) runs: its transaction's tag.
    pub(crate) session_tag: Option<super::exactly_once::SessionTag>,
}

/// The read side of a client socket: plaintext TCP, or TLS on the `tls-port` listener. An enum
/// rather than a box or a generic, so the plaintext path stays a direct call and the connection
/// code is compiled once.
pub(crate) enum ClientReader {
    Plain(OwnedReadHalf),
    Tls(tokio::io::ReadHalf<TlsStream<TcpStream>>),
}

/// The write side of a client socket (see [`ClientReader`]).
pub(crate) enum ClientWriter {
    Plain(OwnedWriteHalf),
    Tls(tokio::io::WriteHalf<TlsStream<TcpStream>>),
}

impl AsyncRead for ClientReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientReader::Plain(inner) => Pin::new(inner).poll_read(cx, buf),
            ClientReader::Tls(inner) => Pin::new(inner).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ClientWriter::Plain(inner) => Pin::new(inner).poll_write(cx, buf),
            ClientWriter::Tls(inner) => Pin::new(inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientWriter::Plain(inner) => Pin::new(inner).poll_flush(cx),
            ClientWriter::Tls(inner) => Pin::new(inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ClientWriter::Plain(inner) => Pin::new(inner).poll_shutdown(cx),
            ClientWriter::Tls(inner) => Pin::new(inner).poll_shutdown(cx),
        }
    }
}

/// Serves a plaintext client until it leaves.
pub(crate) async fn run(
    shared: Arc<Shared>,
    client: Arc<ClientInfo>,
    stream: TcpStream,
    stop: watch::Receiver<bool>,
) {
    let (reader, writer) = stream.into_split();
    serve(
        shared,
        client,
        ClientReader::Plain(reader),
        ClientWriter::Plain(writer),
        stop,
    )
    .await;
}

/// Serves a client whose TLS handshake succeeded, exactly as a plaintext one.
pub(crate) async fn run_tls(
    shared: Arc<Shared>,
    client: Arc<ClientInfo>,
    stream: TlsStream<TcpStream>,
    stop: watch::Receiver<bool>,
) {
    let (reader, writer) = tokio::io::split(stream);
    serve(
        shared,
        client,
        ClientReader::Tls(reader),
        ClientWriter::Tls(writer),
        stop,
    )
    .await;
}

async fn serve(
    shared: Arc<Shared>,
    client: Arc<ClientInfo>,
    reader: ClientReader,
    writer: ClientWriter,
    stop: watch::Receiver<bool>,
) {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let slots = Arc::new(Semaphore::new(OUTGOING_DEPTH_MAX));
    let answered = Arc::new(Answered::default());
    // Set when the client is gone (its side closed or reset): the writer then stops waiting for
    // replies nobody will read, and dropping them tells a write that a leader change re-routes
    // that its client left (it is dropped rather than applied late; see Cluster::resubmit).
    let (gone_tx, gone_rx) = watch::channel(false);
    let acl_generation = shared.sm().acl_generation.load(Ordering::Acquire);
    let default_user = shared.default_user();
    let connection = Connection {
        authenticated: default_user.user.enabled && default_user.user.nopass,
        user: default_user,
        acl_generation,
        shared: shared.clone(),
        client: client.clone(),
        protocol: Protocol::Resp2,
        multi: None,
        multi_failed: false,
        watches: Vec::new(),
        command_started: Instant::now(),
        read_consistency: crate::cluster::ReadConsistency::Linearizable,
        out: out_tx,
        slots: slots.clone(),
        subscriptions: Default::default(),
        reply_mode: ReplyMode::On,
        silenced: false,
        writes_enqueued: 0,
        writes_answered: answered.clone(),
        last_script_write: 0,
        blocked: None,
        blocking_requests: 0,
        session_tag: None,
    };
    let ((), ()) = tokio::join!(
        read_half(connection, reader, stop, gone_tx),
        write_loop(
            writer,
            out_rx,
            slots,
            AnsweredWriter(answered),
            gone_rx,
            shared,
            client
        ),
    );
}

async fn read_half(
    mut connection: Connection,
    mut reader: ClientReader,
    stop: watch::Receiver<bool>,
    gone: watch::Sender<bool>,
) {
    let end = connection.read_loop(&mut reader, stop).await;
    if connection.subscriptions.active() {
        connection
            .shared
            .pubsub
            .remove_everywhere(connection.client.id);
    }
    // As Redis frees a client at once when its socket closes or is killed, replies still owed
    // to it are not waited for.
    if matches!(end, End::Eof | End::Io(_) | End::Killed) {
        gone.send_replace(true);
    }
    let client = &connection.client;
    match &end {
        End::ProtocolError(_) | End::QueryBufferFull(_) | End::IdleTimeout => {
            connection
                .shared
                .stats
                .clients_closed_for_limits
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(id = client.id, addr = %client.addr, reason = %end, "closing client");
        }
        _ => tracing::debug!(id = client.id, addr = %client.addr, reason = %end, "client closed"),
    }
    let _ = connection.out.send(Outgoing::Close);
}

impl Connection {
    async fn read_loop(
        &mut self,
        reader: &mut ClientReader,
        mut stop: watch::Receiver<bool>,
    ) -> End {
        let shared = self.shared.clone();
        let live = &shared.live;
        let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        // Resumes a partly received command instead of re-reading it after every read.
        let mut decoder = resp::CommandDecoder::default();
        loop {
            loop {
                // Read per command, so CONFIG SET applies to the next command of every client.
                match decoder.decode(&mut buf, &live.protocol_limits()) {
                    Ok(Some(args)) => {
                        if args.is_empty() {
                            continue; // an empty inline line: Redis ignores it
                        }
                        match self.dispatch(args).await {
                            Flow::Continue => {}
                            Flow::Close => return End::Quit,
                            Flow::Block => {
                                if let Err(end) =
                                    self.wait_blocked(reader, &mut buf, &mut stop).await
                                {
                                    return end;
                                }
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let text = format!("ERR {e}");
                        self.shared.stats.record_command(None, Some(&text));
                        let _ = self
                            .send(Outgoing::Reply {
                                reply: Reply::Error(text.clone()),
                                protocol: self.protocol,
                            })
                            .await;
                        return End::ProtocolError(text);
                    }
                }
            }
            self.client
                .query_buffer_bytes
                .store(buf.len(), Ordering::Relaxed);
            if buf.len() > live.query_buffer_bytes_max() {
                return End::QueryBufferFull(buf.len());
            }
            buf.reserve(READ_CHUNK_BYTES);
            let read = reader.read_buf(&mut buf);
            let idle_timeout: Option<Duration> = live.idle_timeout();
            let idle = async {
                match idle_timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => return End::Shutdown,
                _ = self.client.kill.notified() => return End::Killed,
                _ = self.client.acl_check.notified() => {
                    if !self.refresh_user() {
                        return End::Killed;
                    }
                    continue;
                }
                _ = idle => return End::IdleTimeout,
                result = read => match result {
                    Ok(0) => return End::Eof,
                    Ok(n) => {
                        self.shared.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => return End::Io(e),
                },
            }
        }
    }

    /// Queues a reply slot; false if the writer is gone (the client disconnected).
    async fn send(&self, item: Outgoing) -> bool {
        let item = match item {
            Outgoing::Reply { .. } if self.silenced => return true,
            Outgoing::Pending { .. } | Outgoing::Exec { .. } if self.silenced => {
                Outgoing::Silenced(Box::new(item))
            }
            other => other,
        };
        if !matches!(item, Outgoing::Push { .. }) {
            match self.slots.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_) => return false,
            }
        }
        self.out.send(item).is_ok()
    }

    /// Queues a push (a pub/sub message or a (un)subscribe confirmation) for this connection.
    pub(crate) async fn push(&self, items: Vec<Reply>) -> bool {
        self.send(Outgoing::Push {
            items,
            protocol: self.protocol,
            bytes: 0,
        })
        .await
    }

    /// Where the pub/sub hub delivers this connection's messages.
    pub(crate) fn subscriber(&self) -> super::pubsub::Subscriber {
        super::pubsub::Subscriber {
            client: self.client.clone(),
            out: self.out.clone(),
        }
    }

    /// Answers the current command now. `name` is None for commands that do not exist.
    pub(crate) async fn reply(&self, name: Option<&'static str>, reply: Reply) -> Flow {
        let elapsed = self.command_started.elapsed();
        self.shared
            .stats
            .record_command_timed(name, reply.error_text(), elapsed);
        self.shared.metrics.observe_command(self.class(), elapsed);
        let sent = self
            .send(Outgoing::Reply {
                reply,
                protocol: self.protocol,
            })
            .await;
        if sent {
            Flow::Continue
        } else {
            Flow::Close
        }
    }

    pub(crate) async fn error(&self, name: Option<&'static str>, text: impl Into<String>) -> Flow {
        self.reply(name, Reply::Error(text.into())).await
    }

    /// Answers the current command when `pending` completes (a write on the log).
    pub(crate) async fn reply_later(
        &mut self,
        spec: &'static CommandSpec,
        args: Vec<Bytes>,
        pending: PendingReply,
    ) -> Flow {
        let item = Outgoing::Pending {
            pending,
            protocol: self.protocol,
            spec,
            args,
            started: self.command_started,
            class: self.class(),
        };
        self.send_awaited(item).await
    }

    /// Answers EXEC once its log entry (if any) completes, splicing in the other slots.
    pub(crate) async fn reply_exec(
        &mut self,
        pending: Option<PendingReply>,
        slots: Vec<ExecSlot>,
    ) -> Flow {
        let item = Outgoing::Exec {
            pending,
            slots,
            protocol: self.protocol,
            started: self.command_started,
            class: self.class(),
        };
        self.send_awaited(item).await
    }

    /// Queues a slot the writer answers later (counted for read-your-writes).
    async fn send_awaited(&mut self, item: Outgoing) -> Flow {
        self.writes_enqueued += 1;
        if self.send(item).await {
            Flow::Continue
        } else {
            Flow::Close
        }
    }

    /// Records that the write just enqueued runs a script.
    pub(crate) fn note_script_enqueued(&mut self) {
        self.last_script_write = self.writes_enqueued;
    }

    /// Whether a script this connection sent to the log has no reply yet.
    pub(crate) fn script_in_flight(&self) -> bool {
        self.writes_answered.get() < self.last_script_write
    }

    /// Waits until every write this connection enqueued has its reply (so it is applied and a
    /// read sees it). False if the writer is gone.
    pub(crate) async fn wait_for_own_writes(&mut self) -> bool {
        self.writes_answered.wait_for(self.writes_enqueued).await
    }
}

/// The reply a client sees for a node-level error: the error's text, which starts with its
/// Redis code (`ERR`, `BUSY`, `MOVED`, ...).
pub(crate) fn node_error_reply(error: &Error) -> Reply {
    if error.is_fatal() {
        tracing::error!(%error, "node can no longer acknowledge writes");
    }
    match error {
        Error::Command(text) => Reply::Error(text.clone()),
        other => Reply::Error(other.to_string()),
    }
}

async fn write_loop(
    mut socket: ClientWriter,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    slots: Arc<Semaphore>,
    answered: AnsweredWriter,
    mut gone: watch::Receiver<bool>,
    shared: Arc<Shared>,
    client: Arc<ClientInfo>,
) {
    let stats = &shared.stats;
    let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut writes_answered = 0u64;
    loop {
        let item = match queue.try_recv() {
            Ok(item) => item,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Nothing more is ready: this is the end of a pipeline, send what we have.
                if flush(&mut socket, &mut out, stats, &client).await.is_err() {
                    return;
                }
                match queue.recv().await {
                    Some(item) => item,
                    None => return,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => {
                let _ = flush(&mut socket, &mut out, stats, &client).await;
                return;
            }
        };
        let (item, silenced) = match item {
            Outgoing::Silenced(inner) => (*inner, true),
            other => (other, false),
        };
        if !matches!(item, Outgoing::Push { .. }) {
            slots.add_permits(1);
        }
        let mut dropped = BytesMut::new();
        let out = if silenced { &mut dropped } else { &mut out };
        match item {
            Outgoing::Reply { reply, protocol } => resp::write_reply(&reply, protocol, out),
            Outgoing::Push {
                items,
                protocol,
                bytes,
            } => {
                resp::write_push(&items, protocol, out);
                client.push_bytes.fetch_sub(bytes, Ordering::Relaxed);
            }
            // `send` wraps an item once, never a wrapper.
            Outgoing::Silenced(_) => {}
            Outgoing::Pending {
                pending,
                protocol,
                spec,
                args,
                started,
                class,
            } => {
                let reply = tokio::select! {
                    biased;
                    result = pending.wait() => result.unwrap_or_else(|e| node_error_reply(&e)),
                    // Err: the reader ended without the client going (QUIT, a protocol error,
                    // shutdown) and dropped its sender; replies are still owed then.
                    Ok(_) = gone.wait_for(|gone| *gone) => return,
                };
                let elapsed = started.elapsed();
                stats.record_command_timed(Some(spec.name), reply.error_text(), elapsed);
                shared.metrics.observe_command(class, elapsed);
                shared.observe_command(spec, &args, elapsed, &client);
                writes_answered += 1;
                answered.0.set(writes_answered);
                resp::write_reply(&reply, protocol, out);
            }
            Outgoing::Exec {
                pending,
                slots,
                protocol,
                started,
                class,
            } => {
                let data = match pending {
                    Some(pending) => tokio::select! {
                        biased;
                        result = pending.wait() => result.unwrap_or_else(|e| node_error_reply(&e)),
                        // Err: the reader ended without the client going (QUIT, a protocol error,
                    // shutdown) and dropped its sender; replies are still owed then.
                    Ok(_) = gone.wait_for(|gone| *gone) => return,
                    },
                    None => Reply::Array(Vec::new()),
                };
                let reply = super::multi::exec_reply(&shared, &client, data, slots).await;
                let elapsed = started.elapsed();
                stats.record_command_timed(Some("exec"), reply.error_text(), elapsed);
                shared.metrics.observe_command(class, elapsed);
                writes_answered += 1;
                answered.0.set(writes_answered);
                resp::write_reply(&reply, protocol, out);
            }
            Outgoing::Close => {
                if flush(&mut socket, out, stats, &client).await.is_ok() {
                    let _ = socket.shutdown().await;
                }
                return;
            }
        }
        if out.len() >= WRITE_BUFFER_BYTES_MAX
            && flush(&mut socket, out, stats, &client).await.is_err()
        {
            return;
        }
    }
}

/// Writes `out` to the socket, unless the client is cut off (over its pub/sub output limit)
/// while the socket does not take it.
async fn flush(
    socket: &mut ClientWriter,
    out: &mut BytesMut,
    stats: &super::stats::ServerStats,
    client: &ClientInfo,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    // The write first: it usually completes at once, and then the cut-off is never polled.
    tokio::select! {
        biased;
        written = socket.write_all(out) => written?,
        () = client.cut_off.notified() => {
            return Err(std::io::Error::other("over the pub/sub output limit"));
        }
    }
    stats
        .bytes_out
        .fetch_add(out.len() as u64, Ordering::Relaxed);
    out.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader waits on the count while the writer, on another thread, moves it one reply
    /// at a time: every other count only once the reader is asleep on it (the wake must
    /// come), the rest racing the reader's check. Every wait ends: no wake is lost.
    #[test]
    fn a_waiting_reader_sees_every_count_the_writer_sets() {
        const REPLIES: u64 = 2_000;
        let answered = Arc::new(Answered::default());
        // The writer's end stays open until the reader is done: closing wakes the reader too.
        let writer = AnsweredWriter(answered.clone());
        let counts = writer.0.clone();
        let setter = std::thread::spawn(move || {
            for count in 1..=REPLIES {
                if count % 2 == 0 {
                    while !counts.waiting.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                }
                counts.set(count);
            }
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for target in 1..=REPLIES {
                let reached =
                    tokio::time::timeout(Duration::from_secs(10), answered.wait_for(target))
                        .await
                        .expect("a wake was lost");
                assert!(reached, "count {target} not reached");
            }
        });
        setter.join().unwrap();
        drop(writer);
    }

    /// A wait given up (its future dropped) leaves the writer's fast path as it was.
    #[test]
    fn a_cancelled_wait_clears_the_waiting_flag() {
        let answered = Arc::new(Answered::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let gave_up =
                tokio::time::timeout(Duration::from_millis(10), answered.wait_for(1)).await;
            assert!(gave_up.is_err());
        });
        assert!(!answered.waiting.load(Ordering::SeqCst));
    }

    /// Once the writer stops, a wait for a count it never reached ends with false, and one it
    /// reached still ends with true.
    #[test]
    fn a_stopped_writer_ends_the_wait() {
        let answered = Arc::new(Answered::default());
        let writer = AnsweredWriter(answered.clone());
        writer.0.set(3);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let waiting = tokio::spawn({
                let answered = answered.clone();
                async move { answered.wait_for(5).await }
            });
            tokio::task::yield_now().await;
            drop(writer);
            let reached = tokio::time::timeout(Duration::from_secs(10), waiting)
                .await
                .expect("the wait did not end when the writer stopped")
                .unwrap();
            assert!(!reached);
            assert!(answered.wait_for(3).await);
        });
    }
}
