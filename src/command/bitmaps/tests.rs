use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::command::tests::{err, exec, WRONGTYPE};
use crate::command::{Command, Cx, Reply};
use crate::keyspace::Keyspace;

/// `exec` for arguments that are not UTF-8.
fn run(ks: &mut Keyspace, now_ms: u64, words: &[&[u8]]) -> Reply {
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
    match Command::parse(&args) {
        Ok(cmd) => cmd.apply(ks, &mut Cx::new(now_ms, 0)),
        Err(error) => error.to_reply(),
    }
}

fn raw(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&n| Reply::Integer(n)).collect())
}

#[test]
fn setbit_creates_grows_and_answers_the_old_bit() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "k", "1", "1"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), raw(&[0b0100_0000]));
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "k", "1", "1"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "k", "1", "0"]), int(1));
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "k", "17", "1"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), raw(&[0, 0, 0b0100_0000]));
    // Clearing a bit of a missing key still creates it.
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "z", "9", "0"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["GET", "z"]), raw(&[0, 0]));
    // "1" is 0x31 = 00110001.
    exec(&mut ks, 0, &["SET", "n", "1"]);
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "n", "6", "1"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["GET", "n"]), raw(b"3"));
}

#[test]
fn setbit_keeps_ttl_and_versions_only_real_changes() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "k", "@", "PX", "800"]);
    let version = ks.version(b"k", 0);
    exec(&mut ks, 0, &["SETBIT", "k", "1", "1"]);
    assert_eq!(ks.version(b"k", 0), version, "bit already set: no change");
    exec(&mut ks, 0, &["SETBIT", "k", "2", "1"]);
    let changed = ks.version(b"k", 0);
    assert!(changed.0 > version.0);
    exec(&mut ks, 0, &["SETBIT", "k", "15", "0"]);
    assert!(ks.version(b"k", 0).0 > changed.0, "growing is a change");
    assert_eq!(exec(&mut ks, 0, &["GET", "k"]), raw(&[0b0110_0000, 0]));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "k"]), int(800));
}

#[test]
fn bit_offsets_and_values_at_the_limits() {
    let mut ks = Keyspace::new();
    let offset_error = err("ERR bit offset is not an integer or out of range");
    for offset in ["4294967296", "-1", "x", "#1", "9223372036854775807"] {
        assert_eq!(
            exec(&mut ks, 0, &["SETBIT", "k", offset, "1"]),
            offset_error,
            "{offset}"
        );
        assert_eq!(exec(&mut ks, 0, &["GETBIT", "k", offset]), offset_error);
    }
    // The last addressable bit parses (applying it would allocate 512 MiB).
    let args: Vec<Bytes> = ["SETBIT", "k", "4294967295", "1"]
        .iter()
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    assert!(Command::parse(&args).is_ok());
    assert_eq!(exec(&mut ks, 0, &["GETBIT", "k", "4294967295"]), int(0));
    let value_error = err("ERR bit is not an integer or out of range");
    for value in ["-1", "2", "10", "x", "01"] {
        assert_eq!(exec(&mut ks, 0, &["SETBIT", "k", "0", value]), value_error);
    }
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "k"]), int(0));
}

#[test]
fn getbit_reads_past_the_end_as_zero() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["GETBIT", "k", "0"]), int(0));
    exec(&mut ks, 0, &["SET", "k", "`"]);
    let bits: Vec<Reply> = [0, 1, 2, 3, 8, 100, 10000]
        .iter()
        .map(|offset| exec(&mut ks, 0, &["GETBIT", "k", &offset.to_string()]))
        .collect();
    assert_eq!(Reply::Array(bits), ints(&[0, 1, 1, 0, 0, 0, 0]));
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["GETBIT", "h", "0"]), err(WRONGTYPE));
    assert_eq!(exec(&mut ks, 0, &["SETBIT", "h", "0", "1"]), err(WRONGTYPE));
}

/// Bits `first..=last` of `bytes` set, counted one by one (the model).
fn count_slowly(bytes: &[u8], first: i64, last: i64) -> i64 {
    (first..=last)
        .filter(|&bit| bytes[(bit / 8) as usize] >> (7 - bit % 8) & 1 == 1)
        .count() as i64
}

