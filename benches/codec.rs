//! RESP codec throughput, in memory, no sockets: the CPU cost of framing on each side.
//!
//! - `codec/parse_commands`: the server parsing a pipeline of 100 `SET key:<n> <64 bytes>`
//!   commands (`resp::parse_command`, as a connection does), bytes per second.
//! - `codec/encode_replies`: the server encoding 100 replies (`+OK`, a 64-byte bulk, a 10-element
//!   array) with `resp::write_reply`, RESP2 and RESP3.
//! - `codec/encode_commands`: a client encoding 100 SETs (`resp::write_command`).
//! - `codec/parse_replies`: the client (`tandem bench`) parsing 100 mixed replies
//!   (`client::parse_value`).
//!
//! A regression in parsing or encoding lowers the ceiling of pipelined ops/s of every server
//! (and of the load generator, which would then under-report the server).

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tandem::resp::{self, Limits, Protocol};
use tandem::Reply;

const PIPELINE: usize = 100;
const VALUE_BYTES: usize = 64;

fn set_commands() -> Vec<Vec<Bytes>> {
    (0..PIPELINE)
        .map(|n| {
            vec![
                Bytes::from_static(b"SET"),
                Bytes::from(format!("key:{n}")),
                Bytes::from(vec![b'v'; VALUE_BYTES]),
            ]
        })
        .collect()
}

fn replies() -> Vec<Reply> {
    (0..PIPELINE)
        .map(|n| match n % 3 {
            0 => Reply::Ok,
            1 => Reply::Bulk(Bytes::from(vec![b'v'; VALUE_BYTES])),
            _ => Reply::Array((0..10).map(Reply::Integer).collect()),
        })
        .collect()
}

fn parse_commands(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    for command in set_commands() {
        resp::write_command(&command, &mut wire);
    }
    let wire = wire.freeze();
    let limits = Limits::default();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("parse_commands", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&wire[..]);
            let mut parsed = 0;
            while let Ok(Some(args)) = resp::parse_command(&mut buf, &limits) {
                parsed += args.len();
            }
            assert_eq!(parsed, PIPELINE * 3);
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let replies = replies();
    let commands = set_commands();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    for (name, protocol) in [("resp2", Protocol::Resp2), ("resp3", Protocol::Resp3)] {
        group.bench_with_input(
            BenchmarkId::new("encode_replies", name),
            &protocol,
            |b, p| {
                let mut out = BytesMut::with_capacity(16 * 1024);
                b.iter(|| {
                    out.clear();
                    for reply in &replies {
                        resp::write_reply(reply, *p, &mut out);
                    }
                    out.len()
                })
            },
        );
    }
    group.bench_function("encode_commands", |b| {
        let mut out = BytesMut::with_capacity(16 * 1024);
        b.iter(|| {
            out.clear();
            for command in &commands {
                resp::write_command(command, &mut out);
            }
            out.len()
        })
    });
    group.finish();
}

fn parse_replies(c: &mut Criterion) {
    let mut wire = BytesMut::new();
    for reply in replies() {
        resp::write_reply(&reply, Protocol::Resp3, &mut wire);
    }
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("parse_replies", |b| {
        b.iter(|| {
            let mut at = 0;
            let mut count = 0;
            while let Ok(Some((_value, used))) = tandem::client::parse_value(&wire[at..]) {
                at += used;
                count += 1;
            }
            assert_eq!(count, PIPELINE);
        })
    });
    group.finish();
}

criterion_group!(benches, parse_commands, encode, parse_replies);
criterion_main!(benches);
