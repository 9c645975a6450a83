//! The node's pub/sub hub: which connections listen to which channels and patterns, and the
//! delivery of a message to each of them. Messages are pushed straight into the subscriber's
//! outgoing queue (so they interleave with its replies in the order they happen) and are never
//! stored anywhere else: delivery is at most once, as in Redis.
//!
//! Invariants: a connection appears under a channel (or pattern) here exactly when it is in that
//! connection's own subscription sets; a subscriber whose undelivered pushes exceed
//! [`PUSH_BYTES_MAX`] is cut off (removed here and its connection closed), so a slow reader can
//! never make the node hold unbounded memory or stall a publisher.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::clients::ClientInfo;
use super::connection::Outgoing;
use crate::command::Reply;
use crate::keyspace::glob_match;
use crate::resp::Protocol;

/// Undelivered push bytes a subscriber may have before it is disconnected: Redis's default
/// hard limit for pub/sub clients (`client-output-buffer-limit pubsub 32mb`).
pub const PUSH_BYTES_MAX: usize = 32 * 1024 * 1024;

/// The three namespaces of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE: glob patterns matched against PUBLISH's channel.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH (Tandem has one shard, so these are a separate set of channels).
    Shard,
}

impl Kind {
    pub(crate) fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    pub(crate) fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// Where a subscribed connection receives its pushes.
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub(crate) client: Arc<ClientInfo>,
    pub(crate) out: mpsc::UnboundedSender<Outgoing>,
}

type Listeners = BTreeMap<Bytes, BTreeMap<u64, Subscriber>>;

#[derive(Default)]
struct Tables {
    channels: Listeners,
    patterns: Listeners,
    shard: Listeners,
}

impl Tables {
    fn of(&mut self, kind: Kind) -> &mut Listeners {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn of_ref(&self, kind: Kind) -> &Listeners {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }
}

/// Every subscription of this node.
#[derive(Default)]
pub struct Hub {
    tables: Mutex<Tables>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub(crate) fn subscribe(&self, kind: Kind, name: Bytes, subscriber: Subscriber) {
        let id = subscriber.client.id;
        lock(&self.tables)
            .of(kind)
            .entry(name)
            .or_default()
            .insert(id, subscriber);
    }

    pub(crate) fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut tables = lock(&self.tables);
        let table = tables.of(kind);
        if let Some(listeners) = table.get_mut(name) {
            listeners.remove(&id);
            if listeners.is_empty() {
                table.remove(name);
            }
        }
    }

    /// PUBLISH (`Kind::Channel`) or SPUBLISH (`Kind::Shard`) on this node: the number of
    /// subscriptions the message was pushed to.
    pub fn publish(&self, shard: bool, channel: &Bytes, message: &Bytes) -> usize {
        let mut targets: Vec<(Subscriber, Option<Bytes>)> = Vec::new();
        {
            let tables = lock(&self.tables);
            let kind = if shard { Kind::Shard } else { Kind::Channel };
            if let Some(listeners) = tables.of_ref(kind).get(channel) {
                targets.extend(listeners.values().map(|s| (s.clone(), None)));
            }
            if !shard {
                for (pattern, listeners) in &tables.patterns {
                    if glob_match(pattern, channel) {
                        targets.extend(
                            listeners
                                .values()
                                .map(|s| (s.clone(), Some(pattern.clone()))),
                        );
                    }
                }
            }
        }
        let mut cut_off = Vec::new();
        for (subscriber, pattern) in &targets {
            let items = match pattern {
                None => vec![
                    Reply::Bulk(Bytes::from_static(if shard {
                        b"smessage"
                    } else {
                        b"message"
                    })),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ],
                Some(pattern) => vec![
                    Reply::Bulk(Bytes::from_static(b"pmessage")),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ],
            };
            let bytes = 32 + channel.len() + message.len() + pattern.as_ref().map_or(0, Bytes::len);
            if !push(subscriber, items, bytes) {
                cut_off.push(subscriber.client.clone());
            }
        }
        for client in cut_off {
            self.remove_everywhere(client.id);
            tracing::warn!(
                id = client.id,
                addr = %client.addr,
                limit = PUSH_BYTES_MAX,
                "closing a subscriber whose undelivered messages are over the pub/sub output limit"
            );
            client.kill.notify_one();
            client.cut_off.notify_one();
        }
        targets.len()
    }