#[test]
fn bitcount_by_bytes_and_bits() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "s", "foobar"]);
    let s = b"foobar";
    let count = |ks: &mut Keyspace, words: &[&str]| {
        let mut all = vec!["BITCOUNT", "s"];
        all.extend_from_slice(words);
        exec(ks, 0, &all)
    };
    assert_eq!(count(&mut ks, &[]), int(26));
    assert_eq!(count(&mut ks, &["1", "-2"]), int(count_slowly(s, 8, 39)));
    assert_eq!(count(&mut ks, &["-2", "1"]), int(0));
    assert_eq!(count(&mut ks, &["0", "1000"]), int(26));
    assert_eq!(
        count(&mut ks, &["-6", "-7"]),
        int(0),
        "negative and reversed"
    );
    assert_eq!(count(&mut ks, &["4", "10"]), int(count_slowly(s, 32, 47)));
    assert_eq!(count(&mut ks, &["0", "-1", "BIT"]), int(26));
    assert_eq!(
        count(&mut ks, &["10", "14", "bit"]),
        int(count_slowly(s, 10, 14))
    );
    assert_eq!(
        count(&mut ks, &["3", "-19", "bit"]),
        int(count_slowly(s, 3, 29))
    );
    assert_eq!(
        count(&mut ks, &["5", "5", "bit"]),
        int(count_slowly(s, 5, 5))
    );
    assert_eq!(
        count(&mut ks, &["1", "1", "byte"]),
        int(count_slowly(s, 8, 15))
    );
    assert_eq!(count(&mut ks, &["48", "100", "bit"]), int(0));
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let len = rng.gen_range(1..40usize);
        let bytes: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        run(&mut ks, 0, &[b"SET", b"r", &bytes]);
        let bits = len as i64 * 8;
        let (a, b) = (rng.gen_range(0..bits), rng.gen_range(0..bits));
        let (first, last) = (a.min(b), a.max(b));
        let reply = exec(
            &mut ks,
            0,
            &[
                "BITCOUNT",
                "r",
                &first.to_string(),
                &last.to_string(),
                "BIT",
            ],
        );
        assert_eq!(
            reply,
            int(count_slowly(&bytes, first, last)),
            "{bytes:?} {first} {last}"
        );
    }
}

#[test]
fn bitcount_errors_come_after_the_lookup() {
    let mut ks = Keyspace::new();
    let syntax = err("ERR syntax error");
    // A missing key counts 0 whatever the arguments.
    assert_eq!(exec(&mut ks, 0, &["BITCOUNT", "nope", "0"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "nope", "0", "1", "bit"]),
        int(0)
    );
    exec(&mut ks, 0, &["SET", "s", "foobar"]);
    assert_eq!(exec(&mut ks, 0, &["BITCOUNT", "s", "0"]), syntax);
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "s", "0", "1", "hello"]),
        syntax
    );
    // An empty negative range answers 0 before the unit is checked.
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "s", "-2", "-3", "hello"]),
        int(0)
    );
    exec(&mut ks, 0, &["SET", "empty", ""]);
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "empty", "1", "2", "hello"]),
        syntax
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "s", "0", "1", "bit", "x"]),
        syntax
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITCOUNT", "s", "a", "1"]),
        err("ERR value is not an integer or out of range")
    );
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["BITCOUNT", "h", "0"]), err(WRONGTYPE));
}

#[test]
fn bitpos_finds_set_and_clear_bits() {
    let mut ks = Keyspace::new();
    let pos = |ks: &mut Keyspace, bytes: &[u8], words: &[&str]| {
        run(ks, 0, &[b"SET", b"s", bytes]);
        let mut all: Vec<&[u8]> = vec![b"BITPOS", b"s"];
        all.extend(words.iter().map(|w| w.as_bytes()));
        run(ks, 0, &all)
    };
    assert_eq!(pos(&mut ks, b"\xff\xf0\x00", &["0"]), int(12));
    assert_eq!(pos(&mut ks, b"\x00\x0f\x00", &["1"]), int(12));
    assert_eq!(
        pos(&mut ks, b"\xff\xf0\x00", &["0", "1", "-1", "bit"]),
        int(12)
    );
    assert_eq!(pos(&mut ks, b"\x00\xff\x00", &["0", "1", "-1"]), int(16));
    assert_eq!(pos(&mut ks, b"\x00\xff\x00", &["0", "1", "1"]), int(-1));
    assert_eq!(pos(&mut ks, b"\x00\xff\x00", &["1", "2", "-1"]), int(-1));
    assert_eq!(
        pos(&mut ks, b"\x00\xff\x00", &["1", "8", "8", "bit"]),
        int(8)
    );
    assert_eq!(
        pos(&mut ks, b"\x00\xff\x00", &["0", "8", "8", "bit"]),
        int(-1)
    );
    // A clear bit past the end counts only when no end was given.
    assert_eq!(pos(&mut ks, b"\xff\xff\xff", &["0"]), int(24));
    assert_eq!(pos(&mut ks, b"\xff\xff\xff", &["0", "0"]), int(24));
    assert_eq!(pos(&mut ks, b"\xff\xff\xff", &["0", "0", "-1"]), int(-1));
    assert_eq!(
        pos(&mut ks, b"\xff\xff\xff", &["0", "0", "-1", "bit"]),
        int(-1)
    );
    // Both ends negative and reversed still clamp (unlike BITCOUNT).
    assert_eq!(pos(&mut ks, b"\x80\x00\x00", &["1", "-5", "-10"]), int(0));
    assert_eq!(pos(&mut ks, b"", &["1"]), int(-1));
    assert_eq!(pos(&mut ks, b"", &["0"]), int(-1));
    let mut long = vec![0xffu8; 27];
    long.push(0x0f);
    for start in 0..9 {
        assert_eq!(pos(&mut ks, &long, &["0", &start.to_string()]), int(216));
    }
    assert_eq!(pos(&mut ks, &long, &["0", "65", "-1", "bit"]), int(216));
}

