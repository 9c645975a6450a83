//! `Workload`: turns the chosen workload into operations. One operation is one or more commands
//! sent together and judged together: a transfer is MULTI, DECRBY, INCRBY, EXEC; with
//! `--wait-replicas` a write is followed by `WAIT N 0`. Invariant: an operation succeeds only if
//! none of its replies (nor any reply inside its EXEC) is an error.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::args::WorkloadName;
use super::distribution::{KeyChooser, SplitMix64};
use crate::client::Value;

/// Members per order book in the `zadd` workload: updates mostly move existing orders.
pub const ORDERS_PER_BOOK: u64 = 1_000;
/// Fields per hash in the `hset` workload.
pub const FIELDS_PER_HASH: u64 = 16;
/// Members per set in the `sadd` workload: adds mostly find the member already there once warm.
pub const MEMBERS_PER_SET: u64 = 1_000;
/// Largest amount one transfer moves.
pub const TRANSFER_AMOUNT_MAX: u64 = 100;
/// The consumer group the `xreadgroup` workload reads through (created on every stream before
/// the run).
pub const CONSUMER_GROUP: &str = "tandem-bench";

/// What to send: a named workload or a command template.
#[derive(Clone, Debug)]
pub enum Workload {
    Named(WorkloadName),
    /// Arguments of `--command`, with `__key__` / `__value__` placeholders.
    Template(Vec<String>),
}

impl Workload {
    /// Splits a `--command` on whitespace.
    pub fn template(command: &str) -> Result<Self, String> {
        let args: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        if args.is_empty() {
            return Err("--command is empty".into());
        }
        Ok(Workload::Template(args))
    }

    pub fn label(&self) -> String {
        match self {
            Workload::Named(name) => name.to_string(),
            Workload::Template(args) => args.join(" "),
        }
    }
}

/// One operation: its commands, and where the replies that judge it are.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub commands: Vec<Vec<Bytes>>,
    /// Index of the EXEC whose reply must be an array without errors.
    pub exec_at: Option<usize>,
    /// `WAIT` must report at least this many replicas.
    pub replicas_min: Option<u64>,
}

impl Op {
    /// Judges the replies (one per command, in order): `Err(kind)` with the error's code.
    pub fn outcome(&self, replies: &[Value]) -> Result<(), String> {
        for (index, reply) in replies.iter().enumerate() {
            if let Some(kind) = reply.error_kind() {
                return Err(kind.to_string());
            }
            if Some(index) == self.exec_at {
                match reply {
                    Value::Array(items) => {
                        if let Some(kind) = items.iter().find_map(Value::error_kind) {
                            return Err(kind.to_string());
                        }
                    }
                    _ => return Err("EXECABORT".into()),
                }
            }
        }
        if let (Some(min), Some(Value::Integer(replicas))) = (self.replicas_min, replies.last()) {
            if (*replicas as u64) < min {
                return Err("WAIT".into());
            }
        }
        Ok(())
    }
}

/// Generates the operations of one client.
pub struct OpGenerator {
    workload: Workload,
    keys: KeyChooser,
    rng: SplitMix64,
    value: Bytes,
    wait_replicas: Option<u64>,
    /// `--sessions`: the session every write is tagged with, the last request number used,
    /// and how many requests may be unanswered (replies before `seq - window` are in).
    session: Option<(u64, u64, u64)>,
    /// `xreadgroup`: this client's consumer name, and the entries it was delivered and has not
    /// acknowledged yet (stream key, entry id), acknowledged by its next operation.
    consumer: Bytes,
    unacked: Vec<(Bytes, Bytes)>,
}

impl OpGenerator {
    /// Tags every write with `session` (None: untagged). At most `window` operations of this
    /// client are unanswered at once, so every reply below `seq - window` has arrived: that is
    /// the acknowledged number each request carries.
    pub fn in_session(mut self, session: Option<u64>, window: u64) -> Self {
        self.session = session.map(|id| (id, 0, window));
        self
    }

    pub fn new(
        workload: Workload,
        keys: KeyChooser,
        seed: u64,
        value_bytes: usize,
        wait_replicas: Option<u64>,
    ) -> Self {
        let mut rng = SplitMix64::new(seed);
        // Printable, varied bytes: compressible by nobody, readable in redis-cli.
        let value: Vec<u8> = (0..value_bytes)
            .map(|_| b'a' + rng.below(26) as u8)
            .collect();
        Self {
            workload,
            keys,
            rng,
            value: Bytes::from(value),
            wait_replicas,
            session: None,
            consumer: Bytes::from(format!("consumer:{seed:x}")),
            unacked: Vec::new(),
        }
    }