    /// Drops every subscription of client `id` (it disconnected or was cut off).
    pub(crate) fn remove_everywhere(&self, id: u64) {
        let mut tables = lock(&self.tables);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            tables.of(kind).retain(|_, listeners| {
                listeners.remove(&id);
                !listeners.is_empty()
            });
        }
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: the active channels matching `pattern` (all if None).
    pub(crate) fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        lock(&self.tables)
            .of_ref(kind)
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: subscribers of one channel.
    pub(crate) fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        lock(&self.tables)
            .of_ref(kind)
            .get(name)
            .map_or(0, BTreeMap::len)
    }

    /// PUBSUB NUMPAT: distinct patterns with at least one subscriber.
    pub fn patterns(&self) -> usize {
        lock(&self.tables).patterns.len()
    }

    /// Distinct channels with at least one subscriber (INFO's pubsub_channels).
    pub fn channel_count(&self) -> usize {
        lock(&self.tables).channels.len()
    }

    /// Distinct shard channels with at least one subscriber (INFO's pubsubshard_channels).
    pub fn shard_channel_count(&self) -> usize {
        lock(&self.tables).shard.len()
    }
}

/// Queues one push for `subscriber`; false if it is over its output limit (or gone).
fn push(subscriber: &Subscriber, items: Vec<Reply>, bytes: usize) -> bool {
    let pending = subscriber
        .client
        .push_bytes
        .fetch_add(bytes, Ordering::Relaxed)
        + bytes;
    if pending > PUSH_BYTES_MAX {
        return false;
    }
    let protocol = Protocol::from_version(subscriber.client.protocol.load(Ordering::Relaxed));
    subscriber
        .out
        .send(Outgoing::Push {
            items,
            protocol,
            bytes,
        })
        .is_ok()
}

/// One connection's own subscriptions, kept in the order they were made so that an
/// UNSUBSCRIBE without arguments answers in a stable order.
#[derive(Default)]
pub(crate) struct Subscriptions {
    pub(crate) channels: BTreeSet<Bytes>,
    pub(crate) patterns: BTreeSet<Bytes>,
    pub(crate) shard: BTreeSet<Bytes>,
}

impl Subscriptions {
    pub(crate) fn of(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a (P)SUBSCRIBE/(P)UNSUBSCRIBE reply carries: channels plus patterns; the
    /// shard commands count shard channels only (as Redis 7.0).
    pub(crate) fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
        }
    }

    /// Whether the connection is in subscribed mode.
    pub(crate) fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

use super::command_table::ServerCommand;
use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::Shared;

/// Whether `command` may run while a RESP2 connection is subscribed.
pub(super) fn allowed_when_subscribed(command: Option<ServerCommand>) -> bool {
    matches!(
        command,
        Some(
            ServerCommand::Subscribe
                | ServerCommand::Unsubscribe
                | ServerCommand::PSubscribe
                | ServerCommand::PUnsubscribe
                | ServerCommand::SSubscribe
                | ServerCommand::SUnsubscribe
                | ServerCommand::Ping
                | ServerCommand::Quit
                | ServerCommand::Reset
        )
    )
}

/// Redis's refusal of another command in RESP2 subscribed mode.
pub(super) fn subscribed_mode_error(name: &str) -> String {
    format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )
}

fn bulk_str(text: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(text.as_bytes()))
}

/// PUBLISH / SPUBLISH from any connection (or inside EXEC): delivers on this node and on
/// every other node of the cluster; the reply counts the receivers on every node reached.
pub(crate) async fn publish(
    shared: &Shared,
    shard: bool,
    channel: &Bytes,
    message: &Bytes,
) -> usize {
    let local = shared.pubsub.publish(shard, channel, message);
    local
        + shared
            .node
            .cluster()
            .publish_to_peers(shard, channel, message)
            .await
}

/// PUBSUB subcommand [argument ...]: answered from this node's subscriptions.
pub(crate) fn pubsub_reply(shared: &Shared, args: &[Bytes]) -> Reply {
    let hub = &shared.pubsub;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let arity_ok = match sub.as_str() {
        "channels" | "shardchannels" => args.len() <= 3,
        "numpat" | "help" => args.len() == 2,
        "numsub" | "shardnumsub" => true,
        _ => {
            return Reply::Error(format!(
                "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                String::from_utf8_lossy(&args[1])
            ))
        }
    };
    if !arity_ok {
        return Reply::Error(wrong_arity(&format!("pubsub|{sub}")));
    }
    match sub.as_str() {
        "channels" | "shardchannels" => {
            let kind = if sub == "channels" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            let pattern = args.get(2).map(|p| &p[..]);
            Reply::Array(
                hub.channels(kind, pattern)
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect(),
            )
        }
        "numsub" | "shardnumsub" => {
            let kind = if sub == "numsub" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            Reply::Map(
                args[2..]
                    .iter()
                    .map(|name| {
                        (
                            Reply::Bulk(name.clone()),
                            Reply::Integer(hub.subscribers(kind, name) as i64),
                        )
                    })
                    .collect(),
            )
        }
        "numpat" => Reply::Integer(hub.patterns() as i64),
        _ => Reply::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|line| Reply::Simple((*line).to_string()))
            .collect(),
        ),
    }
}

