//! The store's id index: every kept request's id and bin, oldest first.
//!
//! Ids are handed out in increasing order and appended in that order, so the index is a sorted
//! deque rather than a tree: an append is a push, a lookup a binary search over contiguous
//! memory, and evicting the oldest a pop. A request removed from the middle (deleted, or evicted
//! from its own bin's ring while older requests of other bins stay) leaves a tombstone; the ends
//! are trimmed of tombstones on every removal and the whole deque is compacted when tombstones
//! outnumber live entries, so every operation is amortised O(1) or O(log n) and the deque holds
//! at most about twice the live entries. Pure data, used only by the store under its lock.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::model::RequestId;

/// Kept requests' ids and bins, in id order.
#[derive(Debug, Default)]
pub(super) struct IdIndex {
    slots: VecDeque<(RequestId, Option<Arc<str>>)>,
    live: usize,
}

impl IdIndex {
    /// How many requests are indexed.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Adds a request; `id` is above every id added before (the store assigns ids in order).
    pub(super) fn insert(&mut self, id: RequestId, bin: Arc<str>) {
        debug_assert!(self.slots.back().is_none_or(|s| s.0 < id));
        self.slots.push_back((id, Some(bin)));
        self.live += 1;
    }

    fn slot(&self, id: RequestId) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.0).ok()
    }

    /// The bin of a kept request.
    pub(super) fn get(&self, id: RequestId) -> Option<&Arc<str>> {
        self.slots.get(self.slot(id)?)?.1.as_ref()
    }

    /// Forgets a request; returns its bin when it was indexed.
    pub(super) fn remove(&mut self, id: RequestId) -> Option<Arc<str>> {
        let i = self.slot(id)?;
        let bin = self.slots.get_mut(i)?.1.take()?;
        self.live -= 1;
        self.trim();
        Some(bin)
    }

    /// Removes and returns the oldest kept request.
    pub(super) fn pop_first(&mut self) -> Option<(RequestId, Arc<str>)> {
        self.trim();
        let (id, bin) = self.slots.pop_front()?;
        self.live -= 1;
        self.trim();
        bin.map(|b| (id, b))
    }

    /// The newest kept request.
    pub(super) fn last(&self) -> Option<(RequestId, &Arc<str>)> {
        // the back is never a tombstone (see `trim`)
        self.slots
            .back()
            .and_then(|(id, b)| b.as_ref().map(|b| (*id, b)))
    }

    /// Kept requests with `after < id < below`, newest first.
    pub(super) fn range_rev(
        &self,
        after: RequestId,
        below: RequestId,
    ) -> impl Iterator<Item = (RequestId, &Arc<str>)> {
        let from = self.slots.partition_point(|s| s.0 <= after);
        let to = self.slots.partition_point(|s| s.0 < below).max(from);
        self.slots
            .range(from..to)
            .rev()
            .filter_map(|(id, b)| b.as_ref().map(|b| (*id, b)))
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