#[test]
fn bitpos_on_missing_keys_and_errors() {
    let mut ks = Keyspace::new();
    assert_eq!(exec(&mut ks, 0, &["BITPOS", "nope", "0"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "nope", "1", "x", "y", "z"]),
        int(-1)
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "nope", "2"]),
        err("ERR The bit argument must be 1 or 0.")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "nope", "x"]),
        err("ERR value is not an integer or out of range")
    );
    exec(&mut ks, 0, &["SET", "s", "ab"]);
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "s", "1", "0", "1", "bit", "x"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "s", "1", "0", "1", "nibble"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITPOS", "s", "1", "0", "x"]),
        err("ERR value is not an integer or out of range")
    );
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["BITPOS", "h", "1", "x"]), err(WRONGTYPE));
}

/// BITPOS against a model, over random strings and ranges in both units.
#[test]
fn bitpos_matches_a_model() {
    let mut ks = Keyspace::new();
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..500 {
        let len = rng.gen_range(1..12usize);
        let fill = if rng.gen() { 0x00 } else { 0xff };
        let mut bytes = vec![fill; len];
        if rng.gen() {
            bytes[rng.gen_range(0..len)] ^= 1 << rng.gen_range(0..8);
        }
        run(&mut ks, 0, &[b"SET", b"s", &bytes]);
        let bits = len as i64 * 8;
        let target = rng.gen_range(0..2u8);
        let unit_bits = rng.gen::<bool>();
        let total = if unit_bits { bits } else { len as i64 };
        let (a, b) = (rng.gen_range(0..total), rng.gen_range(0..total));
        let (start, end) = (a.min(b), a.max(b));
        let (first, last) = if unit_bits {
            (start, end)
        } else {
            (start * 8, end * 8 + 7)
        };
        let expected = (first..=last)
            .find(|&bit| (bytes[(bit / 8) as usize] >> (7 - bit % 8) & 1) == target)
            .unwrap_or(-1);
        let unit = if unit_bits { "BIT" } else { "BYTE" };
        let reply = exec(
            &mut ks,
            0,
            &[
                "BITPOS",
                "s",
                &target.to_string(),
                &start.to_string(),
                &end.to_string(),
                unit,
            ],
        );
        assert_eq!(
            reply,
            int(expected),
            "{bytes:?} {target} {start} {end} {unit}"
        );
    }
}

