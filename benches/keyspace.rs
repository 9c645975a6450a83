//! Keyspace apply and read, in memory, no log: the CPU cost of the state machine itself.
//!
//! - `keyspace/apply_set`: SET on a keyspace of 100k keys (overwrites), one apply per iteration.
//! - `keyspace/apply_incrby`: INCRBY on a counter.
//! - `keyspace/apply_zadd`: ZADD into a 10k-member order book.
//! - `keyspace/get`: GET of an existing key.
//! - `keyspace/clone`: the O(1) point-in-time clone a snapshot starts from.
//!
//! A regression in apply lowers the ceiling of writes/s for every deployment; a regression in
//! `clone` (growing with the key count) means snapshots started stalling writes.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use tandem::command::Cx;
use tandem::keyspace::Keyspace;
use tandem::Command;

fn cmd(args: &[&str]) -> Command {
    let args: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    Command::parse(&args).expect("valid command")
}

fn keyspace_with(keys: usize) -> Keyspace {
    let mut ks = Keyspace::new();
    for i in 0..keys {
        cmd(&["SET", &format!("key:{i}"), "some-value-bytes"]).apply(&mut ks, &mut Cx::new(1, 0));
    }
    ks
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyspace");
    let mut ks = keyspace_with(100_000);
    let sets: Vec<Command> = (0..100_000)
        .map(|i| cmd(&["SET", &format!("key:{i}"), "another-value"]))
        .collect();
    let gets: Vec<Command> = (0..100_000)
        .map(|i| cmd(&["GET", &format!("key:{i}")]))
        .collect();
    let mut i = 0usize;
    group.bench_function("apply_set", |b| {
        b.iter(|| {
            i = (i + 1) % sets.len();
            sets[i].apply(&mut ks, &mut Cx::new(2, 0))
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 1) % gets.len();
            gets[i].read(&ks, &mut Cx::new(2, 0))
        })
    });
    let incr = cmd(&["INCRBY", "counter", "3"]);
    group.bench_function("apply_incrby", |b| {
        b.iter(|| incr.apply(&mut ks, &mut Cx::new(2, 0)))
    });
    let zadds: Vec<Command> = (0..10_000)
        .map(|i| {
            cmd(&[
                "ZADD",
                "book",
                &format!("{}", 100.0 + (i % 977) as f64 / 8.0),
                &format!("order:{i}"),
            ])
        })
        .collect();
    group.bench_function("apply_zadd", |b| {
        b.iter(|| {
            i = (i + 1) % zadds.len();
            zadds[i].apply(&mut ks, &mut Cx::new(2, 0))
        })
    });
    group.bench_function("clone", |b| b.iter(|| ks.clone()));
    group.finish();
}

criterion_group!(keyspace, benches);
criterion_main!(keyspace);
