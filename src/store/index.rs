//! The store's id index: every kept request's id with what the store files under it (the
//! request itself), oldest first.
//!
//! Ids are handed out in increasing order and appended in that order, so the index is a sorted
//! deque rather than a tree: an append is a push, a lookup a binary search over contiguous
//! memory, and evicting the oldest a pop. A request removed from the middle (deleted, or evicted
//! from its own bin's ring while older requests of other bins stay) leaves a tombstone; the ends
//! are trimmed of tombstones on every removal and the whole deque is compacted when tombstones
//! outnumber live entries, so every operation is amortised O(1) or O(log n) and the deque holds
//! at most about twice the live entries. An entry is an id and one pointer (16 bytes): the store
//! keeps a shared pointer to the request, whose bin it reads. Pure data, used only by the store
//! under its lock.

use std::collections::VecDeque;

use crate::model::RequestId;

/// Kept requests' ids, each with its value, in id order.
#[derive(Debug)]
pub(super) struct IdIndex<T> {
    slots: VecDeque<(RequestId, Option<T>)>,
    live: usize,
}

impl<T> Default for IdIndex<T> {
    fn default() -> Self {
        IdIndex {
            slots: VecDeque::new(),
            live: 0,
        }
    }
}

impl<T> IdIndex<T> {
    /// How many requests are indexed.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Adds a request; `id` is above every id added before (the store assigns ids in order).
    pub(super) fn insert(&mut self, id: RequestId, value: T) {
        debug_assert!(self.slots.back().is_none_or(|s| s.0 < id));
        self.slots.push_back((id, Some(value)));
        self.live += 1;
    }

    fn slot(&self, id: RequestId) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.0).ok()
    }

    /// The value of a kept request.
    pub(super) fn get(&self, id: RequestId) -> Option<&T> {
        self.slots.get(self.slot(id)?)?.1.as_ref()
    }

    /// Replaces a kept request's value; returns the old one (`None`, and nothing kept, when
    /// the request is not indexed).
    pub(super) fn replace(&mut self, id: RequestId, value: T) -> Option<T> {
        let i = self.slot(id)?;
        self.slots
            .get_mut(i)?
            .1
            .as_mut()
            .map(|v| std::mem::replace(v, value))
    }

    /// Forgets a request; returns its value when it was indexed.
    pub(super) fn remove(&mut self, id: RequestId) -> Option<T> {
        let i = self.slot(id)?;
        let value = self.slots.get_mut(i)?.1.take()?;
        self.live -= 1;
        self.trim();
        Some(value)
    }

    /// Removes and returns the oldest kept request.
    pub(super) fn pop_first(&mut self) -> Option<(RequestId, T)> {
        self.trim();
        let (id, value) = self.slots.pop_front()?;
        self.live -= 1;
        self.trim();
        value.map(|v| (id, v))
    }

    /// The newest kept request.
    pub(super) fn last(&self) -> Option<(RequestId, &T)> {
        // the back is never a tombstone (see `trim`)
        self.slots
            .back()
            .and_then(|(id, v)| v.as_ref().map(|v| (*id, v)))
    }

    /// Kept requests with `after < id < below`, newest first.
    pub(super) fn range_rev(
        &self,
        after: RequestId,
        below: RequestId,
    ) -> impl Iterator<Item = (RequestId, &T)> {
        let from = self.slots.partition_point(|s| s.0 <= after);
        let to = self.slots.partition_point(|s| s.0 < below).max(from);
        self.slots
            .range(from..to)
            .rev()
            .filter_map(|(id, v)| v.as_ref().map(|v| (*id, v)))
    }

    /// Drops tombstones at both ends, and compacts when they outnumber the live entries.
    fn trim(&mut self) {
        while self.slots.front().is_some_and(|s| s.1.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|s| s.1.is_none()) {
            self.slots.pop_back();
        }
        if self.slots.len() > 2 * self.live + 64 {
            self.slots.retain(|s| s.1.is_some());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8),
        Remove(u16),
        PopFirst,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => any::<u8>().prop_map(Op::Insert),
            3 => any::<u16>().prop_map(Op::Remove),
            1 => Just(Op::PopFirst),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn the_index_agrees_with_an_ordered_map_under_any_sequence_of_changes(
            ops in prop::collection::vec(op(), 0..400),
            probe in (0u64..500, 0u64..500),
        ) {
            let mut ix = IdIndex::default();
            let mut model: BTreeMap<RequestId, Arc<str>> = BTreeMap::new();
            let mut next = 1;
            for op in ops {
                match op {
                    Op::Insert(bin) => {
                        let b: Arc<str> = Arc::from(format!("b{}", bin % 4));
                        ix.insert(next, b.clone());
                        model.insert(next, b);
                        next += 1;
                    }
                    Op::Remove(k) => {
                        let id = u64::from(k) % (next + 1);
                        prop_assert_eq!(ix.remove(id), model.remove(&id));
                    }
                    Op::PopFirst => prop_assert_eq!(ix.pop_first(), model.pop_first()),
                }
                prop_assert_eq!(ix.len(), model.len());
                prop_assert!(ix.slots.len() <= 2 * ix.live + 64, "tombstones are bounded");
                prop_assert_eq!(ix.last(), model.last_key_value().map(|(k, v)| (*k, v)));
            }
            for id in 0..next + 1 {
                prop_assert_eq!(ix.get(id), model.get(&id));
            }
            let (a, b) = probe;
            let got: Vec<_> = ix.range_rev(a, b).map(|(k, v)| (k, v.clone())).collect();
            let want: Vec<_> = if a.saturating_add(1) < b {
                model.range(a + 1..b).rev().map(|(k, v)| (*k, v.clone())).collect()
            } else {
                Vec::new()
            };
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn a_replaced_value_is_the_one_found_and_a_missing_request_takes_none() {
        let mut ix = IdIndex::default();
        ix.insert(1, "a");
        ix.insert(2, "b");
        assert_eq!(ix.replace(2, "c"), Some("b"));
        assert_eq!(ix.get(2), Some(&"c"));
        assert_eq!(ix.remove(1), Some("a"));
        assert_eq!(ix.replace(1, "d"), None);
        assert_eq!(ix.get(1), None);
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn an_entry_is_an_id_and_one_pointer() {
        assert_eq!(
            std::mem::size_of::<(RequestId, Option<Arc<crate::model::CapturedRequest>>)>(),
            16
        );
    }

    #[test]
    fn removing_every_other_request_keeps_the_deque_within_twice_the_live_entries() {
        let mut ix = IdIndex::default();
        let b: Arc<str> = Arc::from("b");
        for id in 1..=10_000 {
            ix.insert(id, b.clone());
        }
        for id in (2..=10_000).step_by(2) {
            assert_eq!(ix.remove(id).as_deref(), Some("b"));
        }
        assert_eq!(ix.len(), 5_000);
        assert!(ix.slots.len() <= 2 * 5_000 + 64, "{}", ix.slots.len());
        assert_eq!(ix.get(4), None);
        assert_eq!(ix.get(5).map(|b| &**b), Some("b"));
    }
}