#[test]
fn bitop_combines_pads_and_replaces() {
    let mut ks = Keyspace::new();
    run(&mut ks, 0, &[b"SET", b"a", b"\x01\x02\xff\xff"]);
    run(&mut ks, 0, &[b"SET", b"b", b"\x01\x02\xff"]);
    assert_eq!(exec(&mut ks, 0, &["BITOP", "AND", "r", "a", "b"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["GET", "r"]), raw(b"\x01\x02\xff\x00"));
    assert_eq!(exec(&mut ks, 0, &["BITOP", "or", "r", "a", "b"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["GET", "r"]), raw(b"\x01\x02\xff\xff"));
    assert_eq!(exec(&mut ks, 0, &["BITOP", "Xor", "r", "a", "b"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["GET", "r"]), raw(b"\x00\x00\x00\xff"));
    // A missing source is an empty string: AND with it gives zeros.
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "AND", "r", "nope", "b"]),
        int(3)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "r"]), raw(b"\x00\x00\x00"));
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "OR", "r", "nope", "b", "nope2"]),
        int(3)
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "r"]), raw(b"\x01\x02\xff"));
    run(&mut ks, 0, &[b"SET", b"n", b"\xaa\x00\xff\x55"]);
    assert_eq!(exec(&mut ks, 0, &["BITOP", "NOT", "n", "n"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["GET", "n"]), raw(b"\x55\xff\x00\xaa"));
    // The destination is replaced whatever its type, and loses its TTL.
    exec(&mut ks, 0, &["HSET", "d", "f", "v"]);
    exec(&mut ks, 0, &["PEXPIRE", "d", "500"]);
    assert_eq!(exec(&mut ks, 0, &["BITOP", "OR", "d", "a"]), int(4));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "d"]), int(-1));
    assert_eq!(exec(&mut ks, 0, &["GET", "d"]), raw(b"\x01\x02\xff\xff"));
}

#[test]
fn bitop_empty_result_deletes_the_destination() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "empty", ""]);
    exec(&mut ks, 0, &["HSET", "d", "f", "v"]);
    assert_eq!(exec(&mut ks, 0, &["BITOP", "NOT", "d", "empty"]), int(0));
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "d"]), int(0));
    exec(&mut ks, 0, &["SET", "d", "x"]);
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "AND", "d", "nope", "empty"]),
        int(0)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "d"]), int(0));
}

#[test]
fn bitop_errors() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "a", "1"]);
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "NOT", "d", "a", "a"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "NAND", "d", "a"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "XOR", "d", "a", "h", "nope"]),
        err(WRONGTYPE)
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "d"]), int(0));
    assert_eq!(
        exec(&mut ks, 0, &["BITOP", "AND", "d"]),
        err("ERR wrong number of arguments for 'bitop' command")
    );
}

#[test]
fn bitfield_get_set_and_incrby() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "SET", "i8", "0", "-100"]),
        ints(&[0])
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "SET", "i8", "0", "101"]),
        ints(&[-100])
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "GET", "i8", "0"]),
        ints(&[101])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "set", "u8", "0", "255", "get", "i8", "0", "get", "u4", "4"]
        ),
        ints(&[101, -1, 15])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "INCRBY", "u8", "0", "100", "INCRBY", "u8", "0", "100"]
        ),
        ints(&[99, 199])
    );
    // #n is the n-th field of the type's width.
    exec(&mut ks, 0, &["DEL", "b"]);
    for (index, letter) in ["65", "66", "67"].iter().enumerate() {
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "SET", "u8", &format!("#{index}"), letter],
        );
    }
    assert_eq!(exec(&mut ks, 0, &["GET", "b"]), raw(b"ABC"));
    // Reads past the end are zero; fields may straddle bytes.
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "GET", "u12", "4", "GET", "i64", "20", "GET", "u1", "1000"]
        ),
        ints(&[0x142, 0x3000_0000_0000_0000, 0])
    );
    assert_eq!(exec(&mut ks, 0, &["BITFIELD", "b"]), ints(&[]));
    // A signed 64-bit field holds the whole i64 range.
    assert_eq!(
        exec(
            &mut ks,
            0,
            &[
                "BITFIELD",
                "w",
                "SET",
                "i64",
                "3",
                "-9223372036854775808",
                "GET",
                "i64",
                "3"
            ]
        ),
        ints(&[0, i64::MIN])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &[
                "BITFIELD",
                "w",
                "SET",
                "u63",
                "3",
                "9223372036854775807",
                "GET",
                "u63",
                "3"
            ]
        ),
        ints(&[1 << 62, i64::MAX])
    );
}

