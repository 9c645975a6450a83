//! A seeded random stream of Redis commands over a small key space, biased so that most hit a
//! key of the right type: what the differential test sends to redis-server and Tandem, and what
//! the replica test sends to a cluster. Every generated command is valid Redis; some carry
//! argument errors, wrong types or unknown names on purpose.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

pub const STRING_KEYS: &[&str] = &["s1", "s2", "s3", "s4"];
pub const COUNTER_KEYS: &[&str] = &["n1", "n2", "n3"];
pub const HASH_KEYS: &[&str] = &["h1", "h2", "h3"];
pub const ZSET_KEYS: &[&str] = &["z1", "z2", "z3"];
pub const LIST_KEYS: &[&str] = &["l1", "l2", "l3"];
pub const SET_KEYS: &[&str] = &["t1", "t2", "t3"];
pub const STREAM_KEYS: &[&str] = &["x1", "x2"];
pub const ELEMENTS: &[&str] = &["a", "b", "c", "d", "1", "2", "10", "-3", "x y"];
pub const FIELDS: &[&str] = &["f1", "f2", "f3", "f4", "f5"];
pub const MEMBERS: &[&str] = &["a", "b", "c", "d", "e", "f"];
pub const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "42",
    "hello",
    "x y",
    "3.5",
    "01",
    " 7",
    "9223372036854775807",
    "-9223372036854775808",
    "12345678901234567890",
    "value",
];
pub const GOOD_INTEGERS: &[&str] = &[
    "1",
    "-1",
    "0",
    "5",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "4611686018427387904",
];
pub const BAD_INTEGERS: &[&str] = &["abc", "1.5", "", " 5", "9223372036854775808", "+1", "1e3"];
pub const KEY_PATTERNS: &[&str] = &["*", "s*", "?1", "[hz]*", "n[0-9]", "*3", "nomatch"];
pub const SCORE_BOUNDS: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "2.5", "(2.5", "-3", "(-0.5", "10", "(10",
];

/// Seconds since the epoch at the start of the run, for absolute expiry times far ahead.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Random commands over a small key space, biased so most hit a key of the right type.
pub struct Generator {
    pub rng: StdRng,
    /// Absolute expiry times are `base + k * 100_000 + 50_000` seconds, so they never come
    /// within a test run of a relative one (multiples of 100_000 s from "now").
    pub base_secs: u64,
}

