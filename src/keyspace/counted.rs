//! A persistent order-statistic B+ tree: a sorted map that also answers "what is the rank of
//! this key" and "which entry is at rank i" in O(log n), and clones in O(1).
//!
//! Shape: entries live only in leaves; a branch holds its children, one separator key between
//! each pair of neighbours, and the number of entries below each child. Nodes are shared through
//! `Arc` and copied on write (`Arc::make_mut`), so a clone (a snapshot) shares every node with
//! the original and a write copies only the nodes on the path it changes.
//!
//! Invariants, checked by `check` in the tests after every batch of random operations:
//! - keys are strictly ascending across the leaves, left to right;
//! - in a branch, `seps[i]` separates its neighbours: every key below `children[i]` is
//!   `< seps[i]`, and every key below `children[i + 1]` is `>= seps[i]`. A separator may be a key
//!   that has since been removed (it stays a valid bound), so lookups never touch it for data;
//! - `counts[i]` is the number of entries below `children[i]`, and the tree's `len` their sum;
//! - every leaf is at the same depth; every node except the root holds at least half its
//!   maximum (`leaf_min` entries, `BRANCH_MIN` children), and at most the maximum; a root branch
//!   has at least two children, and an empty tree has no root.

use std::cmp::Ordering;
use std::iter::FusedIterator;
use std::ops::{Bound, Range, RangeBounds};
use std::sync::Arc;

/// Entries per leaf at most: wide nodes keep the tree shallow and its scans cache-friendly.
/// Large entries get fewer (see [`leaf_max`]).
const LEAF_MAX: usize = 64;
/// A leaf of large entries holds what fits in this many bytes, room for one more included.
const LEAF_BYTES_MAX: usize = 4096;
/// Fewest entries a leaf of large entries holds at most.
const LEAF_MAX_FLOOR: usize = 16;

/// Entries per leaf at most for entries of type `(K, V)`: [`LEAF_MAX`], unless a leaf of that
/// many (plus the one it makes room for just before it splits) would spill past
/// [`LEAF_BYTES_MAX`]; then as many as fit. The allocator rounds a buffer up to its size class
/// (4608 bytes, 64 top-level pairs of 72 bytes, take a 5120-byte block; 55 fit in 4096), so a
/// full leaf of large entries would pay a tenth more for the same entries.
const fn leaf_max<K, V>() -> usize {
    let pair = std::mem::size_of::<(K, V)>();
    if pair == 0 || (LEAF_MAX + 1) * pair <= LEAF_BYTES_MAX {
        return LEAF_MAX;
    }
    let fit = LEAF_BYTES_MAX / pair;
    if fit > LEAF_MAX_FLOOR {
        fit - 1
    } else {
        LEAF_MAX_FLOOR
    }
}

/// Entries per leaf at least (except in a root leaf).
const fn leaf_min<K, V>() -> usize {
    leaf_max::<K, V>() / 2
}
/// Children per branch at most.
const BRANCH_MAX: usize = 64;
const BRANCH_MIN: usize = BRANCH_MAX / 2;
/// A rank range removal that takes at least 1/this of the entries rebuilds the tree from the
/// survivors (O(n)) instead of removing entries one by one (O(m log n)).
const REBUILD_FRACTION: usize = 4;

/// A sorted map from `K` to `V` with ranks; see the module docs.
#[derive(Clone)]
pub(crate) struct CountedMap<K, V> {
    root: Option<Arc<Node<K, V>>>,
    len: usize,
}

#[derive(Clone)]
enum Node<K, V> {
    Leaf(Vec<(K, V)>),
    Branch(Branch<K, V>),
}

#[derive(Clone)]
struct Branch<K, V> {
    /// `children.len() - 1` separators; see the module invariants.
    seps: Vec<K>,
    children: Vec<Arc<Node<K, V>>>,
    /// Entries below each child.
    counts: Vec<usize>,
}

/// A subtree built by `from_sorted`: the node, the entries below it, its smallest key.
type Built<K, V> = (Arc<Node<K, V>>, usize, K);

/// The leaf a search ends in, and where in it the key is (`Ok`) or would go (`Err`).
type Found<'a, K, V> = (&'a [(K, V)], Result<usize, usize>);

/// What an insert into a subtree did to its shape: the subtree split, and `right` (holding
/// `right_len` entries, all `>= sep`) is the new right sibling.
struct Split<K, V> {
    sep: K,
    right: Arc<Node<K, V>>,
    right_len: usize,
}

impl<K, V> Default for CountedMap<K, V> {
    fn default() -> Self {
        CountedMap { root: None, len: 0 }
    }
}

impl<K: std::fmt::Debug + Ord + Clone, V: std::fmt::Debug + Clone> std::fmt::Debug
    for CountedMap<K, V>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K, V> Node<K, V> {
    /// Entries in a leaf, children in a branch: what the occupancy bounds apply to.
    fn width(&self) -> usize {
        match self {
            Node::Leaf(entries) => entries.len(),
            Node::Branch(branch) => branch.children.len(),
        }
    }

    fn is_underfull(&self) -> bool {
        match self {
            Node::Leaf(entries) => entries.len() < leaf_min::<K, V>(),
            Node::Branch(branch) => branch.children.len() < BRANCH_MIN,
        }
    }

    fn min_width(&self) -> usize {
        match self {
            Node::Leaf(_) => leaf_min::<K, V>(),
            Node::Branch(_) => BRANCH_MIN,
        }
    }
}

impl<K, V> Branch<K, V> {
    /// The child holding rank `index` of this subtree, and the rank within that child.
    fn locate(&self, mut index: usize) -> (usize, usize) {
        for (child, &count) in self.counts.iter().enumerate() {
            if index < count {
                return (child, index);
            }
            index -= count;
        }
        unreachable!("rank beyond the subtree's count")
    }

    fn entries_before(&self, child: usize) -> usize {
        self.counts[..child].iter().sum()
    }
}

