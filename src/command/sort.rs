//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted as numbers or as bytes,
//! by their own value or by the value of other keys (BY pattern), answered as they are or as
//! other keys' values (GET pattern), and with STORE saved as a list.
//!
//! Wire forms: `SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]]
//! [ASC|DESC] [ALPHA] [STORE destination]`, and SORT_RO with the same options but STORE.
//!
//! **Read or write.** Only STORE writes, but Redis flags SORT `write denyoom movablekeys` as a
//! whole, so SORT's spec is the write one. Parsing decides: SORT with STORE becomes a
//! [`SortStore`] (a write, through the log), SORT without it becomes a [`SortRead`], the type
//! SORT_RO parses into, so it is answered from the keyspace like any read (on a snapshot: its
//! cost grows with the data). The server must route on the parsed command's kind
//! (`Command::is_write`), not on the spec found by name, for that to happen.
//!
//! **Keys.** The spec declares what Redis's legacy key positions declare: the sorted key, and
//! STORE's destination (found like Redis's `sortGetKeys`: the last STORE wins). The keys BY
//! and GET patterns name depend on the sorted elements, so nothing can declare them before the
//! sort key is read (Redis marks them "unknown"); they are read from the same state as the
//! sorted key: the snapshot a [`SortRead`] runs on, or the keyspace a [`SortStore`] is applied
//! to. A pattern names a key by replacing its first `*` with the element; `#` alone is the
//! element itself; `key*->field` reads a hash field. A key of the wrong type reads as missing.
//!
//! **Order.** Numeric sorting compares scores, then the elements' bytes, and DESC reverses
//! both, as Redis does. ALPHA compares bytes (without STORE Redis uses the locale's collation,
//! which is byte order in the C locale; Tandem always compares bytes), DESC reversing. ALPHA
//! with BY compares the BY values (a missing one first); Redis leaves equal BY values in
//! whatever order the C library's `qsort` leaves them (unspecified, often the input order),
//! Tandem keeps them in the native order (list order, the set's iteration order, score order),
//! under DESC too. Every comparison is thus total and the
//! native order is replicated state, so the result is a pure function of the keyspace: a STORE
//! writes the same list on every replica. `BY nosort` keeps the native order (DESC reversing a
//! list or sorted set); for a set with STORE it sorts ALPHA instead, as Redis does, so a stored
//! result never depends on a set's internal order.
//!
//! **Scores** are read as Redis reads them with `strtod`: leading white space, decimal or
//! hexadecimal notation, `inf`; the whole value must be consumed; NaN, overflow and underflow
//! (also to a subnormal) are "One or more scores can't be converted into double". An empty
//! value is 0. A missing BY key scores 0.

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{
    is_option, parse_i64, Args, Categories, Command, CommandError, CommandSpec, Cx, Flags, Group,
    KeySpec, Reply,
};
use crate::keyspace::{Entry, Keyspace, ListValue, SetValue, Slot, Value, ZSet};

/// SORT and SORT_RO are in Redis's generic group, but not in `@keyspace`; they are in the
/// categories of the types they sort. The spec's group gives one category, so SORT's group
/// is `list` (COMMAND DOCS says "list" where Redis says "generic") and the ACL categories
/// are Redis's.
const SORT_CATEGORIES: Categories = Categories::SET
    .union(Categories::SORTEDSET)
    .union(Categories::DANGEROUS);

const SORT_ARGS: &[&str] = &[
    "key",
    "[BY pattern]",
    "[LIMIT offset count]",
    "[GET pattern...]",
    "[ASC|DESC]",
    "[ALPHA]",
];

/// What SORT orders the elements by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SortBy {
    /// No BY: each element's own value.
    Element,
    /// BY with a `*`: the value of the key (or hash field) the pattern names for each element.
    Pattern(Bytes),
    /// A BY pattern without `*` (by convention `nosort`), given anywhere: the native order.
    NoSort,
}

/// ASC or DESC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// How sort values compare: as numbers (the default) or as bytes (ALPHA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortCompare {
    Numeric,
    Alpha,
}