    /// Learns from a finished operation's replies what later operations depend on: the
    /// entries an XREADGROUP delivered, which the next `xreadgroup` operation acknowledges.
    pub fn learn(&mut self, op: &Op, replies: &[Value]) {
        if !matches!(self.workload, Workload::Named(WorkloadName::Xreadgroup)) {
            return;
        }
        for (command, reply) in op.commands.iter().zip(replies) {
            if command
                .first()
                .is_some_and(|name| name.eq_ignore_ascii_case(b"XREADGROUP"))
            {
                delivered_entries(reply, &mut self.unacked);
            }
        }
    }

    /// One XACK per stream for everything delivered and not yet acknowledged.
    fn take_acks(&mut self) -> Vec<Vec<Bytes>> {
        let mut by_stream: BTreeMap<Bytes, Vec<Bytes>> = BTreeMap::new();
        for (key, id) in self.unacked.drain(..) {
            by_stream.entry(key).or_default().push(id);
        }
        by_stream
            .into_iter()
            .map(|(key, ids)| {
                let mut command = vec![
                    Bytes::from_static(b"XACK"),
                    key,
                    Bytes::from_static(CONSUMER_GROUP.as_bytes()),
                ];
                command.extend(ids);
                command
            })
            .collect()
    }

    pub fn next_op(&mut self) -> Op {
        let (commands, exec_at, writes) = match &self.workload {
            Workload::Named(name) => self.named(*name),
            Workload::Template(args) => {
                let key = Bytes::from(format!("key:{}", self.keys.next(&mut self.rng)));
                let command = args
                    .iter()
                    .map(|arg| match arg.as_str() {
                        "__key__" => key.clone(),
                        "__value__" => self.value.clone(),
                        other => Bytes::copy_from_slice(other.as_bytes()),
                    })
                    .collect();
                (vec![command], None, true)
            }
        };
        let commands = match (&mut self.session, writes) {
            (Some((id, seq, window)), true) => {
                *seq += 1;
                let tag = |n: u64| Bytes::from(n.to_string());
                let acked = seq.saturating_sub(*window);
                // A transaction is tagged at its EXEC (`TANDEM REQ s n a EXEC`), which ends
                // the MULTI block; a plain write is tagged itself.
                commands
                    .into_iter()
                    .enumerate()
                    .map(|(index, command)| {
                        if exec_at.is_some_and(|exec| exec != index) {
                            return command;
                        }
                        let mut tagged = vec![
                            Bytes::from_static(b"TANDEM"),
                            Bytes::from_static(b"REQ"),
                            tag(*id),
                            tag(*seq),
                            tag(acked),
                        ];
                        tagged.extend(command);
                        tagged
                    })
                    .collect()
            }
            _ => commands,
        };
        let mut op = Op {
            commands,
            exec_at,
            replicas_min: None,
        };
        if let (Some(replicas), true) = (self.wait_replicas, writes) {
            op.commands.push(vec![
                Bytes::from_static(b"WAIT"),
                Bytes::from(replicas.to_string()),
                Bytes::from_static(b"0"),
            ]);
            op.replicas_min = Some(replicas);
        }
        op
    }

