//! The list value type: a sequence of byte strings with cheap pushes and pops at both ends.
//! Invariant: a stored list is never empty (the writer that takes its last element removes the
//! key); positions here are always in range, so callers resolve Redis's negative indexes first.

use bytes::Bytes;
use imbl::Vector;

/// An end of a list: LEFT is the head (index 0), RIGHT the tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ListEnd {
    Left,
    Right,
}

/// A persistent RRB vector of elements, head first: O(1) amortised pushes and pops at both
/// ends, O(log n) access by index, insert and split, and O(1) clone, so a snapshot holding the
/// list shares it until a write touches it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ListValue {
    /// Boxed: an RRB vector is about 64 bytes inline, and every `Value` (so every key's entry)
    /// is as large as its largest variant.
    items: Box<Vector<Bytes>>,
}

impl ListValue {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn push(&mut self, end: ListEnd, element: Bytes) {
        let element = super::compact(element);
        match end {
            ListEnd::Left => self.items.push_front(element),
            ListEnd::Right => self.items.push_back(element),
        }
    }

    pub(crate) fn pop(&mut self, end: ListEnd) -> Option<Bytes> {
        match end {
            ListEnd::Left => self.items.pop_front(),
            ListEnd::Right => self.items.pop_back(),
        }
    }

    /// The element at `index` (0 = head).
    pub(crate) fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// Replaces the element at `index`, which must be in range.
    pub(crate) fn set(&mut self, index: usize, element: Bytes) {
        self.items.set(index, element);
    }

    /// Inserts `element` so that it ends up at `index` (`index <= len`).
    pub(crate) fn insert(&mut self, index: usize, element: Bytes) {
        let element = super::compact(element);
        self.items.insert(index, element);
    }

    /// Keeps only the elements in `range` (which must lie within the list).
    pub(crate) fn retain_range(&mut self, range: std::ops::Range<usize>) {
        self.items.truncate(range.end);
        *self.items = self.items.skip(range.start);
    }

    /// Removes up to `count_max` elements equal to `element` (every one if None), scanning from
    /// `from`; returns how many were removed.
    pub(crate) fn remove_matching(
        &mut self,
        element: &[u8],
        count_max: Option<usize>,
        from: ListEnd,
    ) -> usize {
        let limit = count_max.unwrap_or(usize::MAX);
        let mut removed = 0;
        let mut kept = Vector::new();
        match from {
            ListEnd::Left => {
                for item in self.items.iter() {
                    if removed < limit && item[..] == *element {
                        removed += 1;
                    } else {
                        kept.push_back(item.clone());
                    }
                }
            }
            ListEnd::Right => {
                for item in self.items.iter().rev() {
                    if removed < limit && item[..] == *element {
                        removed += 1;
                    } else {
                        kept.push_front(item.clone());
                    }
                }
            }
        }
        if removed > 0 {
            *self.items = kept;
        }
        removed
    }

    /// Elements head to tail.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Bytes> + '_ {
        self.items.iter()
    }

    /// The elements in `range` (within the list), head to tail, without walking the rest.
    pub(crate) fn range(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &Bytes> + '_ {
        self.items.focus().narrow(range).into_iter()
    }
}

impl FromIterator<Bytes> for ListValue {
    fn from_iter<I: IntoIterator<Item = Bytes>>(elements: I) -> Self {
        ListValue {
            items: Box::new(elements.into_iter().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        items
            .iter()
            .map(|item| Bytes::copy_from_slice(item.as_bytes()))
            .collect()
    }

    fn items(list: &ListValue) -> Vec<&[u8]> {
        list.iter().map(|item| &item[..]).collect()
    }

    #[test]
    fn pushes_and_pops_at_both_ends() {
        let mut l = ListValue::default();
        l.push(ListEnd::Left, Bytes::from("b"));
        l.push(ListEnd::Left, Bytes::from("a"));
        l.push(ListEnd::Right, Bytes::from("c"));
        assert_eq!(items(&l), [b"a", b"b", b"c"]);
        assert_eq!(l.pop(ListEnd::Right), Some(Bytes::from("c")));
        assert_eq!(l.pop(ListEnd::Left), Some(Bytes::from("a")));
        assert_eq!(l.pop(ListEnd::Left), Some(Bytes::from("b")));
        assert_eq!(l.pop(ListEnd::Left), None);
        assert!(l.is_empty());
    }

    #[test]
    fn retain_range_and_range_select_the_same_elements() {
        let l = list(&["0", "1", "2", "3", "4"]);
        let selected: Vec<_> = l.range(1..4).map(|item| &item[..]).collect();
        let mut trimmed = l.clone();
        trimmed.retain_range(1..4);
        assert_eq!(items(&trimmed), selected);
        assert_eq!(items(&trimmed), [b"1", b"2", b"3"]);
        assert_eq!(items(&l).len(), 5, "the clone is unaffected");
    }

    #[test]
    fn remove_matching_counts_from_either_end() {
        let l = list(&["a", "x", "b", "x", "c", "x"]);
        let mut from_left = l.clone();
        assert_eq!(from_left.remove_matching(b"x", Some(2), ListEnd::Left), 2);
        assert_eq!(items(&from_left), [b"a", b"b", b"c", b"x"]);
        let mut from_right = l.clone();
        assert_eq!(from_right.remove_matching(b"x", Some(2), ListEnd::Right), 2);
        assert_eq!(items(&from_right), [b"a", b"x", b"b", b"c"]);
        let mut all = l.clone();
        assert_eq!(all.remove_matching(b"x", None, ListEnd::Left), 3);
        assert_eq!(items(&all), [b"a", b"b", b"c"]);
        assert_eq!(all.remove_matching(b"zz", None, ListEnd::Right), 0);
    }
}