/// `LIMIT offset count`, as given: a negative offset counts as 0, a negative count as "all".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortLimit {
    pub offset: i64,
    pub count: i64,
}

/// Everything SORT and SORT_RO take besides the key and STORE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SortOptions {
    pub by: SortBy,
    pub limit: Option<SortLimit>,
    /// GET patterns in order; empty means the elements themselves.
    pub gets: Vec<Bytes>,
    pub order: SortOrder,
    pub compare: SortCompare,
}

impl Default for SortOptions {
    fn default() -> SortOptions {
        SortOptions {
            by: SortBy::Element,
            limit: None,
            gets: Vec::new(),
            order: SortOrder::Ascending,
            compare: SortCompare::Numeric,
        }
    }
}

// ---- SORT with STORE ----

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// STORE destination`: the result replaces `destination` as a list (no TTL), or deletes it
/// when empty; the reply is its length. SORT without STORE parses into a [`SortRead`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SortStore {
    pub key: Bytes,
    pub options: SortOptions,
    pub destination: Bytes,
}

impl SortStore {
    pub const SPEC: CommandSpec = CommandSpec::data("sort", -2, Group::List, SortStore::parse)
        .flags(Flags::WRITE.union(Flags::DENYOOM))
        .keys(KeySpec::movable(1, 1, 1, sort_key_positions))
        .categories(SORT_CATEGORIES)
        .docs(
            "1.0.0",
            "Sorts the elements in a list, a set, or a sorted set, optionally storing the result (without STORE Tandem serves it as a read).",
            &[
                "key",
                "[BY pattern]",
                "[LIMIT offset count]",
                "[GET pattern...]",
                "[ASC|DESC]",
                "[ALPHA]",
                "[STORE destination]",
            ],
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (options, destination) = parse_options(args, Store::Allowed)?;
        Ok(match destination {
            Some(destination) => SortStore {
                key: args.key(1),
                options,
                destination,
            }
            .into(),
            None => SortRead {
                key: args.key(1),
                options,
            }
            .into(),
        })
    }

    pub(super) fn apply(&self, ks: &mut Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let elements = sorted(ks, &self.key, &self.options, Store::Allowed, now_ms)?;
        let list: ListValue = if self.options.gets.is_empty() {
            elements.into_iter().collect()
        } else {
            elements
                .iter()
                .flat_map(|element| {
                    self.options.gets.iter().map(|pattern| {
                        lookup_by_pattern(ks, pattern, element, now_ms).unwrap_or_default()
                    })
                })
                .collect()
        };
        let stored = list.len();
        let slot = Slot::new(self.destination.clone());
        if list.is_empty() {
            ks.remove(&slot);
        } else {
            ks.insert(slot, Value::List(list), 0);
        }
        Ok(Reply::Integer(stored as i64))
    }
}

// ---- SORT_RO, and SORT without STORE ----

/// `SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]`, and
/// SORT without STORE: the sorted elements, or for each one the value of every GET pattern
/// (nil where it names nothing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SortRead {
    pub key: Bytes,
    pub options: SortOptions,
}

impl SortRead {
    pub const SPEC: CommandSpec = CommandSpec::data("sort_ro", -2, Group::List, SortRead::parse)
        .flags(Flags::READONLY.union(Flags::READS_MANY))
        .keys(KeySpec::movable(1, 1, 1, sort_ro_key_positions))
        .categories(SORT_CATEGORIES)
        .docs(
            "7.0.0",
            "Returns the sorted elements of a list, a set, or a sorted set.",
            SORT_ARGS,
        );

    fn parse(args: Args<'_>) -> Result<Command, CommandError> {
        let (options, _) = parse_options(args, Store::Refused)?;
        Ok(SortRead {
            key: args.key(1),
            options,
        }
        .into())
    }

    pub(super) fn read(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        self.read_as(ks, cx, Store::Refused)
    }

    /// SORT without STORE called from a script: `BY nosort` on a set sorts ALPHA, as a stored
    /// result does, so the script never sees the set's internal order (as in Redis).
    pub fn read_in_script(&self, ks: &Keyspace, cx: &mut Cx) -> Result<Reply, CommandError> {
        self.read_as(ks, cx, Store::Allowed)
    }