impl Connection {
    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE name [name ...]: one confirmation push per name.
    pub(super) async fn subscribe(&mut self, kind: Kind, args: &[Bytes]) -> Flow {
        let name = kind.subscribe_word();
        self.shared.stats.record_command(Some(name), None);
        for channel in &args[1..] {
            if self.subscriptions.of(kind).insert(channel.clone()) {
                self.shared
                    .pubsub
                    .subscribe(kind, channel.clone(), self.subscriber());
            }
            self.publish_counts();
            let count = self.subscriptions.count(kind);
            let items = vec![
                bulk_str(name),
                Reply::Bulk(channel.clone()),
                Reply::Integer(count as i64),
            ];
            if !self.push(items).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE [name ...]: without names, from every one of
    /// that kind; one confirmation per name (a nil name when there was none).
    pub(super) async fn unsubscribe(&mut self, kind: Kind, args: &[Bytes]) -> Flow {
        let name = kind.unsubscribe_word();
        self.shared.stats.record_command(Some(name), None);
        let names: Vec<Bytes> = if args.len() > 1 {
            args[1..].to_vec()
        } else {
            self.subscriptions.of(kind).iter().cloned().collect()
        };
        if names.is_empty() {
            let count = self.subscriptions.count(kind);
            let items = vec![bulk_str(name), Reply::Nil, Reply::Integer(count as i64)];
            return if self.push(items).await {
                Flow::Continue
            } else {
                Flow::Close
            };
        }
        for channel in names {
            if self.subscriptions.of(kind).remove(&channel) {
                self.shared
                    .pubsub
                    .unsubscribe(kind, &channel, self.client.id);
            }
            self.publish_counts();
            let count = self.subscriptions.count(kind);
            let items = vec![
                bulk_str(name),
                Reply::Bulk(channel),
                Reply::Integer(count as i64),
            ];
            if !self.push(items).await {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// Leaves every channel and pattern without confirmations (RESET).
    pub(super) fn unsubscribe_all(&mut self) {
        if self.subscriptions.active() {
            self.shared.pubsub.remove_everywhere(self.client.id);
            self.subscriptions = Subscriptions::default();
            self.publish_counts();
        }
    }

    /// Copies the subscription counts to CLIENT LIST.
    fn publish_counts(&self) {
        let counts = [
            self.subscriptions.channels.len(),
            self.subscriptions.patterns.len(),
            self.subscriptions.shard.len(),
        ];
        for (slot, count) in self.client.subscriptions.iter().zip(counts) {
            slot.store(count, Ordering::Relaxed);
        }
    }

    /// PUBLISH / SPUBLISH channel message. Sent after this connection's earlier writes are
    /// applied, as in Redis, where commands run in order: a subscriber that hears "changed"
    /// after a pipelined `SET k v; PUBLISH c changed` reads the new value, and keyspace events
    /// of those writes arrive before the message.
    pub(super) async fn publish(&mut self, shard: bool, args: &[Bytes]) -> Flow {
        let name = if shard { "spublish" } else { "publish" };
        if !self.wait_for_own_writes().await {
            return Flow::Close;
        }
        let receivers = publish(&self.shared, shard, &args[1], &args[2]).await;
        self.reply(Some(name), Reply::Integer(receivers as i64))
            .await
    }

    pub(super) async fn pubsub(&mut self, args: &[Bytes]) -> Flow {
        let reply = pubsub_reply(&self.shared, args);
        self.reply(Some("pubsub"), reply).await
    }
}

/// Publishes applied keyspace events on this node: `__keyspace@0__:<key>` with the event name
/// (flag K) and `__keyevent@0__:<event>` with the key (flag E), in that order, as Redis.
pub(crate) fn publish_key_events(
    hub: &Hub,
    flags: u32,
    events: Vec<crate::command::notify::KeyEvent>,
) {
    use crate::command::notify::{KEYEVENT, KEYSPACE};
    for event in events {
        if flags & KEYSPACE != 0 {
            let mut channel = b"__keyspace@0__:".to_vec();
            channel.extend_from_slice(&event.key);
            let message = Bytes::from_static(event.event.as_bytes());
            hub.publish(false, &Bytes::from(channel), &message);
        }
        if flags & KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@0__:{}", event.event));
            hub.publish(false, &channel, &event.key);
        }
    }
}