#[test]
fn bitfield_overflow_policies() {
    let mut ks = Keyspace::new();
    let bitfield = |ks: &mut Keyspace, words: &[&str]| {
        let mut all = vec!["BITFIELD", "b"];
        all.extend_from_slice(words);
        exec(ks, 0, &all)
    };
    bitfield(&mut ks, &["SET", "u8", "0", "100"]);
    assert_eq!(
        bitfield(&mut ks, &["OVERFLOW", "WRAP", "INCRBY", "u8", "0", "257"]),
        ints(&[101])
    );
    assert_eq!(
        bitfield(&mut ks, &["overflow", "wrap", "incrby", "u8", "0", "255"]),
        ints(&[100])
    );
    assert_eq!(
        bitfield(&mut ks, &["OVERFLOW", "SAT", "INCRBY", "u8", "0", "257"]),
        ints(&[255])
    );
    assert_eq!(
        bitfield(&mut ks, &["OVERFLOW", "SAT", "INCRBY", "u8", "0", "-300"]),
        ints(&[0])
    );
    bitfield(&mut ks, &["SET", "u8", "0", "100"]);
    assert_eq!(
        bitfield(&mut ks, &["OVERFLOW", "SAT", "INCRBY", "i8", "0", "257"]),
        ints(&[127])
    );
    assert_eq!(
        bitfield(&mut ks, &["OVERFLOW", "SAT", "INCRBY", "i8", "0", "-255"]),
        ints(&[-128])
    );
    bitfield(&mut ks, &["SET", "i8", "0", "100"]);
    assert_eq!(
        bitfield(&mut ks, &["INCRBY", "i8", "0", "257"]),
        ints(&[101]),
        "WRAP by default"
    );
    // FAIL answers nil and leaves the field alone; the policy applies to what follows it.
    assert_eq!(
        bitfield(
            &mut ks,
            &[
                "INCRBY", "u8", "0", "500", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "500", "GET",
                "u8", "0"
            ]
        ),
        Reply::Array(vec![int(89), Reply::Nil, int(89)])
    );
    // SET: a value outside the field overflows it; an unsigned field sees -1 as 2^64 - 1.
    assert_eq!(
        bitfield(
            &mut ks,
            &["OVERFLOW", "SAT", "SET", "u8", "0", "-1", "GET", "u8", "0"]
        ),
        ints(&[89, 255])
    );
    assert_eq!(
        bitfield(
            &mut ks,
            &["SET", "u8", "0", "-1", "SET", "i4", "0", "9", "GET", "i4", "0"]
        ),
        ints(&[255, -1, -7])
    );
    assert_eq!(
        bitfield(
            &mut ks,
            &["OVERFLOW", "FAIL", "SET", "i8", "0", "128", "SET", "i8", "0", "-128"]
        ),
        Reply::Array(vec![Reply::Nil, int(-7 << 4 | 0xF)])
    );
}

/// WRAP and FAIL against the arithmetic Redis's own tests expect, over every width.
#[test]
fn bitfield_overflow_matches_modular_arithmetic() {
    let mut ks = Keyspace::new();
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..2000 {
        let bits: u32 = rng.gen_range(1..=64);
        let signed = bits == 64 || rng.gen();
        let range = 1i128 << bits;
        let min = if signed { -(range / 2) } else { 0 };
        let max = min + range - 1;
        let clamp = |n: i128| n.clamp(i64::MIN.into(), i64::MAX.into());
        let value = clamp(min * 2 + rng.gen_range(0..range * 2));
        let increment = clamp(min * 2 + rng.gen_range(0..range * 2));
        let field = format!("{}{bits}", if signed { "i" } else { "u" });
        // The value a SET stores with WRAP: an unsigned field takes the i64's bit pattern.
        let stored = if signed {
            value
        } else {
            i128::from(value as i64 as u64)
        };
        let wrapped = |n: i128| (n - min).rem_euclid(range) + min;
        exec(&mut ks, 0, &["DEL", "b"]);
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "SET", &field, "0", &value.to_string()],
        );
        let reply = exec(
            &mut ks,
            0,
            &[
                "BITFIELD",
                "b",
                "INCRBY",
                &field,
                "0",
                &increment.to_string(),
            ],
        );
        let expected = wrapped(wrapped(stored) + increment);
        assert_eq!(
            reply,
            ints(&[expected as i64]),
            "{field} {value} + {increment}"
        );
        // FAIL: nil exactly when the exact result leaves the field's range.
        exec(&mut ks, 0, &["DEL", "b"]);
        let set = exec(
            &mut ks,
            0,
            &[
                "BITFIELD",
                "b",
                "OVERFLOW",
                "FAIL",
                "SET",
                &field,
                "0",
                &value.to_string(),
            ],
        );
        let set_fits = (min..=max).contains(&stored);
        assert_eq!(
            set == Reply::Array(vec![Reply::Nil]),
            !set_fits,
            "{field} SET {value}"
        );
        let current = if set_fits { stored } else { 0 };
        let incr = exec(
            &mut ks,
            0,
            &[
                "BITFIELD",
                "b",
                "OVERFLOW",
                "FAIL",
                "INCRBY",
                &field,
                "0",
                &increment.to_string(),
            ],
        );
        let fits = (min..=max).contains(&(current + increment));
        assert_eq!(
            incr == Reply::Array(vec![Reply::Nil]),
            !fits,
            "{field} {current} + {increment}"
        );
    }
}