    fn read_as(&self, ks: &Keyspace, cx: &mut Cx, store: Store) -> Result<Reply, CommandError> {
        let now_ms = cx.now_ms;
        let elements = sorted(ks, &self.key, &self.options, store, now_ms)?;
        let bulk_or_nil = |value: Option<Bytes>| value.map_or(Reply::Nil, Reply::Bulk);
        Ok(Reply::Array(if self.options.gets.is_empty() {
            elements.into_iter().map(Reply::Bulk).collect()
        } else {
            elements
                .iter()
                .flat_map(|element| {
                    self.options
                        .gets
                        .iter()
                        .map(|pattern| bulk_or_nil(lookup_by_pattern(ks, pattern, element, now_ms)))
                })
                .collect()
        }))
    }
}

// ---- parsing ----

/// Whether STORE is an option (SORT) or a syntax error (SORT_RO). It also tells the sort
/// whether its result is stored (or goes to a script), which changes `BY nosort` on a set.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Allowed,
    Refused,
}

/// The options after the key, in Redis's order: each is checked as it comes, so the first bad
/// one decides the error. A repeated option overrides (the last STORE wins); GETs add up.
fn parse_options(
    args: Args<'_>,
    store: Store,
) -> Result<(SortOptions, Option<Bytes>), CommandError> {
    let mut options = SortOptions::default();
    let mut destination = None;
    let mut by_pattern = None;
    let mut no_sort = false;
    let mut index = 2;
    while index < args.len() {
        let option = args.at(index);
        let left = args.len() - index - 1;
        if is_option(option, "asc") {
            options.order = SortOrder::Ascending;
        } else if is_option(option, "desc") {
            options.order = SortOrder::Descending;
        } else if is_option(option, "alpha") {
            options.compare = SortCompare::Alpha;
        } else if is_option(option, "limit") && left >= 2 {
            let offset = parse_i64(args.at(index + 1))?;
            let count = parse_i64(args.at(index + 2))?;
            options.limit = Some(SortLimit { offset, count });
            index += 2;
        } else if store == Store::Allowed && is_option(option, "store") && left >= 1 {
            destination = Some(args.key(index + 1));
            index += 1;
        } else if is_option(option, "by") && left >= 1 {
            let pattern = args.key(index + 1);
            // Once a BY without '*' is seen, nothing is sorted (Redis never resets it).
            if c_str(&pattern).contains(&b'*') {
                by_pattern = Some(pattern);
            } else {
                no_sort = true;
            }
            index += 1;
        } else if is_option(option, "get") && left >= 1 {
            options.gets.push(args.key(index + 1));
            index += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        index += 1;
    }
    options.by = match (no_sort, by_pattern) {
        (true, _) => SortBy::NoSort,
        (false, Some(pattern)) => SortBy::Pattern(pattern),
        (false, None) => SortBy::Element,
    };
    Ok((options, destination))
}

/// SORT's keys, found as Redis's `sortGetKeys` finds them: the sorted key, and the argument
/// after the last STORE, skipping the arguments of LIMIT, GET and BY.
fn sort_key_positions(args: &[Bytes]) -> Option<Vec<usize>> {
    if args.len() < 2 {
        return None;
    }
    let mut destination = None;
    let mut index = 2;
    while index < args.len() {
        let option = &args[index];
        if is_option(option, "limit") {
            index += 2;
        } else if is_option(option, "get") || is_option(option, "by") {
            index += 1;
        } else if is_option(option, "store") && index + 1 < args.len() {
            destination = Some(index + 1);
        }
        index += 1;
    }
    Some(std::iter::once(1).chain(destination).collect())
}

/// SORT_RO's one declared key: the sorted key.
fn sort_ro_key_positions(args: &[Bytes]) -> Option<Vec<usize>> {
    (args.len() >= 2).then(|| vec![1])
}

// ---- sorting ----

/// The collection SORT reads; a missing key sorts as an empty list.
enum Source<'a> {
    List(&'a ListValue),
    Set(&'a SetValue),
    ZSet(&'a ZSet),
    Empty,
}

impl Source<'_> {
    fn len(&self) -> usize {
        match self {
            Source::List(list) => list.len(),
            Source::Set(set) => set.len(),
            Source::ZSet(zset) => zset.len(),
            Source::Empty => 0,
        }
    }

    /// Every element in native order: list order, the set's iteration order (as SMEMBERS),
    /// ascending score order.
    fn elements(&self) -> Vec<Bytes> {
        match self {
            Source::List(list) => list.iter().cloned().collect(),
            Source::Set(set) => set.iter().cloned().collect(),
            Source::ZSet(zset) => zset.iter().map(|(member, _)| member.to_bytes()).collect(),
            Source::Empty => Vec::new(),
        }
    }

    /// The elements at positions `window` of the native order, reversed first for a list or a
    /// sorted set under DESC (a set has no order to reverse), without walking the rest.
    fn window(&self, window: Range<usize>, order: SortOrder) -> Vec<Bytes> {
        let len = self.len();
        let mirrored = len - window.end..len - window.start;
        match (self, order) {
            (Source::List(list), SortOrder::Ascending) => list.range(window).cloned().collect(),
            (Source::List(list), SortOrder::Descending) => {
                let mut elements: Vec<Bytes> = list.range(mirrored).cloned().collect();
                elements.reverse();
                elements
            }
            (Source::ZSet(zset), SortOrder::Ascending) => zset
                .range_by_rank(window)
                .map(|(member, _)| member.to_bytes())
                .collect(),
            (Source::ZSet(zset), SortOrder::Descending) => {
                let mut elements: Vec<Bytes> = zset
                    .range_by_rank(mirrored)
                    .map(|(member, _)| member.to_bytes())
                    .collect();
                elements.reverse();
                elements
            }
            (Source::Set(set), _) => set
                .iter()
                .skip(window.start)
                .take(window.len())
                .cloned()
                .collect(),
            (Source::Empty, _) => Vec::new(),
        }
    }
}

/// The elements SORT outputs, in order, LIMIT applied.
fn sorted(
    ks: &Keyspace,
    key: &Bytes,
    options: &SortOptions,
    store: Store,
    now_ms: u64,
) -> Result<Vec<Bytes>, CommandError> {
    let source = match ks.live(&Slot::new(key.clone()), now_ms) {
        None => Source::Empty,
        Some(Entry { value, .. }) => match value {
            Value::List(list) => Source::List(list),
            Value::Set(set) => Source::Set(set),
            Value::ZSet(zset) => Source::ZSet(zset),
            Value::String(_) | Value::Hash(_) | Value::Stream(_) => {
                return Err(CommandError::WrongType)
            }
        },
    };
    let window = limit_window(options.limit, source.len());
    let (by, compare) = match (&options.by, &source) {
        // A stored result must not depend on the set's internal order: sort it by bytes.
        (SortBy::NoSort, Source::Set(_)) if store == Store::Allowed => {
            (&SortBy::Element, SortCompare::Alpha)
        }
        (SortBy::NoSort, _) => return Ok(source.window(window, options.order)),
        (by, _) => (by, options.compare),
    };
    let elements = source.elements();
    let descending = options.order == SortOrder::Descending;
    let direct = |ordering: Ordering| {
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    let by_value = |element: &Bytes| match by {
        SortBy::Pattern(pattern) => lookup_by_pattern(ks, pattern, element, now_ms),
        SortBy::Element | SortBy::NoSort => Some(element.clone()),
    };
    Ok(match compare {
        SortCompare::Numeric => {
            let mut scored = Vec::with_capacity(elements.len());
            for element in elements {
                // A missing BY value scores 0, as Redis leaves it.
                let score = match by_value(&element) {
                    None => 0.0,
                    Some(value) => strtod_whole(&value).ok_or(CommandError::SortScoreNotDouble)?,
                };
                scored.push((score, element));
            }
            let order = |a: &(f64, Bytes), b: &(f64, Bytes)| {
                direct(
                    a.0.partial_cmp(&b.0)
                        .unwrap_or(Ordering::Equal)
                        .then_with(|| a.1.cmp(&b.1)),
                )
            };
            sort_window(scored, window, order)
                .into_iter()
                .map(|(_, element)| element)
                .collect()
        }
        SortCompare::Alpha => match by {
            SortBy::Pattern(_) => {
                let keyed: Vec<(Option<Bytes>, usize, Bytes)> = elements
                    .into_iter()
                    .enumerate()
                    .map(|(position, element)| (by_value(&element), position, element))
                    .collect();
                // `None < Some`: a missing BY value sorts first. Equal BY values keep the
                // native order, also under DESC.
                let order = |a: &(Option<Bytes>, usize, Bytes),
                             b: &(Option<Bytes>, usize, Bytes)| {
                    direct(a.0.cmp(&b.0)).then_with(|| a.1.cmp(&b.1))
                };
                sort_window(keyed, window, order)
                    .into_iter()
                    .map(|(_, _, element)| element)
                    .collect()
            }
            SortBy::Element | SortBy::NoSort => {
                sort_window(elements, window, |a: &Bytes, b: &Bytes| direct(a.cmp(b)))
            }
        },
    })
}

/// Redis's LIMIT arithmetic: the positions of the sorted result to output.
fn limit_window(limit: Option<SortLimit>, len: usize) -> Range<usize> {
    let SortLimit { offset, count } = limit.unwrap_or(SortLimit {
        offset: 0,
        count: -1,
    });
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = offset.max(0);
    if start >= len {
        return 0..0;
    }
    let last = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count - 1).min(len - 1)
    };
    if last < start {
        return 0..0;
    }
    start as usize..last as usize + 1
}

/// `items` sorted by `order` (a total order on distinct items), then `window` of them. When the
/// window ends early only its prefix is sorted, as Redis's partial quicksort does.
fn sort_window<T>(
    mut items: Vec<T>,
    window: Range<usize>,
    order: impl Fn(&T, &T) -> Ordering,
) -> Vec<T> {
    if window.is_empty() {
        return Vec::new();
    }
    if window.end < items.len() {
        items.select_nth_unstable_by(window.end, &order);
        items.truncate(window.end);
    }
    items.sort_unstable_by(&order);
    items.drain(window.start..).collect()
}

// ---- patterns ----

/// The part of `bytes` C string functions see: everything before the first NUL. Redis finds
/// a pattern's `*`, `->` and a lone `#` with them.
fn c_str(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&byte| byte == 0)
        .map_or(bytes, |nul| &bytes[..nul])
}