impl<K: Ord + Clone, V: Clone> CountedMap<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Builds a map from entries in strictly ascending key order, in O(n).
    pub(crate) fn from_sorted(entries: Vec<(K, V)>) -> Self {
        debug_assert!(
            entries.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "from_sorted needs strictly ascending keys"
        );
        let len = entries.len();
        if len == 0 {
            return Self::default();
        }
        Self::from_leaves(even_chunks(entries, leaf_max::<K, V>()), len)
    }

    /// Builds the branches above `leaves`: non-empty, ascending across, each within the leaf
    /// bounds (a single leaf may hold fewer), `len` entries in all.
    fn from_leaves(leaves: Vec<Vec<(K, V)>>, len: usize) -> Self {
        let mut level: Vec<Built<K, V>> = leaves
            .into_iter()
            .map(|leaf| {
                let first = leaf[0].0.clone();
                let len = leaf.len();
                (Arc::new(Node::Leaf(leaf)), len, first)
            })
            .collect();
        while level.len() > 1 {
            level = even_chunks(level, BRANCH_MAX)
                .into_iter()
                .map(|group| {
                    let mut seps = Vec::with_capacity(group.len() - 1);
                    let mut children = Vec::with_capacity(group.len());
                    let mut counts = Vec::with_capacity(group.len());
                    let mut first = None;
                    for (child, count, child_first) in group {
                        if first.is_none() {
                            first = Some(child_first);
                        } else {
                            seps.push(child_first);
                        }
                        children.push(child);
                        counts.push(count);
                    }
                    let total = counts.iter().sum();
                    let branch = Branch {
                        seps,
                        children,
                        counts,
                    };
                    let first = first.expect("a group is never empty");
                    (Arc::new(Node::Branch(branch)), total, first)
                })
                .collect();
        }
        let (root, _, _) = level.pop().expect("one node is left");
        CountedMap {
            root: Some(root),
            len,
        }
    }

    /// Every entry in ascending order, taking the nodes this map alone holds instead of
    /// copying them.
    pub(crate) fn into_sorted_vec(self) -> Vec<(K, V)> {
        fn drain<K: Clone, V: Clone>(node: Arc<Node<K, V>>, out: &mut Vec<(K, V)>) {
            match Arc::unwrap_or_clone(node) {
                Node::Leaf(entries) => out.extend(entries),
                Node::Branch(branch) => {
                    for child in branch.children {
                        drain(child, out);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(self.len);
        if let Some(root) = self.root {
            drain(root, &mut out);
        }
        out
    }

    // ---- lookups ----

    /// The entry `cmp` finds: `cmp(key)` tells how `key` orders against the wanted one, as
    /// `Ord::cmp(key, wanted)` would (so callers can search without building a key).
    pub(crate) fn get_by(&self, cmp: impl FnMut(&K) -> Ordering) -> Option<(&K, &V)> {
        let (leaf, found) = self.search(cmp)?;
        let index = found.ok()?;
        let (key, value) = &leaf[index];
        Some((key, value))
    }

    /// Mutable access to the value `cmp` finds (see [`Self::get_by`]). Copies the nodes on its
    /// path that a clone still shares; a miss copies nothing.
    pub(crate) fn get_mut_by(&mut self, mut cmp: impl FnMut(&K) -> Ordering) -> Option<&mut V> {
        self.get_by(&mut cmp)?;
        let mut node = Arc::make_mut(self.root.as_mut()?);
        loop {
            match node {
                Node::Leaf(entries) => {
                    let index = entries.binary_search_by(|(key, _)| cmp(key)).ok()?;
                    return Some(&mut entries[index].1);
                }
                Node::Branch(branch) => {
                    let child = branch.seps.partition_point(|sep| cmp(sep).is_le());
                    node = Arc::make_mut(&mut branch.children[child]);
                }
            }
        }
    }

    /// `Ok(rank)` of the entry `cmp` finds, or `Err(rank)` it would have if inserted (the number
    /// of keys ordered before it), like `slice::binary_search_by`.
    pub(crate) fn rank_by(&self, mut cmp: impl FnMut(&K) -> Ordering) -> Result<usize, usize> {
        let Some(mut node) = self.root.as_deref() else {
            return Err(0);
        };
        let mut before = 0;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return match entries.binary_search_by(|(key, _)| cmp(key)) {
                        Ok(index) => Ok(before + index),
                        Err(index) => Err(before + index),
                    };
                }
                Node::Branch(branch) => {
                    let child = branch.seps.partition_point(|sep| cmp(sep).is_le());
                    before += branch.entries_before(child);
                    node = &branch.children[child];
                }
            }
        }
    }

    /// How many leading keys satisfy `pred`, which must hold for a prefix of the key order and
    /// fail after it (like `slice::partition_point`). O(log n). With a predicate that is not
    /// monotone the answer is some position in `0..=len`, never a panic.
    pub(crate) fn count_while(&self, mut pred: impl FnMut(&K) -> bool) -> usize {
        let Some(mut node) = self.root.as_deref() else {
            return 0;
        };
        let mut before = 0;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return before + entries.partition_point(|(key, _)| pred(key))
                }
                Node::Branch(branch) => {
                    // Every key below children[..child] is < a separator that satisfies pred.
                    let child = branch.seps.partition_point(|sep| pred(sep));
                    before += branch.entries_before(child);
                    node = &branch.children[child];
                }
            }
        }
    }

    /// The entry at rank `index` (0-based, ascending).
    pub(crate) fn select(&self, mut index: usize) -> Option<(&K, &V)> {
        if index >= self.len {
            return None;
        }
        let mut node = self.root.as_deref()?;
        loop {
            match node {
                Node::Leaf(entries) => {
                    let (key, value) = &entries[index];
                    return Some((key, value));
                }
                Node::Branch(branch) => {
                    let (child, within) = branch.locate(index);
                    index = within;
                    node = &branch.children[child];
                }
            }
        }
    }

    /// Descends to the leaf where `cmp` would find its key.
    fn search(&self, mut cmp: impl FnMut(&K) -> Ordering) -> Option<Found<'_, K, V>> {
        let mut node = self.root.as_deref()?;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return Some((entries, entries.binary_search_by(|(key, _)| cmp(key))));
                }
                Node::Branch(branch) => {
                    let child = branch.seps.partition_point(|sep| cmp(sep).is_le());
                    node = &branch.children[child];
                }
            }
        }
    }

    // ---- iteration ----

    /// All entries, ascending; double-ended.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        self.range_by_rank(0..self.len)
    }

    /// The entries at ranks `ranks` (clamped to the map), ascending; double-ended. O(log n) to
    /// start, then amortised O(1) per entry.
    pub(crate) fn range_by_rank(&self, ranks: Range<usize>) -> Iter<'_, K, V> {
        let end = ranks.end.min(self.len);
        let start = ranks.start.min(end);
        match self.root.as_deref() {
            Some(root) if start < end => Iter {
                front: Cursor::at(root, start),
                back: Cursor::at(root, end - 1),
                remaining: end - start,
            },
            _ => Iter::empty(),
        }
    }

    // ---- updates ----

    /// Inserts or replaces; returns the previous value (the stored key is kept on replace).
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Arc::new(Node::Leaf(vec![(key, value)])));
            self.len = 1;
            return None;
        };
        let (previous, split) = insert_into(root, key, value);
        if previous.is_some() {
            return previous;
        }
        self.len += 1;
        if let Some(Split {
            sep,
            right,
            right_len,
        }) = split
        {
            let left = self.root.take().expect("the root was just split");
            self.root = Some(Arc::new(Node::Branch(Branch {
                seps: vec![sep],
                children: vec![left, right],
                counts: vec![self.len - right_len, right_len],
            })));
        }
        None
    }

    /// Removes the entry `cmp` finds (see [`Self::get_by`]). A miss copies nothing.
    pub(crate) fn remove_by(&mut self, cmp: impl FnMut(&K) -> Ordering) -> Option<(K, V)> {
        let rank = self.rank_by(cmp).ok()?;
        self.remove_at(rank)
    }

    /// Removes the entry at rank `index`.
    pub(crate) fn remove_at(&mut self, index: usize) -> Option<(K, V)> {
        if index >= self.len {
            return None;
        }
        let root = self.root.as_mut()?;
        let removed = remove_at(root, index);
        self.len -= 1;
        // Shrink the root: a branch left with one child hands over to it; an empty leaf goes.
        let collapse = match root.as_ref() {
            Node::Branch(branch) if branch.children.len() == 1 => Some(branch.children[0].clone()),
            Node::Leaf(entries) if entries.is_empty() => None,
            _ => return Some(removed),
        };
        self.root = collapse;
        Some(removed)
    }

    pub(crate) fn pop_first(&mut self) -> Option<(K, V)> {
        self.remove_at(0)
    }

    pub(crate) fn pop_last(&mut self) -> Option<(K, V)> {
        self.remove_at(self.len.checked_sub(1)?)
    }

    /// Removes the entries at ranks `ranks` (clamped) and returns them, ascending. Locating the
    /// range is O(log n); a small range is removed entry by entry, a large one by rebuilding
    /// from the survivors, so the cost is O(min(m log n, n)).
    pub(crate) fn remove_range_by_rank(&mut self, ranks: Range<usize>) -> Vec<(K, V)> {
        let end = ranks.end.min(self.len);
        let start = ranks.start.min(end);
        let count = end - start;
        if count == 0 {
            return Vec::new();
        }
        if count.saturating_mul(REBUILD_FRACTION) >= self.len {
            let mut entries = std::mem::take(self).into_sorted_vec();
            let removed: Vec<(K, V)> = entries.drain(start..end).collect();
            *self = Self::from_sorted(entries);
            return removed;
        }
        (0..count)
            .map(|_| self.remove_at(start).expect("rank is within the map"))
            .collect()
    }
}