    /// Commands, EXEC position, and whether the operation writes.
    fn named(&mut self, name: WorkloadName) -> (Vec<Vec<Bytes>>, Option<usize>, bool) {
        let arg = Bytes::from_static;
        match name {
            WorkloadName::Set => (
                vec![vec![arg(b"SET"), self.key("key"), self.value.clone()]],
                None,
                true,
            ),
            WorkloadName::Get => (vec![vec![arg(b"GET"), self.key("key")]], None, false),
            WorkloadName::Incr => (vec![vec![arg(b"INCR"), self.key("counter")]], None, true),
            WorkloadName::Mixed { reads, writes } => {
                let total = u64::from(reads) + u64::from(writes);
                if self.rng.below(total) < u64::from(reads) {
                    self.named(WorkloadName::Get)
                } else {
                    self.named(WorkloadName::Set)
                }
            }
            WorkloadName::Hset => {
                let field = Bytes::from(format!("field:{}", self.rng.below(FIELDS_PER_HASH)));
                (
                    vec![vec![
                        arg(b"HSET"),
                        self.key("hash"),
                        field,
                        self.value.clone(),
                    ]],
                    None,
                    true,
                )
            }
            WorkloadName::Zadd => {
                // An order book: the price of order `o` in book `k` moves around 100.00.
                let price = format!("{:.2}", 99.0 + self.rng.below(200) as f64 / 100.0);
                let order = Bytes::from(format!("order:{}", self.rng.below(ORDERS_PER_BOOK)));
                (
                    vec![vec![
                        arg(b"ZADD"),
                        self.key("book"),
                        Bytes::from(price),
                        order,
                    ]],
                    None,
                    true,
                )
            }
            WorkloadName::Lpush => (
                vec![vec![arg(b"LPUSH"), self.key("queue"), self.value.clone()]],
                None,
                true,
            ),
            // Run `lpush` first so the queues hold elements: Redis writes nothing to its AOF for
            // a pop that finds an empty queue, so such pops would compare nothing durable.
            WorkloadName::Rpop => (vec![vec![arg(b"RPOP"), self.key("queue")]], None, true),
            WorkloadName::Sadd => {
                let member = Bytes::from(format!("member:{}", self.rng.below(MEMBERS_PER_SET)));
                (
                    vec![vec![arg(b"SADD"), self.key("set"), member]],
                    None,
                    true,
                )
            }
            WorkloadName::Xadd => (
                vec![vec![
                    arg(b"XADD"),
                    self.key("stream"),
                    arg(b"*"),
                    arg(b"payload"),
                    self.value.clone(),
                ]],
                None,
                true,
            ),
            WorkloadName::Xreadgroup => {
                let key = self.key("stream");
                let mut commands = self.take_acks();
                commands.push(vec![
                    arg(b"XREADGROUP"),
                    arg(b"GROUP"),
                    arg(CONSUMER_GROUP.as_bytes()),
                    self.consumer.clone(),
                    arg(b"COUNT"),
                    arg(b"1"),
                    arg(b"STREAMS"),
                    key,
                    arg(b">"),
                ]);
                (commands, None, true)
            }
            WorkloadName::Publish => (
                vec![vec![
                    arg(b"PUBLISH"),
                    self.key("channel"),
                    self.value.clone(),
                ]],
                None,
                false,
            ),
            WorkloadName::Transfer => {
                let from = self.keys.next(&mut self.rng);
                let mut to = self.keys.next(&mut self.rng);
                if to == from {
                    to = (from + 1) % self.keys.keys().max(2);
                }
                let amount = Bytes::from((1 + self.rng.below(TRANSFER_AMOUNT_MAX)).to_string());
                let commands = vec![
                    vec![arg(b"MULTI")],
                    vec![
                        arg(b"DECRBY"),
                        Bytes::from(format!("balance:{from}")),
                        amount.clone(),
                    ],
                    vec![arg(b"INCRBY"), Bytes::from(format!("balance:{to}")), amount],
                    vec![arg(b"EXEC")],
                ];
                (commands, Some(3), true)
            }
        }
    }

    fn key(&mut self, prefix: &str) -> Bytes {
        Bytes::from(format!("{prefix}:{}", self.keys.next(&mut self.rng)))
    }
}

