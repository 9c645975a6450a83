//! Pub/sub and keyspace notifications over real sockets: RESP2 subscribed mode and its
//! errors, RESP3 push frames mixed with replies, pattern subscriptions, messages published on
//! one node of a three-node cluster reaching subscribers on the others, keyspace events of a
//! write sent to another node, and a subscriber that never reads being cut off.

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::{Raw, Tandem};

#[test]
fn resp2_subscribed_mode_allows_only_subscription_commands() {
    let server = Tandem::start("ps-resp2", &[]);
    let mut sub = Raw::connect(server.addr);
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "a", "b"]),
        "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
    );
    assert_eq!(sub.reply(), "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    assert_eq!(
        sub.cmd(&["GET", "x"]),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(sub.cmd(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    let mut publisher = Raw::connect(server.addr);
    assert_eq!(publisher.cmd(&["PUBLISH", "a", "hello"]), ":1\r\n");
    assert_eq!(
        sub.reply(),
        "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$5\r\nhello\r\n"
    );
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "a", "zz"]),
        "*4\r\n$1\r\na\r\n:1\r\n$2\r\nzz\r\n:0\r\n"
    );
    assert_eq!(sub.cmd(&["RESET"]), "+RESET\r\n");
    assert_eq!(publisher.cmd(&["PUBLISH", "a", "hello"]), ":0\r\n");
    assert_eq!(
        sub.cmd(&["UNSUBSCRIBE"]),
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    assert_eq!(sub.cmd(&["GET", "x"]), "$-1\r\n");
}

#[test]
fn resp3_pushes_mix_with_replies_and_patterns_match() {
    let server = Tandem::start("ps-resp3", &[]);
    let mut client = Raw::connect(server.addr);
    client.cmd(&["HELLO", "3"]);
    assert_eq!(
        client.cmd(&["PSUBSCRIBE", "news.*"]),
        ">3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n"
    );
    // RESP3 allows any command while subscribed; its own publish is pushed before the reply.
    assert_eq!(client.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(
        client.cmd(&["PUBLISH", "news.tech", "m"]),
        ">4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$1\r\nm\r\n"
    );
    assert_eq!(client.reply(), ":1\r\n");
    assert_eq!(client.cmd(&["PUBLISH", "sport", "m"]), ":0\r\n");
    assert_eq!(client.cmd(&["PUBSUB", "NUMPAT"]), ":1\r\n");
}

fn wait_for_members(cluster: &Cluster) {
    cluster.wait_for_leader(Duration::from_secs(20));
    cluster.wait_for_convergence(Duration::from_secs(30));
}

#[test]
fn a_message_published_on_any_node_reaches_subscribers_on_every_node() {
    let cluster = Cluster::start("ps-cluster", &["a", "b", "c"], &[]);
    wait_for_members(&cluster);
    let leader = cluster.wait_for_leader(Duration::from_secs(20));
    let follower = (leader + 1) % 3;
    let mut on_follower = Raw::connect(cluster.server(follower).addr);
    let mut on_leader = Raw::connect(cluster.server(leader).addr);
    on_follower.cmd(&["SUBSCRIBE", "orders"]);
    on_leader.cmd(&["SUBSCRIBE", "orders"]);
    // Published on the leader: both subscribers get it, and the reply counts both.
    let mut publisher = Raw::connect(cluster.server(leader).addr);
    assert_eq!(publisher.cmd(&["PUBLISH", "orders", "fill-1"]), ":2\r\n");
    let expected = "*3\r\n$7\r\nmessage\r\n$6\r\norders\r\n$6\r\nfill-1\r\n";
    assert_eq!(on_follower.reply(), expected);
    assert_eq!(on_leader.reply(), expected);
    // And the reverse: published on the third node (a follower).
    let third = (leader + 2) % 3;
    let mut publisher = Raw::connect(cluster.server(third).addr);
    assert_eq!(publisher.cmd(&["PUBLISH", "orders", "fill-2"]), ":2\r\n");
    let expected = "*3\r\n$7\r\nmessage\r\n$6\r\norders\r\n$6\r\nfill-2\r\n";
    assert_eq!(on_follower.reply(), expected);
    assert_eq!(on_leader.reply(), expected);

    // Keyspace events come from apply on every node: a write sent to the leader is seen by a
    // subscriber on a follower once it is enabled there.
    let mut config = Raw::connect(cluster.server(follower).addr);
    assert_eq!(
        config.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        "+OK\r\n"
    );
    let mut events = Raw::connect(cluster.server(follower).addr);
    events.cmd(&["PSUBSCRIBE", "__key*__:*"]);
    let mut writer = Raw::connect(cluster.server(leader).addr);
    assert_eq!(writer.cmd(&["LPUSH", "queue", "x"]), ":1\r\n");
    assert_eq!(
        events.reply(),
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$20\r\n__keyspace@0__:queue\r\n$5\r\nlpush\r\n"
    );
    assert_eq!(
        events.reply(),
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$20\r\n__keyevent@0__:lpush\r\n$5\r\nqueue\r\n"
    );
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off() {
    let server = Tandem::start("ps-slow", &[]);
    let mut slow = Raw::connect(server.addr);
    slow.cmd(&["SUBSCRIBE", "firehose"]);
    let mut publisher = Raw::connect(server.addr);
    let payload = "x".repeat(1024 * 1024);
    let started = Instant::now();
    let mut receivers = 1;
    while receivers > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the slow subscriber was never cut off"
        );
        let reply = publisher.cmd(&["PUBLISH", "firehose", &payload]);
        receivers = reply.trim_start_matches(':').trim().parse::<i64>().unwrap();
    }
    // The publisher stays served while the subscriber is gone.
    assert_eq!(
        publisher.cmd(&["PUBSUB", "NUMSUB", "firehose"]),
        "*2\r\n$8\r\nfirehose\r\n:0\r\n"
    );
    assert_eq!(publisher.cmd(&["PING"]), "+PONG\r\n");
}