#[test]
fn bitfield_creates_the_key_even_when_every_write_fails() {
    let mut ks = Keyspace::new();
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["BITFIELD", "b", "OVERFLOW", "FAIL", "SET", "u8", "8", "300"]
        ),
        Reply::Array(vec![Reply::Nil])
    );
    assert_eq!(exec(&mut ks, 0, &["GET", "b"]), raw(&[0, 0]));
    // Only GETs: the key is not created.
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "g", "GET", "u8", "0"]),
        ints(&[0])
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "g"]), int(0));
    // An in-place write keeps the TTL; an unchanged value is not a modification.
    exec(&mut ks, 0, &["SET", "t", "x", "PX", "300"]);
    let version = ks.version(b"t", 0);
    exec(&mut ks, 0, &["BITFIELD", "t", "SET", "u8", "0", "120"]);
    assert_eq!(ks.version(b"t", 0), version);
    exec(&mut ks, 0, &["BITFIELD", "t", "INCRBY", "u8", "0", "1"]);
    assert!(ks.version(b"t", 0).0 > version.0);
    assert_eq!(exec(&mut ks, 0, &["GET", "t"]), raw(b"y"));
    assert_eq!(exec(&mut ks, 0, &["PTTL", "t"]), int(300));
}

#[test]
fn bitfield_errors() {
    let mut ks = Keyspace::new();
    let type_error = err(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    for field in ["u64", "i65", "i0", "u0", "x8", "I8", "i", "i08", "i-1"] {
        assert_eq!(
            exec(&mut ks, 0, &["BITFIELD", "b", "GET", field, "0"]),
            type_error,
            "{field}"
        );
    }
    let offset_error = err("ERR bit offset is not an integer or out of range");
    for offset in ["-1", "4294967296", "#536870912", "#-1", "x"] {
        assert_eq!(
            exec(&mut ks, 0, &["BITFIELD", "b", "GET", "u8", offset]),
            offset_error,
            "{offset}"
        );
    }
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "OVERFLOW", "BOUNCE"]),
        err("ERR Invalid OVERFLOW type specified")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "GET", "u8"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "SET", "u8", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "PEEK", "u8", "0"]),
        err("ERR syntax error")
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "b", "SET", "u8", "0", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(exec(&mut ks, 0, &["EXISTS", "b"]), int(0));
    exec(&mut ks, 0, &["HSET", "h", "f", "v"]);
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "h", "GET", "u8", "0"]),
        err(WRONGTYPE)
    );
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD", "h", "SET", "u8", "0", "1"]),
        err(WRONGTYPE)
    );
    assert_eq!(exec(&mut ks, 0, &["BITFIELD", "h"]), err(WRONGTYPE));
}

#[test]
fn bitfield_ro_reads_only() {
    let mut ks = Keyspace::new();
    exec(&mut ks, 0, &["SET", "b", "A"]);
    assert_eq!(
        exec(
            &mut ks,
            0,
            &["BITFIELD_RO", "b", "GET", "u8", "0", "GET", "i4", "#1"]
        ),
        ints(&[65, 1])
    );
    assert_eq!(exec(&mut ks, 0, &["BITFIELD_RO", "b"]), ints(&[]));
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD_RO", "nope", "GET", "u8", "0"]),
        ints(&[0])
    );
    assert_eq!(
        exec(
            &mut ks,
            0,
            &[
                "BITFIELD_RO",
                "b",
                "SET",
                "u8",
                "0",
                "100",
                "GET",
                "u8",
                "0"
            ]
        ),
        err("ERR BITFIELD_RO only supports the GET subcommand")
    );
    // Argument errors win over the read-only check, as in Redis.
    assert_eq!(
        exec(&mut ks, 0, &["BITFIELD_RO", "b", "SET", "u64", "0", "1"]),
        err("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    );
}

/// Reads that scan the whole string run on a snapshot; GETBIT and BITFIELD_RO touch a few
/// bytes and do not.
#[test]
fn whole_string_reads_are_marked_for_a_snapshot() {
    let many = |words: &[&str]| {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        Command::parse(&args).expect("parses").may_read_many()
    };
    assert!(many(&["BITCOUNT", "k"]));
    assert!(many(&["BITPOS", "k", "1"]));
    assert!(!many(&["GETBIT", "k", "1"]));
    assert!(!many(&["BITFIELD_RO", "k", "GET", "u8", "0"]));
}