/// Appends the (stream key, entry id) of every entry in an XREADGROUP reply: RESP2 answers an
/// array of [key, entries] pairs, RESP3 a map from key to entries; nil when nothing was new.
fn delivered_entries(reply: &Value, into: &mut Vec<(Bytes, Bytes)>) {
    let streams: Vec<(&Value, &Value)> = match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => Some((&pair[0], &pair[1])),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs.iter().map(|(key, entries)| (key, entries)).collect(),
        _ => return,
    };
    for (key, entries) in streams {
        let (Value::Bulk(key), Value::Array(entries)) = (key, entries) else {
            continue;
        };
        for entry in entries {
            if let Value::Array(parts) = entry {
                if let Some(Value::Bulk(id)) = parts.first() {
                    into.push((key.clone(), id.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::args::Distribution;

    fn generator(workload: Workload, wait: Option<u64>) -> OpGenerator {
        OpGenerator::new(
            workload,
            KeyChooser::new(Distribution::Uniform, 10, 0.0),
            3,
            8,
            wait,
        )
    }

    fn text(op: &Op) -> Vec<String> {
        op.commands
            .iter()
            .map(|c| {
                c.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn template_substitutes_placeholders() {
        let mut ops = generator(
            Workload::template("SET __key__ __value__ EX 10").unwrap(),
            None,
        );
        let op = ops.next_op();
        let args = &op.commands[0];
        assert_eq!(args.len(), 5);
        assert_eq!(&args[0][..], b"SET");
        assert!(args[1].starts_with(b"key:"));
        assert_eq!(args[2].len(), 8);
        assert_eq!(&args[3][..], b"EX");
        assert!(Workload::template("  ").is_err());
    }

    #[test]
    fn transfer_moves_between_two_keys_in_multi() {
        let mut ops = generator(Workload::Named(WorkloadName::Transfer), None);
        for _ in 0..100 {
            let op = ops.next_op();
            let lines = text(&op);
            assert_eq!(lines[0], "MULTI");
            assert_eq!(lines[3], "EXEC");
            let from: Vec<&str> = lines[1].split(' ').collect();
            let to: Vec<&str> = lines[2].split(' ').collect();
            assert_eq!((from[0], to[0]), ("DECRBY", "INCRBY"));
            assert_ne!(from[1], to[1], "two different balances");
            assert_eq!(from[2], to[2], "the same amount");
            assert_eq!(op.exec_at, Some(3));
        }
    }

    #[test]
    fn wait_follows_writes_only() {
        let mut ops = generator(
            Workload::Named(WorkloadName::Mixed {
                reads: 1,
                writes: 1,
            }),
            Some(1),
        );
        let (mut reads, mut writes) = (0, 0);
        for _ in 0..100 {
            let lines = text(&ops.next_op());
            if lines[0].starts_with("GET") {
                assert_eq!(lines.len(), 1);
                reads += 1;
            } else {
                assert_eq!(lines, [lines[0].clone(), "WAIT 1 0".to_string()]);
                writes += 1;
            }
        }
        assert!(reads > 0 && writes > 0);
    }

    #[test]
    fn xreadgroup_acknowledges_what_the_previous_read_delivered() {
        let mut ops = generator(Workload::Named(WorkloadName::Xreadgroup), None);
        let first = ops.next_op();
        let lines = text(&first);
        assert_eq!(lines.len(), 1, "nothing to acknowledge yet: {lines:?}");
        assert!(lines[0]
            .starts_with("XREADGROUP GROUP tandem-bench consumer:3 COUNT 1 STREAMS stream:"));
        assert!(lines[0].ends_with(" >"));
        let bulk = |text: &str| Value::Bulk(Bytes::copy_from_slice(text.as_bytes()));
        let entry =
            |id: &str| Value::Array(vec![bulk(id), Value::Array(vec![bulk("f"), bulk("v")])]);
        // RESP2 shape: [[key, [entry, ...]]].
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("stream:1"),
            Value::Array(vec![entry("1-1"), entry("1-2")]),
        ])]);
        ops.learn(&first, &[resp2]);
        // RESP3 shape: {key: [entry, ...]}; and an empty read (nil) adds nothing.
        let second = ops.next_op();
        assert_eq!(text(&second)[0], "XACK stream:1 tandem-bench 1-1 1-2");
        assert!(text(&second)[1].starts_with("XREADGROUP"));
        let resp3 = Value::Map(vec![(bulk("stream:0"), Value::Array(vec![entry("2-0")]))]);
        ops.learn(&second, &[Value::Integer(2), resp3]);
        let third = ops.next_op();
        assert_eq!(text(&third)[0], "XACK stream:0 tandem-bench 2-0");
        ops.learn(&third, &[Value::Integer(1), Value::Nil]);
        assert_eq!(text(&ops.next_op()).len(), 1, "everything was acknowledged");
    }

    #[test]
    fn outcome_counts_every_error_as_an_error() {
        let set = generator(Workload::Named(WorkloadName::Set), Some(1)).next_op();
        assert_eq!(
            set.outcome(&[Value::Simple("OK".into()), Value::Integer(1)]),
            Ok(())
        );
        assert_eq!(
            set.outcome(&[Value::Error("ERR x".into()), Value::Integer(1)]),
            Err("ERR".into())
        );
        assert_eq!(
            set.outcome(&[Value::Simple("OK".into()), Value::Integer(0)]),
            Err("WAIT".into())
        );
        let transfer = generator(Workload::Named(WorkloadName::Transfer), None).next_op();
        let queued = Value::Simple("QUEUED".into());
        let ok = [
            queued.clone(),
            queued.clone(),
            queued.clone(),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)]),
        ];
        assert_eq!(transfer.outcome(&ok), Ok(()));
        let inner_error = [
            queued.clone(),
            queued.clone(),
            queued.clone(),
            Value::Array(vec![Value::Error("WRONGTYPE no".into()), Value::Integer(2)]),
        ];
        assert_eq!(transfer.outcome(&inner_error), Err("WRONGTYPE".into()));
        let aborted = [queued.clone(), queued.clone(), queued, Value::Nil];
        assert_eq!(transfer.outcome(&aborted), Err("EXECABORT".into()));
    }
}