/// The value `pattern` names for `element`: `#` is the element itself; otherwise the first `*`
/// is replaced by the element to form a key, whose string value it is, or, when a non-empty
/// field follows a `->` after the `*`, the value of that field of the hash at the key formed
/// from what precedes the `->`. None when there is no `*`, no such key, or it holds another
/// type.
fn lookup_by_pattern(
    ks: &Keyspace,
    pattern: &Bytes,
    element: &Bytes,
    now_ms: u64,
) -> Option<Bytes> {
    let visible = c_str(pattern);
    if visible == b"#" {
        return Some(element.clone());
    }
    let star = visible.iter().position(|&byte| byte == b'*')?;
    let arrow = visible[star + 1..]
        .windows(2)
        .position(|pair| pair == b"->")
        .map(|at| star + 1 + at)
        .filter(|&arrow| arrow + 2 < visible.len());
    let (key_end, field) = match arrow {
        Some(arrow) => (arrow, Some(&pattern[arrow + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end - 1 + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let entry = ks.live(&Slot::new(Bytes::from(key)), now_ms)?;
    match (&entry.value, field) {
        (Value::String(value), None) => Some(value.to_bytes()),
        (Value::Hash(hash), Some(field)) => hash.get(field).map(Bytes::copy_from_slice),
        _ => None,
    }
}

// ---- scores ----

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A sort value as Redis reads it: `strtod` must consume everything up to the first NUL, and
/// the result must be neither NaN nor out of range (ERANGE: overflow, or underflow to zero or
/// to a subnormal). An empty value converts nothing and is 0.
fn strtod_whole(bytes: &[u8]) -> Option<f64> {
    let text = c_str(bytes);
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|&byte| !is_c_space(byte))?;
    let number = &text[start..];
    let (negative, unsigned) = match number.first() {
        Some(b'-') => (true, &number[1..]),
        Some(b'+') => (false, &number[1..]),
        _ => (false, number),
    };
    let (magnitude, nonzero_digits) = match unsigned {
        [b'0', b'x' | b'X', hex @ ..] => parse_hex_float(hex)?,
        _ => parse_decimal_float(unsigned)?,
    };
    let infinite_literal = matches!(unsigned.first(), Some(b'i' | b'I'));
    let out_of_range = (magnitude.is_infinite() && !infinite_literal)
        || (magnitude == 0.0 && nonzero_digits)
        || (magnitude != 0.0 && magnitude.is_finite() && magnitude < f64::MIN_POSITIVE);
    if magnitude.is_nan() || out_of_range {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// An unsigned decimal float, `inf` or `infinity` (any case), and whether its digits are not
/// all zero. Rust's parser accepts the same decimal forms as `strtod` once sign and leading
/// space are gone; NaN literals come back as NaN and are refused by the caller.
fn parse_decimal_float(text: &[u8]) -> Option<(f64, bool)> {
    if text
        .first()
        .is_some_and(|&byte| byte == b'+' || byte == b'-')
    {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    let value: f64 = text.parse().ok()?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    let nonzero = mantissa.bytes().any(|byte| (b'1'..=b'9').contains(&byte));
    Some((value, nonzero))
}

/// The digits after `0x` of a C99 hexadecimal float: hex digits with an optional point (at
/// least one digit), then optionally `p` and a signed decimal binary exponent. Returns the
/// value correctly rounded, and whether any digit is not zero.
fn parse_hex_float(text: &[u8]) -> Option<(f64, bool)> {
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut digits = 0;
    let mut seen_point = false;
    let mut sticky = false;
    let mut index = 0;
    while index < text.len() {
        let byte = text[index];
        if byte == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(digit) = (byte as char).to_digit(16) {
            digits += 1;
            if mantissa >> 60 == 0 {
                mantissa = mantissa * 16 + u64::from(digit);
                if seen_point {
                    exponent -= 4;
                }
            } else {
                // Beyond 60 bits only whether something was dropped matters for rounding.
                sticky |= digit != 0;
                if !seen_point {
                    exponent += 4;
                }
            }
        } else {
            break;
        }
        index += 1;
    }
    if digits == 0 {
        return None;
    }
    if index < text.len() {
        let rest = &text[index..];
        let (marker, signed) = rest.split_first()?;
        if !matches!(marker, b'p' | b'P') {
            return None;
        }
        let (sign, digits) = match signed.first() {
            Some(b'-') => (-1, &signed[1..]),
            Some(b'+') => (1, &signed[1..]),
            _ => (1, signed),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let binary = digits.iter().fold(0i64, |value, &digit| {
            value
                .saturating_mul(10)
                .saturating_add(i64::from(digit - b'0'))
        });
        exponent = exponent.saturating_add(sign * binary);
    }
    let nonzero = mantissa != 0 || sticky;
    if sticky {
        mantissa |= 1;
    }
    Some((scale_by_power_of_two(mantissa as f64, exponent), nonzero))
}

/// `value * 2^exponent` (C's `ldexp`), in steps so a large exponent neither overflows nor
/// underflows on the way when the result is in range.
fn scale_by_power_of_two(mut value: f64, mut exponent: i64) -> f64 {
    const STEP: i64 = 1000;
    while exponent > STEP && value.is_finite() && value != 0.0 {
        value *= 2f64.powi(STEP as i32);
        exponent -= STEP;
    }
    while exponent < -STEP && value != 0.0 {
        value *= 2f64.powi(-STEP as i32);
        exponent += STEP;
    }
    value * 2f64.powi(exponent.clamp(-STEP, STEP) as i32)
}

#[cfg(test)]
mod tests;