/// Key-typed conveniences over the comparator forms above. The sorted set searches by
/// comparator (no key to build for a lookup), so only the tests use some of these today.
#[allow(dead_code)]
impl<K: Ord + Clone, V: Clone> CountedMap<K, V> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.get_by(|probe| probe.cmp(key)).map(|(_, value)| value)
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.get_mut_by(|probe| probe.cmp(key))
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn rank(&self, key: &K) -> Result<usize, usize> {
        self.rank_by(|probe| probe.cmp(key))
    }

    pub(crate) fn first(&self) -> Option<(&K, &V)> {
        self.select(0)
    }

    pub(crate) fn last(&self) -> Option<(&K, &V)> {
        self.select(self.len.checked_sub(1)?)
    }

    /// The ranks of the keys within `bounds`: `start..end` with `start <= end`.
    pub(crate) fn ranks_of<R: RangeBounds<K>>(&self, bounds: R) -> Range<usize> {
        let start = match bounds.start_bound() {
            Bound::Included(key) => self.count_while(|probe| probe < key),
            Bound::Excluded(key) => self.count_while(|probe| probe <= key),
            Bound::Unbounded => 0,
        };
        let end = match bounds.end_bound() {
            Bound::Included(key) => self.count_while(|probe| probe <= key),
            Bound::Excluded(key) => self.count_while(|probe| probe < key),
            Bound::Unbounded => self.len,
        };
        start..end.max(start)
    }

    /// The entries whose keys lie within `bounds`, ascending; double-ended.
    pub(crate) fn range<R: RangeBounds<K>>(&self, bounds: R) -> Iter<'_, K, V> {
        self.range_by_rank(self.ranks_of(bounds))
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<(K, V)> {
        self.remove_by(|probe| probe.cmp(key))
    }
}