impl Generator {
    /// A generator whose choices all follow from `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            base_secs: now_secs(),
        }
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from.choose(&mut self.rng).unwrap()
    }

    /// A key usually from `family`, sometimes of any type (wrong-type errors).
    fn key(&mut self, family: &[&'static str]) -> String {
        if self.rng.gen_bool(0.85) {
            self.pick(family).to_string()
        } else {
            self.any_key()
        }
    }

    fn element(&mut self) -> String {
        self.pick(ELEMENTS).to_string()
    }

    /// `count` arguments made by `each`.
    fn several(
        &mut self,
        count: std::ops::Range<usize>,
        each: fn(&mut Self) -> String,
    ) -> Vec<String> {
        let n = self.rng.gen_range(count);
        (0..n).map(|_| each(self)).collect()
    }

    fn value(&mut self) -> String {
        self.pick(VALUES).to_string()
    }

    /// An integer argument; a malformed one only where the command's reply (not its
    /// queueing in MULTI) reports it.
    fn integer(&mut self, bad_allowed: bool) -> String {
        if bad_allowed && self.rng.gen_bool(0.08) {
            self.pick(BAD_INTEGERS).to_string()
        } else if self.rng.gen_bool(0.3) {
            self.pick(GOOD_INTEGERS).to_string()
        } else {
            self.rng.gen_range(-20..=20).to_string()
        }
    }

    /// A score: mostly integers and halves (so members tie and collide), some decimals that
    /// print with 17 digits, infinities, and (where allowed) malformed ones.
    fn score(&mut self, bad_allowed: bool) -> String {
        let r = self.rng.gen_range(0..100);
        if bad_allowed && r < 4 {
            return self.pick(&["nan", "abc", "", "1.5x"]).to_string();
        }
        match r {
            4..=6 => self.pick(&["inf", "-inf", "+inf"]).to_string(),
            10..=14 => self
                .pick(&["0.1", "1.1", "-2.7", "3.14159", "1e-5"])
                .to_string(),
            // Not "-0": Redis's small (listpack) sorted sets store it as 0, Tandem keeps -0.
            7..=9 => self.pick(&["1e2", "2.50", "+3", "1000000"]).to_string(),
            _ => {
                let halves = self.rng.gen_range(-40..=40);
                if halves % 2 == 0 {
                    (halves / 2).to_string()
                } else {
                    format!("{}", f64::from(halves) / 2.0)
                }
            }
        }
    }

    /// A relative expiry in seconds: far in the future, or already past (deletes the key).
    fn relative_secs(&mut self) -> String {
        if self.rng.gen_bool(0.15) {
            self.pick(&["0", "-1", "-100"]).to_string()
        } else {
            (self.rng.gen_range(1..=9) * 100_000).to_string()
        }
    }

    /// An absolute expiry in seconds: far in the future, or long past (deletes the key).
    fn absolute_secs(&mut self) -> u64 {
        if self.rng.gen_bool(0.1) {
            1_000
        } else {
            self.absolute_future_secs()
        }
    }

    fn absolute_future_secs(&mut self) -> u64 {
        self.base_secs + self.rng.gen_range(0..9) * 100_000 + 50_000
    }

    /// One command. `in_multi`: it will be queued inside MULTI, so it must be a data command,
    /// PING or ECHO. Argument errors are generated inside MULTI too: both servers queue such a
    /// command and answer its error in its EXEC slot.
    pub fn command(&mut self, in_multi: bool) -> Vec<String> {
        let bad = true;
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let r = self.rng.gen_range(0..165);
        match r {
            // streams: XADD (explicit ids), XRANGE, XREVRANGE, XLEN, XDEL, XTRIM with `=`
            155..=164 => self.stream_command(),
            // COPY, RENAMENX, UNLINK, TOUCH, EXPIRETIME and SORT
            145..=154 => self.keys_more_command(in_multi),
            // string ranges, bitmaps, float increments and the newer hash commands
            130..=144 => self.string_more_command(bad),
            // lists, sets and the other sorted-set commands
            100..=111 => self.list_command(bad),
            112..=121 => self.set_command(in_multi),
            122..=129 => self.zset_more_command(bad),
            // strings
            0..=4 => vec!["GET".into(), self.key(STRING_KEYS)],
            5..=9 => {
                let mut c = vec!["SET".into(), self.key(STRING_KEYS), self.value()];
                if self.rng.gen_bool(0.2) {
                    c.push(self.pick(&["NX", "XX"]).into());
                }
                if self.rng.gen_bool(0.2) {
                    c.push("GET".into());
                }
                match self.rng.gen_range(0..10) {
                    0 => c.extend(["EX".into(), self.relative_secs_positive()]),
                    1 => c.extend([
                        "PX".into(),
                        (self.rng.gen_range(1..9u64) * 100_000_000).to_string(),
                    ]),
                    // Future times only: Redis 7.0 keeps a key SET with a past EXAT until it is
                    // touched, and DBSIZE counts it (a documented difference).
                    2 => c.extend(["EXAT".into(), self.absolute_future_secs().to_string()]),
                    3 => c.extend([
                        "PXAT".into(),
                        (self.absolute_future_secs() * 1000).to_string(),
                    ]),
                    4 => c.push("KEEPTTL".into()),
                    _ => {}
                }
                if bad && self.rng.gen_bool(0.1) {
                    let junk = self.pick(&["NX", "XX", "EX", "BADOPT", "KEEPTTL", "PX"]);
                    c.push(junk.into());
                    if self.rng.gen_bool(0.5) {
                        c.push(self.pick(&["0", "-5", "abc", "100000"]).into());
                    }
                }
                c
            }
            10 => vec!["SETNX".into(), self.key(STRING_KEYS), self.value()],
            11 => vec!["GETSET".into(), self.key(STRING_KEYS), self.value()],
            12 => vec!["GETDEL".into(), self.key(STRING_KEYS)],
            13..=14 => {
                let mut c = vec!["MGET".into()];
                for _ in 0..self.rng.gen_range(1..5) {
                    c.push(self.key(STRING_KEYS));
                }
                c
            }
            15..=16 => {
                let mut c = vec![self.pick(&["MSET", "MSET", "MSETNX"]).into()];
                for _ in 0..self.rng.gen_range(1..4) {
                    c.push(self.key(STRING_KEYS));
                    c.push(self.value());
                }
                c
            }
            17 => vec!["APPEND".into(), self.key(STRING_KEYS), self.value()],
            18 => vec!["STRLEN".into(), self.key(STRING_KEYS)],
            // counters
            19..=21 => vec![self.pick(&["INCR", "DECR"]).into(), self.key(COUNTER_KEYS)],
            22..=25 => {
                let name = self.pick(&["INCRBY", "DECRBY"]);
                let by = self.integer(bad);
                vec![name.into(), self.key(COUNTER_KEYS), by]
            }
            26 => vec!["SET".into(), self.key(COUNTER_KEYS), self.integer(true)],
            // keys
            27..=28 => {
                let mut c = vec![self.pick(&["DEL", "EXISTS", "EXISTS"]).into()];
                c.extend(self.several(1..4, Self::any_key));
                c
            }
            29..=30 => vec!["TYPE".into(), self.any_key()],
            31..=32 => vec!["EXPIRE".into(), self.any_key(), self.relative_secs()],
            33 => vec![
                "PEXPIRE".into(),
                self.any_key(),
                (self.rng.gen_range(1..9u64) * 100_000_000).to_string(),
            ],
            34..=35 => {
                let at = self.absolute_secs();
                let (name, at) = if self.rng.gen_bool(0.5) {
                    ("EXPIREAT", at.to_string())
                } else {
                    ("PEXPIREAT", (at * 1000).to_string())
                };
                let mut c = vec![name.into(), self.any_key(), at];
                if self.rng.gen_bool(0.6) {
                    c.push(self.pick(&["NX", "XX", "GT", "LT"]).into());
                }
                if bad && self.rng.gen_bool(0.1) {
                    c.push(self.pick(&["NX", "GT", "BAD"]).into());
                }
                c
            }
            36 if !in_multi => vec![self.pick(&["TTL", "PTTL"]).into(), self.any_key()],
            37 => vec!["PERSIST".into(), self.any_key()],
            38 => vec!["RENAME".into(), self.any_key(), self.any_key()],
            39 if !in_multi => vec!["KEYS".into(), self.pick(KEY_PATTERNS).into()],
            40 => s(&["DBSIZE"]),
            // hashes
            41..=44 => {
                let mut c = vec![
                    self.pick(&["HSET", "HSET", "HMSET"]).into(),
                    self.key(HASH_KEYS),
                ];
                for _ in 0..self.rng.gen_range(1..4) {
                    c.push(self.pick(FIELDS).into());
                    c.push(self.value());
                }
                c
            }
            45 => vec![
                "HSETNX".into(),
                self.key(HASH_KEYS),
                self.pick(FIELDS).into(),
                self.value(),
            ],
            46..=47 => vec!["HGET".into(), self.key(HASH_KEYS), self.pick(FIELDS).into()],
            48 => {
                let mut c = vec!["HMGET".into(), self.key(HASH_KEYS)];
                for _ in 0..self.rng.gen_range(1..4) {
                    c.push(self.pick(FIELDS).into());
                }
                c
            }
            49..=50 => {
                let mut c = vec!["HDEL".into(), self.key(HASH_KEYS)];
                for _ in 0..self.rng.gen_range(1..3) {
                    c.push(self.pick(FIELDS).into());
                }
                c
            }
            51..=52 if !in_multi => vec![
                self.pick(&["HGETALL", "HKEYS", "HVALS"]).into(),
                self.key(HASH_KEYS),
            ],
            53..=54 => vec![
                "HINCRBY".into(),
                self.key(HASH_KEYS),
                self.pick(FIELDS).into(),
                self.integer(bad),
            ],
            55 => vec!["HLEN".into(), self.key(HASH_KEYS)],
            56 => vec![
                "HEXISTS".into(),
                self.key(HASH_KEYS),
                self.pick(FIELDS).into(),
            ],
            // sorted sets
            57..=61 => self.zadd(bad),
            62 => {
                let mut c = vec!["ZREM".into(), self.key(ZSET_KEYS)];
                for _ in 0..self.rng.gen_range(1..3) {
                    c.push(self.pick(MEMBERS).into());
                }
                c
            }
            63..=64 => vec![
                self.pick(&["ZSCORE", "ZRANK"]).into(),
                self.key(ZSET_KEYS),
                self.pick(MEMBERS).into(),
            ],
            65..=66 => vec![
                "ZINCRBY".into(),
                self.key(ZSET_KEYS),
                self.score(bad),
                self.pick(MEMBERS).into(),
            ],
            67 => vec!["ZCARD".into(), self.key(ZSET_KEYS)],
            68..=70 => {
                let mut c = vec![
                    "ZRANGE".into(),
                    self.key(ZSET_KEYS),
                    self.rng.gen_range(-4..4).to_string(),
                    self.rng.gen_range(-4..6).to_string(),
                ];
                if self.rng.gen_bool(0.3) {
                    c.push("REV".into());
                }
                if self.rng.gen_bool(0.5) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            71..=73 => {
                let mut c = vec![
                    "ZRANGE".into(),
                    self.key(ZSET_KEYS),
                    self.pick(SCORE_BOUNDS).into(),
                    self.pick(SCORE_BOUNDS).into(),
                    "BYSCORE".into(),
                ];
                if self.rng.gen_bool(0.3) {
                    c.push("REV".into());
                }
                if self.rng.gen_bool(0.4) {
                    c.extend([
                        "LIMIT".into(),
                        self.rng.gen_range(0..3).to_string(),
                        self.rng.gen_range(-1..4).to_string(),
                    ]);
                }
                if self.rng.gen_bool(0.5) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            74 => {
                let mut c = vec![
                    "ZRANGEBYSCORE".into(),
                    self.key(ZSET_KEYS),
                    self.pick(SCORE_BOUNDS).into(),
                    self.pick(SCORE_BOUNDS).into(),
                ];
                if self.rng.gen_bool(0.5) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            75..=76 => {
                let mut c = vec![
                    self.pick(&["ZPOPMIN", "ZPOPMAX"]).into(),
                    self.key(ZSET_KEYS),
                ];
                if self.rng.gen_bool(0.4) {
                    c.push(self.rng.gen_range(0..4).to_string());
                }
                c
            }
            // Wrong arity and unknown commands: both servers reject these when queueing, too.
            77 => {
                let name = self.pick(&["GET", "SET", "HSET", "ZADD", "INCRBY", "EXPIRE", "MSET"]);
                let mut c = vec![name.to_string()];
                // An odd MSET passes the arity check and fails when run: inside MULTI both
                // servers queue it and answer the error in its EXEC slot.
                if name == "MSET" && self.rng.gen_bool(0.5) {
                    c.extend(["k".into(), "v".into(), "odd".into()]);
                }
                c
            }
            78 => vec![
                self.pick(&["FOO", "NOSUCH", "setx"]).into(),
                "a".into(),
                "b c".into(),
            ],
            79 => vec!["PING".into()],
            80 => vec!["ECHO".into(), self.value()],
            81 if !in_multi && self.rng.gen_bool(0.1) => s(&["FLUSHALL"]),
            82..=85 if !in_multi => self.transaction(),
            _ => vec!["EXISTS".into(), self.any_key()],
        }
    }

    /// A stream id among a small range, so adds, deletes and trims meet each other.
    fn stream_id(&mut self) -> String {
        if self.rng.gen_bool(0.3) {
            self.rng.gen_range(0..40).to_string()
        } else {
            format!("{}-{}", self.rng.gen_range(0..40), self.rng.gen_range(0..3))
        }
    }

    fn stream_command(&mut self) -> Vec<String> {
        let key = self.key(STREAM_KEYS);
        match self.rng.gen_range(0..10) {
            0..=3 => {
                let mut c = vec!["XADD".into(), key];
                if self.rng.gen_bool(0.2) {
                    c.extend([
                        "MAXLEN".into(),
                        "=".into(),
                        self.rng.gen_range(0..6).to_string(),
                    ]);
                }
                c.push(self.stream_id());
                for _ in 0..self.rng.gen_range(1..3) {
                    let field = self.element();
                    let value = self.value();
                    c.extend([field, value]);
                }
                c
            }
            4 => vec!["XLEN".into(), key],
            5..=6 => {
                let name = self.pick(&["XRANGE", "XREVRANGE"]);
                let (low, high) = (
                    self.pick(&["-", "0", "5", "(3-1", "10-2"]),
                    self.pick(&["+", "20", "(30", "8-1"]),
                );
                let mut c: Vec<String> = if name == "XRANGE" {
                    vec![name.into(), key, low.into(), high.into()]
                } else {
                    vec![name.into(), key, high.into(), low.into()]
                };
                if self.rng.gen_bool(0.3) {
                    c.extend(["COUNT".into(), self.rng.gen_range(0..4).to_string()]);
                }
                c
            }
            7 => {
                let mut c = vec!["XDEL".into(), key];
                c.extend(self.several(1..3, Self::stream_id));
                c
            }
            8 => vec![
                "XTRIM".into(),
                key,
                "MAXLEN".into(),
                "=".into(),
                self.rng.gen_range(0..6).to_string(),
            ],
            _ => vec!["XTRIM".into(), key, "MINID".into(), self.stream_id()],
        }
    }

    fn relative_secs_positive(&mut self) -> String {
        (self.rng.gen_range(1..=9) * 100_000).to_string()
    }

    fn any_key(&mut self) -> String {
        let all = [
            STRING_KEYS,
            COUNTER_KEYS,
            HASH_KEYS,
            ZSET_KEYS,
            LIST_KEYS,
            SET_KEYS,
            &["missing"],
        ]
        .concat();
        self.pick(&all).to_string()
    }

    /// SETEX, GETEX, ranges, float increments, bitmaps, HINCRBYFLOAT, HSTRLEN and LCS.
    fn string_more_command(&mut self, bad: bool) -> Vec<String> {
        let key = self.key(&[STRING_KEYS, COUNTER_KEYS].concat());
        let offset = |g: &mut Self| g.rng.gen_range(-2..40).to_string();
        match self.rng.gen_range(0..16) {
            0 => {
                let secs = if bad && self.rng.gen_bool(0.1) {
                    self.pick(&["0", "-1", "abc"]).to_string()
                } else {
                    self.relative_secs_positive()
                };
                vec!["SETEX".into(), key, secs, self.value()]
            }
            1 => vec![
                "PSETEX".into(),
                key,
                (self.rng.gen_range(1..9u64) * 100_000_000).to_string(),
                self.value(),
            ],
            2 => {
                let mut c = vec!["GETEX".into(), key];
                match self.rng.gen_range(0..5) {
                    0 => c.extend(["EX".into(), self.relative_secs_positive()]),
                    1 => c.push("PERSIST".into()),
                    2 => c.extend(["EXAT".into(), self.absolute_future_secs().to_string()]),
                    _ => {}
                }
                c
            }
            3 => vec![
                self.pick(&["GETRANGE", "SUBSTR"]).into(),
                key,
                self.rng.gen_range(-6..6).to_string(),
                self.rng.gen_range(-6..10).to_string(),
            ],
            4 => vec!["SETRANGE".into(), key, offset(self), self.value()],
            5 => vec![
                "INCRBYFLOAT".into(),
                key,
                self.pick(&["1.5", "0.1", "-2", "3e2", "10.25", "abc", "-0.3"])
                    .into(),
            ],
            6 => vec![
                "SETBIT".into(),
                key,
                offset(self),
                self.pick(&["0", "1", "1", "2"]).into(),
            ],
            7 => vec!["GETBIT".into(), key, offset(self)],
            8 => {
                let mut c = vec!["BITCOUNT".into(), key];
                if self.rng.gen_bool(0.6) {
                    c.push(self.rng.gen_range(-4..4).to_string());
                    c.push(self.rng.gen_range(-4..6).to_string());
                    if self.rng.gen_bool(0.4) {
                        c.push(self.pick(&["BYTE", "BIT"]).into());
                    }
                }
                c
            }
            9 => {
                let mut c = vec!["BITPOS".into(), key, self.pick(&["0", "1"]).into()];
                if self.rng.gen_bool(0.5) {
                    c.push(self.rng.gen_range(-3..3).to_string());
                    if self.rng.gen_bool(0.5) {
                        c.push(self.rng.gen_range(-3..5).to_string());
                    }
                }
                c
            }
            10 => {
                let op = self.pick(&["AND", "OR", "XOR", "NOT"]);
                let mut c = vec!["BITOP".into(), op.into(), self.key(STRING_KEYS), key];
                if op != "NOT" {
                    c.push(self.key(STRING_KEYS));
                }
                c
            }
            11 => {
                let mut c = vec!["BITFIELD".into(), key];
                for _ in 0..self.rng.gen_range(1..3) {
                    let kind = self.pick(&["u8", "i5", "u4", "i16", "u1"]).to_string();
                    let at = self.pick(&["0", "3", "#1", "13"]).to_string();
                    match self.rng.gen_range(0..4) {
                        0 => c.extend(["GET".into(), kind, at]),
                        1 => c.extend(["SET".into(), kind, at, self.integer(false)]),
                        2 => c.extend(["INCRBY".into(), kind, at, self.integer(false)]),
                        _ => c.extend([
                            "OVERFLOW".into(),
                            self.pick(&["WRAP", "SAT", "FAIL"]).into(),
                        ]),
                    }
                }
                c
            }
            12 => vec![
                "HINCRBYFLOAT".into(),
                self.key(HASH_KEYS),
                self.pick(FIELDS).into(),
                self.pick(&["1.5", "-0.25", "2e1", "x"]).into(),
            ],
            13 => vec![
                "HSTRLEN".into(),
                self.key(HASH_KEYS),
                self.pick(FIELDS).into(),
            ],
            _ => {
                let mut c = vec!["LCS".into(), self.key(STRING_KEYS), key];
                match self.rng.gen_range(0..3) {
                    0 => c.push("LEN".into()),
                    1 => c.extend(["IDX".into(), "WITHMATCHLEN".into()]),
                    _ => {}
                }
                c
            }
        }
    }

    /// A list command (or, rarely, a blocking pop that finds data or times out at once).
    fn list_command(&mut self, bad: bool) -> Vec<String> {
        let key = self.key(LIST_KEYS);
        let mut c: Vec<String> = match self.rng.gen_range(0..20) {
            0..=3 => {
                let mut c = vec![
                    self.pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]).into(),
                    key,
                ];
                c.extend(self.several(1..4, Self::element));
                c
            }
            4..=5 => {
                let mut c = vec![self.pick(&["LPOP", "RPOP"]).into(), key];
                if self.rng.gen_bool(0.4) {
                    c.push(self.integer(bad));
                }
                c
            }
            6 => vec!["LLEN".into(), key],
            7..=8 => vec![
                "LRANGE".into(),
                key,
                self.rng.gen_range(-5..4).to_string(),
                self.rng.gen_range(-5..6).to_string(),
            ],
            9 => vec!["LINDEX".into(), key, self.rng.gen_range(-4..4).to_string()],
            10 => vec![
                "LSET".into(),
                key,
                self.rng.gen_range(-4..4).to_string(),
                self.element(),
            ],
            11 => vec![
                "LINSERT".into(),
                key,
                self.pick(&["BEFORE", "AFTER"]).into(),
                self.element(),
                self.element(),
            ],
            12 => vec![
                "LREM".into(),
                key,
                self.rng.gen_range(-2..3).to_string(),
                self.element(),
            ],
            13 => vec![
                "LTRIM".into(),
                key,
                self.rng.gen_range(-4..3).to_string(),
                self.rng.gen_range(-3..5).to_string(),
            ],
            14 => {
                let mut c = vec!["LPOS".into(), key, self.element()];
                if self.rng.gen_bool(0.5) {
                    c.extend(["RANK".into(), self.pick(&["1", "-1", "2", "0"]).into()]);
                }
                if self.rng.gen_bool(0.4) {
                    c.extend(["COUNT".into(), self.pick(&["0", "1", "2", "-1"]).into()]);
                }
                c
            }
            15 => vec![
                "LMOVE".into(),
                key,
                self.key(LIST_KEYS),
                self.pick(&["LEFT", "RIGHT"]).into(),
                self.pick(&["LEFT", "RIGHT"]).into(),
            ],
            16 => vec!["RPOPLPUSH".into(), key, self.key(LIST_KEYS)],
            17 => {
                let mut c = vec!["LMPOP".into(), "2".into(), key, self.key(LIST_KEYS)];
                c.push(self.pick(&["LEFT", "RIGHT"]).into());
                if self.rng.gen_bool(0.5) {
                    c.extend(["COUNT".into(), self.pick(&["1", "2", "5"]).into()]);
                }
                c
            }
            // Blocking pops that find data (or an absent key, timing out after 10 ms).
            _ => vec![
                self.pick(&["BLPOP", "BRPOP"]).into(),
                key,
                self.key(LIST_KEYS),
                "0.01".into(),
            ],
        };
        if bad && self.rng.gen_bool(0.03) {
            c.push("EXTRA".into());
        }
        c
    }

    /// A set command; those whose reply order is unspecified are compared as multisets, so
    /// they are not queued in MULTI (EXEC's reply is compared as bytes).
    fn set_command(&mut self, in_multi: bool) -> Vec<String> {
        let key = self.key(SET_KEYS);
        let unordered = |r: u32| matches!(r, 4 | 9 | 10 | 14);
        let mut r = self.rng.gen_range(0..16);
        while in_multi && unordered(r) {
            r = self.rng.gen_range(0..16);
        }
        match r {
            0..=3 => {
                let mut c = vec![self.pick(&["SADD", "SADD", "SREM"]).into(), key];
                c.extend(self.several(1..4, Self::element));
                c
            }
            4 => vec!["SMEMBERS".into(), key],
            5 => vec!["SISMEMBER".into(), key, self.element()],
            6 => {
                let mut c = vec!["SMISMEMBER".into(), key];
                c.extend(self.several(1..4, Self::element));
                c
            }
            7 => vec!["SCARD".into(), key],
            8 => vec!["SMOVE".into(), key, self.key(SET_KEYS), self.element()],
            9..=10 => {
                let mut c = vec![self.pick(&["SINTER", "SUNION", "SDIFF"]).into(), key];
                c.extend(self.several(0..3, |g| g.key(SET_KEYS)));
                c
            }
            11..=12 => {
                let mut c = vec![
                    self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])
                        .into(),
                    self.key(SET_KEYS),
                    key,
                ];
                c.extend(self.several(0..3, |g| g.key(SET_KEYS)));
                c
            }
            13 => vec!["SINTERCARD".into(), "2".into(), key, self.key(SET_KEYS)],
            // Every member (distinct, count above any set's size): comparable as a multiset.
            14 => vec!["SRANDMEMBER".into(), key, "100".into()],
            // Random by design: only on an absent key (an empty reply on both).
            _ => vec!["SPOP".into(), "never-written".into(), "1".into()],
        }
    }

    /// The sorted-set commands beyond ZADD/ZRANGE/ZPOP*: ranges in reverse, counts, removals
    /// by range, the set operations with WEIGHTS and AGGREGATE, and ZMPOP.
    fn zset_more_command(&mut self, bad: bool) -> Vec<String> {
        let key = self.key(ZSET_KEYS);
        match self.rng.gen_range(0..14) {
            0 => vec![
                "ZREVRANGE".into(),
                key,
                self.rng.gen_range(-4..4).to_string(),
                self.rng.gen_range(-4..6).to_string(),
                "WITHSCORES".into(),
            ],
            1 => vec![
                "ZREVRANGEBYSCORE".into(),
                key,
                self.pick(SCORE_BOUNDS).into(),
                self.pick(SCORE_BOUNDS).into(),
            ],
            2 => vec!["ZREVRANK".into(), key, self.pick(MEMBERS).into()],
            3 => vec![
                "ZCOUNT".into(),
                key,
                self.pick(SCORE_BOUNDS).into(),
                self.pick(SCORE_BOUNDS).into(),
            ],
            4 => {
                let mut c = vec!["ZMSCORE".into(), key];
                c.extend(self.several(1..4, |g| g.pick(MEMBERS).to_string()));
                c
            }
            5 => vec![
                "ZREMRANGEBYSCORE".into(),
                key,
                self.pick(SCORE_BOUNDS).into(),
                self.pick(SCORE_BOUNDS).into(),
            ],
            6 => vec![
                "ZREMRANGEBYRANK".into(),
                key,
                self.rng.gen_range(-3..3).to_string(),
                self.rng.gen_range(-3..3).to_string(),
            ],
            7..=9 => {
                let store = self.rng.gen_bool(0.5);
                let op = self.pick(&["UNION", "INTER", "DIFF"]);
                let mut c = if store {
                    vec![format!("Z{op}STORE"), self.key(ZSET_KEYS)]
                } else {
                    vec![format!("Z{op}")]
                };
                let inputs = self.rng.gen_range(1..4);
                c.push(inputs.to_string());
                for _ in 0..inputs {
                    // Sets count as sorted sets whose members all score 1.
                    let family = if self.rng.gen_bool(0.2) {
                        SET_KEYS
                    } else {
                        ZSET_KEYS
                    };
                    c.push(self.key(family));
                }
                if op != "DIFF" && self.rng.gen_bool(0.4) {
                    c.push("WEIGHTS".into());
                    for _ in 0..inputs {
                        c.push(self.pick(&["1", "2", "-1", "0.5", "inf"]).into());
                    }
                }
                if op != "DIFF" && self.rng.gen_bool(0.4) {
                    c.extend(["AGGREGATE".into(), self.pick(&["SUM", "MIN", "MAX"]).into()]);
                }
                if !store && self.rng.gen_bool(0.5) {
                    c.push("WITHSCORES".into());
                }
                c
            }
            10 => vec!["ZINTERCARD".into(), "2".into(), key, self.key(ZSET_KEYS)],
            11 => vec![
                "ZRANGESTORE".into(),
                self.key(ZSET_KEYS),
                key,
                self.rng.gen_range(-3..2).to_string(),
                self.rng.gen_range(-2..4).to_string(),
            ],
            12 => {
                let mut c = vec!["ZMPOP".into(), "2".into(), key, self.key(ZSET_KEYS)];
                c.push(self.pick(&["MIN", "MAX"]).into());
                if self.rng.gen_bool(0.5) {
                    c.extend(["COUNT".into(), self.integer(bad)]);
                }
                c
            }
            _ => vec![
                self.pick(&["BZPOPMIN", "BZPOPMAX"]).into(),
                key,
                "0.01".into(),
            ],
        }
    }

    fn zadd(&mut self, bad: bool) -> Vec<String> {
        let mut c = vec!["ZADD".into(), self.key(ZSET_KEYS)];
        let incr = self.rng.gen_bool(0.15);
        // Options in a combination Redis accepts, or (outside MULTI) sometimes not.
        let combos: &[&[&str]] = &[
            &[],
            &[],
            &["NX"],
            &["XX"],
            &["GT"],
            &["LT"],
            &["CH"],
            &["XX", "CH"],
            &["GT", "CH"],
            &["XX", "LT"],
        ];
        let bad_combos: &[&[&str]] = &[&["NX", "XX"], &["NX", "GT"], &["GT", "LT"]];
        let options = if bad && self.rng.gen_bool(0.05) {
            bad_combos.choose(&mut self.rng).unwrap()
        } else {
            combos.choose(&mut self.rng).unwrap()
        };
        c.extend(options.iter().map(|o| o.to_string()));
        if incr {
            c.push("INCR".into());
        }
        let pairs = if incr && !(bad && self.rng.gen_bool(0.1)) {
            1
        } else {
            self.rng.gen_range(1..4)
        };
        for _ in 0..pairs {
            c.push(self.score(bad));
            c.push(self.pick(MEMBERS).into());
        }
        c
    }

    /// The newer key commands and SORT. SORT sorts lists, sets and sorted sets of mixed
    /// numbers and words (numeric mode fails on words), with ALPHA, DESC, LIMIT, `BY nosort`
    /// (with STORE only: a set's own order is unspecified, and any key may hold a set), `GET #`,
    /// `GET s*` (the elements 1 and 2 name string keys) and STORE.
    ///
    /// EXPIRETIME and PEXPIRETIME stay out of MULTI: their absolute times differ by the gap
    /// between the two servers' clocks, which is compared with a tolerance only outside EXEC.
    fn keys_more_command(&mut self, in_multi: bool) -> Vec<String> {
        match self.rng.gen_range(0..8) {
            4 if in_multi => vec!["TOUCH".into(), self.any_key()],
            0 => {
                let mut c = vec!["COPY".into(), self.any_key(), self.any_key()];
                if self.rng.gen_bool(0.5) {
                    c.push("REPLACE".into());
                }
                c
            }
            1 => vec!["RENAMENX".into(), self.any_key(), self.any_key()],
            2 => {
                let mut c = vec!["UNLINK".into()];
                c.extend(self.several(1..3, Self::any_key));
                c
            }
            3 => {
                let mut c = vec!["TOUCH".into()];
                c.extend(self.several(1..4, Self::any_key));
                c
            }
            4 => vec![
                self.pick(&["EXPIRETIME", "PEXPIRETIME"]).into(),
                self.any_key(),
            ],
            _ => {
                let (name, key) = match self.rng.gen_range(0..4) {
                    0 => ("SORT", self.key(SET_KEYS)),
                    1 => ("SORT", self.key(ZSET_KEYS)),
                    2 => ("SORT_RO", self.key(LIST_KEYS)),
                    _ => ("SORT", self.key(LIST_KEYS)),
                };
                let mut c = vec![name.to_string(), key];
                // STORE is decided first: `BY nosort` only comes with it. Any key may hold a
                // set (type mixing is generated on purpose), and an unstored `BY nosort` of a
                // set answers in the set's internal order, which is unspecified; stored, Redis
                // and Tandem both sort a set ALPHA.
                let store = name == "SORT" && self.rng.gen_bool(0.3);
                if store && self.rng.gen_bool(0.4) {
                    c.extend(["BY".into(), "nosort".into()]);
                }
                if self.rng.gen_bool(0.3) {
                    c.extend([
                        "LIMIT".into(),
                        self.rng.gen_range(-1..4).to_string(),
                        self.rng.gen_range(-1..5).to_string(),
                    ]);
                }
                for _ in 0..self.rng.gen_range(0..3) {
                    c.extend(["GET".into(), self.pick(&["#", "s*", "nokey*"]).into()]);
                }
                if self.rng.gen_bool(0.6) {
                    c.push("ALPHA".into());
                }
                if self.rng.gen_bool(0.4) {
                    c.push("DESC".into());
                }
                if store {
                    c.extend(["STORE".into(), self.key(LIST_KEYS)]);
                }
                c
            }
        }
    }

    /// MULTI, a few data commands, then EXEC (or DISCARD); sent as one command list.
    fn transaction(&mut self) -> Vec<String> {
        vec!["__MULTI__".into()]
    }
}