/// Builds a map from entries pushed in strictly ascending key order, in O(n), with full leaves
/// (inserting ascending keys one by one splits every leaf in half and leaves it so). Memory
/// beyond the entries themselves: one `Vec` header per leaf until `finish`.
pub(crate) struct SortedBuilder<K, V> {
    leaves: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for SortedBuilder<K, V> {
    fn default() -> Self {
        SortedBuilder {
            leaves: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Ord + Clone, V: Clone> SortedBuilder<K, V> {
    /// The greatest key pushed so far.
    pub(crate) fn last(&self) -> Option<&K> {
        self.leaves.last()?.last().map(|(key, _)| key)
    }

    /// Appends an entry; its key must be greater than [`Self::last`].
    pub(crate) fn push(&mut self, key: K, value: V) {
        debug_assert!(self.last().is_none_or(|last| *last < key));
        match self.leaves.last_mut() {
            Some(leaf) if leaf.len() < leaf_max::<K, V>() => leaf.push((key, value)),
            _ => {
                let mut leaf = Vec::with_capacity(leaf_max::<K, V>());
                leaf.push((key, value));
                self.leaves.push(leaf);
            }
        }
        self.len += 1;
    }

    pub(crate) fn finish(mut self) -> CountedMap<K, V> {
        if self.len == 0 {
            return CountedMap::default();
        }
        let count = self.leaves.len();
        if count >= 2 && self.leaves[count - 1].len() < leaf_min::<K, V>() {
            // The last leaf is short: share the last two leaves' entries evenly.
            let last = self.leaves.pop().expect("two leaves");
            let mut both = self.leaves.pop().expect("two leaves");
            both.extend(last);
            let right = both.split_off(both.len() / 2);
            both.shrink_to_fit();
            self.leaves.push(both);
            self.leaves.push(right);
        }
        CountedMap::from_leaves(self.leaves, self.len)
    }
}

/// Splits `items` into the fewest chunks of at most `max`, as even as possible (so every chunk
/// holds at least `max / 2` when there are two or more).
fn even_chunks<T>(items: Vec<T>, max: usize) -> Vec<Vec<T>> {
    let chunk_count = items.len().div_ceil(max);
    let base = items.len() / chunk_count;
    let extra = items.len() % chunk_count;
    let mut chunks = Vec::with_capacity(chunk_count);
    let mut items = items.into_iter();
    for index in 0..chunk_count {
        let size = base + usize::from(index < extra);
        chunks.push(items.by_ref().take(size).collect());
    }
    chunks
}

/// Makes room for one more entry in a full leaf, growing it by half (at least 4) but never past
/// `leaf_max + 1` (the size at which it splits). A doubling `Vec` would leave a leaf of 65 with
/// room for 128, and a split half keeping that room: the unused room of leaves is most of the
/// memory a map of small entries takes (a top-level key is about 100 bytes of leaf).
fn reserve_leaf_room<K, V>(entries: &mut Vec<(K, V)>) {
    let len = entries.len();
    if len < entries.capacity() {
        return;
    }
    let max = leaf_max::<K, V>();
    let extra = (len / 2).max(4).min(max + 1 - len.min(max));
    entries.reserve_exact(extra);
}

/// Inserts below `node`; returns the replaced value, or the split the node went through.
fn insert_into<K: Ord + Clone, V: Clone>(
    node: &mut Arc<Node<K, V>>,
    key: K,
    value: V,
) -> (Option<V>, Option<Split<K, V>>) {
    match Arc::make_mut(node) {
        Node::Leaf(entries) => match entries.binary_search_by(|(probe, _)| probe.cmp(&key)) {
            Ok(index) => (Some(std::mem::replace(&mut entries[index].1, value)), None),
            Err(index) => {
                reserve_leaf_room(entries);
                entries.insert(index, (key, value));
                if entries.len() <= leaf_max::<K, V>() {
                    return (None, None);
                }
                let right = entries.split_off(entries.len() / 2);
                entries.shrink_to_fit();
                let split = Split {
                    sep: right[0].0.clone(),
                    right_len: right.len(),
                    right: Arc::new(Node::Leaf(right)),
                };
                (None, Some(split))
            }
        },
        Node::Branch(branch) => {
            let child = branch.seps.partition_point(|sep| sep <= &key);
            let (previous, split) = insert_into(&mut branch.children[child], key, value);
            if previous.is_some() {
                return (previous, None);
            }
            branch.counts[child] += 1;
            let Some(Split {
                sep,
                right,
                right_len,
            }) = split
            else {
                return (None, None);
            };
            branch.counts[child] -= right_len;
            branch.seps.insert(child, sep);
            branch.children.insert(child + 1, right);
            branch.counts.insert(child + 1, right_len);
            if branch.children.len() <= BRANCH_MAX {
                return (None, None);
            }
            // Children [..middle] stay; the separator between the halves moves up.
            let middle = branch.children.len() / 2;
            let right_seps = branch.seps.split_off(middle);
            let up = branch.seps.pop().expect("a full branch has separators");
            let right_children = branch.children.split_off(middle);
            let right_counts = branch.counts.split_off(middle);
            let right_len = right_counts.iter().sum();
            let right = Branch {
                seps: right_seps,
                children: right_children,
                counts: right_counts,
            };
            let split = Split {
                sep: up,
                right: Arc::new(Node::Branch(right)),
                right_len,
            };
            (None, Some(split))
        }
    }
}

/// Removes the entry at rank `index` below `node`, which must exist; rebalances the child it
/// came from if that child fell below its minimum (the caller fixes `node` itself).
fn remove_at<K: Ord + Clone, V: Clone>(node: &mut Arc<Node<K, V>>, index: usize) -> (K, V) {
    match Arc::make_mut(node) {
        Node::Leaf(entries) => entries.remove(index),
        Node::Branch(branch) => {
            let (child, within) = branch.locate(index);
            let removed = remove_at(&mut branch.children[child], within);
            branch.counts[child] -= 1;
            if branch.children[child].is_underfull() {
                rebalance(branch, child);
            }
            removed
        }
    }
}

/// Brings `branch.children[child]`, one below its minimum, back within bounds: borrow one
/// element from a neighbour that can spare it, or merge with a neighbour.
fn rebalance<K: Ord + Clone, V: Clone>(branch: &mut Branch<K, V>, child: usize) {
    let spare = |node: &Arc<Node<K, V>>| node.width() > node.min_width();
    if child > 0 && spare(&branch.children[child - 1]) {
        borrow_from_left(branch, child);
    } else if child + 1 < branch.children.len() && spare(&branch.children[child + 1]) {
        borrow_from_right(branch, child);
    } else if child > 0 {
        merge(branch, child - 1);
    } else {
        merge(branch, child);
    }
}

/// Moves the last element of `children[child - 1]` to the front of `children[child]`.
fn borrow_from_left<K: Ord + Clone, V: Clone>(branch: &mut Branch<K, V>, child: usize) {
    let (lefts, rights) = branch.children.split_at_mut(child);
    let left = Arc::make_mut(&mut lefts[child - 1]);
    let target = Arc::make_mut(&mut rights[0]);
    let moved = match (left, target) {
        (Node::Leaf(left), Node::Leaf(target)) => {
            let entry = left.pop().expect("a sparing leaf is not empty");
            branch.seps[child - 1] = entry.0.clone();
            target.insert(0, entry);
            1
        }
        (Node::Branch(left), Node::Branch(target)) => {
            let node = left.children.pop().expect("a sparing branch has children");
            let count = left.counts.pop().expect("counts match children");
            let sep = left.seps.pop().expect("a sparing branch has separators");
            // The old parent separator now divides the moved child from target's first.
            let down = std::mem::replace(&mut branch.seps[child - 1], sep);
            target.seps.insert(0, down);
            target.children.insert(0, node);
            target.counts.insert(0, count);
            count
        }
        _ => unreachable!("siblings are at the same depth"),
    };
    branch.counts[child - 1] -= moved;
    branch.counts[child] += moved;
}

/// Moves the first element of `children[child + 1]` to the end of `children[child]`.
fn borrow_from_right<K: Ord + Clone, V: Clone>(branch: &mut Branch<K, V>, child: usize) {
    let (lefts, rights) = branch.children.split_at_mut(child + 1);
    let target = Arc::make_mut(&mut lefts[child]);
    let right = Arc::make_mut(&mut rights[0]);
    let moved = match (target, right) {
        (Node::Leaf(target), Node::Leaf(right)) => {
            target.push(right.remove(0));
            branch.seps[child] = right[0].0.clone();
            1
        }
        (Node::Branch(target), Node::Branch(right)) => {
            let node = right.children.remove(0);
            let count = right.counts.remove(0);
            let sep = right.seps.remove(0);
            let down = std::mem::replace(&mut branch.seps[child], sep);
            target.seps.push(down);
            target.children.push(node);
            target.counts.push(count);
            count
        }
        _ => unreachable!("siblings are at the same depth"),
    };
    branch.counts[child + 1] -= moved;
    branch.counts[child] += moved;
}

/// Merges `children[left + 1]` into `children[left]` (together they fit in one node).
fn merge<K: Ord + Clone, V: Clone>(branch: &mut Branch<K, V>, left: usize) {
    let right = branch.children.remove(left + 1);
    let right_count = branch.counts.remove(left + 1);
    let sep = branch.seps.remove(left);
    branch.counts[left] += right_count;
    match (
        Arc::make_mut(&mut branch.children[left]),
        Arc::unwrap_or_clone(right),
    ) {
        (Node::Leaf(target), Node::Leaf(right)) => target.extend(right),
        (Node::Branch(target), Node::Branch(right)) => {
            target.seps.push(sep);
            target.seps.extend(right.seps);
            target.children.extend(right.children);
            target.counts.extend(right.counts);
        }
        _ => unreachable!("siblings are at the same depth"),
    }
}

/// A position in the tree: the branches from the root down with the child taken in each, and
/// the leaf reached.
struct Cursor<'a, K, V> {
    path: Vec<(&'a Branch<K, V>, usize)>,
    leaf: &'a [(K, V)],
    position: usize,
}

impl<'a, K, V> Cursor<'a, K, V> {
    fn empty() -> Self {
        Cursor {
            path: Vec::new(),
            leaf: &[],
            position: 0,
        }
    }

    /// At rank `index`, which must be within the tree.
    fn at(root: &'a Node<K, V>, mut index: usize) -> Self {
        let mut path = Vec::new();
        let mut node = root;
        loop {
            match node {
                Node::Leaf(entries) => {
                    return Cursor {
                        path,
                        leaf: entries,
                        position: index,
                    };
                }
                Node::Branch(branch) => {
                    let (child, within) = branch.locate(index);
                    path.push((branch, child));
                    index = within;
                    node = &branch.children[child];
                }
            }
        }
    }

    fn current(&self) -> &'a (K, V) {
        &self.leaf[self.position]
    }

    /// Steps to the next entry; the caller knows there is one.
    fn advance(&mut self) {
        self.position += 1;
        if self.position < self.leaf.len() {
            return;
        }
        while let Some((branch, child)) = self.path.last_mut() {
            if *child + 1 < branch.children.len() {
                *child += 1;
                let node: &'a Node<K, V> = &branch.children[*child];
                self.descend(node, |_| 0);
                return;
            }
            self.path.pop();
        }
    }

    /// Steps to the previous entry; the caller knows there is one.
    fn retreat(&mut self) {
        if self.position > 0 {
            self.position -= 1;
            return;
        }
        while let Some((branch, child)) = self.path.last_mut() {
            if *child > 0 {
                *child -= 1;
                let node: &'a Node<K, V> = &branch.children[*child];
                self.descend(node, |width| width - 1);
                self.position = self.leaf.len() - 1;
                return;
            }
            self.path.pop();
        }
    }

    /// Walks down from `node` taking child `pick(width)` in each branch, to a leaf.
    fn descend(&mut self, mut node: &'a Node<K, V>, pick: impl Fn(usize) -> usize) {
        loop {
            match node {
                Node::Leaf(entries) => {
                    self.leaf = entries;
                    self.position = 0;
                    return;
                }
                Node::Branch(branch) => {
                    let child = pick(branch.children.len());
                    self.path.push((branch, child));
                    node = &branch.children[child];
                }
            }
        }
    }
}

/// Entries of a rank range, from both ends.
pub(crate) struct Iter<'a, K, V> {
    front: Cursor<'a, K, V>,
    back: Cursor<'a, K, V>,
    remaining: usize,
}

impl<K, V> Iter<'_, K, V> {
    fn empty() -> Self {
        Iter {
            front: Cursor::empty(),
            back: Cursor::empty(),
            remaining: 0,
        }
    }
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (key, value) = self.front.current();
        self.remaining -= 1;
        if self.remaining > 0 {
            self.front.advance();
        }
        Some((key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let (key, value) = self.back.current();
        self.remaining -= 1;
        if self.remaining > 0 {
            self.back.retreat();
        }
        Some((key, value))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}
impl<K, V> FusedIterator for Iter<'_, K, V> {}

#[cfg(test)]
impl<K: Ord + Clone + std::fmt::Debug, V: Clone> CountedMap<K, V> {
    /// Asserts every module invariant; returns the depth.
    fn check(&self) -> usize {
        let Some(root) = self.root.as_deref() else {
            assert_eq!(self.len, 0, "an empty tree has no root");
            return 0;
        };
        if let Node::Branch(branch) = root {
            assert!(branch.children.len() >= 2, "a root branch has two children");
        }
        let (count, depth) = check_node(root, None, None, true);
        assert_eq!(count, self.len, "len is the sum of the entries");
        depth
    }
}

/// Checks the subtree below `node` whose keys must lie in `[low, high)`; returns (entries,
/// depth).
#[cfg(test)]
fn check_node<K: Ord + std::fmt::Debug, V>(
    node: &Node<K, V>,
    low: Option<&K>,
    high: Option<&K>,
    is_root: bool,
) -> (usize, usize) {
    if !is_root {
        assert!(node.width() >= node.min_width(), "node below its minimum");
    }
    match node {
        Node::Leaf(entries) => {
            assert!(
                entries.len() <= leaf_max::<K, V>(),
                "leaf above its maximum"
            );
            assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0));
            if let (Some(low), Some((first, _))) = (low, entries.first()) {
                assert!(first >= low, "{first:?} below its separator {low:?}");
            }
            if let (Some(high), Some((last, _))) = (high, entries.last()) {
                assert!(last < high, "{last:?} not below its separator {high:?}");
            }
            (entries.len(), 1)
        }
        Node::Branch(branch) => {
            assert!(
                branch.children.len() <= BRANCH_MAX,
                "branch above its maximum"
            );
            assert_eq!(branch.seps.len() + 1, branch.children.len());
            assert_eq!(branch.counts.len(), branch.children.len());
            assert!(branch.seps.windows(2).all(|pair| pair[0] < pair[1]));
            let mut total = 0;
            let mut depth = None;
            for (index, child) in branch.children.iter().enumerate() {
                let child_low = if index == 0 {
                    low
                } else {
                    Some(&branch.seps[index - 1])
                };
                let child_high = branch.seps.get(index).or(high);
                let (count, child_depth) = check_node(child, child_low, child_high, false);
                assert_eq!(count, branch.counts[index], "count of child {index}");
                assert!(
                    depth.is_none_or(|d| d == child_depth),
                    "leaves at one depth"
                );
                depth = Some(child_depth);
                total += count;
            }
            (total, depth.expect("a branch has children") + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// SplitMix64: a fixed, seedable sequence, so every failure names a seed that replays it.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    type Model = BTreeMap<u32, u32>;

    fn assert_same(tree: &CountedMap<u32, u32>, model: &Model, context: &str) {
        assert_eq!(tree.len(), model.len(), "{context}: len");
        let entries: Vec<(u32, u32)> = tree.iter().map(|(k, v)| (*k, *v)).collect();
        let expected: Vec<(u32, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(entries, expected, "{context}: entries");
        let reversed: Vec<(u32, u32)> = tree.iter().rev().map(|(k, v)| (*k, *v)).collect();
        assert!(
            reversed.iter().rev().eq(expected.iter()),
            "{context}: reverse"
        );
    }

    fn bound(rng: &mut Rng, key_space: u32) -> Bound<u32> {
        let key = rng.below(key_space as usize + 2) as u32;
        match rng.below(3) {
            0 => Bound::Included(key),
            1 => Bound::Excluded(key),
            _ => Bound::Unbounded,
        }
    }

    /// Random operations against a `BTreeMap`, with snapshots (clones) taken along the way that
    /// must keep their contents while the original changes; invariants checked as it goes.
    fn run_model(seed: u64, operations: usize, key_space: u32) {
        let mut rng = Rng(seed);
        let mut tree = CountedMap::new();
        let mut model = Model::new();
        let mut snapshots: Vec<(CountedMap<u32, u32>, Model)> = Vec::new();
        let mut depth_max = 0;
        for step in 0..operations {
            let context = format!("seed {seed} step {step}");
            let key = rng.below(key_space as usize) as u32;
            match rng.below(100) {
                // Inserts outweigh removals so the tree grows deep, then the removals win.
                0..=44 if step < operations / 2 => {
                    let value = rng.next() as u32;
                    assert_eq!(
                        tree.insert(key, value),
                        model.insert(key, value),
                        "{context}"
                    );
                }
                0..=29 => {
                    let value = rng.next() as u32;
                    assert_eq!(
                        tree.insert(key, value),
                        model.insert(key, value),
                        "{context}"
                    );
                }
                30..=59 => {
                    let expected = model.remove_entry(&key);
                    assert_eq!(tree.remove(&key), expected, "{context}: remove {key}");
                }
                60..=64 => {
                    let rank = model.range(..key).count();
                    let expected = if model.contains_key(&key) {
                        Ok(rank)
                    } else {
                        Err(rank)
                    };
                    assert_eq!(tree.rank(&key), expected, "{context}: rank {key}");
                    assert_eq!(tree.get(&key), model.get(&key), "{context}: get {key}");
                    let bumped = |value: &mut u32| {
                        *value = value.wrapping_add(1);
                        *value
                    };
                    assert_eq!(
                        tree.get_mut(&key).map(bumped),
                        model.get_mut(&key).map(bumped),
                        "{context}: get_mut {key}"
                    );
                    assert_eq!(tree.count_while(|probe| *probe < key), rank, "{context}");
                }
                65..=69 if !model.is_empty() => {
                    let index = rng.below(model.len());
                    let expected = model.iter().nth(index);
                    assert_eq!(tree.select(index), expected, "{context}: select {index}");
                    assert_eq!(tree.select(model.len()), None, "{context}");
                }
                70..=77 => {
                    let (low, high) = (bound(&mut rng, key_space), bound(&mut rng, key_space));
                    let invalid = match (low, high) {
                        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b))
                        | (Bound::Included(a), Bound::Excluded(b)) => a > b,
                        (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
                        _ => false,
                    };
                    let expected: Vec<(u32, u32)> = if invalid {
                        Vec::new()
                    } else {
                        model.range((low, high)).map(|(k, v)| (*k, *v)).collect()
                    };
                    // Walk from both ends at random; the two ends must meet exactly.
                    let mut range = tree.range((low, high));
                    assert_eq!(range.len(), expected.len(), "{context}: range len");
                    let (mut front, mut back) = (Vec::new(), Vec::new());
                    loop {
                        let item = if rng.below(2) == 0 {
                            range.next().map(|item| front.push(item))
                        } else {
                            range.next_back().map(|item| back.push(item))
                        };
                        if item.is_none() {
                            break;
                        }
                    }
                    let walked: Vec<(u32, u32)> = front
                        .into_iter()
                        .chain(back.into_iter().rev())
                        .map(|(k, v)| (*k, *v))
                        .collect();
                    assert_eq!(walked, expected, "{context}: range {low:?}..{high:?}");
                }
                78..=80 => {
                    let start = rng.below(model.len() + 2);
                    let end = start + rng.below(40);
                    let expected: Vec<(u32, u32)> = model
                        .iter()
                        .skip(start)
                        .take(end - start)
                        .map(|(k, v)| (*k, *v))
                        .collect();
                    let got: Vec<(u32, u32)> = tree
                        .range_by_rank(start..end)
                        .map(|(k, v)| (*k, *v))
                        .collect();
                    assert_eq!(got, expected, "{context}: ranks {start}..{end}");
                }
                81..=84 => {
                    let (got, expected) = if rng.below(2) == 0 {
                        (tree.pop_first(), model.pop_first())
                    } else {
                        (tree.pop_last(), model.pop_last())
                    };
                    assert_eq!(got, expected, "{context}: pop");
                }
                85..=86 => {
                    // Mostly small ranges (one by one), sometimes large ones (rebuild).
                    let start = rng.below(model.len() + 1);
                    let width = if rng.below(50) == 0 {
                        rng.below(model.len() / 2 + 1)
                    } else {
                        rng.below(8)
                    };
                    let keys: Vec<u32> = model.keys().skip(start).take(width).copied().collect();
                    let expected: Vec<(u32, u32)> = keys
                        .iter()
                        .map(|k| (*k, model.remove(k).expect("present")))
                        .collect();
                    let removed = tree.remove_range_by_rank(start..start + width);
                    assert_eq!(removed, expected, "{context}: remove ranks");
                }
                87..=88 => {
                    if snapshots.len() == 4 {
                        snapshots.remove(rng.below(4));
                    }
                    snapshots.push((tree.clone(), model.clone()));
                }
                89 => {
                    // Round-trip through the bulk paths.
                    let entries = tree.clone().into_sorted_vec();
                    tree = CountedMap::from_sorted(entries);
                }
                _ => {
                    assert_eq!(tree.first(), model.first_key_value(), "{context}");
                    assert_eq!(tree.last(), model.last_key_value(), "{context}");
                }
            }
            if step % 5_000 == 0 {
                depth_max = depth_max.max(tree.check());
                assert_same(&tree, &model, &context);
            }
        }
        tree.check();
        assert_same(&tree, &model, &format!("seed {seed} end"));
        for (index, (snapshot, expected)) in snapshots.iter().enumerate() {
            snapshot.check();
            assert_same(snapshot, expected, &format!("seed {seed} snapshot {index}"));
        }
        assert!(
            depth_max >= 3,
            "seed {seed}: the tree never grew deep ({depth_max})"
        );
    }

    #[test]
    fn matches_a_btreemap_under_random_operations() {
        for seed in [1, 2, 3, 0xDEAD_BEEF] {
            run_model(seed, 120_000, 40_000);
        }
    }

    #[test]
    fn matches_a_btreemap_on_a_small_key_space() {
        // Few keys: the tree hovers around one and two levels, where the root changes shape.
        for seed in 10..20 {
            run_model_shallow(seed);
        }
    }

    fn run_model_shallow(seed: u64) {
        let mut rng = Rng(seed);
        let mut tree = CountedMap::new();
        let mut model = Model::new();
        for step in 0..20_000 {
            let key = rng.below(150) as u32;
            if rng.below(2) == 0 {
                assert_eq!(tree.insert(key, step), model.insert(key, step));
            } else {
                assert_eq!(tree.remove(&key), model.remove_entry(&key));
            }
            if step % 97 == 0 {
                tree.check();
                assert_same(&tree, &model, &format!("seed {seed} step {step}"));
            }
        }
    }

    #[test]
    fn from_sorted_builds_valid_trees_of_every_size() {
        for len in (0..300).chain([4095, 4096, 4097, 70_000]) {
            let entries: Vec<(u32, u32)> = (0..len).map(|k| (k * 2, k)).collect();
            let tree = CountedMap::from_sorted(entries.clone());
            tree.check();
            assert_eq!(tree.len(), entries.len());
            assert!(tree
                .iter()
                .map(|(k, v)| (*k, *v))
                .eq(entries.iter().copied()));
            if len > 0 {
                assert_eq!(
                    tree.select(len as usize / 2),
                    Some((&(len / 2 * 2), &(len / 2)))
                );
            }
        }
    }

    #[test]
    fn sorted_builder_builds_valid_full_trees_of_every_size() {
        for len in (0u32..300).chain([4095, 4096, 4097, 70_000]) {
            let mut builder = SortedBuilder::default();
            for k in 0..len {
                builder.push(k * 2, k);
            }
            assert_eq!(builder.last(), len.checked_sub(1).map(|k| k * 2).as_ref());
            let tree = builder.finish();
            tree.check();
            assert_eq!(tree.len(), len as usize);
            assert!(tree
                .iter()
                .map(|(k, v)| (*k, *v))
                .eq((0..len).map(|k| (k * 2, k))));
            if len >= 4096 {
                // All leaves but the last two are full.
                let leaves = leaf_lengths(&tree);
                let full = leaves.iter().filter(|&&n| n == LEAF_MAX).count();
                assert!(full + 2 >= leaves.len(), "{len}: {leaves:?}");
            }
        }
    }

    fn leaf_lengths<K, V>(tree: &CountedMap<K, V>) -> Vec<usize> {
        fn walk<K, V>(node: &Node<K, V>, out: &mut Vec<usize>) {
            match node {
                Node::Leaf(entries) => out.push(entries.len()),
                Node::Branch(branch) => branch.children.iter().for_each(|c| walk(c, out)),
            }
        }
        let mut out = Vec::new();
        if let Some(root) = tree.root.as_deref() {
            walk(root, &mut out);
        }
        out
    }

    /// Leaves grow by half, not by doubling: no leaf holds room for more than one entry past
    /// its maximum, whatever the order of inserts.
    #[test]
    fn leaves_never_hold_room_past_their_maximum() {
        fn capacities(node: &Node<u32, u32>, out: &mut Vec<usize>) {
            match node {
                Node::Leaf(entries) => out.push(entries.capacity()),
                Node::Branch(branch) => branch.children.iter().for_each(|c| capacities(c, out)),
            }
        }
        let mut rng = Rng(7);
        let mut tree = CountedMap::new();
        for _ in 0..50_000 {
            tree.insert(rng.next() as u32, 0);
        }
        for k in 0..10_000 {
            tree.insert(k, 1);
        }
        let mut out = Vec::new();
        capacities(tree.root.as_deref().unwrap(), &mut out);
        assert!(out.iter().all(|&c| c <= LEAF_MAX + 1), "{out:?}");
        let used: usize = leaf_lengths(&tree).iter().sum();
        let room: usize = out.iter().sum();
        assert!(room * 10 <= used * 16, "leaves {used} of {room} slots used");
    }

    /// A write after a clone copies only the path it changes: the two trees still share
    /// almost every node.
    #[test]
    fn a_clone_shares_nodes_with_the_original() {
        fn nodes(tree: &CountedMap<u32, u32>) -> std::collections::BTreeSet<usize> {
            fn walk(node: &Arc<Node<u32, u32>>, out: &mut std::collections::BTreeSet<usize>) {
                out.insert(Arc::as_ptr(node) as usize);
                if let Node::Branch(branch) = node.as_ref() {
                    branch.children.iter().for_each(|child| walk(child, out));
                }
            }
            let mut out = std::collections::BTreeSet::new();
            if let Some(root) = &tree.root {
                walk(root, &mut out);
            }
            out
        }
        let mut tree = CountedMap::from_sorted((0..100_000u32).map(|k| (k * 2, k)).collect());
        let snapshot = tree.clone();
        tree.insert(12_345, 0);
        tree.remove(&50_000);
        let (before, after) = (nodes(&snapshot), nodes(&tree));
        let shared = before.intersection(&after).count();
        assert!(
            after.len() - shared <= 2 * tree.check(),
            "{shared} of {}",
            after.len()
        );
        assert_eq!(snapshot.len(), 100_000);
        assert_eq!(snapshot.get(&12_345), None);
        assert_eq!(snapshot.get(&50_000), Some(&25_000));
    }

    /// Small entries get leaves of 64; the top-level map's 72-byte pairs get as many as fit
    /// in 4096 bytes with room for one more, so a full leaf is not rounded up to 5120.
    #[test]
    fn leaves_of_large_entries_fit_the_allocators_size_class() {
        use crate::keyspace::{Entry, StoredSlot};
        use std::mem::size_of;
        assert_eq!(leaf_max::<u32, u32>(), LEAF_MAX);
        let top = leaf_max::<StoredSlot, Entry>();
        assert!(top < LEAF_MAX);
        assert!((top + 1) * size_of::<(StoredSlot, Entry)>() <= LEAF_BYTES_MAX);
        assert!((top + 2) * size_of::<(StoredSlot, Entry)>() > LEAF_BYTES_MAX);
        assert_eq!(leaf_max::<[u8; 1000], ()>(), LEAF_MAX_FLOOR);
        // A map of such entries keeps its invariants through inserts, removals and a rebuild.
        let mut map: CountedMap<u64, [u64; 8]> = CountedMap::new();
        let max = leaf_max::<u64, [u64; 8]>();
        assert!(max < LEAF_MAX);
        for i in 0..5000u64 {
            map.insert(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 10_007, [i; 8]);
        }
        map.check();
        assert!(leaf_lengths(&map).iter().all(|&n| n <= max));
        for i in 0..3000u64 {
            map.remove(&(i % 10_007));
        }
        map.check();
        let rebuilt = CountedMap::from_sorted(map.iter().map(|(k, v)| (*k, *v)).collect());
        rebuilt.check();
        assert!(leaf_lengths(&rebuilt).iter().all(|&n| n <= max));
        assert_eq!(rebuilt.len(), map.len());
    }

    #[test]
    fn lookups_by_comparator_need_no_key() {
        let tree = CountedMap::from_sorted(vec![(10u32, 'a'), (20, 'b'), (30, 'c')]);
        assert_eq!(tree.get_by(|k| k.cmp(&20)), Some((&20, &'b')));
        assert_eq!(tree.rank_by(|k| k.cmp(&25)), Err(2));
        assert_eq!(tree.count_while(|k| *k <= 20), 2);
        assert_eq!(tree.ranks_of(15..=30), 1..3);
        let inverted = (Bound::Included(31), Bound::Excluded(5));
        assert_eq!(tree.ranks_of(inverted), 3..3, "an inverted range is empty");
        let mut tree = tree;
        assert_eq!(tree.remove_by(|k| k.cmp(&21)), None);
        assert_eq!(tree.remove_by(|k| k.cmp(&10)), Some((10, 'a')));
        assert_eq!(tree.remove_range_by_rank(0..10), vec![(20, 'b'), (30, 'c')]);
        assert!(tree.is_empty() && tree.root.is_none());
        assert_eq!(tree.iter().next(), None);
        assert_eq!(tree.pop_last(), None);
    }
}
